//! A table of bad command lines and bad configs (issue 17): each must exit 2 with one line
//! naming the flag or key and the value, write nothing, and be refused quickly.

mod common;

use common::smmcool;
use std::path::Path;
use std::time::{Duration, Instant};

/// Run `args` in the empty directory `dir` (files given as `(name, bytes)` written first; a
/// name ending in `/` is made a folder); check exit code 2, one line on stderr containing
/// every `needles` entry, nothing on stdout, no file left besides the given ones, and the
/// time bound `limit`.
fn refused_within(
    dir: &Path,
    configs: &[(&str, &[u8])],
    args: &[&str],
    needles: &[&str],
    limit: Duration,
) -> Result<(), String> {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            std::fs::remove_dir_all(&p).unwrap();
        } else {
            std::fs::remove_file(&p).unwrap();
        }
    }
    for (name, bytes) in configs {
        match name.strip_suffix('/') {
            Some(folder) => std::fs::create_dir(dir.join(folder)).unwrap(),
            None => std::fs::write(dir.join(name), bytes).unwrap(),
        }
    }
    let start = Instant::now();
    // At most 100 MB of address space: a refusal must not allocate per run or per value.
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 100000; exec \"$0\" \"$@\"")
        .arg(smmcool().get_program())
        .args(args)
        .env_remove("SLURM_ARRAY_TASK_ID")
        .current_dir(dir)
        .output()
        .unwrap();
    let took = start.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    if out.status.code() != Some(2) {
        return Err(format!("{args:?}: exit {:?}: {err}", out.status.code()));
    }
    if err.trim_end().lines().count() != 1 {
        return Err(format!("{args:?}: not one line: {err}"));
    }
    for n in needles {
        if !err.contains(n) {
            return Err(format!("{args:?}: `{n}` not in: {err}"));
        }
    }
    if !out.stdout.is_empty() {
        return Err(format!("{args:?}: wrote to stdout"));
    }
    let mut left: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| {
            !configs
                .iter()
                .any(|(c, _)| c.trim_end_matches('/') == n.as_str())
        })
        .collect();
    left.sort();
    if !left.is_empty() {
        return Err(format!("{args:?}: left {left:?}"));
    }
    if took >= limit {
        return Err(format!("{args:?}: took {took:?}"));
    }
    Ok(())
}

/// [`refused_within`] 3 s (a process start and a validation on a loaded machine).
fn refused(
    dir: &Path,
    configs: &[(&str, &[u8])],
    args: &[&str],
    needles: &[&str],
) -> Result<(), String> {
    refused_within(dir, configs, args, needles, Duration::from_secs(3))
}

