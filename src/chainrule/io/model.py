"""Model files: safetensors arrays plus JSON metadata, written atomically, never pickled.

It runs past 300 lines because the declarative schema of the whole model header (every field
typed before anything is built) sits beside the reader that applies it.

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

import io as _io
import json
import math
import os
import struct
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from ..table.parse import DATE_PARTS
from .atomic import atomic_write_bytes as atomic_write_bytes  # the writer of every save
from .errors import FileFormatError, check_readable_file, os_reason, parse_json

FORMAT = "chainrule.mlp"
FORMAT_VERSION = 1
#: The JSON header may be at most this long (the largest real ones are a few hundred KB;
#: parsing costs up to ~16 bytes of memory per header byte, objects with many keys most).
MAX_HEADER_BYTES = 4 * 2**20
#: Caps on what the header may declare, checked before anything is allocated.
MAX_TENSORS = 10_000
MAX_NDIM = 32
MAX_TENSOR_BYTES = 2**62
MAX_LAYERS = 10_000
MAX_UNITS = 2**31 - 1
#: The metadata entries that hold JSON.
METADATA_KEYS = ("config", "classes", "feature_names", "scaler", "optimizer", "rng", "training")
#: Keys a model file may lack (written by later versions of the format).
OPTIONAL_METADATA_KEYS = ("encoder",)

_DTYPES: dict[str, np.dtype] = {
    "F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "I64": np.dtype("<i8")
}
_CODES = {dt.name: code for code, dt in _DTYPES.items()}


class ModelFileError(FileFormatError):
    """A model file that is not a valid chainrule model, or cannot be read.

    A :class:`~chainrule.errors.FileFormatError` (so a ``ValueError``): the message names
    the file and, where one applies, the key path (``config.layers[1].activation``) or
    the tensor.
    """


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


class _Tensor(NamedTuple):
    name: str
    dtype: np.dtype
    shape: tuple[int, ...]
    begin: int
    end: int


def _header_length(prefix: bytes, file_size: int, source: str) -> int:
    """The declared header length, checked against the file's size before it is read."""
    if file_size < 8 or len(prefix) < 8:
        raise ModelFileError(source, f"{file_size} bytes is too short for a safetensors file "
                             "(truncated?)")
    (n,) = struct.unpack("<Q", prefix[:8])
    if 8 + n > file_size:
        raise ModelFileError(source, f"header length {n} exceeds the file size {file_size} "
                             "(truncated or not a safetensors file)")
    if n > MAX_HEADER_BYTES:
        raise ModelFileError(source, f"header length {n:,} exceeds the {MAX_HEADER_BYTES:,} "
                             "bytes a chainrule header may have (not a chainrule model file?)")
    return int(n)


def _parse_header(head: bytes, n_data: int, source: str
                  ) -> tuple[list[_Tensor], dict[str, str]]:
    """The tensor table (checked against ``n_data`` bytes of data) and the metadata map."""
    header = parse_json(head, source, error=ModelFileError, what="the header")
    if not isinstance(header, dict):
        raise ModelFileError(source, f"the header is not a JSON object (got {_kind(header)})")
    metadata = header.pop("__metadata__", None)
    if metadata is None:
        metadata = {}
    _check(_STRING_MAP, metadata, source, ("__metadata__",))
    if len(header) > MAX_TENSORS:
        raise ModelFileError(source, f"{len(header):,} tensors; at most {MAX_TENSORS:,} are read")
    tensors = []
    for name, info in header.items():
        where = f"tensor {_short(name)}"
        _check(TENSOR_SCHEMA, info, source, (where,))
        dtype = _DTYPES[info["dtype"]]
        shape, (begin, end) = tuple(info["shape"]), info["data_offsets"]
        if math.prod(d for d in shape if d) * dtype.itemsize > MAX_TENSOR_BYTES:
            raise ModelFileError(source, f"shape {list(shape)} is too large for an array", where)
        if not begin <= end <= n_data:
            raise ModelFileError(source, f"data_offsets {[begin, end]} fall outside the "
                                 f"{n_data} data bytes (truncated file?)", where)
        if end - begin != math.prod(shape) * dtype.itemsize:
            raise ModelFileError(source, f"{end - begin} bytes do not hold shape {list(shape)} "
                                 f"of {info['dtype']}", where)
        tensors.append(_Tensor(name, dtype, shape, begin, end))
    tensors.sort(key=lambda t: (t.begin, t.end))
    pos = 0
    for t in tensors:
        if t.begin != pos:
            raise ModelFileError(source, "tensor data overlaps or leaves gaps (data_offsets are "
                                 "inconsistent)")
        pos = t.end
    if pos != n_data:
        raise ModelFileError(source, f"{n_data - pos} bytes after the last tensor (corrupt file)")
    return tensors, metadata


