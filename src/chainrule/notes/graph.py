"""The computation graph of one sample: every z, a and the cost as nodes, every w as an
edge, with the forward values and the backward gradients the engine computed.

One forward and one backward pass of the engine (:meth:`Network.forward`,
:meth:`Network.backward`) on a batch of one sample give every number: with n = 1 the
batch mean is the sample's own cost C_0, so ``grad_w`` is ∂C_0/∂w itself. The graph
is drawn as SVG (:meth:`Graph.to_svg`, laid out here, no Graphviz needed) or written as
Graphviz DOT (:meth:`Graph.to_dot`).

Notes
-----
What each node and edge carries, in the notes' notation (layer l = 1 … L):

.. math:: z_j^{(l)} = \\sum_k w_{jk}^{(l)} a_k^{(l-1)} + b_j^{(l)}, \\qquad
          a_j^{(l)} = g(z_j^{(l)}), \\qquad
          \\delta_j^{(l)} = \\frac{\\partial C_0}{\\partial a_j^{(l)}} g'(z_j^{(l)}),

.. math:: \\frac{\\partial C_0}{\\partial w_{jk}^{(l)}} = a_k^{(l-1)} \\delta_j^{(l)}, \\qquad
          \\frac{\\partial C_0}{\\partial b_j^{(l)}} = \\delta_j^{(l)}.

For a canonical output/loss pair (softmax + cross-entropy, sigmoid + binary
cross-entropy) the engine goes straight to δ^(L) = a − y, so ∂C_0/∂a^(L) is not
computed and the graph shows None for it (the box shows the collapse a_j − y_j instead).
Softmax couples its outputs: there is no single g′(z_j) (g′ is None), and
δ_j = Σ_i ∂C_0/∂a_i · ∂a_i/∂z_j, a sum over every output (the Jacobian–vector product).
With ∂a_i/∂z_j = a_i (δ_ij − a_j) the sum is one product, which the box shows with its
numbers: δ_j = a_j (∂C_0/∂a_j − Σ_i a_i ∂C_0/∂a_i).
The L2 penalty is not part of C_0 and is left out of the gradients.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..engine.layers import Dense, Dropout
from ..engine.network import Network, Trace
from ..engine.validation import check_label_array
from .graph_select import choose

Value = float | None

#: A graph of more weights than this is refused (its SVG would pass ~70 MB): a 784-64-10
#: MNIST model's 50,816 fit.
MAX_WEIGHTS = 200_000


@dataclass(frozen=True)
class Node:
    """An input a_k^(0) (``layer`` 0), a unit j of layer l (1 … L), or the cost C_0.

    ``values`` maps quantity names to numbers: ``a`` for inputs; ``z``, ``a``,
    ``g_prime``, ``dC_da``, ``delta``, ``b``, ``grad_b`` for units (None where the engine
    has no such number: see the module notes), and ``sum_a_dC_da`` = Σ_i a_i ∂C_0/∂a_i
    for a softmax unit that has ∂C_0/∂a; ``C0`` for the cost node.
    """

    id: str
    layer: int
    j: int | None
    values: dict[str, Value]

    @property
    def kind(self) -> str:
        return "cost" if self.j is None else "input" if self.layer == 0 else "unit"


@dataclass(frozen=True)
class Edge:
    """A weight w_jk^(layer) from node ``source`` (k) to ``target`` (j), with values ``w``
    and ``grad_w`` = ∂C_0/∂w_jk; or (``kind`` "cost") output unit j into C_0, with the
    target ``y`` and the output's term of C_0 (``C0_term``, None when the loss is not
    a sum over outputs)."""

    source: str
    target: str
    layer: int
    j: int
    k: int | None
    values: dict[str, Value]

    @property
    def kind(self) -> str:
        return "cost" if self.k is None else "weight"


@dataclass
class Graph:
    """The computation graph of one sample (see :func:`computation_graph`).

    ``sizes`` are the widths of layers 0 … L, ``activations`` the g of layers 1 … L.
    ``focus`` is the (layer, j) whose neighbourhood is shown, or None for the whole
    network; ``left_out[l]`` counts the units of layer l not shown; ``top`` is the
    per-layer limit that chose each layer's units by their contribution to C_0 (None when
    no layer was trimmed that way). ``features_of`` names the layers (an embedding) between
    the network's input and w^(1) when there are any: layer 0 then shows their outputs,
    the numbers w^(1) multiplies, rather than the raw inputs.
    """

    nodes: list[Node]
    edges: list[Edge]
    sample: int
    sizes: list[int]
    activations: list[str]
    loss: str
    fused: bool
    focus: tuple[int, int] | None = None
    left_out: dict[int, int] = field(default_factory=dict)
    top: int | None = None
    features_of: str | None = None

    def node(self, node_id: str) -> Node:
        """The node called ``node_id`` (``a0_k``, ``u{l}_{j}`` or ``C0``)."""
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(f"node_id: no node {node_id!r} in this graph")

    def to_svg(self) -> str:
        """The graph as a standalone SVG document (layers as columns)."""
        from .graph_draw import render_svg

        return render_svg(self)

    def to_dot(self) -> str:
        """The graph in Graphviz DOT (``dot -Tsvg``), the same numbers as labels."""
        from .graph_draw import render_dot

        return render_dot(self)


# -- building the graph from one forward and backward pass -------------------------------
def computation_graph(
    net: Network,
    x: ArrayLike,
    y: ArrayLike,
    *,
    sample: int = 0,
    layer: int | None = None,
    j: int | None = None,
    max_units: int | None = 50,
    per_layer: int | None = 8,
) -> Graph:
    """The computation graph of one sample, with the engine's numbers.

    Parameters
    ----------
    net : Network
        Not changed: the passes run on a copy (so ``net.grads`` keeps its values).
    x : array-like of shape (n_in,) or (n_samples, n_in)
        One sample, or several of which ``sample`` is drawn.
    y : target(s) for x, as :meth:`Network.targets` takes them
    sample : int
        Which row of ``x`` (0 for a single row).
    layer, j : int, optional
        Show only the neighbourhood of unit j of layer l (1 … L): the inputs of its
        layer, the unit, the next layer's units and C_0. ``layer`` alone picks the unit
        of largest |δ_j|.
    max_units : int or None
        At most this many nodes (inputs, units and C_0) are drawn; None: no limit.
    per_layer : int or None
        At most this many units of each layer are drawn: a wider layer shows the ones
        that contribute most to this sample's C_0 (see :mod:`.graph_select`) and the graph
        says how many it left out. None: every unit, as far as ``max_units`` allows.

    A network within both limits is drawn whole. A wider one shows each layer's
    ``per_layer`` units of largest contribution; one too deep for that to fit in
    ``max_units`` shows the neighbourhood of the last hidden layer's unit of largest
    |δ_j|. ``per_layer=None, max_units=None`` draws every unit and weight.
    """
    X, Y = _one_sample(x, y, sample)
    L = len(net.dense_layers)
    _check_limits(layer, j, max_units, per_layer, L)
    dense = _dense_chain(net)

    engine = net.copy()
    engine.l2 = 0.0  # C_0 of the notes has no penalty term
    a0 = engine.inputs(X, "x")
    Yt = engine.targets(Y, 1, "y")
    trace = engine.forward(a0)
    c0 = engine.cost(trace, Yt)  # n = 1: the mean over the batch is C_0 itself
    engine.backward(trace, Yt)  # grad_w = ∂C_0/∂w_jk = a_k δ_j, since n = 1

    layers = engine.dense_layers
    a_in = trace.a[dense[0]]  # what w^(1) multiplies: a^(0), or an embedding's features of it
    sizes = [int(a_in.shape[1]), *(d.n_out for d in layers)]
    before = "+".join(type(lyr).__name__ for lyr in engine.layers[: dense[0]]) or None
    if layer is not None and j is not None:
        _check_int("j", j, 0, sizes[layer] - 1, f" for layer {layer}")
    shown, focus, top = choose(engine, trace, dense, sizes, layer, j, max_units, per_layer)
    _check_drawable(shown, per_layer)
    nodes = [Node(f"a0_{k}", 0, k, {"a": float(a_in[0, k])}) for k in shown[0]]
    for lay in range(1, L + 1):
        nodes += [Node(_unit_id(lay, u), lay, u,
                       _unit_values(trace, dense[lay - 1], layers[lay - 1], u))
                  for u in shown[lay]]
    nodes.append(Node("C0", L + 1, None, {"C0": c0}))
    edges = _edges(engine, shown, trace.a[-1], Yt, c0)
    left_out = {lay: sizes[lay] - len(shown[lay]) for lay in range(L + 1)
                if len(shown[lay]) < sizes[lay]}
    return Graph(nodes, edges, int(sample), sizes, [d.activation.name for d in layers],
                 engine.loss_fn.name, engine.fused_output, focus, left_out, top, before)


def _check_limits(layer: int | None, j: int | None, max_units: int | None,
                  per_layer: int | None, L: int) -> None:
    if max_units is not None:
        _check_int("max_units", max_units, 3, None)
    if per_layer is not None:
        _check_int("per_layer", per_layer, 1, None)
    if j is not None and layer is None:
        raise ValueError("j: give layer too (the notes' l, 1 … L)")
    if layer is not None:
        _check_int("layer", layer, 1, L, " (the notes' l)")


def _dense_chain(net: Network) -> list[int]:
    """The indices of the Dense layers in ``net.layers``, which the drawing joins straight
    to each other (w^(l+1) multiplies layer l's a): nothing but Dropout, the identity
    outside training, may sit between two of them."""
    dense = [i for i, lyr in enumerate(net.layers) if isinstance(lyr, Dense)]
    between = [lyr for lyr in net.layers[dense[0]:] if not isinstance(lyr, (Dense, Dropout))]
    if between:
        raise ValueError(f"net: the graph draws Dense layers one after another (Dropout "
                         f"between them is the identity here); this network has a "
                         f"{type(between[0]).__name__} between two of them")
    return dense


def _check_drawable(shown: list[list[int]], per_layer: int | None) -> None:
    n_weights = sum(len(a) * len(b) for a, b in zip(shown[:-1], shown[1:], strict=True))
    if n_weights > MAX_WEIGHTS:
        raise ValueError(f"per_layer: {per_layer} would draw {n_weights:,} weights, more than "
                         f"the {MAX_WEIGHTS:,} one drawing holds; give a number of units per "
                         f"layer (8 draws at most {64 * (len(shown) - 1):,})")


def _unit_values(trace: Trace, i: int, d: Dense, unit: int) -> dict[str, Value]:
    """The numbers at one unit of ``d`` (``net.layers[i]``): z, a, g′, ∂C/∂a, δ, b, ∂C/∂b;
    for a g that couples its outputs (softmax) and a ∂C/∂a, also Σ_i a_i ∂C/∂a_i over the
    layer, the number that turns its sum over outputs into one product (module notes)."""
    z, a = trace.z[i], trace.a[i + 1]
    grad_a, delta = trace.grad_a[i], trace.delta[i]
    assert z is not None and delta is not None
    g_prime = d.activation.g_prime(z, a)[0, unit] if d.activation.elementwise else None
    coupled: dict[str, Value] = {}
    if not d.activation.elementwise and grad_a is not None:  # Σ_i a_i ∂C_0/∂a_i
        coupled["sum_a_dC_da"] = float(np.dot(np.asarray(a[0], dtype=np.float64),
                                              np.asarray(grad_a[0], dtype=np.float64)))
    return coupled | {
        "z": float(z[0, unit]),
        "a": float(a[0, unit]),
        "g_prime": None if g_prime is None else float(g_prime),
        "dC_da": None if grad_a is None else float(grad_a[0, unit]),
        "delta": float(delta[0, unit]),
        "b": None if d.b is None else float(d.b[unit]),
        "grad_b": None if d.grad_b is None else float(d.grad_b[unit]),
    }


def _edges(engine: Network, shown: list[list[int]], a_L: NDArray, Yt: NDArray,
           c0: float) -> list[Edge]:
    """Every weight between two shown nodes (w_jk and ∂C/∂w_jk), then each shown output
    unit's edge into C_0 (y_j and its term of C_0)."""
    layers = engine.dense_layers
    L = len(layers)
    edges: list[Edge] = []
    for lay in range(1, L + 1):
        d = layers[lay - 1]
        for u in shown[lay]:
            for k in shown[lay - 1]:  # every shown input of a shown unit
                edges.append(Edge(_node_id(lay - 1, k), _unit_id(lay, u), lay, u, k,
                                  {"w": float(d.w[u, k]), "grad_w": float(d.grad_w[u, k])}))
    terms = _cost_terms(engine, a_L, Yt, c0)
    for u in shown[L]:
        edges.append(Edge(_unit_id(L, u), "C0", L + 1, u, None,
                          {"y": float(Yt[0, u]),
                           "C0_term": None if terms is None else float(terms[u])}))
    return edges


def _one_sample(x: ArrayLike, y: ArrayLike, sample: int) -> tuple[NDArray, NDArray]:
    """Row ``sample`` of x (1, n_in) and its target row, sliced before any conversion."""
    X = check_label_array(x, "x", "(n_in,) or (n_samples, n_in)")
    Yin = y if np.isscalar(y) else check_label_array(y, "y", "(n_out,) or (n_samples, n_out)")
    Yin = np.asarray(Yin)
    if X.ndim == 1:
        X = X.reshape(1, -1)
        Yin = Yin.reshape(1) if Yin.ndim == 0 else Yin.reshape(1, -1)
    if X.ndim != 2:
        raise ValueError(f"x: expected one sample (n_in,) or rows (n_samples, n_in), got "
                         f"shape {X.shape}")
    n = X.shape[0]
    _check_int("sample", sample, 0, n - 1, f" (x has {n} rows)")
    if Yin.ndim == 0 or Yin.shape[0] != n:
        raise ValueError(f"y: expected {n} target rows to match x, got shape {Yin.shape}")
    return X[sample : sample + 1], Yin[sample : sample + 1]


def _check_int(name: str, value: object, low: int, high: int | None, what: str = "") -> None:
    ok = not isinstance(value, bool) and isinstance(value, (int, np.integer))
    if not ok or value < low or (high is not None and value > high):  # type: ignore[operator]
        span = f"in {low}..{high}" if high is not None else f"≥ {low}"
        raise ValueError(f"{name}: expected an integer {span}{what}, got {value!r}")


def _unit_id(layer: int, j: int) -> str:
    return f"u{layer}_{j}"


def _node_id(layer: int, j: int) -> str:
    return f"a0_{j}" if layer == 0 else _unit_id(layer, j)


def _cost_terms(engine: Network, a_L: NDArray, Y: NDArray, c0: float) -> NDArray | None:
    """C_0's term for each output j, when the loss is a sum (or mean) over the outputs:
    the loss of output j alone, checked to add up to C_0; None for a loss that does not."""
    loss = engine.loss_fn
    n_out = a_L.shape[1]
    terms = np.array([float(loss.value(a_L[:, [u]], Y[:, [u]])[0]) for u in range(n_out)])
    tol = 1e-9 * max(1.0, abs(c0)) + (1e-5 if a_L.dtype == np.float32 else 0.0)
    for candidate in (terms, terms / n_out):
        if abs(float(candidate.sum()) - c0) <= tol:
            return candidate
    return None
