"""How a number column becomes features: the missing cells filled, then one of three
readings, decided on the training rows and saved with the model.

- ``"standard"`` — the number as it is; the network's :class:`~chainrule.scaler.Standardizer`
  brings it to mean 0, spread 1 (what every model file before these readings did).
- ``"robust"`` — RealMLP's reading (Holzmüller et al. 2024): centred on the training median,
  divided by a robust spread (the inter-quartile range; half the range where the quartiles
  coincide), then smoothly clipped, :math:`x / \\sqrt{1 + (x/3)^2}`, so a heavy tail cannot
  push one feature to 1,000 standard deviations. Not standardized again.
- ``"ple"`` — piecewise-linear encoding (Gorishniy et al. 2022, "On Embeddings for
  Numerical Features"): over bins ``edges[0] < … < edges[T]`` taken at quantiles of the
  training rows, feature t is 0 left of bin t, 1 right of it, and rises linearly inside it —
  T features in [0, 1] that let the first layer bend at every quantile. Not standardized.

Missing cells get the training median (before the reading) and, where training had any, a
0/1 missing-indicator feature. An integer column read as codes as well (:mod:`.categories`)
adds its :class:`~chainrule.table.categories.Levels` after these features.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from .categories import Levels
from .columns import Column, NumberColumn
from .parse import text_numbers

#: The readings of a number column, by the name ``TableEncoder(numeric_encoding=...)`` takes.
NUMERIC_ENCODINGS = ("standard", "robust", "ple")
#: PLE bins per column when ``ple_bins`` is not given (fewer where the training rows have
#: fewer distinct quantiles).
PLE_BINS = 16
#: Smooth clipping bounds a robust-scaled value to (−CLIP, CLIP), nearly linear inside ±1.
CLIP = 3.0


def numbers(col: Column) -> tuple[NDArray[np.float64], int]:
    """Any column as numbers (text parsed as ``"1,234"``-style numbers), and how many
    non-missing cells could not be read as one (they become missing)."""
    if isinstance(col, NumberColumn):
        return col.values, 0
    table = text_numbers(col.vocab)
    values = np.where(col.codes >= 0, table[np.maximum(col.codes, 0)], np.nan)
    unread = int(np.count_nonzero(np.isnan(values) & (col.codes >= 0)))
    return values, unread


def smooth_clip(x: NDArray[np.floating]) -> NDArray[np.floating]:
    """:math:`x / \\sqrt{1 + (x/c)^2}` with c = :data:`CLIP`: the identity near 0, bounded
    by ±c; ``x`` of any shape, same shape and dtype out."""
    return x / np.sqrt(1 + (x / CLIP) ** 2)


def robust_stats(values: NDArray[np.float64]) -> tuple[float, float]:
    """(centre, spread) of the non-missing training ``values`` (shape (n,), not all equal):
    the median, and the inter-quartile range, or half the range where the quartiles
    coincide (a column that is mostly one value)."""
    v = values[~np.isnan(values)]
    q25, median, q75 = np.quantile(v, [0.25, 0.5, 0.75])
    spread = q75 - q25
    if not spread > 0:
        spread = (v.max() - v.min()) / 2
    return float(median), float(spread) if spread > 0 else 1.0


def ple_edges(values: NDArray[np.float64], n_bins: int) -> list[float]:
    """The bin edges of PLE: ``n_bins + 1`` quantiles of the non-missing training ``values``
    (shape (n,)), repeats removed (a column of few values gets fewer, wider bins). At
    least two edges for a column that is not constant."""
    v = values[~np.isnan(values)]
    edges = np.unique(np.quantile(v, np.linspace(0.0, 1.0, n_bins + 1)))
    return [float(e) for e in edges]


def ple(x: NDArray[np.floating], edges: Sequence[float]) -> NDArray[np.floating]:
    """Piecewise-linear encoding of ``x`` (shape (n,)) over ``edges`` (T + 1 increasing
    values): shape (n, T), feature t = clip((x − edges[t]) / (edges[t+1] − edges[t]), 0, 1)."""
    e = np.asarray(edges, dtype=x.dtype)
    return np.clip((x[:, None] - e[:-1]) / (e[1:] - e[:-1]), 0.0, 1.0)


@dataclass
class Numeric:
    """A number column's features: its reading (``"standard"`` when ``robust`` and
    ``edges`` are None), then with ``indicator`` a feature that is 1 where the cell was
    missing, then with ``levels`` its values as categories.

    Parameters
    ----------
    median : the training median, filling missing cells
    robust : (centre, spread) of the ``"robust"`` reading, or None
    edges : the PLE bin edges of the ``"ple"`` reading, or None
    levels : the column's integer values read as codes too, or None
    """

    column: str
    median: float
    indicator: bool
    robust: tuple[float, float] | None = None
    edges: list[float] | None = None
    levels: Levels | None = None
    kind: ClassVar[str] = "numeric"

    @classmethod
    def fit(cls, column: str, values: NDArray[np.float64], reading: str = "standard",
            ple_bins: int = PLE_BINS) -> Numeric:
        miss = np.isnan(values)
        median = float(np.median(values[~miss]))
        robust = robust_stats(values) if reading == "robust" else None
        edges = ple_edges(values, ple_bins) if reading == "ple" else None
        if edges is not None and len(edges) < 2:  # one value: nothing to bin
            edges = None
        return cls(column, median, bool(miss.any()), robust, edges)

    @property
    def reading(self) -> str:
        return "ple" if self.edges else "robust" if self.robust else "standard"

    @property
    def width(self) -> int:
        """How many features the reading makes (indicator and levels not counted)."""
        return len(self.edges) - 1 if self.edges else 1

    @property
    def names(self) -> list[str]:
        if self.edges:
            own = [f"{self.column} (bin {t + 1} of {self.width})" for t in range(self.width)]
        else:
            own = [self.column]
        return (own + ([f"{self.column} (missing)"] if self.indicator else [])
                + (self.levels.names(self.column) if self.levels else []))

    @property
    def scaled(self) -> list[bool]:
        return ([self.reading == "standard"] * self.width + [False] * self.indicator
                + [False] * (self.levels.width if self.levels else 0))

    def encode_values(self, values: NDArray[np.float64], out: NDArray[np.floating]) -> int:
        """Write the features of ``values`` (shape (n,)) into ``out`` (shape (n, width of
        names)); returns how many cells were filled in without an indicator to say so."""
        miss = np.isnan(values)
        x = np.where(miss, self.median, values)  # float64; out's dtype on assignment
        w = self.width
        if self.edges:
            out[:, :w] = ple(x, self.edges)
        elif self.robust:
            centre, spread = self.robust
            out[:, 0] = smooth_clip((x - centre) / spread)
        else:
            out[:, 0] = x
        if self.indicator:
            out[:, w] = miss
        if self.levels:
            self.levels.encode(values, out[:, w + self.indicator:])
        return int(miss.sum()) if not self.indicator else 0

    def encode(self, col: Column, out: NDArray[np.floating]) -> int:
        values, unread = numbers(col)
        return self.encode_values(values, out) + unread * self.indicator

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"median": self.median, "indicator": self.indicator}
        if self.robust:
            state["robust"] = {"centre": self.robust[0], "spread": self.robust[1]}
        if self.edges:
            state["edges"] = self.edges
        if self.levels:
            state["levels"] = self.levels.state()
        return state

    @classmethod
    def of_state(cls, column: str, state: dict[str, Any]) -> Numeric:
        """The encoding :meth:`state` described; a file without the newer keys (robust,
        edges, levels) reads as the standard reading it was written with."""
        robust = state.get("robust")
        levels = state.get("levels")
        return cls(column, state["median"], state["indicator"],
                   (robust["centre"], robust["spread"]) if robust else None,
                   list(state["edges"]) if state.get("edges") else None,
                   Levels.of_state(levels) if levels else None)
