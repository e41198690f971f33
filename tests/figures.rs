//! Figures: the data files of the paper's figures equal the limit solvers' output, batch
//! figures render, and bad files get clear messages.

mod common;

use smmcool::model::limits::{minimum_delta_t, FieldChange, Limit};
use smmcool::model::Material;
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use common::read_series_csv as read_csv;

fn is_png(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|b| b.len() > 1000 && b.starts_with(b"\x89PNG"))
}

/// Width and height of a PNG from its IHDR chunk (bytes 16-23, big-endian).
fn png_size(path: &Path) -> (u32, u32) {
    let b = std::fs::read(path).unwrap();
    let be = |k: usize| u32::from_be_bytes([b[k], b[k + 1], b[k + 2], b[k + 3]]);
    (be(16), be(20))
}

#[test]
fn paper_figure_data_equal_the_limit_solvers() {
    let dir = tempfile::tempdir().unwrap();
    let files = smmcool::figures::paper_analytic(dir.path()).unwrap();
    assert_eq!(files.len(), 24);
    for f in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "png"))
    {
        assert!(is_png(f), "{}", f.display());
        // One journal column, 8.5 cm at 300 dpi: 8.5 / 2.54 * 300 = 1003.9 px; the plot 0.7
        // of that high and the legend below it.
        let (w, h) = png_size(f);
        assert_eq!(w, 1004, "{}", f.display());
        assert!((702..1400).contains(&h), "{}: {h}", f.display());
    }
    // tau(B) with tunnelling: the points are `smmcool tau --field-t`'s (tests/tunnelling_rates.rs
    // checks that command against mpmath), and tunnelling never makes relaxation slower.
    let d = read_csv(&dir.path().join("tau_field_tunnelling.csv"));
    for t in smmcool::figures::TUNNELLING_FIGURE_TEMPERATURES_K {
        let with = &d[&format!("T = {t} K")];
        let without = &d[&format!("T = {t} K without tunnelling")];
        assert_eq!(with.len(), 301);
        for (a, b) in with.iter().zip(without) {
            assert!(a.1 <= b.1 * (1.0 + 1e-12), "T {t} B {}", a.0);
        }
        let picks = [0usize, 100, 216];
        let fields: Vec<String> = picks.iter().map(|&i| format!("{}", with[i].0)).collect();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_smmcool"))
            .args([
                "tau",
                "--material",
                "mn12ac-barra",
                "--json",
                "--temperature-k",
            ])
            .arg(format!("{t}"))
            .arg("--field-t")
            .arg(fields.join(","))
            .output()
            .unwrap();
        assert!(out.status.success());
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        for (k, &i) in picks.iter().enumerate() {
            let want = v["records"][k]["tau_model_s"].as_f64().unwrap();
            // The CSV keeps the shortest round-trip digits of each point.
            assert!(
                (with[i].1 - want).abs() <= 1e-12 * want,
                "T {t} B {}",
                with[i].0
            );
        }
    }
    // The misaligned curves (1 degree): `smmcool tau --misalignment-deg 1`'s points, and
    // their deepest minimum between 0.3 and 0.6 T, where only the odd k = 1 resonances lie
    // (closed without a transverse field), is within two grid steps (8 mT) of a k = 1
    // resonance field of `smmcool resonances --misalignment-deg 1`, and at least 3x below the
    // aligned curve there.
    let res = common::json(&[
        "resonances",
        "--material",
        "mn12ac-barra",
        "--misalignment-deg",
        "1",
        "--json",
    ]);
    let k1: Vec<f64> = res["resonances"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["k"].as_u64() == Some(1))
        .map(|r| r["field_t"].as_f64().unwrap())
        .collect();
    assert!(!k1.is_empty());
    for t in smmcool::figures::TUNNELLING_FIGURE_TEMPERATURES_K {
        let mis = &d[&format!(
            "T = {t} K misaligned {} deg",
            smmcool::figures::TUNNELLING_FIGURE_MISALIGNMENT_DEG
        )];
        let aligned = &d[&format!("T = {t} K")];
        assert_eq!(mis.len(), 301);
        let picks = [0usize, 110, 230];
        let fields: Vec<String> = picks.iter().map(|&i| format!("{}", mis[i].0)).collect();
        let tk = format!("{t}");
        let v = common::json(&[
            "tau",
            "--material",
            "mn12ac-barra",
            "--misalignment-deg",
            "1",
            "--json",
            "--temperature-k",
            &tk,
            "--field-t",
            &fields.join(","),
        ]);
        for (k, &i) in picks.iter().enumerate() {
            let want = v["records"][k]["tau_model_s"].as_f64().unwrap();
            assert!(
                (mis[i].1 - want).abs() <= 1e-12 * want,
                "T {t} B {}",
                mis[i].0
            );
        }
        let (imin, &(bmin, tmin)) = mis
            .iter()
            .enumerate()
            .filter(|(_, p)| p.0 > 0.3 && p.0 < 0.6)
            .min_by(|a, b| a.1 .1.total_cmp(&b.1 .1))
            .unwrap();
        let near = k1
            .iter()
            .map(|b| (b - bmin).abs())
            .fold(f64::INFINITY, f64::min);
        assert!(
            near <= 0.008 + 1e-12,
            "T {t}: minimum at {bmin} T, {near} T from k = 1"
        );
        assert!(
            tmin * 3.0 < aligned[imin].1,
            "T {t}: {tmin} vs {}",
            aligned[imin].1
        );
    }
    let m = Material::mn12ac();
    let fc = |bi: f64, bf: f64, ti: f64| FieldChange::of(&m, bi, bf, ti);
    // Fig. 6: both curves.
    let d = read_csv(&dir.path().join("fig6_sudden_vs_isentropic.csv"));
    let sudden = &d["sudden quench"];
    let isen = &d["isentropic (quasi-static)"];
    assert_eq!(sudden.len(), 96);
    for &(ti, dt) in sudden {
        let r = fc(0.5, 0.1, ti).sudden_final_k().unwrap() - ti;
        assert!((dt - r).abs() <= 1e-13, "Ti = {ti}: {dt} vs {r}");
    }
    for &(ti, dt) in isen {
        match fc(0.5, 0.1, ti).isentropic_final().unwrap().t_final_k() {
            Some(t) => assert!((dt - (t - ti)).abs() <= 1e-13),
            None => assert!(dt.is_nan()),
        }
    }
    // Fig. 4b, Bf = 0.1 T: its minimum is the published -2.152 K near 3.61 K.
    let d = read_csv(&dir.path().join("fig4b_deltaT_Bi1T.csv"));
    let curve = &d["Bf = 0.1 T"];
    let (ti_min, dt_min) = curve
        .iter()
        .copied()
        .fold((0.0, 0.0), |a, p| if p.1 < a.1 { p } else { a });
    assert!(
        (dt_min + 2.152).abs() < 0.01 && (ti_min - 3.61).abs() < 0.15,
        "{ti_min} {dt_min}"
    );
    // Fig. 5: the minima equal minimum_delta_t (none at Bf = Bi, where Delta T = 0 exactly).
    let d = read_csv(&dir.path().join("fig5_deltaT_min.csv"));
    for &(bf, dt) in d["Bi = 1 T"].iter().step_by(7) {
        match minimum_delta_t(&m.spin, &m.debye, 1.0, bf, Limit::Sudden, (0.2, 40.0)).unwrap() {
            Some(r) => assert!((dt - r.1).abs() <= 1e-12, "Bf = {bf}"),
            None => assert!(bf == 1.0 && dt == 0.0, "Bf = {bf}"),
        }
    }
    // Fig. 5 sampling (issue 16): (Ti)min rises monotonically from Bf -> 0 (no false minimum
    // from a coarse grid), the curves run from 1e-6 T to Bi, and Bf = 0 is a point of its own
    // that equals the solver's value there.
    let ti_min = read_csv(&dir.path().join("fig5_Ti_min.csv"));
    for bi in [0.5, 1.0] {
        let curve = &ti_min[&format!("Bi = {bi} T")];
        assert!(curve[0].0 <= 1e-6 * (1.0 + 1e-12) && curve[0].0 > 0.0);
        assert!(curve.last().unwrap().0 >= bi * (1.0 - 1e-5) * (1.0 - 1e-12));
        for w in curve.windows(2) {
            assert!(w[1].1 >= w[0].1 - 1e-9, "Bi = {bi}: {w:?}");
        }
        let zero = &ti_min[&format!("Bi = {bi} T; Bf = 0 (singular)")];
        let r = minimum_delta_t(&m.spin, &m.debye, bi, 0.0, Limit::Sudden, (0.2, 40.0))
            .unwrap()
            .unwrap();
        assert_eq!(zero, &vec![(0.0, r.0)]);
        let dt = &d[&format!("Bi = {bi} T")];
        assert_eq!(dt.last(), Some(&(bi, 0.0)));
    }
    // The values the issue quotes from `limits --minimum` at Bi = 0.5 T are on the curve.
    let curve = &ti_min["Bi = 0.5 T"];
    let near = |bf: f64| {
        curve
            .iter()
            .min_by(|a, b| (a.0 / bf).ln().abs().total_cmp(&(b.0 / bf).ln().abs()))
            .copied()
            .unwrap()
    };
    let (bf, ti) = near(1e-5);
    assert!(
        (bf / 1e-5).ln().abs() < 0.3 && (ti - 0.63).abs() < 0.1,
        "{bf} {ti}"
    );
    // Fig. 3: the tau = 1 s crossing is T_max = 4.572 K.
    let d = read_csv(&dir.path().join("fig3_tau.csv"));
    let tau = &d["τ₀ exp(U_b/T) (= Arrhenius-scaled rate model)"];
    let cross = tau
        .windows(2)
        .find(|w| w[0].1 >= 1.0 && w[1].1 < 1.0)
        .unwrap();
    assert!(cross[0].0 <= 4.572 && cross[1].0 >= 4.572);
    // T_max is marked at tau = 1 s: T_max = U_b / ln(1 s / tau0) (Arrhenius solved by hand).
    let a = Material::mn12ac().arrhenius;
    let t_max = a.barrier_k / (1.0 / a.tau0_s).ln();
    let mark = &d["T_max = 4.572 K (this model: τ = 1 s)"];
    assert_eq!(mark.len(), 1);
    assert!(
        (mark[0].0 - t_max).abs() < 1e-9 && mark[0].1 == 1.0,
        "{mark:?} {t_max}"
    );
    // The paper's quoted T_max (its text, Sec. 3: 4.6 K) is a vertical line across the curve,
    // drawn beside ours, and labelled as quoted.
    let quoted = &d[smmcool::figures::PAPER_T_MAX_LABEL];
    assert!(smmcool::figures::PAPER_T_MAX_LABEL.starts_with("quoted from the paper (Sec. 3)"));
    assert_eq!(quoted.len(), 2);
    assert!(quoted.iter().all(|p| p.0 == 4.6));
    assert!(quoted[0].1 < 1.0 && quoted[1].1 > 1.0);
}

