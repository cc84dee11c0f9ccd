"""The table encoder: named columns of numbers and text in, a^(0)'s features out.

What a careful data scientist does to a table before an MLP sees it, decided per column on
the training split only (:meth:`TableEncoder.fit`) and replayed on any later table
(:meth:`TableEncoder.transform`), columns matched by name:

- numbers: missing cells filled with the training median, plus a 0/1 missing-indicator
  feature where training had any (standardized afterwards by the network's scaler,
  :meth:`TableEncoder.standardizer`: numbers only, 0/1 features left as they are);
- text, booleans, categories: one-hot over the training categories (natural order);
  missing is its own category; categories in fewer than ``min_frequency`` training rows
  pooled into ``(rare)``; a category never seen in training is all zeros (counted, never
  an error);
- numbers written as text (``"1,234"``, ``"12%"``) are read as numbers; ISO dates become
  year, month, day, weekday (and hour) numbers;
- dropped, each with its reason: columns with every cell missing, constant columns,
  identifiers (text unique per row, or integers unique per row in a column named like an
  ID), free text with mostly distinct values, and those the caller names in ``drop``.

Each column's decision is one small object (:class:`Numeric`, :class:`OneHot`,
:class:`DateParts`, :class:`Dropped`) holding exactly the state it needs, saved in the
model file by :meth:`TableEncoder.to_dict`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from numpy.typing import DTypeLike, NDArray

from .columns import (
    Column,
    NumberColumn,
    Table,
    TableError,
    TextColumn,
    natural_key,
    number_label,
)
from .parse import DATE_PARTS, date_parts, has_time, is_dates, numbers_as_text, text_numbers
from .ranges import (
    describe,
    first_out_of_range,
    largest,
    name_list,
    range_advice,
    row_name,
    standard_stats,
)
from .scaler import Standardizer

#: Categories in fewer training rows than this are pooled into ``(rare)``.
MIN_FREQUENCY = 5
#: A column with more categories than this (after pooling) is refused: one-hot would make
#: that many features. Drop it, or raise ``max_categories``.
MAX_CATEGORIES = 200
#: Text with more distinct values than this share of its rows (and more than
#: ``_FREE_TEXT_MIN`` of them) is free text, not categories.
FREE_TEXT_SHARE = 0.5
_FREE_TEXT_MIN = 20
RARE, MISSING_CATEGORY = "(rare)", "(missing)"
_ID_NAME = re.compile(r"(?i)(id|.*[_ .-]id|.*[a-z]Id|id[_ .-].*|.*ID)")


def _labels(col: Column) -> tuple[NDArray[np.int32], list[str]]:
    """Codes and category labels of any column (numbers become labels like ``3``)."""
    if isinstance(col, TextColumn):
        return col.codes, list(col.vocab)
    v = col.values
    ok = ~np.isnan(v)
    uniq, inverse = np.unique(v[ok], return_inverse=True)
    codes = np.full(len(v), -1, dtype=np.int32)
    codes[ok] = inverse
    return codes, [number_label(u) for u in uniq]


def _distinct(col: Column, miss: NDArray[np.bool_]) -> int:
    """How many distinct values the non-missing cells hold (no labels made: a column of a
    million distinct numbers costs one sort)."""
    if isinstance(col, TextColumn):
        return int(np.count_nonzero(col.counts()))
    return int(np.unique(col.values[~miss]).size)


def _numbers(col: Column) -> tuple[NDArray[np.float64], int]:
    """Any column as numbers (text parsed as ``"1,234"``-style numbers), and how many
    non-missing cells could not be read as one (they become missing)."""
    if isinstance(col, NumberColumn):
        return col.values, 0
    table = text_numbers(col.vocab)
    values = np.where(col.codes >= 0, table[np.maximum(col.codes, 0)], np.nan)
    unread = int(np.count_nonzero(np.isnan(values) & (col.codes >= 0)))
    return values, unread


@dataclass
class Numeric:
    """A number feature, the training median filling missing cells; with ``indicator``,
    a second feature is 1 where the cell was missing. (Standardizing is the network's
    :class:`~chainrule.scaler.Standardizer`, from :meth:`TableEncoder.standardizer`.)"""

    column: str
    median: float
    indicator: bool
    kind: ClassVar[str] = "numeric"

    @classmethod
    def fit(cls, column: str, values: NDArray[np.float64]) -> Numeric:
        miss = np.isnan(values)
        return cls(column, float(np.median(values[~miss])), bool(miss.any()))

    @property
    def names(self) -> list[str]:
        return [self.column] + ([f"{self.column} (missing)"] if self.indicator else [])

    @property
    def scaled(self) -> list[bool]:
        return [True] + ([False] if self.indicator else [])

    def encode_values(self, values: NDArray[np.float64], out: NDArray[np.floating]) -> int:
        miss = np.isnan(values)
        out[:, 0] = np.where(miss, self.median, values)
        if self.indicator:
            out[:, 1] = miss
        return int(miss.sum()) if not self.indicator else 0

    def encode(self, col: Column, out: NDArray[np.floating]) -> int:
        values, unread = _numbers(col)
        return self.encode_values(values, out) + unread * self.indicator

    def state(self) -> dict[str, Any]:
        return {"median": self.median, "indicator": self.indicator}


@dataclass
class OneHot:
    """A category feature per training category (``categories``), one for ``(rare)``
    when ``rare`` pooled some, one for ``(missing)`` when training had missing cells. A
    category never seen is all zeros."""

    column: str
    categories: list[str]
    rare: list[str] = field(default_factory=list)
    missing: bool = False
    kind: ClassVar[str] = "onehot"

    @classmethod
    def fit(cls, column: str, col: Column, min_frequency: int) -> OneHot:
        codes, labels = _labels(col)
        counts = np.bincount(codes[codes >= 0], minlength=len(labels))
        used = [i for i in range(len(labels)) if counts[i] > 0]
        common = [labels[i] for i in used if counts[i] >= min_frequency]
        rare = [labels[i] for i in used if counts[i] < min_frequency]
        if len(rare) == 1 or not common:  # a pool of one, or of everything, says nothing
            common, rare = common + rare, []
        return cls(column, sorted(common, key=natural_key), sorted(rare, key=natural_key),
                   bool((codes < 0).any()))

    @property
    def names(self) -> list[str]:
        extra = ([RARE] if self.rare else []) + ([MISSING_CATEGORY] if self.missing else [])
        return [f"{self.column}={c}" for c in [*self.categories, *extra]]

    @property
    def scaled(self) -> list[bool]:
        return [False] * len(self.names)

    def encode(self, col: Column, out: NDArray[np.floating]) -> int:
        codes, labels = _labels(col)
        position = {c: i for i, c in enumerate(self.categories)}
        pooled = len(self.categories)
        position.update({c: pooled for c in self.rare})
        missing_at = pooled + bool(self.rare) if self.missing else -1
        lookup = np.array([position.get(c, -1) for c in labels] + [missing_at], dtype=np.intp)
        where = lookup[codes]  # code -1 (missing) picks the last entry
        rows = np.flatnonzero(where >= 0)
        out[rows, where[rows]] = 1.0
        return int(len(codes) - len(rows))

    def state(self) -> dict[str, Any]:
        return {"categories": self.categories, "rare": self.rare, "missing": self.missing}


@dataclass
class DateParts:
    """ISO dates as numbers: one :class:`Numeric` per part (year, month, day, weekday, and
    hour where training had times); with ``indicator``, one more feature is 1 where the
    date was missing."""

    column: str
    parts: list[Numeric]
    indicator: bool = False
    kind: ClassVar[str] = "date"

    @classmethod
    def fit(cls, column: str, col: TextColumn) -> DateParts:
        used = [v for v, n in zip(col.vocab, col.counts(), strict=True) if n]
        names = [p for p in DATE_PARTS if p != "hour" or has_time(used)]
        values = cls._values(col, names)
        parts = [Numeric(f"{column}.{p}", float(np.nanmedian(values[:, j])), False)
                 for j, p in enumerate(names)]
        return cls(column, parts, bool(col.missing.any()))

    @staticmethod
    def _values(col: Column, parts: Sequence[str]) -> NDArray[np.float64]:
        codes, labels = _labels(col)
        table = np.vstack([date_parts(labels, parts), np.full((1, len(parts)), np.nan)])
        return table[codes]

    @property
    def part_names(self) -> list[str]:
        return [p.column.rsplit(".", 1)[1] for p in self.parts]

    @property
    def names(self) -> list[str]:
        return [p.column for p in self.parts] + (
            [f"{self.column} (missing)"] if self.indicator else [])

    @property
    def scaled(self) -> list[bool]:
        return [True] * len(self.parts) + ([False] if self.indicator else [])

    def encode(self, col: Column, out: NDArray[np.floating]) -> int:
        values = self._values(col, self.part_names)
        miss = np.isnan(values).any(axis=1)
        for k, part in enumerate(self.parts):
            part.encode_values(values[:, k], out[:, k:k + 1])
        if self.indicator:
            out[:, len(self.parts)] = miss
        return 0 if self.indicator else int(miss.sum())

    def state(self) -> dict[str, Any]:
        return {"indicator": self.indicator,
                "parts": {name: p.state() for name, p in zip(self.part_names, self.parts,
                                                             strict=True)}}


@dataclass
class Dropped:
    """A column that carries no signal or would leak: no features, and the reason."""

    column: str
    reason: str
    kind: ClassVar[str] = "dropped"
    names: ClassVar[list[str]] = []
    scaled: ClassVar[list[bool]] = []

    def encode(self, col: Column, out: NDArray[np.floating]) -> int:
        return 0

    def state(self) -> dict[str, Any]:
        return {"reason": self.reason}


Encoding = Numeric | OneHot | DateParts | Dropped


@dataclass(frozen=True)
class Encoded:
    """:meth:`TableEncoder.encode`'s result: the features, and one line per column where
    cells were filled in or not recognized."""

    X: NDArray[np.floating]
    notes: list[str]


class TableEncoder:
    """Table in, features out; see the module docstring for what it does to each column.

    Parameters
    ----------
    drop, categorical, numeric : sequence of str
        Columns to drop, to one-hot even if they hold numbers (codes such as ZIP), and to
        read as numbers even if written as text.
    min_frequency : int
        Categories in fewer training rows are pooled into ``(rare)``.
    max_categories : int
        More categories than this in one column (after pooling) is refused.

    Attributes (after :meth:`fit`)
    ----------
    encodings : list of the per-column decisions, in table order
    inputs : the columns :meth:`transform` needs (every column not dropped)
    names : the names of the output features, ``n_out`` of them
    notes : what :meth:`fit` decided, one sentence per column worth telling
    """

    def __init__(self, *, drop: Iterable[str] = (), categorical: Iterable[str] = (),
                 numeric: Iterable[str] = (), min_frequency: int = MIN_FREQUENCY,
                 max_categories: int = MAX_CATEGORIES) -> None:
        self.drop, self.categorical, self.numeric = list(drop), list(categorical), list(numeric)
        both = sorted(set(self.categorical) & set(self.numeric))
        if both:
            raise TableError(f"categorical and numeric both name {', '.join(map(repr, both))}")
        if int(min_frequency) < 1 or int(max_categories) < 1:
            raise TableError("min_frequency and max_categories must be at least 1")
        self.min_frequency, self.max_categories = int(min_frequency), int(max_categories)
        self.encodings: list[Encoding] = []
        self.notes: list[str] = []

    # -- fit -------------------------------------------------------------------------------
    def fit(self, data: Any) -> TableEncoder:
        """Decide every column from ``data`` (the training rows: a :class:`Table`, a
        DataFrame or a dict of columns)."""
        table = Table.of(data)
        if len(table) == 0:
            raise TableError("no rows to fit on")
        for what, names in (("drop", self.drop), ("categorical", self.categorical),
                            ("numeric", self.numeric)):
            unknown = [n for n in names if n not in table.columns]
            if unknown:
                raise TableError(f"{what}: no column {', '.join(map(repr, unknown))}; the "
                                 f"columns are {name_list(table.names)}")
        self.encodings = [self._decide(name, col, table.lines)
                          for name, col in table.columns.items()]
        self.notes = [n for e in self.encodings if (n := _note(e, table[e.column],
                                                              self.min_frequency))]
        if not self.inputs:
            raise TableError("no usable feature column: "
                             + "; ".join(f"{e.column!r} {e.reason}" for e in self.encodings
                                         if isinstance(e, Dropped)))
        return self

    def _decide(self, name: str, col: Column, lines: NDArray[np.int64] | None) -> Encoding:
        n_rows = len(col)
        if name in self.drop:
            return Dropped(name, "named by drop")
        miss = col.missing
        present = n_rows - int(miss.sum())
        if present == 0:
            return Dropped(name, "every cell is missing")
        if name in self.numeric:  # text that is not a number counts as missing
            values, unread = _numbers(col)
            if unread == present:
                raise TableError(f"numeric: column {name!r} holds no numbers")
            return Numeric.fit(name, _in_range(name, col, values, np.float64, lines))
        distinct = _distinct(col, miss)
        if distinct == 1 and not miss.any():
            codes, labels = _labels(col)
            return Dropped(name, f"constant (every row is {labels[int(codes[0])]!r})")
        if name in self.categorical:
            return self._one_hot(name, col)
        if isinstance(col, NumberColumn):
            v = col.values[~miss]
            if (distinct == present and present >= 10 and _ID_NAME.fullmatch(name)
                    and np.all(v == np.round(v))):
                return Dropped(name, "an identifier (a distinct integer in every row, "
                               "named like an ID)")
            return Numeric.fit(name, _in_range(name, col, col.values, np.float64, lines))
        # The kind is read off every value the file holds (the vocabulary), not only the
        # training rows': a column whose text sits in validation rows is mixed all the same.
        if numbers_as_text(col.vocab):
            return Numeric.fit(name, _in_range(name, col, _numbers(col)[0], np.float64, lines))
        _refuse_mixed(name, col, present, lines)
        used = [v for v, n in zip(col.vocab, col.counts(), strict=True) if n]
        if is_dates(used):
            return DateParts.fit(name, col)
        if distinct == present and present >= 10:
            return Dropped(name, "an identifier (different text in every row)")
        if distinct > FREE_TEXT_SHARE * present and distinct > _FREE_TEXT_MIN:
            return Dropped(name, f"free text ({distinct} distinct values in {present} rows)")
        return self._one_hot(name, col)

    def _one_hot(self, name: str, col: Column) -> OneHot:
        enc = OneHot.fit(name, col, self.min_frequency)
        n = len(enc.categories) + bool(enc.rare)
        if n > self.max_categories:
            raise TableError(
                f"column {name!r} has {len(enc.categories) + len(enc.rare)} distinct values in "
                f"the {len(col)} training rows, {len(enc.categories)} of them in "
                f"{self.min_frequency}+ rows: more "
                f"than max_categories={self.max_categories} features to one-hot; drop it "
                f"(--drop {name}) or raise max_categories"
            )
        return enc

    # -- transform -------------------------------------------------------------------------
    @property
    def inputs(self) -> list[str]:
        return [e.column for e in self.encodings if not isinstance(e, Dropped)]

    @property
    def names(self) -> list[str]:
        return [n for e in self.encodings for n in e.names]

    @property
    def n_out(self) -> int:
        return len(self.names)

    @property
    def dropped(self) -> dict[str, str]:
        return {e.column: e.reason for e in self.encodings if isinstance(e, Dropped)}

    def encode(self, data: Any, dtype: DTypeLike = np.float64) -> Encoded:
        """The features of ``data`` (columns matched by name; other columns ignored) and a
        line for each column where cells were missing or unseen.

        ``dtype`` is the features' float type: give the one the network computes in
        (``np.float32`` for a float32 network) and no float64 copy of the table is made —
        the network would cast to its dtype before scaling anyway, so the values are the
        same."""
        if not self.encodings:
            raise TableError("this TableEncoder is not fitted; call fit(table) first")
        table = Table.of(data)
        absent = [c for c in self.inputs if c not in table.columns]
        if absent:
            raise TableError(f"missing column(s) {', '.join(map(repr, absent))}; the "
                             f"encoder was fitted on columns {name_list(self.inputs)}")
        X = np.zeros((len(table), self.n_out), dtype=_float_dtype(dtype))
        notes: list[str] = []
        j = 0
        for e in self.encodings:
            width = len(e.names)
            if isinstance(e, Numeric):  # a cell the dtype cannot hold: refused, not inf
                col = table[e.column]
                values, unread = _numbers(col)
                _in_range(e.column, col, values, X.dtype, table.lines, table.source)
                _check_median(e, X.dtype, table.source)
                count = (e.encode_values(values, X[:, j:j + width])
                         + unread * e.indicator)
            elif width:
                _check_median(e, X.dtype, table.source)
                count = e.encode(table[e.column], X[:, j:j + width])
            else:
                count = 0
            if count:
                notes.append(_transform_note(e, count))
            j += width
        return Encoded(X, notes)

    def standardizer(self, X_train: NDArray[np.floating]) -> Standardizer:
        """The :class:`~chainrule.scaler.Standardizer` for the encoded training features
        ``X_train``: numbers (and date parts) to mean 0 and spread 1, one-hot and
        missing-indicator features left as 0/1."""
        X_train = np.asarray(X_train)
        if X_train.ndim != 2 or X_train.shape[0] == 0 or X_train.shape[1] != self.n_out:
            raise TableError(f"X_train: expected shape (n_samples, {self.n_out}) (the "
                             f"encoder's features), got {X_train.shape}")
        try:
            mean, scale = standard_stats(X_train, self.names)
        except ValueError as exc:
            raise TableError(str(exc)) from None
        keep = ~np.array([s for e in self.encodings for s in e.scaled], dtype=bool)
        mean[keep], scale[keep] = 0.0, 1.0
        return Standardizer(mean, scale)

    def transform(self, data: Any, dtype: DTypeLike = np.float64) -> NDArray[np.floating]:
        """The features of ``data``: array of shape (n_rows, n_out) of ``dtype``."""
        return self.encode(data, dtype).X

    def fit_transform(self, data: Any, dtype: DTypeLike = np.float64) -> NDArray[np.floating]:
        table = Table.of(data)
        return self.fit(table).transform(table, dtype)

    def __repr__(self) -> str:
        if not self.encodings:
            return "TableEncoder(unfitted)"
        return (f"TableEncoder({len(self.inputs)} columns -> {self.n_out} features, "
                f"{len(self.dropped)} dropped)")

    # -- saved state -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The full state as JSON values (what the model file holds)."""
        return {"min_frequency": self.min_frequency, "max_categories": self.max_categories,
                "drop": self.drop, "categorical": self.categorical, "numeric": self.numeric,
                "columns": [{"column": e.column, "kind": e.kind, **e.state()}
                            for e in self.encodings]}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> TableEncoder:
        """The encoder :meth:`to_dict` described (its structure checked by the model
        file's schema)."""
        enc = cls(drop=state["drop"], categorical=state["categorical"],
                  numeric=state["numeric"], min_frequency=state["min_frequency"],
                  max_categories=state["max_categories"])
        enc.encodings = [_encoding_of(c) for c in state["columns"]]
        return enc

    def schema(self) -> list[tuple[str, str, str]]:
        """(column, kind, detail) per input column, dropped ones included: what
        ``chainrule info`` shows."""
        return [(e.column, e.kind, _detail(e)) for e in self.encodings]


