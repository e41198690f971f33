//! A table of bad command lines and bad configs (issue 17): each must exit 2 with one line
//! naming the flag or key and the value, write nothing, and be refused quickly.

mod common;

use common::smmcool;
use std::path::Path;
use std::time::{Duration, Instant};

/// Run `args` in the empty directory `dir` (configs given as `(name, text)` written first);
/// check exit code 2, one line on stderr containing every `needles` entry, nothing on stdout,
/// no file left besides the configs, and a time bound.
fn refused(dir: &Path, configs: &[(&str, &str)], args: &[&str], needles: &[&str]) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            std::fs::remove_dir_all(&p).unwrap();
        } else {
            std::fs::remove_file(&p).unwrap();
        }
    }
    for (name, text) in configs {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let start = Instant::now();
    let out = smmcool().current_dir(dir).args(args).output().unwrap();
    let took = start.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: `{n}` not in: {err}");
    }
    assert!(out.stdout.is_empty(), "{args:?}: wrote to stdout");
    let mut left: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !configs.iter().any(|(c, _)| c == n))
        .collect();
    left.sort();
    assert!(left.is_empty(), "{args:?}: left {left:?}");
    assert!(took < Duration::from_secs(5), "{args:?}: took {took:?}");
}

const SIM: [&str; 7] = [
    "simulate",
    "--b-initial-t",
    "0.5",
    "--b-final-t",
    "0.1",
    "--initial-temperature-k",
    "2",
];

/// `simulate` of a 2 K jump with `extra` flags.
fn sim<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut a: Vec<&str> = SIM.to_vec();
    a.push("--jump");
    a.extend_from_slice(extra);
    a
}

#[test]
fn bad_command_lines_exit_2_naming_the_flag_and_value() {
    let dir = tempfile::tempdir().unwrap();
    #[rustfmt::skip]
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        // Negative numbers in e-notation reach the flag's own check (issue 17, item 7).
        (sim(&["--debye-temperature-k", "-1e-3"]), vec!["--debye-temperature-k", "-0.001"]),
        (sim(&["--sample-times-after-ramp-s", "-1e-3"]), vec!["--sample-times-after-ramp-s", "-0.001"]),
        (sim(&["--tau0-s", "-2.5E-7"]), vec!["--tau0-s", "-2.5e-7"]),
        (sim(&["--barrier-k", "-5"]), vec!["--barrier-k", "-5"]),
        (sim(&["--log-points-per-decade", "-1e0"]), vec!["--log-points-per-decade", "-1e0"]),
        (sim(&["--json", "-1e-3"]), vec!["--json", "-1e-3"]),
        (sim(&["--g-par", "nan"]), vec!["--g-par", "NaN"]),
        (sim(&["--tau0-s", "inf"]), vec!["--tau0-s", "inf"]),
        (sim(&["--phonon-units", "0"]), vec!["--phonon-units", "0"]),
        (sim(&["--rtol", "1"]), vec!["--rtol", "1"]),
        (sim(&["--equilibrium-tol-k", "2"]), vec!["--equilibrium-tol-k", "2"]),
        (sim(&["--log-points-per-decade", "101"]), vec!["--log-points-per-decade", "101"]),
        (sim(&["--material", "foo"]), vec!["--material", "foo"]),
        (sim(&["--max-time-after-ramp-s", "10"]), vec!["--sample-times-after-ramp-s", "3600", "--max-time-after-ramp-s"]),
        (sim(&["--kappa-scaling", "absolute"]), vec!["--kappa-per-s-k3"]),
        (sim(&["--spin", "0.5"]), vec!["--d-k", "D < 0", "S >= 1"]),
        (sim(&["--d-k", "1"]), vec!["--d-k", "= 1 ", "D < 0"]),
        (sim(&["--debye-temperature-k", "1e-300"]), vec!["--debye-temperature-k", "1e-300"]),
        (sim(&["--no-such-flag", "1"]), vec!["--no-such-flag"]),
    ];
    for (args, needles) in &cases {
        refused(dir.path(), &[], args, needles);
    }
}

#[test]
fn negative_numbers_in_e_notation_are_values() {
    // `--b-final-t -1e-3` is a field of -1 mT, as `-0.001` is.
    let line = |bf: &'static str| {
        let mut a: Vec<&str> = SIM.to_vec();
        a[4] = bf;
        a.extend_from_slice(&["--jump", "--json"]);
        a
    };
    let a = common::json(&line("-1e-3"));
    let b = common::json(&line("-0.001"));
    assert_eq!(a["b_final_t"].as_f64(), Some(-0.001));
    assert_eq!(a["sample_temperatures_k"], b["sample_temperatures_k"]);
}
