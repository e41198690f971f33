//! A posteriori error estimate of the two-well reduction on a ramp (docs/numerics.md
//! section 11): the first-order slaving correction of the fast (intra-well) modes.
//!
//! The reduction puts the populations on the local slow manifold
//!   n_s(B, T, P_R) = P_L p_L(B, T) + P_R p_R(B, T).
//! The full equation dn/dt = kappa W n then carries n = n_s + delta, and to first order in
//! (the rate of change of n_s) / lambda_2 the fast part delta is slaved to it:
//!   kappa W delta = dn_s/dt - kappa W n_s,   sum delta = 0,   q_R . delta = 0
//! (delta lies in the fast subspace: it moves neither the total nor the well occupation).
//! The temperature error that delta implies follows from the energy balance: the spins hold
//! E . delta more energy than the reduction assumes, and the ramp has done
//!   delta_w(t) = int_0^t (dB/dt) E' . delta dt'
//! more work, so T_full - T_red ~ (delta_w - E . delta) / C_tot with C_tot = d E_tot / dT at
//! fixed (B, P_R). A residual along the slow coordinate, which the fast modes cannot take up,
//! is a drift of P_R that the reduced equation misses, integrated with its relaxation rate
//! lambda_1. The estimate is evaluated at the reduced ramp's accepted steps (the trapezoid
//! rule for delta_w) with the engine's own rate matrix and temperature solve, the latter on a
//! fresh copy of the reduced system (the run's own keeps a history of starting points, which
//! is not touched: the estimate cannot change the run it estimates).

use super::reduced::{ReducedSystem, WellState};
use crate::error::NumericsError;
use crate::model::protocol::Protocol;
use crate::model::GiantSpin;
use crate::rates::mechanism::{Channel, PairRatesDt, RatePoint, Scratch};
use crate::rates::slowmode::MMatrixLu;
use crate::rates::RateModel;
use nalgebra::{DMatrix, DVector};

/// The slaving estimate of a reduced ramp.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SlavingEstimate {
    /// Largest |T_full - T_red| to first order over the ramp's samples and at the
    /// equilibrium after it (delta_w / C_tot there), K.
    pub error_k: f64,
    /// Largest |T - T_i| over the ramp's steps, K.
    pub change_k: f64,
}

/// Largest number of a reduced ramp's steps at which the estimate is evaluated (more are
/// thinned evenly: the cost stays bounded; each point costs one rate chain with its GTH
/// factorization and committors, the channels' rates with their T and B derivatives (at
/// B +- hb too where the B derivative is differenced), four committor-derivative solves and
/// a 23 x 21 least-squares solve for Mn12Ac). 256 before
/// issue 19, 64 until session 32: over the 200 runs of a 10 x 20 subset of the validity map
/// the estimate moved from 64 to 32 points by a median 0 and at most 17 % where it is above
/// 1e-12 (docs/numerics.md section 11).
const MAX_POINTS: usize = 32;

/// Populations on the slow manifold at (B, T) with right-well occupation `right`.
fn manifold(red: &ReducedSystem<'_>, b: f64, t: f64, right: f64) -> Vec<f64> {
    red.populations(b, t, right)
}

/// Total energy (spins with populations `n` + phonons) at (B, T), K.
fn energy_of(red: &ReducedSystem<'_>, spin: &GiantSpin, b: f64, t: f64, n: &[f64]) -> f64 {
    n.iter()
        .enumerate()
        .map(|(i, p)| p * spin.energy_k(i, b))
        .sum::<f64>()
        + red.debye().energy_k(t)
}

/// One accepted step of a reduced ramp: time (s), P_R, temperature (K), the heat flow to
/// the bath there (K/s) and the unscaled slow rate lambda1_0 there from the well table (1/s;
/// `None` where the table is unavailable).
struct Point {
    t_s: f64,
    right: f64,
    t_k: f64,
    heat_flow_k_per_s: f64,
    lambda0: Option<f64>,
}

/// One direction of a channel of kappa W at (B, T): the rate from level `from` to `to` (1/s)
/// and its temperature derivative (1/(s K), through kappa and the mechanism's own T dependence).
#[derive(Debug, Clone, Copy)]
struct Transition {
    from: usize,
    to: usize,
    rate: f64,
    drate_dt: f64,
    /// The rate's field derivative at fixed T (1/(s T)); NaN where its mechanism has none in
    /// closed form.
    drate_db: f64,
}

/// Buffers reused across the points of an estimate (each filled afresh at every use): the
/// mechanisms' energy gaps and rates, and the rates at B +- hb of the field derivative where
/// it is differenced.
struct Buffers {
    de: Gaps,
    r: Scratch<PairRatesDt>,
    plus: Vec<f64>,
    minus: Vec<f64>,
    /// The stacked least-squares system of [`correction_at`] and the workspace of its QR.
    system: Vec<f64>,
    qr: QrWork,
    /// The per-point vectors of [`correction_at`] and [`manifold_slopes`].
    vecs: PointVecs,
}

/// The per-point vectors (each filled afresh at every use; kept across the points of an
/// estimate for their allocations, 23 a point before with the QR's): named as in
/// [`correction_at`] and [`manifold_slopes`].
#[derive(Default)]
struct PointVecs {
    drate_db: Vec<f64>,
    drate_dt: Vec<f64>,
    e: Vec<f64>,
    slope: Vec<f64>,
    deq_dt: Vec<f64>,
    deq_db: Vec<f64>,
    /// The committors' derivatives: q_L and q_R in B, then in T.
    dq: [Vec<f64>; 4],
    dn_db: Vec<f64>,
    dn_dt: Vec<f64>,
    p_l: Vec<f64>,
    p_r: Vec<f64>,
    dir: Vec<f64>,
    n_s: Vec<f64>,
    dns: Vec<f64>,
    rhs: Vec<f64>,
    written: Vec<(usize, usize)>,
    band: Vec<(usize, usize)>,
}

impl PointVecs {
    /// The level energies E_i (K) and their field slopes E'_i (K/T) at field `b` into `e` and
    /// `slope`, which [`manifold_slopes`] and [`correction_at`] read.
    fn set_levels(&mut self, spin: &GiantSpin, b: f64) {
        let n = spin.n_levels();
        self.e.clear();
        self.e.resize(n, 0.0);
        spin.energies_into(b, &mut self.e);
        self.slope.clear();
        self.slope
            .extend((0..n).map(|i| spin.energy_slope_k_per_t(i)));
    }
}

impl Buffers {
    fn new() -> Self {
        Self {
            de: Gaps {
                zero_field: Vec::new(),
                de: Scratch::new(),
                db: Scratch::new(),
            },
            r: Scratch::new(),
            plus: Vec::new(),
            minus: Vec::new(),
            system: Vec::new(),
            qr: QrWork::default(),
            vecs: PointVecs::default(),
        }
    }
}

/// The channels' energy gaps E_j - E_i: per mechanism, each channel's gap at zero field and
/// its field slope (K, K/T; computed at the first use, the same for every point of an
/// estimate), and the gaps at the current field and the rates' field derivatives.
struct Gaps {
    zero_field: Vec<[Vec<f64>; 2]>,
    de: Scratch<f64>,
    db: Scratch<[f64; 2]>,
}

