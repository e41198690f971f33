//! Sampling: the output grid, the observables of a sample, and the invariants checked over the
//! samples of a run.

use super::reduced::{ReducedSystem, Wells};
use super::{EngineOptions, RunSpec, Sample, Stage};
use crate::error::NumericsError;
use crate::model::protocol::Protocol;
use crate::model::thermo::entropy_of;
use nalgebra::DVector;

/// The output times since the start of the ramp (the ramp grid, then the times after the ramp
/// in increasing order) and the last explicitly requested time after the ramp, s. A kept ramp
/// grid (more than one point) of a waveform holds its corners too; a segmented protocol's
/// grid always holds the ends of its segments (the per-segment report reads them).
pub(super) fn output_times(opt: &EngineOptions, tq: f64, protocol: &Protocol) -> (Vec<f64>, f64) {
    let waveform = protocol.waveform();
    let mut outputs: Vec<f64> = Vec::new();
    if tq > 0.0 {
        let k = opt.ramp_points.max(1);
        outputs.extend((1..k).map(|i| tq * i as f64 / k as f64));
        if let Some(w) = waveform.filter(|_| k > 1) {
            let corners = w.time_s();
            outputs.extend(&corners[1..corners.len() - 1]);
        }
        if let Some(seg) = protocol.segments() {
            outputs.extend(seg.list().iter().map(|s| s.end_s).filter(|&t| t < tq));
        }
        outputs.sort_by(f64::total_cmp);
        outputs.dedup();
    }
    let mut after: Vec<f64> = opt.sample_times_after_ramp_s.clone();
    if opt.log_points_per_decade > 0 {
        let ppd = f64::from(opt.log_points_per_decade);
        let lo = opt.log_grid_start_s.log10();
        let hi = opt.max_time_after_ramp_s.log10();
        let count = ((hi - lo) * ppd).floor() as i64;
        // A grid time closer to the end of the ramp than 64 ulp of t_q cannot be told apart
        // from it in double precision, nor stepped to by an integrator (a long segmented
        // protocol ends at t_q ~ 1e3 s, where 1e-12 s is 2 ulp): such grid points are left out.
        let resolved = 64.0 * f64::EPSILON * tq;
        after.extend(
            (0..=count)
                .map(|k| 10f64.powf(lo + k as f64 / ppd))
                .filter(|&s| s >= resolved),
        );
    }
    after.retain(|&s| s > 0.0 && s <= opt.max_time_after_ramp_s);
    after.sort_by(f64::total_cmp);
    after.dedup();
    outputs.extend(after.iter().map(|s| tq + s));
    let last_requested = opt
        .sample_times_after_ramp_s
        .iter()
        .copied()
        .filter(|&s| s <= opt.max_time_after_ramp_s)
        .fold(0.0, f64::max);
    (outputs, last_requested)
}

/// The samples of a run, in time order.
pub(super) struct Recorder<'r> {
    run: &'r RunSpec,
    wells: Wells,
    /// The samples so far.
    pub samples: Vec<Sample>,
}

impl<'r> Recorder<'r> {
    /// An empty record; `wells` splits the populations into the two wells.
    pub fn new(run: &'r RunSpec, wells: Wells) -> Self {
        Self {
            run,
            wells,
            samples: Vec::new(),
        }
    }

