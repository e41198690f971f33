//! The stages of a run and the one loop that drives them.
//!
//! A run is: the ramp (full master equation, or the two-well reduction for slow ramps), then
//! at B_f the full equation while intra-well modes are active (the hold), the hand-over to the
//! reduction, and the relaxation as a quadrature ([`super::relax`]). The solver-driven stages
//! (full ramp, reduced ramp, full hold) implement [`Integrated`] and are stepped by [`drive`];
//! the state between stages is a [`State`].

use super::drive::Driven;
use super::full::FullSystem;
use super::record::{output_times, Recorder};
use super::reduced::{ReducedSystem, Wells};
use super::relax::Relaxation;
use super::{
    EngineContext, EngineError, Formulation, Handover, Outcome, RunSpec, Stage, EQUILIBRIUM_TOL_P,
};
use crate::error::{NumericsError, ParameterError};
use crate::model::limits::{equilibrium_temperature_for_energy, FieldChange, Isentropic};
use crate::model::thermo::boltzmann;
use crate::model::HeatLink;
use crate::numerics::solver::{OdeSystem, Radau5, SolverStats, StepError, Tolerances};
use crate::rates::RateModel;
use nalgebra::DVector;

/// What a run needs before it integrates: its rate model (with the kappa(T) table attached),
/// limits, initial state, output grid and tolerances.
pub(super) struct Plan<'r> {
    pub run: &'r RunSpec,
    pub rates: RateModel,
    pub bi: f64,
    pub bf: f64,
    pub tq: f64,
    pub ti: f64,
    pub nlev: usize,
    pub t_sudden: f64,
    pub t_isentropic: Option<f64>,
    pub wells: Wells,
    /// Initial populations (equilibrium at B_i, T_i).
    pub n0: Vec<f64>,
    /// Initial total energy, K.
    pub u0: f64,
    pub outputs: Vec<f64>,
    pub last_requested: f64,
    pub tol_full: Tolerances,
    pub tol_reduced: Tolerances,
    /// The heat link to a bath, if any.
    pub link: Option<HeatLink>,
    /// The times during the ramp at which the field passes a resonance of a mechanism
    /// ([`crate::rates::Mechanism::resonance_fields_t`]), sorted: hard stops of the ramp
    /// stages. Empty without tunnelling.
    pub resonance_times: Vec<f64>,
    /// The intra-well rate at (B_i, T_i) and (B_f, T_i) once computed
    /// ([`Plan::intra_well_rate_at_start`]).
    intra_at_start: std::cell::Cell<[Option<f64>; 2]>,
}

impl<'r> Plan<'r> {
    /// The plan of `run` with its (validated) rate model; `attach` attaches the kappa(T) table
    /// for the temperature range [t_lo, t_hi] K the run can visit.
    pub fn new(
        run: &'r RunSpec,
        rates: RateModel,
        attach: impl FnOnce(RateModel, f64, f64) -> RateModel,
    ) -> Result<Self, EngineError> {
        let (spin, debye) = (&run.material.spin, &run.material.debye);
        let opt = &run.options;
        let proto = &run.protocol;
        let (bi, bf, tq, ti) = (
            proto.b_initial_t(),
            proto.b_final_t(),
            proto.duration_s(),
            run.t_initial_k,
        );
        let limits = FieldChange {
            spin,
            debye,
            b_initial_t: bi,
            b_final_t: bf,
            t_initial_k: ti,
        };
        let t_sudden = limits.sudden_final_k()?;
        let t_isentropic = match limits.isentropic_final()? {
            Isentropic::Final { t_final_k } => Some(t_final_k),
            Isentropic::NoFiniteSolution { .. } => None,
        };
        // Tabulate kappa(T) over the temperatures this run can visit: between the isentropic
        // (second law) and sudden final temperatures and the initial one, with margins.
        // A bath is visited too.
        let bath = run.link.map_or(ti, |l| l.bath_k());
        let mut t_lo = [ti, t_sudden, t_isentropic.unwrap_or(0.5 * t_sudden), bath]
            .into_iter()
            .fold(f64::INFINITY, f64::min);
        let mut t_hi = [ti, t_sudden, bath].into_iter().fold(0.0, f64::max);
        if let Some(w) = proto.waveform() {
            // A waveform visits fields beyond B_f: widen the range by the limits of a change
            // to its lowest and highest fields (the table only speeds kappa up; outside it
            // kappa is computed exactly).
            let (lo, hi) = w
                .field_t()
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
                    (a.min(x), b.max(x))
                });
            for b in [lo, hi] {
                let change = FieldChange {
                    b_final_t: b,
                    ..limits
                };
                let sudden = change.sudden_final_k()?;
                let isentropic = match change.isentropic_final()? {
                    Isentropic::Final { t_final_k } => t_final_k,
                    Isentropic::NoFiniteSolution { .. } => 0.5 * sudden,
                };
                t_lo = t_lo.min(sudden).min(isentropic);
                t_hi = t_hi.max(sudden);
            }
        }
        let rates = attach(rates, (0.8 * t_lo).max(0.3), 1.25 * t_hi);
        let resonance_fields = rates.resonance_fields_t();
        let mut resonance_times: Vec<f64> = resonance_fields
            .iter()
            .flat_map(|&b| proto.times_at_field(b))
            .collect();
        resonance_times.sort_by(f64::total_cmp);
        resonance_times.dedup();
        let wells = Wells::at_field(spin, bf);
        let n0 = boltzmann(&spin.energies(bi), ti);
        let u0: f64 = n0
            .iter()
            .enumerate()
            .map(|(i, p)| p * spin.energy_k(i, bi))
            .sum::<f64>()
            + debye.energy_k(ti);
        let (outputs, last_requested) = output_times(opt, tq, proto);
        let nlev = spin.n_levels();
        let link = run.link;
        let extra = usize::from(link.is_some());
        let tol_full = Tolerances {
            rtol: opt.rtol,
            atol: {
                let mut a = vec![opt.atol_population; nlev + 2 + extra];
                a[nlev] = 1e-16 + opt.rtol * debye.energy_k(ti.min(t_sudden));
                a[nlev + 1] = 1e-14;
                if extra > 0 {
                    a[nlev + 2] = 1e-14;
                }
                a
            },
            max_steps: opt.max_steps,
        };
        let mut reduced_atol = vec![1e-16, 1e-14];
        if extra > 0 {
            // In the reduction T comes from an energy balance resolved to ~eps |U_0|; a stiff
            // link turns that into noise in dq/dt ~ K eps |U_0| / C, which an absolute
            // tolerance far below the balance's own resolution would chase with ever smaller
            // steps. The heat is kept to rtol |U_0| (1e-10 of the energy at the default rtol).
            reduced_atol.push(1e-14_f64.max(opt.rtol * u0.abs()));
        }
        let tol_reduced = Tolerances {
            rtol: opt.rtol,
            atol: reduced_atol,
            max_steps: opt.max_steps,
        };
        Ok(Self {
            run,
            rates,
            bi,
            bf,
            tq,
            ti,
            nlev,
            t_sudden,
            t_isentropic,
            wells,
            n0,
            u0,
            outputs,
            last_requested,
            tol_full,
            tol_reduced,
            link,
            resonance_times,
            intra_at_start: std::cell::Cell::new([None; 2]),
        })
    }

    /// Separation lambda1/lambda2 and the intra-well rate (1/s) at (B, T).
    pub fn time_scales(&self, b: f64, t: f64) -> Result<(f64, f64), EngineError> {
        let outside = || ParameterError::new("b_final_t", b, "outside the two-well range");
        let mode = self.rates.unscaled_slow_mode(b, t)?.ok_or_else(outside)?;
        let kappa = self.rates.kappa(t)?;
        let intra = self
            .rates
            .unscaled_intra_well_rate(b, t)
            .ok_or_else(outside)?;
        Ok((mode.lambda1_per_s / intra, kappa * intra))
    }

    /// The intra-well rate (1/s) at (B, T): the second of [`Self::time_scales`], without
    /// the slow mode (its fixed point), which the callers of this one do not use.
    pub fn intra_well_rate(&self, b: f64, t: f64) -> Result<f64, EngineError> {
        let outside = || ParameterError::new("b_final_t", b, "outside the two-well range");
        let kappa = self.rates.kappa(t)?;
        let intra = self
            .rates
            .unscaled_intra_well_rate(b, t)
            .ok_or_else(outside)?;
        Ok(kappa * intra)
    }

    /// [`Self::intra_well_rate`] at (B_i, T_i) (`at_final` false) or (B_f, T_i), computed
    /// once per run: the choice of the ramp's formulation, its first step and the check of
    /// the reduction's estimate all ask for them.
    pub fn intra_well_rate_at_start(&self, at_final: bool) -> Result<f64, EngineError> {
        let k = usize::from(at_final);
        let mut known = self.intra_at_start.get();
        if let Some(v) = known[k] {
            return Ok(v);
        }
        let v = self.intra_well_rate(if at_final { self.bf } else { self.bi }, self.ti)?;
        known[k] = Some(v);
        self.intra_at_start.set(known);
        Ok(v)
    }

    /// The engine error of a failed step of stage `label` at `t_s`, with the temperature
    /// there; a failure of the system's own evaluation is reported as itself.
    pub fn step_error(
        &self,
        label: &'static str,
        t_s: f64,
        temp: f64,
        e: StepError<NumericsError>,
    ) -> EngineError {
        match e {
            StepError::System { source, .. } => source.into(),
            StepError::Solver(source) => EngineError::Solver {
                stage: label,
                t_s,
                field_t: self.run.protocol.field_t(t_s),
                t_phonon_k: temp,
                b_initial_t: self.bi,
                b_final_t: self.bf,
                t_initial_k: self.ti,
                hint: if self.run.options.formulation == Formulation::Full {
                    FULL_FORMULATION_HINT
                } else {
                    ""
                },
                source,
            },
        }
    }
}

