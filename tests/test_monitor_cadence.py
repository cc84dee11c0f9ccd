"""How often a run's health monitor checks (runs/fitting.make_monitor): every
MONITOR_EVERY steps, two checks spread over a short run, about MONITOR_CHECKS over a long
one — a check is a forward pass over the probe batch, so a long run must not pay for
thousands of them."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.runs.config import RunConfig
from chainrule.runs.fitting import MONITOR_CHECKS, MONITOR_EVERY, make_monitor
from chainrule.runs.stages import Splits


def _splits(n_train: int) -> Splits:
    X = np.zeros((n_train, 3))
    y = np.zeros(n_train)
    return Splits(X, y, X[:10], y[:10], X[:10], y[:10])


@pytest.mark.parametrize("n_train, epochs, every", [
    (320, 1, 5),                       # 10 steps: two checks spread over the run
    (3_200, 10, MONITOR_EVERY),        # 1,000 steps: every MONITOR_EVERY
    (32_000, 100, 100_000 // MONITOR_CHECKS),  # 100,000 steps: about MONITOR_CHECKS checks
])
def test_checks_are_spread_and_capped(n_train: int, epochs: int, every: int) -> None:
    cfg = RunConfig.from_mapping({"batch_size": 32})
    monitor = make_monitor(cfg, _splits(n_train), epochs)
    assert monitor.every == every
    steps = epochs * n_train // 32
    assert steps // monitor.every <= max(MONITOR_CHECKS, steps // MONITOR_EVERY)
