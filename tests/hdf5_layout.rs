//! The batch file explains itself to the tools users open it with (issue 16): xarray (through
//! h5netcdf) opens the summary and a run with named dimensions and coordinates and no
//! `phony_dims`, h5py sees the dimension scales, every numeric dataset carries CF `units`, and
//! the root holds the resolved physics and the command line. Python (h5py, xarray, h5netcdf;
//! CI installs them) reads the file written by `smmcool run`; the expected numbers come from
//! the preset's published values and from the crate's own reader.

mod common;

use common::{smmcool, write};

const CONFIG: &str = r#"
[protocol]
b_initial_t = 0.5
b_final_t = 0.1
initial_temperature_k = 4.0

[output]
sample_times_after_ramp_s = [1e-3, 1.0]
trajectory = true
log_points_per_decade = 2

[[sweep]]
key = "protocol.sweep_rate_t_per_s"
log = { start = 1.0, stop = 100.0, count = 3 }
"#;

const PYTHON: &str = r#"
import json, sys
import h5py, xarray as xr
path = sys.argv[1]
out = {}
with h5py.File(path, "r") as f:
    out["root"] = {k: (v.decode() if isinstance(v, bytes) else v.item() if hasattr(v, "item") else v)
                   for k, v in f.attrs.items()}
    missing = []
    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "fiu" and "units" not in obj.attrs:
            missing.append(name)
    f.visititems(visit)
    out["numeric_without_units"] = missing
    pops = f["runs/run_000001/populations"]
    out["h5py_dims"] = [[s.name for s in d.values()] for d in pops.dims]
    out["h5py_level_scale"] = pops.dims[1][0][()].tolist()
s = xr.open_dataset(path, group="summary", engine="h5netcdf")
out["summary_dims"] = {k: int(v) for k, v in s.sizes.items()}
out["summary_coords"] = sorted(s.coords)
out["sample_dims"] = list(s["sample_temperatures_k"].dims)
out["rate_10_rows"] = int((s["sweep_rate_t_per_s"] == 10).sum())
out["end_temperature_k"] = s["end_temperature_k"].values.tolist()
out["outcome_flags"] = s["outcome"].attrs["flag_meanings"]
r = xr.open_dataset(path, group="runs/run_000001", engine="h5netcdf")
out["run_dims"] = {k: int(v) for k, v in r.sizes.items()}
out["population_dims"] = list(r["populations"].dims)
out["level_m"] = r["level_m"].values.tolist()
out["time_s"] = r["time_s"].values.tolist()
out["time_after_ramp_s"] = r["time_after_ramp_s"].values.tolist()
out["magnetization_mu_b"] = r["magnetization_mu_b"].values.tolist()
out["units"] = {k: r[k].attrs.get("units") for k in list(r.data_vars) + list(r.coords)}
print(json.dumps(out))
"#;

