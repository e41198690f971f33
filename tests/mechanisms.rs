//! The generic rate machinery ([`smmcool::rates::mechanism`]) with a second, toy mechanism: a
//! detailed-balance-respecting rate between two levels, possibly far apart (a channel outside
//! the spin-phonon band, like a tunnelling one). Checked: detailed balance of the assembled
//! matrix, the band width, the analytic Jacobian (temperature column included) against finite
//! differences, the slow mode and the committors against dense computations, the Newton
//! matrices' banded and dense paths against each other, the Arrhenius calibration. And, with
//! the spin-phonon mechanism alone, that the chain, the right-hand side and the Jacobian equal
//! the engine's formulas before mechanisms, bit for bit.

#![allow(clippy::needless_range_loop)] // index loops read like the formulas they implement

use nalgebra::{DMatrix, DVector, SymmetricEigen};
use smmcool::kinetics::full::FullSystem;
use smmcool::model::protocol::{Protocol, RampShape};
use smmcool::model::thermo::boltzmann;
use smmcool::model::Material;
use smmcool::numerics::expo::{exp_lanes, EXP_MAX_ARG};
use smmcool::numerics::solver::{OdeSystem, Radau5, Tolerances};
use smmcool::rates::mechanism::{Channel, Mechanism, PairRates, PairRatesDt, RatePoint};
use smmcool::rates::{bose_pair_and_dt, bose_ratio, KappaScaling, RateModel};
use std::sync::Arc;

/// r(i -> j) = g exp(-dE/(2T)), r(j -> i) = g exp(+dE/(2T)) with dE = E_j - E_i: detailed
/// balance at the phonon temperature. `g` in 1/s (not proportional to kappa) or, when
/// `proportional`, g kappa(T) with g in K^3.
#[derive(Debug)]
struct Toy {
    channels: Vec<Channel>,
    g: f64,
    proportional: bool,
}

impl Toy {
    fn new(i: usize, j: usize, g: f64, proportional: bool) -> Arc<Self> {
        Arc::new(Self {
            channels: vec![Channel { i, j }],
            g,
            proportional,
        })
    }

    /// (forward, backward) without the kappa factor.
    fn base(&self, de: f64, t: f64) -> (f64, f64) {
        let x = de / (2.0 * t);
        (self.g * (-x).exp(), self.g * x.exp())
    }
}

impl Mechanism for Toy {
    fn name(&self) -> &str {
        "toy"
    }
    fn channels(&self) -> &[Channel] {
        &self.channels
    }
    fn key(&self) -> Vec<u64> {
        let c = &self.channels[0];
        vec![
            c.i as u64,
            c.j as u64,
            self.g.to_bits(),
            u64::from(self.proportional),
        ]
    }
    fn proportional_to_kappa(&self) -> bool {
        self.proportional
    }
    fn unscaled_rates(&self, at: &RatePoint, de_k: &[f64], out: &mut [PairRates]) {
        for (&de, o) in de_k.iter().zip(out.iter_mut()) {
            let (f, b) = self.base(de, at.t_k);
            *o = if self.proportional {
                [f, b]
            } else {
                [f / at.kappa_per_s_k3, b / at.kappa_per_s_k3]
            };
        }
    }
    fn rates_and_dt(&self, at: &RatePoint, de_k: &[f64], out: &mut [PairRatesDt]) {
        let t = at.t_k;
        for (&de, o) in de_k.iter().zip(out.iter_mut()) {
            let (f, b) = self.base(de, t);
            // d/dT exp(-dE/2T) = exp(-dE/2T) dE/(2T^2).
            let s = de / (2.0 * t * t);
            *o = if self.proportional {
                let (k, dlnk) = (at.kappa_per_s_k3, at.dln_kappa_dt);
                [k * f, k * f * (dlnk + s), k * b, k * b * (dlnk - s)]
            } else {
                [f, f * s, b, -b * s]
            };
        }
    }
}

fn mn12() -> Material {
    Material::mn12ac()
}

fn model(mat: &Material, scaling: KappaScaling, extra: &[Arc<Toy>]) -> RateModel {
    let mut rm = RateModel::new(mat.spin, mat.arrhenius, scaling).unwrap();
    for t in extra {
        rm = rm.with_mechanism(t.clone());
    }
    rm
}

