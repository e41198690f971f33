//! The cost of tunnelling in trajectories (issue 18: "a trajectory with tunnelling within 3x of
//! one without", criterion, same run). Run: `cargo bench --bench tunnelling` (or
//! `cargo bench --profile dev --bench tunnelling` without a release build); compare ratios
//! measured in one run.
//!
//! Group `tunnelling_cost`: the same protocols with three materials,
//! * `barra`: `mn12ac-barra` with its transverse term (C = 2.88e-5 K, B4 in the levels), the
//!   tunnelling mechanism on, the ramps stopping at every crossing field, the plane well
//!   table in the ramp without panels holding a resonance field or window edge (the exact
//!   kernels there) and the line table at the final field after it;
//! * `barra_c0`: the same levels with C = 0 (no tunnelling: the axial engine with B4, its well
//!   tables);
//! * `mn12ac`: the paper's axial material (B4 = 0).
//!
//! Protocols: the paper's 10 T/s ramp 0.5 -> 0.1 T from 4 K and from 2 K (to equilibrium, or
//! the engine's end time), and relaxations at a fixed field after a jump from 0.5 T: to 0.1 T
//! at 3 K (inside the window of the k = 0 resonance) and to B = 0 at 3 K (on the k = 0
//! resonance of every pair). Each run starts in a context whose shared tables (kappa(T), the
//! well quantities, the tunnelling mechanism with its splittings) were built by one untimed
//! run of the same spec, as in a batch.
//!
//! Group `tunnelling_cost_first_run`: two of those protocols, each iteration in a fresh
//! context (no table, no mechanism built), as a lone CLI run: `barra_c0` then builds its well
//! tables, `barra` its splittings and the plane-table panels of its ramp; `mn12ac` starts
//! with the tables shipped for it.

#[path = "cases/mod.rs"]
mod cases;

use criterion::{criterion_group, criterion_main, Criterion};
use smmcool::kinetics::{simulate, EngineContext, RunSpec};
use smmcool::model::protocol::Protocol;
use smmcool::model::Material;
use std::hint::black_box;
use std::time::Duration;

fn material(key: &str) -> Material {
    cases::tunnelling_material(key).expect("a key of TUNNELLING_MATERIALS")
}

fn spec(material: Material, protocol: Protocol, ti: f64) -> RunSpec {
    RunSpec::new(material, protocol, ti)
}

fn cost(c: &mut Criterion) {
    let mut g = c.benchmark_group("tunnelling_cost");
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(4));
    let ctx = EngineContext::new();
    // The cases of benches/cases/mod.rs (shared with examples/tunnelling_runs.rs).
    for case in cases::tunnelling_cases() {
        let name = case.name;
        for mat in cases::TUNNELLING_MATERIALS {
            let s = spec(material(mat), case.protocol.clone(), case.t_initial_k);
            let tr = simulate(&ctx, &s).unwrap();
            eprintln!(
                "{name}/{mat}: {} steps ({} full, {} reduced), {} rejected, {} rhs, {} Jacobians, {} quadrature evaluations, {} table nodes, outcome {:?} after {:.3e} s, T_final {:.6} K",
                tr.stats.steps,
                tr.steps_full,
                tr.steps_reduced,
                tr.stats.rejected,
                tr.stats.rhs_evals,
                tr.stats.jac_evals,
                tr.quadrature_evals,
                tr.table_nodes,
                tr.outcome,
                tr.samples.last().map_or(0.0, |s| s.t_s),
                tr.t_final_k
            );
            g.bench_function(format!("{name}/{mat}"), |b| {
                b.iter(|| simulate(&ctx, black_box(&s)).unwrap())
            });
        }
    }
    g.finish();
    let mut g = c.benchmark_group("tunnelling_cost_first_run");
    g.sample_size(10);
    let lone = cases::tunnelling_cases()
        .into_iter()
        .filter(|c| matches!(c.key, "paper4" | "jump01"));
    for case in lone {
        let name = case.name;
        for mat in cases::TUNNELLING_MATERIALS {
            let s = spec(material(mat), case.protocol.clone(), case.t_initial_k);
            g.bench_function(format!("{name}/{mat}"), |b| {
                b.iter(|| simulate(&EngineContext::new(), black_box(&s)).unwrap())
            });
        }
    }
    g.finish();
}

criterion_group!(benches, cost);
criterion_main!(benches);
