"""An explanation as LaTeX: the notes' lines with this network's values.

Each equation is a chain lhs = rhs_1 = rhs_2 = …: the symbols, then the numbers
substituted, then the value. :func:`latex_lines` gives every ``lhs = rhs_i`` as a
one-line equation that matplotlib's mathtext also renders (no environments, no
``\\\\``, text only in ``\\mathrm``); :func:`to_latex` aligns the chains in one
``aligned`` block for KaTeX, MathJax and Jupyter. Numbers are printed as
``WeightExplanation.__str__`` prints them, to 6 significant digits.
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .explain import NextLayerTerm, WeightExplanation

Chain = tuple[str, list[str]]  # lhs, and the right-hand sides it equals in turn

#: The format of every number, as ``WeightExplanation.__str__`` writes them.
NUMBER_FORMAT = ".6g"

# ∂C_0/∂a_j^(L) for the losses whose formula the notes' readers know, as a function of
# (a_j, y_j): called with the symbols for the formula, with the numbers to substitute them
_LOSS_GRADS = {
    "squared_error": lambda a, y: f"2({a} - {y})",  # the notes' 2(a_j − y_j)
    "cross_entropy": lambda a, y: f"-\\frac{{{y}}}{{{a}}}",
    "binary_cross_entropy": lambda a, y: f"\\frac{{{a} - {y}}}{{{a}(1 - {a})}}",
}


def plain_number(x: float) -> str:
    """``x`` to 6 significant digits as the text prints it; never ``-0`` (a zero has no sign
    worth teaching: −0/a from the loss is 0)."""
    text = format(x, NUMBER_FORMAT)
    return "0" if text == "-0" else text


def text_factor(x: float) -> str:
    """:func:`plain_number` after an operator: negative numbers in parentheses."""
    text = plain_number(x)
    return f"({text})" if text.startswith("-") else text


def text_index(*nodes: int | str) -> str:
    """w_12 as the notes write it; w_{29,22} once an index has two digits (as in LaTeX)."""
    joined = _idx(*nodes)
    return joined if "," not in joined else "{" + joined + "}"


def number(x: float) -> str:
    """``x`` to explain's 6 significant digits, as LaTeX (``1.5 \\times 10^{-5}``, ``\\infty``)."""
    if math.isnan(x):
        return "\\mathrm{nan}"
    if math.isinf(x):
        return "\\infty" if x > 0 else "-\\infty"
    text = plain_number(x)
    if "e" in text:
        mantissa, exponent = text.split("e")
        return f"{mantissa} \\times 10^{{{int(exponent)}}}"
    return text


def factor(x: float) -> str:
    """A number that follows an operator: negative ones in parentheses."""
    text = number(x)
    return f"({text})" if text.startswith("-") else text


def _idx(*nodes: int | str) -> str:
    """w_{12} as the notes write it; w_{3,20} once an index has two digits."""
    parts = [str(n) for n in nodes]
    return ("," if any(len(p) > 1 for p in parts) else "").join(parts)


def _d(num: str, den: str) -> str:
    return f"\\frac{{\\partial {num}}}{{\\partial {den}}}"


def _term_chain(t: NextLayerTerm, j: int, nxt: int) -> Chain:
    """One term of the hidden-layer sum: w_ij^(l+1) g′(z_i^(l+1)) ∂C_0/∂a_i^(l+1)."""
    w = f"w_{{{_idx(t.i, j)}}}^{{({nxt})}}"
    if t.g_prime is None:  # softmax next layer: δ_i from the Jacobian–vector product
        return (f"{w}\\, \\delta_{{{t.i}}}^{{({nxt})}}",
                [f"{number(t.w)} \\cdot {factor(t.delta)}", number(t.product)])
    dC_da = _d("C_0", f"a_{{{t.i}}}^{{({nxt})}}")
    return (f"{w}\\, g^{{\\prime}}(z_{{{t.i}}}^{{({nxt})}})\\, {dC_da}",
            [f"{number(t.w)} \\cdot {factor(t.g_prime)} \\cdot {factor(t.dC_da)}",
             number(t.product)])


