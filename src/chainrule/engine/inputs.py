"""a^(0) from an array already on a device (torch, CuPy): checked and scaled where it is.

:meth:`Network.inputs` takes host data through :mod:`chainrule.validation` and copies
a^(0) to the device once; an array already in the network's namespace comes here instead,
so only one scalar (the finiteness test) travels back.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..table.scaler import Standardizer
from . import backend as _backend
from .validation import check_finite, check_range


class DeviceScaler:
    """A :class:`Standardizer`'s mean and scale copied to the device once, and again only
    when the network's scaler is replaced.

    Parameters
    ----------
    backend : Backend
        Where the copies live.
    dtype : numpy.dtype
        The network's host dtype.
    """

    def __init__(self, backend: _backend.Backend, dtype: np.dtype) -> None:
        self.backend = backend
        self.dtype = dtype
        self._source: Standardizer | None = None
        self._mean: Any = None
        self._scale: Any = None

    def transform(self, scaler: Standardizer, a0: Any) -> Any:
        """(a0 − mean) / scale on the device, a0 of shape (n_samples, n_in)."""
        if self._source is not scaler:
            self._mean = self.backend.asarray(scaler.mean.astype(self.dtype))
            self._scale = self.backend.asarray(scaler.scale.astype(self.dtype))
            self._source = scaler
        return (a0 - self._mean) / self._scale


def device_features(X: Any, n_in: int, backend: _backend.Backend, xp_dtype: Any,
                    params: Any, name: str = "X") -> Any:
    """``X`` checked (namespace, device, shape, real and finite) and cast to the network's
    dtype on its device: shape (n_samples, n_in); a 1-D ``X`` is one sample.

    Parameters
    ----------
    X : array of the network's namespace
    n_in : int
        The network's input width.
    backend : Backend
        The network's array library and device.
    xp_dtype : dtype of that namespace
        The network's dtype there.
    params : array
        The network's parameters: ``X`` must sit on their device.
    name : str
        The argument's name, for messages.
    """
    xp = backend.xp
    if _backend.namespace_of(X) is not xp or _backend.device_of(X) != _backend.device_of(
            params):
        raise ValueError(f"{name}: an array of {type(X).__module__} on "
                         f"{_backend.device_of(X)}, but the network computes on "
                         f"{backend!r}; move it there or pass host data")
    if X.ndim == 1:
        X = xp.reshape(X, (1, -1))
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] != n_in:
        raise ValueError(f"{name}: expected shape (n_samples, {n_in}) (the network's "
                         f"n_in), got {tuple(X.shape)}")
    if not xp.isdtype(X.dtype, ("real floating", "integral", "bool")):
        raise ValueError(f"{name}: expected real numbers, got dtype {X.dtype}")
    with np.errstate(over="ignore", invalid="ignore"):  # a NumPy-backed namespace warns
        a0 = xp.astype(X, xp_dtype, copy=True)
    if not bool(xp.all(xp.isfinite(a0))):
        _refuse(X, xp_dtype, name)
    return a0


def _refuse(X: Any, xp_dtype: Any, name: str) -> None:
    """Say why ``X`` cast to ``xp_dtype`` is not finite, naming the first index: a NaN or
    inf it holds, or a value past the dtype's range (1e200 into float32). Only here, once
    the cast has found a problem, is ``X`` copied to the host."""
    host = np.asarray(_backend.to_host(X))
    check_finite(host, name)
    check_range(host, _backend.host_dtype(xp_dtype), name)
    raise ValueError(f"{name}: contains NaN or infinity")
