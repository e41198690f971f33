//! The tunnelling mechanism ([`smmcool::rates::tunnelling`]) inside the rate model: the exact
//! slow mode of the extended chain against a dense eigenvalue computation where that is
//! accurate (4-6 K), the resonance minima of the relaxation time, and the spin-phonon model
//! unchanged when the transverse terms vanish.

use smmcool::model::tunnelling::{Anisotropy, SpinHamiltonian};
use smmcool::model::Material;
use smmcool::rates::tunnelling::Tunnelling;
use smmcool::rates::{KappaScaling, RateModel};
use std::sync::Arc;

fn model(c4_k: f64, e_k: f64, bx: f64) -> RateModel {
    let m = Material::mn12ac();
    let h = SpinHamiltonian::new(
        m.spin,
        Anisotropy {
            b4_k: 0.0,
            c4_k,
            e_k,
        },
        bx,
    )
    .unwrap();
    let plain = RateModel::new(m.spin, m.arrhenius, KappaScaling::Arrhenius).unwrap();
    match Tunnelling::new(&h).unwrap() {
        Some(t) => plain.with_mechanism(Arc::new(t)),
        None => plain,
    }
}

/// Smallest non-zero |Re lambda| of the dense scaled matrix (nalgebra's Schur form).
fn dense_lambda1(rm: &RateModel, b: f64, t: f64) -> f64 {
    let w = rm.matrix(b, t).unwrap();
    let mut ev: Vec<f64> = w.complex_eigenvalues().iter().map(|z| -z.re).collect();
    ev.sort_by(f64::total_cmp);
    // ev[0] is the stationary 0 (to rounding ~1e-16 ||W||).
    ev[1]
}

#[test]
fn slow_mode_of_the_extended_chain_matches_dense_eigenvalues() {
    // Bircher's C and E with a small transverse field (B4 = 0: the engine's levels).
    let rm = model(-1.86e-5, 7.89e-3, 0.05);
    let plain = model(0.0, 0.0, 0.0);
    assert_eq!(plain.mechanisms().len(), 1);
    assert_eq!(rm.mechanisms().len(), 2);
    assert!(rm.band() > 2);
    for t in [4.0, 5.0, 6.0] {
        let kappa = rm.kappa(t).unwrap();
        for b in [0.0, 0.1, 0.26, 0.5224, 1.0449] {
            let exact = rm.unscaled_slow_mode(b, t).unwrap().unwrap().lambda1_per_s * kappa;
            let dense = dense_lambda1(&rm, b, t);
            let rel = (exact - dense).abs() / dense;
            // The dense eigenvalues' own error, ~eps ||W|| (the largest tunnelling rates near
            // the top are ~1e13 1/s), relative to lambda1.
            let norm = rm.matrix(b, t).unwrap().amax();
            let tol = 1e-8_f64.max(1e3 * f64::EPSILON * norm / dense);
            assert!(
                rel < tol,
                "T = {t} B = {b}: {exact} vs dense {dense} ({rel:e} > {tol:e})"
            );
            // Tunnelling only adds paths between the wells: never slower than without it.
            let without = plain
                .unscaled_slow_mode(b, t)
                .unwrap()
                .unwrap()
                .lambda1_per_s
                * kappa;
            assert!(exact >= without * (1.0 - 1e-12), "T = {t} B = {b}");
        }
    }
}

mod common;
use common::json;

/// `smmcool tau --field-t` with a spectroscopic preset against
/// scripts/tunnelling_tau_reference.txt: the whole model (levels with B4, spin-phonon rates,
/// Arrhenius kappa, splittings from a 70-digit dense diagonalization, the windowed Lorentzian
/// rates, lambda1 from a dense non-symmetric eigensolver at 50 digits, checked at 70) rebuilt
/// in mpmath from the published decimals, at 1, 2 and 3 K and four fields. At 1 K lambda1 is
/// 3e-36 (B = 0.3 T) to 5e-16 (B = 0, the ground pair's tunnelling) of the largest rates
/// (~1e13 1/s): the slow mode keeps full relative precision there (measured: 4e-14 and below).
#[test]
fn tau_with_tunnelling_matches_the_mpmath_reference() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scripts/tunnelling_tau_reference.txt"
    ))
    .unwrap();
    let rows: Vec<[f64; 4]> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let v: Vec<f64> = l.split_whitespace().map(|x| x.parse().unwrap()).collect();
            [v[0], v[1], v[2], v[3]]
        })
        .collect();
    assert_eq!(rows.len(), 12);
    let v = json(&[
        "tau",
        "--material",
        "mn12ac-mirebeau",
        "--temperature-k",
        "1,2,3",
        "--field-t",
        "0,0.3,0.8,1.0",
        "--json",
    ]);
    let recs = v["records"].as_array().unwrap();
    assert_eq!(recs.len(), rows.len());
    for [t, b, tau, without] in rows {
        let r = recs
            .iter()
            .find(|r| r["temperature_k"] == t && r["field_t"] == b)
            .unwrap();
        let got = r["tau_model_s"].as_f64().unwrap();
        let got_without = r["tau_without_tunnelling_s"].as_f64().unwrap();
        // The splittings of the pairs near the barrier top agree to ~1e-12 (numerics.md 12).
        assert!(
            (got - tau).abs() <= 1e-10 * tau,
            "T {t} B {b}: {got} vs {tau}"
        );
        assert!(
            (got_without - without).abs() <= 1e-12 * without,
            "T {t} B {b}: {got_without} vs {without}"
        );
    }
}

/// tau(B) at 2-3 K has its minima at the resonance fields of the coupled pairs (the ones the
/// command lists), and equals the time without tunnelling away from every resonance window.
#[test]
fn tau_has_minima_at_the_resonance_fields() {
    let v = json(&[
        "tau",
        "--material",
        "mn12ac-barra",
        "--temperature-k",
        "2,3",
        "--field-t",
        "0.6:1.2:0.002",
        "--json",
    ]);
    let pairs: Vec<f64> = v["tunnelling_pairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["field_t"].as_f64().unwrap())
        .collect();
    assert!(!pairs.is_empty());
    let recs = v["records"].as_array().unwrap();
    for t in [2.0, 3.0] {
        let curve: Vec<(f64, f64, f64)> = recs
            .iter()
            .filter(|r| r["temperature_k"] == t)
            .map(|r| {
                (
                    r["field_t"].as_f64().unwrap(),
                    r["tau_model_s"].as_f64().unwrap(),
                    r["tau_without_tunnelling_s"].as_f64().unwrap(),
                )
            })
            .collect();
        let mut minima = 0;
        for w in curve.windows(3) {
            let (b, tau, _) = w[1];
            if tau < w[0].1 && tau < w[2].1 {
                minima += 1;
                let nearest = pairs
                    .iter()
                    .map(|f| (f - b).abs())
                    .fold(f64::INFINITY, f64::min);
                assert!(
                    nearest <= 0.002,
                    "T {t}: minimum at {b} T, {nearest} T from a resonance"
                );
            }
        }
        assert!(minima >= 2, "T {t}: {minima} minima");
        // Tunnelling only adds paths: never slower; exactly the old time where no window is open.
        for &(b, tau, without) in &curve {
            assert!(tau <= without * (1.0 + 1e-12), "T {t} B {b}");
        }
    }
}
