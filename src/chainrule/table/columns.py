"""A table of named columns — what a CSV file, a pandas DataFrame or a dict of columns
becomes before anything is learned from it.

Two kinds of column, both compact (8 bytes a number, 4 bytes a text cell):

- :class:`NumberColumn`: float64 values, NaN where a cell is missing;
- :class:`TextColumn`: int32 codes into a vocabulary of the distinct strings, -1 where a
  cell is missing.

Rows are selected with :meth:`Table.take`, so the training split is cut before a
:class:`~chainrule.table.TableEncoder` learns anything (no leakage into validation or test).
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .ranges import shown

#: Cells that mean "no value", in text and in number columns alike.
MISSING = frozenset({"", "NA", "N/A", "n/a", "na", "NaN", "nan", "null", "NULL", "None", "?",
                     "#N/A", "<NA>"})


@dataclass(frozen=True)
class NumberColumn:
    """Numbers; NaN marks a missing cell."""

    values: NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.values)

    def take(self, rows: NDArray[np.intp]) -> NumberColumn:
        return NumberColumn(self.values[rows])

    @property
    def missing(self) -> NDArray[np.bool_]:
        return np.isnan(self.values)


@dataclass(frozen=True)
class TextColumn:
    """Text cells as ``codes`` into ``vocab`` (-1: missing). ``vocab`` may hold strings
    no row uses any more (after :meth:`take`); :meth:`counts` says which."""

    codes: NDArray[np.int32]
    vocab: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.codes)

    def take(self, rows: NDArray[np.intp]) -> TextColumn:
        return TextColumn(self.codes[rows], self.vocab)

    @property
    def missing(self) -> NDArray[np.bool_]:
        return self.codes < 0

    def counts(self) -> NDArray[np.int64]:
        """How many rows hold each vocabulary entry."""
        return np.bincount(self.codes[self.codes >= 0], minlength=len(self.vocab))

    @classmethod
    def of(cls, cells: Iterable[object]) -> TextColumn:
        """Factorize any cells: None, NaN and :data:`MISSING` strings are missing, anything
        else is its ``str``."""
        index: dict[str, int] = {}
        codes = np.fromiter((_code(cell, index) for cell in cells), dtype=np.int32)
        return cls(codes, tuple(index))


def _code(cell: object, index: dict[str, int]) -> int:
    if cell is None or (isinstance(cell, float) and math.isnan(cell)):
        return -1
    text = number_label(cell) if isinstance(cell, numbers.Real) and not isinstance(
        cell, bool) else str(cell).strip()
    if text in MISSING:
        return -1
    return index.setdefault(text, len(index))


def natural_key(label: str) -> tuple[int, float, tuple[tuple[Any, ...], ...]]:
    """Sort key for labels as a person sorts them: numbers by value first (``9`` before
    ``10``, ``-1`` before ``2``), then text with its digit runs read as numbers
    (``grade 2`` before ``grade 10``); ``inf`` and ``nan`` are words here."""
    try:
        value = float(label)
    except ValueError:
        value = math.nan
    if math.isfinite(value):
        return (0, value, ())
    return (1, 0.0, tuple(_run_key(t, i % 2 == 1)
                          for i, t in enumerate(re.split(r"(\d+)", label)) if t))


def _run_key(run: str, digits: bool) -> tuple[Any, ...]:
    """A digit run compares by value — its length without leading zeros, then its digits
    (exact for any length, no int() of a 5,000-digit run) — before any text."""
    if not digits:
        return (1, run)
    value = run.lstrip("0")
    return (0, len(value), value)


def number_label(value: Any) -> str:
    """How a number reads as a category: ``3`` for 3.0, else the shortest repr."""
    v = float(value)
    return str(int(v)) if v.is_integer() and abs(v) < 2**53 else repr(v)


Column = NumberColumn | TextColumn


class TableError(ValueError):
    """A table that cannot be used (a column with infinite numbers, columns of different
    lengths, a missing column). The message names the column."""


class Table:
    """Named columns of equal length, in order.

    ``lines`` (optional) numbers each row as a text editor shows it in the file it came
    from, and ``source`` (optional) names that file, so messages can name a row in it.
    """

    def __init__(self, columns: Mapping[str, Column],
                 lines: NDArray[np.int64] | None = None, source: str | None = None) -> None:
        self.columns: dict[str, Column] = dict(columns)
        lengths = {len(c) for c in self.columns.values()}
        if len(lengths) > 1:
            raise TableError(f"columns of different lengths: {sorted(lengths)}")
        self.n_rows = lengths.pop() if lengths else 0
        self.lines = lines
        self.source = source

    @property
    def names(self) -> list[str]:
        return list(self.columns)

    def __len__(self) -> int:
        return self.n_rows

    def __getitem__(self, name: str) -> Column:
        return self.columns[name]

    def __repr__(self) -> str:
        kinds = ", ".join(f"{n}: {'number' if isinstance(c, NumberColumn) else 'text'}"
                          for n, c in self.columns.items())
        return f"Table({self.n_rows} rows; {kinds})"

    def take(self, rows: ArrayLike) -> Table:
        """The rows ``rows`` (indices), every column."""
        idx = np.asarray(rows, dtype=np.intp)
        return Table({n: c.take(idx) for n, c in self.columns.items()},
                     None if self.lines is None else self.lines[idx], self.source)

    def select(self, names: Sequence[str]) -> Table:
        """The columns ``names``, in that order."""
        return Table({n: self.columns[n] for n in names}, self.lines, self.source)

    @classmethod
    def of(cls, data: Any) -> Table:
        """A table from a :class:`Table`, a pandas DataFrame or a mapping of column name →
        sequence. Real numbers (not booleans) make a :class:`NumberColumn`; any other
        column (text, booleans, categories, dates, numbers mixed with text) a
        :class:`TextColumn`. Raises :class:`TableError` for an infinite number."""
        if isinstance(data, Table):
            return data
        if hasattr(data, "columns") and hasattr(data, "__getitem__") and hasattr(data, "dtypes"):
            items = [(str(name), data[name]) for name in data.columns]
            if len({n for n, _ in items}) != len(items):
                raise TableError("duplicate column names in the DataFrame: "
                                 f"{', '.join(map(shown, _duplicates([n for n, _ in items])))}")
        elif isinstance(data, Mapping):
            items = [(str(name), values) for name, values in data.items()]
        else:
            raise TableError(f"expected a DataFrame or a mapping of column name to values, "
                             f"got {type(data).__name__}")
        return cls({name: column_of(name, values) for name, values in items})


def is_table(data: object) -> bool:
    """Whether ``data`` is a table of named columns (a :class:`Table`, a pandas DataFrame,
    a mapping), not an array."""
    return isinstance(data, (Table, Mapping)) or (
        hasattr(data, "columns") and hasattr(data, "dtypes") and hasattr(data, "iloc"))


def _duplicates(names: list[str]) -> list[str]:
    seen: set[str] = set()
    return sorted({n for n in names if n in seen or seen.add(n)})  # type: ignore[func-returns-value]


def column_of(name: str, values: Any) -> Column:
    """One column from array-like ``values`` (a pandas Series, a NumPy array, a list)."""
    dtype = getattr(values, "dtype", None)
    kind = getattr(dtype, "kind", None)
    if kind in ("f", "i", "u"):
        with np.errstate(over="ignore"):  # a long double beyond float64: refused below
            arr = np.asarray(values, dtype=np.float64)
        if kind == "f" and isinstance(dtype, np.dtype) and dtype.itemsize > 8:
            wide = np.asarray(values).reshape(-1)
            big = np.flatnonzero(np.isinf(arr.reshape(-1)) & np.isfinite(wide))
            if big.size:
                raise TableError(f"row index {big[0]}, column {name!r}: {shown(str(wide[big[0]]))}"
                                 " is too large for a float64 number (at most "
                                 f"±{np.finfo(np.float64).max:.2g})")
        return _finite(name, arr)
    if kind == "M":  # datetime64: ISO text, which the encoder parses into parts
        return TextColumn.of(None if v is None or v != v else str(v)
                             for v in _as_list(values))
    cells = _as_list(values)
    if kind not in ("b", "O", "U", "S") and all(
            isinstance(c, numbers.Real) and not isinstance(c, bool) for c in cells):
        return _finite(name, _floats(name, cells))
    if kind is None and cells and all(isinstance(c, numbers.Real) and not isinstance(c, bool)
                                      or c is None for c in cells):
        return _finite(name, _floats(name, cells))
    try:
        return TextColumn.of(cells)
    except OverflowError:  # a number past float64 (a Python int of 400 digits) as a label
        _floats(name, [c if isinstance(c, numbers.Real) and not isinstance(c, bool) else None
                       for c in cells])
        raise


def _floats(name: str, cells: list[Any]) -> NDArray[np.float64]:
    """Real numbers (None: missing) as float64; one too large for it (a Python int of
    400 digits) is refused naming its row."""
    out = np.empty(len(cells))
    for i, c in enumerate(cells):
        try:
            out[i] = np.nan if c is None else float(c)
        except OverflowError:
            raise TableError(f"row index {i}, column {name!r}: {shown(str(c))} is too large "
                             f"for a float64 number (at most ±{np.finfo(np.float64).max:.2g})"
                             ) from None
    return out


def _as_list(values: Any) -> list[Any]:
    if hasattr(values, "tolist"):
        out = values.tolist()
        return out if isinstance(out, list) else [out]
    return list(values)


def _finite(name: str, arr: NDArray[np.float64]) -> NumberColumn:
    if arr.ndim != 1:
        raise TableError(f"column {name!r}: expected one value per row, got shape {arr.shape}")
    bad = np.isinf(arr)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise TableError(f"row index {i}, column {name!r}: {arr[i]} is not a finite number")
    return NumberColumn(arr)


#: Header cells that name no column: R's ``write.csv`` row names (``""``) and what pandas
#: calls such a column when it reads the file and writes it again (``Unnamed: 0``).
_UNNAMED = re.compile(r"(Unnamed: \d+)?")


def is_unnamed(name: str) -> bool:
    return _UNNAMED.fullmatch(name.strip()) is not None


def drop_row_index(table: Table, keep: Sequence[str], notes: list[str]) -> Table:
    """``table`` without its row-index columns, each named in ``notes`` with the reason: a
    column with no name (R's and pandas' row names), and a first column that counts 0, 1,
    2, … or 1, 2, 3, … down the rows (on a table sorted by its label it would leak the
    label). Must see the rows in their original order. A counter that is the only other
    column is kept, with a note; columns in ``keep`` (the target) are never dropped."""
    names = table.names
    kept = [n for n in names if n in keep or not is_unnamed(n)]
    for i, n in enumerate(names):
        if n not in keep and is_unnamed(n):
            notes.append(f"dropped column {i + 1} ({n!r}): an unnamed column is a row "
                         "index (R's and pandas' row names), not a feature")
    features = [n for n in kept if n not in keep]
    if features and features[0] == names[0] and _counts_rows(table[names[0]]):
        first = table[names[0]]
        assert isinstance(first, NumberColumn)
        start = int(first.values[0])
        counts = f"column {names[0]!r} counts the rows ({start}, {start + 1}, … down the file)"
        if len(features) == 1:
            notes.append(f"{counts}, like a row index; kept because it is the only feature")
        else:
            notes.append(f"dropped {counts}: a row index, not a feature")
            kept.remove(names[0])
    return table.select(kept) if kept != names else table


def _counts_rows(column: Column) -> bool:
    if not isinstance(column, NumberColumn) or len(column) < 3:
        return False
    v = column.values
    return bool(v[0] in (0.0, 1.0) and np.array_equal(v - v[0], np.arange(len(v),
                                                                           dtype=np.float64)))
