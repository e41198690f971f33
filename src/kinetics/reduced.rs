//! The two-well reduction for the slow over-barrier stage (docs/physics.md section 6).
//!
//! Once the intra-well modes have decayed (or whenever the ramp is slow against them) each well
//! holds a Boltzmann distribution at the phonon temperature, and only the well occupation
//! P_R moves:
//!   dP_R/dt = lambda1(B, T) (P_R,eq(B, T) - P_R),
//!   dw/dt = (dB/dt) [P_L <dE/dB>_L + P_R <dE/dB>_R],
//! with T fixed at every instant by the energy balance
//!   P_L eps_L(B, T) + P_R eps_R(B, T) + U_ph(T) = U_0 + w.
//! lambda1 = kappa(T) lambda1_0(B, T) comes from the exact slow-mode computation
//! ([`crate::rates::slowmode`]), so no quantity here is a difference of cancelling intra-well fluxes:
//! this stays exact in double precision at any temperature. Energy is conserved by
//! construction; the error of the reduction is of order lambda1/lambda2.
//!
//! With a heat link to a bath the state gains the heat q that has left (dq/dt = Q(T)), and the
//! energy balance reads ... = U_0 + w - q: the temperature solve takes the net energy received,
//! w - q. The same system at B_f with dB/dt = 0 ([`Driven::holding`](super::drive::Driven::holding)) carries the
//! relaxation after the ramp under a link (docs/numerics.md, "Linked relaxation").
//!
//! Wells: each level M belongs to the right well with weight q_R(M) and to the left with
//! q_L(M) = 1 - q_R(M), the committors of the rate matrix at (B, T) (the probability of reaching
//! the right bottom before the left one). This is the slow manifold of the full equation up to
//! O(lambda1/lambda2); a fixed split (barrier top counted half) would be off by the population
//! of the near-top levels, ~exp(-barrier/T), whenever the wells are out of equilibrium.

use super::drive::{Drive, Driven};
use super::welltable::{BalanceSolve, FieldSlice, PlaneTable, WellValues};
use super::EngineContext;
use crate::error::NumericsError;
use crate::model::protocol::Protocol;
use crate::model::thermo::boltzmann_into;
use crate::model::{Debye, GiantSpin};
use crate::numerics::roots::increasing_root;
use crate::numerics::solver::OdeSystem;
use crate::rates::slowmode::MMatrixLu;
use crate::rates::RateModel;
use nalgebra::{DMatrix, DVector};
use std::cell::{Cell, RefCell};
use std::sync::Arc;

/// How each level is shared between the wells: `right[i]` in {0, 1/2, 1}, left = 1 - right.
#[derive(Debug, Clone, PartialEq)]
pub struct Wells {
    /// Weight of each level in the right (M > 0) well.
    pub right: Vec<f64>,
}

impl Wells {
    /// The split for the levels at `field_t`.
    pub fn at_field(spin: &GiantSpin, field_t: f64) -> Self {
        let e = spin.energies(field_t);
        let top = e.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let tops: Vec<usize> = (0..e.len()).filter(|&i| e[i] >= top).collect();
        let right = (0..e.len())
            .map(|i| {
                if tops.len() == 1 && i == tops[0] {
                    0.5
                } else if i > tops[0] {
                    1.0
                } else {
                    0.0
                }
            })
            .collect();
        Self { right }
    }

    /// P_R of a population vector.
    pub fn right_occupation(&self, n: &[f64]) -> f64 {
        n.iter().zip(&self.right).map(|(n, c)| n * c).sum()
    }
}

/// Equilibrium quantities of each well at (B, T).
#[derive(Debug, Clone)]
pub struct WellState {
    /// Boltzmann populations at (B, T).
    pub equilibrium: Vec<f64>,
    /// P_R in equilibrium.
    pub right_eq: f64,
    /// Share of each level in the left and right wells (committors).
    pub weights: [Vec<f64>; 2],
    /// Equilibrium occupations of the left and right wells (P_L,eq, P_R,eq).
    pub mass: [f64; 2],
    /// Mean energies of the left and right intra-well distributions, K.
    pub energy_k: [f64; 2],
    /// Intra-well heat capacities, k_B.
    pub heat_capacity: [f64; 2],
    /// Mean dE/dB in each well, K/T.
    pub slope_k_per_t: [f64; 2],
}

/// The level energies at one field and a buffer for the Boltzmann weights, for the
/// populations at that field at many temperatures
/// ([`ReducedSystem::populations_at_field`]).
#[derive(Debug, Clone)]
pub(crate) struct FieldPopulations {
    field_t: f64,
    energies_k: Vec<f64>,
    equilibrium: Vec<f64>,
}

/// A converged temperature solve and the well quantities next to it.
#[derive(Debug, Clone, Copy)]
struct LastSolve {
    field_t: f64,
    right: f64,
    work_k: f64,
    t_k: f64,
    energy_k: [f64; 2],
    slope_k_per_t: [f64; 2],
    /// Total heat capacity used by the solve, k_B.
    heat_capacity: f64,
}

