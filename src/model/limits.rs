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
use crate::numerics::expo::{exp_one, exp_pair};
use crate::numerics::roots::{increasing_root, scan_minimum};
use std::sync::{Arc, OnceLock};

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
/// the steps of order four need: mean energy above the lowest level, heat capacity, its slope
/// and its curvature (k_B units, K), and what the entropy takes.
#[derive(Debug, Clone, Copy)]
struct LevelStats {
    /// 1/T, 1/K.
    beta: f64,
    /// g_0, the number of levels at the lowest energy, its logarithm, and z_exc = sum of the
    /// other weights: Z' = g_0 + z_exc.
    g0: f64,
    ln_g0: f64,
    z_exc: f64,
    energy_k: f64,
    heat_capacity: f64,
    heat_capacity_slope: f64,
    heat_capacity_curvature: f64,
}

impl LevelStats {
    /// S = ln Z' + <E'>/T with ln Z' = ln g0 + ln(1 + z_exc/g0), which keeps the entropy's
    /// digits when Z' is close to g0 (low T), k_B.
    fn entropy(&self) -> f64 {
        (self.ln_g0 + (self.z_exc / self.g0).ln_1p()) + self.energy_k * self.beta
    }
}

/// Levels at one field, relative to the lowest (K, all >= 0), and how their Boltzmann weights
/// are computed at a temperature.
///
/// For the axial levels E(m) = D m^2 + g mu_B B m (B4 = 0: every spin `limits` accepts) the
/// gaps between neighbours change by the constant 2 D from one level to the next, so along a
/// run of levels m, m + s, m + 2s, ... (s = +-1) the weights follow from three exponentials:
/// w_{k+1} = w_k r_k, r_{k+1} = r_k q, with w_0 = e^(-e_0/T), r_0 = e^(-(E(m+s) - E(m))/T)
/// and q = e^(-2D/T). The levels split into two runs along which the weights decrease (D < 0:
/// from each end of the ladder up to the top of the barrier; D > 0: from the lowest level
/// outwards), so the rounding, which grows with the steps, is largest where the weights are
/// smallest; a weight below the smallest normal double ends its run (the rest are 0). Five
/// exponentials per temperature instead of 2S + 1 (docs/numerics.md). The two runs are
/// walked side by side, each with its own sums (added at the end), so that the two chains of
/// multiplications overlap in the processor; where no weight can fall below the smallest
/// normal double (the highest level's e/T at most [`NO_UNDERFLOW`]) the common part of the
/// two runs is walked as pairs (one lane per run, the same operations in the same order,
/// without the underflow test), which the compiler turns into two-lane vector arithmetic.
/// With B4 != 0 every weight is its own exponential.
#[derive(Debug, Clone)]
struct Levels {
    /// Energies relative to the lowest level, K.
    e_rel: Vec<f64>,
    /// Whether the weights come from the two runs (else one exponential per level).
    recurrence: bool,
    /// The two runs (a run may be empty).
    runs: [Run; 2],
    /// The energies of the two runs' levels 1..min(len) side by side (lane 0: run a), K,
    /// and their indices.
    pairs: Vec<[f64; 2]>,
    pair_index: Vec<[usize; 2]>,
    /// The highest level's energy (relative to the lowest), K.
    e_max_k: f64,
    /// Whether the common part of the runs may be walked as pairs (tests compare both walks).
    paired: bool,
    /// 2D, K: the change of the gap from one level to the next along a run.
    gap_change_k: f64,
    /// The number of levels at the lowest energy (e_rel = 0), and its logarithm.
    g0: usize,
    ln_g0: f64,
}

/// A run of levels whose weights decrease along it: their energies (K, relative to the lowest
/// level) and indices in that order. Only the first level of a run can be at the lowest energy
/// (the energies increase strictly along a run).
#[derive(Debug, Clone, Default)]
struct Run {
    e: Vec<f64>,
    index: Vec<usize>,
    /// E(m_1) - E(m_0) of the first two levels, K.
    first_gap_k: f64,
}

impl Run {
    fn fill(&mut self, e_rel: &[f64], start: usize, step: isize, len: usize, first_gap_k: f64) {
        self.e.clear();
        self.index.clear();
        let mut i = start;
        for k in 0..len {
            if k > 0 {
                i = i.wrapping_add_signed(step);
            }
            self.e.push(e_rel[i]);
            self.index.push(i);
        }
        self.first_gap_k = if len > 1 { first_gap_k } else { 0.0 };
    }
}

/// Sums over the weights of one run: z_exc (the weights of the levels above the lowest), the
/// raw moments m_k = sum w e^k and, for [`level_stats_and_dot`], sum w o.
#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    z_exc: f64,
    m1: f64,
    m2: f64,
    m3: f64,
    m4: f64,
    dot: f64,
}

impl Sums {
    /// Without `MOMENTS` only z_exc, m_1 (and the dot).
    #[inline(always)]
    fn add<const DOT: bool, const MOMENTS: bool>(&mut self, w: f64, e: f64, o: f64) {
        self.z_exc += w;
        let we = w * e;
        self.m1 += we;
        if MOMENTS {
            let we2 = we * e;
            self.m2 += we2;
            let we3 = we2 * e;
            self.m3 += we3;
            self.m4 += we3 * e;
        }
        if DOT {
            self.dot += w * o;
        }
    }

    /// A level at the lowest energy: weight exactly 1, no energy.
    #[inline(always)]
    fn add_ground<const DOT: bool>(&mut self, o: f64) {
        if DOT {
            self.dot += o;
        }
    }
}

/// The weight along a run: w_{k+1} = w_k r_k, r_{k+1} = r_k q; 0 from the first weight below
/// the smallest normal double on.
#[derive(Debug, Clone, Copy)]
struct Walk {
    w: f64,
    r: f64,
}

impl Walk {
    #[inline(always)]
    fn next(&mut self, q: f64) -> f64 {
        if self.w != 0.0 {
            self.w *= self.r;
            if self.w < f64::MIN_POSITIVE {
                // Every later weight of the run is smaller still.
                self.w = 0.0;
            } else {
                self.r *= q;
            }
        }
        self.w
    }
}

impl Levels {
    /// Whether no weight of the recurrence can fall below the smallest normal double at
    /// 1/T = `beta` (e_max/T and |2D|/T at most [`NO_UNDERFLOW`]): the walk's underflow test
    /// would never fire, so the runs may be walked as pairs without it.
    fn no_underflow_at(&self, beta: f64) -> bool {
        self.e_max_k * beta <= NO_UNDERFLOW && (self.gap_change_k * beta).abs() <= NO_UNDERFLOW
    }

    /// The values of `other` (per level) at the levels of the paired walk, in its order, into
    /// `out` (the `other_pairs` of [`level_stats_and_dot`]).
    fn pair_values(&self, other: &[f64], out: &mut Vec<[f64; 2]>) {
        out.clear();
        out.extend(self.pair_index.iter().map(|&[i, j]| [other[i], other[j]]));
    }

    fn new(n: usize) -> Self {
        Self {
            e_rel: vec![0.0; n],
            recurrence: false,
            runs: [Run::default(), Run::default()],
            pairs: Vec::new(),
            pair_index: Vec::new(),
            e_max_k: 0.0,
            paired: true,
            gap_change_k: 0.0,
            g0: 1,
            ln_g0: 0.0,
        }
    }

    /// The levels of `spin` at `field_t`.
    fn set(&mut self, spin: &GiantSpin, field_t: f64) {
        relative_energies(spin, field_t, &mut self.e_rel);
        self.g0 = ground_degeneracy_rel(&self.e_rel);
        self.ln_g0 = (self.g0 as f64).ln();
        self.e_max_k = self.e_rel.iter().copied().fold(0.0, f64::max);
        self.pairs.clear();
        self.pair_index.clear();
        let n = self.e_rel.len();
        let d = spin.d_k();
        #[allow(clippy::float_cmp)] // exactly no fourth-order term
        if spin.b4_k() != 0.0 || n < 2 {
            self.recurrence = false;
            return;
        }
        self.recurrence = true;
        let zb = spin.zeeman_k_per_t() * field_t;
        let gap = |i: usize, step: isize| {
            let (m, s) = (spin.m(i), step as f64);
            d * (2.0 * m * s + 1.0) + zb * s
        };
        let e = &self.e_rel;
        let [a, b] = &mut self.runs;
        if d < 0.0 {
            // The top of the barrier (the first highest level): up to it from the left end,
            // down to the level after it from the right end.
            let top = (0..n).fold(0, |t, i| if e[i] > e[t] { i } else { t });
            a.fill(e, 0, 1, top + 1, gap(0, 1));
            b.fill(e, n - 1, -1, n - 1 - top, gap(n - 1, -1));
        } else {
            // The first lowest level: down to the left end from it, up to the right end from
            // the next.
            let low = (0..n).fold(0, |l, i| if e[i] < e[l] { i } else { l });
            a.fill(e, low, -1, low + 1, gap(low, -1));
            b.fill(e, low + 1, 1, n - 1 - low, gap((low + 1).min(n - 1), 1));
        }
        self.gap_change_k = 2.0 * d;
        if !b.e.is_empty() {
            for k in 1..a.e.len().min(b.e.len()) {
                self.pairs.push([a.e[k], b.e[k]]);
                self.pair_index.push([a.index[k], b.index[k]]);
            }
        }
    }
}

