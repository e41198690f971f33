//! The time-domain engine: populations and phonon temperature through a field ramp and the
//! relaxation after it (docs/physics.md sections 6-7).
//!
//! # Formulations and the rule between them
//! * Full master equation ([`full`]) while intra-well modes are active: during ramps that are
//!   short against intra-well relaxation (t_q * lambda2 <= `full_ramp_limit`), after a jump,
//!   and for `settle_e_folds` intra-well relaxation times after the ramp. Also wherever the
//!   slow and fast time scales are not separated (lambda1/lambda2 >= `separation_max`, i.e. high
//!   temperature), where the full equation is representable and the reduction is not accurate.
//! * Two-well reduction ([`reduced`]) otherwise: after the intra-well modes have decayed, and
//!   during ramps slow against intra-well relaxation. Its error is ~lambda1/lambda2 <
//!   `separation_max`; the full equation's error in the slow variable would be ~eps lambda2 t.
//!
//! The hand-over maps the full state to (P_R, w) and records the temperature jump it implies,
//! which [`Trajectory::handover`] reports (tests require it below 1e-9 K).
//!
//! # Structure
//! [`simulate`] runs the stages in order: the ramp (full or reduced; nothing for a jump), the
//! full equation at B_f (the hold, until hand-over, equilibrium or the end time), and the
//! reduced relaxation as a quadrature ([`relax`]). The solver-driven stages share one driver
//! loop that steps a system to the next output or stop time; sampling and the invariant
//! checks over the samples are each written once. Tables shared between runs (kappa(T), the
//! well quantities) belong to an [`EngineContext`] that the caller creates and passes in.

mod context;
pub mod drive;
pub mod full;
#[doc(hidden)]
pub mod preset;
mod record;
pub(crate) mod reduced;
pub(crate) mod relax;
mod slaving;
mod stages;
pub(crate) mod welltable;

use crate::error::{NumericsError, ParameterError};
use crate::model::protocol::Protocol;
use crate::model::{HeatLink, Material};
use crate::numerics::solver::{SolverError, SolverStats};
use crate::rates::{KappaScaling, RateModel};
use record::{Invariants, Recorder};
use stages::{After, Plan, Progress, State, Systems};

pub use context::{
    EngineContext, TableCounts, MAX_KAPPA_TABLES, MAX_LIMITS_TABLES, MAX_LINE_TABLES,
    MAX_PLANE_TABLES,
};

/// Equilibrium also needs the well occupation within this (absolute probability) of its
/// equilibrium value: at B_f = 0 the wells are degenerate and T settles long before P_R.
pub const EQUILIBRIUM_TOL_P: f64 = 1e-9;
use thiserror::Error;

/// Which formulations the engine may use.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Formulation {
    /// Full master equation while intra-well modes are active, two-well reduction after.
    Auto,
    /// Full master equation throughout (a check; meaningful only where representable, T >= 4 K).
    Full,
}

/// Largest allowed [`EngineOptions::max_steps`] (a stage this long takes hours).
pub const MAX_STEPS_LIMIT: usize = 1_000_000_000;

/// Engine settings.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineOptions {
    /// Relative tolerance of the integrator.
    pub rtol: f64,
    /// Equilibrium is reached when |T - T_eq| <= this, K.
    pub equilibrium_tol_k: f64,
    /// Integration stops this long after the ramp even without equilibrium, s.
    pub max_time_after_ramp_s: f64,
    /// Times after the ramp at which the state is reported, s.
    pub sample_times_after_ramp_s: Vec<f64>,
    /// Logarithmic output grid after the ramp, points per decade (0: none).
    pub log_points_per_decade: u32,
    /// Earliest time of the logarithmic grid after the ramp, s.
    pub log_grid_start_s: f64,
    /// Output points during the ramp.
    pub ramp_points: usize,
    /// Which formulations may be used.
    pub formulation: Formulation,
    /// Ramps with t_q * lambda2 above this use the two-well reduction.
    pub full_ramp_limit: f64,
    /// The reduction is used only where lambda1/lambda2 is below this.
    pub separation_max: f64,
    /// Intra-well relaxation times the full equation runs after the ramp before hand-over.
    pub settle_e_folds: f64,
    /// Step limit per stage.
    pub max_steps: usize,
    /// Absolute tolerance on the populations in the full equation. Its right-hand side carries
    /// rounding noise ~eps lambda2 n (cancelling intra-well fluxes), ~eps lambda2 h per step,
    /// so steps are limited to ~atol / (eps lambda2): 1e-13 keeps the energy within 1e-11 K.
    pub atol_population: f64,
    /// A run whose energy balance U(t) - U(0) = work - heat to the bath is off by more than
    /// this (relative, [`Trajectory::energy_balance_error`]) at any sample fails with
    /// [`EngineError::EnergyBalance`].
    pub energy_balance_tol_rel: f64,
    /// Largest allowed error estimate of a reduced ramp (relative to the run's temperature
    /// change, as [`Trajectory::reduction_error_estimate`]): a reduced ramp whose estimate
    /// exceeds it is run again in the full equation where that can carry it
    /// ([`FULL_RAMP_MAX_INTRA_WELL_TIMES`]); otherwise the run fails with
    /// [`EngineError::ReductionTolerance`].
    pub reduction_tol_rel: f64,
}

