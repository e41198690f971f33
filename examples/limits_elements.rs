//! The elements of scripts/limits_speedup.py's array call without Python (issue 15, `limits`
//! on a 10^5-element array >= 50x faster than a Python loop of scalar calls): Bi = 0.5 T ->
//! Bf = 0.1 T of Mn12Ac over `count` initial temperatures evenly spaced in [1, 6] K, solved on
//! one thread by one [`LimitsSolver`] on a table shared through an [`EngineContext`], as the
//! Python array call does per rayon job, for instruction counts that the machine's load does
//! not move:
//!
//!   cargo build --release --example limits_elements
//!   valgrind --tool=cachegrind --cache-sim=no target/release/examples/limits_elements 100000
//!
//! The instructions of one element are the difference between counts 100000 and 0, over
//! 100000 (the table's nodes are built in both). It also prints a checksum of the roots and,
//! given a second argument, writes Ti and both roots (as exact bit patterns) to that file.

use smmcool::error::NumericsError;
use smmcool::kinetics::EngineContext;
use smmcool::model::limits::{Isentropic, LimitsSolver};
use smmcool::model::Material;

fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| {
            eprintln!("usage: limits_elements COUNT");
            std::process::exit(2);
        });
    let m = Material::mn12ac();
    let ctx = EngineContext::new();
    let mut solver = LimitsSolver::new(&m, 0.5);
    solver.use_table(ctx.limits_table(&m.spin, &m.debye, 0.1));
    // Every node the grid visits, built before the elements (both counts include them).
    let mut warm = LimitsSolver::new(&m, 0.5);
    warm.use_table(ctx.limits_table(&m.spin, &m.debye, 0.1));
    for i in 0..=100 {
        warm.solve(0.1, 1.0 + 0.05 * f64::from(i)).expect("warm-up");
    }
    let (mut sum, mut out_s, mut out_i) = (0.0, vec![0.0; count], vec![0.0; count]);
    let ti_of = |i: usize| 1.0 + 5.0 * i as f64 / (count.max(2) - 1) as f64;
    // Four elements at a time, as the Python array call does (`LimitsSolver::solve4`), the
    // rest one at a time.
    let mut i = 0;
    let mut put = |j: usize, r: Result<(f64, Isentropic), NumericsError>| {
        let (s, q) = r.expect("a root");
        out_s[j] = s;
        out_i[j] = q.t_final_k().unwrap_or(f64::NAN);
        sum += s + out_i[j];
    };
    while i + 4 <= count {
        let ti = [ti_of(i), ti_of(i + 1), ti_of(i + 2), ti_of(i + 3)];
        solver.solve4_with(0.1, ti, |k, r| put(i + k, r));
        i += 4;
    }
    for j in i..count {
        put(j, solver.solve(0.1, ti_of(j)));
    }
    println!("{count} elements, sum of both roots {sum:.17e}");
    if let Some(path) = std::env::args().nth(2) {
        let mut text = String::new();
        for i in 0..count {
            let ti = 1.0 + 5.0 * i as f64 / (count.max(2) - 1) as f64;
            text += &format!(
                "{:016x} {:016x} {:016x}\n",
                ti.to_bits(),
                out_s[i].to_bits(),
                out_i[i].to_bits()
            );
        }
        std::fs::write(path, text).expect("writable output file");
    }
}
