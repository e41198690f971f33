//! Errors of the library, one enum per boundary, each carrying the values that explain it.

use thiserror::Error;

/// A model parameter or a physical input outside what the model allows.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("{name} = {} is not allowed: {allowed}", crate::units::number(*value))]
pub struct ParameterError {
    /// The parameter's name, with its unit (as the user spells it where possible).
    pub name: String,
    /// The offending value.
    pub value: f64,
    /// What is allowed.
    pub allowed: String,
}

impl ParameterError {
    /// Build an error for parameter `name` with value `value` and the allowed range in words.
    pub fn new(name: impl Into<String>, value: f64, allowed: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value,
            allowed: allowed.into(),
        }
    }
}

/// Check that `value` is finite and strictly positive.
pub fn require_positive(name: &str, value: f64) -> Result<f64, ParameterError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(ParameterError::new(
            name,
            value,
            "must be a finite number > 0",
        ))
    }
}

/// Check that `value` is finite.
pub fn require_finite(name: &str, value: f64) -> Result<f64, ParameterError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(ParameterError::new(name, value, "must be a finite number"))
    }
}

/// Failures of the numerical kernels (root finding, slowest-rate computation).
#[derive(Debug, Clone, PartialEq, Error)]
pub enum NumericsError {
    /// An input was invalid.
    #[error(transparent)]
    Parameter(#[from] ParameterError),
    /// A monotone equation could not be bracketed inside the representable range.
    #[error("{what}: no sign change found between {} K and {} K", crate::units::number(*low_k), crate::units::number(*high_k))]
    NoBracket {
        /// Which equation.
        what: &'static str,
        /// Lowest temperature tried, K.
        low_k: f64,
        /// Highest temperature tried, K.
        high_k: f64,
    },
    /// The rate model cannot represent the slow relaxation at this temperature (rates underflow).
    #[error("temperature_k = {} is outside the rate model: the slowest relaxation rate underflows (lambda1 = {lambda1_per_s:e}); for Mn12-like barriers use T >= 0.3 K", crate::units::number(*temperature_k))]
    RateUnderflow {
        /// Temperature, K.
        temperature_k: f64,
        /// The computed slowest rate.
        lambda1_per_s: f64,
    },
    /// The tunnel-splitting iteration of a resonance pair did not converge.
    #[error("tunnel splitting of m = {m}, m' = {m_prime} near Bz = {field_t} T did not converge: the pair is not separated from the other levels")]
    NoSplitting {
        /// m.
        m: f64,
        /// m'.
        m_prime: f64,
        /// Field, T.
        field_t: f64,
    },
    /// `rates.kappa_calibration = "with_tunnelling"`: no kappa makes the slowest zero-field rate
    /// with the tunnelling channels equal to the Arrhenius rate at this temperature.
    #[error("rates.kappa_calibration = \"with_tunnelling\" has no solution at T = {} K: lowering kappa from its calibration without tunnelling, the zero-field relaxation time with tunnelling reaches at most {longest_s:.4e} s (at kappa = {kappa_per_s_k3:.4e} 1/(s K^3)), short of tau0 exp(U_b/T) = {tau_s:.4e} s: no kappa makes them equal (docs/physics.md section 10.6); use \"without_tunnelling\" or a smaller transverse term", crate::units::number(*temperature_k))]
    NoKappaCalibration {
        /// Temperature, K.
        temperature_k: f64,
        /// The Arrhenius time, s.
        tau_s: f64,
        /// The longest zero-field time with tunnelling over the kappa searched, s.
        longest_s: f64,
        /// The kappa that gave it, 1/(s K^3).
        kappa_per_s_k3: f64,
    },
    /// The two-well fixed-point iteration for lambda1 did not converge (no spectral gap).
    #[error("slowest-rate iteration did not converge at B = {} T, T = {} K: the slow mode is not separated from the intra-well modes", crate::units::number(*field_t), crate::units::number(*temperature_k))]
    NoSpectralGap {
        /// Field, T.
        field_t: f64,
        /// Temperature, K.
        temperature_k: f64,
    },
    /// Neither the subtraction-free slow mode (no spectral gap) nor the dense fallback (error
    /// bound too large, or rates without detailed balance) gives lambda1 at (B, T).
    #[error("slowest relaxation rate at B = {} T, T = {} K not resolved: the slow mode is not separated from the intra-well modes, which the subtraction-free method needs (it works where lambda2/lambda1 is large: lower temperatures), {} (docs/numerics.md section 3.3)", crate::units::number(*field_t), crate::units::number(*temperature_k), dense_refusal(*dense_relative_error))]
    SlowestRateUnresolved {
        /// Field, T.
        field_t: f64,
        /// Temperature, K.
        temperature_k: f64,
        /// The dense eigenvalue's error bound relative to lambda1; NaN when the rates do not
        /// obey detailed balance (no dense fallback).
        dense_relative_error: f64,
    },
}

/// Why the dense fallback of [`NumericsError::SlowestRateUnresolved`] was refused.
fn dense_refusal(rel: f64) -> String {
    if rel.is_nan() {
        "and the dense fallback does not apply (it needs rates in detailed balance and a positive lambda1)".to_owned()
    } else {
        format!(
            "and a dense eigenvalue solve in double precision bounds its error only to {rel:.1e} of lambda1 (at most {:.0e} accepted; it works where the largest rates are within ~1e7 of lambda1: higher temperatures, from 6-20 K up for the Mn12Ac presets)",
            crate::rates::slowmode::DENSE_RELATIVE_ACCURACY
        )
    }
}

/// What kind of failure an error is: the one thing a front end needs to decide how to react
/// (the command line maps it to its exit code in one place).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input cannot be used (a value out of range, a bad file, an existing output): the
    /// user can fix it.
    InvalidInput,
    /// A computation or the file system failed on valid input.
    Failed,
    /// The reader of our output went away (a closed pipe): not a failure.
    OutputClosed,
}

