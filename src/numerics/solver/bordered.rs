//! LU factors of a "bordered band" matrix: a leading block with half band width b followed by
//! k dense border rows and columns. The Newton matrices sigma I - J of the full master equation
//! have this form: the populations couple only through the rate mechanisms' channels (Delta M
//! <= 2 neighbours for spin-phonon; b is the widest channel, see [`crate::rates::mechanism`]), the
//! phonon energy and the work couple to everything. Eliminating the band columns without
//! pivoting costs O(n b (b + k)) instead of O(n^3); the k x k Schur complement left in the border
//! is factored with partial pivoting. When a wide channel makes the band cover the population
//! block the system asks for the dense LU instead.
//!
//! No pivoting in the band part is safe for these matrices: sigma I - J restricted to the
//! populations is strictly column diagonally dominant for Re sigma > 0 (J is a rate matrix
//! there, its columns summing to zero), a property the Schur complements of the band keep; the
//! border rows are eliminated, never used as pivots. Any zero or non-finite pivot is reported
//! (`None`) and the caller falls back to a dense pivoted LU.

use nalgebra::{ComplexField, DMatrix, DVector};

/// Largest border factored in place (the full system has 2 border rows, 3 with a heat link);
/// a larger one goes to nalgebra's LU.
const SMALL_BORDER: usize = 4;

/// Factors of a bordered band matrix.
#[derive(Debug, Clone)]
pub struct BorderedLu<T: ComplexField> {
    n: usize,
    nb: usize,
    band: usize,
    /// Multipliers below the diagonal, U above, for the band columns; the border block holds
    /// the Schur complement, factored in place when it has at most `SMALL_BORDER` rows.
    a: DMatrix<T>,
    /// The row exchanges of the in-place border factorization: step i exchanged the block's
    /// rows i and `perm[i]`.
    perm: [usize; SMALL_BORDER],
    /// A border larger than `SMALL_BORDER`: its Schur complement's LU.
    schur: Option<nalgebra::LU<T, nalgebra::Dyn, nalgebra::Dyn>>,
}

/// The multipliers of one band column (row, value); on the stack for up to 16 rows.
enum Rows<T> {
    Stack([(usize, T); 16], usize),
    Heap(Vec<(usize, T)>),
}

impl<T: Copy + ComplexField> Rows<T> {
    fn with_capacity(cap: usize) -> Self {
        if cap <= 16 {
            Rows::Stack([(0, T::zero()); 16], 0)
        } else {
            Rows::Heap(Vec::with_capacity(cap))
        }
    }
    fn clear(&mut self) {
        match self {
            Rows::Stack(_, len) => *len = 0,
            Rows::Heap(v) => v.clear(),
        }
    }
    fn push(&mut self, e: (usize, T)) {
        match self {
            Rows::Stack(a, len) => {
                a[*len] = e;
                *len += 1;
            }
            Rows::Heap(v) => v.push(e),
        }
    }
    fn as_slice(&self) -> &[(usize, T)] {
        match self {
            Rows::Stack(a, len) => &a[..*len],
            Rows::Heap(v) => v,
        }
    }
}

/// LU with partial pivoting of the k x k block of the column-major storage `s` (leading
/// dimension `ld`) at (`o`, `o`), in place: the same operations in the same order as
/// nalgebra's `LU::new` (pivot: the first entry of largest norm1; multipliers by the
/// reciprocal of the pivot; updates as its axpy, y = (-u) l 1 + 1 y), so that the factors are
/// bit for bit nalgebra's. Returns the row exchanges, or `None` if a pivot is zero (nalgebra's
/// "not invertible").
fn small_lu<T: ComplexField<RealField = f64> + Copy>(
    s: &mut [T],
    ld: usize,
    o: usize,
    k: usize,
) -> Option<[usize; SMALL_BORDER]> {
    let at = |r: usize, c: usize| (o + r) + (o + c) * ld;
    let mut perm = [0; SMALL_BORDER];
    let (one, mut singular) = (T::one(), false);
    for i in 0..k {
        perm[i] = i;
        let mut piv = i;
        let mut the_max = s[at(i, i)].norm1();
        for r in i + 1..k {
            let v = s[at(r, i)].norm1();
            if v > the_max {
                the_max = v;
                piv = r;
            }
        }
        let diag = s[at(piv, i)];
        if diag.is_zero() {
            singular = true;
            continue;
        }
        if piv != i {
            perm[i] = piv;
            for c in 0..i {
                s.swap(at(i, c), at(piv, c));
            }
            s.swap(at(i, i), at(piv, i));
        }
        let inv_diag = one / diag;
        for r in i + 1..k {
            s[at(r, i)] *= inv_diag;
        }
        for c in i + 1..k {
            if piv != i {
                s.swap(at(i, c), at(piv, c));
            }
            let u = -s[at(i, c)];
            for r in i + 1..k {
                s[at(r, c)] = u * s[at(r, i)] * one + one * s[at(r, c)];
            }
        }
    }
    (!singular).then_some(perm)
}

