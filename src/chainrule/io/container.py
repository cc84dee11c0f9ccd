"""The safetensors container: named arrays and a str → str metadata map, NumPy alone.

The layout (https://github.com/huggingface/safetensors)::

    8 bytes   N, little-endian unsigned 64-bit: length of the header
    N bytes   JSON: {"__metadata__": {str: str}, name: {"dtype": "F32", "shape": [..],
              "data_offsets": [begin, end]}, ...}, padded with spaces
    rest      the arrays' raw little-endian bytes; offsets count from here

Reading treats the bytes as untrusted: the header length is checked against the data's
size and :data:`MAX_HEADER_BYTES` before the header is read, and every tensor's dtype,
shape and offsets (:data:`TENSOR_SCHEMA`, :data:`MAX_TENSORS`, :data:`MAX_TENSOR_BYTES`)
before any array is allocated. What the arrays and metadata *mean* is the model format's
business (:mod:`chainrule.io.model`).
"""

from __future__ import annotations

import io as _io
import json
import math
import struct
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from .errors import FileFormatError, parse_json
from .schema import Int, Invalid, KeyPath, List, Obj, Schema, Str, kind, short, where

#: The JSON header may be at most this long (the largest real ones are a few hundred KB;
#: parsing costs up to ~16 bytes of memory per header byte, objects with many keys most).
MAX_HEADER_BYTES = 4 * 2**20
#: Caps on what the header may declare, checked before anything is allocated.
MAX_TENSORS = 10_000
MAX_NDIM = 32
MAX_TENSOR_BYTES = 2**62

#: The safetensors dtype codes chainrule writes and reads.
DTYPES: dict[str, np.dtype] = {
    "F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "I64": np.dtype("<i8")
}
_CODES = {dt.name: code for code, dt in DTYPES.items()}

#: One entry of the safetensors header (every key but ``__metadata__``).
TENSOR_SCHEMA = Obj(required={
    "dtype": Str(choices=tuple(DTYPES)),
    "shape": List(Int(0, 2**62), 0, MAX_NDIM),
    "data_offsets": List(Int(0, 2**62), 2, 2),
})
_STRING_MAP = Obj(extra=Str(max_len=MAX_HEADER_BYTES))


class ModelFileError(FileFormatError):
    """A model file that is not a valid chainrule model, or cannot be read.

    A :class:`~chainrule.errors.FileFormatError` (so a ``ValueError``): the message names
    the file and, where one applies, the key path (``config.layers[1].activation``) or
    the tensor.
    """


def check_schema(schema: Schema, value: Any, source: str, root: KeyPath = ()) -> None:
    """``schema.check(value, root)``, raising :class:`ModelFileError` naming ``source``."""
    try:
        schema.check(value, root)
    except Invalid as exc:
        raise ModelFileError(source, exc.reason, where(exc.path) or None) from None


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


class TensorEntry(NamedTuple):
    """One tensor the header declares: its bytes are ``data[begin:end]``."""

    name: str
    dtype: np.dtype
    shape: tuple[int, ...]
    begin: int
    end: int


def header_length(prefix: bytes, file_size: int, source: str) -> int:
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


def _tensor_entry(name: str, info: Any, n_data: int, source: str) -> TensorEntry:
    """One header entry, checked against its schema and the ``n_data`` bytes of data."""
    at = f"tensor {short(name)}"
    check_schema(TENSOR_SCHEMA, info, source, (at,))
    dtype = DTYPES[info["dtype"]]
    shape, (begin, end) = tuple(info["shape"]), info["data_offsets"]
    if math.prod(d for d in shape if d) * dtype.itemsize > MAX_TENSOR_BYTES:
        raise ModelFileError(source, f"shape {list(shape)} is too large for an array", at)
    if not begin <= end <= n_data:
        raise ModelFileError(source, f"data_offsets {[begin, end]} fall outside the "
                             f"{n_data} data bytes (truncated file?)", at)
    if end - begin != math.prod(shape) * dtype.itemsize:
        raise ModelFileError(source, f"{end - begin} bytes do not hold shape {list(shape)} "
                             f"of {info['dtype']}", at)
    return TensorEntry(name, dtype, shape, begin, end)


def parse_header(head: bytes, n_data: int, source: str
                 ) -> tuple[list[TensorEntry], dict[str, str]]:
    """The tensor table (checked against ``n_data`` bytes of data, sorted by offset) and
    the metadata map."""
    header = parse_json(head, source, error=ModelFileError, what="the header")
    if not isinstance(header, dict):
        raise ModelFileError(source, f"the header is not a JSON object (got {kind(header)})")
    metadata = header.pop("__metadata__", None)
    if metadata is None:
        metadata = {}
    check_schema(_STRING_MAP, metadata, source, ("__metadata__",))
    if len(header) > MAX_TENSORS:
        raise ModelFileError(source, f"{len(header):,} tensors; at most {MAX_TENSORS:,} are read")
    tensors = [_tensor_entry(name, info, n_data, source) for name, info in header.items()]
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
    n = header_length(bytes(data[:8]), len(data), source)
    tensors, metadata = parse_header(bytes(data[8 : 8 + n]), len(data) - 8 - n, source)
    buffer = memoryview(data)[8 + n :]
    arrays = {t.name: _native(np.frombuffer(buffer[t.begin : t.end], dtype=t.dtype)
                              .reshape(t.shape)).copy() for t in tensors}
    return arrays, metadata


def read_tensors(fh: _io.BufferedReader, offset: int, tensors: list[TensorEntry], source: str
                 ) -> dict[str, NDArray]:
    """Read each tensor straight into its own array (the tensors are contiguous, in order,
    from ``offset``). ``OSError`` passes through; a short read is a :class:`ModelFileError`."""
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


__all__ = [
    "DTYPES", "MAX_HEADER_BYTES", "MAX_NDIM", "MAX_TENSORS", "MAX_TENSOR_BYTES",
    "TENSOR_SCHEMA", "ModelFileError", "TensorEntry", "check_schema", "dumps_safetensors",
    "header_length", "loads_safetensors", "parse_header", "read_tensors",
]
