//! What a run produces and how every output names it.
//!
//! [`RunRecord`] is one run's parameters, status, summary and (optionally) trajectory: what a
//! batch stores and reads back and what `simulate` prints. [`SUMMARY`] and [`TRAJECTORY`] are
//! the one table of output quantities: each with its name (unit in the name), its unit and its
//! accessor. The HDF5 writer and reader, the JSON of `simulate` and `inspect`, and the format
//! documentation all take names and units from these tables, so a column cannot be swapped,
//! renamed in one place only, or stored without its unit.

use crate::kinetics::{CycleReport, Outcome, SegmentReport, Stage, Trajectory};
pub use crate::scenario::RunParams;
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

/// How a run ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// Equilibrium reached (|T - T_eq| within the equilibrium tolerance).
    Equilibrium,
    /// The end time came first: the run stopped out of equilibrium.
    EndTime,
    /// The engine failed.
    #[default]
    Failed,
}

/// Labels of the outcome codes, in code order.
pub const OUTCOME_LABELS: [&str; 3] = ["equilibrium", "end_time", "failed"];

impl RunOutcome {
    /// The code stored in HDF5 (an index into [`OUTCOME_LABELS`]).
    pub fn code(self) -> usize {
        self as usize
    }

    /// The outcome of a code, if it is one.
    pub fn from_code(code: usize) -> Option<Self> {
        [Self::Equilibrium, Self::EndTime, Self::Failed]
            .get(code)
            .copied()
    }
}

