//! Spin-phonon transition rates (docs/physics.md section 5).
//!
//! W(M -> M') = kappa(T) c s(M -> M') f(E_M' - E_M, T) for Delta M = +-1 (c = 1) and +-2
//! (c = 12/32), with the Leuenberger-Loss spin factors
//!   s(M -> M+1) = (S-M)(S+M+1)(2M+1)^2,        s(M -> M-1) = (S+M)(S-M+1)(2M-1)^2,
//!   s(M -> M+2) = (S-M)(S+M+1)(S-M-1)(S+M+2), s(M -> M-2) = (S+M)(S-M+1)(S+M-1)(S-M+2),
//! and the one-phonon Bose factor f(dE, T) = dE^3 / (exp(dE/T) - 1), which obeys detailed
//! balance f(dE)/f(-dE) = exp(-dE/T) at the phonon temperature and tends to dE^2 T as dE -> 0.
//!
//! The scale kappa(T) (units 1/(s K^3)) is, by default, chosen at every temperature so that the
//! slowest relaxation time of the zero-field rate matrix equals the Arrhenius law
//! tau(T) = tau0 exp(U_b/T) (paper Eq. 10, Fig. 3): "Arrhenius-scaled" rates.
//!
//! These rates are the [`SpinPhonon`] mechanism ([`crate::rates::mechanism`]); a [`RateModel`] holds it
//! and any further mechanisms ([`RateModel::with_mechanism`]; incoherent tunnelling between the
//! wells is [`tunnelling::Tunnelling`]), and assembles the rate matrix
//! (its band [`Chain`]) over all of their channels.

pub mod mechanism;
pub mod slowmode;
pub mod tunnelling;

use crate::error::{require_positive, NumericsError, ParameterError};
use crate::model::{Arrhenius, GiantSpin};
use crate::numerics::cheb::LazyChebTable;
pub use crate::rates::mechanism::{Channel, Mechanism, RatePoint, SpinPhonon};
use crate::rates::slowmode::{
    intra_well_rate, reduction_rate_with, slow_mode, slow_mode_with, slowest_rate, Chain,
    MMatrixLu, SlowMode,
};
use nalgebra::DMatrix;
use std::sync::Arc;

/// x / (exp(x) - 1), continuous at x = 0 (value 1), to a few ulp everywhere.
pub fn bose_ratio(x: f64) -> f64 {
    if x.abs() < 1e-5 {
        // Series 1 - x/2 + x^2/12 - x^4/720: error below 1e-22 here.
        1.0 - x / 2.0 + x * x / 12.0
    } else if x.abs() >= 0.5 {
        // |e^x - 1| >= 0.39 here, so the subtraction loses at most ~1.3 bits; exp is several
        // times faster than exp_m1, and this is the hottest call of the right-hand side.
        x / (x.exp() - 1.0)
    } else {
        x / x.exp_m1()
    }
}

/// The one-phonon factor f(dE, T) = dE^3/(exp(dE/T) - 1) in K^3, written as
/// dE^2 T * x/(e^x - 1) with x = dE/T so that dE -> 0 is no 0/0.
pub fn bose_factor(de_k: f64, t_k: f64) -> f64 {
    de_k * de_k * t_k * bose_ratio(de_k / t_k)
}

/// f and its temperature derivative df/dT = (f/T) * x/(1 - exp(-x)), x = dE/T.
pub fn bose_factor_and_dt(de_k: f64, t_k: f64) -> (f64, f64) {
    let x = de_k / t_k;
    let f = de_k * de_k * t_k * bose_ratio(x);
    // x/(1 - e^-x) = bose_ratio(-x).
    (f, f / t_k * bose_ratio(-x))
}

/// f(dE, T) and f(-dE, T), with their T derivatives, from one exponential: with y = |dE|/T,
/// r = y/(e^y - 1), the uphill factor is dE^2 T r and the downhill one dE^2 T (y + r) (a sum of
/// positive terms, no cancellation at any y); df/dT = (f/T) x/(1 - e^-x) gives the derivatives
/// with the roles of the two ratios exchanged. Returns ((f(dE), df(dE)/dT), (f(-dE), df(-dE)/dT)).
pub fn bose_pair_and_dt(de_k: f64, t_k: f64) -> BosePairDt {
    bose_pair_dt_and_ratio(de_k, t_k).0
}

/// ((f(dE), df(dE)/dT), (f(-dE), df(-dE)/dT)) of [`bose_pair_and_dt`].
pub type BosePairDt = ((f64, f64), (f64, f64));

/// [`bose_pair_and_dt`] (the same values) with y = |dE|/T and r = y/(e^y - 1) it was formed
/// from, for callers that also need the factors' derivatives in dE.
#[inline]
pub(crate) fn bose_pair_dt_and_ratio(de_k: f64, t_k: f64) -> (BosePairDt, f64, f64) {
    let y = de_k.abs() / t_k;
    let r_up = bose_ratio(y);
    let r_down = y + r_up;
    let base = de_k * de_k * t_k;
    let (f_up, f_down) = (base * r_up, base * r_down);
    let up = (f_up, f_up / t_k * r_down);
    let down = (f_down, f_down / t_k * r_up);
    let pair = if de_k >= 0.0 { (up, down) } else { (down, up) };
    (pair, y, r_up)
}

/// A pair of opposite transitions i -> j and j -> i (i < j) with their weights.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TransitionPair {
    /// Lower level index.
    pub i: usize,
    /// Upper level index.
    pub j: usize,
    /// Weight of i -> j (0 if not allowed).
    pub weight_ij: f64,
    /// Weight of j -> i (0 if not allowed).
    pub weight_ji: f64,
}

