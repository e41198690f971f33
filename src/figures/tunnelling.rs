//! Figures of resonant tunnelling in the time domain (issue 18): the hysteresis loop of a field
//! sweep at several bath temperatures with its steps, compared with the published loops
//! (docs/physics.md section 10.9).

use super::plot::{Chart, Series};
use super::{sim, FigureError};
use crate::kinetics::{EngineContext, RunSpec, Trajectory};
use crate::model::tunnelling::{AnisotropyOverrides, Resonance, SpinHamiltonian};
use crate::model::Overrides;
use crate::scenario::{LinkSection, ProtocolSection, Scenario, ValueList};
use rayon::prelude::*;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Preset of the hysteresis figure: Barra et al.'s HF-EPR Hamiltonian (docs/physics.md 10.2).
pub const HYSTERESIS_PRESET: &str = "mn12ac-barra";

/// Misalignment of the easy axis from the swept field in the hysteresis figure, degrees: a
/// transverse field B sin(theta) opens the odd resonances (k = 1, 3, ...), as misalignment,
/// dipolar and hyperfine fields do in the measured crystals.
pub const HYSTERESIS_MISALIGNMENT_DEG: f64 = 1.0;

/// The loop sweeps from -this to +this, T.
pub const HYSTERESIS_FIELD_T: f64 = 3.0;

/// Sweep rate of the loop, T/s (0.3 T/min, the order of the rates of SQUID and Hall-probe
/// loops).
pub const HYSTERESIS_SWEEP_RATE_T_PER_S: f64 = 0.005;

/// Bath temperatures of the loops, K.
pub const HYSTERESIS_TEMPERATURES_K: [f64; 3] = [1.8, 2.4, 3.0];

/// Output points of one loop's up sweep (5 mT apart).
pub const HYSTERESIS_POINTS: usize = 1200;

/// Amount of the sample, mol, and the conductance of its link to the bath, W/K: C/K ~ 1e-6 s,
/// so the sample stays at the bath temperature through every step (to ~1e-5 K), as a small
/// crystal in a magnetometer does; without a link it avalanches (docs/physics.md 10.8).
pub const HYSTERESIS_SAMPLE_MOL: f64 = 1e-6;
/// See [`HYSTERESIS_SAMPLE_MOL`].
pub const HYSTERESIS_LINK_W_PER_K: f64 = 1.0;

/// A step of a loop: a local maximum of dM/dB whose rise over the two grid intervals on each
/// side exceeds this, mu_B per molecule (0.25 % of the saturation moment 20.5 mu_B).
pub const STEP_MIN_RISE_MU_B: f64 = 0.05;

/// The published step spacing, T: "B_k ~ k x 0.44-0.46 T" (issue 18, summarising Friedman et
/// al., PRL 76, 3830 (1996) and Thomas et al., Nature 383, 145 (1996)).
pub const PUBLISHED_STEP_SPACING_T: (f64, f64) = (0.44, 0.46);

/// Where [`PUBLISHED_STEP_SPACING_T`] comes from, written beside it in every row of
/// `hysteresis_loop_steps.csv` (no comma). The abstracts at hand (Thomas et al., Nature 383,
/// 145: steps where the energies of spin states of the two wells coincide; Kent et al., EPL
/// 49, 521: regularly spaced steps above 1.6 K that move to higher fields on cooling) give no
/// field values; the full texts were not checked.
pub const PUBLISHED_STEPS_SOURCE: &str =
    "quoted from issue 18 (Friedman et al. PRL 76 3830 (1996); Thomas et al. Nature 383 145 (1996)): B_k = k x 0.44-0.46 T";

/// Legend of the published step fields on the loop figure (no comma: the CSV keeps it): the
/// spacing as issue 18 summarises the two papers ([`PUBLISHED_STEPS_SOURCE`]).
pub const PUBLISHED_STEPS_LABEL: &str =
    "issue 18 summary of Friedman/Thomas 1996: steps every 0.44-0.46 T";

/// The scenario of one up sweep of the loop at bath temperature `t_k`: from -3 T (in
/// equilibrium: saturated) to +3 T at 5 mT/s, `mn12ac-barra` misaligned by 1 degree, held at the
/// bath by a strong link.
pub fn hysteresis_scenario(t_k: f64) -> Scenario {
    let mut s = Scenario::new(ProtocolSection::linear_ramp(
        -HYSTERESIS_FIELD_T,
        HYSTERESIS_FIELD_T,
        t_k,
        HYSTERESIS_SWEEP_RATE_T_PER_S,
    ));
    s.material.preset = Some(HYSTERESIS_PRESET.into());
    s.material.misalignment_deg = Some(HYSTERESIS_MISALIGNMENT_DEG);
    s.sample.amount_mol = Some(HYSTERESIS_SAMPLE_MOL);
    s.link = LinkSection {
        conductance_w_per_k: Some(HYSTERESIS_LINK_W_PER_K),
        exponent: None,
        bath_temperature_k: None,
    };
    s.output.sample_times_after_ramp_s = ValueList(vec![]);
    s.output.log_points_per_decade = 0;
    s.output.trajectory = true;
    s.solver.max_time_after_ramp_s = 1.0;
    s
}

