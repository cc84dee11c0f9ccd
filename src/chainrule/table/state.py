"""The per-column decisions as the model file holds them: :class:`Dropped`, the
:data:`Encoding` union, the schema of :meth:`TableEncoder.to_dict
<chainrule.table.TableEncoder.to_dict>`'s JSON (:data:`ENCODER_SCHEMA`, which the model
file's header schema uses) and :func:`encoding_of`, its reader.

Keys added after release 0.1 (``numeric_encoding``, ``ple_bins``, ``categorical_encoding``;
a number column's ``robust``, ``edges`` and ``levels``; the ``codes`` kind) are optional:
a file without them reads as the standard, one-hot encoder it was written with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from numpy import floating
from numpy.typing import NDArray

from ..io.schema import Bool, Int, List, Num, Obj, Str, Tagged
from .categories import CATEGORICAL_ENCODINGS, Codes, OneHot
from .columns import Column, TableError
from .dates import DateParts
from .numeric import NUMERIC_ENCODINGS, Numeric
from .parse import DATE_PARTS


@dataclass
class Dropped:
    """A column that carries no signal or would leak: no features, and the reason."""

    column: str
    reason: str
    kind: ClassVar[str] = "dropped"
    names: ClassVar[list[str]] = []
    scaled: ClassVar[list[bool]] = []

    def encode(self, col: Column, out: NDArray[floating]) -> int:
        return 0

    def state(self) -> dict[str, Any]:
        return {"reason": self.reason}


Encoding = Numeric | OneHot | Codes | DateParts | Dropped

_COLUMN = Str(max_len=10_000)
_COLUMNS = List(_COLUMN, 0, 100_000)
_VALUES = List(Num(), 0, 100_000)
_ENCODING = {"column": _COLUMN, "kind": Str(max_len=100)}
_NUMBER = {"median": Num(), "indicator": Bool()}
_CATEGORIES = {**_ENCODING, "categories": _COLUMNS, "rare": _COLUMNS, "missing": Bool()}
#: The JSON of :meth:`chainrule.table.TableEncoder.to_dict`.
ENCODER_SCHEMA = Obj(
    required={
        "min_frequency": Int(1, 2**62), "max_categories": Int(1, 2**62),
        "drop": _COLUMNS, "categorical": _COLUMNS, "numeric": _COLUMNS,
        "columns": List(Tagged("kind", {
            "numeric": Obj(required={**_ENCODING, **_NUMBER}, optional={
                "robust": Obj(required={"centre": Num(), "spread": Num(0.0, lo_open=True)}),
                "edges": List(Num(), 2, 100_001),
                "levels": Obj(required={"values": _VALUES, "rare": _VALUES,
                                        "as_codes": Bool()}),
            }),
            "onehot": Obj(required=_CATEGORIES),
            "codes": Obj(required=_CATEGORIES),
            "date": Obj(required={**_ENCODING, "indicator": Bool(), "parts": Obj(
                optional={part: Obj(required=_NUMBER) for part in DATE_PARTS})}),
            "dropped": Obj(required={**_ENCODING, "reason": Str(max_len=10_000)}),
        }), 1, 100_000),
    },
    optional={
        "numeric_encoding": Str(choices=NUMERIC_ENCODINGS), "ple_bins": Int(1, 10_000),
        "categorical_encoding": Str(choices=CATEGORICAL_ENCODINGS),
    },
)


def encoding_of(c: dict[str, Any]) -> Encoding:
    """The decision one entry of ``to_dict()["columns"]`` describes (its structure checked
    by :data:`ENCODER_SCHEMA`; PLE edges that do not increase are a :class:`TableError`)."""
    name, kind = c["column"], c["kind"]
    if kind == "numeric":
        edges = c.get("edges")
        if edges and any(b <= a for a, b in zip(edges[:-1], edges[1:], strict=True)):
            raise TableError(f"column {name!r}: PLE edges must increase, got {edges[:6]}")
        return Numeric.of_state(name, c)
    if kind in ("onehot", "codes"):
        cls = Codes if kind == "codes" else OneHot
        return cls(name, list(c["categories"]), list(c["rare"]), c["missing"])
    if kind == "date":
        return DateParts.of_state(name, c)
    return Dropped(name, c["reason"])