/// The transitions grouped into opposite pairs (one exponential serves both).
pub fn transition_pairs(transitions: &[Transition]) -> Vec<TransitionPair> {
    let mut pairs: Vec<TransitionPair> = Vec::new();
    for tr in transitions {
        let (i, j) = (tr.from.min(tr.to), tr.from.max(tr.to));
        let k = match pairs.iter().position(|p| p.i == i && p.j == j) {
            Some(k) => k,
            None => {
                pairs.push(TransitionPair {
                    i,
                    j,
                    weight_ij: 0.0,
                    weight_ji: 0.0,
                });
                pairs.len() - 1
            }
        };
        if tr.from == i {
            pairs[k].weight_ij += tr.weight;
        } else {
            pairs[k].weight_ji += tr.weight;
        }
    }
    pairs
}

/// One allowed transition with its temperature-independent weight c s(M -> M').
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transition {
    /// Level index of the initial state.
    pub from: usize,
    /// Level index of the final state.
    pub to: usize,
    /// c s(M -> M').
    pub weight: f64,
}

/// The Delta M = +-1, +-2 transitions of a giant spin with their weights.
pub fn transitions(spin: &GiantSpin) -> Vec<Transition> {
    let s = spin.spin();
    let n = spin.n_levels();
    let mut out = Vec::with_capacity(4 * n);
    for from in 0..n {
        let m = spin.m(from);
        let up1 = (s - m) * (s + m + 1.0) * (2.0 * m + 1.0).powi(2);
        let dn1 = (s + m) * (s - m + 1.0) * (2.0 * m - 1.0).powi(2);
        let up2 = (s - m) * (s + m + 1.0) * (s - m - 1.0) * (s + m + 2.0);
        let dn2 = (s + m) * (s - m + 1.0) * (s + m - 1.0) * (s - m + 2.0);
        let c2 = 12.0 / 32.0;
        for (to, w) in [
            (from as isize + 1, up1),
            (from as isize - 1, dn1),
            (from as isize + 2, c2 * up2),
            (from as isize - 2, c2 * dn2),
        ] {
            if to >= 0 && (to as usize) < n && w > 0.0 {
                out.push(Transition {
                    from,
                    to: to as usize,
                    weight: w,
                });
            }
        }
    }
    out
}

/// Which mechanisms the calibration of kappa(T) (Arrhenius and constant scalings) matches to
/// the Arrhenius law (`rates.kappa_calibration`, docs/physics.md section 10.6).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum KappaCalibration {
    /// kappa(T) such that the slowest zero-field rate of the spin-phonon mechanism alone is
    /// 1/tau(T): the tunnelling channels come on top (the default).
    #[default]
    WithoutTunnelling,
    /// kappa(T) such that the slowest zero-field rate of every mechanism, the tunnelling
    /// channels at that kappa included, is 1/tau(T) (the largest such kappa; an error where
    /// none exists). The same as `WithoutTunnelling` for a model with no tunnelling mechanism.
    WithTunnelling,
}

impl KappaCalibration {
    /// The name in configs and outputs: `without_tunnelling`, `with_tunnelling`.
    pub fn name(self) -> &'static str {
        match self {
            Self::WithoutTunnelling => "without_tunnelling",
            Self::WithTunnelling => "with_tunnelling",
        }
    }
}

/// How the rate scale kappa(T) is set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KappaScaling {
    /// kappa(T) chosen at every T so that the slowest zero-field relaxation time is tau0 exp(U_b/T).
    Arrhenius,
    /// kappa fixed, calibrated so that the slowest zero-field relaxation time at `reference_k`
    /// equals the Arrhenius tau there; away from it the model's own barrier shows.
    Constant {
        /// Calibration temperature, K.
        reference_k: f64,
    },
    /// kappa given directly, in 1/(s K^3) (e.g. from density and sound velocity).
    Absolute {
        /// kappa, 1/(s K^3).
        kappa_per_s_k3: f64,
    },
}

impl KappaScaling {
    /// Validate the scaling's own numbers.
    pub fn validate(&self) -> Result<(), ParameterError> {
        match *self {
            KappaScaling::Arrhenius => Ok(()),
            KappaScaling::Constant { reference_k } => {
                require_positive("kappa_reference_k", reference_k).map(|_| ())
            }
            KappaScaling::Absolute { kappa_per_s_k3 } => {
                require_positive("kappa_per_s_k3", kappa_per_s_k3).map(|_| ())
            }
        }
    }
}

/// Piecewise Chebyshev interpolant of h(u) = ln lambda1_0(T), u = 1/T, on adaptive panels
/// (degree 16, refined until the tail coefficients are below 1e-13, i.e. 1e-13 relative in
/// lambda1_0). It replaces a slow-mode computation (microseconds) in every evaluation of
/// kappa(T) by a Clenshaw sum; its derivative gives d ln kappa / dT exactly. The panels are
/// built on first use ([`LazyChebTable`]): a run pays only for the panels around the
/// temperatures it visits, and every value equals, bit for bit, that of the table built in full.
#[derive(Debug)]
pub struct Lambda1Table {
    t_lo: f64,
    t_hi: f64,
    /// The model whose calibration it tabulates (without a table of its own).
    model: RateModel,
    table: LazyChebTable,
}

impl Lambda1Table {
    /// The table on [t_lo, t_hi] K, nothing built yet.
    fn lazy(model: &RateModel, t_lo: f64, t_hi: f64) -> Self {
        let (u_lo, u_hi) = (1.0 / t_hi, 1.0 / t_lo);
        Self {
            t_lo,
            t_hi,
            model: RateModel {
                table: None,
                ..model.clone()
            },
            table: LazyChebTable::new(u_lo, u_hi, 1e-13, 1e-6 * u_hi),
        }
    }

    /// ln lambda1_0 at u = 1/T, the function tabulated.
    fn ln_lambda1(&self, u: f64) -> Result<f64, NumericsError> {
        self.model
            .unscaled_lambda1_zero_field(1.0 / u)
            .map(|l| l.ln())
    }

