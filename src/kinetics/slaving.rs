//! A posteriori error estimate of the two-well reduction on a ramp (docs/numerics.md
//! section 11): the first-order slaving correction of the fast (intra-well) modes.
//!
//! The reduction puts the populations on the local slow manifold
//!   n_s(B, T, P_R) = P_L p_L(B, T) + P_R p_R(B, T).
//! The full equation dn/dt = kappa W n then carries n = n_s + delta, and to first order in
//! (the rate of change of n_s) / lambda_2 the fast part delta is slaved to it:
//!   kappa W delta = dn_s/dt - kappa W n_s,   sum delta = 0,   q_R . delta = 0
//! (delta lies in the fast subspace: it moves neither the total nor the well occupation).
//! The temperature error that delta implies follows from the energy balance: the spins hold
//! E . delta more energy than the reduction assumes, and the ramp has done
//!   delta_w(t) = int_0^t (dB/dt) E' . delta dt'
//! more work, so T_full - T_red ~ (delta_w - E . delta) / C_tot with C_tot = d E_tot / dT at
//! fixed (B, P_R). A residual along the slow coordinate, which the fast modes cannot take up,
//! is a drift of P_R that the reduced equation misses, integrated with its relaxation rate
//! lambda_1. The estimate is evaluated at the reduced ramp's accepted steps (the trapezoid
//! rule for delta_w) with the engine's own rate matrix and temperature solve, the latter on a
//! fresh copy of the reduced system (the run's own keeps a history of starting points, which
//! is not touched: the estimate cannot change the run it estimates).

use super::reduced::ReducedSystem;
use crate::error::NumericsError;
use crate::model::protocol::Protocol;
use crate::model::GiantSpin;
use crate::rates::mechanism::{PairRatesDt, RatePoint};
use crate::rates::RateModel;
use nalgebra::{DMatrix, DVector};

/// The slaving estimate of a reduced ramp.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SlavingEstimate {
    /// Largest |T_full - T_red| to first order over the ramp's samples and at the
    /// equilibrium after it (delta_w / C_tot there), K.
    pub error_k: f64,
    /// Largest |T - T_i| over the ramp's steps, K.
    pub change_k: f64,
}

/// Largest number of a reduced ramp's steps at which the estimate is evaluated (more are
/// thinned evenly: the cost stays bounded; each point costs five rate-chain factorizations and
/// a 23 x 21 least-squares solve for Mn12Ac).
const MAX_POINTS: usize = 64;

/// Populations on the slow manifold at (B, T) with right-well occupation `right`.
fn manifold(red: &ReducedSystem<'_>, b: f64, t: f64, right: f64) -> Vec<f64> {
    red.populations(b, t, right)
}

/// Total energy (spins on the slow manifold + phonons) at (B, T, P_R), K.
fn total_energy(red: &ReducedSystem<'_>, spin: &GiantSpin, b: f64, t: f64, right: f64) -> f64 {
    energy_of(red, spin, b, t, &manifold(red, b, t, right))
}

/// Total energy (spins with populations `n` + phonons) at (B, T), K.
fn energy_of(red: &ReducedSystem<'_>, spin: &GiantSpin, b: f64, t: f64, n: &[f64]) -> f64 {
    n.iter()
        .enumerate()
        .map(|(i, p)| p * spin.energy_k(i, b))
        .sum::<f64>()
        + red.debye().energy_k(t)
}

/// One accepted step of a reduced ramp: time (s), P_R, temperature (K) and the heat flow to
/// the bath there (K/s).
struct Point {
    t_s: f64,
    right: f64,
    t_k: f64,
    heat_flow_k_per_s: f64,
}

