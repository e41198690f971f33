//! Errors of the library, one enum per boundary, each carrying the values that explain it.

use thiserror::Error;

/// A model parameter or a physical input outside what the model allows.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("{name} = {value} is not allowed: {allowed}")]
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
    #[error("{what}: no sign change found between {low_k} K and {high_k} K")]
    NoBracket {
        /// Which equation.
        what: &'static str,
        /// Lowest temperature tried, K.
        low_k: f64,
        /// Highest temperature tried, K.
        high_k: f64,
    },
    /// The rate model cannot represent the slow relaxation at this temperature (rates underflow).
    #[error("temperature_k = {temperature_k} is outside the rate model: the slowest relaxation rate underflows (lambda1 = {lambda1_per_s:e}); for Mn12-like barriers use T >= 0.3 K")]
    RateUnderflow {
        /// Temperature, K.
        temperature_k: f64,
        /// The computed slowest rate.
        lambda1_per_s: f64,
    },
    /// The two-well fixed-point iteration for lambda1 did not converge (no spectral gap).
    #[error("slowest-rate iteration did not converge at B = {field_t} T, T = {temperature_k} K: the slow mode is not separated from the intra-well modes")]
    NoSpectralGap {
        /// Field, T.
        field_t: f64,
        /// Temperature, K.
        temperature_k: f64,
    },
}
