//! Batch configuration: the TOML schema, its validation, and the sweep expansion.
//!
//! A config has sections `[material]`, `[rates]`, `[protocol]`, `[solver]`, `[output]`,
//! `[sample]`, `[link]`,
//! `[batch]` and any number of `[[sweep]]` axes. Every key carries its unit in its name and
//! unknown keys are errors (`deny_unknown_fields`), reported with file, line and column.
//!
//! # Sweep order
//! The runs are the Cartesian product of the `[[sweep]]` axes. Run index i is read as a mixed
//! radix number whose most significant digit is the FIRST axis: the first axis varies slowest,
//! the last fastest. So with axes A (2 values) then B (3 values), runs 0..6 are
//! (A0,B0) (A0,B1) (A0,B2) (A1,B0) (A1,B1) (A1,B2). Index i always means the same parameters.
//!
//! A swept key takes its values from its axis only: a value for it in its section as well is
//! refused (the sweep would override it in every run), and a swept `[protocol]` key needs none.
//!
//! Besides the numeric keys of [`crate::scenario::KEYS`], an axis may sweep `protocol.cycles`
//! (integers) and one number of one segment, `protocol.segment.K.duration_s`, `.b_final_t` or
//! `.sweep_rate_t_per_s` (K = 1 for the first `[[protocol.segment]]`). Lists (waveform points,
//! sample times), names (preset, shape, formulation, a waveform file) and switches are refused
//! with the reason ([`SweepTarget::of`]).

use crate::kinetics::RunSpec;
use crate::scenario::{RunParams, Scenario, SweepTarget};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Default of `[batch] max_runs`.
pub const DEFAULT_MAX_RUNS: usize = 10_000;

/// Most values one `[[sweep]]` axis may have (8 MB of values).
pub const MAX_AXIS_VALUES: usize = 1_000_000;

/// Runs a plan larger than `[batch] max_runs` has validated when it is loaded (spread evenly
/// over the index range, first and last included); `run --yes` validates each of the others
/// before computing it.
pub const SAMPLED_VALIDATION_RUNS: usize = 4096;

pub use crate::scenario::{
    LinkSection, MaterialSection, OutputSection, ProtocolSection, RatesSection, SampleSection,
    ScalingName, SolverSection,
};

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
    /// The swept key, "section.key" (see [`SweepTarget::of`]).
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
    /// `[sample]`.
    #[serde(default)]
    pub sample: SampleSection,
    /// `[link]`.
    #[serde(default)]
    pub link: LinkSection,
    /// `[batch]`.
    #[serde(default)]
    pub batch: BatchSection,
    /// `[[sweep]]` axes.
    #[serde(default)]
    pub sweep: Vec<SweepAxis>,
}

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
    #[error("{file}: {message}")]
    Invalid {
        /// File.
        file: String,
        /// `key = value: what is allowed` (with the run of a sweep after the key).
        message: String,
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
    /// The number of runs (the product of the axis lengths, checked for overflow).
    n_runs: usize,
    /// How many runs were validated at load: all of them, or [`SAMPLED_VALIDATION_RUNS`]
    /// spread over a plan larger than `[batch] max_runs`.
    pub validated_runs: usize,
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The key written at byte `offset` of `text` (up to `=`), as `section.key` when it sits in a
/// `[section]`.
fn key_at(text: &str, offset: usize) -> String {
    let rest = text.get(offset..).unwrap_or("");
    // A table header given twice: `[section]` (the span starts inside the brackets).
    let line_start = text
        .get(..offset)
        .unwrap_or("")
        .rsplit('\n')
        .next()
        .unwrap_or("");
    if line_start.trim_start().starts_with('[') {
        let name = rest.split([']', '\n']).next().unwrap_or("").trim();
        return format!("[{name}]");
    }
    let key = rest
        .split(['=', '\n'])
        .next()
        .unwrap_or("")
        .trim()
        .trim_matches('"')
        .to_string();
    match enclosing_section(text.get(..offset).unwrap_or("")) {
        Some(s) if !key.starts_with('[') => format!("{s}.{key}"),
        _ => key,
    }
}

/// The name of the last table header (`[section]`, `[[sweep]]` as `sweep`) in `before`, the
/// text up to a key: the section the key belongs to.
fn enclosing_section(before: &str) -> Option<String> {
    before
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string())
}

