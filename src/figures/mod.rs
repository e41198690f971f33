//! The figures users come for: the paper's Figures 2-6 (analytic), the time-domain figures the
//! paper could not draw (convergence between the limits, validity map of the sudden
//! approximation, what is reached in practical times), and figures of a batch file.

pub mod plot;
pub mod tunnelling;

use crate::figures::plot::{Chart, HeatMap, Note, NoteAnchor, PlotError, Series};
use crate::kinetics::{simulate, EngineContext, RunSpec, Trajectory};
use crate::model::limits::{minimum_delta_t, FieldChange, Limit};
use crate::model::Material;
use crate::rates::{KappaScaling, RateModel};
use crate::results::RunStatus;
use crate::scenario::{ProtocolSection, Scenario, ValueList};
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why figures could not be made.
#[derive(Debug, Error)]
pub enum FigureError {
    /// Rendering.
    #[error(transparent)]
    Plot(#[from] PlotError),
    /// Reading a batch file.
    #[error(transparent)]
    Io(#[from] crate::io::IoError),
    /// A computation failed.
    #[error("{0}")]
    Compute(String),
}

fn fc(m: &Material, bi: f64, bf: f64, ti: f64) -> FieldChange<'_> {
    FieldChange::of(m, bi, bf, ti)
}

/// Delta T of the sudden quench (Eq. 9) at each Ti, K.
pub fn sudden_curve(m: &Material, bi: f64, bf: f64, tis: &[f64]) -> Vec<(f64, f64)> {
    tis.iter()
        .map(|&ti| {
            (
                ti,
                fc(m, bi, bf, ti)
                    .sudden_final_k()
                    .map_or(f64::NAN, |t| t - ti),
            )
        })
        .collect()
}

/// Delta T of the isentropic process (Eq. 11) at each Ti, NaN where none exists, K.
pub fn isentropic_curve(m: &Material, bi: f64, bf: f64, tis: &[f64]) -> Vec<(f64, f64)> {
    tis.iter()
        .map(|&ti| {
            let t = fc(m, bi, bf, ti)
                .isentropic_final()
                .ok()
                .and_then(|o| o.t_final_k());
            (ti, t.map_or(f64::NAN, |t| t - ti))
        })
        .collect()
}

/// The run of a figure: Mn12Ac with the default rates, a linear ramp Bi -> Bf at `rate_t_per_s`
/// from `ti`, the ramp grid kept and no logarithmic grid after it.
fn run_spec(
    bi: f64,
    bf: f64,
    rate_t_per_s: f64,
    ti: f64,
    samples: &[f64],
) -> Result<RunSpec, FigureError> {
    let mut scenario = Scenario::new(ProtocolSection::linear_ramp(bi, bf, ti, rate_t_per_s));
    scenario.output.sample_times_after_ramp_s = ValueList(samples.to_vec());
    scenario.output.log_points_per_decade = 0;
    scenario
        .build()
        .map(|b| b.spec)
        .map_err(|e| FigureError::Compute(e.to_string()))
}

fn sim(ctx: &EngineContext, spec: &RunSpec) -> Result<Trajectory, FigureError> {
    simulate(ctx, spec).map_err(|e| FigureError::Compute(e.to_string()))
}

/// The paper's analytic figures 2-6 (PNG, SVG and CSV of the plotted data).
pub fn paper_analytic(dir: &Path) -> Result<Vec<PathBuf>, FigureError> {
    let m = Material::mn12ac();
    let mut out = Vec::new();
    out.extend(levels_and_tau_figures(&m, dir)?);
    // Fig. 4: Delta T(Ti) of the sudden quench.
    let tis = crate::numerics::grid::linear_points(0.5, 10.0, 96);
    let mut fig4 = Vec::new();
    for (tag, bi, bfs) in [
        ("fig4a_deltaT_Bi0p5T", 0.5, vec![0.0, 0.1, 0.2, 0.3, 0.4]),
        ("fig4b_deltaT_Bi1T", 1.0, vec![0.0, 0.1, 0.3, 0.5, 0.7, 0.9]),
    ] {
        // One colour and dash pattern per Bf across Figs. 4a and 4b.
        let series = bfs
            .iter()
            .map(|&bf| {
                Series::line(format!("Bf = {bf} T"), sudden_curve(&m, bi, bf, &tis))
                    .in_slot(fig4_slot(bf))
            })
            .collect();
        let chart = Chart {
            title: format!("Sudden quench from Bi = {bi} T (Eq. 9)"),
            x_label: "initial temperature Ti (K)".into(),
            y_label: "ΔT = Tf − Ti (K)".into(),
            x_log: false,
            y_log: false,
            series,
            ..Default::default()
        };
        fig4.push((tag, chart));
    }
    // One y range for both, so that they compare at a glance.
    let range = fig4
        .iter()
        .filter_map(|(_, c)| c.data_y_range())
        .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)));
    for (tag, mut chart) in fig4 {
        chart.y_range = range;
        out.extend(chart.save(&dir.join(tag))?);
    }
    // Fig. 5: (Delta T)min and (Ti)min against Bf.
    let mut dtmin = Vec::new();
    let mut timin = Vec::new();
    for bi in [0.5, 1.0] {
        let bfs = fig5_fields(bi);
        let mins: Vec<(f64, Option<(f64, f64)>)> = bfs
            .par_iter()
            .map(|&bf| {
                (
                    bf,
                    minimum_delta_t(&m.spin, &m.debye, bi, bf, Limit::Sudden, (0.2, 40.0))
                        .ok()
                        .flatten(),
                )
            })
            .collect();
        // Bf = 0 is a singular point (the wells are degenerate there): its own marker, not
        // joined to the curve. At Bf = Bi there is no field change and Delta T = 0 exactly;
        // the (Ti)min curve ends at the last sampled field, Bi (1 - 1e-5).
        let (zero, curve) = mins.split_at(1);
        let mut dt: Vec<(f64, f64)> = curve
            .iter()
            .map(|(bf, r)| (*bf, r.map_or(f64::NAN, |x| x.1)))
            .collect();
        dt.push((bi, 0.0));
        let slot = usize::from(bi > 0.5);
        dtmin.push(Series::line(format!("Bi = {bi} T"), dt).in_slot(slot));
        dtmin.push(
            Series::markers(
                format!("Bi = {bi} T, Bf = 0 (singular)"),
                vec![(0.0, zero[0].1.map_or(f64::NAN, |x| x.1))],
            )
            .in_slot(slot),
        );
        timin.push(
            Series::line(
                format!("Bi = {bi} T"),
                curve
                    .iter()
                    .map(|(bf, r)| (*bf, r.map_or(f64::NAN, |x| x.0)))
                    .collect(),
            )
            .in_slot(slot),
        );
        timin.push(
            Series::markers(
                format!("Bi = {bi} T, Bf = 0 (singular)"),
                vec![(0.0, zero[0].1.map_or(f64::NAN, |x| x.0))],
            )
            .in_slot(slot),
        );
    }
    for (tag, title, ylab, s) in [
        (
            "fig5_deltaT_min",
            "Strongest sudden cooling against Bf",
            "(ΔT)min (K)",
            dtmin,
        ),
        (
            "fig5_Ti_min",
            "Initial temperature of the strongest cooling",
            "(Ti)min (K)",
            timin,
        ),
    ] {
        out.extend(
            Chart {
                title: title.into(),
                x_label: "final field Bf (T)".into(),
                y_label: ylab.into(),
                x_log: false,
                y_log: false,
                series: s,
                ..Default::default()
            }
            .save(&dir.join(tag))?,
        );
    }
    // Fig. 6: sudden against quasi-static at Bi = 0.5 T, Bf = 0.1 T.
    let sudden = sudden_curve(&m, 0.5, 0.1, &tis);
    let isentropic = isentropic_curve(&m, 0.5, 0.1, &tis);
    out.extend(
        Chart {
            title: "0.5 T → 0.1 T: sudden (Eq. 9) and quasi-static (Eq. 11)".into(),
            x_label: "initial temperature Ti (K)".into(),
            y_label: "ΔT = Tf − Ti (K)".into(),
            x_log: false,
            y_log: false,
            series: vec![
                Series::line("sudden quench", sudden.clone()),
                Series::dashed("isentropic (quasi-static)", isentropic.clone()),
            ],
            notes: fig6_minima_notes(&sudden, &isentropic),
            ..Default::default()
        }
        .save(&dir.join("fig6_sudden_vs_isentropic"))?,
    );
    out.extend(tunnelling_tau_figure(dir)?);
    Ok(out)
}

