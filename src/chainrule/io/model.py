"""Model files: safetensors arrays plus JSON metadata, written atomically, never pickled.

A chainrule model stores ``layers.{l}.w`` of shape (n_out, n_in) and ``layers.{l}.b``
for every Dense layer l = 1 … L (the notes' numbering), ``scaler.mean`` and
``scaler.scale`` when the network has a scaler, and ``optimizer.{slot}`` (e.g.
``optimizer.m``, ``optimizer.v`` for Adam) when it has been trained. The metadata
(:mod:`chainrule.io.metadata`) holds the architecture, classes, feature names, optimizer
and generator state and a training summary. The bytes are a safetensors container
(:mod:`chainrule.io.container`).

The layer (de)serialisation — which tensors a layer owns, and putting them back — is in
:func:`layer_arrays`, :func:`layers_from_config`, :func:`layer_tensors` and
:func:`set_layer_arrays`; everything else here is the same for every layer type.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from .atomic import atomic_write_bytes as atomic_write_bytes  # the writer of every save
from .container import (
    MAX_HEADER_BYTES,
    MAX_NDIM,
    MAX_TENSOR_BYTES,
    MAX_TENSORS,
    TENSOR_SCHEMA,
    ModelFileError,
    TensorEntry,
    dumps_safetensors,
    header_length,
    loads_safetensors,
    parse_header,
    read_tensors,
)
from .errors import check_readable_file, os_reason
from .metadata import (
    BIT_GENERATORS,
    FORMAT,
    FORMAT_VERSION,
    MAX_LAYERS,
    MAX_UNITS,
    METADATA_KEYS,
    METADATA_SCHEMA,
    OPTIONAL_METADATA_KEYS,
    check_architecture,
    metadata_values,
)

#: What building layers, losses and optimizers from a checked config may still raise.
_BUILD_ERRORS = (KeyError, TypeError, ValueError, ArithmeticError, AttributeError)


# -- layers: which tensors each owns ------------------------------------------------------
def _tensor_names(layers: list[Any]) -> list[dict[str, str]]:
    """Per layer, the file's name of each of its parameters: ``layers.{l}.w`` and
    ``layers.{l}.b`` for the l-th Dense layer (counted from 1, as the notes do, and as every
    file has been written), ``layers[{i}].{name}`` for a parameter of another layer type
    (i: its place in ``config.layers``)."""
    from ..engine.layers import Dense

    names: list[dict[str, str]] = []
    layer_index = 0
    for i, layer in enumerate(layers):
        if isinstance(layer, Dense):
            layer_index += 1
            stem = f"layers.{layer_index}."
        else:
            stem = f"layers[{i}]."
        names.append({name: stem + name for name, _ in layer.param_shapes()})
    return names


def layer_arrays(net: Any) -> dict[str, NDArray]:
    """The tensors of ``net``'s layers, by name in the file (see :func:`_tensor_names`)."""
    arrays: dict[str, NDArray] = {}
    for i, names in enumerate(_tensor_names(net.layers)):
        params = net.layer_params(i)
        for name, file_name in names.items():
            arrays[file_name] = params[name]
    return arrays


def layers_from_config(layer_configs: list[dict[str, Any]], source: str) -> list[Any]:
    """Build each layer from its checked config and connect it to the width of the one
    before (so it knows its parameters' shapes); one that cannot be built or cannot follow
    is named."""
    from ..engine.layers import layer_from_config

    layers = []
    n_prev = None
    for i, layer_config in enumerate(layer_configs):
        try:
            layer = layer_from_config(layer_config)
            layer.connect(n_prev)
        except _BUILD_ERRORS as exc:
            raise ModelFileError(source, f"invalid layer ({exc})",
                                 f"config.layers[{i}]") from None
        layers.append(layer)
        n_prev = layer.n_out
    return layers


def layer_tensors(layers: list[Any], dtype: np.dtype
                  ) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """The (shape, dtype) of every tensor the layers own, by name (see :func:`layer_arrays`)."""
    expected: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
    for layer, names in zip(layers, _tensor_names(layers), strict=True):
        for name, shape in layer.param_shapes():
            expected[names[name]] = (shape, dtype)
    return expected


