"""The streamed epoch's global batches, defined without the number of processes: stripes
(issue 31).

Every chunk's rows are cut into S fixed row ranges, its *stripes*
(:func:`~chainrule.datasets.stream.stripe_rows`; S = :func:`n_stripes`, at most
:data:`STRIPES`). An epoch reads the chunks in one seeded order (a permutation drawn from
(seed, epoch)); stripe s of every chunk, in that order, pours its training rows into stripe
s's own shuffle buffer of ``buffer_rows // S`` rows, shuffled by stripe s's own generator
(seed, epoch, s), and cut into stripe batches of ``batch_size // S`` rows (one more for the
first ``batch_size % S`` stripes). Global batch b is the union of batch b of every stripe
that has one, stripe 0's rows first.

So the rows of every global batch, and their order, are a function of (file, seed, epoch,
batch_size, buffer_rows) alone: one process that reads all S stripes and K MPI ranks that
each read S / K of them (:mod:`chainrule.distributed.stream`) train on the same batches,
and the ranks never hold a row of another rank's stripes.

>>> from chainrule.training.stream_stripes import n_stripes, stripe_batches
>>> n_stripes(256), n_stripes(5)
(8, 5)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from ..datasets.stream import TRAIN, TableStream, stripe_rows

if TYPE_CHECKING:
    from ..engine.network import Network

Array = NDArray[np.floating]

#: Stripes per chunk (fewer when a batch has fewer rows): the numbers of MPI ranks that
#: can share a streamed fit are its divisors, 1, 2, 4 and 8.
STRIPES = 8


def n_stripes(batch_size: int) -> int:
    """Stripes S of a streamed fit with ``batch_size`` rows per global batch: every stripe
    gives each batch one row at least, so S = min(:data:`STRIPES`, batch_size)."""
    return min(STRIPES, batch_size)


class _Stripe:
    """One stripe's shuffle buffer: rows in, stripe batches (a^(0), Y) out, in order.

    A full buffer is one array in memory: its batches are gathered from it as they are
    taken (:meth:`pop`), never all copied in shuffled order at once."""

    def __init__(self, rows: int, batch: int, rng: np.random.Generator) -> None:
        self.rows, self.batch, self.rng = rows, batch, rng
        self.held_x: list[Array] = []
        self.held_y: list[Array] = []
        self.held = 0
        self.ready: deque[tuple[Array, Array, NDArray[np.int64]]] = deque()

    def add(self, a0: Array, Y: Array) -> None:
        """Hold the rows (a0, Y); a full buffer is shuffled and cut into batches, its
        remainder (fewer than a batch) kept for the next fill."""
        self.held_x.append(a0)
        self.held_y.append(Y)
        self.held += len(a0)
        if self.held >= self.rows:
            self._cut(final=False)

    def finish(self) -> None:
        """The epoch's chunks are read: the rows held become the last (smaller) batches."""
        if self.held:
            self._cut(final=True)

    def pop(self) -> tuple[Array, Array]:
        """The next batch, gathered from its buffer."""
        X, Y, rows = self.ready.popleft()
        return X[rows], Y[rows]

    def _cut(self, final: bool) -> None:
        perm = self.rng.permutation(self.held)
        X, Y = np.concatenate(self.held_x), np.concatenate(self.held_y)
        self.held_x.clear()
        self.held_y.clear()
        cut = self.held if final else (self.held // self.batch) * self.batch
        self.ready.extend((X, Y, perm[k:k + self.batch]) for k in range(0, cut, self.batch))
        rest = self.held - cut
        if rest:
            self.held_x.append(X[perm[cut:]])
            self.held_y.append(Y[perm[cut:]])
        self.held = rest


def stripe_batches(net: Network, stream: TableStream, *, epoch: int, batch_size: int,
                   buffer_rows: int, seed: int = 0, stripes: tuple[int, int] | None = None
                   ) -> Iterator[tuple[Array, Array]]:
    """This process's rows of each global batch of ``epoch`` (from 1), in order: the
    union of batch b of the stripes [first, end) = ``stripes`` it reads (default: all S
    of :func:`n_stripes`), as (a^(0) of shape (m, n_in), targets of shape (m, n_out)),
    encoded and scaled.

    With all stripes these are the global batches; with some, a rank's contiguous share
    of each (:mod:`chainrule.distributed.stream`), and a rank may run out of batches
    before another does. Each chunk's stripes are read together, one read per chunk.
    """
    S = n_stripes(batch_size)
    first, end = (0, S) if stripes is None else stripes
    per_batch = [batch_size // S + (1 if s < batch_size % S else 0) for s in range(S)]
    buffers = [_Stripe(max(1, buffer_rows // S), per_batch[s],
                       np.random.default_rng([seed, epoch, s])) for s in range(first, end)]
    order = np.random.default_rng([seed, epoch]).permutation(stream.source.n_chunks)
    for i in order.tolist():
        for buffer, (a0, Y) in zip(buffers, _stripes_of(net, stream, i, first, end, S),
                                   strict=True):
            buffer.add(a0, Y)
        while all(b.ready for b in buffers):
            yield _union([b.pop() for b in buffers])
    for buffer in buffers:
        buffer.finish()
    while any(b.ready for b in buffers):
        yield _union([b.pop() for b in buffers if b.ready])


def _stripes_of(net: Network, stream: TableStream, i: int, first: int, end: int, S: int
                ) -> list[tuple[Array, Array]]:
    """Chunk ``i``'s training rows of stripes first … end − 1, one (a^(0), targets) per
    stripe: the stripes read together, encoded and scaled, then cut at the stripes'
    row bounds."""
    chunk = stream.source.read(i, (first, end, S))
    rows = stream.rows_of(chunk, TRAIN)
    a0, y = stream.encoded(chunk, TRAIN, net.dtype)
    if net.scaler is not None:  # Standardizer.transform's arithmetic, in place
        a0 -= net.scaler.mean.astype(a0.dtype)
        a0 /= net.scaler.scale.astype(a0.dtype)
    Y = net.targets(y, len(y), "y")
    total = stream.source.chunk_rows(i)
    offset = total * first // S  # the chunk row the read began at
    bounds = [stripe_rows(total, s, S)[0] - offset for s in range(first, end)] + [len(chunk.table)]
    cuts = np.searchsorted(rows, bounds)
    return [(a0[cuts[k]:cuts[k + 1]], Y[cuts[k]:cuts[k + 1]]) for k in range(end - first)]


def _union(parts: list[tuple[Array, Array]]) -> tuple[Array, Array]:
    if len(parts) == 1:
        return parts[0]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


__all__ = ["STRIPES", "n_stripes", "stripe_batches"]