/// Appended to a solver failure with `--formulation full`: the full master equation carries
/// the slow inter-well stage only as a cancelling difference of fast fluxes, and at long steps
/// its Newton matrix gamma/h - J is singular in double precision (docs/numerics.md sections 2
/// and 11); the default formulation hands the slow stage to the two-well reduction.
pub(super) const FULL_FORMULATION_HINT: &str = " (the full master equation, --formulation full, is not representable in double precision at this temperature and time scale: it is a check for short windows at T >= ~4 K, docs/numerics.md section 11; the default formulation, --formulation auto, integrates this run)";

/// The three systems a run may integrate.
pub(super) struct Systems<'p> {
    /// Full master equation through the ramp.
    pub full: FullSystem<'p>,
    /// Full master equation at B_f.
    pub hold: FullSystem<'p>,
    /// Two-well reduction (ramp, temperature solves, relaxation).
    pub reduced: ReducedSystem<'p>,
    /// With a heat link: the two-well reduction at B_f after the ramp, integrated by the
    /// solver ([`LinkedRelax`]).
    pub linked_hold: Option<ReducedSystem<'p>>,
}

impl<'p> Systems<'p> {
    /// The systems of `plan`.
    pub fn new(plan: &'p Plan<'_>, ctx: &'p EngineContext) -> Self {
        let (spin, debye) = (&plan.run.material.spin, &plan.run.material.debye);
        let proto = &plan.run.protocol;
        let reduced = || {
            let sys = ReducedSystem::new(
                spin,
                debye,
                &plan.rates,
                proto,
                plan.wells.clone(),
                plan.u0,
                plan.ti,
            );
            // With resonances (tunnelling) the plane table builds no panel holding a
            // resonance field or a window edge (exact kernels there) and leaves those it
            // cannot resolve to the exact kernels; the final field has its line table, where
            // the rates are smooth in T.
            sys.with_table(ctx).linked(plan.link)
        };
        Self {
            full: FullSystem::new(spin, debye, &plan.rates, proto).linked(plan.link),
            hold: FullSystem::new(spin, debye, &plan.rates, proto)
                .holding()
                .linked(plan.link),
            reduced: reduced(),
            linked_hold: plan.link.map(|_| reduced().holding()),
        }
    }

    /// Kernel evaluations the reduced systems spent building table panels.
    pub fn table_evaluations(&self) -> usize {
        self.reduced.table_evaluations()
            + self
                .linked_hold
                .as_ref()
                .map_or(0, ReducedSystem::table_evaluations)
    }

    /// Temperature of `state` at time `t`, K.
    pub fn temperature_k(
        &self,
        plan: &Plan<'_>,
        state: &State,
        t: f64,
    ) -> Result<f64, NumericsError> {
        match state {
            State::Full(y) => Ok(self.full.temperature_k(y)),
            State::Reduced { right, work, heat } => {
                self.reduced
                    .temperature_k(plan.run.protocol.field_t(t), *right, *work - *heat)
            }
        }
    }

    /// Record `state` at time `t` at the field `field_t`.
    pub fn record(
        &self,
        plan: &Plan<'_>,
        rec: &mut Recorder<'_>,
        state: &State,
        t: f64,
        field_t: f64,
    ) -> Result<(), NumericsError> {
        match state {
            State::Full(y) => rec.push_full(t, field_t, self.full.temperature_k(y), y),
            State::Reduced { right, work, heat } => {
                let b = plan.run.protocol.field_t(t);
                rec.push_reduced(&self.reduced, t, field_t, b, *right, [*work, *heat])?;
            }
        }
        Ok(())
    }
}

/// The state between stages: the full vector [n, U_ph, w] (and the heat to the bath q with
/// a link), or the reduced (P_R, w, q) (q = 0 without a link).
#[derive(Debug, Clone)]
pub(super) enum State {
    Full(DVector<f64>),
    Reduced { right: f64, work: f64, heat: f64 },
}

/// What the stages accumulate: samples, the next output, work counters.
pub(super) struct Progress<'r> {
    pub rec: Recorder<'r>,
    /// Index of the next output time.
    pub out_idx: usize,
    pub stats: SolverStats,
    pub steps_full: usize,
    pub steps_reduced: usize,
    pub quadrature_evals: usize,
    pub table_nodes: usize,
    /// Of a reduced ramp: (t in s, P_R, net energy received w - q in K, the temperature its
    /// right-hand side solved there in K, NaN at the start) at its start and after each
    /// accepted step, for the error estimate (`super::slaving`).
    pub reduced_ramp_steps: Vec<[f64; 4]>,
    /// Lowest temperature seen after the ramp (K) and its time since the start, s.
    pub minimum: Option<(f64, f64)>,
    /// Of a segmented protocol: the lowest temperature in each segment (K) and its time
    /// since the start, s.
    pub segment_minimum: Vec<Option<(f64, f64)>>,
}

