"""The spin Hamiltonian beyond the paper's Eq. 1 from Python (issue 18 through issue 15's rule:
Python offers what the command line offers, with the same names, units and numbers)."""

import math
import re

import numpy as np
import pytest

import smmcool
from conftest import cli_error, cli_json

# 1 cm^-1 = hc/k_B in K (docs/physics.md section 1).
K_PER_CM1 = 1.438776877
HAMILTONIAN = ["spin", "d_k", "g_par", "b4_k", "c4_k", "e_k", "transverse_field_t", "misalignment_deg"]


def flags(kw):
    out = []
    for k, v in kw.items():
        # --flag=value: a negative value is not taken for a flag.
        out.append("--" + k.replace("_", "-") + "=" + (repr(v) if isinstance(v, float) else str(v)))
    return out


def keyword_message(message):
    """The command line's message with its flags spelled as the API's keywords."""
    return re.sub(r"--([a-z0-9-]+)", lambda m: m.group(1).replace("-", "_"), message)


def spectroscopic_presets():
    return [p for p in cli_json("presets")["presets"] if any(v != 0 for v in p["stevens"].values())]


def test_the_spectroscopic_presets_are_materials_with_the_converted_stevens_parameters():
    """Material(preset) for every preset with Stevens parameters (the command line's `presets
    --json` lists them): its Hamiltonian is the Stevens one converted here by hand (D' = D -
    [30 S(S+1) - 25] B_4^0, B4 = 35 B_4^0, C = B_4^4 / 2, E = E, at 1 cm^-1 = 1.438776877 K,
    docs/physics.md section 10.2) and equals the `hamiltonian` record of `smmcool resonances
    --json`; it has tunnelling (C or E non-zero), the axial mn12ac has none."""
    presets = spectroscopic_presets()
    assert {p["name"] for p in presets} >= {"mn12ac-barra", "mn12ac-mirebeau", "mn12ac-bircher"}
    assert all(p["name"] in smmcool.presets() for p in presets)
    for p in presets:
        m = smmcool.Material(p["name"])
        st, s = p["stevens"], p["spin"]
        by_hand = dict(
            d_k=(p["d_cm1"] - (30 * s * (s + 1) - 25) * st["b40_cm1"]) * K_PER_CM1,
            b4_k=35 * st["b40_cm1"] * K_PER_CM1,
            c4_k=st["b44_cm1"] / 2 * K_PER_CM1,
            e_k=st["e_cm1"] * K_PER_CM1,
        )
        for k, v in by_hand.items():
            assert getattr(m, k) == pytest.approx(v, rel=1e-12, abs=1e-300), (p["name"], k)
        assert (m.spin, m.g_par, m.transverse_field_t, m.misalignment_deg) == (s, p["g_par"], 0.0, 0.0)
        assert m.hamiltonian == cli_json("resonances", "--material", p["name"], "--k-max", "0")["hamiltonian"]
        assert m.has_tunnelling
        assert (m.name, m.tau0_s, m.barrier_k) == (p["name"], p["tau0_s"], p["barrier_k"])
    plain = smmcool.Material()
    assert not plain.has_tunnelling
    assert (plain.b4_k, plain.c4_k, plain.e_k, plain.transverse_field_t, plain.misalignment_deg) == (0.0,) * 5


@pytest.mark.parametrize(
    "kw",
    [
        dict(material="mn12ac-barra", misalignment_deg=2.0, e_k=1e-3),
        dict(material="mn12ac-mirebeau", b4_k=-1e-3, c4_k=3e-5, transverse_field_t=0.3, g_par=2.0),
        dict(material="mn12ac", c4_k=2e-5, d_cm1=-0.46),
    ],
)
def test_material_overrides_of_the_hamiltonian_match_the_cli(kw):
    """The Hamiltonian's keywords override the preset as the flags do (the same record), the
    keys given keep their values exactly, and Material.replace adds them to a copy."""
    preset = kw.pop("material")
    m = smmcool.Material(preset, **kw)
    assert m.hamiltonian == cli_json("resonances", *flags(dict(material=preset, **kw)), "--k-max", "0")["hamiltonian"]
    for k in ("b4_k", "c4_k", "e_k", "transverse_field_t", "misalignment_deg", "g_par"):
        if k in kw:
            assert getattr(m, k) == kw[k]
    assert m.name == f"{preset} (modified)"
    assert m.has_tunnelling
    assert smmcool.Material(preset).replace(**kw).hamiltonian == m.hamiltonian
    assert m.keywords() == {"material": preset, **kw}


