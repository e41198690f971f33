//! `smmcool._smmcool`: the Python face of the smmcool library (PyO3).
//!
//! Keyword arguments are the scenario keys of [`smmcool::scenario::KEYS`] (the last part of
//! the TOML path, `material` for the preset): they go into the same TOML sections a config
//! file has, are deserialized into the same [`Scenario`] and validated by the same
//! [`Scenario::build`], so a value meets the same rule as on the command line and an error
//! carries the command line's message with the keyword in place of the flag. The Python
//! package `smmcool` (python/smmcool/__init__.py) wraps these functions into the documented
//! API (array broadcasting, the `Run` object, xarray and pandas).

use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyString, PyType};
use smmcool::batch::config::{MaterialSection, ProtocolSection, RatesSection};
use smmcool::error::NumericsError;
use smmcool::error::{ErrorKind, ParameterError};
use smmcool::kinetics::{EngineContext, EngineError};
use smmcool::model::limits::{Isentropic, LimitsSolver};
use smmcool::rates::tunnelling::FieldTau;
use smmcool::results::{RunRecord, TrajectoryAccess, TrajectoryColumns, SUMMARY, TRAJECTORY};
use smmcool::scenario::{key_of_library_name, Key, Scenario, ScenarioError, KEYS};
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// The exception classes of python/smmcool/_errors.py: `SmmcoolError`, its subclasses
/// `InputError` (also a `ValueError`: input the command line refuses with exit 2) and
/// `SolverError` (also a `RuntimeError`: a computation that failed on valid input, exit 1).
static INPUT_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static SOLVER_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static SMMCOOL_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// An exception of class `name` of smmcool._errors with `message`.
fn error_of(cell: &'static PyOnceLock<Py<PyType>>, name: &str, message: String) -> PyErr {
    Python::attach(|py| match cell.import(py, "smmcool._errors", name) {
        Ok(ty) => PyErr::from_type(ty.clone(), message),
        Err(e) => e,
    })
}

/// Bad input: `smmcool.InputError` (a `ValueError`) with the command line's message.
fn input_error(message: impl Into<String>) -> PyErr {
    error_of(&INPUT_ERROR, "InputError", message.into())
}

/// A failure that is neither bad input nor the engine's: `smmcool.SmmcoolError`.
fn other_error(message: impl Into<String>) -> PyErr {
    error_of(&SMMCOOL_ERROR, "SmmcoolError", message.into())
}

/// How a key's value is given in TOML (and so which Python types it takes).
enum Kind {
    Text,
    Bool,
    Count,
    Numbers,
    Number,
    /// A list of tables (`segment`: one dict per `[[protocol.segment]]`).
    Tables,
}

fn kind(key: &Key) -> Kind {
    match key.path {
        "material.preset"
        | "rates.kappa_scaling"
        | "rates.kappa_calibration"
        | "protocol.shape"
        | "solver.formulation"
        | "protocol.waveform_csv" => Kind::Text,
        "output.trajectory" => Kind::Bool,
        "output.log_points_per_decade" | "solver.max_steps" | "protocol.cycles" => Kind::Count,
        "protocol.segment" => Kind::Tables,
        "output.sample_times_after_ramp_s"
        | "protocol.waveform_time_s"
        | "protocol.waveform_field_t" => Kind::Numbers,
        _ => Kind::Number,
    }
}

fn not_allowed(keyword: &str, value: &Bound<'_, PyAny>, allowed: &str) -> PyErr {
    let shown = value
        .repr()
        .map_or_else(|_| "?".to_string(), |r| r.to_string());
    input_error(format!("{keyword} = {shown} is not allowed: {allowed}"))
}

/// One Python value as the TOML value of `key`.
fn toml_value(key: &Key, keyword: &str, v: &Bound<'_, PyAny>) -> PyResult<toml::Value> {
    let number = |v: &Bound<'_, PyAny>| -> PyResult<f64> {
        if v.is_instance_of::<PyBool>() || v.is_instance_of::<PyString>() {
            return Err(not_allowed(keyword, v, "must be a number"));
        }
        v.extract::<f64>()
            .map_err(|_| not_allowed(keyword, v, "must be a number"))
    };
    Ok(match kind(key) {
        Kind::Text => toml::Value::String(
            v.extract::<String>()
                .map_err(|_| not_allowed(keyword, v, "must be a string"))?,
        ),
        Kind::Bool => toml::Value::Boolean(
            v.extract::<bool>()
                .map_err(|_| not_allowed(keyword, v, "must be True or False"))?,
        ),
        Kind::Count => {
            let rule = match key.path {
                "solver.max_steps" => format!(
                    "must be an integer in 1..={}",
                    smmcool::kinetics::MAX_STEPS_LIMIT
                ),
                "output.log_points_per_decade" => "must be an integer in 0..=100".into(),
                "protocol.cycles" => format!(
                    "must be an integer in 1..={}",
                    smmcool::scenario::MAX_CYCLES
                ),
                _ => "must be an integer".into(),
            };
            let int = (!v.is_instance_of::<PyBool>() && v.is_instance_of::<PyInt>())
                .then(|| v.extract::<i64>().ok())
                .flatten()
                .filter(|&i| i >= 0);
            toml::Value::Integer(int.ok_or_else(|| not_allowed(keyword, v, &rule))?)
        }
        Kind::Numbers => {
            let values: Vec<f64> = if v.is_instance_of::<PyFloat>() || v.is_instance_of::<PyInt>() {
                vec![number(v)?]
            } else {
                v.try_iter()
                    .map_err(|_| {
                        not_allowed(keyword, v, "must be a number or a sequence of numbers")
                    })?
                    .map(|x| number(&x?))
                    .collect::<PyResult<_>>()?
            };
            toml::Value::Array(values.into_iter().map(toml::Value::Float).collect())
        }
        Kind::Number => {
            let x = number(v)?;
            toml::Value::Float(x)
        }
        Kind::Tables => {
            let rule = "must be a list of dicts, one per segment (kind, link_closed, duration_s, b_final_t, sweep_rate_t_per_s, waveform_time_s, waveform_field_t, waveform_csv)";
            if v.is_instance_of::<PyString>() || v.is_instance_of::<PyDict>() {
                return Err(not_allowed(keyword, v, rule));
            }
            let mut tables = Vec::new();
            for item in v.try_iter().map_err(|_| not_allowed(keyword, v, rule))? {
                let item = item?;
                let dict = item
                    .cast::<PyDict>()
                    .map_err(|_| not_allowed(keyword, &item, rule))?;
                let mut table = toml::Table::new();
                for (k, x) in dict.iter() {
                    let name: String = k
                        .extract()
                        .map_err(|_| not_allowed(keyword, &k, "segment keys must be strings"))?;
                    let value = if x.is_instance_of::<PyBool>() {
                        toml::Value::Boolean(x.extract()?)
                    } else if x.is_instance_of::<PyString>() {
                        toml::Value::String(x.extract()?)
                    } else if let Ok(f) = x.extract::<f64>() {
                        toml::Value::Float(f)
                    } else if let Ok(path) = x.extract::<std::path::PathBuf>() {
                        toml::Value::String(path.display().to_string())
                    } else {
                        let items = x
                            .try_iter()
                            .map_err(|_| {
                                not_allowed(
                                    &name,
                                    &x,
                                    "must be a number, a string, True/False or a list of numbers",
                                )
                            })?
                            .map(|y| number(&y?).map(toml::Value::Float))
                            .collect::<PyResult<Vec<_>>>()?;
                        toml::Value::Array(items)
                    };
                    table.insert(name, value);
                }
                tables.push(toml::Value::Table(table));
            }
            toml::Value::Array(tables)
        }
    })
}

