"""The test split's pictures beside curves.png: a confusion matrix for classification,
predicted-vs-true and residuals for regression (chainrule.health.plots), written
atomically into the run directory by a run (chainrule.runs.output)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib", reason="the plots need the cli extra's matplotlib")

from chainrule import runs  # noqa: E402
from chainrule.health import plots  # noqa: E402
from chainrule.runs.output import CONFUSION, RESIDUALS  # noqa: E402

pytestmark = pytest.mark.filterwarnings("error::UserWarning")  # matplotlib: none on the way


@pytest.fixture
def drawn(monkeypatch):
    """The figures the plots would save, as (texts, axes titles) — then saved for real."""
    seen = []
    save = plots.save_figure

    def capture(fig, path, crop=True):
        texts = [t.get_text() for ax in fig.axes for t in ax.texts]
        titles = [ax.get_title() for ax in fig.axes]
        suptitle = fig._suptitle.get_text() if fig._suptitle is not None else ""
        seen.append((texts, titles, suptitle))
        return save(fig, path, crop=crop)

    monkeypatch.setattr(plots, "save_figure", capture)
    return seen


def _png(path: Path) -> np.ndarray:
    import matplotlib.image

    assert path.read_bytes().startswith(b"\x89PNG")
    image = matplotlib.image.imread(path)
    assert image.std() > 0.05  # something is drawn
    return image


def test_confusion_matrix_shows_every_count(tmp_path, drawn):
    cm = np.array([[5, 1, 0], [2, 7, 0], [0, 0, 4]])
    path = plots.plot_confusion(cm, ["cat", "dog", "=cmd"], tmp_path / "c.png", title="pets")
    _png(path)
    texts, titles, _ = drawn[-1]
    assert texts == [str(v) for v in cm.ravel()]  # row i (true), column j (predicted)
    assert any("pets: accuracy 0.842 on 19 samples" in t for t in titles)
    assert [p.name for p in tmp_path.iterdir()] == ["c.png"]  # no temporary left over


def test_many_classes_keep_colours_without_counts(tmp_path, drawn):
    k = plots.MAX_ANNOTATED_CLASSES + 5
    cm = np.diag(np.arange(1, k + 1))
    _png(plots.plot_confusion(cm, [f"c{i}" for i in range(k)], tmp_path / "c.png"))
    assert drawn[-1][0] == []


def test_confusion_shape_is_checked(tmp_path):
    with pytest.raises(ValueError,
                       match=r"cm: expected shape \(2, 2\) for 2 classes, got \(3, 3\)"):
        plots.plot_confusion(np.eye(3, dtype=int), ["a", "b"], tmp_path / "c.png")


def test_residuals_name_r2_and_rmse(tmp_path, drawn):
    rng = np.random.default_rng(0)
    y = rng.normal(size=200)
    pred = y + 0.1 * rng.normal(size=200)
    _png(plots.plot_residuals(y, pred, tmp_path / "r.png", ["price"]))
    _, titles, suptitle = drawn[-1]
    r2 = 1 - np.sum((pred - y) ** 2) / np.sum((y - y.mean()) ** 2)
    rmse = np.sqrt(np.mean((pred - y) ** 2))
    assert f"predicted vs true (R² {r2:.3f})" in titles
    assert f"residuals (RMSE {rmse:.4g})" in titles
    assert suptitle == "test split: 200 samples"


def test_residuals_of_many_targets_and_rows_say_what_is_drawn(tmp_path, drawn, monkeypatch):
    monkeypatch.setattr(plots, "MAX_POINTS", 50)
    y = np.random.default_rng(1).normal(size=(120, 6))
    _png(plots.plot_residuals(y, y * 0.9, tmp_path / "r.png"))
    _, titles, suptitle = drawn[-1]
    assert suptitle == "test split: 120 samples (50 drawn); the first 4 of 6 targets"
    assert len(titles) == 2 * plots.MAX_RESIDUAL_TARGETS
    with pytest.raises(ValueError, match=r"y_pred: expected shape \(120, 6\)"):
        plots.plot_residuals(y, y[:, :2], tmp_path / "x.png")


def test_a_classification_run_writes_its_confusion_matrix(tmp_path):
    run = runs.train({"dataset": "gaussians", "hidden": [8], "epochs": 30, "lr": 0.03,
                      "n_samples": 120},
                     tmp_path / "run")
    assert run.path is not None
    _png(run.path / CONFUSION)
    assert not (run.path / RESIDUALS).exists()
    metrics = json.loads((run.path / "metrics.json").read_text())
    assert metrics["status"] == "complete"


def test_a_regression_run_writes_its_residuals(tmp_path):
    plotnine = pytest.importorskip("plotnine", reason="the real table ships with plotnine")
    csv = Path(plotnine.__file__).parent / "data" / "mpg.csv"
    run = runs.train({"dataset": "csv", "csv": str(csv), "target": "hwy", "hidden": [8],
                      "epochs": 40}, tmp_path / "run")
    assert run.path is not None
    _png(run.path / RESIDUALS)
    assert not (run.path / CONFUSION).exists()


@pytest.mark.parametrize(("target", "absent"), [("hwy", RESIDUALS), ("drv", CONFUSION)])
def test_a_run_without_test_rows_draws_no_test_picture(tmp_path, target, absent):
    plotnine = pytest.importorskip("plotnine", reason="the real table ships with plotnine")
    csv = Path(plotnine.__file__).parent / "data" / "mpg.csv"
    run = runs.train({"dataset": "csv", "csv": str(csv), "target": target, "hidden": [8],
                      "epochs": 2, "test_split": 0}, tmp_path / "run")
    assert run.path is not None and run.status == "complete"
    assert (run.path / "curves.png").is_file() and not (run.path / absent).exists()
