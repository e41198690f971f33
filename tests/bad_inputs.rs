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
    assert!(took < Duration::from_secs(3), "{args:?}: took {took:?}");
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
        (sim(&["--max-steps", "0"]), vec!["--max-steps", "= 0", "1..=1000000000"]),
        (sim(&["--max-steps", "-1"]), vec!["--max-steps", "-1"]),
        (sim(&["--material", "foo"]), vec!["--material", "foo"]),
        (sim(&["--max-time-after-ramp-s", "10"]), vec!["--sample-times-after-ramp-s", "3600", "--max-time-after-ramp-s"]),
        (sim(&["--kappa-scaling", "absolute"]), vec!["--kappa-per-s-k3"]),
        (sim(&["--spin", "0.5"]), vec!["--d-k", "D < 0", "S >= 1"]),
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
    #[rustfmt::skip]
    let cases: Vec<(String, Vec<&str>, Vec<&str>)> = vec![
        // Huge sweeps: refused from the declared sizes, before anything is expanded.
        (axis(t, 1.0, 4.0, 1_000_000_000), vec!["run"], vec![t, "1000000000 values", "at most 1000000"]),
        (axis(t, 1.0, 4.0, 1_000_000_000_000), vec!["validate"], vec![t, "1000000000000 values"]),
        (format!("{}{}", axis(t, 1.0, 4.0, 1_000_000), axis(bf, 0.0, 0.2, 1000)), vec!["run"],
            vec!["1000000000 runs", "batch.max_runs = 10000", "--yes"]),
        (huge_axes, vec!["validate"], vec!["65536 x 65536 x 65536 x 65537", "more than 18446744073709551615 runs"]),
        (two_pow_64, vec!["run", "--yes"], vec!["65536 x 65536 x 65536 x 65536"]),
        (axis(t, 1.0, 4.0, 0), vec!["run"], vec![t, "count must be >= 1"]),
        ("\n[batch]\nmax_runs = 0\n".into(), vec!["run"], vec!["batch.max_runs = 0"]),
        // Values.
        ("\n[solver]\nrtol = 1.0\n".into(), vec!["run"], vec!["solver.rtol = 1"]),
        ("\n[solver]\nmax_steps = 0\n".into(), vec!["run"], vec!["solver.max_steps = 0", "1..=1000000000"]),
        ("\n[solver]\nmax_steps = 1.5\n".into(), vec!["run"], vec!["c.toml:9", "1.5"]),
        ("\n[solver]\nmax_time_after_ramp_s = 1e-300\n".into(), vec!["run"], vec!["output.sample_times_after_ramp_s", "1e-300"]),
        ("\n[material]\npreset = \"foo\"\n".into(), vec!["run"], vec!["material.preset", "foo"]),
        ("\n[material]\nspin = 0.5\n".into(), vec!["run"], vec!["material.d_k", "D < 0"]),
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
    for (sections, cmd, needles) in &cases {
        let text = config(sections);
        let mut args: Vec<&str> = vec![cmd[0], "c.toml"];
        if cmd[0] == "run" {
            args.extend_from_slice(&["-o", "out.h5"]);
        }
        args.extend_from_slice(&cmd[1..]);
        refused(dir.path(), &[("c.toml", &text)], &args, needles);
    }
}
