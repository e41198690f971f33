//! Trajectories with resonant tunnelling (issue 18): the physical invariants of runs through
//! resonances: energy and population conservation, the Boltzmann state at the end (detailed
//! balance of the tunnelling rates), the second law, and tunnelling never slowing the
//! relaxation down.

mod common;

use smmcool::kinetics::{simulate, EngineContext, EngineOptions, Formulation, Outcome, RunSpec};
use smmcool::model::protocol::{Protocol, RampShape};
use smmcool::model::thermo::boltzmann;
use smmcool::model::tunnelling::AnisotropyOverrides;
use smmcool::model::{Material, Overrides};

fn barra(transverse: bool) -> Material {
    let a = if transverse {
        AnisotropyOverrides::default()
    } else {
        AnisotropyOverrides {
            c4_k: Some(0.0),
            ..AnisotropyOverrides::default()
        }
    };
    Material::with_hamiltonian("mn12ac-barra", &Overrides::default(), &a)
        .unwrap()
        .0
}

fn run(mat: Material, protocol: Protocol, t_k: f64, formulation: Formulation) -> RunSpec {
    RunSpec::new(mat, protocol, t_k).with_options(EngineOptions {
        formulation,
        ..EngineOptions::default()
    })
}

/// Runs through resonances (the paper's protocol from 3 and 4 K in the two-well reduction, a
/// ramp across the k = 2 and k = 0 resonances from 5 K in the full equation, a hold inside the
/// k = 0 window at 6 K): energy and populations conserved, no negative population, the
/// entropy never falls, and every run ends at equilibrium. In the full equation the final
/// populations are the Boltzmann ones at the final temperature to 1e-9 relative: detailed
/// balance of the tunnelling rates (with the symmetric rates of the sources the stationary
/// state departs from Boltzmann by up to 10 % on the barrier-top pairs). Tunnelling never
/// makes the relaxation slower than the same levels without it (C = 0).
#[test]
fn runs_through_resonances_keep_the_invariants() {
    let ctx = EngineContext::new();
    let cases = [
        (0.5, 0.1, 3.0, 10.0, Formulation::Auto),
        (0.5, 0.1, 4.0, 10.0, Formulation::Auto),
        (1.2, 0.0, 5.0, 2.0, Formulation::Full),
        (0.3, 0.05, 6.0, 10.0, Formulation::Full),
    ];
    for (bi, bf, ti, rate, formulation) in cases {
        let p = Protocol::with_sweep_rate(bi, bf, rate, RampShape::Linear).unwrap();
        let with = simulate(&ctx, &run(barra(true), p.clone(), ti, formulation)).unwrap();
        let without = simulate(&ctx, &run(barra(false), p, ti, formulation)).unwrap();
        let label = format!("{bi} -> {bf} T from {ti} K ({formulation:?})");
        eprintln!(
            "{label}: energy {:.1e}, sum {:.1e}, min n {:.1e}, entropy fall {:.1e}, 10 % after {:?} s (without {:?} s)",
            with.energy_balance_error,
            with.population_sum_error,
            with.min_population,
            with.entropy_decrease_max,
            with.relax_10pct_s,
            without.relax_10pct_s
        );
        assert!(with.energy_balance_error < 1e-9, "{label}");
        assert!(with.population_sum_error < 1e-12, "{label}");
        assert!(with.min_population > -1e-15, "{label}");
        assert!(with.entropy_decrease_max < 1e-12, "{label}");
        assert_eq!(with.outcome, Outcome::Equilibrium, "{label}");
        let (a, b) = (with.relax_10pct_s.unwrap(), without.relax_10pct_s.unwrap());
        assert!(a <= b * (1.0 + 1e-9), "{label}: {a} vs {b}");
        if formulation == Formulation::Full {
            let last = with.samples.last().unwrap();
            let eq = boltzmann(&barra(true).spin.energies(bf), last.t_phonon_k);
            for (i, (&n, &e)) in last.populations.iter().zip(&eq).enumerate() {
                assert!(
                    (n - e).abs() <= 1e-9 * e + 1e-15,
                    "{label}: level {i}: {n} vs Boltzmann {e}"
                );
            }
        }
    }
}

