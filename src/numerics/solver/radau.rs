//! Radau IIA, 3 stages, order 5 (Hairer & Wanner, Solving ODEs II, IV.8). The Newton system
//! I - h A (x) J (3n x 3n) is split, as in Hairer's RADAU5, by the eigen-decomposition
//! T^-1 A^-1 T = diag(gamma, [[alpha, -beta], [beta, alpha]]) into one real n x n system
//! (gamma/h - J) and one complex n x n system ((alpha + i beta)/h - J): about a fifth of the
//! work of factoring the 3n x 3n matrix, with the same Newton iterates. The embedded third-order
//! error estimate is filtered through (I - h gamma0 J)^-1 = (gamma/h - J)^-1 / (h gamma0),
//! reusing the real factors; the collocation polynomial is the dense output.

use super::bordered::BorderedLu;
use super::{OdeSystem, SolverError, SolverStats, StepError, Tolerances};
use nalgebra::{Complex, ComplexField, DMatrix, DVector, Dyn, LU};

/// Butcher tableau of Radau IIA(5) and its embedded error weights.
#[derive(Debug, Clone, PartialEq)]
pub struct RadauCoefficients {
    /// Stage matrix A.
    pub a: [[f64; 3]; 3],
    /// Nodes c.
    pub c: [f64; 3],
    /// Real eigenvalue of A (gamma0 = 0.2748888...).
    pub gamma0: f64,
    /// Error weights: err = (I - h gamma0 J)^-1 (gamma0 h f0 + sum e_j z_j).
    pub e: [f64; 3],
    /// Real eigenvalue of A^-1 (1/gamma0).
    pub gamma: f64,
    /// Complex eigenvalues of A^-1: alpha +- i beta (beta > 0).
    pub alpha: f64,
    /// See `alpha`.
    pub beta: f64,
    /// T with T^-1 A^-1 T = [[gamma, 0, 0], [0, alpha, -beta], [0, beta, alpha]].
    pub t: [[f64; 3]; 3],
    /// T^-1.
    pub t_inv: [[f64; 3]; 3],
}

/// Factors of a Newton matrix: bordered band (cheap) when the system declares that structure
/// and the band pivots are non-zero, dense pivoted LU otherwise.
#[derive(Debug, Clone)]
enum Factors<T: ComplexField> {
    Dense(LU<T, Dyn, Dyn>),
    Bordered(BorderedLu<T>),
}

impl<T: ComplexField<RealField = f64> + Copy> Factors<T> {
    /// Factors of the n x n matrix sigma I - J (`jac` is J): bordered band where the system
    /// has that structure (only the band and border entries are written: the bordered LU
    /// reads no other), a dense pivoted LU otherwise or if a band pivot fails (the whole
    /// matrix is filled then, as the failed elimination has overwritten it). `None` if it is
    /// singular. `spare` is storage of earlier factors to fill (no allocation).
    fn new(
        jac: &DMatrix<f64>,
        sigma: T,
        spare: Option<DMatrix<T>>,
        n: usize,
        structure: Option<(usize, usize)>,
    ) -> Option<Self> {
        let entry = |j: f64| T::from_real(-j);
        let mut spare = spare.filter(|m| m.nrows() == n && m.ncols() == n);
        if let Some((nb, band)) = structure {
            let mut m = spare.take().unwrap_or_else(|| DMatrix::zeros(n, n));
            {
                let (ms, js) = (m.as_mut_slice(), jac.as_slice());
                for (c, (mc, jc)) in ms.chunks_exact_mut(n).zip(js.chunks_exact(n)).enumerate() {
                    // Column c: the band rows of a band column (all rows of a border column),
                    // and the border rows.
                    let (lo, hi) = if c < nb {
                        (c.saturating_sub(band), (c + band + 1).min(nb))
                    } else {
                        (0, nb)
                    };
                    for (e, &j) in mc[lo..hi].iter_mut().zip(&jc[lo..hi]) {
                        *e = entry(j);
                    }
                    for (e, &j) in mc[nb..].iter_mut().zip(&jc[nb..]) {
                        *e = entry(j);
                    }
                    mc[c] += sigma;
                }
            }
            if let Some(f) = BorderedLu::new(m, nb, band) {
                return Some(Factors::Bordered(f));
            }
        }
        let mut m = spare.take().unwrap_or_else(|| DMatrix::zeros(n, n));
        for (e, &j) in m.as_mut_slice().iter_mut().zip(jac.as_slice()) {
            *e = entry(j);
        }
        for i in 0..n {
            m[(i, i)] += sigma;
        }
        let lu = m.lu();
        lu.is_invertible().then_some(Factors::Dense(lu))
    }

    /// The storage of bordered factors, for the next ones.
    fn into_storage(self) -> Option<DMatrix<T>> {
        match self {
            Factors::Dense(_) => None,
            Factors::Bordered(f) => Some(f.into_matrix()),
        }
    }

    /// Solve in place; false if the dense factors are singular.
    fn solve_in_place(&self, b: &mut DVector<T>) -> bool {
        match self {
            Factors::Dense(lu) => lu.solve_mut(b),
            Factors::Bordered(f) => {
                f.solve_in_place(b);
                true
            }
        }
    }
}

impl Factors<f64> {
    /// Solve in place; if the dense factors are singular, `b` is left as it was (`backup`
    /// holds its copy then).
    fn solve_or_keep(&self, b: &mut DVector<f64>, backup: &mut DVector<f64>) {
        match self {
            Factors::Dense(lu) => {
                backup.copy_from(b);
                if !lu.solve_mut(b) {
                    b.copy_from(backup);
                }
            }
            Factors::Bordered(f) => f.solve_in_place(b),
        }
    }
}

/// The vectors a step works in, kept from step to step (no allocation per step).
#[derive(Debug, Clone)]
struct Work {
    /// Error scales sc_i = atol_i + rtol |y_i| (Newton) and with max(|y_i|, |y1_i|) (error).
    sc: DVector<f64>,
    sc1: DVector<f64>,
    /// Stage increments Z_i and their derivatives f(t + c_i h, y + Z_i).
    z: [DVector<f64>; 3],
    fz: [DVector<f64>; 3],
    yi: DVector<f64>,
    r1: DVector<f64>,
    r23: DVector<Complex<f64>>,
    y1: DVector<f64>,
    err: DVector<f64>,
    backup: DVector<f64>,
    yp: DVector<f64>,
    fp: DVector<f64>,
}

