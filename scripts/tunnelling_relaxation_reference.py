#!/usr/bin/env python3
"""
Reference trajectories with resonant tunnelling at a fixed field and temperature, in mpmath,
independent of the Rust code (tests/tunnelling_relaxation_reference.rs compares the engine's
populations with every line).

Requirements: Python 3.11, mpmath (pip install mpmath)
Usage:        python3 scripts/tunnelling_relaxation_reference.py > scripts/tunnelling_relaxation_reference.txt

The runs: `mn12ac-barra` (C = 2.88e-5 K, B4 in the levels, aligned), populations in equilibrium
at B_i = 0.5 T and T, the field jumps to B_f at t = 0 and stays there; the lattice's heat
capacity is so large (the engine's addenda gamma T with gamma = 1e12 per molecule) that T stays
fixed (the heat the spins release moves it by < 1e-10 K). The master equation is then linear,
dn/dt = K n with K the rate matrix at (B_f, T), and

    n(t) = exp(K t) n(0),   n(0) = Boltzmann(E(B_i), T).

K is built here from the equations of docs/physics.md sections 5 and 10.5 with the functions
of tunnelling_tau_reference.py (levels with B4, spin-phonon rates W = kappa c s f, kappa(T) from
the Arrhenius calibration without tunnelling at B = 0, tunnelling channels with the
Lorentzian, the mean decay width, the near-resonance window and the detailed-balance factors;
splittings from the dense mpmath diagonalization of tunnel_splittings_reference.py, computed
only for the channels whose window is open at B_f, the others having rate zero).

exp(K t) through detailed balance: every rate obeys K_ji pi_i = K_ij pi_j with pi the Boltzmann
populations at (B_f, T), so A = P^(-1/2) K P^(1/2) (P = diag(pi)) is symmetric and
exp(K t) = P^(1/2) V exp(L t) V^T P^(-1/2) with A = V L V^T (mp.eigsy, a symmetric
eigensolver); checked at one time per case against mp.expm(K t) (Pade with scaling and
squaring) and, everything, at DPS_CHECK digits (the printed digits must agree).

Sensitivity (printed as comments): the same populations with every tunnelling rate doubled
and without tunnelling; a test at 1e-6 that passes here fails if the engine's tunnelling
prefactor were off by 2.
"""

import sys
from mpmath import mp, mpf, matrix, fabs, nstr, eigsy, sqrt, diag

import tunnel_splittings_reference as ts
import tunnelling_tau_reference as tt

DPS = 40
DPS_CHECK = 50
SPLIT_DPS = 70
NDIG = 16
PRESET = "mn12ac-barra"
TAU0, UB = "2.1e-7", "70.3"
B_INITIAL = "0.5"
MU_B = "0.67171381563"
# (T in K, B_f in T, times after the jump in s)
CASES = [
    ("3", "0", ["1e-3", "0.1", "1", "3", "10"]),
    ("3", "0.1", ["1e-3", "1", "30", "100", "1000"]),
]


def window(p, e_lev, i, ip):
    s, d, b4, c, e, g = p
    b1 = fabs(d) / (g * mpf(MU_B))
    x = fabs(e_lev[ip] - e_lev[i]) / (b1 / 2 * g * mpf(MU_B) * abs(i - ip))
    if x <= mpf(1) / 2:
        return mpf(1)
    if x < 1:
        return mp.cos(mp.pi * (x - mpf(1) / 2)) ** 2
    return mpf(0)


def open_pairs(p, bf):
    """(i, i', Delta) of the tunnelling channels (tunnelling_tau_reference.tunnel_pairs' list:
    resonances k = 0..2S below the barrier top, coupled by C, E or Bx, and their mirrors) whose
    window is open at B_f; Delta at SPLIT_DPS digits."""
    s, d, b4, c, e, g = p
    e_lev = tt.levels(p, bf)
    out = []
    for k, m, mp_ in ts.pairs(tt.S2):
        bz = -k * (d + b4 * (m * m + mp_ * mp_)) / (g * mpf(MU_B))
        lev = tt.levels(p, bz)
        if not (lev[tt.S2] < lev[tt.S2 - 1] and ts.axial(p, mpf(m), bz) < max(lev)):
            continue
        if not ((e != 0 and (m - mp_) % 2 == 0) or (m - mp_) % 4 == 0):
            continue
        i, ip = m + tt.S2 // 2, mp_ + tt.S2 // 2
        chans = [(i, ip)] + ([(tt.S2 - i, tt.S2 - ip)] if k > 0 else [])
        chans = [(a, b) for a, b in chans if window(p, e_lev, a, b) > 0]
        if chans:
            delta, _ = ts.splitting(p, mpf(m), mpf(mp_), mpf(0))
            out += [(a, b, delta) for a, b in chans]
    return out