/// The run of [`hysteresis_scenario`] with [`HYSTERESIS_POINTS`] output points on the sweep.
pub fn hysteresis_spec(t_k: f64) -> Result<RunSpec, FigureError> {
    let mut spec = hysteresis_scenario(t_k)
        .build()
        .map_err(|e| FigureError::Compute(e.to_string()))?
        .spec;
    spec.options.ramp_points = HYSTERESIS_POINTS;
    Ok(spec)
}

/// The up sweep of a loop: (B, M) at the samples during the sweep, mu_B per molecule along
/// the field.
pub fn up_sweep(tr: &Trajectory) -> Vec<(f64, f64)> {
    tr.samples
        .iter()
        .filter(|s| s.t_s <= tr.ramp_duration_s)
        .map(|s| (s.field_t, s.magnetization_mu_b))
        .collect()
}

/// The steps of an up sweep `curve` (B increasing): the fields (the middle of the grid
/// interval) where dM/dB has a local maximum and M rises by more than [`STEP_MIN_RISE_MU_B`]
/// over the two grid intervals on each side, with that rise.
pub fn loop_steps(curve: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let slope: Vec<(f64, f64)> = curve
        .windows(2)
        .filter(|w| w[1].0 > w[0].0)
        .map(|w| {
            (
                0.5 * (w[0].0 + w[1].0),
                (w[1].1 - w[0].1) / (w[1].0 - w[0].0),
            )
        })
        .collect();
    let mut out = Vec::new();
    for j in 1..slope.len().saturating_sub(1) {
        let (b, s) = slope[j];
        if !(s > slope[j - 1].1 && s >= slope[j + 1].1) {
            continue;
        }
        // The rise of M between the grid points two intervals either side.
        let lo = curve[j.saturating_sub(1)].1;
        let hi = curve[(j + 3).min(curve.len() - 1)].1;
        if hi - lo > STEP_MIN_RISE_MU_B {
            out.push((b, hi - lo));
        }
    }
    out
}

/// The Hamiltonian of the loops (`mn12ac-barra`, misaligned by 1 degree).
pub fn hysteresis_hamiltonian() -> Result<SpinHamiltonian, FigureError> {
    SpinHamiltonian::from_preset(
        HYSTERESIS_PRESET,
        &Overrides::default(),
        &AnisotropyOverrides {
            misalignment_deg: Some(HYSTERESIS_MISALIGNMENT_DEG),
            ..AnisotropyOverrides::default()
        },
    )
    .map_err(|e| FigureError::Compute(e.to_string()))
}

/// The resonance (as `smmcool resonances` lists it, applied fields) nearest to field |`b`| (at
/// B < 0 the wells have swapped roles and the resonances are at -B_k).
pub fn nearest_resonance(list: &[Resonance], b: f64) -> Option<Resonance> {
    list.iter().copied().min_by(|x, y| {
        (x.field_t - b.abs())
            .abs()
            .total_cmp(&(y.field_t - b.abs()).abs())
    })
}

/// A step is at a resonance when it is this close to a resonance field, T (three grid
/// intervals: a fast channel empties the well before its crossing, so the steepest point of
/// the step can come a little before it).
pub const STEP_AT_RESONANCE_T: f64 = 0.015;

/// Where a step of a loop sits: at a resonance field, or on the shoulder of a channel's
/// near-resonance window (docs/physics.md 10.5: a pair acts at full strength within B_1/4 of
/// its crossing and not beyond B_1/2; a barrier-top pair with a large splitting relaxes the
/// well as soon as its window opens), or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// Within [`STEP_AT_RESONANCE_T`] of a resonance field.
    Resonance,
    /// Between B_1/4 and B_1/2 (+- one grid interval) from a resonance field: the model's
    /// window, not a measured feature.
    WindowShoulder,
    /// Neither.
    Other,
}

impl StepKind {
    /// Its name in `hysteresis_loop_steps.csv`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Resonance => "resonance",
            Self::WindowShoulder => "window_shoulder",
            Self::Other => "other",
        }
    }
}

