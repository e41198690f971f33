//! One scenario, one validation: every flag of `simulate` and every TOML key set the same
//! scenario field (both directions, table-driven over `smmcool::scenario::KEYS`), a sweep sets
//! the same field as the base key, `simulate` refuses exactly what `run` refuses with the same
//! message, and the old names keep working.

use smmcool::batch::config::Plan;
use smmcool::scenario::KEYS;
use std::path::Path;
mod common;

use common::run as bin;

/// A valid value of every numeric key that differs from its default, and the base scenario it
/// is set on (as flags and as TOML).
fn value_of(path: &str) -> Option<f64> {
    Some(match path {
        "material.spin" => 9.0,
        "material.d_cm1" => -0.45,
        "material.d_k" => -0.7,
        "material.g_par" => 2.0,
        "material.debye_temperature_k" => 38.0,
        "material.phonon_units" => 2.0,
        "material.tau0_s" => 1e-7,
        "material.barrier_k" => 65.0,
        "material.b4_k" => -1e-3,
        "material.c4_k" => 2e-5,
        "material.e_k" => 5e-3,
        "material.transverse_field_t" => 0.02,
        "material.misalignment_deg" => 2.0,
        "rates.kappa_reference_k" => 4.2,
        "rates.kappa_per_s_k3" => 3e-3,
        "protocol.b_initial_t" => 0.4,
        "protocol.b_final_t" => 0.15,
        "protocol.initial_temperature_k" => 4.5,
        "protocol.sweep_rate_t_per_s" => 100.0,
        "protocol.ramp_duration_s" => 0.01,
        "solver.rtol" => 1e-9,
        "solver.equilibrium_tol_k" => 1e-8,
        "solver.max_time_after_ramp_s" => 1e5,
        "solver.energy_balance_tol_rel" => 1e-6,
        "solver.reduction_tol_rel" => 1e-2,
        "sample.amount_mol" => 2e-6,
        "sample.mass_mg" => 1.5,
        "sample.addenda_gamma_j_per_k2" => 1e-7,
        "sample.addenda_beta_j_per_k4" => 1e-8,
        "link.conductance_w_per_k" => 1e-8,
        "link.exponent" => 1.0,
        "link.bath_temperature_k" => 4.2,
        _ => return None,
    })
}

/// Base settings as (TOML path, value) pairs; `ramp_duration_s` replaces the sweep rate and
/// `d_k` cannot stand beside `d_cm1`, so the base omits what conflicts with the key under test.
fn base(skip: &str) -> Vec<(&'static str, String)> {
    let mut b = vec![
        ("protocol.b_initial_t", "0.5".to_string()),
        ("protocol.b_final_t", "0.1".to_string()),
        ("protocol.initial_temperature_k", "4".to_string()),
        ("protocol.sweep_rate_t_per_s", "10".to_string()),
    ];
    if skip == "protocol.ramp_duration_s" {
        b.retain(|(k, _)| *k != "protocol.sweep_rate_t_per_s");
    }
    if skip == "rates.kappa_per_s_k3" {
        b.push(("rates.kappa_scaling", "absolute".to_string()));
    }
    // A link and addenda need the sample amount; the link's exponent and bath need the link.
    if skip.starts_with("link.") || skip.starts_with("sample.addenda") {
        b.push(("sample.amount_mol", "1e-6".to_string()));
    }
    if skip == "link.exponent" || skip == "link.bath_temperature_k" {
        b.push(("link.conductance_w_per_k", "1e-8".to_string()));
    }
    // The reference temperature is read only by the constant scaling (elsewhere it is refused
    // as having no effect).
    if skip == "rates.kappa_reference_k" {
        b.push(("rates.kappa_scaling", "constant".to_string()));
    }
    b.retain(|(k, _)| *k != skip);
    b
}

