//! exp(x) for the right-hand side of the full master equation: the same value as libm's
//! `exp` to within 1 ulp (it differs in the last bit for some arguments), written so that a
//! loop over many arguments vectorizes (no branch, no table, no call): 2^k by the exponent
//! bits and exp(r), |r| <= ln 2 / 2, by its Taylor series to r^13 (the first term left out is
//! below 0.03 ulp). The right-hand side takes one exponential per channel, 39 for Mn12Ac, and
//! libm's `exp` call was about 70 instructions each, 13 % of a full-equation step
//! (docs/numerics.md section 5).
//!
//! [`exp_pair`] and [`exp_one`]: exp(x) by a table of 2^(j/128) and a short polynomial, two
//! arguments in one SSE2 register, for the few independent exponentials of each evaluation of
//! `limits`' Boltzmann sums, where a long series' chain of dependent operations would make
//! the evaluation wait (docs/numerics.md section 9).

/// Largest argument [`exp_lanes`] takes: beyond it 2^k would need the exponent 1024.
pub const EXP_MAX_ARG: f64 = 709.0;
/// Smallest argument: below it 2^k would be subnormal.
pub const EXP_MIN_ARG: f64 = -708.0;

/// exp(x) for each x in `xs` into `out` (equal lengths), each x in
/// [`EXP_MIN_ARG`, `EXP_MAX_ARG`] (others are clamped there: the caller treats them apart).
pub fn exp_lanes(xs: &[f64], out: &mut [f64]) {
    // ln 2 split so that k ln2_hi is exact for |k| < 2^21 (fdlibm's constants).
    const LN2_HI: f64 = 6.931_471_803_691_238e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    const LOG2_E: f64 = std::f64::consts::LOG2_E;
    // Adding 1.5 * 2^52 rounds to an integer held in the low mantissa bits.
    const SHIFTER: f64 = 6_755_399_441_055_744.0;
    // 1/n!, n = 2..13.
    const C: [f64; 12] = [
        1.0 / 2.0,
        1.0 / 6.0,
        1.0 / 24.0,
        1.0 / 120.0,
        1.0 / 720.0,
        1.0 / 5_040.0,
        1.0 / 40_320.0,
        1.0 / 362_880.0,
        1.0 / 3_628_800.0,
        1.0 / 39_916_800.0,
        1.0 / 479_001_600.0,
        1.0 / 6_227_020_800.0,
    ];
    for (x, o) in xs.iter().zip(out.iter_mut()) {
        let x = x.clamp(EXP_MIN_ARG, EXP_MAX_ARG);
        let t = x * LOG2_E + SHIFTER;
        let kf = t - SHIFTER;
        let r = (x - kf * LN2_HI) - kf * LN2_LO;
        let mut p = C[11];
        for &c in C[..11].iter().rev() {
            p = p * r + c;
        }
        let e_r = 1.0 + r * (1.0 + r * p);
        // 2^k: k (|k| <= 1023) into the exponent field.
        // k from the bits of t (no float-to-integer conversion, which SSE2 lacks for i64).
        let k = t.to_bits().wrapping_sub(SHIFTER.to_bits());
        let two_k = f64::from_bits(k.wrapping_add(1023) << 52);
        *o = e_r * two_k;
    }
}

/// Largest |x| [`exp_pair`] and [`exp_one`] compute themselves (others, and NaN, go to libm's
/// `exp`): e^x and e^-x stay normal doubles.
pub const EXP_TABLE_ARG_MAX: f64 = 708.0;

/// Whether [`exp_one`] computes e^`x` by the table (|x| at most [`EXP_TABLE_ARG_MAX`]; false
/// for NaN).
#[inline(always)]
fn in_table_range(x: f64) -> bool {
    x.abs() <= EXP_TABLE_ARG_MAX
}

/// The constants of the table-driven exponential: x = (128 m + j) ln 2 / 128 + r with
/// |r| <= ln 2 / 256, e^x = 2^m 2^(j/128) e^r.
mod table_exp {
    /// 128 / ln 2.
    pub(super) const INV_LN2_N: f64 = 184.664_965_233_787_3;
    /// ln 2 / 128 in two parts: the first (fdlibm's ln 2 high part, 32 significant bits, over
    /// 128) times any |k| < 2^21 is exact.
    pub(super) const LN2_HI_N: f64 = 6.931_471_803_691_238e-1 / 128.0;
    pub(super) const LN2_LO_N: f64 = 1.908_214_929_270_587_7e-10 / 128.0;
    /// Adding 1.5 * 2^52 rounds to an integer held in the low mantissa bits.
    pub(super) const SHIFTER: f64 = 6_755_399_441_055_744.0;
    /// 1/n!, n = 2..5: the Taylor series of e^r - 1 to r^5 (the first term left out, r^6/720,
    /// is below 5.4e-19 relative for |r| <= ln 2 / 256).
    pub(super) const C2: f64 = 0.5;
    pub(super) const C3: f64 = 1.0 / 6.0;
    pub(super) const C4: f64 = 1.0 / 24.0;
    pub(super) const C5: f64 = 1.0 / 120.0;
    pub(super) use super::super::exp_table::EXP_TABLE;
}

