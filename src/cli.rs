//! Command-line arguments: parsed into validated values before any work starts.

use clap::{Args, Parser, Subcommand, ValueEnum};
use smmcool::grid::parse_values;
use smmcool::model::{Material, Overrides};
use smmcool::rates::{KappaScaling, RateModel};

/// Non-equilibrium magnetic cooling of single-molecule magnets: levels, relaxation times and the
/// sudden-quench and isentropic limits of a field change (Palii et al., Dalton Trans. 2026).
#[derive(Debug, Parser)]
#[command(name = "smmcool", version, about, long_about = None)]
pub struct Cli {
    /// What to compute.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Energy levels E_M(B) relative to the ground level (the paper's Fig. 2).
    Levels(LevelsArgs),
    /// Relaxation time tau(T): Arrhenius law and the scaled rate matrix, and T_max (Fig. 3).
    Tau(TauArgs),
    /// Final temperatures of the sudden quench (Eq. 9) and the isentropic process (Eq. 11).
    Limits(LimitsArgs),
    /// One run in the time domain: a field ramp (or jump) and the relaxation after it.
    Simulate(SimulateArgs),
    /// Check a batch config: parse, validate every run, print the plan; runs nothing.
    Validate(ValidateArgs),
    /// Run a batch config into an HDF5 file (parallel, sharded, resumable).
    Run(RunArgs),
    /// Join shard files of the same config into one HDF5 file.
    Merge(MergeArgs),
    /// Print the summary table of a batch file.
    Inspect(InspectArgs),
    /// Regenerate the paper's Figures 2-6 and the time-domain figures (PNG, SVG, CSV).
    Paper(PaperArgs),
    /// Figures of a batch file: T(t), populations, magnetization; Delta T against sweep rate.
    Plot(PlotArgs),
    /// List the material presets and where their numbers come from.
    Presets(JsonFlag),
}

/// `--json` alone.
#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print one JSON document on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Material choice and overrides, shared by the commands.
#[derive(Debug, Args)]
pub struct MaterialArgs {
    /// Material preset (see `smmcool presets`).
    #[arg(long, default_value = "mn12ac")]
    pub material: String,
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
}

impl MaterialArgs {
    /// The validated material.
    pub fn material(&self) -> Result<Material, smmcool::error::ParameterError> {
        Material::from_preset(
            &self.material,
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
    }
}

/// How kappa(T) is scaled.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ScalingChoice {
    /// kappa(T) such that the zero-field relaxation time is tau0 exp(U_b/T) at every T.
    Arrhenius,
    /// kappa fixed by the Arrhenius time at --kappa-reference-k.
    Constant,
    /// kappa given by --kappa-per-s-k3.
    Absolute,
}

/// Rate-scaling options.
#[derive(Debug, Args)]
pub struct RateArgs {
    /// How the rate scale kappa(T) is set.
    #[arg(long, value_enum, default_value = "arrhenius")]
    pub kappa_scaling: ScalingChoice,
    /// Calibration temperature in K for --kappa-scaling constant.
    #[arg(long, default_value_t = 4.6, allow_negative_numbers = true)]
    pub kappa_reference_k: f64,
    /// kappa in 1/(s K^3) for --kappa-scaling absolute.
    #[arg(long, allow_negative_numbers = true)]
    pub kappa_per_s_k3: Option<f64>,
}

impl RateArgs {
    /// The validated rate model for `material`.
    pub fn rate_model(
        &self,
        material: &Material,
    ) -> Result<RateModel, smmcool::error::ParameterError> {
        let scaling = match self.kappa_scaling {
            ScalingChoice::Arrhenius => KappaScaling::Arrhenius,
            ScalingChoice::Constant => KappaScaling::Constant {
                reference_k: self.kappa_reference_k,
            },
            ScalingChoice::Absolute => KappaScaling::Absolute {
                kappa_per_s_k3: self.kappa_per_s_k3.ok_or_else(|| {
                    smmcool::error::ParameterError::new(
                        "--kappa-per-s-k3",
                        f64::NAN,
                        "required with --kappa-scaling absolute (a finite number > 0, 1/(s K^3))",
                    )
                })?,
            },
        };
        RateModel::new(material.spin, material.arrhenius, scaling)
    }
}

fn values(text: &str) -> Result<Vec<f64>, String> {
    parse_values(text).map_err(|e| e.to_string())
}

fn positive_values(text: &str) -> Result<Vec<f64>, String> {
    let v = values(text)?;
    match v.iter().find(|x| **x <= 0.0) {
        Some(bad) => Err(format!(
            "{bad} is not allowed: temperatures must be finite and > 0 K"
        )),
        None => Ok(v),
    }
}

fn field(text: &str) -> Result<f64, String> {
    let v: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a number (a field in tesla)"))?;
    if !v.is_finite() || v.abs() > 1000.0 {
        return Err(format!(
            "{v} is not allowed: a field must be finite, |B| <= 1000 T"
        ));
    }
    Ok(v)
}

