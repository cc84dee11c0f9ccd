"""The table encoder: named columns of numbers and text in, a^(0)'s features out.

What a careful data scientist does to a table before an MLP sees it, decided per column on
the training split only (:meth:`TableEncoder.fit`) and replayed on any later table
(:meth:`TableEncoder.transform`), columns matched by name:

- numbers (:mod:`.numeric`): missing cells filled with the training median, plus a 0/1
  missing-indicator feature where training had any; then read as they are (standardized
  afterwards by the network's scaler, :meth:`TableEncoder.standardizer`), robustly scaled
  and smoothly clipped, or piecewise-linearly encoded over quantile bins
  (``numeric_encoding``);
- integer codes (:func:`~.categories.integer_code`: integers with few distinct values, each
  repeated in many rows — household, school, region numbers): read as a number AND as
  categories;
- text, booleans, categories (:mod:`.categories`): one-hot over the training categories
  (natural order); missing is its own category; categories in fewer than
  ``min_frequency`` training rows pooled into ``(rare)``; a category never seen in
  training is all zeros (counted, never an error). With ``categorical_encoding="codes"``,
  a column of many categories is one feature of integer codes for an embedding layer;
- numbers written as text (``"1,234"``, ``"12%"``) are read as numbers; ISO dates become
  year, month, day, weekday (and hour) numbers (:mod:`.dates`);
- dropped, each with its reason: columns with every cell missing, constant columns,
  identifiers (text unique per row; integers unique per row named like an ID or counting
  the rows, :mod:`.identifiers`), free text with mostly distinct values, and those the
  caller names in ``drop``.

Each column's decision is one small object (:class:`Numeric`, :class:`OneHot`,
:class:`Codes`, :class:`DateParts`, :class:`Dropped`) holding exactly the state it needs,
saved in the model file by :meth:`TableEncoder.to_dict` (:mod:`.state`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from .categories import (
    CATEGORICAL_ENCODINGS,
    MAX_CATEGORIES,
    MIN_FREQUENCY,
    ONEHOT_MAX,
    RARE,
    Codes,
    Levels,
    OneHot,
    distinct,
    integer_code,
    labels,
)
from .columns import Column, NumberColumn, Table, TableError, TextColumn
from .dates import DateParts
from .identifiers import NUMBER_ID_REASONS, identifier_reason
from .numeric import NUMERIC_ENCODINGS, PLE_BINS, Numeric, numbers
from .parse import is_dates, numbers_as_text, text_numbers
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
from .state import Dropped, Encoding, encoding_of

#: Text with more distinct values than this share of its rows (and more than
#: ``_FREE_TEXT_MIN`` of them) is free text, not categories.
FREE_TEXT_SHARE = 0.5
_FREE_TEXT_MIN = 20
#: How new fits read numbers and categories unless told otherwise.
NUMERIC_ENCODING, CATEGORICAL_ENCODING = "standard", "onehot"
#: What a saved encoder without the newer keys was (release 0.1: no choice of reading).
_BEFORE: dict[str, Any] = {"numeric_encoding": "standard", "ple_bins": PLE_BINS,
                           "categorical_encoding": "onehot"}


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
        More categories than this in one one-hot column (after pooling) is refused.
    numeric_encoding : {"standard", "robust", "ple"}
        How number columns are read (:mod:`chainrule.table.numeric`).
    ple_bins : int
        Quantile bins per column for ``numeric_encoding="ple"``.
    categorical_encoding : {"onehot", "codes"}
        ``"codes"``: a column of more than :data:`~.categories.ONEHOT_MAX` categories is one
        feature of integer codes (:class:`Codes`, for an embedding layer;
        :meth:`code_columns`), the others one-hot.

    Attributes (after :meth:`fit`)
    ----------
    encodings : list of the per-column decisions, in table order
    inputs : the columns :meth:`transform` needs (every column not dropped)
    names : the names of the output features, ``n_out`` of them
    notes : what :meth:`fit` decided, one sentence per column worth telling
    """

    def __init__(self, *, drop: Iterable[str] = (), categorical: Iterable[str] = (),
                 numeric: Iterable[str] = (), min_frequency: int = MIN_FREQUENCY,
                 max_categories: int = MAX_CATEGORIES,
                 numeric_encoding: str = NUMERIC_ENCODING, ple_bins: int = PLE_BINS,
                 categorical_encoding: str = CATEGORICAL_ENCODING) -> None:
        self.drop, self.categorical, self.numeric = list(drop), list(categorical), list(numeric)
        both = sorted(set(self.categorical) & set(self.numeric))
        if both:
            raise TableError(f"categorical and numeric both name {', '.join(map(repr, both))}")
        for what, count in (("min_frequency", min_frequency),
                            ("max_categories", max_categories), ("ple_bins", ple_bins)):
            if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
                raise TableError(f"{what}: expected an integer of at least 1, got {count!r}")
        for what, got, accepted in (("numeric_encoding", numeric_encoding, NUMERIC_ENCODINGS),
                                    ("categorical_encoding", categorical_encoding,
                                     CATEGORICAL_ENCODINGS)):
            if got not in accepted:
                raise TableError(f"{what}: expected one of {', '.join(accepted)}, got {got!r}")
        self.min_frequency, self.max_categories = int(min_frequency), int(max_categories)
        self.numeric_encoding, self.ple_bins = numeric_encoding, int(ple_bins)
        self.categorical_encoding = categorical_encoding
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
            values, unread = numbers(col)
            if unread == present:
                raise TableError(f"numeric: column {name!r} holds no numbers")
            return self._number(name, _in_range(name, col, values, np.float64, lines), False)
        n_distinct = distinct(col, miss)
        if n_distinct == 1 and not miss.any():
            codes, names = labels(col)
            return Dropped(name, f"constant (every row is {names[int(codes[0])]!r})")
        if name in self.categorical:
            return self._categories(name, col)
        if isinstance(col, NumberColumn):
            if n_distinct == present:
                reason = identifier_reason(name, col.values[~miss],
                                           None if lines is None else lines[~miss])
                if reason:
                    return Dropped(name, reason)
            return self._number(name, _in_range(name, col, col.values, np.float64, lines),
                                n_distinct=n_distinct)
        # The kind is read off every value the file holds (the vocabulary), not only the
        # training rows': a column whose text sits in validation rows is mixed all the same.
        if numbers_as_text(col.vocab):
            return self._number(name, _in_range(name, col, numbers(col)[0], np.float64, lines))
        _refuse_mixed(name, col, present, lines)
        used = [v for v, n in zip(col.vocab, col.counts(), strict=True) if n]
        if is_dates(used):
            return DateParts.fit(name, col)
        if n_distinct == present and present >= 10:
            return Dropped(name, "an identifier (different text in every row)")
        if n_distinct > FREE_TEXT_SHARE * present and n_distinct > _FREE_TEXT_MIN:
            return Dropped(name, f"free text ({n_distinct} distinct values in {present} rows)")
        return self._categories(name, col)

    def _number(self, name: str, values: NDArray[np.float64], codes: bool = True,
                n_distinct: int | None = None) -> Numeric:
        """A number column in the encoder's reading; with ``codes``, an integer code
        (:func:`~.categories.integer_code`) is read as categories too."""
        enc = Numeric.fit(name, values, self.numeric_encoding, self.ple_bins)
        n_values = integer_code(values, n_distinct) if codes else None
        if n_values:
            embed = self.categorical_encoding == "codes" and n_values > ONEHOT_MAX
            enc.levels = Levels.fit(values, self.min_frequency, as_codes=embed)
        return enc

    def _categories(self, name: str, col: Column) -> OneHot:
        enc = OneHot.fit(name, col, self.min_frequency)
        n = len(enc.categories) + bool(enc.rare)
        if self.categorical_encoding == "codes" and n > ONEHOT_MAX:
            return Codes(enc.column, enc.categories, enc.rare, enc.missing)
        if n > self.max_categories:
            raise TableError(
                f"column {name!r} has {len(enc.categories) + len(enc.rare)} distinct values in "
                f"the {len(col)} training rows, {len(enc.categories)} of them in "
                f"{self.min_frequency}+ rows: more than the {self.max_categories} one-hot "
                f"features a column may make; drop it (--drop {name})"
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
                values, unread = numbers(col)
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
        newer = {"numeric_encoding": self.numeric_encoding, "ple_bins": self.ple_bins,
                 "categorical_encoding": self.categorical_encoding}
        # the keys of release 0.1's encoder first; newer ones only where they differ from
        # what a file without them means, so such a file reads in older chainrules too
        return {"min_frequency": self.min_frequency, "max_categories": self.max_categories,
                "drop": self.drop, "categorical": self.categorical, "numeric": self.numeric,
                **{k: v for k, v in newer.items() if v != _BEFORE[k]
                   and (k != "ple_bins" or self.numeric_encoding == "ple")},
                "columns": [{"column": e.column, "kind": e.kind, **e.state()}
                            for e in self.encodings]}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> TableEncoder:
        """The encoder :meth:`to_dict` described (its structure checked by
        :data:`~.state.ENCODER_SCHEMA`); a file from before ``numeric_encoding`` and
        ``categorical_encoding`` existed reads as the standard, one-hot encoder it was."""
        enc = cls(drop=state["drop"], categorical=state["categorical"],
                  numeric=state["numeric"], min_frequency=state["min_frequency"],
                  max_categories=state["max_categories"],
                  **{k: state.get(k, v) for k, v in _BEFORE.items()})
        enc.encodings = [encoding_of(c) for c in state["columns"]]
        return enc

    def code_columns(self) -> list[tuple[int, int]]:
        """(feature index in a^(0), number of codes m + 1) of every feature of integer
        codes (code 0 = missing, rare or never seen), in feature order: what an embedding
        layer looks up. Empty unless ``categorical_encoding="codes"`` coded a column."""
        found, j = [], 0
        for e in self.encodings:
            if isinstance(e, Codes):
                found.append((j, e.n_codes))
            elif isinstance(e, Numeric) and e.levels and e.levels.as_codes:
                found.append((j + e.width + e.indicator, e.levels.n_codes))
            j += len(e.names)
        return found

    def numeric_columns(self) -> list[int]:
        """Feature indices of the numbers themselves (a standard or robust reading; date
        parts included): not missing indicators, categories, codes or PLE bins."""
        found, j = [], 0
        for e in self.encodings:
            if isinstance(e, Numeric) and not e.edges:
                found.append(j)
            elif isinstance(e, DateParts):
                found += range(j, j + len(e.parts))
            j += len(e.names)
        return found

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


def _detail(e: Encoding) -> str:
    if isinstance(e, Numeric):
        reading = {"standard": "", "robust": ", robust scaled and clipped",
                   "ple": f", {e.width} PLE bins"}[e.reading]
        return (f"median {e.median:g}{reading}" + (", missing indicator" if e.indicator else "")
                + (f", {len(e.levels.values)} integer codes" if e.levels else ""))
    if isinstance(e, Codes):
        return f"{len(e.categories)} categories as codes 1..{len(e.categories)}"
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
        keep = (f"; --numeric {e.column} to keep it as a number"
                if e.reason.startswith(NUMBER_ID_REASONS) else "")
        return f"dropped column {e.column!r}: {e.reason}{keep}"
    if isinstance(e, Numeric):
        said = []
        if isinstance(col, TextColumn):
            example = next((v for v in col.vocab if not v.replace(".", "").lstrip("-")
                            .isdigit()), col.vocab[0])
            said.append(f"numbers written as text (e.g. {example!r}), read as numbers")
        if e.indicator:
            said.append(f"{int(col.missing.sum())} missing cell(s) filled with the median "
                        f"{e.median:g}, plus a missing-indicator feature")
        if e.levels:
            said.append(code_line(e))
        return f"column {e.column!r}: {'; '.join(said)}" if said else None
    if isinstance(e, DateParts):
        return f"column {e.column!r}: dates, encoded as {', '.join(e.part_names)}"
    if isinstance(e, Codes):
        return (f"column {e.column!r}: {len(e.categories)} categories as one feature of "
                f"codes 1..{len(e.categories)} (0: missing, rare or unseen), for an embedding")
    if e.rare:
        return (f"column {e.column!r}: {len(e.categories)} categories one-hot; {len(e.rare)} "
                f"rare one(s) (in fewer than {min_frequency} rows) pooled as {RARE}")
    return None


def code_line(e: Numeric) -> str:
    """The rule's line for a number column also read as codes (``e.levels`` set)."""
    assert e.levels is not None
    n = len(e.levels.values) + len(e.levels.rare)
    how = "as a code for an embedding" if e.levels.as_codes else "one-hot"
    return (f"integer code ({n} values) — read as a category too ({how}); "
            f"--numeric {e.column} to read it as a number only")


def _transform_note(e: Encoding, count: int) -> str:
    if isinstance(e, Codes):
        return (f"column {e.column!r}: {count} cell(s) with a category not seen in training "
                "(or missing), encoded as code 0")
    if isinstance(e, OneHot):
        return (f"column {e.column!r}: {count} cell(s) with a category not seen in training "
                "(or missing), encoded as all zeros")
    return f"column {e.column!r}: {count} missing or unreadable cell(s) filled with the median"