/// The keys of `[protocol]` that have no default: a sweep over one stands in for its value.
const REQUIRED_KEYS: [&str; 3] = [
    "protocol.b_initial_t",
    "protocol.b_final_t",
    "protocol.initial_temperature_k",
];

/// Refuse a key given a value in its section AND swept by a `[[sweep]]` axis: the sweep
/// overrides it in every run, so the value would be silently ignored. A required key that an
/// axis sweeps and the section leaves out gets a placeholder, replaced in every run, so that
/// the typed sections deserialize. Axes naming no sweepable key are left to the axis checks.
fn refuse_swept_base_values(
    file: &str,
    text: &str,
    root: &mut toml::de::DeTable<'_>,
) -> Result<(), ConfigError> {
    use toml::de::DeValue;
    let mut swept = Vec::new();
    if let Some(DeValue::Array(axes)) = root.get("sweep").map(|v| v.get_ref()) {
        for axis in axes.iter() {
            let Some(name) = axis.get_ref().get("key").and_then(|k| k.get_ref().as_str()) else {
                continue;
            };
            if let Some(key) = crate::scenario::key(name).filter(|k| k.sweep.is_some()) {
                swept.push((key, name.to_string(), axis.span()));
            }
        }
    }
    let mut seen = Vec::new();
    for (key, axis_name, axis_span) in swept {
        // A key swept twice is refused by the axis checks, naming it; no placeholder twice.
        if seen.contains(&key.path) {
            continue;
        }
        seen.push(key.path);
        let (section, name) = key.path.split_once('.').unwrap_or(("", key.path));
        let names = std::iter::once(name).chain(
            key.old
                .iter()
                .filter_map(|old| old.strip_prefix(section)?.strip_prefix('.')),
        );
        let table = root.get(section).and_then(|t| t.get_ref().as_table());
        for n in names {
            if let Some(value) = table.and_then(|t| t.get(n)) {
                let span = value.span();
                let (line, column) = line_col(text, span.start);
                return Err(ConfigError::Parse {
                    file: file.to_string(),
                    line,
                    column,
                    message: format!(
                        "{section}.{n} = {}: also swept by [[sweep]] key = \"{axis_name}\", which \
                         overrides it in every run; give it in one place only",
                        text.get(span).unwrap_or("").trim()
                    ),
                });
            }
        }
        if REQUIRED_KEYS.contains(&key.path) {
            let placeholder = DeValue::parse("0.0")
                .expect("a float literal parses")
                .into_inner();
            let section_value = root
                .entry(toml::Spanned::new(
                    axis_span.clone(),
                    std::borrow::Cow::Borrowed(section),
                ))
                .or_insert_with(|| {
                    toml::Spanned::new(axis_span.clone(), DeValue::Table(Default::default()))
                });
            if let DeValue::Table(t) = section_value.get_mut() {
                t.insert(
                    toml::Spanned::new(axis_span.clone(), std::borrow::Cow::Borrowed(name)),
                    toml::Spanned::new(axis_span, placeholder),
                );
            }
        }
    }
    Ok(())
}

/// The key whose value starts at byte `offset` of `text` (`section.key`, or
/// `section.key.field` inside an inline table), if the offset lies after a `=` on its line.
fn key_of_value(text: &str, offset: usize) -> Option<String> {
    let before = text.get(..offset)?;
    let line = before.rsplit('\n').next()?;
    let (lead, _) = line.rsplit_once('=')?;
    let name = |s: &str| {
        let s = s.trim().trim_matches('"').to_string();
        let ok = !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
        ok.then_some(s)
    };
    let inner = name(lead.rsplit([',', '{']).next()?)?;
    let key = match lead.split_once('{') {
        Some((outer, _)) => format!("{}.{inner}", name(outer.split('=').next()?)?),
        None => inner,
    };
    Some(match enclosing_section(before) {
        Some(s) => format!("{s}.{key}"),
        None => key,
    })
}

