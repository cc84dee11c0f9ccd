"""The stages of a training run, one small function each, over a frozen
:class:`~chainrule.runs.config.RunConfig`: load → split → build (→ the learning-rate
range test for ``lr = "auto"``) → fit (:mod:`chainrule.runs.fitting`) → report → write
(:mod:`chainrule.runs.output`). :func:`chainrule.runs.train` runs them in a run
directory; each can be called alone (``chainrule lr-find`` runs load, split and build).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .. import datasets
from ..engine.network import Network
from ..health.lr_find import LRFindResult, lr_find
from ..io.safetext import quoted
from ..table import Table
from ..table.leaks import likely_leaks
from ..training.callbacks import History
from .config import AUTO, RunConfig
from .crossval import fold_metrics, run_folds
from .data import fit_encoder, load_dataset
from .errors import RunError
from .network import build_network, encode_targets, evaluate
from .recipe import AUTO_LABEL_SMOOTHING, auto_folds, batch_size_for
from .reporter import Reporter


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
    """What the fit stage returns: the whole run's history and training time (seconds;
    a resumed run's include the epochs before the interruption)."""

    history: History
    seconds: float
    #: (monitor, value) of the epoch whose weights early stopping restored (the saved
    #: model's epoch), or None when the network ends with its last epoch's weights
    kept: tuple[str, float] | None = None


def learning_rate(cfg: RunConfig) -> float:
    """``cfg.lr`` as a number (``"auto"`` is resolved by :func:`auto_lr` before this)."""
    if isinstance(cfg.lr, str):
        raise RunError(f"lr {cfg.lr}: resolve it first (chainrule.runs.stages.auto_lr)")
    return float(cfg.lr)


def batch_size_of(cfg: RunConfig) -> int:
    """``cfg.batch_size`` as a number (``"auto"`` is resolved by :func:`resolve_auto`)."""
    if isinstance(cfg.batch_size, str):
        raise RunError(f"batch_size {cfg.batch_size}: resolve it first "
                       "(chainrule.runs.stages.resolve_auto)")
    return int(cfg.batch_size)


def label_smoothing(cfg: RunConfig, task: str) -> float:
    """``cfg.label_smoothing`` as a number for a ``task`` run."""
    if isinstance(cfg.label_smoothing, str):
        return AUTO_LABEL_SMOOTHING if task == "classification" else 0.0
    return float(cfg.label_smoothing)


def resolve_auto(cfg: RunConfig, ds: datasets.Dataset, splits: Splits, *,
                 folds: bool = True) -> RunConfig:
    """The settings that say ``"auto"`` chosen from the data (``lr`` aside:
    :func:`auto_lr`): ``batch_size`` from the training rows
    (:func:`~chainrule.runs.recipe.batch_size_for`), ``label_smoothing`` from the task
    (:data:`~chainrule.runs.recipe.AUTO_LABEL_SMOOTHING` for classes, 0 for values),
    ``cv`` from the validation split (:func:`~chainrule.runs.recipe.auto_folds`; 0 where
    members cannot train: ``folds`` False, an ensemble).

    Raises
    ------
    RunError
        A label smoothing above 0 asked for a regression task.
    """
    changes: dict[str, Any] = {}
    if isinstance(cfg.batch_size, str):
        changes["batch_size"] = batch_size_for(len(splits.X_train))
    if isinstance(cfg.label_smoothing, str):
        changes["label_smoothing"] = label_smoothing(cfg, ds.task)
    elif cfg.label_smoothing > 0 and ds.task != "classification":
        raise RunError(f"label_smoothing {cfg.label_smoothing:g}: smooths one-hot class "
                       f"targets, and this is {ds.task} data; leave --label-smoothing out")
    if isinstance(cfg.cv, str):
        able = folds and cfg.ensemble == 1  # members own their input layers too
        changes["cv"] = auto_folds(len(splits.X_train), len(splits.X_val)) if able else 0
    return cfg.replace(**changes) if changes else cfg


