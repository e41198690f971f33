//! Command-line arguments: parsed into validated values before any work starts.

use clap::{Args, Parser, Subcommand};
use smmcool::numerics::grid::parse_values;
use smmcool::scenario::{
    LinkSection, MaterialSection, OutputSection, ProtocolSection, RatesSection, SampleSection,
    Scenario, SolverSection,
};

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
// Parsed once per process: the size of its largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Energy levels E_M(B) relative to the ground level (the paper's Fig. 2).
    #[command(after_help = EXAMPLES_LEVELS)]
    Levels(LevelsArgs),
    /// Relaxation time tau(T): Arrhenius law and the scaled rate matrix, and T_max (Fig. 3).
    #[command(after_help = EXAMPLES_TAU)]
    Tau(TauArgs),
    /// Final temperatures of the sudden quench (Eq. 9) and the isentropic process (Eq. 11).
    #[command(after_help = EXAMPLES_LIMITS)]
    Limits(LimitsArgs),
    /// Resonances between the levels of the two wells: fields B_k(m) where m and m' = k - m
    /// cross, and their tunnel splittings, with fourth-order and transverse anisotropy
    /// (docs/physics.md section 10).
    #[command(after_help = EXAMPLES_RESONANCES)]
    Resonances(ResonancesArgs),
    /// One run in the time domain: a field ramp (or jump) and the relaxation after it.
    #[command(after_help = EXAMPLES_SIMULATE)]
    Simulate(Box<SimulateArgs>),
    /// Check a batch config: parse, validate every run, print the plan; runs nothing.
    #[command(after_help = EXAMPLES_VALIDATE)]
    Validate(ValidateArgs),
    /// Run a batch config into an HDF5 file (parallel, sharded, resumable).
    #[command(after_help = EXAMPLES_RUN)]
    Run(RunArgs),
    /// Join shard files of the same config into one HDF5 file.
    #[command(after_help = EXAMPLES_MERGE)]
    Merge(MergeArgs),
    /// Print the summary table of a batch file.
    #[command(after_help = EXAMPLES_INSPECT)]
    Inspect(InspectArgs),
    /// Regenerate the paper's Figures 2-6 and the time-domain figures (PNG, SVG, CSV).
    #[command(after_help = EXAMPLES_PAPER)]
    Paper(PaperArgs),
    /// Figures of a batch file: T(t), populations, magnetization; Delta T against sweep rate.
    #[command(after_help = EXAMPLES_PLOT)]
    Plot(PlotArgs),
    /// List the material presets and where their numbers come from.
    #[command(after_help = EXAMPLES_PRESETS)]
    Presets(JsonFlag),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) generated from
    /// these definitions, e.g. `smmcool completions bash > ~/.local/share/bash-completion/completions/smmcool`.
    #[command(after_help = EXAMPLES_COMPLETIONS)]
    Completions(CompletionsArgs),
    /// Print the man page (roff) generated from these definitions, e.g. `smmcool man > smmcool.1`.
    #[command(after_help = EXAMPLES_MAN)]
    Man,
}

