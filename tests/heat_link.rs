//! The heat link to a bath and the addenda (docs/physics.md, "Heat link and addenda"): with
//! both off the runs are bit for bit the adiabatic ones; a weak link reproduces the adiabatic
//! relaxation (the linked stage, integrated by Radau IIA, against the adiabatic quadrature); a
//! strong link pins the sample to the bath; addenda alone give the energy-balance root of a
//! sudden change with the addenda's heat capacity (computed here from the level formula and
//! the heat capacities, independently of the engine); a small field step under a link decays
//! as exp(-t K / C) with C computed here, and where the spins relax at a comparable rate it
//! follows the two coupled linear relaxations (spins at lambda_1, link at K/C); every linked run closes its energy balance
//! U(t) - U(0) = work - heat to the bath to 1e-8; bad input is refused with one line naming
//! the flag or key and the value.

use smmcool::kinetics::{simulate, EngineContext, Outcome, Trajectory};
use smmcool::model::protocol::RampShape;
use smmcool::scenario::{LinkSection, SampleSection, ValueList};
use smmcool::{ProtocolSection, Scenario};
use std::f64::consts::PI;
mod common;

static CTX: std::sync::LazyLock<EngineContext> = std::sync::LazyLock::new(EngineContext::new);

/// Molar gas constant, J/(mol K) (CODATA 2018: N_A k_B).
const R: f64 = 6.022_140_76e23 * 1.380_649e-23;
/// Sample amount used throughout, mol.
const AMOUNT: f64 = 1e-6;

fn protocol(bi: f64, bf: f64, ti: f64, rate: Option<f64>) -> ProtocolSection {
    ProtocolSection {
        b_initial_t: Some(bi),
        b_final_t: Some(bf),
        initial_temperature_k: ti,
        sweep_rate_t_per_s: rate,
        ramp_duration_s: None,
        shape: if rate.is_some() {
            RampShape::Linear
        } else {
            RampShape::Jump
        },
        jump: false,
        allow_field_increase: false,
        waveform_time_s: None,
        waveform_field_t: None,
        waveform_csv: None,
        segment: Vec::new(),
        cycles: None,
    }
}

fn run(s: &Scenario) -> Trajectory {
    let built = s.build().unwrap_or_else(|e| panic!("{e}"));
    simulate(&CTX, &built.spec).unwrap_or_else(|e| panic!("{e}"))
}

fn linked(mut s: Scenario, k1_w_per_k: f64, exponent: Option<f64>) -> Scenario {
    s.sample.amount_mol = Some(AMOUNT);
    s.link = LinkSection {
        conductance_w_per_k: Some(k1_w_per_k),
        exponent,
        bath_temperature_k: None,
    };
    s
}

/// The protocols the tests use: a jump (full equation at B_f, hand-over, reduction), a fast
/// ramp carried by the reduction, a ramp carried by the full equation.
fn cases() -> Vec<(&'static str, Scenario)> {
    vec![
        (
            "jump 0.5 -> 0.1 T at 4 K",
            Scenario::new(protocol(0.5, 0.1, 4.0, None)),
        ),
        (
            "10 T/s 1 -> 0 T at 3 K",
            Scenario::new(protocol(1.0, 0.0, 3.0, Some(10.0))),
        ),
        (
            "1e4 T/s 0.5 -> 0.1 T at 4.5 K",
            Scenario::new(protocol(0.5, 0.1, 4.5, Some(1e4))),
        ),
    ]
}

fn check_energy_balance(tr: &Trajectory, what: &str) {
    assert!(
        tr.energy_balance_error <= 1e-8,
        "{what}: energy balance {:e}",
        tr.energy_balance_error
    );
}

/// With the sample given but no link (K1 = 0) and zero addenda, every sample and summary
/// number is the adiabatic run's, bit for bit.
#[test]
fn link_and_addenda_off_are_bit_identical_to_the_adiabatic_run() {
    for (what, plain) in cases() {
        let mut off = plain.clone();
        off.sample = SampleSection {
            amount_mol: Some(AMOUNT),
            mass_mg: None,
            addenda_gamma_j_per_k2: Some(0.0),
            addenda_beta_j_per_k4: Some(0.0),
        };
        off.link.conductance_w_per_k = Some(0.0);
        let (a, b) = (run(&plain), run(&off));
        assert_eq!(a.samples, b.samples, "{what}");
        assert_eq!(a.t_final_k.to_bits(), b.t_final_k.to_bits(), "{what}");
        assert_eq!(a.t_equilibrium_k.to_bits(), b.t_equilibrium_k.to_bits());
        assert_eq!(a.stats, b.stats, "{what}");
        assert!(a.samples.iter().all(|s| s.heat_to_bath_k == 0.0));
        assert!(a.heat_to_bath_k == 0.0);
    }
}

