//! Batch configuration: the TOML schema, its validation, and the sweep expansion.
//!
//! A config has sections `[material]`, `[rates]`, `[protocol]`, `[solver]`, `[output]`,
//! `[batch]` and any number of `[[sweep]]` axes. Every key carries its unit in its name and
//! unknown keys are errors (`deny_unknown_fields`), reported with file, line and column.
//!
//! # Sweep order
//! The runs are the Cartesian product of the `[[sweep]]` axes. Run index i is read as a mixed
//! radix number whose most significant digit is the FIRST axis: the first axis varies slowest,
//! the last fastest. So with axes A (2 values) then B (3 values), runs 0..6 are
//! (A0,B0) (A0,B1) (A0,B2) (A1,B0) (A1,B1) (A1,B2). Index i always means the same parameters.

use crate::batch::record::RunParams;
use crate::kinetics::{EngineOptions, Formulation, RunSpec};
use crate::model::{Material, Overrides};
use crate::protocol::{Protocol, RampShape};
use crate::rates::{KappaScaling, RateModel};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Default of `[batch] max_runs`.
pub const DEFAULT_MAX_RUNS: usize = 10_000;

/// `[material]`: a preset and optional overrides.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaterialSection {
    /// Preset name (default "mn12ac").
    pub preset: Option<String>,
    /// Spin S.
    pub spin: Option<f64>,
    /// D in cm^-1.
    pub d_cm1: Option<f64>,
    /// D in K.
    pub d_k: Option<f64>,
    /// g_par.
    pub g_par: Option<f64>,
    /// Debye temperature, K.
    pub debye_temperature_k: Option<f64>,
    /// Phonon units per molecule.
    pub phonon_units: Option<f64>,
    /// tau0, s.
    pub tau0_s: Option<f64>,
    /// U_b, K.
    pub barrier_k: Option<f64>,
}

/// `kappa_scaling` values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScalingName {
    /// kappa(T) from the Arrhenius law at every T.
    #[default]
    Arrhenius,
    /// kappa fixed at `kappa_reference_k`.
    Constant,
    /// kappa given by `kappa_per_s_k3`.
    Absolute,
}

/// `[rates]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RatesSection {
    /// Scaling rule.
    #[serde(default)]
    pub kappa_scaling: ScalingName,
    /// Calibration temperature for constant scaling, K.
    #[serde(default = "default_kappa_reference")]
    pub kappa_reference_k: f64,
    /// kappa for absolute scaling, 1/(s K^3).
    pub kappa_per_s_k3: Option<f64>,
}

fn default_kappa_reference() -> f64 {
    4.6
}

impl Default for RatesSection {
    fn default() -> Self {
        Self {
            kappa_scaling: ScalingName::Arrhenius,
            kappa_reference_k: default_kappa_reference(),
            kappa_per_s_k3: None,
        }
    }
}

/// `[protocol]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtocolSection {
    /// Initial field, T.
    pub b_initial_t: f64,
    /// Final field, T.
    pub b_final_t: f64,
    /// Initial temperature, K.
    pub t_initial_k: f64,
    /// Mean sweep rate, T/s (exclusive with `ramp_duration_s`; not for a jump).
    pub sweep_rate_t_per_s: Option<f64>,
    /// Ramp duration, s.
    pub ramp_duration_s: Option<f64>,
    /// "linear" (default), "cosine" or "jump".
    #[serde(default = "default_shape")]
    pub shape: RampShape,
    /// Allow B_f > B_i (a field increase; off by default, as the cooling protocol lowers B).
    #[serde(default)]
    pub allow_field_increase: bool,
}

fn default_shape() -> RampShape {
    RampShape::Linear
}

/// `[solver]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SolverSection {
    /// Relative tolerance.
    #[serde(default = "default_rtol")]
    pub rtol: f64,
    /// Equilibrium tolerance on T, K.
    #[serde(default = "default_eq_tol")]
    pub equilibrium_tol_k: f64,
    /// End time after the ramp, s.
    #[serde(default = "default_max_time")]
    pub max_time_after_ramp_s: f64,
    /// "auto" or "full".
    #[serde(default = "default_formulation")]
    pub formulation: Formulation,
}

