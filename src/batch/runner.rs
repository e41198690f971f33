//! Running a plan: shards, parallel runs, progress, crash-safe storage, resume.
//!
//! Each finished run is appended at once to this invocation's log in `OUT.parts/` (one
//! checksummed line, synced to disk at most once a second: see [`crate::batch::log`]). When all
//! runs of the shard are stored, the HDF5 file is assembled from the logs under a temporary
//! name (the records read and parsed in parallel, written in run order), synced, and renamed to
//! OUT, then the parts folder is removed. A SIGKILL at any moment therefore leaves either no
//! file or a complete one at OUT, and `--resume` recomputes only the runs without a stored
//! line. Runs are deterministic, so a resumed batch equals an uninterrupted one (wall times
//! aside). Memory stays flat in the number of runs: no trajectory is held beyond its own run
//! and the assembly's batch of parsed records (at most [`ASSEMBLY_CHUNK_BYTES`] of JSON).

use crate::batch::config::{ConfigError, Plan};
use crate::batch::log::{sync_dir, LogWriter, Stored};
use crate::io::{read_meta, write_batch, IoError};
use crate::results::{BatchMeta, RunRecord, RunStatus};
use indicatif::{ParallelProgressIterator, ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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

fn injected_failure(index: usize) -> bool {
    std::env::var(INJECT_ENV).is_ok_and(|v| {
        v.split(',')
            .any(|x| x.trim().parse::<usize>().ok() == Some(index))
    })
}

/// Compute one run into its record (engine failures become failed records), sharing the
/// tables of `ctx` with the batch's other runs.
pub fn compute(
    ctx: &crate::kinetics::EngineContext,
    plan: &Plan,
    index: usize,
) -> Result<RunRecord, ConfigError> {
    let (params, spec) = plan.run(index)?;
    let start = Instant::now();
    let limits = {
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
    };
    let result = if injected_failure(index) {
        Err(format!("injected failure for run {index} ({INJECT_ENV})"))
    } else {
        crate::kinetics::simulate(ctx, &spec).map_err(|e| e.to_string())
    };
    Ok(RunRecord::from_result(
        params,
        result,
        plan.sample_times(),
        plan.config.output.trajectory,
        start.elapsed().as_secs_f64(),
        limits,
    ))
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
/// would): `plan` (parts folder made, plan not yet written), `parts` (runs written, nothing
/// assembled), `assembled` (the file written under its temporary name), `cleanup` (the file
/// in place, the parts not yet removed).
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
    drop(stored);
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
    let work = || -> Result<(), BatchError> {
        pending
            .par_iter()
            .progress_with(bar.clone())
            .try_for_each(|&i| {
                if cancel.load(Ordering::Relaxed) {
                    return Err(BatchError::Interrupted {
                        completed: 0,
                        runs: 0,
                        parts: String::new(),
                    });
                }
                let rec = compute(&ctx, plan, i)?;
                log.append(i, &rec)?;
                appended.fetch_add(1, Ordering::Relaxed);
                Ok(())
            })
    };
    let done = in_pool(pool.as_ref(), work);
    // Whatever was stored reaches the disk before the batch goes on or stops.
    let synced = log.sync();
    drop(log);
    if let Err(BatchError::Interrupted { .. }) = done {
        bar.finish_and_clear();
        synced?;
        return Err(BatchError::Interrupted {
            completed: resumed + appended.load(Ordering::Relaxed),
            runs: indices.len(),
            parts: parts.display().to_string(),
        });
    }
    done?;
    synced?;
    bar.finish_and_clear();
    stop_point("parts");

    // Assemble the file from the logs in run order: the records of a chunk of runs read and
    // parsed in parallel, then written one after the other.
    let stored = Stored::scan(&parts, plan.n_runs())?;
    let files = stored.open()?;
    let chunks = chunks_by_bytes(&indices, |i| stored.record_len(i), ASSEMBLY_CHUNK_BYTES);
    let wall = earlier_wall_s + start.elapsed().as_secs_f64();
    let batch_meta = meta(plan, opts.shard, wall);
    let mut failed = 0usize;
    let mut read_error = None;
    let written = in_pool(pool.as_ref(), || {
        let records = chunks
            .iter()
            .flat_map(|chunk| {
                chunk
                    .par_iter()
                    .map(|&i| stored.record(&files, i))
                    .collect::<Vec<_>>()
            })
            .map_while(|r| match r {
                Ok(r) => {
                    if r.status == RunStatus::Failed {
                        failed += 1;
                    }
                    Some(r)
                }
                Err(e) => {
                    read_error = Some(e);
                    None
                }
            });
        write_batch(&tmp, &batch_meta, records)
    });
    if let Err(e) = written {
        // A full disk or another write failure: no unreadable OUT.tmp is left behind.
        let _ = std::fs::remove_file(&tmp);
        return Err(e.into());
    }
    if let Some(e) = read_error {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // The file is on disk before its name is, and its name before the logs go.
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| fs_err(&tmp, e))?;
    stop_point("assembled");
    std::fs::rename(&tmp, out).map_err(|e| fs_err(out, e))?;
    sync_dir(
        out.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new(".")),
    )?;
    stop_point("cleanup");
    std::fs::remove_dir_all(&parts).map_err(|e| fs_err(&parts, e))?;
    Ok(BatchOutcome {
        runs: indices.len(),
        computed: pending.len(),
        resumed,
        failed,
        wall_time_s: wall,
    })
}

/// JSON bytes of stored records parsed together while a batch is assembled.
pub const ASSEMBLY_CHUNK_BYTES: usize = 8 << 20;

/// `indices` cut into consecutive chunks of at most `budget` bytes by `len` (at least one
/// index each).
fn chunks_by_bytes(
    indices: &[usize],
    len: impl Fn(usize) -> usize,
    budget: usize,
) -> Vec<&[usize]> {
    let mut chunks = Vec::new();
    let (mut first, mut bytes) = (0, 0);
    for (k, &i) in indices.iter().enumerate() {
        let l = len(i);
        if k > first && bytes + l > budget {
            chunks.push(&indices[first..k]);
            (first, bytes) = (k, 0);
        }
        bytes += l;
    }
    if first < indices.len() {
        chunks.push(&indices[first..]);
    }
    chunks
}

/// Run `f` in `pool`, or in rayon's global pool without one.
fn in_pool<R: Send>(pool: Option<&rayon::ThreadPool>, f: impl FnOnce() -> R + Send) -> R {
    match pool {
        Some(p) => p.install(f),
        None => f(),
    }
}

#[cfg(test)]
mod tests {
    use super::chunks_by_bytes;

    #[test]
    fn chunks_cover_the_indices_in_order_within_the_budget() {
        let indices: Vec<usize> = (0..50).collect();
        let len = |i: usize| 1 + i % 7;
        let chunks = chunks_by_bytes(&indices, len, 10);
        assert_eq!(chunks.concat(), indices);
        for c in &chunks {
            let bytes: usize = c.iter().map(|&i| len(i)).sum();
            assert!(!c.is_empty() && (bytes <= 10 || c.len() == 1), "{c:?}");
        }
        // A record larger than the budget is a chunk of its own.
        assert_eq!(
            chunks_by_bytes(&[3, 4], |_| 100, 10),
            vec![&[3][..], &[4][..]]
        );
        assert!(chunks_by_bytes(&[], len, 10).is_empty());
    }
}
