//! One input type for a run, one validation, one builder.
//!
//! A [`Scenario`] is everything a run needs: material, rate scaling, field protocol, solver
//! settings and outputs. The TOML sections of a batch config deserialize into it (serde) and the
//! command-line flags parse into the very same structs (clap), so a value means the same thing
//! and meets the same rule whether it came from a flag, a TOML key or a sweep.
//! [`Scenario::build`] is the only road from user input to the engine's [`RunSpec`]: `simulate`,
//! `run`, `paper` and embedding programs all take it.
//!
//! Every settable value has one entry in [`KEYS`]: its TOML path, its flag, its unit and, when it
//! can be swept, how a sweep sets it. A validation error names a key ([`ScenarioError`]) and is
//! rendered as a TOML key (`protocol.b_initial_t`) in a config file and as a flag
//! (`--b-initial-t`) on the command line.

use crate::error::ParameterError;
use crate::kinetics::{EngineOptions, Formulation, RunSpec};
use crate::model::protocol::{
    Protocol, RampShape, SegmentKind, Waveform, WaveformColumn, MAX_DURATION_S, MIN_DURATION_S,
};
use crate::model::tunnelling::AnisotropyOverrides;
use crate::model::{Material, Overrides};
use crate::rates::{KappaScaling, RateModel};
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// `[material]` / the material flags: a preset and optional overrides.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Args)]
#[serde(deny_unknown_fields)]
pub struct MaterialSection {
    /// Material preset (see `smmcool presets`; default mn12ac).
    #[arg(long = "material", id = "preset", value_name = "PRESET")]
    pub preset: Option<String>,
    /// Spin S (a positive multiple of 1/2).
    #[arg(long, allow_negative_numbers = true)]
    pub spin: Option<f64>,
    /// Axial zero-field splitting D in cm^-1.
    #[arg(long, allow_negative_numbers = true, conflicts_with = "d_k")]
    pub d_cm1: Option<f64>,
    /// Axial zero-field splitting D in K.
    #[arg(long, allow_negative_numbers = true)]
    pub d_k: Option<f64>,
    /// Parallel g factor.
    #[arg(long, allow_negative_numbers = true)]
    pub g_par: Option<f64>,
    /// Debye temperature in K.
    #[arg(long, allow_negative_numbers = true)]
    pub debye_temperature_k: Option<f64>,
    /// Debye oscillating units per molecule (the paper uses 1).
    #[arg(long, allow_negative_numbers = true)]
    pub phonon_units: Option<f64>,
    /// Arrhenius pre-exponential factor tau0 in s.
    #[arg(long, allow_negative_numbers = true)]
    pub tau0_s: Option<f64>,
    /// Arrhenius barrier U_b in K.
    #[arg(long, allow_negative_numbers = true)]
    pub barrier_k: Option<f64>,
    /// Fourth-order axial anisotropy B4 in K (coefficient of Sz^4; replaces the preset's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[arg(long, allow_negative_numbers = true)]
    pub b4_k: Option<f64>,
    /// Fourth-order transverse anisotropy C in K (coefficient of S+^4 + S-^4; replaces the
    /// preset's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[arg(long, allow_negative_numbers = true)]
    pub c4_k: Option<f64>,
    /// Rhombic anisotropy E in K (coefficient of Sx^2 - Sy^2; replaces the preset's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[arg(long, allow_negative_numbers = true)]
    pub e_k: Option<f64>,
    /// Field perpendicular to the easy axis in T, fixed during the run (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[arg(long, allow_negative_numbers = true)]
    pub transverse_field_t: Option<f64>,
    /// Angle between the easy axis and the applied field in degrees (instead of a fixed
    /// transverse field: Bz = B cos(theta), Bx = B sin(theta) at every field B).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[arg(long, allow_negative_numbers = true)]
    pub misalignment_deg: Option<f64>,
}

/// How kappa(T) is scaled (`rates.kappa_scaling`, `--kappa-scaling`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ScalingName {
    /// kappa(T) such that the zero-field relaxation time is tau0 exp(U_b/T) at every T.
    #[default]
    Arrhenius,
    /// kappa fixed by the Arrhenius time at the reference temperature.
    Constant,
    /// kappa given in 1/(s K^3).
    Absolute,
}

/// Which mechanisms the kappa(T) calibration matches to the Arrhenius law
/// (`rates.kappa_calibration`, `--kappa-calibration`; docs/physics.md section 10.6).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum CalibrationName {
    /// The spin-phonon rates alone give tau0 exp(U_b/T) at B = 0; tunnelling comes on top.
    #[default]
    WithoutTunnelling,
    /// The zero-field rate with the tunnelling channels is tau0 exp(U_b/T).
    WithTunnelling,
}

impl From<CalibrationName> for crate::rates::KappaCalibration {
    fn from(c: CalibrationName) -> Self {
        match c {
            CalibrationName::WithoutTunnelling => Self::WithoutTunnelling,
            CalibrationName::WithTunnelling => Self::WithTunnelling,
        }
    }
}

/// `[rates]` / the rate flags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Args)]
#[serde(deny_unknown_fields)]
pub struct RatesSection {
    /// How the rate scale kappa(T) is set.
    #[serde(default)]
    #[arg(long, value_enum, default_value = "arrhenius")]
    pub kappa_scaling: ScalingName,
    /// Calibration temperature in K for the constant scaling (default 4.6 K).
    #[serde(default)]
    #[arg(long, allow_negative_numbers = true)]
    pub kappa_reference_k: Option<f64>,
    /// kappa in 1/(s K^3) for the absolute scaling.
    #[arg(long, allow_negative_numbers = true)]
    pub kappa_per_s_k3: Option<f64>,
    /// Which rates the calibration of kappa matches to tau0 exp(U_b/T) at B = 0: the
    /// spin-phonon ones alone, or with the tunnelling channels (no effect without transverse
    /// terms).
    #[serde(default)]
    #[arg(long, value_enum, default_value = "without_tunnelling")]
    pub kappa_calibration: CalibrationName,
}

fn default_kappa_reference() -> f64 {
    4.6
}

impl Default for RatesSection {
    fn default() -> Self {
        Self {
            kappa_scaling: ScalingName::Arrhenius,
            kappa_reference_k: None,
            kappa_per_s_k3: None,
            kappa_calibration: CalibrationName::WithoutTunnelling,
        }
    }
}

/// `[protocol]` / the protocol flags of `simulate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Args)]
#[serde(deny_unknown_fields)]
pub struct ProtocolSection {
    /// Initial field in T (the sample starts in equilibrium there); a waveform's is its first
    /// point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[arg(
        long,
        allow_negative_numbers = true,
        required_unless_present_any = ["waveform_time_s", "waveform_csv"]
    )]
    pub b_initial_t: Option<f64>,
    /// Final field in T (above the initial field for a field increase); a waveform's is its
    /// last point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[arg(
        long,
        allow_negative_numbers = true,
        required_unless_present_any = ["waveform_time_s", "waveform_csv", "segment"]
    )]
    pub b_final_t: Option<f64>,
    /// Initial temperature in K.
    #[serde(alias = "t_initial_k")]
    #[arg(long, alias = "t-initial-k", allow_negative_numbers = true)]
    pub initial_temperature_k: f64,
    /// Mean sweep rate |Bf - Bi| / duration in T/s.
    #[arg(long, allow_negative_numbers = true, conflicts_with_all = ["ramp_duration_s", "jump"])]
    pub sweep_rate_t_per_s: Option<f64>,
    /// Ramp duration in s (instead of a sweep rate); 0 is the jump (so a batch can sweep the
    /// duration down to the sudden limit).
    #[arg(long, allow_negative_numbers = true, conflicts_with = "jump")]
    pub ramp_duration_s: Option<f64>,
    /// Ramp shape: linear, cosine, jump (instantaneous: the exact sudden limit), or waveform
    /// (implied by the waveform's points).
    #[serde(default = "default_shape")]
    #[arg(long, value_enum, default_value = "linear")]
    pub shape: RampShape,
    /// Instantaneous field change: the exact sudden limit (same as --shape jump).
    #[serde(skip)]
    #[arg(long)]
    pub jump: bool,
    /// Accepted for old configs and ignored: field increases are always allowed.
    #[serde(default)]
    #[arg(skip)]
    pub allow_field_increase: bool,
    /// Piecewise-linear waveform: the corner times in s, strictly increasing (a list,
    /// 0,0.01,0.04), with --waveform-field-t. The ramp starts at the first time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[arg(long, value_name = "S,...")]
    pub waveform_time_s: Option<ValueList>,
    /// Piecewise-linear waveform: the field at each corner time, in T (a list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[arg(long, value_name = "T,...", allow_negative_numbers = true)]
    pub waveform_field_t: Option<ValueList>,
    /// Piecewise-linear waveform from a two-column CSV file (time_s, field_t; an optional
    /// header line, # comments): PATH relative to the working directory; in a config file
    /// relative to the config's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[arg(long, value_name = "PATH")]
    pub waveform_csv: Option<std::path::PathBuf>,
    /// One segment of a segmented run, repeat the flag for each, in order (`[[protocol.segment]]`
    /// in a config): its keys as KEY=VALUE pairs separated by commas, a list in brackets, e.g.
    /// 'kind=hold,duration_s=300,link_closed=true', 'kind=ramp,b_final_t=0,sweep_rate_t_per_s=10',
    /// 'kind=waveform,waveform_time_s=[0,0.01],waveform_field_t=[0,0.5]'. From --b-initial-t.
    /// A segment's waveform_csv=PATH is relative to the working directory here, to the
    /// config's folder in a config.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[arg(long = "segment", value_name = "KEY=VALUE,...", value_parser = segment_arg)]
    pub segment: Vec<SegmentSection>,
    /// How many times the list of segments is run (default 1; segments only; 1..=100000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[arg(long, value_name = "N", value_parser = cycles_arg)]
    pub cycles: Option<u64>,
}

/// Most cycles a segmented protocol may have.
pub const MAX_CYCLES: u64 = 100_000;

/// `--cycles`: an integer, refused with the range `protocol.cycles` allows (checked there
/// too, where 0 and values above it are refused).
fn cycles_arg(s: &str) -> Result<u64, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("must be an integer in 1..={MAX_CYCLES}"))
}

/// `--segment`: `KEY=VALUE` pairs separated by commas (commas inside `[...]` belong to a
/// list), read as the keys of one `[[protocol.segment]]` table: `true`/`false` a switch, a
/// number a number, `[a, b, ...]` a list of numbers, anything else text (`kind`, a file).
pub fn segment_arg(text: &str) -> Result<SegmentSection, String> {
    let mut pairs = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' if depth == 0 => {
                pairs.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    pairs.push(&text[start..]);
    let mut table = toml::Table::new();
    for pair in pairs.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(format!(
                "'{pair}' is not KEY=VALUE (e.g. kind=hold,duration_s=300,link_closed=true)"
            ));
        };
        let (key, value) = (key.trim(), value.trim());
        let number = |v: &str| {
            v.trim()
                .parse::<f64>()
                .map_err(|_| format!("{key} = {value}: '{}' is not a number", v.trim()))
        };
        let v = if let Some(list) = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
            let items = list
                .split(',')
                .filter(|x| !x.trim().is_empty())
                .map(|x| number(x).map(toml::Value::Float))
                .collect::<Result<Vec<_>, _>>()?;
            toml::Value::Array(items)
        } else if let Ok(b) = value.parse::<bool>() {
            toml::Value::Boolean(b)
        } else if let Ok(x) = value.parse::<f64>() {
            toml::Value::Float(x)
        } else {
            toml::Value::String(value.to_string())
        };
        if table.insert(key.to_string(), v).is_some() {
            return Err(format!("{key} is given twice"));
        }
    }
    toml::Value::Table(table)
        .try_into::<SegmentSection>()
        .map_err(|e| e.to_string().trim().replace('\n', " "))
}

/// Most segments a segmented protocol may have, over all its cycles.
pub const MAX_SEGMENTS: usize = 1_000_000;

/// One `[[protocol.segment]]`: a hold (`duration_s`), a linear ramp (`b_final_t` with
/// `sweep_rate_t_per_s` or `duration_s`) or a piecewise-linear waveform (its points, as in
/// `[protocol]`, starting at the field where the segment starts), with the heat switch open
/// (`link_closed = false`, the default) or closed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentSection {
    /// "hold", "ramp" or "waveform".
    pub kind: String,
    /// Whether the heat link joins the sample to the bath during the segment (needs a link).
    #[serde(default)]
    pub link_closed: bool,
    /// Duration in s (a hold; or a ramp instead of its sweep rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
    /// Field at the end of a ramp, in T.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub b_final_t: Option<f64>,
    /// Sweep rate of a ramp, in T/s (> 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep_rate_t_per_s: Option<f64>,
    /// A waveform's corner times in s (the segment starts at the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waveform_time_s: Option<ValueList>,
    /// A waveform's fields at the corners, in T (the first the field where the segment starts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waveform_field_t: Option<ValueList>,
    /// A waveform from a two-column CSV file (in a config relative to the config's folder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waveform_csv: Option<std::path::PathBuf>,
}

