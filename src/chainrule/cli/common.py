"""What several subcommands share: the data of a saved model (its columns by name), the
held-out test split, labels in a model's terms, terminal detection; and, from
:mod:`chainrule.runs`, loading the configured data, building the network, targets in the
network's terms and evaluation.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .. import datasets
from ..datasets import Dataset
from ..datasets.csvfile import DataFileError
from ..datasets.fingerprint import changed
from ..datasets.tabular import match_columns, numeric_matrix, read_features_table
from ..engine.network import Network
from ..io.safetext import name_list
from ..io.schema import short
from ..runs.config import RunConfig
from ..runs.data import NUMPY_MAGIC, check_input_file, fit_encoder, load_dataset
from ..runs.network import (
    Outputs,
    build_network,
    class_probabilities,
    describe_network,
    encode_targets,
    evaluate,
    map_labels,
    resolve_outputs,
)
from ..table import Table
from . import CLIError

__all__ = [
    "NUMPY_MAGIC", "Outputs", "build_network", "check_input_file", "class_probabilities",
    "describe_network", "encode_targets", "evaluate", "fit_encoder", "is_tty",
    "load_dataset", "load_model_data", "map_labels", "model_data_config", "model_features",
    "model_labels", "resolve_outputs", "test_split_of",
]


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
        raise CLIError(f"{path}: missing feature column(s) {name_list(missing)}; "
                       f"the model was trained on columns {name_list(names)}")
    if extra:
        print(f"{path}: ignored column(s) the model was not trained on: "
              f"{name_list(extra)}", file=sys.stderr)
    if net.encoder is not None:
        encoded = net.encoder.encode(ds.table, net.dtype)
        ds.X, ds.encoder, ds.feature_names = encoded.X, net.encoder, net.encoder.names
        for note in encoded.notes:
            print(f"{path}: {note}", file=sys.stderr)
        return ds
    try:
        ds.X = numeric_matrix(ds.table.select(names), path, net.dtype)
    except DataFileError as exc:
        raise CLIError(str(exc)) from None
    ds.feature_names = list(names)
    return ds


def model_features(net: Network, path: str, feature_names: list[str] | None,
                   keep: list[str] | None = None
                   ) -> tuple[NDArray[np.floating], Table | None]:
    """The features of the table file ``path`` for a saved model: columns by name, encoded
    by the model's table encoder (cells it had to fill in or did not know are named on
    stderr), or taken as numbers for a model without one; and the columns ``keep`` names
    (identifiers to carry into the output) as they were read, or None."""
    notes: list[str] = []
    kept = list(keep or [])
    try:
        wanted = net.encoder.inputs if net.encoder is not None else feature_names
        dropped = net.encoder.dropped if net.encoder is not None else ()
        table = read_features_table(path, wanted, notes, kept, dropped)
    finally:
        for note in notes:
            print(note, file=sys.stderr)
    features = table.select(wanted if wanted is not None
                            else [n for n in table.names if n not in kept])
    carried = table.select(kept) if kept else None
    if net.encoder is None:
        return numeric_matrix(features, path, net.dtype), carried
    encoded = net.encoder.encode(features, net.dtype)
    for note in encoded.notes:
        print(f"{path}: {note}", file=sys.stderr)
    return encoded.X, carried


def test_split_of(ds: Dataset, cfg: RunConfig) -> tuple[NDArray, NDArray]:
    """The test samples the training run held out (same seed, same fractions)."""
    if ds.X_test is not None and ds.y_test is not None:
        return ds.X_test, ds.y_test
    labels = ds.y if ds.task == "classification" else None
    s = datasets.split_indices(len(ds.X), val=cfg.val_split, test=cfg.test_split,
                               labels=labels, seed=cfg.seed)
    return ds.X[s.test], ds.y[s.test]


# -- networks ------------------------------------------------------------------------------

def is_tty() -> bool:
    """Whether stdout is a terminal (live progress) rather than a file or CI log."""
    return bool(getattr(sys.stdout, "isatty", lambda: False)())


#: The data flags of the commands that run on a saved model.
DATA_FLAGS = ("dataset", "csv", "npz", "target", "task", "data_dir", "n_samples", "noise")


def model_data_config(args: Any, model: str, source: dict[str, Any] | None,
                      table: dict[str, Any] | None = None) -> tuple[RunConfig, bool]:
    """The data a command on a saved model uses: the flags given, else the model's own
    training data (``source``, its saved configuration). Returns the configuration and
    whether the model's own data is used; raises :class:`~.config.UsageError` for bad
    flags and :class:`CLIError` when the model records no data and none is named.

    A model trained on a table names it by absolute path and fingerprint (``table``, its
    ``training.table``): with no data flags that file is read again, from any working
    directory, once it is checked to be the very file trained on (else the one line says
    what changed); a model without the record must be given ``--csv``. With ``--csv`` but
    no ``--target``, the model's target column and task are used.
    """
    from .config import data_config

    own_data = not any(getattr(args, k) is not None for k in DATA_FLAGS)
    if own_data and not source:
        raise CLIError(f"{model}: the model does not record its training data; name the "
                       "data with --dataset, --csv PATH --target COLUMN or --npz PATH")
    origin = f"{model} (its saved configuration)"
    if own_data and source and source.get("dataset") == "csv" and table is not None:
        flags = {**_training_table(model, source, table),
                 "seed": _given(args, "seed", source.get("seed"))}
        return data_config(argparse.Namespace(**{**vars(args), **flags}), None, origin), True
    if getattr(args, "csv", None) and getattr(args, "target", None) is None and source \
            and isinstance(source.get("target"), str):  # the model knows its target
        flags = {"target": source["target"], "task": _given(args, "task", source.get("task"))}
        args = argparse.Namespace(**{**vars(args), **flags})
    return data_config(args, source, origin=origin), own_data


def _given(args: Any, name: str, default: Any) -> Any:
    value = getattr(args, name, None)
    return default if value is None else value


def _training_table(model: str, source: dict[str, Any], table: dict[str, Any]
                    ) -> dict[str, Any]:
    """The data flags that read a model's training table again, after checking that the
    file at its recorded absolute path is the one it was trained on (size and SHA-256)."""
    target = source.get("target")
    problem = changed(table)
    if problem is not None:
        hint = f" --target {short(target)}" if isinstance(target, str) else " --target COLUMN"
        raise CLIError(f"{model}: its training table {table['path']} {problem}; name the data "
                       f"to use with --csv PATH{hint}")
    return {"csv": table["path"], "dataset": "csv", "target": target,
            "task": source.get("task")}


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
