//! Figures: line charts (linear or logarithmic axes) and heat maps rendered to PNG and SVG with
//! plotters, with their data written next to them as CSV. Fonts are loaded from the system
//! (DejaVu Sans, Debian package fonts-dejavu-core, installed by the set-up command) or from the
//! file named by SMMCOOL_FONT, so rendering needs no display and no font configuration.

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{register_font, FontStyle};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use thiserror::Error;

/// Where the font is looked for, in order (after SMMCOOL_FONT).
pub const FONT_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
];

/// A figure that could not be made.
#[derive(Debug, Error)]
pub enum PlotError {
    /// No usable font.
    #[error("no font for the figures: install fonts-dejavu-core (apt-get install fonts-dejavu-core) or set SMMCOOL_FONT to a .ttf file ({0})")]
    Font(String),
    /// Drawing or writing failed.
    #[error("{path}: {message}")]
    Draw {
        /// Output file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// Nothing to draw.
    #[error("{0}")]
    Empty(String),
}

static FONT: OnceLock<Result<(), String>> = OnceLock::new();

/// Load and register the font once.
pub fn init_font() -> Result<(), PlotError> {
    FONT.get_or_init(|| {
        let mut tried = Vec::new();
        let env = std::env::var("SMMCOOL_FONT").ok();
        for path in env
            .iter()
            .map(String::as_str)
            .chain(FONT_CANDIDATES.iter().copied())
        {
            match std::fs::read(path) {
                Ok(bytes) => {
                    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                    return register_font("sans-serif", FontStyle::Normal, bytes)
                        .map_err(|_| format!("{path} is not a usable font"));
                }
                Err(e) => tried.push(format!("{path}: {e}")),
            }
        }
        Err(tried.join("; "))
    })
    .clone()
    .map_err(PlotError::Font)
}

/// One curve.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// (x, y) points; non-finite points are skipped (and break the line).
    pub points: Vec<(f64, f64)>,
    /// Dashed line (e.g. an analytic limit).
    pub dashed: bool,
    /// Draw markers instead of a line.
    pub markers: bool,
    /// Palette slot (colour and, for solid lines, dash pattern); `None`: the series' index.
    /// Series that belong together (one initial temperature, one final field) share a slot.
    pub slot: Option<usize>,
    /// Dash pattern (an index into the patterns: 0 solid, 1 dashed, 2 dotted, 3 long
    /// dashes); `None`: from the slot.
    pub dash: Option<usize>,
    /// Position on the sequential colour map in [0, 1] ([`level_color`], the chart's
    /// [`Chart::colour_bar`] explains it): the colour is this instead of the slot's, the line
    /// solid (e.g. one population per level M, coloured by M).
    pub map_position: Option<f64>,
    /// Listed in the legend (when its label is not empty); the CSV names it either way.
    pub in_legend: bool,
}

impl Series {
    /// A solid line.
    pub fn line(label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            label: label.into(),
            points,
            dashed: false,
            markers: false,
            slot: None,
            dash: None,
            map_position: None,
            in_legend: true,
        }
    }
    /// The same series left out of the legend, named by its label in the CSV only (e.g. one
    /// of many curves a colour bar explains).
    pub fn not_in_legend(self) -> Self {
        Self {
            in_legend: false,
            ..self
        }
    }
    /// The same series coloured at `t` in [0, 1] on the sequential colour map (see
    /// [`Series::map_position`]).
    pub fn on_colour_map(self, t: f64) -> Self {
        Self {
            map_position: Some(t),
            ..self
        }
    }
    /// The same series with dash pattern `dash` (see [`Series::dash`]).
    pub fn with_dash(self, dash: usize) -> Self {
        Self {
            dash: Some(dash),
            ..self
        }
    }
    /// The same series in palette slot `slot`.
    pub fn in_slot(self, slot: usize) -> Self {
        Self {
            slot: Some(slot),
            ..self
        }
    }
    /// Markers only (points not joined, e.g. a singular point).
    pub fn markers(label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            markers: true,
            ..Self::line(label, points)
        }
    }
    /// A dashed line.
    pub fn dashed(label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            dashed: true,
            ..Self::line(label, points)
        }
    }
}

/// Where a [`Note`]'s text sits relative to its point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteAnchor {
    /// Above the point, ending at it (a label on a flat curve near the right edge).
    AboveLeft,
    /// Below the point, starting at it (a label beside a curve rising to the right).
    BelowRight,
}

/// A text label at a point of the chart, in data coordinates (a direct label on a curve).
#[derive(Debug, Clone)]
pub struct Note {
    /// The point, axis units.
    pub x: f64,
    /// The point, axis units.
    pub y: f64,
    /// The text.
    pub text: String,
    /// Palette slot of the text colour (the labelled curve's); `None`: black.
    pub slot: Option<usize>,
    /// Placement of the text relative to the point.
    pub anchor: NoteAnchor,
}

/// A line chart. Construct with `..Chart::default()` for the optional parts.
#[derive(Debug, Clone, Default)]
pub struct Chart {
    /// Title.
    pub title: String,
    /// x-axis label, with unit.
    pub x_label: String,
    /// y-axis label, with unit.
    pub y_label: String,
    /// Logarithmic x axis.
    pub x_log: bool,
    /// Logarithmic y axis.
    pub y_log: bool,
    /// Curves.
    pub series: Vec<Series>,
    /// The y range drawn (e.g. one range for figures compared side by side); `None`: the
    /// data's range.
    pub y_range: Option<(f64, f64)>,
    /// Text labels at data points, drawn over the curves.
    pub notes: Vec<Note>,
    /// A horizontal colour bar between the plot and the legend for the series coloured on the
    /// colour map ([`Series::map_position`] t is the value lo + t (hi - lo)).
    pub colour_bar: Option<ColourBar>,
}

