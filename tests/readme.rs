//! The README's two commands exist and CI runs the README's test command.

#[test]
fn readme_commands_are_the_ones_ci_runs() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let ci = std::fs::read_to_string(format!("{root}/.ci/run")).unwrap();
    assert!(readme.contains("bash scripts/setup-and-run.sh"));
    assert!(readme.contains("bash scripts/test.sh"));
    assert!(ci.lines().any(|l| l.trim() == "bash scripts/test.sh"));
    for script in ["scripts/setup-and-run.sh", "scripts/test.sh"] {
        assert!(std::path::Path::new(&format!("{root}/{script}")).exists());
    }
}
