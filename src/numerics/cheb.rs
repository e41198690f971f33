//! Chebyshev series on panels: the interpolant at the extreme points, its derivative and
//! integral, and an adaptive piecewise table of a vector-valued smooth function.
//!
//! The tables replace kernels that cost microseconds (a slow-mode or committor computation of
//! the rate matrix) by Clenshaw sums wherever a function of one variable is evaluated many times
//! (kappa(T); the well quantities use the two-variable tables of [`crate::numerics::table2`]).

/// Degree of every panel.
pub const DEGREE: usize = 16;

/// Chebyshev coefficients (first kind, on [-1, 1]) of the degree-`DEGREE` interpolant of the
/// values `vals[k]` at the extreme points x_k = cos(pi k / DEGREE) (a DCT-I).
pub fn coefficients(vals: &[f64; DEGREE + 1]) -> [f64; DEGREE + 1] {
    let n = DEGREE;
    let cosines = dct_cosines();
    let mut a = [0.0; DEGREE + 1];
    for (j, aj) in a.iter_mut().enumerate() {
        let mut sum = 0.0;
        for (k, v) in vals.iter().enumerate() {
            let h = if k == 0 || k == n { 0.5 } else { 1.0 };
            sum += h * v * cosines[j][k];
        }
        *aj = 2.0 / n as f64 * sum * if j == 0 || j == n { 0.5 } else { 1.0 };
    }
    a
}

/// The cosines cos(pi j k / DEGREE) of the DCT-I, computed once.
pub fn dct_cosines() -> &'static [[f64; DEGREE + 1]; DEGREE + 1] {
    static COS: std::sync::OnceLock<[[f64; DEGREE + 1]; DEGREE + 1]> = std::sync::OnceLock::new();
    COS.get_or_init(|| {
        std::array::from_fn(|j| {
            std::array::from_fn(|k| (std::f64::consts::PI * (j * k) as f64 / DEGREE as f64).cos())
        })
    })
}

/// The extreme point x_k = cos(pi k / DEGREE) mapped to [a, a + w].
pub fn node(a: f64, w: f64, k: usize) -> f64 {
    let x = (std::f64::consts::PI * k as f64 / DEGREE as f64).cos();
    a + 0.5 * w * (1.0 + x)
}

/// sum_k c_k T_k(x) by Clenshaw's recurrence.
pub fn clenshaw(c: &[f64], x: f64) -> f64 {
    let (mut b1, mut b2) = (0.0, 0.0);
    let x2 = 2.0 * x;
    for &ck in c.iter().skip(1).rev() {
        // (c_k - b2) does not wait for b1: the chain is one multiply and one add per term.
        let b0 = x2 * b1 + (ck - b2);
        b2 = b1;
        b1 = b0;
    }
    c[0] + x * b1 - b2
}

/// `clenshaw` of M series of equal length at the same x, stored interleaved: `c[j][m]` is
/// coefficient j of series m. Each series' recurrence is the same operations in the same order
/// as [`clenshaw`] (so the same bits; no fused multiply-add), several series per SIMD
/// instruction (issue 19: the compiler had left the four series of the temperature solve in
/// scalar registers): four per AVX instruction where the CPU has AVX, two per SSE2 instruction
/// ([`lanes::F2`]) otherwise and for the lanes left over, an odd last one alone.
pub fn clenshaw_lanes<const M: usize>(c: &[[f64; M]], x: f64) -> [f64; M] {
    clenshaw_lane_range(c, 0, x)
}

/// [`clenshaw_lanes`] of the series `base..base + M` of rows holding R (those a caller needs,
/// the others left out).
pub fn clenshaw_lane_range<const R: usize, const M: usize>(
    c: &[[f64; R]],
    base: usize,
    x: f64,
) -> [f64; M] {
    assert!(base + M <= R, "series {base}..{} of {R}", base + M);
    #[cfg(target_arch = "x86_64")]
    if M >= 4 && std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: AVX is available (checked just above).
        return unsafe { clenshaw_lanes_avx(c, base, x) };
    }
    let mut out = [0.0; M];
    clenshaw_lanes_from(c, base, x, 0, &mut out);
    out
}

