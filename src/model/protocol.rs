//! Field protocols B(t): a ramp from B_i at t = 0 to B_f at t = t_q, then constant. The ramp
//! is linear, a half cosine, an instantaneous jump, or a piecewise-linear waveform through
//! given points ([`Waveform`], docs/physics.md "Field waveforms").

use crate::error::{require_finite, ParameterError};
use std::f64::consts::PI;
use std::sync::Arc;

/// Shape of the ramp.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum RampShape {
    /// B changes at a constant rate (the default).
    Linear,
    /// B(t) = B_i + (B_f - B_i)(1 - cos(pi t / t_q))/2: smooth start and end, peak rate pi/2
    /// times the mean rate.
    Cosine,
    /// Instantaneous change at t = 0: the exact sudden limit (t_q = 0).
    Jump,
    /// Piecewise linear through given points (time and field lists, or a CSV file): dB/dt
    /// constant between corners.
    Waveform,
}

impl std::str::FromStr for RampShape {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "linear" => Ok(Self::Linear),
            "cosine" => Ok(Self::Cosine),
            "jump" => Ok(Self::Jump),
            "waveform" => Ok(Self::Waveform),
            _ => Err(format!(
                "unknown ramp shape '{s}': use linear, cosine, jump or waveform"
            )),
        }
    }
}

/// Most points a waveform may have.
pub const MAX_WAVEFORM_POINTS: usize = 1_000_000;

/// Why a waveform's points are refused: the point (0-based) and the value concerned, and
/// the rule.
#[derive(Debug, Clone, PartialEq)]
pub struct WaveformError {
    /// Which list the value belongs to: `Time` or `Field`.
    pub column: WaveformColumn,
    /// 0-based index of the offending point, if the rule concerns one.
    pub point: Option<usize>,
    /// The offending value (NaN where there is none, e.g. too few points).
    pub value: f64,
    /// The rule, in words.
    pub rule: String,
}

/// The two columns of a waveform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaveformColumn {
    /// Times, s.
    Time,
    /// Fields, T.
    Field,
}

/// A piecewise-linear field B(t) through points (t_k, B_k), times strictly increasing. The
/// ramp starts at the first point: its times are kept relative to the first one
/// (t_0 = 0), and B = B_0 before it, B_last after the last one.
#[derive(Debug, Clone, PartialEq)]
pub struct Waveform {
    /// Corner times since the first point, s (`time_s[0] = 0`).
    time_s: Vec<f64>,
    /// Fields at the corners, T.
    field_t: Vec<f64>,
    /// Slope of each piece, T/s (one fewer than the points).
    slope_t_per_s: Vec<f64>,
    /// The first time as given, s (the times are kept relative to it).
    start_s: f64,
    /// Where the points came from: "inline" or the CSV file's path.
    source: String,
}

