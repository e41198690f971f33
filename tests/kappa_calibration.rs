//! `rates.kappa_calibration` (docs/physics.md section 10.6): kappa(T) calibrated without the
//! tunnelling channels (the default) or recalibrated so that the slowest zero-field rate with
//! them equals the Arrhenius rate.

mod common;
use common::{json, one_line_error, run_ok};
use smmcool::model::tunnelling::AnisotropyOverrides;
use smmcool::model::{Material, Overrides};
use smmcool::rates::{KappaCalibration, KappaScaling};

/// The test Hamiltonian: `mn12ac-barra` with C = 2.88e-8 K (0.1 % of Barra's), where the
/// recalibrated kappa*(T) exists and is smooth over 1.5-64 K (for the presets themselves no
/// kappa exists at 2-4 K: docs/physics.md section 10.6).
const C4_K: &str = "2.88e-8";

fn reference() -> Vec<(f64, Option<[f64; 4]>)> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scripts/kappa_calibration_reference.txt"
    ))
    .unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let v: Vec<&str> = l.split_whitespace().collect();
            let t: f64 = v[0].parse().unwrap();
            if v[1] == "none" {
                (t, None)
            } else {
                let n: Vec<f64> = v[1..5].iter().map(|x| x.parse().unwrap()).collect();
                (t, Some([n[0], n[1], n[2], n[3]]))
            }
        })
        .collect()
}

/// `smmcool tau --kappa-calibration with_tunnelling` against
/// scripts/kappa_calibration_reference.txt (the whole model rebuilt in mpmath: splittings from
/// a 70-digit dense diagonalization, lambda1 by inverse iteration at 32 digits, checked at 40,
/// the largest root kappa* of kappa lambda1(kappa) tau(T) = 1 by regula falsi): kappa* to
/// 1e-9, the zero-field time with tunnelling equal to tau0 exp(U_b/T) to 1e-12 (and to the
/// reference's), and the time of the spin-phonon rates alone at kappa* to 1e-9, at 1.5-64 K.
/// The calibration without tunnelling gives the reference's kappa0 (to 1e-12).
#[test]
fn recalibrated_kappa_matches_the_mpmath_reference() {
    let rows = reference();
    assert_eq!(rows.len(), 6);
    let temps: Vec<String> = rows.iter().map(|(t, _)| t.to_string()).collect();
    let temps = temps.join(",");
    let args = |cal: &'static str| {
        json(&[
            "tau",
            "--material",
            "mn12ac-barra",
            "--c4-k",
            C4_K,
            "--temperature-k",
            &temps,
            "--field-t",
            "0",
            "--kappa-calibration",
            cal,
            "--json",
        ])
    };
    let with = args("with_tunnelling");
    let without = args("without_tunnelling");
    assert_eq!(with["kappa_calibration"], "with_tunnelling");
    let (tau0, ub) = (2.1e-7_f64, 70.3_f64);
    for (t, row) in rows {
        let [kappa, tau, tau_sp, kappa0] = row.expect("a kappa exists at every listed T");
        let rec = |v: &serde_json::Value| {
            v["records"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["temperature_k"] == t)
                .unwrap()
                .clone()
        };
        let (r, r0) = (rec(&with), rec(&without));
        let close = |got: &serde_json::Value, want: f64, tol: f64, what: &str| {
            let got = got.as_f64().unwrap();
            assert!(
                (got - want).abs() <= tol * want,
                "T = {t} K {what}: {got:e} vs {want:e}"
            );
        };
        close(&r["kappa_per_s_k3"], kappa, 1e-9, "kappa*");
        close(&r["tau_model_s"], tau, 1e-12, "tau with tunnelling");
        close(
            &r["tau_model_s"],
            tau0 * (ub / t).exp(),
            1e-12,
            "tau vs Arrhenius",
        );
        close(
            &r["tau_without_tunnelling_s"],
            tau_sp,
            1e-9,
            "tau spin-phonon at kappa*",
        );
        close(&r0["kappa_per_s_k3"], kappa0, 1e-12, "kappa0");
        // Recalibrated, kappa is below the calibration without tunnelling.
        assert!(kappa < kappa0);
    }
}

