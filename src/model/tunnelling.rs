//! The spin Hamiltonian beyond the paper's axial Eq. 1: fourth-order axial and transverse
//! anisotropy and a transverse field (docs/physics.md section 10).
//!
//! H = D [Sz^2 - S(S+1)/3] + B4 Sz^4 + C (S+^4 + S-^4) + E (Sx^2 - Sy^2)
//!     + g mu_B (Bz Sz + Bx Sx),
//!
//! energies in K. The axial part (D, B4, Bz) is diagonal in |m>; C, E and Bx couple m to
//! m +- 4, m +- 2 and m +- 1 and mix the levels of the two wells. With B4 = C = E = Bx = 0 the
//! levels are exactly the paper's Eq. 2 ([`GiantSpin::energy_k`], bit for bit). The same
//! g factor (the material's g_par) multiplies Bz and Bx.
//!
//! Trajectories use them through [`super::Material::for_trajectories`] (B4 in the levels, C, E
//! and Bx as the tunnelling mechanism); `levels` and `limits` refuse a preset that has them
//! ([`super::Material::from_preset`]).

use super::material::lookup;
use super::{GiantSpin, Overrides, Stevens};
use crate::error::{require_finite, NumericsError, ParameterError};
use crate::numerics::dd::Dd;
use crate::units::cm1_to_kelvin;

/// Anisotropy beyond D, in the crate's form (all in K): B4 Sz^4 + C (S+^4 + S-^4)
/// + E (Sx^2 - Sy^2).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Anisotropy {
    /// Fourth-order axial B4, K (coefficient of Sz^4).
    pub b4_k: f64,
    /// Fourth-order transverse C, K (coefficient of S+^4 + S-^4).
    pub c4_k: f64,
    /// Rhombic E, K (coefficient of Sx^2 - Sy^2).
    pub e_k: f64,
}

impl Anisotropy {
    /// No anisotropy beyond D.
    pub const ZERO: Self = Self {
        b4_k: 0.0,
        c4_k: 0.0,
        e_k: 0.0,
    };

    /// True when every term is zero.
    pub fn is_zero(&self) -> bool {
        self.b4_k == 0.0 && self.c4_k == 0.0 && self.e_k == 0.0
    }

    /// Convert the Stevens form D [Sz^2 - S(S+1)/3] + E O_2^2 + B_4^0 O_4^0 + B_4^4 O_4^4
    /// (`d_k` in K, the Stevens parameters in cm^-1) at spin `spin` into the crate's form:
    /// D' = D - (30 S(S+1) - 25) B_4^0, B4 = 35 B_4^0, C = B_4^4 / 2, E = E (O_2^2 =
    /// Sx^2 - Sy^2). Returns (D' in K, the anisotropy). The two forms differ by the constant
    /// B_4^0 [3 S^2 (S+1)^2 - 6 S(S+1)] - (D' - D) S(S+1)/3, which shifts every level alike.
    pub fn from_stevens(spin: f64, d_k: f64, stevens: &Stevens) -> (f64, Self) {
        let ss1 = spin * (spin + 1.0);
        let b40_k = cm1_to_kelvin(stevens.b40_cm1);
        (
            d_k - (30.0 * ss1 - 25.0) * b40_k,
            Self {
                b4_k: 35.0 * b40_k,
                c4_k: 0.5 * cm1_to_kelvin(stevens.b44_cm1),
                e_k: cm1_to_kelvin(stevens.e_cm1),
            },
        )
    }
}

/// Values that replace a preset's anisotropy and set the transverse field; `None` keeps the
/// preset's value (the transverse field defaults to 0).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AnisotropyOverrides {
    /// B4 in K.
    pub b4_k: Option<f64>,
    /// C in K.
    pub c4_k: Option<f64>,
    /// E in K.
    pub e_k: Option<f64>,
    /// Transverse field Bx in T.
    pub transverse_field_t: Option<f64>,
    /// Misalignment theta of the easy axis from the applied field, degrees (instead of a
    /// fixed Bx): the applied field B has Bz = B cos(theta), Bx = B sin(theta).
    pub misalignment_deg: Option<f64>,
}

/// The numbers that define a [`SpinHamiltonian`] as given, under the names of the TOML keys
/// (`material.spin`, `material.d_k`, ...): the material's g_par (not g cos(theta)) and the
/// misalignment angle separately, the fixed transverse field (0 with a misalignment, whose
/// transverse field is B sin(theta) at the applied field B).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HamiltonianRecord {
    /// Spin S.
    pub spin: f64,
    /// D in K (the crate's form, a preset's Stevens D converted).
    pub d_k: f64,
    /// The material's g_par.
    pub g_par: f64,
    /// B4 in K.
    pub b4_k: f64,
    /// C in K.
    pub c4_k: f64,
    /// E in K.
    pub e_k: f64,
    /// The fixed transverse field Bx in T.
    pub transverse_field_t: f64,
    /// The misalignment theta in degrees.
    pub misalignment_deg: f64,
}

/// The document `smmcool resonances --json` prints and the Python `resonances` returns: the
/// preset name `material`, the `hamiltonian` ([`SpinHamiltonian::record`]), the `convention`
/// and one record per resonance k = 0..=`k_max` ([`SpinHamiltonian::resonances`]) with its
/// splitting ([`SpinHamiltonian::tunnel_splitting`]): `k`, `m`, `m_prime`, `field_t`,
/// `energy_k`, `energy_above_ground_k`, `splitting_k`, `splitting_method`, `pair_weight`,
/// `delocalized`.
pub fn resonances_json(
    h: &SpinHamiltonian,
    material: &str,
    k_max: u32,
) -> Result<serde_json::Value, crate::Error> {
    let mut recs = Vec::new();
    for r in h.resonances(k_max)? {
        let d = h.tunnel_splitting(&r)?;
        recs.push(
            serde_json::json!({"k": r.k, "m": r.m, "m_prime": r.m_prime, "field_t": r.field_t,
            "energy_k": r.energy_k, "energy_above_ground_k": r.energy_above_ground_k,
            "splitting_k": d.splitting_k, "splitting_method": d.method.name(),
            "pair_weight": d.pair_weight, "delocalized": d.delocalized()}),
        );
    }
    Ok(serde_json::json!({
        "material": material,
        "hamiltonian": h.record(),
        "convention": "H = D [Sz^2 - S(S+1)/3] + B4 Sz^4 + C (S+^4 + S-^4) + E (Sx^2 - Sy^2) + g mu_B (Bz Sz + Bx Sx); a positive Bz raises m > 0, so m (metastable well) meets m_prime = k - m at field_t; with a misalignment theta (misalignment_deg), field_t is the applied field B: Bz = B cos(theta), Bx = B sin(theta), and g_par is the material's g (the levels use g cos(theta) with B)",
        "resonances": recs,
    }))
}