/// A temperature solved on the well table at (B, P_R, w) with the energy balance's
/// derivatives there: the next solve starts from its first-order prediction.
#[derive(Debug, Clone, Copy)]
struct TableSolve {
    field_t: f64,
    right: f64,
    work_k: f64,
    solve: BalanceSolve,
    /// P_L <dE/dB>_L + P_R <dE/dB>_R, K/T (the balance's B derivative).
    slope_k_per_t: f64,
}

impl TableSolve {
    /// The temperature at (B, P_R, w) to first order from this solve (the balance
    /// linearized: C dT = dw - (E_R - E_L) dP_R - <dE/dB> dB), or its own where that is not
    /// finite or leaves [T/2, 2T].
    fn predict(&self, field_t: f64, right: f64, work_k: f64) -> f64 {
        let s = &self.solve;
        let dg = s.energy_gap_k * (right - self.right)
            + self.slope_k_per_t * (field_t - self.field_t)
            - (work_k - self.work_k);
        let predicted = s.t_k - dg / s.heat_capacity;
        if predicted.is_finite() && predicted > 0.5 * s.t_k && predicted < 2.0 * s.t_k {
            predicted
        } else {
            s.t_k
        }
    }
}

/// The reduced system in state y = [P_R, w].
#[derive(Debug)]
pub struct ReducedSystem<'a> {
    spin: &'a GiantSpin,
    debye: &'a Debye,
    rates: &'a RateModel,
    wells: Wells,
    /// Total energy at w = 0 (spin + phonon), K.
    u0_k: f64,
    guess_k: Cell<f64>,
    /// The last temperature solves (a few fields), for the next one's starting point.
    recent: RefCell<Vec<LastSolve>>,
    /// The context sharing the well tables and its plane table, if in use.
    table: Option<(&'a EngineContext, Arc<PlaneTable>)>,
    /// The table at the last few fields, with the last temperature solved at each (and the
    /// solve it came from, for a first-order start).
    slices: RefCell<Vec<(FieldSlice, f64, Option<TableSolve>)>>,
    /// The last temperature solved on the table, at any field.
    last_table_solve: Cell<Option<TableSolve>>,
    /// Kernel evaluations this system spent building table panels.
    table_evaluations: Cell<usize>,
    /// The protocol, the hold flag (the relaxation after the ramp: B = B_f, dB/dt = 0) and
    /// the heat link (the state is then [P_R, w, q]).
    drive: Drive<'a>,
}

impl<'a> ReducedSystem<'a> {
    /// A reduced system with well split `wells` and energy origin `u0_k` (total energy when the
    /// work is zero).
    pub fn new(
        spin: &'a GiantSpin,
        debye: &'a Debye,
        rates: &'a RateModel,
        protocol: &'a Protocol,
        wells: Wells,
        u0_k: f64,
        guess_k: f64,
    ) -> Self {
        Self {
            spin,
            debye,
            rates,
            wells,
            u0_k,
            guess_k: Cell::new(guess_k),
            recent: RefCell::new(Vec::with_capacity(4)),
            table: None,
            slices: RefCell::new(Vec::with_capacity(4)),
            last_table_solve: Cell::new(None),
            table_evaluations: Cell::new(0),
            drive: Drive::ramp(protocol),
        }
    }

    /// The net energy received (work less heat to the bath) of state `y`, K.
    pub(super) fn net_work(&self, y: &DVector<f64>) -> f64 {
        if self.drive.link.is_some() {
            y[1] - y[2]
        } else {
            y[1]
        }
    }

    /// The same system using the tables of the well quantities shared in `ctx` wherever
    /// they can be built, the exact kernels elsewhere.
    pub fn with_table(mut self, ctx: &'a EngineContext) -> Self {
        self.table = Some((ctx, ctx.plane_table(self.rates)));
        self
    }

    /// kappa(T) of the rate model.
    pub fn kappa(&self, t_k: f64) -> Result<f64, NumericsError> {
        self.rates.kappa(t_k)
    }

    /// The well tables at `field_t`, if in use: at the final field (the hold after the ramp)
    /// the line table, 17 kernel evaluations per panel where the plane's cost 289.
    pub fn field_slice(&self, field_t: f64) -> Option<FieldSlice> {
        let (ctx, table) = self.table.as_ref()?;
        #[allow(clippy::float_cmp)] // the protocol's own final field, exactly
        Some(if field_t == self.drive.protocol.b_final_t() {
            FieldSlice::line(ctx.line_table(self.rates, field_t))
        } else {
            FieldSlice::new(table.clone(), field_t)
        })
    }

    /// Kernel evaluations this system spent building table panels (zero for panels another
    /// run built first).
    pub fn table_evaluations(&self) -> usize {
        self.table_evaluations.get()
    }

