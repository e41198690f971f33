//! The `smmcool` command: argument parsing and output only; the physics is in the library.

mod batch_commands;
mod cli;
mod output;

use clap::Parser;
use cli::{Cli, Command};
use std::process::ExitCode;

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
    }
}

fn run(cli: Cli) -> Result<ExitCode, smmcool::error::Error> {
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