def resolved_config(cfg: RunConfig, ds: datasets.Dataset, net: Network) -> RunConfig:
    """What config.json holds: a new configuration with what the data chose filled in
    (``cfg`` itself is left as it is), so ``chainrule train --config config.json`` reruns
    the same training."""
    return cfg.replace(task=ds.task if cfg.dataset in ("csv", "npz") else cfg.task,
                       output_activation=net.output_activation, loss=net.loss_fn.name)


# -- the stages --------------------------------------------------------------------------------
def load_data(cfg: RunConfig) -> datasets.Dataset:
    """Stage 1: the data set the configuration names."""
    ds = load_dataset(cfg)
    if ds.task == "regression" and ds.y.ndim == 2:
        ds.target_names = ds.target_names[: ds.y.shape[1]]
    return ds


def split(cfg: RunConfig, ds: datasets.Dataset) -> Splits:
    """Stage 2: the seeded (stratified) split; MNIST keeps its own test set. A table
    (CSV) is encoded here, by a :class:`~chainrule.table.TableEncoder` fitted on the
    training rows."""
    labels = ds.y if ds.task == "classification" else None
    predefined = ds.X_test is not None
    try:
        s = datasets.split_indices(len(ds.X), val=cfg.val_split,
                                   test=0.0 if predefined else cfg.test_split,
                                   labels=labels, seed=cfg.seed)
    except ValueError as exc:
        raise RunError(str(exc)) from None
    if ds.table is not None:  # learned from the training rows only: no leakage
        train = ds.table.take(s.train)
        ds.encode(fit_encoder(cfg, train), np.dtype(cfg.dtype))
        ds.notes += [f"warning: {line}" for line in leaks(cfg, train, ds.y[s.train], ds.task)]
    if predefined:
        assert ds.X_test is not None and ds.y_test is not None
        X_test, y_test = ds.X_test, ds.y_test
    else:
        X_test, y_test = ds.X[s.test], ds.y[s.test]
    if len(X_test) == 0 and cfg.test_split > 0:
        raise RunError(f"test_split: {cfg.test_split:g} of {len(ds.X)} samples leaves no test "
                       "set for the report; use a larger fraction (or 0: train without a "
                       "test report)")
    return Splits(ds.X[s.train], ds.y[s.train], ds.X[s.val], ds.y[s.val], X_test, y_test)


def leaks(cfg: RunConfig, train: Table, y_train: NDArray, task: str) -> list[str]:
    """The columns (not dropped) that predict the training target almost perfectly, or
    whose missing cells do (:func:`chainrule.table.leaks.likely_leaks`): one line each,
    printed in the run's header, each naming ``--drop COLUMN``."""
    if y_train.ndim != 1 or task not in ("classification", "regression"):
        return []
    kept = [name for name in train.names if name not in cfg.drop]
    return likely_leaks(train.select(kept), y_train, task, target=repr(cfg.target))


def build(cfg: RunConfig, ds: datasets.Dataset, splits: Splits) -> Network:
    """Stage 3: the MLP, its scaler (training statistics only) and classes; for
    regression the output layer starts at the training targets' mean and spread."""
    net = build_network(cfg, ds)
    net.encoder = ds.encoder
    net.scaler = (ds.encoder.standardizer(splits.X_train) if ds.encoder is not None
                  else ds.fit_scaler(splits.X_train))
    net.classes = ds.classes
    if ds.task == "regression":
        net.init_output_from_targets(encode_targets(net, splits.y_train, ds.task))
    return net


def auto_lr(cfg: RunConfig, net: Network, ds: datasets.Dataset, splits: Splits, *,
            reporter: Reporter | None = None) -> RunConfig:
    """Stage 3½ (``--lr auto``): the range test on the training split, with this network
    and this optimizer kind (``net`` itself is left as it was); the configuration with
    the suggested rate. Any other ``cfg`` comes back as it is."""
    if cfg.lr != AUTO:
        return cfg
    result = range_test(cfg, net, ds, splits)
    if reporter is not None:
        reporter.lr_found(cfg, result)
    return cfg.replace(lr=float(result.suggestion))


