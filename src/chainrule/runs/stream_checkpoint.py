"""Checkpoints of a streamed run (issue 31): the stream position, so ``--resume``
continues bit for bit.

A streamed run (``chainrule train --csv F --target T --stream``) writes
``checkpoint.safetensors`` into its run directory at the end of every ``every`` epochs
and, inside an epoch, every ``batches`` batches and every ``seconds`` seconds
(:class:`StreamCheckpointer`). The file is an ordinary model file (safetensors + JSON
header, never pickle) holding everything the next batch depends on:

* the network: every layer's w and b, the table encoder fitted by pass 1 and the
  scaler fitted by pass 2, the optimizer's moments and step count t, the generator state;
* in its ``training`` metadata, the run's configuration (``config``) and a ``stream``
  entry (:class:`StreamState`): the position (epoch, batch) — the next batch to train is
  batch ``batch + 1`` of epoch ``epoch`` — the stream's constants (batch size, shuffle
  buffer, CSV chunk size), the table's fingerprint (size and SHA-256,
  :mod:`chainrule.datasets.fingerprint`), the history of the finished epochs.

An epoch's batches are a function of (seed, epoch) alone
(:func:`chainrule.training.stream.batches`), so there is no shuffling state to save: a
resumed run regenerates the batches of the interrupted epoch, discards the first
``batch``, and goes on with the restored network; it ends with every weight equal, bit
for bit, to an uninterrupted run's. Every write is atomic
(:func:`chainrule.io.atomic.atomic_write_bytes`): a kill at any moment leaves the
previous checkpoint whole.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .._version import __version__
from ..datasets.fingerprint import changed
from ..io.atomic import atomic_write_bytes
from ..io.container import ModelFileError
from ..io.model import model_to_bytes, read_model
from ..io.schema import short
from .errors import RunError
from .rundir import CHECKPOINT, CONFIG, read_status

#: The key of the stream state in a checkpoint's ``training`` metadata.
STREAM = "stream"


@dataclass
class StreamState:
    """Where a streamed run is, and what it must find again to go on exactly.

    The position: ``batch`` batches of epoch ``epoch`` (from 1) are trained; after the
    last epoch, ``epoch == epochs + 1`` and ``batch == 0`` (the run is complete).
    """

    epoch: int = 1
    batch: int = 0
    epochs: int = 1
    batch_size: int = 256
    buffer_rows: int = 65_536
    chunk_bytes: int = 0
    #: The table's :func:`~chainrule.datasets.fingerprint.fingerprint`.
    table: dict[str, Any] = field(default_factory=dict)
    #: One row per finished epoch (``epoch``, ``loss``, ``rows``, ``val_…``, ``rows_per_s``).
    history: list[dict[str, float]] = field(default_factory=list)
    #: Seconds spent training (all processes that trained this run).
    train_seconds: float = 0.0
    chainrule_version: str = __version__

    @property
    def complete(self) -> bool:
        return self.epoch > self.epochs

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, value: Any, source: str) -> StreamState:
        """The state a checkpoint file (``source``) holds under ``training.stream``,
        checked field by field (it is read from a file: untrusted).

        Raises
        ------
        ModelFileError
            Naming ``source`` and the key (``training.stream.batch``).
        """
        if not isinstance(value, dict):
            raise ModelFileError(source, "no stream entry in the training metadata; not a "
                                 "checkpoint of a streamed run", "training")
        unknown = sorted(set(value) - set(cls.__dataclass_fields__))
        if unknown:
            raise ModelFileError(source, f"unknown key(s) {', '.join(unknown)}",
                                 f"training.{STREAM}")

        def refuse(key: str, reason: str) -> None:
            raise ModelFileError(source, reason, f"training.{STREAM}.{key}")

        lows = {"epoch": 1, "batch": 0, "epochs": 1, "batch_size": 1, "buffer_rows": 1,
                "chunk_bytes": 0}
        for key, low in lows.items():
            v = value.get(key)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                refuse(key, f"expected an integer ≥ {low}, got {short(v)}")
        state = cls(**value)
        if state.epoch > state.epochs + 1 or (state.complete and state.batch):
            refuse("epoch", f"position (epoch {state.epoch}, batch {state.batch}) is past the "
                   f"run's {state.epochs} epochs")
        if not (isinstance(state.table, dict) and isinstance(state.table.get("path"), str)
                and isinstance(state.table.get("size"), int)
                and isinstance(state.table.get("sha256"), str)):
            refuse("table", f"expected the table's path, size and sha256, got "
                   f"{short(state.table)}")
        if (not isinstance(state.history, list) or len(state.history) != state.epoch - 1
                or not all(isinstance(r, dict) for r in state.history)):
            refuse("history", f"expected one row per finished epoch ({state.epoch - 1}), got "
                   f"{short(state.history)}")
        if not isinstance(state.train_seconds, (int, float)) or state.train_seconds < 0:
            refuse("train_seconds", f"expected seconds ≥ 0, got {short(state.train_seconds)}")
        if not isinstance(state.chainrule_version, str):
            refuse("chainrule_version", f"expected a version, got "
                   f"{short(state.chainrule_version)}")
        return state


def is_streamed(run_dir: str | os.PathLike[str]) -> bool:
    """Whether ``run_dir`` holds a streamed run (its metrics.json says ``"streamed"``)."""
    return (read_status(run_dir) or {}).get("streamed") is True


def write_stream_checkpoint(run_dir: str | os.PathLike[str], net: Any,
                            config: dict[str, Any], state: StreamState) -> Path:
    """Write ``checkpoint.safetensors`` of a streamed run, atomically: ``net`` (weights,
    encoder, scaler, optimizer, generator), the run's ``config`` and ``state``."""
    data = model_to_bytes(net, {"config": config, STREAM: state.to_json()})
    return atomic_write_bytes(Path(run_dir) / CHECKPOINT, data)


