"""Numbers a network's dtype can hold, and text fit for a one-line message.

A cell is accepted when its magnitude is at most half the dtype's largest finite value
(:func:`largest`): 1.7e38 for float32, 9.0e307 for float64. Half, so that centering a
feature (x − mean, both within the limit) cannot overflow either. A larger cell is refused
where it is encoded, naming its row and column (:func:`check_range`), never cast to
``inf`` for a later check to find without a place.

Standardizing such a column can still overflow in float64 (the variance of values near
1e300 is past 1e600): :func:`standard_stats` scales those columns by their largest
magnitude first, so every column in range gets a finite mean and spread.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

# A cell's text as a message shows it: quoted, control characters and line breaks escaped
# (``repr``), cut to SHOWN_CHARS characters with ``… (N characters)``.
from ..io.safetext import quoted as shown

#: Text longer than this is cut (with ``…``) in messages.
SHOWN_CHARS = 40


def largest(dtype: DTypeLike) -> float:
    """The largest magnitude accepted for ``dtype``: half its largest finite value."""
    return _half_max(np.dtype(dtype))


@functools.lru_cache(maxsize=16)
def _half_max(dt: np.dtype[Any]) -> float:
    return float(np.finfo(dt).max) / 2


def range_advice(dtype: DTypeLike) -> str:
    """What is accepted, as a message says it."""
    dt = np.dtype(dtype)
    accepted = f"accepted: up to ±{largest(dt):.2g}"
    if dt != np.float64:
        accepted += f"; dtype float64 (--dtype float64) accepts up to ±{largest(np.float64):.2g}"
    return accepted


def first_out_of_range(values: NDArray[np.float64], dtype: DTypeLike) -> int | None:
    """The index of the first value (NaN ignored) beyond :func:`largest`, or None."""
    limit = largest(dtype)
    if values.size == 0 or (np.fmax.reduce(values) <= limit
                            and np.fmin.reduce(values) >= -limit):
        return None  # the common case, two reductions (a table may have 100,000 columns)
    with np.errstate(invalid="ignore"):
        bad = np.abs(values) > largest(dtype)
    if not bad.any():
        return None
    return int(np.flatnonzero(bad)[0])


def row_name(i: int, lines: NDArray[np.int64] | None) -> str:
    """Row ``i`` of a table as a message names it: the file's line (``row 7``) where the
    table came from a file, else ``row index 6`` (0-based, as in a DataFrame)."""
    return f"row {int(lines[i])}" if lines is not None else f"row index {i}"


def standard_stats(X: NDArray[np.floating], names: Sequence[str]
                   ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Mean and spread (1 where a column is constant) of each column of ``X``, in
    float64: NumPy's own where they are finite (so ordinary data gets exactly what
    :meth:`~chainrule.scaler.Standardizer.fit` gives), else computed on the column
    divided by its largest magnitude and scaled back. A column still not finite (it holds
    ``inf`` or NaN) raises ``ValueError`` naming it."""
    X64 = np.asarray(X, dtype=np.float64)
    with np.errstate(all="ignore"):
        mean, std = X64.mean(axis=0), X64.std(axis=0)
        redo = np.flatnonzero(~(np.isfinite(mean) & np.isfinite(std)))
        for j in redo.tolist():
            big = float(np.max(np.abs(X64[:, j])))
            if not np.isfinite(big):
                name = names[j] if j < len(names) else f"x{j}"
                raise ValueError(f"column {name!r}: holds a number that is not finite; "
                                 "it cannot be standardized")
            unit = X64[:, j] / big
            mean[j], std[j] = big * unit.mean(), big * unit.std()
    return mean, np.where(std > 0, std, 1.0)


def describe(value: Any) -> str:
    """A number or a cell's text as a message shows it."""
    return shown(value) if isinstance(value, str) else shown(repr(float(value)))


#: Column names listed in a message before ``… and N more``.
LISTED_NAMES = 20


def name_list(names: Sequence[str], limit: int = LISTED_NAMES) -> str:
    """Column names joined with ``, `` as a one-line message lists them: a name with a
    control character or line break escaped (:func:`shown`), long lists cut."""
    out = [n if n.isprintable() and len(n) <= SHOWN_CHARS else shown(n) for n in names[:limit]]
    more = f", … and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(out) + more