#[test]
fn the_band_and_the_assembled_matrix_obey_detailed_balance() {
    let mat = mn12();
    let plain = model(&mat, KappaScaling::Arrhenius, &[]);
    assert_eq!(plain.band(), 2);
    assert_eq!(plain.mechanisms().len(), 1);
    // A wide channel across the barrier (3 <-> 17) and one on top of a spin-phonon pair.
    let (wide, near) = (Toy::new(3, 17, 40.0, false), Toy::new(5, 6, 7.0, true));
    let rm = model(&mat, KappaScaling::Arrhenius, &[wide.clone(), near.clone()]);
    assert_eq!(rm.band(), 14);
    assert_eq!(rm.mechanisms().len(), 3);
    for &(b, t) in &[(0.0, 2.0), (0.1, 3.0), (0.5, 6.0)] {
        let w = rm.unscaled_matrix(b, t);
        let w0 = plain.unscaled_matrix(b, t);
        let e = mat.spin.energies(b);
        let eq = boltzmann(&e, t);
        let n = e.len();
        let kappa = rm.kappa(t).unwrap();
        for i in 0..n {
            let col: f64 = (0..n).map(|j| w[(j, i)]).sum();
            assert!(
                col.abs() <= 1e-12 * w[(i, i)].abs(),
                "column {i} sums to {col}"
            );
            for j in 0..n {
                if i == j {
                    continue;
                }
                // Detailed balance W_ji n_i = W_ij n_j.
                let (a, c) = (w[(j, i)] * eq[i], w[(i, j)] * eq[j]);
                assert!((a - c).abs() <= 1e-13 * a.abs().max(c.abs()), "{i} {j}");
                // The toy's rates are added where they belong, and nowhere else.
                let de = e[j] - e[i];
                let extra = if (i, j) == (3, 17) || (i, j) == (17, 3) {
                    let (f, bk) = wide.base(if i < j { de } else { -de }, t);
                    (if i < j { f } else { bk }) / kappa
                } else if (i, j) == (5, 6) || (i, j) == (6, 5) {
                    let (f, bk) = near.base(if i < j { de } else { -de }, t);
                    if i < j {
                        f
                    } else {
                        bk
                    }
                } else {
                    0.0
                };
                let want = w0[(j, i)] + extra;
                assert!(
                    (w[(j, i)] - want).abs() <= 1e-15 * want.abs(),
                    "rate {i} -> {j}: {} vs {want}",
                    w[(j, i)]
                );
            }
        }
    }
}

