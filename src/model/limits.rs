//! The paper's two analytic limits of a field change at fixed total isolation.
//!
//! * Sudden quench (Eq. 4-9): the populations stay frozen at n(B_i, T_i) while the field jumps to
//!   B_f, then spins and phonons relax at fixed B_f with their total energy conserved:
//!   sum_M E_M(B_f) [n_M(B_f, T_f) - n_M(B_i, T_i)] + U_ph(T_f) - U_ph(T_i) = 0.
//! * Quasi-static, isentropic (Eq. 11-14): S_m(B_f, T_f) + S_ph(T_f) = S_m(B_i, T_i) + S_ph(T_i).
//!   When the entropy to reach is at or below the residual entropy ln g0 of a g0-fold degenerate
//!   ground level at B_f (ln 2 at B_f = 0), no finite T_f exists: that is a typed outcome.
//!
//! Both left-hand sides increase strictly with T_f, so each has one root, found by bracketing.

use super::Material;
use crate::error::{require_finite, require_positive, NumericsError};
use crate::model::thermo::{boltzmann, equilibrium, ground_degeneracy};
use crate::model::{Debye, GiantSpin};
use crate::numerics::roots::{increasing_root, scan_minimum};

/// Absolute tolerance of the limit temperatures, K.
pub const ROOT_TOL_K: f64 = 1e-12;

/// A field-change problem: spin, lattice, fields and initial temperature.
#[derive(Debug, Clone, Copy)]
pub struct FieldChange<'a> {
    /// The spin.
    pub spin: &'a GiantSpin,
    /// The lattice.
    pub debye: &'a Debye,
    /// Initial field, T.
    pub b_initial_t: f64,
    /// Final field, T.
    pub b_final_t: f64,
    /// Initial temperature, K.
    pub t_initial_k: f64,
}

impl<'a> FieldChange<'a> {
    /// The field change Bi -> Bf from Ti of `material`'s spin and lattice.
    pub fn of(material: &'a Material, b_initial_t: f64, b_final_t: f64, t_initial_k: f64) -> Self {
        Self {
            spin: &material.spin,
            debye: &material.debye,
            b_initial_t,
            b_final_t,
            t_initial_k,
        }
    }
}

/// Outcome of the isentropic limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Isentropic {
    /// A finite final temperature exists.
    Final {
        /// T_f, K.
        t_final_k: f64,
    },
    /// The entropy to reach is at or below the residual entropy at B_f: no T_f > 0 exists
    /// (the quasi-static process would have to end at T = 0 with entropy left over).
    NoFiniteSolution {
        /// Total entropy to reach, k_B per molecule.
        target_entropy: f64,
        /// ln(ground degeneracy) at B_f, k_B per molecule.
        residual_entropy: f64,
        /// Degeneracy of the ground level at B_f.
        ground_degeneracy: usize,
    },
}

impl Isentropic {
    /// The final temperature, if one exists.
    pub fn t_final_k(&self) -> Option<f64> {
        match *self {
            Isentropic::Final { t_final_k } => Some(t_final_k),
            Isentropic::NoFiniteSolution { .. } => None,
        }
    }

    /// A sentence explaining why there is no final temperature (`None` if there is one).
    pub fn note(&self, b_final_t: f64) -> Option<String> {
        match *self {
            Isentropic::Final { .. } => None,
            Isentropic::NoFiniteSolution {
                target_entropy,
                residual_entropy,
                ground_degeneracy,
            } => Some(format!(
                "no finite isentropic final temperature: the total entropy to keep, {target_entropy:.6} k_B, is not above the residual entropy ln {ground_degeneracy} = {residual_entropy:.6} k_B of the degenerate ground level at Bf = {b_final_t} T"
            )),
        }
    }
}

