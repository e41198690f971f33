//! The `smmcool-batch` HDF5 file format, version 4.
//!
//! One file holds the runs of one batch shard. The layout is H5MD-like: plain groups and
//! datasets, every numeric dataset carrying variable-length UTF-8 string attributes `unit`
//! and, for the CF convention, `units` (the same text: `"T"`, `"K"`, `"s"`, `"T/s"`, `"mu_B"`,
//! `"k_B"`, `"1"` for dimensionless numbers and codes; `mu_B` and `k_B` are not UDUNITS names)
//! and `long_name` (the description), so that the file can be read with h5py, xarray or
//! `h5dump` without this crate.
//!
//! Dimensions are HDF5 dimension scales (H5DS): `/summary/run_index` is the run axis of every
//! summary dataset (the swept columns too), `/summary/sample_times_after_ramp_s` the second
//! axis of `sample_temperatures_k`; in a run group `time_s` is the time axis of every dataset
//! and `level_m` (the M value of each level, -S..S) the second axis of `populations`. So
//! `xarray.open_dataset(path, group="runs/run_000001", engine="h5netcdf")` gives named
//! dimensions and coordinates without `phony_dims`. Code datasets carry CF `flag_values` and
//! `flag_meanings` beside `values`.
//!
//! # Root attributes
//!
//! | name | type | content |
//! | --- | --- | --- |
//! | `format` | string | `"smmcool-batch"` ([`FORMAT_NAME`]) |
//! | `format_version` | u32 | `4` ([`FORMAT_VERSION`]) |
//! | `smmcool_version`, `git_revision`, `config_toml` | string | provenance, verbatim |
//! | `n_runs_total` | u64 | runs in the whole batch (all shards) |
//! | `shard_index`, `shard_count` | u64 | this file's shard; `0`, `1` when unsharded |
//! | `swept_keys` | string | JSON list of the swept keys, in sweep order |
//! | `rtol` | f64 | relative tolerance of run 0 (when swept, see `swept_keys`: each run's value is in the summary) |
//! | `equilibrium_tol_k` | f64 | equilibrium tolerance of run 0, K (likewise) |
//! | `wall_time_s` | f64 | wall time of the batch, s: summed over the invocations that computed its runs (an interrupted one up to its last stored run) and, after a merge, over the shards |
//! | `created_unix_s` | u64 | creation time, seconds since the Unix epoch |
//! | `command_line` | string | the command line of the process that wrote the file |
//! | `material`, `kappa_scaling` | string | preset name; `arrhenius`, `constant` or `absolute` |
//! | `spin`, `d_k`, `g_par`, `debye_temperature_k`, `phonon_units`, `tau0_s`, `barrier_k` | f64 | the resolved physics of run 0 (a swept key changes its value per run); `g_par` is the material's g as given (with a misalignment the levels use g cos(theta); files written before `misalignment_deg` hold g cos(theta) there) |
//! | `b4_k`, `c4_k`, `e_k`, `transverse_field_t`, `misalignment_deg` | f64 | the spin Hamiltonian beyond D of run 0 (docs/physics.md section 10.1; K, K, K, T, degrees; 0 for a term that is absent, `transverse_field_t` 0 with a misalignment); a file written before them has none and reads them as `None` |
//! | `kappa_reference_k`, `kappa_per_s_k3` | f64 | the scaling's number, when it has one |
//! | `kappa_calibration` | string | `without_tunnelling` or `with_tunnelling` (`rates.kappa_calibration`; a file without it was written before the choice existed: `without_tunnelling`) |
//! | `sample_amount_mol`, `sample_mass_mg`, `addenda_gamma_j_per_k2`, `addenda_beta_j_per_k4` | f64 | the sample and addenda of run 0 as given (SI, units in the names), each only when given |
//! | `link_conductance_w_per_k`, `link_exponent`, `bath_temperature_k` | f64 | the heat link of run 0 (W/K, 1, K; exponent and bath resolved), only with a link |
//!
//! All strings are variable-length UTF-8.
//!
//! # `/summary`
//!
//! One dataset per quantity of [`crate::results::SUMMARY`] (name, unit and content there; the
//! README lists them, generated from that table), one entry per run stored in this file, in
//! increasing run index. Numbers are f64 with `None` stored as NaN (so a `Some(NaN)` would read
//! back as `None`); counts u64; codes (`status`, `outcome`) i32 with their labels in a string
//! attribute `values` (`"0 ok, 1 failed"`); text variable-length UTF-8, `""` for none. The
//! sample temperatures are 2-D (`n` x number of sample times), with the sample times in
//! `sample_times_after_ramp_s`.
//!
//! The swept columns live in the group `/summary/swept`, e.g.
//! `/summary/swept/protocol__initial_temperature_k`; each also has a string attribute `key`
//! with the key. Their `unit` is derived from the key's unit suffix (`_t_per_s` `T/s`,
//! `_per_s` `1/s`, `_mu_b` `mu_B`, `_kb` `k_B`, `_k` `K`, `_t` `T`, `_s` `s`, otherwise `1`).
//!
//! # `/runs`
//!
//! One group `/runs/run_000042` (index zero-padded to six digits) per run whose trajectory
//! was kept, with attributes `run_index` (u64) and `parameters` (the run's `RunParams` as
//! JSON), holding one chunked, deflate-compressed dataset per quantity of
//! [`crate::results::TRAJECTORY`]: f64 columns, `populations` 2-D (samples x levels), `stage`
//! u8 with its `values` attribute, and the dimension scale `level_m`. The group `/runs` exists
//! even when it is empty.
//!
//! Version 2 renamed the quantities to the names of the one table (a temperature is
//! `..._temperature_k`, never `t_...`) and added `outcome` and `end_after_ramp_s`. Version 3
//! stores `magnetization_mu_b` as the physical moment -g_par <M> (positive along a
//! positive field; version 2 stored +g_par <M>, and the reader flips its sign), adds the
//! trajectory column `time_after_ramp_s` (computed from the ramp duration when a version 2
//! file is read), the dimension scales, `units`, `long_name`, the CF flag attributes, and the
//! root attributes `command_line` and the physics. Version 2 files read back in the version 3
//! convention. The heat link (issue 14) added the summary quantities `minimum_temperature_k`,
//! `minimum_after_ramp_s`, `end_heat_to_bath_k` and the trajectory columns `heat_to_bath_k`,
//! `heat_flow_to_bath_k_per_s` to version 3; files written before them read back with the
//! summary ones none and the trajectory ones 0 (no link then). The field waveform added
//! `waveform_points` and `waveform_source`, read back as 0 and none from files before them; the
//! segmented protocols `segment_reports` and `cycle_reports` (JSON text), none before them;
//! the reduction's tolerance (issue 17) `ramp_formulation`, none before it. Version 4 (this
//! one) renames the root attribute `spin_s` (the spin S, not a time) to `spin`, the name of
//! the config key `material.spin`, the flag `--spin` and the JSON key; nothing else changes,
//! and version 3 files, which hold `spin_s`, read back the same.
//!
//! # `/waveforms`
//!
//! For each run whose field is a piecewise-linear waveform (`shape` `waveform` or `segments`),
//! a group `/waveforms/run_000042` with `time_s` (the corner times in
//! s since the first point, the run's clock; a dimension scale) and `field_t` (the field at
//! each corner, T), whether or not the trajectory was kept, so that a file is self-describing
//! even when the points came from a CSV file or a sweep changed them. A run whose points equal
//! (bit for bit) those of the run stored before it is a hard link to that run's group: a
//! waveform that no axis changes is stored once. The group exists only when some run has a
//! waveform; files written before it have none (the points read back empty).
//!
//! Numeric datasets are chunked (at most 65,536 elements a chunk) and deflate-compressed at
//! level 4 when the HDF5 library has deflate; string datasets are stored contiguous.
//!
//! [`write_batch`] streams: it writes each run group as its record arrives and keeps only the
//! summary values in memory. [`read_summary`] gives back the records without trajectories and
//! [`read_trajectory`] one trajectory at a time; together they reproduce the written records
//! exactly.