/// Series `base + first..base + M` of rows holding R (into `out[first..]`), two at a time.
#[inline(always)]
fn clenshaw_lanes_from<const R: usize, const M: usize>(
    c: &[[f64; R]],
    base: usize,
    x: f64,
    first: usize,
    out: &mut [f64; M],
) {
    use lanes::F2;
    // Pairs (first + 2p, first + 2p + 1); the arrays are M long (a length (M - first) / 2 is
    // not expressible here), their unused ends optimized away.
    let pairs = (M - first) / 2;
    let odd = (M - first) % 2 == 1;
    let (mut b1, mut b2) = ([F2::splat(0.0); M], [F2::splat(0.0); M]);
    let (mut s1, mut s2) = (0.0, 0.0);
    let x2 = 2.0 * x;
    let x2v = F2::splat(x2);
    let (lanes, last) = (base + first, base + M - 1);
    for cj in c[1..].iter().rev() {
        for p in 0..pairs {
            let b0 = x2v
                .mul(b1[p])
                .add(F2::load(&cj[lanes + 2 * p..]).sub(b2[p]));
            b2[p] = b1[p];
            b1[p] = b0;
        }
        if odd {
            let b0 = x2 * s1 + (cj[last] - s2);
            s2 = s1;
            s1 = b0;
        }
    }
    let xv = F2::splat(x);
    for p in 0..pairs {
        let (m, lane) = (first + 2 * p, lanes + 2 * p);
        let v = F2::load(&c[0][lane..]).add(xv.mul(b1[p])).sub(b2[p]);
        out[m..m + 2].copy_from_slice(&v.get());
    }
    if odd {
        out[M - 1] = c[0][last] + x * s1 - s2;
    }
}

/// [`clenshaw_lane_range`] with AVX: series 4q..4q + 4 (from `base`) in one register each,
/// the rest two at a time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
fn clenshaw_lanes_avx<const R: usize, const M: usize>(
    c: &[[f64; R]],
    base: usize,
    x: f64,
) -> [f64; M] {
    use lanes::F4;
    let quads = M / 4;
    let mut out = [0.0; M];
    clenshaw_lanes_from(c, base, x, 4 * quads, &mut out);
    let (mut b1, mut b2) = ([F4::splat(0.0); M], [F4::splat(0.0); M]);
    let x2v = F4::splat(2.0 * x);
    for cj in c[1..].iter().rev() {
        for q in 0..quads {
            let b0 = x2v.mul(b1[q]).add(F4::load(&cj[base + 4 * q..]).sub(b2[q]));
            b2[q] = b1[q];
            b1[q] = b0;
        }
    }
    let xv = F4::splat(x);
    for q in 0..quads {
        let v = F4::load(&c[0][base + 4 * q..])
            .add(xv.mul(b1[q]))
            .sub(b2[q]);
        v.store(&mut out[4 * q..]);
    }
    out
}

/// Two doubles side by side (lane 0, lane 1) with lane-wise IEEE sums, differences and
/// products: one SSE2 register on x86_64 (two-lane instructions), a pair of scalars elsewhere;
/// the same bits either way.
pub mod lanes {
    #[cfg(target_arch = "x86_64")]
    use std::arch::x86_64::{
        __m128d, _mm_add_pd, _mm_loadu_pd, _mm_mul_pd, _mm_set1_pd, _mm_storeu_pd, _mm_sub_pd,
    };

    /// Two doubles in one SSE2 register.
    #[cfg(target_arch = "x86_64")]
    #[derive(Clone, Copy, Debug)]
    pub struct F2(__m128d);

    // SAFETY (every block below): these intrinsics need SSE2 only, part of the x86_64
    // baseline (always enabled there); the loads and stores take their two doubles from
    // slices checked to hold them.
    #[cfg(target_arch = "x86_64")]
    impl F2 {
        /// Both lanes x.
        #[inline(always)]
        pub fn splat(x: f64) -> Self {
            Self(unsafe { _mm_set1_pd(x) })
        }
        /// Lanes (x[0], x[1]).
        #[inline(always)]
        pub fn load(x: &[f64]) -> Self {
            let x = &x[..2];
            Self(unsafe { _mm_loadu_pd(x.as_ptr()) })
        }
        /// Lane-wise self + o.
        #[inline(always)]
        pub fn add(self, o: Self) -> Self {
            Self(unsafe { _mm_add_pd(self.0, o.0) })
        }
        /// Lane-wise self - o.
        #[inline(always)]
        pub fn sub(self, o: Self) -> Self {
            Self(unsafe { _mm_sub_pd(self.0, o.0) })
        }
        /// Lane-wise self * o.
        #[inline(always)]
        pub fn mul(self, o: Self) -> Self {
            Self(unsafe { _mm_mul_pd(self.0, o.0) })
        }
        /// The two lanes.
        #[inline(always)]
        pub fn get(self) -> [f64; 2] {
            let mut out = [0.0; 2];
            unsafe { _mm_storeu_pd(out.as_mut_ptr(), self.0) };
            out
        }
    }

    /// Four doubles in one AVX register: only for code compiled with AVX
    /// (`#[target_feature(enable = "avx")]`, called where the CPU has it).
    #[cfg(target_arch = "x86_64")]
    #[derive(Clone, Copy, Debug)]
    pub struct F4(std::arch::x86_64::__m256d);

