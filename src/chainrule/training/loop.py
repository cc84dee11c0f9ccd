"""The training loop: mini-batches, epochs, validation, callbacks.

It runs past 300 lines because ``fit`` and its data preparation are documented here in full
(``Network.fit`` and MPI's ``fit`` take the same keywords from it); the loop itself is
``Trainer.run``.

One step is the notes' procedure: forward the batch, compute its cost,
backpropagate the averaged gradient, let the optimizer move the weights. With sample
weights the average is the weighted mean Σ s_i C_i / Σ s_i of every mini-batch
(:mod:`chainrule.weights`).

On another backend (``Network(..., backend="torch")``, :mod:`chainrule.backend`) the
step runs where the network's arrays are: batches are gathered there (the shuffled
order, drawn from the network's generator, is copied once an epoch), and the step's
scalars — loss sum, correct count, ‖g‖² — come back to the host together, in one
transfer. Sample weights, the compiled step and MPI are NumPy-only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..engine import backend as _backend
from ..engine.workspace import Workspaces
from ..table.columns import is_table
from . import compiled, weights
from .callbacks import Callback, DivergenceError, History
from .optimizers import Optimizer, get_optimizer

if TYPE_CHECKING:
    from ..engine.network import Network

Array = NDArray[np.floating]


def _positive_int(name: str, value: object, allow_zero: bool = False) -> int:
    lo = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo:
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name}: expected a {kind} integer, got {value!r}")
    return int(value)


class Trainer:
    """State of one ``fit`` call, visible to callbacks.

    Attributes
    ----------
    net, optimizer, epochs, batch_size
    epoch : int
        Current epoch, counted from 1.
    n_batches : int
        Batches per epoch.
    stop_training : bool
        Set by a callback to end training after the current epoch.
    data : (a0, Y)
        The training inputs (standardized, (n, n_in)) and targets (n, n_out) of the run.
    sample_weight : ndarray of shape (n,) or None
        The run's per-sample weights s_i (class weights folded in); None: unweighted.
    validation : (a0_val, Y_val) or None
    workspaces : Workspaces
        The preallocated arrays of the training steps, one set per batch size.
    dropout_rng : numpy.random.Generator or None
        Where dropout masks come from; None means the network's generator.
    """

    #: Whether a subclass's ``compute_gradient`` works on every backend (written against
    #: ``net.xp``, returning device scalars there); otherwise it runs on NumPy only.
    backend_generic: bool = False

    def __init__(
        self,
        net: Network,
        optimizer: Optimizer,
        *,
        epochs: int,
        batch_size: int,
        shuffle: bool = True,
        callbacks: Sequence[Callback] = (),
    ) -> None:
        self.net, self.optimizer = net, optimizer
        self.epochs = _positive_int("epochs", epochs, allow_zero=True)
        self.batch_size = _positive_int("batch_size", batch_size)
        self.shuffle = bool(shuffle)
        self.history = History()
        for i, cb in enumerate(callbacks):
            if not isinstance(cb, Callback):
                raise ValueError(f"callbacks[{i}]: expected a Callback, got {cb!r}")
        self.callbacks: list[Callback] = [self.history, *callbacks]
        self.epoch = 0
        self.n_batches = 0
        self.stop_training = False
        self.data: tuple[Array, Array] | None = None
        self.sample_weight: NDArray[np.float64] | None = None
        self.validation: tuple[Array, Array] | None = None
        self.workspaces = Workspaces(net)
        self.dropout_rng: np.random.Generator | None = None
        self._guard = _LossGuard()
        self._on_numpy = net.xp is np
        if not self._on_numpy:
            for hook in ("train_step", "compute_gradient", "reduce", "local_share"):
                if hook == "compute_gradient" and self.backend_generic:
                    continue
                if getattr(type(self), hook) is not getattr(Trainer, hook):
                    raise _backend.BackendError(
                        f"backend: {type(self).__name__} (data-parallel or customised "
                        f"training) runs on the numpy backend only, not {net.backend!r}")
        # The whole step in one numba call where it applies (chainrule.compiled), else None.
        self.compiled = compiled.step_for(self) if self._on_numpy else None

    # -- hooks for data-parallel training (see chainrule.distributed) --------------
    def local_share(self, xb: Array, yb: Array, sb: Array | None = None
                    ) -> tuple[Array, Array, Array | None]:
        """The part of a global batch (and of its sample weights ``sb``, if any) this
        worker computes on; single process: all of it."""
        return xb, yb, sb

    def reduce(self, n_local: int, loss_sum: float, correct: int,
               weight_sum: float | None = None) -> tuple[int, float, int]:
        """Combine gradients and batch statistics across workers.

        On entry ``net.grads`` holds the mean gradient over this worker's ``n_local``
        samples — with sample weights, their weighted mean, whose weights sum to
        ``weight_sum``; on return it must hold the (weighted) mean over the global batch.
        Returns the global sample count, loss sum (Σ s_i C_i when weighted) and number of
        correct predictions. A single process has nothing to combine.
        """
        return n_local, loss_sum, correct

    # -- one step ------------------------------------------------------------------------
    def compute_gradient(self, xs: Array, ys: Array, ss: Array | None = None
                         ) -> tuple[float, int]:
        """Forward, cost and backprop on this worker's samples: fills ``net.grads`` with
        the mean gradient (weighted by ``ss`` when given); returns their loss sum
        (Σ_i s_i C_i when weighted) and number of correct predictions."""
        net = self.net
        if not self._on_numpy:  # no buffers; the scalars stay on the device (train_step)
            trace = net.forward(xs, training=True, rng=self.dropout_rng)
            correct_dev: Any = 0
            if net.loss_fn.classification:
                correct_dev = n_correct_array(trace.a_L, ys, net.independent_outputs)
            loss_dev = net.cost_array(trace, ys) * xs.shape[0]
            net.backward(trace, ys)
            return loss_dev, correct_dev
        ws = self.workspaces.get(xs.shape[0])
        trace = net.forward(xs, training=True, workspace=ws, rng=self.dropout_rng)
        correct = 0
        if net.loss_fn.classification:
            correct = n_correct(trace.a_L, ys, net.independent_outputs)
        if ss is None:
            loss_sum = net.cost(trace, ys) * xs.shape[0]
            net.backward(trace, ys, workspace=ws)
        else:  # the notes' 1/n becomes s_i / Σ s (chainrule.weights)
            loss_sum = weights.weighted_cost(net, trace, ys, ss) * float(np.sum(ss))
            weights.weighted_backward(net, trace, ys, ss, workspace=ws)
        return loss_sum, correct

    def train_step(self, xb: Array, yb: Array, batch: int, sb: Array | None = None
                   ) -> tuple[float, int, int]:
        """Forward, cost, backprop and update on one global batch (with sample weights
        ``sb`` of shape (m,), if any).

        Returns the batch's loss sum (Σ_i s_i C_i when weighted), sample count and correct
        predictions. A weighted batch whose weights are all zero takes no step.
        """
        # The compiled step has no per-sample weights: a weighted batch trains on NumPy.
        if self.compiled is not None and sb is None:
            done = self.compiled(xb, yb, batch)  # None: this step runs on the NumPy path
            if done is not None:
                try:  # the compiled step has updated already: an explosion must undo it
                    self._guard.check(self, batch, done[0] / max(done[1], 1))
                except DivergenceError as exc:
                    exc.update_applied = True
                    raise
                return done
        net = self.net
        xs, ys, ss = self.local_share(xb, yb, sb)
        n_local = xs.shape[0]
        loss_sum, correct = 0.0, 0
        if n_local and ss is None:
            loss_sum, correct = self.compute_gradient(xs, ys)
        elif n_local:
            loss_sum, correct = self.compute_gradient(xs, ys, ss)
        else:
            net.grads[...] = 0.0
        if ss is None:
            n, loss_sum, correct = self.reduce(n_local, loss_sum, correct)
        else:
            local_weight = float(np.sum(ss, dtype=np.float64))
            n, loss_sum, correct = self.reduce(n_local, loss_sum, correct, local_weight)
        grad_sq: float | None = None
        if not self._on_numpy:  # the step's one transfer to the host: three scalars
            sq_dev = net.xp.vecdot(net.grads, net.grads)
            loss_sum, right, grad_sq = _backend.host_scalars(loss_sum, correct, sq_dev)
            correct = int(right)
        if not math.isfinite(loss_sum):
            raise self._guard.error(self, batch, "the loss")
        batch_weight = float(n) if sb is None else float(np.sum(sb, dtype=np.float64))
        if batch_weight == 0:
            return loss_sum, n, correct  # no sample counts: no step, as if it were absent
        if grad_sq is None:
            grad_sq = float(np.dot(net.grads, net.grads))
        if not math.isfinite(grad_sq):
            raise self._guard.error(self, batch, "the gradient")
        # before the update; the batch's (weighted) mean cost
        self._guard.check(self, batch, loss_sum / max(n, 1) if sb is None
                          else loss_sum / batch_weight)
        self.optimizer.step(net.params, net.grads, grad_sq_norm=grad_sq)
        return loss_sum, n, correct

    # -- the loop --------------------------------------------------------------------------
    def run(
        self,
        a0: Array,
        Y: Array,
        validation: tuple[Array, Array] | None = None,
        sample_weight: NDArray[np.float64] | None = None,
    ) -> History:
        """Train on standardized inputs a0 (n, n_in) and targets Y (n, n_out), with
        per-sample weights (n,) if given (checked: :func:`chainrule.weights.check_sample_weight`).

        The epoch's ``loss`` is then the weighted mean Σ s_i C_i / Σ s_i; ``accuracy`` and
        the validation metrics stay unweighted.
        """
        # Overflow and NaN in a step end training with a DivergenceError that names the epoch
        # and batch; NumPy's RuntimeWarnings on the way would only say it first, less clearly.
        with np.errstate(over="ignore", invalid="ignore"):
            return self._run(a0, Y, validation, sample_weight)

    def _run(self, a0: Array, Y: Array, validation: tuple[Array, Array] | None,
             sample_weight: NDArray[np.float64] | None = None) -> History:
        net = self.net
        n = a0.shape[0]
        self.n_batches = math.ceil(n / self.batch_size)
        self.data, self.validation = (a0, Y), validation
        self.sample_weight = sample_weight
        if sample_weight is not None and not self._on_numpy:
            raise _backend.BackendError(f"sample_weight: weighted training runs on the numpy "
                                        f"backend only, not {net.backend!r}")
        self._batches = _Batches(a0, Y, self.batch_size, sample_weight)
        classification = net.loss_fn.classification
        xp = net.xp
        self._guard = _LossGuard(0.0 if classification or not Y.shape[0] else
                                 float(xp.max(xp.abs(Y))))
        for cb in self.callbacks:
            cb.on_train_begin(self)
        # Callbacks with an on_batch_end: they say which batches they must see as they
        # happen (Callback.watches); a compiled run ends at such a batch.
        watchers = [cb for cb in self.callbacks
                    if type(cb).on_batch_end is not Callback.on_batch_end]
        try:
            for epoch in range(1, self.epochs + 1):
                self.epoch = epoch
                start_of_epoch = _Checkpoint(self)
                for cb in self.callbacks:
                    cb.on_epoch_begin(self)
                order = self._batches.order(net.rng.permutation(n)) if self.shuffle else None
                total_loss, total_n, correct = 0.0, 0, 0
                total_weight = 0.0  # Σ s_i of the epoch, when weighted
                batch = 0
                while batch < self.n_batches:
                    batch += 1
                    try:
                        run = self._compiled_run(batch, order, watchers)
                        if run is not None:  # full batches batch, batch + 1, … in one call
                            for k, (loss_sum, n_right) in enumerate(run):
                                correct += n_right
                                total_loss += loss_sum
                                total_n += self.batch_size
                                for cb in watchers:  # as each would have seen it
                                    cb.on_batch_end(self, batch + k, self._mean_loss(
                                        total_loss, total_n, total_weight))
                            batch += len(run) - 1
                            continue
                        xb, yb, sb = self._batches.get(batch, order)
                        loss_sum, m_global, n_right = self.train_step(xb, yb, batch, sb)
                        if batch == self.n_batches and not _finite(net.params):
                            raise self._guard.error(self, batch, "a weight")
                    except DivergenceError as exc:
                        batch = exc.batch  # in a compiled run: the batch that failed
                        if getattr(exc, "update_applied", False):
                            self._last_finite(start_of_epoch, batch, before_failed=True)
                        elif not _finite(net.params):
                            self._last_finite(start_of_epoch, batch)
                        raise
                    correct += n_right
                    total_loss += loss_sum
                    total_n += m_global
                    if sb is not None:
                        total_weight += float(np.sum(sb, dtype=np.float64))
                    for cb in self.callbacks:
                        cb.on_batch_end(self, batch, self._mean_loss(total_loss, total_n,
                                                                     total_weight))
                logs = {"loss": self._mean_loss(total_loss, total_n, total_weight)}
                if classification:
                    logs["accuracy"] = correct / max(total_n, 1)
                if validation is not None:
                    val_loss, val_acc = evaluate_arrays(net, *validation)
                    logs["val_loss"] = val_loss
                    if classification:
                        logs["val_accuracy"] = val_acc
                logs["lr"] = self.optimizer.lr
                for cb in self.callbacks:
                    cb.on_epoch_end(self, logs)
                if self.stop_training:
                    break
        finally:
            for cb in self.callbacks:
                cb.on_train_end(self)
        return self.history

    def _compiled_run(self, batch: int, order: Array | None, watchers: list[Callback]
                      ) -> list[tuple[float, int]] | None:
        """The full batches from ``batch`` (counted from 1) to the epoch's last full one —
        or to the first one a callback ``watches`` — in one compiled call
        (:meth:`CompiledStep.run_batches`: bitwise the steps :meth:`train_step` takes one
        by one), as (loss sum, correct) per batch; None where :meth:`train_step` takes
        this batch: no compiled step, sample weights, the fit's first batch (the loss
        guard's reference) or the last, partial one. A batch that fails raises the
        :class:`DivergenceError` that :meth:`train_step` would raise for it."""
        step, guard = self.compiled, self._guard
        full = self._batches.n // self.batch_size
        if (step is None or step.kernel is None or step.disabled
                or self.sample_weight is not None or guard.first is None or batch > full
                or not self._batches.on_numpy):
            return None
        count = full - batch + 1
        if watchers:  # up to and including the first batch a callback watches
            watched = next((ahead for ahead in range(1, count + 1)
                            if any(cb.watches(self, ahead) for cb in watchers)), None)
            if watched == 1:
                return None  # watched now: train_step takes it
            count = watched or count
        limit = guard.limit
        out = step.run_batches(self._batches.a0, self._batches.Y, order, batch - 1, count,
                               limit)
        last = batch + len(out) - 1
        loss_sum, _, _, updated = out[-1]
        if not updated:  # not applied, as in train_step
            raise guard.error(self, last, "the loss" if not math.isfinite(loss_sum)
                              else "the gradient")
        if loss_sum / self.batch_size > limit:  # applied: _run puts back the weights before
            try:
                guard.check(self, last, float(loss_sum) / self.batch_size)
            except DivergenceError as exc:
                exc.update_applied = True
                raise
        if last == self.n_batches and not _finite(self.net.params):
            raise guard.error(self, last, "a weight")
        return list(zip(out[:, 0].tolist(), out[:, 1].astype(np.int64).tolist(), strict=True))

    def _mean_loss(self, total_loss: float, total_n: int, total_weight: float) -> float:
        """The running cost: Σ C_i / n, or Σ s_i C_i / Σ s_i when weighted."""
        if self.sample_weight is None:
            return total_loss / max(total_n, 1)
        return total_loss / total_weight if total_weight > 0 else 0.0

    def _last_finite(self, start_of_epoch: _Checkpoint, failed_batch: int, *,
                     before_failed: bool = False) -> None:
        """Put back the last finite weights (and the optimizer state that goes with them).

        Steps never copy the weights (that would cost a pass over them per step); an
        update that overflowed is found on the next check. So go back to the start of the
        epoch and replay its steps, deterministically (same generator state, same
        batches), copying before each, until the one whose update was not finite — or,
        with ``before_failed``, up to the step before ``failed_batch`` (whose update the
        compiled step had applied before its loss was seen to explode).
        """
        net = self.net
        start_of_epoch.restore(self)
        order = self._batches.order(net.rng.permutation(self._batches.n)) if self.shuffle else None
        before = _Checkpoint(self)
        for batch in range(1, failed_batch if before_failed else failed_batch + 1):
            before.take(self)
            xb, yb, sb = self._batches.get(batch, order)
            try:
                self.train_step(xb, yb, batch, sb)
            except DivergenceError:
                break
            if not _finite(net.params):
                break
        else:
            return  # every replayed step stayed finite: keep the state after them
        before.restore(self)


class _Batches:
    """The mini-batches of an epoch (and their sample weights, if any), gathered into
    buffers reused every step (NumPy), or by ``xp.take`` on the data's device."""

    def __init__(self, a0: Array, Y: Array, batch_size: int,
                 sample_weight: NDArray[np.float64] | None = None) -> None:
        self.on_numpy = type(a0) is np.ndarray
        if self.on_numpy:  # row gathers and the compiled epoch read C-ordered rows
            a0, Y = np.ascontiguousarray(a0), np.ascontiguousarray(Y)
        self.a0, self.Y, self.batch_size, self.n = a0, Y, batch_size, a0.shape[0]
        self.s = sample_weight
        if not self.on_numpy:
            return
        self.xb = np.empty((batch_size, a0.shape[1]), dtype=a0.dtype)
        self.yb = np.empty((batch_size, Y.shape[1]), dtype=Y.dtype)
        self.sb = None if sample_weight is None else np.empty(batch_size, dtype=np.float64)

    def order(self, perm: NDArray[np.intp]) -> Any:
        """The epoch's sample order, on the data's device (copied once, not per batch)."""
        if self.on_numpy:
            return perm
        xp = _backend.namespace_of(self.a0)
        return xp.asarray(perm, dtype=xp.int64, device=_backend.device_of(self.a0))

    def get(self, batch: int, order: NDArray[np.intp] | None
            ) -> tuple[Array, Array, NDArray[np.float64] | None]:
        """Batch ``batch`` (counted from 1) of the epoch whose sample order is ``order``:
        (xb, yb, sb), sb None when unweighted."""
        start = (batch - 1) * self.batch_size
        stop = min(start + self.batch_size, self.n)
        if order is None:
            sb = None if self.s is None else self.s[start:stop]
            return self.a0[start:stop, ...], self.Y[start:stop, ...], sb
        idx, m = order[start:stop], stop - start
        if not self.on_numpy:  # gathered where the data is
            xp = _backend.namespace_of(self.a0)
            return xp.take(self.a0, idx, axis=0), xp.take(self.Y, idx, axis=0), None
        xb, yb = self.xb[:m], self.yb[:m]
        self.a0.take(idx, axis=0, out=xb)  # gather into reused buffers
        self.Y.take(idx, axis=0, out=yb)
        if self.s is None or self.sb is None:
            return xb, yb, None
        sb = self.sb[:m]
        self.s.take(idx, out=sb)
        return xb, yb, sb


