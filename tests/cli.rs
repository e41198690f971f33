//! The command line: JSON documents with units in their keys, tables, and exit code 2 with one
//! line naming the flag, the value and what is allowed on bad input.

#![allow(clippy::excessive_precision)] // reference values are quoted with all the digits computed

mod common;

use common::{json, run, run_ok};
use std::path::Path;

#[test]
fn tau_json_has_t_max_and_both_taus() {
    let v = json(&["tau", "--temperature-k", "2,3,4.6", "--json"]);
    let t_max = v["temperature_at_tau_threshold_k"].as_f64().unwrap();
    assert!((t_max - 4.572_013_281_856).abs() < 1e-9);
    let recs = v["records"].as_array().unwrap();
    assert_eq!(recs.len(), 3);
    for r in recs {
        let a = r["tau_arrhenius_s"].as_f64().unwrap();
        let m = r["tau_model_s"].as_f64().unwrap();
        let t = r["temperature_k"].as_f64().unwrap();
        assert!((a / (2.1e-7 * (70.3 / t).exp()) - 1.0).abs() < 1e-14);
        assert!((m / a - 1.0).abs() < 1e-12);
    }
}

#[test]
fn limits_json_records_with_null_and_note_where_no_isentropic_solution() {
    let v = json(&[
        "limits",
        "--b-initial-t",
        "0.5",
        "--b-final-t",
        "0.1,0",
        "--initial-temperature-k",
        "2:4:1",
        "--json",
    ]);
    let recs = v["records"].as_array().unwrap();
    assert_eq!(recs.len(), 6);
    let r = &recs[2];
    assert_eq!(r["initial_temperature_k"].as_f64(), Some(4.0));
    assert!(
        (r["sudden_final_temperature_k"].as_f64().unwrap() - 2.333_807_500_970_54).abs() < 1e-10
    );
    assert!(
        (r["isentropic_final_temperature_k"].as_f64().unwrap() - 1.307_951_821_240_91).abs()
            < 1e-10
    );
    let r0 = &recs[4];
    assert_eq!(r0["b_final_t"].as_f64(), Some(0.0));
    assert!(r0["isentropic_final_temperature_k"].is_null());
    assert!(r0["note"].as_str().unwrap().contains("residual entropy"));
}

#[test]
fn limits_minimum_json() {
    let v = json(&[
        "limits",
        "--b-initial-t",
        "1",
        "--b-final-t",
        "0.1,0.5",
        "--minimum",
        "--json",
    ]);
    let m = v["minima"].as_array().unwrap();
    assert!((m[0]["sudden_delta_temperature_min_k"].as_f64().unwrap() + 2.152).abs() < 5e-4);
    assert!(
        (m[0]["sudden_initial_temperature_at_min_k"]
            .as_f64()
            .unwrap()
            - 3.61)
            .abs()
            < 5e-3
    );
    assert!((m[0]["isentropic_delta_temperature_min_k"].as_f64().unwrap() + 3.627).abs() < 5e-4);
    assert!(
        (m[0]["isentropic_initial_temperature_at_min_k"]
            .as_f64()
            .unwrap()
            - 5.33)
            .abs()
            < 5e-3
    );
    assert!((m[1]["sudden_delta_temperature_min_k"].as_f64().unwrap() + 0.796).abs() < 5e-4);
    assert!(
        (m[1]["sudden_initial_temperature_at_min_k"]
            .as_f64()
            .unwrap()
            - 6.46)
            .abs()
            < 5e-3
    );
}

#[test]
fn levels_json_is_relative_to_ground() {
    let v = json(&["levels", "--field-t", "0.5", "--json"]);
    let l = &v["levels"][0];
    assert_eq!(l["field_t"].as_f64(), Some(0.5));
    let rel = l["energy_above_ground_k"].as_array().unwrap();
    assert_eq!(rel.len(), 21);
    assert_eq!(rel[0].as_f64(), Some(0.0)); // M = -10 is the ground level for B > 0
    assert!(rel.iter().all(|x| x.as_f64().unwrap() >= 0.0));
}