/// Solve with the factors of [`small_lu`], as nalgebra's `LU::solve_mut` does (row exchanges,
/// unit lower, then upper triangle, each column's update as its axpy).
fn small_solve<T: ComplexField<RealField = f64> + Copy>(
    s: &[T],
    ld: usize,
    o: usize,
    perm: &[usize; SMALL_BORDER],
    x: &mut [T],
) {
    let k = x.len();
    let at = |r: usize, c: usize| (o + r) + (o + c) * ld;
    let one = T::one();
    for (i, &p) in perm.iter().enumerate().take(k) {
        x.swap(i, p);
    }
    for i in 0..k.saturating_sub(1) {
        let coeff = -(x[i] / one);
        for r in i + 1..k {
            x[r] = coeff * s[at(r, i)] * one + one * x[r];
        }
    }
    for i in (0..k).rev() {
        let coeff = x[i] / s[at(i, i)];
        x[i] = coeff;
        let coeff = -coeff;
        for r in 0..i {
            x[r] = coeff * s[at(r, i)] * one + one * x[r];
        }
    }
}

impl<T: ComplexField<RealField = f64> + Copy> BorderedLu<T> {
    /// Factor `a` (n x n), whose leading nb x nb block has half band width `band` and whose
    /// remaining rows and columns are dense. `None` on a zero or non-finite band pivot or a
    /// singular border block. Entries of the band block outside the band are never read.
    pub fn new(mut a: DMatrix<T>, nb: usize, band: usize) -> Option<Self> {
        let n = a.nrows();
        assert!(
            a.ncols() == n && nb <= n,
            "bordered LU needs a square matrix"
        );
        // Column-major storage: (r, c) at r + c n. Per band column, the multipliers first
        // (column c), then the updates column by column (the pivot row is not changed by
        // them): the same operations on each entry, in the same order, as row by row. The
        // common shapes (band 2, border 2 or 3: the full system without and with a heat link)
        // run with fixed sizes for the columns whose band lies inside the block; the last
        // `band` columns and every other shape take the general loop. Both do the same
        // operations on each entry in the same order.
        let s = a.as_mut_slice();
        let first_general = match (band, n - nb) {
            (2, 2) => eliminate_fixed::<T, 2, 2>(s, n, nb)?,
            (2, 3) => eliminate_fixed::<T, 2, 3>(s, n, nb)?,
            _ => 0,
        };
        eliminate_general(s, n, nb, band, first_general)?;
        let k = n - nb;
        let mut perm = [0; SMALL_BORDER];
        let schur = if k > SMALL_BORDER {
            let s = a.view((nb, nb), (k, k)).clone_owned().lu();
            if !s.is_invertible() {
                return None;
            }
            Some(s)
        } else {
            if k > 0 {
                perm = small_lu(a.as_mut_slice(), n, nb, k)?;
            }
            None
        };
        Some(Self {
            n,
            nb,
            band,
            a,
            perm,
            schur,
        })
    }

    /// The storage of the factors (an n x n matrix), to be filled again.
    pub fn into_matrix(self) -> DMatrix<T> {
        self.a
    }

    /// Solve A x = rhs.
    pub fn solve(&self, rhs: &DVector<T>) -> DVector<T> {
        let mut x = rhs.clone();
        self.solve_in_place(&mut x);
        x
    }

