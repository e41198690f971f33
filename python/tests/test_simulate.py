"""simulate, Run, Scenario and to_xarray against the command line's JSON for the same inputs."""

import math

import numpy as np
import pytest

import smmcool
from conftest import cli_failure, cli_json

RUN = dict(b_initial_t=0.5, b_final_t=0.1, initial_temperature_k=4.0, sweep_rate_t_per_s=10.0)
FLAGS = ["--b-initial-t", "0.5", "--b-final-t", "0.1", "--initial-temperature-k", "4", "--sweep-rate-t-per-s", "10"]


@pytest.fixture(scope="module")
def reference():
    return cli_json("simulate", *FLAGS, "--trajectory")


@pytest.fixture(scope="module")
def run():
    return smmcool.simulate(**RUN)


def test_summary_equals_the_cli_json(run, reference):
    compared = 0
    for name, value in run.summary.items():
        if name in ("wall_time_s", "scenario"):
            continue
        assert name in reference, name
        assert value == reference[name], name
        compared += 1
    assert compared >= 20
    assert run.summary["scenario"] == reference["scenario"]
    assert run.temperature_after_ramp_k == reference["temperature_after_ramp_k"]
    assert run.outcome == "equilibrium"
    np.testing.assert_array_equal(run.sample_temperatures_k, reference["sample_temperatures_k"])
    np.testing.assert_array_equal(run.sample_times_after_ramp_s, [1e-3, 1.0, 3600.0])


