"""The quiz typeset: an exercise's network, question, hints and verdicts as TeX for the page's
KaTeX (the path the weight panel takes), and its hint ladder.

The exercises (:mod:`chainrule.notes.exercises`) speak the notes' plain notation —
``∂C_0/∂w_01^(2)``, ``g′(z_1^(2))``, ``δ_0^(2)``. :func:`segments` cuts such a text into prose
and symbols, each symbol as TeX, so the page sets the symbols with KaTeX and the prose as text.

The ladder (:func:`ladder`) has three rungs for every kind: the chain (which factors make the
quantity, as a formula, no numbers), the factors' values (the exercise's own hints, without the
final result), and only then the answer.
"""

from __future__ import annotations

import re
from typing import Any

from ..notes.exercises import Exercise

#: The kinds in words, for the page's question menu.
KIND_NAMES: dict[str, str] = {
    "z": "z: a weighted input",
    "a": "a = g(z): an activation",
    "cost": "C₀: the cost of one sample",
    "dC_da": "∂C₀/∂a at the output",
    "g_prime": "g′(z) at the output",
    "delta": "δ at the output",
    "dC_dw": "∂C₀/∂w of an output weight",
    "hidden_dC_da": "∂C₀/∂a of a hidden unit (a sum)",
    "hidden_delta": "δ of a hidden unit",
    "hidden_dC_dw": "∂C₀/∂w of a hidden weight",
    "batch_dC_dw": "∂C/∂w averaged over a batch",
    "update": "the new weight after one step",
}

_GREEK = {"δ": "\\delta", "σ": "\\sigma", "η": "\\eta"}
# One symbol of the notes: a_1^(2), w_01^(2), δ_0^(2), y_1, x_0, C_0, a^(0), w^(2).
_SYM = r"(?:[azbwyxδ]_[0-9a-z]{1,2}(?:\^\(\d\))?|[aw]\^\(\d\)|C_[0-9in])"
_TOKEN = re.compile(
    rf"∂(?P<num>{_SYM}|C)/∂(?P<den>{_SYM}|w)"  # a derivative ∂C_0/∂a_1^(2)
    rf"|g′\((?P<arg>{_SYM}|z)\)"  # g′(z_1^(2))
    rf"|e\^\(−(?P<exp>{_SYM})\)"  # e^(−z_1^(2))
    rf"|(?P<sym>{_SYM})"
    r"|g\^\((?P<g>\d)\)"  # g^(2), the activation of layer 2
    r"|Σ_(?P<sum>[a-z])"
    r"|(?P<greek>[σηδ])"
)


def symbol(text: str) -> str:
    """One plain symbol (``w_01^(2)``, ``δ_0^(2)``, ``C_0``, ``a^(0)``) as TeX."""
    m = re.fullmatch(r"(?P<base>[^_^]+)(?:_(?P<sub>[0-9a-z]+))?(?:\^\((?P<sup>\d)\))?", text)
    if m is None:
        return text
    out = _GREEK.get(m["base"], m["base"])
    if m["sub"] is not None:
        out += f"_{{{m['sub']}}}"
    if m["sup"] is not None:
        out += f"^{{({m['sup']})}}"
    return out


def _tex(m: re.Match[str]) -> str:
    if m["num"] is not None:
        return f"\\frac{{\\partial {symbol(m['num'])}}}{{\\partial {symbol(m['den'])}}}"
    if m["arg"] is not None:
        return f"g'({symbol(m['arg'])})"
    if m["exp"] is not None:
        return f"e^{{-{symbol(m['exp'])}}}"
    if m["sym"] is not None:
        return symbol(m["sym"])
    if m["g"] is not None:
        return f"g^{{({m['g']})}}"
    if m["sum"] is not None:
        return f"\\sum_{{{m['sum']}}}"
    return _GREEK[m["greek"]]