/// Every case's failure, one per line.
fn report(failures: Vec<String>) {
    assert!(failures.is_empty(), "{}", failures.join("\n"));
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
        (sim(&["--reduction-tol-rel", "2"]), vec!["--reduction-tol-rel", "2", "[0e0, 1e0]"]),
        (sim(&["--reduction-tol-rel", "-1e-3"]), vec!["--reduction-tol-rel", "-0.001"]),
        (sim(&["--reduction-tol-rel", "nan"]), vec!["--reduction-tol-rel", "NaN"]),
        (sim(&["--reduction-tol-rel", "x"]), vec!["--reduction-tol-rel", "x"]),
        (sim(&["--log-points-per-decade", "101"]), vec!["--log-points-per-decade", "101"]),
        (sim(&["--max-steps", "0"]), vec!["--max-steps", "= 0", "1..=1000000000"]),
        (sim(&["--max-steps", "-1"]), vec!["--max-steps", "-1", "must be an integer in 1..=1000000000"]),
        (sim(&["--max-steps", "1.5"]), vec!["--max-steps", "1.5", "must be an integer in 1..=1000000000"]),
        (sim(&["--material", "foo"]), vec!["--material", "foo"]),
        (sim(&["--max-time-after-ramp-s", "10"]), vec!["--sample-times-after-ramp-s", "3600", "--max-time-after-ramp-s"]),
        (sim(&["--kappa-scaling", "absolute"]), vec!["--kappa-per-s-k3"]),
        (sim(&["--spin", "0.5"]), vec!["--spin", "0.5", "D < 0", "S >= 1"]),
        (sim(&["--d-k", "-100"]), vec!["--d-k", "-100", "barrier"]),
        (sim(&["--spin", "100"]), vec!["--spin", "100", "barrier"]),
        // Inputs with no effect (issue 17, item 2).
        (sim(&["--kappa-per-s-k3", "5"]), vec!["--kappa-per-s-k3", "5", "no effect", "arrhenius"]),
        (sim(&["--kappa-reference-k", "4.2"]), vec!["--kappa-reference-k", "4.2", "no effect"]),
        (sim(&["--kappa-scaling", "constant", "--kappa-per-s-k3", "1e-3"]), vec!["--kappa-per-s-k3", "0.001", "constant"]),
        (sim(&["--kappa-scaling", "absolute", "--kappa-per-s-k3", "1", "--kappa-reference-k", "3"]), vec!["--kappa-reference-k", "3", "absolute"]),
        (vec!["levels", "--field-t", "0.1", "--tau0-s", "1"], vec!["--tau0-s", "no effect", "levels"]),
        (vec!["levels", "--field-t", "0.1", "--debye-temperature-k", "38"], vec!["--debye-temperature-k", "38", "levels"]),
        (vec!["limits", "--b-initial-t", "0.5", "--b-final-t", "0.1", "--initial-temperature-k", "2", "--barrier-k", "3"],
            vec!["--barrier-k", "3", "no effect", "limits"]),
        (vec!["paper", "--analytic-only", "--resolution", "0", "-o", "figs"], vec!["--resolution", "0", "1..=64"]),
        (vec!["tau", "--temperature-k", "1e300"], vec!["--temperature-k", "1e300", "(0, 10000] K"]),
        (vec!["simulate", "--b-initial-t", "0.5", "--b-final-t", "0.1", "--initial-temperature-k", "1e300", "--jump"],
            vec!["--initial-temperature-k", "1e300", "T = 1e300 K"]),
        (sim(&["--d-k", "1"]), vec!["--d-k", "= 1 ", "D < 0"]),
        (sim(&["--debye-temperature-k", "1e-300"]), vec!["--debye-temperature-k", "1e-300"]),
        (sim(&["--no-such-flag", "1"]), vec!["--no-such-flag"]),
        (vec!["tau", "--temperature-k", "3", "--debye-temperature-k", "30"], vec!["--debye-temperature-k", "30", "no effect", "tau"]),
        (vec!["tau", "--temperature-k", "3", "--phonon-units", "2"], vec!["--phonon-units", "2", "no effect", "tau"]),
        (vec!["resonances", "--tau0-s", "1e-7"], vec!["--tau0-s", "1e-7", "no effect", "resonances"]),
        (vec!["resonances", "--barrier-k", "60"], vec!["--barrier-k", "60", "no effect", "resonances"]),
        // simulate: every material, rate, protocol, solver, output, sample and link flag.
        (sim(&["--spin", "abc"]), vec!["--spin", "abc"]),
        (sim(&["--spin", "nan"]), vec!["--spin", "NaN"]),
        (sim(&["--spin", "inf"]), vec!["--spin", "inf"]),
        (sim(&["--spin", "-1"]), vec!["--spin", "-1"]),
        (sim(&["--spin", "1e300"]), vec!["--spin", "1e300", "at most 100"]),
        (sim(&["--d-cm1", "nan"]), vec!["--d-cm1", "NaN"]),
        (sim(&["--d-cm1", "0.5"]), vec!["--d-cm1", "0.5", "D < 0"]),
        (sim(&["--d-k", "0"]), vec!["--d-k", "= 0 ", "non-zero"]),
        (sim(&["--d-cm1", "-0.5", "--d-k", "-0.7"]), vec!["--d-cm1", "--d-k"]),
        (sim(&["--g-par", "-2"]), vec!["--g-par", "-2"]),
        (sim(&["--g-par", "0"]), vec!["--g-par", "= 0 "]),
        (sim(&["--debye-temperature-k", "1e5"]), vec!["--debye-temperature-k", "100000", "[1, 1e4]"]),
        (sim(&["--phonon-units", "1e4"]), vec!["--phonon-units", "10000"]),
        (sim(&["--tau0-s", "0"]), vec!["--tau0-s", "= 0 "]),
        (sim(&["--barrier-k", "nan"]), vec!["--barrier-k", "NaN"]),
        (sim(&["--kappa-scaling", "foo"]), vec!["--kappa-scaling", "foo"]),
        (sim(&["--kappa-scaling", "constant", "--kappa-reference-k", "-1"]), vec!["--kappa-reference-k", "-1"]),
        (sim(&["--kappa-scaling", "absolute", "--kappa-per-s-k3", "nan"]), vec!["--kappa-per-s-k3", "NaN"]),
        (sim(&["--kappa-scaling", "absolute", "--kappa-per-s-k3", "-1"]), vec!["--kappa-per-s-k3", "-1"]),
        (sim(&["--sample-amount-mol", "-1"]), vec!["--sample-amount-mol", "-1"]),
        (sim(&["--sample-amount-mol", "1e-6", "--sample-mass-mg", "1"]), vec!["--sample-amount-mol", "--sample-mass-mg"]),
        (sim(&["--sample-mass-mg", "nan"]), vec!["--sample-mass-mg", "NaN"]),
        (sim(&["--addenda-gamma-j-per-k2", "1e-6"]), vec!["--addenda-gamma-j-per-k2", "1e-6", "--sample-amount-mol"]),
        (sim(&["--sample-amount-mol", "1e-6", "--addenda-gamma-j-per-k2", "-1"]), vec!["--addenda-gamma-j-per-k2", "-1"]),
        (sim(&["--sample-amount-mol", "1e-6", "--addenda-beta-j-per-k4", "inf"]), vec!["--addenda-beta-j-per-k4", "inf"]),
        (sim(&["--link-conductance-w-per-k", "1e-8"]), vec!["--link-conductance-w-per-k", "1e-8", "--sample-amount-mol"]),
        (sim(&["--sample-amount-mol", "1e-6", "--link-exponent", "2"]), vec!["--link-exponent", "2", "--link-conductance-w-per-k"]),
        (sim(&["--sample-amount-mol", "1e-6", "--link-conductance-w-per-k", "1e-8", "--link-exponent", "-1"]), vec!["--link-exponent", "-1", "[0, 10]"]),
        (sim(&["--sample-amount-mol", "1e-6", "--link-conductance-w-per-k", "1e-8", "--bath-temperature-k", "0"]), vec!["--bath-temperature-k", "= 0 "]),
        (sim(&["--bath-temperature-k", "2"]), vec!["--bath-temperature-k", "2", "--link-conductance-w-per-k"]),
        (sim(&["--rtol", "0"]), vec!["--rtol", "= 0 ", "[1e-13, 1e-3]"]),
        (sim(&["--rtol", "nan"]), vec!["--rtol", "NaN"]),
        (sim(&["--rtol", "1e-20"]), vec!["--rtol", "1e-20"]),
        (sim(&["--equilibrium-tol-k", "0"]), vec!["--equilibrium-tol-k", "= 0 "]),
        (sim(&["--equilibrium-tol-k", "-1e-9"]), vec!["--equilibrium-tol-k", "-1e-9"]),
        (sim(&["--max-time-after-ramp-s", "inf"]), vec!["--max-time-after-ramp-s", "inf"]),
        (sim(&["--max-time-after-ramp-s", "-1"]), vec!["--max-time-after-ramp-s", "-1"]),
        (sim(&["--formulation", "foo"]), vec!["--formulation", "foo"]),
        (sim(&["--sample-times-after-ramp-s", "a,b"]), vec!["--sample-times-after-ramp-s", "a,b"]),
        (sim(&["--sample-times-after-ramp-s", "1,nan"]), vec!["--sample-times-after-ramp-s", "1,nan"]),
        (sim(&["--sample-times-after-ramp-s", "1,,2"]), vec!["--sample-times-after-ramp-s", "empty item"]),
        (sim(&["--sample-times-after-ramp-s", "1e41"]), vec!["--sample-times-after-ramp-s", "1e41", "1e40"]),
        (sim(&["--log-points-per-decade", "1.5"]), vec!["--log-points-per-decade", "1.5"]),
        (sim(&["--shape", "foo"]), vec!["--shape", "foo"]),
        (sim(&["--trajectory", "--trajectory"]), vec!["--trajectory"]),
        (sim(&["--json", "--json"]), vec!["--json"]),
        (sim(&["extra"]), vec!["extra"]),
        (SIM.to_vec(), vec!["--sweep-rate-t-per-s", "exactly one"]),
        (vec!["simulate", "--b-initial-t"], vec!["--b-initial-t", "a value is required"]),
        (vec!["simulate", "--b-initial-t", "nan", "--b-final-t", "0.1", "--initial-temperature-k", "2", "--jump"], vec!["--b-initial-t", "NaN"]),
        (vec!["simulate", "--b-initial-t", "0.5", "--b-final-t", "inf", "--initial-temperature-k", "2", "--jump"], vec!["--b-final-t", "inf"]),
        (vec!["simulate", "--b-initial-t", "50", "--b-final-t", "0.1", "--initial-temperature-k", "2", "--jump"], vec!["--b-initial-t", "50", "9.9261"]),
        (vec!["simulate", "--b-initial-t", "0.5", "--b-final-t", "-50", "--initial-temperature-k", "2", "--jump"], vec!["--b-final-t", "-50", "9.9261"]),
        (vec!["simulate", "--b-initial-t", "0.5", "--b-final-t", "0.1", "--initial-temperature-k", "0", "--jump"], vec!["--initial-temperature-k", "= 0 "]),
        (vec!["simulate", "--b-initial-t", "0.5", "--b-final-t", "0.1", "--initial-temperature-k", "0.01", "--jump"], vec!["--initial-temperature-k", "0.01", "underflows"]),
        (vec!["simulate", "--b-initial-t", "0.5", "--b-final-t", "0.1", "--initial-temperature-k", "2", "--sweep-rate-t-per-s", "0"], vec!["--sweep-rate-t-per-s", "= 0 "]),
        (vec!["simulate", "--b-initial-t", "0.5", "--b-final-t", "0.1", "--initial-temperature-k", "2", "--sweep-rate-t-per-s", "-10"], vec!["--sweep-rate-t-per-s", "-10"]),
        (vec!["simulate", "--b-initial-t", "0.5", "--b-final-t", "0.1", "--initial-temperature-k", "2", "--sweep-rate-t-per-s", "1e300"], vec!["--sweep-rate-t-per-s", "1e300", "[1e-15, 1e40] s"]),
        (vec!["simulate", "--b-initial-t", "0.5", "--b-final-t", "0.1", "--initial-temperature-k", "2", "--ramp-duration-s", "1e-16"], vec!["--ramp-duration-s", "= 1e-16 ", "must be 0 (the jump"]),
        (vec!["simulate", "--b-initial-t", "0.5", "--b-final-t", "0.1", "--initial-temperature-k", "2", "--ramp-duration-s", "nan"], vec!["--ramp-duration-s", "NaN"]),
        (vec!["simulate", "--b-initial-t", "0.5", "--b-final-t", "0.1", "--initial-temperature-k", "2", "--sweep-rate-t-per-s", "1", "--ramp-duration-s", "1"],
            vec!["--sweep-rate-t-per-s", "--ramp-duration-s"]),
        // levels, tau, limits, resonances, presets.
        (vec!["levels", "--field-t", "nan"], vec!["--field-t", "nan"]),
        (vec!["levels", "--field-t", "abc"], vec!["--field-t", "abc"]),
        (vec!["levels", "--field-t", "1:0:0.1"], vec!["--field-t", "1:0:0.1", "below start"]),
        (vec!["levels"], vec!["--field-t", "required"]),
        (vec!["levels", "--field-t", "0.1", "--spin", "0"], vec!["--spin", "= 0 "]),
        (vec!["levels", "--field-t", "0.1", "--barrier-k", "60"], vec!["--barrier-k", "60", "no effect"]),
        (vec!["levels", "--field-t", "0.1", "--phonon-units", "2"], vec!["--phonon-units", "2", "no effect"]),
        (vec!["tau", "--temperature-k", "0"], vec!["--temperature-k", "'0'"]),
        (vec!["tau", "--temperature-k", "-1"], vec!["--temperature-k", "'-1'"]),
        (vec!["tau", "--temperature-k", "nan"], vec!["--temperature-k", "nan"]),
        (vec!["tau", "--temperature-k", "2e4"], vec!["--temperature-k", "20000", "(0, 10000] K"]),
        (vec!["tau", "--temperature-k", "3", "--tau-threshold-s", "0"], vec!["--tau-threshold-s", "= 0 "]),
        (vec!["tau", "--temperature-k", "3", "--kappa-scaling", "absolute"], vec!["--kappa-per-s-k3", "required"]),
        (vec!["tau", "--temperature-k", "3", "--kappa-scaling", "constant", "--kappa-per-s-k3", "1"], vec!["--kappa-per-s-k3", "= 1 ", "no effect"]),
        (vec!["tau", "--temperature-k", "3", "--tau0-s", "-1"], vec!["--tau0-s", "-1"]),
        (vec!["tau"], vec!["--temperature-k", "required"]),
        (vec!["limits", "--b-initial-t", "0.5", "--b-final-t", "0.1", "--initial-temperature-k", "nan"], vec!["--initial-temperature-k", "nan"]),
        (vec!["limits", "--b-initial-t", "0.5", "--b-final-t", "0.1"], vec!["--initial-temperature-k", "required"]),
        (vec!["limits", "--b-initial-t", "0.5", "--b-final-t", "0.1", "--minimum", "--search-range-k", "5:1"], vec!["--search-range-k", "5:1", "lo < hi"]),
        (vec!["limits", "--b-initial-t", "0.5", "--b-final-t", "0.1", "--minimum", "--search-range-k", "abc"], vec!["--search-range-k", "abc"]),
        (vec!["limits", "--b-initial-t", "0.5", "--b-final-t", "0.1", "--initial-temperature-k", "2", "--search-range-k", "1:5"],
            vec!["--search-range-k", "1:5", "no effect", "--minimum"]),
        (vec!["limits", "--b-initial-t", "0.5", "--b-final-t", "0.1", "--initial-temperature-k", "2", "--debye-temperature-k", "0"], vec!["--debye-temperature-k", "= 0 "]),
        (vec!["limits", "--b-initial-t", "0.5", "--b-final-t", "0.1", "--initial-temperature-k", "2", "--tau0-s", "1e-7"], vec!["--tau0-s", "1e-7", "no effect"]),
        (vec!["resonances", "--k-max", "-1"], vec!["--k-max", "-1"]),
        (vec!["resonances", "--k-max", "abc"], vec!["--k-max", "abc"]),
        (vec!["resonances", "--b4-k", "nan"], vec!["--b4-k", "NaN"]),
        (vec!["resonances", "--c4-k", "inf"], vec!["--c4-k", "inf"]),
        (vec!["resonances", "--transverse-field-t", "2000"], vec!["--transverse-field-t", "2000", "1000 T"]),
        (vec!["resonances", "--spin", "0.5"], vec!["--spin", "0.5", "S >= 1"]),
        (vec!["resonances", "--misalignment-deg", "45"], vec!["--misalignment-deg", "45", "[0, 30] degrees"]),
        // The Hamiltonian's terms in kinetic runs: ranges, the misalignment or a fixed Bx, and
        // the axial commands refuse them.
        (sim(&["--c4-k", "2e-3"]), vec!["--c4-k", "0.002", "[-0.001, 0.001] K"]),
        (sim(&["--e-k", "0.3"]), vec!["--e-k", "0.3", "|E| <= |D|/3"]),
        (sim(&["--b4-k", "-0.01"]), vec!["--b4-k", "-0.01", "|B4| S^2 <= |D|"]),
        (sim(&["--transverse-field-t", "1.5"]), vec!["--transverse-field-t", "1.5", "[-1, 1] T"]),
        (sim(&["--misalignment-deg", "-2"]), vec!["--misalignment-deg", "-2", "[0, 30] degrees"]),
        (sim(&["--misalignment-deg", "2", "--transverse-field-t", "0.1"]), vec!["--misalignment-deg", "2", "not both"]),
        (vec!["tau", "--temperature-k", "3", "--c4-k", "2e-3"], vec!["--c4-k", "0.002", "[-0.001, 0.001] K"]),
        (vec!["levels", "--field-t", "0.1", "--c4-k", "1e-5"], vec!["--c4-k", "1e-5", "localized axial levels"]),
        (vec!["limits", "--b-initial-t", "0.5", "--b-final-t", "0.1", "--initial-temperature-k", "2", "--misalignment-deg", "2"],
            vec!["--misalignment-deg", "2", "localized axial levels"]),
        (vec!["resonances", "--material", "foo"], vec!["--material", "foo"]),
        (vec!["resonances", "--debye-temperature-k", "30"], vec!["--debye-temperature-k", "30", "no effect"]),
        (vec!["presets", "--spin", "3"], vec!["--spin"]),
        (vec!["nosuchcommand"], vec!["nosuchcommand"]),
        // Files and paths.
        (vec!["run"], vec!["--output", "required"]),
        (vec!["run", "nope.toml", "-o", "o.h5"], vec!["nope.toml", "cannot read"]),
        (vec!["validate", "nope.toml"], vec!["nope.toml", "cannot read"]),
        (vec!["validate", "nope.toml", "--show", "-1"], vec!["--show", "-1"]),
        (vec!["inspect", "nope.h5"], vec!["nope.h5"]),
        (vec!["inspect", "--json", "nope.h5"], vec!["nope.h5"]),
        (vec!["merge", "-o", "m.h5"], vec!["<INPUTS>"]),
        (vec!["merge", "nope.h5", "-o", "m.h5"], vec!["nope.h5"]),
        (vec!["plot", "nope.h5", "-o", "figs"], vec!["nope.h5"]),
        (vec!["plot", "nope.h5", "-o", "figs", "--max-runs", "-1"], vec!["--max-runs", "-1"]),
        (vec!["paper", "-o", "figs", "--resolution", "65"], vec!["--resolution", "65", "1..=64"]),
        (vec!["paper", "-o", "figs", "--resolution", "abc"], vec!["--resolution", "abc"]),
    ];
    assert!(cases.len() >= 100, "{} command lines", cases.len());
    let failures = cases
        .iter()
        .filter_map(|(args, needles)| refused(dir.path(), &[], args, needles).err())
        .collect();
    report(failures);
}