/// The summary row of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct RunSummary {
    /// Sudden-quench final temperature (Eq. 9), K.
    pub sudden_final_temperature_k: Option<f64>,
    /// Isentropic final temperature (Eq. 11), K (`None` where no finite solution exists).
    pub isentropic_final_temperature_k: Option<f64>,
    /// Temperature right after the ramp, K.
    pub temperature_after_ramp_k: Option<f64>,
    /// Equilibrium temperature for the energy after the ramp, K.
    pub equilibrium_temperature_k: Option<f64>,
    /// Temperature where the run stopped, K.
    pub end_temperature_k: Option<f64>,
    /// How the run ended.
    pub outcome: RunOutcome,
    /// Time after the ramp when the run stopped, s.
    pub end_after_ramp_s: Option<f64>,
    /// Time after the ramp when equilibrium was reached, s (`None` if not reached).
    pub equilibrium_after_ramp_s: Option<f64>,
    /// Time after the ramp when 10 % of Delta T was left, s.
    pub relaxation_10pct_after_ramp_s: Option<f64>,
    /// Time after the ramp when 1 % of Delta T was left, s.
    pub relaxation_1pct_after_ramp_s: Option<f64>,
    /// Phonon temperature at each configured sample time after the ramp, K.
    pub sample_temperatures_k: Vec<Option<f64>>,
    /// Relative energy-balance error.
    pub energy_balance_error_rel: Option<f64>,
    /// Estimated error of the two-well reduction relative to the run's temperature change.
    pub reduction_error_estimate_rel: Option<f64>,
    /// How the ramp was integrated: `jump`, `full`, `reduced` or `switched_to_full`
    /// ([`crate::kinetics::RampFormulation`]); none for a failed run.
    #[serde(default)]
    pub ramp_formulation: Option<String>,
    /// Lowest phonon temperature after the ramp, K.
    pub minimum_temperature_k: Option<f64>,
    /// Time after the ramp when it was reached, s.
    pub minimum_after_ramp_s: Option<f64>,
    /// Heat that left to the bath through the link by the end of the run, K per molecule (0
    /// without a link).
    pub end_heat_to_bath_k: Option<f64>,
    /// Of a segmented protocol: each segment's report (empty otherwise).
    #[serde(default)]
    pub segment_reports: Vec<SegmentReport>,
    /// Of a segmented protocol: each cycle's report (empty otherwise).
    #[serde(default)]
    pub cycle_reports: Vec<CycleReport>,
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
    /// Time since the end of the ramp, s (negative during the ramp).
    pub time_after_ramp_s: Vec<f64>,
    /// Field, T.
    pub field_t: Vec<f64>,
    /// Phonon temperature, K.
    pub phonon_temperature_k: Vec<f64>,
    /// Level populations, one row per sample, M = -S..S.
    pub populations: Vec<Vec<f64>>,
    /// Magnetic moment along the field axis, -g_par <M>, mu_B per molecule.
    pub magnetization_mu_b: Vec<f64>,
    /// The same moment per mole of molecules, N_A mu_B times `magnetization_mu_b`, A m^2/mol
    /// (times 1e3 for emu/mol).
    pub magnetization_am2_per_mol: Vec<f64>,
    /// Spin energy, K per molecule.
    pub spin_energy_k: Vec<f64>,
    /// Phonon energy, K per molecule.
    pub phonon_energy_k: Vec<f64>,
    /// Magnetic work since t = 0, K per molecule.
    pub magnetic_work_k: Vec<f64>,
    /// Heat that has left to the bath since t = 0, K per molecule.
    pub heat_to_bath_k: Vec<f64>,
    /// Heat flow to the bath, K/s per molecule.
    pub heat_flow_to_bath_k_per_s: Vec<f64>,
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
            c.time_after_ramp_s.push(s.t_s - tr.ramp_duration_s);
            c.field_t.push(s.field_t);
            c.phonon_temperature_k.push(s.t_phonon_k);
            c.populations.push(s.populations.clone());
            c.magnetization_mu_b.push(s.magnetization_mu_b);
            c.magnetization_am2_per_mol
                .push(s.magnetization_mu_b * crate::units::molar_mu_b_am2_per_mol());
            c.spin_energy_k.push(s.spin_energy_k);
            c.phonon_energy_k.push(s.phonon_energy_k);
            c.magnetic_work_k.push(s.work_k);
            c.heat_to_bath_k.push(s.heat_to_bath_k);
            c.heat_flow_to_bath_k_per_s
                .push(s.heat_flow_to_bath_k_per_s);
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
                    sudden_final_temperature_k: Some(tr.t_final_sudden_k),
                    isentropic_final_temperature_k: tr.t_final_isentropic_k,
                    temperature_after_ramp_k: Some(tr.t_after_ramp_k),
                    equilibrium_temperature_k: Some(tr.t_equilibrium_k),
                    end_temperature_k: Some(tr.t_final_k),
                    outcome: match tr.outcome {
                        Outcome::Equilibrium => RunOutcome::Equilibrium,
                        Outcome::EndTime => RunOutcome::EndTime,
                    },
                    end_after_ramp_s: Some(tr.t_end_after_ramp_s),
                    equilibrium_after_ramp_s: tr.equilibrium_after_ramp_s,
                    relaxation_10pct_after_ramp_s: tr.relax_10pct_s,
                    relaxation_1pct_after_ramp_s: tr.relax_1pct_s,
                    sample_temperatures_k: sample_times
                        .iter()
                        .map(|&s| tr.sample_after_ramp(s).map(|x| x.t_phonon_k))
                        .collect(),
                    energy_balance_error_rel: Some(tr.energy_balance_error),
                    reduction_error_estimate_rel: Some(tr.reduction_error_estimate),
                    ramp_formulation: Some(tr.ramp_formulation.name().to_string()),
                    minimum_temperature_k: Some(tr.minimum_temperature_k),
                    minimum_after_ramp_s: Some(tr.minimum_after_ramp_s),
                    end_heat_to_bath_k: Some(tr.heat_to_bath_k),
                    segment_reports: tr.segments.clone(),
                    cycle_reports: tr.cycles.clone(),
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
                    sudden_final_temperature_k: limits.0,
                    isentropic_final_temperature_k: limits.1,
                    sample_temperatures_k: vec![None; sample_times.len()],
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
    /// The command line of the process that wrote the file ("" when a version 2 file is read).
    pub command_line: String,
    /// The resolved physics of the batch's run 0 (`None` when run 0 is invalid or a version 2
    /// file is read); a swept key changes its value per run.
    pub physics: Option<PhysicsMeta>,
}