// One example section per subcommand, shown after its options by `--help` (checked to parse
// by `every_help_example_parses`).
const EXAMPLES_LEVELS: &str = "Examples:\n  smmcool levels --field-t 0.5                          # the 21 levels of Mn12Ac at 0.5 T\n  smmcool levels --field-t 0:1:0.1 --json               # Fig. 2 as one JSON document\n  smmcool levels --field-t 0,0.5 --material mn12-naphthalene --d-k -0.65";
const EXAMPLES_TAU: &str = "Examples:\n  smmcool tau --temperature-k 2,3,4.6                    # Arrhenius and rate-model tau, T_max\n  smmcool tau --temperature-k 1:6:0.1 --json             # Fig. 3 as JSON\n  smmcool tau --material mn12ac-barra --temperature-k 2,3 --field-t 0:1.2:0.01   # tau(B), tunnelling";
const EXAMPLES_LIMITS: &str = "Examples:\n  smmcool limits --b-initial-t 0.5 --b-final-t 0.1 --initial-temperature-k 1:6:0.05   # Figs. 4, 6\n  smmcool limits --b-initial-t 1 --b-final-t 0:1:0.05 --minimum                      # Fig. 5\n  smmcool limits --b-initial-t 0.5 --b-final-t 0.1 --initial-temperature-k 4 --json";
const EXAMPLES_RESONANCES: &str = "Examples:\n  smmcool resonances --material mn12ac-mirebeau --k-max 2\n  smmcool resonances --material mn12ac-barra --misalignment-deg 2 --json";
const EXAMPLES_SIMULATE: &str = "Examples:\n  smmcool simulate --b-initial-t 0.5 --b-final-t 0.1 --initial-temperature-k 4 --sweep-rate-t-per-s 10\n  smmcool simulate --b-initial-t 0.5 --b-final-t 0.1 --initial-temperature-k 4 --jump --trajectory --json\n  smmcool simulate --b-initial-t 0.5 --b-final-t 0.1 --initial-temperature-k 4 --sweep-rate-t-per-s 10 --sample-amount-mol 1e-6 --link-conductance-w-per-k 4e-8   # heat link to a bath at Ti\n  smmcool simulate --waveform-csv pulse.csv --initial-temperature-k 3   # a measured B(t): two columns time_s, field_t\n  smmcool simulate --initial-temperature-k 3 --b-initial-t 1 --sample-amount-mol 1e-6 --link-conductance-w-per-k 4e-8 --cycles 3 --segment kind=hold,duration_s=2000,link_closed=true --segment kind=ramp,b_final_t=0,sweep_rate_t_per_s=10 --segment kind=ramp,b_final_t=1,sweep_rate_t_per_s=0.1,link_closed=true   # a refrigeration cycle";
const EXAMPLES_VALIDATE: &str = "Examples:\n  smmcool validate configs/default.toml\n  smmcool validate configs/validity_map_100x100.toml --show 20";
const EXAMPLES_RUN: &str = "Examples:\n  smmcool run configs/default.toml -o out/default.h5\n  smmcool run configs/validity_map_100x100.toml -o map.h5 --threads 2 --quiet\n  smmcool run configs/validity_map_100x100.toml -o map.h5 --resume       # finish an interrupted batch\n  smmcool run configs/validity_map_100x100.toml -o map-0.h5 --shard 0/4  # one shard of four (SLURM sets it from SLURM_ARRAY_TASK_ID)";
const EXAMPLES_MERGE: &str =
    "Examples:\n  smmcool merge map-0.h5 map-1.h5 map-2.h5 map-3.h5 -o map.h5";
const EXAMPLES_INSPECT: &str =
    "Examples:\n  smmcool inspect out/default.h5\n  smmcool inspect out/default.h5 --json";
const EXAMPLES_PAPER: &str = "Examples:\n  smmcool paper -o figures                  # every figure, PNG + SVG + CSV\n  smmcool paper --analytic-only -o figures  # Figures 2-6 only, in seconds\n  smmcool paper --analytic-only --column-width double -o figures-wide   # for a full-page figure";
const EXAMPLES_PLOT: &str = "Examples:\n  smmcool plot out/default.h5 -o plots\n  smmcool plot map.h5 -o plots --max-runs 20 --magnetization-unit am2-per-mol";
const EXAMPLES_PRESETS: &str = "Examples:\n  smmcool presets\n  smmcool presets --json";
const EXAMPLES_COMPLETIONS: &str =
    "Examples:\n  smmcool completions bash > ~/.local/share/bash-completion/completions/smmcool";
const EXAMPLES_MAN: &str = "Examples:\n  smmcool man > smmcool.1 && man ./smmcool.1";

