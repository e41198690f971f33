//! The figures committed in docs/figures (which README and docs quote) are what `smmcool paper`
//! writes today: every CSV it writes exists there with the same header, the same rows and the
//! same labels, and every number agrees to 1e-6 relative, except three kinds of number that are
//! ill-conditioned by construction and get the looser check written next to them.
//!
//! The full `paper` run costs about half a minute of CPU, so the test is `#[ignore]`d in
//! `cargo test` and run by scripts/test.sh (the README's test command, and CI) with `--ignored`.
//! When it fails after a change of the engine, regenerate with
//! `cargo run --release -- paper -o docs/figures` and say in the commit why the numbers moved.

use std::path::Path;
use std::process::Command;

const COMMITTED: &str = "docs/figures";

fn number(s: &str) -> Option<f64> {
    s.parse().ok()
}

/// The looser check for a number that is ill-conditioned by construction: `Some(tol)` for a
/// relative tolerance, `None` when the number is not compared. `last_of_series`: the row is
/// the last of its series.
fn tolerance(file: &str, column: &str, series: &str, last_of_series: bool) -> Option<f64> {
    // The time at which a flat minimum is reached: a change of 1e-10 K in T moves it by
    // ~1e-5 relative (the minimum is quadratic).
    if column.starts_with("time of Tmin") {
        return Some(1e-3);
    }
    // The heat-switch cycles' lowest T: at 0 T the open sample stays within 1e-9 K of it for
    // tens of seconds (the spins barely relax), so where it is reached is arbitrary; its
    // temperature is compared at 1e-6.
    if file == "heat_switch_cycle_temperature.csv"
        && series == "lowest T of each cycle"
        && column == "time (s)"
    {
        return None;
    }
    // A linked run ends at the first accepted step at which T is back at the bath to the
    // equilibrium tolerance: the last sample time depends on where the steps fall.
    if file.starts_with("heat_link_temperature_") && last_of_series && column.starts_with("time") {
        return Some(1e-2);
    }
    Some(1e-6)
}

fn rows(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

#[test]
#[ignore = "runs the whole `smmcool paper` (~30 s CPU); scripts/test.sh runs it"]
fn committed_figures_are_what_paper_writes_today() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_smmcool"))
        .args(["paper", "--output"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".csv"))
        .collect();
    files.sort();
    assert!(files.len() >= 20, "paper wrote only {files:?}");
    let mut problems = Vec::new();
    for file in &files {
        let committed = Path::new(COMMITTED).join(file);
        if !committed.exists() {
            problems.push(format!("{file}: written by paper, not in {COMMITTED}"));
            continue;
        }
        let (fresh, old) = (rows(&dir.path().join(file)), rows(&committed));
        if fresh.len() != old.len() || fresh[0] != old[0] {
            problems.push(format!(
                "{file}: {} rows, header {:?}; committed {} rows, header {:?}",
                fresh.len(),
                fresh[0],
                old.len(),
                old[0]
            ));
            continue;
        }
        let header = &fresh[0];
        for i in 1..fresh.len() {
            let last = i + 1 == fresh.len() || fresh[i + 1][0] != fresh[i][0];
            if fresh[i].len() != old[i].len() {
                problems.push(format!("{file} row {i}: {:?} != {:?}", fresh[i], old[i]));
                continue;
            }
            for (j, (a, b)) in fresh[i].iter().zip(&old[i]).enumerate() {
                let (x, y) = match (number(a), number(b)) {
                    (Some(x), Some(y)) => (x, y),
                    _ => {
                        if a != b {
                            problems.push(format!("{file} row {i}: {a:?} != {b:?}"));
                        }
                        continue;
                    }
                };
                let Some(tol) = tolerance(file, &header[j], &fresh[i][0], last) else {
                    continue;
                };
                // The time of Tmin is drawn as none (NaN) when the minimum is within 1e-6 s of
                // the ramp's end: either side of that threshold counts as the same answer.
                let at_ramp_end = |v: f64| v.is_nan() || v <= 1e-5;
                let same = x == y
                    || (x.is_nan() && y.is_nan())
                    || (header[j].starts_with("time of Tmin") && at_ramp_end(x) && at_ramp_end(y))
                    || (x - y).abs() <= tol * x.abs().max(y.abs());
                if !same {
                    problems.push(format!(
                        "{file} row {i} column {:?} ({}): paper writes {a}, committed {b} (relative tolerance {tol:e})",
                        header[j], fresh[i][0]
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} differences between `smmcool paper` and {COMMITTED}:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