def set_layer_arrays(net: Any, arrays: dict[str, NDArray]) -> None:
    """Put each layer's tensors back (and take them out of ``arrays``)."""
    for i, names in enumerate(_tensor_names(net.layers)):
        params = net.layer_params(i)
        for name, file_name in names.items():
            params[name][...] = arrays.pop(file_name)


# -- writing ------------------------------------------------------------------------------
def _jsonable(value: Any) -> Any:
    """Classes and summaries as plain JSON (NumPy scalars become Python numbers)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def model_to_bytes(net: Any, training: dict[str, Any] | None = None,
                   feature_names: list[str] | None = None) -> bytes:
    """The bytes of a model file for ``net`` (see :func:`save`)."""
    from .._version import __version__

    if getattr(net, "backend", "numpy") != "numpy":  # weights copied to the host to be saved
        net = net.to_backend("numpy")

    arrays = layer_arrays(net)
    if net.scaler is not None:
        arrays["scaler.mean"] = net.scaler.mean
        arrays["scaler.scale"] = net.scaler.scale
    optimizer = None
    if net.optimizer is not None:
        state = net.optimizer.state_dict()
        optimizer = {"config": net.optimizer.get_config(), "t": int(state.pop("t"))}
        for slot, value in state.items():
            arrays[f"optimizer.{slot}"] = value
    rng_state = net.rng.bit_generator.state
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "chainrule_version": __version__,
        "config": json.dumps(net.get_config()),
        "classes": json.dumps(_jsonable(net.classes)),
        "feature_names": json.dumps(_jsonable(feature_names)),
        "scaler": json.dumps(net.scaler is not None),
        "optimizer": json.dumps(_jsonable(optimizer)),
        "rng": json.dumps(_jsonable(rng_state)),
        "training": json.dumps(_jsonable(training or {})),
    }
    if net.encoder is not None:  # the table's columns are the inputs, matched by name
        metadata["encoder"] = json.dumps(net.encoder.to_dict())
        metadata["feature_names"] = json.dumps(net.encoder.inputs)
    return dumps_safetensors(arrays, metadata)


def save(net: Any, path: str | os.PathLike[str], *, training: dict[str, Any] | None = None,
         feature_names: list[str] | None = None) -> Path:
    """Save ``net`` (weights, scaler, classes, optimizer state) to a ``.safetensors`` file.

    Parameters
    ----------
    net : Network
    path : path of the file to write (atomically: a crash leaves any old file intact)
    training : dict, optional
        A JSON-able summary stored with the model (data set, epochs, final metrics).
    feature_names : list of str, optional
        Names of the input columns, so ``chainrule predict`` can pick them from a CSV.
    """
    return atomic_write_bytes(path, model_to_bytes(net, training, feature_names))


# -- reading ------------------------------------------------------------------------------
class LoadedModel:
    """What :func:`read_model` found besides the network: metadata for ``info``."""

    def __init__(self, net: Any, metadata: dict[str, Any]) -> None:
        self.net = net
        self.metadata = metadata

    @property
    def training(self) -> dict[str, Any]:
        return dict(self.metadata.get("training") or {})

    @property
    def feature_names(self) -> list[str] | None:
        names = self.metadata.get("feature_names")
        return list(names) if names else None


class _Parts(NamedTuple):
    """What the checked metadata builds before any tensor is read."""

    layers: list[Any]
    dtype: np.dtype
    optimizer: Any | None
    t: int  # the optimizer's step count; its slots are saved only once t > 0


def _read_header(fh: Any, source: str) -> tuple[int, list[TensorEntry], dict[str, Any]]:
    """(where the data starts, the tensor table, the checked metadata values)."""
    try:
        size = os.fstat(fh.fileno()).st_size
        n = header_length(fh.read(8), size, source)
        head = fh.read(n)
    except OSError as exc:
        raise ModelFileError(source, os_reason(exc)) from None
    if len(head) != n:
        raise ModelFileError(source, "the file ends inside the header (truncated?)")
    tensors, raw_meta = parse_header(head, size - 8 - n, source)
    del head
    meta = metadata_values(raw_meta, source)
    check_architecture(meta, source)
    return 8 + n, tensors, meta


def _build_parts(meta: dict[str, Any], source: str) -> _Parts:
    """The layers, loss and optimizer the metadata names, built to prove they can be."""
    from ..engine.losses import get_loss
    from ..training.optimizers import get_optimizer

    config = meta["config"]
    layers = layers_from_config(config["layers"], source)
    try:
        get_loss(config["loss"])
    except _BUILD_ERRORS as exc:
        raise ModelFileError(source, f"invalid loss ({exc})", "config.loss") from None
    optimizer, t = None, 0
    if meta["optimizer"] is not None:
        try:
            optimizer = get_optimizer(meta["optimizer"]["config"])
        except _BUILD_ERRORS as exc:
            raise ModelFileError(source, f"invalid optimizer ({exc})",
                                 "optimizer.config") from None
        t = meta["optimizer"]["t"]
    return _Parts(layers, np.dtype(config["dtype"]), optimizer, t)


def _expected_tensors(parts: _Parts, meta: dict[str, Any]
                      ) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """The (shape, dtype) of every tensor the architecture implies, by name."""
    expected = layer_tensors(parts.layers, parts.dtype)
    n_params = sum(math.prod(shape) for shape, _ in expected.values())
    if meta["scaler"]:
        n_in = parts.layers[0].n_in  # the network's input: an embedding's, if one is first
        expected["scaler.mean"] = expected["scaler.scale"] = ((n_in,), np.dtype(np.float64))
    if parts.optimizer is not None and parts.t > 0:
        for slot in parts.optimizer.slots:
            expected[f"optimizer.{slot}"] = ((n_params,), parts.dtype)
    return expected


def _match_tensors(tensors: list[TensorEntry],
                   expected: dict[str, tuple[tuple[int, ...], np.dtype]], source: str) -> None:
    """The file's tensors are exactly the expected ones, each of its shape and dtype."""
    found = {t.name: t for t in tensors}
    unknown = sorted(set(found) - set(expected))
    missing = sorted(set(expected) - set(found))
    if unknown or missing:
        raise ModelFileError(
            source, f"tensors do not match the architecture (unexpected: "
            f"{', '.join(n if len(n) <= 80 else n[:77] + '...' for n in unknown) or 'none'}"
            f"; missing: "
            f"{', '.join(missing) or 'none'})"
        )
    for name, (shape, dt) in expected.items():
        entry = found[name]
        if entry.shape != shape or entry.dtype != dt:
            raise ModelFileError(source, f"tensor {name!r} has shape {entry.shape} and dtype "
                                 f"{entry.dtype.name}, expected {shape} and {dt.name}")


