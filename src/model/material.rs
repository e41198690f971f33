//! Materials: a giant spin, its lattice and its Arrhenius relaxation law, with named presets.

use super::tunnelling::{Anisotropy, AnisotropyOverrides, SpinHamiltonian};
use super::{Debye, GiantSpin};
use crate::error::{require_positive, ParameterError};
use crate::units::{cm1_to_kelvin, CM1_PER_MEV};

/// The Arrhenius law of the over-barrier relaxation time, tau(T) = tau0 exp(U_b / T) (Eq. 10).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Arrhenius {
    /// Pre-exponential factor tau0, s.
    pub tau0_s: f64,
    /// Effective barrier U_b, K.
    pub barrier_k: f64,
}

impl Arrhenius {
    /// An Arrhenius law with tau0 > 0 s and U_b > 0 K.
    pub fn new(tau0_s: f64, barrier_k: f64) -> Result<Self, ParameterError> {
        require_positive("tau0_s", tau0_s)?;
        require_positive("barrier_k", barrier_k)?;
        Ok(Self { tau0_s, barrier_k })
    }

    /// tau(T) in s.
    pub fn tau_s(&self, t_k: f64) -> f64 {
        self.tau0_s * (self.barrier_k / t_k).exp()
    }

    /// The temperature at which tau(T) equals `tau_s`: U_b / ln(tau / tau0). The paper's
    /// sudden-quench validity bound T_max uses tau = 1 s (4.57 K for Mn12Ac). `None` when
    /// tau_s <= tau0 (no temperature reaches it).
    pub fn temperature_for_tau_k(&self, tau_s: f64) -> Option<f64> {
        let l = (tau_s / self.tau0_s).ln();
        (l > 0.0).then(|| self.barrier_k / l)
    }
}

/// Everything the model needs to know about a compound.
#[derive(Debug, Clone, PartialEq)]
pub struct Material {
    /// Short name (preset key or "custom").
    pub name: String,
    /// The giant spin.
    pub spin: GiantSpin,
    /// The lattice.
    pub debye: Debye,
    /// Over-barrier relaxation law.
    pub arrhenius: Arrhenius,
    /// Where the numbers come from.
    pub source: String,
    /// The full spin Hamiltonian (the axial one of `spin` for the axial presets): with
    /// transverse terms (C, E, Bx) the trajectories add the tunnelling mechanism
    /// ([`Material::rate_model`]).
    pub hamiltonian: SpinHamiltonian,
}

/// A named parameter set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Preset {
    /// Key used on the command line and in configs.
    pub key: &'static str,
    /// Spin S.
    pub spin: f64,
    /// D in cm^-1.
    pub d_cm1: f64,
    /// g_par.
    pub g_par: f64,
    /// Debye temperature, K.
    pub debye_temperature_k: f64,
    /// tau0, s.
    pub tau0_s: f64,
    /// U_b, K.
    pub barrier_k: f64,
    /// Fourth-order and rhombic anisotropy as published (Stevens form); zero for the axial
    /// presets the engine uses.
    pub stevens: Stevens,
    /// Molar mass in g/mol, where the compound's formula is known (for `sample.mass_mg`).
    pub molar_mass_g_per_mol: Option<f64>,
    /// Provenance of every number.
    pub source: &'static str,
}

/// Molar mass of Mn12Ac, [Mn12O12(CH3COO)16(H2O)4]·2CH3COOH·4H2O = C36H72Mn12O56, from the
/// IUPAC 2021 conventional atomic weights (C 12.011, H 1.008, O 15.999, Mn 54.938043):
/// 2060.17 g/mol. The issue quotes 2060.3 g/mol, 6e-5 relative above (older tabulations).
pub const MN12AC_MOLAR_MASS_G_PER_MOL: f64 =
    36.0 * 12.011 + 72.0 * 1.008 + 12.0 * 54.938_043 + 56.0 * 15.999;

