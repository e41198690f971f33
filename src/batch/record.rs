//! What one run of a batch produces: its parameters, summary, status and (optionally) its
//! trajectory. These records are what the HDF5 writer stores and the reader gives back.

use crate::kinetics::{Stage, Trajectory};
use serde::{Deserialize, Serialize};

/// Whether a run succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// The run reached equilibrium or its end time.
    Ok,
    /// The engine failed; see the error text.
    Failed,
}

pub use crate::scenario::RunParams;

/// The summary row of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct RunSummary {
    /// Sudden-quench final temperature (Eq. 9), K.
    pub t_final_sudden_k: Option<f64>,
    /// Isentropic final temperature (Eq. 11), K (`None` where no finite solution exists).
    pub t_final_isentropic_k: Option<f64>,
    /// Temperature right after the ramp, K.
    pub t_after_ramp_k: Option<f64>,
    /// Equilibrium temperature for the energy after the ramp, K.
    pub t_equilibrium_k: Option<f64>,
    /// Temperature where the run stopped, K.
    pub t_final_k: Option<f64>,
    /// Time after the ramp when equilibrium was reached, s (`None` if not reached).
    pub equilibrium_after_ramp_s: Option<f64>,
    /// Time after the ramp when 10 % of Delta T was left, s.
    pub relax_10pct_s: Option<f64>,
    /// Time after the ramp when 1 % of Delta T was left, s.
    pub relax_1pct_s: Option<f64>,
    /// Phonon temperature at each configured sample time after the ramp, K.
    pub t_samples_k: Vec<Option<f64>>,
    /// Relative energy-balance error.
    pub energy_balance_error: Option<f64>,
    /// Order of the two-well reduction's relative error.
    pub reduction_error_estimate: Option<f64>,
    /// Accepted integrator steps.
    pub steps: u64,
    /// Wall time of the run, s.
    pub wall_time_s: f64,
}

/// A trajectory in column form, one entry per output sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TrajectoryColumns {
    /// Time since the start of the ramp, s.
    pub time_s: Vec<f64>,
    /// Field, T.
    pub field_t: Vec<f64>,
    /// Phonon temperature, K.
    pub t_phonon_k: Vec<f64>,
    /// Level populations, one row per sample, M = -S..S.
    pub populations: Vec<Vec<f64>>,
    /// Magnetization g <M>, mu_B per molecule.
    pub magnetization_mu_b: Vec<f64>,
    /// Spin energy, K per molecule.
    pub spin_energy_k: Vec<f64>,
    /// Phonon energy, K per molecule.
    pub phonon_energy_k: Vec<f64>,
    /// Magnetic work since t = 0, K per molecule.
    pub work_k: Vec<f64>,
    /// Spin entropy, k_B per molecule.
    pub spin_entropy_kb: Vec<f64>,
    /// Phonon entropy, k_B per molecule.
    pub phonon_entropy_kb: Vec<f64>,
    /// Formulation: 0 full master equation, 1 two-well reduction.
    pub stage: Vec<u8>,
}

impl TrajectoryColumns {
    /// Columns of a computed trajectory.
    pub fn from_trajectory(tr: &Trajectory) -> Self {
        let mut c = Self::default();
        for s in &tr.samples {
            c.time_s.push(s.t_s);
            c.field_t.push(s.field_t);
            c.t_phonon_k.push(s.t_phonon_k);
            c.populations.push(s.populations.clone());
            c.magnetization_mu_b.push(s.magnetization_mu_b);
            c.spin_energy_k.push(s.spin_energy_k);
            c.phonon_energy_k.push(s.phonon_energy_k);
            c.work_k.push(s.work_k);
            c.spin_entropy_kb.push(s.spin_entropy);
            c.phonon_entropy_kb.push(s.phonon_entropy);
            c.stage.push(match s.stage {
                Stage::Full => 0,
                Stage::Reduced => 1,
            });
        }
        c
    }
}

/// Everything one run produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Parameters.
    pub params: RunParams,
    /// Ok or failed.
    pub status: RunStatus,
    /// Error text of a failed run.
    pub error: Option<String>,
    /// Summary values.
    pub summary: RunSummary,
    /// The trajectory, when the output section asks for it.
    pub trajectory: Option<TrajectoryColumns>,
}

impl RunRecord {
    /// The record of a finished run. `sample_times` are the configured times after the ramp.
    pub fn from_result(
        params: RunParams,
        result: Result<Trajectory, String>,
        sample_times: &[f64],
        keep_trajectory: bool,
        wall_time_s: f64,
        limits: (Option<f64>, Option<f64>),
    ) -> Self {
        match result {
            Ok(tr) => Self {
                params,
                status: RunStatus::Ok,
                error: None,
                summary: RunSummary {
                    t_final_sudden_k: Some(tr.t_final_sudden_k),
                    t_final_isentropic_k: tr.t_final_isentropic_k,
                    t_after_ramp_k: Some(tr.t_after_ramp_k),
                    t_equilibrium_k: Some(tr.t_equilibrium_k),
                    t_final_k: Some(tr.t_final_k),
                    equilibrium_after_ramp_s: tr.equilibrium_after_ramp_s,
                    relax_10pct_s: tr.relax_10pct_s,
                    relax_1pct_s: tr.relax_1pct_s,
                    t_samples_k: sample_times
                        .iter()
                        .map(|&s| tr.sample_after_ramp(s).map(|x| x.t_phonon_k))
                        .collect(),
                    energy_balance_error: Some(tr.energy_balance_error),
                    reduction_error_estimate: Some(tr.reduction_error_estimate),
                    steps: tr.stats.steps as u64,
                    wall_time_s,
                },
                trajectory: keep_trajectory.then(|| TrajectoryColumns::from_trajectory(&tr)),
            },
            Err(e) => Self {
                params,
                status: RunStatus::Failed,
                error: Some(e),
                summary: RunSummary {
                    t_final_sudden_k: limits.0,
                    t_final_isentropic_k: limits.1,
                    t_samples_k: vec![None; sample_times.len()],
                    wall_time_s,
                    ..Default::default()
                },
                trajectory: None,
            },
        }
    }
}

/// Provenance and identity of a batch file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchMeta {
    /// smmcool version that wrote the file.
    pub smmcool_version: String,
    /// Git revision of the build ("unknown" outside a checkout).
    pub git_revision: String,
    /// The configuration file's text, verbatim.
    pub config_toml: String,
    /// Number of runs in the whole batch (all shards).
    pub n_runs_total: usize,
    /// Shard of this file, as (index, count); (0, 1) for an unsharded run.
    pub shard: (usize, usize),
    /// Swept keys, in sweep order.
    pub swept_keys: Vec<String>,
    /// Sample times after the ramp, s (the columns of the sampled temperatures).
    pub sample_times_after_ramp_s: Vec<f64>,
    /// Relative tolerance used.
    pub rtol: f64,
    /// Equilibrium tolerance used, K.
    pub equilibrium_tol_k: f64,
    /// Wall time of the batch (sum over the shards merged), s.
    pub wall_time_s: f64,
    /// Creation time, seconds since the Unix epoch.
    pub created_unix_s: u64,
}
