"""The :class:`Dataset` every loader returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from ..table import Table, TableEncoder, TableError
from ..table.ranges import (
    describe,
    first_out_of_range,
    range_advice,
    row_name,
    standard_stats,
)
from ..table.scaler import Standardizer
from ..table.state import Dropped

TASKS = ("classification", "regression")


@dataclass
class Dataset:
    """Features, targets and what they mean.

    Attributes
    ----------
    name : str
    X : ndarray of shape (n_samples, n_features)
        Raw (unstandardized) features.
    y : ndarray
        Classification: class indices of shape (n_samples,), ``classes[y[i]]`` is the
        label. Regression: float values of shape (n_samples,) or (n_samples, n_targets).
    task : {"classification", "regression"}
    classes : list or None
        The class labels (ints or strings), in output-unit order; None for regression.
    feature_names : list of str
    target_names : list of str
        Names of the target column(s) (used for ``predict`` output headers).
    X_test, y_test : ndarray, optional
        A predefined test split (MNIST's 10,000 test images); then the splits only
        cut validation from ``X``.
    source : dict
        How to load the data again (name and options), saved with trained models.
    notes : list of str
        What the loader decided on the user's behalf (e.g. a dropped row-index column),
        one sentence each, printed by ``chainrule train``.
    table : Table, optional
        Raw named columns (numbers and text) of a CSV or DataFrame; then ``X`` has no
        columns until :meth:`encode` fills it from a fitted
        :class:`~chainrule.table.TableEncoder`.
    encoder : TableEncoder, optional
        The encoder that made ``X`` from ``table``.
    dropped : dict of str to str
        Columns the loader dropped before any encoder saw them (row indexes), each with
        its reason; :meth:`encode` records them in the encoder, so a saved model lists
        them with the columns it dropped itself.
    scaling : {"feature", "pooled"}
        How to standardize: each feature with its own mean and spread, or every
        feature with the statistics of all pixels pooled (images, where a border
        pixel that is almost always 0 would otherwise be blown up by its tiny spread).
    """

    name: str
    X: NDArray[np.floating]
    y: NDArray[Any]
    task: str
    classes: list[Any] | None = None
    feature_names: list[str] = field(default_factory=list)
    target_names: list[str] = field(default_factory=lambda: ["target"])
    X_test: NDArray[np.floating] | None = None
    y_test: NDArray[Any] | None = None
    source: dict[str, Any] = field(default_factory=dict)
    scaling: str = "feature"
    notes: list[str] = field(default_factory=list)
    table: Table | None = None
    encoder: TableEncoder | None = None
    dropped: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.scaling not in ("feature", "pooled"):
            raise ValueError(f"scaling: expected 'feature' or 'pooled', got {self.scaling!r}")
        if self.task not in TASKS:
            raise ValueError(f"task: expected one of {', '.join(TASKS)}, got {self.task!r}")
        if not self.feature_names:
            self.feature_names = [f"x{i}" for i in range(self.X.shape[1])]

    def encode(self, encoder: TableEncoder, dtype: DTypeLike = np.float64) -> None:
        """Fill ``X`` (of ``dtype``: the network's, so no second copy is made) from
        ``table`` with ``encoder`` (fitted on the training rows): ``feature_names`` become
        the encoded features' names, and ``notes`` gain what the encoder decided. The
        columns in ``dropped`` are added to ``encoder`` as dropped (no features)."""
        if self.table is None:
            raise ValueError(f"{self.name}: no table to encode")
        if self.task == "regression":
            self._check_target_range(dtype)
        encoded = encoder.encode(self.table, dtype)
        known = encoder.dropped
        encoder.encodings[:0] = [Dropped(column, reason) for column, reason
                                 in self.dropped.items() if column not in known]
        self.X, self.encoder = encoded.X, encoder
        self.feature_names = encoder.names
        self.notes = [*self.notes, *encoder.notes, *encoded.notes]

    def _check_target_range(self, dtype: DTypeLike) -> None:
        """A regression target the network's ``dtype`` cannot hold is refused naming its
        row (as the table numbers it) and column, as a feature cell would be."""
        assert self.table is not None
        values = np.asarray(self.y, dtype=np.float64).reshape(len(self.y), -1)
        for j in range(values.shape[1]):
            i = first_out_of_range(values[:, j], dtype)
            if i is not None:
                name = self.target_names[j] if j < len(self.target_names) else f"y{j}"
                reason = (f"{describe(values[i, j])} is too large for "
                          f"{np.dtype(dtype).name} ({range_advice(dtype)})")
                where = f"{row_name(i, self.table.lines)}, column {name!r} (the target)"
                raise TableError(f"{self.table.source}: {where}: {reason}"
                                 if self.table.source else f"{where}: {reason}")

    def fit_scaler(self, X_train: NDArray[np.floating]) -> Standardizer:
        """A :class:`~chainrule.scaler.Standardizer` from the training split's statistics."""
        if self.scaling == "feature":
            X_train = np.asarray(X_train)
            if X_train.ndim != 2 or X_train.shape[0] == 0:
                return Standardizer.fit(X_train)  # its message names the shape
            return Standardizer(*standard_stats(X_train, self.feature_names))
        mean = float(np.mean(X_train, dtype=np.float64))
        std = float(np.std(X_train, dtype=np.float64)) or 1.0
        n = X_train.shape[1]
        return Standardizer(np.full(n, mean), np.full(n, std))

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def n_outputs(self) -> int:
        """Output units a network needs: one per class, or one per regression target."""
        if self.task == "classification":
            assert self.classes is not None
            return len(self.classes)
        return 1 if self.y.ndim == 1 else int(self.y.shape[1])

    def __repr__(self) -> str:
        test = "" if self.X_test is None else f", test={self.X_test.shape[0]}"
        return (f"Dataset({self.name!r}, X={self.X.shape}, task={self.task!r}, "
                f"n_outputs={self.n_outputs}{test})")
