"""Drawing a :class:`~chainrule.graph.Graph`: the labels in the notes' notation, Graphviz
DOT, and SVG laid out by hand (layers as columns, one box per node listing its numbers,
one line per weight).

Every number in the SVG is readable by a program, not only by eye: each piece of text
that shows one carries ``data-quantity`` (``a``, ``z``, ``g_prime``, ``dC_da``,
``delta``, ``b``, ``grad_b``, ``sum_a_dC_da``, ``w``, ``grad_w``, ``C0``, ``y``,
``C0_term``),
``data-layer``, ``data-j`` (and ``data-k`` for a weight) and ``data-value``, the
full-precision ``repr``. Every weight edge is a ``<g class="edge">`` with ``data-layer``,
``data-j``, ``data-k``, ``data-w`` and ``data-grad-w`` and a ``<title>`` tooltip with both.
"""

from __future__ import annotations

from typing import NamedTuple
from xml.sax.saxutils import escape, quoteattr

from .graph import Edge, Graph, Node, Value

BOX_W = 230  # a node's box, px (wide enough for w₄,₁₃₈⁽¹⁾ = …, ∂C₀/∂w = …)
LINE_H = 14  # one line of text in a box
PAD = 6  # inside a box, above and below the lines
V_GAP = 14  # between boxes of one column
H_GAP = 120  # between columns, for the edges
MARGIN = 20
TOP = 62  # caption and column titles
POSITIVE, NEGATIVE = "#1f6fd1", "#d9480f"  # w ≥ 0, w < 0
FILL = {"input": "#f1f3f5", "unit": "#ffffff", "cost": "#fff4e6"}


# -- labels in the notes' notation -------------------------------------------------------
_SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
_SUP = str.maketrans("0123456789()L", "⁰¹²³⁴⁵⁶⁷⁸⁹⁽⁾ᴸ")


def sym(name: str, j: int, layer: int) -> str:
    """``a₂⁽¹⁾``: a quantity of unit j of layer l in the notes' notation."""
    return f"{name}{str(j).translate(_SUB)}{f'({layer})'.translate(_SUP)}"


def fmt(v: Value) -> str:
    """Four significant digits for the eye (−0 shown as 0); data-value keeps them all."""
    return "—" if v is None else f"{v + 0.0:.4g}"


class Part(NamedTuple):
    """A piece of a box's line: its text and, when it shows a number, which one
    (``quantity`` of unit ``j`` of ``layer``, weight from ``k``) with its full value."""

    text: str
    quantity: str | None = None
    layer: int | None = None
    j: int | None = None
    k: int | None = None
    value: Value = None


#: A unit's box lists its incoming weights when it has at most this many shown inputs.
MAX_LISTED_WEIGHTS = 8


def incoming(graph: Graph) -> dict[str, list[Edge]]:
    """Each node's incoming edges (weights into a unit, outputs into C_0), by node id."""
    into: dict[str, list[Edge]] = {n.id: [] for n in graph.nodes}
    for e in graph.edges:
        into[e.target].append(e)
    return into


