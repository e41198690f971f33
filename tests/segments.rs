//! Segmented protocols with a heat switch (issue 14; docs/physics.md "Segments and the heat
//! switch"): a run as holds, ramps and waveforms, each with the link open or closed, repeated
//! over cycles. With the switch closed throughout a segmented run is the waveform run through
//! the same points (and one ramp segment today's linear ramp); every segment closes its own
//! energy balance; an open switch passes no heat; a closed hold long against C/K brings the
//! sample to the bath, so that cycles after an equilibrating hold repeat; bad segments are
//! refused naming the key and the segment.

use smmcool::kinetics::{simulate, EngineContext, Trajectory};
use smmcool::scenario::{LinkSection, SegmentSection, ValueList};
use smmcool::{ProtocolSection, Scenario};

mod common;

static CTX: std::sync::LazyLock<EngineContext> = std::sync::LazyLock::new(EngineContext::new);

/// Sample amount, mol.
const AMOUNT: f64 = 1e-6;
/// Link conductance K1, W/K: C/K ~ 20 s at 3 K for 1e-6 mol of Mn12Ac.
const K1: f64 = 4e-8;

fn run(s: &Scenario) -> Trajectory {
    let built = s.build().unwrap_or_else(|e| panic!("{e}"));
    simulate(&CTX, &built.spec).unwrap_or_else(|e| panic!("{e}"))
}

fn linked(mut s: Scenario) -> Scenario {
    s.sample.amount_mol = Some(AMOUNT);
    s.link = LinkSection {
        conductance_w_per_k: Some(K1),
        exponent: None,
        bath_temperature_k: None,
    };
    s
}

/// Segments from `bi` at `ti`, `cycles` times.
fn segmented(bi: f64, ti: f64, segs: Vec<SegmentSection>, cycles: Option<u64>) -> Scenario {
    Scenario::new(ProtocolSection {
        b_final_t: None,
        sweep_rate_t_per_s: None,
        segment: segs,
        cycles,
        ..ProtocolSection::linear_ramp(bi, 0.0, ti, 0.0)
    })
}

/// The waveform through (times, fields) from `ti`.
fn waveform(times: &[f64], fields: &[f64], ti: f64) -> Scenario {
    Scenario::new(ProtocolSection {
        b_initial_t: None,
        b_final_t: None,
        sweep_rate_t_per_s: None,
        waveform_time_s: Some(ValueList(times.to_vec())),
        waveform_field_t: Some(ValueList(fields.to_vec())),
        ..ProtocolSection::linear_ramp(0.0, 0.0, ti, 0.0)
    })
}

/// Largest temperature difference between two runs at their samples on the output grid (the
/// same times; the last sample, at the time equilibrium was found, is compared by the
/// callers), K.
fn max_difference(a: &Trajectory, b: &Trajectory) -> f64 {
    assert_eq!(a.samples.len(), b.samples.len());
    let n = a.samples.len() - 1;
    a.samples[..n]
        .iter()
        .zip(&b.samples[..n])
        .map(|(x, y)| {
            assert!(
                (x.t_s - y.t_s).abs() <= 1e-12 * x.t_s.abs(),
                "{} {}",
                x.t_s,
                y.t_s
            );
            (x.t_phonon_k - y.t_phonon_k).abs()
        })
        .fold(0.0, f64::max)
}

