"""run_batch and read against `smmcool run` / `smmcool inspect --json`, and Ctrl-C then resume."""

import _thread
import pathlib
import signal
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
    # Enough runs (4 x 41 = 164) that the batch cannot finish between the first stored run and
    # the interrupt's arrival: with 24 runs an idle machine finished them all first.
    temps = ", ".join(f"{2.5 + 0.0625 * k}" for k in range(41))
    cfg = CONFIG.replace("values = [3.0, 4.0]", f"values = [{temps}]")
    total = 4 * 41
    out = tmp_path / "cut.h5"
    parts = pathlib.Path(str(out) + ".parts")

    def stored_runs():
        # One line per stored run in the invocation's run log.
        return sum(p.read_bytes().count(b"\n") for p in parts.glob("runs-*.log"))

    def interrupt_after_first_part():
        deadline = time.time() + 120
        while time.time() < deadline:
            if parts.exists() and stored_runs() > 0:
                _thread.interrupt_main()
                return
            time.sleep(0.002)

    # Python's own Ctrl-C handler, whatever the launcher left: a shell without job control
    # (`nohup cmd &`) starts Python with SIGINT ignored, and then interrupt_main does nothing.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        t = threading.Thread(target=interrupt_after_first_part)
        t.start()
        with pytest.raises(KeyboardInterrupt):
            smmcool.run_batch(cfg, out, threads=1, progress=False)
        t.join()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert not out.exists()
    kept = stored_runs()
    assert 1 <= kept < total
    outcome = smmcool.run_batch(cfg, out, threads=1, progress=False, resume=True)
    assert (outcome.runs, outcome.resumed, outcome.computed) == (total, kept, total - kept)
    assert not parts.exists()
    whole = tmp_path / "whole.h5"
    smmcool.run_batch(cfg, whole, progress=False)
    a, b = smmcool.read(out), smmcool.read(whole)
    for name in SAME:
        np.testing.assert_array_equal(a[name].to_numpy(), b[name].to_numpy(), err_msg=name)


def test_shards_equal_the_command_line_shards_and_merge_to_the_whole_batch(tmp_path, monkeypatch):
    cfg = tmp_path / "sweep.toml"
    cfg.write_text(CONFIG)
    whole = tmp_path / "whole.h5"
    smmcool.run_batch(cfg, whole, progress=False)
    parts = []
    for i, shard in enumerate(["0/3", (1, 3), "2/3"]):
        out = tmp_path / f"py-{i}.h5"
        o = smmcool.run_batch(cfg, out, progress=False, shard=shard)
        # Round robin: shard i holds the runs with index i mod 3 (8 runs: 3, 3, 2).
        assert o.shard == (i, 3) and o.runs == o.computed == len(range(i, 8, 3))
        cli("run", str(cfg), "-o", str(tmp_path / f"cli-{i}.h5"), "--shard", f"{i}/3", "--quiet")
        ours, theirs = smmcool.read(out), smmcool.read(tmp_path / f"cli-{i}.h5")
        assert list(ours.index) == list(theirs.index) == list(range(i, 8, 3))
        for name in SAME:
            np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)
        parts.append(out)
    # A SLURM array task picks its shard as the command line does.
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "1")
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "3")
    o = smmcool.run_batch(cfg, tmp_path / "slurm.h5", progress=False)
    assert o.shard == (1, 3) and list(smmcool.read(tmp_path / "slurm.h5").index) == [1, 4, 7]
    monkeypatch.delenv("SLURM_ARRAY_TASK_ID")
    monkeypatch.delenv("SLURM_ARRAY_TASK_COUNT")
    # Merged, the shards are the unsharded batch, run for run.
    assert smmcool.merge(parts, tmp_path / "merged.h5") == 8
    merged, ref = smmcool.read(tmp_path / "merged.h5"), smmcool.read(whole)
    assert list(merged.index) == list(range(8))
    for name in SAME:
        np.testing.assert_array_equal(merged[name], ref[name], err_msg=name)
    with pytest.raises(smmcool.InputError, match="output exists; use force=True"):
        smmcool.merge(parts, tmp_path / "merged.h5")
    assert smmcool.merge(parts, tmp_path / "merged.h5", force=True) == 8
    with pytest.raises(smmcool.InputError, match="run 1 is in both .*refusing to merge duplicates"):
        smmcool.merge([parts[1], parts[1]], tmp_path / "dup.h5")


@pytest.mark.parametrize("bad", ["3/3", "1/0", "x/2", "1", (3, 3), (1, 2, 3), (1.0, 2), 5])
def test_bad_shards_are_input_errors_with_the_cli_message(tmp_path, bad):
    cfg = tmp_path / "sweep.toml"
    cfg.write_text(CONFIG)
    with pytest.raises(smmcool.InputError) as e:
        smmcool.run_batch(cfg, tmp_path / "x.h5", progress=False, shard=bad)
    assert not (tmp_path / "x.h5").exists()
    if isinstance(bad, str) or (isinstance(bad, tuple) and len(bad) == 2 and isinstance(bad[0], int)):
        text = bad if isinstance(bad, str) else f"{bad[0]}/{bad[1]}"
        p = cli("run", str(cfg), "-o", str(tmp_path / "y.h5"), "--shard", text, check=False)
        assert p.returncode == 2, p.stderr
        assert str(e.value) == p.stderr.strip().replace("error: --shard ", "shard = ")
    else:
        assert str(e.value).startswith(f"shard = {bad!r} is not allowed")


WAVEFORM_CONFIG = """
[protocol]
waveform_time_s = [0.0, 0.004, 0.02]
waveform_field_t = [0.5, 0.3, 0.1]

[output]
trajectory = false
log_points_per_decade = 1

[[sweep]]
key = "protocol.initial_temperature_k"
values = [3.0, 4.0]
"""