/// Largest e/T (and |2D|/T) for which the weights' recurrence is walked without the underflow
/// test: e^-700 ~ 1e-304 is far above the smallest normal double (2.2e-308), and the
/// recurrence's relative rounding (~k^2 eps at step k) cannot close that gap.
const NO_UNDERFLOW: f64 = 700.0;

/// Two doubles side by side (lane 0, lane 1) with lane-wise IEEE products and sums: one SSE2
/// register on x86_64 (two-lane instructions), a pair of scalars elsewhere; the same bits
/// either way.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
mod lanes {
    // SAFETY (every block below): these intrinsics need SSE2 only, which this module is
    // compiled with (cfg above; part of the x86_64 baseline), and touch no memory.
    use std::arch::x86_64::{
        __m128d, _mm_add_pd, _mm_cvtsd_f64, _mm_mul_pd, _mm_set_pd, _mm_unpackhi_pd,
    };

    #[derive(Clone, Copy)]
    pub(super) struct F2(__m128d);

    impl F2 {
        #[inline(always)]
        pub(super) fn new(x: [f64; 2]) -> Self {
            Self(unsafe { _mm_set_pd(x[1], x[0]) })
        }
        #[inline(always)]
        pub(super) fn mul(self, o: Self) -> Self {
            Self(unsafe { _mm_mul_pd(self.0, o.0) })
        }
        #[inline(always)]
        pub(super) fn add(self, o: Self) -> Self {
            Self(unsafe { _mm_add_pd(self.0, o.0) })
        }
        #[inline(always)]
        pub(super) fn get(self) -> [f64; 2] {
            unsafe {
                [
                    _mm_cvtsd_f64(self.0),
                    _mm_cvtsd_f64(_mm_unpackhi_pd(self.0, self.0)),
                ]
            }
        }
    }
}

/// Two doubles side by side (lane 0, lane 1) with lane-wise IEEE products and sums.
#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
mod lanes {
    #[derive(Clone, Copy)]
    pub(super) struct F2([f64; 2]);

    impl F2 {
        #[inline(always)]
        pub(super) fn new(x: [f64; 2]) -> Self {
            Self(x)
        }
        #[inline(always)]
        pub(super) fn mul(self, o: Self) -> Self {
            Self([self.0[0] * o.0[0], self.0[1] * o.0[1]])
        }
        #[inline(always)]
        pub(super) fn add(self, o: Self) -> Self {
            Self([self.0[0] + o.0[0], self.0[1] + o.0[1]])
        }
        #[inline(always)]
        pub(super) fn get(self) -> [f64; 2] {
            self.0
        }
    }
}

use lanes::F2;

/// The sums of the two runs side by side (lane 0: run a, lane 1: run b), for the paired walk.
#[derive(Clone, Copy)]
struct PairSums {
    z_exc: F2,
    m1: F2,
    m2: F2,
    m3: F2,
    m4: F2,
    dot: F2,
}

impl PairSums {
    fn of(a: &Sums, b: &Sums) -> Self {
        Self {
            z_exc: F2::new([a.z_exc, b.z_exc]),
            m1: F2::new([a.m1, b.m1]),
            m2: F2::new([a.m2, b.m2]),
            m3: F2::new([a.m3, b.m3]),
            m4: F2::new([a.m4, b.m4]),
            dot: F2::new([a.dot, b.dot]),
        }
    }

    fn lanes(&self) -> [Sums; 2] {
        let (z, m1, m2, m3, m4, dot) = (
            self.z_exc.get(),
            self.m1.get(),
            self.m2.get(),
            self.m3.get(),
            self.m4.get(),
            self.dot.get(),
        );
        [0, 1].map(|i| Sums {
            z_exc: z[i],
            m1: m1[i],
            m2: m2[i],
            m3: m3[i],
            m4: m4[i],
            dot: dot[i],
        })
    }

    /// [`Sums::add`] on both lanes (the same operations in the same order).
    #[inline(always)]
    fn add<const DOT: bool, const MOMENTS: bool>(&mut self, w: F2, e: F2, o: F2) {
        self.z_exc = self.z_exc.add(w);
        let we = w.mul(e);
        self.m1 = self.m1.add(we);
        if MOMENTS {
            let we2 = we.mul(e);
            self.m2 = self.m2.add(we2);
            let we3 = we2.mul(e);
            self.m3 = self.m3.add(we3);
            self.m4 = self.m4.add(we3.mul(e));
        }
        if DOT {
            self.dot = self.dot.add(w.mul(o));
        }
    }
}

/// Statistics of `levels` at `t_k`, in one pass over the weights: Z' = g_0 + z_exc, <E'> =
/// m_1/Z', and the heat capacity C = var/T^2, its slope dC/dT = kappa_3/T^4 - 2 var/T^3 and
/// curvature d^2C/dT^2 = kappa_4/T^6 - 6 kappa_3/T^5 + 6 var/T^4 from the raw moments
/// m_k = sum w e^k (var = m_2/Z' - <E'>^2, kappa_3 = m_3/Z' - 3 <E'> m_2/Z' + 2 <E'>^3,
/// kappa_4 = m_4/Z' - 4 <E'> m_3/Z' - 3 (m_2/Z')^2 + 12 <E'>^2 m_2/Z' - 6 <E'>^4: they only
/// steer the iteration, the root's precision is that of <E'> and S).
fn level_stats(levels: &Levels, t_k: f64) -> LevelStats {
    level_stats_and_dot::<false, true>(levels, t_k, &[], &[]).0
}

/// [`level_stats`], and with `DOT` also sum_i w_i other_i / Z' (`other`: K, per level),
/// summed in the order of <E'> (so that `other` = the levels' own energies gives <E'> exactly).
/// `other_pairs` are the values of `other` at the levels of the paired walk
/// ([`Levels::pair_values`], read there instead of `other` through the pairs' indices).
/// Without `MOMENTS` the heat capacity and its derivatives are not computed (NaN): Z', <E'>
/// and the entropy are the same bits either way.
#[inline(always)]
fn level_stats_and_dot<const DOT: bool, const MOMENTS: bool>(
    levels: &Levels,
    t_k: f64,
    other: &[f64],
    other_pairs: &[[f64; 2]],
) -> (LevelStats, f64) {
    let beta = 1.0 / t_k;
    let other_at = |i: usize| if DOT { other[i] } else { 0.0 };
    let (mut sa, mut sb) = (Sums::default(), Sums::default());
    if levels.recurrence {
        let [ra, rb] = &levels.runs;
        // Every exponential first, then the sums: they are independent of each other, and
        // no sum is live across them (the same operations on each sum, in the same order).
        // Two pairs by the table-driven exponential ([`exp_pair`]): q with run a's first
        // ratio, and run b's first weight with its first ratio. The first level of a run:
        // weight 1 at the lowest energy, else its exponential.
        let [q, ra_r] = exp_pair([-(levels.gap_change_k * beta), -(ra.first_gap_k * beta)]);
        let ra_e0 = ra.e[0];
        let mut wa = Walk {
            w: if ra_e0 > 0.0 {
                exp_one(-(ra_e0 * beta))
            } else {
                1.0
            },
            r: ra_r,
        };
        // Run a is never empty; run b may be.
        let wb0 = (!rb.e.is_empty()).then(|| {
            let e0 = rb.e[0];
            let [w, r] = exp_pair([-(e0 * beta), -(rb.first_gap_k * beta)]);
            Walk {
                w: if e0 > 0.0 { w } else { 1.0 },
                r,
            }
        });
        let add_first = |run: &Run, w: f64, sums: &mut Sums| {
            let e0 = run.e[0];
            if e0 > 0.0 {
                sums.add::<DOT, MOMENTS>(w, e0, other_at(run.index[0]));
            } else {
                sums.add_ground::<DOT>(other_at(run.index[0]));
            }
        };
        add_first(ra, wa.w, &mut sa);
        let common = if let Some(mut wb) = wb0 {
            add_first(rb, wb.w, &mut sb);
            let common = ra.e.len().min(rb.e.len());
            if levels.paired && levels.no_underflow_at(beta) {
                // No weight can underflow: the walk's test would never fire.
                let mut sums = PairSums::of(&sa, &sb);
                let (mut w, mut r, q2) = (
                    F2::new([wa.w, wb.w]),
                    F2::new([wa.r, wb.r]),
                    F2::new([q, q]),
                );
                if DOT {
                    assert_eq!(other_pairs.len(), levels.pairs.len(), "one value per pair");
                    for (e, o) in levels.pairs.iter().zip(other_pairs) {
                        w = w.mul(r);
                        r = r.mul(q2);
                        sums.add::<DOT, MOMENTS>(w, F2::new(*e), F2::new(*o));
                    }
                } else {
                    // Without the dot the indices are not read.
                    for e in &levels.pairs {
                        w = w.mul(r);
                        r = r.mul(q2);
                        sums.add::<DOT, MOMENTS>(w, F2::new(*e), w);
                    }
                }
                [sa, sb] = sums.lanes();
                let ([w0, w1], [r0, r1]) = (w.get(), r.get());
                (wa.w, wa.r, wb.w, wb.r) = (w0, r0, w1, r1);
            } else {
                for k in 1..common {
                    let (x, y) = (wa.next(q), wb.next(q));
                    sa.add::<DOT, MOMENTS>(x, ra.e[k], other_at(ra.index[k]));
                    sb.add::<DOT, MOMENTS>(y, rb.e[k], other_at(rb.index[k]));
                }
            }
            for k in common..rb.e.len() {
                sb.add::<DOT, MOMENTS>(wb.next(q), rb.e[k], other_at(rb.index[k]));
            }
            common
        } else {
            1
        };
        for k in common..ra.e.len() {
            sa.add::<DOT, MOMENTS>(wa.next(q), ra.e[k], other_at(ra.index[k]));
        }
    } else {
        for (i, &e) in levels.e_rel.iter().enumerate() {
            if e > 0.0 {
                sa.add::<DOT, MOMENTS>((-(e * beta)).exp(), e, other_at(i));
            } else {
                sa.add_ground::<DOT>(other_at(i));
            }
        }
    }
    let z_exc = sa.z_exc + sb.z_exc;
    let (m1, m2, m3, m4) = (sa.m1 + sb.m1, sa.m2 + sb.m2, sa.m3 + sb.m3, sa.m4 + sb.m4);
    let g0 = levels.g0 as f64;
    let z = g0 + z_exc;
    let u = m1 / z;
    let inv_z = 1.0 / z;
    let (p2, p3, p4) = (m2 * inv_z, m3 * inv_z, m4 * inv_z);
    let u2 = u * u;
    let var = p2 - u2;
    let k3 = p3 - 3.0 * u * p2 + 2.0 * u2 * u;
    let k4 = p4 - 4.0 * u * p3 - 3.0 * p2 * p2 + 12.0 * p2 * u2 - 6.0 * u2 * u2;
    let b2 = beta * beta;
    let moment = |x: f64| if MOMENTS { x } else { f64::NAN };
    (
        LevelStats {
            beta,
            g0,
            ln_g0: levels.ln_g0,
            z_exc,
            energy_k: u,
            heat_capacity: moment(var * b2),
            heat_capacity_slope: moment((k3 * b2 - 2.0 * var * beta) * b2),
            heat_capacity_curvature: moment(((k4 * beta - 6.0 * k3) * beta + 6.0 * var) * b2 * b2),
        },
        (sa.dot + sb.dot) / z,
    )
}

