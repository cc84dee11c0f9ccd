"""User data: CSV (and Parquet) tables with a header row, and NumPy ``.npz``/``.npy`` files
(never pickled).

It runs past 300 lines because each reader (CSV, npz, npy) checks its file before allocating
anything, and those checks, with messages naming row and column, are most of it.

Table rules (the reading itself is :mod:`chainrule.datasets.csvfile`): the first row names
the columns; feature cells are numbers or text, empty or ``NA`` when missing, encoded
later by a :class:`~chainrule.table.TableEncoder` fitted on the training split; the target
column (``target=``) may hold numbers or text, and rows whose target is missing are
dropped and counted. Row-index columns (unnamed, ``Unnamed: N``, or counting 0, 1, 2, … /
1, 2, 3, … down the file) are dropped, each with a note in ``Dataset.notes``. Rows are
counted the way a text editor counts lines, so ``row 1`` is the header and the first data
row is ``row 2``."""

from __future__ import annotations

import math
import os
import struct
import tokenize
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray

from ..io.errors import check_readable_file, os_reason
from ..table.columns import (
    NumberColumn,
    Table,
    TableError,
    TextColumn,
    column_of,
    drop_row_index,
    natural_key,
)
from .base import TASKS, Dataset
from .csvfile import DataFileError, cell_at, read_csv_table

#: At most this many distinct text target values are read as class labels without --task.
MAX_CLASSES = 50
#: A text target with more than MAX_CLASSES labels must have this many rows per label.
MIN_ROWS_PER_CLASS = 10
#: At most this many distinct integer target values are read as class labels; more mean
#: regression (a count or a measurement), unless --task classification says otherwise.
MAX_INTEGER_CLASSES = 20
#: Target cells that mean "no value": the row is dropped (and counted) rather than trained
#: on ``''`` as a class or refused as text in a numeric column. (``nan`` is a number, and a
#: numeric target must be finite: it is refused naming its row, like ``inf``.)
MISSING_TARGET = frozenset({"", "NA", "N/A", "null", "NULL", "None", "?"})


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
    classes = sorted(set(values), key=natural_key)
    index = {c: i for i, c in enumerate(classes)}
    return np.array([index[k] for k in values], dtype=np.int64), classes


def load_csv(path: str | os.PathLike[str], target: str | None, task: str | None = None) -> Dataset:
    """A CSV file with a header row: every column but ``target`` is a feature, numbers or
    text (see :mod:`chainrule.datasets.csvfile`). The features stay a raw
    :class:`~chainrule.table.Table` in ``Dataset.table`` until a
    :class:`~chainrule.table.TableEncoder`, fitted on the training split, encodes them
    (:meth:`Dataset.encode`); ``Dataset.X`` holds the raw numbers when every feature cell
    is one, and has no columns otherwise.

    Parameters
    ----------
    path : path of the CSV file
    target : str
        Name of the target column.
    task : {"classification", "regression"}, optional
        Default: inferred (text and integer targets with at most ``MAX_INTEGER_CLASSES``
        distinct values are classes; other numbers, regression), with a note saying so.

    Raises
    ------
    DataFileError
        Empty, header-only or ragged file, duplicate column names, an infinite number, a
        missing target column, a target with every cell missing, an unreadable file. A
        :class:`~chainrule.errors.FileFormatError`.
    """
    path = Path(path)
    if not target:
        raise ValueError(f"target: name the target column of {path} (--target COLUMN)")
    if task is not None and task not in TASKS:
        raise ValueError(f"task: expected one of {', '.join(TASKS)}, got {task!r}")
    notes: list[str] = []

    def choose(header: list[str]) -> list[int]:
        t_col = _column_index(path, header, target)
        if len(header) == 1:
            raise DataFileError(path, f"no feature columns besides the target {target!r}")
        return [t_col, *(i for i in range(len(header)) if i != t_col)]

    if path.suffix.lower() in PARQUET_SUFFIXES:
        header, table = _read_parquet(path, choose)
    else:
        header, table = read_csv_table(path, choose, notes)
    t_col = header.index(target)
    features = drop_row_index(table.select([n for n in header if n != target]), (), notes)
    assert table.lines is not None
    features, y_col, lines = _rows_with_target(path, target, features, table[target],
                                               table.lines, notes)
    y_numbers, y_text = _target_values(y_col)
    inferred = task is None
    if task is None:
        task = _infer_numbers(y_numbers) if y_numbers is not None else "classification"
        notes.append(_task_decision(target, task, y_numbers, y_text))
    classes: list[Any] | None = None
    y: NDArray[Any]
    if task == "classification":
        y, classes = _class_target(path, target, y_numbers, y_text, inferred)
    elif y_numbers is None:
        assert y_text is not None
        i = next(i for i, v in enumerate(y_text) if np.isnan(_finite_or_nan(v)))
        raise DataFileError(path, f"{y_text[i]!r} is not a number; a regression "
                            "target must be numeric", cell_at(int(lines[i]), t_col, header))
    else:
        y = y_numbers.copy()
    return Dataset(
        name=path.stem,
        X=_raw_numbers(features, path),
        y=y,
        task=task,
        classes=classes,
        feature_names=features.names,
        target_names=[target],
        source={"csv": str(path), "target": target, "task": task},
        notes=notes,
        table=features,
    )


