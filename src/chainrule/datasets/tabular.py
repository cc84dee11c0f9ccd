"""User data: CSV files with a header row, and NumPy ``.npz``/``.npy`` files (never pickled).

It runs past 300 lines because each reader (CSV, npz, npy) checks its file before allocating
anything, and those checks, with messages naming row and column, are most of it.

CSV rules: the first row names the columns; every feature cell is a number; the target
column (``target=``) may hold numbers or text. Row-index columns (unnamed, ``Unnamed: N``,
or counting 0, 1, 2, … / 1, 2, 3, … down the file) are dropped, each with a note in
``Dataset.notes``. Rows are counted the way a text editor
counts lines, so ``row 1`` is the header and the first data row is ``row 2``.
"""

from __future__ import annotations

import collections
import csv
import itertools
import math
import os
import re
import struct
import tokenize
import zipfile
import zlib
from array import array
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from ..errors import FileFormatError, check_readable_file, os_reason
from .base import TASKS, Dataset

#: At most this many distinct text target values are read as class labels without --task.
MAX_CLASSES = 50
#: At most this many distinct integer target values are read as class labels; more mean
#: regression (a count or a measurement), unless --task classification says otherwise.
MAX_INTEGER_CLASSES = 20
#: Target cells that mean "no value": the row is dropped (and counted) rather than trained
#: on ``''`` as a class or refused as text in a numeric column. (``nan`` is a number, and a
#: numeric target must be finite: it is refused naming its row, like ``inf``.)
MISSING_TARGET = frozenset({"", "NA", "N/A", "null", "NULL", "None", "?"})


class DataFileError(FileFormatError):
    """A CSV, ``.npz`` or ``.npy`` file that cannot be used: not the format, corrupt,
    non-numeric or non-finite values, unreadable. A
    :class:`~chainrule.errors.FileFormatError`: the message names the file and, where one
    applies, the row and column or the array."""


class _Table(NamedTuple):
    """What one pass over a CSV file keeps: the header, the numeric columns as one float
    array, the target column (as numbers while every cell is one, else as text), and the
    line number of every data row."""

    header: list[str]
    X: NDArray[np.float64]
    target_numbers: NDArray[np.float64] | None
    target_text: list[str] | None
    lines: NDArray[np.int64]
    target_not_finite: tuple[int, str] | None  # (data row, cell) of the first inf/nan target


def _cell(lineno: int, col: int, header: list[str]) -> str:
    return f"row {lineno}, column {col + 1} ({header[col]!r})"


def _not_finite(path: Path, lineno: int, col: int, header: list[str], cell: str) -> DataFileError:
    return DataFileError(path, f"{cell.strip()!r} is not a finite number; features must be "
                         "numeric (encode categories as numbers)", _cell(lineno, col, header))


def _rows(fh: IO[str]) -> Iterator[tuple[int, list[str]]]:
    """Non-empty rows with the line number a text editor shows (rows with quoted line
    breaks count as one row, as before)."""
    for i, row in enumerate(csv.reader(fh), start=1):
        if row:
            yield i, row


