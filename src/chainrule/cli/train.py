"""``chainrule train``: data → split → standardize → MLP → fit → report → run directory.

The run directory holds ``model.safetensors``, ``config.json`` (the fully resolved
settings: ``chainrule train --config config.json`` reruns the same training),
``history.csv``, ``metrics.json``, ``curves.png`` and, for two-dimensional data,
``regions.png``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import io as _text_io
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import datasets
from ..callbacks import Callback, EarlyStopping, History
from ..io import atomic_write_bytes, save
from ..network import Network
from ..optimizers import OPTIMIZERS, Optimizer, get_optimizer
from ..schedules import SCHEDULES, Schedule, get_schedule
from . import CLIError
from .common import build_network, encode_targets, evaluate, is_tty, load_dataset
from .config import (
    _choice,
    _float_type,
    _int_type,
    add_data_arguments,
    add_network_arguments,
    merge_config,
    validate_config,
)
from .progress import make_progress

RUN_FILES = ("model.safetensors", "config.json", "history.csv", "metrics.json", "curves.png")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Every setting is a flag; ``--config FILE.toml`` gives the same keys (flags win)."""
    add_data_arguments(p, defaults_from="digits")
    add_network_arguments(p)
    g = p.add_argument_group("training")
    g.add_argument("--optimizer", type=_choice(list(OPTIMIZERS), "optimizer"), default=None,
                   metavar="NAME",
                   help=f"one of {', '.join(OPTIMIZERS)} (default adam)")
    g.add_argument("--lr", type=_float_type(0, math.inf, "a positive number"), default=None,
                   metavar="ETA",
                   help="learning rate η (default 0.001)")
    g.add_argument("--schedule", type=_choice(list(SCHEDULES), "schedule"), default=None,
                   metavar="NAME",
                   help=f"learning-rate schedule: {', '.join(SCHEDULES)} (default constant)")
    g.add_argument("--epochs", type=_int_type(1, "a positive integer"), default=None, metavar="N",
                   help="passes over the training split (default 20)")
    g.add_argument("--batch-size", type=_int_type(1, "a positive integer"), default=None,
                   metavar="N",
                   help="samples per gradient step (default 32)")
    g.add_argument("--val-split", type=_float_type(0, 1, "a fraction in [0, 1)"), default=None,
                   metavar="F",
                   help="fraction held out for validation (default 0.1)")
    g.add_argument("--test-split", type=_float_type(0, 1, "a fraction in [0, 1)"), default=None,
                   metavar="F",
                   help="fraction held out for the test report (default 0.2; MNIST has its "
                   "own test set)")
    g.add_argument("--early-stopping", type=_int_type(0, "a non-negative integer"),
                   default=None, metavar="PATIENCE",
                   help="stop after PATIENCE epochs without a better validation loss and "
                   "keep the best weights (default 0: off)")
    o = p.add_argument_group("output")
    o.add_argument("--out", metavar="DIR", default=None,
                   help="run directory (default runs/<timestamp>/)")
    o.add_argument("--quiet", action="store_true", help="no progress and no report")
    o.add_argument("--distributed", action="store_true",
                   help="data-parallel over MPI ranks (launch with mpirun -n K)")


def run(args: argparse.Namespace) -> int:
    cfg = validate_config(merge_config(args))
    if args.distributed:
        from .. import distributed

        # A rank failing alone (its node cannot read the data, say) must end the job,
        # not leave the other ranks waiting in the first collective call.
        with distributed.abort_on_error():
            train(cfg, out=args.out, quiet=args.quiet, distributed=True)
        return 0
    train(cfg, out=args.out, quiet=args.quiet, distributed=args.distributed)
    return 0


@dataclass
class TrainResult:
    net: Network
    history: History
    metrics: dict[str, Any]
    config: dict[str, Any]
    out: Path | None


