//! Incoherent resonant tunnelling between the two wells as a relaxation [`Mechanism`]
//! (docs/physics.md section 10.5).
//!
//! Each pair (m, m') of localized levels of opposite wells that the transverse terms couple
//! (tunnel splitting Delta > 0, [`SpinHamiltonian::tunnel_splitting_k`]) is a channel with the
//! symmetric rate
//!
//!   Gamma = (Delta^2 / (2 hbar^2)) W / (eps^2/hbar^2 + W^2),
//!
//! eps = E_m' - E_m the bias of the axial levels at the current field and W = (W_m + W_m')/2
//! the mean of the two levels' total spin-phonon decay rates (the decay rate of the coherence
//! between them). Delta is the full minimum gap of the avoided crossing (the coupling of the
//! pair's effective 2x2 is Delta/2); the form is the golden rule with the Lorentzian of width W
//! (Garanin & Chudnovsky, PRB 56, 11102 (1997); Leuenberger & Loss, PRB 61, 1286 (2000)), and
//! the on-resonance limit Delta^2/(2 hbar^2 W) is checked against the Bloch equations of a
//! dephased pair in the unit tests. The bias eps is exchanged with the lattice like any other
//! transition's, so the two directions carry the detailed-balance factors of [`balance`]:
//! Gamma(m -> m') = Gamma f(eps/T), Gamma(m' -> m) = Gamma f(-eps/T), f(x) = 2/(1 + e^x), whose
//! ratio is e^(-eps/T) and whose mean is Gamma on resonance (|eps| << T, where the sources'
//! symmetric rate is recovered). Without them the stationary state at fixed field would not be
//! the Boltzmann one and the entropy could fall (docs/physics.md section 10.5).
//!
//! The rates are not proportional to kappa(T): W is (kappa times the spin-phonon sums), so
//! Gamma/kappa = (Delta_w^2/2) w / (eps_w^2 + kappa^2 w^2) with w the unscaled mean decay sum
//! (K^3), Delta_w = Delta k_B/hbar and eps_w = eps k_B/hbar in 1/s; every term is positive, so
//! the chain path keeps full relative precision.

use crate::error::{NumericsError, ParameterError};
use crate::model::tunnelling::{SpinHamiltonian, SplittingMethod};
use crate::model::GiantSpin;
use crate::rates::mechanism::{Channel, Mechanism, PairRates, PairRatesDt, RatePoint, Scratch};
use crate::rates::RateModel;
use crate::rates::{bose_pair_and_dt, SpinPhonon};
use crate::units::KB_OVER_HBAR_PER_S_K;
use std::sync::Arc;

/// The relaxation time against field of `smmcool tau` and the Python `tau` (docs/physics.md
/// section 10.6): tau = 1/(kappa(T) lambda1(B, T)) of the rate model, with the tunnelling
/// mechanism when the Hamiltonian has transverse terms, and beside it the time of the
/// spin-phonon rates alone at the same kappa(T) (the mechanism's own effect).
#[derive(Clone)]
pub struct FieldTau {
    model: RateModel,
    /// With transverse terms: the spin-phonon model and the mechanism.
    tunnelling: Option<(RateModel, Arc<Tunnelling>)>,
}

impl FieldTau {
    /// From the spin-phonon rate model `plain` and, for a Hamiltonian beyond the paper's Eq. 1,
    /// `h` (`plain`'s material must then have `h`'s levels,
    /// [`crate::model::Material::with_hamiltonian`]): with transverse terms the model adds the
    /// tunnelling mechanism of `h`; without them (or without `h`) it is `plain`.
    pub fn new(plain: RateModel, h: Option<&SpinHamiltonian>) -> Result<Self, NumericsError> {
        let Some(h) = h else {
            return Ok(Self {
                model: plain,
                tunnelling: None,
            });
        };
        Ok(match Tunnelling::new(h)? {
            Some(t) => {
                let t = Arc::new(t);
                Self {
                    model: plain.clone().with_mechanism(t.clone()),
                    tunnelling: Some((plain, t)),
                }
            }
            None => Self {
                model: plain,
                tunnelling: None,
            },
        })
    }

    /// The rate model of tau (with the tunnelling mechanism, if any).
    pub fn model(&self) -> &RateModel {
        &self.model
    }

    /// The tunnelling mechanism, with transverse terms.
    pub fn tunnelling(&self) -> Option<&Tunnelling> {
        self.tunnelling.as_ref().map(|(_, t)| t.as_ref())
    }