/// The TOML sections (`material`, `rates`, ...) of keyword arguments; `allowed` limits the
/// sections a function takes (e.g. only `material` for `levels`).
fn sections(
    kwargs: Option<&Bound<'_, PyDict>>,
    allowed: &[&str],
    function: &str,
) -> PyResult<toml::Table> {
    let mut out = toml::Table::new();
    let Some(kwargs) = kwargs else {
        return Ok(out);
    };
    for (k, v) in kwargs.iter() {
        let keyword: String = k.extract()?;
        if v.is_none() {
            continue;
        }
        let key = key_of_library_name(&keyword).filter(|key| {
            allowed
                .iter()
                .any(|s| key.path.starts_with(&format!("{s}.")))
        });
        let Some(key) = key else {
            let known: Vec<&str> = KEYS
                .iter()
                .filter(|key| {
                    allowed
                        .iter()
                        .any(|s| key.path.starts_with(&format!("{s}.")))
                })
                .map(|k| k.keyword())
                .collect();
            return Err(input_error(format!(
                "{function}() got an unknown keyword argument '{keyword}'; allowed: {}",
                known.join(", ")
            )));
        };
        let (section, name) = key.path.split_once('.').unwrap_or(("", key.path));
        let table = out
            .entry(section)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(t) = table {
            t.insert(name.to_string(), toml_value(key, key.keyword(), &v)?);
        }
    }
    Ok(out)
}

fn section<T: serde::de::DeserializeOwned>(t: &toml::Table, name: &str) -> PyResult<T> {
    let v = t
        .get(name)
        .cloned()
        .unwrap_or_else(|| toml::Value::Table(toml::Table::new()));
    v.try_into::<T>().map_err(|e| {
        let msg = e.to_string();
        // serde names a missing field `b_initial_t`: the keyword.
        input_error(match msg.split('`').nth(1) {
            Some(field) if msg.contains("missing field") => {
                format!("{field} is required (no default)")
            }
            _ => msg.trim().to_string(),
        })
    })
}

fn scenario_error(e: ScenarioError) -> PyErr {
    input_error(e.keyword_message())
}

/// A library parameter error as a ValueError naming the keyword.
fn parameter_error(p: &ParameterError) -> PyErr {
    let name = key_of_library_name(&p.name).map_or(p.name.as_str(), |k| k.keyword());
    let value = if p.value.is_nan() {
        String::new()
    } else {
        format!(" = {}", p.value)
    };
    input_error(format!("{name}{value} is not allowed: {}", p.allowed))
}

fn library_error(py: Python<'_>, e: smmcool::Error) -> PyErr {
    if let Some(p) = e.parameter() {
        return parameter_error(p);
    }
    match e.kind() {
        ErrorKind::InvalidInput => input_error(e.to_string()),
        _ => solver_error(py, &e.to_string(), None, None),
    }
}

fn solver_error(
    py: Python<'_>,
    message: &str,
    at: Option<(f64, f64, f64, &str)>,
    params: Option<(f64, f64, f64)>,
) -> PyErr {
    let err = error_of(&SOLVER_ERROR, "SolverError", message.to_string());
    let value = err.value(py);
    let set = || -> PyResult<()> {
        value.setattr("time_s", at.map(|a| a.0))?;
        value.setattr("field_t", at.map(|a| a.1))?;
        // NaN only if the state's temperature could not be solved for.
        value.setattr("temperature_k", at.map(|a| a.2).filter(|t| !t.is_nan()))?;
        value.setattr("stage", at.map(|a| a.3.to_string()))?;
        let p = PyDict::new(py);
        if let Some((bi, bf, ti)) = params {
            p.set_item("b_initial_t", bi)?;
            p.set_item("b_final_t", bf)?;
            p.set_item("initial_temperature_k", ti)?;
        }
        value.setattr("parameters", p)?;
        Ok(())
    };
    match set() {
        Ok(()) => err,
        Err(e) => e,
    }
}

fn engine_error(py: Python<'_>, e: EngineError, params: (f64, f64, f64)) -> PyErr {
    if let Some(p) = e.parameter() {
        return parameter_error(p);
    }
    match &e {
        EngineError::Solver {
            stage,
            t_s,
            field_t,
            t_phonon_k,
            ..
        } => solver_error(
            py,
            &e.to_string(),
            Some((*t_s, *field_t, *t_phonon_k, stage)),
            Some(params),
        ),
        _ if e.kind() == ErrorKind::InvalidInput => input_error(e.to_string()),
        _ => solver_error(py, &e.to_string(), None, Some(params)),
    }
}

fn material(kwargs: Option<&Bound<'_, PyDict>>, function: &str) -> PyResult<smmcool::Material> {
    let t = sections(kwargs, &["material"], function)?;
    let m: MaterialSection = section(&t, "material")?;
    m.build().map_err(scenario_error)
}

