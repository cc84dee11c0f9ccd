"""Sparse input (``scipy.sparse`` CSR/CSC) for the estimators, never densified.

Only the first layer ever touches X, so only its two products change:

* forward:  z^(1) = X · wᵀ + b — sparse × dense, a dense (n_samples, n_out) array;
* backward: ∂C/∂w^(1) = (Xᵀ · δ^(1))ᵀ — sparse × dense, a dense (n_out, n_in) array.

Everything after the first layer is dense, as before. The engine's :class:`Dense`
calls ``np.matmul`` on its input, which a sparse matrix does not support, so the
estimators' first layer is given the class :class:`SparseInputDense` — a
:class:`Dense` with the same state whose two products dispatch on
``scipy.sparse.issparse`` — by :func:`sparse_ready` (it changes the object's class
in place, so the network's parameter views, optimizer state and config are untouched;
``get_config`` still says ``"Dense"``, so saved networks are ordinary ones).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from chainrule.layers import Dense, DenseBuffers
from chainrule.network import Network

Array = NDArray[np.floating]


class SparseInputDense(Dense):
    """A :class:`Dense` layer that also takes a ``scipy.sparse`` input (first layer)."""

    def forward(self, a_prev: Any, out: DenseBuffers | None = None) -> tuple[Array, Array]:
        if not sp.issparse(a_prev):
            return super().forward(a_prev, out)
        z = np.asarray(a_prev @ self.w.T)  # z_j = Σ_k w_jk x_k over the stored x_k only
        if out is not None:
            out.z[...] = z
            z = out.z
        if self._b is not None:
            z += self._b
        a = self.activation.forward(z, out=None if out is None else out.a)
        return z, a

    def backward_from_delta(
        self, a_prev: Any, delta: Array, *, need_grad_prev: bool = True,
        out: DenseBuffers | None = None,
    ) -> Array | None:
        if not sp.issparse(a_prev):
            return super().backward_from_delta(
                a_prev, delta, need_grad_prev=need_grad_prev, out=out
            )
        self.grad_w[...] = np.asarray(a_prev.T @ delta).T  # ∂C/∂w_jk = Σ_i δ_ij x_ik
        if self.grad_b is not None:
            np.add.reduce(delta, axis=0, out=self.grad_b)
        if not need_grad_prev:
            return None
        return np.matmul(delta, self.w, out=None if out is None else out.grad_prev)


def sparse_ready(net: Network) -> Network:
    """Give ``net``'s first layer the sparse-aware products (idempotent); returns ``net``."""
    first = net.layers[0]
    if type(first) is Dense:
        first.__class__ = SparseInputDense
    elif not isinstance(first, SparseInputDense):
        raise TypeError(
            f"sparse input needs a Dense first layer, got {type(first).__name__}"
        )
    return net


def as_sparse_rows(X: Any, dtype: Any) -> Any:
    """CSR in ``dtype`` (row slicing for mini-batches); CSC is converted, not densified."""
    return sp.csr_matrix(X, dtype=dtype) if sp.issparse(X) else X


def predict_sparse(net: Network, X: Any, batch_size: int = 4096) -> Array:
    """a^(L) for sparse X (already in the network's dtype), in row batches."""
    sparse_ready(net)
    X = as_sparse_rows(X, net.dtype)
    n = X.shape[0]
    if n <= batch_size:
        return net.forward(X).a_L
    return np.concatenate(
        [net.forward(X[i : i + batch_size]).a_L for i in range(0, n, batch_size)]
    )