/// lambda1 and the committors of the chain with a wide channel against dense computations:
/// the symmetrized matrix's eigenvalues (at temperatures where double precision resolves
/// lambda1) and a dense LU solve of the backward equation.
#[test]
fn slow_mode_and_committors_with_a_wide_channel_match_dense_computations() {
    let mat = mn12();
    let plain = model(&mat, KappaScaling::Arrhenius, &[]);
    let rm = model(
        &mat,
        KappaScaling::Arrhenius,
        &[Toy::new(3, 17, 100.0, true), Toy::new(8, 11, 5.0, true)],
    );
    // A channel between the two well bottoms themselves (band n - 1, the direct rate of the
    // slow-mode formula) and the other two.
    let bottoms = model(
        &mat,
        KappaScaling::Arrhenius,
        &[
            Toy::new(0, 20, 3e-3, true),
            Toy::new(3, 17, 100.0, true),
            Toy::new(8, 11, 5.0, true),
        ],
    );
    assert_eq!(bottoms.band(), 20);
    for (rm, &(b, t)) in [&rm, &rm, &rm, &bottoms, &bottoms].into_iter().zip(&[
        (0.0, 6.0),
        (0.1, 8.0),
        (0.3, 12.0),
        (0.0, 6.0),
        (0.2, 9.0),
    ]) {
        let w = rm.unscaled_matrix(b, t);
        let n = w.nrows();
        let eq = boltzmann(&mat.spin.energies(b), t);
        // S = D^-1/2 (-W) D^1/2, symmetric by detailed balance.
        let s = DMatrix::from_fn(n, n, |i, j| -w[(i, j)] * (eq[j] / eq[i]).sqrt());
        let s = (&s + s.transpose()) * 0.5;
        let mut ev: Vec<f64> = SymmetricEigen::new(s).eigenvalues.iter().copied().collect();
        ev.sort_by(f64::total_cmp);
        let dense = ev[1];
        let ours = rm.unscaled_slow_mode(b, t).unwrap().unwrap().lambda1_per_s;
        let without = plain
            .unscaled_slow_mode(b, t)
            .unwrap()
            .unwrap()
            .lambda1_per_s;
        let rel = (ours / dense - 1.0).abs();
        // The dense solver's own error: ~eps ||S|| absolute.
        let dense_err = f64::EPSILON * ev[n - 1] / dense;
        eprintln!(
            "B={b} T={t}: lambda1 {ours:e} dense {dense:e} (rel {rel:.2e}, dense error \
             ~{dense_err:.1e}), spin-phonon alone {without:e}"
        );
        assert!(
            rel < 10.0 * dense_err && rel < 1e-8,
            "{ours:e} vs {dense:e}"
        );
        // Teeth: the toy channels change lambda1 substantially.
        assert!(
            ours / without - 1.0 > 1e4 * dense_err,
            "{ours:e} vs {without:e}"
        );

        // Committor q_b: q_0 = 0, q_{n-1} = 1, sum_j W_ji (q_j - q_i) = 0 inside.
        let chain = rm.unscaled_chain(b, t);
        let lu = chain.interior_lu().unwrap();
        let (qa, qb) = chain.committors(&lu);
        let m = n - 2;
        let a = DMatrix::from_fn(m, m, |r, c| w[(c + 1, r + 1)]);
        let rhs = DVector::from_fn(m, |r, _| -w[(n - 1, r + 1)]);
        let q = a.lu().solve(&rhs).unwrap();
        for i in 0..m {
            assert!((qb[i + 1] - q[i]).abs() <= 1e-12, "q_b[{}]", i + 1);
            assert!((qa[i + 1] - (1.0 - q[i])).abs() <= 1e-12, "q_a[{}]", i + 1);
        }
    }
}

/// Below ~4 K double precision cannot check lambda1 densely; there the split of lambda1 into
/// the two escape rates must follow detailed balance between the wells, k_LR P_L = k_RL P_R
/// (escape_a = lambda1 P_R, escape_b = lambda1 P_L with P the committor-weighted equilibrium
/// masses), to O(lambda1/lambda2), i.e. to rounding here.
#[test]
fn slow_mode_with_a_wide_channel_keeps_detailed_balance_at_low_temperature() {
    let mat = mn12();
    let plain = model(&mat, KappaScaling::Arrhenius, &[]);
    let wide = model(
        &mat,
        KappaScaling::Arrhenius,
        &[Toy::new(3, 17, 100.0, true)],
    );
    // Directly between the bottoms (the w_ab, w_ba terms of the slow-mode formula).
    let direct = model(
        &mat,
        KappaScaling::Arrhenius,
        &[Toy::new(0, 20, 1e-12, true)],
    );
    for (rm, &(b, t)) in [&wide, &wide, &wide, &direct, &direct].into_iter().zip(&[
        (0.0, 1.5),
        (0.1, 2.0),
        (0.3, 3.0),
        (0.0, 1.5),
        (0.1, 1.5),
    ]) {
        let chain = rm.unscaled_chain(b, t);
        let lu = chain.interior_lu().unwrap();
        let mode = rm.unscaled_slow_mode(b, t).unwrap().unwrap();
        let (qa, qb) = chain.committors(&lu);
        let eq = boltzmann(&mat.spin.energies(b), t);
        let pl: f64 = qa.iter().zip(&eq).map(|(q, n)| q * n).sum();
        let pr: f64 = qb.iter().zip(&eq).map(|(q, n)| q * n).sum();
        let l1 = mode.lambda1_per_s;
        let without = plain
            .unscaled_slow_mode(b, t)
            .unwrap()
            .unwrap()
            .lambda1_per_s;
        let err = [
            (mode.escape_a_per_s / (l1 * pr) - 1.0).abs(),
            (mode.escape_b_per_s / (l1 * pl) - 1.0).abs(),
        ];
        eprintln!(
            "B={b} T={t}: lambda1 {l1:e} (spin-phonon alone {without:e}), split errors {:.1e} {:.1e}",
            err[0], err[1]
        );
        assert!(err[0] < 1e-11 && err[1] < 1e-11);
        assert!(l1 > 10.0 * without);
    }
}