/// The lowest point of a curve (NaN points skipped).
fn curve_minimum(curve: &[(f64, f64)]) -> (f64, f64) {
    curve
        .iter()
        .copied()
        .filter(|p| p.1.is_finite())
        .fold(
            (f64::NAN, f64::INFINITY),
            |a, p| if p.1 < a.1 { p } else { a },
        )
}

/// Fig. 6's direct labels: the depth of each curve's minimum (the paper calls the isentropic
/// effect "slightly stronger"), in the empty lower right of the chart (below the isentropic
/// curve's rise, right of its minimum), in the curves' colours.
fn fig6_minima_notes(sudden: &[(f64, f64)], isentropic: &[(f64, f64)]) -> Vec<Note> {
    let (_, s) = curve_minimum(sudden);
    let (tq, q) = curve_minimum(isentropic);
    let fmt = |v: f64| format!("{v:.2}").replace('-', "−");
    // Where the isentropic curve has risen above its minimum by 60 % of the span between
    // the two minima: the labels start there, below both curves.
    let x0 = isentropic
        .iter()
        .find(|p| p.0 > tq && p.1 > q + 0.6 * (s - q))
        .map_or(tq, |p| p.0);
    vec![
        Note {
            x: x0,
            y: q + 0.45 * (s - q),
            text: format!("sudden: min {} K", fmt(s)),
            slot: Some(0),
            anchor: NoteAnchor::BelowRight,
        },
        Note {
            x: x0,
            y: q + 0.2 * (s - q),
            text: format!("isentropic: min {} K", fmt(q)),
            slot: Some(1),
            anchor: NoteAnchor::BelowRight,
        },
    ]
}

/// Temperatures of the tau(B) figure with resonant tunnelling, K.
pub const TUNNELLING_FIGURE_TEMPERATURES_K: [f64; 3] = [2.0, 2.5, 3.0];

/// Misalignment of the easy axis in the third curve of the tau(B) figure, degrees.
pub const TUNNELLING_FIGURE_MISALIGNMENT_DEG: f64 = 1.0;

/// tau(B) = 1/(kappa lambda1(B, T)) with resonant tunnelling (preset `mn12ac-barra`, Bx = 0),
/// without it (the same levels) and with it misaligned by
/// [`TUNNELLING_FIGURE_MISALIGNMENT_DEG`] (odd k open), 0..1.2 T every 4 mT, at
/// [`TUNNELLING_FIGURE_TEMPERATURES_K`] (docs/physics.md section 10.6).
fn tunnelling_tau_figure(dir: &Path) -> Result<Vec<PathBuf>, FigureError> {
    use crate::model::tunnelling::AnisotropyOverrides;
    use crate::model::Overrides;
    let compute = |e: String| FigureError::Compute(e);
    let (m, h) = Material::with_hamiltonian(
        "mn12ac-barra",
        &Overrides::default(),
        &AnisotropyOverrides::default(),
    )
    .map_err(|e| compute(e.to_string()))?;
    let plain = RateModel::new(m.spin, m.arrhenius, KappaScaling::Arrhenius)
        .map_err(|e| compute(e.to_string()))?;
    let tunnelling = crate::rates::tunnelling::with_tunnelling(plain.clone(), &h)
        .map_err(|e| compute(e.to_string()))?;
    // The same preset misaligned by 1 degree: the transverse field B sin(theta) couples the
    // odd resonances (k = 1, 3), which C and E alone leave closed.
    let (m_mis, h_mis) = Material::with_hamiltonian(
        "mn12ac-barra",
        &Overrides::default(),
        &AnisotropyOverrides {
            misalignment_deg: Some(TUNNELLING_FIGURE_MISALIGNMENT_DEG),
            ..AnisotropyOverrides::default()
        },
    )
    .map_err(|e| compute(e.to_string()))?;
    let misaligned = crate::rates::tunnelling::with_tunnelling(
        RateModel::new(m_mis.spin, m_mis.arrhenius, KappaScaling::Arrhenius)
            .map_err(|e| compute(e.to_string()))?,
        &h_mis,
    )
    .map_err(|e| compute(e.to_string()))?;
    let fields = crate::numerics::grid::linear_points(0.0, 1.2, 301);
    let tau = |rm: &RateModel, t: f64| -> Result<Vec<(f64, f64)>, FigureError> {
        let kappa = rm.kappa(t).map_err(|e| compute(e.to_string()))?;
        fields
            .par_iter()
            .map(|&b| {
                let mode = rm
                    .unscaled_slow_mode(b, t)
                    .map_err(|e| compute(e.to_string()))?
                    .ok_or_else(|| compute(format!("no two wells at {b} T")))?;
                Ok((b, 1.0 / (kappa * mode.lambda1_per_s)))
            })
            .collect()
    };
    let mut series = Vec::new();
    for (slot, &t) in TUNNELLING_FIGURE_TEMPERATURES_K.iter().enumerate() {
        // One colour per temperature; solid with tunnelling, dashed without.
        series.push(
            Series::line(format!("T = {t} K"), tau(&tunnelling, t)?)
                .in_slot(slot)
                .with_dash(0),
        );
        series.push(
            Series::line(format!("T = {t} K without tunnelling"), tau(&plain, t)?)
                .in_slot(slot)
                .with_dash(1),
        );
        series.push(
            Series::line(
                format!("T = {t} K misaligned {TUNNELLING_FIGURE_MISALIGNMENT_DEG} deg"),
                tau(&misaligned, t)?,
            )
            .in_slot(slot)
            .with_dash(2),
        );
    }
    Ok(Chart {
        title: "Relaxation time with resonant tunnelling (mn12ac-barra)".into(),
        x_label: "field B (T)".into(),
        y_label: "relaxation time τ (s)".into(),
        x_log: false,
        y_log: true,
        series,
        ..Default::default()
    }
    .save(&dir.join("tau_field_tunnelling"))?)
}

/// The final fields of Figs. 4a and 4b together, in the order of their palette slots.
pub const FIG4_FINAL_FIELDS_T: [f64; 8] = [0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 0.2, 0.4];

/// The palette slot (colour and dash pattern) of final field `bf` in Figs. 4a and 4b: the same
/// in both figures; the last slots (the faintest colours) go to the fields only Fig. 4a shows.
pub fn fig4_slot(bf: f64) -> usize {
    FIG4_FINAL_FIELDS_T
        .iter()
        .position(|&b| (b - bf).abs() < 1e-12)
        .unwrap_or(FIG4_FINAL_FIELDS_T.len())
}

/// The final fields of Fig. 5 for initial field `bi`: 0 first (a singular point, drawn on its
/// own), then 1e-6 T to 0.05 Bi log-spaced (where (Ti)min rises steeply from 0: 0.63 K at
/// 1e-5 T, 1.73 K at 1e-3 T for Bi = 0.5 T; a uniform grid drew a false minimum there), then
/// linear up to Bi (1 - 1e-5).
pub fn fig5_fields(bi: f64) -> Vec<f64> {
    let mut bfs = vec![0.0];
    bfs.extend(crate::numerics::grid::log_points(1e-6, 0.05 * bi, 25));
    let linear = crate::numerics::grid::linear_points(0.05 * bi, bi, 39);
    bfs.extend(&linear[1..linear.len() - 1]);
    bfs.push(bi * (1.0 - 1e-5));
    bfs
}

