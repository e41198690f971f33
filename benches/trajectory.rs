//! Speed goals of the engine (issue 7), never timed tests. Run: `cargo bench --bench trajectory`.
//! Machine of record: the project's 2-core Debian box; compare ratios measured in one run.
//!
//! * `kernels`: one right-hand side, one Jacobian, both together, a slow-mode evaluation and
//!   kappa(T) (table lookup) of the full Mn12Ac system.
//! * `trajectory_to_equilibrium`: single trajectories at rtol 1e-8, each from the start of the
//!   ramp to equilibrium (or 1e40 s), with the default outputs (1 ms, 1 s, 1 h samples and the
//!   logarithmic grid). The shared tables (kappa(T), the well quantities) of one
//!   `EngineContext` are built before timing, as in a batch, where the first runs build them;
//!   `first_run_in_a_process` times runs in a fresh context each, as a lone CLI run: with the
//!   tables shipped for the default material, and (`_building_every_table`) without them. The paper's 10 T/s ramp from 3 and 4 K also runs linked to a bath at T_i
//!   (issue 14: its cost against the adiabatic run's, target <= 3x).
//! * `sweep_64`: 64 runs (Ti 2..6 K x 16 sweep rates 1e-8..1e10 T/s) on a 1- and a 2-thread
//!   pool: the parallel speed-up.
//! * `spin_size`: one trajectory (jump 0.5 T -> 0.1 T at 4 K) and one rhs + Jacobian for
//!   S = 1, 5, 10, 20 at the Mn12Ac barrier |D| S^2 = 65.5 K: the cost against 2S + 1 levels.

#[path = "cases/mod.rs"]
mod cases;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use nalgebra::{Complex, DMatrix, DVector};
use rayon::prelude::*;
use smmcool::kinetics::full::FullSystem;
use smmcool::kinetics::{simulate, EngineContext, EngineOptions, RunSpec};
use smmcool::model::protocol::Protocol;
use smmcool::model::thermo::boltzmann;
use smmcool::model::{GiantSpin, Material};
use smmcool::numerics::solver::bordered::BorderedLu;
use smmcool::numerics::solver::OdeSystem;
use smmcool::rates::{KappaScaling, RateModel};
use std::hint::black_box;
use std::time::Duration;

fn run(material: Material, protocol: Protocol, ti: f64) -> RunSpec {
    RunSpec::new(material, protocol, ti).with_options(EngineOptions {
        rtol: 1e-8,
        ..Default::default()
    })
}

use cases::ramp;

fn trajectories(c: &mut Criterion) {
    let mut g = c.benchmark_group("trajectory_to_equilibrium");
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(4));
    let ctx = EngineContext::new();
    // The cases of benches/cases/mod.rs (shared with examples/trajectory_runs.rs).
    let specs: Vec<(String, RunSpec)> = cases::trajectory_cases()
        .into_iter()
        .map(|c| {
            let spec = run(Material::mn12ac(), c.protocol, c.t_initial_k).with_link(c.link);
            (c.name.to_string(), spec)
        })
        .collect();
    for (name, spec) in specs {
        let tr = simulate(&ctx, &spec).unwrap();
        eprintln!(
            "{name}: {} steps ({} full, {} reduced), {} rejected, {} rhs, {} Newton iterations, {} quadrature evaluations, {} table nodes, outcome {:?} after {:.3e} s",
            tr.stats.steps,
            tr.steps_full,
            tr.steps_reduced,
            tr.stats.rejected,
            tr.stats.rhs_evals,
            tr.stats.newton_iters,
            tr.quadrature_evals,
            tr.table_nodes,
            tr.outcome,
            tr.samples.last().map_or(0.0, |s| s.t_s)
        );
        g.bench_function(&name, |b| {
            b.iter(|| simulate(&ctx, black_box(&spec)).unwrap())
        });
    }
    g.finish();
}

fn first_run(c: &mut Criterion) {
    // Each iteration runs in a fresh context (no kappa(T) or well tables), so it pays for
    // every panel it needs, as the first run of a process (or a lone CLI run) does.
    let mut g = c.benchmark_group("first_run_in_a_process");
    g.sample_size(10);
    let lone = cases::trajectory_cases()
        .into_iter()
        .filter(|c| matches!(c.key, "jump" | "slow"));
    for c in lone {
        let name = c.name;
        let spec = run(Material::mn12ac(), c.protocol, c.t_initial_k);
        g.bench_function(name, |b| {
            b.iter(|| simulate(&EngineContext::new(), black_box(&spec)).unwrap())
        });
        // The same without the tables shipped for the default material: every panel built.
        g.bench_function(format!("{name}_building_every_table"), |b| {
            b.iter(|| simulate(&EngineContext::without_shipped_tables(), black_box(&spec)).unwrap())
        });
    }
    g.finish();
}

/// What a `FullSystem` of material `m` borrows (tabulated rates, a 10 T/s ramp) and a state in
/// the middle of the ramp (Boltzmann populations at 0.4 T and 3.5 K).
fn full_system_parts(m: &Material) -> (RateModel, Protocol, DVector<f64>) {
    let rates = RateModel::new(m.spin, m.arrhenius, KappaScaling::Arrhenius).unwrap();
    let rates = EngineContext::new().with_kappa_table(rates, 1.0, 10.0);
    let n = m.spin.n_levels();
    let n0 = boltzmann(&m.spin.energies(0.4), 3.5);
    let mut y = DVector::zeros(n + 2);
    for i in 0..n {
        y[i] = n0[i];
    }
    y[n] = m.debye.energy_k(3.5);
    (rates, ramp(10.0), y)
}

