//! Joining shard files into one.

use super::runner::BatchError;
use crate::io::{read_meta, read_summary, read_trajectory, write_batch};
use crate::results::{BatchMeta, RunRecord};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Merge batch files of the same config into `output` (refusing duplicates and mismatched
/// configs), creating its missing parent folders as `run` does. The result is identical in
/// its runs and summary to an unsharded run.
pub fn merge(inputs: &[PathBuf], output: &Path, force: bool) -> Result<usize, BatchError> {
    if inputs.is_empty() {
        return Err(BatchError::Usage(
            "merge needs at least one input file".into(),
        ));
    }
    if output.is_dir() {
        return Err(BatchError::Usage(format!(
            "-o {}: is a folder; give the name of the HDF5 file to write",
            output.display()
        )));
    }
    if output.exists() && !force {
        return Err(BatchError::Usage(format!(
            "{}: output exists; use --force to overwrite",
            output.display()
        )));
    }
    let mut first: Option<(PathBuf, BatchMeta)> = None;
    let mut owner: BTreeMap<usize, (usize, RunRecord)> = BTreeMap::new();
    let mut wall = 0.0;
    for (k, path) in inputs.iter().enumerate() {
        let m = read_meta(path)?;
        if let Some((p0, m0)) = &first {
            if m.config_toml != m0.config_toml || m.n_runs_total != m0.n_runs_total {
                return Err(BatchError::Usage(format!(
                    "{} and {} were written from different configs: refusing to merge",
                    p0.display(),
                    path.display()
                )));
            }
        } else {
            first = Some((path.clone(), m.clone()));
        }
        wall += m.wall_time_s;
        for rec in read_summary(path)? {
            let i = rec.params.index;
            if let Some((other, _)) = owner.get(&i) {
                return Err(BatchError::Usage(format!(
                    "run {i} is in both {} and {}: refusing to merge duplicates",
                    inputs[*other].display(),
                    path.display()
                )));
            }
            owner.insert(i, (k, rec));
        }
    }
    let (_, mut meta) = first.expect("at least one input");
    meta.shard = (0, 1);
    meta.wall_time_s = wall;
    let mut read_error = None;
    let records = owner.into_values().map_while(|(k, mut rec)| {
        match read_trajectory(&inputs[k], rec.params.index) {
            Ok(t) => {
                rec.trajectory = t;
                Some(rec)
            }
            Err(e) => {
                read_error = Some(e);
                None
            }
        }
    });
    let tmp = {
        let mut s = output.as_os_str().to_owned();
        s.push(".tmp");
        PathBuf::from(s)
    };
    let n = meta.n_runs_total;
    // Missing parent folders are created, as `run` does (once the inputs are known to merge).
    super::runner::output_parent(output)?;
    write_batch(&tmp, &meta, records)?;
    if let Some(e) = read_error {
        let _ = std::fs::remove_file(&tmp);
        return Err(e.into());
    }
    std::fs::rename(&tmp, output).map_err(|e| BatchError::Fs {
        path: output.display().to_string(),
        message: e.to_string(),
    })?;
    Ok(n)
}
