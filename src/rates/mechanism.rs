//! Relaxation mechanisms: the channels of the master equation and their rates.
//!
//! A [`Mechanism`] declares its channels (pairs of levels i < j coupled in both directions) and,
//! at a field and a phonon temperature, gives their rates and the temperature derivatives the
//! engine needs. The generic engine code assembles everything from these: the band [`Chain`] of
//! the slow mode and the committors ([`crate::rates::RateModel::unscaled_chain`]), the full
//! right-hand side and its analytic Jacobian ([`crate::kinetics::full`]) and the structure of
//! the Newton matrices ([`crate::rates::RateModel::band`]). A [`crate::rates::RateModel`] holds
//! a list of mechanisms; today it is the spin-phonon one ([`SpinPhonon`]) alone.
//!
//! # Units and kappa
//! The chain used by the slow mode is "unscaled": its rates are the physical ones divided by
//! kappa(T) (1/(s K^3)), so they are in K^3 and the physical rate matrix is kappa(T) times the
//! chain. A mechanism proportional to kappa ([`Mechanism::proportional_to_kappa`], the spin-phonon
//! one) gives its rates without it; a mechanism that is not (tunnelling, whose rates are in 1/s)
//! divides by the kappa of the [`RatePoint`]. The Arrhenius calibration of kappa itself uses the
//! proportional mechanisms only (the zero-field slow mode of those), as kappa is not known then.
//!
//! # Energies and heat
//! Every transition i -> j takes E_j - E_i from the phonons, whatever the mechanism (an elastic
//! one too: the bias is exchanged with the lattice), so the generic code forms the heat flow
//! from the channel energies; it passes them to the mechanism (`de_k`, E_j - E_i at the point's
//! field, each path computing them its own established way).
//!
//! # Band width and cost
//! The half band width of the chain and of the population block of the Newton matrices is the
//! largest |i - j| over all channels (2 for spin-phonon). A wide channel (tunnelling between
//! m and -m-k: |i - j| up to 2S) widens the band: the chain's GTH factors cost O(n b^2) and the
//! bordered Newton LU O(n b (b + 2)) instead of O(n * 4); when the band covers the whole
//! population block (2b + 1 >= n) the Newton matrices fall back to the dense pivoted LU
//! (O(n^3)). For Mn12Ac (n = 21) either is a few microseconds per factorization.
//!
//! # Paths
//! Three evaluation paths with their own rounding (kept from the engine before mechanisms, so
//! that its numbers are bit-identical): [`Mechanism::unscaled_rates`] for the chain (precision),
//! [`Mechanism::rates_and_dt`] for the Jacobian, [`Mechanism::add_fluxes`] for the right-hand
//! side (the hot path, one virtual call per mechanism and evaluation; the default goes through
//! `rates_and_dt`, a mechanism on the hot path overrides it).

use crate::model::GiantSpin;
use crate::numerics::expo::{exp_lanes, EXP_MAX_ARG};
use crate::rates::slowmode::Chain;
use crate::rates::{
    bose_pair_and_dt, bose_pair_dt_and_ratio, bose_ratio, transition_pairs, transitions,
    Transition, TransitionPair,
};
use std::fmt::Debug;

/// Two levels i < j coupled by a mechanism in both directions (i -> j "forward").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Channel {
    /// Lower level index.
    pub i: usize,
    /// Upper level index.
    pub j: usize,
}

/// Where rates are evaluated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RatePoint {
    /// Field, T.
    pub field_t: f64,
    /// Phonon temperature, K.
    pub t_k: f64,
    /// kappa(T), 1/(s K^3). NaN on the chain path when every mechanism is proportional to kappa
    /// (none needs it) and in the Arrhenius calibration.
    pub kappa_per_s_k3: f64,
    /// d ln kappa / dT, 1/K. Meaningful on the Jacobian path only (NaN elsewhere).
    pub dln_kappa_dt: f64,
}

