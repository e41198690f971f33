//! The run log of a batch: every finished run appended, as one checksummed line, to a log file
//! of the invocation in `OUT.parts/`, synced to disk at most once a second.
//!
//! A line is `CRC ELAPSED_S INDEX JSON\n`: the run index, the invocation's wall time when the
//! line was written (s), the run's [`RunRecord`] as JSON (which holds no raw newline), and in
//! front the CRC-32 of everything after it (8 hex digits). A line is written with one `write`
//! while the log is locked, so lines never interleave and a run is stored (for a kill or an
//! abort of the process) as soon as its line is written. `fdatasync` runs at most once per
//! [`SYNC_INTERVAL`] and once when the runs end, so an operating-system crash or power loss
//! loses at most the runs of the last second; a torn or corrupted line (no newline, or a
//! checksum that does not match) is not a stored run, and `--resume` computes it again. Each
//! invocation writes its own log, so no invocation appends behind a torn line.

use super::runner::BatchError;
use crate::results::RunRecord;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Longest time between two syncs of a log while runs are being stored.
pub const SYNC_INTERVAL: Duration = Duration::from_secs(1);

const PREFIX: &str = "runs-";
const SUFFIX: &str = ".log";

fn fs_err(path: &Path, e: impl std::fmt::Display) -> BatchError {
    BatchError::Fs {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Where a stored run's JSON is: log file, byte offset and length.
#[derive(Debug, Clone, Copy)]
struct Entry {
    file: usize,
    offset: u64,
    len: usize,
}

/// Where [`LogWriter::append`] put a run's JSON in its log: byte offset and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// Offset of the JSON in the log, bytes.
    pub offset: u64,
    /// Length of the JSON, bytes.
    pub len: usize,
}

/// The record of run `index` whose JSON is at `at` in `file` (opened from `path`).
pub fn read_record(
    file: &File,
    path: &Path,
    at: Location,
    index: usize,
) -> Result<RunRecord, BatchError> {
    let mut bytes = vec![0u8; at.len];
    read_at(file, path, &mut bytes, at.offset).map_err(|err| fs_err(path, err))?;
    parse_record(&bytes, path, index)
}

/// A record from its JSON as stored in the log at `path`.
pub fn parse_record(json: &[u8], path: &Path, index: usize) -> Result<RunRecord, BatchError> {
    serde_json::from_slice(json).map_err(|err| fs_err(path, format!("run {index}: {err}")))
}

/// The runs stored in the logs of a parts folder.
#[derive(Debug, Default)]
pub struct Stored {
    files: Vec<PathBuf>,
    /// By run index (`None`: not stored).
    entries: Vec<Option<Entry>>,
    count: usize,
    /// Sum over the logs of the wall time of their last stored run, s.
    wall_time_s: f64,
}

/// One line's parts, if it is a valid line: (index, elapsed s, offset of the JSON in the line).
fn parse_line(line: &[u8]) -> Option<(usize, f64, usize)> {
    let body = line.get(9..)?;
    if line[8] != b' ' {
        return None;
    }
    let crc = u32::from_str_radix(std::str::from_utf8(&line[..8]).ok()?, 16).ok()?;
    if crc32fast::hash(body) != crc {
        return None;
    }
    let mut fields = body.splitn(3, |&b| b == b' ');
    let elapsed: f64 = std::str::from_utf8(fields.next()?).ok()?.parse().ok()?;
    let index: usize = std::str::from_utf8(fields.next()?).ok()?.parse().ok()?;
    let json = fields.next()?;
    Some((index, elapsed, line.len() - json.len()))
}

impl Stored {
    /// Read every log in `dir` (a missing folder holds none) of a batch of `n_runs` runs.
    /// Lines that are torn, fail their checksum or name no run of the batch are skipped; of a
    /// run stored twice the first line is used (runs are deterministic).
    pub fn scan(dir: &Path, n_runs: usize) -> Result<Self, BatchError> {
        let mut s = Self {
            entries: vec![None; n_runs],
            ..Self::default()
        };
        let Ok(listing) = std::fs::read_dir(dir) else {
            return Ok(s);
        };
        let mut logs: Vec<PathBuf> = listing
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX) && p.is_file())
            })
            .collect();
        logs.sort();
        let mut line = Vec::new();
        for path in logs {
            let file = s.files.len();
            let mut reader = BufReader::new(File::open(&path).map_err(|e| fs_err(&path, e))?);
            let mut offset = 0u64;
            let mut last = 0.0f64;
            loop {
                line.clear();
                let n = reader
                    .read_until(b'\n', &mut line)
                    .map_err(|e| fs_err(&path, e))?;
                if n == 0 {
                    break;
                }
                if line.last() == Some(&b'\n') {
                    line.pop();
                    if let Some((index, elapsed, json)) = parse_line(&line) {
                        if let Some(slot @ None) = s.entries.get_mut(index) {
                            *slot = Some(Entry {
                                file,
                                offset: offset + json as u64,
                                len: line.len() - json,
                            });
                            s.count += 1;
                        }
                        if elapsed.is_finite() && elapsed > last {
                            last = elapsed;
                        }
                    }
                }
                offset += n as u64;
            }
            s.wall_time_s += last;
            s.files.push(path);
        }
        Ok(s)
    }

    /// Whether run `index` is stored.
    pub fn contains(&self, index: usize) -> bool {
        self.entries.get(index).is_some_and(Option::is_some)
    }

    /// Number of stored runs.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether no run is stored.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The wall time of the invocations that wrote the logs, each up to its last stored run, s.
    pub fn wall_time_s(&self) -> f64 {
        self.wall_time_s
    }

    /// The logs opened for [`Stored::record`].
    pub fn open(&self) -> Result<Vec<File>, BatchError> {
        self.files
            .iter()
            .map(|p| File::open(p).map_err(|e| fs_err(p, e)))
            .collect()
    }

    /// Bytes of run `index`'s record (0 when not stored).
    pub fn record_len(&self, index: usize) -> usize {
        self.entries
            .get(index)
            .copied()
            .flatten()
            .map_or(0, |e| e.len)
    }

    /// The stored record of run `index`, read from `files` (from [`Stored::open`]).
    pub fn record(&self, files: &[File], index: usize) -> Result<RunRecord, BatchError> {
        let e = self
            .entries
            .get(index)
            .copied()
            .flatten()
            .ok_or_else(|| BatchError::Fs {
                path: format!("run {index}"),
                message: "not stored".into(),
            })?;
        let at = Location {
            offset: e.offset,
            len: e.len,
        };
        read_record(&files[e.file], &self.files[e.file], at, index)
    }
}

