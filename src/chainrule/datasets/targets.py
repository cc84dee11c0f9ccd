"""What a target column is: the task it implies (classes or regression) and its class labels,
for every reader of user data (:mod:`.tabular` for CSV and Parquet, :mod:`.numpyfile` for
``.npz``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..table.columns import natural_key

#: At most this many distinct text target values are read as class labels without --task.
MAX_CLASSES = 50
#: A text target with more than MAX_CLASSES labels must have this many rows per label.
MIN_ROWS_PER_CLASS = 10
#: At most this many distinct integer target values are read as class labels; more mean
#: regression (a count or a measurement), unless --task classification says otherwise.
MAX_INTEGER_CLASSES = 20
#: Target cells that mean "no value": the row is dropped (and counted) rather than trained
#: on ``''`` as a class or refused as text in a numeric column. (``nan`` is a number, and a
#: numeric target must be finite: it is refused naming its row, like ``inf``.)
MISSING_TARGET = frozenset({"", "NA", "N/A", "null", "NULL", "None", "?"})


def first_non_finite(values: list[str]) -> int | None:
    """When every value is a number (a numeric target), the index of the first that is
    not finite (``inf``, ``nan``); None otherwise."""
    try:
        numbers = [float(v) for v in values]
    except ValueError:
        return None  # text labels: "inf" among them is just a label
    return next((i for i, v in enumerate(numbers) if not math.isfinite(v)), None)


def infer_numbers(numbers: NDArray[np.float64], max_classes: int = MAX_INTEGER_CLASSES
                   ) -> str:
    """:func:`infer_task` for a numeric target: classes only for integers with at most
    ``max_classes`` distinct values (in a CSV, miles per gallon or temperatures, 27–40
    distinct integers, are quantities to regress on, not classes; an ``.npz``'s ``y``, an
    array its author chose, keeps up to ``MAX_CLASSES``)."""
    if not np.all(np.isfinite(numbers)):
        return "regression"
    if np.all(numbers == np.round(numbers)) and np.unique(numbers).size <= max_classes:
        return "classification"
    return "regression"


def finite_numbers(values: list[str]) -> NDArray[np.float64] | None:
    """``values`` as finite numbers, or None if any is not one."""
    try:
        numbers = np.array([float(v) for v in values], dtype=np.float64)
    except ValueError:
        return None
    return numbers if np.all(np.isfinite(numbers)) else None


def task_decision(target: str, task: str, numbers: NDArray[np.float64] | None,
                   text: list[str] | None) -> str:
    """The line ``chainrule train`` prints for an inferred task, with the flag that
    overrides it."""
    if numbers is not None:
        distinct = int(np.unique(numbers).size)
        integer = bool(np.all(numbers == np.round(numbers)))
        what = (f"{distinct} distinct integer values" if integer else "non-integer numbers")
    else:
        assert text is not None
        what = f"text with {len(set(text))} distinct values"
    other = "regression" if task == "classification" else "classification"
    return f"target {target!r}: {what}, so {task} (override with --task {other})"


def infer_task(values: list[str]) -> str:
    """'classification' for text targets and for integer-valued ones with at most
    ``MAX_INTEGER_CLASSES`` distinct values, else 'regression'."""
    try:
        numbers = np.array([float(v) for v in values], dtype=np.float64)
    except ValueError:
        return "classification"
    return infer_numbers(numbers)


def labels_of_numbers(numbers: NDArray[np.float64]) -> tuple[NDArray[np.int64], list[Any]]:
    """Class indices and the sorted labels of finite numbers (ints when all are integers)."""
    uniq = np.unique(numbers)
    index = np.searchsorted(uniq, numbers).astype(np.int64)
    if np.all(uniq == np.round(uniq)):
        return index, [int(v) for v in uniq]
    return index, [float(v) for v in uniq]


def class_labels(values: list[str]) -> tuple[NDArray[np.int64], list[Any]]:
    """Class indices and the sorted labels (ints when every value is an integer)."""
    numbers = finite_numbers(values)
    if numbers is not None:
        return labels_of_numbers(numbers)
    classes = sorted(set(values), key=natural_key)
    index = {c: i for i, c in enumerate(classes)}
    return np.array([index[k] for k in values], dtype=np.int64), classes


def finite_or_nan(cell: str) -> float:
    try:
        v = float(cell)
    except ValueError:
        return float("nan")
    return v if math.isfinite(v) else float("nan")
