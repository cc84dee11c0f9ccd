"""Which file a model was trained on: the training table's absolute path and a content
fingerprint (size and SHA-256, read in blocks), saved with the model
(``training.table``), so a command that rebuilds the data from it finds the file from any
working directory and knows when the file is no longer the one trained on."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Any

#: Bytes hashed at a time: memory stays flat whatever the file's size.
BLOCK = 1 << 20


def fingerprint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``{"path": absolute path, "size": bytes, "sha256": hex digest}`` of a file."""
    p = Path(path).absolute()
    size = p.stat().st_size
    return {"path": str(p), "size": int(size), "sha256": _sha256(p, size).rstrip("+")}


def _sha256(path: Path, size: int) -> str:
    """The SHA-256 of the first ``size`` bytes of ``path``, followed by ``+`` when the file
    holds more (``/proc`` files report size 0 whatever they hold)."""
    digest = hashlib.sha256()
    left = size
    with open(path, "rb") as fh:
        while left > 0 and (block := fh.read(min(BLOCK, left))):
            digest.update(block)
            left -= len(block)
        more = bool(fh.read(1))
    return digest.hexdigest() + ("+" if more else "")


def changed(record: dict[str, Any]) -> str | None:
    """None when the file ``record`` (a :func:`fingerprint`) names is still that file;
    else what is different, as the end of a sentence starting with the file's path.

    The record comes from a model file, so it is not trusted: only a regular file of the
    recorded size is read (no device, pipe or directory, never more than that many
    bytes and one: a ``/proc`` file that reports size 0 but holds text does not match),
    and nothing of its content is told but whether it matches.
    """
    path = Path(record["path"])
    try:
        st = path.stat()
    except FileNotFoundError:
        return "is no longer there"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or type(exc).__name__})"
    except ValueError:  # a NUL byte in the path: no file has that name
        return "is not a path a file can have"
    if not stat.S_ISREG(st.st_mode):
        return "is no longer a regular file"
    if st.st_size != record["size"]:
        return (f"has changed since training ({st.st_size:,} bytes; it had "
                f"{record['size']:,})")
    try:
        digest = _sha256(path, st.st_size)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or type(exc).__name__})"
    if digest != record["sha256"]:
        return "has changed since training (same size, different content: its SHA-256 differs)"
    return None


__all__ = ["BLOCK", "changed", "fingerprint"]
