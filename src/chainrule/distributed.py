"""Data-parallel training over MPI: the notes' average over samples, split across processes.

It runs past 300 lines because the MPI pieces that must agree exactly (the share of a batch,
the dropout masks of the global batch, the all-reduce, the broadcasts and the abort on
error) are kept in one file.

Run a script or the CLI under an MPI launcher (``mpirun -n 4 …``, ``srun …``); every
rank holds the full data and the same network, and computes the gradient on its
contiguous share of every *global* batch. One ``Allreduce`` per step then gives
every rank the gradient of the whole batch, every rank applies the same optimizer
step, and all ranks stay bit-identical. Without a launcher it is a single rank,
and :func:`fit` is exactly :func:`chainrule.training.fit`.

Needs ``mpi4py`` (``pip install 'chainrule[mpi]'``), imported only when a function
here is called: ``import chainrule`` never loads MPI.

Notes
-----
The notes average the per-sample gradients over a batch of n samples,

.. math::

    \\frac{\\partial C}{\\partial w} = \\frac{1}{n} \\sum_{i=1}^{n}
        \\frac{\\partial C_i}{\\partial w}.

Split the batch into shares of n_k samples, one per rank k, and let g_k be the mean
gradient over share k. Then Σ_i ∂C_i/∂w = Σ_k n_k g_k, so

.. math::

    \\frac{\\partial C}{\\partial w} = \\frac{\\sum_k n_k\\, g_k}{\\sum_k n_k}.

The all-reduce therefore carries n_k·g_k together with n_k (and the loss sum and
correct count for the logs) in one buffer, and every rank divides. A plain mean
of the g_k is wrong whenever the shares differ in size — the last batch of an
epoch, or a batch size not divisible by the number of ranks. The L2 term λw is
part of every g_k and survives the weighted mean unchanged.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import training
from .callbacks import History
from .layers import Dropout
from .optimizers import Optimizer
from .scaler import Standardizer
from .training import Trainer

if TYPE_CHECKING:
    from .network import Network

Array = NDArray[np.floating]

__all__ = [
    "DistributedTrainer",
    "abort_on_error",
    "fit",
    "install_excepthook",
    "is_root",
    "rank",
    "share",
    "world_size",
]


# -- the communicator ------------------------------------------------------------------
def _comm_world() -> Any:
    try:
        from mpi4py import MPI
    except ImportError as exc:  # pragma: no cover - mpi4py is a test dependency
        raise ImportError(
            "chainrule.distributed needs mpi4py and an MPI library: "
            "pip install 'chainrule[mpi]' (mpi4py plus the mpich wheel)"
        ) from exc
    return MPI.COMM_WORLD


def _resolve(comm: Any | None) -> Any:
    return _comm_world() if comm is None else comm


def rank(comm: Any | None = None) -> int:
    """This process's rank in ``comm`` (default ``MPI.COMM_WORLD``); 0 without a launcher."""
    return int(_resolve(comm).Get_rank())


def world_size(comm: Any | None = None) -> int:
    """Number of ranks in ``comm`` (default ``MPI.COMM_WORLD``); 1 without a launcher."""
    return int(_resolve(comm).Get_size())


def is_root(comm: Any | None = None) -> bool:
    """Whether this is rank 0 — the one rank that prints progress and writes files."""
    return rank(comm) == 0


def share(m: int, rank: int, size: int) -> tuple[int, int]:
    """Rows [lo, hi) of a global batch of ``m`` samples that ``rank`` of ``size`` computes.

    Contiguous shares, the first ``m % size`` ranks one sample larger; a rank's share
    is empty when ``m < size`` (a small last batch).
    """
    base, extra = divmod(m, size)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (1 if rank < extra else 0)


