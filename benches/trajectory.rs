//! One full trajectory (ramp plus relaxation to equilibrium), one right-hand side and Jacobian
//! evaluation, and the slow-mode kernel. Speed goals live here, never in timed tests.
//! Run: `cargo bench --bench trajectory`. Machine of record: the project's 2-core Debian box.

use criterion::{criterion_group, criterion_main, Criterion};
use nalgebra::{DMatrix, DVector};
use smmcool::kinetics::full::FullSystem;
use smmcool::kinetics::{simulate, EngineOptions, RunSpec};
use smmcool::model::thermo::boltzmann;
use smmcool::model::Material;
use smmcool::protocol::{Protocol, RampShape};
use smmcool::rates::{KappaScaling, RateModel};
use smmcool::solver::OdeSystem;
use std::hint::black_box;

fn run(protocol: Protocol, ti: f64) -> RunSpec {
    RunSpec {
        material: Material::mn12ac(),
        scaling: KappaScaling::Arrhenius,
        protocol,
        t_initial_k: ti,
        options: EngineOptions {
            rtol: 1e-8,
            ..Default::default()
        },
    }
}

fn trajectories(c: &mut Criterion) {
    let mut g = c.benchmark_group("trajectory_to_equilibrium");
    g.sample_size(10);
    let cases = [
        (
            "jump_0.5T_to_0.1T_4K",
            Protocol::jump(0.5, 0.1).unwrap(),
            4.0,
        ),
        (
            "fast_ramp_1e6Tps_4K",
            Protocol::with_sweep_rate(0.5, 0.1, 1e6, RampShape::Linear).unwrap(),
            4.0,
        ),
        (
            "slow_ramp_1e-3Tps_4K",
            Protocol::with_sweep_rate(0.5, 0.1, 1e-3, RampShape::Linear).unwrap(),
            4.0,
        ),
        (
            "paper_10Tps_3K",
            Protocol::with_sweep_rate(0.5, 0.1, 10.0, RampShape::Linear).unwrap(),
            3.0,
        ),
    ];
    for (name, p, ti) in cases {
        let spec = run(p, ti);
        let tr = simulate(&spec).unwrap();
        eprintln!(
            "{name}: {} steps ({} full, {} reduced), {} rejected, {} rhs, {} quadrature evaluations",
            tr.stats.steps, tr.steps_full, tr.steps_reduced, tr.stats.rejected, tr.stats.rhs_evals, tr.quadrature_evals
        );
        g.bench_function(name, |b| b.iter(|| simulate(black_box(&spec)).unwrap()));
    }
    g.finish();
}

fn kernels(c: &mut Criterion) {
    let m = Material::mn12ac();
    let rates = RateModel::new(m.spin, m.arrhenius, KappaScaling::Arrhenius).unwrap();
    let p = Protocol::with_sweep_rate(0.5, 0.1, 10.0, RampShape::Linear).unwrap();
    let sys = FullSystem::new(&m.spin, &m.debye, &rates, &p);
    let n0 = boltzmann(&m.spin.energies(0.4), 3.5);
    let mut y = DVector::zeros(23);
    for i in 0..21 {
        y[i] = n0[i];
    }
    y[21] = m.debye.energy_k(3.5);
    let mut dy = DVector::zeros(23);
    let mut jac = DMatrix::zeros(23, 23);
    c.bench_function("full_rhs", |b| {
        b.iter(|| sys.rhs(black_box(0.01), &y, &mut dy))
    });
    c.bench_function("full_jacobian", |b| {
        b.iter(|| sys.jacobian(black_box(0.01), &y, &mut jac))
    });
    c.bench_function("slow_mode_B0.1_T3", |b| {
        b.iter(|| {
            rates
                .unscaled_slow_mode(black_box(0.1), black_box(3.0))
                .unwrap()
        })
    });
    c.bench_function("kappa_T3", |b| {
        b.iter(|| rates.kappa(black_box(3.0)).unwrap())
    });
}

criterion_group!(benches, trajectories, kernels);
criterion_main!(benches);
