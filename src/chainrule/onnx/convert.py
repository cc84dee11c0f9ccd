"""ONNX export: a chainrule network as a standard ONNX graph (``pip install "chainrule[onnx]"``).

The graph takes raw features ``X`` of shape (N, n_in) and returns ``output``, the
network's a^(L), shape (N, n_out):

* the scaler (``net.scaler``) as ``Sub`` / ``Div`` at the input;
* every Dense layer as one ``Gemm`` with ``transB=1``: Gemm computes A Bᵀ + C, so
  chainrule's ``w`` of shape (n_out, n_in) is stored as is, z = a_prev wᵀ + b;
* each activation as its own :meth:`~chainrule.activations.Activation.to_onnx` emits it
  (a new activation brings its lowering along): its ONNX operator (``Relu``, ``Sigmoid``,
  ``Tanh``, ``LeakyRelu``, ``Elu``, ``Softmax``) or, where opset 17 has none, composed from
  primitive operators — GELU in its tanh form, softplus in its overflow-free form
  max(z, 0) + log(1 + e^(−|z|)), and in float64 leaky ReLU and ELU as ``Where``
  (their operators carry α as a float32 and onnxruntime has no double ``Elu``);
* Dropout layers are left out (they are the identity at inference);
* an ensemble's (:mod:`chainrule.engine.ensemble`) layers as batched ``MatMul`` over its K
  members (tensors of shape (K, N, width) after the first), and its output as the
  members' mean (``ReduceSum`` over the member axis, divided by K).

Each layer goes through the converter registered for its type's ``name`` in
:data:`LAYER_CONVERTERS`; a new layer type registers its own with
:func:`register_converter` (Dense and Dropout are registered the same way).

A network trained on a table (one with ``net.encoder``) takes its columns instead of ``X``:
one input per column the encoder reads, named like it, shape (N, 1) — numbers as
``tensor(float)`` (``double`` in float64) with NaN for a missing cell, categories as
``tensor(string)`` — and the encoder's imputation, missing indicators and one-hot
encoding run in the graph before the scaler (:mod:`chainrule.onnx_table`, which says what
each column becomes; date columns are refused). :func:`run` feeds such a model a
DataFrame or a dict of columns.

Weights are initializers; the model passes ``onnx.checker.check_model(full_check=True)``
before it is written, atomically (temporary file, then ``os.replace``).
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from numpy.typing import DTypeLike, NDArray
from onnx import TensorProto, helper, numpy_helper

from chainrule._extras import require
from chainrule.engine.ensemble import Ensemble, GroupedDense
from chainrule.engine.layers import Dense, Dropout
from chainrule.engine.network import Network
from chainrule.io.model import atomic_write_bytes
from chainrule.onnx.encoder import ML_DOMAIN, ML_OPSET, encoder_nodes, table_feed
from chainrule.table import is_table

OPSET = 17
"""The default ONNX opset: old enough for every current runtime, new enough for
per-axis ``Softmax`` and an optional ``Gemm`` bias."""

_ELEM = {np.dtype("float32"): TensorProto.FLOAT, np.dtype("float64"): TensorProto.DOUBLE}


class Graph:
    """Nodes and initializers accumulated while walking the network, with unique names."""

    def __init__(self, dtype: np.dtype) -> None:
        self.dtype = dtype
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0
        self._reserved: set[str] = set()

    def reserve(self, names: list[str]) -> None:
        """Names :meth:`name` must never return (the graph's inputs and output)."""
        self._reserved.update(names)

    def name(self, stem: str) -> str:
        self._count += 1
        while f"{stem}_{self._count}" in self._reserved:
            self._count += 1
        return f"{stem}_{self._count}"

    def const(self, stem: str, value: Any, dtype: DTypeLike | None = None) -> str:
        """An initializer holding ``value`` in ``dtype`` (default the graph's); returns its
        name."""
        name = self.name(stem)
        arr = np.asarray(value, dtype=self.dtype if dtype is None else dtype)
        self.initializers.append(numpy_helper.from_array(arr, name))
        return name

    def op(self, op_type: str, inputs: list[str], stem: str | None = None, **attrs: Any) -> str:
        """Append a node with one output; returns the output's name."""
        out = self.name(stem or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out + "_node", **attrs))
        return out


