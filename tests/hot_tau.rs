//! `smmcool tau` where the slow mode is hardly separated (issue 18): with the spectroscopic
//! presets at B = 0 from ~30 K the tunnelling channels join the two wells below the barrier
//! top, the interior levels relax about as slowly as the whole chain, and the subtraction-free
//! slow mode (a series in lambda/mu0, mu0 the interior's smallest rate) needs ~800 terms (40 K:
//! lambda1/mu0 = 0.949) or diverges (60 K: lambda1 > mu0). The rate model then takes the dense
//! symmetric eigenvalue refined by its Rayleigh quotient, with a run-time error bound
//! ([`smmcool::rates::slowmode::dense_slowest_rate`], docs/numerics.md section 3.3); before,
//! `tau` exited with "the slow mode is not separated". The reference is
//! scripts/hot_tau_reference.py (mpmath at 40 digits, checked at 50: the whole model rebuilt
//! from the published decimals, every eigenvalue of the full and of the interior matrix).

mod common;

use smmcool::model::tunnelling::AnisotropyOverrides;
use smmcool::model::{Material, Overrides};
use smmcool::rates::slowmode::{
    dense_slowest_rate, slow_mode, DenseRefusal, DENSE_RELATIVE_ACCURACY,
};
use smmcool::rates::tunnelling::Tunnelling;
use smmcool::rates::{KappaScaling, RateModel};
use std::sync::Arc;

/// The rate model of `smmcool tau` for a spectroscopic preset: spin-phonon and tunnelling.
fn model(preset: &str) -> RateModel {
    let (mat, h) = Material::with_hamiltonian(
        preset,
        &Overrides::default(),
        &AnisotropyOverrides::default(),
    )
    .unwrap();
    let plain = RateModel::new(mat.spin, mat.arrhenius, KappaScaling::Arrhenius).unwrap();
    plain.with_mechanism(Arc::new(Tunnelling::new(&h).unwrap().unwrap()))
}

/// Every line of the reference: `smmcool tau --field-t 0` to 1e-10 (the tolerance of the 1-3 K
/// reference in tests/tunnelling_rates.rs: the splittings near the barrier top agree to
/// ~1e-12; measured here: 2e-15 and below), and the dense spectrum's lambda2/lambda1 to the
/// printed 6 digits. Both regimes of the reference are present: the series converging slowly
/// (mu0 > lambda1) and diverging (mu0 < lambda1).
#[test]
fn hot_zero_field_tau_matches_the_mpmath_reference() {
    let text = include_str!("../scripts/hot_tau_reference.txt");
    let (mut rows, mut failed) = (0, 0);
    let (mut slow_series, mut beyond) = (false, false);
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (preset, t) = (f[0], f[1]);
        let [tau, l2, mu0]: [f64; 3] = [f[2], f[3], f[4]].map(|x| x.parse().unwrap());
        let v = common::json(&[
            "tau",
            "--material",
            preset,
            "--field-t",
            "0",
            "--temperature-k",
            t,
            "--json",
        ]);
        let got = v["records"][0]["tau_model_s"].as_f64().unwrap();
        let rel = (got - tau).abs() / tau;
        assert!(
            rel <= 1e-10,
            "{preset} {t} K: {got} s vs mpmath {tau} s ({rel:e})"
        );
        // The subtraction-free slow mode fails here: the dense fallback gave the number, and
        // its lambda2/lambda1 is the reference's.
        let tk: f64 = t.parse().unwrap();
        let chain = model(preset).unscaled_chain(0.0, tk);
        failed += usize::from(slow_mode(&chain).is_err());
        let dense = dense_slowest_rate(&chain).unwrap();
        let rel = (dense.lambda1_per_s * tau * v["records"][0]["kappa_per_s_k3"].as_f64().unwrap()
            - 1.0)
            .abs();
        assert!(rel <= 1e-10, "{line}: dense {rel:e}");
        eprintln!(
            "{preset} {t} K: tau vs mpmath {:.1e}, dense vs mpmath {rel:.1e}, bound {:.1e}",
            (got - tau).abs() / tau,
            dense.relative_error_bound
        );
        assert!(
            dense.relative_error_bound <= DENSE_RELATIVE_ACCURACY,
            "{line}"
        );
        assert!(
            (dense.gap_ratio - l2).abs() <= 1e-5 * l2,
            "{line}: lambda2/lambda1 {}",
            dense.gap_ratio
        );
        slow_series |= mu0 > 1.0;
        beyond |= mu0 < 1.0;
        rows += 1;
    }
    // The slow mode converges only at mirebeau 30 K (mu0/lambda1 = 1.32).
    assert!(
        rows >= 4 && failed >= 3 && slow_series && beyond,
        "{rows} rows, slow mode failed at {failed}"
    );
}

/// Where the slow mode converges, the dense fallback agrees with it within its own stated
/// bound (and the bound is within the accepted accuracy), from 8 K to 25 K and at fields on
/// and off resonance; it refuses where double precision cannot give lambda1 (2 K: lambda1
/// ~1e-13 of the largest rates), with the bound it found.
#[test]
fn dense_fallback_agrees_with_the_slow_mode_within_its_bound() {
    for preset in ["mn12ac-mirebeau", "mn12ac-bircher", "mn12ac-barra"] {
        let rm = model(preset);
        for (b, t) in [
            (0.0, 25.0),
            (0.0, 20.0),
            (0.3, 20.0),
            (0.44, 15.0),
            (0.8, 12.0),
            (-0.2, 10.0),
        ] {
            let chain = rm.unscaled_chain(b, t);
            let exact = slow_mode(&chain).unwrap().lambda1_per_s;
            let dense = dense_slowest_rate(&chain).unwrap();
            let rel = (dense.lambda1_per_s - exact).abs() / exact;
            eprintln!(
                "{preset} B {b} T {t}: dense vs slow mode {rel:.1e}, bound {:.1e}",
                dense.relative_error_bound
            );
            assert!(
                rel <= dense.relative_error_bound.max(1e-14)
                    && dense.relative_error_bound <= DENSE_RELATIVE_ACCURACY,
                "{preset} B {b} T {t}: {} vs {exact} ({rel:e}, bound {:e})",
                dense.lambda1_per_s,
                dense.relative_error_bound
            );
        }
        match dense_slowest_rate(&rm.unscaled_chain(0.0, 2.0)) {
            Err(DenseRefusal::Inaccurate(rel)) => assert!(rel > 1.0, "{preset}: {rel:e}"),
            other => panic!("{preset} at 2 K: {other:?}"),
        }
    }
}