/// Default of [`EngineOptions::reduction_tol_rel`]: 0.1 % of the run's temperature change
/// (docs/numerics.md section 11).
pub const REDUCTION_TOL_REL: f64 = 1e-3;

/// Longest ramp, in intra-well relaxation times (t_q times the lower bound of the
/// intra-well rate), that the full equation takes over when the reduction's estimate is
/// above [`EngineOptions::reduction_tol_rel`] (docs/numerics.md section 11).
pub const FULL_RAMP_MAX_INTRA_WELL_TIMES: f64 = 1e12;

/// Default of [`EngineOptions::energy_balance_tol_rel`] (issue 14: checked to 1e-8 relative
/// on every run).
pub const ENERGY_BALANCE_TOL_REL: f64 = 1e-8;

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            rtol: 1e-10,
            equilibrium_tol_k: 1e-9,
            max_time_after_ramp_s: 1e40,
            sample_times_after_ramp_s: vec![1e-3, 1.0, 3600.0],
            log_points_per_decade: 4,
            log_grid_start_s: 1e-12,
            ramp_points: 16,
            formulation: Formulation::Auto,
            full_ramp_limit: 1e5,
            separation_max: 1e-3,
            settle_e_folds: 40.0,
            max_steps: 200_000,
            atol_population: 1e-13,
            energy_balance_tol_rel: ENERGY_BALANCE_TOL_REL,
            reduction_tol_rel: REDUCTION_TOL_REL,
        }
    }
}

impl EngineOptions {
    /// Check every setting.
    pub fn validate(&self) -> Result<(), ParameterError> {
        let in_range = |name: &str, v: f64, lo: f64, hi: f64| {
            if v.is_finite() && v >= lo && v <= hi {
                Ok(())
            } else {
                Err(ParameterError::new(
                    name,
                    v,
                    format!("must be in [{lo:e}, {hi:e}]"),
                ))
            }
        };
        in_range("rtol", self.rtol, 1e-13, 1e-3)?;
        in_range("equilibrium_tol_k", self.equilibrium_tol_k, 1e-13, 1.0)?;
        in_range(
            "max_time_after_ramp_s",
            self.max_time_after_ramp_s,
            1e-12,
            1e100,
        )?;
        in_range("log_grid_start_s", self.log_grid_start_s, 1e-18, 1e100)?;
        in_range("full_ramp_limit", self.full_ramp_limit, 1.0, 1e14)?;
        in_range("separation_max", self.separation_max, 1e-14, 1e-2)?;
        in_range("settle_e_folds", self.settle_e_folds, 1.0, 1000.0)?;
        in_range("atol_population", self.atol_population, 1e-16, 1e-6)?;
        in_range(
            "energy_balance_tol_rel",
            self.energy_balance_tol_rel,
            0.0,
            1.0,
        )?;
        in_range("reduction_tol_rel", self.reduction_tol_rel, 0.0, 1.0)?;
        for &s in &self.sample_times_after_ramp_s {
            in_range("sample_times_after_ramp_s", s, 0.0, 1e100)?;
        }
        if self.log_points_per_decade > 100 {
            return Err(ParameterError::new(
                "log_points_per_decade",
                f64::from(self.log_points_per_decade),
                "must be in 0..=100",
            ));
        }
        if !(1..=MAX_STEPS_LIMIT).contains(&self.max_steps) {
            return Err(ParameterError::new(
                "max_steps",
                self.max_steps as f64,
                format!("must be in 1..={MAX_STEPS_LIMIT}"),
            ));
        }
        if self.ramp_points > 100_000 {
            return Err(ParameterError::new(
                "ramp_points",
                self.ramp_points as f64,
                "must be at most 100000",
            ));
        }
        Ok(())
    }
}

/// One run: material, rate scaling, field protocol, initial temperature and settings.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// The material.
    pub material: Material,
    /// kappa(T) scaling.
    pub scaling: KappaScaling,
    /// Which rates the calibration of kappa(T) matches to the Arrhenius law.
    pub kappa_calibration: crate::rates::KappaCalibration,
    /// Field protocol.
    pub protocol: Protocol,
    /// Initial temperature (equilibrium at B_i), K.
    pub t_initial_k: f64,
    /// Engine settings.
    pub options: EngineOptions,
    /// Heat link to a bath (`None`: adiabatic, as in the paper).
    pub link: Option<HeatLink>,
}

impl RunSpec {
    /// A run of `material` under `protocol` from equilibrium at `t_initial_k` with the defaults
    /// of a scenario (`Scenario::new`): the Arrhenius scaling of kappa(T), the default
    /// calibration (spin-phonon rates alone, [`crate::rates::KappaCalibration::default`]),
    /// [`EngineOptions::default`] and no heat link (adiabatic). The `with_*` methods change one
    /// of them.
    pub fn new(material: Material, protocol: Protocol, t_initial_k: f64) -> Self {
        Self {
            material,
            scaling: KappaScaling::Arrhenius,
            kappa_calibration: crate::rates::KappaCalibration::default(),
            protocol,
            t_initial_k,
            options: EngineOptions::default(),
            link: None,
        }
    }

    /// The run with engine settings `options`.
    #[must_use]
    pub fn with_options(self, options: EngineOptions) -> Self {
        Self { options, ..self }
    }