def to_onnx(
    net: Any,
    *,
    dtype: DTypeLike | None = None,
    opset: int = OPSET,
    input_name: str = "X",
    output_name: str = "output",
) -> onnx.ModelProto:
    """The ONNX model of ``net`` (checked with ``full_check=True``), not yet written.

    Parameters
    ----------
    net : Network or fitted chainrule.sklearn estimator
        An estimator contributes its ``network_`` (and e^z for a Poisson regressor).
    dtype : {"float32", "float64"}, optional
        Element type of the graph's input, weights and output; default the network's.
    opset : int
        ONNX opset to declare (≥ 17).
    input_name, output_name : str
        Names of the graph's input (N, n_in) and output (N, n_out). A network with a
        table encoder has one input per column instead, named like the column (and
        ``input_name`` is unused).

    Returns
    -------
    onnx.ModelProto

    Raises
    ------
    ValueError
        For a table encoder with a date column (ONNX cannot parse dates), and for a
        column named like ``output_name``.
    """
    net, poisson = _network_of(net)
    if isinstance(opset, bool) or not isinstance(opset, int) or opset < OPSET:
        raise ValueError(f"opset: expected an integer ≥ {OPSET}, got {opset!r}")
    dt = np.dtype(dtype) if dtype is not None else net.dtype
    if dt not in _ELEM:
        raise ValueError(f"dtype: expected float32 or float64, got {dtype!r}")
    g = Graph(dt)
    elem = _ELEM[dt]
    g.reserve([output_name])
    graph_inputs, a = _input_nodes(g, net, elem, input_name, output_name)
    a = _layer_nodes(g, net, a)
    if isinstance(net, Ensemble):
        a = _members_mean(g, a, net.members)
    if poisson:
        a = g.op("Exp", [a], stem="mu")
    # The last node's output becomes the graph output (an Identity if nothing was added).
    if g.nodes and g.nodes[-1].output[0] == a:
        g.nodes[-1].output[0] = output_name
    else:
        g.nodes.append(helper.make_node("Identity", [a], [output_name], name="output_node"))
    graph = helper.make_graph(
        g.nodes,
        "chainrule_mlp",
        graph_inputs,
        [helper.make_tensor_value_info(output_name, elem, ["N", net.n_out])],
        initializer=g.initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", opset)]
        + ([helper.make_opsetid(ML_DOMAIN, ML_OPSET)] if net.encoder is not None else []),
        producer_name="chainrule",
        doc_string=f"chainrule {_describe(net)}",
    )
    model.ir_version = min(model.ir_version, 10)  # readable by current onnxruntime releases
    helper.set_model_props(model, _metadata(net))
    onnx.checker.check_model(model, full_check=True)
    return model


def _network_of(net: Any) -> tuple[Network, bool]:
    """(the Network, whether its output is followed by e^z): a Network itself, or a fitted
    estimator's ``network_`` (e^z for a Poisson regressor)."""
    poisson = False
    if not isinstance(net, Network) and isinstance(getattr(net, "network_", None), Network):
        poisson = getattr(net, "out_activation_", None) == "exp"
        net = net.network_
    if not isinstance(net, Network):
        raise ValueError(
            f"net: expected a chainrule Network or a fitted chainrule.sklearn estimator, got "
            f"{type(net).__name__}"
        )
    return net, poisson


def _input_nodes(g: Graph, net: Network, elem: int, input_name: str,
                 output_name: str) -> tuple[list[onnx.ValueInfoProto], str]:
    """The graph's inputs (one per column with a table encoder, else X) and the name of
    a^(0): encoded, then scaled by the network's scaler."""
    if net.encoder is not None:
        if output_name in net.encoder.inputs:
            raise ValueError(f"output_name: {output_name!r} is also the name of an input "
                             "column; pass another output_name")
        graph_inputs, a = encoder_nodes(g, net.encoder)
    else:
        graph_inputs = [helper.make_tensor_value_info(input_name, elem, ["N", net.n_in])]
        a = input_name
    if net.scaler is not None:
        a = g.op("Sub", [a, g.const("scaler_mean", net.scaler.mean)], stem="centred")
        a = g.op("Div", [a, g.const("scaler_scale", net.scaler.scale)], stem="a0")
    return graph_inputs, a


