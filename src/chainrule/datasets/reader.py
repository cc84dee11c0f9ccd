"""One reader for tables: every command and :func:`chainrule.datasets.load` read a table
file or a pandas DataFrame through :func:`read_table`, so they accept the same formats and
refuse a file with the same message.

The format is told by the file's first bytes, then by its suffix:

- ``PAR1``: Parquet (pandas + pyarrow, the ``tables`` extra); rows are numbered from 1.
- a zip archive holding ``xl/``, or a ``.xlsx``/``.xlsm`` name: an Excel workbook, its first
  sheet read by pandas' ``read_excel`` where openpyxl is installed, else refused in one line
  naming the format and what to install; the header is row 1, as Excel numbers rows.
- ``D0 CF 11 E0``: a legacy ``.xls`` workbook, the same with xlrd.
- any other zip archive (an ``.npz``, a ``.zip``) or a gzip-compressed file: refused,
  naming what it is.
- anything else: CSV text (:mod:`chainrule.datasets.csvfile`: encoding, delimiter, rows).

A DataFrame's rows are named by position (``row index 0`` is its first row), as pandas
names them.
"""

from __future__ import annotations

import importlib.util
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..io.errors import check_readable_file, first_bytes
from ..table.columns import NumberColumn, Table, TableError, column_of
from ..table.ranges import describe, first_out_of_range, largest
from .csvfile import DataFileError, read_csv_table

#: Files read with pandas and pyarrow instead of the CSV reader.
PARQUET_SUFFIXES = (".parquet", ".pq")
#: Excel workbooks, read with pandas and openpyxl (``.xls``: xlrd).
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls")
#: What each format is called in messages, and the package pandas needs to read it.
FORMATS = {
    "csv": ("a CSV file", None),
    "parquet": ("a Parquet file", "pyarrow"),
    "excel": ("an Excel workbook (.xlsx)", "openpyxl"),
    "xls": ("a legacy Excel workbook (.xls)", "xlrd"),
}
_PARQUET_MAGIC = b"PAR1"
_ZIP_MAGIC = b"PK\x03\x04"
_GZIP_MAGIC = b"\x1f\x8b"
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

#: ``choose(header)``: the positions of the columns to read, in the order wanted.
Chooser = Callable[[list[str]], list[int]]


def table_format(path: str | Path) -> str:
    """The format of the table file ``path``: a key of :data:`FORMATS`. Raises
    :class:`DataFileError` for a zip archive that is not a workbook, ``FileNotFoundError``
    for a missing file."""
    path = Path(path)
    suffix = path.suffix.lower()
    named = ("parquet" if suffix in PARQUET_SUFFIXES else
             "excel" if suffix in EXCEL_SUFFIXES else "csv")
    check_readable_file(path, DataFileError, FORMATS[named][0].split(" ", 1)[1])
    head = first_bytes(path, 8, DataFileError)
    if head.startswith(_PARQUET_MAGIC):
        return "parquet"
    if head.startswith(_OLE2_MAGIC):
        return "xls"
    if head.startswith(_GZIP_MAGIC):
        raise DataFileError(path, "gzip-compressed; decompress it first (gunzip), then give "
                            "the CSV, Parquet or Excel file")
    if head.startswith(_ZIP_MAGIC):
        if suffix in (".xlsx", ".xlsm") or _holds_workbook(path):
            return "excel"
        raise DataFileError(path, "a zip archive, not a table; expected a CSV, Parquet or "
                            "Excel file")
    if suffix in PARQUET_SUFFIXES and head:
        return "parquet"  # pyarrow says what is wrong with it
    return "csv"


