//! The two analytic limits against independent references: the issue's published numbers and
//! a 60-digit mpmath computation (scripts/reference_values.py, output in
//! scripts/reference_values.txt).

#![allow(clippy::excessive_precision)] // reference values are quoted with all the digits computed

use approx::assert_abs_diff_eq;
use smmcool::model::limits::{minimum_delta_t, FieldChange, Isentropic, Limit};
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
