//! The tables that runs share: kappa(T) per rate model, the well quantities over the (B, u)
//! plane per spin, and along u at one field per (spin, field). An [`EngineContext`] owns
//! them; a batch, a CLI invocation or an embedding program creates one, passes it to every
//! [`super::simulate`] and drops it with its tables.
//!
//! Tables are built lazily, panel by panel, and each panel is a deterministic function of the
//! model and its place: a run's results do not depend on which run built a panel, nor on
//! whether a table was evicted and built again (only the work, `table_nodes`, does).

use super::welltable::{LineTable, PlaneTable, WellTableKey};
use crate::error::NumericsError;
use crate::model::limits::FinalTable;
use crate::model::{Debye, GiantSpin, Material};
use crate::rates::tunnelling::{hamiltonian_key, with_built_tunnelling, Tunnelling};
use crate::rates::{KappaScaling, KappaTableKey, Lambda1Table, RateModel};
use std::sync::{Arc, Mutex};

/// Most kappa(T) tables kept (one per spin, Arrhenius law and scaling; ~10 KB each).
pub const MAX_KAPPA_TABLES: usize = 16;
/// Most plane well tables kept (one per spin and transitions; up to a few MB each when a
/// run has visited much of the plane).
pub const MAX_PLANE_TABLES: usize = 8;
/// Most line well tables kept (one per spin and final field; ~10-50 KB each). A sweep over
/// more final fields than this in one context rebuilds the least recently used.
pub const MAX_LINE_TABLES: usize = 64;
/// Most tunnelling mechanisms kept (one per spin Hamiltonian with transverse terms; a few KB
/// each, but each costs ~10 ms of splittings to build).
pub const MAX_TUNNELLING_MECHANISMS: usize = 16;
/// Most tables of the analytic limits kept (one per spin, lattice and final field; ~9 KB
/// each once filled, [`FinalTable`]).
pub const MAX_LIMITS_TABLES: usize = 64;

/// Least-recently-used store of at most `cap` entries (few entries: a linear scan).
#[derive(Debug)]
struct Lru<K, V> {
    cap: usize,
    /// (key, value, last use).
    entries: Vec<(K, V, u64)>,
    clock: u64,
}

impl<K: PartialEq, V: Clone> Lru<K, V> {
    fn new(cap: usize) -> Self {
        Self {
            cap,
            entries: Vec::new(),
            clock: 0,
        }
    }

    /// The value under `key`, marked as used now.
    fn get(&mut self, key: &K) -> Option<V> {
        self.clock += 1;
        let now = self.clock;
        self.entries.iter_mut().find(|e| e.0 == *key).map(|e| {
            e.2 = now;
            e.1.clone()
        })
    }

    /// Store `value` under `key` unless one is there already (then that one is kept and
    /// returned), evicting the least recently used entry when full.
    fn insert(&mut self, key: K, value: V) -> V {
        if let Some(v) = self.get(&key) {
            return v;
        }
        if self.entries.len() >= self.cap {
            if let Some(oldest) = (0..self.entries.len()).min_by_key(|&i| self.entries[i].2) {
                self.entries.swap_remove(oldest);
            }
        }
        self.entries.push((key, value.clone(), self.clock));
        value
    }
}

/// The shared tables of the runs of one batch, CLI invocation or embedding program
/// (thread-safe: the runs of a batch share it across threads). Each kind is bounded
/// ([`MAX_KAPPA_TABLES`], [`MAX_PLANE_TABLES`], [`MAX_LINE_TABLES`]), evicting the least
/// recently used; a run holding an evicted table keeps it until it ends.
#[derive(Debug)]
pub struct EngineContext {
    kappa: Mutex<Lru<KappaTableKey, Option<Arc<Lambda1Table>>>>,
    planes: Mutex<Lru<WellTableKey, Arc<PlaneTable>>>,
    lines: Mutex<Lru<(WellTableKey, u64), Arc<LineTable>>>,
    /// The tunnelling mechanism (channels and splittings) per spin Hamiltonian
    /// ([`hamiltonian_key`]); `None` for one without coupled pairs.
    tunnelling: Mutex<Lru<[u64; 8], Option<Arc<Tunnelling>>>>,
    /// The starting points of the analytic limits per (spin, lattice, final field bits).
    limits: Mutex<Lru<(GiantSpin, Debye, u64), Arc<FinalTable>>>,
    /// Whether tables start with the panels shipped with the program ([`super::preset`]).
    shipped: bool,
}

impl Default for EngineContext {
    fn default() -> Self {
        Self::new()
    }
}

