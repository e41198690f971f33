//! The slow over-barrier mode of a two-well master equation, to full relative precision at any
//! temperature (docs/physics.md sections 5-6).
//!
//! # Why not an eigenvalue solver
//! The rates of the Mn12Ac chain span ~1e8 1/s (intra-well) down to ~1e-9 1/s (over the barrier)
//! at 2 K. A dense eigenvalue solver has an absolute error of about eps * ||W||, i.e. ~1e-8 1/s,
//! which is the size of the slowest rate itself below about 3 K: its answer is noise there.
//!
//! # The method
//! Split the states into the two well bottoms {a, b} and the rest r. With -W = [[P, -Q], [-R, G]]
//! (G a nonsingular M-matrix) the eigenvalues lambda < min eig(G) of -W are the roots of the 2x2
//! Schur complement S(lambda) = P - lambda - Q (G - lambda)^-1 R. Because the columns of W sum to
//! zero, S(lambda) can be written with positive quantities only:
//!   S = [[h_ba - lambda m_a, -h_ab], [-h_ba, h_ab - lambda m_b]],
//!   h_ba = W_ba + [Q (G - lambda)^-1 R]_ba,  m_a = 1 + 1^T (G - lambda)^-1 R_a,
//! and det S = lambda (lambda m_a m_b - m_b h_ba - m_a h_ab), so the slow rate is the fixed point
//!   lambda1 = h_ba(lambda1)/m_a(lambda1) + h_ab(lambda1)/m_b(lambda1).
//! (G - lambda)^-1 is the Neumann series sum_k lambda^k G^-(k+1) (all terms positive; its ratio is
//! lambda1/lambda2, tiny), and G^-1 is applied through a GTH-style LU factorization whose pivots
//! are sums of outgoing rates, never differences. Every operation adds, multiplies or divides
//! positive numbers, so lambda1 keeps full relative precision at any temperature; the fixed-point
//! iteration contracts by ~lambda1/lambda2 per step. At lambda = 0 the two terms are the
//! mean-first-passage (committor) escape rates; the iteration adds the exact correction.

use crate::error::NumericsError;
use nalgebra::DMatrix;

/// A vector of `n` zeros allocated with `malloc` and zeroed by the loop here, not with
/// `calloc`: glibc serves small `malloc` requests from its per-thread cache but sends every
/// `calloc` through the general allocator (callgrind, 10 T/s run from 3 K: ~80 instructions
/// per `malloc` on average, ~330 per `calloc`), and the reduction's well state allocates six
/// such vectors per evaluation. The zero passes
/// through `black_box` so that the compiler does not turn the allocation and the fill back
/// into a zeroed allocation.
pub(crate) fn zeros(n: usize) -> Vec<f64> {
    let mut v = Vec::with_capacity(n);
    v.resize(n, std::hint::black_box(0.0));
    v
}

/// The slow mode: lambda1 and its split into the two escape rates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SlowMode {
    /// Slowest non-zero relaxation rate (units of the matrix, 1/s for a scaled matrix).
    pub lambda1_per_s: f64,
    /// Escape rate out of the well of bottom `a`, h_ba/m_a (k_LR = lambda1 P_R).
    pub escape_a_per_s: f64,
    /// Escape rate out of the well of bottom `b`, h_ab/m_b (k_RL = lambda1 P_L).
    pub escape_b_per_s: f64,
    /// Fixed-point iterations used.
    pub iterations: usize,
}

/// A chain generator in band form: rate(i -> j) for |i - j| <= band, the two well bottoms at
/// the ends (levels 0 and n - 1). The band is the widest channel of the rate model's mechanisms
/// ([`crate::rates::mechanism`]): 2 for the spin-phonon Delta M <= 2 transitions; a channel between
/// opposite wells (tunnelling, |i - j| up to n - 1) widens it, at a cost of O(n b) storage, an
/// O(n b^2) factorization ([`Chain::interior_lu`]) and O(n b) per solve; nothing else changes
/// (the elimination stays subtraction-free at any band width).
#[derive(Debug, Clone)]
pub struct Chain {
    n: usize,
    band: usize,
    /// rate[from * (2 band + 1) + (to + band - from)].
    rate: Vec<f64>,
}

impl Chain {
    /// A chain of `n` levels with no transitions yet and half band width `band`.
    pub fn new(n: usize, band: usize) -> Self {
        Self {
            n,
            band,
            rate: zeros(n * (2 * band + 1)),
        }
    }

    /// Number of levels.
    pub fn n_levels(&self) -> usize {
        self.n
    }

    /// Half band width.
    pub fn band(&self) -> usize {
        self.band
    }

    /// The generator as a dense matrix: w[(to, from)] = rate from -> to, the diagonal minus the
    /// total outgoing rate, so that dn/dt = w n.
    pub fn to_dense(&self) -> DMatrix<f64> {
        let n = self.n;
        let mut w = DMatrix::zeros(n, n);
        for from in 0..n {
            for to in from.saturating_sub(self.band)..(from + self.band + 1).min(n) {
                if to != from {
                    let r = self.rate(from, to);
                    w[(to, from)] += r;
                    w[(from, from)] -= r;
                }
            }
        }
        w
    }

    /// Add `r` to the rate from -> to (|from - to| <= band, from != to).
    pub fn add_rate(&mut self, from: usize, to: usize, r: f64) {
        debug_assert!(from != to && from.abs_diff(to) <= self.band);
        self.rate[from * (2 * self.band + 1) + (to + self.band - from)] += r;
    }

    /// The rate from -> to (0 outside the band and on the diagonal).
    pub fn rate(&self, from: usize, to: usize) -> f64 {
        if from == to || from.abs_diff(to) > self.band || from >= self.n || to >= self.n {
            0.0
        } else {
            self.rate[from * (2 * self.band + 1) + (to + self.band - from)]
        }
    }