#[test]
fn tables_are_readable() {
    let out = run(&[
        "limits",
        "--b-initial-t",
        "0.5",
        "--b-final-t",
        "0",
        "--initial-temperature-k",
        "3",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Tf sudden (K)"));
    assert!(text.contains("no solution"));
    assert!(text.contains("ln 2"));
    let out = run(&["presets"]);
    let text = String::from_utf8(out.stdout).unwrap();
    for key in [
        "mn12ac",
        "mn12-naphthalene",
        "mn12-dichloroacetate",
        "mn12-stearate",
    ] {
        assert!(text.contains(key));
    }
}

/// Bad input: exit code 2, one line on stderr naming the flag and the value, nothing on stdout.
#[test]
fn bad_input_exits_2_with_one_line_naming_flag_and_value() {
    let cases: &[(&str, &[&str])] = &[
        ("tau --temperature-k -1", &["--temperature-k", "-1", "> 0 K"]),
        ("tau --temperature-k 0", &["--temperature-k", "0", "> 0 K"]),
        ("tau --temperature-k inf", &["--temperature-k", "inf", "finite"]),
        ("tau --temperature-k nan", &["--temperature-k", "nan"]),
        ("limits --b-initial-t 0.5 --b-final-t 0.1 --initial-temperature-k 1:x", &["--initial-temperature-k", "1:x"]),
        ("limits --b-initial-t 0.5 --b-final-t 0.1 --initial-temperature-k 6:1:0.5", &["--initial-temperature-k", "stop 1 is below start 6"]),
        ("limits --b-initial-t 0.5 --b-final-t 0.1 --initial-temperature-k 1:6:0", &["--initial-temperature-k", "step 0"]),
        ("limits --b-initial-t 0.5 --b-final-t 0.1 --initial-temperature-k 1,,2", &["--initial-temperature-k", "empty item"]),
        ("limits --b-initial-t abc --b-final-t 0.1 --initial-temperature-k 2", &["--b-initial-t", "abc"]),
        ("levels --field-t 0 --spin 1.3", &["--spin", "1.3", "multiple of 1/2"]),
        ("levels --field-t 0 --spin -2", &["--spin", "-2"]),
        ("limits --b-initial-t 1 --b-final-t 0.1 --initial-temperature-k 2 --debye-temperature-k 0", &["--debye-temperature-k", "0", "> 0"]),
        ("limits --b-initial-t 1 --b-final-t 0.1 --initial-temperature-k 2 --debye-temperature-k -40", &["--debye-temperature-k", "-40"]),
        ("tau --temperature-k 3 --material mn13", &["--material", "mn13", "mn12ac"]),
        ("tau --temperature-k 3 --tau0-s 0", &["--tau0-s", "0"]),
        ("tau --temperature-k 0.05", &["temperature_k = 0.05", "0.3 K"]),
        ("tau --temperature-k 3 --kappa-scaling absolute", &["--kappa-per-s-k3"]),
        ("limits --b-initial-t 1 --b-final-t 0.1 --minimum --search-range-k 5:1", &["--search-range-k", "5:1"]),
        ("levels", &["--field-t"]),
    ];
    for (line, needles) in cases {
        let args: Vec<&str> = line.split_whitespace().collect();
        let out = run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: not one line: {err}"
        );
        for n in *needles {
            assert!(err.contains(n), "{args:?}: '{n}' missing from: {err}");
        }
        assert!(out.stdout.is_empty(), "{args:?} wrote to stdout");
        assert!(!err.contains("panicked"));
    }
}

#[test]
fn simulate_json_has_the_documented_keys() {
    let v = json(&common::jump_4k(&["--json"]));
    for key in [
        "temperature_after_ramp_k",
        "end_temperature_k",
        "sudden_final_temperature_k",
        "isentropic_final_temperature_k",
        "energy_balance_error_rel",
        "steps",
    ] {
        assert!(!v[key].is_null(), "{key} missing");
    }
    assert!((v["end_temperature_k"].as_f64().unwrap() - 2.333_807_500_97).abs() < 1e-7);
    let samples = v["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 3);
    assert_eq!(samples[0]["time_after_ramp_s"].as_f64(), Some(1e-3));
    assert!((samples[0]["phonon_temperature_k"].as_f64().unwrap() - 3.90615).abs() < 1e-5);
    assert!((samples[1]["phonon_temperature_k"].as_f64().unwrap() - 3.82221).abs() < 1e-5);
    assert_eq!(v["outcome"].as_str(), Some("equilibrium"));
    // The samples are measured against the kinetic equilibrium of the same protocol: for a
    // jump that is the Eq. 9 root (mpmath 2.33380750097054 K), so 1 ms holds
    // (3.90615 - 4) / (2.33380750097054 - 4) = 5.632 % of it.
    let dt_eq = v["equilibrium_delta_temperature_k"].as_f64().unwrap();
    assert!((dt_eq - (2.333_807_500_97 - 4.0)).abs() < 1e-7, "{dt_eq}");
    let f = samples[0]["fraction_of_equilibrium_delta_temperature_rel"]
        .as_f64()
        .unwrap();
    assert!(
        (f - (3.90615 - 4.0) / (2.333_807_500_97 - 4.0)).abs() < 1e-5,
        "{f}"
    );
}

/// Above 4.5 K a 10 T/s ramp cools more than the sudden prediction (the spins relax during
/// the ramp, towards the isentropic limit); the hour-later temperature is a fraction <= 1 of
/// the run's own equilibrium Delta T, and the text labels the percentage against that
/// equilibrium (issue 16: it said "139 % of the sudden prediction").
#[test]
fn simulate_percentages_are_against_the_kinetic_equilibrium() {
    let args = [
        "simulate",
        "--b-initial-t",
        "0.5",
        "--b-final-t",
        "0.1",
        "--initial-temperature-k",
        "6",
        "--sweep-rate-t-per-s",
        "10",
        "--sample-times-after-ramp-s",
        "3600",
    ];
    let mut with_json = args.to_vec();
    with_json.push("--json");
    let v = json(&with_json);
    let dt_eq = v["equilibrium_delta_temperature_k"].as_f64().unwrap();
    let dt_sudden = v["sudden_delta_temperature_k"].as_f64().unwrap();
    let dt_isentropic = v["isentropic_final_temperature_k"].as_f64().unwrap() - 6.0;
    assert!(
        dt_isentropic < dt_eq && dt_eq < dt_sudden,
        "isentropic {dt_isentropic}, eq {dt_eq}, sudden {dt_sudden}"
    );
    let s = &v["samples"][0];
    let t = s["phonon_temperature_k"].as_f64().unwrap();
    let f = s["fraction_of_equilibrium_delta_temperature_rel"]
        .as_f64()
        .unwrap();
    assert!((f - (t - 6.0) / dt_eq).abs() < 1e-12, "{f}");
    assert!(f > 0.0 && f <= 1.0 + 1e-9, "{f}");
    let text = String::from_utf8(run_ok(&args).stdout).unwrap();
    assert!(text.contains("% of the equilibrium Delta T"), "{text}");
    assert!(!text.contains("sudden prediction"), "{text}");
}

#[test]
fn simulate_table_and_bad_input() {
    let out = run(&[
        "simulate",
        "--b-initial-t",
        "0.5",
        "--b-final-t",
        "0.1",
        "--initial-temperature-k",
        "2",
        "--sweep-rate-t-per-s",
        "10",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("NOT reached"), "{text}");
    for (line, needles) in [
        ("simulate --b-initial-t 0.5 --b-final-t 0.1 --initial-temperature-k 4 --sweep-rate-t-per-s -10", vec!["--sweep-rate-t-per-s", "-10"]),
        ("simulate --b-initial-t 0.5 --b-final-t 0.1 --initial-temperature-k 4", vec!["--sweep-rate-t-per-s", "--jump"]),
        ("simulate --b-initial-t 15 --b-final-t 0.1 --initial-temperature-k 4 --jump", vec!["--b-initial-t", "15", "|B| <"]),
        ("simulate --b-initial-t 0.5 --b-final-t 0.1 --initial-temperature-k 0.1 --jump", vec!["--initial-temperature-k = 0.1", "T = 0.1 K", "0.3 K"]),
        ("simulate --b-initial-t 0.5 --b-final-t 0.1 --initial-temperature-k 4 --jump --rtol 0.5", vec!["--rtol", "0.5"]),
        ("simulate --b-initial-t 0.5 --b-final-t 0.1 --initial-temperature-k 4 --jump --sweep-rate-t-per-s 1", vec!["--jump", "--sweep-rate-t-per-s"]),
    ] {
        let args: Vec<&str> = line.split_whitespace().collect();
        let out = run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        for n in needles {
            assert!(err.contains(n), "{args:?}: '{n}' missing from {err}");
        }
    }
}

/// `limits --minimum` with Bf = Bi has no minimum (Delta T = 0 at every Ti); it used to report
/// a round-off "minimum" at the edge of the search range. A real field change still gets one.
#[test]
fn limits_minimum_without_a_field_change_is_none() {
    let args = [
        "limits",
        "--b-initial-t",
        "0.5",
        "--b-final-t",
        "0.5,0.1",
        "--minimum",
    ];
    let text = String::from_utf8(run_ok(&args).stdout).unwrap();
    let row = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some("0.5"))
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(
        row.split_whitespace().filter(|c| *c == "none").count(),
        4,
        "{text}"
    );
    assert!(
        text.contains("Bf = 0.5 T: Bf = Bi: no field change"),
        "{text}"
    );
    let mut with_json = args.to_vec();
    with_json.push("--json");
    let v = json(&with_json);
    let m = &v["minima"];
    assert!(m[0]["sudden_delta_temperature_min_k"].is_null(), "{v}");
    assert!(m[0]["note"].as_str().unwrap().contains("no field change"));
    // Bi = 0.5 T -> Bf = 0.1 T: the Fig. 6 sudden minimum, well inside the range.
    let dt = m[1]["sudden_delta_temperature_min_k"].as_f64().unwrap();
    assert!(dt < -1.8 && m[1]["note"].is_null(), "{v}");
}

/// A run the solver cannot finish (here: a step limit, `--max-steps`, below what the first
/// stage needs) exits 1, not 2, with one line naming the stage, the time, the run's
/// parameters and the limit; the same run with the default limit succeeds.
#[test]
fn a_run_beyond_the_step_limit_exits_1_naming_the_stage_and_the_limit() {
    let ok = common::run(&common::jump_4k(&["--json"]));
    assert!(ok.status.success());
    let out = common::one_line_error(
        &common::jump_4k(&["--max-steps", "3"]),
        1,
        &[
            "full relaxation stage failed at t = ",
            "Bi = 0.5 T, Bf = 0.1 T, Ti = 4 K",
            "more than 3 steps",
            "max_steps",
        ],
    );
    assert!(out.stdout.is_empty());
}

/// Issue 17: an empty sample list follows one rule everywhere: `sample_times_after_ramp_s = []`
/// in a config and `--sample-times-after-ramp-s ''` on the command line both ask for no
/// samples (and leave the run itself alone: the same end and equilibrium temperatures as the
/// default samples give, within the integrator's stops at those times).
#[test]
fn an_empty_sample_list_means_no_samples_in_a_config_and_on_the_command_line() {
    let v = json(&common::jump_4k(&[
        "--json",
        "--sample-times-after-ramp-s",
        "",
    ]));
    assert_eq!(v["sample_times_after_ramp_s"], serde_json::json!([]));
    assert_eq!(v["samples"], serde_json::json!([]));
    let with = json(&common::jump_4k(&["--json"]));
    for key in ["end_temperature_k", "equilibrium_temperature_k"] {
        let (a, b) = (v[key].as_f64().unwrap(), with[key].as_f64().unwrap());
        assert!((a - b).abs() < 1e-9, "{key}: {a} vs {b}");
    }

    let dir = tempfile::tempdir().unwrap();
    let cfg = common::write(
        dir.path(),
        "none.toml",
        "[protocol]\nb_initial_t = 0.5\nb_final_t = 0.1\ninitial_temperature_k = 4.0\nshape = \"jump\"\n\n[output]\nsample_times_after_ramp_s = []\ntrajectory = false\n",
    );
    let out = dir.path().join("none.h5");
    run_ok(&[
        "run",
        cfg.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(smmcool::io::read_meta(&out)
        .unwrap()
        .sample_times_after_ramp_s
        .is_empty());
    let rec = &smmcool::io::read_summary(&out).unwrap()[0];
    assert!(rec.summary.sample_temperatures_k.is_empty());
    assert_eq!(
        rec.summary.equilibrium_temperature_k,
        v["equilibrium_temperature_k"].as_f64()
    );
}

/// The subcommands `smmcool --help` lists (without `help`).
fn subcommands() -> Vec<String> {
    let help = String::from_utf8(common::run_ok(&["--help"]).stdout).unwrap();
    help.split("Commands:")
        .nth(1)
        .unwrap()
        .split("Options:")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|w| w != "help")
        .collect()
}

/// Shell completions and the man page come from the same clap definitions as the parser:
/// every subcommand the parser accepts (`smmcool --help` lists them) is completed in bash and
/// documented in the man page, and a flag of a subcommand is completed too.
#[test]
fn completions_and_man_page_cover_every_subcommand() {
    let subcommands = subcommands();
    assert!(subcommands.len() >= 12, "{subcommands:?}");
    let bash = String::from_utf8(common::run_ok(&["completions", "bash"]).stdout).unwrap();
    let man = String::from_utf8(common::run_ok(&["man"]).stdout).unwrap();
    assert!(bash.contains("complete -F _smmcool"), "{bash:.300}");
    assert!(
        man.starts_with(".ie") && man.contains(".TH smmcool 1"),
        "{man:.300}"
    );
    for s in &subcommands {
        assert!(bash.contains(&format!("smmcool,{s})")), "bash: {s}");
        assert!(man.contains(&format!("smmcool\\-{s}(1)")), "man: {s}");
    }
    assert!(bash.contains("--magnetization-unit"));
    let zsh = common::run_ok(&["completions", "zsh"]);
    assert!(String::from_utf8(zsh.stdout)
        .unwrap()
        .contains("#compdef smmcool"));
    // An unknown shell is refused naming the value (exit 2).
    let out = common::run(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tcsh"));
}

/// Every subcommand's `--help` ends with an `Examples:` section (the bin's unit test
/// `every_help_example_parses` parses each line); here the examples that finish in seconds are
/// run, in a scratch folder holding the shipped configs and a waveform file, and must succeed.
/// Those on the 10^4-run map (and the full `paper`, ~10 s CPU) are parse-checked only.
#[test]
fn help_examples_run() {
    let subcommands = subcommands();
    let dir = tempfile::tempdir().unwrap();
    let configs = dir.path().join("configs");
    std::fs::create_dir(&configs).unwrap();
    for name in ["default.toml", "validity_map_100x100.toml"] {
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("configs")
                .join(name),
            configs.join(name),
        )
        .unwrap();
    }
    common::write(
        dir.path(),
        "pulse.csv",
        "time_s,field_t\n0,1\n0.05,0.3\n0.1,0\n",
    );
    let mut ran = 0;
    for s in &subcommands {
        let text = String::from_utf8(common::run_ok(&[s, "--help"]).stdout).unwrap();
        let examples: Vec<&str> = text
            .split("Examples:")
            .nth(1)
            .unwrap_or_else(|| panic!("`smmcool {s} --help` has no Examples section"))
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert!(!examples.is_empty(), "{s}");
        for line in examples {
            let command = line.split(" #").next().unwrap();
            let command = command.split(" > ").next().unwrap();
            let command = command.split(" && ").next().unwrap();
            let words: Vec<&str> = command.split_whitespace().collect();
            assert_eq!(words[..2], ["smmcool", s.as_str()], "{line}");
            if command.contains("map") || (s == "paper" && !command.contains("--analytic-only")) {
                continue;
            }
            let out = common::smmcool()
                .args(&words[1..])
                .current_dir(dir.path())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{line}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(!out.stdout.is_empty(), "{line} printed nothing");
            ran += 1;
        }
    }
    assert!(ran >= 20, "{ran}");
}

/// `validate` prints swept values in the shortest form that reads back exactly (1e-12, not
/// 0.000000000001), in the axis lines and the run lines alike.
#[test]
fn validate_prints_values_short_and_exact() {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/sweep_rate_table.toml");
    let text =
        String::from_utf8(run_ok(&["validate", config.to_str().unwrap(), "--show", "1"]).stdout)
            .unwrap();
    assert!(text.contains("73 value(s) from 1e-12 to 1e6"), "{text}");
    assert!(
        text.contains("protocol.sweep_rate_t_per_s = 1e-12"),
        "{text}"
    );
    assert!(!text.contains("0.000000000001"), "{text}");
}

/// A ramp of duration 0 is the jump (its exact limit), so a batch can sweep the duration down
/// to the sudden change: `--ramp-duration-s 0` reports what `--jump` reports, and the shipped
/// default batch (10 T/s as a 0.04 s ramp, and duration 0) stores for each run what `simulate`
/// gives with `--sweep-rate-t-per-s 10` and with `--jump`.
#[test]
fn a_ramp_of_zero_duration_is_the_jump() {
    let base = ["simulate", "--b-initial-t", "0.5", "--b-final-t", "0.1"];
    let sim = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        args.push("--json");
        let mut v = json(&args);
        // Everything but the run's wall time and the echo of the scenario as given.
        v.as_object_mut().unwrap().remove("wall_time_s");
        v.as_object_mut().unwrap().remove("scenario");
        v
    };
    let jump = sim(&["--initial-temperature-k", "3", "--jump"]);
    assert_eq!(jump["shape"], "jump");
    assert_eq!(
        sim(&["--initial-temperature-k", "3", "--ramp-duration-s", "0"]),
        jump
    );
    assert_eq!(
        sim(&[
            "--initial-temperature-k",
            "3",
            "--ramp-duration-s",
            "0",
            "--shape",
            "cosine"
        ]),
        jump
    );
    let dir = tempfile::tempdir().unwrap();
    let h5 = dir.path().join("default.h5");
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/default.toml");
    run_ok(&[
        "run",
        config.to_str().unwrap(),
        "-o",
        h5.to_str().unwrap(),
        "--quiet",
    ]);
    let runs = json(&["inspect", h5.to_str().unwrap(), "--json"]);
    let runs = runs["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 6);
    for (i, run) in runs.iter().enumerate() {
        let ti = ["2", "3", "4"][i / 2];
        let alone = if i % 2 == 0 {
            sim(&["--initial-temperature-k", ti, "--sweep-rate-t-per-s", "10"])
        } else {
            sim(&["--initial-temperature-k", ti, "--jump"])
        };
        for key in [
            "shape",
            "sweep_rate_t_per_s",
            "ramp_duration_s",
            "temperature_after_ramp_k",
            "end_temperature_k",
            "equilibrium_temperature_k",
        ] {
            assert_eq!(run[key], alone[key], "run {i}: {key}");
        }
    }
}
