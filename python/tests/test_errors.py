"""Bad input: ValueError with the command line's message, the keyword in place of the flag."""

import re

import pytest

import smmcool
from conftest import cli_error, cli_failure

RUN = dict(b_initial_t=0.5, b_final_t=0.1, initial_temperature_k=4.0, sweep_rate_t_per_s=10.0)


def flags(kw):
    out = []
    for k, v in kw.items():
        out += ["--" + k.replace("_", "-"), str(v)]
    return out


@pytest.mark.parametrize(
    "bad",
    [
        dict(initial_temperature_k=-4.0),
        dict(b_final_t=12.0),
        dict(tau0_s=-1.0),
        dict(material="nope"),
        dict(sweep_rate_t_per_s=-10.0),
        dict(rtol=2.0),
        dict(reduction_tol_rel=1.5),
        dict(kappa_scaling="absolute"),
        dict(sweep_rate_t_per_s=None, ramp_duration_s=None),
        dict(shape="jump"),
        dict(shape="jump", sweep_rate_t_per_s=None, ramp_duration_s=2.0),
    ],
)
def test_simulate_value_errors_carry_the_cli_message_with_the_keyword(bad):
    kw = {**RUN, **bad}
    kw = {k: v for k, v in kw.items() if v is not None}
    expected = cli_error("simulate", *flags(kw))
    # The command line names flags; the API names the same keys as keywords.
    expected = expected.replace("--jump", 'shape="jump"')
    expected = re.sub(r"--([a-z0-9-]+)", lambda m: m.group(1).replace("-", "_"), expected)
    with pytest.raises(ValueError) as e:
        smmcool.simulate(**kw)
    assert str(e.value) == expected


def test_levels_tau_limits_name_their_keywords():
    with pytest.raises(ValueError, match=r"^spin = -3 is not allowed"):
        smmcool.levels(0.5, spin=-3)
    with pytest.raises(ValueError, match=r"^temperature_k = -1 is not allowed"):
        smmcool.tau([4.0, -1.0])
    with pytest.raises(ValueError, match=r"^initial_temperature_k = -1 is not allowed"):
        smmcool.limits(0.5, 0.1, [1.0, -1.0])
    with pytest.raises(ValueError, match=r"^b_final_t is not allowed: must be a finite number$"):
        smmcool.limits(0.5, float("nan"), 1.0)


def test_limits_names_the_first_bad_element_of_an_array():
    """Elements are solved in parallel chunks; the error is always that of the lowest index."""
    import numpy as np

    ti = np.linspace(1.0, 6.0, 100_000)
    ti[5_000], ti[90_000] = -1.0, -2.0
    for _ in range(3):
        with pytest.raises(ValueError, match=r"^initial_temperature_k = -1 is not allowed"):
            smmcool.limits(0.5, 0.1, ti)
    bf = np.full(ti.size, 0.1)
    bf[2_000] = float("nan")
    with pytest.raises(ValueError, match=r"^b_final_t is not allowed: must be a finite number$"):
        smmcool.limits(0.5, bf, ti)
    with pytest.raises(ValueError, match=r"^initial_temperature_k = -2 is not allowed"):
        smmcool.limits(0.5, bf[::-1], ti[::-1])


def test_unknown_and_mistyped_keywords():
    with pytest.raises(ValueError, match=r"simulate\(\) got an unknown keyword argument 'sweep_rate'; allowed: material, spin"):
        smmcool.simulate(**{**RUN, "sweep_rate": 1.0})
    with pytest.raises(ValueError, match=r"levels\(\) got an unknown keyword argument 'b_final_t'"):
        smmcool.levels(0.5, b_final_t=0.1)
    with pytest.raises(ValueError, match=r"^b_final_t = 'x' is not allowed: must be a number"):
        smmcool.simulate(**{**RUN, "b_final_t": "x"})
    with pytest.raises(ValueError, match=r"^log_points_per_decade = 2.5 is not allowed: must be an integer"):
        smmcool.simulate(**{**RUN, "log_points_per_decade": 2.5})
    with pytest.raises(ValueError, match=r"^b_initial_t is required"):
        smmcool.simulate(b_final_t=0.1, initial_temperature_k=4.0, sweep_rate_t_per_s=10.0)
    with pytest.raises(ValueError, match=r"^<scenario>:2:1: unknown field `bogus_k`"):
        smmcool.Scenario.from_toml("[protocol]\nbogus_k = 1\n")