impl Work {
    /// Vectors of length `n`.
    fn new(n: usize) -> Self {
        let v = || DVector::zeros(n);
        Self {
            sc: v(),
            sc1: v(),
            z: [v(), v(), v()],
            fz: [v(), v(), v()],
            yi: v(),
            r1: v(),
            r23: DVector::from_element(n, Complex::new(0.0, 0.0)),
            y1: v(),
            err: v(),
            backup: v(),
            yp: v(),
            fp: v(),
        }
    }
}

/// A null vector of the singular 3x3 (complex) matrix m: the cross product of the pair of rows
/// with the largest one (the rows span a plane; their cross product is normal to it).
fn null_vector(m: &[[Complex<f64>; 3]; 3]) -> [Complex<f64>; 3] {
    let cross = |a: &[Complex<f64>; 3], b: &[Complex<f64>; 3]| {
        [
            a[1] * b[2] - a[2] * b[1],
            a[2] * b[0] - a[0] * b[2],
            a[0] * b[1] - a[1] * b[0],
        ]
    };
    let norm = |v: &[Complex<f64>; 3]| v.iter().map(|c| c.norm_sqr()).sum::<f64>();
    let cands = [
        cross(&m[0], &m[1]),
        cross(&m[0], &m[2]),
        cross(&m[1], &m[2]),
    ];
    let mut best = cands[0];
    for c in cands {
        if norm(&c) > norm(&best) {
            best = c;
        }
    }
    best
}

impl Default for RadauCoefficients {
    fn default() -> Self {
        Self::new()
    }
}

impl RadauCoefficients {
    /// Build the tableau. The error weights are derived here, not typed in: the embedded formula
    /// y^ = y0 + h (gamma0 f(y0) + sum bh_i f(Y_i)) of order 3 gives
    /// bh from sum bh_i c_i^(k-1) = 1/k - gamma0 [k = 1], k = 1..3, and
    /// e = (bh - b)^T A^-1 (the stage derivatives are A^-1 z / h).
    pub fn new() -> Self {
        let s6 = 6f64.sqrt();
        let a = [
            [
                (88.0 - 7.0 * s6) / 360.0,
                (296.0 - 169.0 * s6) / 1800.0,
                (-2.0 + 3.0 * s6) / 225.0,
            ],
            [
                (296.0 + 169.0 * s6) / 1800.0,
                (88.0 + 7.0 * s6) / 360.0,
                (-2.0 - 3.0 * s6) / 225.0,
            ],
            [(16.0 - s6) / 36.0, (16.0 + s6) / 36.0, 1.0 / 9.0],
        ];
        let c = [(4.0 - s6) / 10.0, (4.0 + s6) / 10.0, 1.0];
        let gamma0 = (6.0 + 81f64.cbrt() - 9f64.cbrt()) / 30.0;
        let b = a[2];
        let v = DMatrix::from_fn(3, 3, |k, i| c[i].powi(k as i32));
        let rhs = DVector::from_vec(vec![1.0 - gamma0, 0.5, 1.0 / 3.0]);
        let bh = v
            .lu()
            .solve(&rhs)
            .expect("Vandermonde of distinct nodes is regular");
        let am = DMatrix::from_fn(3, 3, |i, j| a[i][j]);
        let ainv = am.try_inverse().expect("A is regular");
        let mut e = [0.0; 3];
        for (j, ej) in e.iter_mut().enumerate() {
            *ej = (0..3).map(|i| (bh[i] - b[i]) * ainv[(i, j)]).sum();
        }
        // Eigen-decomposition of A^-1: the real eigenvalue 1/gamma0 and the pair alpha +- i beta.
        let eig = ainv.complex_eigenvalues();
        let pair = eig
            .iter()
            .copied()
            .max_by(|x, y| x.im.abs().total_cmp(&y.im.abs()))
            .expect("three eigenvalues");
        let (gamma, alpha, beta) = (1.0 / gamma0, pair.re, pair.im.abs());
        let shifted = |lambda: Complex<f64>| {
            let mut m = [[Complex::new(0.0, 0.0); 3]; 3];
            for (i, row) in m.iter_mut().enumerate() {
                for (j, v) in row.iter_mut().enumerate() {
                    *v = Complex::new(ainv[(i, j)], 0.0) - if i == j { lambda } else { 0.0.into() };
                }
            }
            m
        };
        let v1 = null_vector(&shifted(Complex::new(gamma, 0.0)));
        // t2 + i t3 is the eigenvector of alpha - i beta.
        let v2 = null_vector(&shifted(Complex::new(alpha, -beta)));
        let mut t = [[0.0; 3]; 3];
        for i in 0..3 {
            t[i] = [v1[i].re, v2[i].re, v2[i].im];
        }
        let tm = DMatrix::from_fn(3, 3, |i, j| t[i][j]);
        let ti = tm
            .try_inverse()
            .expect("eigenvectors of distinct eigenvalues are independent");
        let t_inv = std::array::from_fn(|i| std::array::from_fn(|j| ti[(i, j)]));
        Self {
            a,
            c,
            gamma0,
            e,
            gamma,
            alpha,
            beta,
            t,
            t_inv,
        }
    }
}

/// Radau IIA(5) integrator holding the current state; each [`Radau5::step`] takes one accepted
/// step. `E` is the error type of the system it integrates.
#[derive(Debug, Clone)]
pub struct Radau5<E> {
    co: RadauCoefficients,
    tol: Tolerances,
    t: f64,
    y: DVector<f64>,
    f0: DVector<f64>,
    h: f64,
    stats: SolverStats,
    last_rejected: bool,
    first: bool,
    /// theta/(1 - theta) of the last measured Newton contraction theta, carried to the next
    /// step's first iteration (as in RADAU5).
    faccon: f64,
    /// The last measured Newton contraction theta (kept over steps whose iteration ended
    /// after one correction, which measures none): with `radau5_newton`, the next step keeps
    /// or renews the Jacobian on it (RADAU5's THETA).
    theta: f64,
    /// RADAU5's own Newton stopping level and Jacobian rule ([`Radau5::with_radau5_newton`])
    /// instead of the stricter default.
    radau5_newton: bool,
    /// Newton contraction rate up to which the next step keeps the Jacobian
    /// ([`JAC_REUSE_THETA`] unless set by [`Radau5::with_jac_reuse_theta`]).
    jac_reuse_theta: f64,
    /// The Jacobian of the last steps and whether the next step may use it again (the last
    /// Newton iteration contracted by theta <= `JAC_REUSE_THETA`).
    jac: DMatrix<f64>,
    reuse_jac: bool,
    /// The time at which `jac` was evaluated.
    jac_t: f64,
    /// Newton matrix factors of the last accepted step and its size, reused while neither h
    /// nor the Jacobian changes.
    factors: Option<(f64, Factors<f64>, Factors<Complex<f64>>)>,
    /// Storage of dropped factors, filled by the next ones.
    spare: (Option<DMatrix<f64>>, Option<DMatrix<Complex<f64>>>),
    // Last accepted step, for dense output: [t_prev, t_prev + h_prev], y_prev and stage z.
    t_prev: f64,
    h_prev: f64,
    y_prev: DVector<f64>,
    z_prev: [DVector<f64>; 3],
    have_prev: bool,
    /// The system's first failed evaluation (time and error): such a stage is treated as
    /// non-finite, and the failure is reported if a step then cannot be completed.
    failure: Option<(f64, E)>,
    /// The step's vectors (taken out of `self` while a step runs).
    work: Work,
    /// The state at the middle of the coming step, where a fresh Jacobian is taken.
    y_mid: DVector<f64>,
}

