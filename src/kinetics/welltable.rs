//! The two-well quantities as functions of (B, u = 1/T), tabulated once per spin and shared by
//! the runs of an engine context ([`super::EngineContext`], [`crate::numerics::table2`]).
//!
//! The reduced equations need, at every right-hand side, the temperature from the energy
//! balance (the mean energy of each well and its T derivative), the equilibrium occupation
//! P_R,eq, the unscaled slow rate lambda1_0 and the mean dE/dB of each well. Exactly, each of
//! these is a rate matrix, a band LU, its committors and a slow-mode computation (~5 us); a
//! temperature solve needs several. Tabulated on 17 x 17 Chebyshev panels they are Clenshaw
//! sums. The components are chosen to be nearly linear in u, so that few panels suffice:
//! * ln of each well's mean excitation above its own bottom (K), computed from Boltzmann factors
//!   relative to that bottom, so it keeps full relative precision at any temperature;
//! * the mean dE/dB of each well (K/T);
//! * logit P_R,eq = ln(P_R,eq / P_L,eq);
//! * ln lambda1_0 (1/s, before the kappa(T) scaling).
//!
//! Each panel is accepted when its tail coefficients are below 1e-13 (absolute, in these units:
//! 1e-13 relative in the energies and rates), so the table stands in for the exact kernels to
//! ~1e-13; where it cannot be built (no two wells, or beyond the domain) callers use the exact
//! kernels.

use crate::error::NumericsError;
use crate::model::{Debye, GiantSpin};
use crate::numerics::table2::{LazyTable2, Panel2, Slice, NODES};
use crate::rates::RateModel;
use std::sync::Arc;

/// ln of the left well's mean excitation above its bottom (K).
pub const LN_EXC_L: usize = 0;
/// ln of the right well's mean excitation above its bottom (K).
pub const LN_EXC_R: usize = 1;
/// Mean dE/dB in the left well (K/T).
pub const SLOPE_L: usize = 2;
/// Mean dE/dB in the right well (K/T).
pub const SLOPE_R: usize = 3;
/// ln(P_R,eq / P_L,eq).
pub const LOGIT_R: usize = 4;
/// ln lambda1_0, the unscaled slow rate (1/s).
pub const LN_LAMBDA0: usize = 5;
/// Number of components.
pub const COMPONENTS: usize = 6;
// The temperature solve takes the two excitations as the slices' first two components
// (`Slice::eval_first_two_with_derivatives`), and `FieldSlice::values` the four after them.
const _: () = assert!(
    LN_EXC_L == 0
        && LN_EXC_R == 1
        && SLOPE_L == 2
        && SLOPE_R == 3
        && LOGIT_R == 4
        && LN_LAMBDA0 == 5
        && COMPONENTS == 6
);

/// Temperatures the table covers, K (u = 1/T from 1/64 to 4 1/K).
pub const TABLE_RANGE_K: (f64, f64) = (0.25, 64.0);

/// The shared table of one spin and rate model: over the (B, u) plane (NX = `NODES`) for the
/// ramps, or along u at one field (NX = 1, 17 kernel evaluations per panel instead of 289) for
/// the relaxation at the final field.
#[derive(Debug)]
pub struct WellTable<const NX: usize> {
    rates: RateModel,
    table: LazyTable2<COMPONENTS, NX>,
}

/// The table over the (B, u) plane.
pub type PlaneTable = WellTable<NODES>;
/// The table along u at one field.
pub type LineTable = WellTable<1>;

/// What a well table depends on: the spin and the transitions (levels and weights), every
/// number by its bits. A line table's key adds its field.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WellTableKey {
    /// 2S, D, g_par and B4 (bits).
    spin: (u32, u64, u64, u64),
    /// Each mechanism: its name and key (for spin-phonon: each transition pair's i, j and
    /// the bits of its two weights). With a mechanism not proportional to kappa (tunnelling)
    /// the unscaled rates depend on kappa(T) itself, and a last entry `kappa(T)` holds its law
    /// ([`RateModel::kappa_law_bits`]); without one the key is as before (the shipped tables'
    /// fingerprints print it).
    mechanisms: Vec<(String, Vec<u64>)>,
}

impl WellTableKey {
    /// The key of `rates`' spin and mechanisms (and kappa's law where the rates depend on it).
    pub fn of(rates: &RateModel) -> Self {
        let spin = rates.spin();
        let mut mechanisms: Vec<(String, Vec<u64>)> = rates
            .mechanisms()
            .iter()
            .map(|m| (m.name().to_string(), m.key()))
            .collect();
        if rates.needs_kappa_in_unscaled_rates() {
            mechanisms.push(("kappa(T)".to_string(), rates.kappa_law_bits()));
        }
        Self {
            spin: (
                spin.two_s(),
                spin.d_k().to_bits(),
                spin.g_par().to_bits(),
                spin.b4_k().to_bits(),
            ),
            mechanisms,
        }
    }
}

