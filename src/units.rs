//! Physical constants (CODATA 2018) and unit conversions.
//!
//! Inside the crate every energy is an energy per molecule divided by k_B, i.e. in kelvin;
//! fields are in tesla, times in seconds. Conversions happen only at the edges.

/// h c / k_B: one wavenumber (cm^-1) expressed in kelvin.
pub const KELVIN_PER_CM1: f64 = 1.438_776_877;

/// One meV expressed in cm^-1 (e / (100 h c), CODATA 2018): converts published parameters
/// given in meV (neutron spectroscopy) to cm^-1.
pub const CM1_PER_MEV: f64 = 8.065_543_937;

/// mu_B / k_B in kelvin per tesla.
pub const MU_B_KELVIN_PER_TESLA: f64 = 0.671_713_815_63;

/// k_B / hbar in 1/(s K) (CODATA 2018, both exact in SI): an energy in K times this is an
/// angular frequency in 1/s (tunnel splittings and biases in the tunnelling rates).
pub const KB_OVER_HBAR_PER_S_K: f64 = 1.309_203_392_072_064e11;

/// Molar gas constant R = N_A k_B in J/(mol K): multiply a per-molecule quantity in units of
/// k_B (entropy, heat capacity) by this to get a molar one.
pub const GAS_CONSTANT_J_PER_MOL_K: f64 = 8.314_462_618;

/// Avogadro constant N_A in 1/mol (CODATA 2018, exact).
pub const AVOGADRO_PER_MOL: f64 = 6.022_140_76e23;

/// Bohr magneton mu_B in J/T = A m^2 (CODATA 2018).
pub const MU_B_J_PER_T: f64 = 9.274_010_078_3e-24;

/// A molar moment of one mu_B per molecule, N_A mu_B, in A m^2/mol (= J/(T mol)): 5.5849.
/// In emu/mol (1 emu = 1e-3 A m^2) it is 1e3 times that, the magnetochemists' 5585.
pub fn molar_mu_b_am2_per_mol() -> f64 {
    AVOGADRO_PER_MOL * MU_B_J_PER_T
}

/// Convert a wavenumber in cm^-1 to kelvin.
pub fn cm1_to_kelvin(cm1: f64) -> f64 {
    cm1 * KELVIN_PER_CM1
}

/// A number as messages show it: the shortest text that reads back as the same f64, in
/// positional notation for 1e-4 <= |v| < 1e6 (and 0) and in e-notation otherwise (`1e-300`,
/// `3.5e49`, never a 300-digit decimal).
pub fn number(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 || !v.is_finite() || (1e-4..1e6).contains(&a) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_read_back_exactly_and_stay_short() {
        for v in [
            1e-300,
            3.5e49,
            -1e-3,
            0.1,
            123456.5,
            1e6,
            -2.5e-7,
            0.0,
            1.0 / 3.0,
        ] {
            let text = super::number(v);
            assert_eq!(
                text.parse::<f64>().unwrap().to_bits(),
                v.to_bits(),
                "{text}"
            );
            assert!(text.len() <= 24, "{text}");
        }
        assert_eq!(super::number(1e-300), "1e-300");
        assert_eq!(super::number(0.001), "0.001");
    }
}