def test_trajectory_arrays_equal_the_cli_json(run, reference):
    traj = reference["trajectory"]
    assert set(run.trajectory) == set(traj)
    for name, values in traj.items():
        np.testing.assert_array_equal(getattr(run, name), np.array(values), err_msg=name)
    n = len(traj["time_s"])
    assert run.populations.shape == (n, 21)
    np.testing.assert_array_equal(run.m, np.arange(-10, 11))
    # Invariants: populations sum to one, the magnetization is the moment -g <M> (mu_B).
    np.testing.assert_allclose(run.populations.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(
        run.magnetization_mu_b, -smmcool.Material().g_par * run.populations @ run.m, rtol=1e-12, atol=1e-12
    )
    # The molar moment: N_A mu_B = 6.02214076e23 mol^-1 x 9.2740100783e-24 J/T (CODATA 2018).
    np.testing.assert_allclose(
        run.magnetization_am2_per_mol, run.magnetization_mu_b * 6.02214076e23 * 9.2740100783e-24, rtol=1e-9
    )


def test_scenario_from_kwargs_toml_and_file_give_the_same_run(run, tmp_path):
    text = """
[protocol]
b_initial_t = 0.5
b_final_t = 0.1
initial_temperature_k = 4.0
sweep_rate_t_per_s = 10.0
"""
    path = tmp_path / "one.toml"
    path.write_text(text)
    for scenario in [smmcool.Scenario(**RUN), smmcool.Scenario.from_toml(text), smmcool.Scenario.from_file(path)]:
        other = scenario.simulate(engine=smmcool.Engine())
        assert other.end_temperature_k == run.end_temperature_k
        np.testing.assert_array_equal(other.phonon_temperature_k, run.phonon_temperature_k)
    # A Run's scenario runs again to the same numbers.
    assert run.scenario.simulate().temperature_after_ramp_k == run.temperature_after_ramp_k
    with pytest.raises(ValueError, match="sweeps 2 runs"):
        smmcool.Scenario.from_toml(
            text.replace("b_final_t = 0.1\n", "") + '[[sweep]]\nkey = "protocol.b_final_t"\nvalues = [0.1, 0.2]\n'
        )
    # A value that a sweep overrides is refused, naming the key.
    with pytest.raises(ValueError, match="protocol.b_final_t = 0.1: also swept"):
        smmcool.Scenario.from_toml(text + '[[sweep]]\nkey = "protocol.b_final_t"\nvalues = [0.1, 0.2]\n')


def test_material_object_and_overrides_reach_the_engine():
    mat = smmcool.Material("mn12ac", tau0_s=1e-8)
    a = smmcool.simulate(material=mat, **RUN)
    ref = cli_json("simulate", *FLAGS, "--tau0-s", "1e-8")
    assert a.end_temperature_k == ref["end_temperature_k"]
    assert a.material == ref["material"] == "mn12ac (modified)"
    # Without a trajectory the engine skips the output grids (as in a batch): the same
    # physics to the solver's tolerance, no arrays.
    a = smmcool.simulate(material=mat, trajectory=False, **RUN)
    assert a.end_temperature_k == pytest.approx(ref["end_temperature_k"], rel=1e-8)
    assert a.trajectory is None
    with pytest.raises(AttributeError, match="kept no trajectory"):
        a.phonon_temperature_k


def test_to_xarray_has_time_and_level_dimensions_with_units(run):
    xr = pytest.importorskip("xarray")
    ds = run.to_xarray()
    assert isinstance(ds, xr.Dataset)
    assert ds["populations"].dims == ("time", "level")
    np.testing.assert_array_equal(ds["m"].values, run.m)
    np.testing.assert_array_equal(ds["time_s"].values, run.time_s)
    assert ds["phonon_temperature_k"].attrs["units"] == "K"
    assert ds["magnetization_mu_b"].attrs["units"] == "mu_B"
    assert ds["spin_entropy_kb"].attrs["units"] == "k_B"
    assert ds.attrs["temperature_after_ramp_k"] == run.temperature_after_ramp_k
    # Selecting a level by its M value.
    np.testing.assert_array_equal(ds["populations"].sel(level=20).values, run.populations[:, 20])
    assert math.isclose(float(ds["populations"].isel(time=-1).sum()), 1.0, abs_tol=1e-12)


def test_the_engine_runs_without_the_gil():
    import threading
    import time

    ticks = []
    stop = threading.Event()

    def count():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    t = threading.Thread(target=count)
    t.start()
    try:
        start = time.perf_counter()
        # A fresh engine and a run outside the tables shipped with the program (those cover
        # 0.5 T -> 0.1 T from 1.5-6 K, where a run takes ~2 ms): it builds its tables, ~40 ms.
        smmcool.simulate(
            engine=smmcool.Engine(), b_initial_t=1.0, b_final_t=0.0, initial_temperature_k=8.0, sweep_rate_t_per_s=1e-3
        )
        end = time.perf_counter()
    finally:
        stop.set()
        t.join()
    during = [x for x in ticks if start < x < end]
    # A thread holding the GIL for the whole run would let the counter tick at most once.
    assert len(during) >= 3, (len(during), end - start)


CYCLE = dict(
    initial_temperature_k=3.0,
    b_initial_t=1.0,
    amount_mol=1e-6,
    conductance_w_per_k=4e-8,
    cycles=3,
    segment=[
        dict(kind="hold", duration_s=2000.0, link_closed=True),
        dict(kind="ramp", b_final_t=0.0, sweep_rate_t_per_s=10.0),
        dict(kind="hold", duration_s=60.0),
        dict(kind="ramp", b_final_t=1.0, sweep_rate_t_per_s=0.1, link_closed=True),
    ],
    sample_times_after_ramp_s=[1.0, 100.0],
)
CYCLE_FLAGS = [
    "--initial-temperature-k", "3", "--b-initial-t", "1", "--sample-amount-mol", "1e-6",
    "--link-conductance-w-per-k", "4e-8", "--cycles", "3",
    "--segment", "kind=hold,duration_s=2000,link_closed=true",
    "--segment", "kind=ramp,b_final_t=0,sweep_rate_t_per_s=10",
    "--segment", "kind=hold,duration_s=60",
    "--segment", "kind=ramp,b_final_t=1,sweep_rate_t_per_s=0.1,link_closed=true",
    "--sample-times-after-ramp-s", "1,100",
]


def test_a_segmented_cycle_runs_from_keywords_flags_and_the_config_alike():
    """The refrigeration cycle of configs/refrigeration_cycle.toml as keywords (segment= a list
    of dicts, cycles=), as --segment/--cycles flags and from the config file: the same cycle and
    segment reports, bit for bit; bad segments raise InputError naming the keyword."""
    from conftest import ROOT

    run = smmcool.simulate(**CYCLE)
    cli = cli_json("simulate", *CYCLE_FLAGS)
    from_file = smmcool.Scenario.from_file(ROOT / "configs" / "refrigeration_cycle.toml").simulate()
    assert run.shape == "segments"
    assert len(run.cycle_reports) == 3 and len(run.segment_reports) == 12
    for other in (cli, from_file.summary):
        assert run.cycle_reports == other["cycle_reports"]
        assert run.segment_reports == other["segment_reports"]
        assert run.minimum_temperature_k == other["minimum_temperature_k"]
    # Each cycle's lowest temperature lies below the bath (the open 10 T/s ramp cools).
    assert all(c["minimum_temperature_k"] < 3.0 for c in run.cycle_reports)
    # The run's scenario carries the segments and runs again to the same numbers.
    assert run.scenario.simulate().cycle_reports == run.cycle_reports
    with pytest.raises(smmcool.InputError, match="segment = 'hold' is not allowed: must be a list of dicts"):
        smmcool.simulate(**{**CYCLE, "segment": "hold"})
    with pytest.raises(smmcool.InputError, match="unknown field `duration`"):
        smmcool.simulate(**{**CYCLE, "segment": [dict(kind="hold", duration=1.0)]})
    with pytest.raises(smmcool.InputError, match=r"cycles = 2.5 is not allowed: must be an integer in 1..=100000"):
        smmcool.simulate(**{**CYCLE, "cycles": 2.5})


def test_kappa_calibration_keyword_matches_the_cli():
    """rates.kappa_calibration as a keyword: the recalibrated run equals `smmcool simulate
    --kappa-calibration with_tunnelling` (the same JSON numbers), differs from the default
    calibration with transverse terms, and without them both calibrations give the same run."""
    args = dict(b_initial_t=0.5, b_final_t=0.1, sweep_rate_t_per_s=10.0, initial_temperature_k=4.0)
    run = smmcool.simulate(material="mn12ac-barra", c4_k=2.88e-8,
                           kappa_calibration="with_tunnelling", **args)
    cli = cli_json("simulate", "--material", "mn12ac-barra", "--c4-k", "2.88e-8",
                   "--kappa-calibration", "with_tunnelling", "--b-initial-t", "0.5",
                   "--b-final-t", "0.1", "--sweep-rate-t-per-s", "10",
                   "--initial-temperature-k", "4")
    assert cli["scenario"]["rates"]["kappa_calibration"] == "with_tunnelling"
    assert run.summary["scenario"] == cli["scenario"]
    assert run.summary["sample_temperatures_k"] == cli["sample_temperatures_k"]
    default = smmcool.simulate(material="mn12ac-barra", c4_k=2.88e-8, **args)
    assert default.summary["sample_temperatures_k"] != run.summary["sample_temperatures_k"]
    axial = [smmcool.simulate(kappa_calibration=c, **args).summary["sample_temperatures_k"]
             for c in ("with_tunnelling", "without_tunnelling")]
    assert axial[0] == axial[1]


def test_reduction_tolerance_keyword_and_ramp_formulation_match_the_cli():
    """solver.reduction_tol_rel as a keyword (--reduction-tol-rel) and the outcome
    ramp_formulation as an attribute: a 1e-2 T/s ramp from 20 K with a 1e-14 tolerance is
    switched to the full equation, as `smmcool simulate` says in its JSON (same numbers);
    with the default it stays reduced; on a 1e-8 T/s ramp the full equation cannot take over
    and the run fails with the command line's message (SolverError, exit 1 there)."""
    base = dict(b_initial_t=0.5, b_final_t=0.1, initial_temperature_k=20.0)
    flags = ["--b-initial-t", "0.5", "--b-final-t", "0.1", "--initial-temperature-k", "20"]
    run = smmcool.simulate(**base, sweep_rate_t_per_s=1e-2, reduction_tol_rel=1e-14)
    cli = cli_json("simulate", *flags, "--sweep-rate-t-per-s", "1e-2", "--reduction-tol-rel", "1e-14")
    assert cli["ramp_formulation"] == "switched_to_full"
    assert run.ramp_formulation == cli["ramp_formulation"]
    assert run.summary["scenario"]["solver"]["reduction_tol_rel"] == 1e-14
    assert run.summary["scenario"] == cli["scenario"]
    for name in ("temperature_after_ramp_k", "end_temperature_k", "reduction_error_estimate_rel",
                 "sample_temperatures_k"):
        assert run.summary[name] == cli[name], name
    default = smmcool.simulate(**base, sweep_rate_t_per_s=1e-2)
    assert default.ramp_formulation == cli_json("simulate", *flags, "--sweep-rate-t-per-s", "1e-2")["ramp_formulation"]
    assert default.ramp_formulation == "reduced"
    expected = cli_failure("simulate", *flags, "--sweep-rate-t-per-s", "1e-8", "--reduction-tol-rel", "1e-14")
    with pytest.raises(smmcool.SolverError) as e:
        smmcool.simulate(**base, sweep_rate_t_per_s=1e-8, reduction_tol_rel=1e-14)
    assert str(e.value) == expected
    assert "solver.reduction_tol_rel = 1e-14" in expected
    assert e.value.parameters == base


def test_run_values_made_on_first_read_are_the_same_in_any_order(reference):
    """A Run makes its summary values and trajectory columns when first read (session 37):
    attributes first or summary/trajectory dicts first give the CLI's numbers and one object
    per value."""
    attrs_first = smmcool.simulate(**RUN)
    dicts_first = smmcool.simulate(**RUN)
    temperatures = attrs_first.phonon_temperature_k
    hamiltonian = attrs_first.hamiltonian
    assert attrs_first.temperature_after_ramp_k == reference["temperature_after_ramp_k"]
    assert attrs_first.trajectory["phonon_temperature_k"] is temperatures
    assert attrs_first.summary["hamiltonian"] is hamiltonian
    summary, trajectory = dicts_first.summary, dicts_first.trajectory
    assert dicts_first.phonon_temperature_k is trajectory["phonon_temperature_k"]
    assert dicts_first.hamiltonian is summary["hamiltonian"]
    for run in (attrs_first, dicts_first):
        np.testing.assert_array_equal(run.phonon_temperature_k, reference["trajectory"]["phonon_temperature_k"])
        for name in reference["trajectory"]:
            np.testing.assert_array_equal(getattr(run, name), run.trajectory[name], err_msg=name)
        compared = 0
        for name in run.summary:
            if name in ("wall_time_s", "scenario", "sample_times_after_ramp_s", "sample_temperatures_k"):
                continue
            assert getattr(run, name) == reference[name], name
            compared += 1
        assert compared >= 20
        assert set(run.summary) <= set(dir(run))
        assert set(run.trajectory) <= set(dir(run))
    with pytest.raises(AttributeError, match="no_such_value"):
        attrs_first.no_such_value


def test_run_without_trajectory_names_the_missing_columns():
    run = smmcool.simulate(trajectory=False, **RUN)
    assert run.trajectory is None
    with pytest.raises(AttributeError, match="kept no trajectory"):
        run.phonon_temperature_k
    assert "phonon_temperature_k" not in dir(run)
    assert "temperature_after_ramp_k" in dir(run)


def test_run_pickles_and_copies_with_its_values():
    import copy
    import pickle

    run = smmcool.simulate(**RUN)
    temperatures = run.phonon_temperature_k  # one column read before, the rest after
    run.note = "kept by pickle"
    for other in (pickle.loads(pickle.dumps(run)), copy.deepcopy(run), copy.copy(run)):
        assert other.note == "kept by pickle"
        assert other.trajectory["phonon_temperature_k"] is other.phonon_temperature_k
        np.testing.assert_array_equal(other.phonon_temperature_k, temperatures)
        assert other.summary == run.summary
        assert other.temperature_after_ramp_k == run.temperature_after_ramp_k
        assert set(other.trajectory) == set(run.trajectory)
        for name, values in run.trajectory.items():
            np.testing.assert_array_equal(getattr(other, name), values, err_msg=name)
        np.testing.assert_array_equal(other.m, run.m)
        np.testing.assert_array_equal(other.sample_temperatures_k, run.sample_temperatures_k)
        assert other.to_xarray().identical(run.to_xarray())
        assert repr(other) == repr(run)