/// Four doubles in one AVX register, one per lane, with lane-wise IEEE arithmetic (the same
/// operations on each lane as on one double, so the same bits): only for code compiled with
/// AVX and run where the CPU has it ([`level_stats_and_dot4`]).
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct L4(std::arch::x86_64::__m256d);

// SAFETY (every block below): these functions are compiled with AVX and only called from
// functions compiled with it, which run only where the CPU has it (checked by
// `level_stats_and_dot4`); loads and stores go through arrays of four.
#[cfg(target_arch = "x86_64")]
impl L4 {
    #[inline]
    #[target_feature(enable = "avx")]
    fn splat(x: f64) -> Self {
        Self(std::arch::x86_64::_mm256_set1_pd(x))
    }
    #[inline]
    #[target_feature(enable = "avx")]
    fn new(x: [f64; 4]) -> Self {
        Self(unsafe { std::arch::x86_64::_mm256_loadu_pd(x.as_ptr()) })
    }
    #[inline]
    #[target_feature(enable = "avx")]
    fn get(self) -> [f64; 4] {
        let mut out = [0.0; 4];
        unsafe { std::arch::x86_64::_mm256_storeu_pd(out.as_mut_ptr(), self.0) };
        out
    }
    #[inline]
    #[target_feature(enable = "avx")]
    fn add(self, o: Self) -> Self {
        Self(std::arch::x86_64::_mm256_add_pd(self.0, o.0))
    }
    #[inline]
    #[target_feature(enable = "avx")]
    fn sub(self, o: Self) -> Self {
        Self(std::arch::x86_64::_mm256_sub_pd(self.0, o.0))
    }
    #[inline]
    #[target_feature(enable = "avx")]
    fn mul(self, o: Self) -> Self {
        Self(std::arch::x86_64::_mm256_mul_pd(self.0, o.0))
    }
    #[inline]
    #[target_feature(enable = "avx")]
    fn div(self, o: Self) -> Self {
        Self(std::arch::x86_64::_mm256_div_pd(self.0, o.0))
    }
    /// -x on each lane (the sign bit flipped, exactly as one double's negation).
    #[inline]
    #[target_feature(enable = "avx")]
    fn neg(self) -> Self {
        use std::arch::x86_64::{_mm256_set1_pd, _mm256_xor_pd};
        Self(_mm256_xor_pd(self.0, _mm256_set1_pd(-0.0)))
    }
    /// [`exp_one`] of each lane.
    #[inline]
    #[target_feature(enable = "avx")]
    fn exp(self) -> Self {
        Self::new(crate::numerics::expo::exp_quad_avx(self.get()))
    }
}

/// [`Sums`] of one run at four temperatures (one per lane).
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct Sums4 {
    z_exc: L4,
    m1: L4,
    m2: L4,
    m3: L4,
    m4: L4,
    dot: L4,
}

#[cfg(target_arch = "x86_64")]
impl Sums4 {
    #[inline]
    #[target_feature(enable = "avx")]
    fn zero() -> Self {
        let z = L4::splat(0.0);
        Self {
            z_exc: z,
            m1: z,
            m2: z,
            m3: z,
            m4: z,
            dot: z,
        }
    }

    /// [`Sums::add`] on each lane (the same operations in the same order).
    #[inline]
    #[target_feature(enable = "avx")]
    fn add<const DOT: bool, const MOMENTS: bool>(&mut self, w: L4, e: f64, o: f64) {
        let e = L4::splat(e);
        self.z_exc = self.z_exc.add(w);
        let we = w.mul(e);
        self.m1 = self.m1.add(we);
        if MOMENTS {
            let we2 = we.mul(e);
            self.m2 = self.m2.add(we2);
            let we3 = we2.mul(e);
            self.m3 = self.m3.add(we3);
            self.m4 = self.m4.add(we3.mul(e));
        }
        if DOT {
            self.dot = self.dot.add(w.mul(L4::splat(o)));
        }
    }

    /// [`Sums::add_ground`] on each lane.
    #[inline]
    #[target_feature(enable = "avx")]
    fn add_ground<const DOT: bool>(&mut self, o: f64) {
        if DOT {
            self.dot = self.dot.add(L4::splat(o));
        }
    }
}

/// [`level_stats_and_dot`] at four temperatures, lane k at `t_k[k]`: the same operations in
/// the same order on each lane as on one temperature, so the same bits, four lanes per AVX
/// instruction. Only where the CPU has AVX and every temperature takes the paired walk
/// ([`Levels`]: the recurrence, two runs, e_max/T and |2D|/T at most [`NO_UNDERFLOW`], so
/// that no weight can underflow and the walk's underflow test, which the lanes leave out,
/// never fires); `None` otherwise (the caller then evaluates one temperature at a time).
fn level_stats_and_dot4<const DOT: bool, const MOMENTS: bool>(
    levels: &Levels,
    t_k: [f64; 4],
    other: &[f64],
    other_pairs: &[[f64; 2]],
) -> Option<([LevelStats; 4], [f64; 4])> {
    if !(levels.recurrence && levels.paired) || levels.runs[1].e.is_empty() {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: the CPU has AVX (checked above).
            return unsafe {
                level_stats_and_dot4_avx::<DOT, MOMENTS>(levels, t_k, other, other_pairs)
            };
        }
    }
    let _ = (t_k, other, other_pairs);
    None
}