/// Exact values of the tabulated components at (B, T).
pub fn exact_values(
    rates: &RateModel,
    field_t: f64,
    t_k: f64,
) -> Result<[f64; COMPONENTS], NumericsError> {
    let spin: &GiantSpin = rates.spin();
    let no_gap = NumericsError::NoSpectralGap {
        field_t,
        temperature_k: t_k,
    };
    let chain = rates.unscaled_chain(field_t, t_k);
    let lu = chain.interior_lu().ok_or(no_gap)?;
    // The reduction's rate, as the exact right-hand sides take it (the slow mode bit for bit
    // unless a tunnelling channel joins the two bottoms).
    let mode = rates.unscaled_reduced_rate_of(&chain, &lu, field_t, t_k)?;
    let (ql, qr) = chain.committors(&lu);
    let n = spin.n_levels();
    let bottom = [spin.energy_k(0, field_t), spin.energy_k(n - 1, field_t)];
    let mut z = [0.0; 2];
    let mut x = [0.0; 2];
    let mut s = [0.0; 2];
    for i in 0..n {
        let e = spin.energy_k(i, field_t);
        for (w, q) in [(0usize, ql[i]), (1, qr[i])] {
            if q > 0.0 {
                let de = e - bottom[w];
                let p = q * (-de / t_k).exp();
                z[w] += p;
                x[w] += p * de;
                s[w] += p * spin.energy_slope_k_per_t(i);
            }
        }
    }
    Ok([
        (x[0] / z[0]).ln(),
        (x[1] / z[1]).ln(),
        s[0] / z[0],
        s[1] / z[1],
        (z[1] / z[0]).ln() - (bottom[1] - bottom[0]) / t_k,
        mode.lambda1_per_s.ln(),
    ])
}

impl PlaneTable {
    /// The plane table of this rate model's spin and transitions over both wells' fields
    /// (panels built lazily, on first use).
    pub fn for_model(rates: &RateModel) -> Self {
        let bmax = rates.spin().bistability_field_t();
        // Start with panels about 0.15 T by 0.12 1/K (the size most runs need) so that
        // few panels are built only to be split.
        let start_b = levels(2.0 * bmax, 0.2);
        let breaks = rates.table_breaks_t();
        Self::with_range_and_breaks(rates, (-bmax, bmax), start_b, breaks)
    }

    /// The plane table over `b_range` from B level `start_b`; with `breaks` (the fields where
    /// the rates are not smooth: resonances and window edges of tunnelling) no panel holds
    /// one, a panel the deepest levels do not resolve is left to the exact kernels, and the
    /// lookups start one level deeper in u (such rates, through kappa(T) in the Lorentzian
    /// widths, vary faster in T: every panel of the axial start size would be split).
    fn with_range_and_breaks(
        rates: &RateModel,
        b_range: (f64, f64),
        start_b: u8,
        breaks: Vec<f64>,
    ) -> Self {
        if breaks.is_empty() {
            return Self::with_range(rates, b_range, start_b);
        }
        let table = Self::with_levels(rates, b_range, start_b, 1);
        Self {
            rates: table.rates,
            table: table.table.with_breaks(breaks, true),
        }
    }
}

impl LineTable {
    /// The line table of this rate model at `field_t` (panels built lazily).
    pub fn at_field(rates: &RateModel, field_t: f64) -> Self {
        Self::with_range(rates, (field_t, field_t), 0)
    }
}

/// The dyadic level whose parts of `width` are at most `target` wide.
fn levels(width: f64, target: f64) -> u8 {
    (width / target).log2().ceil().clamp(0.0, 20.0) as u8
}

impl<const NX: usize> WellTable<NX> {
    fn with_range(rates: &RateModel, b_range: (f64, f64), start_b: u8) -> Self {
        Self::with_levels(rates, b_range, start_b, 0)
    }