#[test]
fn batch_figures_render_and_bad_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = d.join("c.toml");
    std::fs::write(
        &cfg,
        "[protocol]\nb_initial_t = 0.5\nb_final_t = 0.1\nt_initial_k = 4.0\n[output]\nlog_points_per_decade = 2\n[[sweep]]\nkey = \"protocol.sweep_rate_t_per_s\"\nvalues = [1e-2, 1e2, 1e6]\n",
    )
    .unwrap();
    let h5 = d.join("c.h5");
    let bin = env!("CARGO_BIN_EXE_smmcool");
    common::run_ok(&["run", cfg.to_str().unwrap(), "-o", h5.to_str().unwrap()]);
    let figs = d.join("figs");
    let all = common::run_ok(&["plot", h5.to_str().unwrap(), "-o", figs.to_str().unwrap()]);
    assert!(
        all.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&all.stderr)
    );
    // --max-runs below the stored trajectories: plotted, with a warning naming what was left.
    let few = d.join("few");
    let out = common::run_ok(&[
        "plot",
        h5.to_str().unwrap(),
        "-o",
        few.to_str().unwrap(),
        "--max-runs",
        "1",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "warning: plotted the first 1 of 3 stored trajectories (--max-runs 1); 2 left out"
        ),
        "{err}"
    );
    assert!(is_png(&few.join("run_000000_temperature.png")));
    assert!(!few.join("run_000001_temperature.png").exists());
    for name in [
        "run_000000_temperature.png",
        "run_000002_populations.png",
        "run_000001_magnetization.png",
        "sweep_delta_t_vs_rate.png",
    ] {
        assert!(is_png(&figs.join(name)), "{name}");
    }
    // Molar magnetization on request: the per-molecule moment times N_A mu_B, against the
    // magnetochemists' 5585 emu/mol (= 5.585 A m^2/mol) per mu_B, to its four digits.
    let per_molecule = read_csv(&figs.join("run_000001_magnetization.csv"));
    let per_molecule = &per_molecule["−g⟨M⟩"];
    assert!(per_molecule.iter().all(|p| p.1.abs() <= 20.0));
    assert!(per_molecule.iter().any(|p| p.1.abs() > 1e-3));
    for (unit, per_mu_b, header) in [
        ("emu-per-mol", 5585.0, "emu mol⁻¹"),
        ("am2-per-mol", 5.585, "A m² mol⁻¹"),
    ] {
        let molar = d.join(unit);
        common::run_ok(&[
            "plot",
            h5.to_str().unwrap(),
            "-o",
            molar.to_str().unwrap(),
            "--magnetization-unit",
            unit,
        ]);
        let csv = molar.join("run_000001_magnetization.csv");
        let text = std::fs::read_to_string(&csv).unwrap();
        assert!(text.lines().next().unwrap().contains(header), "{unit}");
        let got = &read_csv(&csv)["−g⟨M⟩"];
        assert_eq!(got.len(), per_molecule.len());
        // The batch file stores the molar moment too (magnetization_am2_per_mol): the figure's
        // SI values are it, to the CSV's digits.
        if unit == "am2-per-mol" {
            let tr = smmcool::io::read_trajectory(&h5, 1).unwrap().unwrap();
            let stored: Vec<f64> = (0..tr.time_s.len())
                .filter(|&k| tr.time_s[k] > 0.0)
                .map(|k| tr.magnetization_am2_per_mol[k])
                .collect();
            assert_eq!(stored.len(), got.len());
            for (a, b) in stored.iter().zip(got) {
                assert!((a - b.1).abs() <= 1e-12 * a.abs().max(1e-12), "{a} {b:?}");
            }
        }
        for (a, b) in per_molecule.iter().zip(got) {
            assert_eq!(a.0, b.0);
            assert!(
                (b.1 - a.1 * per_mu_b).abs() <= 1e-4 * (a.1 * per_mu_b).abs(),
                "{unit}: {a:?} {b:?}"
            );
        }
    }
    // The overview: every plotted run's T(t) on one log-time axis, as stored.
    let overview = read_csv(&figs.join("overview_temperature.csv"));
    assert_eq!(overview.len(), 3);
    for i in 0..3 {
        let tr = smmcool::io::read_trajectory(&h5, i).unwrap().unwrap();
        let want: Vec<(f64, f64)> = (0..tr.time_s.len())
            .filter(|&k| tr.time_s[k] > 0.0)
            .map(|k| (tr.time_s[k], tr.phonon_temperature_k[k]))
            .collect();
        let (_, got) = overview
            .iter()
            .find(|(name, _)| name.starts_with(&format!("run {i}: Ti = 4 K; ")))
            .unwrap();
        assert_eq!(got.len(), want.len());
        for (a, b) in got.iter().zip(&want) {
            assert!((a.0 - b.0).abs() <= 1e-15 * b.0 && (a.1 - b.1).abs() <= 1e-15 * b.1);
        }
        // Populations: one line per M, on the colour map by M (SVG stroke colours), the
        // stored values down to the axis floor and breaks below it.
        let pops = read_csv(&figs.join(format!("run_{i:06}_populations.csv")));
        assert_eq!(pops.len(), 21);
        let svg =
            std::fs::read_to_string(figs.join(format!("run_{i:06}_populations.svg"))).unwrap();
        for l in 0..21 {
            let got = &pops[&format!("M = {}", l as f64 - 10.0)];
            let stored: Vec<f64> = (0..tr.time_s.len())
                .filter(|&k| tr.time_s[k] > 0.0)
                .map(|k| tr.populations[k][l])
                .collect();
            assert_eq!(got.len(), stored.len());
            let floor = got.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
            assert!(floor >= smmcool::figures::POPULATION_FLOOR);
            for (a, b) in got.iter().zip(&stored) {
                if a.1.is_nan() {
                    assert!(*b < smmcool::figures::POPULATION_FLOOR || *b < floor, "{b}");
                } else {
                    assert!((a.1 - b).abs() <= 1e-15 * b, "{a:?} {b}");
                }
            }
            let c = smmcool::figures::plot::level_color(l as f64 / 20.0);
            let stroke = format!("stroke=\"#{:02X}{:02X}{:02X}\"", c.0, c.1, c.2);
            assert!(svg.contains(&stroke), "M = {}: {stroke}", l as f64 - 10.0);
        }
        assert!(svg.contains("level M (populations coloured by M)"));
    }
    // The sweep figure's limit lines are the run's analytic limits.
    let data = read_csv(&figs.join("sweep_delta_t_vs_rate.csv"));
    let m = Material::mn12ac();
    let fc = FieldChange::of(&m, 0.5, 0.1, 4.0);
    let s = fc.sudden_final_k().unwrap() - 4.0;
    assert!(data["kinetic: sudden"]
        .iter()
        .all(|p| (p.1 - s).abs() < 1e-12));
    // Missing file, non-HDF5 file: exit 2 naming the file.
    for (path, needle) in [(d.join("nope.h5"), "nope.h5"), (cfg.clone(), "c.toml")] {
        let out = Command::new(bin)
            .args(["plot", path.to_str().unwrap(), "-o", figs.to_str().unwrap()])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(needle), "{err}");
    }
}

