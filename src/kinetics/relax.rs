//! Relaxation at fixed field in the two-well reduction, as a quadrature.
//!
//! After the ramp (B = B_f fixed, total energy fixed) the reduced state is the single number
//! P_R, and dP_R/dt = g(P_R) = lambda1(T) (P_R,eq(T) - P_R) with T = T(P_R) from the energy.
//! A scalar autonomous equation with one fixed point P* moves monotonically towards it, so the
//! time is an integral: with P = P* + x0 exp(-s),
//!   t(s) = t0 + int_0^s (-x / g) ds',   x = P - P*,
//! whose integrand is positive and smooth in s and tends to 1/lambda_eff as x -> 0. The integral
//! is taken on adaptive Chebyshev panels (16th degree, accepted when the tail coefficients fall
//! below `rtol` of the largest), whose series, integrated by Gauss-Legendre from the panel's
//! start, give t(s) anywhere to relative accuracy even where t - t0 is 1e-90 of the panel's span; once |x| is
//! below `LINEAR_FRACTION` of its scale the equation is linear and t(s) = t_lin + (s - s_lin) /
//! lambda_eff continues exactly to any time, 1e40 s included, in a few hundred evaluations.

use super::reduced::ReducedSystem;
use super::welltable::FieldSlice;
use crate::error::NumericsError;
use crate::numerics::cheb::{self, DEGREE};
use std::cell::{Cell, RefCell};

/// The linear tail starts at |x| <= this times max(|x0|, P*).
const LINEAR_FRACTION: f64 = 1e-6;
/// Narrowest panel; a panel this narrow is accepted whatever its tail (rounding noise).
const MIN_WIDTH: f64 = 1.0 / 1024.0;

#[derive(Debug, Clone)]
struct Panel {
    s_a: f64,
    s_b: f64,
    t_a: f64,
    /// Time at s_b.
    t_b: f64,
    /// Chebyshev coefficients of the integrand dt/ds on [-1, 1].
    rate: [f64; DEGREE + 1],
}

impl Panel {
    /// Time at s_a + d (0 <= d <= s_b - s_a): t_a plus the integral of the integrand series
    /// over [s_a, s_a + d], taken by the Gauss-Legendre rule on that interval, exact for the
    /// series and accurate relative to its own value. (The antiderivative series evaluated at
    /// the panel's local coordinate lost everything below eps times the panel's whole time
    /// span: at 0.3 K, where one panel spans 1e91 s, no time within 1e75 s of its start could
    /// be resolved.)
    fn t_at_offset(&self, d: f64) -> f64 {
        let w = self.s_b - self.s_a;
        let d = d.clamp(0.0, w);
        self.t_a + 0.5 * w * cheb::integral_from_start(&self.rate, 2.0 * d / w)
    }
    fn t_at(&self, s: f64) -> f64 {
        self.t_at_offset(s - self.s_a)
    }
    fn t_b(&self) -> f64 {
        self.t_b
    }
    /// The integrand at s_a + d.
    fn rate_at_offset(&self, d: f64) -> f64 {
        let w = self.s_b - self.s_a;
        cheb::clenshaw(&self.rate, (-1.0 + 2.0 * d / w).clamp(-1.0, 1.0))
    }
    /// The s in [s_a, s_b] where t(s) = t (t_a <= t <= t_b): Newton's method for the offset
    /// d = s - s_a (dt/ds > 0 is the integrand), kept inside a shrinking bracket, bisecting
    /// when a step would leave it; converged when the step is below 4 eps of d itself, so an
    /// offset of 1e-90 is found to full relative accuracy.
    fn s_at(&self, t: f64) -> f64 {
        let w = self.s_b - self.s_a;
        let (mut lo, mut hi) = (0.0, w);
        let target = t - self.t_a;
        if target <= 0.0 {
            return self.s_a;
        }
        let rate0 = self.rate_at_offset(0.0);
        let span = self.t_b - self.t_a;
        // Start from the tangent at s_a where it lies inside, else from the chord.
        let mut d = if rate0 > 0.0 && target / rate0 < w {
            target / rate0
        } else if span > 0.0 {
            w * (target / span).clamp(0.0, 1.0)
        } else {
            0.0
        };
        for _ in 0..200 {
            let g = self.t_at_offset(d) - t;
            if g < 0.0 {
                lo = d;
            } else if g > 0.0 {
                hi = d;
            } else {
                break;
            }
            let r = self.rate_at_offset(d);
            let next = d - g / r;
            let next = if next > lo && next < hi && r > 0.0 {
                next
            } else {
                0.5 * (lo + hi)
            };
            let done = (next - d).abs() <= 4.0 * f64::EPSILON * d.abs()
                || hi - lo <= 4.0 * f64::EPSILON * hi;
            d = next;
            if done {
                break;
            }
        }
        self.s_a + d
    }
}