#[test]
fn switch_closed_throughout_is_the_waveform_through_the_same_points() {
    // Hold 5 s, ramp 1 -> 0.2 T at 0.5 T/s, hold 30 s, all linked: the waveform (0, 1),
    // (5, 1), (6.6, 0.2), (36.6, 0.2) under the same link.
    let segs = vec![
        SegmentSection::hold(5.0, true),
        SegmentSection::ramp(0.2, 0.5, true),
        SegmentSection::hold(30.0, true),
    ];
    let s = linked(segmented(1.0, 3.0, segs, None));
    let w = linked(waveform(&[0.0, 5.0, 6.6, 36.6], &[1.0, 1.0, 0.2, 0.2], 3.0));
    let (a, b) = (run(&s), run(&w));
    let d = max_difference(&a, &b);
    println!("segments vs waveform: max |dT| = {d:e} K");
    assert!(d <= 1e-12, "{d:e}");
    assert!((a.t_final_k - b.t_final_k).abs() <= 1e-12);
    assert!((a.minimum_temperature_k - b.minimum_temperature_k).abs() <= 1e-12);
    assert!((a.heat_to_bath_k - b.heat_to_bath_k).abs() <= 1e-12 * b.heat_to_bath_k.abs());
    assert_eq!(a.segments.len(), 3);
    assert_eq!(a.cycles.len(), 1);
    assert!(b.segments.is_empty());
}

#[test]
fn one_ramp_segment_is_todays_linear_ramp_with_and_without_a_link() {
    for link in [false, true] {
        let lin = Scenario::new(ProtocolSection::linear_ramp(1.0, 0.0, 3.0, 10.0));
        let seg = segmented(1.0, 3.0, vec![SegmentSection::ramp(0.0, 10.0, link)], None);
        let (lin, seg) = if link {
            (linked(lin), linked(seg))
        } else {
            (lin, seg)
        };
        let (a, b) = (run(&seg), run(&lin));
        let d = max_difference(&a, &b);
        println!("link {link}: one ramp segment vs linear ramp: max |dT| = {d:e} K");
        assert!(d <= 1e-12, "{d:e}");
        assert!((a.t_final_k - b.t_final_k).abs() <= 1e-12);
        assert!((a.minimum_temperature_k - b.minimum_temperature_k).abs() <= 1e-12);
        assert!((a.t_equilibrium_k - b.t_equilibrium_k).abs() <= 1e-12);
        let r = &a.segments[0];
        assert_eq!((r.kind.as_str(), r.link_closed), ("ramp", link));
        assert!((r.end_temperature_k - b.t_after_ramp_k).abs() <= 1e-12);
    }
}

/// The refrigeration cycle of the issue: hold at 1 T linked to the bath, open the switch,
/// ramp down to 0 T at 10 T/s, watch 60 s, ramp back up linked at 0.1 T/s; `cycles` times.
fn cycle(hold_s: f64, cycles: u64) -> Scenario {
    let segs = vec![
        SegmentSection::hold(hold_s, true),
        SegmentSection::ramp(0.0, 10.0, false),
        SegmentSection::hold(60.0, false),
        SegmentSection::ramp(1.0, 0.1, true),
    ];
    linked(segmented(1.0, 3.0, segs, Some(cycles)))
}

