"""Key cases of the verdict calibration (bench/calibrate_health.py, docs/diagnostics.md):
each run of known truth gets exactly the verdict of its cause, and the healthy ones none.

Regression tests of issue 30's false alarms: a network that fits perfectly is not told its
learning rate is too small nor that its saturated tanh units are a problem; the tutorial's
sick network (SGD, η = 50, sigmoid) is diagnosed by its learning rate.
"""

from __future__ import annotations

from typing import Any

import pytest
from bench_script import load

calibrate = load("calibrate_health")
CASES = {case.name: case for case in calibrate.cases()}


def run(name: str) -> dict[str, Any]:
    return calibrate.run_case(CASES[name])


def test_the_tutorials_sick_network_is_diagnosed_by_its_learning_rate() -> None:
    row = run("tutorial: sigmoid, SGD η = 50")
    assert row["kinds"] == ["lr_too_large"], row["messages"]
    assert "learning rate is" in row["messages"][0] and "too large" in row["messages"][0]
    assert "the saturation and vanishing gradients follow from it" in row["messages"][0]


@pytest.mark.parametrize("name", ["tanh 8, Adam η = 0.03 (fits perfectly)",
                                  "tanh 8, SGD η = 0.5 (fits perfectly)"])
def test_a_network_that_fits_raises_no_alarm(name: str) -> None:
    """Saturated tanh units (about half of them) and tiny updates in a network that fits:
    healthy, not "saturated" nor "the learning rate is ~616× too small"."""
    row = run(name)
    assert row["learned"] > calibrate_fits()
    assert row["kinds"] == [], row["messages"]


@pytest.mark.parametrize(("name", "kind"), [
    ("relu, biases −10", "dead_units"),
    ("relu, SGD η = 1e-7", "lr_too_small"),
    ("tanh × 8", "saturation"),
    ("8 sigmoid layers, SGD η = 0.1", "vanishing_gradients"),
])
def test_a_sick_run_gets_the_verdict_of_its_cause(name: str, kind: str) -> None:
    assert run(name)["kinds"] == [kind]


def calibrate_fits() -> float:
    from chainrule.health.diagnosis import FITS

    return FITS


def _check(learned: float, *, dead: float = 0.0, saturated: float = 0.0,
           update: float = 1e-3) -> list[Any]:
    """Three checks of a 2-hidden-layer relu/tanh network whose cost has come
    ``learned`` of the way from a constant output's to 0."""
    import numpy as np

    from chainrule.health.monitor import Check, LayerHealth

    def layer(i: int, act: str, last: bool = False) -> LayerHealth:
        return LayerHealth(i, act, 0.0, 1.0, None if last else dead,
                           None if last else saturated, 1e-2, 0.1, update,
                           np.zeros(4, dtype=np.int64))

    layers = [layer(1, "relu"), layer(2, "relu"), layer(3, "softmax", last=True)]
    return [Check(10 * k, 1, layers, loss=1.0 - learned, baseline=1.0) for k in (1, 2, 3)]


@pytest.mark.parametrize(("numbers", "fitting", "sick"), [
    ({"dead": 0.7}, [], ["dead_units"]),  # "70 % of relu units are dead" at the default rate
    ({"saturated": 0.52}, [], ["saturation"]),  # "52 % of tanh outputs … at 99 %"
    ({"update": 1.6e-6}, [], ["lr_too_small"]),  # "the learning rate is ~616× too small"
])
def test_the_issues_false_alarms_are_not_said_of_a_network_that_fits(
        numbers: dict[str, float], fitting: list[str], sick: list[str]) -> None:
    from chainrule.health.diagnosis import verdicts_from

    assert sorted(verdicts_from(_check(0.99, **numbers), []).kinds) == fitting
    assert sorted(verdicts_from(_check(0.1, **numbers), []).kinds) == sick