/// Time-domain figures: convergence with sweep rate, the validity map of the sudden
/// approximation, and the cooling reached at practical times. `resolution` scales the grids
/// (1 = the published figures).
pub fn paper_kinetic(dir: &Path, resolution: usize) -> Result<Vec<PathBuf>, FigureError> {
    let m = Material::mn12ac();
    let (bi, bf) = (0.5, 0.1);
    let r = resolution.max(1);
    let mut out = Vec::new();
    // One context for the figure set: its runs share the kappa and well tables.
    let ctx = EngineContext::new();
    // Convergence: equilibrium Delta T against sweep rate, 1e-20 .. 1e8 T/s.
    let rates_grid = crate::numerics::grid::log_points(1e-20, 1e8, 8 * r + 21);
    let tis = [2.0, 3.0, 4.0];
    let jobs: Vec<(f64, f64)> = tis
        .iter()
        .flat_map(|&ti| rates_grid.iter().map(move |&v| (ti, v)))
        .collect();
    let results: Vec<Result<Trajectory, FigureError>> = jobs
        .par_iter()
        .map(|&(ti, v)| sim(&ctx, &run_spec(bi, bf, v, ti, &[])?))
        .collect();
    let mut series = Vec::new();
    for (k, &ti) in tis.iter().enumerate() {
        let pts: Vec<(f64, f64)> = rates_grid
            .iter()
            .enumerate()
            .map(|(j, &v)| {
                let res = &results[k * rates_grid.len() + j];
                (v, res.as_ref().map_or(f64::NAN, |t| t.t_equilibrium_k - ti))
            })
            .collect();
        let s = fc(&m, bi, bf, ti)
            .sudden_final_k()
            .map_or(f64::NAN, |t| t - ti);
        let q = fc(&m, bi, bf, ti)
            .isentropic_final()
            .ok()
            .and_then(|o| o.t_final_k())
            .map_or(f64::NAN, |t| t - ti);
        // One colour per Ti; the line style tells kinetic, sudden and isentropic apart.
        series.push(
            Series::line(format!("Ti = {ti} K: kinetic (equilibrium)"), pts)
                .in_slot(k)
                .with_dash(0),
        );
        series.push(
            Series::dashed(format!("Ti = {ti} K: sudden"), vec![(1e-20, s), (1e8, s)])
                .in_slot(k)
                .with_dash(1),
        );
        series.push(
            Series::dashed(
                format!("Ti = {ti} K: isentropic"),
                vec![(1e-20, q), (1e8, q)],
            )
            .in_slot(k)
            .with_dash(2),
        );
    }
    out.extend(
        Chart {
            title: "Final ΔT against sweep rate, 0.5 T → 0.1 T".into(),
            x_label: "sweep rate (T/s)".into(),
            y_label: "ΔT at equilibrium (K)".into(),
            x_log: true,
            y_log: false,
            series,
            ..Default::default()
        }
        .save(&dir.join("convergence_sweep_rate"))?,
    );
    out.extend(validity_maps_in(&ctx, dir, r)?);
    out.extend(overview_figure(&ctx, dir, r)?);
    out.extend(practical_times_figure(&ctx, &m, dir, r)?);
    out.extend(heat_link_figures_in(&ctx, &m, dir, r)?);
    out.extend(heat_switch_cycle_figures_in(&ctx, dir, r)?);
    out.extend(tunnelling::hysteresis_figure(&ctx, dir)?);
    Ok(out)
}

/// The scenario of the heat-switch cycle figure: 1e-6 mol of Mn12Ac on a link of 4e-8 W/K
/// (C/K ~ 20 s at 3 K) to a bath at 3 K; per cycle hold 300 s at 1 T linked, open, ramp to
/// 0 T at 10 T/s, watch 100 s, ramp back to 1 T at 0.1 T/s linked; `cycles` cycles, the
/// samples `ramp_points` evenly over them (and at every corner).
pub fn heat_switch_cycle_scenario(cycles: u64) -> Scenario {
    use crate::scenario::{LinkSection, SegmentSection};
    let mut s = Scenario::new(ProtocolSection {
        b_final_t: None,
        sweep_rate_t_per_s: None,
        segment: vec![
            SegmentSection::hold(300.0, true),
            SegmentSection::ramp(0.0, 10.0, false),
            SegmentSection::hold(100.0, false),
            SegmentSection::ramp(1.0, 0.1, true),
        ],
        cycles: Some(cycles),
        ..ProtocolSection::linear_ramp(1.0, 0.0, 3.0, 0.0)
    });
    s.sample.amount_mol = Some(1e-6);
    s.link = LinkSection {
        conductance_w_per_k: Some(4e-8),
        exponent: None,
        bath_temperature_k: None,
    };
    s.output.sample_times_after_ramp_s = ValueList(vec![]);
    s.output.log_points_per_decade = 0;
    s.solver.max_time_after_ramp_s = 1.0;
    s
}

/// The heat-switch cycle figures (issue 14): T(t) of the sample over three cycles of
/// [`heat_switch_cycle_scenario`] with each cycle's lowest temperature marked
/// (`heat_switch_cycle_temperature`), and the field B(t) with the switch state
/// (`heat_switch_cycle_field`). `resolution` scales the sampling.
pub fn heat_switch_cycle_figures(
    dir: &Path,
    resolution: usize,
) -> Result<Vec<PathBuf>, FigureError> {
    heat_switch_cycle_figures_in(&EngineContext::new(), dir, resolution)
}

fn heat_switch_cycle_figures_in(
    ctx: &EngineContext,
    dir: &Path,
    r: usize,
) -> Result<Vec<PathBuf>, FigureError> {
    let mut spec = heat_switch_cycle_scenario(3)
        .build()
        .map_err(|e| FigureError::Compute(e.to_string()))?
        .spec;
    spec.options.ramp_points = 1500 * r.max(1);
    let tr = sim(ctx, &spec)?;
    let tq = tr.ramp_duration_s;
    let during: Vec<&crate::kinetics::Sample> = tr.samples.iter().filter(|s| s.t_s <= tq).collect();
    let temperature: Vec<(f64, f64)> = during.iter().map(|s| (s.t_s, s.t_phonon_k)).collect();
    let minima: Vec<(f64, f64)> = tr
        .cycles
        .iter()
        .map(|c| (c.minimum_s, c.minimum_temperature_k))
        .collect();
    let mut out = Chart {
        title: "heat-switch cycles: 1 T ⇄ 0 T from a 3 K bath".into(),
        x_label: "time (s)".into(),
        y_label: "sample temperature T (K)".into(),
        series: vec![
            Series::line("T(t)", temperature),
            Series::markers("lowest T of each cycle", minima).in_slot(1),
        ],
        ..Default::default()
    }
    .save(&dir.join("heat_switch_cycle_temperature"))?;
    // The field, split by the switch: solid where the link joins the sample to the bath.
    let seg = spec
        .protocol
        .segments()
        .ok_or_else(|| FigureError::Compute("the cycle has no segments".into()))?;
    let mut closed = Vec::new();
    let mut open = Vec::new();
    for s in seg.list() {
        let pts: Vec<(f64, f64)> = during
            .iter()
            .filter(|x| x.t_s >= s.start_s && x.t_s <= s.end_s)
            .map(|x| (x.t_s, x.field_t))
            .collect();
        let (target, other) = if s.link_closed {
            (&mut closed, &mut open)
        } else {
            (&mut open, &mut closed)
        };
        target.extend(pts);
        // A break in the other series (non-finite points are skipped and break the line).
        other.push((s.end_s, f64::NAN));
    }
    out.extend(
        Chart {
            title: "the field and the heat switch".into(),
            x_label: "time (s)".into(),
            y_label: "field B (T)".into(),
            series: vec![
                Series::line("switch closed (linked to the bath)", closed),
                Series::dashed("switch open (adiabatic)", open).in_slot(1),
            ],
            ..Default::default()
        }
        .save(&dir.join("heat_switch_cycle_field"))?,
    );
    Ok(out)
}

/// The times after the ramp of the arrival maps, s, and their file names.
pub const ARRIVAL_MAP_TIMES_S: [(f64, &str); 2] =
    [(1.0, "cooling_arrived_1s"), (3600.0, "cooling_arrived_1h")];

/// The grids of the validity and arrival maps: sweep rates 1e-8 .. 1e8 T/s (log-spaced) and
/// initial temperatures 1.5 .. 6 K, 60 r + 1 cells each.
pub fn validity_map_grid(r: usize) -> (Vec<f64>, Vec<f64>) {
    let n = 60 * r.max(1) + 1;
    (
        crate::numerics::grid::log_points(1e-8, 1e8, n),
        crate::numerics::grid::linear_points(1.5, 6.0, n),
    )
}

