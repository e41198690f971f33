//! Round trips through the `smmcool-batch` HDF5 format and its error paths.

mod common;

use smmcool::io::{read_meta, read_summary, read_trajectory, write_batch, IoError};
use smmcool::results::{
    BatchMeta, PhysicsMeta, RunParams, RunRecord, RunStatus, RunSummary, TrajectoryColumns,
};
use std::path::Path;
use std::str::FromStr;
use std::sync::{PoisonError, RwLock, RwLockReadGuard};

const KEYS: [&str; 2] = [
    "protocol.initial_temperature_k",
    "protocol.sweep_rate_t_per_s",
];
const N_LEVELS: usize = 21;

/// HDF5 opens files without close-on-exec and holds an exclusive `flock` while writing, so a
/// child process spawned by one test (the h5py check) inherits the descriptors of files that
/// other tests have open at that moment and keeps their locks after the parent closes them;
/// reopening such a file then fails with "unable to lock file". Tests that touch HDF5 files
/// share this lock; the test that spawns a process takes it exclusively.
static SPAWN_LOCK: RwLock<()> = RwLock::new(());

fn no_spawn_while_files_open() -> RwLockReadGuard<'static, ()> {
    SPAWN_LOCK.read().unwrap_or_else(PoisonError::into_inner)
}

fn meta() -> BatchMeta {
    BatchMeta {
        smmcool_version: "0.1.0".into(),
        git_revision: "abc1234".into(),
        config_toml: "# Mn\u{2081}\u{2082} batch\n[protocol]\nt_initial_k = [2.0, 3.0]\n".into(),
        n_runs_total: 12,
        shard: (1, 3),
        swept_keys: KEYS.iter().map(|k| k.to_string()).collect(),
        sample_times_after_ramp_s: vec![0.0, 1e-3, 0.1],
        rtol: 1e-8,
        equilibrium_tol_k: 1e-4,
        wall_time_s: 12.5,
        created_unix_s: 1_767_225_600,
        command_line: "smmcool run 'my batch.toml' -o out.h5".into(),
        physics: Some(PhysicsMeta {
            material: "mn12ac".into(),
            spin: 10.0,
            d_k: -0.719_388_438_5,
            g_par: 2.05,
            b4_k: Some(-1.108e-3),
            c4_k: Some(2.88e-5),
            e_k: Some(0.0),
            transverse_field_t: Some(0.0),
            misalignment_deg: Some(1.5),
            debye_temperature_k: 40.9,
            phonon_units: 1.0,
            tau0_s: 2.1e-7,
            barrier_k: 70.3,
            kappa_scaling: "constant".into(),
            kappa_reference_k: Some(4.6),
            kappa_per_s_k3: None,
            kappa_calibration: "with_tunnelling".into(),
            sample_amount_mol: Some(1e-6),
            sample_mass_mg: None,
            addenda_gamma_j_per_k2: Some(2e-7),
            addenda_beta_j_per_k4: None,
            link_conductance_w_per_k: Some(3e-9),
            link_exponent: Some(1.0),
            bath_temperature_k: Some(3.0),
        }),
    }
}

fn params(index: usize, initial_temperature_k: f64, rate: Option<f64>) -> RunParams {
    RunParams {
        index,
        swept: vec![
            (KEYS[0].to_string(), initial_temperature_k),
            (KEYS[1].to_string(), rate.unwrap_or(f64::INFINITY)),
        ],
        b_initial_t: 5.0,
        b_final_t: 0.1,
        initial_temperature_k,
        sweep_rate_t_per_s: rate,
        ramp_duration_s: rate.map_or(0.0, |r| 4.9 / r),
        shape: if rate.is_some() { "linear" } else { "jump" }.into(),
        waveform_points: 0,
        waveform_source: None,
        waveform_time_s: Vec::new(),
        waveform_field_t: Vec::new(),
    }
}