#[test]
fn refrigeration_cycles_close_their_energy_balance_and_repeat_after_equilibrium() {
    let tr = run(&cycle(2000.0, 3));
    assert_eq!(tr.segments.len(), 12);
    assert_eq!(tr.cycles.len(), 3);
    println!(
        "energy balance over the run {:.2e}",
        tr.energy_balance_error
    );
    for s in &tr.segments {
        println!(
            "cycle {} segment {} {:<5} closed {:<5} end {:>9.3} s: T_end {:.9} K, T_min {:.9} K at {:.4} s, work {:+.4e} K, heat {:+.4e} K, balance {:.1e}",
            s.cycle, s.segment, s.kind, s.link_closed, s.end_s, s.end_temperature_k,
            s.minimum_temperature_k, s.minimum_s, s.work_k, s.heat_to_bath_k,
            s.energy_balance_error_rel
        );
        // Each segment's own balance: U(end) - U(start) = work - heat.
        assert!(s.energy_balance_error_rel <= 1e-10, "{s:?}");
        // An open switch passes no heat, exactly.
        if !s.link_closed {
            assert!(s.heat_to_bath_k.abs() <= 0.0, "{s:?}");
        }
        assert!(s.minimum_temperature_k <= s.end_temperature_k);
        assert!((s.start_s..=s.end_s).contains(&s.minimum_s));
    }
    for c in &tr.cycles {
        println!(
            "cycle {}: T_min {:.9} K at {:.4} s, T_end {:.9} K, work {:+.6e} K, heat to the bath {:+.6e} K",
            c.cycle, c.minimum_temperature_k, c.minimum_s, c.end_temperature_k, c.work_k,
            c.heat_to_bath_k
        );
        // The ramp down cools below the bath.
        assert!(c.minimum_temperature_k < 3.0 - 0.1, "{c:?}");
    }
    // A closed hold of 100 C/K (and many spin relaxation times at 1 T, 3 K) ends at the
    // bath ...
    for s in tr.segments.iter().filter(|s| s.segment == 0) {
        assert!((s.end_temperature_k - 3.0).abs() <= 1e-7, "{s:?}");
    }
    // ... so every cycle after that hold repeats the first, segment by segment,
    let n = 4;
    for (k, s) in tr.segments.iter().enumerate().skip(n) {
        let s0 = &tr.segments[k % n];
        if s.segment == 0 {
            continue;
        }
        assert!(
            (s.end_temperature_k - s0.end_temperature_k).abs() <= 1e-8,
            "{s:?}"
        );
        assert!((s.minimum_temperature_k - s0.minimum_temperature_k).abs() <= 1e-8);
        assert!((s.heat_to_bath_k - s0.heat_to_bath_k).abs() <= 1e-8 * s0.work_k.abs());
        assert!((s.work_k - s0.work_k).abs() <= 1e-8 * s0.work_k.abs());
    }
    // ... and the cycles after the first, which start and end in the same state, pass the
    // work done on the sample to the bath as heat (first law over a closed cycle; to the
    // integration tolerance, which leaves the cycle ends 2e-10 K apart). The first
    // started at the bath in equilibrium, not at the end state of a cycle.
    for c in &tr.cycles[1..] {
        assert!(
            (c.heat_to_bath_k - c.work_k).abs() <= 1e-7 * c.work_k.abs(),
            "{c:?}"
        );
        assert!(c.heat_to_bath_k > 0.0);
    }
    // The lowest temperature of the first cycle is reached after the fast ramp down, while
    // the switch is open (the ramp itself or the watch).
    let min_seg = tr
        .segments
        .iter()
        .take(4)
        .min_by(|a, b| a.minimum_temperature_k.total_cmp(&b.minimum_temperature_k))
        .unwrap();
    assert!(!min_seg.link_closed);
}

#[test]
fn a_short_linked_hold_leaves_the_next_cycle_warmer_or_colder_than_the_first() {
    // After 2 s of linked hold (0.1 C/K) the sample has not gone back to the bath: the
    // second cycle differs from the first, and the reports show it.
    let tr = run(&cycle(2.0, 2));
    let (c0, c1) = (&tr.cycles[0], &tr.cycles[1]);
    println!(
        "T_min {:.9} K then {:.9} K",
        c0.minimum_temperature_k, c1.minimum_temperature_k
    );
    assert!((c1.minimum_temperature_k - c0.minimum_temperature_k).abs() > 1e-4);
    for s in &tr.segments {
        assert!(s.energy_balance_error_rel <= 1e-10, "{s:?}");
    }
}

