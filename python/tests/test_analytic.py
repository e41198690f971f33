"""levels, tau, limits and Material against the command line's JSON and independent formulas."""

import math
import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest

import smmcool
from conftest import cli, cli_json

# Independent constants (CODATA 2018): mu_B / k_B in K/T and h c / k_B in cm K.
MU_B_K_PER_T = 0.67171381563
HC_OVER_KB_CM_K = 1.438776877


def test_levels_equal_the_giant_spin_formula_in_numpy():
    preset = cli_json("presets")["presets"][0]
    assert preset["name"] == "mn12ac"
    s, d_k, g = preset["spin"], preset["d_cm1"] * HC_OVER_KB_CM_K, preset["g_par"]
    fields = np.array([0.0, 0.1, 0.5224, 1.0, -2.5])
    m = np.arange(-s, s + 1)
    expected = d_k * (m[None, :] ** 2 - s * (s + 1) / 3) + g * MU_B_K_PER_T * fields[:, None] * m[None, :]
    got = smmcool.levels(fields)
    np.testing.assert_array_equal(got["m"], m)
    np.testing.assert_allclose(got["energy_k"], expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        got["energy_above_ground_k"], expected - expected.min(axis=1, keepdims=True), rtol=1e-12, atol=1e-11
    )


def test_levels_equal_the_cli_json_and_keep_the_input_shape():
    fields = [0.0, 0.25, 0.5, 1.5]
    ref = cli_json("levels", "--field-t", ",".join(map(str, fields)), "--d-k", "-0.7", "--spin", "5")
    got = smmcool.levels(np.array(fields).reshape(2, 2), d_k=-0.7, spin=5)
    assert got["energy_k"].shape == (2, 2, 11)
    for i, rec in enumerate(ref["levels"]):
        np.testing.assert_array_equal(got["m"], rec["m"])
        assert got["energy_k"].reshape(4, 11)[i].tolist() == rec["energy_k"]
        assert got["energy_above_ground_k"].reshape(4, 11)[i].tolist() == rec["energy_above_ground_k"]
    scalar = smmcool.levels(0.25, d_k=-0.7, spin=5)
    assert scalar["energy_k"].shape == (11,)
    assert scalar["energy_k"].tolist() == ref["levels"][1]["energy_k"]


def test_tau_equals_the_cli_json_and_the_arrhenius_law():
    temps = [2.0, 3.0, 4.6, 6.0]
    for scaling in ["arrhenius", "constant"]:
        ref = cli_json("tau", "--temperature-k", ",".join(map(str, temps)), "--kappa-scaling", scaling)
        got = smmcool.tau(temps, kappa_scaling=scaling)
        for i, rec in enumerate(ref["records"]):
            assert got["tau_arrhenius_s"][i] == rec["tau_arrhenius_s"]
            assert got["tau_model_s"][i] == rec["tau_model_s"]
            assert got["kappa_per_s_k3"][i] == rec["kappa_per_s_k3"]
    m = smmcool.Material()
    np.testing.assert_allclose(
        smmcool.tau(np.array(temps))["tau_arrhenius_s"], m.tau0_s * np.exp(m.barrier_k / np.array(temps)), rtol=1e-14
    )
    one = smmcool.tau(4.0)
    assert isinstance(one["tau_model_s"], float)


