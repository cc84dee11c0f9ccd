"""ISO dates as numbers: year, month, day, weekday (and hour where training had times)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from .categories import labels
from .columns import Column, TextColumn
from .numeric import Numeric
from .parse import DATE_PARTS, date_parts, has_time


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
        codes, names = labels(col)
        table = np.vstack([date_parts(names, parts), np.full((1, len(parts)), np.nan)])
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

    @classmethod
    def of_state(cls, column: str, state: dict[str, Any]) -> DateParts:
        return cls(column, [Numeric(f"{column}.{p}", s["median"], False)
                            for p, s in state["parts"].items()], state["indicator"])
