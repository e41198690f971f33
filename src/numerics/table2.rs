//! Lazily built piecewise Chebyshev tables of smooth functions of two variables, shared by
//! every run of a process.
//!
//! The domain [x0, x1] x [y0, y1] is cut dyadically: a panel at levels (lx, ly) and indices
//! (ix, iy) covers the ix-th of 2^lx equal parts in x and the iy-th of 2^ly in y. Lookups start
//! at fixed levels and descend; a panel is built (the function sampled on the 17 x 17 tensor grid
//! of Chebyshev extreme points) the first time a lookup reaches it, and kept if the two highest
//! coefficient rows and columns of every component are below its tolerance; otherwise it is
//! split in the direction that failed and the lookup descends. Every panel depends only on its
//! own key, so the table is the same whichever runs, threads or order built it: results do not
//! depend on the batch they were computed in. Only the panels some run visits are built.

use crate::numerics::cheb::{clenshaw_lane_range, clenshaw_lanes, dct_cosines, derivative, DEGREE};
use crate::numerics::codec::Reader;
use rayon::prelude::*;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

const N: usize = DEGREE + 1;

/// Nodes per direction of a full panel.
pub const NODES: usize = N;

/// Key of a panel: (level in x, index in x, level in y, index in y).
pub type Key = (u8, u32, u8, u32);

/// Chebyshev coefficients from values at the extreme points (see [`crate::numerics::cheb::coefficients`]).
fn dct(m: &[[f64; N]; N], vals: &[f64; N]) -> [f64; N] {
    std::array::from_fn(|j| {
        let mut sum = 0.0;
        for k in 0..N {
            let h = if k == 0 || k == DEGREE { 0.5 } else { 1.0 };
            sum += h * vals[k] * m[j][k];
        }
        2.0 / DEGREE as f64 * sum * if j == 0 || j == DEGREE { 0.5 } else { 1.0 }
    })
}

/// One panel: coefficients `c[k][i][j]` of component k for T_i(x') T_j(y') on [-1, 1]^2
/// (NX = 1: a table along y at one x, the x range a single point).
#[derive(Debug)]
pub struct Panel2<const K: usize, const NX: usize> {
    /// Its place in the table (levels and indices).
    key: Key,
    x_lo: f64,
    x_w: f64,
    y_lo: f64,
    y_w: f64,
    c: Box<[[[f64; N]; NX]; K]>,
}

impl<const K: usize, const NX: usize> Panel2<K, NX> {
    /// The series in y of every component at fixed x (inside the panel's x interval).
    pub fn slice(&self, x: f64) -> Slice<K> {
        let mut out = Slice::zeroed();
        self.slice_into(x, &mut out);
        out
    }

    /// [`Self::slice`] written over `out` (no copy of the slice: a caller keeping slices
    /// writes in place).
    pub fn slice_into(&self, x: f64, out: &mut Slice<K>) {
        let xs = if self.x_w > 0.0 {
            ((x - self.x_lo) / self.x_w * 2.0 - 1.0).clamp(-1.0, 1.0)
        } else {
            0.0
        };
        let mut t = [0.0; NX];
        t[0] = 1.0;
        if NX > 1 {
            t[1] = xs;
        }
        for i in 2..NX {
            t[i] = 2.0 * xs * t[i - 1] - t[i - 2];
        }
        combine_rows(&t, &self.c, &mut out.c);
        out.y_lo = self.y_lo;
        out.y_w = self.y_w;
        // The first two components with their derivatives' series (the temperature solve's
        // pair), interleaved: (c_0, c_0', c_1, c_1') at each degree. The derivative series is
        // one shorter; its top coefficient is zero.
        if K >= 2 {
            let c: [[f64; N]; 2] = std::array::from_fn(|k| std::array::from_fn(|j| out.c[j][k]));
            let (d0, d1) = (derivative(&c[0]), derivative(&c[1]));
            for j in 0..N {
                out.pair[j] = [
                    c[0][j],
                    if j < DEGREE { d0[j] } else { 0.0 },
                    c[1][j],
                    if j < DEGREE { d1[j] } else { 0.0 },
                ];
            }
        }
    }
}

/// The series in y at one x of every component: `out[j][k] = sum_i t[i] c[k][i][j]`, the
/// products added in the order of i from 0.0. Where the CPU has AVX, the same sums four j at a
/// time (the lanes independent, each the same products and additions in the same order, so
/// the same bits; there is no fused multiply-add in either): a plane slice's 6 x 17 x 17
/// products are most of a reduced ramp's table work (issue 19).
fn combine_rows<const K: usize, const NX: usize>(
    t: &[f64; NX],
    c: &[[[f64; N]; NX]; K],
    out: &mut [[f64; K]; N],
) {
    #[cfg(target_arch = "x86_64")]
    if NX > 1 && std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: AVX is available (checked just above).
        return unsafe { combine_rows_avx(t, c, out) };
    }
    combine_rows_with(t, c, out)
}

