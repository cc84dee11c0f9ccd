"""``chainrule train``: load → split → build → fit → report → write, one small function
each, over a frozen :class:`~chainrule.cli.config.RunConfig`.

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
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .. import datasets
from ..callbacks import Callback, EarlyStopping, History
from ..io import atomic_write_bytes, save
from ..network import Network
from ..optimizers import Optimizer, get_optimizer
from ..schedules import Schedule, get_schedule
from . import CLIError
from .common import (
    build_network,
    describe_network,
    encode_targets,
    evaluate,
    is_tty,
    load_dataset,
)
from .config import (
    RunConfig,
    UsageError,
    _float_type,
    _int_type,
    add_data_arguments,
    add_network_arguments,
    add_training_arguments,
    usage_error,
)
from .progress import make_progress

RUN_FILES = ("model.safetensors", "config.json", "history.csv", "metrics.json", "curves.png")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Every setting is a flag; ``--config FILE.toml`` gives the same keys (flags win)."""
    add_data_arguments(p, defaults_from="digits")
    add_network_arguments(p)
    g = p.add_argument_group("training")
    add_training_arguments(g)
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
    try:
        cfg = RunConfig.from_args(args)
    except UsageError as exc:
        return usage_error(args, exc)
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
    #: The settings as written to config.json: the run configuration with the choices
    #: the data made (output activation, loss; the task of CSV/npz data) filled in.
    config: dict[str, Any]
    out: Path | None
    run_config: RunConfig | None = None


@dataclass(frozen=True)
class Splits:
    """The training, validation and test samples of one run (raw features, raw labels)."""

    X_train: NDArray
    y_train: NDArray
    X_val: NDArray
    y_val: NDArray
    X_test: NDArray
    y_test: NDArray

    @property
    def sizes(self) -> tuple[int, int, int]:
        return len(self.X_train), len(self.X_val), len(self.X_test)


@dataclass(frozen=True)
class Fitted:
    """What the fit stage returns: the history and the training time."""

    history: History
    seconds: float


