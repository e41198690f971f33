//! Equilibrium thermodynamics of a set of levels (paper Eq. 3, 5, 6, 13).
//!
//! Everything is computed with the lowest level subtracted, so nothing overflows from 0.05 K to
//! 300 K (or far beyond), and the entropy is ln Z' + <E'>/T, never a log of zero.

/// Equilibrium of a set of levels at one temperature.
#[derive(Debug, Clone, PartialEq)]
pub struct Equilibrium {
    /// Boltzmann populations n_i (Eq. 3), summing to one.
    pub populations: Vec<f64>,
    /// Mean energy sum E_i n_i, K.
    pub energy_k: f64,
    /// Entropy -sum n ln n, units of k_B (Eq. 13).
    pub entropy: f64,
    /// Heat capacity (<E^2> - <E>^2)/T^2, units of k_B.
    pub heat_capacity: f64,
}

/// Boltzmann populations of `energies_k` at `t_k` into `out`; returns (E_min, Z') with
/// Z' = sum exp(-(E_i - E_min)/T).
pub fn boltzmann_into(energies_k: &[f64], t_k: f64, out: &mut [f64]) -> (f64, f64) {
    let e_min = energies_k.iter().copied().fold(f64::INFINITY, f64::min);
    let mut z = 0.0;
    for (n, &e) in out.iter_mut().zip(energies_k) {
        let x = (e - e_min) / t_k;
        *n = (-x).exp();
        z += *n;
    }
    for n in out.iter_mut() {
        *n /= z;
    }
    (e_min, z)
}

/// Boltzmann populations of `energies_k` at `t_k`.
pub fn boltzmann(energies_k: &[f64], t_k: f64) -> Vec<f64> {
    let mut out = vec![0.0; energies_k.len()];
    boltzmann_into(energies_k, t_k, &mut out);
    out
}

/// Full equilibrium of `energies_k` at temperature `t_k` > 0.
pub fn equilibrium(energies_k: &[f64], t_k: f64) -> Equilibrium {
    let mut populations = vec![0.0; energies_k.len()];
    let (e_min, z) = boltzmann_into(energies_k, t_k, &mut populations);
    let excess: f64 = populations
        .iter()
        .zip(energies_k)
        .map(|(n, e)| n * (e - e_min))
        .sum();
    let variance: f64 = populations
        .iter()
        .zip(energies_k)
        .map(|(n, e)| n * (e - e_min - excess).powi(2))
        .sum();
    Equilibrium {
        populations,
        energy_k: e_min + excess,
        entropy: z.ln() + excess / t_k,
        heat_capacity: variance / (t_k * t_k),
    }
}

/// Entropy -sum n ln n of arbitrary populations (zeros contribute nothing), units of k_B.
pub fn entropy_of(populations: &[f64]) -> f64 {
    populations
        .iter()
        .filter(|&&n| n > 0.0)
        .map(|&n| -n * n.ln())
        .sum()
}

/// Number of levels exactly at the minimum energy: the ground degeneracy, whose logarithm is
/// the residual entropy as T -> 0.
#[allow(clippy::float_cmp)] // exact degeneracy (e.g. M = +-S at B = 0), not closeness
pub fn ground_degeneracy(energies_k: &[f64]) -> usize {
    let e_min = energies_k.iter().copied().fold(f64::INFINITY, f64::min);
    energies_k.iter().filter(|&&e| e == e_min).count()
}
