"""Backpropagation as the lecture notes write it: the one file to read first.

Forward, layer l = 1 … L (the input is layer 0):

.. math:: z_j^{(l)} = \\sum_k w_{jk}^{(l)} a_k^{(l-1)} + b_j^{(l)}, \\qquad
          a_j^{(l)} = g^{(l)}(z_j^{(l)}).

Backward, from the output down, for the batch mean C = (1/n) Σ_i C_i:

.. math:: \\delta_j^{(l)} = \\frac{\\partial C}{\\partial a_j^{(l)}} \\, g'(z_j^{(l)}), \\qquad
          \\frac{\\partial C}{\\partial w_{jk}^{(l)}} = \\sum_i \\delta_j^{(l)} a_k^{(l-1)}, \\qquad
          \\frac{\\partial C}{\\partial a_k^{(l-1)}} = \\sum_j w_{jk}^{(l)} \\delta_j^{(l)},

starting from ∂C/∂a^(L) = (1/n) ∂C_i/∂a^(L) (for the notes' C_0 = Σ_j (a_j − y_j)²
that is (2/n)(a_j − y_j)). Nothing is fused, buffered or written in place; dropout
is off (inference). :meth:`chainrule.network.Network.backward` is the fast path of
the same computation, and the tests prove the two equal for every activation, loss
and optimizer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from .engine.network import Network

Array = NDArray[np.floating]


def forward(net: Network, a0: Array) -> tuple[list[Array], list[Array]]:
    """zs[l] and activations[l] for the notes' layers l (zs[0] is unused: a^(0) has no z)."""
    zs, activations = [a0], [a0]
    for layer in net.dense_layers:  # layer l = 1 … L
        z = activations[-1] @ layer.w.T  # z_j = Σ_k w_jk a_k^(l−1)
        if layer.b is not None:
            z = z + layer.b
        zs.append(z)
        activations.append(layer.activation.g(z))  # a_j = g(z_j)
    return zs, activations


def backward(net: Network, a0: Array, y: Array) -> tuple[list[Array], list[Array | None]]:
    """grad_w[l], grad_b[l] = ∂C/∂w^(l), ∂C/∂b^(l) of C = (1/n) Σ_i C_i (+ L2), l = 1 … L."""
    zs, activations = forward(net, a0)
    L, n = len(net.dense_layers), a0.shape[0]
    grad_w: list[Array] = [a0] * (L + 1)  # index 0 unused, like zs
    grad_b: list[Array | None] = [None] * (L + 1)
    dC_da = net.loss_fn.grad_a(activations[L], y) / n  # ∂C/∂a_j^(L)
    for layer in range(L, 0, -1):
        dense = net.dense_layers[layer - 1]
        g, z, a, a_prev = dense.activation, zs[layer], activations[layer], activations[layer - 1]
        if g.elementwise:
            delta = dC_da * g.g_prime(z, a)  # δ_j = ∂C/∂a_j · g′(z_j)
        else:
            delta = g.backward(z, a, dC_da)  # softmax: the Jacobian-vector product
        grad_w[layer] = delta.T @ a_prev + net.l2 * dense.w  # Σ_i δ_j a_k^(l−1) (+ λ w)
        grad_b[layer] = delta.sum(axis=0) if dense.b is not None else None
        dC_da = delta @ dense.w  # ∂C/∂a_k^(l−1) = Σ_j w_jk δ_j
    return grad_w, grad_b


def flat_gradient(net: Network, a0: Array, y: Array) -> Array:
    """:func:`backward`'s gradients laid out like ``net.grads`` (w then b, layer by layer)."""
    grad_w, grad_b = backward(net, a0, y)
    parts = [p for w, b in zip(grad_w[1:], grad_b[1:], strict=True) for p in (w, b)
             if p is not None]
    return np.concatenate([p.ravel() for p in parts])