/// The resolved physics of a run: the numbers the engine used, not only the preset's name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhysicsMeta {
    /// Material name (preset key or "custom").
    pub material: String,
    /// Spin S (the file attribute and JSON key `spin`, as the config key `material.spin`; files
    /// of format version 3 and earlier JSON called it `spin_s`).
    #[serde(alias = "spin_s")]
    pub spin: f64,
    /// Zero-field splitting D, K.
    pub d_k: f64,
    /// Parallel g factor of the material (as given: with a misalignment the levels use
    /// g_par cos(theta); files written before `misalignment_deg` was recorded hold
    /// g_par cos(theta) here).
    pub g_par: f64,
    /// The spin Hamiltonian beyond D (docs/physics.md section 10.1), each `None` only when
    /// read from a file written before it was recorded: fourth-order axial B4, K.
    #[serde(default)]
    pub b4_k: Option<f64>,
    /// Fourth-order transverse C, K.
    #[serde(default)]
    pub c4_k: Option<f64>,
    /// Rhombic E, K.
    #[serde(default)]
    pub e_k: Option<f64>,
    /// Fixed transverse field Bx, T (0 with a misalignment).
    #[serde(default)]
    pub transverse_field_t: Option<f64>,
    /// Angle between the easy axis and the applied field, degrees (0: aligned).
    #[serde(default)]
    pub misalignment_deg: Option<f64>,
    /// Debye temperature, K.
    pub debye_temperature_k: f64,
    /// Oscillating Debye units per molecule.
    pub phonon_units: f64,
    /// Arrhenius prefactor tau0, s.
    pub tau0_s: f64,
    /// Arrhenius barrier U_b, K.
    pub barrier_k: f64,
    /// kappa(T) scaling: "arrhenius", "constant" or "absolute".
    pub kappa_scaling: String,
    /// Calibration temperature of the constant scaling, K.
    pub kappa_reference_k: Option<f64>,
    /// kappa of the absolute scaling, 1/(s K^3).
    pub kappa_per_s_k3: Option<f64>,
    /// Which rates the calibration of kappa(T) matches to the Arrhenius law:
    /// "without_tunnelling" or "with_tunnelling" (`rates.kappa_calibration`).
    #[serde(default = "default_kappa_calibration")]
    pub kappa_calibration: String,
    /// The sample and its environment as given (SI, whole sample; docs/physics.md section
    /// 6.6), each `None` when not given: amount, mol.
    #[serde(default)]
    pub sample_amount_mol: Option<f64>,
    /// Sample mass, mg.
    #[serde(default)]
    pub sample_mass_mg: Option<f64>,
    /// Addenda heat capacity gamma T + beta T^3: gamma, J/K^2.
    #[serde(default)]
    pub addenda_gamma_j_per_k2: Option<f64>,
    /// Addenda beta, J/K^4.
    #[serde(default)]
    pub addenda_beta_j_per_k4: Option<f64>,
    /// Heat link K(T) = K1 (T / 1 K)^n: K1, W/K (only with a link).
    #[serde(default)]
    pub link_conductance_w_per_k: Option<f64>,
    /// Link exponent n (resolved, only with a link).
    #[serde(default)]
    pub link_exponent: Option<f64>,
    /// Bath temperature, K (resolved: T_i when not given; only with a link).
    #[serde(default)]
    pub bath_temperature_k: Option<f64>,
}

fn default_kappa_calibration() -> String {
    crate::rates::KappaCalibration::WithoutTunnelling
        .name()
        .into()
}