def node_lines(graph: Graph, n: Node, *, weights: bool = False,
               into: list[Edge] | None = None) -> list[list[Part]]:
    """The lines of a node's box; with ``weights``, a unit's incoming w and ∂C_0/∂w too
    (when it has at most :data:`MAX_LISTED_WEIGHTS` shown inputs), and the cost node's
    targets and terms. ``into``: the node's incoming edges, when already gathered
    (:func:`incoming`)."""
    if into is None:
        into = [e for e in graph.edges if e.target == n.id]
    L = len(graph.sizes) - 1
    v = n.values
    if n.kind == "cost":
        lines = [[Part(f"C₀ = {fmt(v['C0'])}", "C0", L + 1, None, None, v["C0"])],
                 [Part(f"loss {graph.loss}")]]
        if weights:
            for e in into:
                if e.kind == "cost":
                    y, t = e.values["y"], e.values["C0_term"]
                    lines.append([Part(f"y{_s(e.j)} = {fmt(y)}, ", "y", L, e.j, None, y),
                                  Part(f"term {fmt(t)}", None if t is None else "C0_term",
                                       L, e.j, None, t)])
        return lines
    assert n.j is not None
    j, lay = n.j, n.layer
    if n.kind == "input":
        return [[Part(f"{sym('a', j, 0)} = {fmt(v['a'])}", "a", 0, j, None, v["a"])]]

    def number(label: str, quantity: str) -> list[Part]:
        return [Part(f"{label} = {fmt(v[quantity])}", quantity, lay, j, None, v[quantity])]

    act = graph.activations[lay - 1]
    lines = [number(sym("z", j, lay), "z"), number(f"{sym('a', j, lay)} = {act}(z)", "a")]
    if v["g_prime"] is None:  # no g′(z_j): δ_j = Σ_i ∂C_0/∂a_i · ∂a_i/∂z_j
        lines.append([Part(f"{act}: δ{_s(j)} = Σᵢ ∂C₀/∂aᵢ · ∂aᵢ/∂z{_s(j)}")])
    else:
        lines.append(number(f"g′({sym('z', j, lay)})", "g_prime"))
    if v["dC_da"] is None:  # a canonical pair: the chain collapses to δ_j = a_j − y_j
        y = next((e.values["y"] for e in graph.edges
                  if e.kind == "cost" and e.j == j and e.source == n.id), None)
        lines.append([Part(f"fused: δ = a{_s(j)} − y{_s(j)} = {fmt(v['a'])} − {fmt(y)}")])
    else:
        lines.append(number(f"∂C₀/∂{sym('a', j, lay)}", "dC_da"))
    if "sum_a_dC_da" in v:  # softmax's sum over outputs as one product (graph.py's notes)
        total = v["sum_a_dC_da"]
        shown = fmt(total) if (total or 0.0) >= 0 else f"({fmt(total)})"
        lines.append([Part(f"δ{_s(j)} = a{_s(j)} (∂C₀/∂a{_s(j)} − Σᵢ aᵢ ∂C₀/∂aᵢ)")])
        lines.append([Part(f"   = {fmt(v['a'])} × ({fmt(v['dC_da'])} − "),
                      Part(shown, "sum_a_dC_da", lay, j, None, total), Part(")")])
    lines.append(number(sym("δ", j, lay), "delta"))
    if v["b"] is not None:
        lines.append(number(sym("b", j, lay), "b"))
        lines.append(number(f"∂C₀/∂{sym('b', j, lay)}", "grad_b"))
    if weights and len(into) <= MAX_LISTED_WEIGHTS:
        for e in into:
            w, g = e.values["w"], e.values["grad_w"]
            lines.append([Part(f"{_w(e)} = {fmt(w)}, ", "w", lay, j, e.k, w),
                          Part(f"∂C₀/∂w = {fmt(g)}", "grad_w", lay, j, e.k, g)])
    return lines


def _s(i: int | None) -> str:
    return str(i).translate(_SUB)


def _w(e: Edge) -> str:
    """``w₂₀⁽¹⁾`` (``w₂,₁₀⁽¹⁾`` when an index has two digits)."""
    sep = "," if max(e.j, e.k or 0) > 9 else ""
    return f"w{_s(e.j)}{sep}{_s(e.k)}{f'({e.layer})'.translate(_SUP)}"


def edge_text(e: Edge, *, full: bool = True) -> str:
    """The tooltip (``full`` precision) or label of an edge: w and ∂C_0/∂w, or y and
    the cost term."""
    f = repr if full else fmt
    if e.kind == "cost":
        return f"y{_s(e.j)} = {f(e.values['y'])}; term of C₀ = {f(e.values['C0_term'])}"
    return f"{_w(e)} = {f(e.values['w'])}; ∂C₀/∂{_w(e)} = {f(e.values['grad_w'])}"


def column_title(graph: Graph, column: int) -> str:
    L = len(graph.sizes) - 1
    if column == 0:
        return "layer 0 (input)" if graph.features_of is None else \
            f"layer 0 ({graph.features_of} of the input)"
    if column > L:
        return "cost C₀"
    return f"layer {column} ({graph.activations[column - 1]})" + (" = L" if column == L else "")