/// The body of [`level_stats_and_dot4`], compiled for AVX.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
fn level_stats_and_dot4_avx<const DOT: bool, const MOMENTS: bool>(
    levels: &Levels,
    t_k: [f64; 4],
    other: &[f64],
    other_pairs: &[[f64; 2]],
) -> Option<([LevelStats; 4], [f64; 4])> {
    let [ra, rb] = &levels.runs;
    let beta = L4::splat(1.0).div(L4::new(t_k));
    if !beta.get().iter().all(|&b| levels.no_underflow_at(b)) {
        return None;
    }
    let other_at = |i: usize| if DOT { other[i] } else { 0.0 };
    // The exponentials ([`level_stats_and_dot`]: -(x beta) is (-x) beta exactly).
    let q = L4::splat(levels.gap_change_k).mul(beta).neg().exp();
    let mut ra_r = L4::splat(ra.first_gap_k).mul(beta).neg().exp();
    let mut rb_r = L4::splat(rb.first_gap_k).mul(beta).neg().exp();
    let (ra_e0, rb_e0) = (ra.e[0], rb.e[0]);
    let mut wa = if ra_e0 > 0.0 {
        L4::splat(ra_e0).mul(beta).neg().exp()
    } else {
        L4::splat(1.0)
    };
    let mut wb = if rb_e0 > 0.0 {
        L4::splat(rb_e0).mul(beta).neg().exp()
    } else {
        L4::splat(1.0)
    };
    let (mut sa, mut sb) = (Sums4::zero(), Sums4::zero());
    if ra_e0 > 0.0 {
        sa.add::<DOT, MOMENTS>(wa, ra_e0, other_at(ra.index[0]));
    } else {
        sa.add_ground::<DOT>(other_at(ra.index[0]));
    }
    if rb_e0 > 0.0 {
        sb.add::<DOT, MOMENTS>(wb, rb_e0, other_at(rb.index[0]));
    } else {
        sb.add_ground::<DOT>(other_at(rb.index[0]));
    }
    // The paired walk: each run's weights and ratios as in the two-lane walk.
    if DOT {
        assert_eq!(other_pairs.len(), levels.pairs.len(), "one value per pair");
    }
    for (p, e) in levels.pairs.iter().enumerate() {
        wa = wa.mul(ra_r);
        wb = wb.mul(rb_r);
        ra_r = ra_r.mul(q);
        rb_r = rb_r.mul(q);
        let (oa, ob) = if DOT {
            (other_pairs[p][0], other_pairs[p][1])
        } else {
            (0.0, 0.0)
        };
        sa.add::<DOT, MOMENTS>(wa, e[0], oa);
        sb.add::<DOT, MOMENTS>(wb, e[1], ob);
    }
    // The rest of the longer run (its underflow test never fires here).
    let common = ra.e.len().min(rb.e.len());
    for k in common..rb.e.len() {
        wb = wb.mul(rb_r);
        rb_r = rb_r.mul(q);
        sb.add::<DOT, MOMENTS>(wb, rb.e[k], other_at(rb.index[k]));
    }
    for k in common..ra.e.len() {
        wa = wa.mul(ra_r);
        ra_r = ra_r.mul(q);
        sa.add::<DOT, MOMENTS>(wa, ra.e[k], other_at(ra.index[k]));
    }
    let z_exc = sa.z_exc.add(sb.z_exc);
    let (m1, m2, m3, m4) = (
        sa.m1.add(sb.m1),
        sa.m2.add(sb.m2),
        sa.m3.add(sb.m3),
        sa.m4.add(sb.m4),
    );
    let g0 = levels.g0 as f64;
    let z = L4::splat(g0).add(z_exc);
    let u = m1.div(z);
    let inv_z = L4::splat(1.0).div(z);
    let (p2, p3, p4) = (m2.mul(inv_z), m3.mul(inv_z), m4.mul(inv_z));
    let c = |x: f64| L4::splat(x);
    let u2 = u.mul(u);
    let var = p2.sub(u2);
    // p3 - 3 u p2 + 2 u2 u and p4 - 4 u p3 - 3 p2 p2 + 12 p2 u2 - 6 u2 u2, left to right.
    let k3 = p3.sub(c(3.0).mul(u).mul(p2)).add(c(2.0).mul(u2).mul(u));
    let k4 = p4
        .sub(c(4.0).mul(u).mul(p3))
        .sub(c(3.0).mul(p2).mul(p2))
        .add(c(12.0).mul(p2).mul(u2))
        .sub(c(6.0).mul(u2).mul(u2));
    let b2 = beta.mul(beta);
    let heat_capacity = var.mul(b2).get();
    let slope = k3.mul(b2).sub(c(2.0).mul(var).mul(beta)).mul(b2).get();
    let curvature = k4
        .mul(beta)
        .sub(c(6.0).mul(k3))
        .mul(beta)
        .add(c(6.0).mul(var))
        .mul(b2)
        .mul(b2)
        .get();
    let dot = sa.dot.add(sb.dot).div(z).get();
    let (beta, z_exc, u) = (beta.get(), z_exc.get(), u.get());
    let moment = |x: f64| if MOMENTS { x } else { f64::NAN };
    Some((
        std::array::from_fn(|k| LevelStats {
            beta: beta[k],
            g0,
            ln_g0: levels.ln_g0,
            z_exc: z_exc[k],
            energy_k: u[k],
            heat_capacity: moment(heat_capacity[k]),
            heat_capacity_slope: moment(slope[k]),
            heat_capacity_curvature: moment(curvature[k]),
        }),
        dot,
    ))
}

/// Relative size of the last step below which the iteration stops (after taking it): the
/// error left is of order its fourth power, far below the double precision of T.
pub const STOP_REL: f64 = 1e-4;

/// The step of order four from f and its first three derivatives: with the Newton step
/// u = -f/f', a = u f''/(2 f') and b = u^2 f'''/(6 f'), the root of the cubic Taylor
/// polynomial as a series in u, u (1 - a + 2 a^2 - b), where |a| and |b| are at most 1/4;
/// Halley's u/(1 + a) where only 1 + a is moderate (1/2 to 2); Newton's u otherwise (far from
/// the root); NaN where f' is not positive.
fn root_step(f: f64, d1: f64, d2: f64, d3: f64) -> f64 {
    let newton = f / d1;
    if !(newton.is_finite() && d1 > 0.0) {
        return f64::NAN;
    }
    let u = -newton;
    let a = 0.5 * u * d2 / d1;
    let b = u * u * d3 / (6.0 * d1);
    if a.abs() <= 0.25 && b.abs() <= 0.25 {
        u * (1.0 - a + (2.0 * a * a - b))
    } else if (0.5..=2.0).contains(&(1.0 + a)) {
        u / (1.0 + a)
    } else {
        u
    }
}

/// A point of an increasing function of temperature: (T in K, g, g', g'', g''').
type Point = (f64, f64, f64, f64, f64);