impl<'r> Progress<'r> {
    /// Nothing recorded or counted yet.
    pub fn new(rec: Recorder<'r>) -> Self {
        Self {
            rec,
            out_idx: 0,
            stats: SolverStats::default(),
            steps_full: 0,
            steps_reduced: 0,
            quadrature_evals: 0,
            table_nodes: 0,
            reduced_ramp_steps: Vec::new(),
            minimum: None,
            segment_minimum: Vec::new(),
        }
    }

    /// Note temperature `temp` (K) at time `t` (s, after the ramp): the lowest one is kept.
    pub fn note_temperature(&mut self, t: f64, temp: f64) {
        note_into(&mut self.minimum, t, temp);
    }

    /// After an accepted step of `solver` from `start_k` to `end_k` (K, at the ends of its
    /// last interval [a, b]): note T(b), and where the lowest temperature may lie inside the
    /// step, locate it on the dense output and note it ([`note_step_into`]).
    pub fn note_step(
        &mut self,
        solver: &Radau5<NumericsError>,
        start_k: f64,
        end_k: f64,
        temp_of: impl Fn(&DVector<f64>) -> f64,
    ) {
        note_step_into(&mut self.minimum, solver, start_k, end_k, |_, y| temp_of(y));
    }

    /// The same for the lowest temperature of segment `k` of a segmented protocol, whose
    /// first step also notes the temperature at its start; `temp_of(t, y)` is T of the state
    /// `y` at time `t`.
    pub fn note_segment_step(
        &mut self,
        k: usize,
        solver: &Radau5<NumericsError>,
        start_k: f64,
        end_k: f64,
        temp_of: impl Fn(f64, &DVector<f64>) -> f64,
    ) {
        if self.segment_minimum.len() <= k {
            self.segment_minimum.resize(k + 1, None);
        }
        let slot = &mut self.segment_minimum[k];
        if slot.is_none() {
            note_into(slot, solver.last_interval().0, start_k);
        }
        note_step_into(slot, solver, start_k, end_k, temp_of);
    }

    /// Count the work of a finished stage's solver.
    fn absorb(&mut self, solver: &Radau5<NumericsError>, stage: Stage) {
        self.stats += solver.stats();
        match stage {
            Stage::Full => self.steps_full += solver.stats().steps,
            Stage::Reduced => self.steps_reduced += solver.stats().steps,
        }
    }
}

/// Keep in `slot` the lowest temperature (K) and its time (s): `temp` at `t` if lower.
fn note_into(slot: &mut Option<(f64, f64)>, t: f64, temp: f64) {
    if temp.is_finite() && slot.is_none_or(|(m, _)| temp < m) {
        *slot = Some((temp, t));
    }
}

/// After an accepted step of `solver` from `start_k` to `end_k` (K, at the ends of its last
/// interval [a, b]): note T(b) in `slot`, and where the lowest temperature may lie inside the
/// step, locate it on the dense output and note it. That is when the step ends at the lowest
/// temperature so far but T rises just before its end, or starts at the lowest so far and T
/// falls just after its start; the slope is read from the dense output 1e-3 of the step
/// inside the end. The minimum is then found by golden-section search of
/// `temp_of(t, dense(t))` over [a, b] to 1e-10 of b.
fn note_step_into(
    slot: &mut Option<(f64, f64)>,
    solver: &Radau5<NumericsError>,
    start_k: f64,
    end_k: f64,
    temp_of: impl Fn(f64, &DVector<f64>) -> f64,
) {
    let (a, b) = solver.last_interval();
    let lowest_at_start = slot.is_some_and(|(_, t)| at_stop(t, a));
    note_into(slot, b, end_k);
    if b <= a {
        return;
    }
    let delta = 1e-3 * (b - a);
    let f = |t: f64| temp_of(t, &solver.dense(t));
    let interior = if slot.is_some_and(|(_, t)| at_stop(t, b)) {
        f(b - delta) < end_k
    } else {
        lowest_at_start && end_k > start_k && f(a + delta) < start_k
    };
    if !interior {
        return;
    }
    const INV_PHI: f64 = 0.618_033_988_749_894_9;
    let (mut lo, mut hi) = (a, b);
    let mut x1 = hi - INV_PHI * (hi - lo);
    let mut x2 = lo + INV_PHI * (hi - lo);
    let (mut f1, mut f2) = (f(x1), f(x2));
    while hi - lo > 1e-10 * b.abs() {
        if f1 <= f2 {
            hi = x2;
            (x2, f2) = (x1, f1);
            x1 = hi - INV_PHI * (hi - lo);
            f1 = f(x1);
        } else {
            lo = x1;
            (x1, f1) = (x2, f2);
            x2 = lo + INV_PHI * (hi - lo);
            f2 = f(x2);
        }
    }
    let (t, temp) = if f1 <= f2 { (x1, f1) } else { (x2, f2) };
    note_into(slot, t, temp);
}