/// With every term of the Hamiltonian beyond Eq. 1 given as zero (`material.b4_k`, `c4_k`,
/// `e_k`, `transverse_field_t`, `misalignment_deg` = 0, keys or flags) a run is the axial
/// engine's bit for bit: Delta T 1 ms, 1 s and 1 h after the paper's 10 T/s ramp and the
/// equilibrium, at the 19 initial temperatures 1.5-6 K, equal those of the same run without
/// the keys (the axial preset) by their bits, and the numbers the engine wrote before
/// tunnelling existed (docs/figures/practical_times.csv at commit 6c40fc7, kept in
/// tests/data) within 1e-12 K: they were equal by their bits until session 32, whose
/// relaxation retries the table's temperature solves that used to fall back to the exact
/// energy balance (docs/numerics.md section 8), moving 31 of the 76 by at most 4.0e-13 K;
/// the command line's flags give the same bits as the keys.
#[test]
fn zero_transverse_terms_give_the_axial_numbers_bit_for_bit() {
    use smmcool::scenario::{ProtocolSection, Scenario, ValueList};
    let text = include_str!("data/axial_pre_tunnelling_6c40fc7.csv");
    let mut stored: Vec<(String, f64, f64)> = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')).skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        stored.push((
            f[0].to_string(),
            f[1].parse().unwrap(),
            f[2].parse().unwrap(),
        ));
    }
    let tis: Vec<f64> = stored
        .iter()
        .filter(|(s, _, _)| s == "1 ms after the ramp")
        .map(|r| r.1)
        .collect();
    assert_eq!(tis.len(), 19);
    let ctx = EngineContext::new();
    let mut compared = 0;
    let mut at_2_k = Vec::new();
    for &ti in &tis {
        let mut sc = Scenario::new(ProtocolSection::linear_ramp(0.5, 0.1, ti, 10.0));
        sc.output.sample_times_after_ramp_s = ValueList(vec![1e-3, 1.0, 3600.0]);
        sc.output.log_points_per_decade = 0;
        let axial = simulate(&ctx, &sc.clone().build().unwrap().spec).unwrap();
        sc.material.b4_k = Some(0.0);
        sc.material.c4_k = Some(0.0);
        sc.material.e_k = Some(0.0);
        sc.material.transverse_field_t = Some(0.0);
        sc.material.misalignment_deg = Some(0.0);
        let spec = sc.build().unwrap().spec;
        assert!(!spec.material.has_tunnelling());
        assert_eq!(spec.material.name, "mn12ac");
        let tr = simulate(&ctx, &spec).unwrap();
        let values = |tr: &smmcool::kinetics::Trajectory| {
            [
                (
                    "1 ms after the ramp",
                    tr.sample_after_ramp(1e-3).unwrap().t_phonon_k - ti,
                ),
                (
                    "1 s after the ramp",
                    tr.sample_after_ramp(1.0).unwrap().t_phonon_k - ti,
                ),
                (
                    "1 h after the ramp",
                    tr.sample_after_ramp(3600.0).unwrap().t_phonon_k - ti,
                ),
                (
                    "equilibrium after this ramp (kinetic)",
                    tr.t_equilibrium_k - ti,
                ),
            ]
        };
        for ((series, value), (_, of_axial)) in values(&tr).into_iter().zip(values(&axial)) {
            assert_eq!(
                value.to_bits(),
                of_axial.to_bits(),
                "{series}, Ti = {ti} K: {value} with the zero keys, {of_axial} without"
            );
            let want = stored
                .iter()
                .find(|(s, t, _)| s == series && *t == ti)
                .unwrap()
                .2;
            assert!(
                (value - want).abs() <= 1e-12,
                "{series}, Ti = {ti} K: {value} vs {want} at 6c40fc7"
            );
            if ti == 2.0 {
                at_2_k.push((series, value));
            }
            compared += 1;
        }
    }
    assert_eq!(compared, 76);
    // The flags: the same bits at Ti = 2 K.
    let doc = common::json(&[
        "simulate",
        "--b-initial-t",
        "0.5",
        "--b-final-t",
        "0.1",
        "--initial-temperature-k",
        "2",
        "--sweep-rate-t-per-s",
        "10",
        "--sample-times-after-ramp-s",
        "1e-3,1,3600",
        "--log-points-per-decade",
        "0",
        "--b4-k",
        "0",
        "--c4-k",
        "0",
        "--e-k",
        "0",
        "--transverse-field-t",
        "0",
        "--misalignment-deg",
        "0",
        "--json",
    ]);
    let temps: Vec<f64> = doc["sample_temperatures_k"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    for (series, t) in [
        "1 ms after the ramp",
        "1 s after the ramp",
        "1 h after the ramp",
    ]
    .iter()
    .zip(temps)
    {
        let want = at_2_k.iter().find(|(s, _)| s == series).unwrap().1;
        assert_eq!((t - 2.0).to_bits(), want.to_bits(), "--flags, {series}");
    }
}
