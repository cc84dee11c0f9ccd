"""Evaluation metrics and the text report ``chainrule train`` and ``evaluate`` print.

Classification: accuracy, per-class precision, recall and F1, the confusion matrix
(rows: true class, columns: predicted class). Regression: MSE, RMSE, MAE and R².
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray


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


def classification_metrics(y_true: ArrayLike, y_pred: ArrayLike, classes: list[Any]
                           ) -> dict[str, Any]:
    """Accuracy, macro averages, per-class scores and the confusion matrix, JSON-ready."""
    cm = confusion_matrix(y_true, y_pred, len(classes))
    scores = precision_recall_f1(cm)
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
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
        "classes": list(classes),
    }


def regression_metrics(y_true: ArrayLike, y_pred: ArrayLike) -> dict[str, Any]:
    """MSE, RMSE, MAE and R² = 1 − SS_res / SS_tot (averaged over target columns)."""
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    t = t.reshape(t.shape[0], -1)
    p = p.reshape(p.shape[0], -1)
    if t.shape != p.shape:
        raise ValueError(f"y_pred: expected shape {t.shape}, got {p.shape}")
    err = p - t
    mse = float(np.mean(err**2))
    ss_tot = np.sum((t - t.mean(axis=0)) ** 2, axis=0)
    ss_res = np.sum(err**2, axis=0)
    r2 = np.where(ss_tot > 0, 1 - ss_res / np.where(ss_tot > 0, ss_tot, 1), 0.0)
    return {"task": "regression", "n_samples": int(t.shape[0]), "mse": mse,
            "rmse": float(np.sqrt(mse)), "mae": float(np.mean(np.abs(err))),
            "r2": float(np.mean(r2))}


def format_report(metrics: dict[str, Any]) -> str:
    """The metrics as a plain-text report (tables aligned for a terminal or a CI log)."""
    if metrics["task"] == "regression":
        return (f"test samples {metrics['n_samples']}\n"
                f"  MSE  {metrics['mse']:.6g}\n  RMSE {metrics['rmse']:.6g}\n"
                f"  MAE  {metrics['mae']:.6g}\n  R²   {metrics['r2']:.4f}")
    names = [str(c) for c in metrics["classes"]]
    w = max(5, *(len(n) for n in names))
    lines = [f"test accuracy {metrics['accuracy']:.4f} on {metrics['n_samples']} samples", "",
             f"{'class':>{w}}  precision  recall      f1  support"]
    for name, row in zip(names, metrics["per_class"], strict=True):
        lines.append(f"{name:>{w}}  {row['precision']:>9.4f}  {row['recall']:>6.4f}  "
                     f"{row['f1']:>6.4f}  {row['support']:>7d}")
    lines.append(f"{'macro':>{w}}  {metrics['macro_precision']:>9.4f}  "
                 f"{metrics['macro_recall']:>6.4f}  {metrics['macro_f1']:>6.4f}  "
                 f"{metrics['n_samples']:>7d}")
    cm = np.asarray(metrics["confusion_matrix"])
    cw = max(w, len(str(cm.max())) + 1)
    lines += ["", "confusion matrix (rows: true class, columns: predicted)",
              " " * w + "  " + "".join(f"{n:>{cw}}" for n in names)]
    for name, row in zip(names, cm, strict=True):
        lines.append(f"{name:>{w}}  " + "".join(f"{v:>{cw}d}" for v in row))
    return "\n".join(lines)
