"""Which units a computation graph shows: the whole network while it is small enough to
read, else the units of each layer that matter most to this sample's C_0, else the
neighbourhood of one unit.

A drawing of every unit stops being readable long before the network is large: a 30-16-1
table model has 496 weight edges, a 784-64-10 MNIST model 50,816. So a layer wider than
``per_layer`` shows only its ``per_layer`` units of largest contribution, and the graph
says how many it left out (:attr:`Graph.left_out`).

Notes
-----
The contribution of unit k of layer l < L is what the sample's cost owes to it, to first
order: with n = 1, ∂C_0/∂w_jk^(l+1) = δ_j^(l+1) a_k^(l), so

.. math:: \\Big| a_k^{(l)} \\frac{\\partial C_0}{\\partial a_k^{(l)}} \\Big|
          = \\Big| \\sum_j w_{jk}^{(l+1)} \\frac{\\partial C_0}{\\partial w_{jk}^{(l+1)}} \\Big|,

the change in C_0 per unit of relative change in every weight leaving k. An input of
value 0 contributes nothing (its weights' gradients are all 0). An output unit j is
ranked by |δ_j^(L)| = |∂C_0/∂z_j^(L)|, the error the backward pass starts from.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ..engine.network import Network, Trace

Shown = list[list[int]]


def _top(scores: NDArray, n: int) -> list[int]:
    """Indices of the n largest scores (ties: lower index first), in index order."""
    order = np.argsort(-scores, kind="stable")[:n]
    return sorted(int(i) for i in order)


def contributions(engine: Network, trace: Trace, dense: list[int]) -> list[NDArray]:
    """Each layer's units 0 … L scored as in the module notes (float64, one array per
    layer), from the gradients of a backward pass on one sample."""
    scores = []
    for d, i in zip(engine.dense_layers, dense, strict=True):
        # Σ_j w_jk ∂C_0/∂w_jk = a_k Σ_j w_jk δ_j (n = 1): no (n_out, n_in) temporary
        a_prev, delta = trace.a[i], trace.delta[i]
        assert delta is not None
        dC_da = np.asarray(delta[0] @ d.w, dtype=np.float64)
        scores.append(np.abs(np.asarray(a_prev[0], dtype=np.float64) * dC_da))
    delta_L = trace.delta[dense[-1]]
    assert delta_L is not None
    scores.append(np.abs(np.asarray(delta_L[0], dtype=np.float64)))
    return scores


def top_per_layer(scores: list[NDArray], per_layer: int) -> Shown:
    """The ``per_layer`` units of largest score in every layer (all of a narrower one)."""
    return [_top(s, per_layer) for s in scores]


def focus_unit(trace: Trace, dense: list[int], layer: int | None = None) -> tuple[int, int]:
    """(l, j): unit j of largest |δ_j| in ``layer``, by default the last hidden layer's
    (the output layer's when there is none)."""
    L = len(dense)
    pick = layer if layer is not None else (L - 1 if L > 1 else L)
    delta = trace.delta[dense[pick - 1]]
    assert delta is not None
    return pick, int(np.argmax(np.abs(delta[0])))


def neighbourhood(engine: Network, trace: Trace, dense: list[int], sizes: list[int],
                  focus: tuple[int, int], max_units: int | None,
                  per_layer: int | None) -> Shown:
    """The focus unit, the inputs of its layer with the largest |∂C_0/∂w_jk| and the next
    layer's units with the largest |w_ij δ_i| (the terms of ∂C_0/∂a_j), at most
    ``per_layer`` of each and ``max_units`` nodes in all (the unit and C_0 included)."""
    layer, j = focus
    L = len(sizes) - 1
    shown: Shown = [[] for _ in sizes]
    shown[layer] = [j]
    budget = (sum(sizes) if max_units is None else max_units) - 2  # the unit and C_0
    cap = sum(sizes) if per_layer is None else per_layer
    n_next = min(sizes[layer + 1], cap) if layer < L else 0
    n_prev = min(sizes[layer - 1], cap, max(budget - min(n_next, budget // 2), 0))
    n_next = min(n_next, budget - n_prev)
    d = engine.dense_layers[layer - 1]
    shown[layer - 1] = _top(np.abs(np.asarray(d.grad_w[j], dtype=np.float64)), n_prev)
    if n_next:
        nxt = engine.dense_layers[layer]
        delta = trace.delta[dense[layer]]
        assert delta is not None
        shown[layer + 1] = _top(np.abs(np.asarray(nxt.w[:, j] * delta[0], dtype=np.float64)),
                                n_next)
    return shown


def choose(engine: Network, trace: Trace, dense: list[int], sizes: list[int],
           layer: int | None, j: int | None, max_units: int | None,
           per_layer: int | None) -> tuple[Shown, tuple[int, int] | None, int | None]:
    """The units to show, the focus unit (None unless a neighbourhood is shown) and the
    per-layer cap that trimmed the layers (None unless it did).

    In order: the neighbourhood of (``layer``, ``j``) when a layer is asked for; the whole
    network when no layer is wider than ``per_layer`` and it has at most ``max_units``
    nodes (inputs, units and C_0); the ``per_layer`` units of largest contribution of
    every layer when those fit in ``max_units``; else (a network too deep for that) the
    neighbourhood of the last hidden layer's unit of largest |δ_j|. None: no limit.
    """
    if layer is not None:
        focus = focus_unit(trace, dense, layer) if j is None else (layer, j)
        return neighbourhood(engine, trace, dense, sizes, focus, max_units, per_layer), \
            focus, None
    limit = float("inf") if max_units is None else max_units
    cap = float("inf") if per_layer is None else per_layer
    if max(sizes) <= cap and sum(sizes) + 1 <= limit:
        return [list(range(s)) for s in sizes], None, None
    if per_layer is not None and sum(min(s, per_layer) for s in sizes) + 1 <= limit:
        return top_per_layer(contributions(engine, trace, dense), per_layer), None, per_layer
    focus = focus_unit(trace, dense)
    return neighbourhood(engine, trace, dense, sizes, focus, max_units, per_layer), focus, None