/// Newton contraction rate below which the next step keeps the Jacobian (RADAU5's THET,
/// whose default is 1e-3; 1e-4 needs the fewest instructions over the benchmark runs, where a
/// Jacobian costs half an LU pair).
const JAC_REUSE_THETA: f64 = 1e-4;

fn scaled_rms(x: &DVector<f64>, sc: &DVector<f64>) -> f64 {
    let n = x.len() as f64;
    (x.iter()
        .zip(sc.iter())
        .map(|(v, s)| (v / s).powi(2))
        .sum::<f64>()
        / n)
        .sqrt()
}

/// Lagrange basis on the nodes {0, c1, c2, 1}, for the stage values (nodes c1, c2, 1).
fn basis(c: &[f64; 3], s: f64) -> [f64; 3] {
    let nodes = [0.0, c[0], c[1], c[2]];
    let mut out = [0.0; 3];
    for (k, o) in out.iter_mut().enumerate() {
        let i = k + 1;
        let mut l = 1.0;
        for (j, &xj) in nodes.iter().enumerate() {
            if j != i {
                l *= (s - xj) / (nodes[i] - xj);
            }
        }
        *o = l;
    }
    out
}

impl<E> Radau5<E> {
    /// Start at (t0, y0) with a first trial step `h0` (> 0).
    pub fn new(
        sys: &impl OdeSystem<Error = E>,
        t0: f64,
        y0: DVector<f64>,
        h0: f64,
        tol: Tolerances,
    ) -> Self {
        let n = sys.dim();
        assert_eq!(
            y0.len(),
            n,
            "state length differs from the system dimension"
        );
        assert_eq!(
            tol.atol.len(),
            n,
            "atol length differs from the system dimension"
        );
        let mut f0 = DVector::zeros(n);
        let mut failure = None;
        Self::eval(sys, &mut failure, t0, &y0, &mut f0);
        let stats = SolverStats {
            rhs_evals: 1,
            ..Default::default()
        };
        Self {
            co: RadauCoefficients::new(),
            tol,
            t: t0,
            y: y0.clone(),
            f0,
            h: h0,
            stats,
            last_rejected: false,
            first: true,
            faccon: 1.0,
            theta: 1.0,
            radau5_newton: false,
            jac_reuse_theta: JAC_REUSE_THETA,
            jac: DMatrix::zeros(0, 0),
            reuse_jac: false,
            jac_t: t0,
            factors: None,
            spare: (None, None),
            t_prev: t0,
            h_prev: 0.0,
            y_prev: y0,
            z_prev: [DVector::zeros(n), DVector::zeros(n), DVector::zeros(n)],
            have_prev: false,
            failure,
            work: Work::new(n),
            y_mid: DVector::zeros(n),
        }
    }

    /// Stop the Newton iteration at RADAU5's own level, about 3 % of the local error
    /// tolerance (Hairer & Wanner's kappa Tol with kappa = 0.03; the default stops at
    /// ~1e-3 of it), and keep or renew the Jacobian on the last measured contraction, as
    /// RADAU5 does (a step ended by its first correction measures none). About one Newton
    /// iteration per step fewer where the predictor misses by ~10 tolerances and the
    /// iteration contracts by ~1e-4 per iteration, at the same steps.
    ///
    /// Only for systems whose linear invariants have constant coefficients (c^T f(t, y) = 0
    /// for all t, y with c fixed, as the full equation at a fixed field conserves the
    /// population sum and the energy): every simplified Newton iterate keeps such an
    /// invariant whatever its convergence, since c^T J = 0 for the Jacobian at any point.
    /// Where the coefficients change with t (the energy during a field ramp, E_M(B(t))),
    /// the unconverged part of the iteration breaks the invariant: a ramp's energy balance
    /// error grew from ~1e-12 to 5e-9 K at rtol 1e-8 with this level.
    pub fn with_radau5_newton(mut self) -> Self {
        self.radau5_newton = true;
        self
    }

    /// Keep the Jacobian for the next step while the last Newton iteration contracted by
    /// at most `theta` (instead of [`JAC_REUSE_THETA`]).
    pub fn with_jac_reuse_theta(mut self, theta: f64) -> Self {
        self.jac_reuse_theta = theta;
        self
    }

    /// f(t, y) into `dy`; a failed evaluation leaves `dy` NaN (so the step is rejected like a
    /// non-finite one) and is remembered in `failure` if it is the first.
    fn eval(
        sys: &impl OdeSystem<Error = E>,
        failure: &mut Option<(f64, E)>,
        t: f64,
        y: &DVector<f64>,
        dy: &mut DVector<f64>,
    ) {
        if let Err(e) = sys.rhs(t, y, dy) {
            dy.fill(f64::NAN);
            failure.get_or_insert((t, e));
        }
    }

    /// The error to report for a step that failed with `e`: the system's first failure if
    /// there was one (the cause), else the integrator's own.
    fn failed(&mut self, e: SolverError) -> StepError<E> {
        match self.failure.take() {
            Some((t, source)) => StepError::System { t, source },
            None => StepError::Solver(e),
        }
    }

    /// Current time.
    pub fn t(&self) -> f64 {
        self.t
    }

    /// Current state.
    pub fn y(&self) -> &DVector<f64> {
        &self.y
    }

    /// Next trial step size.
    pub fn h(&self) -> f64 {
        self.h
    }

    /// Work counters so far.
    pub fn stats(&self) -> SolverStats {
        self.stats
    }

    /// Interval [t_prev, t] of the last accepted step (equal ends before the first step).
    pub fn last_interval(&self) -> (f64, f64) {
        (self.t_prev, self.t)
    }

