//! Cross-checks of the time-domain engine's full master equation against independent numerics:
//! its analytic Jacobian against central finite differences of its own right-hand side, and the
//! Radau IIA(5) integrator against an explicit Dormand-Prince 5(4) integration (the
//! `ode_solvers` crate) of the same right-hand side over a window short enough for an explicit
//! method.

use nalgebra::{DMatrix, DVector};
use ode_solvers::{Dopri5, OutputType, System};
use smmcool::kinetics::full::FullSystem;
use smmcool::model::protocol::{Protocol, RampShape};
use smmcool::model::thermo::boltzmann;
use smmcool::model::Material;
use smmcool::numerics::solver::{OdeSystem, Radau5, Tolerances};
use smmcool::rates::{KappaScaling, RateModel};

/// Deterministic pseudo-random numbers in [-1, 1) (64-bit LCG, Knuth's MMIX constants; the top
/// 53 bits make the mantissa).
struct Lcg(u64);

impl Lcg {
    fn next_sym(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        2.0 * ((self.0 >> 11) as f64 / (1u64 << 53) as f64) - 1.0
    }
}

/// Boltzmann populations at (b, t_pop) multiplied level by level by factors in [0.5, 1.5), then
/// renormalised: positive, summing to one, but not an equilibrium at any temperature.
fn perturbed_populations(mat: &Material, b: f64, t_pop: f64, rng: &mut Lcg) -> Vec<f64> {
    let mut n = boltzmann(&mat.spin.energies(b), t_pop);
    for v in n.iter_mut() {
        *v *= 1.0 + 0.5 * rng.next_sym();
    }
    let s: f64 = n.iter().sum();
    n.iter_mut().for_each(|v| *v /= s);
    n
}

/// Result of comparing the analytic Jacobian with central differences at one (t, y).
struct JacobianCheck {
    /// Largest |analytic - finite difference| over all entries, each relative to its scale
    /// (see [`check_jacobian`]).
    worst_rel: f64,
    /// (row, column, analytic, finite difference) of that entry.
    worst: (usize, usize, f64, f64),
    /// The same maximum over the U_ph (temperature) column only.
    worst_temperature_column_rel: f64,
    /// Entries whose scale is zero (an identically zero block) but whose two values differ.
    nonzero_where_zero: Vec<(usize, usize, f64, f64)>,
}

/// Compare every column of the analytic Jacobian with a central difference of `rhs`.
///
/// Each entry's error is measured against the largest |analytic entry| of its column within
/// the rows of the same physical unit: the population rows (1/s), the U_ph row (K/s) and the w
/// row (K/s, but of size dB/dt dE_M/dB ~ 1e2 against rates ~1e9 1/s, so it gets its own scale
/// lest an error in it be drowned). A block that is zero in the analytic Jacobian (the w column;
/// the w row after the ramp) must be exactly zero in the difference too.
fn check_jacobian(sys: &FullSystem<'_>, t: f64, y: &DVector<f64>, floor: &[f64]) -> JacobianCheck {
    let dim = sys.dim();
    let nlev = dim - 2;
    let mut jac = DMatrix::zeros(dim, dim);
    sys.jacobian(t, y, &mut jac).unwrap();
    let mut fp = DVector::zeros(dim);
    let mut fm = DVector::zeros(dim);
    let mut out = JacobianCheck {
        worst_rel: 0.0,
        worst: (0, 0, 0.0, 0.0),
        worst_temperature_column_rel: 0.0,
        nonzero_where_zero: Vec::new(),
    };
    let blocks = [0..nlev, nlev..nlev + 1, nlev + 1..nlev + 2];
    for j in 0..dim {
        // Relative step ~ eps^(1/3) balances the O(h^2) truncation of the central difference
        // against the O(eps/h) rounding, with a per-component floor for values near zero.
        let h = 1e-5 * y[j].abs().max(floor[j]);
        let mut yp = y.clone();
        let mut ym = y.clone();
        yp[j] += h;
        ym[j] -= h;
        let h2 = yp[j] - ym[j]; // the step actually taken, after rounding
        sys.rhs(t, &yp, &mut fp).unwrap();
        sys.rhs(t, &ym, &mut fm).unwrap();
        for rows in blocks.iter().cloned() {
            let scale = rows.clone().map(|i| jac[(i, j)].abs()).fold(0.0, f64::max);
            for i in rows {
                let fd = (fp[i] - fm[i]) / h2;
                let a = jac[(i, j)];
                assert!(fd.is_finite() && a.is_finite(), "non-finite at ({i}, {j})");
                let err = (a - fd).abs();
                if scale == 0.0 {
                    if err > 0.0 {
                        out.nonzero_where_zero.push((i, j, a, fd));
                    }
                    continue;
                }
                let rel = err / scale;
                if rel > out.worst_rel {
                    out.worst_rel = rel;
                    out.worst = (i, j, a, fd);
                }
                if j == nlev {
                    out.worst_temperature_column_rel = out.worst_temperature_column_rel.max(rel);
                }
            }
        }
    }
    out
}