/// Rates of one channel: [forward i -> j, backward j -> i].
pub type PairRates = [f64; 2];

/// Rates of one channel with their temperature derivatives at fixed populations and field:
/// [r_ij, dr_ij/dT, r_ji, dr_ji/dT], 1/s and 1/(s K).
pub type PairRatesDt = [f64; 4];

/// A relaxation mechanism: channels between levels and their rates at (B, T).
///
/// Slices passed to the methods are indexed like [`Mechanism::channels`].
pub trait Mechanism: Debug + Send + Sync {
    /// A short name (for messages).
    fn name(&self) -> &str;

    /// The channels, each (i, j) at most once.
    fn channels(&self) -> &[Channel];

    /// Everything that decides this mechanism's rates besides (B, T) and kappa, as bits: the
    /// key under which an [`crate::kinetics::EngineContext`] shares tables computed from it
    /// (two mechanisms with equal names and keys must give equal rates).
    fn key(&self) -> Vec<u64>;

    /// The fields (T) near which this mechanism's rates have narrow resonances (a tunnelling
    /// channel's Lorentzian, 1e-15 to 1e-2 T wide, at its crossing field). The ramps stop
    /// there so that the integrator cannot step over one, and the plane well table (smooth in
    /// B) is not used (the line table at the final field is). Empty for smooth mechanisms (the
    /// default).
    fn resonance_fields_t(&self) -> Vec<f64> {
        Vec::new()
    }

    /// The fields (T) where this mechanism's rates are not smooth in B: its resonances and
    /// any kinks (a tunnelling channel's window edges). The plane well table builds no panel
    /// holding one (docs/numerics.md section 7, "With tunnelling"). By default the resonance
    /// fields.
    fn table_breaks_t(&self) -> Vec<f64> {
        self.resonance_fields_t()
    }

    /// Whether the rates are proportional to kappa(T) (the spin-phonon ones). Others are
    /// divided by kappa on the chain path and left out of the Arrhenius calibration.
    fn proportional_to_kappa(&self) -> bool {
        true
    }

    /// The channels' rates divided by kappa (see the module docs; K^3 for kappa in
    /// 1/(s K^3)) at `at`, with `de_k[c]` = E_j - E_i of channel c. The chain path: the slow
    /// mode and the committors are computed from these to full relative precision, so they
    /// should keep it (positive arithmetic).
    fn unscaled_rates(&self, at: &RatePoint, de_k: &[f64], out: &mut [PairRates]);

    /// Add the channels' unscaled rates ([`Mechanism::unscaled_rates`]) at `at` to `chain`,
    /// with `e` the level energies at the point's field (E_j - E_i of channel (i, j) is
    /// `e[j] - e[i]`). The default goes through `unscaled_rates`; a mechanism on the chain's
    /// hot path (the reduction's well state at every population and temperature evaluation)
    /// may write its rates straight into the chain, with the same values bit for bit.
    fn add_unscaled_to_chain(&self, at: &RatePoint, e: &[f64], chain: &mut Chain) {
        let ch = self.channels();
        let (mut de_buf, mut r_buf) = (Scratch::new(), Scratch::new());
        let de: &mut [f64] = de_buf.get(ch.len());
        for (d, c) in de.iter_mut().zip(ch) {
            *d = e[c.j] - e[c.i];
        }
        let r: &mut [PairRates] = r_buf.get(ch.len());
        self.unscaled_rates(at, de, r);
        for (c, r) in ch.iter().zip(r.iter()) {
            chain.add_rate(c.i, c.j, r[0]);
            chain.add_rate(c.j, c.i, r[1]);
        }
    }

    /// The channels' physical rates (1/s, i.e. including kappa) and their derivatives with
    /// respect to T (through kappa and the mechanism's own T dependence), for the Jacobian.
    /// The default [`Mechanism::add_fluxes`] calls it too, with `dln_kappa_dt` NaN (it uses the
    /// rates only).
    fn rates_and_dt(&self, at: &RatePoint, de_k: &[f64], out: &mut [PairRatesDt]);

