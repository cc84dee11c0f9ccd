"""chainrule.report: metrics against scikit-learn, and the text report."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.report import (
    classification_metrics,
    confusion_matrix,
    format_report,
    regression_metrics,
)

metrics = pytest.importorskip("sklearn.metrics")


def test_classification_metrics_match_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 4, 300)
    y_pred = np.where(rng.random(300) < 0.7, y_true, rng.integers(0, 4, 300))
    y_pred[y_pred == 3] = 2  # class 3 is never predicted: precision 0 by convention
    m = classification_metrics(y_true, y_pred, ["a", "b", "c", "d"])
    assert m["accuracy"] == pytest.approx(metrics.accuracy_score(y_true, y_pred))
    np.testing.assert_array_equal(m["confusion_matrix"],
                                  metrics.confusion_matrix(y_true, y_pred, labels=range(4)))
    p, r, f, s = metrics.precision_recall_fscore_support(y_true, y_pred, labels=range(4),
                                                         zero_division=0)
    got = m["per_class"]
    np.testing.assert_allclose([c["precision"] for c in got], p)
    np.testing.assert_allclose([c["recall"] for c in got], r)
    np.testing.assert_allclose([c["f1"] for c in got], f)
    assert [c["support"] for c in got] == s.tolist()
    assert m["macro_f1"] == pytest.approx(metrics.f1_score(y_true, y_pred, average="macro",
                                                           zero_division=0))


def test_regression_metrics_match_scikit_learn() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=(50, 2))
    p = y + rng.normal(scale=0.3, size=y.shape)
    m = regression_metrics(y, p)
    assert m["mse"] == pytest.approx(metrics.mean_squared_error(y, p))
    assert m["mae"] == pytest.approx(metrics.mean_absolute_error(y, p))
    assert m["r2"] == pytest.approx(metrics.r2_score(y, p))
    assert m["rmse"] == pytest.approx(np.sqrt(m["mse"]))


def test_confusion_matrix_rejects_out_of_range_labels() -> None:
    with pytest.raises(ValueError, match="y_pred: class indices must lie in 0..2"):
        confusion_matrix([0, 1], [0, 3], 3)
    with pytest.raises(ValueError, match="y_pred: expected 2 predictions, got 3"):
        confusion_matrix([0, 1], [0, 1, 1], 3)


def test_format_report_shows_every_class_and_the_matrix() -> None:
    text = format_report(classification_metrics([0, 1, 1, 2], [0, 1, 2, 2], ["x", "y", "z"]))
    assert "test accuracy 0.7500 on 4 samples" in text
    lines = text.splitlines()
    row_y = next(ln for ln in lines if ln.strip().startswith("y ") and "." in ln)
    assert row_y.split()[1:4] == ["1.0000", "0.5000", "0.6667"]  # precision, recall, F1 of y
    assert lines[-2].split() == ["y", "0", "1", "1"]  # confusion-matrix row of class y
    reg = format_report(regression_metrics([1.0, 2.0, 3.0], [1.0, 2.0, 4.0]))
    assert "R²" in reg and "MSE  0.333333" in reg