/// Root of an increasing `g` of temperature by steps of order four ([`root_step`]), `g`
/// returning (g, g', g'', g'''). `known` are points already evaluated (at least one): they start the bracket [lo, hi]
/// (lo = 0 and hi = inf until a point of that sign is seen), and the iteration starts from
/// the one with the shortest Newton step |g/g'| relative to T. Every evaluated point tightens
/// the bracket; a step that leaves it is replaced by halving or doubling (one side unknown) or
/// by bisection (geometric when the bracket spans more than a factor 4). Stops when g is
/// exactly 0 or after a step below [`STOP_REL`] T that stays inside the bracket. The
/// same failure as [`increasing_root`] when no sign change is found in [1e-200 K, 1e8 K].
///
/// With `log_of` = Some(G*) > 0, g = G - G* of a positive G, the step is taken in the
/// variables v = -1/T and h = ln(G/G*) = ln(1 + g/G*), with dG/dv = T^2 g', d^2G/dv^2 =
/// T^3 (2 g' + T g''), d^3G/dv^3 = T^4 (6 g' + 6 T g'' + T^2 g''') and h' = G_v/G, h'' =
/// G_vv/G - h'^2, h''' = G_vvv/G - 3 h' G_vv/G + 2 h'^3: where G is nearly an exponential of
/// -1/T (a thermally activated spin part) h is nearly linear in v, and where it is a power of T
/// (the lattice) nearly so, so the iteration needs fewer evaluations from far away.
fn fast_increasing_root(
    what: &'static str,
    known: &[Point],
    log_of: Option<f64>,
    mut g: impl FnMut(f64) -> (f64, f64, f64, f64),
) -> Result<f64, NumericsError> {
    use crate::numerics::roots::{T_CEILING_K, T_FLOOR_K};
    let (mut lo, mut hi) = (0.0_f64, f64::INFINITY);
    for &(x, f, _, _, _) in known {
        if f == 0.0 {
            return Ok(x);
        }
        if f < 0.0 {
            lo = lo.max(x);
        } else {
            hi = hi.min(x);
        }
    }
    let distance = |&(x, f, d1, _, _): &Point| (f / (d1 * x)).abs();
    let mut point = *known
        .iter()
        .min_by(|p, q| distance(p).total_cmp(&distance(q)))
        .expect("at least one known point");
    let guess_k = point.0;
    for _ in 0..2000 {
        let (x, f, d1, d2, d3) = point;
        // The step in T, or in -1/T on ln G; its size relative to T (to first order).
        let (next, step_rel) = match log_of {
            None => {
                let step = root_step(f, d1, d2, d3);
                (x + step, step / x)
            }
            Some(target) => {
                let big_g = f + target;
                let x2 = x * x;
                let r1 = x2 * d1 / big_g;
                let r2 = x2 * x * (2.0 * d1 + x * d2) / big_g;
                let r3 = x2 * x2 * (6.0 * d1 + x * (6.0 * d2 + x * d3)) / big_g;
                let h2 = r2 - r1 * r1;
                let h3 = r3 - 3.0 * r1 * r2 + 2.0 * r1 * r1 * r1;
                let dv = root_step((f / target).ln_1p(), r1, h2, h3);
                // T = -1/v: a step past v = 0 (T = inf) gives a negative T, outside the bracket.
                (x / (1.0 - x * dv), x * dv)
            }
        };
        let next = if next > lo && next < hi {
            if step_rel.abs() <= STOP_REL {
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
        let (f, d1, d2, d3) = g(next);
        if f == 0.0 {
            return Ok(next);
        }
        if f < 0.0 {
            lo = next;
        } else {
            hi = next;
        }
        point = (next, f, d1, d2, d3);
    }
    Err(NumericsError::NoBracket {
        what,
        low_k: lo,
        high_k: hi,
    })
}

/// Lowest node temperature of a [`FinalTable`], K.
const TABLE_T_MIN_K: f64 = 0.02;
/// ln 1.1: neighbouring nodes of a [`FinalTable`] are 10 % apart in T.
const TABLE_LN_RATIO: f64 = 0.095_310_179_804_324_86;
/// Nodes of a [`FinalTable`]: 0.02 K to 0.02 x 1.1^101 = 300.6 K.
const TABLE_NODES: usize = 102;

/// The index of the [`FinalTable`] node at or below `t_k`: -1 below the first (and for NaN),
/// the last from the last node on.
fn table_node_index(t_k: f64) -> isize {
    let x = (t_k / TABLE_T_MIN_K).ln() / TABLE_LN_RATIO;
    // x >= 0 (not NaN): truncation is the floor (saturating for huge x).
    if x >= 0.0 {
        (x as isize).min(TABLE_NODES as isize - 1)
    } else {
        -1
    }
}

/// The temperature of node `k` of a [`FinalTable`], K.
fn table_node_t(k: usize) -> f64 {
    TABLE_T_MIN_K * (k as f64 * TABLE_LN_RATIO).exp()
}

/// One side of a node: y = ln G of an increasing G(T) > 0 (Eq. 9: <E'> + U_ph; Eq. 11:
/// S - ln g_0 + S_ph), and the first two derivatives of the inverse, v = -1/T as a function
/// of y.
#[derive(Debug, Clone, Copy)]
struct InverseNode {
    y: f64,
    dv: f64,
    d2v: f64,
    /// y, dv/dy and d^2v/dy^2 finite and dv/dy > 0 (checked once, when the node is built).
    usable: bool,
}

impl InverseNode {
    /// From G and its first two temperature derivatives at `t_k`: with h = ln G as a
    /// function of v, h' = T^2 G'/G and h'' = T^3 (2 G' + T G'')/G - h'^2, and dv/dy = 1/h',
    /// d^2v/dy^2 = -h''/h'^3.
    fn new(big_g: f64, d1: f64, d2: f64, t_k: f64) -> Self {
        let t2 = t_k * t_k;
        let h1 = t2 * d1 / big_g;
        let h2 = t2 * t_k * (2.0 * d1 + t_k * d2) / big_g - h1 * h1;
        let (y, dv, d2v) = (big_g.ln(), 1.0 / h1, -h2 / (h1 * h1 * h1));
        Self {
            y,
            dv,
            d2v,
            usable: y.is_finite() && dv.is_finite() && d2v.is_finite() && dv > 0.0,
        }
    }
}

/// A node of a [`FinalTable`]: v = -1/T_k, -1/v (T_k as the guess's bracket reads it) and
/// the two inverses (Eq. 9, Eq. 11).
#[derive(Debug, Clone, Copy)]
struct TableNode {
    v: f64,
    t_of_v: f64,
    of: [InverseNode; 2],
}

/// Which root a [`FinalTable`] guesses.
#[derive(Debug, Clone, Copy)]
enum Balance {
    /// Eq. 9: G = <E'> + U_ph.
    Energy = 0,
    /// Eq. 11: G = S - ln g_0 + S_ph.
    Entropy = 1,
}

/// The starting points of [`LimitsSolver`] at one final field: the levels at B_f and, at the
/// node temperatures T_k = 0.02 K x 1.1^k up to 300 K, y = ln G of both balances' G(T)
/// (Eq. 9: <E'> + U_ph, Eq. 11: S - ln g_0 + S_ph) with dv/dy and d^2v/dy^2 of the inverse
/// v(y) = -1/T. The guess for a target G* is the quintic Hermite interpolant of v(y) between
/// the two nodes whose y bracket ln G* (within ~1e-5 of T_f for Mn12Ac), so that the solver
/// usually needs one evaluation per root. Each node is computed on first use, by whichever
/// thread needs it, and is a deterministic function of the spin, the lattice, B_f and k
/// alone: a root does not depend on which nodes exist, which solver or thread built them, nor
/// on the other elements of an array (docs/numerics.md section 9). About 9 KB once filled.
#[derive(Debug)]
pub struct FinalTable {
    spin: GiantSpin,
    debye: Debye,
    b_final_t: f64,
    levels: Levels,
    nodes: Vec<OnceLock<TableNode>>,
}

impl FinalTable {
    /// The (empty) table of `spin` and `debye` at `b_final_t`.
    pub fn new(spin: &GiantSpin, debye: &Debye, b_final_t: f64) -> Self {
        let mut levels = Levels::new(spin.n_levels());
        levels.set(spin, b_final_t);
        Self {
            spin: *spin,
            debye: *debye,
            b_final_t,
            levels,
            nodes: (0..TABLE_NODES).map(|_| OnceLock::new()).collect(),
        }
    }

    /// The final field, T.
    pub fn b_final_t(&self) -> f64 {
        self.b_final_t
    }

    /// How many nodes have been computed.
    pub fn nodes_computed(&self) -> usize {
        self.nodes.iter().filter(|n| n.get().is_some()).count()
    }

    fn node(&self, k: usize) -> &TableNode {
        self.nodes[k].get_or_init(|| {
            let t = table_node_t(k);
            let s = level_stats(&self.levels, t);
            let d = &self.debye;
            let c = s.heat_capacity + d.heat_capacity(t);
            let dc = s.heat_capacity_slope + d.heat_capacity_slope(t);
            let c_t = c / t;
            let v = -1.0 / t;
            TableNode {
                v,
                t_of_v: -1.0 / v,
                of: [
                    InverseNode::new(s.energy_k + d.energy_k(t), c, dc, t),
                    InverseNode::new(
                        ((s.z_exc / s.g0).ln_1p() + s.energy_k * s.beta) + d.entropy(t),
                        c_t,
                        (dc - c_t) / t,
                        t,
                    ),
                ],
            }
        })
    }

    /// A temperature close to the root of G(T) = e^`y` for `balance`, or `None` where ln G*
    /// is outside the nodes' range (or a node is not usable). The bracketing nodes are
    /// searched from `t_start_k` (a temperature near the root) by steps predicted from each
    /// node's derivatives, bisection after eight probes; whatever the path, the two nodes
    /// found are the same, and so is the guess.
    #[cfg(test)]
    fn guess(&self, balance: Balance, y: f64, t_start_k: f64) -> Option<f64> {
        self.bracket_from(balance, y, table_node_index(t_start_k), false)
            .map(|b| b.guess(y))
    }

    /// The [`Bracket`] of `y` for `balance` (see [`Self::guess`]), searched from node
    /// `k_start` (clamped to the nodes). With `near` (`k_start` the lower node of a previous
    /// search, e.g. of the previous element of an array), the second probe is the neighbour
    /// on the side of the root, without a prediction. The nodes found, and so the bracket,
    /// are the same from any start.
    fn bracket_from(
        &self,
        balance: Balance,
        y: f64,
        k_start: isize,
        near: bool,
    ) -> Option<Bracket> {
        let j = balance as usize;
        if !y.is_finite() {
            return None;
        }
        let n = TABLE_NODES as isize;
        // Nodes lo and hi with y_lo <= y < y_hi; -1 and n stand for the ends (not evaluated).
        let (mut lo, mut hi) = (-1_isize, n);
        let mut k = k_start.clamp(0, n - 1);
        for probe in 0.. {
            let node = self.node(k as usize);
            let p = node.of[j];
            if !p.usable {
                return None;
            }
            if p.y <= y {
                lo = k;
            } else {
                hi = k;
            }
            if hi - lo == 1 {
                break;
            }
            // After the previous search's lower node: its neighbour on the root's side.
            let neighbour = if k == lo { k + 1 } else { k - 1 };
            k = if near && probe == 0 && neighbour > lo && neighbour < hi {
                neighbour
            } else if probe >= 8 {
                lo + (hi - lo) / 2
            } else {
                // The node at or below the temperature predicted from this one.
                let dy = y - p.y;
                let v = node.v + dy * (p.dv + 0.5 * dy * p.d2v);
                let kp = if v < 0.0 {
                    table_node_index(-1.0 / v)
                } else {
                    n - 1
                };
                if kp <= lo {
                    lo + 1
                } else if kp >= hi {
                    hi - 1
                } else if kp == k {
                    // The root predicted above node k, so next to it on the side it is on.
                    if k == lo {
                        k + 1
                    } else {
                        k - 1
                    }
                } else {
                    kp
                }
            };
        }
        if lo < 0 || hi >= n {
            return None;
        }
        Some(Bracket::new(
            balance,
            lo,
            self.node(lo as usize),
            self.node(hi as usize),
        ))
    }
}

/// The interval between two neighbouring nodes of a [`FinalTable`] for one balance, with the
/// quintic Hermite interpolant of v(y) = -1/T on it as a polynomial in x = (y - y_lo)/h,
/// h = y_hi - y_lo: v = c_0 + c_1 x + ... + c_5 x^5 (matching v, h dv/dy and h^2 d^2v/dy^2 at
/// both ends). A [`LimitsSolver`] keeps the last bracket of each balance: the next target in
/// the same interval (along a sorted array, most of them) is interpolated without a search.
/// The coefficients are a function of the two nodes alone, so a guess does not depend on
/// whether its bracket was cached.
#[derive(Debug, Clone, Copy)]
struct Bracket {
    /// The lower node's index.
    lo: isize,
    y_lo: f64,
    y_hi: f64,
    inv_h: f64,
    c: [f64; 6],
    /// The nodes' temperatures (-1/v), K: a guess outside them is replaced by their
    /// geometric mean.
    t_lo: f64,
    t_hi: f64,
}

impl Bracket {
    fn new(balance: Balance, lo: isize, a: &TableNode, b: &TableNode) -> Self {
        let j = balance as usize;
        let (pa, pb) = (a.of[j], b.of[j]);
        let h = pb.y - pa.y;
        // The Hermite basis (h0 = 1 - 10x^3 + 15x^4 - 6x^5, h1 = x - 6x^3 + 8x^4 - 3x^5,
        // h2 = (x^2 - 3x^3 + 3x^4 - x^5)/2, k0 = 1 - h0, k1 = -4x^3 + 7x^4 - 3x^5,
        // k2 = (x^3 - 2x^4 + x^5)/2) collected by powers of x, with d = v_b - v_a.
        let (a0, a1, a2) = (a.v, h * pa.dv, h * h * pa.d2v);
        let (b1, b2) = (h * pb.dv, h * h * pb.d2v);
        let d = b.v - a.v;
        Self {
            lo,
            y_lo: pa.y,
            y_hi: pb.y,
            inv_h: 1.0 / h,
            c: [
                a0,
                a1,
                0.5 * a2,
                10.0 * d - 6.0 * a1 - 4.0 * b1 - 1.5 * a2 + 0.5 * b2,
                -15.0 * d + 8.0 * a1 + 7.0 * b1 + 1.5 * a2 - b2,
                6.0 * d - 3.0 * a1 - 3.0 * b1 - 0.5 * a2 + 0.5 * b2,
            ],
            t_lo: a.t_of_v,
            t_hi: b.t_of_v,
        }
    }

    /// Whether `y` is in [y_lo, y_hi).
    fn holds(&self, y: f64) -> bool {
        self.y_lo <= y && y < self.y_hi
    }

    /// The interpolated temperature at `y` (in the bracket), K.
    fn guess(&self, y: f64) -> f64 {
        let x = (y - self.y_lo) * self.inv_h;
        let c = &self.c;
        let v = c[0] + x * (c[1] + x * (c[2] + x * (c[3] + x * (c[4] + x * c[5]))));
        let t = -1.0 / v;
        if t > self.t_lo && t < self.t_hi {
            t
        } else {
            (self.t_lo * self.t_hi).sqrt()
        }
    }
}

/// Both limits (Eq. 9 and 11) of many field changes from one initial field, as `smmcool
/// limits` and the Python `limits` compute them: the level energies at B_i are shifted to
/// their minimum once (those at B_f again only when B_f changes), the Boltzmann weights come
/// from a recurrence of ratios (five exponentials per temperature, [`Levels`]), and each root
/// is found by steps of order four ([`root_step`]) with the analytic derivatives dU/dT = C and
/// dS/dT = C/T (and their first two derivatives), safeguarded by a bracket, taken in -1/T on
/// ln(<E'> + U_ph) and ln(S - ln g_0 + S_ph), nearly linear there. Each starts from one
/// evaluation at the guess of the [`FinalTable`] of B_f (built on first use, or shared with
/// [`Self::use_table`]), Eq. 11 also from the last point of Eq. 9 (T_sudden bounds it from
/// above); without a guess from one at T_i (docs/numerics.md section 9). The roots are those of [`FieldChange::sudden_final_k`] and
/// [`FieldChange::isentropic_final`] (the engine's, bracketing with Brent's method to 1e-12 K):
/// from T_i = 0.3 K up they agree within that tolerance, 1e-12 K + 1e-13 T; below, where the
/// bracketing solver's ln Z' loses up to 3e-10 of T_f, this one keeps full precision
/// (tests/reference_limits.rs). A solver holds scratch: one per thread (tables may be shared).
#[derive(Debug, Clone)]
pub struct LimitsSolver<'a> {
    spin: &'a GiantSpin,
    debye: &'a Debye,
    b_initial_t: f64,
    /// The levels at B_i.
    initial: Levels,
    /// The table of the last final field (its levels at B_f and the starting points), built
    /// by this solver or shared ([`Self::use_table`]).
    table: Option<Arc<FinalTable>>,
    /// The bracket of the last search in that table, per balance (Eq. 9, 11): a target inside
    /// it is interpolated without a search; otherwise the next search starts from its lower
    /// node (the nodes found do not depend on it).
    brackets: [Option<Bracket>; 2],
    /// The final levels' energies at the initial levels' pairs ([`Levels::pair_values`]):
    /// what the start's frozen energy sums over the paired walk.
    dot_pairs: Vec<[f64; 2]>,
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
            initial: Levels::new(n),
            table: None,
            brackets: [None; 2],
            dot_pairs: Vec::new(),
        };
        s.initial.set(spin, b_initial_t);
        s
    }

    /// The final field of the table in use, T (`None` before the first).
    pub fn table_field_t(&self) -> Option<f64> {
        self.table.as_ref().map(|t| t.b_final_t)
    }

    /// Solve field changes to `table`'s final field with `table` (shared between solvers and
    /// threads, e.g. [`crate::kinetics::EngineContext::limits_table`]) instead of a table of
    /// this solver's own: the same numbers, as a table's content depends only on the spin,
    /// the lattice and B_f. Panics if `table` is of another spin or lattice.
    pub fn use_table(&mut self, table: Arc<FinalTable>) {
        assert!(
            table.spin == *self.spin && table.debye == *self.debye,
            "a limits table of another material"
        );
        self.initial
            .pair_values(&table.levels.e_rel, &mut self.dot_pairs);
        self.table = Some(table);
        self.brackets = [None; 2];
    }

    /// (sudden T_f, isentropic outcome) of B_i -> `b_final_t` from `t_initial_k`.
    pub fn solve(
        &mut self,
        b_final_t: f64,
        t_initial_k: f64,
    ) -> Result<(f64, Isentropic), NumericsError> {
        self.prepare(b_final_t, t_initial_k)?;
        let table = self.table.as_deref().expect("prepared");
        let e_final = &table.levels;
        let (start, u_frozen) = level_stats_and_dot::<true, false>(
            &self.initial,
            t_initial_k,
            &e_final.e_rel,
            &self.dot_pairs,
        );
        #[allow(clippy::float_cmp)] // exactly no field change
        let same_field = b_final_t == self.b_initial_t;
        let st = Targets::of(
            self.debye,
            same_field,
            table,
            &mut self.brackets,
            t_initial_k,
            &start,
            u_frozen,
        );
        let s9 = level_stats(e_final, st.t9);
        // Both roots start at T_i where neither has a table guess: one evaluation (the same
        // numbers as two).
        let s11 = if st.needs_11 && st.t11.to_bits() != st.t9.to_bits() {
            level_stats(e_final, st.t11)
        } else {
            s9
        };
        st.finish(self.debye, e_final, s9, s11)
    }

    /// [`Self::solve`] of four initial temperatures to one final field: the same results bit
    /// for bit, with the three evaluations of the Boltzmann sums of each element (the start at
    /// (B_i, T_i) and the two at the guesses) taken for the four elements together, one lane
    /// each ([`level_stats_and_dot4`]); four independent chains of operations where one
    /// element has one. Where the four cannot take that path (an input refused, the
    /// levels without the paired walk at one of the temperatures), each is solved alone.
    pub fn solve4(
        &mut self,
        b_final_t: f64,
        t_initial_k: [f64; 4],
    ) -> [Result<(f64, Isentropic), NumericsError>; 4] {
        let mut out = [None, None, None, None];
        self.solve4_with(b_final_t, t_initial_k, |k, r| out[k] = Some(r));
        out.map(|r| r.expect("one result per element"))
    }

    /// [`Self::solve4`], each element's result handed to `each` (its index 0..4, in order)
    /// instead of returned together (an array of four results is copied several times).
    #[inline]
    pub fn solve4_with(
        &mut self,
        b_final_t: f64,
        t_initial_k: [f64; 4],
        mut each: impl FnMut(usize, Result<(f64, Isentropic), NumericsError>),
    ) {
        if !self.solve4_together(b_final_t, t_initial_k, &mut each) {
            for (k, t) in t_initial_k.into_iter().enumerate() {
                each(k, self.solve(b_final_t, t));
            }
        }
    }

    /// The four-lane path of [`Self::solve4`]: false (before any result is handed on) where
    /// it does not apply.
    #[inline]
    fn solve4_together(
        &mut self,
        b_final_t: f64,
        ti: [f64; 4],
        each: &mut impl FnMut(usize, Result<(f64, Isentropic), NumericsError>),
    ) -> bool {
        for t in ti {
            if self.prepare(b_final_t, t).is_err() {
                return false;
            }
        }
        let table = self.table.as_deref().expect("prepared");
        let e_final = &table.levels;
        let Some((starts, u_frozen)) =
            level_stats_and_dot4::<true, false>(&self.initial, ti, &e_final.e_rel, &self.dot_pairs)
        else {
            return false;
        };
        #[allow(clippy::float_cmp)] // exactly no field change
        let same_field = b_final_t == self.b_initial_t;
        let brackets = &mut self.brackets;
        let st: [Targets; 4] = std::array::from_fn(|k| {
            Targets::of(
                self.debye,
                same_field,
                table,
                brackets,
                ti[k],
                &starts[k],
                u_frozen[k],
            )
        });
        // Where an element's evaluation at its first point is not possible in lanes, the
        // others' results must not depend on it: all four are then solved alone.
        let Some((s9, _)) =
            level_stats_and_dot4::<false, true>(e_final, st.map(|s| s.t9), &[], &[])
        else {
            return false;
        };
        let s11 = if st.iter().any(|s| s.needs_11) {
            match level_stats_and_dot4::<false, true>(e_final, st.map(|s| s.t11), &[], &[]) {
                Some((s11, _)) => s11,
                None => return false,
            }
        } else {
            s9
        };
        for k in 0..4 {
            each(k, st[k].finish(self.debye, e_final, s9[k], s11[k]));
        }
        true
    }

    /// Check one field change and make the table of `b_final_t` current.
    fn prepare(&mut self, b_final_t: f64, t_initial_k: f64) -> Result<(), NumericsError> {
        FieldChange {
            spin: self.spin,
            debye: self.debye,
            b_initial_t: self.b_initial_t,
            b_final_t,
            t_initial_k,
        }
        .validate()?;
        if self.table_field_t().map(f64::to_bits) != Some(b_final_t.to_bits()) {
            let table = FinalTable::new(self.spin, self.debye, b_final_t);
            self.initial
                .pair_values(&table.levels.e_rel, &mut self.dot_pairs);
            self.table = Some(Arc::new(table));
            self.brackets = [None; 2];
        }
        Ok(())
    }
}

