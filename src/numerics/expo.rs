//! exp(x) for the right-hand side of the full master equation: the same value as libm's
//! `exp` to within 1 ulp (it differs in the last bit for some arguments), written so that a
//! loop over many arguments vectorizes (no branch, no table, no call): 2^k by the exponent
//! bits and exp(r), |r| <= ln 2 / 2, by its Taylor series to r^13 (the first term left out is
//! below 0.03 ulp). The right-hand side takes one exponential per channel, 39 for Mn12Ac, and
//! libm's `exp` call was about 70 instructions each, 13 % of a full-equation step
//! (docs/numerics.md section 5).

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

#[cfg(test)]
mod tests {
    use super::*;

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
