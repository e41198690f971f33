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


def test_a_failed_reduced_ramp_has_no_temperature():
    # The reduced ramp carries the temperature only through the energy: none is reported.
    kw = dict(b_initial_t=0.5, b_final_t=0.1, initial_temperature_k=4.0, sweep_rate_t_per_s=10.0)
    expected = cli_failure("simulate", *flags(kw), "--max-steps", "1")
    with pytest.raises(smmcool.SolverError) as e:
        smmcool.simulate(**kw, max_steps=1)
    assert str(e.value) == expected
    assert e.value.stage == "reduced ramp" and e.value.temperature_k is None
    assert 0.0 <= e.value.time_s <= 0.04  # within the 0.4 T / 10 T/s ramp
    assert 0.1 <= e.value.field_t <= 0.5


@pytest.mark.parametrize("bad", [0, 1_000_000_001])
def test_max_steps_out_of_range_is_an_input_error_with_the_cli_message(bad):
    expected = cli_error("simulate", *JUMP_FLAGS, "--max-steps", str(bad)).replace("--max-steps", "max_steps")
    with pytest.raises(smmcool.InputError) as e:
        smmcool.simulate(**JUMP, max_steps=bad)
    assert str(e.value) == expected
    assert "1..=1000000000" in expected


@pytest.mark.parametrize("bad", [2.5, True, "10"])
def test_max_steps_must_be_an_integer(bad):
    with pytest.raises(smmcool.InputError, match=r"^max_steps = .* is not allowed: must be an integer"):
        smmcool.simulate(**JUMP, max_steps=bad)


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