    /// The table built in full; the first error of the calibration if any.
    fn build(model: &RateModel, t_lo: f64, t_hi: f64) -> Result<Self, NumericsError> {
        let t = Self::lazy(model, t_lo, t_hi);
        t.table.build_all(|u| t.ln_lambda1(u))?;
        Ok(t)
    }

    /// (ln lambda1_0, d ln lambda1_0 / dT) at T, or `None` outside the table (or where its
    /// panel cannot be built).
    pub fn eval(&self, t_k: f64) -> Option<(f64, f64)> {
        if !(t_k >= self.t_lo && t_k <= self.t_hi) {
            return None;
        }
        let u = (1.0 / t_k).clamp(self.table.range().0, self.table.range().1);
        let (h, dhdu) = self
            .table
            .eval_with_derivative(u, |u| self.ln_lambda1(u).map_err(|_| ()))?;
        Some((h, dhdu * (-u * u)))
    }

    /// Number of panels built so far.
    pub fn panels(&self) -> usize {
        self.table.panels()
    }

    /// The shared table of `model` ([`SHARED_TABLE_RANGE_K`]), nothing built yet.
    pub(crate) fn shared_lazy(model: &RateModel) -> Self {
        let (lo, hi) = SHARED_TABLE_RANGE_K;
        Self::lazy(model, lo, hi)
    }

    /// What its panels depend on: the calibration's key, the range, degree and tolerances
    /// (every number by its bits).
    pub(crate) fn fingerprint(&self) -> String {
        format!(
            "{:?} | T {:?} | {}",
            self.model.kappa_table_key(),
            (self.t_lo.to_bits(), self.t_hi.to_bits()),
            self.table.layout()
        )
    }

    /// Build every panel; the first error of the calibration if any.
    pub(crate) fn build_all(&self) -> Result<(), NumericsError> {
        self.table.build_all(|u| self.ln_lambda1(u))
    }

    /// Append the panels built so far ([`LazyChebTable::export`]).
    pub(crate) fn export(&self, out: &mut Vec<u8>) {
        self.table.export(out);
    }

    /// The shared table of `model` with the panels `export` wrote; `None` if the bytes are
    /// not such a record.
    pub(crate) fn import_shared(model: &RateModel, bytes: &[u8]) -> Option<Self> {
        let empty = Self::shared_lazy(model);
        let (u_lo, u_hi) = (1.0 / empty.t_hi, 1.0 / empty.t_lo);
        let mut r = crate::numerics::codec::Reader::new(bytes);
        let table = LazyChebTable::import(u_lo, u_hi, 1e-13, 1e-6 * u_hi, &mut r)?;
        r.is_empty().then_some(Self { table, ..empty })
    }

    /// Calibration evaluations spent building its panels so far.
    pub fn evaluations(&self) -> usize {
        self.table.evaluations()
    }
}

/// Temperature range (K) of the shared kappa tables ([`RateModel::shared_kappa_table`]).
pub const SHARED_TABLE_RANGE_K: (f64, f64) = (0.25, 64.0);

/// What a kappa(T) table depends on (spin, Arrhenius law, scaling), every number by its bits:
/// the key under which an engine context ([`crate::kinetics::EngineContext`]) shares it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KappaTableKey {
    /// 2S, D, g_par and B4 (bits).
    spin: (u32, u64, u64, u64),
    /// tau0 and U_b (bits).
    arrhenius: (u64, u64),
    /// The scaling's kind and its number (bits; 0 for Arrhenius).
    scaling: (u8, u64),
    /// The mechanisms the calibration uses (those proportional to kappa): name and key.
    calibrating: Vec<(String, Vec<u64>)>,
}

/// Scaled rates of a material: its relaxation mechanisms ([`Mechanism`]; the spin-phonon one
/// first, alone unless others are added with [`RateModel::with_mechanism`]) and kappa(T).
#[derive(Debug, Clone)]
pub struct RateModel {
    spin: GiantSpin,
    arrhenius: Arrhenius,
    /// -ln(tau0 / 1 s) of `arrhenius`, computed once (kappa(T) takes it at every right-hand
    /// side).
    minus_ln_tau0: f64,
    scaling: KappaScaling,
    /// Which mechanisms the calibration of kappa matches to the Arrhenius law.
    calibration: KappaCalibration,
    /// The spin-phonon mechanism (also `mechanisms[0]`).
    spin_phonon: Arc<SpinPhonon>,
    mechanisms: Vec<Arc<dyn Mechanism>>,
    /// Largest |i - j| of a channel of any mechanism.
    band: usize,
    table: Option<std::sync::Arc<Lambda1Table>>,
}

impl RateModel {
    /// A rate model for `spin` with `arrhenius` law and `scaling`.
    pub fn new(
        spin: GiantSpin,
        arrhenius: Arrhenius,
        scaling: KappaScaling,
    ) -> Result<Self, ParameterError> {
        scaling.validate()?;
        let spin_phonon = Arc::new(SpinPhonon::new(&spin));
        let mechanisms: Vec<Arc<dyn Mechanism>> = vec![spin_phonon.clone()];
        Ok(Self {
            spin,
            minus_ln_tau0: -arrhenius.tau0_s.ln(),
            arrhenius,
            scaling,
            calibration: KappaCalibration::WithoutTunnelling,
            spin_phonon,
            band: crate::rates::mechanism::band_of(&mechanisms),
            mechanisms,
            table: None,
        })
    }