    // SAFETY (every block below): these functions are compiled with AVX and only called
    // from functions compiled with it, which run only where the CPU has it (checked by
    // their callers); the loads and stores take their four doubles from slices checked to
    // hold them.
    #[cfg(target_arch = "x86_64")]
    impl F4 {
        /// All lanes x.
        #[inline]
        #[target_feature(enable = "avx")]
        pub fn splat(x: f64) -> Self {
            Self(std::arch::x86_64::_mm256_set1_pd(x))
        }
        /// Lanes x[0..4].
        #[inline]
        #[target_feature(enable = "avx")]
        pub fn load(x: &[f64]) -> Self {
            let x = &x[..4];
            Self(unsafe { std::arch::x86_64::_mm256_loadu_pd(x.as_ptr()) })
        }
        /// Lane-wise self + o.
        #[inline]
        #[target_feature(enable = "avx")]
        pub fn add(self, o: Self) -> Self {
            Self(std::arch::x86_64::_mm256_add_pd(self.0, o.0))
        }
        /// Lane-wise self - o.
        #[inline]
        #[target_feature(enable = "avx")]
        pub fn sub(self, o: Self) -> Self {
            Self(std::arch::x86_64::_mm256_sub_pd(self.0, o.0))
        }
        /// Lane-wise self * o.
        #[inline]
        #[target_feature(enable = "avx")]
        pub fn mul(self, o: Self) -> Self {
            Self(std::arch::x86_64::_mm256_mul_pd(self.0, o.0))
        }
        /// The four lanes into out[0..4].
        #[inline]
        #[target_feature(enable = "avx")]
        pub fn store(self, out: &mut [f64]) {
            let out = &mut out[..4];
            unsafe { std::arch::x86_64::_mm256_storeu_pd(out.as_mut_ptr(), self.0) }
        }
    }

    /// Two doubles side by side.
    #[cfg(not(target_arch = "x86_64"))]
    #[derive(Clone, Copy, Debug)]
    pub struct F2([f64; 2]);

    #[cfg(not(target_arch = "x86_64"))]
    impl F2 {
        /// Both lanes x.
        #[inline(always)]
        pub fn splat(x: f64) -> Self {
            Self([x, x])
        }
        /// Lanes (x[0], x[1]).
        #[inline(always)]
        pub fn load(x: &[f64]) -> Self {
            Self([x[0], x[1]])
        }
        /// Lane-wise self + o.
        #[inline(always)]
        pub fn add(self, o: Self) -> Self {
            Self([self.0[0] + o.0[0], self.0[1] + o.0[1]])
        }
        /// Lane-wise self - o.
        #[inline(always)]
        pub fn sub(self, o: Self) -> Self {
            Self([self.0[0] - o.0[0], self.0[1] - o.0[1]])
        }
        /// Lane-wise self * o.
        #[inline(always)]
        pub fn mul(self, o: Self) -> Self {
            Self([self.0[0] * o.0[0], self.0[1] * o.0[1]])
        }
        /// The two lanes.
        #[inline(always)]
        pub fn get(self) -> [f64; 2] {
            self.0
        }
    }
}

/// Coefficients of the x-derivative of the series `c` (one degree lower):
/// c'_{k-1} = c'_{k+1} + 2 k c_k, with c'_0 halved.
pub fn derivative(c: &[f64; DEGREE + 1]) -> [f64; DEGREE] {
    let mut d = [0.0; DEGREE];
    let (mut next, mut next2) = (0.0, 0.0);
    for k in (1..=DEGREE).rev() {
        let v = next2 + 2.0 * k as f64 * c[k];
        d[k - 1] = v;
        next2 = next;
        next = v;
    }
    d[0] *= 0.5;
    d
}

/// Points of the Gauss-Legendre rule that integrates a `DEGREE` series exactly.
pub const GAUSS_POINTS: usize = DEGREE / 2 + 1;

/// Nodes and weights of the `GAUSS_POINTS`-point Gauss-Legendre rule on [-1, 1] (exact for
/// polynomials of degree 2 * GAUSS_POINTS - 1 >= DEGREE + 1), computed once: Newton's method
/// on P_n from the Chebyshev-like start cos(pi (i + 3/4) / (n + 1/2)), P_n and P_n' by the
/// three-term recurrence, weights 2 / ((1 - x^2) P_n'(x)^2).
pub fn gauss_legendre() -> &'static [(f64, f64); GAUSS_POINTS] {
    static RULE: std::sync::OnceLock<[(f64, f64); GAUSS_POINTS]> = std::sync::OnceLock::new();
    RULE.get_or_init(|| {
        let n = GAUSS_POINTS;
        let legendre = |x: f64| {
            let (mut p0, mut p1) = (1.0, x);
            for k in 2..=n {
                let kf = k as f64;
                let p2 = ((2.0 * kf - 1.0) * x * p1 - (kf - 1.0) * p0) / kf;
                p0 = p1;
                p1 = p2;
            }
            // P_n' = n (x P_n - P_{n-1}) / (x^2 - 1).
            (p1, n as f64 * (x * p1 - p0) / (x * x - 1.0))
        };
        std::array::from_fn(|i| {
            let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
            for _ in 0..100 {
                let (p, dp) = legendre(x);
                let step = p / dp;
                x -= step;
                if step.abs() <= 1e-16 {
                    break;
                }
            }
            let (_, dp) = legendre(x);
            (x, 2.0 / ((1.0 - x * x) * dp * dp))
        })
    })
}

