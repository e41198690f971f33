//! The physical model: giant-spin levels, Debye phonons, equilibrium thermodynamics and
//! material presets (paper Eq. 1-3, 8, 13-14; physics.md sections 2-3).

mod material;
mod phonon;
mod spin;
pub mod thermo;

pub use material::{preset, Arrhenius, Material, Overrides, Preset, PRESETS};
pub use phonon::Debye;
pub use spin::{GiantSpin, MAX_SPIN};