    /// The model with `mechanism` added to its list (its channels' levels must exist; the band
    /// widens to its widest channel). The Arrhenius calibration of kappa uses the mechanisms
    /// proportional to kappa only, so adding one of those drops a kappa table already attached
    /// (attach tables after adding mechanisms; note that the shared tables of
    /// [`RateModel::with_shared_table`] are keyed by spin, Arrhenius law and scaling only).
    pub fn with_mechanism(mut self, mechanism: Arc<dyn Mechanism>) -> Self {
        let n = self.spin.n_levels();
        assert!(
            mechanism.channels().iter().all(|c| c.i < c.j && c.j < n),
            "mechanism {} has a channel outside the levels",
            mechanism.name()
        );
        if mechanism.proportional_to_kappa() || self.calibration == KappaCalibration::WithTunnelling
        {
            self.table = None;
        }
        self.mechanisms.push(mechanism);
        self.band = crate::rates::mechanism::band_of(&self.mechanisms);
        self
    }

    /// The model with kappa(T) calibrated as `calibration` says (drops a kappa table already
    /// attached if that changes the calibration). Without a mechanism that is not proportional
    /// to kappa both calibrations are the same, bit for bit.
    pub fn with_kappa_calibration(mut self, calibration: KappaCalibration) -> Self {
        if calibration != self.calibration {
            self.table = None;
        }
        self.calibration = calibration;
        self
    }

    /// The calibration of kappa(T).
    pub fn kappa_calibration(&self) -> KappaCalibration {
        self.calibration
    }

    /// Whether the calibration uses every mechanism (with tunnelling, and the model has a
    /// mechanism not proportional to kappa).
    fn calibrates_with_all(&self) -> bool {
        self.calibration == KappaCalibration::WithTunnelling
            && self.mechanisms.iter().any(|m| !m.proportional_to_kappa())
    }

    /// The mechanisms, the spin-phonon one first.
    pub fn mechanisms(&self) -> &[Arc<dyn Mechanism>] {
        &self.mechanisms
    }

    /// The fields (T) near which any mechanism of the model has a narrow resonance
    /// ([`Mechanism::resonance_fields_t`]), in mechanism order: the ramps stop there.
    pub fn resonance_fields_t(&self) -> Vec<f64> {
        self.mechanisms
            .iter()
            .flat_map(|m| m.resonance_fields_t())
            .collect()
    }

    /// The fields (T) where any mechanism's rates are not smooth in B
    /// ([`Mechanism::table_breaks_t`]), in mechanism order: no plane-table panel holds one.
    pub fn table_breaks_t(&self) -> Vec<f64> {
        self.mechanisms
            .iter()
            .flat_map(|m| m.table_breaks_t())
            .collect()
    }

    /// The spin-phonon mechanism.
    pub fn spin_phonon(&self) -> &SpinPhonon {
        &self.spin_phonon
    }

    /// Tabulate ln lambda1_0(T) on [t_lo, t_hi] K (see [`Lambda1Table`]) so kappa(T) and its
    /// derivative cost a Clenshaw sum there; outside, they are computed directly.
    pub fn with_table(mut self, t_lo: f64, t_hi: f64) -> Result<Self, NumericsError> {
        require_positive("table lower temperature (K)", t_lo)?;
        if !(t_hi > t_lo && t_hi.is_finite()) {
            return Err(ParameterError::new(
                "table upper temperature (K)",
                t_hi,
                "must exceed the lower one",
            )
            .into());
        }
        if !matches!(self.scaling, KappaScaling::Absolute { .. }) {
            self.table = Some(std::sync::Arc::new(Lambda1Table::build(&self, t_lo, t_hi)?));
        }
        Ok(self)
    }

    /// The key of this model's shared kappa table, `None` when kappa(T) needs no table
    /// (absolute scaling).
    pub fn kappa_table_key(&self) -> Option<KappaTableKey> {
        let scaling = match self.scaling {
            KappaScaling::Arrhenius => (0, 0),
            KappaScaling::Constant { reference_k } => (1, reference_k.to_bits()),
            KappaScaling::Absolute { .. } => return None,
        };
        Some(KappaTableKey {
            spin: (
                self.spin.two_s(),
                self.spin.d_k().to_bits(),
                self.spin.g_par().to_bits(),
                self.spin.b4_k().to_bits(),
            ),
            arrhenius: (
                self.arrhenius.tau0_s.to_bits(),
                self.arrhenius.barrier_k.to_bits(),
            ),
            scaling,
            calibrating: self
                .mechanisms
                .iter()
                .filter(|m| self.calibrates_with_all() || m.proportional_to_kappa())
                .map(|m| (m.name().to_string(), m.key()))
                .collect(),
        })
    }

    /// Whether any mechanism's rates are not proportional to kappa(T) (tunnelling): the
    /// unscaled rates ([`Self::unscaled_chain`]) then depend on kappa(T) itself.
    pub fn needs_kappa_in_unscaled_rates(&self) -> bool {
        self.mechanisms.iter().any(|m| !m.proportional_to_kappa())
    }

    /// Everything kappa(T) depends on beyond the spin and the mechanisms, as bits: tau0, U_b,
    /// the scaling's kind and number, and the calibration.
    pub(crate) fn kappa_law_bits(&self) -> Vec<u64> {
        let (kind, number) = match self.scaling {
            KappaScaling::Arrhenius => (0, 0),
            KappaScaling::Constant { reference_k } => (1, reference_k.to_bits()),
            KappaScaling::Absolute { kappa_per_s_k3 } => (2, kappa_per_s_k3.to_bits()),
        };
        vec![
            self.arrhenius.tau0_s.to_bits(),
            self.arrhenius.barrier_k.to_bits(),
            kind,
            number,
            u64::from(self.calibration == KappaCalibration::WithTunnelling),
        ]
    }

    /// The same model without its kappa(T) table: kappa computed exactly at every call (a
    /// deterministic function of the model, whichever table a run attached).
    pub(crate) fn without_kappa_table(&self) -> Self {
        Self {
            table: None,
            ..self.clone()
        }
    }