/// The maps over (sweep rate, Ti) of the ramp 0.5 T -> 0.1 T on [`validity_map_grid`]: where
/// the sudden limit holds (`validity_map`: |Delta T_eq / Delta T_sudden - 1|, log colour scale
/// 1e-6 .. 1) and what fraction of the ramp's own equilibrium cooling has arrived 1 s and 1 h
/// after it ([`ARRIVAL_MAP_TIMES_S`]: (T(t) - Ti) / (T_eq - Ti), the summary's
/// `fraction_of_equilibrium_delta_temperature_rel`, linear 0 .. 1). One run per cell gives all
/// three; `resolution` scales the grids.
pub fn validity_maps(dir: &Path, resolution: usize) -> Result<Vec<PathBuf>, FigureError> {
    validity_maps_in(&EngineContext::new(), dir, resolution)
}

fn validity_maps_in(
    ctx: &EngineContext,
    dir: &Path,
    r: usize,
) -> Result<Vec<PathBuf>, FigureError> {
    let (bi, bf) = (0.5, 0.1);
    let (rates, tis) = validity_map_grid(r);
    let times: Vec<f64> = ARRIVAL_MAP_TIMES_S.iter().map(|t| t.0).collect();
    let jobs: Vec<(usize, usize)> = (0..tis.len())
        .flat_map(|iy| (0..rates.len()).map(move |ix| (iy, ix)))
        .collect();
    // Per cell: the deviation from the sudden limit, then the fraction arrived at each time.
    let cells: Vec<Vec<f64>> = jobs
        .par_iter()
        .map(|&(iy, ix)| {
            let ti = tis[iy];
            let run = run_spec(bi, bf, rates[ix], ti, &times).and_then(|spec| sim(ctx, &spec));
            let Ok(t) = run else {
                return vec![f64::NAN; 1 + times.len()];
            };
            let ds = t.t_final_sudden_k - ti;
            let deq = t.t_equilibrium_k - ti;
            let mut v = vec![(deq - ds).abs() / ds.abs()];
            v.extend(times.iter().map(|&s| {
                t.sample_after_ramp(s)
                    .map_or(f64::NAN, |x| (x.t_phonon_k - ti) / deq)
            }));
            v
        })
        .collect();
    let grid = |k: usize| -> Vec<Vec<f64>> {
        (0..tis.len())
            .map(|iy| {
                (0..rates.len())
                    .map(|ix| cells[iy * rates.len() + ix][k])
                    .collect()
            })
            .collect()
    };
    let paper = (3.0, 30.0, 1.5, 4.6, "paper: 10 T/s, Ti < 4.6 K".to_string());
    let mut out = HeatMap {
        title: "Deviation from the sudden limit, 0.5 T → 0.1 T".into(),
        x_label: "sweep rate (T/s)".into(),
        y_label: "initial temperature Ti (K)".into(),
        z_label: "|ΔT_eq / ΔT_sudden − 1| (ΔT_eq: equilibrium after the ramp)".into(),
        x: rates.clone(),
        y: tis.clone(),
        z: grid(0),
        z_range: (1e-6, 1.0),
        z_log: true,
        contour: Some(0.1),
        marks: vec![paper.clone()],
    }
    .save(&dir.join("validity_map"))?;
    for (k, (s, tag)) in ARRIVAL_MAP_TIMES_S.iter().enumerate() {
        let when = if *s < 60.0 { "1 s" } else { "1 h" };
        out.extend(
            HeatMap {
                title: format!("Cooling arrived {when} after the ramp, 0.5 T → 0.1 T"),
                x_label: "sweep rate (T/s)".into(),
                y_label: "initial temperature Ti (K)".into(),
                z_label: format!("fraction arrived ΔT({when}) / ΔT_eq (ΔT = T − Ti)"),
                x: rates.clone(),
                y: tis.clone(),
                z: grid(k + 1),
                z_range: (0.0, 1.0),
                z_log: false,
                contour: Some(0.5),
                marks: vec![paper.clone()],
            }
            .save(&dir.join(tag))?,
        );
    }
    Ok(out)
}

/// Heat capacity per molecule (k_B) that a heat link drains right after a field change to
/// `bf_t` at `t_k`: the lattice (and addenda) plus each well's intra-well spin heat capacity
/// P_w Var_w(E) / T^2, the well occupations frozen (docs/physics.md section 6.6). Wells are
/// split at M = 0 (its level counted half in each; its weight is ~exp(-50) below 6 K).
pub fn frozen_heat_capacity(m: &Material, bf_t: f64, t_k: f64) -> f64 {
    let e = m.spin.energies(bf_t);
    let n = crate::model::thermo::boltzmann(&e, t_k);
    let mut c = m.debye.heat_capacity(t_k);
    for sign in [-1.0, 1.0] {
        let w: Vec<f64> = (0..e.len())
            .map(|i| {
                let mv = m.spin.m(i) * sign;
                if mv > 0.0 {
                    n[i]
                } else if mv == 0.0 {
                    0.5 * n[i]
                } else {
                    0.0
                }
            })
            .collect();
        let mass: f64 = w.iter().sum();
        let mean = w.iter().zip(&e).map(|(p, x)| p * x).sum::<f64>() / mass;
        let var = w
            .iter()
            .zip(&e)
            .map(|(p, x)| p * (x - mean).powi(2))
            .sum::<f64>()
            / mass;
        c += mass * var / (t_k * t_k);
    }
    c
}

/// A figure run linked to a bath at `ti` by a constant conductance K whose time constant
/// C/K at `ti` is `tau_s` (C from [`frozen_heat_capacity`] at B_f), or adiabatic (`None`).
fn linked_spec(
    m: &Material,
    (bi, bf, rate): (f64, f64, f64),
    ti: f64,
    tau_s: Option<f64>,
    log_points_per_decade: u32,
) -> Result<RunSpec, FigureError> {
    let mut spec = run_spec(bi, bf, rate, ti, &[])?;
    spec.options.log_points_per_decade = log_points_per_decade;
    spec.options.log_grid_start_s = 1e-3;
    if let Some(tau) = tau_s {
        let k = frozen_heat_capacity(m, bf, ti) / tau;
        spec.link = Some(
            crate::model::HeatLink::new(k, 0.0, ti)
                .map_err(|e| FigureError::Compute(e.to_string()))?,
        );
    }
    Ok(spec)
}

/// "τ = 10⁴ s" for a link time constant.
fn tau_label(tau_s: f64) -> String {
    format!("C/K = {} s", plot::fmt_tick(tau_s, true))
}

/// The heat-link figures (issue 14) of the paper's protocol, 0.5 T -> 0.1 T at 10 T/s, with
/// the sample linked to a bath at Ti by a constant conductance K of time constant C/K at Ti
/// (C: lattice and intra-well spin heat capacity, wells frozen): T(t) from 3 and 4 K without a
/// link and with C/K from 1 s to 1e5 s; the largest cooling Ti - T_min and its time against
/// C/K (Ti = 2, 3, 4 K) and against Ti (C/K = 1, 1e2, 1e4 s). `resolution` scales the grids.
pub fn heat_link_figures(dir: &Path, resolution: usize) -> Result<Vec<PathBuf>, FigureError> {
    heat_link_figures_in(&EngineContext::new(), &Material::mn12ac(), dir, resolution)
}

