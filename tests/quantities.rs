//! The HDF5 file, `inspect --json` and `simulate --json` list exactly the quantities of the one
//! table in `smmcool::results`, with its units.

use smmcool::results::{Access, SUMMARY, TRAJECTORY};
use std::collections::BTreeSet;
mod common;

use common::{json, run_ok as bin};

fn names<'a>(it: impl Iterator<Item = &'a str>) -> BTreeSet<String> {
    it.map(str::to_string).collect()
}

#[test]
fn hdf5_inspect_and_simulate_use_the_one_table() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        "[protocol]\nb_initial_t = 0.5\nb_final_t = 0.1\nshape = \"jump\"\n[output]\nlog_points_per_decade = 1\n[[sweep]]\nkey = \"protocol.initial_temperature_k\"\nvalues = [3.5, 4.0]\n",
    )
    .unwrap();
    let h5 = dir.path().join("o.h5");
    bin(&[
        "run",
        cfg.to_str().unwrap(),
        "-o",
        h5.to_str().unwrap(),
        "-q",
    ]);

    // HDF5: /summary holds one member per quantity (the swept values as a group, plus the
    // sample times), each numeric one with the table's unit.
    let file = hdf5::File::open(&h5).unwrap();
    let summary = file.group("summary").unwrap();
    let mut expected = names(SUMMARY.iter().map(|q| q.name));
    expected.insert("sample_times_after_ramp_s".into());
    assert_eq!(
        names(summary.member_names().unwrap().iter().map(String::as_str)),
        expected
    );
    for q in SUMMARY {
        if matches!(q.access, Access::Text(..) | Access::Swept) {
            continue;
        }
        let unit = common::unit_of(&summary.dataset(q.name).unwrap());
        assert_eq!(unit, q.unit, "{}", q.name);
    }
    let run = file.group("runs/run_000000").unwrap();
    // Each trajectory quantity, plus the level axis (the M values, a dimension scale).
    let mut expected = names(TRAJECTORY.iter().map(|q| q.name));
    expected.insert(smmcool::io::hdf5::LEVEL_SCALE.into());
    assert_eq!(
        names(run.member_names().unwrap().iter().map(String::as_str)),
        expected
    );
    for q in TRAJECTORY {
        let unit = common::unit_of(&run.dataset(q.name).unwrap());
        assert_eq!(unit, q.unit, "{}", q.name);
    }
    drop((summary, run, file));

    // inspect --json: every run has exactly the table's keys.
    let v = json(&["inspect", h5.to_str().unwrap(), "--json"]);
    for r in v["runs"].as_array().unwrap() {
        let keys = names(r.as_object().unwrap().keys().map(String::as_str));
        assert_eq!(keys, names(SUMMARY.iter().map(|q| q.name)));
    }

    // simulate --json: the table's quantities (but the batch-only run index, swept values and
    // error) and its own documented extras; the trajectory has the trajectory table's keys.
    let v = json(&common::jump_4k(&[
        "--log-points-per-decade",
        "1",
        "--json",
        "--trajectory",
    ]));
    let keys = names(v.as_object().unwrap().keys().map(String::as_str));
    let mut want: BTreeSet<String> = SUMMARY
        .iter()
        .map(|q| q.name.to_string())
        .filter(|n| !["run_index", "swept", "error"].contains(&n.as_str()))
        .collect();
    for extra in [
        "material",
        "hamiltonian",
        "scenario",
        "sample_times_after_ramp_s",
        "end_delta_temperature_k",
        "sudden_delta_temperature_k",
        "equilibrium_delta_temperature_k",
        "energy_balance_error_k",
        "population_sum_error_abs",
        "handover",
        "steps_full",
        "steps_reduced",
        "rejected_steps",
        "rhs_evals",
        "quadrature_evals",
        "table_nodes",
        "samples",
        "trajectory",
    ] {
        want.insert(extra.to_string());
    }
    assert_eq!(keys, want);
    let traj = v["trajectory"].as_object().unwrap();
    assert_eq!(
        names(traj.keys().map(String::as_str)),
        names(TRAJECTORY.iter().map(|q| q.name))
    );
    // The summary values agree between a lone run and the batch run of the same scenario.
    let batch = json(&["inspect", h5.to_str().unwrap(), "--json"]);
    let b = &batch["runs"][1];
    for q in SUMMARY {
        if let Access::F64(..) = q.access {
            if q.name == "wall_time_s" {
                continue;
            }
            assert_eq!(v[q.name], b[q.name], "{}", q.name);
        }
    }
}
