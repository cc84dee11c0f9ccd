"""The notes made runnable: the chain-rule factors of one weight, with numbers.

For a weight w_jk^(l),

.. math:: \\frac{\\partial C_0}{\\partial w_{jk}^{(l)}} =
          \\frac{\\partial C_0}{\\partial a_j^{(l)}} \\cdot g'(z_j^{(l)}) \\cdot a_k^{(l-1)},

where, at the output layer, ∂C_0/∂a_j^(L) comes straight from the loss
(2(a_j − y_j) for the notes' squared error) and, at a hidden layer, it is the
sum over the next layer's nodes,
∂C_0/∂a_j^(l) = Σ_i w_ij^(l+1) · g′(z_i^(l+1)) · ∂C_0/∂a_i^(l+1).
Over several samples the notes average: ∂C/∂w = (1/n) Σ_i ∂C_i/∂w.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..engine.ensemble import Ensemble
from ..engine.layers import Dense
from ..engine.network import Network
from ..engine.output import output_delta
from ..engine.validation import check_float, check_label_array
from ..training.optimizers import Optimizer, get_optimizer
from .explain_latex import plain_number, text_factor, text_index
from .gradcheck import as_float64


@dataclass
class NextLayerTerm:
    """One term of the hidden-layer sum: w_ij^(l+1) · g′(z_i^(l+1)) · ∂C_0/∂a_i^(l+1)."""

    i: int
    w: float
    g_prime: float | None
    dC_da: float
    delta: float  # g′(z_i) · ∂C_0/∂a_i (δ_i^(l+1))
    product: float  # w · δ


@dataclass
class CoupledTerm:
    """One term of δ_j = Σ_i ∂C_0/∂a_i · ∂a_i/∂z_j, for a g that couples its outputs."""

    i: int
    dC_da: float  # ∂C_0/∂a_i
    da_dz: float  # ∂a_i/∂z_j (softmax: a_i ([i = j] − a_j))
    product: float


@dataclass
class WeightExplanation:
    """The factors of ∂C_0/∂w_jk^(l) for one sample, and the average over all samples.

    ``g_prime`` is None when g^(l) is softmax: it couples the outputs, so
    ``delta`` = ∂C_0/∂z_j^(l) is the sum ``coupled`` over every output i of
    ∂C_0/∂a_i · ∂a_i/∂z_j, and ``dC_da`` (∂C_0/∂a_j) is one of its terms, not a factor.
    ``canonical``: the output layer of a canonical pair, where δ_j collapses to a_j − y_j.
    ``optimizer``, ``optimizer_t`` and ``optimizer_step``: the optimizer that trained the
    model, its step count, and the Δw its own rule takes (run on a copy of its state, from
    the gradient of these samples); ``update`` is the notes' plain SGD step −η ∂C/∂w.
    """

    layer: int
    j: int
    k: int
    n_layers: int
    loss: str
    activation: str
    sample: int
    a_j: float
    y_j: float | None
    z_j: float
    dC_da: float
    g_prime: float | None
    delta: float
    a_prev_k: float
    product: float
    finite_difference: float
    terms: list[NextLayerTerm] = field(default_factory=list)
    per_sample: NDArray = field(default_factory=lambda: np.empty(0))
    average: float = 0.0
    finite_difference_average: float = 0.0
    lr: float | None = None
    coupled: list[CoupledTerm] = field(default_factory=list)
    canonical: bool = False
    optimizer: str | None = None
    optimizer_t: int | None = None
    optimizer_step: float | None = None

    @property
    def update(self) -> float | None:
        """Δw = −η ∂C/∂w that a plain SGD step with learning rate ``lr`` would apply."""
        return None if self.lr is None else -self.lr * self.average

    def to_latex(self) -> str:
        """The notes' lines with these numbers, as a LaTeX ``aligned`` block (see explain_latex)."""
        from .explain_latex import to_latex

        return to_latex(self)

    def _repr_latex_(self) -> str:
        return f"$${self.to_latex()}$$"

    def _repr_html_(self) -> str:
        from .explain_latex import to_html

        return to_html(self)

    def __str__(self) -> str:
        return "\n".join(text_lines(self))