/// The transitions of every mechanism's channels at (B, T), each channel forward then
/// backward, in the mechanisms' order (the order the full system's Jacobian adds them in);
/// `(kappa, dlnk)` is `rates.kappa_and_log_derivative(T)`, taken once for the three fields
/// of a point. Returns whether every mechanism gave its rates' field derivatives (else
/// `drate_db` is NaN and the caller differences the rates in B).
fn transitions_into(
    rates: &RateModel,
    spin: &GiantSpin,
    b: f64,
    t_k: f64,
    kappa_dlnk: (f64, f64),
    out: &mut Vec<Transition>,
    bufs: (&mut Gaps, &mut Scratch<PairRatesDt>),
) -> bool {
    out.clear();
    out.reserve(
        2 * rates
            .mechanisms()
            .iter()
            .map(|m| m.channels().len())
            .sum::<usize>(),
    );
    let each = |i, j, r: &PairRatesDt, db: Option<&[f64; 2]>| {
        let [db_ij, db_ji] = db.copied().unwrap_or([f64::NAN; 2]);
        out.push(Transition {
            from: i,
            to: j,
            rate: r[0],
            drate_dt: r[1],
            drate_db: db_ij,
        });
        out.push(Transition {
            from: j,
            to: i,
            rate: r[2],
            drate_dt: r[3],
            drate_db: db_ji,
        });
    };
    channel_rates(rates, spin, b, t_k, kappa_dlnk, true, bufs, each)
}

/// The rates alone of [`transitions_into`] (the same values in the same order, each channel
/// forward then backward) into `out`: the field derivative's rates at B +- hb where a
/// mechanism has no closed form for it.
fn rates_into(
    rates: &RateModel,
    spin: &GiantSpin,
    b: f64,
    t_k: f64,
    kappa_dlnk: (f64, f64),
    out: &mut Vec<f64>,
    bufs: (&mut Gaps, &mut Scratch<PairRatesDt>),
) {
    out.clear();
    channel_rates(
        rates,
        spin,
        b,
        t_k,
        kappa_dlnk,
        false,
        bufs,
        |_, _, r, _| {
            out.extend([r[0], r[2]]);
        },
    );
}

/// Every mechanism's channels' rates and temperature derivatives at (B, T), in the
/// mechanisms' order, each channel (i, j) handed to `each` with its
/// [r_ij, dr_ij/dT, r_ji, dr_ji/dT] and, with `field_derivatives` where the mechanism has
/// them in closed form, [dr_ij/dB, dr_ji/dB] (`Mechanism::rates_dt_and_db`; the rates the
/// same either way). Returns whether every mechanism gave them.
#[allow(clippy::too_many_arguments)]
fn channel_rates(
    rates: &RateModel,
    spin: &GiantSpin,
    b: f64,
    t_k: f64,
    (kappa, dlnk): (f64, f64),
    field_derivatives: bool,
    (gaps, r_buf): (&mut Gaps, &mut Scratch<PairRatesDt>),
    mut each: impl FnMut(usize, usize, &PairRatesDt, Option<&[f64; 2]>),
) -> bool {
    let at = RatePoint {
        field_t: b,
        t_k,
        kappa_per_s_k3: kappa,
        dln_kappa_dt: dlnk,
    };
    let Gaps {
        zero_field,
        de: de_buf,
        db: db_buf,
    } = gaps;
    let mut all = field_derivatives;
    for (k, m) in rates.mechanisms().iter().enumerate() {
        let channels = m.channels();
        if zero_field.len() <= k {
            let gap = |c: &Channel| spin.energy_k(c.j, 0.0) - spin.energy_k(c.i, 0.0);
            let slope =
                |c: &Channel| spin.energy_slope_k_per_t(c.j) - spin.energy_slope_k_per_t(c.i);
            zero_field.push([
                channels.iter().map(gap).collect(),
                channels.iter().map(slope).collect(),
            ]);
        }
        let [gaps, slopes] = &zero_field[k];
        let de: &mut [f64] = de_buf.get(channels.len());
        // The same operations as E_j(0) - E_i(0) + (E'_j - E'_i) B evaluated in place.
        for ((d, &gap), &slope) in de.iter_mut().zip(gaps).zip(slopes) {
            *d = gap + slope * b;
        }
        let r: &mut [PairRatesDt] = r_buf.get(channels.len());
        let db: &mut [[f64; 2]] = db_buf.get(channels.len());
        let analytic = if field_derivatives {
            m.rates_dt_and_db(&at, de, slopes, r, db)
        } else {
            m.rates_and_dt(&at, de, r);
            false
        };
        all &= analytic;
        for ((c, r), db) in channels.iter().zip(r.iter()).zip(db.iter()) {
            each(c.i, c.j, r, analytic.then_some(db));
        }
    }
    all
}

/// The rate matrix kappa W (1/s) of `transitions` into the leading `nlev` x `nlev` block of
/// the row-major `a` (row stride `cols`, zero there on entry): W[(to, from)] the rate from
/// level `from` to `to`, the diagonal minus the total rate out, added in the transitions'
/// order as the full system's Jacobian holds it. Writes to `band` each row's column range
/// (lowest, highest) of the entries written (the diagonal included): the rest of the row
/// stays exact +0.0.
fn rate_matrix_into(
    nlev: usize,
    transitions: &[Transition],
    a: &mut [f64],
    cols: usize,
    band: &mut Vec<(usize, usize)>,
) {
    band.clear();
    band.extend((0..nlev).map(|i| (i, i)));
    for t in transitions {
        a[t.to * cols + t.from] += t.rate;
        a[t.from * cols + t.from] -= t.rate;
        let r = &mut band[t.to];
        *r = (r.0.min(t.from), r.1.max(t.from));
    }
}

/// The column ranges for the products W n of [`band_product`] and the row fluxes: the rows'
/// `band` where every population is finite with its sign bit clear (then each skipped product
/// +0.0 n_j is +0.0: the dense sum's value, -0.0 included, is reproduced, see
/// [`band_product`]), every column otherwise (a -0.0, an infinity or a NaN among the
/// populations gives products of other signs or NaN, which only the dense sum reproduces);
/// into `out`.
fn band_of(band: &[(usize, usize)], n: &[f64], out: &mut Vec<(usize, usize)>) {
    out.clear();
    if n.iter().all(|v| v.is_finite() && v.is_sign_positive()) {
        out.extend_from_slice(band);
    } else {
        out.resize(band.len(), (0, n.len() - 1));
    }
}

/// The product of the row `w` with `n`, summed over the columns `lo..=hi` only, bit for bit
/// as nalgebra's dense matrix-vector product sums it (w_0 n_0 first, then each w_j n_j added
/// in column order) where every product outside the range is +0.0: +0.0 + x = x except
/// x = -0.0, so the leading zeros make a first -0.0 term +0.0, and the trailing zeros turn a
/// -0.0 sum into +0.0 (one addition does what several do).
// The additions are written in nalgebra's operand order (product + sum), hence the allow.
#[allow(clippy::assign_op_pattern)]
fn band_product(w: &[f64], n: &[f64], (lo, hi): (usize, usize)) -> f64 {
    let mut y = if lo == 0 {
        w[0] * n[0]
    } else {
        w[lo] * n[lo] + 0.0
    };
    for j in lo + 1..=hi {
        y = w[j] * n[j] + y;
    }
    if hi + 1 < n.len() {
        y = 0.0 + y;
    }
    y
}

/// The partial derivatives of the slow manifold n_s(B, T, P_R) and of the total energy on it
/// at one point.
struct ManifoldSlopes {
    /// dn_s/dB, 1/T.
    dn_db: Vec<f64>,
    /// dn_s/dT, 1/K.
    dn_dt: Vec<f64>,
    /// dE_tot/dB at fixed (T, P_R), K/T.
    de_db: f64,
    /// dE_tot/dT at fixed (B, P_R), k_B.
    c_tot: f64,
}

