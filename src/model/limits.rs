//! The paper's two analytic limits of a field change at fixed total isolation.
//!
//! * Sudden quench (Eq. 4-9): the populations stay frozen at n(B_i, T_i) while the field jumps to
//!   B_f, then spins and phonons relax at fixed B_f with their total energy conserved:
//!   sum_M E_M(B_f) [n_M(B_f, T_f) - n_M(B_i, T_i)] + U_ph(T_f) - U_ph(T_i) = 0.
//! * Quasi-static, isentropic (Eq. 11-14): S_m(B_f, T_f) + S_ph(T_f) = S_m(B_i, T_i) + S_ph(T_i).
//!   When the entropy to reach is at or below the residual entropy ln g0 of a g0-fold degenerate
//!   ground level at B_f (ln 2 at B_f = 0), no finite T_f exists: that is a typed outcome.
//!
//! Both left-hand sides increase strictly with T_f, so each has one root, found by bracketing.

use super::Material;
use crate::error::{require_finite, require_positive, NumericsError};
use crate::model::thermo::{boltzmann, equilibrium, ground_degeneracy};
use crate::model::{Debye, GiantSpin};
use crate::numerics::roots::{increasing_root, scan_minimum};

/// Absolute tolerance of the limit temperatures, K.
pub const ROOT_TOL_K: f64 = 1e-12;

/// A field-change problem: spin, lattice, fields and initial temperature.
#[derive(Debug, Clone, Copy)]
pub struct FieldChange<'a> {
    /// The spin.
    pub spin: &'a GiantSpin,
    /// The lattice.
    pub debye: &'a Debye,
    /// Initial field, T.
    pub b_initial_t: f64,
    /// Final field, T.
    pub b_final_t: f64,
    /// Initial temperature, K.
    pub t_initial_k: f64,
}

impl<'a> FieldChange<'a> {
    /// The field change Bi -> Bf from Ti of `material`'s spin and lattice.
    pub fn of(material: &'a Material, b_initial_t: f64, b_final_t: f64, t_initial_k: f64) -> Self {
        Self {
            spin: &material.spin,
            debye: &material.debye,
            b_initial_t,
            b_final_t,
            t_initial_k,
        }
    }
}

/// Outcome of the isentropic limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Isentropic {
    /// A finite final temperature exists.
    Final {
        /// T_f, K.
        t_final_k: f64,
    },
    /// The entropy to reach is at or below the residual entropy at B_f: no T_f > 0 exists
    /// (the quasi-static process would have to end at T = 0 with entropy left over).
    NoFiniteSolution {
        /// Total entropy to reach, k_B per molecule.
        target_entropy: f64,
        /// ln(ground degeneracy) at B_f, k_B per molecule.
        residual_entropy: f64,
        /// Degeneracy of the ground level at B_f.
        ground_degeneracy: usize,
    },
}

impl Isentropic {
    /// The final temperature, if one exists.
    pub fn t_final_k(&self) -> Option<f64> {
        match *self {
            Isentropic::Final { t_final_k } => Some(t_final_k),
            Isentropic::NoFiniteSolution { .. } => None,
        }
    }

    /// A sentence explaining why there is no final temperature (`None` if there is one).
    pub fn note(&self, b_final_t: f64) -> Option<String> {
        match *self {
            Isentropic::Final { .. } => None,
            Isentropic::NoFiniteSolution {
                target_entropy,
                residual_entropy,
                ground_degeneracy,
            } => Some(format!(
                "no finite isentropic final temperature: the total entropy to keep, {target_entropy:.6} k_B, is not above the residual entropy ln {ground_degeneracy} = {residual_entropy:.6} k_B of the degenerate ground level at Bf = {b_final_t} T"
            )),
        }
    }
}

