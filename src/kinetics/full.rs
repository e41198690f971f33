//! The full master equation with the phonon bath (docs/physics.md section 6):
//!   dn/dt = kappa(T) W(B(t), T) n,
//!   dU_ph/dt = -sum_M E_M(B(t)) (dn/dt)_M   (the heat the spins take comes from the phonons),
//!   dw/dt = (dB/dt) sum_M n_M dE_M/dB      (magnetic work done on the spins so far).
//!   dq/dt = Q(T)                           (heat to the bath through a link, if any; U_ph
//!                                           then loses it too).
//! State y = [n_0 .. n_{N-1}, U_ph, w] (and q with a link). The phonon energy rather than T is the state, so that
//! after the ramp sum_M E_M n_M + U_ph is a linear invariant, kept exactly by the Runge-Kutta
//! method. T = (U_ph / a)^(1/4) for U_ph = a T^4.

use super::drive::{Drive, Driven};
use crate::error::NumericsError;
use crate::model::protocol::Protocol;
use crate::model::{Debye, GiantSpin};
use crate::numerics::solver::OdeSystem;
use crate::rates::mechanism::{PairRatesDt, RatePoint, Scratch};
use crate::rates::RateModel;
use nalgebra::{DMatrix, DVector};

/// The coupled populations + phonon-energy system.
#[derive(Debug)]
pub struct FullSystem<'a> {
    spin: &'a GiantSpin,
    debye: &'a Debye,
    rates: &'a RateModel,
    /// Each mechanism's channel energies E_j - E_i = a + b B as (a in K, b in K/T), indexed
    /// like the rate model's mechanisms and their channels.
    channel_energy: Vec<Vec<[f64; 2]>>,
    /// The protocol, the hold flag (B = B_f, dB/dt = 0 after the ramp) and the heat link.
    drive: Drive<'a>,
}

impl<'a> FullSystem<'a> {
    /// The system for a material's spin and lattice, its rates and a field protocol.
    pub fn new(
        spin: &'a GiantSpin,
        debye: &'a Debye,
        rates: &'a RateModel,
        protocol: &'a Protocol,
    ) -> Self {
        let channel_energy = rates
            .mechanisms()
            .iter()
            .map(|m| {
                m.channels()
                    .iter()
                    .map(|c| {
                        let (e_j, e_i) = (spin.energy_k(c.j, 0.0), spin.energy_k(c.i, 0.0));
                        [
                            e_j - e_i,
                            spin.energy_slope_k_per_t(c.j) - spin.energy_slope_k_per_t(c.i),
                        ]
                    })
                    .collect()
            })
            .collect();
        Self {
            spin,
            debye,
            rates,
            channel_energy,
            drive: Drive::ramp(protocol),
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

/// With a heat link ([`Driven::linked`]) the state is [n, U_ph, w, q]; [`Driven::holding`]
/// makes it the hold after the ramp.
impl<'a> Driven<'a> for FullSystem<'a> {
    fn drive(&self) -> &Drive<'a> {
        &self.drive
    }
    fn drive_mut(&mut self) -> &mut Drive<'a> {
        &mut self.drive
    }
}

/// The right-hand side fails where the rate model does (e.g. T below its range).
impl OdeSystem for FullSystem<'_> {
    type Error = NumericsError;

    fn dim(&self) -> usize {
        self.n_levels() + if self.drive.link.is_some() { 3 } else { 2 }
    }

    /// Populations couple through the mechanisms' channels only (Delta M <= 2 for spin-phonon);
    /// U_ph and w are the dense border. A band covering the whole population block (a wide
    /// channel) falls back to the dense LU.
    fn bordered_band(&self) -> Option<(usize, usize)> {
        let (n, band) = (self.n_levels(), self.rates.band());
        (2 * band + 1 < n).then_some((n, band))
    }

    fn rhs(&self, t: f64, y: &DVector<f64>, dy: &mut DVector<f64>) -> Result<(), NumericsError> {
        let n = self.n_levels();
        let (b, bdot) = self.drive.field_and_rate(t);
        let temp = self.temperature_k(y);
        dy.fill(0.0);
        let kappa = self.rates.kappa(temp)?;
        let at = RatePoint {
            field_t: b,
            t_k: temp,
            kappa_per_s_k3: kappa,
            dln_kappa_dt: f64::NAN,
        };
        let (ys, d) = (y.as_slice(), dy.as_mut_slice());
        let mut du = 0.0;
        for (m, energy) in self.rates.mechanisms().iter().zip(&self.channel_energy) {
            du -= m.add_fluxes(&at, energy, ys, d);
        }
        d[n] = du;
        let mut dw = 0.0;
        if bdot != 0.0 {
            for i in 0..n {
                dw += ys[i] * self.spin.energy_slope_k_per_t(i);
            }
        }
        d[n + 1] = bdot * dw;
        if let Some(link) = self.drive.active_link(t) {
            let q = link.heat_flow_k_per_s(temp);
            d[n] -= q;
            d[n + 2] = q;
        }
        Ok(())
    }

    fn jacobian(
        &self,
        t: f64,
        y: &DVector<f64>,
        jac: &mut DMatrix<f64>,
    ) -> Result<(), NumericsError> {
        let n = self.n_levels();
        let (b, bdot) = self.drive.field_and_rate(t);
        let temp = self.temperature_k(y);
        jac.fill(0.0);
        let (kappa, dlnk) = self.rates.kappa_and_log_derivative(temp)?;
        // dT/dU_ph = 1/C_ph.
        let dtdu = 1.0 / self.debye.heat_capacity(temp);
        let at = RatePoint {
            field_t: b,
            t_k: temp,
            kappa_per_s_k3: kappa,
            dln_kappa_dt: dlnk,
        };
        let (mut de_buf, mut r_buf) = (Scratch::new(), Scratch::new());
        for (m, energy) in self.rates.mechanisms().iter().zip(&self.channel_energy) {
            let de: &mut [f64] = de_buf.get(energy.len());
            for (d, &[e0, slope]) in de.iter_mut().zip(energy) {
                *d = e0 + slope * b;
            }
            let rates: &mut [PairRatesDt] = r_buf.get(energy.len());
            m.rates_and_dt(&at, de, rates);
            for ((c, &de), r) in m.channels().iter().zip(de.iter()).zip(rates.iter()) {
                for (from, to, rate, drdt, d) in
                    [(c.i, c.j, r[0], r[1], de), (c.j, c.i, r[2], r[3], -de)]
                {
                    jac[(to, from)] += rate;
                    jac[(from, from)] -= rate;
                    jac[(n, from)] -= rate * d;
                    // d flux / dT = n_from dr/dT.
                    let dflux_du = drdt * y[from] * dtdu;
                    jac[(to, n)] += dflux_du;
                    jac[(from, n)] -= dflux_du;
                    jac[(n, n)] -= dflux_du * d;
                }
            }
        }
        if bdot != 0.0 {
            for i in 0..n {
                jac[(n + 1, i)] = bdot * self.spin.energy_slope_k_per_t(i);
            }
        }
        if let Some(link) = self.drive.active_link(t) {
            // dQ/dU_ph = K(T) dT/dU_ph.
            let dq = link.conductance_per_s(temp) * dtdu;
            jac[(n, n)] -= dq;
            jac[(n + 2, n)] = dq;
        }
        Ok(())
    }
}