def _native(arr: NDArray) -> NDArray:
    return arr.astype(arr.dtype.newbyteorder("="), copy=False)


def loads_safetensors(data: bytes, source: str = "<bytes>"
                      ) -> tuple[dict[str, NDArray], dict[str, str]]:
    """Parse safetensors bytes into (arrays, metadata), checking every offset and shape.

    Raises :class:`ModelFileError` (naming ``source``) for anything malformed.
    """
    n = _header_length(bytes(data[:8]), len(data), source)
    tensors, metadata = _parse_header(bytes(data[8 : 8 + n]), len(data) - 8 - n, source)
    buffer = memoryview(data)[8 + n :]
    arrays = {t.name: _native(np.frombuffer(buffer[t.begin : t.end], dtype=t.dtype)
                              .reshape(t.shape)).copy() for t in tensors}
    return arrays, metadata


def _read_tensors(fh: _io.BufferedReader, offset: int, tensors: list[_Tensor], source: str
                  ) -> dict[str, NDArray]:
    """Read each tensor straight into its own array (the tensors are contiguous, in order)."""
    arrays: dict[str, NDArray] = {}
    fh.seek(offset)
    for t in tensors:
        arr = np.empty(t.shape, dtype=t.dtype)
        want = t.end - t.begin
        got = fh.readinto(arr.reshape(-1).view(np.uint8).data) if want else 0
        if got != want:
            raise ModelFileError(source, f"the file ends inside tensor {t.name!r} (it changed "
                                 "while being read?)")
        arrays[t.name] = _native(arr)
    return arrays


# -- a small declarative schema for JSON values -------------------------------------------------
class _Invalid(Exception):
    """A value that does not fit its schema: where (a key path) and why."""

    def __init__(self, path: tuple[str | int, ...], reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason


def _where(path: tuple[str | int, ...]) -> str:
    """``("config", "layers", 1, "activation")`` → ``config.layers[1].activation``; a root
    with a space in it (``tensor 'layers.1.w'``) is followed by a space, not a dot."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not out:
            out = part
        else:
            out += (" " if " " in str(path[0]) and out == path[0] else ".") + part
    return out


def _kind(value: Any) -> str:
    """The JSON name of a parsed value's type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _short(value: Any) -> str:
    if isinstance(value, (list, dict)):
        return f"{'a list' if isinstance(value, list) else 'an object'} of {len(value)} items"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class _Schema:
    """What a JSON value must be. ``check`` raises :class:`_Invalid` naming the key path."""

    expects = "a value"

    def accepts(self, value: Any) -> bool:  # the JSON type fits
        return True

    def check_value(self, value: Any, path: tuple[str | int, ...]) -> None:  # the value fits
        pass

    def check(self, value: Any, path: tuple[str | int, ...]) -> None:
        if not self.accepts(value):
            raise _Invalid(path, f"expected {self.expects}, got {_kind(value)}")
        self.check_value(value, path)


class _AnyJSON(_Schema):
    expects = "any JSON value"


class _Null(_Schema):
    expects = "null"

    def accepts(self, value: Any) -> bool:
        return value is None


class _Bool(_Schema):
    expects = "true or false"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool)