/// The largest misalignment angle, degrees.
pub const MAX_MISALIGNMENT_DEG: f64 = 30.0;

/// The spin Hamiltonian of this module: a giant spin (S, D, g), the anisotropy beyond D and a
/// transverse field Bx. The longitudinal field Bz is an argument of the methods.
///
/// With a misalignment theta ([`SpinHamiltonian::with_misalignment_deg`]) the field argument
/// of every method is the applied field B at angle theta to the easy axis: the giant spin's g
/// is g cos(theta) (so g mu_B B cos(theta) Sz) and the transverse field is B tan(theta) with
/// that g (so g mu_B B sin(theta) Sx); resonance fields are then applied fields.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpinHamiltonian {
    spin: GiantSpin,
    anisotropy: Anisotropy,
    transverse_field_t: f64,
    /// tan(theta) of the misalignment; 0 when aligned.
    tan_misalignment: f64,
    /// The misalignment theta, degrees; 0 when aligned.
    misalignment_deg: f64,
    /// The material's g_par (the giant spin's g is g_par cos(theta) with a misalignment).
    g_par: f64,
}

/// <m+1| S+ |m> = sqrt(S(S+1) - m(m+1)).
fn raise(spin: f64, m: f64) -> f64 {
    (spin * (spin + 1.0) - m * (m + 1.0)).max(0.0).sqrt()
}

impl SpinHamiltonian {
    /// A Hamiltonian; every value must be finite, |Bx| <= 1000 T.
    pub fn new(
        spin: GiantSpin,
        anisotropy: Anisotropy,
        transverse_field_t: f64,
    ) -> Result<Self, ParameterError> {
        if spin.b4_k() != 0.0 {
            return Err(ParameterError::new(
                "b4_k",
                spin.b4_k(),
                "give B4 in the anisotropy of the Hamiltonian, not in its giant spin",
            ));
        }
        require_finite("b4_k", anisotropy.b4_k)?;
        require_finite("c4_k", anisotropy.c4_k)?;
        require_finite("e_k", anisotropy.e_k)?;
        require_finite("transverse_field_t", transverse_field_t)?;
        if transverse_field_t.abs() > 1000.0 {
            return Err(ParameterError::new(
                "transverse_field_t",
                transverse_field_t,
                "a field must be finite, |B| <= 1000 T",
            ));
        }
        Ok(Self {
            spin,
            anisotropy,
            transverse_field_t,
            tan_misalignment: 0.0,
            misalignment_deg: 0.0,
            g_par: spin.g_par(),
        })
    }

    /// The paper's axial Hamiltonian (Eq. 1) of `spin`.
    pub fn axial(spin: GiantSpin) -> Self {
        Self {
            spin,
            anisotropy: Anisotropy::ZERO,
            transverse_field_t: 0.0,
            tan_misalignment: 0.0,
            misalignment_deg: 0.0,
            g_par: spin.g_par(),
        }
    }

    /// This Hamiltonian with the easy axis at `theta_deg` (0..=[`MAX_MISALIGNMENT_DEG`]) to the
    /// applied field, which is then the field argument of every method: Bz = B cos(theta)
    /// through g cos(theta), Bx = B sin(theta). Exclusive with a fixed transverse field. An
    /// angle of 0 returns the Hamiltonian unchanged (bit for bit).
    pub fn with_misalignment_deg(self, theta_deg: f64) -> Result<Self, ParameterError> {
        if !(theta_deg.is_finite() && (0.0..=MAX_MISALIGNMENT_DEG).contains(&theta_deg)) {
            return Err(ParameterError::new(
                "misalignment_deg",
                theta_deg,
                format!("must be in [0, {MAX_MISALIGNMENT_DEG}] degrees (the angle between the easy axis and the applied field)"),
            ));
        }
        if self.transverse_field_t != 0.0 {
            return Err(ParameterError::new(
                "misalignment_deg",
                theta_deg,
                "give either a misalignment or <material.transverse_field_t>, not both (a misalignment makes the transverse field B sin(theta))",
            ));
        }
        if theta_deg == 0.0 {
            return Ok(self);
        }
        let theta = theta_deg.to_radians();
        let spin = GiantSpin::new(
            self.spin.spin(),
            self.spin.d_k(),
            self.spin.g_par() * theta.cos(),
        )?;
        Ok(Self {
            spin,
            tan_misalignment: theta.tan(),
            misalignment_deg: theta_deg,
            ..self
        })
    }

    /// The Hamiltonian at applied field `field_t` with the misalignment's transverse field
    /// B tan(theta) made fixed (itself when aligned).
    fn at_field(&self, field_t: f64) -> Self {
        if self.tan_misalignment == 0.0 {
            *self
        } else {
            Self {
                transverse_field_t: field_t * self.tan_misalignment,
                tan_misalignment: 0.0,
                ..*self
            }
        }
    }

    /// tan(theta) of the misalignment (0 when aligned).
    pub fn tan_misalignment(&self) -> f64 {
        self.tan_misalignment
    }

    /// The misalignment theta between the easy axis and the applied field, degrees (0 when
    /// aligned), as given.
    pub fn misalignment_deg(&self) -> f64 {
        self.misalignment_deg
    }

    /// The material's g_par, as given: with a misalignment the giant spin's g
    /// ([`SpinHamiltonian::spin`]) is g_par cos(theta), this one is g_par.
    pub fn g_par(&self) -> f64 {
        self.g_par
    }

    /// The numbers that define this Hamiltonian, under the names of the TOML keys (what
    /// `smmcool resonances --json` and `tau --json` print as `hamiltonian` and batch files
    /// store as root attributes).
    pub fn record(&self) -> HamiltonianRecord {
        HamiltonianRecord {
            spin: self.spin.spin(),
            d_k: self.spin.d_k(),
            g_par: self.g_par,
            b4_k: self.anisotropy.b4_k,
            c4_k: self.anisotropy.c4_k,
            e_k: self.anisotropy.e_k,
            transverse_field_t: self.transverse_field_t,
            misalignment_deg: self.misalignment_deg,
        }
    }

    /// The Hamiltonian of preset `key` (any preset, also those the engine refuses) with the
    /// giant-spin overrides `o` and the anisotropy overrides `a` (in the crate's form).
    pub fn from_preset(
        key: &str,
        o: &Overrides,
        a: &AnisotropyOverrides,
    ) -> Result<Self, ParameterError> {
        let (spin, preset) = lookup(key)?.spin_and_anisotropy(o)?;
        let h = Self::new(
            spin,
            Anisotropy {
                b4_k: a.b4_k.unwrap_or(preset.b4_k),
                c4_k: a.c4_k.unwrap_or(preset.c4_k),
                e_k: a.e_k.unwrap_or(preset.e_k),
            },
            a.transverse_field_t.unwrap_or(0.0),
        )?;
        match a.misalignment_deg {
            Some(theta) => h.with_misalignment_deg(theta),
            None => Ok(h),
        }
    }

