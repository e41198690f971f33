//! Stiff time integration behind one small trait.
//!
//! [`OdeSystem`] is the problem (right-hand side and analytic Jacobian); [`Radau5`] is the
//! integrator (3-stage Radau IIA, order 5, L-stable, stiffly accurate) stepping it one step at a
//! time so the caller can stop, sample and switch formulations between steps.

pub mod bordered;
mod radau;

pub use radau::{Radau5, RadauCoefficients};

use nalgebra::{DMatrix, DVector};
use thiserror::Error;

/// A first-order system dy/dt = f(t, y) whose evaluation may fail (e.g. a state outside the
/// model's range): the integrator treats a failed stage evaluation like a non-finite one (it
/// rejects the step and retries a smaller one) and reports the first failure of a step it
/// cannot complete as [`StepError::System`].
pub trait OdeSystem {
    /// Why an evaluation failed.
    type Error;
    /// Dimension of y.
    fn dim(&self) -> usize;
    /// Write f(t, y) into `dy`.
    fn rhs(&self, t: f64, y: &DVector<f64>, dy: &mut DVector<f64>) -> Result<(), Self::Error>;
    /// Write the Jacobian df/dy at (t, y) into `jac`.
    fn jacobian(&self, t: f64, y: &DVector<f64>, jac: &mut DMatrix<f64>)
        -> Result<(), Self::Error>;
    /// Sparsity of the Jacobian, if it is a bordered band matrix: (nb, b) when its leading
    /// nb x nb block has half band width b and the rest is dense (see [`bordered`]). The
    /// integrator then factors its Newton matrices in O(nb b^2); `None` (the default) means
    /// dense.
    fn bordered_band(&self) -> Option<(usize, usize)> {
        None
    }
}

/// Step-size and accuracy controls.
#[derive(Debug, Clone, PartialEq)]
pub struct Tolerances {
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute tolerance, per component.
    pub atol: Vec<f64>,
    /// Largest number of steps (accepted + rejected) before giving up.
    pub max_steps: usize,
}

/// Work counters, pinned in tests so that a cost regression shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SolverStats {
    /// Accepted steps.
    pub steps: usize,
    /// Rejected steps (error test or Newton failure).
    pub rejected: usize,
    /// Right-hand side evaluations.
    pub rhs_evals: usize,
    /// Jacobian evaluations.
    pub jac_evals: usize,
    /// LU factorizations.
    pub lu_decomps: usize,
    /// Newton iterations.
    pub newton_iters: usize,
}

impl std::ops::AddAssign for SolverStats {
    fn add_assign(&mut self, o: Self) {
        self.steps += o.steps;
        self.rejected += o.rejected;
        self.rhs_evals += o.rhs_evals;
        self.jac_evals += o.jac_evals;
        self.lu_decomps += o.lu_decomps;
        self.newton_iters += o.newton_iters;
    }
}

/// Why the integrator stopped.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SolverError {
    /// The step size fell below the resolution of t (16 eps |t|): the state changes faster
    /// than a double-precision time can follow there, e.g. a thermal runaway after a delay of
    /// 1e34 s. The run can only be stopped before it.
    #[error("step size {h:e} s too small at t = {t:e} s: the state changes faster than double precision resolves time there (steps below 16 eps t = {:e} s), e.g. a thermal runaway after a very long delay; stop the run before it with a lower time limit (max_time_after_ramp_s)", 16.0 * f64::EPSILON * t.abs())]
    StepSizeTooSmall {
        /// Time, s.
        t: f64,
        /// Step size, s.
        h: f64,
    },
    /// Too many steps.
    #[error("more than {max_steps} steps before t = {t:e} s (the step limit max_steps)")]
    TooManySteps {
        /// Time reached, s.
        t: f64,
        /// The limit.
        max_steps: usize,
    },
    /// The state or its derivative became NaN or infinite.
    #[error("non-finite state at t = {t:e} s")]
    NonFinite {
        /// Time, s.
        t: f64,
    },
    /// A singular iteration matrix.
    #[error("singular Newton matrix at t = {t:e} s (h = {h:e} s)")]
    Singular {
        /// Time, s.
        t: f64,
        /// Step size, s.
        h: f64,
    },
}

/// Why a step (or the start) failed: the integrator itself, or the system's evaluation.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum StepError<E> {
    /// The integrator gave up.
    #[error(transparent)]
    Solver(#[from] SolverError),
    /// The system failed at time `t` (the first failure met in the step that could not be
    /// completed).
    #[error("system evaluation failed at t = {t:e} s")]
    System {
        /// Time of the failed evaluation, s.
        t: f64,
        /// The system's error.
        source: E,
    },
}