impl PhysicsMeta {
    /// The physics of a run specification.
    pub fn of(spec: &crate::kinetics::RunSpec) -> Self {
        use crate::rates::KappaScaling;
        let m = &spec.material;
        let (kappa_scaling, kappa_reference_k, kappa_per_s_k3) = match spec.scaling {
            KappaScaling::Arrhenius => ("arrhenius", None, None),
            KappaScaling::Constant { reference_k } => ("constant", Some(reference_k), None),
            KappaScaling::Absolute { kappa_per_s_k3 } => ("absolute", None, Some(kappa_per_s_k3)),
        };
        let h = m.hamiltonian.record();
        Self {
            material: m.name.clone(),
            spin: m.spin.spin(),
            d_k: m.spin.d_k(),
            g_par: h.g_par,
            b4_k: Some(h.b4_k),
            c4_k: Some(h.c4_k),
            e_k: Some(h.e_k),
            transverse_field_t: Some(h.transverse_field_t),
            misalignment_deg: Some(h.misalignment_deg),
            debye_temperature_k: m.debye.theta_k(),
            phonon_units: m.debye.units(),
            tau0_s: m.arrhenius.tau0_s,
            barrier_k: m.arrhenius.barrier_k,
            kappa_scaling: kappa_scaling.into(),
            kappa_reference_k,
            kappa_per_s_k3,
            kappa_calibration: spec.kappa_calibration.name().into(),
            sample_amount_mol: None,
            sample_mass_mg: None,
            addenda_gamma_j_per_k2: None,
            addenda_beta_j_per_k4: None,
            link_conductance_w_per_k: None,
            link_exponent: None,
            bath_temperature_k: None,
        }
    }

    /// The physics of `spec`, built from `scenario`, with its sample, addenda and link as
    /// given in SI and the link's resolved exponent and bath temperature.
    pub fn of_scenario(scenario: &crate::Scenario, spec: &crate::kinetics::RunSpec) -> Self {
        let (s, l) = (&scenario.sample, &scenario.link);
        let link = spec.link.as_ref();
        Self {
            sample_amount_mol: s.amount_mol,
            sample_mass_mg: s.mass_mg,
            addenda_gamma_j_per_k2: s.addenda_gamma_j_per_k2,
            addenda_beta_j_per_k4: s.addenda_beta_j_per_k4,
            link_conductance_w_per_k: link.and(l.conductance_w_per_k),
            link_exponent: link.map(|k| k.exponent()),
            bath_temperature_k: link.map(|k| k.bath_k()),
            ..Self::of(spec)
        }
    }

    /// The Hamiltonian beyond D, by attribute name (`None`: a file written before they were
    /// recorded).
    pub fn hamiltonian(&self) -> [(&'static str, Option<f64>); 5] {
        [
            ("b4_k", self.b4_k),
            ("c4_k", self.c4_k),
            ("e_k", self.e_k),
            ("transverse_field_t", self.transverse_field_t),
            ("misalignment_deg", self.misalignment_deg),
        ]
    }

    /// The sample and link numbers, by attribute name (`None`: not given).
    pub fn environment(&self) -> [(&'static str, Option<f64>); 7] {
        [
            ("sample_amount_mol", self.sample_amount_mol),
            ("sample_mass_mg", self.sample_mass_mg),
            ("addenda_gamma_j_per_k2", self.addenda_gamma_j_per_k2),
            ("addenda_beta_j_per_k4", self.addenda_beta_j_per_k4),
            ("link_conductance_w_per_k", self.link_conductance_w_per_k),
            ("link_exponent", self.link_exponent),
            ("bath_temperature_k", self.bath_temperature_k),
        ]
    }
}

/// How a summary quantity is read from and written to a [`RunRecord`].
#[derive(Clone, Copy)]
pub enum Access {
    /// A number; `None` (not computed) is stored as NaN in HDF5 and null in JSON.
    F64(
        fn(&RunRecord) -> Option<f64>,
        fn(&mut RunRecord, Option<f64>),
    ),
    /// A count.
    U64(fn(&RunRecord) -> u64, fn(&mut RunRecord, u64)),
    /// Text; `None` is stored as an empty string in HDF5 and null in JSON.
    Text(
        fn(&RunRecord) -> Option<String>,
        fn(&mut RunRecord, Option<String>),
    ),
    /// A code: HDF5 stores the integer (with the labels as its `values` attribute), JSON
    /// the label. The setter refuses a code outside the labels.
    Code(
        fn(&RunRecord) -> usize,
        fn(&mut RunRecord, usize) -> bool,
        &'static [&'static str],
    ),
    /// The values of the swept keys, one column per key.
    Swept,
    /// The phonon temperature at each sample time after the ramp: one row per run, one column
    /// per sample time.
    Samples,
}

/// One output quantity: its name, unit and description, and how it is read and written
/// (`A`: [`Access`] for the summary, [`TrajectoryAccess`] for a trajectory).
#[derive(Clone, Copy)]
pub struct Quantity<A = Access> {
    /// Name in HDF5, JSON and the docs (unit in the name).
    pub name: &'static str,
    /// Unit (`"K"`, `"T"`, `"s"`, `"T/s"`, `"1"` for numbers without a unit and codes).
    pub unit: &'static str,
    /// What it is.
    pub description: &'static str,
    /// How it is read and written.
    pub access: A,
}

impl<A> std::fmt::Debug for Quantity<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name, self.unit)
    }
}