impl FieldChange<'_> {
    fn validate(&self) -> Result<(), NumericsError> {
        require_finite("b_initial_t", self.b_initial_t)?;
        require_finite("b_final_t", self.b_final_t)?;
        require_positive("t_initial_k", self.t_initial_k)?;
        Ok(())
    }

    /// Final temperature of the sudden quench (Eq. 9), K.
    pub fn sudden_final_k(&self) -> Result<f64, NumericsError> {
        self.validate()?;
        let ef = self.spin.energies(self.b_final_t);
        let frozen = boltzmann(&self.spin.energies(self.b_initial_t), self.t_initial_k);
        let e_min = ef.iter().copied().fold(f64::INFINITY, f64::min);
        let u_ph_i = self.debye.energy_k(self.t_initial_k);
        // Energies relative to the final ground level keep every term small at low T.
        let u_frozen: f64 = frozen.iter().zip(&ef).map(|(n, e)| n * (e - e_min)).sum();
        let mut n = vec![0.0; ef.len()];
        increasing_root(
            "sudden-quench heat balance (Eq. 9)",
            self.t_initial_k,
            ROOT_TOL_K,
            |t| {
                crate::model::thermo::boltzmann_into(&ef, t, &mut n);
                let u: f64 = n.iter().zip(&ef).map(|(n, e)| n * (e - e_min)).sum();
                (u - u_frozen) + (self.debye.energy_k(t) - u_ph_i)
            },
        )
    }

    /// Total entropy (spin + phonon) at the start, k_B per molecule.
    pub fn initial_entropy(&self) -> f64 {
        equilibrium(&self.spin.energies(self.b_initial_t), self.t_initial_k).entropy
            + self.debye.entropy(self.t_initial_k)
    }

    /// Final temperature of the quasi-static isentropic process (Eq. 11), or the reason there is
    /// none.
    pub fn isentropic_final(&self) -> Result<Isentropic, NumericsError> {
        self.validate()?;
        let ef = self.spin.energies(self.b_final_t);
        let target = self.initial_entropy();
        let g0 = ground_degeneracy(&ef);
        let residual = (g0 as f64).ln();
        if target <= residual {
            return Ok(Isentropic::NoFiniteSolution {
                target_entropy: target,
                residual_entropy: residual,
                ground_degeneracy: g0,
            });
        }
        let t = increasing_root(
            "isentropic condition (Eq. 11)",
            self.t_initial_k,
            ROOT_TOL_K,
            |t| equilibrium(&ef, t).entropy + self.debye.entropy(t) - target,
        )?;
        Ok(Isentropic::Final { t_final_k: t })
    }
}

/// The equilibrium temperature at which spins with levels `energies_k` and the lattice hold the
/// same total energy as spin populations `populations` on those levels plus a phonon energy
/// `phonon_energy_k`: the root of sum_M E_M [n_M(T) - populations_M] + U_ph(T) - phonon_energy
/// (Eq. 9 when `populations` are the frozen initial ones). Energies are taken relative to the
/// lowest level so every term stays small at low T. `guess_k` starts the bracket.
pub fn equilibrium_temperature_for_energy(
    energies_k: &[f64],
    debye: &Debye,
    populations: &[f64],
    phonon_energy_k: f64,
    guess_k: f64,
) -> Result<f64, NumericsError> {
    let e_min = energies_k.iter().copied().fold(f64::INFINITY, f64::min);
    let u_target: f64 = populations
        .iter()
        .zip(energies_k)
        .map(|(n, e)| n * (e - e_min))
        .sum();
    let mut n = vec![0.0; energies_k.len()];
    increasing_root(
        "equilibrium energy balance (Eq. 9)",
        guess_k,
        ROOT_TOL_K,
        |t| {
            crate::model::thermo::boltzmann_into(energies_k, t, &mut n);
            let u: f64 = n.iter().zip(energies_k).map(|(n, e)| n * (e - e_min)).sum();
            (u - u_target) + (debye.energy_k(t) - phonon_energy_k)
        },
    )
}

/// Which limit to minimise over the initial temperature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Eq. 9.
    Sudden,
    /// Eq. 11.
    Isentropic,
}