/// The colour bar of a [`Chart`]: what the colour map's [0, 1] stands for.
#[derive(Debug, Clone)]
pub struct ColourBar {
    /// Title (quantity and unit).
    pub title: String,
    /// Value at the map's start (t = 0).
    pub lo: f64,
    /// Value at the map's end (t = 1).
    pub hi: f64,
}

/// Output resolution of the PNGs, dots per inch.
pub const DPI: f64 = 300.0;

/// Width of a single journal column, cm (the figures' default width).
pub const SINGLE_COLUMN_CM: f64 = 8.5;

/// Width of a double (full-page) journal column, cm (ACS: 7 in; RSC's 17.1 cm fits inside).
pub const DOUBLE_COLUMN_CM: f64 = 17.8;

/// The printed width a figure is drawn for: fonts stay 7-9 pt at that width, at [`DPI`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColumnWidth {
    /// One journal column, [`SINGLE_COLUMN_CM`].
    #[default]
    Single,
    /// Two journal columns, [`DOUBLE_COLUMN_CM`]; the plot keeps the single column's height.
    Double,
}

impl ColumnWidth {
    /// The width, cm.
    pub fn cm(self) -> f64 {
        match self {
            Self::Single => SINGLE_COLUMN_CM,
            Self::Double => DOUBLE_COLUMN_CM,
        }
    }
}

thread_local! {
    static COLUMN_WIDTH: std::cell::Cell<ColumnWidth> = const { std::cell::Cell::new(ColumnWidth::Single) };
}

/// Run `f` with every figure saved on this thread drawn for `width` (like a plotting
/// library's style context; figures are saved on the thread that asks for them), then restore
/// the previous width.
pub fn with_column_width<R>(width: ColumnWidth, f: impl FnOnce() -> R) -> R {
    let before = COLUMN_WIDTH.with(|w| w.replace(width));
    struct Restore(ColumnWidth);
    impl Drop for Restore {
        fn drop(&mut self) {
            COLUMN_WIDTH.with(|w| w.set(self.0));
        }
    }
    let _restore = Restore(before);
    f()
}

/// Width and plot height of a figure on this thread, px: the column width, and 0.7 of a
/// single column for the plot whatever the width (a double-column figure is a wide panel).
fn figure_px() -> (u32, u32) {
    let width = COLUMN_WIDTH.with(|w| w.get());
    (px_of_cm(width.cm()), px_of_cm(SINGLE_COLUMN_CM) * 7 / 10)
}

/// Pixels of `cm` centimetres at [`DPI`].
pub fn px_of_cm(cm: f64) -> u32 {
    (cm / 2.54 * DPI).round() as u32
}

/// Pixels of `points` typographic points (1/72 inch) at [`DPI`].
fn pt(points: f64) -> u32 {
    (points * DPI / 72.0).round() as u32
}

/// Font sizes, pt: title, axis labels, tick labels and legend (7-9 pt at the printed size).
const TITLE_PT: f64 = 9.0;
const AXIS_PT: f64 = 8.0;
const TICK_PT: f64 = 7.0;
const LEGEND_PT: f64 = 7.0;

/// The Okabe-Ito colour-blind-safe palette (Okabe and Ito, "Color Universal Design", 2002),
/// darkest first; yellow last, as it is faint on white.
pub const OKABE_ITO: [RGBColor; 8] = [
    RGBColor(0, 114, 178),   // blue
    RGBColor(213, 94, 0),    // vermillion
    RGBColor(0, 158, 115),   // bluish green
    RGBColor(230, 159, 0),   // orange
    RGBColor(204, 121, 167), // reddish purple
    RGBColor(86, 180, 233),  // sky blue
    RGBColor(0, 0, 0),       // black
    RGBColor(240, 228, 66),  // yellow
];

fn palette(i: usize) -> RGBColor {
    OKABE_ITO[i % OKABE_ITO.len()]
}

/// Dash patterns (dash, gap) in pt; `None` is a solid line. A line's pattern is the second
/// cue beside its colour; an explicitly dashed series (an analytic limit) never gets solid.
const DASHES: [Option<(f64, f64)>; 4] =
    [None, Some((4.0, 1.5)), Some((1.5, 1.2)), Some((6.0, 1.5))];

fn dash_of(s: &Series, slot: usize) -> Option<(u32, u32)> {
    let k = if let Some(d) = s.dash {
        d % DASHES.len()
    } else if s.dashed {
        1 + slot % (DASHES.len() - 1)
    } else {
        slot % DASHES.len()
    };
    DASHES[k].map(|(a, b)| (pt(a), pt(b)))
}

/// Superscript form of an integer: -4 -> "⁻⁴".
fn superscript(n: i64) -> String {
    n.to_string()
        .chars()
        .map(|c| match c {
            '-' => '⁻',
            '0' => '⁰',
            '1' => '¹',
            '2' => '²',
            '3' => '³',
            '4' => '⁴',
            '5' => '⁵',
            '6' => '⁶',
            '7' => '⁷',
            '8' => '⁸',
            _ => '⁹',
        })
        .collect()
}

/// A tick label: 10⁻⁴ on log axes (m×10ⁿ between decades), plain numbers with a true minus
/// sign on linear axes (m×10ⁿ for very large or small ones).
pub fn fmt_tick(v: f64, log: bool) -> String {
    let sci = |v: f64| {
        let e = v.abs().log10().floor();
        let m = v / 10f64.powf(e);
        let m = format!("{m:.1}");
        let m = m.trim_end_matches('0').trim_end_matches('.');
        format!("{m}×10{}", superscript(e as i64)).replace('-', "−")
    };
    if log {
        let e = v.log10();
        if (e - e.round()).abs() < 1e-6 {
            return format!("10{}", superscript(e.round() as i64));
        }
        return sci(v);
    }
    if v.abs() < 1e-9 {
        "0".into()
    } else if v.abs() >= 1e4 || v.abs() < 1e-2 {
        sci(v)
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0')
            .trim_end_matches('.')
            .replace('-', "−")
    }
}