    /// [`Self::with_range`] with the lookups starting `deeper_u` levels below the usual u
    /// level.
    fn with_levels(rates: &RateModel, b_range: (f64, f64), start_b: u8, deeper_u: u8) -> Self {
        let u_range = (1.0 / TABLE_RANGE_K.1, 1.0 / TABLE_RANGE_K.0);
        let start = (start_b, levels(u_range.1 - u_range.0, 0.125) + deeper_u);
        let max_b = if NX > 1 { start.0 + 10 } else { 0 };
        // Rates that depend on kappa(T) (tunnelling) take it exactly, not from the kappa table
        // the building run attached (whose range, and so last bits, differ between runs): a
        // panel is then the same whichever run builds it.
        let rates = if rates.needs_kappa_in_unscaled_rates() {
            rates.without_kappa_table()
        } else {
            rates.clone()
        };
        Self {
            rates,
            table: LazyTable2::new(
                b_range,
                u_range,
                start,
                (max_b, start.1 + 10),
                [1e-13, 1e-13, 1e-12, 1e-12, 1e-13, 1e-13],
            ),
        }
    }

    /// The panel holding (B, T) and the kernel evaluations this lookup spent building; `None`
    /// outside the table or where the exact kernels fail.
    pub fn panel(&self, field_t: f64, t_k: f64) -> (Option<Arc<Panel2<COMPONENTS, NX>>>, usize) {
        self.panel_near(None, field_t, t_k)
    }

    /// [`Self::panel`], taking `near` (a panel of this table) without a lookup where the
    /// lookup would reach it ([`LazyTable2::panel_near`]).
    fn panel_near(
        &self,
        near: Option<&Arc<Panel2<COMPONENTS, NX>>>,
        field_t: f64,
        t_k: f64,
    ) -> (Option<Arc<Panel2<COMPONENTS, NX>>>, usize) {
        let rates = &self.rates;
        self.table
            .panel_near(near, field_t, 1.0 / t_k, &|b: f64, u: f64| {
                exact_values(rates, b, 1.0 / u)
            })
    }

    /// Panels held so far (built or shipped) and the kernel evaluations they take to build.
    pub fn built(&self) -> (usize, usize) {
        self.table.built()
    }

    /// What its panels depend on: the spin and mechanisms, the domain, levels and
    /// tolerances (every number by its bits).
    pub fn fingerprint(&self) -> String {
        format!(
            "{:?} | {}",
            WellTableKey::of(&self.rates),
            self.table.layout()
        )
    }

    /// Append the panels held so far ([`LazyTable2::export`]).
    pub fn export(&self, out: &mut Vec<u8>) {
        self.table.export(out);
    }

    /// Hold the panels `export` wrote as if built, each decoded when a lookup first reaches
    /// it ([`LazyTable2::seed_lazily`]); false if the bytes are not such a record.
    pub fn seed(&self, bytes: &'static [u8]) -> bool {
        self.table.seed_lazily(bytes)
    }

    /// Rebuild every panel `export` wrote with the exact kernels: the number of panels, or
    /// the key of the first that differs in any bit.
    pub fn check_export(&self, bytes: &[u8]) -> Result<usize, String> {
        let mut r = crate::numerics::codec::Reader::new(bytes);
        let nodes = LazyTable2::<COMPONENTS, NX>::decode(&mut r)
            .filter(|_| r.is_empty())
            .ok_or("the panels do not decode")?;
        let rates = &self.rates;
        let f = |b: f64, u: f64| exact_values(rates, b, 1.0 / u);
        for (key, node) in &nodes {
            if !self.table.rebuilds_to(*key, node, &f) {
                return Err(format!("panel {key:?} differs from a fresh computation"));
            }
        }
        Ok(nodes.len())
    }
}

/// The tabulated well quantities at one (B, T).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WellValues {
    /// Equilibrium occupation of the right well.
    pub right_eq: f64,
    /// Mean dE/dB in the left and right wells, K/T.
    pub slope_k_per_t: [f64; 2],
    /// Unscaled slow rate lambda1_0 (1/s before kappa).
    pub lambda0: f64,
}

impl WellValues {
    /// The quantities from the table's components at one (B, T) (the excitations, the first
    /// two, are not among them).
    fn of_components(v: &[f64; COMPONENTS]) -> Self {
        Self {
            right_eq: 1.0 / (1.0 + (-v[LOGIT_R]).exp()),
            slope_k_per_t: [v[SLOPE_L], v[SLOPE_R]],
            lambda0: v[LN_LAMBDA0].exp(),
        }
    }
}

/// The tabulated well quantities at one (B, T) with their temperature derivatives at fixed
/// field, and the energy balance's partial derivatives: what the reduced system's analytic
/// Jacobian needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WellDerivatives {
    /// The values, as [`FieldSlice::values`] gives them.
    pub values: WellValues,
    /// Mean energy of the right well less that of the left (bottoms included), K: the energy
    /// balance's derivative in P_R.
    pub energy_gap_k: f64,
    /// Total heat capacity at fixed (B, P_R), P_L c_L + P_R c_R + C_ph, k_B: the energy
    /// balance's derivative in T.
    pub heat_capacity: f64,
    /// d <dE/dB>_w / dT of the left and right wells, K/(T K).
    pub dslope_dt: [f64; 2],
    /// d P_R,eq / dT, 1/K.
    pub dright_eq_dt: f64,
    /// d ln lambda1_0 / dT, 1/K.
    pub dln_lambda0_dt: f64,
}

