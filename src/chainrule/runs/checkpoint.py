"""Checkpoints of a training run, and resuming from them.

A run directory (``chainrule train``) gets, while it trains:

* ``checkpoint.safetensors``: the latest model, every ``every`` epochs (and at the
  last one), with its optimizer state and generator state. Its ``training`` metadata
  holds the run's configuration and a ``checkpoint`` entry: epochs done, the history so
  far, the best-so-far value, the early-stopping counters; everything resuming needs.
* ``best.safetensors``: the model of the epoch with the lowest validation loss so far
  (the training loss when there is no validation split and early stopping is on).
* ``history.csv``: rewritten with every checkpoint.

Every file is written with :func:`chainrule.atomic.atomic_write_bytes`, so a kill at
any moment leaves the previous checkpoint, loadable. Resumed training (see
:func:`read_checkpoint`) equals uninterrupted training bit for bit: the weights,
optimizer moments and step count, and the generator state (which shuffles the next
epoch) are restored exactly.

A :class:`Checkpointer` is a plain :class:`~chainrule.training.callbacks.Callback`; a run
(:mod:`chainrule.runs.run`) adds one to its fit.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..io.atomic import atomic_write_bytes
from ..io.container import ModelFileError, check_schema
from ..io.metadata import CHECKPOINT_SCHEMA
from ..io.model import LoadedModel, model_to_bytes, read_model
from ..io.safetext import csv_line
from ..io.schema import short
from ..training.callbacks import Callback, EarlyStopping, History

# The run directory's names and status were defined here in 0.1 (chainrule.checkpoint).
from .rundir import BEST, CHECKPOINT, CONFIG, HISTORY, METRICS, STATUSES, read_status

__all__ = [
    "BEST", "CHECKPOINT", "CONFIG", "HISTORY", "METRICS", "STATUSES", "CheckpointState",
    "Checkpointer", "read_status",
    "ResumableEarlyStopping", "Resumed", "history_csv", "read_checkpoint", "save_model",
]


def save_model(net: Any, path: str | os.PathLike[str], *,
               training: dict[str, Any] | None = None,
               feature_names: list[str] | None = None) -> Path:
    """:func:`chainrule.save`, written with :func:`chainrule.atomic.atomic_write_bytes`
    (stale temporary files swept, the temporary file removed on every exit path)."""
    return atomic_write_bytes(path, model_to_bytes(net, training, feature_names))


def history_csv(epochs: Sequence[int], history: dict[str, list[float]]) -> bytes:
    """``epoch,loss,…`` with every number as ``repr`` (it reads back exactly); a metric
    name read from a checkpoint is text from a file, escaped if a spreadsheet would run it
    (:func:`chainrule.io.safetext.csv_field`)."""
    keys = list(history)
    lines = [csv_line(["epoch", *keys])]
    lines += [csv_line([epoch, *(history[k][i] for k in keys)]) for i, epoch in enumerate(epochs)]
    return "".join(lines).encode("utf-8")


@dataclass
class CheckpointState:
    """What a checkpoint records besides the model: stored as JSON in its metadata."""

    epoch: int = 0  #: epochs done
    epochs: int = 0  #: epochs the run was configured for
    history_epochs: list[int] = field(default_factory=list)
    history: dict[str, list[float]] = field(default_factory=dict)
    #: The best-so-far of ``best_monitor``: its value and epoch (None before any epoch).
    best_monitor: str | None = None
    best_value: float | None = None
    best_epoch: int | None = None
    #: EarlyStopping's counters (its internal score ``best``, ``best_epoch``, ``wait``).
    early_stopping: dict[str, Any] | None = None
    stopped: bool = False  #: early stopping ended the run at ``epoch``
    train_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, value: Any, source: str) -> CheckpointState:
        """The state a checkpoint file (``source``) holds under ``training.checkpoint``.

        Untrusted: every field is checked against
        :data:`chainrule.io.metadata.CHECKPOINT_SCHEMA` (types and bounds), then what the
        fields must say of each other, before anything resumes from it.

        Raises
        ------
        ModelFileError
            Naming ``source`` and the key path (``training.checkpoint.best_value``).
        """
        if not isinstance(value, dict):
            raise ModelFileError(source, "no checkpoint entry in the training metadata; not "
                                 "a checkpoint written by chainrule train", "training")
        root: tuple[str, ...] = ("training", "checkpoint")
        check_schema(CHECKPOINT_SCHEMA, value, source, root)
        state = cls(**value)
        _check_consistent(state, source)
        return state
    def to_history(self) -> History:
        h = History()
        h.epoch = list(self.history_epochs)
        h.history = {k: list(v) for k, v in self.history.items()}
        return h


def _check_consistent(state: CheckpointState, source: str) -> None:
    """What a checkpoint's fields must say of each other (their types are checked)."""
    def refuse(key: str, reason: str) -> None:
        raise ModelFileError(source, reason, f"training.checkpoint.{key}")

    if state.epoch > state.epochs:
        refuse("epoch", f"epoch {state.epoch} is past the run's {state.epochs} epochs")
    if state.history_epochs != list(range(1, state.epoch + 1)):
        refuse("history_epochs", f"expected the epochs 1 … {state.epoch}, got "
               f"{short(state.history_epochs)}")
    for key, values in state.history.items():
        if len(values) != state.epoch:
            refuse(f"history.{key}", f"{len(values)} values for {state.epoch} epochs")
    if state.best_epoch is not None and state.best_epoch > state.epoch:
        refuse("best_epoch", f"epoch {state.best_epoch} is past the {state.epoch} done")
    if (state.best_epoch is None) != (state.best_value is None):
        refuse("best_value", "best_value and best_epoch must be given together")
    es = state.early_stopping
    if es is not None and (es["best_epoch"] > state.epoch or es["wait"] > state.epoch):
        refuse("early_stopping", f"counters {short(es)} are past the {state.epoch} epochs done")


