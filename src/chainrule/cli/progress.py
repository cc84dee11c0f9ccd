"""Training progress: a live rich progress bar on a terminal, plain lines otherwise
(CI logs, pipes), one line per epoch with loss, accuracy, validation loss/accuracy and lr.

A streamed run (:class:`StreamProgress`) shows the same epoch lines with its rows/s, and
inside an epoch the rows done, rows/s and an ETA for the epoch and for the run: on a
terminal as a live bar, in a log at most one line every ``interval`` seconds.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from ..training.callbacks import Callback


def format_logs(epoch: int, epochs: int, logs: dict[str, float]) -> str:
    """``epoch  3/20  loss 0.1234  accuracy 0.9650  val_loss …  lr 0.001``."""
    w = len(str(epochs))
    parts = [f"epoch {epoch:>{w}}/{epochs}"]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "val_r2"):
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


def clock_time(seconds: float) -> str:
    """``0:07``, ``12:05``, ``3:02:10``: an ETA to the second."""
    s = max(0, int(round(seconds)))
    h, m, s = s // 3600, s // 60 % 60, s % 60
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class StreamProgress:
    """Progress of a streamed run (:func:`chainrule.runs.stream_run.train_streamed` calls
    :meth:`on_batch` after each batch and :meth:`on_epoch` after each epoch).

    The rate is measured from the first batch this process trains in an epoch (batches
    skipped by a resume are not counted): rows/s, then the epoch's ETA (its training rows
    left at that rate) and the run's (plus the epochs left, ``train_rows`` each).

    Parameters
    ----------
    epochs : int
        The run's epochs.
    train_rows : int
        Training rows of an epoch.
    live : bool
        A rich bar on a terminal; else plain lines.
    interval : float
        Plain lines: seconds between two progress lines (epoch lines always print).
    """

    def __init__(self, epochs: int, train_rows: int, *, live: bool = False,
                 interval: float = 30.0, clock: Callable[[], float] = time.monotonic,
                 out: Any = None) -> None:
        self.epochs, self.train_rows, self.interval = epochs, max(train_rows, 1), interval
        self.clock, self.out = clock, out
        self.epoch = 0
        self._anchor = (0.0, 0)  # (time, rows) of the epoch's first trained batch
        self._printed = clock()
        self.bar: Any = None
        if live:
            try:
                from rich.progress import BarColumn, Progress, TextColumn
            except ImportError:
                pass
            else:
                self.bar = Progress(TextColumn("[bold]epoch {task.fields[epoch]}"),
                                    BarColumn(), TextColumn("{task.fields[said]}"),
                                    transient=True)
                self.bar.start()
                self.task = self.bar.add_task("stream", total=self.train_rows, epoch="",
                                              said="")

    def status(self, epoch: int, rows: int, now: float) -> str:
        """``1,234,567/2,700,000 rows (45%)  112,345 rows/s  ETA epoch 0:13, run 5:10``
        (no rate yet: the rows only)."""
        w = len(f"{self.train_rows:,}")
        said = f"{rows:>{w},}/{self.train_rows:,} rows ({100 * rows / self.train_rows:.0f}%)"
        t0, r0 = self._anchor
        if now <= t0 or rows <= r0:
            return said
        rate = (rows - r0) / (now - t0)
        left = max(self.train_rows - rows, 0) / rate
        run = left + (self.epochs - epoch) * self.train_rows / rate
        return (f"{said}  {rate:,.0f} rows/s  ETA epoch {clock_time(left)}, run "
                f"{clock_time(run)}")

    def on_batch(self, epoch: int, batch: int, rows: int) -> None:
        now = self.clock()
        if epoch != self.epoch:
            self.epoch, self._anchor = epoch, (now, rows)
        label = f"{epoch}/{self.epochs}"
        if self.bar is not None:
            self.bar.update(self.task, completed=rows, epoch=label,
                            said=self.status(epoch, rows, now))
        elif now - self._printed >= self.interval:
            self._printed = now
            print(f"epoch {label}  {self.status(epoch, rows, now)}", file=self.out or
                  sys.stdout, flush=True)

    def on_epoch(self, row: dict[str, float]) -> None:
        """The epoch's line: ``epoch 3/10  loss …  val_loss …  74,120 rows/s  41.2 s``."""
        epoch = int(row["epoch"])
        line = (f"{format_logs(epoch, self.epochs, row)}  {row['rows_per_s']:,.0f} rows/s  "
                f"{row['seconds']:.1f} s")
        if epoch < self.epochs:
            line += f"  ETA run {clock_time((self.epochs - epoch) * row['seconds'])}"
        if self.bar is not None:
            self.bar.console.print(line)
        else:
            print(line, file=self.out or sys.stdout, flush=True)
        self._printed = self.clock()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def make_progress(live: bool) -> Callback:
    """Rich on a terminal (if rich is installed), plain lines otherwise."""
    if live:
        try:
            return RichProgress()
        except ImportError:
            pass
    return PlainProgress()