class _Checkpoint:
    """Weights, optimizer state and the network's generator state at one moment."""

    def __init__(self, trainer: Trainer) -> None:
        self.take(trainer)

    def take(self, trainer: Trainer) -> None:
        self.params = _backend.copy(trainer.net.params)
        self.optimizer = trainer.optimizer.state_dict()
        self.rng = trainer.net.rng.bit_generator.state

    def restore(self, trainer: Trainer) -> None:
        trainer.net.params[...] = self.params
        trainer.optimizer.load_state_dict(self.optimizer)
        trainer.net.rng.bit_generator.state = self.rng


class _LossGuard:
    """Divergence that is still finite: a batch loss over 1e6 × the first one (or over
    1e3 when the first was below 1e-3, so a near-perfect start is no false alarm).

    Also words the error's advice: large regression targets are the likelier cause
    than the learning rate when they reach 1e4 and beyond.
    """

    EXPLOSION = 1e6

    def __init__(self, y_scale: float = 0.0) -> None:
        self.first: float | None = None
        self.y_scale = y_scale  # largest |y| of regression targets (0 for classification)

    @property
    def limit(self) -> float:
        """The mean batch cost that counts as an explosion (inf before the first batch)."""
        if self.first is None:
            return math.inf
        return self.EXPLOSION * max(self.first, 1e-3)  # the floor: a first loss near 0

    def check(self, trainer: Trainer, batch: int, loss: float) -> None:
        if self.first is None:
            self.first = loss
        elif loss > self.limit:
            raise self.error(trainer, batch, f"the loss grew from {self.first:.3g} to "
                             f"{loss:.3g} (over {self.EXPLOSION:.0e} times)", finite=True)

    def error(self, trainer: Trainer, batch: int, what: str, *,
              finite: bool = False) -> DivergenceError:
        advice = None
        if self.y_scale >= 1e4:
            advice = (f"the targets reach {self.y_scale:.3g}: rescale them (e.g. standardize "
                      "y), or use a loss that is scale-free; then the learning rate")
        return DivergenceError(trainer.epoch, batch, what, advice=advice, finite=finite)