/// [`combine_rows`] compiled for AVX.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
fn combine_rows_avx<const K: usize, const NX: usize>(
    t: &[f64; NX],
    c: &[[[f64; N]; NX]; K],
    out: &mut [[f64; K]; N],
) {
    combine_rows_with(t, c, out)
}

#[inline(always)]
fn combine_rows_with<const K: usize, const NX: usize>(
    t: &[f64; NX],
    c: &[[[f64; N]; NX]; K],
    out: &mut [[f64; K]; N],
) {
    for (k, ck) in c.iter().enumerate() {
        let mut sum = [0.0; N];
        for (ti, row) in t.iter().zip(ck) {
            for (o, cij) in sum.iter_mut().zip(row) {
                *o += ti * cij;
            }
        }
        // Stored interleaved (degree j of every component side by side).
        for (o, v) in out.iter_mut().zip(sum) {
            o[k] = v;
        }
    }
}

/// Every component as a series in y at one x, on one panel's y interval.
///
/// The coefficients are stored interleaved (`c[j][k]`: degree j of component k) so that the
/// Clenshaw recurrences of the components run side by side in SIMD lanes
/// ([`clenshaw_lanes`]), with the same operations per component as one at a time (issue 19:
/// the same bits).
#[derive(Debug, Clone)]
pub struct Slice<const K: usize> {
    y_lo: f64,
    y_w: f64,
    c: [[f64; K]; N],
    /// Components 0 and 1 with their y derivatives' series (on [-1, 1]): (c_0, c_0', c_1,
    /// c_1') at each degree, the derivatives' last coefficient zero.
    pair: [[f64; 4]; N],
}

impl<const K: usize> Slice<K> {
    /// A slice of zero series on an empty interval, to be written over
    /// ([`Panel2::slice_into`]).
    pub fn zeroed() -> Self {
        Self {
            y_lo: 0.0,
            y_w: 0.0,
            c: [[0.0; K]; N],
            pair: [[0.0; 4]; N],
        }
    }

    /// Whether y is inside this slice's interval.
    pub fn contains(&self, y: f64) -> bool {
        y >= self.y_lo && y <= self.y_lo + self.y_w
    }

    fn local(&self, y: f64) -> f64 {
        ((y - self.y_lo) / self.y_w * 2.0 - 1.0).clamp(-1.0, 1.0)
    }

    /// All components at y.
    pub fn eval(&self, y: f64) -> [f64; K] {
        clenshaw_lanes(&self.c, self.local(y))
    }

    /// Components `first..first + M` at y (those a caller needs).
    pub fn eval_range<const M: usize>(&self, first: usize, y: f64) -> [f64; M] {
        clenshaw_lane_range(&self.c, first, self.local(y))
    }

    /// The y derivatives of every component at y (each derivative series formed on the spot:
    /// for the few callers that need them all, the reduced system's Jacobian).
    pub fn eval_derivatives(&self, y: f64) -> [f64; K] {
        let mut d = [[0.0; K]; DEGREE];
        for k in 0..K {
            let dk = derivative(&std::array::from_fn(|j| self.c[j][k]));
            for (row, v) in d.iter_mut().zip(dk) {
                row[k] = v;
            }
        }
        let s = 2.0 / self.y_w;
        clenshaw_lanes(&d, self.local(y)).map(|v| v * s)
    }

    /// Components 0 and 1 with their y derivatives at y: ((v0, d0), (v1, d1)).
    pub fn eval_first_two_with_derivatives(&self, y: f64) -> [(f64, f64); 2] {
        let [v1, d1, v2, d2] = clenshaw_lanes(&self.pair, self.local(y));
        let s = 2.0 / self.y_w;
        [(v1, d1 * s), (v2, d2 * s)]
    }
}

#[derive(Debug, Clone)]
pub enum Node<const K: usize, const NX: usize> {
    Leaf(Arc<Panel2<K, NX>>),
    SplitX,
    SplitY,
    /// The function failed (an error or a non-finite value) somewhere on the panel.
    Unavailable,
}