NAN = float("nan")


@pytest.mark.parametrize(
    "bad",
    [
        dict(misalignment_deg=100.0),
        dict(misalignment_deg=-1.0),
        dict(misalignment_deg=NAN),
        dict(b4_k=math.inf),
        dict(c4_k=NAN),
        dict(e_k=-math.inf),
        dict(transverse_field_t=NAN),
        dict(transverse_field_t=0.5, misalignment_deg=2.0),
        dict(material="mn12ac-barra", misalignment_deg=31.0),
        dict(material="mn12ac-bircher", e_k=NAN),
    ],
)
def test_bad_hamiltonian_values_carry_the_cli_message(bad):
    """A bad value of the Hamiltonian (NaN, infinite, an angle out of [0, 30] degrees, a
    misalignment with a transverse field) raises InputError (a ValueError) with the message of
    `smmcool resonances` (its stderr), the flag spelled as the keyword: in Material,
    Material.replace and simulate."""
    kw = dict(bad)
    preset = kw.pop("material", "mn12ac")
    expected = keyword_message(cli_error("resonances", *flags(dict(material=preset, **kw))))
    assert " is not allowed: " in expected
    with pytest.raises(ValueError) as e:
        smmcool.Material(preset, **kw)
    assert isinstance(e.value, smmcool.InputError)
    assert str(e.value) == expected
    with pytest.raises(smmcool.InputError) as e:
        smmcool.Material(preset).replace(**kw)
    assert str(e.value) == expected
    with pytest.raises(smmcool.InputError) as e:
        smmcool.simulate(material=preset, b_initial_t=0.5, b_final_t=0.1, initial_temperature_k=3.0,
                         shape="jump", **kw)
    assert str(e.value) == expected


def test_levels_and_limits_refuse_the_hamiltonian_beyond_d_as_the_cli_does():
    """levels and limits use the localized axial levels of Eq. 2: a spectroscopic preset or a
    term beyond D is refused with the command line's message."""
    expected = keyword_message(cli_error("levels", "--field-t", "0.1", "--material", "mn12ac-barra"))
    with pytest.raises(smmcool.InputError) as e:
        smmcool.levels(0.1, material="mn12ac-barra")
    assert str(e.value) == expected
    with pytest.raises(smmcool.InputError) as e:
        smmcool.levels(0.1, material=smmcool.Material("mn12ac-barra"))
    assert str(e.value) == expected
    expected = keyword_message(cli_error("limits", "--b-initial-t", "0.5", "--b-final-t", "0.1",
                                         "--initial-temperature-k", "3", "--c4-k", "2e-05"))
    with pytest.raises(smmcool.InputError) as e:
        smmcool.limits(0.5, 0.1, 3.0, c4_k=2e-5)
    assert str(e.value) == expected


TRANSVERSE_RUNS = [
    # A misaligned spectroscopic preset ramped from the k = 1 resonance region to 0.1 T.
    dict(material="mn12ac-barra", misalignment_deg=2.0, b_initial_t=0.5, b_final_t=0.1,
         initial_temperature_k=3.0, sweep_rate_t_per_s=1.0),
    # A fixed transverse field, C and rhombic E on the axial preset, a jump through B = 0.
    dict(material="mn12ac", c4_k=2.9e-5, e_k=5e-3, transverse_field_t=0.2, b_initial_t=0.5,
         b_final_t=-0.1, initial_temperature_k=2.5, shape="jump"),
]