def _rows_with_target(path: Path, target: str, features: Table,
                      y_col: NumberColumn | TextColumn, lines: NDArray[Any], notes: list[str]
                      ) -> tuple[Table, NumberColumn | TextColumn, NDArray[Any]]:
    """Features, target column and file line numbers of the rows whose target is there
    (the others dropped, with a note); none at all is an error."""
    keep = ~y_col.missing
    if not keep.any():
        raise DataFileError(path, f"every cell of the target column {target!r} is empty "
                            "or NA; nothing to learn from")
    if not keep.all():
        notes.append(f"dropped {int((~keep).sum())} row(s) whose target {target!r} is "
                     f"empty or NA (first: row {int(lines[~keep][0])})")
        rows = np.flatnonzero(keep)
        features, y_col, lines = features.take(rows), y_col.take(rows), lines[rows]
    return features, y_col, lines


def _class_target(path: Path, target: str, y_numbers: NDArray[Any] | None,
                  y_text: list[str] | None, inferred: bool) -> tuple[NDArray[Any], list[Any]]:
    """(class index per row, the classes) of a classification target, checked: at least
    two classes, and (when the task was inferred) not an identifier or free text."""
    if y_numbers is not None:
        y, classes = _labels_of_numbers(y_numbers)
    else:
        assert y_text is not None
        y, classes = _labels(y_text)
    # Text labels are classes as written (56 US states are 56 classes); only a target
    # with more than MAX_CLASSES values and under MIN_ROWS_PER_CLASS rows a class on
    # average looks like an identifier or free text rather than something to learn.
    if inferred and len(classes) > MAX_CLASSES and len(y) < MIN_ROWS_PER_CLASS * len(classes):
        raise DataFileError(
            path, f"target column {target!r} holds text with {len(classes)} distinct "
            f"values in {len(y)} rows (fewer than {MIN_ROWS_PER_CLASS} rows a class); "
            "if these are really classes pass --task classification"
        )
    if len(classes) < 2:
        raise DataFileError(path, f"target column {target!r} holds one class only "
                            f"({classes[0]!r}); classification needs at least two")
    return y, classes


#: Files read with pandas and pyarrow instead of the CSV reader.
PARQUET_SUFFIXES = (".parquet", ".pq")