JUMP = dict(b_initial_t=0.5, b_final_t=0.1, initial_temperature_k=4.0, shape="jump")
JUMP_FLAGS = ["--b-initial-t", "0.5", "--b-final-t", "0.1", "--initial-temperature-k", "4", "--jump"]
FAILED_AT = re.compile(
    r"^(?P<stage>[a-z ]+) stage failed at t = (?P<t>\S+) s \(B = (?P<b>\S+) T, T = (?P<temp>\S+) K\)"
)


def test_a_run_beyond_the_step_limit_raises_solver_error_with_the_cli_message():
    # The same run with the default limit succeeds, and so does a limit it fits in.
    assert smmcool.simulate(**JUMP).status == "ok"
    assert smmcool.simulate(**JUMP, max_steps=200_000).end_temperature_k == smmcool.simulate(**JUMP).end_temperature_k
    expected = cli_failure("simulate", *JUMP_FLAGS, "--max-steps", "3")
    with pytest.raises(smmcool.SolverError) as e:
        smmcool.simulate(**JUMP, max_steps=3)
    err = e.value
    assert str(err) == expected
    assert "more than 3 steps" in str(err)
    # Typed: one base for every smmcool error, and the built-in class of its kind.
    assert isinstance(err, smmcool.SmmcoolError) and isinstance(err, RuntimeError)
    assert not isinstance(err, ValueError)
    # The attributes are the numbers of the message.
    m = FAILED_AT.match(expected)
    assert m, expected
    assert err.stage == m["stage"] == "full relaxation"
    assert err.time_s == float(m["t"]) and err.time_s > 0
    assert err.field_t == float(m["b"]) == 0.1
    assert err.temperature_k == float(m["temp"])
    assert 3.9 < err.temperature_k < 4.0  # a jump to 0.1 T starts cooling from 4 K
    assert err.parameters == dict(b_initial_t=0.5, b_final_t=0.1, initial_temperature_k=4.0)


def test_a_failed_reduced_ramp_reports_its_temperature():
    # The reduced ramp carries T through the energy balance; a failure there solves it for the
    # last accepted state (it was NaN, None here). The ramp cools monotonically from 4 K to
    # the run's temperature after the ramp, so the failure's T lies between them.
    kw = dict(b_initial_t=0.5, b_final_t=0.1, initial_temperature_k=4.0, sweep_rate_t_per_s=10.0)
    full = smmcool.simulate(**kw)
    for max_steps in (1, 3):
        expected = cli_failure("simulate", *flags(kw), "--max-steps", str(max_steps))
        with pytest.raises(smmcool.SolverError) as e:
            smmcool.simulate(**kw, max_steps=max_steps)
        assert str(e.value) == expected
        m = FAILED_AT.match(expected)
        assert m, expected
        assert e.value.stage == m["stage"] == "reduced ramp"
        assert e.value.temperature_k == float(m["temp"])
        assert full.temperature_after_ramp_k <= e.value.temperature_k <= 4.0
        assert 0.0 <= e.value.time_s <= 0.04  # within the 0.4 T / 10 T/s ramp
        assert 0.1 <= e.value.field_t <= 0.5


@pytest.mark.parametrize("bad", [0, 1_000_000_001])
def test_max_steps_out_of_range_is_an_input_error_with_the_cli_message(bad):
    expected = cli_error("simulate", *JUMP_FLAGS, "--max-steps", str(bad)).replace("--max-steps", "max_steps")
    with pytest.raises(smmcool.InputError) as e:
        smmcool.simulate(**JUMP, max_steps=bad)
    assert str(e.value) == expected
    assert "1..=1000000000" in expected


