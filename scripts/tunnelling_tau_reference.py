#!/usr/bin/env python3
"""
Reference relaxation times with resonant tunnelling, in mpmath, independent of the Rust code
(tests/tunnelling_rates.rs compares `smmcool tau --field-t` with every line).

Requirements: Python 3.11, mpmath (pip install mpmath)
Usage:        python3 scripts/tunnelling_tau_reference.py > scripts/tunnelling_tau_reference.txt

The model of docs/physics.md sections 5 and 10.5, rebuilt here from the published decimals:
- levels eps_m = D' [m^2 - S(S+1)/3] + B4 m^4 + g mu_B Bz m of the preset (Stevens terms
  converted as in tunnel_splittings_reference.py);
- spin-phonon rates W(m -> m') = kappa c s(m -> m') f(eps_m' - eps_m, T), f = dE^3/(e^(dE/T) - 1);
- kappa(T) = 1/(tau0 exp(U_b/T) lambda1_0(T)), lambda1_0 the slowest rate of the spin-phonon
  matrix at B = 0 (the Arrhenius calibration, without tunnelling);
- for each resonance pair (m, m' = k - m), k = 0..2S, below the barrier top and coupled by
  the transverse terms, and its mirror (-m, -m') for k > 0: the rate
  Gamma = (Delta^2/(2 hbar^2)) W/(eps^2/hbar^2 + W^2) times 2/(1 + e^(eps/T)) from m to m'
  and 2/(1 + e^(-eps/T)) back (detailed balance with the lattice), Delta the minimum gap from the dense
  70-digit diagonalization of tunnel_splittings_reference.py, W the mean of the two levels'
  total spin-phonon decay rates, eps the bias at the field, times the near-resonance window
  w(x) = 1 (|x| <= 1/2), cos^2(pi (|x| - 1/2)) (1/2 < |x| < 1), 0 beyond, with
  x = eps / (g mu_B |m - m'| B_1 / 2), B_1 = |D'|/(g mu_B);
- tau = 1/lambda1, lambda1 the slowest non-zero rate of the whole matrix, from mp.eig (a dense
  non-symmetric eigensolver) at DPS digits, repeated at DPS_CHECK digits (the printed digits
  must agree).
Every resonance k = 0..2S counts (for this preset every splitting is defined).
The Arrhenius kappa and the tunnelling channels are _reference_common.py's (shared with
hot_tau_reference.py).
"""

import sys
from mpmath import mp, mpf, matrix, fabs, nstr, floor

import tunnel_splittings_reference as ts
# kb_over_hbar is also used through this module by kappa_calibration_reference.py and
# tunnelling_relaxation_reference.py.
from _reference_common import arrhenius_kappa, kb_over_hbar, with_tunnelling  # noqa: F401

DPS = 50
DPS_CHECK = 70
NDIG = 16
PRESET = "mn12ac-mirebeau"
TEMPERATURES = ["1", "2", "3"]
FIELDS = ["0", "0.3", "0.8", "1.0"]
S2 = 20


def levels(p, bz):
    return [ts.axial(p, mpf(i) - p[0], bz) for i in range(S2 + 1)]


def f_phonon(de, t):
    if de == 0:
        return mpf(0)
    return de ** 3 / mp.expm1(de / t)


def spin_phonon(p, bz, t):
    """Unscaled generator (kappa = 1): W[j, i] = rate i -> j, columns sum to zero."""
    s = S2 // 2
    e = levels(p, bz)
    n = S2 + 1
    w = matrix(n, n)
    for i in range(n):
        m = i - s
        for dm in (-2, -1, 1, 2):
            j = i + dm
            if not 0 <= j < n:
                continue
            if dm == 1:
                f = (s - m) * (s + m + 1) * (2 * m + 1) ** 2
            elif dm == -1:
                f = (s + m) * (s - m + 1) * (2 * m - 1) ** 2
            elif dm == 2:
                f = (s - m) * (s + m + 1) * (s - m - 1) * (s + m + 2)
            else:
                f = (s + m) * (s - m + 1) * (s + m - 1) * (s - m + 2)
            c = mpf(1) if abs(dm) == 1 else mpf(12) / 32
            r = c * f * f_phonon(e[j] - e[i], t)
            w[j, i] += r
            w[i, i] -= r
    return w


def slowest(w):
    ev = sorted(-mp.re(z) for z in mp.eig(w, left=False, right=False))
    return ev[1]


def tunnel_pairs(p, bx, k_max):
    """(i, i', Delta) for the coupled pairs below the top, and the mirrors for k > 0."""
    s, d, b4, c, e, g = p
    out = []
    for k, m, mp_ in ts.pairs(k_max):
        bz = -k * (d + b4 * (m * m + mp_ * mp_)) / (g * mpf("0.67171381563"))
        lev = levels(p, bz)
        if not (lev[S2] < lev[S2 - 1] and ts.axial(p, mpf(m), bz) < max(lev)):
            continue
        dm = m - mp_
        if not (bx != 0 or (e != 0 and dm % 2 == 0) or dm % 4 == 0):
            continue
        delta, _ = ts.splitting(p, mpf(m), mpf(mp_), bx)
        i, ip = m + S2 // 2, mp_ + S2 // 2
        out.append((i, ip, delta))
        if k > 0:
            out.append((S2 - i, S2 - ip, delta))
    return out


def table(dps):
    mp.dps = dps
    p = ts.hamiltonian_parameters(PRESET)
    k_max = S2
    pairs = tunnel_pairs(p, mpf(0), k_max)
    print(f"# dps {dps}: {len(pairs)} channels, k_max {k_max}", file=sys.stderr)
    rows = []
    for t_text in TEMPERATURES:
        t = mpf(t_text)
        kappa = arrhenius_kappa(t, slowest(spin_phonon(p, 0, t)))
        for b_text in FIELDS:
            bz = mpf(b_text)
            w = spin_phonon(p, bz, t) * kappa
            full = with_tunnelling(w, levels(p, bz), pairs, p, t)
            rows.append((t_text, b_text, 1 / slowest(full), 1 / slowest(w)))
            print(f"#   T {t_text} B {b_text}: {nstr(rows[-1][2], 8)} s", file=sys.stderr)
    return rows


def main():
    rows = table(DPS)
    check = table(DPS_CHECK)
    print(f"# Slowest relaxation time with resonant tunnelling, preset {PRESET}, Bx = 0, Arrhenius kappa")
    print(f"# mpmath {DPS} digits (checked at {DPS_CHECK}: every printed digit agrees)")
    print("# temperature_k field_t tau_model_s tau_without_tunnelling_s")
    for r, c in zip(rows, check):
        for a, b in ((r[2], c[2]), (r[3], c[3])):
            assert fabs(a - b) / a < mpf(10) ** (-NDIG), (r, c)
        print(f"{r[0]} {r[1]} {nstr(r[2], NDIG)} {nstr(r[3], NDIG)}")


if __name__ == "__main__":
    main()