    /// The giant spin (S, D, g).
    pub fn spin(&self) -> &GiantSpin {
        &self.spin
    }

    /// The giant spin of the kinetic engine with this Hamiltonian's axial part: (S, D, g) with
    /// B4 ([`GiantSpin::with_b4_k`]), whose levels are [`SpinHamiltonian::axial_energy_k`] bit
    /// for bit (the same expression).
    pub fn engine_spin(&self) -> Result<GiantSpin, ParameterError> {
        self.spin.with_b4_k(self.anisotropy.b4_k)
    }

    /// The anisotropy beyond D.
    pub fn anisotropy(&self) -> &Anisotropy {
        &self.anisotropy
    }

    /// The transverse field Bx, T.
    pub fn transverse_field_t(&self) -> f64 {
        self.transverse_field_t
    }

    /// True when the levels of the two wells are coupled (C, E, Bx or the misalignment
    /// non-zero).
    pub fn has_transverse_terms(&self) -> bool {
        self.anisotropy.c4_k != 0.0
            || self.anisotropy.e_k != 0.0
            || self.transverse_field_t != 0.0
            || self.tan_misalignment != 0.0
    }

    /// Energy of the localized level |m> (index `i`, m = i - S) of the axial part
    /// D [m^2 - S(S+1)/3] + B4 m^4 + g mu_B Bz m, K. Equal to [`GiantSpin::energy_k`] when
    /// B4 = 0.
    pub fn axial_energy_k(&self, i: usize, field_t: f64) -> f64 {
        let m = self.spin.m(i);
        let e = self.spin.energy_k(i, field_t);
        if self.anisotropy.b4_k == 0.0 {
            e
        } else {
            e + self.anisotropy.b4_k * (m * m) * (m * m)
        }
    }

    /// The axial energies of all 2S+1 levels at `field_t`, K.
    pub fn axial_energies(&self, field_t: f64) -> Vec<f64> {
        (0..self.spin.n_levels())
            .map(|i| self.axial_energy_k(i, field_t))
            .collect()
    }

    /// Matrix element <j| H_transverse |i> between levels i < j (j - i = 1, 2 or 4), K; zero
    /// for any other distance.
    pub fn coupling_k(&self, i: usize, j: usize) -> f64 {
        let (lo, hi) = if i < j { (i, j) } else { (j, i) };
        let s = self.spin.spin();
        let m = self.spin.m(lo);
        let ladder = |steps: usize| (0..steps).map(|q| raise(s, m + q as f64)).product::<f64>();
        match hi - lo {
            1 => 0.5 * self.spin.zeeman_k_per_t() * self.transverse_field_t * ladder(1),
            2 => 0.5 * self.anisotropy.e_k * ladder(2),
            4 => self.anisotropy.c4_k * ladder(4),
            _ => 0.0,
        }
    }

    /// The full Hamiltonian at longitudinal field `field_t` as a dense symmetric matrix in the
    /// |m> basis (row-major, (2S+1)^2 entries, index i = m + S), K.
    pub fn matrix_k(&self, field_t: f64) -> Vec<f64> {
        if self.tan_misalignment != 0.0 {
            return self.at_field(field_t).matrix_k(field_t);
        }
        let n = self.spin.n_levels();
        let mut h = vec![0.0; n * n];
        for i in 0..n {
            h[i * n + i] = self.axial_energy_k(i, field_t);
            for d in [1, 2, 4] {
                if i + d < n {
                    let v = self.coupling_k(i, i + d);
                    h[i * n + i + d] = v;
                    h[(i + d) * n + i] = v;
                }
            }
        }
        h
    }
}

/// A resonance of the axial part: the localized level m of the metastable well (m > 0, raised
/// by a positive Bz) and the level m' = k - m of the other well have the same energy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resonance {
    /// Index of level m (m = i - S).
    pub i: usize,
    /// Index of level m'.
    pub i_prime: usize,
    /// m.
    pub m: f64,
    /// m' = k - m.
    pub m_prime: f64,
    /// The resonance number k = m + m'.
    pub k: u32,
    /// The longitudinal field Bz of the crossing, T.
    pub field_t: f64,
    /// The axial energy of both levels there, K.
    pub energy_k: f64,
    /// The same above the ground level (m = -S) at that field, K.
    pub energy_above_ground_k: f64,
}

impl SpinHamiltonian {
    /// The field at which levels `i` (m) and `i_prime` (m') of the axial part cross:
    /// g mu_B Bz = -(m + m') [D + B4 (m^2 + m'^2)], T. For B4 = 0 this is
    /// [`GiantSpin::resonance_field_t`] for k = m + m' (bit for bit).
    pub fn crossing_field_t(&self, i: usize, i_prime: usize) -> f64 {
        let (m, mp) = (self.spin.m(i), self.spin.m(i_prime));
        let k = m + mp;
        let slope = if self.anisotropy.b4_k == 0.0 {
            self.spin.d_k()
        } else {
            self.spin.d_k() + self.anisotropy.b4_k * (m * m + mp * mp)
        };
        -(k * slope) / self.spin.zeeman_k_per_t()
    }

    /// The resonances k = 0..=`k_max` between localized levels: for each k, every m from S down
    /// with m > m' = k - m >= -S whose crossing field leaves the metastable well in place
    /// (m = S above its neighbour m = S - 1) and whose energy is below the top of the axial
    /// barrier at that field (the highest axial level). Ordered by k, then by m from S down.
    /// Needs an easy axis (D < 0) and S >= 1.
    pub fn resonances(&self, k_max: u32) -> Result<Vec<Resonance>, ParameterError> {
        if self.spin.d_k() >= 0.0 || self.spin.two_s() < 2 {
            return Err(ParameterError::new(
                "d_k",
                self.spin.d_k(),
                "resonances need an easy axis (D < 0) and S >= 1",
            ));
        }
        let n = self.spin.n_levels();
        let two_s = self.spin.two_s() as usize;
        let mut out = Vec::new();
        for k in 0..=k_max as usize {
            // m' = k - m has index i' = 2S + k - i; m > m' <=> 2i > 2S + k; m' <= S <=> i' < n.
            for i in (0..n).rev() {
                let i_prime = two_s + k - i;
                if 2 * i <= two_s + k || i_prime >= n {
                    continue;
                }
                let field_t = self.crossing_field_t(i, i_prime);
                let e = self.axial_energies(field_t);
                let top = e.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let well = e[n - 1] < e[n - 2];
                if !(well && e[i] < top && e[i_prime] < top) {
                    continue;
                }
                out.push(Resonance {
                    i,
                    i_prime,
                    m: self.spin.m(i),
                    m_prime: self.spin.m(i_prime),
                    k: k as u32,
                    field_t,
                    energy_k: e[i],
                    energy_above_ground_k: e[i] - e[0],
                });
            }
        }
        Ok(out)
    }
}

