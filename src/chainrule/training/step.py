"""One training step: one batch through forward, cost, backward, reduction and update.

:class:`Step` is the notes' procedure for one mini-batch: forward the batch, compute its
cost, backpropagate the averaged gradient, let the optimizer move the weights — guarded
against divergence (:mod:`.divergence`). The loop (:class:`~chainrule.training.Trainer`)
runs steps over epochs; the playground, the scikit-learn estimators and ``lr_find``
call a step directly.

What varies is passed in as objects, never found by looking at which methods a subclass
overrode:

* an **objective** (:class:`Objective`): forward, cost and backward on the samples, which
  fill ``net.grads``. :class:`NetworkObjective` (the default) is the network's own loss,
  averaged — or, with sample weights, the weighted mean Σ s_i C_i / Σ s_i
  (:mod:`chainrule.training.weights`); scikit-learn's objective (α / (2 Σ s) ‖W‖²) is
  another (:mod:`chainrule.sklearn._stochastic`).
* a **reducer** (:class:`Reducer`): which share of the global batch this process computes
  on, and how the shares' gradients and statistics combine. :class:`LocalReducer` (the
  default) is one process: all of the batch, nothing to combine; data-parallel MPI
  training passes its own (:mod:`chainrule.distributed`).

On another backend (``Network(..., backend="torch")``) the step runs where the network's
arrays are and brings the step's scalars — loss sum, correct count, ‖g‖² — back to the
host together, in one transfer. Where the step is exactly the network's objective on one
process, it may run as one compiled numba call (:mod:`chainrule.training.compiled`),
chosen for the step when it is made.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from numpy.typing import NDArray

from ..engine import backend as _backend
from ..engine.workspace import Workspaces
from . import compiled, weights
from .divergence import DivergenceError, LossGuard
from .metrics import n_correct, n_correct_array

if TYPE_CHECKING:
    from ..engine.network import Network
    from .batches import Batches
    from .optimizers import Optimizer

Array = NDArray[np.floating]


class Reducer(Protocol):
    """How a global batch is shared among processes and their results combined.

    Attributes
    ----------
    any_backend : bool
        Whether it works on every backend (``net.xp``), not only on NumPy.

    Notes
    -----
    One step calls :meth:`share` once, computes the gradient on that share, then calls
    :meth:`reduce` once, before the loss guard and the update. With sample weights s_i
    the share's gradient g_k is its weighted mean, whose weights sum to S_k; the global
    gradient is Σ_k S_k g_k / Σ_k S_k (S_k = n_k without weights).
    """

    any_backend: bool

    def share(self, xb: Array, yb: Array, sb: Array | None
              ) -> tuple[Array, Array, Array | None]:
        """The rows of the global batch (xb, yb) and of its sample weights ``sb`` (None:
        unweighted) this process computes on: (xs, ys, ss), possibly empty."""
        ...

    def reduce(self, grads: Array, n_local: int, loss_sum: float, correct: int,
               weight_sum: float | None) -> tuple[int, float, int]:
        """Combine gradients and batch statistics across processes, in place.

        Parameters
        ----------
        grads : ndarray of shape (n_params,)
            On entry the (weighted) mean gradient over this process's ``n_local``
            samples (zero when it had none); on return the (weighted) mean over the
            global batch.
        n_local : int
            This process's sample count.
        loss_sum : float
            Its loss sum (Σ_i s_i C_i when weighted).
        correct : int
            Its correct predictions.
        weight_sum : float or None
            The sum S_k of its samples' weights; None when unweighted.

        Returns
        -------
        (n, loss_sum, correct) of the global batch.
        """
        ...


class LocalReducer:
    """One process: the whole batch, nothing to combine."""

    any_backend = True

    def share(self, xb: Array, yb: Array, sb: Array | None
              ) -> tuple[Array, Array, Array | None]:
        return xb, yb, sb

    def reduce(self, grads: Array, n_local: int, loss_sum: float, correct: int,
               weight_sum: float | None) -> tuple[int, float, int]:
        return n_local, loss_sum, correct


class Objective(Protocol):
    """What a step minimises: forward, cost and backward on a batch's samples.

    Attributes
    ----------
    any_backend : bool
        Whether :meth:`gradient` runs on every backend (written against ``net.xp``,
        returning its scalars as 0-d arrays there), not only on NumPy.
    any_backend_weighted : bool
        The same with sample weights.
    """

    any_backend: bool
    any_backend_weighted: bool

    def gradient(self, net: Network, xs: Array, ys: Array, ss: Array | None,
                 workspaces: Workspaces, rng: Any) -> tuple[Any, Any]:
        """Forward (dropout masks from ``rng``; None: the network's generator), cost and
        backward on samples ``xs`` (n, n_in) with targets ``ys`` (n, n_out) and sample
        weights ``ss`` (n,) or None: fills ``net.grads`` with the batch's (weighted) mean
        gradient. ``workspaces`` holds reusable buffers by batch size (NumPy).

        Returns (loss sum, correct predictions): the loss sum divided by
        :meth:`batch_weight` is the batch's mean cost.
        """
        ...

    def batch_weight(self, n: int, ss: Array) -> float:
        """What the loss sum of ``n`` samples with weights ``ss`` is divided by for the
        batch's mean cost (asked only with weights; without, it is ``n``). A batch of
        weight 0 takes no step."""
        ...


class NetworkObjective:
    """The network's own cost: the batch mean (1/n) Σ_i C_i (+ L2), or with sample weights
    Σ_i s_i C_i / Σ_i s_i (:mod:`chainrule.training.weights`, NumPy only)."""

    any_backend = True
    any_backend_weighted = False

    def gradient(self, net: Network, xs: Array, ys: Array, ss: Array | None,
                 workspaces: Workspaces, rng: Any) -> tuple[Any, Any]:
        if net.xp is not np:  # no buffers; the scalars stay on the device
            trace = net.forward(xs, training=True, rng=rng)
            correct_dev: Any = 0
            if net.loss_fn.classification:
                correct_dev = n_correct_array(trace.a_L, ys, net.independent_outputs)
            loss_dev = net.cost_array(trace, ys) * xs.shape[0]
            net.backward(trace, ys)
            return loss_dev, correct_dev
        ws = workspaces.get(xs.shape[0])
        trace = net.forward(xs, training=True, workspace=ws, rng=rng)
        correct = 0
        if net.loss_fn.classification:
            correct = n_correct(trace.a_L, ys, net.independent_outputs)
        if ss is None:
            loss_sum = net.cost(trace, ys) * xs.shape[0]
            net.backward(trace, ys, workspace=ws)
        else:  # the notes' 1/n becomes s_i / Σ s (chainrule.training.weights)
            loss_sum = weights.weighted_cost(net, trace, ys, ss) * float(np.sum(ss))
            weights.weighted_backward(net, trace, ys, ss, workspace=ws)
        return loss_sum, correct

    def batch_weight(self, n: int, ss: Array) -> float:
        return float(np.sum(ss, dtype=np.float64))  # Σ s_i: the weighted mean's divisor


class Step:
    """One training step of ``net`` with ``optimizer``: :meth:`__call__` takes a batch.

    Parameters
    ----------
    net : Network
    optimizer : Optimizer
    reducer : Reducer, optional
        How the batch is shared across processes; default :class:`LocalReducer`.
    objective : Objective, optional
        What the step minimises; default :class:`NetworkObjective`.
    dropout_rng : numpy.random.Generator, optional
        Where dropout masks come from; None means the network's generator.

    Attributes
    ----------
    net, optimizer, reducer, objective, dropout_rng
        As given.
    guard : LossGuard
        The loss guard; a new run gives the step a new one (its reference is the run's
        first batch).
    workspaces : Workspaces
        The preallocated arrays of the steps, one set per batch size.
    compiled : CompiledStep or None
        The whole step as one numba call, where it applies (:mod:`.compiled`).
    planned_steps : int or None
        How many steps the caller means to take (the loop sets it for a run); the
        compiled step is loaded only for runs long enough to repay loading numba. None:
        steps driven by hand, their number unknown.
    """

    def __init__(self, net: Network, optimizer: Optimizer, *,
                 reducer: Reducer | None = None, objective: Objective | None = None,
                 dropout_rng: Any = None) -> None:
        self.net, self.optimizer = net, optimizer
        self.reducer: Reducer = LocalReducer() if reducer is None else reducer
        self.objective: Objective = NetworkObjective() if objective is None else objective
        self.dropout_rng = dropout_rng
        self.guard = LossGuard()
        self.workspaces = Workspaces(net)
        self.planned_steps: int | None = None
        self.on_numpy = net.xp is np
        if not self.on_numpy and not (self.reducer.any_backend and self.objective.any_backend):
            custom = self.objective if not self.objective.any_backend else self.reducer
            raise _backend.BackendError(
                f"backend: {type(custom).__name__} (data-parallel or customised training) "
                f"runs on the numpy backend only, not {net.backend!r}")
        # The whole step in one numba call where it applies (chainrule.compiled), else None.
        self.compiled = compiled.step_for(self) if self.on_numpy else None

    @property
    def is_plain(self) -> bool:
        """The network's own objective on one process: what the compiled step computes."""
        return type(self.objective) is NetworkObjective and type(self.reducer) is LocalReducer

    def check_weights(self) -> None:
        """Raise :class:`~chainrule.engine.backend.BackendError` where this step cannot
        train with sample weights (the objective's weighted path is NumPy only)."""
        if not self.on_numpy and not self.objective.any_backend_weighted:
            raise _backend.BackendError(f"sample_weight: weighted training runs on the numpy "
                                        f"backend only, not {self.net.backend!r}")

    def gradient(self, xs: Array, ys: Array, ss: Array | None = None) -> tuple[Any, Any]:
        """The objective's forward, cost and backward on samples (xs, ys) (weighted by
        ``ss``): fills ``net.grads``; returns their loss sum and correct predictions."""
        return self.objective.gradient(self.net, xs, ys, ss, self.workspaces,
                                       self.dropout_rng)

    def __call__(self, xb: Array, yb: Array, sb: Array | None = None, *, epoch: int,
                 batch: int) -> tuple[float, int, int]:
        """Forward, cost, backprop, reduction and update on one global batch (with sample
        weights ``sb`` of shape (m,), if any); ``epoch`` and ``batch`` (from 1) name it in
        a :class:`DivergenceError`.

        Returns the batch's loss sum (Σ_i s_i C_i when weighted), sample count and correct
        predictions. A weighted batch whose weight is 0 takes no step.
        """
        # The compiled step has no per-sample weights: a weighted batch trains on NumPy.
        if self.compiled is not None and sb is None:
            done = self.compiled(xb, yb, batch, epoch)  # None: the NumPy path takes it
            if done is not None:
                try:  # the compiled step has updated already: an explosion must undo it
                    self.guard.check(epoch, batch, done[0] / max(done[1], 1))
                except DivergenceError as exc:
                    exc.update_applied = True
                    raise
                return done
        net, objective = self.net, self.objective
        xs, ys, ss = self.reducer.share(xb, yb, sb)
        n_local = xs.shape[0]
        loss_sum, correct = 0.0, 0
        if n_local:
            loss_sum, correct = objective.gradient(net, xs, ys, ss, self.workspaces,
                                                   self.dropout_rng)
        else:
            net.grads[...] = 0.0
        local_weight = None if ss is None else objective.batch_weight(n_local, ss)
        n, loss_sum, correct = self.reducer.reduce(net.grads, n_local, loss_sum, correct,
                                                   local_weight)
        grad_sq: float | None = None
        if not self.on_numpy:  # the step's one transfer to the host: three scalars
            sq_dev = net.xp.vecdot(net.grads, net.grads)
            loss_sum, right, grad_sq = _backend.host_scalars(loss_sum, correct, sq_dev)
            correct = int(right)
        if not math.isfinite(loss_sum):
            raise self.guard.error(epoch, batch, "the loss")
        batch_weight = float(n) if sb is None else objective.batch_weight(n, sb)
        if batch_weight == 0:
            return loss_sum, n, correct  # no sample counts: no step, as if it were absent
        if grad_sq is None:
            grad_sq = float(np.dot(net.grads, net.grads))
        if not math.isfinite(grad_sq):
            raise self.guard.error(epoch, batch, "the gradient")
        self.guard.check(epoch, batch, loss_sum / batch_weight)  # the batch's mean cost
        self.optimizer.step(net.params, net.grads, grad_sq_norm=grad_sq)
        return loss_sum, n, correct

    @property
    def runs_batches(self) -> bool:
        """Whether :meth:`run_batches` can take batches: a compiled step, loaded by a
        first batch that also set the loss guard's reference."""
        step = self.compiled
        return step is not None and step.loaded and self.guard.first is not None

    def run_batches(self, batches: Batches, order: Any, first: int, count: int, *,
                    epoch: int) -> list[tuple[float, int]]:
        """Full batches ``first`` … ``first + count − 1`` (from 1) of the epoch whose sample
        order is ``order`` in one compiled call (:meth:`CompiledStep.run_batches`: bitwise
        the steps :meth:`__call__` takes one by one), as (loss sum, correct) per batch. A
        batch that fails raises the :class:`DivergenceError` :meth:`__call__` would raise
        for it (``update_applied`` where the compiled call had applied its update)."""
        step, guard, m = self.compiled, self.guard, batches.batch_size
        assert step is not None and self.runs_batches
        out = step.run_batches(batches.a0, batches.Y, order, first - 1, count, m, guard.limit)
        last = first + len(out) - 1
        loss_sum, _, _, updated = out[-1]
        if not updated:  # not applied, as in __call__
            raise guard.error(epoch, last, "the loss" if not math.isfinite(loss_sum)
                              else "the gradient")
        if loss_sum / m > guard.limit:  # applied: the loop puts back the weights before
            try:
                guard.check(epoch, last, float(loss_sum) / m)
            except DivergenceError as exc:
                exc.update_applied = True
                raise
        return list(zip(out[:, 0].tolist(), out[:, 1].astype(np.int64).tolist(), strict=True))
