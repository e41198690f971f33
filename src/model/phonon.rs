//! Debye phonons at low temperature (paper Eq. 8 and 14).
//!
//! Per oscillating unit, in units of k_B: C = (12 pi^4/5)(T/theta_D)^3,
//! U = (3 pi^4/5) T^4/theta_D^3, S = (4 pi^4/5)(T/theta_D)^3.

use crate::error::{require_positive, ParameterError};
use std::f64::consts::PI;

/// Debye lattice with `units` oscillating units per molecule (the paper takes one).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Debye {
    theta_k: f64,
    units: f64,
}

impl Debye {
    /// A Debye lattice; `theta_k` > 0 K and `units` > 0 per molecule.
    pub fn new(theta_k: f64, units: f64) -> Result<Self, ParameterError> {
        require_positive("debye_temperature_k", theta_k)?;
        require_positive("phonon_units", units)?;
        // Debye temperatures of solids lie between a few K and ~2000 K (diamond); outside
        // these ranges the lattice's heat capacity under- or overflows the energy balances.
        if !(1.0..=1e4).contains(&theta_k) {
            return Err(ParameterError::new(
                "debye_temperature_k",
                theta_k,
                "must be in [1, 1e4] K",
            ));
        }
        if !(1e-3..=1e3).contains(&units) {
            return Err(ParameterError::new(
                "phonon_units",
                units,
                "must be in [1e-3, 1e3]",
            ));
        }
        Ok(Self { theta_k, units })
    }

    /// Debye temperature, K.
    pub fn theta_k(&self) -> f64 {
        self.theta_k
    }

    /// Oscillating units per molecule.
    pub fn units(&self) -> f64 {
        self.units
    }

    fn a(&self) -> f64 {
        // U = a T^4 per molecule (K), so C = 4 a T^3 and S = (4/3) a T^3.
        self.units * 3.0 * PI.powi(4) / (5.0 * self.theta_k.powi(3))
    }

    /// Heat capacity per molecule, units of k_B.
    pub fn heat_capacity(&self, t_k: f64) -> f64 {
        4.0 * self.a() * t_k.powi(3)
    }

    /// Energy per molecule relative to T = 0, K.
    pub fn energy_k(&self, t_k: f64) -> f64 {
        self.a() * t_k.powi(4)
    }

    /// Entropy per molecule, units of k_B.
    pub fn entropy(&self, t_k: f64) -> f64 {
        4.0 / 3.0 * self.a() * t_k.powi(3)
    }

    /// Temperature at which the phonon energy equals `energy_k` (inverse of [`Self::energy_k`]).
    pub fn temperature_for_energy_k(&self, energy_k: f64) -> f64 {
        (energy_k.max(0.0) / self.a()).sqrt().sqrt()
    }
}
