//! The tunnelling figures of `smmcool paper` (issue 18): the hysteresis loop's data equal the
//! engine's numbers as `smmcool simulate` gives them, and the steps found in the simulated
//! loops sit at the resonance fields `smmcool resonances` lists.

mod common;

use smmcool::figures::tunnelling as tf;
use std::collections::HashMap;

use common::read_series_csv;

#[test]
fn hysteresis_loops_are_the_engines_and_step_at_the_resonances() {
    let dir = tempfile::tempdir().unwrap();
    let files =
        tf::hysteresis_figure(&smmcool::kinetics::EngineContext::new(), dir.path()).unwrap();
    assert_eq!(files.len(), 4);
    let d = read_series_csv(&dir.path().join("hysteresis_loop_tunnelling.csv"));
    // The resonances as the CLI lists them (applied fields, misaligned by 1 degree).
    let res = common::json(&[
        "resonances",
        "--material",
        tf::HYSTERESIS_PRESET,
        "--misalignment-deg",
        "1",
        "--k-max",
        "20",
        "--json",
    ]);
    let fields: Vec<(u64, f64)> = res["resonances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["k"].as_u64().unwrap(), r["field_t"].as_f64().unwrap()))
        .collect();
    assert!(fields.len() > 50);
    let steps_csv = std::fs::read_to_string(dir.path().join("hysteresis_loop_steps.csv")).unwrap();
    let mut steps_per_t: HashMap<String, usize> = HashMap::new();
    for line in steps_csv.lines().skip(1) {
        let c: Vec<&str> = line.split(',').collect();
        // Every row names where its published range is quoted from.
        assert_eq!(c[11], tf::PUBLISHED_STEPS_SOURCE, "{line}");
        *steps_per_t.entry(c[0].to_string()).or_default() += 1;
    }
    for t in tf::HYSTERESIS_TEMPERATURES_K {
        let up = &d[&format!("T = {t} K: up sweep")];
        assert_eq!(up.len(), tf::HYSTERESIS_POINTS + 1, "T {t}");
        // Saturated at both ends: the loop is closed and complete.
        assert!(up[0].1 < -20.4 && up[up.len() - 1].1 > 20.4, "T {t}");
        // The down sweep is the mirror image.
        let down = &d[&format!("T = {t} K: down sweep (mirror)")];
        for (a, b) in up.iter().zip(down.iter().rev()) {
            assert_eq!((a.0, a.1), (-b.0, -b.1));
        }
        // Every output point of the CLI's own run (16 points on the sweep, another output
        // grid, so other integrator stops) is on the figure's curve.
        let tk = t.to_string();
        let cli = common::json(&[
            "simulate",
            "--material",
            tf::HYSTERESIS_PRESET,
            "--misalignment-deg",
            "1",
            "--b-initial-t",
            "-3",
            "--b-final-t",
            "3",
            "--sweep-rate-t-per-s",
            "0.005",
            "--initial-temperature-k",
            &tk,
            "--sample-amount-mol",
            "1e-6",
            "--link-conductance-w-per-k",
            "1",
            "--sample-times-after-ramp-s",
            "",
            "--log-points-per-decade",
            "0",
            "--max-time-after-ramp-s",
            "1",
            "--trajectory",
            "--json",
        ]);
        let b = cli["trajectory"]["field_t"].as_array().unwrap();
        let m = cli["trajectory"]["magnetization_mu_b"].as_array().unwrap();
        let mut compared = 0;
        for (b, m) in b.iter().zip(m) {
            let (b, m) = (b.as_f64().unwrap(), m.as_f64().unwrap());
            if let Some(p) = up.iter().find(|p| (p.0 - b).abs() < 1e-9) {
                assert!(
                    (p.1 - m).abs() <= 1e-6 * 20.5,
                    "T {t} B {b}: {} vs {m}",
                    p.1
                );
                compared += 1;
            }
        }
        assert!(compared >= 16, "T {t}: {compared}");
        // The steps: each at a resonance field of the CLI's list (at B < 0 of the mirror
        // resonance -B_k: there the wells have swapped roles), or on the shoulder of a
        // channel's window (B_1/4..B_1/2 from a crossing, B_1 = |D|/(g mu_B)): nothing else.
        let steps = tf::loop_steps(up);
        assert_eq!(steps.len(), steps_per_t[&tk], "T {t}");
        let hm = &res["hamiltonian"];
        let b1 = hm["d_k"].as_f64().unwrap().abs()
            / (hm["g_par"].as_f64().unwrap() * smmcool::units::MU_B_KELVIN_PER_TESLA);
        let mut at_resonance = 0.0;
        let mut total = 0.0;
        for &(b, rise) in &steps {
            let d: Vec<f64> = fields.iter().map(|f| (f.1 - b.abs()).abs()).collect();
            let near = d.iter().copied().fold(f64::INFINITY, f64::min);
            let shoulder = d
                .iter()
                .any(|&x| x >= b1 / 4.0 - 0.005 && x <= b1 / 2.0 + 0.005);
            assert!(
                near <= 0.015 || shoulder,
                "T {t}: step at {b} T is {near} T from a resonance"
            );
            total += rise;
            if near <= 0.015 {
                at_resonance += rise;
            }
        }
        // Most of the reversal happens in steps at the resonances.
        assert!(
            at_resonance > 0.5 * total,
            "T {t}: {at_resonance} of {total}"
        );
    }
}