/// The derivatives of the two committors `q` (each to one well bottom; the other bottom's q
/// is 0) with respect to two parameters of the rates, in one pass over the transitions: from
/// the transitions' rate derivatives `drate[p]` (1/s per unit of parameter p, indexed like
/// `transitions`) and the interior GTH factors `lu` of the unscaled chain W (kappa W =
/// kappa(T) W), into `dq[p]` (one vector per committor). The backward equation
/// sum_(j != i) W(j, i) (q_j - q_i) = 0 at every interior level i, differentiated, reads
/// G^T dq = sum_(j != i) dW(j, i) (q_j - q_i) with G the interior M-matrix of kappa W (dq = 0
/// at the bottoms); each right-hand side is summed in the transitions' order and the two
/// committors' systems are solved together (the same bits as one at a time).
fn committor_derivatives(
    lu: &MMatrixLu,
    kappa: f64,
    transitions: &[Transition],
    drate: [&[f64]; 2],
    [qa, qb]: [&[f64]; 2],
    dq: [[&mut Vec<f64>; 2]; 2],
) {
    let n = qa.len();
    assert!(qb.len() == n && drate.iter().all(|d| d.len() == transitions.len()));
    let [[xa, xb], [ya, yb]] = dq;
    for x in [&mut *xa, &mut *xb, &mut *ya, &mut *yb] {
        x.clear();
        x.resize(n, 0.0);
    }
    for ((t, d), e) in transitions.iter().zip(drate[0]).zip(drate[1]) {
        let (ga, gb) = (qa[t.to] - qa[t.from], qb[t.to] - qb[t.from]);
        xa[t.from] += d * ga;
        xb[t.from] += d * gb;
        ya[t.from] += e * ga;
        yb[t.from] += e * gb;
    }
    let inv = 1.0 / kappa;
    for [a, b] in [[xa, xb], [ya, yb]] {
        for x in [&mut *a, &mut *b] {
            x[0] = 0.0;
            x[n - 1] = 0.0;
            for v in &mut x[1..n - 1] {
                *v *= inv;
            }
        }
        lu.solve_transpose_pair_in_place(&mut a[1..n - 1], &mut b[1..n - 1]);
    }
}

/// The derivative of n_s = sum_w P_w eq q_w / M_w (M_w = sum eq q_w; `occ` = (P_L, P_R))
/// from the derivatives of the Boltzmann populations `deq` and of the committors `dq`, into
/// `out`.
fn manifold_derivative(
    ws: &WellState,
    occ: [f64; 2],
    deq: &[f64],
    dq: [&[f64]; 2],
    out: &mut Vec<f64>,
) {
    let n = ws.equilibrium.len();
    let eq = &ws.equilibrium[..n];
    let deq = &deq[..n];
    out.clear();
    out.resize(n, 0.0);
    for w in 0..2 {
        let mass = ws.mass[w];
        if mass <= 0.0 {
            continue;
        }
        let (q, dq) = (&ws.weights[w][..n], &dq[w][..n]);
        let terms = || deq.iter().zip(q).zip(eq).zip(dq);
        let dmass: f64 = terms().map(|(((d, q), e), dq)| d * q + e * dq).sum();
        let (a, c) = (occ[w] / mass, occ[w] * dmass / (mass * mass));
        for (o, (((d, q), e), dq)) in out.iter_mut().zip(terms()) {
            *o += a * (d * q + e * dq) - c * e * q;
        }
    }
}

/// The partial derivatives of n_s and of the total energy at (B, T, P_R = `right`), the well
/// state `ws` there. With the interior factors `lu` of the unscaled chain (the committors'),
/// analytically: the Boltzmann populations' derivatives in closed form, the committors'
/// by two solves with those factors each, the rates' temperature derivative from the
/// mechanisms (`transitions`, at (B, T)), and their field derivative too where every
/// mechanism gives it in closed form (spin-phonon: `Mechanism::rates_dt_and_db`, from the
/// rates' own exponentials; issue 19, session 34), else by a central difference of the
/// rates over 1e-6 of B (the rates alone: no factorization; relative noise up to ~1e-9,
/// which the closed form replaced: the estimate moved by at most 3.7e-10 relative over 175
/// runs, docs/numerics.md section 11). Without factors, the
/// whole n_s by central differences over 1e-6 of B and T (four evaluations of the
/// populations, as before issue 19's analytic derivatives).
#[allow(clippy::too_many_arguments)]
fn manifold_slopes(
    red: &ReducedSystem<'_>,
    rates: &RateModel,
    spin: &GiantSpin,
    (b, temp, right): (f64, f64, f64),
    ws: &WellState,
    lu: Option<&MMatrixLu>,
    transitions: &[Transition],
    kappa_dlnk: (f64, f64),
    n_s: &[f64],
    buf: &mut Buffers,
) -> Result<ManifoldSlopes, NumericsError> {
    let nlev = spin.n_levels();
    let hb = 1e-6 * b.abs().max(1e-3);
    let Some(lu) = lu else {
        return Ok(difference_slopes(red, spin, (b, temp, right), hb));
    };
    let kappa = kappa_dlnk.0;
    let Buffers {
        de,
        r,
        plus,
        minus,
        vecs,
        ..
    } = buf;
    let analytic_db = transitions.iter().all(|t| !t.drate_db.is_nan());
    if !analytic_db {
        rates_into(
            rates,
            spin,
            b + hb,
            temp,
            kappa_dlnk,
            plus,
            (&mut *de, &mut *r),
        );
        rates_into(rates, spin, b - hb, temp, kappa_dlnk, minus, (de, r));
    }
    let PointVecs {
        drate_db,
        drate_dt,
        e,
        slope,
        deq_dt,
        deq_db,
        dq,
        dn_db,
        dn_dt,
        ..
    } = vecs;
    let (e, slope) = (&e[..nlev], &slope[..nlev]);
    drate_db.clear();
    if analytic_db {
        drate_db.extend(transitions.iter().map(|t| t.drate_db));
    } else {
        drate_db.extend(
            plus.iter()
                .zip(minus.iter())
                .map(|(p, m)| (p - m) / (2.0 * hb)),
        );
    }
    drate_dt.clear();
    drate_dt.extend(transitions.iter().map(|t| t.drate_dt));
    let eq = &ws.equilibrium[..nlev];
    let mean_e: f64 = eq.iter().zip(e).map(|(p, e)| p * e).sum();
    let mean_s: f64 = eq.iter().zip(slope).map(|(p, s)| p * s).sum();
    // d eq_i/dT = eq_i (E_i - <E>)/T^2, d eq_i/dB = -eq_i (E'_i - <E'>)/T.
    deq_dt.clear();
    deq_dt.extend(
        eq.iter()
            .zip(e)
            .map(|(p, e)| p * (e - mean_e) / (temp * temp)),
    );
    deq_db.clear();
    deq_db.extend(eq.iter().zip(slope).map(|(p, s)| -p * (s - mean_s) / temp));
    let occ = [1.0 - right, right];
    let [qa, qb] = &ws.weights;
    // The committors' derivatives in B and T, then the manifold's.
    let [dqa_db, dqb_db, dqa_dt, dqb_dt] = dq;
    committor_derivatives(
        lu,
        kappa,
        transitions,
        [drate_db, drate_dt],
        [qa, qb],
        [[&mut *dqa_db, &mut *dqb_db], [&mut *dqa_dt, &mut *dqb_dt]],
    );
    manifold_derivative(ws, occ, deq_db, [dqa_db, dqb_db], dn_db);
    manifold_derivative(ws, occ, deq_dt, [dqa_dt, dqb_dt], dn_dt);
    let de_db = (0..nlev).map(|i| dn_db[i] * e[i] + n_s[i] * slope[i]).sum();
    let c_tot = (0..nlev).map(|i| dn_dt[i] * e[i]).sum::<f64>() + red.debye().heat_capacity(temp);
    // The two derivatives leave the buffers (the caller puts them back, see `correction_at`).
    let (dn_db, dn_dt) = (std::mem::take(dn_db), std::mem::take(dn_dt));
    Ok(ManifoldSlopes {
        dn_db,
        dn_dt,
        de_db,
        c_tot,
    })
}

