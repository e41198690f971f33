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

/// The README's list of output quantities is the one table of `smmcool::results`.
#[test]
fn readme_lists_the_output_quantities_of_the_one_table() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let inside = readme
        .split("<!-- quantities -->\n")
        .nth(1)
        .and_then(|s| s.split("<!-- /quantities -->").next())
        .expect("README has the quantities markers");
    assert_eq!(
        inside,
        smmcool::results::quantities_markdown(),
        "regenerate with: cargo run --example quantities"
    );
}