impl SegmentSection {
    /// A segment of `kind` with the switch `link_closed` and no other key set.
    pub fn new(kind: &str, link_closed: bool) -> Self {
        SegmentSection {
            kind: kind.into(),
            link_closed,
            duration_s: None,
            b_final_t: None,
            sweep_rate_t_per_s: None,
            waveform_time_s: None,
            waveform_field_t: None,
            waveform_csv: None,
        }
    }

    /// A hold of `duration_s` seconds.
    pub fn hold(duration_s: f64, link_closed: bool) -> Self {
        SegmentSection {
            duration_s: Some(duration_s),
            ..Self::new("hold", link_closed)
        }
    }

    /// A linear ramp to `b_final_t` at `sweep_rate_t_per_s`.
    pub fn ramp(b_final_t: f64, sweep_rate_t_per_s: f64, link_closed: bool) -> Self {
        SegmentSection {
            b_final_t: Some(b_final_t),
            sweep_rate_t_per_s: Some(sweep_rate_t_per_s),
            ..Self::new("ramp", link_closed)
        }
    }
}

fn default_shape() -> RampShape {
    RampShape::Linear
}

impl ProtocolSection {
    /// A linear ramp `b_initial_t` -> `b_final_t` at `sweep_rate_t_per_s` from
    /// `initial_temperature_k`, every other key at its default.
    pub fn linear_ramp(
        b_initial_t: f64,
        b_final_t: f64,
        initial_temperature_k: f64,
        sweep_rate_t_per_s: f64,
    ) -> Self {
        Self {
            b_initial_t: Some(b_initial_t),
            b_final_t: Some(b_final_t),
            initial_temperature_k,
            sweep_rate_t_per_s: Some(sweep_rate_t_per_s),
            ramp_duration_s: None,
            shape: RampShape::Linear,
            jump: false,
            allow_field_increase: false,
            waveform_time_s: None,
            waveform_field_t: None,
            waveform_csv: None,
            segment: Vec::new(),
            cycles: None,
        }
    }

    /// The shape, with `--jump` folded in.
    pub fn effective_shape(&self) -> RampShape {
        if self.jump {
            RampShape::Jump
        } else {
            self.shape
        }
    }
}

/// `[solver]` / the solver flags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Args)]
#[serde(deny_unknown_fields)]
pub struct SolverSection {
    /// Relative tolerance of the integrator.
    #[serde(default = "default_rtol")]
    #[arg(long, default_value = "1e-10", allow_negative_numbers = true)]
    pub rtol: f64,
    /// Equilibrium tolerance on the phonon temperature, in K. In the two-well reduction
    /// equilibrium also needs the right-well occupation within 1e-9 of its equilibrium value,
    /// whatever this tolerance (at Bf = 0 the wells are degenerate and T settles first).
    #[serde(default = "default_eq_tol")]
    #[arg(long, default_value = "1e-9", allow_negative_numbers = true)]
    pub equilibrium_tol_k: f64,
    /// Stop this long after the ramp even without equilibrium, in s.
    #[serde(default = "default_max_time")]
    #[arg(
        long,
        alias = "max-time-s",
        default_value = "1e40",
        allow_negative_numbers = true
    )]
    pub max_time_after_ramp_s: f64,
    /// Which formulations the engine may use (auto: full master equation while intra-well
    /// modes are active, two-well reduction after; full: full equation throughout, a check).
    #[serde(default = "default_formulation")]
    #[arg(long, value_enum, default_value = "auto")]
    pub formulation: Formulation,
    /// Step limit of the integrator per stage (accepted and rejected steps); a stage that
    /// needs more fails the run (exit 1; `smmcool.SolverError` in Python). In 1..=1000000000.
    #[serde(default = "default_max_steps")]
    #[arg(long, default_value_t = default_max_steps(), value_parser = max_steps_arg)]
    pub max_steps: usize,
    /// A run whose energy balance |U(t) - U(0) - work + heat to the bath| exceeds this fraction
    /// of |U(0)| + |work| + |heat| at any sample fails (exit 1; `smmcool.SolverError` in
    /// Python). In [0, 1].
    #[serde(default = "default_energy_balance_tol")]
    #[arg(long, default_value = "1e-8", allow_negative_numbers = true)]
    pub energy_balance_tol_rel: f64,
    /// Largest allowed error estimate of the two-well reduction, relative to the run's
    /// temperature change: above it a reduced ramp is run again in the full master equation
    /// where that can carry it (outcome `ramp_formulation` = switched_to_full), else the run
    /// fails (exit 1; `smmcool.SolverError` in Python). In [0, 1].
    #[serde(default = "default_reduction_tol")]
    #[arg(long, default_value = "1e-3", allow_negative_numbers = true)]
    pub reduction_tol_rel: f64,
}

/// `--max-steps`: an integer, refused with the range `solver.max_steps` allows (checked
/// there too, where 0 and values above the limit are refused).
fn max_steps_arg(s: &str) -> Result<usize, String> {
    s.trim().parse().map_err(|_| {
        format!(
            "must be an integer in 1..={}",
            crate::kinetics::MAX_STEPS_LIMIT
        )
    })
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
fn default_max_steps() -> usize {
    EngineOptions::default().max_steps
}
fn default_energy_balance_tol() -> f64 {
    EngineOptions::default().energy_balance_tol_rel
}
fn default_reduction_tol() -> f64 {
    EngineOptions::default().reduction_tol_rel
}
fn default_formulation() -> Formulation {
    Formulation::Auto
}

impl Default for SolverSection {
    // The flags' defaults are written as text ("1e-10", "1e-9", "1e40") so that --help shows
    // them readably; `defaults_agree` in the tests checks they equal these.
    fn default() -> Self {
        Self {
            rtol: default_rtol(),
            equilibrium_tol_k: default_eq_tol(),
            max_time_after_ramp_s: default_max_time(),
            formulation: Formulation::Auto,
            max_steps: default_max_steps(),
            energy_balance_tol_rel: default_energy_balance_tol(),
            reduction_tol_rel: default_reduction_tol(),
        }
    }
}

/// A list of numbers: a TOML array, or on the command line a list or range as
/// [`crate::numerics::grid::parse_values`] reads it (`1e-3,1,3600`, `1:6:0.5`, `1e-3:1e3:log7`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ValueList(pub Vec<f64>);

impl std::str::FromStr for ValueList {
    type Err = crate::numerics::grid::GridError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        crate::numerics::grid::parse_values(s).map(ValueList)
    }
}

/// `--sample-times-after-ramp-s`: a list as [`ValueList`] reads it, or an empty text for no
/// samples, as `sample_times_after_ramp_s = []` in a config (one rule for both).
fn sample_times(s: &str) -> Result<ValueList, crate::numerics::grid::GridError> {
    if s.trim().is_empty() {
        Ok(ValueList(Vec::new()))
    } else {
        s.parse()
    }
}

/// `[output]` / the output flags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Args)]
#[serde(deny_unknown_fields)]
pub struct OutputSection {
    /// Times after the ramp at which to report the state, in s (an empty list, `''` on the
    /// command line, asks for none).
    #[serde(default = "default_samples")]
    #[arg(long, alias = "sample-times-s", default_value = "1e-3,1,3600", value_parser = sample_times)]
    pub sample_times_after_ramp_s: ValueList,
    /// Keep the trajectory (the ramp grid and the logarithmic grid after the ramp). Without it
    /// the engine integrates without the output grids, which only force integrator stops.
    #[serde(default = "default_true")]
    #[arg(skip = true)]
    pub trajectory: bool,
    /// Logarithmic output grid after the ramp, points per decade.
    #[serde(default = "default_ppd")]
    #[arg(long, default_value_t = default_ppd())]
    pub log_points_per_decade: u32,
}

fn default_samples() -> ValueList {
    ValueList(vec![1e-3, 1.0, 3600.0])
}
fn default_true() -> bool {
    true
}
fn default_ppd() -> u32 {
    EngineOptions::default().log_points_per_decade
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

/// `[sample]` / the sample flags: how much compound there is, and the addenda's heat
/// capacity. Needed only for a heat link or addenda (their SI values are divided by n R).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Args)]
#[serde(deny_unknown_fields)]
pub struct SampleSection {
    /// Amount of compound in the sample, in mol.
    #[arg(
        long = "sample-amount-mol",
        value_name = "MOL",
        id = "sample_amount_mol",
        allow_negative_numbers = true,
        conflicts_with = "sample_mass_mg"
    )]
    pub amount_mol: Option<f64>,
    /// Sample mass in mg (with the preset's molar mass; instead of the amount).
    #[arg(
        long = "sample-mass-mg",
        value_name = "MG",
        id = "sample_mass_mg",
        allow_negative_numbers = true
    )]
    pub mass_mg: Option<f64>,
    /// Addenda heat capacity gamma T + beta T^3: gamma in J/K^2.
    #[arg(
        long = "addenda-gamma-j-per-k2",
        value_name = "J_PER_K2",
        id = "addenda_gamma_j_per_k2",
        allow_negative_numbers = true
    )]
    pub addenda_gamma_j_per_k2: Option<f64>,
    /// Addenda heat capacity gamma T + beta T^3: beta in J/K^4.
    #[arg(
        long = "addenda-beta-j-per-k4",
        value_name = "J_PER_K4",
        id = "addenda_beta_j_per_k4",
        allow_negative_numbers = true
    )]
    pub addenda_beta_j_per_k4: Option<f64>,
}

/// `[link]` / the heat-link flags: a thermal link K(T) = K1 (T / 1 K)^n from the sample to a
/// bath. Off (K1 absent or 0) by default: the run is adiabatic.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Args)]
#[serde(deny_unknown_fields)]
pub struct LinkSection {
    /// Link conductance K1 at 1 K, in W/K (0: no link).
    #[arg(
        long = "link-conductance-w-per-k",
        value_name = "W_PER_K",
        id = "link_conductance_w_per_k",
        allow_negative_numbers = true
    )]
    pub conductance_w_per_k: Option<f64>,
    /// Exponent n of K(T) = K1 (T / 1 K)^n, in [0, 10] (default 0).
    #[arg(
        long = "link-exponent",
        value_name = "N",
        id = "link_exponent",
        allow_negative_numbers = true
    )]
    pub exponent: Option<f64>,
    /// Bath temperature in K (default: the initial temperature).
    #[arg(
        long = "bath-temperature-k",
        value_name = "K",
        id = "bath_temperature_k",
        allow_negative_numbers = true
    )]
    pub bath_temperature_k: Option<f64>,
}

impl SampleSection {
    /// Amount of compound in mol, if given (directly or as a mass with the preset's molar
    /// mass), validated.
    pub fn amount_mol(&self, preset: &str) -> Result<Option<f64>, ScenarioError> {
        let positive = |key: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(v)
            } else {
                Err(ScenarioError::new(
                    key,
                    Some(crate::units::number(v)),
                    "must be a finite number > 0",
                ))
            }
        };
        match (self.amount_mol, self.mass_mg) {
            (Some(a), Some(_)) => Err(ScenarioError::new(
                "sample.amount_mol",
                Some(crate::units::number(a)),
                "give either <sample.amount_mol> or <sample.mass_mg>, not both",
            )),
            (Some(a), None) => positive("sample.amount_mol", a).map(Some),
            (None, Some(m)) => {
                let m = positive("sample.mass_mg", m)?;
                let molar = crate::model::preset(preset)
                    .and_then(|p| p.molar_mass_g_per_mol)
                    .ok_or_else(|| {
                        ScenarioError::new(
                            "sample.mass_mg",
                            Some(crate::units::number(m)),
                            format!(
                                "the preset '{preset}' has no molar mass; give <sample.amount_mol> instead"
                            ),
                        )
                    })?;
                Ok(Some(m * 1e-3 / molar))
            }
            (None, None) => Ok(None),
        }
    }
}

/// Per-molecule value (units of k_B, or 1/s for a conductance) of an SI heat capacity or
/// conductance of a sample of `amount_mol` mol: divided by n R.
fn per_molecule(si: f64, amount_mol: f64) -> f64 {
    si / (amount_mol * crate::units::GAS_CONSTANT_J_PER_MOL_K)
}

