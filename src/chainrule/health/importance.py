"""Which input columns matter: permutation importance on held-out rows.

Shuffle one column of the test rows, keep the others, and see how much the model's score
drops (Breiman 2001; scikit-learn's :func:`sklearn.inspection.permutation_importance`).
A column the model does not use costs nothing when shuffled; a column it leans on costs
a lot. The model is never retrained, so the drop measures what *this* model uses, on
rows it did not train on.

A column of a table is one unit, however many features it was encoded into: a one-hot
column's features (and a number's missing indicator) are shuffled together, with the
same row order, which is exactly shuffling the raw column and encoding it again (the
encoding is row by row). So the ranking names the columns a practitioner knows, and it
equals scikit-learn's on the raw table with an estimator that encodes before predicting.

The shuffles are scikit-learn's too: with ``seed`` s (below 2³²) they are the row orders
``permutation_importance(..., random_state=s)`` draws, so the numbers agree with it to
rounding, not just in distribution.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..io.safetext import display_width, shown
from .report import regression_metrics

#: Shuffles per column, scikit-learn's default.
N_REPEATS = 5
#: The score each task is ranked by: the run's headline test metric.
METRICS = {"classification": "accuracy", "regression": "r2"}

#: (column name, indices of its features in the network's input) per column.
Groups = list[tuple[str, list[int]]]


@dataclass(frozen=True)
class Importance:
    """Permutation importance of every input column.

    Attributes
    ----------
    columns : list of str
        The columns, in input order.
    drops : ndarray of shape (n_columns, n_repeats)
        ``baseline`` minus the score with that column shuffled, per shuffle
        (scikit-learn's ``importances``).
    baseline : float
        The score on the unshuffled rows.
    metric : str
        ``"accuracy"`` or ``"r2"`` (:data:`METRICS`).
    seed : int
        The seed of the shuffles.
    n_samples : int
        The rows scored.
    n_rows : int
        The rows given (``n_samples`` of them were scored: a seeded sample when fewer).
    """

    columns: list[str]
    drops: NDArray[np.float64]
    baseline: float
    metric: str
    seed: int
    n_samples: int
    n_rows: int = 0

    @property
    def mean(self) -> NDArray[np.float64]:
        """Mean drop per column, shape (n_columns,) (``importances_mean``)."""
        return np.asarray(self.drops.mean(axis=1), dtype=np.float64)

    @property
    def std(self) -> NDArray[np.float64]:
        """Standard deviation of the drop per column (``importances_std``)."""
        return np.asarray(self.drops.std(axis=1), dtype=np.float64)

    def ranked(self) -> list[tuple[str, float, float]]:
        """(column, mean drop, std), the most important first (ties keep input order)."""
        mean, std = self.mean, self.std
        order = np.argsort(-mean, kind="stable")
        return [(self.columns[i], float(mean[i]), float(std[i])) for i in order]

    def to_dict(self) -> dict[str, Any]:
        """What metrics.json holds under ``"importance"`` (JSON values, ranked)."""
        return {"method": "permutation", "on": "test split", "metric": self.metric,
                "baseline": float(self.baseline), "n_repeats": int(self.drops.shape[1]),
                "seed": int(self.seed), "n_samples": int(self.n_samples),
                "n_rows": int(max(self.n_rows, self.n_samples)),
                "columns": [{"column": c, "mean": m, "std": s} for c, m, s in self.ranked()]}

    def format(self, top: int = 5) -> str:
        """The ``top`` columns as a report shows them, one per line under a heading."""
        ranked = self.ranked()
        shown_names = [shown(c, 32) for c, _, _ in ranked[:top]]
        width = max(map(display_width, shown_names), default=0)
        rows = (f"{self.n_samples} test rows" if self.n_rows <= self.n_samples else
                f"{self.n_samples} of {self.n_rows} test rows (a seeded sample)")
        lines = [f"permutation importance on {rows} (the drop in "
                 f"{self.metric} {self.baseline:.4f} when one column is shuffled, mean ± std "
                 f"of {self.drops.shape[1]} shuffles):"]
        lines += [f"  {name}{' ' * (width - display_width(name))}  {m:+.4f} ± {s:.4f}"
                  for name, (_, m, s) in zip(shown_names, ranked[:top], strict=False)]
        if len(ranked) > top:
            rest = max(abs(m) for _, m, _ in ranked[top:])
            lines.append(f"  ({len(ranked) - top} more, each within ±{rest:.4f})")
        return "\n".join(lines)


def column_groups(encoder: Any, feature_names: Sequence[str]) -> Groups:
    """The network's input features grouped by the table column they were encoded from.

    Parameters
    ----------
    encoder : TableEncoder or None
        Its per-column encodings, in feature order; several encodings of one column (if
        any) form one group. None: every feature is its own column.
    feature_names : sequence of str
        The features' names, used when there is no encoder.
    """
    if encoder is None:
        return [(str(name), [j]) for j, name in enumerate(feature_names)]
    groups: dict[str, list[int]] = {}
    j = 0
    for e in encoder.encodings:
        width = len(e.names)
        if width:
            groups.setdefault(e.column, []).extend(range(j, j + width))
        j += width
    return list(groups.items())


def permutation_importance(net: Any, X: Any, y: Any, *, task: str,
                           groups: Groups | None = None, n_repeats: int = N_REPEATS,
                           seed: int = 0, batch_size: int = 4096,
                           max_samples: int | None = None) -> Importance:
    """Permutation importance of each column (group of features) of ``X`` for ``net``.

    Parameters
    ----------
    net : Network
        A trained network; its scaler is applied by ``net.predict``.
    X : ndarray of shape (n_samples, n_in)
        Held-out features, as the network takes them (an encoder's output).
    y : ndarray of shape (n_samples,) or (n_samples, n_targets)
        Class indices (classification) or targets (regression), as the run's report
        scores them.
    task : {"classification", "regression"}
        Scored by accuracy or by R² (averaged over targets), :data:`METRICS`.
    groups : list of (str, list of int), optional
        Columns as feature indices (:func:`column_groups`); default one per feature.
    n_repeats : int
        Shuffles per column.
    seed : int
        The shuffles' seed, used as scikit-learn's ``random_state`` (taken modulo 2³²,
        the range of NumPy's ``RandomState`` that scikit-learn draws from).
    batch_size : int
        Rows per forward pass.
    max_samples : int, optional
        Score a seeded sample of this many rows when there are more (the cost is
        n_columns × n_repeats forward passes of the rows scored); the shuffles on them
        are then scikit-learn's on the same sample.

    Returns
    -------
    Importance

    Raises
    ------
    ValueError
        ``X``, ``y``, ``task``, ``groups`` or ``n_repeats`` is not usable.
    """
    X, groups = _checked(net, X, y, task, groups, n_repeats)
    y = np.asarray(y)
    n_rows = len(X)
    if max_samples is not None and max_samples < n_rows:
        if isinstance(max_samples, bool) or max_samples < 2:
            raise ValueError(f"max_samples: expected an integer >= 2, got {max_samples!r}")
        keep = np.sort(np.random.default_rng(seed).choice(n_rows, max_samples, replace=False))
        X, y = X[keep], y[keep]
    score = _scorer(net, y, task, batch_size)
    baseline = score(X)
    # scikit-learn's scheme, for the same shuffles: one seed drawn for every column, and
    # per column one RandomState shuffling a row order again before each repeat.
    column_seed = np.random.RandomState(seed % 2**32).randint(np.iinfo(np.int32).max + 1)
    drops = np.empty((len(groups), n_repeats))
    X_shuffled = X.copy()
    for i, (_, columns) in enumerate(groups):
        cols = np.asarray(columns, dtype=np.intp)
        rs = np.random.RandomState(column_seed)
        order = np.arange(len(X))
        for r in range(n_repeats):
            rs.shuffle(order)
            X_shuffled[:, cols] = X_shuffled[np.ix_(order, cols)]  # the column's rows move together
            drops[i, r] = baseline - score(X_shuffled)
        X_shuffled[:, cols] = X[:, cols]
    return Importance([name for name, _ in groups], drops, baseline, METRICS[task], seed,
                      len(X), n_rows)


def _checked(net: Any, X: Any, y: Any, task: str, groups: Groups | None,
             n_repeats: int) -> tuple[NDArray[Any], Groups]:
    """``X`` as an array and the groups, or a ValueError naming what is wrong."""
    if task not in METRICS:
        raise ValueError(f"task: expected one of {', '.join(METRICS)}, got {task!r}")
    if isinstance(n_repeats, bool) or not isinstance(n_repeats, (int, np.integer)) \
            or n_repeats < 1:
        raise ValueError(f"n_repeats: expected a positive integer, got {n_repeats!r}")
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != net.n_in or len(X) < 2:
        raise ValueError(f"X: expected shape (n_samples >= 2, {net.n_in}), got {X.shape}")
    if len(np.asarray(y)) != len(X):
        raise ValueError(f"y: expected {len(X)} rows (one per row of X), got {len(y)}")
    if groups is None:
        groups = [(f"x{j}", [j]) for j in range(X.shape[1])]
    bad = [name for name, cols in groups
           if not cols or min(cols) < 0 or max(cols) >= X.shape[1]]
    if bad:
        raise ValueError(f"groups: column {bad[0]!r} names no feature in 0..{X.shape[1] - 1}")
    return X, groups


def _scorer(net: Any, y: NDArray[Any], task: str, batch_size: int) -> Any:
    """A function of the features: the model's score on them against ``y``."""
    def score(X: NDArray[Any]) -> float:
        with np.errstate(all="ignore"):  # an overflow is refused by predict, by rows
            A = np.asarray(net.predict(X, batch_size=batch_size))
        if task == "regression":
            return float(regression_metrics(y, A)["r2"])
        correct = np.asarray(net.classes_of(A)) == y
        if correct.ndim == 2:  # multi-label: a row counts when every label is right
            correct = correct.all(axis=1)
        return float(correct.mean())
    return score


__all__ = ["METRICS", "N_REPEATS", "Importance", "column_groups", "permutation_importance"]