/// Numbers of tables a context holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableCounts {
    /// kappa(T) tables.
    pub kappa: usize,
    /// Plane well tables.
    pub planes: usize,
    /// Line well tables.
    pub lines: usize,
}

impl EngineContext {
    /// A context without tables; the default material's start with the panels shipped with
    /// the program (the same bits as built, [`super::preset`]).
    pub fn new() -> Self {
        Self {
            kappa: Mutex::new(Lru::new(MAX_KAPPA_TABLES)),
            planes: Mutex::new(Lru::new(MAX_PLANE_TABLES)),
            lines: Mutex::new(Lru::new(MAX_LINE_TABLES)),
            tunnelling: Mutex::new(Lru::new(MAX_TUNNELLING_MECHANISMS)),
            limits: Mutex::new(Lru::new(MAX_LIMITS_TABLES)),
            shipped: true,
        }
    }

    /// A context whose tables are all built by its runs (none shipped): for measuring the
    /// work of building them, and to compute the shipped ones.
    pub fn without_shipped_tables() -> Self {
        Self {
            shipped: false,
            ..Self::new()
        }
    }

    /// `rates` with this context's kappa(T) table of its model attached when that covers
    /// [t_lo, t_hi] K ([`RateModel::with_shared_table`]); the table is built on first use,
    /// outside the lock (two threads may both build it at first: the same deterministic
    /// table, and the first stored is kept).
    pub fn with_kappa_table(&self, rates: RateModel, t_lo: f64, t_hi: f64) -> RateModel {
        let Some(key) = rates.kappa_table_key() else {
            return rates.with_shared_table(None, t_lo, t_hi);
        };
        let found = self.kappa.lock().ok().and_then(|mut c| c.get(&key));
        let shared = match found {
            Some(t) => t,
            None => {
                let shipped = self
                    .shipped
                    .then(|| super::preset::kappa_table(&rates))
                    .flatten();
                let built = shipped.map(Arc::new).or_else(|| rates.shared_kappa_table());
                match self.kappa.lock() {
                    Ok(mut c) => c.insert(key, built),
                    Err(_) => built,
                }
            }
        };
        rates.with_shared_table(shared, t_lo, t_hi)
    }

    /// The plane well table of `rates`' spin and transitions (panels built lazily; the
    /// shipped ones held from the start).
    pub fn plane_table(&self, rates: &RateModel) -> Arc<PlaneTable> {
        let key = WellTableKey::of(rates);
        let new = || {
            let table = PlaneTable::for_model(rates);
            if self.shipped {
                super::preset::seed_plane(&table);
            }
            Arc::new(table)
        };
        match self.planes.lock() {
            Ok(mut c) => match c.get(&key) {
                Some(t) => t,
                None => c.insert(key, new()),
            },
            Err(_) => new(),
        }
    }

    /// The line well table of `rates`' spin and transitions at `field_t` (panels built
    /// lazily; the shipped ones held from the start).
    pub fn line_table(&self, rates: &RateModel, field_t: f64) -> Arc<LineTable> {
        let key = (WellTableKey::of(rates), field_t.to_bits());
        let new = || {
            let table = LineTable::at_field(rates, field_t);
            if self.shipped {
                super::preset::seed_line(&table);
            }
            Arc::new(table)
        };
        match self.lines.lock() {
            Ok(mut c) => match c.get(&key) {
                Some(t) => t,
                None => c.insert(key, new()),
            },
            Err(_) => new(),
        }
    }

    /// The rate model of `material`'s trajectories, [`Material::rate_model`]'s (the same
    /// mechanisms, the same rates bit for bit), with the tunnelling mechanism built once per
    /// spin Hamiltonian in this context: its splittings (double-double partitioned solves,
    /// ~10 ms for Mn12Ac) are then not computed again by every run of a batch.
    pub fn rate_model(
        &self,
        material: &Material,
        scaling: KappaScaling,
    ) -> Result<RateModel, NumericsError> {
        let rates = RateModel::new(material.spin, material.arrhenius, scaling)?;
        if !material.has_tunnelling() {
            return Ok(rates);
        }
        let h = &material.hamiltonian;
        let key = hamiltonian_key(h);
        let found = self.tunnelling.lock().ok().and_then(|mut c| c.get(&key));
        let built = match found {
            Some(t) => t,
            None => {
                let t = Tunnelling::new(h)?.map(Arc::new);
                match self.tunnelling.lock() {
                    Ok(mut c) => c.insert(key, t),
                    Err(_) => t,
                }
            }
        };
        with_built_tunnelling(rates, h, built)
    }

