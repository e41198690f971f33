//! The commands' work and their output: a readable table, or one JSON document with units in
//! every key.

use crate::cli::{LevelsArgs, LimitsArgs, SimulateArgs, TauArgs};
use serde_json::{json, Value};
use smmcool::error::Error;
use smmcool::limits::{minimum_delta_t, FieldChange, Limit};
use smmcool::model::PRESETS;
use smmcool::results::RunRecord;
use std::io::Write;

fn flat(v: &[Vec<f64>]) -> Vec<f64> {
    v.iter().flatten().copied().collect()
}

fn write_json(out: &mut impl Write, v: &Value) -> Result<(), Error> {
    serde_json::to_writer_pretty(&mut *out, v)?;
    writeln!(out)?;
    Ok(())
}

/// A scenario value the user must fix, spelled with flags.
fn flag_error(e: smmcool::scenario::ScenarioError) -> Error {
    Error::Usage(e.cli_message())
}

fn require_some(what: &str, v: &[f64]) -> Result<(), Error> {
    if v.is_empty() {
        return Err(Error::Usage(format!("{what} needs at least one value")));
    }
    Ok(())
}

/// `smmcool levels`.
pub fn levels(args: &LevelsArgs, out: &mut impl Write) -> Result<(), Error> {
    let fields = flat(&args.field_t);
    require_some("--field-t", &fields)?;
    let mat = args.material.build().map_err(flag_error)?;
    let spin = mat.spin;
    let n = spin.n_levels();
    let rows: Vec<(f64, Vec<f64>)> = fields
        .iter()
        .map(|&b| {
            let e = spin.energies(b);
            let g = e.iter().copied().fold(f64::INFINITY, f64::min);
            (b, e.iter().map(|x| x - g).collect())
        })
        .collect();
    if args.json {
        let records: Vec<Value> = rows
            .iter()
            .map(|(b, rel)| {
                json!({
                    "field_t": b,
                    "m": (0..n).map(|i| spin.m(i)).collect::<Vec<_>>(),
                    "energy_k": spin.energies(*b),
                    "energy_above_ground_k": rel,
                })
            })
            .collect();
        return write_json(
            out,
            &json!({"material": mat.name, "reference": "energy_above_ground_k is E_M - E_ground (the paper's Fig. 2)", "levels": records}),
        );
    }
    writeln!(
        out,
        "# {}: E_M(B) - E_ground in K (rows M, columns B in T)",
        mat.name
    )?;
    write!(out, "{:>6}", "M")?;
    for (b, _) in &rows {
        write!(out, " {:>10}", format!("{b:.4} T"))?;
    }
    writeln!(out)?;
    for i in 0..n {
        write!(out, "{:>6}", spin.m(i))?;
        for (_, rel) in &rows {
            write!(out, " {:>10.4}", rel[i])?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// `smmcool tau`.
pub fn tau(args: &TauArgs, out: &mut impl Write) -> Result<(), Error> {
    let temps = flat(&args.temperature_k);
    require_some("--temperature-k", &temps)?;
    smmcool::error::require_positive("--tau-threshold-s", args.tau_threshold_s)?;
    let mat = args.material.build().map_err(flag_error)?;
    let model = args.rates.build(&mat).map_err(flag_error)?;
    let t_max = mat.arrhenius.temperature_for_tau_k(args.tau_threshold_s);
    let mut rows = Vec::new();
    for &t in &temps {
        rows.push((
            t,
            mat.arrhenius.tau_s(t),
            model.tau_model_s(t)?,
            model.kappa(t)?,
        ));
    }
    if args.json {
        let recs: Vec<Value> = rows
            .iter()
            .map(|(t, ta, tm, k)| {
                json!({"temperature_k": t, "tau_arrhenius_s": ta, "tau_model_s": tm, "kappa_per_s_k3": k})
            })
            .collect();
        return write_json(
            out,
            &json!({
                "material": mat.name,
                "tau0_s": mat.arrhenius.tau0_s,
                "barrier_k": mat.arrhenius.barrier_k,
                "kappa_scaling": args.rates.kappa_scaling,
                "tau_threshold_s": args.tau_threshold_s,
                "temperature_at_tau_threshold_k": t_max,
                "records": recs,
            }),
        );
    }
    writeln!(
        out,
        "# {}: tau0 = {:e} s, U_b = {} K, kappa scaling {:?}",
        mat.name,
        mat.arrhenius.tau0_s,
        mat.arrhenius.barrier_k,
        model.scaling()
    )?;
    writeln!(
        out,
        "{:>10} {:>16} {:>16} {:>16}",
        "T (K)", "tau_Arrh (s)", "tau_model (s)", "kappa (1/s/K^3)"
    )?;
    for (t, ta, tm, k) in rows {
        writeln!(out, "{t:>10.4} {ta:>16.6e} {tm:>16.6e} {k:>16.6e}")?;
    }
    match t_max {
        Some(t) => writeln!(
            out,
            "T_max where tau = {} s (sudden quench valid below): {t:.4} K",
            args.tau_threshold_s
        )?,
        None => writeln!(
            out,
            "no temperature gives tau = {} s (it is below tau0)",
            args.tau_threshold_s
        )?,
    }
    Ok(())
}

/// `smmcool limits`.
pub fn limits(args: &LimitsArgs, out: &mut impl Write) -> Result<(), Error> {
    let mat = args.material.build().map_err(flag_error)?;
    let b_finals = flat(&args.b_final_t);
    require_some("--b-final-t", &b_finals)?;
    if args.minimum {
        let range = args.search_range()?;
        let mut recs = Vec::new();
        for &bf in &b_finals {
            let s = minimum_delta_t(
                &mat.spin,
                &mat.debye,
                args.b_initial_t,
                bf,
                Limit::Sudden,
                range,
            )?;
            let q = minimum_delta_t(
                &mat.spin,
                &mat.debye,
                args.b_initial_t,
                bf,
                Limit::Isentropic,
                range,
            )?;
            recs.push((bf, s, q));
        }
        if args.json {
            let v: Vec<Value> = recs
                .iter()
                .map(|(bf, s, q)| {
                    json!({
                        "b_initial_t": args.b_initial_t,
                        "b_final_t": bf,
                        "sudden_delta_temperature_min_k": s.map(|x| x.1),
                        "sudden_initial_temperature_at_min_k": s.map(|x| x.0),
                        "isentropic_delta_temperature_min_k": q.map(|x| x.1),
                        "isentropic_initial_temperature_at_min_k": q.map(|x| x.0),
                    })
                })
                .collect();
            return write_json(
                out,
                &json!({"material": mat.name, "search_range_k": [range.0, range.1], "minima": v}),
            );
        }
        writeln!(
            out,
            "# {}: Bi = {} T; minimum of Delta T = Tf - Ti over Ti in [{}, {}] K",
            mat.name, args.b_initial_t, range.0, range.1
        )?;
        writeln!(
            out,
            "{:>8} {:>16} {:>16} {:>18} {:>18}",
            "Bf (T)", "sudden dTmin(K)", "at Ti (K)", "isentr. dTmin(K)", "at Ti (K)"
        )?;
        let cell = |x: Option<f64>| x.map_or("none".to_string(), |v| format!("{v:.6}"));
        for (bf, s, q) in recs {
            writeln!(
                out,
                "{bf:>8} {:>16} {:>16} {:>18} {:>18}",
                cell(s.map(|x| x.1)),
                cell(s.map(|x| x.0)),
                cell(q.map(|x| x.1)),
                cell(q.map(|x| x.0))
            )?;
        }
        return Ok(());
    }
    let tis = flat(&args.initial_temperature_k);
    require_some("--initial-temperature-k", &tis)?;
    let mut recs = Vec::new();
    for &bf in &b_finals {
        for &ti in &tis {
            let fc = FieldChange {
                spin: &mat.spin,
                debye: &mat.debye,
                b_initial_t: args.b_initial_t,
                b_final_t: bf,
                t_initial_k: ti,
            };
            let sudden = fc.sudden_final_k()?;
            let isen = fc.isentropic_final()?;
            recs.push((bf, ti, sudden, isen.t_final_k(), isen.note(bf)));
        }
    }
    if args.json {
        let v: Vec<Value> = recs
            .iter()
            .map(|(bf, ti, s, q, note)| {
                let mut r = json!({
                    "b_initial_t": args.b_initial_t,
                    "b_final_t": bf,
                    "initial_temperature_k": ti,
                    "sudden_final_temperature_k": s,
                    "sudden_delta_temperature_k": s - ti,
                    "isentropic_final_temperature_k": q,
                    "isentropic_delta_temperature_k": q.map(|q| q - ti),
                });
                if let Some(n) = note {
                    r["note"] = json!(n);
                }
                r
            })
            .collect();
        return write_json(out, &json!({"material": mat.name, "records": v}));
    }
    writeln!(
        out,
        "# {}: Bi = {} T; sudden quench (Eq. 9) and isentropic process (Eq. 11)",
        mat.name, args.b_initial_t
    )?;
    writeln!(
        out,
        "{:>8} {:>10} {:>14} {:>14} {:>16} {:>16}",
        "Bf (T)", "Ti (K)", "Tf sudden (K)", "dT sudden (K)", "Tf isentr. (K)", "dT isentr. (K)"
    )?;
    let mut notes = Vec::new();
    for (bf, ti, s, q, note) in recs {
        let (qa, qb) = match q {
            Some(q) => (format!("{q:.6}"), format!("{:.6}", q - ti)),
            None => ("no solution*".to_string(), "-".to_string()),
        };
        writeln!(
            out,
            "{bf:>8} {ti:>10.4} {s:>14.6} {:>14.6} {qa:>16} {qb:>16}",
            s - ti
        )?;
        if let Some(n) = note {
            notes.push(format!("Ti = {ti} K: {n}"));
        }
    }
    for n in notes {
        writeln!(out, "* {n}")?;
    }
    Ok(())
}

/// `smmcool presets`.
pub fn presets(json_out: bool, out: &mut impl Write) -> Result<(), Error> {
    if json_out {
        let v: Vec<Value> = PRESETS
            .iter()
            .map(|p| {
                json!({"name": p.key, "spin": p.spin, "d_cm1": p.d_cm1, "g_par": p.g_par,
                "debye_temperature_k": p.debye_temperature_k, "tau0_s": p.tau0_s,
                "barrier_k": p.barrier_k, "source": p.source})
            })
            .collect();
        return write_json(out, &json!({"presets": v}));
    }
    for p in PRESETS {
        writeln!(
            out,
            "{:<22} S = {}, D = {} cm^-1, g_par = {}, theta_D = {} K, tau0 = {:e} s, U_b = {} K\n{:<22} source: {}",
            p.key, p.spin, p.d_cm1, p.g_par, p.debye_temperature_k, p.tau0_s, p.barrier_k, "", p.source
        )?;
    }
    Ok(())
}

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
    let (run, protocol, mat) = (&built.spec, built.spec.protocol, &built.spec.material);
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
    if args.json {
        let record = RunRecord::from_result(
            built.params.clone(),
            Ok(tr.clone()),
            samples,
            args.trajectory,
            wall,
            (None, None),
        );
        // The summary quantities of the one table (as in batch files), then what only a lone
        // run reports.
        let mut v = record.summary_json();
        v.remove("run_index");
        v.remove("swept");
        v.remove("error");
        v.insert("material".into(), json!(mat.name));
        v.insert("scenario".into(), serde_json::to_value(args.scenario())?);
        v.insert("sample_times_after_ramp_s".into(), json!(samples));
        let extra = json!({
            "end_delta_temperature_k": tr.t_final_k - ti,
            "sudden_delta_temperature_k": dt_sudden,
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
            "samples": sample_rows.iter().map(|(s, t)| json!({"time_after_ramp_s": s, "phonon_temperature_k": t})).collect::<Vec<_>>(),
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
    let how = if tr.ramp_duration_s > 0.0 {
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
        mat.name, p.b_initial_t, p.b_final_t, p.initial_temperature_k
    )?;
    writeln!(
        out,
        "{:<44} {:.6} K",
        "T right after the ramp", tr.t_after_ramp_k
    )?;
    for (s, t) in &sample_rows {
        writeln!(
            out,
            "{:<44} {t:.6} K  (Delta T {:+.6} K, {:.1} % of the sudden prediction)",
            format!("T {} after the ramp", fmt_time(Some(*s))),
            t - p.initial_temperature_k,
            100.0 * (t - p.initial_temperature_k) / dt_sudden
        )?;
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
        "checks: energy balance {:.2e} (relative), sum n - 1 {:.1e}, two-well reduction error ~{:.1e}",
        tr.energy_balance_error, tr.population_sum_error, tr.reduction_error_estimate
    )?;
    writeln!(
        out,
        "solver: {} steps ({} full, {} reduced ramp), {} rejected, {} rhs evaluations, {} quadrature evaluations, {} table nodes, {:.3} s wall",
        tr.stats.steps, tr.steps_full, tr.steps_reduced, tr.stats.rejected, tr.stats.rhs_evals, tr.quadrature_evals, tr.table_nodes, wall
    )?;
    Ok(std::process::ExitCode::SUCCESS)
}