    /// [`Mechanism::rates_and_dt`] (the same values) and, where the mechanism has them in
    /// closed form, the rates' derivatives with respect to the field at fixed T into `db`
    /// ([d r_ij/dB, d r_ji/dB] in 1/(s T)), with `slope_k_per_t[c]` = d(E_j - E_i)/dB of
    /// channel c; returns whether `db` was filled. The default fills `out` alone and returns
    /// false (a caller then differences the rates in B).
    fn rates_dt_and_db(
        &self,
        at: &RatePoint,
        de_k: &[f64],
        slope_k_per_t: &[f64],
        out: &mut [PairRatesDt],
        db: &mut [[f64; 2]],
    ) -> bool {
        let _ = (slope_k_per_t, db);
        self.rates_and_dt(at, de_k, out);
        false
    }

    /// Add the channels' net fluxes to `dn` (dn_j += F, dn_i -= F with F = r_ij n_i - r_ji n_j
    /// in 1/s) and return the heat they take from the phonons, sum F (E_j - E_i), K/s.
    /// `energy[c]` = [a, b] gives E_j - E_i = a + b B of channel c. The right-hand side's hot
    /// path; `at.dln_kappa_dt` is not set there.
    fn add_fluxes(&self, at: &RatePoint, energy: &[[f64; 2]], n: &[f64], dn: &mut [f64]) -> f64 {
        let (mut de_buf, mut r_buf) = (Scratch::new(), Scratch::new());
        let de: &mut [f64] = de_buf.get(energy.len());
        for (d, &[a, b]) in de.iter_mut().zip(energy) {
            *d = a + b * at.field_t;
        }
        let r: &mut [PairRatesDt] = r_buf.get(energy.len());
        self.rates_and_dt(at, de, r);
        let mut heat = 0.0;
        for ((c, d), r) in self.channels().iter().zip(de.iter()).zip(r.iter()) {
            let flux = r[0] * n[c.i] - r[2] * n[c.j];
            dn[c.j] += flux;
            dn[c.i] -= flux;
            heat += flux * d;
        }
        heat
    }
}

/// A scratch buffer for per-channel values: on the stack up to 64 entries (no allocation on
/// the chain and Jacobian paths, which run thousands of times per trajectory), else on the heap.
/// The stack part is not initialized when the buffer is made: [`Scratch::get`] zeroes only
/// the entries it hands out (a buffer of 64 four-value entries is 2 KiB, which zeroing in full
/// at every use cost more than the rates written into it).
pub(crate) struct Scratch<T> {
    stack: [std::mem::MaybeUninit<T>; 64],
    heap: Vec<T>,
}

impl<T: Copy + Default> Scratch<T> {
    /// An empty buffer.
    pub(crate) fn new() -> Self {
        Self {
            stack: [const { std::mem::MaybeUninit::uninit() }; 64],
            heap: Vec::new(),
        }
    }

    /// A zeroed slice of length `len`.
    pub(crate) fn get(&mut self, len: usize) -> &mut [T] {
        if len <= self.stack.len() {
            let s = &mut self.stack[..len];
            for x in s.iter_mut() {
                x.write(T::default());
            }
            // SAFETY: every element of `s` has just been initialized, and MaybeUninit<T> has
            // the size, alignment and layout of T.
            unsafe { &mut *(std::ptr::from_mut::<[std::mem::MaybeUninit<T>]>(s) as *mut [T]) }
        } else {
            self.heap.clear();
            self.heap.resize(len, T::default());
            &mut self.heap
        }
    }
}

/// Largest |i - j| over the channels of `mechanisms` (0 without channels).
pub fn band_of(mechanisms: &[std::sync::Arc<dyn Mechanism>]) -> usize {
    mechanisms
        .iter()
        .flat_map(|m| m.channels().iter().map(|c| c.j.abs_diff(c.i)))
        .max()
        .unwrap_or(0)
}

