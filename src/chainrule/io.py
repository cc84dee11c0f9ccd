"""Model files: safetensors arrays plus JSON metadata, written atomically, never pickled.

The safetensors layout (https://github.com/huggingface/safetensors), written and read
here with NumPy alone::

    8 bytes   N, little-endian unsigned 64-bit: length of the header
    N bytes   JSON: {"__metadata__": {str: str}, name: {"dtype": "F32", "shape": [..],
              "data_offsets": [begin, end]}, ...}, padded with spaces
    rest      the arrays' raw little-endian bytes; offsets count from here

A chainrule model stores ``layers.{l}.w`` of shape (n_out, n_in) and ``layers.{l}.b``
for every Dense layer l = 1 … L (the notes' numbering), ``scaler.mean`` and
``scaler.scale`` when the network has a scaler, and ``optimizer.{slot}`` (e.g.
``optimizer.m``, ``optimizer.v`` for Adam) when it has been trained. The metadata
holds, each as a JSON string: ``format`` ("chainrule.mlp"), ``format_version``,
``chainrule_version``, ``config`` (:meth:`Network.get_config`), ``classes``,
``feature_names``, ``scaler``, ``optimizer`` (config and step count t), ``rng``
(the generator's state, so resumed training shuffles as uninterrupted training
would) and ``training`` (a free summary).
"""

from __future__ import annotations

import json
import math
import os
import struct
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

FORMAT = "chainrule.mlp"
FORMAT_VERSION = 1
MAX_HEADER_BYTES = 100_000_000

_DTYPES: dict[str, np.dtype] = {
    "F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "I64": np.dtype("<i8")
}
_CODES = {dt.name: code for code, dt in _DTYPES.items()}


class ModelFileError(ValueError):
    """A model file that is not a valid chainrule model (the message names file and problem)."""


