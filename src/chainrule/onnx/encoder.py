"""The table encoder as ONNX nodes: one graph input per column, a^(0)'s features out.

:func:`chainrule.onnx.to_onnx` calls :func:`encoder_nodes` for a network trained on a table
(one with ``net.encoder``), as skl2onnx does for a ``ColumnTransformer``: each column the
encoder reads (``encoder.inputs``) becomes a graph input of shape (N, 1), named like the
column, and its features are computed in the graph and concatenated in exactly
``encoder.names`` order, ready for the scaler and the Dense layers.

* :class:`~chainrule.table.Numeric` — input ``tensor(float)`` (``double`` for a float64
  export), NaN marking a missing cell: ``Where(IsNaN(x), median, x)``, then its reading —
  as it is; robust, ``u = (x − centre) / spread`` then ``u / Sqrt(1 + (u/3)²)``; or PLE,
  ``Clip((x − edges[:-1]) / (edges[1:] − edges[:-1]), 0, 1)`` broadcast to (N, T) — with
  ``indicator`` a feature ``Cast(IsNaN(x))``, and with ``levels`` (an integer code) its
  values as categories: ``Cast(Equal(x, values))`` one-hot (a ``(rare)`` feature the same
  against the rare values, summed by ``MatMul``), or one code feature
  ``MatMul(Cast(Equal(x, values)), [1 … m])`` (0 for a value never seen, or missing). A
  column the encoder read from numbers written as text (``"1,234"``, ``"12%"``) is a number
  input too: parse it before feeding it (:func:`chainrule.onnx.run` does, as the encoder
  does).
* :class:`~chainrule.table.OneHot` — input ``tensor(string)``: the ``ai.onnx.ml``
  ``LabelEncoder`` maps each training category to its feature's index, rare categories to
  the ``(rare)`` feature, the missing-cell tokens (:data:`chainrule.table.MISSING`) to the
  ``(missing)`` feature where training had missing cells, and anything else to −1; then
  ``Equal`` against 0 … k−1 and ``Cast`` give the 0/1 row (all zeros for a category never
  seen in training, as the encoder gives). Cells are matched exactly as given: the encoder
  trims spaces around a cell and writes numbers as category labels like ``3`` (for 3.0);
  a caller feeding the graph directly does the same (:func:`chainrule.onnx.run` does).
* :class:`~chainrule.table.Codes` — input ``tensor(string)``: a ``LabelEncoder`` maps the
  training categories to 1 … m and anything else (rare, missing, never seen) to 0, cast to
  the feature's float type.
* :class:`~chainrule.table.DateParts` — refused with a ``ValueError`` naming the column:
  opset 17 has no operator that parses date text.
* :class:`~chainrule.table.Dropped` — no input at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper

from chainrule.table import (
    MISSING,
    Codes,
    DateParts,
    Dropped,
    Levels,
    Numeric,
    OneHot,
    Table,
    TableEncoder,
)
from chainrule.table.columns import Column, NumberColumn, number_label
from chainrule.table.numeric import CLIP
from chainrule.table.parse import text_numbers

if TYPE_CHECKING:
    from chainrule.onnx.convert import Graph

ML_DOMAIN = "ai.onnx.ml"
ML_OPSET = 3
"""The ``ai.onnx.ml`` opset declared by a table model: ``LabelEncoder`` string → int64 with
a default (since ml opset 2), readable by every current runtime."""


def check_exportable(encoder: TableEncoder) -> None:
    """Raise ``ValueError`` for what the graph cannot express, naming the column."""
    for e in encoder.encodings:
        if isinstance(e, DateParts):
            raise ValueError(
                f"column {e.column!r} is a date split into parts ({', '.join(e.part_names)}), "
                "which ONNX export does not support (ONNX has no operator that parses date "
                f"text); retrain with --drop {e.column} (TableEncoder(drop=[{e.column!r}])), "
                "or with the parts as numeric columns of the table"
            )
        if not isinstance(e, Dropped) and not e.column:
            raise ValueError("a column with an empty name cannot be an ONNX input (an "
                             "empty name means 'no input' in ONNX); rename it and retrain")


def encoder_nodes(g: Graph, encoder: TableEncoder) -> tuple[list[onnx.ValueInfoProto], str]:
    """Add the encoder's nodes to ``g``; returns the graph inputs (one per column, in
    ``encoder.inputs`` order) and the name of the features, shape (N, encoder.n_out)."""
    check_exportable(encoder)
    g.reserve(encoder.inputs)
    elem = _elem(g.dtype)
    inputs: list[onnx.ValueInfoProto] = []
    features: list[str] = []
    for e in encoder.encodings:
        if isinstance(e, Numeric):
            inputs.append(helper.make_tensor_value_info(
                e.column, elem, ["N", 1], doc_string=_numeric_doc(e)))
            features += _numeric(g, e, elem)
        elif isinstance(e, Codes):
            inputs.append(helper.make_tensor_value_info(
                e.column, TensorProto.STRING, ["N", 1], doc_string=_one_hot_doc(e)))
            features.append(_codes(g, e, elem))
        elif isinstance(e, OneHot):
            inputs.append(helper.make_tensor_value_info(
                e.column, TensorProto.STRING, ["N", 1], doc_string=_one_hot_doc(e)))
            features.append(_one_hot(g, e, elem))
    return inputs, g.op("Concat", features, stem="encoded", axis=1)


def _numeric(g: Graph, e: Numeric, elem: int) -> list[str]:
    """The features of :meth:`chainrule.table.Numeric.encode_values`, in its order."""
    missing = g.op("IsNaN", [e.column], stem="missing")
    x = g.op("Where", [missing, g.const("median", e.median), e.column], stem="imputed")
    if e.edges:
        lo, hi = np.asarray(e.edges[:-1]), np.asarray(e.edges[1:])
        t = g.op("Div", [g.op("Sub", [x, g.const("ple_lo", lo)], stem="ple_from"),
                         g.const("ple_width", hi - lo)], stem="ple_t")  # (N, 1) with (T,)
        out = [g.op("Clip", [t, g.const("zero", 0.0), g.const("one", 1.0)], stem="ple")]
    elif e.robust:
        centre, spread = e.robust
        u = g.op("Div", [g.op("Sub", [x, g.const("centre", centre)], stem="centred"),
                         g.const("spread", spread)], stem="robust")
        v = g.op("Div", [u, g.const("clip", CLIP)], stem="over_clip")
        root = g.op("Sqrt", [g.op("Add", [g.const("one", 1.0),
                                          g.op("Mul", [v, v], stem="square")], stem="one_plus")],
                    stem="root")
        out = [g.op("Div", [u, root], stem="clipped")]  # u / sqrt(1 + (u/3)^2)
    else:
        out = [x]
    if e.indicator:
        out.append(g.op("Cast", [missing], stem="indicator", to=elem))
    if e.levels:
        out.append(_levels(g, e.column, e.levels, elem))
    return out


def _levels(g: Graph, column: str, levels: Levels, elem: int) -> str:
    """An integer code's values as categories: one-hot (then ``(rare)``), or one code
    feature 1 … m; a missing cell (NaN) equals no value and sets nothing."""
    hot = g.op("Cast", [g.op("Equal", [column, g.const("levels", levels.values)],
                             stem="level_is")], stem="level_hot", to=elem)  # (N, k)
    if levels.as_codes:
        codes = np.arange(1, len(levels.values) + 1).reshape(-1, 1)
        return g.op("MatMul", [hot, g.const("level_codes", codes)], stem="level_code")
    if not levels.rare:
        return hot
    rare = g.op("Cast", [g.op("Equal", [column, g.const("rare_levels", levels.rare)],
                              stem="rare_is")], stem="rare_hot", to=elem)
    pooled = g.op("MatMul", [rare, g.const("rare_sum", np.ones((len(levels.rare), 1)))],
                  stem="rare_level")  # the values are distinct: at most one is 1
    return g.op("Concat", [hot, pooled], stem="level_features", axis=1)


def _codes(g: Graph, e: Codes, elem: int) -> str:
    """One feature of codes: 1 … m for the training categories, 0 for anything else."""
    index = g.op("LabelEncoder", [e.column], stem="code", domain=ML_DOMAIN,
                 keys_strings=list(e.categories),
                 values_int64s=list(range(1, len(e.categories) + 1)), default_int64=0)
    return g.op("Cast", [index], stem="code_feature", to=elem)


def _one_hot(g: Graph, e: OneHot, elem: int) -> str:
    """One 0/1 feature per training category, then ``(rare)``, then ``(missing)``, as
    :meth:`chainrule.table.OneHot.encode` orders them."""
    position = {c: i for i, c in enumerate(e.categories)}
    pooled = len(e.categories)
    position.update({c: pooled for c in e.rare})
    if e.missing:
        position.update({token: pooled + bool(e.rare) for token in sorted(MISSING)})
    index = g.op("LabelEncoder", [e.column], stem="category", domain=ML_DOMAIN,
                 keys_strings=list(position), values_int64s=list(position.values()),
                 default_int64=-1)  # a category never seen: no feature is 1
    width = len(e.names)
    hot = g.op("Equal", [index, g.const("feature_index", np.arange(width), dtype=np.int64)],
               stem="hot")  # (N, 1) against (width,): (N, width)
    return g.op("Cast", [hot], stem="onehot", to=elem)


def _numeric_doc(e: Numeric) -> str:
    reading = {"standard": "", "robust": "; robust scaled and smoothly clipped",
               "ple": f"; piecewise-linear over {e.width} quantile bins"}[e.reading]
    return (f"numbers, NaN where missing (filled with the training median {e.median:g}"
            + (", plus a missing-indicator feature)" if e.indicator else ")") + reading
            + (f"; an integer code, its {len(e.levels.values)} values also as categories"
               if e.levels else ""))


def _one_hot_doc(e: OneHot) -> str:
    shown = ", ".join(e.categories[:10]) + (", …" if len(e.categories) > 10 else "")
    return (f"text categories ({shown})" + (f"; {len(e.rare)} rare pooled" if e.rare else "")
            + ("; missing cells as the (missing) feature" if e.missing else "")
            + "; a category not seen in training is all zeros")


def _elem(dtype: np.dtype) -> int:
    return TensorProto.DOUBLE if dtype == np.dtype("float64") else TensorProto.FLOAT


# -- feeding a table model ---------------------------------------------------------------
def table_feed(inputs: Sequence[Any], data: Any) -> dict[str, NDArray[Any]]:
    """onnxruntime feeds for ``inputs`` (a session's ``get_inputs()``) from a DataFrame, a
    dict of columns or a :class:`~chainrule.table.Table`, read the way the encoder reads
    them: each column by name as an array of shape (N, 1); strings as an object array
    (numbers written as category labels, missing cells as ``""``), numbers as float with
    NaN for a missing cell (text parsed as ``"1,234"``-style numbers)."""
    table = Table.of(data)
    absent = [i.name for i in inputs if i.name not in table.columns]
    if absent:
        raise ValueError(f"X: missing column(s) {', '.join(map(repr, absent))}; the model "
                         f"takes columns {', '.join(i.name for i in inputs)}")
    feed: dict[str, NDArray[Any]] = {}
    for i in inputs:
        col = table[i.name]
        if i.type == "tensor(string)":
            feed[i.name] = _cells(col).reshape(-1, 1)
        else:
            want = np.float64 if i.type == "tensor(double)" else np.float32
            feed[i.name] = _numbers(col).astype(want).reshape(-1, 1)
    return feed


def _cells(col: Column) -> NDArray[np.object_]:
    if isinstance(col, NumberColumn):
        return np.array([number_label(v) if v == v else "" for v in col.values.tolist()],
                        dtype=object)  # v != v: NaN, a missing cell
    vocab = np.array([*col.vocab, ""], dtype=object)
    return vocab[col.codes]  # code -1 (missing) picks the last entry


def _numbers(col: Column) -> NDArray[np.float64]:
    if isinstance(col, NumberColumn):
        return col.values
    values = np.append(text_numbers(col.vocab), np.nan)
    return values[col.codes]
