//! The two analytic limits against independent references: the issue's published numbers and
//! a 60-digit mpmath computation (scripts/reference_values.py, output in
//! scripts/reference_values.txt).

#![allow(clippy::excessive_precision)] // reference values are quoted with all the digits computed

use approx::assert_abs_diff_eq;
use smmcool::model::limits::{minimum_delta_t, FieldChange, Isentropic, Limit, ROOT_TOL_K};
use smmcool::model::Material;

fn change(m: &Material, bi: f64, bf: f64, ti: f64) -> FieldChange<'_> {
    FieldChange::of(m, bi, bf, ti)
}

/// (Bi, Bf, Ti, Tf sudden, Tf isentropic) from mpmath at 60 digits.
const MPMATH: &[(f64, f64, f64, f64, Option<f64>)] = &[
    (
        0.5,
        0.1,
        4.0,
        2.333_807_500_970_542_5,
        Some(1.307_951_821_240_907_8),
    ),
    (
        0.5,
        0.1,
        2.0,
        0.596_457_609_574_449_02,
        Some(0.487_374_327_255_353_32),
    ),
    (
        0.5,
        0.1,
        3.0,
        1.112_367_764_024_479_5,
        Some(0.795_040_296_919_360_71),
    ),
    (
        1.0,
        0.1,
        3.0,
        0.992_286_205_585_220_82,
        Some(0.642_863_979_438_662_56),
    ),
    (
        1.0,
        0.5,
        8.0,
        7.268_749_113_522_803_2,
        Some(7.073_773_730_359_068_0),
    ),
    (
        1.0,
        0.1,
        3.61,
        1.457_993_627_264_512_0,
        Some(0.802_992_610_321_934_17),
    ),
    (
        1.0,
        0.5,
        6.46,
        5.663_727_565_336_279_1,
        Some(5.484_007_151_669_497_0),
    ),
    (0.5, 0.0, 3.0, 2.901_814_381_491_679_6, None),
    (
        1.0,
        0.1,
        5.33,
        4.001_707_404_086_759_5,
        Some(1.703_319_779_146_985_9),
    ),
];

#[test]
fn sudden_and_isentropic_match_60_digit_reference_to_1e_11_k() {
    let m = Material::mn12ac();
    for &(bi, bf, ti, sudden, isen) in MPMATH {
        let fc = change(&m, bi, bf, ti);
        let s = fc.sudden_final_k().unwrap();
        assert_abs_diff_eq!(s, sudden, epsilon = 1e-11);
        let q = fc.isentropic_final().unwrap();
        match (q, isen) {
            (Isentropic::Final { t_final_k }, Some(r)) => {
                assert_abs_diff_eq!(t_final_k, r, epsilon = 1e-11)
            }
            (
                Isentropic::NoFiniteSolution {
                    residual_entropy,
                    target_entropy,
                    ground_degeneracy,
                },
                None,
            ) => {
                assert_eq!(ground_degeneracy, 2);
                assert_abs_diff_eq!(residual_entropy, std::f64::consts::LN_2, epsilon = 1e-15);
                // mpmath: S_tot(0.5 T, 3 K) = 0.13654285627175556033
                assert_abs_diff_eq!(target_entropy, 0.136_542_856_271_755_56, epsilon = 1e-13);
            }
            other => panic!("({bi}, {bf}, {ti}): unexpected isentropic outcome {other:?}"),
        }
    }
}

#[test]
fn equal_fields_give_exactly_zero_delta_t() {
    let m = Material::mn12ac();
    for &b in &[0.0, 0.1, 0.5, 1.0, 3.0] {
        for &ti in &[0.05, 0.7, 2.0, 4.6, 30.0, 300.0] {
            let fc = change(&m, b, b, ti);
            assert_eq!(fc.sudden_final_k().unwrap().to_bits(), ti.to_bits());
            if b != 0.0 || fc.initial_entropy() > std::f64::consts::LN_2 {
                assert_eq!(
                    fc.isentropic_final()
                        .unwrap()
                        .t_final_k()
                        .unwrap()
                        .to_bits(),
                    ti.to_bits(),
                    "B = {b}, Ti = {ti}"
                );
            }
        }
    }
}

#[test]
fn issue_minima_of_delta_t() {
    // Published in the issue (paper Fig. 5 values); mpmath gives Ti* = 3.610257071,
    // dTmin = -2.152006405506; Ti* = 6.459165968, -0.7962724576121; Ti* = 5.327079376,
    // -3.626684733060.
    let m = Material::mn12ac();
    let r = (0.2, 40.0);
    let (ti, dt) = minimum_delta_t(&m.spin, &m.debye, 1.0, 0.1, Limit::Sudden, r)
        .unwrap()
        .unwrap();
    assert_abs_diff_eq!(dt, -2.152, epsilon = 5e-4);
    assert_abs_diff_eq!(ti, 3.61, epsilon = 5e-3);
    assert_abs_diff_eq!(dt, -2.152_006_405_506, epsilon = 1e-9);
    assert_abs_diff_eq!(ti, 3.610_257_071, epsilon = 1e-4);
    let (ti, dt) = minimum_delta_t(&m.spin, &m.debye, 1.0, 0.1, Limit::Isentropic, r)
        .unwrap()
        .unwrap();
    assert_abs_diff_eq!(dt, -3.627, epsilon = 5e-4);
    assert_abs_diff_eq!(ti, 5.33, epsilon = 5e-3);
    assert_abs_diff_eq!(dt, -3.626_684_733_060, epsilon = 1e-9);
    let (ti, dt) = minimum_delta_t(&m.spin, &m.debye, 1.0, 0.5, Limit::Sudden, r)
        .unwrap()
        .unwrap();
    assert_abs_diff_eq!(dt, -0.796, epsilon = 5e-4);
    assert_abs_diff_eq!(ti, 6.46, epsilon = 5e-3);
    assert_abs_diff_eq!(dt, -0.796_272_457_612_1, epsilon = 1e-9);
}

