"""
What the reference scripts share (not a reference itself; imported by them, written from
docs/physics.md like them, never from the Rust engine):

- the resonant tunnelling channels added to a spin-phonon generator in mpmath (section 10.5),
  with the Arrhenius calibration of kappa(T) (section 5): tunnelling_tau_reference.py and
  hot_tau_reference.py;
- the double-precision energy balance of a coupled run (sections 2, 5 and 6.6): the
  spin-phonon pairs of levels with their net-flux incidence matrix, the symmetrized generator's
  slowest rate at 50 digits and its Chebyshev table in 1/T for kappa(T), the Debye lattice
  with addenda and its temperature from the energy in closed form: heat_link_reference.py
  and tunnelling_coupled_reference.py.

numpy is imported only by the functions that use it, so that the mpmath-only scripts need
only mpmath.
"""

import json
import os

import mpmath as mp
from mpmath import fabs, mpf

MU_B_K_PER_T = "0.67171381563"   # mu_B / k_B, K/T
TAU0_S, U_B_K = "2.1e-7", "70.3"  # the paper's Arrhenius law tau0 exp(U_b/T)


# ---------------------------------------------------------------------------------------------
# mpmath: the Arrhenius kappa and the tunnelling channels
# ---------------------------------------------------------------------------------------------
def kb_over_hbar():
    """k_B / hbar, 1/(s K)."""
    return mpf("1.380649e-23") / mpf("1.054571817e-34")


def arrhenius_kappa(t, lambda1_0):
    """kappa(T) = 1/(tau0 exp(U_b/T) lambda1_0(T)), lambda1_0 the slowest rate of the unscaled
    spin-phonon generator at B = 0 (the calibration without tunnelling), 1/(s K^3)."""
    return 1 / (mpf(TAU0_S) * mp.exp(mpf(U_B_K) / t) * lambda1_0)


def with_tunnelling(w, e_lev, pairs, p, t):
    """The generator w (1/s, w[j, i] the rate i -> j) plus the tunnelling channels `pairs`
    ((i, i', Delta in K)) at the levels e_lev (K) and temperature t (K): Gamma = w(x)
    (Delta^2/(2 hbar^2)) W/(eps^2/hbar^2 + W^2), W the mean of the two levels' total decay
    rates in w, eps the bias, w(x) the near-resonance window with x = eps/(g mu_B |m - m'|
    B_1/2), B_1 = |D'|/(g mu_B); i -> i' at Gamma 2/(1 + e^x), i' -> i at Gamma 2/(1 + e^-x),
    x = (eps_i' - eps_i)/T (detailed balance with the lattice). `p` the Hamiltonian
    parameters (S, D', B4, C, E, g) of tunnel_splittings_reference.py."""
    s, d, b4, c, e, g = p
    b1 = fabs(d) / (g * mpf(MU_B_K_PER_T))
    kbh = kb_over_hbar()
    full = w.copy()
    for i, ip, delta in pairs:
        width = -(w[i, i] + w[ip, ip]) / 2
        eps = (e_lev[ip] - e_lev[i]) * kbh
        dw = delta * kbh
        x = fabs(e_lev[ip] - e_lev[i]) / (b1 / 2 * g * mpf(MU_B_K_PER_T) * abs(i - ip))
        win = 1 if x <= mpf(1) / 2 else (mp.cos(mp.pi * (x - mpf(1) / 2)) ** 2 if x < 1 else 0)
        gamma = win * dw * dw / 2 * width / (eps * eps + width * width)
        x = (e_lev[ip] - e_lev[i]) / t
        fwd, bwd = 2 / (1 + mp.exp(x)), 2 / (1 + mp.exp(-x))
        full[ip, i] += gamma * fwd
        full[i, i] -= gamma * fwd
        full[i, ip] += gamma * bwd
        full[ip, ip] -= gamma * bwd
    return full


# ---------------------------------------------------------------------------------------------
# Double precision: the energy balance of a coupled run
# ---------------------------------------------------------------------------------------------
def spin_phonon_pairs(s):
    """The pairs (a < b, |b - a| = 1, 2) of the 2S+1 levels joined by a spin-phonon
    transition, with c s(a -> b) (the same in both directions; c = 1 and 12/32): arrays
    (PA, PB, CS) and INC, with dn = INC @ (net flux a -> b of every pair)."""
    import numpy as np

    m_values = np.arange(-s, s + 1, dtype=float)
    nlev = m_values.size
    pa, pb, cs = [], [], []
    for i, m in enumerate(m_values):
        for dm, c in ((1, 1.0), (2, 12.0 / 32.0)):
            j = i + dm
            if j >= nlev:
                continue
            if dm == 1:
                sf = (s - m) * (s + m + 1) * (2 * m + 1) ** 2
            else:
                sf = (s - m) * (s + m + 1) * (s - m - 1) * (s + m + 2)
            if sf > 0:
                pa.append(i)
                pb.append(j)
                cs.append(c * sf)
    pa, pb, cs = np.array(pa), np.array(pb), np.array(cs)
    inc = np.zeros((nlev, pa.size))
    inc[pb, np.arange(pa.size)] += 1.0
    inc[pa, np.arange(pa.size)] -= 1.0
    return pa, pb, cs, inc