/// The material of keyword arguments (preset and overrides, the spin Hamiltonian's keys
/// included) as a dict: name, spin, d_k, g_par, b4_k, c4_k, e_k, transverse_field_t,
/// misalignment_deg (the Hamiltonian as given, as in the `hamiltonian` record of the command
/// line's JSON), has_tunnelling, debye_temperature_k, phonon_units, tau0_s, barrier_k, m (the
/// M values), source. Any preset is taken (the spectroscopic ones too), validated as
/// `smmcool resonances`, `tau` and `simulate` validate it.
#[pyfunction]
#[pyo3(signature = (**kwargs))]
fn material_info<'py>(
    py: Python<'py>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyDict>> {
    let t = sections(kwargs, &["material"], "Material")?;
    let section: MaterialSection = section(&t, "material")?;
    let (m, h) = section.build_with_hamiltonian().map_err(scenario_error)?;
    let record = h.record();
    let d = PyDict::new(py);
    d.set_item("name", &m.name)?;
    d.set_item("spin", record.spin)?;
    d.set_item("d_k", record.d_k)?;
    d.set_item("g_par", record.g_par)?;
    d.set_item("b4_k", record.b4_k)?;
    d.set_item("c4_k", record.c4_k)?;
    d.set_item("e_k", record.e_k)?;
    d.set_item("transverse_field_t", record.transverse_field_t)?;
    d.set_item("misalignment_deg", record.misalignment_deg)?;
    d.set_item("has_tunnelling", h.has_transverse_terms())?;
    d.set_item("debye_temperature_k", m.debye.theta_k())?;
    d.set_item("phonon_units", m.debye.units())?;
    d.set_item("tau0_s", m.arrhenius.tau0_s)?;
    d.set_item("barrier_k", m.arrhenius.barrier_k)?;
    let ms: Vec<f64> = (0..m.spin.n_levels()).map(|i| m.spin.m(i)).collect();
    d.set_item("m", PyArray1::from_vec(py, ms))?;
    d.set_item("source", &m.source)?;
    Ok(d)
}

/// Refuse the keyword arguments that have no effect on `command` (`levels`, `tau`, `limits`),
/// with the command line's reason ([`smmcool::scenario::NoEffect`]), naming the keyword.
#[pyfunction]
#[pyo3(signature = (command, **kwargs))]
fn refuse_no_effect(command: &str, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
    let (Some(rule), Some(kwargs)) = (smmcool::scenario::NoEffect::of(command), kwargs) else {
        return Ok(());
    };
    for path in rule.keys {
        let Some(key) = smmcool::scenario::key(path) else {
            continue;
        };
        if let Some(v) = kwargs.get_item(key.keyword())? {
            if v.is_none() {
                continue;
            }
            let value = v.extract::<f64>().unwrap_or(f64::NAN);
            let mut message = rule.message(key.keyword(), value);
            if value.is_nan() {
                let shown = v.repr().map_or_else(|_| "?".to_string(), |r| r.to_string());
                message = message.replacen("NaN", &shown, 1);
            }
            return Err(input_error(message));
        }
    }
    Ok(())
}

/// The resonances of `smmcool resonances --json` (the same document, as the dict `json.loads`
/// makes of it): the
/// Hamiltonian of the material keywords (validated as the command line validates it) and its
/// resonances k = 0..=`k_max` with their tunnel splittings, computed without the GIL.
#[pyfunction]
#[pyo3(signature = (k_max, **kwargs))]
fn resonances<'py>(
    py: Python<'py>,
    k_max: u32,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let t = sections(kwargs, &["material"], "resonances")?;
    let m: MaterialSection = section(&t, "material")?;
    let h = m.resonance_hamiltonian().map_err(scenario_error)?;
    let preset = m.preset.as_deref().unwrap_or("mn12ac");
    let doc = py
        .detach(|| smmcool::model::tunnelling::resonances_json(&h, preset, k_max))
        .map_err(|e| library_error(py, e))?;
    json_value(py, &doc)
}

/// The preset keys.
#[pyfunction]
fn presets() -> Vec<&'static str> {
    smmcool::model::PRESETS.iter().map(|p| p.key).collect()
}

/// Level energies: (m, energy_k, energy_above_ground_k) with one row per field.
#[pyfunction]
#[pyo3(signature = (field_t, **kwargs))]
#[allow(clippy::type_complexity)]
fn levels<'py>(
    py: Python<'py>,
    field_t: PyReadonlyArray1<'py, f64>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<(
    Bound<'py, PyArray1<f64>>,
    Bound<'py, numpy::PyArray2<f64>>,
    Bound<'py, numpy::PyArray2<f64>>,
)> {
    let mat = material(kwargs, "levels")?;
    let spin = mat.spin;
    let n = spin.n_levels();
    let fields = field_t.as_slice()?;
    let mut abs = Array2::<f64>::zeros((fields.len(), n));
    let mut rel = Array2::<f64>::zeros((fields.len(), n));
    let mut e = vec![0.0; n];
    for (row, &b) in fields.iter().enumerate() {
        if !b.is_finite() {
            return Err(input_error(format!(
                "field_t = {b} is not allowed: must be a finite number"
            )));
        }
        spin.energies_into(b, &mut e);
        let g = e.iter().copied().fold(f64::INFINITY, f64::min);
        for i in 0..n {
            abs[[row, i]] = e[i];
            rel[[row, i]] = e[i] - g;
        }
    }
    let m: Vec<f64> = (0..n).map(|i| spin.m(i)).collect();
    Ok((
        PyArray1::from_vec(py, m),
        abs.into_pyarray(py),
        rel.into_pyarray(py),
    ))
}