def caption(graph: Graph) -> str:
    arch = "-".join(map(str, graph.sizes))
    text = f"sample {graph.sample}: {arch} network, loss {graph.loss}"
    if graph.focus is not None:
        layer, j = graph.focus
        text += f"; neighbourhood of {sym('a', j, layer)}"
    if graph.top is not None:
        text += f"; in each layer the {graph.top} units that matter most to C₀"
    if graph.fused:
        text += "; fused output δ⁽ᴸ⁾ = a − y"
    return text


def left_out_notes(graph: Graph) -> list[str]:
    """One sentence per layer with units not shown."""
    notes = []
    for layer, n in sorted(graph.left_out.items()):
        what = f"units of layer {layer}" if layer else \
            "inputs" if graph.features_of is None else f"outputs of {graph.features_of}"
        notes.append(f"{n} of {graph.sizes[layer]} {what} not shown")
    return notes


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


# -- DOT -----------------------------------------------------------------------------------
def render_dot(graph: Graph) -> str:
    """The graph in Graphviz DOT: a cluster per layer, the numbers as labels, full
    precision in the edge tooltips."""
    lines = ["digraph computation_graph {", "  rankdir=LR;",
             '  node [shape=box, fontname="Helvetica", fontsize=10];',
             '  edge [fontname="Helvetica", fontsize=8];',
             f"  label={_dot_quote(caption(graph))};"]
    into = incoming(graph)
    for column in sorted({n.layer for n in graph.nodes}):
        lines.append(f"  subgraph cluster_{column} {{")
        lines.append(f"    label={_dot_quote(column_title(graph, column))};")
        for n in graph.nodes:
            if n.layer == column:
                label = "\n".join("".join(p.text for p in line)
                                   for line in node_lines(graph, n, into=into[n.id]))
                lines.append(f"    {n.id} [label={_dot_quote(label)}];")
        lines.append("  }")
    for e in graph.edges:
        label, tooltip = _dot_quote(edge_text(e, full=False)), _dot_quote(edge_text(e))
        lines.append(f"  {e.source} -> {e.target} [label={label}, tooltip={tooltip}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


# -- SVG -----------------------------------------------------------------------------------
def render_svg(graph: Graph) -> str:
    """The graph as a standalone SVG document."""
    columns = sorted({n.layer for n in graph.nodes})
    into = incoming(graph)
    lines = {n.id: node_lines(graph, n, weights=True, into=into[n.id]) for n in graph.nodes}
    heights = {i: 2 * PAD + LINE_H * len(ls) for i, ls in lines.items()}
    col_h = {c: sum(heights[n.id] + V_GAP for n in graph.nodes if n.layer == c) - V_GAP
             for c in columns}
    tallest = max(col_h.values())
    pos: dict[str, tuple[float, float]] = {}  # node id → top-left corner
    for ci, c in enumerate(columns):
        x = MARGIN + ci * (BOX_W + H_GAP)
        y: float = TOP + (tallest - col_h[c]) / 2
        for n in graph.nodes:
            if n.layer == c:
                pos[n.id] = (x, y)
                y += heights[n.id] + V_GAP
    notes = _notes(graph, into)
    width = MARGIN * 2 + len(columns) * BOX_W + (len(columns) - 1) * H_GAP
    height = TOP + tallest + MARGIN + LINE_H * (len(notes) + 1)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" '
        'font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="11">',
        f"<title>{escape('computation graph — ' + caption(graph))}</title>",
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{MARGIN}" y="22" font-size="14" font-weight="bold">'
        f"{escape('Computation graph of ' + caption(graph))}</text>",
    ]
    for ci, c in enumerate(columns):
        mid = MARGIN + ci * (BOX_W + H_GAP) + BOX_W / 2
        out.append(f'<text x="{mid:.1f}" y="{TOP - 12}" text-anchor="middle" font-weight="bold">'
                   f"{escape(column_title(graph, c))}</text>")
    out.append('<g class="edges">')
    grads = [abs(e.values["grad_w"] or 0.0) for e in graph.edges if e.kind == "weight"]
    biggest = max(grads, default=0.0) or 1.0
    for e in graph.edges:
        out.append(_edge(e, pos, heights, biggest))
    out.append("</g>")
    out.append('<g class="nodes">')
    for n in graph.nodes:
        out.append(_node(n, lines[n.id], pos[n.id], heights[n.id]))
    out.append("</g>")
    y = TOP + tallest + MARGIN + LINE_H
    for note in notes:
        out.append(f'<text class="note" x="{MARGIN}" y="{y:.1f}" fill="#495057">'
                   f"{escape(note)}</text>")
        y += LINE_H
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _notes(graph: Graph, into: dict[str, list[Edge]]) -> list[str]:
    notes = ["One sample (n = 1), so the engine's gradients are ∂C₀/∂w_jk = a_k δ_j and "
             "∂C₀/∂b_j = δ_j (no L2 term). Edge width: |∂C₀/∂w|; colour: sign of w."]
    if any(len(es) > MAX_LISTED_WEIGHTS for es in into.values()):
        notes.append("Hover an edge for its w and ∂C₀/∂w.")
    if graph.features_of is not None:
        notes.append(f"Layer 0 shows what w⁽¹⁾ multiplies: the {graph.sizes[0]} outputs of "
                     f"{graph.features_of} (the layers before the first weight matrix).")
    if graph.top is not None:
        notes.append(f"Shown: in each layer the {graph.top} units of largest |a_k ∂C₀/∂a_k| "
                     "= |Σ_j w_jk ∂C₀/∂w_jk| (what C₀ owes them, to first order), and the "
                     "outputs of largest |δ_j|.")
    if graph.focus is not None:
        notes.append("Shown: the inputs of the chosen unit with the largest |∂C₀/∂w_jk|, and "
                     "the next layer's units with the largest |w_ij δ_i|.")
    return notes + [n + "." for n in left_out_notes(graph)]


