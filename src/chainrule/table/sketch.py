"""Mergeable summaries of a column, read chunk by chunk: what pass 1 of a streamed fit
keeps instead of the column (:mod:`.stream_fit`).

- :class:`NumberSketch`: a number column's count, missing cells, smallest and largest
  value, whether every value is an integer, how often a value rises over the one before it
  (file order), its exact value counts while it has at most :data:`EXACT_VALUES` distinct
  values, and beyond that a KLL quantile sketch (Apache DataSketches'
  ``kll_doubles_sketch``, normalized rank error :func:`kll_rank_error`) and, for integer
  columns, an HLL distinct-count sketch. Quantiles are exact while the counts are kept; from the KLL
  sketch, the value returned for q has a rank within ± that error of q (with the
  library's 99 % confidence).
- :class:`TextSketch`: a text column's vocabulary with the count of each entry (exact),
  up to :data:`MAX_VOCAB` entries.

Memory is bounded per column, whatever the number of rows.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .columns import TableError, number_label

#: A number column's values are counted exactly up to this many distinct values.
EXACT_VALUES = 10_000
#: A text column's vocabulary is kept up to this many distinct entries.
MAX_VOCAB = 100_000
#: KLL's accuracy parameter k: normalized rank error 0.14 % (:func:`kll_rank_error`);
#: memory a few times k doubles per column.
KLL_K = 2000
#: HLL's log2 of its number of buckets: relative standard error 1.04 / 2^(14/2) ≈ 0.8 %.
HLL_LG_K = 14


def _datasketches() -> Any:
    try:
        import datasketches
    except ImportError:
        raise ImportError("streaming a table needs the package datasketches (pip install "
                          "'chainrule[tables]')") from None
    return datasketches


def kll_rank_error() -> float:
    """The KLL sketch's normalized rank error at :data:`KLL_K` (99 % confidence, one
    quantile)."""
    return float(_datasketches().kll_doubles_sketch.get_normalized_rank_error(KLL_K, False))


class NumberSketch:
    """A number column's training cells, summarised (see the module docstring).

    Attributes
    ----------
    n_rows, n_missing : int
    minimum, maximum : float
        Of the present values (NaN before any).
    integers : bool
        Whether every present value is an integer.
    rising : int
        How many present values are larger than the present value before them.
    counts : dict of float to int, or None
        Exact value counts; None once more than :data:`EXACT_VALUES` distinct values came
        (then the distinct count of an integer column is HLL's estimate).
    """

    def __init__(self) -> None:
        ds = _datasketches()
        self.n_rows = self.n_missing = self.rising = 0
        self.minimum = self.maximum = math.nan
        self.integers = True
        self.counts: dict[float, int] | None = {}
        self._last = math.nan
        self._kll = ds.kll_doubles_sketch(KLL_K)
        self._hll = ds.hll_sketch(HLL_LG_K)

    @property
    def present(self) -> int:
        return self.n_rows - self.n_missing

    def update(self, values: NDArray[np.float64]) -> None:
        """Add the cells ``values`` (shape (n,), NaN = missing), in file order."""
        values = np.asarray(values, dtype=np.float64)
        v = values[~np.isnan(values)]
        self.n_rows += len(values)
        self.n_missing += len(values) - len(v)
        if not len(v):
            return
        self.minimum = float(np.fmin(self.minimum, v.min()))
        self.maximum = float(np.fmax(self.maximum, v.max()))
        self.integers = self.integers and bool(np.all(v == np.round(v)))
        self.rising += int(np.count_nonzero(np.diff(v) > 0)) + int(v[0] > self._last)
        self._last = float(v[-1])
        self._kll.update(v)
        if self.counts is not None:
            uniq, n = np.unique(v, return_counts=True)
            for value, count in zip(uniq.tolist(), n.tolist(), strict=True):
                self.counts[value] = self.counts.get(value, 0) + count
            if len(self.counts) > EXACT_VALUES:
                self._count_distinct(list(self.counts))
                self.counts = None
        elif self.integers:
            self._count_distinct(v.tolist())

    def _count_distinct(self, values: list[float]) -> None:
        """Feed HLL (one call per value: the library takes no arrays), only while every
        value is an integer: a distinct count matters to the identifier rule alone."""
        if self.integers:
            add = self._hll.update
            for value in values:
                add(value)

    @property
    def exact(self) -> bool:
        """Whether quantiles and the distinct count are exact (the counts were kept)."""
        return self.counts is not None

    def n_distinct(self) -> int:
        """The number of distinct present values: exact while counted; else HLL's
        estimate for an integer column, and ``present`` for any other (not an identifier
        either way: the rule wants integers)."""
        if self.counts is not None:
            return len(self.counts)
        if not self.integers:
            return self.present
        return int(round(self._hll.get_estimate()))

    def sorted_counts(self) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        """(distinct values ascending, their counts); only while :attr:`exact`."""
        assert self.counts is not None
        values = np.array(sorted(self.counts), dtype=np.float64)
        return values, np.array([self.counts[v] for v in values.tolist()], dtype=np.int64)

    def quantiles(self, q: NDArray[np.float64]) -> NDArray[np.float64]:
        """The quantiles ``q`` (shape (m,), in [0, 1]) of the present values: exactly
        ``np.quantile``'s (linear) while counted, else the KLL sketch's (rank within
        ±:func:`kll_rank_error`), q = 0 and 1 the exact extremes."""
        q = np.asarray(q, dtype=np.float64)
        if self.counts is not None:
            return weighted_quantiles(*self.sorted_counts(), q)
        out = np.array([self._kll.get_quantile(float(p)) for p in q], dtype=np.float64)
        out[q == 0.0], out[q == 1.0] = self.minimum, self.maximum
        return out

    def median(self) -> float:
        """``np.median`` of the present values (exact while counted, else KLL's)."""
        if self.counts is not None:
            return weighted_median(*self.sorted_counts())
        return float(self._kll.get_quantile(0.5))


def _order_stats(values: NDArray[np.float64], counts: NDArray[np.int64],
                 k: NDArray[np.int64]) -> NDArray[np.float64]:
    """The k-th smallest (0-based) of the values repeated by their counts."""
    return values[np.searchsorted(np.cumsum(counts), k, side="right")]


def weighted_median(values: NDArray[np.float64], counts: NDArray[np.int64]) -> float:
    """``np.median(np.repeat(values, counts))`` without the repeat (``values`` ascending)."""
    n = int(counts.sum())
    lo, hi = _order_stats(values, counts, np.array([(n - 1) // 2, n // 2]))
    return float(lo) if n % 2 else float(np.mean([lo, hi]))


def weighted_quantiles(values: NDArray[np.float64], counts: NDArray[np.int64],
                       q: NDArray[np.float64]) -> NDArray[np.float64]:
    """``np.quantile(np.repeat(values, counts), q)`` (linear interpolation) without the
    repeat: ``values`` ascending, shape (k,); ``q`` shape (m,)."""
    n = int(counts.sum())
    h = (n - 1) * np.asarray(q, dtype=np.float64)
    lo = np.floor(h).astype(np.int64)
    t = h - lo
    a = _order_stats(values, counts, lo)
    b = _order_stats(values, counts, np.minimum(lo + 1, n - 1))
    diff = b - a  # NumPy's own lerp: from the nearer end
    return np.where(t >= 0.5, b - diff * (1 - t), a + diff * t)


class TextSketch:
    """A text column's vocabulary over every row read, with the count of each entry in
    the training rows (an entry only other splits hold counts 0).

    Attributes
    ----------
    n_rows, n_missing : int
        Training rows, and those missing.
    counts : dict of str to int
    overflow : bool
        More than :data:`MAX_VOCAB` distinct entries came; the later ones are not kept.
    """

    def __init__(self) -> None:
        self.n_rows = self.n_missing = 0
        self.counts: dict[str, int] = {}
        self.overflow = False

    @property
    def present(self) -> int:
        return self.n_rows - self.n_missing

    def update(self, codes: NDArray[np.int32], vocab: tuple[str, ...],
               train: NDArray[np.bool_]) -> None:
        """Add a chunk's cells (``codes`` into ``vocab``, -1 missing, shape (n,)), counting
        only rows where ``train`` (shape (n,)) holds."""
        used = np.bincount(codes[codes >= 0], minlength=len(vocab)) > 0
        counted = np.bincount(codes[(codes >= 0) & train], minlength=len(vocab))
        self.n_rows += int(train.sum())
        self.n_missing += int(np.count_nonzero((codes < 0) & train))
        for entry, is_used, n in zip(vocab, used.tolist(), counted.tolist(), strict=True):
            if not is_used:
                continue
            if entry in self.counts:
                self.counts[entry] += n
            elif len(self.counts) < MAX_VOCAB:
                self.counts[entry] = n
            else:
                self.overflow = True

    def absorb(self, number: NumberSketch, column: str) -> None:
        """Add the training cells of the chunks where this column read as numbers, each
        value as its label (``3`` for 3.0); refused where they were too many to count."""
        if number.counts is None:
            raise TableError(f"column {column!r} mixes numbers (more than {EXACT_VALUES} "
                             "distinct ones) and text; say how to read it: --numeric "
                             f"{column} or --categorical {column}")
        for value, n in number.counts.items():
            label = number_label(value)
            self.counts[label] = self.counts.get(label, 0) + n
        self.n_rows += number.n_rows
        self.n_missing += number.n_missing