def make_optimizer(cfg: RunConfig, steps_per_epoch: int) -> Optimizer:
    """The optimizer with its schedule; decaying schedules span the whole run."""
    total = max(1, cfg.epochs * steps_per_epoch)
    options: dict[str, dict[str, Any]] = {
        "constant": {},
        "step": {"step_size": max(1, total // 4), "gamma": 0.5},  # halve every quarter
        "exponential": {"decay_steps": total, "gamma": 0.1},  # ÷10 over the run
        "invscaling": {},
        "cosine": {"total_steps": total},
    }
    schedule: float | Schedule = cfg.lr if cfg.schedule == "constant" else get_schedule(
        cfg.schedule, cfg.lr, **options.get(cfg.schedule, {}))
    return get_optimizer(cfg.optimizer, lr=schedule)


def _run_dir(out: str | None) -> Path:
    try:
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
    except OSError as exc:
        raise CLIError(f"--out {exc.filename or out}: cannot create the run directory "
                       f"({exc.strerror or type(exc).__name__})") from None


def resolved_config(cfg: RunConfig, ds: datasets.Dataset, net: Network) -> RunConfig:
    """What config.json holds: a new configuration with what the data chose filled in
    (``cfg`` itself is left as it is), so ``chainrule train --config config.json`` reruns
    the same training."""
    return cfg.replace(task=ds.task if cfg.dataset in ("csv", "npz") else cfg.task,
                       output_activation=net.output_activation, loss=net.loss_fn.name)


def _describe(ds: datasets.Dataset, net: Network, cfg: RunConfig, n: tuple[int, ...]) -> str:
    what = (f"{len(ds.classes)} classes" if ds.classes is not None else
            f"{ds.n_outputs} target(s)")
    return (f"{ds.name}: {sum(n)} samples (train {n[0]}, val {n[1]}, test {n[2]}), "
            f"{ds.n_features} features, {what}\n"
            f"network {describe_network(net)}, {cfg.activation} → {net.output_activation}, "
            f"loss {net.loss_fn.name}, {cfg.optimizer} lr {cfg.lr:g} ({cfg.schedule}), "
            f"{cfg.epochs} epochs, batch {cfg.batch_size}, {cfg.dtype}")


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


# -- the stages --------------------------------------------------------------------------------
def load_data(cfg: RunConfig) -> datasets.Dataset:
    """Stage 1: the data set the configuration names."""
    ds = load_dataset(cfg)
    if ds.task == "regression" and ds.y.ndim == 2:
        ds.target_names = ds.target_names[: ds.y.shape[1]]
    return ds


def split(cfg: RunConfig, ds: datasets.Dataset) -> Splits:
    """Stage 2: the seeded (stratified) split; MNIST keeps its own test set."""
    labels = ds.y if ds.task == "classification" else None
    predefined = ds.X_test is not None
    try:
        s = datasets.split_indices(len(ds.X), val=cfg.val_split,
                                   test=0.0 if predefined else cfg.test_split,
                                   labels=labels, seed=cfg.seed)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if predefined:
        assert ds.X_test is not None and ds.y_test is not None
        X_test, y_test = ds.X_test, ds.y_test
    else:
        X_test, y_test = ds.X[s.test], ds.y[s.test]
    if len(X_test) == 0:
        raise CLIError("test_split: 0 leaves no test set for the report; use e.g. 0.2")
    return Splits(ds.X[s.train], ds.y[s.train], ds.X[s.val], ds.y[s.val], X_test, y_test)


def build(cfg: RunConfig, ds: datasets.Dataset, splits: Splits) -> Network:
    """Stage 3: the MLP, its scaler (training statistics only) and classes; for
    regression the output layer starts at the training targets' mean and spread."""
    net = build_network(cfg, ds)
    net.scaler = ds.fit_scaler(splits.X_train)
    net.classes = ds.classes
    if ds.task == "regression":
        net.init_output_from_targets(encode_targets(net, splits.y_train, ds.task))
    return net


def fit(cfg: RunConfig, net: Network, ds: datasets.Dataset, splits: Splits, *,
        callbacks: list[Callback], fit_fn: Any = None) -> Fitted:
    """Stage 4: train ``net`` on the training split (``fit_fn``: another fit, e.g. MPI)."""
    Y_train = encode_targets(net, splits.y_train, ds.task)
    validation = None
    if len(splits.X_val):
        validation = (splits.X_val, encode_targets(net, splits.y_val, ds.task))
    steps = math.ceil(len(splits.X_train) / cfg.batch_size)
    optimizer = make_optimizer(cfg, steps)
    if cfg.early_stopping:
        callbacks = [*callbacks, EarlyStopping("val_loss" if validation else "loss",
                                               patience=cfg.early_stopping)]
    # A batch larger than the training split is the whole split: the same steps, without
    # buffers sized for samples that do not exist.
    kwargs: dict[str, Any] = dict(
        epochs=cfg.epochs, batch_size=min(cfg.batch_size, len(splits.X_train)),
        optimizer=optimizer, validation_data=validation, callbacks=callbacks)
    start = time.perf_counter()
    if fit_fn is None:
        history = net.fit(splits.X_train, Y_train, **kwargs)
    else:
        history = fit_fn(net, splits.X_train, Y_train, **kwargs)
    return Fitted(history, time.perf_counter() - start)


def report(net: Network, ds: datasets.Dataset, splits: Splits, *, show: bool
           ) -> dict[str, Any]:
    """Stage 5: the test metrics, printed when ``show``."""
    metrics = evaluate(net, splits.X_test, splits.y_test, ds.task, ds.classes)
    if show:
        from ..report import format_report

        print()
        print(format_report(metrics), flush=True)
    return metrics


def summarize(config: dict[str, Any], ds: datasets.Dataset, splits: Splits, fitted: Fitted,
              metrics: dict[str, Any]) -> dict[str, Any]:
    """The training summary saved in the model (and, but for the config, metrics.json)."""
    history = fitted.history
    n_train, n_val, n_test = splits.sizes
    return {
        "config": config,
        "task": ds.task,
        "target_names": ds.target_names,
        "epochs_run": len(history.epoch),
        "final": {k: v[-1] for k, v in history.history.items()},
        "test": {k: v for k, v in metrics.items() if not isinstance(v, (list, dict))},
        "n_train": n_train, "n_val": n_val, "n_test": n_test,
        "train_seconds": round(fitted.seconds, 3),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def write(out: str | None, net: Network, ds: datasets.Dataset, splits: Splits,
          history: History, metrics: dict[str, Any], summary: dict[str, Any], *, show: bool
          ) -> Path:
    """Stage 6: the run directory (created only now, every file written atomically)."""
    run_dir = _run_dir(out)
    save(net, run_dir / "model.safetensors", training=summary, feature_names=ds.feature_names)
    atomic_write_bytes(run_dir / "config.json", _json_bytes(summary["config"]))
    atomic_write_bytes(run_dir / "history.csv", _history_csv(history))
    atomic_write_bytes(run_dir / "metrics.json", _json_bytes(
        {"test": metrics, **{k: v for k, v in summary.items() if k != "config"}}))
    written = _plots(net, history, ds, splits.X_train, splits.y_train, run_dir)
    if show:
        print(f"\nwrote {run_dir}/: {', '.join(written)}")
        print(f"next: chainrule evaluate {run_dir / 'model.safetensors'}")
    return run_dir


def train(cfg: RunConfig | Mapping[str, Any], *, out: str | None = None, quiet: bool = False,
          distributed: bool = False, live: bool | None = None) -> TrainResult:
    """One training run: load → split → build → fit → report → write.

    ``cfg`` is a :class:`RunConfig` (a mapping with its keys is validated into one).
    With ``distributed`` the fit runs data-parallel over MPI (every rank calls this);
    only the root rank prints and writes files.
    """
    if not isinstance(cfg, RunConfig):
        cfg = RunConfig.from_mapping(cfg)
    fit_fn: Any = None
    root = True
    if distributed:  # the only difference: another fit, and output from rank 0 only
        from .. import distributed as dist

        fit_fn, root = dist.fit, dist.is_root()
    show = root and not quiet

    ds = load_data(cfg)
    splits = split(cfg, ds)
    net = build(cfg, ds, splits)
    callbacks: list[Callback] = []
    if show:
        print(_describe(ds, net, cfg, splits.sizes), flush=True)
        callbacks.append(make_progress(is_tty() if live is None else live))
    fitted = fit(cfg, net, ds, splits, callbacks=callbacks, fit_fn=fit_fn)
    metrics = report(net, ds, splits, show=show)
    config = resolved_config(cfg, ds, net).to_dict()
    summary = summarize(config, ds, splits, fitted, metrics)
    run_dir = write(out, net, ds, splits, fitted.history, metrics, summary,
                    show=show) if root else None
    return TrainResult(net, fitted.history, metrics, config, run_dir, cfg)


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