    /// Temperature and well quantities of (P_R, w) at field B from the table; `None` where it
    /// is not in use or unavailable.
    fn tabulated(&self, field_t: f64, right: f64, work_k: f64) -> Option<(f64, WellValues)> {
        let mut cache = self.slices.borrow_mut();
        let idx = match cache
            .iter()
            .position(|(s, _, _)| s.field_t().to_bits() == field_t.to_bits())
        {
            Some(i) => i,
            None => {
                // The oldest of four is dropped; on the plane table it is taken to this field
                // (its memory reused; the same series as a new one).
                let mut oldest = (cache.len() >= 4).then(|| cache.remove(0).0);
                #[allow(clippy::float_cmp)] // the protocol's own final field, exactly
                let on_plane = field_t != self.drive.protocol.b_final_t();
                let mut fresh = match oldest.take_if(|s| on_plane && s.retarget(field_t)) {
                    Some(s) => s,
                    None => self.field_slice(field_t)?,
                };
                if let Some((last, _, _)) = cache.last() {
                    fresh.start_near(last);
                }
                cache.push((fresh, self.guess_k.get(), None));
                cache.len() - 1
            }
        };
        let (slice, last_t, last_solve) = &mut cache[idx];
        // On the plane table (a reduced ramp) start from the last solve at this field moved to
        // first order in the changes of P_R and w (the stages of a Radau step keep their
        // fields while the Newton corrections move the state), else from the last solve at
        // any field moved in B too (a new step's stage fields): 18 % fewer Newton iterations
        // on the 1e-3 T/s ramp than from the last temperature alone (issue 19).
        // At the final field (the line table: the hold and the relaxation after the ramp, a
        // jump's whole reduced part) the start is the last temperature as before, so that the
        // runs without a reduced ramp keep their bits.
        #[allow(clippy::float_cmp)] // the protocol's own final field, exactly
        let on_plane = field_t != self.drive.protocol.b_final_t();
        let start = match last_solve.or(self.last_table_solve.get()) {
            Some(l) if on_plane => l.predict(field_t, right, work_k),
            _ => *last_t,
        };
        let before = slice.evaluations;
        let found = slice
            .solve_temperature(self.debye, right, self.energy_target_k(work_k), start)
            .and_then(|s| slice.values(s.t_k).map(|v| (s, v)));
        self.table_evaluations
            .set(self.table_evaluations.get() + slice.evaluations - before);
        let (solve, values) = found?;
        let t = solve.t_k;
        *last_t = t;
        self.guess_k.set(t);
        let here = TableSolve {
            field_t,
            right,
            work_k,
            solve,
            slope_k_per_t: (1.0 - right) * values.slope_k_per_t[0]
                + right * values.slope_k_per_t[1],
        };
        *last_solve = Some(here);
        self.last_table_solve.set(Some(here));
        Some((t, values))
    }

    /// The temperature of the last successful temperature solve (table or exact), K: after
    /// an accepted solver step, the one at its end (the step's last right-hand side).
    pub(crate) fn last_temperature_k(&self) -> f64 {
        self.guess_k.get()
    }

    /// The lattice.
    pub fn debye(&self) -> &Debye {
        self.debye
    }

    /// Total energy (spin + phonon) of a state that has received work `work_k`, K.
    pub fn energy_target_k(&self, work_k: f64) -> f64 {
        self.u0_k + work_k
    }

    /// How each level is shared between the wells at (B, T): the committors (q_L, q_R) of the
    /// rate matrix, i.e. the exact slow manifold up to O(lambda1/lambda2); the fixed split
    /// (barrier top counted half) if they cannot be computed.
    pub fn split(&self, field_t: f64, t_k: f64) -> (Vec<f64>, Vec<f64>) {
        let chain = self.rates.unscaled_chain(field_t, t_k);
        chain
            .interior_lu()
            .map(|lu| chain.committors(&lu))
            .unwrap_or_else(|| {
                (
                    self.wells.right.iter().map(|c| 1.0 - c).collect(),
                    self.wells.right.clone(),
                )
            })
    }

    /// Per-well equilibrium quantities at (B, T).
    pub fn well_state(&self, field_t: f64, t_k: f64) -> WellState {
        self.well_state_and_factors(field_t, t_k).0
    }

    /// [`Self::well_state`] with the interior GTH factors of the unscaled rate chain its
    /// committors come from (`None` where they cannot be computed and the fixed split is
    /// used): the slaving estimate differentiates the committors with them.
    pub(crate) fn well_state_and_factors(
        &self,
        field_t: f64,
        t_k: f64,
    ) -> (WellState, Option<MMatrixLu>) {
        // The level energies on the stack (no allocation: this runs at every population and
        // temperature evaluation of the reduction), shared by the chain and the Boltzmann
        // weights.
        let mut e_buf = crate::rates::mechanism::Scratch::new();
        let e: &mut [f64] = e_buf.get(self.spin.n_levels());
        self.spin.energies_into(field_t, e);
        let e: &[f64] = e;
        let chain = self.rates.unscaled_chain_from_energies(field_t, t_k, e);
        match chain.interior_lu() {
            Some(lu) => {
                let split = chain.committors(&lu);
                (self.well_state_with(e, t_k, split), Some(lu))
            }
            None => {
                let split = (
                    self.wells.right.iter().map(|c| 1.0 - c).collect(),
                    self.wells.right.clone(),
                );
                (self.well_state_with(e, t_k, split), None)
            }
        }
    }

    /// Per-well quantities and lambda1 = kappa(T) lambda1_0(B, T) (1/s) from one rate matrix and
    /// one factorization (the committors and the slow mode share it).
    pub fn well_state_and_rate(
        &self,
        field_t: f64,
        t_k: f64,
    ) -> Result<(WellState, f64), NumericsError> {
        self.well_state_rate_and_factors(field_t, t_k)
            .map(|(ws, lambda, _)| (ws, lambda))
    }

