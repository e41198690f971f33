//! `paper` and `plot`: figures.

use super::args::{PaperArgs, PlotArgs};
use smmcool::error::Error;
use smmcool::figures::plot::with_column_width;
use std::io::Write;
use std::path::{Path, PathBuf};

/// `smmcool paper`.
pub fn paper(args: &PaperArgs, out: &mut impl Write) -> Result<(), Error> {
    if !(1..=64).contains(&args.resolution) {
        return Err(Error::Usage(format!(
            "--resolution = {} is not allowed: must be in 1..=64 (1 is the published grid)",
            args.resolution
        )));
    }
    let created = output_folder(&args.output)?;
    let width = args.column_width.into();
    let files = keep_on_success(created, &args.output, || {
        with_column_width(width, || -> Result<Vec<PathBuf>, Error> {
            let mut files = smmcool::figures::paper_analytic(&args.output)?;
            if !args.analytic_only {
                files.extend(smmcool::figures::paper_kinetic(
                    &args.output,
                    args.resolution,
                )?);
            }
            Ok(files)
        })
    })?;
    wrote(out, &files, &args.output)
}

/// `smmcool plot`.
pub fn plot(args: &PlotArgs, out: &mut impl Write) -> Result<(), Error> {
    // A file that is not a batch file is refused before the output folder is made.
    smmcool::io::read_meta(&args.file)?;
    let created = output_folder(&args.output)?;
    let files = keep_on_success(created, &args.output, || {
        with_column_width(args.column_width.into(), || {
            Ok(smmcool::figures::batch_figures(
                &args.file,
                &args.output,
                args.max_runs,
                args.magnetization_unit.into(),
            )?)
        })
    })?;
    wrote(out, &files, &args.output)?;
    // Say so when --max-runs left stored trajectories out (on stderr: the figures are written).
    let stored = smmcool::io::trajectory_count(&args.file)?;
    if stored > args.max_runs {
        eprintln!(
            "warning: plotted the first {} of {stored} stored trajectories (--max-runs {}); {} left out, raise --max-runs to plot them",
            args.max_runs,
            args.max_runs,
            stored - args.max_runs
        );
    }
    Ok(())
}

fn wrote(out: &mut impl Write, files: &[PathBuf], dir: &Path) -> Result<(), Error> {
    writeln!(out, "wrote {} files to {}", files.len(), dir.display())?;
    Ok(())
}

/// Run `make`; if it fails and the output folder `dir` was `created` by this command, remove
/// it with what `make` wrote there (a failed command leaves no folder behind).
fn keep_on_success(
    created: bool,
    dir: &Path,
    make: impl FnOnce() -> Result<Vec<PathBuf>, Error>,
) -> Result<Vec<PathBuf>, Error> {
    let result = make();
    if result.is_err() && created {
        let _ = std::fs::remove_dir_all(dir);
    }
    result
}

/// Create the output folder `dir` (and its parents), or say which path is in the way and why;
/// whether the folder was created now.
fn output_folder(dir: &Path) -> Result<bool, Error> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::Usage(format!(
            "-o {}: exists and is not a folder",
            dir.display()
        )));
    }
    let created = !dir.exists();
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::Usage(format!(
            "-o {}: cannot create the output folder: {e}",
            dir.display()
        ))
    })?;
    Ok(created)
}