    /// Solve A x = b, overwriting b with x.
    pub fn solve_in_place(&self, x: &mut DVector<T>) {
        let (n, nb, band) = (self.n, self.nb, self.band);
        let a = self.a.as_slice();
        let (xb, xr) = x.as_mut_slice().split_at_mut(nb);
        // Forward: the band columns' multipliers, onto the band and border rows (fixed sizes
        // for the common shapes where the band lies inside the block, as in `new`).
        let first_general = match (band, n - nb) {
            (2, 2) => forward_fixed::<T, 2, 2>(a, n, xb, xr),
            (2, 3) => forward_fixed::<T, 2, 3>(a, n, xb, xr),
            _ => 0,
        };
        for c in first_general..nb {
            let xc = xb[c];
            if xc.is_zero() {
                continue;
            }
            let band_end = (c + band + 1).min(nb);
            let col = &a[c * n..(c + 1) * n];
            for r in c + 1..band_end {
                xb[r] -= col[r] * xc;
            }
            for (xr, &l) in xr.iter_mut().zip(&col[nb..]) {
                *xr -= l * xc;
            }
        }
        // The border unknowns from the Schur complement.
        match &self.schur {
            Some(s) => {
                s.solve_mut(&mut nalgebra::DVectorViewMut::from_slice(xr, n - nb));
            }
            None if n > nb => small_solve(a, n, nb, &self.perm, xr),
            None => {}
        }
        // Back substitution in the band part: row c of U is a[c + j n], j > c.
        let last_fixed = nb.saturating_sub(band);
        let general_from = match (band, n - nb) {
            (2, 2) | (2, 3) => last_fixed,
            _ => 0,
        };
        for c in (general_from..nb).rev() {
            let band_end = (c + band + 1).min(nb);
            let mut v = xb[c];
            for j in c + 1..band_end {
                v -= a[c + j * n] * xb[j];
            }
            for (k, &xj) in xr.iter().enumerate() {
                v -= a[c + (nb + k) * n] * xj;
            }
            xb[c] = v / a[c + c * n];
        }
        match (band, n - nb) {
            (2, 2) => back_fixed::<T, 2, 2>(a, n, general_from, xb, xr),
            (2, 3) => back_fixed::<T, 2, 3>(a, n, general_from, xb, xr),
            _ => {}
        }
    }
}

/// Whether a band pivot can be used (non-zero, finite parts; no modulus: hypot is a libm call
/// per pivot).
fn pivot_ok<T: ComplexField<RealField = f64> + Copy>(pivot: T) -> bool {
    !pivot.is_zero() && pivot.real().is_finite() && pivot.imaginary().is_finite()
}

/// Eliminate band columns `from..nb` of the column-major n x n storage `s` (half band width
/// `band`, border rows and columns nb..n): per column the multipliers (zero entries skipped),
/// then the updates of the later band and border columns. `None` on a bad pivot.
fn eliminate_general<T: ComplexField<RealField = f64> + Copy>(
    s: &mut [T],
    n: usize,
    nb: usize,
    band: usize,
    from: usize,
) -> Option<()> {
    // The multipliers of one column (at most `band` band rows and the border rows).
    let mut rows = Rows::with_capacity(band + n - nb);
    for c in from..nb {
        let pivot = s[c + c * n];
        if !pivot_ok(pivot) {
            return None;
        }
        let band_end = (c + band + 1).min(nb);
        rows.clear();
        {
            let col = &mut s[c * n..(c + 1) * n];
            for r in (c + 1..band_end).chain(nb..n) {
                let arc = col[r];
                if arc.is_zero() {
                    continue;
                }
                let l = arc / pivot;
                col[r] = l;
                rows.push((r, l));
            }
        }
        let rows = rows.as_slice();
        if rows.is_empty() {
            continue;
        }
        for j in (c + 1..band_end).chain(nb..n) {
            let col = &mut s[j * n..(j + 1) * n];
            let acj = col[c];
            if acj.is_zero() {
                continue;
            }
            for &(r, l) in rows {
                col[r] -= l * acj;
            }
        }
    }
    Some(())
}