/// Central-difference check of every column of the analytic Jacobian, entries relative to the
/// largest entry of their column in rows of the same unit (as in engine_crosscheck.rs).
fn jacobian_error(sys: &FullSystem<'_>, t: f64, y: &DVector<f64>) -> (f64, f64) {
    let dim = sys.dim();
    let nlev = dim - 2;
    let mut jac = DMatrix::zeros(dim, dim);
    sys.jacobian(t, y, &mut jac).unwrap();
    let (mut worst, mut worst_t) = (0.0f64, 0.0f64);
    let blocks = [0..nlev, nlev..nlev + 1, nlev + 1..nlev + 2];
    for j in 0..dim {
        // Populations enter linearly (step 1e-5 whatever their size); U_ph relative; w is ~1.
        let floor = if j == nlev { y[j].abs() } else { 1.0 };
        let h = 1e-5 * y[j].abs().max(floor);
        let (mut yp, mut ym) = (y.clone(), y.clone());
        yp[j] += h;
        ym[j] -= h;
        let h2 = yp[j] - ym[j];
        let (mut fp, mut fm) = (DVector::zeros(dim), DVector::zeros(dim));
        sys.rhs(t, &yp, &mut fp).unwrap();
        sys.rhs(t, &ym, &mut fm).unwrap();
        for rows in blocks.iter().cloned() {
            let scale = rows.clone().map(|i| jac[(i, j)].abs()).fold(0.0, f64::max);
            for i in rows {
                let err = (jac[(i, j)] - (fp[i] - fm[i]) / h2).abs();
                if scale == 0.0 {
                    assert!(err == 0.0, "({i}, {j}) should be zero");
                    continue;
                }
                worst = worst.max(err / scale);
                if j == nlev {
                    worst_t = worst_t.max(err / scale);
                }
            }
        }
    }
    (worst, worst_t)
}

fn state(mat: &Material, b: f64, t_pop: f64, t_ph: f64) -> DVector<f64> {
    let n = boltzmann(&mat.spin.energies(b), t_pop);
    let nlev = n.len();
    let mut y = DVector::zeros(nlev + 2);
    for i in 0..nlev {
        // Off equilibrium level by level.
        y[i] = n[i] * (1.0 + 0.3 * ((i * 7 % 5) as f64 - 2.0) / 2.0);
    }
    let s: f64 = y.rows(0, nlev).sum();
    y.rows_mut(0, nlev).iter_mut().for_each(|v| *v /= s);
    y[nlev] = mat.debye.energy_k(t_ph);
    y[nlev + 1] = -0.7;
    y
}

#[test]
fn analytic_jacobian_with_a_toy_mechanism_matches_finite_differences() {
    let mat = mn12();
    let proto = Protocol::with_sweep_rate(0.5, 0.1, 10.0, RampShape::Linear).unwrap();
    // The toys' rates are of the size of the spin-phonon ones near them, so that an error in
    // their part of the temperature column would show.
    let toys = [Toy::new(2, 16, 2e8, false), Toy::new(1, 4, 1e6, true)];
    let plain = model(&mat, KappaScaling::Arrhenius, &[]);
    let rm = model(&mat, KappaScaling::Arrhenius, &toys);
    let sys = FullSystem::new(&mat.spin, &mat.debye, &rm, &proto);
    let sys0 = FullSystem::new(&mat.spin, &mat.debye, &plain, &proto);
    let nlev = sys.n_levels();
    for &(b, t_pop, t_ph) in &[(0.5, 4.0, 4.6), (0.1, 2.5, 2.2), (0.3, 3.2, 3.0)] {
        let y = state(&mat, b, t_pop, t_ph);
        for &t in &[0.0, 0.013, 0.05] {
            let (worst, worst_t) = jacobian_error(&sys, t, &y);
            eprintln!("B={b} T_ph={t_ph} t={t}: worst {worst:.2e}, T column {worst_t:.2e}");
            assert!(worst < 1e-7, "{worst:e}");
            // Teeth: the toys move the temperature column far beyond the tolerance.
            let (mut j, mut j0) = (
                DMatrix::zeros(nlev + 2, nlev + 2),
                DMatrix::zeros(nlev + 2, nlev + 2),
            );
            sys.jacobian(t, &y, &mut j).unwrap();
            sys0.jacobian(t, &y, &mut j0).unwrap();
            let scale = j.column(nlev).rows(0, nlev).amax();
            let moved = (j.column(nlev) - j0.column(nlev)).rows(0, nlev).amax() / scale;
            eprintln!("    the toys move the T column by {moved:.2e}");
            assert!(
                moved > 1e3 * 1e-7,
                "toys move the T column by {moved:e} only"
            );
        }
    }
}