LayerConverter = Callable[[Graph, Any, str], str]
"""Emits one layer at inference into the graph: (graph, layer, name of a_prev) → name of a."""

LAYER_CONVERTERS: dict[str, LayerConverter] = {}
"""The ONNX lowering of every layer type, keyed by the layer class's ``name`` (as
:data:`chainrule.engine.layer.LAYERS` is). A new layer type registers its own with
:func:`register_converter`, from a module of :data:`CONVERTER_MODULES` (loaded on the
first export), without editing this file."""

CONVERTER_MODULES: tuple[str, ...] = ("chainrule.onnx.embeddings",)
"""Modules that register converters when imported; each is imported once, on the first
export, and one not (yet) installed is passed over."""

_loaded_modules = False


def register_converter(name: str) -> Callable[[LayerConverter], LayerConverter]:
    """Decorator: register ``converter(graph, layer, a_prev) -> a`` for the layer type
    ``name`` (its class's ``name``); returns the converter unchanged.

    Examples
    --------
    >>> @register_converter("MyLayer")                                  # doctest: +SKIP
    ... def _my_layer(g: Graph, layer: MyLayer, a_prev: str) -> str:
    ...     return g.op("Mul", [a_prev, g.const("scale", layer.scale)])
    """

    def add(converter: LayerConverter) -> LayerConverter:
        LAYER_CONVERTERS[name] = converter
        return converter

    return add


def _load_converter_modules() -> None:
    """Import :data:`CONVERTER_MODULES` once (registering their converters)."""
    global _loaded_modules
    if _loaded_modules:
        return
    _loaded_modules = True
    for module in CONVERTER_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name != module:  # the module exists but something it imports is missing
                raise


@register_converter(Dense.name)
def _dense(g: Graph, layer: Dense, a_prev: str) -> str:
    """z = a_prev wᵀ + b as one Gemm (transB=1 keeps w as (n_out, n_in)), then g(z)."""
    inputs = [a_prev, g.const("w", layer.w)]
    if layer.b is not None:
        inputs.append(g.const("b", layer.b))
    z = g.op("Gemm", inputs, stem="z", transB=1)
    return layer.activation.to_onnx(g, z)


@register_converter(GroupedDense.name)
def _grouped_dense(g: Graph, layer: GroupedDense, a_prev: str) -> str:
    """An ensemble's layer: z_m = a_prev,m w_mᵀ + b_m of every member m as one batched
    MatMul with the stacked w_mᵀ (K, n_in, n_out) — a_prev is (N, n_in) for the first
    layer (broadcast to every member) and (K, N, n_in) after it; z and a are (K, N, n_out)."""
    w_t = np.ascontiguousarray(layer.w.transpose(0, 2, 1))
    z = g.op("MatMul", [a_prev, g.const("w", w_t)], stem="z")
    if layer.b is not None:
        z = g.op("Add", [z, g.const("b", layer.b[:, None, :])], stem="z")
    return layer.activation.to_onnx(g, z)  # softmax on the last axis: per member


def _members_mean(g: Graph, a: str, members: int) -> str:
    """The ensemble's output from its members' a^(L) (K, N, n_out): their mean (N, n_out)."""
    total = g.op("ReduceSum", [a, g.const("member_axis", [0], np.int64)], stem="members_sum",
                 keepdims=0)
    return g.op("Div", [total, g.const("members", members)], stem="members_mean")


@register_converter(Dropout.name)
def _dropout(g: Graph, layer: Dropout, a_prev: str) -> str:
    """The identity at inference: no node."""
    return a_prev