def make_optimizer(cfg: dict[str, Any], steps_per_epoch: int) -> Optimizer:
    """The optimizer with its schedule; decaying schedules span the whole run."""
    total = max(1, cfg["epochs"] * steps_per_epoch)
    lr, name = cfg["lr"], cfg["schedule"]
    options: dict[str, dict[str, Any]] = {
        "constant": {},
        "step": {"step_size": max(1, total // 4), "gamma": 0.5},  # halve every quarter
        "exponential": {"decay_steps": total, "gamma": 0.1},  # ÷10 over the run
        "invscaling": {},
        "cosine": {"total_steps": total},
    }
    schedule: float | Schedule = lr if name == "constant" else get_schedule(
        name, lr, **options[name])
    return get_optimizer(cfg["optimizer"], lr=schedule)


def _run_dir(out: str | None) -> Path:
    if out is not None:
        path = Path(out)
        if path.exists() and not path.is_dir():
            raise CLIError(f"--out {path}: exists and is not a directory")
        path.mkdir(parents=True, exist_ok=True)
        return path
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = Path("runs") / stamp
    n = 1
    while path.exists():
        path = Path("runs") / f"{stamp}-{n}"
        n += 1
    path.mkdir(parents=True)
    return path


def _describe(ds: datasets.Dataset, net: Network, cfg: dict[str, Any], n: tuple[int, ...]) -> str:
    sizes = "-".join(str(s) for s in [net.n_in, *(d.n_out for d in net.dense_layers)])
    what = (f"{len(ds.classes)} classes" if ds.classes is not None else
            f"{ds.n_outputs} target(s)")
    return (f"{ds.name}: {sum(n)} samples (train {n[0]}, val {n[1]}, test {n[2]}), "
            f"{ds.n_features} features, {what}\n"
            f"network {sizes}, {cfg['activation']} → {cfg['output_activation']}, "
            f"loss {cfg['loss']}, {cfg['optimizer']} lr {cfg['lr']:g} ({cfg['schedule']}), "
            f"{cfg['epochs']} epochs, batch {cfg['batch_size']}, {cfg['dtype']}")


def _history_csv(history: History) -> bytes:
    keys = history.keys()
    buf = _text_io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["epoch", *keys])
    for i, epoch in enumerate(history.epoch):
        writer.writerow([epoch, *(repr(history[k][i]) for k in keys)])
    return buf.getvalue().encode("utf-8")


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2) + "\n").encode("utf-8")


