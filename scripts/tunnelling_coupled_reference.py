#!/usr/bin/env python3
"""
Reference trajectories with resonant tunnelling AND a lattice that warms or cools (issue 18):
the full 21-level master equation of `mn12ac-barra` with its tunnelling channels, coupled to
the Debye lattice of one molecule by the energy balance, integrated with SciPy's Radau. Written
from the equations of docs/physics.md (sections 2, 5, 6.2 and 10.5), not from the Rust engine
(tests/tunnelling_coupled_reference.rs runs the engine on the same cases and compares).

Model (energies and temperatures in K, i.e. E/k_B; time in s; per molecule, k_B = 1)
    levels      E_m(B) = D' [m^2 - S(S+1)/3] + B4 m^4 + g muB B m, S = 10, the preset's D', B4,
                C from the published Stevens parameters (tunnel_splittings_reference.py,
                docs/physics.md 10.2), g = 2.05, aligned field (Bx = 0)
    spin-phonon W(m -> m') = kappa(T) c s(m -> m') f(E_m' - E_m, T), |m' - m| = 1, 2,
                f(dE, T) = dE^3 / (exp(dE/T) - 1), c = 1 and 12/32 (section 5)
    kappa(T)    = 1 / (tau0 exp(U_b/T) lambda1_0(T)), tau0 = 2.1e-7 s, U_b = 70.3 K,
                lambda1_0 the slowest non-zero rate of the unscaled spin-phonon generator at
                B = 0 (calibration without tunnelling, the default)
    tunnelling  for every resonance pair (m, m') below the barrier top coupled by C (m - m'
                a multiple of 4) and its mirror, whose window is open at the final field:
                Gamma = w(x) (Delta^2 / 2 hbar^2) W / (eps^2/hbar^2 + W^2),
                W = (W_m + W_m')/2 the mean total spin-phonon decay rate at T, eps = E_m' - E_m,
                w(x) = 1 (|x| <= 1/2), cos^2(pi(|x| - 1/2)) (< 1), 0 beyond,
                x = eps / (g muB |m - m'| B_1 / 2), B_1 = |D'|/(g muB);
                m -> m' at Gamma 2/(1 + e^(eps/T)), back at Gamma 2/(1 + e^(-eps/T))
                (section 10.5); Delta the minimum gap of the 70-digit dense diagonalization
                (tunnel_splittings_reference.splitting, via tunnelling_relaxation_reference)
    lattice     U_lat(T) = a T^4, a = 3 pi^4 / (5 theta_D^3), theta_D = 40.9 K (one Debye
                unit per molecule, no addenda, no link: an isolated sample)
    jump        n(0) = Boltzmann(E(B_i), T_i); B jumps to B_f at t = 0 (the work
                (E(B_f) - E(B_i)) . n(0) leaves T at T_i), then
                U_lat(T) + E(B_f) . n = U_lat(T_i) + E(B_f) . n(0)   (energy balance)
                dn/dt = K(B_f, T) n.

Numerics (as scripts/heat_link_reference.py): T is not a state but the closed-form root of the
energy balance (energies counted from the lowest level); dn/dt is assembled from the net flux
of every pair of levels (spin-phonon pairs and tunnelling channels), so a well's total changes
only by the fluxes across the barrier; kappa(T) from ln lambda1_0 at 50 digits (mp.eigsy of
the symmetrized generator) on 40 Chebyshev nodes in 1/T over [T_LO, T_HI], checked against
fresh values between the nodes; analytic Jacobian in n with the T dependence by a central
difference (it only steers Newton); Radau at rtol RTOL, atol 1e-20 on the populations,
restarted at every sample time (each sample is a step end). Everything is repeated at
RTOL_CHECK and the larger difference is printed. Self-check: the same code with the lattice's
heat capacity made huge (T fixed) against the exact exp(K t) n(0) of
tunnelling_relaxation_reference.txt (printed). Sensitivity: the same runs with every
tunnelling rate doubled, and without tunnelling (printed as comments).

Requirements: Python 3.11, numpy, scipy, mpmath
Usage:        python3 scripts/tunnelling_coupled_reference.py > scripts/tunnelling_coupled_reference.txt
Output: comment lines (#) and one line per sample:
    T_i B_f t_s T_k mean_m n_-10 .. n_10
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import json
import sys

import mpmath as mp
import numpy as np
from scipy.integrate import solve_ivp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _reference_common as common  # noqa: E402
import tunnel_splittings_reference as ts  # noqa: E402
import tunnelling_relaxation_reference as trr  # noqa: E402

PRESET = "mn12ac-barra"
MUB = 0.67171381563          # mu_B / k_B, K/T
KB_OVER_HBAR = 1.380649e-23 / 1.054571817e-34   # 1/(s K)
THETA_D = 40.9
A_LAT = 3.0 * np.pi**4 / (5.0 * THETA_D**3)
TAU0, UB = 2.1e-7, 70.3
B_INITIAL = 0.5
T_LO, T_HI, CHEB_DEG, DPS = 1.2, 3.6, 39, 50
RTOL, RTOL_CHECK = 1e-11, 1e-12
# (T_i in K, B_f in T, sample times after the jump in s)
SAMPLES = [1e-3, 0.1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5]
CASES = [(3.0, 0.0, SAMPLES), (3.0, 0.1, SAMPLES), (2.0, 0.1, SAMPLES)]

S = 10
NLEV = 2 * S + 1
M = np.arange(-S, S + 1, dtype=float)

with mp.workdps(70):
    P70 = ts.hamiltonian_parameters(PRESET)
_s, D_K, B4_K, C_K, E_K, G = (float(x) for x in P70)
B1 = abs(D_K) / (G * MUB)

# Spin-phonon pairs (a < b, |b - a| = 1, 2) with c s, the same in both directions.
PA, PB, CS, INC = common.spin_phonon_pairs(S)


def energies(b):
    return D_K * (M**2 - S * (S + 1) / 3.0) + B4_K * M**4 + G * MUB * b * M


def boltzmann(b, t):
    e = energies(b)
    w = np.exp(-(e - e.min()) / t)
    return w / w.sum()


# ---------------------------------------------------------------------------------------------
# kappa(T)
# ---------------------------------------------------------------------------------------------
def lambda1_zero_field_mp(t):
    """Slowest non-zero rate (K^3) of the unscaled spin-phonon generator at B = 0 with the
    preset's levels: second-smallest eigenvalue of minus the symmetrized generator."""
    with mp.workdps(DPS):
        t = mp.mpf(t)
        p = ts.hamiltonian_parameters(PRESET)
        e = [ts.axial(p, mp.mpf(i - S), 0) for i in range(NLEV)]
        return common.lambda1_symmetrized(e, t, PA, PB, CS)


