//! General numerical methods, free of the physics: the stiff integrator, Chebyshev series and
//! tables, root finding, and value lists.
//!
//! * [`solver`]: Radau IIA (order 5) behind the [`solver::OdeSystem`] trait, with the bordered
//!   band LU of its Newton systems.
//! * [`cheb`], [`table2`]: Chebyshev series in one variable and lazily built panel tables in
//!   two, accepted at a stated tail and independent of the order they are built in.
//! * [`roots`]: bracketing root finder and minimum search.
//! * [`dd`]: double-double arithmetic (about 32 digits) for the tunnel splittings.
//! * [`expo`]: exp over a slice of arguments, vectorizable, within 1 ulp of libm's (the full
//!   master equation's right-hand side).
//! * [`grid`]: value lists and ranges as users type them, and the evenly and logarithmically
//!   spaced points every sweep and figure uses.

pub(crate) mod cheb;
pub(crate) mod codec;
pub(crate) mod dd;
mod exp_table;
pub mod expo;
pub mod grid;
pub mod roots;
pub mod solver;
pub(crate) mod table2;