impl ParameterError {
    /// Always [`ErrorKind::InvalidInput`].
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidInput
    }
}

impl NumericsError {
    /// An invalid parameter and a temperature outside the rate model are the user's to fix.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Parameter(_) | Self::RateUnderflow { .. } | Self::NoKappaCalibration { .. } => {
                ErrorKind::InvalidInput
            }
            Self::NoBracket { .. }
            | Self::NoSpectralGap { .. }
            | Self::SlowestRateUnresolved { .. }
            | Self::NoSplitting { .. } => ErrorKind::Failed,
        }
    }

    /// The parameter error inside, if that is what this is.
    pub fn parameter(&self) -> Option<&ParameterError> {
        match self {
            Self::Parameter(p) => Some(p),
            _ => None,
        }
    }
}

impl crate::kinetics::EngineError {
    /// Invalid input found before integration, or the kind of the numerical failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Parameter(_) => ErrorKind::InvalidInput,
            Self::Numerics(e) => e.kind(),
            _ => ErrorKind::Failed,
        }
    }

    /// The parameter error inside, if that is what this is.
    pub fn parameter(&self) -> Option<&ParameterError> {
        match self {
            Self::Parameter(p) => Some(p),
            Self::Numerics(e) => e.parameter(),
            _ => None,
        }
    }
}

/// Every failure the library reports, one variant per boundary, each with its [`ErrorKind`].
#[derive(Debug, Error)]
pub enum Error {
    /// A model parameter out of range.
    #[error(transparent)]
    Parameter(#[from] ParameterError),
    /// A numerical kernel.
    #[error(transparent)]
    Numerics(#[from] NumericsError),
    /// A scenario value (flag or key) that is not allowed.
    #[error(transparent)]
    Scenario(#[from] crate::scenario::ScenarioError),
    /// A batch config.
    #[error(transparent)]
    Config(#[from] crate::batch::config::ConfigError),
    /// The engine.
    #[error(transparent)]
    Engine(#[from] crate::kinetics::EngineError),
    /// A batch run.
    #[error(transparent)]
    Batch(#[from] crate::batch::runner::BatchError),
    /// A batch file.
    #[error(transparent)]
    Io(#[from] crate::io::IoError),
    /// Figures.
    #[error(transparent)]
    Figure(#[from] crate::figures::FigureError),
    /// A request that makes no sense as a whole (a front end's own check).
    #[error("{0}")]
    Usage(String),
    /// Writing the output (standard output, a report).
    #[error("writing the output: {0}")]
    Output(#[from] std::io::Error),
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Self::Output(e.into())
    }
}

impl Error {
    /// The kind of failure, decided here for every boundary.
    pub fn kind(&self) -> ErrorKind {
        use crate::batch::runner::BatchError;
        use crate::figures::plot::PlotError;
        use crate::figures::FigureError;
        match self {
            Self::Parameter(_) | Self::Scenario(_) | Self::Config(_) | Self::Io(_) => {
                ErrorKind::InvalidInput
            }
            Self::Usage(_) => ErrorKind::InvalidInput,
            Self::Numerics(e) => e.kind(),
            Self::Engine(e) => e.kind(),
            Self::Batch(BatchError::Config(_) | BatchError::Usage(_) | BatchError::Io(_)) => {
                ErrorKind::InvalidInput
            }
            Self::Batch(BatchError::Fs { .. } | BatchError::Interrupted { .. }) => {
                ErrorKind::Failed
            }
            Self::Figure(FigureError::Io(_) | FigureError::Plot(PlotError::Font(_))) => {
                ErrorKind::InvalidInput
            }
            Self::Figure(_) => ErrorKind::Failed,
            Self::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                ErrorKind::OutputClosed
            }
            Self::Output(_) => ErrorKind::Failed,
        }
    }

    /// The model parameter this error is about, if any (front ends spell its name their way).
    pub fn parameter(&self) -> Option<&ParameterError> {
        match self {
            Self::Parameter(p) => Some(p),
            Self::Numerics(e) => e.parameter(),
            Self::Engine(e) => e.parameter(),
            _ => None,
        }
    }
}
