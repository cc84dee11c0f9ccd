"""Tables larger than memory, read in chunks: Parquet row groups and CSV byte ranges, each
chunk a :class:`~chainrule.table.Table` of a few thousand rows, so memory follows the chunk,
never the file (issue 31).

:class:`ChunkSource` opens one table file and indexes its chunks without reading them:

- Parquet: a chunk is a row group (its rows counted by the file's footer); one row group
  is the most the reader holds, so write files with row groups of bounded size
  (``pyarrow.parquet.write_table(..., row_group_size=65_536)``).
- CSV: a chunk is a byte range of about ``chunk_bytes`` that ends at a line break; the
  header is read once and given to every chunk. A cell whose quotes hold a line break
  cannot be cut that way and is refused, naming the rows.

Any chunk can be read by its number (:meth:`ChunkSource.read`), so training can visit them
in a seeded order. A row's *position* (0 for the first data row, over the whole file) is
fixed by the file, whatever the order; :func:`split_of` decides its split from a seeded hash
of it, so no split is ever materialised.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..table.columns import MISSING, Table
from .csvfile import DataFileError
from .reader import _pandas, frame_columns, installed, table_format

#: About this many bytes of CSV text make one chunk (a few tens of thousands of rows).
CHUNK_BYTES = 8 << 20
#: The splits, as :func:`split_of` numbers them.
TRAIN, VAL, TEST = 0, 1, 2


@dataclass(frozen=True)
class Chunk:
    """One chunk of a table file: its number, the position of its first row in the file
    (0-based, data rows only) and its rows as a :class:`Table` (``lines`` are the rows'
    line numbers in the file, as an editor shows them for a CSV, 1-based rows for
    Parquet)."""

    index: int
    start: int
    table: Table

    @property
    def positions(self) -> NDArray[np.int64]:
        """The file positions of the chunk's rows: array of shape (n_rows,)."""
        return np.arange(self.start, self.start + len(self.table), dtype=np.int64)