/// Interpolate `f` on [s_a, s_a + w] at the Chebyshev extreme points; the panel's times come
/// from integrating the series. Also returns the size of the two highest coefficients relative
/// to the largest (the panel's relative accuracy; infinite if a value is not finite).
fn chebyshev_panel(s_a: f64, w: f64, t_a: f64, mut f: impl FnMut(f64) -> f64) -> (Panel, f64) {
    let vals: [f64; DEGREE + 1] = std::array::from_fn(|k| f(cheb::node(s_a, w, k)));
    let a = cheb::coefficients(&vals);
    let amax = a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let tail = cheb::tail(&a) / amax;
    let tail = if vals.iter().all(|v| v.is_finite()) && tail.is_finite() {
        tail
    } else {
        f64::INFINITY
    };
    let mut panel = Panel {
        s_a,
        s_b: s_a + w,
        t_a,
        t_b: t_a,
        rate: a,
    };
    panel.t_b = panel.t_at_offset(w);
    (panel, tail)
}

/// The relaxation from P_R = p0 at time t0 towards P* at fixed field.
#[derive(Debug, Clone)]
pub struct Relaxation {
    field_t: f64,
    work_k: f64,
    p_star: f64,
    x0: f64,
    t0: f64,
    panels: Vec<Panel>,
    /// Start of the linear tail (s, t) and its rate lambda_eff; `None` if not reached.
    linear: Option<(f64, f64, f64)>,
    /// Integrand evaluations used.
    pub evaluations: usize,
    /// The shared table of the well quantities at the field (see [`super::welltable`]);
    /// `None` if the system has none (exact kernels are used then, as they are wherever the
    /// table is unavailable).
    slice: Option<RefCell<FieldSlice>>,
    /// Energy-balance target (spin + phonon energy), K.
    target_k: f64,
    /// Last temperature found, the next Newton start.
    guess_k: Cell<f64>,
    /// The last table solve that succeeded at the first attempt: P_R, its temperature and
    /// dT/dP_R there (-energy gap / heat capacity), for a predicted start.
    last_solve: Cell<Option<(f64, f64, f64)>>,
    /// The lowest and highest temperatures found so far: where the solve from `guess_k`
    /// fails, it is tried again from these.
    solved_k: Cell<(f64, f64)>,
}

/// What the caller needs for a sample at a given s.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RelaxPoint {
    /// P_R.
    pub right: f64,
    /// Phonon temperature, K.
    pub t_k: f64,
}

