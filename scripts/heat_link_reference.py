#!/usr/bin/env python3
"""
Independent reference for the heat link and the addenda (issue 14): the full (2S+1)-level
master equation of Mn12Ac with a Debye lattice, addenda and a thermal link to a bath,
integrated with SciPy's Radau, written from the physics (docs/physics.md sections 2, 3, 5, 6.6),
not from the Rust engine. The engine uses a two-well reduction and its own kappa table; this
script uses neither: all 21 populations are integrated through the ramp and after it.

Model (energies and temperatures in K, i.e. E/k_B; time in s; per molecule, k_B = 1)
    E_M(B) = D (M^2 - S(S+1)/3) + g muB B M,  M = -S..S,  S = 10, D = -0.5 cm^-1, g = 2.05
    rates M -> M' (|M' - M| = 1, 2): kappa(T) c s(M -> M') f(E_M' - E_M, T)
        f(dE, T) = dE^3 / (exp(dE/T) - 1),  c = 1 (|dM| = 1), 12/32 (|dM| = 2)
    kappa(T) = 1 / (tau0 exp(U_b/T) lambda1_0(T))   (Arrhenius scaling: tau0 = 2.1e-7 s,
        U_b = 70.3 K; lambda1_0 the slowest non-zero rate of the unscaled generator at B = 0)
    lattice + addenda: U_lat(T) = a T^4 + gamma' T^2 / 2 + beta' T^4 / 4,
        a = 3 pi^4 / (5 theta_D^3), theta_D = 40.9 K; gamma' = gamma / (n R), beta' = beta / (n R)
    link: Qdot(T) = K1' (T^(n+1) - T_b^(n+1)) / (n + 1),  K1' = K1 / (n_mol R)  (K(T) = K1' T^n)
    field: B(t) = B_i + (B_f - B_i) t / t_q for t < t_q (linear ramp), B_f after.
    state y = (n_-S .. n_S, w, q):
        dn/dt = kappa(T) W0(B(t), T) n                (net fluxes per pair of levels)
        dw/dt = dB/dt sum_M n_M g muB M               (magnetic work on the spins)
        dq/dt = Qdot(T)                               (heat that has left to the bath)
        T from the energy balance U_lat(T) = U_0 + w - q - sum_M E_M(B(t)) n_M,
        U_0 = sum_M E_M(B_i) n_M(0) + U_lat(T_i), n(0) = Boltzmann(B_i, T_i).

Numerics (why it works in double precision where scipy_reference.py did not, issue 19)
  * kappa(T) is smooth and accurate: ln lambda1_0 from mpmath (50 digits, the full 21 x 21
    symmetrized generator, mp.eigsy) at Chebyshev nodes in u = 1/T, interpolated by a
    Chebyshev series; its derivative gives d ln kappa/dT for the Jacobian. It is checked
    against fresh mpmath values between the nodes (the 'kappa_table_check' entry). Never an
    eigvalsh per right-hand side.
  * T is not a state: it comes from the energy balance in closed form (U_lat is a quadratic in
    T^2), so the slow over-barrier heat exchange is never a difference of large fluxes.
  * dn/dt is built from the net flux of each pair of levels (r_ab n_a - r_ba n_b, added to one
    level and taken from the other), so each well's total changes only by the fluxes of the
    pairs that cross the barrier, never by the rounding of the fast intra-well fluxes. Uphill
    and downhill rates are each computed without cancellation (|dE|^3 / expm1(|x|) and
    |dE|^3 (1 + 1 / expm1(|x|))).
  * Analytic Jacobian (rates, their T dependence through f and kappa, T through the energy
    balance: dT/dn_j = -E_j / C, dT/dw = 1 / C, dT/dq = -1 / C).
  * solve_ivp Radau, rtol 1e-10 (atol 1e-15 on n, 1e-14 K on w and q), restarted at every
    sample time so that each sample is an integrator step end, not an interpolation; the ramp
    is its own segment. The lowest temperature after the ramp: bracketed on the accepted
    steps, located by Brent's method on the dense output, then T there from a run that ends
    exactly at that time. The whole computation is repeated at rtol 1e-12 and the larger
    difference is reported as 'self_difference_k'.

Usage
    python3 -m venv /tmp/ref-venv && /tmp/ref-venv/bin/pip install numpy scipy mpmath
    /tmp/ref-venv/bin/python scripts/heat_link_reference.py > scripts/heat_link_reference.json
    /tmp/ref-venv/bin/python scripts/heat_link_reference.py --segments \
        > scripts/heat_link_segments_reference.json
The second run is a refrigeration cycle with a heat switch (SegmentedCase): B(t) piecewise
linear through the segments' corners, the link's flow K1' (T^(n+1) - T_b^(n+1)) / (n + 1)
on in the segments whose switch is closed and 0 in the others, each segment integrated on
its own; it reports each segment's end temperature and lowest temperature (and when), and
the samples after the last segment.
The output is JSON (one object, 'cases': inputs in the engine's key names and units, results);
tests/heat_link_reference.rs reads it and runs smmcool on the same cases.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import json
import platform
import sys
import time

import mpmath as mp
import numpy as np
import scipy
from scipy.integrate import solve_ivp
from scipy.optimize import minimize_scalar

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _reference_common as common  # noqa: E402

# ---------------------------------------------------------------------------
# Constants and material (Mn12Ac, the paper's values; CODATA 2018 conversions)
# ---------------------------------------------------------------------------
CM1_K = 1.438776877                 # 1 cm^-1 in K
MUB = 0.67171381563                 # mu_B / k_B, K/T
R_GAS = 6.02214076e23 * 1.380649e-23  # J/(mol K)
S = 10
D = -0.5 * CM1_K
G = 2.05
THETA_D = 40.9
TAU0 = 2.1e-7
UB = 70.3
A_LAT = 3.0 * np.pi**4 / (5.0 * THETA_D**3)

M = np.arange(-S, S + 1, dtype=float)
NLEV = M.size
DEDB = G * MUB * M                  # dE_M/dB, K/T

# Pairs (a < b) of levels joined by a transition, with c s (symmetric in the direction);
# dn = INC @ (net flux a -> b).
PA, PB, CS, INC = common.spin_phonon_pairs(S)
NPAIR = PA.size


def energies(b):
    return D * (M**2 - S * (S + 1) / 3.0) + G * MUB * b * M


def boltzmann(b, t):
    e = energies(b)
    w = np.exp(-(e - e.min()) / t)
    return w / w.sum()


# ---------------------------------------------------------------------------
# kappa(T): lambda1_0 at 50 digits on Chebyshev nodes in u = 1/T
# ---------------------------------------------------------------------------
T_LO, T_HI, CHEB_DEG, DPS = 1.5, 5.0, 48, 50


def lambda1_zero_field_mp(t):
    """Slowest non-zero rate (K^3) of the unscaled generator at B = 0, T = t, in mpmath:
    second-smallest eigenvalue of minus the symmetrized generator (detailed balance makes
    sqrt(W_ij W_ji) symmetric with the same spectrum)."""
    with mp.workdps(DPS):
        t = mp.mpf(t)
        d = mp.mpf(-0.5) * mp.mpf("1.438776877")
        e = [d * (m * m - mp.mpf(S * (S + 1)) / 3) for m in range(-S, S + 1)]
        return common.lambda1_symmetrized(e, t, PA, PB, CS)


class Kappa(common.LnLambda1Table):
    def __init__(self):
        super().__init__(lambda1_zero_field_mp, T_LO, T_HI, CHEB_DEG,
                         f"heat_link_reference_kappa_{T_LO}_{T_HI}_{CHEB_DEG}_{DPS}.json")
        self.dcoef = np.polynomial.chebyshev.chebder(self.coef)

    def __call__(self, t):
        """kappa(T) (1/(s K^3)) and d ln kappa / dT (1/K)."""
        self.require(t)
        u = 1.0 / t
        s = self.scale * u - self.shift
        h = np.polynomial.chebyshev.chebval(s, self.coef)
        dh = np.polynomial.chebyshev.chebval(s, self.dcoef) * self.scale
        return np.exp(-np.log(TAU0) - UB * u - h), (UB + dh) * u * u

    def check(self):
        """Largest |ln lambda1 table - mpmath| at points between the nodes."""
        return super().check((1.61, 2.05, 2.5, 2.93, 3.37, 3.81, 4.29, 4.77))


# ---------------------------------------------------------------------------
# One case: the system, its right-hand side and Jacobian
# ---------------------------------------------------------------------------
class Case:
    def __init__(self, spec, kappa):
        self.spec, self.kappa = spec, kappa
        nr = spec["amount_mol"] * R_GAS
        self.gamma = spec["addenda_gamma_j_per_k2"] / nr
        self.beta = spec["addenda_beta_j_per_k4"] / nr
        self.lattice = common.Lattice(A_LAT, self.gamma, self.beta)
        self.k1 = spec["link_conductance_w_per_k"] / nr
        self.nexp = spec["link_exponent"]
        self.tb = spec["bath_temperature_k"]
        self.bi, self.bf = spec["b_initial_t"], spec["b_final_t"]
        self.ti = spec["initial_temperature_k"]
        self.rate = spec["sweep_rate_t_per_s"]
        self.tq = abs(self.bf - self.bi) / self.rate
        self.bdot = (self.bf - self.bi) / self.tq
        self.n0 = boltzmann(self.bi, self.ti)
        self.u0 = energies(self.bi) @ self.n0 + self.u_lat(self.ti)

    # lattice + addenda
    def u_lat(self, t):
        return self.lattice.energy(t)

    def c_lat(self, t):
        return self.lattice.heat_capacity(t)

    def t_of_u(self, u):
        return self.lattice.temperature(u)

    def heat_flow(self, t):
        m = self.nexp + 1.0
        return self.k1 * (t**m - self.tb**m) / m

    def field(self, t):
        return self.bi + self.bdot * t if t < self.tq else self.bf

    def temperature(self, t, y):
        return self.t_of_u(self.u0 + y[NLEV] - y[NLEV + 1] - energies(self.field(t)) @ y[:NLEV])

    def pair_rates(self, b, temp, with_dt=False):
        """Rates a -> b and b -> a of every pair at field b, temperature temp (1/s)."""
        kap, dlnk = self.kappa(temp)
        e = energies(b)
        de = e[PB] - e[PA]
        u = np.abs(de) / temp
        g = 1.0 / np.expm1(u)                       # n_B of the phonon
        base = kap * CS * np.abs(de) ** 3
        up, down = base * g, base * (1.0 + g)       # energy up, energy down
        r_ab = np.where(de > 0, up, down)
        r_ba = np.where(de > 0, down, up)
        if not with_dt:
            return r_ab, r_ba
        dup = up * (dlnk + (u / temp) * (1.0 + g))   # d/dT of each
        ddown = down * (dlnk + (u / temp) * g)
        return r_ab, r_ba, np.where(de > 0, dup, ddown), np.where(de > 0, ddown, dup)

    def rhs(self, t, y):
        b = self.field(t)
        n = y[:NLEV]
        temp = self.temperature(t, y)
        r_ab, r_ba = self.pair_rates(b, temp)
        dn = INC @ (r_ab * n[PA] - r_ba * n[PB])
        dw = self.bdot * (DEDB @ n) if t < self.tq else 0.0
        return np.concatenate([dn, [dw, self.heat_flow(temp)]])

    def jac(self, t, y):
        b = self.field(t)
        n = y[:NLEV]
        temp = self.temperature(t, y)
        r_ab, r_ba, d_ab, d_ba = self.pair_rates(b, temp, with_dt=True)
        ny = NLEV + 2
        j = np.zeros((ny, ny))
        np.add.at(j, (PB, PA), r_ab)     # repeated indices accumulate
        np.add.at(j, (PA, PB), r_ba)
        np.add.at(j, (PA, PA), -r_ab)
        np.add.at(j, (PB, PB), -r_ba)
        c = self.c_lat(temp)
        dtdy = np.concatenate([-energies(b) / c, [1.0 / c, -1.0 / c]])
        dndt = INC @ (d_ab * n[PA] - d_ba * n[PB])
        j[:NLEV, :] += np.outer(dndt, dtdy)
        if t < self.tq:
            j[NLEV, :NLEV] = self.bdot * DEDB
        j[NLEV + 1, :] = self.k1 * temp**self.nexp * dtdy
        return j

    # -----------------------------------------------------------------------
    def integrate(self, t0, y0, t1, rtol, dense=False):
        atol = np.concatenate([np.full(NLEV, 1e-15), [1e-14, 1e-14]])
        sol = solve_ivp(self.rhs, (t0, t1), y0, method="Radau", jac=self.jac, rtol=rtol,
                        atol=atol, dense_output=dense)
        if sol.status != 0:
            raise RuntimeError(f"{self.spec['name']}: {sol.message} at t = {sol.t[-1]}")
        return sol

    def run(self, rtol):
        """Samples after the ramp and the lowest temperature after the ramp."""
        y0 = np.concatenate([self.n0, [0.0, 0.0]])
        ramp = self.integrate(0.0, y0, self.tq, rtol)
        y = ramp.y[:, -1]
        steps = ramp.t.size - 1
        t_now = self.tq
        samples = []
        best = (self.temperature(self.tq, y), self.tq, None)   # (T, t, dense output)
        for ts in self.spec["sample_times_after_ramp_s"]:
            sol = self.integrate(t_now, y, self.tq + ts, rtol, dense=True)
            steps += sol.t.size - 1
            temps = [self.temperature(t, sol.y[:, k]) for k, t in enumerate(sol.t)]
            k = int(np.argmin(temps))
            if temps[k] < best[0]:
                lo = sol.t[max(k - 1, 0)]
                hi = sol.t[min(k + 1, sol.t.size - 1)]
                best = (temps[k], sol.t[k], (sol.sol, lo, hi, t_now, y.copy()))
            y = sol.y[:, -1]
            t_now = self.tq + ts
            samples.append(dict(t_after=ts, T=self.temperature(t_now, y), q=y[NLEV + 1],
                                right=float(y[S + 1:].sum() + 0.5 * y[S]), nsum=y[:NLEV].sum()))
        t_min, what = best[1], best[2]
        if what is not None:
            dense, lo, hi, start_t, start_y = what
            f = lambda t: self.temperature(t, dense(t))
            opt = minimize_scalar(f, bounds=(lo, hi), method="bounded",
                                  options=dict(xatol=1e-10 * hi))
            t_min = opt.x
            # T at t_min from a run that ends there (a step end, not the interpolant)
            sol = self.integrate(start_t, start_y, t_min, rtol)
            t_min_k = self.temperature(t_min, sol.y[:, -1])
        else:
            t_min_k = best[0]
        return samples, t_min_k, t_min - self.tq, steps

    def link_time_constant_s(self):
        """C / K at T_i with C the heat capacity the link drains right after a field change
        (wells frozen): lattice + addenda + each well's intra-well spin heat capacity at B_f,
        P_w Var_w(E) / T^2, wells split at M = 0 with that level counted half in each."""
        if self.k1 == 0.0:
            return None
        t = self.ti
        e = energies(self.bf)
        eq = boltzmann(self.bf, t)
        c = self.c_lat(t)
        for side in (M < 0, M > 0):
            w = np.where(side, eq, 0.0) + np.where(M == 0, 0.5 * eq, 0.0)
            mass = w.sum()
            mean = (w @ e) / mass
            c += mass * ((w @ (e - mean) ** 2) / mass) / t**2
        return c / (self.k1 * t**self.nexp)


# ---------------------------------------------------------------------------
# The cases: the paper's protocol (0.5 T -> 0.1 T at 10 T/s, configs/default.toml) from
# 3, 3.5 and 4 K, links with time constants C/K at T_i from ~1 s to ~1e3 s, with and
# without addenda, K(T) constant, linear and quadratic in T. 1e-6 mol of Mn12Ac (~2 mg).
# ---------------------------------------------------------------------------
SAMPLES = [1e-3, 0.1, 1.0, 10.0, 100.0, 1e3, 3600.0, 1e4, 1e5]
CASES = [
    dict(name="4K_link_5e-7_n0", initial_temperature_k=4.0, link_conductance_w_per_k=5e-7,
         link_exponent=0.0, addenda_gamma_j_per_k2=0.0, addenda_beta_j_per_k4=0.0),
    dict(name="4K_link_3e-7_n2_addenda", initial_temperature_k=4.0,
         link_conductance_w_per_k=3e-7, link_exponent=2.0, addenda_gamma_j_per_k2=2e-7,
         addenda_beta_j_per_k4=0.0),
    dict(name="3.5K_link_4e-8_n0", initial_temperature_k=3.5, link_conductance_w_per_k=4e-8,
         link_exponent=0.0, addenda_gamma_j_per_k2=0.0, addenda_beta_j_per_k4=0.0),
    dict(name="3K_link_1.5e-9_n1_addenda", initial_temperature_k=3.0,
         link_conductance_w_per_k=1.5e-9, link_exponent=1.0, addenda_gamma_j_per_k2=1e-7,
         addenda_beta_j_per_k4=5e-8),
]
for _c in CASES:
    _c.update(b_initial_t=0.5, b_final_t=0.1, sweep_rate_t_per_s=10.0, amount_mol=1e-6,
              bath_temperature_k=_c["initial_temperature_k"],
              sample_times_after_ramp_s=SAMPLES)


# ---------------------------------------------------------------------------
# A segmented refrigeration cycle with a heat switch (docs/physics.md 6.8): the same model,
# B(t) piecewise linear through the segments' corners and the link's flow switched per
# segment. Each segment is integrated on its own (the right-hand side is smooth inside it);
# the relaxation after the last segment keeps its switch.
# ---------------------------------------------------------------------------
class SegmentedCase(Case):
    def __init__(self, spec, kappa):
        # The base class's single ramp is not used (a placeholder 1 T ramp at 1 T/s).
        super().__init__(dict(spec, b_final_t=spec["b_initial_t"] + 1.0, sweep_rate_t_per_s=1.0),
                         kappa)
        self.spec = spec
        self.tq = 0.0
        self.pieces = []      # (cycle, segment, t0, t1, b0, b1, link_closed)
        t, b = 0.0, spec["b_initial_t"]
        for cycle in range(spec["cycles"]):
            for k, seg in enumerate(spec["segment"]):
                if seg["kind"] == "hold":
                    t1, b1 = t + seg["duration_s"], b
                else:
                    b1 = seg["b_final_t"]
                    t1 = t + abs(b1 - b) / seg["sweep_rate_t_per_s"]
                self.pieces.append((cycle, k, t, t1, b, b1, seg.get("link_closed", False)))
                t, b = t1, b1
        self.t_end = t
        self.set_piece(self.pieces[0])

    def set_piece(self, piece):
        _, _, t0, t1, b0, b1, closed = piece
        self.t0, self.b0 = t0, b0
        self.bdot_now = (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0
        self.link_on = 1.0 if closed else 0.0

    def field(self, t):
        return self.b0 + self.bdot_now * (t - self.t0)

    def pair_rates(self, b, temp, with_dt=False):
        """As Case.pair_rates, written so that a pair degenerate at B = 0 (dE = 0: the cycle
        ramps to 0 T) has its limit: dE^3 / expm1(dE/T) = dE^2 T x with x = u / expm1(u) -> 1."""
        kap, dlnk = self.kappa(temp)
        e = energies(b)
        de = e[PB] - e[PA]
        u = np.abs(de) / temp
        x = np.ones_like(u)
        nz = u > 0.0
        x[nz] = u[nz] / np.expm1(u[nz])
        up = kap * CS * de**2 * temp * x            # energy up
        down = up + kap * CS * np.abs(de) ** 3      # energy down (1 + n_B)
        r_ab = np.where(de > 0, up, down)
        r_ba = np.where(de > 0, down, up)
        if not with_dt:
            return r_ab, r_ba
        dup = up * (dlnk + (u + x) / temp)          # (u/T)(1 + n_B) = (u + x) / T
        ddown = down * (dlnk + x / temp)            # (u/T) n_B = x / T
        return r_ab, r_ba, np.where(de > 0, dup, ddown), np.where(de > 0, ddown, dup)

    def rhs(self, t, y):
        n = y[:NLEV]
        temp = self.temperature(t, y)
        r_ab, r_ba = self.pair_rates(self.field(t), temp)
        dn = INC @ (r_ab * n[PA] - r_ba * n[PB])
        dw = self.bdot_now * (DEDB @ n)
        return np.concatenate([dn, [dw, self.link_on * self.heat_flow(temp)]])

    def jac(self, t, y):
        b = self.field(t)
        n = y[:NLEV]
        temp = self.temperature(t, y)
        r_ab, r_ba, d_ab, d_ba = self.pair_rates(b, temp, with_dt=True)
        ny = NLEV + 2
        j = np.zeros((ny, ny))
        np.add.at(j, (PB, PA), r_ab)
        np.add.at(j, (PA, PB), r_ba)
        np.add.at(j, (PA, PA), -r_ab)
        np.add.at(j, (PB, PB), -r_ba)
        c = self.c_lat(temp)
        dtdy = np.concatenate([-energies(b) / c, [1.0 / c, -1.0 / c]])
        dndt = INC @ (d_ab * n[PA] - d_ba * n[PB])
        j[:NLEV, :] += np.outer(dndt, dtdy)
        j[NLEV, :NLEV] = self.bdot_now * DEDB
        j[NLEV + 1, :] = self.link_on * self.k1 * temp**self.nexp * dtdy
        return j

    def lowest(self, t0, y0, t1, rtol):
        """The end state and the lowest temperature (T, t) of [t0, t1]: bracketed on the
        step ends, located by Brent's method on the dense output, T there from a run that
        ends at that time."""
        sol = self.integrate(t0, y0, t1, rtol, dense=True)
        temps = [self.temperature(t, sol.y[:, k]) for k, t in enumerate(sol.t)]
        k = int(np.argmin(temps))
        best = (temps[k], sol.t[k])
        if 0 < k < sol.t.size - 1:
            f = lambda t: self.temperature(t, sol.sol(t))
            opt = minimize_scalar(f, bounds=(sol.t[k - 1], sol.t[k + 1]), method="bounded",
                                  options=dict(xatol=1e-10 * sol.t[k + 1]))
            end = self.integrate(t0, y0, opt.x, rtol)
            t_at = self.temperature(opt.x, end.y[:, -1])
            if t_at < best[0]:
                best = (t_at, opt.x)
        return sol, best

    def run(self, rtol):
        y = np.concatenate([self.n0, [0.0, 0.0]])
        segments, steps = [], 0
        for piece in self.pieces:
            self.set_piece(piece)
            cycle, k, t0, t1 = piece[:4]
            sol, (t_min, when) = self.lowest(t0, y, t1, rtol)
            steps += sol.t.size - 1
            y = sol.y[:, -1]
            segments.append(dict(cycle=cycle, segment=k, end_s=t1,
                                 end_temperature_k=self.temperature(t1, y),
                                 minimum_temperature_k=t_min, minimum_s=when,
                                 heat_to_bath_k=y[NLEV + 1]))
        # After the last segment: the field stays at its end value, the switch as it was.
        last = self.pieces[-1]
        self.set_piece((None, None, self.t_end, self.t_end, last[5], last[5], last[6]))
        samples, t_now = [], self.t_end
        for ts in self.spec["sample_times_after_ramp_s"]:
            sol = self.integrate(t_now, y, self.t_end + ts, rtol)
            steps += sol.t.size - 1
            y, t_now = sol.y[:, -1], self.t_end + ts
            samples.append(dict(T=self.temperature(t_now, y), q=y[NLEV + 1], nsum=y[:NLEV].sum()))
        return segments, samples, steps


# Mn12Ac, 1e-6 mol on a link of 4e-8 W/K to a bath at 3 K (C/K ~ 20 s), as
# configs/refrigeration_cycle.toml with shorter holds: two cycles of hold 100 s at 1 T
# linked, ramp to 0 T at 10 T/s open, watch 30 s open, ramp back to 1 T at 0.1 T/s linked.
SEGMENTED = dict(
    name="3K_cycle_link_4e-8", initial_temperature_k=3.0, b_initial_t=1.0, cycles=2,
    amount_mol=1e-6, link_conductance_w_per_k=4e-8, link_exponent=0.0, bath_temperature_k=3.0,
    addenda_gamma_j_per_k2=0.0, addenda_beta_j_per_k4=0.0,
    segment=[
        dict(kind="hold", duration_s=100.0, link_closed=True),
        dict(kind="ramp", b_final_t=0.0, sweep_rate_t_per_s=10.0, link_closed=False),
        dict(kind="hold", duration_s=30.0, link_closed=False),
        dict(kind="ramp", b_final_t=1.0, sweep_rate_t_per_s=0.1, link_closed=True),
    ],
    sample_times_after_ramp_s=[1.0, 10.0, 100.0, 1000.0],
)


def main_segments():
    t_start = time.perf_counter()
    kappa = Kappa()
    case = SegmentedCase(SEGMENTED, kappa)
    segments, samples, steps = case.run(1e-10)
    fine_segments, fine_samples, _ = case.run(1e-12)
    diff = max([abs(a["T"] - b["T"]) for a, b in zip(samples, fine_samples)]
               + [abs(a[k] - b[k]) for a, b in zip(segments, fine_segments)
                  for k in ("end_temperature_k", "minimum_temperature_k")])
    res = dict(SEGMENTED)
    res.update(
        segments=segments,
        temperature_k=[s["T"] for s in samples],
        heat_to_bath_k=[s["q"] for s in samples],
        self_difference_k=diff,
        population_sum_error=max(abs(s["nsum"] - 1.0) for s in samples),
        steps=steps,
    )
    out = dict(
        description="scripts/heat_link_reference.py --segments: a refrigeration cycle with a "
                    "heat switch in the full 21-level master equation, SciPy Radau rtol 1e-10 "
                    "(checked at 1e-12); temperatures in K, times in s since the start "
                    "(segments) or after the last segment (samples)",
        environment=dict(python=platform.python_version(), numpy=np.__version__,
                         scipy=scipy.__version__, mpmath=mp.__version__),
        kappa_table=dict(t_lo_k=T_LO, t_hi_k=T_HI, chebyshev_degree=CHEB_DEG, mp_dps=DPS,
                         max_abs_error_ln_lambda1=kappa.check()),
        cases=[res],
        wall_time_s=time.perf_counter() - t_start,
    )
    for s in segments:
        print(f"cycle {s['cycle']} segment {s['segment']}: end T {s['end_temperature_k']:.9f} K, "
              f"T_min {s['minimum_temperature_k']:.9f} K at {s['minimum_s']:.6g} s",
              file=sys.stderr)
    print(f"self difference {diff:.2e} K, {steps} steps", file=sys.stderr)
    json.dump(out, sys.stdout, indent=1)
    print()


def main():
    if sys.argv[1:] == ["--segments"]:
        return main_segments()
    t_start = time.perf_counter()
    kappa = Kappa()
    out = dict(
        description="scripts/heat_link_reference.py: full 21-level master equation with a "
                    "Debye lattice, addenda and a heat link, SciPy Radau rtol 1e-10 "
                    "(checked at 1e-12); temperatures in K, times in s after the ramp",
        environment=dict(python=platform.python_version(), numpy=np.__version__,
                         scipy=scipy.__version__, mpmath=mp.__version__),
        kappa_table=dict(t_lo_k=T_LO, t_hi_k=T_HI, chebyshev_degree=CHEB_DEG, mp_dps=DPS,
                         max_abs_error_ln_lambda1=kappa.check()),
        cases=[],
    )
    for spec in CASES:
        case = Case(spec, kappa)
        samples, t_min_k, t_min_s, steps = case.run(1e-10)
        fine, fine_min_k, fine_min_s, _ = case.run(1e-12)
        diff = max([abs(a["T"] - b["T"]) for a, b in zip(samples, fine)]
                   + [abs(t_min_k - fine_min_k)])
        res = dict(spec)
        res.update(
            link_time_constant_s=case.link_time_constant_s(),
            temperature_k=[s["T"] for s in samples],
            heat_to_bath_k=[s["q"] for s in samples],
            right_well=[s["right"] for s in samples],
            minimum_temperature_k=t_min_k,
            minimum_after_ramp_s=t_min_s,
            self_difference_k=diff,
            minimum_after_ramp_s_rtol_1e12=fine_min_s,
            population_sum_error=max(abs(s["nsum"] - 1.0) for s in samples),
            steps=steps,
        )
        out["cases"].append(res)
        print(f"{spec['name']}: tau_link {res['link_time_constant_s']:.4g} s, T_min "
              f"{t_min_k:.9f} K at {t_min_s:.6g} s, self difference {diff:.2e} K, "
              f"{steps} steps", file=sys.stderr, flush=True)
    out["wall_time_s"] = time.perf_counter() - t_start
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
