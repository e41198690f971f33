#!/usr/bin/env python3
"""
Reference for rates.kappa_calibration = "with_tunnelling", in mpmath, independent of the Rust
code (tests/tunnelling_rates.rs compares `smmcool tau --kappa-calibration with_tunnelling`
with every line).

Requirements: Python 3.11, mpmath (pip install mpmath)
Usage:        python3 scripts/kappa_calibration_reference.py > scripts/kappa_calibration_reference.txt

The model of docs/physics.md sections 5 and 10.5 as tunnelling_tau_reference.py builds it
(levels with B4, spin-phonon rates, the tunnelling channels with splittings from the dense
mpmath diagonalization of tunnel_splittings_reference.py, windows, detailed-balance factors),
for PRESET with C replaced by C_K. At each temperature:
- kappa0 = 1/(tau(T) lambda1_sp(T)), the calibration without tunnelling (tau = tau0 e^(U_b/T));
- kappa* = the largest kappa with kappa lambda1(kappa) tau(T) = 1, lambda1(kappa) the slowest
  rate of the unscaled matrix with the tunnelling channels at that kappa (section 10.6): found
  by stepping x = ln kappa down from ln kappa0 by ln 2 / 4 to the first sign change of
  phi(x) = ln(kappa lambda1 tau), then Illinois regula falsi to |dx| < 1e-(dps - 8);
- tau_model_s = 1/(kappa* lambda1(kappa*)) (= tau(T) to the bisection's precision) and
  tau_without_tunnelling_s = 1/(kappa* lambda1_sp) (the spin-phonon rates alone at kappa*).
lambda1 by inverse iteration of the generator with its stationary vector added (see slowest;
checked once against mp.eig, a dense non-symmetric eigensolver) at DPS digits; everything
repeated at DPS_CHECK digits, the printed digits must agree.
"""

import sys
from mpmath import mp, mpf, fabs, nstr, matrix

import tunnel_splittings_reference as ts
import tunnelling_tau_reference as tt

DPS = 40
DPS_CHECK = 48
SPLIT_DPS = 70
NDIG = 14
PRESET = "mn12ac-barra"
C_K = "2.88e-8"
TEMPERATURES = ["1.5", "2", "4", "10", "20", "64"]
TAU0, UB = "2.1e-7", "70.3"


def full_matrix(p, pairs, t, kappa):
    """Unscaled (divided by kappa) zero-field matrix with the tunnelling channels at kappa."""
    w = tt.spin_phonon(p, 0, t)
    s, d, b4, c, e, g = p
    b1 = fabs(d) / (g * mpf("0.67171381563"))
    e_lev = tt.levels(p, 0)
    kbh = tt.kb_over_hbar()
    full = w.copy()
    for i, ip, delta in pairs:
        width = -(w[i, i] + w[ip, ip]) / 2 * kappa
        eps = (e_lev[ip] - e_lev[i]) * kbh
        dw = delta * kbh
        x = fabs(e_lev[ip] - e_lev[i]) / (b1 / 2 * g * mpf("0.67171381563") * abs(i - ip))
        win = 1 if x <= mpf(1) / 2 else (mp.cos(mp.pi * (x - mpf(1) / 2)) ** 2 if x < 1 else 0)
        gamma = win * dw * dw / 2 * width / (eps * eps + width * width) / kappa
        x = (e_lev[ip] - e_lev[i]) / t
        fwd, bwd = 2 / (1 + mp.exp(x)), 2 / (1 + mp.exp(-x))
        full[ip, i] += gamma * fwd
        full[i, i] -= gamma * fwd
        full[i, ip] += gamma * bwd
        full[ip, ip] -= gamma * bwd
    return full


def boltzmann(p, t):
    e = tt.levels(p, 0)
    z = [mp.exp(-(x - min(e)) / t) for x in e]
    total = sum(z)
    return [x / total for x in z]


