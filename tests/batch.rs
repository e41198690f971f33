//! Batch runs end to end through the binary: config errors, sharding and merging, failed runs,
//! and a real SIGKILL followed by --resume (compared with an uninterrupted run over the whole
//! file).

mod common;

use common::{contents_without_timing, run, smmcool as bin, write};
use std::path::Path;

const BASE: &str = r#"
[protocol]
b_initial_t = 0.5
b_final_t = 0.1
initial_temperature_k = 4.0
shape = "jump"

[output]
sample_times_after_ramp_s = [1e-3, 1.0]
trajectory = true
log_points_per_decade = 1
"#;

/// `BASE` without the values of `keys`: a swept key takes its values from its axis only (a
/// value in `[protocol]` as well is refused).
fn base_sweeping(keys: &[&str]) -> String {
    BASE.lines()
        .filter(|l| !keys.iter().any(|k| l.starts_with(&format!("{k} ="))))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn small_sweep() -> String {
    format!(
        "{}\n[[sweep]]\nkey = \"protocol.initial_temperature_k\"\nvalues = [3.0, 4.0, 5.0]\n\n[[sweep]]\nkey = \"protocol.b_final_t\"\nvalues = [0.1, 0.2]\n",
        base_sweeping(&["initial_temperature_k", "b_final_t"])
    )
}

/// Every case: exit code 2, one line on stderr naming the file and the line/column or key.
#[test]
fn config_errors_exit_2_naming_file_and_place() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "unknown_key.toml",
            BASE.replace("shape = \"jump\"", "shape = \"jump\"\ntemprature_k = 3"),
            vec!["unknown_key.toml:", "temprature_k"],
        ),
        (
            "misspelled_section.toml",
            format!("{BASE}\n[solvr]\nrtol = 1e-8\n"),
            vec!["misspelled_section.toml:", "solvr"],
        ),
        (
            "wrong_type.toml",
            BASE.replace(
                "initial_temperature_k = 4.0",
                "initial_temperature_k = \"four\"",
            ),
            vec!["wrong_type.toml:5:", "invalid type"],
        ),
        (
            "missing.toml",
            BASE.replace("b_final_t = 0.1\n", ""),
            vec!["missing.toml:", "b_final_t"],
        ),
        (
            "negative_t.toml",
            BASE.replace(
                "initial_temperature_k = 4.0",
                "initial_temperature_k = -4.0",
            ),
            vec![
                "negative_t.toml",
                "protocol.initial_temperature_k",
                "-4",
                "> 0 K",
            ],
        ),
        (
            "empty_sweep.toml",
            format!(
                "{}\n[[sweep]]\nkey = \"protocol.initial_temperature_k\"\nvalues = []\n",
                base_sweeping(&["initial_temperature_k"])
            ),
            vec![
                "empty_sweep.toml",
                "protocol.initial_temperature_k",
                "empty",
            ],
        ),
        (
            "bad_sweep_key.toml",
            format!("{BASE}\n[[sweep]]\nkey = \"protocol.colour\"\nvalues = [1]\n"),
            vec!["bad_sweep_key.toml", "protocol.colour", "sweepable"],
        ),
        (
            "swept_negative.toml",
            format!(
                "{}\n[[sweep]]\nkey = \"protocol.initial_temperature_k\"\nvalues = [3, -1]\n",
                base_sweeping(&["initial_temperature_k"])
            ),
            vec!["swept_negative.toml", "run 1", "-1"],
        ),
    ];
    for (name, text, needles) in cases {
        let p = write(d, name, &text);
        for cmd in ["validate", "run"] {
            let mut args = vec![cmd, p.to_str().unwrap()];
            let out_path = d.join(format!("{name}.h5"));
            if cmd == "run" {
                args.extend(["-o", out_path.to_str().unwrap()]);
            }
            let out = run(&args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{name} {cmd}: {err}");
            assert_eq!(err.trim_end().lines().count(), 1, "{name}: {err}");
            for n in &needles {
                assert!(err.contains(n), "{name} {cmd}: '{n}' missing from: {err}");
            }
            assert!(!out_path.exists(), "{name}: an output was written");
        }
    }
    // Too many runs without --yes.
    let p = write(
        d,
        "big.toml",
        &format!("{}\n[batch]\nmax_runs = 4\n", small_sweep()),
    );
    let o = d.join("big.h5");
    let out = run(&["run", p.to_str().unwrap(), "-o", o.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("big.toml") && err.contains("6 runs") && err.contains("--yes"),
        "{err}"
    );
    // Output exists.
    let cfg = write(d, "ok.toml", BASE);
    let o = write(d, "exists.h5", "precious");
    let out = run(&["run", cfg.to_str().unwrap(), "-o", o.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("exists.h5") && err.contains("--resume") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&o).unwrap(), "precious");
    // Bad shard.
    let out = run(&[
        "run",
        cfg.to_str().unwrap(),
        "-o",
        d.join("s.h5").to_str().unwrap(),
        "--shard",
        "3/2",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&[
        "run",
        cfg.to_str().unwrap(),
        "-o",
        d.join("s.h5").to_str().unwrap(),
        "--shard",
        "1/2",
    ]);
    assert_eq!(out.status.code(), Some(2), "shard beyond the run count");
}

fn summary_without_wall(path: &Path) -> Vec<smmcool::results::RunRecord> {
    let mut v = smmcool::io::read_summary(path).unwrap();
    for r in &mut v {
        r.summary.wall_time_s = 0.0;
        r.trajectory = smmcool::io::read_trajectory(path, r.params.index).unwrap();
    }
    v
}

#[test]
fn sharded_runs_merge_to_the_unsharded_result() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = write(d, "sweep.toml", &small_sweep());
    let full = d.join("full.h5");
    let out = run(&[
        "run",
        cfg.to_str().unwrap(),
        "-o",
        full.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Shard 0 via --shard, shards 1 and 2 the way SLURM runs them (environment variables).
    let s0 = d.join("s0.h5");
    let out = run(&[
        "run",
        cfg.to_str().unwrap(),
        "-o",
        s0.to_str().unwrap(),
        "--shard",
        "0/3",
        "--threads",
        "1",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut shards = vec![s0];
    for id in 1..3 {
        let p = d.join(format!("s{id}.h5"));
        let out = bin()
            .args(["run", cfg.to_str().unwrap(), "-o", p.to_str().unwrap()])
            .env("SLURM_ARRAY_TASK_ID", id.to_string())
            .env("SLURM_ARRAY_TASK_COUNT", "3")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(smmcool::io::read_meta(&p).unwrap().shard, (id, 3));
        shards.push(p);
    }
    // A missing parent folder of the output is created, as `run` creates its own.
    let merged = d.join("new/folder/merged.h5");
    let mut args = vec!["merge".to_string()];
    args.extend(shards.iter().map(|p| p.display().to_string()));
    args.extend(["-o".into(), merged.display().to_string()]);
    let out = bin().args(&args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a = summary_without_wall(&full);
    let b = summary_without_wall(&merged);
    assert_eq!(a.len(), 6);
    assert_eq!(a, b, "merged shards differ from the unsharded run");
    assert!(a.iter().all(|r| r.trajectory.is_some()));
    // Duplicates and mismatched configs are refused.
    let out = bin()
        .args([
            "merge",
            shards[0].to_str().unwrap(),
            shards[0].to_str().unwrap(),
            "-o",
            d.join("dup.h5").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("duplicates"));
    assert!(!d.join("dup.h5").exists() && !d.join("dup.h5.tmp").exists());
    let other_cfg = write(d, "other.toml", BASE);
    let other = d.join("other.h5");
    assert!(run(&[
        "run",
        other_cfg.to_str().unwrap(),
        "-o",
        other.to_str().unwrap()
    ])
    .status
    .success());
    let out = bin()
        .args([
            "merge",
            shards[1].to_str().unwrap(),
            other.to_str().unwrap(),
            "-o",
            d.join("mix.h5").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("different configs"));
    // inspect prints the table.
    let out = run(&["inspect", merged.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success()
            && text.contains("protocol.initial_temperature_k")
            && text.lines().count() == 8,
        "{text}"
    );
}

#[test]
fn a_failing_run_is_recorded_and_the_others_complete() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = write(
        d,
        "f.toml",
        &format!(
            "{}\n[[sweep]]\nkey = \"protocol.initial_temperature_k\"\nvalues = [3.0, 4.0, 5.0]\n",
            base_sweeping(&["initial_temperature_k"])
        ),
    );
    let o = d.join("f.h5");
    // Run 1's engine call fails (fault injection); runs 0 and 2 must complete.
    let out = bin()
        .args(["run", cfg.to_str().unwrap(), "-o", o.to_str().unwrap()])
        .env(smmcool::batch::runner::INJECT_ENV, "1")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 run(s) failed"));
    let recs = smmcool::io::read_summary(&o).unwrap();
    assert_eq!(recs.len(), 3);
    assert_eq!(recs[1].status, smmcool::results::RunStatus::Failed);
    assert!(
        recs[1]
            .error
            .as_deref()
            .unwrap()
            .contains("injected failure"),
        "{:?}",
        recs[1].error
    );
    // The analytic limits are still recorded for the failed run.
    assert!(recs[1].summary.sudden_final_temperature_k.is_some());
    for i in [0, 2] {
        assert_eq!(recs[i].status, smmcool::results::RunStatus::Ok);
        assert!(recs[i].summary.end_temperature_k.is_some());
    }
    let text = String::from_utf8_lossy(&run(&["inspect", o.to_str().unwrap()]).stdout).to_string();
    assert!(
        text.contains("FAILED") && text.contains("injected failure"),
        "{text}"
    );
}

#[cfg(unix)]
#[test]
fn sigkill_mid_batch_then_resume_equals_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = format!(
        "{}\n[[sweep]]\nkey = \"protocol.initial_temperature_k\"\nlinear = {{ start = 3.0, stop = 5.0, count = 24 }}\n",
        base_sweeping(&["initial_temperature_k"])
            .replace("shape = \"jump\"", "sweep_rate_t_per_s = 1e-3")
    );
    let cfg = write(d, "k.toml", &text);
    let o = d.join("k.h5");
    let parts = d.join("k.h5.parts");
    let mut child = bin()
        .args([
            "run",
            cfg.to_str().unwrap(),
            "-o",
            o.to_str().unwrap(),
            "--threads",
            "1",
            "--quiet",
        ])
        .spawn()
        .unwrap();
    // Wait until some runs are stored in the run log, then SIGKILL.
    let stored = || smmcool::batch::log::Stored::scan(&parts, 24).unwrap().len();
    let start = std::time::Instant::now();
    loop {
        if stored() >= 3 || start.elapsed().as_secs() > 120 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Either nothing or a valid file at the final path.
    if o.exists() {
        smmcool::io::read_meta(&o).expect("a file at the final path is valid");
    }
    let kept = stored();
    assert!(kept >= 3, "stored runs: {kept}");
    // Without --resume the leftovers are protected.
    let out = run(&["run", cfg.to_str().unwrap(), "-o", o.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--resume"));
    let out = run(&[
        "run",
        cfg.to_str().unwrap(),
        "-o",
        o.to_str().unwrap(),
        "--resume",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    // Exactly the runs stored before the kill are taken from the log.
    assert!(
        said.contains(&format!("({} computed, {kept} from an earlier", 24 - kept)),
        "{said}"
    );
    assert!(!parts.exists());
    let again = d.join("k2.h5");
    assert!(
        run(&["run", cfg.to_str().unwrap(), "-o", again.to_str().unwrap()])
            .status
            .success()
    );
    // The whole file, bit for bit (timing and command line aside), as the kill drills of
    // tests/reliability.rs compare.
    assert_eq!(contents_without_timing(&o), contents_without_timing(&again));
}

/// A log sweep generates its decades exactly (issue 16: 10 T/s was stored as
/// 9.999999999999993, so selecting `rate == 10` found nothing), `validate` and `inspect` print
/// the values in shortest round-trip form, and `inspect` shows how each run ended: a run that
/// stopped at its end time is marked, not shown as `ok` beside an equilibrium it never reached.
#[test]
fn log_sweeps_hit_decades_and_inspect_shows_the_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = write(
        d,
        "log.toml",
        r#"
[protocol]
b_initial_t = 0.5
b_final_t = 0.1
initial_temperature_k = 3.0

[solver]
max_time_after_ramp_s = 1.0

[output]
sample_times_after_ramp_s = [1e-3]
trajectory = false

[[sweep]]
key = "protocol.sweep_rate_t_per_s"
log = { start = 1e-1, stop = 1e3, count = 5 }
"#,
    );
    let plan = smmcool::batch::config::Plan::load(&cfg).unwrap();
    assert_eq!(plan.axes[0].1, vec![0.1, 1.0, 10.0, 100.0, 1000.0]);
    let out = run(&["validate", cfg.to_str().unwrap(), "--show", "5"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("run 2: protocol.sweep_rate_t_per_s = 10\n"),
        "{text}"
    );
    let o = d.join("log.h5");
    let out = run(&[
        "run",
        cfg.to_str().unwrap(),
        "-o",
        o.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recs = smmcool::io::read_summary(&o).unwrap();
    let at_10: Vec<_> = recs
        .iter()
        .filter(|r| r.params.sweep_rate_t_per_s == Some(10.0))
        .collect();
    assert_eq!(at_10.len(), 1);
    // From 3 K the over-barrier relaxation takes far longer than the 1 s allowed: every run
    // stops at its end time, out of equilibrium.
    for r in &recs {
        assert_eq!(r.summary.outcome, smmcool::results::RunOutcome::EndTime);
        let (end, eq) = (
            r.summary.end_temperature_k.unwrap(),
            r.summary.equilibrium_temperature_k.unwrap(),
        );
        assert!((end - eq).abs() > 0.01, "{end} vs {eq}");
    }
    let out = run(&["inspect", o.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("outcome"), "{text}");
    let rows: Vec<&str> = text.lines().filter(|l| l.contains("END TIME")).collect();
    assert_eq!(rows.len(), 1 + recs.len(), "{text}");
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().nth(1) == Some("10") && l.contains("END TIME")),
        "{text}"
    );
    assert!(!text.contains(" ok "), "{text}");
}

/// `[solver] max_steps` below what the runs need: every run fails with the step limit in its
/// error, is recorded FAILED with its analytic limits, and the batch exits 3 (not 2: the
/// config is valid); the file stays readable.
#[test]
fn runs_beyond_the_step_limit_are_recorded_as_failed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = write(
        d,
        "s.toml",
        &format!(
            "{}\n[solver]\nmax_steps = 2\n\n[[sweep]]\nkey = \"protocol.initial_temperature_k\"\nvalues = [3.0, 4.0]\n",
            base_sweeping(&["initial_temperature_k"])
        ),
    );
    let o = d.join("s.h5");
    let out = run(&["run", cfg.to_str().unwrap(), "-o", o.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("2 run(s) failed"), "{err}");
    let recs = smmcool::io::read_summary(&o).unwrap();
    assert_eq!(recs.len(), 2);
    for r in &recs {
        assert_eq!(r.status, smmcool::results::RunStatus::Failed);
        let e = r.error.as_deref().unwrap();
        assert!(
            e.contains("more than 2 steps") && e.contains("max_steps"),
            "{e}"
        );
        assert!(r.summary.sudden_final_temperature_k.is_some());
    }
}

/// Issue 17: a swept solver setting is stored at the root as run 0's value (not the unswept
/// default the base section holds), is listed in `swept_keys`, and each run's value is in its
/// summary row; an unswept setting is the config's value. The reference is the config text.
#[test]
fn swept_solver_settings_are_stored_as_the_runs_used_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = write(
        d,
        "tol.toml",
        &format!(
            "{BASE}\n[solver]\nrtol = 1e-9\n\n[[sweep]]\nkey = \"solver.equilibrium_tol_k\"\nvalues = [1e-3, 1e-6]\n"
        ),
    );
    let o = d.join("tol.h5");
    let out = run(&[
        "run",
        cfg.to_str().unwrap(),
        "-o",
        o.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta = smmcool::io::read_meta(&o).unwrap();
    assert_eq!(
        meta.swept_keys,
        vec!["solver.equilibrium_tol_k".to_string()]
    );
    assert_eq!(
        meta.equilibrium_tol_k, 1e-3,
        "run 0's value, not the default 1e-9"
    );
    assert_eq!(meta.rtol, 1e-9, "the unswept value as given");
    let recs = smmcool::io::read_summary(&o).unwrap();
    let per_run: Vec<f64> = recs.iter().map(|r| r.params.swept[0].1).collect();
    assert_eq!(per_run, vec![1e-3, 1e-6]);

    // The same with rtol swept and the tolerance left at its default.
    let cfg = write(
        d,
        "rtol.toml",
        &format!("{BASE}\n[[sweep]]\nkey = \"solver.rtol\"\nvalues = [1e-7, 1e-11]\n"),
    );
    let o = d.join("rtol.h5");
    let out = run(&[
        "run",
        cfg.to_str().unwrap(),
        "-o",
        o.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta = smmcool::io::read_meta(&o).unwrap();
    assert_eq!(meta.swept_keys, vec!["solver.rtol".to_string()]);
    assert_eq!(meta.rtol, 1e-7, "run 0's value, not the default 1e-10");
    assert_eq!(
        meta.equilibrium_tol_k,
        smmcool::kinetics::EngineOptions::default().equilibrium_tol_k
    );
}
