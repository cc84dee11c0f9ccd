"""Data-parallel training over MPI: :func:`fit`, called on every rank.

It puts the pieces together in the order they must run: the process guards
(:mod:`~chainrule.distributed.process`) around everything, BLAS threads per rank,
rank 0's state on every rank (:mod:`~chainrule.distributed.sync`), training with the
all-reduce (:mod:`~chainrule.distributed.reducer`), and the completion handshake.

Needs ``mpi4py`` (``pip install 'chainrule[mpi]'``), imported only when a function
here is called: ``import chainrule`` never loads MPI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..training import fitting
from ..training.callbacks import History
from ..training.loop import Trainer
from ..training.optimizers import Optimizer
from ..training.step import Step
from .comm import resolve
from .process import abort_on_error, all_finished, finish_timeout_seconds, leaving_aborts
from .reducer import MPIReducer
from .sync import check_same_everywhere, sync_network, sync_optimizer
from .threads import blas_threads_per_rank

if TYPE_CHECKING:
    from ..engine.network import Network

Array = NDArray[np.floating]

__all__ = ["DistributedTrainer", "fit"]


class DistributedTrainer(Trainer):
    """The training loop whose step shares every global batch across the ranks of ``comm``:
    a :class:`~chainrule.training.Trainer` running a :class:`~chainrule.training.Step` with
    an :class:`~chainrule.distributed.reducer.MPIReducer`.

    Built with the optimizer that :func:`~chainrule.training.prepare_fit` chose, it first
    gives every rank rank 0's optimizer state; :meth:`run` first checks that every rank
    holds the same data and settings.

    Parameters
    ----------
    net, optimizer
        As for :class:`~chainrule.training.Trainer`.
    comm : mpi4py communicator
    **options
        The other arguments of :class:`~chainrule.training.Trainer` (epochs,
        batch_size — the global batch — shuffle, callbacks, start_epoch).

    Attributes
    ----------
    comm
    reducer : MPIReducer
        Also ``step.reducer``; its ``reduce_seconds`` and ``n_reduce`` time the all-reduce.
    """

    def __init__(self, net: Network, optimizer: Optimizer, *, comm: Any,
                 **options: Any) -> None:
        self.comm = comm
        self.reducer = MPIReducer(net, comm)
        step = Step(net, optimizer, reducer=self.reducer,
                    dropout_rng=self.reducer.dropout_rng)
        super().__init__(net, optimizer, step=step, **options)
        if self.reducer.size > 1:
            sync_optimizer(optimizer, net, comm)  # slots and step count from rank 0

    def run(self, a0: Array, Y: Array, validation: tuple[Array, Array] | None = None,
            sample_weight: NDArray[np.float64] | None = None) -> History:
        """Check every rank holds the same data and settings, then train."""
        if self.reducer.size > 1:
            settings = {"epochs": self.epochs, "batch_size": self.batch_size,
                        "shuffle": self.shuffle, "start_epoch": self.start_epoch}
            check_same_everywhere(self.comm, a0, Y, sample_weight, settings)
        return super().run(a0, Y, validation, sample_weight)


def fit(net: Network, X: ArrayLike, Y: ArrayLike, *, comm: Any | None = None,
        finish_timeout: float | None = None, **options: Any) -> History:
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
    finish_timeout : float, optional
        Seconds a rank that has finished training waits for the others to finish too
        before it aborts the job, naming the missing ranks (default
        ``$CHAINRULE_MPI_FINISH_TIMEOUT``, else 60).
    **options
        Every keyword of :func:`chainrule.training.fit` (epochs, batch_size, optimizer,
        shuffle, validation_data, validation_split, callbacks). Callbacks run on every
        rank and see the same (global) metrics; print or write files only where
        :func:`~chainrule.distributed.is_root`.

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

    A rank must not leave while the others train: ``os._exit`` (any code, 0 included)
    or the interpreter exiting on a rank during ``fit`` aborts the job with a message
    naming the rank, and ``fit`` ends with a check that every rank finished (see
    ``finish_timeout``). A rank killed outright (SIGKILL) is detected by the launcher.
    Unless ``OMP_NUM_THREADS`` (or another BLAS thread variable) is set, each rank's
    BLAS threads are limited to its share of the node's cores (for the rest of the process).
    """
    comm = resolve(comm)
    if int(comm.Get_size()) == 1:  # one process: exactly the plain loop (compiled step too)
        return fitting.fit(net, X, Y, **options)
    timeout = finish_timeout_seconds(finish_timeout)
    with abort_on_error(comm), leaving_aborts(comm):
        blas_threads_per_rank(comm)
        control = comm.Dup()  # the handshake's communicator, made while all ranks are here
        sync_network(net, comm)  # first: the validation split draws from net.rng
        history = fitting.fit(net, X, Y, trainer_class=DistributedTrainer, comm=comm,
                              **options)
        all_finished(comm, control, timeout)
        control.Free()
    return history

