//! Field protocols B(t): a ramp from B_i at t = 0 to B_f at t = t_q, then constant.

use crate::error::{require_finite, ParameterError};
use std::f64::consts::PI;

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
}

impl std::str::FromStr for RampShape {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "linear" => Ok(Self::Linear),
            "cosine" => Ok(Self::Cosine),
            "jump" => Ok(Self::Jump),
            _ => Err(format!(
                "unknown ramp shape '{s}': use linear, cosine or jump"
            )),
        }
    }
}

/// A field protocol.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Protocol {
    b_initial_t: f64,
    b_final_t: f64,
    duration_s: f64,
    shape: RampShape,
}

/// Shortest ramp accepted, s (shorter: use the jump, which is the exact limit).
pub const MIN_DURATION_S: f64 = 1e-15;
/// Longest ramp accepted, s.
pub const MAX_DURATION_S: f64 = 1e40;

impl Protocol {
    /// A ramp of `duration_s` (the jump ignores it and uses 0).
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
        if shape != RampShape::Jump && !(MIN_DURATION_S..=MAX_DURATION_S).contains(&duration_s) {
            return Err(ParameterError::new(
                "ramp_duration_s",
                duration_s,
                format!("must be in [{MIN_DURATION_S:e}, {MAX_DURATION_S:e}] s (use a jump for an instantaneous change)"),
            ));
        }
        Ok(Self {
            b_initial_t,
            b_final_t,
            duration_s,
            shape,
        })
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

    /// Mean sweep rate |B_f - B_i| / t_q in T/s (infinite for a jump).
    pub fn mean_rate_t_per_s(&self) -> f64 {
        (self.b_final_t - self.b_initial_t).abs() / self.duration_s
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
        let x = t_s / self.duration_s;
        match self.shape {
            RampShape::Linear => self.b_initial_t + db * x,
            RampShape::Cosine => self.b_initial_t + db * 0.5 * (1.0 - (PI * x).cos()),
            RampShape::Jump => self.b_final_t,
        }
    }

    /// dB/dt of the ramp formula on the closed interval [0, duration] (t clamped into it), so
    /// that a step ending exactly at the end of the ramp sees the ramp's own rate there (its
    /// one-sided limit) rather than the 0 of the hold after it; 0 for the jump.
    pub fn ramp_rate_t_per_s(&self, t_s: f64) -> f64 {
        if self.shape == RampShape::Jump || self.duration_s <= 0.0 {
            return 0.0;
        }
        let t = t_s.clamp(0.0, self.duration_s);
        let db = self.b_final_t - self.b_initial_t;
        match self.shape {
            RampShape::Linear => db / self.duration_s,
            RampShape::Cosine => db * 0.5 * PI / self.duration_s * (PI * t / self.duration_s).sin(),
            RampShape::Jump => 0.0,
        }
    }

    /// Field (T) and dB/dt (T/s) at `t_s` as a system integrates them: during the ramp B(t)
    /// and the ramp's rate on the closed interval [0, t_q] ([`Self::ramp_rate_t_per_s`]);
    /// in the hold after it (`hold`) B_f and 0.
    pub fn field_and_rate(&self, t_s: f64, hold: bool) -> (f64, f64) {
        if hold {
            (self.b_final_t, 0.0)
        } else {
            (self.field_t(t_s), self.ramp_rate_t_per_s(t_s))
        }
    }

    /// dB/dt in T/s (0 outside the ramp; for the jump the change is not a rate).
    pub fn field_rate_t_per_s(&self, t_s: f64) -> f64 {
        if t_s >= self.duration_s || t_s < 0.0 || self.shape == RampShape::Jump {
            return 0.0;
        }
        let db = self.b_final_t - self.b_initial_t;
        match self.shape {
            RampShape::Linear => db / self.duration_s,
            RampShape::Cosine => {
                db * 0.5 * PI / self.duration_s * (PI * t_s / self.duration_s).sin()
            }
            RampShape::Jump => 0.0,
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
