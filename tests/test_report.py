"""chainrule.report: metrics against scikit-learn, and the text report."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.health.report import (
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


def _probabilities(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    logits = rng.normal(size=(n, k))
    logits[:, 0] = np.round(logits[:, 0], 1)  # ties in the scores: AUC counts them one half
    P = np.exp(logits)
    return P / P.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_probability_metrics_match_scikit_learn(k: int) -> None:
    rng = np.random.default_rng(k)
    y_true = rng.integers(0, k, 400)
    P = _probabilities(rng, 400, k)
    P[np.arange(400), y_true] += rng.random(400)  # some skill
    P /= P.sum(axis=1, keepdims=True)
    if k == 2:
        P[:, 1] = np.round(P[:, 1], 2)
        P[:, 0] = 1 - P[:, 1]
    y_pred = P.argmax(axis=1)
    m = classification_metrics(y_true, y_pred, list(range(k)), proba=P)
    assert m["log_loss"] == pytest.approx(metrics.log_loss(y_true, P, labels=range(k)),
                                          rel=1e-12)
    expected_auc = (metrics.roc_auc_score(y_true, P[:, 1]) if k == 2 else
                    metrics.roc_auc_score(y_true, P, multi_class="ovr", average="macro"))
    assert m["roc_auc"] == pytest.approx(expected_auc, rel=1e-12)
    assert m["balanced_accuracy"] == pytest.approx(
        metrics.balanced_accuracy_score(y_true, y_pred), rel=1e-12)
    assert 0.5 < m["roc_auc"] < 1.0


def test_balanced_accuracy_ignores_classes_absent_from_y_true() -> None:
    y_true = np.array([0, 0, 0, 1, 1])
    y_pred = np.array([0, 0, 2, 1, 0])
    m = classification_metrics(y_true, y_pred, ["a", "b", "c"])
    with pytest.warns(UserWarning):  # scikit-learn warns about the predicted-only class
        expected = metrics.balanced_accuracy_score(y_true, y_pred)
    assert m["balanced_accuracy"] == pytest.approx(expected)


def test_auc_is_none_when_a_class_is_absent_and_the_report_says_so() -> None:
    y_true = np.array([0, 0, 1, 1])
    P = np.array([[0.5, 0.3, 0.2]] * 4)
    m = classification_metrics(y_true, np.zeros(4, dtype=int), ["a", "b", "c"], proba=P)
    assert m["roc_auc"] is None
    assert "ROC AUC n/a (a class is absent)" in format_report(m)


def test_confident_mistake_costs_a_large_finite_log_loss() -> None:
    m = classification_metrics([0, 1], [1, 1], ["a", "b"],
                               proba=np.array([[0.0, 1.0], [0.0, 1.0]]))
    assert np.isfinite(m["log_loss"]) and m["log_loss"] > 17


@pytest.mark.parametrize("bad", [np.full((4, 2), 0.5)[:3], np.full((4, 2), 1.5),
                                 np.full((4, 2), np.nan)])
def test_bad_probabilities_are_refused_naming_the_argument(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="proba: expected"):
        classification_metrics([0, 1, 0, 1], [0, 1, 0, 1], ["a", "b"], proba=bad)


def test_majority_baseline_is_scored_on_the_same_samples() -> None:
    y_train = np.array([2, 2, 2, 0, 1])
    y_true = np.array([0, 2, 2, 1])
    m = classification_metrics(y_true, y_true, ["x", "y", "z"], y_train=y_train)
    assert m["baseline"] == {"predicts": "z", "accuracy": 0.5,
                             "balanced_accuracy": pytest.approx(1 / 3)}
    assert "baseline (always z): accuracy 0.5000, balanced accuracy 0.3333" in format_report(m)


def test_mean_baseline_for_regression_in_the_targets_units() -> None:
    rng = np.random.default_rng(4)
    y_train = rng.normal(10.0, 3.0, 100)
    y_true = rng.normal(10.0, 3.0, 40)
    m = regression_metrics(y_true, y_true + 0.1, y_train=y_train)
    base = m["baseline"]
    mean = np.full(40, y_train.mean())
    assert base["rmse"] == pytest.approx(np.sqrt(metrics.mean_squared_error(y_true, mean)))
    assert base["mae"] == pytest.approx(metrics.mean_absolute_error(y_true, mean))
    assert base["r2"] == pytest.approx(metrics.r2_score(y_true, mean))
    assert base["r2"] <= 0.0 < m["r2"]
    assert "baseline (the training mean): RMSE" in format_report(m)
