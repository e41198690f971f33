//! `paper` and `plot`: figures.

use super::args::{PaperArgs, PlotArgs};
use smmcool::error::Error;
use std::io::Write;

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
    writeln!(
        out,
        "wrote {} files to {}",
        files.len(),
        args.output.display()
    )?;
    Ok(())
}

/// `smmcool plot`.
pub fn plot(args: &PlotArgs, out: &mut impl Write) -> Result<(), Error> {
    std::fs::create_dir_all(&args.output)?;
    let files = smmcool::figures::batch_figures(&args.file, &args.output, args.max_runs)?;
    writeln!(
        out,
        "wrote {} files to {}",
        files.len(),
        args.output.display()
    )?;
    Ok(())
}