/// What the roots of one element of [`LimitsSolver`] start from ([`Targets::of`]).
#[derive(Debug, Clone, Copy)]
struct Targets {
    /// S(B_i, T_i) + S_ph(T_i), k_B.
    s_target: f64,
    u_ph_i: f64,
    /// sum n_i(B_i, T_i) e_f,i, K.
    u_frozen: f64,
    g_star_9: f64,
    g_star_11: f64,
    /// ln g_0 at B_f.
    residual: f64,
    g0: usize,
    /// The temperatures of each root's first evaluation, K.
    t9: f64,
    t11: f64,
    /// Whether Eq. 11 has a solution (S_total > ln g_0).
    needs_11: bool,
}

impl Targets {
    /// What the roots of one element start from, given the start's statistics at (B_i, T_i)
    /// and the frozen populations' energy on the final levels: the targets and the
    /// temperatures of the first evaluation of each root (the table's guesses, else T_i).
    #[allow(clippy::too_many_arguments)]
    fn of(
        debye: &Debye,
        same_field: bool,
        table: &FinalTable,
        brackets: &mut [Option<Bracket>; 2],
        ti: f64,
        start: &LevelStats,
        u_frozen: f64,
    ) -> Self {
        let e_final = &table.levels;
        // The start: frozen populations (Eq. 4) and the total entropy.
        // With the frozen populations' energy on the final levels, sum n_i(B_i, T_i) e_f,i,
        // summed as `level_stats` sums <E'>, so that B_f = B_i gives exactly Delta T = 0.
        let s_target = start.entropy() + debye.entropy(ti);
        let u_ph_i = debye.energy_k(ti);
        // Each root starts from one evaluation at the table's guess; without one (B_f = B_i,
        // which gives exactly T_i from T_i, or ln G* outside the table) from one at T_i, the
        // isentropic one also from the last point the sudden one evaluated, close to
        // T_sudden, which bounds it from above (the sudden process makes entropy:
        // S(B_f, T_sudden) >= S(B_i, T_i)).
        let mut guess = |balance: Balance, g_star: f64, t_start: f64| {
            if same_field || g_star.is_nan() || g_star <= 0.0 {
                return None;
            }
            let y = g_star.ln();
            let cached = &mut brackets[balance as usize];
            let (k, is_near) = match cached {
                Some(b) if b.holds(y) => return Some(b.guess(y)),
                Some(b) => (b.lo, true),
                None => (table_node_index(t_start), false),
            };
            let b = table.bracket_from(balance, y, k, is_near)?;
            *cached = Some(b);
            Some(b.guess(y))
        };
        // G = <E'> + U_ph >= 0 (energies above the lowest level), G* > 0 unless U_ph(T_i)
        // underflows with nothing frozen above the lowest level.
        let g_star_9 = u_frozen + u_ph_i;
        let residual = e_final.ln_g0;
        let g_star_11 = s_target - residual;
        // Both guesses first, then the evaluations at them: Eq. 11's guess does not depend
        // on Eq. 9's root (the nodes a search finds do not depend on where it starts, here
        // Eq. 9's guess), so the two evaluations are independent neighbours in the
        // instruction stream, which the processor runs overlapped (the same numbers as one
        // after the other). An evaluation at T_i (no guess) is the same numbers wherever it
        // is made.
        let guess_9 = guess(Balance::Energy, g_star_9, ti);
        let needs_11 = s_target > residual;
        let guess_11 = if needs_11 {
            guess(Balance::Entropy, g_star_11, guess_9.unwrap_or(ti))
        } else {
            None
        };
        Targets {
            s_target,
            u_ph_i,
            u_frozen,
            g_star_9,
            g_star_11,
            residual,
            g0: e_final.g0,
            t9: guess_9.unwrap_or(ti),
            t11: guess_11.unwrap_or(ti),
            needs_11,
        }
    }