/// Add the unscaled rates of `mechanisms` at `at` to `chain`, from the level energies `e` at
/// the point's field.
pub fn add_to_chain(
    mechanisms: &[std::sync::Arc<dyn Mechanism>],
    at: &RatePoint,
    e: &[f64],
    chain: &mut Chain,
) {
    for m in mechanisms {
        m.add_unscaled_to_chain(at, e, chain);
    }
}

/// The spin-phonon mechanism (docs/physics.md section 5): Delta M = +-1, +-2 transitions with the
/// Leuenberger-Loss weights and the one-phonon Bose factor, proportional to kappa(T) (see
/// [`crate::rates`]). One exponential per channel serves both directions.
#[derive(Debug, Clone, PartialEq)]
pub struct SpinPhonon {
    transitions: Vec<Transition>,
    pairs: Vec<TransitionPair>,
    channels: Vec<Channel>,
}

impl SpinPhonon {
    /// The spin-phonon channels of `spin`.
    pub fn new(spin: &GiantSpin) -> Self {
        let transitions = transitions(spin);
        let pairs = transition_pairs(&transitions);
        let channels = pairs.iter().map(|p| Channel { i: p.i, j: p.j }).collect();
        Self {
            transitions,
            pairs,
            channels,
        }
    }

    /// The transitions with their weights c s(M -> M').
    pub fn transitions(&self) -> &[Transition] {
        &self.transitions
    }

    /// The transitions as opposite pairs (in the order of the channels).
    pub fn pairs(&self) -> &[TransitionPair] {
        &self.pairs
    }
}

impl Mechanism for SpinPhonon {
    fn name(&self) -> &str {
        "spin-phonon"
    }

    fn key(&self) -> Vec<u64> {
        self.pairs
            .iter()
            .flat_map(|p| {
                [
                    p.i as u64,
                    p.j as u64,
                    p.weight_ij.to_bits(),
                    p.weight_ji.to_bits(),
                ]
            })
            .collect()
    }

    fn channels(&self) -> &[Channel] {
        &self.channels
    }

    fn unscaled_rates(&self, at: &RatePoint, de_k: &[f64], out: &mut [PairRates]) {
        for ((p, &de), o) in self.pairs.iter().zip(de_k).zip(out.iter_mut()) {
            let ((f_ij, _), (f_ji, _)) = bose_pair_and_dt(de, at.t_k);
            *o = [p.weight_ij * f_ij, p.weight_ji * f_ji];
        }
    }

    /// [`SpinPhonon::unscaled_rates`] written straight into the chain (no per-channel
    /// buffers): the same operations per channel, so the same rates bit for bit.
    fn add_unscaled_to_chain(&self, at: &RatePoint, e: &[f64], chain: &mut Chain) {
        for p in &self.pairs {
            let ((f_ij, _), (f_ji, _)) = bose_pair_and_dt(e[p.j] - e[p.i], at.t_k);
            chain.add_rate(p.i, p.j, p.weight_ij * f_ij);
            chain.add_rate(p.j, p.i, p.weight_ji * f_ji);
        }
    }

    fn rates_and_dt(&self, at: &RatePoint, de_k: &[f64], out: &mut [PairRatesDt]) {
        let (kappa, dlnk) = (at.kappa_per_s_k3, at.dln_kappa_dt);
        for ((p, &de), o) in self.pairs.iter().zip(de_k).zip(out.iter_mut()) {
            let ((f_ij, dfdt_ij), (f_ji, dfdt_ji)) = bose_pair_and_dt(de, at.t_k);
            // r = kappa w f; dr/dT = w (kappa' f + kappa f_T), kappa' = kappa dlnk.
            *o = [
                kappa * p.weight_ij * f_ij,
                kappa * p.weight_ij * (dlnk * f_ij + dfdt_ij),
                kappa * p.weight_ji * f_ji,
                kappa * p.weight_ji * (dlnk * f_ji + dfdt_ji),
            ];
        }
    }