/// The addenda's (gamma in 1/K, beta in 1/K^3) per molecule and the heat link, if any.
type Environment = (Option<(f64, f64)>, Option<crate::model::HeatLink>);

/// The addenda (gamma, beta) per molecule and the heat link of `sample` and `link`, validated;
/// `t_initial_k` is the bath's default temperature.
fn environment(
    sample: &SampleSection,
    link: &LinkSection,
    preset: &str,
    t_initial_k: f64,
) -> Result<Environment, ScenarioError> {
    let amount = sample.amount_mol(preset)?;
    let non_negative = |key: &str, v: Option<f64>| match v {
        Some(x) if !(x.is_finite() && x >= 0.0) => Err(ScenarioError::new(
            key,
            Some(crate::units::number(x)),
            "must be a finite number >= 0",
        )),
        _ => Ok(v.unwrap_or(0.0)),
    };
    let gamma = non_negative(
        "sample.addenda_gamma_j_per_k2",
        sample.addenda_gamma_j_per_k2,
    )?;
    let beta = non_negative("sample.addenda_beta_j_per_k4", sample.addenda_beta_j_per_k4)?;
    let k1 = non_negative("link.conductance_w_per_k", link.conductance_w_per_k)?;
    if link.conductance_w_per_k.is_none() {
        for (key, v) in [
            ("link.exponent", link.exponent),
            ("link.bath_temperature_k", link.bath_temperature_k),
        ] {
            if let Some(v) = v {
                return Err(ScenarioError::new(
                    key,
                    Some(crate::units::number(v)),
                    "needs a heat link: give <link.conductance_w_per_k>",
                ));
            }
        }
    }
    let exponent = link.exponent.unwrap_or(0.0);
    if !(exponent.is_finite() && (0.0..=crate::model::MAX_LINK_EXPONENT).contains(&exponent)) {
        return Err(ScenarioError::new(
            "link.exponent",
            Some(crate::units::number(exponent)),
            format!("must be in [0, {}]", crate::model::MAX_LINK_EXPONENT),
        ));
    }
    let bath = link.bath_temperature_k.unwrap_or(t_initial_k);
    if !(bath.is_finite() && bath > 0.0) {
        return Err(ScenarioError::new(
            "link.bath_temperature_k",
            Some(crate::units::number(bath)),
            "must be a finite temperature > 0 K",
        ));
    }
    let needs_amount = [
        ("link.conductance_w_per_k", k1),
        ("sample.addenda_gamma_j_per_k2", gamma),
        ("sample.addenda_beta_j_per_k4", beta),
    ]
    .into_iter()
    .find(|&(_, v)| v > 0.0);
    let Some(n) = amount else {
        if let Some((key, v)) = needs_amount {
            return Err(ScenarioError::new(
                key,
                Some(crate::units::number(v)),
                "a heat link or addenda need the sample amount: give <sample.amount_mol> or <sample.mass_mg>",
            ));
        }
        return Ok((None, None));
    };
    for (key, v) in [
        ("link.conductance_w_per_k", k1),
        ("sample.addenda_gamma_j_per_k2", gamma),
        ("sample.addenda_beta_j_per_k4", beta),
    ] {
        if !per_molecule(v, n).is_finite() {
            return Err(ScenarioError::new(
                key,
                Some(crate::units::number(v)),
                format!(
                    "divided by n R (n = {} mol) it is not a finite number per molecule",
                    crate::units::number(n)
                ),
            ));
        }
    }
    let addenda =
        (gamma > 0.0 || beta > 0.0).then(|| (per_molecule(gamma, n), per_molecule(beta, n)));
    let heat_link = if k1 > 0.0 {
        Some(
            crate::model::HeatLink::new(per_molecule(k1, n), exponent, bath).map_err(|e| {
                ScenarioError::new(
                    "link.conductance_w_per_k",
                    Some(crate::units::number(k1)),
                    format!(
                        "per molecule K1 / (n R) = {}: {}",
                        crate::units::number(e.value),
                        e.allowed
                    ),
                )
            })?,
        )
    } else {
        None
    };
    Ok((addenda, heat_link))
}

/// Everything one run needs, as the user gave it (before validation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scenario {
    /// Material preset and overrides.
    pub material: MaterialSection,
    /// Rate scaling.
    pub rates: RatesSection,
    /// Field protocol and initial state.
    pub protocol: ProtocolSection,
    /// Solver settings.
    pub solver: SolverSection,
    /// Outputs.
    pub output: OutputSection,
    /// Sample amount and addenda.
    #[serde(default)]
    pub sample: SampleSection,
    /// Heat link to a bath.
    #[serde(default)]
    pub link: LinkSection,
}

/// The parameters of one run, as used (after applying a sweep): what a batch file stores
/// beside each run's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunParams {
    /// Run index in the batch (the deterministic Cartesian-product order); 0 for a lone run.
    pub index: usize,
    /// Values of the swept keys, in sweep order: (key with unit, value).
    pub swept: Vec<(String, f64)>,
    /// Initial field, T.
    pub b_initial_t: f64,
    /// Final field, T.
    pub b_final_t: f64,
    /// Initial temperature, K.
    pub initial_temperature_k: f64,
    /// Mean sweep rate, T/s (`None` for a jump).
    pub sweep_rate_t_per_s: Option<f64>,
    /// Ramp duration, s (0 for a jump).
    pub ramp_duration_s: f64,
    /// Ramp shape: "linear", "cosine", "jump" or "waveform".
    pub shape: String,
    /// Points of the field waveform (0 for the other shapes).
    #[serde(default)]
    pub waveform_points: u64,
    /// Where the waveform's points came from: "inline" or the CSV file's path.
    #[serde(default)]
    pub waveform_source: Option<String>,
    /// The waveform's corner times, s since its first point (the run's clock, as a
    /// trajectory's `time_s`); for a segmented protocol the corners of all its segments; empty
    /// for the other shapes. A batch file stores them in `/waveforms/run_NNNNNN/time_s`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waveform_time_s: Vec<f64>,
    /// The field at each corner, T (`/waveforms/run_NNNNNN/field_t`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waveform_field_t: Vec<f64>,
}

/// A validated run: what the engine integrates and the parameters to store beside it.
#[derive(Debug, Clone)]
pub struct BuiltRun {
    /// Parameters (index 0 and no swept values; a batch fills those in).
    pub params: RunParams,
    /// The engine's input.
    pub spec: RunSpec,
}

/// One settable value: its names in every front end.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// TOML path, `section.key`, unit in the name.
    pub path: &'static str,
    /// Command-line flag.
    pub flag: &'static str,
    /// Earlier names that still work: old TOML paths (`section.key`) and the names the
    /// library's own checks use.
    pub old: &'static [&'static str],
    /// How a `[[sweep]]` sets it (`None`: not sweepable).
    pub sweep: Option<fn(&mut Scenario, f64)>,
}

impl Key {
    /// The last part of the path (the name the library uses in its errors).
    pub fn name(&self) -> &'static str {
        self.path.rsplit('.').next().unwrap_or(self.path)
    }

    /// The keyword argument of the Python API: the last part of the path, except `material`
    /// for the preset (as the flag `--material`).
    pub fn keyword(&self) -> &'static str {
        if self.path == "material.preset" {
            "material"
        } else {
            self.name()
        }
    }
}

macro_rules! key {
    ($path:literal => $flag:literal $(; old [$($old:literal),*])? $(; sweep $sec:ident . $field:ident $(: $wrap:ident)?)?) => {
        Key {
            path: $path,
            flag: $flag,
            old: &[$($($old),*)?],
            sweep: key!(@sweep $($sec $field $($wrap)?)?),
        }
    };
    (@sweep) => { None };
    (@sweep $sec:ident $field:ident) => {
        Some(|s: &mut Scenario, v: f64| s.$sec.$field = v)
    };
    (@sweep $sec:ident $field:ident $wrap:ident) => {
        Some(|s: &mut Scenario, v: f64| s.$sec.$field = $wrap(v))
    };
}

/// Every key of a scenario, in the order of the config sections.
#[rustfmt::skip]
pub const KEYS: &[Key] = &[
    key!("material.preset" => "--material"; old ["material"]),
    key!("material.spin" => "--spin"; sweep material.spin: Some),
    key!("material.d_cm1" => "--d-cm1"; sweep material.d_cm1: Some),
    key!("material.d_k" => "--d-k"; sweep material.d_k: Some),
    key!("material.g_par" => "--g-par"; sweep material.g_par: Some),
    key!("material.debye_temperature_k" => "--debye-temperature-k"; sweep material.debye_temperature_k: Some),
    key!("material.phonon_units" => "--phonon-units"; sweep material.phonon_units: Some),
    key!("material.tau0_s" => "--tau0-s"; sweep material.tau0_s: Some),
    key!("material.barrier_k" => "--barrier-k"; sweep material.barrier_k: Some),
    key!("material.b4_k" => "--b4-k"; sweep material.b4_k: Some),
    key!("material.c4_k" => "--c4-k"; sweep material.c4_k: Some),
    key!("material.e_k" => "--e-k"; sweep material.e_k: Some),
    key!("material.transverse_field_t" => "--transverse-field-t"; sweep material.transverse_field_t: Some),
    key!("material.misalignment_deg" => "--misalignment-deg"; sweep material.misalignment_deg: Some),
    key!("rates.kappa_scaling" => "--kappa-scaling"),
    key!("rates.kappa_reference_k" => "--kappa-reference-k"; sweep rates.kappa_reference_k: Some),
    key!("rates.kappa_per_s_k3" => "--kappa-per-s-k3"; sweep rates.kappa_per_s_k3: Some),
    key!("rates.kappa_calibration" => "--kappa-calibration"),
    key!("protocol.b_initial_t" => "--b-initial-t"; sweep protocol.b_initial_t: Some),
    key!("protocol.b_final_t" => "--b-final-t"; sweep protocol.b_final_t: Some),
    key!("protocol.initial_temperature_k" => "--initial-temperature-k";
        old ["protocol.t_initial_k", "t_initial_k"]; sweep protocol.initial_temperature_k),
    key!("protocol.sweep_rate_t_per_s" => "--sweep-rate-t-per-s"; sweep protocol.sweep_rate_t_per_s: Some),
    key!("protocol.ramp_duration_s" => "--ramp-duration-s"; sweep protocol.ramp_duration_s: Some),
    key!("protocol.shape" => "--shape"),
    key!("protocol.waveform_time_s" => "--waveform-time-s"),
    key!("protocol.waveform_field_t" => "--waveform-field-t"),
    key!("protocol.waveform_csv" => "--waveform-csv"),
    key!("protocol.segment" => "--segment"),
    key!("protocol.cycles" => "--cycles"),
    key!("solver.rtol" => "--rtol"; sweep solver.rtol),
    key!("solver.equilibrium_tol_k" => "--equilibrium-tol-k"; sweep solver.equilibrium_tol_k),
    key!("solver.max_time_after_ramp_s" => "--max-time-after-ramp-s"; sweep solver.max_time_after_ramp_s),
    key!("solver.formulation" => "--formulation"),
    key!("solver.max_steps" => "--max-steps"),
    key!("solver.energy_balance_tol_rel" => "--energy-balance-tol-rel"; sweep solver.energy_balance_tol_rel),
    key!("solver.reduction_tol_rel" => "--reduction-tol-rel"; sweep solver.reduction_tol_rel),
    key!("output.sample_times_after_ramp_s" => "--sample-times-after-ramp-s"),
    key!("output.trajectory" => "--trajectory"),
    key!("output.log_points_per_decade" => "--log-points-per-decade"),
    key!("sample.amount_mol" => "--sample-amount-mol"; sweep sample.amount_mol: Some),
    key!("sample.mass_mg" => "--sample-mass-mg"; sweep sample.mass_mg: Some),
    key!("sample.addenda_gamma_j_per_k2" => "--addenda-gamma-j-per-k2"; sweep sample.addenda_gamma_j_per_k2: Some),
    key!("sample.addenda_beta_j_per_k4" => "--addenda-beta-j-per-k4"; sweep sample.addenda_beta_j_per_k4: Some),
    key!("link.conductance_w_per_k" => "--link-conductance-w-per-k"; sweep link.conductance_w_per_k: Some),
    key!("link.exponent" => "--link-exponent"; sweep link.exponent: Some),
    key!("link.bath_temperature_k" => "--bath-temperature-k"; sweep link.bath_temperature_k: Some),
];

