"""Reading a CSV file into a :class:`~chainrule.table.Table`, in one streaming pass.

The header row names the columns. A column is numbers while every cell is a number or
missing (a :data:`~chainrule.table.MISSING` token such as ``""`` or ``NA``); otherwise it is
text, stored as codes into its distinct strings. Rows are converted a chunk at a time
(NumPy parses the numbers), so memory stays near 8 bytes a number and 4 a text cell, not
the size of Python strings for the whole file.

The delimiter is the one of ``,`` ``;`` tab ``|`` that splits the header into the most
columns; with ``;``, ``1,5`` is read as 1.5 (a decimal comma). A file that starts with a
byte-order mark is read in the encoding it names (UTF-8, UTF-16 or UTF-32, either byte
order), and so is UTF-16 or UTF-32 without one (told by its NUL bytes); other NUL bytes
mean the file is not text, and it is refused. A file that is not UTF-8 is read as
Windows-1252 (with a note). Rows are counted the way a text editor counts
lines: ``row 1`` is the header.

Where pandas is installed (the ``tables`` extra) and the file is plain — UTF-8, no quotes,
every line a row of the header's width — pandas' C parser splits it instead
(:mod:`chainrule.datasets.csvfast`), with the same table as a result, about four times
faster; any other file, and any file without pandas, is read by the loop here. Below
:data:`FAST_MIN_BYTES` the loop reads the file too: importing pandas costs more than it saves.
"""

from __future__ import annotations

import codecs
import collections
import csv
import itertools
from array import array
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import numpy as np

from ..io.errors import FileFormatError, check_readable_file, os_reason
from ..table.columns import MISSING, NumberColumn, Table, TextColumn
from ..table.parse import numbers_as_text, text_number
from ..table.ranges import first_out_of_range, largest, shown

#: Rows converted at a time.
CHUNK = 1 << 15
_DELIMITERS = (",", ";", "\t", "|")
_ENCODINGS = ("utf-8-sig", "cp1252")
#: Byte-order marks, the longest first (UTF-32 LE starts like UTF-16 LE).
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
#: Where NUL bytes mostly sit (by byte position modulo 4) in text of mostly Latin letters
#: without a byte-order mark.
_NUL_PATTERNS = (("utf-32-le", [False, True, True, True]),
                 ("utf-32-be", [True, True, True, False]),
                 ("utf-16-le", [False, True, False, True]),
                 ("utf-16-be", [True, False, True, False]))
#: Bytes looked at to tell the encoding.
_SNIFF = 1 << 12


class DataFileError(FileFormatError):
    """A CSV, ``.npz`` or ``.npy`` file that cannot be used: not the format, corrupt,
    non-finite numbers, unreadable. A :class:`~chainrule.errors.FileFormatError`: the
    message names the file and, where one applies, the row and column or the array."""


def cell_at(lineno: int | str, col: int, header: list[str]) -> str:
    return f"row {lineno}, column {col + 1} ({header[col]!r})"