class _Int(_Schema):
    expects = "an integer"

    def __init__(self, lo: int | None = None, hi: int | None = None) -> None:
        self.lo, self.hi = lo, hi

    def accepts(self, value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    def check_value(self, value: Any, path: tuple[str | int, ...]) -> None:
        if (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi):
            if self.hi is None:
                span = f"≥ {self.lo}"
            else:
                span = f"in [{self.lo if self.lo is not None else '-∞'}, {self.hi}]"
            raise _Invalid(path, f"expected an integer {span}, got {_short(value)}")


class _Num(_Schema):
    """A finite number (JSON ``1e400`` parses as inf and is refused here)."""

    expects = "a number"

    def __init__(self, lo: float | None = None, hi: float | None = None,
                 hi_open: bool = False) -> None:
        self.lo, self.hi, self.hi_open = lo, hi, hi_open

    def accepts(self, value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool)

    def check_value(self, value: Any, path: tuple[str | int, ...]) -> None:
        if isinstance(value, float) and not math.isfinite(value):
            raise _Invalid(path, f"expected a finite number, got {value}")
        too_high = self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi)
        if (self.lo is not None and value < self.lo) or too_high:
            if self.hi is None:
                span = f"≥ {self.lo}"
            else:
                span = f"in [{self.lo}, {self.hi}{')' if self.hi_open else ']'}"
            raise _Invalid(path, f"expected a number {span}, got {_short(value)}")


class _Str(_Schema):
    expects = "a string"

    def __init__(self, choices: tuple[str, ...] | None = None, max_len: int = 100_000) -> None:
        self.choices, self.max_len = choices, max_len

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str)

    def check_value(self, value: Any, path: tuple[str | int, ...]) -> None:
        if len(value) > self.max_len:
            raise _Invalid(path, f"a string of {len(value):,} characters; at most "
                           f"{self.max_len:,} are allowed")
        if self.choices is not None and value not in self.choices:
            listed = ", ".join(self.choices)
            if path and isinstance(path[-1], str):  # "tensor 'x': dtype 'BF16' is not one of …"
                raise _Invalid(path[:-1], f"{path[-1]} {_short(value)} is not one of {listed}")
            raise _Invalid(path, f"{_short(value)} is not one of {listed}")


class _List(_Schema):
    expects = "a list"

    def __init__(self, item: _Schema, min_len: int = 0, max_len: int | None = None) -> None:
        self.item, self.min_len, self.max_len = item, min_len, max_len

    def accepts(self, value: Any) -> bool:
        return isinstance(value, list)

    def check_value(self, value: Any, path: tuple[str | int, ...]) -> None:
        n = len(value)
        if n < self.min_len or (self.max_len is not None and n > self.max_len):
            if self.max_len == self.min_len:
                span = f"{self.min_len}"
            elif self.max_len is None:
                span = f"at least {self.min_len}"
            else:
                span = f"{self.min_len} to {self.max_len}"
            raise _Invalid(path, f"expected a list of {span} items, got {n}")
        for i, item in enumerate(value):
            self.item.check(item, (*path, i))


class _Obj(_Schema):
    """An object with required and optional keys; other keys must fit ``extra`` (None:
    refused)."""

    expects = "an object"

    def __init__(self, required: dict[str, _Schema] | None = None,
                 optional: dict[str, _Schema] | None = None,
                 extra: _Schema | None = None) -> None:
        self.required = required or {}
        self.optional = optional or {}
        self.extra = extra

    def accepts(self, value: Any) -> bool:
        return isinstance(value, dict)

    def check_value(self, value: Any, path: tuple[str | int, ...]) -> None:
        for key, needed in self.required.items():
            if key not in value:
                raise _Invalid(path, f"missing key {key!r}")
            needed.check(value[key], (*path, key))
        for key, item in value.items():
            if key in self.required:
                continue
            schema: _Schema | None = self.optional.get(key, self.extra)
            if schema is None:
                known = ", ".join([*self.required, *self.optional])
                raise _Invalid(path, f"unknown key {_short(key)} (expected {known})")
            schema.check(item, (*path, key))