    /// The run with the heat link `link` (`None`: adiabatic).
    #[must_use]
    pub fn with_link(self, link: Option<HeatLink>) -> Self {
        Self { link, ..self }
    }

    /// The run with the kappa(T) scaling `scaling`.
    #[must_use]
    pub fn with_scaling(self, scaling: KappaScaling) -> Self {
        Self { scaling, ..self }
    }

    /// The run with the kappa(T) calibration `kappa_calibration`.
    #[must_use]
    pub fn with_kappa_calibration(self, kappa_calibration: crate::rates::KappaCalibration) -> Self {
        Self {
            kappa_calibration,
            ..self
        }
    }
}

/// Which formulation produced a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Full master equation.
    Full,
    /// Two-well reduction.
    Reduced,
}

/// The state and observables at one output time.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Sample {
    /// Time since the start of the ramp, s.
    pub t_s: f64,
    /// Field, T.
    pub field_t: f64,
    /// Phonon temperature, K.
    pub t_phonon_k: f64,
    /// Level populations, M = -S..S.
    pub populations: Vec<f64>,
    /// Occupation of the right (M > 0) well, barrier top counted half.
    pub right_well: f64,
    /// <M> = sum M n_M.
    pub mean_m: f64,
    /// Magnetic moment along the field axis, -g_par <M> Bohr magnetons per molecule (the
    /// physical moment of H = ... + g_par mu_B B Sz: positive along a positive field).
    pub magnetization_mu_b: f64,
    /// Spin energy sum E_M n_M, K per molecule.
    pub spin_energy_k: f64,
    /// Phonon energy (lattice and addenda), K per molecule.
    pub phonon_energy_k: f64,
    /// Magnetic work done on the spins since t = 0, K per molecule.
    pub work_k: f64,
    /// Heat that has left to the bath through the link since t = 0, K per molecule.
    pub heat_to_bath_k: f64,
    /// Heat flow to the bath at this instant, K/s per molecule (0 without a link).
    pub heat_flow_to_bath_k_per_s: f64,
    /// Spin entropy -sum n ln n, k_B per molecule.
    pub spin_entropy: f64,
    /// Phonon entropy, k_B per molecule.
    pub phonon_entropy: f64,
    /// Formulation in use.
    pub stage: Stage,
}

/// How a run's ramp was integrated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RampFormulation {
    /// A jump: nothing to integrate.
    Jump,
    /// The full master equation (a ramp short against intra-well relaxation, or
    /// `--formulation full`).
    Full,
    /// The two-well reduction, its error estimate within [`EngineOptions::reduction_tol_rel`].
    Reduced,
    /// The full master equation, after the reduction's estimate exceeded
    /// [`EngineOptions::reduction_tol_rel`].
    SwitchedToFull,
}

impl RampFormulation {
    /// The name in outputs: `jump`, `full`, `reduced`, `switched_to_full`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Jump => "jump",
            Self::Full => "full",
            Self::Reduced => "reduced",
            Self::SwitchedToFull => "switched_to_full",
        }
    }
}

/// The full-to-reduced hand-over.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Handover {
    /// Time of the hand-over since the start of the ramp, s.
    pub t_s: f64,
    /// Temperature in the full equation, K.
    pub t_full_k: f64,
    /// Temperature of the reduced state built from it, K.
    pub t_reduced_k: f64,
}

/// How the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// |T - T_eq| <= equilibrium_tol_k.
    Equilibrium,
    /// max_time_after_ramp_s passed first.
    EndTime,
}

/// A computed trajectory with its summary.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Trajectory {
    /// Output samples in time order: the ramp grid, then the times after the ramp.
    pub samples: Vec<Sample>,
    /// Ramp duration, s.
    pub ramp_duration_s: f64,
    /// Temperature at the end of the ramp, K.
    pub t_after_ramp_k: f64,
    /// Equilibrium temperature for the total energy after the ramp, K (with a heat link: the
    /// bath temperature, where the run relaxes to).
    pub t_equilibrium_k: f64,
    /// Temperature where the integration stopped, K.
    pub t_final_k: f64,
    /// Time after the ramp where it stopped, s.
    pub t_end_after_ramp_s: f64,
    /// Why it stopped.
    pub outcome: Outcome,
    /// Time after the ramp at which |T - T_eq| first fell to 10 % of |T_after_ramp - T_eq|, s.
    pub relax_10pct_s: Option<f64>,
    /// Same for 1 %, s.
    pub relax_1pct_s: Option<f64>,
    /// Sudden-quench final temperature (Eq. 9), K.
    pub t_final_sudden_k: f64,
    /// Isentropic final temperature (Eq. 11), K, if it exists.
    pub t_final_isentropic_k: Option<f64>,
    /// Largest |U_spin + U_ph - U_0 - work + heat to the bath| over the samples, K.
    pub energy_balance_abs_k: f64,
    /// The same relative to |U_0| + |work| + |heat| (K/K).
    pub energy_balance_error: f64,
    /// Largest |sum n - 1| over the samples.
    pub population_sum_error: f64,
    /// Most negative population over the samples.
    pub min_population: f64,
    /// Largest decrease of total entropy between samples after the ramp, k_B.
    pub entropy_decrease_max: f64,
    /// Hand-over from the full to the reduced formulation, if one happened.
    pub handover: Option<Handover>,
    /// Integrator work, all stages.
    pub stats: SolverStats,
    /// Accepted steps in the full formulation.
    pub steps_full: usize,
    /// Accepted steps in the reduced formulation.
    pub steps_reduced: usize,
    /// Estimated error of the two-well reduction relative to the run's temperature change:
    /// the first-order slaving correction of a reduced ramp and the hand-over's temperature
    /// jump, times [`REDUCTION_ESTIMATE_SAFETY`] (0 if the reduction was not used;
    /// docs/numerics.md section 11).
    pub reduction_error_estimate: f64,
    /// How the ramp was integrated.
    pub ramp_formulation: RampFormulation,
    /// Integrand evaluations of the relaxation quadrature.
    pub quadrature_evals: usize,
    /// Exact (B, T) kernel evaluations this run spent building panels of the well tables
    /// shared in its [`EngineContext`] (panels another run built first are free, so in a parallel batch this
    /// depends on the order in which runs reached them; the results do not).
    pub table_nodes: usize,
    /// Time after the ramp at which equilibrium was reached, s.
    pub equilibrium_after_ramp_s: Option<f64>,
    /// Lowest temperature after the ramp (over the accepted steps and samples), K.
    pub minimum_temperature_k: f64,
    /// When it was reached, time after the ramp, s.
    pub minimum_after_ramp_s: f64,
    /// Heat that left to the bath by the end of the run, K per molecule (0 without a link).
    pub heat_to_bath_k: f64,
    /// Of a segmented protocol: each segment's report, in time order (empty otherwise).
    pub segments: Vec<SegmentReport>,
    /// Of a segmented protocol: each cycle's report (empty otherwise).
    pub cycles: Vec<CycleReport>,
}

