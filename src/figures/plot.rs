//! Figures: line charts (linear or logarithmic axes) and heat maps rendered to PNG and SVG with
//! plotters, with their data written next to them as CSV. Fonts are loaded from the system
//! (DejaVu Sans, Debian package fonts-dejavu-core, installed by the set-up command) or from the
//! file named by SMMCOOL_FONT, so rendering needs no display and no font configuration.

use plotters::prelude::*;
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
}

impl Series {
    /// A solid line.
    pub fn line(label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            label: label.into(),
            points,
            dashed: false,
            markers: false,
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

/// A line chart.
#[derive(Debug, Clone)]
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
}

fn palette(i: usize) -> RGBColor {
    const C: [RGBColor; 10] = [
        RGBColor(31, 119, 180),
        RGBColor(214, 39, 40),
        RGBColor(44, 160, 44),
        RGBColor(255, 127, 14),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
        RGBColor(188, 189, 34),
        RGBColor(23, 190, 207),
    ];
    C[i % C.len()]
}

fn fmt_tick(v: f64, log: bool) -> String {
    if log {
        let e = v.log10();
        if (e - e.round()).abs() < 1e-6 {
            return format!("1e{}", e.round() as i64);
        }
        return format!("{v:.0e}");
    }
    if v.abs() < 1e-9 {
        "0".into()
    } else if v.abs() >= 1e4 || v.abs() < 1e-2 {
        format!("{v:.1e}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
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

fn draw_err(path: &Path, e: impl std::fmt::Display) -> PlotError {
    PlotError::Draw {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

macro_rules! draw_chart {
    ($root:expr, $chart:expr, $xr:expr, $yr:expr, $path:expr) => {{
        let chart = $chart;
        let x_log = chart.x_log;
        let y_log = chart.y_log;
        $root.fill(&WHITE).map_err(|e| draw_err($path, e))?;
        let mut cc = ChartBuilder::on(&$root)
            .caption(&chart.title, ("sans-serif", 22))
            .margin(14)
            .x_label_area_size(48)
            .y_label_area_size(76)
            .build_cartesian_2d($xr, $yr)
            .map_err(|e| draw_err($path, e))?;
        cc.configure_mesh()
            .x_desc(chart.x_label.as_str())
            .y_desc(chart.y_label.as_str())
            .x_label_formatter(&|v| fmt_tick(*v, x_log))
            .y_label_formatter(&|v| fmt_tick(*v, y_log))
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 16))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(|e| draw_err($path, e))?;
        for (i, s) in chart.series.iter().enumerate() {
            let color = palette(i);
            let style = ShapeStyle::from(&color).stroke_width(2);
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
            let mut first = true;
            for seg in segments.into_iter().filter(|s| !s.is_empty()) {
                let anno = if s.markers {
                    cc.draw_series(seg.iter().map(|&p| Circle::new(p, 3, style.filled())))
                        .map_err(|e| draw_err($path, e))?
                } else if s.dashed {
                    cc.draw_series(DashedLineSeries::new(seg, 8, 5, style))
                        .map_err(|e| draw_err($path, e))?
                } else {
                    cc.draw_series(LineSeries::new(seg, style))
                        .map_err(|e| draw_err($path, e))?
                };
                if first && !s.label.is_empty() {
                    anno.label(s.label.clone()).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                    });
                    first = false;
                }
            }
        }
        if chart.series.iter().any(|s| !s.label.is_empty()) {
            cc.configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 13))
                .position(SeriesLabelPosition::UpperRight)
                .draw()
                .map_err(|e| draw_err($path, e))?;
        }
        $root.present().map_err(|e| draw_err($path, e))?;
    }};
}