def slowest(w, pi):
    """The slowest non-zero rate of the generator w (columns sum to zero) with stationary
    populations pi (every rate obeys detailed balance with them): A = w + c pi 1^T keeps the
    other eigenvalues of w and moves 0 to c = 10 ||w||_1, so -lambda1 is A's eigenvalue nearest to 0, found
    by inverse iteration (LU of A once) until it changes by less than 1e-(dps - 5) relative.
    A different algorithm from the Rust code's (a Schur complement on the wells' interior)."""
    n = w.rows
    a = w.copy()
    big = 10 * mp.mnorm(w, 1)
    for i in range(n):
        for j in range(n):
            a[i, j] += big * pi[i]
    x = matrix([mpf(1) if i < n // 2 else mpf(-1) for i in range(n)])
    lam = None
    for _ in range(500):
        y = mp.lu_solve(a, x)
        new = mp.norm(x) / mp.norm(y)
        x = y / mp.norm(y)
        if lam is not None and fabs(new - lam) < mpf(10) ** (5 - mp.dps) * fabs(new):
            return new
        lam = new
    raise RuntimeError("inverse iteration did not converge")


def table(dps):
    # The splittings (down to ~1e-22 K) at SPLIT_DPS digits, the rest at dps.
    mp.dps = SPLIT_DPS + dps - DPS
    s, d, b4, c, e, g = ts.hamiltonian_parameters(PRESET)
    p = (s, d, b4, mpf(C_K), e, g)
    pairs = tt.tunnel_pairs(p, mpf(0), tt.S2)
    mp.dps = dps
    p = tuple(+v for v in p)
    pairs = [(i, ip, +delta) for i, ip, delta in pairs]
    print(f"# dps {dps}: {len(pairs)} channels", file=sys.stderr)
    rows = []
    for t_text in TEMPERATURES:
        t = mpf(t_text)
        ln_tau = mp.log(mpf(TAU0)) + mpf(UB) / t
        pi = boltzmann(p, t)
        lam_sp = slowest(tt.spin_phonon(p, 0, t), pi)
        x0 = -ln_tau - mp.log(lam_sp)

        def phi(x):
            return x + mp.log(slowest(full_matrix(p, pairs, t, mp.exp(x)), pi)) + ln_tau

        step = mp.log(2) / 4
        hi = x0
        lo = None
        for i in range(1, 161):
            x = x0 - step * i
            if phi(x) <= 0:
                lo = x
                break
            hi = x
        if lo is None:
            rows.append((t_text, None, None, None, None))
            print(f"#   T {t_text}: no root", file=sys.stderr)
            continue
        # Illinois regula falsi on [lo, hi] (phi(lo) <= 0 < phi(hi)) to |dx| < 1e-(dps - 8).
        f_lo, f_hi = phi(lo), phi(hi)
        x, side = lo, 0
        while hi - lo > mpf(10) ** (8 - mp.dps) and f_lo != 0:
            x = (lo * f_hi - hi * f_lo) / (f_hi - f_lo)
            f = phi(x)
            if f == 0:
                lo = hi = x
                break
            if f < 0:
                lo, f_lo = x, f
                if side == -1:
                    f_hi /= 2
                side = -1
            else:
                hi, f_hi = x, f
                if side == 1:
                    f_lo /= 2
                side = 1
            if fabs(f) < mpf(10) ** (4 - mp.dps):
                lo = hi = x
                break
        kappa = mp.exp((lo + hi) / 2)
        lam = slowest(full_matrix(p, pairs, t, kappa), pi)
        if t_text == TEMPERATURES[0] and dps == DPS_CHECK:
            # The inverse iteration against the dense eigensolver once.
            dense = tt.slowest(full_matrix(p, pairs, t, kappa))
            assert fabs(dense - lam) < mpf(10) ** (-NDIG) * lam, (dense, lam)
        rows.append((t_text, kappa, 1 / (kappa * lam), 1 / (kappa * lam_sp), mp.exp(x0)))
        print(f"#   T {t_text}: kappa* {nstr(kappa, 8)} (kappa0 {nstr(mp.exp(x0), 8)})", file=sys.stderr)
    return rows


def main():
    rows = table(DPS)
    check = table(DPS_CHECK)
    print(f"# kappa recalibrated with tunnelling, preset {PRESET} with c4_k = {C_K} K, B = 0, Arrhenius scaling")
    print(f"# mpmath {DPS} digits (checked at {DPS_CHECK}: every printed digit agrees)")
    print("# temperature_k kappa_per_s_k3 tau_model_s tau_without_tunnelling_s kappa_without_tunnelling_per_s_k3")
    for r, c in zip(rows, check):
        if r[1] is None:
            assert c[1] is None
            print(f"{r[0]} none")
            continue
        for a, b in zip(r[1:], c[1:]):
            assert fabs(a - b) / a < mpf(10) ** (-NDIG), (r, c)
        print(f"{r[0]} " + " ".join(nstr(v, NDIG) for v in r[1:]))


if __name__ == "__main__":
    main()