def _read_arrays(fh: Any, offset: int, tensors: list[TensorEntry], source: str
                 ) -> dict[str, NDArray]:
    """Every tensor's array, each checked to be finite."""
    try:
        arrays = read_tensors(fh, offset, tensors, source)
    except OSError as exc:
        raise ModelFileError(source, os_reason(exc)) from None
    for name, arr in arrays.items():
        if not np.all(np.isfinite(arr)):
            raise ModelFileError(source, f"tensor {name!r} contains NaN or inf")
    return arrays


def _network(parts: _Parts, meta: dict[str, Any], source: str) -> Any:
    """The network, with a generator of the saved kind (its state is restored later)."""
    from ..engine.network import Network

    config, rng_state = meta["config"], meta["rng"]
    bit_generator = BIT_GENERATORS[rng_state["bit_generator"]][0] if rng_state else np.random.PCG64
    try:
        return Network(parts.layers, loss=config["loss"], dtype=parts.dtype, l2=config["l2"],
                       fused=config.get("fused", True),
                       rng=np.random.Generator(bit_generator(0)))
    except _BUILD_ERRORS as exc:
        raise ModelFileError(source, f"invalid model config ({exc})", "config") from None


def _restore_state(net: Any, parts: _Parts, meta: dict[str, Any],
                   arrays: dict[str, NDArray], source: str) -> None:
    """Scaler, encoder, classes, optimizer state and generator state, onto ``net``."""
    from ..table.scaler import Standardizer

    if meta["scaler"]:
        try:
            net.scaler = Standardizer(arrays["scaler.mean"], arrays["scaler.scale"])
        except _BUILD_ERRORS as exc:
            raise ModelFileError(source, f"invalid scaler ({exc})", "scaler") from None
    if meta["encoder"] is not None:
        from ..table import TableEncoder

        net.encoder = TableEncoder.from_dict(meta["encoder"])
    if meta["classes"] is not None:
        net.classes = meta["classes"]
    if parts.optimizer is not None:
        slots = {slot: arrays[f"optimizer.{slot}"] for slot in parts.optimizer.slots
                 if parts.t > 0}
        try:
            parts.optimizer.load_state_dict({"t": parts.t, **slots})
        except _BUILD_ERRORS as exc:
            raise ModelFileError(source, f"invalid optimizer state ({exc})", "optimizer") from None
        net.optimizer = parts.optimizer
    if meta["rng"] is not None:
        try:  # in place: Dropout layers hold this same generator
            net.rng.bit_generator.state = meta["rng"]
        except _BUILD_ERRORS as exc:
            raise ModelFileError(source, f"invalid generator state ({exc})", "rng") from None