/// A link too weak to move heat within the sampled hour: the linked relaxation (Radau IIA
/// on (P_R, w, q)) reproduces the adiabatic one (quadrature at fixed energy) at every
/// sample time; heat to the bath stays negligible.
#[test]
fn weak_link_reproduces_the_adiabatic_relaxation() {
    for (what, mut plain) in cases() {
        plain.solver.max_time_after_ramp_s = 1e4;
        // K1 / (n R) = 1.2e-15 / s: over 1e4 s at |T - T_b| < 2 K the heat moved is
        // below 3e-11 K per molecule, ~1e-10 K in temperature.
        let weak = linked(plain.clone(), 1e-20, None);
        let (a, b) = (run(&plain), run(&weak));
        check_energy_balance(&b, what);
        assert!(
            b.heat_to_bath_k.abs() < 3e-11,
            "{what}: {}",
            b.heat_to_bath_k
        );
        let mut compared = 0;
        for sa in a.samples.iter().filter(|s| s.t_s > a.ramp_duration_s) {
            if let Some(sb) = b.samples.iter().find(|s| s.t_s == sa.t_s) {
                assert!(
                    (sa.t_phonon_k - sb.t_phonon_k).abs() <= 2e-9,
                    "{what} at {} s: adiabatic {} K, weak link {} K",
                    sa.t_s,
                    sa.t_phonon_k,
                    sb.t_phonon_k
                );
                assert!((sa.right_well - sb.right_well).abs() <= 1e-9, "{what}");
                compared += 1;
            }
        }
        assert!(compared >= 20, "{what}: {compared} samples compared");
    }
}

/// A link whose time constant C/K is ~1e-10 s keeps the sample within 1e-6 K of the bath
/// through the ramp and after it, and the run ends at the bath.
#[test]
fn strong_link_pins_the_temperature_to_the_bath() {
    for (what, plain) in cases() {
        let ti = plain.protocol.initial_temperature_k;
        // K1 / (n R) = 1e10 / s against C ~ 0.1-1 k_B per molecule. After a jump the
        // intra-well relaxation (rates ~1e10 / s at 4 K) briefly outruns even this link: the
        // first microsecond after it is left out (nothing of a ramp is).
        let strong = linked(plain, 1e10 * AMOUNT * R, None);
        let tr = run(&strong);
        check_energy_balance(&tr, what);
        let settled = if tr.ramp_duration_s > 0.0 { 0.0 } else { 1e-6 };
        let worst = tr
            .samples
            .iter()
            .filter(|s| s.t_s <= 0.0 || s.t_s >= settled)
            .map(|s| (s.t_phonon_k - ti).abs())
            .fold(0.0, f64::max);
        assert!(worst <= 1e-6, "{what}: |T - T_bath| up to {worst:e} K");
        if settled == 0.0 {
            assert!((tr.minimum_temperature_k - ti).abs() <= 1e-6, "{what}");
        }
        assert_eq!(tr.outcome, Outcome::Equilibrium, "{what}");
        assert!((tr.t_final_k - ti).abs() <= 1e-9, "{what}");
    }
}

/// Spin levels of Mn12Ac written out here (Eq. 2): E_M = D (M^2 - S(S+1)/3) + g mu_B B M.
fn levels(b: f64) -> Vec<f64> {
    let (s, d, g, mu_b) = (10.0, -0.5 * 1.438_776_877, 2.05, 0.671_713_815_63);
    (0..21)
        .map(|i| {
            let m = f64::from(i) - s;
            d * (m * m - s * (s + 1.0) / 3.0) + g * mu_b * b * m
        })
        .collect()
}