def _sum_of(values: list[float], keep: int = 6) -> str:
    """p_0 + p_1 + …, with the middle elided past ``keep`` terms."""
    shown = [number(v) if n == 0 else factor(v) for n, v in enumerate(values)]
    if len(shown) > keep:
        shown = shown[:3] + ["\\cdots"] + shown[-1:]
    return " + ".join(shown)


def _dC_da_chains(
    e: WeightExplanation, dC_da: str, a_j: str, y_j: str
) -> tuple[str, str, list[Chain]]:
    """∂C_0/∂a_j^(l): from the loss at the output, the sum over next-layer nodes below it.

    Returns the factor as a symbol and with numbers, for the weight's chain, and the
    chains that derive its value.
    """
    if e.layer == e.n_layers:
        known = _LOSS_GRADS.get(e.loss)
        if known is not None and e.y_j is not None:
            symbol, numbers = known(a_j, y_j), known(number(e.a_j), factor(e.y_j))
            return symbol, numbers, [(dC_da, [symbol, numbers, number(e.dC_da)])]
        loss = e.loss.replace("_", "\\ ")
        note = f"\\quad \\mathrm{{(from\\ the\\ loss\\ {loss})}}"
        return dC_da, factor(e.dC_da), [(dC_da, [number(e.dC_da) + note])]
    nxt = e.layer + 1
    w_ij = f"w_{{{_idx('i', e.j)}}}^{{({nxt})}}"
    if any(t.g_prime is None for t in e.terms):  # softmax next layer: δ_i, no g′(z_i)
        symbol = f"\\sum_{{i}} {w_ij}\\, \\delta_i^{{({nxt})}}"
    else:
        symbol = (f"\\sum_{{i}} {w_ij}\\, g^{{\\prime}}(z_i^{{({nxt})}})"
                  f"\\, {_d('C_0', f'a_i^{{({nxt})}}')}")
    terms = [_term_chain(t, e.j, nxt) for t in e.terms]
    total = (dC_da, [symbol, _sum_of([t.product for t in e.terms]), number(e.dC_da)])
    return dC_da, factor(e.dC_da), [*terms, total]


def chains(e: WeightExplanation) -> list[Chain]:
    """The equations of ``e``, in the order of its ``__str__``."""
    lay, j, k = e.layer, e.j, e.k
    w = f"w_{{{_idx(j, k)}}}^{{({lay})}}"
    a_j, z_j, a_k = f"a_{{{j}}}^{{({lay})}}", f"z_{{{j}}}^{{({lay})}}", f"a_{{{k}}}^{{({lay - 1})}}"
    dC_dw, dC_da, dC_dz = _d("C_0", w), _d("C_0", a_j), _d("C_0", z_j)
    da_symbol, da_numbers, da_chains = _dC_da_chains(e, dC_da, a_j, f"y_{{{j}}}")
    delta = f"\\delta_{{{j}}}^{{({lay})}}"
    if e.g_prime is None:  # softmax: ∂C_0/∂z_j couples every output, no g′(z_j) to show
        weight = (dC_dw, [f"{dC_dz} \\cdot {_d(z_j, w)}", f"{delta} \\cdot {a_k}",
                          f"{factor(e.delta)} \\cdot {factor(e.a_prev_k)}", number(e.product)])
        da_chains, g = _coupled_chains(e, z_j, delta, dC_dz), []
    else:  # the notes' three factors: ∂C_0/∂a_j · ∂a_j/∂z_j · ∂z_j/∂w_jk
        weight = (dC_dw, [f"{dC_da} \\cdot {_d(a_j, z_j)} \\cdot {_d(z_j, w)}",
                          f"{da_symbol} \\cdot g^{{\\prime}}({z_j}) \\cdot {a_k}",
                          f"{da_numbers} \\cdot {factor(e.g_prime)} \\cdot {factor(e.a_prev_k)}",
                          number(e.product)])
        g = [(f"g^{{\\prime}}({z_j})", [f"g^{{\\prime}}({number(e.z_j)})", number(e.g_prime)])]
    if e.canonical and e.y_j is not None:  # δ^(L) = a − y: only for the canonical pairs
        pair = f"{e.activation}\\ +\\ {e.loss}".replace("_", "\\_")
        g.append((delta, [f"{a_j} - y_{{{j}}}", f"{number(e.a_j)} - {factor(e.y_j)}",
                          number(e.delta) + f"\\quad \\mathrm{{({pair}:\\ a\\ canonical\\ "
                          "pair)}"]))
    result = [weight, *da_chains, *g,
              (f"\\frac{{C_0({w} + h) - C_0({w} - h)}}{{2h}}", [number(e.finite_difference)])]
    n = e.per_sample.size
    grad = dC_dw
    if n > 1:  # the notes' average over samples: ∂C/∂w = (1/n) Σ_i ∂C_i/∂w
        grad = _d("C", w)
        result.append((grad, [f"\\frac{{1}}{{n}} \\sum_{{i=0}}^{{n-1}} {_d('C_i', w)}",
                              f"\\frac{{1}}{{{n}}}\\left({_sum_of(list(e.per_sample))}\\right)",
                              number(e.average)]))
        result.append((f"\\frac{{C({w} + h) - C({w} - h)}}{{2h}}",
                       [number(e.finite_difference_average)]))
    return result + _update_chains(e, w, grad)