/// `params` with a waveform through (times, fields).
fn with_waveform(p: RunParams, times: &[f64], fields: &[f64]) -> RunParams {
    RunParams {
        shape: "waveform".into(),
        waveform_points: times.len() as u64,
        waveform_source: Some("trace.csv".into()),
        waveform_time_s: times.to_vec(),
        waveform_field_t: fields.to_vec(),
        ..p
    }
}

/// The waveform of runs 0 and 1 (the same points: one copy, a hard link) and run 5's.
const WAVE_T: [f64; 4] = [0.0, 0.1, 0.25, 0.49];
const WAVE_B: [f64; 4] = [5.0, 1.0, 0.3, 0.1];
const WAVE5_T: [f64; 3] = [0.0, 1e-3, 2.5e-3];
const WAVE5_B: [f64; 3] = [5.0, 0.1, 0.1];

fn trajectory(n: usize) -> TrajectoryColumns {
    let f = |k: usize, scale: f64| {
        (0..n)
            .map(|i| scale * (i as f64 + 1.0) / (k as f64 + 3.0))
            .collect()
    };
    TrajectoryColumns {
        time_s: (0..n).map(|i| 1e-3 * i as f64).collect(),
        time_after_ramp_s: (0..n).map(|i| 1e-3 * i as f64 - 0.04).collect(),
        field_t: f(1, 5.0),
        phonon_temperature_k: (0..n).map(|i| 2.0 - 0.1 * i as f64 + 1e-13).collect(),
        populations: (0..n)
            .map(|i| {
                (0..N_LEVELS)
                    .map(|m| ((m + i) as f64).exp() / 1e9)
                    .collect()
            })
            .collect(),
        magnetization_mu_b: f(2, -20.0),
        magnetization_am2_per_mol: f(2, -20.0)
            .into_iter()
            .map(|m| m * smmcool::units::molar_mu_b_am2_per_mol())
            .collect(),
        spin_energy_k: f(3, -60.0),
        phonon_energy_k: f(4, 0.3),
        magnetic_work_k: f(5, 1.0 / 3.0),
        heat_to_bath_k: f(8, 1e-3),
        heat_flow_to_bath_k_per_s: f(9, -2e-4),
        spin_entropy_kb: f(6, 0.1),
        phonon_entropy_kb: f(7, std::f64::consts::PI),
        stage: (0..n).map(|i| u8::from(i >= 3)).collect(),
    }
}

fn ok_summary(t_final: f64) -> RunSummary {
    RunSummary {
        sudden_final_temperature_k: Some(0.9),
        isentropic_final_temperature_k: Some(0.45),
        temperature_after_ramp_k: Some(0.6),
        equilibrium_temperature_k: Some(0.55),
        end_temperature_k: Some(t_final),
        outcome: smmcool::results::RunOutcome::Equilibrium,
        end_after_ramp_s: Some(0.25),
        equilibrium_after_ramp_s: Some(0.25),
        relaxation_10pct_after_ramp_s: Some(0.01),
        relaxation_1pct_after_ramp_s: Some(0.1),
        sample_temperatures_k: vec![Some(0.6), Some(0.58), Some(0.551)],
        energy_balance_error_rel: Some(1.2e-9),
        reduction_error_estimate_rel: Some(3e-7),
        ramp_formulation: Some("switched_to_full".into()),
        minimum_temperature_k: Some(0.54),
        minimum_after_ramp_s: Some(0.2),
        end_heat_to_bath_k: Some(2.5e-3),
        // A segmented run's reports (JSON text in the file), read back exactly.
        segment_reports: vec![smmcool::kinetics::SegmentReport {
            cycle: 1,
            segment: 2,
            kind: "ramp".into(),
            link_closed: true,
            start_s: 0.1,
            end_s: 1.0 / 3.0,
            end_field_t: -0.25,
            end_temperature_k: t_final,
            minimum_temperature_k: 0.51,
            minimum_s: 0.2,
            work_k: 1.0 / 7.0,
            heat_to_bath_k: -2e-3,
            energy_change_k: 0.14,
            energy_balance_error_rel: 3e-16,
        }],
        cycle_reports: vec![smmcool::kinetics::CycleReport {
            cycle: 0,
            start_s: 0.0,
            end_s: 1.0 / 3.0,
            end_temperature_k: t_final,
            minimum_temperature_k: 0.51,
            minimum_s: 0.2,
            work_k: 1.0 / 7.0,
            heat_to_bath_k: std::f64::consts::E,
        }],
        steps: 1234,
        wall_time_s: 0.75,
    }
}