# -- atomic writes ------------------------------------------------------------------------
def _set_mode(fd: int, path: Path) -> None:
    """Give the temporary file the mode a plain ``open(path, "w")`` would: the old file's,
    else 0o666 less the umask (mkstemp's 0o600 would hide a shared model from others)."""
    if not hasattr(os, "fchmod"):  # Windows: permissions are not POSIX modes
        return
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    os.fchmod(fd, mode)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` so that it is either fully written or untouched.

    A temporary file in the same directory is written, flushed and fsync'ed, then
    renamed over ``path`` with :func:`os.replace` (atomic on POSIX and Windows). If
    anything fails before the rename, the temporary file is removed and the previous
    ``path`` is left as it was.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: is a directory; give a file path")
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"{path}: the directory {path.parent} does not exist; create it first"
        )
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        _set_mode(fd, path)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:  # make the rename itself durable; not every platform can open a directory
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return path
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
    return path


# -- the safetensors container -----------------------------------------------------------------
def dumps_safetensors(arrays: dict[str, NDArray], metadata: dict[str, str] | None = None) -> bytes:
    """Serialize named arrays (float32, float64 or int64) and a str → str metadata map."""
    header: dict[str, Any] = {}
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise ValueError(f"metadata: keys and values must be strings, got {k!r}: {v!r}")
        header["__metadata__"] = dict(metadata)
    chunks, offset = [], 0
    for name in sorted(arrays):
        arr = np.asarray(arrays[name])
        if arr.dtype.name not in _CODES:
            raise ValueError(f"arrays[{name!r}]: dtype {arr.dtype} is not one of "
                             f"{', '.join(_CODES)}")
        raw = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": _CODES[arr.dtype.name], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    head += b" " * (-len(head) % 8)  # keep the data 8-byte aligned, as safetensors does
    return struct.pack("<Q", len(head)) + head + b"".join(chunks)


def loads_safetensors(data: bytes, source: str = "<bytes>"
                      ) -> tuple[dict[str, NDArray], dict[str, str]]:
    """Parse safetensors bytes into (arrays, metadata), checking every offset and shape."""
    def bad(msg: str) -> ModelFileError:
        return ModelFileError(f"{source}: {msg}")

    if len(data) < 8:
        raise bad(f"{len(data)} bytes is too short for a safetensors file (truncated?)")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER_BYTES or 8 + n > len(data):
        raise bad(f"header length {n} exceeds the file size {len(data)} (truncated or not a "
                  "safetensors file)")
    try:
        header = json.loads(data[8 : 8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise bad(f"the header is not valid JSON ({type(exc).__name__}: {exc})") from None
    if not isinstance(header, dict):
        raise bad("the header is not a JSON object")
    metadata = header.pop("__metadata__", {}) or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise bad("__metadata__ must map strings to strings")
    buffer = memoryview(data)[8 + n :]
    arrays: dict[str, NDArray] = {}
    spans = []
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise bad(f"tensor {name!r}: expected keys dtype, shape, data_offsets")
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            raise bad(f"tensor {name!r}: dtype {info['dtype']!r} is not one of "
                      f"{', '.join(_DTYPES)}")
        shape, offsets = info["shape"], info["data_offsets"]
        if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
            raise bad(f"tensor {name!r}: shape {shape!r} is not a list of non-negative integers")
        if not (isinstance(offsets, list) and len(offsets) == 2
                and all(isinstance(o, int) for o in offsets)):
            raise bad(f"tensor {name!r}: data_offsets {offsets!r} is not [begin, end]")
        begin, end = offsets
        if not 0 <= begin <= end <= len(buffer):
            raise bad(f"tensor {name!r}: data_offsets {offsets} fall outside the "
                      f"{len(buffer)} data bytes (truncated file?)")
        if end - begin != math.prod(shape) * dtype.itemsize:
            raise bad(f"tensor {name!r}: {end - begin} bytes do not hold shape {shape} of "
                      f"{info['dtype']}")
        spans.append((begin, end))
        arrays[name] = np.frombuffer(buffer[begin:end], dtype=dtype).reshape(shape).astype(
            dtype.newbyteorder("="))
    pos = 0
    for begin, end in sorted(spans):
        if begin != pos:
            raise bad("tensor data overlaps or leaves gaps (data_offsets are inconsistent)")
        pos = end
    if pos != len(buffer):
        raise bad(f"{len(buffer) - pos} bytes after the last tensor (corrupt file)")
    return arrays, metadata


# -- models ----------------------------------------------------------------------------
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
    from . import __version__

    arrays: dict[str, NDArray] = {}
    for layer_index, dense in enumerate(net.dense_layers, start=1):
        arrays[f"layers.{layer_index}.w"] = dense.w
        if dense.b is not None:
            arrays[f"layers.{layer_index}.b"] = dense.b
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


def _parse_json(source: str, metadata: dict[str, str], key: str) -> Any:
    if key not in metadata:
        raise ModelFileError(f"{source}: metadata lacks {key!r}; not a chainrule model file")
    try:
        return json.loads(metadata[key])
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ModelFileError(f"{source}: metadata {key!r} is not valid JSON ({exc})") from None


def read_model(path: str | os.PathLike[str]) -> LoadedModel:
    """Load a model file and its metadata; see :func:`load`."""
    from .layers import Dense, layer_from_config
    from .network import Network
    from .optimizers import get_optimizer
    from .scaler import Standardizer
    from .validation import check_dtype

    path = Path(path)
    source = str(path)
    if path.is_dir():
        raise ModelFileError(f"{path}: is a directory; give the model file, e.g. "
                             f"{path / 'model.safetensors'}")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file")
    arrays, raw_meta = loads_safetensors(path.read_bytes(), source)
    if raw_meta.get("format") != FORMAT:
        raise ModelFileError(f"{source}: metadata format is {raw_meta.get('format')!r}, "
                             f"expected {FORMAT!r}; not a chainrule model file")
    if raw_meta.get("format_version") != str(FORMAT_VERSION):
        raise ModelFileError(
            f"{source}: format version {raw_meta.get('format_version')!r} is not supported; "
            f"this chainrule reads version {FORMAT_VERSION} (upgrade chainrule, or re-save "
            "the model with a matching version)"
        )
    meta = {k: _parse_json(source, raw_meta, k) for k in
            ("config", "classes", "feature_names", "scaler", "optimizer", "rng", "training")}
    meta["chainrule_version"] = raw_meta.get("chainrule_version")
    config = meta["config"]
    # Check the tensors against the architecture *before* allocating the network: a
    # stranger's config could declare a layer far larger than the file can back.
    try:
        layers = [layer_from_config(c) for c in config["layers"]]
        dtype = check_dtype(config["dtype"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{source}: invalid model config ({exc})") from None
    dense_layers = [layer for layer in layers if isinstance(layer, Dense)]
    if not dense_layers:
        raise ModelFileError(f"{source}: invalid model config (no Dense layer)")
    expected: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
    for layer_index, dense in enumerate(dense_layers, start=1):
        for name, shape in dense.param_shapes():
            expected[f"layers.{layer_index}.{name}"] = (shape, dtype)
    n_params = sum(math.prod(shape) for shape, _ in expected.values())
    if meta["scaler"]:
        n_in = dense_layers[0].n_in
        expected["scaler.mean"] = expected["scaler.scale"] = ((n_in,), np.dtype(np.float64))
    opt_meta = meta["optimizer"]
    optimizer = None
    if opt_meta is not None:
        try:
            optimizer = get_optimizer(opt_meta["config"])
            t = int(opt_meta["t"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{source}: invalid optimizer metadata ({exc})") from None
        if t > 0:
            for slot in optimizer.slots:
                expected[f"optimizer.{slot}"] = ((n_params,), dtype)
    unknown = sorted(set(arrays) - set(expected))
    missing = sorted(set(expected) - set(arrays))
    if unknown or missing:
        raise ModelFileError(
            f"{source}: tensors do not match the architecture "
            f"(unexpected: {', '.join(unknown) or 'none'}; missing: {', '.join(missing) or 'none'})"
        )
    for name, (shape, dt) in expected.items():
        arr = arrays[name]
        if arr.shape != shape or arr.dtype != dt:
            raise ModelFileError(f"{source}: tensor {name!r} has shape {arr.shape} and dtype "
                                 f"{arr.dtype}, expected {shape} and {dt}")
        if not np.all(np.isfinite(arr)):
            raise ModelFileError(f"{source}: tensor {name!r} contains NaN or inf")
    try:
        net = Network(layers, loss=config["loss"], dtype=dtype, l2=config["l2"], seed=0)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{source}: invalid model config ({exc})") from None
    for layer_index, dense in enumerate(net.dense_layers, start=1):
        assert isinstance(dense, Dense)
        dense.w = arrays[f"layers.{layer_index}.w"]
        if dense.b is not None:
            dense.b = arrays[f"layers.{layer_index}.b"]
    if meta["scaler"]:
        try:
            net.scaler = Standardizer(arrays["scaler.mean"], arrays["scaler.scale"])
        except ValueError as exc:
            raise ModelFileError(f"{source}: {exc}") from None
    classes = meta["classes"]
    if classes is not None:
        if not isinstance(classes, list):
            raise ModelFileError(f"{source}: classes must be a list, got {classes!r}")
        if len(classes) != net.n_out and not (len(classes) == 2 and net.n_out == 1):
            raise ModelFileError(f"{source}: {len(classes)} classes for {net.n_out} outputs")
        net.classes = classes
    if optimizer is not None:
        state = {slot: arrays[f"optimizer.{slot}"] for slot in optimizer.slots if t > 0}
        optimizer.load_state_dict({"t": t, **state})
        net.optimizer = optimizer
    rng_state = meta["rng"]
    if rng_state is not None:
        try:  # in place: Dropout layers hold this same generator
            net.rng.bit_generator.state = rng_state
        except (TypeError, ValueError, KeyError) as exc:
            raise ModelFileError(f"{source}: invalid rng state ({exc})") from None
    return LoadedModel(net, meta)


def load(path: str | os.PathLike[str]) -> Any:
    """Load a network saved by :func:`save`: weights, scaler, classes, optimizer state.

    The file is validated before anything is built: format and version, tensor names,
    shapes and dtypes against the stored architecture. A loaded network predicts
    bit-identically to the saved one, and ``net.fit(...)`` resumes with the saved
    optimizer (its step count and moments).

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ModelFileError
        Anything else wrong with the file (a ``ValueError``).
    """
    return read_model(path).net
