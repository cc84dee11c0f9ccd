"""The network a run builds for its data (the output layer and loss the data decide), the
targets in the network's terms, and the test metrics of a trained network."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..datasets import Dataset
from ..engine import workspace
from ..engine.losses import Loss, get_loss
from ..engine.network import MLP, Network
from ..engine.workspace import row_bytes as row_bytes
from ..io.safetext import name_list, quoted
from .config import RunConfig
from .errors import RunError


@dataclass(frozen=True)
class Outputs:
    """What the data decides about the output layer: units, activation g^(L) and loss."""

    n_out: int
    activation: str
    loss: Loss


def resolve_outputs(cfg: RunConfig, ds: Dataset) -> Outputs:
    """Output units, output activation and loss for this data: the defaults filled in.

    Classification: cross_entropy with its canonical softmax (δ^(L) = a − y); a loss
    whose outputs are independent yes/no answers (binary_cross_entropy) on two classes
    uses one unit with its canonical sigmoid. Regression: identity + mse. Which is which
    comes from the Loss object (``classification``, ``independent_outputs``,
    ``canonical_activation``), never from its name.
    """
    loss = get_loss(cfg.loss) if cfg.loss is not None else None
    if ds.task == "classification":
        assert ds.classes is not None
        if len(ds.classes) < 2:
            raise RunError(f"{ds.name}: only one class ({ds.classes[0]!r}) in the target; "
                           "classification needs at least two")
        if loss is not None and loss.independent_outputs:
            if len(ds.classes) != 2:
                raise RunError(f"loss {loss.name}: needs 2 classes, {ds.name} has "
                               f"{len(ds.classes)}; use cross_entropy")
            return Outputs(1, cfg.output_activation or loss.canonical_activation or "sigmoid",
                           loss)
        loss = loss or get_loss("cross_entropy")
        return Outputs(len(ds.classes),
                       cfg.output_activation or loss.canonical_activation or "softmax", loss)
    if loss is not None and loss.classification:
        raise RunError(f"loss {loss.name}: is for classes, but {ds.name} is a regression task; "
                       "use mse, squared_error or huber (or --task classification)")
    return Outputs(ds.n_outputs, cfg.output_activation or "identity", loss or get_loss("mse"))


def build_network(cfg: RunConfig, ds: Dataset) -> Network:
    """The MLP of a configuration, for this data set's inputs and outputs (its output
    activation and loss, chosen by :func:`resolve_outputs`, are the network's own:
    ``net.output_activation``, ``net.loss_fn``).

    ``ensemble`` K (or ``cv`` K folds) stacks K members into one batched network
    (:class:`~chainrule.engine.ensemble.Ensemble`); ``embeddings`` puts the table's learned
    input layers (:func:`~chainrule.engine.embeddings.table_input_layers`) before the first
    Dense layer.
    """
    out = resolve_outputs(cfg, ds)
    members = cfg.folds or cfg.ensemble
    try:
        front = input_layers(cfg, ds)
        width = front[-1].n_out if front else ds.n_features
        mlp = MLP([width, *cfg.hidden, out.n_out], hidden=cfg.activation,
                  output=out.activation, loss=out.loss.name, dropout=cfg.dropout, seed=cfg.seed,
                  dtype=cfg.dtype, l2=cfg.l2, ensemble=max(1, members))
        if not front:
            return mlp
        return Network([*front, *mlp.layers], loss=mlp.loss_fn, dtype=mlp.dtype,
                       seed=cfg.seed, l2=cfg.l2)
    except ValueError as exc:
        raise RunError(str(exc)) from None


def input_layers(cfg: RunConfig, ds: Dataset) -> list[Any]:
    """The learned input layers ``cfg.embeddings`` asks for (none: []), for the table
    encoder's columns: a lookup per coded category column and/or periodic features of the
    number columns."""
    if cfg.embeddings == "none" or ds.encoder is None:
        return []
    from ..engine.embeddings import table_input_layers

    enc = ds.encoder
    codes = enc.code_columns() if cfg.embeddings in ("categorical", "both") else []
    numbers = enc.numeric_columns() if cfg.embeddings in ("periodic", "both") else []
    return list(table_input_layers(enc.n_out, codes, numbers,
                                   periodic=cfg.embeddings in ("periodic", "both")))


def describe_network(net: Network) -> str:
    """``64-128-64-10``."""
    return "-".join(str(s) for s in [net.n_in, *(d.n_out for d in net.dense_layers)])


def encode_targets(net: Network, y: NDArray, task: str) -> NDArray:
    """Targets in the network's terms: values for regression; for classes, a 0/1 column
    for one unit, class indices for a loss over mutually exclusive classes (the network
    one-hot encodes them), one-hot rows for any other loss."""
    if task == "regression":
        return y.reshape(y.shape[0], -1)
    if net.n_out == 1:
        return y.astype(np.float64).reshape(-1, 1)
    loss = net.loss_fn
    if loss.classification and not loss.independent_outputs:
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
            raise RunError(f"{ds.name}: class {quoted(c)} is not one the model knows "
                           f"({name_list(model_classes)})")
        index.append(lookup[key])
    return np.asarray(index, dtype=np.int64)[y]


def class_probabilities(net: Network, A: NDArray, n_classes: int) -> NDArray | None:
    """The network's outputs ``A`` as class probabilities (n, n_classes): a softmax layer's
    rows, or [1 − a, a] for one sigmoid unit on two classes; None for outputs that are not
    probabilities (e.g. identity units under squared error)."""
    A = np.asarray(A, dtype=np.float64)
    if not np.all(np.isfinite(A)) or A.size == 0 or A.min() < 0 or A.max() > 1:
        return None
    if n_classes == 2 and A.shape[1] == 1 and net.loss_fn.independent_outputs:
        return np.hstack([1 - A, A])
    if A.shape[1] == n_classes and np.allclose(A.sum(axis=1), 1.0, atol=1e-5):
        return A
    return None


#: The memory a command on a saved model may spend on one batch's activations (every
#: layer's z and a): a network read from a file decides the widths, so the rows of a batch
#: are chosen, or checked, against this before anything is allocated.
ACTIVATION_BUDGET = 64 * 2**20


def rows_within_budget(net: Network, budget: int = ACTIVATION_BUDGET) -> int:
    """The most samples one batch through ``net`` may hold within ``budget`` bytes."""
    return workspace.rows_within_budget(net, budget)


def evaluate(net: Network, X: NDArray, y: NDArray, task: str,
             classes: list[Any] | None, *, y_train: NDArray | None = None) -> dict[str, Any]:
    """Test-set metrics (see :mod:`chainrule.report`); with ``y_train`` (in the model's
    terms) the learned-nothing baseline beside them."""
    from ..health.report import check_finite_outputs, classification_metrics, regression_metrics

    with np.errstate(all="ignore"):  # an overflow is reported below, by rows, not as warnings
        A = np.asarray(net.predict(X, batch_size=min(4096, rows_within_budget(net)),
                                   allow_nonfinite=True))
    check_finite_outputs(A, "evaluate", rows="samples", first=0)
    if task == "classification":
        assert classes is not None
        return classification_metrics(y, net.classes_of(A), classes,
                                      proba=class_probabilities(net, A, len(classes)),
                                      y_train=y_train)
    return regression_metrics(y, A, y_train=y_train)