/// Anisotropy beyond D in the Stevens form of the spectroscopy literature,
/// H = D [Sz^2 - S(S+1)/3] + E (Sx^2 - Sy^2) + B_4^0 O_4^0 + B_4^4 O_4^4 with
/// O_4^0 = 35 Sz^4 - (30 S(S+1) - 25) Sz^2 + 3 S^2 (S+1)^2 - 6 S(S+1) and
/// O_4^4 = (S+^4 + S-^4)/2 (docs/physics.md section 10.2 converts it to the B4, C form).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stevens {
    /// B_4^0 in cm^-1.
    pub b40_cm1: f64,
    /// B_4^4 in cm^-1.
    pub b44_cm1: f64,
    /// Rhombic E in cm^-1.
    pub e_cm1: f64,
}

impl Stevens {
    /// No anisotropy beyond D (the paper's Eq. 1).
    pub const NONE: Self = Self {
        b40_cm1: 0.0,
        b44_cm1: 0.0,
        e_cm1: 0.0,
    };

    /// True when every term is zero.
    pub fn is_none(&self) -> bool {
        self.b40_cm1 == 0.0 && self.b44_cm1 == 0.0 && self.e_cm1 == 0.0
    }
}

/// The paper's Mn12Ac values that the spectroscopic presets keep (g, lattice, Arrhenius law).
const MN12AC: Preset = Preset {
    key: "mn12ac",
    spin: 10.0,
    d_cm1: -0.5,
    g_par: 2.05,
    debye_temperature_k: 40.9,
    tau0_s: 2.1e-7,
    barrier_k: 70.3,
    stevens: Stevens::NONE,
    molar_mass_g_per_mol: Some(MN12AC_MOLAR_MASS_G_PER_MOL),
    source: "Palii et al., Dalton Trans. 2026 (D6DT00503A): D = -0.5 cm^-1 [ref 4], g_par = 2.05 [ref 8], theta_D = 40.9 K [ref 9], tau0 = 2.1e-7 s and U_b = 70.3 K [ref 4]",
};

/// The presets. Mn12Ac is the paper's; the derivatives take the Arrhenius parameters from the
/// ranges the paper quotes (midpoint of the barrier range, geometric midpoint of the tau0 range)
/// and keep Mn12Ac's S, D, g and theta_D, as the paper does when it calls Mn12Ac representative.
///
/// The `mn12ac-*` spectroscopic presets carry fourth-order (and, for Bircher et al., rhombic)
/// anisotropy from the literature, with the rest of the paper's Mn12Ac. Trajectories run them
/// with resonant tunnelling ([`Material::for_trajectories`]); `levels` and `limits` refuse them
/// ([`Material::from_preset`]).
pub const PRESETS: &[Preset] = &[
    MN12AC,
    Preset {
        key: "mn12-naphthalene",
        spin: 10.0,
        d_cm1: -0.5,
        g_par: 2.05,
        debye_temperature_k: 40.9,
        tau0_s: 1.0e-7,
        barrier_k: 57.0,
        stevens: Stevens::NONE,
        molar_mass_g_per_mol: None,
        source: "Mn12 naphthalene-carboxylate: U_b = 57 K, midpoint of the 53-61 K the paper quotes [its ref 37]; tau0 = 1e-7 s, geometric midpoint of the family range 1e-8..1e-6 s the paper quotes; S, D, g, theta_D of Mn12Ac",
    },
    Preset {
        key: "mn12-dichloroacetate",
        spin: 10.0,
        d_cm1: -0.5,
        g_par: 2.05,
        debye_temperature_k: 40.9,
        tau0_s: 1.0e-7,
        barrier_k: 25.0,
        stevens: Stevens::NONE,
        molar_mass_g_per_mol: None,
        source: "(PPh4)2[Mn12O12(O2CCHCl2)16(H2O)4]: U_b = 25 K, midpoint of the 18-32 K the paper quotes [its ref 38]; tau0 = 1e-7 s, geometric midpoint of the family range 1e-8..1e-6 s; S, D, g, theta_D of Mn12Ac",
    },
    Preset {
        key: "mn12-stearate",
        spin: 10.0,
        d_cm1: -0.5,
        g_par: 2.05,
        debye_temperature_k: 40.9,
        tau0_s: 1.0e-6,
        barrier_k: 61.0,
        stevens: Stevens::NONE,
        molar_mass_g_per_mol: None,
        source: "Mn12 stearate (bulk): U_b = 61 K, midpoint of the 60-62 K the paper quotes [its ref 39]; tau0 = 1e-6 s, geometric midpoint of the 1e-8..1e-4 s it quotes; S, D, g, theta_D of Mn12Ac",
    },
    Preset {
        key: "mn12ac-mirebeau",
        d_cm1: -0.457,
        stevens: Stevens {
            b40_cm1: -2.33e-5,
            b44_cm1: 3.0e-5,
            e_cm1: 0.0,
        },
        source: "Mirebeau et al., PRL 83, 628 (1999), inelastic neutron scattering: D = -0.457(2) cm^-1, B_4^0 = -2.33(4)e-5 cm^-1, B_4^4 = +-3.0(5)e-5 cm^-1 (sign not determined; + taken); S, g_par, theta_D, tau0, U_b of the paper's Mn12Ac",
        ..MN12AC
    },
    Preset {
        key: "mn12ac-barra",
        d_cm1: -0.46,
        stevens: Stevens {
            b40_cm1: -2.2e-5,
            b44_cm1: 4.0e-5,
            e_cm1: 0.0,
        },
        source: "Barra, Gatteschi, Sessoli, PRB 56, 8192 (1997), high-field EPR: D = -0.46(2) cm^-1, B_4^0 = -2.2(2)e-5 cm^-1, B_4^4 = 4(1)e-5 cm^-1; S, g_par, theta_D, tau0, U_b of the paper's Mn12Ac",
        ..MN12AC
    },
    Preset {
        key: "mn12ac-bircher",
        d_cm1: -0.0570 * CM1_PER_MEV,
        stevens: Stevens {
            b40_cm1: -2.78e-6 * CM1_PER_MEV,
            b44_cm1: -3.2e-6 * CM1_PER_MEV,
            e_cm1: 6.8e-4 * CM1_PER_MEV,
        },
        source: "Bircher et al., PRB 70, 212413 (2004), inelastic neutron scattering on deuterated Mn12Ac: D = -0.0570(1) meV, B_4^0 = -2.78(7)e-6 meV, B_4^4 = -3.2(6)e-6 meV, |E| = 6.8(15)e-4 meV (+ taken), converted at 1 meV = 8.065543937 cm^-1; S, g_par, theta_D, tau0, U_b of the paper's Mn12Ac",
        ..MN12AC
    },
];