/// Labels of the status codes, in code order.
pub const STATUS_LABELS: [&str; 2] = ["ok", "failed"];

impl RunStatus {
    /// The code stored in HDF5 (an index into [`STATUS_LABELS`]).
    pub fn code(self) -> usize {
        match self {
            Self::Ok => 0,
            Self::Failed => 1,
        }
    }

    /// The status of a code, if it is one.
    pub fn from_code(code: usize) -> Option<Self> {
        match code {
            0 => Some(Self::Ok),
            1 => Some(Self::Failed),
            _ => None,
        }
    }
}

macro_rules! param {
    ($name:literal, $unit:literal, $desc:literal, $field:ident) => {
        Quantity {
            name: $name,
            unit: $unit,
            description: $desc,
            access: Access::F64(
                |r| Some(r.params.$field),
                |r, v| r.params.$field = v.unwrap_or(f64::NAN),
            ),
        }
    };
}

macro_rules! summary {
    ($name:literal, $unit:literal, $desc:literal, $field:ident) => {
        Quantity {
            name: $name,
            unit: $unit,
            description: $desc,
            access: Access::F64(|r| r.summary.$field, |r, v| r.summary.$field = v),
        }
    };
}

/// The summary of a run: every quantity, in the order of the outputs.
pub const SUMMARY: &[Quantity] = &[
    Quantity {
        name: "run_index",
        unit: "1",
        description: "run index in the batch (the deterministic sweep order)",
        access: Access::U64(|r| r.params.index as u64, |r, v| r.params.index = v as usize),
    },
    Quantity {
        name: "status",
        unit: "1",
        description: "ok, or failed (the engine's error is in `error`)",
        access: Access::Code(
            |r| r.status.code(),
            |r, c| RunStatus::from_code(c).map(|v| r.status = v).is_some(),
            &STATUS_LABELS,
        ),
    },
    Quantity {
        name: "outcome",
        unit: "1",
        description: "equilibrium (reached within the tolerance), end_time (stopped at the end time, out of equilibrium) or failed",
        access: Access::Code(
            |r| r.summary.outcome.code(),
            |r, c| RunOutcome::from_code(c).map(|v| r.summary.outcome = v).is_some(),
            &OUTCOME_LABELS,
        ),
    },
    Quantity {
        name: "error",
        unit: "",
        description: "the error of a failed run",
        access: Access::Text(|r| r.error.clone(), |r, v| r.error = v),
    },
    Quantity {
        name: "swept",
        unit: "",
        description: "the value of each swept key (unit from the key's suffix)",
        access: Access::Swept,
    },
    param!("b_initial_t", "T", "initial field", b_initial_t),
    param!("b_final_t", "T", "final field", b_final_t),
    param!("initial_temperature_k", "K", "initial temperature (equilibrium at the initial field)", initial_temperature_k),
    Quantity {
        name: "sweep_rate_t_per_s",
        unit: "T/s",
        description: "mean sweep rate abs(Bf - Bi) / duration; none for a jump or a waveform",
        access: Access::F64(|r| r.params.sweep_rate_t_per_s, |r, v| {
            r.params.sweep_rate_t_per_s = v
        }),
    },
    param!("ramp_duration_s", "s", "ramp duration (0 for a jump)", ramp_duration_s),
    Quantity {
        name: "shape",
        unit: "",
        description: "ramp shape: linear, cosine, jump, waveform, or segments (a segmented protocol, whose field is one waveform through the segments' corners)",
        access: Access::Text(|r| Some(r.params.shape.clone()), |r, v| {
            r.params.shape = v.unwrap_or_default()
        }),
    },
    Quantity {
        name: "waveform_points",
        unit: "1",
        description: "points (time_s, field_t) of the piecewise-linear field waveform; 0 for the other shapes",
        access: Access::U64(|r| r.params.waveform_points, |r, v| r.params.waveform_points = v),
    },
    Quantity {
        name: "waveform_source",
        unit: "",
        description: "where the waveform's points came from: inline (TOML lists or flags) or the CSV file's path; none for the other shapes",
        access: Access::Text(|r| r.params.waveform_source.clone(), |r, v| {
            r.params.waveform_source = v
        }),
    },
    summary!("sudden_final_temperature_k", "K", "final temperature of the sudden quench (Eq. 9)", sudden_final_temperature_k),
    summary!("isentropic_final_temperature_k", "K", "final temperature of the isentropic process (Eq. 11); none where no finite one exists", isentropic_final_temperature_k),
    summary!("temperature_after_ramp_k", "K", "phonon temperature right after the ramp", temperature_after_ramp_k),
    summary!("equilibrium_temperature_k", "K", "equilibrium temperature for the energy left after the ramp", equilibrium_temperature_k),
    summary!("end_temperature_k", "K", "phonon temperature where the run stopped", end_temperature_k),
    summary!("end_after_ramp_s", "s", "time after the ramp when the run stopped", end_after_ramp_s),
    summary!("equilibrium_after_ramp_s", "s", "time after the ramp when equilibrium was reached; none if not reached", equilibrium_after_ramp_s),
    summary!("relaxation_10pct_after_ramp_s", "s", "time after the ramp when 10 % of the temperature change after the ramp was left", relaxation_10pct_after_ramp_s),
    summary!("relaxation_1pct_after_ramp_s", "s", "time after the ramp when 1 % was left", relaxation_1pct_after_ramp_s),
    summary!("energy_balance_error_rel", "1", "relative error of the energy balance", energy_balance_error_rel),
    summary!("reduction_error_estimate_rel", "1", "estimated error of the two-well reduction relative to the run's temperature change", reduction_error_estimate_rel),
    Quantity {
        name: "ramp_formulation",
        unit: "",
        description: "how the ramp was integrated: jump, full (master equation), reduced (two-well reduction) or switched_to_full (the reduction's estimate was above solver.reduction_tol_rel); none for a failed run",
        access: Access::Text(|r| r.summary.ramp_formulation.clone(), |r, v| {
            r.summary.ramp_formulation = v
        }),
    },
    summary!("minimum_temperature_k", "K", "lowest phonon temperature after the ramp (over the integrator's steps, inside a step on its dense output, and the samples)", minimum_temperature_k),
    summary!("minimum_after_ramp_s", "s", "time after the ramp when the lowest temperature was reached", minimum_after_ramp_s),
    summary!("end_heat_to_bath_k", "K", "heat that left to the bath through the heat link by the end of the run, per molecule (0 without a link; times n R for joules)", end_heat_to_bath_k),
    Quantity {
        name: "segment_reports",
        unit: "",
        description: "of a segmented protocol, one JSON object per segment in time order (cycle, segment, kind, link_closed, start_s, end_s, end_field_t, end_temperature_k, minimum_temperature_k, minimum_s, work_k, heat_to_bath_k, energy_change_k, energy_balance_error_rel; times since the start of the run, energies in K per molecule); none otherwise",
        access: Access::Text(
            |r| reports_text(&r.summary.segment_reports),
            |r, v| r.summary.segment_reports = reports_of(v.as_deref()),
        ),
    },
    Quantity {
        name: "cycle_reports",
        unit: "",
        description: "of a segmented protocol, one JSON object per cycle (cycle, start_s, end_s, end_temperature_k, minimum_temperature_k, minimum_s, work_k, heat_to_bath_k); none otherwise",
        access: Access::Text(
            |r| reports_text(&r.summary.cycle_reports),
            |r, v| r.summary.cycle_reports = reports_of(v.as_deref()),
        ),
    },
    Quantity {
        name: "steps",
        unit: "1",
        description: "accepted integrator steps",
        access: Access::U64(|r| r.summary.steps, |r, v| r.summary.steps = v),
    },
    Quantity {
        name: "wall_time_s",
        unit: "s",
        description: "wall time of the run",
        access: Access::F64(|r| Some(r.summary.wall_time_s), |r, v| {
            r.summary.wall_time_s = v.unwrap_or(f64::NAN)
        }),
    },
    Quantity {
        name: "sample_temperatures_k",
        unit: "K",
        description: "phonon temperature at each sample time after the ramp (one column per time in `sample_times_after_ramp_s`)",
        access: Access::Samples,
    },
];

