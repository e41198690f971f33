//! Debye phonons at low temperature (paper Eq. 8 and 14).
//!
//! Per oscillating unit, in units of k_B: C = (12 pi^4/5)(T/theta_D)^3,
//! U = (3 pi^4/5) T^4/theta_D^3, S = (4 pi^4/5)(T/theta_D)^3.
//!
//! Addenda (platform, thermometer, grease) in equilibrium with the lattice add
//! C_add = gamma T + beta T^3 per molecule (k_B units; [`Debye::with_addenda`]), so that the
//! lattice temperature is the one a thermometer reads: U_add = gamma T^2/2 + beta T^4/4,
//! S_add = gamma T + beta T^3/3.

use crate::error::{require_positive, ParameterError};
use std::f64::consts::PI;

/// Debye lattice with `units` oscillating units per molecule (the paper takes one).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Debye {
    theta_k: f64,
    units: f64,
    /// U = a T^4 per molecule (K), computed once: units 3 pi^4 / (5 theta_D^3).
    a: f64,
    /// Addenda heat capacity gamma T + beta T^3 per molecule: (gamma in 1/K, beta in 1/K^3).
    addenda: Option<(f64, f64)>,
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
        Ok(Self {
            theta_k,
            units,
            a: units * 3.0 * PI.powi(4) / (5.0 * theta_k.powi(3)),
            addenda: None,
        })
    }

    /// The same lattice with addenda of heat capacity `gamma T + beta T^3` per molecule in
    /// units of k_B (`gamma` in 1/K, `beta` in 1/K^3, both finite and >= 0). Both zero is
    /// no addenda (every result bit for bit as without).
    pub fn with_addenda(mut self, gamma: f64, beta: f64) -> Result<Self, ParameterError> {
        for (name, v) in [("addenda_gamma", gamma), ("addenda_beta", beta)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(ParameterError::new(name, v, "must be finite and >= 0"));
            }
        }
        self.addenda = (gamma > 0.0 || beta > 0.0).then_some((gamma, beta));
        Ok(self)
    }

    /// The addenda's (gamma in 1/K, beta in 1/K^3) per molecule, if any.
    pub fn addenda(&self) -> Option<(f64, f64)> {
        self.addenda
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
        self.a
    }

    /// Heat capacity per molecule (lattice and addenda), units of k_B.
    pub fn heat_capacity(&self, t_k: f64) -> f64 {
        let c = 4.0 * self.a() * t_k.powi(3);
        match self.addenda {
            None => c,
            Some((g, b)) => c + g * t_k + b * t_k.powi(3),
        }
    }

    /// Temperature derivative of [`Self::heat_capacity`], k_B per K.
    pub fn heat_capacity_slope(&self, t_k: f64) -> f64 {
        let dc = 12.0 * self.a() * t_k * t_k;
        match self.addenda {
            None => dc,
            Some((g, b)) => dc + g + 3.0 * b * t_k * t_k,
        }
    }

    /// Second temperature derivative of [`Self::heat_capacity`], k_B per K^2.
    pub fn heat_capacity_curvature(&self, t_k: f64) -> f64 {
        let d2c = 24.0 * self.a() * t_k;
        match self.addenda {
            None => d2c,
            Some((_, b)) => d2c + 6.0 * b * t_k,
        }
    }

    /// Energy per molecule (lattice and addenda) relative to T = 0, K.
    pub fn energy_k(&self, t_k: f64) -> f64 {
        let u = self.a() * t_k.powi(4);
        match self.addenda {
            None => u,
            Some((g, b)) => u + 0.5 * g * t_k * t_k + 0.25 * b * t_k.powi(4),
        }
    }

    /// Entropy per molecule (lattice and addenda), units of k_B.
    pub fn entropy(&self, t_k: f64) -> f64 {
        let s = 4.0 / 3.0 * self.a() * t_k.powi(3);
        match self.addenda {
            None => s,
            Some((g, b)) => s + g * t_k + b * t_k.powi(3) / 3.0,
        }
    }

    /// Temperature at which the energy equals `energy_k` (inverse of [`Self::energy_k`]). With
    /// addenda U = A x^2 + (gamma/2) x in x = T^2 (A = a + beta/4), whose positive root
    /// x = 2U / (gamma/2 + sqrt(gamma^2/4 + 4 A U)) is free of cancellation.
    pub fn temperature_for_energy_k(&self, energy_k: f64) -> f64 {
        let u = energy_k.max(0.0);
        match self.addenda {
            None => (u / self.a()).sqrt().sqrt(),
            Some(_) if u <= 0.0 => 0.0,
            Some((g, b)) => {
                let (a, h) = (self.a() + 0.25 * b, 0.5 * g);
                let x = 2.0 * u / (h + (h * h + 4.0 * a * u).sqrt());
                x.sqrt()
            }
        }
    }
}