/// The key with TOML path `path` (or one of its old paths).
pub fn key(path: &str) -> Option<&'static Key> {
    KEYS.iter()
        .find(|k| k.path == path || (path.contains('.') && k.old.contains(&path)))
}

/// The key a library error names (`tau0_s`, `b_final_t`, `material`, ...), if it is a
/// scenario key. The Python API finds its keywords' keys here too.
pub fn key_of_library_name(name: &str) -> Option<&'static Key> {
    KEYS.iter()
        .find(|k| k.name() == name || (!name.contains('.') && k.old.contains(&name)))
}

/// The material keys an analytic command does not read: given to it, they would change
/// nothing, so the command line (`levels --tau0-s`) and the Python API (`levels(tau0_s=...)`)
/// refuse them, naming the key and this reason.
pub struct NoEffect {
    /// The command (`levels`, `tau`, `limits`, `resonances`).
    pub command: &'static str,
    /// Why the keys have no effect on it.
    pub why: &'static str,
    /// The TOML paths of the keys (see [`key`] for their flags and keywords).
    pub keys: &'static [&'static str],
}

/// See [`NoEffect`].
pub const NO_EFFECT: [NoEffect; 4] = [
    NoEffect {
        command: "levels",
        why: "the energy levels depend only on S, D and g",
        keys: &[
            "material.tau0_s",
            "material.barrier_k",
            "material.debye_temperature_k",
            "material.phonon_units",
        ],
    },
    NoEffect {
        command: "tau",
        why: "the relaxation time depends on the levels, tau0, U_b and kappa(T); the phonon heat capacity does not enter it",
        keys: &["material.debye_temperature_k", "material.phonon_units"],
    },
    NoEffect {
        command: "limits",
        why: "the sudden and isentropic limits are thermodynamic: no relaxation law enters them",
        keys: &["material.tau0_s", "material.barrier_k"],
    },
    NoEffect {
        command: "resonances",
        why: "the level crossings and tunnel splittings depend only on the spin Hamiltonian",
        keys: &[
            "material.tau0_s",
            "material.barrier_k",
            "material.debye_temperature_k",
            "material.phonon_units",
        ],
    },
];

impl NoEffect {
    /// The entry of `command`, if it has keys without effect.
    pub fn of(command: &str) -> Option<&'static NoEffect> {
        NO_EFFECT.iter().find(|n| n.command == command)
    }

    /// The refusal of key `path` given as `name` (a flag or a keyword) with `value`.
    pub fn message(&self, name: &str, value: f64) -> String {
        format!(
            "{name} = {} has no effect on `{}`: {}; remove it",
            crate::units::number(value),
            self.command,
            self.why
        )
    }
}

impl MaterialSection {
    /// The value given for the numeric material key `path` (`material.tau0_s`, ...).
    pub fn given(&self, path: &str) -> Option<f64> {
        match path {
            "material.spin" => self.spin,
            "material.d_cm1" => self.d_cm1,
            "material.d_k" => self.d_k,
            "material.g_par" => self.g_par,
            "material.debye_temperature_k" => self.debye_temperature_k,
            "material.phonon_units" => self.phonon_units,
            "material.tau0_s" => self.tau0_s,
            "material.barrier_k" => self.barrier_k,
            "material.b4_k" => self.b4_k,
            "material.c4_k" => self.c4_k,
            "material.e_k" => self.e_k,
            "material.transverse_field_t" => self.transverse_field_t,
            "material.misalignment_deg" => self.misalignment_deg,
            _ => None,
        }
    }
}

/// Highest temperature `smmcool tau` and the Python `tau` accept, K.
pub const MAX_TAU_TEMPERATURE_K: f64 = 1e4;

/// Why a temperature above [`MAX_TAU_TEMPERATURE_K`] is refused by `tau` (the rule of its
/// message, after "is not allowed: ").
pub fn tau_temperature_rule() -> String {
    format!(
        "must be in (0, {}] K (the giant-spin rate model describes cryogenic relaxation; its slow mode is not separated far above the barrier)",
        crate::units::number(MAX_TAU_TEMPERATURE_K)
    )
}

/// The keys of the spin Hamiltonian beyond the paper's Eq. 1 (docs/physics.md section 10).
pub const ANISOTROPY_KEYS: [&str; 5] = [
    "material.b4_k",
    "material.c4_k",
    "material.e_k",
    "material.transverse_field_t",
    "material.misalignment_deg",
];

/// The sweepable TOML paths of [`KEYS`] (besides them, [`SweepTarget`] takes
/// `protocol.cycles` and the numbers of one segment, `protocol.segment.K.NAME`).
pub fn sweepable_keys() -> impl Iterator<Item = &'static str> {
    KEYS.iter().filter(|k| k.sweep.is_some()).map(|k| k.path)
}

/// The numbers of one `[[protocol.segment]]` a sweep may set, as `protocol.segment.K.NAME`
/// with K the segment's 1-based position in the list (as the messages count segments).
pub const SEGMENT_SWEEP_NAMES: [&str; 3] = ["duration_s", "b_final_t", "sweep_rate_t_per_s"];

/// What one `[[sweep]]` axis sets.
#[derive(Debug, Clone, Copy)]
pub enum SweepTarget {
    /// A key of [`KEYS`] with a sweep setter.
    Key(&'static Key),
    /// `protocol.cycles`: an integer in 1..=[`MAX_CYCLES`].
    Cycles,
    /// A number of one segment: the segment's 0-based `index` and the number's name (one of
    /// [`SEGMENT_SWEEP_NAMES`]).
    Segment {
        /// Position in `[[protocol.segment]]`, from 0.
        index: usize,
        /// `duration_s`, `b_final_t` or `sweep_rate_t_per_s`.
        name: &'static str,
    },
}

/// Why a key that is not sweepable cannot be (`None`: not a key at all).
fn not_sweepable_reason(path: &str) -> Option<&'static str> {
    const WAVEFORM: &str = "a waveform is a list of points and an axis gives one number per run; write one config per waveform, or build the field from [[protocol.segment]] tables and sweep a segment's number (protocol.segment.K.duration_s, protocol.segment.K.b_final_t, protocol.segment.K.sweep_rate_t_per_s; K = 1 for the first segment)";
    const SEGMENTS: &str = "a list of segments; sweep one segment's number as protocol.segment.K.duration_s, protocol.segment.K.b_final_t or protocol.segment.K.sweep_rate_t_per_s (K = 1 for the first segment), or protocol.cycles";
    Some(match path {
        "protocol.waveform_time_s" | "protocol.waveform_field_t" => WAVEFORM,
        "protocol.waveform_csv" => "a file name, not a number; write one config per waveform file",
        "material.preset" | "protocol.shape" | "rates.kappa_scaling" | "rates.kappa_calibration"
        | "solver.formulation" => {
            "a choice by name, not a number; write one config per choice"
        }
        "protocol.segment" => SEGMENTS,
        "output.sample_times_after_ramp_s" => {
            "a list of times, the same for every run (they are the columns of sample_temperatures_k)"
        }
        "output.trajectory" => "true or false, the same for every run of a file",
        "solver.max_steps" | "output.log_points_per_decade" => {
            "an integer setting of the solver or the output, the same for every run"
        }
        _ => {
            let name = path
                .strip_prefix("protocol.segment.")?
                .split_once('.')
                .map_or("", |(_, n)| n);
            match name {
                "kind" => "a segment's kind is a name (hold, ramp, waveform), not a number; write one segment list per kind",
                "link_closed" => "a heat switch is true or false, not a number; write one segment list per switch setting",
                "waveform_time_s" | "waveform_field_t" | "waveform_csv" => WAVEFORM,
                _ => return None,
            }
        }
    })
}

impl SweepTarget {
    /// The target of the axis key `path` (old names of a key accepted), or why it cannot be
    /// swept.
    pub fn of(path: &str) -> Result<Self, String> {
        if let Some(k) = key(path) {
            if k.sweep.is_some() {
                return Ok(Self::Key(k));
            }
        }
        if path == "protocol.cycles" {
            return Ok(Self::Cycles);
        }
        let allowed = || {
            format!(
                "allowed: {}, protocol.cycles, protocol.segment.K.NAME (K = 1, 2, ... the segment; NAME one of {})",
                sweepable_keys().collect::<Vec<_>>().join(", "),
                SEGMENT_SWEEP_NAMES.join(", ")
            )
        };
        if let Some(why) = not_sweepable_reason(path) {
            return Err(format!("not a sweepable key: {why}"));
        }
        if let Some(rest) = path.strip_prefix("protocol.segment.") {
            let (k, name) = rest.split_once('.').unwrap_or((rest, ""));
            let index = k.parse::<usize>().ok().filter(|&k| k >= 1);
            let name = SEGMENT_SWEEP_NAMES.iter().find(|&&n| n == name);
            return match (index, name) {
                (Some(k), Some(name)) => Ok(Self::Segment { index: k - 1, name }),
                (None, _) => Err(format!(
                    "not a sweepable key: K in protocol.segment.K.NAME is the segment's position, 1 for the first; {}",
                    allowed()
                )),
                (_, None) => Err(format!(
                    "not a sweepable key: a segment's sweepable numbers are {}",
                    SEGMENT_SWEEP_NAMES.join(", ")
                )),
            };
        }
        Err(format!("not a sweepable key; {}", allowed()))
    }

    /// The key as plans and files name it: the current name of a key, segments from 1.
    pub fn path(&self) -> String {
        match self {
            Self::Key(k) => k.path.to_string(),
            Self::Cycles => "protocol.cycles".to_string(),
            Self::Segment { index, name } => format!("protocol.segment.{}.{name}", index + 1),
        }
    }

    /// Why `value` cannot be a value of this axis (checked when the plan is built; the ranges
    /// of the numbers are checked with each run).
    pub fn check_value(&self, value: f64) -> Result<(), String> {
        match self {
            Self::Cycles
                if !(value.fract() == 0.0 && (1.0..=MAX_CYCLES as f64).contains(&value)) =>
            {
                Err(format!(
                    "{}: must be an integer in 1..={MAX_CYCLES}",
                    crate::units::number(value)
                ))
            }
            _ => Ok(()),
        }
    }

    /// Why `scenario` cannot take this axis: a segment that is not there, or a value given
    /// in the section as well (the sweep would override it in every run). Keys of [`KEYS`]
    /// are checked where the config is parsed, with their line.
    pub fn check_base(&self, scenario: &Scenario) -> Result<(), String> {
        let given = match *self {
            Self::Key(_) => None,
            Self::Cycles => scenario.protocol.cycles.map(|c| c.to_string()),
            Self::Segment { index, name } => {
                let Some(seg) = scenario.protocol.segment.get(index) else {
                    return Err(format!(
                        "the protocol has {} segments ([[protocol.segment]] tables); K counts them from 1",
                        scenario.protocol.segment.len()
                    ));
                };
                let v = match name {
                    "duration_s" => seg.duration_s,
                    "b_final_t" => seg.b_final_t,
                    _ => seg.sweep_rate_t_per_s,
                };
                v.map(crate::units::number)
            }
        };
        match (given, self) {
            (Some(v), Self::Segment { index, name }) => Err(format!(
                "segment {} gives {name} = {v} as well, which the sweep would override in every run; give it in one place only",
                index + 1
            )),
            (Some(v), _) => Err(format!(
                "[protocol] gives cycles = {v} as well, which the sweep would override in every run; give it in one place only"
            )),
            (None, _) => Ok(()),
        }
    }

    /// Set the value of this axis in `scenario` (checked with [`SweepTarget::check_value`]
    /// and [`SweepTarget::check_base`]).
    pub fn set(&self, scenario: &mut Scenario, value: f64) {
        match *self {
            Self::Key(k) => {
                if let Some(set) = k.sweep {
                    set(scenario, value);
                }
            }
            Self::Cycles => scenario.protocol.cycles = Some(value as u64),
            Self::Segment { index, name } => {
                if let Some(seg) = scenario.protocol.segment.get_mut(index) {
                    let field = match name {
                        "duration_s" => &mut seg.duration_s,
                        "b_final_t" => &mut seg.b_final_t,
                        _ => &mut seg.sweep_rate_t_per_s,
                    };
                    *field = Some(value);
                }
            }
        }
    }
}

/// A scenario value that is not allowed. `key` is a TOML path (or a section name where the
/// rule concerns several keys); `allowed` may name other keys as `<section.key>`, which the
/// renderings spell as TOML keys or as flags.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("{} = {}: {}", self.key, self.value_text(), render(&self.allowed, Spelling::Toml))]
pub struct ScenarioError {
    /// TOML path of the offending key.
    pub key: String,
    /// The value as given (`None` where there is no single value, e.g. a missing key).
    pub value: Option<String>,
    /// What is allowed.
    pub allowed: String,
}