fn heat_link_figures_in(
    ctx: &EngineContext,
    m: &Material,
    dir: &Path,
    r: usize,
) -> Result<Vec<PathBuf>, FigureError> {
    let protocol = (0.5, 0.1, 10.0);
    let mut out = Vec::new();
    // T(t) from 3 and 4 K.
    let taus: Vec<Option<f64>> = std::iter::once(None)
        .chain([1.0, 1e1, 1e2, 1e3, 1e4, 1e5].map(Some))
        .collect();
    for ti in [3.0, 4.0] {
        let runs: Vec<Result<Trajectory, FigureError>> = taus
            .par_iter()
            .map(|&tau| sim(ctx, &linked_spec(m, protocol, ti, tau, 8 * r as u32)?))
            .collect();
        let mut series = Vec::new();
        for (k, (tau, run)) in taus.iter().zip(&runs).enumerate() {
            let tr = run
                .as_ref()
                .map_err(|e| FigureError::Compute(e.to_string()))?;
            let pts = tr
                .samples
                .iter()
                .map(|s| (s.t_s - tr.ramp_duration_s, s.t_phonon_k))
                .filter(|&(t, _)| t >= 1e-3)
                .collect();
            let label = tau.map_or("no link (adiabatic)".to_string(), tau_label);
            series.push(Series::line(label, pts).in_slot(k));
        }
        out.extend(
            Chart {
                title: format!("10 T/s, 0.5 T → 0.1 T from {ti} K, bath at {ti} K"),
                x_label: "time after the ramp (s)".into(),
                y_label: "sample temperature T (K)".into(),
                x_log: true,
                y_log: false,
                series,
                ..Default::default()
            }
            .save(&dir.join(format!("heat_link_temperature_{ti}K")))?,
        );
    }
    // The largest cooling and its time against C/K, one curve per Ti.
    let tau_grid = crate::numerics::grid::log_points(0.1, 1e7, 4 * r * 8 + 1);
    let tis = [2.0, 3.0, 4.0];
    let minimum = |tr: &Trajectory, ti: f64| {
        (
            ti - tr.minimum_temperature_k,
            // A minimum at the end of the ramp (the link warms the sample from then on) has
            // no time to draw on a log axis.
            if tr.minimum_after_ramp_s > 1e-6 {
                tr.minimum_after_ramp_s
            } else {
                f64::NAN
            },
        )
    };
    // (x, (cooling, time)) along a grid of x, the runs in grid order; `ti_at(x)` is their Ti.
    let minima = |xs: &[f64],
                  rows: &[Result<Trajectory, FigureError>],
                  ti_at: &dyn Fn(f64) -> f64|
     -> Vec<(f64, (f64, f64))> {
        xs.iter()
            .zip(rows)
            .map(|(&x, r)| {
                let m = r
                    .as_ref()
                    .map_or((f64::NAN, f64::NAN), |tr| minimum(tr, ti_at(x)));
                (x, m)
            })
            .collect()
    };
    let jobs: Vec<(f64, Option<f64>)> = tis
        .iter()
        .flat_map(|&ti| {
            tau_grid
                .iter()
                .map(move |&t| (ti, Some(t)))
                .chain(std::iter::once((ti, None)))
        })
        .collect();
    let runs: Vec<Result<Trajectory, FigureError>> = jobs
        .par_iter()
        .map(|&(ti, tau)| sim(ctx, &linked_spec(m, protocol, ti, tau, 0)?))
        .collect();
    let (mut cooling, mut when) = (Vec::new(), Vec::new());
    let per_ti = tau_grid.len() + 1;
    for (k, &ti) in tis.iter().enumerate() {
        let rows = &runs[k * per_ti..(k + 1) * per_ti];
        let pts = minima(&tau_grid, rows, &|_| ti);
        // One colour per Ti: linked solid, no link dashed.
        cooling.push(
            Series::line(
                format!("Ti = {ti} K"),
                pts.iter().map(|&(t, (c, _))| (t, c)).collect(),
            )
            .in_slot(k)
            .with_dash(0),
        );
        when.push(
            Series::line(
                format!("Ti = {ti} K"),
                pts.iter().map(|&(t, (_, w))| (t, w)).collect(),
            )
            .in_slot(k),
        );
        // Without a link the sample is coldest at its equilibrium, 1e7 s (4 K) to beyond
        // 1e30 s (2 K) after the ramp: drawn on the cooling chart only.
        if let Ok(tr) = &rows[per_ti - 1] {
            let c = minimum(tr, ti).0;
            let ends = vec![(tau_grid[0], c), (tau_grid[tau_grid.len() - 1], c)];
            cooling.push(
                Series::dashed(format!("Ti = {ti} K, no link"), ends)
                    .in_slot(k)
                    .with_dash(1),
            );
        }
    }
    for (tag, title, ylab, y_log, series) in [
        (
            "heat_link_cooling_vs_time_constant",
            "Largest cooling after a 10 T/s ramp, 0.5 T → 0.1 T",
            "Ti − Tmin (K)",
            false,
            cooling,
        ),
        (
            "heat_link_minimum_time_vs_time_constant",
            "When the sample is coldest, 10 T/s, 0.5 T → 0.1 T",
            "time of Tmin after the ramp (s)",
            true,
            when,
        ),
    ] {
        out.extend(
            Chart {
                title: title.into(),
                x_label: "link time constant C/K at Ti (s)".into(),
                y_label: ylab.into(),
                x_log: true,
                y_log,
                series,
                ..Default::default()
            }
            .save(&dir.join(tag))?,
        );
    }
    // The same against Ti, one curve per C/K.
    let ti_grid = crate::numerics::grid::linear_points(1.5, 6.0, 10 * r + 9);
    let link_taus = [None, Some(1.0), Some(1e2), Some(1e4)];
    let jobs: Vec<(f64, Option<f64>)> = link_taus
        .iter()
        .flat_map(|&tau| ti_grid.iter().map(move |&ti| (ti, tau)))
        .collect();
    let runs: Vec<Result<Trajectory, FigureError>> = jobs
        .par_iter()
        .map(|&(ti, tau)| sim(ctx, &linked_spec(m, protocol, ti, tau, 0)?))
        .collect();
    let (mut cooling, mut when) = (Vec::new(), Vec::new());
    for (k, tau) in link_taus.iter().enumerate() {
        let rows = &runs[k * ti_grid.len()..(k + 1) * ti_grid.len()];
        let pts = minima(&ti_grid, rows, &|ti| ti);
        let label = tau.map_or("no link (adiabatic)".to_string(), tau_label);
        let make = |label: String, p: Vec<(f64, f64)>| {
            if tau.is_none() {
                Series::line(label, p).in_slot(k).with_dash(0)
            } else {
                Series::line(label, p).in_slot(k)
            }
        };
        cooling.push(make(
            label.clone(),
            pts.iter().map(|&(t, (c, _))| (t, c)).collect(),
        ));
        if tau.is_some() {
            when.push(make(label, pts.iter().map(|&(t, (_, w))| (t, w)).collect()));
        }
    }
    for (tag, title, ylab, y_log, series) in [
        (
            "heat_link_cooling_vs_ti",
            "Largest cooling after a 10 T/s ramp, 0.5 T → 0.1 T",
            "Ti − Tmin (K)",
            false,
            cooling,
        ),
        (
            "heat_link_minimum_time_vs_ti",
            "When the sample is coldest, 10 T/s, 0.5 T → 0.1 T",
            "time of Tmin after the ramp (s)",
            true,
            when,
        ),
    ] {
        out.extend(
            Chart {
                title: title.into(),
                x_label: "initial (bath) temperature Ti (K)".into(),
                y_label: ylab.into(),
                x_log: false,
                y_log,
                series,
                ..Default::default()
            }
            .save(&dir.join(tag))?,
        );
    }
    Ok(out)
}

/// The unit of the magnetization figures of a batch file: the stored moment per molecule, or
/// the molar moment in SI or emu (N_A mu_B = 5.5849 A m^2/mol = 5584.9 emu/mol per mu_B).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MagnetizationUnit {
    /// mu_B per molecule (as stored in `magnetization_mu_b`).
    #[default]
    MuB,
    /// A m^2 per mole of molecules (= J/(T mol)).
    Am2PerMol,
    /// emu per mole of molecules (1 emu = 1e-3 A m^2).
    EmuPerMol,
}

impl MagnetizationUnit {
    /// The factor from mu_B per molecule to this unit.
    pub fn per_mu_b(self) -> f64 {
        match self {
            Self::MuB => 1.0,
            Self::Am2PerMol => crate::units::molar_mu_b_am2_per_mol(),
            Self::EmuPerMol => 1e3 * crate::units::molar_mu_b_am2_per_mol(),
        }
    }
    /// The y-axis label (the CSV column header) in this unit.
    pub fn axis_label(self) -> &'static str {
        match self {
            Self::MuB => "moment along the field (μB per molecule)",
            Self::Am2PerMol => "molar moment along the field (A m² mol⁻¹)",
            Self::EmuPerMol => "molar moment along the field (emu mol⁻¹)",
        }
    }
}