/// Files written before a case: `(name, bytes)`.
type Files<'a> = Vec<(&'a str, &'a [u8])>;

/// Command lines whose files are in the way: a config that is a folder or not TOML, an HDF5
/// input that is text or empty, an output that is a folder or below a file.
#[test]
fn bad_paths_exit_2_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let ok: &[u8] = b"[protocol]\nb_initial_t = 0.5\nb_final_t = 0.1\ninitial_temperature_k = 2.0\nshape = \"jump\"\n";
    let text: &[u8] = b"hello\n";
    #[rustfmt::skip]
    let cases: Vec<(Files, Vec<&str>, Vec<&str>)> = vec![
        (vec![("ok.toml", ok), ("d/", b"")], vec!["run", "ok.toml", "-o", "d"], vec!["-o d", "is a folder"]),
        (vec![("ok.toml", ok), ("f.txt", text)], vec!["run", "ok.toml", "-o", "f.txt/o.h5"], vec!["-o f.txt/o.h5", "f.txt is a file"]),
        (vec![("ok.toml", ok), ("f.txt", text)], vec!["run", "ok.toml", "-o", "f.txt/a/b/o.h5"], vec!["f.txt is a file"]),
        (vec![("ok.toml", ok), ("f.txt", text)], vec!["run", "ok.toml", "-o", "f.txt"], vec!["f.txt", "output exists"]),
        (vec![("ok.toml", ok)], vec!["run", "ok.toml", "-o", "o.h5", "--shard", "3/2"], vec!["--shard", "3/2"]),
        (vec![("ok.toml", ok)], vec!["run", "ok.toml", "-o", "o.h5", "--shard", "0/0"], vec!["--shard", "0/0"]),
        (vec![("ok.toml", ok)], vec!["run", "ok.toml", "-o", "o.h5", "--shard", "abc"], vec!["--shard", "abc"]),
        (vec![("ok.toml", ok)], vec!["run", "ok.toml", "-o", "o.h5", "--shard", "2/3"], vec!["shard 2/3", "1 run"]),
        (vec![("ok.toml", ok)], vec!["run", "ok.toml", "-o", "o.h5", "-j", "0"], vec!["--threads", "0"]),
        (vec![("ok.toml", ok)], vec!["run", "ok.toml", "-o", "o.h5", "-j", "abc"], vec!["--threads", "abc"]),
        (vec![("ok.toml", ok)], vec!["run", "ok.toml", "-o", "o.h5", "--resume", "--force"], vec!["--resume", "--force"]),
        (vec![("ok.toml", ok)], vec!["run", "ok.toml"], vec!["--output", "required"]),
        (vec![("d/", b"")], vec!["run", "d", "-o", "o.h5"], vec!["d: cannot read", "directory"]),
        (vec![("d/", b"")], vec!["validate", "d"], vec!["d: cannot read", "directory"]),
        (vec![("f.txt", text)], vec!["validate", "f.txt"], vec!["f.txt:1:6", "expected `=`"]),
        (vec![("ok.toml", ok)], vec!["validate", "ok.toml", "--show", "abc"], vec!["--show", "abc"]),
        (vec![("f.txt", text)], vec!["inspect", "f.txt"], vec!["f.txt", "not an HDF5 file"]),
        (vec![("e.h5", b"")], vec!["inspect", "e.h5"], vec!["e.h5", "not an HDF5 file"]),
        (vec![("d/", b"")], vec!["inspect", "d"], vec!["d is not", "directory"]),
        (vec![("f.txt", text)], vec!["merge", "f.txt", "-o", "m.h5"], vec!["f.txt", "not an HDF5 file"]),
        (vec![("e.h5", b"")], vec!["merge", "e.h5", "-o", "m.h5"], vec!["e.h5", "not an HDF5 file"]),
        (vec![("e.h5", b""), ("d/", b"")], vec!["merge", "e.h5", "-o", "d"], vec!["-o d", "is a folder"]),
        (vec![("f.txt", text)], vec!["plot", "f.txt", "-o", "figs"], vec!["f.txt", "not an HDF5 file"]),
        (vec![("f.txt", text)], vec!["paper", "--analytic-only", "-o", "f.txt"], vec!["-o f.txt", "not a folder"]),
        (vec![("f.txt", text)], vec!["paper", "--analytic-only", "-o", "f.txt/sub"], vec!["-o f.txt/sub", "cannot create"]),
    ];
    let failures = cases
        .iter()
        .filter_map(|(files, args, needles)| refused(dir.path(), files, args, needles).err())
        .collect();
    report(failures);
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

