//! The benchmark cases, one list shared by each criterion benchmark and the example that runs
//! the same cases without criterion for instruction counts (`benches/trajectory.rs` with
//! `examples/trajectory_runs.rs`, `benches/tunnelling.rs` with `examples/tunnelling_runs.rs`),
//! so that a count under valgrind measures exactly what the benchmark times. Included with
//! `#[path]`; each includer uses part of it.
#![allow(dead_code)]

use smmcool::model::protocol::{Protocol, RampShape};
use smmcool::model::tunnelling::AnisotropyOverrides;
use smmcool::model::{HeatLink, Material, Overrides};

/// One benchmark run: `key` names it on the example's command line, `name` in criterion.
pub struct Case {
    pub key: &'static str,
    pub name: &'static str,
    pub protocol: Protocol,
    pub t_initial_k: f64,
    pub link: Option<HeatLink>,
}

/// The case of `cases` named `key` on an example's command line; an unknown key ends the
/// process with `unknown case KEY` and exit code 2.
pub fn by_key(cases: Vec<Case>, key: &str) -> Case {
    cases.into_iter().find(|c| c.key == key).unwrap_or_else(|| {
        eprintln!("unknown case {key}");
        std::process::exit(2)
    })
}

/// A linear ramp 0.5 T -> 0.1 T at `rate_t_per_s`.
pub fn ramp(rate_t_per_s: f64) -> Protocol {
    Protocol::with_sweep_rate(0.5, 0.1, rate_t_per_s, RampShape::Linear).unwrap()
}

fn case(
    key: &'static str,
    name: &'static str,
    protocol: Protocol,
    t_initial_k: f64,
    link: Option<HeatLink>,
) -> Case {
    Case {
        key,
        name,
        protocol,
        t_initial_k,
        link,
    }
}

/// The warm-trajectory runs (material `mn12ac`, rtol 1e-8): a jump and three ramp rates from
/// 4 K, the paper's 10 T/s from 3 K, and the 10 T/s runs linked to a bath at T_i (issue 14):
/// K = 3e-3 / s per molecule (time constant C/K ~ 100 s at 3 K) and 0.06 / s (~10 s at 4 K),
/// run until the sample is back at the bath.
pub fn trajectory_cases() -> Vec<Case> {
    vec![
        case(
            "jump",
            "jump_0.5T_to_0.1T_4K",
            Protocol::jump(0.5, 0.1).unwrap(),
            4.0,
            None,
        ),
        case("fast", "fast_ramp_1e6Tps_4K", ramp(1e6), 4.0, None),
        case("slow", "slow_ramp_1e-3Tps_4K", ramp(1e-3), 4.0, None),
        case("paper3", "paper_10Tps_3K", ramp(10.0), 3.0, None),
        case("paper4", "paper_10Tps_4K", ramp(10.0), 4.0, None),
        case(
            "linked3",
            "paper_10Tps_3K_linked_tau_100s",
            ramp(10.0),
            3.0,
            HeatLink::new(3e-3, 0.0, 3.0).ok(),
        ),
        case(
            "linked4",
            "paper_10Tps_4K_linked_tau_10s",
            ramp(10.0),
            4.0,
            HeatLink::new(0.06, 0.0, 4.0).ok(),
        ),
    ]
}

/// The tunnelling-cost runs: the paper's 10 T/s ramp 0.5 -> 0.1 T from 4 and 2 K, and jumps
/// from 0.5 T at 3 K to 0.1 T (inside the window of the k = 0 resonance) and to B = 0 (on the
/// k = 0 resonance of every pair).
pub fn tunnelling_cases() -> Vec<Case> {
    vec![
        case("paper4", "paper_10Tps_4K", ramp(10.0), 4.0, None),
        case("paper2", "paper_10Tps_2K", ramp(10.0), 2.0, None),
        case(
            "jump01",
            "jump_0.5T_to_0.1T_3K",
            Protocol::jump(0.5, 0.1).unwrap(),
            3.0,
            None,
        ),
        case(
            "jump0",
            "jump_0.5T_to_0T_3K",
            Protocol::jump(0.5, 0.0).unwrap(),
            3.0,
            None,
        ),
    ]
}

/// The materials of the tunnelling runs: `barra` (`mn12ac-barra`, with tunnelling),
/// `barra_c0` (the same levels with C = 0: no tunnelling), `mn12ac` (the paper's axial one).
pub const TUNNELLING_MATERIALS: [&str; 3] = ["barra", "barra_c0", "mn12ac"];

/// The material of one of [`TUNNELLING_MATERIALS`] (`None` for another key).
pub fn tunnelling_material(key: &str) -> Option<Material> {
    match key {
        "barra" => Some(Material::for_trajectories("mn12ac-barra", &Overrides::default()).unwrap()),
        "barra_c0" => Some(
            Material::for_trajectories_with(
                "mn12ac-barra",
                &Overrides::default(),
                &AnisotropyOverrides {
                    c4_k: Some(0.0),
                    ..AnisotropyOverrides::default()
                },
            )
            .unwrap(),
        ),
        "mn12ac" => Some(Material::mn12ac()),
        _ => None,
    }
}
