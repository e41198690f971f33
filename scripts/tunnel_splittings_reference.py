#!/usr/bin/env python3
"""
Reference tunnel splittings of the Mn12Ac spin Hamiltonian in mpmath, independent of the Rust
code (tests/tunnelling.rs compares every pair above 1e-40 K).

Requirements: Python 3.11, mpmath (pip install mpmath)
Usage:        python3 scripts/tunnel_splittings_reference.py > scripts/tunnel_splittings_reference.txt
              python3 scripts/tunnel_splittings_reference.py --hard > scripts/tunnel_splittings_hard_reference.txt
              (--hard: the pairs where the Rust iteration once failed; see HARD below)

H = D [Sz^2 - S(S+1)/3] + B4 Sz^4 + C (S+^4 + S-^4) + E (Sx^2 - Sy^2) + g mu_B (Bz Sz + Bx Sx)
in K, built here from the published Stevens parameters (docs/physics.md section 10.2). For
each resonance pair (m, m' = k - m) the splitting is the minimum over Bz of the gap between the
two exact eigenvalues of the dense (2S+1)x(2S+1) matrix that continue the two crossing levels
(the eigenvalues number n and n+1 counted from below, with n the number of the other axial
levels below the crossing). The minimum is found by Newton steps on gap^2(Bz) with central
differences, at DPS decimal digits; the whole computation is repeated at DPS_CHECK digits and
the printed digits must agree.

Method in the Rust code, for contrast: a Schur complement (Loewdin partitioning) on the pair
in double-double arithmetic, never an eigenvalue difference.
"""

import sys
from mpmath import mp, mpf, matrix, sqrt, fabs, nstr, eigsy

DPS = 70
DPS_CHECK = 90
NDIG = 20

S2 = 20  # 2S


def hamiltonian_parameters(name, e_k=None):
    """(S, D', B4, C, E, g) in K from the published values (strings, exact decimals); e_k
    replaces E (in K, our form) when given."""
    k_per_cm1 = mpf("1.438776877")
    cm1_per_mev = mpf("8.065543937")
    if name == "mn12ac-barra":
        d, b40, b44, e = [mpf(x) for x in ("-0.46", "-2.2e-5", "4e-5", "0")]
    elif name == "mn12ac-mirebeau":
        d, b40, b44, e = [mpf(x) for x in ("-0.457", "-2.33e-5", "3.0e-5", "0")]
    elif name == "mn12ac-bircher":
        d, b40, b44, e = [mpf(x) * cm1_per_mev for x in ("-0.0570", "-2.78e-6", "-3.2e-6", "6.8e-4")]
    else:
        raise ValueError(name)
    s = mpf(S2) / 2
    ss1 = s * (s + 1)
    # O_4^0 = 35 Sz^4 - (30 S(S+1) - 25) Sz^2 + const; O_4^4 = (S+^4 + S-^4)/2.
    d_prime = (d - (30 * ss1 - 25) * b40) * k_per_cm1
    e_our = e * k_per_cm1 if e_k is None else mpf(e_k)
    return s, d_prime, 35 * b40 * k_per_cm1, b44 / 2 * k_per_cm1, e_our, mpf("2.05")


def build(p, bz, bx):
    s, d, b4, c, e, g = p
    mu_b = mpf("0.67171381563")
    n = S2 + 1
    h = matrix(n, n)
    ms = [mpf(i) - s for i in range(n)]
    up = lambda m: sqrt(s * (s + 1) - m * (m + 1))  # <m+1|S+|m>
    for i, m in enumerate(ms):
        h[i, i] = d * (m * m - s * (s + 1) / 3) + b4 * m ** 4 + g * mu_b * bz * m
        if i + 1 < n:
            h[i, i + 1] = h[i + 1, i] = g * mu_b * bx * up(m) / 2
        if i + 2 < n:
            h[i, i + 2] = h[i + 2, i] = e * up(m) * up(m + 1) / 2
        if i + 4 < n:
            h[i, i + 4] = h[i + 4, i] = c * up(m) * up(m + 1) * up(m + 2) * up(m + 3)
    return h


def axial(p, m, bz):
    s, d, b4, c, e, g = p
    return d * (m * m - s * (s + 1) / 3) + b4 * m ** 4 + g * mpf("0.67171381563") * bz * m


def gap2(p, bz, bx, j):
    ev = sorted(eigsy(build(p, bz, bx), eigvals_only=True))
    return (ev[j + 1] - ev[j]) ** 2


