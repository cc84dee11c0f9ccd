"""Reader for the IDX files MNIST ships in (gzip'd or raw).

Format: big-endian; two zero bytes, a type code (0x08 = unsigned byte), the
number of dimensions, one 4-byte size per dimension, then the data. MNIST's
images have magic 2051 (0x00000803, 3 dimensions) and labels 2049 (0x00000801).

A gzip'd file is decompressed as a stream, never past what its IDX header declares
(plus one byte, to notice extra data), so a small file cannot inflate into gigabytes
before the size check.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import zlib
from pathlib import Path

import numpy as np
from numpy.typing import DTypeLike, NDArray

from ..io.errors import FileFormatError, check_readable_file, os_reason

_TYPES: dict[int, DTypeLike] = {
    0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"
}
IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
#: Files whose header declares more data than this are refused before reading it.
MAX_IDX_BYTES = 2**31
#: NumPy 1.x arrays have at most 32 dimensions.
MAX_IDX_DIMS = 32
_CHUNK = 1 << 20


class IDXError(FileFormatError):
    """A file that is not a valid IDX file, or cannot be read (names the file and what is
    wrong); a :class:`~chainrule.errors.FileFormatError`."""


def _parse_header(data: bytes | bytearray, path: str, expect_magic: int | None
                  ) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, header length) from the first bytes of an IDX file."""
    if len(data) < 4:
        raise IDXError(path, f"{len(data)} bytes is too short for an IDX header")
    magic = int.from_bytes(data[:4], "big")
    if expect_magic is not None and magic != expect_magic:
        raise IDXError(path, f"magic number {magic} found, expected {expect_magic}")
    if data[0] != 0 or data[1] != 0 or data[2] not in _TYPES:
        raise IDXError(path, f"not an IDX file (magic number {magic})")
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise IDXError(path, f"header declares {ndim} dimensions but the file is too short")
    if ndim > MAX_IDX_DIMS:
        raise IDXError(path, f"header declares {ndim} dimensions; at most {MAX_IDX_DIMS} "
                       "are read")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_TYPES[data[2]])
    # A zero dimension makes the data empty, but the array's other dimensions still need
    # strides NumPy can hold: (0, 2³²−1, 2³²−1) is refused here, as any shape whose
    # non-zero dimensions would span more than MAX_IDX_BYTES.
    span = math.prod(d for d in shape if d) * dtype.itemsize
    if 0 in shape and span > MAX_IDX_BYTES:
        raise IDXError(path, f"header declares shape {shape}: its non-zero dimensions span "
                       f"{span:,} bytes, more than the {MAX_IDX_BYTES:,}-byte limit of an IDX file")
    return shape, dtype, header


def _read_upto(stream: io.BufferedIOBase, n: int, into: bytearray) -> int:
    """Append at most ``n`` bytes to ``into``, read in chunks (memory grows with the data
    actually there, not with what a header claims); the number appended."""
    start = len(into)
    while len(into) - start < n:
        chunk = stream.read(min(n - (len(into) - start), _CHUNK))
        if not chunk:
            break
        into += chunk
    return len(into) - start


def read_idx_bytes(path: str | os.PathLike[str], expect_magic: int | None = None,
                   source: str | None = None, max_bytes: int = MAX_IDX_BYTES) -> bytearray:
    """The (decompressed) bytes of an IDX file, read no further than its header declares.

    Raises :class:`IDXError` (naming ``source``, default the path) for a header that
    declares more than ``max_bytes``, more data than declared, a corrupt gzip stream or
    an unreadable file; :class:`FileNotFoundError` if there is no file.
    """
    path = Path(path)
    where = source or str(path)
    size = check_readable_file(path, IDXError, "file")
    try:
        with open(path, "rb") as raw:
            compressed = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            stream: io.BufferedIOBase = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
            with stream:
                data = bytearray()
                if _read_upto(stream, 4, data) == 4:
                    _read_upto(stream, 4 * data[3], data)
                shape, dtype, header = _parse_header(data, where, expect_magic)
                expected = math.prod(shape) * dtype.itemsize
                if header + expected > max_bytes:
                    raise IDXError(where, f"header declares shape {shape} ({expected:,} bytes "
                                   f"of data), more than the {max_bytes:,} bytes read")
                if not compressed and size != header + expected:
                    raise IDXError(where, f"header declares shape {shape} ({expected} bytes of "
                                   f"data) but the file holds {size - header} bytes")
                n_body = _read_upto(stream, expected + 1, data)
    except (OSError, EOFError, zlib.error) as exc:
        reason = os_reason(exc) if isinstance(exc, (PermissionError, IsADirectoryError)) else None
        raise IDXError(where, reason or f"cannot read ({type(exc).__name__}: {exc})") from None
    if n_body > expected:
        raise IDXError(where, f"header declares shape {shape} ({expected} bytes of data) but "
                       "the file holds more")
    return data


def read_idx(path: str | os.PathLike[str], expect_magic: int | None = None) -> NDArray:
    """Read an IDX file into an array of its declared shape and type.

    Raises
    ------
    IDXError
        Wrong magic number, unknown type code, a length that does not match the
        dimensions in the header, a corrupt gzip stream, an unreadable file.
    FileNotFoundError
        No file at ``path``.
    """
    path = Path(path)
    return _parse(read_idx_bytes(path, expect_magic), str(path), expect_magic, copy=False)


def parse_idx(data: bytes, source: str = "<bytes>", expect_magic: int | None = None) -> NDArray:
    """Parse the (decompressed) bytes of an IDX file; ``source`` names it in errors.

    The array is a copy: it never shares memory with ``data``.
    """
    return _parse(data, source, expect_magic, copy=True)


def _parse(data: bytes | bytearray, source: str, expect_magic: int | None,
           copy: bool) -> NDArray:
    """``copy=False``: the array may use ``data``'s memory (a bytearray nobody else holds)."""
    shape, dtype, header = _parse_header(data, source, expect_magic)
    expected = math.prod(shape) * dtype.itemsize
    if len(data) - header != expected:
        raise IDXError(source, f"header declares shape {shape} ({expected} bytes of data) but "
                       f"the file holds {len(data) - header} bytes")
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    if not copy and arr.flags.writeable and dtype.isnative:
        return arr
    return arr.astype(dtype.newbyteorder("="), copy=True)


def read_images(path: str | os.PathLike[str]) -> NDArray[np.uint8]:
    """MNIST images: uint8 array of shape (n, rows, cols)."""
    arr = read_idx(path, IMAGES_MAGIC)
    if arr.ndim != 3 or arr.dtype != np.uint8:
        raise IDXError(path, f"expected unsigned-byte images of 3 dimensions, got {arr.shape}")
    return arr


def read_labels(path: str | os.PathLike[str]) -> NDArray[np.uint8]:
    """MNIST labels: uint8 array of shape (n,)."""
    arr = read_idx(path, LABELS_MAGIC)
    if arr.ndim != 1 or arr.dtype != np.uint8:
        raise IDXError(path, f"expected unsigned-byte labels of 1 dimension, got {arr.shape}")
    return arr