def _abort(comm: Any, exc: BaseException) -> None:
    """Print this rank's error and end every rank of the job: no rank waits forever."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    sys.stderr.write(
        f"chainrule.distributed: rank {comm.Get_rank()} of {comm.Get_size()} failed, "
        f"aborting the job:\n{text}"
    )
    sys.stderr.flush()
    comm.Abort(1)


def install_excepthook(comm: Any | None = None) -> None:
    """Make an uncaught exception on any rank abort the whole job.

    Without it, one rank's exception outside :func:`fit` (while writing files, say)
    ends that rank while the others may block in a collective call. With one rank
    the default hook stays.
    """
    comm = _resolve(comm)
    if comm.Get_size() == 1:
        return
    previous = sys.excepthook

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, SystemExit):
            previous(kind, exc, tb)
            return
        _abort(comm, exc.with_traceback(tb))

    sys.excepthook = hook


@contextmanager
def abort_on_error(comm: Any | None = None) -> Iterator[None]:
    """Run a block in which an exception on any rank aborts the whole job.

    For code around :func:`fit` that may fail on one rank only — loading data that
    one node cannot read, say — while the others go on into the first collective
    call and would wait there forever. The CLI wraps ``train --distributed`` in it.
    With one rank exceptions propagate as usual.
    """
    comm = _resolve(comm)
    try:
        yield
    except BaseException as exc:
        if comm.Get_size() > 1:
            _abort(comm, exc)
        raise


# -- start of training: one state on every rank ----------------------------------------------
def _bcast_json(comm: Any, obj: Any) -> Any:
    """Broadcast a JSON-serialisable object from rank 0 (no pickle: bytes in a NumPy buffer)."""
    root = comm.Get_rank() == 0
    data = json.dumps(obj, default=lambda o: o.tolist()).encode() if root else b""
    size = np.array([len(data)], dtype=np.int64)
    comm.Bcast(size, root=0)
    buf = np.frombuffer(data, dtype=np.uint8).copy() if root else np.empty(size[0], np.uint8)
    comm.Bcast(buf, root=0)
    return json.loads(buf.tobytes().decode())


def _sync_network(net: Network, comm: Any) -> None:
    """Give every rank rank 0's parameters, generator state and scaler.

    The generator matters as much as the weights: it draws each epoch's permutation,
    the validation split and the dropout masks, and every rank must draw the same.
    """
    me = comm.Get_rank()
    header = _bcast_json(
        comm,
        {
            "n_params": net.n_params,
            "dtype": net.dtype.name,
            "rng": net.rng.bit_generator.state,
            "scaler": None if net.scaler is None else net.scaler.n_features,
        },
    )
    if (header["n_params"], header["dtype"]) != (net.n_params, net.dtype.name):
        raise ValueError(
            f"net: rank {me} has {net.n_params} {net.dtype.name} parameters, rank 0 has "
            f"{header['n_params']} {header['dtype']}; every rank must build the same network"
        )
    comm.Bcast(net.params, root=0)
    if me != 0:
        net.rng.bit_generator.state = header["rng"]
    n_features = header["scaler"]
    if n_features is not None:
        if net.scaler is None or net.scaler.n_features != n_features:
            net.scaler = Standardizer(np.zeros(n_features), np.ones(n_features))
        comm.Bcast(net.scaler.mean, root=0)
        comm.Bcast(net.scaler.scale, root=0)
    else:
        net.scaler = None


def _sync_optimizer(opt: Optimizer, net: Network, comm: Any) -> None:
    """Give every rank rank 0's step count and slots, so a resumed run stays identical."""
    header = _bcast_json(comm, {"name": opt.name, "t": opt.t, "slots": sorted(opt.state)})
    if header["name"] != opt.name:
        raise ValueError(
            f"optimizer: rank {comm.Get_rank()} uses {opt.name!r}, rank 0 uses {header['name']!r}"
        )
    opt.t = int(header["t"])
    for slot in header["slots"]:
        if slot not in opt.state or opt.state[slot].shape != net.params.shape:
            opt.state[slot] = np.zeros_like(net.params)
        opt.state[slot] = np.ascontiguousarray(opt.state[slot], dtype=net.dtype)
        comm.Bcast(opt.state[slot], root=0)