/// A temperature solved on the table and the energy balance's derivatives next to it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BalanceSolve {
    /// The root, K.
    pub t_k: f64,
    /// Total heat capacity at fixed (B, P_R), k_B (the balance's T derivative).
    pub heat_capacity: f64,
    /// Mean energy of the right well less that of the left, K (its P_R derivative).
    pub energy_gap_k: f64,
}

/// Where a [`FieldSlice`] takes its series from.
#[derive(Debug, Clone)]
enum Source {
    Plane(Arc<PlaneTable>),
    Line(Arc<LineTable>),
}

/// The table at one field: series in u, one per panel visited, kept for reuse.
#[derive(Debug, Clone)]
pub struct FieldSlice {
    source: Source,
    field_t: f64,
    /// Energies of the well bottoms (M = -S, +S), K.
    bottom_k: [f64; 2],
    /// The series taken so far (`slices[..live]`; the rest is memory kept from an earlier
    /// field, [`Self::retarget`], written over by the next ones).
    slices: Vec<Slice<COMPONENTS>>,
    live: usize,
    /// The plane panel the last slice came from: the next lookup, here or at a nearby field
    /// ([`Self::start_near`]), takes it without searching the table where it holds the point.
    near: Option<Arc<Panel2<COMPONENTS, NODES>>>,
    /// Kernel evaluations spent building panels through this slice.
    pub evaluations: usize,
}

impl FieldSlice {
    /// The plane table at `field_t`.
    pub fn new(table: Arc<PlaneTable>, field_t: f64) -> Self {
        let bottom_k = Self::bottoms(&table.rates, field_t);
        Self::with_source(Source::Plane(table), field_t, bottom_k)
    }

    /// The line table of `field_t`.
    pub fn line(table: Arc<LineTable>) -> Self {
        let field_t = table.table.x_range().0;
        let bottom_k = Self::bottoms(&table.rates, field_t);
        Self::with_source(Source::Line(table), field_t, bottom_k)
    }

    fn bottoms(rates: &RateModel, field_t: f64) -> [f64; 2] {
        let spin = rates.spin();
        [
            spin.energy_k(0, field_t),
            spin.energy_k(spin.n_levels() - 1, field_t),
        ]
    }

    fn with_source(source: Source, field_t: f64, bottom_k: [f64; 2]) -> Self {
        Self {
            source,
            field_t,
            bottom_k,
            slices: Vec::new(),
            live: 0,
            near: None,
            evaluations: 0,
        }
    }

    /// The same plane table at `field_t` instead: the series taken so far are dropped (their
    /// memory kept for the new field's), the last panel kept as the first lookup's start.
    /// False (and nothing changed) for a line table, which holds one field.
    pub fn retarget(&mut self, field_t: f64) -> bool {
        let Source::Plane(table) = &self.source else {
            return false;
        };
        self.bottom_k = Self::bottoms(&table.rates, field_t);
        self.field_t = field_t;
        self.live = 0;
        true
    }

    /// Start this slice's lookups from the panel `other` (at another field of the same plane
    /// table) last sliced: consecutive fields of a ramp mostly lie in one panel.
    pub fn start_near(&mut self, other: &FieldSlice) {
        if let (Source::Plane(a), Source::Plane(b)) = (&self.source, &other.source) {
            if Arc::ptr_eq(a, b) {
                self.near = other.near.clone();
            }
        }
    }

    /// The phonon temperature at which a state with right-well occupation `right` has total
    /// energy `target_k`: the root of P_L E_L(T) + P_R E_R(T) + U_ph(T) = target, increasing in
    /// T, by Newton's method on the tabulated energies (derivative from the same series) from
    /// `guess_k`. `None` where the table is unavailable or the iteration leaves its range.
    pub fn temperature_k(
        &mut self,
        debye: &Debye,
        right: f64,
        target_k: f64,
        guess_k: f64,
    ) -> Option<f64> {
        self.solve_temperature(debye, right, target_k, guess_k)
            .map(|s| s.t_k)
    }

