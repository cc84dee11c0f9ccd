"""A streamed fit shared by MPI ranks, each reading only its stripes of every chunk
(issue 31): :func:`fit_stream_mpi`, called on every rank.

The global batches are the one-process batches of :mod:`chainrule.training.stream_stripes`:
each chunk's rows cut into S stripes, global batch b the union of every stripe's batch b.
Rank r of K reads stripes [r·S/K, (r + 1)·S/K) of each chunk — a contiguous block of every
global batch — so it encodes, scales and holds S/K of the rows, and its shuffle buffers
hold ``buffer_rows / K`` rows. Before each step the ranks exchange their share sizes (one
small all-gather): that gives the global batch's size m and this rank's first row in it,
for the dropout masks of the global batch (:class:`~.reducer.GlobalBatchRNG`), and tells a
rank whose stripes ran out that others still have a batch (it joins with an empty share).
The gradient is :class:`~.reducer.MPIReducer`'s all-reduce, so K ranks train as one process
does on the same batches, to rounding (float64: 1e-12 in the tests).

Pass 1 (the encoder: sketches, which merge only approximately) runs on every rank over the
whole file, one chunk at a time, so every rank fits the same encoder without a message.
Pass 2 (the scaler) is shared like training (:func:`stream_network_mpi`): each rank's
statistics over its stripes, all-gathered and merged in rank order.

>>> from chainrule.datasets.stream import TableStream
>>> from chainrule.distributed.stream import fit_stream_mpi, stream_network_mpi
>>> stream = TableStream("big.parquet", "y")                      # doctest: +SKIP
>>> net = stream_network_mpi(stream, seed=0)                       # doctest: +SKIP
>>> history = fit_stream_mpi(net, stream, epochs=3)   # mpirun -n 2 python … # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..datasets.stream import TableStream, merge_scaling_sums
from ..training.optimizers import Optimizer, get_optimizer
from ..training.step import Step
from ..training.stream import (
    BUFFER_ROWS,
    OnBatch,
    evaluation_sums,
    fit_start,
    fit_stream,
    merge_sums,
    metrics_of,
    stream_network,
    train_epochs,
)
from ..training.stream_stripes import n_stripes, stripe_batches
from .comm import bcast_json, resolve
from .process import abort_on_error, all_finished, finish_timeout_seconds, leaving_aborts
from .reducer import MPIReducer
from .sync import sync_network, sync_optimizer
from .threads import blas_threads_per_rank

if TYPE_CHECKING:
    from ..engine.network import Network

Array = NDArray[np.floating]

__all__ = ["StripeReducer", "evaluate_stream_mpi", "fit_stream_mpi", "rank_stripes",
           "stream_network_mpi"]


def rank_stripes(batch_size: int, rank: int, size: int) -> tuple[int, int]:
    """Stripes [first, end) that ``rank`` of ``size`` reads: S / size of the S stripes
    (:func:`~chainrule.training.stream_stripes.n_stripes`), which ``size`` must divide."""
    S = n_stripes(batch_size)
    if S % size:
        raise ValueError(f"a streamed fit on {size} ranks: the number of ranks must divide "
                         f"the {S} stripes of each chunk (1, 2, 4 or 8 ranks; batch_size "
                         f"{batch_size} gives {S} stripes)")
    return rank * S // size, (rank + 1) * S // size


class StripeReducer(MPIReducer):
    """The all-reduce of :class:`MPIReducer` for ranks that hold their share of every
    global batch already (their stripes' rows): :meth:`begin` learns the global batch's
    size and this rank's place in it, :meth:`share` keeps every row it is given."""

    def begin(self, n_local: int) -> int:
        """All-gather every rank's share size for the next global batch; returns the
        global batch size m (0: no rank has a batch left) and sets this rank's rows
        [lo, hi) of it for the dropout masks."""
        sizes = np.zeros(self.size, dtype=np.int64)
        self.comm.Allgather(np.array([n_local], dtype=np.int64), sizes)
        masks = self.dropout_rng
        masks.m = int(sizes.sum())
        masks.lo = int(sizes[:self.rank].sum())
        masks.hi = masks.lo + n_local
        return masks.m

    def share(self, xb: Array, yb: Array, sb: Array | None = None
              ) -> tuple[Array, Array, Array | None]:
        """All of (xb, yb, sb): this rank's rows of the global batch."""
        if xb.shape[0] == 0:
            # No forward pass here, but the generator must still move as on the other ranks.
            for layer in self._dropout:
                self.net.rng.random((self.dropout_rng.m, layer.n_in), dtype=self.net.dtype)
        return xb, yb, sb


def stream_network_mpi(stream: TableStream, *, comm: Any | None = None,
                       batch_size: int = 256, **options: Any) -> Network:
    """:func:`~chainrule.training.stream.stream_network` with pass 2 shared: each rank
    gathers the scaler's statistics over its stripes of every chunk (those of a fit with
    ``batch_size``), and the ranks' statistics are all-gathered and merged in rank order
    (:func:`~chainrule.datasets.stream.merge_scaling_sums`), so every rank builds the same
    network without reading the other ranks' rows. ``options`` are ``stream_network``'s;
    with one rank it is ``stream_network``."""
    comm = resolve(comm)
    size, me = int(comm.Get_size()), int(comm.Get_rank())
    if size == 1:
        return stream_network(stream, **options)
    with abort_on_error(comm):
        first, end = rank_stripes(batch_size, me, size)
        dtype = np.dtype(options.get("dtype", "float32"))
        mine = stream.scaling_sums(dtype, (first, end, n_stripes(batch_size)))
        every = np.zeros((size, mine.size))
        comm.Allgather(mine, every)
        total = every[0]
        for sums in every[1:]:
            total = merge_scaling_sums(total, sums)
        return stream_network(stream, scaling=total, **options)


def fit_stream_mpi(net: Network, stream: TableStream, *, comm: Any | None = None,
                   epochs: int = 10, batch_size: int = 256,
                   optimizer: str | Optimizer | None = None, buffer_rows: int = BUFFER_ROWS,
                   seed: int = 0, start_epoch: int = 0, start: tuple[int, int] | None = None,
                   on_batch: OnBatch | None = None, finish_timeout: float | None = None,
                   ) -> list[dict[str, float]]:
    """:func:`~chainrule.training.stream.fit_stream` shared by the ranks of ``comm``
    (default ``MPI.COMM_WORLD``), each reading only its stripes of every chunk; the same
    history on every rank and the weights one process gets, to rounding.

    Call it on every rank with the same file, stream options and network (same seed):
    every argument means what it means for ``fit_stream`` — ``batch_size`` is the global
    batch, ``buffer_rows`` the shuffle buffers of all ranks together. The number of ranks
    must divide the stripes (:func:`rank_stripes`). Rank 0's parameters, generator,
    scaler and optimizer state are given to every rank first; an exception on any rank
    aborts the job naming the rank (:mod:`~chainrule.distributed.process`), and a rank
    that leaves or is killed ends the job non-zero. With one rank it is ``fit_stream``.
    """
    comm = resolve(comm)
    size, me = int(comm.Get_size()), int(comm.Get_rank())
    kw: dict[str, Any] = {"epochs": epochs, "batch_size": batch_size,
                          "buffer_rows": buffer_rows, "seed": seed,
                          "start_epoch": start_epoch, "start": start, "on_batch": on_batch}
    if size == 1:
        return fit_stream(net, stream, optimizer=optimizer, **kw)
    timeout = finish_timeout_seconds(finish_timeout)
    with abort_on_error(comm), leaving_aborts(comm):
        first = fit_start(epochs, batch_size, buffer_rows, start, start_epoch)
        stripes = rank_stripes(batch_size, me, size)
        _check_same_stream(comm, stream, {k: v for k, v in kw.items() if k != "on_batch"})
        blas_threads_per_rank(comm)
        control = comm.Dup()  # the handshake's communicator, made while all ranks are here
        sync_network(net, comm)
        opt = (net.optimizer if optimizer is None and net.optimizer is not None
               else get_optimizer(optimizer))
        net.optimizer = opt
        reducer = StripeReducer(net, comm)
        step = Step(net, opt, reducer=reducer, dropout_rng=reducer.dropout_rng)
        sync_optimizer(opt, net, comm)

        def epoch_batches(epoch: int) -> Iterator[tuple[Array, Array, int]]:
            mine = stripe_batches(net, stream, epoch=epoch, batch_size=batch_size,
                                  buffer_rows=buffer_rows, seed=seed, stripes=stripes)
            none = (np.zeros((0, net.n_in), net.dtype), np.zeros((0, net.n_out), net.dtype))
            while True:
                xb, yb = next(mine, none)
                m = reducer.begin(len(xb))
                if m == 0:
                    return
                yield xb, yb, m

        def validate() -> dict[str, float] | None:
            return (evaluate_stream_mpi(net, stream, "val", comm=comm,
                                        batch_size=batch_size) if stream.counts["val"] else None)

        history = train_epochs(step, epoch_batches, validate, epochs=epochs, start=first,
                               on_batch=on_batch)
        all_finished(comm, control, timeout)
        control.Free()
    return history


def evaluate_stream_mpi(net: Network, stream: TableStream, split: str = "test", *,
                        comm: Any | None = None, batch_size: int = 256) -> dict[str, float]:
    """:func:`~chainrule.training.stream.evaluate_stream` with each rank reading only its
    stripes (those of a fit with ``batch_size``) of every chunk: the ranks' sums are
    all-gathered and merged in rank order. The same metrics on every rank."""
    comm = resolve(comm)
    size, me = int(comm.Get_size()), int(comm.Get_rank())
    first, end = rank_stripes(batch_size, me, size)
    mine = evaluation_sums(net, stream, split, (first, end, n_stripes(batch_size)))
    every = np.zeros((size, mine.size))
    comm.Allgather(mine, every)
    total = every[0]
    for sums in every[1:]:
        total = merge_sums(total, sums)
    return metrics_of(total, stream.classes is not None)


def _check_same_stream(comm: Any, stream: TableStream, settings: dict[str, Any]) -> None:
    """Every rank must stream the same file the same way: its rows per split, chunks,
    features and the fit's settings, compared with rank 0's (a ValueError naming the rank
    and what differs, which aborts the job)."""
    mine = {"rows": stream.counts, "chunks": stream.source.n_chunks,
            "features": stream.encoder.n_out, "task": stream.task, "split seed": stream.seed,
            **{k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()}}
    root = bcast_json(comm, mine)
    differ = [k for k in mine if root.get(k) != mine[k]]
    if differ:
        said = "; ".join(f"{k} {mine[k]!r} (rank 0: {root.get(k)!r})" for k in differ)
        raise ValueError(f"rank {comm.Get_rank()} streams a different table or fit from "
                         f"rank 0: {said}")