def _edge(e: Edge, pos: dict[str, tuple[float, float]], heights: dict[str, int],
          biggest: float) -> str:
    sx, sy = pos[e.source]
    tx, ty = pos[e.target]
    x1, y1 = sx + BOX_W, sy + heights[e.source] / 2
    x2, y2 = tx, ty + heights[e.target] / 2
    title = f"<title>{escape(edge_text(e))}</title>"
    if e.kind == "cost":
        return (f'<g class="edge cost" data-j="{e.j}">{title}<line x1="{x1:.1f}" '
                f'y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="#868e96" '
                'stroke-dasharray="4 3" stroke-width="1.2"/></g>')
    w, g = e.values["w"] or 0.0, e.values["grad_w"] or 0.0
    stroke = POSITIVE if w >= 0 else NEGATIVE
    width = 0.6 + 3.4 * abs(g) / biggest
    return (f'<g class="edge" data-layer="{e.layer}" data-j="{e.j}" data-k="{e.k}" '
            f"data-w={quoteattr(repr(w))} data-grad-w={quoteattr(repr(g))}>{title}"
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{stroke}" '
            f'stroke-opacity="0.75" stroke-width="{width:.2f}"/></g>')


def _node(n: Node, lines: list[list[Part]], at: tuple[float, float], height: int) -> str:
    x, y = at
    attrs = f'class="node {n.kind}" id={quoteattr(n.id)} data-layer="{n.layer}"'
    if n.j is not None:
        attrs += f' data-j="{n.j}"'
    out = [f"<g {attrs}>",
           f'<rect x="{x:.1f}" y="{y:.1f}" width="{BOX_W}" height="{height}" rx="5" '
           f'fill="{FILL[n.kind]}" stroke="#343a40"/>']
    for i, line in enumerate(lines):
        baseline = y + PAD + LINE_H * (i + 1) - 3
        spans = "".join(_span(p) for p in line)
        out.append(f'<text x="{x + 6:.1f}" y="{baseline:.1f}">{spans}</text>')
    out.append("</g>")
    return "".join(out)


def _span(p: Part) -> str:
    if p.quantity is None:
        return f"<tspan>{escape(p.text)}</tspan>"
    attrs = f'data-quantity="{p.quantity}" data-layer="{p.layer}"'
    if p.j is not None:
        attrs += f' data-j="{p.j}"'
    if p.k is not None:
        attrs += f' data-k="{p.k}"'
    return f"<tspan {attrs} data-value={quoteattr(repr(p.value))}>{escape(p.text)}</tspan>"