class ResumableEarlyStopping(EarlyStopping):
    """:class:`EarlyStopping` that starts from a checkpoint's counters and best weights
    instead of from scratch."""

    def __init__(self, monitor: str, patience: int, *, min_delta: float = 0.0,
                 restore_best_weights: bool = True, state: dict[str, Any] | None = None,
                 best_params: np.ndarray | None = None) -> None:
        super().__init__(monitor, patience=patience, min_delta=min_delta,
                         restore_best_weights=restore_best_weights)
        self._resume_state, self._resume_params = state, best_params

    def on_train_begin(self, trainer: Any) -> None:
        super().on_train_begin(trainer)
        if self._resume_state is not None:
            s = self._resume_state
            self.best = math.inf if s.get("best") is None else float(s["best"])
            self.best_epoch, self.wait = int(s["best_epoch"]), int(s["wait"])
            self._best_params = self._resume_params

    def state(self) -> dict[str, Any]:
        return {"best": self.best if math.isfinite(self.best) else None,
                "best_epoch": self.best_epoch, "wait": self.wait}


class Checkpointer(Callback):
    """Write ``checkpoint.safetensors`` every ``every`` epochs (and at the last one, and
    when early stopping ends the run) and ``best.safetensors`` when ``monitor``
    improves, into ``run_dir``, atomically.

    A resumed run's fit numbers its epochs from the run's start (``start_epoch``), so
    ``trainer.epoch`` and ``trainer.epochs`` are the run's. ``training(state)`` is the
    ``training`` metadata of each file (the run's configuration and summary; the state is
    added under ``checkpoint``). The epochs between two checkpoints are kept in memory:
    :meth:`flush` writes the last one (a run calls it on Ctrl-C).
    """

    def __init__(self, run_dir: str | os.PathLike[str], *, every: int = 1,
                 state: CheckpointState, monitor: str | None = None,
                 early_stopping: ResumableEarlyStopping | None = None,
                 training: Callable[[CheckpointState], dict[str, Any]] | None = None,
                 feature_names: list[str] | None = None,
                 seconds: Callable[[], float] | None = None) -> None:
        if every < 1:
            raise ValueError(f"every: expected a positive integer, got {every!r}")
        self.run_dir, self.every, self.state = Path(run_dir), every, state
        self.monitor = monitor
        self.state.best_monitor = monitor
        self.early_stopping = early_stopping
        self._training = training or (lambda s: {})
        self.feature_names = feature_names
        self._seconds = seconds or (lambda: 0.0)
        self._pending: tuple[bytes, bytes] | None = None
        self.saved_epoch = state.epoch  #: the epoch of the checkpoint on disk

    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / CHECKPOINT

    @property
    def best_path(self) -> Path:
        return self.run_dir / BEST

    def _model_bytes(self, net: Any) -> bytes:
        training = {**self._training(self.state), "checkpoint": self.state.to_json()}
        return model_to_bytes(net, training, self.feature_names)

    def on_epoch_end(self, trainer: Any, logs: dict[str, float]) -> None:
        s = self.state
        s.epoch = int(trainer.epoch)
        s.epochs = int(trainer.epochs)
        s.history_epochs.append(s.epoch)
        for key, value in logs.items():
            s.history.setdefault(key, []).append(float(value))
        s.train_seconds = float(self._seconds())
        improved = False
        if self.monitor is not None and self.monitor in logs:
            value = float(logs[self.monitor])
            if s.best_value is None or value < s.best_value:
                s.best_value, s.best_epoch, improved = value, s.epoch, True
        if self.early_stopping is not None:
            s.early_stopping = self.early_stopping.state()
        s.stopped = bool(trainer.stop_training)
        data = self._model_bytes(trainer.net)
        history = history_csv(s.history_epochs, s.history)
        # With early stopping, resuming needs the best weights of the epochs up to the
        # checkpoint: the checkpoint is written with every new best.
        due = (s.epoch % self.every == 0 or s.epoch >= s.epochs or s.stopped
               or (improved and self.early_stopping is not None))
        self._pending = (data, history)
        if due:
            self.flush()
        if improved:
            atomic_write_bytes(self.best_path, data)

    def flush(self) -> bool:
        """Write the last epoch's checkpoint if it is not on disk yet; True if written."""
        if self._pending is None:
            return False
        data, history = self._pending
        atomic_write_bytes(self.checkpoint_path, data)
        atomic_write_bytes(self.run_dir / HISTORY, history)
        self._pending = None
        self.saved_epoch = self.state.epoch
        return True