    /// Append the sample of populations `n` at temperature `temp` (K), field `field_t` (T),
    /// work and heat to the bath `[work, heat]` (K) at time `t_s`.
    pub fn push(
        &mut self,
        t_s: f64,
        field_t: f64,
        temp: f64,
        n: Vec<f64>,
        [work, heat]: [f64; 2],
        stage: Stage,
    ) {
        let spin = &self.run.material.spin;
        let debye = &self.run.material.debye;
        let mean_m: f64 = n.iter().enumerate().map(|(i, p)| p * spin.m(i)).sum();
        let spin_energy: f64 = n
            .iter()
            .enumerate()
            .map(|(i, p)| p * spin.energy_k(i, field_t))
            .sum();
        self.samples.push(Sample {
            t_s,
            field_t,
            t_phonon_k: temp,
            right_well: self.wells.right_occupation(&n),
            mean_m,
            // The physical moment: H has +g mu_B B Sz, so mu_z = -g mu_B <Sz>.
            magnetization_mu_b: -spin.g_par() * mean_m,
            spin_energy_k: spin_energy,
            phonon_energy_k: debye.energy_k(temp),
            work_k: work,
            heat_to_bath_k: heat,
            // At a switching time, the flow after the switch.
            heat_flow_to_bath_k_per_s: self
                .run
                .link
                .filter(|_| {
                    let p = &self.run.protocol;
                    p.link_closed(t_s, t_s >= p.duration_s(), None)
                })
                .map_or(0.0, |l| l.heat_flow_k_per_s(temp)),
            spin_entropy: entropy_of(&n),
            phonon_entropy: debye.entropy(temp),
            populations: n,
            stage,
        });
    }

    /// Sample a full state y = [n, U_ph, w] at temperature `temp`.
    pub fn push_full(&mut self, t_s: f64, field_t: f64, temp: f64, y: &DVector<f64>) {
        let nlev = self.run.material.spin.n_levels();
        let n = y.rows(0, nlev).iter().copied().collect();
        let heat = if y.len() > nlev + 2 { y[nlev + 2] } else { 0.0 };
        self.push(t_s, field_t, temp, n, [y[nlev + 1], heat], Stage::Full);
    }

    /// Sample a reduced state (P_R, w, q) at field `field_t`, its temperature solved at
    /// `solve_field_t` (the protocol's field at `t_s`; equal to `field_t` except at the end of
    /// a ramp, where the protocol's B(t_q) may differ from B_f in the last bit).
    #[allow(clippy::too_many_arguments)]
    pub fn push_reduced(
        &mut self,
        red: &ReducedSystem<'_>,
        t_s: f64,
        field_t: f64,
        solve_field_t: f64,
        right: f64,
        [work, heat]: [f64; 2],
    ) -> Result<f64, NumericsError> {
        let temp = red.temperature_k(solve_field_t, right, work - heat)?;
        let n = red.populations(field_t, temp, right);
        self.push(t_s, field_t, temp, n, [work, heat], Stage::Reduced);
        Ok(temp)
    }
}

/// The conservation and positivity checks over a run's samples.
pub(super) struct Invariants {
    /// Largest |U_spin + U_ph - U_0 - work + heat to the bath|, K.
    pub energy_abs_k: f64,
    /// The same relative to |U_0| + |work| + |heat|.
    pub energy_rel: f64,
    /// Largest |sum n - 1|.
    pub population_sum: f64,
    /// Most negative population.
    pub min_population: f64,
    /// Largest decrease of the total entropy between samples at or after `tq`, k_B.
    pub entropy_decrease: f64,
}

impl Invariants {
    /// Check `samples` against the initial total energy `u0` (K); the second law is checked
    /// from the end of the ramp `tq` on.
    pub fn over(samples: &[Sample], u0: f64, tq: f64) -> Self {
        let mut out = Self {
            energy_abs_k: 0.0,
            energy_rel: 0.0,
            population_sum: 0.0,
            min_population: f64::INFINITY,
            entropy_decrease: 0.0,
        };
        let mut s_prev: Option<f64> = None;
        for s in samples {
            let err =
                (s.spin_energy_k + s.phonon_energy_k - u0 - s.work_k + s.heat_to_bath_k).abs();
            out.energy_abs_k = out.energy_abs_k.max(err);
            out.energy_rel = out
                .energy_rel
                .max(err / (u0.abs() + s.work_k.abs() + s.heat_to_bath_k.abs()));
            out.population_sum = out
                .population_sum
                .max((s.populations.iter().sum::<f64>() - 1.0).abs());
            out.min_population = out
                .min_population
                .min(s.populations.iter().copied().fold(f64::INFINITY, f64::min));
            if s.t_s >= tq {
                let st = s.spin_entropy + s.phonon_entropy;
                if let Some(p) = s_prev {
                    out.entropy_decrease = out.entropy_decrease.max(p - st);
                }
                s_prev = Some(st);
            }
        }
        out
    }
}