/// `smmcool completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `--json` alone.
#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print one JSON document on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
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
    pub material: MaterialSection,
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
    /// Field(s) along the easy axis in T at which the relaxation time 1/lambda1(B, T) of the
    /// rate model is given (a value, a list or a range); without it, the zero-field table.
    #[arg(long, value_parser = fields, allow_negative_numbers = true)]
    pub field_t: Vec<Vec<f64>>,
    /// Material (the spectroscopic mn12ac-* presets carry B4, C and E: tunnelling).
    #[command(flatten)]
    pub material: MaterialSection,
    /// Rate scaling.
    #[command(flatten)]
    pub rates: RatesSection,
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
    #[arg(long, alias = "t-initial-k", value_parser = positive_values, allow_negative_numbers = true, required_unless_present = "minimum")]
    pub initial_temperature_k: Vec<Vec<f64>>,
    /// Report (Delta T)min and the initial temperature (T_i)min where it occurs, per final field
    /// (the paper's Fig. 5), instead of a table over initial temperatures.
    #[arg(long)]
    pub minimum: bool,
    /// Initial-temperature interval searched by --minimum, as lo:hi in K (default 0.2:40).
    #[arg(long)]
    pub search_range_k: Option<String>,
    /// Material.
    #[command(flatten)]
    pub material: MaterialSection,
    /// Print one JSON document on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
}

impl LimitsArgs {
    /// The search interval of --minimum.
    pub fn search_range(&self) -> Result<(f64, f64), smmcool::error::ParameterError> {
        let text = self.search_range_k.as_deref().unwrap_or("0.2:40");
        let bad = |why: &str| {
            smmcool::error::ParameterError::new(
                format!("--search-range-k '{text}'"),
                f64::NAN,
                why.to_string(),
            )
        };
        let parts: Vec<&str> = text.split(':').collect();
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

/// `smmcool resonances`.
#[derive(Debug, Args)]
pub struct ResonancesArgs {
    /// Largest resonance number k (k = 0 is zero field).
    #[arg(long, default_value_t = 2)]
    pub k_max: u32,
    /// Material (S, D and g; the spectroscopic mn12ac-* presets carry B4, C and E).
    #[command(flatten)]
    pub material: MaterialSection,
    /// Print one JSON document on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `smmcool simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Field protocol and initial state.
    #[command(flatten)]
    pub protocol: ProtocolSection,
    /// Solver settings.
    #[command(flatten)]
    pub solver: SolverSection,
    /// Sample times and output grid.
    #[command(flatten)]
    pub output: OutputSection,
    /// Include every output sample (ramp grid and logarithmic grid) in the JSON.
    #[arg(long)]
    pub trajectory: bool,
    /// Material.
    #[command(flatten)]
    pub material: MaterialSection,
    /// Rate scaling.
    #[command(flatten)]
    pub rates: RatesSection,
    /// Sample amount and addenda.
    #[command(flatten)]
    pub sample: SampleSection,
    /// Heat link to a bath.
    #[command(flatten)]
    pub link: LinkSection,
    /// Print one JSON document on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
}

impl SimulateArgs {
    /// The scenario the flags describe (the engine keeps its output grids whether or not the
    /// trajectory is printed).
    pub fn scenario(&self) -> Scenario {
        Scenario {
            material: self.material.clone(),
            rates: self.rates.clone(),
            protocol: ProtocolSection {
                shape: self.protocol.effective_shape(),
                jump: false,
                ..self.protocol.clone()
            },
            solver: self.solver.clone(),
            output: OutputSection {
                trajectory: true,
                ..self.output.clone()
            },
            sample: self.sample.clone(),
            link: self.link.clone(),
        }
    }
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
    /// Only the analytic Figures 2-6 (about a second), not the time-domain figures (about 10 s
    /// of CPU at --resolution 1).
    #[arg(long)]
    pub analytic_only: bool,
    /// Grid refinement of the time-domain figures (1 = as published in the README).
    #[arg(long, default_value_t = 1)]
    pub resolution: usize,
    /// Printed width the figures are drawn for at 300 dpi, fonts 7-9 pt at that width.
    #[arg(long, value_enum, default_value = "single")]
    pub column_width: ColumnWidthArg,
}

/// `--column-width`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ColumnWidthArg {
    /// One journal column, 8.5 cm (1004 px at 300 dpi).
    Single,
    /// Two journal columns, 17.8 cm (2102 px at 300 dpi); the plot keeps the single height.
    Double,
}

impl From<ColumnWidthArg> for smmcool::figures::plot::ColumnWidth {
    fn from(w: ColumnWidthArg) -> Self {
        match w {
            ColumnWidthArg::Single => Self::Single,
            ColumnWidthArg::Double => Self::Double,
        }
    }
}

/// `smmcool plot`.
#[derive(Debug, Args)]
pub struct PlotArgs {
    /// A batch HDF5 file.
    pub file: std::path::PathBuf,
    /// Output folder.
    #[arg(short, long, default_value = "figures")]
    pub output: std::path::PathBuf,
    /// Plot at most this many stored trajectories (the first ones; a warning on stderr says
    /// how many were left out).
    #[arg(long, default_value_t = 12)]
    pub max_runs: usize,
    /// Unit of the magnetization figures: mu-b (per molecule, as stored), am2-per-mol (molar,
    /// SI: A m^2/mol) or emu-per-mol (molar, cgs); N_A mu_B = 5.5849 A m^2/mol = 5584.9 emu/mol.
    #[arg(long, value_enum, default_value = "mu-b")]
    pub magnetization_unit: MagnetizationUnitArg,
    /// Printed width the figures are drawn for at 300 dpi, fonts 7-9 pt at that width.
    #[arg(long, value_enum, default_value = "single")]
    pub column_width: ColumnWidthArg,
}

/// `--magnetization-unit`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum MagnetizationUnitArg {
    /// mu_B per molecule.
    MuB,
    /// A m^2 per mole of molecules.
    Am2PerMol,
    /// emu per mole of molecules.
    EmuPerMol,
}