#[test]
fn bad_segments_name_the_key_and_the_segment() {
    let base = |segs: Vec<SegmentSection>| linked(segmented(1.0, 3.0, segs, None));
    let cases: Vec<(Scenario, &str, &str)> = vec![
        (
            base(vec![SegmentSection::new("dwell", true)]),
            "protocol.segment.kind",
            "\"hold\", \"ramp\" or \"waveform\"",
        ),
        (
            base(vec![SegmentSection::hold(-1.0, true)]),
            "protocol.segment.duration_s",
            "segment 1 (hold)",
        ),
        (
            base(vec![
                SegmentSection::hold(1.0, true),
                SegmentSection::new("hold", false),
            ]),
            "protocol.segment.duration_s",
            "segment 2 (hold)",
        ),
        (
            base(vec![SegmentSection::ramp(0.0, -2.0, false)]),
            "protocol.segment.sweep_rate_t_per_s",
            "> 0 T/s",
        ),
        (
            base(vec![SegmentSection::ramp(1.0, 2.0, false)]),
            "protocol.segment.sweep_rate_t_per_s",
            "is a hold",
        ),
        (
            base(vec![SegmentSection {
                b_final_t: Some(0.5),
                ..SegmentSection::hold(1.0, true)
            }]),
            "protocol.segment.b_final_t",
            "a hold segment takes no b_final_t",
        ),
        (
            base(vec![SegmentSection {
                waveform_time_s: Some(ValueList(vec![0.0, 1.0])),
                waveform_field_t: Some(ValueList(vec![0.5, 0.0])),
                ..SegmentSection::new("waveform", false)
            }]),
            "protocol.segment.waveform_field_t",
            "the field is continuous",
        ),
        (
            base(vec![SegmentSection {
                waveform_time_s: Some(ValueList(vec![0.0, 2.0, 1.0])),
                waveform_field_t: Some(ValueList(vec![1.0, 0.5, 0.0])),
                ..SegmentSection::new("waveform", false)
            }]),
            "protocol.segment.waveform_time_s",
            "segment 1 (waveform): point 3 of the waveform",
        ),
        (
            segmented(
                1.0,
                3.0,
                vec![
                    SegmentSection::hold(1.0, false),
                    SegmentSection::hold(1.0, true),
                ],
                None,
            ),
            "protocol.segment.link_closed",
            "segment 2: the heat switch closes a link that is not there",
        ),
        (
            linked(segmented(
                1.0,
                3.0,
                vec![SegmentSection::hold(1.0, true)],
                Some(0),
            )),
            "protocol.cycles",
            "1..=",
        ),
        (
            linked(Scenario::new(ProtocolSection {
                cycles: Some(2),
                ..ProtocolSection::linear_ramp(1.0, 0.0, 3.0, 1.0)
            })),
            "protocol.cycles",
            "[[protocol.segment]]",
        ),
        (
            linked(Scenario::new(ProtocolSection {
                segment: vec![SegmentSection::hold(1.0, true)],
                ..ProtocolSection::linear_ramp(1.0, 0.0, 3.0, 1.0)
            })),
            "protocol.b_final_t",
            "segments set the field",
        ),
        (
            base(vec![SegmentSection::ramp(12.0, 1.0, false)]),
            "protocol.segment",
            "|B| <",
        ),
    ];
    for (s, key, says) in cases {
        let e = s.build().map(|_| ()).unwrap_err();
        println!("{e}");
        assert_eq!(e.key, key, "{e}");
        assert!(e.to_string().contains(says), "{e}");
    }
}