    /// GTH factors of G, the generator restricted to the interior levels 1..n-1 with both well
    /// bottoms absorbing; `None` if singular (a level that cannot reach either bottom).
    pub fn interior_lu(&self) -> Option<MMatrixLu> {
        let n = self.n;
        let m = n.saturating_sub(2);
        let b = self.band;
        let wd = 2 * b + 1;
        let mut f = zeros(m * wd);
        let mut excess = zeros(m);
        for rj in 0..m {
            // Level j = rj + 1; its outgoing rates are out[to + b - j].
            let j = rj + 1;
            let out = &self.rate[j * wd..(j + 1) * wd];
            // Its rates into the bottoms 0 and n - 1 (zero outside the band), added as
            // `rate(j, 0) + rate(j, n - 1)`.
            let to_a = if j <= b { out[b - j] } else { 0.0 };
            let to_b = if n - 1 - j <= b {
                out[n - 1 + b - j]
            } else {
                0.0
            };
            excess[rj] = to_a + to_b;
            // Column rj of G: (ri, rj) is the rate from level rj + 1 to level ri + 1; every
            // entry in the band is written (the diagonal slot stays zero).
            if b == 2 && rj >= 2 && rj + 2 < m {
                // (rj + d, rj) at (rj + d) 4 + 2 + rj = 5 rj + 2 + 4 d, d = -2..=2.
                let c = &mut f[5 * rj - 6..5 * rj + 11];
                c[0] = out[0];
                c[4] = out[1];
                c[12] = out[3];
                c[16] = out[4];
            } else {
                for ri in rj.saturating_sub(b)..(rj + b + 1).min(m) {
                    if ri != rj {
                        f[ri * (wd - 1) + b + rj] = out[ri + b - rj];
                    }
                }
            }
        }
        MMatrixLu::factor_band(m, b, f, excess)
    }

    /// Committors (q_a, q_b) of the bottoms a = 0 and b = n - 1: q_b[i] is the probability that
    /// the chain started in i reaches b before a (q_b[a] = 0, q_b[b] = 1); q_a = 1 - q_b is
    /// computed by its own solve, so both keep relative precision where small. The backward
    /// equation G^T q = (rates into b) is solved with the GTH factors, so the values keep full
    /// relative precision (also the ~exp(-barrier/T) ones deep in well a). The slow eigenvector
    /// is n_eq (c_a (1 - q) + c_b q) up to O(lambda1/lambda2): q splits the levels between the
    /// wells.
    pub fn committors(&self, lu: &MMatrixLu) -> (Vec<f64>, Vec<f64>) {
        let n = self.n;
        let m = n.saturating_sub(2);
        let b = self.band;
        let wd = 2 * b + 1;
        // The right-hand sides (rates into each bottom, zero outside the band) are solved in
        // place in the interior slots of the results.
        let (mut qa, mut qb) = (zeros(n), zeros(n));
        for j in 1..=m {
            let out = &self.rate[j * wd..(j + 1) * wd];
            if n - 1 - j <= b {
                qb[j] = out[n - 1 + b - j];
            }
            if j <= b {
                qa[j] = out[b - j];
            }
        }
        lu.solve_transpose_pair_in_place(&mut qb[1..=m], &mut qa[1..=m]);
        for q in qa[1..=m].iter_mut().chain(qb[1..=m].iter_mut()) {
            *q = q.min(1.0);
        }
        qa[0] = 1.0;
        qb[n - 1] = 1.0;
        (qa, qb)
    }
}

/// LU factors of a column-diagonally-dominant M-matrix, computed GTH-style.
///
/// The matrix is given by the magnitudes of its off-diagonal entries and its column excesses
/// (diagonal minus the off-diagonal magnitudes of the column, >= 0); the pivots are formed as
/// sums of these, so no cancellation occurs. Banded matrices (a spin chain with Delta M <= 2
/// couples each level to four neighbours) keep their band under elimination without pivoting,
/// so the factors are stored and computed in band form: O(m b^2) to factor, O(m b) to solve
/// (b = m - 1 is the dense case, O(m^3)).
#[derive(Debug, Clone)]
pub struct MMatrixLu {
    m: usize,
    /// Half band width: entries with |i - j| > band are zero.
    band: usize,
    /// Band storage, entry (i, j) at i * (2 band + 1) + (j + band - i): strictly lower part
    /// holds the multipliers l_ik >= 0, strictly upper the magnitudes |u_kj|.
    f: Vec<f64>,
    pivots: Vec<f64>,
}

impl MMatrixLu {
    /// Factor the M-matrix with off-diagonal magnitudes `off[i*m + j]` (i != j; the diagonal
    /// entries of `off` are ignored) and column excesses `excess`. `None` if a pivot vanishes
    /// (singular). The band width is read off the entries.
    pub fn factor(m: usize, off: Vec<f64>, excess: Vec<f64>) -> Option<Self> {
        let mut band = 0;
        for i in 0..m {
            for j in 0..m {
                if i != j && off[i * m + j] != 0.0 {
                    band = band.max(i.abs_diff(j));
                }
            }
        }
        let wd = 2 * band + 1;
        let mut f = vec![0.0; m * wd];
        for i in 0..m {
            for j in i.saturating_sub(band)..(i + band + 1).min(m) {
                if i != j {
                    f[i * wd + (j + band - i)] = off[i * m + j];
                }
            }
        }
        Self::factor_band(m, band, f, excess)
    }

    /// Factor from band storage (see the `f` layout; diagonal slots are ignored).
    pub fn factor_band(
        m: usize,
        band: usize,
        mut f: Vec<f64>,
        mut excess: Vec<f64>,
    ) -> Option<Self> {
        let wd = 2 * band + 1;
        assert!(
            f.len() >= m * wd && excess.len() >= m,
            "band storage too short"
        );
        // Pivot k is stored in excess[k] once step k has read it (no later step does). The
        // steps whose band is full (k + band < m) run with the band width known at compile
        // time for the spin-phonon chain's band 2 (the same operations in the same order as
        // the general step, so the factors are bit for bit the same).
        let full = if band == 2 { m.saturating_sub(2) } else { 0 };
        for k in 0..full {
            if !eliminate_full::<2>(k, &mut f, &mut excess) {
                return None;
            }
        }
        for k in full..m {
            if !eliminate(k, band, (k + band + 1).min(m), &mut f, &mut excess) {
                return None;
            }
        }
        excess.truncate(m);
        Some(Self {
            m,
            band,
            f,
            pivots: excess,
        })
    }

    /// Entry (i, j) of the band storage (the tests' reference solves use it).
    #[cfg(test)]
    fn at(&self, i: usize, j: usize) -> f64 {
        self.f[i * (2 * self.band + 1) + (j + self.band - i)]
    }

    /// Half band width found in the matrix.
    pub fn band(&self) -> usize {
        self.band
    }

    /// Solve A x = rhs in place for rhs >= 0 (the result is >= 0).
    pub fn solve_in_place(&self, x: &mut [f64]) {
        if self.band == 2 {
            solve_fixed::<2>(&self.f, &self.pivots, &mut x[..self.m]);
        } else {
            solve_general(self.band, &self.f, &self.pivots, &mut x[..self.m]);
        }
    }