impl From<MagnetizationUnitArg> for smmcool::figures::MagnetizationUnit {
    fn from(u: MagnetizationUnitArg) -> Self {
        match u {
            MagnetizationUnitArg::MuB => Self::MuB,
            MagnetizationUnitArg::Am2PerMol => Self::Am2PerMol,
            MagnetizationUnitArg::EmuPerMol => Self::EmuPerMol,
        }
    }
}

/// The arguments with every negative number that follows a long flag joined to it
/// (`--b-final-t -1e-3` -> `--b-final-t=-1e-3`). clap takes `-1e-3` for a short flag because
/// its number test stops at the exponent's minus sign (`-0.001` and `-1e3` pass it); no flag
/// of this command is a digit, so an argument `-<digit>...` or `-.<digit>...` after a long
/// flag is always that flag's value. A flag that takes no value then reports the value as
/// unexpected, naming it.
pub fn join_negative_values(
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> Vec<std::ffi::OsString> {
    let mut out: Vec<std::ffi::OsString> = Vec::new();
    let mut after_escape = false;
    for arg in args {
        let text = arg.to_str().unwrap_or("");
        let negative = {
            let mut c = text.chars();
            c.next() == Some('-')
                && match c.next() {
                    Some(d) if d.is_ascii_digit() => true,
                    Some('.') => c.next().is_some_and(|d| d.is_ascii_digit()),
                    _ => false,
                }
        };
        if let Some(prev) = out.last_mut().filter(|_| negative && !after_escape) {
            let p = prev.to_str().unwrap_or("");
            if p.len() > 2 && p.starts_with("--") && !p.contains('=') {
                let joined = format!("{p}={text}");
                *prev = joined.into();
                continue;
            }
        }
        after_escape |= text == "--";
        out.push(arg);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::{CommandFactory, Parser};

    /// Every line of every subcommand's `Examples:` section parses as that subcommand (shell
    /// comments and redirections cut off). tests/cli.rs runs the ones that are cheap to run.
    #[test]
    fn every_help_example_parses() {
        let cli = Cli::command();
        let mut checked = 0;
        for sub in cli.get_subcommands() {
            let help = sub
                .get_after_help()
                .unwrap_or_else(|| panic!("{} has no examples", sub.get_name()))
                .to_string();
            let lines: Vec<&str> = help.lines().skip(1).collect();
            assert!(help.starts_with("Examples:") && !lines.is_empty(), "{help}");
            for line in lines {
                let command = line.split(" #").next().unwrap();
                let command = command
                    .split(" > ")
                    .next()
                    .unwrap()
                    .split(" && ")
                    .next()
                    .unwrap();
                let words: Vec<&str> = command.split_whitespace().collect();
                assert_eq!(words[..2], ["smmcool", sub.get_name()], "{line}");
                if let Err(e) = Cli::try_parse_from(&words) {
                    panic!("{line}: {e}");
                }
                checked += 1;
            }
        }
        assert!(checked >= 25, "{checked}");
    }
}