/// The heat-link figures (issue 14): 18 files of one journal column; a link to the bath at Ti
/// never lets the sample cool more than without it, a weaker link (longer C/K) never cools
/// less, and every linked T(t) lies at or above the adiabatic one and ends at the bath.
#[test]
fn heat_link_figures_bound_the_cooling_by_the_adiabatic_run() {
    let dir = tempfile::tempdir().unwrap();
    let files = smmcool::figures::heat_link_figures(dir.path(), 1).unwrap();
    assert_eq!(files.len(), 18);
    for f in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "png"))
    {
        assert!(is_png(f), "{}", f.display());
        assert_eq!(png_size(f).0, 1004, "{}", f.display());
    }
    let d = read_csv(&dir.path().join("heat_link_cooling_vs_time_constant.csv"));
    for ti in [2, 3, 4] {
        let linked = &d[&format!("Ti = {ti} K")];
        let free = d[&format!("Ti = {ti} K; no link")][0].1;
        assert_eq!(linked.len(), 33);
        for w in linked.windows(2) {
            assert!(w[1].1 >= w[0].1 - 1e-9, "Ti = {ti} K: {w:?}");
        }
        for &(tau, c) in linked {
            assert!(
                c > 0.0 && c <= free + 1e-9,
                "Ti = {ti} K, {tau} s: {c} K vs {free} K"
            );
        }
    }
    for ti in [3.0, 4.0] {
        let d = read_csv(&dir.path().join(format!("heat_link_temperature_{ti}K.csv")));
        let free: HashMap<u64, f64> = d["no link (adiabatic)"]
            .iter()
            .map(|&(t, temp)| (t.to_bits(), temp))
            .collect();
        assert_eq!(d.len(), 7);
        for (name, pts) in d.iter().filter(|(n, _)| n.starts_with("C/K")) {
            let mut compared = 0;
            for &(t, temp) in pts {
                if let Some(&f) = free.get(&t.to_bits()) {
                    assert!(temp >= f - 1e-9, "{ti} K, {name} at {t} s: {temp} < {f}");
                    compared += 1;
                }
            }
            assert!(compared > 20, "{name}: {compared}");
            let last = pts.last().unwrap().1;
            assert!((last - ti).abs() <= 1e-6, "{name} ends at {last} K");
        }
    }
}