@pytest.mark.parametrize("kw", TRANSVERSE_RUNS)
def test_simulate_with_a_transverse_hamiltonian_matches_the_cli_json(kw):
    """simulate with transverse terms: every summary value equals `smmcool simulate --json`'s
    for the same flags (identical numbers; the wall time aside), the `hamiltonian` record too,
    which is the Material's; the material given as a Material gives the same run, and the same
    run without the transverse terms a different one (tunnelling acts)."""
    args = [("--jump" if a == "--shape=jump" else a) for a in flags(kw)]
    cli = cli_json("simulate", *args)
    run = smmcool.simulate(**kw)
    assert run.status == "ok", run.summary.get("error")
    # The summary quantities and the records the command line prints beside them.
    keys = (set(cli) & set(run.summary)) - {"wall_time_s"}
    assert {q for q in smmcool.quantities() if q in cli} - {"wall_time_s"} <= keys
    assert {"hamiltonian", "material", "scenario", "sample_temperatures_k"} <= keys
    for k in sorted(keys):
        assert run.summary[k] == cli[k], k
    material = {k: kw[k] for k in ("material", "misalignment_deg", "c4_k", "e_k", "transverse_field_t") if k in kw}
    m = smmcool.Material(material.pop("material"), **material)
    assert run.hamiltonian == cli["hamiltonian"] == m.hamiltonian
    assert run.material == m.name
    rest = {k: v for k, v in kw.items() if k not in material and k != "material"}
    again = smmcool.simulate(material=m, **rest)
    for k in sorted(keys - {"steps"}):
        assert again.summary[k] == run.summary[k], k
    # Tunnelling changes the run: the same ramp without the transverse terms differs.
    axial = {**kw, **{k: 0.0 for k in ("c4_k", "e_k", "transverse_field_t", "misalignment_deg")}}
    assert smmcool.simulate(**axial).end_temperature_k != run.end_temperature_k


def test_read_gives_the_hamiltonian_of_a_run_batch_file(tmp_path):
    """A scenario with transverse terms written by run_batch: read()'s physics record carries
    the Hamiltonian of Material/Run (the file's root attributes), and the file's run equals the
    Run of simulate."""
    kw = TRANSVERSE_RUNS[0]
    scenario = smmcool.Scenario(**kw)
    run = scenario.simulate()
    path = tmp_path / "t.h5"
    smmcool.run_batch(scenario.toml, path, progress=False)
    table = smmcool.read(path, pandas=False)
    physics = table["physics"]
    assert {k: physics[k] for k in HAMILTONIAN} == run.hamiltonian
    assert physics["material"] == run.material
    np.testing.assert_array_equal(table["end_temperature_k"], [run.end_temperature_k])
    np.testing.assert_array_equal(table["temperature_after_ramp_k"], [run.temperature_after_ramp_k])


MU_B_OVER_KB = 0.67171381563  # K/T (docs/physics.md section 1)

RESONANCE_CASES = [
    dict(material="mn12ac"),
    dict(material="mn12ac-barra"),
    dict(material="mn12ac-mirebeau", k_max=4),
    dict(material="mn12ac-bircher", k_max=1),
    dict(material="mn12ac-barra", misalignment_deg=2.0),
    dict(material="mn12ac", c4_k=3e-5, e_k=0.01, transverse_field_t=0.3, b4_k=-1e-3, k_max=3),
    dict(material="mn12ac", spin=4.5, d_k=-0.6, g_par=2.0, e_k=0.05, k_max=5),
    # No kinetic range here: a spectrum takes any finite transverse term (tau would refuse it).
    dict(material="mn12ac", e_k=-1.0, k_max=0),
]


