"""User data in tables: CSV, Parquet and Excel files with a header row, and DataFrames.
NumPy files are :mod:`.numpyfile`; what a target column means (task, class labels) is
:mod:`.targets`.

Table rules (the reading itself is :mod:`chainrule.datasets.reader`): the first row names
the columns; feature cells are numbers or text, empty or ``NA`` when missing, encoded
later by a :class:`~chainrule.table.TableEncoder` fitted on the training split; the target
column (``target=``) may hold numbers or text, and rows whose target is missing are
dropped and counted. Row-index columns (unnamed, ``Unnamed: N``, or counting 0, 1, 2, … /
1, 2, 3, … down the file) are dropped, each with a note in ``Dataset.notes``. Rows are
counted the way a text editor counts lines, so ``row 1`` is the header and the first data
row is ``row 2``."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from ..io.safetext import name_list as quoted_names
from ..table import TableEncoder
from ..table.columns import NumberColumn, Table, TableError, TextColumn, drop_row_index
from ..table.ranges import (
    describe,
    first_out_of_range,
    name_list,
    range_advice,
    shown,
)
from .base import TASKS, Dataset
from .csvfile import DataFileError, cell_at, column_cells
from .fingerprint import fingerprint
from .numpyfile import load_npz, read_features_numpy
from .reader import frame_columns, read_table, table_format
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


def load_csv(path: str | os.PathLike[str] | Any, target: str | None, task: str | None = None,
             *, encode: bool = True) -> Dataset:
    """A table with a header row — a CSV, Parquet or Excel file, or a pandas DataFrame
    (read by :func:`~chainrule.datasets.reader.read_table`) —: every column but ``target``
    is a feature, numbers or text.

    ``Dataset.X`` is ready for a network: the raw numbers when every feature cell is one;
    else (with ``encode``) the features a :class:`~chainrule.table.TableEncoder` fitted on
    every row makes, with a note saying so. The raw columns stay in ``Dataset.table``, so an
    encoder fitted on the training rows only can replace them
    (``ds.encode(TableEncoder().fit(ds.table.take(train)))``, what ``chainrule train``
    does; it passes ``encode=False`` to skip the first encoding).

    Parameters
    ----------
    path : path of the table file, or a pandas DataFrame
    target : str
        Name of the target column.
    task : {"classification", "regression"}, optional
        Default: inferred (text and integer targets with at most ``MAX_INTEGER_CLASSES``
        distinct values are classes; other numbers, regression), with a note saying so.
    encode : bool, default True
        Whether to encode a table with text or missing cells into ``X`` now.

    Raises
    ------
    DataFileError
        Empty, header-only or ragged file, duplicate column names, an infinite number, a
        missing target column, a target with every cell missing, an unreadable file, a
        format whose reader is not installed. A :class:`~chainrule.errors.FileFormatError`.
    """
    frame = None if isinstance(path, (str, os.PathLike)) else path
    if frame is not None and not (hasattr(frame, "columns") and hasattr(frame, "iloc")):
        raise ValueError(f"path: expected a table file's path or a pandas DataFrame, got "
                         f"{type(frame).__name__}")
    where: str | Path = "DataFrame" if frame is not None else Path(path)
    if not target:
        raise ValueError(f"target: name the target column of {where} (--target COLUMN)")
    if task is not None and task not in TASKS:
        raise ValueError(f"task: expected one of {', '.join(TASKS)}, got {task!r}")
    notes: list[str] = []

    def choose(header: list[str]) -> list[int]:
        t_col = _column_index(Path(where), header, target)
        if len(header) == 1:
            raise DataFileError(where, f"no feature columns besides the target {target!r}")
        return [t_col, *(i for i in range(len(header)) if i != t_col)]

    if frame is not None:
        header, table = frame_columns(frame, choose, "DataFrame", first_line=None)
    else:
        header, table = read_table(where, choose, notes)
    given = table.select([n for n in header if n != target])
    seen = len(notes)
    features = drop_row_index(given, (), notes)
    dropped = _dropped(given.names, features.names, notes[seen:])
    rows = np.arange(len(table)) if table.lines is None else table.lines
    features, y_col, lines = _rows_with_target(where, target, features, table[target],
                                               rows, notes)
    y, classes, task = _target(where, target, y_col, task, notes,
                               lambda i: cell_at(_line(lines[i], table),
                                                 header.index(target), header))
    source: dict[str, Any] = {"target": target, "task": task}
    if frame is None:
        source = {"csv": str(where), **source, "table": fingerprint(where)}
    ds = Dataset(name=Path(where).stem if frame is None else "DataFrame",
                 X=_raw_numbers(features, where), y=y, task=task, classes=classes,
                 feature_names=features.names, target_names=[target], source=source,
                 notes=notes, table=features, dropped=dropped)
    if encode and ds.X.shape[1] == 0:
        _encode_every_row(ds, where)
    return ds


def _target(where: str | Path, target: str, y_col: NumberColumn | TextColumn,
            task: str | None, notes: list[str], cell: Callable[[int], str]
            ) -> tuple[NDArray[Any], list[Any] | None, str]:
    """(y, classes, task) of the target column: the task inferred (with a note) unless
    given; ``cell(i)`` names row ``i``'s target cell in a message."""
    y_numbers, y_text = _target_values(y_col)
    inferred = task is None
    if task is None:
        task = infer_numbers(y_numbers) if y_numbers is not None else "classification"
        notes.append(task_decision(target, task, y_numbers, y_text))
    if task == "classification":
        return (*_class_target(where, target, y_numbers, y_text, inferred), task)
    if y_numbers is None:
        assert y_text is not None
        i = next(i for i, v in enumerate(y_text) if np.isnan(finite_or_nan(v)))
        raise DataFileError(where, f"{y_text[i]!r} is not a number; a regression target "
                            "must be numeric", cell(i))
    return y_numbers.copy(), None, task


