"""The all-reduce of data-parallel training: the notes' average over samples, split across
processes.

Run a script or the CLI under an MPI launcher (``mpirun -n 4 …``, ``srun …``); every
rank holds the full data and the same network, and computes the gradient on its
contiguous share of every *global* batch. One ``Allreduce`` per step then gives
every rank the gradient of the whole batch, every rank applies the same optimizer
step, and all ranks stay bit-identical. This file is that arithmetic: :func:`share`
(which rows of a global batch a rank computes), the dropout masks of the global batch,
and :class:`MPIReducer` (the all-reduce). :func:`chainrule.distributed.fit`
(:mod:`~chainrule.distributed.data_parallel`) trains with it; keeping a job from hanging
or failing silently is :mod:`~chainrule.distributed.process`.

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

With sample weights s_i (:mod:`chainrule.weights`) g_k is the weighted mean over share
k and its weight is S_k = Σ_{i in share k} s_i instead of n_k:

.. math::

    \\frac{\\partial C}{\\partial w} = \\frac{\\sum_i s_i\\, \\partial C_i/\\partial w}
        {\\sum_i s_i} = \\frac{\\sum_k S_k\\, g_k}{\\sum_k S_k},

the same all-reduce with S_k in n_k's place (a share whose weights are all zero adds
nothing; a global batch with Σ s = 0 takes no step, on every rank alike).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..engine.layers import Dropout

if TYPE_CHECKING:
    from ..engine.network import Network

Array = NDArray[np.floating]

__all__ = ["MPIReducer", "share"]


def share(m: int, rank: int, size: int) -> tuple[int, int]:
    """Rows [lo, hi) of a global batch of ``m`` samples that ``rank`` of ``size`` computes.

    Contiguous shares, the first ``m % size`` ranks one sample larger; a rank's share
    is empty when ``m < size`` (a small last batch).
    """
    base, extra = divmod(m, size)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (1 if rank < extra else 0)


class GlobalBatchRNG:
    """Stands in for a Dropout layer's generator: draws the mask of the whole global batch
    and hands over this rank's rows.

    Single-process training draws one (m, n) mask per Dropout layer per batch; drawing
    exactly that on every rank keeps the generators in step (the next permutation
    depends on it) and gives each sample the mask it would get in one process.

    Attributes
    ----------
    rng : numpy.random.Generator
        The network's generator.
    m, lo, hi : int
        The global batch size and this rank's rows [lo, hi) of the current batch.
    """

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.m, self.lo, self.hi = 0, 0, 0

    def random(self, shape: tuple[int, ...], dtype: Any = np.float64) -> Array:
        full = self.rng.random((self.m, *shape[1:]), dtype=dtype)
        return full[self.lo : self.hi]


class MPIReducer:
    """Shares every global batch across the ranks of ``comm`` and all-reduces its gradient:
    the :class:`~chainrule.training.Reducer` of data-parallel training.

    A :class:`~chainrule.training.Step` given it (with ``dropout_rng=reducer.dropout_rng``)
    computes on this rank's rows of each global batch and updates with the global mean
    gradient, the same on every rank.

    Parameters
    ----------
    net : Network
        The network every rank trains (the same on every rank).
    comm : mpi4py communicator

    Attributes
    ----------
    any_backend : bool
        False: the all-reduce works on NumPy arrays only.
    rank, size : int
    dropout_rng : GlobalBatchRNG
        The generator dropout must draw its masks from: this rank's rows of the global
        batch's masks.
    reduce_seconds : float
        Time spent in the gradient all-reduce (for benchmarks).
    n_reduce : int
        Number of all-reduce calls.
    """

    any_backend = False

    def __init__(self, net: Network, comm: Any) -> None:
        self.net, self.comm = net, comm
        self.rank, self.size = int(comm.Get_rank()), int(comm.Get_size())
        # float64 whatever the network's dtype: the sum over ranks should add no error
        # of its own. Layout: S_k·g_k for every parameter, then S_k, n_k, loss sum,
        # correct; S_k = n_k without sample weights.
        self._buf = np.empty(net.n_params + 4, dtype=np.float64)
        self._dropout = [
            layer for layer in net.layers if isinstance(layer, Dropout) and layer.rate > 0
        ]
        self.dropout_rng = GlobalBatchRNG(net.rng)
        self.reduce_seconds = 0.0
        self.n_reduce = 0

    def share(self, xb: Array, yb: Array, sb: Array | None = None
              ) -> tuple[Array, Array, Array | None]:
        """Rows :func:`share` (m, rank, size) of the global batch (xb, yb, sb)."""
        if self.size == 1:
            return xb, yb, sb
        m = xb.shape[0]
        lo, hi = share(m, self.rank, self.size)
        masks = self.dropout_rng
        masks.m, masks.lo, masks.hi = m, lo, hi
        if hi == lo:
            # No forward pass here, but the generator must still move as on the other ranks.
            for layer in self._dropout:
                self.net.rng.random((m, layer.n_in), dtype=self.net.dtype)
        return xb[lo:hi], yb[lo:hi], None if sb is None else sb[lo:hi]

    def reduce(self, grads: Array, n_local: int, loss_sum: float, correct: int,
               weight_sum: float | None = None) -> tuple[int, float, int]:
        """One Allreduce of (S_k·g_k, S_k, n_k, loss_k, correct_k); ∂C/∂w = Σ S_k g_k / Σ S_k,
        with S_k = n_k unweighted and Σ_{i in share k} s_i with sample weights.

        Parameters
        ----------
        grads : ndarray of shape (n_params,)
            On entry the mean gradient g_k over this rank's ``n_local`` samples (their
            weighted mean, whose weights sum to ``weight_sum``); on return the mean over
            the global batch, the same on every rank (zero when Σ s = 0).
        n_local : int
        loss_sum : float
            Σ C_i (Σ s_i C_i when weighted) over this rank's samples.
        correct : int
        weight_sum : float, optional
            S_k, what this share weighs as the step's objective counts it
            (``Objective.batch_weight``: Σ s_i of the share for the network's own cost);
            None when unweighted (S_k = n_k).

        Returns
        -------
        (n, loss_sum, correct) of the global batch.
        """
        if self.size == 1:
            return n_local, loss_sum, correct
        from mpi4py import MPI

        buf, n_params = self._buf, self.net.n_params
        weight = n_local if weight_sum is None else weight_sum
        # The share's mean back to its sum, S_k g_k = Σ_{i in share k} s_i ∂C_i/∂w (s_i = 1
        # unweighted), in float64 like the sum over ranks. Only S_k enters here, as the
        # step's objective counts it: each s_i was applied once, in the objective's backward
        # (chainrule.training.weights.scale_rows).
        np.multiply(grads, weight, out=buf[:n_params], dtype=np.float64)
        buf[n_params:] = (weight, n_local, loss_sum, correct)
        start = time.perf_counter()
        self.comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        self.reduce_seconds += time.perf_counter() - start
        self.n_reduce += 1
        total = buf[n_params]
        if weight_sum is None:
            total = int(total)
        if total:  # (1/n) Σ_i ∂C_i/∂w, the notes' mean (Σ s_i ∂C_i/∂w / Σ s_i weighted)
            np.divide(buf[:n_params], total, out=buf[:n_params])
        grads[...] = buf[:n_params]  # Σ s = 0: zero, and the step takes no step
        return int(buf[n_params + 1]), float(buf[n_params + 2]), int(buf[n_params + 3])
