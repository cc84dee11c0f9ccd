"""Callbacks observe training; they never own the loop.

A callback may set ``trainer.stop_training = True``; the loop in
:mod:`chainrule.training` decides everything else. Hooks receive the
:class:`~chainrule.training.Trainer` (network, optimizer, epoch, batch) and a
``logs`` dict of the epoch's metrics.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from .divergence import DivergenceError

if TYPE_CHECKING:
    from .loop import Trainer

__all__ = ["Callback", "DivergenceError", "EarlyStopping", "History", "LambdaCallback",
           "ProgressHook"]


class Callback:
    """Base class with no-op hooks."""

    def on_train_begin(self, trainer: Trainer) -> None: ...
    def on_epoch_begin(self, trainer: Trainer) -> None: ...
    def on_batch_end(self, trainer: Trainer, batch: int, loss: float) -> None: ...
    def on_epoch_end(self, trainer: Trainer, logs: dict[str, float]) -> None: ...
    def on_train_end(self, trainer: Trainer) -> None: ...

    def watches(self, trainer: Trainer, ahead: int) -> bool:
        """Whether :meth:`on_batch_end` must run right after the batch ``ahead`` batches
        from now (1: the next one), seeing the trainer as it is then (weights,
        gradients), and before the batch after it.

        False lets the trainer run that batch inside a longer compiled run and call
        :meth:`on_batch_end` for it afterwards, with its own batch number and running
        loss — right for a callback that only reports those. Default: True for any
        callback that overrides :meth:`on_batch_end`."""
        return self.sees_batches()

    def sees_batches(self) -> bool:
        """Whether :meth:`on_batch_end` does anything: True for any callback that
        overrides it (the loop then calls it and asks :meth:`watches`).

        The one place that looks at which method a subclass overrode: a user's callback
        that only defines ``on_batch_end`` must be called after every batch, as it always
        was, without declaring anything else.
        """
        return type(self).on_batch_end is not Callback.on_batch_end


class History(Callback):
    """Per-epoch metrics: ``history["loss"]``, ``history["val_accuracy"]``, … and ``epoch``."""

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, trainer: Trainer, logs: dict[str, float]) -> None:
        self.epoch.append(trainer.epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))

    def __getitem__(self, key: str) -> list[float]:
        return self.history[key]

    def __contains__(self, key: object) -> bool:
        return key in self.history

    def keys(self) -> list[str]:
        return list(self.history)

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epoch)}, keys={self.keys()})"


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    With ``restore_best_weights`` the network ends with the parameters of the best epoch.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 5,
        min_delta: float = 0.0,
        mode: str = "auto",
        restore_best_weights: bool = True,
    ) -> None:
        if not isinstance(patience, int) or patience < 0:
            raise ValueError(f"patience: expected a non-negative integer, got {patience!r}")
        if not (isinstance(min_delta, (int, float)) and min_delta >= 0):
            raise ValueError(f"min_delta: expected a non-negative number, got {min_delta!r}")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode: expected 'auto', 'min' or 'max', got {mode!r}")
        self.monitor, self.patience, self.min_delta = monitor, patience, float(min_delta)
        self.mode = mode if mode != "auto" else ("max" if "acc" in monitor else "min")
        self.restore_best_weights = restore_best_weights
        self.best: float = math.inf
        self.best_epoch = -1
        self.wait = 0
        self.stopped_epoch: int | None = None
        self._best_params: np.ndarray | None = None

    def on_train_begin(self, trainer: Trainer) -> None:
        self.best, self.best_epoch, self.wait, self.stopped_epoch = math.inf, -1, 0, None
        self._best_params = None

    def on_epoch_end(self, trainer: Trainer, logs: dict[str, float]) -> None:
        if self.monitor not in logs:
            raise ValueError(
                f"EarlyStopping: monitor {self.monitor!r} is not among the logged metrics "
                f"({', '.join(sorted(logs))})"
            )
        score = logs[self.monitor] if self.mode == "min" else -logs[self.monitor]
        if score < self.best - self.min_delta:
            self.best, self.best_epoch, self.wait = score, trainer.epoch, 0
            if self.restore_best_weights:
                self._best_params = trainer.net.params.copy()
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stopped_epoch = trainer.epoch
                trainer.stop_training = True

    def on_train_end(self, trainer: Trainer) -> None:
        if self.restore_best_weights and self._best_params is not None:
            trainer.net.params[...] = self._best_params

    @property
    def best_value(self) -> float:
        return self.best if self.mode == "min" else -self.best


class LambdaCallback(Callback):
    """A callback from plain functions, e.g. ``LambdaCallback(on_epoch_end=print_logs)``."""

    def __init__(
        self,
        on_epoch_end: Callable[[Trainer, dict[str, float]], Any] | None = None,
        on_batch_end: Callable[[Trainer, int, float], Any] | None = None,
    ) -> None:
        self._epoch_end, self._batch_end = on_epoch_end, on_batch_end

    def on_epoch_end(self, trainer: Trainer, logs: dict[str, float]) -> None:
        if self._epoch_end is not None:
            self._epoch_end(trainer, logs)

    def on_batch_end(self, trainer: Trainer, batch: int, loss: float) -> None:
        if self._batch_end is not None:
            self._batch_end(trainer, batch, loss)


class ProgressHook(Callback):
    """The hook the CLI's progress bar uses: called with (epoch, epochs, batch, n_batches,
    running loss) after every batch and with (epoch, logs) after every epoch."""

    def __init__(
        self,
        on_batch: Callable[[int, int, int, int, float], Any] | None = None,
        on_epoch: Callable[[int, dict[str, float]], Any] | None = None,
    ) -> None:
        self.on_batch, self.on_epoch = on_batch, on_epoch

    def on_batch_end(self, trainer: Trainer, batch: int, loss: float) -> None:
        if self.on_batch is not None:
            self.on_batch(trainer.epoch, trainer.epochs, batch, trainer.n_batches, loss)

    def watches(self, trainer: Trainer, ahead: int) -> bool:
        return False  # it reports the batch number and running loss only

    def on_epoch_end(self, trainer: Trainer, logs: dict[str, float]) -> None:
        if self.on_epoch is not None:
            self.on_epoch(trainer.epoch, logs)


def check_callbacks(callbacks: object) -> list[Callback]:
    """``callbacks`` as a list, each checked to be a :class:`Callback` (one line naming the
    one that is not)."""
    if isinstance(callbacks, (str, bytes)) or not isinstance(callbacks, Iterable):
        raise ValueError(f"callbacks: expected a list of Callback, got {callbacks!r}")
    checked = list(callbacks)
    for i, cb in enumerate(checked):
        if not isinstance(cb, Callback):
            raise ValueError(f"callbacks[{i}]: expected a Callback, got {cb!r}")
    return checked