def segments(text: str) -> list[dict[str, str]]:
    """``text`` as prose and symbols: ``[{"text": ...}, {"tex": ...}, ...]`` in order."""
    out: list[dict[str, str]] = []
    at = 0
    for m in _TOKEN.finditer(text):
        if m.start() > at:
            out.append({"text": text[at:m.start()]})
        out.append({"tex": _tex(m)})
        at = m.end()
    if at < len(text):
        out.append({"text": text[at:]})
    return out


def _w(j: int, k: int, layer: int) -> str:
    jk = f"{j},{k}" if j > 9 or k > 9 else f"{j}{k}"
    return f"w_{{{jk}}}^{{({layer})}}"


def _u(base: str, j: int | str, layer: int) -> str:
    return f"{base}_{{{j}}}^{{({layer})}}"


def _d(num: str, den: str) -> str:
    return f"\\frac{{\\partial {num}}}{{\\partial {den}}}"


def _g_prime(activation: str, j: int, layer: int) -> str:
    """g′(z_j) for the activations the exercises draw, in the notes' closed forms."""
    a, z = _u("a", j, layer), _u("z", j, layer)
    forms = {"sigmoid": f"{a}\\,(1 - {a})", "tanh": f"1 - ({a})^2",
             "relu": f"1 \\text{{ if }} {z} > 0 \\text{{, else }} 0", "identity": "1"}
    return f"g'({z}) = " + forms.get(activation, f"\\text{{the slope of {activation} at }} {z}")


def _hidden_sum(e: Exercise, h: int) -> str:
    """∂C_0/∂a_h^(1) = Σ_i w_ih^(2) g′(z_i^(2)) ∂C_0/∂a_i^(2), written out over i."""
    terms = [f"{_w(i, h, 2)}\\, g'({_u('z', i, 2)})\\, {_d('C_0', _u('a', i, 2))}"
             for i in range(e.sizes[2])]
    return f"{_d('C_0', _u('a', h, 1))} = " + " + ".join(terms)


def chain(e: Exercise) -> str:
    """The quantity asked, as the product (or sum) of its factors: TeX, no numbers."""
    L, layer, j, k = len(e.sizes) - 1, e.layer, e.j, e.k if e.k is not None else 0
    act = e.output if layer == L else e.hidden
    a, z = _u("a", j, layer), _u("z", j, layer)
    w = _w(j, k, layer)
    dw = f"{_d('C_0', a)} \\cdot g'({z}) \\cdot {_u('a', k, layer - 1)}"
    if e.kind == "z":
        terms = [f"{_w(j, i, layer)}\\, {_u('a', i, layer - 1)}"
                 for i in range(e.sizes[layer - 1])]
        return f"{z} = " + " + ".join(terms) + f" + {_u('b', j, layer)}"
    if e.kind == "a":
        return f"{a} = g({z}),\\quad g = \\text{{{act}}}"
    if e.kind == "cost":
        return "C_0 = " + " + ".join(f"({_u('a', i, L)} - y_{{{i}}})^2" for i in range(e.sizes[L]))
    if e.kind == "dC_da":
        return f"{_d('C_0', a)} = 2({a} - y_{{{j}}})"
    if e.kind == "g_prime":
        return _g_prime(act, j, layer)
    if e.kind in ("delta", "hidden_delta"):
        head = f"\\delta_{{{j}}}^{{({layer})}} = {_d('C_0', z)} = {_d('C_0', a)} \\cdot g'({z})"
        if e.kind == "delta":
            return head
        terms = [f"{_w(i, j, 2)}\\, \\delta_{{{i}}}^{{(2)}}" for i in range(e.sizes[2])]
        return f"{head},\\quad {_d('C_0', a)} = " + " + ".join(terms)
    if e.kind == "dC_dw":
        return f"{_d('C_0', w)} = {dw}"
    if e.kind == "hidden_dC_da":
        return _hidden_sum(e, j)
    if e.kind == "hidden_dC_dw":
        return f"{_d('C_0', w)} = {dw},\\quad {_hidden_sum(e, j)}"
    if e.kind == "batch_dC_dw":
        return (f"{_d('C', w)} = \\frac{{1}}{{n}} \\sum_{{i}} {_d('C_i', w)},\\quad "
                f"{_d('C_i', w)} = {dw.replace('C_0', 'C_i')} \\text{{ for sample }} i,"
                f"\\ n = {len(e.X)}")
    if e.kind == "update":
        return f"{w} \\leftarrow {w} - \\eta\\, {_d('C', w)},\\quad \\eta = {e.lr:g}"
    raise ValueError(f"kind: no chain for {e.kind!r}")


