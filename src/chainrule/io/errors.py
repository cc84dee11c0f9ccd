"""One error type for every file chainrule cannot read, and the guarded readers behind it.

:class:`FileFormatError` (a ``ValueError``) is what every reader of a user's file raises
when the file is bad: a model file (:class:`chainrule.io.ModelFileError`), an IDX file
(:class:`chainrule.datasets.IDXError`, :class:`chainrule.datasets.MNISTError`), a CSV or
``.npz``/``.npy`` file (:class:`chainrule.datasets.DataFileError`). The message
starts with the file's path and, where one applies, the place in it: a key path
(``config.layers[1].activation``), a tensor name, a row and column, an archive member::

    model.safetensors: config.layers[1].activation: expected null, a string or an object, got list

The exceptions are the conditions that are not about the file's contents: a path that
does not exist is a :class:`FileNotFoundError`; running out of memory is a
:class:`MemoryError`. A file that exists but cannot be read (a directory, no permission,
an I/O error) is a :class:`FileFormatError` naming the file and the reason.

The helpers here bound what a hostile file can cost before anything is parsed:
:func:`parse_json` caps nesting depth and the number of objects and arrays before
parsing; :func:`check_readable_file` turns "not a file" and "cannot be read" into the
reader's :class:`FileFormatError`.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

#: JSON nesting deeper than this is refused before it is parsed.
MAX_JSON_DEPTH = 64
#: At most this many objects and arrays in one JSON document (each costs ~60 bytes).
MAX_JSON_CONTAINERS = 100_000


class FileFormatError(ValueError):
    """A file chainrule cannot read: not the expected format, corrupt, or unreadable.

    Attributes
    ----------
    path : str
        The file, as given.
    where : str or None
        The place in the file (a key path, a tensor, ``row 3, column 2 ('b')``, an
        archive member), when the problem has one.
    reason : str
        What is wrong, without the path and place.

    ``str(error)`` is ``"{path}: {where}: {reason}"`` (without ``where`` when None).
    """

    def __init__(self, path: str | os.PathLike[str], reason: str | None = None,
                 where: str | None = None) -> None:
        if reason is None:  # one finished message, as ValueError takes it
            self.path, self.where, self.reason = "", None, str(path)
            super().__init__(str(path))
            return
        self.path = str(path)
        self.where = where
        self.reason = reason
        super().__init__(f"{self.path}: {where}: {reason}" if where else f"{self.path}: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:  # picklable across processes (MPI, pytest-xdist)
        return (type(self), (self.path, self.reason, self.where))


def os_reason(exc: OSError) -> str:
    """A short reason for an ``OSError``: ``permission denied``, ``is a directory``, …"""
    if isinstance(exc, PermissionError):
        return "cannot be read: permission denied"
    if isinstance(exc, IsADirectoryError) or exc.errno == errno.EISDIR:
        return "is a directory, not a file"
    return f"cannot be read ({exc.strerror or exc})"


def check_readable_file(path: Path, error: type[FileFormatError] = FileFormatError,
                        what: str = "file") -> int:
    """The size of ``path``; ``FileNotFoundError`` if absent, ``error`` if not a file."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such {what}") from None
    except OSError as exc:
        raise error(path, os_reason(exc)) from None
    if path.is_dir():
        raise error(path, f"is a directory; give the {what}")
    if not path.is_file():
        raise error(path, f"is not a regular file; give the {what}")
    return int(st.st_size)


def first_bytes(path: Path, n: int, error: type[FileFormatError] = FileFormatError) -> bytes:
    """The first ``n`` bytes of ``path`` (fewer for a shorter file), to tell its format;
    a file that cannot be read is ``error`` naming the reason."""
    try:
        with open(path, "rb") as fh:
            return fh.read(n)
    except OSError as exc:
        raise error(path, os_reason(exc)) from None


def json_nesting(data: bytes) -> tuple[int, int]:
    """(deepest nesting, number of objects and arrays) of JSON text, outside its strings.

    Linear time and a few bytes of memory per input byte (NumPy), whatever the input:
    escaped backslashes and quotes are blanked, the remaining quotes toggle "inside a
    string", and only brackets outside strings count.
    """
    raw_open = data.count(b"[") + data.count(b"{")
    if raw_open == 0:
        return 0, 0
    blanked = data.replace(b"\\\\", b"  ").replace(b'\\"', b"  ")
    a = np.frombuffer(blanked, dtype=np.uint8)
    in_string = np.bitwise_xor.accumulate(a == ord('"'))
    opening = (a == ord("[")) | (a == ord("{"))
    closing = (a == ord("]")) | (a == ord("}"))
    positions = np.flatnonzero((opening | closing) & ~in_string)
    if positions.size == 0:
        return 0, 0
    steps = np.where(opening[positions], 1, -1).astype(np.int64)
    depth = np.cumsum(steps)
    return int(depth.max()), int(np.count_nonzero(steps > 0))


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def parse_json(text: str | bytes, path: str | os.PathLike[str], where: str | None = None,
               error: type[FileFormatError] = FileFormatError, what: str = "the file",
               max_depth: int = MAX_JSON_DEPTH,
               max_containers: int = MAX_JSON_CONTAINERS) -> Any:
    """Parse JSON from an untrusted file, raising ``error`` (naming ``path`` and ``where``).

    Messages read ``{what} is not valid JSON ({why})``.

    Refused before parsing: nesting deeper than ``max_depth``, more than
    ``max_containers`` objects and arrays. Refused while parsing: invalid UTF-8 or
    JSON, ``NaN``/``Infinity``, duplicate keys, integers of more than 4,300 digits.
    Numbers too large for a float (``1e400``) parse as ``inf``; schemas refuse them.
    """
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    depth, containers = json_nesting(data)
    if depth > max_depth:
        raise error(path, f"{what} is not valid JSON (nested {depth} levels deep; at most "
                    f"{max_depth} levels are read)", where)
    if containers > max_containers:
        raise error(path, f"{what} is not valid JSON ({containers:,} objects and arrays; at "
                    f"most {max_containers:,} are read)", where)
    try:
        decoded = data.decode("utf-8")
        return json.loads(decoded, parse_constant=_refuse_constant,
                          object_pairs_hook=_no_duplicates)
    except UnicodeDecodeError as exc:
        raise error(path, f"{what} is not valid JSON (not UTF-8: {exc.reason} at byte "
                    f"{exc.start})", where) from None
    except json.JSONDecodeError as exc:
        raise error(path, f"{what} is not valid JSON ({exc.msg}: line {exc.lineno} column "
                    f"{exc.colno})", where) from None
    except (ValueError, RecursionError) as exc:
        raise error(path, f"{what} is not valid JSON ({exc})", where) from None


__all__ = [
    "MAX_JSON_CONTAINERS",
    "MAX_JSON_DEPTH",
    "FileFormatError",
    "check_readable_file",
    "json_nesting",
    "os_reason",
    "parse_json",
]
