//! The full master equation with the phonon bath (physics.md section 6):
//!   dn/dt = kappa(T) W(B(t), T) n,
//!   dU_ph/dt = -sum_M E_M(B(t)) (dn/dt)_M   (the heat the spins take comes from the phonons),
//!   dw/dt = (dB/dt) sum_M n_M dE_M/dB      (magnetic work done on the spins so far).
//! State y = [n_0 .. n_{N-1}, U_ph, w]. The phonon energy rather than T is the state, so that
//! after the ramp sum_M E_M n_M + U_ph is a linear invariant, kept exactly by the Runge-Kutta
//! method. T = (U_ph / a)^(1/4) for U_ph = a T^4.

use crate::error::NumericsError;
use crate::model::{Debye, GiantSpin};
use crate::protocol::Protocol;
use crate::rates::{bose_factor_and_dt, RateModel, Transition};
use crate::solver::OdeSystem;
use nalgebra::{DMatrix, DVector};
use std::cell::RefCell;

/// The coupled populations + phonon-energy system.
#[derive(Debug)]
pub struct FullSystem<'a> {
    spin: &'a GiantSpin,
    debye: &'a Debye,
    rates: &'a RateModel,
    protocol: &'a Protocol,
    transitions: &'a [Transition],
    /// First rate-model failure met in rhs/jacobian.
    failure: RefCell<Option<NumericsError>>,
}

impl<'a> FullSystem<'a> {
    /// The system for a material's spin and lattice, its rates and a field protocol.
    pub fn new(
        spin: &'a GiantSpin,
        debye: &'a Debye,
        rates: &'a RateModel,
        protocol: &'a Protocol,
    ) -> Self {
        Self {
            spin,
            debye,
            rates,
            protocol,
            transitions: rates.transitions(),
            failure: RefCell::new(None),
        }
    }

    /// Number of levels.
    pub fn n_levels(&self) -> usize {
        self.spin.n_levels()
    }

    /// Phonon temperature of state `y`, K.
    pub fn temperature_k(&self, y: &DVector<f64>) -> f64 {
        self.debye
            .temperature_for_energy_k(y[self.n_levels()].max(f64::MIN_POSITIVE))
    }

    /// The first rate-model failure met inside the right-hand side (e.g. T below the model's
    /// range), which the solver only sees as a non-finite derivative.
    pub fn take_failure(&self) -> Option<NumericsError> {
        self.failure.borrow_mut().take()
    }

    fn kappa(&self, t_k: f64, with_derivative: bool) -> Option<(f64, f64)> {
        let r = if with_derivative {
            self.rates.kappa_and_log_derivative(t_k)
        } else {
            self.rates.kappa(t_k).map(|k| (k, 0.0))
        };
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.failure.borrow_mut().get_or_insert(e);
                None
            }
        }
    }
}

impl OdeSystem for FullSystem<'_> {
    fn dim(&self) -> usize {
        self.n_levels() + 2
    }

    fn rhs(&self, t: f64, y: &DVector<f64>, dy: &mut DVector<f64>) {
        let n = self.n_levels();
        let b = self.protocol.field_t(t);
        let bdot = self.protocol.field_rate_t_per_s(t);
        let temp = self.temperature_k(y);
        dy.fill(0.0);
        let Some((kappa, _)) = self.kappa(temp, false) else {
            dy.fill(f64::NAN);
            return;
        };
        let mut du = 0.0;
        for tr in self.transitions {
            let de = self.spin.energy_k(tr.to, b) - self.spin.energy_k(tr.from, b);
            let (f, _) = bose_factor_and_dt(de, temp);
            let flux = kappa * tr.weight * f * y[tr.from];
            dy[tr.to] += flux;
            dy[tr.from] -= flux;
            // Heat from the phonons: each transition takes dE per molecule.
            du -= flux * de;
        }
        dy[n] = du;
        let mut dw = 0.0;
        if bdot != 0.0 {
            for i in 0..n {
                dw += y[i] * self.spin.energy_slope_k_per_t(i);
            }
        }
        dy[n + 1] = bdot * dw;
    }

    fn jacobian(&self, t: f64, y: &DVector<f64>, jac: &mut DMatrix<f64>) {
        let n = self.n_levels();
        let b = self.protocol.field_t(t);
        let bdot = self.protocol.field_rate_t_per_s(t);
        let temp = self.temperature_k(y);
        jac.fill(0.0);
        let Some((kappa, dlnk)) = self.kappa(temp, true) else {
            jac.fill(f64::NAN);
            return;
        };
        // dT/dU_ph = 1/C_ph.
        let dtdu = 1.0 / self.debye.heat_capacity(temp);
        for tr in self.transitions {
            let de = self.spin.energy_k(tr.to, b) - self.spin.energy_k(tr.from, b);
            let (f, dfdt) = bose_factor_and_dt(de, temp);
            let r = kappa * tr.weight * f;
            jac[(tr.to, tr.from)] += r;
            jac[(tr.from, tr.from)] -= r;
            jac[(n, tr.from)] -= r * de;
            // d flux / dT = weight n_from (kappa' f + kappa f_T), kappa' = kappa dlnk.
            let dflux_du = kappa * tr.weight * (dlnk * f + dfdt) * y[tr.from] * dtdu;
            jac[(tr.to, n)] += dflux_du;
            jac[(tr.from, n)] -= dflux_du;
            jac[(n, n)] -= dflux_du * de;
        }
        if bdot != 0.0 {
            for i in 0..n {
                jac[(n + 1, i)] = bdot * self.spin.energy_slope_k_per_t(i);
            }
        }
    }
}