/// Figures of a batch file: per stored trajectory, T(t), populations and magnetization (in
/// `unit`); for a sweep over the sweep rate, the final Delta T against it with both limits.
pub fn batch_figures(
    file: &Path,
    dir: &Path,
    max_runs: usize,
    unit: MagnetizationUnit,
) -> Result<Vec<PathBuf>, FigureError> {
    let meta = crate::io::read_meta(file)?;
    let recs = crate::io::read_summary(file)?;
    if recs.is_empty() {
        return Err(FigureError::Compute(format!(
            "{}: holds no runs: nothing to plot",
            file.display()
        )));
    }
    let mut out = Vec::new();
    let mut plotted = 0;
    // T(t) of every plotted run, for the overview on one log-time axis.
    let mut overview = Vec::new();
    for rec in &recs {
        if plotted >= max_runs {
            break;
        }
        let Some(tr) = crate::io::read_trajectory(file, rec.params.index)? else {
            continue;
        };
        plotted += 1;
        let i = rec.params.index;
        let title = format!(
            "run {i}: {} T → {} T, Ti = {} K{}",
            rec.params.b_initial_t,
            rec.params.b_final_t,
            rec.params.initial_temperature_k,
            rec.params
                .sweep_rate_t_per_s
                .map_or(" (jump)".to_string(), |r| format!(", {} T/s", fmt_rate(r)))
        );
        let pos: Vec<usize> = (0..tr.time_s.len())
            .filter(|&k| tr.time_s[k] > 0.0)
            .collect();
        let t_end = pos.last().map_or(1.0, |&k| tr.time_s[k]);
        let t_start = pos.first().map_or(1e-12, |&k| tr.time_s[k]);
        let temperature: Vec<(f64, f64)> = pos
            .iter()
            .map(|&k| (tr.time_s[k], tr.phonon_temperature_k[k]))
            .collect();
        // Colour k mod 8, dash pattern (k + k / 8) mod 4: 32 runs differ in one or the other.
        let k = overview.len();
        overview.push(
            Series::line(
                format!(
                    "run {i}: Ti = {} K, {}",
                    rec.params.initial_temperature_k,
                    rec.params
                        .sweep_rate_t_per_s
                        .map_or("jump".to_string(), |r| format!("{} T/s", fmt_rate(r)))
                ),
                temperature.clone(),
            )
            .in_slot(k)
            .with_dash((k + k / OKABE_ITO_COLOURS) % 4),
        );
        let mut series = vec![Series::line("T_phonon", temperature)];
        if let Some(s) = rec.summary.sudden_final_temperature_k {
            series.push(Series::dashed(
                "sudden limit (Eq. 9)",
                vec![(t_start, s), (t_end, s)],
            ));
        }
        if let Some(q) = rec.summary.isentropic_final_temperature_k {
            series.push(Series::dashed(
                "isentropic limit (Eq. 11)",
                vec![(t_start, q), (t_end, q)],
            ));
        }
        out.extend(
            Chart {
                title: title.clone(),
                x_label: "time since the start of the ramp (s)".into(),
                y_label: "phonon temperature (K)".into(),
                x_log: true,
                y_log: false,
                series,
                ..Default::default()
            }
            .save(&dir.join(format!("run_{i:06}_temperature")))?,
        );
        out.extend(
            populations_chart(&title, &tr, &pos)
                .save(&dir.join(format!("run_{i:06}_populations")))?,
        );
        out.extend(
            Chart {
                title,
                x_label: "time since the start of the ramp (s)".into(),
                y_label: unit.axis_label().into(),
                x_log: true,
                y_log: false,
                series: vec![Series::line(
                    "−g⟨M⟩",
                    pos.iter()
                        .map(|&k| (tr.time_s[k], tr.magnetization_mu_b[k] * unit.per_mu_b()))
                        .collect(),
                )],
                ..Default::default()
            }
            .save(&dir.join(format!("run_{i:06}_magnetization")))?,
        );
    }
    if !overview.is_empty() {
        out.extend(
            Chart {
                title: format!("T(t) of {} run(s) of {}", overview.len(), file_name(file)),
                x_label: "time since the start of the ramp (s)".into(),
                y_label: "phonon temperature (K)".into(),
                x_log: true,
                y_log: false,
                series: overview,
                ..Default::default()
            }
            .save(&dir.join("overview_temperature"))?,
        );
    }
    out.extend(sweep_rate_figure(file, dir, &meta, &recs)?);
    if out.is_empty() {
        return Err(FigureError::Compute(format!(
            "{}: no stored trajectories (output.trajectory = false) and no sweep over protocol.sweep_rate_t_per_s: nothing to plot",
            file.display()
        )));
    }
    Ok(out)
}

/// Colours of the palette (run k of an overview: colour k mod this).
const OKABE_ITO_COLOURS: usize = crate::figures::plot::OKABE_ITO.len();

/// A sweep rate in its shortest round-trip form, in exponent form outside 1e-3..1e4 (10, 0.5,
/// 1e12, 1e-8).
fn fmt_rate(r: f64) -> String {
    if (1e-3..1e4).contains(&r.abs()) {
        format!("{r}")
    } else {
        format!("{r:e}")
    }
}

/// The file name of `path` for a title.
fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into(),
    )
}

/// Smallest population a populations figure shows: below it a level is empty for every
/// purpose (its share of the energy and of the magnetization is below 1e-20).
pub const POPULATION_FLOOR: f64 = 1e-20;

/// Populations against time on log axes (the samples `pos` of `tr`), one line per level M
/// coloured by M on the sequential colour map (M = -S darkest) with a colour bar "level M",
/// no legend (the CSV names each line "M = m"); the y axis from the smallest population drawn (at least
/// [`POPULATION_FLOOR`], rounded down to a power of ten) to 1, so that its ticks reach the
/// lowest curve.
pub fn populations_chart(
    title: &str,
    tr: &crate::results::TrajectoryColumns,
    pos: &[usize],
) -> Chart {
    let n_levels = tr.populations.first().map_or(0, Vec::len);
    let s_spin = (n_levels as f64 - 1.0) / 2.0;
    let smallest = pos
        .iter()
        .flat_map(|&k| tr.populations[k].iter().copied())
        .filter(|&p| p >= POPULATION_FLOOR)
        .fold(1.0, f64::min);
    let floor = 10f64.powf(smallest.log10().floor()).max(POPULATION_FLOOR);
    let series = (0..n_levels)
        .map(|l| {
            Series::line(
                format!("M = {}", l as f64 - s_spin),
                pos.iter()
                    .map(|&k| {
                        let p = tr.populations[k][l];
                        // Below the axis: a break in the line, not a point.
                        (tr.time_s[k], if p >= floor { p } else { f64::NAN })
                    })
                    .collect(),
            )
            .on_colour_map(if n_levels > 1 {
                l as f64 / (n_levels - 1) as f64
            } else {
                0.0
            })
            .not_in_legend()
        })
        .collect();
    Chart {
        title: title.to_string(),
        x_label: "time since the start of the ramp (s)".into(),
        y_label: "level population".into(),
        x_log: true,
        y_log: true,
        series,
        y_range: Some((floor, 1.5)),
        colour_bar: Some(crate::figures::plot::ColourBar {
            title: "level M (populations coloured by M)".into(),
            lo: -s_spin,
            hi: s_spin,
        }),
        ..Default::default()
    }
}