def _update_chains(e: WeightExplanation, w: str, grad: str) -> list[Chain]:
    """The optimizer's own step, when known, and the notes' plain SGD step Δw = −η ∂C/∂w."""
    result: list[Chain] = []
    if e.optimizer is not None and e.optimizer_step is not None:
        name = e.optimizer.replace("_", "\\_")
        result.append((f"\\Delta {w}", [number(e.optimizer_step) + f"\\quad \\mathrm{{({name}"
                                         ",\\ the\\ optimizer\\ that\\ trained\\ the\\ "
                                         "model:\\ its\\ own\\ step)}"]))
    if e.update is not None and e.lr is not None:  # Δw = −η ∂C/∂w
        plain = e.optimizer in (None, "sgd")
        note = "" if plain else ("\\quad \\mathrm{(plain\\ SGD,\\ not\\ the\\ step\\ "
                                 f"{e.optimizer}\\ takes)}}").replace("_", "\\_")
        lhs = f"\\Delta {w}" if plain else f"\\Delta_{{\\mathrm{{SGD}}}} {w}"
        result.append((lhs, [f"-\\eta\\, {grad}",
                             f"{number(-e.lr)} \\cdot {factor(e.average)}",
                             number(e.update) + note]))
    return result


def _coupled_chains(e: WeightExplanation, z_j: str, delta: str, dC_dz: str) -> list[Chain]:
    """δ_j = Σ_i ∂C_0/∂a_i ∂a_i/∂z_j for a g that couples its outputs: each term, and
    the sum."""
    lay = e.layer
    out = []
    for t in e.coupled:
        a_i = f"a_{{{t.i}}}^{{({lay})}}"
        out.append((f"{_d('C_0', a_i)}\\, {_d(a_i, z_j)}",
                    [f"{factor(t.dC_da)} \\cdot {factor(t.da_dz)}", number(t.product)]))
    a_i = f"a_i^{{({lay})}}"
    out.append((f"{delta} = {dC_dz}", [f"\\sum_i {_d('C_0', a_i)}\\, {_d(a_i, z_j)}",
                                       _sum_of([t.product for t in e.coupled]),
                                       number(e.delta)]))
    return out


def latex_lines(e: WeightExplanation) -> list[str]:
    """Every step as its own one-line equation ``lhs = rhs``; each renders in mathtext too."""
    return [f"{lhs} = {rhs}" for lhs, rhss in chains(e) for rhs in rhss]


def to_latex(e: WeightExplanation) -> str:
    """The chains in one ``\\begin{aligned}`` block (put it in ``$$ … $$`` or ``\\[ … \\]``)."""
    rows = []
    for lhs, rhss in chains(e):
        rows.append(f"{lhs} &= {rhss[0]}")
        rows.extend(f"&= {rhs}" for rhs in rhss[1:])
    return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"


def to_html(e: WeightExplanation) -> str:
    """The block between ``$$`` for the notebook's MathJax/KaTeX, and the text under it."""
    return (f'<div class="chainrule-explain">$${html.escape(to_latex(e))}$$'
            f"<details><summary>as text</summary><pre>{html.escape(str(e))}</pre></details></div>")