/// The rate matrix kappa W (1/s) at (B, T): W[(to, from)] the rate from level `from` to
/// `to`, the diagonal minus the total rate out, as the full system's Jacobian holds it.
fn rate_matrix(
    rates: &RateModel,
    spin: &GiantSpin,
    b: f64,
    t_k: f64,
) -> Result<DMatrix<f64>, NumericsError> {
    let nlev = spin.n_levels();
    let (kappa, dlnk) = rates.kappa_and_log_derivative(t_k)?;
    let at = RatePoint {
        field_t: b,
        t_k,
        kappa_per_s_k3: kappa,
        dln_kappa_dt: dlnk,
    };
    let mut w = DMatrix::zeros(nlev, nlev);
    for m in rates.mechanisms() {
        let channels = m.channels();
        let de: Vec<f64> = channels
            .iter()
            .map(|c| {
                spin.energy_k(c.j, 0.0) - spin.energy_k(c.i, 0.0)
                    + (spin.energy_slope_k_per_t(c.j) - spin.energy_slope_k_per_t(c.i)) * b
            })
            .collect();
        let mut r: Vec<PairRatesDt> = vec![[0.0; 4]; channels.len()];
        m.rates_and_dt(&at, &de, &mut r);
        for (c, r) in channels.iter().zip(&r) {
            for (from, to, rate) in [(c.i, c.j, r[0]), (c.j, c.i, r[2])] {
                w[(to, from)] += rate;
                w[(from, from)] -= rate;
            }
        }
    }
    Ok(w)
}