use crate::results::{
    Access, BatchMeta, PhysicsMeta, RunParams, RunRecord, RunStatus, RunSummary, TrajectoryAccess,
    TrajectoryColumns, STAGE_LABELS, SUMMARY, TRAJECTORY,
};
use ::hdf5::types::{VarLenAscii, VarLenUnicode};
use ::hdf5::{Dataset, File, Group, H5Type, Location, MinorErrorCode};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Value of the root attribute `format`.
pub const FORMAT_NAME: &str = "smmcool-batch";

/// Quantities added to version 3 after its first files (the heat link and the field
/// waveform, issue 14): a reader takes their absence as none (summary; the adiabatic runs of
/// those files have heat 0, and no waveform: 0 points).
const ADDED_IN_3: [&str; 10] = [
    "minimum_temperature_k",
    "minimum_after_ramp_s",
    "end_heat_to_bath_k",
    "heat_to_bath_k",
    "heat_flow_to_bath_k_per_s",
    "waveform_points",
    "waveform_source",
    "segment_reports",
    "cycle_reports",
    "ramp_formulation",
];

/// Value of the root attribute `format_version` this crate writes.
pub const FORMAT_VERSION: u32 = 4;

/// Oldest format version this crate reads (older versions are converted on reading).
pub const OLDEST_READABLE_VERSION: u32 = 2;

/// Deflate level of compressed datasets.
const DEFLATE_LEVEL: u8 = 4;

/// Largest number of elements in one chunk.
const CHUNK_ELEMENTS: usize = 1 << 16;

/// Why reading or writing a batch file failed. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    /// The file could not be opened or created at the file-system level (missing, no
    /// permission, a directory in the way).
    #[error("cannot open {}: {message}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// What the operating system or HDF5 said.
        message: String,
    },
    /// The file is not an HDF5 file, or an HDF5 file that this crate did not write.
    #[error("{} is not an smmcool batch file: {reason}", path.display())]
    NotABatchFile {
        /// The file.
        path: PathBuf,
        /// Why not.
        reason: String,
    },
    /// The file is a batch file of another format version.
    #[error(
        "{} has batch file format version {found}, this smmcool reads versions {OLDEST_READABLE_VERSION} to {expected}",
        path.display()
    )]
    IncompatibleVersion {
        /// The file.
        path: PathBuf,
        /// The version in the file.
        found: u64,
        /// The newest version this crate reads (the one it writes).
        expected: u32,
    },
    /// The HDF5 library failed.
    #[error("HDF5 error in {}: {message}", path.display())]
    Hdf5 {
        /// The file.
        path: PathBuf,
        /// What was being done and what HDF5 said.
        message: String,
    },
    /// The file says it is a batch file of a readable version but its content does not fit the layout
    /// (a missing or mis-shaped dataset, an unknown status code, ...).
    #[error("{} does not match the batch file layout: {message}", path.display())]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// What does not match.
        message: String,
    },
    /// The data given to the writer cannot be stored (records out of order, swept keys that
    /// differ from the metadata, ragged populations, a string with a NUL byte, ...).
    #[error("cannot write {}: {message}", path.display())]
    InvalidInput {
        /// The file.
        path: PathBuf,
        /// What is wrong with the data.
        message: String,
    },
}

impl IoError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            Self::Open { path, .. }
            | Self::NotABatchFile { path, .. }
            | Self::IncompatibleVersion { path, .. }
            | Self::Hdf5 { path, .. }
            | Self::Mismatch { path, .. }
            | Self::InvalidInput { path, .. } => path,
        }
    }
}

/// An [`IoError`] before the path is attached.
#[derive(Debug)]
enum Fail {
    Open(String),
    NotBatch(String),
    Version(u64),
    Hdf5(String),
    Mismatch(String),
    Invalid(String),
}

impl Fail {
    fn at(self, path: &Path) -> IoError {
        let path = path.to_path_buf();
        match self {
            Self::Open(message) => IoError::Open { path, message },
            Self::NotBatch(reason) => IoError::NotABatchFile { path, reason },
            Self::Version(found) => IoError::IncompatibleVersion {
                path,
                found,
                expected: FORMAT_VERSION,
            },
            Self::Hdf5(message) => IoError::Hdf5 { path, message },
            Self::Mismatch(message) => IoError::Mismatch { path, message },
            Self::Invalid(message) => IoError::InvalidInput { path, message },
        }
    }
}

/// Attaches what was being done to an HDF5 error.
trait Context<T> {
    fn ctx(self, what: &str) -> Result<T, Fail>;
}

impl<T> Context<T> for ::hdf5::Result<T> {
    fn ctx(self, what: &str) -> Result<T, Fail> {
        self.map_err(|e| Fail::Hdf5(format!("{what}: {e}")))
    }
}

// ---------------------------------------------------------------------------------------------
// Column tables
// ---------------------------------------------------------------------------------------------

fn nan_for_none(x: Option<f64>) -> f64 {
    x.unwrap_or(f64::NAN)
}

fn none_for_nan(x: f64) -> Option<f64> {
    (!x.is_nan()).then_some(x)
}