    /// State at time `t` inside the last accepted step, from the collocation polynomial
    /// (order-3 accurate dense output).
    pub fn dense(&self, t: f64) -> DVector<f64> {
        let mut out = DVector::zeros(self.y.len());
        self.dense_into(t, &mut out);
        out
    }

    /// [`Self::dense`] written into `out`.
    fn dense_into(&self, t: f64, out: &mut DVector<f64>) {
        if !self.have_prev || self.h_prev == 0.0 {
            out.copy_from(&self.y);
            return;
        }
        let l = basis(&self.co.c, (t - self.t_prev) / self.h_prev);
        out.copy_from(&self.y_prev);
        for (zi, li) in self.z_prev.iter().zip(l) {
            out.axpy(li, zi, 1.0);
        }
    }

    /// Take one accepted step, never beyond `t_stop` (which is reached exactly when the step
    /// would cross it: a hard stop).
    pub fn step(
        &mut self,
        sys: &impl OdeSystem<Error = E>,
        t_stop: f64,
    ) -> Result<(), StepError<E>> {
        let n = sys.dim();
        let mut w = std::mem::replace(&mut self.work, Work::new(0));
        if w.sc.len() != n {
            w = Work::new(n);
        }
        let done = self.step_with(sys, t_stop, &mut w);
        self.work = w;
        done
    }

