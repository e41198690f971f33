"""Bad input: ValueError with the command line's message, the keyword in place of the flag."""

import re

import pytest

import smmcool
from conftest import cli_error

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