/// Relaxation times at the temperatures `temperature_k` (and the fields `field_t`, element by
/// element: the same length), as `smmcool tau` computes them ([`MaterialSection::tau_material`],
/// [`FieldTau`]), as a dict of arrays: `tau_arrhenius_s`, `tau_model_s`, `kappa_per_s_k3`. With
/// fields, or a Hamiltonian beyond Eq. 1 (then at B = 0 without fields), `tau_model_s` is
/// 1/(kappa(T) lambda1(B, T)) of the rate model with its tunnelling, `field` is True, and with
/// transverse terms `tau_without_tunnelling_s` is the spin-phonon rates' alone, beside the
/// records of `smmcool tau --json`: `mechanisms`, `tunnelling_pairs` (JSON text),
/// `definition`; without, the zero-field table's calibration time.
#[pyfunction]
#[pyo3(signature = (temperature_k, field_t=None, **kwargs))]
fn tau<'py>(
    py: Python<'py>,
    temperature_k: PyReadonlyArray1<'py, f64>,
    field_t: Option<PyReadonlyArray1<'py, f64>>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyDict>> {
    use smmcool::scenario::{tau_temperature_rule, MAX_TAU_TEMPERATURE_K};
    let t = sections(kwargs, &["material", "rates"], "tau")?;
    let m: MaterialSection = section(&t, "material")?;
    let r: RatesSection = section(&t, "rates")?;
    let temps = temperature_k.as_slice()?;
    for &x in temps {
        if !(x.is_finite() && x > 0.0) {
            return Err(input_error(format!(
                "temperature_k = {x} is not allowed: must be a finite temperature > 0 K"
            )));
        }
        if x > MAX_TAU_TEMPERATURE_K {
            return Err(input_error(format!(
                "temperature_k = {} is not allowed: {}",
                smmcool::units::number(x),
                tau_temperature_rule()
            )));
        }
    }
    let (mat, plain, h) = m.tau_material(&r).map_err(scenario_error)?;
    let field_mode = field_t.is_some() || h.is_some();
    let fields: Vec<f64> = match &field_t {
        Some(f) => f.as_slice()?.to_vec(),
        None if field_mode => vec![0.0; temps.len()],
        None => Vec::new(),
    };
    if field_mode && fields.len() != temps.len() {
        return Err(input_error(
            "temperature_k and field_t must have the same length",
        ));
    }
    let tau = FieldTau::new(plain, h.as_ref()).map_err(|e| library_error(py, e.into()))?;
    for &b in &fields {
        if !b.is_finite() {
            return Err(input_error(format!(
                "field_t = {b} is not allowed: must be a finite number"
            )));
        }
        if let Err(e) = tau.check_field(b) {
            return Err(input_error(format!(
                "field_t = {} is not allowed: {}",
                smmcool::units::number(b),
                e.allowed
            )));
        }
    }
    let model = tau.model();
    let n = temps.len();
    type Rows = (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>);
    let rows: Result<Rows, smmcool::Error> = py.detach(|| {
        let (mut ta, mut tm, mut k, mut tw) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::new(),
        );
        for (i, &x) in temps.iter().enumerate() {
            ta.push(mat.arrhenius.tau_s(x));
            k.push(model.kappa(x)?);
            if field_mode {
                tm.push(tau.tau_s(fields[i], x)?);
                if let Some(w) = tau.tau_without_tunnelling_s(fields[i], x)? {
                    tw.push(w);
                }
            } else {
                tm.push(model.tau_model_s(x)?);
            }
        }
        Ok((ta, tm, k, tw))
    });
    let (ta, tm, k, tw) = rows.map_err(|e| library_error(py, e))?;
    let d = PyDict::new(py);
    d.set_item("tau_arrhenius_s", PyArray1::from_vec(py, ta))?;
    d.set_item("tau_model_s", PyArray1::from_vec(py, tm))?;
    d.set_item("kappa_per_s_k3", PyArray1::from_vec(py, k))?;
    d.set_item("field", field_mode)?;
    d.set_item("material", &mat.name)?;
    d.set_item("hamiltonian", to_python(py, &mat.hamiltonian.record())?)?;
    if field_mode {
        let names: Vec<&str> = model.mechanisms().iter().map(|m| m.name()).collect();
        d.set_item("mechanisms", names)?;
        let pairs = tau.pair_records();
        d.set_item("tunnelling_pairs", to_python(py, &pairs)?)?;
        if tau.tunnelling().is_some() {
            d.set_item("tau_without_tunnelling_s", PyArray1::from_vec(py, tw))?;
        }
    }
    Ok(d)
}

/// Elements per chunk of `limits`' parallel loop (one solver per thread that takes a chunk,
/// the results of a chunk written in place): about sixteen chunks per thread, so that a thread
/// left without work at the end waits for at most one short chunk of another (1024 elements,
/// ~0.3 ms), and at least [`LIMITS_CHUNK_MIN`] elements, so that a chunk's own cost stays
/// negligible.
const LIMITS_CHUNK_MAX: usize = 1024;
const LIMITS_CHUNK_MIN: usize = 64;

/// What one chunk of `limits` leaves besides its roots: the elements without a finite
/// isentropic temperature (index, reason), and the first failure (index, error), if any.
#[derive(Default)]
struct LimitsChunk {
    notes: Vec<(usize, String)>,
    error: Option<(usize, smmcool::Error)>,
}

/// What every chunk of one `limits` call shares: the engine's tables, the material, the
/// inputs (either of length 1 standing for every element), the chunk length and the lowest
/// index of a failing element so far.
struct LimitsJob<'a> {
    ctx: &'a EngineContext,
    mat: &'a smmcool::model::Material,
    bf: &'a [f64],
    ti: &'a [f64],
    chunk: usize,
    first_error: &'a AtomicUsize,
}

impl LimitsJob<'_> {
    /// Solve chunk `c` into `out` (sudden K, sudden - initial K, isentropic K or NaN,
    /// isentropic - initial K or NaN): up to its end or to an element past the first failure
    /// found so far (its own elements before it are still solved, so the first failure in
    /// index order is always found).
    fn run(
        &self,
        solver: &mut LimitsSolver<'_>,
        c: usize,
        out: [&mut [MaybeUninit<f64>]; 4],
    ) -> LimitsChunk {
        let at = |x: &[f64], i: usize| if x.len() == 1 { x[0] } else { x[i] };
        let [s, ds, q, dq] = out;
        let mut res = LimitsChunk::default();
        let mut k = 0;
        while k < s.len() {
            let i = c * self.chunk + k;
            if i > self.first_error.load(Ordering::Relaxed) {
                break;
            }
            let b = at(self.bf, i);
            if b.is_finite() && solver.table_field_t().map(f64::to_bits) != Some(b.to_bits()) {
                solver.use_table(self.ctx.limits_table(&self.mat.spin, &self.mat.debye, b));
            }
            // Four elements to one final field together (`LimitsSolver::solve4`: the same
            // numbers as one at a time), else one.
            let n = if k + 4 <= s.len()
                && (1..4).all(|d| at(self.bf, i + d).to_bits() == b.to_bits())
            {
                4
            } else {
                1
            };
            // Writes element i + d's result; false on a failure (recorded).
            let mut write = |d: usize, root: Result<(f64, Isentropic), NumericsError>| {
                let t = at(self.ti, i + d);
                match root {
                    Ok((a, outcome)) => {
                        let e = outcome.t_final_k().unwrap_or(f64::NAN);
                        s[k + d].write(a);
                        ds[k + d].write(a - t);
                        q[k + d].write(e);
                        dq[k + d].write(e - t);
                        if let Some(note) = outcome.note(b) {
                            res.notes.push((i + d, note));
                        }
                        true
                    }
                    Err(e) => {
                        self.first_error.fetch_min(i + d, Ordering::Relaxed);
                        res.error = Some((i + d, e.into()));
                        false
                    }
                }
            };
            if n == 4 {
                // After a failure the rest of the four are not written (the call fails).
                let mut ok = true;
                solver.solve4_with(b, [0, 1, 2, 3].map(|d| at(self.ti, i + d)), |d, root| {
                    ok = ok && write(d, root);
                });
                if !ok {
                    return res;
                }
            } else if !write(0, solver.solve(b, at(self.ti, i))) {
                return res;
            }
            k += n;
        }
        res
    }
}