    /// The table to share between runs of this model: over a fixed wide range
    /// ([`SHARED_TABLE_RANGE_K`]), so that every run gets the same kappa(T) whichever built it,
    /// its panels built on first use; `None` if it cannot be built. Only the panel over the
    /// whole range is built here: its nodes include both ends of the range, and the
    /// calibration fails only towards the ends (the slow rate underflows below some
    /// temperature, the spectral gap closes above some other), so it fails somewhere in the
    /// range exactly when it fails on that panel.
    pub fn shared_kappa_table(&self) -> Option<std::sync::Arc<Lambda1Table>> {
        let (lo, hi) = SHARED_TABLE_RANGE_K;
        let table = Lambda1Table::lazy(self, lo, hi);
        table
            .table
            .whole_range_builds(|u| table.ln_lambda1(u).map_err(|_| ()))
            .then(|| std::sync::Arc::new(table))
    }

    /// Attach `shared` (from [`Self::shared_kappa_table`] of an equal model) when it covers
    /// [t_lo, t_hi] K; otherwise a table for [t_lo, t_hi] of its own. Without any table (both
    /// builds failed) kappa is computed directly; absolute scaling needs none.
    pub fn with_shared_table(
        self,
        shared: Option<std::sync::Arc<Lambda1Table>>,
        t_lo: f64,
        t_hi: f64,
    ) -> Self {
        if matches!(self.scaling, KappaScaling::Absolute { .. }) {
            return self;
        }
        match shared {
            Some(t) if t.t_lo <= t_lo && t.t_hi >= t_hi => Self {
                table: Some(t),
                ..self
            },
            _ => {
                let fallback = self.clone();
                self.with_table(t_lo, t_hi).unwrap_or(fallback)
            }
        }
    }

    /// The table, if built.
    pub fn table(&self) -> Option<&Lambda1Table> {
        self.table.as_deref()
    }

    /// ln lambda1_0(T) and its T derivative: from the table where it covers T, else directly
    /// (the derivative then by a five-point central difference with step 1e-3 T: truncation
    /// ~1e-12, rounding ~1e-13 relative; ln lambda1_0 is smooth in T).
    fn log_lambda1_zero_field(
        &self,
        t_k: f64,
        with_derivative: bool,
    ) -> Result<(f64, f64), NumericsError> {
        if let Some(v) = self.table.as_ref().and_then(|tab| tab.eval(t_k)) {
            return Ok(v);
        }
        let l = |t: f64| self.unscaled_lambda1_zero_field(t).map(f64::ln);
        let value = l(t_k)?;
        if !with_derivative {
            return Ok((value, f64::NAN));
        }
        let h = 1e-3 * t_k;
        let d = (-l(t_k + 2.0 * h)? + 8.0 * l(t_k + h)? - 8.0 * l(t_k - h)? + l(t_k - 2.0 * h)?)
            / (12.0 * h);
        Ok((value, d))
    }

    /// The spin.
    pub fn spin(&self) -> &GiantSpin {
        &self.spin
    }

    /// The spin-phonon transitions.
    pub fn transitions(&self) -> &[Transition] {
        self.spin_phonon.transitions()
    }

    /// The spin-phonon transitions as opposite pairs.
    pub fn pairs(&self) -> &[TransitionPair] {
        self.spin_phonon.pairs()
    }

    /// Largest |i - j| of a channel of any mechanism (|Delta M| <= 2 for spin-phonon): the half
    /// band width of the rate matrix.
    pub fn band(&self) -> usize {
        self.band
    }

    /// The scaling rule.
    pub fn scaling(&self) -> KappaScaling {
        self.scaling
    }

    /// Rate matrix with kappa = 1 (units K^3): `w[(to, from)]` is the rate from -> to, the
    /// diagonal holds minus the total outgoing rate, so dn/dt = kappa W n.
    pub fn unscaled_matrix(&self, field_t: f64, t_k: f64) -> DMatrix<f64> {
        self.unscaled_chain(field_t, t_k).to_dense()
    }

    /// The unscaled rates (the physical ones divided by kappa(T), K^3) of every mechanism at
    /// (B, T) in band form (half band width [`RateModel::band`]). Mechanisms not proportional to
    /// kappa need kappa(T) here; where it cannot be computed their rates are NaN (and the slow
    /// mode reports no spectral gap).
    pub fn unscaled_chain(&self, field_t: f64, t_k: f64) -> Chain {
        let mut e = crate::rates::mechanism::Scratch::new();
        let e = e.get(self.spin.n_levels());
        self.spin.energies_into(field_t, e);
        self.unscaled_chain_from_energies(field_t, t_k, e)
    }

    /// [`Self::unscaled_chain`] with the level energies at `field_t` already computed
    /// (`energies_k`, as [`GiantSpin::energies_into`] gives them): the reduction's well state
    /// uses them for its Boltzmann weights too.
    pub(crate) fn unscaled_chain_from_energies(
        &self,
        field_t: f64,
        t_k: f64,
        energies_k: &[f64],
    ) -> Chain {
        let kappa = if self.mechanisms.iter().all(|m| m.proportional_to_kappa()) {
            f64::NAN
        } else {
            self.kappa(t_k).unwrap_or(f64::NAN)
        };
        self.chain_with_energies(&self.mechanisms, field_t, t_k, kappa, energies_k)
    }

    /// The unscaled chain of `mechanisms` at (B, T) with kappa(T) = `kappa`.
    fn chain_of(
        &self,
        mechanisms: &[Arc<dyn Mechanism>],
        field_t: f64,
        t_k: f64,
        kappa: f64,
    ) -> Chain {
        let mut e = crate::rates::mechanism::Scratch::new();
        let e = e.get(self.spin.n_levels());
        self.spin.energies_into(field_t, e);
        self.chain_with_energies(mechanisms, field_t, t_k, kappa, e)
    }