/// A stage integrated by the solver: its system, where it ends and its rules between steps.
pub(super) trait Integrated {
    /// The system stepped.
    type System: OdeSystem<Error = NumericsError>;
    /// Name in error messages.
    const LABEL: &'static str;
    /// Formulation, for the work counters.
    const STAGE: Stage;
    /// The system.
    fn system(&self) -> &Self::System;
    /// The stage never steps beyond this time, s.
    fn end(&self) -> f64;
    /// Output times from this one on are not this stage's to record, s (a ramp records up
    /// to its end).
    fn records_before(&self) -> f64 {
        self.end()
    }
    /// Whether the stage is over, decided before each step (a ramp: at its end).
    fn finished(
        &mut self,
        solver: &Radau5<NumericsError>,
        _prog: &mut Progress<'_>,
    ) -> Result<bool, EngineError> {
        Ok(solver.t() >= self.end())
    }
    /// The next hard stop, given the next output time (or the end).
    fn stop(&self, _t: f64, stop: f64) -> f64 {
        stop
    }
    /// Before each step, at the solver's current time (a ramp: enter a waveform's piece).
    fn before_step(&mut self, _solver: &mut Radau5<NumericsError>) {}
    /// After each accepted step.
    fn stepped(&mut self, _solver: &Radau5<NumericsError>, _prog: &mut Progress<'_>) {}
    /// Temperature of state `y` at time `t`, K (for error messages: NaN only where the state
    /// has none).
    fn temperature_k(&self, t: f64, y: &DVector<f64>) -> f64;
    /// Record state `y` at output time `t`.
    fn record(&self, rec: &mut Recorder<'_>, t: f64, y: &DVector<f64>) -> Result<(), EngineError>;
    /// Whether output times inside a step are read off the step's collocation polynomial
    /// rather than stepped to: then [`Self::stop`] leaves them out of its hard stops.
    fn dense_outputs(&self) -> bool {
        false
    }
}

/// The one driver loop: step `stage`'s system with `solver` until the stage is finished,
/// stopping exactly at each output time before the stage's end and recording the state there
/// (or, for a stage with [`Integrated::dense_outputs`], recording the output times a step
/// covers from its collocation polynomial, and stopping only where the stage says).
pub(super) fn drive<I: Integrated>(
    plan: &Plan<'_>,
    stage: &mut I,
    solver: &mut Radau5<NumericsError>,
    prog: &mut Progress<'_>,
) -> Result<(), EngineError> {
    while !stage.finished(solver, prog)? {
        stage.before_step(solver);
        let end = stage.end();
        let next = plan.outputs.get(prog.out_idx).copied().unwrap_or(end);
        let stop = stage.stop(solver.t(), next.min(end));
        solver.step(stage.system(), stop).map_err(|e| {
            plan.step_error(
                I::LABEL,
                solver.t(),
                stage.temperature_k(solver.t(), solver.y()),
                e,
            )
        })?;
        stage.stepped(solver, prog);
        while let Some(&o) = plan.outputs.get(prog.out_idx) {
            if o >= stage.records_before() {
                break;
            }
            if at_stop(solver.t(), o) {
                stage.record(&mut prog.rec, o, solver.y())?;
            } else if o < solver.t() && stage.dense_outputs() {
                // Inside the step: from its collocation polynomial.
                stage.record(&mut prog.rec, o, &solver.dense(o))?;
            } else {
                break;
            }
            prog.out_idx += 1;
        }
    }
    prog.absorb(solver, I::STAGE);
    Ok(())
}

/// The integrator lands exactly on hard stops, so output times are matched exactly.
#[allow(clippy::float_cmp)]
fn at_stop(t: f64, stop: f64) -> bool {
    t == stop
}

/// A ramp's hard stops: the next output time, the next corner of a waveform (dB/dt jumps
/// there; no step may cross it) or the next passage through a resonance (`resonances`, sorted
/// times; a step may not cross one either: the integrator then meets each tunnelling
/// Lorentzian at its centre and its error control resolves it), whichever comes first.
fn ramp_stop(
    proto: &crate::model::protocol::Protocol,
    resonances: &[f64],
    t: f64,
    stop: f64,
) -> f64 {
    let next = resonances.partition_point(|&c| c <= t);
    let stop = resonances.get(next).map_or(stop, |&c| stop.min(c));
    proto.next_corner_after(t).map_or(stop, |c| stop.min(c))
}

/// On a waveform, before a step at the solver's time: the piece the step lies in, and at a
/// corner a restart of the integrator (dB/dt jumps there: the derivative at the corner and
/// the collocation polynomial of the piece before do not carry over).
fn enter_piece<'a, S>(sys: &S, solver: &mut Radau5<NumericsError>)
where
    S: OdeSystem<Error = NumericsError> + Driven<'a>,
{
    let drive = sys.drive();
    if drive.protocol.waveform().is_none() {
        return;
    }
    let t = solver.t();
    let k = drive.protocol.piece_at(t);
    match drive.piece.get() {
        Some(p) if p == k => {}
        Some(_) => {
            drive.piece.set(Some(k));
            let y = solver.y().clone();
            solver.restart(sys, t, y);
        }
        None => drive.piece.set(Some(k)),
    }
}

/// The ramp in the full master equation.
struct FullRamp<'s, 'p> {
    sys: &'s FullSystem<'p>,
    proto: &'s crate::model::protocol::Protocol,
    resonances: &'s [f64],
    tq: f64,
    /// Temperature at the start of the next step, K (segmented protocols only).
    prev_temp: f64,
}

/// Of a segmented protocol, the segment the solver's last step lay in (the piece its drive
/// was in).
fn step_segment<'a, S: Driven<'a>>(sys: &S) -> Option<usize> {
    let drive = sys.drive();
    let seg = drive.protocol.segments()?;
    Some(seg.of_piece(drive.piece.get().unwrap_or(0)))
}

impl<'p> Integrated for FullRamp<'_, 'p> {
    type System = FullSystem<'p>;
    const LABEL: &'static str = "full ramp";
    const STAGE: Stage = Stage::Full;
    fn system(&self) -> &FullSystem<'p> {
        self.sys
    }
    fn end(&self) -> f64 {
        self.tq
    }
    fn stop(&self, t: f64, stop: f64) -> f64 {
        ramp_stop(self.proto, self.resonances, t, stop)
    }
    fn before_step(&mut self, solver: &mut Radau5<NumericsError>) {
        enter_piece(self.sys, solver);
    }
    fn stepped(&mut self, solver: &Radau5<NumericsError>, prog: &mut Progress<'_>) {
        if let Some(k) = step_segment(self.sys) {
            let sys = self.sys;
            let temp = sys.temperature_k(solver.y());
            prog.note_segment_step(k, solver, self.prev_temp, temp, |_, y| sys.temperature_k(y));
            self.prev_temp = temp;
        }
    }
    fn temperature_k(&self, _t: f64, y: &DVector<f64>) -> f64 {
        self.sys.temperature_k(y)
    }
    fn record(&self, rec: &mut Recorder<'_>, t: f64, y: &DVector<f64>) -> Result<(), EngineError> {
        rec.push_full(t, self.proto.field_t(t), self.sys.temperature_k(y), y);
        Ok(())
    }
}

/// The ramp in the two-well reduction, state (P_R, w).
struct ReducedRamp<'s, 'p> {
    sys: &'s ReducedSystem<'p>,
    proto: &'s crate::model::protocol::Protocol,
    resonances: &'s [f64],
    tq: f64,
    /// Temperature at the start of the next step, K (segmented protocols only).
    prev_temp: f64,
}

impl<'p> Integrated for ReducedRamp<'_, 'p> {
    type System = ReducedSystem<'p>;
    const LABEL: &'static str = "reduced ramp";
    const STAGE: Stage = Stage::Reduced;
    fn system(&self) -> &ReducedSystem<'p> {
        self.sys
    }
    fn end(&self) -> f64 {
        self.tq
    }
    fn stop(&self, t: f64, stop: f64) -> f64 {
        ramp_stop(self.proto, self.resonances, t, stop)
    }
    fn before_step(&mut self, solver: &mut Radau5<NumericsError>) {
        enter_piece(self.sys, solver);
    }
    fn stepped(&mut self, solver: &Radau5<NumericsError>, prog: &mut Progress<'_>) {
        let y = solver.y();
        // The temperature the step's last right-hand side (at its end, for the solver's next
        // step) solved: the slaving estimate's point there takes it instead of solving again.
        prog.reduced_ramp_steps.push([
            solver.t(),
            y[0],
            self.sys.net_work(y),
            self.sys.last_temperature_k(),
        ]);
        if let Some(k) = step_segment(self.sys) {
            let (sys, proto) = (self.sys, self.proto);
            let piece = sys.drive().piece.get();
            let temp_of = |t: f64, y: &DVector<f64>| {
                let b = proto.field_and_rate(t, false, piece).0;
                sys.temperature_k(b, y[0], sys.net_work(y))
                    .unwrap_or(f64::NAN)
            };
            let temp = temp_of(solver.t(), solver.y());
            prog.note_segment_step(k, solver, self.prev_temp, temp, temp_of);
            self.prev_temp = temp;
        }
    }
    fn temperature_k(&self, t: f64, y: &DVector<f64>) -> f64 {
        // As `stepped` solves it: the energy balance at the field B(t) of the current piece.
        let piece = self.sys.drive().piece.get();
        let b = self.proto.field_and_rate(t, false, piece).0;
        self.sys
            .temperature_k(b, y[0], self.sys.net_work(y))
            .unwrap_or(f64::NAN)
    }
    fn record(&self, rec: &mut Recorder<'_>, t: f64, y: &DVector<f64>) -> Result<(), EngineError> {
        let b = self.proto.field_t(t);
        let heat = if y.len() > 2 { y[2] } else { 0.0 };
        rec.push_reduced(self.sys, t, b, b, y[0], [y[1], heat])?;
        Ok(())
    }
}

