//! Piecewise-linear field waveforms (docs/physics.md, "Field waveforms"; docs/numerics.md,
//! "Waveform corners"): points that describe a built-in linear ramp reproduce it; a waveform
//! of two pieces equals the two ramps integrated one after the other by the solver directly
//! (not through the waveform code); the integrator lands on every corner; a waveform read
//! from a CSV file (path relative to the config) gives the same run as the same points
//! inline, and the batch file names the points' count and source.

use nalgebra::DVector;
use smmcool::kinetics::full::FullSystem;
use smmcool::kinetics::{simulate, EngineContext, Formulation, Trajectory};
use smmcool::model::protocol::{Protocol, RampShape};
use smmcool::model::thermo::boltzmann;
use smmcool::model::Material;
use smmcool::numerics::solver::{Radau5, Tolerances};
use smmcool::rates::{KappaScaling, RateModel};
use smmcool::scenario::{LinkSection, ValueList};
use smmcool::{ProtocolSection, Scenario};
mod common;

static CTX: std::sync::LazyLock<EngineContext> = std::sync::LazyLock::new(EngineContext::new);

/// No field given yet: the base of a waveform protocol from `ti`.
fn protocol(ti: f64) -> ProtocolSection {
    ProtocolSection {
        b_initial_t: None,
        b_final_t: None,
        sweep_rate_t_per_s: None,
        ..ProtocolSection::linear_ramp(0.0, 0.0, ti, 0.0)
    }
}

/// A linear ramp bi -> bf at `rate` T/s from `ti`.
fn linear(bi: f64, bf: f64, ti: f64, rate: f64) -> Scenario {
    Scenario::new(ProtocolSection::linear_ramp(bi, bf, ti, rate))
}

/// The waveform through (times[k], fields[k]) from `ti`.
fn waveform(times: &[f64], fields: &[f64], ti: f64) -> Scenario {
    Scenario::new(ProtocolSection {
        waveform_time_s: Some(ValueList(times.to_vec())),
        waveform_field_t: Some(ValueList(fields.to_vec())),
        ..protocol(ti)
    })
}

fn run(s: &Scenario) -> Trajectory {
    let built = s.build().unwrap_or_else(|e| panic!("{e}"));
    simulate(&CTX, &built.spec).unwrap_or_else(|e| panic!("{e}"))
}