/// The first-order slaving correction at one point of a reduced ramp.
fn correction_at(
    red: &ReducedSystem<'_>,
    rates: &RateModel,
    spin: &GiantSpin,
    protocol: &Protocol,
    s: &Point,
) -> Result<Correction, NumericsError> {
    let nlev = spin.n_levels();
    let (b, bdot) = protocol.field_and_rate(s.t_s, false, None);
    let (temp, right) = (s.t_k, s.right);
    let (ws, lambda1) = red.well_state_and_rate(b, temp)?;
    // n_s is linear in P_R: n_s = p_L + P_R (p_R - p_L). The well state of
    // well_state_and_rate is well_state's (the same committors), computed once.
    let p_l = ReducedSystem::populations_of(&ws, 0.0);
    let p_r = ReducedSystem::populations_of(&ws, 1.0);
    let dir: Vec<f64> = p_r.iter().zip(&p_l).map(|(r, l)| r - l).collect();
    let n_s: Vec<f64> = p_l.iter().zip(&dir).map(|(l, d)| l + right * d).collect();
    let dright = lambda1 * (ws.right_eq - right);
    // Partial derivatives of n_s and of the total energy by central differences.
    // The populations at the four points are computed once each; the energies there are
    // their sums.
    let hb = 1e-6 * b.abs().max(1e-3);
    let ht = 1e-6 * temp;
    let diff = |plus: &[f64], minus: &[f64], h: f64| -> Vec<f64> {
        plus.iter()
            .zip(minus)
            .map(|(p, m)| (p - m) / (2.0 * h))
            .collect()
    };
    let points = [
        (b + hb, temp),
        (b - hb, temp),
        (b, temp + ht),
        (b, temp - ht),
    ];
    let pops = points.map(|(bb, tt)| manifold(red, bb, tt, right));
    let energies: Vec<f64> = points
        .iter()
        .zip(&pops)
        .map(|(&(bb, tt), n)| energy_of(red, spin, bb, tt, n))
        .collect();
    let dn_db = diff(&pops[0], &pops[1], hb);
    let dn_dt = diff(&pops[2], &pops[3], ht);
    let de_db = diff(&energies[0..1], &energies[1..2], hb)[0];
    let c_tot = diff(&energies[2..3], &energies[3..4], ht)[0];
    let de_dright: f64 = dir
        .iter()
        .enumerate()
        .map(|(i, d)| d * spin.energy_k(i, b))
        .sum();
    // dT/dt from the energy balance: d E_tot/dt = dw/dt - Q.
    let slope: Vec<f64> = (0..nlev).map(|i| spin.energy_slope_k_per_t(i)).collect();
    let power =
        bdot * n_s.iter().zip(&slope).map(|(n, e)| n * e).sum::<f64>() - s.heat_flow_k_per_s;
    let dtemp = (power - de_db * bdot - de_dright * dright) / c_tot;
    let dns: Vec<f64> = (0..nlev)
        .map(|i| dn_db[i] * bdot + dn_dt[i] * dtemp + dir[i] * dright)
        .collect();
    // kappa W at (B, T), from the mechanisms' channels as the full system builds it.
    let w = rate_matrix(rates, spin, b, temp)?;
    let scale = (0..nlev).map(|i| w[(i, i)].abs()).fold(0.0, f64::max);
    // kappa W delta = dn_s/dt - kappa W n_s with the two constraints as extra rows, scaled
    // like the matrix; solved in the least-squares sense (W is singular).
    let mut a = DMatrix::zeros(nlev + 2, nlev);
    let mut rhs = DVector::zeros(nlev + 2);
    let wn = &w * DVector::from_column_slice(&n_s);
    for i in 0..nlev {
        for j in 0..nlev {
            a[(i, j)] = w[(i, j)];
        }
        rhs[i] = dns[i] - wn[i];
        a[(nlev, i)] = scale;
        a[(nlev + 1, i)] = scale * ws.weights[1][i];
    }
    let delta = least_squares(a, &rhs, 1e-14 * scale).ok_or(NumericsError::NoSpectralGap {
        field_t: b,
        temperature_k: temp,
    })?;
    let e_delta: f64 = (0..nlev).map(|i| delta[i] * spin.energy_k(i, b)).sum();
    let power_delta: f64 = bdot * (0..nlev).map(|i| delta[i] * slope[i]).sum::<f64>();
    // The part of the residual along the slow coordinate, which the fast modes cannot take
    // up: a drift of the well occupation that the reduced equation misses.
    let q = &ws.weights[1];
    let q_dir: f64 = q.iter().zip(&dir).map(|(a, b)| a * b).sum();
    let drift = -(0..nlev).map(|i| q[i] * rhs[i]).sum::<f64>() / q_dir;
    // Its rounding floor: kappa W n_s is a sum of cancelling intra-well fluxes (noise
    // ~eps sum |W_ij| n_j, section 2 of docs/numerics.md), and dn_s/dt comes from central
    // differences over 1e-6 (relative noise ~1e-10). At low temperature the true drift,
    // of order lambda_1/lambda_2, lies far below it: a drift within 100 times the floor is
    // taken as zero (divided by a tiny lambda_1 the noise would read as a large error).
    let floor = (0..nlev)
        .map(|i| {
            let flux: f64 = (0..nlev).map(|j| (w[(i, j)] * n_s[j]).abs()).sum();
            q[i] * (f64::EPSILON * flux + 1e-9 * dns[i].abs())
        })
        .sum::<f64>()
        / q_dir.abs();
    let drift = if drift.abs() <= 100.0 * floor {
        0.0
    } else {
        drift
    };
    let power_dright = bdot * dir.iter().zip(&slope).map(|(d, e)| d * e).sum::<f64>();
    Ok(Correction {
        e_delta,
        power_delta,
        c_tot,
        drift,
        lambda1,
        de_dright,
        power_dright,
    })
}

/// The least-squares solution of `a x = rhs` (`a` with at least as many rows as columns),
/// singular values below `cutoff` left out. By Householder QR when `a` is safely of full
/// column rank (every |R_ii| above 1e6 `cutoff`: the smallest singular value is at most the
/// smallest |R_ii|, and a well-conditioned R makes the two solutions agree to rounding);
/// otherwise by the SVD, which truncates. The QR costs a tenth of the SVD with its vectors.
fn least_squares(a: DMatrix<f64>, rhs: &DVector<f64>, cutoff: f64) -> Option<DVector<f64>> {
    let n = a.ncols();
    let qr = a.clone().qr();
    let r = qr.r();
    if (0..n).all(|i| r[(i, i)].abs() > 1e6 * cutoff) {
        // Q^T rhs by the Householder reflections themselves (Q is never formed).
        let mut qt_rhs = rhs.clone();
        qr.q_tr_mul(&mut qt_rhs);
        if let Some(x) = r.solve_upper_triangular(&qt_rhs.rows(0, n).into_owned()) {
            return Some(x);
        }
    }
    a.svd(true, true).solve(rhs, cutoff).ok()
}