    /// [`Self::step`] in the vectors `w` (of length n).
    fn step_with(
        &mut self,
        sys: &impl OdeSystem<Error = E>,
        t_stop: f64,
        w: &mut Work,
    ) -> Result<(), StepError<E>> {
        let n = sys.dim();
        let co = self.co.clone();
        // RADAU5's reuse: a Jacobian under which the last Newton iteration contracted fast is
        // good for the next step too (a stale one only slows the iteration; the collocation
        // solution it converges to is the same); a failure with it computes a fresh one.
        let mut jac_fresh = false;
        if !(self.reuse_jac && self.have_prev && !self.first && self.jac.nrows() == n) {
            self.fresh_jacobian(sys, t_stop);
            jac_fresh = true;
        }
        let uround = f64::EPSILON;
        // Newton stopping level: RADAU5's FNEWT = max(10 eps/rtol', min(0.03, sqrt(rtol')))
        // for its internal tolerance rtol' = 0.1 rtol^(2/3). By default it is applied in the
        // error scale `sc` of rtol itself: the iteration error stays below ~1e-3 of the local
        // error tolerance (6.8e-4 at rtol = 1e-8). RADAU5 applies it in the scale of rtol',
        // rtol'/rtol times `sc` (atol' = atol rtol'/rtol): in units of `sc` that is
        // FNEWT rtol'/rtol = 0.1^1.5 = 0.032 of the local error tolerance for rtol <= ~2e-4
        // ([`Self::with_radau5_newton`]).
        let rtol_h = 0.1 * self.tol.rtol.powf(2.0 / 3.0);
        let mut fnewt = (10.0 * uround / rtol_h).max(0.03f64.min(rtol_h.sqrt()));
        if self.radau5_newton {
            fnewt *= rtol_h / self.tol.rtol;
        }
        for (i, sci) in w.sc.iter_mut().enumerate() {
            *sci = self.tol.atol[i] + self.tol.rtol * self.y[i].abs();
        }
        loop {
            if self.stats.steps + self.stats.rejected >= self.tol.max_steps {
                return Err(self.failed(SolverError::TooManySteps {
                    t: self.t,
                    max_steps: self.tol.max_steps,
                }));
            }
            let remaining = t_stop - self.t;
            if remaining <= 4.0 * uround * t_stop.abs() {
                // Already at the stop up to rounding: snap to it.
                self.t = t_stop;
                return Ok(());
            }
            let mut h = self.h.min(remaining);
            let lands = h >= remaining * (1.0 - 1e-12);
            if lands {
                h = remaining;
            } else if h > 0.5 * remaining {
                // Two equal steps rather than a long one and a sliver before the stop.
                h = 0.5 * remaining;
            }
            if h.is_nan() || h <= 16.0 * uround * self.t.abs().max(1e-300) {
                return Err(self.failed(SolverError::StepSizeTooSmall { t: self.t, h }));
            }
            // The split Newton system: (gamma/h - J) and ((alpha + i beta)/h - J).
            let (fac1, alphn, betan) = (co.gamma / h, co.alpha / h, co.beta / h);
            #[allow(clippy::float_cmp)] // the same step size, exactly, with the same Jacobian
            let (lu1, lu2) = match self.factors.take() {
                Some((hf, lu1, lu2)) if hf == h => (lu1, lu2),
                old => {
                    if let Some((_, lu1, lu2)) = old {
                        self.spare = (lu1.into_storage(), lu2.into_storage());
                    }
                    let structure = sys.bordered_band();
                    let lu1 = Factors::new(&self.jac, fac1, self.spare.0.take(), n, structure);
                    let lu2 = Factors::new(
                        &self.jac,
                        Complex::new(alphn, betan),
                        self.spare.1.take(),
                        n,
                        structure,
                    );
                    self.stats.lu_decomps += 2;
                    let (Some(lu1), Some(lu2)) = (lu1, lu2) else {
                        return Err(self.failed(SolverError::Singular { t: self.t, h }));
                    };
                    (lu1, lu2)
                }
            };
            // Initial guess from the previous collocation polynomial.
            let z = &mut w.z;
            if self.have_prev && !self.first {
                for (i, zi) in z.iter_mut().enumerate() {
                    self.dense_into(self.t + co.c[i] * h, zi);
                    *zi -= &self.y;
                }
                if z.iter().any(|zi| zi.iter().any(|v| !v.is_finite())) {
                    for zi in z.iter_mut() {
                        zi.fill(0.0);
                    }
                }
            } else {
                for zi in z.iter_mut() {
                    zi.fill(0.0);
                }
            }
            let mut converged = false;
            let mut norm_prev = 0.0;
            // The contraction rate expected from the last steps (RADAU5's FACCON): an iteration
            // whose correction times it is below the stopping level ends the iteration, the
            // first one included.
            self.faccon = self.faccon.max(uround).powf(0.8);
            let mut theta_seen: Option<f64> = None;
            let (fz, yi, r1, r23) = (&mut w.fz, &mut w.yi, &mut w.r1, &mut w.r23);
            for f in fz.iter_mut() {
                f.fill(0.0);
            }
            for k in 0..10 {
                for i in 0..3 {
                    yi.copy_from(&self.y);
                    *yi += &z[i];
                    Self::eval(sys, &mut self.failure, self.t + co.c[i] * h, yi, &mut fz[i]);
                }
                self.stats.rhs_evals += 3;
                self.stats.newton_iters += 1;
                // Transformed residual T^-1 F - (Lambda/h) T^-1 Z, component by component.
                let ti = &co.t_inv;
                let mut finite = true;
                {
                    let (f0, f1, f2) = (fz[0].as_slice(), fz[1].as_slice(), fz[2].as_slice());
                    let (z0, z1, z2) = (z[0].as_slice(), z[1].as_slice(), z[2].as_slice());
                    let (r1s, r23s) = (r1.as_mut_slice(), r23.as_mut_slice());
                    for p in 0..n {
                        let (a, b, c) = (f0[p], f1[p], f2[p]);
                        let fw0 = ti[0][0] * a + ti[0][1] * b + ti[0][2] * c;
                        let fw1 = ti[1][0] * a + ti[1][1] * b + ti[1][2] * c;
                        let fw2 = ti[2][0] * a + ti[2][1] * b + ti[2][2] * c;
                        let (a, b, c) = (z0[p], z1[p], z2[p]);
                        let w0 = ti[0][0] * a + ti[0][1] * b + ti[0][2] * c;
                        let w1 = ti[1][0] * a + ti[1][1] * b + ti[1][2] * c;
                        let w2 = ti[2][0] * a + ti[2][1] * b + ti[2][2] * c;
                        let v1 = fw0 - fac1 * w0;
                        let v2 = fw1 - (alphn * w1 - betan * w2);
                        let v3 = fw2 - (betan * w1 + alphn * w2);
                        finite &= v1.is_finite() && v2.is_finite() && v3.is_finite();
                        r1s[p] = v1;
                        r23s[p] = Complex::new(v2, v3);
                    }
                }
                if !finite {
                    break;
                }
                if !(lu1.solve_in_place(r1) && lu2.solve_in_place(r23)) {
                    break;
                }
                let mut nrm2 = 0.0;
                {
                    let tm = &co.t;
                    let [z0, z1, z2] = z;
                    let (z0, z1, z2) = (z0.as_mut_slice(), z1.as_mut_slice(), z2.as_mut_slice());
                    let (r1s, r23s, scs) = (r1.as_slice(), r23.as_slice(), w.sc.as_slice());
                    for p in 0..n {
                        let (a, b, c) = (r1s[p], r23s[p].re, r23s[p].im);
                        let d0 = tm[0][0] * a + tm[0][1] * b + tm[0][2] * c;
                        let d1 = tm[1][0] * a + tm[1][1] * b + tm[1][2] * c;
                        let d2 = tm[2][0] * a + tm[2][1] * b + tm[2][2] * c;
                        z0[p] += d0;
                        z1[p] += d1;
                        z2[p] += d2;
                        let inv = 1.0 / scs[p];
                        nrm2 += (d0 * inv).powi(2) + (d1 * inv).powi(2) + (d2 * inv).powi(2);
                    }
                }
                let norm = (nrm2 / (3 * n) as f64).sqrt();
                if k > 0 {
                    let theta = norm / norm_prev;
                    if theta >= 0.99 {
                        break;
                    }
                    self.faccon = theta / (1.0 - theta);
                    theta_seen = Some(theta);
                }
                if self.faccon * norm <= fnewt {
                    converged = true;
                    break;
                }
                norm_prev = norm;
            }
            if !converged {
                self.reject(sys, 0.5 * h, t_stop, &mut jac_fresh);
                continue;
            }
            let z = &w.z;
            let y1 = &mut w.y1;
            y1.copy_from(&z[2]);
            *y1 += &self.y;
            // Embedded error estimate, filtered by (I - h gamma0 J)^-1 = (gamma/h - J)^-1 / (h gamma0):
            // err = (gamma/h - J)^-1 (f0 + sum_j e_j z_j / (gamma0 h)).
            let filtered = |f: &DVector<f64>, v: &mut DVector<f64>, backup: &mut DVector<f64>| {
                v.copy_from(f);
                let scale = 1.0 / (h * co.gamma0);
                {
                    let vs = v.as_mut_slice();
                    let (z0, z1, z2) = (z[0].as_slice(), z[1].as_slice(), z[2].as_slice());
                    for q in 0..vs.len() {
                        vs[q] += scale * (co.e[0] * z0[q] + co.e[1] * z1[q] + co.e[2] * z2[q]);
                    }
                }
                lu1.solve_or_keep(v, backup);
            };
            let (err, backup) = (&mut w.err, &mut w.backup);
            filtered(&self.f0, err, backup);
            for (i, s1) in w.sc1.iter_mut().enumerate() {
                *s1 = self.tol.atol[i] + self.tol.rtol * self.y[i].abs().max(y1[i].abs());
            }
            let mut errn = scaled_rms(err, &w.sc1);
            if errn >= 1.0 && (self.first || self.last_rejected) {
                // Hairer's refinement for the first and rejected steps: one more filtering.
                let (yp, fp) = (&mut w.yp, &mut w.fp);
                yp.copy_from(&self.y);
                *yp += &*err;
                fp.fill(0.0);
                Self::eval(sys, &mut self.failure, self.t, yp, fp);
                self.stats.rhs_evals += 1;
                filtered(fp, err, backup);
                errn = scaled_rms(err, &w.sc1);
            }
            if !errn.is_finite() || y1.iter().any(|v| !v.is_finite()) {
                self.reject(sys, 0.25 * h, t_stop, &mut jac_fresh);
                if self.h < 1e-300 {
                    return Err(self.failed(SolverError::NonFinite { t: self.t }));
                }
                continue;
            }
            let fac = if errn == 0.0 {
                8.0
            } else {
                (0.9 * errn.powf(-0.25)).clamp(0.2, 8.0)
            };
            let h_new = h * fac;
            if errn <= 1.0 {
                self.t_prev = self.t;
                self.h_prev = h;
                std::mem::swap(&mut self.y_prev, &mut self.y);
                std::mem::swap(&mut self.z_prev, &mut w.z);
                self.have_prev = true;
                self.t = if lands { t_stop } else { self.t + h };
                std::mem::swap(&mut self.y, &mut w.y1);
                Self::eval(sys, &mut self.failure, self.t, &self.y, &mut self.f0);
                self.stats.rhs_evals += 1;
                self.stats.steps += 1;
                // After a rejection, do not grow the step straight away.
                self.h = if self.last_rejected {
                    h_new.min(h)
                } else {
                    h_new
                };
                if lands && h < self.h {
                    // A hard stop shortened this step: keep the natural size for the next one.
                    self.h = self.h.max(h);
                }
                // Keep the Jacobian while Newton contracts fast under it; keep the factors
                // too (and h) when the step would grow by less than 20 % (RADAU5's rule).
                // The contraction is this step's; a step whose first correction ended the
                // iteration measured none, and then the expected one (faccon) decides, or
                // with RADAU5's rules (as RADAU5 does) the last one measured.
                if let Some(theta) = theta_seen {
                    self.theta = theta;
                }
                let theta = if self.radau5_newton {
                    self.theta
                } else {
                    theta_seen.unwrap_or(self.faccon)
                };
                self.reuse_jac = theta <= self.jac_reuse_theta;
                if self.reuse_jac && self.h >= h && self.h <= 1.2 * h && !lands {
                    self.h = h;
                }
                self.factors = Some((h, lu1, lu2));
                self.first = false;
                self.last_rejected = false;
                return Ok(());
            }
            self.reject(sys, h_new, t_stop, &mut jac_fresh);
        }
    }

