//! Running a plan: shards, parallel runs, progress, crash-safe storage, resume.
//!
//! Each finished run is appended at once to this invocation's log in `OUT.parts/` (one
//! checksummed line, synced to disk at most once a second: see [`crate::batch::log`]). While
//! the runs go on, a writer thread writes the HDF5 file under a temporary name, taking the
//! records in run order (the workers take the pending runs in run order too): a run of this
//! invocation as it finishes (its record parsed back from the JSON it was stored as, as a
//! resumed batch reads it), a run of an earlier invocation from that one's log. When all runs
//! of the shard are stored and synced, the writer finishes the file (summary and wall time),
//! it is synced and renamed to OUT, then the parts folder is removed. A SIGKILL at any moment
//! therefore leaves either no file or a complete one at OUT (an unfinished `OUT.tmp` is never
//! a result and goes at the next start), and `--resume` recomputes only the runs without a
//! stored line. Runs are deterministic, so a resumed batch equals an uninterrupted one (wall
//! times aside). Memory stays flat in the number of runs: no trajectory is held beyond its own
//! run, and the records that finished before a run still going on wait for the writer up to
//! [`ASSEMBLY_CHUNK_BYTES`] of JSON (the rest are read back from the log).

use crate::batch::config::{ConfigError, Plan};
use crate::batch::log::{parse_record, read_record, sync_dir, Location, LogWriter, Stored};
use crate::io::{read_meta, write_batch_then_wall_time, IoError};
use crate::results::{BatchMeta, RunRecord, RunStatus};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;
use thiserror::Error;

/// How to run a plan.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Final output file.
    pub output: PathBuf,
    /// Worker threads (`None`: rayon's default, which honours RAYON_NUM_THREADS).
    pub threads: Option<usize>,
    /// Shard (index, count).
    pub shard: (usize, usize),
    /// Finish an interrupted batch.
    pub resume: bool,
    /// Overwrite an existing output.
    pub force: bool,
    /// No progress bar.
    pub quiet: bool,
}

/// What a batch did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchOutcome {
    /// Runs in this shard.
    pub runs: usize,
    /// Computed now.
    pub computed: usize,
    /// Taken from a previous, interrupted invocation.
    pub resumed: usize,
    /// Runs whose engine failed (recorded with their errors).
    pub failed: usize,
    /// Wall time, s, summed over the invocations that computed the shard's runs (each
    /// interrupted one up to its last stored run); 0 when the file was already complete.
    pub wall_time_s: f64,
}

