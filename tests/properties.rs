//! Physical invariants as property tests over random parameters.

#![allow(clippy::excessive_precision)] // reference values are quoted with all the digits computed

use proptest::prelude::*;
use smmcool::model::limits::FieldChange;
use smmcool::model::thermo::{boltzmann, equilibrium};
use smmcool::model::{Arrhenius, Debye, GiantSpin, Material};
use smmcool::rates::{bose_factor, bose_factor_and_dt, bose_ratio, KappaScaling, RateModel};

fn fc(m: &Material, bi: f64, bf: f64, ti: f64) -> FieldChange<'_> {
    FieldChange::of(m, bi, bf, ti)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// A field decrease cools (Delta T <= 0) in both limits, and the sudden final temperature is
    /// never below the isentropic one (the sudden process only adds entropy).
    #[test]
    fn field_decrease_cools_and_sudden_is_above_isentropic(
        bi in 0.01f64..3.0, frac in 0.0f64..0.999, ti in 0.05f64..60.0
    ) {
        let m = Material::mn12ac();
        let bf = bi * frac;
        let c = fc(&m, bi, bf, ti);
        let s = c.sudden_final_k().unwrap();
        prop_assert!(s <= ti * (1.0 + 1e-14), "sudden Tf {} > Ti {}", s, ti);
        if let Some(q) = c.isentropic_final().unwrap().t_final_k() {
            prop_assert!(q <= ti * (1.0 + 1e-14), "isentropic Tf {} > Ti {}", q, ti);
            prop_assert!(s >= q * (1.0 - 1e-12), "sudden {} below isentropic {}", s, q);
        }
    }

    /// The sudden process conserves energy: spin + phonon energy after equals the frozen energy.
    #[test]
    fn sudden_root_satisfies_energy_balance(bi in 0.05f64..2.0, frac in 0.0f64..0.99, ti in 0.5f64..20.0) {
        let m = Material::mn12ac();
        let bf = bi * frac;
        let tf = fc(&m, bi, bf, ti).sudden_final_k().unwrap();
        let ef = m.spin.energies(bf);
        let frozen = boltzmann(&m.spin.energies(bi), ti);
        let before: f64 = frozen.iter().zip(&ef).map(|(n, e)| n * e).sum::<f64>() + m.debye.energy_k(ti);
        let after = equilibrium(&ef, tf).energy_k + m.debye.energy_k(tf);
        prop_assert!((after - before).abs() < 1e-11 * (1.0 + before.abs()), "{} vs {}", after, before);
    }

    /// Detailed balance W(i->j) n_i = W(j->i) n_j at every (B, T), columns summing to zero.
    #[test]
    fn rate_matrix_detailed_balance(b in -2.0f64..2.0, t in 0.3f64..100.0, two_s in 1u32..30) {
        let s = GiantSpin::new(f64::from(two_s) / 2.0, -0.72, 2.0).unwrap();
        let rm = RateModel::new(s, Arrhenius::new(2.1e-7, 70.3).unwrap(), KappaScaling::Absolute { kappa_per_s_k3: 1.0 }).unwrap();
        let w = rm.unscaled_matrix(b, t);
        let n = boltzmann(&s.energies(b), t);
        let scale = w.amax();
        for i in 0..s.n_levels() {
            let col: f64 = w.column(i).iter().sum();
            prop_assert!(col.abs() <= 1e-13 * scale);
            for j in 0..s.n_levels() {
                if i != j {
                    prop_assert!(w[(i, j)] >= 0.0);
                    let a = w[(i, j)] * n[j];
                    let c = w[(j, i)] * n[i];
                    prop_assert!((a - c).abs() <= 1e-12 * a.max(c) + 1e-300, "{} vs {}", a, c);
                }
            }
        }
    }

    /// Populations sum to one and are non-negative; the entropy is between 0 and ln(2S+1).
    #[test]
    fn populations_are_a_distribution(b in -5.0f64..5.0, t in 0.05f64..300.0, two_s in 1u32..40) {
        let s = GiantSpin::new(f64::from(two_s) / 2.0, -0.72, 2.0).unwrap();
        let eq = equilibrium(&s.energies(b), t);
        let sum: f64 = eq.populations.iter().sum();
        prop_assert!((sum - 1.0).abs() < 1e-14);
        prop_assert!(eq.populations.iter().all(|&n| n >= 0.0));
        prop_assert!(eq.entropy >= -1e-15 && eq.entropy <= (s.n_levels() as f64).ln() + 1e-12);
        prop_assert!(eq.heat_capacity >= 0.0);
    }

    #[test]
    fn bose_ratio_agrees_with_the_expm1_form(x in -60.0f64..60.0) {
        // The fast form (exp for |x| >= 0.5) against x / expm1(x), accurate to an ulp.
        prop_assume!(x.abs() > 1e-5);
        let reference = x / x.exp_m1();
        prop_assert!((bose_ratio(x) - reference).abs() <= 1e-15 * reference, "{} vs {}", bose_ratio(x), reference);
    }

    /// The Bose factor: detailed balance f(dE)/f(-dE) = exp(-dE/T) and df/dT against a finite
    /// difference.
    #[test]
    fn bose_factor_detailed_balance_and_derivative(de in -200.0f64..200.0, t in 0.2f64..100.0) {
        let up = bose_factor(de, t);
        let dn = bose_factor(-de, t);
        if de.abs() / t < 600.0 && up > 0.0 && dn > 0.0 {
            prop_assert!(((up / dn).ln() + de / t).abs() < 1e-11 * (1.0 + de.abs() / t));
        }
        let (f, dfdt) = bose_factor_and_dt(de, t);
        prop_assert!((f - up).abs() <= 1e-15 * up.abs());
        let h = 1e-6 * t;
        let fd = (bose_factor(de, t + h) - bose_factor(de, t - h)) / (2.0 * h);
        // Finite-difference rounding is ~eps f/h.
        prop_assert!((fd - dfdt).abs() <= 1e-6 * dfdt.abs() + 1e-8 * f.abs() / t, "{} vs {}", fd, dfdt);
    }
}