/// Largest accepted |analytic - finite difference| per entry, relative to the largest |entry|
/// of its column among rows of the same unit (see [`check_jacobian`]).
///
/// Why this value: for the nonlinear column (U_ph, i.e. T through kappa(T) and the Bose factors)
/// the central difference at relative step 1e-5 has a truncation error ~2e-11 relative
/// (measured: it falls as h^2, from 2.5e-7 at step 1e-3 to 2.5e-9 at 1e-4), and rounding in the
/// right-hand side (large cancelling fluxes, kappa(T) from the slow-mode solver) adds ~1e-15/h
/// ~ 1e-10 (measured: it grows as 1/h below 1e-5). The population columns are exactly linear,
/// so only rounding is left there. The observed worst is ~1.2e-10 over all states and times, so
/// 1e-7 leaves a margin of ~1000, while a real mistake in a term (a missing d kappa/dT, a wrong
/// Bose derivative or dT/dU_ph, a sign, dB/dt) shows at 1e-2 or more: the test asserts below
/// that each part of the temperature column is over 1e3 times this tolerance.
const JAC_TOL: f64 = 1e-7;

#[test]
fn analytic_jacobian_matches_finite_differences() {
    let mat = Material::mn12ac();
    let rates = RateModel::new(mat.spin, mat.arrhenius, KappaScaling::Arrhenius).unwrap();
    // Ramp 0.5 T -> 0.1 T at 10 T/s: t_q = 0.04 s.
    let proto = Protocol::with_sweep_rate(0.5, 0.1, 10.0, RampShape::Linear).unwrap();
    let sys = FullSystem::new(&mat.spin, &mat.debye, &rates, &proto);
    let nlev = sys.n_levels();
    assert_eq!(sys.dim(), nlev + 2);
    let mut rng = Lcg(0x5eed_2026);

    // (B, T) of the populations and the phonon temperature, which differs from it.
    let states = [
        (0.5, 4.0, 4.6),
        (0.1, 2.5, 2.2),
        (1.0, 6.0, 6.9),
        (0.3, 3.2, 3.0),
    ];
    // Inside the ramp, t in [0, 0.04) s (dB/dt = -10 T/s), and at and after its end (dB/dt = 0).
    let times = [0.0, 0.013, 0.031, 0.04, 0.05];

    let mut worst = 0.0f64;
    let mut worst_t_col = 0.0f64;
    let mut failures = Vec::new();
    for &(b, t_pop, t_ph) in &states {
        let n = perturbed_populations(&mat, b, t_pop, &mut rng);
        let mut y = DVector::zeros(nlev + 2);
        for i in 0..nlev {
            y[i] = n[i];
        }
        y[nlev] = mat.debye.energy_k(t_ph);
        y[nlev + 1] = -1.7; // some magnetic work done so far, K
        let s: f64 = y.rows(0, nlev).sum();
        assert!((s - 1.0).abs() < 1e-14);
        assert!((sys.temperature_k(&y) - t_ph).abs() < 1e-12 * t_ph);
        // Floors: populations are probabilities (scale 1), and they enter the right-hand side
        // linearly, so a step of 1e-5 has no truncation error even for a level populated at
        // 1e-30, and keeps the rounding of the large cancelling fluxes small after dividing
        // by the step. U_ph and w are never near zero here.
        let mut floor = vec![1.0; nlev + 2];
        floor[nlev] = y[nlev];
        floor[nlev + 1] = 1.0;
        for &t in &times {
            let c = check_jacobian(&sys, t, &y, &floor);
            eprintln!(
                "B_pop={b} T_pop={t_pop} T_ph={t_ph} t={t}: worst rel {:.3e} at {:?}, T column {:.3e}",
                c.worst_rel, c.worst, c.worst_temperature_column_rel
            );
            // Teeth: the two parts of the temperature column, d kappa/dT (which is
            // d ln kappa/dT * dT/dU_ph times the right-hand side, as kappa multiplies every
            // rate) and the Bose-factor derivative (the rest), must each be far above the
            // tolerance in the population rows and in the U_ph row (the scales the check above
            // uses), so that dropping or mis-scaling either one fails it.
            let temp = sys.temperature_k(&y);
            let (_, dlnk) = rates.kappa_and_log_derivative(temp).unwrap();
            let dtdu = 1.0 / mat.debye.heat_capacity(temp);
            let mut f = DVector::zeros(nlev + 2);
            sys.rhs(t, &y, &mut f).unwrap();
            let mut jac = DMatrix::zeros(nlev + 2, nlev + 2);
            sys.jacobian(t, &y, &mut jac).unwrap();
            let kappa_col = &f * (dlnk * dtdu);
            let bose_col = jac.column(nlev) - &kappa_col;
            let pop_scale = jac.column(nlev).rows(0, nlev).amax();
            let parts = [
                kappa_col.rows(0, nlev).amax() / pop_scale,
                bose_col.rows(0, nlev).amax() / pop_scale,
                (kappa_col[nlev] / jac[(nlev, nlev)]).abs(),
                (bose_col[nlev] / jac[(nlev, nlev)]).abs(),
            ];
            eprintln!(
                "    T column parts (kappa', Bose) populations {:.3e} {:.3e}, U_ph row {:.3e} {:.3e}",
                parts[0], parts[1], parts[2], parts[3]
            );
            assert!(parts.iter().all(|&p| p > 1e3 * JAC_TOL), "{parts:?}");
            worst = worst.max(c.worst_rel);
            worst_t_col = worst_t_col.max(c.worst_temperature_column_rel);
            if c.worst_rel > JAC_TOL || !c.nonzero_where_zero.is_empty() {
                failures.push((
                    b,
                    t_pop,
                    t_ph,
                    t,
                    c.worst_rel,
                    c.worst,
                    c.nonzero_where_zero,
                ));
            }
        }
    }
    eprintln!(
        "overall worst relative entry error {worst:.3e}, temperature column {worst_t_col:.3e}"
    );
    assert!(failures.is_empty(), "Jacobian disagrees: {failures:?}");
}