#[test]
fn newton_matrices_banded_or_dense_from_the_channels() {
    let mat = mn12();
    let proto = Protocol::jump(0.5, 0.1).unwrap();
    let plain = model(&mat, KappaScaling::Arrhenius, &[]);
    let three = model(&mat, KappaScaling::Arrhenius, &[Toy::new(4, 7, 1e6, false)]);
    let wide = model(
        &mat,
        KappaScaling::Arrhenius,
        &[Toy::new(2, 16, 1e6, false)],
    );
    let band = |rm: &RateModel| FullSystem::new(&mat.spin, &mat.debye, rm, &proto).bordered_band();
    assert_eq!(band(&plain), Some((21, 2)));
    assert_eq!(band(&three), Some((21, 3)));
    assert_eq!(band(&wide), None);

    /// The same system with dense Newton matrices.
    struct Dense<'a, 'b>(&'a FullSystem<'b>);
    impl OdeSystem for Dense<'_, '_> {
        type Error = smmcool::error::NumericsError;
        fn dim(&self) -> usize {
            self.0.dim()
        }
        fn rhs(&self, t: f64, y: &DVector<f64>, dy: &mut DVector<f64>) -> Result<(), Self::Error> {
            self.0.rhs(t, y, dy)
        }
        fn jacobian(
            &self,
            t: f64,
            y: &DVector<f64>,
            jac: &mut DMatrix<f64>,
        ) -> Result<(), Self::Error> {
            self.0.jacobian(t, y, jac)
        }
    }
    let banded = FullSystem::new(&mat.spin, &mat.debye, &three, &proto);
    let y0 = state(&mat, 0.5, 4.0, 4.0);
    let t_end = 1e-4;
    fn run(
        s: &impl OdeSystem<Error = smmcool::error::NumericsError>,
        y0: &DVector<f64>,
        t_end: f64,
    ) -> DVector<f64> {
        let tol = Tolerances {
            rtol: 1e-10,
            atol: vec![1e-14; 23],
            max_steps: 100_000,
        };
        let mut r = Radau5::new(s, 0.0, y0.clone(), 1e-12, tol);
        while r.t() < t_end {
            r.step(s, t_end).unwrap();
        }
        r.y().clone()
    }
    let (a, b) = (run(&banded, &y0, t_end), run(&Dense(&banded), &y0, t_end));
    let diff = (&a - &b).rows(0, 21).amax();
    let moved = (&a - &y0).rows(0, 21).amax();
    eprintln!("banded vs dense Newton: {diff:e} (populations moved by {moved:e})");
    assert!(moved > 1e-4 && diff < 1e-12, "{diff:e}, moved {moved:e}");
}

#[test]
fn the_arrhenius_calibration_uses_the_mechanisms_proportional_to_kappa() {
    let mat = mn12();
    let plain = model(&mat, KappaScaling::Arrhenius, &[]);
    let other = model(
        &mat,
        KappaScaling::Arrhenius,
        &[Toy::new(3, 17, 1.0, false)],
    );
    let prop = model(
        &mat,
        KappaScaling::Arrhenius,
        &[Toy::new(3, 17, 1e-2, true)],
    );
    // A kappa table made without a proportional mechanism is dropped when one is added.
    let tabled = || {
        RateModel::new(mat.spin, mat.arrhenius, KappaScaling::Arrhenius)
            .unwrap()
            .with_table(1.5, 6.0)
            .unwrap()
    };
    assert!(tabled().table().is_some());
    let kept = tabled().with_mechanism(Toy::new(3, 17, 1.0, false));
    assert!(kept.table().is_some());
    let dropped = tabled().with_mechanism(Toy::new(3, 17, 100.0, true));
    assert!(dropped.table().is_none());
    for t in [2.0, 2.5, 3.0] {
        // A mechanism not proportional to kappa leaves kappa alone...
        assert_eq!(
            plain.kappa(t).unwrap().to_bits(),
            other.kappa(t).unwrap().to_bits()
        );
        // ...and one proportional to it takes part in the calibration: the slowest zero-field
        // time of the whole model is the Arrhenius tau.
        let tau = mat.arrhenius.tau_s(t);
        assert!((prop.tau_model_s(t).unwrap() / tau - 1.0).abs() < 1e-12);
        let (kp, k0) = (prop.kappa(t).unwrap(), plain.kappa(t).unwrap());
        eprintln!("T={t}: kappa {kp:e} with the toy, {k0:e} without");
        assert!(kp < 0.99 * k0);
    }
}