/// A lazily built, thread-safe piecewise Chebyshev table of K functions of (x, y), with NX
/// nodes in x per panel: `NODES` (a plane), or 1 (a line at one x: x0 = x1).
#[derive(Debug)]
pub struct LazyTable2<const K: usize, const NX: usize> {
    x_range: (f64, f64),
    y_range: (f64, f64),
    start_levels: (u8, u8),
    max_levels: (u8, u8),
    tol: [f64; K],
    /// x values where the function is not smooth (sorted): a panel whose closed x interval
    /// holds one is never built, but split in x, and unavailable at the deepest x level.
    breaks_x: Vec<f64>,
    /// Whether a panel not resolved at the deepest levels is unavailable (the callers then
    /// use the function itself) rather than accepted as it is.
    strict: bool,
    nodes: RwLock<HashMap<Key, Node<K, NX>>>,
    /// Nodes shipped with the program ([`Self::seed_lazily`]): each key's record (tag and
    /// payload, as `export` wrote it), sorted by key, decoded when a lookup first reaches it.
    shipped: OnceLock<Vec<(Key, &'static [u8])>>,
}

impl<const K: usize, const NX: usize> LazyTable2<K, NX> {
    /// A table on [x0, x1] x [y0, y1], with lookups starting at `start_levels` (panels of
    /// 1/2^level of each range) and panels accepted as they are at `max_levels`. Component k
    /// is resolved when its tail coefficients are below `tol[k]` plus 64 eps times its largest
    /// coefficient (its rounding floor).
    pub fn new(
        x_range: (f64, f64),
        y_range: (f64, f64),
        start_levels: (u8, u8),
        max_levels: (u8, u8),
        tol: [f64; K],
    ) -> Self {
        Self {
            x_range,
            y_range,
            start_levels,
            max_levels: (
                max_levels.0.clamp(start_levels.0, 30),
                max_levels.1.clamp(start_levels.1, 30),
            ),
            tol,
            breaks_x: Vec::new(),
            strict: false,
            nodes: RwLock::new(HashMap::new()),
            shipped: OnceLock::new(),
        }
    }

    /// The same table with the x values `breaks_x` where the function is not smooth (kinks,
    /// narrow peaks): no panel holding one is built (such panels are split in x down to the
    /// deepest level, where they are unavailable), and, strict, a panel not resolved at the
    /// deepest levels is unavailable instead of accepted as it is. Lookups there get `None`.
    pub fn with_breaks(mut self, mut breaks_x: Vec<f64>, strict: bool) -> Self {
        breaks_x.retain(|b| b.is_finite());
        breaks_x.sort_by(f64::total_cmp);
        breaks_x.dedup();
        self.breaks_x = breaks_x;
        self.strict = strict;
        self
    }

    /// The node of a panel holding a break (split in x, unavailable at the deepest x level),
    /// decided from its key alone; `None` for every other panel.
    fn refused(&self, key: Key) -> Option<Node<K, NX>> {
        let (lx, ix, _, _) = key;
        let (x_lo, x_w) = Self::bounds(self.x_range, lx, ix);
        let first = self.breaks_x.partition_point(|&b| b < x_lo);
        let holds = self.breaks_x.get(first).is_some_and(|&b| b <= x_lo + x_w);
        holds.then_some(if lx < self.max_levels.0 {
            Node::SplitX
        } else {
            Node::Unavailable
        })
    }

    /// The x range.
    pub fn x_range(&self) -> (f64, f64) {
        self.x_range
    }

    /// Whether (x, y) is inside the domain.
    pub fn covers(&self, x: f64, y: f64) -> bool {
        x >= self.x_range.0 && x <= self.x_range.1 && y >= self.y_range.0 && y <= self.y_range.1
    }

    /// Number of panels held (built, or shipped and reached by a lookup; kept or split) so
    /// far and the function evaluations they take to build.
    pub fn built(&self) -> (usize, usize) {
        let (n, evaluated) = self.nodes.read().map_or((0, 0), |m| {
            // Panels holding a break were never evaluated.
            let refused = m.keys().filter(|k| self.refused(**k).is_some()).count();
            (m.len(), m.len() - refused)
        });
        (n, evaluated * NX * N)
    }

    /// What its panels depend on besides the function, every number by its bits.
    pub fn layout(&self) -> String {
        let bits = |r: (f64, f64)| (r.0.to_bits(), r.1.to_bits());
        let mut out = format!(
            "table2 degree {DEGREE} K {K} NX {NX} x {:?} y {:?} start {:?} max {:?} tol {:?}",
            bits(self.x_range),
            bits(self.y_range),
            self.start_levels,
            self.max_levels,
            self.tol.map(f64::to_bits)
        );
        // Only tables with breaks (or strict) print them: the others' layouts, and so the
        // shipped tables' fingerprints, are as before.
        if !self.breaks_x.is_empty() || self.strict {
            let breaks: Vec<u64> = self.breaks_x.iter().map(|b| b.to_bits()).collect();
            out.push_str(&format!(" breaks {breaks:?} strict {}", self.strict));
        }
        out
    }

    /// Append the nodes built so far, in key order: their number, then each key and a tag
    /// (0 accepted, with its bounds and coefficients; 1 split in x; 2 split in y; 3
    /// unavailable).
    pub fn export(&self, out: &mut Vec<u8>) {
        use crate::numerics::codec::{put_f64, put_u32, put_u8};
        let nodes: Vec<(Key, Node<K, NX>)> = match self.nodes.read() {
            Ok(m) => m.iter().map(|(k, v)| (*k, v.clone())).collect(),
            Err(_) => Vec::new(),
        };
        let mut nodes = nodes;
        nodes.sort_by_key(|n| n.0);
        put_u32(out, nodes.len() as u32);
        for ((lx, ix, ly, iy), node) in nodes {
            put_u8(out, lx);
            put_u32(out, ix);
            put_u8(out, ly);
            put_u32(out, iy);
            match node {
                Node::Leaf(p) => {
                    put_u8(out, 0);
                    for v in [p.x_lo, p.x_w, p.y_lo, p.y_w] {
                        put_f64(out, v);
                    }
                    p.c.iter()
                        .flatten()
                        .flatten()
                        .for_each(|&v| put_f64(out, v));
                }
                Node::SplitX => put_u8(out, 1),
                Node::SplitY => put_u8(out, 2),
                Node::Unavailable => put_u8(out, 3),
            }
        }
    }