def _rows(fh: IO[str], delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """Non-empty rows with the line number a text editor shows (rows with quoted line
    breaks count as one row)."""
    for i, row in enumerate(csv.reader(fh, delimiter=delimiter), start=1):
        if row:
            yield i, row


def _width(line: str, delimiter: str) -> int:
    try:
        return len(next(csv.reader([line], delimiter=delimiter), []))
    except csv.Error:  # e.g. one field longer than csv's limit: not this delimiter
        return 0


def _delimiter(first_line: str) -> str:
    widths = {d: _width(first_line, d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: (widths[d], d == ","))
    return best if widths[best] > 1 else ","


class _Column:
    """One column while it is read: numbers (``array('d')``) until a cell is text, then
    codes into a vocabulary."""

    def __init__(self, index: int, decimal_comma: bool) -> None:
        self.index = index
        self.decimal_comma = decimal_comma
        self.numbers: array | None = array("d")
        self.codes = array("i")
        self.vocab: dict[str, int] = {}

    def add(self, cells: list[str]) -> list[str] | None:
        """Append a chunk's cells; returns None, or the cells when the column just turned
        to text (the caller then re-reads the rows before this chunk)."""
        if self.numbers is not None:
            values = _as_numbers(cells, self.decimal_comma)
            if values is not None:
                self.numbers.frombytes(values.tobytes())
                return None
            if len(self.numbers):
                return cells
            self.numbers = None
        self.add_text(cells)
        return None

    def add_text(self, cells: list[str]) -> None:
        vocab = self.vocab
        self.codes.extend([-1 if (s := c.strip()) in MISSING else vocab.setdefault(s, len(vocab))
                           for c in cells])

    def column(self) -> NumberColumn | TextColumn:
        if self.numbers is not None:
            return NumberColumn(np.frombuffer(self.numbers, dtype=np.float64))
        return TextColumn(np.frombuffer(self.codes, dtype=np.int32), tuple(self.vocab))


def _as_numbers(cells: list[str], decimal_comma: bool) -> np.ndarray | None:
    """The cells as float64 (missing → NaN), or None if any is text."""
    try:
        return np.array(cells, dtype=np.float64)
    except ValueError:
        pass
    out = np.empty(len(cells))
    for i, c in enumerate(cells):
        s = c.strip()
        if s in MISSING:
            out[i] = np.nan
            continue
        try:
            out[i] = float(s)
        except ValueError:
            if not (decimal_comma and s.count(",") == 1):
                return None
            try:
                out[i] = float(s.replace(",", "."))
            except ValueError:
                return None
    return out


def read_csv_table(path: str | Path, choose: Callable[[list[str]], list[int]],
                   notes: list[str] | None = None) -> tuple[list[str], Table]:
    """The header and the columns ``choose(header)`` picks (indices), as a Table whose
    ``lines`` number its rows. Raises :class:`DataFileError` for an empty, header-only,
    ragged, undecodable or unreadable file, duplicate column names, and an infinite
    number (naming row and column)."""
    path = Path(path)
    check_readable_file(path, DataFileError, "CSV file")
    encodings = _encodings(path)
    for encoding in encodings:
        try:
            header, table = _read(path, choose, encoding)
        except UnicodeDecodeError:
            continue
        if encoding == "cp1252" and notes is not None:
            notes.append(f"{path.name} is not UTF-8; read as {encoding} (Windows-1252)")
        return header, table
    if encodings == _ENCODINGS:
        raise DataFileError(path, "not a readable text file in UTF-8 or Windows-1252")
    raise DataFileError(path, f"not readable as {encodings[0].upper()} text, the encoding its "
                        "first bytes name; save it as UTF-8")


def column_cells(path: str | Path, name: str) -> list[str]:
    """The cells of column ``name`` as the file writes them (``007`` stays ``007``), one per
    data row of :func:`read_csv_table`'s table: identifiers carried through as they are.
    Raises :class:`DataFileError` if the file is not readable the same way any more."""
    path = Path(path)
    for encoding in _encodings(path):
        try:
            with open(path, newline="", encoding=encoding) as fh:
                delimiter = _delimiter(fh.readline())
                fh.seek(0)
                rows = _rows(fh, delimiter)
                _, header = next(rows)
                j = [h.strip() for h in header].index(name)
                return [row[j] for _, row in rows]
        except UnicodeDecodeError:
            continue
        except (csv.Error, OSError, StopIteration, ValueError, IndexError) as exc:
            raise DataFileError(path, f"changed while being read ({exc})") from None
    raise DataFileError(path, "changed while being read")


def _encodings(path: Path) -> tuple[str, ...]:
    """The encodings to try, from the first bytes: the one a byte-order mark names, UTF-16
    or UTF-32 told by where NUL bytes sit in them, else UTF-8 then Windows-1252. A NUL
    byte in a file of neither is refused (naming its line): the file is not text."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(_SNIFF)
            for bom, encoding in _BOMS:
                if head.startswith(bom):
                    return (encoding,)
            whole = head[: len(head) // 4 * 4]
            zeros = [whole[k::4].count(0) * 4 > len(whole) // 2 for k in range(4)]
            for encoding, pattern in _NUL_PATTERNS:
                if whole and zeros == pattern:
                    return (encoding,)
            nul = _first_nul(fh, head)
    except OSError as exc:
        raise DataFileError(path, os_reason(exc)) from None
    if nul is None:
        return _ENCODINGS
    raise DataFileError(path, f"holds a NUL byte (byte {nul[0]}): not a text file; a CSV "
                        "file must be text (UTF-8, or UTF-16 with a byte-order mark)",
                        f"row {nul[1]}")


def _first_nul(fh: IO[bytes], head: bytes) -> tuple[int, int] | None:
    """(byte offset, line) of the first NUL byte in ``head`` and the rest of ``fh``."""
    offset, lines, block = 0, 0, head
    while block:
        k = block.find(b"\0")
        if k >= 0:
            return offset + k, lines + block.count(b"\n", 0, k) + 1
        lines += block.count(b"\n")
        offset += len(block)
        block = fh.read(1 << 22)
    return None


def _read(path: Path, choose: Callable[[list[str]], list[int]], encoding: str
          ) -> tuple[list[str], Table]:
    try:
        with open(path, newline="", encoding=encoding) as fh:
            first_line = fh.readline()
            fh.seek(0)
            delimiter = _delimiter(first_line)
            rows = _rows(fh, delimiter)
            first = next(rows, None)
            if first is None:
                raise DataFileError(path, "the file is empty; expected a header row and data "
                                    "rows")
            header = [h.strip() for h in first[1]]
            dupes = sorted(h for h, n in collections.Counter(header).items() if n > 1)
            if dupes:
                raise DataFileError(path, "duplicate column names in the header: "
                                    f"{', '.join(map(repr, dupes))}")
            chosen = choose(header)
            fast = _fast(path, encoding, delimiter, header, chosen)
            if fast is not None:
                return header, _checked(path, header, *fast, (encoding, delimiter))
            columns = [_Column(c, decimal_comma=delimiter == ";") for c in chosen]
            lines = array("q")
            width = len(header)
            while chunk := list(itertools.islice(rows, CHUNK)):
                for lineno, row in chunk:
                    if len(row) != width:
                        raise DataFileError(
                            path, f"row {lineno} has {len(row)} cells but the header has "
                            f"{width} columns; every row needs one value per column")
                for col in columns:
                    cells = [row[col.index] for _, row in chunk]
                    turned = col.add(cells)
                    if turned is not None:
                        before = _reread(path, encoding, delimiter, col.index, len(lines))
                        col.numbers = None
                        col.add_text(before)
                        col.add_text(turned)
                lines.extend([lineno for lineno, _ in chunk])
    except csv.Error as exc:
        raise DataFileError(path, f"not a readable CSV file ({exc})") from None
    except OSError as exc:
        raise DataFileError(path, os_reason(exc)) from None
    if not lines:
        raise DataFileError(path, "only a header row, no data rows")
    return header, _checked(path, header, {c.index: c.column() for c in columns},
                            np.frombuffer(lines, dtype=np.int64), (encoding, delimiter))


#: Files smaller than this are read by the loop even where pandas is installed. Measured
#: on this project's 2-core machine (a fresh process, 21 columns): 7.5 MB in 0.89 s through
#: pandas (its import included) vs 1.04 s by the loop, 30 MB in 1.7 vs 5.3 s; the benchmark
#: tables of 0.01-1.4 MB in 0.27-0.88 s through pandas vs 0.001-0.36 s by the loop.
FAST_MIN_BYTES = 4 * 2**20


def _fast(path: Path, encoding: str, delimiter: str, header: list[str], chosen: list[int]
          ) -> tuple[dict[int, NumberColumn | TextColumn], np.ndarray] | None:
    """The columns and line numbers from :mod:`chainrule.datasets.csvfast` (pandas' C
    parser) where it reads this file exactly as the loop below would and the file is large
    enough to repay importing pandas (:data:`FAST_MIN_BYTES`); else None."""
    if encoding != _ENCODINGS[0] or len(chosen) == 0:
        return None
    if path.stat().st_size < FAST_MIN_BYTES:
        return None
    from .csvfast import read_fast

    got = read_fast(path, delimiter, header, chosen)
    if got is None:
        return None
    n = len(next(iter(got.values())))
    return got, np.arange(2, n + 2, dtype=np.int64)


def _checked(path: Path, header: list[str], columns: dict[int, NumberColumn | TextColumn],
             line_numbers: np.ndarray, dialect: tuple[str, str]) -> Table:
    """The table of ``columns`` (by header index, in the chosen order); an infinite number
    is refused naming its row and column, and so is one past the range any network
    accepts (:func:`~chainrule.table.ranges.largest` of float64: ``1e400``, ``1.7e308``,
    ``$`` and 400 digits), its text read again from the file (``dialect``: encoding and
    delimiter) to show what the cell holds."""
    limit = largest(np.float64)
    for index, got in columns.items():
        i = _first_too_large(got, limit)
        if i is None:
            continue
        where = cell_at(int(line_numbers[i]), index, header)
        text = _cell_text(path, *dialect, int(line_numbers[i]), index).strip()
        if isinstance(got, NumberColumn) and text.lstrip("+-").lower() in (
                "inf", "infinity", ""):
            raise DataFileError(path, f"{str(float(got.values[i]))!r} is not a finite "
                                "number (leave a cell empty for a missing value)", where)
        raise DataFileError(path, f"{shown(text)} is too large for a number (accepted: up "
                            f"to ±{limit:.2g})", where)
    return Table({header[i]: c for i, c in columns.items()}, line_numbers, str(path))


def _first_too_large(col: NumberColumn | TextColumn, limit: float) -> int | None:
    """The first row of ``col`` beyond ``limit`` (or infinite): a number, or text that
    reads as one (:func:`~chainrule.table.parse.text_number`, which has no exponent, so
    only a cell of 300 digits or more can be)."""
    if isinstance(col, NumberColumn):
        return first_out_of_range(col.values, np.float64)
    long = [k for k, v in enumerate(col.vocab) if len(v) > 300]
    if not long or not numbers_as_text(col.vocab):
        return None
    big = [k for k in long if not abs(text_number(col.vocab[k])) <= limit]
    if not big:
        return None
    return int(np.flatnonzero(np.isin(col.codes, big))[0])


def _cell_text(path: Path, encoding: str, delimiter: str, lineno: int, col: int) -> str:
    """The text of the cell in row ``lineno`` (as :func:`_rows` numbers rows), column
    ``col``; empty if the file changed."""
    try:
        with open(path, newline="", encoding=encoding) as fh:
            for i, row in _rows(fh, delimiter):
                if i == lineno:
                    return row[col] if col < len(row) else ""
    except (csv.Error, OSError, UnicodeDecodeError):
        pass
    return ""


def _reread(path: Path, encoding: str, delimiter: str, col: int, n: int) -> list[str]:
    """The first ``n`` cells of column ``col`` as text (a column that turned out to hold
    text after ``n`` numeric rows)."""
    try:
        with open(path, newline="", encoding=encoding) as fh:
            rows = _rows(fh, delimiter)
            next(rows)
            out = [row[col] for _, row in itertools.islice(rows, n)]
    except (csv.Error, OSError, StopIteration, IndexError) as exc:
        raise DataFileError(path, f"changed while being read ({exc})") from None
    if len(out) != n:
        raise DataFileError(path, "changed while being read")
    return out