fn default_rtol() -> f64 {
    EngineOptions::default().rtol
}
fn default_eq_tol() -> f64 {
    EngineOptions::default().equilibrium_tol_k
}
fn default_max_time() -> f64 {
    EngineOptions::default().max_time_after_ramp_s
}
fn default_formulation() -> Formulation {
    Formulation::Auto
}

impl Default for SolverSection {
    fn default() -> Self {
        Self {
            rtol: default_rtol(),
            equilibrium_tol_k: default_eq_tol(),
            max_time_after_ramp_s: default_max_time(),
            formulation: Formulation::Auto,
        }
    }
}

/// `[output]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSection {
    /// Times after the ramp reported in the summary, s.
    #[serde(default = "default_samples")]
    pub sample_times_after_ramp_s: Vec<f64>,
    /// Store each run's trajectory.
    #[serde(default = "default_true")]
    pub trajectory: bool,
    /// Logarithmic output grid after the ramp, points per decade.
    #[serde(default = "default_ppd")]
    pub log_points_per_decade: u32,
}

fn default_samples() -> Vec<f64> {
    vec![1e-3, 1.0, 3600.0]
}
fn default_true() -> bool {
    true
}
fn default_ppd() -> u32 {
    4
}

impl Default for OutputSection {
    fn default() -> Self {
        Self {
            sample_times_after_ramp_s: default_samples(),
            trajectory: true,
            log_points_per_decade: default_ppd(),
        }
    }
}

/// `[batch]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchSection {
    /// A sweep with more runs than this needs `--yes`.
    #[serde(default = "default_max_runs")]
    pub max_runs: usize,
}

fn default_max_runs() -> usize {
    DEFAULT_MAX_RUNS
}

impl Default for BatchSection {
    fn default() -> Self {
        Self {
            max_runs: DEFAULT_MAX_RUNS,
        }
    }
}

/// A range of values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeSpec {
    /// First value.
    pub start: f64,
    /// Last value.
    pub stop: f64,
    /// Number of values (>= 1).
    pub count: usize,
}