/// Solve (x I - H_QQ) y = rhs for two right-hand sides by Gaussian elimination with partial
/// pivoting in double-double; `hqq` is row-major nq x nq. `None` when x is an eigenvalue of
/// H_QQ (a zero pivot).
fn resolvent_solve(x: Dd, hqq: &[f64], nq: usize, rhs: [&[f64]; 2]) -> Option<[Vec<Dd>; 2]> {
    let w = nq + 2;
    let mut a = vec![Dd::ZERO; nq * w];
    for r in 0..nq {
        for c in 0..nq {
            let v = Dd::from_f64(-hqq[r * nq + c]);
            a[r * w + c] = if r == c { x + v } else { v };
        }
        a[r * w + nq] = Dd::from_f64(rhs[0][r]);
        a[r * w + nq + 1] = Dd::from_f64(rhs[1][r]);
    }
    for col in 0..nq {
        let piv = (col..nq)
            .max_by(|&p, &q| a[p * w + col].hi.abs().total_cmp(&a[q * w + col].hi.abs()))?;
        if a[piv * w + col].hi == 0.0 {
            return None;
        }
        if piv != col {
            for c in 0..w {
                a.swap(piv * w + c, col * w + c);
            }
        }
        let p = a[col * w + col];
        for r in col + 1..nq {
            let f = a[r * w + col];
            if f.hi == 0.0 {
                continue;
            }
            let f = f / p;
            for c in col..w {
                let v = a[col * w + c];
                if v.hi != 0.0 {
                    a[r * w + c] = a[r * w + c] - f * v;
                }
            }
        }
    }
    let mut out = [vec![Dd::ZERO; nq], vec![Dd::ZERO; nq]];
    for (k, y) in out.iter_mut().enumerate() {
        for r in (0..nq).rev() {
            let mut acc = a[r * w + nq + k];
            for c in r + 1..nq {
                if a[r * w + c].hi != 0.0 {
                    acc = acc - a[r * w + c] * y[c];
                }
            }
            y[r] = acc / a[r * w + r];
        }
    }
    Some(out)
}

fn dot(x: &[f64], y: &[Dd]) -> Dd {
    x.iter()
        .zip(y)
        .filter(|(a, _)| **a != 0.0)
        .fold(Dd::ZERO, |acc, (a, b)| acc + Dd::from_f64(*a) * *b)
}

fn dd_dot(x: &[Dd], y: &[Dd]) -> Dd {
    x.iter().zip(y).fold(Dd::ZERO, |acc, (a, b)| acc + *a * *b)
}

