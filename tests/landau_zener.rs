//! One passage through a resonance in a trajectory (issue 18): the population that the engine
//! moves across the k = 0 resonance of the ground pair (m = 10, m' = -10) equals the
//! Landau-Zener result of the model's incoherent rate, (1 - exp(-2 delta))/2 with
//! delta = pi Delta^2 / (2 hbar g mu_B |m - m'| dB/dt) (docs/physics.md section 10.5), at fast
//! and slow sweeps.

use smmcool::kinetics::{simulate, EngineContext, EngineOptions, Formulation, RunSpec, Trajectory};
use smmcool::model::protocol::{Protocol, RampShape};
use smmcool::model::tunnelling::AnisotropyOverrides;
use smmcool::model::{Material, Overrides};
use smmcool::rates::tunnelling::Tunnelling;
use smmcool::rates::{KappaScaling, RateModel};
use smmcool::units::{KB_OVER_HBAR_PER_S_K, MU_B_KELVIN_PER_TESLA};

/// `mn12ac-barra` with C = 3e-4 K (inside the kinetic range |C| <= 1e-3 K): the ground pair's
/// splitting, 1.38e-6 K, puts delta = 1 at a sweep of 0.0143 T/s.
fn material() -> Material {
    Material::for_trajectories_with(
        "mn12ac-barra",
        &Overrides::default(),
        &AnisotropyOverrides {
            c4_k: Some(3e-4),
            ..AnisotropyOverrides::default()
        },
    )
    .unwrap()
}

const S: usize = 10;

/// The sweep rate (T/s) whose passage through the pair (m, m') = (S, -S) has Landau-Zener
/// exponent `lz`: delta = pi Delta_w^2 / (2 v_w), Delta_w = Delta k_B/hbar and
/// v_w = (k_B/hbar) g mu_B |m - m'| dB/dt, both in 1/s (g mu_B in K/T).
fn sweep_rate_for(mat: &Material, delta_k: f64, lz: f64) -> f64 {
    let zeeman_k_per_t = mat.spin.g_par() * MU_B_KELVIN_PER_TESLA * (2 * S) as f64;
    std::f64::consts::PI * delta_k * delta_k * KB_OVER_HBAR_PER_S_K / (2.0 * lz * zeeman_k_per_t)
}

fn sweep(mat: &Material, rate: f64, t_k: f64, formulation: Formulation) -> Trajectory {
    let spec = RunSpec::new(
        mat.clone(),
        Protocol::with_sweep_rate(-0.15, 0.15, rate, RampShape::Linear).unwrap(),
        t_k,
    )
    .with_options(EngineOptions {
        formulation,
        max_time_after_ramp_s: 1.0,
        sample_times_after_ramp_s: vec![1e-3],
        log_points_per_decade: 0,
        ..EngineOptions::default()
    });
    simulate(&EngineContext::new(), &spec).unwrap()
}

/// A sweep -0.15 T -> 0.15 T at 1 K through the k = 0 resonance of the ground pair, from the
/// equilibrium at -0.15 T (98.4 % in m = +10, 1.6 % in m = -10, every other level below 1e-6).
/// The pair's population difference p = n_10 - n_-10 decays as exp(-2 int Gamma dt) =
/// exp(-2 delta), so the transferred fraction (1 - p_end/p_start)/2 must equal
/// (1 - exp(-2 delta))/2, with delta from the pair's splitting and the sweep rate alone
/// (W-independent: W = 33 1/s, the levels' phonon width, sets only the width of the
/// Lorentzian, 9.2e-12 T, which the integrator must resolve).
///
/// delta = 0.01 (fast, 1.43 T/s: also the coherent Landau-Zener 1 - e^-delta to O(delta^2)),
/// 0.3, 1 (slow, 0.0143 T/s: 0.432, against 0.632 for a coherent passage) and 3 (0.499), in
/// the default formulation (the full equation at 1.43 T/s, the two-well reduction at the
/// slower sweeps) and in the full equation alone. Measured: within 1e-5 relative in both.
/// Tolerance 1e-4 relative on the transferred fraction: what else moves the pair is below
/// 1e-5 (the excited levels, population below 1e-6 at 1 K; the other k = 0 pairs, m = 8 at
/// 26.6 K, e^-26.6; the over-barrier relaxation, tau ~ 1e20 s at 1 K; the Lorentzian beyond
/// the window, W/eps ~ 1e-20; the integration error at the default rtol 1e-10). Before the fixes this
/// test drove (docs/numerics.md section 4), the slow sweeps failed: the reduction had no slow
/// mode at the core (the ground pair's rate, 1e9 1/s, above every intra-well rate) and the
/// bias E_m' - E_m jittered by 1e-4 of the Lorentzian's width, which made the steps collapse.
#[test]
fn one_passage_moves_the_landau_zener_population() {
    let mat = material();
    let t = Tunnelling::new(&mat.hamiltonian).unwrap().unwrap();
    let pair = t
        .pairs()
        .iter()
        .find(|p| p.k == 0 && p.i == 2 * S && p.i_prime == 0)
        .expect("the ground pair is a channel");
    let delta_k = pair.splitting_k;
    assert!((1.3e-6..1.5e-6).contains(&delta_k), "{delta_k}");
    // The Lorentzian's width: W = mean phonon decay rate of m = +-10 at B = 0, 1 K.
    let plain = RateModel::new(mat.spin, mat.arrhenius, KappaScaling::Arrhenius).unwrap();
    let w = plain.matrix(0.0, 1.0).unwrap();
    let w_per_s = -0.5 * (w[(0, 0)] + w[(2 * S, 2 * S)]);
    let zeeman = mat.spin.g_par() * MU_B_KELVIN_PER_TESLA * (2 * S) as f64;
    eprintln!(
        "Delta = {delta_k:e} K, W = {w_per_s:e} 1/s, Lorentzian half width {:e} T",
        w_per_s / KB_OVER_HBAR_PER_S_K / zeeman
    );
    for formulation in [Formulation::Auto, Formulation::Full] {
        for lz in [0.01, 0.3, 1.0, 3.0] {
            let rate = sweep_rate_for(&mat, delta_k, lz);
            let tr = sweep(&mat, rate, 1.0, formulation);
            let first = &tr.samples[0];
            let end = tr
                .samples
                .iter()
                .rev()
                .find(|s| s.t_s <= tr.ramp_duration_s)
                .unwrap();
            assert!((end.field_t - 0.15).abs() < 1e-12, "{}", end.field_t);
            let diff = |n: &[f64]| n[2 * S] - n[0];
            let moved = 0.5 * (1.0 - diff(&end.populations) / diff(&first.populations));
            let want = 0.5 * (1.0 - (-2.0 * lz).exp());
            let rel = (moved - want) / want;
            eprintln!(
                "{formulation:?} delta = {lz}: {rate:.4e} T/s, moved {moved:.8}, LZ (incoherent) {want:.8} ({rel:+.2e}), coherent {:.4}; steps {} (full {}, reduced {}), T {} -> {} K",
                1.0 - (-lz).exp(),
                tr.stats.steps,
                tr.steps_full,
                tr.steps_reduced,
                first.t_phonon_k,
                end.t_phonon_k
            );
            assert!(
                rel.abs() < 1e-4,
                "{formulation:?} delta = {lz}: {moved} vs {want}"
            );
        }
    }
}