def _finite(params: Array) -> bool:
    """Every weight finite (checked once an epoch and after a divergence, not every step).

    A NaN or inf makes the sum non-finite; summed in float64 it allocates nothing, and
    only an overflowing sum (weights near the float64 limit) needs the exact check.
    """
    if type(params) is not np.ndarray:  # one scalar back from the device
        return _backend.all_finite(params)
    if math.isfinite(float(np.add.reduce(params, dtype=np.float64))):
        return True
    return bool(np.isfinite(params).all())


def n_correct(a: Array, y: Array, independent: bool) -> int:
    """Correctly classified samples: argmax over mutually exclusive outputs (softmax);
    independent outputs (binary cross-entropy, also multi-label) are thresholded at
    0.5 and must all match (subset accuracy)."""
    if type(a) is not np.ndarray:
        return int(n_correct_array(a, y, independent))
    if a.shape[1] == 1 or independent:
        return int(np.sum(np.all((a >= 0.5) == (y >= 0.5), axis=1)))
    return int(np.count_nonzero(a.argmax(axis=1) == y.argmax(axis=1)))


def n_correct_array(a: Array, y: Array, independent: bool) -> Any:
    """:func:`n_correct` as a 0-d integer array of ``a``'s namespace (no host transfer)."""
    xp = _backend.namespace_of(a)
    if a.shape[1] == 1 or independent:
        return xp.sum(xp.astype(xp.all((a >= 0.5) == (y >= 0.5), axis=1), xp.int64))
    return xp.sum(xp.astype(xp.argmax(a, axis=1) == xp.argmax(y, axis=1), xp.int64))