# -- dropout masks of the global batch ---------------------------------------------------------
class _GlobalBatchRNG:
    """Stands in for a Dropout layer's generator: draws the mask of the whole global batch
    and hands over this rank's rows.

    Single-process training draws one (m, n) mask per Dropout layer per batch; drawing
    exactly that on every rank keeps the generators in step (the next permutation
    depends on it) and gives each sample the mask it would get in one process.
    """

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.m, self.lo, self.hi = 0, 0, 0

    def random(self, shape: tuple[int, ...], dtype: Any = np.float64) -> Array:
        full = self.rng.random((self.m, *shape[1:]), dtype=dtype)
        return full[self.lo : self.hi]


# -- the trainer ----------------------------------------------------------------------------------
class DistributedTrainer(Trainer):
    """A :class:`~chainrule.training.Trainer` whose global batches are shared across ranks.

    Parameters
    ----------
    net, optimizer
        As for :class:`~chainrule.training.Trainer`.
    comm : mpi4py communicator
    **options
        The other arguments of :class:`~chainrule.training.Trainer` (epochs,
        batch_size — the global batch — shuffle, callbacks).

    Attributes
    ----------
    rank, size : int
    reduce_seconds : float
        Time spent in the gradient all-reduce (for benchmarks).
    n_reduce : int
        Number of all-reduce calls.
    """

    def __init__(self, net: Network, optimizer: Optimizer, *, comm: Any,
                 **options: Any) -> None:
        super().__init__(net, optimizer, **options)
        self.comm = comm
        self.rank, self.size = int(comm.Get_rank()), int(comm.Get_size())
        if self.size > 1:
            _sync_optimizer(optimizer, net, comm)  # slots and step count from rank 0
        # float64 whatever the network's dtype: the sum over ranks should add no error
        # of its own. Layout: n_k·g_k for every parameter, then n_k, loss sum, correct.
        self._buf = np.empty(net.n_params + 3, dtype=np.float64)
        self._dropout = [
            layer for layer in net.layers if isinstance(layer, Dropout) and layer.rate > 0
        ]
        self._masks = _GlobalBatchRNG(net.rng)
        self.reduce_seconds = 0.0
        self.n_reduce = 0

    def local_share(self, xb: Array, yb: Array) -> tuple[Array, Array]:
        """Rows :func:`share` (m, rank, size) of the global batch (xb, yb)."""
        if self.size == 1:
            return xb, yb
        m = xb.shape[0]
        lo, hi = share(m, self.rank, self.size)
        self._masks.m, self._masks.lo, self._masks.hi = m, lo, hi
        if hi == lo:
            # No forward pass here, but the generator must still move as on the other ranks.
            for layer in self._dropout:
                self.net.rng.random((m, layer.n_in), dtype=self.net.dtype)
        return xb[lo:hi], yb[lo:hi]

    def reduce(self, n_local: int, loss_sum: float, correct: int) -> tuple[int, float, int]:
        """One Allreduce of (n_k·g_k, n_k, loss_k, correct_k); ∂C/∂w = Σ n_k g_k / Σ n_k."""
        if self.size == 1:
            return n_local, loss_sum, correct
        from mpi4py import MPI

        grads, buf, n_params = self.net.grads, self._buf, self.net.n_params
        # n_k g_k = Σ_{i in share k} ∂C_i/∂w, formed in float64 like the sum over ranks
        np.multiply(grads, n_local, out=buf[:n_params], dtype=np.float64)
        buf[n_params:] = (n_local, loss_sum, correct)
        start = time.perf_counter()
        self.comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        self.reduce_seconds += time.perf_counter() - start
        self.n_reduce += 1
        n = int(buf[n_params])
        np.divide(buf[:n_params], n, out=buf[:n_params])  # (1/n) Σ_i ∂C_i/∂w, the notes' mean
        grads[...] = buf[:n_params]
        return n, float(buf[n_params + 1]), int(buf[n_params + 2])

    def run(
        self,
        a0: Array,
        Y: Array,
        validation: tuple[Array, Array] | None = None,
    ) -> History:
        """Check every rank holds the same data and settings, then train."""
        if self.size == 1:
            return super().run(a0, Y, validation)
        self._check_same_everywhere(a0, Y)
        self.dropout_rng = self._masks  # type: ignore[assignment]
        return super().run(a0, Y, validation)

    def _check_same_everywhere(self, a0: Array, Y: Array) -> None:
        """Every rank must see the same batches: compare shapes, settings and checksums.

        The checksums are compared with a tolerance: the scaler's statistics may differ
        in the last bit between CPU types, a different data file never agrees to 1e-6.
        """
        from mpi4py import MPI

        names = ["n_samples", "n_in", "n_out", "epochs", "batch_size", "shuffle"]
        exact = [a0.shape[0], a0.shape[1], Y.shape[1], self.epochs, self.batch_size, self.shuffle]
        sums = [float(np.sum(a0, dtype=np.float64)), float(np.sum(Y, dtype=np.float64))]
        mine = np.array([*exact, *sums], dtype=np.float64)
        lo, hi = mine.copy(), mine.copy()
        self.comm.Allreduce(MPI.IN_PLACE, lo, op=MPI.MIN)
        self.comm.Allreduce(MPI.IN_PLACE, hi, op=MPI.MAX)
        for i, name in enumerate(names):
            if lo[i] != hi[i]:
                raise ValueError(
                    f"{name}: differs across ranks (from {lo[i]:g} to {hi[i]:g}, this rank "
                    f"{mine[i]:g}); every rank must be given the full, identical data set"
                )
        for i, name in enumerate(["X", "Y"], start=len(names)):
            if abs(hi[i] - lo[i]) > 1e-6 * max(1.0, abs(hi[i])):
                raise ValueError(
                    f"{name}: differs across ranks (checksums from {lo[i]!r} to {hi[i]!r}); "
                    "every rank must be given the full, identical data set"
                )