    /// The rates of [`SpinPhonon::rates_and_dt`] (the same operations, the same bits) and
    /// their field derivatives from the same exponential: with y = |dE|/T, r = y/(e^y - 1),
    /// the uphill factor f = dE^2 T r has df/d|dE| = T^2 y r (3 - y - r) and the downhill one
    /// f + |dE|^3 has T^2 y (y + r)(3 - r); d|dE|/dB = sign(dE) d(dE)/dB.
    fn rates_dt_and_db(
        &self,
        at: &RatePoint,
        de_k: &[f64],
        slope_k_per_t: &[f64],
        out: &mut [PairRatesDt],
        db: &mut [[f64; 2]],
    ) -> bool {
        let (kappa, dlnk, temp) = (at.kappa_per_s_k3, at.dln_kappa_dt, at.t_k);
        for ((((p, &de), &slope), o), d) in self
            .pairs
            .iter()
            .zip(de_k)
            .zip(slope_k_per_t)
            .zip(out.iter_mut())
            .zip(db.iter_mut())
        {
            let (((f_ij, dfdt_ij), (f_ji, dfdt_ji)), y, r_up) = bose_pair_dt_and_ratio(de, temp);
            *o = [
                kappa * p.weight_ij * f_ij,
                kappa * p.weight_ij * (dlnk * f_ij + dfdt_ij),
                kappa * p.weight_ji * f_ji,
                kappa * p.weight_ji * (dlnk * f_ji + dfdt_ji),
            ];
            let t2y = temp * temp * y;
            let d_up = t2y * r_up * (3.0 - y - r_up);
            let d_down = t2y * (y + r_up) * (3.0 - r_up);
            // d|dE|/dB: the forward rate is the uphill one where dE >= 0.
            let (d_ij, d_ji) = if de >= 0.0 {
                (d_up * slope, d_down * slope)
            } else {
                (-d_down * slope, -d_up * slope)
            };
            *d = [kappa * p.weight_ij * d_ij, kappa * p.weight_ji * d_ji];
        }
        true
    }