/// Largest |difference| between two runs' temperatures that the user sees: after the ramp,
/// at the sample times, the minimum and the equilibrium, K.
fn largest_difference(a: &Trajectory, b: &Trajectory) -> f64 {
    let mut pairs = vec![
        (a.t_after_ramp_k, b.t_after_ramp_k),
        (a.t_equilibrium_k, b.t_equilibrium_k),
        (a.minimum_temperature_k, b.minimum_temperature_k),
        (a.t_final_k, b.t_final_k),
    ];
    for s in [1e-3, 1.0, 3600.0] {
        let (x, y) = (
            a.sample_after_ramp(s).unwrap(),
            b.sample_after_ramp(s).unwrap(),
        );
        pairs.push((x.t_phonon_k, y.t_phonon_k));
    }
    pairs.iter().map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

#[test]
fn points_on_the_linear_ramp_reproduce_it() {
    // (Bi, Bf, Ti, rate, link): a ramp the full equation carries (4 K), one the reduction
    // carries (3 K), and the latter under a heat link (the linked relaxation after it).
    let cases = [
        (0.5, 0.1, 4.0, 10.0, false),
        (1.0, 0.0, 3.0, 10.0, false),
        (1.0, 0.0, 3.0, 10.0, true),
    ];
    for (bi, bf, ti, rate, link) in cases {
        let (bi, bf): (f64, f64) = (bi, bf);
        let tq = (bf - bi).abs() / rate;
        let with_link = |mut s: Scenario| {
            if link {
                s.sample.amount_mol = Some(1e-6);
                s.link = LinkSection {
                    conductance_w_per_k: Some(1e-7),
                    exponent: Some(1.0),
                    bath_temperature_k: None,
                };
            }
            s
        };
        let reference = run(&with_link(linear(bi, bf, ti, rate)));
        // Two points, and five on the same line at uneven times (four corners where the
        // slope does not change: each one a hard stop and a restart of the integrator).
        let fractions = [0.0, 0.17, 0.5, 0.83, 1.0];
        let on_line = |f: f64| bi + (bf - bi) * f;
        let point_sets: [Vec<f64>; 2] = [vec![0.0, 1.0], fractions.to_vec()];
        for fr in point_sets {
            let times: Vec<f64> = fr.iter().map(|f| f * tq).collect();
            let fields: Vec<f64> = fr.iter().map(|&f| on_line(f)).collect();
            let tr = run(&with_link(waveform(&times, &fields, ti)));
            let d = largest_difference(&reference, &tr);
            eprintln!(
                "{bi} -> {bf} T at {rate} T/s from {ti} K (link {link}), {} points: largest difference {d:.2e} K (T after the ramp {:.6} K, at 3600 s {:.6} K)",
                fr.len(),
                tr.t_after_ramp_k,
                tr.sample_after_ramp(3600.0).unwrap().t_phonon_k
            );
            assert!(d <= 1e-10, "{d:e} K");
            assert!((tr.ramp_duration_s - tq).abs() <= 1e-15 * tq);
            assert!(tr.energy_balance_error <= 1e-8);
        }
    }
}

/// Integrate the full system of `proto` from `y` at t = 0 to its end with the solver
/// directly, landing exactly there.
fn integrate(
    mat: &Material,
    rates: &RateModel,
    proto: &Protocol,
    y: DVector<f64>,
    tol: &Tolerances,
) -> DVector<f64> {
    let sys = FullSystem::new(&mat.spin, &mat.debye, rates, proto);
    let end = proto.duration_s();
    let mut solver = Radau5::new(&sys, 0.0, y, 1e-9, tol.clone());
    while solver.t() < end {
        solver.step(&sys, end).unwrap();
    }
    solver.y().clone()
}

#[test]
fn a_two_piece_waveform_equals_two_chained_ramps() {
    // 0.5 T -> 0 T in 30 ms, then 0 -> 0.3 T in 20 ms, from 4 K.
    let (ti, t1, t2) = (4.0, 0.03, 0.02);
    let mut s = waveform(&[0.0, t1, t1 + t2], &[0.5, 0.0, 0.3], ti);
    s.solver.rtol = 1e-12;
    s.solver.formulation = Formulation::Full;
    s.solver.max_time_after_ramp_s = 1e-3;
    s.output.sample_times_after_ramp_s = ValueList(vec![1e-3]);
    // No output grid: only the corner's own hard stop makes the integrator land on it.
    s.output.trajectory = false;
    let tr = run(&s);
    let tq = t1 + t2;
    let at_end = tr.samples.iter().find(|x| x.t_s == tq).unwrap();

    // The same two ramps as two linear protocols, each integrated by the solver from t = 0,
    // the second from the state where the first ended.
    let mat = Material::mn12ac();
    let rates = RateModel::new(mat.spin, mat.arrhenius, KappaScaling::Arrhenius).unwrap();
    let nlev = mat.spin.n_levels();
    let n0 = boltzmann(&mat.spin.energies(0.5), ti);
    let mut y = DVector::zeros(nlev + 2);
    for (i, p) in n0.iter().enumerate() {
        y[i] = *p;
    }
    y[nlev] = mat.debye.energy_k(ti);
    let mut atol = vec![1e-15; nlev + 2];
    atol[nlev] = 1e-12 * mat.debye.energy_k(ti);
    let tol = Tolerances {
        rtol: 1e-12,
        atol,
        max_steps: 1_000_000,
    };
    let first = Protocol::with_duration(0.5, 0.0, t1, RampShape::Linear).unwrap();
    let second = Protocol::with_duration(0.0, 0.3, t2, RampShape::Linear).unwrap();
    let y = integrate(&mat, &rates, &first, y, &tol);
    let y = integrate(&mat, &rates, &second, y, &tol);
    let t_chain = mat.debye.temperature_for_energy_k(y[nlev]);
    let work_chain = y[nlev + 1];
    let dn = (0..nlev)
        .map(|i| (y[i] - at_end.populations[i]).abs())
        .fold(0.0, f64::max);
    eprintln!(
        "end of the waveform: T {:.12} K (chained ramps {t_chain:.12} K, difference {:.2e} K), work {:.12} K ({work_chain:.12} K), populations within {dn:.2e}",
        at_end.t_phonon_k,
        (at_end.t_phonon_k - t_chain).abs(),
        at_end.work_k
    );
    assert!((at_end.t_phonon_k - t_chain).abs() <= 1e-9);
    assert!((at_end.work_k - work_chain).abs() <= 1e-9 * work_chain.abs());
    assert!(dn <= 1e-10);
    // Teeth: one straight ramp 0.5 -> 0.3 T over the same time ends far from it.
    let mut straight = linear(0.5, 0.3, ti, 0.2 / tq);
    straight.protocol.sweep_rate_t_per_s = None;
    straight.protocol.ramp_duration_s = Some(tq);
    straight.solver = s.solver.clone();
    straight.output = s.output.clone();
    let tr_straight = run(&straight);
    let d = (tr_straight.t_after_ramp_k - at_end.t_phonon_k).abs();
    assert!(d > 1e-3, "a straight ramp differs by only {d:e} K");
}

#[test]
fn the_integrator_stops_at_every_corner() {
    // Corners at times off the ramp's output grid; a fast waveform (the full equation
    // carries the ramp) and the same shape slower (the two-well reduction carries it).
    let times = [0.0, 0.0123, 0.0271, 0.0302, 0.0459, 0.05];
    let fields = [0.5, 0.35, 0.1, 0.15, 0.4, 0.2];
    for (scale, ti) in [(1e-3, 4.0), (1.0, 4.0), (1e4, 2.5)] {
        let t: Vec<f64> = times.iter().map(|x| x * scale).collect();
        let tr = run(&waveform(&t, &fields, ti));
        // The trajectory holds each corner at its exact time: the driver records an output
        // only where a step ended exactly, and the field there is the corner's own.
        for (k, (&tc, &bc)) in t.iter().zip(&fields).enumerate() {
            let at = tr.samples.iter().find(|x| x.t_s == tc);
            let at =
                at.unwrap_or_else(|| panic!("scale {scale}: no sample at corner {k}, t = {tc} s"));
            assert_eq!(at.field_t, bc, "scale {scale}, corner {k}");
        }
        // Between corners the field is the straight line through them.
        for w in tr.samples.windows(1) {
            let x = &w[0];
            if x.t_s > 0.0 && x.t_s < t[t.len() - 1] {
                let k = t.partition_point(|&c| c <= x.t_s) - 1;
                let line =
                    fields[k] + (fields[k + 1] - fields[k]) * (x.t_s - t[k]) / (t[k + 1] - t[k]);
                assert!((x.field_t - line).abs() <= 1e-14, "{} vs {line}", x.field_t);
            }
        }
        assert!(
            tr.energy_balance_error <= 1e-8,
            "{}",
            tr.energy_balance_error
        );
        if scale < 1.0 {
            assert!(tr.steps_full > 0, "the full equation carried no step");
        } else {
            assert!(tr.steps_reduced > 0, "the reduction carried no step");
        }
        eprintln!(
            "scale {scale}: {} steps ({} full, {} reduced), T after the ramp {:.6} K",
            tr.stats.steps, tr.steps_full, tr.steps_reduced, tr.t_after_ramp_k
        );
    }
}

#[test]
fn a_csv_waveform_runs_as_the_same_points_inline_and_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("configs");
    std::fs::create_dir(&sub).unwrap();
    // A measured-looking trace: header, comment, comma and space separated rows, times not
    // starting at 0 (the ramp starts at the first point).
    common::write(
        &sub,
        "trace.csv",
        "time_s,field_t\n# pulse from the scope\n-0.01, 0.5\n0.002,0.3\n\n0.02 , 0.1\n",
    );
    let config = "[protocol]\nwaveform_csv = \"trace.csv\"\n\
        [output]\nlog_points_per_decade = 1\n\
        [[sweep]]\nkey = \"protocol.initial_temperature_k\"\nvalues = [3.5, 4.0]\n";
    let cfg = common::write(&sub, "c.toml", config);
    let out = dir.path().join("out.h5");
    // Run from another folder: the CSV is found next to the config.
    let o = common::smmcool()
        .args(["run", cfg.to_str().unwrap(), "-o", out.to_str().unwrap()])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let records = smmcool::read_summary(&out).unwrap();
    assert_eq!(records.len(), 2);
    let inline = common::json(&[
        "simulate",
        "--waveform-time-s",
        "0,0.012,0.03",
        "--waveform-field-t",
        "0.5,0.3,0.1",
        "--initial-temperature-k",
        "4",
        "--log-points-per-decade",
        "1",
        "--json",
    ]);
    let r = &records[1];
    assert_eq!(r.params.shape, "waveform");
    assert_eq!(r.params.waveform_points, 3);
    assert!(r
        .params
        .waveform_source
        .as_deref()
        .unwrap()
        .ends_with("trace.csv"));
    assert_eq!(r.params.sweep_rate_t_per_s, None);
    assert!((r.params.ramp_duration_s - 0.03).abs() < 1e-15);
    assert!((r.params.b_initial_t - 0.5).abs() < 1e-15 && (r.params.b_final_t - 0.1).abs() < 1e-15);
    assert_eq!(inline["waveform_points"].as_u64(), Some(3));
    assert_eq!(inline["waveform_source"].as_str(), Some("inline"));
    assert_eq!(inline["shape"].as_str(), Some("waveform"));
    // Times shifted by 0.01 s in the file: the same relative times give the same run, up to
    // the rounding of the shift.
    let a: Vec<f64> = r
        .summary
        .sample_temperatures_k
        .iter()
        .map(|t| t.unwrap())
        .collect();
    let b: Vec<f64> = inline["sample_temperatures_k"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() <= 1e-10, "{x} vs {y}");
    }
    // The count and the source are stored with their units.
    let file = hdf5::File::open(&out).unwrap();
    let ds = file.dataset("summary/waveform_points").unwrap();
    assert_eq!(common::unit_of(&ds), "1");
    assert_eq!(ds.read_raw::<u64>().unwrap(), vec![3, 3]);
    assert!(file.dataset("summary/waveform_source").is_ok());
    // simulate --waveform-csv reads the file relative to the working directory.
    let from_csv = common::smmcool()
        .args([
            "simulate",
            "--waveform-csv",
            "configs/trace.csv",
            "--initial-temperature-k",
            "4",
            "--log-points-per-decade",
            "1",
            "--json",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        from_csv.status.success(),
        "{}",
        String::from_utf8_lossy(&from_csv.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&from_csv.stdout).unwrap();
    assert_eq!(v["waveform_source"].as_str(), Some("configs/trace.csv"));
    assert_eq!(v["sample_temperatures_k"].as_array().unwrap().len(), 3);
    for (x, y) in v["sample_temperatures_k"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&a)
    {
        assert!((x.as_f64().unwrap() - y).abs() <= 1e-10);
    }
}
