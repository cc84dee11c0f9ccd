"""``chainrule train --csv F --target T --stream``: a table larger than memory, streamed.

The run reads the file in chunks (Parquet row groups, CSV byte ranges) with
:mod:`chainrule.datasets.stream` and trains with :func:`chainrule.training.stream.fit_stream`:
pass 1 fits the encoder from sketches, pass 2 the scaler, then each epoch reads the
training rows in a seeded chunk order through a seeded shuffle buffer; the split is a
seeded hash of each row's position, so no split is ever held in memory. Without
``--stream`` a CSV job streams when its table would not fit ``--memory-budget`` (default:
half the memory available now).

The run shows rows/s and an ETA (:class:`~chainrule.cli.progress.StreamProgress`) and
writes ``checkpoint.safetensors`` at the end of every ``--checkpoint-every`` epochs, every
``--checkpoint-batches`` batches and ``--checkpoint-seconds`` seconds, with the stream
position (:mod:`chainrule.runs.stream_checkpoint`); ``chainrule train --resume RUN_DIR``
continues an interrupted one and ends bit for bit where an unbroken run ends. What a
streamed run does not have yet (docs/distributed.md): early stopping, the table recipe's
embeddings and schedule, the health monitor. ``mpirun -n K chainrule train … --stream
--distributed`` trains data-parallel, each rank reading only its stripes of each chunk
(:func:`chainrule.distributed.stream.fit_stream_mpi`), equal to one process. It writes
``model.safetensors`` (which ``chainrule predict`` reads like any other) and
``metrics.json``.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from ..datasets.reader import table_format
from ..datasets.stream import BYTES_PER_CSV_BYTE, in_memory_bytes, memory_budget
from ..runs import RunConfig
from ..runs.config import UsageError
from ..runs.stream_checkpoint import is_streamed
from ..runs.stream_run import (
    STREAM_BATCH,
    STREAM_EPOCHS,
    members,
    resume_streamed,
    start_streamed,
    train_streamed,
)
from .progress import StreamProgress

__all__ = ["STREAM_BATCH", "STREAM_EPOCHS", "add_stream_arguments", "memory_size",
           "run_streamed", "wants_stream"]
#: Seconds between two checkpoints inside an epoch, given no ``--checkpoint-seconds``.
CHECKPOINT_SECONDS = 600.0
_SIZE = re.compile(r"(?i)^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$")


def memory_size(text: str) -> int:
    """``--memory-budget``: bytes, or a number with K, M, G or T (powers of 1024)."""
    match = _SIZE.match(text)
    if match is None or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(
            f"expected a positive size such as 512M, 4G or a number of bytes, got {text!r}")
    power = " KMGT".index(match.group(2).upper() or " ")
    return max(1, int(float(match.group(1)) * 1024**power))


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = 0
        if not value > 0 or value == float("inf"):
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
        return value
    return parse


def add_stream_arguments(g: argparse._ArgumentGroup) -> None:
    g.add_argument("--stream", action="store_true",
                   help="read the --csv table (CSV or Parquet) in chunks with bounded memory "
                   "instead of loading it (docs/distributed.md)")
    g.add_argument("--checkpoint-batches", type=_positive(int), default=None, metavar="N",
                   help="streamed runs: also write checkpoint.safetensors every N batches "
                   "inside an epoch (--resume continues from the batch after it)")
    g.add_argument("--checkpoint-seconds", type=_positive(float), default=None,
                   metavar="S", help="streamed runs: also write checkpoint.safetensors after "
                   f"the batch that ends S seconds since the last one (default "
                   f"{CHECKPOINT_SECONDS:.0f})")
    g.add_argument("--memory-budget", type=memory_size, default=None, metavar="SIZE",
                   help="stream a --csv table whose in-memory training would need more than "
                   "SIZE (512M, 4G, …; default: half the memory available now)")


def wants_stream(args: argparse.Namespace, cfg: RunConfig | None) -> bool:
    """Whether this ``train`` streams: ``--stream``, or a CSV job whose table would not
    fit the memory budget. ``--stream`` without a table, and the streamed runs'
    checkpoint flags on a run that does not stream, are usage errors."""
    streams = _wants_stream(args, cfg)
    if not streams:
        given = [f for f, v in (("--checkpoint-batches", args.checkpoint_batches),
                                ("--checkpoint-seconds", args.checkpoint_seconds))
                 if v is not None]
        if given:
            raise UsageError(f"{' and '.join(given)} checkpoint a streamed run (--stream); an "
                             "in-memory run checkpoints every --checkpoint-every epochs")
    return streams


def _wants_stream(args: argparse.Namespace, cfg: RunConfig | None) -> bool:
    forced = bool(getattr(args, "stream", False))
    if cfg is None:  # --resume RUN_DIR: streamed if the run directory says so
        if is_streamed(args.resume):
            return True
        if forced:
            raise UsageError(f"--stream --resume {args.resume}: not a streamed run (its "
                             "metrics.json does not say \"streamed\": true); drop --stream")
        return False
    if cfg.dataset != "csv" or cfg.csv is None:
        if forced or args.memory_budget is not None:
            raise UsageError("--stream and --memory-budget read a table file: give "
                             "--csv FILE --target COLUMN")
        return False
    if forced:
        return True
    budget = args.memory_budget if args.memory_budget is not None else memory_budget()
    return _needs_bytes(Path(cfg.csv)) > budget


def _needs_bytes(path: Path) -> int:
    """The in-memory peak of training on ``path``, cheaply (a file it cannot size — absent,
    unreadable, not a table — is left to the in-memory reader, which says what is wrong)."""
    try:
        parquet = table_format(path) == "parquet"
        return in_memory_bytes(path) if parquet else path.stat().st_size * BYTES_PER_CSV_BYTE
    except Exception:  # noqa: BLE001 - the normal path reports the file's problem
        return 0


def run_streamed(args: argparse.Namespace, cfg: RunConfig | None) -> int:
    """Train ``cfg``'s table streamed (``cfg`` None: resume ``--resume RUN_DIR``); print
    the epochs, progress and the test metrics (unless ``--quiet``); the run directory gets
    checkpoints as they fall due, then ``model.safetensors`` and ``metrics.json``. With
    ``--distributed`` every MPI rank runs this and reads only its stripes of each chunk;
    rank 0 prints and writes."""
    if cfg is not None and members(cfg):
        raise UsageError("--stream trains one network: drop --ensemble / --cv (a streamed "
                         "ensemble is not built yet)")
    if not args.distributed:
        return _run(args, cfg, root=True)
    from ..distributed import abort_on_error, is_root, rank, world_size
    from ..distributed.stream import rank_stripes

    batch = STREAM_BATCH if cfg is None or not isinstance(cfg.batch_size, int) \
        else cfg.batch_size
    try:
        rank_stripes(batch, rank(), world_size())
    except ValueError as exc:
        raise UsageError(f"--distributed --stream: {exc}") from None
    # a rank failing alone (its node cannot read the table, say) must end the job
    with abort_on_error():
        return _run(args, cfg, root=is_root())


def _run(args: argparse.Namespace, cfg: RunConfig | None, *, root: bool) -> int:
    say = print if root and not args.quiet else (lambda text: None)
    if cfg is None:
        run = resume_streamed(args.resume, root=root)
        epoch, batch = run.state.epoch, run.state.batch
        say(f"resuming {args.resume} " + (f"after batch {batch} of epoch {epoch}/"
            f"{run.state.epochs}" if batch else f"at the start of epoch {epoch}/"
            f"{run.state.epochs}"))
    else:
        run = start_streamed(cfg, args.out, root=root, distributed=args.distributed)
        for column, reason in run.stream.encoder.dropped.items():
            say(f"column {column!r}: dropped ({reason})")
    stream, net, state = run.stream, run.net, run.state
    counts = stream.counts
    say(f"{Path(state.table['path']).name}: streamed (train {counts['train']}, val "
        f"{counts['val']}, test {counts['test']} rows), {stream.encoder.n_out} features; "
        f"network {'-'.join(str(n) for n in [net.n_in, *run.cfg.hidden, net.n_out])}, "
        f"{run.cfg.optimizer}, batch {state.batch_size}, {state.epochs} epochs (streamed: "
        "no early stopping, embeddings or schedule)")
    progress = StreamProgress(state.epochs, counts["train"], live=sys.stdout.isatty()) \
        if root and not args.quiet else None
    every = args.checkpoint_every if args.checkpoint_every is not None else 1
    try:
        metrics = train_streamed(run, every=every, batches=args.checkpoint_batches,
                                 seconds=args.checkpoint_seconds or CHECKPOINT_SECONDS,
                                 on_batch=progress.on_batch if progress else None,
                                 on_epoch=progress.on_epoch if progress else None,
                                 distributed=args.distributed)
    except KeyboardInterrupt:
        if run.rundir is not None:
            _told_interrupted(run.rundir.path, run.rundir.info.get("checkpoint"))
        raise
    finally:
        if progress is not None:
            progress.close()
    if metrics["test"]:
        say("test " + "  ".join(f"{k} {v:.4g}" for k, v in metrics["test"].items()))
    if run.rundir is not None:
        say(f"wrote {run.rundir.path}/: model.safetensors, metrics.json, "
            "checkpoint.safetensors")
    return 0


def _told_interrupted(path: Path, where: list[int] | None) -> None:
    """Where the checkpoint of an interrupted run is, and how to go on, on stderr."""
    at = ("no checkpoint yet" if not where else f"checkpoint after batch {where[1]} of "
          f"epoch {where[0]}" if where[1] else f"checkpoint at the start of epoch {where[0]}")
    print(f"interrupted: {path}: {at}; continue with: chainrule train --resume {path}",
          file=sys.stderr, flush=True)
