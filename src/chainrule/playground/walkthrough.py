"""Step mode: one sample of the next mini-batch through the network, one stage at a time.

The stages follow the notes: the forward pass layer by layer (z_j and a_j), the cost C_0
of the sample, backpropagation layer by layer from L down to 1 (∂C_0/∂a_j, g′(z_j), δ_j
for every node and ∂C_0/∂w_jk = δ_j · a_k^(l−1) for every edge into the layer), the
notes' average over the batch ∂C/∂w = (1/n) Σ_i ∂C_i/∂w, and the update Δw = −η ∂C/∂w.

Every per-sample number comes from ONE engine forward and backward pass on that sample
(``Network.forward`` then ``Network.backward`` with the general δ^(L) = ∂C_0/∂a · g′(z),
the way :func:`chainrule.explain.chain_factors` does it, so a fused canonical pair still
shows its two factors); with one sample the "average" backward computes is ∂C_0/∂w itself.
The batch numbers are ``Network.gradient`` on the whole batch, and the Δw of optimizers
other than SGD is what their next step applies (run on copies by the session).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..engine.layers import Dense
from ..engine.network import Network
from ..engine.output import output_delta
from ..notes.gradcheck import as_float64

Array = NDArray[np.floating]


def stages(n_layers: int, batch_size: int, optimizer: str) -> list[dict[str, Any]]:
    """The stage list the page steps through, each with its caption."""
    L = n_layers
    out: list[dict[str, Any]] = [
        {"kind": "forward", "layer": layer,
         "caption": f"forward: layer {layer}" + (" = L" if layer == L else "")}
        for layer in range(1, L + 1)
    ]
    out.append({"kind": "cost", "layer": L, "caption": "cost C_0"})
    out += [{"kind": "backward", "layer": layer,
             "caption": f"backward: layer {layer}" + (" = L" if layer == L else "")}
            for layer in range(L, 0, -1)]
    out.append({"kind": "average", "layer": None,
                "caption": f"batch average: ∂C/∂w = (1/n) Σ_i ∂C_i/∂w, n = {batch_size}"})
    out.append({"kind": "update", "layer": None,
                "caption": "update: Δw = −η ∂C/∂w" if optimizer == "sgd"
                else f"update: Δw of {optimizer} (and −η ∂C/∂w, the notes' plain SGD step)"})
    return out


def _layers(net: Network, flat: Array) -> list[tuple[Array, Array | None]]:
    """A flat parameter-shaped vector as (w, b) per Dense layer."""
    out = []
    for layer, d in enumerate(net.dense_layers, start=1):
        where = net.param_slices(layer)
        w = flat[where["w"]].reshape(d.n_out, d.n_in)
        out.append((w, flat[where["b"]] if "b" in where else None))
    return out


def _list(x: Array | None) -> Any:
    return None if x is None else x.tolist()


def walk(net: Network, X: Array, T: Array, sample: int, *, lr: float, l2: float,
         gradient: Array, next_update: Array) -> dict[str, Any]:
    """Every number of every stage, for sample ``sample`` of the batch (X, T).

    Parameters
    ----------
    net : Network
    X : ndarray of shape (n_samples, n_in)
        The next mini-batch.
    T : ndarray of shape (n_samples, n_out)
        Its targets, as the network sees them.
    sample : int
        Which row of the batch is walked through.
    lr, l2 : float
        η and λ of the session.
    gradient : ndarray of shape (n_params,)
        ∂C/∂w (+ λw) of the batch, as the next step will see it.
    next_update : ndarray of shape (n_params,)
        The Δ the optimizer's next step will apply.
    """
    net64 = as_float64(net)
    net64.l2 = 0.0  # the notes' C_0 has no penalty term; λw is added at the batch stage
    # -- one forward and one backward pass on the one sample ---------------------------------
    a0 = net64.inputs(X[sample : sample + 1])
    y = net64.targets(T[sample : sample + 1], 1)
    trace = net64.forward(a0)
    out = net64.output_layer
    c_0 = float(net64.loss_fn.value(trace.a_L, y)[0])
    # the general chain ∂C_0/∂a^(L) ⊙ g′(z^(L)), shown factor by factor even for a canonical pair
    delta_L, dC_da_L = output_delta(net64.loss_fn, out.activation, trace.z_L, trace.a_L, y,
                                    fused=False)
    net64.backward(trace, delta_L=delta_L)
    per_sample = _layers(net64, net64.grads.copy())  # n = 1: the mean is ∂C_0/∂w itself
    # -- the batch: the notes' average of ∂C_i/∂w, then the step --------------------------------
    average = _layers(net64, net64.gradient(X, T).copy())
    with_l2 = _layers(net64, gradient)
    steps = _layers(net64, next_update)
    dense = [i for i, layer in enumerate(net64.layers) if isinstance(layer, Dense)]
    layers = []
    for number, (i, d) in enumerate(zip(dense, net64.dense_layers, strict=True), start=1):
        z, a = trace.z[i], trace.a[i + 1]
        assert z is not None
        dC_da = dC_da_L if number == len(dense) else trace.grad_a[i]
        assert dC_da is not None
        g_prime = d.activation.g_prime(z, a)[0] if d.activation.elementwise else None
        delta = trace.delta[i]
        assert delta is not None
        (gw, gb), (aw, ab), (cw, cb), (sw, sb) = (per_sample[number - 1], average[number - 1],
                                                  with_l2[number - 1], steps[number - 1])
        layers.append({
            "layer": number, "activation": d.activation.name, "n_in": d.n_in, "n_out": d.n_out,
            "w": d.w.tolist(), "b": _list(d.b),
            "z": z[0].tolist(), "a": a[0].tolist(),
            "dC_da": dC_da[0].tolist(),  # ∂C_0/∂a_j: from the loss at L, the sum over l + 1 below
            "g_prime": _list(g_prime),  # None for softmax: δ comes from its Jacobian
            "delta": delta[0].tolist(),  # δ_j = ∂C_0/∂a_j · g′(z_j) = ∂C_0/∂z_j = ∂C_0/∂b_j
            "grad_w": gw.tolist(), "grad_b": _list(gb),  # ∂C_0/∂w_jk = δ_j · a_k^(l−1)
            "average_w": aw.tolist(), "average_b": _list(ab),  # (1/n) Σ_i ∂C_i/∂w_jk
            "gradient_w": cw.tolist(), "gradient_b": _list(cb),  # + λ w_jk when λ > 0
            "sgd_w": (-lr * cw).tolist(), "sgd_b": _list(None if cb is None else -lr * cb),
            "update_w": sw.tolist(), "update_b": _list(sb),  # what the optimizer applies
        })
    batch_trace = net64.forward(net64.inputs(X))
    y_batch = net64.targets(T, len(X))
    net64.l2 = l2
    return {
        "a0": a0[0].tolist(), "y": y[0].tolist(), "C_0": c_0,
        "cost": net64.cost(batch_trace, y_batch),  # C of the batch (+ λ/2 ‖W‖² when λ > 0)
        "layers": layers,
    }