def test_read_waveforms_gives_each_runs_waveform_as_the_file_stores_it(tmp_path):
    """read_waveforms() of a file written by `smmcool run` exposes /waveforms/run_NNNNNN/
    {time_s, field_t}: the same arrays h5py reads from the file, keyed by run index; a batch
    without waveforms gives an empty dict."""
    h5py = pytest.importorskip("h5py")
    cfg = tmp_path / "w.toml"
    cfg.write_text(WAVEFORM_CONFIG)
    out = tmp_path / "w.h5"
    cli("run", str(cfg), "-o", str(out), "--quiet")
    waveforms = smmcool.read_waveforms(out)
    with h5py.File(out, "r") as f:
        names = sorted(f["waveforms"].keys())
        assert names == ["run_000000", "run_000001"]
        assert sorted(waveforms) == [0, 1]
        for name in names:
            got = waveforms[int(name.split("_")[1])]
            assert sorted(got) == ["field_t", "time_s"]
            np.testing.assert_array_equal(got["time_s"], f["waveforms"][name]["time_s"][()])
            np.testing.assert_array_equal(got["field_t"], f["waveforms"][name]["field_t"][()])
    np.testing.assert_array_equal(waveforms[1]["time_s"], [0.0, 0.004, 0.02])
    np.testing.assert_array_equal(waveforms[1]["field_t"], [0.5, 0.3, 0.1])
    # A batch of linear ramps has none.
    plain = tmp_path / "plain.h5"
    cfg.write_text(CONFIG)
    cli("run", str(cfg), "-o", str(plain), "--quiet")
    assert smmcool.read_waveforms(plain) == {}
    with h5py.File(plain, "r") as f:
        assert "waveforms" not in f


HAMILTONIAN_CONFIG = """
[material]
preset = "mn12ac-barra"
g_par = 2.0
c4_k = 3e-5
e_k = 1e-3
misalignment_deg = 2.0

[protocol]
b_initial_t = 0.5
b_final_t = 0.1
shape = "jump"

[output]
trajectory = false

[[sweep]]
key = "protocol.initial_temperature_k"
values = [4.0, 5.0]
"""

HAMILTONIAN_KEYS = ["b4_k", "c4_k", "e_k", "transverse_field_t", "misalignment_deg"]


def test_the_file_records_the_hamiltonian_and_files_without_it_still_read(tmp_path):
    h5py = pytest.importorskip("h5py")
    import shutil

    path = tmp_path / "h.h5"
    smmcool.run_batch(HAMILTONIAN_CONFIG, path, progress=False)
    # The TOML input, and the preset's Stevens B_4^0 = -2.2e-5 cm^-1 converted by hand
    # (B4 = 35 B_4^0, 1 cm^-1 = 1.438776877 K) for the key it does not give.
    expected = dict(g_par=2.0, c4_k=3e-5, e_k=1e-3, misalignment_deg=2.0, transverse_field_t=0.0,
                    b4_k=-35 * 2.2e-5 * 1.438776877)
    with h5py.File(path, "r") as f:
        attrs = {k: float(f.attrs[k]) for k in expected}
    for k, v in expected.items():
        assert attrs[k] == pytest.approx(v, rel=1e-14, abs=0), k
    frame = smmcool.read(path)
    physics = frame.attrs["physics"]
    assert {k: physics[k] for k in expected} == attrs
    assert physics["material"] == "mn12ac-barra (modified)"
    assert smmcool.read(path, pandas=False)["physics"] == physics
    assert cli_json("inspect", str(path))["physics"] == physics
    # A file written before these attributes existed: remove them; it still reads, they are None,
    # the summary is unchanged.
    old = tmp_path / "old.h5"
    shutil.copy(path, old)
    with h5py.File(old, "r+") as f:
        for k in HAMILTONIAN_KEYS:
            del f.attrs[k]
    before = smmcool.read(old)
    assert all(before.attrs["physics"][k] is None for k in HAMILTONIAN_KEYS)
    assert before.attrs["physics"]["g_par"] == 2.0
    np.testing.assert_array_equal(before["end_temperature_k"], frame["end_temperature_k"])
    assert cli_json("inspect", str(old))["physics"]["c4_k"] is None


def test_the_spin_is_spin_in_the_file_and_format_version_3_files_with_spin_s_still_read(tmp_path):
    """The spin S is the root attribute `spin` (format version 4; `_s` means seconds), the
    physics key `spin` of read() and inspect; a version 3 file, which calls it `spin_s`, reads
    back the same: the old file made from a new one by renaming the attribute and writing
    version 3."""
    h5py = pytest.importorskip("h5py")
    import shutil

    path = tmp_path / "new.h5"
    smmcool.run_batch(HAMILTONIAN_CONFIG, path, progress=False)
    with h5py.File(path, "r") as f:
        assert int(f.attrs["format_version"]) == 4
        assert "spin_s" not in f.attrs
        spin = float(f.attrs["spin"])
    assert spin == 10.0
    table = smmcool.read(path, pandas=False)
    assert table["physics"]["spin"] == spin and "spin_s" not in table["physics"]
    assert cli_json("inspect", str(path))["physics"] == table["physics"]
    old = tmp_path / "old.h5"
    shutil.copy(path, old)
    with h5py.File(old, "r+") as f:
        del f.attrs["spin"]
        f.attrs["spin_s"] = spin
        f.attrs["format_version"] = np.uint32(3)
    old_table = smmcool.read(old, pandas=False)
    assert old_table["physics"] == table["physics"]
    np.testing.assert_array_equal(old_table["end_temperature_k"], table["end_temperature_k"])
    assert cli_json("inspect", str(old))["physics"] == table["physics"]
