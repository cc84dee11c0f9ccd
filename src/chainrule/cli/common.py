"""What several subcommands share: loading the configured data, the held-out test split,
building the network, targets in the network's terms, evaluation, terminal detection.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .. import datasets
from ..datasets import Dataset
from ..network import MLP, Network
from . import CLIError


# -- data ----------------------------------------------------------------------------------
def load_dataset(cfg: dict[str, Any]) -> Dataset:
    """The data set a (validated) configuration names."""
    name = cfg["dataset"]
    if name == "csv":
        return datasets.load("csv", path=cfg["csv"], target=cfg["target"], task=cfg["task"])
    if name == "npz":
        return datasets.load("npz", path=cfg["npz"], task=cfg["task"])
    if name == "mnist":
        return datasets.load("mnist", data_dir=cfg["data_dir"])
    if name == "digits":
        return datasets.load("digits")
    return datasets.load(name, n_samples=cfg["n_samples"], noise=cfg["noise"], seed=cfg["seed"])


def test_split_of(ds: Dataset, cfg: dict[str, Any]) -> tuple[NDArray, NDArray]:
    """The test samples the training run held out (same seed, same fractions)."""
    if ds.X_test is not None and ds.y_test is not None:
        return ds.X_test, ds.y_test
    labels = ds.y if ds.task == "classification" else None
    s = datasets.split_indices(len(ds.X), val=cfg["val_split"], test=cfg["test_split"],
                               labels=labels, seed=cfg["seed"])
    return ds.X[s.test], ds.y[s.test]


# -- networks ------------------------------------------------------------------------------
def resolve_outputs(cfg: dict[str, Any], ds: Dataset) -> tuple[int, str, str]:
    """Output units, output activation and loss for this data: the defaults filled in.

    Classification: softmax + cross_entropy (δ^(L) = a − y); a binary_cross_entropy loss
    on two classes uses one sigmoid unit. Regression: identity + mse.
    """
    out_act, loss = cfg["output_activation"], cfg["loss"]
    if ds.task == "classification":
        assert ds.classes is not None
        if len(ds.classes) < 2:
            raise CLIError(f"{ds.name}: only one class ({ds.classes[0]!r}) in the target; "
                           "classification needs at least two")
        if loss == "binary_cross_entropy":
            if len(ds.classes) != 2:
                raise CLIError(f"loss binary_cross_entropy: needs 2 classes, {ds.name} has "
                               f"{len(ds.classes)}; use cross_entropy")
            return 1, out_act or "sigmoid", loss
        return len(ds.classes), out_act or "softmax", loss or "cross_entropy"
    if loss in ("cross_entropy", "binary_cross_entropy"):
        raise CLIError(f"loss {loss}: is for classes, but {ds.name} is a regression task; "
                       "use mse, squared_error or huber (or --task classification)")
    return ds.n_outputs, out_act or "identity", loss or "mse"


def build_network(cfg: dict[str, Any], ds: Dataset) -> Network:
    """The MLP of a resolved configuration, for this data set's inputs and outputs."""
    n_out, out_act, loss = resolve_outputs(cfg, ds)
    cfg["output_activation"], cfg["loss"] = out_act, loss
    try:
        return MLP([ds.n_features, *cfg["hidden"], n_out], hidden=cfg["activation"],
                   output=out_act, loss=loss, dropout=cfg["dropout"], seed=cfg["seed"],
                   dtype=cfg["dtype"], l2=cfg["l2"])
    except ValueError as exc:
        raise CLIError(str(exc)) from None


def encode_targets(net: Network, y: NDArray, task: str) -> NDArray:
    """Targets in the network's terms: class indices for cross_entropy, a 0/1 column for
    one sigmoid unit, one-hot rows for other losses on classes, values for regression."""
    if task == "regression":
        return y.reshape(y.shape[0], -1)
    if net.n_out == 1:
        return y.astype(np.float64).reshape(-1, 1)
    if net.loss_fn.name == "cross_entropy":
        return y
    return np.eye(net.n_out)[y]


def map_labels(ds: Dataset, y: NDArray, model_classes: list[Any]) -> NDArray[np.int64]:
    """The data set's class indices as indices into the model's classes."""
    assert ds.classes is not None
    lookup = {json.dumps(c): i for i, c in enumerate(model_classes)}
    index = []
    for c in ds.classes:
        key = json.dumps(c.item() if isinstance(c, np.generic) else c)
        if key not in lookup:
            raise CLIError(f"{ds.name}: class {c!r} is not one the model knows "
                           f"({', '.join(map(str, model_classes))})")
        index.append(lookup[key])
    return np.asarray(index, dtype=np.int64)[y]


def evaluate(net: Network, X: NDArray, y: NDArray, task: str,
             classes: list[Any] | None) -> dict[str, Any]:
    """Test-set metrics (see :mod:`chainrule.report`)."""
    from ..report import classification_metrics, regression_metrics

    if task == "classification":
        assert classes is not None
        return classification_metrics(y, net.predict_classes(X), classes)
    return regression_metrics(y, net.predict(X))


def is_tty() -> bool:
    """Whether stdout is a terminal (live progress) rather than a file or CI log."""
    return bool(getattr(sys.stdout, "isatty", lambda: False)())