@pytest.mark.parametrize("kw", RESONANCE_CASES)
def test_resonances_are_the_cli_json_number_for_number(kw):
    """smmcool.resonances(...) with the keywords of the flags: the records are those of
    `smmcool resonances --json` (k, m, m_prime, field_t, splitting_k, ... identical), the arrays
    are the records' columns, and the crossing fields are those of the axial part computed
    here: E_m = E_m' at Bz = -k [D + B4 (m^2 + m'^2)] / (g mu_B) (docs/physics.md section 10.3;
    with a misalignment the applied field is Bz / cos(theta))."""
    kw = dict(kw)
    args = flags(kw)
    cli = cli_json("resonances", *args)
    py = smmcool.resonances(**kw)
    assert py["records"] == cli["resonances"]
    assert py["hamiltonian"] == cli["hamiltonian"]
    assert (py["material"], py["convention"]) == (cli["material"], cli["convention"])
    recs = cli["resonances"]
    assert len(recs) > 0
    for name in ("k", "m", "m_prime", "field_t", "energy_k", "energy_above_ground_k", "splitting_k",
                 "pair_weight", "splitting_method", "delocalized"):
        assert py[name].tolist() == [r[name] for r in recs], name
    assert py["k"].dtype == np.int64 and py["field_t"].dtype == np.float64
    h = cli["hamiltonian"]
    m, mp, k = py["m"], py["m_prime"], py["k"]
    np.testing.assert_array_equal(m + mp, k)
    bz = -k * (h["d_k"] + h["b4_k"] * (m**2 + mp**2)) / (h["g_par"] * MU_B_OVER_KB)
    applied = bz / math.cos(math.radians(h["misalignment_deg"]))
    np.testing.assert_allclose(py["field_t"], applied, rtol=1e-12, atol=1e-15)
    assert k.max() == kw.get("k_max", 2)
    # A Material gives the same spectrum.
    preset = kw.pop("material")
    k_max = kw.pop("k_max", 2)
    if not ("e_k" in kw and abs(kw["e_k"]) > 0.1):
        assert smmcool.resonances(k_max, material=smmcool.Material(preset, **kw))["records"] == recs


def test_resonance_splittings_grow_toward_the_top_and_vanish_without_transverse_terms():
    """Physical checks: the axial mn12ac has no splitting (M is a good quantum number); with
    C (barra, no field) the k = 0 pairs m = -m' couple only for m even (C changes m by 4) and
    their splittings grow by orders of magnitude toward the top of the barrier."""
    plain = smmcool.resonances(material="mn12ac")
    assert (plain["splitting_k"] == 0).all()
    barra = smmcool.resonances(0, material="mn12ac-barra")
    even = barra["m"] % 2 == 0
    assert (barra["splitting_k"][~even] == 0).all()
    d = barra["splitting_k"][even & (barra["splitting_method"] == "partitioned")]
    assert len(d) >= 3 and (np.diff(d) > 0).all() and d[-1] / d[0] > 1e6


@pytest.mark.parametrize(
    "bad",
    [
        dict(misalignment_deg=NAN),
        dict(b4_k=math.inf),
        dict(e_k=NAN),
        dict(misalignment_deg=40.0),
        dict(transverse_field_t=0.5, misalignment_deg=2.0),
        dict(spin=0.5),
        dict(d_k=0.5),
        dict(d_k=0.0),
        dict(tau0_s=1e-7),
        dict(barrier_k=60.0),
        dict(debye_temperature_k=30.0),
        dict(material="nope"),
    ],
)
def test_resonances_bad_input_carries_the_cli_message(bad):
    """Bad input to resonances: InputError (a ValueError) with the stderr of `smmcool
    resonances`, the flag spelled as the keyword (the keys without effect on a spectrum, tau0_s
    ..., refused with the command line's reason)."""
    expected = keyword_message(cli_error("resonances", *flags(bad)))
    with pytest.raises(smmcool.InputError) as e:
        smmcool.resonances(**bad)
    assert str(e.value) == expected


def test_resonances_k_max_must_be_a_count():
    for bad in (-1, 2.5, True, "2", 2**32):
        with pytest.raises(smmcool.InputError, match=r"^k_max = .* is not allowed: must be an integer in 0..=4294967295$"):
            smmcool.resonances(bad)
    assert smmcool.resonances(np.int64(1))["records"] == smmcool.resonances(1)["records"]