    /// Evaluate the Jacobian for the coming step (and drop the factors of the old one).
    /// Simplified Newton converges to the same collocation solution with any Jacobian close
    /// enough; its rate is set by how far the stages are from where J was taken. J at the
    /// middle of the coming step (state from the last collocation polynomial) halves that
    /// distance: on stiff quasi-static stretches, where lambda1(T) changes across a step,
    /// this saves about one Newton iteration per step. At the start, or after a restart,
    /// J is taken at the current state.
    fn fresh_jacobian(&mut self, sys: &impl OdeSystem<Error = E>, t_stop: f64) {
        let n = sys.dim();
        if self.jac.nrows() != n {
            self.jac = DMatrix::zeros(n, n);
        }
        let t_mid = self.t + 0.5 * self.h.min((t_stop - self.t).max(0.0));
        let mut y_mid = std::mem::replace(&mut self.y_mid, DVector::zeros(0));
        if y_mid.len() != n {
            y_mid = DVector::zeros(n);
        }
        let mid = self.have_prev && !self.first && t_mid > self.t && {
            self.dense_into(t_mid, &mut y_mid);
            y_mid.iter().all(|v| v.is_finite())
        };
        let (t_jac, done) = if mid {
            (t_mid, sys.jacobian(t_mid, &y_mid, &mut self.jac))
        } else {
            (self.t, sys.jacobian(self.t, &self.y, &mut self.jac))
        };
        self.y_mid = y_mid;
        self.jac_t = t_jac;
        if let Err(e) = done {
            // A NaN Jacobian fails the Newton iteration: the step cannot be completed.
            self.jac.fill(f64::NAN);
            self.failure.get_or_insert((t_jac, e));
        }
        self.stats.jac_evals += 1;
        self.drop_factors();
    }

    /// A rejected step: retry with `h_new`, with a fresh Jacobian unless the current one was
    /// just evaluated for this step and lies within the shrunk step.
    fn reject(
        &mut self,
        sys: &impl OdeSystem<Error = E>,
        h_new: f64,
        t_stop: f64,
        jac_fresh: &mut bool,
    ) {
        self.h = h_new;
        self.stats.rejected += 1;
        self.last_rejected = true;
        if !*jac_fresh || self.jacobian_outside_step(t_stop) {
            self.fresh_jacobian(sys, t_stop);
            *jac_fresh = true;
        }
    }

    /// Drop the Newton factors, keeping their storage for the next ones.
    fn drop_factors(&mut self) {
        if let Some((_, lu1, lu2)) = self.factors.take() {
            self.spare = (lu1.into_storage(), lu2.into_storage());
        }
    }

    /// Whether the Jacobian was evaluated beyond the step about to be tried (after a
    /// rejection shrank it): the Jacobian is taken at the middle of the step it was computed
    /// for, and a rate that varies sharply in time (a tunnelling resonance, a Lorentzian in t
    /// 1e-3 s wide or less, met at the start of the step at a hard stop) can be orders of
    /// magnitude larger over the shrunk step than there. Simplified Newton then diverges at
    /// every step size (docs/numerics.md section 5, "Jacobian after a rejection").
    fn jacobian_outside_step(&self, t_stop: f64) -> bool {
        self.jac_t > self.t + self.h.min(t_stop - self.t)
    }