def read_stream_checkpoint(run_dir: str | os.PathLike[str]
                           ) -> tuple[Any, dict[str, Any], StreamState]:
    """The network, configuration and state of a streamed run's checkpoint, each checked
    against what this process would stream: the same table (its fingerprint), the same
    chainrule version, and a ``config.json`` beside it that says the same.

    Raises
    ------
    RunError
        One line naming ``--resume DIR``, the file and what differs.
    FileNotFoundError
        No checkpoint yet (the run stopped before its first one).
    """
    path = Path(run_dir)
    where = f"--resume {path}"
    file = path / CHECKPOINT
    if file.is_symlink() or (file.exists() and not file.is_file()):
        raise RunError(f"{where}: {file} is not a regular file; not a run directory "
                       "chainrule can resume")
    if not file.exists():
        raise FileNotFoundError(str(file))
    try:
        loaded = read_model(file)
        config = loaded.training.get("config")
        if not isinstance(config, dict):
            raise ModelFileError(str(file), "no run configuration", "training.config")
        state = StreamState.from_json(loaded.training.get(STREAM), str(file))
    except ValueError as exc:  # ModelFileError included
        raise RunError(f"{where}: {exc}") from None
    if state.complete:
        raise RunError(f"{where}: the run is complete ({state.epochs} epochs); its model is "
                       f"{path / 'model.safetensors'}")
    if state.chainrule_version != __version__:
        raise RunError(f"{where}: the checkpoint was written by chainrule "
                       f"{state.chainrule_version}, this is {__version__}; a streamed run "
                       "resumes bit for bit only with the version that started it")
    reason = changed(state.table)
    if reason is not None:
        raise RunError(f"{where}: the table {state.table['path']} {reason}; a streamed run "
                       "resumes only on the file it started on (start a new run to train on "
                       "this one)")
    _check_config_file(path, config)
    return loaded.net, config, state


def _check_config_file(path: Path, config: dict[str, Any]) -> None:
    """``config.json`` beside the checkpoint must hold the checkpoint's settings: one
    edited after the run started is refused, naming the first setting that differs."""
    try:
        saved = json.loads((path / CONFIG).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return
    except (OSError, ValueError) as exc:
        raise RunError(f"--resume {path}: {path / CONFIG} cannot be read ({exc})") from None
    if not isinstance(saved, dict):
        raise RunError(f"--resume {path}: {path / CONFIG}: expected a JSON object")
    for key in sorted(set(saved) | set(config)):
        if saved.get(key) != config.get(key):
            raise RunError(f"--resume {path}: {path / CONFIG} says {key} = "
                           f"{short(saved.get(key))}, but the run was started with "
                           f"{short(config.get(key))}; a resumed run keeps its settings "
                           "(start a new run to change them)")


class StreamCheckpointer:
    """Write a streamed run's checkpoint when due: after every ``every``-th epoch and the
    last one (:meth:`after_epoch`), and inside an epoch (:meth:`after_batch`) every
    ``batches`` batches and every ``seconds`` seconds (None: never).

    ``state`` is kept up to date with every batch; ``saved`` is the position of the
    checkpoint on disk (None before the first). ``run_dir`` None: keep the state, write
    nothing (an MPI rank other than 0).
    """

    def __init__(self, run_dir: str | os.PathLike[str] | None, net: Any, config: dict[str, Any],
                 state: StreamState, *, every: int = 1, batches: int | None = None,
                 seconds: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        for name, value in (("every", every), ("batches", batches), ("seconds", seconds)):
            if value is not None and (isinstance(value, bool) or value <= 0):
                raise ValueError(f"{name}: expected a positive number, got {value!r}")
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.net, self.config, self.state = net, config, state
        self.every, self.batches, self.seconds, self._clock = every, batches, seconds, clock
        self._last = clock()
        self.saved: tuple[int, int] | None = None

    def write(self) -> None:
        if self.run_dir is not None:
            write_stream_checkpoint(self.run_dir, self.net, self.config, self.state)
        self.saved = (self.state.epoch, self.state.batch)
        self._last = self._clock()

    def after_batch(self, epoch: int, batch: int, seconds: float) -> bool:
        """Batch ``batch`` of ``epoch`` is trained (``seconds``: the run's training time
        so far); write a checkpoint if one is due. True if written."""
        self.state.epoch, self.state.batch, self.state.train_seconds = epoch, batch, seconds
        due = ((self.batches is not None and batch % self.batches == 0)
               or (self.seconds is not None and self._clock() - self._last >= self.seconds))
        if due:
            self.write()
        return due

    def after_epoch(self, row: dict[str, float], seconds: float) -> bool:
        """Epoch ``row["epoch"]`` is finished (its history row, validation included); the
        position moves to the next epoch's start. True if a checkpoint was written."""
        epoch = int(row["epoch"])
        self.state.history.append(row)
        self.state.epoch, self.state.batch, self.state.train_seconds = epoch + 1, 0, seconds
        due = epoch % self.every == 0 or epoch >= self.state.epochs
        if due:
            self.write()
        return due


__all__ = ["STREAM", "StreamCheckpointer", "StreamState", "is_streamed",
           "read_stream_checkpoint", "write_stream_checkpoint"]
