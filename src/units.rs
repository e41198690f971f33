//! Physical constants (CODATA 2018) and unit conversions.
//!
//! Inside the crate every energy is an energy per molecule divided by k_B, i.e. in kelvin;
//! fields are in tesla, times in seconds. Conversions happen only at the edges.

/// h c / k_B: one wavenumber (cm^-1) expressed in kelvin.
pub const KELVIN_PER_CM1: f64 = 1.438_776_877;

/// mu_B / k_B in kelvin per tesla.
pub const MU_B_KELVIN_PER_TESLA: f64 = 0.671_713_815_63;

/// Molar gas constant R = N_A k_B in J/(mol K): multiply a per-molecule quantity in units of
/// k_B (entropy, heat capacity) by this to get a molar one.
pub const GAS_CONSTANT_J_PER_MOL_K: f64 = 8.314_462_618;

/// Convert a wavenumber in cm^-1 to kelvin.
pub fn cm1_to_kelvin(cm1: f64) -> f64 {
    cm1 * KELVIN_PER_CM1
}