/// [`eliminate_general`] for half band width `B` and `K` border rows, on the columns whose
/// band lies inside the block (c + B < nb), with the same operations on each entry in the same
/// order. Returns the first column left to the general loop, `None` on a bad pivot.
fn eliminate_fixed<T: ComplexField<RealField = f64> + Copy, const B: usize, const K: usize>(
    s: &mut [T],
    n: usize,
    nb: usize,
) -> Option<usize> {
    debug_assert_eq!(n, nb + K);
    let end = nb.saturating_sub(B);
    for c in 0..end {
        let pivot = s[c + c * n];
        if !pivot_ok(pivot) {
            return None;
        }
        let (mut lb, mut lk) = ([T::zero(); B], [T::zero(); K]);
        let (mut nzb, mut nzk) = ([false; B], [false; K]);
        {
            let col = &mut s[c * n..(c + 1) * n];
            let cb: &mut [T; B] = (&mut col[c + 1..c + 1 + B]).try_into().ok()?;
            for q in 0..B {
                if !cb[q].is_zero() {
                    lb[q] = cb[q] / pivot;
                    cb[q] = lb[q];
                    nzb[q] = true;
                }
            }
            let ck: &mut [T; K] = (&mut col[nb..nb + K]).try_into().ok()?;
            for q in 0..K {
                if !ck[q].is_zero() {
                    lk[q] = ck[q] / pivot;
                    ck[q] = lk[q];
                    nzk[q] = true;
                }
            }
        }
        let update = |col: &mut [T]| {
            let acj = col[c];
            if acj.is_zero() {
                return;
            }
            if let Ok(cb) = <&mut [T; B]>::try_from(&mut col[c + 1..c + 1 + B]) {
                for q in 0..B {
                    if nzb[q] {
                        cb[q] -= lb[q] * acj;
                    }
                }
            }
            if let Ok(ck) = <&mut [T; K]>::try_from(&mut col[nb..nb + K]) {
                for q in 0..K {
                    if nzk[q] {
                        ck[q] -= lk[q] * acj;
                    }
                }
            }
        };
        // The later band columns, then the border columns (the same order as the general
        // loop).
        for j in c + 1..c + 1 + B {
            update(&mut s[j * n..(j + 1) * n]);
        }
        for j in nb..n {
            update(&mut s[j * n..(j + 1) * n]);
        }
    }
    Some(end)
}

/// The forward pass of [`BorderedLu::solve_in_place`] for half band width `B` and `K` border
/// rows, on the columns whose band lies inside the block; returns the first column left to
/// the general loop.
fn forward_fixed<T: ComplexField<RealField = f64> + Copy, const B: usize, const K: usize>(
    a: &[T],
    n: usize,
    xb: &mut [T],
    xr: &mut [T],
) -> usize {
    let nb = xb.len();
    let end = nb.saturating_sub(B);
    let xr: &mut [T; K] = xr.try_into().expect("K border rows");
    for c in 0..end {
        let xc = xb[c];
        if xc.is_zero() {
            continue;
        }
        let col = &a[c * n..(c + 1) * n];
        let lb: &[T; B] = col[c + 1..c + 1 + B].try_into().expect("band");
        let xw: &mut [T; B] = (&mut xb[c + 1..c + 1 + B]).try_into().expect("band");
        for q in 0..B {
            xw[q] -= lb[q] * xc;
        }
        let lk: &[T; K] = col[nb..nb + K].try_into().expect("border");
        for q in 0..K {
            xr[q] -= lk[q] * xc;
        }
    }
    end
}

