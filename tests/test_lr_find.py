"""The range test's rule (health/lr_find.py): one rule, said the same in text and plot.

Issue 30: the moving average trailed the loss by ~50 steps, so "minimum / 10" landed at
0.156 and ``--lr auto`` killed 74 % and 92 % of the ReLUs; the text said "steepest" while
it suggested minimum / 10, and the plot labelled another rate "suggested".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import datasets
from chainrule.health import plots
from chainrule.health.lr_find import BELOW_MINIMUM, centred, lr_find, suggest, window


def test_suggest_keeps_the_default_inside_the_window_and_clips_it_outside() -> None:
    assert suggest(1e-3, 1e-4, 1e-2) == (1e-3, "the optimizer's default, inside the window")
    assert suggest(1e-3, 2e-3, 1e-2)[0] == 2e-3
    assert "lies below it" in suggest(1e-3, 2e-3, 1e-2)[1]
    assert suggest(1e-2, 1e-4, 5e-3)[0] == 5e-3
    assert "lies above it" in suggest(1e-2, 1e-4, 5e-3)[1]
    assert suggest(1e-3, 1e-7, 2e-7) == (1e-4, "the default 1e-03 ÷ 10, which lies above "
                                         "the window")  # noise at η = 1e-7: not trusted
    assert suggest(1e-3, 0.5, 1.0)[0] == pytest.approx(1e-2)


def test_a_plain_gradient_step_takes_the_windows_upper_end() -> None:
    """SGD's step is η × the gradient, whose scale is the problem's: no default carries
    over (the run's 1e-3 lost 10–20 accuracy points to the sweep's rates on real tables)."""
    assert suggest(1e-2, 1e-3, 5e-2, measured=True)[0] == 5e-2
    assert suggest(1e-2, 1e-3, 5.0, measured=True)[0] == pytest.approx(0.1)  # TRUST
    assert suggest(1e-2, 1e-9, 1e-7, measured=True)[0] == 1e-7  # large targets: no floor
    ds = datasets.load("digits")
    net = cr.MLP([64, 32, 10], hidden="relu", output="softmax", loss="cross_entropy", seed=0)
    net.scaler = cr.Standardizer.fit(ds.X)
    result = lr_find(net, ds.X, ds.y, optimizer="momentum")
    assert result.optimizer == "momentum" and result.default == 1e-2
    assert result.suggestion == pytest.approx(min(result.upper, 0.1))
    assert "upper end" in result.reason


def test_centred_is_a_plain_centred_median() -> None:
    x = np.random.default_rng(0).random(30)
    want = [np.median(x[max(0, i - 3) : i + 4]) for i in range(30)]
    np.testing.assert_array_equal(centred(x, 3), want)


def test_one_outlier_batch_does_not_end_the_sweep() -> None:
    """A regression target that is ~0 but for 3 rows of 50 (seed 1: the first batch
    holds none, a later one does): the moving average's stop rule ended the sweep within
    a few steps at η ≈ 1e-7 ("the loss diverged within 3 steps"); it runs on."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(320, 3))
    y = rng.normal(size=320) * 0.1
    y[rng.choice(320, 3, replace=False)] = 50.0
    net = cr.MLP([3, 8, 1], hidden="relu", loss="mse", seed=0)
    result = lr_find(net, X, y, optimizer="adam")
    assert len(result.lrs) > 50 and result.lrs[-1] > 1e-3


def test_the_window_has_no_lag() -> None:
    """A noise-free sweep whose loss is lowest at η = 1e-2: the window ends within a factor
    2 below 1e-2 / 3 (the median's flat bottom spans a few steps); the moving average put
    its minimum ~50 steps, four decades, later."""
    lrs = np.logspace(-7, 1, 100)
    loss = 1 + (np.log10(lrs) + 2) ** 2 / 10  # lowest at 1e-2, a parabola in log η
    loss[lrs < 1e-4] = loss[np.argmax(lrs >= 1e-4)]  # flat until the rate matters
    lower, upper = window(lrs, centred(loss, 5))
    low = lrs[np.argmin(loss)]
    assert low / BELOW_MINIMUM / 2 <= upper <= low / BELOW_MINIMUM
    assert 1e-4 <= lower < upper


def test_the_text_and_the_plot_say_the_same_rule(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    ds = datasets.load("digits")
    net = cr.MLP([64, 32, 10], hidden="relu", output="softmax", loss="cross_entropy", seed=0)
    net.scaler = cr.Standardizer.fit(ds.X)
    result = lr_find(net, ds.X, ds.y)
    assert result.lower <= result.suggestion <= result.upper < result.minimum
    assert result.default == 1e-3  # Adam's
    assert result.reason in str(result) and result.window_text in str(result)
    assert f"suggested {result.suggestion:.2e}" in result.reason
    labels: list[str] = []
    save = plots.save_figure

    def keep_labels(fig: Any, path: Path) -> Path:
        labels.extend(t.get_text() for t in fig.axes[0].get_legend().get_texts())
        return save(fig, path)

    monkeypatch.setattr(plots, "save_figure", keep_labels)
    result.plot(tmp_path / "lr_find.png")
    said = [label.replace("\n", " ") for label in labels]
    assert result.reason in said and result.window_text in said
    assert sum("suggested" in label for label in said) == 1  # one rate is called suggested


def test_a_sweep_that_diverges_at_once_says_what_to_change() -> None:
    """Plain SGD on txhousing's median prices (targets near 1e5): the first steps at
    η = 1e-7 already overflow; the message names the argument and the flag that start
    lower, and the targets (``train --lr auto`` has no --start)."""
    from bench_script import load

    from chainrule.runs import RunConfig, RunError
    from chainrule.runs.stages import build, load_data, range_test, split

    table = next(t for t in load("real_tables").TABLES if t.name == "txhousing")
    cfg = RunConfig.from_mapping({"dataset": "csv", "csv": str(table.file()),
                                  "target": table.target, "optimizer": "sgd"})
    ds = load_data(cfg)
    splits = split(cfg, ds)
    with pytest.raises(RunError, match=r"start=, or chainrule lr-find --start\) or, for "
                       "targets in the thousands, standardize them"):
        range_test(cfg, build(cfg, ds, splits), ds, splits)