/// One `[[sweep]]` axis: a key and exactly one of `values`, `linear`, `log`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepAxis {
    /// The swept key, "section.key" (see [`SWEEPABLE_KEYS`]).
    pub key: String,
    /// Explicit values.
    pub values: Option<Vec<f64>>,
    /// Evenly spaced values.
    pub linear: Option<RangeSpec>,
    /// Logarithmically spaced values (start, stop > 0).
    pub log: Option<RangeSpec>,
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[material]`.
    #[serde(default)]
    pub material: MaterialSection,
    /// `[rates]`.
    #[serde(default)]
    pub rates: RatesSection,
    /// `[protocol]`.
    pub protocol: ProtocolSection,
    /// `[solver]`.
    #[serde(default)]
    pub solver: SolverSection,
    /// `[output]`.
    #[serde(default)]
    pub output: OutputSection,
    /// `[batch]`.
    #[serde(default)]
    pub batch: BatchSection,
    /// `[[sweep]]` axes.
    #[serde(default)]
    pub sweep: Vec<SweepAxis>,
}

/// Keys a sweep may name.
pub const SWEEPABLE_KEYS: &[&str] = &[
    "material.spin",
    "material.d_cm1",
    "material.d_k",
    "material.g_par",
    "material.debye_temperature_k",
    "material.phonon_units",
    "material.tau0_s",
    "material.barrier_k",
    "rates.kappa_reference_k",
    "rates.kappa_per_s_k3",
    "protocol.b_initial_t",
    "protocol.b_final_t",
    "protocol.t_initial_k",
    "protocol.sweep_rate_t_per_s",
    "protocol.ramp_duration_s",
    "solver.rtol",
    "solver.equilibrium_tol_k",
    "solver.max_time_after_ramp_s",
];

/// A config that cannot be used; every message names the file.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("{file}: cannot read: {message}")]
    Read {
        /// File.
        file: String,
        /// OS message.
        message: String,
    },
    /// TOML syntax or schema (unknown key, wrong type, missing value).
    #[error("{file}:{line}:{column}: {message}")]
    Parse {
        /// File.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A value outside what is allowed.
    #[error("{file}: {key} = {value}: {allowed}")]
    Invalid {
        /// File.
        file: String,
        /// Key (with run index when it comes from a sweep).
        key: String,
        /// Value as written.
        value: String,
        /// What is allowed.
        allowed: String,
    },
    /// The sweep has more runs than allowed without `--yes`.
    #[error("{file}: the sweep has {runs} runs, more than batch.max_runs = {max}; pass --yes to run them anyway")]
    TooManyRuns {
        /// File.
        file: String,
        /// Runs.
        runs: usize,
        /// The limit.
        max: usize,
    },
}

/// A validated batch: the config, its text, and the sweep axes.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Path of the config file.
    pub path: PathBuf,
    /// Verbatim text (stored as provenance).
    pub text: String,
    /// The parsed config.
    pub config: Config,
    /// Expanded axes, in sweep order.
    pub axes: Vec<(String, Vec<f64>)>,
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn expand(axis: &SweepAxis) -> Result<Vec<f64>, String> {
    let given = [
        axis.values.is_some(),
        axis.linear.is_some(),
        axis.log.is_some(),
    ];
    if given.iter().filter(|&&g| g).count() != 1 {
        return Err("give exactly one of `values`, `linear` or `log`".into());
    }
    let check_count = |r: &RangeSpec| {
        if r.count == 0 {
            Err("count must be >= 1 (an empty sweep runs nothing)".to_string())
        } else if !(r.start.is_finite() && r.stop.is_finite()) {
            Err("start and stop must be finite".to_string())
        } else {
            Ok(())
        }
    };
    let v = if let Some(v) = &axis.values {
        if v.is_empty() {
            return Err("`values` is empty (an empty sweep runs nothing)".into());
        }
        v.clone()
    } else if let Some(r) = &axis.linear {
        check_count(r)?;
        if r.count == 1 {
            vec![r.start]
        } else {
            (0..r.count)
                .map(|i| r.start + (r.stop - r.start) * i as f64 / (r.count - 1) as f64)
                .collect()
        }
    } else {
        let r = axis.log.as_ref().expect("checked: exactly one is given");
        check_count(r)?;
        if !(r.start > 0.0 && r.stop > 0.0) {
            return Err("a log range needs start > 0 and stop > 0".into());
        }
        if r.count == 1 {
            vec![r.start]
        } else {
            let (a, b) = (r.start.ln(), r.stop.ln());
            (0..r.count)
                .map(|i| {
                    if i == r.count - 1 {
                        r.stop
                    } else {
                        (a + (b - a) * i as f64 / (r.count - 1) as f64).exp()
                    }
                })
                .collect()
        }
    };
    if let Some(bad) = v.iter().find(|x| !x.is_finite()) {
        return Err(format!("{bad} is not a finite number"));
    }
    Ok(v)
}

/// Set a sweepable key on a config.
fn apply(c: &mut Config, key: &str, v: f64) {
    match key {
        "material.spin" => c.material.spin = Some(v),
        "material.d_cm1" => c.material.d_cm1 = Some(v),
        "material.d_k" => c.material.d_k = Some(v),
        "material.g_par" => c.material.g_par = Some(v),
        "material.debye_temperature_k" => c.material.debye_temperature_k = Some(v),
        "material.phonon_units" => c.material.phonon_units = Some(v),
        "material.tau0_s" => c.material.tau0_s = Some(v),
        "material.barrier_k" => c.material.barrier_k = Some(v),
        "rates.kappa_reference_k" => c.rates.kappa_reference_k = v,
        "rates.kappa_per_s_k3" => c.rates.kappa_per_s_k3 = Some(v),
        "protocol.b_initial_t" => c.protocol.b_initial_t = v,
        "protocol.b_final_t" => c.protocol.b_final_t = v,
        "protocol.t_initial_k" => c.protocol.t_initial_k = v,
        "protocol.sweep_rate_t_per_s" => c.protocol.sweep_rate_t_per_s = Some(v),
        "protocol.ramp_duration_s" => c.protocol.ramp_duration_s = Some(v),
        "solver.rtol" => c.solver.rtol = v,
        "solver.equilibrium_tol_k" => c.solver.equilibrium_tol_k = v,
        "solver.max_time_after_ramp_s" => c.solver.max_time_after_ramp_s = v,
        _ => unreachable!("sweep keys are checked against SWEEPABLE_KEYS when the plan is built"),
    }
}

/// Map a library key name (as in errors) to the config key.
fn config_key(name: &str) -> String {
    let section = match name {
        "spin"
        | "d_cm1"
        | "d_k"
        | "g_par"
        | "debye_temperature_k"
        | "phonon_units"
        | "tau0_s"
        | "barrier_k"
        | "material" => "material",
        "kappa_reference_k" | "kappa_per_s_k3" => "rates",
        "b_initial_t" | "b_final_t" | "t_initial_k" | "sweep_rate_t_per_s" | "ramp_duration_s"
        | "temperature_k" => "protocol",
        "rtol" | "equilibrium_tol_k" | "max_time_after_ramp_s" => "solver",
        "sample_times_after_ramp_s" | "log_points_per_decade" => "output",
        _ => return name.to_string(),
    };
    let name = if name == "temperature_k" {
        "t_initial_k"
    } else {
        name
    };
    format!("{section}.{name}")
}

impl Plan {
    /// Read, parse and validate a config file: every run of the sweep is built and checked
    /// before anything runs.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            file: file.clone(),
            message: e.to_string(),
        })?;
        Self::from_text(path, text)
    }

    /// As [`Plan::load`], from text already read.
    pub fn from_text(path: &Path, text: String) -> Result<Self, ConfigError> {
        let file = path.display().to_string();
        let config: Config = toml::from_str(&text).map_err(|e| {
            let (line, column) = e.span().map_or((1, 1), |s| line_col(&text, s.start));
            ConfigError::Parse {
                file: file.clone(),
                line,
                column,
                message: e.message().trim().replace('\n', " "),
            }
        })?;
        let mut axes = Vec::new();
        for axis in &config.sweep {
            if !SWEEPABLE_KEYS.contains(&axis.key.as_str()) {
                return Err(ConfigError::Invalid {
                    file: file.clone(),
                    key: "sweep.key".into(),
                    value: format!("\"{}\"", axis.key),
                    allowed: format!(
                        "not a sweepable key; allowed: {}",
                        SWEEPABLE_KEYS.join(", ")
                    ),
                });
            }
            if axes.iter().any(|(k, _)| k == &axis.key) {
                return Err(ConfigError::Invalid {
                    file: file.clone(),
                    key: "sweep.key".into(),
                    value: format!("\"{}\"", axis.key),
                    allowed: "each key may be swept once".into(),
                });
            }
            let values = expand(axis).map_err(|allowed| ConfigError::Invalid {
                file: file.clone(),
                key: format!("sweep `{}`", axis.key),
                value: "(axis)".into(),
                allowed,
            })?;
            axes.push((axis.key.clone(), values));
        }
        let plan = Self {
            path: path.to_path_buf(),
            text,
            config,
            axes,
        };
        plan.validate_sections()?;
        for i in 0..plan.n_runs() {
            plan.run(i)?;
        }
        Ok(plan)
    }

    fn validate_sections(&self) -> Result<(), ConfigError> {
        let o = &self.config.output;
        for &s in &o.sample_times_after_ramp_s {
            if !(s.is_finite() && s >= 0.0) {
                return Err(self.invalid(
                    "output.sample_times_after_ramp_s",
                    s,
                    "times after the ramp must be finite and >= 0 s",
                ));
            }
        }
        if o.log_points_per_decade > 100 {
            return Err(self.invalid(
                "output.log_points_per_decade",
                f64::from(o.log_points_per_decade),
                "must be in 0..=100",
            ));
        }
        if self.config.batch.max_runs == 0 {
            return Err(self.invalid("batch.max_runs", 0.0, "must be >= 1"));
        }
        Ok(())
    }

    fn invalid(&self, key: &str, value: f64, allowed: &str) -> ConfigError {
        ConfigError::Invalid {
            file: self.path.display().to_string(),
            key: key.to_string(),
            value: value.to_string(),
            allowed: allowed.to_string(),
        }
    }

    /// Number of runs (the product of the axis lengths; 1 without a sweep).
    pub fn n_runs(&self) -> usize {
        self.axes.iter().map(|(_, v)| v.len()).product()
    }

    /// Refuse sweeps above `[batch] max_runs` unless `yes`.
    pub fn check_size(&self, yes: bool) -> Result<(), ConfigError> {
        let n = self.n_runs();
        if n > self.config.batch.max_runs && !yes {
            return Err(ConfigError::TooManyRuns {
                file: self.path.display().to_string(),
                runs: n,
                max: self.config.batch.max_runs,
            });
        }
        Ok(())
    }

    /// The swept (key, value) pairs of run `index` (first axis slowest).
    pub fn swept_values(&self, index: usize) -> Vec<(String, f64)> {
        let mut rem = index;
        let mut out = vec![(String::new(), 0.0); self.axes.len()];
        for (k, (key, values)) in self.axes.iter().enumerate().rev() {
            out[k] = (key.clone(), values[rem % values.len()]);
            rem /= values.len();
        }
        out
    }

    /// Sample times after the ramp, s.
    pub fn sample_times(&self) -> &[f64] {
        &self.config.output.sample_times_after_ramp_s
    }

    /// The parameters and engine input of run `index`, validated.
    pub fn run(&self, index: usize) -> Result<(RunParams, RunSpec), ConfigError> {
        let file = self.path.display().to_string();
        let swept = self.swept_values(index);
        let mut c = self.config.clone();
        for (k, v) in &swept {
            apply(&mut c, k, *v);
        }
        let context = if swept.is_empty() {
            String::new()
        } else {
            format!(
                " (run {index}: {})",
                swept
                    .iter()
                    .map(|(k, v)| format!("{k} = {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let wrap = |e: crate::error::ParameterError| ConfigError::Invalid {
            file: file.clone(),
            key: format!("{}{context}", config_key(&e.name)),
            value: if e.value.is_nan() {
                "(given)".into()
            } else {
                e.value.to_string()
            },
            allowed: e.allowed,
        };
        let m = &c.material;
        let material = Material::from_preset(
            m.preset.as_deref().unwrap_or("mn12ac"),
            &Overrides {
                spin: m.spin,
                d_cm1: m.d_cm1,
                d_k: m.d_k,
                g_par: m.g_par,
                debye_temperature_k: m.debye_temperature_k,
                phonon_units: m.phonon_units,
                tau0_s: m.tau0_s,
                barrier_k: m.barrier_k,
            },
        )
        .map_err(wrap)?;
        let scaling = match c.rates.kappa_scaling {
            ScalingName::Arrhenius => KappaScaling::Arrhenius,
            ScalingName::Constant => KappaScaling::Constant {
                reference_k: c.rates.kappa_reference_k,
            },
            ScalingName::Absolute => KappaScaling::Absolute {
                kappa_per_s_k3: c.rates.kappa_per_s_k3.ok_or_else(|| ConfigError::Invalid {
                    file: file.clone(),
                    key: "rates.kappa_per_s_k3".into(),
                    value: "(missing)".into(),
                    allowed:
                        "required with kappa_scaling = \"absolute\": a number > 0 in 1/(s K^3)"
                            .into(),
                })?,
            },
        };
        let p = &c.protocol;
        if !(p.t_initial_k.is_finite() && p.t_initial_k > 0.0) {
            return Err(wrap(crate::error::ParameterError::new(
                "t_initial_k",
                p.t_initial_k,
                "must be a finite temperature > 0 K",
            )));
        }
        if p.b_final_t > p.b_initial_t && !p.allow_field_increase {
            return Err(ConfigError::Invalid {
                file: file.clone(),
                key: format!("protocol.b_final_t{context}"),
                value: p.b_final_t.to_string(),
                allowed: format!(
                    "must not exceed protocol.b_initial_t = {} (the cooling protocol lowers the field); set protocol.allow_field_increase = true to study a field increase",
                    p.b_initial_t
                ),
            });
        }
        let protocol = match (p.shape, p.sweep_rate_t_per_s, p.ramp_duration_s) {
            (RampShape::Jump, None, None) => Protocol::jump(p.b_initial_t, p.b_final_t),
            (RampShape::Jump, _, _) => {
                return Err(ConfigError::Invalid {
                    file: file.clone(),
                    key: format!("protocol.shape{context}"),
                    value: "\"jump\"".into(),
                    allowed: "a jump takes neither sweep_rate_t_per_s nor ramp_duration_s".into(),
                })
            }
            (shape, Some(r), None) => Protocol::with_sweep_rate(p.b_initial_t, p.b_final_t, r, shape),
            (shape, None, Some(d)) => Protocol::with_duration(p.b_initial_t, p.b_final_t, d, shape),
            (_, None, None) | (_, Some(_), Some(_)) => {
                return Err(ConfigError::Invalid {
                    file: file.clone(),
                    key: format!("protocol{context}"),
                    value: "(ramp)".into(),
                    allowed: "give exactly one of sweep_rate_t_per_s and ramp_duration_s, or shape = \"jump\"".into(),
                })
            }
        }
        .map_err(wrap)?;
        let options = EngineOptions {
            rtol: c.solver.rtol,
            equilibrium_tol_k: c.solver.equilibrium_tol_k,
            max_time_after_ramp_s: c.solver.max_time_after_ramp_s,
            sample_times_after_ramp_s: c.output.sample_times_after_ramp_s.clone(),
            // Without stored trajectories the output grids would only force integrator stops:
            // the summary (samples, equilibrium, relaxation times) does not depend on them.
            log_points_per_decade: if c.output.trajectory {
                c.output.log_points_per_decade
            } else {
                0
            },
            ramp_points: if c.output.trajectory {
                EngineOptions::default().ramp_points
            } else {
                1
            },
            formulation: c.solver.formulation,
            ..Default::default()
        };
        let spec = RunSpec {
            material,
            scaling,
            protocol,
            t_initial_k: p.t_initial_k,
            options,
        };
        let rates = RateModel::new(spec.material.spin, spec.material.arrhenius, spec.scaling)
            .map_err(wrap)?;
        crate::kinetics::validate(&spec, &rates).map_err(|e| match e {
            crate::kinetics::EngineError::Parameter(pe) => wrap(pe),
            crate::kinetics::EngineError::Numerics(crate::error::NumericsError::Parameter(pe)) => {
                wrap(pe)
            }
            other => ConfigError::Invalid {
                file: file.clone(),
                key: format!("protocol.t_initial_k{context}"),
                value: p.t_initial_k.to_string(),
                allowed: other.to_string(),
            },
        })?;
        let params = RunParams {
            index,
            swept,
            b_initial_t: p.b_initial_t,
            b_final_t: p.b_final_t,
            t_initial_k: p.t_initial_k,
            sweep_rate_t_per_s: (protocol.duration_s() > 0.0).then(|| protocol.mean_rate_t_per_s()),
            ramp_duration_s: protocol.duration_s(),
            shape: format!("{:?}", protocol.shape()).to_lowercase(),
        };
        Ok((params, spec))
    }
}