#[test]
fn xarray_and_h5py_read_named_dimensions_units_and_physics() {
    let has = common::python()
        .args(["-c", "import h5py, xarray, h5netcdf"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        has,
        "this test requires python3 with h5py, xarray and h5netcdf (scripts/test.sh prepares them in target/python-venv and sets SMMCOOL_PYTHON)"
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "layout.toml", CONFIG);
    let h5 = dir.path().join("layout.h5");
    let out = smmcool()
        .args([
            "run",
            cfg.to_str().unwrap(),
            "-o",
            h5.to_str().unwrap(),
            "--quiet",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let py = common::python()
        .arg("-c")
        .arg(PYTHON)
        .arg(&h5)
        .output()
        .unwrap();
    assert!(
        py.status.success(),
        "python failed:\n{}",
        String::from_utf8_lossy(&py.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&py.stdout).unwrap();
    let f = |x: &serde_json::Value| x.as_f64().unwrap();
    let floats =
        |x: &serde_json::Value| -> Vec<f64> { x.as_array().unwrap().iter().map(f).collect() };

    // Root: the resolved physics (Mn12Ac: S = 10, D = -0.5 cm^-1 = -0.7194 K with
    // hc/k_B = 1.438776877 cm K, g = 2.05, theta_D = 40.9 K, tau0 = 2.1e-7 s, U_b = 70.3 K).
    let root = &v["root"];
    assert_eq!(root["format_version"].as_u64(), Some(4));
    assert_eq!(f(&root["spin"]), 10.0);
    assert!(root.get("spin_s").is_none(), "{root}");
    assert!(
        (f(&root["d_k"]) + 0.5 * 1.438_776_877).abs() < 1e-9,
        "{root}"
    );
    assert_eq!(f(&root["g_par"]), 2.05);
    assert_eq!(f(&root["debye_temperature_k"]), 40.9);
    assert_eq!(f(&root["tau0_s"]), 2.1e-7);
    assert_eq!(f(&root["barrier_k"]), 70.3);
    assert!(f(&root["phonon_units"]) > 0.0);
    // The axial preset: no term beyond D (the paper's Eq. 1).
    for name in [
        "b4_k",
        "c4_k",
        "e_k",
        "transverse_field_t",
        "misalignment_deg",
    ] {
        assert_eq!(root[name].as_f64(), Some(0.0), "{name}: {root}");
    }
    assert_eq!(root["material"].as_str(), Some("mn12ac"));
    assert_eq!(root["kappa_scaling"].as_str(), Some("arrhenius"));
    let cmd = root["command_line"].as_str().unwrap();
    assert!(
        cmd.contains(" run ") && cmd.contains("layout.toml"),
        "{cmd}"
    );

    // CF units on every numeric dataset.
    assert_eq!(v["numeric_without_units"], serde_json::json!([]));

    // The summary: one dimension per axis, named, with coordinates; log decades exact.
    assert_eq!(
        v["summary_dims"],
        serde_json::json!({"run_index": 3, "sample_times_after_ramp_s": 2})
    );
    assert_eq!(
        v["summary_coords"],
        serde_json::json!(["run_index", "sample_times_after_ramp_s"])
    );
    assert_eq!(
        v["sample_dims"],
        serde_json::json!(["run_index", "sample_times_after_ramp_s"])
    );
    assert_eq!(v["rate_10_rows"].as_u64(), Some(1));
    assert_eq!(
        v["outcome_flags"].as_str(),
        Some("equilibrium end_time failed")
    );
    let recs = smmcool::io::read_summary(&h5).unwrap();
    let ends: Vec<f64> = recs
        .iter()
        .map(|r| r.summary.end_temperature_k.unwrap())
        .collect();
    assert_eq!(floats(&v["end_temperature_k"]), ends);

    // A run: time and level dimensions, M = -10..10, time after the ramp, the moment.
    let tr = smmcool::io::read_trajectory(&h5, 1).unwrap().unwrap();
    assert_eq!(
        v["run_dims"],
        serde_json::json!({"time_s": tr.time_s.len(), "level_m": 21})
    );
    assert_eq!(
        v["population_dims"],
        serde_json::json!(["time_s", "level_m"])
    );
    let m: Vec<f64> = (-10..=10).map(f64::from).collect();
    assert_eq!(floats(&v["level_m"]), m);
    assert_eq!(floats(&v["h5py_level_scale"]), m);
    let dims = &v["h5py_dims"];
    assert!(dims[0][0].as_str().unwrap().ends_with("/time_s"), "{dims}");
    assert!(dims[1][0].as_str().unwrap().ends_with("/level_m"), "{dims}");
    let ramp = recs[1].params.ramp_duration_s;
    assert!((ramp - 0.04).abs() < 1e-15, "0.4 T at 10 T/s: {ramp}");
    for (a, t) in floats(&v["time_after_ramp_s"])
        .iter()
        .zip(floats(&v["time_s"]))
    {
        assert!(
            (a - (t - ramp)).abs() <= 1e-15 * t.max(1e-300),
            "{a} vs {t} - {ramp}"
        );
    }
    // At t = 0 the spins are in equilibrium at 4 K in +0.5 T: mostly M = -10, a moment of
    // about +19 mu_B along the field (positive).
    let mz = floats(&v["magnetization_mu_b"]);
    assert!(mz[0] > 15.0 && mz[0] < 20.5, "{}", mz[0]);
    let units = &v["units"];
    for (name, unit) in [
        ("time_s", "s"),
        ("time_after_ramp_s", "s"),
        ("phonon_temperature_k", "K"),
        ("field_t", "T"),
        ("magnetization_mu_b", "mu_B"),
        ("level_m", "1"),
    ] {
        assert_eq!(units[name].as_str(), Some(unit), "{name}: {units}");
    }
}

/// The spin Hamiltonian of issue 18 (docs/physics.md section 10.1) in the file and in the JSON
/// of `simulate`, `tau` and `resonances`: the root attributes `b4_k`, `c4_k`, `e_k`,
/// `transverse_field_t`, `misalignment_deg` (units in the names, as every root attribute) and
/// `g_par`, the material's g as given (not g cos(theta)), equal to the TOML input where it
/// gives them and to the preset's published Stevens values converted by hand (physics.md
/// section 10.2: B4 = 35 B_4^0, D' = D - 3275 B_4^0 at S = 10, 1 cm^-1 = 1.438776877 K) where
/// it does not; h5py reads the same numbers.
#[test]
fn the_file_and_the_json_record_the_hamiltonian_as_given() {
    const CM1_K: f64 = 1.438_776_877;
    let dir = tempfile::tempdir().unwrap();
    // (TOML material lines, the flags that say the same, the expected record.)
    type Case<'a> = (&'a str, &'a [&'a str], [(&'a str, f64); 8]);
    let cases: [Case; 2] = [
        (
            "preset = \"mn12ac-barra\"\ng_par = 2.0\nc4_k = 3e-5\ne_k = 1e-3\nmisalignment_deg = 2.0\n",
            &[
                "--material",
                "mn12ac-barra",
                "--g-par",
                "2.0",
                "--c4-k",
                "3e-5",
                "--e-k",
                "1e-3",
                "--misalignment-deg",
                "2.0",
            ],
            [
                ("spin", 10.0),
                ("d_k", (-0.46 + 3275.0 * 2.2e-5) * CM1_K),
                ("g_par", 2.0),
                ("b4_k", -35.0 * 2.2e-5 * CM1_K),
                ("c4_k", 3e-5),
                ("e_k", 1e-3),
                ("transverse_field_t", 0.0),
                ("misalignment_deg", 2.0),
            ],
        ),
        (
            "preset = \"mn12ac\"\nb4_k = -1e-3\ntransverse_field_t = 0.05\n",
            &[
                "--material",
                "mn12ac",
                "--b4-k",
                "-1e-3",
                "--transverse-field-t",
                "0.05",
            ],
            [
                ("spin", 10.0),
                ("d_k", -0.5 * CM1_K),
                ("g_par", 2.05),
                ("b4_k", -1e-3),
                ("c4_k", 0.0),
                ("e_k", 0.0),
                ("transverse_field_t", 0.05),
                ("misalignment_deg", 0.0),
            ],
        ),
    ];
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-14 * b.abs();
    for (n, (material, flags, expected)) in cases.iter().enumerate() {
        let cfg = write(
            dir.path(),
            &format!("h{n}.toml"),
            &format!(
                "[material]\n{material}\n[protocol]\nb_initial_t = 0.5\nb_final_t = 0.1\nshape = \"jump\"\n[output]\ntrajectory = false\n[[sweep]]\nkey = \"protocol.initial_temperature_k\"\nvalues = [4.0, 5.0]\n"
            ),
        );
        let h5 = dir.path().join(format!("h{n}.h5"));
        common::run_ok(&[
            "run",
            cfg.to_str().unwrap(),
            "-o",
            h5.to_str().unwrap(),
            "--quiet",
        ]);
        let py = common::python()
            .arg("-c")
            .arg("import json, sys, h5py\nf = h5py.File(sys.argv[1], 'r')\nprint(json.dumps({k: float(v) for k, v in f.attrs.items() if k in sys.argv[2:]}))")
            .arg(&h5)
            .args(expected.iter().map(|(k, _)| k))
            .output()
            .unwrap();
        assert!(
            py.status.success(),
            "{}",
            String::from_utf8_lossy(&py.stderr)
        );
        let attrs: serde_json::Value = serde_json::from_slice(&py.stdout).unwrap();
        let physics = smmcool::io::read_meta(&h5).unwrap().physics.unwrap();
        let rust = [
            ("spin", Some(physics.spin)),
            ("d_k", Some(physics.d_k)),
            ("g_par", Some(physics.g_par)),
        ]
        .into_iter()
        .chain(physics.hamiltonian());
        for ((name, value), (rname, rvalue)) in expected.iter().zip(rust) {
            assert_eq!(*name, rname);
            let h = attrs[name]
                .as_f64()
                .unwrap_or_else(|| panic!("{name}: {attrs}"));
            assert!(
                close(h, *value),
                "case {n}: root attribute {name} = {h}, expected {value}"
            );
            assert_eq!(rvalue.map(f64::to_bits), Some(h.to_bits()), "{name}");
        }
        // The JSON of the commands that build this Hamiltonian: the same keys, the same numbers
        // (bit for bit with the file).
        let mut sim = flags.to_vec();
        sim.extend(["--b-initial-t", "0.5", "--b-final-t", "0.1", "--jump"]);
        sim.extend(["--initial-temperature-k", "4", "--json"]);
        let sim = common::json(&[&["simulate"], &sim[..]].concat());
        let tau = common::json(&[&["tau", "--temperature-k", "3", "--json"], *flags].concat());
        let res = common::json(&[&["resonances", "--k-max", "1", "--json"], *flags].concat());
        for doc in [&sim, &tau, &res] {
            let h = doc["hamiltonian"].as_object().unwrap();
            let keys: Vec<&str> = h.keys().map(String::as_str).collect();
            let mut names: Vec<&str> = expected.iter().map(|(k, _)| *k).collect();
            names.sort_unstable();
            assert_eq!(keys, names, "{doc}");
            for (name, value) in expected {
                assert_eq!(
                    h[*name].as_f64().unwrap().to_bits(),
                    attrs[*name].as_f64().unwrap().to_bits(),
                    "{name}: JSON {} vs file {} (expected {value})",
                    h[*name],
                    attrs[*name]
                );
            }
        }
    }
}