    /// Solve A^T x = rhs in place for rhs >= 0 (the result is >= 0), with the same factors:
    /// A^T = U^T L^T, both triangular solves adding positive terms only.
    pub fn solve_transpose_in_place(&self, x: &mut [f64]) {
        if self.band == 2 {
            solve_transpose_fixed::<2>(&self.f, &self.pivots, &mut x[..self.m]);
        } else {
            solve_transpose_general(self.band, &self.f, &self.pivots, &mut x[..self.m]);
        }
    }

    /// [`Self::solve_transpose_in_place`] for two right-hand sides, `x` then `y`: each gets
    /// the same operations as alone (the same bits), in one pass over the factors.
    pub fn solve_transpose_pair_in_place(&self, x: &mut [f64], y: &mut [f64]) {
        if self.band == 2 {
            let (x, y) = (&mut x[..self.m], &mut y[..self.m]);
            solve_transpose_pair_fixed::<2>(&self.f, &self.pivots, x, y);
        } else {
            self.solve_transpose_in_place(x);
            self.solve_transpose_in_place(y);
        }
    }
}

// The kernels of `MMatrixLu`. Entry (i, j) of the band storage with half band width b is
// f[i * 2b + b + j]. The sums start at -0.0 and add their terms in the order of the column
// or row index, as `Iterator::sum` over the band did (its neutral element is -0.0), so the
// kernels with the band width known at compile time give the same bits as the general ones
// (`tests::solves_equal_the_entrywise_reference_bit_for_bit`,
// `tests::fixed_band_kernels_equal_the_general_ones_bit_for_bit`).

/// Elimination step k of the GTH factorization, `end` = min(k + band + 1, m); false if the
/// pivot is not positive and finite.
fn eliminate(k: usize, band: usize, end: usize, f: &mut [f64], excess: &mut [f64]) -> bool {
    // Entry (i, j) lives at i * (wd - 1) + band + j: row offsets below.
    let row = |i: usize| i * 2 * band + band;
    let mut p = excess[k];
    for i in k + 1..end {
        p += f[row(i) + k];
    }
    if !(p > 0.0 && p.is_finite()) {
        return false;
    }
    let rk = row(k);
    for i in k + 1..end {
        let ri = row(i);
        let l = f[ri + k] / p;
        f[ri + k] = l;
        if l == 0.0 {
            continue;
        }
        for j in k + 1..end {
            if j != i {
                f[ri + j] += l * f[rk + j];
            }
        }
    }
    let ek = excess[k];
    if ek > 0.0 {
        for j in k + 1..end {
            excess[j] += f[rk + j] * ek / p;
        }
    }
    excess[k] = p;
    true
}

/// [`eliminate`] for a step whose band is full (k + B < m), with B known at compile time.
#[inline(always)]
fn eliminate_full<const B: usize>(k: usize, f: &mut [f64], excess: &mut [f64]) -> bool {
    // Entry (k + a, k + c) of the band storage is win[a * 2B + c].
    let start = k * (2 * B + 1) + B;
    let win = &mut f[start..start + 2 * B * B + B + 1];
    let ex = &mut excess[k..k + B + 1];
    let mut p = ex[0];
    for a in 1..=B {
        p += win[a * 2 * B];
    }
    if !(p > 0.0 && p.is_finite()) {
        return false;
    }
    for a in 1..=B {
        let l = win[a * 2 * B] / p;
        win[a * 2 * B] = l;
        if l == 0.0 {
            continue;
        }
        for c in 1..=B {
            if c != a {
                win[a * 2 * B + c] += l * win[c];
            }
        }
    }
    let ek = ex[0];
    if ek > 0.0 {
        for c in 1..=B {
            ex[c] += win[c] * ek / p;
        }
    }
    ex[0] = p;
    true
}

/// L U x = rhs for half band width `b`.
fn solve_general(b: usize, f: &[f64], pivots: &[f64], x: &mut [f64]) {
    let (m, step) = (x.len(), 2 * b);
    for k in 0..m {
        let xk = x[k];
        if xk != 0.0 {
            for i in k + 1..(k + b + 1).min(m) {
                x[i] += f[i * step + b + k] * xk;
            }
        }
    }
    for k in (0..m).rev() {
        let end = (k + b + 1).min(m);
        let row = &f[k * step + b..];
        let s: f64 = row[k + 1..end]
            .iter()
            .zip(&x[k + 1..end])
            .map(|(u, xj)| u * xj)
            .sum();
        x[k] = (x[k] + s) / pivots[k];
    }
}

/// [`solve_general`] with the half band width B known at compile time.
fn solve_fixed<const B: usize>(f: &[f64], pivots: &[f64], x: &mut [f64]) {
    let m = x.len();
    let step = 2 * B;
    let full = m.saturating_sub(B);
    for k in 0..full {
        let xk = x[k];
        if xk != 0.0 {
            // Column k below the diagonal: (k + a, k) at k (2B + 1) + B + 2B a.
            let col = &f[k * (step + 1) + B..];
            let xs = &mut x[k + 1..k + B + 1];
            for a in 1..=B {
                xs[a - 1] += col[a * step] * xk;
            }
        }
    }
    for k in full..m {
        let xk = x[k];
        if xk != 0.0 {
            for i in k + 1..m {
                x[i] += f[i * step + B + k] * xk;
            }
        }
    }
    for k in (full..m).rev() {
        let mut s = -0.0;
        for j in k + 1..m {
            s += f[k * step + B + j] * x[j];
        }
        x[k] = (x[k] + s) / pivots[k];
    }
    for k in (0..full).rev() {
        // Row k right of the diagonal: (k, k + c) at k (2B + 1) + B + c.
        let row = &f[k * (step + 1) + B + 1..k * (step + 1) + 2 * B + 1];
        let xs = &x[k + 1..k + B + 1];
        let mut s = -0.0;
        for c in 0..B {
            s += row[c] * xs[c];
        }
        x[k] = (x[k] + s) / pivots[k];
    }
}

/// U^T L^T x = rhs for half band width `b`.
fn solve_transpose_general(b: usize, f: &[f64], pivots: &[f64], x: &mut [f64]) {
    let (m, step) = (x.len(), 2 * b);
    for k in 0..m {
        let s: f64 = (k.saturating_sub(b)..k)
            .map(|j| f[j * step + b + k] * x[j])
            .sum();
        x[k] = (x[k] + s) / pivots[k];
    }
    for k in (0..m).rev() {
        let s: f64 = (k + 1..(k + b + 1).min(m))
            .map(|i| f[i * step + b + k] * x[i])
            .sum();
        x[k] += s;
    }
}