#[test]
fn the_cycle_config_runs_into_hdf5_with_its_reports_and_a_bad_one_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cycle.h5");
    let cfg = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/configs/refrigeration_cycle.toml"
    );
    common::run_ok(&["run", cfg, "-o", out.to_str().unwrap()]);
    let records = smmcool::read_summary(&out).unwrap();
    let r = &records[0];
    assert_eq!(r.params.shape, "segments");
    assert_eq!(r.summary.segment_reports.len(), 12);
    assert_eq!(r.summary.cycle_reports.len(), 3);
    // The same numbers as the library's run of the same cycle.
    let tr = run(&cycle(2000.0, 3));
    for (a, b) in r.summary.cycle_reports.iter().zip(&tr.cycles) {
        assert!((a.minimum_temperature_k - b.minimum_temperature_k).abs() <= 1e-12);
        assert!((a.heat_to_bath_k - b.heat_to_bath_k).abs() <= 1e-12);
    }
    // The reports are JSON text in the file, with the segment's trajectory samples at the
    // segment ends.
    let file = hdf5::File::open(&out).unwrap();
    assert!(file.dataset("summary/cycle_reports").is_ok());
    let traj = smmcool::read_trajectory(&out, 0).unwrap().unwrap();
    for s in &r.summary.segment_reports {
        let k = traj.time_s.iter().position(|&t| t == s.end_s).unwrap();
        assert!((traj.phonon_temperature_k[k] - s.end_temperature_k).abs() <= 0.0);
    }
    // inspect --json shows the reports as lists of objects.
    let v = common::json(&["inspect", out.to_str().unwrap(), "--json"]);
    let shown = v.to_string();
    assert!(shown.contains("\"cycle_reports\":[{"), "{shown:.2000}");
    assert!(shown.contains("\"heat_to_bath_k\""));
    let text = std::fs::read_to_string(cfg).unwrap();
    let bad = text.replace(
        "kind = \"ramp\"\nb_final_t = 0.0",
        "kind = \"sweep\"\nb_final_t = 0.0",
    );
    let bad_cfg = common::write(dir.path(), "bad.toml", &bad);
    common::one_line_error(
        &["validate", bad_cfg.to_str().unwrap()],
        2,
        &["protocol.segment.kind", "\"sweep\""],
    );
}

/// The cycle config of `configs/refrigeration_cycle.toml` with `edit` applied and `sweep`
/// appended (its `[[sweep]]` tables).
fn cycle_config(edit: impl Fn(String) -> String, sweep: &str) -> String {
    let cfg = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/configs/refrigeration_cycle.toml"
    );
    format!("{}\n{sweep}", edit(std::fs::read_to_string(cfg).unwrap()))
}

