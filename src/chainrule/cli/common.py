"""What several subcommands share: loading the configured data, the held-out test split,
building the network, targets in the network's terms, evaluation, terminal detection.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .. import datasets
from ..datasets import Dataset
from ..datasets.csvfile import DataFileError
from ..datasets.tabular import match_columns, numeric_matrix, read_features_table
from ..engine.losses import Loss, get_loss
from ..engine.network import MLP, Network
from ..table import Table, TableEncoder, TableError
from . import CLIError
from .config import RunConfig

# -- data ----------------------------------------------------------------------------------
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # an .npz is a zip archive (or an empty one)
#: How a file numpy.load reads without pickles starts: an .npy array or an .npz archive.
NUMPY_MAGIC = (b"\x93NUMPY", *_ZIP_MAGIC)


def check_input_file(path: str, what: str, *, magic: tuple[bytes, ...] = (),
                     expected: str = "") -> None:
    """Refuse, in one line, a data file that is a directory, cannot be read, or (with
    ``magic``) does not start like the format it should have. A missing file is left to
    the loader, which says so."""
    p = Path(path)
    if p.is_dir():
        raise CLIError(f"{p}: is a directory; expected {what}")
    if not p.exists():
        return
    try:
        with open(p, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise CLIError(f"{p}: cannot read the file ({exc.strerror or type(exc).__name__}); "
                       "check that it exists and that you may read it") from None
    if magic and not any(head.startswith(m) for m in magic):
        raise CLIError(f"{p}: not {expected}; expected {what}")


def load_dataset(cfg: RunConfig) -> Dataset:
    """The data set a (validated) configuration names."""
    name = cfg.dataset
    try:
        if name == "csv":
            assert cfg.csv is not None
            check_input_file(cfg.csv, "a CSV file with a header row")
            return datasets.load("csv", path=cfg.csv, target=cfg.target, task=cfg.task)
        if name == "npz":
            assert cfg.npz is not None
            check_input_file(cfg.npz, "an .npz file (numpy.savez) with arrays X and y",
                             magic=_ZIP_MAGIC, expected="an .npz (zip) archive")
            return datasets.load("npz", path=cfg.npz, task=cfg.task)
        if name == "mnist":
            return datasets.load("mnist", data_dir=cfg.data_dir)
        if name == "digits":
            return datasets.load("digits")
        return datasets.load(name, n_samples=cfg.n_samples, noise=cfg.noise, seed=cfg.seed)
    except (PermissionError, IsADirectoryError) as exc:
        where = exc.filename or cfg.csv or cfg.npz or cfg.data_dir or name
        raise CLIError(f"{where}: cannot read the file ({exc.strerror or exc}); check that "
                       "you may read it") from None


def fit_encoder(cfg: RunConfig, train: Table) -> TableEncoder:
    """The table encoder of ``cfg``'s ``drop``/``categorical``/``numeric``, fitted on the
    training rows ``train``; a table it cannot encode is a :class:`CLIError` naming the
    file."""
    try:
        return TableEncoder(drop=cfg.drop, categorical=cfg.categorical,
                            numeric=cfg.numeric).fit(train)
    except TableError as exc:
        raise CLIError(f"{cfg.csv}: {exc}") from None


def load_model_data(cfg: RunConfig, net: Network, feature_names: list[str] | None
                    ) -> Dataset:
    """The data a saved model is run on, its CSV columns matched to the model's
    ``feature_names`` **by name**, never by position: columns in another order are
    reordered, extra columns are ignored (named once, on stderr), a missing one is refused
    naming it; then encoded by the model's table encoder (or, for a model without one,
    taken as numbers)."""
    ds = load_dataset(cfg)
    if ds.table is None:
        return ds
    path = ds.source["csv"]
    names = feature_names or ds.table.names
    _, missing, extra = match_columns(ds.table.names, names)
    if net.encoder is not None:  # columns the encoder dropped were seen, not new
        extra = [name for name in extra if name not in net.encoder.dropped]
    if missing:
        raise CLIError(f"{path}: missing feature column(s) {', '.join(map(repr, missing))}; "
                       f"the model was trained on columns {', '.join(map(repr, names))}")
    if extra:
        print(f"{path}: ignored column(s) the model was not trained on: "
              f"{', '.join(map(repr, extra))}", file=sys.stderr)
    if net.encoder is not None:
        encoded = net.encoder.encode(ds.table, net.dtype)
        ds.X, ds.encoder, ds.feature_names = encoded.X, net.encoder, net.encoder.names
        for note in encoded.notes:
            print(f"{path}: {note}", file=sys.stderr)
        return ds
    try:
        ds.X = numeric_matrix(ds.table.select(names), path)
    except DataFileError as exc:
        raise CLIError(str(exc)) from None
    ds.feature_names = list(names)
    return ds


def model_features(net: Network, path: str, feature_names: list[str] | None
                   ) -> NDArray[np.floating]:
    """The features of the CSV ``path`` for a saved model: columns by name, encoded by
    the model's table encoder (cells it had to fill in or did not know are named on
    stderr), or taken as numbers for a model without one."""
    notes: list[str] = []
    try:
        if net.encoder is None:
            return numeric_matrix(read_features_table(path, feature_names, notes), path)
        encoded = net.encoder.encode(read_features_table(path, net.encoder.inputs, notes),
                                     net.dtype)
    finally:
        for note in notes:
            print(note, file=sys.stderr)
    for note in encoded.notes:
        print(f"{path}: {note}", file=sys.stderr)
    return encoded.X


def test_split_of(ds: Dataset, cfg: RunConfig) -> tuple[NDArray, NDArray]:
    """The test samples the training run held out (same seed, same fractions)."""
    if ds.X_test is not None and ds.y_test is not None:
        return ds.X_test, ds.y_test
    labels = ds.y if ds.task == "classification" else None
    s = datasets.split_indices(len(ds.X), val=cfg.val_split, test=cfg.test_split,
                               labels=labels, seed=cfg.seed)
    return ds.X[s.test], ds.y[s.test]


# -- networks ------------------------------------------------------------------------------
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
            raise CLIError(f"{ds.name}: only one class ({ds.classes[0]!r}) in the target; "
                           "classification needs at least two")
        if loss is not None and loss.independent_outputs:
            if len(ds.classes) != 2:
                raise CLIError(f"loss {loss.name}: needs 2 classes, {ds.name} has "
                               f"{len(ds.classes)}; use cross_entropy")
            return Outputs(1, cfg.output_activation or loss.canonical_activation or "sigmoid",
                           loss)
        loss = loss or get_loss("cross_entropy")
        return Outputs(len(ds.classes),
                       cfg.output_activation or loss.canonical_activation or "softmax", loss)
    if loss is not None and loss.classification:
        raise CLIError(f"loss {loss.name}: is for classes, but {ds.name} is a regression task; "
                       "use mse, squared_error or huber (or --task classification)")
    return Outputs(ds.n_outputs, cfg.output_activation or "identity", loss or get_loss("mse"))


def build_network(cfg: RunConfig, ds: Dataset) -> Network:
    """The MLP of a configuration, for this data set's inputs and outputs (its output
    activation and loss, chosen by :func:`resolve_outputs`, are the network's own:
    ``net.output_activation``, ``net.loss_fn``)."""
    out = resolve_outputs(cfg, ds)
    try:
        return MLP([ds.n_features, *cfg.hidden, out.n_out], hidden=cfg.activation,
                   output=out.activation, loss=out.loss.name, dropout=cfg.dropout, seed=cfg.seed,
                   dtype=cfg.dtype, l2=cfg.l2)
    except ValueError as exc:
        raise CLIError(str(exc)) from None


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
            raise CLIError(f"{ds.name}: class {c!r} is not one the model knows "
                           f"({', '.join(map(str, model_classes))})")
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


def evaluate(net: Network, X: NDArray, y: NDArray, task: str,
             classes: list[Any] | None, *, y_train: NDArray | None = None) -> dict[str, Any]:
    """Test-set metrics (see :mod:`chainrule.report`); with ``y_train`` (in the model's
    terms) the learned-nothing baseline beside them."""
    from ..health.report import classification_metrics, regression_metrics

    A = net.predict(X)
    if task == "classification":
        assert classes is not None
        return classification_metrics(y, net.classes_of(A), classes,
                                      proba=class_probabilities(net, A, len(classes)),
                                      y_train=y_train)
    return regression_metrics(y, A, y_train=y_train)


def is_tty() -> bool:
    """Whether stdout is a terminal (live progress) rather than a file or CI log."""
    return bool(getattr(sys.stdout, "isatty", lambda: False)())


#: The data flags of the commands that run on a saved model.
DATA_FLAGS = ("dataset", "csv", "npz", "target", "task", "data_dir", "n_samples", "noise")


def model_data_config(args: Any, model: str, source: dict[str, Any] | None
                      ) -> tuple[RunConfig, bool]:
    """The data a command on a saved model uses: the flags given, else the model's own
    training data (``source``, its saved configuration). Returns the configuration and
    whether the model's own data is used; raises :class:`~.config.UsageError` for bad
    flags and :class:`CLIError` when the model records no data and none is named."""
    from .config import data_config

    own_data = not any(getattr(args, k) is not None for k in DATA_FLAGS)
    if own_data and not source:
        raise CLIError(f"{model}: the model does not record its training data; name the "
                       "data with --dataset, --csv PATH --target COLUMN or --npz PATH")
    return data_config(args, source, origin=f"{model} (its saved configuration)"), own_data


def model_labels(net: Network, ds: Dataset, y: NDArray, model: str, doing: str) -> NDArray:
    """``y`` in a saved model's terms: its class indices for classification data (by
    label, whatever order the data set lists them in), unchanged for regression; a task
    the model was not trained for is refused, naming ``model`` and what it was ``doing``."""
    if ds.task == "classification":
        if net.classes is None:
            raise CLIError(f"{model}: the model has no class labels; it cannot be {doing} on "
                           "classification data")
        return map_labels(ds, y, net.classes)
    if net.classes is not None:
        raise CLIError(f"{ds.name}: regression data, but {model} is a classifier")
    return y
