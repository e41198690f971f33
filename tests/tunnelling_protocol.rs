//! The paper's protocol with resonant tunnelling on and off side by side (issue 18):
//! configs/tunnelling_protocol.toml run and plotted as README says gives the committed
//! docs/figures/tunnelling_protocol/overview_temperature.csv, whose curves are `smmcool
//! simulate`'s, and tunnelling brings the cooling sooner, never later, to the same end.

mod common;

use std::path::Path;

const CONFIG: &str = "configs/tunnelling_protocol.toml";
const FILE: &str = "tunnelling_0-2_on_3-5_off.h5";
const FIGURE: &str = "docs/figures/tunnelling_protocol/overview_temperature.csv";

use common::read_series_csv;

/// `simulate` of the config's run at `ti` with C as the preset has it (`on`) or C = 0.
fn simulate(ti: f64, on: bool) -> serde_json::Value {
    let tk = ti.to_string();
    let mut args = vec![
        "simulate",
        "--material",
        "mn12ac-barra",
        "--b-initial-t",
        "0.5",
        "--b-final-t",
        "0.1",
        "--sweep-rate-t-per-s",
        "10",
        "--initial-temperature-k",
        &tk,
        "--sample-times-after-ramp-s",
        "1,3600",
        "--log-points-per-decade",
        "4",
        "--equilibrium-tol-k",
        "1e-9",
        "--max-time-after-ramp-s",
        "1e40",
        "--trajectory",
        "--json",
    ];
    if !on {
        args.extend(["--c4-k", "0"]);
    }
    common::json(&args)
}

#[test]
fn the_protocol_with_tunnelling_on_and_off_is_the_engines_and_tunnelling_only_brings_the_cooling_sooner(
) {
    let dir = tempfile::tempdir().unwrap();
    let h5 = dir.path().join(FILE);
    let plots = dir.path().join("plots");
    let root = env!("CARGO_MANIFEST_DIR");
    let config = format!("{root}/{CONFIG}");
    common::run_ok(&["run", &config, "-o", h5.to_str().unwrap()]);
    common::run_ok(&["plot", h5.to_str().unwrap(), "-o", plots.to_str().unwrap()]);
    // The committed figure is this command's output.
    let fresh = read_series_csv(&plots.join("overview_temperature.csv"));
    let committed = read_series_csv(&Path::new(root).join(FIGURE));
    assert_eq!(fresh.len(), 6);
    for (name, curve) in &committed {
        let f = &fresh[name];
        assert_eq!(f.len(), curve.len(), "{name}");
        for (a, b) in curve.iter().zip(f) {
            assert!(
                a.0 == b.0 && (a.1 - b.1).abs() <= 1e-9 * b.1,
                "{name}: {a:?} {b:?}"
            );
        }
    }
    // Runs 0-2 with tunnelling, 3-5 without, from 3, 3.5 and 4 K.
    for (k, ti) in [3.0, 3.5, 4.0].into_iter().enumerate() {
        let on = simulate(ti, true);
        let off = simulate(ti, false);
        for (run, v) in [(k, &on), (k + 3, &off)] {
            let curve = &fresh[&format!("run {run}: Ti = {ti} K; 10 T/s")];
            let t = v["trajectory"]["time_s"].as_array().unwrap();
            let temp = v["trajectory"]["phonon_temperature_k"].as_array().unwrap();
            let mut compared = 0;
            for (t, temp) in t.iter().zip(temp) {
                let (t, temp) = (t.as_f64().unwrap(), temp.as_f64().unwrap());
                if let Some(p) = curve.iter().find(|p| (p.0 - t).abs() <= 1e-12 * t) {
                    assert!((p.1 - temp).abs() <= 1e-9 * temp, "run {run} t {t}");
                    compared += 1;
                }
            }
            assert!(compared >= 20, "run {run}: {compared}");
        }
        // The fraction of the cooling arrived 1 s and 1 h after the ramp: at least as large
        // with tunnelling, and both end at the same equilibrium (to the 3 mK by which the two
        // ramps heat differently).
        let arrived = |v: &serde_json::Value, i: usize| {
            let t = v["sample_temperatures_k"][i].as_f64().unwrap();
            let eq = v["equilibrium_temperature_k"].as_f64().unwrap();
            (t - ti) / (eq - ti)
        };
        for i in 0..2 {
            assert!(arrived(&on, i) >= arrived(&off, i), "Ti {ti} sample {i}");
        }
        let eq = |v: &serde_json::Value| v["equilibrium_temperature_k"].as_f64().unwrap();
        assert!((eq(&on) - eq(&off)).abs() < 5e-3, "Ti {ti}");
        assert!(
            on["equilibrium_after_ramp_s"].as_f64().unwrap()
                < off["equilibrium_after_ramp_s"].as_f64().unwrap(),
            "Ti {ti}"
        );
    }
}