#[test]
fn delta_t_vanishes_at_low_and_high_initial_temperature() {
    let m = Material::mn12ac();
    for &(bi, bf) in &[(0.5, 0.1), (1.0, 0.1), (1.0, 0.5), (0.5, 0.0)] {
        let lo = fc(&m, bi, bf, 0.1);
        let s = lo.sudden_final_k().unwrap();
        assert!((s - 0.1).abs() < 1e-6, "sudden at 0.1 K: {s}");
        let hi = fc(&m, bi, bf, 300.0);
        assert!((hi.sudden_final_k().unwrap() - 300.0).abs() < 1e-3);
        if let Some(q) = hi.isentropic_final().unwrap().t_final_k() {
            assert!((q - 300.0).abs() < 1e-3, "isentropic at 300 K: {q}");
        }
        if bf > 0.0 {
            let q = lo.isentropic_final().unwrap().t_final_k().unwrap();
            assert!((q - 0.1).abs() < 1e-3, "isentropic at 0.1 K: {q}");
        }
    }
}

#[test]
fn bose_factor_is_continuous_through_degeneracy() {
    // dE -> 0 limit dE^2 T, no 0/0 at a level crossing.
    assert_eq!(bose_factor(0.0, 2.0), 0.0);
    for &de in &[1e-12, 1e-8, 1e-6, 1e-5, 2e-5, 1e-3] {
        let f = bose_factor(de, 2.0);
        let exact = de.powi(3) / (de / 2.0).exp_m1();
        assert!((f / exact - 1.0).abs() < 1e-13, "dE = {de}: {f} vs {exact}");
        assert!((f / (de * de * 2.0) - 1.0).abs() < de);
    }
}

#[test]
fn debye_phonons_are_consistent() {
    let d = Debye::new(40.9, 1.0).unwrap();
    // C = dU/dT, S = integral C/T dT.
    for &t in &[0.5, 2.0, 7.0] {
        let h = 1e-5;
        let c = (d.energy_k(t + h) - d.energy_k(t - h)) / (2.0 * h);
        assert!((c / d.heat_capacity(t) - 1.0).abs() < 1e-8);
        assert!((d.entropy(t) - d.heat_capacity(t) / 3.0).abs() < 1e-15);
        assert!((d.temperature_for_energy_k(d.energy_k(t)) - t).abs() < 1e-13);
    }
    // The paper's C_ph = (12 pi^4/5)(T/theta)^3 at 4 K.
    let c = 12.0 * std::f64::consts::PI.powi(4) / 5.0 * (4.0f64 / 40.9).powi(3);
    assert!((d.heat_capacity(4.0) / c - 1.0).abs() < 1e-14);
}

#[test]
fn levels_and_resonances() {
    let m = Material::mn12ac();
    // 0.5224 T first crossing for Mn12Ac; at B_1 the levels M and 1 - M are degenerate.
    let b1 = m.spin.resonance_field_t(1);
    assert!((b1 - 0.5224).abs() < 5e-5, "{b1}");
    let e = m.spin.energies(b1);
    for i in 1..21 {
        let partner = 1 + 20 - i; // M' = 1 - M
        if partner < 21 {
            assert!((e[i] - e[partner]).abs() < 1e-12, "M = {}", m.spin.m(i));
        }
    }
    // D = -0.5 cm^-1 in K and the zero-field barrier |D| S^2.
    assert!((m.spin.d_k() + 0.719_388_438_5).abs() < 1e-12);
    let e0 = m.spin.energies(0.0);
    assert!((e0[10] - e0[0] - 71.938_843_85).abs() < 1e-8);
    // Half-integer spin: 2S+1 levels, M = -S..S.
    let s = GiantSpin::new(4.5, -1.0, 2.0).unwrap();
    assert_eq!(s.n_levels(), 10);
    assert_eq!(s.m(0), -4.5);
    assert!(GiantSpin::new(4.3, -1.0, 2.0).is_err());
    assert!(GiantSpin::new(0.0, -1.0, 2.0).is_err());
}
