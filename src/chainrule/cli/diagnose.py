"""``chainrule diagnose MODEL``: why isn't it learning? A few training steps on a copy of
a saved model under the health monitor (:func:`chainrule.diagnosis.diagnose`), then the
verdicts in the notes' terms.

The data is chosen as ``evaluate`` chooses it: without data flags the model's own
training data, with data flags that data. The copy trains on the training side of the
split (the samples the run trained on) and is validated on the held-out test split, for
the overfitting rule. The model file is not changed. Exit status 0 whatever the verdict:
the report is the output.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from numpy.typing import NDArray

from .. import datasets
from ..datasets import Dataset
from ..engine.network import Network
from ..io.model import read_model
from ..runs.network import ACTIVATION_BUDGET, row_bytes, rows_within_budget
from . import CLIError
from .common import encode_targets, load_model_data, model_data_config, model_labels
from .config import (
    RunConfig,
    UsageError,
    _int_type,
    add_data_arguments,
    usage_error,
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="a model.safetensors file")
    add_data_arguments(p, defaults_from="the model's training data")
    p.add_argument("--steps", type=_int_type(1, "a positive integer"), default=50, metavar="N",
                   help="training steps of the copy under the monitor (default 50)")
    p.add_argument("--batch-size", type=_int_type(1, "a positive integer"), default=None,
                   metavar="N", help="samples per step (default: the model's, else 32)")
    p.add_argument("--seed", type=_int_type(0, "a non-negative integer", 2**63 - 1),
                   default=None, help="seed of the split (default: saved)")


def sides(ds: Dataset, cfg: RunConfig) -> tuple[NDArray, NDArray, NDArray, NDArray]:
    """The training split and the held-out test split of ``ds`` (the seed and fractions
    of ``cfg``, as ``train`` split it; MNIST keeps its own test set)."""
    labels = ds.y if ds.task == "classification" else None
    if ds.X_test is not None and ds.y_test is not None:
        s = datasets.split_indices(len(ds.X), val=cfg.val_split, test=0.0, labels=labels,
                                   seed=cfg.seed)
        return ds.X[s.train], ds.y[s.train], ds.X_test, ds.y_test
    try:
        s = datasets.split_indices(len(ds.X), val=cfg.val_split, test=cfg.test_split,
                                   labels=labels, seed=cfg.seed)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    return ds.X[s.train], ds.y[s.train], ds.X[s.test], ds.y[s.test]


def targets(net: Network, ds: Dataset, y: NDArray, model: str) -> NDArray:
    """``y`` in the model's terms (its class indices, encoded as its loss takes them)."""
    return encode_targets(net, model_labels(net, ds, y, model, "diagnosed"), ds.task)


def check_batch(net: Network, batch: int, args: argparse.Namespace) -> None:
    """Refuse a batch whose activations through the saved network (its widths come from
    the file) would take more than :data:`~chainrule.runs.network.ACTIVATION_BUDGET`;
    training keeps about three times one forward pass (z, a and δ, with the gradients)."""
    rows = max(1, rows_within_budget(net) // 3)
    if batch > rows:
        given = "--batch-size" if args.batch_size else "the model's batch_size"
        raise CLIError(f"{args.model}: a batch of {batch:,} samples through layers of "
                       f"{row_bytes(net) // 2:,} bytes per sample needs over "
                       f"{ACTIVATION_BUDGET // 2**20} MB of activations ({given}); pass "
                       f"--batch-size N with N at most {rows:,}")


def run(args: argparse.Namespace) -> int:
    from ..health.diagnosis import diagnose

    loaded = read_model(args.model)
    net = loaded.net
    source: dict[str, Any] | None = loaded.training.get("config")
    try:
        cfg, _ = model_data_config(args, args.model, source, loaded.training.get("table"))
    except UsageError as exc:
        return usage_error(args, exc)
    if source:  # the fractions the model was trained with
        cfg = cfg.replace(**{k: source[k] for k in ("val_split", "test_split") if k in source})
    saved = (source or {}).get("batch_size")
    batch_size = args.batch_size or (saved if isinstance(saved, int) else 32)
    ds = load_model_data(cfg, loaded.net, loaded.feature_names)
    X_train, y_train, X_test, y_test = sides(ds, cfg)
    if len(X_train) == 0:
        raise CLIError(f"{ds.name}: no training samples left after the split")
    check_batch(net, min(batch_size, len(X_train)), args)
    # --steps bounds the work whatever the data's size: the copy trains one epoch of
    # steps × batch samples at most (the split is shuffled, so its first rows are a sample)
    # and is validated on as many test samples, within the activation budget.
    most = args.steps * min(batch_size, len(X_train))
    X_train, y_train = X_train[:most], y_train[:most]
    n_val = min(most, rows_within_budget(net))
    X_test, y_test = X_test[:n_val], y_test[:n_val]
    Y_train = targets(net, ds, y_train, args.model)
    validation = (X_test, targets(net, ds, y_test, args.model)) if len(X_test) else None
    diagnosis = diagnose(net, X_train, Y_train, steps=args.steps,
                         batch_size=min(batch_size, len(X_train)), validation_data=validation)
    batch = min(batch_size, len(X_train))
    epochs = max(1, math.ceil(args.steps * batch / len(X_train)))  # as diagnose() runs them
    steps = epochs * math.ceil(len(X_train) / batch)
    print(f"{args.model} on {ds.name}: a copy trained {steps} steps ({epochs} epoch"
          f"{'s' if epochs > 1 else ''} of {len(X_train)} training samples, batch {batch}; "
          f"validation: {len(X_test)} test samples), {len(diagnosis.checks)} health checks")
    print(diagnosis.report())
    return 0