def _read_table(path: Path, choose: Callable[[list[str]], tuple[list[int], int | None]]
                ) -> _Table:
    """Read a CSV in one streaming pass: ``choose(header)`` names the numeric columns and
    the target column. Numbers go straight into a float array (8 bytes a cell), so memory
    stays near the size of the data rather than of Python strings."""
    check_readable_file(path, DataFileError, "CSV file")
    numbers = array("d")
    lines = array("q")
    t_numbers = array("d")
    t_text: list[str] | None = None
    t_bad: tuple[int, str] | None = None
    canon: dict[str, str] = {}
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = _rows(fh)
            first = next(rows, None)
            if first is None:
                raise DataFileError(path, "the file is empty; expected a header row and data "
                                    "rows")
            header = [h.strip() for h in first[1]]
            second = next(rows, None)
            if second is None:
                raise DataFileError(path, "only a header row, no data rows")
            dupes = sorted(h for h, n in collections.Counter(header).items() if n > 1)
            if dupes:
                raise DataFileError(path, "duplicate column names in the header: "
                                    f"{', '.join(dupes)}")
            columns, t_col = choose(header)
            width = len(header)
            for lineno, row in itertools.chain([second], rows):
                if len(row) != width:
                    raise DataFileError(
                        path, f"row {lineno} has {len(row)} cells but the header has {width} "
                        "columns; every row needs one value per column"
                    )
                try:
                    values = [float(row[c]) for c in columns]
                except ValueError:
                    bad = next(c for c in columns if not _is_float(row[c]))
                    raise _not_finite(path, lineno, bad, header, row[bad]) from None
                if not all(map(math.isfinite, values)):
                    bad = next(c for c, v in zip(columns, values, strict=True)
                               if not math.isfinite(v))
                    raise _not_finite(path, lineno, bad, header, row[bad])
                numbers.extend(values)
                lines.append(lineno)
                if t_col is not None:
                    cell = row[t_col].strip()
                    if t_text is None:
                        try:
                            number = float(cell)
                        except ValueError:
                            t_text = []  # text from here on; the rows before are re-read
                        else:
                            if t_bad is None and not math.isfinite(number):
                                t_bad = (len(t_numbers), cell)
                            t_numbers.append(number)
                            continue
                    t_text.append(canon.setdefault(cell, cell))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataFileError(path, f"not a readable UTF-8 CSV file ({exc})") from None
    except OSError as exc:
        raise DataFileError(path, os_reason(exc)) from None
    if t_col is not None and t_text is not None and len(t_numbers):
        t_text = _reread_column(path, t_col, len(t_numbers), canon) + t_text
    X = np.frombuffer(numbers, dtype=np.float64).reshape(len(lines), len(columns))
    return _Table(header, X,
                  np.frombuffer(t_numbers, dtype=np.float64) if t_col is not None
                  and t_text is None else None,
                  t_text, np.frombuffer(lines, dtype=np.int64),
                  t_bad if t_text is None else None)