/// [`solve_transpose_general`] with the half band width B known at compile time.
fn solve_transpose_fixed<const B: usize>(f: &[f64], pivots: &[f64], x: &mut [f64]) {
    let m = x.len();
    let step = 2 * B;
    let head = B.min(m);
    for k in 0..head {
        let mut s = -0.0;
        for j in 0..k {
            s += f[j * step + B + k] * x[j];
        }
        x[k] = (x[k] + s) / pivots[k];
    }
    for k in head..m {
        // Column k above the diagonal: (k - B + a, k) at (k - B)(2B + 1) + 2B + 2B a.
        let base = (k - B) * (step + 1) + step;
        let col = &f[base..base + (B - 1) * step + 1];
        let xs = &x[k - B..k];
        let mut s = -0.0;
        for a in 0..B {
            s += col[a * step] * xs[a];
        }
        x[k] = (x[k] + s) / pivots[k];
    }
    let full = m.saturating_sub(B);
    for k in (full..m).rev() {
        let mut s = -0.0;
        for i in k + 1..m {
            s += f[i * step + B + k] * x[i];
        }
        x[k] += s;
    }
    for k in (0..full).rev() {
        // Column k below the diagonal: (k + a, k) at k (2B + 1) + B + 2B a.
        let col = &f[k * (step + 1) + B..];
        let xs = &x[k + 1..k + B + 1];
        let mut s = -0.0;
        for a in 1..=B {
            s += col[a * step] * xs[a - 1];
        }
        x[k] += s;
    }
}

/// [`solve_transpose_fixed`] for two right-hand sides of the same length at once.
fn solve_transpose_pair_fixed<const B: usize>(
    f: &[f64],
    pivots: &[f64],
    x: &mut [f64],
    y: &mut [f64],
) {
    let m = x.len();
    assert_eq!(y.len(), m, "right-hand sides of different lengths");
    let step = 2 * B;
    let head = B.min(m);
    for k in 0..head {
        let (mut s, mut t) = (-0.0, -0.0);
        for j in 0..k {
            let u = f[j * step + B + k];
            s += u * x[j];
            t += u * y[j];
        }
        x[k] = (x[k] + s) / pivots[k];
        y[k] = (y[k] + t) / pivots[k];
    }
    for k in head..m {
        let base = (k - B) * (step + 1) + step;
        let col = &f[base..base + (B - 1) * step + 1];
        let (xs, ys) = (&x[k - B..k], &y[k - B..k]);
        let (mut s, mut t) = (-0.0, -0.0);
        for a in 0..B {
            s += col[a * step] * xs[a];
            t += col[a * step] * ys[a];
        }
        x[k] = (x[k] + s) / pivots[k];
        y[k] = (y[k] + t) / pivots[k];
    }
    let full = m.saturating_sub(B);
    for k in (full..m).rev() {
        let (mut s, mut t) = (-0.0, -0.0);
        for i in k + 1..m {
            let l = f[i * step + B + k];
            s += l * x[i];
            t += l * y[i];
        }
        x[k] += s;
        y[k] += t;
    }
    for k in (0..full).rev() {
        let col = &f[k * (step + 1) + B..k * (step + 1) + B + B * step + 1];
        let (xs, ys) = (&x[k + 1..k + B + 1], &y[k + 1..k + B + 1]);
        let (mut s, mut t) = (-0.0, -0.0);
        for a in 1..=B {
            s += col[a * step] * xs[a - 1];
            t += col[a * step] * ys[a - 1];
        }
        x[k] += s;
        y[k] += t;
    }
}

/// A lower bound on the slowest intra-well relaxation rate: the Collatz-Wielandt lower bound on
/// the smallest eigenvalue of G (the chain with both well bottoms absorbing). lambda1 divided by
/// it bounds the error of the two-well reduction.
pub fn intra_well_rate(chain: &Chain) -> Option<f64> {
    chain
        .interior_lu()
        .map(|lu| smallest_eigenvalue_lower_bound(&lu))
}

/// Collatz-Wielandt lower bound on the smallest eigenvalue of the M-matrix factored in `lu`:
/// for x > 0 and y = A^-1 x, min_i x_i / y_i <= mu_min. A few inverse-iteration sweeps sharpen
/// it; it stays a bound even when they have not converged. Infinite for an empty matrix.
pub fn smallest_eigenvalue_lower_bound(lu: &MMatrixLu) -> f64 {
    if lu.m == 0 {
        return f64::INFINITY;
    }
    let mut x = vec![1.0; lu.m];
    let mut bound = 0.0;
    for _ in 0..30 {
        let mut y = x.clone();
        lu.solve_in_place(&mut y);
        let lower = x
            .iter()
            .zip(&y)
            .map(|(a, b)| a / b)
            .fold(f64::INFINITY, f64::min);
        let upper = x.iter().zip(&y).map(|(a, b)| a / b).fold(0.0, f64::max);
        bound = lower;
        if upper <= lower * (1.0 + 1e-3) {
            break;
        }
        let norm = y.iter().cloned().fold(0.0, f64::max);
        x = y.iter().map(|v| v / norm).collect();
    }
    bound
}

/// Partial sums of sum_k lambda^k G^-(k+1) r, contracted with 1 and with q, for any lambda
/// inside the spectral gap. The vectors are built once, scaled by a reference lambda (the
/// first non-zero one asked for) so that they neither underflow nor overflow; another lambda
/// weighs them by (lambda / lambda_ref)^k.
struct Neumann<'a> {
    lu: &'a MMatrixLu,
    q: &'a [f64],
    /// lambda_ref^k G^-(k+1) r for the last k.
    current: Vec<f64>,
    sums: Vec<f64>,
    dots: Vec<f64>,
    lambda_ref: f64,
}

impl<'a> Neumann<'a> {
    fn new(lu: &'a MMatrixLu, r: &[f64], q: &'a [f64]) -> Self {
        let mut current = r.to_vec();
        lu.solve_in_place(&mut current);
        let sums = vec![current.iter().sum()];
        let dots = vec![current.iter().zip(q).map(|(x, y)| x * y).sum()];
        Self {
            lu,
            q,
            current,
            sums,
            dots,
            lambda_ref: 0.0,
        }
    }

    fn extend(&mut self) {
        for c in self.current.iter_mut() {
            *c *= self.lambda_ref;
        }
        self.lu.solve_in_place(&mut self.current);
        self.sums.push(self.current.iter().sum());
        self.dots
            .push(self.current.iter().zip(self.q).map(|(x, y)| x * y).sum());
    }