    /// [`Self::temperature_k`] with the energy balance's derivatives at the last iterate
    /// (a relative 1e-8 from the root), for the next solve's starting point.
    pub fn solve_temperature(
        &mut self,
        debye: &Debye,
        right: f64,
        target_k: f64,
        guess_k: f64,
    ) -> Option<BalanceSolve> {
        let (t_min, t_max) = TABLE_RANGE_K;
        let [bottom_l, bottom_r] = self.bottom_k;
        let left = 1.0 - right;
        let mut t = guess_k.clamp(t_min, t_max);
        let mut polish = false;
        for _ in 0..40 {
            let u = 1.0 / t;
            let s = self.at(t)?;
            // Components LN_EXC_L and LN_EXC_R (0 and 1) with their derivatives.
            let exc = s.eval_first_two_with_derivatives(u);
            let (el, er, c, gap) = self.balance_terms(debye, right, t, u, exc);
            let g = left * (bottom_l + el) + right * (bottom_r + er) + debye.energy_k(t) - target_k;
            if !(c > 0.0 && g.is_finite()) {
                return None;
            }
            let next = t - g / c;
            if !(next >= t_min && next <= t_max && next > 0.5 * t && next < 2.0 * t) {
                return None;
            }
            let step = t - next;
            t = next;
            // Quadratic convergence: after a step below 1e-8 T the next one reaches the
            // rounding floor of the balance, and ends the iteration.
            if step.abs() <= 1e-8 * t {
                if polish || step.abs() <= 4.0 * f64::EPSILON * t {
                    return Some(BalanceSolve {
                        t_k: t,
                        heat_capacity: c,
                        energy_gap_k: gap,
                    });
                }
                polish = true;
            }
        }
        None
    }

    /// The well quantities at T.
    pub fn values(&mut self, t_k: f64) -> Option<WellValues> {
        // Only the components after the two excitations (four series in one AVX register).
        let [slope_l, slope_r, logit, ln_lambda0] = self.at(t_k)?.eval_range(SLOPE_L, 1.0 / t_k);
        let mut v = [0.0; COMPONENTS];
        v[SLOPE_L..].copy_from_slice(&[slope_l, slope_r, logit, ln_lambda0]);
        Some(WellValues::of_components(&v))
    }

    /// The wells' excitation energies (K) and the energy balance's derivatives at right-well
    /// occupation `right` and T, from the two excitations' logarithms and their u derivatives
    /// at u = 1/T: (E_exc,L, E_exc,R, total heat capacity at fixed (B, P_R) in k_B, mean
    /// energy of the right well less that of the left in K).
    fn balance_terms(
        &self,
        debye: &Debye,
        right: f64,
        t_k: f64,
        u: f64,
        exc: [(f64, f64); 2],
    ) -> (f64, f64, f64, f64) {
        let [bottom_l, bottom_r] = self.bottom_k;
        let [(ll, dll), (lr, dlr)] = exc;
        let (el, er) = (ll.exp(), lr.exp());
        // d/dT = -u^2 d/du.
        let c = -u * u * ((1.0 - right) * el * dll + right * er * dlr) + debye.heat_capacity(t_k);
        (el, er, c, (bottom_r + er) - (bottom_l + el))
    }

    /// The well quantities at T with their T derivatives (from the derivative series) and the
    /// energy balance's derivatives at right-well occupation `right`.
    pub fn derivatives(&mut self, debye: &Debye, right: f64, t_k: f64) -> Option<WellDerivatives> {
        let u = 1.0 / t_k;
        let s = self.at(t_k)?;
        let v = s.eval(u);
        let d = s.eval_derivatives(u);
        let exc = [(v[LN_EXC_L], d[LN_EXC_L]), (v[LN_EXC_R], d[LN_EXC_R])];
        let (_, _, heat_capacity, energy_gap_k) = self.balance_terms(debye, right, t_k, u, exc);
        let values = WellValues::of_components(&v);
        let right_eq = values.right_eq;
        let left_eq = 1.0 / (1.0 + v[LOGIT_R].exp());
        // d/dT = -u^2 d/du.
        let du_dt = -u * u;
        Some(WellDerivatives {
            values,
            energy_gap_k,
            heat_capacity,
            dslope_dt: [du_dt * d[SLOPE_L], du_dt * d[SLOPE_R]],
            dright_eq_dt: right_eq * left_eq * du_dt * d[LOGIT_R],
            dln_lambda0_dt: du_dt * d[LN_LAMBDA0],
        })
    }

    /// The field.
    pub fn field_t(&self) -> f64 {
        self.field_t
    }

    /// The series holding T, or `None` where the table is unavailable.
    pub fn at(&mut self, t_k: f64) -> Option<&Slice<COMPONENTS>> {
        let u = 1.0 / t_k;
        match self.slices[..self.live].iter().position(|s| s.contains(u)) {
            Some(i) => Some(&self.slices[i]),
            None => self.add_slice(t_k),
        }
    }

