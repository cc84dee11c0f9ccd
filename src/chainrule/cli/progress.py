"""Training progress: a live rich progress bar on a terminal, plain lines otherwise
(CI logs, pipes), one line per epoch with loss, accuracy, validation loss/accuracy and lr.
"""

from __future__ import annotations

import sys
from typing import Any

from ..training.callbacks import Callback


def format_logs(epoch: int, epochs: int, logs: dict[str, float]) -> str:
    """``epoch  3/20  loss 0.1234  accuracy 0.9650  val_loss …  lr 0.001``."""
    w = len(str(epochs))
    parts = [f"epoch {epoch:>{w}}/{epochs}"]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        if key in logs:
            parts.append(f"{key} {logs[key]:.4f}")
    if "lr" in logs:
        parts.append(f"lr {logs['lr']:.3g}")
    return "  ".join(parts)


class PlainProgress(Callback):
    """One flushed line per epoch: readable in a log file."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream

    def on_epoch_end(self, trainer: Any, logs: dict[str, float]) -> None:
        print(format_logs(trainer.epoch, trainer.epochs, logs), file=self.stream or sys.stdout,
              flush=True)


class RichProgress(Callback):
    """A rich progress bar over the batches of each epoch; finished epochs stay as lines."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}"),
            TimeElapsedColumn(),
            transient=True,
        )
        self.task: Any = None

    def on_train_begin(self, trainer: Any) -> None:
        self.progress.start()

    def on_epoch_begin(self, trainer: Any) -> None:
        label = f"{trainer.epoch}/{trainer.epochs}"
        if self.task is None:
            self.task = self.progress.add_task("train", total=None, epoch=label, loss=0.0)
        self.progress.reset(self.task, total=None, epoch=label, loss=0.0)

    def on_batch_end(self, trainer: Any, batch: int, loss: float) -> None:
        self.progress.update(self.task, completed=batch, total=trainer.n_batches, loss=loss)

    def watches(self, trainer: Any, ahead: int) -> bool:
        return False  # the bar shows the batch number and running loss only

    def on_epoch_end(self, trainer: Any, logs: dict[str, float]) -> None:
        self.progress.console.print(format_logs(trainer.epoch, trainer.epochs, logs))

    def on_train_end(self, trainer: Any) -> None:
        self.progress.stop()


def make_progress(live: bool) -> Callback:
    """Rich on a terminal (if rich is installed), plain lines otherwise."""
    if live:
        try:
            return RichProgress()
        except ImportError:
            pass
    return PlainProgress()