/// Run 0 failed, run 1 has a trajectory, run 2 has no isentropic temperature (a jump), run 5
/// has an empty trajectory (indices need not be contiguous in a shard); runs 0, 1 and 5 have
/// waveforms (0 and 1 the same).
fn records() -> Vec<RunRecord> {
    vec![
        RunRecord {
            params: with_waveform(params(0, 2.0, Some(10.0)), &WAVE_T, &WAVE_B),
            status: RunStatus::Failed,
            error: Some("integrator failed: step size 1e-300 s underflowed at t = 0.0123 s".into()),
            summary: RunSummary {
                sudden_final_temperature_k: Some(0.91),
                isentropic_final_temperature_k: Some(0.47),
                sample_temperatures_k: vec![None; 3],
                wall_time_s: 0.01,
                ..Default::default()
            },
            trajectory: None,
        },
        RunRecord {
            params: with_waveform(params(1, 2.0, Some(0.5)), &WAVE_T, &WAVE_B),
            status: RunStatus::Ok,
            error: None,
            summary: ok_summary(0.5512345678901234),
            trajectory: Some(trajectory(5)),
        },
        RunRecord {
            params: params(2, 3.0, None),
            status: RunStatus::Ok,
            error: None,
            summary: RunSummary {
                isentropic_final_temperature_k: None,
                equilibrium_after_ramp_s: None,
                sample_temperatures_k: vec![Some(0.7), None, None],
                ..ok_summary(0.7)
            },
            trajectory: None,
        },
        RunRecord {
            params: with_waveform(params(5, 3.0, Some(1.0)), &WAVE5_T, &WAVE5_B),
            status: RunStatus::Ok,
            error: None,
            summary: ok_summary(0.65),
            trajectory: Some(TrajectoryColumns::default()),
        },
    ]
}

fn without_trajectory(r: &RunRecord) -> RunRecord {
    RunRecord {
        trajectory: None,
        ..r.clone()
    }
}

fn written(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("batch.h5");
    write_batch(&path, &meta(), records().into_iter()).unwrap();
    path
}

#[test]
fn round_trip_is_exact() {
    let _files = no_spawn_while_files_open();
    let dir = tempfile::tempdir().unwrap();
    let path = written(dir.path());
    assert_eq!(read_meta(&path).unwrap(), meta());

    let recs = records();
    let summary = read_summary(&path).unwrap();
    let expected: Vec<RunRecord> = recs.iter().map(without_trajectory).collect();
    assert_eq!(summary, expected);

    let mut rebuilt = summary;
    for r in &mut rebuilt {
        r.trajectory = read_trajectory(&path, r.params.index).unwrap();
    }
    assert_eq!(rebuilt, recs);
    assert_eq!(
        recs[1].trajectory.as_ref().unwrap().populations[0].len(),
        N_LEVELS
    );
    // Runs not in the file, or without a trajectory, have none.
    assert_eq!(read_trajectory(&path, 3).unwrap(), None);
    assert_eq!(read_trajectory(&path, 0).unwrap(), None);
}