    fn add_fluxes(&self, at: &RatePoint, energy: &[[f64; 2]], n: &[f64], dn: &mut [f64]) -> f64 {
        let (b, temp, kappa) = (at.field_t, at.t_k, at.kappa_per_s_k3);
        let inv_t = 1.0 / temp;
        // The channels' x = |dE|/T first, then their exponentials in one vectorized pass
        // (`exp_lanes`, within 1 ulp of libm's), then the fluxes.
        let len = self.pairs.len();
        let (mut x_buf, mut e_buf) = (Scratch::new(), Scratch::new());
        let (xs, es): (&mut [f64], &mut [f64]) = (x_buf.get(len), e_buf.get(len));
        for (x, &[e0, slope]) in xs.iter_mut().zip(energy) {
            *x = (e0 + slope * b).abs() * inv_t;
        }
        exp_lanes(xs, es);
        let mut du = 0.0;
        for (((p, &[e0, slope]), &x), &ex) in self.pairs.iter().zip(energy).zip(&*xs).zip(&*es) {
            let de = e0 + slope * b;
            // f(dE) = dE^2 T x/(e^x - 1) with x = dE/T, and f(-dE) = f(dE) + dE^3 (detailed
            // balance), from one exponential (see `bose_pair_and_dt`; `bose_ratio` with the
            // exponential computed above where it takes exp).
            let r_up = if (0.5..=EXP_MAX_ARG).contains(&x) {
                x / (ex - 1.0)
            } else {
                bose_ratio(x)
            };
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
                * (p.weight_ij * r_ij * n[p.i] - p.weight_ji * r_ji * n[p.j]);
            dn[p.j] += flux;
            dn[p.i] -= flux;
            du -= flux * de;
        }
        -du
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spin-phonon rates' field derivatives in closed form (`rates_dt_and_db`) against
    /// central differences of `rates_and_dt` over 1e-6 of B, and its rates equal to
    /// `rates_and_dt`'s bit for bit: Mn12Ac's channels from 0.5 to 20 K at fields where gaps
    /// of both signs and near zero occur.
    #[test]
    fn spin_phonon_field_derivatives_match_differences_of_the_rates() {
        let m = crate::model::Material::mn12ac();
        let mech = SpinPhonon::new(&m.spin);
        let ch = mech.channels();
        let gap = |c: &Channel, b: f64| m.spin.energy_k(c.j, b) - m.spin.energy_k(c.i, b);
        let slopes: Vec<f64> = ch
            .iter()
            .map(|c| m.spin.energy_slope_k_per_t(c.j) - m.spin.energy_slope_k_per_t(c.i))
            .collect();
        let mut checked = 0;
        for &t in &[0.5, 2.0, 6.0, 20.0] {
            for &b in &[-0.7, 0.0, 0.1, 0.52, 1.0, 4.0] {
                let at = |field_t| RatePoint {
                    field_t,
                    t_k: t,
                    kappa_per_s_k3: 3.0e5,
                    dln_kappa_dt: 0.7,
                };
                let rates = |bb: f64| {
                    let de: Vec<f64> = ch.iter().map(|c| gap(c, bb)).collect();
                    let mut r = vec![[0.0; 4]; ch.len()];
                    mech.rates_and_dt(&at(bb), &de, &mut r);
                    (de, r)
                };
                let (de, r) = rates(b);
                let (mut r2, mut db) = (vec![[0.0; 4]; ch.len()], vec![[0.0; 2]; ch.len()]);
                assert!(mech.rates_dt_and_db(&at(b), &de, &slopes, &mut r2, &mut db));
                assert!(r
                    .iter()
                    .flatten()
                    .zip(r2.iter().flatten())
                    .all(|(x, y)| x.to_bits() == y.to_bits()));
                let h = 1e-6;
                let ((_, rp), (_, rm)) = (rates(b + h), rates(b - h));
                let fd = |c: usize, k: usize| (rp[c][k] - rm[c][k]) / (2.0 * h);
                let largest = (0..ch.len())
                    .flat_map(|c| [fd(c, 0), fd(c, 2)])
                    .fold(0.0f64, |m, x| m.max(x.abs()));
                for c in 0..ch.len() {
                    for (k, d) in [(0, db[c][0]), (2, db[c][1])] {
                        let fd = fd(c, k);
                        // The difference's rounding (~eps r / h) and truncation (~h^2 f''',
                        // which is all of it at a zero gap, where dr/dB = 0).
                        let tol = 1e-6 * (fd.abs() + 1e-3 * largest) + 1e-9 * r[c][k] / h;
                        assert!(
                            (d - fd).abs() <= tol,
                            "T {t}, B {b}, channel {c}: {d:e} vs {fd:e}"
                        );
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, 4 * 6 * 2 * ch.len());
    }

    /// Every slice `get` hands out is zeroed, also after an earlier use wrote into the same
    /// stack slots, on the stack (<= 64 entries) and on the heap.
    #[test]
    fn scratch_slices_are_zeroed_at_every_use() {
        let mut s: Scratch<[f64; 4]> = Scratch::new();
        for len in [3, 64, 10, 65, 200, 1, 0] {
            let v = s.get(len);
            assert_eq!(v.len(), len);
            assert!(
                v.iter().all(|x| x.iter().all(|&y| y.to_bits() == 0)),
                "{len}"
            );
            for (k, x) in v.iter_mut().enumerate() {
                *x = [k as f64 + 1.0, -1.0, f64::NAN, 7.0];
            }
        }
    }
}