def _is_float(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _reread_column(path: Path, col: int, n: int, canon: dict[str, str]) -> list[str]:
    """The first ``n`` cells of column ``col``, as text (a target that turned out to hold
    text after ``n`` numeric rows)."""
    out: list[str] = []
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = _rows(fh)
            next(rows)
            for _, row in itertools.islice(rows, n):
                cell = row[col].strip()
                out.append(canon.setdefault(cell, cell))
    except (UnicodeDecodeError, csv.Error, OSError, StopIteration) as exc:
        raise DataFileError(path, f"changed while being read ({exc})") from None
    if len(out) != n:
        raise DataFileError(path, "changed while being read")
    return out


def _column_index(path: Path, header: list[str], name: str) -> int:
    if name not in header:
        raise DataFileError(
            path, f"no column {name!r} (the target); the columns are {', '.join(header)}"
        )
    return header.index(name)


def _first_non_finite(values: list[str]) -> int | None:
    """When every value is a number (a numeric target), the index of the first that is
    not finite (``inf``, ``nan``); None otherwise."""
    try:
        numbers = [float(v) for v in values]
    except ValueError:
        return None  # text labels: "inf" among them is just a label
    return next((i for i, v in enumerate(numbers) if not math.isfinite(v)), None)


def _infer_numbers(numbers: NDArray[np.float64], max_classes: int = MAX_INTEGER_CLASSES
                   ) -> str:
    """:func:`infer_task` for a numeric target: classes only for integers with at most
    ``max_classes`` distinct values (in a CSV, miles per gallon or temperatures, 27–40
    distinct integers, are quantities to regress on, not classes; an ``.npz``'s ``y``, an
    array its author chose, keeps up to ``MAX_CLASSES``)."""
    if not np.all(np.isfinite(numbers)):
        return "regression"
    if np.all(numbers == np.round(numbers)) and np.unique(numbers).size <= max_classes:
        return "classification"
    return "regression"


def _finite_numbers(values: list[str]) -> NDArray[np.float64] | None:
    """``values`` as finite numbers, or None if any is not one."""
    try:
        numbers = np.array([float(v) for v in values], dtype=np.float64)
    except ValueError:
        return None
    return numbers if np.all(np.isfinite(numbers)) else None


def _task_decision(target: str, task: str, numbers: NDArray[np.float64] | None,
                   text: list[str] | None) -> str:
    """The line ``chainrule train`` prints for an inferred task, with the flag that
    overrides it."""
    if numbers is not None:
        distinct = int(np.unique(numbers).size)
        integer = bool(np.all(numbers == np.round(numbers)))
        what = (f"{distinct} distinct integer values" if integer else "non-integer numbers")
    else:
        assert text is not None
        what = f"text with {len(set(text))} distinct values"
    other = "regression" if task == "classification" else "classification"
    return f"target {target!r}: {what}, so {task} (override with --task {other})"


def infer_task(values: list[str]) -> str:
    """'classification' for text targets and for integer-valued ones with at most
    ``MAX_INTEGER_CLASSES`` distinct values, else 'regression'."""
    try:
        numbers = np.array([float(v) for v in values], dtype=np.float64)
    except ValueError:
        return "classification"
    return _infer_numbers(numbers)


def _labels_of_numbers(numbers: NDArray[np.float64]) -> tuple[NDArray[np.int64], list[Any]]:
    """Class indices and the sorted labels of finite numbers (ints when all are integers)."""
    uniq = np.unique(numbers)
    index = np.searchsorted(uniq, numbers).astype(np.int64)
    if np.all(uniq == np.round(uniq)):
        return index, [int(v) for v in uniq]
    return index, [float(v) for v in uniq]


def _labels(values: list[str]) -> tuple[NDArray[np.int64], list[Any]]:
    """Class indices and the sorted labels (ints when every value is an integer)."""
    numbers = _finite_numbers(values)
    if numbers is not None:
        return _labels_of_numbers(numbers)
    classes = sorted(set(values))
    index = {c: i for i, c in enumerate(classes)}
    return np.array([index[k] for k in values], dtype=np.int64), classes


def load_csv(path: str | os.PathLike[str], target: str | None, task: str | None = None) -> Dataset:
    """A CSV file with a header row: every column but ``target`` is a feature.

    Parameters
    ----------
    path : path of the CSV file
    target : str
        Name of the target column.
    task : {"classification", "regression"}, optional
        Default: inferred by :func:`infer_task`.

    Raises
    ------
    DataFileError
        Empty or ragged file, a non-numeric or non-finite feature cell, a non-finite
        number in a numeric target (naming row and column), a missing target column,
        an unreadable file. A :class:`~chainrule.errors.FileFormatError`.
    """
    path = Path(path)
    if not target:
        raise ValueError(f"target: name the target column of {path} (--target COLUMN)")
    if task is not None and task not in TASKS:
        raise ValueError(f"task: expected one of {', '.join(TASKS)}, got {task!r}")
    features: list[int] = []

    notes: list[str] = []

    def choose(header: list[str]) -> tuple[list[int], int | None]:
        t_col = _column_index(path, header, target)
        for i, name in enumerate(header):
            if i == t_col:
                continue
            if _is_unnamed(name):
                notes.append(f"dropped column {i + 1} ({name!r}): an unnamed column is a row "
                             "index (R's and pandas' row names), not a feature")
            else:
                features.append(i)
        if not features:
            raise DataFileError(path, f"no feature columns besides the target {target!r}")
        return features, t_col

    table = _read_table(path, choose)
    header, t_col = table.header, table.header.index(target)
    y_numbers, y_text = table.target_numbers, table.target_text
    if table.target_not_finite is not None:
        i, cell = table.target_not_finite
        raise DataFileError(path, f"{cell!r} is not a finite number; a numeric target must be "
                            "finite", _cell(int(table.lines[i]), t_col, header))
    X, kept = _drop_row_indices(table.X, [header[i] for i in features],
                                bool(features) and features[0] == 0, notes)
    features = [features[i] for i in kept]
    lines = table.lines
    if y_text is not None:
        missing = np.array([cell in MISSING_TARGET for cell in y_text], dtype=bool)
        if missing.all():
            raise DataFileError(path, f"every cell of the target column {target!r} is empty "
                                "or NA; nothing to learn from")
        if missing.any():
            notes.append(f"dropped {int(missing.sum())} row(s) whose target {target!r} is "
                         f"empty or NA (first: row {int(lines[missing][0])})")
            keep = ~missing
            X, lines = np.ascontiguousarray(X[keep]), lines[keep]
            y_text = [cell for cell, m in zip(y_text, missing, strict=True) if not m]
            numbers = _finite_numbers(y_text)
            if numbers is not None:
                y_numbers, y_text = numbers, None
    inferred = task is None
    if task is None:
        task = _infer_numbers(y_numbers) if y_numbers is not None else "classification"
        notes.append(_task_decision(target, task, y_numbers, y_text))
    classes: list[Any] | None = None
    y: NDArray[Any]
    if task == "classification":
        if y_numbers is not None:
            y, classes = _labels_of_numbers(y_numbers)
        else:
            assert y_text is not None
            y, classes = _labels(y_text)
        if inferred and len(classes) > MAX_CLASSES:
            raise DataFileError(
                path, f"target column {target!r} holds text with {len(classes)} distinct "
                f"values (more than {MAX_CLASSES}); if these are really classes pass "
                "--task classification"
            )
    else:
        if y_numbers is None:
            assert y_text is not None
            i = next(i for i, v in enumerate(y_text) if not _is_float(v))
            raise DataFileError(path, f"{y_text[i]!r} is not a finite number; a regression "
                                "target must be numeric", _cell(int(lines[i]), t_col, header))
        y = y_numbers.copy()
    return Dataset(
        name=path.stem,
        X=X,
        y=y,
        task=task,
        classes=classes,
        feature_names=[header[i] for i in features],
        target_names=[target],
        source={"csv": str(path), "target": target, "task": task},
        notes=notes,
    )


#: Header cells that name no column: R's ``write.csv`` row names (``""``) and what pandas
#: calls such a column when it reads the file and writes it again (``Unnamed: 0``).
_UNNAMED = re.compile(r"(Unnamed: \d+)?")


def _is_unnamed(name: str) -> bool:
    return _UNNAMED.fullmatch(name.strip()) is not None


def _drop_row_indices(X: NDArray[np.float64], names: list[str], first: bool,
                      notes: list[str]) -> tuple[NDArray[np.float64], list[int]]:
    """``X`` without a row-index first column (``first``: feature 0 is the file's first
    column, where R and pandas write row names), one that counts 0, 1, 2, … or 1, 2, 3, …
    down the file: it numbers the rows, and on a file sorted by its label it leaks the
    label. Dropped with a note, unless it is the only feature (kept, with a note). Returns
    ``X`` and the positions of the columns kept."""
    kept = list(range(X.shape[1]))
    n = len(X)
    if not first or n < 3 or not kept:
        return X, kept
    column = X[:, 0]
    if column[0] not in (0.0, 1.0) or not np.array_equal(column - column[0],
                                                           np.arange(n, dtype=np.float64)):
        return X, kept
    counts = (f"column {names[0]!r} counts the rows ({int(column[0])}, {int(column[0]) + 1}, "
              "… down the file)")
    if len(kept) == 1:
        notes.append(f"{counts}, like a row index; kept because it is the only feature")
        return X, kept
    notes.append(f"dropped {counts}: a row index, not a feature")
    kept.remove(0)
    return np.ascontiguousarray(X[:, kept]), kept


def match_columns(available: list[str], wanted: list[str]
                  ) -> tuple[list[int], list[str], list[str]]:
    """Columns matched by name, never by position: the position in ``available`` of each
    ``wanted`` name (its first occurrence), the wanted names that are missing, and the
    available names that are not wanted."""
    position: dict[str, int] = {}
    for i, name in enumerate(available):
        position.setdefault(name, i)
    missing = [name for name in wanted if name not in position]
    wanted_set = set(wanted)
    extra = [name for name in available if name not in wanted_set]
    return [position[name] for name in wanted if name in position], missing, extra


def read_features_csv(path: str | os.PathLike[str],
                      feature_names: list[str] | None = None) -> NDArray[np.float64]:
    """Feature matrix of a CSV for prediction.

    With ``feature_names`` (saved with the model) those columns are taken, in that
    order, and any other column (e.g. the target) is ignored; without, every column.
    """
    path = Path(path)

    def choose(header: list[str]) -> tuple[list[int], int | None]:
        if feature_names:
            order, missing, _ = match_columns(header, feature_names)
            if missing:
                raise DataFileError(
                    path, f"missing feature column(s) {', '.join(missing)}; the model was "
                    f"trained on columns {', '.join(feature_names)}"
                )
            return order, None
        return list(range(len(header))), None

    return _read_table(path, choose).X


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
    try:
        with open(path, "rb") as fh:
            magic = fh.read(6)
    except OSError as exc:
        raise DataFileError(path, os_reason(exc)) from None
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
    bad = _first_non_finite(values)
    if bad is not None:
        raise DataFileError(path, f"y[{bad}] = {values[bad]!r} is not finite")
    if task is None:
        if y_raw.ndim != 1:
            task = "regression"
        else:
            task = (_infer_numbers(numbers, MAX_CLASSES) if numbers is not None
                    else infer_task(values))
    classes: list[Any] | None = None
    y: NDArray[Any]
    if task == "classification":
        if y_raw.ndim != 1:
            raise DataFileError(path, f"classification needs a 1-D y of labels, got "
                                f"{y_raw.shape}")
        y, classes = _labels_of_numbers(numbers) if numbers is not None else _labels(values)
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
