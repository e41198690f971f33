//! Bracketing root finding for the monotone temperature equations of the limits.

use crate::error::NumericsError;

/// Lowest temperature the bracket search goes down to, K.
pub const T_FLOOR_K: f64 = 1e-200;
/// Highest temperature the bracket search goes up to, K.
pub const T_CEILING_K: f64 = 1e8;

/// Root of an increasing function `g` of temperature, starting from `guess_k` > 0.
///
/// If `g(guess)` is exactly zero the guess is returned unchanged (so a process that changes
/// nothing gives exactly zero Delta T). Otherwise the bracket is grown geometrically from the
/// guess, then Brent's method narrows it to an absolute width of `xtol_k` (plus a few ulps).
pub fn increasing_root(
    what: &'static str,
    guess_k: f64,
    xtol_k: f64,
    mut g: impl FnMut(f64) -> f64,
) -> Result<f64, NumericsError> {
    let g0 = g(guess_k);
    if g0 == 0.0 {
        return Ok(guess_k);
    }
    let (mut a, mut fa, mut b, mut fb);
    if g0 > 0.0 {
        (b, fb) = (guess_k, g0);
        a = guess_k;
        loop {
            a *= 0.5;
            fa = g(a);
            if fa <= 0.0 {
                break;
            }
            if a < T_FLOOR_K {
                return Err(NumericsError::NoBracket {
                    what,
                    low_k: a,
                    high_k: guess_k,
                });
            }
            (b, fb) = (a, fa);
        }
        if fa == 0.0 {
            return Ok(a);
        }
    } else {
        (a, fa) = (guess_k, g0);
        b = guess_k;
        loop {
            b *= 2.0;
            fb = g(b);
            if fb >= 0.0 {
                break;
            }
            if b > T_CEILING_K {
                return Err(NumericsError::NoBracket {
                    what,
                    low_k: guess_k,
                    high_k: b,
                });
            }
            (a, fa) = (b, fb);
        }
        if fb == 0.0 {
            return Ok(b);
        }
    }
    Ok(brent(a, fa, b, fb, xtol_k, &mut g))
}

/// Brent's method on a bracket [a, b] with f(a) f(b) < 0.
#[allow(clippy::float_cmp)] // a == c tests whether the bracket end was just reset
fn brent(a: f64, fa: f64, b: f64, fb: f64, xtol: f64, f: &mut impl FnMut(f64) -> f64) -> f64 {
    let (mut a, mut fa, mut b, mut fb) = (a, fa, b, fb);
    let (mut c, mut fc) = (a, fa);
    let mut d = b - a;
    let mut e = d;
    for _ in 0..300 {
        if (fb > 0.0) == (fc > 0.0) {
            c = a;
            fc = fa;
            d = b - a;
            e = d;
        }
        if fc.abs() < fb.abs() {
            a = b;
            b = c;
            c = a;
            fa = fb;
            fb = fc;
            fc = fa;
        }
        let tol = 2.0 * f64::EPSILON * b.abs() + 0.5 * xtol;
        let m = 0.5 * (c - b);
        if m.abs() <= tol || fb == 0.0 {
            return b;
        }
        if e.abs() >= tol && fa.abs() > fb.abs() {
            let s = fb / fa;
            let (mut p, mut q);
            if a == c {
                p = 2.0 * m * s;
                q = 1.0 - s;
            } else {
                let qa = fa / fc;
                let r = fb / fc;
                p = s * (2.0 * m * qa * (qa - r) - (b - a) * (r - 1.0));
                q = (qa - 1.0) * (r - 1.0) * (s - 1.0);
            }
            if p > 0.0 {
                q = -q;
            } else {
                p = -p;
            }
            if 2.0 * p < (3.0 * m * q - (tol * q).abs()).min((e * q).abs()) {
                e = d;
                d = p / q;
            } else {
                d = m;
                e = m;
            }
        } else {
            d = m;
            e = m;
        }
        a = b;
        fa = fb;
        b += if d.abs() > tol { d } else { tol.copysign(m) };
        fb = f(b);
    }
    b
}

/// Minimum of a function on [lo, hi] (K): a scan on `n_scan` log-spaced points, then golden
/// section refinement around the best point. Returns (x_min, f_min). Points where `f` is not
/// finite (e.g. no solution) are skipped; `None` if no point is finite.
pub fn scan_minimum(
    lo: f64,
    hi: f64,
    n_scan: usize,
    mut f: impl FnMut(f64) -> f64,
) -> Option<(f64, f64)> {
    let ratio = (hi / lo).powf(1.0 / (n_scan - 1) as f64);
    let xs: Vec<f64> = (0..n_scan).map(|i| lo * ratio.powi(i as i32)).collect();
    let ys: Vec<f64> = xs.iter().map(|&x| f(x)).collect();
    let (ibest, _) = ys
        .iter()
        .enumerate()
        .filter(|(_, y)| y.is_finite())
        .min_by(|a, b| a.1.total_cmp(b.1))?;
    let mut a = xs[ibest.saturating_sub(1)];
    let mut b = xs[(ibest + 1).min(n_scan - 1)];
    let invphi = (5f64.sqrt() - 1.0) / 2.0;
    let mut x1 = b - invphi * (b - a);
    let mut x2 = a + invphi * (b - a);
    let (mut f1, mut f2) = (f(x1), f(x2));
    let fin = |y: f64| if y.is_finite() { y } else { f64::INFINITY };
    for _ in 0..200 {
        if (b - a) < 1e-10 * (a.abs() + b.abs()) {
            break;
        }
        if fin(f1) < fin(f2) {
            b = x2;
            x2 = x1;
            f2 = f1;
            x1 = b - invphi * (b - a);
            f1 = f(x1);
        } else {
            a = x1;
            x1 = x2;
            f1 = f2;
            x2 = a + invphi * (b - a);
            f2 = f(x2);
        }
    }
    let x = 0.5 * (a + b);
    let y = f(x);
    if y.is_finite() && y <= ys[ibest] {
        Some((x, y))
    } else {
        Some((xs[ibest], ys[ibest]))
    }
}
