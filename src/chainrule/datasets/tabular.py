"""User data in tables: CSV (and Parquet) files with a header row. NumPy files are
:mod:`.numpyfile`; what a target column means (task, class labels) is :mod:`.targets`.

Table rules (the reading itself is :mod:`chainrule.datasets.csvfile`): the first row names
the columns; feature cells are numbers or text, empty or ``NA`` when missing, encoded
later by a :class:`~chainrule.table.TableEncoder` fitted on the training split; the target
column (``target=``) may hold numbers or text, and rows whose target is missing are
dropped and counted. Row-index columns (unnamed, ``Unnamed: N``, or counting 0, 1, 2, … /
1, 2, 3, … down the file) are dropped, each with a note in ``Dataset.notes``. Rows are
counted the way a text editor counts lines, so ``row 1`` is the header and the first data
row is ``row 2``."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from ..io.errors import check_readable_file
from ..io.safetext import name_list as quoted_names
from ..table.columns import (
    NumberColumn,
    Table,
    TableError,
    TextColumn,
    column_of,
    drop_row_index,
)
from ..table.ranges import (
    describe,
    first_out_of_range,
    largest,
    name_list,
    range_advice,
    shown,
)
from .base import TASKS, Dataset
from .csvfile import DataFileError, cell_at, read_csv_table
from .numpyfile import load_npz, read_features_numpy
from .targets import (
    MAX_CLASSES,
    MIN_ROWS_PER_CLASS,
    class_labels,
    finite_numbers,
    finite_or_nan,
    infer_numbers,
    labels_of_numbers,
    task_decision,
)

__all__ = ["DataFileError", "load_csv", "load_npz", "match_columns", "numeric_matrix",
           "read_features_csv", "read_features_numpy", "read_features_table"]


def _column_index(path: Path, header: list[str], name: str) -> int:
    if name not in header:
        raise DataFileError(
            path, f"no column {name!r} (the target); the columns are {name_list(header)}"
        )
    return header.index(name)


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
        task = infer_numbers(y_numbers) if y_numbers is not None else "classification"
        notes.append(task_decision(target, task, y_numbers, y_text))
    classes: list[Any] | None = None
    y: NDArray[Any]
    if task == "classification":
        y, classes = _class_target(path, target, y_numbers, y_text, inferred)
    elif y_numbers is None:
        assert y_text is not None
        i = next(i for i, v in enumerate(y_text) if np.isnan(finite_or_nan(v)))
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
        y, classes = labels_of_numbers(y_numbers)
    else:
        assert y_text is not None
        y, classes = class_labels(y_text)
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
                      np.arange(1, len(frame) + 1, dtype=np.int64), str(path))
    except TableError as exc:
        raise DataFileError(path, str(exc)) from None
    for name, col in table.columns.items():
        if not isinstance(col, NumberColumn):
            continue
        i = first_out_of_range(col.values, np.float64)
        if i is not None:
            raise DataFileError(path, f"{describe(col.values[i])} is too large for a number "
                                f"(accepted: up to ±{largest(np.float64):.2g})",
                                f"row {i + 1}, column {header.index(name) + 1} ({name!r})")
    return header, table


def _raw_numbers(table: Table, path: Path) -> NDArray[np.float64]:
    """The features as they are when every cell is a number (as before tables could hold
    text); else no columns until :meth:`Dataset.encode`."""
    if all(isinstance(c, NumberColumn) and not c.missing.any() for c in table.columns.values()):
        return numeric_matrix(table, path)
    return np.empty((len(table), 0))


def _target_values(col: NumberColumn | TextColumn
                   ) -> tuple[NDArray[np.float64] | None, list[str] | None]:
    """A target column with no missing cells as numbers (when every cell is one), else
    as text labels."""
    if isinstance(col, NumberColumn):
        return col.values, None
    text = [col.vocab[c] for c in col.codes]
    numbers = finite_numbers(text)
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
    """The columns ``columns`` of a CSV or Parquet file (matched by name; others ignored
    and named in ``notes``), or every column: what a saved model is run on."""
    path = Path(path)

    def choose(header: list[str]) -> list[int]:
        if not columns:
            return list(range(len(header)))
        order, missing, extra = match_columns(header, columns)
        if missing:
            raise DataFileError(
                path, f"missing feature column(s) {quoted_names(missing)}; the model was "
                f"trained on columns {quoted_names(columns)}"
            )
        if extra and notes is not None:
            notes.append(f"{path}: ignored column(s) the model was not trained on: "
                         f"{quoted_names(extra)}")
        return order

    if path.suffix.lower() in PARQUET_SUFFIXES:  # as load_csv reads it for training
        return _read_parquet(path, choose)[1]
    return read_csv_table(path, choose, notes)[1]


def numeric_matrix(table: Table, path: str | os.PathLike[str],
                   dtype: DTypeLike = np.float64) -> NDArray[np.float64]:
    """A table of numbers as a float array (a model without a table encoder takes
    nothing else): a text or missing cell is refused naming its row and column, and so is
    a number too large for ``dtype`` (the model's; see :mod:`chainrule.table.ranges`)."""
    out = np.empty((len(table), len(table.names)))
    for j, (name, col) in enumerate(table.columns.items()):
        bad = col.missing if isinstance(col, NumberColumn) else np.ones(len(col), dtype=bool)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            cell = (shown(col.vocab[col.codes[i]]) if isinstance(col, TextColumn)
                    and col.codes[i] >= 0 else "a missing cell")
            raise DataFileError(path, f"{cell} is not a number; this model was trained on "
                                "numbers only", f"{_row(table, i)}column {name!r}")
        assert isinstance(col, NumberColumn)
        out[:, j] = col.values
    big = first_out_of_range(out.reshape(-1), dtype)  # one pass, however many columns
    if big is not None:
        i, j = divmod(big, out.shape[1])
        raise DataFileError(path, f"{describe(out[i, j])} is too large for "
                            f"{np.dtype(dtype).name} ({range_advice(dtype)})",
                            f"{_row(table, i)}column {table.names[j]!r}")
    return out


def _row(table: Table, i: int) -> str:
    return f"row {int(table.lines[i])}, " if table.lines is not None else f"row {i}, "


def read_features_csv(path: str | os.PathLike[str],
                      feature_names: list[str] | None = None) -> NDArray[np.float64]:
    """Feature matrix of a numeric CSV for prediction by a model without a table encoder.

    With ``feature_names`` (saved with the model) those columns are taken, in that
    order, and any other column (e.g. the target) is ignored; without, every column.
    """
    return numeric_matrix(read_features_table(path, feature_names), path)