/// The heat capacity the figures' link time constants use (lattice + intra-well spins, wells
/// frozen) against the time constants C/K of scripts/heat_link_reference.py, computed there
/// independently, for its cases without addenda.
#[test]
fn frozen_heat_capacity_matches_the_reference_time_constants() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scripts/heat_link_reference.json"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let r = 6.022_140_76e23 * 1.380_649e-23;
    let m = Material::mn12ac();
    let mut checked = 0;
    for case in v["cases"].as_array().unwrap() {
        let f = |k: &str| case[k].as_f64().unwrap();
        if f("addenda_gamma_j_per_k2") != 0.0 || f("addenda_beta_j_per_k4") != 0.0 {
            continue;
        }
        let ti = f("initial_temperature_k");
        let k = f("link_conductance_w_per_k") / (f("amount_mol") * r) * ti.powf(f("link_exponent"));
        let tau = smmcool::figures::frozen_heat_capacity(&m, f("b_final_t"), ti) / k;
        let want = f("link_time_constant_s");
        assert!((tau / want - 1.0).abs() <= 1e-12, "{tau} s vs {want} s");
        checked += 1;
    }
    assert!(checked >= 2);
}

/// Figs. 4a and 4b draw each final field in one colour and dash pattern: every Bf of either
/// figure (read from their CSVs) has a slot of its own, the same in both.
#[test]
fn fig4_final_fields_share_one_style_across_both_figures() {
    use smmcool::figures::{fig4_slot, FIG4_FINAL_FIELDS_T};
    let dir = tempfile::tempdir().unwrap();
    smmcool::figures::paper_analytic(dir.path()).unwrap();
    let mut fields = Vec::new();
    for name in ["fig4a_deltaT_Bi0p5T.csv", "fig4b_deltaT_Bi1T.csv"] {
        for label in read_csv(&dir.path().join(name)).keys() {
            let bf: f64 = label
                .strip_prefix("Bf = ")
                .and_then(|s| s.strip_suffix(" T"))
                .unwrap()
                .parse()
                .unwrap();
            fields.push(bf);
        }
    }
    let slots: std::collections::BTreeSet<usize> = fields.iter().map(|&b| fig4_slot(b)).collect();
    let distinct: std::collections::BTreeSet<u64> = fields.iter().map(|b| b.to_bits()).collect();
    assert_eq!(slots.len(), distinct.len(), "{fields:?}");
    assert!(slots.iter().all(|&k| k < FIG4_FINAL_FIELDS_T.len()));
    // 0, 0.1 and 0.3 T appear in both figures.
    assert_eq!(fields.len(), distinct.len() + 3);
}

