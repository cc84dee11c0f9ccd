"""A streamed run (issue 31): ``chainrule train --csv F --target T --stream`` as a run
directory that checkpoints its stream position and resumes bit for bit.

:func:`start_streamed` makes the run (pass 1 fits the encoder, pass 2 the scaler, the
network and optimizer are built, the directory gets ``config.json`` and ``metrics.json``
with ``"streamed": true``); :func:`resume_streamed` rebuilds it from a checkpoint
(:mod:`chainrule.runs.stream_checkpoint`); :func:`train_streamed` trains the epochs left —
each one :func:`chainrule.training.stream.fit_stream` call, started after the batches
already done — writing checkpoints as they fall due, then the test metrics,
``model.safetensors`` and ``metrics.json``. An interrupted run (Ctrl-C, SIGTERM) is marked
``interrupted``: its last checkpoint is where ``--resume`` goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..datasets.fingerprint import fingerprint
from ..datasets.stream import CHUNK_BYTES, TableStream
from ..io.model import save
from ..training.optimizers import get_optimizer
from ..training.stream import BUFFER_ROWS, evaluate_stream, fit_stream, stream_network
from .config import ConfigError, RunConfig
from .errors import RunError
from .rundir import CONFIG, MODEL, RunDir, check_out
from .stream_checkpoint import StreamCheckpointer, StreamState, read_stream_checkpoint

#: Epochs of a streamed run given no ``--epochs`` (it has no early stopping to end it).
STREAM_EPOCHS = 10
#: Batch size of a streamed run given none (or ``auto``).
STREAM_BATCH = 256
#: ``on_batch(epoch, batch, rows_so_far)``, as :func:`fit_stream` calls it.
OnBatch = Callable[[int, int, int], None]
#: ``on_epoch(row)``: an epoch's history row (``rows_per_s`` and ``seconds`` added).
OnEpoch = Callable[[dict[str, float]], None]


@dataclass
class StreamedRun:
    """A streamed run ready to train: its settings, directory, table stream, network (its
    optimizer set) and position."""

    cfg: RunConfig
    #: The run directory; None on the MPI ranks other than 0 (they write nothing).
    rundir: RunDir | None
    stream: TableStream
    net: Any
    state: StreamState
    #: The position it was resumed from, None for a new run.
    resumed_from: tuple[int, int] | None = None

    @property
    def config(self) -> dict[str, Any]:
        return self.cfg.to_dict()


def members(cfg: RunConfig) -> bool:
    """Whether ``cfg`` asks for several networks (``--ensemble K``, ``--cv K``), which a
    streamed run does not train. The table recipe's ``cv = "auto"`` (folds only when the
    validation split is small) asks for none: a table large enough to stream has a large
    one."""
    return cfg.ensemble > 1 or (cfg.cv != "auto" and bool(cfg.cv))


def start_streamed(cfg: RunConfig, out: str | Path | None, *, root: bool = True,
                   distributed: bool = False) -> StreamedRun:
    """A new streamed run of ``cfg`` (``cfg.csv``, ``cfg.target``) in ``out``; ``root``
    False: an MPI rank other than 0, which makes no directory. ``distributed``: every
    rank calls this, and pass 2 (the scaler) reads only this rank's stripes
    (:func:`chainrule.distributed.stream.stream_network_mpi`)."""
    if members(cfg):
        raise RunError("--stream trains one network: drop --ensemble / --cv (a streamed "
                       "ensemble is not built yet)")
    assert cfg.csv is not None and cfg.target is not None
    if root:
        check_out(out)
    table, target = Path(cfg.csv), cfg.target
    cfg = cfg.replace(csv=str(table.absolute()))  # resumable from any directory
    stream = TableStream(table, target, task=cfg.task, val_split=cfg.val_split,
                         test_split=cfg.test_split, seed=cfg.seed)
    batch = cfg.batch_size if isinstance(cfg.batch_size, int) else STREAM_BATCH
    options: dict[str, Any] = dict(hidden=cfg.hidden, activation=cfg.activation,
                                   seed=cfg.seed, dtype=cfg.dtype, dropout=cfg.dropout)
    if distributed:
        from ..distributed.stream import stream_network_mpi

        net = stream_network_mpi(stream, batch_size=batch, **options)
    else:
        net = stream_network(stream, **options)
    lr: dict[str, Any] = {} if isinstance(cfg.lr, str) else {"lr": float(cfg.lr)}
    net.optimizer = get_optimizer(cfg.optimizer, **lr)
    state = StreamState(epochs=STREAM_EPOCHS if cfg.early_stopping else cfg.epochs,
                        batch_size=batch, buffer_rows=BUFFER_ROWS, chunk_bytes=CHUNK_BYTES,
                        table=fingerprint(table))
    rundir = RunDir.create(out, cfg.to_dict(), fresh=True) if root else None
    if rundir is not None:
        rundir.mark("running", streamed=True, epochs=state.epochs, table=state.table["path"])
    return StreamedRun(cfg, rundir, stream, net, state)


def resume_streamed(run_dir: str | Path, *, root: bool = True) -> StreamedRun:
    """The streamed run of ``run_dir`` at its checkpoint's position: the same table (its
    fingerprint checked), the network, encoder, scaler and optimizer of the checkpoint.

    Raises
    ------
    RunError
        One line naming ``--resume DIR`` and what stops it.
    """
    path = Path(run_dir)
    if not path.is_dir():
        raise RunError(f"--resume {path}: no such run directory")
    try:
        net, config, state = read_stream_checkpoint(path)
    except FileNotFoundError:
        raise RunError(f"--resume {path}: the streamed run stopped before its first "
                       f"checkpoint; start it again: chainrule train --config "
                       f"{path / CONFIG} --stream --out {path}") from None
    try:
        cfg = RunConfig.from_mapping(config, origin=f"{path}/checkpoint.safetensors")
    except ConfigError as exc:
        raise RunError(f"--resume {path}: {exc}") from None
    ours = {"batch_size": STREAM_BATCH if not isinstance(cfg.batch_size, int)
            else cfg.batch_size, "buffer_rows": BUFFER_ROWS, "chunk_bytes": CHUNK_BYTES}
    for key, value in ours.items():
        if getattr(state, key) != value:
            raise RunError(f"--resume {path}: the checkpoint streams with {key} "
                           f"{getattr(state, key)}, this run would stream with {value}; the "
                           "batches would differ, so it cannot resume bit for bit")
    assert cfg.target is not None
    stream = TableStream(state.table["path"], cfg.target, task=cfg.task,
                         val_split=cfg.val_split, test_split=cfg.test_split, seed=cfg.seed,
                         chunk_bytes=state.chunk_bytes)
    if stream.classes != net.classes or stream.encoder.n_out != net.n_in:
        raise RunError(f"--resume {path}: the table's classes or features "
                       f"({stream.classes}, {stream.encoder.n_out}) are not the checkpoint's "
                       f"({net.classes}, {net.n_in})")
    stream.encoder = net.encoder  # the checkpoint's pass 1, as saved
    if net.optimizer is None:
        raise RunError(f"--resume {path}: the checkpoint has no optimizer state")
    rundir = RunDir.create(path, cfg.to_dict(), fresh=False) if root else None
    if rundir is not None:
        rundir.mark("running", streamed=True, epochs=state.epochs, table=state.table["path"])
    return StreamedRun(cfg, rundir, stream, net, state, (state.epoch, state.batch))


def train_streamed(run: StreamedRun, *, every: int = 1, batches: int | None = None,
                   seconds: float | None = None, on_batch: OnBatch | None = None,
                   on_epoch: OnEpoch | None = None, distributed: bool = False
                   ) -> dict[str, Any]:
    """Train ``run``'s epochs left, checkpointing every ``every`` epochs, ``batches``
    batches and ``seconds`` seconds (:class:`StreamCheckpointer`); then evaluate the test
    rows and write ``model.safetensors`` and ``metrics.json`` (returned).

    ``on_batch`` is called after every trained batch (and after the checkpoint due
    then); an exception it raises stops the run, marked ``interrupted`` — so does Ctrl-C.
    ``distributed``: this is one MPI rank of several, every rank calls this
    (:func:`chainrule.distributed.stream.fit_stream_mpi`: each reads its stripes of each
    chunk); only rank 0 (the one with ``run.rundir``) writes.
    """
    state, net, stream, rundir = run.state, run.net, run.stream, run.rundir
    fit, evaluate = _fitters(distributed, state.batch_size)
    ckpt = StreamCheckpointer(None if rundir is None else rundir.path, net, run.config,
                              state, every=every, batches=batches, seconds=seconds)
    base, t0 = state.train_seconds, time.perf_counter()

    def batch_done(epoch: int, batch: int, rows: int) -> None:
        ckpt.after_batch(epoch, batch, base + time.perf_counter() - t0)
        if on_batch is not None:
            on_batch(epoch, batch, rows)

    try:
        while not state.complete:
            epoch, skip = state.epoch, state.batch
            started = time.perf_counter()
            row = fit(net, stream, epochs=epoch, start=(epoch, skip),
                             batch_size=state.batch_size, buffer_rows=state.buffer_rows,
                             seed=run.cfg.seed, on_batch=batch_done)[0]
            took = time.perf_counter() - started
            row["seconds"], row["rows_per_s"] = took, row["rows"] / max(took, 1e-9)
            if skip:
                row["resumed_after_batch"] = skip  # loss and rows: the batches after it
            ckpt.after_epoch(row, base + time.perf_counter() - t0)
            if on_epoch is not None:
                on_epoch(row)
    except BaseException:
        on_disk = ckpt.saved or run.resumed_from
        if rundir is not None:
            rundir.mark("interrupted", checkpoint=None if on_disk is None else list(on_disk))
        raise
    counts = stream.counts
    test = evaluate(net, stream, "test") if counts["test"] else {}
    if rundir is None:
        return {"test": test}
    save(net, rundir.path / MODEL)
    metrics = {"streamed": True, "table": state.table["path"],
               "rows": counts, "epochs": state.history, "test": test,
               "train_seconds": state.train_seconds,
               "resumed_from": None if run.resumed_from is None else list(run.resumed_from)}
    rundir.info = {}
    rundir.mark("complete", **metrics)
    return rundir.info


def _fitters(distributed: bool, batch_size: int) -> tuple[Any, Any]:
    """``fit_stream`` and ``evaluate_stream``, or their MPI twins (the evaluation reads
    each rank's stripes, so it is given the fit's batch size)."""
    if not distributed:
        return fit_stream, evaluate_stream
    from ..distributed.stream import evaluate_stream_mpi, fit_stream_mpi

    def evaluate(net: Any, stream: TableStream, split: str) -> dict[str, float]:
        return evaluate_stream_mpi(net, stream, split, batch_size=batch_size)

    return fit_stream_mpi, evaluate


__all__ = ["STREAM_BATCH", "STREAM_EPOCHS", "StreamedRun", "members", "resume_streamed",
           "start_streamed", "train_streamed"]
