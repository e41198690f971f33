//! Double-double arithmetic: a value is an unevaluated sum hi + lo of two f64 with
//! |lo| <= ulp(hi)/2, about 32 significant digits (Dekker 1971; Hida, Li, Bailey 2001). Used by
//! the tunnel splittings (`crate::model::tunnelling`), where a Schur complement must keep its
//! digits through sums of terms of both signs.

use std::ops::{Add, Div, Mul, Neg, Sub};

/// hi + lo, normalized.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Dd {
    /// Leading part.
    pub hi: f64,
    /// Trailing part.
    pub lo: f64,
}

/// Error-free sum: s + e = a + b exactly.
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    (s, (a - (s - bb)) + (b - bb))
}

/// Error-free sum for |a| >= |b|.
fn quick_two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    (s, b - (s - a))
}

/// Error-free product: p + e = a b exactly (fused multiply-add).
fn two_prod(a: f64, b: f64) -> (f64, f64) {
    let p = a * b;
    (p, a.mul_add(b, -p))
}

impl Dd {
    /// Zero.
    pub const ZERO: Self = Self { hi: 0.0, lo: 0.0 };

    /// An f64, exactly.
    pub fn from_f64(x: f64) -> Self {
        Self { hi: x, lo: 0.0 }
    }

    /// The nearest f64.
    pub fn to_f64(self) -> f64 {
        self.hi + self.lo
    }

    /// |self|.
    pub fn abs(self) -> Self {
        if self.hi < 0.0 {
            -self
        } else {
            self
        }
    }
}

impl Add for Dd {
    type Output = Self;
    fn add(self, b: Self) -> Self {
        let (s, e) = two_sum(self.hi, b.hi);
        let (t, f) = two_sum(self.lo, b.lo);
        let (s, e) = quick_two_sum(s, e + t);
        let (hi, lo) = quick_two_sum(s, e + f);
        Self { hi, lo }
    }
}

impl Neg for Dd {
    type Output = Self;
    fn neg(self) -> Self {
        Self {
            hi: -self.hi,
            lo: -self.lo,
        }
    }
}

impl Sub for Dd {
    type Output = Self;
    fn sub(self, b: Self) -> Self {
        self + (-b)
    }
}

impl Mul for Dd {
    type Output = Self;
    fn mul(self, b: Self) -> Self {
        let (p, e) = two_prod(self.hi, b.hi);
        let e = e + (self.hi * b.lo + self.lo * b.hi);
        let (hi, lo) = quick_two_sum(p, e);
        Self { hi, lo }
    }
}

impl Div for Dd {
    type Output = Self;
    fn div(self, b: Self) -> Self {
        // Long division: q1 = a/b, r = a - q1 b, q2 = r/b, r -= q2 b, q3 = r/b.
        let q1 = self.hi / b.hi;
        let r = self - b * Self::from_f64(q1);
        let q2 = r.hi / b.hi;
        let r = r - b * Self::from_f64(q2);
        let q3 = r.hi / b.hi;
        let (hi, lo) = quick_two_sum(q1, q2);
        Self { hi, lo } + Self::from_f64(q3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Identities that f64 cannot hold: (1 + 2^-80) - 1 = 2^-80, 1/3 * 3 = 1 to 1e-31.
    #[test]
    fn keeps_about_32_digits() {
        let tiny = 2f64.powi(-80);
        let x = Dd::from_f64(1.0) + Dd::from_f64(tiny);
        assert_eq!((x - Dd::from_f64(1.0)).to_f64().to_bits(), tiny.to_bits());
        let third = Dd::from_f64(1.0) / Dd::from_f64(3.0);
        let back = third * Dd::from_f64(3.0) - Dd::from_f64(1.0);
        assert!(back.to_f64().abs() < 1e-31, "{back:?}");
        // The lo part of 1/3: 1/3 - f64(1/3) = 1/3 - 6004799503160661 / 2^54.
        let lo = third.lo;
        let want = (1.0f64 / 3.0).mul_add(-3.0, 1.0) / 3.0; // the exact residual (fma) / 3
        assert!((lo - want).abs() < 1e-32, "{lo} vs {want}");
    }
}