class ChunkSource:
    """A CSV or Parquet file as numbered chunks.

    Parameters
    ----------
    path : str or Path
    chunk_bytes : int
        CSV only: about how many bytes of text one chunk holds.

    Attributes
    ----------
    path : Path
    kind : {"csv", "parquet"}
    header : list of str
        The column names.
    n_chunks : int
    """

    def __init__(self, path: str | Path, *, chunk_bytes: int = CHUNK_BYTES) -> None:
        if isinstance(chunk_bytes, bool) or not isinstance(chunk_bytes, int) or chunk_bytes < 1:
            raise ValueError(f"chunk_bytes: expected a positive integer, got {chunk_bytes!r}")
        self.path = Path(path)
        self.kind = table_format(self.path)
        if self.kind not in ("csv", "parquet"):
            raise DataFileError(self.path, f"{self.kind} files are not streamed; save the "
                                "table as Parquet or CSV")
        if self.kind == "parquet":
            self._open_parquet()
        else:
            self._index_csv(chunk_bytes)

    # -- Parquet ---------------------------------------------------------------------------
    def _open_parquet(self) -> None:
        if not installed("pyarrow"):
            raise DataFileError(self.path, "a Parquet file; streaming it needs the package "
                                "pyarrow (pip install 'chainrule[tables]')")
        import pyarrow.parquet as pq

        try:
            self._pq = pq.ParquetFile(self.path)
        except Exception as exc:  # noqa: BLE001  pyarrow's errors share no base
            raise DataFileError(self.path, f"not readable as a Parquet file ({exc})") from None
        meta = self._pq.metadata
        self.header = [str(n) for n in self._pq.schema_arrow.names]
        sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        self._starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.n_chunks = len(sizes)

    # -- CSV -------------------------------------------------------------------------------
    def _index_csv(self, chunk_bytes: int) -> None:
        """The header line and the byte ranges of the chunks, each ending after a line
        break; rows are counted as chunks are first read (:meth:`read`)."""
        with open(self.path, "rb") as fh:
            self._head = fh.readline()
            if not self._head.strip():
                raise DataFileError(self.path, "empty file (no header row)")
            size = fh.seek(0, io.SEEK_END)
            bounds, at = [len(self._head)], len(self._head)
            while at < size:
                fh.seek(min(at + chunk_bytes, size))
                fh.readline()  # to the end of the line the cut falls in
                at = min(fh.tell(), size)
                bounds.append(at)
        self._bounds = bounds
        self.header = [str(c) for c in self._frame(self._head).columns]
        self.n_chunks = len(bounds) - 1
        #: first data row of each chunk, known once the chunks before it were read
        self._csv_starts: list[int | None] = [0] + [None] * self.n_chunks
        self._lines_before: list[int | None] = [1] + [None] * self.n_chunks

    def _frame(self, data: bytes) -> Any:
        pd = _pandas(self.path, "a CSV file", "pyarrow")
        try:
            return pd.read_csv(io.BytesIO(data), keep_default_na=False,
                               na_values=sorted(MISSING), skip_blank_lines=True)
        except Exception as exc:  # noqa: BLE001  pandas' parser errors share no base
            said = " ".join(str(exc).split())[:200]
            raise DataFileError(self.path, f"not readable as CSV ({said})") from None

    def _csv_chunk(self, i: int) -> Chunk:
        start, lines_before = self._csv_starts[i], self._lines_before[i]
        if start is None or lines_before is None:  # rows before it not yet counted
            for j in range(i):
                if self._csv_starts[j + 1] is None:
                    self._csv_chunk(j)
            start, lines_before = self._csv_starts[i], self._lines_before[i]
        assert start is not None and lines_before is not None
        with open(self.path, "rb") as fh:
            fh.seek(self._bounds[i])
            text = fh.read(self._bounds[i + 1] - self._bounds[i])
        rows_text = text.split(b"\n")
        if rows_text and not rows_text[-1]:
            rows_text.pop()  # the range ends with a line break
        if text.count(b'"') % 2:
            raise DataFileError(self.path, "a quoted cell holds a line break; such a CSV is "
                                "not streamed (save it as Parquet)",
                                f"rows {lines_before + 1}-{lines_before + len(rows_text)}")
        # A blank line is no row: a line's number counts it, a position does not.
        kept = np.flatnonzero([bool(line.strip()) for line in rows_text]).astype(np.int64)
        frame = self._frame(self._head + text)
        table = self._table(frame, lines_before + 1)
        if len(kept) == len(table):
            table.lines = lines_before + 1 + kept
        self._csv_starts[i + 1] = start + len(table)
        self._lines_before[i + 1] = lines_before + len(rows_text)
        return Chunk(i, start, table)

    # -- both ------------------------------------------------------------------------------
    def _table(self, frame: Any, first_line: int) -> Table:
        if list(map(str, frame.columns)) != self.header:
            raise DataFileError(self.path, f"a chunk's columns differ from the header "
                                f"(from row {first_line})")
        if len(frame) == 0:
            return Table({h: _empty_column() for h in self.header}, np.zeros(0, np.int64),
                         str(self.path))
        return frame_columns(frame, lambda header: list(range(len(header))), str(self.path),
                             first_line=first_line)[1]

    def read(self, i: int) -> Chunk:
        """Chunk ``i`` (0 … n_chunks − 1)."""
        if not 0 <= i < self.n_chunks:
            raise IndexError(f"chunk {i} of {self.n_chunks}")
        if self.kind == "csv":
            return self._csv_chunk(i)
        try:
            frame = self._pq.read_row_group(i).to_pandas()
        except Exception as exc:  # noqa: BLE001
            raise DataFileError(self.path, f"row group {i} is not readable ({exc})") from None
        start = int(self._starts[i])
        return Chunk(i, start, self._table(frame, start + 1))

    def __iter__(self) -> Iterator[Chunk]:
        """Every chunk, in file order."""
        return (self.read(i) for i in range(self.n_chunks))


def _empty_column() -> Any:
    from ..table.columns import NumberColumn

    return NumberColumn(np.zeros(0))


# -- the split -----------------------------------------------------------------------------
_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(x: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """SplitMix64's finaliser: a bijection of 64-bit integers that mixes every bit."""
    with np.errstate(over="ignore"):
        x = (x + np.uint64(0x9E3779B97F4A7C15)) & _MASK
        x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK
        x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK
    return x ^ (x >> np.uint64(31))


def row_hash(positions: NDArray[np.int64], seed: int) -> NDArray[np.float64]:
    """A number in [0, 1) per row, from its file position and ``seed`` alone: array of
    shape (n,) for ``positions`` of shape (n,)."""
    key = _splitmix64(np.asarray(positions, dtype=np.int64).astype(np.uint64)
                      ^ _splitmix64(np.array([seed], dtype=np.uint64))[0])
    return (key >> np.uint64(11)).astype(np.float64) / float(2**53)


def split_of(positions: NDArray[np.int64], seed: int, val: float, test: float
             ) -> NDArray[np.int8]:
    """Each row's split (:data:`TRAIN`, :data:`VAL`, :data:`TEST`) from a seeded hash of
    its file position: test where the hash is below ``test``, validation below
    ``test + val``, training otherwise — the same row lands in the same split in every
    chunk order, process and epoch."""
    for name, value in (("val_split", val), ("test_split", test)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise ValueError(f"{name}: expected a number in [0, 1), got {value!r}")
    if val + test >= 1:
        raise ValueError(f"val_split + test_split: expected a sum below 1, got {val} + {test}")
    u = row_hash(positions, seed)
    return np.where(u < test, TEST, np.where(u < test + val, VAL, TRAIN)).astype(np.int8)


__all__ = ["CHUNK_BYTES", "TEST", "TRAIN", "VAL", "Chunk", "ChunkSource", "row_hash",
           "split_of"]