/// [`manifold_slopes`] by central differences of the populations over `hb` in B and 1e-6 of
/// T (four evaluations of the populations; the energies there are their sums).
fn difference_slopes(
    red: &ReducedSystem<'_>,
    spin: &GiantSpin,
    (b, temp, right): (f64, f64, f64),
    hb: f64,
) -> ManifoldSlopes {
    let ht = 1e-6 * temp;
    let diff = |plus: &[f64], minus: &[f64], h: f64| -> Vec<f64> {
        plus.iter()
            .zip(minus)
            .map(|(p, m)| (p - m) / (2.0 * h))
            .collect()
    };
    let points = [
        (b + hb, temp),
        (b - hb, temp),
        (b, temp + ht),
        (b, temp - ht),
    ];
    let pops = points.map(|(bb, tt)| manifold(red, bb, tt, right));
    let energies: Vec<f64> = points
        .iter()
        .zip(&pops)
        .map(|(&(bb, tt), n)| energy_of(red, spin, bb, tt, n))
        .collect();
    ManifoldSlopes {
        dn_db: diff(&pops[0], &pops[1], hb),
        dn_dt: diff(&pops[2], &pops[3], ht),
        de_db: diff(&energies[0..1], &energies[1..2], hb)[0],
        c_tot: diff(&energies[2..3], &energies[3..4], ht)[0],
    }
}

/// The first-order slaving correction at one point of a reduced ramp.
fn correction_at(
    red: &ReducedSystem<'_>,
    rates: &RateModel,
    spin: &GiantSpin,
    protocol: &Protocol,
    s: &Point,
    transitions: &mut Vec<Transition>,
    buf: &mut Buffers,
) -> Result<Correction, NumericsError> {
    let nlev = spin.n_levels();
    let (b, bdot) = protocol.field_and_rate(s.t_s, false, None);
    let (temp, right) = (s.t_k, s.right);
    // lambda1 = kappa lambda1_0 with lambda1_0 from the well table at the temperature the
    // point was just solved at (the table holds it to ~1e-13; the exact slow mode, a
    // fixed-point iteration, was an eighth of a point's cost); the exact kernels where the
    // table is unavailable.
    let (ws, lambda0, lu) = red.well_state_unscaled_rate_and_factors_given(b, temp, s.lambda0)?;
    // kappa(T) and its log derivative, once for the slow rate, kappa W at (B, T) and its
    // derivatives.
    let kappa_dlnk = rates.kappa_and_log_derivative(temp)?;
    let lambda1 = kappa_dlnk.0 * lambda0;
    buf.vecs.set_levels(spin, b);
    // n_s is linear in P_R: n_s = p_L + P_R (p_R - p_L). The well state of
    // well_state_and_rate is well_state's (the same committors), computed once.
    let take = std::mem::take::<Vec<f64>>;
    let v = &mut buf.vecs;
    let (mut p_l, mut p_r, mut dir, mut n_s) = (
        take(&mut v.p_l),
        take(&mut v.p_r),
        take(&mut v.dir),
        take(&mut v.n_s),
    );
    let (mut dns, mut rhs) = (take(&mut v.dns), take(&mut v.rhs));
    let (mut written, mut band) = (std::mem::take(&mut v.written), std::mem::take(&mut v.band));
    ReducedSystem::populations_into(&ws, 0.0, &mut p_l);
    ReducedSystem::populations_into(&ws, 1.0, &mut p_r);
    dir.clear();
    dir.extend(p_r.iter().zip(&p_l).map(|(r, l)| r - l));
    n_s.clear();
    n_s.extend(p_l.iter().zip(&dir).map(|(l, d)| l + right * d));
    let dright = lambda1 * (ws.right_eq - right);
    // kappa W at (B, T), from the mechanisms' channels as the full system builds it, and its
    // temperature derivative.
    transitions_into(
        rates,
        spin,
        b,
        temp,
        kappa_dlnk,
        transitions,
        (&mut buf.de, &mut buf.r),
    );
    let transitions = &transitions[..];
    // Partial derivatives of n_s and of the total energy.
    let ManifoldSlopes {
        dn_db,
        dn_dt,
        de_db,
        c_tot,
    } = manifold_slopes(
        red,
        rates,
        spin,
        (b, temp, right),
        &ws,
        lu.as_ref(),
        transitions,
        kappa_dlnk,
        &n_s,
        buf,
    )?;
    let (e, slope) = (&buf.vecs.e[..nlev], &buf.vecs.slope[..nlev]);
    let de_dright: f64 = dir.iter().zip(e).map(|(d, e)| d * e).sum();
    // dT/dt from the energy balance: d E_tot/dt = dw/dt - Q.
    let power = bdot * n_s.iter().zip(slope).map(|(n, e)| n * e).sum::<f64>() - s.heat_flow_k_per_s;
    let dtemp = (power - de_db * bdot - de_dright * dright) / c_tot;
    dns.clear();
    dns.extend((0..nlev).map(|i| dn_db[i] * bdot + dn_dt[i] * dtemp + dir[i] * dright));
    // kappa W, as the full system's Jacobian holds it (the old dense product kappa W n_s and
    // its row fluxes: their rounding sets the estimate's floor, ~1e-14, which the tests of
    // the refusal path rely on).
    let (m, cols) = (nlev + 2, nlev + 1);
    let a = &mut buf.system;
    a.clear();
    a.resize(m * cols, 0.0);
    rate_matrix_into(nlev, transitions, a, cols, &mut written);
    // Rows' column ranges for the products with n_s: outside them W holds exact +0.0, whose
    // products with finite non-negative populations are +0.0 and leave the dense sums' bits
    // unchanged (see `band_of`); otherwise every column, as the dense product did.
    band_of(&written, &n_s, &mut band);
    let scale = (0..nlev).map(|i| a[i * cols + i].abs()).fold(0.0, f64::max);
    // kappa W delta = dn_s/dt - kappa W n_s with the two constraints as extra rows, scaled
    // like the matrix; solved in the least-squares sense (W is singular). Row-major, the
    // right-hand side as the last column.
    rhs.clear();
    rhs.resize(nlev, 0.0);
    for i in 0..nlev {
        let wn = band_product(&a[i * cols..i * cols + nlev], &n_s, band[i]);
        rhs[i] = dns[i] - wn;
        a[i * cols + nlev] = rhs[i];
        a[nlev * cols + i] = scale;
        a[(nlev + 1) * cols + i] = scale * ws.weights[1][i];
    }
    buf.qr.set_band(&written);
    let delta = least_squares(&buf.system, m, nlev, 1e-14 * scale, &mut buf.qr).ok_or(
        NumericsError::NoSpectralGap {
            field_t: b,
            temperature_k: temp,
        },
    )?;
    let e_delta: f64 = delta.iter().zip(e).map(|(d, e)| d * e).sum();
    let power_delta: f64 = bdot * delta.iter().zip(slope).map(|(d, s)| d * s).sum::<f64>();
    // The part of the residual along the slow coordinate, which the fast modes cannot take
    // up: a drift of the well occupation that the reduced equation misses.
    let q = &ws.weights[1];
    let q_dir: f64 = q.iter().zip(&dir).map(|(a, b)| a * b).sum();
    let drift = -q.iter().zip(&rhs).map(|(q, r)| q * r).sum::<f64>() / q_dir;
    // Its rounding floor: kappa W n_s is a sum of cancelling intra-well fluxes (noise
    // ~eps sum |W_ij| n_j, section 2 of docs/numerics.md), and 1e-9 |dn_s/dt| for the field
    // part of dn_s/dt where it comes from central differences of the rates over 1e-6 of B
    // (kept where the rates' field derivatives are analytic too, so that the floor, and the
    // estimates at it, stay as they were; the rest is analytic, to rounding). At low
    // temperature the true drift,
    // of order lambda_1/lambda_2, lies far below it: a drift within 100 times the floor is
    // taken as zero (divided by a tiny lambda_1 the noise would read as a large error).
    // The row fluxes sum |W_ij| n_j over the rows' ranges (the skipped terms are +0.0 there,
    // which leave a sum of non-negative terms unchanged once it has one term, the diagonal).
    let a = &buf.system;
    let floor = (0..nlev)
        .map(|i| {
            let (lo, hi) = band[i];
            let flux: f64 = a[i * cols + lo..=i * cols + hi]
                .iter()
                .zip(&n_s[lo..=hi])
                .map(|(w, n)| (w * n).abs())
                .sum();
            q[i] * (f64::EPSILON * flux + 1e-9 * dns[i].abs())
        })
        .sum::<f64>()
        / q_dir.abs();
    let drift = if drift.abs() <= 100.0 * floor {
        0.0
    } else {
        drift
    };
    let power_dright = bdot * dir.iter().zip(slope).map(|(d, e)| d * e).sum::<f64>();
    // The vectors back into the buffers for the next point.
    let v = &mut buf.vecs;
    (v.p_l, v.p_r, v.dir, v.n_s) = (p_l, p_r, dir, n_s);
    (v.dns, v.rhs, v.written, v.band) = (dns, rhs, written, band);
    (v.dn_db, v.dn_dt) = (dn_db, dn_dt);
    Ok(Correction {
        e_delta,
        power_delta,
        c_tot,
        drift,
        lambda1,
        de_dright,
        power_dright,
    })
}

