#!/usr/bin/env python3
"""
A fair Python baseline for smmcool (issue 19): the same model as
scripts/scipy_reference.py, written as a careful numerical expert would, integrated
with SciPy (Radau, BDF, LSODA) and with SUNDIALS CVODE (sundials4py, BDF, dense
direct solver), all with the analytic Jacobian.

Model (energies/temperatures in K, time in s): see scripts/scipy_reference.py, whose
functions (levels, transition table, Boltzmann start, energy balance) are imported.
Field jump Bi = 0.5 T -> Bf = 0.1 T at t = 0 from equilibrium at Ti = 4 K, then
relaxation at fixed Bf of y = [n_-10 .. n_10, T]:
    dn/dt = W(Bf, T) n,   C_ph(T) dT/dt = -sum_M E_M (W n)_M,
    W = kappa(T) W0,  kappa(T) = 1 / (tau0 exp(U_b/T) lambda1_0(T)).

What differs from scipy_reference.py (which stays as the record of the naive route)
  * lambda1_0(T), the slowest zero-field rate of W0, is computed ONCE, accurately:
    mpmath at 40 digits (antisymmetric M -> -M sector of the symmetrized matrix,
    10x10, mpmath.eigsy) on Chebyshev nodes in u = 1/T over [T_LO, T_HI] = [2, 4.5] K
    (the run goes from 4 K down to 2.334 K). ln lambda1_0 is fitted by a Chebyshev
    series in u (what smmcool itself does, in panels); its analytic derivative gives
    d ln kappa/dT for the Jacobian. The fit is checked against fresh 40-digit values
    at points between the nodes (CHECK lines). The table build is timed separately
    and cached in /tmp (SMMCOOL_BASELINE_CACHE); it is not part of the solver times.
  * Two formulations of the same equations (--formulation):
    'pairs' (default, the baseline): state n only, T from energy conservation,
      right-hand side from net fluxes per pair of levels (see PairSystem: this is
      what lets double precision carry the slow over-barrier physics);
    'plain': y = [n, T] as in scipy_reference.py, flux per transition
      (flux_k = r_k n_from(k), dn = Inc @ flux), heat term sum_k dE_k flux_k; it
      stalls below ~3.5 K (rounding noise, see PairSystem) and is run only to show
      that.
  * Analytic Jacobian, all of it (temperature dependence through dln f/dT and the
    table's d ln kappa/dT). In 'plain' it is an arrow matrix (pentadiagonal 21x21
    block plus a full T row and column), in 'pairs' the pentadiagonal block plus a
    rank-one term: no ordering has a small bandwidth, so LSODA's band options and
    CVODE's band solver do not apply; dense LU at this size is what a careful user
    picks. 'BDF-sparse' (the same Jacobian as a CSC matrix, solve_ivp then uses
    splu) is run to show that sparsity does not pay.
  * CVODE (sundials4py 7.x): BDF, SUNDenseMatrix + SUNLinSol_Dense, CVodeSetJacFn,
    same vector atol and rtol, CV_ONE_STEP with a stop time, values at the milestone
    times from CVodeGetDky; a non-physical Newton iterate (no energy left for the
    lattice) returns a recoverable error so that CVODE cuts the step.

What is measured, each in ONE run per method from t = 0 to T_END (default 1e9 s)
    at 1 ms, 1 s, 1 h, at t_eq_smmcool (where smmcool declares equilibrium) and at
    T_END: T there (solver interpolant), and at the first accepted step past that
    time the accepted steps, nfev, njev, wall and CPU time since the start of the
    integration; the same at the first accepted step with |T - T_eq| <= tol for
    tol = smmcool's equilibrium_tol_k (1e-9 K) and 1e-8, 1e-7, 1e-6 K. A wall-time
    cap per method (--cap, default 120 s) stops a run that stalls.

Usage (scripts/compare_baselines.sh builds the venv and runs this):
    python scripts/scipy_fair.py [--cap SECONDS] [--methods Radau,BDF,LSODA,BDF-sparse,CVODE]
Output: key=value lines with prefixes ENV, TABLE, CHECK, MILESTONE, RUN.
The script is single-threaded on purpose (BLAS threads pinned to 1).
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import hashlib
import json
import platform
import sys
import time

import numpy as np
import scipy
import scipy.sparse
from scipy.integrate import solve_ivp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scipy_reference as ref  # noqa: E402  (the model's definitions)

S, NLEV, NY = ref.S, ref.NLEV, ref.NY
TAU0, UB, A_PH = ref.TAU0, ref.UB, ref.A_PH
BF = ref.BF

RTOL = 1e-8
ATOL_N, ATOL_T = 1e-14, 1e-12
T_END = 1e9
T_LO, T_HI = 2.0, 4.5           # kappa table range, K
CHEB_DEG = 40                   # Chebyshev degree of ln lambda1_0(u), u = 1/T
MP_DPS = 40
EQ_TOL = 1e-9                   # |T - T_eq| for "at equilibrium", K (overridden by --eq-tol)
MILESTONES = [("1ms", 1e-3), ("1s", 1.0), ("1h", 3600.0)]


# ---------------------------------------------------------------------------
# lambda1_0(T) to 40 digits, and the Chebyshev table of ln lambda1_0 in u = 1/T
# ---------------------------------------------------------------------------
def lambda1_zero_field_mp(T, dps=MP_DPS):
    """Slowest nonzero rate of -W0(B = 0, T) (K^3) in mpmath at `dps` digits.

    At B = 0 the chain is symmetric under M -> -M and the slow mode is antisymmetric:
    on the basis (e_M - e_-M)/sqrt(2), M = 1..S, the symmetrized generator
    Wsym_ij = sqrt(W0_ij W0_ji) becomes A_ab = Wsym[a, b] - Wsym[a, -b]; lambda1 is the
    smallest eigenvalue of -A (10x10, symmetric positive definite).
    """
    import mpmath as mp
    with mp.workdps(dps):
        T = mp.mpf(T)
        Ms = list(range(-S, S + 1))
        D = -mp.mpf("0.5") * mp.mpf("1.438776877")
        E = [D * (m * m - mp.mpf(S * (S + 1)) / 3) for m in Ms]
        W = mp.zeros(NLEV, NLEV)
        for i, m in enumerate(Ms):
            for dm, c, s in (
                (+1, 1, (S - m) * (S + m + 1) * (2 * m + 1) ** 2),
                (-1, 1, (S + m) * (S - m + 1) * (2 * m - 1) ** 2),
                (+2, mp.mpf(12) / 32, (S - m) * (S + m + 1) * (S - m - 1) * (S + m + 2)),
                (-2, mp.mpf(12) / 32, (S + m) * (S - m + 1) * (S + m - 1) * (S - m + 2)),
            ):
                j = i + dm
                if 0 <= j < NLEV and s > 0:
                    dE = E[j] - E[i]
                    W[j, i] = c * s * dE**3 / mp.expm1(dE / T) if dE != 0 else mp.mpf(0)
        A = mp.zeros(S, S)
        for a in range(S):
            for b in range(S):
                i, j, jm = S + 1 + a, S + 1 + b, S - 1 - b
                if i == j:                       # diagonal: minus the escape rate
                    sij = -sum(W[k, i] for k in range(NLEV) if k != i)
                else:
                    sij = mp.sqrt(W[i, j] * W[j, i])
                A[a, b] = -(sij - mp.sqrt(W[i, jm] * W[jm, i]))
        return min(mp.eigsy(A, eigvals_only=True))


class KappaTable:
    """ln lambda1_0 as a Chebyshev series in u = 1/T on [1/T_HI, 1/T_LO]."""

    def __init__(self, coef, u_lo, u_hi, build_s, cached):
        self.coef = np.asarray(coef, dtype=float)
        self.dcoef = np.polynomial.chebyshev.chebder(self.coef)
        self.u_lo, self.u_hi = u_lo, u_hi
        self.scale = 2.0 / (u_hi - u_lo)
        self.shift = (u_hi + u_lo) / (u_hi - u_lo)
        self.build_s, self.cached = build_s, cached
        self.ln_tau0 = np.log(TAU0)

    @classmethod
    def build_or_load(cls, deg=CHEB_DEG, t_lo=T_LO, t_hi=T_HI, dps=MP_DPS):
        key = hashlib.sha1(json.dumps([deg, t_lo, t_hi, dps, 1]).encode()).hexdigest()[:12]
        cache_dir = os.environ.get("SMMCOOL_BASELINE_CACHE", "/tmp/smmcool-baselines")
        path = os.path.join(cache_dir, f"lambda1_cheb_{key}.json")
        u_lo, u_hi = 1.0 / t_hi, 1.0 / t_lo
        if os.path.exists(path):
            with open(path) as fh:
                d = json.load(fh)
            return cls(d["coef"], u_lo, u_hi, d["build_s"], cached=True)
        import mpmath as mp
        t0 = time.perf_counter()
        k = np.arange(deg + 1)
        s_nodes = np.cos(np.pi * (k + 0.5) / (deg + 1))          # Chebyshev points (1st kind)
        u_nodes = 0.5 * (u_hi + u_lo) + 0.5 * (u_hi - u_lo) * s_nodes
        h = np.array([float(mp.log(lambda1_zero_field_mp(1.0 / u, dps))) for u in u_nodes])
        coef = np.polynomial.chebyshev.chebfit(s_nodes, h, deg)  # interpolation at the nodes
        build_s = time.perf_counter() - t0
        os.makedirs(cache_dir, exist_ok=True)
        with open(path, "w") as fh:
            json.dump({"coef": coef.tolist(), "build_s": build_s, "deg": deg,
                       "t_lo": t_lo, "t_hi": t_hi, "dps": dps}, fh)
        return cls(coef, u_lo, u_hi, build_s, cached=False)

    def ln_lambda1(self, T):
        s = self.scale * (1.0 / np.asarray(T)) - self.shift
        return np.polynomial.chebyshev.chebval(s, self.coef)

    def kappa_dlnk(self, T):
        """kappa(T) and d ln kappa/dT; T scalar or array."""
        u = 1.0 / T
        s = self.scale * u - self.shift
        h = np.polynomial.chebyshev.chebval(s, self.coef)
        dh_du = np.polynomial.chebyshev.chebval(s, self.dcoef) * self.scale
        ln_k = -self.ln_tau0 - UB * u - h
        # d ln kappa / dT = d/du(-U_b u - h) * du/dT = (U_b + h') u^2
        return np.exp(ln_k), (UB + dh_du) * u * u


# ---------------------------------------------------------------------------
# Right-hand side and Jacobian on the transition list
# ---------------------------------------------------------------------------
class System:
    def __init__(self, table, B=BF):
        self.table = table
        E = ref.energies(B)
        self.E = E
        self.frm, self.to, self.cs = ref.TR_FROM, ref.TR_TO, ref.TR_CS
        self.dE = E[self.to] - E[self.frm]
        if np.any(self.dE == 0.0):
            raise ValueError("degenerate transition at this field: f needs its dE -> 0 limit")
        self.csdE3 = self.cs * self.dE**3
        ntr = self.dE.size
        self.inc = np.zeros((NLEV, ntr))
        self.inc[self.to, np.arange(ntr)] += 1.0
        self.inc[self.frm, np.arange(ntr)] -= 1.0
        self.diag = np.arange(NLEV)
        self.nrhs = self.njac = 0
        self.ny = NY
        self.y0 = ref.initial_state()
        self.atol = np.full(NY, ATOL_N)
        self.atol[NLEV] = ATOL_T

    def temperature(self, y):
        return y[NLEV]

    def full_state(self, y):
        """[n, T] (for the energy and norm checks)."""
        return y

    def rates(self, T):
        """r_k = kappa c s f(dE_k, T) and d r_k/dT (T scalar)."""
        kap, dlnk = self.table.kappa_dlnk(T)
        x = self.dE / T
        em1 = np.expm1(x)
        r = kap * self.csdE3 / em1
        # d ln f / dT = (x/T) e^x/(e^x - 1)
        dr = r * (dlnk + (x / T) * (em1 + 1.0) / em1)
        return r, dr

    def rhs(self, t, y):
        self.nrhs += 1
        if y.ndim == 2:                           # vectorized call: columns
            return np.column_stack([self.rhs1(y[:, j]) for j in range(y.shape[1])])
        return self.rhs1(y)

    def rhs1(self, y):
        n, T = y[:NLEV], y[NLEV]
        r, _ = self.rates(T)
        flux = r * n[self.frm]
        out = np.empty(NY)
        out[:NLEV] = self.inc @ flux
        out[NLEV] = -(self.dE @ flux) / (4.0 * A_PH * T**3)
        return out

    def jac(self, t, y, out=None):
        self.njac += 1
        n, T = y[:NLEV], y[NLEV]
        r, dr = self.rates(T)
        C = 4.0 * A_PH * T**3
        dC = 12.0 * A_PH * T**2
        J = np.zeros((NY, NY)) if out is None else out
        if out is not None:
            J[:] = 0.0
        J[self.to, self.frm] = r                   # W: rate from -> to
        J[self.diag, self.diag] = -np.bincount(self.frm, r, NLEV)
        nf = n[self.frm]
        J[:NLEV, NLEV] = self.inc @ (dr * nf)
        J[NLEV, :NLEV] = -np.bincount(self.frm, self.dE * r, NLEV) / C
        J[NLEV, NLEV] = -(self.dE @ (dr * nf)) / C + (self.dE @ (r * nf)) * dC / C**2
        return J


class PairSystem(System):
    """The 'pairs' formulation: the same model, arranged so that double precision can
    carry the slow over-barrier physics.

    * State n only (21 populations); T comes from energy conservation, which the
      model's T equation expresses: U_ph(T) = A T^4 = U0 - E(Bf).n, so
      T = ((U0 - E.n)/A)^(1/4) exactly, and the total energy cannot drift.
    * The right-hand side is built from NET fluxes per pair of levels (a, b):
      net_ab = r_ab n_a - r_ba n_b, dn = Inc_pairs @ net. Rounding in net_ab is
      ~eps x the gross flux (up to ~1e7 1/s on the lowest levels, so ~1e-9 1/s), but
      each computed net_ab is added to one level and subtracted from the other, so a
      well's total sum_M dn_M telescopes to the net fluxes of the few pairs that cross
      the barrier top, whose gross fluxes are tiny. The slow mode thus sees no
      rounding noise from the fast intra-well fluxes. In the 'plain' formulation
      (flux per transition, T as a state, heat term sum dE flux) that noise is, at a
      state with locally Boltzmann wells out of balance (against exact sums in
      mpmath of the same double-precision fluxes): 4e-13 / 2e-11 / 3e-11 1/s in
      dP_well/dt at 3.5 / 3 / 2.5 K (pairs: 4e-17 / 2e-18 / 2e-20), against a true
      dP/dt of 1e-3 / 5e-5 / 4e-7; and 1e-7 K/s in dT/dt at all three, against a
      true 3e-2 / 2e-3 / 2e-5 K/s. Near equilibrium the true rates go to zero, the
      noise does not: the solvers cut their steps, fail Newton iterations, and the
      energy drifts (RUN lines of the plain runs).
    Jacobian: W(T) + (dW/dT n) (dT/dn)^T with dT/dn_j = -E_j / C_ph(T) (rank one).
    """

    def __init__(self, table, B=BF):
        super().__init__(table, B)
        keep = self.frm < self.to                 # each pair once, a = lower index
        self.pa, self.pb = self.frm[keep], self.to[keep]
        self.pcsdE3 = self.csdE3[keep]
        self.pdE = self.dE[keep]
        # c s is symmetric (s(a->b) = s(b->a)), so one table serves both directions
        back = {(a, b): c for a, b, c in zip(self.frm, self.to, self.cs)}
        assert all(back[(b, a)] == back[(a, b)] for a, b in zip(self.pa, self.pb))
        npair = self.pa.size
        self.pinc = np.zeros((NLEV, npair))
        self.pinc[self.pb, np.arange(npair)] += 1.0
        self.pinc[self.pa, np.arange(npair)] -= 1.0
        y0 = ref.initial_state()
        self.U0 = ref.total_energy(y0, B)
        self.ny = NLEV
        self.y0 = y0[:NLEV].copy()
        self.atol = np.full(NLEV, ATOL_N)

    def temperature(self, n):
        u = self.U0 - self.E @ n[:NLEV]
        return (u / A_PH) ** 0.25 if u > 0.0 else np.nan

    def full_state(self, n):
        return np.concatenate([n[:NLEV], [self.temperature(n)]])

    def pair_rates(self, T, with_dT=False):
        kap, dlnk = self.table.kappa_dlnk(T)
        x = self.pdE / T
        g = 1.0 / np.expm1(x)                     # 1/(e^x - 1); 1 + g = 1/(1 - e^-x)
        k = kap * self.pcsdE3
        r_ab, r_ba = k * g, k * (1.0 + g)         # a -> b (energy up if x > 0), b -> a
        if not with_dT:
            return r_ab, r_ba
        # d ln r_ab/dT = dlnk + (x/T)(1 + g);  d ln r_ba/dT = dlnk + (x/T) g
        return r_ab, r_ba, r_ab * (dlnk + (x / T) * (1.0 + g)), r_ba * (dlnk + (x / T) * g)

    def rhs1(self, n):
        r_ab, r_ba = self.pair_rates(self.temperature(n))
        return self.pinc @ (r_ab * n[self.pa] - r_ba * n[self.pb])

    def rhs(self, t, y):
        self.nrhs += 1
        if y.ndim == 2:
            return np.column_stack([self.rhs1(y[:, j]) for j in range(y.shape[1])])
        return self.rhs1(y)

    def jac(self, t, n, out=None):
        self.njac += 1
        T = self.temperature(n)
        r_ab, r_ba, d_ab, d_ba = self.pair_rates(T, with_dT=True)
        J = np.zeros((NLEV, NLEV))
        J[self.pb, self.pa] = r_ab
        J[self.pa, self.pb] = r_ba
        J[self.diag, self.diag] = -(np.bincount(self.pa, r_ab, NLEV) + np.bincount(self.pb, r_ba, NLEV))
        dWn = self.pinc @ (d_ab * n[self.pa] - d_ba * n[self.pb])
        J += np.outer(dWn, -self.E / (4.0 * A_PH * T**3))
        return J


# ---------------------------------------------------------------------------
# Cheap self-checks
# ---------------------------------------------------------------------------
def self_checks(table, sysm):
    import mpmath as mp
    # 1. table against fresh 40-digit values between the nodes
    worst = 0.0
    for T in (2.05, 2.3338075, 2.5, 2.77, 3.0, 3.333, 3.7, 4.0, 4.4):
        exact = float(mp.log(lambda1_zero_field_mp(T)))
        err = table.ln_lambda1(T) - exact
        worst = max(worst, abs(err))
        print(f"CHECK table T={T} ln_lambda1_mp={exact:.15f} table-mp={err:+.2e} "
              f"eigvalsh_rel_err={ref.lambda1_zero_field(T)[0] / np.exp(exact) - 1:+.2e}")
    print(f"CHECK table max_abs_err_ln_lambda1={worst:.2e} (= max relative error of kappa)")
    # 2. d ln kappa/dT against a central difference of the table (smooth, so this is fine)
    for T in (2.3338075, 3.0, 4.0):
        h = 1e-4 * T
        fd = (np.log(table.kappa_dlnk(T + h)[0]) - np.log(table.kappa_dlnk(T - h)[0])) / (2 * h)
        print(f"CHECK dlnkappa_dT T={T} analytic={table.kappa_dlnk(T)[1]:.12e} "
              f"central_fd={fd:.12e}")
    # 3. rhs against the reference script's dense rate matrix (same kappa), away from
    #    equilibrium (populations of 3 K, lattice at 3.4 K), both formulations
    pairs = PairSystem(table)
    for nT, T in ((4.0, 4.0), (3.0, 3.4)):
        n = ref.boltzmann(BF, nT) if nT != 4.0 else ref.initial_state()[:NLEV]
        W = table.kappa_dlnk(T)[0] * ref.rate_matrix0(BF, T)[0]
        r = W @ n
        dref = np.concatenate([r, [-(ref.energies(BF) @ r) / (4 * A_PH * T**3)]])
        scale = np.abs(W).max()
        mine = sysm.rhs1(np.concatenate([n, [T]]))
        pairs.U0 = ref.energies(BF) @ n + A_PH * T**4     # so that T(n) = T here
        mp_ = pairs.rhs1(n)
        print(f"CHECK rhs_vs_dense T={T} plain_max_diff/|W|max={np.abs(mine[:NLEV] - r).max() / scale:.2e} "
              f"plain_dT_rel_diff={(mine[NLEV] - dref[NLEV]) / dref[NLEV]:+.2e} "
              f"pairs_max_diff/|W|max={np.abs(mp_ - r).max() / scale:.2e}")
        # 4. Jacobians against central differences
        for name, sy, ystate in (("plain", sysm, np.concatenate([n, [T]])), ("pairs", pairs, n.copy())):
            J = sy.jac(0.0, ystate)
            Jfd = np.empty_like(J)
            for c in range(ystate.size):
                h = 1e-6 * max(abs(ystate[c]), 1e-3)
                yp, ym = ystate.copy(), ystate.copy()
                yp[c] += h
                ym[c] -= h
                Jfd[:, c] = (sy.rhs1(yp) - sy.rhs1(ym)) / (2 * h)
            err = np.abs(J - Jfd).max() / np.abs(J).max()
            errT = (np.abs(J[:, NLEV] - Jfd[:, NLEV]).max() / np.abs(J[:, NLEV]).max()
                    if name == "plain" else float("nan"))
            print(f"CHECK jacobian formulation={name} T={T} max_rel_err={err:.2e} T_col_rel_err={errT:.2e}")
    sysm.nrhs = sysm.njac = 0


# ---------------------------------------------------------------------------
# Bookkeeping shared by the SciPy and CVODE runs
# ---------------------------------------------------------------------------
class Recorder:
    """Called once per accepted step with (t, T, steps, nfev, njev); records the
    milestones (first step with t >= milestone: the counts and wall time there; T at
    the milestone itself comes from the solver's interpolant) and the first step
    within EQ_TOL of T_eq."""

    def __init__(self, label, t_eq, eq_tol, cap_s, milestones):
        self.label, self.t_eq, self.eq_tol, self.cap_s = label, t_eq, eq_tol, cap_s
        self.pending = list(milestones)            # [(name, time)]
        self.hits = {}                             # name -> dict
        self.eq_tols = sorted({eq_tol, 1e-8, 1e-7, 1e-6}, reverse=True)
        self.eq_hits = {}                          # tol -> dict
        self.t0 = time.perf_counter()
        self.c0 = time.process_time()
        self.capped = False

    def step(self, t, T, steps, nfev, njev):
        wall = time.perf_counter() - self.t0
        cpu = time.process_time() - self.c0
        while self.pending and t >= self.pending[0][1]:
            name, tm = self.pending.pop(0)
            self.hits[name] = dict(t=tm, steps=steps, nfev=nfev, njev=njev, wall=wall, cpu=cpu)
        for tol in self.eq_tols:
            if tol not in self.eq_hits and abs(T - self.t_eq) <= tol:
                self.eq_hits[tol] = dict(t=t, T=T, steps=steps, nfev=nfev, njev=njev, wall=wall, cpu=cpu)
        if wall > self.cap_s:
            self.capped = True
        return self.capped


def report(label, rec, values, total, t_eq_ref):
    """values: name -> T at the milestone time (interpolated) or None."""
    for name, tm in rec_all_milestones(rec):
        h = rec.hits.get(name)
        Tm = values.get(name)
        if h is None or Tm is None:
            print(f"MILESTONE method={label} at={name} t={tm:.6g} reached=False")
            continue
        print(f"MILESTONE method={label} at={name} t={tm:.6g} reached=True T={Tm:.10f} "
              f"steps={h['steps']} nfev={h['nfev']} njev={h['njev']} wall_s={h['wall']:.4f} cpu_s={h['cpu']:.4f}")
    for tol in rec.eq_tols:                       # first accepted step within tol of T_eq
        e = rec.eq_hits.get(tol)
        if e is None:
            print(f"MILESTONE method={label} at=equilibrium tol_K={tol:g} reached=False")
            continue
        print(f"MILESTONE method={label} at=equilibrium tol_K={tol:g} t={e['t']:.6e} reached=True "
              f"T={e['T']:.10f} T-T_eq={e['T'] - t_eq_ref:+.2e} steps={e['steps']} "
              f"nfev={e['nfev']} njev={e['njev']} wall_s={e['wall']:.4f} cpu_s={e['cpu']:.4f}")
    print(f"RUN method={label} " + " ".join(f"{k}={v}" for k, v in total.items()), flush=True)


def rec_all_milestones(rec):
    return rec.all_milestones


# ---------------------------------------------------------------------------
# SciPy solve_ivp
# ---------------------------------------------------------------------------
def run_scipy(method, table, milestones, t_eq, eq_tol, cap_s, formulation):
    sysm = (PairSystem if formulation == "pairs" else System)(table)
    sparse = method.endswith("-sparse")
    meth = method.split("-")[0]
    y0, atol = sysm.y0, sysm.atol
    rec = Recorder(method + f"[{formulation}]", t_eq, eq_tol, cap_s, milestones)
    rec.all_milestones = list(milestones)
    state = {"steps": -1, "last_t": -np.inf}

    def ev(t, y):                                   # called at t0 and after every step
        if t > state["last_t"]:
            state["steps"] += 1
            state["last_t"] = t
            if rec.step(t, sysm.temperature(y), state["steps"], sysm.nrhs, sysm.njac):
                state.setdefault("t_cut", t)
        return (state["t_cut"] - t) if "t_cut" in state else 1.0
    ev.terminal = True

    if sparse:
        jac = lambda t, y: scipy.sparse.csc_matrix(sysm.jac(t, y))  # noqa: E731
    else:
        jac = sysm.jac
    t_eval = [tm for _, tm in milestones]
    kw = dict(method=meth, jac=jac, t_eval=t_eval, rtol=RTOL, atol=atol, events=[ev])
    if meth != "LSODA":
        kw["vectorized"] = True
    wall0, cpu0 = time.perf_counter(), time.process_time()
    rec.t0, rec.c0 = wall0, cpu0
    sol = solve_ivp(sysm.rhs, (0.0, milestones[-1][1]), y0, **kw)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    values = {name: sysm.temperature(yv) for (name, tm) in milestones
              for (ts, yv) in zip(sol.t, sol.y.T) if ts == tm}
    yend = sysm.full_state(sol.y_events[0][-1] if sol.status == 1 else sol.y[:, -1])
    total = dict(status=sol.status, capped=rec.capped, t_reached=f"{state['last_t']:.6e}",
                 steps=state["steps"], nfev=sol.nfev, njev=sol.njev, nlu=sol.nlu,
                 wall_s=f"{wall:.4f}", cpu_s=f"{cpu:.4f}",
                 energy_drift=f"{ref.total_energy(yend, BF) - ref.total_energy(ref.initial_state(), BF):.2e}",
                 sum_n_minus_1=f"{yend[:NLEV].sum() - 1:.2e}", min_n=f"{yend[:NLEV].min():.2e}",
                 message=f"\"{sol.message}\"")
    return rec, values, total


# ---------------------------------------------------------------------------
# SUNDIALS CVODE (sundials4py)
# ---------------------------------------------------------------------------
def run_cvode(table, milestones, t_eq, eq_tol, cap_s, formulation, label):
    from sundials4py import core as sc
    from sundials4py import cvodes as cv
    sysm = (PairSystem if formulation == "pairs" else System)(table)
    NY = sysm.ny                                   # noqa: N806
    rec = Recorder(label, t_eq, eq_tol, cap_s, milestones)
    rec.all_milestones = list(milestones)

    status, ctx = sc.SUNContext_Create(sc.SUN_COMM_NULL) if hasattr(sc, "SUN_COMM_NULL") \
        else sc.SUNContext_Create(0)
    y0 = sysm.y0
    y = sc.N_VNew_Serial(NY, ctx)
    sc.N_VGetArrayPointer(y)[:] = y0
    atol = sc.N_VNew_Serial(NY, ctx)
    sc.N_VGetArrayPointer(atol)[:] = sysm.atol
    ytmp = sc.N_VNew_Serial(NY, ctx)

    def f(t, yv, ydot, _ud):
        sysm.nrhs += 1
        yy = sc.N_VGetArrayPointer(yv)
        if not sysm.temperature(yy) > 0.0:     # a wild Newton iterate (no energy left for
            return 1                            # the lattice): recoverable, CVODE cuts h
        sc.N_VGetArrayPointer(ydot)[:] = sysm.rhs1(yy)
        return 0

    def jacfn(t, yv, fy, Jm, _ud, t1, t2, t3):
        J = sysm.jac(t, sc.N_VGetArrayPointer(yv))
        sc.SUNDenseMatrix_Data(Jm)[:, :] = J
        return 0

    mem = cv.CVodeCreate(cv.CV_BDF, ctx)
    chk = lambda flag, what: flag if flag >= 0 else sys.exit(f"CVODE {what} failed: {flag}")  # noqa: E731
    chk(cv.CVodeInit(mem.get(), f, 0.0, y), "CVodeInit")
    chk(cv.CVodeSVtolerances(mem.get(), RTOL, atol), "CVodeSVtolerances")
    A = sc.SUNDenseMatrix(NY, NY, ctx)
    LS = sc.SUNLinSol_Dense(y, A, ctx)
    chk(cv.CVodeSetLinearSolver(mem.get(), LS, A), "CVodeSetLinearSolver")
    chk(cv.CVodeSetJacFn(mem.get(), jacfn), "CVodeSetJacFn")
    chk(cv.CVodeSetMaxNumSteps(mem.get(), 1_000_000), "CVodeSetMaxNumSteps")
    t_end = milestones[-1][1]
    chk(cv.CVodeSetStopTime(mem.get(), t_end), "CVodeSetStopTime")

    values = {}
    pend = list(milestones)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    rec.t0, rec.c0 = wall0, cpu0
    t, flag = 0.0, 0
    while t < t_end:
        flag, t = cv.CVode(mem.get(), t_end, y, cv.CV_ONE_STEP)
        if flag < 0:
            break
        yy = sc.N_VGetArrayPointer(y)
        while pend and t >= pend[0][1]:
            name, tm = pend.pop(0)
            cv.CVodeGetDky(mem.get(), tm, 0, ytmp)
            values[name] = float(sysm.temperature(sc.N_VGetArrayPointer(ytmp)))
        nst = cv.CVodeGetNumSteps(mem.get())[1]
        if rec.step(t, sysm.temperature(yy), nst, sysm.nrhs, cv.CVodeGetNumJacEvals(mem.get())[1]):
            break
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    yend = sysm.full_state(sc.N_VGetArrayPointer(y).copy())
    stats = dict(
        steps=cv.CVodeGetNumSteps(mem.get())[1],
        nfev=cv.CVodeGetNumRhsEvals(mem.get())[1],
        njev=cv.CVodeGetNumJacEvals(mem.get())[1],
        nlu=cv.CVodeGetNumLinSolvSetups(mem.get())[1],
        netf=cv.CVodeGetNumErrTestFails(mem.get())[1],
        nni=cv.CVodeGetNumNonlinSolvIters(mem.get())[1],
        nncf=cv.CVodeGetNumNonlinSolvConvFails(mem.get())[1],
    )
    total = dict(status=flag, capped=rec.capped, t_reached=f"{t:.6e}", **stats,
                 wall_s=f"{wall:.4f}", cpu_s=f"{cpu:.4f}",
                 energy_drift=f"{ref.total_energy(yend, BF) - ref.total_energy(ref.initial_state(), BF):.2e}",
                 sum_n_minus_1=f"{yend[:NLEV].sum() - 1:.2e}", min_n=f"{yend[:NLEV].min():.2e}")
    return rec, values, total


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--cap", type=float, default=120.0, help="wall-time cap per method, s")
    ap.add_argument("--methods", default="Radau,BDF,LSODA,BDF-sparse,CVODE")
    ap.add_argument("--t-eq-smmcool", type=float, default=1.4043e7,
                    help="time at which smmcool declares equilibrium (a sample point)")
    ap.add_argument("--eq-tol", type=float, default=EQ_TOL,
                    help="|T - T_eq| (K) for 'at equilibrium' (smmcool's equilibrium_tol_k)")
    ap.add_argument("--t-end", type=float, default=T_END)
    ap.add_argument("--no-checks", action="store_true")
    ap.add_argument("--formulation", choices=("pairs", "plain"), default="pairs",
                    help="pairs: n only, T from energy, net pair fluxes (default); "
                         "plain: y = [n, T], flux per transition (as scipy_reference.py)")
    args = ap.parse_args()

    print(f"ENV python={platform.python_version()} numpy={np.__version__} "
          f"scipy={scipy.__version__} machine={platform.machine()} "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}")
    try:
        import sundials4py
        print(f"ENV sundials4py={sundials4py.__version__}")
    except ImportError:
        print("ENV sundials4py=missing")
    print(f"ENV rtol={RTOL:g} atol_n={ATOL_N:g} atol_T={ATOL_T:g} Bi={ref.BI} Bf={BF} "
          f"Ti={ref.TI} t_end={args.t_end:g} jac=analytic(kappa from the Chebyshev table) "
          f"cap_s={args.cap:g}")

    table = KappaTable.build_or_load()
    print(f"TABLE lambda1_0 mpmath dps={MP_DPS} chebyshev_degree={CHEB_DEG} nodes={CHEB_DEG + 1} "
          f"T_range=[{T_LO},{T_HI}]K build_s={table.build_s:.3f} "
          f"from_cache={table.cached}", flush=True)
    t_eq = ref.equilibrium_T()
    print(f"CHECK T_eq_from_energy_balance={t_eq:.10f}")
    if not args.no_checks:
        self_checks(table, System(table))
    # warm-up: the first call of each piece (imports, caches) is not the solver's cost
    for sy in (System(table), PairSystem(table)):
        sy.rhs1(sy.y0)
        sy.jac(0.0, sy.y0)

    milestones = MILESTONES + [("t_eq_smmcool", args.t_eq_smmcool), ("t_end", args.t_end)]
    milestones.sort(key=lambda m: m[1])
    sys.stdout.flush()
    for method in args.methods.split(","):
        label = ("CVODE-BDF" if method == "CVODE" else method) + f"[{args.formulation}]"
        if method == "CVODE":
            rec, values, total = run_cvode(table, milestones, t_eq, args.eq_tol, args.cap,
                                           args.formulation, label)
        else:
            rec, values, total = run_scipy(method, table, milestones, t_eq, args.eq_tol,
                                           args.cap, args.formulation)
        report(label, rec, values, total, t_eq)


if __name__ == "__main__":
    main()
