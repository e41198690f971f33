//! A thermal link from the sample (lattice + addenda, one temperature) to a bath
//! (docs/physics.md, "Heat link and addenda").
//!
//! Conductance K(T) = K1 (T / 1 K)^n, so the heat flowing out of the sample is
//!   Q(T) = int_{T_b}^{T} K(T') dT' = K1 (T^(n+1) - T_b^(n+1)) / ((n + 1) (1 K)^n).
//! Per molecule in units of k_B (energies in K), K1 is the SI conductance divided by n_mol R:
//! Q then is in K per second per molecule.

use crate::error::ParameterError;

/// Largest conductance exponent n accepted.
pub const MAX_LINK_EXPONENT: f64 = 10.0;

/// A heat link to a bath, per molecule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeatLink {
    /// K1 per molecule, 1/s (the SI K1 in W/K divided by n_mol R).
    k1_per_s: f64,
    /// Exponent n of K(T) = K1 (T / 1 K)^n.
    exponent: f64,
    /// Bath temperature, K.
    bath_k: f64,
}

impl HeatLink {
    /// A link with per-molecule conductance `k1_per_s` > 0 (1/s), exponent 0 <= n <= 10 and a
    /// bath at `bath_k` > 0 K.
    pub fn new(k1_per_s: f64, exponent: f64, bath_k: f64) -> Result<Self, ParameterError> {
        if !(k1_per_s.is_finite() && k1_per_s > 0.0) {
            return Err(ParameterError::new(
                "link_conductance_w_per_k",
                k1_per_s,
                "must be a finite number > 0",
            ));
        }
        if !(exponent.is_finite() && (0.0..=MAX_LINK_EXPONENT).contains(&exponent)) {
            return Err(ParameterError::new(
                "link_exponent",
                exponent,
                format!("must be in [0, {MAX_LINK_EXPONENT}]"),
            ));
        }
        if !(bath_k.is_finite() && bath_k > 0.0) {
            return Err(ParameterError::new(
                "bath_temperature_k",
                bath_k,
                "must be a finite temperature > 0 K",
            ));
        }
        Ok(Self {
            k1_per_s,
            exponent,
            bath_k,
        })
    }

    /// K1 per molecule, 1/s.
    pub fn k1_per_s(&self) -> f64 {
        self.k1_per_s
    }

    /// Exponent n.
    pub fn exponent(&self) -> f64 {
        self.exponent
    }

    /// Bath temperature, K.
    pub fn bath_k(&self) -> f64 {
        self.bath_k
    }

    /// Conductance K(T) per molecule, 1/s.
    pub fn conductance_per_s(&self, t_k: f64) -> f64 {
        self.k1_per_s * t_k.powf(self.exponent)
    }

    /// Heat flowing from the sample at `t_k` to the bath, K/s per molecule.
    pub fn heat_flow_k_per_s(&self, t_k: f64) -> f64 {
        let m = self.exponent + 1.0;
        // (T^m - Tb^m)/m without cancellation when T is near Tb: Tb^m expm1(m ln(T/Tb)) / m.
        let r = (t_k / self.bath_k).ln();
        self.k1_per_s * self.bath_k.powf(m) * (m * r).exp_m1() / m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heat_flow_is_the_integral_of_the_conductance() {
        let link = HeatLink::new(2.5, 3.0, 0.7).unwrap();
        // Simpson's rule on K(T) from Tb to T, against the closed form.
        let (a, b) = (0.7, 2.3);
        let n = 2000;
        let h = (b - a) / n as f64;
        let mut s = link.conductance_per_s(a) + link.conductance_per_s(b);
        for i in 1..n {
            let w = if i % 2 == 1 { 4.0 } else { 2.0 };
            s += w * link.conductance_per_s(a + i as f64 * h);
        }
        let simpson = s * h / 3.0;
        let q = link.heat_flow_k_per_s(b);
        assert!((q - simpson).abs() <= 1e-12 * q, "{q} {simpson}");
        assert!(link.heat_flow_k_per_s(0.7).abs() <= 0.0);
        assert!(link.heat_flow_k_per_s(0.5) < 0.0);
    }

    #[test]
    fn bad_links_name_their_key() {
        for (k, n, tb, name) in [
            (-1.0, 0.0, 1.0, "link_conductance_w_per_k"),
            (f64::NAN, 0.0, 1.0, "link_conductance_w_per_k"),
            (1.0, -0.5, 1.0, "link_exponent"),
            (1.0, 11.0, 1.0, "link_exponent"),
            (1.0, 0.0, 0.0, "bath_temperature_k"),
        ] {
            assert_eq!(HeatLink::new(k, n, tb).unwrap_err().name, name);
        }
    }
}