/// What one segment of a segmented protocol did (times since the start of the run; energies
/// in K per molecule).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SegmentReport {
    /// Its cycle (0-based).
    pub cycle: u64,
    /// Its index in the cycle's list of segments (0-based).
    pub segment: u64,
    /// "hold", "ramp" or "waveform".
    pub kind: String,
    /// Whether the heat switch was closed (the link joined the sample to the bath).
    pub link_closed: bool,
    /// Start, s.
    pub start_s: f64,
    /// End, s.
    pub end_s: f64,
    /// Field at its end, T.
    pub end_field_t: f64,
    /// Temperature at its end, K.
    pub end_temperature_k: f64,
    /// Lowest temperature during it, K.
    pub minimum_temperature_k: f64,
    /// When it was reached, s since the start of the run.
    pub minimum_s: f64,
    /// Magnetic work done on the sample during it, K.
    pub work_k: f64,
    /// Heat that left to the bath during it, K.
    pub heat_to_bath_k: f64,
    /// Change of the sample's energy (spins, lattice, addenda) during it, K.
    pub energy_change_k: f64,
    /// |energy change - work + heat| / (|U at its start| + |work| + |heat|).
    pub energy_balance_error_rel: f64,
}

/// What one cycle of a segmented protocol did (times since the start of the run; energies in
/// K per molecule).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CycleReport {
    /// The cycle (0-based).
    pub cycle: u64,
    /// Start, s.
    pub start_s: f64,
    /// End, s.
    pub end_s: f64,
    /// Temperature at its end, K.
    pub end_temperature_k: f64,
    /// Lowest temperature during it, K.
    pub minimum_temperature_k: f64,
    /// When it was reached, s since the start of the run.
    pub minimum_s: f64,
    /// Magnetic work done on the sample during it, K.
    pub work_k: f64,
    /// Heat that left to the bath during it, K.
    pub heat_to_bath_k: f64,
}

impl Trajectory {
    /// The sample at `t_after_ramp_s` after the ramp (exact output times only): the first
    /// within 1e-12 relative of that time, found by bisection over the time-ordered samples.
    pub fn sample_after_ramp(&self, t_after_ramp_s: f64) -> Option<&Sample> {
        let t = self.ramp_duration_s + t_after_ramp_s;
        let tol = 1e-12 * t.abs().max(1e-300);
        let k = self.samples.partition_point(|s| s.t_s < t - tol);
        self.samples.get(k).filter(|s| (s.t_s - t).abs() <= tol)
    }
}