fn bounds(vals: impl Iterator<Item = f64>, log: bool) -> Option<(f64, f64)> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in vals.filter(|v| v.is_finite() && (!log || *v > 0.0)) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return None;
    }
    if log {
        if hi <= lo {
            return Some((lo / 10.0, hi * 10.0));
        }
        let r = (hi / lo).powf(0.03);
        Some((lo / r, hi * r))
    } else {
        let pad = if hi > lo {
            0.04 * (hi - lo)
        } else {
            0.5 * lo.abs().max(1.0)
        };
        Some((lo - pad, hi + pad))
    }
}

/// Ticks of a linear axis over `lo..hi`: multiples of 1, 2 or 5 x 10^k, at most `max` of them,
/// each computed as k * step, and the light (minor) grid between them. plotters' own tick loop
/// adds the step repeatedly and drops the last tick when the sum overshoots by an ulp (a
/// 2.79..3.17 K axis showed 2.8, 2.9 and 3 but no 3.1).
fn linear_ticks(lo: f64, hi: f64, max: usize) -> (Vec<f64>, Vec<f64>) {
    let span = hi - lo;
    if !(span.is_finite() && span > 0.0) || max == 0 {
        return (vec![lo], Vec::new());
    }
    let range = |step: f64| {
        let first = (lo / step - 1e-9).ceil() as i64;
        let last = (hi / step + 1e-9).floor() as i64;
        (first, last)
    };
    let mut e = span.log10().floor() - 1.0;
    let (step, minor_per_major) = 'found: loop {
        let p = 10f64.powf(e);
        for (m, minor) in [(1.0, 5.0), (2.0, 4.0), (5.0, 5.0)] {
            let (a, b) = range(m * p);
            if b - a < max as i64 {
                break 'found (m * p, minor);
            }
        }
        e += 1.0;
    };
    let (a, b) = range(step);
    let major = (a..=b).map(|k| k as f64 * step).collect();
    let fine = step / minor_per_major;
    let (c, d) = range(fine);
    let minor = (c..=d).map(|k| k as f64 * fine).collect();
    (major, minor)
}

/// A linear axis over `lo..hi` whose grid and labels are [`linear_ticks`].
struct LinearAxis {
    coord: RangedCoordf64,
    major: Vec<f64>,
    minor: Vec<f64>,
}

impl Ranged for LinearAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.coord.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.minor.clone()
        } else {
            self.major.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.coord.range()
    }
}

fn linear_axis(lo: f64, hi: f64, max: usize) -> LinearAxis {
    let (major, minor) = linear_ticks(lo, hi, max);
    LinearAxis {
        coord: (lo..hi).into(),
        major,
        minor,
    }
}