const BASE: &str = r#"
[protocol]
b_initial_t = 0.5
b_final_t = 0.1
initial_temperature_k = 2.0
sweep_rate_t_per_s = 10.0
"#;

/// A config: `BASE` (unless `sections` has its own `[protocol]`) with `sections` after it;
/// a `[protocol]` key swept by an axis of `sections` is left out of `BASE` (a value in the
/// section as well is refused: the sweep would override it).
fn config(sections: &str) -> String {
    if sections.contains("[protocol]") {
        return sections.to_string();
    }
    let base: String = BASE
        .lines()
        .filter(|l| {
            let name = l.split(" =").next().unwrap_or("");
            name.is_empty() || !sections.contains(&format!("key = \"protocol.{name}\""))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    format!("{base}{sections}")
}

/// An axis over `key` with `count` evenly spaced values from `a` to `b`.
fn axis(key: &str, a: f64, b: f64, count: u64) -> String {
    format!("\n[[sweep]]\nkey = \"{key}\"\nlinear = {{ start = {a:?}, stop = {b:?}, count = {count} }}\n")
}

#[test]
fn bad_configs_exit_2_naming_the_key_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let t = "protocol.initial_temperature_k";
    let bf = "protocol.b_final_t";
    let bi = "protocol.b_initial_t";
    let rate = "protocol.sweep_rate_t_per_s";
    let huge_axes = format!(
        "{}{}{}{}",
        axis(t, 1.0, 4.0, 65536),
        axis(bf, 0.0, 0.2, 65536),
        axis(bi, 0.3, 0.4, 65536),
        axis(rate, 1.0, 4.0, 65537)
    );
    let two_pow_64 = format!(
        "{}{}{}{}",
        axis(t, 1.0, 4.0, 65536),
        axis(bf, 0.0, 0.2, 65536),
        axis(bi, 0.3, 0.4, 65536),
        axis(rate, 1.0, 4.0, 65536)
    );
    // Huge sweeps: refused from the declared sizes, before anything is expanded, in < 1 s.
    #[rustfmt::skip]
    let huge: Vec<(String, Vec<&str>, Vec<&str>)> = vec![
        (axis(t, 1.0, 4.0, 1_000_000_000), vec!["run"], vec![t, "1000000000 values", "at most 1000000"]),
        (axis(t, 1.0, 4.0, 1_000_000_000_000), vec!["validate"], vec![t, "1000000000000 values"]),
        (axis(t, 1.0, 4.0, 1_000_001), vec!["validate"], vec![t, "1000001 values"]),
        (format!("\n[[sweep]]\nkey = \"{t}\"\nlog = {{ start = 1.0, stop = 4.0, count = 10000000000 }}\n"), vec!["run"],
            vec![t, "10000000000 values"]),
        (format!("{}{}", axis(t, 1.0, 4.0, 1_000_000), axis(bf, 0.0, 0.2, 1000)), vec!["run"],
            vec!["1000000000 runs", "batch.max_runs = 10000", "--yes"]),
        (format!("{}{}", axis(t, 1.0, 4.0, 1_000_000), axis(bf, 0.0, 0.2, 1_000_000)), vec!["run"],
            vec!["1000000000000 runs", "batch.max_runs = 10000"]),
        (format!("{}{}\n[batch]\nmax_runs = 1\n", axis(t, 1.0, 4.0, 2), axis(bf, 0.0, 0.2, 2)), vec!["run"],
            vec!["4 runs", "batch.max_runs = 1"]),
        (huge_axes, vec!["validate"], vec!["65536 x 65536 x 65536 x 65537", "more than 18446744073709551615 runs"]),
        (two_pow_64, vec!["run", "--yes"], vec!["65536 x 65536 x 65536 x 65536"]),
        (format!("{}\n[[sweep]]\nkey = \"{t}\"\nlinear = {{ start = 1.0, stop = 4.0, count = 18446744073709551616 }}\n", ""), vec!["run"],
            vec!["sweep.linear.count", "18446744073709551616"]),
    ];
    let mut failures = Vec::new();
    for (sections, cmd, needles) in &huge {
        let text = config(sections);
        let mut args: Vec<&str> = vec![cmd[0], "c.toml"];
        if cmd[0] == "run" {
            args.extend_from_slice(&["-o", "out.h5"]);
        }
        args.extend_from_slice(&cmd[1..]);
        let limit = Duration::from_secs(1);
        failures.extend(
            refused_within(
                dir.path(),
                &[("c.toml", text.as_bytes())],
                &args,
                needles,
                limit,
            )
            .err(),
        );
    }
    let sweep = |key: &str, spec: &str| format!("\n[[sweep]]\nkey = \"{key}\"\n{spec}\n");
    let link = "\n[sample]\namount_mol = 1e-6\n[link]\nconductance_w_per_k = 1e-8\n";
    #[rustfmt::skip]
    let mut cases: Vec<(String, Vec<&str>, Vec<&str>)> = vec![
        (axis(t, 1.0, 4.0, 0), vec!["run"], vec![t, "count must be >= 1"]),
        ("\n[batch]\nmax_runs = 0\n".into(), vec!["run"], vec!["batch.max_runs = 0"]),
        // Values.
        ("\n[solver]\nrtol = 1.0\n".into(), vec!["run"], vec!["solver.rtol = 1"]),
        ("\n[solver]\nmax_steps = 0\n".into(), vec!["run"], vec!["solver.max_steps = 0", "1..=1000000000"]),
        ("\n[solver]\nmax_steps = 1.5\n".into(), vec!["run"], vec!["c.toml:9", "solver.max_steps = 1.5: must be an integer in 1..=1000000000"]),
        ("\n[solver]\nmax_steps = -3\n".into(), vec!["run"], vec!["c.toml:9", "solver.max_steps = -3: must be an integer in 1..=1000000000"]),
        ("\n[solver]\nmax_steps = \"10\"\n".into(), vec!["run"], vec!["solver.max_steps = \"10\": must be an integer in 1..=1000000000"]),
        ("\n[solver]\nmax_time_after_ramp_s = 1e-300\n".into(), vec!["run"], vec!["output.sample_times_after_ramp_s", "1e-300"]),
        ("\n[material]\npreset = \"foo\"\n".into(), vec!["run"], vec!["material.preset", "foo"]),
        ("\n[material]\nspin = 0.5\n".into(), vec!["run"], vec!["material.spin = 0.5", "D < 0"]),
        ("\n[material]\ntau0_s = nan\n".into(), vec!["run"], vec!["material.tau0_s", "NaN"]),
        ("\n[material]\nno_such_key = 1\n".into(), vec!["run"], vec!["no_such_key"]),
        ("\n[output]\nsample_times_after_ramp_s = [-1e-3]\n".into(), vec!["run"], vec!["output.sample_times_after_ramp_s", "-0.001"]),
        (axis(t, -1.0, 4.0, 3), vec!["run"], vec![t, "-1"]),
        ("\n[solver]\nrtol = 1e-9\nrtol = 1e-8\n".into(), vec!["run"], vec!["c.toml:", "duplicate key `solver.rtol`"]),
        ("\n[material]\nspin = 100.0\n".into(), vec!["run"], vec!["material.spin", "100", "barrier"]),
        ("\n[rates]\nkappa_per_s_k3 = 2e-3\n".into(), vec!["run"], vec!["rates.kappa_per_s_k3", "0.002", "no effect"]),
        ("\n[rates]\nkappa_reference_k = 4.2\n".into(), vec!["validate"], vec!["rates.kappa_reference_k", "4.2", "no effect"]),
        (axis("rates.kappa_per_s_k3", 1e-3, 1e-2, 12), vec!["run"], vec!["rates.kappa_per_s_k3", "0.001", "no effect"]),
        // A value that a sweep overrides in every run (issue 17, item 2).
        (format!("{BASE}{}", axis(rate, 1.0, 4.0, 2)), vec!["run"], vec!["c.toml:6:", "protocol.sweep_rate_t_per_s = 10.0", "overrides"]),
        (format!("{}{}", BASE.replace("initial_temperature_k", "t_initial_k"), axis(t, 1.0, 4.0, 2)), vec!["validate"],
            vec!["protocol.t_initial_k = 2.0", "also swept", t]),
        (format!("\n[material]\ntau0_s = 2e-7\n{}", axis("material.tau0_s", 1e-7, 3e-7, 3)), vec!["run"],
            vec!["material.tau0_s = 2e-7", "overrides"]),
    ];
    let p = |text: &str| format!("[protocol]\n{text}");
    #[rustfmt::skip]
    cases.extend(vec![
        // Syntax and encodings (the non-UTF-8 file is in `raw` below).
        ("\nrtol = = 1\n".into(), vec!["validate"], vec!["c.toml:8:8", "extra `=`"]),
        (format!("{BASE}\n[protocol]\nshape = \"linear\"\n"), vec!["validate"], vec!["duplicate key `[protocol]`"]),
        ("\nb_final_t = 0.2\n".into(), vec!["validate"], vec!["duplicate key `protocol.b_final_t`"]),
        ("\n[material]\npreset = \"mn\\q\"\n".into(), vec!["validate"], vec!["c.toml:9:14", "escaped"]),
        ("\n[material]\npreset = \"mn12ac\n".into(), vec!["validate"], vec!["c.toml:9:17", "basic string"]),
        ("\n\0".into(), vec!["validate"], vec!["c.toml:8:2"]),
        // The fields are optional (a waveform sets them): the temperature is the first required key.
        (p(""), vec!["validate"], vec!["missing field `initial_temperature_k`"]),
        (p("initial_temperature_k = 2.0\n"), vec!["validate"], vec!["protocol.b_initial_t is required"]),
        ("# no [protocol] section\n[solver]\nrtol = 1e-8\n".into(), vec!["validate"], vec!["missing field `protocol`"]),
        ("\n[foo]\nx = 1\n".into(), vec!["validate"], vec!["unknown field `foo`"]),
        ("\nb_initial = 1\n".into(), vec!["validate"], vec!["unknown field `b_initial`"]),
        ("\n[batch]\nthreads = 2\n".into(), vec!["validate"], vec!["unknown field `threads`"]),
        // Types, each naming its key.
        (p("b_initial_t = \"0.5\"\nb_final_t = 0.1\ninitial_temperature_k = 2.0\nshape = \"jump\"\n"), vec!["validate"], vec!["protocol.b_initial_t", "string \"0.5\""]),
        (p("b_initial_t = true\nb_final_t = 0.1\ninitial_temperature_k = 2.0\nshape = \"jump\"\n"), vec!["validate"], vec!["protocol.b_initial_t", "boolean `true`"]),
        (p("b_initial_t = [0.5]\nb_final_t = 0.1\ninitial_temperature_k = 2.0\nshape = \"jump\"\n"), vec!["validate"], vec!["protocol.b_initial_t", "sequence"]),
        (p("b_initial_t = 99999999999999999999\nb_final_t = 0.1\ninitial_temperature_k = 2.0\nshape = \"jump\"\n"), vec!["validate"],
            vec!["protocol.b_initial_t", "99999999999999999999"]),
        ("\nshape = \"square\"\n".into(), vec!["validate"], vec!["protocol.shape", "square"]),
        ("\nshape = 1\n".into(), vec!["validate"], vec!["protocol.shape", "wanted string"]),
        ("\nallow_field_increase = \"yes\"\n".into(), vec!["validate"], vec!["protocol.allow_field_increase", "\"yes\""]),
        ("\n[solver]\nrtol = \"1e-8\"\n".into(), vec!["validate"], vec!["solver.rtol", "\"1e-8\""]),
        ("\n[solver]\nformulation = \"half\"\n".into(), vec!["validate"], vec!["solver.formulation", "half"]),
        ("\n[output]\nsample_times_after_ramp_s = \"1,2\"\n".into(), vec!["validate"], vec!["output.sample_times_after_ramp_s", "\"1,2\""]),
        ("\n[output]\ntrajectory = 1\n".into(), vec!["validate"], vec!["output.trajectory", "`1`"]),
        ("\n[output]\nlog_points_per_decade = -1\n".into(), vec!["validate"], vec!["output.log_points_per_decade = -1: must be an integer in 0..=100"]),
        ("\n[output]\nlog_points_per_decade = 2.5\n".into(), vec!["validate"], vec!["output.log_points_per_decade = 2.5: must be an integer in 0..=100"]),
        ("\n[material]\npreset = 3\n".into(), vec!["validate"], vec!["material.preset", "`3`"]),
        ("\n[rates]\nkappa_scaling = \"linear\"\n".into(), vec!["validate"], vec!["rates.kappa_scaling", "linear"]),
        ("\n[batch]\nmax_runs = -1\n".into(), vec!["validate"], vec!["batch.max_runs = -1: must be an integer >= 1"]),
        ("\n[batch]\nmax_runs = 1.5\n".into(), vec!["validate"], vec!["batch.max_runs = 1.5: must be an integer >= 1"]),
        // Ranges and non-finite values of every key.
        ("\n[solver]\nequilibrium_tol_k = 2.0\n".into(), vec!["validate"], vec!["solver.equilibrium_tol_k = 2", "[1e-13, 1e0]"]),
        ("\n[solver]\nequilibrium_tol_k = 0.0\n".into(), vec!["validate"], vec!["solver.equilibrium_tol_k = 0"]),
        ("\n[solver]\nreduction_tol_rel = 1.5\n".into(), vec!["validate"], vec!["solver.reduction_tol_rel = 1.5", "[0e0, 1e0]"]),
        ("\n[solver]\nreduction_tol_rel = -1.0\n".into(), vec!["run"], vec!["solver.reduction_tol_rel = -1"]),
        ("\n[solver]\nreduction_tol_rel = \"tight\"\n".into(), vec!["validate"], vec!["reduction_tol_rel", "tight"]),
        (axis("solver.reduction_tol_rel", 0.5, 2.0, 4), vec!["validate"], vec!["solver.reduction_tol_rel", "1.5"]),
        ("\n[solver]\nrtol = 1e-20\n".into(), vec!["validate"], vec!["solver.rtol = 1e-20"]),
        ("\n[solver]\nmax_time_after_ramp_s = nan\n".into(), vec!["validate"], vec!["solver.max_time_after_ramp_s = NaN"]),
        ("\n[output]\nsample_times_after_ramp_s = [1.0, nan]\n".into(), vec!["validate"], vec!["output.sample_times_after_ramp_s = NaN"]),
        ("\n[output]\nsample_times_after_ramp_s = [1e41]\n".into(), vec!["validate"], vec!["output.sample_times_after_ramp_s = 1e41", "1e40"]),
        ("\n[output]\nlog_points_per_decade = 1000\n".into(), vec!["validate"], vec!["output.log_points_per_decade = 1000", "0..=100"]),
        (p("b_initial_t = 0.5\nb_final_t = nan\ninitial_temperature_k = 2.0\nshape = \"jump\"\n"), vec!["validate"], vec!["protocol.b_final_t = NaN"]),
        (p("b_initial_t = 50.0\nb_final_t = 0.1\ninitial_temperature_k = 2.0\nshape = \"jump\"\n"), vec!["validate"], vec!["protocol.b_initial_t = 50", "9.9261"]),
        (p("b_initial_t = 0.5\nb_final_t = -50.0\ninitial_temperature_k = 2.0\nshape = \"jump\"\n"), vec!["validate"], vec!["protocol.b_final_t = -50"]),
        (p("b_initial_t = 0.5\nb_final_t = 0.1\ninitial_temperature_k = inf\nshape = \"jump\"\n"), vec!["validate"], vec!["protocol.initial_temperature_k = inf"]),
        (p("b_initial_t = 0.5\nb_final_t = 0.1\ninitial_temperature_k = 0.01\nshape = \"jump\"\n"), vec!["validate"],
            vec!["protocol.initial_temperature_k = 0.01", "underflows"]),
        (p("b_initial_t = 0.5\nb_final_t = 0.1\ninitial_temperature_k = 2.0\nsweep_rate_t_per_s = -inf\n"), vec!["validate"], vec!["protocol.sweep_rate_t_per_s = -inf"]),
        (p("b_initial_t = 0.5\nb_final_t = 0.1\ninitial_temperature_k = 2.0\nsweep_rate_t_per_s = 0.0\n"), vec!["validate"], vec!["protocol.sweep_rate_t_per_s = 0"]),
        (p("b_initial_t = 0.5\nb_final_t = 0.1\ninitial_temperature_k = 2.0\nramp_duration_s = -0.5\n"), vec!["validate"], vec!["protocol.ramp_duration_s = -0.5"]),
        (p("b_initial_t = 0.5\nb_final_t = 0.1\ninitial_temperature_k = 2.0\nramp_duration_s = 1e50\n"), vec!["validate"], vec!["protocol.ramp_duration_s = 1e50"]),
        ("\nramp_duration_s = 1.0\n".into(), vec!["validate"], vec!["protocol.sweep_rate_t_per_s = 10", "exactly one"]),
        ("\nshape = \"jump\"\n".into(), vec!["validate"], vec!["protocol.sweep_rate_t_per_s = 10", "a jump takes no sweep rate"]),
        ("\n[material]\nspin = 10.3\n".into(), vec!["validate"], vec!["material.spin = 10.3", "multiple of 1/2"]),
        ("\n[material]\nspin = 0.0\n".into(), vec!["validate"], vec!["material.spin = 0"]),
        ("\n[material]\nd_cm1 = -0.5\nd_k = -0.7\n".into(), vec!["validate"], vec!["material.d_cm1 = -0.5", "not both"]),
        ("\n[material]\nd_cm1 = 0.5\n".into(), vec!["validate"], vec!["material.d_cm1 = 0.5", "D < 0"]),
        ("\n[material]\nd_k = 0.0\n".into(), vec!["validate"], vec!["material.d_k = 0", "non-zero"]),
        ("\n[material]\ng_par = 0.0\n".into(), vec!["validate"], vec!["material.g_par = 0"]),
        ("\n[material]\ng_par = nan\n".into(), vec!["validate"], vec!["material.g_par = NaN"]),
        ("\n[material]\ndebye_temperature_k = inf\n".into(), vec!["validate"], vec!["material.debye_temperature_k = inf"]),
        ("\n[material]\ndebye_temperature_k = 0.5\n".into(), vec!["validate"], vec!["material.debye_temperature_k = 0.5", "[1, 1e4]"]),
        ("\n[material]\nphonon_units = -1.0\n".into(), vec!["validate"], vec!["material.phonon_units = -1"]),
        ("\n[material]\nphonon_units = 1e4\n".into(), vec!["validate"], vec!["material.phonon_units = 10000"]),
        ("\n[material]\ntau0_s = -1.0\n".into(), vec!["validate"], vec!["material.tau0_s = -1"]),
        ("\n[material]\nbarrier_k = 0.0\n".into(), vec!["validate"], vec!["material.barrier_k = 0"]),
        ("\n[material]\nbarrier_k = inf\n".into(), vec!["validate"], vec!["material.barrier_k = inf"]),
        ("\n[rates]\nkappa_scaling = \"constant\"\nkappa_reference_k = -4.6\n".into(), vec!["validate"], vec!["rates.kappa_reference_k = -4.6"]),
        ("\n[rates]\nkappa_scaling = \"constant\"\nkappa_reference_k = 0.0\n".into(), vec!["validate"], vec!["rates.kappa_reference_k = 0"]),
        ("\n[rates]\nkappa_scaling = \"absolute\"\n".into(), vec!["validate"], vec!["rates.kappa_per_s_k3 = (missing)", "required"]),
        ("\n[rates]\nkappa_scaling = \"absolute\"\nkappa_per_s_k3 = nan\n".into(), vec!["validate"], vec!["rates.kappa_per_s_k3 = NaN"]),
        ("\n[rates]\nkappa_scaling = \"absolute\"\nkappa_per_s_k3 = 1.0\nkappa_reference_k = 3.0\n".into(), vec!["validate"],
            vec!["rates.kappa_reference_k = 3", "no effect"]),
        ("\n[sample]\namount_mol = 1e-6\nmass_mg = 1.0\n".into(), vec!["validate"], vec!["sample.amount_mol = 1e-6", "not both"]),
        ("\n[sample]\nmass_mg = -1.0\n".into(), vec!["validate"], vec!["sample.mass_mg = -1"]),
        ("\n[sample]\namount_mol = inf\n".into(), vec!["validate"], vec!["sample.amount_mol = inf"]),
        ("\n[sample]\namount_mol = 0.0\n".into(), vec!["validate"], vec!["sample.amount_mol = 0"]),
        ("\n[sample]\naddenda_gamma_j_per_k2 = 1e-6\n".into(), vec!["validate"], vec!["sample.addenda_gamma_j_per_k2 = 1e-6", "sample.amount_mol"]),
        ("\n[sample]\namount_mol = 1e-6\naddenda_beta_j_per_k4 = -1.0\n".into(), vec!["validate"], vec!["sample.addenda_beta_j_per_k4 = -1"]),
        ("\n[link]\nconductance_w_per_k = 1e-8\n".into(), vec!["validate"], vec!["link.conductance_w_per_k = 1e-8", "sample.amount_mol"]),
        ("\n[sample]\namount_mol = 1e-6\n[link]\nexponent = 3.0\n".into(), vec!["validate"], vec!["link.exponent = 3", "link.conductance_w_per_k"]),
        (format!("{link}exponent = 11.0\n"), vec!["validate"], vec!["link.exponent = 11", "[0, 10]"]),
        (format!("{link}bath_temperature_k = 0.0\n"), vec!["validate"], vec!["link.bath_temperature_k = 0"]),
        (format!("{link}bath_temperature_k = nan\n"), vec!["validate"], vec!["link.bath_temperature_k = NaN"]),
        ("\n[sample]\namount_mol = 1e-6\n[link]\nconductance_w_per_k = nan\n".into(), vec!["validate"], vec!["link.conductance_w_per_k = NaN"]),
        // Sweeps: their form, their keys, and the values of each run.
        ("\n[[sweep]]\nvalues = [1.0]\n".into(), vec!["validate"], vec!["missing field `key`"]),
        (sweep(t, "values = [1.0]\nlinear = { start = 1.0, stop = 2.0, count = 2 }"), vec!["validate"], vec![t, "exactly one of"]),
        (sweep(t, ""), vec!["validate"], vec![t, "exactly one of"]),
        (sweep(t, "log = { start = -1.0, stop = 2.0, count = 2 }"), vec!["validate"], vec![t, "start > 0"]),
        (sweep(t, "log = { start = 1.0, stop = 2.0, count = 0 }"), vec!["validate"], vec![t, "count must be >= 1"]),
        (sweep(t, "linear = { start = nan, stop = 2.0, count = 2 }"), vec!["validate"], vec![t, "finite"]),
        (sweep(t, "linear = { start = 1.0, stop = inf, count = 2 }"), vec!["validate"], vec![t, "finite"]),
        (sweep(t, "linear = { start = 1.0, stop = 2.0, count = -2 }"), vec!["validate"], vec!["sweep.linear.count = -2: must be an integer in 1..=1000000"]),
        (sweep(t, "log = { start = 1.0, stop = 2.0, count = 2.5 }"), vec!["validate"], vec!["sweep.log.count = 2.5: must be an integer in 1..=1000000"]),
        (sweep(t, "linear = { start = 1.0, stop = 2.0, count = 2.5 }"), vec!["validate"], vec!["sweep.linear.count = 2.5: must be an integer in 1..=1000000"]),
        (sweep(t, "linear = { start = 1.0, stop = 2.0 }"), vec!["validate"], vec!["missing field `count`"]),
        (sweep(t, "values = [1.0, nan]"), vec!["validate"], vec![t, "NaN is not a finite number"]),
        (sweep(t, "values = []"), vec!["validate"], vec![t, "empty"]),
        (sweep(t, "values = [\"a\"]"), vec!["validate"], vec!["sweep.values", "\"a\""]),
        (sweep(t, "values = [1.0]\nstep = 1"), vec!["validate"], vec!["unknown field `step`"]),
        (sweep("protocol.shape", "values = [1.0]"), vec!["validate"], vec!["protocol.shape", "not a sweepable key"]),
        (sweep("", "values = [1.0]"), vec!["validate"], vec!["sweep.key = \"\"", "not a sweepable key"]),
        ("\n[[sweep]]\nkey = 3\nvalues = [1.0]\n".into(), vec!["validate"], vec!["sweep.key", "`3`"]),
        (format!("{}{}", sweep(t, "values = [1.0]"), sweep(t, "values = [2.0]")), vec!["validate"], vec![t, "swept once"]),
        ("\n[sweep]\nkey = \"material.spin\"\nvalues = [1.0]\n".into(), vec!["validate"], vec!["c.toml:8:1", "expected a sequence"]),
        (sweep("material.spin", "values = [10.0, 10.3]"), vec!["validate"], vec!["material.spin", "run 1", "10.3"]),
        (sweep(bf, "values = [0.1, 50.0]"), vec!["validate"], vec![bf, "run 1", "50"]),
        (sweep("rates.kappa_reference_k", "values = [3.0, 4.0]"), vec!["validate"], vec!["rates.kappa_reference_k", "no effect"]),
        (sweep("link.exponent", "values = [1.0, 2.0]"), vec!["validate"], vec!["link.exponent", "link.conductance_w_per_k"]),
        (sweep("solver.rtol", "log = { start = 1e-20, stop = 1e-8, count = 3 }"), vec!["validate"], vec!["solver.rtol", "run 0", "1e-20"]),
        (sweep("material.debye_temperature_k", "values = [38.0, -1.0]"), vec!["validate"], vec!["material.debye_temperature_k", "run 1", "-1"]),
        (sweep("sample.mass_mg", "values = [1.0, 0.0]"), vec!["validate"], vec!["sample.mass_mg", "run 1"]),
    ]);
    assert!(
        cases.len() + huge.len() + 1 >= 100,
        "{} configs",
        cases.len() + huge.len() + 1
    );
    for (sections, cmd, needles) in &cases {
        let text = config(sections);
        let mut args: Vec<&str> = vec![cmd[0], "c.toml"];
        if cmd[0] == "run" {
            args.extend_from_slice(&["-o", "out.h5"]);
        }
        args.extend_from_slice(&cmd[1..]);
        failures.extend(
            refused(dir.path(), &[("c.toml", text.as_bytes())], &args, needles)
                .err()
                .map(|e| format!("{e}\n{text}")),
        );
    }
    // Encodings: a config that is not UTF-8 is refused naming the file; a byte-order mark is
    // not an error (it is the file's encoding, not content).
    let mut latin1 = BASE.as_bytes().to_vec();
    latin1.extend_from_slice(b"# caf\xe9\n");
    failures.extend(
        refused(
            dir.path(),
            &[("c.toml", &latin1)],
            &["validate", "c.toml"],
            &["c.toml", "UTF-8"],
        )
        .err(),
    );
    let mut bom = "\u{feff}".as_bytes().to_vec();
    bom.extend_from_slice(config("\n[solver]\nrtol = 2.0\n").as_bytes());
    failures.extend(
        refused(
            dir.path(),
            &[("c.toml", &bom)],
            &["validate", "c.toml"],
            &["solver.rtol = 2"],
        )
        .err(),
    );
    report(failures);
}

#[test]
fn bad_waveforms_exit_2_naming_the_key_the_point_and_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let wf = |times: &'static str, fields: &'static str, extra: &[&'static str]| {
        let mut a = vec![
            "simulate",
            "--initial-temperature-k",
            "2",
            "--waveform-time-s",
            times,
            "--waveform-field-t",
            fields,
        ];
        a.extend_from_slice(extra);
        a
    };
    let csv = |extra: &[&'static str]| {
        let mut a = vec![
            "simulate",
            "--initial-temperature-k",
            "2",
            "--waveform-csv",
            "w.csv",
        ];
        a.extend_from_slice(extra);
        a
    };
    #[rustfmt::skip]
    let cases: Vec<(Vec<&str>, Option<&str>, Vec<&str>)> = vec![
        // Inline points.
        (wf("0,0.02,0.01", "0.5,0.3,0.1", &[]), None, vec!["--waveform-time-s = 0.01", "point 3", "increase strictly", "comes before"]),
        (wf("0,0.01,0.01", "0.5,0.3,0.1", &[]), None, vec!["--waveform-time-s = 0.01", "point 3", "repeats"]),
        (wf("0", "0.5", &[]), None, vec!["--waveform-time-s", "at least two"]),
        (wf("0,0.01", "0.5,nan", &[]), None, vec!["--waveform-field-t", "nan", "not a finite number"]),
        (wf("0,0.01,0.02", "0.5,0.1", &[]), None, vec!["--waveform-field-t", "one field per time"]),
        (wf("0,0.01", "0.5,20", &[]), None, vec!["--waveform-field-t = 20", "point 2", "both wells"]),
        (vec!["simulate", "--initial-temperature-k", "2", "--waveform-time-s", "0,1"], None, vec!["--waveform-field-t is required", "--waveform-time-s"]),
        // Keys a waveform sets itself.
        (wf("0,0.01", "0.5,0.1", &["--b-initial-t", "0.4"]), None, vec!["--b-initial-t = 0.4", "waveform sets the initial field", "0.5 T"]),
        (wf("0,0.01", "0.5,0.1", &["--b-final-t", "0.1"]), None, vec!["--b-final-t = 0.1", "final field"]),
        (wf("0,0.01", "0.5,0.1", &["--sweep-rate-t-per-s", "10"]), None, vec!["--sweep-rate-t-per-s = 10", "waveform sets"]),
        (wf("0,0.01", "0.5,0.1", &["--jump"]), None, vec!["--shape = \"jump\"", "piecewise linear"]),
        (wf("0,0.01", "0.5,0.1", &["--waveform-csv", "w.csv"]), Some("0,0.5\n1,0.1\n"), vec!["--waveform-csv = \"w.csv\"", "not both"]),
        (vec!["simulate", "--b-initial-t", "0.5", "--b-final-t", "0.1", "--initial-temperature-k", "2", "--shape", "waveform"], None,
            vec!["--shape = \"waveform\"", "needs the waveform's points"]),
        // CSV files.
        (csv(&[]), None, vec!["--waveform-csv = \"w.csv\"", "cannot be read"]),
        (csv(&[]), Some("time_s,field_t\n0,0.5\n0.01;0.3\n"), vec!["--waveform-csv = \"w.csv\"", "row 3", "'0.01;0.3'", "not two numbers"]),
        (csv(&[]), Some("0,0.5\n0.01,0.3,7\n"), vec!["row 2", "not two numbers"]),
        (csv(&[]), Some("# scope trace\n0,0.5\n0.02,0.3\n0.01,0.1\n"), vec!["--waveform-csv", "row 4 (time_s = 0.01)", "increase strictly"]),
        (csv(&[]), Some("0,0.5\n0.01,inf\n"), vec!["row 2 (field_t = inf)", "finite"]),
        (csv(&[]), Some("time_s,field_t\n0,0.5\n"), vec!["--waveform-csv", "at least two"]),
        (csv(&[]), Some(""), vec!["--waveform-csv", "0 point(s)"]),
        (csv(&[]), Some("time_s,field_t\n0,0.5\n0.01,20\n"), vec!["--waveform-csv = \"w.csv\"", "row 3 (field_t = 20)", "both wells"]),
    ];
    let mut failures = Vec::new();
    for (args, file, needles) in &cases {
        let files: Vec<(&str, &[u8])> = file.iter().map(|t| ("w.csv", t.as_bytes())).collect();
        failures.extend(refused(dir.path(), &files, args, needles).err());
    }
    // In a config: the file is named relative to the config, and the message names the key.
    let head = "[protocol]\ninitial_temperature_k = 2.0\n";
    #[rustfmt::skip]
    let configs: Vec<(String, Option<&str>, Vec<&str>)> = vec![
        (format!("{head}waveform_csv = \"missing.csv\"\n"), None, vec!["protocol.waveform_csv = \"", "missing.csv", "cannot be read"]),
        (format!("{head}waveform_csv = \"w.csv\"\n"), Some("0,0.5\n0,0.3\n"), vec!["protocol.waveform_csv", "row 2 (time_s = 0)", "repeats"]),
        (format!("{head}waveform_time_s = [0.0, 0.02, 0.01]\nwaveform_field_t = [0.5, 0.3, 0.1]\n"), None,
            vec!["protocol.waveform_time_s = 0.01", "point 3"]),
        (format!("{head}waveform_time_s = [0.0, 0.01]\nwaveform_field_t = [0.5, 0.1]\nb_initial_t = 0.5\n"), None,
            vec!["protocol.b_initial_t = 0.5", "waveform sets the initial field"]),
        (format!("{head}waveform_time_s = [0.0, 0.01]\nwaveform_field_t = [0.5, 0.1]\nramp_duration_s = 1.0\n"), None,
            vec!["protocol.ramp_duration_s = 1", "ramp duration"]),
        (format!("{head}b_final_t = 0.1\nsweep_rate_t_per_s = 1.0\n"), None, vec!["protocol.b_initial_t is required", "protocol.waveform_csv"]),
    ];
    for (text, file, needles) in &configs {
        let mut files: Vec<(&str, &[u8])> = vec![("c.toml", text.as_bytes())];
        files.extend(file.iter().map(|t| ("w.csv", t.as_bytes())));
        let args = ["run", "c.toml", "-o", "out.h5"];
        failures.extend(refused(dir.path(), &files, &args, needles).err());
    }
    report(failures);
}