class _OneOf(_Schema):
    """The first alternative whose JSON type fits decides."""

    def __init__(self, *alternatives: _Schema) -> None:
        self.alternatives = alternatives
        names = [a.expects for a in alternatives]
        self.expects = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]

    def accepts(self, value: Any) -> bool:
        return any(a.accepts(value) for a in self.alternatives)

    def check_value(self, value: Any, path: tuple[str | int, ...]) -> None:
        next(a for a in self.alternatives if a.accepts(value)).check_value(value, path)


class _Tagged(_Schema):
    """An object whose ``tag`` key (a string) picks its schema."""

    expects = "an object"

    def __init__(self, tag: str, variants: dict[str, _Schema]) -> None:
        self.tag, self.variants = tag, variants

    def accepts(self, value: Any) -> bool:
        return isinstance(value, dict)

    def check_value(self, value: Any, path: tuple[str | int, ...]) -> None:
        if self.tag not in value:
            raise _Invalid(path, f"missing key {self.tag!r}")
        kind = value[self.tag]
        _Str(choices=tuple(self.variants)).check(kind, (*path, self.tag))
        self.variants[kind].check_value(value, path)


#: JSON scalars: the parameters of activations, losses, optimizers and schedules.
_SCALAR = _OneOf(_Null(), _Bool(), _Int(), _Num(), _Str(max_len=1000))
_NAME = _Str(max_len=100)
_NAMED = _Obj(required={"name": _NAME}, extra=_SCALAR)
_DENSE = _Obj(
    required={"type": _NAME, "n_in": _Int(1, MAX_UNITS), "n_out": _Int(1, MAX_UNITS),
              "activation": _OneOf(_Null(), _NAME, _NAMED)},
    optional={"bias": _Bool(), "init": _OneOf(_Null(), _NAME)},
    extra=_AnyJSON(),
)
_DROPOUT = _Obj(required={"type": _NAME, "rate": _Num(0.0, 1.0, hi_open=True)},
                extra=_AnyJSON())
_CONFIG = _Obj(
    required={
        "layers": _List(_Tagged("type", {"Dense": _DENSE, "Dropout": _DROPOUT}), 1, MAX_LAYERS),
        "loss": _OneOf(_NAME, _NAMED),
        "dtype": _Str(choices=("float32", "float64")),
        "l2": _Num(0.0),
    },
    optional={"fused": _Bool()},  # files from before get_config() held it: fused=True
    extra=_AnyJSON(),
)
_OPTIMIZER = _Obj(
    required={
        "config": _Obj(required={"name": _NAME},
                       optional={"lr": _OneOf(_Num(0.0), _NAMED)}, extra=_SCALAR),
        "t": _Int(0, 2**63 - 1),
    },
    extra=_AnyJSON(),
)
_PCG64 = _Obj(required={
    "bit_generator": _NAME,
    "state": _Obj(required={"state": _Int(0, 2**128 - 1), "inc": _Int(0, 2**128 - 1)}),
    "has_uint32": _Int(0, 1),
    "uinteger": _Int(0, 2**32 - 1),
})
_U32, _U64 = _Int(0, 2**32 - 1), _Int(0, 2**64 - 1)
_MT19937 = _Obj(required={
    "bit_generator": _NAME,
    "state": _Obj(required={"key": _List(_U32, 624, 624), "pos": _Int(0, 624)}),
})
_PHILOX = _Obj(required={
    "bit_generator": _NAME,
    "state": _Obj(required={"counter": _List(_U64, 4, 4), "key": _List(_U64, 2, 2)}),
    "buffer": _List(_U64, 4, 4),
    "buffer_pos": _Int(0, 4),
    "has_uint32": _Int(0, 1),
    "uinteger": _U32,
})
_SFC64 = _Obj(required={
    "bit_generator": _NAME,
    "state": _Obj(required={"state": _List(_U64, 4, 4)}),
    "has_uint32": _Int(0, 1),
    "uinteger": _U32,
})
#: Every bit generator a Network's ``rng`` may use, with the schema of its saved state.
BIT_GENERATORS: dict[str, tuple[type[np.random.BitGenerator], _Schema]] = {
    "PCG64": (np.random.PCG64, _PCG64),
    "PCG64DXSM": (np.random.PCG64DXSM, _PCG64),
    "MT19937": (np.random.MT19937, _MT19937),
    "Philox": (np.random.Philox, _PHILOX),
    "SFC64": (np.random.SFC64, _SFC64),
}
_TEXT_OR_NULL = _OneOf(_Null(), _Str())
_TRAINING = _Obj(
    optional={
        "config": _Obj(optional={
            "dataset": _NAME, "csv": _TEXT_OR_NULL, "npz": _TEXT_OR_NULL,
            "target": _TEXT_OR_NULL, "task": _OneOf(_Null(), _NAME),
            "data_dir": _TEXT_OR_NULL, "n_samples": _Int(), "noise": _Num(),
            "seed": _Int(), "val_split": _Num(), "test_split": _Num(),
        }, extra=_AnyJSON()),
        "task": _NAME,
        "target_names": _List(_Str()),
        "epochs_run": _Int(0),
        "final": _Obj(extra=_AnyJSON()),
        "test": _Obj(extra=_AnyJSON()),
        "n_train": _Int(0), "n_val": _Int(0), "n_test": _Int(0),
        "train_seconds": _Num(0.0),
        "date": _Str(),
    },
    extra=_AnyJSON(),
)