/// int_{-1}^{-1 + d} sum_k c_k T_k(x) dx for 0 <= d <= 2, by the Gauss-Legendre rule on
/// [-1, -1 + d]: exact for the series (a polynomial of degree `DEGREE`) up to rounding, and
/// relative to the integral itself however small d is (an antiderivative series evaluated near
/// x = -1 carries an absolute error of eps times the integral over the whole panel instead).
pub fn integral_from_start(c: &[f64; DEGREE + 1], d: f64) -> f64 {
    let half = 0.5 * d;
    let rule = gauss_legendre();
    let values = clenshaw_points(c, rule.map(|(x, _)| -1.0 + half * (1.0 + x)));
    values
        .iter()
        .zip(rule)
        .map(|(v, &(_, w))| w * v)
        .sum::<f64>()
        * half
}

/// [`clenshaw`] of one series at P points, several points per SIMD instruction (four per AVX
/// instruction where the CPU has AVX, two per SSE2 instruction otherwise and for the points
/// left over), an odd last one alone: each value the same operations in the same order as
/// `clenshaw` (so the same bits).
pub fn clenshaw_points<const P: usize>(c: &[f64], xs: [f64; P]) -> [f64; P] {
    #[cfg(target_arch = "x86_64")]
    if P >= 4 && std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: AVX is available (checked just above).
        return unsafe { clenshaw_points_avx(c, xs) };
    }
    let mut out = [0.0; P];
    clenshaw_points_from(c, &xs, 0, &mut out);
    out
}

/// [`clenshaw_points`] at the points `first..P` (into `out[first..]`), two at a time.
#[inline(always)]
fn clenshaw_points_from<const P: usize>(
    c: &[f64],
    xs: &[f64; P],
    first: usize,
    out: &mut [f64; P],
) {
    use lanes::F2;
    let pairs = (P - first) / 2;
    let odd = (P - first) % 2 == 1;
    // 2 x of each pair (the entries from `pairs` on unused).
    let x2: [F2; P] = std::array::from_fn(|p| match xs.get(first + 2 * p..first + 2 * p + 2) {
        Some(x) => F2::load(&[2.0 * x[0], 2.0 * x[1]]),
        None => F2::splat(0.0),
    });
    let (mut b1, mut b2) = ([F2::splat(0.0); P], [F2::splat(0.0); P]);
    let (mut s1, mut s2) = (0.0, 0.0);
    let x2_last = 2.0 * xs[P - 1];
    for &ck in c.iter().skip(1).rev() {
        let cv = F2::splat(ck);
        for p in 0..pairs {
            let b0 = x2[p].mul(b1[p]).add(cv.sub(b2[p]));
            b2[p] = b1[p];
            b1[p] = b0;
        }
        if odd {
            let b0 = x2_last * s1 + (ck - s2);
            s2 = s1;
            s1 = b0;
        }
    }
    let c0 = F2::splat(c[0]);
    for p in 0..pairs {
        let m = first + 2 * p;
        let v = c0.add(F2::load(&xs[m..]).mul(b1[p])).sub(b2[p]);
        out[m..m + 2].copy_from_slice(&v.get());
    }
    if odd {
        out[P - 1] = c[0] + xs[P - 1] * s1 - s2;
    }
}

/// [`clenshaw_points`] with AVX: points 4q..4q + 4 in one register each, the rest two at a
/// time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
fn clenshaw_points_avx<const P: usize>(c: &[f64], xs: [f64; P]) -> [f64; P] {
    use lanes::F4;
    let quads = P / 4;
    let mut out = [0.0; P];
    clenshaw_points_from(c, &xs, 4 * quads, &mut out);
    let x2: [F4; P] = std::array::from_fn(|q| match xs.get(4 * q..4 * q + 4) {
        Some(x) => F4::load(&[2.0 * x[0], 2.0 * x[1], 2.0 * x[2], 2.0 * x[3]]),
        None => F4::splat(0.0),
    });
    let (mut b1, mut b2) = ([F4::splat(0.0); P], [F4::splat(0.0); P]);
    for &ck in c.iter().skip(1).rev() {
        let cv = F4::splat(ck);
        for q in 0..quads {
            let b0 = x2[q].mul(b1[q]).add(cv.sub(b2[q]));
            b2[q] = b1[q];
            b1[q] = b0;
        }
    }
    let c0 = F4::splat(c[0]);
    for q in 0..quads {
        let v = c0.add(F4::load(&xs[4 * q..]).mul(b1[q])).sub(b2[q]);
        v.store(&mut out[4 * q..]);
    }
    out
}