/// The engine's kappa(T) table of a recalibrated model (the trajectories' kappa) gives the
/// zero-field slowest rate with tunnelling 1/tau(T) to 1e-11 over its range, between its nodes
/// too (a Chebyshev table of ln(1/(tau kappa*)), 1e-13 tails), and its d ln kappa/dT agrees
/// with a central difference of directly computed kappa* to 1e-6.
#[test]
fn the_recalibrated_kappa_table_holds_the_arrhenius_rate_between_its_nodes() {
    let a = AnisotropyOverrides {
        c4_k: Some(2.88e-8),
        ..Default::default()
    };
    let m = Material::for_trajectories_with("mn12ac-barra", &Overrides::default(), &a).unwrap();
    let direct = m
        .rate_model(KappaScaling::Arrhenius)
        .unwrap()
        .with_kappa_calibration(KappaCalibration::WithTunnelling);
    let tabled = direct.clone().with_table(1.5, 64.0).unwrap();
    assert!(tabled.table().is_some());
    let mut worst = 0.0_f64;
    for k in 0..=97 {
        let t = 1.5 * (64.0_f64 / 1.5).powf(k as f64 / 97.0);
        let (kappa, dlnk) = tabled.kappa_and_log_derivative(t).unwrap();
        let lam = tabled
            .unscaled_lambda1_zero_field_at_kappa(t, kappa)
            .unwrap();
        let rel = (kappa * lam * m.arrhenius.tau_s(t) - 1.0).abs();
        worst = worst.max(rel);
        assert!(rel < 1e-11, "T = {t} K: kappa lambda1 tau - 1 = {rel:e}");
        let h = 1e-4 * t;
        let fd =
            ((direct.kappa(t + h).unwrap()).ln() - (direct.kappa(t - h).unwrap()).ln()) / (2.0 * h);
        assert!(
            (dlnk - fd).abs() <= 1e-6 * fd.abs().max(1e-3),
            "T = {t} K: d ln kappa/dT {dlnk} vs {fd}"
        );
    }
    eprintln!("worst |kappa lambda1 tau - 1| = {worst:e}");
}

/// With no transverse term both calibrations are the same, bit for bit: `tau` with and without
/// the flag, and a trajectory of the axial `mn12ac` and of `mn12ac-barra` with C = 0 (B4 in
/// the levels) from 4 K, every sample.
#[test]
fn without_transverse_terms_both_calibrations_are_bit_identical() {
    let strip = |mut v: serde_json::Value| {
        v.as_object_mut().unwrap().remove("kappa_calibration");
        v
    };
    for material in [
        &["--material", "mn12ac"][..],
        &["--material", "mn12ac-barra", "--c4-k", "0"],
    ] {
        let tau = |cal: &str| {
            let mut a = vec!["tau", "--temperature-k", "1,2,3,4.6,10", "--json"];
            a.extend_from_slice(material);
            a.extend(["--kappa-calibration", cal]);
            strip(json(&a))
        };
        assert_eq!(tau("with_tunnelling"), tau("without_tunnelling"));
        let sim = |cal: &str| {
            let mut a = vec![
                "simulate",
                "--b-initial-t",
                "0.5",
                "--b-final-t",
                "0.1",
                "--sweep-rate-t-per-s",
                "10",
                "--initial-temperature-k",
                "4",
                "--json",
                "--kappa-calibration",
                cal,
            ];
            a.extend_from_slice(material);
            let mut v = json(&a);
            let o = v.as_object_mut().unwrap();
            o.remove("wall_time_s");
            o.remove("scenario");
            v
        };
        let (a, b) = (sim("with_tunnelling"), sim("without_tunnelling"));
        assert!(a["samples"].as_array().unwrap().len() >= 3);
        // serde_json prints the shortest round-trip form: equal values are equal bits.
        assert_eq!(a, b, "{material:?}");
    }
}

/// Bad combinations: with the absolute scaling nothing is calibrated (refused, naming the
/// key); where no kappa exists (the presets at the zero-field measurement temperatures) the
/// run is refused with the temperature and the longest time found.
#[test]
fn refused_where_it_has_no_effect_or_no_solution() {
    one_line_error(
        &[
            "tau",
            "--material",
            "mn12ac-barra",
            "--kappa-scaling",
            "absolute",
            "--kappa-per-s-k3",
            "20",
            "--temperature-k",
            "3",
            "--kappa-calibration",
            "with_tunnelling",
        ],
        2,
        &["kappa-calibration", "absolute"],
    );
    one_line_error(
        &[
            "tau",
            "--material",
            "mn12ac-mirebeau",
            "--temperature-k",
            "3",
            "--kappa-calibration",
            "with_tunnelling",
        ],
        2,
        &["rates.kappa_calibration", "T = 3 K", "no solution"],
    );
    // The default is unchanged and explicit in the JSON.
    let v = json(&[
        "tau",
        "--material",
        "mn12ac-mirebeau",
        "--temperature-k",
        "3",
        "--json",
    ]);
    assert_eq!(v["kappa_calibration"], "without_tunnelling");
    run_ok(&[
        "tau",
        "--material",
        "mn12ac-mirebeau",
        "--temperature-k",
        "3",
        "--kappa-calibration",
        "without_tunnelling",
    ]);
}
