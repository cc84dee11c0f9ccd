"""Pass 1 of a streamed fit: a :class:`~chainrule.table.TableEncoder` decided from chunks,
never holding a column (issue 31).

:class:`StreamFit` takes the table chunk by chunk, in file order (:meth:`StreamFit.add`),
keeping one mergeable summary per column (:mod:`.sketch`), then decides every column by the
rules of :meth:`TableEncoder.fit <chainrule.table.TableEncoder.fit>` (:meth:`StreamFit.fit`).
The result is an ordinary fitted encoder, saved and loaded by its ``to_dict``/``from_dict``.

What equals the in-memory fit on the same training rows, and what is within a stated error:

- exact: every category vocabulary and count (so one-hot and code columns, rare pooling,
  missing categories, constant, identifier and free-text text columns, dates, numbers
  written as text, integer codes), missing-value indicators, and every median, robust
  scale and PLE edge of a number column with at most
  :data:`~.sketch.EXACT_VALUES` distinct values;
- within the KLL sketch's rank error (:func:`~.sketch.kll_rank_error`, 0.14 %) for a
  number column with more distinct values: its median, quartiles and PLE edges are values
  whose rank in the training rows is within that error of the asked one;
- an integer column with more distinct values than that is an identifier when HLL
  estimates its distinct values at :data:`UNIQUE_SHARE` of its rows or more (in memory:
  exactly all of them);
- a text column of more than :data:`~.sketch.MAX_VOCAB` distinct entries is dropped as free
  text or an identifier (in memory it may be refused as too many categories instead).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from .categories import (
    CODE_LIMIT,
    CODE_MAX_VALUES,
    CODE_MIN_REPEATS,
    CODE_MIN_VALUES,
    ONEHOT_MAX,
    Codes,
    Levels,
    OneHot,
    pool,
)
from .columns import NumberColumn, Table, TableError, natural_key, number_label
from .dates import DateParts
from .encoder import _FREE_TEXT_MIN, FREE_TEXT_SHARE, MIXED_SHARE, TableEncoder
from .identifiers import (
    ID_MIN_ROWS,
    ID_NAME,
    ROW_NUMBER_DENSE,
    ROW_NUMBER_MIN_ROWS,
    ROW_NUMBER_RISING,
    ROW_NUMBER_SPAN,
)
from .numeric import Numeric
from .parse import DATE_PARTS, date_parts, has_time, is_dates, numbers_as_text, text_numbers
from .ranges import name_list
from .sketch import MAX_VOCAB, NumberSketch, TextSketch, weighted_median
from .state import Dropped, Encoding

#: An integer column past the exact counts is unique per row when HLL's distinct estimate
#: is at least this share of its rows (HLL's relative error is about 0.8 %).
UNIQUE_SHARE = 0.98


class StreamFit:
    """A table encoder fitted chunk by chunk.

    Parameters
    ----------
    encoder : TableEncoder
        Unfitted; its options (``drop``, ``numeric_encoding``, ...) say how to decide.
    """

    def __init__(self, encoder: TableEncoder) -> None:
        self.encoder = encoder
        self.numbers: dict[str, NumberSketch] = {}
        self.texts: dict[str, TextSketch] = {}
        self.names: list[str] = []

    def add(self, table: Table, train: NDArray[np.bool_]) -> None:
        """One chunk (every row: a text column's vocabulary is read off every value the
        file holds, as in memory), its statistics from the rows where ``train`` (shape
        (n_rows,)) holds. Chunks come in file order."""
        if not self.names:
            self.names = table.names
        for name, col in table.columns.items():
            if isinstance(col, NumberColumn):
                self.numbers.setdefault(name, NumberSketch()).update(col.values[train])
            else:
                self.texts.setdefault(name, TextSketch()).update(col.codes, col.vocab, train)

    def fit(self) -> TableEncoder:
        """The encoder, every column decided (see the module docstring)."""
        enc = self.encoder
        if not self.names:
            raise TableError("no rows to fit on")
        for what, names in (("drop", enc.drop), ("categorical", enc.categorical),
                            ("numeric", enc.numeric)):
            unknown = [n for n in names if n not in self.names]
            if unknown:
                raise TableError(f"{what}: no column {', '.join(map(repr, unknown))}; the "
                                 f"columns are {name_list(self.names)}")
        for name in self.names:
            if name in self.texts and name in self.numbers:
                self.texts[name].absorb(self.numbers.pop(name), name)
        enc.encodings = [self._decide(name) for name in self.names]
        enc.notes = [f"dropped column {e.column!r}: {e.reason}" for e in enc.encodings
                     if isinstance(e, Dropped)]
        if not enc.inputs:
            raise TableError("no usable feature column: "
                             + "; ".join(f"{e.column!r} {e.reason}" for e in enc.encodings
                                         if isinstance(e, Dropped)))
        return enc

    def _decide(self, name: str) -> Encoding:
        enc = self.encoder
        if name in enc.drop:
            return Dropped(name, "named by drop")
        sketch = self.numbers.get(name) or self.texts[name]
        if sketch.present == 0:
            return Dropped(name, "every cell is missing")
        if isinstance(sketch, TextSketch):
            return self._text(name, sketch)
        if name in enc.numeric:
            return self._number(name, sketch, codes=False)
        n_distinct = sketch.n_distinct()
        if n_distinct == 1 and not sketch.n_missing:
            return Dropped(name, f"constant (every row is {number_label(sketch.minimum)!r})")
        if name in enc.categorical:
            if sketch.counts is None:
                raise TableError(f"categorical: column {name!r} has more than "
                                 f"{len(sketch.counts or ()) or 'ten thousand'} distinct "
                                 "numbers; too many to read as categories")
            values, counts = sketch.sorted_counts()
            return self._categories(name, {number_label(v): int(n) for v, n in
                                           zip(values.tolist(), counts.tolist(), strict=True)},
                                    sketch.n_missing)
        if n_distinct >= (sketch.present if sketch.exact else UNIQUE_SHARE * sketch.present):
            reason = _identifier(name, sketch)
            if reason:
                return Dropped(name, reason)
        return self._number(name, sketch)

    def _text(self, name: str, sketch: TextSketch) -> Encoding:
        enc, counts = self.encoder, sketch.counts
        vocab = list(counts)
        if name in enc.numeric or numbers_as_text(vocab):
            parsed = text_numbers(vocab)
            if name in enc.numeric and np.isnan(parsed).all():
                raise TableError(f"numeric: column {name!r} holds no numbers")
            return self._number(name, _counted(parsed, counts, sketch.n_rows),
                                codes=name not in enc.numeric)
        used = {v: n for v, n in counts.items() if n}
        n_distinct = len(used)
        if n_distinct == 1 and not sketch.n_missing:
            return Dropped(name, f"constant (every row is {next(iter(used))!r})")
        if name in enc.categorical:
            return self._categories(name, counts, sketch.n_missing)
        _refuse_mixed(name, counts, sketch.present)
        if is_dates(list(used)):
            return _dates(name, used, sketch.n_missing)
        if sketch.overflow:
            return Dropped(name, f"free text or an identifier (more than {MAX_VOCAB} "
                           "distinct values)")
        if n_distinct == sketch.present and sketch.present >= 10:
            return Dropped(name, "an identifier (different text in every row)")
        if n_distinct > FREE_TEXT_SHARE * sketch.present and n_distinct > _FREE_TEXT_MIN:
            return Dropped(name, f"free text ({n_distinct} distinct values in "
                           f"{sketch.present} rows)")
        return self._categories(name, counts, sketch.n_missing)

    def _number(self, name: str, sketch: NumberSketch, codes: bool = True) -> Numeric:
        """:meth:`Numeric.fit` from the sketch (and, with ``codes``, :class:`Levels` where
        the column is an integer code)."""
        enc = self.encoder
        robust = edges = None
        if enc.numeric_encoding == "robust":
            q25, median, q75 = sketch.quantiles(np.array([0.25, 0.5, 0.75]))
            spread = q75 - q25
            if not spread > 0:
                spread = (sketch.maximum - sketch.minimum) / 2
            robust = (float(median), float(spread) if spread > 0 else 1.0)
        if enc.numeric_encoding == "ple":
            found = np.unique(sketch.quantiles(np.linspace(0.0, 1.0, enc.ple_bins + 1)))
            edges = [float(e) for e in found] if len(found) >= 2 else None
        out = Numeric(name, sketch.median(), sketch.n_missing > 0, robust, edges)
        if codes and _integer_code(sketch):
            values, counts = sketch.sorted_counts()
            common, rare = pool(counts, enc.min_frequency)
            embed = enc.categorical_encoding == "codes" and len(values) > ONEHOT_MAX
            out.levels = Levels([float(values[i]) for i in sorted(common)],
                                [float(values[i]) for i in sorted(rare)], embed)
        return out

    def _categories(self, name: str, counts: dict[str, int], n_missing: int) -> OneHot:
        enc = self.encoder
        names = list(counts)
        common, rare = pool(np.array([counts[n] for n in names], dtype=np.int64),
                            enc.min_frequency)
        onehot = OneHot(name, sorted((names[i] for i in common), key=natural_key),
                        sorted((names[i] for i in rare), key=natural_key), n_missing > 0)
        n = len(onehot.categories) + bool(onehot.rare)
        if enc.categorical_encoding == "codes" and n > ONEHOT_MAX:
            return Codes(name, onehot.categories, onehot.rare, onehot.missing)
        if n > enc.max_categories:
            raise TableError(
                f"column {name!r} has {len(onehot.categories) + len(onehot.rare)} distinct "
                f"values in the training rows, {len(onehot.categories)} of them in "
                f"{enc.min_frequency}+ rows: more than the {enc.max_categories} one-hot "
                f"features a column may make; drop it (--drop {name})")
        return onehot


def _counted(values: NDArray[np.float64], counts: dict[str, int], n_rows: int
             ) -> NumberSketch:
    """An exact :class:`NumberSketch` of text entries read as numbers (``values``, NaN:
    not a number, which counts as missing) with their training ``counts``."""
    sketch = NumberSketch()
    n = np.array(list(counts.values()), dtype=np.int64)
    ok = ~np.isnan(values) & (n > 0)
    sketch.counts = {}
    for value, count in zip(values[ok].tolist(), n[ok].tolist(), strict=True):
        sketch.counts[value] = sketch.counts.get(value, 0) + count
    sketch.n_rows, sketch.n_missing = n_rows, n_rows - int(n[ok].sum())
    if sketch.counts:
        v = values[ok]
        sketch.minimum, sketch.maximum = float(v.min()), float(v.max())
        sketch.integers = bool(np.all(v == np.round(v)))
    return sketch


def _integer_code(sketch: NumberSketch) -> bool:
    """:func:`~.categories.integer_code` from exact counts."""
    if sketch.counts is None or not sketch.counts or not sketch.integers:
        return False
    if max(abs(sketch.minimum), abs(sketch.maximum)) >= CODE_LIMIT:
        return False
    n_values = len(sketch.counts)
    return (CODE_MIN_VALUES <= n_values <= CODE_MAX_VALUES
            and sketch.present >= CODE_MIN_REPEATS * n_values)


def _identifier(name: str, sketch: NumberSketch) -> str | None:
    """:func:`~.identifiers.identifier_reason` from the sketch's integers, span and
    rises (the training rows in file order)."""
    n = sketch.present
    if n < ID_MIN_ROWS or not sketch.integers:
        return None
    if ID_NAME.fullmatch(name):
        return "an identifier (a distinct integer in every row, named like an ID)"
    if n < ROW_NUMBER_MIN_ROWS:
        return None
    span = sketch.maximum - sketch.minimum
    rising = sketch.rising / (n - 1)
    if ((rising >= ROW_NUMBER_RISING and span <= ROW_NUMBER_SPAN * (n - 1))
            or span <= ROW_NUMBER_DENSE * (n - 1)):
        return ("a row number (a distinct integer in every row, nearly consecutive"
                + (", rising with the row)" if rising >= ROW_NUMBER_RISING else ")"))
    return None


def _refuse_mixed(name: str, counts: dict[str, int], present: int) -> None:
    """:func:`~.encoder._refuse_mixed` from the vocabulary's counts."""
    vocab = list(counts)
    numeric = ~np.isnan(text_numbers(vocab))
    n = np.array([counts[v] for v in vocab], dtype=np.int64)
    n_numbers = int(n[numeric].sum())
    if n_numbers < MIXED_SHARE * present:
        return
    text = sorted((v for v, is_number in zip(vocab, numeric, strict=True) if not is_number),
                  key=lambda v: -counts[v])
    raise TableError(
        f"column {name!r} mixes numbers ({n_numbers} rows) and text ({present - n_numbers} "
        f"rows, e.g. {text[0]!r}); write missing cells empty or NA, or say how to read it: "
        f"--numeric {name} (text becomes missing) or --categorical {name}")


def _dates(name: str, used: dict[str, int], n_missing: int) -> DateParts:
    """:meth:`DateParts.fit` from the dates' counts: each part's median over the rows."""
    vocab = list(used)
    parts = [p for p in DATE_PARTS if p != "hour" or has_time(vocab)]
    values = date_parts(vocab, parts)
    n = np.array([used[v] for v in vocab], dtype=np.int64)
    medians = []
    for j in range(len(parts)):
        ok = ~np.isnan(values[:, j])
        order = np.argsort(values[ok, j], kind="stable")
        medians.append(weighted_median(values[ok, j][order], n[ok][order]))
    return DateParts(name, [Numeric(f"{name}.{p}", m, False) for p, m in
                            zip(parts, medians, strict=True)], n_missing > 0)


__all__ = ["UNIQUE_SHARE", "StreamFit"]