    /// Restart at a new state (after a discontinuity in the right-hand side), keeping the
    /// counters and the current step size.
    pub fn restart(&mut self, sys: &impl OdeSystem<Error = E>, t: f64, y: DVector<f64>) {
        self.t = t;
        self.y = y;
        Self::eval(sys, &mut self.failure, t, &self.y, &mut self.f0);
        self.stats.rhs_evals += 1;
        self.have_prev = false;
        self.first = true;
        self.last_rejected = false;
        self.reuse_jac = false;
        self.drop_factors();
        self.t_prev = t;
        self.h_prev = 0.0;
        self.y_prev = self.y.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tableau_conditions_and_derived_error_weights() {
        let co = RadauCoefficients::new();
        // C(3): sum_j a_ij c_j^(k-1) = c_i^k / k.
        for i in 0..3 {
            for k in 1..=3 {
                let s: f64 = (0..3).map(|j| co.a[i][j] * co.c[j].powi(k - 1)).sum();
                assert!((s - co.c[i].powi(k) / k as f64).abs() < 1e-15);
            }
        }
        // The derived weights equal Hairer's gamma0 * dd_i from RADAU5.
        let s6 = 6f64.sqrt();
        let dd = [
            -(13.0 + 7.0 * s6) / 3.0,
            (-13.0 + 7.0 * s6) / 3.0,
            -1.0 / 3.0,
        ];
        for j in 0..3 {
            assert!((co.e[j] - co.gamma0 * dd[j]).abs() < 1e-13, "{j}");
        }
        // gamma0 is an eigenvalue of A: det(A - gamma0 I) = 0.
        let a = DMatrix::from_fn(3, 3, |i, j| {
            co.a[i][j] - if i == j { co.gamma0 } else { 0.0 }
        });
        assert!(a.determinant().abs() < 1e-15);
        // The transformation: T^-1 A^-1 T = [[gamma, 0, 0], [0, alpha, -beta], [0, beta, alpha]].
        let am = DMatrix::from_fn(3, 3, |i, j| co.a[i][j]);
        let tm = DMatrix::from_fn(3, 3, |i, j| co.t[i][j]);
        let ti = DMatrix::from_fn(3, 3, |i, j| co.t_inv[i][j]);
        let lam = &ti * am.try_inverse().unwrap() * &tm;
        let want = [
            [co.gamma, 0.0, 0.0],
            [0.0, co.alpha, -co.beta],
            [0.0, co.beta, co.alpha],
        ];
        for i in 0..3 {
            for j in 0..3 {
                assert!(
                    (lam[(i, j)] - want[i][j]).abs() < 1e-12,
                    "{i}{j}: {}",
                    lam[(i, j)]
                );
            }
        }
        // Hairer's RADAU5 constants: gamma = 3.6378342527444957, alpha = 2.6810828736277521,
        // beta = 3.0504301992474105.
        assert!((co.gamma - 3.637_834_252_744_496).abs() < 1e-13);
        assert!((co.alpha - 2.681_082_873_627_752).abs() < 1e-13);
        assert!((co.beta - 3.050_430_199_247_411).abs() < 1e-13);
    }

    /// Two levels exchanging population at a rate that is a narrow Lorentzian in time, as a
    /// tunnelling resonance is during a field sweep: Gamma(t) = G / (1 + ((t - tc)/w)^2) with
    /// G = 1e13 1/s and w = 1e-3 s, towards the ratio y0/y1 = q(t) = exp(-(t - tc)/100 s), and
    /// a slow third component that lets the steps grow to seconds before tc.
    struct Resonance;
    const RES_TC: f64 = 930.767_335_552_279_3;
    impl Resonance {
        fn gamma(t: f64) -> f64 {
            let x = (t - RES_TC) / 1e-3;
            1e13 / (1.0 + x * x)
        }
        fn q(t: f64) -> f64 {
            (-(t - RES_TC) / 100.0).exp()
        }
    }
    impl OdeSystem for Resonance {
        type Error = std::convert::Infallible;
        fn dim(&self) -> usize {
            3
        }
        fn rhs(&self, t: f64, y: &DVector<f64>, dy: &mut DVector<f64>) -> Result<(), Self::Error> {
            let flux = Self::gamma(t) * (Self::q(t) * y[1] - y[0]);
            dy[0] = flux;
            dy[1] = -flux;
            dy[2] = -y[2] / 50.0;
            Ok(())
        }
        fn jacobian(
            &self,
            t: f64,
            _y: &DVector<f64>,
            j: &mut DMatrix<f64>,
        ) -> Result<(), Self::Error> {
            let (g, q) = (Self::gamma(t), Self::q(t));
            j.fill(0.0);
            j[(0, 0)] = -g;
            j[(0, 1)] = g * q;
            j[(1, 0)] = g;
            j[(1, 1)] = -g * q;
            j[(2, 2)] = -1.0 / 50.0;
            Ok(())
        }
    }

    /// The step that starts at a hard stop on the peak of a narrow resonance: the Jacobian of
    /// the long step tried first is taken at its middle, off the peak by 1e2-1e3 widths, where
    /// the rate is 1e5-1e6 times smaller; simplified Newton with it diverges at every step size
    /// down to the rounding of t ("step size too small" at 1.654 T in the hysteresis loop of
    /// docs/figures/hysteresis_loop_tunnelling before the Jacobian was re-evaluated within the
    /// shrunk step). The pair stays on its quasi-static ratio and the sum is conserved.
    #[test]
    fn a_narrow_resonance_at_a_hard_stop_is_passed() {
        let tol = Tolerances {
            rtol: 1e-8,
            atol: vec![1e-16; 3],
            max_steps: 10_000,
        };
        let t0 = 900.0;
        let q0 = Resonance::q(t0);
        let y0 = DVector::from_vec(vec![q0 / (1.0 + q0), 1.0 / (1.0 + q0), 1.0]);
        let mut s = Radau5::new(&Resonance, t0, y0, 1e-3, tol);
        for stop in [RES_TC, 960.0] {
            while s.t() < stop {
                s.step(&Resonance, stop).unwrap();
            }
        }
        let y = s.y();
        assert!((y[0] + y[1] - 1.0).abs() < 1e-13, "{y}");
        // Quasi-static: the lag of the ratio behind q is q'/(Gamma q) ~ 1e-7 at 960 s.
        assert!(
            (y[0] / y[1] / Resonance::q(960.0) - 1.0).abs() < 1e-6,
            "{y}"
        );
        assert!((y[2] / (-60.0f64 / 50.0).exp() - 1.0).abs() < 1e-7, "{y}");
        assert!(s.stats().steps < 500, "{:?}", s.stats());
    }

    /// Robertson's stiff chemistry problem against its reference at t = 40.
    struct Robertson;
    impl OdeSystem for Robertson {
        type Error = std::convert::Infallible;
        fn dim(&self) -> usize {
            3
        }
        fn rhs(&self, _t: f64, y: &DVector<f64>, dy: &mut DVector<f64>) -> Result<(), Self::Error> {
            dy[0] = -0.04 * y[0] + 1e4 * y[1] * y[2];
            dy[1] = 0.04 * y[0] - 1e4 * y[1] * y[2] - 3e7 * y[1] * y[1];
            dy[2] = 3e7 * y[1] * y[1];
            Ok(())
        }
        fn jacobian(
            &self,
            _t: f64,
            y: &DVector<f64>,
            j: &mut DMatrix<f64>,
        ) -> Result<(), Self::Error> {
            j[(0, 0)] = -0.04;
            j[(0, 1)] = 1e4 * y[2];
            j[(0, 2)] = 1e4 * y[1];
            j[(1, 0)] = 0.04;
            j[(1, 1)] = -1e4 * y[2] - 6e7 * y[1];
            j[(1, 2)] = -1e4 * y[1];
            j[(2, 0)] = 0.0;
            j[(2, 1)] = 6e7 * y[1];
            j[(2, 2)] = 0.0;
            Ok(())
        }
    }

    /// Robertson's problem from (1, 0, 0) to t = 40 at rtol 1e-10 with a solver set up by
    /// `setup`: the state, the counters and the largest |y1 + y2 + y3 - 1| after a step.
    fn robertson_to_40(
        setup: impl FnOnce(Radau5<std::convert::Infallible>) -> Radau5<std::convert::Infallible>,
    ) -> (DVector<f64>, SolverStats, f64) {
        let tol = Tolerances {
            rtol: 1e-10,
            atol: vec![1e-14; 3],
            max_steps: 100_000,
        };
        let y0 = DVector::from_vec(vec![1.0, 0.0, 0.0]);
        let mut s = setup(Radau5::new(&Robertson, 0.0, y0, 1e-8, tol));
        let mut worst: f64 = 0.0;
        while s.t() < 40.0 {
            s.step(&Robertson, 40.0).unwrap();
            worst = worst.max((s.y().sum() - 1.0).abs());
        }
        assert_eq!(
            s.t().to_bits(),
            40f64.to_bits(),
            "the hard stop is hit exactly"
        );
        (s.y().clone(), s.stats(), worst)
    }

    /// Hairer & Wanner's reference values of Robertson's problem at t = 40, to 1e-8.
    fn assert_robertson_reference(y: &DVector<f64>) {
        let r = [
            0.715_827_068_707_1,
            9.185_534_764_64e-6,
            0.284_163_745_758_1,
        ];
        for i in 0..3 {
            assert!(
                (y[i] / r[i] - 1.0).abs() < 1e-8,
                "{i}: {} vs {}",
                y[i],
                r[i]
            );
        }
    }

    #[test]
    fn robertson_reference() {
        let (y, stats, _) = robertson_to_40(|s| s);
        assert_robertson_reference(&y);
        assert!(stats.steps < 800, "{stats:?}");
    }

    /// RADAU5's Newton level (`with_radau5_newton`) on Robertson's problem, whose linear
    /// invariant y1 + y2 + y3 = 1 has constant coefficients (its Jacobian's columns sum to
    /// zero): the same reference values, the sum kept to rounding at every step although the
    /// iteration stops at ~3 % of the local error tolerance (an iteration error of ~2e-12 in
    /// y1 is allowed: observed 1.3e-15 in the sum, 1.0e-15 at the default level), and fewer
    /// Newton iterations than the default level (880 against 1,242).
    #[test]
    fn radau5_newton_level_keeps_a_constant_coefficient_invariant() {
        let (_, default_stats, default_worst) = robertson_to_40(|s| s);
        let (y, stats, worst) = robertson_to_40(|s| s.with_radau5_newton());
        assert_robertson_reference(&y);
        assert!(
            worst < 1e-14,
            "sum off by {worst:e} (default level {default_worst:e})"
        );
        assert!(
            stats.newton_iters < default_stats.newton_iters,
            "{stats:?} against {default_stats:?}"
        );
    }

    /// A looser Jacobian reuse rule (`with_jac_reuse_theta(1e-2)`, as the reduced ramp uses)
    /// on Robertson's problem: the same reference values at rtol 1e-10 with fewer Jacobians
    /// than the default rule (theta <= 1e-4); a stale Jacobian only slows the simplified
    /// Newton iteration, whose limit is the same collocation solution.
    #[test]
    fn looser_jacobian_reuse_keeps_the_solution_with_fewer_jacobians() {
        let (_, default_stats, _) = robertson_to_40(|s| s);
        let (y, stats, _) = robertson_to_40(|s| s.with_jac_reuse_theta(1e-2));
        assert_robertson_reference(&y);
        assert!(
            stats.jac_evals < default_stats.jac_evals,
            "{stats:?} against {default_stats:?}"
        );
    }

    /// y' = lambda (y - cos t) - sin t has the exact solution cos t for y(0) = 1.
    struct Prothero(f64);
    impl OdeSystem for Prothero {
        type Error = std::convert::Infallible;
        fn dim(&self) -> usize {
            1
        }
        fn rhs(&self, t: f64, y: &DVector<f64>, dy: &mut DVector<f64>) -> Result<(), Self::Error> {
            dy[0] = self.0 * (y[0] - t.cos()) - t.sin();
            Ok(())
        }
        fn jacobian(
            &self,
            _t: f64,
            _y: &DVector<f64>,
            j: &mut DMatrix<f64>,
        ) -> Result<(), Self::Error> {
            j[(0, 0)] = self.0;
            Ok(())
        }
    }

    /// y' = -y, whose evaluation fails beyond t = 0.5.
    struct FailsLate;
    impl OdeSystem for FailsLate {
        type Error = &'static str;
        fn dim(&self) -> usize {
            1
        }
        fn rhs(&self, t: f64, y: &DVector<f64>, dy: &mut DVector<f64>) -> Result<(), Self::Error> {
            if t > 0.5 {
                return Err("beyond 0.5");
            }
            dy[0] = -y[0];
            Ok(())
        }
        fn jacobian(
            &self,
            _t: f64,
            _y: &DVector<f64>,
            j: &mut DMatrix<f64>,
        ) -> Result<(), Self::Error> {
            j[(0, 0)] = -1.0;
            Ok(())
        }
    }

    #[test]
    fn a_failing_system_is_reported_with_the_time_of_its_first_failure() {
        let tol = Tolerances {
            rtol: 1e-8,
            atol: vec![1e-12],
            max_steps: 10_000,
        };
        let mut s = Radau5::new(&FailsLate, 0.0, DVector::from_vec(vec![1.0]), 1e-3, tol);
        // Up to the failure the steps are ordinary.
        while s.t() < 0.5 {
            s.step(&FailsLate, 0.5).unwrap();
        }
        assert!((s.y()[0] - (-0.5f64).exp()).abs() < 1e-7);
        let err = loop {
            match s.step(&FailsLate, 1.0) {
                Ok(()) => assert!(s.t() <= 0.5, "stepped to {} past the failure", s.t()),
                Err(e) => break e,
            }
        };
        match err {
            StepError::System { t, source } => {
                assert!(t > 0.5 && t <= 1.0, "{t}");
                assert_eq!(source, "beyond 0.5");
            }
            e => panic!("expected the system's failure, got {e:?}"),
        }
    }

    #[test]
    fn stiff_linear_problem_and_dense_output_are_accurate() {
        for &lambda in &[-1.0, -1e6] {
            let tol = Tolerances {
                rtol: 1e-9,
                atol: vec![1e-12],
                max_steps: 100_000,
            };
            let sys = Prothero(lambda);
            let mut s = Radau5::new(&sys, 0.0, DVector::from_vec(vec![1.0]), 1e-4, tol);
            while s.t() < 10.0 {
                s.step(&sys, 10.0).unwrap();
                assert!(
                    (s.y()[0] - s.t().cos()).abs() < 1e-8,
                    "lambda {lambda} t {}",
                    s.t()
                );
                let (a, b) = s.last_interval();
                let mid = 0.5 * (a + b);
                let de = (s.dense(mid)[0] - mid.cos()).abs();
                // The collocation polynomial is order 3 between the nodes: error ~h^4.
                assert!(
                    de < 2e-3 * (b - a).powi(4) + 1e-8,
                    "dense error {de:e} at {mid}, h = {}",
                    b - a
                );
            }
        }
    }
}
