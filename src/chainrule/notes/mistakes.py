"""The classic mistakes of a hand-written backward, each a named transformation of the
reference: what :func:`chainrule.notes.checker.check` tests a learner's numbers against.

The reference is the notes' backward for C = (1/n) Σ_i Σ_j (a_j^(L) − y_j)², written as
four steps per layer l, from the output down:

1. ``start`` (l = L) or ``back`` (l < L): ∂C/∂a^(l);
2. ``delta``: δ^(l) = ∂C/∂a^(l) · g′(z^(l));
3. ``weights``: ∂C/∂w^(l) = Σ_i δ^(l) a^(l−1);
4. ``bias``: ∂C/∂b^(l) = Σ_i δ^(l).

A mistake replaces one step. Applied everywhere it is a learner's whole wrong function
(the catalogue's own test); applied at one layer, with every layer above it right, it is
the hypothesis the checker tests at the first layer whose numbers are wrong.

Notes
-----
.. math:: \\delta_j^{(L)} = \\tfrac{2}{n} (a_j^{(L)} - y_j) \\, g'(z_j^{(L)}), \\qquad
          \\delta_k^{(l-1)} = \\Big(\\sum_j w_{jk}^{(l)} \\delta_j^{(l)}\\Big) g'(z_k^{(l-1)}),

.. math:: \\frac{\\partial C}{\\partial w_{jk}^{(l)}} = \\sum_i \\delta_j^{(l)} a_k^{(l-1)},
          \\qquad \\frac{\\partial C}{\\partial b_j^{(l)}} = \\sum_i \\delta_j^{(l)}.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
Fn = Callable[[Array], Array]


@dataclass
class Case:
    """One seeded network and batch: the learner's arguments, and the forward pass.

    ``w[l]`` of shape (n_l, n_{l−1}) and ``b[l]`` of shape (n_l,) for l = 1 … L (index 0
    is None); ``a0`` of shape (n, n_0); ``y`` of shape (n, n_L); ``zs[l]``, ``acts[l]`` of
    shape (n, n_l) (``zs[0]`` is a0, unused)."""

    w: list[Any]
    b: list[Any]
    a0: Array
    y: Array
    g_name: str
    g: Fn
    g_prime: Fn
    zs: list[Array] = field(default_factory=list)
    acts: list[Array] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.zs, self.acts = [self.a0], [self.a0]
        for layer in range(1, self.L + 1):
            z = self.acts[-1] @ self.w[layer].T + self.b[layer]  # z_j = Σ_k w_jk a_k + b_j
            self.zs.append(z)
            self.acts.append(self.g(z))

    @property
    def L(self) -> int:
        return len(self.w) - 1

    @property
    def n(self) -> int:
        return int(self.a0.shape[0])

    @property
    def widths(self) -> list[int]:
        return [int(self.a0.shape[1])] + [int(w.shape[0]) for w in self.w[1:]]

    def describe(self) -> str:
        return (f"widths {'-'.join(map(str, self.widths))}, batch n = {self.n}, "
                f"g = {self.g_name}")


@dataclass
class Mistake:
    """A named wrong version of one step of the reference backward.

    ``says`` completes "layer l: …" (``{l}`` is the layer); ``fix`` is the notes' line
    that is right; ``step`` is one of start, back, delta, weights, bias, result;
    ``wrong`` computes the step the wrong way (same arguments as the right one);
    ``forms`` are other ways of writing the same mistake (a loop over samples that
    overwrites where it should add, ...), each tested as a hypothesis too."""

    name: str
    says: str
    fix: str
    step: str
    wrong: Callable[..., Any]
    forms: tuple[Callable[..., Any], ...] = ()

    @property
    def ways(self) -> list[Callable[..., Any]]:
        return [self.wrong, *self.forms]


# -- the four right steps ----------------------------------------------------------------
def _start(case: Case) -> Array:
    return 2.0 * (case.acts[case.L] - case.y) / case.n  # ∂C/∂a_j^(L) = (2/n)(a_j − y_j)


def _back(case: Case, layer: int, delta_next: Array, delta_L: Array) -> Array:
    return delta_next @ case.w[layer + 1]  # ∂C/∂a_k^(l) = Σ_j w_jk^(l+1) δ_j^(l+1)


def _delta(case: Case, layer: int, dC_da: Array) -> Array:
    return dC_da * case.g_prime(case.zs[layer])  # δ_j = ∂C/∂a_j · g′(z_j)


def _weights(case: Case, layer: int, delta: Array) -> Array:
    return delta.T @ case.acts[layer - 1]  # Σ_i δ_j a_k^(l−1)


def _bias(case: Case, layer: int, delta: Array) -> Array:
    return delta.sum(axis=0)  # Σ_i δ_j


def backward(case: Case, mistake: Mistake | None = None, at: int | None = None,
             form: int = 0) -> tuple[list[Any], list[Any]]:
    """grad_w, grad_b of ``case`` (index 0 None), with ``mistake`` (written its ``form``-th
    way) made at layer ``at`` only, or at every layer (``at`` None); no mistake: the
    reference."""
    L = case.L
    grad_w: list[Any] = [None] * (L + 1)
    grad_b: list[Any] = [None] * (L + 1)

    def step(name: str, layer: int, right: Callable[..., Any], *args: Any) -> Any:
        if mistake is not None and mistake.step == name and at in (None, layer):
            return mistake.ways[form](case, *args)
        return right(case, *args)

    delta = delta_L = np.zeros(0)
    for layer in range(L, 0, -1):
        if layer == L:
            dC_da = step("start", layer, lambda c: _start(c))
        else:
            dC_da = step("back", layer, _back, layer, delta, delta_L)
        delta = step("delta", layer, _delta, layer, dC_da)
        if layer == L:
            delta_L = delta
        grad_w[layer] = step("weights", layer, _weights, layer, delta)
        grad_b[layer] = step("bias", layer, _bias, layer, delta)
    if mistake is not None and mistake.step == "result":
        shifted: tuple[list[Any], list[Any]] = mistake.ways[form](case, grad_w, grad_b)
        return shifted
    return grad_w, grad_b


# -- the catalogue -------------------------------------------------------------------------
def _scaled(factor: Callable[[Case], float]) -> Callable[..., Array]:
    return lambda case: factor(case) * _start(case)


def _last_term_only(case: Case, layer: int, delta_next: Array, delta_L: Array) -> Array:
    w = case.w[layer + 1]  # `=` where `+=` belongs: only the last j of Σ_j is kept
    return delta_next[:, -1:] * w[-1]


def _first_term_only(case: Case, layer: int, delta_next: Array, delta_L: Array) -> Array:
    return delta_next[:, :1] * case.w[layer + 1][0]


def _diagonal_only(case: Case, layer: int, delta_next: Array, delta_L: Array) -> Array:
    return delta_next * np.diag(case.w[layer + 1])  # w_kk δ_k: j = k, square layers only


def _output_delta(case: Case, layer: int, delta_next: Array, delta_L: Array) -> Array:
    g_prime = case.g_prime(case.zs[layer])
    return delta_L / g_prime  # so that the delta step gives δ^(L) back


def _shifted(case: Case, grad_w: list[Any], grad_b: list[Any]) -> tuple[list[Any], list[Any]]:
    return grad_w[1:], grad_b[1:]


CATALOGUE: list[Mistake] = [
    Mistake("no_g_prime", "your δ is missing g′(z^({l}))",
            "δ_j^(l) = ∂C/∂a_j^(l) · g′(z_j^(l))", "delta",
            lambda case, layer, dC_da: dC_da),
    Mistake("g_prime_at_a", "your δ takes g′ at a^({l}) instead of at z^({l})",
            "δ_j^(l) = ∂C/∂a_j^(l) · g′(z_j^(l)): g_prime(z), not g_prime(a)", "delta",
            lambda case, layer, dC_da: dC_da * case.g_prime(case.acts[layer])),
    Mistake("no_two", "your ∂C/∂a^({l}) is missing the 2 of the squared error",
            "∂C_0/∂a_j^(L) = 2 (a_j − y_j)", "start", _scaled(lambda c: 0.5)),
    Mistake("no_mean", "your gradient is missing the 1/n of the batch average",
            "C = (1/n) Σ_i C_i, so ∂C/∂a_j^(L) = (2/n)(a_j − y_j)", "start",
            _scaled(lambda c: c.n)),
    Mistake("mean_twice", "your gradient divides by the batch size n twice",
            "divide by n once: ∂C/∂a_j^(L) = (2/n)(a_j − y_j), then Σ_i δ_j a_k",
            "start", _scaled(lambda c: 1.0 / c.n)),
    Mistake("sign_flipped", "your gradient has its sign flipped",
            "∂C_0/∂a_j^(L) = 2 (a_j − y_j), a minus y", "start", _scaled(lambda c: -1.0)),
    Mistake("bias_not_summed", "your bias gradient is not summed over the batch",
            "∂C/∂b_j^(l) = Σ_i δ_j^(l): delta.sum(axis=0)", "bias",
            lambda case, layer, delta: delta,
            forms=(lambda case, layer, delta: delta[-1],)),  # a loop's `=`: the last sample
    Mistake("weights_not_summed",
            "your ∂C/∂w^({l}) keeps one sample's δ a^({l_1}) instead of summing over the batch",
            "∂C/∂w_jk^(l) = Σ_i δ_j^(l) a_k^(l−1): every sample, added up (+=, not =)",
            "weights", lambda case, layer, delta: np.outer(delta[-1], case.acts[layer - 1][-1]),
            forms=(lambda case, layer, delta: np.outer(delta[0], case.acts[layer - 1][0]),)),
    Mistake("a_not_a_prev", "your ∂C/∂w^({l}) multiplies δ by a^({l}) where a^({l_1}) belongs",
            "∂C/∂w_jk^(l) = Σ_i δ_j^(l) a_k^(l−1)", "weights",
            lambda case, layer, delta: delta.T @ case.acts[layer]),
    Mistake("grad_w_transposed", "your ∂C/∂w^({l}) is transposed: Σ_i a_k δ_j laid out as "
            "(n_{l_1}, n_{l})",
            "∂C/∂w^(l) has the shape of w^(l), (n_l, n_{l−1}): delta.T @ a_prev", "weights",
            lambda case, layer, delta: case.acts[layer - 1].T @ delta),
    Mistake("sigmoid_prime_hard_coded",
            "your δ uses a(1 − a), the sigmoid's derivative, instead of g_prime",
            "δ_j^(l) = ∂C/∂a_j^(l) · g′(z_j^(l)): call g_prime(z), whatever g is", "delta",
            lambda case, layer, dC_da: dC_da * case.acts[layer] * (1.0 - case.acts[layer])),
    Mistake("w_not_transposed", "your δ^({l}) multiplies by w^({l1}) not transposed",
            "∂C/∂a_k^(l) = Σ_j w_jk^(l+1) δ_j^(l+1), a sum over the first index j: delta @ w, "
            "not delta @ w.T",
            "back", lambda case, layer, dn, dL: dn @ case.w[layer + 1].T),
    Mistake("wrong_layer_w", "your δ^({l}) uses w^({l}) where w^({l1}) belongs",
            "∂C/∂a_k^(l) = Σ_j w_jk^(l+1) δ_j^(l+1): the weights of the layer above",
            "back", lambda case, layer, dn, dL: dn @ case.w[layer]),
    Mistake("sum_dropped", "your δ^({l}) drops the sum over the nodes j of layer {l1}",
            "∂C/∂a_k^(l) = Σ_j w_jk^(l+1) δ_j^(l+1): every j, added up (+=, not =)",
            "back", _last_term_only, forms=(_first_term_only, _diagonal_only)),
    Mistake("output_delta_everywhere", "you use the output layer's δ^(L) at layer {l}",
            "δ^(l) = (Σ_j w_jk^(l+1) δ_j^(l+1)) · g′(z_k^(l)), layer by layer",
            "back", _output_delta),
    Mistake("layers_off_by_one",
            "your lists count layers from 0: grad_w[l] holds layer l+1's gradient",
            "grad_w[0] and grad_b[0] are None, then one entry per layer 1 … L, as w and b",
            "result", _shifted),
]

MISTAKES: dict[str, Mistake] = {m.name: m for m in CATALOGUE}


def says(mistake: Mistake, layer: int) -> str:
    """The mistake's sentence for ``layer``."""
    return mistake.says.format(l=layer, l1=layer + 1, l_1=layer - 1)


def applied(mistake: Mistake, form: int = 0) -> Callable[..., tuple[list[Any], list[Any]]]:
    """A learner's ``backward(w, b, a0, y, g, g_prime)`` that makes ``mistake`` (written
    its ``form``-th way) at every layer: the catalogue's own test."""

    def wrong_backward(w: list[Any], b: list[Any], a0: Array, y: Array, g: Fn,
                       g_prime: Fn) -> tuple[list[Any], list[Any]]:
        return backward(Case(w, b, a0, y, "g", g, g_prime), mistake, form=form)

    wrong_backward.__name__ = f"backward_{mistake.name}"
    return wrong_backward
