"""Data sets: one registry for the CLI and the library.

>>> from chainrule import datasets
>>> ds = datasets.load("digits")               # embedded, offline
>>> ds = datasets.load("moons", n_samples=500, noise=0.2, seed=1)
>>> ds = datasets.load("csv", path="houses.csv", target="price")   # or .parquet, .xlsx
>>> ds = datasets.load("csv", path=frame, target="price")          # a pandas DataFrame
>>> ds = datasets.load("mnist", data_dir="../shared/data/mnist")

Every loader returns a :class:`Dataset` whose ``X`` a network takes (a table with text
or missing cells encoded, see :func:`load_csv`); :func:`split_indices` makes the seeded
(stratified) train/validation/test split. Every table — CSV, Parquet, Excel, DataFrame —
is read by one reader, :func:`read_table`, in the library and every command alike.

Every bad file (CSV, ``.npz``/``.npy``, IDX, MNIST) raises a
:class:`~chainrule.errors.FileFormatError` (a ``ValueError``) naming the file and, where
one applies, the row and column or array: :class:`DataFileError`, :class:`IDXError`,
:class:`MNISTError`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..io.errors import FileFormatError
from .base import TASKS, Dataset
from .digits import load_digits
from .fingerprint import fingerprint
from .idx import IDXError, parse_idx, read_idx, read_images, read_labels
from .mnist import MNISTError, load_mnist
from .numpyfile import load_npz, read_features_numpy
from .reader import read_table, table_format
from .splits import Splits, split_indices
from .synthetic import SYNTHETIC, make
from .tabular import DataFileError, load_csv, read_features_csv

#: Every data set the registry knows by name (``csv`` and ``npz`` take a ``path``).
NAMES = ("digits", "mnist", *SYNTHETIC, "csv", "npz")


def load_synthetic(name: str, n_samples: int = 200, noise: float = 0.1,
                   seed: int = 0) -> Dataset:
    """A two-dimensional teaching set from :mod:`chainrule.datasets.synthetic`."""
    X, y = make(name, n_samples, noise, seed=seed)
    classes = [int(c) for c in np.unique(y)]
    return Dataset(name=name, X=X, y=y, task="classification", classes=classes,
                   feature_names=["x1", "x2"],
                   source={"dataset": name, "n_samples": n_samples, "noise": noise,
                           "seed": seed})


def load(name: str, **options: Any) -> Dataset:
    """Load a data set by name.

    Parameters
    ----------
    name : str
        One of :data:`NAMES`.
    **options
        ``digits``: none. ``mnist``: ``data_dir``, ``download``, ``mirrors``.
        2-D sets: ``n_samples``, ``noise``, ``seed``. ``csv``: ``path`` (a CSV, Parquet
        or Excel file, or a pandas DataFrame), ``target``, ``task``, ``encode``. ``npz``:
        ``path``, ``task``.
    """
    if name in ("csv", "npz") and "path" not in options:
        raise ValueError(f"dataset {name!r}: give path=FILE")
    try:
        if name == "digits":
            ds = load_digits(**options)
            ds.source = {"dataset": "digits"}
            return ds
        if name == "mnist":
            return load_mnist(**options)
        if name in SYNTHETIC:
            return load_synthetic(name, **options)
        if name == "csv":
            return load_csv(options.pop("path"), **options)
        if name == "npz":
            return load_npz(options.pop("path"), **options)
    except TypeError as exc:  # an option this data set does not take
        raise ValueError(f"dataset {name!r}: {exc}") from None
    raise ValueError(f"dataset: unknown data set {name!r}; valid names are {', '.join(NAMES)}")


__all__ = [
    "NAMES",
    "TASKS",
    "DataFileError",
    "Dataset",
    "FileFormatError",
    "IDXError",
    "MNISTError",
    "Splits",
    "fingerprint",
    "load",
    "load_csv",
    "load_digits",
    "load_mnist",
    "load_npz",
    "load_synthetic",
    "parse_idx",
    "read_features_csv",
    "read_features_numpy",
    "read_idx",
    "read_images",
    "read_labels",
    "read_table",
    "split_indices",
    "table_format",
]
