//! `levels`, `tau`, `limits` and `presets`: the equilibrium physics and the analytic limits.

use super::args::{LevelsArgs, LimitsArgs, ResonancesArgs, TauArgs};
use super::{flag_error, flat, require_some, write_json};
use serde_json::{json, Value};
use smmcool::error::Error;
use smmcool::model::limits::{minimum_delta_t, Limit, LimitsSolver};
use smmcool::model::tunnelling::{resonances_json, SplittingMethod};
use smmcool::model::{Material, Overrides, PRESETS};
use smmcool::rates::tunnelling::FieldTau;
use smmcool::rates::KappaCalibration;
use smmcool::scenario::{tau_temperature_rule, MAX_TAU_TEMPERATURE_K};
use std::io::Write;

/// `smmcool levels`.
pub fn levels(args: &LevelsArgs, out: &mut impl Write) -> Result<(), Error> {
    let m = &args.material;
    refuse_unused("levels", m)?;
    let fields = flat(&args.field_t);
    require_some("--field-t", &fields)?;
    let mat = args.material.build().map_err(flag_error)?;
    let spin = mat.spin;
    let n = spin.n_levels();
    let rows: Vec<(f64, Vec<f64>)> = fields
        .iter()
        .map(|&b| {
            let e = spin.energies(b);
            let g = e.iter().copied().fold(f64::INFINITY, f64::min);
            (b, e.iter().map(|x| x - g).collect())
        })
        .collect();
    if args.json {
        let records: Vec<Value> = rows
            .iter()
            .map(|(b, rel)| {
                json!({
                    "field_t": b,
                    "m": (0..n).map(|i| spin.m(i)).collect::<Vec<_>>(),
                    "energy_k": spin.energies(*b),
                    "energy_above_ground_k": rel,
                })
            })
            .collect();
        return write_json(
            out,
            &json!({"material": mat.name, "reference": "energy_above_ground_k is E_M - E_ground (the paper's Fig. 2)", "levels": records}),
        );
    }
    writeln!(
        out,
        "# {}: E_M(B) - E_ground in K (rows M, columns B in T)",
        mat.name
    )?;
    write!(out, "{:>6}", "M")?;
    for (b, _) in &rows {
        write!(out, " {:>10}", format!("{b:.4} T"))?;
    }
    writeln!(out)?;
    for i in 0..n {
        write!(out, "{:>6}", spin.m(i))?;
        for (_, rel) in &rows {
            write!(out, " {:>10.4}", rel[i])?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// `smmcool tau`.
pub fn tau(args: &TauArgs, out: &mut impl Write) -> Result<(), Error> {
    let temps = flat(&args.temperature_k);
    require_some("--temperature-k", &temps)?;
    if let Some(&t) = temps.iter().find(|&&t| t > MAX_TAU_TEMPERATURE_K) {
        return Err(Error::Usage(format!(
            "--temperature-k = {} is not allowed: {}",
            smmcool::units::number(t),
            tau_temperature_rule()
        )));
    }
    smmcool::error::require_positive("--tau-threshold-s", args.tau_threshold_s)?;
    let m = &args.material;
    refuse_unused("tau", m)?;
    let fields = flat(&args.field_t);
    // With a Hamiltonian beyond Eq. 1: the rate model's levels with B4, and tunnelling for C,
    // E, Bx (the same construction as the Python `tau`).
    let (mat, plain, h) = args
        .material
        .tau_material(&args.rates)
        .map_err(flag_error)?;
    let anisotropic = h.is_some();
    let tau = FieldTau::new(plain, h.as_ref())?;
    let model = tau.model();
    let t_max = mat.arrhenius.temperature_for_tau_k(args.tau_threshold_s);
    if !fields.is_empty() || anisotropic {
        // With the full Hamiltonian the zero-field time is the full model's, not the
        // calibration's (which leaves tunnelling out).
        let fields = if fields.is_empty() { vec![0.0] } else { fields };
        return tau_field(args, &mat, &tau, &fields, &temps, out);
    }
    let mut rows = Vec::new();
    for &t in &temps {
        rows.push((
            t,
            mat.arrhenius.tau_s(t),
            model.tau_model_s(t)?,
            model.kappa(t)?,
        ));
    }
    if args.json {
        let recs: Vec<Value> = rows
            .iter()
            .map(|(t, ta, tm, k)| {
                json!({"temperature_k": t, "tau_arrhenius_s": ta, "tau_model_s": tm, "kappa_per_s_k3": k})
            })
            .collect();
        return write_json(
            out,
            &json!({
                "material": mat.name,
                "hamiltonian": mat.hamiltonian.record(),
                "tau0_s": mat.arrhenius.tau0_s,
                "barrier_k": mat.arrhenius.barrier_k,
                "kappa_scaling": args.rates.kappa_scaling,
                "kappa_calibration": args.rates.kappa_calibration,
                "tau_threshold_s": args.tau_threshold_s,
                "temperature_at_tau_threshold_k": t_max,
                "records": recs,
            }),
        );
    }
    writeln!(
        out,
        "# {}: tau0 = {:e} s, U_b = {} K, kappa scaling {:?}",
        mat.name,
        mat.arrhenius.tau0_s,
        mat.arrhenius.barrier_k,
        model.scaling()
    )?;
    writeln!(
        out,
        "{:>10} {:>16} {:>16} {:>16}",
        "T (K)", "tau_Arrh (s)", "tau_model (s)", "kappa (1/s/K^3)"
    )?;
    for (t, ta, tm, k) in rows {
        writeln!(out, "{t:>10.4} {ta:>16.6e} {tm:>16.6e} {k:>16.6e}")?;
    }
    match t_max {
        Some(t) => writeln!(
            out,
            "T_max where tau = {} s (sudden quench valid below): {t:.4} K",
            args.tau_threshold_s
        )?,
        None => writeln!(
            out,
            "no temperature gives tau = {} s (it is below tau0)",
            args.tau_threshold_s
        )?,
    }
    Ok(())
}

/// `smmcool tau --field-t`: the slowest relaxation time 1/(kappa(T) lambda1(B, T)) of the rate
/// model (with tunnelling when the Hamiltonian has transverse terms, and the time without it
/// beside: [`FieldTau`]) at every (T, B).
fn tau_field(
    args: &TauArgs,
    mat: &Material,
    tau: &FieldTau,
    fields: &[f64],
    temps: &[f64],
    out: &mut impl Write,
) -> Result<(), Error> {
    for &b in fields {
        if let Err(e) = tau.check_field(b) {
            return Err(Error::Usage(format!(
                "--field-t = {} is not allowed: {}",
                smmcool::units::number(b),
                e.allowed
            )));
        }
    }
    let model = tau.model();
    let tunnelling = tau.tunnelling();
    let with_all = model.kappa_calibration() == KappaCalibration::WithTunnelling;
    let calibration = if with_all && tunnelling.is_some() {
        "with tunnelling"
    } else {
        "without tunnelling"
    };
    let mut rows = Vec::new();
    for &t in temps {
        for &b in fields {
            let time = tau.tau_s(b, t)?;
            let over = tau.tau_without_tunnelling_s(b, t)?;
            rows.push((t, b, time, over, model.kappa(t)?));
        }
    }
    if args.json {
        let recs: Vec<Value> = rows
            .iter()
            .map(|(t, b, tau, over, kappa)| {
                let mut r = json!({"temperature_k": t, "field_t": b, "tau_model_s": tau, "kappa_per_s_k3": kappa});
                if let Some(o) = over {
                    r["tau_without_tunnelling_s"] = json!(o);
                }
                r
            })
            .collect();
        let names: Vec<&str> = model.mechanisms().iter().map(|m| m.name()).collect();
        let pairs = tau.pair_records();
        return write_json(
            out,
            &json!({
                "material": mat.name,
                "hamiltonian": mat.hamiltonian.record(),
                "tau0_s": mat.arrhenius.tau0_s,
                "barrier_k": mat.arrhenius.barrier_k,
                "kappa_scaling": args.rates.kappa_scaling,
                "kappa_calibration": args.rates.kappa_calibration,
                "mechanisms": names,
                "tunnelling_pairs": pairs,
                "definition": format!("tau_model_s = 1/(kappa(T) lambda1(B, T)), lambda1 the slowest rate of the rate model (spin-phonon and, with transverse terms, resonant tunnelling; kappa calibrated {calibration}); tau_without_tunnelling_s the spin-phonon rates' alone at the same kappa(T)"),
                "records": recs,
            }),
        );
    }
    writeln!(
        out,
        "# {}: slowest relaxation time 1/(kappa lambda1(B, T)); mechanisms: {}; kappa scaling {:?} (calibrated {calibration})",
        mat.name,
        model
            .mechanisms()
            .iter()
            .map(|m| m.name())
            .collect::<Vec<_>>()
            .join(", "),
        model.scaling()
    )?;
    if let Some(t) = tunnelling {
        writeln!(
            out,
            "# tunnelling: {} channels (resonance pairs and mirrors); {} with the dense splitting (not separated from the other levels)",
            t.pairs().len(),
            t.pairs()
                .iter()
                .filter(|p| p.method == SplittingMethod::Dense)
                .count()
        )?;
    }
    write!(
        out,
        "{:>10} {:>12} {:>16}",
        "T (K)", "B (T)", "tau_model (s)"
    )?;
    if tunnelling.is_some() {
        write!(out, " {:>20}", "without tunnelling (s)")?;
    }
    writeln!(out)?;
    for (t, b, tau, over, _) in rows {
        write!(out, "{t:>10.4} {b:>12.6} {tau:>16.6e}")?;
        if let Some(o) = over {
            write!(out, " {o:>20.6e}")?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// Why a minimum is missing or not a minimum inside the search range, if it is either.
fn minimum_note(bi: f64, bf: f64, range: (f64, f64), found: Option<(f64, f64)>) -> Option<String> {
    #[allow(clippy::float_cmp)] // exactly no field change
    if bf == bi {
        return Some(
            "Bf = Bi: no field change, Delta T = 0 at every Ti, so there is no minimum".into(),
        );
    }
    let (ti, _) = found?;
    // Within one scan step (241 log-spaced points) of an edge: the smallest Delta T in the
    // range, but not a minimum inside it.
    let step = (range.1 / range.0).powf(1.0 / 240.0);
    (ti <= range.0 * step || ti >= range.1 / step).then(|| {
        format!(
            "the smallest Delta T lies at the edge of the search range [{}, {}] K: widen --search-range-k to find the minimum",
            range.0, range.1
        )
    })
}

/// `smmcool limits`.
pub fn limits(args: &LimitsArgs, out: &mut impl Write) -> Result<(), Error> {
    let m = &args.material;
    refuse_unused("limits", m)?;
    if let (false, Some(range)) = (args.minimum, &args.search_range_k) {
        return Err(Error::Usage(format!(
            "--search-range-k '{range}' has no effect on `limits` without --minimum: it is the interval --minimum searches; remove it or add --minimum"
        )));
    }
    let mat = args.material.build().map_err(flag_error)?;
    let b_finals = flat(&args.b_final_t);
    require_some("--b-final-t", &b_finals)?;
    if args.minimum {
        let range = args.search_range()?;
        let mut recs = Vec::new();
        for &bf in &b_finals {
            let s = minimum_delta_t(
                &mat.spin,
                &mat.debye,
                args.b_initial_t,
                bf,
                Limit::Sudden,
                range,
            )?;
            let q = minimum_delta_t(
                &mat.spin,
                &mat.debye,
                args.b_initial_t,
                bf,
                Limit::Isentropic,
                range,
            )?;
            recs.push((bf, s, q));
        }
        if args.json {
            let v: Vec<Value> = recs
                .iter()
                .map(|(bf, s, q)| {
                    json!({
                        "b_initial_t": args.b_initial_t,
                        "b_final_t": bf,
                        "sudden_delta_temperature_min_k": s.map(|x| x.1),
                        "sudden_initial_temperature_at_min_k": s.map(|x| x.0),
                        "isentropic_delta_temperature_min_k": q.map(|x| x.1),
                        "isentropic_initial_temperature_at_min_k": q.map(|x| x.0),
                        "note": minimum_note(args.b_initial_t, *bf, range, s.or(*q)),
                    })
                })
                .collect();
            return write_json(
                out,
                &json!({"material": mat.name, "search_range_k": [range.0, range.1], "minima": v}),
            );
        }
        writeln!(
            out,
            "# {}: Bi = {} T; minimum of Delta T = Tf - Ti over Ti in [{}, {}] K",
            mat.name, args.b_initial_t, range.0, range.1
        )?;
        writeln!(
            out,
            "{:>8} {:>16} {:>16} {:>18} {:>18}",
            "Bf (T)", "sudden dTmin(K)", "at Ti (K)", "isentr. dTmin(K)", "at Ti (K)"
        )?;
        let cell = |x: Option<f64>| x.map_or("none".to_string(), |v| format!("{v:.6}"));
        let mut notes = Vec::new();
        for (bf, s, q) in recs {
            if let Some(n) = minimum_note(args.b_initial_t, bf, range, s.or(q)) {
                notes.push(format!("Bf = {bf} T: {n}"));
            }
            writeln!(
                out,
                "{bf:>8} {:>16} {:>16} {:>18} {:>18}",
                cell(s.map(|x| x.1)),
                cell(s.map(|x| x.0)),
                cell(q.map(|x| x.1)),
                cell(q.map(|x| x.0))
            )?;
        }
        for n in notes {
            writeln!(out, "* {n}")?;
        }
        return Ok(());
    }
    let tis = flat(&args.initial_temperature_k);
    require_some("--initial-temperature-k", &tis)?;
    let mut recs = Vec::new();
    let mut solver = LimitsSolver::new(&mat, args.b_initial_t);
    for &bf in &b_finals {
        for &ti in &tis {
            let (sudden, isen) = solver.solve(bf, ti)?;
            recs.push((bf, ti, sudden, isen.t_final_k(), isen.note(bf)));
        }
    }
    if args.json {
        let v: Vec<Value> = recs
            .iter()
            .map(|(bf, ti, s, q, note)| {
                let mut r = json!({
                    "b_initial_t": args.b_initial_t,
                    "b_final_t": bf,
                    "initial_temperature_k": ti,
                    "sudden_final_temperature_k": s,
                    "sudden_delta_temperature_k": s - ti,
                    "isentropic_final_temperature_k": q,
                    "isentropic_delta_temperature_k": q.map(|q| q - ti),
                });
                if let Some(n) = note {
                    r["note"] = json!(n);
                }
                r
            })
            .collect();
        return write_json(out, &json!({"material": mat.name, "records": v}));
    }
    writeln!(
        out,
        "# {}: Bi = {} T; sudden quench (Eq. 9) and isentropic process (Eq. 11)",
        mat.name, args.b_initial_t
    )?;
    writeln!(
        out,
        "{:>8} {:>10} {:>14} {:>14} {:>16} {:>16}",
        "Bf (T)", "Ti (K)", "Tf sudden (K)", "dT sudden (K)", "Tf isentr. (K)", "dT isentr. (K)"
    )?;
    let mut notes = Vec::new();
    for (bf, ti, s, q, note) in recs {
        let (qa, qb) = match q {
            Some(q) => (format!("{q:.6}"), format!("{:.6}", q - ti)),
            None => ("no solution*".to_string(), "-".to_string()),
        };
        writeln!(
            out,
            "{bf:>8} {ti:>10.4} {s:>14.6} {:>14.6} {qa:>16} {qb:>16}",
            s - ti
        )?;
        if let Some(n) = note {
            notes.push(format!("Ti = {ti} K: {n}"));
        }
    }
    for n in notes {
        writeln!(out, "* {n}")?;
    }
    Ok(())
}

/// `smmcool resonances`.
pub fn resonances(args: &ResonancesArgs, out: &mut impl Write) -> Result<(), Error> {
    let m = &args.material;
    refuse_unused("resonances", m)?;
    let h = m.resonance_hamiltonian().map_err(flag_error)?;
    let preset = m.preset.as_deref().unwrap_or("mn12ac");
    if args.json {
        return write_json(out, &resonances_json(&h, preset, args.k_max)?);
    }
    let list = h.resonances(args.k_max)?;
    let splittings = list
        .iter()
        .map(|r| h.tunnel_splitting(r))
        .collect::<Result<Vec<_>, _>>()?;
    let spin = h.spin();
    let an = h.anisotropy();
    let theta_deg = h.misalignment_deg();
    writeln!(
        out,
        "# {preset}: S = {}, D = {:.6} K, B4 = {:.4e} K, C = {:.4e} K, E = {:.4e} K, g = {}, Bx = {} T{}",
        spin.spin(),
        spin.d_k(),
        an.b4_k,
        an.c4_k,
        an.e_k,
        h.g_par(),
        h.transverse_field_t(),
        if theta_deg != 0.0 {
            format!(", misalignment {theta_deg} deg (fields are applied fields B: Bz = B cos(theta), Bx = B sin(theta))")
        } else {
            String::new()
        }
    )?;
    writeln!(
        out,
        "# levels m (metastable well) and m' = k - m cross at Bz = field (axial part); Delta = tunnel splitting; weight = the pair's smaller weight in its two eigenstates (< 0.5: delocalized); method dense = not separated from the other levels (docs/physics.md 10.4)"
    )?;
    writeln!(
        out,
        "{:>4} {:>6} {:>6} {:>12} {:>16} {:>14} {:>7} {:>11}",
        "k", "m", "m'", "field (T)", "E - E_ground (K)", "Delta (K)", "weight", "method"
    )?;
    for (r, d) in list.iter().zip(&splittings) {
        writeln!(
            out,
            "{:>4} {:>6} {:>6} {:>12.6} {:>16.6} {:>14.6e} {:>7.3} {:>11}",
            r.k,
            r.m,
            r.m_prime,
            r.field_t,
            r.energy_above_ground_k,
            d.splitting_k,
            d.pair_weight,
            d.method.name()
        )?;
    }
    Ok(())
}

/// `smmcool presets`.
pub fn presets(json_out: bool, out: &mut impl Write) -> Result<(), Error> {
    // Every preset's Hamiltonian in the crate's form (the Stevens terms converted).
    let mut rows = Vec::new();
    for p in PRESETS {
        let (spin, a) = p
            .spin_and_anisotropy(&Overrides::default())
            .map_err(Error::from)?;
        rows.push((p, spin.d_k(), a));
    }
    if json_out {
        let v: Vec<Value> = rows
            .iter()
            .map(|(p, d_k, a)| {
                json!({"name": p.key, "spin": p.spin, "d_cm1": p.d_cm1, "g_par": p.g_par,
                "debye_temperature_k": p.debye_temperature_k, "tau0_s": p.tau0_s,
                "barrier_k": p.barrier_k,
                "stevens": {"b40_cm1": p.stevens.b40_cm1, "b44_cm1": p.stevens.b44_cm1, "e_cm1": p.stevens.e_cm1},
                "hamiltonian": {"d_k": d_k, "b4_k": a.b4_k, "c4_k": a.c4_k, "e_k": a.e_k},
                "engine": a.is_zero(),
                "source": p.source})
            })
            .collect();
        return write_json(out, &json!({"presets": v}));
    }
    for (p, d_k, a) in rows {
        writeln!(
            out,
            "{:<22} S = {}, D = {} cm^-1, g_par = {}, theta_D = {} K, tau0 = {:e} s, U_b = {} K",
            p.key, p.spin, p.d_cm1, p.g_par, p.debye_temperature_k, p.tau0_s, p.barrier_k
        )?;
        if !a.is_zero() {
            writeln!(
                out,
                "{:<22} Stevens B_4^0 = {:.4e}, B_4^4 = {:.4e}, E = {:.4e} cm^-1; as used: D = {:.6} K, B4 = {:.4e} K, C = {:.4e} K, E = {:.4e} K; `smmcool resonances`, `tau`, `simulate` and `run` (with resonant tunnelling; not `levels` or `limits`)",
                "", p.stevens.b40_cm1, p.stevens.b44_cm1, p.stevens.e_cm1, d_k, a.b4_k, a.c4_k, a.e_k
            )?;
        }
        writeln!(out, "{:<22} source: {}", "", p.source)?;
    }
    Ok(())
}

/// Refuse the first material flag given that `command` does not read
/// ([`smmcool::scenario::NoEffect`], shared with the Python API).
fn refuse_unused(command: &str, m: &smmcool::scenario::MaterialSection) -> Result<(), Error> {
    let Some(rule) = smmcool::scenario::NoEffect::of(command) else {
        return Ok(());
    };
    for path in rule.keys {
        if let (Some(v), Some(key)) = (m.given(path), smmcool::scenario::key(path)) {
            return Err(Error::Usage(rule.message(key.flag, v)));
        }
    }
    Ok(())
}