    /// Both roots of one element from the statistics `s9` at `st.t9` and `s11` at `st.t11`
    /// (the latter read only where Eq. 11 has a solution).
    fn finish(
        &self,
        debye: &Debye,
        e_final: &Levels,
        s9: LevelStats,
        s11: LevelStats,
    ) -> Result<(f64, Isentropic), NumericsError> {
        let st = self;
        let (u_frozen, u_ph_i, s_target) = (st.u_frozen, st.u_ph_i, st.s_target);
        // Eq. 9 and Eq. 11 as g(T) with g' and g'' from the statistics at T.
        let sudden_g = |s: &LevelStats, t: f64| {
            (
                (s.energy_k - u_frozen) + (debye.energy_k(t) - u_ph_i),
                s.heat_capacity + debye.heat_capacity(t),
                s.heat_capacity_slope + debye.heat_capacity_slope(t),
                s.heat_capacity_curvature + debye.heat_capacity_curvature(t),
            )
        };
        let isentropic_g = |s: &LevelStats, t: f64| {
            let c = s.heat_capacity + debye.heat_capacity(t);
            let dc = s.heat_capacity_slope + debye.heat_capacity_slope(t);
            let d2c = s.heat_capacity_curvature + debye.heat_capacity_curvature(t);
            let (c_t, dc_t) = (c / t, dc / t);
            (
                (s.entropy() + debye.entropy(t)) - s_target,
                c_t,
                (dc - c_t) / t,
                (d2c - 2.0 * (dc_t - c_t / t)) / t,
            )
        };
        let point = |(g, d1, d2, d3): (f64, f64, f64, f64), t: f64| (t, g, d1, d2, d3);
        let (t0, s0) = (st.t9, s9);
        let mut last = (t0, s0);
        let g_star_9 = st.g_star_9;
        let sudden = fast_increasing_root(
            "sudden-quench heat balance (Eq. 9)",
            &[point(sudden_g(&s0, t0), t0)],
            (g_star_9 > 0.0).then_some(g_star_9),
            |t| {
                let s = level_stats(e_final, t);
                last = (t, s);
                sudden_g(&s, t)
            },
        )?;
        if !st.needs_11 {
            return Ok((
                sudden,
                Isentropic::NoFiniteSolution {
                    target_entropy: s_target,
                    residual_entropy: st.residual,
                    ground_degeneracy: st.g0,
                },
            ));
        }
        let from = (st.t11, s11);
        let t = fast_increasing_root(
            "isentropic condition (Eq. 11)",
            &[
                point(isentropic_g(&from.1, from.0), from.0),
                point(isentropic_g(&last.1, last.0), last.0),
            ],
            Some(st.g_star_11),
            |t| isentropic_g(&level_stats(e_final, t), t),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinetics::EngineContext;
    use crate::model::GiantSpin;

    /// The table's guesses: close to the roots (what saves the evaluations), and the same bits
    /// whichever nodes exist and wherever the search starts.
    #[test]
    fn table_guesses_are_close_and_independent_of_the_nodes_present() {
        let m = Material::mn12ac();
        for bf in [0.1, 0.0, 1.0] {
            let warm = FinalTable::new(&m.spin, &m.debye, bf);
            for k in 0..TABLE_NODES {
                warm.node(k);
            }
            let mut worst = 0.0_f64;
            for i in 0..200 {
                let t = 0.05 * 4000f64.powf(f64::from(i) / 199.0);
                let s = level_stats(&warm.levels, t);
                let g = [
                    s.energy_k + m.debye.energy_k(t),
                    ((s.z_exc / s.g0).ln_1p() + s.energy_k * s.beta) + m.debye.entropy(t),
                ];
                for (balance, big_g) in [(Balance::Energy, g[0]), (Balance::Entropy, g[1])] {
                    let y = big_g.ln();
                    let w = warm.guess(balance, y, t).unwrap();
                    for start in [t, 0.5 * t, 3.0 * t, 0.01, 1e3] {
                        // A fresh table per search: only the nodes this search visits exist.
                        let fresh = FinalTable::new(&m.spin, &m.debye, bf);
                        let f = fresh.guess(balance, y, start).unwrap();
                        assert_eq!(f.to_bits(), w.to_bits(), "Bf = {bf}, T = {t}, from {start}");
                        assert!(fresh.nodes_computed() < TABLE_NODES / 4);
                    }
                    worst = worst.max((w / t - 1.0).abs());
                }
            }
            // The guess must be within the solver's stop (1e-4) to save an evaluation.
            assert!(worst < 2e-5, "Bf = {bf}: guess off by {worst:.1e}");
            // Outside the nodes' range: no guess.
            assert!(warm.guess(Balance::Energy, -1e3, 1.0).is_none());
            assert!(warm.guess(Balance::Entropy, 1e3, 1.0).is_none());
        }
    }

    /// The paired walk of the weights gives the bits of the walk one run at a time (with the
    /// underflow test): Z', <E'>, the entropy, the heat capacity and its derivatives and the
    /// dot, for easy-axis and easy-plane spins of several sizes, fields on both sides of 0
    /// (runs of unequal length, or one empty), from 0.01 K to 1000 K.
    #[test]
    fn paired_walk_gives_the_same_bits_as_the_walk_one_run_at_a_time() {
        let spins = [
            GiantSpin::new(10.0, -0.65, 1.94).unwrap(),
            GiantSpin::new(10.0, 0.66, 2.0).unwrap(),
            GiantSpin::new(4.5, -1.3, 2.0).unwrap(),
            GiantSpin::new(1.0, -2.0, 2.0).unwrap(),
            GiantSpin::new(20.0, -0.1, 2.0).unwrap(),
        ];
        let mut paired_used = 0;
        for spin in &spins {
            for b in [0.0, 0.1, -0.3, 1.0, 7.0] {
                let mut paired = Levels::new(spin.n_levels());
                paired.set(spin, b);
                let mut single = paired.clone();
                single.paired = false;
                let other: Vec<f64> = (0..spin.n_levels()).map(|i| 0.3 * i as f64).collect();
                for i in 0..120 {
                    let t = 0.01 * 1e5f64.powf(f64::from(i) / 119.0);
                    let bits = |l: &Levels| {
                        let mut pairs = Vec::new();
                        l.pair_values(&other, &mut pairs);
                        let (s, dot) = level_stats_and_dot::<true, true>(l, t, &other, &pairs);
                        [
                            s.z_exc,
                            s.energy_k,
                            s.entropy(),
                            s.heat_capacity,
                            s.heat_capacity_slope,
                            s.heat_capacity_curvature,
                            dot,
                        ]
                        .map(f64::to_bits)
                    };
                    assert_eq!(bits(&paired), bits(&single), "{spin:?}, {b} T, {t} K");
                    if !paired.pairs.is_empty() && paired.e_max_k / t <= NO_UNDERFLOW {
                        paired_used += 1;
                    }
                }
            }
        }
        assert!(paired_used > 1000, "{paired_used}");
    }

    /// A solver's roots are functions of the material, B_i, B_f and T_i alone: the same bits
    /// from a fresh solver per element, one solver in order, and one on tables shared through
    /// an engine context in the reverse order (what the Python array call and scalar calls do).
    /// The four-lane evaluation gives each lane the bits of the one-temperature evaluation
    /// (both kinds: the start's with the dot and without moments, the guesses' with moments),
    /// on five spins (easy axis and easy plane, half-integer, S = 1 and 20) at five fields over
    /// four decades of temperature, lanes in shuffled order; and declines (`None`) exactly
    /// where some lane cannot take the paired walk.
    #[test]
    fn four_lanes_give_the_bits_of_one_evaluation_each() {
        let spins = [
            GiantSpin::new(10.0, -0.65, 1.94).unwrap(),
            GiantSpin::new(10.0, 0.66, 2.0).unwrap(),
            GiantSpin::new(4.5, -1.3, 2.0).unwrap(),
            GiantSpin::new(1.0, -2.0, 2.0).unwrap(),
            GiantSpin::new(20.0, -0.1, 2.0).unwrap(),
        ];
        let (mut lanes_used, mut declined) = (0, 0);
        for spin in &spins {
            for b in [0.0, 0.1, -0.3, 1.0, 7.0] {
                let mut levels = Levels::new(spin.n_levels());
                levels.set(spin, b);
                let other: Vec<f64> = (0..spin.n_levels()).map(|i| 0.3 * i as f64 - 1.0).collect();
                let mut pairs = Vec::new();
                levels.pair_values(&other, &mut pairs);
                let ts: Vec<f64> = (0..120)
                    .map(|i| 0.01 * 1e4f64.powf(f64::from((i * 37) % 120) / 119.0))
                    .collect();
                for t4 in ts.chunks(4) {
                    let t4 = [t4[0], t4[1], t4[2], t4[3]];
                    let one = |s: &LevelStats, dot: f64| {
                        [
                            s.beta,
                            s.z_exc,
                            s.energy_k,
                            s.entropy(),
                            s.heat_capacity,
                            s.heat_capacity_slope,
                            s.heat_capacity_curvature,
                            dot,
                        ]
                        .map(f64::to_bits)
                    };
                    let walkable = levels.recurrence
                        && !levels.runs[1].e.is_empty()
                        && t4.iter().all(|t| {
                            levels.e_max_k * (1.0 / t) <= NO_UNDERFLOW
                                && (levels.gap_change_k * (1.0 / t)).abs() <= NO_UNDERFLOW
                        });
                    let start = level_stats_and_dot4::<true, false>(&levels, t4, &other, &pairs);
                    let guess = level_stats_and_dot4::<false, true>(&levels, t4, &[], &[]);
                    assert_eq!(start.is_some(), walkable, "{spin:?}, {b} T, {t4:?} K");
                    assert_eq!(guess.is_some(), walkable);
                    let (Some((s4, d4)), Some((g4, _))) = (start, guess) else {
                        declined += 1;
                        continue;
                    };
                    lanes_used += 1;
                    for k in 0..4 {
                        let (s, d) =
                            level_stats_and_dot::<true, false>(&levels, t4[k], &other, &pairs);
                        assert_eq!(
                            one(&s4[k], d4[k]),
                            one(&s, d),
                            "{spin:?}, {b} T, {} K",
                            t4[k]
                        );
                        let g = level_stats(&levels, t4[k]);
                        assert_eq!(
                            one(&g4[k], 0.0),
                            one(&g, 0.0),
                            "{spin:?}, {b} T, {} K",
                            t4[k]
                        );
                    }
                }
            }
        }
        assert!(
            lanes_used > 200 && declined > 200,
            "{lanes_used} {declined}"
        );
    }

    /// [`LimitsSolver::solve4`] gives the bits (and errors) of four calls of
    /// [`LimitsSolver::solve`]: three spins, three initial and five final fields (B_f = B_i
    /// included), initial temperatures from 0.03 to 300 K in shuffled quadruples, some with an
    /// input refused (a negative or NaN temperature) among them.
    #[test]
    fn solve4_gives_the_bits_of_four_solves() {
        let mut materials = vec![Material::mn12ac()];
        for spin in [
            GiantSpin::new(4.5, -1.3, 2.0).unwrap(),
            GiantSpin::new(10.0, 0.66, 2.0).unwrap(),
        ] {
            let mut m = Material::mn12ac();
            m.spin = spin;
            materials.push(m);
        }
        let bits = |r: &Result<(f64, Isentropic), NumericsError>| match r {
            Ok((a, b)) => Ok((a.to_bits(), b.t_final_k().map(f64::to_bits))),
            Err(e) => Err(e.to_string()),
        };
        let mut together = 0;
        for m in &materials {
            for bi in [0.5, 0.0, 2.0] {
                for bf in [0.1, 0.0, 0.5, 2.0, -0.3] {
                    let mut ts: Vec<f64> = (0..64)
                        .map(|i| 0.03 * 1e4f64.powf(f64::from((i * 29) % 64) / 63.0))
                        .collect();
                    ts[13] = -1.0;
                    ts[42] = f64::NAN;
                    let mut four = LimitsSolver::new(m, bi);
                    let mut one = LimitsSolver::new(m, bi);
                    for t4 in ts.chunks(4) {
                        let t4 = [t4[0], t4[1], t4[2], t4[3]];
                        let got = four.solve4(bf, t4);
                        if four.solve4_together(bf, t4, &mut |_, _| {}) {
                            together += 1;
                        }
                        for k in 0..4 {
                            let want = LimitsSolver::new(m, bi).solve(bf, t4[k]);
                            assert_eq!(bits(&got[k]), bits(&want), "{bi} -> {bf} T, {} K", t4[k]);
                            assert_eq!(bits(&one.solve(bf, t4[k])), bits(&want));
                        }
                    }
                }
            }
        }
        assert!(together > 300, "{together}");
    }

    #[test]
    fn roots_do_not_depend_on_order_or_on_shared_tables() {
        let m = Material::mn12ac();
        let cases: Vec<(f64, f64)> = [0.1, 0.0, 0.5, 2.0, -0.3]
            .iter()
            .flat_map(|&bf| (0..40).map(move |i| (bf, 0.1 * 1.15f64.powi(i))))
            .collect();
        let bits = |r: (f64, Isentropic)| (r.0.to_bits(), r.1.t_final_k().map(f64::to_bits));
        let fresh: Vec<_> = cases
            .iter()
            .map(|&(bf, ti)| bits(LimitsSolver::new(&m, 0.5).solve(bf, ti).unwrap()))
            .collect();
        let mut one = LimitsSolver::new(&m, 0.5);
        let ctx = EngineContext::new();
        let mut shared = LimitsSolver::new(&m, 0.5);
        for (i, &(bf, ti)) in cases.iter().enumerate().rev() {
            assert_eq!(bits(one.solve(bf, ti).unwrap()), fresh[i], "{bf} T, {ti} K");
            if shared.table_field_t() != Some(bf) {
                shared.use_table(ctx.limits_table(&m.spin, &m.debye, bf));
            }
            assert_eq!(
                bits(shared.solve(bf, ti).unwrap()),
                fresh[i],
                "{bf} T, {ti} K"
            );
        }
    }
}