_COLUMN = _Str(max_len=10_000)
_COLUMNS = _List(_COLUMN, 0, 100_000)
_STANDARDIZE = {"median": _Num()}
_ENCODING = {"column": _COLUMN, "kind": _NAME}
#: A :class:`~chainrule.table.TableEncoder`'s state (``TableEncoder.to_dict``).
_ENCODER = _Obj(required={
    "min_frequency": _Int(1, 2**62), "max_categories": _Int(1, 2**62),
    "drop": _COLUMNS, "categorical": _COLUMNS, "numeric": _COLUMNS,
    "columns": _List(_Tagged("kind", {
        "numeric": _Obj(required={**_ENCODING, **_STANDARDIZE, "indicator": _Bool()}),
        "onehot": _Obj(required={**_ENCODING, "categories": _COLUMNS, "rare": _COLUMNS,
                                 "missing": _Bool()}),
        "date": _Obj(required={**_ENCODING, "indicator": _Bool(), "parts": _Obj(
            optional={part: _Obj(required={**_STANDARDIZE, "indicator": _Bool()})
                      for part in DATE_PARTS})}),
        "dropped": _Obj(required={**_ENCODING, "reason": _Str(max_len=10_000)}),
    }), 1, 100_000),
})

#: The metadata of a chainrule model, each value parsed from its JSON string.
METADATA_SCHEMA = _Obj(
    required={
        "config": _CONFIG,
        "classes": _OneOf(_Null(), _List(_OneOf(_Str(max_len=10_000), _Int(), _Num()), 1)),
        "feature_names": _OneOf(_Null(), _List(_Str(max_len=10_000))),
        "scaler": _Bool(),
        "optimizer": _OneOf(_Null(), _OPTIMIZER),
        "rng": _OneOf(_Null(), _Tagged("bit_generator", {
            name: schema for name, (_, schema) in BIT_GENERATORS.items()})),
        "training": _OneOf(_Null(), _TRAINING),
    },
    optional={"encoder": _OneOf(_Null(), _ENCODER)},  # files before table encoders lack it
)

#: One entry of the safetensors header (every key but ``__metadata__``).
TENSOR_SCHEMA = _Obj(required={
    "dtype": _Str(choices=tuple(_DTYPES)),
    "shape": _List(_Int(0, 2**62), 0, MAX_NDIM),
    "data_offsets": _List(_Int(0, 2**62), 2, 2),
})
_STRING_MAP = _Obj(extra=_Str(max_len=MAX_HEADER_BYTES))


def _check(schema: _Schema, value: Any, source: str, root: tuple[str | int, ...] = ()) -> None:
    try:
        schema.check(value, root)
    except _Invalid as exc:
        raise ModelFileError(source, exc.reason, _where(exc.path) or None) from None


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
    from .. import __version__

    if getattr(net, "backend", "numpy") != "numpy":  # weights copied to the host to be saved
        net = net.to_backend("numpy")

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