    /// [`Self::chain_of`] from the level energies `e` at `field_t`.
    fn chain_with_energies(
        &self,
        mechanisms: &[Arc<dyn Mechanism>],
        field_t: f64,
        t_k: f64,
        kappa: f64,
        e: &[f64],
    ) -> Chain {
        let mut c = Chain::new(self.spin.n_levels(), self.band);
        let at = RatePoint {
            field_t,
            t_k,
            kappa_per_s_k3: kappa,
            dln_kappa_dt: f64::NAN,
        };
        crate::rates::mechanism::add_to_chain(mechanisms, &at, e, &mut c);
        c
    }

    /// The unscaled chain of the mechanisms proportional to kappa: the Arrhenius calibration's.
    fn calibration_chain(&self, field_t: f64, t_k: f64) -> Chain {
        if self.mechanisms.iter().all(|m| m.proportional_to_kappa()) {
            return self.chain_of(&self.mechanisms, field_t, t_k, f64::NAN);
        }
        let own: Vec<Arc<dyn Mechanism>> = self
            .mechanisms
            .iter()
            .filter(|m| m.proportional_to_kappa())
            .cloned()
            .collect();
        self.chain_of(&own, field_t, t_k, f64::NAN)
    }

    fn no_gap(field_t: f64, t_k: f64) -> impl Fn(NumericsError) -> NumericsError {
        move |e| match e {
            NumericsError::NoSpectralGap { .. } => NumericsError::NoSpectralGap {
                field_t,
                temperature_k: t_k,
            },
            NumericsError::SlowestRateUnresolved {
                dense_relative_error,
                ..
            } => NumericsError::SlowestRateUnresolved {
                field_t,
                temperature_k: t_k,
                dense_relative_error,
            },
            other => other,
        }
    }

    /// The slow (over-barrier) mode of the unscaled matrix at (B, T); `None` when the field
    /// leaves a single well (no barrier).
    pub fn unscaled_slow_mode(
        &self,
        field_t: f64,
        t_k: f64,
    ) -> Result<Option<SlowMode>, NumericsError> {
        require_positive("temperature_k", t_k)?;
        if field_t.abs() >= self.spin.bistability_field_t() {
            return Ok(None);
        }
        slow_mode(&self.unscaled_chain(field_t, t_k))
            .map(Some)
            .map_err(Self::no_gap(field_t, t_k))
    }

    /// The slowest non-zero rate lambda1 of the unscaled matrix at (B, T) (K^3), as `smmcool
    /// tau` reports it ([`slowest_rate`]): the slow mode's (full relative precision) where it
    /// is separated, else the dense symmetric eigenvalue where double precision gives it to
    /// [`crate::rates::slowmode::DENSE_RELATIVE_ACCURACY`] (hot, with tunnelling channels:
    /// docs/numerics.md section 3.3). `None` when the field leaves a single well.
    pub fn unscaled_slowest_rate(
        &self,
        field_t: f64,
        t_k: f64,
    ) -> Result<Option<f64>, NumericsError> {
        require_positive("temperature_k", t_k)?;
        if field_t.abs() >= self.spin.bistability_field_t() {
            return Ok(None);
        }
        slowest_rate(&self.unscaled_chain(field_t, t_k))
            .map(Some)
            .map_err(Self::no_gap(field_t, t_k))
    }

    /// The slow mode of `chain` (the unscaled rates at (B, T)) with its interior factors `lu`.
    pub fn unscaled_slow_mode_of(
        &self,
        chain: &Chain,
        lu: &MMatrixLu,
        field_t: f64,
        t_k: f64,
    ) -> Result<SlowMode, NumericsError> {
        slow_mode_with(chain, lu).map_err(Self::no_gap(field_t, t_k))
    }

    /// The rate of the two-well reduction at (B, T) from `chain` and its interior factors `lu`
    /// ([`reduction_rate_with`]): the slow mode ([`Self::unscaled_slow_mode_of`]) bit for bit
    /// unless a channel joins the two well bottoms directly (tunnelling through the ground
    /// pair's resonance), whose terms are then added at the fixed point of the other paths.
    pub fn unscaled_reduced_rate_of(
        &self,
        chain: &Chain,
        lu: &MMatrixLu,
        field_t: f64,
        t_k: f64,
    ) -> Result<SlowMode, NumericsError> {
        reduction_rate_with(chain, lu).map_err(Self::no_gap(field_t, t_k))
    }

    /// A lower bound on the slowest intra-well relaxation rate of the unscaled matrix at (B, T)
    /// (see [`crate::rates::slowmode::intra_well_rate`]); `None` without two wells.
    pub fn unscaled_intra_well_rate(&self, field_t: f64, t_k: f64) -> Option<f64> {
        if field_t.abs() >= self.spin.bistability_field_t() {
            return None;
        }
        intra_well_rate(&self.unscaled_chain(field_t, t_k))
    }

    /// Slowest relaxation rate of the unscaled zero-field matrix of the mechanisms proportional
    /// to kappa (the spin-phonon one), K^3: the Arrhenius calibration's.
    pub fn unscaled_lambda1_zero_field(&self, t_k: f64) -> Result<f64, NumericsError> {
        require_positive("temperature_k", t_k)?;
        let barrier = ParameterError::new(
            "d_k",
            self.spin.d_k(),
            "the Arrhenius calibration needs an easy-axis spin (D < 0, S >= 1) with a barrier",
        );
        if self.spin.bistability_field_t() <= 0.0 {
            return Err(NumericsError::Parameter(barrier));
        }
        let mode = slow_mode(&self.calibration_chain(0.0, t_k)).map_err(Self::no_gap(0.0, t_k))?;
        let mut l = mode.lambda1_per_s;
        if self.calibrates_with_all() && l.is_finite() && l > 0.0 {
            l = self.lambda1_with_tunnelling(t_k, l)?;
        }
        if !(l.is_finite() && l > 1e-290) {
            return Err(NumericsError::RateUnderflow {
                temperature_k: t_k,
                lambda1_per_s: l,
            });
        }
        Ok(l)
    }

