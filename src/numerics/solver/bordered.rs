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

/// Factors of a bordered band matrix.
#[derive(Debug, Clone)]
pub struct BorderedLu<T: ComplexField> {
    n: usize,
    nb: usize,
    band: usize,
    /// Multipliers below the diagonal, U above, for the band columns; the border block holds
    /// the Schur complement (factored separately in `schur`).
    a: DMatrix<T>,
    schur: Option<nalgebra::LU<T, nalgebra::Dyn, nalgebra::Dyn>>,
}

impl<T: ComplexField<RealField = f64> + Copy> BorderedLu<T> {
    /// Factor `a` (n x n), whose leading nb x nb block has half band width `band` and whose
    /// remaining rows and columns are dense. `None` on a zero or non-finite band pivot or a
    /// singular border block.
    pub fn new(mut a: DMatrix<T>, nb: usize, band: usize) -> Option<Self> {
        let n = a.nrows();
        assert!(
            a.ncols() == n && nb <= n,
            "bordered LU needs a square matrix"
        );
        {
            // Column-major storage: (r, c) at r + c n. Per band column, the multipliers first
            // (column c), then the updates column by column (the pivot row is not changed by
            // them): the same operations on each entry, in the same order, as row by row.
            let s = a.as_mut_slice();
            // The multipliers of one column (at most `band` band rows and the border rows).
            let mut rows: Vec<(usize, T)> = Vec::with_capacity(band + n - nb);
            for c in 0..nb {
                let pivot = s[c + c * n];
                // Finite parts (no modulus: hypot is a libm call per pivot).
                if pivot.is_zero() || !(pivot.real().is_finite() && pivot.imaginary().is_finite()) {
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
                if rows.is_empty() {
                    continue;
                }
                for j in (c + 1..band_end).chain(nb..n) {
                    let col = &mut s[j * n..(j + 1) * n];
                    let acj = col[c];
                    if acj.is_zero() {
                        continue;
                    }
                    for &(r, l) in &rows {
                        col[r] -= l * acj;
                    }
                }
            }
        }
        let k = n - nb;
        let schur = if k > 0 {
            let s = a.view((nb, nb), (k, k)).clone_owned().lu();
            if !s.is_invertible() {
                return None;
            }
            Some(s)
        } else {
            None
        };
        Some(Self {
            n,
            nb,
            band,
            a,
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
        // Forward: the band columns' multipliers, onto the band and border rows.
        {
            let (xb, xr) = x.as_mut_slice().split_at_mut(nb);
            for c in 0..nb {
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
        }
        // The border unknowns from the Schur complement.
        if let Some(s) = &self.schur {
            s.solve_mut(&mut x.rows_mut(nb, n - nb));
        }
        // Back substitution in the band part: row c of U is a[c + j n], j > c.
        let (xb, xr) = x.as_mut_slice().split_at_mut(nb);
        for c in (0..nb).rev() {
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

    #[test]
    fn a_zero_band_pivot_is_reported() {
        let mut a = DMatrix::<f64>::identity(4, 4);
        a[(1, 1)] = 0.0;
        assert!(BorderedLu::new(a, 3, 1).is_none());
    }
}