/// The most negative Delta T = T_f - T_i over initial temperatures in [lo, hi] K (the paper's
/// (Delta T)min and (T_i)min, Fig. 5). Returns (T_i at the minimum, Delta T min), or `None` if the
/// limit has no solution anywhere in the range or there is no field change (B_f = B_i gives
/// Delta T = 0 at every T_i: no minimum, and a scan would report round-off at an edge).
pub fn minimum_delta_t(
    spin: &GiantSpin,
    debye: &Debye,
    b_initial_t: f64,
    b_final_t: f64,
    limit: Limit,
    range_k: (f64, f64),
) -> Result<Option<(f64, f64)>, NumericsError> {
    require_positive("minimum search lower temperature (K)", range_k.0)?;
    require_positive("minimum search upper temperature (K)", range_k.1)?;
    #[allow(clippy::float_cmp)] // exactly no field change
    if b_final_t == b_initial_t {
        return Ok(None);
    }
    let mut failure = None;
    let found = scan_minimum(range_k.0, range_k.1, 241, |ti| {
        let fc = FieldChange {
            spin,
            debye,
            b_initial_t,
            b_final_t,
            t_initial_k: ti,
        };
        let tf = match limit {
            Limit::Sudden => fc.sudden_final_k().map(Some),
            Limit::Isentropic => fc.isentropic_final().map(|o| o.t_final_k()),
        };
        match tf {
            Ok(Some(tf)) => tf - ti,
            Ok(None) => f64::NAN,
            Err(e) => {
                failure.get_or_insert(e);
                f64::NAN
            }
        }
    });
    match failure {
        Some(e) => Err(e),
        None => Ok(found),
    }
}

/// Boltzmann statistics of fixed levels at one temperature, with the temperature derivatives
/// Halley's method needs: mean energy above the lowest level, entropy, heat capacity and its
/// slope (k_B units, K).
#[derive(Debug, Clone, Copy)]
struct LevelStats {
    /// Z' = sum w_i.
    z: f64,
    energy_k: f64,
    entropy: f64,
    heat_capacity: f64,
    heat_capacity_slope: f64,
}

/// Statistics of levels with energies `e_rel` (K, relative to the lowest, so all >= 0) at
/// `t_k`; `w` receives the weights w_i. Z' = sum w_i with w_i = e^(-e_i/T), <E'> =
/// sum w e / Z', S = ln Z' + <E'>/T, C = var(E)/T^2 and dC/dT = kappa_3/T^4 - 2 var/T^3
/// (kappa_3 the third central moment): var and kappa_3 from a second pass about the mean.
fn level_stats(e_rel: &[f64], t_k: f64, w: &mut [f64]) -> LevelStats {
    let beta = 1.0 / t_k;
    for (w, &e) in w.iter_mut().zip(e_rel) {
        *w = (-(e * beta)).exp();
    }
    // Z' = g0 + z_exc: the g0 ground levels (e = 0) weigh exactly 1, and ln Z' = ln g0 +
    // ln(1 + z_exc/g0) keeps the entropy's digits when Z' is close to g0 (low T).
    let (mut g0, mut z_exc, mut m1) = (0.0, 0.0, 0.0);
    for (&w, &e) in w.iter().zip(e_rel) {
        if e > 0.0 {
            z_exc += w;
        } else {
            g0 += 1.0;
        }
        m1 += w * e;
    }
    let z = g0 + z_exc;
    let u = m1 / z;
    let (mut m2, mut m3) = (0.0, 0.0);
    for (&w, &e) in w.iter().zip(e_rel) {
        let d = e - u;
        let wd2 = w * d * d;
        m2 += wd2;
        m3 += wd2 * d;
    }
    let (var, k3) = (m2 / z, m3 / z);
    let b2 = beta * beta;
    LevelStats {
        z,
        energy_k: u,
        entropy: (g0.ln() + (z_exc / g0).ln_1p()) + u * beta,
        heat_capacity: var * b2,
        heat_capacity_slope: (k3 * b2 - 2.0 * var * beta) * b2,
    }
}

/// Relative size of the last Halley step below which the iteration stops (after taking it):
/// the error left is of order the cube of that, far below the double precision of T.
const HALLEY_STOP_REL: f64 = 1e-6;

/// A point of an increasing function of temperature: (T in K, g, g', g'').
type Point = (f64, f64, f64, f64);