def _dropped(before: list[str], after: list[str], notes: list[str]) -> dict[str, str]:
    """The columns the row-index rule dropped, each with the reason its note gives."""
    out = {}
    for name in (n for n in before if n not in after):
        said = [note for note in notes if repr(name) in note]
        out[name] = (said[0].split(": ", 1)[-1] if said else "a row index, not a feature")
    return out


def _line(row: Any, table: Table) -> int | str:
    """A row as messages name it: the file's line number, or a DataFrame's ``index N``."""
    return int(row) if table.lines is not None else f"index {int(row)}"


def _encode_every_row(ds: Dataset, where: str | Path) -> None:
    """Fill ``ds.X`` from its table with an encoder fitted on every row, saying so."""
    assert ds.table is not None
    try:
        ds.encode(TableEncoder().fit(ds.table))
    except TableError as exc:
        raise DataFileError(where, str(exc)) from None
    ds.notes.append(f"features encoded by a TableEncoder fitted on all {len(ds.y)} rows; "
                    "to fit it on the training rows only: "
                    "ds.encode(TableEncoder().fit(ds.table.take(train_rows)))")


def _rows_with_target(path: str | Path, target: str, features: Table,
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
                     f"empty or NA (first: row {_line(lines[~keep][0], features)})")
        rows = np.flatnonzero(keep)
        features, y_col, lines = features.take(rows), y_col.take(rows), lines[rows]
    return features, y_col, lines


def _class_target(path: str | Path, target: str, y_numbers: NDArray[Any] | None,
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


def _raw_numbers(table: Table, path: str | Path) -> NDArray[np.float64]:
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
                        notes: list[str] | None = None, keep: list[str] | None = None,
                        dropped: Iterable[str] = ()) -> Table:
    """The columns ``columns`` of a CSV, Parquet or Excel file (matched by name; others
    ignored and named in ``notes``), or every column: what a saved model is run on, read as
    :func:`load_csv` reads it for training (:func:`~chainrule.datasets.reader.read_table`).
    ``keep`` names more columns to read (identifiers carried into predictions), after
    ``columns``, as text as the file writes them; one that is not there is refused naming
    it. Columns in ``dropped`` (the
    model saw and dropped them) are ignored without a note."""
    path = Path(path)
    kept = [k for k in keep or [] if k not in (columns or [])]

    def choose(header: list[str]) -> list[int]:
        absent = [k for k in kept if k not in header]
        if absent:
            raise DataFileError(path, f"no column {quoted_names(absent)} to keep (--keep); "
                                f"the columns are {name_list(header)}")
        if not columns:
            return list(range(len(header))) if not kept else [
                *(i for i, h in enumerate(header) if h not in kept),
                *(header.index(k) for k in kept)]
        order, missing, extra = match_columns(header, columns)
        if missing:
            raise DataFileError(
                path, f"missing feature column(s) {quoted_names(missing)}; the model was "
                f"trained on columns {quoted_names(columns)}"
            )
        seen = {*kept, *dropped}
        extra = [name for name in extra if name not in seen]
        if extra and notes is not None:
            notes.append(f"{path}: ignored column(s) the model was not trained on: "
                         f"{quoted_names(extra)}")
        return [*order, *(header.index(k) for k in kept)]

    table = read_table(path, choose, notes)[1]
    as_written = [k for k in kept if isinstance(table[k], NumberColumn)]
    if as_written and table_format(path) == "csv":  # an ID such as 007 keeps its zeros
        by_name = dict(table.columns)
        for name in as_written:
            cells = column_cells(path, name)
            if len(cells) != len(table):
                raise DataFileError(path, "changed while being read")
            by_name[name] = TextColumn.of(cells)
        table = Table(by_name, table.lines, table.source)
    return table


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