impl FieldChange<'_> {
    fn validate(&self) -> Result<(), NumericsError> {
        require_finite("b_initial_t", self.b_initial_t)?;
        require_finite("b_final_t", self.b_final_t)?;
        require_positive("t_initial_k", self.t_initial_k)?;
        Ok(())
    }

    /// Final temperature of the sudden quench (Eq. 9), K.
    pub fn sudden_final_k(&self) -> Result<f64, NumericsError> {
        self.validate()?;
        let ef = self.spin.energies(self.b_final_t);
        let frozen = boltzmann(&self.spin.energies(self.b_initial_t), self.t_initial_k);
        let e_min = ef.iter().copied().fold(f64::INFINITY, f64::min);
        let u_ph_i = self.debye.energy_k(self.t_initial_k);
        // Energies relative to the final ground level keep every term small at low T.
        let u_frozen: f64 = frozen.iter().zip(&ef).map(|(n, e)| n * (e - e_min)).sum();
        let mut n = vec![0.0; ef.len()];
        increasing_root(
            "sudden-quench heat balance (Eq. 9)",
            self.t_initial_k,
            ROOT_TOL_K,
            |t| {
                crate::model::thermo::boltzmann_into(&ef, t, &mut n);
                let u: f64 = n.iter().zip(&ef).map(|(n, e)| n * (e - e_min)).sum();
                (u - u_frozen) + (self.debye.energy_k(t) - u_ph_i)
            },
        )
    }

    /// Total entropy (spin + phonon) at the start, k_B per molecule.
    pub fn initial_entropy(&self) -> f64 {
        equilibrium(&self.spin.energies(self.b_initial_t), self.t_initial_k).entropy
            + self.debye.entropy(self.t_initial_k)
    }

    /// Final temperature of the quasi-static isentropic process (Eq. 11), or the reason there is
    /// none.
    pub fn isentropic_final(&self) -> Result<Isentropic, NumericsError> {
        self.validate()?;
        let ef = self.spin.energies(self.b_final_t);
        let target = self.initial_entropy();
        let g0 = ground_degeneracy(&ef);
        let residual = (g0 as f64).ln();
        if target <= residual {
            return Ok(Isentropic::NoFiniteSolution {
                target_entropy: target,
                residual_entropy: residual,
                ground_degeneracy: g0,
            });
        }
        let t = increasing_root(
            "isentropic condition (Eq. 11)",
            self.t_initial_k,
            ROOT_TOL_K,
            |t| equilibrium(&ef, t).entropy + self.debye.entropy(t) - target,
        )?;
        Ok(Isentropic::Final { t_final_k: t })
    }
}

/// The equilibrium temperature at which spins with levels `energies_k` and the lattice hold the
/// same total energy as spin populations `populations` on those levels plus a phonon energy
/// `phonon_energy_k`: the root of sum_M E_M [n_M(T) - populations_M] + U_ph(T) - phonon_energy
/// (Eq. 9 when `populations` are the frozen initial ones). Energies are taken relative to the
/// lowest level so every term stays small at low T. `guess_k` starts the bracket.
pub fn equilibrium_temperature_for_energy(
    energies_k: &[f64],
    debye: &Debye,
    populations: &[f64],
    phonon_energy_k: f64,
    guess_k: f64,
) -> Result<f64, NumericsError> {
    let e_min = energies_k.iter().copied().fold(f64::INFINITY, f64::min);
    let u_target: f64 = populations
        .iter()
        .zip(energies_k)
        .map(|(n, e)| n * (e - e_min))
        .sum();
    let mut n = vec![0.0; energies_k.len()];
    increasing_root(
        "equilibrium energy balance (Eq. 9)",
        guess_k,
        ROOT_TOL_K,
        |t| {
            crate::model::thermo::boltzmann_into(energies_k, t, &mut n);
            let u: f64 = n.iter().zip(energies_k).map(|(n, e)| n * (e - e_min)).sum();
            (u - u_target) + (debye.energy_k(t) - phonon_energy_k)
        },
    )
}

/// Which limit to minimise over the initial temperature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Eq. 9.
    Sudden,
    /// Eq. 11.
    Isentropic,
}

/// The most negative Delta T = T_f - T_i over initial temperatures in [lo, hi] K (the paper's
/// (Delta T)min and (T_i)min, Fig. 5). Returns (T_i at the minimum, Delta T min), or `None` if the
/// limit has no solution anywhere in the range or there is no field change (B_f = B_i gives
/// Delta T = 0 at every T_i: no minimum, and a scan would report round-off at an edge).
pub fn minimum_delta_t(
    spin: &GiantSpin,
    debye: &Debye,
    b_initial_t: f64,
    b_final_t: f64,
    limit: Limit,
    range_k: (f64, f64),
) -> Result<Option<(f64, f64)>, NumericsError> {
    require_positive("minimum search lower temperature (K)", range_k.0)?;
    require_positive("minimum search upper temperature (K)", range_k.1)?;
    #[allow(clippy::float_cmp)] // exactly no field change
    if b_final_t == b_initial_t {
        return Ok(None);
    }
    let mut failure = None;
    let found = scan_minimum(range_k.0, range_k.1, 241, |ti| {
        let fc = FieldChange {
            spin,
            debye,
            b_initial_t,
            b_final_t,
            t_initial_k: ti,
        };
        let tf = match limit {
            Limit::Sudden => fc.sudden_final_k().map(Some),
            Limit::Isentropic => fc.isentropic_final().map(|o| o.t_final_k()),
        };
        match tf {
            Ok(Some(tf)) => tf - ti,
            Ok(None) => f64::NAN,
            Err(e) => {
                failure.get_or_insert(e);
                f64::NAN
            }
        }
    });
    match failure {
        Some(e) => Err(e),
        None => Ok(found),
    }
}