/// Why a batch could not run or finish.
#[derive(Debug, Error)]
pub enum BatchError {
    /// The config is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The user asked for something inconsistent (existing output, bad shard, ...).
    #[error("{0}")]
    Usage(String),
    /// Reading or writing HDF5.
    #[error(transparent)]
    Io(#[from] IoError),
    /// Stopped between runs on request (Ctrl-C in the Python API): the completed runs are
    /// kept in the parts directory and a resumed batch finishes the rest.
    #[error("interrupted after {completed} of {runs} runs; the completed runs are kept in {parts}: resume to finish")]
    Interrupted {
        /// Runs of the shard with a stored part.
        completed: usize,
        /// Runs in the shard.
        runs: usize,
        /// The parts directory.
        parts: String,
    },
    /// Filesystem trouble with the parts directory.
    #[error("{path}: {message}")]
    Fs {
        /// Path.
        path: String,
        /// OS message.
        message: String,
    },
}

fn fs_err(path: &Path, e: impl std::fmt::Display) -> BatchError {
    BatchError::Fs {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Parse "i/N" (0 <= i < N).
pub fn parse_shard(text: &str) -> Result<(usize, usize), String> {
    let (a, b) = text
        .split_once('/')
        .ok_or_else(|| format!("'{text}' is not i/N (e.g. 0/4)"))?;
    let i: usize = a
        .trim()
        .parse()
        .map_err(|_| format!("'{a}' in '{text}' is not a shard index"))?;
    let n: usize = b
        .trim()
        .parse()
        .map_err(|_| format!("'{b}' in '{text}' is not a shard count"))?;
    if n == 0 {
        return Err(format!("'{text}': the shard count must be >= 1"));
    }
    if i >= n {
        return Err(format!(
            "'{text}': the shard index must be below the count (0..{n})"
        ));
    }
    Ok((i, n))
}

/// The shard from SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT (with
/// SLURM_ARRAY_TASK_MIN subtracted when the array does not start at 0), if set.
pub fn shard_from_slurm() -> Result<Option<(usize, usize)>, String> {
    let Ok(id) = std::env::var("SLURM_ARRAY_TASK_ID") else {
        return Ok(None);
    };
    let count = std::env::var("SLURM_ARRAY_TASK_COUNT")
        .map_err(|_| "SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not".to_string())?;
    let min: usize = std::env::var("SLURM_ARRAY_TASK_MIN")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    let id: usize = id
        .parse()
        .map_err(|_| format!("SLURM_ARRAY_TASK_ID = '{id}' is not a number"))?;
    let count: usize = count
        .parse()
        .map_err(|_| format!("SLURM_ARRAY_TASK_COUNT = '{count}' is not a number"))?;
    parse_shard(&format!("{}/{count}", id.saturating_sub(min))).map(Some)
}

/// Run indices of a shard: i with i mod count = index (round robin, so every shard gets a
/// share of each region of the sweep).
pub fn shard_indices(n_runs: usize, shard: (usize, usize)) -> Vec<usize> {
    (0..n_runs).filter(|i| i % shard.1 == shard.0).collect()
}

fn parts_dir(output: &Path) -> PathBuf {
    let mut s = output.as_os_str().to_owned();
    s.push(".parts");
    PathBuf::from(s)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), BatchError> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(|e| fs_err(&tmp, e))?;
    f.write_all(bytes).map_err(|e| fs_err(&tmp, e))?;
    f.sync_all().map_err(|e| fs_err(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| fs_err(path, e))
}

/// Refuse an output path that is a folder or whose parent is a file; create its missing parent
/// folders.
pub fn output_parent(out: &Path) -> Result<(), BatchError> {
    if out.is_dir() {
        return Err(BatchError::Usage(format!(
            "-o {}: is a folder; give the name of the HDF5 file to write",
            out.display()
        )));
    }
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        if let Some(file) = parent.ancestors().find(|a| a.is_file()) {
            return Err(BatchError::Usage(format!(
                "-o {}: {} is a file, not a folder",
                out.display(),
                file.display()
            )));
        }
        std::fs::create_dir_all(parent).map_err(|e| fs_err(parent, e))?;
    }
    Ok(())
}

/// Fault injection for tests and drills: a comma-separated list of run indices whose engine
/// call is replaced by a failure, so the failure path (recorded error, other runs complete,
/// exit code 3) can be exercised. Never set in normal use.
pub const INJECT_ENV: &str = "SMMCOOL_INJECT_FAILURE";

/// The run indices of [`INJECT_ENV`] (read once per batch: the environment is behind a
/// process-wide lock).
fn injected_failures() -> Vec<usize> {
    std::env::var(INJECT_ENV)
        .map(|v| {
            v.split(',')
                .filter_map(|x| x.trim().parse::<usize>().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Compute one run into its record (engine failures become failed records), sharing the
/// tables of `ctx` with the batch's other runs.
pub fn compute(
    ctx: &crate::kinetics::EngineContext,
    plan: &Plan,
    index: usize,
) -> Result<RunRecord, ConfigError> {
    compute_timed(ctx, plan, index, &injected_failures(), None)
}

/// [`compute`] with the injected failures read once per batch, and the time of each of its
/// steps added to `profile` when one is given.
fn compute_timed(
    ctx: &crate::kinetics::EngineContext,
    plan: &Plan,
    index: usize,
    inject: &[usize],
    profile: Option<&Profile>,
) -> Result<RunRecord, ConfigError> {
    let mut clock = profile.map(|_| thread_cpu_ns());
    let mut lap = |phase: Phase| {
        if let (Some(p), Some(t)) = (profile, clock.as_mut()) {
            let now = thread_cpu_ns();
            p.add(phase, now.saturating_sub(*t));
            *t = now;
        }
    };
    let (params, spec) = plan.run(index)?;
    lap(Phase::Scenario);
    let start = Instant::now();
    let result = if inject.contains(&index) {
        Err(format!("injected failure for run {index} ({INJECT_ENV})"))
    } else {
        crate::kinetics::simulate(ctx, &spec).map_err(|e| e.to_string())
    };
    lap(Phase::Engine);
    // The sudden and isentropic limits go into a failed run's record (a finished run's come
    // with its trajectory): computed only then.
    let limits = if result.is_err() {
        let fc = crate::model::limits::FieldChange::of(
            &spec.material,
            params.b_initial_t,
            params.b_final_t,
            params.initial_temperature_k,
        );
        (
            fc.sudden_final_k().ok(),
            fc.isentropic_final().ok().and_then(|o| o.t_final_k()),
        )
    } else {
        (None, None)
    };
    lap(Phase::Limits);
    let record = RunRecord::from_result(
        params,
        result,
        plan.sample_times(),
        plan.config.output.trajectory,
        start.elapsed().as_secs_f64(),
        limits,
    );
    lap(Phase::Record);
    Ok(record)
}

/// Debug switch: with this variable set (to anything), `run` prints to stderr where the
/// batch's time went: each step of a run summed over the runs (thread time), how unevenly the
/// workers finished, and each step after the last run ([`Profile`]). Off, the runs take no
/// timings.
pub const PROFILE_ENV: &str = "SMMCOOL_BATCH_PROFILE";

/// The steps of a run, timed by [`Profile`].
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// The run's scenario and engine input from the plan.
    Scenario,
    /// The sudden and isentropic limits (for a failed run's record; computed only for one).
    Limits,
    /// The engine.
    Engine,
    /// The record from the engine's result.
    Record,
    /// The record appended to the log (JSON, checksum, write, the syncs due).
    Store,
    /// The progress bar's tick.
    Progress,
}

const PHASES: [(Phase, &str); 6] = [
    (Phase::Scenario, "scenario"),
    (Phase::Limits, "limits"),
    (Phase::Engine, "engine"),
    (Phase::Record, "record"),
    (Phase::Store, "store"),
    (Phase::Progress, "progress"),
];

/// CPU time of the calling thread, ns (its wall time since the first call where the platform has
/// no thread clock): the profile's steps are counted in CPU time, so that other processes on a
/// busy machine do not inflate them.
fn thread_cpu_ns() -> u64 {
    #[cfg(unix)]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes the timespec it is given and nothing else.
        if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } == 0 {
            return ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
        }
    }
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Timers of a batch behind [`PROFILE_ENV`]: thread CPU time of each step of the runs (ns), the
/// time each worker finished its last run (ns since the batch started), and the steps after
/// the last run, printed to stderr at the end.
struct Profile {
    start: Instant,
    phases: [AtomicU64; 6],
    worker_end_ns: Vec<AtomicU64>,
    tail: std::sync::Mutex<Vec<(&'static str, f64)>>,
    tail_clock: std::sync::Mutex<Instant>,
}

impl Profile {
    fn new(start: Instant, workers: usize) -> Self {
        Self {
            start,
            phases: Default::default(),
            worker_end_ns: (0..=workers).map(|_| AtomicU64::new(0)).collect(),
            tail: Default::default(),
            tail_clock: std::sync::Mutex::new(start),
        }
    }

    fn add(&self, phase: Phase, ns: u64) {
        self.phases[phase as usize].fetch_add(ns, Ordering::Relaxed);
    }

    /// A run ended on this worker.
    fn run_ended(&self) {
        let slot = rayon::current_thread_index()
            .unwrap_or(0)
            .min(self.worker_end_ns.len() - 1);
        let now = self.start.elapsed().as_nanos() as u64;
        self.worker_end_ns[slot].fetch_max(now, Ordering::Relaxed);
    }

    /// The runs are over: the tail's clock starts.
    fn runs_over(&self) {
        if let Ok(mut c) = self.tail_clock.lock() {
            *c = Instant::now();
        }
    }

    /// A step after the last run ended now.
    fn tail_step(&self, name: &'static str) {
        if let (Ok(mut c), Ok(mut t)) = (self.tail_clock.lock(), self.tail.lock()) {
            t.push((name, c.elapsed().as_secs_f64()));
            *c = Instant::now();
        }
    }

    fn report(&self, runs: usize) {
        let mut err = std::io::stderr().lock();
        let s = |ns: u64| ns as f64 * 1e-9;
        let total: u64 = self.phases.iter().map(|p| p.load(Ordering::Relaxed)).sum();
        let _ = writeln!(
            err,
            "PROFILE runs {runs}, thread CPU time in runs {:.4} s ({:.1} us per run)",
            s(total),
            s(total) * 1e6 / runs.max(1) as f64
        );
        for (phase, name) in PHASES {
            let ns = self.phases[phase as usize].load(Ordering::Relaxed);
            let _ = writeln!(
                err,
                "PROFILE   {name:<9} {:.4} s ({:.1} us per run, {:.2}%)",
                s(ns),
                s(ns) * 1e6 / runs.max(1) as f64,
                100.0 * ns as f64 / total.max(1) as f64
            );
        }
        let ends: Vec<f64> = self
            .worker_end_ns
            .iter()
            .map(|e| s(e.load(Ordering::Relaxed)))
            .filter(|&e| e > 0.0)
            .collect();
        let (first, last) = ends
            .iter()
            .fold((f64::INFINITY, 0.0f64), |(a, b), &e| (a.min(e), b.max(e)));
        let _ = writeln!(
            err,
            "PROFILE workers {}: last runs ended {first:.4} .. {last:.4} s after the start (idle at the end {:.4} s)",
            ends.len(),
            last - first
        );
        let tail = self.tail.lock().map(|t| t.clone()).unwrap_or_default();
        let total_tail: f64 = tail.iter().map(|t| t.1).sum();
        let _ = writeln!(err, "PROFILE after the last run {total_tail:.4} s");
        for (name, secs) in tail {
            let _ = writeln!(err, "PROFILE   {name:<9} {secs:.4} s");
        }
    }
}

/// The provenance block of a batch file.
pub fn meta(plan: &Plan, shard: (usize, usize), wall_time_s: f64) -> BatchMeta {
    // Per-run settings are those of run 0, with its swept values applied (a swept key's base
    // value is the default, not what any run used); `swept_keys` says which vary per run, and
    // the summary holds each run's value of a swept key.
    let run0 = plan.scenario(0);
    BatchMeta {
        smmcool_version: env!("CARGO_PKG_VERSION").to_string(),
        git_revision: env!("SMMCOOL_GIT_REVISION").to_string(),
        config_toml: plan.text.clone(),
        n_runs_total: plan.n_runs(),
        shard,
        swept_keys: plan.axes.iter().map(|(k, _)| k.clone()).collect(),
        sample_times_after_ramp_s: plan.sample_times().to_vec(),
        rtol: run0.solver.rtol,
        equilibrium_tol_k: run0.solver.equilibrium_tol_k,
        wall_time_s,
        created_unix_s: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        command_line: command_line(),
        physics: plan
            .run(0)
            .ok()
            .map(|(_, spec)| crate::results::PhysicsMeta::of_scenario(&run0, &spec)),
    }
}

/// This process's command line, each argument quoted for a POSIX shell where it needs it.
pub fn command_line() -> String {
    std::env::args()
        .map(|a| {
            let plain = !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
            if plain {
                a
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Test hook: with this variable set to a point's name, `run` aborts there (as a kill -9
/// would): `plan` (parts folder made, plan not yet written), `parts` (runs stored and synced,
/// the file under its temporary name not finished), `assembled` (the file written under its
/// temporary name), `cleanup` (the file in place, the parts not yet removed).
pub const STOP_AT_ENV: &str = "SMMCOOL_TEST_STOP_AT";

/// Test hook beside [`STOP_AT_ENV`]: with this variable set to a path, `run` does not abort at
/// the point but creates that file and waits there, so that a test can send it a real signal
/// (SIGTERM, SIGINT) at that point.
pub const STOP_HOLD_ENV: &str = "SMMCOOL_TEST_STOP_HOLD";

fn stop_point(name: &str) {
    if std::env::var(STOP_AT_ENV).is_ok_and(|v| v == name) {
        if let Some(marker) = std::env::var_os(STOP_HOLD_ENV) {
            if std::fs::write(&marker, name).is_ok() {
                loop {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
            }
        }
        std::process::abort();
    }
}

/// The exclusive lock on an output: `OUT.lock`, created exclusively, holding the owner's pid;
/// removed when dropped. A lock whose process no longer exists is taken over.
struct OutputLock(PathBuf);

impl OutputLock {
    fn take(out: &Path) -> Result<Self, BatchError> {
        let path = {
            let mut s = out.as_os_str().to_owned();
            s.push(".lock");
            PathBuf::from(s)
        };
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    use std::io::Write;
                    writeln!(f, "{}", std::process::id()).map_err(|e| fs_err(&path, e))?;
                    return Ok(Self(path));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    let pid = text.trim().parse::<u32>().ok();
                    let alive = pid.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists());
                    if alive || (pid.is_none() && !text.is_empty()) {
                        return Err(BatchError::Usage(format!(
                            "{}: locked by process {} ({}); wait for it to finish, or remove the lock if that process is gone",
                            out.display(),
                            text.trim(),
                            path.display()
                        )));
                    }
                    // The holder is gone (killed): take the lock over.
                    let _ = std::fs::remove_file(&path);
                }
                Err(e) => return Err(fs_err(&path, e)),
            }
        }
        Err(BatchError::Usage(format!(
            "{}: could not take the lock {}",
            out.display(),
            path.display()
        )))
    }
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Run (the shard of) a plan into `opts.output`.
pub fn run_batch(plan: &Plan, opts: &RunOptions) -> Result<BatchOutcome, BatchError> {
    run_batch_cancellable(plan, opts, &AtomicBool::new(false))
}

/// As [`run_batch`], checking `cancel` before each run: once it is set, no new run starts,
/// the running ones finish and are stored, and the batch returns
/// [`BatchError::Interrupted`], leaving a batch that `resume` finishes.
pub fn run_batch_cancellable(
    plan: &Plan,
    opts: &RunOptions,
    cancel: &AtomicBool,
) -> Result<BatchOutcome, BatchError> {
    let start = Instant::now();
    let out = &opts.output;
    let parts = parts_dir(out);
    output_parent(out)?;
    let _lock = OutputLock::take(out)?;
    let tmp = {
        let mut s = out.as_os_str().to_owned();
        s.push(".tmp");
        PathBuf::from(s)
    };
    // A temporary file left by an interrupted assembly is never a result: drop it.
    if tmp.exists() {
        std::fs::remove_file(&tmp).map_err(|e| fs_err(&tmp, e))?;
    }
    let indices = shard_indices(plan.n_runs(), opts.shard);
    if indices.is_empty() {
        return Err(BatchError::Usage(format!(
            "shard {}/{} has no runs: the plan has only {} run(s); use at most that many shards",
            opts.shard.0,
            opts.shard.1,
            plan.n_runs()
        )));
    }
    if out.exists() {
        if opts.force {
            std::fs::remove_file(out).map_err(|e| fs_err(out, e))?;
        } else if opts.resume {
            // A finished file of the same config and shard: nothing left to do.
            let m = read_meta(out)?;
            if m.config_toml == plan.text && m.shard == opts.shard {
                // An interruption during the final clean-up left the parts: remove them.
                if parts.exists() {
                    std::fs::remove_dir_all(&parts).map_err(|e| fs_err(&parts, e))?;
                }
                return Ok(BatchOutcome {
                    runs: indices.len(),
                    computed: 0,
                    resumed: indices.len(),
                    failed: 0,
                    wall_time_s: 0.0,
                });
            }
            return Err(BatchError::Usage(format!(
                "{}: exists and was written by a different config or shard; choose another output or use --force",
                out.display()
            )));
        } else {
            return Err(BatchError::Usage(format!(
                "{}: output exists; use --resume to finish or keep it, or --force to overwrite",
                out.display()
            )));
        }
    }
    let stamp = format!(
        "{}\n--- shard {}/{}\n",
        plan.text, opts.shard.0, opts.shard.1
    );
    if parts.exists() {
        if opts.force {
            std::fs::remove_dir_all(&parts).map_err(|e| fs_err(&parts, e))?;
        } else if !opts.resume {
            return Err(BatchError::Usage(format!(
                "{}: an interrupted batch left its completed runs here; use --resume to finish it or --force to start over",
                parts.display()
            )));
        } else {
            // The plan is written atomically before any run: without it (killed in between)
            // the folder holds no runs and the batch simply starts.
            let plan_file = parts.join("plan.txt");
            let old = std::fs::read_to_string(&plan_file).ok();
            if old.is_some_and(|old| old != stamp) {
                return Err(BatchError::Usage(format!(
                    "{}: holds runs of a different config or shard; use --force to start over",
                    parts.display()
                )));
            }
        }
    }
    std::fs::create_dir_all(&parts).map_err(|e| fs_err(&parts, e))?;
    stop_point("plan");
    write_atomic(&parts.join("plan.txt"), stamp.as_bytes())?;

    let stored = Stored::scan(&parts, plan.n_runs())?;
    let pending: Vec<usize> = indices
        .iter()
        .copied()
        .filter(|&i| !stored.contains(i))
        .collect();
    let resumed = indices.len() - pending.len();
    // Every stored line carries its invocation's wall time when it was written: an interrupted
    // invocation (even by SIGKILL) is counted up to its last stored run, and the file's
    // wall_time_s sums every invocation that computed its runs.
    let earlier_wall_s = stored.wall_time_s();
    let earlier_files = stored.open()?;
    let log = LogWriter::create(&parts, start)?;
    let appended = AtomicUsize::new(0);

    let bar = ProgressBar::new(pending.len() as u64);
    if opts.quiet || !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40} {pos}/{len} runs  {elapsed} elapsed  ETA {eta}  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let pool = match opts.threads {
        Some(n) => Some(
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .map_err(|e| BatchError::Usage(format!("--threads {n}: {e}")))?,
        ),
        None => None,
    };
    // One context for the batch, shared by its threads.
    let ctx = crate::kinetics::EngineContext::new();
    let inject = injected_failures();
    let profile = std::env::var_os(PROFILE_ENV).map(|_| {
        Profile::new(
            start,
            pool.as_ref()
                .map_or_else(rayon::current_num_threads, |p| p.current_num_threads()),
        )
    });
    let profile = profile.as_ref();
    let step = |name| {
        if let Some(p) = profile {
            p.tail_step(name);
        }
    };
    let batch_meta = meta(plan, opts.shard, earlier_wall_s);
    let held = AtomicUsize::new(0);
    let (arrivals, arrived) = std::sync::mpsc::channel::<Arrival>();
    let (wall_tx, wall_rx) = std::sync::mpsc::channel::<f64>();

    let (done, synced, writer, wall) = std::thread::scope(|scope| {
        // The file is written under its temporary name while the runs go on: the writer takes
        // the records in run order, from the workers as they finish and from the logs of
        // earlier invocations, so that little is left to do after the last run.
        let writer = {
            let log_path = log.path().to_path_buf();
            let (stored, earlier_files, batch_meta) = (&stored, &earlier_files, &batch_meta);
            let (indices, tmp, held) = (&indices, &tmp, &held);
            scope.spawn(move || -> Result<InOrder, BatchError> {
                let log_file = std::fs::File::open(&log_path).map_err(|e| fs_err(&log_path, e))?;
                let mut records = InOrder {
                    indices: indices.iter(),
                    earlier: stored,
                    earlier_files,
                    arrived,
                    waiting: std::collections::BTreeMap::new(),
                    held,
                    log_file,
                    log_path,
                    delivered: 0,
                    failed: 0,
                    error: None,
                };
                let written = write_batch_then_wall_time(tmp, batch_meta, &mut records, || {
                    wall_rx.recv().unwrap_or(f64::NAN)
                });
                // Stop taking arrivals: a worker's send fails from now on and is ignored.
                drop(std::mem::replace(
                    &mut records.arrived,
                    std::sync::mpsc::channel().1,
                ));
                written?;
                Ok(records)
            })
        };
        let work = || -> Result<(), BatchError> {
            // In run order (each worker takes the next pending run), so that the writer holds
            // few records that came early.
            pending.iter().par_bridge().try_for_each(|&i| {
                if cancel.load(Ordering::Relaxed) {
                    return Err(BatchError::Interrupted {
                        completed: 0,
                        runs: 0,
                        parts: String::new(),
                    });
                }
                let rec = compute_timed(&ctx, plan, i, &inject, profile)?;
                let t = profile.map(|_| thread_cpu_ns());
                let (json, at) = log.append(i, &rec)?;
                appended.fetch_add(1, Ordering::Relaxed);
                // The writer gets the record as stored (parsed back from its JSON, as a
                // resumed batch reads it), or only where it is in the log when the records
                // waiting for the writer already hold ASSEMBLY_CHUNK_BYTES.
                let record =
                    if held.fetch_add(at.len, Ordering::Relaxed) + at.len <= ASSEMBLY_CHUNK_BYTES {
                        Some(parse_record(&json, log.path(), i)?)
                    } else {
                        held.fetch_sub(at.len, Ordering::Relaxed);
                        None
                    };
                let _ = arrivals.send(Arrival {
                    index: i,
                    record,
                    at,
                });
                if let (Some(p), Some(t)) = (profile, t) {
                    let now = thread_cpu_ns();
                    p.add(Phase::Store, now.saturating_sub(t));
                    bar.inc(1);
                    p.add(Phase::Progress, thread_cpu_ns().saturating_sub(now));
                    p.run_ended();
                } else {
                    bar.inc(1);
                }
                Ok(())
            })
        };
        let done = in_pool(pool.as_ref(), work);
        if let Some(p) = profile {
            p.runs_over();
        }
        // Whatever was stored reaches the disk before the batch goes on or stops.
        let synced = log.sync();
        step("sync");
        let wall = earlier_wall_s + start.elapsed().as_secs_f64();
        let _ = wall_tx.send(wall);
        drop(arrivals);
        if done.is_ok() && synced.is_ok() {
            stop_point("parts");
        }
        let writer = writer.join();
        step("assemble");
        (done, synced, writer, wall)
    });
    drop(log);
    bar.finish_and_clear();
    let discard = |e: BatchError| {
        // No unfinished or unreadable OUT.tmp is left behind.
        let _ = std::fs::remove_file(&tmp);
        e
    };
    if let Err(BatchError::Interrupted { .. }) = done {
        let _ = std::fs::remove_file(&tmp);
        synced?;
        return Err(BatchError::Interrupted {
            completed: resumed + appended.load(Ordering::Relaxed),
            runs: indices.len(),
            parts: parts.display().to_string(),
        });
    }
    done.map_err(discard)?;
    synced.map_err(discard)?;
    // A full disk or another write failure, or a record that could not be read back.
    let records = writer
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        .map_err(discard)?;
    if let Some(e) = records.error {
        return Err(discard(e));
    }
    if records.delivered != indices.len() {
        return Err(discard(BatchError::Fs {
            path: tmp.display().to_string(),
            message: format!(
                "{} of the {} runs reached the file",
                records.delivered,
                indices.len()
            ),
        }));
    }
    let failed = records.failed;
    // The file is on disk before its name is, and its name before the logs go.
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| fs_err(&tmp, e))?;
    step("fsync");
    stop_point("assembled");
    std::fs::rename(&tmp, out).map_err(|e| fs_err(out, e))?;
    sync_dir(
        out.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new(".")),
    )?;
    step("rename");
    stop_point("cleanup");
    std::fs::remove_dir_all(&parts).map_err(|e| fs_err(&parts, e))?;
    step("cleanup");
    if let Some(p) = profile {
        p.report(pending.len());
    }
    Ok(BatchOutcome {
        runs: indices.len(),
        computed: pending.len(),
        resumed,
        failed,
        wall_time_s: wall,
    })
}

/// A finished run on its way to the writer: its record, or (when the waiting records already
/// hold [`ASSEMBLY_CHUNK_BYTES`]) only where its JSON is in this invocation's log.
struct Arrival {
    index: usize,
    record: Option<RunRecord>,
    at: Location,
}

/// The records of a shard in run order, for the writer: a run stored by an earlier invocation
/// read from its log, a run of this one as it arrives (the ones that come early wait, up to
/// [`ASSEMBLY_CHUNK_BYTES`] of them in memory, the rest read back from the log). Ends early
/// when the workers stop before a run it waits for arrives, or when a record cannot be read.
struct InOrder<'a> {
    indices: std::slice::Iter<'a, usize>,
    earlier: &'a Stored,
    earlier_files: &'a [std::fs::File],
    arrived: std::sync::mpsc::Receiver<Arrival>,
    waiting: std::collections::BTreeMap<usize, Arrival>,
    /// JSON bytes of the records on their way or waiting.
    held: &'a AtomicUsize,
    log_file: std::fs::File,
    log_path: PathBuf,
    /// Records handed to the writer.
    delivered: usize,
    /// Of which failed runs.
    failed: usize,
    /// Why it ended early, when a record could not be read.
    error: Option<BatchError>,
}

impl InOrder<'_> {
    fn record(&mut self, a: Arrival) -> Result<RunRecord, BatchError> {
        match a.record {
            Some(r) => {
                self.held.fetch_sub(a.at.len, Ordering::Relaxed);
                Ok(r)
            }
            None => read_record(&self.log_file, &self.log_path, a.at, a.index),
        }
    }

    fn next_record(&mut self, i: usize) -> Option<Result<RunRecord, BatchError>> {
        if self.earlier.contains(i) {
            return Some(self.earlier.record(self.earlier_files, i));
        }
        if let Some(a) = self.waiting.remove(&i) {
            return Some(self.record(a));
        }
        loop {
            let a = self.arrived.recv().ok()?;
            if a.index == i {
                return Some(self.record(a));
            }
            self.waiting.insert(a.index, a);
        }
    }
}

impl Iterator for InOrder<'_> {
    type Item = RunRecord;

    fn next(&mut self) -> Option<RunRecord> {
        if self.error.is_some() {
            return None;
        }
        let &i = self.indices.next()?;
        match self.next_record(i)? {
            Ok(r) => {
                self.delivered += 1;
                if r.status == RunStatus::Failed {
                    self.failed += 1;
                }
                Some(r)
            }
            Err(e) => {
                self.error = Some(e);
                None
            }
        }
    }
}

/// Most JSON bytes of finished runs' records held in memory for the writer (the records that
/// finished before a run still going on); past it the writer reads them back from the log.
pub const ASSEMBLY_CHUNK_BYTES: usize = 8 << 20;

/// Run `f` in `pool`, or in rayon's global pool without one.
fn in_pool<R: Send>(pool: Option<&rayon::ThreadPool>, f: impl FnOnce() -> R + Send) -> R {
    match pool {
        Some(p) => p.install(f),
        None => f(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The writer's feed puts the records in run order whatever order they arrive in, takes a
    /// run of an earlier invocation from that one's log, reads a record sent only by its place
    /// back from this invocation's log, and ends when the workers stop before the run it
    /// waits for: each record equal to the one stored (the run's parameters and its error text
    /// differ from run to run, so a swapped or misread record shows).
    #[test]
    fn the_writers_feed_puts_records_in_run_order_and_reads_back_those_sent_by_place() {
        let dir = tempfile::tempdir().unwrap();
        let text = "[protocol]\nb_initial_t = 0.5\nb_final_t = 0.1\nsweep_rate_t_per_s = 10.0\n\n[[sweep]]\nkey = \"protocol.initial_temperature_k\"\nvalues = [2.0, 2.5, 3.0, 3.5, 4.0, 4.5]\n";
        let plan = Plan::from_text(&dir.path().join("c.toml"), text.into()).unwrap();
        let record = |i: usize| {
            let (params, _) = plan.run(i).unwrap();
            RunRecord::from_result(
                params,
                Err(format!("run {i} failed")),
                plan.sample_times(),
                false,
                0.25 * i as f64,
                (Some(1.0 + i as f64), None),
            )
        };
        // Run 1 was stored by an earlier invocation.
        let earlier = LogWriter::create(dir.path(), Instant::now()).unwrap();
        earlier.append(1, &record(1)).unwrap();
        earlier.sync().unwrap();
        drop(earlier);
        let stored = Stored::scan(dir.path(), 6).unwrap();
        let earlier_files = stored.open().unwrap();
        let log = LogWriter::create(dir.path(), Instant::now()).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let held = AtomicUsize::new(0);
        // Runs 4, 0, 3, 2 arrive in that order; 3 only by its place in the log; 5 never.
        for i in [4, 0, 3, 2] {
            let (json, at) = log.append(i, &record(i)).unwrap();
            let record = (i != 3).then(|| {
                held.fetch_add(at.len, Ordering::Relaxed);
                parse_record(&json, log.path(), i).unwrap()
            });
            tx.send(Arrival {
                index: i,
                record,
                at,
            })
            .unwrap();
        }
        drop(tx);
        let indices: Vec<usize> = (0..6).collect();
        let mut feed = InOrder {
            indices: indices.iter(),
            earlier: &stored,
            earlier_files: &earlier_files,
            arrived: rx,
            waiting: std::collections::BTreeMap::new(),
            held: &held,
            log_file: std::fs::File::open(log.path()).unwrap(),
            log_path: log.path().to_path_buf(),
            delivered: 0,
            failed: 0,
            error: None,
        };
        let got: Vec<RunRecord> = feed.by_ref().collect();
        let want: Vec<RunRecord> = (0..5).map(record).collect();
        assert_eq!(got, want);
        assert_eq!((feed.delivered, feed.failed), (5, 5));
        assert!(feed.error.is_none());
        assert_eq!(
            held.load(Ordering::Relaxed),
            0,
            "every held record released"
        );
    }
}
