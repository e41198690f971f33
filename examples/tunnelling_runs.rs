//! The runs of `benches/tunnelling.rs` without criterion (issue 18, "a trajectory with
//! tunnelling within 3x of one without"): one named case and material run `count` times in one
//! warm `EngineContext` (after one untimed run, as in a batch), for instruction counts that the
//! machine's load does not move:
//!
//!   cargo build --release --example tunnelling_runs
//!   valgrind --tool=cachegrind --cache-sim=no target/release/examples/tunnelling_runs paper4 barra 21
//!
//! The instructions of one run are the difference between counts 21 and 1, over 20.
//! Cases (benches/cases/mod.rs, shared with the benchmark): paper4 and paper2 (the paper's 10 T/s ramp 0.5 -> 0.1 T from 4 and 2 K), jump01
//! and jump0 (a jump 0.5 T -> 0.1 T and 0.5 T -> 0 T at 3 K). Materials: barra
//! (`mn12ac-barra`, with tunnelling), barra_c0 (the same levels with C = 0), mn12ac.
//! It also prints the median wall time of the timed runs.

#[path = "../benches/cases/mod.rs"]
mod cases;

use smmcool::kinetics::{simulate, EngineContext, RunSpec};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(case), Some(mat), Some(count)) = (
        args.get(1),
        args.get(2),
        args.get(3).and_then(|c| c.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: tunnelling_runs CASE MATERIAL COUNT");
        std::process::exit(2);
    };
    let c = cases::by_key(cases::tunnelling_cases(), case);
    let Some(material) = cases::tunnelling_material(mat) else {
        eprintln!("unknown material {mat}");
        std::process::exit(2);
    };
    let spec = RunSpec::new(material, c.protocol, c.t_initial_k);
    let ctx = EngineContext::new();
    let first = simulate(&ctx, &spec).unwrap();
    let mut times = Vec::with_capacity(count);
    for _ in 1..count {
        let start = Instant::now();
        let tr = simulate(&ctx, &spec).unwrap();
        times.push(start.elapsed().as_secs_f64());
        assert_eq!(tr.t_final_k.to_bits(), first.t_final_k.to_bits());
    }
    times.sort_by(f64::total_cmp);
    let median = times.get(times.len() / 2).copied().unwrap_or(f64::NAN);
    println!(
        "{case} {mat}: {} steps, {} rhs, {} quadrature evaluations, T_final {:.9} K, median {:.3} ms over {} runs",
        first.stats.steps,
        first.stats.rhs_evals,
        first.quadrature_evals,
        first.t_final_k,
        1e3 * median,
        times.len()
    );
}
