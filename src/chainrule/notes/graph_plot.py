"""A :class:`~chainrule.notes.graph.Graph` as a matplotlib figure: the network picture of
one sample, for a notebook or a report (a PNG shows everywhere an SVG may not).

Layers are columns, a unit a circle labelled with its a and δ, a weight a line coloured by
the sign of w and as wide as |∂C_0/∂w_jk| = |a_k δ_j|, the widest being the largest
gradient shown. Every number, w and ∂C_0/∂w included, is in the SVG
(:meth:`Graph.to_svg`); this figure is the overview.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from .._extras import pyplot
from ..io.atomic import atomic_write_bytes
from .graph import Graph
from .graph_draw import NEGATIVE, POSITIVE, caption, column_title, fmt, left_out_notes, sym

#: Line width of the weight with the largest |∂C_0/∂w| (the thinnest is MIN_WIDTH).
MAX_WIDTH, MIN_WIDTH = 4.5, 0.4


def _pyplot() -> Any:
    return pyplot("chainrule's graph figure")


def _positions(graph: Graph) -> dict[str, tuple[float, float]]:
    """Each node's (x, y): one column per layer shown (C_0 last), in order, the column's
    nodes centred on y = 0."""
    layers = sorted({n.layer for n in graph.nodes})
    out = {}
    for x, layer in enumerate(layers):
        ids = [n.id for n in graph.nodes if n.layer == layer]
        out.update({node_id: (float(x), (len(ids) - 1) / 2 - i) for i, node_id in enumerate(ids)})
    return out


def _label(graph: Graph, node_id: str) -> str:
    n = graph.node(node_id)
    if n.kind == "cost":
        return f"C₀ = {fmt(n.values['C0'])}"
    assert n.j is not None
    a = f"{sym('a', n.j, n.layer)} = {fmt(n.values['a'])}"
    return a if n.kind == "input" else f"{a}\n{sym('δ', n.j, n.layer)} = {fmt(n.values['delta'])}"


def plot_graph(graph: Graph, path: str | os.PathLike[str] | None = None) -> Any:
    """Draw ``graph``; with ``path``, write it there as a PNG (atomically) and return the
    path, else return the matplotlib Figure.

    One line per weight edge (``ax.lines``, in the order of ``graph.edges``), then one per
    edge into C_0 (dashed); one circle per node; the labels ``a_j^(l) = …`` and (units)
    ``δ_j^(l) = …`` at four significant digits, as in the SVG.
    """
    plt = _pyplot()
    pos = _positions(graph)
    layers = sorted({n.layer for n in graph.nodes})
    n_columns = len(layers)
    tallest = max(sum(1 for n in graph.nodes if n.layer == layer) for layer in layers)
    fig, ax = plt.subplots(figsize=(2.6 * n_columns + 1, 0.95 * tallest + 2.2))
    weights = [e for e in graph.edges if e.kind == "weight"]
    biggest = max((abs(e.values["grad_w"] or 0.0) for e in weights), default=0.0) or 1.0
    for e in weights:
        (x1, y1), (x2, y2) = pos[e.source], pos[e.target]
        w, g = e.values["w"] or 0.0, e.values["grad_w"] or 0.0
        ax.plot([x1, x2], [y1, y2], color=POSITIVE if w >= 0 else NEGATIVE, alpha=0.75,
                lw=MIN_WIDTH + (MAX_WIDTH - MIN_WIDTH) * abs(g) / biggest, zorder=1)
    for e in graph.edges:
        if e.kind == "cost":
            (x1, y1), (x2, y2) = pos[e.source], pos[e.target]
            ax.plot([x1, x2], [y1, y2], color="#868e96", ls="--", lw=1.0, zorder=1)
    fill = {"input": "#f1f3f5", "unit": "white", "cost": "#fff4e6"}
    for n in graph.nodes:
        x, y = pos[n.id]
        ax.scatter([x], [y], s=420, facecolor=fill[n.kind], edgecolor="#343a40", zorder=2)
        ax.annotate(_label(graph, n.id), (x, y), xytext=(0, -15), textcoords="offset points",
                    ha="center", va="top", fontsize=8, zorder=3,
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none",
                          "alpha": 0.85})
    top = (tallest - 1) / 2 + 0.55
    for x, layer in enumerate(layers):
        ax.text(x, top, column_title(graph, layer), ha="center", va="bottom", fontsize=9,
                fontweight="bold")
    ax.set_title(caption(graph), fontsize=10)
    notes = left_out_notes(graph)
    if notes:
        fig.text(0.01, 0.01, "; ".join(notes) + ".", fontsize=8, color="#495057")
    ax.set_xlim(-0.6, n_columns - 0.4)
    ax.set_ylim(-(tallest - 1) / 2 - 0.8, top + 0.35)
    ax.axis("off")
    fig.tight_layout()
    if path is None:
        return fig
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=110)
    finally:
        plt.close(fig)
    return Path(atomic_write_bytes(path, buf.getvalue()))
