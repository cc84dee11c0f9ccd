"""What a step and an epoch count besides the cost: correct predictions, and the
evaluation of a data set in batches."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..engine import backend as _backend

if TYPE_CHECKING:
    from ..engine.network import Network

Array = NDArray[np.floating]


def n_correct(a: Array, y: Array, independent: bool) -> int:
    """Correctly classified samples: argmax over mutually exclusive outputs (softmax);
    independent outputs (binary cross-entropy, also multi-label) are thresholded at
    0.5 and must all match (subset accuracy)."""
    if type(a) is not np.ndarray:
        return int(n_correct_array(a, y, independent))
    if a.shape[1] == 1 or independent:
        return int(np.sum(np.all((a >= 0.5) == (y >= 0.5), axis=1)))
    return int(np.count_nonzero(a.argmax(axis=1) == y.argmax(axis=1)))


def n_correct_array(a: Array, y: Array, independent: bool) -> Any:
    """:func:`n_correct` as a 0-d integer array of ``a``'s namespace (no host transfer)."""
    xp = _backend.namespace_of(a)
    if a.shape[1] == 1 or independent:
        return xp.sum(xp.astype(xp.all((a >= 0.5) == (y >= 0.5), axis=1), xp.int64))
    return xp.sum(xp.astype(xp.argmax(a, axis=1) == xp.argmax(y, axis=1), xp.int64))


def evaluate_arrays(
    net: Network, a0: Array, Y: Array, batch_size: int = 4096
) -> tuple[float, float]:
    """Mean cost and accuracy on standardized inputs, in batches, dropout off."""
    total, correct = 0.0, 0
    n = a0.shape[0]
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)  # in bounds: the Array API leaves the rest unspecified
        xb, yb = a0[start:stop, ...], Y[start:stop, ...]
        trace = net.forward(xb)
        total += net.cost(trace, yb) * xb.shape[0]
        if net.loss_fn.classification:
            correct += n_correct(trace.a_L, yb, net.independent_outputs)
    return total / n, correct / n