impl SpinHamiltonian {
    /// The tunnel splitting Delta(m, m') of resonance `r`, K: the minimum over Bz of the gap
    /// between the two exact eigenvalues that continue the crossing levels m and m'. Computed
    /// by partitioning H on the pair P = {m, m'} (a Schur complement over the other levels Q,
    /// exact) in double-double arithmetic; the gap comes from the pair's effective coupling and
    /// resolvent products, never from a difference of eigenvalues, so its relative precision
    /// does not degrade with its size (docs/numerics.md section 12). Zero when no transverse
    /// term connects m and m'.
    pub fn tunnel_splitting_k(&self, r: &Resonance) -> Result<f64, NumericsError> {
        if self.tan_misalignment != 0.0 {
            // The transverse field of a misalignment at the crossing, B_k tan(theta): the gap's
            // minimum lies within the resonance width (1e-15..1e-4 T) of B_k.
            return self.at_field(r.field_t).tunnel_splitting_k(r);
        }
        let n = self.spin.n_levels();
        let (i, ip) = (r.i, r.i_prime);
        let q: Vec<usize> = (0..n).filter(|&x| x != i && x != ip).collect();
        let nq = q.len();
        let h_m: Vec<f64> = q.iter().map(|&x| self.coupling_k(x, i)).collect();
        let h_mp: Vec<f64> = q.iter().map(|&x| self.coupling_k(x, ip)).collect();
        let direct = self.coupling_k(i, ip);
        let fail = || NumericsError::NoSplitting {
            m: r.m,
            m_prime: r.m_prime,
            field_t: r.field_t,
        };
        // The pair is uncoupled when no chain of transverse steps joins m and m'.
        let steps: Vec<usize> = [1usize, 2, 4]
            .into_iter()
            .filter(|&d| (0..n - d).any(|x| self.coupling_k(x, x + d) != 0.0))
            .collect();
        let reach = steps.iter().fold(0usize, |g, &d| gcd(g, d));
        if reach == 0 || (i - ip) % reach != 0 {
            return Ok(0.0);
        }
        let dm = r.m - r.m_prime;
        let slope = self.spin.zeeman_k_per_t() * dm; // d(a - b)/dBz
        let mut bz = r.field_t;
        let mut lam = [Dd::from_f64(r.energy_k), Dd::from_f64(r.energy_k)];
        let mut g = 0.0_f64;
        let half = Dd::from_f64(0.5);
        // The pair's 2x2 at the two energies lam at field bz: a, b, |t| at lam[0] and lam[1],
        // and U, V of the resolvent identity a(x) - a(y) = -(x - y) (R(x) h_m).(R(y) h_m).
        let pair_at = |bz: f64, lam: [Dd; 2]| -> Result<PairTerms, NumericsError> {
            let hm = self.matrix_k(bz);
            let mut hqq = vec![0.0; nq * nq];
            for (a, &x) in q.iter().enumerate() {
                for (b, &y) in q.iter().enumerate() {
                    hqq[a * nq + b] = hm[x * n + y];
                }
            }
            let hii = Dd::from_f64(hm[i * n + i]);
            let hpp = Dd::from_f64(hm[ip * n + ip]);
            let [ym_p, ymp_p] =
                resolvent_solve(lam[0], &hqq, nq, [&h_m, &h_mp]).ok_or_else(fail)?;
            let [ym_m, ymp_m] =
                resolvent_solve(lam[1], &hqq, nq, [&h_m, &h_mp]).ok_or_else(fail)?;
            let a = [hii + dot(&h_m, &ym_p), hii + dot(&h_m, &ym_m)];
            let b = [hpp + dot(&h_mp, &ymp_p), hpp + dot(&h_mp, &ymp_m)];
            let direct = Dd::from_f64(direct);
            let t = [
                (direct + dot(&h_m, &ymp_p)).abs(),
                (direct + dot(&h_mp, &ym_m)).abs(),
            ];
            let am = -dd_dot(&ym_p, &ym_m).to_f64();
            let amp = -dd_dot(&ymp_p, &ymp_m).to_f64();
            Ok((a, b, t, (am - amp) / 2.0, (am + amp) / 2.0))
        };
        for iteration in 0..400 {
            let (a, b, t, u, v) = pair_at(bz, lam)?;
            let tt = t[0] + t[1];
            let den = (1.0 - v) * (1.0 - v) - u * u;
            if den.is_nan() || den <= 0.0 {
                return Err(fail());
            }
            let g_new = tt.to_f64() / den.sqrt();
            let len = g_new * (1.0 - v);
            let (wp, wm) = if tt.hi > 0.0 {
                (t[0].to_f64() / tt.to_f64(), t[1].to_f64() / tt.to_f64())
            } else {
                (0.5, 0.5)
            };
            let lp = (a[0] + b[0]) * half + Dd::from_f64(wp * len);
            let lm = (a[1] + b[1]) * half - Dd::from_f64(wm * len);
            // The optimal bias at lambda+: a - b = 2 g U w+ (the shortest path of the two
            // distances sqrt(u^2 + t^2), docs/numerics.md section 12). The gap formula has
            // the bias eliminated, so Bz is needed only to f64 precision (it enters through
            // the other levels' energies).
            let bias = (a[0] - b[0]).to_f64();
            let db = (2.0 * g_new * u * wp - bias) / slope;
            // The tolerances; after 50 iterations they widen tenfold: the iteration can end
            // in a cycle of period two at the rounding level of the field (one ulp of Bz
            // moves g by ~1e-15 relative for deep pairs at high fields), which is converged.
            let loose = if iteration >= 50 { 10.0 } else { 1.0 };
            let done = iteration > 2
                && (g_new - g).abs() <= loose * 4e-16 * g_new
                && db.abs() <= loose * 2e-15 * bz.abs().max(1.0)
                && (lp - lam[0]).to_f64().abs() <= loose * 1e-14 * lp.to_f64().abs().max(1.0)
                && (lm - lam[1]).to_f64().abs() <= loose * 1e-14 * lm.to_f64().abs().max(1.0);
            g = g_new;
            lam = [lp, lm];
            bz += db;
            if done {
                break;
            }
            if iteration == 399 {
                return Err(fail());
            }
        }
        if g < SPLITTING_REFINE_K {
            return Ok(g);
        }
        // Large splittings: the couplings also depend on Bz (through the other levels), which
        // the bias elimination held fixed. Minimize the exact gap at a given field (the pair's
        // eigenvalue equations with the actual bias; no cancellation at this size) over Bz:
        // gap^2 is a parabola in Bz near its minimum.
        let gap_at = |bz: f64, mut lam: [Dd; 2]| -> Result<f64, NumericsError> {
            for _ in 0..200 {
                let (a, b, t, _, _) = pair_at(bz, lam)?;
                let root = |k: usize| {
                    let u = ((a[k] - b[k]) * half).to_f64();
                    let t = t[k].to_f64();
                    (u * u + t * t).sqrt()
                };
                let lp = (a[0] + b[0]) * half + Dd::from_f64(root(0));
                let lm = (a[1] + b[1]) * half - Dd::from_f64(root(1));
                let moved = (lp - lam[0])
                    .to_f64()
                    .abs()
                    .max((lm - lam[1]).to_f64().abs());
                lam = [lp, lm];
                if moved <= 1e-17 * lp.to_f64().abs().max(1.0) {
                    return Ok((lam[0] - lam[1]).to_f64());
                }
            }
            Err(fail())
        };
        let h = g / slope.abs();
        let mut best = gap_at(bz, lam)?;
        for _ in 0..3 {
            let f0 = best * best;
            let fp = gap_at(bz + h, lam)?.powi(2);
            let fm = gap_at(bz - h, lam)?.powi(2);
            let curv = fp - 2.0 * f0 + fm;
            if curv <= 0.0 {
                return Err(fail());
            }
            bz -= h * (fp - fm) / (2.0 * curv);
            best = gap_at(bz, lam)?;
        }
        Ok(best)
    }
}

/// How a tunnel splitting was computed ([`SpinHamiltonian::tunnel_splitting`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplittingMethod {
    /// Partitioning on the pair in double-double ([`SpinHamiltonian::tunnel_splitting_k`]):
    /// full relative precision.
    Partitioned,
    /// The pair is not separated from the other levels (the partitioned iteration does not
    /// converge): the minimum over Bz of the gap between the two exact eigenvalues that
    /// continue the crossing levels (counted from below), from a dense double-precision
    /// diagonalization; absolute error ~1e-13 of the largest level energy.
    Dense,
}

impl SplittingMethod {
    /// The name used in the output (`partitioned`, `dense`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Partitioned => "partitioned",
            Self::Dense => "dense",
        }
    }
}

/// A tunnel splitting with how it was obtained and how localized the pair is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Splitting {
    /// Delta, K.
    pub splitting_k: f64,
    /// The method.
    pub method: SplittingMethod,
    /// The smaller of the two eigenstates' weights on the pair, |<m|psi>|^2 + |<m'|psi>|^2,
    /// at the field of the minimum gap (1 for localized levels; below 1/2 the pair's levels
    /// are mostly other levels: delocalized, the localized-level picture does not describe
    /// them).
    pub pair_weight: f64,
}

impl Splitting {
    /// True when the pair carries less than half of either eigenstate (`pair_weight` < 1/2).
    pub fn delocalized(&self) -> bool {
        self.pair_weight < 0.5
    }
}