    /// (q^T x, 1^T x) for x = (G - lambda)^-1 r; `None` when the terms stop decreasing (lambda
    /// beyond the smallest eigenvalue of G).
    fn eval(&mut self, lambda: f64) -> Option<(f64, f64)> {
        let (mut d, mut s) = (self.dots[0], self.sums[0]);
        if lambda == 0.0 || s == 0.0 {
            return Some((d, s));
        }
        if self.lambda_ref == 0.0 {
            self.lambda_ref = lambda;
        }
        let ratio = lambda / self.lambda_ref;
        let mut weight = 1.0;
        let mut prev = s;
        for k in 1..=400 {
            if k >= self.sums.len() {
                self.extend();
            }
            weight *= ratio;
            let now = weight * self.sums[k];
            if now.partial_cmp(&prev) != Some(std::cmp::Ordering::Less) {
                return None;
            }
            s += now;
            d += weight * self.dots[k];
            if now <= 1e-18 * s {
                return Some((d, s));
            }
            prev = now;
        }
        None
    }
}

/// Relative accuracy the dense fallback ([`dense_slowest_rate`]) must guarantee for lambda1.
pub const DENSE_RELATIVE_ACCURACY: f64 = 1e-9;

/// lambda1 of a reversible chain from a dense symmetric eigenvalue solve, with a bound on its
/// error ([`dense_slowest_rate`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DenseSlowest {
    /// The second smallest eigenvalue of -W (units of the chain's rates).
    pub lambda1_per_s: f64,
    /// The bound on |computed - exact| lambda1 divided by lambda1.
    pub relative_error_bound: f64,
    /// lambda2/lambda1, how far the slow mode is separated from the next one.
    pub gap_ratio: f64,
}

/// Why [`dense_slowest_rate`] gives no lambda1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DenseRefusal {
    /// A transition without its reverse (or a non-finite rate): the chain is not reversible.
    NotReversible,
    /// A level that no channel connects to the others.
    Disconnected,
    /// Double precision cannot give lambda1 to [`DENSE_RELATIVE_ACCURACY`]: the bound on its
    /// error relative to lambda1 is this (the largest rates are too far above lambda1).
    Inaccurate(f64),
}

/// The slowest non-zero rate lambda1 of the reversible chain by a dense symmetric eigenvalue
/// solve refined by its Rayleigh quotient, with a guaranteed error bound: the fallback of the
/// rate model where [`slow_mode`] finds no spectral gap (hot, with tunnelling channels joining
/// the wells below the barrier top; docs/numerics.md section 3.3, which derives the bound).
///
/// 1. pi along a spanning tree of the channels, ln pi_j = ln pi_i + ln w_ij - ln w_ji; the
///    detailed-balance defect d = max |ln(w_ij pi_i) - ln(w_ji pi_j)| over every channel (the
///    rounding of the rates). The reversible chain w~_ij = sqrt(w_ij w_ji pi_j/pi_i), within
///    exp(d/2) of the rates, is similar by diag(pi)^1/2 to the symmetric S with S_ij =
///    -s_ij = -sqrt(w_ij w_ji) and S_ii = sum_j s_ij sqrt(pi_j/pi_i).
/// 2. The eigenvector x of the second smallest eigenvalue of S (nalgebra's symmetric QR).
/// 3. rho = sum_{i<j} s_ij (x_i r_ij - x_j/r_ij)^2 / |x|^2, r_ij = (pi_j/pi_i)^(1/4): the
///    Rayleigh quotient as a sum of positive terms (no cancellation against the large
///    diagonal).
/// 4. Kato-Temple: with the residual R = |S x - rho x| (plus the rounding of S x) and the
///    distance delta from rho to the other eigenvalues (lambda_0 = 0 and lambda_2, each moved
///    by its Weyl bound), |lambda_1 - rho| <= R^2/delta: second order in the residual, so
///    ~(n eps |S|/lambda_1)^2 lambda_1/(lambda_2 - lambda_1) instead of the first-order
///    n eps |S| of the eigenvalue itself. Added: the rounding of rho and the rates' defect
///    (relative n d).
///
/// Accepted where the bound is at most [`DENSE_RELATIVE_ACCURACY`] lambda_1; refused cold
/// (lambda_1 below ~1e-8 of the largest rates), where the subtraction-free slow mode works.
pub fn dense_slowest_rate(chain: &Chain) -> Result<DenseSlowest, DenseRefusal> {
    let n = chain.n_levels();
    if n < 3 {
        return Err(DenseRefusal::Disconnected);
    }
    let band = chain.band();
    let near = |i: usize| i.saturating_sub(band)..(i + band + 1).min(n);
    // Every channel with its reverse, both finite.
    for i in 0..n {
        for j in near(i) {
            let (a, b) = (chain.rate(i, j), chain.rate(j, i));
            if !(a.is_finite() && b.is_finite() && a >= 0.0 && b >= 0.0) || (a > 0.0) != (b > 0.0) {
                return Err(DenseRefusal::NotReversible);
            }
        }
    }
    // ln pi along a spanning tree (breadth first from level 0).
    let mut ln_pi = vec![f64::NAN; n];
    ln_pi[0] = 0.0;
    let mut queue = std::collections::VecDeque::from([0usize]);
    while let Some(i) = queue.pop_front() {
        for j in near(i) {
            if j != i && ln_pi[j].is_nan() && chain.rate(i, j) > 0.0 {
                ln_pi[j] = ln_pi[i] + chain.rate(i, j).ln() - chain.rate(j, i).ln();
                queue.push_back(j);
            }
        }
    }
    if ln_pi.iter().any(|x| x.is_nan()) {
        return Err(DenseRefusal::Disconnected);
    }
    // The channels i < j: (i, j, s_ij, r_ij).
    let mut channels = Vec::new();
    let mut defect = 0.0_f64;
    let mut s = DMatrix::<f64>::zeros(n, n);
    for i in 0..n {
        for j in near(i).filter(|&j| j > i) {
            let (a, b) = (chain.rate(i, j), chain.rate(j, i));
            if a == 0.0 {
                continue;
            }
            defect = defect.max((a.ln() + ln_pi[i] - b.ln() - ln_pi[j]).abs());
            let sij = a.sqrt() * b.sqrt();
            let r = (0.25 * (ln_pi[j] - ln_pi[i])).exp();
            channels.push((i, j, sij, r));
            s[(i, j)] = -sij;
            s[(j, i)] = -sij;
            s[(i, i)] += sij * r * r;
            s[(j, j)] += sij / (r * r);
        }
    }
    let norm = (0..n)
        .map(|j| s.column(j).iter().map(|x| x.abs()).sum::<f64>())
        .fold(0.0, f64::max);
    let eigen = nalgebra::SymmetricEigen::new(s.clone());
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| eigen.eigenvalues[a].total_cmp(&eigen.eigenvalues[b]));
    let x = eigen.eigenvectors.column(order[1]).into_owned();
    let norm2: f64 = x.iter().map(|v| v * v).sum();
    let rho = channels
        .iter()
        .map(|&(i, j, sij, r)| {
            let d = x[i] * r - x[j] / r;
            sij * d * d
        })
        .sum::<f64>()
        / norm2;
    // Rounding: Weyl's bound on every computed eigenvalue (backward error of the symmetric QR
    // and the rounding of S's entries) and on the computed residual.
    let nf = n as f64;
    let slack = 8.0 * nf * f64::EPSILON * norm;
    let residual = (&s * &x - &x * rho).norm() / norm2.sqrt() + nf.sqrt() * slack;
    let (below, above) = (
        eigen.eigenvalues[order[0]] + slack,
        eigen.eigenvalues[order[2]] - slack,
    );
    let delta = (rho - below).min(above - rho);
    if !(rho > 0.0 && delta > 0.0) {
        // lambda1 not separated from 0 or lambda2 beyond the rounding: the first-order bound.
        return Err(DenseRefusal::Inaccurate(if rho > 0.0 {
            slack / rho
        } else {
            f64::INFINITY
        }));
    }
    let bound = residual * residual / delta
        + 4.0 * nf * f64::EPSILON * (rho + (rho * norm).sqrt())
        + (nf * defect).exp_m1() * rho;
    let rel = bound / rho;
    if rel.is_nan() || rel > DENSE_RELATIVE_ACCURACY {
        return Err(DenseRefusal::Inaccurate(rel));
    }
    Ok(DenseSlowest {
        lambda1_per_s: rho,
        relative_error_bound: rel,
        gap_ratio: eigen.eigenvalues[order[2]] / rho,
    })
}

