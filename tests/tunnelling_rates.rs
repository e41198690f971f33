//! The tunnelling mechanism ([`smmcool::rates::tunnelling`]) inside the rate model: the exact
//! slow mode of the extended chain against a dense eigenvalue computation where that is
//! accurate (4-6 K), the resonance minima of the relaxation time, and the spin-phonon model
//! unchanged when the transverse terms vanish.

use smmcool::model::tunnelling::{Anisotropy, SpinHamiltonian};
use smmcool::model::Material;
use smmcool::rates::tunnelling::{k_max_for_field, Tunnelling};
use smmcool::rates::{KappaScaling, RateModel};
use std::sync::Arc;

fn model(c4_k: f64, e_k: f64, bx: f64, field_max_t: f64) -> RateModel {
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
    match Tunnelling::new(&h, k_max_for_field(&m.spin, field_max_t)).unwrap() {
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
    let rm = model(-1.86e-5, 7.89e-3, 0.05, 1.1);
    let plain = model(0.0, 0.0, 0.0, 1.1);
    assert_eq!(plain.mechanisms().len(), 1);
    assert_eq!(rm.mechanisms().len(), 2);
    assert!(rm.band() > 2);
    for t in [4.0, 5.0, 6.0] {
        let kappa = rm.kappa(t).unwrap();
        for b in [0.0, 0.1, 0.26, 0.5224, 1.0449] {
            let exact = rm.unscaled_slow_mode(b, t).unwrap().unwrap().lambda1_per_s * kappa;
            let dense = dense_lambda1(&rm, b, t);
            let rel = (exact - dense).abs() / dense;
            assert!(
                rel < 1e-6,
                "T = {t} B = {b}: {exact} vs dense {dense} ({rel:e})"
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
