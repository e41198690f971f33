//! The README's two commands exist and CI runs the README's test command; its tables come
//! from the shipped configs.

mod common;

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

/// The README's sweep-rate table ("Measured from a 292-run batch") is what its shipped config,
/// `configs/sweep_rate_table.toml`, gives: the rate above which the equilibrium Delta T is
/// within 10 % of the sudden one (log-log interpolation of the deviation between the two grid
/// rates around 10 %, 2 digits) and Delta T at 10 T/s at equilibrium, sudden, 1 s and 1 h after
/// the ramp, to the digits printed.
#[test]
fn readme_sweep_rate_table_comes_from_its_config() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let table: Vec<Vec<String>> = readme
        .split("Measured from a 292-run batch")
        .nth(1)
        .expect("README has the sweep-rate table")
        .lines()
        .skip_while(|l| !l.starts_with("| Bi, Ti"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect();
    assert_eq!(table.len(), 4, "{table:?}");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("table.h5");
    let out = out.to_str().unwrap();
    let config = format!("{root}/configs/sweep_rate_table.toml");
    common::run_ok(&["run", &config, "-o", out, "--quiet"]);
    let j = common::json(&["inspect", out, "--json"]);
    let runs = j["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 292);
    let f = |r: &serde_json::Value, k: &str| r[k].as_f64().unwrap();
    for row in &table {
        let (bi, ti): (f64, f64) = {
            let mut it = row[0].split(',').map(|x| {
                x.trim()
                    .trim_end_matches(['T', 'K'])
                    .trim()
                    .parse::<f64>()
                    .unwrap()
            });
            (it.next().unwrap(), it.next().unwrap())
        };
        let mut rs: Vec<&serde_json::Value> = runs
            .iter()
            .filter(|r| f(r, "b_initial_t") == bi && f(r, "initial_temperature_k") == ti)
            .collect();
        rs.sort_by(|a, b| f(a, "sweep_rate_t_per_s").total_cmp(&f(b, "sweep_rate_t_per_s")));
        assert_eq!(rs.len(), 73);
        let dev = |r: &serde_json::Value| {
            ((f(r, "equilibrium_temperature_k") - ti) / (f(r, "sudden_final_temperature_k") - ti)
                - 1.0)
                .abs()
        };
        // The last crossing of 10 %: every faster grid rate is within it.
        let k = (1..rs.len())
            .rev()
            .find(|&k| dev(rs[k - 1]) >= 0.1)
            .unwrap();
        assert!(rs[k..].iter().all(|r| dev(r) < 0.1));
        let (a, b) = (
            f(rs[k - 1], "sweep_rate_t_per_s").ln(),
            f(rs[k], "sweep_rate_t_per_s").ln(),
        );
        let (da, db) = (dev(rs[k - 1]).ln(), dev(rs[k]).ln());
        let rate = (a + (0.1f64.ln() - da) / (db - da) * (b - a)).exp();
        let want: f64 = row[1].trim_end_matches("T/s").trim().parse().unwrap();
        assert_eq!(
            format!("{rate:.1e}"),
            format!("{want:.1e}"),
            "{bi} T, {ti} K: crossing"
        );
        let at10 = rs
            .iter()
            .find(|r| f(r, "sweep_rate_t_per_s") == 10.0)
            .expect("10 T/s is a grid rate");
        let samples = at10["sample_temperatures_k"].as_array().unwrap();
        for (cell, value) in row[2..].iter().zip([
            f(at10, "equilibrium_temperature_k") - ti,
            f(at10, "sudden_final_temperature_k") - ti,
            samples[0].as_f64().unwrap() - ti,
            samples[1].as_f64().unwrap() - ti,
        ]) {
            let text = cell.trim_end_matches('K').trim();
            let digits = text.split('.').nth(1).map_or(0, str::len);
            assert_eq!(format!("{value:.digits$}"), text, "{bi} T, {ti} K: {cell}");
        }
    }
}