/// Largest |C| the kinetic model takes, K (35x the largest published Mn12Ac value, 2.9e-5 K).
pub const MAX_C4_K: f64 = 1e-3;
/// Largest |Bx| the kinetic model takes, T.
pub const MAX_TRANSVERSE_FIELD_T: f64 = 1.0;

/// The ranges of the anisotropy overrides `a` in the kinetic model (trajectories and `tau`;
/// `resonances` takes any finite value): |B4| S^2 <= |D| (the fourth-order term at most the
/// second-order one at m = S), |C| <= [`MAX_C4_K`], |E| <= |D|/3 (the rhombic convention),
/// |Bx| <= [`MAX_TRANSVERSE_FIELD_T`]. Beyond them the pairs of the two wells are mixed with
/// their neighbours (docs/physics.md section 10.4) and the localized-level rates of section
/// 10.5 no longer describe them.
fn check_kinetic_ranges(
    h: &SpinHamiltonian,
    a: &AnisotropyOverrides,
) -> Result<(), ParameterError> {
    let s = h.spin().spin();
    let d = h.spin().d_k().abs();
    let n = crate::units::number;
    if let Some(b4) = a.b4_k.filter(|b4| b4.abs() * s * s > d) {
        return Err(ParameterError::new(
            "b4_k",
            b4,
            format!(
                "must satisfy |B4| S^2 <= |D|, here |B4| <= {} K (S = {}, D = {} K)",
                n(d / (s * s)),
                n(s),
                n(h.spin().d_k())
            ),
        ));
    }
    if let Some(c) = a.c4_k.filter(|c| c.abs() > MAX_C4_K) {
        return Err(ParameterError::new(
            "c4_k",
            c,
            format!("must be in [-{0}, {0}] K (35x the published Mn12Ac values; larger ones mix the levels of the two wells beyond the localized-level tunnelling rates)", n(MAX_C4_K)),
        ));
    }
    if let Some(e) = a.e_k.filter(|e| e.abs() > d / 3.0) {
        return Err(ParameterError::new(
            "e_k",
            e,
            format!(
                "must satisfy |E| <= |D|/3 = {} K (the rhombic convention)",
                n(d / 3.0)
            ),
        ));
    }
    if let Some(bx) = a
        .transverse_field_t
        .filter(|bx| bx.abs() > MAX_TRANSVERSE_FIELD_T)
    {
        return Err(ParameterError::new(
            "transverse_field_t",
            bx,
            format!("must be in [-{0}, {0}] T in a kinetic run (larger transverse fields mix the levels of the two wells beyond the localized-level tunnelling rates)", n(MAX_TRANSVERSE_FIELD_T)),
        ));
    }
    Ok(())
}