/// A `<text>` element of an SVG figure: pixel position, text-anchor, fill colour, content.
#[derive(Debug, Clone)]
struct SvgText {
    x: f64,
    y: f64,
    anchor: String,
    fill: String,
    text: String,
}

/// The `<text>` elements of an SVG written by plotters.
fn svg_texts(path: &Path) -> Vec<SvgText> {
    let svg = std::fs::read_to_string(path).unwrap();
    let attr = |tag: &str, name: &str| -> String { common::svg_attr(tag, name).unwrap() };
    common::svg_text_elements(&svg)
        .into_iter()
        .map(|(tag, text)| SvgText {
            x: attr(tag, "x").parse().unwrap(),
            y: attr(tag, "y").parse().unwrap(),
            anchor: attr(tag, "text-anchor"),
            fill: attr(tag, "fill"),
            text,
        })
        .collect()
}

/// Width in px of `text` at `size_pt` at 300 dpi in the figures' font (DejaVu Sans).
fn text_width_px(text: &str, size_pt: f64) -> f64 {
    use plotters::style::IntoFont;
    smmcool::figures::plot::init_font().unwrap();
    let px = (size_pt * 300.0 / 72.0).round();
    let (w, _) = ("sans-serif", px).into_font().box_size(text).unwrap();
    f64::from(w)
}

