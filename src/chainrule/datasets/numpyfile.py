"""User data in NumPy files: ``.npz`` archives (``X`` and ``y``) and ``.npy`` arrays, never
unpickled; every header, member and size is checked before anything is allocated."""

from __future__ import annotations

import math
import os
import struct
import tokenize
import zipfile
import zlib
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray

from ..io.errors import check_readable_file, first_bytes, os_reason
from .base import TASKS, Dataset
from .csvfile import DataFileError
from .targets import (
    MAX_CLASSES,
    class_labels,
    first_non_finite,
    infer_numbers,
    infer_task,
    labels_of_numbers,
)

_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
#: Deflate expands at most ~1032×: a member declaring more than this × its compressed size
#: is lying about its size.
_MAX_DEFLATE_RATIO = 1100
#: An .npz with more members is refused before its directory is read (numpy.savez writes
#: one per array).
MAX_NPZ_MEMBERS = 10_000
#: What NumPy's .npy reader and zipfile raise for malformed input (NumPy parses the header
#: with ``tokenize`` and ``ast.literal_eval``).
_NUMPY_ERRORS = (OSError, EOFError, ValueError, TypeError, KeyError, IndexError, SyntaxError,
                 tokenize.TokenError, zipfile.BadZipFile, zlib.error, NotImplementedError,
                 RuntimeError, struct.error, OverflowError, RecursionError)


def _numpy_kind(path: Path) -> str:
    """``"npy"`` or ``"npz"`` by the file's first bytes; anything else is refused."""
    check_readable_file(path, DataFileError, "file")
    magic = first_bytes(path, 6, DataFileError)
    if magic.startswith(_NPY_MAGIC):
        return "npy"
    if magic[:4] in _ZIP_MAGICS:
        return "npz"
    if magic[:1] == b"\x80":
        raise DataFileError(path, "refused, the file holds a pickled Python object; only "
                            "plain numeric arrays are read (save with numpy.savez on numeric "
                            "arrays)")
    raise DataFileError(path, "not an .npz (zip) archive or .npy file (save with numpy.savez "
                        "or numpy.save)")


class _Pickled(Exception):
    """An object dtype in a .npy header."""


def _npy_header(fp: IO[bytes], path: Path, name: str) -> tuple[int, NDArray]:
    """(data bytes the header declares, an empty array of its dtype) of a .npy stream,
    refusing object dtypes before anything is allocated."""
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(fp)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(fp)
    else:
        raise ValueError(f".npy format version {version} is not supported")
    if dtype.hasobject:
        raise _Pickled(str(dtype))
    if len(shape) > 32 or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                  for d in shape):
        raise ValueError(f"shape {shape!r} is not a list of non-negative integers")
    return math.prod(shape) * dtype.itemsize, np.empty(0, dtype=dtype)


def _read_npy(path: Path) -> NDArray:
    """The one array of a .npy file, its size checked against the file before loading."""
    size = check_readable_file(path, DataFileError, "file")
    try:
        with open(path, "rb") as fp:
            nbytes, _ = _npy_header(fp, path, path.name)
            if size - fp.tell() != nbytes:
                raise DataFileError(path, f"its header declares {nbytes:,} bytes of data but "
                                    f"the file holds {size - fp.tell():,} (truncated or "
                                    "corrupt)")
            fp.seek(0)
            return np.lib.format.read_array(fp, allow_pickle=False)
    except _Pickled as exc:
        raise DataFileError(path, f"refused, the file holds a pickled Python object (dtype "
                            f"{exc}); only plain numeric arrays are read (save with "
                            "numpy.savez on numeric arrays)") from None
    except DataFileError:
        raise
    except _NUMPY_ERRORS as exc:
        raise DataFileError(path, f"not a readable .npy file ({type(exc).__name__}: "
                            f"{exc})") from None


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, key: str) -> NDArray:
    where = f"array {key!r}"
    try:
        with zf.open(info) as fp:
            nbytes, _ = _npy_header(fp, path, key)
            header = fp.tell()
        if info.file_size - header != nbytes:
            raise DataFileError(path, f"its header declares {nbytes:,} bytes of data but the "
                                f"member holds {info.file_size - header:,} (corrupt archive)",
                                where)
        with zf.open(info) as fp:
            return np.lib.format.read_array(fp, allow_pickle=False)
    except _Pickled as exc:
        raise DataFileError(path, f"refused array {key!r}: it holds pickled Python objects "
                            f"(dtype {exc}); only plain numeric arrays are read") from None
    except DataFileError:
        raise
    except _NUMPY_ERRORS as exc:
        raise DataFileError(path, f"cannot be read ({type(exc).__name__}: {exc}; corrupt "
                            "archive?)", where) from None