/// For a sweep over the sweep rate: the final Delta T against it, one series per setting of
/// the other swept keys, with both limits.
fn sweep_rate_figure(
    file: &Path,
    dir: &Path,
    meta: &crate::results::BatchMeta,
    recs: &[crate::results::RunRecord],
) -> Result<Vec<PathBuf>, FigureError> {
    let mut out = Vec::new();
    if meta
        .swept_keys
        .iter()
        .any(|k| k == "protocol.sweep_rate_t_per_s")
    {
        // (label, points, sudden Delta T, isentropic Delta T) per group of runs.
        type Group = (String, Vec<(f64, f64)>, f64, Option<f64>);
        let mut groups: Vec<Group> = Vec::new();
        for rec in recs.iter().filter(|r| r.status == RunStatus::Ok) {
            let label: Vec<String> = rec
                .params
                .swept
                .iter()
                .filter(|(k, _)| k != "protocol.sweep_rate_t_per_s")
                .map(|(k, v)| format!("{} = {v}", k.rsplit('.').next().unwrap_or(k)))
                .collect();
            let label = if label.is_empty() {
                "kinetic".to_string()
            } else {
                label.join(", ")
            };
            let ti = rec.params.initial_temperature_k;
            let point = (
                rec.params.sweep_rate_t_per_s.unwrap_or(f64::NAN),
                rec.summary
                    .equilibrium_temperature_k
                    .map_or(f64::NAN, |t| t - ti),
            );
            match groups.iter_mut().find(|g| g.0 == label) {
                Some(g) => g.1.push(point),
                None => groups.push((
                    label,
                    vec![point],
                    rec.summary
                        .sudden_final_temperature_k
                        .map_or(f64::NAN, |t| t - ti),
                    rec.summary.isentropic_final_temperature_k.map(|t| t - ti),
                )),
            }
        }
        let (lo, hi) = groups
            .iter()
            .flat_map(|g| g.1.iter().map(|p| p.0))
            .filter(|v| v.is_finite())
            .fold((f64::INFINITY, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
        let mut series = Vec::new();
        for (label, mut pts, s, q) in groups {
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            series.push(Series::line(format!("{label}: kinetic"), pts));
            series.push(Series::dashed(
                format!("{label}: sudden"),
                vec![(lo, s), (hi, s)],
            ));
            if let Some(q) = q {
                series.push(Series::dashed(
                    format!("{label}: isentropic"),
                    vec![(lo, q), (hi, q)],
                ));
            }
        }
        out.extend(
            Chart {
                title: format!(
                    "{}: final ΔT against sweep rate",
                    file.file_name().map_or(file.display().to_string(), |n| n
                        .to_string_lossy()
                        .into_owned())
                ),
                x_label: "sweep rate (T/s)".into(),
                y_label: "ΔT at equilibrium (K)".into(),
                x_log: true,
                y_log: false,
                series,
                ..Default::default()
            }
            .save(&dir.join("sweep_delta_t_vs_rate"))?,
        );
    }
    Ok(out)
}

/// What arrives in practice: Delta T 1 ms, 1 s and 1 h after a 10 T/s ramp (0.5 T -> 0.1 T)
/// against Ti, with the equilibrium of the same ramp as the reference and the sudden limit;
/// `r` scales the grid.
fn practical_times_figure(
    ctx: &EngineContext,
    m: &Material,
    dir: &Path,
    r: usize,
) -> Result<Vec<PathBuf>, FigureError> {
    let (bi, bf) = (0.5, 0.1);
    let mut out = Vec::new();
    let tis = crate::numerics::grid::linear_points(1.5, 6.0, 10 * r + 9);
    let times = [1e-3, 1.0, 3600.0];
    let runs: Vec<Result<Trajectory, FigureError>> = tis
        .par_iter()
        .map(|&ti| sim(ctx, &run_spec(bi, bf, 10.0, ti, &times)?))
        .collect();
    let mut series: Vec<Series> = times
        .iter()
        .map(|&s| {
            let pts = tis
                .iter()
                .zip(&runs)
                .map(|(&ti, r)| {
                    let t = r
                        .as_ref()
                        .ok()
                        .and_then(|t| t.sample_after_ramp(s))
                        .map_or(f64::NAN, |x| x.t_phonon_k);
                    (ti, t - ti)
                })
                .collect();
            let label = match s {
                x if x < 1.0 => "1 ms after the ramp".to_string(),
                x if x < 10.0 => "1 s after the ramp".to_string(),
                _ => "1 h after the ramp".to_string(),
            };
            Series::line(label, pts)
        })
        .collect();
    // The reference: the equilibrium this same ramp leads to (the energy left after the ramp
    // shared out), which a finite ramp can fall short of; the sudden limit for comparison.
    series.push(Series::dashed(
        "equilibrium after this ramp (kinetic)",
        tis.iter()
            .zip(&runs)
            .map(|(&ti, r)| (ti, r.as_ref().map_or(f64::NAN, |t| t.t_equilibrium_k - ti)))
            .collect(),
    ));
    series.push(Series::dashed(
        "sudden limit (Eq. 9)",
        sudden_curve(m, bi, bf, &tis),
    ));
    // What the paper's text claims for this protocol, for comparison.
    series.push(paper_quote(
        PAPER_T_MAX_LABEL,
        vec![(PAPER_T_MAX_K, 0.0), (PAPER_T_MAX_K, PAPER_FEW_K_DELTA_T_K)],
    ));
    series.push(
        paper_quote(
            PAPER_FEW_K_LABEL,
            vec![
                (tis[0], PAPER_FEW_K_DELTA_T_K),
                (PAPER_T_MAX_K, PAPER_FEW_K_DELTA_T_K),
            ],
        )
        .with_dash(3),
    );
    out.extend(
        Chart {
            title: "What arrives: 0.5 T → 0.1 T at 10 T/s".into(),
            x_label: "initial temperature Ti (K)".into(),
            y_label: "ΔT (K)".into(),
            x_log: false,
            y_log: false,
            series,
            ..Default::default()
        }
        .save(&dir.join("practical_times"))?,
    );
    Ok(out)
}

/// T_max as the paper's text quotes it (Sec. 3 and the conclusions: tau >= 1 s "below
/// approximately 4.6 K"), K.
pub const PAPER_T_MAX_K: f64 = 4.6;

/// The cooling the paper's text promises below T_max at ~10 T/s ("a pronounced magnetic
/// cooling effect of a few K", Sec. 3), drawn at its least, 2 K, as Delta T, K.
pub const PAPER_FEW_K_DELTA_T_K: f64 = -2.0;

/// Legend of the quoted T_max line (Figs. 3 and `practical_times`).
pub const PAPER_T_MAX_LABEL: &str = "quoted from the paper (Sec. 3): τ ≥ 1 s below T_max ≈ 4.6 K";

/// Legend of the quoted "a few K" line (`practical_times`).
pub const PAPER_FEW_K_LABEL: &str =
    "quoted from the paper (Sec. 3): “a few K” below 4.6 K (drawn at −2 K)";

/// A value the paper's text quotes, overlaid on our curves: black and dotted, its legend
/// starting with "quoted from the paper" and naming the section (no comma: the CSV's
/// series column keeps it) (the paper's figures are not
/// digitised: only the numbers its text states are drawn).
fn paper_quote(label: &str, points: Vec<(f64, f64)>) -> Series {
    Series::line(label, points).in_slot(6).with_dash(2)
}

/// Initial temperature of the overview figure, K.
pub const OVERVIEW_INITIAL_TEMPERATURE_K: f64 = 4.0;

/// The whole story of one run (`overview_temperature`): the paper's 10 T/s ramp 0.5 T -> 0.1 T
/// from [`OVERVIEW_INITIAL_TEMPERATURE_K`], T(t) on a log axis of the time since the start of
/// the ramp from 0.1 ms to equilibrium: the ramp (the intra-well cooling follows it within
/// ~1e-7 s), the plateau while the wells are frozen, and the over-barrier cooling to the
/// equilibrium; with the end of the ramp, the samples 1 s and 1 h after it, the equilibrium
/// of this ramp and the sudden limit. `r` refines the time grid.
fn overview_figure(ctx: &EngineContext, dir: &Path, r: usize) -> Result<Vec<PathBuf>, FigureError> {
    let ti = OVERVIEW_INITIAL_TEMPERATURE_K;
    let mut scenario = Scenario::new(ProtocolSection::linear_ramp(0.5, 0.1, ti, 10.0));
    scenario.output.sample_times_after_ramp_s = ValueList(vec![1.0, 3600.0]);
    scenario.output.log_points_per_decade = 8 * r.max(1) as u32;
    scenario.output.trajectory = true;
    let mut spec = scenario
        .build()
        .map_err(|e| FigureError::Compute(e.to_string()))?
        .spec;
    spec.options.ramp_points = 64 * r.max(1);
    let tr = sim(ctx, &spec)?;
    let tq = tr.ramp_duration_s;
    let t0 = 1e-4;
    let curve: Vec<(f64, f64)> = tr
        .samples
        .iter()
        .filter(|s| s.t_s >= t0)
        .map(|s| (s.t_s, s.t_phonon_k))
        .collect();
    let t_end = curve.last().map_or(1e8, |p| p.0);
    let at = |after: f64| {
        tr.sample_after_ramp(after)
            .map_or((tq + after, f64::NAN), |s| (s.t_s, s.t_phonon_k))
    };
    let (one_s, one_h) = (at(1.0), at(3600.0));
    let fmt = |t: f64| format!("{t:.3}");
    let days = tr.equilibrium_after_ramp_s.map_or(String::new(), |t| {
        format!(" (after {:.0} days)", t / 86400.0)
    });
    let series = vec![
        Series::line("T(t): 10 T/s ramp 0.5 T → 0.1 T and then at 0.1 T", curve).in_slot(0),
        Series::line(
            format!("end of the ramp (t_q = {tq} s)"),
            vec![(tq, tr.t_final_sudden_k), (tq, ti)],
        )
        .in_slot(6)
        .with_dash(2),
        Series::markers(
            format!("1 s after the ramp: {} K", fmt(one_s.1)),
            vec![one_s],
        )
        .in_slot(1),
        Series::markers(
            format!("1 h after the ramp: {} K", fmt(one_h.1)),
            vec![one_h],
        )
        .in_slot(3),
        Series::dashed(
            format!(
                "equilibrium of this ramp: {} K{days}",
                fmt(tr.t_equilibrium_k)
            ),
            vec![(t0, tr.t_equilibrium_k), (t_end, tr.t_equilibrium_k)],
        )
        .in_slot(2),
        Series::dashed(
            format!("sudden limit (Eq. 9): {} K", fmt(tr.t_final_sudden_k)),
            vec![(t0, tr.t_final_sudden_k), (t_end, tr.t_final_sudden_k)],
        )
        .in_slot(4)
        .with_dash(2),
    ];
    // The stages named beside the curve, in empty space: left of the end of the ramp below
    // the curve, and above the over-barrier fall.
    let notes = vec![
        Note {
            x: 0.8 * tq,
            y: ti - 0.25 * (ti - tr.t_final_sudden_k),
            text: "ramp ↑".into(),
            slot: None,
            anchor: NoteAnchor::AboveLeft,
        },
        Note {
            x: 20.0,
            y: ti,
            text: "over-barrier relaxation ↘".into(),
            slot: None,
            anchor: NoteAnchor::BelowRight,
        },
    ];
    Ok(Chart {
        title: format!("One run: the paper's protocol from Ti = {ti} K"),
        x_label: "time since the start of the ramp (s)".into(),
        y_label: "lattice temperature T (K)".into(),
        x_log: true,
        y_log: false,
        series,
        notes,
        ..Default::default()
    }
    .save(&dir.join("overview_temperature"))?)
}

/// The levels Fig. 2 labels with their M values, as the paper does (the Zeeman sublevels of
/// the ground and the first excited doublet of Mn12Ac), and the field of each label, T: the
/// flat M < 0 levels above their right end, the steep M > 0 ones below and right of a point
/// where they cross the gap between two M < 0 levels.
pub const FIG2_LABELLED_LEVELS: [(f64, f64); 4] =
    [(-10.0, 1.0), (-9.0, 1.0), (10.0, 0.42), (9.0, 0.45)];

/// Figs. 2 and 3: the levels against field and tau(T).
fn levels_and_tau_figures(m: &Material, dir: &Path) -> Result<Vec<PathBuf>, FigureError> {
    let mut out = Vec::new();
    // Fig. 2: levels against field, relative to the ground level.
    let fields = crate::numerics::grid::linear_points(0.0, 1.0, 101);
    let series = (0..m.spin.n_levels())
        .map(|i| {
            let pts = fields
                .iter()
                .map(|&b| {
                    let e = m.spin.energies(b);
                    let g = e.iter().copied().fold(f64::INFINITY, f64::min);
                    (b, e[i] - g)
                })
                .collect();
            // One colour and line style per well (the barrier-top level M = 0 its own), the
            // legend naming the wells, not 21 colours.
            let mv = m.spin.m(i);
            let (slot, dash, label) = if mv < 0.0 {
                (0, 0, "M < 0 (left well, ground state)")
            } else if mv > 0.0 {
                (1, 1, "M > 0 (right well, metastable)")
            } else {
                (6, 2, "M = 0")
            };
            let first = i == 0 || mv == 0.0 || (mv > 0.0 && m.spin.m(i - 1) <= 0.0);
            Series::line(if first { label } else { "" }, pts)
                .in_slot(slot)
                .with_dash(dash)
        })
        .collect();
    // The paper's direct labels: the M values of the Zeeman sublevels of the ground and the
    // first excited doublet, at the right end of each level, in the colour of its well.
    let notes = FIG2_LABELLED_LEVELS
        .iter()
        .map(|&(mv, b)| {
            let i = (mv + m.spin.spin()).round() as usize;
            let e = m.spin.energies(b);
            let g = e.iter().copied().fold(f64::INFINITY, f64::min);
            Note {
                x: b,
                y: e[i] - g,
                text: format!("M = {}", format!("{mv:+}").replace('-', "−")),
                slot: Some(if mv < 0.0 { 0 } else { 1 }),
                anchor: if mv < 0.0 {
                    NoteAnchor::AboveLeft
                } else {
                    NoteAnchor::BelowRight
                },
            }
        })
        .collect();
    out.extend(
        Chart {
            title: "Mn₁₂Ac levels E_M(B) − E_ground".into(),
            x_label: "field B (T)".into(),
            y_label: "E_M − E_ground (K)".into(),
            x_log: false,
            y_log: false,
            series,
            notes,
            ..Default::default()
        }
        .save(&dir.join("fig2_levels"))?,
    );
    // Fig. 3: tau(T), Arrhenius and the scaled rate matrix, with tau = 1 s.
    let constant = RateModel::new(
        m.spin,
        m.arrhenius,
        KappaScaling::Constant { reference_k: 4.6 },
    )
    .map_err(|e| FigureError::Compute(e.to_string()))?;
    let ts = crate::numerics::grid::linear_points(2.0, 10.0, 81);
    let tau_arr: Vec<(f64, f64)> = ts.iter().map(|&t| (t, m.arrhenius.tau_s(t))).collect();
    let tau_const: Vec<(f64, f64)> = ts
        .iter()
        .map(|&t| (t, constant.tau_model_s(t).unwrap_or(f64::NAN)))
        .collect();
    let t_max = m.arrhenius.temperature_for_tau_k(1.0).unwrap_or(f64::NAN);
    out.extend(
        Chart {
            title: format!("Relaxation time; τ = 1 s at T_max = {t_max:.3} K"),
            x_label: "temperature T (K)".into(),
            y_label: "relaxation time τ (s)".into(),
            x_log: false,
            y_log: true,
            series: vec![
                Series::line("τ₀ exp(U_b/T) (= Arrhenius-scaled rate model)", tau_arr),
                Series::dashed("rate model, κ fixed at 4.6 K", tau_const),
                Series::dashed("τ = 1 s", vec![(2.0, 1.0), (10.0, 1.0)]),
                // T_max marked where the Arrhenius law crosses 1 s.
                Series::markers(
                    format!("T_max = {t_max:.3} K (this model: τ = 1 s)"),
                    vec![(t_max, 1.0)],
                )
                .in_slot(3),
                paper_quote(
                    PAPER_T_MAX_LABEL,
                    vec![
                        (PAPER_T_MAX_K, m.arrhenius.tau_s(10.0)),
                        (PAPER_T_MAX_K, m.arrhenius.tau_s(2.0)),
                    ],
                ),
            ],
            ..Default::default()
        }
        .save(&dir.join("fig3_tau"))?,
    );
    Ok(out)
}