def _rows(a: Array, idx: NDArray[np.intp]) -> Array:
    """a[idx] (host indices) for NumPy arrays and, through ``xp.take``, any other."""
    if type(a) is np.ndarray:
        return a[idx]
    xp = _backend.namespace_of(a)
    return xp.take(a, xp.asarray(idx, dtype=xp.int64, device=_backend.device_of(a)), axis=0)


def evaluate_arrays(
    net: Network, a0: Array, Y: Array, batch_size: int = 4096
) -> tuple[float, float]:
    """Mean cost and accuracy on standardized inputs, in batches, dropout off."""
    total, correct = 0.0, 0
    n = a0.shape[0]
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)  # in bounds: the Array API leaves the rest unspecified
        xb, yb = a0[start:stop, ...], Y[start:stop, ...]
        trace = net.forward(xb)
        total += net.cost(trace, yb) * xb.shape[0]
        if net.loss_fn.classification:
            correct += n_correct(trace.a_L, yb, net.independent_outputs)
    return total / n, correct / n


def fit(
    net: Network,
    X: ArrayLike,
    Y: ArrayLike,
    *,
    epochs: int = 10,
    batch_size: int = 32,
    optimizer: str | Optimizer | None = None,
    shuffle: bool = True,
    validation_data: tuple[ArrayLike, ArrayLike] | None = None,
    validation_split: float = 0.0,
    callbacks: Sequence[Callback] = (),
    sample_weight: ArrayLike | None = None,
    class_weight: str | Mapping[Any, float] | None = None,
    trainer_class: type[Trainer] = Trainer,
    **trainer_options: Any,
) -> History:
    """Train ``net`` on (X, Y) with mini-batch gradient descent (also ``net.fit``).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_in)
    Y : array-like of shape (n_samples, n_out), or (n_samples,) of class labels
    epochs, batch_size : int
    optimizer : str or Optimizer, optional
        Default: the network's previous optimizer (to resume training), else Adam.
    shuffle : bool
        Reshuffle the samples every epoch (with the network's generator).
    validation_data : (X_val, Y_val), optional
    validation_split : float
        Fraction of (X, Y) held out for validation (random, seeded), if no
        ``validation_data`` is given.
    callbacks : sequence of Callback
    sample_weight : array-like of shape (n_samples,), optional
        Non-negative weights s_i (finite, not all zero): every mini-batch's cost is the
        weighted mean C = Σ_i s_i C_i / Σ_i s_i (+ L2) and its gradient
        Σ_i (s_i / Σ s) ∂C_i/∂w, in place of the notes' (1/n) Σ_i; an integer s_i counts
        sample i s_i times. A batch whose weights are all zero takes no step. The
        epoch's ``loss`` is the weighted mean; ``accuracy`` and the validation metrics
        stay unweighted. See :mod:`chainrule.weights`.
    class_weight : "balanced" or mapping, optional
        Classification only (one class per sample): sample i of class c gets weight w_c,
        times its ``sample_weight``. ``"balanced"``: w_c = n_samples / (n_classes · n_c),
        scikit-learn's rule, over the samples given (before ``validation_split``); a
        mapping {class label or class index: w_c} (labels from ``net.classes`` first),
        unnamed classes weight 1.
    trainer_class : type of Trainer
        The loop to run (:class:`chainrule.distributed.DistributedTrainer` for MPI);
        ``trainer_options`` are its extra keyword arguments.

    Returns
    -------
    History
    """
    if trainer_options and trainer_class is Trainer:
        raise ValueError(
            f"fit: unknown keyword {next(iter(trainer_options))!r}; valid keywords are epochs, "
            "batch_size, optimizer, shuffle, validation_data, validation_split, callbacks, "
            "sample_weight, class_weight"
        )
    a0, Yt, validation, opt, s = prepare_fit(
        net,
        X,
        Y,
        optimizer=optimizer,
        validation_data=validation_data,
        validation_split=validation_split,
        sample_weight=sample_weight,
        class_weight=class_weight,
    )
    trainer = trainer_class(
        net, opt, epochs=epochs, batch_size=batch_size, shuffle=shuffle, callbacks=callbacks,
        **trainer_options,
    )
    if s is None:
        return trainer.run(a0, Yt, validation)  # the unweighted loop, exactly as before
    return trainer.run(a0, Yt, validation, sample_weight=s)


