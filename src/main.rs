//! The `smmcool` command: argument parsing and output only; the physics is in the library.

mod batch_commands;
mod cli;
mod output;

use clap::Parser;
use cli::{Cli, Command};
use std::process::ExitCode;

/// An error the user can fix (bad flag value, bad file): exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UserError(pub String);

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            // One line: clap's message without its usage hints.
            let text = e.to_string();
            let line: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|l| {
                    !l.is_empty()
                        && !l.starts_with("Usage:")
                        && !l.starts_with("For more information")
                })
                .collect();
            eprintln!("{}", line.join(" "));
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            // A closed pipe (`smmcool ... | head`) is not a failure.
            let pipe = std::io::ErrorKind::BrokenPipe;
            if e.downcast_ref::<std::io::Error>().map(|io| io.kind()) == Some(pipe)
                || e.downcast_ref::<serde_json::Error>()
                    .and_then(|j| j.io_error_kind())
                    == Some(pipe)
            {
                return ExitCode::SUCCESS;
            }
            let param = e
                .downcast_ref::<smmcool::error::ParameterError>()
                .or(match e.downcast_ref::<smmcool::error::NumericsError>() {
                    Some(smmcool::error::NumericsError::Parameter(p)) => Some(p),
                    _ => None,
                })
                .or(match e.downcast_ref::<smmcool::kinetics::EngineError>() {
                    Some(smmcool::kinetics::EngineError::Parameter(p))
                    | Some(smmcool::kinetics::EngineError::Numerics(
                        smmcool::error::NumericsError::Parameter(p),
                    )) => Some(p),
                    _ => None,
                });
            if let Some(p) = param {
                // Library names are config keys (snake_case with units); on the command line
                // they are flags.
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
                return ExitCode::from(2);
            }
            let user = e.downcast_ref::<UserError>().is_some()
                || e.downcast_ref::<smmcool::config::ConfigError>().is_some()
                || matches!(
                    e.downcast_ref::<smmcool::batch::runner::BatchError>(),
                    Some(smmcool::batch::runner::BatchError::Config(_))
                        | Some(smmcool::batch::runner::BatchError::Usage(_))
                )
                || e.downcast_ref::<smmcool::io::IoError>().is_some()
                || matches!(
                    e.downcast_ref::<smmcool::figures::FigureError>(),
                    Some(smmcool::figures::FigureError::Io(_))
                        | Some(smmcool::figures::FigureError::Plot(
                            smmcool::plot::PlotError::Font(_)
                        ))
                )
                || matches!(
                    e.downcast_ref::<smmcool::error::NumericsError>(),
                    Some(smmcool::error::NumericsError::RateUnderflow { .. })
                )
                || matches!(
                    e.downcast_ref::<smmcool::kinetics::EngineError>(),
                    Some(smmcool::kinetics::EngineError::Parameter(_))
                        | Some(smmcool::kinetics::EngineError::Numerics(
                            smmcool::error::NumericsError::RateUnderflow { .. }
                                | smmcool::error::NumericsError::Parameter(_)
                        ))
                );
            eprintln!("error: {e:#}");
            ExitCode::from(if user { 2 } else { 1 })
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match cli.command {
        Command::Levels(args) => output::levels(&args, &mut out)?,
        Command::Tau(args) => output::tau(&args, &mut out)?,
        Command::Limits(args) => output::limits(&args, &mut out)?,
        Command::Simulate(args) => return output::simulate(&args, &mut out),
        Command::Validate(args) => batch_commands::validate(&args, &mut out)?,
        Command::Run(args) => return batch_commands::run(&args, &mut out),
        Command::Merge(args) => batch_commands::merge(&args, &mut out)?,
        Command::Inspect(args) => batch_commands::inspect(&args, &mut out)?,
        Command::Paper(args) => {
            std::fs::create_dir_all(&args.output)?;
            let mut files = smmcool::figures::paper_analytic(&args.output)?;
            if !args.analytic_only {
                files.extend(smmcool::figures::paper_kinetic(
                    &args.output,
                    args.resolution,
                )?);
            }
            use std::io::Write;
            writeln!(
                out,
                "wrote {} files to {}",
                files.len(),
                args.output.display()
            )?;
        }
        Command::Plot(args) => {
            std::fs::create_dir_all(&args.output)?;
            let files = smmcool::figures::batch_figures(&args.file, &args.output, args.max_runs)?;
            use std::io::Write;
            writeln!(
                out,
                "wrote {} files to {}",
                files.len(),
                args.output.display()
            )?;
        }
        Command::Presets(args) => output::presets(args.json, &mut out)?,
    }
    Ok(ExitCode::SUCCESS)
}