def _member_count(path: Path) -> int | None:
    """The member count of a zip's end-of-central-directory record, read before
    :class:`zipfile.ZipFile` builds an object per member; None if there is none."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 65_557))  # the record (22 bytes) and a comment of ≤ 65,535
            tail = fh.read()
    except OSError as exc:
        raise DataFileError(path, os_reason(exc)) from None
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) < at + 22:
        return None
    return int.from_bytes(tail[at + 10 : at + 12], "little")


def _read_npz(path: Path, keys: tuple[str, ...]) -> dict[str, NDArray]:
    """Arrays ``keys`` of an .npz archive; each member's header is checked against the
    member's real size, and object dtypes are refused, before anything is allocated."""
    out: dict[str, NDArray] = {}
    count = _member_count(path)
    if count is not None and count > MAX_NPZ_MEMBERS:
        raise DataFileError(path, f"an archive of {count:,} members; at most "
                            f"{MAX_NPZ_MEMBERS:,} are read (0xFFFF means more, in zip64)")
    try:
        with zipfile.ZipFile(path) as zf:
            members = {(i.filename[:-4] if i.filename.endswith(".npy") else i.filename): i
                       for i in zf.infolist()}
            for key in keys:
                if key not in members:
                    raise DataFileError(path, f"no array {key!r}; the file holds "
                                        f"{', '.join(members) or 'nothing'}")
                info = members[key]
                where = f"array {key!r}"
                if info.flag_bits & 0x1:
                    raise DataFileError(path, "the member is encrypted", where)
                if info.compress_type == zipfile.ZIP_STORED:
                    limit = info.compress_size
                elif info.compress_type == zipfile.ZIP_DEFLATED:
                    limit = info.compress_size * _MAX_DEFLATE_RATIO + 4096
                else:  # numpy.savez stores or deflates; bzip2 and lzma expand without bound
                    raise DataFileError(path, f"zip compression method {info.compress_type} "
                                        "is not read (numpy.savez stores or deflates)", where)
                if info.file_size > limit:
                    raise DataFileError(path, f"the member declares {info.file_size:,} bytes, "
                                        f"more than its {info.compress_size:,} compressed "
                                        "bytes can hold (corrupt archive)", where)
                out[key] = _read_member(zf, info, path, key)
    except DataFileError:
        raise
    except _NUMPY_ERRORS as exc:
        raise DataFileError(path, f"not a readable .npz archive ({type(exc).__name__}: "
                            f"{exc})") from None
    return out


def _finite_or_refuse(path: Path, name: str, arr: NDArray) -> None:
    if np.issubdtype(arr.dtype, np.inexact) and not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise DataFileError(path, f"{name}[{', '.join(str(int(i)) for i in bad)}] is not "
                            "finite")


def _real(dtype: np.dtype) -> bool:
    return bool(np.issubdtype(dtype, np.number) and not np.issubdtype(dtype, np.complexfloating))


def load_npz(path: str | os.PathLike[str], task: str | None = None) -> Dataset:
    """An ``.npz`` with arrays ``X`` (n_samples, n_features) and ``y`` (n_samples[, k]).

    Object arrays are refused (never unpickled); every member's declared shape is
    checked against its real size before it is loaded.

    Raises
    ------
    DataFileError
        Not an .npz archive, a missing or malformed array, non-finite values.
    """
    path = Path(path)
    if task is not None and task not in TASKS:
        raise ValueError(f"task: expected one of {', '.join(TASKS)}, got {task!r}")
    if _numpy_kind(path) != "npz":
        raise DataFileError(path, "expected an .npz archive with arrays X and y, got one array")
    arrays = _read_npz(path, ("X", "y"))
    X, y_raw = arrays["X"], arrays["y"]
    if X.ndim != 2 or not _real(X.dtype):
        raise DataFileError(path, f"X must be a 2-D numeric array, got {X.dtype} {X.shape}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise DataFileError(path, f"X of shape {X.shape} holds no data")
    if y_raw.shape[:1] != X.shape[:1]:
        raise DataFileError(path, f"y has {y_raw.shape[:1]} rows but X has {X.shape[0]}")
    if y_raw.ndim > 2:
        raise DataFileError(path, f"y must have shape (n_samples,) or (n_samples, n_targets), "
                            f"got {y_raw.shape}")
    X = X.astype(np.float64)
    _finite_or_refuse(path, "X", X)
    if _real(y_raw.dtype):
        _finite_or_refuse(path, "y", y_raw)
    # integer and float64 labels are handled as numbers (str() of either reads back exactly);
    # anything else (text, bool, float32) as its text, as before
    exact = np.issubdtype(y_raw.dtype, np.integer) or y_raw.dtype == np.float64
    numbers = y_raw.astype(np.float64) if y_raw.ndim == 1 and exact else None
    values = ([str(v) for v in y_raw.reshape(-1)] if y_raw.ndim == 1 and numbers is None
              else [])
    bad = first_non_finite(values)
    if bad is not None:
        raise DataFileError(path, f"y[{bad}] = {values[bad]!r} is not finite")
    if task is None:
        if y_raw.ndim != 1:
            task = "regression"
        else:
            task = (infer_numbers(numbers, MAX_CLASSES) if numbers is not None
                    else infer_task(values))
    classes: list[Any] | None = None
    y: NDArray[Any]
    if task == "classification":
        if y_raw.ndim != 1:
            raise DataFileError(path, f"classification needs a 1-D y of labels, got "
                                f"{y_raw.shape}")
        y, classes = labels_of_numbers(numbers) if numbers is not None else class_labels(values)
    else:
        if not _real(y_raw.dtype):
            raise DataFileError(path, f"regression needs a numeric y, got dtype {y_raw.dtype}")
        y = y_raw.astype(np.float64)
    n_t = 1 if y.ndim == 1 else y.shape[1]
    return Dataset(
        name=path.stem, X=X, y=y, task=task, classes=classes,
        target_names=["y"] if n_t == 1 else [f"y{i}" for i in range(n_t)],
        source={"npz": str(path), "task": task},
    )


def read_features_numpy(path: str | os.PathLike[str]) -> NDArray[np.float64]:
    """Features from a ``.npy`` (one 2-D array) or an ``.npz`` (array ``X``), no pickles."""
    path = Path(path)
    if _numpy_kind(path) == "npz":
        X = _read_npz(path, ("X",))["X"]
    else:
        X = _read_npy(path)
    if X.ndim != 2 or not _real(X.dtype):
        raise DataFileError(path, f"expected a 2-D numeric array, got {X.dtype} {X.shape}")
    X = X.astype(np.float64)
    _finite_or_refuse(path, "X", X)
    return X
