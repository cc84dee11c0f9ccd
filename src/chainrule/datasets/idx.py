"""Reader for the IDX files MNIST ships in (gzip'd or raw).

Format: big-endian; two zero bytes, a type code (0x08 = unsigned byte), the
number of dimensions, one 4-byte size per dimension, then the data. MNIST's
images have magic 2051 (0x00000803, 3 dimensions) and labels 2049 (0x00000801).
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
from numpy.typing import DTypeLike, NDArray

_TYPES: dict[int, DTypeLike] = {
    0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"
}
IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049


class IDXError(ValueError):
    """A file that is not a valid IDX file (names the file and what is wrong)."""


def _read_bytes(path: Path) -> bytes:
    with open(path, "rb") as fh:
        head = fh.read(2)
    try:
        if head == b"\x1f\x8b":
            with gzip.open(path, "rb") as gz:
                return gz.read()
        return path.read_bytes()
    except (OSError, EOFError) as exc:
        raise IDXError(f"{path}: cannot read ({exc})") from None


def read_idx(path: str | os.PathLike[str], expect_magic: int | None = None) -> NDArray:
    """Read an IDX file into an array of its declared shape and type.

    Raises
    ------
    IDXError
        Wrong magic number, unknown type code, or a length that does not match
        the dimensions in the header.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    return parse_idx(_read_bytes(path), str(path), expect_magic)


def parse_idx(data: bytes, source: str = "<bytes>", expect_magic: int | None = None) -> NDArray:
    """Parse the (decompressed) bytes of an IDX file; ``source`` names it in errors."""
    path = source
    if len(data) < 4:
        raise IDXError(f"{path}: {len(data)} bytes is too short for an IDX header")
    magic = int.from_bytes(data[:4], "big")
    if expect_magic is not None and magic != expect_magic:
        raise IDXError(f"{path}: magic number {magic} found, expected {expect_magic}")
    if data[0] != 0 or data[1] != 0 or data[2] not in _TYPES:
        raise IDXError(f"{path}: not an IDX file (magic number {magic})")
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise IDXError(f"{path}: header declares {ndim} dimensions but the file is too short")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_TYPES[data[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise IDXError(
            f"{path}: header declares shape {shape} ({expected} bytes of data) but the file "
            f"holds {len(data) - header} bytes"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def read_images(path: str | os.PathLike[str]) -> NDArray[np.uint8]:
    """MNIST images: uint8 array of shape (n, rows, cols)."""
    arr = read_idx(path, IMAGES_MAGIC)
    if arr.ndim != 3 or arr.dtype != np.uint8:
        raise IDXError(f"{path}: expected unsigned-byte images of 3 dimensions, got {arr.shape}")
    return arr


def read_labels(path: str | os.PathLike[str]) -> NDArray[np.uint8]:
    """MNIST labels: uint8 array of shape (n,)."""
    arr = read_idx(path, LABELS_MAGIC)
    if arr.ndim != 1 or arr.dtype != np.uint8:
        raise IDXError(f"{path}: expected unsigned-byte labels of 1 dimension, got {arr.shape}")
    return arr
