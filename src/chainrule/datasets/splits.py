"""Seeded train/validation/test splits, stratified by class for classification."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass
class Splits:
    """Index arrays into the data set's rows; ``val`` may be empty."""

    train: NDArray[np.int64]
    val: NDArray[np.int64]
    test: NDArray[np.int64]


def _fraction(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"{name}: expected a number in [0, 1), got {value!r}")
    return float(value)


def split_indices(
    n_samples: int,
    *,
    val: float = 0.1,
    test: float = 0.2,
    labels: NDArray | None = None,
    seed: int = 0,
) -> Splits:
    """Shuffle ``range(n_samples)`` and cut it into train, validation and test parts.

    Parameters
    ----------
    n_samples : int
    val, test : float
        Fractions of the samples for validation and test, each in [0, 1).
    labels : ndarray of shape (n_samples,), optional
        Class labels: the cut is then made within every class (stratified), so each
        part keeps the class proportions.
    seed : int
        Seed of the shuffle: same seed, same split.

    Returns
    -------
    Splits
        Sorted index arrays; every sample lands in exactly one of them.
    """
    val, test = _fraction("val_split", val), _fraction("test_split", test)
    if val + test >= 1:
        raise ValueError(
            f"val_split + test_split: expected a sum below 1, got {val} + {test}; "
            "no samples would be left to train on"
        )
    rng = np.random.default_rng(seed)
    groups = [np.arange(n_samples)] if labels is None else [
        np.flatnonzero(labels == c) for c in np.unique(labels)
    ]
    parts: list[list[NDArray[np.int64]]] = [[], [], []]
    for idx in groups:
        idx = rng.permutation(idx)
        n_test = int(round(idx.size * test))
        n_val = int(round(idx.size * val))
        if n_test + n_val >= idx.size:  # a tiny class: keep at least one sample for training
            n_test, n_val = min(n_test, idx.size - 1), 0
        parts[2].append(idx[:n_test])
        parts[1].append(idx[n_test : n_test + n_val])
        parts[0].append(idx[n_test + n_val :])
    train, val_idx, test_idx = (np.sort(np.concatenate(p)).astype(np.int64) for p in parts)
    if train.size == 0:
        raise ValueError(f"n_samples: {n_samples} samples leave nothing to train on")
    if test > 0 and test_idx.size == 0:
        raise ValueError(
            f"test_split: {test} of {n_samples} samples is an empty test set; use more data "
            "or a larger test_split"
        )
    return Splits(train, val_idx, test_idx)