    /// The table of starting points of the analytic limits (`smmcool limits`, Python
    /// `limits`) of `spin` and `debye` at `b_final_t`, for [`LimitsSolver::use_table`]
    /// (nodes computed lazily by the solvers that use it; the same numbers as a solver's own
    /// table).
    ///
    /// [`LimitsSolver::use_table`]: crate::model::limits::LimitsSolver::use_table
    pub fn limits_table(&self, spin: &GiantSpin, debye: &Debye, b_final_t: f64) -> Arc<FinalTable> {
        let key = (*spin, *debye, b_final_t.to_bits());
        let new = || Arc::new(FinalTable::new(spin, debye, b_final_t));
        match self.limits.lock() {
            Ok(mut c) => match c.get(&key) {
                Some(t) => t,
                None => c.insert(key, new()),
            },
            Err(_) => new(),
        }
    }

    /// How many tables of each kind the context holds.
    pub fn table_counts(&self) -> TableCounts {
        let len = |n: Option<usize>| n.unwrap_or(0);
        TableCounts {
            kappa: len(self.kappa.lock().ok().map(|c| c.entries.len())),
            planes: len(self.planes.lock().ok().map(|c| c.entries.len())),
            lines: len(self.lines.lock().ok().map(|c| c.entries.len())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Material;
    use crate::rates::KappaScaling;

    #[test]
    fn the_context_is_shared_across_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<EngineContext>();
    }

    /// The context's rate model is the material's, bit for bit, and its tunnelling mechanism
    /// is built once per Hamiltonian (the second run shares the first's); a different
    /// Hamiltonian gets its own.
    #[test]
    fn tunnelling_mechanisms_are_built_once_per_hamiltonian() {
        use crate::model::tunnelling::AnisotropyOverrides;
        use crate::model::Overrides;
        let barra = Material::for_trajectories("mn12ac-barra", &Overrides::default()).unwrap();
        let ctx = EngineContext::new();
        let a = ctx.rate_model(&barra, KappaScaling::Arrhenius).unwrap();
        let b = ctx.rate_model(&barra, KappaScaling::Arrhenius).unwrap();
        let direct = barra.rate_model(KappaScaling::Arrhenius).unwrap();
        assert_eq!(a.mechanisms().len(), 2);
        assert!(Arc::ptr_eq(&a.mechanisms()[1], &b.mechanisms()[1]));
        for (field, t) in [(0.0, 2.0), (0.1, 3.0), (0.45, 4.0)] {
            let (x, y) = (
                a.unscaled_matrix(field, t),
                direct.unscaled_matrix(field, t),
            );
            assert!(x
                .iter()
                .zip(y.iter())
                .all(|(p, q)| p.to_bits() == q.to_bits()));
        }
        let other = Material::for_trajectories_with(
            "mn12ac-barra",
            &Overrides::default(),
            &AnisotropyOverrides {
                c4_k: Some(1e-5),
                ..AnisotropyOverrides::default()
            },
        )
        .unwrap();
        let c = ctx.rate_model(&other, KappaScaling::Arrhenius).unwrap();
        assert!(!Arc::ptr_eq(&a.mechanisms()[1], &c.mechanisms()[1]));
        // Without transverse terms: the spin-phonon model alone.
        let axial = ctx
            .rate_model(&Material::mn12ac(), KappaScaling::Arrhenius)
            .unwrap();
        assert_eq!(axial.mechanisms().len(), 1);
    }

    #[test]
    fn line_tables_are_bounded_and_evict_the_least_recently_used() {
        let m = Material::mn12ac();
        let rates = RateModel::new(m.spin, m.arrhenius, KappaScaling::Arrhenius).unwrap();
        let ctx = EngineContext::new();
        let first = ctx.line_table(&rates, 0.0);
        for k in 1..MAX_LINE_TABLES {
            ctx.line_table(&rates, k as f64 * 1e-3);
        }
        // Using the first again makes the second the least recently used.
        assert!(Arc::ptr_eq(&first, &ctx.line_table(&rates, 0.0)));
        ctx.line_table(&rates, 1.0);
        assert_eq!(ctx.table_counts().lines, MAX_LINE_TABLES);
        assert!(Arc::ptr_eq(&first, &ctx.line_table(&rates, 0.0)));
        let again = ctx.line_table(&rates, 1e-3);
        assert_eq!(again.built(), (0, 0), "evicted, so built anew");
        assert_eq!(ctx.table_counts().lines, MAX_LINE_TABLES);
    }
}