/// Why a run failed.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum EngineError {
    /// Invalid input, found before integration.
    #[error(transparent)]
    Parameter(#[from] ParameterError),
    /// A numerical kernel failed.
    #[error(transparent)]
    Numerics(#[from] NumericsError),
    /// The integrator failed.
    #[error("{stage} stage failed at t = {t_s:e} s (B = {field_t} T, T = {t_phonon_k} K) for Bi = {b_initial_t} T, Bf = {b_final_t} T, Ti = {t_initial_k} K: {source}{hint}")]
    Solver {
        /// Formulation.
        stage: &'static str,
        /// Time, s.
        t_s: f64,
        /// Field, T.
        field_t: f64,
        /// Last good temperature, K.
        t_phonon_k: f64,
        /// Run parameter.
        b_initial_t: f64,
        /// Run parameter.
        b_final_t: f64,
        /// Run parameter.
        t_initial_k: f64,
        /// The integrator's error.
        source: SolverError,
        /// What to do about it, appended to the message (empty if nothing to say): with
        /// [`Formulation::Full`], that the full equation is not representable there and the
        /// default formulation integrates the run (docs/numerics.md section 11).
        hint: &'static str,
    },
    /// The run ended without a value it promises: a requested sample, a finite state, or the
    /// end time (equilibrium or the time limit). A run either has all of them or fails with
    /// this; nothing partial is reported as a success.
    #[error(
        "run incomplete for Bi = {b_initial_t} T, Bf = {b_final_t} T, Ti = {t_initial_k} K: {what}"
    )]
    Incomplete {
        /// What is missing.
        what: String,
        /// Run parameter.
        b_initial_t: f64,
        /// Run parameter.
        b_final_t: f64,
        /// Run parameter.
        t_initial_k: f64,
    },
    /// The two-well reduction's error estimate is above
    /// [`EngineOptions::reduction_tol_rel`] where the full equation cannot take over.
    #[error("two-well reduction error estimate {estimate_rel:e} (of the run's temperature change) in the {stage} for Bi = {b_initial_t} T, Bf = {b_final_t} T, Ti = {t_initial_k} K is above solver.reduction_tol_rel = {tol_rel:e} (--reduction-tol-rel), and the full equation cannot take over: {why}; raise solver.reduction_tol_rel (at most 1) to accept the estimate")]
    ReductionTolerance {
        /// The estimate, [`Trajectory::reduction_error_estimate`] of that stage.
        estimate_rel: f64,
        /// The tolerance, [`EngineOptions::reduction_tol_rel`].
        tol_rel: f64,
        /// The stage whose estimate it is ("ramp").
        stage: &'static str,
        /// Why the full equation cannot carry that stage.
        why: String,
        /// Run parameter.
        b_initial_t: f64,
        /// Run parameter.
        b_final_t: f64,
        /// Run parameter.
        t_initial_k: f64,
    },
    /// The energy balance U(t) - U(0) = work - heat to the bath does not close within the
    /// tolerance: the numbers cannot be trusted, and nothing is reported as a success.
    #[error("energy balance broken for Bi = {b_initial_t} T, Bf = {b_final_t} T, Ti = {t_initial_k} K: |U(t) - U(0) - work + heat| is {error_rel:e} of |U(0)| + |work| + |heat| at t = {t_s:e} s (T = {t_phonon_k} K), above the tolerance {tol_rel:e}")]
    EnergyBalance {
        /// The relative error at its worst sample.
        error_rel: f64,
        /// The tolerance, [`EngineOptions::energy_balance_tol_rel`].
        tol_rel: f64,
        /// Time of that sample, s since the start.
        t_s: f64,
        /// Temperature there, K.
        t_phonon_k: f64,
        /// Run parameter.
        b_initial_t: f64,
        /// Run parameter.
        b_final_t: f64,
        /// Run parameter.
        t_initial_k: f64,
    },
}

/// Check that a run is inside the model's validity, before any integration.
pub fn validate(run: &RunSpec, rates: &RateModel) -> Result<(), EngineError> {
    run.options.validate()?;
    crate::error::require_positive("t_initial_k", run.t_initial_k)?;
    let spin = &run.material.spin;
    let bmax = spin.bistability_field_t();
    if bmax <= 0.0 {
        return Err(ParameterError::new(
            "d_k",
            spin.d_k(),
            "the kinetic engine needs an easy-axis spin (D < 0) with S >= 1",
        )
        .into());
    }
    // A waveform's fields by point (its first and last are B_i and B_f).
    if let Some(w) = run.protocol.waveform() {
        if let Some((k, &b)) = w
            .field_t()
            .iter()
            .enumerate()
            .find(|(_, b)| b.abs() >= bmax)
        {
            return Err(ParameterError::new(
                "waveform_field_t",
                b,
                format!(
                    "point {} of the waveform: must satisfy |B| < {bmax:.4} T, where both wells of this spin exist",
                    k + 1
                ),
            )
            .into());
        }
    }
    for (name, b) in [
        ("b_initial_t", run.protocol.b_initial_t()),
        ("b_final_t", run.protocol.b_final_t()),
    ] {
        if b.abs() >= bmax {
            return Err(ParameterError::new(
                name,
                b,
                format!("must satisfy |B| < {bmax:.4} T, where both wells of this spin exist"),
            )
            .into());
        }
    }
    // The rate model must be representable at the start (and at the bath).
    rates.kappa(run.t_initial_k)?;
    if let Some(link) = &run.link {
        rates.kappa(link.bath_k()).map_err(|e| {
            ParameterError::new(
                "bath_temperature_k",
                link.bath_k(),
                format!("the rate model is not representable there: {e}"),
            )
        })?;
    }
    Ok(())
}