/// The least-squares solution of `a x = rhs` for the `m` x (`n` + 1) row-major `a_rhs` (`a`
/// with `m` >= `n` rows, the right-hand side as the last column), singular values below
/// `cutoff` left out. By Householder QR when `a` is safely of full column rank (every |R_ii|
/// above 1e6 `cutoff`: the smallest singular value is at most the smallest |R_ii|, and a
/// well-conditioned R makes the two solutions agree to rounding); otherwise by the SVD, which
/// truncates. The QR is [`householder_least_squares`], which skips the zeros of the banded
/// rate matrix; it costs far less than the SVD with its vectors. The QR works on a copy in
/// `work` (its buffers reused across calls).
fn least_squares(
    a_rhs: &[f64],
    m: usize,
    n: usize,
    cutoff: f64,
    work: &mut QrWork,
) -> Option<Vec<f64>> {
    let mut factors = std::mem::take(&mut work.factors);
    factors.clear();
    factors.extend_from_slice(a_rhs);
    let x = householder_least_squares(&mut factors, m, n, 1e6 * cutoff, work);
    work.factors = factors;
    if x.is_some() {
        return x;
    }
    let original = a_rhs;
    let a = DMatrix::from_fn(m, n, |r, c| original[r * (n + 1) + c]);
    let rhs = DVector::from_fn(m, |r, _| original[r * (n + 1) + n]);
    a.svd(true, true)
        .solve(&rhs, cutoff)
        .ok()
        .map(|x| x.iter().copied().collect())
}

/// The workspace of [`least_squares`], each buffer filled afresh at every use: the copy of
/// the system the QR overwrites, the rows of a column's reflector and its vector; and the
/// system's zero structure where known ([`QrWork::set_band`]), else empty.
#[derive(Default)]
struct QrWork {
    factors: Vec<f64>,
    rows: Vec<usize>,
    v: Vec<f64>,
    /// `reach[k]`: the last of the banded rows (those before `dense_from`) whose band
    /// reaches column k (k itself at least); empty where every row may hold a nonzero.
    reach: Vec<usize>,
    /// The first of the rows that may hold nonzeros in every column.
    dense_from: usize,
}

impl QrWork {
    /// The zero structure of the next system: its first `band.len()` rows hold nonzeros only
    /// in their columns `band[r].0..=band[r].1` (and the right-hand side), the rows after them
    /// anywhere. Below the diagonal of column k the QR then looks at the banded rows up to
    /// the last whose band starts at or before k, and at the dense rows: a banded row whose
    /// band starts after k has not been touched by the reflectors of the columns before k
    /// (each touches only rows it looks at), so its entry in column k is still the exact
    /// +0.0 the QR would skip.
    fn set_band(&mut self, band: &[(usize, usize)]) {
        let n = band.len();
        self.reach.clear();
        self.reach.extend(0..n);
        for (r, &(lo, _)) in band.iter().enumerate() {
            let k = lo.min(n - 1);
            self.reach[k] = self.reach[k].max(r);
        }
        for k in 1..n {
            self.reach[k] = self.reach[k].max(self.reach[k - 1]);
        }
        self.dense_from = n;
    }
}

