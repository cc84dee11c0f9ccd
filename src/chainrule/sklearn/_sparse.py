"""Sparse input (``scipy.sparse`` CSR/CSC) for the estimators, never densified.

Only the first layer ever touches X, so only its two products change:

* forward:  z^(1) = X · wᵀ + b — sparse × dense, a dense (n_samples, n_out) array;
* backward: ∂C/∂w^(1) = (Xᵀ · δ^(1))ᵀ — sparse × dense, a dense (n_out, n_in) array.

Everything after the first layer is dense, as before. Both products are the engine's
own (:meth:`chainrule.layers.Dense.forward` and ``backward_from_delta`` take a sparse
``a_prev``); this module only keeps X as CSR for row batches and predicts in batches.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from chainrule.engine.network import Network

Array = NDArray[np.floating]


def as_sparse_rows(X: Any, dtype: Any) -> Any:
    """CSR in ``dtype`` (row slicing for mini-batches); CSC is converted, not densified."""
    return sp.csr_matrix(X, dtype=dtype) if sp.issparse(X) else X


def predict_sparse(net: Network, X: Any, batch_size: int = 4096) -> Array:
    """a^(L) for sparse X (already in the network's dtype), in row batches."""
    X = as_sparse_rows(X, net.dtype)
    n = X.shape[0]
    if n <= batch_size:
        return net.forward(X).a_L
    return np.concatenate(
        [net.forward(X[i : i + batch_size]).a_L for i in range(0, n, batch_size)]
    )