/// Integrate one run. See the module documentation for the formulations: the ramp, then at
/// B_f the full equation while intra-well modes are active, the hand-over, and the reduced
/// relaxation (the private `stages` module).
/// The tables it builds are shared through `ctx` with the other runs of that context.
pub fn simulate(ctx: &EngineContext, run: &RunSpec) -> Result<Trajectory, EngineError> {
    let mat = &run.material;
    let rates = ctx
        .rate_model(mat, run.scaling)?
        .with_kappa_calibration(run.kappa_calibration);
    validate(run, &rates)?;
    let plan = Plan::new(run, rates, |r, lo, hi| ctx.with_kappa_table(r, lo, hi))?;
    let opt = &run.options;
    let mut sys = Systems::new(&plan, ctx);
    let ti = plan.ti;
    let use_reduced_ramp = stages::reduced_ramp(&plan)?;
    let (mut prog, mut state, mut after) = ramp_stage(&plan, &sys, use_reduced_ramp)?;
    let mut ramp_formulation = if run.protocol.shape() == crate::model::protocol::RampShape::Jump {
        RampFormulation::Jump
    } else if use_reduced_ramp {
        RampFormulation::Reduced
    } else {
        RampFormulation::Full
    };
    // The reduction's error over the ramp, to first order (docs/numerics.md section 11),
    // against its tolerance: above it the full equation takes the ramp over where it can,
    // else the run fails.
    let mut ramp_estimate = None;
    if use_reduced_ramp {
        let link = plan.link;
        let heat_flow = |t: f64, temp: f64| {
            link.filter(|_| run.protocol.link_closed(t, false, None))
                .map_or(0.0, |l| l.heat_flow_k_per_s(temp))
        };
        let est = slaving::estimate(
            &sys.reduced,
            &plan.rates,
            &run.material.spin,
            &run.protocol,
            &prog.reduced_ramp_steps,
            &Systems::new(&plan, ctx).reduced,
            ti,
            (plan.bf, after.t_eq),
            heat_flow,
        )?;
        let change = est.change_k.max((after.t_eq - ti).abs());
        let rel = relative_estimate(est.error_k, change, opt.rtol * ti);
        if rel > opt.reduction_tol_rel {
            let times = stages::ramp_intra_well_times(&plan)?;
            if times > FULL_RAMP_MAX_INTRA_WELL_TIMES {
                return Err(EngineError::ReductionTolerance {
                    estimate_rel: rel,
                    tol_rel: opt.reduction_tol_rel,
                    stage: "ramp",
                    why: format!(
                        "the ramp lasts {} intra-well relaxation times, beyond the {} the full equation carries",
                        crate::units::number(times),
                        crate::units::number(FULL_RAMP_MAX_INTRA_WELL_TIMES)
                    ),
                    b_initial_t: plan.bi,
                    b_final_t: plan.bf,
                    t_initial_k: ti,
                });
            }
            // Fresh systems: the reduced one keeps starting points of its temperature solves.
            sys = Systems::new(&plan, ctx);
            (prog, state, after) = ramp_stage(&plan, &sys, false)?;
            ramp_formulation = RampFormulation::SwitchedToFull;
        } else {
            ramp_estimate = Some(est);
        }
    }
    let tq = plan.tq;
    let mut t_now = tq;
    if let State::Full(y) = state {
        (state, t_now) = stages::hold(&plan, &sys, &mut prog, &mut after, y)?;
    }
    if let State::Reduced { right, work, heat } = state {
        (state, t_now) = if plan.link.is_some() {
            let from = [right, work, heat];
            stages::linked_relaxation(&plan, &sys, &mut prog, &mut after, from, t_now)?
        } else {
            let from = (right, work);
            stages::relaxation(&plan, &sys, &mut prog, &mut after, from, t_now)?
        };
    }
    let t_final = sys.temperature_k(&plan, &state, t_now)?;
    prog.table_nodes += sys.table_evaluations();
    if prog.rec.samples.last().map(|s| s.t_s) != Some(t_now) {
        sys.record(&plan, &mut prog.rec, &state, t_now, plan.bf)?;
    }
    let mut tr = finish(&plan, prog, after, t_final, t_now);
    tr.reduction_error_estimate = reduction_error_rel(&tr, ti, opt.rtol, ramp_estimate);
    tr.ramp_formulation = ramp_formulation;
    check_complete(&plan, &tr)?;
    Ok(tr)
}

/// The ramp from the initial equilibrium (reduced or full) and the reference after it: the
/// samples so far, the state at t_q and the relaxation's reference point.
fn ramp_stage<'r>(
    plan: &Plan<'r>,
    sys: &Systems<'_>,
    reduced: bool,
) -> Result<(Progress<'r>, State, After), EngineError> {
    let mut prog = Progress::new(Recorder::new(plan.run, plan.wells.clone()));
    prog.rec.push(
        0.0,
        plan.bi,
        plan.ti,
        plan.n0.clone(),
        [0.0, 0.0],
        Stage::Full,
    );
    let state = stages::ramp(plan, sys, &mut prog, reduced)?;
    while prog.out_idx < plan.outputs.len() && plan.outputs[prog.out_idx] <= plan.tq {
        prog.out_idx += 1;
    }
    let after = After::new(plan, sys, &state, &mut prog.rec)?;
    Ok((prog, state, after))
}

/// The run's temperature change: the largest |T - T_i| over the ramp's samples (`samples`
/// up to t_q) and at the equilibrium after it (`t_eq`), K.
fn ramp_change(samples: &[Sample], tq: f64, ti: f64, t_eq: f64) -> f64 {
    samples
        .iter()
        .filter(|s| s.t_s <= tq)
        .map(|s| (s.t_phonon_k - ti).abs())
        .fold((t_eq - ti).abs(), f64::max)
}