/// The slowest non-zero rate lambda1 of the chain: the subtraction-free slow mode
/// ([`slow_mode`], full relative precision) where it exists, else the dense eigenvalue
/// ([`dense_slowest_rate`]) where double precision gives it to [`DENSE_RELATIVE_ACCURACY`];
/// else [`NumericsError::SlowestRateUnresolved`] (B and T left NaN for the caller to fill in).
pub fn slowest_rate(chain: &Chain) -> Result<f64, NumericsError> {
    match slow_mode(chain) {
        Ok(mode) => Ok(mode.lambda1_per_s),
        Err(NumericsError::NoSpectralGap { .. }) => match dense_slowest_rate(chain) {
            Ok(d) => Ok(d.lambda1_per_s),
            Err(why) => Err(NumericsError::SlowestRateUnresolved {
                field_t: f64::NAN,
                temperature_k: f64::NAN,
                dense_relative_error: match why {
                    DenseRefusal::Inaccurate(rel) => rel,
                    _ => f64::NAN,
                },
            }),
        },
        Err(e) => Err(e),
    }
}

/// The slow mode of the chain (well bottoms at its ends).
pub fn slow_mode(chain: &Chain) -> Result<SlowMode, NumericsError> {
    let gap = NumericsError::NoSpectralGap {
        field_t: f64::NAN,
        temperature_k: f64::NAN,
    };
    let lu = chain.interior_lu().ok_or_else(|| gap.clone())?;
    slow_mode_with(chain, &lu)
}

/// The slow mode of the chain with the interior factors `lu` already computed.
pub fn slow_mode_with(chain: &Chain, lu: &MMatrixLu) -> Result<SlowMode, NumericsError> {
    fixed_point(chain, lu, true)
}

/// The rate of the two-well reduction: [`slow_mode_with`] when no channel joins the two well
/// bottoms directly (bit for bit). A direct channel (the tunnelling of the ground pair through
/// the k = 0 resonance) does not pass the interior levels, whose separation from the slow mode
/// the fixed point needs: at the core of a resonance at low temperature it can be faster than
/// the whole intra-well relaxation, and lambda1 = F(lambda1) has no solution inside the
/// spectral gap. Its escape terms w_ba/m_a and w_ab/m_b are therefore added at the fixed point
/// lambda_int of the paths through the interior alone: lambda = F_int(lambda_int) + the direct
/// terms there. Where the slow mode is separated this is lambda1 to O(lambda1/lambda2) (the
/// reduction's own order); where the direct channel dominates it is the flux between the
/// bottoms, w_ab + w_ba when they hold their wells, and it is continuous in (B, T) throughout
/// (docs/numerics.md section 4, "Resonance passages").
pub fn reduction_rate_with(chain: &Chain, lu: &MMatrixLu) -> Result<SlowMode, NumericsError> {
    let n = chain.n_levels();
    if chain.rate(0, n - 1) == 0.0 && chain.rate(n - 1, 0) == 0.0 {
        return slow_mode_with(chain, lu);
    }
    fixed_point(chain, lu, false)
}