impl Waveform {
    /// The waveform through (`time_s[k]`, `field_t[k]`): at least two points, every value
    /// finite, times strictly increasing, lasting [`MIN_DURATION_S`] to [`MAX_DURATION_S`].
    pub fn new(
        time_s: Vec<f64>,
        field_t: Vec<f64>,
        source: impl Into<String>,
    ) -> Result<Self, WaveformError> {
        let fail = |column, point, value, rule: String| WaveformError {
            column,
            point,
            value,
            rule,
        };
        if time_s.len() != field_t.len() {
            return Err(fail(
                WaveformColumn::Field,
                None,
                field_t.len() as f64,
                format!(
                    "{} fields for {} times: give one field per time",
                    field_t.len(),
                    time_s.len()
                ),
            ));
        }
        if time_s.len() < 2 {
            return Err(fail(
                WaveformColumn::Time,
                None,
                time_s.len() as f64,
                format!(
                    "{} point(s): a waveform needs at least two points (time_s, field_t)",
                    time_s.len()
                ),
            ));
        }
        if time_s.len() > MAX_WAVEFORM_POINTS {
            return Err(fail(
                WaveformColumn::Time,
                None,
                time_s.len() as f64,
                format!("{} points: at most {MAX_WAVEFORM_POINTS}", time_s.len()),
            ));
        }
        for (k, (&t, &b)) in time_s.iter().zip(&field_t).enumerate() {
            if !t.is_finite() {
                return Err(fail(
                    WaveformColumn::Time,
                    Some(k),
                    t,
                    "times must be finite numbers, in s".into(),
                ));
            }
            if !b.is_finite() {
                return Err(fail(
                    WaveformColumn::Field,
                    Some(k),
                    b,
                    "fields must be finite numbers, in T".into(),
                ));
            }
            if k > 0 && t <= time_s[k - 1] {
                #[allow(clippy::float_cmp)] // a repeated time, exactly
                let how = if t == time_s[k - 1] {
                    "repeats"
                } else {
                    "comes before"
                };
                return Err(fail(
                    WaveformColumn::Time,
                    Some(k),
                    t,
                    format!(
                        "times must increase strictly: this time {how} the previous one, {} s",
                        crate::units::number(time_s[k - 1])
                    ),
                ));
            }
        }
        let start_s = time_s[0];
        let duration = time_s[time_s.len() - 1] - start_s;
        if !(MIN_DURATION_S..=MAX_DURATION_S).contains(&duration) {
            return Err(fail(
                WaveformColumn::Time,
                Some(time_s.len() - 1),
                time_s[time_s.len() - 1],
                format!(
                    "the waveform lasts {} s from its first point: must be in [{MIN_DURATION_S:e}, {MAX_DURATION_S:e}] s",
                    crate::units::number(duration)
                ),
            ));
        }
        let time_s: Vec<f64> = time_s.iter().map(|t| t - start_s).collect();
        // Relative times that collapse in rounding (a huge offset) would make a piece of
        // zero length.
        if let Some(k) = (1..time_s.len()).find(|&k| time_s[k] <= time_s[k - 1]) {
            return Err(fail(
                WaveformColumn::Time,
                Some(k),
                time_s[k] + start_s,
                format!(
                    "times taken from the first one ({} s) no longer increase in double precision; shift the times closer to 0",
                    crate::units::number(start_s)
                ),
            ));
        }
        let slope_t_per_s = (1..time_s.len())
            .map(|k| (field_t[k] - field_t[k - 1]) / (time_s[k] - time_s[k - 1]))
            .collect();
        Ok(Self {
            time_s,
            field_t,
            slope_t_per_s,
            start_s,
            source: source.into(),
        })
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.time_s.len()
    }

    /// Never empty (at least two points); for the `len` convention.
    pub fn is_empty(&self) -> bool {
        self.time_s.is_empty()
    }

    /// Corner times since the first point, s.
    pub fn time_s(&self) -> &[f64] {
        &self.time_s
    }

    /// Fields at the corners, T.
    pub fn field_t(&self) -> &[f64] {
        &self.field_t
    }

    /// The first time as given, s.
    pub fn start_s(&self) -> f64 {
        self.start_s
    }

    /// Where the points came from: "inline" or a CSV file's path.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Duration from the first to the last point, s.
    pub fn duration_s(&self) -> f64 {
        self.time_s[self.time_s.len() - 1]
    }

    /// The piece k (between corners k and k + 1) that holds `t_s`: corners belong to the
    /// piece starting there ([t_k, t_{k+1})); the first piece before the start, the last at
    /// and after the end.
    pub fn piece_at(&self, t_s: f64) -> usize {
        let k = self.time_s.partition_point(|&c| c <= t_s);
        k.saturating_sub(1).min(self.slope_t_per_s.len() - 1)
    }

    /// The piece ending at or after `t_s` that holds it: corners belong to the piece ending
    /// there ((t_k, t_{k+1}]), as the ramp's rate on its closed interval.
    fn piece_ending_at(&self, t_s: f64) -> usize {
        let k = self.time_s.partition_point(|&c| c < t_s);
        k.saturating_sub(1).min(self.slope_t_per_s.len() - 1)
    }

    /// B (T) and dB/dt (T/s) on piece `k` at `t_s`: B_k + s_k (t - t_k) and s_k.
    pub fn on_piece(&self, k: usize, t_s: f64) -> (f64, f64) {
        let s = self.slope_t_per_s[k];
        (self.field_t[k] + s * (t_s - self.time_s[k]), s)
    }

    /// B(t) in T (B_0 before the start, B_last after the end).
    pub fn field_at(&self, t_s: f64) -> f64 {
        let last = self.time_s.len() - 1;
        if t_s <= 0.0 {
            return self.field_t[0];
        }
        if t_s >= self.time_s[last] {
            return self.field_t[last];
        }
        let k = self.piece_at(t_s);
        #[allow(clippy::float_cmp)] // a corner exactly: its own field
        if t_s == self.time_s[k] {
            return self.field_t[k];
        }
        self.on_piece(k, t_s).0
    }

