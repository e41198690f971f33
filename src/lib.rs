//! # smmcool
//!
//! Time-domain kinetics of non-equilibrium magnetic cooling in single-molecule magnets
//! (Palii et al., Dalton Trans. 2026, DOI 10.1039/D6DT00503A, extended from its two analytic
//! limits to finite field ramps).
//!
//! Units: energies are per molecule in kelvin (E/k_B), fields in tesla, times in seconds,
//! entropies and heat capacities in units of k_B per molecule. See [`units`].
//!
//! * [`model`]: giant-spin levels (Eq. 1-2), Boltzmann equilibrium, Debye phonons, presets.
//! * [`limits`]: the sudden-quench (Eq. 9) and isentropic (Eq. 11) final temperatures.
//! * [`rates`]: Delta M = +-1, +-2 spin-phonon rates with Arrhenius-scaled kappa(T).
//! * [`mechanism`]: relaxation mechanisms (channels and their rates) the engine assembles.
//! * [`slowmode`]: the slow over-barrier relaxation rate to full relative precision at any T.
//! * [`roots`]: bracketing root finder and minimum search used by the limits.
//! * [`grid`]: parsing of value lists and ranges such as `1:6:0.05`.
//! * [`error`]: typed errors.

#![warn(missing_docs)]
#![deny(clippy::float_cmp)]
#![allow(clippy::needless_range_loop)] // index loops read like the formulas they implement

pub mod batch;
pub mod cheb;
pub mod config;
pub mod error;
pub mod figures;
pub mod grid;
pub mod io;
pub mod kinetics;
pub mod limits;
pub mod mechanism;
pub mod model;
pub mod plot;
pub mod protocol;
pub mod rates;
pub mod roots;
pub mod slowmode;
pub mod solver;
pub mod table2;
pub mod units;