/// Newton contraction rate up to which the reduced ramp keeps its Jacobian (the default,
/// 1e-4, suits the full equation, whose LU pairs cost more than its Jacobians).
const REDUCED_JAC_REUSE_THETA: f64 = 1e-2;

/// Run the ramp from the initial equilibrium: nothing for a jump (the state at t_q is the
/// initial populations with the work of the jump), else the reduced or the full ramp.
pub(super) fn ramp(
    plan: &Plan<'_>,
    sys: &Systems<'_>,
    prog: &mut Progress<'_>,
    reduced: bool,
) -> Result<State, EngineError> {
    let run = plan.run;
    let (spin, nlev, n0) = (&run.material.spin, plan.nlev, &plan.n0);
    let proto = &run.protocol;
    let tq = plan.tq;
    let mut y_full0 = DVector::zeros(nlev + 2 + usize::from(plan.link.is_some()));
    for i in 0..nlev {
        y_full0[i] = n0[i];
    }
    y_full0[nlev] = run.material.debye.energy_k(plan.ti);
    if proto.shape() == crate::model::protocol::RampShape::Jump {
        y_full0[nlev + 1] = (0..nlev)
            .map(|i| n0[i] * (spin.energy_k(i, plan.bf) - spin.energy_k(i, plan.bi)))
            .sum();
        return Ok(State::Full(y_full0));
    }
    if reduced {
        let red = &sys.reduced;
        let mut y0 = vec![red.right_occupation(plan.bi, plan.ti, n0), 0.0];
        if plan.link.is_some() {
            y0.push(0.0);
        }
        let y0 = DVector::from_vec(y0);
        prog.reduced_ramp_steps.push([0.0, y0[0], 0.0, f64::NAN]);
        // Without a link, the 2x2 system's Jacobian (a table slice at a new field) costs
        // about as much as a Newton iteration's three right-hand sides, its LU next to
        // nothing: keep it while Newton contracts by 1e-2 (17 Jacobians instead of 73 on the
        // 1e-3 T/s run, 26 more Newton iterations; docs/numerics.md section 5). With a link
        // the default rule stays: there the runs moved by up to 3.5e-10 relative at rtol
        // 1e-8 (1e-10 T/s, T within 1e-9 K of the bath) for 1 % fewer instructions.
        let mut solver = Radau5::new(red, 0.0, y0, tq * 1e-6, plan.tol_reduced.clone());
        if plan.link.is_none() {
            solver = solver.with_jac_reuse_theta(REDUCED_JAC_REUSE_THETA);
        }
        let mut stage = ReducedRamp {
            sys: red,
            proto,
            resonances: &plan.resonance_times,
            tq,
            prev_temp: plan.ti,
        };
        drive(plan, &mut stage, &mut solver, prog)?;
        let y = solver.y();
        return Ok(State::Reduced {
            right: y[0],
            work: y[1],
            heat: if plan.link.is_some() { y[2] } else { 0.0 },
        });
    }
    let fast = plan.intra_well_rate_at_start(false)?;
    let h0 = (1e-3 / fast).min(tq * 1e-3);
    let mut solver = Radau5::new(&sys.full, 0.0, y_full0, h0, plan.tol_full.clone());
    let mut stage = FullRamp {
        sys: &sys.full,
        proto,
        resonances: &plan.resonance_times,
        tq,
        prev_temp: plan.ti,
    };
    drive(plan, &mut stage, &mut solver, prog)?;
    Ok(State::Full(solver.y().clone()))
}

/// Whether the ramp uses the two-well reduction.
pub(super) fn reduced_ramp(plan: &Plan<'_>) -> Result<bool, EngineError> {
    let opt = &plan.run.options;
    if !(plan.tq > 0.0 && opt.formulation == Formulation::Auto) {
        return Ok(false);
    }
    // Long ramps cannot be carried by the full equation (its rounding noise ~eps lambda2 h
    // per step forces ~lambda2 t_q / 1e3 steps), so they use the reduction whatever the
    // separation; its error is estimated after the ramp (`super::slaving`).
    Ok(ramp_intra_well_times(plan)? > opt.full_ramp_limit)
}

/// The ramp's length in intra-well relaxation times: t_q times the lower bound of the
/// intra-well rate, the smaller of its values at (B_i, T_i) and (B_f, T_i).
pub(super) fn ramp_intra_well_times(plan: &Plan<'_>) -> Result<f64, EngineError> {
    let fast_i = plan.intra_well_rate_at_start(false)?;
    let fast_f = plan.intra_well_rate_at_start(true)?;
    Ok(plan.tq * fast_i.min(fast_f))
}

/// The relaxation after the ramp toward T_eq: its reference point and what was found so far.
pub(super) struct After {
    /// Temperature at the end of the ramp, K.
    pub t_after_ramp: f64,
    /// Equilibrium temperature of the energy after the ramp, K.
    pub t_eq: f64,
    /// Times after the ramp at which |T - T_eq| first fell to 10 % and 1 % of its value at
    /// the end of the ramp, s.
    pub relax: [Option<f64>; 2],
    /// Time after the ramp at which equilibrium was reached, s.
    pub t_eq_reached: Option<f64>,
    pub outcome: Outcome,
    pub handover: Option<Handover>,
}

/// The fractions of |T_after_ramp - T_eq| whose first crossing times are reported.
const THRESHOLDS: [f64; 2] = [0.1, 0.01];

impl After {
    /// The reference at the end of the ramp, from the `state` there, which is recorded: the
    /// temperature, and the equilibrium temperature of its total energy at B_f.
    pub fn new(
        plan: &Plan<'_>,
        sys: &Systems<'_>,
        state: &State,
        rec: &mut Recorder<'_>,
    ) -> Result<Self, EngineError> {
        let (spin, debye) = (&plan.run.material.spin, &plan.run.material.debye);
        let (tq, bf, nlev) = (plan.tq, plan.bf, plan.nlev);
        let t_after_ramp = sys.temperature_k(plan, state, tq)?;
        let (n_ar, uph_ar) = match state {
            State::Full(y) => (y.rows(0, nlev).iter().copied().collect::<Vec<_>>(), y[nlev]),
            State::Reduced { right, .. } => (
                sys.reduced.populations(bf, t_after_ramp, *right),
                debye.energy_k(t_after_ramp),
            ),
        };
        // The link joins the sample to the bath after the ramp unless the last segment of a
        // segmented protocol opened the switch.
        let closed = plan.run.protocol.link_closed(tq, true, None);
        let t_eq = match plan.link.filter(|_| closed) {
            Some(link) => link.bath_k(),
            None => equilibrium_temperature_for_energy(
                &spin.energies(bf),
                debye,
                &n_ar,
                uph_ar,
                t_after_ramp,
            )?,
        };
        sys.record(plan, rec, state, tq, bf)?;
        Ok(Self {
            t_after_ramp,
            t_eq,
            relax: [None, None],
            t_eq_reached: None,
            outcome: Outcome::EndTime,
            handover: None,
        })
    }