    /// The first corner strictly after `t_s`, s, if any.
    pub fn next_corner_after(&self, t_s: f64) -> Option<f64> {
        let k = self.time_s.partition_point(|&c| c <= t_s);
        self.time_s.get(k).copied()
    }
}

/// A field protocol.
#[derive(Debug, Clone, PartialEq)]
pub struct Protocol {
    b_initial_t: f64,
    b_final_t: f64,
    duration_s: f64,
    shape: RampShape,
    /// The points of a piecewise-linear waveform (shape `Waveform` only).
    waveform: Option<Arc<Waveform>>,
    /// The segments of a segmented run (hold, ramp, waveform, each with the heat switch open
    /// or closed) over the waveform's pieces; `None`: one ramp, the link (if any) closed.
    segments: Option<Arc<Segments>>,
}

/// What a segment of a segmented protocol does to the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SegmentKind {
    /// B constant for a duration.
    Hold,
    /// A linear ramp to a field.
    Ramp,
    /// A piecewise-linear waveform through points.
    Waveform,
}

impl SegmentKind {
    /// The name in configs and reports: "hold", "ramp" or "waveform".
    pub fn name(self) -> &'static str {
        match self {
            Self::Hold => "hold",
            Self::Ramp => "ramp",
            Self::Waveform => "waveform",
        }
    }
}

/// One segment of a segmented protocol: a run of consecutive pieces of the protocol's
/// waveform, with the heat switch open or closed throughout.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// What it does to the field.
    pub kind: SegmentKind,
    /// Its cycle (0-based).
    pub cycle: usize,
    /// Its index in the cycle's list of segments (0-based).
    pub index_in_cycle: usize,
    /// Whether the heat link joins the sample to the bath during the segment.
    pub link_closed: bool,
    /// Start and end, s since the start of the run.
    pub start_s: f64,
    /// End, s.
    pub end_s: f64,
    /// First piece of the waveform that belongs to the segment.
    pub first_piece: usize,
    /// One past its last piece.
    pub end_piece: usize,
}

/// The segments of a run, in time order, covering every piece of its waveform.
#[derive(Debug, Clone, PartialEq)]
pub struct Segments {
    list: Vec<Segment>,
    /// The segment of each piece.
    of_piece: Vec<usize>,
}

impl Segments {
    /// The segments in time order.
    pub fn list(&self) -> &[Segment] {
        &self.list
    }

    /// The segment holding piece `k` (the last one past the end).
    pub fn of_piece(&self, k: usize) -> usize {
        self.of_piece[k.min(self.of_piece.len() - 1)]
    }

    /// Number of cycles.
    pub fn cycles(&self) -> usize {
        self.list.last().map_or(0, |s| s.cycle + 1)
    }
}

/// Shortest ramp accepted, s (shorter: use the jump, which is the exact limit).
pub const MIN_DURATION_S: f64 = 1e-15;
/// Longest ramp accepted, s.
pub const MAX_DURATION_S: f64 = 1e40;

impl Protocol {
    /// A ramp of `duration_s` (the jump ignores it and uses 0). A linear or cosine ramp of
    /// duration exactly 0 is the jump, its limit (so a batch can sweep the duration down to
    /// the sudden change).
    pub fn with_duration(
        b_initial_t: f64,
        b_final_t: f64,
        duration_s: f64,
        shape: RampShape,
    ) -> Result<Self, ParameterError> {
        require_finite("b_initial_t", b_initial_t)?;
        require_finite("b_final_t", b_final_t)?;
        let duration_s = if shape == RampShape::Jump {
            0.0
        } else {
            duration_s
        };
        let shape = if duration_s == 0.0 && matches!(shape, RampShape::Linear | RampShape::Cosine) {
            RampShape::Jump
        } else {
            shape
        };
        if shape == RampShape::Waveform {
            return Err(ParameterError::new(
                "shape",
                f64::NAN,
                "a waveform is given by its points (Protocol::with_waveform)",
            ));
        }
        if shape != RampShape::Jump && !(MIN_DURATION_S..=MAX_DURATION_S).contains(&duration_s) {
            return Err(ParameterError::new(
                "ramp_duration_s",
                duration_s,
                format!("must be 0 (the jump: an instantaneous change) or in [{MIN_DURATION_S:e}, {MAX_DURATION_S:e}] s"),
            ));
        }
        Ok(Self {
            b_initial_t,
            b_final_t,
            duration_s,
            shape,
            waveform: None,
            segments: None,
        })
    }