/// The sudden (Eq. 9) and isentropic (Eq. 11) limits for pairs (b_final_t[i],
/// initial_temperature_k[i]), either array of length 1 standing for every element:
/// (sudden K, sudden - initial K, isentropic K or NaN, isentropic - initial K or NaN, the
/// indices of the elements without a finite isentropic temperature and the reason for each).
/// The solvers' starting points per final field are `engine`'s tables (the same numbers as
/// `smmcool limits`). Everything that scales with the number of elements runs in the parallel
/// loop, without the GIL; the error reported is that of the first failing element.
#[pyfunction]
#[pyo3(signature = (engine, b_initial_t, b_final_t, initial_temperature_k, **kwargs))]
#[allow(clippy::type_complexity)]
fn limits<'py>(
    py: Python<'py>,
    engine: &Engine,
    b_initial_t: f64,
    b_final_t: PyReadonlyArray1<'py, f64>,
    initial_temperature_k: PyReadonlyArray1<'py, f64>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<(
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Vec<usize>,
    Vec<String>,
)> {
    let mat = material(kwargs, "limits")?;
    let bf = b_final_t.as_slice()?;
    let ti = initial_temperature_k.as_slice()?;
    let n = match (bf.len(), ti.len()) {
        (a, b) if a == b => a,
        (1, b) => b,
        (a, 1) => a,
        _ => {
            return Err(input_error(
                "b_final_t and initial_temperature_k must have the same length (or one of them length 1)",
            ))
        }
    };
    let ctx = engine.ctx.clone();
    let chunk = n
        .div_ceil(16 * rayon::current_num_threads())
        .clamp(LIMITS_CHUNK_MIN, LIMITS_CHUNK_MAX);
    // The outputs are not zeroed first (zeroing 4 x 8 bytes per element on the calling
    // thread cost ~0.15 ms of 1e5 elements' ~14 ms): every element is written once, in the
    // loop below (the lengths are set after it).
    let (mut sudden, mut sudden_delta) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut isentropic, mut isentropic_delta) = (Vec::with_capacity(n), Vec::with_capacity(n));
    // The lowest index of a failing element so far: a chunk stops past it (its own elements
    // before it are still solved, so the first failure in index order is always found).
    let first_error = AtomicUsize::new(usize::MAX);
    let job = LimitsJob {
        ctx: &ctx,
        mat: &mat,
        bf,
        ti,
        chunk,
        first_error: &first_error,
    };
    let mut chunks: Vec<LimitsChunk> = py.detach(|| {
        if n <= chunk {
            // One chunk (a scalar call, an array of up to 64 elements): solved here, on the
            // calling thread, without rayon's adapters and per-call set-up. (Rayon does not
            // split a one-chunk iterator, so it ran on this thread before too, without
            // waking the pool: this saves 1,760 of the 29,630 instructions of the
            // extension's part of a scalar call.)
            let mut solver = LimitsSolver::new(&mat, b_initial_t);
            let out = [
                &mut sudden.spare_capacity_mut()[..n],
                &mut sudden_delta.spare_capacity_mut()[..n],
                &mut isentropic.spare_capacity_mut()[..n],
                &mut isentropic_delta.spare_capacity_mut()[..n],
            ];
            return vec![job.run(&mut solver, 0, out)];
        }
        // Elements are independent (two root solves each): chunks of them handed out one
        // at a time, each root and its difference to T_i written straight into the outputs,
        // to the calling thread itself and to rayon's other threads. The calling thread works
        // from the start (`in_place_scope`): handing the whole loop to the pool instead
        // (`par_chunks_mut`) left it asleep while it woke a pool thread, which then woke the
        // next, on the critical path of every call. One solver (its scratch buffers, the
        // levels at B_i) per thread that takes a chunk; the table of each final field shared
        // through the engine's context.
        let queue = Mutex::new(
            sudden.spare_capacity_mut()[..n]
                .chunks_mut(chunk)
                .zip(sudden_delta.spare_capacity_mut()[..n].chunks_mut(chunk))
                .zip(isentropic.spare_capacity_mut()[..n].chunks_mut(chunk))
                .zip(isentropic_delta.spare_capacity_mut()[..n].chunks_mut(chunk))
                .enumerate(),
        );
        let n_chunks = n.div_ceil(chunk);
        let done = Mutex::new(Vec::with_capacity(n_chunks));
        let work = || {
            let mut solver = None;
            loop {
                // The lock is held only to take the next chunk (the iterator is not Sync).
                let next = queue.lock().unwrap_or_else(PoisonError::into_inner).next();
                let Some((c, (((s, ds), q), dq))) = next else {
                    break;
                };
                let solver = solver.get_or_insert_with(|| LimitsSolver::new(&mat, b_initial_t));
                let res = job.run(solver, c, [s, ds, q, dq]);
                done.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push((c, res));
            }
        };
        // One helper per other pool thread, but no more than there are chunks besides the
        // calling thread's first (a short array on a many-core machine wakes only as many
        // threads as can take a chunk).
        let helpers = (rayon::current_num_threads() - 1).min(n_chunks - 1);
        rayon::in_place_scope(|scope| {
            for _ in 0..helpers {
                scope.spawn(|_| work());
            }
            work();
        });
        // In chunk order (the notes' indices ascending, as before).
        let mut done = done.into_inner().unwrap_or_else(PoisonError::into_inner);
        done.sort_unstable_by_key(|(c, _)| *c);
        done.into_iter().map(|(_, res)| res).collect()
    });
    if let Some((_, e)) = chunks
        .iter_mut()
        .filter_map(|c| c.error.take())
        .min_by_key(|(i, _)| *i)
    {
        return Err(library_error(py, e));
    }
    // SAFETY: without a failing element every chunk ran to its end (a chunk stops early only
    // past a failure found, and then the call returned above), writing each of its elements
    // into all four outputs: the first n elements of each are initialized.
    unsafe {
        sudden.set_len(n);
        sudden_delta.set_len(n);
        isentropic.set_len(n);
        isentropic_delta.set_len(n);
    }
    let (index, notes) = chunks.into_iter().flat_map(|c| c.notes).unzip();
    Ok((
        PyArray1::from_vec(py, sudden),
        PyArray1::from_vec(py, sudden_delta),
        PyArray1::from_vec(py, isentropic),
        PyArray1::from_vec(py, isentropic_delta),
        index,
        notes,
    ))
}