/// Root of an increasing `g` of temperature by Halley's method, `g` returning (g, g', g'').
/// `known` are points already evaluated (at least one): they start the bracket [lo, hi]
/// (lo = 0 and hi = inf until a point of that sign is seen), and the iteration starts from
/// the one with the shortest Newton step |g/g'| relative to T. Every evaluated point tightens
/// the bracket; a step that leaves it is replaced by halving or doubling (one side unknown) or
/// by bisection (geometric when the bracket spans more than a factor 4). Stops when g is
/// exactly 0 or after a step below [`HALLEY_STOP_REL`] T that stays inside the bracket. The
/// same failure as [`increasing_root`] when no sign change is found in [1e-200 K, 1e8 K].
fn halley_increasing_root(
    what: &'static str,
    known: &[Point],
    mut g: impl FnMut(f64) -> (f64, f64, f64),
) -> Result<f64, NumericsError> {
    use crate::numerics::roots::{T_CEILING_K, T_FLOOR_K};
    let (mut lo, mut hi) = (0.0_f64, f64::INFINITY);
    for &(x, f, _, _) in known {
        if f == 0.0 {
            return Ok(x);
        }
        if f < 0.0 {
            lo = lo.max(x);
        } else {
            hi = hi.min(x);
        }
    }
    let distance = |&(x, f, d1, _): &Point| (f / (d1 * x)).abs();
    let mut point = *known
        .iter()
        .min_by(|p, q| distance(p).total_cmp(&distance(q)))
        .expect("at least one known point");
    let guess_k = point.0;
    for _ in 0..2000 {
        let (x, f, d1, d2) = point;
        // Halley: dx = -(g/g') / (1 - g g'' / (2 g'^2)); Newton's where the correction is not
        // moderate (far from the root).
        let newton = f / d1;
        let step = if newton.is_finite() && d1 > 0.0 {
            let denom = 1.0 - 0.5 * newton * d2 / d1;
            if (0.5..=2.0).contains(&denom) {
                -newton / denom
            } else {
                -newton
            }
        } else {
            f64::NAN
        };
        let next = x + step;
        let next = if next > lo && next < hi {
            if step.abs() <= HALLEY_STOP_REL * x {
                return Ok(next);
            }
            next
        } else if hi == f64::INFINITY {
            // Safeguard.
            if lo > T_CEILING_K {
                return Err(NumericsError::NoBracket {
                    what,
                    low_k: guess_k,
                    high_k: lo,
                });
            }
            2.0 * lo
        } else if lo == 0.0 {
            if hi < T_FLOOR_K {
                return Err(NumericsError::NoBracket {
                    what,
                    low_k: hi,
                    high_k: guess_k,
                });
            }
            0.5 * hi
        } else if hi > 4.0 * lo {
            (lo * hi).sqrt()
        } else {
            let mid = 0.5 * (lo + hi);
            if mid <= lo || mid >= hi {
                // The bracket is two adjacent doubles.
                return Ok(mid);
            }
            mid
        };
        let (f, d1, d2) = g(next);
        if f == 0.0 {
            return Ok(next);
        }
        if f < 0.0 {
            lo = next;
        } else {
            hi = next;
        }
        point = (next, f, d1, d2);
    }
    Err(NumericsError::NoBracket {
        what,
        low_k: lo,
        high_k: hi,
    })
}

/// Both limits (Eq. 9 and 11) of many field changes from one initial field, as `smmcool
/// limits` and the Python `limits` compute them: the level energies at B_i are shifted to
/// their minimum once, and each root is found by Halley's method with the analytic
/// derivatives dU/dT = C and dS/dT = C/T (and their slopes), safeguarded by a bracket. Both
/// start from one evaluation at T_i; Eq. 11 also from the last point of Eq. 9 (T_sudden bounds
/// it from above). The roots are those of [`FieldChange::sudden_final_k`] and
/// [`FieldChange::isentropic_final`] (the engine's, bracketing with Brent's method to 1e-12 K):
/// from T_i = 0.3 K up they agree within that tolerance, 1e-12 K + 1e-13 T; below, where the
/// bracketing solver's ln Z' loses up to 3e-10 of T_f, this one keeps full precision
/// (tests/reference_limits.rs). A solver holds scratch buffers: one per thread.
#[derive(Debug, Clone)]
pub struct LimitsSolver<'a> {
    spin: &'a GiantSpin,
    debye: &'a Debye,
    b_initial_t: f64,
    /// Level energies at B_i relative to their minimum, K.
    e_initial: Vec<f64>,
    /// Scratch: energies at B_f relative to their minimum, and Boltzmann weights.
    e_final: Vec<f64>,
    w: Vec<f64>,
}

impl<'a> LimitsSolver<'a> {
    /// A solver for field changes from `b_initial_t` of `material`'s spin and lattice.
    pub fn new(material: &'a Material, b_initial_t: f64) -> Self {
        let spin = &material.spin;
        let n = spin.n_levels();
        let mut s = Self {
            spin,
            debye: &material.debye,
            b_initial_t,
            e_initial: vec![0.0; n],
            e_final: vec![0.0; n],
            w: vec![0.0; n],
        };
        relative_energies(spin, b_initial_t, &mut s.e_initial);
        s
    }