    /// The piecewise-linear ramp through `waveform`'s points: B_i is its first field, B_f its
    /// last, t_q its duration.
    pub fn with_waveform(waveform: Waveform) -> Self {
        Self {
            b_initial_t: waveform.field_t[0],
            b_final_t: waveform.field_t[waveform.len() - 1],
            duration_s: waveform.duration_s(),
            shape: RampShape::Waveform,
            waveform: Some(Arc::new(waveform)),
            segments: None,
        }
    }

    /// A segmented run: the waveform through every segment's corners, and for each segment
    /// (kind, cycle, index in the cycle, link closed, number of pieces) in time order. The
    /// pieces must add up to the waveform's.
    pub fn with_segments(
        waveform: Waveform,
        segments: &[(SegmentKind, usize, usize, bool, usize)],
    ) -> Result<Self, ParameterError> {
        let pieces = waveform.len() - 1;
        let total: usize = segments.iter().map(|s| s.4).sum();
        if total != pieces || segments.iter().any(|s| s.4 == 0) {
            return Err(ParameterError::new(
                "segment",
                total as f64,
                format!(
                    "the segments' pieces must be non-empty and add up to the waveform's {pieces}"
                ),
            ));
        }
        let mut list = Vec::with_capacity(segments.len());
        let mut of_piece = Vec::with_capacity(pieces);
        let mut first = 0;
        for (i, &(kind, cycle, index_in_cycle, link_closed, n)) in segments.iter().enumerate() {
            list.push(Segment {
                kind,
                cycle,
                index_in_cycle,
                link_closed,
                start_s: waveform.time_s[first],
                end_s: waveform.time_s[first + n],
                first_piece: first,
                end_piece: first + n,
            });
            of_piece.extend(std::iter::repeat_n(i, n));
            first += n;
        }
        let mut p = Self::with_waveform(waveform);
        p.segments = Some(Arc::new(Segments { list, of_piece }));
        Ok(p)
    }

    /// The segments of a segmented run.
    pub fn segments(&self) -> Option<&Segments> {
        self.segments.as_deref()
    }

    /// Whether the heat switch is closed (the link, if any, joins the sample to the bath) for
    /// a system at `t_s`: in the hold after the ramp (`hold`) as in the last segment, on a
    /// waveform piece known to the integrator (`piece`) as in its segment, else in the
    /// segment starting at or holding `t_s`. Always closed without segments.
    pub fn link_closed(&self, t_s: f64, hold: bool, piece: Option<usize>) -> bool {
        let Some(seg) = &self.segments else {
            return true;
        };
        let last = seg.list.len() - 1;
        let k = if hold || t_s >= self.duration_s {
            last
        } else {
            seg.of_piece(piece.unwrap_or_else(|| self.piece_at(t_s)))
        };
        seg.list[k].link_closed
    }
    /// The waveform's points, if this is one.
    pub fn waveform(&self) -> Option<&Waveform> {
        self.waveform.as_deref()
    }

    /// The first corner of a waveform strictly after `t_s` (s), where the integrator must
    /// stop: dB/dt jumps there. `None` for the other shapes and after the last corner.
    pub fn next_corner_after(&self, t_s: f64) -> Option<f64> {
        self.waveform.as_ref()?.next_corner_after(t_s)
    }

    /// The waveform piece holding `t_s` (corners belong to the piece starting there); 0 for
    /// the other shapes.
    pub fn piece_at(&self, t_s: f64) -> usize {
        self.waveform.as_ref().map_or(0, |w| w.piece_at(t_s))
    }