/// The shared tables of the engine (kappa(T) and the well tables), owned by this object: runs
/// simulated with the same Engine share them; dropping it frees them. Each kind of table is
/// bounded (least recently used evicted), so an Engine does not grow without limit.
#[pyclass(frozen, module = "smmcool._smmcool")]
struct Engine {
    ctx: Arc<EngineContext>,
}

#[pymethods]
impl Engine {
    #[new]
    fn new() -> Self {
        Self {
            ctx: Arc::new(EngineContext::new()),
        }
    }
}

/// Build a scenario from keyword arguments (all sections) or from TOML text.
fn scenario_of(kwargs: Option<&Bound<'_, PyDict>>, function: &str) -> PyResult<Scenario> {
    let t = sections(
        kwargs,
        &[
            "material", "rates", "protocol", "solver", "output", "sample", "link",
        ],
        function,
    )?;
    Ok(Scenario {
        material: section(&t, "material")?,
        rates: section(&t, "rates")?,
        protocol: section::<ProtocolSection>(&t, "protocol")?,
        solver: section(&t, "solver")?,
        output: section(&t, "output")?,
        sample: section(&t, "sample")?,
        link: section(&t, "link")?,
    })
}

/// A validated scenario (keyword arguments or TOML text), kept as its TOML text.
#[pyfunction]
#[pyo3(signature = (toml_text=None, **kwargs))]
fn scenario_toml(toml_text: Option<&str>, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<String> {
    let scenario = match toml_text {
        Some(text) => {
            if kwargs.is_some_and(|k| !k.is_empty()) {
                return Err(input_error(
                    "give either TOML text or keyword arguments, not both",
                ));
            }
            scenario_from_toml(text)?
        }
        None => scenario_of(kwargs, "Scenario")?,
    };
    scenario.build().map_err(scenario_error)?;
    toml::to_string(&scenario).map_err(|e| input_error(e.to_string()))
}

/// A scenario from TOML text with the sections of a config (no sweeps: one run).
fn scenario_from_toml(text: &str) -> PyResult<Scenario> {
    let plan = smmcool::Plan::from_text(std::path::Path::new("<scenario>"), text.to_string())
        .map_err(|e| input_error(e.to_string()))?;
    if plan.n_runs() != 1 {
        return Err(input_error(format!(
            "<scenario>: a scenario is one run, this text sweeps {} runs; use run_batch for sweeps",
            plan.n_runs()
        )));
    }
    Ok(plan.scenario(0))
}

/// Simulate one run: (summary dict, trajectory dict of arrays or None, m values).
#[pyfunction]
#[pyo3(signature = (engine, toml_text=None, **kwargs))]
#[allow(clippy::type_complexity)]
fn simulate(
    py: Python<'_>,
    engine: &Engine,
    toml_text: Option<&str>,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> PyResult<RunData> {
    let scenario = match toml_text {
        Some(text) => scenario_from_toml(text)?,
        None => scenario_of(kwargs, "simulate")?,
    };
    let built = scenario.build().map_err(scenario_error)?;
    let ctx = engine.ctx.clone();
    let spec = &built.spec;
    let (result, wall) = py.detach(|| {
        let start = std::time::Instant::now();
        let r = smmcool::simulate(&ctx, spec);
        (r, start.elapsed().as_secs_f64())
    });
    let p = &built.params;
    let tr = result
        .map_err(|e| engine_error(py, e, (p.b_initial_t, p.b_final_t, p.initial_temperature_k)))?;
    let samples = &spec.options.sample_times_after_ramp_s;
    let record = RunRecord::from_result(
        built.params.clone(),
        Ok(tr),
        samples,
        scenario.output.trajectory,
        wall,
        (None, None),
    );
    let summary = scenario
        .lone_run_summary(spec, &record)
        .map_err(|e| other_error(e.to_string()))?;
    let spin = &spec.material.spin;
    let m: Vec<f64> = (0..spin.n_levels()).map(|i| spin.m(i)).collect();
    Ok(RunData {
        summary,
        trajectory: record.trajectory,
        m,
    })
}

/// One run's results as the engine left them: the summary (the command line's JSON object)
/// and the trajectory columns, converted to Python objects only when `smmcool.Run` asks for
/// them (each value or column on its first access, then kept by the Run). A call that reads
/// a few values makes a few Python objects, not the ~150 of the whole summary and the
/// trajectory's arrays (docs/numerics.md section 9).
#[pyclass(frozen, module = "smmcool._smmcool")]
struct RunData {
    summary: serde_json::Map<String, serde_json::Value>,
    trajectory: Option<TrajectoryColumns>,
    m: Vec<f64>,
}

#[pymethods]
impl RunData {
    /// The whole summary as the dict `json.loads` makes of the command line's JSON.
    fn summary<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        json_object(py, &self.summary)
    }

    /// The summary's keys, in its order.
    fn keys(&self) -> Vec<String> {
        self.summary.keys().cloned().collect()
    }

    /// One summary value as `json.loads` makes it; KeyError for a name not in the summary.
    fn value<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        match self.summary.get(name) {
            Some(v) => json_value(py, v),
            None => Err(pyo3::exceptions::PyKeyError::new_err(name.to_string())),
        }
    }

    /// Whether `name` is a key of the summary.
    fn has(&self, name: &str) -> bool {
        self.summary.contains_key(name)
    }

    /// A summary list of numbers (null as NaN) as a float64 array.
    fn numbers<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let Some(serde_json::Value::Array(a)) = self.summary.get(name) else {
            return Err(pyo3::exceptions::PyKeyError::new_err(name.to_string()));
        };
        let v: Vec<f64> = a.iter().map(|x| x.as_f64().unwrap_or(f64::NAN)).collect();
        Ok(PyArray1::from_vec(py, v))
    }

    /// Whether the run kept its trajectory.
    fn has_trajectory(&self) -> bool {
        self.trajectory.is_some()
    }

    /// The trajectory as a dict of NumPy arrays (None without one).
    fn trajectory<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.trajectory.as_ref().map(|c| columns(py, c)).transpose()
    }

    /// One trajectory quantity as a NumPy array; KeyError for a name not in the trajectory
    /// table or when the run kept no trajectory.
    fn column<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        match (&self.trajectory, TRAJECTORY.iter().find(|q| q.name == name)) {
            (Some(c), Some(q)) => column(py, c, q),
            _ => Err(pyo3::exceptions::PyKeyError::new_err(name.to_string())),
        }
    }

    /// The M value of each level, -S..S.
    fn m<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        PyArray1::from_slice(py, &self.m)
    }
}

