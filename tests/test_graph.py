"""chainrule.graph / `chainrule graph`: every number in the SVG is the engine's."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli import main
from chainrule.notes.graph import computation_graph

NS = "{http://www.w3.org/2000/svg}"

CASES = [  # (sizes, hidden, output, loss)
    ([3, 3, 2], "sigmoid", "sigmoid", "squared_error"),
    ([2, 4, 3], "tanh", "softmax", "cross_entropy"),
    ([4, 5, 3, 1], "relu", "identity", "squared_error"),
]


def _sample(sizes: list[int], seed: int) -> tuple[cr.Network, np.ndarray, np.ndarray]:
    sizes_, hidden, output, loss = next(c for c in CASES if c[0] == sizes)
    net = cr.MLP(sizes_, hidden=hidden, output=output, loss=loss, seed=seed, dtype="float64")
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(1, sizes[0]))
    if output == "softmax":
        y = np.eye(sizes[-1])[[rng.integers(sizes[-1])]]
    else:
        y = rng.uniform(size=(1, sizes[-1]))
    return net, x, y


def _svg_values(svg: str) -> dict[tuple[str, int, int | None, int | None], float]:
    """(quantity, layer, j, k) → value, read back from the SVG's data attributes."""
    root = ET.fromstring(svg)
    out: dict[tuple[str, int, int | None, int | None], float] = {}
    for el in root.iter():
        if "data-quantity" in el.attrib:
            a = el.attrib
            key = (a["data-quantity"], int(a["data-layer"]),
                   int(a["data-j"]) if "data-j" in a else None,
                   int(a["data-k"]) if "data-k" in a else None)
            out[key] = float(a["data-value"])
        if el.tag == NS + "g" and "data-grad-w" in el.attrib:
            a = el.attrib
            key = ("edge_grad_w", int(a["data-layer"]), int(a["data-j"]), int(a["data-k"]))
            out[key] = float(a["data-grad-w"])
            out[("edge_w", *key[1:])] = float(a["data-w"])  # type: ignore[assignment]
    return out


@pytest.mark.parametrize("sizes", [c[0] for c in CASES])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_svg_numbers_equal_the_engines_forward_and_backward(sizes: list[int], seed: int) -> None:
    net, x, y = _sample(sizes, seed)
    values = _svg_values(computation_graph(net, x, y).to_svg())
    engine = net.copy()
    trace = engine.forward(engine.inputs(x))
    Y = engine.targets(y, 1)
    c0 = engine.cost(trace, Y)
    engine.backward(trace, Y)
    checked = 0
    for lay, d in enumerate(engine.dense_layers, start=1):
        i = engine.layers.index(d)
        z, a, delta = trace.z[i], trace.a[i + 1], trace.delta[i]
        for j in range(d.n_out):
            for q, ref in (("z", z), ("a", a), ("delta", delta)):
                got = values.get((q, lay, j, None))
                assert got is not None, (q, lay, j)
                assert got == pytest.approx(float(ref[0, j]), rel=1e-12, abs=1e-15)
                checked += 1
            for k in range(d.w.shape[1]):
                assert values[("edge_w", lay, j, k)] == float(d.w[j, k])
                assert values[("edge_grad_w", lay, j, k)] == pytest.approx(
                    float(d.grad_w[j, k]), rel=1e-12, abs=1e-15)
                checked += 2
    for k in range(sizes[0]):
        assert values[("a", 0, k, None)] == float(trace.a[0][0, k])
    c0_values = [v for key, v in values.items() if key[0] == "C0"]
    assert c0_values and all(v == pytest.approx(c0, rel=1e-12) for v in c0_values)
    assert checked > 10


def test_edge_gradients_equal_explain_for_a_hidden_and_an_output_weight() -> None:
    net, x, y = _sample([3, 3, 2], 5)
    g = computation_graph(net, x, y)
    for layer, j, k in [(1, 2, 0), (2, 1, 2)]:
        e = cr.explain(net, x, y, layer=layer, j=j, k=k)
        edge = next(ed for ed in g.edges if (ed.layer, ed.j, ed.k) == (layer, j, k))
        assert edge.values["grad_w"] == pytest.approx(e.product, rel=1e-12)


def test_the_graph_leaves_the_network_unchanged() -> None:
    net, x, y = _sample([3, 3, 2], 0)
    params, grads = net.params.copy(), net.grads.copy()
    computation_graph(net, x, y)
    assert np.array_equal(net.params, params) and np.array_equal(net.grads, grads)


def test_dot_edges_name_existing_nodes() -> None:
    net, x, y = _sample([2, 4, 3], 0)
    dot = computation_graph(net, x, y).to_dot()
    assert dot.count("{") == dot.count("}")
    declared = set(re.findall(r"^\s*(\w+) \[label=", dot, re.M))
    edges = re.findall(r"^\s*(\w+) -> (\w+)", dot, re.M)
    assert len(edges) == 2 * 4 + 4 * 3 + 3  # weights, and the outputs into C_0
    assert all(s in declared and t in declared for s, t in edges)


def test_a_large_network_shows_a_neighbourhood_of_at_most_max_units() -> None:
    net = cr.MLP([100, 30, 10], hidden="relu", output="softmax", loss="cross_entropy", seed=0)
    x = np.random.default_rng(0).normal(size=(1, 100))
    y = np.eye(10)[[3]]
    g = computation_graph(net, x, y, layer=1, j=7)
    assert len(g.nodes) <= 50
    assert g.focus == (1, 7) and any(n.layer == 1 and n.j == 7 for n in g.nodes)
    assert g.left_out[0] > 0
    svg = g.to_svg()
    assert f"{g.left_out[0]} of 100 inputs not shown" in svg
    auto = computation_graph(net, x, y)
    assert auto.focus is not None and len(auto.nodes) <= 50


def test_bad_arguments_name_themselves() -> None:
    net, x, y = _sample([3, 3, 2], 0)
    with pytest.raises(ValueError, match="layer"):
        computation_graph(net, x, y, layer=3)
    with pytest.raises(ValueError, match="sample"):
        computation_graph(net, np.vstack([x, x]), np.vstack([y, y]), sample=2)


def test_cli_writes_the_svg_and_refuses_a_bad_sample(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--dataset", "xor", "--hidden", "3", "--epochs", "2", "--quiet"]) == 0
    model = next(tmp_path.glob("runs/*/model.safetensors"))
    out = tmp_path / "g.svg"
    assert main(["graph", str(model), "--sample", "4", "-o", str(out)]) == 0
    root = ET.fromstring(out.read_text(encoding="utf-8"))
    assert root.tag == NS + "svg"
    assert main(["graph", str(model), "--sample", "100000"]) == 1
    assert "--sample" in capsys.readouterr().err
    assert main(["graph", str(model), "--format", "dot"]) == 0
    assert capsys.readouterr().out.startswith("digraph")