/// A tick label's value (true minus signs as ASCII).
fn tick_value(s: &str) -> Option<f64> {
    s.replace('−', "-").parse().ok()
}

/// The linear maps pixel -> data of a chart's axes, from its tick labels: the y ticks are
/// right-aligned at one x, the x ticks centred at one y.
fn axis_maps(texts: &[SvgText]) -> (impl Fn(f64) -> f64, impl Fn(f64) -> f64) {
    let fit = |pts: Vec<(f64, f64)>| {
        assert!(pts.len() >= 3, "{pts:?}");
        let (a, b) = (pts[0], pts[pts.len() - 1]);
        let slope = (b.1 - a.1) / (b.0 - a.0);
        // Every tick on the line through the extreme two (a linear axis).
        for p in &pts {
            assert!(
                (a.1 + slope * (p.0 - a.0) - p.1).abs() < 1.5 * slope.abs(),
                "{pts:?}"
            );
        }
        move |px: f64| a.1 + slope * (px - a.0)
    };
    let ys: Vec<(f64, f64)> = texts
        .iter()
        .filter(|t| t.anchor == "end" && t.fill == "#000000")
        .filter_map(|t| tick_value(&t.text).map(|v| (t.y, v)))
        .collect();
    let xs: Vec<(f64, f64)> = texts
        .iter()
        .filter(|t| t.anchor == "middle")
        .filter_map(|t| tick_value(&t.text).map(|v| (t.x, v)))
        .collect();
    (fit(xs), fit(ys))
}

/// Fig. 2 labels the Zeeman sublevels of the ground and first excited doublets with their M
/// values, as the paper does: each label, located through the figure's own tick labels, sits
/// on its level (E_M - E_-10 = D (M^2 - 100) + g mu_B B (M + 10), written out here) within a
/// pixel and a half, in its well's colour, and no level crosses the label's text box (its
/// width measured with the figures' font).
#[test]
fn fig2_labels_name_the_levels_they_sit_on() {
    let dir = tempfile::tempdir().unwrap();
    smmcool::figures::paper_analytic(dir.path()).unwrap();
    let texts = svg_texts(&dir.path().join("fig2_levels.svg"));
    let (to_b, to_e) = axis_maps(&texts);
    let m = Material::mn12ac();
    let (d, z) = (m.spin.d_k(), m.spin.zeeman_k_per_t());
    let level = |mv: f64, b: f64| d * (mv * mv - 100.0) + z * b * (mv + 10.0);
    // The plotted ground level is M = -10 (its CSV series is 0 everywhere).
    let csv = std::fs::read_to_string(dir.path().join("fig2_levels.csv")).unwrap();
    assert!(csv.lines().nth(1).unwrap().ends_with(",0e0"), "{csv:.200}");
    // 1.5 pt at 300 dpi: the gap between a label and its point, px; 7 pt: the font size.
    let gap = (1.5_f64 * 300.0 / 72.0).round();
    let font = (7.0_f64 * 300.0 / 72.0).round();
    let k_per_px = (to_e(0.0) - to_e(100.0)).abs() / 100.0;
    let mut seen = Vec::new();
    for t in texts
        .iter()
        .filter(|t| t.text.starts_with("M = ") && t.text != "M = 0")
    {
        let mv = tick_value(&t.text["M = ".len()..].replace('+', "")).unwrap();
        let w = text_width_px(&t.text, 7.0);
        // The labelled point and the text box (pixel x0..x1, y0..y1, y downwards).
        let ((px, py), (x0, x1, y0, y1)) = if t.anchor == "end" {
            ((t.x, t.y + gap), (t.x - w, t.x, t.y - font, t.y))
        } else {
            ((t.x - gap, t.y - gap), (t.x, t.x + w, t.y, t.y + font))
        };
        let (b, e) = (to_b(px), to_e(py));
        assert!(
            (e - level(mv, b)).abs() < 1.5 * k_per_px,
            "{}: at B = {b} T E = {e} K, level {} K",
            t.text,
            level(mv, b)
        );
        let (lo, hi) = (to_e(y1), to_e(y0));
        for other in (-10..=10).map(f64::from) {
            let (a, c) = (level(other, to_b(x0)), level(other, to_b(x1)));
            let clear = (a <= lo && c <= lo) || (a >= hi && c >= hi);
            assert!(clear, "{}: level M = {other} crosses the label", t.text);
        }
        let well = if mv < 0.0 { "#0072B2" } else { "#D55E00" };
        assert_eq!(t.fill, well, "{}", t.text);
        seen.push(mv);
    }
    seen.sort_by(f64::total_cmp);
    assert_eq!(seen, [-10.0, -9.0, 9.0, 10.0]);
}