/// A JSON object as the dict `json.loads` makes of its text (the same keys in the same order,
/// the same values: JSON numbers written from integers as int, the others as float, null as
/// None), without writing and parsing the text (~25 us of a ~0.7 ms `simulate` call).
fn json_object<'py>(
    py: Python<'py>,
    map: &serde_json::Map<String, serde_json::Value>,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in map {
        d.set_item(k, json_value(py, v)?)?;
    }
    Ok(d)
}

/// A serializable value as `json.loads` makes it of the value's JSON text.
fn to_python<'py, T: serde::Serialize>(py: Python<'py>, x: &T) -> PyResult<Bound<'py, PyAny>> {
    let v = serde_json::to_value(x).map_err(|e| other_error(e.to_string()))?;
    json_value(py, &v)
}

fn json_value<'py>(py: Python<'py>, v: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    use serde_json::Value;
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.into_pyobject(py)?.into_any(),
            (None, Some(u), _) => u.into_pyobject(py)?.into_any(),
            (None, None, Some(f)) => PyFloat::new(py, f).into_any(),
            _ => return Err(other_error(format!("a JSON number out of range: {n}"))),
        },
        Value::String(t) => PyString::new(py, t).into_any(),
        Value::Array(a) => {
            let items = a
                .iter()
                .map(|x| json_value(py, x))
                .collect::<PyResult<Vec<_>>>()?;
            pyo3::types::PyList::new(py, items)?.into_any()
        }
        Value::Object(m) => json_object(py, m)?.into_any(),
    })
}

/// The trajectory columns as NumPy arrays, named by the one table of output quantities.
fn columns<'py>(py: Python<'py>, c: &TrajectoryColumns) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for q in TRAJECTORY {
        d.set_item(q.name, column(py, c, q)?)?;
    }
    Ok(d)
}

/// One trajectory quantity as a NumPy array (populations 2-D: time x level).
fn column<'py>(
    py: Python<'py>,
    c: &TrajectoryColumns,
    q: &smmcool::results::TrajectoryQuantity,
) -> PyResult<Bound<'py, PyAny>> {
    Ok(match q.access {
        TrajectoryAccess::F64(get, _) => PyArray1::from_slice(py, get(c)).into_any(),
        TrajectoryAccess::Populations => {
            let n = c.populations.first().map_or(0, Vec::len);
            let flat: Vec<f64> = c.populations.iter().flatten().copied().collect();
            let a = Array2::from_shape_vec((c.populations.len(), n), flat)
                .map_err(|e| other_error(e.to_string()))?;
            a.into_pyarray(py).into_any()
        }
        TrajectoryAccess::Stage => PyArray1::from_slice(py, &c.stage).into_any(),
    })
}

/// The names of the trajectory's quantities, in the table's order.
#[pyfunction]
fn trajectory_quantities() -> Vec<&'static str> {
    TRAJECTORY.iter().map(|q| q.name).collect()
}

/// Name -> (unit, description) of every summary and trajectory quantity.
#[pyfunction]
fn quantities<'py>(py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for q in SUMMARY {
        d.set_item(q.name, (q.unit, q.description))?;
    }
    for q in TRAJECTORY {
        d.set_item(q.name, (q.unit, q.description))?;
    }
    Ok(d)
}

/// What `run_batch` hands to Python: runs, computed, resumed, failed, wall_time_s and the shard
/// (index, count).
type BatchCounts = (usize, usize, usize, usize, f64, (usize, usize));

/// Run a batch config (a file path, or TOML text when `is_text`) into the HDF5 file `output`
/// on rayon threads without the GIL. Signals (Ctrl-C) are checked every 50 ms: the first one
/// stops the batch between runs (the completed runs stay in OUTPUT.parts; `resume=True`
/// finishes it) and is raised again. Returns (runs, computed, resumed, failed, wall_time_s).
#[pyfunction]
#[pyo3(signature = (config, output, is_text, threads, progress, resume, force, yes, shard))]
#[allow(clippy::too_many_arguments)]
fn run_batch(
    py: Python<'_>,
    config: &str,
    output: std::path::PathBuf,
    is_text: bool,
    threads: Option<usize>,
    progress: bool,
    resume: bool,
    force: bool,
    yes: bool,
    shard: Option<String>,
) -> PyResult<BatchCounts> {
    use smmcool::batch::runner::{parse_shard, shard_from_slurm};
    use std::sync::atomic::{AtomicBool, Ordering};
    let plan = if is_text {
        smmcool::Plan::from_text(std::path::Path::new("<config>"), config.to_string())
    } else {
        smmcool::Plan::load(std::path::Path::new(config))
    }
    .map_err(|e| input_error(e.to_string()))?;
    plan.check_size(yes)
        .map_err(|e| input_error(e.to_string().replace("--yes", "yes=True")))?;
    if threads == Some(0) {
        return Err(input_error(
            "threads = 0 is not allowed: must be >= 1 (or None for all cores)",
        ));
    }
    // As `smmcool run --shard i/N`; without it, a SLURM array task's shard, else all runs.
    let shard = match &shard {
        Some(s) => parse_shard(s).map_err(|e| input_error(format!("shard = {e}")))?,
        None => shard_from_slurm()
            .map_err(|e| input_error(format!("SLURM environment: {e}")))?
            .unwrap_or((0, 1)),
    };
    let opts = smmcool::RunOptions {
        output,
        threads,
        shard,
        resume,
        force,
        quiet: !progress,
    };
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    let worker = std::thread::spawn(move || smmcool::run_batch_cancellable(&plan, &opts, &flag));
    let mut interrupt = None;
    while !worker.is_finished() {
        py.detach(|| std::thread::sleep(std::time::Duration::from_millis(50)));
        if interrupt.is_none() {
            if let Err(e) = py.check_signals() {
                cancel.store(true, Ordering::Relaxed);
                interrupt = Some(e);
            }
        }
    }
    let result = worker
        .join()
        .map_err(|_| other_error("the batch thread panicked"))?;
    if let Some(e) = interrupt {
        // The batch stopped between runs; what it kept is in the parts directory.
        if let Err(b) = &result {
            let note = b.to_string();
            let _ = e.value(py).call_method1("add_note", (note,));
        }
        return Err(e);
    }
    let o = result.map_err(|e| {
        let e = smmcool::Error::from(e);
        match e.kind() {
            ErrorKind::InvalidInput => input_error(e.to_string()),
            _ => other_error(e.to_string()),
        }
    })?;
    Ok((
        o.runs,
        o.computed,
        o.resumed,
        o.failed,
        o.wall_time_s,
        shard,
    ))
}