def lambda1_symmetrized(e, t, pa, pb, cs):
    """Slowest non-zero rate (K^3) of the unscaled spin-phonon generator with the mpmath levels
    e (K) at T = t, in the working precision: the second-smallest eigenvalue of minus the
    symmetrized generator (detailed balance makes sqrt(W_ij W_ji) symmetric with the same
    spectrum), by mp.eigsy."""
    n = len(e)
    w = mp.zeros(n, n)
    for a, b, c in zip(pa, pb, cs):
        de = e[b] - e[a]
        if de == 0:
            continue
        c = mp.mpf(float(c))
        w[b, a] = c * de**3 / mp.expm1(de / t)        # a -> b
        w[a, b] = c * (-de) ** 3 / mp.expm1(-de / t)  # b -> a
    sym = mp.zeros(n, n)
    for i in range(n):
        sym[i, i] = sum(w[k, i] for k in range(n) if k != i)
        for j in range(n):
            if i != j and w[i, j] != 0:
                sym[i, j] = -mp.sqrt(w[i, j] * w[j, i])
    return sorted(mp.eigsy(sym, eigvals_only=True))[1]


class LnLambda1Table:
    """ln lambda1_0(T) as a Chebyshev series in u = 1/T over [t_lo, t_hi] K, fitted to
    `lambda1(T)` (an mpmath function) at deg + 1 Chebyshev nodes; the node values are cached in
    $TMPDIR/`cache_name` (delete it to recompute)."""

    def __init__(self, lambda1, t_lo, t_hi, deg, cache_name):
        import numpy as np

        self.lambda1, self.t_lo, self.t_hi = lambda1, t_lo, t_hi
        cache = os.path.join(os.environ.get("TMPDIR", "/tmp"), cache_name)
        self.u_lo, self.u_hi = 1.0 / t_hi, 1.0 / t_lo
        k = np.arange(deg + 1)
        s_nodes = np.cos(np.pi * (k + 0.5) / (deg + 1))
        if os.path.exists(cache):
            with open(cache) as fh:
                h = np.array(json.load(fh))
        else:
            u = 0.5 * (self.u_hi + self.u_lo) + 0.5 * (self.u_hi - self.u_lo) * s_nodes
            h = np.array([float(mp.log(lambda1(1.0 / x))) for x in u])
            with open(cache, "w") as fh:
                json.dump(h.tolist(), fh)
        self.coef = np.polynomial.chebyshev.chebfit(s_nodes, h, deg)
        self.scale = 2.0 / (self.u_hi - self.u_lo)
        self.shift = (self.u_hi + self.u_lo) / (self.u_hi - self.u_lo)

    def ln_lambda1(self, t):
        import numpy as np

        return np.polynomial.chebyshev.chebval(self.scale / t - self.shift, self.coef)

    def require(self, t):
        """Refuse a temperature outside the table."""
        if not self.t_lo <= t <= self.t_hi:
            raise ValueError(f"T = {t} K outside the kappa table [{self.t_lo}, {self.t_hi}] K")

    def check(self, temperatures):
        """Largest |ln lambda1 table - mpmath| at `temperatures` (between the nodes)."""
        worst = 0.0
        for t in temperatures:
            worst = max(worst, abs(self.ln_lambda1(t) - float(mp.log(self.lambda1(t)))))
        return worst


class Lattice:
    """The Debye lattice of one molecule with addenda (energies in K per molecule, k_B = 1):
    U(T) = (a + beta/4) T^4 + gamma T^2 / 2, a = 3 pi^4 / (5 theta_D^3), gamma and beta the
    addenda per molecule (in units of k_B)."""

    def __init__(self, a, gamma=0.0, beta=0.0):
        self.a, self.gamma, self.beta = a, gamma, beta

    def energy(self, t):
        return (self.a + self.beta / 4.0) * t**4 + 0.5 * self.gamma * t**2

    def heat_capacity(self, t):
        return (4.0 * self.a + self.beta) * t**3 + self.gamma * t

    def temperature(self, u):
        """T at lattice energy u > 0 in closed form (U is a quadratic in T^2; NaN for u <= 0)."""
        import numpy as np

        if not u > 0.0:
            return np.nan
        a2 = self.a + self.beta / 4.0
        g2 = 0.5 * self.gamma
        x = 2.0 * u / (g2 + np.sqrt(g2 * g2 + 4.0 * a2 * u))   # a2 x^2 + g2 x = u, x = T^2
        return np.sqrt(x)