/// Find a preset by key (case-insensitive).
pub fn preset(key: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.key.eq_ignore_ascii_case(key))
}

/// Optional overrides of a preset's fields; `None` keeps the preset's value.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Overrides {
    /// Spin S.
    pub spin: Option<f64>,
    /// D in cm^-1 (exclusive with `d_k`).
    pub d_cm1: Option<f64>,
    /// D in K (exclusive with `d_cm1`).
    pub d_k: Option<f64>,
    /// g_par.
    pub g_par: Option<f64>,
    /// Debye temperature, K.
    pub debye_temperature_k: Option<f64>,
    /// Phonon units per molecule (default 1).
    pub phonon_units: Option<f64>,
    /// tau0, s.
    pub tau0_s: Option<f64>,
    /// U_b, K.
    pub barrier_k: Option<f64>,
}

impl Preset {
    /// The giant spin and the anisotropy beyond D that this preset and `o` describe, in the
    /// crate's form D [Sz^2 - S(S+1)/3] + B4 Sz^4 + C (S+^4 + S-^4) + E (Sx^2 - Sy^2): the
    /// Stevens terms converted at the spin used ([`Anisotropy::from_stevens`]); a D given in
    /// `o` replaces the converted D.
    pub fn spin_and_anisotropy(
        &self,
        o: &Overrides,
    ) -> Result<(GiantSpin, Anisotropy), ParameterError> {
        let spin = o.spin.unwrap_or(self.spin);
        let (d_converted_k, anisotropy) =
            Anisotropy::from_stevens(spin, cm1_to_kelvin(self.d_cm1), &self.stevens);
        let d_k = match (o.d_cm1, o.d_k) {
            (Some(_), Some(_)) => {
                return Err(ParameterError::new(
                    "d_cm1",
                    f64::NAN,
                    "give D either in cm^-1 or in K, not both",
                ))
            }
            (Some(cm1), None) => cm1_to_kelvin(cm1),
            (None, Some(k)) => k,
            (None, None) => d_converted_k,
        };
        let giant = GiantSpin::new(spin, d_k, o.g_par.unwrap_or(self.g_par))?;
        Ok((giant, anisotropy))
    }
}

/// The preset called `key`, or an error that lists the known ones.
pub(crate) fn lookup(key: &str) -> Result<&'static Preset, ParameterError> {
    preset(key).ok_or_else(|| {
        let keys: Vec<_> = PRESETS.iter().map(|p| p.key).collect();
        ParameterError::new(
            "material",
            f64::NAN,
            format!("unknown preset '{key}'; known presets: {}", keys.join(", ")),
        )
    })
}

impl Material {
    /// Build a material from a preset key and overrides, validating every value. A preset with
    /// anisotropy beyond D (the `mn12ac-*` spectroscopic ones) is refused: `levels` and
    /// `limits`, which build materials this way, use the localized axial levels and would
    /// silently ignore the transverse terms (trajectories take them through
    /// [`Material::for_trajectories`], `smmcool tau` through [`Material::with_hamiltonian`]).
    pub fn from_preset(key: &str, o: &Overrides) -> Result<Self, ParameterError> {
        let p = lookup(key)?;
        let (_, anisotropy) = p.spin_and_anisotropy(o)?;
        if !anisotropy.is_zero() {
            return Err(ParameterError::new(
                "material",
                f64::NAN,
                format!(
                    "preset '{}' has anisotropy beyond D (B4 = {:.4e} K, C = {:.4e} K, E = {:.4e} K) that mixes the levels of the two wells; `levels` and `limits` use the localized axial levels and would ignore it. Use it with `smmcool simulate`, `run`, `resonances` or `tau`, or take an axial preset (mn12ac)",
                    p.key, anisotropy.b4_k, anisotropy.c4_k, anisotropy.e_k
                ),
            ));
        }
        Self::with_hamiltonian(key, o, &AnisotropyOverrides::default()).map(|(m, _)| m)
    }