def _read_parquet(path: Path, choose: Callable[[list[str]], list[int]]
                  ) -> tuple[list[str], Table]:
    """A Parquet file's columns (pandas + pyarrow); its rows are numbered from 1."""
    check_readable_file(path, DataFileError, "Parquet file")
    try:
        import pandas as pd
    except ImportError:
        raise DataFileError(path, "reading Parquet needs pandas and pyarrow (pip install "
                            "'chainrule[tables]'), or save the table as CSV") from None
    try:
        frame = pd.read_parquet(path)
    except ImportError as exc:
        raise DataFileError(path, f"reading Parquet needs pyarrow ({exc})") from None
    except Exception as exc:  # pyarrow's errors have no common base that is not Exception
        raise DataFileError(path, f"not a readable Parquet file ({type(exc).__name__}: "
                            f"{exc})") from None
    header = [str(c) for c in frame.columns]
    if len(set(header)) != len(header):
        raise DataFileError(path, "duplicate column names")
    if frame.empty:
        raise DataFileError(path, "no data rows")
    chosen = [header[i] for i in choose(header)]
    try:
        table = Table({name: column_of(name, frame[name]) for name in chosen},
                      np.arange(1, len(frame) + 1, dtype=np.int64))
    except TableError as exc:
        raise DataFileError(path, str(exc)) from None
    return header, table


def _raw_numbers(table: Table, path: Path) -> NDArray[np.float64]:
    """The features as they are when every cell is a number (as before tables could hold
    text); else no columns until :meth:`Dataset.encode`."""
    if all(isinstance(c, NumberColumn) and not c.missing.any() for c in table.columns.values()):
        return numeric_matrix(table, path)
    return np.empty((len(table), 0))


def _finite_or_nan(cell: str) -> float:
    try:
        v = float(cell)
    except ValueError:
        return float("nan")
    return v if math.isfinite(v) else float("nan")


def _target_values(col: NumberColumn | TextColumn
                   ) -> tuple[NDArray[np.float64] | None, list[str] | None]:
    """A target column with no missing cells as numbers (when every cell is one), else
    as text labels."""
    if isinstance(col, NumberColumn):
        return col.values, None
    text = [col.vocab[c] for c in col.codes]
    numbers = _finite_numbers(text)
    return (numbers, None) if numbers is not None else (None, text)


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


def read_features_table(path: str | os.PathLike[str], columns: list[str] | None = None,
                        notes: list[str] | None = None) -> Table:
    """The columns ``columns`` of a CSV (matched by name; others ignored and named in
    ``notes``), or every column: what a saved model is run on."""
    path = Path(path)

    def choose(header: list[str]) -> list[int]:
        if not columns:
            return list(range(len(header)))
        order, missing, extra = match_columns(header, columns)
        if missing:
            raise DataFileError(
                path, f"missing feature column(s) {', '.join(map(repr, missing))}; the model was "
                f"trained on columns {', '.join(map(repr, columns))}"
            )
        if extra and notes is not None:
            notes.append(f"{path}: ignored column(s) the model was not trained on: "
                         f"{', '.join(map(repr, extra))}")
        return order

    return read_csv_table(path, choose, notes)[1]


def numeric_matrix(table: Table, path: str | os.PathLike[str]) -> NDArray[np.float64]:
    """A table of numbers as a float array (a model without a table encoder takes
    nothing else): a text or missing cell is refused naming its row and column."""
    out = np.empty((len(table), len(table.names)))
    for j, (name, col) in enumerate(table.columns.items()):
        bad = col.missing if isinstance(col, NumberColumn) else np.ones(len(col), dtype=bool)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            cell = (repr(col.vocab[col.codes[i]]) if isinstance(col, TextColumn)
                    and col.codes[i] >= 0 else "a missing cell")
            row = f"row {int(table.lines[i])}, " if table.lines is not None else f"row {i}, "
            raise DataFileError(path, f"{cell} is not a number; this model was trained on "
                                "numbers only", f"{row}column {name!r}")
        assert isinstance(col, NumberColumn)
        out[:, j] = col.values
    return out


def read_features_csv(path: str | os.PathLike[str],
                      feature_names: list[str] | None = None) -> NDArray[np.float64]:
    """Feature matrix of a numeric CSV for prediction by a model without a table encoder.

    With ``feature_names`` (saved with the model) those columns are taken, in that
    order, and any other column (e.g. the target) is ignored; without, every column.
    """
    return numeric_matrix(read_features_table(path, feature_names), path)


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