/// The larger of a series' two highest coefficients: what a panel has left unresolved.
pub fn tail(c: &[f64; DEGREE + 1]) -> f64 {
    c[DEGREE].abs().max(c[DEGREE - 1].abs())
}

/// A piecewise Chebyshev interpolant of K smooth functions of one variable on [lo, hi], each
/// panel refined (halved) until every component's tail coefficients are below its tolerance,
/// built in full at once: the reference the lazily built [`LazyChebTable`] is tested against.
#[cfg(test)]
#[derive(Debug, Clone)]
pub struct ChebTable<const K: usize> {
    lo: f64,
    hi: f64,
    /// Panel lower ends, increasing.
    start: Vec<f64>,
    width: Vec<f64>,
    coeffs: Vec<[[f64; DEGREE + 1]; K]>,
    deriv: Vec<[[f64; DEGREE]; K]>,
    /// Function evaluations used to build it.
    pub evaluations: usize,
}

#[cfg(test)]
impl<const K: usize> ChebTable<K> {
    /// Tabulate `f` on [lo, hi] (lo < hi). Component k is resolved when its tail coefficients
    /// are below `tol[k]` plus 64 eps times its largest coefficient (its rounding floor); panels
    /// narrower than `min_width` are accepted as they are. The first error of `f` is returned.
    pub fn build<E>(
        lo: f64,
        hi: f64,
        tol: [f64; K],
        min_width: f64,
        mut f: impl FnMut(f64) -> Result<[f64; K], E>,
    ) -> Result<Self, E> {
        let mut table = Self {
            lo,
            hi,
            start: Vec::new(),
            width: Vec::new(),
            coeffs: Vec::new(),
            deriv: Vec::new(),
            evaluations: 0,
        };
        let mut stack = vec![(lo, hi - lo)];
        let mut done: Vec<(f64, f64, [[f64; DEGREE + 1]; K])> = Vec::new();
        while let Some((a, w)) = stack.pop() {
            let mut vals = [[0.0; DEGREE + 1]; K];
            for k in 0..=DEGREE {
                let v = f(node(a, w, k))?;
                table.evaluations += 1;
                for (comp, vk) in vals.iter_mut().zip(v) {
                    comp[k] = vk;
                }
            }
            let c: [[f64; DEGREE + 1]; K] = std::array::from_fn(|i| coefficients(&vals[i]));
            let ok = c.iter().zip(&tol).all(|(ci, &t)| {
                let big = ci.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                tail(ci) <= t + 64.0 * f64::EPSILON * big
            });
            if ok || w <= min_width || done.len() + stack.len() > 4096 {
                done.push((a, w, c));
            } else {
                stack.push((a + 0.5 * w, 0.5 * w));
                stack.push((a, 0.5 * w));
            }
        }
        done.sort_by(|x, y| x.0.total_cmp(&y.0));
        for (a, w, c) in done {
            table.start.push(a);
            table.width.push(w);
            table.deriv.push(std::array::from_fn(|i| derivative(&c[i])));
            table.coeffs.push(c);
        }
        Ok(table)
    }

    /// Number of panels.
    pub fn panels(&self) -> usize {
        self.start.len()
    }

    /// The panels' lower ends, increasing.
    pub fn starts(&self) -> &[f64] {
        &self.start
    }

    fn locate(&self, x: f64) -> Option<(usize, f64)> {
        if !(x >= self.lo && x <= self.hi) {
            return None;
        }
        let i = self.start.partition_point(|&a| a <= x).saturating_sub(1);
        let xi = ((x - self.start[i]) / self.width[i] * 2.0 - 1.0).clamp(-1.0, 1.0);
        Some((i, xi))
    }

    /// The K values at x, or `None` outside the table (the tests' view of the table).
    #[cfg(test)]
    pub fn eval(&self, x: f64) -> Option<[f64; K]> {
        let (i, xi) = self.locate(x)?;
        Some(std::array::from_fn(|k| clenshaw(&self.coeffs[i][k], xi)))
    }

    /// Component `k` and its derivative at x, or `None` outside the table.
    pub fn eval_one_with_derivative(&self, k: usize, x: f64) -> Option<(f64, f64)> {
        let (i, xi) = self.locate(x)?;
        let (c, d) = (&self.coeffs[i][k], &self.deriv[i][k]);
        // The derivative series is one shorter: its top coefficient is zero.
        let cd: [[f64; 2]; DEGREE + 1] =
            std::array::from_fn(|j| [c[j], d.get(j).copied().unwrap_or(0.0)]);
        let [v, dv] = clenshaw_lanes(&cd, xi);
        Some((v, dv * 2.0 / self.width[i]))
    }
}