def _holds_workbook(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.startswith("xl/") for name in archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


def read_table(path: str | Path, choose: Chooser, notes: list[str] | None = None
               ) -> tuple[list[str], Table]:
    """The header and the columns ``choose(header)`` picks, of a CSV, Parquet or Excel file
    (see the module docstring), as a :class:`~chainrule.table.Table` whose ``lines`` number
    its rows as the file's own viewer does. Raises :class:`DataFileError` naming the file
    (and, where one applies, the row and column) for anything that cannot be read,
    ``FileNotFoundError`` for a missing file."""
    path = Path(path)
    kind = table_format(path)
    if kind == "csv":
        return read_csv_table(path, choose, notes)
    frame = _pandas_read(path, kind)
    first = 2 if kind in ("excel", "xls") else 1  # Excel's row 1 is the header
    return frame_columns(frame, choose, str(path), first_line=first)


def _pandas_read(path: Path, kind: str) -> Any:
    """The DataFrame pandas reads from ``path`` (Parquet or Excel); a missing package is
    refused naming the format and what to install."""
    what, package = FORMATS[kind]
    assert package is not None
    pd = _pandas(path, what, package)
    if not installed(package):
        raise DataFileError(path, f"{what}; reading it needs the package {package} (pip "
                            f"install {package}), or save the table as CSV")
    try:
        if kind == "parquet":
            return pd.read_parquet(path)
        return pd.read_excel(path, sheet_name=0)
    except ImportError as exc:  # a package too old, or one of its own dependencies
        raise DataFileError(path, f"{what}; reading it needs {package} ({exc})") from None
    except Exception as exc:  # noqa: BLE001  pyarrow's and openpyxl's errors share no base
        said = " ".join(str(exc).split())  # pyarrow's messages run over several lines
        said = said if len(said) <= 200 else said[:199] + "…"
        raise DataFileError(path, f"not readable as {what} ({type(exc).__name__}: "
                            f"{said})") from None


def installed(package: str) -> bool:
    """Whether ``package`` can be imported (looked up, not imported)."""
    return importlib.util.find_spec(package) is not None


def _pandas(path: Path, what: str, package: str) -> Any:
    try:
        import pandas as pd
    except ImportError:
        raise DataFileError(path, f"{what}; reading it needs pandas and {package} (pip "
                            "install 'chainrule[tables]'), or save the table as CSV") from None
    return pd


def frame_columns(frame: Any, choose: Chooser, source: str, *, first_line: int | None
                  ) -> tuple[list[str], Table]:
    """The header and chosen columns of a pandas DataFrame (read from the file ``source``,
    whose first data row is ``first_line``; None: a DataFrame given as it is, its rows named
    by position). A number past float64's range is refused naming its row and column."""
    header = [str(c) for c in frame.columns]
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise DataFileError(source, "duplicate column names: "
                            f"{', '.join(map(repr, dupes))}")
    if len(frame) == 0:
        raise DataFileError(source, "no data rows")
    positions = choose(header)
    lines = (None if first_line is None
             else np.arange(first_line, first_line + len(frame), dtype=np.int64))
    try:
        table = Table({header[i]: _column(header[i], frame.iloc[:, i]) for i in positions},
                      lines, source)
    except TableError as exc:
        raise DataFileError(source, str(exc)) from None
    for name, col in table.columns.items():
        if not isinstance(col, NumberColumn):
            continue
        i = first_out_of_range(col.values, np.float64)
        if i is not None:
            row = f"row {int(lines[i])}" if lines is not None else f"row index {i}"
            raise DataFileError(source, f"{describe(col.values[i])} is too large for a number "
                                f"(accepted: up to ±{largest(np.float64):.2g})",
                                f"{row}, column {header.index(name) + 1} ({name!r})")
    return header, table


def _column(name: str, series: Any) -> Any:
    """A column of a DataFrame; pandas' nullable numbers (``Int64``, ``Float64``, with
    ``<NA>``) become float64 with NaN where a cell is missing."""
    dtype = series.dtype
    if not isinstance(dtype, np.dtype) and getattr(dtype, "kind", None) in ("f", "i", "u"):
        series = series.to_numpy(dtype=np.float64, na_value=np.nan)
    return column_of(name, series)


__all__ = ["EXCEL_SUFFIXES", "FORMATS", "PARQUET_SUFFIXES", "frame_columns", "read_table",
           "table_format"]