/// What an integer key allows, for a value of another type or sign (the ranges are checked
/// again, with the same words, where the keys are used).
fn integer_rule(key: &str) -> Option<String> {
    Some(match key {
        "solver.max_steps" => format!("an integer in 1..={}", crate::kinetics::MAX_STEPS_LIMIT),
        "output.log_points_per_decade" => "an integer in 0..=100".into(),
        "batch.max_runs" => "an integer >= 1".into(),
        "sweep.linear.count" | "sweep.log.count" => {
            format!("an integer in 1..={MAX_AXIS_VALUES}")
        }
        _ => return None,
    })
}

/// The number of values `axis` will have, known before anything is expanded.
fn axis_count(axis: &SweepAxis) -> Option<usize> {
    axis.values
        .as_ref()
        .map(Vec::len)
        .or(axis.linear.as_ref().map(|r| r.count))
        .or(axis.log.as_ref().map(|r| r.count))
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
        crate::numerics::grid::linear_points(r.start, r.stop, r.count)
    } else {
        let r = axis.log.as_ref().expect("checked: exactly one is given");
        check_count(r)?;
        if !(r.start > 0.0 && r.stop > 0.0) {
            return Err("a log range needs start > 0 and stop > 0".into());
        }
        crate::numerics::grid::log_points(r.start, r.stop, r.count)
    };
    if let Some(bad) = v.iter().find(|x| !x.is_finite()) {
        return Err(format!("{bad} is not a finite number"));
    }
    Ok(v)
}