/// The back substitution of [`BorderedLu::solve_in_place`] for half band width `B` and `K`
/// border rows, on the rows 0..end (whose band lies inside the block), from the last one.
fn back_fixed<T: ComplexField<RealField = f64> + Copy, const B: usize, const K: usize>(
    a: &[T],
    n: usize,
    end: usize,
    xb: &mut [T],
    xr: &[T],
) {
    let nb = xb.len();
    let xr: &[T; K] = xr.try_into().expect("K border rows");
    for c in (0..end).rev() {
        let mut v = xb[c];
        for q in 0..B {
            v -= a[c + (c + 1 + q) * n] * xb[c + 1 + q];
        }
        for q in 0..K {
            v -= a[c + (nb + q) * n] * xr[q];
        }
        xb[c] = v / a[c + c * n];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::Complex;

    /// sigma I - J for a random generator J on a band chain, bordered by two dense rows and
    /// columns (like the phonon energy and the work).
    fn matrix<T: ComplexField<RealField = f64> + Copy>(sigma: T) -> DMatrix<T> {
        let (nb, n): (usize, usize) = (9, 11);
        let mut seed = 7u64;
        let mut rnd = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut j = DMatrix::<f64>::zeros(n, n);
        for c in 0..nb {
            for r in c.saturating_sub(2)..(c + 3).min(nb) {
                if r != c {
                    let v = rnd();
                    j[(r, c)] += v;
                    j[(c, c)] -= v;
                }
            }
            j[(nb, c)] = 10.0 * (rnd() - 0.5);
            j[(nb + 1, c)] = rnd();
        }
        for r in 0..nb + 1 {
            j[(r, nb)] = rnd() - 0.5;
        }
        let mut a = j.map(|v| T::from_real(-v));
        for i in 0..n {
            a[(i, i)] += sigma;
        }
        a
    }

    #[test]
    fn bordered_lu_solves_like_a_dense_lu() {
        let a: DMatrix<f64> = matrix(3.0f64);
        let rhs = DVector::from_fn(11, |i, _| 1.0 + i as f64);
        let rhs: DVector<f64> = rhs;
        let x = BorderedLu::new(a.clone(), 9, 2).unwrap().solve(&rhs);
        let want = a.lu().solve(&rhs).unwrap();
        assert!((x - want).amax() < 1e-12);

        let ac: DMatrix<Complex<f64>> = matrix(Complex::new(2.0, 3.0));
        let rhs = DVector::from_fn(11, |i, _| Complex::new(1.0, i as f64));
        let x = BorderedLu::new(ac.clone(), 9, 2).unwrap().solve(&rhs);
        let want = ac.lu().solve(&rhs).unwrap();
        let err = (x - want).iter().map(|v| v.norm()).fold(0.0, f64::max);
        assert!(err < 1e-12, "{err}");
    }

    #[test]
    fn the_border_is_pivoted() {
        // Border block [[0, 1], [1, 0]] (plus couplings): needs a row exchange.
        let mut a = DMatrix::<f64>::identity(4, 4);
        a[(2, 2)] = 0.0;
        a[(3, 3)] = 0.0;
        a[(2, 3)] = 1.0;
        a[(3, 2)] = 2.0;
        a[(0, 3)] = 0.5;
        a[(3, 1)] = -0.25;
        let rhs = DVector::from_vec(vec![1.0, 2.0, 3.0, 4.0]);
        let x = BorderedLu::new(a.clone(), 2, 1).unwrap().solve(&rhs);
        let want = a.lu().solve(&rhs).unwrap();
        assert!((x - want).amax() < 1e-14);
    }

    /// The in-place border factorization and solve give nalgebra's LU bit for bit (the
    /// factors and the solution), real and complex, k = 1..4, with and without row exchanges;
    /// a singular block is reported as nalgebra reports it.
    #[test]
    fn the_small_border_lu_is_nalgebras_bit_for_bit() {
        let mut seed = 11u64;
        let mut rnd = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        fn same<T: ComplexField<RealField = f64> + Copy>(a: DMatrix<T>, b: DVector<T>) {
            let k = a.nrows();
            let mut s = a.clone();
            let perm = small_lu(s.as_mut_slice(), k, 0, k);
            let lu = a.clone().lu();
            assert_eq!(perm.is_some(), lu.is_invertible());
            let Some(perm) = perm else { return };
            let bits = |m: &[T]| -> Vec<(u64, u64)> {
                m.iter()
                    .map(|v| (v.real().to_bits(), v.imaginary().to_bits()))
                    .collect()
            };
            let (_, l, u) = lu.clone().unpack();
            let mut packed = u.clone();
            for c in 0..k {
                for r in c + 1..k {
                    packed[(r, c)] = l[(r, c)];
                }
            }
            assert_eq!(bits(s.as_slice()), bits(packed.as_slice()));
            let mut x = b.clone();
            small_solve(s.as_slice(), k, 0, &perm, x.as_mut_slice());
            let mut want = b.clone();
            assert!(lu.solve_mut(&mut want));
            assert_eq!(bits(x.as_slice()), bits(want.as_slice()));
        }
        for k in 1..=SMALL_BORDER {
            for trial in 0..200 {
                // Every fourth matrix with a zero (or tiny) leading column entry: row exchanges.
                let mut a = DMatrix::from_fn(k, k, |_, _| rnd());
                if trial % 4 == 0 {
                    a[(0, 0)] = 0.0;
                }
                if trial % 7 == 0 && k > 1 {
                    a[(1, 1)] = 1e-300;
                }
                let b = DVector::from_fn(k, |_, _| rnd());
                same(a.clone(), b.clone());
                let ac = DMatrix::from_fn(k, k, |r, c| Complex::new(a[(r, c)], rnd()));
                let bc = DVector::from_fn(k, |i, _| Complex::new(b[i], rnd()));
                same(ac, bc);
            }
            // Singular: a zero column.
            let mut a = DMatrix::from_fn(k, k, |_, _| rnd());
            a.column_mut(k - 1).fill(0.0);
            same(a, DVector::from_element(k, 1.0));
        }
    }

    #[test]
    fn a_zero_band_pivot_is_reported() {
        let mut a = DMatrix::<f64>::identity(4, 4);
        a[(1, 1)] = 0.0;
        assert!(BorderedLu::new(a, 3, 1).is_none());
    }
}