/// A panel of a [`LazyChebTable`]: [a, a + w], built on first use.
#[derive(Debug)]
struct LazyPanel {
    a: f64,
    w: f64,
    state: std::sync::OnceLock<PanelState>,
}

#[derive(Debug)]
enum PanelState {
    /// Accepted: the series and its derivative's series (one shorter, zero padded),
    /// interleaved (`cd[j] = [c_j, c'_j]`) for [`clenshaw_lanes`].
    Leaf(Box<[[f64; 2]; DEGREE + 1]>),
    /// Refined: the two halves [a, a + w/2] and [a + w/2, a + w].
    Split(Box<[LazyPanel; 2]>),
    /// The function failed at one of the panel's nodes.
    Failed,
}

impl LazyPanel {
    fn new(a: f64, w: f64) -> Self {
        Self {
            a,
            w,
            state: std::sync::OnceLock::new(),
        }
    }
}

/// A piecewise Chebyshev interpolant of one smooth function on [lo, hi] whose panels are built
/// on first use. The panels are those of the full adaptive build (the dyadic halving of
/// [lo, hi] until a panel's tail coefficients are below `tol` plus 64 eps times its largest
/// coefficient, or it is narrower than `min_width`): a panel is a function of its place only,
/// so a lookup that builds the panels on its path from the whole range down to the accepted
/// one gets every value bit for bit as from the table built in full, and only the panels some
/// lookup reaches are built. Thread-safe: each panel is built once (a thread asking for a
/// panel another is building waits for it).
#[derive(Debug)]
pub struct LazyChebTable {
    tol: f64,
    min_width: f64,
    root: LazyPanel,
    /// Function evaluations spent so far.
    evaluations: std::sync::atomic::AtomicUsize,
}