    /// Bytes of a node's payload after its tag (0: bounds and coefficients; others: none).
    fn payload_len(tag: u8) -> Option<usize> {
        match tag {
            0 => Some(8 * (4 + K * NX * N)),
            1..=3 => Some(0),
            _ => None,
        }
    }

    /// A node's key, and its record (tag and payload); `None` past the end or on a bad tag.
    fn next_record<'a>(r: &mut Reader<'a>) -> Option<(Key, &'a [u8])> {
        let key = (r.u8()?, r.u32()?, r.u8()?, r.u32()?);
        let record = r.peek(1)?;
        let len = 1 + Self::payload_len(record[0])?;
        Some((key, r.take(len)?))
    }

    /// The node of one record of [`Self::next_record`].
    fn decode_record(key: Key, record: &[u8]) -> Option<Node<K, NX>> {
        let mut r = Reader::new(record);
        let node = match r.u8()? {
            0 => {
                let (x_lo, x_w, y_lo, y_w) = (r.f64()?, r.f64()?, r.f64()?, r.f64()?);
                let mut c = Box::new([[[0.0; N]; NX]; K]);
                for v in c.iter_mut().flatten().flatten() {
                    *v = r.f64()?;
                }
                Node::Leaf(Arc::new(Panel2 {
                    key,
                    x_lo,
                    x_w,
                    y_lo,
                    y_w,
                    c,
                }))
            }
            1 => Node::SplitX,
            2 => Node::SplitY,
            3 => Node::Unavailable,
            _ => return None,
        };
        r.is_empty().then_some(node)
    }

    /// Decode what `export` wrote: the nodes by key; `None` if the bytes are not such a record.
    pub fn decode(r: &mut Reader<'_>) -> Option<Vec<(Key, Node<K, NX>)>> {
        let n = r.u32()? as usize;
        let mut out = Vec::with_capacity(n.min(1 << 16));
        for _ in 0..n {
            let (key, record) = Self::next_record(r)?;
            out.push((key, Self::decode_record(key, record)?));
        }
        Some(out)
    }

    /// Hold the nodes `export` wrote in `bytes` as if built, each decoded when a lookup first
    /// reaches it (a lone run then decodes only the panels it visits, not the whole record).
    /// False, holding nothing, if the bytes are not such a record (every node's tag and
    /// length are checked here) or the table already holds shipped nodes.
    pub fn seed_lazily(&self, bytes: &'static [u8]) -> bool {
        let mut r = Reader::new(bytes);
        let index = (|| {
            let n = r.u32()? as usize;
            let mut index = Vec::with_capacity(n.min(1 << 16));
            for _ in 0..n {
                index.push(Self::next_record(&mut r)?);
            }
            Some(index)
        })();
        match index {
            Some(mut index) if r.is_empty() => {
                index.sort_by_key(|e| e.0);
                self.shipped.set(index).is_ok()
            }
            _ => false,
        }
    }

    /// The shipped node of `key`, decoded, if there is one.
    fn shipped_node(&self, key: Key) -> Option<Node<K, NX>> {
        let index = self.shipped.get()?;
        let i = index.binary_search_by_key(&key, |e| e.0).ok()?;
        Self::decode_record(key, index[i].1)
    }

    /// Whether `node` is, bit for bit, what building `key` with `f` gives.
    pub fn rebuilds_to<E>(
        &self,
        key: Key,
        node: &Node<K, NX>,
        f: &(impl Fn(f64, f64) -> Result<[f64; K], E> + Sync),
    ) -> bool {
        let bits = |v: f64| v.to_bits();
        match (node, &self.build(key, f)) {
            (Node::Leaf(a), Node::Leaf(b)) => {
                [a.x_lo, a.x_w, a.y_lo, a.y_w].map(bits) == [b.x_lo, b.x_w, b.y_lo, b.y_w].map(bits)
                    && a.c.iter().flatten().flatten().map(|v| v.to_bits()).eq(b
                        .c
                        .iter()
                        .flatten()
                        .flatten()
                        .map(|v| v.to_bits()))
            }
            (Node::SplitX, Node::SplitX)
            | (Node::SplitY, Node::SplitY)
            | (Node::Unavailable, Node::Unavailable) => true,
            _ => false,
        }
    }

