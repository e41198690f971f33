//! Cost of the analytic limits per element (issue 15: `limits` on a 1e5-element array >= 50x
//! faster than a Python loop of scalar calls). Run: `cargo bench --bench limits`.
//!
//! `limits_solver/*`: one thread solving both limits (Eq. 9 and Eq. 11, [`LimitsSolver`]) for
//! Bi = 0.5 T -> Bf = 0.1 T over 1000 initial temperatures evenly spaced in [1, 6] K (the grid of
//! scripts/limits_speedup.py), and over [0.3, 30] K log-spaced; divide the time by 1000 for the
//! cost per element. `*_by_four` solves the same grids four elements at a time
//! ([`LimitsSolver::solve4`], as the Python array call does; the same roots bit for bit).
//! `bracketing` is the engine's Brent solver on the first grid, for scale.

use criterion::{criterion_group, criterion_main, Criterion};
use smmcool::model::limits::{FieldChange, LimitsSolver};
use smmcool::model::Material;
use std::hint::black_box;

fn limits(c: &mut Criterion) {
    let m = Material::mn12ac();
    let linear: Vec<f64> = (0..1000)
        .map(|i| 1.0 + 5.0 * f64::from(i) / 999.0)
        .collect();
    let log: Vec<f64> = (0..1000)
        .map(|i| 0.3 * 100f64.powf(f64::from(i) / 999.0))
        .collect();
    let mut g = c.benchmark_group("limits_solver");
    for (name, tis) in [("ti_1_to_6_k", &linear), ("ti_0p3_to_30_k_log", &log)] {
        g.bench_function(name, |b| {
            let mut solver = LimitsSolver::new(&m, 0.5);
            b.iter(|| {
                let mut acc = 0.0;
                for &ti in tis.iter() {
                    let (s, q) = solver.solve(black_box(0.1), ti).unwrap();
                    acc += s + q.t_final_k().unwrap_or(0.0);
                }
                black_box(acc)
            });
        });
    }
    for (name, tis) in [
        ("ti_1_to_6_k_by_four", &linear),
        ("ti_0p3_to_30_k_log_by_four", &log),
    ] {
        g.bench_function(name, |b| {
            let mut solver = LimitsSolver::new(&m, 0.5);
            b.iter(|| {
                let mut acc = 0.0;
                for t4 in tis.chunks_exact(4) {
                    solver.solve4_with(black_box(0.1), [t4[0], t4[1], t4[2], t4[3]], |_, r| {
                        let (s, q) = r.unwrap();
                        acc += s + q.t_final_k().unwrap_or(0.0);
                    });
                }
                black_box(acc)
            });
        });
    }
    g.bench_function("bracketing_ti_1_to_6_k", |b| {
        b.iter(|| {
            let mut acc = 0.0;
            for &ti in linear.iter() {
                let fc = FieldChange::of(&m, 0.5, black_box(0.1), ti);
                acc += fc.sudden_final_k().unwrap()
                    + fc.isentropic_final().unwrap().t_final_k().unwrap_or(0.0);
            }
            black_box(acc)
        });
    });
    g.finish();
}

criterion_group!(benches, limits);
criterion_main!(benches);