fn draw_err(path: &Path, e: impl std::fmt::Display) -> PlotError {
    PlotError::Draw {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// The segments of a line from `a` to `b` in dash pattern `dash` (px), solid for `None`.
fn dash_segments(a: (i32, i32), b: (i32, i32), dash: Option<(u32, u32)>) -> Vec<[(i32, i32); 2]> {
    let Some((on, off)) = dash else {
        return vec![[a, b]];
    };
    let len = f64::from(b.0 - a.0).hypot(f64::from(b.1 - a.1));
    let at = |t: f64| {
        let f = (t / len).min(1.0);
        (
            a.0 + (f * f64::from(b.0 - a.0)).round() as i32,
            a.1 + (f * f64::from(b.1 - a.1)).round() as i32,
        )
    };
    let mut out = Vec::new();
    let mut t = 0.0;
    while t < len {
        out.push([at(t), at(t + f64::from(on))]);
        t += f64::from(on + off);
    }
    out
}

/// A legend entry: label, colour, dash pattern, markers.
struct Entry {
    label: String,
    color: RGBColor,
    dash: Option<(u32, u32)>,
    markers: bool,
}

/// Legend layout below the plot: (columns, rows, row height px, height px).
fn legend_layout(entries: &[Entry], width: u32) -> (u32, u32, u32, u32) {
    if entries.is_empty() {
        return (1, 0, 0, 0);
    }
    let font = pt(LEGEND_PT);
    let row = font * 3 / 2;
    // Text width estimate: 0.56 em per character (DejaVu Sans averages about that).
    let widest = entries
        .iter()
        .map(|e| e.label.chars().count() as f64 * 0.56 * f64::from(font))
        .fold(0.0, f64::max);
    let entry = widest + f64::from(pt(20.0));
    let columns = if entry * 2.0 <= f64::from(width) {
        2
    } else {
        1
    };
    let rows = (entries.len() as u32).div_ceil(columns);
    (columns, rows, row, rows * row + pt(4.0))
}

/// Draws the legend entries in `area` (below the plot, so it never covers data).
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    entries: &[Entry],
    (columns, _, row, _): (u32, u32, u32, u32),
    path: &Path,
) -> Result<(), PlotError> {
    let (w, _) = area.dim_in_pixel();
    let col_w = (w - 2 * pt(6.0)) / columns;
    let style = ("sans-serif", pt(LEGEND_PT)).into_font();
    for (k, e) in entries.iter().enumerate() {
        let (c, r) = (k as u32 % columns, k as u32 / columns);
        let x = (pt(6.0) + c * col_w) as i32;
        let y = (pt(2.0) + r * row + row / 2) as i32;
        let sample = pt(14.0) as i32;
        if e.markers {
            area.draw(&Circle::new((x + sample / 2, y), pt(1.5), e.color.filled()))
                .map_err(|er| draw_err(path, er))?;
        } else {
            for seg in dash_segments((x, y), (x + sample, y), e.dash) {
                area.draw(&PathElement::new(
                    seg.to_vec(),
                    e.color.stroke_width(pt(1.0)),
                ))
                .map_err(|er| draw_err(path, er))?;
            }
        }
        area.draw(&Text::new(
            e.label.clone(),
            (x + sample + pt(4.0) as i32, y - pt(LEGEND_PT) as i32 / 2),
            style.clone(),
        ))
        .map_err(|er| draw_err(path, er))?;
    }
    Ok(())
}

macro_rules! draw_chart {
    ($root:expr, $chart:expr, $xr:expr, $yr:expr, $path:expr) => {{
        let chart = $chart;
        let x_log = chart.x_log;
        let y_log = chart.y_log;
        $root.fill(&WHITE).map_err(|e| draw_err($path, e))?;
        let entries: Vec<Entry> = chart
            .series
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.label.is_empty() && s.in_legend)
            .map(|(i, s)| {
                let slot = s.slot.unwrap_or(i);
                Entry {
                    label: s.label.clone(),
                    color: series_color(s, slot),
                    dash: series_dash(s, slot),
                    markers: s.markers,
                }
            })
            .collect();
        let (w, h) = $root.dim_in_pixel();
        let layout = legend_layout(&entries, w);
        let (upper, lower) = $root.split_vertically(h - layout.3);
        let bar_px = if chart.colour_bar.is_some() {
            colour_bar_px()
        } else {
            0
        };
        let (upper, bar) = upper.split_vertically(h - layout.3 - bar_px);
        let mut cc = ChartBuilder::on(&upper)
            .caption(&chart.title, ("sans-serif", pt(TITLE_PT)))
            .margin(pt(5.0))
            .x_label_area_size(pt(21.0))
            .y_label_area_size(pt(30.0))
            .build_cartesian_2d($xr, $yr)
            .map_err(|e| draw_err($path, e))?;
        cc.configure_mesh()
            .x_desc(chart.x_label.as_str())
            .y_desc(chart.y_label.as_str())
            .x_label_formatter(&|v| fmt_tick(*v, x_log))
            .y_label_formatter(&|v| fmt_tick(*v, y_log))
            .x_labels(7)
            .y_labels(7)
            .label_style(("sans-serif", pt(TICK_PT)))
            .axis_desc_style(("sans-serif", pt(AXIS_PT)))
            .bold_line_style(RGBColor(225, 225, 225).stroke_width(pt(0.4)))
            .light_line_style(RGBColor(246, 246, 246))
            .axis_style(BLACK.stroke_width(pt(0.6)))
            .draw()
            .map_err(|e| draw_err($path, e))?;
        for (i, s) in chart.series.iter().enumerate() {
            let slot = s.slot.unwrap_or(i);
            let color = series_color(s, slot);
            let style = ShapeStyle::from(&color).stroke_width(pt(1.0));
            // Split at non-finite points.
            let mut segments: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
            for &(x, y) in &s.points {
                let ok =
                    x.is_finite() && y.is_finite() && (!x_log || x > 0.0) && (!y_log || y > 0.0);
                if ok {
                    segments.last_mut().expect("non-empty").push((x, y));
                } else if !segments.last().expect("non-empty").is_empty() {
                    segments.push(Vec::new());
                }
            }
            for seg in segments.into_iter().filter(|s| !s.is_empty()) {
                if s.markers {
                    cc.draw_series(seg.iter().map(|&p| Circle::new(p, pt(1.8), style.filled())))
                        .map_err(|e| draw_err($path, e))?;
                } else if let Some((on, off)) = series_dash(s, slot) {
                    cc.draw_series(DashedLineSeries::new(seg, on, off, style))
                        .map_err(|e| draw_err($path, e))?;
                } else {
                    cc.draw_series(LineSeries::new(seg, style))
                        .map_err(|e| draw_err($path, e))?;
                }
            }
        }
        for n in &chart.notes {
            let color = n.slot.map_or(BLACK, palette);
            let gap = pt(1.5) as i32;
            let (h, v, dx, dy) = match n.anchor {
                NoteAnchor::AboveLeft => (HPos::Right, VPos::Bottom, 0, -gap),
                NoteAnchor::BelowRight => (HPos::Left, VPos::Top, gap, gap),
            };
            let style = ("sans-serif", pt(LEGEND_PT))
                .into_font()
                .color(&color)
                .pos(Pos::new(h, v));
            cc.draw_series(std::iter::once(
                EmptyElement::at((n.x, n.y)) + Text::new(n.text.clone(), (dx, dy), style),
            ))
            .map_err(|e| draw_err($path, e))?;
        }
        if let Some(cb) = &chart.colour_bar {
            draw_colour_bar(
                &bar,
                (cb.lo, cb.hi),
                &cb.title,
                (pt(5.0) + pt(30.0), pt(5.0)),
                $path,
            )?;
        }
        draw_legend(&lower, &entries, layout, $path)?;
        $root.present().map_err(|e| draw_err($path, e))?;
    }};
}

/// The colour of a series: its colour-map position's, else its palette slot's.
fn series_color(s: &Series, slot: usize) -> RGBColor {
    s.map_position.map_or_else(|| palette(slot), level_color)
}

/// The dash pattern of a series: solid on the colour map, else [`dash_of`].
fn series_dash(s: &Series, slot: usize) -> Option<(u32, u32)> {
    if s.map_position.is_some() {
        None
    } else {
        dash_of(s, slot)
    }
}

