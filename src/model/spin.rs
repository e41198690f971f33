//! Giant-spin levels (paper Eq. 1-2).
//!
//! H = D [Sz^2 - S(S+1)/3] + g_par mu_B Bz Sz with the field along the easy axis, so M is a good
//! quantum number and E_M(B) = D [M^2 - S(S+1)/3] + g_par mu_B B M, M = -S..S.
//! Level index i = 0..2S stands for M = i - S.
//!
//! Optionally a fourth-order axial term B4 M^4 (docs/physics.md section 10.1), for the
//! spectroscopic presets with tunnelling: E_M(B) = D [M^2 - S(S+1)/3] + B4 M^4 + g mu_B B M.
//! With B4 = 0 (the default) every level is the expression above, bit for bit.

use crate::error::{require_finite, require_positive, ParameterError};
use crate::units::MU_B_KELVIN_PER_TESLA;

/// An axial giant spin S with zero-field splitting D (in K) and parallel g factor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GiantSpin {
    two_s: u32,
    d_k: f64,
    g_par: f64,
    /// Fourth-order axial B4 in K (0 for the paper's Eq. 1).
    b4_k: f64,
}

/// Largest spin accepted (2S+1 = 201 levels): the dense kernels are O(n^3).
pub const MAX_SPIN: f64 = 100.0;

impl GiantSpin {
    /// A giant spin. `spin` must be a positive multiple of 1/2 (up to [`MAX_SPIN`]), `d_k` finite
    /// and non-zero (K), `g_par` finite and > 0.
    pub fn new(spin: f64, d_k: f64, g_par: f64) -> Result<Self, ParameterError> {
        let two_s = 2.0 * spin;
        if !(spin.is_finite()
            && spin > 0.0
            && spin <= MAX_SPIN
            && (two_s - two_s.round()).abs() == 0.0)
        {
            return Err(ParameterError::new(
                "spin",
                spin,
                format!("must be a positive multiple of 1/2, at most {MAX_SPIN}"),
            ));
        }
        require_finite("d_k", d_k)?;
        if d_k == 0.0 {
            return Err(ParameterError::new(
                "d_k",
                d_k,
                "must be non-zero (negative for an easy-axis magnet)",
            ));
        }
        require_positive("g_par", g_par)?;
        Ok(Self {
            two_s: two_s.round() as u32,
            d_k,
            g_par,
            b4_k: 0.0,
        })
    }

    /// The same spin with the fourth-order axial term B4 M^4 (K). The axial profile must stay
    /// concave, E_{M+1} - 2 E_M + E_{M-1} = 2 D + B4 (12 M^2 + 2) < 0 for |M| <= S - 1, so that
    /// each well has one bottom and the barrier one top (any B4 <= 0 with D < 0).
    pub fn with_b4_k(self, b4_k: f64) -> Result<Self, ParameterError> {
        require_finite("b4_k", b4_k)?;
        if b4_k != 0.0 && self.two_s >= 2 {
            let s1 = self.spin() - 1.0;
            let top = s1.max(0.0);
            if 2.0 * self.d_k + b4_k * (12.0 * top * top + 2.0) >= 0.0 {
                return Err(ParameterError::new(
                    "b4_k",
                    b4_k,
                    format!(
                        "the axial levels D m^2 + B4 m^4 must form one barrier: 2 D + B4 (12 (S-1)^2 + 2) < 0, here with D = {} K",
                        crate::units::number(self.d_k)
                    ),
                ));
            }
        }
        Ok(Self { b4_k, ..self })
    }

    /// Fourth-order axial B4 in K (0 unless set with [`GiantSpin::with_b4_k`]).
    pub fn b4_k(&self) -> f64 {
        self.b4_k
    }

    /// The spin S.
    pub fn spin(&self) -> f64 {
        f64::from(self.two_s) / 2.0
    }

    /// 2S as an integer.
    pub fn two_s(&self) -> u32 {
        self.two_s
    }

    /// Number of levels, 2S+1.
    pub fn n_levels(&self) -> usize {
        self.two_s as usize + 1
    }

    /// Zero-field splitting D in K.
    pub fn d_k(&self) -> f64 {
        self.d_k
    }

    /// Parallel g factor.
    pub fn g_par(&self) -> f64 {
        self.g_par
    }

    /// Zeeman slope g_par mu_B / k_B in K/T.
    pub fn zeeman_k_per_t(&self) -> f64 {
        self.g_par * MU_B_KELVIN_PER_TESLA
    }

    /// Magnetic quantum number of level `i`.
    pub fn m(&self, i: usize) -> f64 {
        i as f64 - self.spin()
    }

    /// E_M(B) / k_B in K for level `i` (Eq. 2, plus B4 M^4 when set).
    pub fn energy_k(&self, i: usize, field_t: f64) -> f64 {
        let s = self.spin();
        let m = self.m(i);
        let e = self.d_k * (m * m - s * (s + 1.0) / 3.0) + self.zeeman_k_per_t() * field_t * m;
        if self.b4_k == 0.0 {
            e
        } else {
            e + self.b4_k * (m * m) * (m * m)
        }
    }

    /// All level energies at `field_t`, written into `out` (length 2S+1).
    pub fn energies_into(&self, field_t: f64, out: &mut [f64]) {
        assert_eq!(
            out.len(),
            self.n_levels(),
            "energy buffer has the wrong length"
        );
        for (i, e) in out.iter_mut().enumerate() {
            *e = self.energy_k(i, field_t);
        }
    }

    /// All level energies at `field_t` (K).
    pub fn energies(&self, field_t: f64) -> Vec<f64> {
        let mut out = vec![0.0; self.n_levels()];
        self.energies_into(field_t, &mut out);
        out
    }

    /// dE_M/dB = g_par mu_B M in K/T for level `i` (magnetic work per unit field change).
    pub fn energy_slope_k_per_t(&self, i: usize) -> f64 {
        self.zeeman_k_per_t() * self.m(i)
    }

    /// Field of the k-th level crossing, B_k = k |D| / (g_par mu_B) (0.5224 T for Mn12Ac, k = 1);
    /// with B4 the crossings depend on the pair (`crate::model::tunnelling`), and this is the
    /// value of the D term alone.
    pub fn resonance_field_t(&self, k: u32) -> f64 {
        f64::from(k) * self.d_k.abs() / self.zeeman_k_per_t()
    }

    /// Largest |B| at which both wells still exist (the M = +S level is a local minimum for
    /// B > 0): |D|(2S - 1) / (g mu_B), and with B4, -(D (2S - 1) + B4 (S^4 - (S-1)^4)) / (g mu_B)
    /// (from E_S < E_{S-1}). Zero for an easy-plane spin or S = 1/2.
    pub fn bistability_field_t(&self) -> f64 {
        if self.d_k > 0.0 || self.two_s < 2 {
            0.0
        } else if self.b4_k == 0.0 {
            self.d_k.abs() * (f64::from(self.two_s) - 1.0) / self.zeeman_k_per_t()
        } else {
            let s = self.spin();
            let gap = self.d_k * (2.0 * s - 1.0) + self.b4_k * (s.powi(4) - (s - 1.0).powi(4));
            (-gap / self.zeeman_k_per_t()).max(0.0)
        }
    }
}
