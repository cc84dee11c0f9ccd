"""``--cv K``: K-fold cross-validation of the training rows, the K folds trained at once as
the K members of one ensemble (:class:`~chainrule.engine.ensemble.Ensemble`).

Member m trains on every training row outside fold m — its per-row weight W_im is 1 there
and 0 on fold m, so it never sees its fold (:func:`member_weights`) — and is scored on
fold m alone (:func:`fold_metrics`). The folds' scores give the mean ± standard deviation
of every metric; the ensemble itself (the mean of the K members) is the saved model and
scores the test split as any run does. The run's validation split is held out from every
member, so early stopping on it stays honest.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..engine.network import Network
from ..training.callbacks import Callback
from .errors import RunError


def fold_ids(n: int, k: int, *, labels: NDArray | None = None, seed: int = 0
             ) -> NDArray[np.int64]:
    """The fold (0 … k−1) of each of ``n`` training rows: a seeded shuffle dealt round
    the folds, class by class when ``labels`` are given (stratified, as scikit-learn's
    StratifiedKFold), so every fold holds about n/k rows and the classes' shares.

    Raises
    ------
    RunError
        Fewer rows than folds.
    """
    if n < k:
        raise RunError(f"cv {k}: {n} training rows cannot fill {k} folds; use --cv {max(2, n)} "
                       "or fewer folds (or more data)")
    rng = np.random.default_rng([seed, k])
    folds = np.empty(n, dtype=np.int64)
    groups = [np.arange(n)] if labels is None else [np.flatnonzero(labels == c)
                                                    for c in np.unique(labels)]
    start = 0
    for rows in groups:
        rows = rng.permutation(rows)
        folds[rows] = (start + np.arange(len(rows))) % k
        start += len(rows)  # the next class continues the deal: folds stay even
    return folds


def run_folds(k: int, y_train: NDArray, task: str, seed: int) -> NDArray[np.int64]:
    """The folds of a run's training rows (stratified for classes): the same in the fit
    (:func:`member_weights`) and in the report (:func:`fold_metrics`), and in a resumed
    run."""
    return fold_ids(len(y_train), k, labels=y_train if task == "classification" else None,
                    seed=seed)


def member_weights(folds: NDArray[np.int64], k: int) -> NDArray[np.float64]:
    """W of shape (n, k): W[i, m] = 0 when row i is in fold m (member m never sees it),
    else 1."""
    return (folds[:, None] != np.arange(k)[None, :]).astype(np.float64)


class OutOfFoldLoss(Callback):
    """After every epoch, ``logs["cv_loss"]``: the mean over the training rows of each
    row's cost under the one member that never saw it (member m on fold m).

    A validation signal from every training row, not from a split of a few dozen: on a
    small table early stopping and the best epoch kept (``best.safetensors``, the saved
    model) follow it instead of a noisy validation loss or the training loss. It must run
    before :class:`~chainrule.training.callbacks.EarlyStopping` and the checkpointer,
    which read it from the same ``logs``.

    Parameters
    ----------
    a0 : ndarray of shape (n, n_in)
        The training rows as the network reads them (scaled).
    Y : ndarray of shape (n, n_out)
        Their targets in the network's terms (not smoothed).
    folds : ndarray of shape (n,)
        Each row's fold (:func:`run_folds`).
    """

    def __init__(self, a0: NDArray, Y: NDArray, folds: NDArray[np.int64]) -> None:
        self.a0, self.Y, self.folds = a0, Y, folds
        k = int(folds.max()) + 1
        own = [np.flatnonzero(folds == m) for m in range(k)]
        width = max(len(rows) for rows in own)
        # member m's rows, its fold's, padded to one width by repeating them (not counted)
        self.rows = np.stack([np.resize(rows, width) for rows in own])  # (k, width)
        self.counted = np.stack([np.arange(width) < len(rows) for rows in own])

    def on_epoch_end(self, trainer: Any, logs: dict[str, float]) -> None:
        net = trainer.net
        k, width = self.rows.shape
        total = 0.0
        step = max(1, 4096 // k)
        for start in range(0, width, step):
            rows = self.rows[:, start:start + step]  # (k, s): member m on its own fold
            A = net.forward_members(self.a0[rows]).members_a_L  # (k, s, n_out)
            counted = self.counted[:, start:start + step]
            total += float(np.sum(net.loss_fn.value(A[counted], self.Y[rows[counted]])))
        logs["cv_loss"] = total / len(self.a0)
        # The trainer's History saw this epoch's logs before this callback ran (it is
        # always first): record cv_loss there too, so history.csv and a resumed run's
        # history (which the checkpointer, after this, saves with it) have every column.
        trainer.history.history.setdefault("cv_loss", []).append(logs["cv_loss"])


def fold_metrics(net: Network, X: NDArray, y: NDArray, folds: NDArray[np.int64], task: str,
                 classes: list[Any] | None) -> dict[str, Any]:
    """Every member scored on its own fold: ``{"folds": k, "metric": name, "mean": {...},
    "sd": {...}, "per_fold": [{...}, …]}`` over the scalar metrics of the test report
    (accuracy, balanced accuracy, macro-F1, log-loss …; MSE, RMSE, MAE, R²). The sd is
    the folds' sample standard deviation (ddof = 1)."""
    from ..health.report import classification_metrics, regression_metrics
    from .network import class_probabilities

    k = int(folds.max()) + 1
    P = np.asarray(net.predict_members(X))  # type: ignore[attr-defined]
    per_fold: list[dict[str, float]] = []
    for m in range(k):
        rows = folds == m
        A = P[m][rows]
        if task == "classification":
            assert classes is not None
            scores = classification_metrics(y[rows], net.classes_of(A), classes,
                                            proba=class_probabilities(net, A, len(classes)))
        else:
            scores = regression_metrics(y[rows], A)
        per_fold.append({key: float(v) for key, v in scores.items()
                         if isinstance(v, (int, float)) and not isinstance(v, bool)
                         and key != "n_samples"})
    keys = [key for key in per_fold[0] if all(key in f for f in per_fold)]
    mean = {key: float(np.mean([f[key] for f in per_fold])) for key in keys}
    sd = {key: float(np.std([f[key] for f in per_fold], ddof=1)) for key in keys}
    return {"folds": k, "metric": "accuracy" if task == "classification" else "r2",
            "mean": mean, "sd": sd, "per_fold": per_fold}


def format_cv(cv: dict[str, Any]) -> str:
    """``cross-validation (5 folds): accuracy 0.8512 ± 0.0213, balanced accuracy …``."""
    names = {"accuracy": "accuracy", "balanced_accuracy": "balanced accuracy",
             "macro_f1": "macro-F1", "log_loss": "log-loss", "roc_auc": "ROC AUC",
             "r2": "R²", "rmse": "RMSE", "mae": "MAE", "mse": "MSE"}
    shown = [f"{names[key]} {cv['mean'][key]:.4f} ± {cv['sd'][key]:.4f}"
             for key in names if key in cv["mean"]]
    return f"cross-validation ({cv['folds']} folds, each member on its own fold): " + \
        ", ".join(shown)


__all__ = ["OutOfFoldLoss", "fold_ids", "fold_metrics", "format_cv", "member_weights",
           "run_folds"]