def _float_dtype(dtype: DTypeLike) -> np.dtype[Any]:
    """``dtype`` as a NumPy float type; anything else is a :class:`TableError`."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = np.dtype(object)
    if dt not in (np.float32, np.float64):
        raise TableError(f"dtype: expected float32 or float64, got {dtype!r}")
    return dt


#: A text column whose cells are numbers in at least this share of its rows (but not all)
#: mixes types: refused rather than guessed.
MIXED_SHARE = 0.5


def _refuse_mixed(name: str, col: TextColumn, present: int,
                  lines: NDArray[np.int64] | None) -> None:
    """A column of mostly numbers with some text (``12``, ``7``, ``unknown``): as
    categories every number would be its own; as numbers the text would be lost. The
    user decides, with ``numeric`` (text becomes missing) or ``categorical``."""
    counts = col.counts()
    numeric = ~np.isnan(text_numbers(col.vocab))
    n_numbers = int(counts[numeric].sum())
    if n_numbers < MIXED_SHARE * present:
        return
    text = sorted((v for v, is_number in zip(col.vocab, numeric, strict=True)
                   if not is_number), key=lambda v: -counts[col.vocab.index(v)])
    example = text[0]
    rows = np.flatnonzero(col.codes == col.vocab.index(example))
    if rows.size:
        i = int(rows[0])
        where = f"{present - n_numbers} rows, e.g. {example!r} in " + (
            f"row {int(lines[i])}" if lines is not None else f"row index {i}")
    else:  # the text is in rows the encoder is not fitted on (validation, test)
        where = f"e.g. {example!r}, in rows outside the training split"
    raise TableError(
        f"column {name!r} mixes numbers ({n_numbers} rows) and text "
        f"({where}); write missing "
        f"cells empty or NA, or say how to read it: --numeric {name} (text becomes missing) "
        f"or --categorical {name}"
    )


def _check_median(e: Encoding, dtype: np.dtype[Any], source: str | None) -> None:
    """A fitted median ``dtype`` cannot hold (an encoder fitted on float64 data, used in
    float32) is refused rather than filled in as ``inf``."""
    for part in e.parts if isinstance(e, DateParts) else [e]:
        if isinstance(part, Numeric) and abs(part.median) > largest(dtype):
            raise TableError(f"{source + ': ' if source else ''}column {part.column!r}: its "
                             f"fitted median {part.median:.3g} "
                             f"is too large for {dtype.name} ({range_advice(dtype)}); "
                             "encode in float64")


def _in_range(name: str, col: Column, values: NDArray[np.float64], dtype: DTypeLike,
              lines: NDArray[np.int64] | None, source: str | None = None
              ) -> NDArray[np.float64]:
    """``values`` (column ``name``'s cells as numbers), or a :class:`TableError` naming
    the first cell too large for ``dtype`` — its row, column, text and what is accepted
    (:mod:`chainrule.table.ranges`)."""
    i = first_out_of_range(values, dtype)
    if i is None:
        return values
    cell = col.vocab[int(col.codes[i])] if isinstance(col, TextColumn) else values[i]
    what = "is not a finite number" if np.isinf(values[i]) and isinstance(
        col, NumberColumn) else f"is too large for {np.dtype(dtype).name}"
    raise TableError(f"{source + ': ' if source else ''}{row_name(i, lines)}, column {name!r}: "
                     f"{describe(cell)} {what} ({range_advice(dtype)})")


def _encoding_of(c: dict[str, Any]) -> Encoding:
    name, kind = c["column"], c["kind"]
    if kind == "numeric":
        return Numeric(name, c["median"], c["indicator"])
    if kind == "onehot":
        return OneHot(name, list(c["categories"]), list(c["rare"]), c["missing"])
    if kind == "date":
        return DateParts(name, [Numeric(f"{name}.{p}", s["median"], False)
                                for p, s in c["parts"].items()],
                         c["indicator"])
    return Dropped(name, c["reason"])


def _detail(e: Encoding) -> str:
    if isinstance(e, Numeric):
        return f"median {e.median:g}" + (", missing indicator" if e.indicator else "")
    if isinstance(e, OneHot):
        shown = name_list(e.categories[:6]) + (", …" if len(e.categories) > 6 else "")
        return (f"{len(e.categories)} categories ({shown})"
                + (f" + {len(e.rare)} rare pooled" if e.rare else "")
                + (" + missing" if e.missing else ""))
    if isinstance(e, DateParts):
        return ", ".join(e.part_names)
    return e.reason


def _note(e: Encoding, col: Column, min_frequency: int) -> str | None:
    """What :meth:`TableEncoder.fit` tells the user about one column, if anything."""
    if isinstance(e, Dropped):
        return f"dropped column {e.column!r}: {e.reason}"
    if isinstance(e, Numeric):
        said = []
        if isinstance(col, TextColumn):
            example = next((v for v in col.vocab if not v.replace(".", "").lstrip("-")
                            .isdigit()), col.vocab[0])
            said.append(f"numbers written as text (e.g. {example!r}), read as numbers")
        if e.indicator:
            said.append(f"{int(col.missing.sum())} missing cell(s) filled with the median "
                        f"{e.median:g}, plus a missing-indicator feature")
        return f"column {e.column!r}: {'; '.join(said)}" if said else None
    if isinstance(e, DateParts):
        return f"column {e.column!r}: dates, encoded as {', '.join(e.part_names)}"
    if e.rare:
        return (f"column {e.column!r}: {len(e.categories)} categories one-hot; {len(e.rare)} "
                f"rare one(s) (in fewer than {min_frequency} rows) pooled as {RARE}")
    return None


def _transform_note(e: Encoding, count: int) -> str:
    if isinstance(e, OneHot):
        return (f"column {e.column!r}: {count} cell(s) with a category not seen in training "
                "(or missing), encoded as all zeros")
    return f"column {e.column!r}: {count} missing or unreadable cell(s) filled with the median"