def train(cfg: dict[str, Any], *, out: str | None = None, quiet: bool = False,
          distributed: bool = False, live: bool | None = None) -> TrainResult:
    """Run one training from a validated configuration (see :func:`validate_config`).

    With ``distributed`` the fit runs data-parallel over MPI (every rank calls this);
    only the root rank prints and writes files.
    """
    fit_fn: Any = None
    root = True
    if distributed:  # the only difference: another fit, and output from rank 0 only
        from .. import distributed as dist

        fit_fn, root = dist.fit, dist.is_root()
    show = root and not quiet

    ds = load_dataset(cfg)
    if ds.task == "regression" and ds.y.ndim == 2:
        ds.target_names = ds.target_names[: ds.y.shape[1]]
    if cfg["dataset"] in ("csv", "npz"):
        cfg["task"] = ds.task
    labels = ds.y if ds.task == "classification" else None
    predefined = ds.X_test is not None
    try:
        s = datasets.split_indices(len(ds.X), val=cfg["val_split"],
                                   test=0.0 if predefined else cfg["test_split"],
                                   labels=labels, seed=cfg["seed"])
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if predefined:
        assert ds.X_test is not None and ds.y_test is not None
        X_test, y_test = ds.X_test, ds.y_test
    else:
        X_test, y_test = ds.X[s.test], ds.y[s.test]
    if len(X_test) == 0:
        raise CLIError("test_split: 0 leaves no test set for the report; use e.g. 0.2")
    X_train, y_train = ds.X[s.train], ds.y[s.train]

    net = build_network(cfg, ds)
    net.scaler = ds.fit_scaler(X_train)  # statistics of the training split only
    net.classes = ds.classes
    Y_train = encode_targets(net, y_train, ds.task)
    if ds.task == "regression":
        # Start the output at the targets' mean and spread, so the hidden layers learn
        # the shape rather than spending epochs on the scale of y.
        out_layer = net.dense_layers[-1]
        std = Y_train.std(axis=0)
        out_layer.w = out_layer.w * np.where(std > 0, std, 1.0)[:, None]
        if out_layer.b is not None:
            out_layer.b = Y_train.mean(axis=0)
    validation = None
    if s.val.size:
        validation = (ds.X[s.val], encode_targets(net, ds.y[s.val], ds.task))
    steps = math.ceil(len(X_train) / cfg["batch_size"])
    optimizer = make_optimizer(cfg, steps)

    callbacks: list[Callback] = []
    if show:
        print(_describe(ds, net, cfg, (s.train.size, s.val.size, len(X_test))), flush=True)
        callbacks.append(make_progress(is_tty() if live is None else live))
    if cfg["early_stopping"]:
        callbacks.append(EarlyStopping("val_loss" if validation else "loss",
                                       patience=cfg["early_stopping"]))
    kwargs = dict(epochs=cfg["epochs"], batch_size=cfg["batch_size"], optimizer=optimizer,
                  validation_data=validation, callbacks=callbacks)
    start = time.perf_counter()
    if fit_fn is None:
        history = net.fit(X_train, Y_train, **kwargs)
    else:
        history = fit_fn(net, X_train, Y_train, **kwargs)
    seconds = time.perf_counter() - start

    metrics = evaluate(net, X_test, y_test, ds.task, ds.classes)
    summary = {
        "config": cfg,
        "task": ds.task,
        "target_names": ds.target_names,
        "epochs_run": len(history.epoch),
        "final": {k: v[-1] for k, v in history.history.items()},
        "test": {k: v for k, v in metrics.items() if not isinstance(v, (list, dict))},
        "n_train": int(s.train.size), "n_val": int(s.val.size), "n_test": int(len(X_test)),
        "train_seconds": round(seconds, 3),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    run_dir = None
    if show:
        from ..report import format_report

        print()
        print(format_report(metrics), flush=True)
    if root:
        run_dir = _run_dir(out)
        save(net, run_dir / "model.safetensors", training=summary,
             feature_names=ds.feature_names)
        atomic_write_bytes(run_dir / "config.json", _json_bytes(cfg))
        atomic_write_bytes(run_dir / "history.csv", _history_csv(history))
        atomic_write_bytes(run_dir / "metrics.json", _json_bytes(
            {"test": metrics, **{k: v for k, v in summary.items() if k != "config"}}))
        written = _plots(net, history, ds, X_train, y_train, run_dir)
        if show:
            print(f"\nwrote {run_dir}/: {', '.join(written)}")
            print(f"next: chainrule evaluate {run_dir / 'model.safetensors'}")
    return TrainResult(net, history, metrics, cfg, run_dir)


def _plots(net: Network, history: History, ds: datasets.Dataset, X: np.ndarray,
           y: np.ndarray, run_dir: Path) -> list[str]:
    """Write the plots; a missing matplotlib is an error that names the extra."""
    from ..plots import plot_decision_regions, plot_history

    written = list(RUN_FILES[:-1])
    try:
        plot_history(history.history, run_dir / "curves.png", title=f"{ds.name}")
        written.append("curves.png")
        if ds.n_features == 2 and ds.task == "classification":
            plot_decision_regions(net, X, y, run_dir / "regions.png", ds.classes)
            written.append("regions.png")
    except ImportError as exc:
        raise CLIError(f"plots need matplotlib ({exc}); the model and the other files are in "
                       f"{run_dir}; install the plots with: pip install 'chainrule[cli]'"
                       ) from exc
    return written