def subject(e: Exercise) -> list[dict[str, str]]:
    """What the question is about, in words: the unit, or the weight from unit k to unit j."""
    L, layer, j = len(e.sizes) - 1, e.layer, e.j
    if e.kind == "cost":
        return [{"tex": "C_0"}, {"text": ": the cost of sample 0"}]
    if e.k is not None:
        return [{"tex": _w(j, e.k, layer)}, {"text": f": the weight from unit {e.k} of layer "
                 f"{layer - 1} to unit {j} of layer {layer}"}]
    where = "the output layer L" if layer == L else "a hidden layer"
    return [{"text": f"unit {j} of layer {layer} ({where})"}]


def network(e: Exercise) -> list[str]:
    """The network as TeX lines: the loss, each layer's w^(l) and b^(l), the samples."""
    L = len(e.sizes) - 1
    sizes = "\\text{-}".join(map(str, e.sizes))
    out = [f"\\text{{network }} {sizes},\\quad "
           f"C_0 = \\sum_j (a_j^{{({L})}} - y_j)^2"]
    for layer in range(1, L + 1):
        role = "output, L" if layer == L else "hidden"
        act = e.output if layer == L else e.hidden
        rows = " \\\\ ".join(" & ".join(f"{v:g}" for v in row) for row in e.w[layer - 1])
        col = " \\\\ ".join(f"{v:g}" for v in e.b[layer - 1])
        out.append(f"\\text{{layer {layer} ({role}, }} g = \\text{{{act}}}):\\quad "
                   f"w^{{({layer})}} = \\begin{{pmatrix}} {rows} \\end{{pmatrix}},\\quad "
                   f"b^{{({layer})}} = \\begin{{pmatrix}} {col} \\end{{pmatrix}}")
    for s, (x, y) in enumerate(zip(e.X, e.Y, strict=True)):
        out.append(f"\\text{{sample {s}: }} a^{{(0)}} = x = ({', '.join(f'{v:g}' for v in x)}),"
                   f"\\quad y = ({', '.join(f'{v:g}' for v in y)})")
    return out


def _without_result(text: str, answer: float) -> str:
    """A factor's hint with its last ``= <the answer>`` cut: the values, not the result."""
    at = text.rfind(f"= {answer:.6g}")
    return text[:at].rstrip() if at > 0 else text


#: The rungs of the ladder, in order.
RUNGS = ("the chain", "the factors", "the answer")


def ladder(e: Exercise, n: int) -> dict[str, Any]:
    """Rung ``n`` of the hint ladder: ``factor`` (its name), ``text`` (plain) and ``parts``
    (lines of :func:`segments`, or one ``{"tex": ...}`` formula for the chain)."""
    if n == 0:
        names = ", ".join(h.factor for h in e.hints)
        return {"factor": RUNGS[0], "text": f"the chain: built from {names}",
                "parts": [[{"text": "the chain: "}, {"tex": chain(e)}]]}
    if n == 1:
        lines = [_without_result(h.text, e.answer) for h in e.hints]
        return {"factor": RUNGS[1], "text": "the factors: " + "; ".join(lines),
                "parts": [segments(line) for line in lines]}
    answer = f"{e.answer:.{e.digits}g}"
    return {"factor": RUNGS[2], "text": f"the answer: {answer}",
            "parts": [[{"text": "the answer: "}, {"tex": answer}]]}
