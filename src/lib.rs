//! # smmcool
//!
//! Time-domain kinetics of non-equilibrium magnetic cooling in single-molecule magnets
//! (Palii et al., Dalton Trans. 2026, DOI 10.1039/D6DT00503A, extended from its two analytic
//! limits to finite field ramps). The physics and the numerics are written up in
//! `docs/physics.md` and `docs/numerics.md`.
//!
//! Units: energies are per molecule in kelvin (E/k_B), fields in tesla, times in seconds,
//! entropies and heat capacities in units of k_B per molecule. See [`units`].
//!
//! # Using the library
//!
//! A run goes one way: a [`Scenario`] (what the user gave, as TOML sections or flags) is
//! validated and built by [`Scenario::build`] into the engine's input, which [`simulate`]
//! integrates inside an [`EngineContext`] (the shared tables, owned by the caller); a batch is
//! a [`Plan`] of scenarios run by [`run_batch`] into an HDF5 file read back by
//! [`read_summary`]. What a run produces is a [`RunRecord`], named by the one table of output
//! quantities in [`results`]. Every failure is an [`Error`] with a kind.
//!
//! ```no_run
//! use smmcool::{simulate, EngineContext, ProtocolSection, Scenario};
//! let mut scenario = Scenario::new(ProtocolSection {
//!     b_initial_t: Some(0.5),
//!     b_final_t: Some(0.1),
//!     initial_temperature_k: 4.0,
//!     sweep_rate_t_per_s: Some(10.0),
//!     ramp_duration_s: None,
//!     shape: smmcool::model::protocol::RampShape::Linear,
//!     jump: false,
//!     allow_field_increase: false,
//!     waveform_time_s: None,
//!     waveform_field_t: None,
//!     waveform_csv: None,
//!     segment: Vec::new(),
//!     cycles: None,
//! });
//! scenario.solver.rtol = 1e-8;
//! let run = scenario.build()?;
//! let ctx = EngineContext::new();
//! let trajectory = simulate(&ctx, &run.spec)?;
//! println!("{} K at equilibrium", trajectory.t_equilibrium_k);
//! # Ok::<(), smmcool::Error>(())
//! ```
//!
//! # Rooms
//!
//! * [`model`]: giant-spin levels (Eq. 1-2), Boltzmann equilibrium, Debye phonons, presets, the
//!   sudden-quench (Eq. 9) and isentropic (Eq. 11) limits, field protocols B(t).
//! * [`rates`], [`slowmode`]: the Delta M = +-1, +-2 spin-phonon rates with Arrhenius-scaled
//!   kappa(T), and the slow over-barrier rate to full relative precision at any T.
//! * [`kinetics`]: the time-domain engine, as stages (full master equation, reduced ramp,
//!   relaxation quadrature) driven by one loop, and its [`EngineContext`].
//! * [`numerics`]: the stiff integrator, Chebyshev tables, root finding, value lists.
//! * [`scenario`]: the one input type, its key table, validation and builder.
//! * [`results`]: run records and the one table of output quantities.
//! * [`batch`]: TOML configs with sweeps, the parallel resumable runner, merging.
//! * [`io`]: the HDF5 batch file format.
//! * [`figures`]: the paper's figures and the time-domain ones.
//! * [`error`]: one error type per boundary and [`Error`], with [`error::ErrorKind`].

#![warn(missing_docs)]
#![deny(clippy::float_cmp)]
#![allow(clippy::needless_range_loop)] // index loops read like the formulas they implement

pub mod batch;
pub mod error;
pub mod figures;
pub mod io;
pub mod kinetics;
pub mod model;
pub mod numerics;
pub mod rates;
pub mod results;
pub mod scenario;

pub mod units;

pub use batch::config::Plan;
pub use batch::runner::{run_batch, run_batch_cancellable, RunOptions};
pub use error::{Error, ErrorKind};
pub use io::{read_meta, read_summary, read_trajectory};
pub use kinetics::{simulate, EngineContext, Trajectory};
pub use model::Material;
pub use results::RunRecord;
pub use scenario::{ProtocolSection, Scenario};