/// Merge shard files of one config into `output`, as `smmcool merge`; returns the config's
/// run count.
#[pyfunction]
fn merge(
    py: Python<'_>,
    inputs: Vec<std::path::PathBuf>,
    output: std::path::PathBuf,
    force: bool,
) -> PyResult<usize> {
    py.detach(|| smmcool::batch::merge::merge(&inputs, &output, force))
        .map_err(|e| {
            let e = smmcool::Error::from(e);
            match e.kind() {
                ErrorKind::InvalidInput => {
                    input_error(e.to_string().replace("--force", "force=True"))
                }
                _ => other_error(e.to_string()),
            }
        })
}

/// The summary of a batch file: (columns: name -> array or list, sample times, swept keys,
/// waveforms: run index -> {time_s, field_t}, the resolved physics of run 0 as the dict
/// `json.loads` makes of its JSON: None when the file has none).
#[pyfunction]
#[allow(clippy::type_complexity)]
fn read<'py>(
    py: Python<'py>,
    path: std::path::PathBuf,
) -> PyResult<(
    Bound<'py, PyDict>,
    Vec<f64>,
    Vec<String>,
    Bound<'py, PyDict>,
    Bound<'py, PyAny>,
)> {
    use smmcool::results::Access;
    let (records, meta) = py
        .detach(|| {
            Ok::<_, smmcool::io::IoError>((
                smmcool::read_summary(&path)?,
                smmcool::read_meta(&path)?,
            ))
        })
        .map_err(|e| input_error(e.to_string()))?;
    let d = PyDict::new(py);
    for q in SUMMARY {
        match q.access {
            Access::F64(get, _) => {
                let v: Vec<f64> = records.iter().map(|r| get(r).unwrap_or(f64::NAN)).collect();
                d.set_item(q.name, PyArray1::from_vec(py, v))?;
            }
            Access::U64(get, _) => {
                let v: Vec<u64> = records.iter().map(get).collect();
                d.set_item(q.name, PyArray1::from_vec(py, v))?;
            }
            Access::Text(get, _) => {
                let v: Vec<Option<String>> = records.iter().map(get).collect();
                d.set_item(q.name, v)?;
            }
            Access::Code(get, _, labels) => {
                let v: Vec<&str> = records.iter().map(|r| labels[get(r)]).collect();
                d.set_item(q.name, v)?;
            }
            Access::Swept => {
                for (k, key) in meta.swept_keys.iter().enumerate() {
                    let v: Vec<f64> = records
                        .iter()
                        .map(|r| r.params.swept.get(k).map_or(f64::NAN, |x| x.1))
                        .collect();
                    d.set_item(format!("swept {key}"), PyArray1::from_vec(py, v))?;
                }
            }
            Access::Samples => {
                let n = meta.sample_times_after_ramp_s.len();
                let flat: Vec<f64> = records
                    .iter()
                    .flat_map(|r| {
                        (0..n).map(|j| {
                            r.summary
                                .sample_temperatures_k
                                .get(j)
                                .copied()
                                .flatten()
                                .unwrap_or(f64::NAN)
                        })
                    })
                    .collect();
                let a = Array2::from_shape_vec((records.len(), n), flat)
                    .map_err(|e| other_error(e.to_string()))?;
                d.set_item(q.name, a.into_pyarray(py))?;
            }
        }
    }
    // The field waveforms (/waveforms/run_NNNNNN): run index -> {time_s, field_t}.
    let waveforms = PyDict::new(py);
    for r in records
        .iter()
        .filter(|r| !r.params.waveform_time_s.is_empty())
    {
        let w = PyDict::new(py);
        w.set_item(
            "time_s",
            PyArray1::from_vec(py, r.params.waveform_time_s.clone()),
        )?;
        w.set_item(
            "field_t",
            PyArray1::from_vec(py, r.params.waveform_field_t.clone()),
        )?;
        waveforms.set_item(r.params.index, w)?;
    }
    let physics = to_python(py, &meta.physics)?;
    Ok((
        d,
        meta.sample_times_after_ramp_s,
        meta.swept_keys,
        waveforms,
        physics,
    ))
}

#[pymodule]
fn _smmcool(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<Engine>()?;
    m.add_class::<RunData>()?;
    m.add_function(wrap_pyfunction!(material_info, m)?)?;
    m.add_function(wrap_pyfunction!(presets, m)?)?;
    m.add_function(wrap_pyfunction!(refuse_no_effect, m)?)?;
    m.add_function(wrap_pyfunction!(levels, m)?)?;
    m.add_function(wrap_pyfunction!(resonances, m)?)?;
    m.add_function(wrap_pyfunction!(tau, m)?)?;
    m.add_function(wrap_pyfunction!(limits, m)?)?;
    m.add_function(wrap_pyfunction!(scenario_toml, m)?)?;
    m.add_function(wrap_pyfunction!(simulate, m)?)?;
    m.add_function(wrap_pyfunction!(quantities, m)?)?;
    m.add_function(wrap_pyfunction!(trajectory_quantities, m)?)?;
    m.add_function(wrap_pyfunction!(run_batch, m)?)?;
    m.add_function(wrap_pyfunction!(merge, m)?)?;
    m.add_function(wrap_pyfunction!(read, m)?)?;
    Ok(())
}