# -- the entry point ----------------------------------------------------------------------------
def fit(net: Network, X: ArrayLike, Y: ArrayLike, *, comm: Any | None = None,
        **options: Any) -> History:
    """Train ``net`` data-parallel over the ranks of ``comm``; same result as one process.

    Call it on every rank with the full data set and the same network (same seed).
    Parameters, generator state, scaler and optimizer state are broadcast from rank 0
    first. ``batch_size`` is the *global* batch: the same ``batch_size`` gives the same
    training whatever the number of ranks.

    Parameters
    ----------
    net : Network
    X : array-like of shape (n_samples, n_in)
    Y : array-like of shape (n_samples, n_out), or (n_samples,) of class labels
    comm : mpi4py communicator, optional
        Default ``MPI.COMM_WORLD``.
    **options
        Every keyword of :func:`chainrule.training.fit` (epochs, batch_size, optimizer,
        shuffle, validation_data, validation_split, callbacks). Callbacks run on every
        rank and see the same (global) metrics; print or write files only where
        :func:`is_root`.

    Returns
    -------
    History
        Identical on every rank.

    Notes
    -----
    With more than one rank, an exception on any rank (bad data on one rank, a
    failing callback, divergence) prints that rank's traceback to stderr and aborts
    the communicator: the launcher exits non-zero instead of the other ranks waiting
    forever in the next all-reduce. With one rank exceptions propagate as usual.
    """
    comm = _resolve(comm)
    with abort_on_error(comm):
        if int(comm.Get_size()) > 1:
            _sync_network(net, comm)  # first: the validation split draws from net.rng
        return training.fit(net, X, Y, trainer_class=DistributedTrainer, comm=comm, **options)
