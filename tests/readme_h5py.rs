//! The README's h5py example runs against a file written by `smmcool run` (CI installs h5py).

mod common;

#[test]
fn readme_h5py_example_reads_a_batch_file() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let after = readme
        .split("<!-- h5py-example -->")
        .nth(1)
        .expect("README has the h5py example marker");
    let code = after
        .split("```python")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("a python block follows the marker");
    assert!(
        code.lines().filter(|l| !l.trim().is_empty()).count() <= 6,
        "keep it short"
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        "[protocol]\nb_initial_t = 0.5\nb_final_t = 0.1\nt_initial_k = 4.0\nshape = \"jump\"\n[output]\nlog_points_per_decade = 1\n",
    )
    .unwrap();
    let h5 = dir.path().join("default.h5");
    common::run_ok(&["run", cfg.to_str().unwrap(), "-o", h5.to_str().unwrap()]);
    let code = code.replace("out/default.h5", h5.to_str().unwrap());
    let check = common::python().args(["-c", "import h5py"]).output();
    assert!(
        check.is_ok_and(|o| o.status.success()),
        "h5py is required for this test (scripts/test.sh prepares it in target/python-venv and sets SMMCOOL_PYTHON)"
    );
    let out = common::python().args(["-c", &code]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{}",
        text,
        String::from_utf8_lossy(&out.stderr)
    );
    // Ti = 4 K, the Eq. 9 root 2.33380750 K, unit K, and the config text.
    assert!(text.contains("[4.]"), "{text}");
    assert!(text.contains("2.333807"), "{text}");
    assert!(text.contains('K'), "{text}");
    assert!(text.contains("protocol"), "{text}");
}