/// The engine's right-hand side as an `ode_solvers` system.
struct Explicit<'a, 'b>(&'a FullSystem<'b>);

impl System<f64, DVector<f64>> for Explicit<'_, '_> {
    fn system(&self, t: f64, y: &DVector<f64>, dy: &mut DVector<f64>) {
        if self.0.rhs(t, y, dy).is_err() {
            dy.fill(f64::NAN);
        }
    }
}

#[test]
fn explicit_dopri5_agrees_with_radau_on_a_short_window() {
    let mat = Material::mn12ac();
    let rates = RateModel::new(mat.spin, mat.arrhenius, KappaScaling::Arrhenius).unwrap();
    let (bi, bf, ti) = (0.5, 0.1, 4.0);
    let proto = Protocol::jump(bi, bf).unwrap();
    let sys = FullSystem::new(&mat.spin, &mat.debye, &rates, &proto);
    let nlev = sys.n_levels();

    let n0 = boltzmann(&mat.spin.energies(bi), ti);
    let mut y0 = DVector::zeros(nlev + 2);
    for i in 0..nlev {
        y0[i] = n0[i];
    }
    y0[nlev] = mat.debye.energy_k(ti);
    y0[nlev + 1] = (0..nlev)
        .map(|i| n0[i] * (mat.spin.energy_k(i, bf) - mat.spin.energy_k(i, bi)))
        .sum();
    let t_end = 2e-7;

    // Radau IIA(5), the engine's integrator.
    let tol = Tolerances {
        rtol: 1e-10,
        atol: vec![1e-14; nlev + 2],
        max_steps: 100_000,
    };
    let mut radau = Radau5::new(&sys, 0.0, y0.clone(), 1e-12, tol);
    while radau.t() < t_end {
        radau.step(&sys, t_end).unwrap();
    }
    assert!((radau.t() - t_end).abs() <= 1e-15 * t_end);
    let y_radau = radau.y().clone();

    // Dormand-Prince 5(4) from ode_solvers, one output per accepted step. The window takes
    // ~500 steps of ~4e-10 s; the count grows with tighter rtol (356, 496, 564 steps at 1e-12,
    // 1e-13, 1e-14), so the steps are set by accuracy, not stability, and the stiffness
    // detector (first run at accepted step 1000) never fires.
    let mut dopri = Dopri5::new(Explicit(&sys), 0.0, t_end, t_end, y0.clone(), 1e-13, 1e-16);
    dopri.set_output(OutputType::Sparse);
    let stats = dopri.integrate().unwrap();
    let t_last = *dopri.x_out().last().unwrap();
    assert!((t_last - t_end).abs() <= 1e-15 * t_end);
    let y_dopri = dopri.y_out().last().unwrap().clone();

    let sum_r: f64 = y_radau.rows(0, nlev).sum();
    let sum_d: f64 = y_dopri.rows(0, nlev).sum();
    let dn = (0..nlev)
        .map(|i| (y_radau[i] - y_dopri[i]).abs())
        .fold(0.0, f64::max);
    let temp_r = sys.temperature_k(&y_radau);
    let temp_d = sys.temperature_k(&y_dopri);
    let moved = (0..nlev)
        .map(|i| (y_radau[i] - n0[i]).abs())
        .fold(0.0, f64::max);
    eprintln!(
        "Radau: {:?}\nDopri5: {stats}\nmax |dn| = {dn:.3e} (populations moved by up to {moved:.3e}), \
         T: {temp_r:.15} vs {temp_d:.15} (diff {:.3e} K, T moved by {:.3e} K), \
         sum-1: {:.3e} / {:.3e}, w: {:.3e} vs {:.3e}",
        radau.stats(),
        (temp_r - temp_d).abs(),
        temp_r - ti,
        sum_r - 1.0,
        sum_d - 1.0,
        y_radau[nlev + 1],
        y_dopri[nlev + 1],
    );
    assert!((sum_r - 1.0).abs() < 1e-12, "Radau population sum {sum_r}");
    assert!((sum_d - 1.0).abs() < 1e-12, "Dopri5 population sum {sum_d}");
    // The window is not trivial: the intra-well relaxation after the jump has moved the
    // populations by ~1.6e-3 and cooled the phonons by ~0.094 K.
    assert!(moved > 1e-4, "populations moved by only {moved:e}");
    assert!(temp_r < ti - 0.05, "T moved only to {temp_r} K");
    // Measured: max |dn| ~1.5e-15, |dT| ~8e-14 K, i.e. agreement to rounding (Radau at rtol
    // 1e-10 is within ~3e-14 K of Dopri5 at rtol 1e-14; Dopri5 at 1e-12 shows its own ~5e-13 K
    // error). Asserted at the level Radau's rtol = 1e-10 allows, with margin: 1e-10 on
    // populations of size <= 1, and 1e-9 K on T (T = 3.9 K). T is the more sensitive one: an
    // error dn moves U_ph by E dn with E spanning ~70 K, and T by that over C_ph ~ 0.2.
    assert!(dn < 1e-10, "populations differ by {dn:e}");
    assert!(
        (temp_r - temp_d).abs() < 1e-9,
        "temperatures {temp_r} vs {temp_d}"
    );
}
