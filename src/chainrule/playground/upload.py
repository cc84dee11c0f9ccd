"""A small 2-D CSV from the page: ``x1,x2,label`` rows to train on instead of a synthetic set.

The text arrives over the socket, so it is checked here before anything is built: at
most ``LIMITS["max_upload_bytes"]`` (64 KiB) and ``LIMITS["max_samples"]`` rows, three
cells a row, finite numbers for x1 and x2 no larger in size than
``LIMITS["max_abs_coordinate"]`` (10⁶: the plane the page draws, its grid and the first
forward pass all stay finite), a label of 0 or 1, and both labels present. A first row
that is not numbers is the header. Every error is a
:class:`~chainrule.datasets.DataFileError` naming the file, the row (counted as a text
editor counts lines) and the column.
"""

from __future__ import annotations

import csv
import math

import numpy as np
from numpy.typing import NDArray

from ..datasets.csvfile import DataFileError, _delimiter
from .config import LIMITS

COLUMNS = ("x1", "x2", "label")


def _number(cell: str) -> float | None:
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_points(text: object, name: object = "upload.csv"
                 ) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """(X of shape (n, 2), labels of shape (n,)) from CSV text; see the module docstring."""
    source = name if isinstance(name, str) and 0 < len(name) <= 200 else "upload.csv"
    if not isinstance(text, str):
        raise DataFileError(source, f"expected the CSV as text, got {type(text).__name__}")
    size, limit = len(text.encode("utf-8")), LIMITS["max_upload_bytes"]
    if size > limit:
        raise DataFileError(source, f"{size} bytes is over the limit of {limit} bytes")
    lines = text.splitlines()
    first = next((line for line in lines if line.strip()), None)
    if first is None:
        raise DataFileError(source, "the file is empty; expected rows of x1,x2,label")
    rows = [(i, row) for i, row in enumerate(csv.reader(lines, delimiter=_delimiter(first)),
                                              start=1) if any(c.strip() for c in row)]
    header = list(COLUMNS)
    if rows and all(_number(c) is None for c in rows[0][1]):
        header = [c.strip() or COLUMNS[k] for k, c in enumerate(rows[0][1][:3])] + header[
            len(rows[0][1][:3]):]
        if len(rows[0][1]) != 3:
            raise DataFileError(source, f"the header has {len(rows[0][1])} columns "
                                f"({', '.join(rows[0][1])}); expected 3: x1, x2, label",
                                "row 1")
        rows = rows[1:]
    lo, hi = LIMITS["min_samples"], LIMITS["max_samples"]
    if not lo <= len(rows) <= hi:
        raise DataFileError(source, f"{len(rows)} data rows; expected {lo} … {hi}")
    X = np.empty((len(rows), 2))
    labels = np.empty(len(rows), dtype=np.int64)
    for n, (lineno, row) in enumerate(rows):
        if len(row) != 3:
            raise DataFileError(source, f"{len(row)} cells; expected 3 ({', '.join(header)})",
                                f"row {lineno}")
        for col in (0, 1):
            value = _number(row[col].strip())
            place = f"row {lineno}, column {col + 1} ({header[col]!r})"
            if value is None:
                raise DataFileError(source, f"{row[col].strip()[:40]!r} is not a finite number",
                                    place)
            if abs(value) > LIMITS["max_abs_coordinate"]:
                raise DataFileError(source, f"{row[col].strip()[:40]} is too large: the page "
                                    f"draws points within ±{LIMITS['max_abs_coordinate']:g}; "
                                    "scale the column", place)
            X[n, col] = value
        label = row[2].strip()
        if label not in ("0", "1", "0.0", "1.0"):
            raise DataFileError(source, f"label {label[:40]!r}: expected 0 or 1",
                                f"row {lineno}, column 3 ({header[2]!r})")
        labels[n] = int(float(label))
    for wanted in (0, 1):
        if not np.any(labels == wanted):
            raise DataFileError(source, f"no row has label {wanted}; both classes 0 and 1 "
                                "are needed", f"column 3 ({header[2]!r})")
    return X, labels
