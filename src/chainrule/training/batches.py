"""The mini-batches of an epoch, gathered into buffers the steps reuse."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..engine import backend as _backend

Array = NDArray[np.floating]


class Batches:
    """The mini-batches of an epoch (and their sample weights, if any), gathered into
    buffers reused every step (NumPy), or by ``xp.take`` on the data's device.

    Parameters
    ----------
    a0 : ndarray of shape (n, n_in)
    Y : ndarray of shape (n, n_out)
    batch_size : int
    sample_weight : ndarray of shape (n,) or (n, K), optional
        Per-row weights; (n, K) for an ensemble of K members (row i's weight for each
        member: 0 where a member must not see the row, ``--cv K``'s folds).

    Attributes
    ----------
    a0, Y : the data, C-ordered on NumPy (row gathers and the compiled epoch read rows)
    n : int
        Samples in an epoch.
    on_numpy : bool
    """

    def __init__(self, a0: Array, Y: Array, batch_size: int,
                 sample_weight: Array | None = None) -> None:
        self.on_numpy = type(a0) is np.ndarray
        if self.on_numpy:  # row gathers and the compiled epoch read C-ordered rows
            a0, Y = np.ascontiguousarray(a0), np.ascontiguousarray(Y)
        self.a0, self.Y, self.batch_size, self.n = a0, Y, batch_size, a0.shape[0]
        self.s = sample_weight
        if not self.on_numpy:
            return
        # A batch is never more than the data: a batch_size past n means one batch of all n
        # samples (full-batch gradient descent), and the buffers hold no more than that.
        rows = min(batch_size, self.n)
        self.xb = np.empty((rows, a0.shape[1]), dtype=a0.dtype)
        self.yb = np.empty((rows, Y.shape[1]), dtype=Y.dtype)
        self.sb = None if sample_weight is None else np.empty(
            (rows, *sample_weight.shape[1:]), dtype=sample_weight.dtype)

    @property
    def n_batches(self) -> int:
        """Batches per epoch, the last one partial if the batch size does not divide n."""
        return -(-self.n // self.batch_size)

    @property
    def n_full(self) -> int:
        """Full batches per epoch."""
        return self.n // self.batch_size

    def order(self, perm: NDArray[np.intp]) -> Any:
        """The epoch's sample order, on the data's device (copied once, not per batch)."""
        if self.on_numpy:
            return perm
        xp = _backend.namespace_of(self.a0)
        return xp.asarray(perm, dtype=xp.int64, device=_backend.device_of(self.a0))

    def get(self, batch: int, order: NDArray[np.intp] | None
            ) -> tuple[Array, Array, Array | None]:
        """Batch ``batch`` (counted from 1) of the epoch whose sample order is ``order``:
        (xb, yb, sb), sb None when unweighted."""
        start = (batch - 1) * self.batch_size
        stop = min(start + self.batch_size, self.n)
        if order is None:
            sb = None if self.s is None else self.s[start:stop]
            return self.a0[start:stop, ...], self.Y[start:stop, ...], sb
        idx, m = order[start:stop], stop - start
        if not self.on_numpy:  # gathered where the data is
            xp = _backend.namespace_of(self.a0)
            sb = None if self.s is None else xp.take(self.s, idx, axis=0)
            return xp.take(self.a0, idx, axis=0), xp.take(self.Y, idx, axis=0), sb
        xb, yb = self.xb[:m], self.yb[:m]
        self.a0.take(idx, axis=0, out=xb)  # gather into reused buffers
        self.Y.take(idx, axis=0, out=yb)
        if self.s is None or self.sb is None:
            return xb, yb, None
        sb = self.sb[:m]
        self.s.take(idx, axis=0, out=sb)
        return xb, yb, sb