impl Chart {
    /// Render to `stem.png` and `stem.svg` and write the data to `stem.csv`; returns the paths.
    pub fn save(&self, stem: &Path) -> Result<Vec<PathBuf>, PlotError> {
        init_font()?;
        let xs = bounds(
            self.series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.0)),
            self.x_log,
        );
        let ys = bounds(
            self.series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.1)),
            self.y_log,
        );
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
                        (false, false) => draw_chart!($root, self, x0..x1, y0..y1, path),
                        (true, false) => {
                            draw_chart!($root, self, (x0..x1).log_scale(), y0..y1, path)
                        }
                        (false, true) => {
                            draw_chart!($root, self, x0..x1, (y0..y1).log_scale(), path)
                        }
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
            if is_png {
                let root = BitMapBackend::new(path, (900, 600)).into_drawing_area();
                with_ranges!(root);
            } else {
                let root = SVGBackend::new(path, (900, 600)).into_drawing_area();
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

/// A heat map of z over a grid with logarithmic x, an optional contour level (drawn as the cell
/// edges where z crosses it) and marked rectangles.
#[derive(Debug, Clone)]
pub struct HeatMap {
    /// Title.
    pub title: String,
    /// x-axis label (log axis).
    pub x_label: String,
    /// y-axis label.
    pub y_label: String,
    /// Color-bar label.
    pub z_label: String,
    /// Cell centers along x (increasing, > 0).
    pub x: Vec<f64>,
    /// Cell centers along y (increasing).
    pub y: Vec<f64>,
    /// z[iy][ix]; NaN cells are grey.
    pub z: Vec<Vec<f64>>,
    /// Color scale as log10 of z, clamped to [lo, hi].
    pub log10_range: (f64, f64),
    /// Contour level of z.
    pub contour: Option<f64>,
    /// Marked regions (x0, x1, y0, y1, label).
    pub marks: Vec<(f64, f64, f64, f64, String)>,
}

fn heat_color(t: f64) -> RGBColor {
    // Dark blue -> yellow (viridis-like, 5 stops).
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

impl HeatMap {
    /// Render to `stem.png` and write `stem.csv` (x, y, z rows).
    pub fn save(&self, stem: &Path) -> Result<Vec<PathBuf>, PlotError> {
        init_font()?;
        if self.x.is_empty() || self.y.is_empty() {
            return Err(PlotError::Empty(format!("{}: empty grid", self.title)));
        }
        let png = stem.with_extension("png");
        let ex = edges(&self.x, true);
        let ey = edges(&self.y, false);
        {
            let root = BitMapBackend::new(&png, (1000, 650)).into_drawing_area();
            root.fill(&WHITE).map_err(|e| draw_err(&png, e))?;
            let (main, bar) = root.split_horizontally(860);
            let mut cc = ChartBuilder::on(&main)
                .caption(&self.title, ("sans-serif", 20))
                .margin(14)
                .x_label_area_size(48)
                .y_label_area_size(64)
                .build_cartesian_2d(
                    (ex[0]..ex[ex.len() - 1]).log_scale(),
                    ey[0]..ey[ey.len() - 1],
                )
                .map_err(|e| draw_err(&png, e))?;
            cc.configure_mesh()
                .x_desc(self.x_label.as_str())
                .y_desc(self.y_label.as_str())
                .x_label_formatter(&|v| fmt_tick(*v, true))
                .y_label_formatter(&|v| fmt_tick(*v, false))
                .label_style(("sans-serif", 14))
                .axis_desc_style(("sans-serif", 16))
                .disable_mesh()
                .draw()
                .map_err(|e| draw_err(&png, e))?;
            let (lo, hi) = self.log10_range;
            let mut cells = Vec::new();
            for (iy, row) in self.z.iter().enumerate() {
                for (ix, &z) in row.iter().enumerate() {
                    let color = if z.is_finite() && z > 0.0 {
                        heat_color((z.log10() - lo) / (hi - lo))
                    } else if z.is_finite() {
                        heat_color(0.0)
                    } else {
                        RGBColor(190, 190, 190)
                    };
                    cells.push(Rectangle::new(
                        [(ex[ix], ey[iy]), (ex[ix + 1], ey[iy + 1])],
                        color.filled(),
                    ));
                }
            }
            cc.draw_series(cells).map_err(|e| draw_err(&png, e))?;
            if let Some(level) = self.contour {
                let mut segs = Vec::new();
                let above = |v: f64| v.is_finite() && v >= level;
                for iy in 0..self.y.len() {
                    for ix in 0..self.x.len() {
                        if ix + 1 < self.x.len()
                            && above(self.z[iy][ix]) != above(self.z[iy][ix + 1])
                        {
                            segs.push(vec![(ex[ix + 1], ey[iy]), (ex[ix + 1], ey[iy + 1])]);
                        }
                        if iy + 1 < self.y.len()
                            && above(self.z[iy][ix]) != above(self.z[iy + 1][ix])
                        {
                            segs.push(vec![(ex[ix], ey[iy + 1]), (ex[ix + 1], ey[iy + 1])]);
                        }
                    }
                }
                let style = ShapeStyle::from(&WHITE).stroke_width(3);
                let mut first = true;
                for s in segs {
                    let a = cc
                        .draw_series(LineSeries::new(s, style))
                        .map_err(|e| draw_err(&png, e))?;
                    if first {
                        a.label(format!("{}% contour", level * 100.0))
                            .legend(|(x, y)| {
                                PathElement::new(vec![(x, y), (x + 18, y)], WHITE.stroke_width(3))
                            });
                        first = false;
                    }
                }
            }
            for (x0, x1, y0, y1, label) in &self.marks {
                let style = ShapeStyle::from(&RED).stroke_width(3);
                cc.draw_series(std::iter::once(Rectangle::new(
                    [(*x0, *y0), (*x1, *y1)],
                    style,
                )))
                .map_err(|e| draw_err(&png, e))?
                .label(label.clone())
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], RED.stroke_width(3)));
            }
            cc.configure_series_labels()
                .background_style(RGBColor(60, 60, 60).mix(0.8))
                .label_font(("sans-serif", 13).into_font().color(&WHITE))
                .position(SeriesLabelPosition::UpperLeft)
                .draw()
                .map_err(|e| draw_err(&png, e))?;
            // Color bar.
            let mut cb = ChartBuilder::on(&bar)
                .margin_top(50)
                .margin_bottom(62)
                .margin_right(40)
                .y_label_area_size(50)
                .caption(self.z_label.as_str(), ("sans-serif", 13))
                .build_cartesian_2d(0.0..1.0, lo..hi)
                .map_err(|e| draw_err(&png, e))?;
            cb.configure_mesh()
                .disable_x_axis()
                .disable_mesh()
                .y_label_formatter(&|v| format!("1e{v:.0}"))
                .label_style(("sans-serif", 12))
                .draw()
                .map_err(|e| draw_err(&png, e))?;
            let n = 100;
            cb.draw_series((0..n).map(|i| {
                let a = lo + (hi - lo) * i as f64 / n as f64;
                let b = lo + (hi - lo) * (i + 1) as f64 / n as f64;
                Rectangle::new(
                    [(0.0, a), (1.0, b)],
                    heat_color(i as f64 / n as f64).filled(),
                )
            }))
            .map_err(|e| draw_err(&png, e))?;
            root.present().map_err(|e| draw_err(&png, e))?;
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
        Ok(vec![png, csv])
    }
}