/// The `values` attribute of a code dataset: `0 label0, 1 label1, ...`.
fn code_values(labels: &[&str]) -> String {
    labels
        .iter()
        .enumerate()
        .map(|(i, l)| format!("{i} {l}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A record with every value unset, for the reader to fill in.
fn empty_record() -> RunRecord {
    RunRecord {
        params: RunParams {
            index: 0,
            swept: Vec::new(),
            b_initial_t: f64::NAN,
            b_final_t: f64::NAN,
            initial_temperature_k: f64::NAN,
            sweep_rate_t_per_s: None,
            ramp_duration_s: f64::NAN,
            shape: String::new(),
            waveform_points: 0,
            waveform_source: None,
            waveform_time_s: Vec::new(),
            waveform_field_t: Vec::new(),
        },
        status: RunStatus::Ok,
        error: None,
        summary: RunSummary::default(),
        trajectory: None,
    }
}

/// The dataset name of a swept key: `.` becomes `__`.
fn swept_column_name(key: &str) -> String {
    key.replace('.', "__")
}

/// The unit of a swept key, from its unit suffix.
fn unit_for_key(key: &str) -> &'static str {
    const SUFFIXES: [(&str, &str); 7] = [
        ("_t_per_s", "T/s"),
        ("_per_s", "1/s"),
        ("_mu_b", "mu_B"),
        ("_kb", "k_B"),
        ("_k", "K"),
        ("_t", "T"),
        ("_s", "s"),
    ];
    let key = key.to_ascii_lowercase();
    SUFFIXES
        .iter()
        .find(|(suffix, _)| key.ends_with(suffix))
        .map_or("1", |&(_, unit)| unit)
}

/// The group name of a run.
fn run_group_name(index: usize) -> String {
    format!("run_{index:06}")
}

// ---------------------------------------------------------------------------------------------
// Low-level writing
// ---------------------------------------------------------------------------------------------

fn to_varlen(s: &str, what: &str) -> Result<VarLenUnicode, Fail> {
    VarLenUnicode::from_str(s)
        .map_err(|e| Fail::Invalid(format!("{what} cannot be stored as an HDF5 string: {e}")))
}

fn write_str_attr(loc: &Location, name: &str, value: &str) -> Result<(), Fail> {
    write_scalar_attr(loc, name, to_varlen(value, &format!("attribute {name}"))?)
}

fn write_scalar_attr<T: H5Type>(loc: &Location, name: &str, value: T) -> Result<(), Fail> {
    let what = format!("writing attribute {name}");
    loc.new_attr::<T>()
        .shape(())
        .create(name)
        .ctx(&what)?
        .write_scalar(&value)
        .ctx(&what)
}

/// Chunk dimensions for a dataset of `shape`: every dimension at least 1, whole rows, at
/// most about [`CHUNK_ELEMENTS`] elements.
fn chunk_shape(shape: &[usize]) -> Vec<usize> {
    let mut chunk: Vec<usize> = shape.iter().map(|&d| d.max(1)).collect();
    if let Some((first, rest)) = chunk.split_first_mut() {
        let row: usize = rest.iter().product();
        *first = (*first).min((CHUNK_ELEMENTS / row.max(1)).max(1));
    }
    chunk
}

/// Creates the numeric dataset `name` of `shape` in `group`, chunked and compressed, writes
/// `data` (row-major) and sets its `unit`, the CF convention's `units` (the same text) and
/// `long_name`.
fn write_numeric<T: H5Type>(
    group: &Group,
    name: &str,
    shape: &[usize],
    data: &[T],
    (unit, long_name): (&str, &str),
) -> Result<Dataset, Fail> {
    let what = format!("writing dataset {name}");
    let mut builder = group
        .new_dataset::<T>()
        .shape(shape.to_vec())
        .chunk(chunk_shape(shape));
    if ::hdf5::filters::deflate_available() {
        builder = builder.deflate(DEFLATE_LEVEL);
    }
    let ds = builder.create(name).ctx(&what)?;
    if !data.is_empty() {
        ds.write_raw(data).ctx(&what)?;
    }
    write_str_attr(&ds, "unit", unit)?;
    write_str_attr(&ds, "units", unit)?;
    write_str_attr(&ds, "long_name", long_name)?;
    Ok(ds)
}

/// The code labels of a code dataset as attributes: `values` (`"0 ok, 1 failed"`) and the CF
/// convention's `flag_values` (the codes, in the dataset's type) and `flag_meanings` (the
/// labels, blanks as underscores, separated by blanks).
fn write_code_attrs<T: H5Type + Copy>(
    ds: &Dataset,
    labels: &[&str],
    code: impl Fn(usize) -> T,
) -> Result<(), Fail> {
    write_str_attr(ds, "values", &code_values(labels))?;
    let codes: Vec<T> = (0..labels.len()).map(code).collect();
    ds.new_attr::<T>()
        .shape([codes.len()])
        .create("flag_values")
        .ctx("writing attribute flag_values")?
        .write_raw(&codes)
        .ctx("writing attribute flag_values")?;
    let meanings: Vec<String> = labels.iter().map(|l| l.replace(' ', "_")).collect();
    write_str_attr(ds, "flag_meanings", &meanings.join(" "))
}

/// The HDF5 high-level library's dimension-scale functions (libhdf5_hl, which every HDF5
/// installation ships beside libhdf5; the search path is the one hdf5-sys found libhdf5 in).
/// `hid_t` is a 64-bit integer from HDF5 1.10 on (Debian 12 has 1.10.8).
mod dimension_scales {
    use std::ffi::{c_char, c_int, c_uint};
    #[allow(non_camel_case_types)]
    type hid_t = i64;
    #[allow(non_camel_case_types)]
    type herr_t = c_int;

    #[link(name = "hdf5_hl")]
    extern "C" {
        pub fn H5DSset_scale(dsid: hid_t, dimname: *const c_char) -> herr_t;
        pub fn H5DSattach_scale(did: hid_t, dsid: hid_t, idx: c_uint) -> herr_t;
    }
}

/// Makes `ds` a dimension scale named `name` (netCDF, xarray and h5py see a dimension).
fn set_scale(ds: &Dataset, name: &str) -> Result<(), Fail> {
    let cname = std::ffi::CString::new(name)
        .map_err(|_| Fail::Invalid(format!("dimension name {name:?} has a NUL byte")))?;
    // SAFETY: a valid dataset id and a NUL-terminated name; HDF5 calls are serialized
    // through the crate's lock.
    let status =
        ::hdf5::sync::sync(|| unsafe { dimension_scales::H5DSset_scale(ds.id(), cname.as_ptr()) });
    if status < 0 {
        return Err(Fail::Hdf5(format!(
            "making {} a dimension scale",
            ds.name()
        )));
    }
    Ok(())
}

/// Attaches the dimension scale `scale` to dimension `dim` of `ds`.
fn attach_scale(ds: &Dataset, scale: &Dataset, dim: u32) -> Result<(), Fail> {
    // SAFETY: valid dataset ids; HDF5 calls are serialized through the crate's lock.
    let status = ::hdf5::sync::sync(|| unsafe {
        dimension_scales::H5DSattach_scale(ds.id(), scale.id(), dim)
    });
    if status < 0 {
        return Err(Fail::Hdf5(format!(
            "attaching dimension scale {} to {}",
            scale.name(),
            ds.name()
        )));
    }
    Ok(())
}

/// Creates the 1-D string dataset `name` in `group`, with its `long_name`.
fn write_strings(
    group: &Group,
    name: &str,
    data: &[VarLenUnicode],
    long_name: &str,
) -> Result<Dataset, Fail> {
    let what = format!("writing dataset {name}");
    let ds = group
        .new_dataset::<VarLenUnicode>()
        .shape([data.len()])
        .create(name)
        .ctx(&what)?;
    if !data.is_empty() {
        ds.write_raw(data).ctx(&what)?;
    }
    write_str_attr(&ds, "long_name", long_name)?;
    Ok(ds)
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

/// Writes a batch file at `path` (created or truncated; the caller takes care of writing to
/// a temporary name and renaming). `records` must come in increasing `params.index`; each
/// record's swept keys must be `meta.swept_keys` in order and its `sample_temperatures_k` must have one
/// entry per `meta.sample_times_after_ramp_s`. Trajectories are written as the records
/// arrive, so at most one is held at a time. On error the file may be left incomplete.
pub fn write_batch(
    path: &Path,
    meta: &BatchMeta,
    records: impl Iterator<Item = RunRecord>,
) -> Result<(), IoError> {
    write_inner(path, meta, records, || None).map_err(|f| f.at(path))
}

/// As [`write_batch`], with the root attribute `wall_time_s` set, once every record is
/// written, to what `wall_time_s` returns then (`meta.wall_time_s` stands until then): for a
/// batch that writes its file while its runs go on, whose wall time is known only at the end.
pub fn write_batch_then_wall_time(
    path: &Path,
    meta: &BatchMeta,
    records: impl Iterator<Item = RunRecord>,
    wall_time_s: impl FnOnce() -> f64,
) -> Result<(), IoError> {
    write_inner(path, meta, records, || Some(wall_time_s())).map_err(|f| f.at(path))
}

/// The values of one [`SUMMARY`] quantity, accumulated while the records stream past.
enum Column {
    F64(Vec<f64>),
    U64(Vec<u64>),
    Text(Vec<VarLenUnicode>),
    Code(Vec<i32>),
    Swept(Vec<Vec<f64>>),
    Samples(Vec<f64>),
}

impl Column {
    fn new(access: Access, n_swept: usize) -> Self {
        match access {
            Access::F64(..) => Self::F64(Vec::new()),
            Access::U64(..) => Self::U64(Vec::new()),
            Access::Text(..) => Self::Text(Vec::new()),
            Access::Code(..) => Self::Code(Vec::new()),
            Access::Swept => Self::Swept(vec![Vec::new(); n_swept]),
            Access::Samples => Self::Samples(Vec::new()),
        }
    }

    fn push(&mut self, access: Access, name: &str, r: &RunRecord) -> Result<(), Fail> {
        match (self, access) {
            (Self::F64(c), Access::F64(get, _)) => c.push(nan_for_none(get(r))),
            (Self::U64(c), Access::U64(get, _)) => c.push(get(r)),
            (Self::Text(c), Access::Text(get, _)) => c.push(to_varlen(
                get(r).as_deref().unwrap_or(""),
                &format!("{name} of run {}", r.params.index),
            )?),
            (Self::Code(c), Access::Code(get, _, _)) => c.push(get(r) as i32),
            (Self::Swept(cols), _) => {
                for (col, (_, value)) in cols.iter_mut().zip(&r.params.swept) {
                    col.push(*value);
                }
            }
            (Self::Samples(c), _) => {
                c.extend(
                    r.summary
                        .sample_temperatures_k
                        .iter()
                        .map(|&t| nan_for_none(t)),
                );
            }
            _ => unreachable!("columns are made from the same table entry"),
        }
        Ok(())
    }
}

fn write_inner(
    path: &Path,
    meta: &BatchMeta,
    records: impl Iterator<Item = RunRecord>,
    final_wall_time_s: impl FnOnce() -> Option<f64>,
) -> Result<(), Fail> {
    // Check the swept keys before touching the file.
    let mut column_names = HashSet::new();
    for key in &meta.swept_keys {
        let name = swept_column_name(key);
        if key.is_empty() || key.contains('/') || name == "." {
            return Err(Fail::Invalid(format!(
                "swept key {key:?} cannot be a dataset name"
            )));
        }
        if !column_names.insert(name.clone()) {
            return Err(Fail::Invalid(format!(
                "two swept keys map to the same dataset name {name:?}"
            )));
        }
    }

    let file = File::create(path).map_err(|e| Fail::Open(format!("cannot create: {e}")))?;
    write_root_attrs(&file, meta)?;
    let summary = file.create_group("summary").ctx("creating /summary")?;
    let runs = file.create_group("runs").ctx("creating /runs")?;

    let n_samples = meta.sample_times_after_ramp_s.len();
    let mut cols: Vec<Column> = SUMMARY
        .iter()
        .map(|q| Column::new(q.access, meta.swept_keys.len()))
        .collect();
    let mut previous: Option<usize> = None;
    let mut waveforms = Waveforms::default();
    let mut count = 0;
    for record in records {
        let index = record.params.index;
        if let Some(prev) = previous {
            if index <= prev {
                return Err(Fail::Invalid(format!(
                    "records must come in increasing run index, got run {index} after run {prev}"
                )));
            }
        }
        previous = Some(index);
        count += 1;
        let keys_match = record.params.swept.len() == meta.swept_keys.len()
            && record
                .params
                .swept
                .iter()
                .zip(&meta.swept_keys)
                .all(|((k, _), key)| k == key);
        if !keys_match {
            let keys: Vec<&str> = record
                .params
                .swept
                .iter()
                .map(|(k, _)| k.as_str())
                .collect();
            return Err(Fail::Invalid(format!(
                "run {index} has swept keys {keys:?}, the batch has {:?}",
                meta.swept_keys
            )));
        }
        if record.summary.sample_temperatures_k.len() != n_samples {
            return Err(Fail::Invalid(format!(
                "run {index} has {} sampled temperatures for {n_samples} sample times",
                record.summary.sample_temperatures_k.len()
            )));
        }

        if let Some(tr) = &record.trajectory {
            write_run(&runs, &record.params, tr)?;
        }
        if !record.params.waveform_time_s.is_empty() {
            write_waveform(&file, &mut waveforms, &record.params)?;
        }

        for (col, q) in cols.iter_mut().zip(SUMMARY) {
            col.push(q.access, q.name, &record)?;
        }
    }

    let n = previous.map_or(0, |_| count);
    if let Some(wall) = final_wall_time_s() {
        file.attr("wall_time_s")
            .and_then(|a| a.write_scalar(&wall))
            .ctx("writing attribute wall_time_s")?;
    }
    write_summary(&summary, meta, &cols, n)?;
    drop((summary, runs, waveforms));
    file.close().ctx("closing the file")
}

fn write_root_attrs(file: &File, meta: &BatchMeta) -> Result<(), Fail> {
    write_str_attr(file, "format", FORMAT_NAME)?;
    write_scalar_attr(file, "format_version", FORMAT_VERSION)?;
    write_str_attr(file, "smmcool_version", &meta.smmcool_version)?;
    write_str_attr(file, "git_revision", &meta.git_revision)?;
    write_str_attr(file, "config_toml", &meta.config_toml)?;
    write_scalar_attr(file, "n_runs_total", meta.n_runs_total as u64)?;
    write_scalar_attr(file, "shard_index", meta.shard.0 as u64)?;
    write_scalar_attr(file, "shard_count", meta.shard.1 as u64)?;
    let keys = serde_json::to_string(&meta.swept_keys)
        .map_err(|e| Fail::Invalid(format!("swept keys: {e}")))?;
    write_str_attr(file, "swept_keys", &keys)?;
    write_scalar_attr(file, "rtol", meta.rtol)?;
    write_scalar_attr(file, "equilibrium_tol_k", meta.equilibrium_tol_k)?;
    write_scalar_attr(file, "wall_time_s", meta.wall_time_s)?;
    write_scalar_attr(file, "created_unix_s", meta.created_unix_s)?;
    write_str_attr(file, "command_line", &meta.command_line)?;
    if let Some(p) = &meta.physics {
        write_str_attr(file, "material", &p.material)?;
        for (name, value) in physics_numbers(p) {
            write_scalar_attr(file, name, value)?;
        }
        write_str_attr(file, "kappa_scaling", &p.kappa_scaling)?;
        if let Some(v) = p.kappa_reference_k {
            write_scalar_attr(file, "kappa_reference_k", v)?;
        }
        if let Some(v) = p.kappa_per_s_k3 {
            write_scalar_attr(file, "kappa_per_s_k3", v)?;
        }
        write_str_attr(file, "kappa_calibration", &p.kappa_calibration)?;
        for (name, value) in p.hamiltonian().into_iter().chain(p.environment()) {
            if let Some(v) = value {
                write_scalar_attr(file, name, v)?;
            }
        }
    }
    Ok(())
}

/// The always-present numeric physics attributes, by name.
fn physics_numbers(p: &PhysicsMeta) -> [(&'static str, f64); 7] {
    [
        ("spin", p.spin),
        ("d_k", p.d_k),
        ("g_par", p.g_par),
        ("debye_temperature_k", p.debye_temperature_k),
        ("phonon_units", p.phonon_units),
        ("tau0_s", p.tau0_s),
        ("barrier_k", p.barrier_k),
    ]
}

fn write_summary(summary: &Group, meta: &BatchMeta, cols: &[Column], n: usize) -> Result<(), Fail> {
    let times = &meta.sample_times_after_ramp_s;
    // Every dataset with the dimension scale of each of its dimensions (`None`: the run).
    let mut per_run: Vec<(Dataset, Option<Dataset>)> = Vec::new();
    let mut run_scale = None;
    for (q, col) in SUMMARY.iter().zip(cols) {
        let attrs = (q.unit, q.description);
        match col {
            Column::F64(c) => {
                per_run.push((write_numeric(summary, q.name, &[c.len()], c, attrs)?, None));
            }
            Column::U64(c) => {
                let ds = write_numeric(summary, q.name, &[c.len()], c, attrs)?;
                if q.name == "run_index" {
                    set_scale(&ds, q.name)?;
                    run_scale = Some(ds);
                } else {
                    per_run.push((ds, None));
                }
            }
            Column::Text(c) => {
                per_run.push((write_strings(summary, q.name, c, q.description)?, None))
            }
            Column::Code(c) => {
                let ds = write_numeric(summary, q.name, &[c.len()], c, attrs)?;
                if let Access::Code(_, _, labels) = q.access {
                    write_code_attrs(&ds, labels, |i| i as i32)?;
                }
                per_run.push((ds, None));
            }
            Column::Swept(c) => {
                let swept = summary
                    .create_group(q.name)
                    .ctx("creating /summary/swept")?;
                for (key, col) in meta.swept_keys.iter().zip(c) {
                    let ds = write_numeric(
                        &swept,
                        &swept_column_name(key),
                        &[col.len()],
                        col,
                        (unit_for_key(key), key),
                    )?;
                    write_str_attr(&ds, "key", key)?;
                    per_run.push((ds, None));
                }
            }
            Column::Samples(c) => {
                let ds = write_numeric(
                    summary,
                    "sample_times_after_ramp_s",
                    &[times.len()],
                    times,
                    ("s", "sample times after the ramp"),
                )?;
                set_scale(&ds, "sample_times_after_ramp_s")?;
                per_run.push((
                    write_numeric(summary, q.name, &[n, times.len()], c, attrs)?,
                    Some(ds),
                ));
            }
        }
    }
    let run_scale = run_scale.expect("SUMMARY has run_index");
    for (ds, second) in &per_run {
        attach_scale(ds, &run_scale, 0)?;
        if let Some(scale) = second {
            attach_scale(ds, scale, 1)?;
        }
    }
    Ok(())
}

/// The group `/waveforms` (made with the first run that has a waveform) and the last
/// waveform stored in it: a run with the same points (bit for bit) gets a hard link to that
/// group instead of a copy, so a waveform that no axis changes is stored once.
#[derive(Default)]
struct Waveforms {
    group: Option<Group>,
    last: Option<(String, Vec<f64>, Vec<f64>)>,
}

/// Stores the waveform of the run of `params` as `/waveforms/run_NNNNNN` with the datasets
/// `time_s` (s since the first point, a dimension scale) and `field_t` (T) along it.
fn write_waveform(file: &File, w: &mut Waveforms, params: &RunParams) -> Result<(), Fail> {
    let (t, b) = (&params.waveform_time_s, &params.waveform_field_t);
    if t.len() != b.len() {
        return Err(Fail::Invalid(format!(
            "the waveform of run {} has {} times and {} fields",
            params.index,
            t.len(),
            b.len()
        )));
    }
    let group = match &w.group {
        Some(g) => g.clone(),
        None => {
            let g = file.create_group(WAVEFORMS).ctx("creating /waveforms")?;
            w.group = Some(g.clone());
            g
        }
    };
    let name = run_group_name(params.index);
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    if let Some((last, lt, lb)) = &w.last {
        if bits(lt) == bits(t) && bits(lb) == bits(b) {
            return group
                .link_hard(last, &name)
                .ctx(&format!("linking /waveforms/{name} to /waveforms/{last}"));
        }
    }
    let g = group
        .create_group(&name)
        .ctx(&format!("creating /waveforms/{name}"))?;
    let time = write_numeric(
        &g,
        "time_s",
        &[t.len()],
        t,
        (
            "s",
            "corner times of the field waveform, since its first point",
        ),
    )?;
    set_scale(&time, "time_s")?;
    let field = write_numeric(
        &g,
        "field_t",
        &[b.len()],
        b,
        ("T", "field at each corner (piecewise linear between them)"),
    )?;
    attach_scale(&field, &time, 0)?;
    w.last = Some((name, t.clone(), b.clone()));
    Ok(())
}

/// The group of the runs' field waveforms.
pub const WAVEFORMS: &str = "waveforms";

fn write_run(runs: &Group, params: &RunParams, tr: &TrajectoryColumns) -> Result<(), Fail> {
    let index = params.index;
    let n = tr.time_s.len();
    let levels = tr.populations.first().map_or(0, Vec::len);
    let lengths_match = TRAJECTORY.iter().all(|q| match q.access {
        TrajectoryAccess::F64(get, _) => get(tr).len() == n,
        TrajectoryAccess::Populations => tr.populations.len() == n,
        TrajectoryAccess::Stage => tr.stage.len() == n,
    });
    if !lengths_match {
        return Err(Fail::Invalid(format!(
            "the trajectory columns of run {index} have different lengths"
        )));
    }
    if tr.populations.iter().any(|row| row.len() != levels) {
        return Err(Fail::Invalid(format!(
            "the population rows of run {index} have different lengths"
        )));
    }

    let name = run_group_name(index);
    let group = runs
        .create_group(&name)
        .ctx(&format!("creating /runs/{name}"))?;
    write_scalar_attr(&group, "run_index", index as u64)?;
    // The waveform's points are in /waveforms (an attribute holds at most 64 kB).
    let params = RunParams {
        waveform_time_s: Vec::new(),
        waveform_field_t: Vec::new(),
        ..params.clone()
    };
    let json = serde_json::to_string(&params)
        .map_err(|e| Fail::Invalid(format!("parameters of run {index}: {e}")))?;
    write_str_attr(&group, "parameters", &json)?;
    // The level axis: M = -S..S, a dimension scale of its own.
    let m: Vec<f64> = (0..levels)
        .map(|i| i as f64 - (levels as f64 - 1.0) / 2.0)
        .collect();
    let level_scale = write_numeric(
        &group,
        LEVEL_SCALE,
        &[levels],
        &m,
        (
            "1",
            "spin projection M of each level (populations' second axis)",
        ),
    )?;
    set_scale(&level_scale, LEVEL_SCALE)?;
    let mut along_time: Vec<(Dataset, bool)> = Vec::new();
    let mut time_scale = None;
    for q in TRAJECTORY {
        let attrs = (q.unit, q.description);
        match q.access {
            TrajectoryAccess::F64(get, _) => {
                let ds = write_numeric(&group, q.name, &[n], get(tr), attrs)?;
                if q.name == "time_s" {
                    set_scale(&ds, q.name)?;
                    time_scale = Some(ds);
                } else {
                    along_time.push((ds, false));
                }
            }
            TrajectoryAccess::Populations => {
                let populations: Vec<f64> = tr.populations.iter().flatten().copied().collect();
                let ds = write_numeric(&group, q.name, &[n, levels], &populations, attrs)?;
                along_time.push((ds, true));
            }
            TrajectoryAccess::Stage => {
                let stage = write_numeric(&group, q.name, &[n], &tr.stage, attrs)?;
                write_code_attrs(&stage, &STAGE_LABELS, |i| i as u8)?;
                along_time.push((stage, false));
            }
        }
    }
    let time_scale = time_scale.expect("TRAJECTORY has time_s");
    for (ds, has_levels) in &along_time {
        attach_scale(ds, &time_scale, 0)?;
        if *has_levels {
            attach_scale(ds, &level_scale, 1)?;
        }
    }
    Ok(())
}

/// The dataset of a run group holding the M value of each level.
pub const LEVEL_SCALE: &str = "level_m";

// ---------------------------------------------------------------------------------------------
// Low-level reading
// ---------------------------------------------------------------------------------------------

/// Opens `path` for reading, telling a missing file and a non-HDF5 file apart.
fn open(path: &Path) -> Result<File, Fail> {
    let metadata = std::fs::metadata(path).map_err(|e| Fail::Open(e.to_string()))?;
    if metadata.is_dir() {
        return Err(Fail::NotBatch("it is a directory".into()));
    }
    File::open(path).map_err(|e| {
        if e.contains_minor(MinorErrorCode::NotHdf5) {
            Fail::NotBatch("not an HDF5 file".into())
        } else {
            Fail::Open(format!("HDF5 cannot open it: {e}"))
        }
    })
}

fn has_attr(loc: &Location, name: &str) -> Result<bool, Fail> {
    Ok(loc
        .attr_names()
        .ctx("listing attributes")?
        .iter()
        .any(|a| a == name))
}

/// Reads the string attribute `name` of `loc` (`None` when it does not exist).
fn read_str_attr_opt(loc: &Location, name: &str) -> Result<Option<String>, Fail> {
    if !has_attr(loc, name)? {
        return Ok(None);
    }
    let attr = loc.attr(name).ctx(&format!("opening attribute {name}"))?;
    if let Ok(s) = attr.read_scalar::<VarLenUnicode>() {
        return Ok(Some(s.as_str().to_owned()));
    }
    if let Ok(s) = attr.read_scalar::<VarLenAscii>() {
        return Ok(Some(s.as_str().to_owned()));
    }
    Err(Fail::Mismatch(format!(
        "attribute {name} is not a variable-length string"
    )))
}

fn read_str_attr(loc: &Location, name: &str) -> Result<String, Fail> {
    read_str_attr_opt(loc, name)?
        .ok_or_else(|| Fail::Mismatch(format!("attribute {name} is missing")))
}

fn read_scalar_attr<T: H5Type>(loc: &Location, name: &str) -> Result<T, Fail> {
    if !has_attr(loc, name)? {
        return Err(Fail::Mismatch(format!("attribute {name} is missing")));
    }
    loc.attr(name)
        .ctx(&format!("opening attribute {name}"))?
        .read_scalar::<T>()
        .map_err(|e| Fail::Mismatch(format!("attribute {name}: {e}")))
}

fn to_usize(x: u64, what: &str) -> Result<usize, Fail> {
    usize::try_from(x).map_err(|_| Fail::Mismatch(format!("{what} {x} does not fit in usize")))
}

fn open_group(parent: &Group, name: &str) -> Result<Group, Fail> {
    if !parent.link_exists(name) {
        return Err(Fail::Mismatch(format!(
            "group {name} is missing in {}",
            parent.name()
        )));
    }
    parent
        .group(name)
        .map_err(|e| Fail::Mismatch(format!("{name} in {} is not a group: {e}", parent.name())))
}

/// Reads the dataset `name` of `group`, checking it has `ndim` dimensions; gives its values
/// (row-major) and shape.
fn read_dataset<T: H5Type>(
    group: &Group,
    name: &str,
    ndim: usize,
) -> Result<(Vec<T>, Vec<usize>), Fail> {
    let full = format!("{}/{name}", group.name());
    if !group.link_exists(name) {
        return Err(Fail::Mismatch(format!("dataset {full} is missing")));
    }
    let ds = group
        .dataset(name)
        .map_err(|e| Fail::Mismatch(format!("{full} is not a dataset: {e}")))?;
    let shape = ds.shape();
    if shape.len() != ndim {
        return Err(Fail::Mismatch(format!(
            "dataset {full} has {} dimensions, expected {ndim}",
            shape.len()
        )));
    }
    let data = ds
        .read_raw::<T>()
        .map_err(|e| Fail::Mismatch(format!("reading {full}: {e}")))?;
    Ok((data, shape))
}

/// Reads the 1-D dataset `name`, checking its length when `len` is given.
fn read_column<T: H5Type>(group: &Group, name: &str, len: Option<usize>) -> Result<Vec<T>, Fail> {
    let (data, _) = read_dataset::<T>(group, name, 1)?;
    if let Some(len) = len {
        if data.len() != len {
            return Err(Fail::Mismatch(format!(
                "dataset {}/{name} has {} entries, expected {len}",
                group.name(),
                data.len()
            )));
        }
    }
    Ok(data)
}

fn read_strings(group: &Group, name: &str, len: usize) -> Result<Vec<String>, Fail> {
    Ok(read_column::<VarLenUnicode>(group, name, Some(len))?
        .iter()
        .map(|s| s.as_str().to_owned())
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

/// Checks the `format` and `format_version` root attributes; gives the version.
fn check_format(file: &File) -> Result<u64, Fail> {
    match read_str_attr_opt(file, "format") {
        Ok(Some(format)) if format == FORMAT_NAME => {}
        Ok(Some(format)) => {
            return Err(Fail::NotBatch(format!(
                "its format attribute is {format:?}, expected {FORMAT_NAME:?}"
            )))
        }
        Ok(None) => {
            return Err(Fail::NotBatch(
                "it is an HDF5 file without a format attribute".into(),
            ))
        }
        Err(Fail::Mismatch(message)) => return Err(Fail::NotBatch(message)),
        Err(other) => return Err(other),
    }
    if !has_attr(file, "format_version")? {
        return Err(Fail::NotBatch("it has no format_version attribute".into()));
    }
    let version: u64 = file
        .attr("format_version")
        .ctx("opening attribute format_version")?
        .read_scalar::<u64>()
        .map_err(|e| {
            Fail::NotBatch(format!(
                "its format_version cannot be read as an integer: {e}"
            ))
        })?;
    if !(u64::from(OLDEST_READABLE_VERSION)..=u64::from(FORMAT_VERSION)).contains(&version) {
        return Err(Fail::Version(version));
    }
    Ok(version)
}

fn meta_of(file: &File) -> Result<BatchMeta, Fail> {
    check_format(file)?;
    let keys_json = read_str_attr(file, "swept_keys")?;
    let swept_keys: Vec<String> = serde_json::from_str(&keys_json).map_err(|e| {
        Fail::Mismatch(format!(
            "attribute swept_keys is not a JSON list of strings: {e}"
        ))
    })?;
    let summary = open_group(file, "summary")?;
    let sample_times_after_ramp_s =
        read_column::<f64>(&summary, "sample_times_after_ramp_s", None)?;
    Ok(BatchMeta {
        smmcool_version: read_str_attr(file, "smmcool_version")?,
        git_revision: read_str_attr(file, "git_revision")?,
        config_toml: read_str_attr(file, "config_toml")?,
        n_runs_total: to_usize(read_scalar_attr(file, "n_runs_total")?, "n_runs_total")?,
        shard: (
            to_usize(read_scalar_attr(file, "shard_index")?, "shard_index")?,
            to_usize(read_scalar_attr(file, "shard_count")?, "shard_count")?,
        ),
        swept_keys,
        sample_times_after_ramp_s,
        rtol: read_scalar_attr(file, "rtol")?,
        equilibrium_tol_k: read_scalar_attr(file, "equilibrium_tol_k")?,
        wall_time_s: read_scalar_attr(file, "wall_time_s")?,
        created_unix_s: read_scalar_attr(file, "created_unix_s")?,
        command_line: read_str_attr_opt(file, "command_line")?.unwrap_or_default(),
        physics: read_physics(file)?,
    })
}

/// The physics root attributes (`None` when the file has none: version 2, or run 0 invalid).
fn read_physics(file: &File) -> Result<Option<PhysicsMeta>, Fail> {
    // The spin S: `spin` from version 4 on, `spin_s` in version 3.
    let spin = if has_attr(file, "spin")? {
        "spin"
    } else if has_attr(file, "spin_s")? {
        "spin_s"
    } else {
        return Ok(None);
    };
    let opt = |name: &str| -> Result<Option<f64>, Fail> {
        if has_attr(file, name)? {
            read_scalar_attr(file, name).map(Some)
        } else {
            Ok(None)
        }
    };
    Ok(Some(PhysicsMeta {
        material: read_str_attr(file, "material")?,
        spin: read_scalar_attr(file, spin)?,
        d_k: read_scalar_attr(file, "d_k")?,
        g_par: read_scalar_attr(file, "g_par")?,
        b4_k: opt("b4_k")?,
        c4_k: opt("c4_k")?,
        e_k: opt("e_k")?,
        transverse_field_t: opt("transverse_field_t")?,
        misalignment_deg: opt("misalignment_deg")?,
        debye_temperature_k: read_scalar_attr(file, "debye_temperature_k")?,
        phonon_units: read_scalar_attr(file, "phonon_units")?,
        tau0_s: read_scalar_attr(file, "tau0_s")?,
        barrier_k: read_scalar_attr(file, "barrier_k")?,
        kappa_scaling: read_str_attr(file, "kappa_scaling")?,
        kappa_reference_k: opt("kappa_reference_k")?,
        kappa_per_s_k3: opt("kappa_per_s_k3")?,
        kappa_calibration: read_str_attr_opt(file, "kappa_calibration")?
            .unwrap_or_else(|| "without_tunnelling".into()),
        sample_amount_mol: opt("sample_amount_mol")?,
        sample_mass_mg: opt("sample_mass_mg")?,
        addenda_gamma_j_per_k2: opt("addenda_gamma_j_per_k2")?,
        addenda_beta_j_per_k4: opt("addenda_beta_j_per_k4")?,
        link_conductance_w_per_k: opt("link_conductance_w_per_k")?,
        link_exponent: opt("link_exponent")?,
        bath_temperature_k: opt("bath_temperature_k")?,
    }))
}

/// Reads the metadata of the batch file at `path`, after checking that it is an
/// `smmcool-batch` file ([`IoError::NotABatchFile`] otherwise) of version [`FORMAT_VERSION`]
/// ([`IoError::IncompatibleVersion`] otherwise).
pub fn read_meta(path: &Path) -> Result<BatchMeta, IoError> {
    open(path)
        .and_then(|file| meta_of(&file))
        .map_err(|f| f.at(path))
}

/// Reads the records of the batch file at `path` from its `/summary`, in increasing run
/// index, without their trajectories (`trajectory` is `None`; see [`read_trajectory`]).
pub fn read_summary(path: &Path) -> Result<Vec<RunRecord>, IoError> {
    summary_inner(path).map_err(|f| f.at(path))
}

fn summary_inner(path: &Path) -> Result<Vec<RunRecord>, Fail> {
    let file = open(path)?;
    let meta = meta_of(&file)?;
    let summary = open_group(&file, "summary")?;

    let n = read_column::<u64>(&summary, "run_index", None)?.len();
    let n_samples = meta.sample_times_after_ramp_s.len();
    let mut records: Vec<RunRecord> = (0..n).map(|_| empty_record()).collect();
    for q in SUMMARY {
        match q.access {
            // Added within version 3 (the heat link): absent from the files written before.
            Access::F64(..) | Access::U64(..) | Access::Text(..)
                if ADDED_IN_3.contains(&q.name) && !summary.link_exists(q.name) => {}
            Access::F64(_, set) => {
                let col = read_column::<f64>(&summary, q.name, Some(n))?;
                for (r, v) in records.iter_mut().zip(col) {
                    set(r, none_for_nan(v));
                }
            }
            Access::U64(_, set) => {
                let col = read_column::<u64>(&summary, q.name, Some(n))?;
                for (r, v) in records.iter_mut().zip(col) {
                    set(r, v);
                }
            }
            Access::Text(_, set) => {
                for (r, v) in records.iter_mut().zip(read_strings(&summary, q.name, n)?) {
                    set(r, (!v.is_empty()).then_some(v));
                }
            }
            Access::Code(_, set, labels) => {
                let col = read_column::<i32>(&summary, q.name, Some(n))?;
                for (r, code) in records.iter_mut().zip(col) {
                    let known = usize::try_from(code).is_ok_and(|c| set(r, c));
                    if !known {
                        return Err(Fail::Mismatch(format!(
                            "run {} has {} code {code}, expected {}",
                            r.params.index,
                            q.name,
                            code_values(labels)
                        )));
                    }
                }
            }
            Access::Swept => {
                let group = open_group(&summary, q.name)?;
                for key in &meta.swept_keys {
                    let col = read_column::<f64>(&group, &swept_column_name(key), Some(n))?;
                    for (r, v) in records.iter_mut().zip(col) {
                        r.params.swept.push((key.clone(), v));
                    }
                }
            }
            Access::Samples => {
                let (values, shape) = read_dataset::<f64>(&summary, q.name, 2)?;
                if shape != [n, n_samples] {
                    return Err(Fail::Mismatch(format!(
                        "dataset /summary/{} has shape {shape:?}, expected [{n}, {n_samples}]",
                        q.name
                    )));
                }
                for (i, r) in records.iter_mut().enumerate() {
                    r.summary.sample_temperatures_k = values[i * n_samples..(i + 1) * n_samples]
                        .iter()
                        .map(|&t| none_for_nan(t))
                        .collect();
                }
            }
        }
    }
    // The waveforms (absent from files written before them, and from batches without one).
    if file.link_exists(WAVEFORMS) {
        let group = open_group(&file, WAVEFORMS)?;
        for r in records.iter_mut() {
            let name = run_group_name(r.params.index);
            if !group.link_exists(&name) {
                continue;
            }
            let g = open_group(&group, &name)?;
            r.params.waveform_time_s = read_column::<f64>(&g, "time_s", None)?;
            let n = r.params.waveform_time_s.len();
            r.params.waveform_field_t = read_column::<f64>(&g, "field_t", Some(n))?;
        }
    }
    Ok(records)
}

/// How many runs of the batch file at `path` have a stored trajectory (the groups under
/// `/runs`), without reading them.
pub fn trajectory_count(path: &Path) -> Result<usize, IoError> {
    (|| -> Result<usize, Fail> {
        let file = open(path)?;
        check_format(&file)?;
        let runs = open_group(&file, "runs")?;
        let names = runs.member_names().map_err(|e| Fail::Hdf5(e.to_string()))?;
        Ok(names.len())
    })()
    .map_err(|f| f.at(path))
}

/// Reads the trajectory of run `run_index` from the batch file at `path`; `None` when the
/// file holds no trajectory for that run (it was not kept, or the run is not in this file).
pub fn read_trajectory(
    path: &Path,
    run_index: usize,
) -> Result<Option<TrajectoryColumns>, IoError> {
    trajectory_inner(path, run_index).map_err(|f| f.at(path))
}

fn trajectory_inner(path: &Path, run_index: usize) -> Result<Option<TrajectoryColumns>, Fail> {
    let file = open(path)?;
    let version = check_format(&file)?;
    let runs = open_group(&file, "runs")?;
    let name = run_group_name(run_index);
    if !runs.link_exists(&name) {
        return Ok(None);
    }
    let group = open_group(&runs, &name)?;
    let stored: u64 = read_scalar_attr(&group, "run_index")?;
    if stored != run_index as u64 {
        return Err(Fail::Mismatch(format!(
            "group /runs/{name} has run_index {stored}"
        )));
    }

    let n = read_column::<f64>(&group, "time_s", None)?.len();
    let mut tr = TrajectoryColumns::default();
    for q in TRAJECTORY {
        match q.access {
            // Not stored before version 3: computed below from the ramp duration.
            TrajectoryAccess::F64(..) if version < 3 && q.name == "time_after_ramp_s" => {}
            // The molar moment (added within version 3): N_A mu_B times the stored moment,
            // computed below when absent (and always for version 2, whose moment is flipped).
            TrajectoryAccess::F64(..)
                if q.name == "magnetization_am2_per_mol"
                    && (version < 3 || !group.link_exists(q.name)) => {}
            // Added within version 3 (the heat link): no heat left a run written before it.
            TrajectoryAccess::F64(_, get_mut)
                if ADDED_IN_3.contains(&q.name) && !group.link_exists(q.name) =>
            {
                *get_mut(&mut tr) = vec![0.0; n];
            }
            TrajectoryAccess::F64(_, get_mut) => {
                *get_mut(&mut tr) = read_column(&group, q.name, Some(n))?;
            }
            TrajectoryAccess::Stage => tr.stage = read_column(&group, q.name, Some(n))?,
            TrajectoryAccess::Populations => {
                let (populations, shape) = read_dataset::<f64>(&group, q.name, 2)?;
                if shape[0] != n {
                    return Err(Fail::Mismatch(format!(
                        "dataset /runs/{name}/{} has {} rows for {n} samples",
                        q.name, shape[0]
                    )));
                }
                let levels = shape[1];
                tr.populations = (0..n)
                    .map(|i| populations[i * levels..(i + 1) * levels].to_vec())
                    .collect();
            }
        }
    }
    if version < 3 {
        let params: RunParams = serde_json::from_str(&read_str_attr(&group, "parameters")?)
            .map_err(|e| Fail::Mismatch(format!("/runs/{name} parameters: {e}")))?;
        tr.time_after_ramp_s = tr
            .time_s
            .iter()
            .map(|t| t - params.ramp_duration_s)
            .collect();
        // Version 2 stored +g_par <M>; the physical moment is -g_par <M>.
        for m in &mut tr.magnetization_mu_b {
            *m = -*m;
        }
    }
    if tr.magnetization_am2_per_mol.is_empty() {
        let per_mu_b = crate::units::molar_mu_b_am2_per_mol();
        tr.magnetization_am2_per_mol = tr.magnetization_mu_b.iter().map(|m| m * per_mu_b).collect();
    }
    Ok(Some(tr))
}