def test_limits_equal_the_cli_json_including_no_solution():
    tis = [0.05, 0.5, 1.0, 2.5, 4.0]
    for bf in [0.1, 0.0]:
        ref = cli_json(
            "limits", "--b-initial-t", "0.5", "--b-final-t", str(bf), "--initial-temperature-k", ",".join(map(str, tis))
        )
        got = smmcool.limits(0.5, bf, np.array(tis))
        for i, rec in enumerate(ref["records"]):
            assert got["sudden_final_temperature_k"][i] == rec["sudden_final_temperature_k"]
            assert got["sudden_delta_temperature_k"][i] == rec["sudden_delta_temperature_k"]
            q = rec["isentropic_final_temperature_k"]
            if q is None:
                assert math.isnan(got["isentropic_final_temperature_k"][i])
                assert got["note"][i] == rec["note"]
            else:
                assert got["isentropic_final_temperature_k"][i] == q
                assert got["isentropic_delta_temperature_k"][i] == rec["isentropic_delta_temperature_k"]
                assert got["note"][i] is None
    # Bf = 0 from a very cold start: no finite isentropic temperature (Eq. 11), as a reason.
    one = smmcool.limits(0.5, 0.0, 0.05)
    assert one["isentropic_final_temperature_k"] is None
    assert "residual entropy ln 2" in one["note"]


def test_limits_arrays_broadcast_like_a_scalar_loop():
    bf = np.array([0.0, 0.1, 0.3])[:, None]
    ti = np.array([0.3, 1.0, 2.0, 5.0])[None, :]
    got = smmcool.limits(1.0, bf, ti, material="mn12-stearate")
    assert got["sudden_final_temperature_k"].shape == (3, 4)
    for i in range(3):
        for j in range(4):
            one = smmcool.limits(1.0, float(bf[i, 0]), float(ti[0, j]), material=smmcool.Material("mn12-stearate"))
            assert got["sudden_final_temperature_k"][i, j] == one["sudden_final_temperature_k"]
            q = one["isentropic_final_temperature_k"]
            assert (math.isnan(got["isentropic_final_temperature_k"][i, j]) and q is None) or (
                got["isentropic_final_temperature_k"][i, j] == q
            )
            assert got["note"][i, j] == one["note"]
            if q is not None:
                assert got["isentropic_delta_temperature_k"][i, j] == one["isentropic_delta_temperature_k"]
            assert got["sudden_delta_temperature_k"][i, j] == one["sudden_delta_temperature_k"]


def test_limits_parallel_chunks_equal_the_scalar_calls_on_the_calling_thread():
    """Up to 64 elements a call is solved on the calling thread, beyond in parallel chunks
    (outputs written once, not zeroed first): an array of 1000 elements, with and without a
    finite isentropic temperature, gives each element's scalar call bit for bit, and its
    first 64 elements alone (one chunk) the same again."""
    ti = np.geomspace(0.05, 30.0, 1000)
    bf = np.where(np.arange(1000) % 3 == 0, 0.0, 0.1)
    got = smmcool.limits(0.5, bf, ti)
    head = smmcool.limits(0.5, bf[:64], ti[:64])
    keys = [k for k in got if k != "note"]
    assert any(n is not None for n in got["note"]) and any(n is None for n in got["note"])
    for i in range(1000):
        one = smmcool.limits(0.5, float(bf[i]), float(ti[i]))
        assert got["note"][i] == one["note"]
        for k in keys:
            x = got[k][i]
            assert (math.isnan(x) and one[k] is None) or x == one[k]
            if i < 64:
                assert np.array_equal(head[k][i], x, equal_nan=True)


def test_limits_same_bits_and_notes_on_any_number_of_threads():
    """The array call's chunks go to the calling thread and to rayon's other threads, whoever
    asks first: with a pool of 1 thread (the calling thread alone), 2 and 5, a 20,000-element
    call (with and without a finite isentropic temperature) gives the same bits, the same
    notes in the same places, as this process's call. Each pool size in its own interpreter
    (RAYON_NUM_THREADS is read when the pool starts)."""
    code = (
        "import numpy as np, smmcool, sys\n"
        "ti = np.geomspace(0.05, 30.0, 20000)\n"
        "bf = np.where(np.arange(20000) % 7 == 0, 0.0, 0.1)\n"
        "r = smmcool.limits(0.5, bf, ti)\n"
        "np.savez(sys.argv[1], **{k: np.asarray(v, dtype=object if k == 'note' else None) for k, v in r.items()})\n"
    )
    ti = np.geomspace(0.05, 30.0, 20000)
    bf = np.where(np.arange(20000) % 7 == 0, 0.0, 0.1)
    here = smmcool.limits(0.5, bf, ti)
    assert any(n is not None for n in here["note"]) and any(n is None for n in here["note"])
    with tempfile.TemporaryDirectory() as d:
        for threads in (1, 2, 5):
            out = os.path.join(d, f"t{threads}.npz")
            env = {**os.environ, "RAYON_NUM_THREADS": str(threads)}
            subprocess.run([sys.executable, "-c", code, out], check=True, env=env)
            got = np.load(out, allow_pickle=True)
            for k, v in here.items():
                if k == "note":
                    assert list(got[k]) == list(v), threads
                else:
                    assert np.array_equal(got[k].view(np.uint64), np.asarray(v).view(np.uint64)), (k, threads)