def range_test(cfg: RunConfig, net: Network, ds: datasets.Dataset, splits: Splits, *,
               start: float = 1e-7, end: float = 10.0, steps: int = 100) -> LRFindResult:
    """:func:`chainrule.lr_find.lr_find` on the training split, as ``train`` would train
    it (same encoding of the targets, same batch size, same optimizer kind)."""
    Y_train = encode_targets(net, splits.y_train, ds.task)
    try:
        return lr_find(net, splits.X_train, Y_train, start=start, end=end, steps=steps,
                       batch_size=min(batch_size_of(cfg), len(splits.X_train)),
                       optimizer=cfg.optimizer)
    except ValueError as exc:  # e.g. the loss diverged within the first steps
        raise RunError(str(exc)) from None


def report(net: Network, ds: datasets.Dataset, splits: Splits) -> dict[str, Any]:
    """Stage 5: the test metrics (:mod:`chainrule.health.report`), with the learned-nothing
    baseline of the training targets beside them; ``{}`` without a test split
    (``--test-split 0``: every row but the validation ones trains, e.g. one fold of a
    cross-validation scored by ``chainrule predict``)."""
    if len(splits.X_test) == 0:
        return {}
    return evaluate(net, splits.X_test, splits.y_test, ds.task, ds.classes,
                    y_train=splits.y_train)


def cross_validation(cfg: RunConfig, net: Network, ds: datasets.Dataset, splits: Splits
                     ) -> dict[str, Any] | None:
    """``--cv K``: every member scored on its own fold of the training rows
    (:func:`~chainrule.runs.crossval.fold_metrics`); None without ``cv``."""
    if not cfg.folds:
        return None
    folds = run_folds(cfg.folds, splits.y_train, ds.task, cfg.seed)
    return fold_metrics(net, splits.X_train, splits.y_train, folds, ds.task, ds.classes)


def baseline_verdict(metrics: dict[str, Any]) -> str | None:
    """Whether the test metric loses to (or only ties) the learned-nothing baseline
    beside it (the training split's majority class, or its mean): the warning to print,
    None when the model beats it. Sets ``metrics["loses_to_baseline"]`` (metrics.json).

    A model that does no better than always predicting one class is never saved
    silently: on two small real tables the run's last epoch scored 0.652 where the
    majority class scored 0.717.
    """
    base = metrics.get("baseline")
    if not base:
        return None
    key = "accuracy" if metrics.get("task") == "classification" else "r2"
    model, baseline = float(metrics[key]), float(base[key])
    metrics["loses_to_baseline"] = model <= baseline
    if model > baseline:
        return None
    name = "accuracy" if key == "accuracy" else "R²"
    predicts = (f"always predicting {quoted(base['predicts'])}" if key == "accuracy"
                else f"predicting {base['predicts']}")
    how = "LOSES to" if model < baseline else "does NO BETTER than"
    return (f"the model {how} the baseline: test {name} {model:.4f} vs {baseline:.4f} for "
            f"{predicts}; it learned nothing usable from the features — check the target "
            "and the columns, or train longer (--epochs) or differently (--recipe)")


def table_of(ds: datasets.Dataset) -> dict[str, Any]:
    """``{"table": {"path", "size", "sha256"}}`` of a table read from a file (its absolute
    path and fingerprint: a command that rebuilds the data checks it), else nothing."""
    source = getattr(ds, "source", None) or {}
    return {"table": source["table"]} if "table" in source else {}


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
        **({"cv": metrics["cv"]} if "cv" in metrics else {}),
        "n_train": n_train, "n_val": n_val, "n_test": n_test,
        **table_of(ds),
        "train_seconds": round(fitted.seconds, 3),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


__all__ = [
    "Fitted", "Splits", "auto_lr", "baseline_verdict", "batch_size_of", "build",
    "cross_validation", "label_smoothing",
    "learning_rate", "load_data", "range_test", "report", "resolve_auto", "resolved_config",
    "split", "summarize", "table_of",
]