/// Where the step at field `b` sits among the resonances `list` (B_1 = `b1_t`).
pub fn classify_step(list: &[Resonance], b1_t: f64, b: f64) -> StepKind {
    let grid = 2.0 * HYSTERESIS_FIELD_T / HYSTERESIS_POINTS as f64;
    let d = |r: &Resonance| (r.field_t - b.abs()).abs();
    if list.iter().any(|r| d(r) <= STEP_AT_RESONANCE_T) {
        StepKind::Resonance
    } else if list
        .iter()
        .any(|r| d(r) >= 0.25 * b1_t - grid && d(r) <= 0.5 * b1_t + grid)
    {
        StepKind::WindowShoulder
    } else {
        StepKind::Other
    }
}

/// The hysteresis figure (`hysteresis_loop_tunnelling`: M against B, up sweeps computed, down
/// sweeps their mirror image M(-B) = -M(B), the published step spacing overlaid) and the table
/// of its steps (`hysteresis_loop_steps.csv`: each step's field, rise, nearest resonance and
/// the published k x 0.44-0.46 T).
pub fn hysteresis_figure(ctx: &EngineContext, dir: &Path) -> Result<Vec<PathBuf>, FigureError> {
    let runs: Vec<Result<Trajectory, FigureError>> = HYSTERESIS_TEMPERATURES_K
        .par_iter()
        .map(|&t| sim(ctx, &hysteresis_spec(t)?))
        .collect();
    let h = hysteresis_hamiltonian()?;
    let list = h
        .resonances(2 * h.spin().two_s())
        .map_err(|e| FigureError::Compute(e.to_string()))?;
    let b1 = h
        .engine_spin()
        .map_err(|e| FigureError::Compute(e.to_string()))?
        .resonance_field_t(1);
    let mut series = Vec::new();
    let mut rows = Vec::new();
    for (slot, (&t, run)) in HYSTERESIS_TEMPERATURES_K.iter().zip(&runs).enumerate() {
        let tr = run
            .as_ref()
            .map_err(|e| FigureError::Compute(e.to_string()))?;
        let up = up_sweep(tr);
        for (b, rise) in loop_steps(&up) {
            rows.push((
                t,
                b,
                rise,
                nearest_resonance(&list, b),
                classify_step(&list, b1, b),
            ));
        }
        let down: Vec<(f64, f64)> = up.iter().rev().map(|&(b, m)| (-b, -m)).collect();
        series.push(
            Series::line(format!("T = {t} K: up sweep"), up)
                .in_slot(slot)
                .with_dash(0),
        );
        series.push(
            Series::line(format!("T = {t} K: down sweep (mirror)"), down)
                .in_slot(slot)
                .with_dash(1),
        );
    }
    let spacing = 0.5 * (PUBLISHED_STEP_SPACING_T.0 + PUBLISHED_STEP_SPACING_T.1);
    let kmax = (HYSTERESIS_FIELD_T / spacing).floor() as i32;
    series.push(
        Series::markers(
            PUBLISHED_STEPS_LABEL,
            (-kmax..=kmax)
                .map(|k| (f64::from(k) * spacing, -22.0))
                .collect(),
        )
        .in_slot(6),
    );
    let mut out = Chart {
        title: format!(
            "Hysteresis loops, {} mT/s ({HYSTERESIS_PRESET})",
            HYSTERESIS_SWEEP_RATE_T_PER_S * 1e3
        ),
        x_label: "field B (T)".into(),
        y_label: "magnetization M (μB per molecule)".into(),
        x_log: false,
        y_log: false,
        series,
        ..Default::default()
    }
    .save(&dir.join("hysteresis_loop_tunnelling"))?;
    let path = dir.join("hysteresis_loop_steps.csv");
    let werr = |e: std::io::Error| FigureError::Compute(format!("{}: {e}", path.display()));
    let mut f = std::fs::File::create(&path).map_err(werr)?;
    writeln!(
        f,
        "temperature_k,step_field_t,step_rise_mu_b,k,m,m_prime,resonance_field_t,published_low_t,published_high_t,within_published,at,published_source"
    )
    .map_err(werr)?;
    for (t, b, rise, r, kind) in rows {
        let (k, m, mp, field) = r.map_or((f64::NAN, f64::NAN, f64::NAN, f64::NAN), |r| {
            (f64::from(r.k), r.m, r.m_prime, r.field_t)
        });
        let (lo, hi) = (
            k * PUBLISHED_STEP_SPACING_T.0,
            k * PUBLISHED_STEP_SPACING_T.1,
        );
        writeln!(
            f,
            "{t},{b:e},{rise:e},{k},{m},{mp},{field:e},{lo:e},{hi:e},{},{},{PUBLISHED_STEPS_SOURCE}",
            b.abs() >= lo - 0.0025 && b.abs() <= hi + 0.0025,
            kind.name()
        )
        .map_err(werr)?;
    }
    out.push(path);
    Ok(out)
}