/// The first-order slaving correction at one sample (energies in K, powers in K/s).
struct Correction {
    /// E . delta.
    e_delta: f64,
    /// (dB/dt) E' . delta.
    power_delta: f64,
    /// d E_tot / dT at fixed (B, P_R).
    c_tot: f64,
    /// The drift of P_R the reduced equation misses, 1/s.
    drift: f64,
    /// lambda_1, 1/s.
    lambda1: f64,
    /// d E_tot / d P_R.
    de_dright: f64,
    /// d (dw/dt) / d P_R.
    power_dright: f64,
}

/// The slaving estimate of a reduced ramp over its accepted steps, `steps` = (t in s, P_R,
/// net energy received w - q in K) from t = 0 to t_q (thinned evenly to at most 64), with
/// their temperatures solved by `solver` (a fresh copy of the run's reduced system, so that
/// the run's own solves keep their history), from the initial temperature `t_i` (K);
/// `(b_f, t_eq)` is the
/// equilibrium after the ramp, where the total heat capacity turns the extra work into the
/// error of the final temperature. `heat_flow(t, T)` is the heat flow to the bath, K/s.
#[allow(clippy::too_many_arguments)]
pub(crate) fn estimate(
    red: &ReducedSystem<'_>,
    rates: &RateModel,
    spin: &GiantSpin,
    protocol: &Protocol,
    steps: &[[f64; 3]],
    solver: &ReducedSystem<'_>,
    t_i: f64,
    (b_f, t_eq): (f64, f64),
    heat_flow: impl Fn(f64, f64) -> f64,
) -> Result<SlavingEstimate, NumericsError> {
    let p_eq = red.well_state(b_f, t_eq).right_eq;
    let h = 1e-6 * t_eq;
    let c_eq = (total_energy(red, spin, b_f, t_eq + h, p_eq)
        - total_energy(red, spin, b_f, t_eq - h, p_eq))
        / (2.0 * h);
    let stride = steps.len().div_ceil(MAX_POINTS).max(1);
    let mut ramp = Vec::with_capacity(MAX_POINTS + 1);
    for (k, &[t_s, right, net]) in steps.iter().enumerate() {
        if k % stride != 0 && k + 1 != steps.len() {
            continue;
        }
        let b = protocol.field_and_rate(t_s, false, None).0;
        let t_k = solver.temperature_k(b, right, net)?;
        ramp.push(Point {
            t_s,
            right,
            t_k,
            heat_flow_k_per_s: heat_flow(t_s, t_k),
        });
    }
    let mut work = 0.0;
    let mut error: f64 = 0.0;
    let mut dright = 0.0;
    let mut prev: Option<(f64, Correction)> = None;
    for s in &ramp {
        let c = correction_at(red, rates, spin, protocol, s)?;
        if let Some((t0, p)) = &prev {
            let h = s.t_s - t0;
            // dP/dt = -lambda1 P + drift, exactly over the interval with averaged coefficients.
            let lambda = 0.5 * (p.lambda1 + c.lambda1);
            let drift = 0.5 * (p.drift + c.drift);
            let decay = (-lambda * h).exp();
            let dright_new = dright * decay + drift * (-(-lambda * h).exp_m1()) / lambda;
            work += 0.5
                * h
                * (p.power_delta
                    + c.power_delta
                    + p.power_dright * dright
                    + c.power_dright * dright_new);
            dright = dright_new;
        }
        let end = (work - c.e_delta - c.de_dright * dright) / c.c_tot;
        error = error.max(end.abs());
        prev = Some((s.t_s, c));
    }
    error = error.max((work / c_eq).abs());
    let change_k = ramp.iter().map(|p| (p.t_k - t_i).abs()).fold(0.0, f64::max);
    Ok(SlavingEstimate {
        error_k: error,
        change_k,
    })
}
