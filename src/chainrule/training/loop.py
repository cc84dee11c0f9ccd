"""The training loop: steps over the mini-batches of every epoch, with callbacks.

One step (:class:`~chainrule.training.step.Step`) is the notes' procedure for one batch;
:class:`Trainer` runs steps over epochs, shuffling with the network's generator, calls the
callbacks, evaluates the validation data, and after a divergence puts back the last
finite weights (:mod:`.replay`). Where a compiled step applies, the full batches between
two batches a callback watches run as one compiled call, bit for bit the same steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from .batches import Batches
from .callbacks import Callback, History, check_callbacks
from .divergence import DivergenceError, LossGuard, finite, pair_advice
from .metrics import evaluate_arrays, n_correct, n_correct_array
from .optimizers import Optimizer
from .replay import Snapshot, last_finite
from .step import Step

if TYPE_CHECKING:
    from ..engine.network import Network
    from ..engine.workspace import Workspaces
    from .compiled import CompiledStep
    from .fitting import fit, prepare_fit  # found by __getattr__ below at run time

Array = NDArray[np.floating]

__all__ = ["Trainer", "evaluate_arrays", "fit", "n_correct", "n_correct_array", "positive_int",
           "prepare_fit"]


def positive_int(name: str, value: object, allow_zero: bool = False) -> int:
    """``value`` as an int ≥ 1 (≥ 0 with ``allow_zero``); the message names ``name``."""
    lo = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo:
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name}: expected a {kind} integer, got {value!r}")
    return int(value)


class Trainer:
    """State of one ``fit`` call, visible to callbacks.

    Parameters
    ----------
    net, optimizer : Network, Optimizer
    epochs : int
        The number of the last epoch.
    batch_size : int
    shuffle : bool
        Reshuffle the samples every epoch (with the network's generator).
    callbacks : sequence of Callback
    start_epoch : int
        Epochs already done (a resumed run): this trains epochs ``start_epoch + 1`` …
        ``epochs``, and callbacks see those numbers.
    step : Step, optional
        The step to run (another objective, a data-parallel reducer); default
        ``Step(net, optimizer)``.

    Attributes
    ----------
    net, optimizer, epochs, batch_size, shuffle, start_epoch, step
    epoch : int
        Current epoch, counted from 1 (from ``start_epoch + 1`` in a resumed run).
    n_batches : int
        Batches per epoch.
    stop_training : bool
        Set by a callback to end training after the current epoch.
    data : (a0, Y)
        The training inputs (standardized, (n, n_in)) and targets (n, n_out) of the run.
    sample_weight : ndarray of shape (n,) or None
        The run's per-sample weights s_i (class weights folded in); None: unweighted.
    validation : (a0_val, Y_val) or None
    """

    def __init__(self, net: Network, optimizer: Optimizer, *, epochs: int, batch_size: int,
                 shuffle: bool = True, callbacks: Sequence[Callback] = (),
                 start_epoch: int = 0, step: Step | None = None) -> None:
        self.net, self.optimizer = net, optimizer
        self.start_epoch = positive_int("start_epoch", start_epoch, allow_zero=True)
        self.epochs = positive_int("epochs", epochs, allow_zero=True)
        if self.epochs < self.start_epoch:
            raise ValueError(f"epochs: expected at least start_epoch ({start_epoch}), the "
                             f"number of the last epoch, got {epochs!r}")
        self.batch_size = positive_int("batch_size", batch_size)
        self.shuffle = bool(shuffle)
        self.history = History()
        self.callbacks: list[Callback] = [self.history, *check_callbacks(callbacks)]
        if step is not None and (step.net is not net or step.optimizer is not optimizer):
            raise ValueError("step: expected a Step of this trainer's net and optimizer")
        self.step = Step(net, optimizer) if step is None else step
        self.epoch = self.start_epoch
        self.n_batches = 0
        self.stop_training = False
        self.data: tuple[Array, Array] | None = None
        self.sample_weight: NDArray[np.float64] | None = None
        self.validation: tuple[Array, Array] | None = None

    # -- the step's parts, as the trainer's (read-only) --------------------------------
    @property
    def workspaces(self) -> Workspaces:
        return self.step.workspaces  # the step's preallocated arrays

    @property
    def compiled(self) -> CompiledStep | None:
        return self.step.compiled  # the step's compiled form, or None

    def train_step(self, xb: Array, yb: Array, batch: int, sb: Array | None = None
                   ) -> tuple[float, int, int]:
        """:class:`Step` on one batch of the current epoch: (loss sum, n, correct)."""
        return self.step(xb, yb, sb, epoch=self.epoch, batch=batch)

    # -- the loop --------------------------------------------------------------------------
    def run(self, a0: Array, Y: Array, validation: tuple[Array, Array] | None = None,
            sample_weight: NDArray[np.float64] | None = None) -> History:
        """Train on standardized inputs a0 (n, n_in) and targets Y (n, n_out), with
        per-sample weights (n,) if given (checked: :func:`chainrule.weights.check_sample_weight`).

        The epoch's ``loss`` is then the weighted mean Σ s_i C_i / Σ s_i (the step's
        objective says what each batch weighs); ``accuracy`` and the validation metrics
        stay unweighted.
        """
        if sample_weight is not None:
            self.step.check_weights()
        net, step = self.net, self.step
        self.data, self.validation, self.sample_weight = (a0, Y), validation, sample_weight
        self._batches = Batches(a0, Y, self.batch_size, sample_weight)
        self.n_batches = self._batches.n_batches
        step.planned_steps = (self.epochs - self.start_epoch) * self.n_batches
        xp = net.xp
        classification = net.loss_fn.classification
        step.guard = LossGuard(0.0 if classification or not Y.shape[0] else
                               float(xp.max(xp.abs(Y))),
                               pair=pair_advice(net.loss_fn, net.output_activation))
        # Overflow and NaN in a step end training with a DivergenceError that names the epoch
        # and batch; NumPy's RuntimeWarnings on the way would only say it first, less clearly.
        with np.errstate(over="ignore", invalid="ignore"):
            for cb in self.callbacks:
                cb.on_train_begin(self)
            try:
                for epoch in range(self.start_epoch + 1, self.epochs + 1):
                    self.epoch = epoch
                    self._epoch(validation)
                    if self.stop_training:
                        break
            finally:
                for cb in self.callbacks:
                    cb.on_train_end(self)
        return self.history

    def _epoch(self, validation: tuple[Array, Array] | None) -> None:
        net, batches = self.net, self._batches
        start_of_epoch = Snapshot(self.step)
        for cb in self.callbacks:
            cb.on_epoch_begin(self)
        order = batches.order(net.rng.permutation(batches.n)) if self.shuffle else None
        try:
            total_loss, total_n, correct, total_weight = self._batches_of_epoch(order)
        except DivergenceError as exc:
            if exc.update_applied:
                last_finite(start_of_epoch, batches, shuffle=self.shuffle, epoch=self.epoch,
                            failed_batch=exc.batch, before_failed=True)
            elif not finite(net.params):
                last_finite(start_of_epoch, batches, shuffle=self.shuffle, epoch=self.epoch,
                            failed_batch=exc.batch)
            raise
        logs = {"loss": _mean(total_loss, total_weight)}
        if net.loss_fn.classification:
            logs["accuracy"] = correct / max(total_n, 1)
        if validation is not None:
            val_loss, val_acc = evaluate_arrays(net, *validation)
            logs["val_loss"] = val_loss
            if net.loss_fn.classification:
                logs["val_accuracy"] = val_acc
        logs["lr"] = self.optimizer.lr
        for cb in self.callbacks:
            cb.on_epoch_end(self, logs)

    def _batches_of_epoch(self, order: Any) -> tuple[float, int, int, float]:
        """Step through the epoch's batches: (Σ loss sums, Σ n, Σ correct, Σ batch
        weights); a batch's weight is its sample count, or what the step's objective
        says when weighted."""
        step, batches, objective = self.step, self._batches, self.step.objective
        # Callbacks with an on_batch_end: they say which batches they must see as they
        # happen (Callback.watches); a compiled run ends at such a batch.
        watchers = [cb for cb in self.callbacks if cb.sees_batches()]
        total_loss, total_n, correct, total_weight = 0.0, 0, 0, 0.0
        batch = 0
        while batch < self.n_batches:
            batch += 1
            run = self._compiled_run(batch, order, watchers)
            if run is not None:  # full batches batch, batch + 1, … in one call
                for k, (loss_sum, n_right) in enumerate(run):
                    correct += n_right
                    total_loss += loss_sum
                    total_n += self.batch_size
                    total_weight += self.batch_size
                    for cb in watchers:  # as each would have seen it
                        cb.on_batch_end(self, batch + k, _mean(total_loss, total_weight))
                batch += len(run) - 1
                continue
            xb, yb, sb = batches.get(batch, order)
            loss_sum, m_global, n_right = step(xb, yb, sb, epoch=self.epoch, batch=batch)
            if batch == self.n_batches and not finite(self.net.params):
                raise step.guard.error(self.epoch, batch, "a weight")
            correct += n_right
            total_loss += loss_sum
            total_n += m_global
            total_weight += m_global if sb is None else objective.batch_weight(m_global, sb)
            for cb in self.callbacks:
                cb.on_batch_end(self, batch, _mean(total_loss, total_weight))
        return total_loss, total_n, correct, total_weight

    def _compiled_run(self, batch: int, order: Any, watchers: list[Callback]
                      ) -> list[tuple[float, int]] | None:
        """The full batches from ``batch`` (counted from 1) to the epoch's last full one —
        or to the first one a callback ``watches`` — in one compiled call
        (:meth:`Step.run_batches`), as (loss sum, correct) per batch; None where the step
        takes this batch alone: no compiled step, sample weights, the fit's first batch
        (the loss guard's reference) or the last, partial one."""
        step, batches = self.step, self._batches
        full = batches.n_full
        if (not step.runs_batches or self.sample_weight is not None or batch > full
                or not batches.on_numpy):
            return None
        count = full - batch + 1
        if watchers:  # up to and including the first batch a callback watches
            watched = next((ahead for ahead in range(1, count + 1)
                            if any(cb.watches(self, ahead) for cb in watchers)), None)
            if watched == 1:
                return None  # watched now: the step takes it
            count = watched or count
        run = step.run_batches(batches, order, batch, count, epoch=self.epoch)
        last = batch + len(run) - 1
        if last == self.n_batches and not finite(self.net.params):
            raise step.guard.error(self.epoch, last, "a weight")
        return run


def _mean(total_loss: float, total_weight: float) -> float:
    """The running cost: Σ C_i / n, or Σ s_i C_i / Σ s_i when weighted."""
    return total_loss / total_weight if total_weight > 0 else 0.0


def __getattr__(name: str) -> Any:
    """``fit`` and ``prepare_fit`` moved to :mod:`.fitting`; the old import path
    (``from chainrule.training.loop import fit``) finds them there, lazily, because
    :mod:`.fitting` imports this module."""
    if name in ("fit", "prepare_fit"):
        from . import fitting

        return getattr(fitting, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
