"""Evaluation metrics and the text report ``chainrule train`` and ``evaluate`` print.

Classification: accuracy, balanced accuracy, per-class precision, recall and F1, the
confusion matrix (rows: true class, columns: predicted class) and, given the predicted
probabilities, log-loss and ROC AUC (binary, or one-vs-rest macro average). Regression:
MSE, RMSE, MAE and R². Given the training targets, a baseline that learned nothing
(the majority class; the training mean) is scored on the same samples, so a report shows
whether the network learned anything.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..engine.validation import NonFiniteOutputError as NonFiniteOutputError
from ..engine.validation import check_finite_outputs
from ..engine.validation import nonfinite_rows as nonfinite_rows
from ..io.safetext import display_width, pad, shown

#: Class names are cut to this many terminal columns in the report's tables.
LABEL_WIDTH = 32


def _labels(y: ArrayLike, name: str) -> NDArray[np.int64]:
    arr = np.asarray(y)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name}: expected a non-empty 1-D array of class indices, got shape "
                         f"{arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name}: expected integer class indices, got dtype {arr.dtype}")
    return arr.astype(np.int64)


def confusion_matrix(y_true: ArrayLike, y_pred: ArrayLike, n_classes: int) -> NDArray[np.int64]:
    """``cm[i, j]`` = number of samples of true class i predicted as class j."""
    t, p = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_pred: expected {t.shape[0]} predictions, got {p.shape[0]}")
    for name, arr in (("y_true", t), ("y_pred", p)):
        if arr.min() < 0 or arr.max() >= n_classes:
            raise ValueError(f"{name}: class indices must lie in 0..{n_classes - 1}")
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (t, p), 1)
    return cm


def precision_recall_f1(cm: NDArray[np.int64]) -> dict[str, NDArray[np.float64]]:
    """Per-class precision, recall, F1 and support from a confusion matrix.

    precision_c = cm[c, c] / Σ_i cm[i, c], recall_c = cm[c, c] / Σ_j cm[c, j],
    F1 = 2 P R / (P + R); a zero denominator gives 0 (as scikit-learn's
    ``zero_division=0``).
    """
    tp = np.diag(cm).astype(np.float64)
    predicted, support = cm.sum(axis=0), cm.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return {"precision": precision, "recall": recall, "f1": f1,
            "support": support.astype(np.float64)}


def roc_auc(positive: NDArray[np.bool_], score: NDArray[np.floating]) -> float | None:
    """Area under the ROC curve: the probability that a random positive sample scores above
    a random negative one, ties counting one half (the Mann–Whitney statistic from average
    ranks). None when ``positive`` holds only one kind."""
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    _, inverse, counts = np.unique(score, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    ranks = ((ends - counts + ends + 1) / 2.0)[inverse.ravel()]  # 1-based average ranks
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def log_loss(y_true: NDArray[np.int64], proba: NDArray[np.floating]) -> float:
    """−(1/n) Σ_i log p_i[y_i], probabilities clipped to [ε, 1 − ε] (ε: float64's machine
    epsilon, as scikit-learn clips) so a confident mistake costs a large finite amount."""
    eps = np.finfo(np.float64).eps
    p = np.clip(np.asarray(proba, dtype=np.float64)[np.arange(y_true.size), y_true], eps,
                1 - eps)
    return float(-np.mean(np.log(p)))


def _probabilities(proba: ArrayLike, n: int, n_classes: int) -> NDArray[np.float64]:
    P = np.asarray(proba, dtype=np.float64)
    if P.shape != (n, n_classes):
        raise ValueError(f"proba: expected shape {(n, n_classes)}, got {P.shape}")
    if not np.all(np.isfinite(P)) or P.min() < 0 or P.max() > 1:
        raise ValueError("proba: expected probabilities in [0, 1]")
    return P


def classification_metrics(y_true: ArrayLike, y_pred: ArrayLike, classes: list[Any], *,
                           proba: ArrayLike | None = None, y_train: ArrayLike | None = None
                           ) -> dict[str, Any]:
    """Accuracy, balanced accuracy, macro averages, per-class scores and the confusion
    matrix, JSON-ready; with ``proba`` (n_samples, n_classes) also ``log_loss`` and
    ``roc_auc`` (None where a class is absent from ``y_true``); with ``y_train`` the
    accuracy and balanced accuracy of predicting its majority class for every sample."""
    cm = confusion_matrix(y_true, y_pred, len(classes))
    scores = precision_recall_f1(cm)
    t = _labels(y_true, "y_true")
    present = cm.sum(axis=1) > 0
    extra: dict[str, Any] = {
        "balanced_accuracy": float(scores["recall"][present].mean()),
    }
    if proba is not None:
        P = _probabilities(proba, t.size, len(classes))
        extra["log_loss"] = log_loss(t, P)
        if len(classes) == 2:
            extra["roc_auc"] = roc_auc(t == 1, P[:, 1])
        else:
            aucs = [roc_auc(t == c, P[:, c]) for c in range(len(classes))]
            extra["roc_auc"] = (None if any(a is None for a in aucs)
                                else float(np.mean([a for a in aucs if a is not None])))
    if y_train is not None:
        majority = int(np.argmax(np.bincount(_labels(y_train, "y_train"),
                                             minlength=len(classes))))
        extra["baseline"] = {
            "predicts": classes[majority],
            "accuracy": float(np.mean(t == majority)),
            "balanced_accuracy": float(1.0 / present.sum()) if present[majority] else 0.0,
        }
    per_class = [
        {"class": c, **{k: float(v[i]) for k, v in scores.items()}}
        for i, c in enumerate(classes)
    ]
    for row in per_class:
        row["support"] = int(row["support"])
    return {
        "task": "classification",
        "n_samples": int(cm.sum()),
        "accuracy": float(np.trace(cm) / cm.sum()),
        "macro_precision": float(scores["precision"].mean()),
        "macro_recall": float(scores["recall"].mean()),
        "macro_f1": float(scores["f1"].mean()),
        **extra,
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
        "classes": list(classes),
    }


def regression_metrics(y_true: ArrayLike, y_pred: ArrayLike, *,
                       y_train: ArrayLike | None = None) -> dict[str, Any]:
    """MSE, RMSE, MAE and R² = 1 − SS_res / SS_tot (averaged over target columns), in the
    target's units; with ``y_train`` the same scores of predicting its mean for every
    sample (``baseline``)."""
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    t = t.reshape(t.shape[0], -1)
    p = p.reshape(p.shape[0], -1)
    if t.shape != p.shape:
        raise ValueError(f"y_pred: expected shape {t.shape}, got {p.shape}")
    check_finite_outputs(p, "y_pred")  # a nan would score as nan, an inf as inf: refused
    scores = _regression_scores(t, p)
    if y_train is not None:
        train = np.asarray(y_train, dtype=np.float64).reshape(-1, t.shape[1])
        mean = np.broadcast_to(train.mean(axis=0), t.shape)
        scores["baseline"] = {"predicts": "the training mean",
                              **_regression_scores(t, mean)}
    return {"task": "regression", "n_samples": int(t.shape[0]), **scores}


def _regression_scores(t: NDArray[np.float64], p: NDArray[np.float64]) -> dict[str, Any]:
    err = p - t
    mse = float(np.mean(err**2))
    ss_tot = np.sum((t - t.mean(axis=0)) ** 2, axis=0)
    ss_res = np.sum(err**2, axis=0)
    r2 = np.where(ss_tot > 0, 1 - ss_res / np.where(ss_tot > 0, ss_tot, 1), 0.0)
    return {"mse": mse, "rmse": float(np.sqrt(mse)), "mae": float(np.mean(np.abs(err))),
            "r2": float(np.mean(r2))}


def format_report(metrics: dict[str, Any]) -> str:
    """The metrics as a plain-text report (tables aligned for a terminal or a CI log)."""
    base = metrics.get("baseline")
    if metrics["task"] == "regression":
        text = (f"test samples {metrics['n_samples']}\n"
                f"  MSE  {metrics['mse']:.6g}\n  RMSE {metrics['rmse']:.6g}\n"
                f"  MAE  {metrics['mae']:.6g}\n  R²   {metrics['r2']:.4f}")
        if base:
            text += (f"\nbaseline ({base['predicts']}): RMSE {base['rmse']:.6g}, "
                     f"MAE {base['mae']:.6g}, R² {base['r2']:.4f}")
        return text
    names = [shown(c, LABEL_WIDTH) for c in metrics["classes"]]
    w = max(5, *(display_width(n) for n in names))
    lines = [f"test accuracy {metrics['accuracy']:.4f} on {metrics['n_samples']} samples"]
    scores = [f"balanced accuracy {metrics['balanced_accuracy']:.4f}",
              f"macro-F1 {metrics['macro_f1']:.4f}"]
    if "log_loss" in metrics:
        scores.append(f"log-loss {metrics['log_loss']:.4f}")
        auc = metrics.get("roc_auc")
        scores.append("ROC AUC " + ("n/a (a class is absent)" if auc is None else f"{auc:.4f}"))
    lines.append(", ".join(scores))
    if base:
        lines.append(f"baseline (always {shown(base['predicts'], LABEL_WIDTH)}): accuracy "
                     f"{base['accuracy']:.4f}, balanced accuracy {base['balanced_accuracy']:.4f}")
    lines += ["", f"{'class':>{w}}  precision  recall      f1  support"]
    for name, row in zip(names, metrics["per_class"], strict=True):
        lines.append(f"{pad(name, w)}  {row['precision']:>9.4f}  {row['recall']:>6.4f}  "
                     f"{row['f1']:>6.4f}  {row['support']:>7d}")
    lines.append(f"{'macro':>{w}}  {metrics['macro_precision']:>9.4f}  "
                 f"{metrics['macro_recall']:>6.4f}  {metrics['macro_f1']:>6.4f}  "
                 f"{metrics['n_samples']:>7d}")
    cm = np.asarray(metrics["confusion_matrix"])
    # every column is one wider than its widest label, so neighbours never run together
    cw = max(w, max(display_width(n) for n in names) + 1, len(str(cm.max())) + 1)
    lines += ["", "confusion matrix (rows: true class, columns: predicted)",
              " " * w + "  " + "".join(pad(n, cw) for n in names)]
    for name, row in zip(names, cm, strict=True):
        lines.append(f"{pad(name, w)}  " + "".join(f"{v:>{cw}d}" for v in row))
    return "\n".join(lines)