    /// The tunnelling channels as the records of `smmcool tau --json`'s `tunnelling_pairs`:
    /// `m`, `m_prime`, `k`, `field_t`, `splitting_k`, `splitting_method` (empty without
    /// transverse terms).
    pub fn pair_records(&self) -> Vec<serde_json::Value> {
        let spin = self.model.spin();
        self.tunnelling()
            .map(|t| {
                t.pairs()
                    .iter()
                    .map(|p| {
                        serde_json::json!({"m": spin.m(p.i), "m_prime": spin.m(p.i_prime),
                        "k": p.k, "field_t": p.field_t, "splitting_k": p.splitting_k,
                        "splitting_method": p.method.name()})
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A field leaves both wells only for |B| below the bistability field.
    pub fn check_field(&self, field_t: f64) -> Result<(), ParameterError> {
        let bmax = self.model.spin().bistability_field_t();
        if field_t.is_finite() && field_t.abs() < bmax {
            return Ok(());
        }
        Err(ParameterError::new(
            "field_t",
            field_t,
            format!("must satisfy |B| < {bmax:.4} T, where both wells of this spin exist"),
        ))
    }

    /// lambda1(B, T) of `model`'s unscaled rates (kappa = 1), K^3: the slow mode's, or where it
    /// is not separated (hot, with tunnelling) the checked dense eigenvalue
    /// ([`RateModel::unscaled_slowest_rate`], docs/numerics.md section 3.3).
    fn lambda1(model: &RateModel, field_t: f64, t_k: f64) -> Result<f64, NumericsError> {
        model.unscaled_slowest_rate(field_t, t_k)?.ok_or_else(|| {
            ParameterError::new("field_t", field_t, "outside the bistable range").into()
        })
    }

    /// tau = 1/(kappa(T) lambda1(B, T)) of the model, s.
    pub fn tau_s(&self, field_t: f64, t_k: f64) -> Result<f64, NumericsError> {
        self.check_field(field_t)?;
        let kappa = self.model.kappa(t_k)?;
        Ok(1.0 / (kappa * Self::lambda1(&self.model, field_t, t_k)?))
    }

    /// With transverse terms, the time of the spin-phonon rates alone, s: at the model's
    /// kappa(T) when kappa is recalibrated with tunnelling, else (the calibration leaves
    /// tunnelling out) the spin-phonon model's own. `None` without transverse terms.
    pub fn tau_without_tunnelling_s(
        &self,
        field_t: f64,
        t_k: f64,
    ) -> Result<Option<f64>, NumericsError> {
        let Some((plain, _)) = &self.tunnelling else {
            return Ok(None);
        };
        self.check_field(field_t)?;
        let kappa =
            if self.model.kappa_calibration() == crate::rates::KappaCalibration::WithTunnelling {
                self.model.kappa(t_k)?
            } else {
                plain.kappa(t_k)?
            };
        Ok(Some(1.0 / (kappa * Self::lambda1(plain, field_t, t_k)?)))
    }
}

/// `model` with the tunnelling mechanism of `h` added ([`Tunnelling::new`]); unchanged when `h`
/// has no transverse terms. The model's spin must be `h`'s [`SpinHamiltonian::engine_spin`]
/// (the same levels).
pub fn with_tunnelling(model: RateModel, h: &SpinHamiltonian) -> Result<RateModel, NumericsError> {
    let spin = h.engine_spin()?;
    if *model.spin() != spin {
        return Err(ParameterError::new(
            "material",
            f64::NAN,
            "the rate model's giant spin is not the spin Hamiltonian's axial part",
        )
        .into());
    }
    Ok(match Tunnelling::new(h)? {
        Some(t) => model.with_mechanism(Arc::new(t)),
        None => model,
    })
}

/// [`with_tunnelling`] with the mechanism of `h` already built (`None`: `h` has no transverse
/// term), as an [`crate::kinetics::EngineContext`] keeps it for the runs of a batch: the
/// splittings are computed once per Hamiltonian, not once per run.
pub fn with_built_tunnelling(
    model: RateModel,
    h: &SpinHamiltonian,
    built: Option<Arc<Tunnelling>>,
) -> Result<RateModel, NumericsError> {
    let spin = h.engine_spin()?;
    if *model.spin() != spin || built.as_ref().is_some_and(|t| *t.spin() != spin) {
        return Err(ParameterError::new(
            "material",
            f64::NAN,
            "the rate model's giant spin is not the spin Hamiltonian's axial part",
        )
        .into());
    }
    Ok(match built {
        Some(t) => model.with_mechanism(t),
        None => model,
    })
}

/// Everything that decides [`Tunnelling::new`] of `h`, as bits: S, D, g, B4, C, E, Bx and the
/// misalignment's tan(theta).
pub fn hamiltonian_key(h: &SpinHamiltonian) -> [u64; 8] {
    let (s, a) = (h.spin(), h.anisotropy());
    [
        u64::from(s.two_s()),
        s.d_k().to_bits(),
        s.g_par().to_bits(),
        a.b4_k.to_bits(),
        a.c4_k.to_bits(),
        a.e_k.to_bits(),
        h.transverse_field_t().to_bits(),
        h.tan_misalignment().to_bits(),
    ]
}

/// One tunnelling channel: a pair of localized levels and its splitting.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TunnelPair {
    /// Level index of m (the metastable-well level of the resonance at positive Bz; for the
    /// mirror pair at negative Bz, the level -m).
    pub i: usize,
    /// Level index of m'.
    pub i_prime: usize,
    /// The resonance number k = m + m' (negative for the mirror pairs).
    pub k: i32,
    /// The field of the axial crossing, T.
    pub field_t: f64,
    /// Tunnel splitting Delta, K.
    pub splitting_k: f64,
    /// How Delta was computed (dense for a pair not separated from the other levels).
    pub method: SplittingMethod,
}

/// The tunnelling mechanism of a spin Hamiltonian with transverse terms.
#[derive(Debug, Clone)]
pub struct Tunnelling {
    spin: GiantSpin,
    spin_phonon: SpinPhonon,
    pairs: Vec<TunnelPair>,
    channels: Vec<Channel>,
    /// (Delta k_B/hbar)^2 / 2 per channel, 1/s^2.
    half_delta_sq: Vec<f64>,
    /// The bias at which a channel's window closes, g mu_B |m - m'| B_1 / 2 per channel, K.
    window_k: Vec<f64>,
    /// Per channel (i < j): d(E_j - E_i)/dB, K/T, and the field where E_j = E_i, T; the bias
    /// is their product with B - B_c ([`Tunnelling::bias_k`]).
    bias_slope_k_per_t: Vec<f64>,
    crossing_t: Vec<f64>,
}

impl Tunnelling {
    /// The tunnelling channels of `h`: every resonance (k >= 0) of
    /// [`SpinHamiltonian::resonances`] with Delta > 0, and its mirror (-m, -m') at -Bz for k > 0
    /// (the transverse terms are invariant under the rotation by pi about x, so the mirror has
    /// the same Delta). Every resonance counts at every field, whatever fields a computation
    /// visits: the Lorentzian tails of far pairs near the top of the barrier (Delta ~ 0.1-0.5 K)
    /// change lambda1 by tens of per cent. A pair not separated from the other levels (strong
    /// transverse terms) has its splitting from the dense fallback of
    /// [`SpinHamiltonian::tunnel_splitting`] (section 10.4). `None`
    pub fn new(h: &SpinHamiltonian) -> Result<Option<Self>, NumericsError> {
        if !h.has_transverse_terms() {
            return Ok(None);
        }
        let spin = h.engine_spin()?;
        let n = spin.n_levels();
        let mut pairs = Vec::new();
        for r in h.resonances(spin.two_s())? {
            let split = h.tunnel_splitting(&r)?;
            let d = split.splitting_k;
            if d > 0.0 {
                let k = r.k as i32;
                pairs.push(TunnelPair {
                    i: r.i,
                    i_prime: r.i_prime,
                    k,
                    field_t: r.field_t,
                    splitting_k: d,
                    method: split.method,
                });
                if k > 0 {
                    pairs.push(TunnelPair {
                        i: n - 1 - r.i,
                        i_prime: n - 1 - r.i_prime,
                        k: -k,
                        field_t: -r.field_t,
                        splitting_k: d,
                        method: split.method,
                    });
                }
            }
        }
        if pairs.is_empty() {
            return Ok(None);
        }
        let channels: Vec<Channel> = pairs
            .iter()
            .map(|p| Channel {
                i: p.i.min(p.i_prime),
                j: p.i.max(p.i_prime),
            })
            .collect();
        let half_delta_sq = pairs
            .iter()
            .map(|p| {
                let w = p.splitting_k * KB_OVER_HBAR_PER_S_K;
                0.5 * w * w
            })
            .collect();
        let b1 = spin.resonance_field_t(1);
        let window_k = pairs
            .iter()
            .map(|p| 0.5 * b1 * spin.zeeman_k_per_t() * (p.i.abs_diff(p.i_prime) as f64))
            .collect();
        let bias_slope_k_per_t: Vec<f64> = channels
            .iter()
            .map(|c| spin.energy_slope_k_per_t(c.j) - spin.energy_slope_k_per_t(c.i))
            .collect();
        let crossing_t = channels
            .iter()
            .zip(&bias_slope_k_per_t)
            .map(|(c, slope)| -(spin.energy_k(c.j, 0.0) - spin.energy_k(c.i, 0.0)) / slope)
            .collect();
        Ok(Some(Self {
            spin,
            spin_phonon: SpinPhonon::new(&spin),
            pairs,
            channels,
            half_delta_sq,
            window_k,
            bias_slope_k_per_t,
            crossing_t,
        }))
    }

    /// The giant spin whose levels the rates use (with B4).
    pub fn spin(&self) -> &GiantSpin {
        &self.spin
    }

    /// The pairs, in the order of the channels.
    pub fn pairs(&self) -> &[TunnelPair] {
        &self.pairs
    }

    /// The unscaled total spin-phonon decay sums of every level at (B, T) (the physical decay
    /// rate divided by kappa, K^3), with their T derivatives when `dt` is given.
    fn decay_sums(&self, at: &RatePoint, out: &mut [f64], mut dt: Option<&mut [f64]>) {
        let n = self.spin.n_levels();
        let mut e_buf = Scratch::new();
        let e: &mut [f64] = e_buf.get(n);
        self.spin.energies_into(at.field_t, e);
        for p in self.spin_phonon.pairs() {
            let ((f_ij, df_ij), (f_ji, df_ji)) = bose_pair_and_dt(e[p.j] - e[p.i], at.t_k);
            out[p.i] += p.weight_ij * f_ij;
            out[p.j] += p.weight_ji * f_ji;
            if let Some(d) = dt.as_deref_mut() {
                d[p.i] += p.weight_ij * df_ij;
                d[p.j] += p.weight_ji * df_ji;
            }
        }
    }

    /// The bias E_j - E_i of channel `c` (i < j) at `field_t`, K, as (dE/dB) (B - B_c): the
    /// levels' energies are linear in B, so this is their difference without its cancellation.
    /// The difference of the two energies (~50 K) carries a rounding noise of ~1e-14 K, which is
    /// 1e-4 of a ground pair's Lorentzian at 1 K (hbar W ~ 1e-10 K): a rate that jitters by that
    /// much from one field to the next defeats the integrator's error control inside the
    /// resonance (docs/numerics.md section 4, "Resonance passages"); this form is monotonic in
    /// B.
    pub fn bias_k(&self, c: usize, field_t: f64) -> f64 {
        self.bias_slope_k_per_t[c] * (field_t - self.crossing_t[c])
    }

    /// The rate of channel `c` (1/s) at bias `eps_k` (K) and mean decay rate `w_per_s` (1/s),
    /// window included.
    pub fn rate_per_s(&self, c: usize, eps_k: f64, w_per_s: f64) -> f64 {
        let eps = eps_k * KB_OVER_HBAR_PER_S_K;
        self.window(c, eps_k) * self.half_delta_sq[c] * w_per_s / (eps * eps + w_per_s * w_per_s)
    }

    /// The near-resonance window of channel `c` at bias `eps_k` (K): 1 for |x| <= 1/2,
    /// cos^2(pi (|x| - 1/2)) for 1/2 < |x| < 1, 0 beyond, with x = eps / (g mu_B |m - m'| B_1/2)
    /// (the bias at half the spacing of the resonances). Continuous with its first derivative.
    pub fn window(&self, c: usize, eps_k: f64) -> f64 {
        let x = (eps_k / self.window_k[c]).abs();
        if x <= 0.5 {
            1.0
        } else if x < 1.0 {
            let c = (std::f64::consts::PI * (x - 0.5)).cos();
            c * c
        } else {
            0.0
        }
    }
}

impl Mechanism for Tunnelling {
    fn name(&self) -> &str {
        "tunnelling"
    }

    fn channels(&self) -> &[Channel] {
        &self.channels
    }

    fn key(&self) -> Vec<u64> {
        self.pairs
            .iter()
            .flat_map(|p| [p.i as u64, p.i_prime as u64, p.splitting_k.to_bits()])
            .collect()
    }

    fn proportional_to_kappa(&self) -> bool {
        false
    }

    fn resonance_fields_t(&self) -> Vec<f64> {
        self.pairs.iter().map(|p| p.field_t).collect()
    }

    /// Per channel: its resonance field, the axial crossing B_c of its bias (the same to
    /// rounding), and the four edges of its window, B_c +- (1/2, 1) of the window's half
    /// width in field (|x| = 1/2 and 1 of [`Tunnelling::window`], where its second derivative
    /// jumps).
    fn table_breaks_t(&self) -> Vec<f64> {
        let mut out = Vec::with_capacity(6 * self.pairs.len());
        for (c, p) in self.pairs.iter().enumerate() {
            let bc = self.crossing_t[c];
            let half = (self.window_k[c] / self.bias_slope_k_per_t[c]).abs();
            out.extend([
                p.field_t,
                bc,
                bc - half,
                bc - 0.5 * half,
                bc + 0.5 * half,
                bc + half,
            ]);
        }
        out
    }

    /// The bias is [`Tunnelling::bias_k`], not `de_k` (the same to rounding).
    fn unscaled_rates(&self, at: &RatePoint, _de_k: &[f64], out: &mut [PairRates]) {
        let kappa = at.kappa_per_s_k3;
        let mut buf = Scratch::new();
        let sums: &mut [f64] = buf.get(self.spin.n_levels());
        self.decay_sums(at, sums, None);
        for (ci, (c, o)) in self.channels.iter().zip(out.iter_mut()).enumerate() {
            let de = self.bias_k(ci, at.field_t);
            // Gamma / kappa = window (Delta_w^2/2) w / (eps_w^2 + (kappa w)^2), w in K^3.
            let w = 0.5 * (sums[c.i] + sums[c.j]);
            let eps = de * KB_OVER_HBAR_PER_S_K;
            let kw = kappa * w;
            let h = self.window(ci, de) * self.half_delta_sq[ci];
            let r = h * w / (eps * eps + kw * kw);
            let (f_ij, f_ji) = balance(de / at.t_k);
            *o = [r * f_ij, r * f_ji];
        }
    }

    fn rates_and_dt(&self, at: &RatePoint, _de_k: &[f64], out: &mut [PairRatesDt]) {
        let (kappa, dlnk) = (at.kappa_per_s_k3, at.dln_kappa_dt);
        let n = self.spin.n_levels();
        let (mut s_buf, mut d_buf) = (Scratch::new(), Scratch::new());
        let sums: &mut [f64] = s_buf.get(n);
        let dsums: &mut [f64] = d_buf.get(n);
        self.decay_sums(at, sums, Some(dsums));
        for (ci, (c, o)) in self.channels.iter().zip(out.iter_mut()).enumerate() {
            let de = self.bias_k(ci, at.field_t);
            let h = self.window(ci, de) * self.half_delta_sq[ci];
            let w = 0.5 * (sums[c.i] + sums[c.j]);
            let dw = 0.5 * (dsums[c.i] + dsums[c.j]);
            let eps = de * KB_OVER_HBAR_PER_S_K;
            // W = kappa w; dW/dT = kappa (dln kappa/dT w + dw/dT).
            let big_w = kappa * w;
            let dbig_w = kappa * (dlnk * w + dw);
            let den = eps * eps + big_w * big_w;
            let r = h * big_w / den;
            // dGamma/dW = (Delta_w^2/2) (eps^2 - W^2) / (eps^2 + W^2)^2.
            let dr = h * (eps * eps - big_w * big_w) / (den * den) * dbig_w;
            // The balance factors f(+-x), x = eps/T: df(x)/dT = -f'(x) x/T = f (1 - f/2) x/T.
            let x = de / at.t_k;
            let (f_ij, f_ji) = balance(x);
            let df_ij = f_ij * (1.0 - 0.5 * f_ij) * x / at.t_k;
            let df_ji = -f_ji * (1.0 - 0.5 * f_ji) * x / at.t_k;
            *o = [
                r * f_ij,
                dr * f_ij + r * df_ij,
                r * f_ji,
                dr * f_ji + r * df_ji,
            ];
        }
    }
}

/// The detailed-balance factors (f(x), f(-x)) with f(x) = 2/(1 + e^x), x = (E_j - E_i)/T: the
/// rate i -> j is Gamma f(x), j -> i Gamma f(-x), so that their ratio is e^(-x) (detailed
/// balance with the lattice) and their mean is Gamma on resonance (f(0) = 1). Computed
/// without overflow or cancellation for any x.
pub fn balance(x: f64) -> (f64, f64) {
    let e = (-x.abs()).exp();
    let (small, large) = (2.0 * e / (1.0 + e), 2.0 / (1.0 + e));
    if x >= 0.0 {
        (small, large)
    } else {
        (large, small)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tunnelling::Anisotropy;
    use crate::model::Material;

    /// Populations of a pair |1>, |2> with H = [[eps/2, Delta/2], [Delta/2, -eps/2]] (hbar = 1)
    /// whose coherence decays at rate `w` (Bloch equations, no population relaxation),
    /// integrated by classical RK4: the population difference decays as exp(-2 Gamma t).
    fn bloch_rate(delta: f64, eps: f64, w: f64) -> f64 {
        // State: p = rho11 - rho22, x = Re rho12, y = Im rho12.
        // d rho12/dt = -i eps rho12 + i (Delta/2) p - w rho12 (with rho12 = <1|rho|2>);
        // dp/dt = -2 Delta Im rho12... derived from d rho11/dt = -i (Delta/2)(rho21 - rho12).
        let f = |s: [f64; 3]| -> [f64; 3] {
            let [p, x, y] = s;
            // rho12' = -i eps rho12 - i (Delta/2)(rho22 - rho11) - w rho12.
            let dx = eps * y - w * x;
            let dy = -eps * x + 0.5 * delta * p - w * y;
            // rho11' = -i (Delta/2)(rho21 - rho12) = -Delta Im rho12; p' = 2 rho11'.
            let dp = -2.0 * delta * y;
            [dp, dx, dy]
        };
        let gamma_guess = 0.5 * delta * delta * w / (eps * eps + w * w);
        let t_end = 0.5 / gamma_guess;
        let steps = (t_end * (eps.abs() + w) / 0.05).ceil() as usize;
        let h = t_end / steps as f64;
        let mut s = [1.0, 0.0, 0.0];
        let add =
            |a: [f64; 3], b: [f64; 3], c: f64| [a[0] + c * b[0], a[1] + c * b[1], a[2] + c * b[2]];
        let (mut p_mid, t_mid) = (f64::NAN, 0.25 * t_end);
        for k in 0..steps {
            let k1 = f(s);
            let k2 = f(add(s, k1, 0.5 * h));
            let k3 = f(add(s, k2, 0.5 * h));
            let k4 = f(add(s, k3, h));
            for q in 0..3 {
                s[q] += h / 6.0 * (k1[q] + 2.0 * k2[q] + 2.0 * k3[q] + k4[q]);
            }
            if k + 1 == steps / 4 {
                p_mid = s[0];
            }
        }
        // Rate from the decay between t_end/4 and t_end (after the coherence has settled).
        (p_mid / s[0]).ln() / (2.0 * (t_end - t_mid))
    }

    /// The convention: with Delta the minimum gap of the avoided crossing and W the decay rate
    /// of the pair's coherence, the incoherent rate is Delta^2/(2 hbar^2) W/(eps^2/hbar^2 + W^2),
    /// on and off resonance, to O((Delta/W)^2).
    #[test]
    fn rate_is_the_incoherent_limit_of_the_bloch_equations() {
        let delta = 1.0;
        let w = 100.0;
        for eps in [0.0, 30.0, 100.0, 300.0] {
            // The gap of the pair's 2x2 at bias eps is sqrt(eps^2 + Delta^2): Delta at eps = 0.
            let gamma = 0.5 * delta * delta * w / (eps * eps + w * w);
            let got = bloch_rate(delta, eps, w);
            let rel = (got - gamma).abs() / gamma;
            assert!(
                rel < 3.0 * (delta / w).powi(2),
                "eps = {eps}: {got} vs {gamma}"
            );
        }
    }

    /// The window: flat to |x| = 1/2, zero from |x| = 1, continuous with its derivative
    /// (one-sided differences agree at both joins), symmetric in the bias.
    #[test]
    #[allow(clippy::float_cmp)] // the flat part and the closed part are exact
    fn window_is_flat_near_resonance_and_closes_smoothly() {
        let t = Tunnelling::new(&mn12ac_with(2.16e-5, 0.0, 0.0))
            .unwrap()
            .unwrap();
        let c = 0;
        let half = t.window_k[c];
        assert!(half > 0.0);
        let w = |x: f64| t.window(c, x * half);
        assert_eq!(w(0.0), 1.0);
        assert_eq!(w(-0.5), 1.0);
        assert!((w(0.75) - 0.5).abs() < 1e-15);
        assert_eq!(w(1.0), 0.0);
        assert_eq!(w(-3.0), 0.0);
        for x0 in [0.5, 1.0] {
            let h = 1e-6;
            let left = (w(x0) - w(x0 - h)) / h;
            let right = (w(x0 + h) - w(x0)) / h;
            assert!(
                left.abs() < 1e-4 && right.abs() < 1e-4,
                "{x0}: {left} {right}"
            );
            assert!((w(x0 - h) - w(x0 + h)).abs() < 1e-9);
        }
        assert_eq!(w(0.8), w(-0.8));
    }

    /// One passage through a resonance at a constant sweep: eps(t) = v_eps t, v_eps in K/s
    /// (g mu_B |m - m'| dB/dt). Returns the population moved from m to m' (start: all in m)
    /// (a) by the mechanism's symmetric rate, dp/dt = -2 Gamma(t) p for p = n_m - n_m', and
    /// (b) by the Bloch equations of the pair with coherence decay `w` (w = 0: coherent), both
    /// integrated by RK4 over |eps| <= eps_max.
    fn passage(t: &Tunnelling, c: usize, w: f64, v_eps: f64, eps_max_k: f64) -> (f64, f64) {
        let delta = t.pairs()[c].splitting_k * KB_OVER_HBAR_PER_S_K;
        let wmax = eps_max_k * KB_OVER_HBAR_PER_S_K;
        let t_end = eps_max_k / v_eps;
        let h = 0.1 / (wmax + w + delta);
        let steps = (2.0 * t_end / h).ceil() as usize;
        let h = 2.0 * t_end / steps as f64;
        // (a) The rate equation.
        let gamma = |time: f64| t.rate_per_s(c, v_eps * time, w);
        let mut p = 1.0_f64;
        // (b) Bloch: state [p, x, y] with rho12 = x + i y (see `bloch_rate`).
        let f = |time: f64, s: [f64; 3]| -> [f64; 3] {
            let eps = v_eps * time * KB_OVER_HBAR_PER_S_K;
            let [pp, x, y] = s;
            [
                -2.0 * delta * y,
                eps * y - w * x,
                -eps * x + 0.5 * delta * pp - w * y,
            ]
        };
        let add =
            |a: [f64; 3], b: [f64; 3], k: f64| [a[0] + k * b[0], a[1] + k * b[1], a[2] + k * b[2]];
        let mut s = [1.0, 0.0, 0.0];
        for i in 0..steps {
            let t0 = -t_end + i as f64 * h;
            let (g0, g1, g2) = (gamma(t0), gamma(t0 + 0.5 * h), gamma(t0 + h));
            // dp/dt = -2 Gamma p, RK4.
            let k1 = -2.0 * g0 * p;
            let k2 = -2.0 * g1 * (p + 0.5 * h * k1);
            let k3 = -2.0 * g1 * (p + 0.5 * h * k2);
            let k4 = -2.0 * g2 * (p + h * k3);
            p += h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4);
            let k1 = f(t0, s);
            let k2 = f(t0 + 0.5 * h, add(s, k1, 0.5 * h));
            let k3 = f(t0 + 0.5 * h, add(s, k2, 0.5 * h));
            let k4 = f(t0 + h, add(s, k3, h));
            for q in 0..3 {
                s[q] += h / 6.0 * (k1[q] + 2.0 * k2[q] + 2.0 * k3[q] + k4[q]);
            }
        }
        ((1.0 - p) / 2.0, (1.0 - s[0]) / 2.0)
    }

    /// Landau-Zener: with v_eps = g mu_B |m - m'| dB/dt, the time integral of Gamma over one
    /// passage is delta = pi Delta^2 / (2 hbar v_eps) (Delta the full gap), so the symmetric rate
    /// moves (1 - exp(-2 delta))/2 of the population: the incoherent (strong dephasing) limit of
    /// Landau-Zener-Stueckelberg (Kayanuma, J. Phys. Soc. Jpn. 53, 108 (1984)), which agrees
    /// with the coherent 1 - exp(-delta) for fast sweeps (delta << 1) and tends to 1/2, not 1,
    /// for slow ones. Checked at fast and slow sweeps against (1) the closed forms, (2) the
    /// Bloch equations with the same dephasing W = 10 Delta/hbar (independent dynamics), and
    /// (3) the coherent Bloch equations (W = 0), which must give Landau-Zener's 1 - exp(-delta)
    /// with the same delta: the Delta convention of the rate.
    #[test]
    fn one_passage_transfers_the_landau_zener_population() {
        let h = mn12ac_with(2.16e-5, 0.0, 0.0);
        let t = Tunnelling::new(&h).unwrap().unwrap();
        // A k = 0 pair near the top with a moderate splitting.
        let c = t
            .pairs()
            .iter()
            .position(|p| p.k == 0 && p.splitting_k > 1e-6 && p.splitting_k < 1e-3)
            .unwrap();
        let delta_k = t.pairs()[c].splitting_k;
        let delta = delta_k * KB_OVER_HBAR_PER_S_K;
        // Integrate over |eps| <= eps_max (40 W: the window is fully open there); the
        // Lorentzian beyond it carries (2/pi) atan(W/eps_max) of delta, 1.6 %, which the
        // closed forms below take out.
        let w = 10.0 * delta;
        let eps_max_k = 40.0 * w / KB_OVER_HBAR_PER_S_K;
        let truncated = 1.0 - 2.0 / std::f64::consts::PI * (1.0_f64 / 40.0).atan();
        for lz in [0.05, 0.5, 2.0] {
            // delta = pi Delta_w^2 / (2 v_w) => v_eps (K/s).
            let v_eps = std::f64::consts::PI * delta * delta / (2.0 * lz) / KB_OVER_HBAR_PER_S_K;
            let (rate, bloch) = passage(&t, c, w, v_eps, eps_max_k);
            let d_eff = lz * truncated;
            let kayanuma = 0.5 * (1.0 - (-2.0 * d_eff).exp());
            assert!(
                (rate - kayanuma).abs() < 1e-6 * kayanuma,
                "delta {lz}: {rate} vs {kayanuma}"
            );
            // Bloch with strong dephasing: the same to O((Delta/W)^2) = 1 %.
            assert!(
                (bloch - rate).abs() < 2e-2 * rate,
                "delta {lz}: Bloch {bloch} vs {rate}"
            );
            if lz < 0.1 {
                // Fast sweep: the coherent Landau-Zener result too.
                let lz_p = 1.0 - (-lz).exp();
                assert!((rate - lz_p).abs() < 0.05 * lz_p, "{rate} vs LZ {lz_p}");
            }
            // Coherent passage (no dephasing) over a long window: 1 - exp(-delta).
            let (_, coherent) = passage(&t, c, 0.0, v_eps, 400.0 * delta / KB_OVER_HBAR_PER_S_K);
            let lz_p = 1.0 - (-lz).exp();
            assert!(
                (coherent - lz_p).abs() < 0.03 * lz_p.max(0.05),
                "delta {lz}: coherent {coherent} vs LZ {lz_p}"
            );
        }
    }

    fn mn12ac_with(c4_k: f64, e_k: f64, bx: f64) -> SpinHamiltonian {
        let m = Material::mn12ac();
        SpinHamiltonian::new(
            m.spin,
            Anisotropy {
                b4_k: 0.0,
                c4_k,
                e_k,
            },
            bx,
        )
        .unwrap()
    }

    #[test]
    fn no_transverse_terms_no_mechanism() {
        assert!(Tunnelling::new(&mn12ac_with(0.0, 0.0, 0.0))
            .unwrap()
            .is_none());
        // With B4 the mechanism's levels are the Hamiltonian's axial ones, bit for bit.
        let h = SpinHamiltonian::new(
            Material::mn12ac().spin,
            Anisotropy {
                b4_k: -1e-3,
                c4_k: 2e-5,
                e_k: 0.0,
            },
            0.0,
        )
        .unwrap();
        let t = Tunnelling::new(&h).unwrap().unwrap();
        assert_eq!(t.spin().b4_k().to_bits(), (-1e-3_f64).to_bits());
        for b in [0.0, 0.45, -1.3] {
            let want = h.axial_energies(b);
            for (i, w) in want.iter().enumerate() {
                assert_eq!(t.spin().energy_k(i, b).to_bits(), w.to_bits());
            }
        }
        // A B4 that breaks the single barrier is refused, naming b4_k.
        let bad = SpinHamiltonian::new(
            Material::mn12ac().spin,
            Anisotropy {
                b4_k: 0.01,
                c4_k: 2e-5,
                e_k: 0.0,
            },
            0.0,
        )
        .unwrap();
        let e = Tunnelling::new(&bad).unwrap_err();
        assert!(e.to_string().contains("b4_k"), "{e}");
    }

    /// Channels: C alone couples pairs with m - m' a multiple of 4, each resonance once and its
    /// mirror for k > 0, every splitting the one `smmcool resonances` reports.
    #[test]
    fn channels_follow_the_resonances() {
        let h = mn12ac_with(2.16e-5, 0.0, 0.0);
        let t = Tunnelling::new(&h).unwrap().unwrap();
        let n = 21;
        for p in t.pairs() {
            let (m, mp) = (p.i as i32 - 10, p.i_prime as i32 - 10);
            assert_eq!((m - mp).rem_euclid(4), 0, "{p:?}");
            assert_eq!(m + mp, p.k);
            assert!(p.splitting_k > 0.0);
        }
        for r in h.resonances(20).unwrap() {
            let d = h.tunnel_splitting(&r).unwrap().splitting_k;
            let found: Vec<_> = t
                .pairs()
                .iter()
                .filter(|p| {
                    (p.i, p.i_prime) == (r.i, r.i_prime)
                        || (r.k > 0 && (p.i, p.i_prime) == (n - 1 - r.i, n - 1 - r.i_prime))
                })
                .collect();
            let want = if d > 0.0 { 1 + usize::from(r.k > 0) } else { 0 };
            assert_eq!(found.len(), want, "{r:?}");
            for p in found {
                assert_eq!(p.splitting_k.to_bits(), d.to_bits());
            }
        }
        let mut seen = std::collections::HashSet::new();
        for c in t.channels() {
            assert!(seen.insert((c.i, c.j)), "channel {c:?} twice");
        }
    }

    /// The rates against the formula with W from the spin-phonon rate matrix's diagonal (the
    /// dense matrix of the rate model, an independent assembly), and dGamma/dT against a
    /// central difference.
    #[test]
    fn rates_against_the_formula_and_their_derivative() {
        use crate::rates::{KappaScaling, RateModel};
        let mat = Material::mn12ac();
        let h = mn12ac_with(-1.86e-5, 7.89e-3, 0.05);
        let t = Tunnelling::new(&h).unwrap().unwrap();
        let plain = RateModel::new(mat.spin, mat.arrhenius, KappaScaling::Arrhenius).unwrap();
        for (b, temp) in [(0.0, 2.0), (0.47, 3.0), (0.5224, 2.5), (-1.1, 5.0)] {
            let kappa = plain.kappa(temp).unwrap();
            let w = plain.matrix(b, temp).unwrap();
            let e = mat.spin.energies(b);
            let de_energies: Vec<f64> = t.channels().iter().map(|c| e[c.j] - e[c.i]).collect();
            // The mechanism's bias (dE/dB)(B - B_c) is the difference of the energies to
            // their rounding (~1e-14 K); the formula below takes it.
            let de: Vec<f64> = (0..de_energies.len()).map(|c| t.bias_k(c, b)).collect();
            for (x, y) in de.iter().zip(&de_energies) {
                assert!((x - y).abs() <= 1e-12, "{b}: bias {x} vs {y}");
            }
            let at = RatePoint {
                field_t: b,
                t_k: temp,
                kappa_per_s_k3: kappa,
                dln_kappa_dt: 0.0,
            };
            let mut un = vec![[0.0; 2]; de.len()];
            t.unscaled_rates(&at, &de, &mut un);
            let mut full = vec![[0.0; 4]; de.len()];
            t.rates_and_dt(&at, &de, &mut full);
            for (ci, c) in t.channels().iter().enumerate() {
                let wm = 0.5 * (-w[(c.i, c.i)] - w[(c.j, c.j)]);
                let eps = de[ci] * KB_OVER_HBAR_PER_S_K;
                let dw = t.pairs()[ci].splitting_k * KB_OVER_HBAR_PER_S_K;
                let want = t.window(ci, de[ci]) * dw * dw / 2.0 * wm / (eps * eps + wm * wm);
                // Detailed balance: f(x) = 2/(1 + e^x) forward, f(-x) backward, written out.
                let x = de[ci] / temp;
                let (f_fwd, f_bwd) = (2.0 / (1.0 + x.exp()), 2.0 / (1.0 + (-x).exp()));
                assert!(((f_fwd / f_bwd) - (-x).exp()).abs() <= 1e-13 * (-x).exp());
                for (got, want) in [
                    (un[ci][0] * kappa, want * f_fwd),
                    (un[ci][1] * kappa, want * f_bwd),
                    (full[ci][0], want * f_fwd),
                    (full[ci][2], want * f_bwd),
                ] {
                    assert!(
                        (got - want).abs() <= 1e-13 * want,
                        "{b} {temp} {c:?}: {got} vs {want}"
                    );
                }
                // d/dT at fixed kappa (dln_kappa_dt = 0 above).
                for (rate, slope) in [(0, 1), (2, 3)] {
                    let at_t = |tt: f64| {
                        let mut o = vec![[0.0; 4]; de.len()];
                        t.rates_and_dt(&RatePoint { t_k: tt, ..at }, &de, &mut o);
                        o[ci][rate]
                    };
                    let hh = 1e-4 * temp;
                    let fd = (at_t(temp + hh) - at_t(temp - hh)) / (2.0 * hh);
                    let scale = full[ci][rate];
                    assert!(
                        (full[ci][slope] - fd).abs() <= 1e-6 * fd.abs().max(1e-12 * scale / temp),
                        "{b} {temp} {c:?} [{slope}]: {} vs {fd}",
                        full[ci][slope]
                    );
                }
            }
        }
    }
}