def rate_matrix(p, pairs, bf, t, scale):
    """K at (B_f, T) in 1/s (columns sum to zero), tunnelling rates times `scale`."""
    kappa = 1 / (mpf(TAU0) * mp.exp(mpf(UB) / t) * tt.slowest(tt.spin_phonon(p, 0, t)))
    w = tt.spin_phonon(p, bf, t) * kappa
    e_lev = tt.levels(p, bf)
    kbh = tt.kb_over_hbar()
    full = w.copy()
    for i, ip, delta in pairs:
        width = -(w[i, i] + w[ip, ip]) / 2
        eps = (e_lev[ip] - e_lev[i]) * kbh
        dw = delta * kbh
        gamma = scale * window(p, e_lev, i, ip) * dw * dw / 2 * width / (eps * eps + width * width)
        x = (e_lev[ip] - e_lev[i]) / t
        fwd, bwd = 2 / (1 + mp.exp(x)), 2 / (1 + mp.exp(-x))
        full[ip, i] += gamma * fwd
        full[i, i] -= gamma * fwd
        full[i, ip] += gamma * bwd
        full[ip, ip] -= gamma * bwd
    return full, kappa


def boltzmann(p, b, t):
    e = tt.levels(p, b)
    z = [mp.exp(-(x - min(e)) / t) for x in e]
    total = sum(z)
    return [x / total for x in z]


def propagate(k, pi, n0, times):
    """n(t) = exp(K t) n0 for each t, through the symmetrized K (detailed balance)."""
    n = k.rows
    sq = [sqrt(x) for x in pi]
    a = matrix(n, n)
    for i in range(n):
        for j in range(n):
            a[i, j] = k[i, j] * sq[j] / sq[i]
    # Symmetric to rounding; symmetrize exactly.
    for i in range(n):
        for j in range(i):
            a[i, j] = a[j, i] = (a[i, j] + a[j, i]) / 2
    lam, v = eigsy(a)
    y0 = [n0[i] / sq[i] for i in range(n)]
    c = [sum(v[i, q] * y0[i] for i in range(n)) for q in range(n)]
    out = []
    for t in times:
        y = [sum(v[i, q] * mp.exp(lam[q] * t) * c[q] for q in range(n)) for i in range(n)]
        out.append([sq[i] * y[i] for i in range(n)])
    return out


def mean_m(n):
    return sum((i - tt.S2 // 2) * x for i, x in enumerate(n))


def cases(dps):
    mp.dps = SPLIT_DPS + dps - DPS
    p70 = ts.hamiltonian_parameters(PRESET)
    results = []
    for t_text, bf_text, times_text in CASES:
        mp.dps = SPLIT_DPS + dps - DPS
        pairs = open_pairs(p70, mpf(bf_text))
        mp.dps = dps
        p = tuple(+v for v in p70)
        pairs = [(i, ip, +delta) for i, ip, delta in pairs]
        t, bf = mpf(t_text), mpf(bf_text)
        times = [mpf(x) for x in times_text]
        k, kappa = rate_matrix(p, pairs, bf, t, 1)
        pi = boltzmann(p, bf, t)
        n0 = boltzmann(p, mpf(B_INITIAL), t)
        ns = propagate(k, pi, n0, times)
        # Check: Pade exponential at the middle time.
        mid = len(times) // 2
        direct = mp.expm(k * times[mid]) * matrix(n0)
        err = max(fabs(direct[i] - ns[mid][i]) for i in range(k.rows))
        # Both lose ~log10(||K|| t) digits to the stiff modes (||K|| ~ 1e14 1/s).
        assert err < mpf(10) ** (20 - dps), err
        doubled = propagate(rate_matrix(p, pairs, bf, t, 2)[0], pi, n0, times)
        without = propagate(rate_matrix(p, [], bf, t, 1)[0], pi, n0, times)
        print(f"# dps {dps}: T {t_text} K, B_f {bf_text} T: {len(pairs)} open channels, "
              f"kappa {nstr(kappa, 8)}, expm check {nstr(err, 3)}", file=sys.stderr)
        results.append((t_text, bf_text, times_text, pairs, kappa, ns, doubled, without))
    return results


def main():
    res = cases(DPS)
    check = cases(DPS_CHECK)
    print(f"# Populations after a jump {B_INITIAL} T -> B_f at fixed T, preset {PRESET} (aligned, "
          f"C = 2.88e-5 K), Arrhenius kappa calibrated without tunnelling")
    print(f"# mpmath {DPS} digits via the symmetrized rate matrix (checked against mp.expm and at "
          f"{DPS_CHECK} digits: every printed digit agrees)")
    for (t_text, bf_text, times_text, pairs, kappa, ns, doubled, without), c in zip(res, check):
        print(f"# case T = {t_text} K, B_f = {bf_text} T: channels (m, m', Delta_K) "
              + ", ".join(f"({i - 10}, {ip - 10}, {nstr(d, 6)})" for i, ip, d in pairs))
        print(f"#   kappa {nstr(kappa, NDIG)} 1/(s K^3)")
        for tt_, n, n2, n0_, nc in zip(times_text, ns, doubled, without, c[5]):
            for a, b in zip(n, nc):
                assert fabs(a - b) <= mpf(10) ** (-NDIG) * fabs(a) + mpf(10) ** (-60), (a, b)
            m, m2, m0 = mean_m(n), mean_m(n2), mean_m(n0_)
            print(f"#   t = {tt_} s: <m> {nstr(m, 10)}; with 2 Gamma {nstr(m2, 10)} "
                  f"(change {nstr(fabs(m2 - m) / 10, 2)} of S); without tunnelling {nstr(m0, 10)}")
            print(f"{t_text} {bf_text} {tt_} " + " ".join(nstr(x, NDIG) for x in n))


if __name__ == "__main__":
    main()