/// A temperature error (K) relative to the run's temperature change (K), times
/// [`REDUCTION_ESTIMATE_SAFETY`]; 0 for no error. A change below rtol T_i (`floor_k`), which
/// the integrators do not resolve (a run that ends where it started, huge addenda), counts
/// as that floor.
fn relative_estimate(error_k: f64, change_k: f64, floor_k: f64) -> f64 {
    if error_k == 0.0 {
        0.0
    } else {
        REDUCTION_ESTIMATE_SAFETY * error_k / change_k.max(floor_k)
    }
}

/// Safety factor on the first-order estimates of the reduction's error (docs/numerics.md
/// section 11: against the full equation they lie within 1.0-1.2 of the error measured).
pub const REDUCTION_ESTIMATE_SAFETY: f64 = 2.0;

/// The reduction's relative error estimate of a finished run (0 if it used none): the first-
/// order slaving correction of a reduced ramp (`ramp`, module `slaving`) and the temperature jump
/// of the hand-over after the ramp, each relative to the run's temperature change (the
/// largest |T - T_i| over the ramp's samples or steps and at the equilibrium after it, at
/// least rtol T_i), times [`REDUCTION_ESTIMATE_SAFETY`].
fn reduction_error_rel(
    tr: &Trajectory,
    ti: f64,
    rtol: f64,
    ramp: Option<slaving::SlavingEstimate>,
) -> f64 {
    let mut change = ramp_change(&tr.samples, tr.ramp_duration_s, ti, tr.t_equilibrium_k);
    let mut error_k: f64 = 0.0;
    if let Some(e) = ramp {
        error_k = e.error_k;
        change = change.max(e.change_k);
    }
    if let Some(h) = &tr.handover {
        error_k = error_k.max((h.t_reduced_k - h.t_full_k).abs());
    }
    relative_estimate(error_k, change, rtol * ti)
}

/// Every requested sample present, every sample finite, the energy balance within
/// `energy_balance_tol_rel` ([`EngineError::EnergyBalance`] otherwise), and the run ended at equilibrium or at
/// the time limit (not before it); otherwise [`EngineError::Incomplete`].
fn check_complete(plan: &Plan<'_>, tr: &Trajectory) -> Result<(), EngineError> {
    let opt = &plan.run.options;
    let fail = |what: String| EngineError::Incomplete {
        what,
        b_initial_t: plan.bi,
        b_final_t: plan.bf,
        t_initial_k: plan.ti,
    };
    for &s in &opt.sample_times_after_ramp_s {
        if s <= opt.max_time_after_ramp_s && tr.sample_after_ramp(s).is_none() {
            return Err(fail(format!(
                "no sample at the requested {} s after the ramp (the run ended {} s after it)",
                crate::units::number(s),
                crate::units::number(tr.t_end_after_ramp_s)
            )));
        }
    }
    if let Some(bad) = tr.samples.iter().find(|x| {
        !(x.t_s.is_finite()
            && x.t_phonon_k.is_finite()
            && x.populations.iter().all(|p| p.is_finite()))
    }) {
        return Err(fail(format!(
            "a sample at t = {} s has a value that is not finite (T = {} K)",
            crate::units::number(bad.t_s),
            crate::units::number(bad.t_phonon_k)
        )));
    }
    // The energy balance at every sample, against its tolerance.
    let e = tr.energy_balance_error;
    if e > opt.energy_balance_tol_rel || e.is_nan() {
        let rel = |x: &Sample| {
            let err =
                (x.spin_energy_k + x.phonon_energy_k - plan.u0 - x.work_k + x.heat_to_bath_k).abs();
            err / (plan.u0.abs() + x.work_k.abs() + x.heat_to_bath_k.abs())
        };
        let worst = tr
            .samples
            .iter()
            .max_by(|a, b| rel(a).total_cmp(&rel(b)))
            .map_or((f64::NAN, f64::NAN), |x| (x.t_s, x.t_phonon_k));
        return Err(EngineError::EnergyBalance {
            error_rel: tr.energy_balance_error,
            tol_rel: opt.energy_balance_tol_rel,
            t_s: worst.0,
            t_phonon_k: worst.1,
            b_initial_t: plan.bi,
            b_final_t: plan.bf,
            t_initial_k: plan.ti,
        });
    }
    let end = tr.t_end_after_ramp_s;
    let limit = opt.max_time_after_ramp_s;
    // The run stops at t_q + limit; the time after the ramp, (t_q + limit) - t_q, may exceed
    // the limit by the rounding of that sum.
    let within = end <= limit + 4.0 * f64::EPSILON * (tr.ramp_duration_s + limit);
    let ok = match tr.outcome {
        Outcome::Equilibrium => end.is_finite() && within,
        Outcome::EndTime => within && end >= limit * (1.0 - 1e-9),
    };
    if !ok || !tr.t_final_k.is_finite() {
        return Err(fail(format!(
            "it ended {} s after the ramp ({:?}) with the time limit at {} s and T = {} K",
            crate::units::number(end),
            tr.outcome,
            crate::units::number(limit),
            crate::units::number(tr.t_final_k)
        )));
    }
    Ok(())
}

