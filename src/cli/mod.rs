//! The command line: arguments ([`args`]) and the commands' work and output, one file per
//! group of commands. Every command prints a readable table or, with `--json`, one JSON
//! document with units in every key; every failure is a [`smmcool::error::Error`].

mod analytic;
pub mod args;
mod batch;
mod figures;
mod simulate;

use args::{Cli, Command};
use serde_json::Value;
use smmcool::error::Error;
use std::io::Write;
use std::process::ExitCode;

/// Run the command; the exit code of a success (a batch with failed runs has its own).
pub fn run(cli: Cli) -> Result<ExitCode, smmcool::error::Error> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match cli.command {
        Command::Levels(args) => analytic::levels(&args, &mut out)?,
        Command::Tau(args) => analytic::tau(&args, &mut out)?,
        Command::Limits(args) => analytic::limits(&args, &mut out)?,
        Command::Resonances(args) => analytic::resonances(&args, &mut out)?,
        Command::Simulate(args) => return simulate::simulate(&args, &mut out),
        Command::Validate(args) => batch::validate(&args, &mut out)?,
        Command::Run(args) => return batch::run(&args, &mut out),
        Command::Merge(args) => batch::merge(&args, &mut out)?,
        Command::Inspect(args) => batch::inspect(&args, &mut out)?,
        Command::Paper(args) => figures::paper(&args, &mut out)?,
        Command::Plot(args) => figures::plot(&args, &mut out)?,
        Command::Presets(args) => analytic::presets(args.json, &mut out)?,
        Command::Completions(args) => {
            use clap::CommandFactory;
            clap_complete::generate(args.shell, &mut Cli::command(), "smmcool", &mut out);
        }
        Command::Man => {
            use clap::CommandFactory;
            clap_mangen::Man::new(Cli::command()).render(&mut out)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Print a failure on one line (a parameter named as its flag) and give its exit code: 2 for
/// input the user can fix, 1 for a failed computation, 0 for a closed output pipe.
pub fn report(e: &Error) -> ExitCode {
    use smmcool::error::ErrorKind;
    // The exit code of every failure, decided in one place.
    let code = match e.kind() {
        ErrorKind::OutputClosed => return ExitCode::SUCCESS,
        ErrorKind::InvalidInput => 2,
        ErrorKind::Failed => 1,
    };
    match e.parameter() {
        // Library names are config keys (snake_case with units); on the command line
        // they are flags.
        Some(p) => {
            let flag = if p.name.starts_with("--") || p.name.contains(' ') {
                p.name.clone()
            } else {
                format!("--{}", p.name.replace('_', "-"))
            };
            let value = if p.value.is_nan() {
                String::new()
            } else {
                format!(" = {}", p.value)
            };
            eprintln!("error: {flag}{value} is not allowed: {}", p.allowed);
        }
        None => eprintln!("error: {e}"),
    }
    ExitCode::from(code)
}

pub(crate) fn flat(v: &[Vec<f64>]) -> Vec<f64> {
    v.iter().flatten().copied().collect()
}

pub(crate) fn write_json(out: &mut impl Write, v: &Value) -> Result<(), Error> {
    serde_json::to_writer_pretty(&mut *out, v)?;
    writeln!(out)?;
    Ok(())
}

/// A scenario value the user must fix, spelled with flags.
pub(crate) fn flag_error(e: smmcool::scenario::ScenarioError) -> Error {
    Error::Usage(e.cli_message())
}

pub(crate) fn require_some(what: &str, v: &[f64]) -> Result<(), Error> {
    if v.is_empty() {
        return Err(Error::Usage(format!("{what} needs at least one value")));
    }
    Ok(())
}
