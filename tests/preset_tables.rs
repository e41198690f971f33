//! The tables shipped with the program for the default material (data/preset_tables.bin,
//! src/kinetics/preset.rs): every panel equals a fresh computation bit for bit, and a run
//! that starts with them gives the bits of a run that builds everything itself.

use smmcool::kinetics::{preset, simulate, EngineContext, RunSpec};
use smmcool::model::protocol::{Protocol, RampShape};
use smmcool::model::Material;

#[test]
fn shipped_tables_equal_a_fresh_computation() {
    let (kappa_panels, plane_panels, line_panels) = preset::check().unwrap();
    // The whole kappa(T) table over 0.25-64 K, and the plane and 0.1 T line panels of the
    // covered runs.
    assert!(kappa_panels >= 5, "{kappa_panels}");
    assert!(plane_panels >= 10, "{plane_panels}");
    assert!(line_panels >= 3, "{line_panels}");
}

#[test]
fn a_run_with_the_shipped_tables_equals_one_that_builds_them() {
    let ramp = |rate: f64| Protocol::with_sweep_rate(0.5, 0.1, rate, RampShape::Linear).unwrap();
    for (name, protocol, ti) in [
        ("jump from 4 K", Protocol::jump(0.5, 0.1).unwrap(), 4.0),
        ("1e-3 T/s from 4 K", ramp(1e-3), 4.0),
        ("10 T/s from 3 K", ramp(10.0), 3.0),
        // Outside the covered runs: panels shipped and built side by side.
        (
            "1e-2 T/s 1 T -> 0 T from 2 K",
            Protocol::with_sweep_rate(1.0, 0.0, 1e-2, RampShape::Linear).unwrap(),
            2.0,
        ),
    ] {
        let spec = RunSpec::new(Material::mn12ac(), protocol, ti);
        let shipped = simulate(&EngineContext::new(), &spec).unwrap();
        let built = simulate(&EngineContext::without_shipped_tables(), &spec).unwrap();
        assert_eq!(
            format!("{:?}", shipped.samples),
            format!("{:?}", built.samples),
            "{name}"
        );
        assert_eq!(
            shipped.t_final_k.to_bits(),
            built.t_final_k.to_bits(),
            "{name}"
        );
        assert!(shipped.table_nodes <= built.table_nodes, "{name}");
        if name == "1e-3 T/s from 4 K" || name == "jump from 4 K" {
            // The panels of a covered run are all shipped.
            assert!(built.table_nodes >= 68, "{}", built.table_nodes);
            assert_eq!(shipped.table_nodes, 0, "{name}");
        }
    }
}

/// Writes data/preset_tables.bin; run by scripts/regenerate_preset_tables.sh.
#[test]
#[ignore = "writes data/preset_tables.bin: scripts/regenerate_preset_tables.sh"]
fn regenerate_preset_tables() {
    let bytes = preset::generate().unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/preset_tables.bin");
    std::fs::write(path, bytes).unwrap();
}