/// Householder QR least squares of the `m` x (`n` + 1) row-major `f` = [a | rhs], or `None`
/// where some |R_ii| <= `min_pivot`. Column k's reflector is built from the nonzero entries
/// of that column at or below the diagonal alone (the zeros add nothing to it): for the
/// stacked system of [`correction_at`] (a banded rate matrix, whose band fills above the
/// diagonal only, and two dense rows) that is band + 3 rows, so the factorization costs
/// O(band n^2), not O(m n^2); with every entry nonzero it is the plain Householder QR. Where
/// `work` holds the system's band ([`QrWork::set_band`]) only the rows that may be nonzero
/// are looked at (the same rows found, the same reflectors bit for bit).
/// Q^T rhs is formed alongside (the last column), then R x = (Q^T rhs)[..n] is
/// back-substituted.
fn householder_least_squares(
    f: &mut [f64],
    m: usize,
    n: usize,
    min_pivot: f64,
    work: &mut QrWork,
) -> Option<Vec<f64>> {
    let w = n + 1;
    assert_eq!(f.len(), m * w);
    let QrWork {
        rows,
        v,
        reach,
        dense_from,
        ..
    } = work;
    let banded = !reach.is_empty();
    if banded {
        assert!(reach.len() == n && *dense_from <= m);
    }
    for k in 0..n {
        // The reflector's rows (k and the nonzero entries below it), its vector v (the
        // column's entries there) and their largest magnitude amax, then the norm over v:
        // the values and the order of the separate passes over the rows before.
        rows.clear();
        v.clear();
        rows.push(k);
        v.push(f[k * w + k]);
        let mut amax = 0.0f64.max(f[k * w + k].abs());
        let mut take = |r: usize| {
            let x = f[r * w + k];
            if x != 0.0 {
                rows.push(r);
                v.push(x);
                amax = amax.max(x.abs());
            }
        };
        if banded {
            (k + 1..=reach[k].min(*dense_from - 1)).for_each(&mut take);
            ((*dense_from).max(k + 1)..m).for_each(&mut take);
        } else {
            (k + 1..m).for_each(&mut take);
        }
        if !(amax > 0.0 && amax.is_finite()) {
            return None;
        }
        let norm = amax * v.iter().map(|a| (a / amax).powi(2)).sum::<f64>().sqrt();
        let akk = v[0];
        let alpha = if akk >= 0.0 { -norm } else { norm };
        if alpha.abs() <= min_pivot {
            return None;
        }
        v[0] = akk - alpha;
        // H = I + v v^T / (alpha v_k) (v^T v = -2 alpha v_k), applied to the columns after
        // k: s = v^T f[rows, c], then f[rows, c] += s v / (alpha v_k).
        let inv = 1.0 / (alpha * v[0]);
        reflect(f, w, k + 1, rows, v, inv);
        f[k * w + k] = alpha;
        for &r in &rows[1..] {
            f[r * w + k] = 0.0;
        }
    }
    let mut x = vec![0.0; n];
    for k in (0..n).rev() {
        let row = &f[k * w..k * w + w];
        let s: f64 = row[k + 1..n]
            .iter()
            .zip(&x[k + 1..])
            .map(|(a, b)| a * b)
            .sum();
        x[k] = (row[n] - s) / row[k];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// One Householder reflector of [`householder_least_squares`] applied to the columns `lo..`
/// of the row-major `f` (row stride `w`), column by column: over `rows` (ascending, weights
/// `v`), s = v^T f[rows, c] summed in the rows' order from +0.0, times `inv`, then
/// f[r, c] += s v_r. With up to six rows (the banded systems' reflectors) the rows are held
/// as disjoint slices and the column loop is unrolled over them.
fn reflect(f: &mut [f64], w: usize, lo: usize, rows: &[usize], v: &[f64], inv: f64) {
    match rows.len() {
        1 => reflect_rows::<1>(f, w, lo, rows, v, inv),
        2 => reflect_rows::<2>(f, w, lo, rows, v, inv),
        3 => reflect_rows::<3>(f, w, lo, rows, v, inv),
        4 => reflect_rows::<4>(f, w, lo, rows, v, inv),
        5 => reflect_rows::<5>(f, w, lo, rows, v, inv),
        6 => reflect_rows::<6>(f, w, lo, rows, v, inv),
        _ => {
            for c in lo..w {
                let s = rows
                    .iter()
                    .zip(v)
                    .fold(0.0, |s, (&r, &vr)| s + vr * f[r * w + c])
                    * inv;
                for (&r, &vr) in rows.iter().zip(v) {
                    f[r * w + c] += s * vr;
                }
            }
        }
    }
}

/// [`reflect`] with `N` rows.
fn reflect_rows<const N: usize>(
    f: &mut [f64],
    w: usize,
    lo: usize,
    rows: &[usize],
    v: &[f64],
    inv: f64,
) {
    let v: [f64; N] = std::array::from_fn(|i| v[i]);
    let ranges: [std::ops::Range<usize>; N] =
        std::array::from_fn(|i| rows[i] * w + lo..rows[i] * w + w);
    let x = f
        .get_disjoint_mut(ranges)
        .expect("a reflector's rows are distinct");
    let len = w - lo;
    for row in &x {
        assert_eq!(row.len(), len);
    }
    let column = |x: &mut [&mut [f64]; N], c: usize| {
        let mut s = 0.0 + v[0] * x[0][c];
        for i in 1..N {
            s += v[i] * x[i][c];
        }
        let s = s * inv;
        for i in 0..N {
            x[i][c] += s * v[i];
        }
    };
    // Two columns at a time, every row's two entries read before any is written (the same
    // operations per column as one at a time, in lanes the compiler can pair).
    let mut x = x;
    let mut c = 0;
    while c + 2 <= len {
        let old: [[f64; 2]; N] = std::array::from_fn(|i| [x[i][c], x[i][c + 1]]);
        let mut s = [0.0 + v[0] * old[0][0], 0.0 + v[0] * old[0][1]];
        for i in 1..N {
            s[0] += v[i] * old[i][0];
            s[1] += v[i] * old[i][1];
        }
        let s = [s[0] * inv, s[1] * inv];
        for i in 0..N {
            x[i][c] = old[i][0] + s[0] * v[i];
            x[i][c + 1] = old[i][1] + s[1] * v[i];
        }
        c += 2;
    }
    if c < len {
        column(&mut x, c);
    }
}

/// The first-order slaving correction at one sample (energies in K, powers in K/s).
struct Correction {
    /// E . delta.
    e_delta: f64,
    /// (dB/dt) E' . delta.
    power_delta: f64,
    /// d E_tot / dT at fixed (B, P_R).
    c_tot: f64,
    /// The drift of P_R the reduced equation misses, 1/s.
    drift: f64,
    /// lambda_1, 1/s.
    lambda1: f64,
    /// d E_tot / d P_R.
    de_dright: f64,
    /// d (dw/dt) / d P_R.
    power_dright: f64,
}

/// The slaving estimate of a reduced ramp over its accepted steps, `steps` = (t in s, P_R,
/// net energy received w - q in K, temperature in K) from t = 0 to t_q (thinned evenly to at
/// most [`MAX_POINTS`]), with the temperatures the ramp solved there (where one is not finite,
/// solved by `solver`, a fresh copy of the run's reduced system, so that the run's own solves
/// keep their history; `solver` also gives lambda1_0 from its table), from the initial
/// temperature `t_i` (K);
/// `(b_f, t_eq)` is the
/// equilibrium after the ramp, where the total heat capacity turns the extra work into the
/// error of the final temperature. `heat_flow(t, T)` is the heat flow to the bath, K/s.
#[allow(clippy::too_many_arguments)]
pub(crate) fn estimate(
    red: &ReducedSystem<'_>,
    rates: &RateModel,
    spin: &GiantSpin,
    protocol: &Protocol,
    steps: &[[f64; 4]],
    solver: &ReducedSystem<'_>,
    t_i: f64,
    (b_f, t_eq): (f64, f64),
    heat_flow: impl Fn(f64, f64) -> f64,
) -> Result<SlavingEstimate, NumericsError> {
    let mut buf = Buffers::new();
    let mut transitions = Vec::new();
    let c_eq = {
        let (ws, lu) = red.well_state_and_factors(b_f, t_eq);
        let n_eq = ReducedSystem::populations_of(&ws, ws.right_eq);
        let kappa_dlnk = rates.kappa_and_log_derivative(t_eq)?;
        buf.vecs.set_levels(spin, b_f);
        transitions_into(
            rates,
            spin,
            b_f,
            t_eq,
            kappa_dlnk,
            &mut transitions,
            (&mut buf.de, &mut buf.r),
        );
        manifold_slopes(
            red,
            rates,
            spin,
            (b_f, t_eq, ws.right_eq),
            &ws,
            lu.as_ref(),
            &transitions,
            kappa_dlnk,
            &n_eq,
            &mut buf,
        )?
        .c_tot
    };
    let stride = steps.len().div_ceil(MAX_POINTS).max(1);
    let mut ramp = Vec::with_capacity(MAX_POINTS + 1);
    for (k, &[t_s, right, net, solved_k]) in steps.iter().enumerate() {
        if k % stride != 0 && k + 1 != steps.len() {
            continue;
        }
        let b = protocol.field_and_rate(t_s, false, None).0;
        // The ramp's own temperature at the step (its right-hand side there solved the same
        // balance, to rounding; session 33), solved afresh where there is none (the start).
        let t_k = if solved_k.is_finite() && solved_k > 0.0 {
            solved_k
        } else {
            solver.temperature_k(b, right, net)?
        };
        ramp.push(Point {
            t_s,
            right,
            t_k,
            heat_flow_k_per_s: heat_flow(t_s, t_k),
            lambda0: solver.tabulated_values(b, t_k).map(|v| v.lambda0),
        });
    }
    let mut work = 0.0;
    let mut error: f64 = 0.0;
    let mut dright = 0.0;
    let mut prev: Option<(f64, Correction)> = None;
    for s in &ramp {
        let c = correction_at(red, rates, spin, protocol, s, &mut transitions, &mut buf)?;
        if let Some((t0, p)) = &prev {
            let h = s.t_s - t0;
            // dP/dt = -lambda1 P + drift, exactly over the interval with averaged coefficients.
            let lambda = 0.5 * (p.lambda1 + c.lambda1);
            let drift = 0.5 * (p.drift + c.drift);
            let decay = (-lambda * h).exp();
            let dright_new = dright * decay + drift * (-(-lambda * h).exp_m1()) / lambda;
            work += 0.5
                * h
                * (p.power_delta
                    + c.power_delta
                    + p.power_dright * dright
                    + c.power_dright * dright_new);
            dright = dright_new;
        }
        let end = (work - c.e_delta - c.de_dright * dright) / c.c_tot;
        error = error.max(end.abs());
        prev = Some((s.t_s, c));
    }
    error = error.max((work / c_eq).abs());
    let change_k = ramp.iter().map(|p| (p.t_k - t_i).abs()).fold(0.0, f64::max);
    Ok(SlavingEstimate {
        error_k: error,
        change_k,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::protocol::Protocol;
    use crate::model::Material;
    use crate::rates::{KappaScaling, RateModel};

    /// The transitions at (B, T) as the estimate's points build them, with the
    /// (kappa, d ln kappa / dT) they were built with.
    fn transitions_at(
        rates: &RateModel,
        spin: &GiantSpin,
        (b, temp): (f64, f64),
        buf: &mut Buffers,
    ) -> (Vec<Transition>, (f64, f64)) {
        let mut tr = Vec::new();
        let kd = rates.kappa_and_log_derivative(temp).unwrap();
        transitions_into(rates, spin, b, temp, kd, &mut tr, (&mut buf.de, &mut buf.r));
        (tr, kd)
    }

    /// The analytic partial derivatives of the slow manifold (Boltzmann populations in closed
    /// form, committors by solves with the GTH factors) against central differences of the
    /// populations themselves (the estimate's method before issue 19), from 1 to 20 K, at
    /// fields inside the bistable range, both wells occupied in several proportions.
    #[test]
    fn analytic_manifold_slopes_match_differences_of_the_populations() {
        let mat = Material::mn12ac();
        let rates = RateModel::new(mat.spin, mat.arrhenius, KappaScaling::Arrhenius).unwrap();
        let proto = Protocol::jump(0.5, 0.1).unwrap();
        let spin = &mat.spin;
        let wells = super::super::reduced::Wells::at_field(spin, 0.1);
        let red = ReducedSystem::new(spin, &mat.debye, &rates, &proto, wells, 0.0, 2.0);
        let mut worst: f64 = 0.0;
        for &(b, temp) in &[
            (0.1, 1.0),
            (0.5, 2.0),
            (0.3, 4.0),
            (-0.2, 6.0),
            (1.0, 10.0),
            (0.1, 20.0),
        ] {
            for right in [0.0, 0.3, 0.9] {
                let (ws, _, lu) = red.well_state_rate_and_factors(b, temp).unwrap();
                assert!(lu.is_some());
                let n_s = ReducedSystem::populations_of(&ws, right);
                let mut buf = Buffers::new();
                buf.vecs.set_levels(spin, b);
                let (tr, kd) = transitions_at(&rates, spin, (b, temp), &mut buf);
                let exact = manifold_slopes(
                    &red,
                    &rates,
                    spin,
                    (b, temp, right),
                    &ws,
                    lu.as_ref(),
                    &tr,
                    kd,
                    &n_s,
                    &mut buf,
                )
                .unwrap();
                let hb = 1e-6 * f64::abs(b).max(1e-3);
                let ht = 1e-6 * temp;
                let fd = difference_slopes(&red, spin, (b, temp, right), hb);
                // The differences' rounding: populations (sum 1) and energies (up to e_max)
                // to ~64 eps, over 2h.
                let e_max = (0..spin.n_levels())
                    .map(|i| spin.energy_k(i, b).abs())
                    .fold(0.0, f64::max)
                    + mat.debye.energy_k(temp);
                let noise = |h: f64, size: f64| 64.0 * f64::EPSILON * size / (2.0 * h);
                for (x, y, h) in [(&exact.dn_db, &fd.dn_db, hb), (&exact.dn_dt, &fd.dn_dt, ht)] {
                    let scale = y.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                    for (a, c) in x.iter().zip(y.iter()) {
                        let err = (a - c).abs();
                        worst = worst.max(err / scale);
                        assert!(
                            err <= 1e-6 * scale + noise(h, 1.0),
                            "B {b} T, {temp} K, P_R {right}: {a:e} vs {c:e} (largest {scale:e})"
                        );
                    }
                }
                for (a, c, h) in [(exact.de_db, fd.de_db, hb), (exact.c_tot, fd.c_tot, ht)] {
                    assert!(
                        (a - c).abs() <= 1e-6 * c.abs() + noise(h, e_max),
                        "B {b} T, {temp} K, P_R {right}: {a:e} vs {c:e}"
                    );
                }
            }
        }
        // The differences' own error (~1e-10 relative) bounds the agreement from below.
        assert!(worst > 0.0);
    }

    /// The structured Householder least squares against nalgebra's SVD on a banded system
    /// with two dense rows (the shape of the slaving system) and on a dense one.
    #[test]
    fn householder_least_squares_matches_the_svd() {
        let (m, n) = (23, 21);
        let mut a = DMatrix::zeros(m, n);
        for c in 0..n {
            for r in c.saturating_sub(2)..(c + 3).min(n) {
                a[(r, c)] = 1.0 + ((r * 7 + c * 3) % 11) as f64 * if r == c { 3.0 } else { -0.1 };
            }
            a[(n, c)] = 2.0;
            a[(n + 1, c)] = (c as f64 / n as f64).powi(2);
        }
        let rhs = DVector::from_fn(m, |i, _| (i as f64 * 0.37).sin());
        let packed = |a: &DMatrix<f64>| -> Vec<f64> {
            (0..m)
                .flat_map(|r| (0..=n).map(move |c| (r, c)))
                .map(|(r, c)| if c < n { a[(r, c)] } else { rhs[r] })
                .collect()
        };
        for a in [a.clone(), a.map(|v| v + 0.01)] {
            let x =
                householder_least_squares(&mut packed(&a), m, n, 1e-300, &mut QrWork::default())
                    .unwrap();
            let y = a.clone().svd(true, true).solve(&rhs, 0.0).unwrap();
            let err = x
                .iter()
                .zip(y.iter())
                .fold(0.0f64, |e, (x, y)| e.max((x - y).abs()))
                / y.amax();
            assert!(err < 1e-12, "{err:e}");
        }
        // Rank deficient: refused (least_squares then takes the SVD).
        let mut b = a.clone();
        for r in 0..m {
            b[(r, 1)] = b[(r, 0)];
        }
        assert!(
            householder_least_squares(&mut packed(&b), m, n, 1e-8, &mut QrWork::default())
                .is_none()
        );
        let x = least_squares(&packed(&b), m, n, 1e-12, &mut QrWork::default()).unwrap();
        let y = b.clone().svd(true, true).solve(&rhs, 1e-12).unwrap();
        assert!(x
            .iter()
            .zip(y.iter())
            .all(|(x, y)| x.to_bits() == y.to_bits()));
    }

    /// The QR told the system's band (`QrWork::set_band`, the rows it looks at below each
    /// diagonal limited to those the band can reach) against the QR that scans every row:
    /// the same solution bit for bit, on Mn12Ac's stacked slaving systems at several (B, T)
    /// (kappa W with the two constraint rows, a right-hand side with entries of both signs),
    /// also where some entries inside the band are zero.
    #[test]
    fn the_banded_qr_scan_gives_the_full_scans_bits() {
        let mat = Material::mn12ac();
        let rates = RateModel::new(mat.spin, mat.arrhenius, KappaScaling::Arrhenius).unwrap();
        let spin = &mat.spin;
        let nlev = spin.n_levels();
        let (m, cols) = (nlev + 2, nlev + 1);
        let mut buf = Buffers::new();
        let mut checked = 0;
        for &(b, temp) in &[
            (0.1, 1.0),
            (0.5, 2.0),
            (-0.2, 6.0),
            (1.0, 10.0),
            (0.3, 20.0),
        ] {
            let (tr, _) = transitions_at(&rates, spin, (b, temp), &mut buf);
            for zero_some in [false, true] {
                let mut a = vec![0.0; m * cols];
                let mut written = Vec::new();
                rate_matrix_into(nlev, &tr, &mut a, cols, &mut written);
                if zero_some {
                    // Entries inside the band that are exactly zero: skipped by both scans.
                    for i in (2..nlev).step_by(3) {
                        a[i * cols + i - 1] = 0.0;
                    }
                }
                let scale = (0..nlev).map(|i| a[i * cols + i].abs()).fold(0.0, f64::max);
                for i in 0..nlev {
                    a[i * cols + nlev] = (i as f64 * 0.7).sin() * scale;
                    a[nlev * cols + i] = scale;
                    a[(nlev + 1) * cols + i] = scale * (i as f64 / (nlev - 1) as f64);
                }
                let mut banded = QrWork::default();
                banded.set_band(&written);
                let x = householder_least_squares(&mut a.clone(), m, nlev, 0.0, &mut banded);
                let y =
                    householder_least_squares(&mut a.clone(), m, nlev, 0.0, &mut QrWork::default());
                let (x, y) = (x.unwrap(), y.unwrap());
                assert!(
                    x.iter().zip(&y).all(|(x, y)| x.to_bits() == y.to_bits()),
                    "B {b}, T {temp}"
                );
                checked += 1;
            }
        }
        assert_eq!(checked, 10);
    }

    /// The banded products and row fluxes of `correction_at` against nalgebra's dense W n and
    /// the dense fluxes, bit for bit: Mn12Ac's rate matrix at several (B, T) with its own
    /// populations, and populations with zeros, -0.0, negative entries, an infinity and a NaN
    /// (the last four take every column), so that some rows' products are all zero.
    #[test]
    fn band_products_equal_the_dense_product_bit_for_bit() {
        let mat = Material::mn12ac();
        let rates = RateModel::new(mat.spin, mat.arrhenius, KappaScaling::Arrhenius).unwrap();
        let spin = &mat.spin;
        let nlev = spin.n_levels();
        let cols = nlev + 1;
        let mut buf = Buffers::new();
        let mut checked = 0;
        for &(b, temp) in &[
            (0.1, 1.0),
            (0.5, 2.0),
            (-0.2, 6.0),
            (1.0, 10.0),
            (0.0, 20.0),
        ] {
            let (tr, _) = transitions_at(&rates, spin, (b, temp), &mut buf);
            let mut a = vec![0.0; (nlev + 2) * cols];
            let mut written = Vec::new();
            rate_matrix_into(nlev, &tr, &mut a, cols, &mut written);
            let w = DMatrix::from_fn(nlev, nlev, |i, j| a[i * cols + j]);
            // Some rows skip columns (the rates couple Delta M = +-1, +-2).
            assert!(written.iter().any(|&(lo, hi)| lo > 0 || hi + 1 < nlev));
            let eq = crate::model::thermo::boltzmann(&spin.energies(b), temp);
            let mut cases: Vec<Vec<f64>> = vec![eq.clone()];
            let mut sparse = eq.clone();
            for (i, v) in sparse.iter_mut().enumerate() {
                if i % 3 != 0 {
                    *v = 0.0;
                }
            }
            cases.push(sparse);
            cases.push(vec![0.0; nlev]);
            let mut neg_zero = vec![0.0; nlev];
            neg_zero[nlev / 2] = -0.0;
            cases.push(neg_zero);
            cases.push(
                eq.iter()
                    .enumerate()
                    .map(|(i, v)| if i % 2 == 0 { -v } else { *v })
                    .collect(),
            );
            let mut inf = eq.clone();
            inf[3] = f64::INFINITY;
            cases.push(inf);
            let mut nan = eq.clone();
            nan[nlev - 1] = f64::NAN;
            cases.push(nan);
            for n in &cases {
                let dense = &w * DVector::from_column_slice(n);
                let mut band = Vec::new();
                band_of(&written, n, &mut band);
                for i in 0..nlev {
                    let y = band_product(&a[i * cols..i * cols + nlev], n, band[i]);
                    assert_eq!(
                        y.to_bits(),
                        dense[i].to_bits(),
                        "B {b}, T {temp}, row {i}: {y:e} vs {:e}",
                        dense[i]
                    );
                    let (lo, hi) = band[i];
                    let flux: f64 = a[i * cols + lo..=i * cols + hi]
                        .iter()
                        .zip(&n[lo..=hi])
                        .map(|(w, n)| (w * n).abs())
                        .sum();
                    let dense_flux: f64 = (0..nlev).map(|j| (w[(i, j)] * n[j]).abs()).sum();
                    assert_eq!(
                        flux.to_bits(),
                        dense_flux.to_bits(),
                        "B {b}, T {temp}, row {i}"
                    );
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 5 * 7 * nlev);
        // Rows whose in-band products are all -0.0 (a negative rate times a zero population):
        // the skipped +0.0 products before or after the band make the dense sum +0.0.
        for (w, n, band) in [
            (vec![0.0f64, -1.0], vec![1.0f64, 0.0], (1, 1)),
            (vec![-1.0, 0.0], vec![0.0, 1.0], (0, 0)),
            (vec![0.0, -1.0, 0.0], vec![1.0, 0.0, 1.0], (1, 1)),
        ] {
            let dense = DMatrix::from_row_slice(1, w.len(), &w) * DVector::from_column_slice(&n);
            assert_eq!(dense[0].to_bits(), 0.0f64.to_bits());
            assert_eq!(band_product(&w, &n, band).to_bits(), dense[0].to_bits());
        }
    }
}
