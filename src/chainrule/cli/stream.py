"""``chainrule train --csv F --target T --stream``: a table larger than memory, streamed.

The run reads the file in chunks (Parquet row groups, CSV byte ranges) with
:mod:`chainrule.datasets.stream` and trains with :func:`chainrule.training.stream.fit_stream`:
pass 1 fits the encoder from sketches, pass 2 the scaler, then each epoch reads the
training rows in a seeded chunk order through a seeded shuffle buffer; the split is a
seeded hash of each row's position, so no split is ever held in memory. Without
``--stream`` a CSV job streams when its table would not fit ``--memory-budget`` (default:
half the memory available now).

What a streamed run does not have yet (docs/distributed.md): early stopping, the table
recipe's embeddings and schedule, the health monitor, checkpoints and ``--resume``, and
``--distributed``. It writes ``model.safetensors`` (which ``chainrule predict`` reads like
any other) and ``metrics.json``.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path
from typing import Any

from ..datasets.reader import table_format
from ..datasets.stream import BYTES_PER_CSV_BYTE, TableStream, in_memory_bytes, memory_budget
from ..io.atomic import atomic_write_bytes
from ..io.model import save
from ..runs import RunConfig
from ..runs.config import UsageError
from ..training.optimizers import get_optimizer
from ..training.stream import evaluate_stream, fit_stream, stream_network

#: Epochs of a streamed run given no ``--epochs`` (it has no early stopping to end it).
STREAM_EPOCHS = 10
#: Batch size of a streamed run given none (or ``auto``).
STREAM_BATCH = 256
_SIZE = re.compile(r"(?i)^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$")


def memory_size(text: str) -> int:
    """``--memory-budget``: bytes, or a number with K, M, G or T (powers of 1024)."""
    match = _SIZE.match(text)
    if match is None or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(
            f"expected a positive size such as 512M, 4G or a number of bytes, got {text!r}")
    power = " KMGT".index(match.group(2).upper() or " ")
    return max(1, int(float(match.group(1)) * 1024**power))


def add_stream_arguments(g: argparse._ArgumentGroup) -> None:
    g.add_argument("--stream", action="store_true",
                   help="read the --csv table (CSV or Parquet) in chunks with bounded memory "
                   "instead of loading it (docs/distributed.md)")
    g.add_argument("--memory-budget", type=memory_size, default=None, metavar="SIZE",
                   help="stream a --csv table whose in-memory training would need more than "
                   "SIZE (512M, 4G, …; default: half the memory available now)")


def wants_stream(args: argparse.Namespace, cfg: RunConfig | None) -> bool:
    """Whether this ``train`` streams: ``--stream``, or a CSV job whose table would not
    fit the memory budget. ``--stream`` without a table is a usage error."""
    forced = bool(getattr(args, "stream", False))
    if cfg is None:  # --resume: a streamed run has no checkpoint to resume from
        if forced:
            raise UsageError("--stream: a streamed run cannot be resumed yet; drop --resume")
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


def run_streamed(args: argparse.Namespace, cfg: RunConfig) -> int:
    """Train ``cfg``'s table streamed; print the epochs and the test metrics (unless
    ``--quiet``); write ``model.safetensors`` and ``metrics.json`` into the run directory."""
    if args.distributed:
        raise UsageError("--stream with --distributed: MPI ranks do not stream their shard "
                         "yet; drop one of them")
    if cfg.ensemble > 1 or cfg.cv:
        raise UsageError("--stream trains one network: drop --ensemble / --cv (a streamed "
                         "ensemble is not built yet)")
    say = (lambda text: None) if args.quiet else print
    assert cfg.csv is not None and cfg.target is not None
    epochs = STREAM_EPOCHS if cfg.early_stopping else cfg.epochs
    batch = cfg.batch_size if isinstance(cfg.batch_size, int) else STREAM_BATCH
    stream = TableStream(cfg.csv, cfg.target, task=cfg.task, val_split=cfg.val_split,
                         test_split=cfg.test_split, seed=cfg.seed)
    for column, reason in stream.encoder.dropped.items():
        say(f"column {column!r}: dropped ({reason})")
    net = stream_network(stream, hidden=cfg.hidden, activation=cfg.activation,
                         seed=cfg.seed, dtype=cfg.dtype)
    options: dict[str, Any] = {} if isinstance(cfg.lr, str) else {"lr": float(cfg.lr)}
    net.optimizer = get_optimizer(cfg.optimizer, **options)
    counts = stream.counts
    say(f"{Path(cfg.csv).name}: streamed (train {counts['train']}, val {counts['val']}, "
        f"test {counts['test']} rows), {stream.encoder.n_out} features; network "
        f"{'-'.join(str(n) for n in [net.n_in, *cfg.hidden, net.n_out])}, "
        f"{cfg.optimizer}, batch {batch}, {epochs} epochs (streamed: no early stopping, "
        "embeddings or schedule)")
    history = []
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        row = fit_stream(net, stream, epochs=epoch, start_epoch=epoch - 1, batch_size=batch,
                         seed=cfg.seed)[0]
        seconds = time.perf_counter() - start
        row["rows_per_s"] = row["rows"] / max(seconds, 1e-9)
        history.append(row)
        said = "  ".join(f"{k} {v:.4g}" for k, v in row.items()
                         if k not in ("epoch", "rows", "rows_per_s"))
        say(f"epoch {epoch}/{epochs}  {said}  {row['rows_per_s']:,.0f} rows/s")
    test = evaluate_stream(net, stream, "test") if counts["test"] else {}
    if test:
        say("test " + "  ".join(f"{k} {v:.4g}" for k, v in test.items()))
    out = Path(args.out or Path("runs") / time.strftime("%Y%m%d-%H%M%S"))
    out.mkdir(parents=True, exist_ok=True)
    save(net, out / "model.safetensors")
    metrics = {"status": "complete", "streamed": True, "table": str(Path(cfg.csv).resolve()),
               "rows": counts, "epochs": history, "test": test}
    atomic_write_bytes(out / "metrics.json", json.dumps(metrics, indent=2).encode())
    say(f"wrote {out}/: model.safetensors, metrics.json")
    return 0