    fn index(range: (f64, f64), level: u8, v: f64) -> u32 {
        if range.1 <= range.0 {
            return 0;
        }
        let parts = (1u64 << level) as f64;
        let f = ((v - range.0) / (range.1 - range.0) * parts).floor();
        f.clamp(0.0, parts - 1.0) as u32
    }

    fn bounds(range: (f64, f64), level: u8, i: u32) -> (f64, f64) {
        let w = (range.1 - range.0) / (1u64 << level) as f64;
        (range.0 + w * f64::from(i), w)
    }

    /// Whether a lookup at (x, y) reaches `panel` (a leaf of this table). The point's index
    /// at a level is floor(q 2^level) of one fraction q of the range (the product by a power
    /// of two exact), so its indices at the panel's levels fix those at every coarser level:
    /// where they are the panel's, the lookup's descent runs through the panel's ancestors
    /// (each split) to the panel itself.
    pub fn reaches(&self, panel: &Panel2<K, NX>, x: f64, y: f64) -> bool {
        let (lx, ix, ly, iy) = panel.key;
        self.covers(x, y)
            && Self::index(self.x_range, lx, x) == ix
            && Self::index(self.y_range, ly, y) == iy
    }

    /// [`Self::panel`], taking `near` (a panel of this table from an earlier lookup) without a
    /// lookup where a lookup would reach it ([`Self::reaches`]): the same panel, at a few
    /// operations where the lookup's locking and hashing, level by level, cost hundreds.
    pub fn panel_near<E>(
        &self,
        near: Option<&Arc<Panel2<K, NX>>>,
        x: f64,
        y: f64,
        f: &(impl Fn(f64, f64) -> Result<[f64; K], E> + Sync),
    ) -> (Option<Arc<Panel2<K, NX>>>, usize) {
        match near {
            Some(p) if self.reaches(p, x, y) => (Some(p.clone()), 0),
            _ => self.panel(x, y, f),
        }
    }

    /// The panel holding (x, y), building what the lookup needs with `f`, and the number of
    /// function evaluations this call spent. `None` outside the domain or where `f` failed.
    pub fn panel<E>(
        &self,
        x: f64,
        y: f64,
        f: &(impl Fn(f64, f64) -> Result<[f64; K], E> + Sync),
    ) -> (Option<Arc<Panel2<K, NX>>>, usize) {
        if !self.covers(x, y) {
            return (None, 0);
        }
        let (mut lx, mut ly) = self.start_levels;
        let mut spent = 0;
        loop {
            let key = (
                lx,
                Self::index(self.x_range, lx, x),
                ly,
                Self::index(self.y_range, ly, y),
            );
            let found = self.nodes.read().ok().and_then(|m| m.get(&key).cloned());
            let node = match found {
                Some(n) => n,
                None => {
                    // A panel holding a break is not built; a shipped node is decoded, any
                    // other built, outside the lock; two threads may both build a panel at
                    // first (the same deterministic one), and the first stored is kept.
                    let built = match self.refused(key).or_else(|| self.shipped_node(key)) {
                        Some(node) => node,
                        None => {
                            spent += NX * N;
                            self.build(key, f)
                        }
                    };
                    match self.nodes.write() {
                        Ok(mut m) => m.entry(key).or_insert(built).clone(),
                        Err(_) => built,
                    }
                }
            };
            match node {
                Node::Leaf(p) => return (Some(p), spent),
                Node::Unavailable => return (None, spent),
                Node::SplitX => lx += 1,
                Node::SplitY => ly += 1,
            }
        }
    }

