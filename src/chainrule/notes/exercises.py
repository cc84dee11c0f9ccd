"""Auto-checked backprop exercises: a small seeded network, one quantity to compute.

:func:`generate` draws a 2-h-2 network (h = 2 or 3; weights, biases, inputs and targets
in tenths, so every number is hand-computable) with the notes' loss
C_0 = Σ_j (a_j^(2) − y_j)², and asks for one quantity of :data:`KINDS`; :func:`sequence`
asks for all of them on one network, in the graded order of the notes: the forward pass
at the output layer, then the chain rule from the output layer inward,

.. math:: \\frac{\\partial C_0}{\\partial w_{jk}^{(l)}} =
          \\frac{\\partial C_0}{\\partial a_j^{(l)}} \\, g'(z_j^{(l)}) \\, a_k^{(l-1)},
          \\qquad
          \\frac{\\partial C_0}{\\partial a_j^{(L-1)}} =
          \\sum_i w_{ij}^{(L)} \\, g'(z_i^{(L)}) \\, \\frac{\\partial C_0}{\\partial a_i^{(L)}},

then the batch average ∂C/∂w = (1/n) Σ_i ∂C_i/∂w and the step w − η ∂C/∂w.

Every answer is the engine's (:func:`chainrule.explain.explain`, ``Network.cost``), never
recomputed here. :meth:`Exercise.check` grades an answer exact (right to the
significant digits asked), close (within 2 %) or wrong, says by how much, and names the
factor when the answer is the right one with a factor left out (g′, the 2 of the square,
a_k, a term of a sum, 1/n, η …). A draw is kept only when every such mistake is at least
10 % away from the answer and 5 % from the other mistakes, so the diagnosis is never
ambiguous; the same seed always gives the same exercise.

One exercise — what the learner sees, and how an answer is graded — is
:class:`~chainrule.notes.exercise.Exercise`; this file draws the networks and builds the
twelve kinds (the question, its hints one factor at a time, the mistakes to recognise).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import numpy as np
from numpy.typing import NDArray

from .exercise import (
    CLOSE,
    DIGITS,
    Exercise,
    Hint,
    Matrix,
    Mistake,
    Vector,
    Verdict,
    network_of,
)
from .explain import WeightExplanation, explain

#: Every kind of exercise, in the graded order of :func:`sequence`.
KINDS: tuple[str, ...] = (
    "z", "a", "cost", "dC_da", "g_prime", "delta", "dC_dw",
    "hidden_dC_da", "hidden_delta", "hidden_dC_dw", "batch_dC_dw", "update",
)
DISTINCT = 0.10  # a mistake is at least this far (relative) from the answer …
APART = 0.05  # … and from every other mistake
MIN_ANSWER = 1e-3
MAX_DRAWS = 10_000


def _relative(u: float, v: float) -> float:
    return abs(u - v) / max(abs(u), abs(v), 1e-300)


# -- drawing a network ------------------------------------------------------------------
@dataclass(frozen=True)
class _Draw:
    sizes: tuple[int, int, int]
    hidden: str
    output: str
    w: tuple[Matrix, Matrix]
    b: tuple[Vector, Vector]
    X: Matrix  # two samples: the first for one-sample kinds, both for the batch
    Y: Matrix
    j: int  # output node
    h: int  # hidden node: k of the output weight w_jh^(2), j of the hidden weight w_hk^(1)
    k: int  # input node
    lr: float


def _tenths(rng: np.random.Generator, shape: tuple[int, ...], top: int) -> Matrix:
    """Nonzero multiples of 0.1 in [−top/10, top/10], as nested tuples."""
    v = rng.integers(1, top + 1, size=shape) * rng.choice((-1, 1), size=shape)
    return tuple(tuple(round(float(x) / 10, 1) for x in row) for row in np.atleast_2d(v))


def _draw(rng: np.random.Generator, outputs: tuple[str, ...] = ("identity", "sigmoid")) -> _Draw:
    h = int(rng.integers(2, 4))
    return _Draw(
        sizes=(2, h, 2),
        hidden=str(rng.choice(("sigmoid", "tanh", "relu"))),
        output=str(rng.choice(outputs)),
        w=(_tenths(rng, (h, 2), 10), _tenths(rng, (2, h), 10)),
        b=(_tenths(rng, (1, h), 5)[0], _tenths(rng, (1, 2), 5)[0]),
        X=_tenths(rng, (2, 2), 10),
        Y=tuple(tuple(round(float(v) / 10, 1) for v in row)
                for row in rng.integers(0, 11, size=(2, 2))),
        j=int(rng.integers(2)), h=int(rng.integers(h)), k=int(rng.integers(2)),
        lr=float(rng.choice((0.5, 1.0, 2.0, 3.0))),  # Nielsen trains sigmoid nets with η = 3
    )


class _Engine:
    """The engine's numbers for a draw: explain() of the output weight w_jh^(2) and the
    hidden weight w_hk^(1) on sample 0, of w_jh^(2) on the batch, and the forward trace."""

    def __init__(self, d: _Draw) -> None:
        net = network_of(d.sizes, d.hidden, d.output, d.w, d.b, 0)
        X, Y = np.array(d.X), np.array(d.Y)
        self.out: WeightExplanation = explain(net, X[:1], Y[:1], layer=2, j=d.j, k=d.h)
        self.hid: WeightExplanation = explain(net, X[:1], Y[:1], layer=1, j=d.h, k=d.k)
        self.batch: WeightExplanation = explain(net, X, Y, layer=2, j=d.j, k=d.h, lr=d.lr)
        trace = net.forward(net.inputs(X))
        self.z = [cast(NDArray, z) for z in trace.z]  # z^(1), z^(2): (2 samples, n_out)
        self.a = [trace.a[0], trace.a[1], trace.a[2]]  # a^(0), a^(1), a^(2)
        one = net.forward(net.inputs(X[:1]))
        self.cost = net.cost(one, net.targets(Y[:1], 1))  # C_0: the mean over one sample
        # relu′ jumps at z = 0: a z^(1) within 0.05 of the kink reads as either slope
        self.kinked = d.hidden == "relu" and bool(np.min(np.abs(self.z[0])) < 0.05)


# -- the kinds ------------------------------------------------------------------------------
@dataclass
class _Parts:
    question: str
    given: list[tuple[str, float]]
    answer: float
    hints: list[Hint]
    mistakes: list[Mistake]
    layer: int
    j: int
    k: int | None = None
    batch: bool = False


def _n(x: float) -> str:
    return f"({x:.6g})" if x < 0 else f"{x:.6g}"


_G = {"sigmoid": "σ(z) = 1/(1 + e^(−z))", "tanh": "tanh(z)", "relu": "max(0, z)",
      "identity": "z"}


def _g_prime(act: str, node: int, layer: int, z: float, a: float, value: float) -> Hint:
    sym, a_sym = f"g′(z_{node}^({layer}))", f"a_{node}^({layer})"
    if act == "identity":
        return Hint(sym, f"{sym} = 1: the identity g(z) = z has slope 1")
    if act == "relu":
        return Hint(sym, f"{sym} = 1 if z > 0, else 0; z_{node}^({layer}) = {_n(z)}, so "
                         f"{sym} = {value:g}")
    rule = {
        "sigmoid": f"σ(z)(1 − σ(z)) = {a_sym}(1 − {a_sym}) = {_n(a)} · (1 − {_n(a)})",
        "tanh": f"1 − tanh²(z) = 1 − ({a_sym})² = 1 − {_n(a)}²",
    }[act]
    return Hint(sym, f"{sym} = {rule} = {value:.6g}")


def _dC_da(node: int, a: float, y: float, value: float) -> Hint:
    sym = f"∂C_0/∂a_{node}^(2)"
    return Hint(sym, f"{sym} = 2(a_{node}^(2) − y_{node}) = 2({_n(a)} − {_n(y)}) = {value:.6g}"
                     f"   (the derivative of the term (a_{node}^(2) − y_{node})² of C_0)")


def _output_given(d: _Draw, e: _Engine, s: int = 0, node: int | None = None,
                  tag: str = "") -> list[tuple[str, float]]:
    j = d.j if node is None else node
    return [(f"z_{j}^(2){tag}", float(e.z[1][s, j])), (f"a_{j}^(2){tag}", float(e.a[2][s, j])),
            (f"y_{j}{tag}", d.Y[s][j])]


_ASK = f" Give {DIGITS} significant digits."
_TWO = "without the 2 of 2(a_j^(2) − y_j), the derivative of the square"
_SIGN = "with the sign flipped: ∂C_0/∂a_j^(2) is 2(a_j^(2) − y_j), not 2(y_j − a_j^(2))"


def _z(d: _Draw, e: _Engine) -> _Parts:
    j, a1 = d.j, e.a[1][0]
    w, b = d.w[1][j], d.b[1][j]
    terms = [w[m] * float(a1[m]) for m in range(len(w))]
    hints = [Hint(f"w_{j}{m}^(2) a_{m}^(1)", f"w_{j}{m}^(2) a_{m}^(1) = {w[m]:g} · {_n(a1[m])} "
                  f"= {t:.6g}") for m, t in enumerate(terms)]
    hints.append(Hint(f"b_{j}^(2)", f"b_{j}^(2) = {b:g}, added to the sum Σ_k w_{j}k^(2) a_k^(1)"))
    answer = e.out.z_j
    mistakes = [Mistake(f"w_{j}{m}^(2) a_{m}^(1)", f"without the term w_{j}{m}^(2) a_{m}^(1) of "
                        "the sum over k", answer - t, m) for m, t in enumerate(terms)]
    mistakes.append(Mistake(f"b_{j}^(2)", f"without the bias b_{j}^(2)", answer - b, len(terms)))
    given = [(f"a_{m}^(1)", float(a1[m])) for m in range(len(w))]
    return _Parts(f"What is z_{j}^(2), the weighted input of output node {j}?" + _ASK, given,
                  answer, hints, mistakes, 2, j)


def _a(d: _Draw, e: _Engine) -> _Parts:
    j, z = d.j, e.out.z_j
    g = Hint("g^(2)", f"g^(2) is {d.output}: a_{j}^(2) = g^(2)(z_{j}^(2)), g(z) = {_G[d.output]}")
    hints = [g]
    if d.output == "sigmoid":
        hints.append(Hint(f"e^(−z_{j}^(2))", f"e^(−z_{j}^(2)) = e^(−{_n(z)}) = {math.exp(-z):.6g}"))
    mistakes = [Mistake("g^(2)", f"without g^(2): z_{j}^(2) itself, not g^(2)(z_{j}^(2))", z, 0)]
    return _Parts(f"What is a_{j}^(2), the activation of output node {j}?" + _ASK,
                  [(f"z_{j}^(2)", z)], e.out.a_j, hints, mistakes, 2, j)


def _cost(d: _Draw, e: _Engine) -> _Parts:
    a, y = e.a[2][0], d.Y[0]
    diffs = [float(a[i]) - y[i] for i in range(2)]
    hints = [Hint(f"(a_{i}^(2) − y_{i})²", f"(a_{i}^(2) − y_{i})² = ({_n(a[i])} − {_n(y[i])})² "
                  f"= {diffs[i] ** 2:.6g}") for i in range(2)]
    answer = e.cost
    mistakes = [Mistake(f"(a_{i}^(2) − y_{i})²", f"without the term (a_{i}^(2) − y_{i})² of the "
                        "sum over output nodes j", answer - diffs[i] ** 2, i) for i in range(2)]
    mistakes.append(Mistake("the square", "without the square: C_0 sums (a_j^(2) − y_j)², not "
                            "a_j^(2) − y_j", sum(diffs), 0))
    given = [g for i in range(2) for g in _output_given(d, e, node=i)[1:]]
    return _Parts("What is C_0, the cost of this sample?" + _ASK, given, answer, hints,
                  mistakes, 2, d.j)


def _dC_da_kind(d: _Draw, e: _Engine) -> _Parts:
    o, j = e.out, d.j
    answer = o.dC_da
    hints = [_dC_da(j, o.a_j, d.Y[0][j], answer)]
    mistakes = [Mistake("2", _TWO, answer / 2, 0), Mistake("sign", _SIGN, -answer, 0)]
    return _Parts(f"What is ∂C_0/∂a_{j}^(2), the slope of C_0 in the output a_{j}^(2)?" + _ASK,
                  _output_given(d, e)[1:], answer, hints, mistakes, 2, j)


def _g_prime_kind(d: _Draw, e: _Engine) -> _Parts:
    o, j = e.out, d.j
    assert o.g_prime is not None  # the output is identity or sigmoid, both elementwise
    hints = [_g_prime(d.output, j, 2, o.z_j, o.a_j, o.g_prime)]
    mistakes = [] if d.output != "sigmoid" else [
        Mistake(f"1 − a_{j}^(2)", f"without the factor (1 − a_{j}^(2)) of σ′ = σ(1 − σ)",
                o.a_j, 0),
        Mistake(f"a_{j}^(2)", f"without the factor a_{j}^(2) of σ′ = σ(1 − σ)", 1 - o.a_j, 0)]
    return _Parts(f"What is g′(z_{j}^(2)) = ∂a_{j}^(2)/∂z_{j}^(2)?" + _ASK,
                  _output_given(d, e)[:2], o.g_prime, hints, mistakes, 2, j)


def _output_factors(d: _Draw, e: _Engine) -> list[Hint]:
    o = e.out
    assert o.g_prime is not None
    return [_dC_da(d.j, o.a_j, d.Y[0][d.j], o.dC_da),
            _g_prime(d.output, d.j, 2, o.z_j, o.a_j, o.g_prime),
            Hint(f"a_{d.h}^(1)", f"a_{d.h}^(1) = ∂z_{d.j}^(2)/∂w_{d.j}{d.h}^(2) = "
                 f"{o.a_prev_k:.6g}, the activation the weight multiplies")]


def _delta(d: _Draw, e: _Engine) -> _Parts:
    o, j = e.out, d.j
    answer = o.delta
    mistakes = [Mistake(f"g′(z_{j}^(2))", f"without the factor g′(z_{j}^(2))", o.dC_da, 1),
                Mistake("2", _TWO, answer / 2, 0), Mistake("sign", _SIGN, -answer, 0)]
    return _Parts(f"What is δ_{j}^(2) = ∂C_0/∂z_{j}^(2)?" + _ASK, _output_given(d, e), answer,
                  _output_factors(d, e)[:2], mistakes, 2, j)


def _dC_dw(d: _Draw, e: _Engine) -> _Parts:
    o, j, h = e.out, d.j, d.h
    answer = o.product
    mistakes = [Mistake(f"g′(z_{j}^(2))", f"without the factor g′(z_{j}^(2))",
                        o.dC_da * o.a_prev_k, 1),
                Mistake("2", _TWO, answer / 2, 0),
                Mistake(f"a_{h}^(1)", f"without the factor a_{h}^(1) = ∂z_{j}^(2)/∂w_{j}{h}^(2)",
                        o.delta, 2),
                Mistake("sign", _SIGN, -answer, 0)]
    return _Parts(f"What is ∂C_0/∂w_{j}{h}^(2), for the weight from node {h} of layer 1 to "
                  f"output node {j}?" + _ASK, _output_given(d, e) + [(f"a_{h}^(1)", o.a_prev_k)],
                  answer, _output_factors(d, e), mistakes, 2, j, h)


def _sum_hint(d: _Draw, e: _Engine) -> Hint:
    h, t = d.h, e.hid.terms
    terms = " + ".join(f"{x.w:g} · {_n(x.g_prime or 0.0)} · {_n(x.dC_da)}" for x in t)
    sym = f"∂C_0/∂a_{h}^(1)"
    return Hint(sym, f"{sym} = Σ_i w_i{h}^(2) · g′(z_i^(2)) · ∂C_0/∂a_i^(2), a sum over every "
                     f"node i of layer 2 that a_{h}^(1) feeds = {terms} = {e.hid.dC_da:.6g}")


def _term_says(i: int, h: int) -> str:
    return (f"without the term i={i} (w_{i}{h}^(2) · g′(z_{i}^(2)) · ∂C_0/∂a_{i}^(2)) of the "
            "sum over next-layer nodes i")


def _all_outputs(d: _Draw, e: _Engine) -> list[tuple[str, float]]:
    return [g for i in range(2) for g in _output_given(d, e, node=i)]


def _hidden_dC_da(d: _Draw, e: _Engine) -> _Parts:
    hd, h = e.hid, d.h
    answer = hd.dC_da
    hints = [Hint(f"the term i={t.i}", f"the term i={t.i}: w_{t.i}{h}^(2) · g′(z_{t.i}^(2)) · "
                  f"∂C_0/∂a_{t.i}^(2) = {t.w:g} · {_n(t.g_prime or 0.0)} · {_n(t.dC_da)} = "
                  f"{t.product:.6g}") for t in hd.terms]
    hints.insert(0, Hint(f"∂C_0/∂a_{h}^(1)", f"∂C_0/∂a_{h}^(1) = Σ_i w_i{h}^(2) · g′(z_i^(2)) · "
                         f"∂C_0/∂a_i^(2): a_{h}^(1) reaches C_0 through every node i of layer 2"))
    mistakes = [Mistake(f"the term i={t.i}", _term_says(t.i, h), answer - t.product, 1 + n)
                for n, t in enumerate(hd.terms)]
    mistakes += [Mistake("g′(z_i^(2))", "without the output layer's factors g′(z_i^(2))",
                         sum(t.w * t.dC_da for t in hd.terms), 0),
                 Mistake("2", _TWO, answer / 2, 0)]
    return _Parts(f"What is ∂C_0/∂a_{h}^(1), for hidden node {h}?" + _ASK, _all_outputs(d, e),
                  answer, hints, mistakes, 1, h)


def _hidden_g_prime(d: _Draw, e: _Engine) -> Hint:
    hd = e.hid
    assert hd.g_prime is not None
    return _g_prime(d.hidden, d.h, 1, hd.z_j, hd.a_j, hd.g_prime)


def _hidden_delta(d: _Draw, e: _Engine) -> _Parts:
    hd, h = e.hid, d.h
    assert hd.g_prime is not None
    sym = f"∂C_0/∂a_{h}^(1)"
    terms = " + ".join(f"{t.w:g} · {_n(t.delta)}" for t in hd.terms)
    hints = [Hint(sym, f"{sym} = Σ_i w_i{h}^(2) δ_i^(2) = {terms} = {hd.dC_da:.6g}"),
             _hidden_g_prime(d, e)]
    mistakes = [Mistake(f"the term i={t.i}", f"without the term i={t.i} (w_{t.i}{h}^(2) "
                        f"δ_{t.i}^(2)) of the sum over next-layer nodes i",
                        (hd.dC_da - t.product) * hd.g_prime, 0) for t in hd.terms]
    mistakes.append(Mistake(f"g′(z_{h}^(1))", f"without the factor g′(z_{h}^(1))", hd.dC_da, 1))
    given = [(f"δ_{t.i}^(2)", t.delta) for t in hd.terms]
    given += [(f"z_{h}^(1)", hd.z_j), (f"a_{h}^(1)", hd.a_j)]
    return _Parts(f"What is δ_{h}^(1) = ∂C_0/∂z_{h}^(1), for hidden node {h}?" + _ASK, given,
                  hd.delta, hints, mistakes, 1, h)


def _hidden_dC_dw(d: _Draw, e: _Engine) -> _Parts:
    hd, h, k = e.hid, d.h, d.k
    assert hd.g_prime is not None
    gp, ak = hd.g_prime, hd.a_prev_k
    answer = hd.product
    hints = [_sum_hint(d, e), _hidden_g_prime(d, e),
             Hint(f"a_{k}^(0)", f"a_{k}^(0) = x_{k} = {ak:g} = ∂z_{h}^(1)/∂w_{h}{k}^(1)")]
    mistakes = [Mistake(f"the term i={t.i}", _term_says(t.i, h),
                        (hd.dC_da - t.product) * gp * ak, 0) for t in hd.terms]
    mistakes += [Mistake("g′(z_i^(2))", "without the output layer's factors g′(z_i^(2))",
                         sum(t.w * t.dC_da for t in hd.terms) * gp * ak, 0),
                 Mistake(f"g′(z_{h}^(1))", f"without the factor g′(z_{h}^(1))", hd.dC_da * ak, 1),
                 Mistake("2", _TWO, answer / 2, 0),
                 Mistake(f"a_{k}^(0)", f"without the factor a_{k}^(0) = ∂z_{h}^(1)/∂w_{h}{k}^(1)",
                         hd.delta, 2)]
    given = _all_outputs(d, e) + [(f"z_{h}^(1)", hd.z_j), (f"a_{h}^(1)", hd.a_j)]
    return _Parts(f"What is ∂C_0/∂w_{h}{k}^(1), for the weight from input {k} to hidden node "
                  f"{h}?" + _ASK, given, answer, hints, mistakes, 1, h, k)


def _batch_dC_dw(d: _Draw, e: _Engine) -> _Parts:
    bt, j, h = e.batch, d.j, d.h
    per = [float(v) for v in bt.per_sample]
    w_sym = f"w_{j}{h}^(2)"
    hints = [Hint(f"∂C_{s}/∂{w_sym}", f"∂C_{s}/∂{w_sym} = 2(a_{j}^(2) − y_{j}) · g′(z_{j}^(2)) · "
                  f"a_{h}^(1) for sample {s} = {v:.6g}") for s, v in enumerate(per)]
    hints.append(Hint("1/n", f"1/n: the notes average over the n = {len(per)} samples, "
                      f"∂C/∂{w_sym} = (1/n) Σ_i ∂C_i/∂{w_sym}"))
    answer = bt.average
    mistakes = [Mistake("1/n", "without the 1/n of the average: the sum over samples",
                        sum(per), len(per))]
    mistakes += [Mistake(f"∂C_{1 - s}/∂{w_sym}", f"of sample {s} alone: the term ∂C_{1 - s}/∂"
                         f"{w_sym} of sample {1 - s} is missing from the average", v, 1 - s)
                 for s, v in enumerate(per)]
    given = [g for s in range(2) for g in _output_given(d, e, s, tag=f" (sample {s})")]
    given += [(f"a_{h}^(1) (sample {s})", float(e.a[1][s, h])) for s in range(2)]
    return _Parts(f"What is ∂C/∂{w_sym} for the batch of both samples, with "
                  "C = (1/n) Σ_i C_i?" + _ASK, given, answer, hints, mistakes, 2, j, h, batch=True)


def _update(d: _Draw, e: _Engine) -> _Parts:
    bt, j, h, lr = e.batch, d.j, d.h, d.lr
    assert bt.update is not None
    w, g = d.w[1][j][h], bt.average
    w_sym = f"w_{j}{h}^(2)"
    hints = [Hint("the update rule", f"the update rule: gradient descent steps against the "
                  f"gradient, {w_sym} ← {w_sym} − η ∂C/∂{w_sym}"),
             Hint("η ∂C/∂w", f"η ∂C/∂{w_sym} = {lr:g} · {_n(g)} = {lr * g:.6g}")]
    mistakes = [Mistake("η", "without the learning rate η", w - g, 0),
                Mistake("the minus sign", "with + instead of the minus sign: the step goes "
                        "against the gradient", w + lr * g, 0),
                Mistake(w_sym, f"without {w_sym} itself: −η ∂C/∂{w_sym} is the change Δw, not "
                        "the new weight", bt.update, 0)]
    return _Parts(f"One step of gradient descent with learning rate η = {lr:g} on this batch: "
                  f"what is the new {w_sym}?" + _ASK, [(f"∂C/∂{w_sym}", g)], w + bt.update,
                  hints, mistakes, 2, j, h, batch=True)


_BUILDERS: dict[str, Callable[[_Draw, _Engine], _Parts]] = {
    "z": _z, "a": _a, "cost": _cost, "dC_da": _dC_da_kind, "g_prime": _g_prime_kind,
    "delta": _delta, "dC_dw": _dC_dw, "hidden_dC_da": _hidden_dC_da,
    "hidden_delta": _hidden_delta, "hidden_dC_dw": _hidden_dC_dw,
    "batch_dC_dw": _batch_dC_dw, "update": _update,
}


def _well_posed(p: _Parts) -> _Parts | None:
    """``p`` without the mistakes that equal the answer (a factor of exactly 1, a term of
    exactly 0: leaving those out is no mistake), or None when the answer or a mistake is
    ≈ 0, no mistake is left, or two of answer and mistakes are too close to tell apart."""
    if not (math.isfinite(p.answer) and abs(p.answer) >= MIN_ANSWER):
        return None
    kept = [m for m in p.mistakes if abs(m.value - p.answer) > 1e-12 * abs(p.answer)]
    if not kept or any(_relative(m.value, p.answer) < DISTINCT or abs(m.value) < MIN_ANSWER
                       for m in kept):
        return None
    for n, m in enumerate(kept):
        if any(_relative(m.value, other.value) < APART for other in kept[n + 1:]):
            return None
    p.mistakes = kept
    return p


def _exercise(kind: str, seed: int, d: _Draw, p: _Parts) -> Exercise:
    rows = slice(None) if p.batch else slice(0, 1)
    return Exercise(
        kind=kind, seed=seed, sizes=d.sizes, hidden=d.hidden, output=d.output, w=d.w, b=d.b,
        X=d.X[rows], Y=d.Y[rows], layer=p.layer, j=p.j, k=p.k,
        lr=d.lr if kind == "update" else None, question=p.question,
        given=tuple((name, float(v)) for name, v in p.given), answer=float(p.answer),
        hints=tuple(p.hints), mistakes=tuple(p.mistakes),
    )


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer, got {seed!r}")
    return int(seed)


def _rng(seed: int, salt: str) -> np.random.Generator:
    # crc32 of the name, not KINDS.index: adding a kind never changes another's exercises
    return np.random.default_rng([seed, zlib.crc32(salt.encode())])


def generate(kind: str, seed: int) -> Exercise:
    """The exercise of ``kind`` (one of :data:`KINDS`) for ``seed``: always the same one."""
    if kind not in _BUILDERS:
        raise ValueError(f"kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    rng = _rng(_check_seed(seed), kind)
    for _ in range(MAX_DRAWS):
        d = _draw(rng)
        e = _Engine(d)
        p = None if e.kinked else _well_posed(_BUILDERS[kind](d, e))
        if p is not None:
            return _exercise(kind, int(seed), d, p)
    raise RuntimeError(f"no well-posed {kind!r} exercise in {MAX_DRAWS} draws for seed {seed}")


def sequence(seed: int) -> list[Exercise]:
    """Every kind, in :data:`KINDS` order, on one network and sample (the batch kinds add
    a second sample): the notes' graded path from the output layer inward."""
    rng = _rng(_check_seed(seed), "sequence")
    for _ in range(MAX_DRAWS):
        d = _draw(rng, outputs=("sigmoid",))  # a and g′ need a g^(L) that is not identity
        e = _Engine(d)
        parts = [None] if e.kinked else [_well_posed(_BUILDERS[kind](d, e)) for kind in KINDS]
        if all(p is not None for p in parts):
            return [_exercise(kind, int(seed), d, p) for kind, p in zip(KINDS, parts, strict=True)
                    if p is not None]
    raise RuntimeError(f"no well-posed sequence in {MAX_DRAWS} draws for seed {seed}")


__all__ = ["CLOSE", "DIGITS", "KINDS", "Exercise", "Hint", "Mistake", "Verdict", "generate",
           "sequence"]