def _layer_nodes(g: Graph, net: Network, a: str) -> str:
    """Every layer at inference, from a^(0) named ``a``, each through its converter in
    :data:`LAYER_CONVERTERS`; returns the name of a^(L). A layer type without one is
    refused rather than left out."""
    _load_converter_modules()
    for i, layer in enumerate(net.layers):
        converter = LAYER_CONVERTERS.get(type(layer).name)
        if converter is None:
            raise ValueError(f"net: layers[{i}] is a {type(layer).__name__}, which has no "
                             "ONNX lowering (types with one: "
                             f"{', '.join(sorted(LAYER_CONVERTERS))})")
        a = converter(g, layer, a)
    return a


def _metadata(net: Network) -> dict[str, str]:
    """The model's metadata: the network's config, its classes and its table encoder."""
    meta = {"chainrule_config": json.dumps(net.get_config())}
    if net.classes is not None:
        meta["classes"] = json.dumps([_jsonable(c) for c in net.classes])
    if net.encoder is not None:
        meta["chainrule_encoder"] = json.dumps(net.encoder.to_dict())
    return meta


def export(
    net: Any,
    path: str | os.PathLike[str],
    *,
    dtype: DTypeLike | None = None,
    opset: int = OPSET,
) -> Path:
    """Write ``net`` as an ONNX model to ``path`` (atomically); see :func:`to_onnx`.

    Returns
    -------
    Path
        The written file.

    Examples
    --------
    >>> chainrule.onnx.export(net, "model.onnx")                      # doctest: +SKIP
    >>> sess = onnxruntime.InferenceSession("model.onnx")             # doctest: +SKIP
    >>> sess.run(None, {"X": X.astype(np.float32)})[0]                # doctest: +SKIP
    """
    model = to_onnx(net, dtype=dtype, opset=opset)
    target = Path(path)
    if target.is_dir():
        raise ValueError(f"path: {str(target)!r} is a directory; expected a file name")
    if not target.parent.exists():
        raise ValueError(f"path: folder {str(target.parent)!r} does not exist")
    return atomic_write_bytes(target, model.SerializeToString())


def _describe(net: Network) -> str:
    sizes = [net.n_in, *(d.n_out for d in net.dense_layers)]
    acts = [d.activation.name for d in net.dense_layers]
    members = f" members={net.members}" if isinstance(net, Ensemble) else ""
    return f"MLP sizes={sizes} activations={acts}{members}"


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def run(model_or_path: Any, X: Any) -> NDArray:
    """Run an exported model on X with onnxruntime (CPU); returns ``output``.

    A convenience for checking an export; needs ``onnxruntime``.

    Parameters
    ----------
    model_or_path : onnx.ModelProto or path
    X : ndarray of shape (n_samples, n_in), or a table
        Features for a plain model; for a model exported with a table encoder, a pandas
        DataFrame or a dict of columns (extra columns ignored), each fed to the input of
        its name as the encoder reads it: numbers as floats with NaN for a missing cell
        (None, NaN, ``"NA"``, … and numbers written as text, ``"1,234"``, parsed),
        categories as strings (trimmed; numbers written like ``3`` for 3.0).
    """
    require("onnxruntime", "chainrule.onnx.run")
    import onnxruntime as ort

    if isinstance(model_or_path, onnx.ModelProto):
        source: Any = model_or_path.SerializeToString()
    else:
        source = str(model_or_path)
    sess = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    if is_table(X):
        return sess.run(None, table_feed(sess.get_inputs(), X))[0]
    if len(sess.get_inputs()) != 1:
        names = ", ".join(i.name for i in sess.get_inputs())
        raise ValueError(f"X: this model takes named columns ({names}); pass a DataFrame "
                         f"or a dict of columns, got {type(X).__name__}")
    inp = sess.get_inputs()[0]
    want = np.float64 if inp.type == "tensor(double)" else np.float32
    return sess.run(None, {inp.name: np.asarray(X, dtype=want)})[0]


__all__ = ["LAYER_CONVERTERS", "OPSET", "export", "register_converter", "run", "to_onnx"]