fn fields(text: &str) -> Result<Vec<f64>, String> {
    let v = values(text)?;
    match v.iter().find(|x| x.abs() > 1000.0) {
        Some(bad) => Err(format!("{bad} is not allowed: |B| must be <= 1000 T")),
        None => Ok(v),
    }
}

/// `smmcool levels`.
#[derive(Debug, Args)]
pub struct LevelsArgs {
    /// Field(s) along the easy axis in T: a value, a list (0,0.5,1) or a range (0:1:0.1).
    #[arg(long, value_parser = fields, allow_negative_numbers = true, required = true)]
    pub field_t: Vec<Vec<f64>>,
    /// Material.
    #[command(flatten)]
    pub material: MaterialArgs,
    /// Print one JSON document on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `smmcool tau`.
#[derive(Debug, Args)]
pub struct TauArgs {
    /// Temperature(s) in K: a value, a list (2,3,4.6) or a range (1:10:0.5).
    #[arg(long, value_parser = positive_values, allow_negative_numbers = true, required = true)]
    pub temperature_k: Vec<Vec<f64>>,
    /// Relaxation time that bounds the sudden-quench regime, in s (the paper uses 1 s).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub tau_threshold_s: f64,
    /// Material.
    #[command(flatten)]
    pub material: MaterialArgs,
    /// Rate scaling.
    #[command(flatten)]
    pub rates: RateArgs,
    /// Print one JSON document on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `smmcool limits`.
#[derive(Debug, Args)]
pub struct LimitsArgs {
    /// Initial field in T.
    #[arg(long, value_parser = field, allow_negative_numbers = true)]
    pub b_initial_t: f64,
    /// Final field(s) in T: a value, a list or a range.
    #[arg(long, value_parser = fields, allow_negative_numbers = true, required = true)]
    pub b_final_t: Vec<Vec<f64>>,
    /// Initial temperature(s) in K: a value, a list (1,2,3) or a range (1:6:0.05).
    #[arg(long, value_parser = positive_values, allow_negative_numbers = true, required_unless_present = "minimum")]
    pub t_initial_k: Vec<Vec<f64>>,
    /// Report (Delta T)min and the initial temperature (T_i)min where it occurs, per final field
    /// (the paper's Fig. 5), instead of a table over initial temperatures.
    #[arg(long)]
    pub minimum: bool,
    /// Initial-temperature interval searched by --minimum, as lo:hi in K.
    #[arg(long, default_value = "0.2:40")]
    pub search_range_k: String,
    /// Material.
    #[command(flatten)]
    pub material: MaterialArgs,
    /// Print one JSON document on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
}

impl LimitsArgs {
    /// The search interval of --minimum.
    pub fn search_range(&self) -> Result<(f64, f64), smmcool::error::ParameterError> {
        let bad = |why: &str| {
            smmcool::error::ParameterError::new(
                format!("--search-range-k '{}'", self.search_range_k),
                f64::NAN,
                why.to_string(),
            )
        };
        let parts: Vec<&str> = self.search_range_k.split(':').collect();
        if parts.len() != 2 {
            return Err(bad("must be lo:hi in K, e.g. 0.2:40"));
        }
        let lo: f64 = parts[0]
            .trim()
            .parse()
            .map_err(|_| bad("lo is not a number"))?;
        let hi: f64 = parts[1]
            .trim()
            .parse()
            .map_err(|_| bad("hi is not a number"))?;
        if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && hi > lo) {
            return Err(bad("must satisfy 0 < lo < hi, finite, in K"));
        }
        Ok((lo, hi))
    }
}

fn positive_number(text: &str) -> Result<f64, String> {
    let v: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a number"))?;
    if !(v.is_finite() && v > 0.0) {
        return Err(format!("{v} is not allowed: must be a finite number > 0"));
    }
    Ok(v)
}

fn nonnegative_values(text: &str) -> Result<Vec<f64>, String> {
    let v = values(text)?;
    match v.iter().find(|x| **x < 0.0) {
        Some(bad) => Err(format!(
            "{bad} is not allowed: times after the ramp must be >= 0 s"
        )),
        None => Ok(v),
    }
}

/// Which formulations the engine may use.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormulationChoice {
    /// Full master equation while intra-well modes are active, two-well reduction after.
    Auto,
    /// Full master equation throughout (a check; slow, and representable only above ~4 K).
    Full,
}

/// Ramp shapes.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ShapeChoice {
    /// Constant sweep rate.
    Linear,
    /// Raised-cosine ramp (smooth start and end) with the same mean rate.
    Cosine,
}