    /// [`Self::well_state_and_rate`] with the interior GTH factors of the unscaled rate chain
    /// its committors come from (`None` beyond the bistability field, where there is no slow
    /// mode): the slaving estimate differentiates the committors with them.
    pub(crate) fn well_state_rate_and_factors(
        &self,
        field_t: f64,
        t_k: f64,
    ) -> Result<(WellState, f64, Option<MMatrixLu>), NumericsError> {
        self.well_state_rate_and_factors_given(field_t, t_k, None)
    }

    /// [`Self::well_state_rate_and_factors`] with the unscaled slow rate lambda1_0 (1/s) taken
    /// from `lambda0_per_s` where given (the well table's value, as the slaving estimate has
    /// it) instead of the exact slow mode of the chain; the same well state, factors and
    /// errors either way.
    pub(crate) fn well_state_rate_and_factors_given(
        &self,
        field_t: f64,
        t_k: f64,
        lambda0_per_s: Option<f64>,
    ) -> Result<(WellState, f64, Option<MMatrixLu>), NumericsError> {
        let (ws, lambda0, lu) =
            self.well_state_unscaled_rate_and_factors_given(field_t, t_k, lambda0_per_s)?;
        if lu.is_none() {
            return Ok((ws, f64::INFINITY, None));
        }
        Ok((ws, self.rates.kappa(t_k)? * lambda0, lu))
    }

    /// [`Self::well_state_rate_and_factors_given`] with the unscaled slow rate lambda1_0
    /// (1/s before kappa; infinite beyond the bistability field, where the factors are
    /// `None`): for a caller that has kappa(T) at hand (the slaving estimate). The same
    /// errors except kappa's, which the caller's own kappa(T) gives.
    pub(crate) fn well_state_unscaled_rate_and_factors_given(
        &self,
        field_t: f64,
        t_k: f64,
        lambda0_per_s: Option<f64>,
    ) -> Result<(WellState, f64, Option<MMatrixLu>), NumericsError> {
        if field_t.abs() >= self.spin.bistability_field_t() {
            return Ok((self.well_state(field_t, t_k), f64::INFINITY, None));
        }
        crate::error::require_positive("temperature_k", t_k)?;
        let mut e_buf = crate::rates::mechanism::Scratch::new();
        let e: &mut [f64] = e_buf.get(self.spin.n_levels());
        self.spin.energies_into(field_t, e);
        let e: &[f64] = e;
        let chain = self.rates.unscaled_chain_from_energies(field_t, t_k, e);
        let lu = chain.interior_lu().ok_or(NumericsError::NoSpectralGap {
            field_t,
            temperature_k: t_k,
        })?;
        let lambda0 = match lambda0_per_s {
            Some(l) => l,
            None => {
                self.rates
                    .unscaled_reduced_rate_of(&chain, &lu, field_t, t_k)?
                    .lambda1_per_s
            }
        };
        let ws = self.well_state_with(e, t_k, chain.committors(&lu));
        Ok((ws, lambda0, Some(lu)))
    }

    /// The well state from the level energies `e` at the field and the split (q_L, q_R).
    fn well_state_with(&self, e: &[f64], t_k: f64, split: (Vec<f64>, Vec<f64>)) -> WellState {
        let mut eq = crate::rates::slowmode::zeros(e.len());
        boltzmann_into(e, t_k, &mut eq);
        let (ql, qr) = split;
        let e_min = e.iter().copied().fold(f64::INFINITY, f64::min);
        let mut mass = [0.0; 2];
        let mut en = [0.0; 2];
        let mut en2 = [0.0; 2];
        let mut slope = [0.0; 2];
        let n = e.len();
        for (i, (((&ei, &n_eq), &l), &r)) in e
            .iter()
            .zip(&eq[..n])
            .zip(&ql[..n])
            .zip(&qr[..n])
            .enumerate()
        {
            let de = ei - e_min;
            for (w, c) in [(0usize, l), (1, r)] {
                if c > 0.0 {
                    let p = c * n_eq;
                    mass[w] += p;
                    en[w] += p * de;
                    en2[w] += p * de.powi(2);
                    slope[w] += p * self.spin.energy_slope_k_per_t(i);
                }
            }
        }
        let mut out = WellState {
            equilibrium: eq,
            right_eq: mass[1],
            weights: [ql, qr],
            mass,
            energy_k: [0.0; 2],
            heat_capacity: [0.0; 2],
            slope_k_per_t: [0.0; 2],
        };
        for w in 0..2 {
            if mass[w] > 0.0 {
                let m1 = en[w] / mass[w];
                out.energy_k[w] = e_min + m1;
                out.heat_capacity[w] = ((en2[w] / mass[w] - m1 * m1) / (t_k * t_k)).max(0.0);
                out.slope_k_per_t[w] = slope[w] / mass[w];
            } else {
                out.energy_k[w] = e_min;
            }
        }
        out
    }

    /// P_R of populations `n` at (B, T): sum q_R n.
    pub fn right_occupation(&self, field_t: f64, t_k: f64, n: &[f64]) -> f64 {
        let (_, qr) = self.split(field_t, t_k);
        n.iter().zip(&qr).map(|(n, q)| n * q).sum()
    }