/// How a trajectory quantity is read from and written to [`TrajectoryColumns`].
#[derive(Clone, Copy)]
pub enum TrajectoryAccess {
    /// One number per sample.
    F64(
        fn(&TrajectoryColumns) -> &Vec<f64>,
        fn(&mut TrajectoryColumns) -> &mut Vec<f64>,
    ),
    /// The level populations: one row per sample, one column per level (M = -S..S).
    Populations,
    /// The formulation code per sample.
    Stage,
}

/// One output quantity of a trajectory.
pub type TrajectoryQuantity = Quantity<TrajectoryAccess>;

macro_rules! column {
    ($name:literal, $unit:literal, $desc:literal, $field:ident) => {
        TrajectoryQuantity {
            name: $name,
            unit: $unit,
            description: $desc,
            access: TrajectoryAccess::F64(|t| &t.$field, |t| &mut t.$field),
        }
    };
}

/// Labels of the stage codes, in code order.
pub const STAGE_LABELS: [&str; 2] = ["full master equation", "two-well reduction"];

/// A trajectory: every quantity, in the order of the outputs.
pub const TRAJECTORY: &[TrajectoryQuantity] = &[
    column!("time_s", "s", "time since the start of the ramp", time_s),
    column!(
        "time_after_ramp_s",
        "s",
        "time since the end of the ramp (negative during the ramp)",
        time_after_ramp_s
    ),
    column!("field_t", "T", "field", field_t),
    column!(
        "phonon_temperature_k",
        "K",
        "phonon (lattice) temperature",
        phonon_temperature_k
    ),
    TrajectoryQuantity {
        name: "populations",
        unit: "1",
        description: "level populations, one row per sample, M = -S..S",
        access: TrajectoryAccess::Populations,
    },
    column!(
        "magnetization_mu_b",
        "mu_B",
        "magnetic moment per molecule along the field axis, -g_par <M> (positive along a positive field)",
        magnetization_mu_b
    ),
    column!(
        "magnetization_am2_per_mol",
        "A m2 mol-1",
        "the same moment per mole of molecules, N_A mu_B = 5.5849 A m^2/mol per mu_B (1 A m^2/mol = 1000 emu/mol)",
        magnetization_am2_per_mol
    ),
    column!(
        "spin_energy_k",
        "K",
        "spin energy per molecule",
        spin_energy_k
    ),
    column!(
        "phonon_energy_k",
        "K",
        "phonon energy per molecule",
        phonon_energy_k
    ),
    column!(
        "magnetic_work_k",
        "K",
        "magnetic work done on the sample since t = 0, per molecule",
        magnetic_work_k
    ),
    column!(
        "heat_to_bath_k",
        "K",
        "heat that has left to the bath through the heat link since t = 0, per molecule",
        heat_to_bath_k
    ),
    column!(
        "heat_flow_to_bath_k_per_s",
        "K/s",
        "heat flow to the bath through the heat link, per molecule",
        heat_flow_to_bath_k_per_s
    ),
    column!(
        "spin_entropy_kb",
        "k_B",
        "spin entropy per molecule",
        spin_entropy_kb
    ),
    column!(
        "phonon_entropy_kb",
        "k_B",
        "phonon entropy per molecule",
        phonon_entropy_kb
    ),
    TrajectoryQuantity {
        name: "stage",
        unit: "1",
        description: "formulation: 0 full master equation, 1 two-well reduction",
        access: TrajectoryAccess::Stage,
    },
];