/// `smmcool simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Initial field in T (the sample starts in equilibrium there).
    #[arg(long, value_parser = field, allow_negative_numbers = true)]
    pub b_initial_t: f64,
    /// Final field in T.
    #[arg(long, value_parser = field, allow_negative_numbers = true)]
    pub b_final_t: f64,
    /// Initial temperature in K.
    #[arg(long, value_parser = positive_number, allow_negative_numbers = true)]
    pub t_initial_k: f64,
    /// Mean sweep rate |Bf - Bi| / duration in T/s.
    #[arg(long, value_parser = positive_number, allow_negative_numbers = true, conflicts_with_all = ["ramp_duration_s", "jump"])]
    pub sweep_rate_t_per_s: Option<f64>,
    /// Ramp duration in s (instead of a sweep rate).
    #[arg(long, value_parser = positive_number, allow_negative_numbers = true, conflicts_with = "jump")]
    pub ramp_duration_s: Option<f64>,
    /// Instantaneous field change: the exact sudden limit.
    #[arg(long)]
    pub jump: bool,
    /// Ramp shape.
    #[arg(long, value_enum, default_value = "linear")]
    pub shape: ShapeChoice,
    /// Times after the ramp at which to report the state, in s.
    #[arg(long, value_parser = nonnegative_values, default_value = "1e-3,1,3600")]
    pub sample_times_s: Vec<Vec<f64>>,
    /// Stop this long after the ramp even without equilibrium, in s.
    #[arg(long, value_parser = positive_number, default_value_t = 1e40, allow_negative_numbers = true)]
    pub max_time_s: f64,
    /// Equilibrium tolerance on the phonon temperature, in K.
    #[arg(long, value_parser = positive_number, default_value_t = 1e-9, allow_negative_numbers = true)]
    pub equilibrium_tol_k: f64,
    /// Relative tolerance of the integrator.
    #[arg(long, value_parser = positive_number, default_value_t = 1e-10, allow_negative_numbers = true)]
    pub rtol: f64,
    /// Which formulations the engine may use.
    #[arg(long, value_enum, default_value = "auto")]
    pub formulation: FormulationChoice,
    /// Include every output sample (ramp grid and logarithmic grid) in the JSON.
    #[arg(long)]
    pub trajectory: bool,
    /// Material.
    #[command(flatten)]
    pub material: MaterialArgs,
    /// Rate scaling.
    #[command(flatten)]
    pub rates: RateArgs,
    /// Print one JSON document on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `smmcool validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The TOML config.
    pub config: std::path::PathBuf,
    /// How many parameter sets to print.
    #[arg(long, default_value_t = 5)]
    pub show: usize,
}

/// `smmcool run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The TOML config.
    pub config: std::path::PathBuf,
    /// Output HDF5 file.
    #[arg(short, long)]
    pub output: std::path::PathBuf,
    /// Worker threads (default: all cores, or RAYON_NUM_THREADS).
    #[arg(long, short = 'j')]
    pub threads: Option<usize>,
    /// Compute only shard i of N (0-based), e.g. 2/8. Without it, SLURM_ARRAY_TASK_ID and
    /// SLURM_ARRAY_TASK_COUNT select the shard when set.
    #[arg(long)]
    pub shard: Option<String>,
    /// Finish an interrupted batch (or accept a finished one) instead of refusing.
    #[arg(long)]
    pub resume: bool,
    /// Overwrite an existing output and discard an interrupted batch's parts.
    #[arg(long, conflicts_with = "resume")]
    pub force: bool,
    /// Run sweeps larger than [batch] max_runs.
    #[arg(long)]
    pub yes: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `smmcool merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Shard files.
    #[arg(required = true)]
    pub inputs: Vec<std::path::PathBuf>,
    /// Merged output file.
    #[arg(short, long)]
    pub output: std::path::PathBuf,
    /// Overwrite the output if it exists.
    #[arg(long)]
    pub force: bool,
}

/// `smmcool inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A batch HDF5 file.
    pub file: std::path::PathBuf,
    /// Print one JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `smmcool paper`.
#[derive(Debug, Args)]
pub struct PaperArgs {
    /// Output folder.
    #[arg(short, long, default_value = "figures")]
    pub output: std::path::PathBuf,
    /// Only the analytic Figures 2-6 (seconds), not the time-domain figures (minutes).
    #[arg(long)]
    pub analytic_only: bool,
    /// Grid refinement of the time-domain figures (1 = as published in the README).
    #[arg(long, default_value_t = 1)]
    pub resolution: usize,
}

/// `smmcool plot`.
#[derive(Debug, Args)]
pub struct PlotArgs {
    /// A batch HDF5 file.
    pub file: std::path::PathBuf,
    /// Output folder.
    #[arg(short, long, default_value = "figures")]
    pub output: std::path::PathBuf,
    /// Plot at most this many stored trajectories.
    #[arg(long, default_value_t = 12)]
    pub max_runs: usize,
}