/// Colour of `t` in [0, 1] for curves on the sequential colour map: the heat maps' viridis
/// scale ([`heat_color`]) up to 0.9 of it, as its last tenth (yellow) is faint on white.
/// Viridis is perceptually uniform and readable with the common colour-vision deficiencies.
pub fn level_color(t: f64) -> RGBColor {
    heat_color(0.9 * t.clamp(0.0, 1.0))
}

/// A horizontal colour bar of [`level_color`] over `lo..hi` in `area`, inset by `margins`
/// (left, right) px so that it lines up with the plot, ticks below it and `title` under them.
fn draw_colour_bar<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    (lo, hi): (f64, f64),
    title: &str,
    (left, right): (u32, u32),
    path: &Path,
) -> Result<(), PlotError> {
    let mut cb = ChartBuilder::on(area)
        .margin_top(pt(2.0))
        .margin_left(left)
        .margin_right(right)
        .x_label_area_size(pt(19.0))
        .build_cartesian_2d(linear_axis(lo, hi, 6), 0.0..1.0)
        .map_err(|e| draw_err(path, e))?;
    cb.configure_mesh()
        .disable_y_axis()
        .disable_mesh()
        .x_desc(title)
        .x_label_formatter(&|v| fmt_tick(*v, false))
        .label_style(("sans-serif", pt(TICK_PT)))
        .axis_desc_style(("sans-serif", pt(AXIS_PT)))
        .draw()
        .map_err(|e| draw_err(path, e))?;
    fill_colour_bar(&mut cb, (lo, hi), level_color, path)
}

/// The colour bar's strip: `colour` of 0..1 over `lo..hi`, in 200 steps.
fn fill_colour_bar<DB: DrawingBackend>(
    cb: &mut ChartContext<'_, DB, Cartesian2d<LinearAxis, RangedCoordf64>>,
    (lo, hi): (f64, f64),
    colour: fn(f64) -> RGBColor,
    path: &Path,
) -> Result<(), PlotError> {
    let n = 200;
    cb.draw_series((0..n).map(|i| {
        let a = lo + (hi - lo) * i as f64 / n as f64;
        let b = lo + (hi - lo) * (i + 1) as f64 / n as f64;
        Rectangle::new(
            [(a, 0.0), (b, 1.0)],
            colour((i as f64 + 0.5) / n as f64).filled(),
        )
    }))
    .map_err(|e| draw_err(path, e))?;
    Ok(())
}

impl Chart {
    /// Size in pixels: the column width ([`with_column_width`], one column by default) at
    /// [`DPI`], the plot 0.7 of a single column high, plus the legend below it.
    pub fn size_px(&self) -> (u32, u32) {
        let (w, plot_h) = figure_px();
        let entries: Vec<Entry> = self
            .series
            .iter()
            .filter(|s| !s.label.is_empty() && s.in_legend)
            .map(|s| Entry {
                label: s.label.clone(),
                color: BLACK,
                dash: None,
                markers: false,
            })
            .collect();
        let bar = if self.colour_bar.is_some() {
            colour_bar_px()
        } else {
            0
        };
        (w, plot_h + bar + legend_layout(&entries, w).3)
    }

    /// The y range drawn for the data alone (their extent plus a margin); `None` without
    /// finite data. The union of two charts' ranges gives them one scale.
    pub fn data_y_range(&self) -> Option<(f64, f64)> {
        bounds(
            self.series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.1)),
            self.y_log,
        )
    }

    /// Render to `stem.png` and `stem.svg` and write the data to `stem.csv`; returns the paths.
    pub fn save(&self, stem: &Path) -> Result<Vec<PathBuf>, PlotError> {
        init_font()?;
        let xs = bounds(
            self.series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.0)),
            self.x_log,
        );
        let ys = match self.y_range {
            Some((lo, hi)) if lo < hi && (!self.y_log || lo > 0.0) => Some((lo, hi)),
            Some((lo, hi)) => {
                return Err(PlotError::Empty(format!(
                    "{}: y range {lo}..{hi} is empty{}",
                    self.title,
                    if self.y_log { " or not positive" } else { "" }
                )))
            }
            None => self.data_y_range(),
        };
        let (Some((x0, x1)), Some((y0, y1))) = (xs, ys) else {
            return Err(PlotError::Empty(format!(
                "{}: no finite data to plot",
                self.title
            )));
        };
        let png = stem.with_extension("png");
        let svg = stem.with_extension("svg");
        for path in [&png, &svg] {
            let is_png = path == &png;
            macro_rules! with_ranges {
                ($root:expr) => {
                    match (self.x_log, self.y_log) {
                        (false, false) => draw_chart!(
                            $root,
                            self,
                            linear_axis(x0, x1, 7),
                            linear_axis(y0, y1, 7),
                            path
                        ),
                        (true, false) => draw_chart!(
                            $root,
                            self,
                            (x0..x1).log_scale(),
                            linear_axis(y0, y1, 7),
                            path
                        ),
                        (false, true) => draw_chart!(
                            $root,
                            self,
                            linear_axis(x0, x1, 7),
                            (y0..y1).log_scale(),
                            path
                        ),
                        (true, true) => draw_chart!(
                            $root,
                            self,
                            (x0..x1).log_scale(),
                            (y0..y1).log_scale(),
                            path
                        ),
                    }
                };
            }
            let size = self.size_px();
            if is_png {
                let root = BitMapBackend::new(path, size).into_drawing_area();
                with_ranges!(root);
            } else {
                let root = SVGBackend::new(path, size).into_drawing_area();
                with_ranges!(root);
            }
        }
        let csv = stem.with_extension("csv");
        self.write_csv(&csv)?;
        Ok(vec![png, svg, csv])
    }

    /// The plotted data as CSV: one row per point, columns series,x,y.
    pub fn write_csv(&self, path: &Path) -> Result<(), PlotError> {
        let mut f = std::fs::File::create(path).map_err(|e| draw_err(path, e))?;
        let x = self.x_label.replace(',', ";");
        let y = self.y_label.replace(',', ";");
        writeln!(f, "series,{x},{y}").map_err(|e| draw_err(path, e))?;
        for s in &self.series {
            for &(a, b) in &s.points {
                writeln!(f, "{},{a:e},{b:e}", s.label.replace(',', ";"))
                    .map_err(|e| draw_err(path, e))?;
            }
        }
        Ok(())
    }
}

