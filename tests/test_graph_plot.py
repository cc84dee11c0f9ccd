"""chainrule.notes.graph_plot: the graph's matplotlib figure draws what the graph holds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.notes.graph import Graph, computation_graph
from chainrule.notes.graph_draw import NEGATIVE, POSITIVE, fmt, sym

pytest.importorskip("matplotlib")
from matplotlib.colors import to_hex  # noqa: E402

from chainrule.notes.graph_plot import MAX_WIDTH, MIN_WIDTH, plot_graph  # noqa: E402


def _graph(sizes: list[int], output: str = "sigmoid", loss: str = "squared_error") -> Graph:
    net = cr.MLP(sizes, hidden="tanh", output=output, loss=loss, dtype="float64", seed=2)
    x = np.random.default_rng(2).normal(size=(1, sizes[0]))
    y = np.eye(sizes[-1])[[0]] if output == "softmax" else np.full((1, sizes[-1]), 0.3)
    return computation_graph(net, x, y)


def test_every_weight_is_a_line_coloured_by_w_and_as_wide_as_its_gradient() -> None:
    import matplotlib.pyplot as plt

    graph = _graph([3, 4, 2])
    fig = plot_graph(graph)
    try:
        ax = fig.axes[0]
        weights = [e for e in graph.edges if e.kind == "weight"]
        costs = [e for e in graph.edges if e.kind == "cost"]
        assert len(ax.lines) == len(weights) + len(costs) == 3 * 4 + 4 * 2 + 2
        grads = np.array([abs(e.values["grad_w"]) for e in weights])
        widths = np.array([line.get_linewidth() for line in ax.lines[: len(weights)]])
        np.testing.assert_allclose(widths, MIN_WIDTH + (MAX_WIDTH - MIN_WIDTH)
                                   * grads / grads.max(), rtol=1e-12)
        for e, line in zip(weights, ax.lines, strict=False):
            assert to_hex(line.get_color()) == (POSITIVE if e.values["w"] >= 0 else NEGATIVE)
        assert all(line.get_linestyle() == "--" for line in ax.lines[len(weights):])
        assert len(ax.collections) == len(graph.nodes) == 3 + 4 + 2 + 1
        labels = {t.get_text() for t in ax.texts}
        for n in graph.nodes:
            if n.kind == "unit":
                assert (f"{sym('a', n.j, n.layer)} = {fmt(n.values['a'])}\n"
                        f"{sym('δ', n.j, n.layer)} = {fmt(n.values['delta'])}") in labels
        assert f"C₀ = {fmt(graph.node('C0').values['C0'])}" in labels
    finally:
        plt.close(fig)


def test_a_large_networks_figure_is_bounded_and_says_what_it_left_out(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    graph = _graph([100, 30, 10], output="softmax", loss="cross_entropy")
    fig = plot_graph(graph)
    try:
        assert len(fig.axes[0].lines) == 8 * 8 + 8 * 8 + 8
        notes = [t.get_text() for t in fig.texts]
        assert notes == ["92 of 100 inputs not shown; 22 of 30 units of layer 1 not shown; "
                         "2 of 10 units of layer 2 not shown."]
    finally:
        plt.close(fig)
    before = plt.get_fignums()
    path = plot_graph(graph, tmp_path / "g.png")
    assert path == tmp_path / "g.png" and plt.get_fignums() == before  # closed
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_a_neighbourhood_is_drawn_in_the_columns_it_has() -> None:
    import matplotlib.pyplot as plt

    net = cr.MLP([1] * 60 + [1], hidden="tanh", seed=0)
    graph = computation_graph(net, [0.5], [0.2])  # too deep: a unit's neighbourhood
    fig = plot_graph(graph)
    try:
        titles = [t.get_text() for t in fig.axes[0].texts if t.get_fontweight() == "bold"]
        assert titles == ["layer 58 (tanh)", "layer 59 (tanh)", "layer 60 (identity) = L",
                          "cost C₀"]
    finally:
        plt.close(fig)