/// lambda = F(lambda) by fixed-point and secant steps; with `direct` false the direct
/// bottom-to-bottom terms are left out of the iteration and added at its solution.
fn fixed_point(chain: &Chain, lu: &MMatrixLu, direct: bool) -> Result<SlowMode, NumericsError> {
    let n = chain.n_levels();
    let m = n.saturating_sub(2);
    let (a, b) = (0, n - 1);
    let interior = 1..=m;
    let ra: Vec<f64> = interior.clone().map(|j| chain.rate(a, j)).collect();
    let rb: Vec<f64> = interior.clone().map(|j| chain.rate(b, j)).collect();
    let qa: Vec<f64> = interior.clone().map(|j| chain.rate(j, a)).collect();
    let qb: Vec<f64> = interior.map(|j| chain.rate(j, b)).collect();
    let (w_ba_all, w_ab_all) = (chain.rate(a, b), chain.rate(b, a));
    let (w_ba, w_ab) = if direct {
        (w_ba_all, w_ab_all)
    } else {
        (0.0, 0.0)
    };
    let gap = NumericsError::NoSpectralGap {
        field_t: f64::NAN,
        temperature_k: f64::NAN,
    };
    // 1^T (G - lambda)^-1 r and q^T (G - lambda)^-1 r as Neumann series of positive terms,
    // their vectors G^-(k+1) r computed once and shared by every lambda the iteration tries.
    let mut series_a = Neumann::new(lu, &ra, &qb);
    let mut series_b = Neumann::new(lu, &rb, &qa);
    // F(lambda) = h_ba/m_a + h_ab/m_b and its two terms; None past the spectral gap.
    // Also the direct terms left out of the iteration (zero when `direct`), at the same lambda.
    let mut eval = |lambda: f64| -> Option<(f64, f64, f64, f64)> {
        let (da, sa) = series_a.eval(lambda)?;
        let (db, sb) = series_b.eval(lambda)?;
        let esc_a = (w_ba + da) / (1.0 + sa);
        let esc_b = (w_ab + db) / (1.0 + sb);
        let (left_a, left_b) = if direct {
            (0.0, 0.0)
        } else {
            (w_ba_all / (1.0 + sa), w_ab_all / (1.0 + sb))
        };
        (esc_a + esc_b)
            .is_finite()
            .then_some((esc_a, esc_b, left_a, left_b))
    };
    // Fixed-point steps contract by ~lambda1/lambda2 (a few steps when the time scales are
    // separated); when they contract poorly (barrier comparable to T), secant steps on
    // phi(lambda) = lambda - F(lambda) take over.
    let (mut x_prev, mut phi_prev) = (0.0, f64::NAN);
    let mut x = 0.0;
    let mut last_step = f64::INFINITY;
    let mut secant = false;
    let mut known: Option<(f64, f64, f64, f64)> = None;
    for it in 1..=200 {
        let (esc_a, esc_b, left_a, left_b) = match known.take() {
            Some(v) => v,
            None => eval(x).ok_or_else(|| gap.clone())?,
        };
        let f = esc_a + esc_b;
        let phi = x - f;
        if (f - x).abs() <= 4.0 * f64::EPSILON * f || f == 0.0 {
            if direct {
                return Ok(SlowMode {
                    lambda1_per_s: f,
                    escape_a_per_s: esc_a,
                    escape_b_per_s: esc_b,
                    iterations: it,
                });
            }
            let (esc_a, esc_b) = (esc_a + left_a, esc_b + left_b);
            return Ok(SlowMode {
                lambda1_per_s: esc_a + esc_b,
                escape_a_per_s: esc_a,
                escape_b_per_s: esc_b,
                iterations: it,
            });
        }
        let mut next = if secant && (phi - phi_prev).abs() > 0.0 {
            x - phi * (x - x_prev) / (phi - phi_prev)
        } else {
            f
        };
        let step = (next - x).abs();
        if it >= 3 && step > 0.1 * last_step {
            secant = true;
        }
        // Keep the iterate inside the spectral gap: back off towards x if F is undefined there.
        let mut tries = 0;
        loop {
            if !(next.is_nan() || next <= 0.0) {
                known = eval(next);
                if known.is_some() {
                    break;
                }
            }
            next = 0.5 * (x + next.max(0.0));
            tries += 1;
            if tries > 60 {
                return Err(gap);
            }
        }
        last_step = step;
        (x_prev, phi_prev) = (x, phi);
        x = next;
    }
    Err(gap)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An M-matrix with half band width `band` (band = m - 1: dense), pseudo-random entries.
    fn m_matrix(m: usize, band: usize) -> (Vec<f64>, Vec<f64>, DMatrix<f64>) {
        let mut seed = 12345u64;
        let mut rnd = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 11) as f64 / (1u64 << 53) as f64) + 0.01
        };
        let mut off = vec![0.0; m * m];
        let mut excess = vec![0.0; m];
        let mut dense = DMatrix::zeros(m, m);
        for j in 0..m {
            let mut col = 0.0;
            for i in 0..m {
                if i != j && i.abs_diff(j) <= band {
                    let v = rnd();
                    off[i * m + j] = v;
                    dense[(i, j)] = -v;
                    col += v;
                }
            }
            excess[j] = 0.1 * rnd();
            dense[(j, j)] = col + excess[j];
        }
        (off, excess, dense)
    }

    /// Bottoms 0 and 3 joined directly (rate 10 each way); the interior pair 1, 2 mixes at
    /// `fast` and leaves to the bottoms at 1. By the symmetry 0 <-> 3, 1 <-> 2: the even modes
    /// (x0 = x3, x1 = x2) have -W = [[1, -1], [-1, 1]], eigenvalues 0 and lambda1 = 2; the odd
    /// ones [[21, -1], [-1, 1 + 2 fast]], lambda2 ~ 21. The interior's smallest rate is 1 <
    /// lambda1, so the slow mode has no fixed point.
    fn unseparated(fast: f64) -> Chain {
        let mut c = Chain::new(4, 3);
        for (a, b, r) in [(0, 3, 10.0), (1, 2, fast), (1, 0, 1.0), (2, 3, 1.0)] {
            c.add_rate(a, b, r);
            c.add_rate(b, a, r);
        }
        c
    }

    /// Where the slow mode fails, the dense fallback gives lambda1 when its bound allows
    /// (fast = 1e3: checked against the closed form of the symmetric 4-state chain) and
    /// refuses with the bound when the fast rate is 1e12 times lambda1's scale.
    #[test]
    fn dense_fallback_where_the_slow_mode_fails_and_its_refusal() {
        let c = unseparated(1e3);
        assert!(slow_mode(&c).is_err());
        let got = slowest_rate(&c).unwrap();
        assert!((got - 2.0).abs() <= 1e-13 * 2.0, "{got}");
        let d = dense_slowest_rate(&c).unwrap();
        let (p, q) = (21.0, 1.0 + 2e3);
        let lambda2 = 0.5 * (p + q) - (0.25 * (p - q) * (p - q) + 1.0_f64).sqrt();
        assert!(d.relative_error_bound <= DENSE_RELATIVE_ACCURACY);
        assert!(
            (d.gap_ratio - lambda2 / 2.0).abs() <= 1e-12 * lambda2,
            "{d:?}"
        );
        let c = unseparated(1e12);
        assert!(slow_mode(&c).is_err());
        match dense_slowest_rate(&c) {
            Err(DenseRefusal::Inaccurate(rel)) => assert!(rel > 1e-9, "{rel:e}"),
            other => panic!("{other:?}"),
        }
        let e = slowest_rate(&c).unwrap_err();
        let text = e.to_string();
        assert!(
            matches!(e, NumericsError::SlowestRateUnresolved { dense_relative_error, .. } if dense_relative_error > 1e-9)
                && text.contains("not separated")
                && text.contains("bounds its error only to"),
            "{text}"
        );
        // A channel without its reverse: no dense fallback.
        let mut c = unseparated(1e3);
        c.add_rate(1, 3, 1.0);
        assert_eq!(dense_slowest_rate(&c), Err(DenseRefusal::NotReversible));
    }

    #[test]
    fn banded_and_dense_factors_solve_like_a_general_lu() {
        for (m, band) in [(19, 2), (19, 18), (7, 1), (1, 0)] {
            let (off, excess, dense) = m_matrix(m, band);
            let lu = MMatrixLu::factor(m, off, excess).unwrap();
            assert_eq!(lu.band(), band.min(m.saturating_sub(1)));
            let rhs: Vec<f64> = (0..m).map(|i| 1.0 + i as f64).collect();
            let mut x = rhs.clone();
            lu.solve_in_place(&mut x);
            let mut xt = rhs.clone();
            lu.solve_transpose_in_place(&mut xt);
            let b = nalgebra::DVector::from_vec(rhs);
            let want = dense.clone().lu().solve(&b).unwrap();
            let want_t = dense.transpose().lu().solve(&b).unwrap();
            for i in 0..m {
                assert!(
                    (x[i] - want[i]).abs() <= 1e-13 * want[i].abs(),
                    "{m} {band} {i}"
                );
                assert!(
                    (xt[i] - want_t[i]).abs() <= 1e-13 * want_t[i].abs(),
                    "T {m} {band} {i}"
                );
            }
        }
    }
    /// The solves as first written, entry by entry through `at`: the reference the slice-wise
    /// solves must reproduce bit for bit (same operations in the same order).
    fn reference_solves(lu: &MMatrixLu, rhs: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let (m, b) = (lu.m, lu.band);
        let mut x = rhs.to_vec();
        for k in 0..m {
            let xk = x[k];
            if xk != 0.0 {
                for i in k + 1..(k + b + 1).min(m) {
                    x[i] += lu.at(i, k) * xk;
                }
            }
        }
        for k in (0..m).rev() {
            let s: f64 = (k + 1..(k + b + 1).min(m))
                .map(|j| lu.at(k, j) * x[j])
                .sum();
            x[k] = (x[k] + s) / lu.pivots[k];
        }
        let mut y = rhs.to_vec();
        for k in 0..m {
            let s: f64 = (k.saturating_sub(b)..k).map(|j| lu.at(j, k) * y[j]).sum();
            y[k] = (y[k] + s) / lu.pivots[k];
        }
        for k in (0..m).rev() {
            let s: f64 = (k + 1..(k + b + 1).min(m))
                .map(|i| lu.at(i, k) * y[i])
                .sum();
            y[k] += s;
        }
        (x, y)
    }

    /// The band-2 kernels (elimination step, both solves) against the general ones, bit for
    /// bit: every size from 1 to 23, with zero multipliers, zero excesses, and right-hand
    /// sides with zeros, negative entries and -0.0 (the slaving estimate solves signed ones).
    #[test]
    fn fixed_band_kernels_equal_the_general_ones_bit_for_bit() {
        let bits = |v: &[f64]| v.iter().map(|a| a.to_bits()).collect::<Vec<_>>();
        for m in 1..=23 {
            for variant in 0..3 {
                let (mut off, mut excess, _) = m_matrix(m, 2);
                if variant >= 1 {
                    // Zero entries below the diagonal (zero multipliers) and zero excesses.
                    for i in 0..m {
                        if i % 3 == 1 && i + 1 < m {
                            off[(i + 1) * m + i] = 0.0;
                        }
                        if i % 2 == 0 && i + 1 < m {
                            excess[i] = 0.0;
                        }
                    }
                }
                let lu = MMatrixLu::factor(m, off.clone(), excess.clone()).unwrap();
                // The general elimination on the same band storage.
                let wd = 5;
                let mut f = vec![0.0; m * wd];
                for i in 0..m {
                    for j in i.saturating_sub(2)..(i + 3).min(m) {
                        if i != j {
                            f[i * wd + (j + 2 - i)] = off[i * m + j];
                        }
                    }
                }
                let mut ex = excess.clone();
                for k in 0..m {
                    assert!(eliminate(k, 2, (k + 3).min(m), &mut f, &mut ex));
                }
                assert_eq!(lu.band(), if m >= 2 { 2.min(m - 1) } else { 0 });
                if lu.band() != 2 {
                    continue;
                }
                assert_eq!(bits(&lu.f), bits(&f), "factors, m = {m}");
                assert_eq!(bits(&lu.pivots), bits(&ex[..m]), "pivots, m = {m}");
                let rhs: Vec<f64> = (0..m)
                    .map(|i| match (i + variant) % 5 {
                        0 => 0.0,
                        1 => -0.0,
                        2 => -(0.7 + i as f64),
                        _ => 0.3 + (i as f64).sqrt(),
                    })
                    .collect();
                let (mut x, mut xg) = (rhs.clone(), rhs.clone());
                lu.solve_in_place(&mut x);
                solve_general(2, &lu.f, &lu.pivots, &mut xg);
                assert_eq!(bits(&x), bits(&xg), "solve, m = {m}");
                let (mut y, mut yg) = (rhs.clone(), rhs.clone());
                lu.solve_transpose_in_place(&mut y);
                solve_transpose_general(2, &lu.f, &lu.pivots, &mut yg);
                assert_eq!(bits(&y), bits(&yg), "transpose solve, m = {m}");
                // Two right-hand sides in one pass: each as alone.
                let other: Vec<f64> = rhs.iter().rev().map(|v| 2.5 * v - 0.25).collect();
                let (mut p, mut q) = (rhs, other.clone());
                lu.solve_transpose_pair_in_place(&mut p, &mut q);
                let mut qg = other;
                solve_transpose_general(2, &lu.f, &lu.pivots, &mut qg);
                assert_eq!(bits(&p), bits(&yg), "pair solve, first, m = {m}");
                assert_eq!(bits(&q), bits(&qg), "pair solve, second, m = {m}");
            }
        }
    }

    #[test]
    fn solves_equal_the_entrywise_reference_bit_for_bit() {
        for (m, band) in [(19, 2), (19, 18), (7, 1), (1, 0), (19, 5)] {
            let (off, excess, _) = m_matrix(m, band);
            let lu = MMatrixLu::factor(m, off, excess).unwrap();
            for zeros in [false, true] {
                let rhs: Vec<f64> = (0..m)
                    .map(|i| {
                        if zeros && i % 3 == 0 {
                            0.0
                        } else {
                            0.3 + (i as f64).sqrt()
                        }
                    })
                    .collect();
                let (want, want_t) = reference_solves(&lu, &rhs);
                let mut x = rhs.clone();
                lu.solve_in_place(&mut x);
                let mut y = rhs.clone();
                lu.solve_transpose_in_place(&mut y);
                let bits = |v: &[f64]| v.iter().map(|a| a.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&x), bits(&want), "{m} {band}");
                assert_eq!(bits(&y), bits(&want_t), "T {m} {band}");
            }
        }
    }
}