/// How a front end spells a key: as a TOML path, a command-line flag or a Python keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spelling {
    Toml,
    Flag,
    Keyword,
}

/// Spell the `<section.key>` references in `text` as TOML keys, flags or keywords.
fn render(text: &str, spelling: Spelling) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>') else {
            break;
        };
        let inner = &rest[open + 1..open + close];
        out.push_str(&rest[..open]);
        // Only `<section.key>` is a reference: a comparison such as "D < 0 with S >= 1" is text.
        let reference = inner == "protocol.shape = jump"
            || (inner.contains('.') && !inner.contains(char::is_whitespace));
        if !reference {
            out.push('<');
            rest = &rest[open + 1..];
            continue;
        }
        let spelled = match (inner, spelling) {
            ("protocol.shape = jump", Spelling::Flag) => "--jump".to_string(),
            ("protocol.shape = jump", Spelling::Toml) => "protocol.shape = \"jump\"".to_string(),
            ("protocol.shape = jump", Spelling::Keyword) => "shape=\"jump\"".to_string(),
            (path, Spelling::Flag) => key(path).map_or(path.to_string(), |k| k.flag.to_string()),
            (path, Spelling::Keyword) => {
                key(path).map_or(path.to_string(), |k| k.keyword().to_string())
            }
            (path, Spelling::Toml) => path.to_string(),
        };
        out.push_str(&spelled);
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

impl ScenarioError {
    fn new(key: &str, value: Option<String>, allowed: impl Into<String>) -> Self {
        Self {
            key: key.to_string(),
            value,
            allowed: allowed.into(),
        }
    }

    /// A library error as a scenario error: the key the library's name for the value maps to
    /// (`c4_k` -> `material.c4_k`), `fallback_key` otherwise.
    pub fn from_parameter(e: ParameterError, fallback_key: &str) -> Self {
        let key = key_of_library_name(&e.name).map_or(fallback_key, |k| k.path);
        Self::new(
            key,
            (!e.value.is_nan()).then(|| crate::units::number(e.value)),
            e.allowed,
        )
    }

    fn value_text(&self) -> &str {
        self.value.as_deref().unwrap_or("(missing)")
    }

    /// The flag this error names on the command line (a segment's key as `--segment NAME`).
    pub fn flag(&self) -> String {
        if let Some(name) = self.key.strip_prefix("protocol.segment.") {
            return format!("--segment {name}");
        }
        key(&self.key).map_or_else(
            || {
                format!(
                    "--{}",
                    self.key
                        .rsplit('.')
                        .next()
                        .unwrap_or(&self.key)
                        .replace('_', "-")
                )
            },
            |k| k.flag.to_string(),
        )
    }

    /// A required key that was not given: the messages read `key is required ...`.
    fn is_missing(&self) -> bool {
        self.value.is_none() && self.allowed.starts_with("required (no default)")
    }

    /// The message as the command line shows it: `--flag = value is not allowed: ...`.
    pub fn cli_message(&self) -> String {
        self.message_naming(&self.flag(), Spelling::Flag)
    }

    /// `name = value is not allowed: rule` (`name is required ...` for a missing key), the
    /// references of the rule spelled as `spelling`.
    fn message_naming(&self, name: &str, spelling: Spelling) -> String {
        let rule = render(&self.allowed, spelling);
        if self.is_missing() {
            return format!("{name} is {rule}");
        }
        let value = self
            .value
            .as_ref()
            .map_or(String::new(), |v| format!(" = {v}"));
        format!("{name}{value} is not allowed: {rule}")
    }

    /// The keyword this error names in the Python API (`b_final_t`, `material`, ...; a
    /// segment's key as `segment NAME`).
    pub fn keyword(&self) -> String {
        if let Some(name) = self.key.strip_prefix("protocol.segment.") {
            return format!("segment {name}");
        }
        key(&self.key).map_or_else(
            || self.key.rsplit('.').next().unwrap_or(&self.key).to_string(),
            |k| k.keyword().to_string(),
        )
    }

    /// The message as the Python API shows it: the command line's message with the keyword
    /// in place of the flag (`b_final_t = 7 is not allowed: ...`).
    pub fn keyword_message(&self) -> String {
        self.message_naming(&self.keyword(), Spelling::Keyword)
    }

    /// The message as a config file shows it, `context` following the key (e.g. the run of a
    /// sweep): `section.key (context) = value: ...`.
    pub fn toml_message(&self, context: &str) -> String {
        if self.is_missing() {
            return format!(
                "{}{context} is {}",
                self.key,
                render(&self.allowed, Spelling::Toml)
            );
        }
        format!(
            "{}{context} = {}: {}",
            self.key,
            self.value_text(),
            render(&self.allowed, Spelling::Toml)
        )
    }
}

impl MaterialSection {
    /// The validated material for `levels` and `limits` (a spectroscopic preset refused:
    /// [`Material::from_preset`]).
    /// A Hamiltonian key given to `levels` or `limits` (B4, C, E, Bx, the misalignment) is
    /// refused, naming it: they use the localized axial levels of Eq. 2.
    pub fn build(&self) -> Result<Material, ScenarioError> {
        for path in ANISOTROPY_KEYS {
            if let Some(v) = self.given(path).filter(|&v| v != 0.0) {
                return Err(ScenarioError::new(
                    path,
                    Some(crate::units::number(v)),
                    "is a term of the spin Hamiltonian beyond Eq. 1; `levels`, `limits` and the Python `levels`/`limits` use the localized axial levels and would ignore it. Use it with `smmcool simulate`, `run`, `resonances` or `tau` (in Python `simulate`, `resonances`, `tau` or `Material`)",
                ));
            }
        }
        self.build_with(Material::from_preset)
    }

    /// True when this section's Hamiltonian goes beyond the paper's Eq. 1: a spectroscopic
    /// preset (fourth-order or rhombic terms) or any key of [`ANISOTROPY_KEYS`] given.
    pub fn has_hamiltonian_terms(&self) -> bool {
        let preset = self.preset.as_deref().unwrap_or("mn12ac");
        crate::model::preset(preset).is_some_and(|p| !p.stevens.is_none())
            || ANISOTROPY_KEYS.iter().any(|k| self.given(k).is_some())
    }

    /// The material and spin-phonon rate model (of `rates`) of `smmcool tau` and the Python
    /// `tau`, with the spin Hamiltonian when it goes beyond Eq. 1
    /// ([`MaterialSection::has_hamiltonian_terms`]: the material's levels then carry B4,
    /// [`MaterialSection::build_with_hamiltonian`]); else the axial material of
    /// [`MaterialSection::build`]. [`crate::rates::tunnelling::FieldTau::new`] adds the
    /// tunnelling.
    pub fn tau_material(
        &self,
        rates: &RatesSection,
    ) -> Result<
        (
            Material,
            RateModel,
            Option<crate::model::tunnelling::SpinHamiltonian>,
        ),
        ScenarioError,
    > {
        let (mat, h) = if self.has_hamiltonian_terms() {
            let (mat, h) = self.build_with_hamiltonian()?;
            (mat, Some(h))
        } else {
            (self.build()?, None)
        };
        let plain = rates.build(&mat)?;
        Ok((mat, plain, h))
    }

    /// The spin Hamiltonian of `smmcool resonances` and the Python `resonances`, a spectrum
    /// only: any preset with the overrides of S, D and g and the anisotropy keys at any finite
    /// value (no kinetic range, unlike [`MaterialSection::build_with_hamiltonian`]); S >= 1.
    pub fn resonance_hamiltonian(
        &self,
    ) -> Result<crate::model::tunnelling::SpinHamiltonian, ScenarioError> {
        for path in ANISOTROPY_KEYS {
            if let Some(v) = self.given(path).filter(|v| !v.is_finite()) {
                return Err(ScenarioError::new(
                    path,
                    Some(crate::units::number(v)),
                    "must be a finite number",
                ));
            }
        }
        if let Some(s) = self.spin.filter(|&s| s < 1.0) {
            return Err(ScenarioError::new(
                "material.spin",
                Some(crate::units::number(s)),
                "resonances need an easy axis (D < 0) and S >= 1",
            ));
        }
        let o = crate::model::Overrides {
            spin: self.spin,
            d_cm1: self.d_cm1,
            d_k: self.d_k,
            g_par: self.g_par,
            ..crate::model::Overrides::default()
        };
        crate::model::tunnelling::SpinHamiltonian::from_preset(
            self.preset.as_deref().unwrap_or("mn12ac"),
            &o,
            &self.anisotropy(),
        )
        .map_err(|e| ScenarioError::from_parameter(e, "material.preset"))
    }

    /// The anisotropy overrides of this section (B4, C, E, Bx, misalignment).
    pub fn anisotropy(&self) -> AnisotropyOverrides {
        AnisotropyOverrides {
            b4_k: self.b4_k,
            c4_k: self.c4_k,
            e_k: self.e_k,
            transverse_field_t: self.transverse_field_t,
            misalignment_deg: self.misalignment_deg,
        }
    }

    /// The validated material with its full spin Hamiltonian (any preset, the anisotropy
    /// overrides applied: [`Material::with_hamiltonian`]), for `tau`.
    /// A value that is not finite (NaN, inf) is refused first, naming the key, with the message
    /// of [`Scenario::build`] (`simulate`), not a range rule that cannot show it.
    pub fn build_with_hamiltonian(
        &self,
    ) -> Result<(Material, crate::model::tunnelling::SpinHamiltonian), ScenarioError> {
        for key in KEYS {
            if let Some(v) = self.given(key.path).filter(|v| !v.is_finite()) {
                return Err(ScenarioError::new(
                    key.path,
                    Some(crate::units::number(v)),
                    "must be a finite number",
                ));
            }
        }
        let a = self.anisotropy();
        let mut h = None;
        let m = self.build_with(|key, o| {
            Material::with_hamiltonian(key, o, &a).map(|(m, hh)| {
                h = Some(hh);
                m
            })
        })?;
        Ok((m, h.expect("set with the material")))
    }

    /// The validated material for trajectories (any preset; a spectroscopic one, or one with
    /// C, E, Bx or a misalignment, with its tunnelling: [`Material::for_trajectories_with`]).
    pub fn build_for_trajectories(&self) -> Result<Material, ScenarioError> {
        let a = self.anisotropy();
        self.build_with(|key, o| Material::for_trajectories_with(key, o, &a))
    }