#: What building layers, losses and optimizers from a checked config may still raise.
_BUILD_ERRORS = (KeyError, TypeError, ValueError, ArithmeticError, AttributeError)


def _metadata_values(raw_meta: dict[str, str], source: str) -> dict[str, Any]:
    """Check format and version, parse each JSON value, check them against the schema."""
    if raw_meta.get("format") != FORMAT:
        raise ModelFileError(source, f"metadata format is {_short(raw_meta.get('format'))}, "
                             f"expected {FORMAT!r}; not a chainrule model file")
    if raw_meta.get("format_version") != str(FORMAT_VERSION):
        raise ModelFileError(
            source, f"format version {_short(raw_meta.get('format_version'))} is not "
            f"supported; this chainrule reads version {FORMAT_VERSION} (upgrade chainrule, or "
            "re-save the model with a matching version)"
        )
    meta: dict[str, Any] = {}
    for key in METADATA_KEYS:
        if key not in raw_meta:
            raise ModelFileError(source, f"metadata lacks {key!r}; not a chainrule model file")
        meta[key] = parse_json(raw_meta[key], source, error=ModelFileError,
                               what=f"metadata {key!r}")
    for key in OPTIONAL_METADATA_KEYS:
        meta[key] = (parse_json(raw_meta[key], source, error=ModelFileError,
                                what=f"metadata {key!r}") if key in raw_meta else None)
    _check(METADATA_SCHEMA, meta, source)
    meta["chainrule_version"] = raw_meta.get("chainrule_version")
    return meta


def _check_architecture(meta: dict[str, Any], source: str) -> None:
    """What the schema cannot say: consecutive Dense sizes, classes and feature names
    against the outputs and inputs."""
    dense = [(i, c) for i, c in enumerate(meta["config"]["layers"]) if c["type"] == "Dense"]
    if not dense:
        raise ModelFileError(source, "no Dense layer", "config.layers")
    for (_, before), (i, layer) in zip(dense, dense[1:], strict=False):
        if layer["n_in"] != before["n_out"]:
            raise ModelFileError(source, f"n_in={layer['n_in']} does not match n_out="
                                 f"{before['n_out']} of the Dense layer before",
                                 f"config.layers[{i}]")
    n_in, n_out = dense[0][1]["n_in"], dense[-1][1]["n_out"]
    classes = meta["classes"]
    if classes is not None:
        if len(classes) != n_out and not (len(classes) == 2 and n_out == 1):
            raise ModelFileError(source, f"{len(classes)} classes for {n_out} outputs",
                                 "classes")
        seen: dict[Any, int] = {}
        for i, c in enumerate(classes):
            key = (type(c) is str, c)
            if key in seen:
                raise ModelFileError(source, f"{_short(c)} repeats classes[{seen[key]}]",
                                     f"classes[{i}]")
            seen[key] = i
    names = meta["feature_names"]
    if meta["encoder"] is not None:
        _check_encoder(meta["encoder"], n_in, names, source)
    elif names is not None and len(names) != n_in:
        raise ModelFileError(source, f"{len(names)} names for {n_in} inputs", "feature_names")


def _check_encoder(state: dict[str, Any], n_in: int, names: list[str] | None,
                   source: str) -> None:
    """A table encoder's state against the network it feeds: one entry per column, its
    features as many as the inputs, ``feature_names`` its input columns."""
    from ..table import TableEncoder

    columns = [c["column"] for c in state["columns"]]
    if len(set(columns)) != len(columns):
        raise ModelFileError(source, "a column is encoded twice", "encoder.columns")
    for i, c in enumerate(state["columns"]):
        if c["kind"] == "date" and not c["parts"]:
            raise ModelFileError(source, "a date column with no parts",
                                 f"encoder.columns[{i}].parts")
    encoder = TableEncoder.from_dict(state)
    if encoder.n_out != n_in:
        raise ModelFileError(source, f"the table encoder makes {encoder.n_out} features "
                             f"for {n_in} inputs", "encoder")
    if names is not None and names != encoder.inputs:
        raise ModelFileError(source, "feature_names are not the table encoder's input "
                             "columns", "feature_names")


