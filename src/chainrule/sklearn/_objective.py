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

from chainrule.engine.backend import namespace_of
from chainrule.engine.ensemble import Ensemble
from chainrule.engine.network import Network, Trace
from chainrule.training import weights

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
    xp = namespace_of(z)
    mu = xp.exp(z)
    # y log(y/μ) = y (log y − z), taken as 0 where y = 0 (the xlogy convention).
    zero = xp.zeros_like(y)
    safe_y = xp.where(y > 0, y, zero + 1)
    ylogy = xp.where(y > 0, y * (xp.log(safe_y) - z), zero)
    return xp.sum(ylogy - y + mu, axis=1), mu - y


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
        Its own ``l2`` is not used: alpha plays that part.
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
    cost : float (a 0-d float64 array of the network's namespace on other backends)
        The cost C, consistent with the gradient left in ``net.grads``.
    trace : Trace
        The forward (and backward) pass.
    """
    # Written against the network's namespace xp: on a device, nothing here comes back
    # to the host (the cost stays a 0-d array; the training loop fetches it with ‖g‖²).
    xp = net.xp
    n = a0.shape[0]
    # An ensemble's K members (chainrule.engine.ensemble): C_i is their mean and δ has
    # every member's rows, each carrying the members' mean 1/K as well.
    K = net.members if isinstance(net, Ensemble) else 1
    trace = net.forward(a0, training=training)
    if poisson:
        c_i, delta = poisson_cost(trace.z_L, Y)
    else:  # the network's own C_i and δ_i^(L) = ∂C_i/∂z^(L) (fused for canonical pairs)
        c_i = weights.sample_costs(net, trace, Y) * cost_scale
        delta = weights.sample_deltas(net, trace, Y) * cost_scale
    c64 = xp.astype(c_i, xp.float64)
    if sample_weight is None:
        sw_sum: Any = float(n)
        cost = xp.sum(c64) / n
        delta = delta / (n * K)  # the notes' batch mean of ∂C_i/∂z
    else:
        s64 = xp.astype(sample_weight, xp.float64)
        sw_sum = xp.sum(s64)
        share = s64 / sw_sum
        cost = xp.sum(share * c64)
        if K > 1:
            share = np.tile(share, K) / K  # each member's rows
        delta = weights.scale_rows(delta, share)  # weighted: s_i / Σ s
    # alpha plays the L2 part here, scaled by 1 / Σ s: the network adds none (l2=0)
    net.backward(trace, delta_L=delta, l2=0.0)  # the rest of backprop is the network's own
    if alpha:
        lam = alpha / sw_sum / K  # an ensemble: the members' mean of their penalties
        lam_w = lam if isinstance(lam, float) else xp.astype(lam, net.dense_layers[0].w.dtype)
        sq = [xp.sum(xp.astype(layer.w * layer.w, xp.float64)) for layer in net.dense_layers]
        for layer in net.dense_layers:
            layer.grad_w[...] += lam_w * layer.w  # ∂/∂w of α/(2 Σs) ‖W‖²
        cost = cost + 0.5 * lam * sum(sq[1:], sq[0])
    return (float(cost) if xp is np else cost), trace


def predict_output(net: Network, a0: Array, *, poisson: bool = False) -> Array:
    """a^(L) for inputs a0 (n_samples, n_in), dense or scipy.sparse; e^z for a Poisson
    regressor."""
    import scipy.sparse as sp

    if sp.issparse(a0):
        from chainrule.sklearn._sparse import predict_sparse

        a = predict_sparse(net, a0)
    else:
        a = net.predict(a0)
    return namespace_of(a).exp(a) if poisson else a