/// A heat map of z over a grid with logarithmic x, a colour bar below it, an optional contour
/// level (drawn as the cell edges where z crosses it) and marked rectangles.
#[derive(Debug, Clone)]
pub struct HeatMap {
    /// Title.
    pub title: String,
    /// x-axis label (log axis).
    pub x_label: String,
    /// y-axis label.
    pub y_label: String,
    /// Colour-bar title.
    pub z_label: String,
    /// Cell centers along x (increasing, > 0).
    pub x: Vec<f64>,
    /// Cell centers along y (increasing).
    pub y: Vec<f64>,
    /// z[iy][ix]; NaN cells are grey.
    pub z: Vec<Vec<f64>>,
    /// The z range of the colour scale, z units; values beyond it take the end colours and
    /// the colour bar gets a triangle at that end (the over-range mark).
    pub z_range: (f64, f64),
    /// Logarithmic colour scale (ticks at the powers of ten).
    pub z_log: bool,
    /// Contour level of z.
    pub contour: Option<f64>,
    /// Marked regions (x0, x1, y0, y1, label).
    pub marks: Vec<(f64, f64, f64, f64, String)>,
}

/// Colour of `t` in [0, 1] on a viridis-like scale (dark blue -> yellow, 5 stops).
fn heat_color(t: f64) -> RGBColor {
    const S: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let t = t.clamp(0.0, 1.0) * 4.0;
    let i = (t.floor() as usize).min(3);
    let f = t - i as f64;
    let (a, b) = (S[i], S[i + 1]);
    RGBColor(
        (a.0 + f * (b.0 - a.0)) as u8,
        (a.1 + f * (b.1 - a.1)) as u8,
        (a.2 + f * (b.2 - a.2)) as u8,
    )
}

fn edges(c: &[f64], log: bool) -> Vec<f64> {
    let n = c.len();
    let t = |v: f64| if log { v.ln() } else { v };
    let inv = |v: f64| if log { v.exp() } else { v };
    let mut e = Vec::with_capacity(n + 1);
    for i in 0..=n {
        let v = if n == 1 {
            if i == 0 {
                t(c[0]) - 0.5
            } else {
                t(c[0]) + 0.5
            }
        } else if i == 0 {
            t(c[0]) - 0.5 * (t(c[1]) - t(c[0]))
        } else if i == n {
            t(c[n - 1]) + 0.5 * (t(c[n - 1]) - t(c[n - 2]))
        } else {
            0.5 * (t(c[i - 1]) + t(c[i]))
        };
        e.push(inv(v));
    }
    e
}

/// Height of a heat map's colour-bar strip (bar, ticks, title), px.
fn colour_bar_px() -> u32 {
    pt(30.0)
}

/// Colour of an empty (NaN) cell.
const NO_DATA: RGBColor = RGBColor(190, 190, 190);

impl HeatMap {
    /// The colour-scale coordinate of z: log10 z on a log scale, z otherwise (NaN for z <= 0
    /// on a log scale).
    fn scale(&self, z: f64) -> f64 {
        if !self.z_log {
            z
        } else if z > 0.0 {
            z.log10()
        } else {
            f64::NAN
        }
    }

    /// The colour-scale range (log10 of [`HeatMap::z_range`] on a log scale).
    fn scale_range(&self) -> (f64, f64) {
        (self.scale(self.z_range.0), self.scale(self.z_range.1))
    }

    /// Whether some finite z lies below / above the colour scale by more than 1e-9 of its
    /// span (rounding, e.g. a fraction of 1 + 2e-13, is not over range).
    pub fn over_range(&self) -> (bool, bool) {
        let (lo, hi) = self.scale_range();
        let tol = 1e-9 * (hi - lo);
        let finite = || self.z.iter().flatten().filter(|z| z.is_finite());
        (
            finite().any(|&z| (self.z_log && z <= 0.0) || self.scale(z) < lo - tol),
            finite().any(|&z| self.scale(z) > hi + tol),
        )
    }

    fn color(&self, z: f64) -> RGBColor {
        let (lo, hi) = self.scale_range();
        if !z.is_finite() {
            NO_DATA
        } else if self.z_log && z <= 0.0 {
            heat_color(0.0)
        } else {
            heat_color((self.scale(z) - lo) / (hi - lo))
        }
    }

    /// The legend entries below the colour bar: the contour, the over-range mark, the marks.
    fn entries(&self) -> Vec<Entry> {
        let mut entries = Vec::new();
        if let Some(level) = self.contour {
            entries.push(Entry {
                label: format!("{} % contour (white line)", level * 100.0),
                color: RGBColor(90, 90, 90),
                dash: None,
                markers: false,
            });
        }
        let (below, above) = self.over_range();
        let (lo, hi) = self.z_range;
        let beyond = match (below, above) {
            (true, true) => Some(format!(
                "< {} or > {}",
                fmt_tick(lo, self.z_log),
                fmt_tick(hi, self.z_log)
            )),
            (true, false) => Some(format!("< {}", fmt_tick(lo, self.z_log))),
            (false, true) => Some(format!("> {}", fmt_tick(hi, self.z_log))),
            (false, false) => None,
        };
        if let Some(b) = beyond {
            entries.push(Entry {
                label: format!("▶ on the colour bar: cells {b}, in its end colour"),
                color: WHITE,
                dash: None,
                markers: false,
            });
        }
        for (.., label) in &self.marks {
            entries.push(Entry {
                label: label.clone(),
                color: OKABE_ITO[1],
                dash: None,
                markers: false,
            });
        }
        entries
    }

