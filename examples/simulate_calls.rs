//! The Rust side of scripts/python_overhead.py (issue 15: `simulate` from Python costs at most
//! 10 % more than the same run in Rust): the run `smmcool.simulate(b_initial_t=0.5,
//! b_final_t=0.1, initial_temperature_k=4, sweep_rate_t_per_s=10)` makes, made from Rust the
//! way the Python binding makes it (python/src/lib.rs `simulate`): the scenario read from its
//! keys (here a TOML text, through `Plan::from_text` as for a config), validated and built, a
//! fresh `EngineContext` (the same cold tables as a fresh `smmcool.Engine`), the engine, the
//! run's record with its trajectory columns and the summary object the binding keeps for its
//! `Run` (until session 37 also written as JSON text: the binding then made every value a
//! Python object on each call), all of it freed again inside the timed region, as the Python
//! side frees its Run. `count` calls in one
//! process, each timed alone; prints each call's wall time in seconds, one per line. With
//! `serve`, it reads counts from standard input, one per line, and answers each with that many
//! calls' times on one line: scripts/python_overhead.py interleaves its rounds with Python's
//! calls through one such process, as starting a process per round (fork and exec from the
//! Python process) slows the Python calls that follow it. `serve-warm` does the same with one
//! context for all its calls, as the Python module's shared Engine (warm tables).
//!
//!   cargo build --release --example simulate_calls
//!   target/release/examples/simulate_calls 41
//!   target/release/examples/simulate_calls serve
//!   target/release/examples/simulate_calls serve-warm

use smmcool::{EngineContext, Plan, RunRecord};
use std::hint::black_box;
use std::time::Instant;

const RUN: &str = "[protocol]\nb_initial_t = 0.5\nb_final_t = 0.1\n\
                   initial_temperature_k = 4.0\nsweep_rate_t_per_s = 10.0\n";

/// One call, timed: its wall time in seconds.
fn call(shared: Option<&EngineContext>) -> f64 {
    let start = Instant::now();
    // Everything the call makes is made and freed inside the timed region (the context, the
    // record, the summary), as the Python side's timed call makes a fresh Engine and frees
    // the Run it returns.
    {
        let plan = Plan::from_text(std::path::Path::new("<scenario>"), RUN.to_string())
            .expect("a valid scenario");
        let scenario = plan.scenario(0);
        let built = scenario.build().expect("a valid scenario");
        let fresh;
        let ctx = match shared {
            Some(ctx) => ctx,
            None => {
                fresh = EngineContext::new();
                &fresh
            }
        };
        let engine_start = Instant::now();
        let tr = smmcool::simulate(ctx, &built.spec).expect("a finished run");
        let wall = engine_start.elapsed().as_secs_f64();
        let record = RunRecord::from_result(
            built.params.clone(),
            Ok(tr),
            &built.spec.options.sample_times_after_ramp_s,
            scenario.output.trajectory,
            wall,
            (None, None),
        );
        // The summary as the binding keeps it for its Run (python/src/lib.rs `simulate`): the
        // command line's JSON object, before any of it is read (no JSON text is written).
        let summary = scenario
            .lone_run_summary(&built.spec, &record)
            .expect("serializable");
        // What the Python side's timed call reads: one summary value, one trajectory column.
        black_box((
            summary.get("temperature_after_ramp_k"),
            record.trajectory.as_ref().map(|c| &c.phonon_temperature_k),
            &summary,
            &record,
        ));
    }
    start.elapsed().as_secs_f64()
}

fn main() {
    use std::io::{BufRead, Write};
    let mode = std::env::args().nth(1);
    // `serve-warm`: one context for the whole process, as the Python module's shared Engine.
    let shared = (mode.as_deref() == Some("serve-warm")).then(EngineContext::new);
    let ctx = shared.as_ref();
    match mode.as_deref() {
        Some("serve" | "serve-warm") => {
            let mut out = std::io::stdout().lock();
            for line in std::io::stdin().lock().lines() {
                let Ok(n) = line.expect("readable input").trim().parse::<usize>() else {
                    eprintln!("simulate_calls serve: one count per line");
                    std::process::exit(2);
                };
                let times: Vec<String> = (0..n).map(|_| format!("{:e}", call(ctx))).collect();
                writeln!(out, "{}", times.join(" ")).expect("writable output");
                out.flush().expect("writable output");
            }
        }
        arg => {
            let Some(count) = arg.and_then(|c| c.parse::<usize>().ok()) else {
                eprintln!("usage: simulate_calls COUNT | simulate_calls serve | simulate_calls serve-warm");
                std::process::exit(2);
            };
            for _ in 0..count {
                println!("{:e}", call(None));
            }
        }
    }
}