#[test]
fn t_max_for_one_second_is_4_572_k() {
    let m = Material::mn12ac();
    let t = m.arrhenius.temperature_for_tau_k(1.0).unwrap();
    // mpmath: 4.57201328185605322946
    assert_abs_diff_eq!(t, 4.572_013_281_856_053, epsilon = 1e-12);
    assert_abs_diff_eq!(m.arrhenius.tau_s(t), 1.0, epsilon = 1e-12);
    assert!(m.arrhenius.temperature_for_tau_k(1e-8).is_none());
}

#[test]
fn isentropic_residual_entropy_bound_is_sharp() {
    // Just above ln 2 of total entropy a solution exists at Bf = 0; below it none does.
    let m = Material::mn12ac();
    // S_tot(0.5 T, Ti) crosses ln 2 between 5 and 7 K.
    let below = change(&m, 0.5, 0.0, 5.0);
    let above = change(&m, 0.5, 0.0, 7.0);
    assert!(below.initial_entropy() < std::f64::consts::LN_2);
    assert!(above.initial_entropy() > std::f64::consts::LN_2);
    assert!(below.isentropic_final().unwrap().t_final_k().is_none());
    let tf = above.isentropic_final().unwrap().t_final_k().unwrap();
    assert!(tf > 0.0 && tf < 7.0);
    let note = below.isentropic_final().unwrap().note(0.0).unwrap();
    assert!(note.contains("ln 2"), "{note}");
}

#[test]
fn extreme_temperatures_are_finite() {
    let m = Material::mn12ac();
    for &ti in &[0.05, 0.1, 300.0] {
        let fc = change(&m, 1.0, 0.1, ti);
        let s = fc.sudden_final_k().unwrap();
        assert!(s.is_finite() && s > 0.0 && s <= ti, "Ti = {ti}: {s}");
        let q = fc.isentropic_final().unwrap().t_final_k().unwrap();
        assert!(q.is_finite() && q > 0.0 && q <= s, "Ti = {ti}: {q}");
    }
}

#[test]
fn bad_inputs_are_typed_errors() {
    let m = Material::mn12ac();
    assert!(change(&m, 1.0, 0.1, -1.0).sudden_final_k().is_err());
    assert!(change(&m, 1.0, 0.1, 0.0).isentropic_final().is_err());
    assert!(change(&m, f64::NAN, 0.1, 2.0).sudden_final_k().is_err());
    assert!(change(&m, 1.0, f64::INFINITY, 2.0)
        .isentropic_final()
        .is_err());
}