#[test]
fn numeric_datasets_have_units() {
    let _files = no_spawn_while_files_open();
    let dir = tempfile::tempdir().unwrap();
    let path = written(dir.path());
    let file = hdf5::File::open(&path).unwrap();
    let unit = |name: &str| -> String {
        let ds = file.dataset(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        let attr = ds
            .attr("unit")
            .unwrap_or_else(|e| panic!("{name} has no unit: {e}"));
        attr.read_scalar::<hdf5::types::VarLenUnicode>()
            .unwrap()
            .as_str()
            .to_owned()
    };
    for (name, expected) in [
        ("summary/end_temperature_k", "K"),
        ("summary/b_initial_t", "T"),
        ("summary/sweep_rate_t_per_s", "T/s"),
        ("summary/relaxation_1pct_after_ramp_s", "s"),
        ("summary/energy_balance_error_rel", "1"),
        ("summary/run_index", "1"),
        ("summary/status", "1"),
        ("summary/steps", "1"),
        ("summary/sample_temperatures_k", "K"),
        ("summary/sample_times_after_ramp_s", "s"),
        ("summary/swept/protocol__initial_temperature_k", "K"),
        ("summary/swept/protocol__sweep_rate_t_per_s", "T/s"),
        ("runs/run_000001/time_s", "s"),
        ("runs/run_000001/time_after_ramp_s", "s"),
        ("runs/run_000001/level_m", "1"),
        ("runs/run_000001/field_t", "T"),
        ("runs/run_000001/phonon_temperature_k", "K"),
        ("runs/run_000001/populations", "1"),
        ("runs/run_000001/magnetization_mu_b", "mu_B"),
        ("runs/run_000001/magnetization_am2_per_mol", "A m2 mol-1"),
        ("runs/run_000001/spin_entropy_kb", "k_B"),
        ("runs/run_000001/stage", "1"),
        ("runs/run_000005/populations", "1"),
        ("waveforms/run_000000/time_s", "s"),
        ("waveforms/run_000000/field_t", "T"),
        ("waveforms/run_000001/field_t", "T"),
        ("waveforms/run_000005/time_s", "s"),
        ("waveforms/run_000005/field_t", "T"),
    ] {
        assert_eq!(unit(name), expected, "{name}");
    }
    let pops = file.dataset("runs/run_000001/populations").unwrap();
    assert_eq!(pops.shape(), vec![5, N_LEVELS]);
    assert!(pops.is_chunked());
    assert_eq!(
        file.dataset("summary/sample_temperatures_k")
            .unwrap()
            .shape(),
        vec![4, 3]
    );
    assert_eq!(
        file.dataset("runs/run_000005/populations").unwrap().shape(),
        vec![0, 0]
    );
    let run = file.group("runs/run_000001").unwrap();
    let index: u64 = run.attr("run_index").unwrap().read_scalar().unwrap();
    assert_eq!(index, 1);
    let json: hdf5::types::VarLenUnicode = run.attr("parameters").unwrap().read_scalar().unwrap();
    let p: RunParams = serde_json::from_str(json.as_str()).unwrap();
    // The attribute holds the parameters without the waveform's points (in /waveforms).
    assert_eq!(
        p,
        RunParams {
            waveform_time_s: Vec::new(),
            waveform_field_t: Vec::new(),
            ..records()[1].params.clone()
        }
    );
    // Each run's waveform is stored with its units, whether or not its trajectory was kept
    // (run 0 failed); run 1 has run 0's points, so its group is a hard link to run 0's; run 2
    // (no waveform) has none.
    let points = |run: &str| -> (Vec<f64>, Vec<f64>) {
        let g = file.group(&format!("waveforms/{run}")).unwrap();
        (
            g.dataset("time_s").unwrap().read_raw().unwrap(),
            g.dataset("field_t").unwrap().read_raw().unwrap(),
        )
    };
    assert_eq!(points("run_000000"), (WAVE_T.to_vec(), WAVE_B.to_vec()));
    assert_eq!(points("run_000001"), (WAVE_T.to_vec(), WAVE_B.to_vec()));
    assert_eq!(points("run_000005"), (WAVE5_T.to_vec(), WAVE5_B.to_vec()));
    let waveforms = file.group("waveforms").unwrap();
    assert_eq!(waveforms.member_names().unwrap().len(), 3);
    assert!(!waveforms.link_exists("run_000002"));
    let info = |run: &str| waveforms.group(run).unwrap().loc_info().unwrap();
    assert_eq!(info("run_000000").token, info("run_000001").token);
    assert_eq!(info("run_000000").num_links, 2);
    assert_ne!(info("run_000000").token, info("run_000005").token);
}

#[test]
fn non_hdf5_file_is_rejected_naming_the_path() {
    let _files = no_spawn_while_files_open();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hello.h5");
    std::fs::write(&path, "hello").unwrap();
    let err = read_meta(&path).unwrap_err();
    assert!(matches!(err, IoError::NotABatchFile { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert_eq!(err.path(), path);
    assert!(read_summary(&path).is_err());
    assert!(read_trajectory(&path, 1).is_err());
}

#[test]
fn missing_file_is_an_error_naming_the_path() {
    let _files = no_spawn_while_files_open();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-batch.h5");
    let err = read_meta(&path).unwrap_err();
    assert!(matches!(err, IoError::Open { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    let err = read_summary(&path).unwrap_err();
    assert!(err.to_string().contains("no-such-batch.h5"), "{err}");
}

#[test]
fn other_hdf5_file_is_not_a_batch_file() {
    let _files = no_spawn_while_files_open();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.h5");
    hdf5::File::create(&path)
        .unwrap()
        .create_group("data")
        .unwrap();
    let err = read_meta(&path).unwrap_err();
    assert!(matches!(err, IoError::NotABatchFile { .. }), "{err:?}");
    assert!(err.to_string().contains("other.h5"), "{err}");
}

#[test]
fn a_future_format_version_is_incompatible() {
    let _files = no_spawn_while_files_open();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.h5");
    {
        let file = hdf5::File::create(&path).unwrap();
        let format = hdf5::types::VarLenUnicode::from_str("smmcool-batch").unwrap();
        file.new_attr::<hdf5::types::VarLenUnicode>()
            .shape(())
            .create("format")
            .unwrap()
            .write_scalar(&format)
            .unwrap();
        file.new_attr::<u32>()
            .shape(())
            .create("format_version")
            .unwrap()
            .write_scalar(&5u32)
            .unwrap();
    }
    let err = read_meta(&path).unwrap_err();
    assert!(
        matches!(
            err,
            IoError::IncompatibleVersion {
                found: 5,
                expected: 4,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("future.h5"), "{err}");
    assert!(matches!(
        read_summary(&path).unwrap_err(),
        IoError::IncompatibleVersion { .. }
    ));
    assert!(matches!(
        read_trajectory(&path, 0).unwrap_err(),
        IoError::IncompatibleVersion { .. }
    ));
}

#[test]
fn writer_rejects_unsorted_records() {
    let _files = no_spawn_while_files_open();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("unsorted.h5");
    let mut recs = records();
    recs.swap(1, 2);
    let err = write_batch(&path, &meta(), recs.into_iter()).unwrap_err();
    assert!(matches!(err, IoError::InvalidInput { .. }), "{err:?}");
    assert!(err.to_string().contains("unsorted.h5"), "{err}");
}

#[test]
fn many_records_without_trajectories() {
    let _files = no_spawn_while_files_open();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.h5");
    let base = records()[2].clone();
    let make = |i: usize| RunRecord {
        params: params(i, 1.0 + i as f64 * 1e-3, Some(0.1 + i as f64)),
        ..base.clone()
    };
    write_batch(&path, &meta(), (0..2000).map(make)).unwrap();
    let summary = read_summary(&path).unwrap();
    assert_eq!(summary.len(), 2000);
    assert_eq!(summary[1234], make(1234));
    assert!(summary.iter().enumerate().all(|(i, r)| r.params.index == i));
    assert_eq!(read_trajectory(&path, 7).unwrap(), None);
}

#[test]
fn empty_batch_round_trips() {
    let _files = no_spawn_while_files_open();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.h5");
    let meta = BatchMeta {
        swept_keys: vec![],
        sample_times_after_ramp_s: vec![],
        ..meta()
    };
    write_batch(&path, &meta, std::iter::empty()).unwrap();
    assert_eq!(read_meta(&path).unwrap(), meta);
    assert!(read_summary(&path).unwrap().is_empty());
}

const H5PY_SNIPPET: &str = r#"
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    print("end_temperature_k", *[repr(float(x)) for x in f["/summary/end_temperature_k"][()]])
    print("run_index", *[int(x) for x in f["/summary/run_index"][()]])
    unit = f["/summary/end_temperature_k"].attrs["unit"]
    print("unit", unit.decode() if isinstance(unit, bytes) else unit)
    print("phonon_temperature_k", *[repr(float(x)) for x in f["/runs/run_000001/phonon_temperature_k"][()]])
    print("format", f.attrs["format"], int(f.attrs["format_version"]))
"#;

#[test]
fn h5py_reads_the_file() {
    let _spawning = SPAWN_LOCK.write().unwrap_or_else(PoisonError::into_inner);
    let has_h5py = common::python()
        .args(["-c", "import h5py"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        has_h5py,
        "this test requires python3 with h5py importable (scripts/test.sh prepares it in target/python-venv and sets SMMCOOL_PYTHON)"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = written(dir.path());
    let out = common::python()
        .arg("-c")
        .arg(H5PY_SNIPPET)
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "h5py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = |key: &str| -> Vec<String> {
        let l = stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(key))
            .unwrap_or_else(|| panic!("no {key} line in:\n{stdout}"));
        l.split_whitespace().skip(1).map(str::to_owned).collect()
    };
    let floats = |key: &str| -> Vec<f64> {
        line(key)
            .iter()
            .map(|x| f64::from_str(x).unwrap())
            .collect()
    };

    let recs = records();
    let t_final = floats("end_temperature_k");
    assert_eq!(t_final.len(), recs.len());
    for (got, r) in t_final.iter().zip(&recs) {
        match r.summary.end_temperature_k {
            Some(t) => assert_eq!(got.to_bits(), t.to_bits(), "{got} vs {t}"),
            None => assert!(got.is_nan(), "{got}"),
        }
    }
    let indices: Vec<usize> = line("run_index")
        .iter()
        .map(|x| x.parse().unwrap())
        .collect();
    assert_eq!(indices, vec![0, 1, 2, 5]);
    assert_eq!(line("unit"), vec!["K"]);
    let t_phonon = floats("phonon_temperature_k");
    let expected = &recs[1].trajectory.as_ref().unwrap().phonon_temperature_k;
    assert_eq!(t_phonon.len(), expected.len());
    assert!(t_phonon
        .iter()
        .zip(expected)
        .all(|(a, b)| a.to_bits() == b.to_bits()));
    assert_eq!(line("format"), vec!["smmcool-batch", "4"]);
}

/// The spin S is the root attribute `spin` (format version 4); a version 3 file, which called
/// it `spin_s`, reads back the same metadata and records (the old file made from a new one by
/// renaming the attribute and writing version 3). A file with neither has no physics.
#[test]
fn a_version_3_file_with_spin_s_reads_back_the_same() {
    let _files = no_spawn_while_files_open();
    let dir = tempfile::tempdir().unwrap();
    let path = written(dir.path());
    {
        let file = hdf5::File::open(&path).unwrap();
        assert_eq!(
            file.attr("spin").unwrap().read_scalar::<f64>().unwrap(),
            10.0
        );
        assert!(file.attr("spin_s").is_err());
    }
    let recs: Vec<RunRecord> = records().iter().map(without_trajectory).collect();
    {
        let file = hdf5::File::open_rw(&path).unwrap();
        file.delete_attr("spin").unwrap();
        file.new_attr::<f64>()
            .shape(())
            .create("spin_s")
            .unwrap()
            .write_scalar(&10.0)
            .unwrap();
        file.attr("format_version")
            .unwrap()
            .write_scalar(&3u32)
            .unwrap();
    }
    assert_eq!(read_meta(&path).unwrap(), meta());
    assert_eq!(read_summary(&path).unwrap(), recs);
    hdf5::File::open_rw(&path)
        .unwrap()
        .delete_attr("spin_s")
        .unwrap();
    assert_eq!(read_meta(&path).unwrap().physics, None);
}

/// A version 2 file (which stored +g_par <M>) reads back in the version 3 convention: the
/// magnetization's sign flipped, every other column unchanged.
#[test]
fn a_version_2_file_reads_with_the_physical_moment() {
    let _files = no_spawn_while_files_open();
    let dir = tempfile::tempdir().unwrap();
    let path = written(dir.path());
    {
        let file = hdf5::File::open_rw(&path).unwrap();
        file.attr("format_version")
            .unwrap()
            .write_scalar(&2u32)
            .unwrap();
    }
    let recs = records();
    let stored = recs[1].trajectory.as_ref().unwrap();
    let read = read_trajectory(&path, 1).unwrap().unwrap();
    assert_eq!(
        read.magnetization_mu_b.len(),
        stored.magnetization_mu_b.len()
    );
    for (a, b) in read
        .magnetization_mu_b
        .iter()
        .zip(&stored.magnetization_mu_b)
    {
        assert_eq!(*a, -*b);
    }
    // Its molar moment is computed from the flipped moment: N_A mu_B = 5.5849 A m^2/mol per
    // mu_B (the magnetochemists' 5585 emu/mol), whatever the file holds under that name.
    for (a, b) in read
        .magnetization_am2_per_mol
        .iter()
        .zip(&read.magnetization_mu_b)
    {
        assert!((a - 5.5849 * b).abs() <= 1e-4 * a.abs(), "{a} {b}");
        assert!(*a * *b > 0.0);
    }
    assert_eq!(read.phonon_temperature_k, stored.phonon_temperature_k);
    // Version 2 had no time_after_ramp_s: it is the time less the run's ramp duration.
    let ramp = recs[1].params.ramp_duration_s;
    for (a, t) in read.time_after_ramp_s.iter().zip(&stored.time_s) {
        assert_eq!(*a, t - ramp);
    }
    assert_eq!(read_summary(&path).unwrap().len(), recs.len());
}

/// A file written before the spin Hamiltonian beyond D was recorded (no `b4_k`, `c4_k`, `e_k`,
/// `transverse_field_t`, `misalignment_deg` root attributes) reads back: those five are
/// `None` (not recorded), everything else as written.
#[test]
fn a_file_without_the_hamiltonian_attributes_reads_them_as_not_recorded() {
    let _files = no_spawn_while_files_open();
    let dir = tempfile::tempdir().unwrap();
    let path = written(dir.path());
    let names = [
        "b4_k",
        "c4_k",
        "e_k",
        "transverse_field_t",
        "misalignment_deg",
    ];
    {
        let file = hdf5::File::open_rw(&path).unwrap();
        for name in names {
            file.delete_attr(name).unwrap();
        }
    }
    let read = read_meta(&path).unwrap();
    let physics = read.physics.as_ref().unwrap();
    for (name, value) in physics.hamiltonian() {
        assert_eq!(value, None, "{name}");
    }
    let expected = meta().physics.unwrap();
    assert_eq!(
        *physics,
        PhysicsMeta {
            b4_k: None,
            c4_k: None,
            e_k: None,
            transverse_field_t: None,
            misalignment_deg: None,
            ..expected
        }
    );
    assert_eq!(read_summary(&path).unwrap().len(), records().len());
}
