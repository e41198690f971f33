//! The full master equation with the phonon bath (physics.md section 6):
//!   dn/dt = kappa(T) W(B(t), T) n,
//!   dU_ph/dt = -sum_M E_M(B(t)) (dn/dt)_M   (the heat the spins take comes from the phonons),
//!   dw/dt = (dB/dt) sum_M n_M dE_M/dB      (magnetic work done on the spins so far).
//! State y = [n_0 .. n_{N-1}, U_ph, w]. The phonon energy rather than T is the state, so that
//! after the ramp sum_M E_M n_M + U_ph is a linear invariant, kept exactly by the Runge-Kutta
//! method. T = (U_ph / a)^(1/4) for U_ph = a T^4.

use crate::error::NumericsError;
use crate::model::protocol::Protocol;
use crate::model::{Debye, GiantSpin};
use crate::numerics::solver::OdeSystem;
use crate::rates::{bose_pair_and_dt, bose_ratio, RateModel, TransitionPair};
use nalgebra::{DMatrix, DVector};

/// The coupled populations + phonon-energy system.
#[derive(Debug)]
pub struct FullSystem<'a> {
    spin: &'a GiantSpin,
    debye: &'a Debye,
    rates: &'a RateModel,
    protocol: &'a Protocol,
    pairs: &'a [TransitionPair],
    /// Each pair's transition energy E_j - E_i = a + b B as (a in K, b in K/T).
    pair_energy: Vec<[f64; 2]>,
    /// Whether this is the hold after the ramp (B = B_f, dB/dt = 0) rather than the ramp
    /// itself (B(t) and the ramp's rate on the closed interval [0, t_q]).
    hold: bool,
}

impl<'a> FullSystem<'a> {
    /// The system for a material's spin and lattice, its rates and a field protocol.
    pub fn new(
        spin: &'a GiantSpin,
        debye: &'a Debye,
        rates: &'a RateModel,
        protocol: &'a Protocol,
    ) -> Self {
        let pairs = rates.pairs();
        let pair_energy = pairs
            .iter()
            .map(|p| {
                let (e_j, e_i) = (spin.energy_k(p.j, 0.0), spin.energy_k(p.i, 0.0));
                [
                    e_j - e_i,
                    spin.energy_slope_k_per_t(p.j) - spin.energy_slope_k_per_t(p.i),
                ]
            })
            .collect();
        Self {
            spin,
            debye,
            rates,
            protocol,
            pairs,
            pair_energy,
            hold: false,
        }
    }

    /// The same system for the hold after the ramp (B = B_f, no work).
    pub fn holding(mut self) -> Self {
        self.hold = true;
        self
    }

    fn field_and_rate(&self, t: f64) -> (f64, f64) {
        if self.hold {
            (self.protocol.b_final_t(), 0.0)
        } else {
            (self.protocol.field_t(t), self.protocol.ramp_rate_t_per_s(t))
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
}

/// The right-hand side fails where the rate model does (e.g. T below its range).
impl OdeSystem for FullSystem<'_> {
    type Error = NumericsError;

    fn dim(&self) -> usize {
        self.n_levels() + 2
    }

    /// Populations couple to their Delta M neighbours only; U_ph and w are the dense border.
    fn bordered_band(&self) -> Option<(usize, usize)> {
        Some((self.n_levels(), self.rates.band()))
    }

    fn rhs(&self, t: f64, y: &DVector<f64>, dy: &mut DVector<f64>) -> Result<(), NumericsError> {
        let n = self.n_levels();
        let (b, bdot) = self.field_and_rate(t);
        let temp = self.temperature_k(y);
        dy.fill(0.0);
        let kappa = self.rates.kappa(temp)?;
        let mut du = 0.0;
        let inv_t = 1.0 / temp;
        let (ys, d) = (y.as_slice(), dy.as_mut_slice());
        for (p, &[e0, slope]) in self.pairs.iter().zip(&self.pair_energy) {
            let de = e0 + slope * b;
            // f(dE) = dE^2 T x/(e^x - 1) with x = dE/T, and f(-dE) = f(dE) + dE^3 (detailed
            // balance), from one exponential (see `bose_pair_and_dt`).
            let x = de.abs() * inv_t;
            let r_up = bose_ratio(x);
            let r_down = x + r_up;
            let (r_ij, r_ji) = if de >= 0.0 {
                (r_up, r_down)
            } else {
                (r_down, r_up)
            };
            // Net flux i -> j; each transition takes dE per molecule from the phonons.
            let flux = kappa
                * de
                * de
                * temp
                * (p.weight_ij * r_ij * ys[p.i] - p.weight_ji * r_ji * ys[p.j]);
            d[p.j] += flux;
            d[p.i] -= flux;
            du -= flux * de;
        }
        d[n] = du;
        let mut dw = 0.0;
        if bdot != 0.0 {
            for i in 0..n {
                dw += ys[i] * self.spin.energy_slope_k_per_t(i);
            }
        }
        d[n + 1] = bdot * dw;
        Ok(())
    }

    fn jacobian(
        &self,
        t: f64,
        y: &DVector<f64>,
        jac: &mut DMatrix<f64>,
    ) -> Result<(), NumericsError> {
        let n = self.n_levels();
        let (b, bdot) = self.field_and_rate(t);
        let temp = self.temperature_k(y);
        jac.fill(0.0);
        let (kappa, dlnk) = self.rates.kappa_and_log_derivative(temp)?;
        // dT/dU_ph = 1/C_ph.
        let dtdu = 1.0 / self.debye.heat_capacity(temp);
        for (p, &[e0, slope]) in self.pairs.iter().zip(&self.pair_energy) {
            let de = e0 + slope * b;
            let pair = bose_pair_and_dt(de, temp);
            for (from, to, weight, (f, dfdt), d) in [
                (p.i, p.j, p.weight_ij, pair.0, de),
                (p.j, p.i, p.weight_ji, pair.1, -de),
            ] {
                let r = kappa * weight * f;
                jac[(to, from)] += r;
                jac[(from, from)] -= r;
                jac[(n, from)] -= r * d;
                // d flux / dT = weight n_from (kappa' f + kappa f_T), kappa' = kappa dlnk.
                let dflux_du = kappa * weight * (dlnk * f + dfdt) * y[from] * dtdu;
                jac[(to, n)] += dflux_du;
                jac[(from, n)] -= dflux_du;
                jac[(n, n)] -= dflux_du * d;
            }
        }
        if bdot != 0.0 {
            for i in 0..n {
                jac[(n + 1, i)] = bdot * self.spin.energy_slope_k_per_t(i);
            }
        }
        Ok(())
    }
}
