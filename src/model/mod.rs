//! The physical model: giant-spin levels, Debye phonons, equilibrium thermodynamics and
//! material presets (paper Eq. 1-3, 8, 13-14; docs/physics.md sections 2-3), the two analytic
//! limits of a field change ([`limits`], Eq. 9 and 11), the field protocols B(t)
//! ([`protocol`]) and the spin Hamiltonian with fourth-order and transverse terms and its
//! resonances ([`tunnelling`], docs/physics.md section 10).

pub mod limits;
mod link;
mod material;
mod phonon;
pub mod protocol;
mod spin;
pub mod thermo;
pub mod tunnelling;

pub use link::{HeatLink, MAX_LINK_EXPONENT};
pub use material::{
    preset, Arrhenius, Material, Overrides, Preset, Stevens, MN12AC_MOLAR_MASS_G_PER_MOL, PRESETS,
};
pub use phonon::Debye;
pub use spin::{GiantSpin, MAX_SPIN};
