"""Columns that give the answer away: a likely leak, said before training.

A column (or the pattern of its missing cells) that predicts the target almost perfectly on
the training rows is more often a leak than a gift: a cause-of-death column that is empty
exactly when the patient is alive gave accuracy 1.000 without a word (issue 27). The test
is one a reader can redo by hand: group the training rows by the column's value (numbers
in :data:`BINS` quantile bins; the missing cells a group of their own) and predict each
row by its group — the group's most common class, or its mean. A column whose groups
predict the target at least as well as :data:`LEAK_ACCURACY` / :data:`LEAK_R2` is named;
so is a column whose missing cells alone do, and (regression) a number column in the
target's order (a squared rank correlation of :data:`LEAK_R2`). Columns with too few rows
per group (an identifier "predicts" every row it has seen) are not judged by groups.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .columns import NumberColumn, Table

#: Accuracy of the column's groups, classification; the most common class alone must be
#: below it by at least :data:`LEAK_GAIN` of the error it leaves.
LEAK_ACCURACY = 0.99
LEAK_GAIN = 0.8
#: Share of the target's variance explained by the column's groups, regression.
LEAK_R2 = 0.99
#: Quantile bins for a number column of more distinct values than this.
BINS = 20
#: A column's groups must hold this many training rows on average to be judged.
MIN_ROWS_PER_GROUP = 20


def likely_leaks(data: Any, y: ArrayLike, task: str, *, target: str = "the target"
                 ) -> list[str]:
    """One line per column of ``data`` (the training rows: a :class:`Table`, DataFrame or
    dict of columns) that predicts ``y`` (shape (n,), the training rows' target) almost
    perfectly, by its values or by where its cells are missing; ``task`` is
    ``"classification"`` or ``"regression"``. Empty when nothing looks leaked."""
    table = Table.of(data)
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(table):
        raise ValueError(f"y: expected shape ({len(table)},) (one target per row), got "
                         f"{y.shape}")
    if task not in ("classification", "regression"):
        raise ValueError(f"task: expected 'classification' or 'regression', got {task!r}")
    fit = _classes_fit(y) if task == "classification" else _variance_fit(y)
    if fit is None:
        return []
    lines = []
    for name, col in table.columns.items():
        miss = col.missing
        if 0 < miss.sum() < len(miss) and (said := fit(miss.astype(np.intp))):
            lines.append(f"column {name!r}: whether a cell is missing {said}: a likely "
                         f"leak of {target} (is the column filled in only after the "
                         f"outcome?); --drop {name} if so")
        elif ((groups := _groups(col)) is not None and (said := fit(groups))) or (
                task == "regression" and (said := _in_order(col, y))):
            lines.append(f"column {name!r}: its value {said}: a likely leak of {target} "
                         f"(is it known only after the outcome?); --drop {name} if so")
    return lines


def _ranks(v: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.argsort(np.argsort(v, kind="stable"), kind="stable").astype(np.float64)


def _in_order(col: Any, y: NDArray[Any]) -> str | None:
    """A number column whose order is the target's (squared rank correlation at least
    :data:`LEAK_R2`): a rescaled copy of the target, which :data:`BINS` bins would blur."""
    if not isinstance(col, NumberColumn):
        return None
    ok = ~col.missing
    if ok.sum() < MIN_ROWS_PER_GROUP:
        return None
    r = np.corrcoef(_ranks(col.values[ok]), _ranks(y[ok].astype(np.float64)))[0, 1]
    if r * r >= LEAK_R2:
        return f"is in the target's order (rank correlation {r:.3f})"
    return None


def _groups(col: Any) -> NDArray[np.intp] | None:
    """Each row's group (0 … k−1, missing cells the last) or None when the groups would
    hold fewer than :data:`MIN_ROWS_PER_GROUP` rows on average."""
    miss = col.missing
    if isinstance(col, NumberColumn):
        v = col.values
        uniq = np.unique(v[~miss])
        if uniq.size > BINS:
            uniq = np.unique(np.quantile(v[~miss], np.linspace(0, 1, BINS + 1))[1:-1])
            codes = np.searchsorted(uniq, v, side="right")
        else:
            codes = np.searchsorted(uniq, v)
        codes = np.where(miss, -1, codes)
    else:
        codes = col.codes.astype(np.intp)
    groups = np.unique(codes, return_inverse=True)[1].reshape(-1)
    k = int(groups.max()) + 1
    return groups if k >= 2 and len(groups) >= MIN_ROWS_PER_GROUP * k else None


def _classes_fit(y: NDArray[Any]) -> Any:
    labels = np.unique(y.astype(str), return_inverse=True)[1].reshape(-1)
    n, n_classes = len(labels), int(labels.max()) + 1
    baseline = np.bincount(labels).max() / n
    if baseline >= LEAK_ACCURACY:
        return None  # one class nearly everywhere: nothing to leak

    def fit(groups: NDArray[np.intp]) -> str | None:
        k = int(groups.max()) + 1
        counts = np.bincount(groups * n_classes + labels, minlength=k * n_classes)
        accuracy = counts.reshape(k, n_classes).max(axis=1).sum() / n
        if accuracy >= LEAK_ACCURACY and 1 - accuracy <= (1 - LEAK_GAIN) * (1 - baseline):
            return (f"predicts the class of {100 * accuracy:.1f}% of the training rows (the "
                    f"most common class alone: {100 * baseline:.1f}%)")
        return None

    return fit


def _variance_fit(y: NDArray[Any]) -> Any:
    y = y.astype(np.float64)
    total = float(np.sum((y - y.mean()) ** 2))
    if not total > 0:
        return None

    def fit(groups: NDArray[np.intp]) -> str | None:
        counts = np.bincount(groups)
        means = np.bincount(groups, weights=y) / np.maximum(counts, 1)
        r2 = 1 - float(np.sum((y - means[groups]) ** 2)) / total
        if r2 >= LEAK_R2:
            return f"explains {100 * r2:.1f}% of the target's variance on the training rows"
        return None

    return fit