    fn build_with(
        &self,
        make: impl FnOnce(&str, &Overrides) -> Result<Material, ParameterError>,
    ) -> Result<Material, ScenarioError> {
        let name = self.preset.as_deref().unwrap_or("mn12ac");
        if crate::model::preset(name).is_none() {
            return Err(ScenarioError::new(
                "material.preset",
                Some(format!("\"{name}\"")),
                format!(
                    "unknown preset; known presets: {} (see `smmcool presets`)",
                    crate::model::PRESETS
                        .iter()
                        .map(|p| p.key)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        make(
            name,
            &Overrides {
                spin: self.spin,
                d_cm1: self.d_cm1,
                d_k: self.d_k,
                g_par: self.g_par,
                debye_temperature_k: self.debye_temperature_k,
                phonon_units: self.phonon_units,
                tau0_s: self.tau0_s,
                barrier_k: self.barrier_k,
            },
        )
        .map_err(|e| {
            let mut err = ScenarioError::from_parameter(e, "material.preset");
            // A rule about the preset or a pair of keys has no single number: show what was
            // given for the key it names.
            if err.value.is_none() {
                err.value = match err.key.as_str() {
                    "material.preset" => Some(format!("\"{name}\"")),
                    "material.d_cm1" => self.d_cm1.map(crate::units::number),
                    "material.d_k" => self.d_k.map(crate::units::number),
                    _ => None,
                };
            }
            err
        })
    }
}

impl RatesSection {
    /// The kappa scaling.
    pub fn scaling(&self) -> Result<KappaScaling, ScenarioError> {
        // A number the chosen scaling does not read would change nothing: refuse it.
        let unused = |key: &str, v: f64, why: &str| {
            Err(ScenarioError::new(
                key,
                Some(crate::units::number(v)),
                format!("has no effect with <rates.kappa_scaling> {why}; remove it or choose the scaling that uses it"),
            ))
        };
        match (self.kappa_scaling, self.kappa_reference_k, self.kappa_per_s_k3) {
            (ScalingName::Arrhenius, Some(v), _) => {
                return unused("rates.kappa_reference_k", v, "arrhenius (kappa(T) follows tau0 exp(U_b/T) at every T; the reference is read by constant)")
            }
            (ScalingName::Arrhenius, _, Some(v)) => {
                return unused("rates.kappa_per_s_k3", v, "arrhenius (kappa(T) follows tau0 exp(U_b/T) at every T; kappa is given only with absolute)")
            }
            (ScalingName::Constant, _, Some(v)) => {
                return unused("rates.kappa_per_s_k3", v, "constant (kappa is calibrated at the reference temperature; it is given only with absolute)")
            }
            (ScalingName::Absolute, Some(v), _) => {
                return unused("rates.kappa_reference_k", v, "absolute (kappa is given; the reference is read by constant)")
            }
            _ => {}
        }
        if self.kappa_scaling == ScalingName::Absolute
            && self.kappa_calibration == CalibrationName::WithTunnelling
        {
            return Err(ScenarioError::new(
                "rates.kappa_calibration",
                Some("\"with_tunnelling\"".into()),
                "has no effect with <rates.kappa_scaling> absolute (kappa is given, nothing is calibrated); remove it or choose arrhenius or constant",
            ));
        }
        Ok(match self.kappa_scaling {
            ScalingName::Arrhenius => KappaScaling::Arrhenius,
            ScalingName::Constant => KappaScaling::Constant {
                reference_k: self.kappa_reference_k.unwrap_or_else(default_kappa_reference),
            },
            ScalingName::Absolute => KappaScaling::Absolute {
                kappa_per_s_k3: self.kappa_per_s_k3.ok_or_else(|| {
                    ScenarioError::new(
                        "rates.kappa_per_s_k3",
                        None,
                        "required with <rates.kappa_scaling> absolute: a finite number > 0, in 1/(s K^3)",
                    )
                })?,
            },
        })
    }

    /// The validated spin-phonon rate model of `material` (the engine adds the tunnelling of a
    /// spectroscopic preset itself: [`Material::rate_model`]).
    pub fn build(&self, material: &Material) -> Result<RateModel, ScenarioError> {
        RateModel::new(material.spin, material.arrhenius, self.scaling()?)
            .map(|m| m.with_kappa_calibration(self.kappa_calibration.into()))
            .map_err(|e| ScenarioError::from_parameter(e, "rates.kappa_scaling"))
    }
}

/// A missing value: `key` is required (`what` says what it is).
fn missing(key: &str, what: &str) -> ScenarioError {
    ScenarioError::new(key, None, format!("required (no default): {what}"))
}

/// The waveform points of a two-column CSV file: (time_s, field_t) per row, separated by a
/// comma (or by spaces); blank lines and `#` comments skipped; a first line that is not two
/// numbers is a header. Returns the times, the fields and each point's 1-based row, or the
/// rule a row breaks.
pub fn read_waveform_csv(path: &std::path::Path) -> Result<WaveformRows, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot be read: {e}"))?;
    let mut rows = WaveformRows::default();
    let mut first = true;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = if line.contains(',') {
            line.split(',').map(str::trim).collect()
        } else {
            line.split_whitespace().collect()
        };
        let numbers: Vec<Option<f64>> = fields.iter().map(|f| f.parse::<f64>().ok()).collect();
        let header = first && numbers.iter().all(Option::is_none);
        first = false;
        if header {
            continue;
        }
        match numbers.as_slice() {
            [Some(t), Some(b)] => {
                rows.time_s.push(*t);
                rows.field_t.push(*b);
                rows.row.push(i + 1);
            }
            _ => {
                let shown: String = line.chars().take(60).collect();
                return Err(format!(
                    "row {}: '{shown}' is not two numbers (time_s, field_t) separated by a comma",
                    i + 1
                ));
            }
        }
    }
    Ok(rows)
}

/// The waveform of the points given as `lists` (times and fields, or a CSV file) under the
/// TOML paths `keys`, validated; `at` starts every message (which segment).
fn waveform_of(
    lists: (
        &Option<ValueList>,
        &Option<ValueList>,
        &Option<std::path::PathBuf>,
    ),
    [times, fields, csv]: [&str; 3],
    at_segment: &str,
) -> Result<Option<Waveform>, ScenarioError> {
    match lists {
            (None, None, None) => Ok(None),
            (Some(_), _, Some(path)) | (_, Some(_), Some(path)) => Err(ScenarioError::new(
                csv,
                Some(format!("\"{}\"", path.display())),
                format!(
                    "{at_segment}give the waveform either as <{times}> with <{fields}> or as <{csv}>, not both"
                ),
            )),
            (Some(_), None, None) => Err(missing(
                fields,
                format!("{at_segment}with <{times}>, the field at each time, in T").as_str(),
            )),
            (None, Some(_), None) => Err(missing(
                times,
                format!("{at_segment}with <{fields}>, the time of each field, in s").as_str(),
            )),
            (Some(t), Some(b), None) => Waveform::new(t.0.clone(), b.0.clone(), "inline")
                .map(Some)
                .map_err(|e| {
                    let key = match e.column {
                        WaveformColumn::Time => times,
                        WaveformColumn::Field => fields,
                    };
                    let at = e.point.map_or(String::new(), |k| {
                        format!("point {} of the waveform: ", k + 1)
                    });
                    ScenarioError::new(
                        key,
                        (!e.value.is_nan() || e.point.is_some())
                            .then(|| crate::units::number(e.value)),
                        format!("{at_segment}{at}{}", e.rule),
                    )
                }),
            (None, None, Some(path)) => {
                let shown = Some(format!("\"{}\"", path.display()));
                let rows = read_waveform_csv(path).map_err(|rule| {
                    ScenarioError::new(csv, shown.clone(), format!("{at_segment}{rule}"))
                })?;
                let source = path.display().to_string();
                let row = rows.row.clone();
                Waveform::new(rows.time_s, rows.field_t, source)
                    .map(Some)
                    .map_err(|e| {
                        let at = match e.point {
                            Some(k) => {
                                let column = match e.column {
                                    WaveformColumn::Time => "time_s",
                                    WaveformColumn::Field => "field_t",
                                };
                                format!(
                                    "row {} ({column} = {}): ",
                                    row[k],
                                    crate::units::number(e.value)
                                )
                            }
                            None => String::new(),
                        };
                        ScenarioError::new(
                            csv,
                            shown.clone(),
                            format!("{at_segment}{at}{}", e.rule),
                        )
                    })
            }
        }
}

/// "segment 2 (ramp): ", the start of a message about one `[[protocol.segment]]` (1-based).
fn segment_label(k: usize, kind: SegmentKind) -> String {
    format!("segment {k} ({}): ", kind.name())
}

/// How a ramp segment gives its duration.
#[derive(Debug, Clone, Copy)]
enum RampBy {
    Duration(f64),
    Rate(f64),
}

/// A segment's field, validated on its own (the field where it starts comes from the ones
/// before it).
#[derive(Debug, Clone)]
enum SegmentShape {
    Hold { duration_s: f64 },
    Ramp { b_final_t: f64, how: RampBy },
    Waveform(Waveform),
}

impl SegmentShape {
    fn kind(&self) -> SegmentKind {
        match self {
            Self::Hold { .. } => SegmentKind::Hold,
            Self::Ramp { .. } => SegmentKind::Ramp,
            Self::Waveform(_) => SegmentKind::Waveform,
        }
    }
}

impl SegmentSection {
    /// Its field, validated: the keys its kind needs, none it does not take, durations in
    /// range. `k` is its 1-based position in the list.
    fn shape(&self, k: usize) -> Result<SegmentShape, ScenarioError> {
        let kind = match self.kind.as_str() {
            "hold" => SegmentKind::Hold,
            "ramp" => SegmentKind::Ramp,
            "waveform" => SegmentKind::Waveform,
            other => {
                return Err(ScenarioError::new(
                    "protocol.segment.kind",
                    Some(format!("\"{other}\"")),
                    format!("segment {k}: the kind must be \"hold\", \"ramp\" or \"waveform\""),
                ))
            }
        };
        let at = segment_label(k, kind);
        let numbers = [
            ("protocol.segment.duration_s", self.duration_s),
            ("protocol.segment.b_final_t", self.b_final_t),
            (
                "protocol.segment.sweep_rate_t_per_s",
                self.sweep_rate_t_per_s,
            ),
        ];
        if let Some((key, Some(v))) = numbers
            .iter()
            .find(|(_, v)| v.is_some_and(|x| !x.is_finite()))
        {
            return Err(ScenarioError::new(
                key,
                Some(crate::units::number(*v)),
                format!("{at}must be a finite number"),
            ));
        }
        let takes: &[&str] = match kind {
            SegmentKind::Hold => &["protocol.segment.duration_s"],
            SegmentKind::Ramp => &[
                "protocol.segment.duration_s",
                "protocol.segment.b_final_t",
                "protocol.segment.sweep_rate_t_per_s",
            ],
            SegmentKind::Waveform => &[
                "protocol.segment.waveform_time_s",
                "protocol.segment.waveform_field_t",
                "protocol.segment.waveform_csv",
            ],
        };
        let given = [
            (
                "protocol.segment.duration_s",
                self.duration_s.map(crate::units::number),
            ),
            (
                "protocol.segment.b_final_t",
                self.b_final_t.map(crate::units::number),
            ),
            (
                "protocol.segment.sweep_rate_t_per_s",
                self.sweep_rate_t_per_s.map(crate::units::number),
            ),
            (
                "protocol.segment.waveform_time_s",
                self.waveform_time_s.as_ref().map(|_| "[...]".to_string()),
            ),
            (
                "protocol.segment.waveform_field_t",
                self.waveform_field_t.as_ref().map(|_| "[...]".to_string()),
            ),
            (
                "protocol.segment.waveform_csv",
                self.waveform_csv
                    .as_ref()
                    .map(|p| format!("\"{}\"", p.display())),
            ),
        ];
        if let Some((key, v)) = given
            .iter()
            .find(|(key, v)| v.is_some() && !takes.contains(key))
        {
            let name = key.rsplit('.').next().unwrap_or(key);
            return Err(ScenarioError::new(
                key,
                v.clone(),
                format!(
                    "{at}a {} segment takes no {name}; it takes {}",
                    kind.name(),
                    takes
                        .iter()
                        .map(|t| t.rsplit('.').next().unwrap_or(t))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        let duration = |d: f64| {
            if (MIN_DURATION_S..=MAX_DURATION_S).contains(&d) {
                Ok(d)
            } else {
                Err(ScenarioError::new(
                    "protocol.segment.duration_s",
                    Some(crate::units::number(d)),
                    format!("{at}must be in [{MIN_DURATION_S:e}, {MAX_DURATION_S:e}] s"),
                ))
            }
        };
        match kind {
            SegmentKind::Hold => {
                let d = self.duration_s.ok_or_else(|| {
                    missing(
                        "protocol.segment.duration_s",
                        &format!("{at}how long the field is held, in s"),
                    )
                })?;
                Ok(SegmentShape::Hold {
                    duration_s: duration(d)?,
                })
            }
            SegmentKind::Ramp => {
                let b_final_t = self.b_final_t.ok_or_else(|| {
                    missing(
                        "protocol.segment.b_final_t",
                        &format!("{at}the field at the end of the ramp, in T"),
                    )
                })?;
                let how = match (self.sweep_rate_t_per_s, self.duration_s) {
                    (Some(r), None) if r > 0.0 => RampBy::Rate(r),
                    (Some(r), None) => {
                        return Err(ScenarioError::new(
                            "protocol.segment.sweep_rate_t_per_s",
                            Some(crate::units::number(r)),
                            format!("{at}must be > 0 T/s"),
                        ))
                    }
                    (None, Some(d)) => RampBy::Duration(duration(d)?),
                    (rate, _) => {
                        return Err(ScenarioError::new(
                            "protocol.segment.sweep_rate_t_per_s",
                            rate.map(crate::units::number),
                            format!("{at}give exactly one of sweep_rate_t_per_s and duration_s"),
                        ))
                    }
                };
                Ok(SegmentShape::Ramp { b_final_t, how })
            }
            SegmentKind::Waveform => waveform_of(
                (
                    &self.waveform_time_s,
                    &self.waveform_field_t,
                    &self.waveform_csv,
                ),
                [
                    "protocol.segment.waveform_time_s",
                    "protocol.segment.waveform_field_t",
                    "protocol.segment.waveform_csv",
                ],
                &at,
            )?
            .map(SegmentShape::Waveform)
            .ok_or_else(|| {
                missing(
                    "protocol.segment.waveform_time_s",
                    &format!("{at}the waveform's points: waveform_time_s with waveform_field_t, or waveform_csv"),
                )
            }),
        }
    }
}

/// The points of a waveform file, with the row each came from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WaveformRows {
    /// Times, s.
    pub time_s: Vec<f64>,
    /// Fields, T.
    pub field_t: Vec<f64>,
    /// 1-based row of each point in the file.
    pub row: Vec<usize>,
}

impl ProtocolSection {
    /// The waveform's points, if given (inline lists or a CSV file), validated.
    pub fn waveform(&self) -> Result<Option<Waveform>, ScenarioError> {
        waveform_of(
            (
                &self.waveform_time_s,
                &self.waveform_field_t,
                &self.waveform_csv,
            ),
            [
                "protocol.waveform_time_s",
                "protocol.waveform_field_t",
                "protocol.waveform_csv",
            ],
            "",
        )
    }

    /// The protocol of a waveform: the keys that would set the ramp another way are refused.
    fn build_waveform(&self, waveform: Waveform) -> Result<Protocol, ScenarioError> {
        let first = waveform.field_t()[0];
        let last = waveform.field_t()[waveform.len() - 1];
        let sets = |what: &str| format!("a waveform sets {what}; remove it");
        let given = [
            (
                "protocol.b_initial_t",
                self.b_initial_t,
                sets(&format!(
                    "the initial field (its first point, {} T)",
                    crate::units::number(first)
                )),
            ),
            (
                "protocol.b_final_t",
                self.b_final_t,
                sets(&format!(
                    "the final field (its last point, {} T)",
                    crate::units::number(last)
                )),
            ),
            (
                "protocol.sweep_rate_t_per_s",
                self.sweep_rate_t_per_s,
                sets("dB/dt on each piece"),
            ),
            (
                "protocol.ramp_duration_s",
                self.ramp_duration_s,
                sets("the ramp duration (its last time less its first)"),
            ),
        ];
        if let Some((key, Some(v), why)) = given.iter().find(|(_, v, _)| v.is_some()) {
            return Err(ScenarioError::new(key, Some(crate::units::number(*v)), why));
        }
        match self.effective_shape() {
            RampShape::Linear | RampShape::Waveform => Ok(Protocol::with_waveform(waveform)),
            other => Err(ScenarioError::new(
                "protocol.shape",
                Some(format!("\"{}\"", format!("{other:?}").to_lowercase())),
                "a waveform is piecewise linear: leave <protocol.shape> out or set it to \"waveform\"",
            )),
        }
    }

    /// The protocol of a segmented run: the field through every segment, cycle after cycle,
    /// as one piecewise-linear waveform from `b_initial_t` at t = 0, and each segment's heat
    /// switch. The keys that would set the ramp another way are refused.
    fn build_segments(&self) -> Result<Protocol, ScenarioError> {
        let sets = "segments set the field after b_initial_t; remove it";
        let given = [
            ("protocol.b_final_t", self.b_final_t),
            ("protocol.sweep_rate_t_per_s", self.sweep_rate_t_per_s),
            ("protocol.ramp_duration_s", self.ramp_duration_s),
        ];
        if let Some((key, Some(v))) = given.iter().find(|(_, v)| v.is_some()) {
            return Err(ScenarioError::new(
                key,
                Some(crate::units::number(*v)),
                sets,
            ));
        }
        let lists = [
            ("protocol.waveform_time_s", self.waveform_time_s.is_some()),
            ("protocol.waveform_field_t", self.waveform_field_t.is_some()),
            ("protocol.waveform_csv", self.waveform_csv.is_some()),
        ];
        if let Some((key, _)) = lists.iter().find(|(_, v)| *v) {
            return Err(ScenarioError::new(
                key,
                None,
                "segments set the field: give a waveform as a segment of kind \"waveform\"",
            ));
        }
        if self.effective_shape() != RampShape::Linear {
            return Err(ScenarioError::new(
                "protocol.shape",
                Some(format!(
                    "\"{}\"",
                    format!("{:?}", self.effective_shape()).to_lowercase()
                )),
                "segments set the shape of each piece: leave <protocol.shape> out",
            ));
        }
        let b0 = self.b_initial_t.ok_or_else(|| {
            missing(
                "protocol.b_initial_t",
                "the field at the start of the first segment, in T",
            )
        })?;
        let cycles = self.cycles.unwrap_or(1);
        if !(1..=MAX_CYCLES).contains(&cycles) {
            return Err(ScenarioError::new(
                "protocol.cycles",
                Some(cycles.to_string()),
                format!("must be in 1..={MAX_CYCLES}"),
            ));
        }
        let total = self.segment.len().saturating_mul(cycles as usize);
        if total > MAX_SEGMENTS {
            return Err(ScenarioError::new(
                "protocol.cycles",
                Some(cycles.to_string()),
                format!(
                    "{} segments times {cycles} cycles = {total} segments: at most {MAX_SEGMENTS}",
                    self.segment.len()
                ),
            ));
        }
        // Each segment's waveform, read once.
        let mut shapes = Vec::with_capacity(self.segment.len());
        for (i, seg) in self.segment.iter().enumerate() {
            shapes.push(seg.shape(i + 1)?);
        }
        let (mut times, mut fields) = (vec![0.0], vec![b0]);
        let mut list = Vec::with_capacity(total);
        for cycle in 0..cycles as usize {
            for (i, shape) in shapes.iter().enumerate() {
                let (t0, b) = (times[times.len() - 1], fields[fields.len() - 1]);
                let at = segment_label(i + 1, shape.kind());
                let before = times.len();
                match shape {
                    SegmentShape::Hold { duration_s } => {
                        times.push(t0 + duration_s);
                        fields.push(b);
                    }
                    SegmentShape::Ramp { b_final_t, how } => {
                        let d = match *how {
                            RampBy::Duration(d) => d,
                            RampBy::Rate(r) => (b_final_t - b).abs() / r,
                        };
                        if !(MIN_DURATION_S..=MAX_DURATION_S).contains(&d) {
                            let (key, v) = match *how {
                                RampBy::Duration(d) => ("protocol.segment.duration_s", d),
                                RampBy::Rate(r) => ("protocol.segment.sweep_rate_t_per_s", r),
                            };
                            return Err(ScenarioError::new(
                                key,
                                Some(crate::units::number(v)),
                                format!(
                                    "{at}the ramp from {} T to {} T (cycle {}) would last {} s: must be in [{MIN_DURATION_S:e}, {MAX_DURATION_S:e}] s (a ramp that does not change the field is a hold)",
                                    crate::units::number(b),
                                    crate::units::number(*b_final_t),
                                    cycle + 1,
                                    crate::units::number(d)
                                ),
                            ));
                        }
                        times.push(t0 + d);
                        fields.push(*b_final_t);
                    }
                    SegmentShape::Waveform(w) => {
                        let first = w.field_t()[0];
                        if (first - b).abs() > 1e-9 {
                            return Err(ScenarioError::new(
                                "protocol.segment.waveform_field_t",
                                Some(crate::units::number(first)),
                                format!(
                                    "{at}the waveform starts at {} T but the field at the start of the segment (cycle {}) is {} T: the field is continuous; start the waveform there",
                                    crate::units::number(first),
                                    cycle + 1,
                                    crate::units::number(b)
                                ),
                            ));
                        }
                        for (t, f) in w.time_s().iter().zip(w.field_t()).skip(1) {
                            times.push(t0 + t);
                            fields.push(*f);
                        }
                    }
                }
                list.push((
                    shape.kind(),
                    cycle,
                    i,
                    self.segment[i].link_closed,
                    times.len() - before,
                ));
            }
        }
        let waveform = Waveform::new(times, fields, "segments").map_err(|e| {
            ScenarioError::new(
                "protocol.segment",
                Some(crate::units::number(e.value)),
                format!("the segments together: {}", e.rule),
            )
        })?;
        Protocol::with_segments(waveform, &list)
            .map_err(|e| ScenarioError::from_parameter(e, "protocol.segment"))
    }

    /// The validated field protocol (any direction: field increases and reversals are
    /// physics too).
    pub fn build(&self) -> Result<Protocol, ScenarioError> {
        let p = self;
        if !(p.initial_temperature_k.is_finite() && p.initial_temperature_k > 0.0) {
            return Err(ScenarioError::new(
                "protocol.initial_temperature_k",
                Some(crate::units::number(p.initial_temperature_k)),
                "must be a finite temperature > 0 K",
            ));
        }
        if !self.segment.is_empty() {
            return self.build_segments();
        }
        if let Some(n) = self.cycles {
            return Err(ScenarioError::new(
                "protocol.cycles",
                Some(n.to_string()),
                "cycles repeat a list of segments: give them as [[protocol.segment]]",
            ));
        }
        if let Some(w) = self.waveform()? {
            return self.build_waveform(w);
        }
        let shape = p.effective_shape();
        if shape == RampShape::Waveform {
            return Err(ScenarioError::new(
                "protocol.shape",
                Some("\"waveform\"".into()),
                "needs the waveform's points: <protocol.waveform_time_s> with <protocol.waveform_field_t>, or <protocol.waveform_csv>",
            ));
        }
        let or_waveform = "or a waveform (<protocol.waveform_time_s> with <protocol.waveform_field_t>, or <protocol.waveform_csv>)";
        let b_initial_t = p.b_initial_t.ok_or_else(|| {
            missing(
                "protocol.b_initial_t",
                &format!("the field at the start of the ramp, in T, {or_waveform}"),
            )
        })?;
        let b_final_t = p.b_final_t.ok_or_else(|| {
            missing(
                "protocol.b_final_t",
                &format!("the field at the end of the ramp, in T, {or_waveform}"),
            )
        })?;
        let both = "give exactly one of <protocol.sweep_rate_t_per_s>, <protocol.ramp_duration_s> or <protocol.shape = jump>";
        let protocol = match (shape, p.sweep_rate_t_per_s, p.ramp_duration_s) {
            (RampShape::Jump, None, None) => Protocol::jump(b_initial_t, b_final_t),
            (RampShape::Jump, rate, duration) => {
                let (key, v) = match rate {
                    Some(r) => ("protocol.sweep_rate_t_per_s", r),
                    None => ("protocol.ramp_duration_s", duration.unwrap_or(f64::NAN)),
                };
                return Err(ScenarioError::new(
                    key,
                    Some(crate::units::number(v)),
                    format!("{both}: a jump takes no sweep rate and no duration"),
                ));
            }
            (shape, Some(r), None) => Protocol::with_sweep_rate(b_initial_t, b_final_t, r, shape),
            (shape, None, Some(d)) => Protocol::with_duration(b_initial_t, b_final_t, d, shape),
            (_, None, None) => {
                return Err(ScenarioError::new(
                    "protocol.sweep_rate_t_per_s",
                    None,
                    both,
                ))
            }
            (_, Some(r), Some(_)) => {
                return Err(ScenarioError::new(
                    "protocol.sweep_rate_t_per_s",
                    Some(crate::units::number(r)),
                    both,
                ))
            }
        };
        protocol.map_err(|e| ScenarioError::from_parameter(e, "protocol.b_initial_t"))
    }
}

impl OutputSection {
    /// Check the sample times and the grid density.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        if let Some(&s) = self
            .sample_times_after_ramp_s
            .0
            .iter()
            .find(|s| !(s.is_finite() && **s >= 0.0))
        {
            return Err(ScenarioError::new(
                "output.sample_times_after_ramp_s",
                Some(crate::units::number(s)),
                "times after the ramp must be finite and >= 0 s",
            ));
        }
        if self.log_points_per_decade > 100 {
            return Err(ScenarioError::new(
                "output.log_points_per_decade",
                Some(self.log_points_per_decade.to_string()),
                "must be in 0..=100",
            ));
        }
        Ok(())
    }
}

impl Scenario {
    /// A scenario with default material, rates, solver and outputs.
    pub fn new(protocol: ProtocolSection) -> Self {
        Self {
            material: MaterialSection::default(),
            rates: RatesSection::default(),
            protocol,
            solver: SolverSection::default(),
            output: OutputSection::default(),
            sample: SampleSection::default(),
            link: LinkSection::default(),
        }
    }

    /// The first rule of every numeric key: a finite number.
    fn check_finite(&self) -> Result<(), ScenarioError> {
        let Ok(toml::Value::Table(sections)) = toml::Value::try_from(self) else {
            return Ok(());
        };
        for key in KEYS {
            let (section, name) = key.path.split_once('.').unwrap_or(("", key.path));
            if let Some(toml::Value::Float(v)) = sections.get(section).and_then(|s| s.get(name)) {
                if !v.is_finite() {
                    return Err(ScenarioError::new(
                        key.path,
                        Some(crate::units::number(*v)),
                        "must be a finite number",
                    ));
                }
            }
        }
        Ok(())
    }

    /// The summary of a lone run of this scenario, as `smmcool simulate --json` and the Python
    /// `Run` report it: the summary quantities of the one table (as in batch files) without
    /// the batch's `run_index`, `swept` and `error`, then the material's name, its spin
    /// Hamiltonian record, this scenario and the sample times. `spec` is the engine input
    /// this scenario built, `record` its run's record.
    pub fn lone_run_summary(
        &self,
        spec: &RunSpec,
        record: &crate::results::RunRecord,
    ) -> serde_json::Result<serde_json::Map<String, serde_json::Value>> {
        let mut v = record.summary_json();
        v.remove("run_index");
        v.remove("swept");
        v.remove("error");
        v.insert("material".into(), spec.material.name.clone().into());
        v.insert(
            "hamiltonian".into(),
            serde_json::to_value(spec.material.hamiltonian.record())?,
        );
        v.insert("scenario".into(), serde_json::to_value(self)?);
        v.insert(
            "sample_times_after_ramp_s".into(),
            serde_json::to_value(&spec.options.sample_times_after_ramp_s)?,
        );
        Ok(v)
    }

    /// Validate everything and build the engine's input: the one road from user input to a run.
    pub fn build(&self) -> Result<BuiltRun, ScenarioError> {
        self.check_finite()?;
        self.output.validate()?;
        let limit = self.solver.max_time_after_ramp_s;
        if let Some(&s) = self
            .output
            .sample_times_after_ramp_s
            .0
            .iter()
            .find(|&&s| s > limit)
        {
            return Err(ScenarioError::new(
                "output.sample_times_after_ramp_s",
                Some(crate::units::number(s)),
                format!(
                    "a requested sample lies beyond <solver.max_time_after_ramp_s> = {} s, where the run stops; lower the sample time or raise the limit",
                    crate::units::number(limit)
                ),
            ));
        }
        let mut material = self.material.build_for_trajectories()?;
        let scaling = self.rates.scaling()?;
        let protocol = self.protocol.build()?;
        let (addenda, link) = environment(
            &self.sample,
            &self.link,
            self.material.preset.as_deref().unwrap_or("mn12ac"),
            self.protocol.initial_temperature_k,
        )?;
        if link.is_none() {
            if let Some(k) = self.protocol.segment.iter().position(|s| s.link_closed) {
                return Err(ScenarioError::new(
                    "protocol.segment.link_closed",
                    Some("true".into()),
                    format!(
                        "segment {}: the heat switch closes a link that is not there: give <link.conductance_w_per_k> > 0, or leave link_closed out (open)",
                        k + 1
                    ),
                ));
            }
        }
        if let Some((gamma, beta)) = addenda {
            material.debye = material.debye.with_addenda(gamma, beta).map_err(|e| {
                ScenarioError::new(
                    "sample.addenda_gamma_j_per_k2",
                    Some(crate::units::number(e.value)),
                    e.allowed,
                )
            })?;
        }
        let o = &self.output;
        let options = EngineOptions {
            rtol: self.solver.rtol,
            equilibrium_tol_k: self.solver.equilibrium_tol_k,
            max_time_after_ramp_s: self.solver.max_time_after_ramp_s,
            sample_times_after_ramp_s: o.sample_times_after_ramp_s.0.clone(),
            // Without stored trajectories the output grids would only force integrator stops:
            // the summary (samples, equilibrium, relaxation times) does not depend on them.
            log_points_per_decade: if o.trajectory {
                o.log_points_per_decade
            } else {
                0
            },
            ramp_points: if o.trajectory {
                EngineOptions::default().ramp_points
            } else {
                1
            },
            formulation: self.solver.formulation,
            max_steps: self.solver.max_steps,
            energy_balance_tol_rel: self.solver.energy_balance_tol_rel,
            reduction_tol_rel: self.solver.reduction_tol_rel,
            ..Default::default()
        };
        let spec = RunSpec::new(
            material,
            protocol.clone(),
            self.protocol.initial_temperature_k,
        )
        .with_scaling(scaling)
        .with_kappa_calibration(self.rates.kappa_calibration.into())
        .with_options(options)
        .with_link(link);
        let rates = self.rates.build(&spec.material)?;
        crate::kinetics::validate(&spec, &rates).map_err(|e| match e {
            // A field of a waveform file: name the file and the row.
            // A field of the segments: name the segment.
            crate::kinetics::EngineError::Parameter(pe)
                if pe.name == "waveform_field_t" && !self.protocol.segment.is_empty() =>
            {
                let rule = pe.allowed.split_once(": ").map_or(pe.allowed.as_str(), |(_, r)| r);
                let at = protocol
                    .segments()
                    .and_then(|seg| {
                        let w = protocol.waveform()?;
                        let k = w.field_t().iter().position(|b| b.to_bits() == pe.value.to_bits())?;
                        let s = &seg.list()[seg.of_piece(k.saturating_sub(1))];
                        Some(format!(
                            "segment {} ({}) of cycle {} reaches {} T: ",
                            s.index_in_cycle + 1,
                            s.kind.name(),
                            s.cycle + 1,
                            crate::units::number(pe.value)
                        ))
                    })
                    .unwrap_or_default();
                ScenarioError::new(
                    "protocol.segment",
                    Some(crate::units::number(pe.value)),
                    format!("{at}{rule}"),
                )
            }
            crate::kinetics::EngineError::Parameter(pe)
                if pe.name == "waveform_field_t" && self.protocol.waveform_csv.is_some() =>
            {
                let path = self.protocol.waveform_csv.clone().unwrap_or_default();
                let row = read_waveform_csv(&path).ok().and_then(|r| {
                    let k = r.field_t.iter().position(|b| b.to_bits() == pe.value.to_bits())?;
                    r.row.get(k).copied()
                });
                let rule = pe.allowed.split_once(": ").map_or(pe.allowed.as_str(), |(_, r)| r);
                let at = row.map_or(String::new(), |r| format!("row {r} "));
                ScenarioError::new(
                    "protocol.waveform_csv",
                    Some(format!("\"{}\"", path.display())),
                    format!("{at}(field_t = {}): {rule}", crate::units::number(pe.value)),
                )
            }
            crate::kinetics::EngineError::Parameter(pe)
            | crate::kinetics::EngineError::Numerics(crate::error::NumericsError::Parameter(pe)) => {
                let mut err = ScenarioError::from_parameter(pe, "protocol.initial_temperature_k");
                // No easy axis: name what the user gave (S below 1, or D in cm^-1), not the
                // D in K derived from it.
                if err.key == "material.d_k" && self.material.d_k.is_none() {
                    let m = &self.material;
                    let given = match (m.spin, m.d_cm1) {
                        (Some(s), _) if s < 1.0 => Some(("material.spin", s)),
                        (_, Some(d)) => Some(("material.d_cm1", d)),
                        _ => None,
                    };
                    if let Some((key, v)) = given {
                        err.key = key.to_string();
                        err.value = Some(crate::units::number(v));
                    }
                }
                err
            }
            crate::kinetics::EngineError::Numerics(
                crate::error::NumericsError::RateUnderflow { temperature_k, .. },
            ) => {
                // The material decides the underflow as much as the temperature: blame the
                // material value the user changed, if any.
                let m = &self.material;
                let spin = &spec.material.spin;
                let barrier = spin.d_k().abs() * spin.spin() * spin.spin();
                let given = [
                    ("material.spin", m.spin),
                    ("material.d_k", m.d_k),
                    ("material.d_cm1", m.d_cm1),
                    ("material.barrier_k", m.barrier_k),
                    ("material.tau0_s", m.tau0_s),
                ];
                let why = format!(
                    "with S = {} and D = {} K (anisotropy barrier |D| S^2 = {} K) the slowest relaxation rate underflows at T = {} K",
                    crate::units::number(spin.spin()),
                    crate::units::number(spin.d_k()),
                    crate::units::number(barrier),
                    crate::units::number(temperature_k)
                );
                match given.iter().find(|(_, v)| v.is_some()) {
                    Some((key, Some(v))) => ScenarioError::new(
                        key,
                        Some(crate::units::number(*v)),
                        format!("{why}; choose a smaller barrier or a higher <protocol.initial_temperature_k>"),
                    ),
                    _ => ScenarioError::new(
                        "protocol.initial_temperature_k",
                        Some(crate::units::number(self.protocol.initial_temperature_k)),
                        format!("{why}; for Mn12-like barriers use T >= 0.3 K"),
                    ),
                }
            }
            other => ScenarioError::new(
                "protocol.initial_temperature_k",
                Some(crate::units::number(self.protocol.initial_temperature_k)),
                other.to_string(),
            ),
        })?;
        let params = RunParams {
            index: 0,
            swept: Vec::new(),
            b_initial_t: protocol.b_initial_t(),
            b_final_t: protocol.b_final_t(),
            initial_temperature_k: self.protocol.initial_temperature_k,
            // A waveform has a rate per piece, not one sweep rate.
            sweep_rate_t_per_s: (protocol.duration_s() > 0.0 && protocol.waveform().is_none())
                .then(|| protocol.mean_rate_t_per_s()),
            ramp_duration_s: protocol.duration_s(),
            shape: if protocol.segments().is_some() {
                "segments".to_string()
            } else {
                format!("{:?}", protocol.shape()).to_lowercase()
            },
            waveform_points: protocol.waveform().map_or(0, |w| w.len() as u64),
            waveform_source: protocol.waveform().map(|w| w.source().to_string()),
            waveform_time_s: protocol
                .waveform()
                .map_or_else(Vec::new, |w| w.time_s().to_vec()),
            waveform_field_t: protocol
                .waveform()
                .map_or_else(Vec::new, |w| w.field_t().to_vec()),
        };
        Ok(BuiltRun { params, spec })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_names_a_unique_path_and_flag() {
        for (i, a) in KEYS.iter().enumerate() {
            assert!(a.flag.starts_with("--"), "{}", a.path);
            for b in &KEYS[i + 1..] {
                assert_ne!(a.path, b.path);
                assert_ne!(a.flag, b.flag);
                assert_ne!(a.keyword(), b.keyword());
            }
            // A keyword finds its own key (the Python API's lookup).
            assert_eq!(
                key_of_library_name(a.keyword()).map(|k| k.path),
                Some(a.path)
            );
        }
    }

    /// `RunSpec::new` (the engine's shorthand in tests, benches and the preset tables) takes
    /// the defaults of a scenario: scaling, calibration, engine settings and no link.
    #[test]
    fn run_spec_new_has_the_scenario_defaults() {
        let built = Scenario::new(ProtocolSection::linear_ramp(0.5, 0.1, 3.0, 10.0))
            .build()
            .unwrap()
            .spec;
        let new = RunSpec::new(
            Material::for_trajectories("mn12ac", &crate::model::Overrides::default()).unwrap(),
            crate::model::protocol::Protocol::with_sweep_rate(
                0.5,
                0.1,
                10.0,
                crate::model::protocol::RampShape::Linear,
            )
            .unwrap(),
            3.0,
        );
        assert_eq!(format!("{built:?}"), format!("{new:?}"));
    }

    #[test]
    #[allow(clippy::float_cmp)] // the same defaults, exactly
    fn defaults_agree() {
        use clap::Parser;
        #[derive(Parser)]
        struct Flags {
            #[command(flatten)]
            solver: SolverSection,
        }
        let parsed = Flags::try_parse_from(["x"]).unwrap().solver;
        let d = SolverSection::default();
        assert_eq!(parsed.rtol, d.rtol);
        assert_eq!(parsed.equilibrium_tol_k, d.equilibrium_tol_k);
        assert_eq!(parsed.max_time_after_ramp_s, d.max_time_after_ramp_s);
        assert_eq!(parsed.max_steps, d.max_steps);
        assert_eq!(parsed.energy_balance_tol_rel, d.energy_balance_tol_rel);
        assert_eq!(parsed.reduction_tol_rel, d.reduction_tol_rel);
    }

    #[test]
    fn references_render_as_keys_or_flags() {
        let t = "give <protocol.sweep_rate_t_per_s> or <protocol.shape = jump>";
        assert_eq!(
            render(t, Spelling::Flag),
            "give --sweep-rate-t-per-s or --jump"
        );
        assert_eq!(
            render(t, Spelling::Toml),
            "give protocol.sweep_rate_t_per_s or protocol.shape = \"jump\""
        );
        assert_eq!(
            render(t, Spelling::Keyword),
            "give sweep_rate_t_per_s or shape=\"jump\""
        );
    }
}