def splitting(p, m, mp_, bx):
    s, d, b4, c, e, g = p
    k = m + mp_
    bz = -k * (d + b4 * (m * m + mp_ * mp_)) / (g * mpf("0.67171381563"))
    em = axial(p, m, bz)
    j = sum(1 for q in range(S2 + 1) if q - s not in (m, mp_) and axial(p, q - s, bz) < em)
    h = mpf(10) ** (-mp.dps // 3)
    # gap^2 = Delta^2 + s^2 (Bz - B0)^2 + smooth corrections: Newton converges in a few steps;
    # stop when the step moves the gap by less than 1e-30 of itself.
    for _ in range(12):
        f0, fp, fm = gap2(p, bz, bx, j), gap2(p, bz + h, bx, j), gap2(p, bz - h, bx, j)
        d1 = (fp - fm) / (2 * h)
        d2 = (fp - 2 * f0 + fm) / (h * h)
        step = d1 / d2
        bz -= step
        if d2 / 2 * step * step < mpf(10) ** -30 * f0:
            break
    else:
        raise RuntimeError("no convergence")
    return sqrt(gap2(p, bz, bx, j)), bz


def pairs(k_max):
    """Pairs m > m' = k - m >= -S below the barrier top (as `smmcool resonances` lists them)."""
    out = []
    for k in range(k_max + 1):
        for i in range(S2, -1, -1):
            m = i - S2 // 2
            mp_ = k - m
            if m > mp_ and mp_ >= -S2 // 2:
                out.append((k, m, mp_))
    return out


CASES = [
    ("mn12ac-mirebeau", "0", 2),
    ("mn12ac-bircher", "0", 2),
    ("mn12ac-mirebeau", "0.05", 2),
]


def table(dps):
    mp.dps = dps
    rows = []
    for name, bx, k_max in CASES:
        p = hamiltonian_parameters(name)
        s, d, b4 = p[0], p[1], p[2]
        for k, m, mp_ in pairs(k_max):
            # Only pairs below the axial barrier top at their field (the Rust filter).
            bz = -k * (d + b4 * (m * m + mp_ * mp_)) / (p[5] * mpf("0.67171381563"))
            levels = [axial(p, q - s, bz) for q in range(S2 + 1)]
            if not axial(p, mpf(m), bz) < max(levels):
                continue
            # Selection rules: C moves m by 4, E by 2, Bx by 1.
            dm = m - mp_
            coupled = mpf(bx) != 0 or (p[4] != 0 and dm % 2 == 0) or dm % 4 == 0
            if not coupled:
                continue
            delta, bopt = splitting(p, mpf(m), mpf(mp_), mpf(bx))
            rows.append((name, bx, k, m, mp_, bopt, delta))
            print(f"# {name} Bx={bx} k={k} m={m}: {nstr(delta, 6)}", file=sys.stderr)
    return rows


# Pairs where the Rust iteration once failed ("not separated"): two deep pairs at high fields
# whose fixed point ends in a cycle of period two at the rounding level of Bz, and strongly
# mixed pairs (a 1 T transverse field, E = 0.24 K) that the Rust code hands to its dense
# double-precision fallback. (preset, Bx in T, E in K or None, k, m, m').
HARD = [
    ("mn12ac-bircher", "0", None, 8, 10, -2),
    ("mn12ac-barra", "0", None, 12, 10, 2),
    ("mn12ac-barra", "1", None, 0, 7, -7),
    ("mn12ac-barra", "1", None, 0, 5, -5),
    ("mn12ac-barra", "0", "0.24", 0, 6, -6),
]


def hard_table(dps):
    mp.dps = dps
    rows = []
    for name, bx, e_k, k, m, mp_ in HARD:
        p = hamiltonian_parameters(name, e_k)
        delta, bopt = splitting(p, mpf(m), mpf(mp_), mpf(bx))
        rows.append((name, bx, e_k or "-", k, m, mp_, bopt, delta))
        print(f"# {name} Bx={bx} E={e_k} k={k} m={m}: {nstr(delta, 6)}", file=sys.stderr)
    return rows


def main_hard():
    rows = hard_table(DPS)
    check = hard_table(DPS_CHECK)
    print("# Tunnel splittings of the hard pairs (K), the minimum gap over Bz (see HARD in the script)")
    print(f"# mpmath {DPS} digits (checked at {DPS_CHECK}: every printed digit agrees); Bz at the minimum in T")
    print("# preset transverse_field_t e_k k m m_prime field_t splitting_k")
    for r, c in zip(rows, check):
        rel = fabs(r[7] - c[7]) / r[7]
        assert rel < mpf(10) ** (-NDIG), (r, c, rel)
        print(" ".join(str(x) for x in r[:6]) + f" {nstr(r[6], NDIG)} {nstr(r[7], NDIG)}")


def main():
    if "--hard" in sys.argv[1:]:
        main_hard()
        return
    rows = table(DPS)
    check = table(DPS_CHECK)
    print("# Tunnel splittings Delta(m, m') of Mn12Ac spin Hamiltonians (K), the minimum gap over Bz")
    print(f"# mpmath {DPS} digits (checked at {DPS_CHECK}: every printed digit agrees); Bz at the minimum in T")
    print("# preset transverse_field_t k m m_prime field_t splitting_k")
    for r, c in zip(rows, check):
        assert r[:5] == c[:5]
        rel = fabs(r[6] - c[6]) / r[6]
        assert rel < mpf(10) ** (-NDIG), (r, c, rel)
        print(f"{r[0]} {r[1]} {r[2]} {r[3]} {r[4]} {nstr(r[5], NDIG)} {nstr(r[6], NDIG)}")


if __name__ == "__main__":
    main()