    /// The material of preset `key` with overrides `o` and its full spin Hamiltonian with the
    /// anisotropy overrides `a` (any preset): the material's giant spin is the Hamiltonian's
    /// [`SpinHamiltonian::engine_spin`] (with B4), so that rates built on it share the levels of
    /// a tunnelling mechanism ([`crate::rates::tunnelling`]). For an axial preset without
    /// anisotropy overrides the material is [`Material::from_preset`]'s.
    pub fn with_hamiltonian(
        key: &str,
        o: &Overrides,
        a: &AnisotropyOverrides,
    ) -> Result<(Self, SpinHamiltonian), ParameterError> {
        let p = lookup(key)?;
        let h = SpinHamiltonian::from_preset(key, o, a)?;
        check_kinetic_ranges(&h, a)?;
        let spin = h.engine_spin()?;
        let debye = Debye::new(
            o.debye_temperature_k.unwrap_or(p.debye_temperature_k),
            o.phonon_units.unwrap_or(1.0),
        )?;
        let arrhenius = Arrhenius::new(
            o.tau0_s.unwrap_or(p.tau0_s),
            o.barrier_k.unwrap_or(p.barrier_k),
        )?;
        // Anisotropy overrides equal to the preset's values (C = 0 on mn12ac) change nothing.
        let changed = *o != Overrides::default()
            || (*a != AnisotropyOverrides::default()
                && h != SpinHamiltonian::from_preset(key, o, &AnisotropyOverrides::default())?);
        Ok((
            Self {
                name: if changed {
                    format!("{} (modified)", p.key)
                } else {
                    p.key.to_string()
                },
                spin,
                debye,
                arrhenius,
                source: p.source.to_string(),
                hamiltonian: h,
            },
            h,
        ))
    }

    /// The material of preset `key` with overrides `o` and anisotropy overrides `a` for
    /// trajectories: [`Material::with_hamiltonian`]'s material.
    pub fn for_trajectories_with(
        key: &str,
        o: &Overrides,
        a: &AnisotropyOverrides,
    ) -> Result<Self, ParameterError> {
        Self::with_hamiltonian(key, o, a).map(|(m, _)| m)
    }

    /// The material of preset `key` with overrides `o` for trajectories (`simulate`, batches):
    /// any preset, the spectroscopic ones with their full Hamiltonian (B4 in the levels, C and
    /// E as the tunnelling mechanism of [`Material::rate_model`]).
    pub fn for_trajectories(key: &str, o: &Overrides) -> Result<Self, ParameterError> {
        Self::with_hamiltonian(key, o, &AnisotropyOverrides::default()).map(|(m, _)| m)
    }

    /// True when the Hamiltonian couples the two wells (C, E or Bx non-zero): trajectories then
    /// carry the tunnelling mechanism.
    pub fn has_tunnelling(&self) -> bool {
        self.hamiltonian.has_transverse_terms()
    }

    /// The rate model of trajectories: the spin-phonon rates with kappa(T) `scaling`, and the
    /// resonant tunnelling mechanism when the Hamiltonian has transverse terms
    /// ([`crate::rates::tunnelling::with_tunnelling`]); exactly [`RateModel::new`] otherwise.
    pub fn rate_model(
        &self,
        scaling: crate::rates::KappaScaling,
    ) -> Result<crate::rates::RateModel, crate::error::NumericsError> {
        let rates = crate::rates::RateModel::new(self.spin, self.arrhenius, scaling)?;
        if self.has_tunnelling() {
            crate::rates::tunnelling::with_tunnelling(rates, &self.hamiltonian)
        } else {
            Ok(rates)
        }
    }

    /// The paper's Mn12Ac.
    pub fn mn12ac() -> Self {
        Self::from_preset("mn12ac", &Overrides::default()).expect("the built-in preset is valid")
    }
}