TAU_CASES = [
    (dict(material="mn12ac-barra"), [2.0, 3.0], [0.0, 0.1, 0.44, 0.46, 0.9, -0.45]),
    (dict(material="mn12ac-mirebeau"), [2.5], [0.0, 0.2, 0.4, 0.43, 0.45, 0.5]),
    (dict(material="mn12ac-barra", misalignment_deg=1.0), [2.5], [0.0, 0.45, 0.92]),
    (dict(material="mn12ac-barra", c4_k=2.88e-8, kappa_calibration="with_tunnelling"), [3.0, 4.0], [0.0, 0.3]),
    (dict(material="mn12ac", b4_k=-1e-3), [2.0], [0.0, 0.5]),
    (dict(material="mn12ac"), [2.0, 4.6], [0.0, 0.25, 0.5]),
    # Hot: the slow mode barely separated, lambda1 from the checked dense fallback.
    (dict(material="mn12ac-mirebeau"), [30.0, 40.0], [0.0]),
]


@pytest.mark.parametrize("kw,temps,fields", TAU_CASES)
def test_tau_against_field_is_the_cli_json_number_for_number(kw, temps, fields):
    """tau(temperature_k, field_t) on the grid of `smmcool tau --temperature-k ... --field-t
    ... --json` (broadcast T x B, the command line's records in the same order): tau_model_s,
    kappa_per_s_k3 and, with transverse terms, tau_without_tunnelling_s identical; the
    tunnelling pairs, mechanisms and Hamiltonian records equal. Tunnelling adds reversible
    channels under the same Boltzmann distribution, so it can only speed the slow mode up:
    tau_model_s <= tau_without_tunnelling_s (the same kappa(T) in both)."""
    cli = cli_json("tau", *flags(kw), "--temperature-k=" + ",".join(map(repr, temps)),
                   "--field-t=" + ",".join(map(repr, fields)))
    t = np.array(temps)[:, None]
    b = np.array(fields)[None, :]
    py = smmcool.tau(t, b, **kw)
    recs = cli["records"]
    assert len(recs) == t.size * b.size
    assert [(r["temperature_k"], r["field_t"]) for r in recs] == [(x, y) for x in temps for y in fields]
    names = ["tau_model_s", "kappa_per_s_k3"]
    tunnelling = "tau_without_tunnelling_s" in recs[0]
    assert tunnelling == ("tau_without_tunnelling_s" in py)
    if tunnelling:
        names.append("tau_without_tunnelling_s")
    for name in names:
        assert py[name].shape == (len(temps), len(fields))
        assert py[name].ravel().tolist() == [r[name] for r in recs], name
    assert py["field_t"].ravel().tolist() == [r["field_t"] for r in recs]
    assert py["tunnelling_pairs"] == cli["tunnelling_pairs"]
    assert py["mechanisms"] == cli["mechanisms"]
    assert py["hamiltonian"] == cli["hamiltonian"]
    assert py["material"] == cli["material"]
    assert tunnelling == (len(cli["tunnelling_pairs"]) > 0) == ("tunnelling" in cli["mechanisms"])
    if tunnelling:
        assert (py["tau_model_s"] <= py["tau_without_tunnelling_s"] * (1 + 1e-12)).all()
    np.testing.assert_array_equal(py["tau_arrhenius_s"], np.broadcast_to(smmcool.tau(t)["tau_arrhenius_s"], py["tau_model_s"].shape))


def test_tau_arrays_equal_scalar_loops_and_the_zero_field_default():
    """An array call equals the loop of scalar calls element for element (the same numbers),
    and a spectroscopic material without field_t is the command line's B = 0 record."""
    temps = np.array([2.0, 2.5, 3.0, 2.0])
    fields = np.array([0.0, 0.45, -0.3, 0.91])
    arr = smmcool.tau(temps, fields, material="mn12ac-barra")
    for i, (x, y) in enumerate(zip(temps, fields)):
        one = smmcool.tau(float(x), float(y), material="mn12ac-barra")
        for name in ("tau_model_s", "tau_without_tunnelling_s", "kappa_per_s_k3", "tau_arrhenius_s", "field_t"):
            assert isinstance(one[name], float)
            assert one[name] == arr[name][i], (name, i)
    zero = smmcool.tau([2.0, 3.0], material="mn12ac-barra")
    cli = cli_json("tau", "--material=mn12ac-barra", "--temperature-k=2,3")
    assert zero["tau_model_s"].tolist() == [r["tau_model_s"] for r in cli["records"]]
    assert zero["field_t"].tolist() == [0.0, 0.0]
    assert zero["tau_model_s"].tolist() == smmcool.tau([2.0, 3.0], 0.0, material="mn12ac-barra")["tau_model_s"].tolist()