    /// |T_after_ramp - T_eq|, K.
    fn dt0(&self) -> f64 {
        (self.t_after_ramp - self.t_eq).abs()
    }

    /// Record the first times after the ramp at which |T - T_eq| falls to each threshold
    /// within the last step (from `prev_temp` to `temp`), located with the dense output by
    /// bisection.
    fn detect_crossings(
        &mut self,
        tq: f64,
        prev_temp: f64,
        temp: f64,
        solver: &Radau5<NumericsError>,
        temp_of: impl Fn(&DVector<f64>) -> f64,
    ) {
        let (dt0, t_eq) = (self.dt0(), self.t_eq);
        if dt0 <= 0.0 {
            return;
        }
        for (slot, &thr) in self.relax.iter_mut().zip(&THRESHOLDS) {
            if slot.is_some() {
                continue;
            }
            let level = thr * dt0;
            if (temp - t_eq).abs() <= level && (prev_temp - t_eq).abs() > level {
                let (mut a, mut b) = solver.last_interval();
                for _ in 0..60 {
                    let m = 0.5 * (a + b);
                    if (temp_of(&solver.dense(m)) - t_eq).abs() <= level {
                        b = m;
                    } else {
                        a = m;
                    }
                    if b - a <= 1e-10 * b {
                        break;
                    }
                }
                *slot = Some(b - tq);
            }
        }
    }
}

/// The full master equation at B_f after the ramp, until intra-well relaxation has settled
/// and the time scales separate (then hand-over), equilibrium, or the end time.
struct Hold<'s, 'p> {
    plan: &'s Plan<'p>,
    sys: &'s FullSystem<'s>,
    after: &'s mut After,
    settle_until: f64,
    switch_ok: bool,
    t_max: f64,
    prev_temp: f64,
    /// First time after the ramp at which |T - T_eq| was within tolerance.
    first_eq: Option<f64>,
    /// The requested sample times (since the start of the run), sorted: the hard stops. The
    /// points of the logarithmic output grid are read off the dense output.
    hard_stops: Vec<f64>,
}

impl<'s> Integrated for Hold<'s, '_> {
    type System = FullSystem<'s>;
    const LABEL: &'static str = "full relaxation";
    const STAGE: Stage = Stage::Full;
    fn system(&self) -> &FullSystem<'s> {
        self.sys
    }
    fn end(&self) -> f64 {
        self.t_max
    }
    fn records_before(&self) -> f64 {
        f64::INFINITY
    }
    fn finished(
        &mut self,
        solver: &Radau5<NumericsError>,
        _prog: &mut Progress<'_>,
    ) -> Result<bool, EngineError> {
        let opt = &self.plan.run.options;
        let (tq, t_eq) = (self.plan.tq, self.after.t_eq);
        if self.switch_ok && solver.t() >= self.settle_until {
            // Scales at the current temperature decide: the reduction needs separation here.
            let temp = self.sys.temperature_k(solver.y());
            let (sep_now, _) = self.plan.time_scales(self.plan.bf, temp)?;
            if sep_now < opt.separation_max {
                return Ok(true);
            }
        }
        let temp_now = self.sys.temperature_k(solver.y());
        let at_eq = (temp_now - t_eq).abs() <= opt.equilibrium_tol_k;
        if at_eq {
            self.first_eq.get_or_insert(solver.t() - tq);
        }
        if at_eq && solver.t() - tq >= self.plan.last_requested {
            self.after.outcome = Outcome::Equilibrium;
            return Ok(true);
        }
        Ok(solver.t() >= self.t_max)
    }
    fn stop(&self, t: f64, _next_output: f64) -> f64 {
        let next = self.hard_stops.partition_point(|&s| s <= t);
        let stop = self
            .hard_stops
            .get(next)
            .map_or(self.t_max, |&s| s.min(self.t_max));
        if self.switch_ok && t < self.settle_until {
            stop.min(self.settle_until)
        } else {
            stop
        }
    }
    fn dense_outputs(&self) -> bool {
        true
    }
    fn stepped(&mut self, solver: &Radau5<NumericsError>, prog: &mut Progress<'_>) {
        let temp = self.sys.temperature_k(solver.y());
        let sys = self.sys;
        prog.note_step(solver, self.prev_temp, temp, |y| sys.temperature_k(y));
        self.after
            .detect_crossings(self.plan.tq, self.prev_temp, temp, solver, |y| {
                sys.temperature_k(y)
            });
        self.prev_temp = temp;
    }
    fn temperature_k(&self, _t: f64, y: &DVector<f64>) -> f64 {
        self.sys.temperature_k(y)
    }
    fn record(&self, rec: &mut Recorder<'_>, t: f64, y: &DVector<f64>) -> Result<(), EngineError> {
        rec.push_full(t, self.plan.bf, self.sys.temperature_k(y), y);
        Ok(())
    }
}

/// The full equation at B_f from the full state `y` at t_q, then the hand-over to the
/// reduction unless equilibrium or the end time came first. Returns the state and its time.
pub(super) fn hold(
    plan: &Plan<'_>,
    sys: &Systems<'_>,
    prog: &mut Progress<'_>,
    after: &mut After,
    y: DVector<f64>,
) -> Result<(State, f64), EngineError> {
    let opt = &plan.run.options;
    let tq = plan.tq;
    let t_max = tq + opt.max_time_after_ramp_s;
    let (sep, fast) = plan.time_scales(plan.bf, after.t_after_ramp.min(after.t_eq))?;
    // The hold at the fixed field B_f conserves the population sum and the energy with
    // constant coefficients: RADAU5's own Newton level keeps them (docs/numerics.md section 5).
    let mut solver =
        Radau5::new(&sys.hold, tq, y, 1e-3 / fast, plan.tol_full.clone()).with_radau5_newton();
    let mut stage = Hold {
        plan,
        sys: &sys.hold,
        prev_temp: after.t_after_ramp,
        after,
        settle_until: tq + opt.settle_e_folds / fast,
        switch_ok: opt.formulation == Formulation::Auto && sep < opt.separation_max,
        t_max,
        first_eq: None,
        hard_stops: requested_stops(plan, t_max),
    };
    drive(plan, &mut stage, &mut solver, prog)?;
    let first_eq = stage.first_eq;
    let t_now = solver.t();
    let y = solver.y().clone();
    if after.outcome == Outcome::Equilibrium {
        after.t_eq_reached = first_eq;
        return Ok((State::Full(y), t_now));
    }
    if t_now >= t_max {
        return Ok((State::Full(y), t_now));
    }
    // Stopped for the hand-over: intra-well modes settled and the scales separated.
    let (state, handover) = hand_over(plan, sys, &y, t_now)?;
    after.handover = Some(handover);
    Ok((state, t_now))
}

