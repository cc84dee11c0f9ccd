"""Argument checks at the boundary: every message names the argument, what it got and
what it accepts, so nothing deeper fails with a bare NumPy broadcasting error."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

if TYPE_CHECKING:
    from .losses import Loss

DTYPES = ("float32", "float64")


def check_dtype(dtype: DTypeLike) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.name not in DTYPES:
        raise ValueError(f"dtype: expected one of {', '.join(DTYPES)}, got {dtype!r}")
    return dt


def _as_float_array(values: ArrayLike, name: str) -> NDArray:
    try:
        arr = np.asarray(values)
    except ValueError as exc:  # ragged nested sequences
        raise ValueError(f"{name}: expected a rectangular numeric array ({exc})") from None
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise ValueError(f"{name}: expected numeric values, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"{name}: expected real numbers, got complex dtype {arr.dtype}")
    return arr


def check_finite(arr: NDArray, name: str) -> None:
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        where = ", ".join(str(int(i)) for i in bad)
        raise ValueError(
            f"{name}: contains NaN or inf (first at index [{where}]: {arr[tuple(bad)]}); "
            "only finite values are accepted"
        )


def as_features(X: ArrayLike, n_features: int, dtype: np.dtype, name: str = "X") -> NDArray:
    """X as a finite (n_samples, n_features) array of ``dtype``; a 1-D X is one sample."""
    arr = _as_float_array(X, name)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array (n_samples, n_features), got shape "
                         f"{arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name}: expected at least one sample, got an empty array")
    if arr.shape[1] != n_features:
        raise ValueError(
            f"{name}: expected {n_features} features per sample (the network's n_in), "
            f"got {arr.shape[1]}"
        )
    check_finite(arr, name)
    return np.ascontiguousarray(arr, dtype=dtype)


def as_targets(
    Y: ArrayLike, n_samples: int, n_out: int, loss: Loss, dtype: np.dtype, name: str = "Y"
) -> NDArray:
    """Targets shaped like a^(L): (n_samples, n_out), validated against the loss."""
    arr = _as_float_array(Y, name)
    if arr.shape[:1] != (n_samples,):
        got = arr.shape[0] if arr.ndim else "a scalar"
        raise ValueError(
            f"{name}: expected {n_samples} rows (one per sample of X), got {got}"
        )
    check_finite(arr, name)
    return loss.encode_targets(arr, n_out, dtype, name)