impl SpinHamiltonian {
    /// The tunnel splitting of resonance `r` by the partitioned method
    /// ([`SpinHamiltonian::tunnel_splitting_k`]) or, when the pair is not separated from the
    /// other levels (strong transverse terms mix it with its neighbours, so the iteration does
    /// not converge), by the dense fallback ([`SplittingMethod::Dense`]). Never fails on a
    /// pair that has a crossing; such strongly mixed pairs have large splittings (1e-4 K and
    /// more), where double precision gives many digits.
    pub fn tunnel_splitting(&self, r: &Resonance) -> Result<Splitting, NumericsError> {
        if self.tan_misalignment != 0.0 {
            return self.at_field(r.field_t).tunnel_splitting(r);
        }
        match self.tunnel_splitting_k(r) {
            Ok(d) => Ok(Splitting {
                splitting_k: d,
                method: SplittingMethod::Partitioned,
                pair_weight: if d > 0.0 {
                    self.dense_pair(r, r.field_t).1
                } else {
                    1.0
                },
            }),
            Err(NumericsError::NoSplitting { .. }) => {
                let (d, w) = self.dense_splitting(r);
                Ok(Splitting {
                    splitting_k: d,
                    method: SplittingMethod::Dense,
                    pair_weight: w,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// At field `bz`: the gap between the eigenvalues number j and j + 1 (from below) of the
    /// dense H, j the number of the other axial levels below the pair at its crossing (the two
    /// eigenvalues that continue the crossing levels, as scripts/tunnel_splittings_reference.py
    /// counts them), and the smaller of the two eigenstates' weights on the pair {m, m'}.
    fn dense_pair(&self, r: &Resonance, bz: f64) -> (f64, f64) {
        let n = self.spin.n_levels();
        let e = self.axial_energies(r.field_t);
        let j = (0..n)
            .filter(|&q| q != r.i && q != r.i_prime && e[q] < e[r.i])
            .count();
        let h = nalgebra::DMatrix::from_row_slice(n, n, &self.matrix_k(bz));
        let eig = nalgebra::SymmetricEigen::new(h);
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| eig.eigenvalues[a].total_cmp(&eig.eigenvalues[b]));
        let weight = |c: usize| {
            let v = eig.eigenvectors.column(c);
            v[r.i] * v[r.i] + v[r.i_prime] * v[r.i_prime]
        };
        let (a, b) = (order[j], order[(j + 1).min(n - 1)]);
        (
            eig.eigenvalues[b] - eig.eigenvalues[a],
            weight(a).min(weight(b)),
        )
    }

    /// The dense fallback: the minimum over Bz of [`Self::dense_pair`]'s gap within a quarter
    /// of the resonance spacing of the axial crossing (41 samples, then golden-section search
    /// to 1e-12 T around the best), with the pair weight there.
    fn dense_splitting(&self, r: &Resonance) -> (f64, f64) {
        let quarter = 0.25 * self.spin.d_k().abs() / self.spin.zeeman_k_per_t();
        let samples = 40;
        let at = |q: usize| r.field_t - quarter + 2.0 * quarter * q as f64 / samples as f64;
        let gaps: Vec<f64> = (0..=samples).map(|q| self.dense_pair(r, at(q)).0).collect();
        let best = (0..=samples)
            .min_by(|&p, &q| gaps[p].total_cmp(&gaps[q]))
            .unwrap_or(samples / 2);
        let (mut lo, mut hi) = (at(best.saturating_sub(1)), at((best + 1).min(samples)));
        let phi = 0.5 * (5.0_f64.sqrt() - 1.0);
        let mut x1 = hi - phi * (hi - lo);
        let mut x2 = lo + phi * (hi - lo);
        let (mut f1, mut f2) = (self.dense_pair(r, x1).0, self.dense_pair(r, x2).0);
        while hi - lo > 1e-12 {
            if f1 <= f2 {
                hi = x2;
                (x2, f2) = (x1, f1);
                x1 = hi - phi * (hi - lo);
                f1 = self.dense_pair(r, x1).0;
            } else {
                lo = x1;
                (x1, f1) = (x2, f2);
                x2 = lo + phi * (hi - lo);
                f2 = self.dense_pair(r, x2).0;
            }
        }
        // The best of the bracket's points (the gap need not be smooth where the two
        // states of largest weight change).
        [x1, x2, at(best)]
            .into_iter()
            .map(|x| self.dense_pair(r, x))
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .unwrap_or((f64::NAN, 0.0))
    }
}

/// a, b and |t| of the pair's 2x2 at two energies, and U, V of the resolvent identity.
type PairTerms = ([Dd; 2], [Dd; 2], [Dd; 2], f64, f64);

/// Splittings above this (K) are refined by a minimization over Bz of the exact gap.
const SPLITTING_REFINE_K: f64 = 1e-6;

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // exact equalities (the axial limit, symmetry) are the point
mod tests {
    use super::*;
    use crate::model::{preset, Material, PRESETS};

    #[test]
    fn axial_limit_is_the_papers_levels_bit_for_bit() {
        for p in PRESETS.iter().filter(|p| p.stevens.is_none()) {
            let mat = Material::from_preset(p.key, &Overrides::default()).unwrap();
            let h = SpinHamiltonian::from_preset(
                p.key,
                &Overrides::default(),
                &AnisotropyOverrides::default(),
            )
            .unwrap();
            assert_eq!(h, SpinHamiltonian::axial(mat.spin));
            assert!(!h.has_transverse_terms());
            for b in [-3.0, -0.5, 0.0, 0.3, 0.5224, 1.0, 9.0] {
                let n = mat.spin.n_levels();
                let m = h.matrix_k(b);
                for i in 0..n {
                    assert_eq!(
                        h.axial_energy_k(i, b).to_bits(),
                        mat.spin.energy_k(i, b).to_bits()
                    );
                    for j in 0..n {
                        let want = if i == j { mat.spin.energy_k(i, b) } else { 0.0 };
                        assert_eq!(m[i * n + j], want, "{} B = {b}: H[{i},{j}]", p.key);
                    }
                }
            }
        }
    }

    /// The O_4^0 polynomial written out as Barra et al. print it, evaluated directly, against
    /// the converted form: level differences agree (the forms differ by a constant only).
    #[test]
    fn stevens_conversion_reproduces_the_stevens_levels() {
        for key in ["mn12ac-mirebeau", "mn12ac-barra", "mn12ac-bircher"] {
            let p = preset(key).unwrap();
            let h = SpinHamiltonian::from_preset(
                key,
                &Overrides::default(),
                &AnisotropyOverrides::default(),
            )
            .unwrap();
            let s = p.spin;
            let ss1 = s * (s + 1.0);
            let d = cm1_to_kelvin(p.d_cm1);
            let b40 = cm1_to_kelvin(p.stevens.b40_cm1);
            let stevens = |m: f64| {
                d * (m * m - ss1 / 3.0)
                    + b40
                        * (35.0 * m.powi(4) - 30.0 * ss1 * m * m + 25.0 * m * m - 6.0 * ss1
                            + 3.0 * ss1 * ss1)
            };
            for b in [0.0, 0.47, 2.0] {
                let g = h.spin().zeeman_k_per_t() * b;
                let ours: Vec<f64> = h.axial_energies(b);
                let n = ours.len();
                for i in 0..n {
                    let m = h.spin().m(i);
                    let want = (stevens(m) + g * m) - (stevens(-s) - g * s);
                    let got = ours[i] - ours[0];
                    assert!(
                        (got - want).abs() <= 1e-12 * want.abs().max(1.0),
                        "{key} m = {m}: {got} vs {want}"
                    );
                }
            }
            // O_4^4 = (S+^4 + S-^4)/2: C = B_4^4 / 2; E is the coefficient of Sx^2 - Sy^2.
            assert_eq!(h.anisotropy().c4_k, 0.5 * cm1_to_kelvin(p.stevens.b44_cm1));
            assert_eq!(h.anisotropy().e_k, cm1_to_kelvin(p.stevens.e_cm1));
        }
    }

    /// Mirebeau's parameters in the -D Sz^2 - B Sz^4 form: D = 0.548 K and B = 1.17 mK, the
    /// values quoted for Mn12Ac in that form in the tunnelling literature (for example Kent et
    /// al., EPL 49, 521 (2000)).
    #[test]
    fn mirebeau_in_the_d_b_form() {
        let h = SpinHamiltonian::from_preset(
            "mn12ac-mirebeau",
            &Overrides::default(),
            &AnisotropyOverrides::default(),
        )
        .unwrap();
        assert!(
            (h.spin().d_k() + 0.548).abs() < 0.0005,
            "{}",
            h.spin().d_k()
        );
        assert!(
            (h.anisotropy().b4_k + 1.17e-3).abs() < 0.005e-3,
            "{}",
            h.anisotropy().b4_k
        );
    }

    /// Matrix elements against the angular-momentum algebra: H is symmetric, and <m+1|Sx|m>,
    /// built from S+, gives Sx^2 + Sy^2 + Sz^2 = S(S+1) on the diagonal of the E = 0, C = 0,
    /// Bx matrix squared (Sx^2 diagonal from Sx = (S+ + S-)/2).
    #[test]
    fn transverse_matrix_elements_follow_the_spin_algebra() {
        let spin = GiantSpin::new(10.0, -0.65, 2.0).unwrap();
        let bx = 0.3;
        let h = SpinHamiltonian::new(spin, Anisotropy::ZERO, bx).unwrap();
        let n = spin.n_levels();
        let z = spin.zeeman_k_per_t() * bx;
        // Sx as the off-diagonal part / (g mu_B Bx).
        let sx = |i: usize, j: usize| {
            if i.abs_diff(j) == 1 {
                h.coupling_k(i, j) / z
            } else {
                0.0
            }
        };
        for i in 0..n {
            // <m|Sx^2|m> = (S(S+1) - m^2)/2.
            let sx2: f64 = (0..n).map(|k| sx(i, k) * sx(k, i)).sum();
            let m = spin.m(i);
            assert!((sx2 - (110.0 - m * m) / 2.0).abs() < 1e-12, "m = {m}");
        }
        let with_e = SpinHamiltonian::new(
            spin,
            Anisotropy {
                b4_k: 0.0,
                c4_k: 1e-4,
                e_k: 0.01,
            },
            bx,
        )
        .unwrap();
        let mat = with_e.matrix_k(0.2);
        for i in 0..n {
            for j in 0..n {
                assert_eq!(mat[i * n + j], mat[j * n + i]);
            }
        }
        // <m+2|Sx^2 - Sy^2|m> = <m+2|S+^2|m>/2 and <m+4|S+^4|m> for m = -10.
        let p2 = (110.0_f64 - 90.0).sqrt() * (110.0_f64 - 72.0).sqrt();
        assert!((mat[2 * n] - 0.005 * p2).abs() < 1e-15);
        let p4: f64 = [90.0, 72.0, 56.0, 42.0]
            .iter()
            .map(|x: &f64| (110.0 - x).sqrt())
            .product();
        assert!((mat[4 * n] - 1e-4 * p4).abs() < 1e-15);
    }

    #[test]
    fn spectroscopic_presets_are_refused_by_levels_and_limits_and_taken_by_trajectories() {
        for key in ["mn12ac-mirebeau", "mn12ac-barra", "mn12ac-bircher"] {
            let e = Material::from_preset(key, &Overrides::default()).unwrap_err();
            assert_eq!(e.name, "material");
            assert!(e.allowed.contains("use the localized axial levels"), "{e}");
            let m = Material::for_trajectories(key, &Overrides::default()).unwrap();
            assert!(m.has_tunnelling());
            let h = SpinHamiltonian::from_preset(
                key,
                &Overrides::default(),
                &AnisotropyOverrides::default(),
            )
            .unwrap();
            assert_eq!(m.hamiltonian, h);
            assert_eq!(m.spin, h.engine_spin().unwrap());
            let rates = m.rate_model(crate::rates::KappaScaling::Arrhenius).unwrap();
            let names: Vec<&str> = rates.mechanisms().iter().map(|x| x.name()).collect();
            assert_eq!(names, ["spin-phonon", "tunnelling"]);
        }
        // The axial presets: no tunnelling, the spin-phonon model alone.
        let m = Material::for_trajectories("mn12ac", &Overrides::default()).unwrap();
        assert_eq!(m, Material::mn12ac());
        assert!(!m.has_tunnelling());
        let rates = m.rate_model(crate::rates::KappaScaling::Arrhenius).unwrap();
        assert_eq!(rates.mechanisms().len(), 1);
    }

    /// The dense fallback against the partitioned method where both apply (pairs with
    /// Delta > 1e-3 K, where a double-precision eigenvalue difference has ten digits; to the
    /// 1e-6 that the partitioned method keeps for the large k > 0 splittings, numerics.md
    /// section 12), and
    /// the pairs the partitioned iteration cannot separate (strong transverse terms) get a
    /// dense splitting, flagged, with the weight of the pair below 1/2 (Barra with Bx = 1 T:
    /// m = +-7 carry 0.232 each of their eigenstates at Bz = 0, which are 1.7e-4 K apart, as a
    /// numpy diagonalization showed; the mpmath reference is in tests/tunnelling.rs).
    #[test]
    fn dense_fallback_agrees_where_both_apply_and_takes_the_mixed_pairs() {
        let h = SpinHamiltonian::from_preset(
            "mn12ac-bircher",
            &Overrides::default(),
            &AnisotropyOverrides {
                transverse_field_t: Some(0.05),
                ..AnisotropyOverrides::default()
            },
        )
        .unwrap();
        let mut compared = 0;
        for r in h.resonances(2).unwrap() {
            let part = h.tunnel_splitting(&r).unwrap();
            assert_eq!(part.method, SplittingMethod::Partitioned, "{r:?}");
            if part.splitting_k > 1e-3 {
                let (dense, w) = h.dense_splitting(&r);
                assert!(
                    (dense - part.splitting_k).abs() <= 1e-6 * part.splitting_k,
                    "{r:?}: dense {dense} vs partitioned {}",
                    part.splitting_k
                );
                assert!((w - part.pair_weight).abs() < 0.05, "{r:?}: {w} {part:?}");
                compared += 1;
            }
        }
        assert!(compared >= 4, "{compared}");
        let strong = SpinHamiltonian::from_preset(
            "mn12ac-barra",
            &Overrides::default(),
            &AnisotropyOverrides {
                transverse_field_t: Some(1.0),
                ..AnisotropyOverrides::default()
            },
        )
        .unwrap();
        let r = strong.resonances(0).unwrap();
        let seven = r.iter().find(|x| x.m == 7.0).unwrap();
        assert!(strong.tunnel_splitting_k(seven).is_err());
        let s = strong.tunnel_splitting(seven).unwrap();
        assert_eq!(s.method, SplittingMethod::Dense);
        assert!(s.delocalized());
        assert!((s.pair_weight - 0.464).abs() < 0.002, "{s:?}");
        assert!((s.splitting_k - 1.7e-4).abs() < 0.1e-4, "{s:?}");
        // The ground pair stays localized enough for the partitioned method.
        let ten = r.iter().find(|x| x.m == 10.0).unwrap();
        assert_eq!(
            strong.tunnel_splitting(ten).unwrap().method,
            SplittingMethod::Partitioned
        );
    }

    /// B4 = 0: every crossing field is the paper's B_k = k |D| / (g mu_B), and the two levels
    /// are degenerate there; with B4 the field depends on m as the closed form says, and the
    /// levels are degenerate at that field (checked on the energies themselves).
    #[test]
    fn resonance_fields_and_degeneracy() {
        let mat = Material::mn12ac();
        let h = SpinHamiltonian::axial(mat.spin);
        let r = h.resonances(3).unwrap();
        assert!(!r.is_empty());
        for x in &r {
            assert_eq!(x.m + x.m_prime, f64::from(x.k));
            assert_eq!(x.field_t, mat.spin.resonance_field_t(x.k), "{x:?}");
        }
        // k = 0: m = 10..1 (the top is m = 0); k = 1: m = 10..2, because at B_1 the levels
        // m = 1 and m' = 0 are the top of the barrier (E = -|D| m (m - 1) + const).
        assert_eq!(r.iter().filter(|x| x.k == 0).count(), 10);
        assert_eq!(r.iter().filter(|x| x.k == 1).count(), 9);
        assert_eq!(r.iter().rfind(|x| x.k == 1).unwrap().m, 2.0);
        let q = SpinHamiltonian::from_preset(
            "mn12ac-mirebeau",
            &Overrides::default(),
            &AnisotropyOverrides::default(),
        )
        .unwrap();
        let r = q.resonances(4).unwrap();
        for x in &r {
            let e = q.axial_energies(x.field_t);
            let scale = e[x.i].abs().max(1.0);
            assert!(
                (e[x.i] - e[x.i_prime]).abs() < 1e-13 * scale,
                "{x:?}: {} vs {}",
                e[x.i],
                e[x.i_prime]
            );
        }
        // B4 < 0 steepens the deep levels: the k = 1 ground pair crosses at a higher field
        // than a pair near the top, B_1(m = 10) = (|D| + |B4| 181)/(g mu_B) = 0.552 T against
        // (|D| + |B4| 41)/(g mu_B) = 0.433 T for m = 5.
        let f = |m: f64| r.iter().find(|x| x.k == 1 && x.m == m).unwrap().field_t;
        assert!(f(10.0) > f(5.0));
        assert!((f(10.0) - 0.552).abs() < 0.0005, "{}", f(10.0));
        assert!((f(5.0) - 0.4327).abs() < 0.0005, "{}", f(5.0));
    }

    /// A misalignment theta is the aligned Hamiltonian at Bz = B cos(theta) with
    /// Bx = B sin(theta): the resonance fields are the aligned ones divided by cos(theta), the
    /// matrices agree entry by entry (1e-15 relative) and every splitting equals the aligned
    /// Hamiltonian's with the fixed Bx = B_k sin(theta) of its crossing (1e-9 relative, 1e-13 K
    /// for a pair the dense fallback takes); the
    /// k = 0 splittings are those without a transverse field. Angle 0 changes nothing; an angle
    /// out of [0, 30] degrees or beside a transverse field is refused.
    #[test]
    fn misalignment_is_the_rotated_field() {
        let key = "mn12ac-barra";
        let o = Overrides::default();
        let aligned =
            SpinHamiltonian::from_preset(key, &o, &AnisotropyOverrides::default()).unwrap();
        let theta = 3.0_f64;
        let tilted = aligned.with_misalignment_deg(theta).unwrap();
        let (c, sn) = (theta.to_radians().cos(), theta.to_radians().sin());
        assert!(tilted.has_transverse_terms());
        let b = 0.7;
        let (ht, ha) = (
            tilted.matrix_k(b),
            SpinHamiltonian::new(*aligned.spin(), *aligned.anisotropy(), b * sn)
                .unwrap()
                .matrix_k(b * c),
        );
        for (x, y) in ht.iter().zip(&ha) {
            assert!((x - y).abs() <= 1e-15 * y.abs().max(1.0), "{x} vs {y}");
        }
        let rt = tilted.resonances(3).unwrap();
        let ra = aligned.resonances(3).unwrap();
        assert_eq!(rt.len(), ra.len());
        let mut odd = 0;
        for (t, a) in rt.iter().zip(&ra) {
            assert_eq!((t.i, t.i_prime), (a.i, a.i_prime));
            assert!((t.field_t * c - a.field_t).abs() <= 1e-14 * a.field_t.abs().max(1e-3));
            let want = SpinHamiltonian::new(*aligned.spin(), *aligned.anisotropy(), t.field_t * sn)
                .unwrap()
                .tunnel_splitting(a)
                .unwrap();
            let split = tilted.tunnel_splitting(t).unwrap();
            let (got, want) = (split.splitting_k, want.splitting_k);
            // Partitioned: full relative precision; dense fallback: double precision of the
            // eigenvalues, ~1e-13 K absolute (section 10.4).
            let tol = match split.method {
                SplittingMethod::Partitioned => 1e-9 * want,
                SplittingMethod::Dense => 1e-13,
            };
            assert!(
                (got - want).abs() <= tol,
                "k = {} m = {}: {got} vs {want}",
                t.k,
                t.m
            );
            if t.k == 0 {
                assert_eq!(got, aligned.tunnel_splitting(a).unwrap().splitting_k);
            }
            if t.k % 2 == 1 && got > 0.0 {
                odd += 1;
            }
        }
        assert!(odd > 10, "{odd}");
        assert_eq!(aligned.with_misalignment_deg(0.0).unwrap(), aligned);
        for bad in [-1.0, 31.0, f64::NAN] {
            assert!(aligned.with_misalignment_deg(bad).is_err());
        }
        let with_bx = SpinHamiltonian::new(*aligned.spin(), *aligned.anisotropy(), 0.1).unwrap();
        assert!(with_bx.with_misalignment_deg(1.0).is_err());
    }
}