/// The hand-over from the full state `y` at `t_now` to the reduction: P_R from the
/// populations, the work from the full state's total energy (so the energy is handed over
/// exactly), T of the reduced state from its energy balance.
fn hand_over(
    plan: &Plan<'_>,
    sys: &Systems<'_>,
    y: &DVector<f64>,
    t_now: f64,
) -> Result<(State, Handover), EngineError> {
    let (spin, nlev, bf) = (&plan.run.material.spin, plan.nlev, plan.bf);
    let n: Vec<f64> = y.rows(0, nlev).iter().copied().collect();
    let t_full = sys.hold.temperature_k(y);
    let right = sys.reduced.right_occupation(bf, t_full, &n);
    let u_now: f64 = n
        .iter()
        .enumerate()
        .map(|(i, p)| p * spin.energy_k(i, bf))
        .sum::<f64>()
        + y[nlev];
    // With a link: the heat that left stays as it is, and the work takes the rest of the
    // energy balance.
    let heat = if plan.link.is_some() {
        y[nlev + 2]
    } else {
        0.0
    };
    let work = u_now - plan.u0 + heat;
    let t_red = sys.reduced.temperature_k(bf, right, work - heat)?;
    let handover = Handover {
        t_s: t_now,
        t_full_k: t_full,
        t_reduced_k: t_red,
    };
    Ok((State::Reduced { right, work, heat }, handover))
}

/// The reduced relaxation at B_f from (P_R = `right`, w = `work`) at `t_now`, as a
/// quadrature ([`Relaxation`]): equilibrium and threshold times from its monotone path, the
/// samples at the output times. Returns the final state and its time.
pub(super) fn relaxation(
    plan: &Plan<'_>,
    sys: &Systems<'_>,
    prog: &mut Progress<'_>,
    after: &mut After,
    (right, work): (f64, f64),
    t_now: f64,
) -> Result<(State, f64), EngineError> {
    let opt = &plan.run.options;
    let (tq, bf, t_eq) = (plan.tq, plan.bf, after.t_eq);
    let red = &sys.reduced;
    let t_max = tq + opt.max_time_after_ramp_s;
    let p_star = red.well_state(bf, t_eq).right_eq;
    let rel = Relaxation::new(red, bf, work, right, p_star, t_now, t_max, opt.rtol)?;
    prog.quadrature_evals += rel.evaluations;
    let s_max = if rel.has_tail() {
        rel.s_at_time(t_max)
    } else {
        rel.s_at_time(rel.t_covered().min(t_max))
    };
    let eq_tol = opt.equilibrium_tol_k;
    let s_eq = rel.first_s(red, s_max, |p| {
        (p.t_k - t_eq).abs() <= eq_tol && (p.right - p_star).abs() <= EQUILIBRIUM_TOL_P
    })?;
    let t_end = match s_eq {
        Some(s) => {
            let t = rel.time_at_s(s);
            after.t_eq_reached = Some(t - tq);
            after.outcome = Outcome::Equilibrium;
            t.max(tq + plan.last_requested).min(t_max)
        }
        // The map's time at s_max is t_max up to rounding: never report past the limit.
        None => rel.time_at_s(s_max).min(t_max),
    };
    let dt0 = after.dt0();
    for (k, thr) in THRESHOLDS.iter().enumerate() {
        if after.relax[k].is_none() && dt0 > 0.0 {
            let level = thr * dt0;
            if let Some(s) = rel.first_s(red, s_max, |p| (p.t_k - t_eq).abs() <= level)? {
                after.relax[k] = Some(rel.time_at_s(s) - tq);
            }
        }
    }
    sample_relaxation(plan, red, prog, &rel, (right, work), p_star, t_end)?;
    let state = State::Reduced {
        right: rel.point(red, rel.s_at_time(t_end))?.right,
        work,
        heat: 0.0,
    };
    prog.table_nodes += rel.table_evaluations();
    Ok((state, t_end))
}

/// Record the relaxation at the output times up to `t_end`. Early on the relaxation has often
/// barely moved for many decades of time: while P_R stays within 1e-9 of its scale from an
/// exact evaluation, the populations are its first-order expansion in P_R (second-order term
/// below 1e-18 of the scale; slope from a difference over 1e-9 of the scale). Against exact
/// evaluations they differ by at most 2e-13 relative (the rounding of the temperature solve,
/// over the slope's step) in the benchmark runs.
fn sample_relaxation(
    plan: &Plan<'_>,
    red: &ReducedSystem<'_>,
    prog: &mut Progress<'_>,
    rel: &Relaxation,
    (right, work): (f64, f64),
    p_star: f64,
    t_end: f64,
) -> Result<(), EngineError> {
    let bf = plan.bf;
    let scale = (right - p_star).abs().max(p_star);
    // Every sample is at B_f: the level energies once, only what the populations use.
    let mut at_bf = red.field_populations(bf);
    let mut anchor: Option<(f64, Vec<f64>, Option<Vec<f64>>)> = None;
    while prog.out_idx < plan.outputs.len() && plan.outputs[prog.out_idx] <= t_end {
        let t = plan.outputs[prog.out_idx];
        let pt = rel.point(red, rel.s_at_time(t))?;
        let n = match &mut anchor {
            Some((p0, n0, slope)) if (pt.right - *p0).abs() <= 1e-9 * scale => {
                if slope.is_none() {
                    let dp = 1e-9 * scale * (p_star - *p0).signum();
                    let t1 = rel.temperature_at(red, *p0 + dp)?;
                    let n1 = red.populations_at_field(&mut at_bf, t1, *p0 + dp);
                    *slope = Some(
                        n1.iter()
                            .zip(n0.iter())
                            .map(|(a, b)| (a - b) / dp)
                            .collect(),
                    );
                }
                let d = pt.right - *p0;
                let slope = slope.as_deref().unwrap_or_default();
                n0.iter().zip(slope).map(|(a, b)| a + b * d).collect()
            }
            _ => {
                let n = red.populations_at_field(&mut at_bf, pt.t_k, pt.right);
                anchor = Some((pt.right, n.clone(), None));
                n
            }
        };
        prog.rec.push(t, bf, pt.t_k, n, [work, 0.0], Stage::Reduced);
        prog.out_idx += 1;
    }
    Ok(())
}