def test_limits_broadcast_one_side_and_differences_to_ti():
    """A one-element side (passed to the extension as it is) against the same side broadcast
    by NumPy, in both directions; the differences are root - Ti as NumPy subtracts them; the
    notes where Eq. 11 has none."""
    bf = np.linspace(-0.5, 0.5, 41)
    ti = np.geomspace(0.05, 20.0, 41)
    for b, t in [(bf, 2.0), (0.0, ti), (bf, ti[[3]]), (bf[[7]], ti)]:
        got = smmcool.limits(0.5, b, t)
        full_b, full_t = np.broadcast_arrays(np.asarray(b, dtype=float), np.asarray(t, dtype=float))
        ref = smmcool.limits(0.5, full_b.copy(), full_t.copy())
        s, q = got["sudden_final_temperature_k"], got["isentropic_final_temperature_k"]
        assert s.shape == q.shape == got["note"].shape == full_t.shape
        assert np.array_equal(s, ref["sudden_final_temperature_k"])
        assert np.array_equal(q, ref["isentropic_final_temperature_k"], equal_nan=True)
        assert np.array_equal(got["sudden_delta_temperature_k"], s - full_t)
        assert np.array_equal(got["isentropic_delta_temperature_k"], q - full_t, equal_nan=True)
        assert list(got["note"]) == list(ref["note"])
        assert all((n is None) == (not math.isnan(x)) for n, x in zip(got["note"], q))
    # Bf = 0 from cold starts has no finite isentropic temperature: notes there, None elsewhere.
    assert any(n is not None for n in smmcool.limits(0.5, 0.0, ti)["note"])
    assert smmcool.limits(0.5, 0.1, np.empty(0))["note"].shape == (0,)


def test_material_presets_and_overrides_equal_the_cli():
    ref = {p["name"]: p for p in cli_json("presets")["presets"]}
    assert smmcool.presets() == list(ref)
    for name, p in ref.items():
        m = smmcool.Material(name)
        assert m.name == name
        assert (m.spin, m.g_par, m.tau0_s, m.barrier_k, m.debye_temperature_k) == (
            p["spin"], p["g_par"], p["tau0_s"], p["barrier_k"], p["debye_temperature_k"]
        )
        assert len(m.m) == int(2 * p["spin"] + 1)
        assert m.d_k == p["hamiltonian"]["d_k"]
        refused = cli("levels", "--field-t", "0", "--material", name, check=False)
        if refused.returncode != 0:
            # Presets with anisotropy beyond D are materials (for simulate, tau, resonances),
            # which levels refuses with the command line's message.
            message = refused.stderr.strip().removeprefix("error: ").replace("--material", "material", 1)
            with pytest.raises(ValueError) as e:
                smmcool.levels(0.0, material=m)
            assert str(e.value) == message
            continue
        assert m.d_k == pytest.approx(p["d_cm1"] * HC_OVER_KB_CM_K, rel=1e-9)
    changed = smmcool.Material("mn12ac", tau0_s=1e-8).replace(barrier_k=60.0)
    assert (changed.tau0_s, changed.barrier_k, changed.name) == (1e-8, 60.0, "mn12ac (modified)")
