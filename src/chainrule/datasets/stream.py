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
from numpy.typing import DTypeLike, NDArray

from ..table.columns import (
    MISSING,
    NumberColumn,
    Table,
    TableError,
    TextColumn,
    _code,
    is_unnamed,
    natural_key,
    number_label,
)
from ..table.encoder import TableEncoder
from ..table.ranges import name_list
from ..table.scaler import Standardizer
from .csvfile import DataFileError
from .reader import _pandas, frame_columns, installed, table_format
from .targets import infer_numbers, labels_of_numbers

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
        # A blank line is no row: a line's number counts it, a position does not.
        rows_text, kept = self._csv_lines(i, lines_before)
        frame = self._frame(self._head + b"".join(line + b"\n" for line in rows_text))
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
        # Text columns are factorized by pandas, each distinct cell read once: the cell by
        # cell reading of TextColumn.of took 80 % of a CSV chunk's time (issue 31's bench).
        text = [i for i, dtype in enumerate(frame.dtypes) if _is_text(dtype)]
        numbers = frame_columns(frame, lambda header: [i for i in range(len(header))
                                                       if i not in text],
                                str(self.path), first_line=first_line)[1]
        columns = {h: numbers.columns[h] if i not in text else _text_column(frame.iloc[:, i])
                   for i, h in enumerate(self.header)}
        return Table(columns, numbers.lines, str(self.path))

    def read(self, i: int, part: tuple[int, int, int] | None = None) -> Chunk:
        """Chunk ``i`` (0 … n_chunks − 1), or with ``part=(a, b, S)`` its stripes a … b − 1
        of ``S``: rows [n·a // S, n·b // S) of its n rows (:func:`stripe_rows`), the only
        rows turned into a table (a CSV chunk's other lines are not parsed)."""
        if not 0 <= i < self.n_chunks:
            raise IndexError(f"chunk {i} of {self.n_chunks}")
        if part is not None and not (isinstance(part, tuple) and len(part) == 3
                                     and 0 <= part[0] < part[1] <= part[2]):
            raise ValueError(f"part: expected (first, end, stripes) with 0 ≤ first < end ≤ "
                             f"stripes, got {part!r}")
        if self.kind == "csv":
            return self._csv_chunk(i) if part is None else self._csv_stripe(i, *part)
        start = int(self._starts[i])
        n = int(self._starts[i + 1]) - start
        lo, hi = (0, 0) if part is None else (n * part[0] // part[2], n * part[1] // part[2])
        try:
            group = self._pq.read_row_group(i)
            frame = (group if part is None else group.slice(lo, hi - lo)).to_pandas()
            del group
        except Exception as exc:  # noqa: BLE001
            raise DataFileError(self.path, f"row group {i} is not readable ({exc})") from None
        return Chunk(i, start + lo, self._table(frame, start + lo + 1))

    def _csv_stripe(self, i: int, first: int, end: int, stripes: int) -> Chunk:
        """Stripes first … end − 1 of CSV chunk ``i``: its byte range read, only their
        lines parsed. A blank line is no row (as pandas reads it)."""
        for j in range(i):  # the rows before the chunk, counted without parsing
            if self._csv_starts[j + 1] is None:
                self._count_csv(j)
        start, lines_before = self._csv_starts[i], self._lines_before[i]
        assert start is not None and lines_before is not None
        lines, kept = self._csv_lines(i, lines_before)
        lo, hi = len(kept) * first // stripes, len(kept) * end // stripes
        self._csv_starts[i + 1] = start + len(kept)
        self._lines_before[i + 1] = lines_before + len(lines)
        rows = kept[lo:hi]
        frame = self._frame(self._head + b"".join(lines[k] + b"\n" for k in rows.tolist()))
        table = self._table(frame, lines_before + 1 + (int(rows[0]) if len(rows) else 0))
        if len(table) == len(rows):
            table.lines = lines_before + 1 + rows
        return Chunk(i, start + lo, table)

    def _csv_lines(self, i: int, lines_before: int
                   ) -> tuple[list[bytes], NDArray[np.int64]]:
        """Chunk ``i``'s lines and the indices of those that are rows (not blank);
        a quoted cell holding a line break is refused, naming the rows."""
        with open(self.path, "rb") as fh:
            fh.seek(self._bounds[i])
            text = fh.read(self._bounds[i + 1] - self._bounds[i])
        lines = text.split(b"\n")
        if lines and not lines[-1]:
            lines.pop()  # the range ends with a line break
        if text.count(b'"') % 2:
            first, last = lines_before + 1, lines_before + len(lines)
            raise DataFileError(self.path, "a quoted cell holds a line break; such a CSV is "
                                "not streamed (save it as Parquet)",
                                f"row {first}" if first == last else f"rows {first}-{last}")
        kept = np.flatnonzero([bool(line.strip()) for line in lines]).astype(np.int64)
        return lines, kept

    def _count_csv(self, j: int) -> None:
        """Count chunk ``j``'s rows and lines (the chunks before it counted already)."""
        start, lines_before = self._csv_starts[j], self._lines_before[j]
        assert start is not None and lines_before is not None
        lines, kept = self._csv_lines(j, lines_before)
        self._csv_starts[j + 1] = start + len(kept)
        self._lines_before[j + 1] = lines_before + len(lines)

    def chunk_rows(self, i: int) -> int:
        """The number of rows of chunk ``i`` (a CSV chunk's once it, or a part of it, was
        read: its rows are counted then)."""
        if self.kind == "parquet":
            return int(self._starts[i + 1] - self._starts[i])
        start, end = self._csv_starts[i], self._csv_starts[i + 1]
        if start is None or end is None:
            raise ValueError(f"chunk {i}: its rows are counted when it is first read")
        return end - start

    def __iter__(self) -> Iterator[Chunk]:
        """Every chunk, in file order."""
        return (self.read(i) for i in range(self.n_chunks))


def stripe_rows(n: int, s: int, stripes: int) -> tuple[int, int]:
    """Rows [lo, hi) of stripe ``s`` of ``stripes`` in a chunk of ``n`` rows: the chunk
    cut in ``stripes`` contiguous ranges that differ in size by one row at most."""
    return n * s // stripes, n * (s + 1) // stripes


def _is_text(dtype: Any) -> bool:
    """Whether a pandas column of this dtype holds text (objects or pandas' strings)."""
    return getattr(dtype, "kind", None) in ("O", "U", "T") or str(dtype) in ("str", "string")


def _text_column(series: Any) -> TextColumn:
    """:meth:`TextColumn.of <chainrule.table.TextColumn.of>` of a pandas column of objects
    (the same codes and vocabulary, in order of first appearance), reading each distinct
    cell once."""
    pd = _pandas(Path(str(series.name)), "a table", "pyarrow")
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    index: dict[str, int] = {}
    lookup = np.array([_code(u, index) for u in uniques.tolist()] + [-1], dtype=np.int32)
    return TextColumn(lookup[codes], tuple(index))


def _empty_column() -> NumberColumn:
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



# -- a table file prepared for training ----------------------------------------------------
#: A numeric target with at most this many distinct integers is read as classes (as in
#: memory, :data:`~.targets.MAX_INTEGER_CLASSES`); past LABEL_LIMIT values it is numbers.
LABEL_LIMIT = 1000
#: Rows of a chunk merged into the scaler's statistics at a time (their float64 copies).
MERGE_ROWS = 8192


class TableStream:
    """A table file ready to train on in chunks: the target's task and classes, the
    encoder fitted on the training rows (pass 1, :class:`~chainrule.table.stream_fit.
    StreamFit`), and each chunk's rows of one split encoded on demand (:meth:`encoded`).

    Rows whose target is missing belong to no split. Row-index columns (unnamed ones, and
    a first column counting the rows) are dropped as in memory.

    Parameters
    ----------
    path : CSV or Parquet file
    target : str
    task : {"classification", "regression"}, optional
        Default: text, or integers with at most MAX_INTEGER_CLASSES distinct values, are
        classes; other numbers regression.
    val_split, test_split : float
        Shares of the rows, decided per row by :func:`split_of`.
    seed : int
        Seed of the split.
    encoder : TableEncoder, optional
        Unfitted, with the options to fit with (default: ``TableEncoder()``).
    chunk_bytes : int
        CSV only: about how many bytes a chunk holds.

    Attributes
    ----------
    source : ChunkSource
    task : str
    classes : list or None
    encoder : TableEncoder
        Fitted on the training rows.
    counts : dict of str to int
        Rows per split ("train", "val", "test") and "no target".
    notes : list of str
    """

    def __init__(self, path: str | Path, target: str, *, task: str | None = None,
                 val_split: float = 0.1, test_split: float = 0.2, seed: int = 0,
                 encoder: TableEncoder | None = None, chunk_bytes: int = CHUNK_BYTES) -> None:
        from ..table.stream_fit import StreamFit

        split_of(np.zeros(0, np.int64), seed, val_split, test_split)  # checks the shares
        if task not in (None, "classification", "regression"):
            raise ValueError(f"task: expected classification or regression, got {task!r}")
        self.source = ChunkSource(path, chunk_bytes=chunk_bytes)
        header = self.source.header
        if target not in header:
            raise DataFileError(self.source.path, f"no column {target!r} (the target); the "
                                f"columns are {name_list(header)}")
        self.target, self.seed = target, seed
        self.val_split, self.test_split = val_split, test_split
        self.notes: list[str] = []
        self.features = [h for h in header if h != target and not is_unnamed(h)]
        self.notes += [f"dropped column {h!r}: an unnamed column is a row index"
                       for h in header if h != target and is_unnamed(h)]
        self.counts = {"train": 0, "val": 0, "test": 0, "no target": 0}
        self._labels: dict[str, int] | None = {}
        self._text_target = False
        self._counter = bool(self.features)
        fitter = StreamFit(encoder if encoder is not None else TableEncoder())
        for chunk in self.source:  # pass 1, in file order
            features, y_col, keep, split = self._rows(chunk)
            self._count_target(y_col, keep, split)
            self._check_counter(features, chunk.start)
            fitter.add(features.take(np.flatnonzero(keep)), split[keep] == TRAIN)
        self._decide_target(task)
        if self._counter and len(self.features) > 1:
            self.notes.append(f"dropped column {self.features[0]!r}: it counts the rows, a "
                              "row index, not a feature")
            fitter.names.remove(self.features.pop(0))
        if self.counts["train"] == 0:
            raise DataFileError(self.source.path, "no training rows (every row's target is "
                                "missing, or the splits leave none)")
        try:
            self.encoder = fitter.fit()
        except TableError as exc:
            raise DataFileError(self.source.path, str(exc)) from None
        self.notes += self.encoder.notes

    def _rows(self, chunk: Chunk) -> tuple[Table, Any, NDArray[np.bool_], NDArray[np.int8]]:
        """A chunk's features, target column, rows with a target, and each row's split."""
        table = chunk.table
        return (table.select(self.features), table[self.target], ~table[self.target].missing,
                split_of(chunk.positions, self.seed, self.val_split, self.test_split))

    def _count_target(self, y_col: Any, keep: NDArray[np.bool_],
                      split: NDArray[np.int8]) -> None:
        self.counts["no target"] += int(np.count_nonzero(~keep))
        for name, code in (("train", TRAIN), ("val", VAL), ("test", TEST)):
            self.counts[name] += int(np.count_nonzero(keep & (split == code)))
        if self._labels is None:
            return
        if isinstance(y_col, NumberColumn):
            found = [number_label(v) for v in np.unique(y_col.values[keep]).tolist()]
        else:
            self._text_target = True
            found = [v for v, n in zip(y_col.vocab, y_col.counts(), strict=True) if n]
        for label in found:
            self._labels.setdefault(label, len(self._labels))
        if len(self._labels) > LABEL_LIMIT:
            self._labels = None

    def _check_counter(self, features: Table, start: int) -> None:
        """Whether the first feature column still counts the rows (0, 1, … or 1, 2, …)."""
        if not self._counter:
            return
        col = features[self.features[0]]
        if not isinstance(col, NumberColumn) or not len(col):
            self._counter = isinstance(col, NumberColumn)
            return
        base = col.values[0] - start if start else col.values[0]
        self._counter = bool(base in (0.0, 1.0) and np.array_equal(
            col.values, base + np.arange(start, start + len(col), dtype=np.float64)))

    def _decide_target(self, task: str | None) -> None:
        labels = self._labels
        numbers = None if labels is None or self._text_target else np.array(
            [float(v) for v in labels], dtype=np.float64)
        if task is None:
            task = "classification" if self._text_target else (
                "classification" if numbers is not None and infer_numbers(numbers)
                == "classification" else "regression")
            self.notes.append(f"target {self.target!r}: {task} (inferred; --task to choose)")
        if task == "regression" and self._text_target:
            raise DataFileError(self.source.path, f"target column {self.target!r} holds text; "
                                "a regression target must be numeric")
        self.task, self.classes = task, None
        if task == "classification":
            if labels is None:
                raise DataFileError(self.source.path, f"target column {self.target!r} has "
                                    f"more than {LABEL_LIMIT} distinct values; too many classes")
            ordered = (sorted(labels, key=natural_key) if numbers is None
                       else sorted(labels, key=float))
            if len(ordered) < 2:
                raise DataFileError(self.source.path, f"target column {self.target!r} holds "
                                    f"one class only ({ordered[0]!r})")
            self._class_of = {label: i for i, label in enumerate(ordered)}
            self.classes = ordered if numbers is None else labels_of_numbers(
                np.array([float(v) for v in ordered]))[1]

    def encoded(self, chunk: Chunk, split: int, dtype: DTypeLike
                ) -> tuple[NDArray[np.floating], NDArray[Any]]:
        """The rows of ``chunk`` in ``split`` (:data:`TRAIN`, :data:`VAL`, :data:`TEST`):
        features (n, encoder.n_out) of ``dtype``, unscaled, and targets (n,): class
        indices (int64) or numbers (float64)."""
        features, y_col, keep, where = self._rows(chunk)
        rows = np.flatnonzero(keep & (where == split))
        return self._encode(features, y_col, rows, dtype)

    def rows_of(self, chunk: Chunk, split: int) -> NDArray[np.int64]:
        """The indices (into ``chunk``'s rows) of its rows in ``split``, in order: the rows
        :meth:`encoded` gives."""
        keep = ~chunk.table[self.target].missing
        return np.flatnonzero(keep & (split_of(chunk.positions, self.seed, self.val_split,
                                               self.test_split) == split))

    def _encode(self, features: Table, y_col: Any, rows: NDArray[np.int64],
                dtype: DTypeLike) -> tuple[NDArray[np.floating], NDArray[Any]]:
        try:
            X = self.encoder.transform(features.take(rows), dtype)
        except TableError as exc:
            raise DataFileError(self.source.path, str(exc)) from None
        y_col = y_col.take(rows)
        if self.task == "regression":
            return X, y_col.values.copy()
        if isinstance(y_col, NumberColumn):
            uniq, inverse = np.unique(y_col.values, return_inverse=True)
            index = np.array([self._class_of[number_label(v)] for v in uniq.tolist()],
                             dtype=np.int64)
            return X, index[inverse]
        index = np.array([self._class_of.get(v, -1) for v in y_col.vocab] + [-1],
                         dtype=np.int64)
        return X, index[y_col.codes]

    def scaling_sums(self, dtype: DTypeLike, part: tuple[int, int, int] | None = None
                     ) -> NDArray[np.float64]:
        """Pass 2's statistics over the training rows of every chunk (or of its stripes
        ``part`` = (first, end, S), one MPI rank's share), encoded as ``dtype``: an array
        of shape (2·n_out + 4,) — the features' count n, means (n_out) and sums of squared
        deviations M2 (n_out), then the target's count, mean and M2 (regression; zeros
        for classes). Merged chunk by chunk (Chan et al.'s pairwise update, in float64);
        two merge with :func:`merge_scaling_sums`."""
        n, mean, m2 = 0, np.zeros(self.encoder.n_out), np.zeros(self.encoder.n_out)
        y_n, y_mean, y_m2 = 0, np.zeros(1), np.zeros(1)
        for i in range(self.source.n_chunks):
            X, y = self.encoded(self.source.read(i, part), TRAIN, dtype)
            for start in range(0, len(X), MERGE_ROWS):  # float64 copies of a slice only
                n, mean, m2 = _merge(n, mean, m2, X[start:start + MERGE_ROWS])
            if self.task == "regression":
                y_n, y_mean, y_m2 = _merge(y_n, y_mean, y_m2, y[:, None])
        return np.concatenate([[n], mean, m2, [y_n], y_mean, y_m2]).astype(np.float64)

    def standardizer(self, dtype: DTypeLike, sums: NDArray[np.float64] | None = None
                     ) -> tuple[Standardizer, float, float]:
        """Pass 2 over the training rows (or its statistics ``sums``, from
        :meth:`scaling_sums`): the :class:`Standardizer` that
        :meth:`TableEncoder.standardizer` gives for them, and the target's mean and
        spread (regression; 0 and 1 for classes)."""
        sums = self.scaling_sums(dtype) if sums is None else sums
        d = self.encoder.n_out
        n, mean, m2 = sums[0], sums[1:1 + d].copy(), sums[1 + d:1 + 2 * d]
        y_n, y_mean, y_m2 = sums[1 + 2 * d:]
        std = np.sqrt(m2 / max(n, 1))
        keep = ~np.array([s for e in self.encoder.encodings for s in e.scaled], dtype=bool)
        mean[keep], std[keep] = 0.0, 1.0
        y_std = float(np.sqrt(y_m2 / y_n)) if y_n else 1.0
        return Standardizer(mean, np.where(std > 0, std, 1.0)), float(y_mean), y_std


def merge_scaling_sums(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """Two :meth:`TableStream.scaling_sums` (of disjoint rows) as one: counts added, means
    and M2 merged pairwise (Chan et al.), for the features and the target."""
    d = (len(a) - 4) // 2
    out = np.empty_like(a)
    for lo, width in ((0, d), (1 + 2 * d, 1)):
        n_a, n_b = a[lo], b[lo]
        mean_a, mean_b = a[lo + 1:lo + 1 + width], b[lo + 1:lo + 1 + width]
        total = n_a + n_b
        delta = mean_b - mean_a
        out[lo] = total
        out[lo + 1:lo + 1 + width] = mean_a + delta * (n_b / total) if total else mean_a
        out[lo + 1 + width:lo + 1 + 2 * width] = (
            a[lo + 1 + width:lo + 1 + 2 * width] + b[lo + 1 + width:lo + 1 + 2 * width]
            + (delta**2 * (n_a * n_b / total) if total else 0.0))
    return out


def _merge(n: int, mean: NDArray[np.float64], m2: NDArray[np.float64],
           X: NDArray[np.floating]) -> tuple[int, NDArray[np.float64], NDArray[np.float64]]:
    """Count, mean and sum of squared deviations of the rows seen, with ``X`` (m, d) added."""
    m = X.shape[0]
    if m == 0:
        return n, mean, m2
    X64 = np.asarray(X, dtype=np.float64)
    mean_x = X64.mean(axis=0)
    m2_x = ((X64 - mean_x) ** 2).sum(axis=0)
    delta, total = mean_x - mean, n + m
    return total, mean + delta * (m / total), m2 + m2_x + delta**2 * (n * m / total)


# -- when to stream ------------------------------------------------------------------------
#: The peak memory of reading, encoding and training on a table in memory, per cell of a
#: Parquet file and per byte of a CSV file: measured on bench/stream_memory.py's 1M x 30
#: table (3,732 MB at peak for 30 M cells, 144 MB of Parquet, 346 MB of CSV), rounded up.
BYTES_PER_CELL, BYTES_PER_CSV_BYTE = 128, 11


def in_memory_bytes(path: str | Path) -> int:
    """About how much memory training on the table file ``path`` in memory takes at its
    peak (see :data:`BYTES_PER_CELL`); read off the Parquet footer or the CSV's size."""
    source = ChunkSource(path, chunk_bytes=CHUNK_BYTES)
    if source.kind == "parquet":
        return int(source._starts[-1]) * len(source.header) * BYTES_PER_CELL
    return source.path.stat().st_size * BYTES_PER_CSV_BYTE


def memory_budget() -> int:
    """The default budget: half the memory the machine has available now (all of it
    where that cannot be read: 4 GiB)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024 // 2
    except OSError:
        pass
    return 4 << 30


def should_stream(path: str | Path, budget: int | None = None) -> bool:
    """Whether training on ``path`` should stream: its in-memory peak
    (:func:`in_memory_bytes`) is over ``budget`` bytes (default :func:`memory_budget`)."""
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int)
                               or budget < 1):
        raise ValueError(f"memory_budget: expected a positive number of bytes, got {budget!r}")
    return in_memory_bytes(path) > (memory_budget() if budget is None else budget)


__all__ = ["CHUNK_BYTES", "TEST", "TRAIN", "VAL", "Chunk", "ChunkSource", "TableStream",
           "in_memory_bytes", "memory_budget", "merge_scaling_sums", "row_hash",
           "should_stream", "split_of", "stripe_rows"]