impl LazyChebTable {
    /// A table of a function on [lo, hi] (lo < hi), nothing built yet.
    pub fn new(lo: f64, hi: f64, tol: f64, min_width: f64) -> Self {
        Self {
            tol,
            min_width,
            root: LazyPanel::new(lo, hi - lo),
            evaluations: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Covered interval.
    pub fn range(&self) -> (f64, f64) {
        (self.root.a, self.root.a + self.root.w)
    }

    /// Function evaluations spent building panels so far.
    pub fn evaluations(&self) -> usize {
        self.evaluations.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn build<E>(
        &self,
        a: f64,
        w: f64,
        f: &mut impl FnMut(f64) -> Result<f64, E>,
    ) -> Result<PanelState, E> {
        let mut vals = [0.0; DEGREE + 1];
        for (k, v) in vals.iter_mut().enumerate() {
            self.evaluations
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            *v = f(node(a, w, k))?;
        }
        let c = coefficients(&vals);
        let big = c.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        if tail(&c) <= self.tol + 64.0 * f64::EPSILON * big || w <= self.min_width {
            let mut d = [0.0; DEGREE + 1];
            d[..DEGREE].copy_from_slice(&derivative(&c));
            Ok(PanelState::Leaf(Box::new(std::array::from_fn(|j| {
                [c[j], d[j]]
            }))))
        } else {
            Ok(PanelState::Split(Box::new([
                LazyPanel::new(a, 0.5 * w),
                LazyPanel::new(a + 0.5 * w, 0.5 * w),
            ])))
        }
    }

    fn state<'p>(
        &self,
        p: &'p LazyPanel,
        f: &mut impl FnMut(f64) -> Result<f64, ()>,
    ) -> &'p PanelState {
        p.state
            .get_or_init(|| self.build(p.a, p.w, f).unwrap_or(PanelState::Failed))
    }

    /// The value and derivative at x, building the panels on the way with `f`; `None` outside
    /// the table or where `f` failed on a panel of the path.
    pub fn eval_with_derivative(
        &self,
        x: f64,
        mut f: impl FnMut(f64) -> Result<f64, ()>,
    ) -> Option<(f64, f64)> {
        let (lo, hi) = self.range();
        if !(x >= lo && x <= hi) {
            return None;
        }
        let mut p = &self.root;
        loop {
            match self.state(p, &mut f) {
                PanelState::Leaf(cd) => {
                    let xi = ((x - p.a) / p.w * 2.0 - 1.0).clamp(-1.0, 1.0);
                    let [v, dv] = clenshaw_lanes(&cd[..], xi);
                    return Some((v, dv * 2.0 / p.w));
                }
                // The right half starts where the full table's next panel does: at or past
                // it, x belongs to that half.
                PanelState::Split(halves) => p = &halves[usize::from(x >= halves[1].a)],
                PanelState::Failed => return None,
            }
        }
    }

    /// Whether the panel over the whole range builds (`f` evaluated at its nodes, the range's
    /// ends among them).
    pub fn whole_range_builds(&self, mut f: impl FnMut(f64) -> Result<f64, ()>) -> bool {
        !matches!(self.state(&self.root, &mut f), PanelState::Failed)
    }

    /// Build every panel (as the full adaptive build does, depth first from the left) and
    /// return the first error of `f`.
    pub fn build_all<E>(&self, mut f: impl FnMut(f64) -> Result<f64, E>) -> Result<(), E> {
        let mut stack = vec![&self.root];
        while let Some(p) = stack.pop() {
            let state = match p.state.get() {
                Some(s) => s,
                None => {
                    let built = self.build(p.a, p.w, &mut f)?;
                    p.state.get_or_init(|| built)
                }
            };
            match state {
                PanelState::Split(halves) => {
                    stack.push(&halves[1]);
                    stack.push(&halves[0]);
                }
                PanelState::Leaf(_) | PanelState::Failed => {}
            }
        }
        Ok(())
    }

    /// What its panels depend on besides the function, every number by its bits.
    pub fn layout(&self) -> String {
        format!(
            "cheb degree {DEGREE} range {:?} tol {:x} min_width {:x}",
            (self.root.a.to_bits(), self.root.w.to_bits()),
            self.tol.to_bits(),
            self.min_width.to_bits()
        )
    }

    /// Append the panels built so far (depth first from the left: a tag, 0 accepted with its
    /// two series, 1 halved followed by its halves, 2 failed, 3 not built).
    pub fn export(&self, out: &mut Vec<u8>) {
        use crate::numerics::codec::{put_f64, put_u8};
        let mut stack = vec![&self.root];
        while let Some(p) = stack.pop() {
            match p.state.get() {
                Some(PanelState::Leaf(cd)) => {
                    put_u8(out, 0);
                    // The series, then the derivative's.
                    for m in 0..2 {
                        cd.iter().for_each(|cj| put_f64(out, cj[m]));
                    }
                }
                Some(PanelState::Split(halves)) => {
                    put_u8(out, 1);
                    stack.push(&halves[1]);
                    stack.push(&halves[0]);
                }
                Some(PanelState::Failed) => put_u8(out, 2),
                None => put_u8(out, 3),
            }
        }
    }

    /// A table with the panels `export` wrote (built as they were; the rest on demand).
    /// `None` if the bytes are not such a record.
    pub fn import(
        lo: f64,
        hi: f64,
        tol: f64,
        min_width: f64,
        r: &mut crate::numerics::codec::Reader<'_>,
    ) -> Option<Self> {
        fn fill(
            p: &LazyPanel,
            r: &mut crate::numerics::codec::Reader<'_>,
            depth: u32,
        ) -> Option<()> {
            let state = match r.u8()? {
                0 => {
                    let mut cd = [[0.0; 2]; DEGREE + 1];
                    for m in 0..2 {
                        for cj in cd.iter_mut() {
                            cj[m] = r.f64()?;
                        }
                    }
                    PanelState::Leaf(Box::new(cd))
                }
                1 if depth < 64 => {
                    let halves = [
                        LazyPanel::new(p.a, 0.5 * p.w),
                        LazyPanel::new(p.a + 0.5 * p.w, 0.5 * p.w),
                    ];
                    fill(&halves[0], r, depth + 1)?;
                    fill(&halves[1], r, depth + 1)?;
                    PanelState::Split(Box::new(halves))
                }
                2 => PanelState::Failed,
                3 => return Some(()),
                _ => return None,
            };
            p.state.set(state).ok()
        }
        let table = Self::new(lo, hi, tol, min_width);
        fill(&table.root, r, 0)?;
        Some(table)
    }

    /// Number of accepted panels built so far.
    pub fn panels(&self) -> usize {
        let mut n = 0;
        let mut stack = vec![&self.root];
        while let Some(p) = stack.pop() {
            match p.state.get() {
                Some(PanelState::Leaf(_)) => n += 1,
                Some(PanelState::Split(halves)) => stack.extend(halves.iter()),
                _ => {}
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_reproduces_smooth_functions_and_derivatives() {
        // sin and exp on [0.1, 3]: reference values computed directly.
        let t = ChebTable::<2>::build(0.1, 3.0, [1e-14, 1e-14], 1e-6, |x| {
            Ok::<_, ()>([x.sin(), (2.0 * x).exp()])
        })
        .unwrap();
        assert!(t.panels() >= 1);
        for i in 0..=100 {
            let x = 0.1 + 2.9 * i as f64 / 100.0;
            let v = t.eval(x).unwrap();
            assert!((v[0] - x.sin()).abs() < 1e-13, "sin at {x}");
            assert!(
                (v[1] - (2.0 * x).exp()).abs() < 1e-13 * (2.0 * x).exp(),
                "exp at {x}"
            );
            let (_, d) = t.eval_one_with_derivative(0, x).unwrap();
            assert!((d - x.cos()).abs() < 1e-10, "cos at {x}: {d}");
        }
        assert!(t.eval(3.0001).is_none());
        assert!(t.eval(0.0999).is_none());
    }

    #[test]
    fn integral_from_start_integrates_a_polynomial_exactly() {
        // f(x) = 3x^2 + 17 x^16: int_{-1}^{x} f = x^3 + x^17 + 2.
        let f = |x: f64| 3.0 * x.powi(2) + 17.0 * x.powi(16);
        let vals: [f64; DEGREE + 1] = std::array::from_fn(|k| f(node(-1.0, 2.0, k)));
        let c = coefficients(&vals);
        for &x in &[-1.0f64, -0.3, 0.0, 0.7, 1.0] {
            let exact = x.powi(3) + x.powi(17) + 2.0;
            assert!((integral_from_start(&c, x + 1.0) - exact).abs() < 1e-14);
        }
        // Relative accuracy however short the interval: f(-1) = 20, so the integral over
        // [-1, -1 + d] is 20 d (1 - O(d)).
        for d in [1e-30f64, 1e-200, 1e-300] {
            let v = integral_from_start(&c, d);
            assert!((v - 20.0 * d).abs() <= 1e-13 * 20.0 * d, "{d}: {v}");
        }
        let weights: f64 = gauss_legendre().iter().map(|&(_, w)| w).sum();
        assert!((weights - 2.0).abs() < 1e-15);
    }

    /// A reproducible pseudo-random stream in [-1, 1) (xorshift64*).
    fn stream(seed: u64) -> impl FnMut() -> f64 {
        let mut s = seed;
        move || {
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            let u = (s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64;
            2.0 * u - 1.0
        }
    }

    /// The SIMD recurrences give every value bit for bit as the scalar `clenshaw`, with AVX
    /// (where the CPU has it) and with SSE2 alone: series side by side (even and odd numbers
    /// of them, as the tables use) and one series at several points (an odd number, as the
    /// Gauss rule), with coefficients over 40 decades of both signs and points across
    /// [-1, 1] and at its ends.
    #[test]
    fn lanes_give_the_bits_of_the_scalar_recurrence() {
        let mut r = stream(0x9E37_79B9_7F4A_7C15);
        let mut coefficient = || r() * 10f64.powf(20.0 * r());
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let mut r2 = stream(7);
        for trial in 0..200 {
            let x = match trial {
                0 => -1.0,
                1 => 1.0,
                _ => r2(),
            };
            let c: [[f64; 8]; DEGREE + 1] = std::array::from_fn(|_| {
                let mut row = [0.0; 8];
                row.iter_mut().for_each(|v| *v = coefficient());
                row
            });
            let series = |m: usize| -> Vec<f64> { c.iter().map(|row| row[m]).collect() };
            let scalar: Vec<f64> = (0..8).map(|m| clenshaw(&series(m), x)).collect();
            assert_eq!(bits(&clenshaw_lanes(&c, x)), bits(&scalar), "{x}");
            let c6: Vec<[f64; 6]> = c
                .iter()
                .map(|row| std::array::from_fn(|m| row[m]))
                .collect();
            let c5: Vec<[f64; 5]> = c
                .iter()
                .map(|row| std::array::from_fn(|m| row[m]))
                .collect();
            assert_eq!(bits(&clenshaw_lanes(&c6, x)), bits(&scalar[..6]), "{x}");
            assert_eq!(bits(&clenshaw_lanes(&c5, x)), bits(&scalar[..5]), "{x}");
            // Two lanes at a time only (the path without AVX).
            let mut sse = [0.0; 5];
            clenshaw_lanes_from(&c5, 0, x, 0, &mut sse);
            assert_eq!(bits(&sse), bits(&scalar[..5]), "{x}");
            // Series 3..8 and 2..6 of the eight, with AVX where available and without.
            let r: [f64; 5] = clenshaw_lane_range(&c, 3, x);
            assert_eq!(bits(&r), bits(&scalar[3..]), "{x}");
            let r: [f64; 4] = clenshaw_lane_range(&c, 2, x);
            assert_eq!(bits(&r), bits(&scalar[2..6]), "{x}");
            let mut sse = [0.0; 5];
            clenshaw_lanes_from(&c, 3, x, 0, &mut sse);
            assert_eq!(bits(&sse), bits(&scalar[3..]), "{x}");
            let xs: [f64; 9] = std::array::from_fn(|i| if i == 0 { x } else { r2() });
            let one = series(3);
            let at_points: Vec<f64> = xs.iter().map(|&x| clenshaw(&one, x)).collect();
            assert_eq!(bits(&clenshaw_points(&one, xs)), bits(&at_points));
            let mut sse = [0.0; 9];
            clenshaw_points_from(&one, &xs, 0, &mut sse);
            assert_eq!(bits(&sse), bits(&at_points));
        }
    }
}