# ∂C_0/∂a_j^(L) for the losses whose formula the notes' readers know, in text
_LOSS_GRADS_TEXT = {
    "squared_error": lambda a, y: f"2({a} − {y})",  # the notes' 2(a_j − y_j)
    "cross_entropy": lambda a, y: f"−{y}/{a}",
    "binary_cross_entropy": lambda a, y: f"({a} − {y})/({a}(1 − {a}))",
}


def _headline(e: WeightExplanation) -> str:
    """The weight's chain: its factors as symbols, as numbers, and their product."""
    lay, j, k = e.layer, e.j, e.k
    a_k = f"a_{k}^({lay - 1})"
    if e.g_prime is None:  # g couples its outputs: δ_j is a sum, not ∂C_0/∂a_j · g′(z_j)
        symbols = f"δ_{j}^({lay}) · {a_k}"
        numbers = f"{text_factor(e.delta)} · {text_factor(e.a_prev_k)}"
    else:
        symbols = f"∂C_0/∂a_{j}^({lay}) · g′(z_{j}^({lay})) · {a_k}"
        numbers = (f"{text_factor(e.dC_da)} · {text_factor(e.g_prime)} · "
                   f"{text_factor(e.a_prev_k)}")
    return (f"∂C_0/∂w_{text_index(j, k)}^({lay}) = {symbols} = {numbers} = "
            f"{plain_number(e.product)}   (sample {e.sample}, loss {e.loss}, "
            f"g = {e.activation})")


def _dC_da_lines(e: WeightExplanation, j: int | str, value: float) -> list[str]:
    """∂C_0/∂a_j^(l): from the loss at the output; the sum over next-layer nodes below."""
    lay = e.layer
    if lay == e.n_layers:
        known = _LOSS_GRADS_TEXT.get(e.loss)
        if known is not None and e.y_j is not None and j == e.j:
            return [f"  ∂C_0/∂a_{j}^({lay}) = {known(f'a_{j}', f'y_{j}')} = "
                    f"{known(plain_number(e.a_j), text_factor(e.y_j))} = {plain_number(value)}"]
        return [f"  ∂C_0/∂a_{j}^({lay}) = {plain_number(value)}   (from the loss {e.loss})"]
    nxt = lay + 1
    lines = [f"  ∂C_0/∂a_{j}^({lay}) = Σ_i w_{text_index('i', j)}^({nxt}) · "
             + ("δ_i" if any(t.g_prime is None for t in e.terms)
                else f"g′(z_i^({nxt})) · ∂C_0/∂a_i") + f"^({nxt})"]
    for t in e.terms:
        if t.g_prime is None:  # softmax next layer: δ_i is its own sum
            factors = f"{plain_number(t.w)} · {text_factor(t.delta)}"
        else:
            factors = (f"{plain_number(t.w)} · {text_factor(t.g_prime)} · "
                       f"{text_factor(t.dC_da)}")
        lines.append(f"      i={t.i}: {factors} = {plain_number(t.product)}")
    lines.append(f"    = {plain_number(value)}")
    return lines


def _delta_lines(e: WeightExplanation) -> list[str]:
    """g′(z_j) for an elementwise g; for one that couples its outputs, δ_j as the sum over
    outputs i; and the a_j − y_j collapse of a canonical output pair."""
    lay, j = e.layer, e.j
    if e.g_prime is not None:
        lines = [f"  g′(z_{j}^({lay})) = g′({plain_number(e.z_j)}) = {plain_number(e.g_prime)}"]
    else:
        why = ("softmax couples its outputs: ∂a_i/∂z_j = a_i([i = j] − a_j)"
               if e.activation == "softmax" else f"{e.activation} couples its outputs")
        lines = [f"  δ_{j}^({lay}) = ∂C_0/∂z_{j}^({lay}) = Σ_i ∂C_0/∂a_i^({lay}) · "
                 f"∂a_i^({lay})/∂z_{j}^({lay})   ({why})"]
        for t in e.coupled:
            lines.append(f"      i={t.i}: {text_factor(t.dC_da)} · {text_factor(t.da_dz)} = "
                         f"{plain_number(t.product)}")
        lines.append(f"    = {plain_number(e.delta)}")
    if e.canonical and e.y_j is not None:
        lines.append(f"  δ_{j}^({lay}) = a_{j} − y_{j} = {plain_number(e.a_j)} − "
                     f"{text_factor(e.y_j)} = {plain_number(e.delta)}   ({e.activation} + "
                     f"{e.loss}, a canonical pair: the chain collapses to a − y)")
    return lines