impl Plan {
    /// Read, parse and validate a config file: the run count is computed (overflow and the
    /// per-axis limit checked) before any axis is expanded, then every run of the sweep is
    /// built and checked before anything runs (a sample of them for a plan larger than
    /// `[batch] max_runs`, see [`SAMPLED_VALIDATION_RUNS`]).
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
        let parse_error = |e: toml::de::Error| {
            let (line, column) = e.span().map_or((1, 1), |s| line_col(&text, s.start));
            let mut message = e.message().trim().replace('\n', " ");
            // toml says only "duplicate key": name it, with its section.
            if message == "duplicate key" {
                if let Some(span) = e.span() {
                    message = format!("duplicate key `{}`", key_at(&text, span.start));
                }
            }
            ConfigError::Parse {
                file: file.clone(),
                line,
                column,
                message,
            }
        };
        let mut root = toml::de::DeTable::parse(&text).map_err(parse_error)?;
        refuse_swept_base_values(&file, &text, root.get_mut())?;
        let config = Config::deserialize(toml::de::Deserializer::from(root)).map_err(|e| {
            // A value of the wrong type or out of its type's range: name its key (and for an
            // integer key, the value and what is allowed, not serde's `expected usize`).
            let span = e.span();
            let key = span.clone().and_then(|s| key_of_value(&text, s.start));
            let mut err = parse_error(e);
            if let (Some(key), ConfigError::Parse { message, .. }) = (key, &mut err) {
                let given = span.and_then(|s| text.get(s)).map(str::trim);
                *message = match (integer_rule(&key), given) {
                    (Some(rule), Some(given)) if message.starts_with("invalid ") => {
                        format!("{key} = {given}: must be {rule}")
                    }
                    _ => format!("{key}: {message}"),
                };
            }
            err
        })?;
        // The run count first, from the axes' declared sizes, before anything is expanded.
        let mut n_runs: usize = 1;
        let mut counts = Vec::new();
        for axis in &config.sweep {
            let count = axis_count(axis).unwrap_or(1);
            if count > MAX_AXIS_VALUES {
                return Err(ConfigError::Invalid {
                    file: file.clone(),
                    message: format!(
                        "sweep `{}` = (axis): {count} values; one axis may have at most {MAX_AXIS_VALUES}",
                        axis.key
                    ),
                });
            }
            counts.push(count.to_string());
            n_runs = n_runs
                .checked_mul(count)
                .ok_or_else(|| ConfigError::Invalid {
                    file: file.clone(),
                    message: format!(
                        "sweep: the axes multiply to more than {} runs ({}): far beyond any batch",
                        usize::MAX,
                        counts.join(" x ")
                    ),
                })?;
        }
        let mut axes = Vec::new();
        for axis in &config.sweep {
            // Old names of a key are accepted; the plan and the files use the current one.
            let invalid = |why: String| ConfigError::Invalid {
                file: file.clone(),
                message: format!("sweep.key = \"{}\": {why}", axis.key),
            };
            let target = SweepTarget::of(&axis.key).map_err(invalid)?;
            let path = target.path();
            if axes.iter().any(|(k, _)| *k == path) {
                return Err(invalid("each key may be swept once".into()));
            }
            let base = Scenario {
                material: config.material.clone(),
                rates: config.rates.clone(),
                protocol: config.protocol.clone(),
                solver: config.solver.clone(),
                output: config.output.clone(),
                sample: config.sample.clone(),
                link: config.link.clone(),
            };
            target.check_base(&base).map_err(invalid)?;
            let values = expand(axis).map_err(|allowed| ConfigError::Invalid {
                file: file.clone(),
                message: format!("sweep `{}` = (axis): {allowed}", axis.key),
            })?;
            if let Some(why) = values.iter().find_map(|&v| target.check_value(v).err()) {
                return Err(ConfigError::Invalid {
                    file: file.clone(),
                    message: format!("sweep `{}` = {why}", axis.key),
                });
            }
            axes.push((path, values));
        }
        let mut plan = Self {
            path: path.to_path_buf(),
            text,
            config,
            axes,
            n_runs,
            validated_runs: 0,
        };
        plan.validate_sections()?;
        for i in plan.validation_sample() {
            plan.run(i)?;
            plan.validated_runs += 1;
        }
        Ok(plan)
    }

    /// The runs validated at load: every run of a plan within `[batch] max_runs`; for a larger
    /// one [`SAMPLED_VALIDATION_RUNS`] indices spread evenly from the first to the last (so
    /// refusing or validating a 1e9-run plan takes milliseconds and no memory per run).
    fn validation_sample(&self) -> Box<dyn Iterator<Item = usize>> {
        let n = self.n_runs;
        if n <= self.config.batch.max_runs.max(SAMPLED_VALIDATION_RUNS) {
            return Box::new(0..n);
        }
        let m = SAMPLED_VALIDATION_RUNS;
        Box::new((0..m).map(move |k| ((k as u128 * (n as u128 - 1)) / (m as u128 - 1)) as usize))
    }

    fn validate_sections(&self) -> Result<(), ConfigError> {
        if self.config.batch.max_runs == 0 {
            return Err(ConfigError::Invalid {
                file: self.path.display().to_string(),
                message: "batch.max_runs = 0: must be >= 1".into(),
            });
        }
        Ok(())
    }

    /// Number of runs (the product of the axis lengths; 1 without a sweep).
    pub fn n_runs(&self) -> usize {
        self.n_runs
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
        &self.config.output.sample_times_after_ramp_s.0
    }

    /// The scenario of run `index`: the config's sections with the swept values applied.
    pub fn scenario(&self, index: usize) -> Scenario {
        let c = &self.config;
        let mut scenario = Scenario {
            material: c.material.clone(),
            rates: c.rates.clone(),
            protocol: c.protocol.clone(),
            solver: c.solver.clone(),
            output: c.output.clone(),
            sample: c.sample.clone(),
            link: c.link.clone(),
        };
        // A waveform file is named relative to the config's folder.
        let segment_files = scenario
            .protocol
            .segment
            .iter_mut()
            .filter_map(|s| s.waveform_csv.as_mut());
        for csv in scenario
            .protocol
            .waveform_csv
            .iter_mut()
            .chain(segment_files)
        {
            if csv.is_relative() {
                if let Some(dir) = self.path.parent() {
                    *csv = dir.join(&*csv);
                }
            }
        }
        for (k, v) in self.swept_values(index) {
            SweepTarget::of(&k)
                .expect("sweep keys are checked to be sweepable when the plan is built")
                .set(&mut scenario, v);
        }
        scenario
    }

    /// The parameters and engine input of run `index`, validated.
    pub fn run(&self, index: usize) -> Result<(RunParams, RunSpec), ConfigError> {
        let swept = self.swept_values(index);
        let context = if swept.is_empty() {
            String::new()
        } else {
            format!(
                " (run {index}: {})",
                swept
                    .iter()
                    .map(|(k, v)| format!("{k} = {}", crate::units::number(*v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let built = self
            .scenario(index)
            .build()
            .map_err(|e| ConfigError::Invalid {
                file: self.path.display().to_string(),
                message: e.toml_message(&context),
            })?;
        let params = RunParams {
            index,
            swept,
            ..built.params
        };
        Ok((params, built.spec))
    }
}