fn boltzmann(e: &[f64], t: f64) -> Vec<f64> {
    let e0 = e.iter().copied().fold(f64::INFINITY, f64::min);
    let w: Vec<f64> = e.iter().map(|x| (-(x - e0) / t).exp()).collect();
    let z: f64 = w.iter().sum();
    w.iter().map(|x| x / z).collect()
}

/// Lattice energy per molecule (Debye, theta_D = 40.9 K, one unit) plus addenda, K.
fn lattice_energy(t: f64, gamma: f64, beta: f64) -> f64 {
    3.0 * PI.powi(4) / 5.0 * t.powi(4) / 40.9_f64.powi(3)
        + 0.5 * gamma * t * t
        + 0.25 * beta * t.powi(4)
}

/// Bisection for the increasing function f on [lo, hi].
fn bisect(f: impl Fn(f64) -> f64, mut lo: f64, mut hi: f64) -> f64 {
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if f(mid) > 0.0 {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Eq. 9 generalized to addenda: populations frozen at (B_i, T_i) through the jump, then the
/// equilibrium at B_f of the same total energy with the lattice and addenda heat capacity:
///   sum_M n_M^eq(B_f, T) E_M(B_f) + U_lat(T) + U_add(T)
///     = sum_M n_M^eq(B_i, T_i) E_M(B_f) + U_lat(T_i) + U_add(T_i).
#[test]
fn addenda_only_jump_relaxes_to_the_generalized_eq9_root() {
    let (bi, bf, ti) = (0.5, 0.1, 4.0);
    // SI addenda for 1e-6 mol: gamma' = 0.05 / K, beta' = 2e-3 / K^3 per molecule.
    let (gamma, beta) = (0.05, 2e-3);
    let mut s = Scenario::new(protocol(bi, bf, ti, None));
    s.sample = SampleSection {
        amount_mol: Some(AMOUNT),
        mass_mg: None,
        addenda_gamma_j_per_k2: Some(gamma * AMOUNT * R),
        addenda_beta_j_per_k4: Some(beta * AMOUNT * R),
    };
    let tr = run(&s);
    check_energy_balance(&tr, "addenda");
    assert_eq!(tr.outcome, Outcome::Equilibrium);
    let (ei, ef) = (levels(bi), levels(bf));
    let n0 = boltzmann(&ei, ti);
    let target: f64 =
        n0.iter().zip(&ef).map(|(n, e)| n * e).sum::<f64>() + lattice_energy(ti, gamma, beta);
    let root = |g: f64, b: f64| {
        bisect(
            |t| {
                let n = boltzmann(&ef, t);
                n.iter().zip(&ef).map(|(n, e)| n * e).sum::<f64>() + lattice_energy(t, g, b)
                    - target
                    + lattice_energy(ti, gamma, beta)
                    - lattice_energy(ti, g, b)
            },
            0.5,
            ti,
        )
    };
    let expected = root(gamma, beta);
    assert!(
        (tr.t_final_k - expected).abs() <= 1e-8,
        "engine {} K, energy-balance root {expected} K",
        tr.t_final_k
    );
    assert!((tr.t_final_sudden_k - expected).abs() <= 1e-8);
    // The addenda matter here: without them the root is elsewhere.
    let bare = root(0.0, 0.0);
    assert!((bare - expected).abs() > 1e-2, "{bare} vs {expected}");
}

/// Heat capacity per molecule that the link drains right after a small step to B_f at T_b,
/// with the well occupations frozen (their relaxation time at 2 K is ~1e8 s): the lattice's
/// 4 a T^3 plus each well's intra-well Var(E) / T^2, weighted by its occupation.
fn frozen_heat_capacity(bf: f64, t: f64) -> f64 {
    let e = levels(bf);
    let lattice = 12.0 * PI.powi(4) / 5.0 * (t / 40.9).powi(3);
    let eq = boltzmann(&e, t);
    let mut spin = 0.0;
    // Left well M < 0, right well M > 0 (M = 0, at the barrier top, carries ~exp(-50)).
    for well in [0..10, 11..21] {
        let mass: f64 = eq[well.clone()].iter().sum();
        let ew = &e[well];
        let p = boltzmann(ew, t);
        let mean: f64 = p.iter().zip(ew).map(|(p, e)| p * e).sum();
        let var: f64 = p.iter().zip(ew).map(|(p, e)| p * (e - mean).powi(2)).sum();
        spin += mass * var / (t * t);
    }
    lattice + spin
}

/// A small field step at T_b = 2 K under a link with K(T) = K1 T: after the intra-well
/// modes have settled, T - T_b decays as exp(-t K(T_b) / C) with C the frozen-occupation
/// heat capacity computed above; the deviation from that exponential falls with the step
/// (it is the nonlinearity, O(Delta T / T)).
#[test]
fn small_step_under_a_link_decays_with_the_time_constant_c_over_k() {
    let (bi, tb) = (0.2, 2.0);
    // K1 / (n R) = 0.05 / s K, so K(T_b) = 0.1 / s per molecule: tau = C / K ~ 1-10 s.
    let k1 = 0.05;
    let t0 = 1e-2;
    let mut errors = Vec::new();
    for step in [0.02, 0.01, 0.005] {
        let bf = bi - step;
        let tau = frozen_heat_capacity(bf, tb) / (k1 * tb);
        let times: Vec<f64> = [0.0, 0.1, 0.3, 1.0, 2.0, 4.0]
            .iter()
            .map(|x| t0 + x * tau)
            .collect();
        let mut s = linked(
            Scenario::new(protocol(bi, bf, tb, None)),
            k1 * AMOUNT * R,
            Some(1.0),
        );
        s.output.sample_times_after_ramp_s = ValueList(times.clone());
        s.output.log_points_per_decade = 0;
        s.solver.max_time_after_ramp_s = times[times.len() - 1];
        let tr = run(&s);
        check_energy_balance(&tr, "small step");
        let theta = |t: f64| tr.sample_after_ramp(t).unwrap().t_phonon_k - tb;
        let theta0 = theta(t0);
        assert!(theta0 < 0.0, "a field decrease cools");
        let worst = times[1..]
            .iter()
            .map(|&t| (theta(t) / theta0 - (-(t - t0) / tau).exp()).abs())
            .fold(0.0, f64::max);
        errors.push((step, theta0, worst));
    }
    for w in errors.windows(2) {
        assert!(
            w[1].2 < 0.7 * w[0].2,
            "the deviation should fall with the step: {errors:?}"
        );
    }
    assert!(errors[2].2 < 5e-3, "{errors:?}");
}

/// Bad link and sample input, on the command line and in a config: exit 2, one line naming
/// the flag or key and the value, nothing on stdout.
#[test]
fn bad_link_and_sample_input_is_refused_with_one_line() {
    let cases: &[(&str, &[&str])] = &[
        (
            "--sample-amount-mol 1e-6 --link-conductance-w-per-k -1",
            &["--link-conductance-w-per-k = -1", ">= 0"],
        ),
        (
            "--sample-amount-mol 1e-6 --link-conductance-w-per-k nan",
            &["--link-conductance-w-per-k", "NaN", "finite"],
        ),
        (
            "--sample-amount-mol -1 --link-conductance-w-per-k 1e-8",
            &["--sample-amount-mol = -1", "> 0"],
        ),
        (
            "--sample-amount-mol 0 --link-conductance-w-per-k 1e-8",
            &["--sample-amount-mol = 0", "> 0"],
        ),
        (
            "--sample-amount-mol 1e-6 --link-conductance-w-per-k 1e-8 --link-exponent 11",
            &["--link-exponent = 11", "[0, 10]"],
        ),
        (
            "--sample-amount-mol 1e-6 --link-conductance-w-per-k 1e-8 --link-exponent -0.5",
            &["--link-exponent = -0.5", "[0, 10]"],
        ),
        (
            "--sample-amount-mol 1e-6 --link-conductance-w-per-k 1e-8 --bath-temperature-k 0",
            &["--bath-temperature-k = 0", "> 0 K"],
        ),
        (
            "--sample-amount-mol 1e-6 --link-conductance-w-per-k 1e-8 --bath-temperature-k 0.05",
            &["--bath-temperature-k = 0.05", "not representable"],
        ),
        (
            "--link-conductance-w-per-k 1e-8",
            &[
                "--link-conductance-w-per-k = 1e-8",
                "--sample-amount-mol",
                "--sample-mass-mg",
            ],
        ),
        (
            "--addenda-gamma-j-per-k2 1e-7",
            &["--addenda-gamma-j-per-k2", "--sample-amount-mol"],
        ),
        (
            "--sample-amount-mol 1e-6 --addenda-beta-j-per-k4 -2",
            &["--addenda-beta-j-per-k4 = -2", ">= 0"],
        ),
        (
            "--link-exponent 1",
            &["--link-exponent = 1", "--link-conductance-w-per-k"],
        ),
        (
            "--material mn12-stearate --sample-mass-mg 1 --link-conductance-w-per-k 1e-8",
            &[
                "--sample-mass-mg = 1",
                "no molar mass",
                "--sample-amount-mol",
            ],
        ),
        (
            "--sample-amount-mol 1e-6 --sample-mass-mg 1",
            &["--sample-amount-mol", "--sample-mass-mg"],
        ),
        (
            "--sample-amount-mol 1e-300 --link-conductance-w-per-k 1e10",
            &[
                "--link-conductance-w-per-k = 1e10",
                "not a finite number per molecule",
            ],
        ),
    ];
    for (extra, needles) in cases {
        let mut args = common::jump_4k(&[]);
        args.extend(extra.split_whitespace());
        let out = common::run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        for n in *needles {
            assert!(err.contains(n), "{args:?}: '{n}' missing from: {err}");
        }
        assert!(out.stdout.is_empty(), "{args:?} wrote to stdout");
    }
    let dir = tempfile::tempdir().unwrap();
    let base = "[protocol]\nb_initial_t = 0.5\nb_final_t = 0.1\ninitial_temperature_k = 4\nsweep_rate_t_per_s = 10\n";
    let configs: &[(&str, &[&str])] = &[
        ("[sample]\namount_mol = 1e-6\n[link]\nconductance_w_per_k = -1\n", &["link.conductance_w_per_k = -1", ">= 0"]),
        ("[link]\nconductance_w_per_k = 1e-8\n", &["link.conductance_w_per_k", "sample.amount_mol"]),
        ("[sample]\namount_mol = 1e-6\n[link]\nconductance_w_per_k = 1e-8\nexponent = 12\n", &["link.exponent = 12", "[0, 10]"]),
        ("[sample]\namount_mol = 1e-6\n[link]\nconductance = 1e-8\n", &["unknown field", "conductance"]),
        (
            "[sample]\namount_mol = 1e-6\n[[sweep]]\nkey = \"link.conductance_w_per_k\"\nvalues = [1e-8, -1e-8]\n",
            &["link.conductance_w_per_k (run 1: link.conductance_w_per_k = ", ") = -1e-8: ", ">= 0"],
        ),
    ];
    for (text, needles) in configs {
        let cfg = common::write(dir.path(), "c.toml", &format!("{base}{text}"));
        let out = common::run(&["validate", cfg.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{text}: {err}");
        assert!(err.contains("c.toml"), "{err}");
        for n in *needles {
            assert!(err.contains(n), "{text}: '{n}' missing from: {err}");
        }
    }
}

/// A sweep over the link conductance runs, and each run's link acts (a stronger link brings
/// the sample closer to the bath within the hour).
#[test]
fn link_parameters_are_sweepable() {
    let text = "[protocol]\nb_initial_t = 1\nb_final_t = 0\ninitial_temperature_k = 3\nsweep_rate_t_per_s = 10\n\
                [sample]\nmass_mg = 1\n\
                [[sweep]]\nkey = \"link.conductance_w_per_k\"\nvalues = [1e-9, 1e-8]\n";
    let plan = smmcool::Plan::from_text(std::path::Path::new("s.toml"), text.to_string()).unwrap();
    let mut ends = Vec::new();
    for i in 0..2 {
        let (_, spec) = plan.run(i).unwrap();
        let tr = simulate(&CTX, &spec).unwrap();
        check_energy_balance(&tr, "sweep");
        assert_eq!(tr.outcome, Outcome::Equilibrium);
        assert!(
            tr.minimum_temperature_k < 2.81,
            "{}",
            tr.minimum_temperature_k
        );
        ends.push(3.0 - tr.sample_after_ramp(3600.0).unwrap().t_phonon_k);
    }
    assert!(
        ends[0] > 0.0 && ends[1] > 0.0 && ends[1] < 0.5 * ends[0],
        "{ends:?}"
    );
}

/// `simulate --json` of a linked run reports the lowest temperature after the ramp, when, and
/// the heat to the bath; the trajectory carries the heat columns, consistent with them.
#[test]
fn simulate_json_reports_the_minimum_and_the_heat() {
    let v = common::json(&[
        "simulate",
        "--b-initial-t",
        "1",
        "--b-final-t",
        "0",
        "--initial-temperature-k",
        "3",
        "--sweep-rate-t-per-s",
        "10",
        "--sample-mass-mg",
        "1",
        "--link-conductance-w-per-k",
        "1e-9",
        "--json",
        "--trajectory",
    ]);
    let t_min = v["minimum_temperature_k"].as_f64().unwrap();
    let when = v["minimum_after_ramp_s"].as_f64().unwrap();
    let heat = v["end_heat_to_bath_k"].as_f64().unwrap();
    let traj = &v["trajectory"];
    let temps: Vec<f64> = traj["phonon_temperature_k"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    let after: Vec<f64> = traj["time_after_ramp_s"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    for (t, a) in temps.iter().zip(&after) {
        if *a >= 0.0 {
            assert!(t_min <= *t, "minimum {t_min} above a sample {t} at {a} s");
        }
    }
    assert!(t_min < 2.81 && when >= 0.0, "{t_min} at {when} s");
    // The sample ended colder than the bath for a while: the bath gave heat (q < 0), and the
    // trajectory's last cumulative heat is the summary's.
    let q: Vec<f64> = traj["heat_to_bath_k"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert!(heat < 0.0, "{heat}");
    assert_eq!(q.last().copied(), Some(heat));
    assert_eq!(v["outcome"].as_str(), Some("equilibrium"));
}

/// A linked batch writes its sample, addenda and link to the HDF5 root attributes: the SI
/// values as given, the exponent and the bath temperature resolved (defaults 0 and T_i).
#[test]
fn batch_files_carry_the_sample_and_the_link() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::write(
        dir.path(),
        "l.toml",
        "[protocol]\nb_initial_t = 0.5\nb_final_t = 0.1\ninitial_temperature_k = 4\nshape = \"jump\"\n\
         [sample]\nmass_mg = 2\naddenda_beta_j_per_k4 = 1e-8\n[link]\nconductance_w_per_k = 5e-7\n\
         [output]\ntrajectory = false\n",
    );
    let out = dir.path().join("l.h5");
    common::run_ok(&["run", cfg.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    let p = smmcool::io::read_meta(&out).unwrap().physics.unwrap();
    assert_eq!(p.sample_mass_mg, Some(2.0));
    assert_eq!(p.sample_amount_mol, None);
    assert_eq!(p.addenda_gamma_j_per_k2, None);
    assert_eq!(p.addenda_beta_j_per_k4, Some(1e-8));
    assert_eq!(p.link_conductance_w_per_k, Some(5e-7));
    assert_eq!(p.link_exponent, Some(0.0));
    assert_eq!(p.bath_temperature_k, Some(4.0));
}

/// Linear response with two relaxations (issue 14): a small field step B_i -> B_f = B_i -
/// delta at T_b = 3 K, where the over-barrier rate lambda_1 (~0.014/s at 1 T) and the link's
/// K/C (~0.05/s) are comparable. Linearized about the equilibrium at (B_f, T_b), with
/// x = P_R - P_R^eq(B_f, T_b) and theta = T - T_b, the two-well balance and the link give
///   dx/dt     = -lambda_1 (x - p' theta),                p' = dP_R^eq/dT,
///   C dtheta/dt = -K theta - D_eps dx/dt,                D_eps = eps_R - eps_L,
/// C = C_lat + sum_w P_w Var_w(E) / T^2 (wells frozen), all at (B_f, T_b) and computed here
/// from the level formula (lambda_1 from the library's slow-mode solver). From the engine's
/// state 10 ms after the step (intra-well modes settled), theta(t) = [exp(A t) (x0, theta0)]_2
/// with the 2 x 2 matrix exponential in closed form. The deviation from it, relative to
/// |theta0|, is the nonlinearity: it falls in proportion to the step (3.0e-3, 1.5e-3,
/// 7.5e-4 for 0.04, 0.02, 0.01 T), while the link's exponential alone misses by far more.
#[test]
fn small_step_under_a_link_follows_the_two_linear_relaxations() {
    let (bi, tb) = (1.0, 3.0);
    // K / (n R) per molecule, 1/s (exponent 0: K constant).
    let k = 0.02;
    let t0 = 1e-2;
    let after: Vec<f64> = [0.0, 1.0, 3.0, 10.0, 30.0, 60.0, 100.0, 200.0]
        .iter()
        .map(|x| t0 + x)
        .collect();
    let mut errors = Vec::new();
    for step in [0.04, 0.02, 0.01] {
        let bf = bi - step;
        let mut s = linked(
            Scenario::new(protocol(bi, bf, tb, None)),
            k * AMOUNT * R,
            None,
        );
        s.output.sample_times_after_ramp_s = ValueList(after.clone());
        s.output.log_points_per_decade = 0;
        s.solver.max_time_after_ramp_s = after[after.len() - 1];
        let built = s.build().unwrap();
        let tr = simulate(&CTX, &built.spec).unwrap();
        check_energy_balance(&tr, "two relaxations");
        // The linear coefficients at (B_f, T_b).
        let e = levels(bf);
        let wells = |t: f64| {
            let n = boltzmann(&e, t);
            let (l, r): (f64, f64) = (n[..10].iter().sum(), n[11..].iter().sum());
            let mean = |w: std::ops::Range<usize>| {
                let p = boltzmann(&e[w.clone()], t);
                p.iter().zip(&e[w]).map(|(p, e)| p * e).sum::<f64>()
            };
            (r / (l + r), mean(11..21) - mean(0..10))
        };
        let (p_star, d_eps) = wells(tb);
        let h = 1e-4;
        let dp = (wells(tb + h).0 - wells(tb - h).0) / (2.0 * h);
        let c = frozen_heat_capacity(bf, tb);
        let rates = s.rates.build(&built.spec.material).unwrap();
        let lambda = rates.kappa(tb).unwrap()
            * rates
                .unscaled_slow_mode(bf, tb)
                .unwrap()
                .unwrap()
                .lambda1_per_s;
        let a = [
            [-lambda, lambda * dp],
            [d_eps * lambda / c, -(k + d_eps * lambda * dp) / c],
        ];
        // exp(A t) = (e^{m1 t} (A - m2) - e^{m2 t} (A - m1)) / (m1 - m2), m1 != m2 real.
        let (tr_a, det) = (a[0][0] + a[1][1], a[0][0] * a[1][1] - a[0][1] * a[1][0]);
        let disc = (tr_a * tr_a / 4.0 - det).sqrt();
        let (m1, m2) = (tr_a / 2.0 + disc, tr_a / 2.0 - disc);
        let first = tr.sample_after_ramp(t0).unwrap();
        let (x0, th0) = (first.right_well - p_star, first.t_phonon_k - tb);
        let theta = |t: f64| {
            let (e1, e2) = ((m1 * t).exp(), (m2 * t).exp());
            let row = |j: usize| (e1 * a[1][j] - e2 * a[1][j]) / (m1 - m2);
            let diag = (e1 * (a[1][1] - m2) - e2 * (a[1][1] - m1)) / (m1 - m2);
            row(0) * x0 + diag * th0
        };
        let worst = after[1..]
            .iter()
            .map(|&t| {
                let got = tr.sample_after_ramp(t).unwrap().t_phonon_k - tb;
                (got - theta(t - t0)).abs() / th0.abs()
            })
            .fold(0.0, f64::max);
        // The link alone (spins frozen, one exponential at K/C) misses the spins' part.
        let single = after[1..]
            .iter()
            .map(|&t| {
                let got = tr.sample_after_ramp(t).unwrap().t_phonon_k - tb;
                (got - th0 * (-(k / c) * (t - t0)).exp()).abs() / th0.abs()
            })
            .fold(0.0, f64::max);
        println!(
            "step {step} T: theta0 {th0:.4e} K, x0 {x0:.3e}, rates {:.4e} {:.4e} /s (lambda_1 {lambda:.4e}, K/C {:.4e}), worst |dtheta|/|theta0| {worst:.3e} (link alone {single:.3e})",
            -m1, -m2, k / c
        );
        assert!(single > 10.0 * worst, "{single} {worst}");
        errors.push((step, worst));
    }
    for w in errors.windows(2) {
        let ratio = w[1].1 / w[0].1;
        assert!(
            (0.35..0.65).contains(&ratio),
            "halving the step should halve the deviation: {errors:?}"
        );
    }
    assert!(errors[2].1 < 1e-2, "{errors:?}");
}

/// The energy balance is checked on every run (issue 14): a run whose balance is off by more
/// than `energy_balance_tol_rel` (default 1e-8) fails with the typed error naming the error,
/// the tolerance and where; the check is live: a tolerance below the run's own rounding
/// (here half of it) fails the very run that passes at the default. The tolerance is the key
/// `solver.energy_balance_tol_rel` (flag `--energy-balance-tol-rel`, keyword
/// `energy_balance_tol_rel`), refused outside [0, 1].
#[test]
fn a_broken_energy_balance_fails_the_run_with_a_typed_error() {
    use smmcool::kinetics::{EngineError, ENERGY_BALANCE_TOL_REL};
    for (what, s) in cases() {
        let mut s = linked(s, 1e-7, None);
        let spec = s.build().unwrap().spec;
        assert!((spec.options.energy_balance_tol_rel - ENERGY_BALANCE_TOL_REL).abs() <= 0.0);
        let ok = simulate(&CTX, &spec).unwrap();
        println!("{what}: energy balance {:.2e}", ok.energy_balance_error);
        assert!(ok.energy_balance_error <= 1e-8);
        if ok.energy_balance_error <= 0.0 {
            continue;
        }
        s.solver.energy_balance_tol_rel = 0.5 * ok.energy_balance_error;
        let spec = s.build().unwrap().spec;
        match simulate(&CTX, &spec) {
            Err(e @ EngineError::EnergyBalance { .. }) => {
                let EngineError::EnergyBalance {
                    error_rel,
                    tol_rel,
                    t_s,
                    ..
                } = e
                else {
                    unreachable!()
                };
                assert!((error_rel - ok.energy_balance_error).abs() <= 0.0, "{what}");
                assert!((tol_rel - 0.5 * error_rel).abs() <= 0.0);
                assert!(ok.samples.iter().any(|x| (x.t_s - t_s).abs() <= 0.0));
                assert!(e.to_string().contains("energy balance broken"), "{e}");
            }
            other => panic!("{what}: expected the energy-balance error, got {other:?}"),
        }
    }
}

/// `--energy-balance-tol-rel` on the command line: half of the run's own balance error fails
/// it (exit 1, one line saying so), the default passes it, and a value outside [0, 1] exits 2
/// naming the flag and the value; in a config `solver.energy_balance_tol_rel`.
#[test]
fn the_energy_balance_tolerance_is_a_flag_and_a_key() {
    let ok = common::json(&common::jump_4k(&["--json"]));
    let err = ok["energy_balance_error_rel"].as_f64().unwrap();
    println!("jump from 4 K: energy balance error {err:e}");
    assert!(err > 0.0 && err <= 1e-8, "{err}");
    let half = format!("{:e}", 0.5 * err);
    let out = common::run(&common::jump_4k(&["--energy-balance-tol-rel", &half]));
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("energy balance broken"), "{text}");
    assert_eq!(text.trim_end().lines().count(), 1, "{text}");
    let exact = format!("{err:e}");
    common::run_ok(&common::jump_4k(&["--energy-balance-tol-rel", &exact]));
    for bad in ["2", "-1e-9"] {
        let out = common::run(&common::jump_4k(&["--energy-balance-tol-rel", bad]));
        let text = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}");
        assert!(
            text.contains(&format!("--energy-balance-tol-rel = {bad} is not allowed")),
            "{text}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::write(
        dir.path(),
        "c.toml",
        "[protocol]\nb_initial_t = 0.5\nb_final_t = 0.1\ninitial_temperature_k = 4.0\nshape = \"jump\"\n[solver]\nenergy_balance_tol_rel = 1.5\n",
    );
    let out = common::run(&["validate", cfg.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("solver.energy_balance_tol_rel = 1.5"),
        "{text}"
    );
}