def _update_lines(e: WeightExplanation) -> list[str]:
    """The step the optimizer that trained the model takes; the notes' plain SGD step."""
    lines = []
    w = f"w_{text_index(e.j, e.k)}^({e.layer})"
    if e.optimizer is not None and e.optimizer_step is not None:
        lines.append(f"  update ({e.optimizer}, the optimizer that trained this model, step "
                     f"t = {e.optimizer_t}): Δ{w} = {plain_number(e.optimizer_step)}   "
                     f"(its own rule, run on a copy of its state)")
    if e.update is not None:
        sgd = f"−η ∂C/∂w = {plain_number(-(e.lr or 0.0))} · {text_factor(e.average)} = "
        note = ("" if e.optimizer in (None, "sgd") else
                f"   (the notes' plain SGD step; not the step {e.optimizer} takes)")
        lines.append(f"  update (plain SGD): Δw = {sgd}{plain_number(e.update)}{note}")
    return lines


def text_lines(e: WeightExplanation) -> list[str]:
    """The explanation as text, one equation a line, every number to 6 significant digits."""
    lines = [_headline(e)]
    if e.g_prime is not None:
        lines += _dC_da_lines(e, e.j, e.dC_da)
    lines += _delta_lines(e)
    lines.append(f"  a_{e.k}^({e.layer - 1}) = {plain_number(e.a_prev_k)}")
    lines.append(f"  product = {plain_number(e.product)}   (finite difference: "
                 f"{plain_number(e.finite_difference)})")
    n = e.per_sample.size
    if n > 1:
        lines.append(f"  average over {n} samples: (1/n) Σ_i ∂C_i/∂w_{text_index(e.j, e.k)}"
                     f"^({e.layer}) = {plain_number(e.average)}   (finite difference: "
                     f"{plain_number(e.finite_difference_average)})")
    return lines + _update_lines(e)


def chain_factors(net: Network, X: ArrayLike, Y: ArrayLike) -> dict[str, list[NDArray]]:
    """Per-sample (not averaged) z, a, ∂C_0/∂a and δ of every Dense layer, in float64.

    Returns lists indexed by the notes' layer number minus one, plus ``a0`` (the input).
    """
    _one_network(net)
    net64 = as_float64(net)
    a0 = net64.inputs(X)
    Yt = net64.targets(Y, a0.shape[0])
    trace = net64.forward(a0)
    # The general chain rule (no fused δ = a − y): δ^(L) = ∂C_0/∂a · g′(z), per sample (not
    # averaged), then backprop records every layer's δ and ∂C_0/∂a in the trace.
    delta_L, grad_a_L = output_delta(net64.loss_fn, net64.output_layer.activation, trace.z_L,
                                     trace.a_L, Yt, fused=False)
    dC_da_L = cast(NDArray, grad_a_L)  # ∂C_0/∂a^(L) for each sample
    net64.backward(trace, delta_L=delta_L)
    dense = [i for i, layer in enumerate(net64.layers) if isinstance(layer, Dense)]
    dC_da = [cast(NDArray, trace.grad_a[i]) for i in dense[:-1]] + [dC_da_L]
    return {
        "a0": [a0],
        "z": [cast(NDArray, trace.z[i]) for i in dense],
        "a": [trace.a[i + 1] for i in dense],
        "a_prev": [trace.a[i] for i in dense],
        "dC_da": dC_da,
        "delta": [cast(NDArray, trace.delta[i]) for i in dense],
        "y": [Yt],
    }