    /// The calibration with tunnelling at T (`lambda_sp` the spin-phonon one's slow rate): the
    /// effective unscaled rate 1/(tau(T) kappa*), kappa* the largest kappa at which the slowest
    /// zero-field rate of every mechanism, kappa* lambda1(kappa*), equals 1/tau(T), so that
    /// kappa(T) = 1/(tau lambda) gives kappa* (docs/physics.md section 10.6).
    ///
    /// With phi(x) = ln(kappa lambda1(kappa) tau), x = ln kappa: at the calibration without
    /// tunnelling, x0, phi >= 0 (the tunnelling channels obey detailed balance with the same
    /// Boltzmann populations, so they can only raise the slowest rate), and phi > 0 for every
    /// x > x0 (the spin-phonon part alone gives x - x0 there), so every root lies below x0. The
    /// search steps down from x0 by ln 2 / 4 (to x0 - 40 ln 2 at most, or to where the slow
    /// mode is lost) and takes the first sign change (the largest kappa), then refines it by
    /// Illinois regula falsi to |dx| <= 1e-15 (1e-15 relative in kappa); no sign change is
    /// [`NumericsError::NoKappaCalibration`]. phi need not be monotonic: where a local minimum
    /// of phi above the root crosses zero as T changes, kappa*(T) jumps by orders of magnitude
    /// (docs/physics.md section 10.6).
    fn lambda1_with_tunnelling(&self, t_k: f64, lambda_sp: f64) -> Result<f64, NumericsError> {
        let ln_tau = self.arrhenius.tau0_s.ln() + self.arrhenius.barrier_k / t_k;
        let phi = |x: f64| -> Result<f64, NumericsError> {
            let l = self.unscaled_lambda1_zero_field_at_kappa(t_k, x.exp())?;
            Ok(x + l.ln() + ln_tau)
        };
        let x0 = -ln_tau - lambda_sp.ln();
        let f0 = phi(x0)?;
        if f0 <= 0.0 {
            return Ok((-ln_tau - x0).exp());
        }
        let step = std::f64::consts::LN_2 / 4.0;
        let (mut hi, mut f_hi) = (x0, f0);
        let mut best = (x0, f0);
        let mut bracket = None;
        for i in 1..=160 {
            let x = x0 - step * f64::from(i);
            let f = match phi(x) {
                Ok(f) if f.is_finite() => f,
                // The slow mode is lost (no spectral gap) towards small kappa: stop there.
                _ => break,
            };
            if f <= 0.0 {
                bracket = Some((x, f));
                break;
            }
            if f < best.1 {
                best = (x, f);
            }
            (hi, f_hi) = (x, f);
        }
        let Some((mut lo, mut f_lo)) = bracket else {
            return Err(NumericsError::NoKappaCalibration {
                temperature_k: t_k,
                tau_s: ln_tau.exp(),
                longest_s: (ln_tau - best.1).exp(),
                kappa_per_s_k3: best.0.exp(),
            });
        };
        if f_lo == 0.0 {
            return Ok((-ln_tau - lo).exp());
        }
        // Illinois regula falsi on [lo, hi], f_lo < 0 < f_hi.
        let mut side = 0i8;
        let mut x = lo;
        for _ in 0..200 {
            x = (lo * f_hi - hi * f_lo) / (f_hi - f_lo);
            if !(x > lo && x < hi) {
                x = 0.5 * (lo + hi);
            }
            let f = phi(x)?;
            if f == 0.0 {
                break;
            }
            if f < 0.0 {
                (lo, f_lo) = (x, f);
                if side == -1 {
                    f_hi *= 0.5;
                }
                side = -1;
            } else {
                (hi, f_hi) = (x, f);
                if side == 1 {
                    f_lo *= 0.5;
                }
                side = 1;
            }
            if hi - lo <= 1e-15 * hi.abs().max(1.0) {
                break;
            }
        }
        Ok((-ln_tau - x).exp())
    }

    /// Slowest relaxation rate of the unscaled zero-field matrix of every mechanism, the ones
    /// not proportional to kappa evaluated at kappa = `kappa_per_s_k3`, K^3.
    pub fn unscaled_lambda1_zero_field_at_kappa(
        &self,
        t_k: f64,
        kappa_per_s_k3: f64,
    ) -> Result<f64, NumericsError> {
        let chain = self.chain_of(&self.mechanisms, 0.0, t_k, kappa_per_s_k3);
        slowest_rate(&chain).map_err(Self::no_gap(0.0, t_k))
    }

    /// kappa(T) in 1/(s K^3).
    pub fn kappa(&self, t_k: f64) -> Result<f64, NumericsError> {
        self.kappa_impl(t_k, false).map(|v| v.0)
    }

    fn kappa_impl(&self, t_k: f64, with_derivative: bool) -> Result<(f64, f64), NumericsError> {
        match self.scaling {
            KappaScaling::Arrhenius => {
                let (l, dl) = self.log_lambda1_zero_field(t_k, with_derivative)?;
                // kappa = 1/(tau0 exp(U_b/T) lambda1_0): d ln kappa/dT = U_b/T^2 - d ln lambda1_0/dT.
                let ln_kappa = self.minus_ln_tau0 - self.arrhenius.barrier_k / t_k - l;
                Ok((ln_kappa.exp(), self.arrhenius.barrier_k / (t_k * t_k) - dl))
            }
            KappaScaling::Constant { reference_k } => {
                let (l, _) = self.log_lambda1_zero_field(reference_k, false)?;
                Ok((
                    (self.minus_ln_tau0 - self.arrhenius.barrier_k / reference_k - l).exp(),
                    0.0,
                ))
            }
            KappaScaling::Absolute { kappa_per_s_k3 } => Ok((kappa_per_s_k3, 0.0)),
        }
    }