    /// Populations implied by (P_R, B, T): n = P_L p_L + P_R p_R with the intra-well
    /// distributions p_w = n_eq q_w / P_w,eq.
    pub fn populations(&self, field_t: f64, t_k: f64, right: f64) -> Vec<f64> {
        Self::populations_of(&self.well_state(field_t, t_k), right)
    }

    /// [`ReducedSystem::populations`] from the well state `ws` at (B, T) already computed.
    pub(crate) fn populations_of(ws: &WellState, right: f64) -> Vec<f64> {
        let mut out = Vec::with_capacity(ws.equilibrium.len());
        Self::populations_into(ws, right, &mut out);
        out
    }

    /// [`Self::populations_of`] into `out` (its contents replaced): for callers that reuse
    /// one buffer over many points.
    pub(crate) fn populations_into(ws: &WellState, right: f64, out: &mut Vec<f64>) {
        let weights = [ws.weights[0].as_slice(), ws.weights[1].as_slice()];
        Self::manifold_populations_into(&ws.equilibrium, weights, ws.mass, right, out);
    }

    /// n_i = sum over the occupied wells w of P_w n_eq,i q_w,i / mass_w (P_L = 1 - `right`,
    /// P_R = `right`) into `out` (its contents replaced): the one sum of
    /// [`Self::populations_into`] and [`Self::populations_at_field`].
    fn manifold_populations_into(
        equilibrium: &[f64],
        weights: [&[f64]; 2],
        mass: [f64; 2],
        right: f64,
        out: &mut Vec<f64>,
    ) {
        let occ = [1.0 - right, right];
        out.clear();
        out.extend((0..equilibrium.len()).map(|i| {
            (0..2)
                .filter(|&w| mass[w] > 0.0)
                .map(|w| occ[w] * equilibrium[i] * weights[w][i] / mass[w])
                .sum::<f64>()
        }));
    }

    /// The level energies at `field_t`, once, for [`Self::populations_at_field`] at many
    /// temperatures (the relaxation's samples after the ramp, all at B_f).
    pub(crate) fn field_populations(&self, field_t: f64) -> FieldPopulations {
        FieldPopulations {
            field_t,
            energies_k: self.spin.energies(field_t),
            equilibrium: Vec::new(),
        }
    }

    /// [`Self::populations`] at the field of `at`, bit for bit, computing only what the
    /// populations use: the rate chain from the energies `at` holds, its interior factors, the
    /// committors, the Boltzmann weights and the wells' masses (not the wells' energies,
    /// heat capacities and slopes a [`WellState`] also holds), in the same operations and
    /// order as [`Self::well_state`] and [`Self::populations_into`].
    pub(crate) fn populations_at_field(
        &self,
        at: &mut FieldPopulations,
        t_k: f64,
        right: f64,
    ) -> Vec<f64> {
        let e = &at.energies_k;
        let n = e.len();
        let chain = self.rates.unscaled_chain_from_energies(at.field_t, t_k, e);
        let split = chain.interior_lu().map(|lu| chain.committors(&lu));
        let fixed;
        let (ql, qr): (&[f64], &[f64]) = match &split {
            Some((ql, qr)) => (ql, qr),
            None => {
                fixed = self.wells.right.iter().map(|c| 1.0 - c).collect::<Vec<_>>();
                (&fixed, &self.wells.right)
            }
        };
        let eq = &mut at.equilibrium;
        eq.resize(n, 0.0);
        boltzmann_into(e, t_k, eq);
        let mut mass = [0.0; 2];
        for ((&n_eq, &l), &r) in eq.iter().zip(&ql[..n]).zip(&qr[..n]) {
            for (w, c) in [(0usize, l), (1, r)] {
                if c > 0.0 {
                    mass[w] += c * n_eq;
                }
            }
        }
        let mut out = Vec::with_capacity(n);
        Self::manifold_populations_into(eq, [ql, qr], mass, right, &mut out);
        out
    }

