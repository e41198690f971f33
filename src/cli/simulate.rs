//! `simulate`: one run in the time domain, as a table or one JSON document.

use super::args::SimulateArgs;
use super::{flag_error, write_json};
use serde_json::{json, Value};
use smmcool::error::Error;
use smmcool::kinetics::RampFormulation;
use smmcool::results::RunRecord;
use std::io::Write;

fn fmt_time(s: Option<f64>) -> String {
    match s {
        None => "not reached".to_string(),
        Some(s) if s < 1e-3 => format!("{s:.3e} s"),
        Some(s) if s < 3600.0 => format!("{s:.4} s"),
        Some(s) if s < 3.156e7 * 1e3 => format!("{s:.4e} s ({:.3} h)", s / 3600.0),
        Some(s) => format!("{s:.4e} s ({:.3e} years)", s / 3.156e7),
    }
}

/// `smmcool simulate`. Returns the exit code (0, or 1 if the integration failed).
pub fn simulate(
    args: &SimulateArgs,
    out: &mut impl Write,
) -> Result<std::process::ExitCode, Error> {
    use smmcool::kinetics::{simulate, Outcome};
    let built = args.scenario().build().map_err(flag_error)?;
    let (run, protocol, mat) = (&built.spec, &built.spec.protocol, &built.spec.material);
    let samples = &run.options.sample_times_after_ramp_s;
    let p = &args.protocol;
    let start = std::time::Instant::now();
    let ctx = smmcool::kinetics::EngineContext::new();
    let tr = simulate(&ctx, run)?;
    let wall = start.elapsed().as_secs_f64();
    let ti = p.initial_temperature_k;
    let sample_rows: Vec<(f64, f64)> = samples
        .iter()
        .filter_map(|&s| tr.sample_after_ramp(s).map(|x| (s, x.t_phonon_k)))
        .collect();
    let dt_sudden = tr.t_final_sudden_k - ti;
    // The reference of the sampled temperatures: the kinetic equilibrium of this protocol
    // (the energy left after the ramp shared out at equilibrium), not the sudden limit, which
    // a finite ramp need not reach.
    let dt_eq = tr.t_equilibrium_k - ti;
    let fraction = |t: f64| (t - ti) / dt_eq;
    if args.json {
        let record = RunRecord::from_result(
            built.params.clone(),
            Ok(tr.clone()),
            samples,
            args.trajectory,
            wall,
            (None, None),
        );
        // The summary of a lone run (as the Python `Run` has it), then what only the command
        // line reports.
        let mut v = args.scenario().lone_run_summary(run, &record)?;
        // A waveform's (or a segmented protocol's) corners, as /waveforms/run_NNNNNN stores
        // them: times since the first point, and the field at each.
        if !built.params.waveform_time_s.is_empty() {
            v.insert(
                "waveform_time_s".into(),
                json!(built.params.waveform_time_s),
            );
            v.insert(
                "waveform_field_t".into(),
                json!(built.params.waveform_field_t),
            );
        }
        let extra = json!({
            "end_delta_temperature_k": tr.t_final_k - ti,
            "sudden_delta_temperature_k": dt_sudden,
            "equilibrium_delta_temperature_k": dt_eq,
            "energy_balance_error_k": tr.energy_balance_abs_k,
            "population_sum_error_abs": tr.population_sum_error,
            "handover": tr.handover.as_ref().map(|h| json!({
                "time_s": h.t_s,
                "full_temperature_k": h.t_full_k,
                "reduced_temperature_k": h.t_reduced_k,
            })),
            "steps_full": tr.steps_full,
            "steps_reduced": tr.steps_reduced,
            "rejected_steps": tr.stats.rejected,
            "rhs_evals": tr.stats.rhs_evals,
            "quadrature_evals": tr.quadrature_evals,
            "table_nodes": tr.table_nodes,
            "samples": sample_rows.iter().map(|(s, t)| json!({
                "time_after_ramp_s": s,
                "phonon_temperature_k": t,
                "delta_temperature_k": t - ti,
                "fraction_of_equilibrium_delta_temperature_rel": fraction(*t),
            })).collect::<Vec<_>>(),
        });
        if let Value::Object(extra) = extra {
            v.extend(extra);
        }
        if let Some(tr) = &record.trajectory {
            v.insert("trajectory".into(), Value::Object(tr.to_json()));
        }
        write_json(out, &Value::Object(v))?;
        return Ok(std::process::ExitCode::SUCCESS);
    }
    let how = if let Some(w) = protocol.waveform() {
        format!(
            "piecewise-linear waveform of {} points ({}) over {:.4e} s",
            w.len(),
            w.source(),
            tr.ramp_duration_s
        )
    } else if tr.ramp_duration_s > 0.0 {
        format!(
            "{:?} ramp at {} T/s ({:.4e} s)",
            protocol.shape(),
            protocol.mean_rate_t_per_s(),
            tr.ramp_duration_s
        )
    } else {
        "instantaneous jump".to_string()
    };
    writeln!(
        out,
        "# {}: Bi = {} T -> Bf = {} T, {how}, Ti = {} K",
        mat.name,
        protocol.b_initial_t(),
        protocol.b_final_t(),
        p.initial_temperature_k
    )?;
    writeln!(
        out,
        "{:<44} {:.6} K",
        "T right after the ramp", tr.t_after_ramp_k
    )?;
    for (s, t) in &sample_rows {
        let label = format!("T {} after the ramp", fmt_time(Some(*s)));
        let dt = t - p.initial_temperature_k;
        if fraction(*t).is_finite() {
            writeln!(
                out,
                "{label:<44} {t:.6} K  (Delta T {dt:+.6} K, {:.1} % of the equilibrium Delta T {dt_eq:+.6} K)",
                100.0 * fraction(*t),
            )?;
        } else {
            // An equilibrium Delta T of zero (e.g. a cycle that ends where it started): no
            // fraction to report.
            writeln!(
                out,
                "{label:<44} {t:.6} K  (Delta T {dt:+.6} K; the equilibrium Delta T is {dt_eq:+.6} K)"
            )?;
        }
    }
    match tr.outcome {
        Outcome::Equilibrium => writeln!(
            out,
            "{:<44} {:.6} K, reached {} after the ramp",
            "T at equilibrium",
            tr.t_final_k,
            fmt_time(tr.equilibrium_after_ramp_s)
        )?,
        Outcome::EndTime => writeln!(
            out,
            "equilibrium NOT reached within {} after the ramp: T there is {:.6} K; the equilibrium for this energy, {:.6} K, lies further out",
            fmt_time(Some(tr.t_end_after_ramp_s)),
            tr.t_final_k,
            tr.t_equilibrium_k
        )?,
    }
    if let Some(link) = &run.link {
        writeln!(
            out,
            "heat link: K = {:.4e} (T / 1 K)^{} per second per molecule, bath at {} K; lowest T after the ramp {:.6} K, {} after it; heat to the bath {:.6e} K per molecule",
            link.k1_per_s(),
            link.exponent(),
            link.bath_k(),
            tr.minimum_temperature_k,
            fmt_time(Some(tr.minimum_after_ramp_s)),
            tr.heat_to_bath_k
        )?;
    }
    // A segmented protocol: one line per cycle (times since the start of the run).
    for c in &tr.cycles {
        writeln!(
            out,
            "cycle {}: lowest T {:.6} K at {} since the start, T at its end ({}) {:.6} K; work {:.6e} K, heat to the bath {:.6e} K per molecule",
            c.cycle + 1,
            c.minimum_temperature_k,
            fmt_time(Some(c.minimum_s)),
            fmt_time(Some(c.end_s)),
            c.end_temperature_k,
            c.work_k,
            c.heat_to_bath_k
        )?;
    }
    writeln!(
        out,
        "relaxation: 10 % of Delta T left after {}, 1 % after {}",
        fmt_time(tr.relax_10pct_s),
        fmt_time(tr.relax_1pct_s)
    )?;
    writeln!(
        out,
        "limits: sudden (Eq. 9) {:.6} K (Delta T {:+.6} K); isentropic (Eq. 11) {}",
        tr.t_final_sudden_k,
        dt_sudden,
        tr.t_final_isentropic_k
            .map_or("no finite solution".to_string(), |t| format!(
                "{t:.6} K (Delta T {:+.6} K)",
                t - p.initial_temperature_k
            ))
    )?;
    writeln!(
        out,
        "checks: energy balance {:.2e} (relative), sum n - 1 {:.1e}, two-well reduction error ~{:.1e} (ramp: {})",
        tr.energy_balance_error,
        tr.population_sum_error,
        tr.reduction_error_estimate,
        match tr.ramp_formulation {
            RampFormulation::Jump => "a jump",
            RampFormulation::Full => "full master equation",
            RampFormulation::Reduced => "two-well reduction",
            RampFormulation::SwitchedToFull =>
                "full master equation, switched from the reduction above solver.reduction_tol_rel",
        }
    )?;
    writeln!(
        out,
        "solver: {} steps ({} full, {} reduced), {} rejected, {} rhs evaluations, {} quadrature evaluations, {} table nodes, {:.3} s wall",
        tr.stats.steps, tr.steps_full, tr.steps_reduced, tr.stats.rejected, tr.stats.rhs_evals, tr.quadrature_evals, tr.table_nodes, wall
    )?;
    Ok(std::process::ExitCode::SUCCESS)
}