def read_model(path: str | os.PathLike[str]) -> LoadedModel:
    """Load a model file and its metadata; see :func:`load`.

    The order bounds what a hostile file can cost: the header length is checked against
    the file's size and :data:`MAX_HEADER_BYTES` before the header is read; the header's
    JSON against its nesting and size caps before it is parsed; the whole metadata
    against :data:`METADATA_SCHEMA`, and every tensor's name, shape, dtype and offsets
    against the architecture, before any array is allocated.
    """
    from ..engine.layers import Dense, layer_from_config
    from ..engine.losses import get_loss
    from ..engine.network import Network
    from ..engine.scaler import Standardizer
    from ..training.optimizers import get_optimizer

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
        try:
            size = os.fstat(fh.fileno()).st_size
            n = _header_length(fh.read(8), size, source)
            head = fh.read(n)
        except OSError as exc:
            raise ModelFileError(source, os_reason(exc)) from None
        if len(head) != n:
            raise ModelFileError(source, "the file ends inside the header (truncated?)")
        tensors, raw_meta = _parse_header(head, size - 8 - n, source)
        del head
        meta = _metadata_values(raw_meta, source)
        _check_architecture(meta, source)
        config = meta["config"]
        layers = []
        for i, layer_config in enumerate(config["layers"]):
            try:
                layers.append(layer_from_config(layer_config))
            except _BUILD_ERRORS as exc:
                raise ModelFileError(source, f"invalid layer ({exc})",
                                     f"config.layers[{i}]") from None
        try:
            get_loss(config["loss"])
        except _BUILD_ERRORS as exc:
            raise ModelFileError(source, f"invalid loss ({exc})", "config.loss") from None
        dtype = np.dtype(config["dtype"])
        dense_layers = [layer for layer in layers if isinstance(layer, Dense)]
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
        t = 0
        if opt_meta is not None:
            try:
                optimizer = get_optimizer(opt_meta["config"])
            except _BUILD_ERRORS as exc:
                raise ModelFileError(source, f"invalid optimizer ({exc})",
                                     "optimizer.config") from None
            t = opt_meta["t"]
            if t > 0:
                for slot in optimizer.slots:
                    expected[f"optimizer.{slot}"] = ((n_params,), dtype)
        found = {t_.name: t_ for t_ in tensors}
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
        try:
            arrays = _read_tensors(fh, 8 + n, tensors, source)
        except OSError as exc:
            raise ModelFileError(source, os_reason(exc)) from None
    for name, arr in arrays.items():
        if not np.all(np.isfinite(arr)):
            raise ModelFileError(source, f"tensor {name!r} contains NaN or inf")
    rng_state = meta["rng"]  # restored below, into a generator of the saved kind
    bit_generator = BIT_GENERATORS[rng_state["bit_generator"]][0] if rng_state else np.random.PCG64
    try:
        net = Network(layers, loss=config["loss"], dtype=dtype, l2=config["l2"],
                      fused=config.get("fused", True), rng=np.random.Generator(bit_generator(0)))
    except _BUILD_ERRORS as exc:
        raise ModelFileError(source, f"invalid model config ({exc})", "config") from None
    for layer_index, dense in enumerate(net.dense_layers, start=1):
        assert isinstance(dense, Dense)
        dense.w = arrays.pop(f"layers.{layer_index}.w")
        if dense.b is not None:
            dense.b = arrays.pop(f"layers.{layer_index}.b")
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
    if optimizer is not None:
        state = {slot: arrays[f"optimizer.{slot}"] for slot in optimizer.slots if t > 0}
        try:
            optimizer.load_state_dict({"t": t, **state})
        except _BUILD_ERRORS as exc:
            raise ModelFileError(source, f"invalid optimizer state ({exc})", "optimizer") from None
        net.optimizer = optimizer
    if rng_state is not None:
        try:  # in place: Dropout layers hold this same generator
            net.rng.bit_generator.state = rng_state
        except _BUILD_ERRORS as exc:
            raise ModelFileError(source, f"invalid generator state ({exc})", "rng") from None
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