@dataclass
class Resumed:
    """A checkpoint read back: the network (weights, optimizer, generator state), the
    run's configuration and the checkpoint state; ``best_params`` are the early-stopping
    best weights up to the checkpoint (None without early stopping)."""

    net: Any
    config: dict[str, Any]
    state: CheckpointState
    loaded: LoadedModel
    best_params: np.ndarray | None


def read_checkpoint(run_dir: str | os.PathLike[str], name: str = CHECKPOINT) -> Resumed:
    """The checkpoint of ``run_dir`` (``ValueError``/``ModelFileError`` naming the file if
    it is not one; ``FileNotFoundError`` if there is none). ``name`` may also be
    :data:`BEST` (whose ``best_params`` are then left out)."""
    run_dir = Path(run_dir)
    path = run_dir / name
    if not path.is_file():
        raise FileNotFoundError(str(path))
    loaded = read_model(path)
    training = loaded.training
    config = training.get("config")
    if not isinstance(config, dict):
        raise ValueError(f"{path}: no run configuration in the training metadata; not a "
                         "checkpoint written by chainrule train")
    state = CheckpointState.from_json(training.get("checkpoint"), str(path))
    best_params = None
    es = state.early_stopping
    if name == CHECKPOINT and es is not None and es.get("best_epoch", -1) >= 1:
        if es["best_epoch"] == state.epoch:
            best_params = loaded.net.params.copy()
        else:
            if not (run_dir / BEST).is_file():  # not "no checkpoint": that would start over
                raise ModelFileError(str(run_dir / BEST), "missing, but the checkpoint's "
                                     f"early stopping needs its best weights (epoch "
                                     f"{es['best_epoch']})")
            best = read_model(run_dir / BEST)
            best_state = CheckpointState.from_json(best.training.get("checkpoint"),
                                                   str(run_dir / BEST))
            if best_state.epoch != es["best_epoch"] or best.net.params.shape != \
                    loaded.net.params.shape:
                raise ValueError(f"{run_dir / BEST}: holds epoch {best_state.epoch}, but the "
                                 f"checkpoint's best epoch is {es['best_epoch']}; cannot "
                                 "resume early stopping")
            best_params = best.net.params.copy()
    return Resumed(loaded.net, dict(config), state, loaded, best_params)

