"""Feature standardization fitted on the training split only, saved with the model."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .ranges import standard_stats


class Standardizer:
    """x ↦ (x − mean) / scale, per feature; constant features get scale 1.

    Parameters
    ----------
    mean, scale : ndarray of shape (n_features,)
    """

    def __init__(self, mean: ArrayLike, scale: ArrayLike) -> None:
        self.mean = np.asarray(mean, dtype=np.float64)
        self.scale = np.asarray(scale, dtype=np.float64)
        if self.mean.ndim != 1 or self.mean.shape != self.scale.shape:
            raise ValueError(
                f"scaler: mean and scale must be 1-D of equal length, got {self.mean.shape} "
                f"and {self.scale.shape}"
            )
        if not (np.all(np.isfinite(self.mean)) and np.all(np.isfinite(self.scale))):
            raise ValueError("scaler: mean and scale must be finite")
        if np.any(self.scale <= 0):
            raise ValueError("scaler: scale must be positive")

    @classmethod
    def fit(cls, X: ArrayLike) -> Standardizer:
        """Statistics of X (n_samples, n_features): the training split only.

        NumPy's mean and standard deviation in float64; a column whose statistics overflow
        there (values near 1e300: the variance is past 1e600) has them computed on the
        column divided by its largest magnitude and scaled back
        (:func:`chainrule.table.ranges.standard_stats`), so every finite column gets a
        finite mean and scale. A column holding NaN or inf raises ``ValueError`` naming it
        (``column 'x3'``, counted from 0)."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[0] == 0:
            raise ValueError(f"X: expected a non-empty 2-D array, got shape {X.shape}")
        return cls(*standard_stats(X, ()))

    @property
    def n_features(self) -> int:
        return int(self.mean.shape[0])

    def transform(self, X: NDArray[np.floating]) -> NDArray[np.floating]:
        """Standardize X, keeping its dtype."""
        dt = X.dtype
        return ((X - self.mean.astype(dt)) / self.scale.astype(dt)).astype(dt, copy=False)

    def __repr__(self) -> str:
        return f"Standardizer(n_features={self.n_features})"
