"""User data: CSV files with a header row, and NumPy ``.npz``/``.npy`` files (never pickled).

CSV rules: the first row names the columns; every feature cell is a number; the target
column (``target=``) may hold numbers or text. Rows are counted the way a text editor
counts lines, so ``row 1`` is the header and the first data row is ``row 2``.
"""

from __future__ import annotations

import csv
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .base import TASKS, Dataset

#: At most this many distinct integer (or text) target values are read as class labels.
MAX_CLASSES = 50


def _read_rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such CSV file")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = [(i, row) for i, row in enumerate(csv.reader(fh), start=1) if row]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(f"{path}: not a readable UTF-8 CSV file ({exc})") from None
    if not rows:
        raise ValueError(f"{path}: the file is empty; expected a header row and data rows")
    header = [h.strip() for h in rows[0][1]]
    data = rows[1:]
    if not data:
        raise ValueError(f"{path}: only a header row, no data rows")
    for lineno, row in data:
        if len(row) != len(header):
            raise ValueError(
                f"{path}: row {lineno} has {len(row)} cells but the header has {len(header)} "
                "columns; every row needs one value per column"
            )
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise ValueError(f"{path}: duplicate column names in the header: {', '.join(dupes)}")
    return header, data


def _numeric(path: Path, data: list[tuple[int, list[str]]], columns: list[int],
             header: list[str]) -> NDArray[np.float64]:
    out = np.empty((len(data), len(columns)), dtype=np.float64)
    for r, (lineno, row) in enumerate(data):
        for c, col in enumerate(columns):
            cell = row[col].strip()
            try:
                value = float(cell)
            except ValueError:
                value = float("nan")
            if not np.isfinite(value):
                raise ValueError(
                    f"{path}: row {lineno}, column {col + 1} ({header[col]!r}): {cell!r} is not "
                    "a finite number; features must be numeric (encode categories as numbers)"
                )
            out[r, c] = value
    return out


def _column_index(path: Path, header: list[str], name: str) -> int:
    if name not in header:
        raise ValueError(
            f"{path}: no column {name!r} (the target); the columns are {', '.join(header)}"
        )
    return header.index(name)


def infer_task(values: list[str]) -> str:
    """'classification' for integer-valued or text targets with at most ``MAX_CLASSES``
    distinct values, else 'regression'."""
    try:
        numbers = np.array([float(v) for v in values])
    except ValueError:
        return "classification"
    if np.all(numbers == np.round(numbers)) and np.unique(numbers).size <= MAX_CLASSES:
        return "classification"
    return "regression"