    /// The series holding T taken from its panel and kept (out of line: most calls of
    /// [`Self::at`] find it kept, and need not set up this part's frame).
    #[inline(never)]
    fn add_slice(&mut self, t_k: f64) -> Option<&Slice<COMPONENTS>> {
        // The series is written in place: over memory kept from an earlier field, or a new
        // slot.
        if self.live == self.slices.len() {
            self.slices.push(Slice::zeroed());
        }
        let slot = &mut self.slices[self.live];
        let x = self.field_t;
        let (found, spent) = match &self.source {
            Source::Plane(t) => {
                let (panel, spent) = t.panel_near(self.near.as_ref(), x, t_k);
                if let Some(p) = panel.as_ref() {
                    p.slice_into(x, slot);
                }
                let found = panel.is_some();
                if found {
                    self.near = panel;
                }
                (found, spent)
            }
            Source::Line(t) => {
                let (panel, spent) = t.panel(x, t_k);
                if let Some(p) = panel.as_ref() {
                    p.slice_into(x, slot);
                }
                (panel.is_some(), spent)
            }
        };
        self.evaluations += spent;
        if !found {
            return None;
        }
        self.live += 1;
        Some(&self.slices[self.live - 1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Material;
    use crate::rates::KappaScaling;

    #[test]
    fn table_matches_the_exact_kernels() {
        let m = Material::mn12ac();
        let rates = RateModel::new(m.spin, m.arrhenius, KappaScaling::Arrhenius).unwrap();
        let bmax = m.spin.bistability_field_t();
        let table = Arc::new(PlaneTable::with_range(
            &rates,
            (-bmax, bmax),
            levels(2.0 * bmax, 0.2),
        ));
        let mut worst = [0.0f64; COMPONENTS];
        for a in 0..=16 {
            let b = 0.1 + 0.4 * a as f64 / 16.0;
            let mut slice = FieldSlice::new(table.clone(), b);
            for k in 0..=40 {
                let t = 1.3 * (5.0f64 / 1.3).powf(k as f64 / 40.0);
                let exact = exact_values(&rates, b, t).unwrap();
                let v = slice.at(t).unwrap().eval(1.0 / t);
                for c in 0..COMPONENTS {
                    worst[c] = worst[c].max((v[c] - exact[c]).abs());
                }
            }
        }
        eprintln!("worst {worst:?}, built {:?}", table.built());
        for c in 0..COMPONENTS {
            assert!(worst[c] < 1e-11, "component {c}: {}", worst[c]);
        }
    }

    /// A field slice taken to another field (`retarget`, its memory reused, as the reduced
    /// ramp does with the oldest of its fields) gives the bits of a new slice at that field:
    /// temperature solves and values, at fields 0.1-0.5 T and temperatures across panels; and
    /// `values` (four of the six series) the bits of all six evaluated.
    #[test]
    fn a_retargeted_field_slice_is_a_new_one() {
        let m = Material::mn12ac();
        let rates = RateModel::new(m.spin, m.arrhenius, KappaScaling::Arrhenius).unwrap();
        let table = Arc::new(PlaneTable::for_model(&rates));
        let mut reused = FieldSlice::new(table.clone(), 0.45);
        let mut last: Option<FieldSlice> = None;
        for a in 0..=12 {
            let b = 0.5 - 0.4 * a as f64 / 12.0;
            assert!(reused.retarget(b));
            let mut fresh = FieldSlice::new(table.clone(), b);
            if let Some(l) = &last {
                fresh.start_near(l);
            }
            for k in 0..=10 {
                let t = 1.3 * (5.0f64 / 1.3).powf(k as f64 / 10.0);
                let v = reused.values(t).unwrap();
                assert_eq!(v, fresh.values(t).unwrap(), "{b} T {t} K");
                let all = fresh.at(t).unwrap().eval(1.0 / t);
                let from_all = WellValues::of_components(&all);
                assert_eq!(
                    [
                        v.right_eq,
                        v.lambda0,
                        v.slope_k_per_t[0],
                        v.slope_k_per_t[1]
                    ]
                    .map(f64::to_bits),
                    [
                        from_all.right_eq,
                        from_all.lambda0,
                        from_all.slope_k_per_t[0],
                        from_all.slope_k_per_t[1]
                    ]
                    .map(f64::to_bits)
                );
                for right in [0.0, 0.4] {
                    // The energy at (P_R, T), solved for from 1.2 T.
                    let [bl, br] = fresh.bottom_k;
                    let target = (1.0 - right) * (bl + all[LN_EXC_L].exp())
                        + right * (br + all[LN_EXC_R].exp())
                        + m.debye.energy_k(t);
                    let a = reused.solve_temperature(&m.debye, right, target, 1.2 * t);
                    let b = fresh.solve_temperature(&m.debye, right, target, 1.2 * t);
                    let (a, b) = (a.unwrap().t_k, b.unwrap().t_k);
                    assert_eq!(a.to_bits(), b.to_bits());
                    assert!((a - t).abs() < 1e-9 * t, "{a} {t}");
                }
            }
            last = Some(fresh);
        }
        // A line table holds one field.
        let line = Arc::new(LineTable::at_field(&rates, 0.1));
        assert!(!FieldSlice::line(line).retarget(0.2));
    }

    /// With tunnelling (`mn12ac-barra`, whose rates are not proportional to kappa(T)) the line
    /// table at a fixed field against the exact kernels, with kappa computed directly (the
    /// table's rates) and from the kappa table a run attaches: on the k = 0 resonance
    /// (B = 0), inside its window (0.1 T) and where it closes (0.15 T), 1.2-6 K.
    #[test]
    fn line_tables_with_tunnelling_match_the_exact_kernels() {
        use crate::model::Overrides;
        let m = Material::for_trajectories("mn12ac-barra", &Overrides::default()).unwrap();
        let rates = m.rate_model(KappaScaling::Arrhenius).unwrap();
        assert!(rates.needs_kappa_in_unscaled_rates());
        let attached = rates.clone().with_table(1.0, 8.0).unwrap();
        assert!(attached.table().is_some());
        let mut worst = [0.0f64; COMPONENTS];
        for b in [0.0, 0.1, 0.15] {
            // Built from the model with a kappa table attached: the table drops it.
            let table = Arc::new(LineTable::at_field(&attached, b));
            assert!(table.rates.table().is_none());
            let mut slice = FieldSlice::line(table.clone());
            for k in 0..=30 {
                let t = 1.2 * (6.0f64 / 1.2).powf(k as f64 / 30.0);
                let v = slice.at(t).unwrap().eval(1.0 / t);
                for exact in [
                    exact_values(&rates, b, t).unwrap(),
                    exact_values(&attached, b, t).unwrap(),
                ] {
                    for c in 0..COMPONENTS {
                        worst[c] = worst[c].max((v[c] - exact[c]).abs());
                    }
                }
            }
        }
        eprintln!("worst {worst:?}");
        for c in 0..COMPONENTS {
            assert!(worst[c] < 1e-11, "component {c}: {}", worst[c]);
        }
    }
}

/// With tunnelling (`mn12ac-barra`: k = 0 resonances at B = 0 with their window edges at
/// B_1/4 and B_1/2, k = +-2 near +-0.82-1.07 T) the plane table against the exact kernels
/// over -0.6..0.6 T and 1.3-6 K: every value it gives within 1e-11 of them (the same
/// tolerance as the axial table's test), no value from a panel holding a resonance or a
/// window edge (a lookup at one gets `None`), and values at most fields away from them.
#[cfg(test)]
mod tunnelling_plane_tests {
    use super::*;
    use crate::model::{Material, Overrides};
    use crate::rates::KappaScaling;

    #[test]
    fn plane_tables_with_tunnelling_match_the_exact_kernels_away_from_the_breaks() {
        let m = Material::for_trajectories("mn12ac-barra", &Overrides::default()).unwrap();
        let rates = m.rate_model(KappaScaling::Arrhenius).unwrap();
        let breaks = rates.table_breaks_t();
        assert!(!breaks.is_empty());
        let b1 = m.spin.resonance_field_t(1);
        for b in [0.0, 0.25 * b1, 0.5 * b1, -0.25 * b1, -0.5 * b1] {
            assert!(
                breaks.iter().any(|x| (x - b).abs() <= 1e-12),
                "{b} not a break"
            );
        }
        let table = Arc::new(PlaneTable::for_model(
            &rates.clone().with_table(1.0, 8.0).unwrap(),
        ));
        assert!(table.fingerprint().contains("breaks"));
        // At a break: no value.
        for &b in breaks.iter().filter(|b| b.abs() < 0.6) {
            let mut slice = FieldSlice::new(table.clone(), b);
            assert!(slice.at(3.0).is_none(), "a value at the break {b} T");
        }
        let mut worst = [0.0f64; COMPONENTS];
        let (mut found, mut total) = (0, 0);
        for a in 0..=24 {
            let b = -0.6 + 1.2 * (a as f64 + 0.37) / 24.0;
            let mut slice = FieldSlice::new(table.clone(), b);
            for k in 0..=12 {
                let t = 1.3 * (6.0f64 / 1.3).powf(k as f64 / 12.0);
                total += 1;
                let Some(v) = slice.at(t).map(|s| s.eval(1.0 / t)) else {
                    continue;
                };
                found += 1;
                let exact = exact_values(&rates, b, t).unwrap();
                for c in 0..COMPONENTS {
                    worst[c] = worst[c].max((v[c] - exact[c]).abs());
                }
            }
        }
        eprintln!(
            "worst {worst:?}, {found} of {total} from the table, built {:?}",
            table.built()
        );
        for c in 0..COMPONENTS {
            assert!(worst[c] < 1e-11, "component {c}: {}", worst[c]);
        }
        assert!(found * 10 >= total * 9, "{found} of {total}");
    }

    /// Without resonances the plane table has no breaks, and its layout (the shipped tables'
    /// fingerprints) is as before.
    #[test]
    fn axial_plane_tables_have_no_breaks() {
        let m = Material::mn12ac();
        let rates = RateModel::new(m.spin, m.arrhenius, KappaScaling::Arrhenius).unwrap();
        assert!(!PlaneTable::for_model(&rates)
            .fingerprint()
            .contains("breaks"));
    }
}

#[cfg(test)]
mod key_tests {
    use super::WellTableKey;
    use crate::model::Material;
    use crate::rates::mechanism::{Channel, Mechanism, PairRates, PairRatesDt, RatePoint};
    use crate::rates::{KappaScaling, RateModel};
    use std::sync::Arc;

    /// A mechanism that only has a key.
    #[derive(Debug)]
    struct Keyed(Vec<Channel>);
    impl Mechanism for Keyed {
        fn name(&self) -> &str {
            "keyed"
        }
        fn channels(&self) -> &[Channel] {
            &self.0
        }
        fn key(&self) -> Vec<u64> {
            vec![7]
        }
        fn proportional_to_kappa(&self) -> bool {
            false
        }
        fn unscaled_rates(&self, _: &RatePoint, _: &[f64], out: &mut [PairRates]) {
            out.fill([0.0, 0.0]);
        }
        fn rates_and_dt(&self, _: &RatePoint, _: &[f64], out: &mut [PairRatesDt]) {
            out.fill([0.0; 4]);
        }
    }

    #[test]
    fn a_further_mechanism_changes_the_well_table_key() {
        let m = Material::mn12ac();
        let plain = RateModel::new(m.spin, m.arrhenius, KappaScaling::Arrhenius).unwrap();
        let extra = plain
            .clone()
            .with_mechanism(Arc::new(Keyed(vec![Channel { i: 0, j: 20 }])));
        assert_eq!(WellTableKey::of(&plain), WellTableKey::of(&plain.clone()));
        assert_ne!(WellTableKey::of(&plain), WellTableKey::of(&extra));
    }

    /// A mechanism not proportional to kappa makes the unscaled rates depend on kappa(T): the
    /// key then holds kappa's law (another tau0, scaling or calibration is another table);
    /// without one the law is not in the key (the shipped tables' fingerprints print it).
    #[test]
    fn the_kappa_law_is_in_the_key_where_the_rates_depend_on_it() {
        use crate::model::Arrhenius;
        use crate::rates::KappaCalibration;
        let m = Material::mn12ac();
        let other = Arrhenius {
            tau0_s: 2.0 * m.arrhenius.tau0_s,
            ..m.arrhenius
        };
        let plain = RateModel::new(m.spin, m.arrhenius, KappaScaling::Arrhenius).unwrap();
        let plain_other = RateModel::new(m.spin, other, KappaScaling::Arrhenius).unwrap();
        assert_eq!(WellTableKey::of(&plain), WellTableKey::of(&plain_other));
        assert!(!format!("{:?}", WellTableKey::of(&plain)).contains("kappa"));
        let tunnel = || Arc::new(Keyed(vec![Channel { i: 0, j: 20 }]));
        let with = plain.clone().with_mechanism(tunnel());
        let keys = [
            WellTableKey::of(&with),
            WellTableKey::of(&plain_other.with_mechanism(tunnel())),
            WellTableKey::of(
                &RateModel::new(
                    m.spin,
                    m.arrhenius,
                    KappaScaling::Constant { reference_k: 3.0 },
                )
                .unwrap()
                .with_mechanism(tunnel()),
            ),
            WellTableKey::of(
                &with
                    .clone()
                    .with_kappa_calibration(KappaCalibration::WithTunnelling),
            ),
        ];
        for a in 0..keys.len() {
            for b in a + 1..keys.len() {
                assert_ne!(keys[a], keys[b], "{a} {b}");
            }
        }
        assert_eq!(keys[0], WellTableKey::of(&with.clone()));
    }
}
