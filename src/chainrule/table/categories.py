"""How a category column becomes features, and when an integer column is read as codes.

- :class:`OneHot` — a 0/1 feature per training category (natural order), one for
  ``(rare)`` where categories in fewer than ``min_frequency`` training rows were pooled,
  one for ``(missing)`` where training had missing cells; a category never seen is all
  zeros.
- :class:`Codes` — the same categories as ONE feature of integer codes, for an embedding
  layer to look up: 0 = missing, rare or never seen in training, 1 … m = the training
  categories in natural order. ``TableEncoder(categorical_encoding="codes")`` uses it for
  columns of more than :data:`ONEHOT_MAX` categories; smaller ones stay one-hot.
- :class:`Levels` — an integer column's values as categories (one-hot or a code), added
  to its number feature: a household, school or region code (:func:`integer_code`) carries
  its signal in which value it is, not in how large it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from .columns import Column, TextColumn, natural_key, number_label

#: Categories in fewer training rows than this are pooled into ``(rare)``.
MIN_FREQUENCY = 5
#: A column with more categories than this (after pooling) is refused when one-hot: it
#: would make that many features.
MAX_CATEGORIES = 200
#: ``categorical_encoding="codes"`` codes a column with more categories than this; fewer
#: stay one-hot (an embedding of 3 categories learns nothing one-hot does not).
ONEHOT_MAX = 16
#: The ways to encode categories, by the name ``TableEncoder(categorical_encoding=...)``
#: takes.
CATEGORICAL_ENCODINGS = ("onehot", "codes")
RARE, MISSING_CATEGORY = "(rare)", "(missing)"

#: An integer column is read as codes (categories) as well as a number when it has
#: between CODE_MIN_VALUES and CODE_MAX_VALUES distinct values and each value repeats in
#: CODE_MIN_REPEATS training rows on average: see :func:`integer_code`. Measured (bench
#: tables, 2 folds): from 3 values, the 1…6 answer scales of bfi and fair lost 1 to 3
#: points one-hot; a scale's order is its signal, so fewer than 10 values stay a number.
#: From 17 values instead (5 folds): txhousing +0.004 (year, month numbers only) but amis
#: −0.002 (its 14 site pairs), pneumon −0.003, bundesliga −0.001, framing ±0: kept at 10.
CODE_MIN_VALUES, CODE_MAX_VALUES, CODE_MIN_REPEATS = 10, MAX_CATEGORIES, 12
#: Codes are integers below this in magnitude (float32 holds every one of them exactly).
#: Measured (bench/real_tables.py, 5 folds unless said): the same rule for numbers that are
#: not integers lifted randhie +0.050, seattle-weather +0.006, diamonds +0.004 (2 folds),
#: azpro +0.003 (3 folds), and cost nlschools −0.019 (IQ in half points), txhousing −0.008
#: (fractional years), pneumon −0.002, rwm5yr −0.002 (2 folds): integers only.
CODE_LIMIT = 2**24


def integer_code(values: NDArray[np.float64], n_values: int | None = None) -> int | None:
    """The number of distinct values when the training ``values`` (shape (n,), NaN =
    missing) look like codes — integers, CODE_MIN_VALUES … CODE_MAX_VALUES distinct
    values, each repeated CODE_MIN_REPEATS times on average — else None.

    One standardized number lets the first layer draw one line through the codes; a tree
    splits on them, and so can a network that also sees them one-hot (issue 27: a
    household code of ~100 values was 21 points of accuracy). ``n_values``, the number of
    distinct values when the caller has counted them, saves a sort."""
    v = values[~np.isnan(values)]
    if n_values is None:
        n_values = int(np.unique(v).size)
    if not (CODE_MIN_VALUES <= n_values <= CODE_MAX_VALUES
            and v.size >= CODE_MIN_REPEATS * n_values):
        return None
    if np.any(v != np.round(v)) or np.any(np.abs(v) >= CODE_LIMIT):
        return None
    return n_values


def labels(col: Column) -> tuple[NDArray[np.int32], list[str]]:
    """Codes and category labels of any column (numbers become labels like ``3``)."""
    if isinstance(col, TextColumn):
        return col.codes, list(col.vocab)
    v = col.values
    ok = ~np.isnan(v)
    uniq, inverse = np.unique(v[ok], return_inverse=True)
    codes = np.full(len(v), -1, dtype=np.int32)
    codes[ok] = inverse
    return codes, [number_label(u) for u in uniq]


def distinct(col: Column, miss: NDArray[np.bool_]) -> int:
    """How many distinct values the non-missing cells hold (no labels made: a column of a
    million distinct numbers costs one sort)."""
    if isinstance(col, TextColumn):
        return int(np.count_nonzero(col.counts()))
    return int(np.unique(col.values[~miss]).size)


def pool(counts: NDArray[np.int64], min_frequency: int) -> tuple[list[int], list[int]]:
    """Indices of the common and of the rare categories among those with a count: rare
    ones (fewer than ``min_frequency`` rows) are pooled, unless that pools one category
    alone or every category (such a pool says nothing)."""
    used = [i for i in range(len(counts)) if counts[i] > 0]
    common = [i for i in used if counts[i] >= min_frequency]
    rare = [i for i in used if counts[i] < min_frequency]
    if len(rare) == 1 or not common:
        return common + rare, []
    return common, rare


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
        codes, names = labels(col)
        common, rare = pool(np.bincount(codes[codes >= 0], minlength=len(names)),
                            min_frequency)
        return cls(column, sorted((names[i] for i in common), key=natural_key),
                   sorted((names[i] for i in rare), key=natural_key), bool((codes < 0).any()))

    @property
    def names(self) -> list[str]:
        extra = ([RARE] if self.rare else []) + ([MISSING_CATEGORY] if self.missing else [])
        return [f"{self.column}={c}" for c in [*self.categories, *extra]]

    @property
    def scaled(self) -> list[bool]:
        return [False] * len(self.names)

    def positions(self, col: Column) -> NDArray[np.intp]:
        """Each cell's feature index: 0 … k−1 its category, then ``(rare)``, then
        ``(missing)``; −1 for a category never seen (or missing, when training had none)."""
        codes, names = labels(col)
        position = {c: i for i, c in enumerate(self.categories)}
        pooled = len(self.categories)
        position.update({c: pooled for c in self.rare})
        missing_at = pooled + bool(self.rare) if self.missing else -1
        lookup = np.array([position.get(c, -1) for c in names] + [missing_at], dtype=np.intp)
        return lookup[codes]  # code -1 (missing) picks the last entry

    def encode(self, col: Column, out: NDArray[np.floating]) -> int:
        where = self.positions(col)
        rows = np.flatnonzero(where >= 0)
        out[rows, where[rows]] = 1.0
        return int(len(where) - len(rows))

    def state(self) -> dict[str, Any]:
        return {"categories": self.categories, "rare": self.rare, "missing": self.missing}


@dataclass
class Codes(OneHot):
    """The categories of a :class:`OneHot` as one feature of integer codes: 1 … m for
    ``categories`` in order, 0 for rare, missing and never-seen cells (an embedding's row
    0). Not standardized."""

    kind: ClassVar[str] = "codes"

    @property
    def names(self) -> list[str]:
        return [f"{self.column} (code)"]

    @property
    def n_codes(self) -> int:
        """How many codes the feature takes: m categories and the 0."""
        return len(self.categories) + 1

    def encode(self, col: Column, out: NDArray[np.floating]) -> int:
        where = self.positions(col)
        known = (where >= 0) & (where < len(self.categories))
        out[:, 0] = np.where(known, where + 1, 0)
        return int(np.count_nonzero(where < 0))


@dataclass
class Levels:
    """An integer column's values as categories, after its number features: one-hot over
    ``values`` (plus ``(rare)`` where ``rare`` pooled some), or with ``as_codes`` one
    feature 1 … m (0 = rare, missing or never seen). A missing cell sets no level (the
    number's missing indicator tells it)."""

    values: list[float]
    rare: list[float] = field(default_factory=list)
    as_codes: bool = False

    @classmethod
    def fit(cls, values: NDArray[np.float64], min_frequency: int, as_codes: bool) -> Levels:
        uniq, counts = np.unique(values[~np.isnan(values)], return_counts=True)
        common, rare = pool(counts, min_frequency)
        return cls([float(uniq[i]) for i in sorted(common)],
                   [float(uniq[i]) for i in sorted(rare)], as_codes)

    @property
    def width(self) -> int:
        return 1 if self.as_codes else len(self.values) + bool(self.rare)

    @property
    def n_codes(self) -> int:
        return len(self.values) + 1

    def names(self, column: str) -> list[str]:
        if self.as_codes:
            return [f"{column} (code)"]
        return [f"{column}={number_label(v)}" for v in self.values] + (
            [f"{column}={RARE}"] if self.rare else [])

    def encode(self, values: NDArray[np.float64], out: NDArray[np.floating]) -> None:
        """``values`` (shape (n,)) into ``out`` (shape (n, width)), which holds zeros."""
        at, found = _find(np.asarray(self.values), values)
        if self.as_codes:
            out[:, 0] = np.where(found, at + 1, 0)
            return
        rows = np.flatnonzero(found)
        out[rows, at[rows]] = 1.0
        if self.rare:
            out[:, len(self.values)] = _find(np.asarray(self.rare), values)[1]

    def state(self) -> dict[str, Any]:
        return {"values": self.values, "rare": self.rare, "as_codes": self.as_codes}

    @classmethod
    def of_state(cls, state: dict[str, Any]) -> Levels:
        return cls(list(state["values"]), list(state["rare"]), bool(state["as_codes"]))


def _find(sorted_values: NDArray[np.float64], values: NDArray[np.float64]
          ) -> tuple[NDArray[np.intp], NDArray[np.bool_]]:
    """Where each of ``values`` sits in ``sorted_values``, and whether it is there."""
    if sorted_values.size == 0:
        return np.zeros(len(values), dtype=np.intp), np.zeros(len(values), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_values, values), sorted_values.size - 1)
    return at, sorted_values[at] == values
