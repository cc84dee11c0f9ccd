"""The fast path of :func:`~chainrule.datasets.csvfile.read_csv_table`: pandas' C parser
(the ``tables`` extra), used only where it reads the file exactly as the streaming reader
would, else None and the streaming reader reads it.

Exactly, because the file is checked first, in blocks of bytes (:func:`plain_lines`): no
quote character, no NUL, no bare carriage return, no line longer than the ``csv``
module's field limit, and every line has the header's number of delimiters — so each line
is one row, a text editor's line numbers are 2, 3, … and no row is ragged or blank. Then
pandas only splits the lines and reads the numbers it can; every column it reads as text
(or as booleans, whose spelling it loses: read again as text) is decided on its distinct
strings by the streaming reader's own rules (:func:`~chainrule.datasets.csvfile._as_numbers`,
stripping, :data:`~chainrule.table.MISSING`), so a column is numbers, or text with the same
vocabulary in the same order, whichever reader read it.
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..table.columns import MISSING, NumberColumn, TextColumn
from .csvfile import _as_numbers

#: Bytes scanned at a time (cut at the last line break in each).
BLOCK = 1 << 22
_QUOTE, _NUL, _CR, _LF = b'"', b"\0", b"\r", b"\n"


def plain_lines(path: Path, delimiter: str, width: int) -> int | None:
    """The number of lines (the header's included) when every line is a plain row of
    ``width`` cells (see the module docstring); None otherwise."""
    sep = delimiter.encode("ascii")[0]
    limit = csv.field_size_limit()
    lines = 0
    tail = b""
    with open(path, "rb") as fh:
        while True:
            block = fh.read(BLOCK)
            data = tail + block
            if not block:  # the last line, which may lack its line break
                if data:
                    data += _LF
                elif lines == 0:
                    return None
            cut = data.rfind(_LF) + 1
            if cut == 0:
                if not block:
                    return lines
                if len(data) > limit:
                    return None
                tail = data
                continue
            whole, tail = data[:cut], data[cut:]
            if (_QUOTE in whole or _NUL in whole
                    or whole.count(_CR) != whole.count(_CR + _LF)):
                return None
            arr = np.frombuffer(whole, dtype=np.uint8)
            ends = np.flatnonzero(arr == 10)
            seps = np.flatnonzero(arr == sep)
            per_line = np.diff(np.searchsorted(seps, ends), prepend=0)
            starts = np.concatenate(([0], ends[:-1] + 1))
            if np.any(per_line != width - 1) or np.max(ends - starts) > limit:
                return None
            lines += len(ends)
            if not block:
                return lines


def read_fast(path: Path, delimiter: str, header: list[str], chosen: list[int]
              ) -> dict[int, NumberColumn | TextColumn] | None:
    """Columns ``chosen`` (by index) of a UTF-8 CSV whose lines are all plain rows of the
    header's width, read by pandas; None where pandas is not installed, the file is not
    plain (or has no data rows) or pandas refuses it — the streaming reader then decides."""
    try:
        import pandas as pd
    except ImportError:
        return None
    width = len(header)
    if width < 2:  # one column: a blank line and an empty cell look alike
        return None
    lines = plain_lines(path, delimiter, width)
    if lines is None or lines < 2:
        return None
    options: dict[str, Any] = dict(sep=delimiter, header=0, index_col=False,
                                   encoding="utf-8-sig", na_values=sorted(MISSING),
                                   keep_default_na=False)
    if tuple(int(p) for p in pd.__version__.split(".")[:2]) < (3, 1):
        options["float_precision"] = "round_trip"  # pandas 3.1+ parses exactly in any mode
    try:
        with warnings.catch_warnings():  # e.g. DtypeWarning: mixed chunks are read again
            warnings.simplefilter("ignore")
            frame = pd.read_csv(path, **options)
            if frame.shape != (lines - 1, width):
                return None
            out: dict[int, NumberColumn | TextColumn] = {}
            again = []
            for i in chosen:
                cells = frame.iloc[:, i]
                kind = cells.dtype.kind
                if kind in "iuf":
                    out[i] = NumberColumn(cells.to_numpy(dtype=np.float64, copy=True))
                elif pd.api.types.infer_dtype(cells, skipna=True) in ("string", "empty"):
                    out[i] = from_text(pd, cells, delimiter == ";")
                else:  # booleans (True/true/TRUE, spelling lost), or types mixed by chunks
                    again.append(i)
            del frame
            if again:
                frame = pd.read_csv(path, usecols=again, dtype=str, **options)
                for k, i in enumerate(sorted(again)):  # usecols: in file order
                    out[i] = from_text(pd, frame.iloc[:, k], delimiter == ";")
    except Exception:  # noqa: BLE001  whatever pandas refuses, the streaming reader explains
        return None
    return {i: out[i] for i in chosen}


def from_text(pd: Any, cells: Any, decimal_comma: bool) -> NumberColumn | TextColumn:
    """A column pandas read as text (missing cells as NaN), decided on its distinct
    strings as the streaming reader decides on its cells: numbers when every one is a
    number (or missing), else codes into the stripped strings in order of appearance."""
    codes, uniques = pd.factorize(cells, use_na_sentinel=True)
    raw = [str(u) for u in uniques]
    numbers = _as_numbers(raw, decimal_comma)
    if numbers is not None:
        return NumberColumn(np.append(numbers, np.nan)[codes])
    index: dict[str, int] = {}
    remap: NDArray[np.int32] = np.array(
        [-1 if (s := u.strip()) in MISSING else index.setdefault(s, len(index)) for u in raw]
        + [-1], dtype=np.int32)
    return TextColumn(remap[codes], tuple(index))