    /// The phonon temperature of state (P_R, w) at field B: the root of the energy balance,
    /// by Newton's method from the last solution (the derivative is the total heat capacity
    /// P_L c_L + P_R c_R + C_ph > 0), with a bracketing fallback.
    pub fn temperature_k(
        &self,
        field_t: f64,
        right: f64,
        work_k: f64,
    ) -> Result<f64, NumericsError> {
        if let Some((t, _)) = self.tabulated(field_t, right, work_k) {
            return Ok(t);
        }
        let target = self.energy_target_k(work_k);
        let left = 1.0 - right;
        let balance = |t: f64| {
            let ws = self.well_state(field_t, t);
            let g =
                left * ws.energy_k[0] + right * ws.energy_k[1] + self.debye.energy_k(t) - target;
            let c = left * ws.heat_capacity[0]
                + right * ws.heat_capacity[1]
                + self.debye.heat_capacity(t);
            (g, c, ws)
        };
        // Start from the last solution moved to first order in the changes of P_R, w and B
        // (the energy balance linearized there): one evaluation fewer than starting at it.
        let mut t = self.guess_k.get();
        let nearest = {
            let recent = self.recent.borrow();
            // The solve at the same field (the same stage time of the integrator, whose state
            // moves only by the Newton corrections) if there is one, else the latest.
            recent
                .iter()
                .rev()
                .find(|l| l.field_t.to_bits() == field_t.to_bits())
                .or(recent.last())
                .copied()
        };
        if let Some(l) = nearest {
            let dg = (l.energy_k[1] - l.energy_k[0]) * (right - l.right)
                + ((1.0 - l.right) * l.slope_k_per_t[0] + l.right * l.slope_k_per_t[1])
                    * (field_t - l.field_t)
                - (work_k - l.work_k);
            let predicted = l.t_k - dg / l.heat_capacity;
            if predicted.is_finite() && predicted > 0.5 * l.t_k && predicted < 2.0 * l.t_k {
                t = predicted;
            }
        }
        // Newton's method with the heat capacity as derivative for the first step, then
        // secant steps (the heat capacity omits the T dependence of the committors, so plain
        // Newton converges only linearly, by ~1e-4 per step at 6 K). It stops when a step is at
        // rounding level, or when the next one, predicted from the last two, would be.
        let mut prev: Option<(f64, f64)> = None;
        let mut prev_step: Option<f64> = None;
        for _ in 0..40 {
            let (g, c, ws) = balance(t);
            let mut slope = c;
            if let Some((tp, gp)) = prev {
                let secant = (g - gp) / (t - tp);
                if (t - tp).abs() > 1e-10 * t && secant > 0.5 * c && secant < 2.0 * c {
                    slope = secant;
                }
            }
            let step = g / slope;
            let next = t - step;
            if !(next.is_finite() && next > 0.5 * t && next < 2.0 * t) {
                break;
            }
            prev = Some((t, g));
            t = next;
            let predicted = prev_step.map_or(f64::INFINITY, |p: f64| step * step / p);
            // The rounding floor of the balance (~eps |U|): steps that stop shrinking there.
            let floor = prev_step.is_some_and(|p: f64| step.abs() >= 0.5 * p.abs())
                && step.abs() <= 1e-12 * t;
            if step.abs() <= 1e-15 * t || predicted.abs() <= 1e-15 * t || floor {
                self.guess_k.set(t);
                let mut recent = self.recent.borrow_mut();
                recent.retain(|l| l.field_t.to_bits() != field_t.to_bits());
                if recent.len() >= 4 {
                    recent.remove(0);
                }
                recent.push(LastSolve {
                    field_t,
                    right,
                    work_k,
                    t_k: t,
                    energy_k: ws.energy_k,
                    slope_k_per_t: ws.slope_k_per_t,
                    heat_capacity: c,
                });
                return Ok(t);
            }
            prev_step = Some(step);
        }
        let guess = self.guess_k.get();
        let t = increasing_root("reduced energy balance", guess, 1e-15 * guess, |t| {
            balance(t).0
        })?;
        self.recent.borrow_mut().clear();
        self.guess_k.set(t);
        Ok(t)
    }

    /// The Jacobian of the right-hand side without a heat link (state [P_R, w]) from the
    /// well table at the state's field, analytically: T is the root of the energy balance
    /// G(T; P_R, w) = P_L E_L(T) + P_R E_R(T) + U_ph(T) - (U_0 + w) = 0, so dT/dP_R =
    /// -(E_R - E_L)/C and dT/dw = 1/C with C = dG/dT the total heat capacity; the T
    /// derivatives of kappa, lambda1_0, P_R,eq and the wells' mean dE/dB come from kappa's
    /// log-derivative and the table's derivative series. One temperature solve (which also
    /// moves the solve's starting point, as the right-hand side at that state would), where
    /// forward differences take three (issue 19). False (and `jac` untouched) where the table
    /// is not in use or unavailable there: the caller then differences.
    fn tabulated_jacobian(
        &self,
        t: f64,
        y: &DVector<f64>,
        jac: &mut DMatrix<f64>,
    ) -> Result<bool, NumericsError> {
        let (b, bdot) = self.drive.field_and_rate(t);
        let (right, work) = (y[0], y[1]);
        let Some((temp, _)) = self.tabulated(b, right, work) else {
            return Ok(false);
        };
        let derivatives = {
            let mut cache = self.slices.borrow_mut();
            cache
                .iter_mut()
                .find(|(s, _, _)| s.field_t().to_bits() == b.to_bits())
                .and_then(|(s, _, _)| s.derivatives(self.debye, right, temp))
        };
        let Some(d) = derivatives else {
            return Ok(false);
        };
        if d.heat_capacity.is_nan() || d.heat_capacity <= 0.0 {
            return Ok(false);
        }
        let (kappa, dln_kappa_dt) = self.rates.kappa_and_log_derivative(temp)?;
        let v = d.values;
        let dt_dright = -d.energy_gap_k / d.heat_capacity;
        let dt_dwork = 1.0 / d.heat_capacity;
        // dP_R/dt = kappa lambda1_0 (P_R,eq - P_R).
        let rate = kappa * v.lambda0;
        let df0_dt =
            rate * ((dln_kappa_dt + d.dln_lambda0_dt) * (v.right_eq - right) + d.dright_eq_dt);
        // dw/dt = (dB/dt) (P_L <dE/dB>_L + P_R <dE/dB>_R).
        let df1_dt = bdot * ((1.0 - right) * d.dslope_dt[0] + right * d.dslope_dt[1]);
        jac[(0, 0)] = -rate + df0_dt * dt_dright;
        jac[(0, 1)] = df0_dt * dt_dwork;
        jac[(1, 0)] = bdot * (v.slope_k_per_t[1] - v.slope_k_per_t[0]) + df1_dt * dt_dright;
        jac[(1, 1)] = df1_dt * dt_dwork;
        Ok(jac.iter().all(|x| x.is_finite()))
    }