def layer_chain_lines(net: Network, x: ArrayLike, y: ArrayLike) -> list[str]:
    """The chain rule with numbers through every layer that is not Dense, for one sample.

    The hook: a layer type may define ``explain_lines(a_prev, grad_a) -> list[str]``, given
    (in float64, one row) what it took, a_prev of shape (1, n_in), and ∂C_0/∂a of its
    output, shape (1, n_out); it returns the lines that show how ∂C_0 reaches its own
    parameters (and a_prev). A layer without the method is passed over.
    """
    _one_network(net)
    X, Yin = _as_batch(x, y)
    if X.shape[0] != 1:
        raise ValueError(f"x: expected one sample, got {X.shape[0]}")
    net64 = as_float64(net)
    if not any(hasattr(layer, "explain_lines") and not isinstance(layer, Dense)
               for layer in net64.layers):
        return []
    a0 = net64.inputs(X)
    trace = net64.forward(a0)
    delta_L, grad_a_L = output_delta(net64.loss_fn, net64.output_layer.activation, trace.z_L,
                                     trace.a_L, net64.targets(Yin, 1), fused=False)
    net64.backward(trace, delta_L=delta_L)
    lines: list[str] = []
    for i, layer in enumerate(net64.layers):
        hook = getattr(layer, "explain_lines", None)
        if hook is None or isinstance(layer, Dense):
            continue
        grad_a = grad_a_L if i == len(net64.layers) - 1 else trace.grad_a[i]
        lines += hook(trace.a[i], cast(NDArray, grad_a))
    return lines


def _one_network(net: Network) -> None:
    """Refuse an ensemble: the notes' chain rule runs through one network, a member."""
    if isinstance(net, Ensemble):
        raise ValueError(f"net: an ensemble of {net.members} members; explain one of them, "
                         "net.member(i) (chainrule explain --member i)")


def _checked_weight(net: Network, layer: int, j: int, k: int) -> Dense:
    """The Dense layer of the notes' index ``layer``, with j and k checked against it."""
    return _checked_weight_of(net.dense_layers, layer, j, k)


