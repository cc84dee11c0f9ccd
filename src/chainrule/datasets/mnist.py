"""MNIST: read from a local directory, or downloaded once into a user cache, always
verified by SHA-256 of the decompressed bytes before use.

Where the four files are looked for, first match wins:

1. ``data_dir`` (the CLI's ``--data-dir``);
2. ``$CHAINRULE_DATA_DIR``;
3. the cache, ``$XDG_CACHE_HOME/chainrule/mnist`` (default ``~/.cache/chainrule/mnist``),
   where missing files are downloaded from :data:`MIRRORS` (override with
   ``$CHAINRULE_MNIST_MIRRORS``, a space-separated list of base URLs).

Each file may be stored gzip'd (``name.gz``, as distributed) or plain (``name``).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import urllib.error
import urllib.request
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..io.atomic import atomic_write_bytes, write_error
from ..io.errors import FileFormatError
from .base import Dataset
from .idx import IMAGES_MAGIC, LABELS_MAGIC, _parse, read_idx_bytes

ENV_DATA_DIR = "CHAINRULE_DATA_DIR"
ENV_MIRRORS = "CHAINRULE_MNIST_MIRRORS"

#: SHA-256 of each decompressed file (the gzip bytes differ between mirrors).
SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
FILES = tuple(SHA256)
#: Size of each decompressed file: nothing larger is ever decompressed.
SIZES = {
    "train-images-idx3-ubyte": 16 + 60000 * 28 * 28,
    "train-labels-idx1-ubyte": 8 + 60000,
    "t10k-images-idx3-ubyte": 16 + 10000 * 28 * 28,
    "t10k-labels-idx1-ubyte": 8 + 10000,
}

MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)


class MNISTError(FileFormatError):
    """MNIST cannot be found, downloaded or verified (the message says what to do).

    A :class:`~chainrule.errors.FileFormatError`; a file that is not IDX at all raises
    :class:`~chainrule.datasets.IDXError`, its sibling.
    """


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/chainrule/mnist``, default ``~/.cache/chainrule/mnist``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "chainrule" / "mnist"


def _missing_message(where: Path, why: str) -> str:
    names = ", ".join(f"{n}.gz" for n in FILES)
    return (
        f"MNIST is not available: {why}. Put the four files {names} (gzip'd or not) in a "
        f"directory and point {ENV_DATA_DIR} (or --data-dir) at it, or connect to the internet "
        f"so they can be downloaded into {where}"
    )


def _find(directory: Path, name: str) -> Path | None:
    for candidate in (directory / f"{name}.gz", directory / name):
        if candidate.is_file():
            return candidate
    return None


def _magic(name: str) -> int:
    return IMAGES_MAGIC if "images" in name else LABELS_MAGIC


def _check_digest(data: bytes | bytearray, name: str, where: str | Path) -> None:
    """Refuse ``data`` (the decompressed ``name``) unless its SHA-256 is :data:`SHA256`'s."""
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256[name]:
        raise MNISTError(
            where, f"SHA-256 of the decompressed {name} is {digest}, expected "
            f"{SHA256[name]}; the file is corrupt or not MNIST. Delete it and try again "
            "(or download it afresh)"
        )


def _verified_bytes(path: Path, name: str, origin: str | None = None) -> bytearray:
    """Decompressed contents of ``path``, checked against :data:`SHA256`.

    Decompressed as a stream, never past the size the IDX header declares, so a
    corrupt or hostile file costs no more memory than a real one.
    """
    data = read_idx_bytes(path, _magic(name), source=origin or str(path), max_bytes=SIZES[name])
    _check_digest(data, name, origin or path)
    return data


def _check_payload(payload: bytes, name: str, url: str) -> None:
    """Verify a download in memory before it is cached: gzip'd or plain, decompressed no
    further than :data:`SIZES` allows (one byte more shows a longer file), then SHA-256."""
    data: bytes = payload
    if payload[:2] == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(payload), mode="rb") as stream:
                data = stream.read(SIZES[name] + 1)
        except (OSError, EOFError, zlib.error) as exc:
            raise MNISTError(url, f"cannot decompress ({type(exc).__name__}: {exc})") from None
    _check_digest(data, name, url)


def _download(name: str, target_dir: Path, mirrors: Sequence[str], timeout: float) -> Path:
    """Fetch ``name.gz`` from the first mirror that answers; verify it in memory, then
    write it atomically (a full disk or a read-only cache is a
    :class:`~chainrule.io.atomic.FileWriteError` naming the file or directory)."""
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(target_dir, "create the directory", exc) from None
    errors = []
    for base in mirrors:
        url = base.rstrip("/") + f"/{name}.gz"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                payload = response.read()
        except (urllib.error.URLError, OSError, ValueError) as exc:
            errors.append(f"{url}: {exc}")
            continue
        _check_payload(payload, name, url)  # never cache a bad file
        return atomic_write_bytes(target_dir / f"{name}.gz", payload)
    raise MNISTError(_missing_message(target_dir, "download failed (" + "; ".join(errors) + ")"))


def locate(data_dir: str | os.PathLike[str] | None = None, *, download: bool = True,
           mirrors: Sequence[str] | None = None, timeout: float = 60.0) -> dict[str, Path]:
    """Paths of the four MNIST files, downloading into the cache if needed."""
    explicit = data_dir if data_dir is not None else os.environ.get(ENV_DATA_DIR)
    if explicit:
        directory = Path(explicit)
        if not directory.is_dir():
            raise MNISTError(_missing_message(cache_dir(), f"{directory} is not a directory"))
        found = {n: _find(directory, n) for n in FILES}
        absent = [n for n, p in found.items() if p is None]
        if absent:
            raise MNISTError(_missing_message(cache_dir(), f"{directory} lacks "
                                              + ", ".join(absent)))
        return {n: p for n, p in found.items() if p is not None}
    directory = cache_dir()
    if mirrors is None:
        env = os.environ.get(ENV_MIRRORS)
        mirrors = env.split() if env else MIRRORS
    paths: dict[str, Path] = {}
    for name in FILES:
        path = _find(directory, name)
        if path is None:
            if not download:
                raise MNISTError(_missing_message(directory, f"{directory} lacks {name}"))
            path = _download(name, directory, mirrors, timeout)
        paths[name] = path
    return paths


def load_mnist(data_dir: str | os.PathLike[str] | None = None, *, download: bool = True,
               mirrors: Sequence[str] | None = None) -> Dataset:
    """MNIST: X of shape (60000, 784), float32 pixels 0..255; the 10,000 test images as
    the predefined test split.
    """
    paths = locate(data_dir, download=download, mirrors=mirrors)
    arrays = {}
    for name, path in paths.items():
        arrays[name] = _parse(_verified_bytes(path, name), str(path), _magic(name), copy=False)

    def images(name: str) -> np.ndarray:
        a = arrays[name]
        return a.reshape(a.shape[0], -1).astype(np.float32)

    return Dataset(
        name="mnist",
        X=images("train-images-idx3-ubyte"),
        y=arrays["train-labels-idx1-ubyte"].astype(np.int64),
        task="classification",
        classes=list(range(10)),
        feature_names=[f"pixel_{i}" for i in range(784)],
        X_test=images("t10k-images-idx3-ubyte"),
        y_test=arrays["t10k-labels-idx1-ubyte"].astype(np.int64),
        source={"dataset": "mnist"},
        scaling="pooled",
    )