/// With a heat link, the reduced relaxation at B_f: the energy is no longer fixed, so the
/// state (P_R, w, q) is integrated by the solver ([`Driven::holding`], w constant) until
/// the sample is back at the bath (T within `equilibrium_tol_k` of T_bath and P_R within
/// [`EQUILIBRIUM_TOL_P`] of its equilibrium there) after the last requested sample, or the end.
///
/// Before the faster of its two time constants (1/lambda_1, C/K at the hand-over) only the
/// requested sample times are hard stops: the points of the logarithmic output grid there,
/// closer together than the natural steps, are read off the collocation polynomial of the
/// step that covers them (Radau IIA's continuous extension), so that the grid does not cut
/// the steps (docs/numerics.md, "Linked relaxation"). Later grid points are hard stops.
struct LinkedRelax<'s, 'p> {
    plan: &'s Plan<'p>,
    sys: &'s ReducedSystem<'p>,
    after: &'s mut After,
    /// P_R in equilibrium at (B_f, T_bath).
    p_star: f64,
    t_max: f64,
    prev_temp: f64,
    first_eq: Option<f64>,
    /// The requested sample times (since the start of the run), sorted: the hard stops.
    hard_stops: Vec<f64>,
    /// Grid points before this time (since the start of the run) come from the dense output.
    dense_before: f64,
    /// A failure to record a grid point inside a step, reported before the next step.
    failed: Option<EngineError>,
}

impl<'s, 'p> LinkedRelax<'s, 'p> {
    fn temp(sys: &ReducedSystem<'_>, bf: f64, y: &DVector<f64>) -> f64 {
        sys.temperature_k(bf, y[0], y[1] - y[2]).unwrap_or(f64::NAN)
    }
}

impl<'s, 'p> Integrated for LinkedRelax<'s, 'p> {
    type System = ReducedSystem<'p>;
    const LABEL: &'static str = "linked relaxation";
    const STAGE: Stage = Stage::Reduced;
    fn system(&self) -> &ReducedSystem<'p> {
        self.sys
    }
    fn end(&self) -> f64 {
        self.t_max
    }
    fn records_before(&self) -> f64 {
        f64::INFINITY
    }
    fn finished(
        &mut self,
        solver: &Radau5<NumericsError>,
        _prog: &mut Progress<'_>,
    ) -> Result<bool, EngineError> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        let opt = &self.plan.run.options;
        let tq = self.plan.tq;
        let y = solver.y();
        let temp = Self::temp(self.sys, self.plan.bf, y);
        let at_eq = (temp - self.after.t_eq).abs() <= opt.equilibrium_tol_k
            && (y[0] - self.p_star).abs() <= EQUILIBRIUM_TOL_P;
        if at_eq {
            self.first_eq.get_or_insert(solver.t() - tq);
        }
        if at_eq && solver.t() - tq >= self.plan.last_requested {
            self.after.outcome = Outcome::Equilibrium;
            return Ok(true);
        }
        Ok(solver.t() >= self.t_max)
    }
    fn stop(&self, t: f64, next_output: f64) -> f64 {
        if next_output >= self.dense_before {
            return next_output;
        }
        // The next requested sample, or the next output from the time grid points are hard
        // stops again, or the end.
        let next = self.hard_stops.partition_point(|&s| s <= t);
        let late = self
            .plan
            .outputs
            .partition_point(|&o| o < self.dense_before);
        let late = self.plan.outputs.get(late).copied().unwrap_or(self.t_max);
        self.hard_stops
            .get(next)
            .map_or(late, |&s| s.min(late))
            .min(self.t_max)
    }
    fn stepped(&mut self, solver: &Radau5<NumericsError>, prog: &mut Progress<'_>) {
        let (sys, bf) = (self.sys, self.plan.bf);
        // The grid points inside the step, from its collocation polynomial (one at its end
        // is recorded by the driver from the step's end state).
        while let Some(&o) = self.plan.outputs.get(prog.out_idx) {
            if o >= solver.t() || o >= self.dense_before || self.failed.is_some() {
                break;
            }
            if let Err(e) = self.record(&mut prog.rec, o, &solver.dense(o)) {
                self.failed = Some(e);
            }
            prog.out_idx += 1;
        }
        let temp = Self::temp(sys, bf, solver.y());
        prog.note_step(solver, self.prev_temp, temp, |y| Self::temp(sys, bf, y));
        self.after
            .detect_crossings(self.plan.tq, self.prev_temp, temp, solver, |y| {
                Self::temp(sys, bf, y)
            });
        self.prev_temp = temp;
    }
    fn temperature_k(&self, _t: f64, y: &DVector<f64>) -> f64 {
        Self::temp(self.sys, self.plan.bf, y)
    }
    fn record(&self, rec: &mut Recorder<'_>, t: f64, y: &DVector<f64>) -> Result<(), EngineError> {
        let bf = self.plan.bf;
        rec.push_reduced(self.sys, t, bf, bf, y[0], [y[1], y[2]])?;
        Ok(())
    }
}

/// The requested sample times after the ramp (since the start of the run) up to `t_max`,
/// sorted: hard stops of the stages after the ramp.
fn requested_stops(plan: &Plan<'_>, t_max: f64) -> Vec<f64> {
    let mut stops: Vec<f64> = plan
        .run
        .options
        .sample_times_after_ramp_s
        .iter()
        .map(|&s| plan.tq + s)
        .filter(|&t| t <= t_max)
        .collect();
    stops.sort_by(f64::total_cmp);
    stops
}

/// The linked relaxation ([`LinkedRelax`]) from (P_R, w, q) = `from` at `t_now`. Returns the
/// final state and its time.
pub(super) fn linked_relaxation(
    plan: &Plan<'_>,
    sys: &Systems<'_>,
    prog: &mut Progress<'_>,
    after: &mut After,
    from: [f64; 3],
    t_now: f64,
) -> Result<(State, f64), EngineError> {
    let (Some(red), Some(link)) = (sys.linked_hold.as_ref(), plan.link) else {
        return Err(ParameterError::new(
            "link_conductance_w_per_k",
            f64::NAN,
            "the linked relaxation needs a heat link",
        )
        .into());
    };
    let opt = &plan.run.options;
    let (tq, bf) = (plan.tq, plan.bf);
    let t_max = tq + opt.max_time_after_ramp_s;
    let temp0 = red.temperature_k(bf, from[0], from[1] - from[2])?;
    // Equilibrium at the bath, or with the switch open at the energy's own temperature.
    let p_star = red.well_state(bf, after.t_eq).right_eq;
    // First step: a thousandth of the faster of the spins' and the link's time constants.
    let (_, lambda) = red.well_state_and_rate(bf, temp0)?;
    let link_rate = link.conductance_per_s(temp0) / plan.run.material.debye.heat_capacity(temp0);
    let h0 = 1e-3 / lambda.max(link_rate).max(1e-300);
    let mut solver = Radau5::new(
        red,
        t_now,
        DVector::from_vec(from.to_vec()),
        h0.min(opt.max_time_after_ramp_s),
        plan.tol_reduced.clone(),
    );
    let mut stage = LinkedRelax {
        plan,
        sys: red,
        prev_temp: temp0,
        after,
        p_star,
        t_max,
        first_eq: None,
        hard_stops: requested_stops(plan, t_max),
        failed: None,
        dense_before: t_now + 1e3 * h0,
    };
    drive(plan, &mut stage, &mut solver, prog)?;
    let first_eq = stage.first_eq;
    if after.outcome == Outcome::Equilibrium {
        after.t_eq_reached = first_eq;
    }
    let y = solver.y();
    Ok((
        State::Reduced {
            right: y[0],
            work: y[1],
            heat: y[2],
        },
        solver.t(),
    ))
}
