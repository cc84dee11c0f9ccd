"""Where the loss meets the output layer: C_i and δ^(L), the one place that chooses between
the fused form of a canonical pair and the general chain rule.

Notes
-----
In general the output delta is two chain-rule factors,

.. math:: \\delta_j^{(L)} = \\frac{\\partial C_0}{\\partial a_j^{(L)}} \\, g'(z_j^{(L)}).

For the canonical pairs (softmax + cross-entropy, sigmoid + binary cross-entropy; see
:attr:`Loss.canonical_activation`) the product collapses to δ_j^(L) = a_j − y_j, and the
cost is taken from the logits z^(L) (more accurate than from a). ``fused`` says which:
:attr:`Network.fused_output`. :meth:`Network.backward`, :meth:`Network.cost` and the
sample-weighted objective (:mod:`chainrule.weights`) all ask here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from .activations import Activation
from .losses import Loss

Array = NDArray[np.floating]


def sample_costs(loss: Loss, z_L: Array, a_L: Array, y: Array, *, fused: bool) -> Array:
    """C_i of every sample, shape (n_samples,): from the logits z^(L) for a canonical pair.

    Parameters
    ----------
    z_L, a_L : ndarray of shape (n_samples, n_out)
        The output layer's weighted input and output.
    y : ndarray of shape (n_samples, n_out)
        Targets, encoded like a^(L).
    fused : bool
        Whether the output activation and the loss are a canonical pair.
    """
    if fused:
        return loss.value_from_logits(z_L, y)
    return loss.value(a_L, y)


def output_delta(loss: Loss, activation: Activation, z_L: Array, a_L: Array, y: Array, *,
                 fused: bool, scale: Any = None,
                 out: Array | None = None) -> tuple[Array, Array | None]:
    """δ^(L) = ∂C/∂z^(L) of every sample, times ``scale``; and the ∂C/∂a^(L) it came from.

    Parameters
    ----------
    loss : Loss
    activation : Activation
        The output layer's g^(L).
    z_L, a_L : ndarray of shape (n_samples, n_out)
        The output layer's weighted input and output.
    y : ndarray of shape (n_samples, n_out)
        Targets, encoded like a^(L).
    fused : bool
        Whether the output activation and the loss are a canonical pair.
    scale : scalar, optional
        Multiplies every δ_i (the notes' 1/n for the batch mean); None: the per-sample
        δ_i = ∂C_i/∂z^(L), not averaged.
    out : ndarray of shape (n_samples, n_out), optional
        Where δ^(L) is written (a workspace's buffer; NumPy only).

    Returns
    -------
    delta_L : ndarray of shape (n_samples, n_out)
    grad_a_L : ndarray of shape (n_samples, n_out) or None
        The scaled ∂C/∂a^(L); None for a canonical pair, where the fused form skips it.
    """
    if fused:
        # Canonical pair: ∂C0/∂a_j · g′(z_j) collapses to δ_j^(L) = a_j − y_j.
        delta_L = a_L - y if out is None else np.subtract(a_L, y, out=out)
        if scale is not None:
            delta_L *= scale
        return delta_L, None
    grad_a = loss.grad_a(a_L, y)  # ∂C0/∂a^(L)
    if scale is not None:
        grad_a = grad_a * scale  # ∂C/∂a^(L) = (1/n) ∂C0/∂a
    return activation.backward(z_L, a_L, grad_a, out=out), grad_a  # · g′(z^(L))


#: The output activations whose values are probabilities in (0, 1), the domain of the
#: classification losses' log a.
PROBABILITY_OUTPUTS = ("softmax", "sigmoid")


def pair_problem(loss: Loss, activation: str) -> str | None:
    """Why an output layer with ``activation`` cannot feed ``loss``, or None when it can.

    A classification loss takes log a^(L), so it needs probabilities in (0, 1): softmax or
    sigmoid (its canonical one takes the fused δ^(L) = a − y, the other the general chain).
    The network refuses any other output when it is built; the loss guard names the pair
    (not the learning rate) if one is swapped in afterwards and training diverges.
    """
    needed = loss.canonical_activation
    if not loss.classification or needed is None or activation in PROBABILITY_OUTPUTS:
        return None
    return f"{loss.name} needs a {needed} output layer (its probabilities), got {activation!r}"