    /// (sudden T_f, isentropic outcome) of B_i -> `b_final_t` from `t_initial_k`.
    pub fn solve(
        &mut self,
        b_final_t: f64,
        t_initial_k: f64,
    ) -> Result<(f64, Isentropic), NumericsError> {
        FieldChange {
            spin: self.spin,
            debye: self.debye,
            b_initial_t: self.b_initial_t,
            b_final_t,
            t_initial_k,
        }
        .validate()?;
        let ti = t_initial_k;
        let debye = self.debye;
        relative_energies(self.spin, b_final_t, &mut self.e_final);
        // The start: frozen populations (Eq. 4) and the total entropy.
        let start = level_stats(&self.e_initial, ti, &mut self.w);
        let s_target = start.entropy + debye.entropy(ti);
        // The frozen populations' energy on the final levels: sum n_i(B_i, T_i) e_f,i.
        // (`w` holds the weights at B_i, T_i that `level_stats` left.)
        // Summed as `level_stats` sums <E'>, so that B_f = B_i gives exactly Delta T = 0.
        let u_frozen = {
            let mut m = 0.0;
            for (&w, &ef) in self.w.iter().zip(&self.e_final) {
                m += w * ef;
            }
            m / start.z
        };
        let u_ph_i = debye.energy_k(ti);
        let (e_final, w) = (&self.e_final, &mut self.w);
        // Eq. 9 and Eq. 11 as g(T) with g' and g'' from the statistics at T.
        let sudden_g = |s: &LevelStats, t: f64| {
            (
                (s.energy_k - u_frozen) + (debye.energy_k(t) - u_ph_i),
                s.heat_capacity + debye.heat_capacity(t),
                s.heat_capacity_slope + debye.heat_capacity_slope(t),
            )
        };
        let isentropic_g = |s: &LevelStats, t: f64| {
            let c = s.heat_capacity + debye.heat_capacity(t);
            let dc = s.heat_capacity_slope + debye.heat_capacity_slope(t);
            (
                (s.entropy + debye.entropy(t)) - s_target,
                c / t,
                (dc - c / t) / t,
            )
        };
        let point = |(g, d1, d2): (f64, f64, f64), t: f64| (t, g, d1, d2);
        // Both roots start at T_i (one evaluation for the two); the isentropic one also at the
        // last point the sudden one evaluated, close to T_sudden, which bounds it from above
        // (the sudden process makes entropy: S(B_f, T_sudden) >= S(B_i, T_i)).
        let at_ti = level_stats(e_final, ti, w);
        let mut last = (ti, at_ti);
        let sudden = halley_increasing_root(
            "sudden-quench heat balance (Eq. 9)",
            &[point(sudden_g(&at_ti, ti), ti)],
            |t| {
                let s = level_stats(e_final, t, w);
                last = (t, s);
                sudden_g(&s, t)
            },
        )?;
        let g0 = ground_degeneracy_rel(e_final);
        let residual = (g0 as f64).ln();
        if s_target <= residual {
            return Ok((
                sudden,
                Isentropic::NoFiniteSolution {
                    target_entropy: s_target,
                    residual_entropy: residual,
                    ground_degeneracy: g0,
                },
            ));
        }
        let t = halley_increasing_root(
            "isentropic condition (Eq. 11)",
            &[
                point(isentropic_g(&at_ti, ti), ti),
                point(isentropic_g(&last.1, last.0), last.0),
            ],
            |t| isentropic_g(&level_stats(e_final, t, w), t),
        )?;
        Ok((sudden, Isentropic::Final { t_final_k: t }))
    }
}

/// Level energies of `spin` at `field_t` relative to their minimum into `out`, K.
fn relative_energies(spin: &GiantSpin, field_t: f64, out: &mut [f64]) {
    spin.energies_into(field_t, out);
    let e_min = out.iter().copied().fold(f64::INFINITY, f64::min);
    for e in out.iter_mut() {
        *e -= e_min;
    }
}

/// Ground degeneracy of energies relative to their minimum (the levels exactly at 0).
fn ground_degeneracy_rel(e_rel: &[f64]) -> usize {
    e_rel.iter().filter(|&&e| e <= 0.0).count()
}