def _checked_weight_of(dense: list[Dense], layer: int, j: int, k: int) -> Dense:
    """:func:`_checked_weight` on the network's Dense layers ``dense``."""
    L = len(dense)
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not 1 <= layer <= L:
        raise ValueError(f"layer: expected an integer in 1..{L} (the notes' l), got {layer!r}")
    d = dense[layer - 1]
    for name, value, size in (("j", j, d.n_out), ("k", k, d.n_in)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not (
            0 <= value < size
        ):
            raise ValueError(f"{name}: expected an integer in 0..{size - 1} for layer {layer}, "
                             f"got {value!r}")
    return d


def _check_step(h: object, lr: object) -> None:
    """The finite-difference step h (> 0) and the learning rate (None or ≥ 0), finite."""
    if check_float("h", h) == 0:
        raise ValueError("h: expected a finite number > 0 (the finite-difference step), got 0")
    if lr is not None:
        check_float("lr", lr)


def _as_batch(x: ArrayLike, y: ArrayLike) -> tuple[NDArray, NDArray]:
    """(X, Y) with one row per sample: a single sample x (n_in,) becomes one row."""
    X = check_label_array(x, "x", "(n_in,) or (n_samples, n_in)")
    if X.dtype == object or not np.issubdtype(X.dtype, np.number):
        raise ValueError(f"x: expected numbers, got dtype {X.dtype}")
    X = X.astype(np.float64)
    if X.ndim == 1:
        X = X.reshape(1, -1)
        y_arr = np.asarray(y)
        return X, y_arr.reshape(1) if y_arr.ndim == 0 else y_arr.reshape(1, -1)
    return X, check_label_array(y, "y", "(n_samples,) or (n_samples, n_out)")


def _next_layer_terms(dense: list[Dense], f: dict[str, list[NDArray]], layer: int, j: int,
                      s: int) -> list[NextLayerTerm]:
    """The notes' sum over next-layer nodes i for ∂C/∂a_j^(layer), one term per node, of
    sample s (empty at the output layer)."""
    terms: list[NextLayerTerm] = []
    if layer == len(dense):
        return terms
    i = layer - 1
    nxt = dense[layer]
    z_n, a_n = f["z"][i + 1], f["a"][i + 1]
    act_n_gp = None
    if nxt.activation.elementwise:
        act_n_gp = nxt.activation.g_prime(z_n[s : s + 1], a_n[s : s + 1])[0]
    for node in range(nxt.n_out):
        w_ij = float(nxt.w[node, j])
        gp_n = None if act_n_gp is None else float(act_n_gp[node])
        delta_i = float(f["delta"][i + 1][s, node])
        terms.append(NextLayerTerm(node, w_ij, gp_n, float(f["dC_da"][i + 1][s, node]),
                                   delta_i, w_ij * delta_i))
    return terms


def _finite_differences(net: Network, X: NDArray, Yin: NDArray, layer: int, j: int, k: int,
                        s: int, h: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """(C_0 of sample s, mean C) at w_jk + h and at w_jk − h, on a float64 copy of ``net``
    without its L2 term (the notes' C_0 has none; explain the data term)."""
    net64 = as_float64(net)
    net64.l2 = 0.0
    a0 = net64.inputs(X)
    Yt = net64.targets(Yin, X.shape[0])
    w = net64.dense_layers[layer - 1].w

    def costs() -> tuple[float, float]:
        c_i = net64.loss_fn.value(net64.forward(a0).a_L, Yt)
        return float(c_i[s]), float(np.mean(c_i))

    w0 = float(w[j, k])
    w[j, k] = w0 + h
    plus = costs()
    w[j, k] = w0 - h
    minus = costs()
    w[j, k] = w0
    return plus, minus


def explain(
    net: Network,
    x: ArrayLike,
    y: ArrayLike,
    *,
    layer: int,
    j: int,
    k: int,
    sample: int = 0,
    lr: float | None = None,
    h: float = 1e-6,
    optimizer: Optimizer | None = None,
) -> WeightExplanation:
    """The notes' three chain-rule factors for weight w_jk^(layer), with numbers.

    Parameters
    ----------
    net : Network
    x : array-like of shape (n_in,) or (n_samples, n_in)
        One sample or several (then ``average`` is the notes' mean over samples).
    y : target(s) for x
    layer : int
        The notes' layer index l, 1 … L (input is layer 0; dropout layers don't count).
    j, k : int
        Output node j of layer l and input node k of layer l − 1.
    sample : int
        Which sample's factors to show.
    lr : float, optional
        Learning rate, to report the notes' plain SGD update Δw = −η ∂C/∂w.
    h : float
        Step of the central finite differences.
    optimizer : Optimizer, optional
        Whose step Δw to show (its own rule, on a copy of its state, from the gradient of
        these samples); default ``net.optimizer``, the one that trained a model read from
        a file. None there too: only the plain SGD line (with ``lr``).
    """
    _one_network(net)
    _checked_weight(net, layer, j, k)
    _check_step(h, lr)
    X, Yin = _as_batch(x, y)
    n = X.shape[0]
    if isinstance(sample, bool) or not isinstance(sample, (int, np.integer)) or not (
        0 <= sample < n
    ):
        raise ValueError(f"sample: expected an integer in 0..{n - 1}, got {sample!r}")
    f = chain_factors(net, X, Yin)
    plus, minus = _finite_differences(net, X, Yin, layer, j, k, sample, h)
    step = _optimizer_steps(net, optimizer, X, Yin, [(layer, j, k)])
    return _explanation(net, net.dense_layers, f, (layer, j, k), sample, lr, h, plus, minus,
                        None if step is None else step[0])


def explain_layers(
    net: Network,
    x: ArrayLike,
    y: ArrayLike,
    *,
    picks: Sequence[tuple[int, int, int]] | None = None,
    lr: float | None = None,
    h: float = 1e-6,
    optimizer: Optimizer | None = None,
) -> list[WeightExplanation]:
    """:func:`explain` for several weights of one sample ``x`` at once, in time
    proportional to what it shows.

    ``picks`` lists (layer, j, k); default, the weight with the largest |∂C_0/∂w| of every
    layer. The chain factors come from one forward and one backward pass, and every
    finite difference from one batched forward pass (each weight's ±h copy of the sample
    is a row, its perturbation added to z_j there: ∂z_j/∂w_jk = a_k), not from one pass
    per weight, which made an L-layer network cost O(L²).
    """
    _one_network(net)
    _check_step(h, lr)
    X, Yin = _as_batch(x, y)
    if X.shape[0] != 1:
        raise ValueError(f"x: expected one sample, got {X.shape[0]}")
    dense = net.dense_layers
    f = chain_factors(net, X, Yin)
    if picks is None:
        picks = []
        for i in range(len(dense)):
            grad = np.abs(f["delta"][i][0][:, None] * f["a_prev"][i][0][None, :])
            jk = np.unravel_index(int(np.argmax(grad)), grad.shape)
            picks.append((i + 1, int(jk[0]), int(jk[1])))
    for pick in picks:
        _checked_weight_of(dense, *pick)
    costs = _finite_differences_batched(net, X, Yin, list(picks), h)
    found = _optimizer_steps(net, optimizer, X, Yin, list(picks))
    steps: list[tuple[str, int, float] | None] = [None] * len(picks) if found is None else [
        *found]
    return [_explanation(net, dense, f, pick, 0, lr, h, *pm, st)
            for pick, pm, st in zip(picks, costs, steps, strict=True)]


def _optimizer_steps(net: Network, optimizer: Optimizer | None, X: NDArray, Yin: NDArray,
                     picks: list[tuple[int, int, int]]
                     ) -> list[tuple[str, int, float]] | None:
    """(name, step count t, Δw_jk) of every pick: one step of ``optimizer`` (default the
    model's own), with its state, on a float64 copy of ``net`` and the gradient of (X, Y)
    as training computes it (batch mean, L2 term included). None without an optimizer."""
    optimizer = optimizer if optimizer is not None else net.optimizer
    if optimizer is None:
        return None
    net64 = as_float64(net)
    twin = get_optimizer(optimizer.get_config())  # the same rule and slots, nothing shared
    twin.load_state_dict(optimizer.state_dict())
    grads = np.array(net64.gradient(X, Yin), copy=True)
    params = np.array(net64.params, copy=True)
    t = twin.t
    twin.step(params, grads)
    delta = params - net64.params
    out = []
    for layer, j, k in picks:
        w = delta[net64.param_slices(layer)["w"]].reshape(net64.dense_layers[layer - 1].w.shape)
        out.append((optimizer.name, t + 1, float(w[j, k])))
    return out


#: Elements of one batched finite-difference pass (rows × the widest layer): picks are
#: taken in chunks so that its memory stays under 2²³ float64 (64 MiB).
_FD_ELEMENTS = 2**23


def _finite_differences_batched(net: Network, X: NDArray, Yin: NDArray,
                                picks: list[tuple[int, int, int]], h: float
                                ) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """(C_0 at w_jk + h, at w_jk − h) of the one sample X for every pick, each also as its
    mean (one sample: the same); see :func:`explain_layers`."""
    net64 = as_float64(net)
    net64.l2 = 0.0
    a0 = net64.inputs(X)
    Yt = net64.targets(Yin, 1)
    positions = [i for i, layer in enumerate(net64.layers) if isinstance(layer, Dense)]
    widest = max([net64.n_in, *(d.n_out for d in net64.dense_layers)])
    chunk = max(1, _FD_ELEMENTS // (2 * widest))
    out: list[tuple[tuple[float, float], tuple[float, float]]] = []
    for start in range(0, len(picks), chunk):
        part = picks[start : start + chunk]
        at: dict[int, list[tuple[int, int, int, float]]] = {}
        for p, (layer, j, k) in enumerate(part):  # rows 2p (+h) and 2p + 1 (−h)
            at.setdefault(positions[layer - 1], []).extend([(2 * p, j, k, h),
                                                            (2 * p + 1, j, k, -h)])
        a = np.repeat(a0, 2 * len(part), axis=0)
        for pos, layer_obj in enumerate(net64.layers):
            a_prev = a
            z, a, _ = layer_obj.forward(a_prev)
            for row, j, k, step in at.get(pos, ()):
                z_row = np.array(cast(NDArray, z)[row : row + 1], copy=True)
                z_row[0, j] += step * a_prev[row, k]  # w_jk ± h: z_j moves by ±h · a_k
                a = np.array(a, copy=True) if a is a_prev else a
                a[row : row + 1] = cast(Dense, layer_obj).activation.g(z_row)
        c = net64.loss_fn.value(cast(NDArray, a), np.repeat(Yt, 2 * len(part), axis=0))
        out += [((float(c[2 * p]),) * 2, (float(c[2 * p + 1]),) * 2) for p in range(len(part))]
    return out


def _explanation(net: Network, dense: list[Dense], f: dict[str, list[NDArray]],
                 pick: tuple[int, int, int], s: int, lr: float | None, h: float,
                 plus: tuple[float, float], minus: tuple[float, float],
                 step: tuple[str, int, float] | None = None) -> WeightExplanation:
    """The :class:`WeightExplanation` of w_jk^(layer) from the chain factors ``f``, the
    costs at w_jk ± h and the optimizer's (name, t, Δw_jk)."""
    layer, j, k = pick
    L = len(dense)
    d = dense[layer - 1]
    i = layer - 1
    act = d.activation
    z, a = f["z"][i], f["a"][i]
    g_prime = None if not act.elementwise else float(act.g_prime(z[s : s + 1], a[s : s + 1])[0, j])
    per_sample = f["delta"][i][:, j] * f["a_prev"][i][:, k]  # δ_j · a_k^(l−1) for each sample
    terms = _next_layer_terms(dense, f, layer, j, s)
    y_j = float(f["y"][0][s, j]) if layer == L else None
    return WeightExplanation(
        layer=layer,
        j=int(j),
        k=int(k),
        n_layers=L,
        loss=net.loss_fn.name,
        activation=act.name,
        sample=int(s),
        a_j=float(a[s, j]),
        y_j=y_j,
        z_j=float(z[s, j]),
        dC_da=float(f["dC_da"][i][s, j]),
        g_prime=g_prime,
        delta=float(f["delta"][i][s, j]),
        a_prev_k=float(f["a_prev"][i][s, k]),
        product=float(per_sample[s]),
        finite_difference=(plus[0] - minus[0]) / (2 * h),
        terms=terms,
        per_sample=per_sample,
        average=float(per_sample.mean()),
        finite_difference_average=(plus[1] - minus[1]) / (2 * h),
        lr=lr,
        coupled=[] if act.elementwise else _coupled_terms(d, f, layer, j, s),
        # δ^(L) = a − y holds only for the canonical pairs (see engine.output)
        canonical=layer == L and net.loss_fn.canonical_activation == act.name,
        optimizer=None if step is None else step[0],
        optimizer_t=None if step is None else step[1],
        optimizer_step=None if step is None else step[2],
    )


def _coupled_terms(d: Dense, f: dict[str, list[NDArray]], layer: int, j: int,
                   s: int) -> list[CoupledTerm]:
    """δ_j = Σ_i ∂C_0/∂a_i · ∂a_i/∂z_j of sample s, one term per output i of a g that
    couples them: column j of the Jacobian from g's own backward (row i of
    backward(z, a, e_i) is ∂a_i/∂z)."""
    i = layer - 1
    z, a = f["z"][i][s : s + 1], f["a"][i][s : s + 1]
    n = d.n_out
    jacobian = d.activation.backward(np.repeat(z, n, axis=0), np.repeat(a, n, axis=0),
                                     np.eye(n))
    dC_da = f["dC_da"][i][s]
    return [CoupledTerm(int(out), float(dC_da[out]), float(jacobian[out, j]),
                        float(dC_da[out] * jacobian[out, j])) for out in range(n)]