def _labels(values: list[str]) -> tuple[NDArray[np.int64], list[Any]]:
    """Class indices and the sorted labels (ints when every value is an integer)."""
    try:
        numbers = np.array([float(v) for v in values])
        if np.all(numbers == np.round(numbers)):
            keys: list[Any] = [int(v) for v in numbers]
        else:
            keys = [float(v) for v in numbers]
    except ValueError:
        keys = list(values)
    classes = sorted(set(keys))
    index = {c: i for i, c in enumerate(classes)}
    return np.array([index[k] for k in keys], dtype=np.int64), classes


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
    ValueError
        Empty or ragged file, a non-numeric feature cell (naming row and column),
        a missing target column.
    """
    path = Path(path)
    if not target:
        raise ValueError(f"target: name the target column of {path} (--target COLUMN)")
    if task is not None and task not in TASKS:
        raise ValueError(f"task: expected one of {', '.join(TASKS)}, got {task!r}")
    header, data = _read_rows(path)
    t_col = _column_index(path, header, target)
    features = [i for i in range(len(header)) if i != t_col]
    if not features:
        raise ValueError(f"{path}: no feature columns besides the target {target!r}")
    X = _numeric(path, data, features, header)
    raw_y = [row[t_col].strip() for _, row in data]
    inferred = task is None
    task = task or infer_task(raw_y)
    classes: list[Any] | None = None
    y: NDArray[Any]
    if task == "classification":
        y, classes = _labels(raw_y)
        if inferred and len(classes) > MAX_CLASSES:
            raise ValueError(
                f"{path}: target column {target!r} holds text with {len(classes)} distinct "
                f"values (more than {MAX_CLASSES}); if these are really classes pass "
                "--task classification"
            )
    else:
        y = _numeric(path, data, [t_col], header)[:, 0]
    return Dataset(
        name=path.stem,
        X=X,
        y=y,
        task=task,
        classes=classes,
        feature_names=[header[i] for i in features],
        target_names=[target],
        source={"csv": str(path), "target": target, "task": task},
    )


def read_features_csv(path: str | os.PathLike[str],
                      feature_names: list[str] | None = None) -> NDArray[np.float64]:
    """Feature matrix of a CSV for prediction.

    With ``feature_names`` (saved with the model) those columns are taken, in that
    order, and any other column (e.g. the target) is ignored; without, every column.
    """
    path = Path(path)
    header, data = _read_rows(path)
    if feature_names:
        missing = [f for f in feature_names if f not in header]
        if missing:
            raise ValueError(
                f"{path}: missing feature column(s) {', '.join(missing)}; the model was trained "
                f"on columns {', '.join(feature_names)}"
            )
        columns = [header.index(f) for f in feature_names]
    else:
        columns = list(range(len(header)))
    return _numeric(path, data, columns, header)


def _load_numpy(path: Path) -> Any:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise ValueError(
            f"{path}: refused, the file holds a pickled Python object ({exc}); only plain "
            "numeric arrays are read (save with numpy.savez on numeric arrays)"
        ) from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(f"{path}: not a readable .npy/.npz file ({exc})") from None


def _plain_array(path: Path, key: str, data: Any) -> NDArray:
    try:
        arr = data[key]
    except KeyError:
        raise ValueError(
            f"{path}: no array {key!r}; the file holds {', '.join(data.files) or 'nothing'}"
        ) from None
    except ValueError as exc:  # an object array inside the .npz
        raise ValueError(
            f"{path}: refused array {key!r}: it holds pickled Python objects ({exc}); only "
            "plain numeric arrays are read"
        ) from None
    return np.asarray(arr)


def load_npz(path: str | os.PathLike[str], task: str | None = None) -> Dataset:
    """An ``.npz`` with arrays ``X`` (n_samples, n_features) and ``y`` (n_samples[, k]).

    Loaded with ``allow_pickle=False``: object arrays are refused.
    """
    path = Path(path)
    if task is not None and task not in TASKS:
        raise ValueError(f"task: expected one of {', '.join(TASKS)}, got {task!r}")
    data = _load_numpy(path)
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: expected an .npz archive with arrays X and y, got one array")
    with data:
        X = _plain_array(path, "X", data)
        y_raw = _plain_array(path, "y", data)
    if X.ndim != 2 or not np.issubdtype(X.dtype, np.number):
        raise ValueError(f"{path}: X must be a 2-D numeric array, got {X.dtype} {X.shape}")
    if y_raw.shape[:1] != X.shape[:1]:
        raise ValueError(f"{path}: y has {y_raw.shape[:1]} rows but X has {X.shape[0]}")
    X = X.astype(np.float64)
    if not np.all(np.isfinite(X)):
        bad = np.argwhere(~np.isfinite(X))[0]
        raise ValueError(f"{path}: X[{bad[0]}, {bad[1]}] is not finite")
    values = [str(v) for v in y_raw.reshape(-1)] if y_raw.ndim == 1 else []
    if task is None:
        task = infer_task(values) if y_raw.ndim == 1 else "regression"
    classes: list[Any] | None = None
    y: NDArray[Any]
    if task == "classification":
        if y_raw.ndim != 1:
            raise ValueError(f"{path}: classification needs a 1-D y of labels, got {y_raw.shape}")
        y, classes = _labels(values)
    else:
        if not np.issubdtype(y_raw.dtype, np.number):
            raise ValueError(f"{path}: regression needs a numeric y, got dtype {y_raw.dtype}")
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
    data = _load_numpy(path)
    if isinstance(data, np.lib.npyio.NpzFile):
        with data:
            X = _plain_array(path, "X", data)
    else:
        X = np.asarray(data)
    if X.ndim != 2 or not np.issubdtype(X.dtype, np.number):
        raise ValueError(f"{path}: expected a 2-D numeric array, got {X.dtype} {X.shape}")
    return X.astype(np.float64)