@pytest.mark.parametrize("bad", [2.5, True, "10", -3])
def test_max_steps_must_be_an_integer(bad):
    # The keyword, the value and the range (a negative integer gave serde's "expected usize").
    with pytest.raises(smmcool.InputError, match=r"^max_steps = .* is not allowed: must be an integer in 1\.\.=1000000000$"):
        smmcool.simulate(**JUMP, max_steps=bad)


def test_max_steps_in_toml_names_the_key_the_value_and_the_range():
    # The same words as `smmcool validate` gives for the file.
    for bad in ("1.5", "-3"):
        with pytest.raises(smmcool.InputError) as e:
            smmcool.Scenario.from_toml(
                "[protocol]\nb_initial_t = 0.5\nb_final_t = 0.1\ninitial_temperature_k = 4.0\nshape = \"jump\"\n"
                f"[solver]\nmax_steps = {bad}\n"
            )
        assert str(e.value) == f"<scenario>:7:13: solver.max_steps = {bad}: must be an integer in 1..=1000000000"


def test_every_error_is_a_smmcool_error_of_its_builtin_kind():
    assert issubclass(smmcool.InputError, smmcool.SmmcoolError) and issubclass(smmcool.InputError, ValueError)
    assert issubclass(smmcool.SolverError, smmcool.SmmcoolError) and issubclass(smmcool.SolverError, RuntimeError)
    for call in (
        lambda: smmcool.simulate(**{**RUN, "tau0_s": -1.0}),
        lambda: smmcool.levels(0.5, spin=-3),
        lambda: smmcool.limits(0.5, 0.1, -1.0),
        lambda: smmcool.Scenario.from_toml("[protocol]\nbogus_k = 1\n"),
        lambda: smmcool.read("/nonexistent/file.h5"),
    ):
        with pytest.raises(smmcool.InputError):
            call()


@pytest.mark.parametrize(
    "call, cli_args",
    [
        (lambda: smmcool.levels(0.5, tau0_s=2e-7), ["levels", "--field-t", "0.5", "--tau0-s", "2e-7"]),
        (lambda: smmcool.levels(0.5, phonon_units=2), ["levels", "--field-t", "0.5", "--phonon-units", "2"]),
        (lambda: smmcool.tau(4.0, debye_temperature_k=40), ["tau", "--temperature-k", "4", "--debye-temperature-k", "40"]),
        (
            lambda: smmcool.limits(0.5, 0.1, 2.0, barrier_k=60),
            ["limits", "--b-initial-t", "0.5", "--b-final-t", "0.1", "--initial-temperature-k", "2", "--barrier-k", "60"],
        ),
    ],
)
def test_keywords_without_effect_are_refused_as_on_the_command_line(call, cli_args):
    # The command line's message with the keyword in place of the flag (issue 15).
    expected = re.sub(r"--([a-z0-9-]+)", lambda m: m.group(1).replace("-", "_"), cli_error(*cli_args))
    assert "has no effect on" in expected
    with pytest.raises(smmcool.InputError) as e:
        call()
    assert str(e.value) == expected


def test_a_material_object_may_carry_keys_a_function_does_not_read():
    # A Material is one material for every function: its tau0_s is not an input of levels
    # given by mistake. The levels equal those of the plain preset.
    m = smmcool.Material("mn12ac", tau0_s=2e-7, debye_temperature_k=40.0)
    assert (smmcool.levels(0.5, material=m)["energy_k"] == smmcool.levels(0.5)["energy_k"]).all()
    t = smmcool.Material("mn12ac", tau0_s=2e-7, barrier_k=60.0)
    assert smmcool.limits(0.5, 0.1, 2.0, material=t) == smmcool.limits(0.5, 0.1, 2.0)