    /// A ramp at mean sweep rate `rate_t_per_s` > 0: t_q = |B_f - B_i| / rate.
    pub fn with_sweep_rate(
        b_initial_t: f64,
        b_final_t: f64,
        rate_t_per_s: f64,
        shape: RampShape,
    ) -> Result<Self, ParameterError> {
        if !(rate_t_per_s.is_finite() && rate_t_per_s > 0.0) {
            return Err(ParameterError::new(
                "sweep_rate_t_per_s",
                rate_t_per_s,
                "must be a finite number > 0 T/s",
            ));
        }
        require_finite("b_initial_t", b_initial_t)?;
        require_finite("b_final_t", b_final_t)?;
        let dur = (b_final_t - b_initial_t).abs() / rate_t_per_s;
        if shape == RampShape::Jump || dur == 0.0 {
            return Self::with_duration(b_initial_t, b_final_t, 0.0, RampShape::Jump);
        }
        Self::with_duration(b_initial_t, b_final_t, dur, shape).map_err(|e| {
            ParameterError::new(
                "sweep_rate_t_per_s",
                rate_t_per_s,
                format!(
                    "gives a ramp duration outside the allowed range: {}",
                    e.allowed
                ),
            )
        })
    }

    /// The exact sudden change.
    pub fn jump(b_initial_t: f64, b_final_t: f64) -> Result<Self, ParameterError> {
        Self::with_duration(b_initial_t, b_final_t, 0.0, RampShape::Jump)
    }

    /// Initial field, T.
    pub fn b_initial_t(&self) -> f64 {
        self.b_initial_t
    }

    /// Final field, T.
    pub fn b_final_t(&self) -> f64 {
        self.b_final_t
    }

    /// Ramp duration t_q, s (0 for a jump).
    pub fn duration_s(&self) -> f64 {
        self.duration_s
    }

    /// The shape.
    pub fn shape(&self) -> RampShape {
        self.shape
    }

    /// Mean sweep rate |B_f - B_i| / t_q in T/s (infinite for a jump; for a waveform the net
    /// change over its duration).
    pub fn mean_rate_t_per_s(&self) -> f64 {
        (self.b_final_t - self.b_initial_t).abs() / self.duration_s
    }