/// The reports as JSON text (a list of objects), `None` when there are none.
fn reports_text<T: Serialize>(reports: &[T]) -> Option<String> {
    (!reports.is_empty()).then(|| serde_json::to_string(reports).unwrap_or_default())
}

/// The reports of JSON text written by [`reports_text`] (none for none or text that is not
/// such a list).
fn reports_of<T: for<'de> Deserialize<'de>>(text: Option<&str>) -> Vec<T> {
    text.and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default()
}

/// The names of the summary quantities whose text is a JSON list of reports: the JSON
/// outputs show them as lists.
pub const REPORT_QUANTITIES: [&str; 2] = ["segment_reports", "cycle_reports"];

fn number(x: f64) -> serde_json::Value {
    serde_json::Number::from_f64(x).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

impl RunRecord {
    /// The summary as JSON, one key per [`SUMMARY`] quantity.
    pub fn summary_json(&self) -> serde_json::Map<String, serde_json::Value> {
        use serde_json::Value;
        let mut map = serde_json::Map::new();
        for q in SUMMARY {
            let v = match q.access {
                Access::F64(get, _) => get(self).map_or(Value::Null, number),
                Access::U64(get, _) => Value::from(get(self)),
                Access::Text(get, _) if REPORT_QUANTITIES.contains(&q.name) => get(self)
                    .and_then(|t| serde_json::from_str(&t).ok())
                    .unwrap_or(Value::Null),
                Access::Text(get, _) => get(self).map_or(Value::Null, Value::from),
                Access::Code(get, _, labels) => Value::from(labels[get(self)]),
                Access::Swept => Value::Object(
                    self.params
                        .swept
                        .iter()
                        .map(|(k, v)| (k.clone(), number(*v)))
                        .collect(),
                ),
                Access::Samples => Value::Array(
                    self.summary
                        .sample_temperatures_k
                        .iter()
                        .map(|t| t.map_or(Value::Null, number))
                        .collect(),
                ),
            };
            map.insert(q.name.to_string(), v);
        }
        map
    }
}

impl TrajectoryColumns {
    /// The trajectory as JSON, one key per [`TRAJECTORY`] quantity (each an array over the
    /// samples).
    pub fn to_json(&self) -> serde_json::Map<String, serde_json::Value> {
        use serde_json::Value;
        TRAJECTORY
            .iter()
            .map(|q| {
                let v = match q.access {
                    TrajectoryAccess::F64(get, _) => {
                        Value::Array(get(self).iter().map(|&x| number(x)).collect())
                    }
                    TrajectoryAccess::Populations => Value::Array(
                        self.populations
                            .iter()
                            .map(|row| Value::Array(row.iter().map(|&x| number(x)).collect()))
                            .collect(),
                    ),
                    TrajectoryAccess::Stage => {
                        Value::Array(self.stage.iter().map(|&s| Value::from(s)).collect())
                    }
                };
                (q.name.to_string(), v)
            })
            .collect()
    }
}

/// The output quantities as Markdown tables (name, unit, description), summary then
/// trajectory: the format documentation in README.md is this text (a test checks it).
pub fn quantities_markdown() -> String {
    let mut s = String::from("| summary quantity | unit | content |\n| --- | --- | --- |\n");
    for q in SUMMARY {
        s.push_str(&format!(
            "| `{}` | {} | {} |\n",
            q.name, q.unit, q.description
        ));
    }
    s.push_str("\n| trajectory quantity | unit | content |\n| --- | --- | --- |\n");
    for q in TRAJECTORY {
        s.push_str(&format!(
            "| `{}` | {} | {} |\n",
            q.name, q.unit, q.description
        ));
    }
    s
}