/// The limits as `smmcool limits` and the Python `limits` compute them (Halley's method with
/// analytic derivatives, [`LimitsSolver`]) against the engine's bracketing solver (Brent's
/// method, [`FieldChange`]) on every preset `limits` accepts, spins 1/2 to 20 with and without
/// addenda, an easy-plane spin (D > 0) and one with B4 M^4, fields -3..3 T and T_i from 0.05 K
/// to 300 K: the same roots to 2e-13 relative, the same outcome where Eq. 11 has no solution,
/// and exactly T_i when the field does not change.
#[test]
fn the_halley_solver_of_limits_agrees_with_the_bracketing_solver() {
    use smmcool::model::limits::LimitsSolver;
    use smmcool::model::{Overrides, PRESETS};
    let mut materials: Vec<Material> = PRESETS
        .iter()
        .filter_map(|p| Material::from_preset(p.key, &Overrides::default()).ok())
        .collect();
    assert!(materials.len() >= 2, "{} presets", materials.len());
    for spin in [0.5, 1.0, 5.0, 20.0] {
        let o = Overrides {
            spin: Some(spin),
            ..Overrides::default()
        };
        materials.push(Material::from_preset("mn12ac", &o).unwrap());
    }
    let mut with_addenda = Material::mn12ac();
    with_addenda.debye = with_addenda.debye.with_addenda(0.02, 3e-3).unwrap();
    materials.push(with_addenda);
    // The weights' recurrence on both shapes of the ladder (easy plane: D > 0, the lowest level
    // inside it), and every weight its own exponential (B4 != 0).
    let mut easy_plane = Material::mn12ac();
    easy_plane.spin = smmcool::model::GiantSpin::new(10.0, 0.66, 2.0).unwrap();
    materials.push(easy_plane);
    let mut with_b4 = Material::mn12ac();
    with_b4.spin = with_b4.spin.with_b4_k(-3e-5).unwrap();
    materials.push(with_b4);
    let tis: Vec<f64> = (0..=60)
        .map(|i| 0.05 * 6000f64.powf(f64::from(i) / 60.0))
        .collect();
    // Worst |difference| / (ROOT_TOL_K + 1e-13 T) from T_i = 0.3 K up, and worst relative
    // difference there.
    let (mut worst, mut worst_rel, mut count) = ((0.0_f64, String::new()), 0.0_f64, 0);
    for m in &materials {
        for bi in [0.0, 0.5, 1.0, -2.0] {
            let mut solver = LimitsSolver::new(m, bi);
            for bf in [0.0, 0.1, 0.5, 1.0, 3.0, -0.3, bi] {
                for &ti in &tis {
                    let what = format!("S = {}, {bi} T -> {bf} T from {ti} K", m.spin.spin());
                    let fc = change(m, bi, bf, ti);
                    let (s, q) = solver.solve(bf, ti).unwrap();
                    let s_ref = fc.sudden_final_k().unwrap();
                    let q_ref = fc.isentropic_final().unwrap();
                    #[allow(clippy::float_cmp)] // no field change: exactly T_i
                    if bf == bi {
                        assert_eq!(s.to_bits(), ti.to_bits(), "{what}");
                        if let Some(t) = q.t_final_k() {
                            assert_eq!(t.to_bits(), ti.to_bits(), "{what}");
                        }
                    }
                    let mut pairs = vec![(s, s_ref)];
                    match (q, q_ref) {
                        (
                            Isentropic::Final { t_final_k: a },
                            Isentropic::Final { t_final_k: b },
                        ) => pairs.push((a, b)),
                        (
                            Isentropic::NoFiniteSolution {
                                ground_degeneracy: a,
                                ..
                            },
                            Isentropic::NoFiniteSolution {
                                ground_degeneracy: b,
                                ..
                            },
                        ) => assert_eq!(a, b, "{what}"),
                        other => panic!("{what}: different outcomes {other:?}"),
                    }
                    for (a, b) in pairs {
                        count += 1;
                        if ti >= 0.3 {
                            let ratio = (a - b).abs() / (ROOT_TOL_K + 1e-13 * b);
                            worst_rel = worst_rel.max((a / b - 1.0).abs());
                            if ratio > worst.0 {
                                worst = (ratio, format!("{what}: {a} vs {b}"));
                            }
                        }
                    }
                }
            }
        }
    }
    eprintln!(
        "{count} roots; from 0.3 K: largest |difference| {:.2} x (1e-12 K + 1e-13 T) ({}), largest relative difference {worst_rel:.2e}",
        worst.0, worst.1
    );
    assert!(worst.0 <= 1.0, "{:.3} at {}", worst.0, worst.1);
}

/// Below 0.3 K the bracketing solver's entropy, ln Z' with Z' within ~1e-9 of 1, loses digits
/// (up to 3e-10 relative in T_f); the Halley solver sums the excited weights apart and takes
/// ln(1 + x). Against 50-digit mpmath (the script's equations, run for S = 1 of Mn12Ac, 1 T ->
/// 0.5 T): within 1e-14 relative. And on the 60-digit table above within 1e-14 relative.
#[test]
fn the_halley_solver_matches_mpmath_at_low_temperature_and_on_the_reference_table() {
    use smmcool::model::limits::LimitsSolver;
    use smmcool::model::Overrides;
    let s1 = Material::from_preset(
        "mn12ac",
        &Overrides {
            spin: Some(1.0),
            ..Overrides::default()
        },
    )
    .unwrap();
    let mut solver = LimitsSolver::new(&s1, 1.0);
    for (ti, want) in [
        (0.05, 0.049_994_342_771_195_440_404),
        (0.057_801_511_040_065_97, 0.057_653_515_622_527_692_450),
    ] {
        let got = solver.solve(0.5, ti).unwrap().1.t_final_k().unwrap();
        let old = change(&s1, 1.0, 0.5, ti)
            .isentropic_final()
            .unwrap()
            .t_final_k()
            .unwrap();
        eprintln!(
            "Ti = {ti} K: Halley {:.1e}, bracketing {:.1e} relative",
            got / want - 1.0,
            old / want - 1.0
        );
        assert!((got / want - 1.0).abs() < 1e-14, "{got} vs {want}");
    }
    let m = Material::mn12ac();
    for &(bi, bf, ti, sudden, isen) in MPMATH {
        let (s, q) = LimitsSolver::new(&m, bi).solve(bf, ti).unwrap();
        assert!((s / sudden - 1.0).abs() < 1e-14, "{s} vs {sudden}");
        match (q.t_final_k(), isen) {
            (Some(a), Some(b)) => assert!((a / b - 1.0).abs() < 1e-14, "{a} vs {b}"),
            (None, None) => {}
            other => panic!("{other:?}"),
        }
    }
}