def test_tau_has_minima_at_the_resonance_fields():
    """At 2 K tunnelling shortens the relaxation time of mn12ac-barra at the resonance fields
    of smmcool.resonances (k = 0, and the even k = 2 whose pairs C opens; C changes m by 4, so
    without E the odd k = 1 pairs stay closed), by orders of magnitude against the spin-phonon
    time at the same field, and leaves it unchanged halfway between them: the minima of
    tau(B) sit at the resonance fields."""
    res = smmcool.resonances(2, material="mn12ac-barra")
    b2 = res["field_t"][(res["k"] == 2) & (res["splitting_k"] > 1e-9)]
    assert len(b2) > 0
    assert (res["splitting_k"][res["k"] == 1] == 0).all()
    halfway = 0.5 * b2.min()
    fields = np.concatenate([[0.0, halfway], b2])
    t = smmcool.tau(2.0, fields, material="mn12ac-barra")
    ratio = t["tau_model_s"] / t["tau_without_tunnelling_s"]
    assert ratio[0] < 1e-3
    assert ratio[2:].min() < 1e-1
    assert ratio[1] == pytest.approx(1.0, rel=1e-3)
    assert t["tau_model_s"][0] < 1e-3 * t["tau_model_s"][1]
    assert t["tau_model_s"][2:].min() < 1e-3 * t["tau_model_s"][1]


@pytest.mark.parametrize(
    "kw,args",
    [
        (dict(temperature_k=2.0, field_t=12.0), ["--temperature-k=2", "--field-t=12"]),
        (dict(temperature_k=2.0e4, field_t=0.1), ["--temperature-k=20000", "--field-t=0.1"]),
        (dict(temperature_k=2.0e4), ["--temperature-k=20000"]),
        (dict(temperature_k=2.0, field_t=0.1, material="mn12ac-barra", misalignment_deg=45.0),
         ["--temperature-k=2", "--field-t=0.1", "--material=mn12ac-barra", "--misalignment-deg=45"]),
        (dict(temperature_k=2.0, field_t=0.1, c4_k=1.0), ["--temperature-k=2", "--field-t=0.1", "--c4-k=1"]),
        (dict(temperature_k=2.0, e_k=NAN), ["--temperature-k=2", "--e-k=NaN"]),
        (dict(temperature_k=2.0, field_t=0.1, debye_temperature_k=30.0),
         ["--temperature-k=2", "--field-t=0.1", "--debye-temperature-k=30"]),
        (dict(temperature_k=2.5, field_t=0.1, c4_k=2.9e-5, e_k=5e-3, transverse_field_t=0.2,
              kappa_calibration="with_tunnelling"),
         ["--temperature-k=2.5", "--field-t=0.1", "--c4-k=2.9e-5", "--e-k=5e-3", "--transverse-field-t=0.2",
          "--kappa-calibration=with_tunnelling"]),
    ],
)
def test_tau_bad_input_carries_the_cli_message(kw, args):
    """Bad input to tau with a field or a Hamiltonian: InputError (a ValueError) with the
    stderr of `smmcool tau`, the flag spelled as the keyword."""
    expected = keyword_message(cli_error("tau", *args))
    with pytest.raises(smmcool.InputError) as e:
        smmcool.tau(**kw)
    assert str(e.value) == expected


def test_tau_field_shapes_and_non_finite_fields():
    with pytest.raises(smmcool.InputError, match=r"^field_t = NaN is not allowed: must be a finite number$"):
        smmcool.tau(2.0, [0.1, float("nan")], material="mn12ac-barra")
    with pytest.raises(ValueError):
        smmcool.tau([2.0, 3.0], [0.1, 0.2, 0.3])
    assert smmcool.tau([[2.0], [3.0]], [0.0, 0.1, 0.2])["tau_model_s"].shape == (2, 3)