class Kappa(common.LnLambda1Table):
    def __init__(self):
        super().__init__(lambda1_zero_field_mp, T_LO, T_HI, CHEB_DEG,
                         f"tunnelling_coupled_kappa_{PRESET}_{T_LO}_{T_HI}_{CHEB_DEG}_{DPS}.json")

    def __call__(self, t):
        self.require(t)
        return np.exp(-np.log(TAU0) - UB / t - self.ln_lambda1(t))

    def check(self):
        return super().check((1.27, 1.55, 1.9, 2.2, 2.61, 2.95, 3.33, 3.55))


# ---------------------------------------------------------------------------------------------
# Tunnelling channels open at B_f (Delta from the 70-digit diagonalization, cached)
# ---------------------------------------------------------------------------------------------
def channels(bf):
    cache = os.path.join(os.environ.get("TMPDIR", "/tmp"),
                         f"tunnelling_coupled_pairs_{PRESET}_{bf}.json")
    if os.path.exists(cache):
        with open(cache) as fh:
            return [tuple(x) for x in json.load(fh)]
    with mp.workdps(70):
        out = [(int(i), int(ip), float(d)) for i, ip, d in trr.open_pairs(P70, mp.mpf(bf))]
    with open(cache, "w") as fh:
        json.dump(out, fh)
    return out


def window(e, i, ip):
    x = abs(e[ip] - e[i]) / (B1 / 2 * G * MUB * abs(i - ip))
    if x <= 0.5:
        return 1.0
    if x < 1.0:
        return np.cos(np.pi * (x - 0.5)) ** 2
    return 0.0