    /// kappa(T) and d ln kappa / dT (1/K): U_b/T^2 - d ln lambda1_0/dT for Arrhenius scaling,
    /// 0 otherwise.
    pub fn kappa_and_log_derivative(&self, t_k: f64) -> Result<(f64, f64), NumericsError> {
        self.kappa_impl(t_k, true)
    }

    /// The model's slowest zero-field relaxation time 1/(kappa lambda1) in s. Equal to the
    /// Arrhenius tau for Arrhenius scaling (up to rounding); the model's own law otherwise.
    pub fn tau_model_s(&self, t_k: f64) -> Result<f64, NumericsError> {
        Ok(1.0 / (self.kappa(t_k)? * self.unscaled_lambda1_zero_field(t_k)?))
    }

    /// The scaled rate matrix kappa(T) W(B, T), 1/s.
    pub fn matrix(&self, field_t: f64, t_k: f64) -> Result<DMatrix<f64>, NumericsError> {
        Ok(self.unscaled_matrix(field_t, t_k) * self.kappa(t_k)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Material;
    use crate::numerics::cheb::ChebTable;

    /// The shared kappa table built on demand gives, at every temperature and in any order of
    /// lookups, the bits of the table built in full at once (the eager adaptive build).
    #[test]
    fn lazy_kappa_table_equals_the_full_table_bit_for_bit() {
        let m = Material::mn12ac();
        let model = RateModel::new(m.spin, m.arrhenius, KappaScaling::Arrhenius).unwrap();
        let (lo, hi) = SHARED_TABLE_RANGE_K;
        let (u_lo, u_hi) = (1.0 / hi, 1.0 / lo);
        let full = ChebTable::build(u_lo, u_hi, [1e-13], 1e-6 * u_hi, |u| {
            model.unscaled_lambda1_zero_field(1.0 / u).map(|l| [l.ln()])
        })
        .unwrap();
        let lazy = model.shared_kappa_table().unwrap();
        // A lone run's lookups, 2.5-4 K, build a small part of the table.
        for k in 0..=100 {
            lazy.eval(2.5 + 1.5 * k as f64 / 100.0).unwrap();
        }
        assert!(
            2 * lazy.evaluations() < full.evaluations,
            "{} of {} evaluations",
            lazy.evaluations(),
            full.evaluations
        );
        // Pseudo-random temperatures over the whole range, the ends, and the panel starts.
        let mut seed = 0x9e3779b97f4a7c15u64;
        let mut temps: Vec<f64> = (0..4000)
            .map(|_| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                lo * (hi / lo).powf((seed >> 11) as f64 / (1u64 << 53) as f64)
            })
            .collect();
        temps.extend([lo, hi]);
        let mut us: Vec<f64> = full.starts().to_vec();
        us.extend(full.starts().iter().map(|a| a.next_up()));
        us.extend(full.starts().iter().map(|a| a.next_down()));
        let checked = |t: f64, u: f64| {
            let (h, dh) = lazy.eval(t).unwrap();
            let (hf, dhf) = full.eval_one_with_derivative(0, u).unwrap();
            assert_eq!(h.to_bits(), hf.to_bits(), "T = {t} K");
            assert_eq!(dh.to_bits(), (dhf * (-u * u)).to_bits(), "T = {t} K");
        };
        for &t in &temps {
            checked(t, (1.0 / t).clamp(u_lo, u_hi));
        }
        // At a panel start u itself (1/(1/u) may round away from it): the table's own lookup.
        for &u in us.iter().filter(|u| **u >= u_lo && **u <= u_hi) {
            let (h, dh) = lazy
                .table
                .eval_with_derivative(u, |u| lazy.ln_lambda1(u).map_err(|_| ()))
                .unwrap();
            let (hf, dhf) = full.eval_one_with_derivative(0, u).unwrap();
            assert_eq!(
                (h.to_bits(), dh.to_bits()),
                (hf.to_bits(), dhf.to_bits()),
                "u = {u}"
            );
        }
        assert_eq!(lazy.panels(), full.panels());
        assert_eq!(lazy.evaluations(), full.evaluations);
    }

    /// Two threads filling one table on demand get the bits of a table filled by one.
    #[test]
    fn lazy_kappa_table_is_filled_alike_from_two_threads() {
        let m = Material::mn12ac();
        let model = RateModel::new(m.spin, m.arrhenius, KappaScaling::Arrhenius).unwrap();
        let shared = model.shared_kappa_table().unwrap();
        let alone = model.shared_kappa_table().unwrap();
        let temps: Vec<f64> = (0..400).map(|k| 1.0 + 0.02 * k as f64).collect();
        let got: Vec<Vec<(u64, u64)>> = std::thread::scope(|s| {
            let handles: Vec<_> = [false, true]
                .into_iter()
                .map(|rev| {
                    let (shared, temps) = (&shared, &temps);
                    s.spawn(move || {
                        let mut order = temps.clone();
                        if rev {
                            order.reverse();
                        }
                        let mut v: Vec<(u64, u64)> = order
                            .iter()
                            .map(|&t| {
                                let (h, d) = shared.eval(t).unwrap();
                                (h.to_bits(), d.to_bits())
                            })
                            .collect();
                        if rev {
                            v.reverse();
                        }
                        v
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let want: Vec<(u64, u64)> = temps
            .iter()
            .map(|&t| {
                let (h, d) = alone.eval(t).unwrap();
                (h.to_bits(), d.to_bits())
            })
            .collect();
        assert!(got[0] == want, "first thread");
        assert!(got[1] == want, "second thread, lookups in reverse order");
        assert_eq!(shared.evaluations(), alone.evaluations());
    }
}
