#!/usr/bin/env python3
"""
Reference zero-field relaxation times with resonant tunnelling where the slow mode is hardly
separated (30-60 K), in mpmath, independent of the Rust code (tests/hot_tau.rs
compares `smmcool tau --field-t 0` with every line).

Requirements: Python 3.11, mpmath (pip install mpmath)
Usage:        python3 scripts/hot_tau_reference.py > scripts/hot_tau_reference.txt

The model is the one of scripts/tunnelling_tau_reference.py (whose functions this script
uses: the levels, spin-phonon rates, splittings from the 70-digit dense diagonalization) and
scripts/_reference_common.py (the Arrhenius kappa, the tunnelling channels with their window
and detailed-balance factors). Besides
tau = 1/lambda1 (lambda1 the slowest non-zero rate of the whole matrix, mp.eig at DPS digits,
repeated at DPS_CHECK digits: the printed digits agree) each line gives what decides whether
the engine's subtraction-free slow mode (docs/numerics.md section 3.2) exists there:
lambda2/lambda1 (how separated the slowest mode is) and mu0/lambda1, mu0 the smallest
eigenvalue of the interior block (the matrix without the two well bottoms m = +-S). The slow
mode is the fixed point lambda = F(lambda) of the Schur complement on the two bottoms, whose
series in lambda/mu0 converges only for lambda < mu0.
"""

import sys
from mpmath import mp, mpf, matrix, fabs, nstr

import tunnelling_tau_reference as ref
from _reference_common import arrhenius_kappa, with_tunnelling

DPS = 40
DPS_CHECK = 50
NDIG = 16
ROWS = [("mn12ac-mirebeau", "30"), ("mn12ac-mirebeau", "40"), ("mn12ac-mirebeau", "60"),
        ("mn12ac-bircher", "30")]


def spectrum(w):
    return sorted(-mp.re(z) for z in mp.eig(w, left=False, right=False))


def row(preset, t_text):
    p = ref.ts.hamiltonian_parameters(preset)
    pairs = ref.tunnel_pairs(p, mpf(0), ref.S2)
    t = mpf(t_text)
    kappa = arrhenius_kappa(t, ref.slowest(ref.spin_phonon(p, 0, t)))
    w = ref.spin_phonon(p, 0, t) * kappa
    full = with_tunnelling(w, ref.levels(p, 0), pairs, p, t)
    ev = spectrum(full)
    n = ref.S2 + 1
    inner = matrix(n - 2, n - 2)
    for a in range(1, n - 1):
        for b in range(1, n - 1):
            inner[a - 1, b - 1] = full[a, b]
    mu0 = spectrum(inner)[0]
    return 1 / ev[1], ev[2] / ev[1], mu0 / ev[1]


def main():
    print("# Zero-field slowest relaxation time with resonant tunnelling, Bx = 0, Arrhenius kappa")
    print(f"# mpmath {DPS} digits (checked at {DPS_CHECK}: every printed digit of tau agrees)")
    print("# preset temperature_k tau_model_s lambda2_over_lambda1 mu0_over_lambda1")
    for preset, t_text in ROWS:
        mp.dps = DPS
        a = row(preset, t_text)
        mp.dps = DPS_CHECK
        b = row(preset, t_text)
        assert fabs(a[0] - b[0]) / a[0] < mpf(10) ** (-NDIG), (a, b)
        print(f"{preset} {t_text} {nstr(a[0], NDIG)} {nstr(a[1], 6)} {nstr(a[2], 6)}", flush=True)


if __name__ == "__main__":
    main()