/// With the spin-phonon mechanism alone, the chain, the right-hand side and the Jacobian are
/// the engine's formulas before mechanisms existed, bit for bit (inline copies below), with
/// one change since (issue 19): the right-hand side takes its exponentials for
/// 0.5 <= x <= 709 from `exp_lanes` (within 1 ulp of libm's `exp`). It is checked bit for bit
/// against the inline copy with that exponential, and against the copy with libm's to 1e-14
/// of the sum of the magnitudes of each component's terms.
#[test]
fn spin_phonon_alone_is_the_old_code_path_bit_for_bit() {
    let mat = mn12();
    let spin = mat.spin;
    let rm = model(&mat, KappaScaling::Arrhenius, &[]);
    let n = spin.n_levels();
    let pairs = rm.pairs();
    assert_eq!(pairs.len(), 39);
    for &(b, t) in &[(0.0, 1.0), (0.1, 2.0), (0.5, 4.0), (-0.3, 7.5), (1.2, 20.0)] {
        // The old unscaled_chain.
        let chain = rm.unscaled_chain(b, t);
        let mut want = vec![vec![0.0f64; n]; n];
        for p in pairs {
            let de = spin.energy_k(p.j, b) - spin.energy_k(p.i, b);
            let ((f_ij, _), (f_ji, _)) = bose_pair_and_dt(de, t);
            want[p.i][p.j] += p.weight_ij * f_ij;
            want[p.j][p.i] += p.weight_ji * f_ji;
        }
        for i in 0..n {
            for j in 0..n {
                assert_eq!(chain.rate(i, j).to_bits(), want[i][j].to_bits(), "{i} {j}");
            }
        }
    }
    let pair_energy: Vec<[f64; 2]> = pairs
        .iter()
        .map(|p| {
            [
                spin.energy_k(p.j, 0.0) - spin.energy_k(p.i, 0.0),
                spin.energy_slope_k_per_t(p.j) - spin.energy_slope_k_per_t(p.i),
            ]
        })
        .collect();
    let proto = Protocol::with_sweep_rate(0.5, 0.1, 10.0, RampShape::Linear).unwrap();
    let sys = FullSystem::new(&spin, &mat.debye, &rm, &proto);
    for &(bp, t_pop, t_ph) in &[(0.5, 4.0, 4.6), (0.1, 2.5, 2.2), (0.3, 1.5, 1.4)] {
        let y = state(&mat, bp, t_pop, t_ph);
        for &t in &[0.0, 0.013, 0.05] {
            let (b, bdot) = (proto.field_t(t), proto.ramp_rate_t_per_s(t));
            let temp = sys.temperature_k(&y);
            // The old right-hand side.
            let kappa = rm.kappa(temp).unwrap();
            let mut got = DVector::zeros(n + 2);
            sys.rhs(t, &y, &mut got).unwrap();
            // The old formula with libm's exp (`lanes` false) and with the vectorized one.
            let mut sizes = vec![0.0; n + 2];
            for lanes in [false, true] {
                let mut d = vec![0.0; n + 2];
                let mut du = 0.0;
                let inv_t = 1.0 / temp;
                for (p, &[e0, slope]) in pairs.iter().zip(&pair_energy) {
                    let de = e0 + slope * b;
                    let x = de.abs() * inv_t;
                    let r_up = if lanes && (0.5..=EXP_MAX_ARG).contains(&x) {
                        let mut ex = [0.0];
                        exp_lanes(&[x], &mut ex);
                        x / (ex[0] - 1.0)
                    } else {
                        bose_ratio(x)
                    };
                    let r_down = x + r_up;
                    let (r_ij, r_ji) = if de >= 0.0 {
                        (r_up, r_down)
                    } else {
                        (r_down, r_up)
                    };
                    let flux = kappa
                        * de
                        * de
                        * temp
                        * (p.weight_ij * r_ij * y[p.i] - p.weight_ji * r_ji * y[p.j]);
                    d[p.j] += flux;
                    d[p.i] -= flux;
                    du -= flux * de;
                    if !lanes {
                        let size = kappa
                            * de
                            * de
                            * temp
                            * (p.weight_ij * r_ij * y[p.i] + p.weight_ji * r_ji * y[p.j]);
                        sizes[p.j] += size;
                        sizes[p.i] += size;
                        sizes[n] += size * de.abs();
                    }
                }
                d[n] = du;
                let mut dw = 0.0;
                if bdot != 0.0 {
                    for i in 0..n {
                        dw += y[i] * spin.energy_slope_k_per_t(i);
                    }
                }
                d[n + 1] = bdot * dw;
                for i in 0..n + 2 {
                    if lanes {
                        assert_eq!(got[i].to_bits(), d[i].to_bits(), "rhs[{i}] at t = {t}");
                    } else {
                        assert!(
                            (got[i] - d[i]).abs() <= 1e-14 * sizes[i].max(d[i].abs()),
                            "rhs[{i}] at t = {t}: {} against libm's {}",
                            got[i],
                            d[i]
                        );
                    }
                }
            }
            // The old Jacobian.
            let (kappa, dlnk) = rm.kappa_and_log_derivative(temp).unwrap();
            let dtdu = 1.0 / mat.debye.heat_capacity(temp);
            let mut jac = DMatrix::<f64>::zeros(n + 2, n + 2);
            for (p, &[e0, slope]) in pairs.iter().zip(&pair_energy) {
                let de = e0 + slope * b;
                let pair = bose_pair_and_dt(de, temp);
                for (from, to, weight, (f, dfdt), d) in [
                    (p.i, p.j, p.weight_ij, pair.0, de),
                    (p.j, p.i, p.weight_ji, pair.1, -de),
                ] {
                    let r = kappa * weight * f;
                    jac[(to, from)] += r;
                    jac[(from, from)] -= r;
                    jac[(n, from)] -= r * d;
                    let dflux_du = kappa * weight * (dlnk * f + dfdt) * y[from] * dtdu;
                    jac[(to, n)] += dflux_du;
                    jac[(from, n)] -= dflux_du;
                    jac[(n, n)] -= dflux_du * d;
                }
            }
            if bdot != 0.0 {
                for i in 0..n {
                    jac[(n + 1, i)] = bdot * spin.energy_slope_k_per_t(i);
                }
            }
            let mut got = DMatrix::zeros(n + 2, n + 2);
            sys.jacobian(t, &y, &mut got).unwrap();
            for i in 0..n + 2 {
                for j in 0..n + 2 {
                    assert_eq!(
                        got[(i, j)].to_bits(),
                        jac[(i, j)].to_bits(),
                        "jac[({i}, {j})] at t = {t}"
                    );
                }
            }
        }
    }
}

/// Shared tables are keyed by the mechanisms that decide them: a mechanism proportional to
/// kappa enters the kappa calibration (and its table's key), one that is not leaves both alone.
#[test]
fn table_keys_follow_the_mechanisms() {
    let mat = Material::mn12ac();
    let plain = model(&mat, KappaScaling::Arrhenius, &[]);
    let proportional = model(
        &mat,
        KappaScaling::Arrhenius,
        &[Toy::new(3, 17, 1e-3, true)],
    );
    let other = model(
        &mat,
        KappaScaling::Arrhenius,
        &[Toy::new(3, 17, 1e-3, false)],
    );
    assert_ne!(plain.kappa_table_key(), proportional.kappa_table_key());
    assert_eq!(plain.kappa_table_key(), other.kappa_table_key());
    let again = model(
        &mat,
        KappaScaling::Arrhenius,
        &[Toy::new(3, 17, 1e-3, true)],
    );
    assert_eq!(proportional.kappa_table_key(), again.kappa_table_key());
}