/// e^x by the table: within 1 ulp of libm's `exp` (unit test `table_exp_within_one_ulp_of_libm`),
/// the same bits as each lane of [`exp_pair`] (the same operations, in the same order).
#[inline]
pub fn exp_one(x: f64) -> f64 {
    use table_exp::*;
    if !in_table_range(x) {
        return x.exp();
    }
    let kd = x * INV_LN2_N + SHIFTER;
    let ki = kd.to_bits();
    let kd = kd - SHIFTER;
    let r = (x - kd * LN2_HI_N) - kd * LN2_LO_N;
    let j = (ki & 127) as usize;
    let tail = f64::from_bits(EXP_TABLE[2 * j]);
    let scale = f64::from_bits(EXP_TABLE[2 * j + 1].wrapping_add(ki << 45));
    let r2 = r * r;
    let tmp = ((tail + r) + r2 * (C2 + r * C3)) + (r2 * r2) * (C4 + r * C5);
    scale + scale * tmp
}

/// [`exp_one`] of two arguments at once: one SSE2 register per quantity on x86_64 (the same
/// operations in the same order in each lane, so the same bits as [`exp_one`]); two calls of
/// it elsewhere.
#[inline]
pub fn exp_pair(x: [f64; 2]) -> [f64; 2] {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        // SAFETY: SSE2 intrinsics only (part of the x86_64 baseline, cfg above); the table
        // reads are indexed by 2 j and 2 j + 1 with j < 128 (masked), inside its 256 entries.
        unsafe { exp_pair_sse2(x) }
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    {
        [exp_one(x[0]), exp_one(x[1])]
    }
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
unsafe fn exp_pair_sse2(x: [f64; 2]) -> [f64; 2] {
    use std::arch::x86_64::*;
    use table_exp::*;
    let [x0, x1] = x;
    if !(in_table_range(x0) && in_table_range(x1)) {
        return [exp_one(x0), exp_one(x1)];
    }
    let splat = |c: f64| _mm_set1_pd(c);
    let xv = _mm_set_pd(x1, x0);
    let kd = _mm_add_pd(_mm_mul_pd(xv, splat(INV_LN2_N)), splat(SHIFTER));
    let ki = _mm_castpd_si128(kd);
    let kd = _mm_sub_pd(kd, splat(SHIFTER));
    let r = _mm_sub_pd(
        _mm_sub_pd(xv, _mm_mul_pd(kd, splat(LN2_HI_N))),
        _mm_mul_pd(kd, splat(LN2_LO_N)),
    );
    let j0 = (_mm_cvtsi128_si64(ki) & 127) as usize;
    let j1 = (_mm_cvtsi128_si64(_mm_unpackhi_epi64(ki, ki)) & 127) as usize;
    let t = &EXP_TABLE;
    let tail = _mm_set_pd(f64::from_bits(t[2 * j1]), f64::from_bits(t[2 * j0]));
    let sbits = _mm_set_epi64x(t[2 * j1 + 1] as i64, t[2 * j0 + 1] as i64);
    let scale = _mm_castsi128_pd(_mm_add_epi64(sbits, _mm_slli_epi64::<45>(ki)));
    let r2 = _mm_mul_pd(r, r);
    let lo = _mm_mul_pd(r2, _mm_add_pd(splat(C2), _mm_mul_pd(r, splat(C3))));
    let hi = _mm_mul_pd(
        _mm_mul_pd(r2, r2),
        _mm_add_pd(splat(C4), _mm_mul_pd(r, splat(C5))),
    );
    let tmp = _mm_add_pd(_mm_add_pd(_mm_add_pd(tail, r), lo), hi);
    let y = _mm_add_pd(scale, _mm_mul_pd(scale, tmp));
    [_mm_cvtsd_f64(y), _mm_cvtsd_f64(_mm_unpackhi_pd(y, y))]
}

/// [`exp_one`] of four arguments at once in AVX registers (the same operations in the same
/// order in each lane, so the same bits), for code compiled with AVX and run where the CPU
/// has it; the integer steps (table index, exponent) lane by lane.
///
/// # Safety
///
/// The CPU must have AVX (e.g. checked with `is_x86_feature_detected!("avx")`).
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx")]
pub fn exp_quad_avx(x: [f64; 4]) -> [f64; 4] {
    use std::arch::x86_64::*;
    use table_exp::*;
    if !x.iter().all(|&v| in_table_range(v)) {
        return x.map(exp_one);
    }
    let splat = |c: f64| _mm256_set1_pd(c);
    // SAFETY: loads and stores of four doubles from and into arrays of four.
    let xv = unsafe { _mm256_loadu_pd(x.as_ptr()) };
    let kd = _mm256_add_pd(_mm256_mul_pd(xv, splat(INV_LN2_N)), splat(SHIFTER));
    // The integer steps lane by lane: the index from the low bits of kd, the exponent added
    // to the table's bits.
    let lane = |l: usize| -> (f64, f64) {
        let k = match l {
            0 => _mm256_cvtsd_f64(kd),
            1 => _mm256_cvtsd_f64(_mm256_permute_pd::<1>(kd)),
            2 => _mm_cvtsd_f64(_mm256_extractf128_pd::<1>(kd)),
            _ => _mm_cvtsd_f64(_mm_permute_pd::<1>(_mm256_extractf128_pd::<1>(kd))),
        }
        .to_bits();
        let j = (k & 127) as usize;
        (
            f64::from_bits(EXP_TABLE[2 * j]),
            f64::from_bits(EXP_TABLE[2 * j + 1].wrapping_add(k << 45)),
        )
    };
    let ((t0, s0), (t1, s1), (t2, s2), (t3, s3)) = (lane(0), lane(1), lane(2), lane(3));
    let tail = _mm256_set_pd(t3, t2, t1, t0);
    let scale = _mm256_set_pd(s3, s2, s1, s0);
    let kd = _mm256_sub_pd(kd, splat(SHIFTER));
    let r = _mm256_sub_pd(
        _mm256_sub_pd(xv, _mm256_mul_pd(kd, splat(LN2_HI_N))),
        _mm256_mul_pd(kd, splat(LN2_LO_N)),
    );
    let r2 = _mm256_mul_pd(r, r);
    let lo = _mm256_mul_pd(r2, _mm256_add_pd(splat(C2), _mm256_mul_pd(r, splat(C3))));
    let hi = _mm256_mul_pd(
        _mm256_mul_pd(r2, r2),
        _mm256_add_pd(splat(C4), _mm256_mul_pd(r, splat(C5))),
    );
    let tmp = _mm256_add_pd(_mm256_add_pd(_mm256_add_pd(tail, r), lo), hi);
    let y = _mm256_add_pd(scale, _mm256_mul_pd(scale, tmp));
    let mut out = [0.0; 4];
    unsafe { _mm256_storeu_pd(out.as_mut_ptr(), y) };
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numerics::dd::Dd;

    /// The table independently of its generator: h_j (1 + t_j), raised to the 128th power by
    /// seven squarings in double-double arithmetic (~32 digits), is 2^j to 1e-28 relative, and
    /// h_j is the double nearest 2^(j/128) (|t_j| <= 2^-53).
    #[test]
    fn the_table_holds_two_to_the_j_over_128() {
        for j in 0..128u64 {
            let tail = f64::from_bits(table_exp::EXP_TABLE[2 * j as usize]);
            let h = f64::from_bits(table_exp::EXP_TABLE[2 * j as usize + 1].wrapping_add(j << 45));
            assert!(tail.abs() <= f64::EPSILON / 2.0, "j = {j}: tail {tail:e}");
            let mut v = Dd::from_f64(h) * (Dd::from_f64(1.0) + Dd::from_f64(tail));
            for _ in 0..7 {
                v = v * v;
            }
            let want = 2f64.powi(j as i32);
            let rel = ((v - Dd::from_f64(want)).to_f64() / want).abs();
            assert!(rel < 1e-28, "j = {j}: (h (1 + t))^128 / 2^j - 1 = {rel:e}");
        }
    }

    /// [`exp_one`] within 1 ulp of libm's `exp` over [-708, 708] (2e5 uniform arguments, 1e5
    /// near the table's boundaries (k + 1/2) ln 2 / 128, small ones), exactly 1 at 0, and
    /// libm's value beyond 708 and for NaN; [`exp_pair`] the same bits as [`exp_one`] in each
    /// lane, also with one lane out of range.
    #[test]
    fn table_exp_within_one_ulp_of_libm() {
        let mut seed = 11u64;
        let mut rnd = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let m = EXP_TABLE_ARG_MAX;
        let mut xs: Vec<f64> = (0..200_000).map(|_| -m + 2.0 * m * rnd()).collect();
        xs.extend((0..100_000).map(|i| {
            let k = (i % 20_000) as f64 - 10_000.0;
            (k + 0.5) * std::f64::consts::LN_2 / 128.0 + 1e-12 * (rnd() - 0.5)
        }));
        xs.extend((0..10_000).map(|i| (rnd() - 0.5) * 10f64.powi(-(i % 20))));
        xs.extend([
            0.0,
            -0.0,
            1.0,
            -1.0,
            m,
            -m,
            709.5,
            -720.0,
            -1e4,
            1e-300,
            f64::NAN,
        ]);
        let mut worst = 0u64;
        for pair in xs.chunks(2) {
            let (a, b) = (pair[0], *pair.get(1).unwrap_or(&pair[0]));
            let [pa, pb] = exp_pair([a, b]);
            for (x, e) in [(a, pa), (b, pb)] {
                let one = exp_one(x);
                assert!(
                    one.to_bits() == e.to_bits() || (one.is_nan() && e.is_nan()),
                    "exp_pair lane {e:e} != exp_one {one:e} at {x:e}"
                );
                let want = x.exp();
                if x.is_nan() {
                    assert!(one.is_nan());
                    continue;
                }
                let ulps = one.to_bits().abs_diff(want.to_bits());
                assert!(ulps <= 1, "exp({x:e}) = {one:e}, libm {want:e}: {ulps} ulp");
                worst = worst.max(ulps);
            }
        }
        assert_eq!(exp_one(0.0).to_bits(), 1f64.to_bits());
        assert_eq!(exp_one(-0.0).to_bits(), 1f64.to_bits());
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx") {
            for q in xs.chunks_exact(4) {
                let q = [q[0], q[1], q[2], q[3]];
                // SAFETY: the CPU has AVX (checked above).
                let got = unsafe { exp_quad_avx(q) };
                for (x, e) in q.iter().zip(got) {
                    let one = exp_one(*x);
                    assert!(
                        one.to_bits() == e.to_bits() || (one.is_nan() && e.is_nan()),
                        "{x:e}"
                    );
                }
            }
            let got = unsafe { exp_quad_avx([-1.5, 2.0, -750.0, 0.5]) };
            assert_eq!(
                got.map(f64::to_bits),
                [-1.5, 2.0, -750.0, 0.5].map(|x: f64| exp_one(x).to_bits())
            );
        }
        // Mixed lanes: one in range, one not.
        let [a, b] = exp_pair([-1.5, -750.0]);
        assert_eq!(a.to_bits(), exp_one(-1.5).to_bits());
        assert_eq!(b.to_bits(), (-750f64).exp().to_bits());
        println!("worst {worst} ulp");
    }

    /// Within 1 ulp of libm's exp over the whole range, on 2e5 arguments (uniform and near
    /// the reduction's boundaries k ln 2 +- ln 2 / 2), and exactly 1 at 0.
    #[test]
    fn within_one_ulp_of_libm() {
        let mut seed = 5u64;
        let mut rnd = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut xs: Vec<f64> = (0..100_000)
            .map(|_| EXP_MIN_ARG + (EXP_MAX_ARG - EXP_MIN_ARG) * rnd())
            .collect();
        xs.extend((0..100_000).map(|i| {
            let k = (i % 2000) as f64 - 1000.0;
            let x = (k + 0.5) * std::f64::consts::LN_2 + 1e-9 * (rnd() - 0.5);
            x.clamp(EXP_MIN_ARG, EXP_MAX_ARG)
        }));
        xs.extend([
            0.0,
            0.5,
            1.0,
            -1.0,
            EXP_MAX_ARG,
            EXP_MIN_ARG,
            1e-300,
            -1e-300,
        ]);
        let mut out = vec![0.0; xs.len()];
        exp_lanes(&xs, &mut out);
        let mut worst = 0u64;
        for (&x, &e) in xs.iter().zip(&out) {
            let want = x.exp();
            let ulps = e.to_bits().abs_diff(want.to_bits());
            assert!(ulps <= 1, "exp({x:e}) = {e:e}, libm {want:e}: {ulps} ulp");
            worst = worst.max(ulps);
        }
        assert_eq!(out[xs.len() - 8].to_bits(), 1f64.to_bits());
        // A wrong coefficient or reduction constant shows as several ulp: the test can fail.
        assert!(worst <= 1);
    }
}