def prepare_fit(
    net: Network,
    X: ArrayLike,
    Y: ArrayLike,
    *,
    optimizer: str | Optimizer | None = None,
    validation_data: tuple[ArrayLike, ArrayLike] | None = None,
    validation_split: float = 0.0,
    sample_weight: ArrayLike | None = None,
    class_weight: str | Mapping[Any, float] | None = None,
) -> tuple[Array, Array, tuple[Array, Array] | None, Optimizer, NDArray[np.float64] | None]:
    """The data preparation of :func:`fit`, shared with :func:`chainrule.distributed.fit`.

    Validates and standardizes (X, Y) (a table — DataFrame, dict of columns — is encoded
    by ``net.encoder``; with no ``net.scaler`` yet, one is fitted on the training rows:
    :meth:`~chainrule.table.TableEncoder.standardizer`), checks and combines the sample
    and class weights, holds out the validation split (drawing from ``net.rng``) and picks
    the optimizer (set as ``net.optimizer``).

    Returns
    -------
    a0 : ndarray of shape (n_train, n_in)
    Yt : ndarray of shape (n_train, n_out)
    validation : (a0_val, Y_val) or None
    optimizer : Optimizer
    sample_weight : ndarray of shape (n_train,) or None
        s_i of the training samples; None when neither weight was given.
    """
    # A table with an encoder but no scaler yet: encode it here, hold out validation, then
    # standardize with the training rows' statistics (set as net.scaler, saved with it).
    new_scaler = is_table(X) and net.encoder is not None and net.scaler is None
    if new_scaler and net.encoder is not None:
        X = net.encoder.transform(X, net.dtype)
    a0 = net.inputs(X, "X")
    Yt = net.targets(Y, a0.shape[0], "Y")
    s = weights.combined_weights(net, Yt, sample_weight, class_weight)
    validation = None
    if validation_data is not None:
        if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
            raise ValueError("validation_data: expected a pair (X_val, Y_val)")
    elif validation_split:
        if not (isinstance(validation_split, float) and 0.0 < validation_split < 1.0):
            raise ValueError(
                f"validation_split: expected a number in (0, 1), got {validation_split!r}"
            )
        n_val = int(round(a0.shape[0] * validation_split))
        if n_val < 1 or n_val >= a0.shape[0]:
            raise ValueError(
                f"validation_split: {validation_split} of {a0.shape[0]} samples leaves an empty "
                "training or validation set"
            )
        perm = net.rng.permutation(a0.shape[0])
        val_idx, train_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
        validation = (_rows(a0, val_idx), _rows(Yt, val_idx))
        a0, Yt = _rows(a0, train_idx), _rows(Yt, train_idx)
        if s is not None:
            s = s[train_idx]
            if not np.any(s > 0):
                raise ValueError("sample_weight: every training sample left after "
                                 f"validation_split={validation_split} has weight zero")
    if new_scaler and net.encoder is not None:
        if net.xp is not np:
            raise _backend.BackendError(f"X: tables are encoded and scaled on the numpy "
                                        f"backend only; fit net.encoder and net.scaler first, "
                                        f"or pass arrays (the network is on {net.backend!r})")
        net.scaler = net.encoder.standardizer(a0)
        a0 = net.scaler.transform(a0)
        if validation is not None:
            validation = (net.scaler.transform(validation[0]), validation[1])
    if validation_data is not None:
        Xv = net.inputs(validation_data[0], "validation_data[0]")
        validation = (Xv, net.targets(validation_data[1], Xv.shape[0], "validation_data[1]"))
    if optimizer is None and net.optimizer is not None:
        opt = net.optimizer
    else:
        opt = get_optimizer(optimizer)
    net.optimizer = opt
    return a0, Yt, validation, opt, s