# ---------------------------------------------------------------------------------------------
# One case
# ---------------------------------------------------------------------------------------------
class Case:
    def __init__(self, ti, bf, kappa, scale=1.0, gamma=0.0):
        """`scale` multiplies every tunnelling rate (0: without tunnelling); `gamma` an
        addenda heat capacity gamma T per molecule (1e12: T fixed, the self-check)."""
        self.ti, self.bf, self.kappa = ti, bf, kappa
        self.lattice = common.Lattice(A_LAT, gamma)
        self.e = energies(bf)
        self.e_rel = self.e - self.e.min()
        ch = channels(bf) if scale != 0.0 else []
        self.ti_idx = np.array([c[0] for c in ch], dtype=int)
        self.tp_idx = np.array([c[1] for c in ch], dtype=int)
        delta_w = np.array([c[2] for c in ch]) * KB_OVER_HBAR          # 1/s
        self.eps = np.array([self.e[ip] - self.e[i] for i, ip, _ in ch])   # K
        eps_w = self.eps * KB_OVER_HBAR
        win = np.array([window(self.e, i, ip) for i, ip, _ in ch])
        self.t_pref = scale * win * delta_w**2 / 2.0          # times W / (eps_w^2 + W^2)
        self.t_eps2 = eps_w**2
        tinc = np.zeros((NLEV, len(ch)))
        tinc[self.tp_idx, np.arange(len(ch))] += 1.0
        tinc[self.ti_idx, np.arange(len(ch))] -= 1.0
        self.tinc = tinc
        self.n0 = boltzmann(B_INITIAL, ti)
        self.u0 = self.u_lat(ti) + self.e_rel @ self.n0

    def u_lat(self, t):
        return self.lattice.energy(t)

    def c_lat(self, t):
        return self.lattice.heat_capacity(t)

    def temperature(self, n):
        return self.lattice.temperature(self.u0 - self.e_rel @ n)

    def rates(self, temp):
        """(spin-phonon r_ab, r_ba; tunnelling forward i -> i', backward i' -> i), 1/s."""
        kap = self.kappa(temp)
        de = self.e[PB] - self.e[PA]
        u = np.abs(de) / temp
        # dE^3 / expm1(dE/T) = dE^2 T x, x = u / expm1(u) -> 1 at a degeneracy (B = 0: the
        # pair -1, +1), so that the rate there is its limit (zero).
        x = np.ones_like(u)
        nz = u > 0.0
        x[nz] = u[nz] / np.expm1(u[nz])
        up = kap * CS * de**2 * temp * x                  # energy up
        down = up + kap * CS * np.abs(de) ** 3            # energy down (1 + n_B)
        r_ab = np.where(de > 0, up, down)
        r_ba = np.where(de > 0, down, up)
        if self.ti_idx.size == 0:
            return r_ab, r_ba, np.zeros(0), np.zeros(0)
        out = np.zeros(NLEV)                    # total spin-phonon decay rate of each level
        np.add.at(out, PA, r_ab)
        np.add.at(out, PB, r_ba)
        w = 0.5 * (out[self.ti_idx] + out[self.tp_idx])
        gam = self.t_pref * w / (self.t_eps2 + w * w)
        x = self.eps / temp
        fwd = gam * 2.0 / (1.0 + np.exp(x))
        bwd = gam * 2.0 / (1.0 + np.exp(-x))
        return r_ab, r_ba, fwd, bwd

    def dn(self, n, temp):
        r_ab, r_ba, fwd, bwd = self.rates(temp)
        d = INC @ (r_ab * n[PA] - r_ba * n[PB])
        if fwd.size:
            d += self.tinc @ (fwd * n[self.ti_idx] - bwd * n[self.tp_idx])
        return d

    def rhs(self, t, n):
        return self.dn(n, self.temperature(n))

    def jac(self, t, n):
        temp = self.temperature(n)
        r_ab, r_ba, fwd, bwd = self.rates(temp)
        j = np.zeros((NLEV, NLEV))
        np.add.at(j, (PB, PA), r_ab)
        np.add.at(j, (PA, PB), r_ba)
        np.add.at(j, (PA, PA), -r_ab)
        np.add.at(j, (PB, PB), -r_ba)
        np.add.at(j, (self.tp_idx, self.ti_idx), fwd)
        np.add.at(j, (self.ti_idx, self.tp_idx), bwd)
        np.add.at(j, (self.ti_idx, self.ti_idx), -fwd)
        np.add.at(j, (self.tp_idx, self.tp_idx), -bwd)
        h = 1e-6 * temp
        ddt = (self.dn(n, temp + h) - self.dn(n, temp - h)) / (2.0 * h)
        j += np.outer(ddt, -self.e_rel / self.c_lat(temp))
        return j

    def run(self, times, rtol):
        y, t_now, out = self.n0.copy(), 0.0, []
        for ts_ in times:
            sol = solve_ivp(self.rhs, (t_now, ts_), y, method="Radau", jac=self.jac,
                            rtol=rtol, atol=1e-20)
            if sol.status != 0:
                raise RuntimeError(f"{sol.message} at t = {sol.t[-1]}")
            y, t_now = sol.y[:, -1], ts_
            out.append((ts_, self.temperature(y), y.copy()))
        return out