/// The trajectory of a finished run: its samples, the invariants over them, and the summary.
fn finish(
    plan: &Plan<'_>,
    prog: Progress<'_>,
    after: After,
    t_final: f64,
    t_now: f64,
) -> Trajectory {
    let tq = plan.tq;
    let inv = Invariants::over(&prog.rec.samples, plan.u0, tq);
    // The lowest temperature after the ramp: over the stages' accepted steps and the samples.
    let mut prog = prog;
    for i in 0..prog.rec.samples.len() {
        let s = &prog.rec.samples[i];
        if s.t_s >= tq {
            let (t, temp) = (s.t_s, s.t_phonon_k);
            prog.note_temperature(t, temp);
        }
    }
    let (minimum_temperature_k, t_min) = prog.minimum.unwrap_or((t_final, t_now));
    let heat_to_bath_k = prog.rec.samples.last().map_or(0.0, |s| s.heat_to_bath_k);
    let (segments, cycles) = segment_reports(plan, &prog);
    Trajectory {
        samples: prog.rec.samples,
        ramp_duration_s: tq,
        t_after_ramp_k: after.t_after_ramp,
        t_equilibrium_k: after.t_eq,
        t_final_k: t_final,
        t_end_after_ramp_s: t_now - tq,
        outcome: after.outcome,
        relax_10pct_s: after.relax[0],
        relax_1pct_s: after.relax[1],
        t_final_sudden_k: plan.t_sudden,
        t_final_isentropic_k: plan.t_isentropic,
        energy_balance_abs_k: inv.energy_abs_k,
        energy_balance_error: inv.energy_rel,
        population_sum_error: inv.population_sum,
        min_population: inv.min_population,
        entropy_decrease_max: inv.entropy_decrease,
        handover: after.handover,
        stats: prog.stats,
        steps_full: prog.steps_full,
        steps_reduced: prog.steps_reduced,
        quadrature_evals: prog.quadrature_evals,
        table_nodes: prog.table_nodes,
        // Set by the caller from the stages' estimates.
        reduction_error_estimate: 0.0,
        ramp_formulation: RampFormulation::Full,
        equilibrium_after_ramp_s: after.t_eq_reached,
        minimum_temperature_k,
        minimum_after_ramp_s: t_min - tq,
        heat_to_bath_k,
        segments,
        cycles,
    }
}

/// The per-segment and per-cycle reports of a segmented protocol, from the samples at the
/// segments' ends (always on the output grid) and the lowest temperatures noted in each
/// segment's steps. Empty without segments.
fn segment_reports(plan: &Plan<'_>, prog: &Progress<'_>) -> (Vec<SegmentReport>, Vec<CycleReport>) {
    let Some(seg) = plan.run.protocol.segments() else {
        return (Vec::new(), Vec::new());
    };
    let samples = &prog.rec.samples;
    // The sample at time t exactly (segment ends are hard stops of the integrator), else the
    // nearest one.
    let at = |t: f64| {
        let k = samples.partition_point(|s| s.t_s < t);
        let k = if k < samples.len() && (samples[k].t_s - t).abs() <= 1e-12 * t.abs() {
            k
        } else {
            k.min(samples.len() - 1)
        };
        &samples[k]
    };
    let energy = |s: &Sample| s.spin_energy_k + s.phonon_energy_k;
    let mut segments = Vec::with_capacity(seg.list().len());
    for (k, s) in seg.list().iter().enumerate() {
        let (a, b) = (at(s.start_s), at(s.end_s));
        let (work, heat) = (b.work_k - a.work_k, b.heat_to_bath_k - a.heat_to_bath_k);
        let du = energy(b) - energy(a);
        let (mut t_min, mut when) = prog
            .segment_minimum
            .get(k)
            .copied()
            .flatten()
            .unwrap_or((b.t_phonon_k, s.end_s));
        for x in [a, b] {
            if x.t_phonon_k < t_min {
                (t_min, when) = (x.t_phonon_k, x.t_s);
            }
        }
        segments.push(SegmentReport {
            cycle: s.cycle as u64,
            segment: s.index_in_cycle as u64,
            kind: s.kind.name().to_string(),
            link_closed: s.link_closed,
            start_s: s.start_s,
            end_s: s.end_s,
            end_field_t: b.field_t,
            end_temperature_k: b.t_phonon_k,
            minimum_temperature_k: t_min,
            minimum_s: when,
            work_k: work,
            heat_to_bath_k: heat,
            energy_change_k: du,
            energy_balance_error_rel: (du - work + heat).abs()
                / (energy(a).abs() + work.abs() + heat.abs()),
        });
    }
    let mut cycles: Vec<CycleReport> = Vec::new();
    for s in &segments {
        match cycles.last_mut() {
            Some(c) if c.cycle == s.cycle => {
                c.end_s = s.end_s;
                c.end_temperature_k = s.end_temperature_k;
                if s.minimum_temperature_k < c.minimum_temperature_k {
                    c.minimum_temperature_k = s.minimum_temperature_k;
                    c.minimum_s = s.minimum_s;
                }
                c.work_k += s.work_k;
                c.heat_to_bath_k += s.heat_to_bath_k;
            }
            _ => cycles.push(CycleReport {
                cycle: s.cycle,
                start_s: s.start_s,
                end_s: s.end_s,
                end_temperature_k: s.end_temperature_k,
                minimum_temperature_k: s.minimum_temperature_k,
                minimum_s: s.minimum_s,
                work_k: s.work_k,
                heat_to_bath_k: s.heat_to_bath_k,
            }),
        }
    }
    (segments, cycles)
}
