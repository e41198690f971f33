"""run_batch and read against `smmcool run` / `smmcool inspect --json`, and Ctrl-C then resume."""

import _thread
import pathlib
import threading
import time

import numpy as np
import pytest

import smmcool
from conftest import cli, cli_json

CONFIG = """
[protocol]
b_initial_t = 0.5
sweep_rate_t_per_s = 10.0

[output]
trajectory = false

[[sweep]]
key = "protocol.b_final_t"
values = [0.0, 0.1, 0.2, 0.3]

[[sweep]]
key = "protocol.initial_temperature_k"
values = [3.0, 4.0]
"""

SAME = ["b_final_t", "initial_temperature_k", "end_temperature_k", "temperature_after_ramp_k",
        "sudden_final_temperature_k", "equilibrium_after_ramp_s", "steps"]


def test_run_batch_equals_smmcool_run_and_read_equals_inspect(tmp_path):
    cfg = tmp_path / "sweep.toml"
    cfg.write_text(CONFIG)
    ours, theirs = tmp_path / "py.h5", tmp_path / "cli.h5"
    outcome = smmcool.run_batch(cfg, ours, threads=2, progress=False)
    assert (outcome.runs, outcome.computed, outcome.failed) == (8, 8, 0)
    cli("run", str(cfg), "-o", str(theirs), "--quiet")
    ref = cli_json("inspect", str(theirs))
    rows = ref["runs"] if "runs" in ref else ref["summary"]
    for frame_of in [smmcool.read(ours), smmcool.read(theirs)]:
        assert list(frame_of.index) == list(range(8))
        for i, row in enumerate(rows):
            for name in SAME:
                if row[name] is None:
                    assert np.isnan(frame_of[name].iloc[i])
                else:
                    assert frame_of[name].iloc[i] == row[name], (i, name)
            assert frame_of["outcome"].iloc[i] == row["outcome"]
    plain = smmcool.read(theirs, pandas=False)
    assert plain["sample_temperatures_k"].shape == (8, 3)
    np.testing.assert_array_equal(plain["sample_times_after_ramp_s"], [1e-3, 1.0, 3600.0])
    np.testing.assert_array_equal(plain["swept protocol.b_final_t"], np.repeat([0.0, 0.1, 0.2, 0.3], 2))
    # Text in, the same runs.
    smmcool.run_batch(CONFIG, tmp_path / "text.h5", progress=False)
    again = smmcool.read(tmp_path / "text.h5")
    np.testing.assert_array_equal(again["end_temperature_k"], smmcool.read(ours)["end_temperature_k"])


def test_bad_batch_input_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match=r"nope.toml: cannot read"):
        smmcool.run_batch(tmp_path / "nope.toml", tmp_path / "x.h5")
    with pytest.raises(ValueError, match=r"<config>:.*unknown field `bogus`"):
        smmcool.run_batch(CONFIG + "\n[solver]\nbogus = 1\n", tmp_path / "x.h5")
    out = tmp_path / "done.h5"
    smmcool.run_batch(CONFIG, out, progress=False)
    with pytest.raises(ValueError, match=r"output exists; use --resume"):
        smmcool.run_batch(CONFIG, out, progress=False)
    with pytest.raises(ValueError, match=r"cannot|HDF5|open|read"):
        bad = tmp_path / "bad.h5"
        bad.write_text("not hdf5")
        smmcool.read(bad)


def test_keyboard_interrupt_stops_between_runs_and_resume_finishes(tmp_path):
    cfg = CONFIG.replace("values = [3.0, 4.0]", "values = [2.5, 3.0, 3.5, 4.0, 4.5, 5.0]")
    out = tmp_path / "cut.h5"
    parts = pathlib.Path(str(out) + ".parts")

    def interrupt_after_first_part():
        deadline = time.time() + 120
        while time.time() < deadline:
            if parts.exists() and any(parts.glob("run-*.json")):
                _thread.interrupt_main()
                return
            time.sleep(0.002)

    t = threading.Thread(target=interrupt_after_first_part)
    t.start()
    with pytest.raises(KeyboardInterrupt):
        smmcool.run_batch(cfg, out, threads=1, progress=False)
    t.join()
    assert not out.exists()
    kept = len(list(parts.glob("run-*.json")))
    assert 1 <= kept < 24
    outcome = smmcool.run_batch(cfg, out, threads=1, progress=False, resume=True)
    assert (outcome.runs, outcome.resumed, outcome.computed) == (24, kept, 24 - kept)
    assert not parts.exists()
    whole = tmp_path / "whole.h5"
    smmcool.run_batch(cfg, whole, progress=False)
    a, b = smmcool.read(out), smmcool.read(whole)
    for name in SAME:
        np.testing.assert_array_equal(a[name].to_numpy(), b[name].to_numpy(), err_msg=name)