    /// The tabulated well quantities at (B, T), from the table at `field_t` this system's
    /// temperature solves keep (built if they have none); `None` where the table is not in
    /// use or unavailable. The slaving estimate takes lambda1_0 from it at the temperature it
    /// has just solved at that field (added for issue 19, session 32).
    pub(crate) fn tabulated_values(&self, field_t: f64, t_k: f64) -> Option<WellValues> {
        let mut cache = self.slices.borrow_mut();
        let mut fresh = None;
        let slice = match cache
            .iter_mut()
            .find(|(s, _, _)| s.field_t().to_bits() == field_t.to_bits())
        {
            Some((s, _, _)) => s,
            None => fresh.insert(self.field_slice(field_t)?),
        };
        let before = slice.evaluations;
        let values = slice.values(t_k);
        self.table_evaluations
            .set(self.table_evaluations.get() + slice.evaluations - before);
        values
    }
}

/// With a heat link ([`Driven::linked`]) the state is [P_R, w, q]; [`Driven::holding`] makes
/// it the relaxation after the ramp.
impl<'a> Driven<'a> for ReducedSystem<'a> {
    fn drive(&self) -> &Drive<'a> {
        &self.drive
    }
    fn drive_mut(&mut self) -> &mut Drive<'a> {
        &mut self.drive
    }
}

