//! The warm-trajectory benchmark runs of `benches/trajectory.rs`, without criterion: one
//! named case run `count` times in one warm `EngineContext` (after one untimed run), for an
//! instruction count under valgrind that the machine's load does not move (issue 19):
//!
//!   cargo build --release --example trajectory_runs
//!   valgrind --tool=cachegrind --cache-sim=no target/release/examples/trajectory_runs jump 21
//!
//! The instructions of one run are the difference between counts 21 and 1, over 20.
//! An optional third argument sets rtol (default 1e-8; `smmcool simulate`'s default is
//! 1e-10). Count 0 is one run in a fresh context, as a lone `smmcool simulate` makes (every
//! table it needs set up in the run): with callgrind's `--toggle-collect` on
//! `smmcool::kinetics::simulate`, counts 0 and 1 give the lone run and the warm run in-process.
//! Cases (benches/cases/mod.rs, shared with the benchmark): jump, fast (1e6 T/s), slow
//! (1e-3 T/s), paper3 and paper4 (10 T/s from 3 and 4 K), linked3 and linked4 (the 10 T/s runs
//! linked to a bath). The last line is a hash of the
//! whole trajectory, to check that a change leaves the runs bit-identical.

#[path = "../benches/cases/mod.rs"]
mod cases;

use smmcool::kinetics::{simulate, EngineContext, EngineOptions, RunSpec};
use smmcool::model::Material;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let count: Option<usize> = args.get(2).and_then(|c| c.parse().ok());
    let rtol: Option<f64> = args.get(3).map_or(Some(1e-8), |r| r.parse().ok());
    let (Some(case), Some(count), Some(rtol)) = (args.get(1), count, rtol) else {
        eprintln!("usage: trajectory_runs CASE COUNT [RTOL]");
        std::process::exit(2);
    };
    let c = cases::by_key(cases::trajectory_cases(), case);
    let spec = RunSpec::new(Material::mn12ac(), c.protocol, c.t_initial_k)
        .with_options(EngineOptions {
            rtol,
            ..Default::default()
        })
        .with_link(c.link);
    let ctx = EngineContext::new();
    let mut tr = simulate(&ctx, &spec).unwrap();
    for _ in 0..count {
        tr = simulate(&ctx, std::hint::black_box(&spec)).unwrap();
    }
    println!(
        "{case}: {} steps, {} rejected, {} rhs, {} Jacobians, {} LU pairs, {} Newton iterations, {} quadrature evaluations",
        tr.stats.steps,
        tr.stats.rejected,
        tr.stats.rhs_evals,
        tr.stats.jac_evals,
        tr.stats.lu_decomps / 2,
        tr.stats.newton_iters,
        tr.quadrature_evals
    );
    // A hash of the whole trajectory (every sample, every count): equal hashes of two builds
    // mean bit-identical runs.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    std::hash::Hash::hash(&format!("{tr:?}"), &mut h);
    println!("trajectory hash {:016x}", std::hash::Hasher::finish(&h));
}