fn kernels(c: &mut Criterion) {
    let m = Material::mn12ac();
    let (rates, p, y) = full_system_parts(&m);
    let sys = FullSystem::new(&m.spin, &m.debye, &rates, &p);
    let n = y.len();
    let mut dy = DVector::zeros(n);
    let mut jac = DMatrix::zeros(n, n);
    c.bench_function("full_rhs", |b| {
        b.iter(|| sys.rhs(black_box(0.01), &y, &mut dy))
    });
    c.bench_function("full_jacobian", |b| {
        b.iter(|| sys.jacobian(black_box(0.01), &y, &mut jac))
    });
    c.bench_function("full_rhs_plus_jacobian", |b| {
        b.iter(|| {
            sys.rhs(black_box(0.01), &y, &mut dy).unwrap();
            sys.jacobian(black_box(0.01), &y, &mut jac).unwrap();
        })
    });
    // The Newton matrices of one Radau step: (gamma/h) I - J (real) and
    // ((alpha + i beta)/h) I - J (complex), bordered band LU against a dense pivoted LU.
    sys.jacobian(0.01, &y, &mut jac).unwrap();
    let h = 1e-6;
    let real = DMatrix::from_fn(n, n, |i, j| {
        -jac[(i, j)]
            + if i == j {
                3.637_834_252_744_496 / h
            } else {
                0.0
            }
    });
    let cplx = DMatrix::from_fn(n, n, |i, j| {
        Complex::new(-jac[(i, j)], 0.0)
            + if i == j {
                Complex::new(2.681_082_873_627_752 / h, 3.050_430_199_247_411 / h)
            } else {
                Complex::new(0.0, 0.0)
            }
    });
    let band = sys.bordered_band().unwrap();
    c.bench_function("newton_lu_real_plus_complex_bordered", |b| {
        b.iter(|| {
            (
                BorderedLu::new(black_box(real.clone()), band.0, band.1).unwrap(),
                BorderedLu::new(black_box(cplx.clone()), band.0, band.1).unwrap(),
            )
        })
    });
    c.bench_function("newton_lu_real_plus_complex_dense", |b| {
        b.iter(|| (black_box(real.clone()).lu(), black_box(cplx.clone()).lu()))
    });
    c.bench_function("slow_mode_B0.1_T3", |b| {
        b.iter(|| {
            rates
                .unscaled_slow_mode(black_box(0.1), black_box(3.0))
                .unwrap()
        })
    });
    c.bench_function("kappa_T3_table", |b| {
        b.iter(|| rates.kappa(black_box(3.0)).unwrap())
    });
}

fn sweep(c: &mut Criterion) {
    let specs: Vec<RunSpec> = (0..4)
        .flat_map(|i| {
            let ti = 2.0 + 4.0 * f64::from(i) / 3.0;
            (0..16).map(move |j| {
                let rate = 10f64.powf(-8.0 + 18.0 * f64::from(j) / 15.0);
                run(Material::mn12ac(), ramp(rate), ti)
            })
        })
        .collect();
    // Warm the context's tables outside the timing.
    let ctx = EngineContext::new();
    simulate(&ctx, &specs[0]).unwrap();
    let mut g = c.benchmark_group("sweep_64");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    for threads in [1usize, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        g.bench_with_input(BenchmarkId::new("threads", threads), &threads, |b, _| {
            b.iter(|| {
                pool.install(|| {
                    specs
                        .par_iter()
                        .map(|s| simulate(&ctx, s).map(|t| t.t_final_k))
                        .collect::<Vec<_>>()
                })
            })
        });
    }
    g.finish();
}

/// Mn12Ac with spin `s` and D scaled so that the barrier |D| S^2 stays that of S = 10.
fn spin_material(s: f64) -> Material {
    let mut m = Material::mn12ac();
    let d = m.spin.d_k() * 100.0 / (s * s);
    m.spin = GiantSpin::new(s, d, m.spin.g_par()).unwrap();
    m
}

fn spin_size(c: &mut Criterion) {
    let mut g = c.benchmark_group("spin_size");
    g.sample_size(10);
    for s in [1.0, 5.0, 10.0, 20.0] {
        let m = spin_material(s);
        let spec = run(m.clone(), Protocol::jump(0.5, 0.1).unwrap(), 4.0);
        let ctx = EngineContext::new();
        match simulate(&ctx, &spec) {
            Ok(tr) => {
                eprintln!(
                    "S = {s}: {} levels, {} steps, {} rhs, {} quadrature evaluations, T_final {:.6} K",
                    m.spin.n_levels(),
                    tr.stats.steps,
                    tr.stats.rhs_evals,
                    tr.quadrature_evals,
                    tr.t_final_k
                );
                g.bench_with_input(BenchmarkId::new("jump_4K_trajectory", s), &spec, |b, sp| {
                    b.iter(|| simulate(&ctx, black_box(sp)).unwrap())
                });
            }
            Err(e) => eprintln!("S = {s}: trajectory not benchmarked: {e}"),
        }
        let (rates, p, y) = full_system_parts(&m);
        let sys = FullSystem::new(&m.spin, &m.debye, &rates, &p);
        let n = y.len();
        let (mut dy, mut jac) = (DVector::zeros(n), DMatrix::zeros(n, n));
        g.bench_with_input(BenchmarkId::new("rhs_plus_jacobian", s), &s, |b, _| {
            b.iter(|| {
                sys.rhs(black_box(0.01), &y, &mut dy).unwrap();
                sys.jacobian(black_box(0.01), &y, &mut jac).unwrap();
            })
        });
    }
    g.finish();
}

criterion_group!(benches, kernels, trajectories, first_run, sweep, spin_size);
criterion_main!(benches);