impl Relaxation {
    /// Build the time map from t0 until |T - T_eq| <= `tol_t_k` and |P_R - P*| <= `tol_p`, or
    /// until `t_max`, whichever comes first.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        sys: &ReducedSystem<'_>,
        field_t: f64,
        work_k: f64,
        p0: f64,
        p_star: f64,
        t0: f64,
        t_max: f64,
        rtol: f64,
    ) -> Result<Self, NumericsError> {
        let mut me = Self {
            field_t,
            work_k,
            p_star,
            x0: p0 - p_star,
            t0,
            panels: Vec::new(),
            linear: None,
            evaluations: 0,
            slice: sys.field_slice(field_t).map(RefCell::new),
            target_k: sys.energy_target_k(work_k),
            guess_k: Cell::new(f64::NAN),
            last_solve: Cell::new(None),
            solved_k: Cell::new((f64::INFINITY, f64::NEG_INFINITY)),
        };
        if me.x0 == 0.0 {
            return Ok(me);
        }
        // The temperature moves monotonically between its values at p0 and at P*.
        let t_a = sys.temperature_k(field_t, p0, work_k)?;
        me.guess_k.set(t_a);
        me.solved_k.set((t_a, t_a));
        let scale = me.x0.abs().max(p_star);
        let s_lin = (me.x0.abs() / (LINEAR_FRACTION * scale)).ln().max(0.0);
        let mut s = 0.0;
        let mut t = t0;
        let mut width: f64 = 0.5;
        let mut last_failure: Option<(f64, f64)> = None;
        while s < s_lin && t < t_max {
            let w = width.min(s_lin - s);
            // The integrand carries rounding noise ~1e-13 P*/|x| (P_eq(T) - P cancels as
            // x -> 0): no panel is asked to resolve below it.
            let x_end = me.x0.abs() * (-(s + w)).exp();
            let tol = rtol.max(1e-13 * scale / x_end);
            let (panel, tail) = me.panel(sys, s, w, t)?;
            // Where the integrand's rounding noise exceeds that estimate (at low temperature
            // T(P) is resolved only to ~eps |U| / C, with a small heat capacity C), halving a
            // panel no longer shrinks its tail, which a smooth integrand's would by ~2^16: a
            // tail below 1e-7 that halving did not reduce tenfold is that noise floor, and the
            // panel is accepted there.
            let noise_floor = last_failure.is_some_and(|(fw, ftail): (f64, f64)| {
                w < fw && tail.is_finite() && tail <= 1e-7 && tail >= 0.1 * ftail
            });
            if tail > tol && !noise_floor && w > MIN_WIDTH {
                last_failure = Some((w, tail));
                width = 0.5 * w;
                continue;
            }
            last_failure = None;
            t = panel.t_b();
            s = panel.s_b;
            me.panels.push(panel);
            width = (2.0 * w).min(4.0);
        }
        if s >= s_lin && t < t_max {
            let inv_rate = me.integrand(sys, s_lin)?;
            me.linear = Some((s_lin, t, 1.0 / inv_rate));
        }
        Ok(me)
    }

    /// Temperature of the state with P_R = p at this relaxation's field and energy: from the
    /// tabulated energy balance, exact kernels where the table is unavailable.
    ///
    /// The table's Newton iteration starts from the last temperature found, moved to first
    /// order in P_R by the balance's derivatives there (dT/dP_R = -energy gap / heat
    /// capacity), where that prediction lies within the temperatures solved so far (a start
    /// beyond them could make the table build a panel the relaxation never reaches); this
    /// saves iterations where successive solves are far apart (docs/numerics.md section 8).
    /// It gives up where a step would leave [T/2, 2T]: at low T the balance is strongly
    /// convex in T (the wells' excitations grow like e^(-Delta/T)), so a start far below the
    /// root overshoots, as happens when the relaxation's temperature spans a wide range and a
    /// search (the doubling ladder of [`Self::first_s`]) jumps across it. It is then tried
    /// again from the last temperature found, the highest and the lowest so far (T(P_R) is
    /// monotone, so the root mostly lies between them, and from above a convex balance
    /// converges monotonically);
    /// the exact kernels (a rate matrix, its factorization and committors per iteration) take
    /// over only where these fail too. A retry leaves the next start as it was.
    pub fn temperature_at(&self, sys: &ReducedSystem<'_>, p: f64) -> Result<f64, NumericsError> {
        if let Some(slice) = &self.slice {
            let mut slice = slice.borrow_mut();
            let last = self.guess_k.get();
            let (lo, hi) = self.solved_k.get();
            let guess = match self.last_solve.get() {
                Some((p_last, t_last, dt_dp)) => {
                    let pred = t_last + dt_dp * (p - p_last);
                    if pred >= lo && pred <= hi {
                        pred
                    } else {
                        last
                    }
                }
                None => last,
            };
            let solved = slice
                .solve_temperature(sys.debye(), p, self.target_k, guess)
                .map(|b| {
                    self.guess_k.set(b.t_k);
                    self.last_solve
                        .set(Some((p, b.t_k, -b.energy_gap_k / b.heat_capacity)));
                    b.t_k
                })
                .or_else(|| {
                    [last, hi, lo]
                        .into_iter()
                        .filter(|s| s.is_finite() && s.to_bits() != guess.to_bits())
                        .find_map(|s| slice.temperature_k(sys.debye(), p, self.target_k, s))
                });
            if let Some(t) = solved {
                self.solved_k.set((lo.min(t), hi.max(t)));
                return Ok(t);
            }
        }
        sys.temperature_k(self.field_t, p, self.work_k)
    }

    /// (lambda1 in 1/s, P_R,eq) at temperature `t_k`.
    fn rate_and_equilibrium(
        &self,
        sys: &ReducedSystem<'_>,
        t_k: f64,
    ) -> Result<(f64, f64), NumericsError> {
        if let Some(v) = self.slice.as_ref().and_then(|s| s.borrow_mut().values(t_k)) {
            return Ok((sys.kappa(t_k)? * v.lambda0, v.right_eq));
        }
        let (ws, lambda) = sys.well_state_and_rate(self.field_t, t_k)?;
        Ok((lambda, ws.right_eq))
    }

    fn state_at(&self, sys: &ReducedSystem<'_>, s: f64) -> Result<(f64, f64, f64), NumericsError> {
        let x = self.x0 * (-s).exp();
        let p = self.p_star + x;
        let temp = self.temperature_at(sys, p)?;
        Ok((x, p, temp))
    }

    /// dt/ds = -x/g at s.
    fn integrand(&mut self, sys: &ReducedSystem<'_>, s: f64) -> Result<f64, NumericsError> {
        self.evaluations += 1;
        let (x, p, temp) = self.state_at(sys, s)?;
        let (lambda, p_eq) = self.rate_and_equilibrium(sys, temp)?;
        let g = lambda * (p_eq - p);
        let v = -x / g;
        if v.is_finite() && v > 0.0 {
            Ok(v)
        } else {
            // Rounding at the end of the approach (g and x both at noise level): use the rate
            // itself, which is the limit of -g/x up to the slope of P_eq(T(P)).
            Ok(1.0 / lambda)
        }
    }

    fn panel(
        &mut self,
        sys: &ReducedSystem<'_>,
        s_a: f64,
        w: f64,
        t_a: f64,
    ) -> Result<(Panel, f64), NumericsError> {
        let mut failure = None;
        let (panel, tail) = chebyshev_panel(s_a, w, t_a, |s| match self.integrand(sys, s) {
            Ok(v) => v,
            Err(e) => {
                failure.get_or_insert(e);
                f64::NAN
            }
        });
        match failure {
            Some(e) => Err(e),
            None => Ok((panel, tail)),
        }
    }

    /// Exact kernel evaluations this relaxation spent building table panels (zero for panels
    /// built before).
    pub fn table_evaluations(&self) -> usize {
        self.slice.as_ref().map_or(0, |s| s.borrow().evaluations)
    }

    /// The latest time the map covers before the linear tail (or the end).
    pub fn t_covered(&self) -> f64 {
        self.panels.last().map_or(self.t0, |p| p.t_b())
    }

    /// Whether the linear tail was reached (the map then extends to any time).
    pub fn has_tail(&self) -> bool {
        self.linear.is_some() || self.x0 == 0.0
    }

    /// s at time t (t0 <= t <= the covered range, or any t with a tail).
    pub fn s_at_time(&self, t: f64) -> f64 {
        if self.x0 == 0.0 || t <= self.t0 {
            return 0.0;
        }
        if let Some((s_lin, t_lin, rate)) = self.linear {
            if t >= t_lin {
                return s_lin + rate * (t - t_lin);
            }
        }
        let k = self.panels.partition_point(|p| p.t_b < t);
        match self.panels.get(k) {
            Some(p) => p.s_at(t),
            None => self.panels.last().map_or(0.0, |p| p.s_b),
        }
    }

    /// Time at s.
    pub fn time_at_s(&self, s: f64) -> f64 {
        if self.x0 == 0.0 {
            return self.t0;
        }
        if let Some((s_lin, t_lin, rate)) = self.linear {
            if s >= s_lin {
                return t_lin + (s - s_lin) / rate;
            }
        }
        match self.panels.get(self.panels.partition_point(|p| p.s_b < s)) {
            Some(p) => p.t_at(s),
            None => self.t_covered(),
        }
    }

    /// The state at s.
    pub fn point(&self, sys: &ReducedSystem<'_>, s: f64) -> Result<RelaxPoint, NumericsError> {
        let (_, p, temp) = self.state_at(sys, s)?;
        Ok(RelaxPoint {
            right: p,
            t_k: temp,
        })
    }

    /// Smallest s >= 0 at which `done(state)` holds, searched on a geometric ladder of s and
    /// refined by bisection (`done` must be monotone in s). `None` if not within `s_max`.
    pub fn first_s(
        &self,
        sys: &ReducedSystem<'_>,
        s_max: f64,
        mut done: impl FnMut(RelaxPoint) -> bool,
    ) -> Result<Option<f64>, NumericsError> {
        if done(self.point(sys, 0.0)?) {
            return Ok(Some(0.0));
        }
        let mut lo = 0.0;
        let mut hi = 0.125f64.min(s_max);
        loop {
            if done(self.point(sys, hi)?) {
                break;
            }
            if hi >= s_max {
                return Ok(None);
            }
            lo = hi;
            hi = (hi * 2.0).min(s_max);
        }
        for _ in 0..60 {
            let mid = 0.5 * (lo + hi);
            if done(self.point(sys, mid)?) {
                hi = mid;
            } else {
                lo = mid;
            }
            if hi - lo <= 1e-12 * hi {
                break;
            }
        }
        Ok(Some(hi))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::limits::equilibrium_temperature_for_energy;
    use crate::model::protocol::Protocol;
    use crate::model::thermo::boltzmann;
    use crate::model::Material;
    use crate::rates::{KappaScaling, RateModel};

    /// int_a^b f by adaptive Simpson to relative tolerance `tol` of the whole: an independent
    /// quadrature of the same integrand (no panels, no series).
    fn simpson(f: &dyn Fn(f64) -> f64, a: f64, b: f64, tol: f64) -> f64 {
        fn rec(
            f: &dyn Fn(f64) -> f64,
            (a, fa): (f64, f64),
            (m, fm): (f64, f64),
            (b, fb): (f64, f64),
            whole: f64,
            tol: f64,
            depth: u32,
        ) -> f64 {
            let (lm, rm) = (0.5 * (a + m), 0.5 * (m + b));
            let (flm, frm) = (f(lm), f(rm));
            let left = (m - a) / 6.0 * (fa + 4.0 * flm + fm);
            let right = (b - m) / 6.0 * (fm + 4.0 * frm + fb);
            let sum = left + right;
            if depth == 0 || (sum - whole).abs() <= 15.0 * tol * sum.abs() {
                return sum + (sum - whole) / 15.0;
            }
            rec(f, (a, fa), (lm, flm), (m, fm), left, tol, depth - 1)
                + rec(f, (m, fm), (rm, frm), (b, fb), right, tol, depth - 1)
        }
        let m = 0.5 * (a + b);
        let (fa, fm, fb) = (f(a), f(m), f(b));
        let whole = (b - a) / 6.0 * (fa + 4.0 * fm + fb);
        rec(f, (a, fa), (m, fm), (b, fb), whole, tol, 40)
    }

    /// The relaxation after a jump B_i -> B_f at T_i (populations frozen through the jump),
    /// built with the exact kernels, and checked against `simpson` of its own integrand
    /// -x/g(P) evaluated from the physics directly: the time the map gives for s equals
    /// int_0^s (-x/g) ds'. Returns how many points were compared.
    fn check_against_simpson(ti: f64, bi: f64, bf: f64, times_after: &[f64]) -> usize {
        let mat = Material::mn12ac();
        let rates = RateModel::new(mat.spin, mat.arrhenius, KappaScaling::Arrhenius).unwrap();
        let proto = Protocol::jump(bi, bf).unwrap();
        let spin = &mat.spin;
        let n0 = boltzmann(&spin.energies(bi), ti);
        let u_spin = |b: f64| -> f64 {
            n0.iter()
                .enumerate()
                .map(|(i, p)| p * spin.energy_k(i, b))
                .sum()
        };
        let u0 = u_spin(bi) + mat.debye.energy_k(ti);
        let work = u_spin(bf) - u_spin(bi);
        let wells = super::super::reduced::Wells::at_field(spin, bf);
        let sys = ReducedSystem::new(spin, &mat.debye, &rates, &proto, wells.clone(), u0, ti);
        let p0 = wells.right_occupation(&n0);
        let t_eq = equilibrium_temperature_for_energy(
            &spin.energies(bf),
            &mat.debye,
            &n0,
            mat.debye.energy_k(ti),
            ti,
        )
        .unwrap();
        let p_star = sys.well_state(bf, t_eq).right_eq;
        let t0 = 0.04;
        let t_max = t0 + 1e40;
        let rel = Relaxation::new(&sys, bf, work, p0, p_star, t0, t_max, 1e-10).unwrap();
        let x0 = p0 - p_star;
        let integrand = |s: f64| -> f64 {
            let x = x0 * (-s).exp();
            let temp = sys.temperature_k(bf, p_star + x, work).unwrap();
            let (ws, lambda) = sys.well_state_and_rate(bf, temp).unwrap();
            -x / (lambda * (ws.right_eq - p_star - x))
        };
        let mut compared = 0;
        for &dt in times_after {
            let t = t0 + dt;
            if t > rel.t_covered() && !rel.has_tail() {
                continue;
            }
            let s = rel.s_at_time(t);
            assert!(s > 0.0 && s.is_finite(), "Ti = {ti}: s({dt:e}) = {s:e}");
            let reference = simpson(&integrand, 0.0, s, 1e-12);
            assert!(
                (reference - dt).abs() <= 1e-8 * dt,
                "Ti = {ti} K, {dt:e} s after: the map's s = {s:e} integrates to {reference:e} s"
            );
            assert!((rel.time_at_s(s) - t).abs() <= 1e-12 * t.max(dt / 1e-4));
            compared += 1;
        }
        compared
    }

    #[test]
    fn relaxation_times_match_an_independent_quadrature_from_0_3_k() {
        // At 0.3-0.45 K one panel spans up to 1e91 s, so the sample times (1 ms .. 1 h) and
        // the end time 1e40 s are 1e-94 .. 1e-51 of it: each must still map to the s whose
        // integral is that time. (Before the panel times were integrated by Gauss-Legendre
        // from the panel start, all of them mapped to one s with t(s) = t0 exactly.)
        let times = [1e-3, 1.0, 3600.0, 1e10, 1e40];
        for ti in [0.3, 0.33, 0.36, 0.4, 0.45] {
            assert_eq!(check_against_simpson(ti, 0.5, 0.1, &times), times.len());
        }
        // Where the relaxation completes within the range (2 K), across the whole approach.
        let n = check_against_simpson(2.0, 0.5, 0.1, &[1e-3, 1.0, 3600.0, 1e6, 1e9, 1e12]);
        assert!(n >= 4, "{n}");
    }

    #[test]
    fn chebyshev_panel_integrates_smooth_functions() {
        // int_0^s e^(3u) du = (e^(3s) - 1)/3 on a panel [0.2, 0.7].
        let (p, tail) = chebyshev_panel(0.2, 0.5, 10.0, |s| (3.0 * s).exp());
        assert!(tail <= 1e-12);
        for &s in &[0.2f64, 0.3, 0.45, 0.7] {
            let exact = 10.0 + ((3.0 * s).exp() - (0.6f64).exp()) / 3.0;
            assert!(
                (p.t_at(s) - exact).abs() < 1e-13 * exact,
                "{s}: {} vs {exact}",
                p.t_at(s)
            );
        }
        // A kink is not resolved by one panel: the tail test says so.
        let (_, tail) = chebyshev_panel(-1.0, 2.0, 0.0, |s: f64| s.abs());
        assert!(tail > 1e-10);
    }
}
