"""When an integer column unique per row is an identifier (a patient number, a row
number) rather than a measurement that happens to differ in every row (a price)."""

from __future__ import annotations

import re

import numpy as np
from numpy.typing import NDArray

#: A column name that reads as an identifier: ``id``, ``patient_id``, ``userId``,
#: ``id.code``, ``ID``.
ID_NAME = re.compile(r"(?i)(id|.*[_ .-]id|.*[a-z]Id|id[_ .-].*|.*ID)")
#: Fewer distinct values than this never make an identifier (too few rows to tell).
ID_MIN_ROWS = 10
#: A row number needs this many rows: below it, a short run of rising values is chance.
ROW_NUMBER_MIN_ROWS = 20
#: A row number rises with the row in at least this share of steps, over a range of at
#: most ROW_NUMBER_SPAN times the number of rows (a training split of ids 1 … N skips
#: about a third of them); or, in any order, spans at most ROW_NUMBER_DENSE times the rows.
ROW_NUMBER_RISING, ROW_NUMBER_SPAN, ROW_NUMBER_DENSE = 0.98, 3.0, 1.25
#: How the reasons :func:`identifier_reason` gives begin: the note of such a dropped column
#: says how to keep it (a patient number can carry signal: nwtco's ``seqno`` follows the
#: enrolment order, worth 2 points of accuracy to a model that reads it).
NUMBER_ID_REASONS = ("an identifier (a distinct integer", "a row number")


def identifier_reason(name: str, values: NDArray[np.float64],
                      lines: NDArray[np.int64] | None) -> str | None:
    """Why the column ``name`` is an identifier, or None for a measurement.

    ``values`` (shape (n,), no missing cells) are distinct; ``lines`` (shape (n,) or None)
    the rows' line numbers in the file, to put them in file order. An identifier is a
    column of distinct integers that is named like one (:data:`ID_NAME`), or that counts
    the rows: nearly consecutive and rising with the row (or densely consecutive in any
    order). Distinct prices or weights are neither: their range is far wider than the
    number of rows, and they do not rise with the row."""
    n = values.size
    if n < ID_MIN_ROWS or np.any(values != np.round(values)):
        return None
    if ID_NAME.fullmatch(name):
        return "an identifier (a distinct integer in every row, named like an ID)"
    if n < ROW_NUMBER_MIN_ROWS:
        return None
    ordered = values[np.argsort(lines, kind="stable")] if lines is not None else values
    span = float(ordered.max() - ordered.min())
    rising = float(np.mean(np.diff(ordered) > 0))
    if ((rising >= ROW_NUMBER_RISING and span <= ROW_NUMBER_SPAN * (n - 1))
            or span <= ROW_NUMBER_DENSE * (n - 1)):
        return ("a row number (a distinct integer in every row, nearly consecutive"
                + (", rising with the row)" if rising >= ROW_NUMBER_RISING else ")"))
    return None