    fn build<E>(
        &self,
        key: Key,
        f: &(impl Fn(f64, f64) -> Result<[f64; K], E> + Sync),
    ) -> Node<K, NX> {
        if let Some(node) = self.refused(key) {
            return node;
        }
        let (lx, ix, ly, iy) = key;
        let (x_lo, x_w) = Self::bounds(self.x_range, lx, ix);
        let (y_lo, y_w) = Self::bounds(self.y_range, ly, iy);
        let m = dct_cosines();
        let nodes = |lo: f64, w: f64| -> [f64; N] {
            std::array::from_fn(|k| lo + 0.5 * w * (1.0 + m[1][k]))
        };
        let ys = nodes(y_lo, y_w);
        let xs: [f64; NX] = if NX == N {
            let all = nodes(x_lo, x_w);
            std::array::from_fn(|i| all[i])
        } else {
            [x_lo; NX]
        };
        // vals[k][i][j] = f_k(x_i, y_j). The nodes are independent: they are evaluated in
        // parallel (rayon; in a batch its pool, whose threads are mostly busy with other runs,
        // so this helps a lone run most), each to the same bits as one after the other.
        let node_values: Vec<Option<[f64; K]>> = (0..NX * N)
            .into_par_iter()
            .map(|idx| {
                f(xs[idx / N], ys[idx % N])
                    .ok()
                    .filter(|v| v.iter().all(|c| c.is_finite()))
            })
            .collect();
        let mut vals = Box::new([[[0.0; N]; NX]; K]);
        for (idx, v) in node_values.into_iter().enumerate() {
            let Some(v) = v else {
                return Node::Unavailable;
            };
            for k in 0..K {
                vals[k][idx / N][idx % N] = v[k];
            }
        }
        // Transform along y (rows), then along x (columns; nothing to transform at one x).
        let mut c = Box::new([[[0.0; N]; NX]; K]);
        for k in 0..K {
            let mut rows = [[0.0; N]; NX];
            for i in 0..NX {
                rows[i] = dct(m, &vals[k][i]);
            }
            if NX == N {
                for j in 0..N {
                    let col: [f64; N] = std::array::from_fn(|i| rows[i][j]);
                    let cc = dct(m, &col);
                    for i in 0..NX {
                        c[k][i][j] = cc[i];
                    }
                }
            } else {
                c[k] = rows;
            }
        }
        // Tails: the two highest rows (x) and columns (y), against each tolerance.
        let (mut worst_x, mut worst_y): (f64, f64) = (0.0, 0.0);
        for k in 0..K {
            let big = c[k].iter().flatten().fold(0.0f64, |a, v| a.max(v.abs()));
            let allowed = self.tol[k] + 64.0 * f64::EPSILON * big;
            let mut tx: f64 = 0.0;
            let mut ty: f64 = 0.0;
            for i in 0..NX {
                for j in 0..N {
                    let v = c[k][i][j].abs();
                    if NX == N && i >= DEGREE - 1 {
                        tx = tx.max(v);
                    }
                    if j >= DEGREE - 1 {
                        ty = ty.max(v);
                    }
                }
            }
            worst_x = worst_x.max(tx / allowed);
            worst_y = worst_y.max(ty / allowed);
        }
        let can_x = lx < self.max_levels.0;
        let can_y = ly < self.max_levels.1;
        if worst_x > 1.0 && can_x && (worst_x >= worst_y || !can_y) {
            Node::SplitX
        } else if worst_y > 1.0 && can_y {
            Node::SplitY
        } else if self.strict && (worst_x > 1.0 || worst_y > 1.0) {
            Node::Unavailable
        } else {
            Node::Leaf(Arc::new(Panel2 {
                key,
                x_lo,
                x_w,
                y_lo,
                y_w,
                c,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(x: f64, y: f64) -> Result<[f64; 2], ()> {
        Ok([(x * y).sin() + x, (-3.0 * y).exp() * (1.0 + x * x)])
    }

    #[test]
    fn lazy_table_reproduces_a_smooth_function_and_its_derivative() {
        let t: LazyTable2<2, NODES> =
            LazyTable2::new((0.0, 2.0), (0.5, 4.5), (1, 1), (8, 8), [1e-13, 1e-13]);
        let mut spent = 0;
        for a in 0..=20 {
            for b in 0..=20 {
                let (x, y) = (0.1 * a as f64, 0.5 + 0.2 * b as f64);
                let (p, s) = t.panel(x, y, &f);
                spent += s;
                let slice = p.unwrap().slice(x);
                assert!(slice.contains(y));
                let v = slice.eval(y);
                let exact = f(x, y).unwrap();
                assert!((v[0] - exact[0]).abs() < 1e-12, "{x} {y}");
                assert!((v[1] - exact[1]).abs() < 1e-12, "{x} {y}");
                let d = slice.eval_derivatives(y)[0];
                assert!((d - x * (x * y).cos()).abs() < 1e-9, "d/dy at {x} {y}");
            }
        }
        // Lookups after the first build nothing.
        assert_eq!(spent, t.built().1);
        assert_eq!(t.panel(1.0, 1.0, &f).1, 0);
        // Outside the domain, or where the function fails: no panel.
        assert!(t.panel(2.1, 1.0, &f).0.is_none());
        let failing = |x: f64, _y: f64| if x > 1.0 { Err(()) } else { Ok([x]) };
        let t1: LazyTable2<1, NODES> =
            LazyTable2::new((0.0, 2.0), (0.0, 1.0), (1, 0), (4, 4), [1e-13]);
        assert!(t1.panel(1.5, 0.5, &failing).0.is_none());
        assert!(t1.panel(0.5, 0.5, &failing).0.is_some());
    }

    /// A kink at x = 0.3 and a peak 1e-3 wide at x = 1.2, given as breaks: no panel holding
    /// one is built (lookups there get `None`, without evaluations), a strict table leaves
    /// the panels the deepest level does not resolve unavailable, and every value it gives
    /// is within the tolerance.
    #[test]
    fn panels_holding_a_break_are_not_built() {
        let g = |x: f64, y: f64| -> Result<[f64; 1], ()> {
            let d = (x - 1.2) / 1e-3;
            Ok([y * ((x - 0.3).abs() + 1.0 / (1.0 + d * d))])
        };
        let t: LazyTable2<1, NODES> =
            LazyTable2::new((0.0, 2.0), (0.5, 1.5), (2, 0), (10, 4), [1e-13])
                .with_breaks(vec![1.2, 0.3, f64::NAN], true);
        assert!(t.layout().contains("breaks"));
        for x in [0.3, 1.2] {
            let (p, spent) = t.panel(x, 1.0, &g);
            assert!(p.is_none() && spent == 0, "{x}");
        }
        let (mut found, mut total) = (0, 0);
        for a in 0..=400 {
            let x = 0.005 * a as f64 + 1.3e-4;
            total += 1;
            let Some(p) = t.panel(x, 1.1, &g).0 else {
                continue;
            };
            found += 1;
            let v = p.slice(x).eval(1.1)[0];
            assert!((v - g(x, 1.1).unwrap()[0]).abs() < 1e-12, "{x}");
        }
        // Only the points near the two breaks (within ~3 panels of the deepest level, and
        // the peak's unresolved core) go without.
        assert!(found >= total - 40, "{found} of {total}");
        assert!(t.built().1 < t.built().0 * NODES * NODES);
        // Without breaks the layout is as before.
        let plain: LazyTable2<1, NODES> =
            LazyTable2::new((0.0, 2.0), (0.5, 1.5), (2, 0), (10, 4), [1e-13]);
        assert!(!plain.layout().contains("breaks"));
    }

    /// A slice's sums in y, with AVX (where the CPU has it) and without, give the bits of
    /// the plain ordered sums, for coefficients over 40 decades of both signs.
    #[test]
    fn slice_sums_give_the_bits_of_the_ordered_sums() {
        let mut s: u64 = 0x2545_F491_4F6C_DD1D;
        let mut r = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        };
        for _ in 0..50 {
            let xs = r();
            let mut t = [0.0; NODES];
            t[0] = 1.0;
            t[1] = xs;
            for i in 2..NODES {
                t[i] = 2.0 * xs * t[i - 1] - t[i - 2];
            }
            let mut c = Box::new([[[0.0; N]; NODES]; 3]);
            for v in c.iter_mut().flatten().flatten() {
                *v = r() * 10f64.powf(20.0 * r());
            }
            let mut plain = [[0.0; N]; 3];
            for k in 0..3 {
                for j in 0..N {
                    let mut sum = 0.0;
                    for i in 0..NODES {
                        sum += t[i] * c[k][i][j];
                    }
                    plain[k][j] = sum;
                }
            }
            let plain: [[u64; 3]; N] = std::array::from_fn(|j| plain.map(|row| row[j].to_bits()));
            let bits = |a: &[[f64; 3]; N]| a.map(|row| row.map(f64::to_bits));
            let (mut fast, mut plain_path) = ([[0.0; 3]; N], [[0.0; 3]; N]);
            combine_rows(&t, &c, &mut fast);
            combine_rows_with(&t, &c, &mut plain_path);
            assert_eq!(bits(&fast), plain);
            assert_eq!(bits(&plain_path), plain);
        }
    }

    /// `reaches` holds exactly where a lookup returns that panel, on and off the dyadic
    /// panel edges (points on an edge belong to the upper panel), so `panel_near` gives the
    /// lookup's panel whatever panel it is offered.
    #[test]
    fn a_panel_is_taken_near_exactly_where_the_lookup_reaches_it() {
        let t: LazyTable2<2, NODES> =
            LazyTable2::new((0.0, 2.0), (0.5, 4.5), (1, 1), (8, 8), [1e-13, 1e-13]);
        // Panel edges at multiples of 2/2^l in x and 4/2^l in y, and points between them.
        let mut pts = Vec::new();
        for a in 0..=64 {
            for b in 0..=32 {
                pts.push((2.0 * a as f64 / 64.0, 0.5 + 4.0 * b as f64 / 32.0));
                pts.push((
                    2.0 * (a as f64 + 0.37) / 64.0,
                    0.5 + 4.0 * (b as f64 + 0.61) / 32.0,
                ));
            }
        }
        pts.retain(|&(x, y)| t.covers(x, y));
        let leaves: Vec<_> = pts
            .iter()
            .map(|&(x, y)| t.panel(x, y, &f).0.unwrap())
            .collect();
        let mut distinct: Vec<Arc<Panel2<2, NODES>>> = Vec::new();
        for l in &leaves {
            if !distinct.iter().any(|d| Arc::ptr_eq(d, l)) {
                distinct.push(l.clone());
            }
        }
        assert!(distinct.len() > 8, "{} panels", distinct.len());
        let mut reached = 0;
        for (&(x, y), leaf) in pts.iter().zip(&leaves) {
            for d in &distinct {
                let reaches = t.reaches(d, x, y);
                assert_eq!(reaches, Arc::ptr_eq(d, leaf), "{x} {y}");
                reached += usize::from(reaches);
                let (near, spent) = t.panel_near(Some(d), x, y, &f);
                assert!(Arc::ptr_eq(&near.unwrap(), leaf) && spent == 0, "{x} {y}");
            }
        }
        assert_eq!(reached, pts.len());
        // Outside the domain no panel is reached.
        assert!(!t.reaches(&distinct[0], 2.5, 1.0));
        assert!(t.panel_near(Some(&distinct[0]), 2.5, 1.0, &f).0.is_none());
    }

    #[test]
    fn a_line_table_reproduces_the_function_at_its_x() {
        let x = 0.7;
        let t: LazyTable2<2, 1> = LazyTable2::new((x, x), (0.5, 4.5), (0, 1), (0, 8), [1e-13; 2]);
        for b in 0..=40 {
            let y = 0.5 + 0.1 * b as f64;
            let (p, _) = t.panel(x, y, &f);
            let v = p.unwrap().slice(x).eval(y);
            let exact = f(x, y).unwrap();
            assert!((v[0] - exact[0]).abs() < 1e-12 && (v[1] - exact[1]).abs() < 1e-12);
        }
        // 17 evaluations per panel, not 17^2.
        assert_eq!(t.built().1 % NODES, 0);
        assert!(t.built().1 < 20 * NODES);
        assert!(t.panel(x + 0.1, 1.0, &f).0.is_none());
    }

    #[test]
    fn panels_do_not_depend_on_the_order_they_were_built_in() {
        let a: LazyTable2<2, NODES> =
            LazyTable2::new((0.0, 2.0), (0.5, 4.5), (0, 0), (8, 8), [1e-13, 1e-13]);
        let b: LazyTable2<2, NODES> =
            LazyTable2::new((0.0, 2.0), (0.5, 4.5), (0, 0), (8, 8), [1e-13, 1e-13]);
        let pts: Vec<(f64, f64)> = (0..50)
            .map(|i| (0.04 * i as f64, 0.5 + 0.08 * i as f64))
            .collect();
        for &(x, y) in &pts {
            a.panel(x, y, &f);
        }
        for &(x, y) in pts.iter().rev() {
            b.panel(x, y, &f);
        }
        for &(x, y) in &pts {
            let va = a.panel(x, y, &f).0.unwrap().slice(x).eval(y);
            let vb = b.panel(x, y, &f).0.unwrap().slice(x).eval(y);
            assert_eq!(va.map(f64::to_bits), vb.map(f64::to_bits));
        }
    }

    /// Shipped nodes (`seed_lazily`) are decoded only when a lookup reaches them, cost no
    /// evaluations, and give the bits of the table they were exported from; nodes not shipped
    /// are built as before. A damaged record is refused whole.
    #[test]
    fn shipped_nodes_are_decoded_on_first_use() {
        let new = || -> LazyTable2<2, NODES> {
            LazyTable2::new((0.0, 2.0), (0.5, 4.5), (1, 1), (8, 8), [1e-13, 1e-13])
        };
        let source = new();
        // Nodes over x < 1 only.
        let pts: Vec<(f64, f64)> = (0..30)
            .map(|i| (0.03 * i as f64, 0.5 + 0.13 * i as f64))
            .collect();
        for &(x, y) in &pts {
            source.panel(x, y, &f);
        }
        let mut bytes = Vec::new();
        source.export(&mut bytes);
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        let shipped = new();
        assert!(shipped.seed_lazily(bytes));
        assert!(!shipped.seed_lazily(bytes), "seeded once");
        assert_eq!(shipped.built(), (0, 0), "nothing decoded before a lookup");
        let (p, spent) = shipped.panel(pts[0].0, pts[0].1, &f);
        assert_eq!(spent, 0);
        assert!(p.is_some());
        let held = shipped.built().0;
        assert!(held >= 1 && held < source.built().0, "{held}");
        for &(x, y) in &pts {
            let (p, spent) = shipped.panel(x, y, &f);
            assert_eq!(spent, 0, "shipped: no evaluations");
            let (q, _) = source.panel(x, y, &f);
            let (a, b) = (p.unwrap().slice(x), q.unwrap().slice(x));
            for v in [y, y + 0.01, y - 0.01] {
                assert_eq!(a.eval(v).map(f64::to_bits), b.eval(v).map(f64::to_bits));
            }
        }
        // Beyond the shipped nodes: built, with the bits of a table that built everything.
        let (p, spent) = shipped.panel(1.9, 4.4, &f);
        assert!(spent > 0);
        let fresh = new().panel(1.9, 4.4, &f).0.unwrap();
        assert_eq!(
            p.unwrap().slice(1.9).eval(4.4).map(f64::to_bits),
            fresh.slice(1.9).eval(4.4).map(f64::to_bits)
        );
        // Truncated, or a bad tag: nothing held.
        let truncated: &'static [u8] = &bytes[..bytes.len() - 1];
        let t = new();
        assert!(!t.seed_lazily(truncated));
        assert!(t.panel(pts[0].0, pts[0].1, &f).1 > 0, "built, not shipped");
        let mut bad = bytes.to_vec();
        bad[4 + 10] = 9;
        let bad: &'static [u8] = Box::leak(bad.into_boxed_slice());
        assert!(!new().seed_lazily(bad));
    }
}
