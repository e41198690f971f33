//! `paper` and `plot`: figures.

use super::args::{PaperArgs, PlotArgs};
use smmcool::error::Error;
use std::io::Write;
use std::path::{Path, PathBuf};

/// `smmcool paper`.
pub fn paper(args: &PaperArgs, out: &mut impl Write) -> Result<(), Error> {
    std::fs::create_dir_all(&args.output)?;
    let mut files = smmcool::figures::paper_analytic(&args.output)?;
    if !args.analytic_only {
        files.extend(smmcool::figures::paper_kinetic(
            &args.output,
            args.resolution,
        )?);
    }
    wrote(out, &files, &args.output)
}

/// `smmcool plot`.
pub fn plot(args: &PlotArgs, out: &mut impl Write) -> Result<(), Error> {
    std::fs::create_dir_all(&args.output)?;
    let files = smmcool::figures::batch_figures(&args.file, &args.output, args.max_runs)?;
    wrote(out, &files, &args.output)
}

fn wrote(out: &mut impl Write, files: &[PathBuf], dir: &Path) -> Result<(), Error> {
    writeln!(out, "wrote {} files to {}", files.len(), dir.display())?;
    Ok(())
}