def read_model(path: str | os.PathLike[str]) -> LoadedModel:
    """Load a model file and its metadata; see :func:`load`.

    The order bounds what a hostile file can cost: the header length is checked against
    the file's size and :data:`MAX_HEADER_BYTES` before the header is read; the header's
    JSON against its nesting and size caps before it is parsed; the whole metadata
    against :data:`METADATA_SCHEMA`, and every tensor's name, shape, dtype and offsets
    against the architecture, before any array is allocated.
    """
    path = Path(path)
    source = str(path)
    if path.is_dir():
        raise ModelFileError(source, "is a directory; give the model file, e.g. "
                             f"{path / 'model.safetensors'}")
    check_readable_file(path, ModelFileError, "model file")
    try:
        fh = open(path, "rb")  # noqa: SIM115 (closed below; the reads raise ModelFileError)
    except OSError as exc:
        raise ModelFileError(source, os_reason(exc)) from None
    with fh:
        offset, tensors, meta = _read_header(fh, source)
        parts = _build_parts(meta, source)
        _match_tensors(tensors, _expected_tensors(parts, meta), source)
        arrays = _read_arrays(fh, offset, tensors, source)
    net = _network(parts, meta, source)
    set_layer_arrays(net, arrays)
    _restore_state(net, parts, meta, arrays, source)
    return LoadedModel(net, meta)


def load(path: str | os.PathLike[str], *, backend: str = "numpy", device: Any = None) -> Any:
    """Load a network saved by :func:`save`: weights, scaler, classes, optimizer state.

    ``backend`` (and ``device``) put it on another array library (:mod:`chainrule.backend`):
    the file is read and checked on the host, then the weights are copied there.

    The file is validated before anything is built: format and version, tensor names,
    shapes and dtypes against the stored architecture. A loaded network predicts
    bit-identically to the saved one, and ``net.fit(...)`` resumes with the saved
    optimizer (its step count and moments).

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ModelFileError
        Anything else wrong with the file, or a file that cannot be read: a
        :class:`~chainrule.errors.FileFormatError` (a ``ValueError``) whose message names
        the file and, where one applies, the key path or tensor.
    """
    net = read_model(path).net
    if backend != "numpy" or device is not None:
        net = net.to_backend(backend, device)
    return net


__all__ = [
    "BIT_GENERATORS", "FORMAT", "FORMAT_VERSION", "MAX_HEADER_BYTES", "MAX_LAYERS", "MAX_NDIM",
    "MAX_TENSOR_BYTES", "MAX_TENSORS", "MAX_UNITS", "METADATA_KEYS", "METADATA_SCHEMA",
    "OPTIONAL_METADATA_KEYS", "TENSOR_SCHEMA", "LoadedModel", "ModelFileError",
    "atomic_write_bytes", "dumps_safetensors", "layer_arrays", "layer_tensors",
    "layers_from_config", "load", "loads_safetensors", "model_to_bytes", "read_model", "save",
    "set_layer_arrays",
]