fn toml_text(pairs: &[(&str, String)]) -> String {
    let mut sections: Vec<(&str, Vec<String>)> = Vec::new();
    for (path, v) in pairs {
        let (section, key) = path.split_once('.').unwrap();
        let v = if v.parse::<f64>().is_ok() {
            v.clone()
        } else {
            format!("\"{v}\"")
        };
        let line = format!("{key} = {v}");
        match sections.iter_mut().find(|(s, _)| *s == section) {
            Some((_, lines)) => lines.push(line),
            None => sections.push((section, vec![line])),
        }
    }
    sections
        .iter()
        .map(|(s, lines)| format!("[{s}]\n{}\n", lines.join("\n")))
        .collect()
}

fn flags(pairs: &[(&str, String)]) -> Vec<String> {
    let mut out = vec!["simulate".to_string()];
    for (path, v) in pairs {
        let key = KEYS.iter().find(|k| k.path == *path).unwrap();
        out.push(key.flag.to_string());
        out.push(v.clone());
    }
    out
}

fn field<'a>(v: &'a serde_json::Value, path: &str) -> &'a serde_json::Value {
    let (section, key) = path.split_once('.').unwrap();
    &v[section][key]
}

#[test]
fn every_flag_and_key_set_the_same_scenario_field() {
    let mut checked = 0;
    for key in KEYS.iter().filter(|k| k.sweep.is_some()) {
        let value = value_of(key.path).unwrap_or_else(|| panic!("no test value for {}", key.path));
        let mut pairs = base(key.path);
        pairs.push((key.path, value.to_string()));

        // Flag -> scenario field.
        let mut args = flags(&pairs);
        args.push("--json".into());
        let out = bin(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let from_flag = doc["scenario"].clone();
        assert_eq!(
            field(&from_flag, key.path).as_f64(),
            Some(value),
            "{}",
            key.flag
        );

        // TOML key -> the same scenario.
        let plan = Plan::from_text(Path::new("t.toml"), toml_text(&pairs))
            .unwrap_or_else(|e| panic!("{}: {e}", key.path));
        let from_toml = serde_json::to_value(plan.scenario(0)).unwrap();
        assert_eq!(from_toml, from_flag, "{} vs {}", key.path, key.flag);

        // A sweep over the key sets the same field as the key in its section.
        let text = format!(
            "{}\n[[sweep]]\nkey = \"{}\"\nvalues = [{value}]\n",
            toml_text(&base(key.path)),
            key.path
        );
        let plan = Plan::from_text(Path::new("s.toml"), text)
            .unwrap_or_else(|e| panic!("sweep {}: {e}", key.path));
        assert_eq!(
            serde_json::to_value(plan.scenario(0)).unwrap(),
            from_flag,
            "sweep {}",
            key.path
        );
        // A value in the section as well would be overridden by the sweep: refused, naming it.
        let mut both = base(key.path);
        both.push((key.path, (value * 1.5).to_string()));
        let text = format!(
            "{}\n[[sweep]]\nkey = \"{}\"\nvalues = [{value}]\n",
            toml_text(&both),
            key.path
        );
        let err = Plan::from_text(Path::new("s.toml"), text)
            .expect_err(key.path)
            .to_string();
        assert!(
            err.starts_with("s.toml:")
                && err.contains(&format!("{} = {}", key.path, value * 1.5))
                && err.contains("overrides it"),
            "{err}"
        );
        checked += 1;
    }
    assert!(checked >= 18, "{checked}");
}

/// For each key and bad value: `simulate` and `validate` both refuse (exit 2, one line) with
/// the same rule, or both accept.
#[test]
fn simulate_refuses_exactly_what_run_refuses_with_the_same_rule() {
    let dir = tempfile::tempdir().unwrap();
    let mut refused = 0;
    for key in KEYS.iter().filter(|k| k.sweep.is_some()) {
        for bad in ["nan", "-1", "0", "1e300"] {
            let mut pairs = base(key.path);
            pairs.push((key.path, bad.to_string()));
            let mut args = flags(&pairs);
            args.push("--json".into());
            let cli = bin(&args.iter().map(String::as_str).collect::<Vec<_>>());
            let cfg = dir.path().join("c.toml");
            std::fs::write(&cfg, toml_text(&pairs)).unwrap();
            let toml = bin(&["validate", cfg.to_str().unwrap()]);
            let cli_err = String::from_utf8_lossy(&cli.stderr).to_string();
            let toml_err = String::from_utf8_lossy(&toml.stderr).to_string();
            // simulate also runs the engine: a computation failure (exit 1) on input that
            // validation accepted is not a validation difference.
            let cli_refused = cli.status.code() == Some(2);
            assert_eq!(
                cli_refused,
                !toml.status.success(),
                "{} = {bad}: simulate {cli_err} / validate {toml_err}",
                key.path
            );
            if !cli_refused {
                continue;
            }
            refused += 1;
            assert_eq!(cli.status.code(), Some(2), "{cli_err}");
            assert_eq!(toml.status.code(), Some(2), "{toml_err}");
            assert_eq!(cli_err.trim_end().lines().count(), 1, "{cli_err}");
            assert_eq!(toml_err.trim_end().lines().count(), 1, "{toml_err}");
            // The rule (what is allowed) reads the same, with keys spelled as flags or paths.
            let rule = |text: &str, sep: &str| {
                text.trim_end()
                    .split_once(sep)
                    .map(|(_, r)| r.to_string())
                    .unwrap_or_default()
            };
            let cli_rule = rule(&cli_err, " is not allowed: ");
            let toml_rule = toml_err
                .trim_end()
                .split_once(" = ")
                .and_then(|(_, rest)| rest.split_once(": "))
                .map(|(_, r)| r.to_string())
                .unwrap_or_default();
            let normalize = |r: &str| {
                KEYS.iter()
                    .fold(r.to_string(), |r, k| r.replace(k.flag, k.path))
                    .replace("--jump", "protocol.shape = \"jump\"")
            };
            assert!(!cli_rule.is_empty(), "{cli_err}");
            assert_eq!(
                normalize(&cli_rule),
                normalize(&toml_rule),
                "{} = {bad}",
                key.path
            );
        }
    }
    assert!(refused > 40, "{refused}");
}

#[test]
fn old_names_keep_working_and_field_increases_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("old.toml");
    std::fs::write(
        &cfg,
        "[protocol]\nb_initial_t = 0.5\nb_final_t = 0.6\nshape = \"jump\"\nallow_field_increase = true\n[[sweep]]\nkey = \"protocol.t_initial_k\"\nvalues = [2.0, 3.0]\n",
    )
    .unwrap();
    let out = bin(&["validate", cfg.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("protocol.initial_temperature_k"), "{text}");
    for args in [
        [
            "--t-initial-k",
            "3",
            "--max-time-s",
            "1e6",
            "--sample-times-s",
            "1,10",
        ],
        [
            "--initial-temperature-k",
            "3",
            "--max-time-after-ramp-s",
            "1e6",
            "--sample-times-after-ramp-s",
            "1,10",
        ],
    ] {
        let mut all = vec![
            "simulate",
            "--b-initial-t",
            "0.5",
            "--b-final-t",
            "-0.5",
            "--jump",
            "--json",
        ];
        all.extend(args);
        let out = bin(&all);
        assert!(
            out.status.success(),
            "{all:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            v["scenario"]["protocol"]["initial_temperature_k"].as_f64(),
            Some(3.0)
        );
        assert_eq!(
            v["scenario"]["solver"]["max_time_after_ramp_s"].as_f64(),
            Some(1e6)
        );
        assert_eq!(v["samples"].as_array().unwrap().len(), 2);
        // A field reversal heats the sample (the populations flip over the barrier).
        assert!(v["end_temperature_k"].as_f64().unwrap() > 3.0);
    }
}