    /// Size in pixels: the column width, the map 0.7 of a single column high, the colour bar
    /// and the legend below it.
    pub fn size_px(&self) -> (u32, u32) {
        let (w, plot_h) = figure_px();
        (
            w,
            plot_h + colour_bar_px() + legend_layout(&self.entries(), w).3,
        )
    }

    /// Render to `stem.png` and `stem.svg` and write `stem.csv` (x, y, z rows); returns the
    /// paths.
    pub fn save(&self, stem: &Path) -> Result<Vec<PathBuf>, PlotError> {
        init_font()?;
        if self.x.is_empty() || self.y.is_empty() {
            return Err(PlotError::Empty(format!("{}: empty grid", self.title)));
        }
        let (lo, hi) = self.scale_range();
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return Err(PlotError::Empty(format!(
                "{}: colour range {:?} is empty{}",
                self.title,
                self.z_range,
                if self.z_log { " or not positive" } else { "" }
            )));
        }
        let png = stem.with_extension("png");
        let svg = stem.with_extension("svg");
        let size = self.size_px();
        {
            let root = BitMapBackend::new(&png, size).into_drawing_area();
            self.draw(&root, &png)?;
        }
        {
            let root = SVGBackend::new(&svg, size).into_drawing_area();
            self.draw(&root, &svg)?;
        }
        let csv = stem.with_extension("csv");
        let mut f = std::fs::File::create(&csv).map_err(|e| draw_err(&csv, e))?;
        writeln!(
            f,
            "{},{},{}",
            self.x_label.replace(',', ";"),
            self.y_label.replace(',', ";"),
            self.z_label.replace(',', ";")
        )
        .map_err(|e| draw_err(&csv, e))?;
        for (iy, row) in self.z.iter().enumerate() {
            for (ix, z) in row.iter().enumerate() {
                writeln!(f, "{:e},{:e},{:e}", self.x[ix], self.y[iy], z)
                    .map_err(|e| draw_err(&csv, e))?;
            }
        }
        Ok(vec![png, svg, csv])
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, plotters::coord::Shift>,
        path: &Path,
    ) -> Result<(), PlotError> {
        let ex = edges(&self.x, true);
        let ey = edges(&self.y, false);
        let (w, h) = root.dim_in_pixel();
        root.fill(&WHITE).map_err(|e| draw_err(path, e))?;
        let entries = self.entries();
        let layout = legend_layout(&entries, w);
        let (upper, lower) = root.split_vertically(h - layout.3);
        let (main, bar) = upper.split_vertically(w * 7 / 10);
        let (left, right) = (pt(5.0) + pt(24.0), pt(8.0));
        let mut cc = ChartBuilder::on(&main)
            .caption(&self.title, ("sans-serif", pt(TITLE_PT)))
            .margin(pt(5.0))
            .margin_right(right)
            .x_label_area_size(pt(21.0))
            .y_label_area_size(pt(24.0))
            .build_cartesian_2d(
                (ex[0]..ex[ex.len() - 1]).log_scale(),
                linear_axis(ey[0], ey[ey.len() - 1], 10),
            )
            .map_err(|e| draw_err(path, e))?;
        cc.configure_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .x_label_formatter(&|v| fmt_tick(*v, true))
            .y_label_formatter(&|v| fmt_tick(*v, false))
            .label_style(("sans-serif", pt(TICK_PT)))
            .axis_desc_style(("sans-serif", pt(AXIS_PT)))
            .disable_mesh()
            .draw()
            .map_err(|e| draw_err(path, e))?;
        let mut cells = Vec::new();
        for (iy, row) in self.z.iter().enumerate() {
            for (ix, &z) in row.iter().enumerate() {
                cells.push(Rectangle::new(
                    [(ex[ix], ey[iy]), (ex[ix + 1], ey[iy + 1])],
                    self.color(z).filled(),
                ));
            }
        }
        cc.draw_series(cells).map_err(|e| draw_err(path, e))?;
        if let Some(level) = self.contour {
            let mut segs = Vec::new();
            let above = |v: f64| v.is_finite() && v >= level;
            for iy in 0..self.y.len() {
                for ix in 0..self.x.len() {
                    if ix + 1 < self.x.len() && above(self.z[iy][ix]) != above(self.z[iy][ix + 1]) {
                        segs.push(vec![(ex[ix + 1], ey[iy]), (ex[ix + 1], ey[iy + 1])]);
                    }
                    if iy + 1 < self.y.len() && above(self.z[iy][ix]) != above(self.z[iy + 1][ix]) {
                        segs.push(vec![(ex[ix], ey[iy + 1]), (ex[ix + 1], ey[iy + 1])]);
                    }
                }
            }
            let style = ShapeStyle::from(&WHITE).stroke_width(pt(1.0));
            for s in segs {
                cc.draw_series(LineSeries::new(s, style))
                    .map_err(|e| draw_err(path, e))?;
            }
        }
        for (x0, x1, y0, y1, _) in &self.marks {
            let style = ShapeStyle::from(&OKABE_ITO[1]).stroke_width(pt(1.0));
            cc.draw_series(std::iter::once(Rectangle::new(
                [(*x0, *y0), (*x1, *y1)],
                style,
            )))
            .map_err(|e| draw_err(path, e))?;
        }
        // The colour bar: horizontal, under the map's x range, its title below its ticks.
        let (lo, hi) = self.scale_range();
        let z_log = self.z_log;
        let mut cb = ChartBuilder::on(&bar)
            .margin_top(pt(2.0))
            .margin_left(left)
            .margin_right(right)
            .x_label_area_size(pt(19.0))
            .build_cartesian_2d(
                linear_axis(
                    lo,
                    hi,
                    if z_log {
                        (hi - lo).round() as usize + 1
                    } else {
                        6
                    },
                ),
                0.0..1.0,
            )
            .map_err(|e| draw_err(path, e))?;
        cb.configure_mesh()
            .disable_y_axis()
            .disable_mesh()
            .x_desc(self.z_label.as_str())
            .x_labels(if z_log {
                (hi - lo).round() as usize + 1
            } else {
                6
            })
            .x_label_formatter(&|v| {
                if z_log {
                    format!("10{}", superscript(v.round() as i64))
                } else {
                    fmt_tick(*v, false)
                }
            })
            .label_style(("sans-serif", pt(TICK_PT)))
            .axis_desc_style(("sans-serif", pt(AXIS_PT)))
            .draw()
            .map_err(|e| draw_err(path, e))?;
        fill_colour_bar(&mut cb, (lo, hi), heat_color, path)?;
        // The over-range mark: a triangle in the end colour beyond each end the data pass.
        let (below, above) = self.over_range();
        let (x_lo, y_top) = cb.backend_coord(&(lo, 1.0));
        let (x_hi, y_bottom) = cb.backend_coord(&(hi, 0.0));
        let tip = (y_bottom - y_top) * 3 / 4;
        let mid = (y_top + y_bottom) / 2;
        let (bx, by) = bar.get_base_pixel();
        let at = |x: i32, y: i32| (x - bx, y - by);
        for (show, edge, dir, t) in [(below, x_lo, -1, 0.0), (above, x_hi, 1, 1.0)] {
            if show {
                bar.draw(&Polygon::new(
                    vec![
                        at(edge + dir, y_top),
                        at(edge + dir * (tip + 1), mid),
                        at(edge + dir, y_bottom),
                    ],
                    heat_color(t).filled(),
                ))
                .map_err(|e| draw_err(path, e))?;
            }
        }
        draw_legend(&lower, &entries, layout, path)?;
        root.present().map_err(|e| draw_err(path, e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_ticks_reach_both_ends_and_step_by_one_two_or_five() {
        // The axis that lost its 3.1 K tick to plotters' accumulated step.
        let (major, minor) = linear_ticks(2.7942, 3.1767, 7);
        let labels: Vec<String> = major.iter().map(|v| fmt_tick(*v, false)).collect();
        assert_eq!(labels, ["2.8", "2.9", "3", "3.1"]);
        assert!(minor.len() > major.len());
        // Brute force over many ranges: every multiple of the chosen step inside the range is a
        // tick, ticks are evenly spaced, at most 7, and the step is 1, 2 or 5 x 10^k.
        let mut s: u64 = 12345;
        for _ in 0..5000 {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let lo = ((s >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 200.0;
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let span = 10f64.powf(((s >> 11) as f64 / (1u64 << 53) as f64) * 8.0 - 4.0);
            let hi = lo + span;
            let (t, _) = linear_ticks(lo, hi, 7);
            assert!(!t.is_empty() && t.len() <= 7, "{lo} {hi}: {t:?}");
            let step = if t.len() > 1 { t[1] - t[0] } else { continue };
            let m = step / 10f64.powf(step.log10().floor());
            assert!(
                [1.0, 2.0, 5.0, 10.0].iter().any(|x| (m - x).abs() < 1e-6),
                "{step}"
            );
            assert!(
                t[0] >= lo - 1e-9 * step && t[0] - step < lo + 1e-9 * step,
                "{lo} {hi}: {t:?}"
            );
            let last = t[t.len() - 1];
            assert!(
                last <= hi + 1e-9 * step && last + step > hi - 1e-9 * step,
                "{lo} {hi}: {t:?}"
            );
        }
    }

    #[test]
    fn ticks_are_typeset_with_superscripts_and_true_minus_signs() {
        assert_eq!(fmt_tick(1e-4, true), "10⁻⁴");
        assert_eq!(fmt_tick(1.0, true), "10⁰");
        assert_eq!(fmt_tick(1e12, true), "10¹²");
        assert_eq!(fmt_tick(2e-4, true), "2×10⁻⁴");
        assert_eq!(fmt_tick(-1.5, false), "−1.5");
        assert_eq!(fmt_tick(0.0, false), "0");
        assert_eq!(fmt_tick(-2.5e5, false), "−2.5×10⁵");
        // 8.5 cm at 300 dpi; 7 pt at 300 dpi is 29 px.
        assert_eq!(px_of_cm(SINGLE_COLUMN_CM), 1004);
        assert_eq!(pt(7.0), 29);
    }

    #[test]
    fn palette_is_okabe_ito_and_dashes_are_a_second_cue() {
        // Okabe and Ito's eight colours, as published (RGB 0-255).
        let published = [
            (0, 0, 0),
            (230, 159, 0),
            (86, 180, 233),
            (0, 158, 115),
            (240, 228, 66),
            (0, 114, 178),
            (213, 94, 0),
            (204, 121, 167),
        ];
        let mut ours: Vec<(u8, u8, u8)> = OKABE_ITO.iter().map(|c| (c.0, c.1, c.2)).collect();
        ours.sort_unstable();
        let mut want = published.to_vec();
        want.sort_unstable();
        assert_eq!(ours, want);
        // Neighbouring slots differ in dash pattern as well as colour; a limit is never solid.
        let line = Series::line("a", vec![]);
        let limit = Series::dashed("b", vec![]);
        for slot in 0..8 {
            assert_ne!(dash_of(&line, slot), dash_of(&line, slot + 1));
            assert!(dash_of(&limit, slot).is_some());
        }
    }
}
