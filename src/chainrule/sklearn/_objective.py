"""scikit-learn's MLP objective on a chainrule network, with its exact gradient.

scikit-learn minimises, for sample weights s_i (all 1 when none are given),

.. math:: C = \\frac{\\sum_i s_i C_i}{\\sum_i s_i}
          + \\frac{\\alpha}{2 \\sum_i s_i} \\sum_l \\lVert W^{(l)} \\rVert^2 ,

where C_i is the log-loss for classifiers and half the squared error averaged over
the outputs, C_i = (1 / 2 n_out) Σ_j (a_j − y_j)², for regressors. The gradient
below is the gradient of exactly that C: scikit-learn's own regressor uses
δ^(L) = a − y there, n_out times too large for multi-output problems (their
issue #8349); here δ^(L) = (a − y) / n_out, checked against finite differences.

Sample weights enter through the output deltas: the notes' batch mean
(1/n) Σ_i ∂C_i/∂w becomes Σ_i (s_i / Σ s) ∂C_i/∂w, so each row of δ^(L) is scaled
by s_i / Σ s and the rest of backprop is unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from chainrule import weights
from chainrule.network import Network, Trace

Array = NDArray[np.floating]


def poisson_cost(z: Array, y: Array) -> tuple[Array, Array]:
    """Half Poisson deviance per sample with a log link, and its δ = ∂C_i/∂z.

    Parameters
    ----------
    z : ndarray of shape (n_samples, n_out)
        The output layer's weighted input; the predicted mean is μ = e^z.
    y : ndarray of shape (n_samples, n_out)
        Non-negative targets.

    Returns
    -------
    c : ndarray of shape (n_samples,)
        C_i = Σ_j [y_j log(y_j / μ_j) − y_j + μ_j] (scikit-learn's ``poisson_loss``).
    delta : ndarray of shape (n_samples, n_out)
        ∂C_i/∂z_j = μ_j − y_j (the log link is the canonical one, so no g′ factor).
    """
    mu = np.exp(z)
    # y log(y/μ) = y (log y − z), taken as 0 where y = 0 (the xlogy convention).
    safe_y = np.where(y > 0, y, 1)
    ylogy = np.where(y > 0, y * (np.log(safe_y) - z), 0)
    return (ylogy - y + mu).sum(axis=1), mu - y


def loss_and_gradient(net: Network, a0: Array, Y: Array, sample_weight: Array | None,
                      alpha: float, **kwargs: Any) -> float:
    """The cost C of :func:`objective` (which fills ``net.grads``), without the trace."""
    return objective(net, a0, Y, sample_weight, alpha, **kwargs)[0]


def objective(
    net: Network,
    a0: Array,
    Y: Array,
    sample_weight: Array | None,
    alpha: float,
    *,
    cost_scale: float = 1.0,
    poisson: bool = False,
    training: bool = True,
) -> tuple[float, Trace]:
    """Forward and backward pass for scikit-learn's objective; fills ``net.grads``.

    Parameters
    ----------
    net : Network
        Its ``l2`` is ignored (alpha plays that part) and must be 0.
    a0 : ndarray of shape (n_samples, n_in)
        Inputs, already in the network's dtype.
    Y : ndarray of shape (n_samples, n_out)
        Targets (one-hot / indicator rows for classifiers).
    sample_weight : ndarray of shape (n_samples,), optional
        Non-negative weights s_i; ``None`` means all ones.
    alpha : float
        scikit-learn's L2 strength; the penalty is α / (2 Σ s) Σ ‖W‖².
    cost_scale : float
        Factor applied to the network loss's C_i (0.5 turns chainrule's ``mse`` into
        scikit-learn's ``squared_error``).
    poisson : bool
        Use the half Poisson deviance on e^z (the output activation must be identity).
    training : bool
        Whether dropout is active in the forward pass.

    Returns
    -------
    cost : float
        The cost C, consistent with the gradient left in ``net.grads``.
    trace : Trace
        The forward (and backward) pass.
    """
    n = a0.shape[0]
    dt = net.dtype.type
    trace = net.forward(a0, training=training)
    if poisson:
        c_i, delta = poisson_cost(trace.z_L, Y)
    else:  # the network's own C_i and δ_i^(L) = ∂C_i/∂z^(L) (fused for canonical pairs)
        c_i = weights.sample_costs(net, trace, Y) * dt(cost_scale)
        delta = weights.sample_deltas(net, trace, Y) * dt(cost_scale)
    if sample_weight is None:
        sw_sum = float(n)
        share = np.full(n, 1.0 / n)
    else:
        sw_sum = float(np.sum(sample_weight, dtype=np.float64))
        share = np.asarray(sample_weight, dtype=np.float64) / sw_sum
    cost = float(np.dot(share, c_i.astype(np.float64)))
    delta = delta * share.astype(net.dtype)[:, None]  # the weighted batch mean of ∂C_i/∂z
    l2, net.l2 = net.l2, 0.0  # alpha plays the L2 part here, scaled by 1 / Σ s
    try:
        net.backward(trace, delta_L=delta)  # the rest of backprop is the network's own
    finally:
        net.l2 = l2
    if alpha:
        lam = alpha / sw_sum
        sq = 0.0
        for layer in net.dense_layers:
            sq += float(np.vdot(layer.w, layer.w))
            layer.grad_w[...] += dt(lam) * layer.w  # ∂/∂w of α/(2 Σs) ‖W‖²
        cost += 0.5 * lam * sq
    return cost, trace


def predict_output(net: Network, a0: Array, *, poisson: bool = False) -> Array:
    """a^(L) for inputs a0 (n_samples, n_in), dense or scipy.sparse; e^z for a Poisson
    regressor."""
    import scipy.sparse as sp

    if sp.issparse(a0):
        from chainrule.sklearn._sparse import predict_sparse

        a = predict_sparse(net, a0)
    else:
        a = net.predict(a0)
    return np.exp(a) if poisson else a