/// Figs. 4a and 4b share one y range (the union of both): the same y tick labels at the same
/// pixel rows, though their data reach different depths (-1.94 K and -2.15 K).
#[test]
fn fig4a_and_fig4b_share_one_y_range() {
    let dir = tempfile::tempdir().unwrap();
    smmcool::figures::paper_analytic(dir.path()).unwrap();
    let mut ticks = Vec::new();
    let mut depth = Vec::new();
    for name in ["fig4a_deltaT_Bi0p5T", "fig4b_deltaT_Bi1T"] {
        let texts = svg_texts(&dir.path().join(format!("{name}.svg")));
        let y: Vec<(String, f64)> = texts
            .iter()
            .filter(|t| t.anchor == "end" && tick_value(&t.text).is_some())
            .map(|t| (t.text.clone(), t.y))
            .collect();
        assert!(y.len() >= 4, "{name}: {y:?}");
        let (_, to_dt) = axis_maps(&texts);
        let lowest = read_csv(&dir.path().join(format!("{name}.csv")))
            .values()
            .flatten()
            .map(|p| p.1)
            .fold(f64::INFINITY, f64::min);
        // The axis reaches below the deeper of the two minima in both figures.
        assert!(to_dt(600.0).min(to_dt(0.0)) < -2.15, "{name}");
        ticks.push(y);
        depth.push(lowest);
    }
    assert!((depth[0] - depth[1]).abs() > 0.1, "{depth:?}");
    assert_eq!(ticks[0], ticks[1]);
}

/// The heat-switch cycle figures (issue 14): the field drawn is the cycle's B(t) written out
/// here by hand (hold 300 s at 1 T, 10 T/s down to 0 T, hold 100 s, 0.1 T/s back up), solid
/// exactly where the switch is closed (the holds at 1 T and the ramps up); the temperature is
/// the run's, with the marked minima below every drawn point of their cycle and the same
/// minima in every cycle after the first to 1e-3 K (the 300 s linked hold brings the sample
/// almost back to the bath).
#[test]
fn heat_switch_cycle_figures_draw_the_cycle_and_its_minima() {
    let dir = tempfile::tempdir().unwrap();
    let files = smmcool::figures::heat_switch_cycle_figures(dir.path(), 1).unwrap();
    assert!(files.iter().any(|f| is_png(f)));
    let field = read_csv(&dir.path().join("heat_switch_cycle_field.csv"));
    let period = 300.0 + 0.1 + 100.0 + 10.0;
    let by_hand = |t: f64| {
        let x = t - period * (t / period).floor();
        let closed = !(300.0..400.1).contains(&x);
        let b = if x <= 300.0 {
            1.0
        } else if x <= 300.1 {
            1.0 - 10.0 * (x - 300.0)
        } else if x <= 400.1 {
            0.0
        } else {
            0.1 * (x - 400.1)
        };
        (b, closed)
    };
    let mut drawn = 0;
    for (name, closed) in [
        ("switch closed (linked to the bath)", true),
        ("switch open (adiabatic)", false),
    ] {
        for &(t, b) in &field[name] {
            if !b.is_finite() || t > 3.0 * period - 1e-9 {
                continue;
            }
            let (want, is_closed) = by_hand(t);
            // Ends of segments belong to both sides.
            let x = t - period * (t / period).floor();
            let at_end = [0.0, 300.0, 300.1, 400.1, period]
                .iter()
                .any(|e| (x - e).abs() < 1e-6);
            assert!(at_end || is_closed == closed, "{name} at {t} s");
            assert!((b - want).abs() < 1e-9, "{name} at {t} s: {b} vs {want}");
            drawn += 1;
        }
    }
    assert!(drawn > 1000, "{drawn}");
    let temp = read_csv(&dir.path().join("heat_switch_cycle_temperature.csv"));
    let t = &temp["T(t)"];
    let minima = &temp["lowest T of each cycle"];
    assert_eq!(minima.len(), 3);
    for (k, &(when, tmin)) in minima.iter().enumerate() {
        let (a, b) = (k as f64 * period, (k + 1) as f64 * period);
        assert!((a..=b).contains(&when));
        assert!(t
            .iter()
            .filter(|p| (a..=b).contains(&p.0))
            .all(|p| p.1 >= tmin - 1e-12));
        // The ramp down cools the sample below the bath.
        assert!(tmin < 2.9, "{tmin}");
        if k > 0 {
            assert!((tmin - minima[1].1).abs() < 1e-3);
        }
    }
}

/// The CSV of a heat map: (x, y, z) rows.
fn read_map(path: &Path) -> Vec<(f64, f64, f64)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let v: Vec<f64> = l.split(',').map(|x| x.parse().unwrap()).collect();
            (v[0], v[1], v[2])
        })
        .collect()
}

