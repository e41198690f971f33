//! `validate`, `run`, `merge` and `inspect`: batch configs and HDF5 files.

use super::args::{InspectArgs, MergeArgs, RunArgs, ValidateArgs};
use serde_json::json;
use smmcool::batch::config::Plan;
use smmcool::batch::runner::{parse_shard, run_batch, shard_from_slurm, RunOptions};
use smmcool::error::Error;
use smmcool::results::{RunOutcome, RunStatus};
use smmcool::units::number;
use std::io::Write;
use std::process::ExitCode;

/// Exit code of a batch in which some runs failed (their errors are in the summary).
pub const EXIT_RUNS_FAILED: u8 = 3;

fn describe(plan: &Plan, i: usize) -> String {
    let sw = plan.swept_values(i);
    if sw.is_empty() {
        "(no sweep)".to_string()
    } else {
        sw.iter()
            .map(|(k, v)| format!("{k} = {}", number(*v)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// `smmcool validate CONFIG`.
pub fn validate(args: &ValidateArgs, out: &mut impl Write) -> Result<(), Error> {
    let plan = Plan::load(&args.config)?;
    let n = plan.n_runs();
    if plan.validated_runs < n {
        writeln!(
            out,
            "{}: {n} run(s); {} of them, spread over the index range, checked and valid (each of the others is checked before it runs)",
            args.config.display(),
            plan.validated_runs
        )?;
    } else {
        writeln!(out, "{}: valid, {n} run(s)", args.config.display())?;
    }
    for (k, v) in &plan.axes {
        writeln!(
            out,
            "  sweep {k}: {} value(s) from {} to {}",
            v.len(),
            number(v[0]),
            number(v[v.len() - 1])
        )?;
    }
    if n > plan.config.batch.max_runs {
        writeln!(
            out,
            "  note: more than batch.max_runs = {}: `smmcool run` needs --yes",
            plan.config.batch.max_runs
        )?;
    }
    for i in 0..n.min(args.show) {
        writeln!(out, "  run {i}: {}", describe(&plan, i))?;
    }
    if n > args.show {
        writeln!(out, "  ... ({} more)", n - args.show)?;
    }
    Ok(())
}

/// `smmcool run CONFIG -o OUT`.
pub fn run(args: &RunArgs, out: &mut impl Write) -> Result<ExitCode, Error> {
    let plan = Plan::load(&args.config)?;
    plan.check_size(args.yes)?;
    let shard = match &args.shard {
        Some(s) => parse_shard(s).map_err(|e| Error::Usage(format!("--shard {e}")))?,
        None => shard_from_slurm()
            .map_err(|e| Error::Usage(format!("SLURM environment: {e}")))?
            .unwrap_or((0, 1)),
    };
    if args.threads == Some(0) {
        return Err(Error::Usage(
            "--threads 0 is not allowed: use at least 1".into(),
        ));
    }
    let outcome = run_batch(
        &plan,
        &RunOptions {
            output: args.output.clone(),
            threads: args.threads,
            shard,
            resume: args.resume,
            force: args.force,
            quiet: args.quiet,
        },
    )?;
    writeln!(
        out,
        "{}: {} run(s) of shard {}/{} ({} computed, {} from an earlier invocation), {} failed, {:.2} s",
        args.output.display(),
        outcome.runs,
        shard.0,
        shard.1,
        outcome.computed,
        outcome.resumed,
        outcome.failed,
        outcome.wall_time_s
    )?;
    if outcome.failed > 0 {
        eprintln!(
            "warning: {} run(s) failed; their errors are in the summary (`smmcool inspect {}`)",
            outcome.failed,
            args.output.display()
        );
        return Ok(ExitCode::from(EXIT_RUNS_FAILED));
    }
    Ok(ExitCode::SUCCESS)
}

/// `smmcool merge A B ... -o OUT`.
pub fn merge(args: &MergeArgs, out: &mut impl Write) -> Result<(), Error> {
    let n = smmcool::batch::merge::merge(&args.inputs, &args.output, args.force)?;
    let have = smmcool::io::read_summary(&args.output)?.len();
    writeln!(
        out,
        "{}: merged {} file(s), {have} of {n} run(s){}",
        args.output.display(),
        args.inputs.len(),
        if have < n {
            " (some shards are missing)"
        } else {
            ""
        }
    )?;
    Ok(())
}

fn cell(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |x| format!("{x:.6}"))
}

/// `smmcool inspect FILE`.
pub fn inspect(args: &InspectArgs, out: &mut impl Write) -> Result<(), Error> {
    let meta = smmcool::io::read_meta(&args.file)?;
    let recs = smmcool::io::read_summary(&args.file)?;
    if args.json {
        let rows: Vec<_> = recs
            .iter()
            .map(|r| serde_json::Value::Object(r.summary_json()))
            .collect();
        serde_json::to_writer_pretty(
            &mut *out,
            &json!({
                "smmcool_version": meta.smmcool_version, "git_revision": meta.git_revision,
                "n_runs_total": meta.n_runs_total, "shard": [meta.shard.0, meta.shard.1],
                "sample_times_after_ramp_s": meta.sample_times_after_ramp_s,
                "physics": meta.physics, "runs": rows,
            }),
        )?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "# {}: {} of {} run(s), shard {}/{}, smmcool {} ({}), sample times after the ramp {:?} s",
        args.file.display(),
        recs.len(),
        meta.n_runs_total,
        meta.shard.0,
        meta.shard.1,
        meta.smmcool_version,
        meta.git_revision,
        meta.sample_times_after_ramp_s
    )?;
    let mut header = format!("{:>6}", "run");
    for k in &meta.swept_keys {
        header.push_str(&format!(" {k:>28}"));
    }
    header.push_str(&format!(" {:>15} {:>12}", "outcome", "T_ramp (K)"));
    for s in &meta.sample_times_after_ramp_s {
        header.push_str(&format!(" {:>12}", format!("T@{s}s (K)")));
    }
    header.push_str(&format!(
        " {:>12} {:>12} {:>12} {:>12}",
        "T_end (K)", "T_eq (K)", "sudden (K)", "isentr. (K)"
    ));
    writeln!(out, "{header}")?;
    let stopped = recs
        .iter()
        .filter(|r| r.status == RunStatus::Ok && r.summary.outcome == RunOutcome::EndTime)
        .count();
    for r in &recs {
        let mut line = format!("{:>6}", r.params.index);
        for (_, v) in &r.params.swept {
            // Shortest round-trip form: what was swept, digit for digit.
            line.push_str(&format!(" {v:>28}"));
        }
        // How the run ended: a run that stopped at its end time is not at equilibrium, and
        // its T_end is not T_eq.
        let st = match (r.status, r.summary.outcome) {
            (RunStatus::Failed, _) | (_, RunOutcome::Failed) => "FAILED",
            (RunStatus::Ok, RunOutcome::Equilibrium) => "equilibrium",
            (RunStatus::Ok, RunOutcome::EndTime) => "END TIME",
        };
        line.push_str(&format!(
            " {st:>15} {:>12}",
            cell(r.summary.temperature_after_ramp_k)
        ));
        for t in &r.summary.sample_temperatures_k {
            line.push_str(&format!(" {:>12}", cell(*t)));
        }
        line.push_str(&format!(
            " {:>12} {:>12} {:>12} {:>12}",
            cell(r.summary.end_temperature_k),
            cell(r.summary.equilibrium_temperature_k),
            cell(r.summary.sudden_final_temperature_k),
            cell(r.summary.isentropic_final_temperature_k)
        ));
        if let Some(e) = &r.error {
            line.push_str(&format!("  error: {e}"));
        }
        writeln!(out, "{line}")?;
    }
    if stopped > 0 {
        writeln!(
            out,
            "# {stopped} run(s) stopped at their end time (END TIME) out of equilibrium: T_end there is not T_eq"
        )?;
    }
    Ok(())
}