/// Sync a folder, so that the names created in it survive a crash (a no-op where folders
/// cannot be opened).
pub fn sync_dir(dir: &Path) -> Result<(), BatchError> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| fs_err(dir, e))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Fill `buf` from `offset` of `file` (opened from `path`) without moving a shared cursor.
#[cfg(unix)]
fn read_at(file: &File, _path: &Path, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.read_exact_at(buf, offset)
}

/// Fill `buf` from `offset` of `path` (a fresh handle: no cursor is shared between threads).
#[cfg(not(unix))]
fn read_at(_file: &File, path: &Path, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = File::open(path)?;
    f.seek(SeekFrom::Start(offset))?;
    f.read_exact(buf)
}

/// This invocation's log, shared by the batch's threads.
pub struct LogWriter {
    path: PathBuf,
    file: File,
    start: Instant,
    state: Mutex<WriterState>,
}

/// What the writing threads share: the time of the last sync and the log's length.
struct WriterState {
    last_sync: Instant,
    end: u64,
}

impl LogWriter {
    /// Create the log of an invocation that started at `start` in `dir`, named by its start
    /// time and pid (so a later invocation never appends to it), and sync the folder so that
    /// the log's name survives a crash.
    pub fn create(dir: &Path, start: Instant) -> Result<Self, BatchError> {
        let started_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = dir.join(format!(
            "{PREFIX}{started_ns:024}-{}{SUFFIX}",
            std::process::id()
        ));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| fs_err(&path, e))?;
        sync_dir(dir)?;
        Ok(Self {
            path,
            file,
            start,
            state: Mutex::new(WriterState {
                last_sync: Instant::now(),
                end: 0,
            }),
        })
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Store run `index`: one line, written at once; the log is synced when the last sync is
    /// [`SYNC_INTERVAL`] old. Returns the record's JSON as stored and where it is in the log.
    pub fn append(
        &self,
        index: usize,
        record: &RunRecord,
    ) -> Result<(Vec<u8>, Location), BatchError> {
        let json = serde_json::to_vec(record).map_err(|e| fs_err(&self.path, e))?;
        let mut body = Vec::with_capacity(json.len() + 48);
        write!(body, "{} {index} ", self.start.elapsed().as_secs_f64())
            .map_err(|e| fs_err(&self.path, e))?;
        let json_in_body = body.len();
        body.extend_from_slice(&json);
        let mut line = Vec::with_capacity(body.len() + 10);
        write!(line, "{:08x} ", crc32fast::hash(&body)).map_err(|e| fs_err(&self.path, e))?;
        let json_in_line = (line.len() + json_in_body) as u64;
        line.extend_from_slice(&body);
        line.push(b'\n');
        let (sync, at) = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            (&self.file)
                .write_all(&line)
                .map_err(|e| fs_err(&self.path, e))?;
            let at = Location {
                offset: state.end + json_in_line,
                len: json.len(),
            };
            state.end += line.len() as u64;
            let due = state.last_sync.elapsed() >= SYNC_INTERVAL;
            if due {
                state.last_sync = Instant::now();
            }
            (due, at)
        };
        if sync {
            self.sync()?;
        }
        Ok((json, at))
    }

    /// Sync the log's data to disk.
    pub fn sync(&self) -> Result<(), BatchError> {
        self.file.sync_data().map_err(|e| fs_err(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_round_trips_and_any_changed_byte_or_cut_invalidates_it() {
        let body = b"0.25 17 {\"a\":1}";
        let mut line = format!("{:08x} ", crc32fast::hash(body)).into_bytes();
        line.extend_from_slice(body);
        let (index, elapsed, json) = parse_line(&line).unwrap();
        assert_eq!((index, elapsed), (17, 0.25));
        assert_eq!(&line[json..], b"{\"a\":1}");
        for k in 0..line.len() {
            let mut bad = line.clone();
            bad[k] ^= 0x04;
            assert!(parse_line(&bad).is_none(), "byte {k} changed");
            assert!(parse_line(&line[..k]).is_none(), "cut at {k}");
        }
    }
}

#[cfg(test)]
mod float_tests {
    /// A run record travels through the log as JSON text: every f64 must come back with the
    /// same bits, or a resumed or assembled file would differ from the computed values in the
    /// last digit. serde_json's default parser is off by one ulp for some values; the
    /// `float_roundtrip` feature makes it exact. 200,000 values spread over the whole f64
    /// range (fixed-seed xorshift over the bit patterns, plus typical magnitudes).
    #[test]
    fn every_f64_comes_back_from_json_with_the_same_bits() {
        let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut bad = Vec::new();
        for k in 0..200_000u32 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let v = if k % 2 == 0 {
                f64::from_bits(s)
            } else {
                // 1e-6 .. 1e6, the magnitudes of times, fields and temperatures.
                10f64.powf((s >> 11) as f64 / (1u64 << 53) as f64 * 12.0 - 6.0)
            };
            if !v.is_finite() {
                continue;
            }
            let text = serde_json::to_string(&v).unwrap();
            let back: f64 = serde_json::from_str(&text).unwrap();
            if back.to_bits() != v.to_bits() {
                bad.push((v, text));
            }
        }
        assert!(
            bad.is_empty(),
            "{} values changed, e.g. {:?}",
            bad.len(),
            &bad[..bad.len().min(3)]
        );
    }
}