def mean_m(n):
    return float(M @ n)


def fixed_temperature_check(kappa):
    """Largest relative difference of the populations (above 1e-12) and of <m> against the
    exact exp(K t) n(0) of tunnelling_relaxation_reference.txt (T fixed by a huge gamma)."""
    here = os.path.dirname(os.path.abspath(__file__))
    rows = [list(map(float, line.split())) for line in
            open(os.path.join(here, "tunnelling_relaxation_reference.txt"))
            if not line.startswith("#")]
    worst_n = worst_m = 0.0
    for ti, bf in sorted({(r[0], r[1]) for r in rows}):
        mine = [r for r in rows if r[0] == ti and r[1] == bf]
        res = Case(ti, bf, kappa, gamma=1e12).run([r[2] for r in mine], RTOL)
        for r, (_, _, n) in zip(mine, res):
            want = np.array(r[3:])
            big = want > 1e-12
            worst_n = max(worst_n, float(np.max(np.abs(n[big] - want[big]) / want[big])))
            worst_m = max(worst_m, abs(mean_m(n) - mean_m(want)))
    return worst_n, worst_m


def main():
    kappa = Kappa()
    print(f"# Coupled relaxation with resonant tunnelling: {PRESET} (aligned, C = {C_K:.6g} K, "
          f"B4 = {B4_K:.6g} K, D' = {D_K:.8g} K), one molecule's Debye lattice "
          f"(theta_D = {THETA_D} K), no addenda, no link")
    print(f"# jump {B_INITIAL} T -> B_f at t = 0 from equilibrium at T_i; kappa calibrated "
          f"without tunnelling (tau0 = {TAU0} s, U_b = {UB} K)")
    print(f"# SciPy Radau rtol {RTOL}, atol 1e-20; kappa table: ln lambda1_0 from {DPS}-digit "
          f"mp.eigsy on {CHEB_DEG + 1} Chebyshev nodes in 1/T over [{T_LO}, {T_HI}] K, "
          f"max error between nodes {kappa.check():.1e}")
    wn, wm = fixed_temperature_check(kappa)
    print(f"# self-check at fixed T (gamma = 1e12) against tunnelling_relaxation_reference.txt "
          f"(mpmath exp(K t)): populations above 1e-12 to {wn:.1e} relative, <m> to {wm:.1e}")
    print("# columns: T_i_k B_f_t t_s T_k mean_m n_-10 .. n_10")
    for ti, bf, times in CASES:
        ch = channels(bf)
        print(f"# case T_i = {ti} K, B_f = {bf} T: channels (m, m', Delta_K) "
              + ", ".join(f"({i - S}, {ip - S}, {d:.6g})" for i, ip, d in ch))
        res = Case(ti, bf, kappa).run(times, RTOL)
        chk = Case(ti, bf, kappa).run(times, RTOL_CHECK)
        doubled = Case(ti, bf, kappa, scale=2.0).run(times, RTOL)
        without = Case(ti, bf, kappa, scale=0.0).run(times, RTOL)
        d_t = max(abs(a[1] - b[1]) for a, b in zip(res, chk))
        d_n = max(float(np.max(np.abs(a[2] - b[2]) / np.maximum(b[2], 1e-300)
                               * (b[2] > 1e-12))) for a, b in zip(res, chk))
        print(f"#   rtol {RTOL} vs {RTOL_CHECK}: T within {d_t:.1e} K, populations above 1e-12 "
              f"within {d_n:.1e} relative")
        for (t, temp, n), (_, t2, n2), (_, t0, n0) in zip(res, doubled, without):
            print(f"#   t = {t:g} s: T {temp:.10f} K, <m> {mean_m(n):.10f}; with 2 Gamma: "
                  f"T {t2:.10f} K, <m> {mean_m(n2):.10f}; without tunnelling: T {t0:.10f} K, "
                  f"<m> {mean_m(n0):.10f}")
        for t, temp, n in res:
            print(f"{ti:g} {bf:g} {t:g} {temp:.16g} {mean_m(n):.16g} "
                  + " ".join(f"{x:.16g}" for x in n), flush=True)


if __name__ == "__main__":
    main()