/// The validity map and the two arrival maps (issue 16): 61 x 61 cells; cells equal what
/// `smmcool simulate` reports for the same ramp (its equilibrium and sudden Delta T, its
/// samples' fraction_of_equilibrium_delta_temperature_rel); cooling only accumulates (the
/// fraction at 1 h is at least that at 1 s, both within [0, 1]); PNG and SVG of one column;
/// the colour-bar title fits the width; the over-range mark appears exactly where the data
/// leave the colour scale (deviations up to 1.42 > 1 in the validity map, fractions never
/// above 1 at 1 s).
#[test]
fn validity_and_arrival_maps_hold_the_engine_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let files = smmcool::figures::validity_maps(dir.path(), 1).unwrap();
    assert_eq!(files.len(), 9);
    let p = |name: &str| dir.path().join(name);
    let valid = read_map(&p("validity_map.csv"));
    let at_1s = read_map(&p("cooling_arrived_1s.csv"));
    let at_1h = read_map(&p("cooling_arrived_1h.csv"));
    let (rates, tis) = smmcool::figures::validity_map_grid(1);
    assert!(rates.len() >= 60 && tis.len() >= 60);
    for map in [&valid, &at_1s, &at_1h] {
        assert_eq!(map.len(), rates.len() * tis.len());
        assert!(map.iter().all(|c| c.2.is_finite()));
    }
    for (a, b) in at_1s.iter().zip(&at_1h) {
        assert_eq!((a.0, a.1), (b.0, b.1));
        assert!(a.2 >= -1e-12 && b.2 <= 1.0 + 1e-9, "{a:?} {b:?}");
        assert!(b.2 >= a.2 - 1e-9, "cooling went back: {a:?} {b:?}");
    }
    // Cells against the CLI: slow and fast ramps, cold and warm starts (the paper's 10 T/s
    // ramp among them at 1 T/s's neighbour cells).
    let n = rates.len();
    for (ix, iy) in [
        (0, n - 1),
        (n / 2, n / 2),
        (n / 2 + 4, 20),
        (n - 1, 0),
        (10, 45),
    ] {
        let k = iy * n + ix;
        let (rate, ti) = (valid[k].0, valid[k].1);
        let (r, t) = (format!("{rate:e}"), format!("{ti:e}"));
        let args = [
            "simulate",
            "--b-initial-t",
            "0.5",
            "--b-final-t",
            "0.1",
            "--initial-temperature-k",
            &t,
            "--sweep-rate-t-per-s",
            &r,
            "--sample-times-after-ramp-s",
            "1,3600",
            "--json",
        ];
        let j = common::json(&args);
        let f = |key: &str| j[key].as_f64().unwrap();
        let dev =
            (f("equilibrium_delta_temperature_k") / f("sudden_delta_temperature_k") - 1.0).abs();
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1e-6);
        assert!(
            close(valid[k].2, dev),
            "{rate} T/s, {ti} K: {} vs {dev}",
            valid[k].2
        );
        for (s, map) in [(0, &at_1s), (1, &at_1h)] {
            let want = j["samples"][s]["fraction_of_equilibrium_delta_temperature_rel"]
                .as_f64()
                .unwrap();
            assert!(
                close(map[k].2, want),
                "{rate} T/s, {ti} K, sample {s}: {} vs {want}",
                map[k].2
            );
        }
    }
    let max_dev = valid.iter().map(|c| c.2).fold(0.0, f64::max);
    assert!(max_dev > 1.0, "{max_dev}");
    for (name, over) in [("validity_map", true), ("cooling_arrived_1s", false)] {
        assert!(is_png(&p(&format!("{name}.png"))));
        let (w, h) = png_size(&p(&format!("{name}.png")));
        assert_eq!(w, 1004, "{name}");
        assert!((800..1300).contains(&h), "{name}: {h}");
        let svg_path = p(&format!("{name}.svg"));
        let svg = std::fs::read_to_string(&svg_path).unwrap();
        assert!(
            svg.contains(&format!("width=\"{w}\" height=\"{h}\"")),
            "{name}"
        );
        assert_eq!(
            svg.contains("<polygon"),
            over,
            "{name}: over-range triangle"
        );
        let texts = svg_texts(&svg_path);
        assert_eq!(
            texts
                .iter()
                .any(|t| t.text.starts_with("▶ on the colour bar")),
            over,
            "{name}: over-range legend"
        );
        // The colour-bar title (centred, 8 pt), measured with the figures' font, inside the
        // figure.
        let title = texts
            .iter()
            .find(|t| t.text.starts_with("|ΔT_eq") || t.text.starts_with("fraction arrived"))
            .unwrap();
        let half = 0.5 * text_width_px(&title.text, 8.0);
        assert_eq!(title.anchor, "middle");
        assert!(
            title.x - half >= 0.0 && title.x + half <= f64::from(w),
            "{name}: {title:?}"
        );
    }
}