/// A sweep over one segment's number (`protocol.segment.K.NAME`, K from 1) or over
/// `protocol.cycles` sets the same scenario as the value written into that segment or
/// `[protocol]`; what cannot be swept (waveform points, a switch, a kind, a segment that is
/// not there, a value given twice, a fractional cycle count) is refused naming the key and
/// the reason.
#[test]
fn segment_numbers_and_cycles_are_swept_as_if_written_in_the_segment() {
    use smmcool::batch::config::Plan;
    use std::path::Path;
    let plan_of = |text: String| Plan::from_text(Path::new("c.toml"), text);
    // The second segment (the 10 T/s ramp down) at 1, 10, 100 T/s; 1 or 2 cycles.
    let swept = plan_of(cycle_config(
        |t| {
            t.replacen("sweep_rate_t_per_s = 10.0\n", "", 1)
                .replace("cycles = 3\n", "")
        },
        "[[sweep]]\nkey = \"protocol.cycles\"\nvalues = [1, 2]\n\
         [[sweep]]\nkey = \"protocol.segment.2.sweep_rate_t_per_s\"\nvalues = [1.0, 10.0, 100.0]\n",
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(swept.n_runs(), 6);
    assert_eq!(
        swept
            .axes
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>(),
        ["protocol.cycles", "protocol.segment.2.sweep_rate_t_per_s"]
    );
    for (i, (cycles, rate)) in [
        (1, 1.0),
        (1, 10.0),
        (1, 100.0),
        (2, 1.0),
        (2, 10.0),
        (2, 100.0),
    ]
    .into_iter()
    .enumerate()
    {
        let written = plan_of(cycle_config(
            |t| {
                t.replacen(
                    "sweep_rate_t_per_s = 10.0\n",
                    &format!("sweep_rate_t_per_s = {rate:?}\n"),
                    1,
                )
                .replace("cycles = 3\n", &format!("cycles = {cycles}\n"))
            },
            "",
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(swept.scenario(i), written.scenario(0), "run {i}");
        // The swept run's protocol lasts what its rate and cycle count say.
        let (_, spec) = swept.run(i).unwrap();
        let one_cycle = 2000.0 + 1.0 / rate + 60.0 + 10.0;
        let d = spec.protocol.duration_s();
        assert!((d - cycles as f64 * one_cycle).abs() <= 1e-9 * d, "{d}");
    }
    // Refused, each naming the key and why (one line, no run started).
    let refused = [
        (
            "protocol.waveform_time_s",
            "values = [1.0]",
            "a waveform is a list of points",
        ),
        (
            "protocol.segment.1.link_closed",
            "values = [0.0, 1.0]",
            "a heat switch is true or false",
        ),
        ("protocol.segment.2.kind", "values = [1.0]", "a name"),
        (
            "protocol.segment.5.duration_s",
            "values = [1.0]",
            "the protocol has 4 segments",
        ),
        (
            "protocol.segment.0.duration_s",
            "values = [1.0]",
            "1 for the first",
        ),
        (
            "protocol.segment.1.duration_s",
            "values = [1.0]",
            "segment 1 gives duration_s = 2000 as well",
        ),
        (
            "protocol.segment.1.speed",
            "values = [1.0]",
            "duration_s, b_final_t, sweep_rate_t_per_s",
        ),
        (
            "protocol.cycles",
            "values = [2.0]",
            "[protocol] gives cycles = 3 as well",
        ),
    ];
    for (key, values, says) in refused {
        let text = cycle_config(|t| t, &format!("[[sweep]]\nkey = \"{key}\"\n{values}\n"));
        let e = plan_of(text).expect_err(key).to_string();
        println!("{e}");
        assert!(
            e.starts_with("c.toml: sweep.key = \"") && e.contains(key),
            "{e}"
        );
        assert!(e.contains(says), "{key}: {e}");
    }
    let e = plan_of(cycle_config(
        |t| t.replace("cycles = 3\n", ""),
        "[[sweep]]\nkey = \"protocol.cycles\"\nvalues = [1.0, 2.5]\n",
    ))
    .expect_err("2.5 cycles")
    .to_string();
    assert!(
        e.contains("protocol.cycles") && e.contains("2.5: must be an integer in 1..=100000"),
        "{e}"
    );
    // A swept number out of its range is refused at load, naming the segment and the run.
    let e = plan_of(cycle_config(
        |t| t.replacen("duration_s = 60.0\n", "", 1),
        "[[sweep]]\nkey = \"protocol.segment.3.duration_s\"\nvalues = [60.0, -1.0]\n",
    ))
    .expect_err("negative hold")
    .to_string();
    assert!(
        e.contains("protocol.segment.duration_s (run 1: protocol.segment.3.duration_s = -1) = -1")
            && e.contains("segment 3 (hold)"),
        "{e}"
    );
}

/// A batch file is self-describing for waveforms: each run's points, as the engine used them
/// (the corners of all its segments over its cycles), are in `/waveforms/run_NNNNNN` with their
/// units, with or without a kept trajectory, and read back into the run's parameters.
#[test]
fn each_runs_waveform_points_are_stored_with_units() {
    use smmcool::batch::config::Plan;
    let dir = tempfile::tempdir().unwrap();
    let text = cycle_config(
        |t| {
            t.replace("cycles = 3\n", "")
                .replace("trajectory = true", "trajectory = false")
        },
        "[[sweep]]\nkey = \"protocol.cycles\"\nvalues = [1, 2]\n",
    );
    let cfg = common::write(dir.path(), "c.toml", &text);
    let out = dir.path().join("c.h5");
    common::run_ok(&["run", cfg.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    let plan = Plan::load(&cfg).unwrap();
    let records = smmcool::read_summary(&out).unwrap();
    let file = hdf5::File::open(&out).unwrap();
    for (i, r) in records.iter().enumerate() {
        let (_, spec) = plan.run(i).unwrap();
        let w = spec.protocol.waveform().unwrap();
        assert_eq!(w.len(), 1 + 4 * (i + 1));
        assert_eq!(r.params.waveform_time_s, w.time_s(), "run {i}");
        assert_eq!(r.params.waveform_field_t, w.field_t(), "run {i}");
        assert_eq!(r.params.waveform_points, w.len() as u64);
        let g = file.group(&format!("waveforms/run_{i:06}")).unwrap();
        assert_eq!(common::unit_of(&g.dataset("time_s").unwrap()), "s");
        assert_eq!(common::unit_of(&g.dataset("field_t").unwrap()), "T");
        let b: Vec<f64> = g.dataset("field_t").unwrap().read_raw().unwrap();
        assert_eq!(b, w.field_t());
    }
    assert!(file
        .group("runs")
        .unwrap()
        .member_names()
        .unwrap()
        .is_empty());
}

/// The cycle from the command line: `--segment KEY=VALUE,...` (repeated, in order) and
/// `--cycles` give the library's cycle, report for report; bad segment flags exit 2 with one
/// line naming the flag and what is wrong.
#[test]
fn the_cycle_runs_from_segment_flags() {
    let flags = [
        "simulate",
        "--initial-temperature-k",
        "3",
        "--b-initial-t",
        "1",
        "--sample-amount-mol",
        "1e-6",
        "--link-conductance-w-per-k",
        "4e-8",
        "--cycles",
        "3",
        "--segment",
        "kind=hold,duration_s=2000,link_closed=true",
        "--segment",
        "kind=ramp,b_final_t=0,sweep_rate_t_per_s=10",
        "--segment",
        "kind=hold, duration_s=60",
        "--segment",
        "kind=ramp,b_final_t=1,sweep_rate_t_per_s=0.1,link_closed=true",
        "--json",
    ];
    let v = common::json(&flags);
    let tr = run(&cycle(2000.0, 3));
    let cycles = v["cycle_reports"].as_array().unwrap();
    assert_eq!(cycles.len(), 3);
    assert_eq!(v["segment_reports"].as_array().unwrap().len(), 12);
    for (a, b) in cycles.iter().zip(&tr.cycles) {
        let t = a["minimum_temperature_k"].as_f64().unwrap();
        assert!((t - b.minimum_temperature_k).abs() <= 0.0, "{t} {b:?}");
        let q = a["heat_to_bath_k"].as_f64().unwrap();
        assert!((q - b.heat_to_bath_k).abs() <= 0.0);
    }
    // The table shows one line per cycle with its lowest temperature.
    let table = common::run_ok(&flags[..flags.len() - 1]);
    let table = String::from_utf8_lossy(&table.stdout);
    for (k, c) in tr.cycles.iter().enumerate() {
        let line = table
            .lines()
            .find(|l| l.starts_with(&format!("cycle {}: ", k + 1)))
            .unwrap_or_else(|| panic!("no cycle {} line in {table}", k + 1));
        let shown = format!("lowest T {:.6} K", c.minimum_temperature_k);
        assert!(line.contains(&shown), "{line}");
    }
    // A waveform segment: its lists in brackets.
    let v = common::json(&[
        "simulate",
        "--initial-temperature-k",
        "3",
        "--b-initial-t",
        "1",
        "--segment",
        "kind=waveform,waveform_time_s=[0, 0.01, 0.03],waveform_field_t=[1,0.5,0.2]",
        "--json",
    ]);
    assert_eq!(v["waveform_points"].as_u64(), Some(3));
    assert_eq!(v["b_final_t"].as_f64(), Some(0.2));
    // simulate --json gives the points themselves (the segments' corners).
    let points = |k: &str| -> Vec<f64> {
        v[k].as_array()
            .unwrap_or_else(|| panic!("no {k} in simulate --json"))
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    assert_eq!(points("waveform_time_s"), [0.0, 0.01, 0.03]);
    assert_eq!(points("waveform_field_t"), [1.0, 0.5, 0.2]);
    let bad = [
        ("kind=hold,duration=3", "unknown field `duration`"),
        ("kind=hold,duration_s", "'duration_s' is not KEY=VALUE"),
        (
            "kind=hold,duration_s=1,duration_s=2",
            "duration_s is given twice",
        ),
        ("kind=waveform,waveform_time_s=[0,x]", "'x' is not a number"),
        (
            "kind=sweep,duration_s=1",
            "--segment kind = \"sweep\" is not allowed: segment 1",
        ),
        (
            "kind=hold,duration_s=-1",
            "--segment duration_s = -1 is not allowed: segment 1 (hold)",
        ),
        (
            "kind=hold,duration_s=1,link_closed=true",
            "the heat switch closes a link that is not there",
        ),
    ];
    for (segment, says) in bad {
        let out = common::run(&[
            "simulate",
            "--initial-temperature-k",
            "3",
            "--b-initial-t",
            "1",
            "--segment",
            segment,
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        println!("{err}");
        assert_eq!(out.status.code(), Some(2), "{segment}: {err}");
        assert!(err.contains(says), "{segment}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
    let out = common::run(&[
        "simulate",
        "--initial-temperature-k",
        "3",
        "--b-initial-t",
        "1",
        "--segment",
        "kind=hold,duration_s=1",
        "--cycles",
        "2.5",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.contains("--cycles") && err.contains("must be an integer in 1..=100000"),
        "{err}"
    );
}

#[test]
fn a_segments_waveform_file_is_read_from_the_working_directory_on_the_command_line_and_next_to_the_config_in_a_config(
) {
    // The same trace, inline and from a CSV file: from --segment relative to the working
    // directory (the Unix norm for paths given on a command line), from a config's
    // [[protocol.segment]] relative to the config's folder (wherever the program runs).
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("traces");
    std::fs::create_dir(&sub).unwrap();
    common::write(
        &sub,
        "pulse.csv",
        "time_s,field_t\n0,1\n0.01,0.5\n0.03,0.2\n",
    );
    let head = [
        "simulate",
        "--initial-temperature-k",
        "3",
        "--b-initial-t",
        "1",
    ];
    let inline = common::json(
        &[
            &head[..],
            &[
                "--segment",
                "kind=waveform,waveform_time_s=[0,0.01,0.03],waveform_field_t=[1,0.5,0.2]",
                "--json",
            ],
        ]
        .concat(),
    );
    let from_cwd = |cwd: &std::path::Path, path: &str| {
        let segment = format!("kind=waveform,waveform_csv={path}");
        common::smmcool()
            .args(head)
            .args(["--segment", &segment, "--json"])
            .current_dir(cwd)
            .output()
            .unwrap()
    };
    let o = from_cwd(dir.path(), "traces/pulse.csv");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for k in [
        "sample_temperatures_k",
        "waveform_time_s",
        "waveform_field_t",
    ] {
        assert_eq!(csv[k], inline[k], "{k}");
    }
    // The same relative path from another folder is not found, and the error names it.
    let o = from_cwd(&sub, "traces/pulse.csv");
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("traces/pulse.csv"), "{err}");
    // In a config the file is next to the config, run from the parent folder.
    let cfg = common::write(
        &sub,
        "cycle.toml",
        "[protocol]\ninitial_temperature_k = 3.0\nb_initial_t = 1.0\n\
         [[protocol.segment]]\nkind = \"waveform\"\nwaveform_csv = \"pulse.csv\"\n",
    );
    let out = dir.path().join("out.h5");
    let o = common::smmcool()
        .args(["run", cfg.to_str().unwrap(), "-o", out.to_str().unwrap()])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let records = smmcool::read_summary(&out).unwrap();
    let t: Vec<f64> = records[0]
        .summary
        .sample_temperatures_k
        .iter()
        .map(|t| t.unwrap())
        .collect();
    let want: Vec<f64> = inline["sample_temperatures_k"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(t.len(), want.len());
    for (a, b) in t.iter().zip(&want) {
        assert!((a - b).abs() <= 1e-12, "{a} vs {b}");
    }
    assert_eq!(records[0].params.waveform_time_s, [0.0, 0.01, 0.03]);
}