    /// The times strictly inside the ramp (0 < t < duration, s) at which B(t) = `field_t`,
    /// sorted: on each waveform piece from its line, on a linear or cosine ramp (monotone) by
    /// bisection to the last bit. Empty for a jump.
    pub fn times_at_field(&self, field_t: f64) -> Vec<f64> {
        if self.shape == RampShape::Jump || self.duration_s <= 0.0 {
            return Vec::new();
        }
        if let Some(w) = &self.waveform {
            let mut out = Vec::new();
            for k in 0..w.slope_t_per_s.len() {
                let (b0, b1) = (w.field_t[k], w.field_t[k + 1]);
                let inside = (b0 < field_t && field_t < b1) || (b1 < field_t && field_t < b0);
                if inside {
                    let t = w.time_s[k] + (field_t - b0) / w.slope_t_per_s[k];
                    if t > 0.0 && t < self.duration_s {
                        out.push(t);
                    }
                }
            }
            return out;
        }
        let (bi, bf) = (self.b_initial_t, self.b_final_t);
        if !((bi < field_t && field_t < bf) || (bf < field_t && field_t < bi)) {
            return Vec::new();
        }
        let rising = bf > bi;
        let (mut lo, mut hi) = (0.0_f64, self.duration_s);
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if mid <= lo || mid >= hi {
                break;
            }
            if (self.field_t(mid) < field_t) == rising {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        vec![hi]
    }

    /// B(t) in T.
    pub fn field_t(&self, t_s: f64) -> f64 {
        let db = self.b_final_t - self.b_initial_t;
        if t_s >= self.duration_s {
            return self.b_final_t;
        }
        if t_s <= 0.0 {
            return self.b_initial_t;
        }
        if let Some(w) = &self.waveform {
            return w.field_at(t_s);
        }
        let x = t_s / self.duration_s;
        match self.shape {
            RampShape::Linear => self.b_initial_t + db * x,
            RampShape::Cosine => self.b_initial_t + db * 0.5 * (1.0 - (PI * x).cos()),
            RampShape::Jump | RampShape::Waveform => self.b_final_t,
        }
    }

    /// dB/dt of the ramp formula on the closed interval [0, duration] (t clamped into it), so
    /// that a step ending exactly at the end of the ramp sees the ramp's own rate there (its
    /// one-sided limit) rather than the 0 of the hold after it; 0 for the jump. A waveform's
    /// pieces are closed the same way at their ends: at a corner, the slope of the piece
    /// ending there.
    pub fn ramp_rate_t_per_s(&self, t_s: f64) -> f64 {
        if self.shape == RampShape::Jump || self.duration_s <= 0.0 {
            return 0.0;
        }
        let t = t_s.clamp(0.0, self.duration_s);
        if let Some(w) = &self.waveform {
            return w.slope_t_per_s[w.piece_ending_at(t)];
        }
        let db = self.b_final_t - self.b_initial_t;
        match self.shape {
            RampShape::Linear => db / self.duration_s,
            RampShape::Cosine => db * 0.5 * PI / self.duration_s * (PI * t / self.duration_s).sin(),
            RampShape::Jump | RampShape::Waveform => 0.0,
        }
    }

    /// Field (T) and dB/dt (T/s) at `t_s` as a system integrates them: during the ramp B(t)
    /// and the ramp's rate on the closed interval [0, t_q] ([`Self::ramp_rate_t_per_s`]);
    /// in the hold after it (`hold`) B_f and 0. On a waveform, `piece` (when the integrator
    /// knows which piece its step lies in) gives B_k + s_k (t - t_k) and s_k of that piece,
    /// so that a step starting at a corner sees the new slope and one ending there the old.
    pub fn field_and_rate(&self, t_s: f64, hold: bool, piece: Option<usize>) -> (f64, f64) {
        if hold {
            return (self.b_final_t, 0.0);
        }
        match (&self.waveform, piece) {
            (Some(w), Some(k)) if k < w.slope_t_per_s.len() => {
                // The piece on its closed interval: its slope up to its ends.
                w.on_piece(k, t_s.clamp(w.time_s[k], w.time_s[k + 1]))
            }
            _ => (self.field_t(t_s), self.ramp_rate_t_per_s(t_s)),
        }
    }

    /// dB/dt in T/s (0 outside the ramp; for the jump the change is not a rate).
    pub fn field_rate_t_per_s(&self, t_s: f64) -> f64 {
        if t_s >= self.duration_s || t_s < 0.0 || self.shape == RampShape::Jump {
            return 0.0;
        }
        if let Some(w) = &self.waveform {
            return w.slope_t_per_s[w.piece_at(t_s)];
        }
        let db = self.b_final_t - self.b_initial_t;
        match self.shape {
            RampShape::Linear => db / self.duration_s,
            RampShape::Cosine => {
                db * 0.5 * PI / self.duration_s * (PI * t_s / self.duration_s).sin()
            }
            RampShape::Jump | RampShape::Waveform => 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ramp_rate_is_continuous_up_to_the_end_of_the_ramp() {
        let p = Protocol::with_sweep_rate(0.5, 0.1, 10.0, RampShape::Linear).unwrap();
        // The hold after the ramp has no rate; the ramp's own rate holds on [0, t_q].
        assert!(p.field_rate_t_per_s(0.04).abs() < f64::MIN_POSITIVE);
        assert!((p.ramp_rate_t_per_s(0.04) + 10.0).abs() < 1e-12);
        assert!((p.ramp_rate_t_per_s(0.02) - p.field_rate_t_per_s(0.02)).abs() < 1e-12);
        assert!(
            Protocol::jump(0.5, 0.1)
                .unwrap()
                .ramp_rate_t_per_s(0.0)
                .abs()
                < f64::MIN_POSITIVE
        );
    }

    /// The resonance stops: B(t) at each returned time is the asked field (to a few ulps of
    /// the field scale), every passage is found (a waveform that goes down and up again passes
    /// twice), and fields outside the ramp or at its ends give none.
    #[test]
    fn times_at_field_find_every_passage() {
        for shape in [RampShape::Linear, RampShape::Cosine] {
            let p = Protocol::with_sweep_rate(-1.5, 1.5, 0.004, shape).unwrap();
            for b in [-1.0, 0.0, 0.4385, 1.2] {
                let t = p.times_at_field(b);
                assert_eq!(t.len(), 1, "{shape:?} {b}");
                assert!(
                    (p.field_t(t[0]) - b).abs() <= 4.0 * f64::EPSILON * 1.5,
                    "{shape:?} {b}"
                );
                assert!(t[0] > 0.0 && t[0] < p.duration_s());
            }
            for b in [-1.5, 1.5, 2.0, -3.0] {
                assert!(p.times_at_field(b).is_empty(), "{shape:?} {b}");
            }
        }
        let w = Waveform::new(vec![0.0, 1.0, 3.0], vec![1.0, -1.0, 1.0], "test").unwrap();
        let p = Protocol::with_waveform(w);
        let t = p.times_at_field(0.5);
        assert_eq!(t.len(), 2);
        for x in t {
            assert!((p.field_t(x) - 0.5).abs() <= 4.0 * f64::EPSILON, "{x}");
        }
        assert!(Protocol::jump(0.5, 0.1)
            .unwrap()
            .times_at_field(0.3)
            .is_empty());
    }

    #[test]
    fn waveform_interpolates_and_its_pieces_close_at_their_ends() {
        let w = Waveform::new(vec![1.0, 1.5, 3.0], vec![0.5, 0.0, 0.3], "inline").unwrap();
        let p = Protocol::with_waveform(w);
        assert_eq!(p.shape(), RampShape::Waveform);
        assert!((p.duration_s() - 2.0).abs() < 1e-15);
        assert!((p.b_initial_t() - 0.5).abs() < 1e-15 && (p.b_final_t() - 0.3).abs() < 1e-15);
        // Times are relative to the first point: corners at 0, 0.5, 2 s.
        assert!((p.field_t(0.25) - 0.25).abs() < 1e-15);
        assert!((p.field_t(0.5) - 0.0).abs() < 1e-15);
        assert!((p.field_t(1.25) - 0.15).abs() < 1e-15);
        assert!((p.field_t(7.0) - 0.3).abs() < 1e-15);
        // At the corner the ramp rate is the slope of the piece ending there; the piece
        // given explicitly decides.
        assert!((p.ramp_rate_t_per_s(0.5) + 1.0).abs() < 1e-15);
        assert!((p.field_rate_t_per_s(0.5) - 0.2).abs() < 1e-15);
        assert!((p.field_and_rate(0.5, false, Some(1)).1 - 0.2).abs() < 1e-15);
        assert!((p.field_and_rate(0.5, false, Some(0)).1 + 1.0).abs() < 1e-15);
        assert_eq!(p.next_corner_after(0.0), Some(0.5));
        assert_eq!(p.next_corner_after(0.5), Some(2.0));
        assert_eq!(p.next_corner_after(2.0), None);
        assert_eq!(p.piece_at(0.5), 1);
        // Refused: unsorted, repeated, non-finite, too few, mismatched.
        let bad = |t: Vec<f64>, b: Vec<f64>| Waveform::new(t, b, "inline").unwrap_err();
        assert_eq!(bad(vec![0.0, 2.0, 1.0], vec![0.0; 3]).point, Some(2));
        assert!(bad(vec![0.0, 1.0, 1.0], vec![0.0; 3])
            .rule
            .contains("repeats"));
        assert_eq!(
            bad(vec![0.0, 1.0], vec![0.0, f64::NAN]).column,
            WaveformColumn::Field
        );
        assert!(bad(vec![0.0], vec![0.0]).rule.contains("at least two"));
        assert!(bad(vec![0.0, 1.0], vec![0.0])
            .rule
            .contains("one field per time"));
    }

    #[test]
    fn shapes_start_and_end_at_the_fields_and_rates_integrate_to_the_change() {
        for shape in [RampShape::Linear, RampShape::Cosine] {
            let p = Protocol::with_sweep_rate(0.5, 0.1, 10.0, shape).unwrap();
            assert!((p.duration_s() - 0.04).abs() < 1e-15);
            assert!((p.field_t(0.0) - 0.5).abs() < 1e-15);
            assert!((p.field_t(0.04) - 0.1).abs() < 1e-15);
            // Midpoint-rule integral of dB/dt equals B_f - B_i.
            let n = 20000;
            let h = p.duration_s() / n as f64;
            let integral: f64 = (0..n)
                .map(|i| h * p.field_rate_t_per_s((i as f64 + 0.5) * h))
                .sum();
            assert!((integral + 0.4).abs() < 1e-6, "{shape:?}: {integral}");
        }
        let j = Protocol::jump(0.5, 0.1).unwrap();
        assert!((j.field_t(0.0) - 0.1).abs() < 1e-15);
        assert!(Protocol::with_sweep_rate(0.5, 0.1, -1.0, RampShape::Linear).is_err());
        assert!(Protocol::with_sweep_rate(0.5, 0.1, 0.0, RampShape::Linear).is_err());
        assert!(Protocol::with_duration(0.5, 0.1, f64::NAN, RampShape::Linear).is_err());
        assert!(Protocol::with_sweep_rate(0.5, 0.1, 1e-60, RampShape::Linear).is_err());
    }
}