/// The right-hand side fails where the temperature solve or the rate model does.
impl OdeSystem for ReducedSystem<'_> {
    type Error = NumericsError;

    fn dim(&self) -> usize {
        if self.drive.link.is_some() {
            3
        } else {
            2
        }
    }

    fn rhs(&self, t: f64, y: &DVector<f64>, dy: &mut DVector<f64>) -> Result<(), NumericsError> {
        let (b, bdot) = self.drive.field_and_rate(t);
        let (right, work) = (y[0], self.net_work(y));
        let temp = if let Some((temp, v)) = self.tabulated(b, right, work) {
            let kappa = self.rates.kappa(temp)?;
            dy[0] = kappa * v.lambda0 * (v.right_eq - right);
            dy[1] = bdot * ((1.0 - right) * v.slope_k_per_t[0] + right * v.slope_k_per_t[1]);
            temp
        } else {
            let temp = self.temperature_k(b, right, work)?;
            let (ws, lambda) = self.well_state_and_rate(b, temp)?;
            dy[0] = lambda * (ws.right_eq - right);
            dy[1] = bdot * ((1.0 - right) * ws.slope_k_per_t[0] + right * ws.slope_k_per_t[1]);
            temp
        };
        if self.drive.link.is_some() {
            dy[2] = self
                .drive
                .active_link(t)
                .map_or(0.0, |link| link.heat_flow_k_per_s(temp));
        }
        Ok(())
    }

    /// Jacobian: from the well table's derivative series where the table is in use and there
    /// is no heat link ([`ReducedSystem::tabulated_jacobian`]: one temperature solve, where
    /// forward differences take three), by forward differences otherwise (each column costs
    /// one right-hand side). With a link the work w and the heat q enter only through the net
    /// work w - q (`net_work`), so the column of q is minus that of w and costs nothing.
    fn jacobian(
        &self,
        t: f64,
        y: &DVector<f64>,
        jac: &mut DMatrix<f64>,
    ) -> Result<(), NumericsError> {
        if self.drive.link.is_none() && self.tabulated_jacobian(t, y, jac)? {
            return Ok(());
        }
        let dim = self.dim();
        let mut f0 = DVector::zeros(dim);
        self.rhs(t, y, &mut f0)?;
        // The work (and the heat) enter only through the total energy u0 + w - q, which the
        // temperature solve resolves to ~eps |u0|: their difference steps are scaled by the
        // energy, not by w or q.
        let e = self.u0_k.abs().max(1.0);
        let scale = [1e-12, e];
        for j in 0..2 {
            let h = 1.5e-8 * y[j].abs().max(scale[j]);
            let mut yp = y.clone();
            yp[j] += h;
            let mut f1 = DVector::zeros(dim);
            self.rhs(t, &yp, &mut f1)?;
            for i in 0..dim {
                jac[(i, j)] = (f1[i] - f0[i]) / h;
            }
        }
        for i in 2..dim {
            // d/dq = -d/dw: q enters only through w - q.
            for r in 0..dim {
                jac[(r, i)] = -jac[(r, 1)];
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::protocol::RampShape;
    use crate::model::Material;
    use crate::rates::KappaScaling;

    /// The populations-only evaluation at a fixed field gives `populations` bit for bit
    /// (the relaxation's samples rely on it: their trajectories' hashes are unchanged), at
    /// fields on both sides of the level crossings and at zero field (degenerate wells), from
    /// 0.05 K (rates near underflow) to 60 K, for empty, partly and fully occupied right wells.
    #[test]
    fn populations_at_field_equal_populations_bit_for_bit() {
        let mat = Material::mn12ac();
        let rates = RateModel::new(mat.spin, mat.arrhenius, KappaScaling::Arrhenius).unwrap();
        let proto = Protocol::jump(0.5, 0.1).unwrap();
        let spin = &mat.spin;
        let mut compared = 0;
        for b in [0.0, 0.1, 0.3, 0.6, 2.0] {
            let sys = ReducedSystem::new(
                spin,
                &mat.debye,
                &rates,
                &proto,
                Wells::at_field(spin, b),
                0.0,
                3.0,
            );
            let mut at = sys.field_populations(b);
            for t in [0.05, 0.3, 1.1, 1.617, 2.5, 3.9, 8.0, 60.0] {
                for right in [0.0, 1e-12, 0.078, 0.5, 1.0] {
                    let exact = sys.populations(b, t, right);
                    let fast = sys.populations_at_field(&mut at, t, right);
                    assert_eq!(exact.len(), fast.len());
                    for (i, (x, y)) in exact.iter().zip(&fast).enumerate() {
                        assert_eq!(
                            x.to_bits(),
                            y.to_bits(),
                            "B {b} T, {t} K, P_R {right}: level {i}: {x:e} vs {y:e}"
                        );
                    }
                    compared += 1;
                }
            }
        }
        assert_eq!(compared, 200);
    }

    /// The analytic Jacobian from the well table's derivative series (issue 19) against
    /// central differences of the right-hand side (each a temperature solve on the same
    /// table), on a 10 T/s ramp 0.5 -> 0.1 T at fields across it, 1.5-6 K, several well
    /// occupations: every entry to 1e-5 of its column's largest (the differences' own error
    /// is ~1e-7, see the steps).
    #[test]
    fn tabulated_jacobian_matches_differences_of_the_right_hand_side() {
        let mat = Material::mn12ac();
        let rates = RateModel::new(mat.spin, mat.arrhenius, KappaScaling::Arrhenius).unwrap();
        let proto = Protocol::with_sweep_rate(0.5, 0.1, 10.0, RampShape::Linear).unwrap();
        let ctx = EngineContext::new();
        let spin = &mat.spin;
        let mut worst: f64 = 0.0;
        let mut tabulated = 0;
        for t_s in [0.001, 0.012, 0.025, 0.037] {
            let (b, _) = proto.field_and_rate(t_s, false, None);
            for temp in [1.5, 2.2, 3.0, 4.5, 6.0] {
                let ws = ReducedSystem::new(
                    spin,
                    &mat.debye,
                    &rates,
                    &proto,
                    Wells::at_field(spin, b),
                    0.0,
                    temp,
                )
                .well_state(b, temp);
                for right in [0.0, 0.3, 0.95] {
                    // The energy at (P_R, T), so that w = 0 solves to T.
                    let u0 = (1.0 - right) * ws.energy_k[0]
                        + right * ws.energy_k[1]
                        + mat.debye.energy_k(temp);
                    let sys = ReducedSystem::new(
                        spin,
                        &mat.debye,
                        &rates,
                        &proto,
                        Wells::at_field(spin, b),
                        u0,
                        temp,
                    )
                    .with_table(&ctx);
                    let y = DVector::from_vec(vec![right, 0.0]);
                    let mut jac = DMatrix::zeros(2, 2);
                    assert!(sys.tabulated_jacobian(t_s, &y, &mut jac).unwrap());
                    tabulated += 1;
                    let mut jac_fd = DMatrix::zeros(2, 2);
                    // Steps that move T by 1e-4 T: the truncation error is then ~1e-8 and the
                    // solves' rounding (~eps |U| / C, poor at low T where C is small) ~1e-7.
                    let c = (1.0 - right) * ws.heat_capacity[0]
                        + right * ws.heat_capacity[1]
                        + mat.debye.heat_capacity(temp);
                    let dt = 1e-4 * temp;
                    let gap = (ws.energy_k[1] - ws.energy_k[0]).abs();
                    let steps = [(dt * c / gap).min(1e-3), dt * c];
                    for j in 0..2 {
                        let (mut yp, mut ym) = (y.clone(), y.clone());
                        yp[j] += steps[j];
                        ym[j] -= steps[j];
                        let (mut fp, mut fm) = (DVector::zeros(2), DVector::zeros(2));
                        sys.rhs(t_s, &yp, &mut fp).unwrap();
                        sys.rhs(t_s, &ym, &mut fm).unwrap();
                        for i in 0..2 {
                            jac_fd[(i, j)] = (fp[i] - fm[i]) / (2.0 * steps[j]);
                        }
                    }
                    for j in 0..2 {
                        let scale = (0..2).map(|i| jac_fd[(i, j)].abs()).fold(0.0, f64::max);
                        for i in 0..2 {
                            let rel = (jac[(i, j)] - jac_fd[(i, j)]).abs() / scale;
                            assert!(
                                rel < 1e-5,
                                "B {b} T, {temp} K, P_R {right}: J[{i}][{j}] {} vs {} ({rel:e})",
                                jac[(i, j)],
                                jac_fd[(i, j)]
                            );
                            worst = worst.max(rel);
                        }
                    }
                }
            }
        }
        eprintln!("{tabulated} points, worst relative difference {worst:e}");
    }
}
