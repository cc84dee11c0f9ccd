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


def test_a_chosen_unit_of_a_large_network_shows_its_neighbourhood() -> None:
    net = cr.MLP([100, 30, 10], hidden="relu", output="softmax", loss="cross_entropy", seed=0)
    x = np.random.default_rng(0).normal(size=(1, 100))
    y = np.eye(10)[[3]]
    g = computation_graph(net, x, y, layer=1, j=7)
    assert len(g.nodes) <= 50 and g.top is None
    assert g.focus == (1, 7) and any(n.layer == 1 and n.j == 7 for n in g.nodes)
    assert [len([n for n in g.nodes if n.layer == lay]) for lay in (0, 1, 2)] == [8, 1, 8]
    assert g.left_out[0] == 92
    assert "92 of 100 inputs not shown" in g.to_svg()
    wide = computation_graph(net, x, y, layer=1, j=7, per_layer=None)
    assert len(wide.nodes) == 50 and wide.left_out[0] > 0  # max_units alone trims it


def _svg_counts(svg: str) -> tuple[int, int]:
    """(boxes, weight edges) drawn in the SVG."""
    root = ET.fromstring(svg)
    groups = [el.attrib.get("class", "") for el in root.iter(NS + "g")]
    return (sum(c.startswith("node ") for c in groups), sum(c == "edge" for c in groups))


LARGE = [  # (sizes, output, loss): an MNIST model, a 30-column table model, two of those
    ([784, 64, 10], "softmax", "cross_entropy"),
    ([30, 16, 1], "sigmoid", "binary_cross_entropy"),
    ([30, 16, 16, 2], "softmax", "cross_entropy"),
]


@pytest.mark.parametrize("sizes, output, loss", LARGE)
def test_a_large_network_draws_a_bounded_graph_and_says_what_it_left_out(
        sizes: list[int], output: str, loss: str) -> None:
    net = cr.MLP(sizes, hidden="relu", output=output, loss=loss, seed=0, dtype="float64")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1, sizes[0]))
    y = np.eye(sizes[-1])[[1]] if output == "softmax" else np.array([[1.0]])
    g = computation_graph(net, x, y)
    assert g.top == 8 and g.focus is None
    per_layer = [len([n for n in g.nodes if n.layer == lay]) for lay in range(len(sizes))]
    assert per_layer == [min(s, 8) for s in sizes]
    assert g.left_out == {lay: s - 8 for lay, s in enumerate(sizes) if s > 8}
    boxes, weights = _svg_counts(svg := g.to_svg())
    assert boxes == sum(per_layer) + 1 <= 8 * len(sizes) + 1
    pairs = zip(per_layer[:-1], per_layer[1:], strict=True)
    assert weights == sum(a * b for a, b in pairs) <= 64 * len(sizes)
    assert f"{sizes[0] - 8} of {sizes[0]} inputs not shown." in svg
    assert f"{sizes[1] - 8} of {sizes[1]} units of layer 1 not shown." in svg
    assert "the 8 units that matter most to C₀" in svg
    every = computation_graph(net, x, y, per_layer=None, max_units=None)
    assert len(every.nodes) == sum(sizes) + 1 and not every.left_out
    assert _svg_counts(every.to_svg()) == (
        sum(sizes) + 1, sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True)))


def test_the_units_shown_are_those_whose_first_order_share_of_c0_is_largest() -> None:
    """Unit k's score |a_k ∂C_0/∂a_k| is, by central differences, the change in C_0 when
    every weight leaving k is scaled by (1 + ε), per ε; the graph shows the 8 largest."""
    net = cr.MLP([30, 16, 1], hidden="tanh", output="sigmoid", loss="binary_cross_entropy",
                 seed=3, dtype="float64")
    x = np.random.default_rng(3).normal(size=(1, 30))
    y = np.array([[1.0]])
    shown = {lay: sorted(n.j for n in computation_graph(net, x, y).nodes
                         if n.layer == lay and n.j is not None) for lay in (0, 1)}

    def cost(lay: int, k: int, eps: float) -> float:
        other = net.copy()
        other.dense_layers[lay].w[:, k] *= 1 + eps
        return other.cost(other.forward(other.inputs(x)), other.targets(y, 1))

    h = 1e-6
    for lay, width in ((0, 30), (1, 16)):
        share = np.array([abs(cost(lay, k, h) - cost(lay, k, -h)) / (2 * h)
                          for k in range(width)])
        assert shown[lay] == sorted(np.argsort(-share)[:8].tolist())
        assert np.sort(share)[-8] > 1.01 * np.sort(share)[-9]  # not a near tie


def test_drawing_every_weight_of_a_huge_network_is_refused_by_name() -> None:
    net = cr.MLP([600, 400, 2], hidden="tanh", output="softmax", loss="cross_entropy", seed=0)
    x, y = np.ones((1, 600)), np.eye(2)[[0]]
    with pytest.raises(ValueError, match=r"^per_layer: None would draw 240,800 weights, more "
                                         r"than the 200,000 one drawing holds; give a number"):
        computation_graph(net, x, y, per_layer=None, max_units=None)
    g = computation_graph(net, x, y, per_layer=400, max_units=None)
    assert len(g.edges) == 400 * 400 + 400 * 2 + 2


def test_a_deep_narrow_network_is_drawn_whole_until_max_units() -> None:
    deep = cr.MLP([1] * 40 + [1], hidden="tanh", seed=0)
    g = computation_graph(deep, [0.5], [0.2])
    assert g.focus is None and g.top is None and len(g.nodes) == 42
    deeper = cr.MLP([1] * 60 + [1], hidden="tanh", seed=0)
    g = computation_graph(deeper, [0.5], [0.2])
    assert g.focus == (59, 0) and len(g.nodes) <= 50 and g.left_out[0] == 1


def test_bad_arguments_name_themselves() -> None:
    net, x, y = _sample([3, 3, 2], 0)
    with pytest.raises(ValueError, match="layer"):
        computation_graph(net, x, y, layer=3)
    with pytest.raises(ValueError, match="sample"):
        computation_graph(net, np.vstack([x, x]), np.vstack([y, y]), sample=2)
    with pytest.raises(ValueError, match="^per_layer: expected an integer ≥ 1, got 0$"):
        computation_graph(net, x, y, per_layer=0)


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


def test_cli_draws_a_digits_model_legibly_and_all_of_it_with_all(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--dataset", "digits", "--hidden", "16", "--epochs", "1",
                 "--quiet"]) == 0
    model = str(next(tmp_path.glob("runs/*/model.safetensors")))
    capsys.readouterr()
    assert main(["graph", model, "-o", "default.svg"]) == 0
    err = capsys.readouterr().err
    assert err == ("graph: 56 of 64 inputs not shown; 8 of 16 units of layer 1 not shown; "
                   "2 of 10 units of layer 2 not shown (--all draws every unit)\n")
    assert _svg_counts(Path("default.svg").read_text(encoding="utf-8")) == (
        8 + 8 + 8 + 1, 8 * 8 + 8 * 8)
    assert main(["graph", model, "--all", "-o", "all.svg"]) == 0
    assert capsys.readouterr().err == ""
    assert _svg_counts(Path("all.svg").read_text(encoding="utf-8")) == (
        64 + 16 + 10 + 1, 64 * 16 + 16 * 10)
    assert main(["graph", model, "--per-layer", "3", "--format", "dot"]) == 0
    assert capsys.readouterr().out.count(" -> ") == 3 * 3 + 3 * 3 + 3
    assert main(["graph", model, "--format", "png", "-o", "g.png"]) == 0
    assert Path("g.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert main(["graph", model, "--format", "png"]) == 1
    assert capsys.readouterr().err.endswith("--format png: give -o FILE.png (a PNG is not "
                                            "written to standard output)\n")
    assert main(["graph", model, "--per-layer", "0"]) == 1
    assert "--per-layer: expected an integer ≥ 1, got 0" in capsys.readouterr().err


def test_behind_an_embedding_layer_0_is_what_w1_multiplies() -> None:
    from chainrule.engine.periodic import PeriodicEmbedding

    front = PeriodicEmbedding(3, [0, 2], n_frequencies=2, d=2)
    net = cr.Network([front, cr.Dense(front.n_out, 4, "tanh"), cr.Dense(4, 1)],
                     dtype="float64", seed=0)
    x, y = np.array([[0.3, -1.2, 0.8]]), np.array([[0.5]])
    g = computation_graph(net, x, y)
    engine = net.copy()
    trace = engine.forward(engine.inputs(x))
    engine.backward(trace, engine.targets(y, 1))
    a_in = trace.a[1][0]
    assert g.sizes[0] == front.n_out != 3 and g.features_of == "PeriodicEmbedding"
    assert [n.values["a"] for n in g.nodes if n.layer == 0] == a_in.tolist()
    first = engine.dense_layers[0]
    for e in (e for e in g.edges if e.layer == 1):
        assert e.values["grad_w"] == pytest.approx(float(first.grad_w[e.j, e.k]), rel=1e-12)
    svg = g.to_svg()
    assert "layer 0 (PeriodicEmbedding of the input)" in svg
    assert f"the {front.n_out} outputs of PeriodicEmbedding" in svg
    mid = PeriodicEmbedding(3, [0], n_frequencies=1, d=2)
    between = cr.Network([cr.Dense(3, 3, "tanh"), mid, cr.Dense(mid.n_out, 1)])
    with pytest.raises(ValueError, match="^net: .* a PeriodicEmbedding between two of them$"):
        computation_graph(between, x, y)


def test_cli_refuses_all_for_a_network_no_drawing_holds(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from chainrule.io.model import read_model, save

    monkeypatch.chdir(tmp_path)
    assert main(["train", "--dataset", "xor", "--hidden", "3", "--epochs", "1", "--quiet"]) == 0
    small = read_model(next(tmp_path.glob("runs/*/model.safetensors")))
    wide = cr.MLP([2, 70_000, small.net.n_out], hidden="relu", output="softmax",
                  loss="cross_entropy", seed=0)  # the same data, 280,000 weights
    wide.classes, wide.scaler = small.net.classes, small.net.scaler
    save(wide, "wide.safetensors", training=small.training)
    capsys.readouterr()
    assert main(["graph", "wide.safetensors", "--all"]) == 1
    assert capsys.readouterr().err == (
        "error: --all: this network has 280,000 weights, more than the 200,000 one drawing "
        "holds; draw it with --per-layer K\n")
    assert main(["graph", "wide.safetensors", "-o", "g.svg"]) == 0  # the default draws it
    assert _svg_counts(Path("g.svg").read_text(encoding="utf-8")) == (2 + 8 + 2 + 1, 16 + 16)


@pytest.mark.parametrize("hidden, output, loss", [("tanh", "softmax", "squared_error"),
                                                   ("softmax", "sigmoid", "squared_error"),
                                                   ("softmax", "softmax", "squared_error")])
def test_a_softmax_box_shows_its_sum_over_outputs_as_a_product_that_is_delta(
        hidden: str, output: str, loss: str) -> None:
    """δ_j = Σ_i ∂C_0/∂a_i · a_i (δ_ij − a_j) = a_j (∂C_0/∂a_j − Σ_i a_i ∂C_0/∂a_i): the box's
    numbers multiply to its δ, which is ∂C_0/∂b_j by central differences."""
    net = cr.MLP([3, 4, 3], hidden=hidden, output=output, loss=loss, dtype="float64", seed=4)
    x, y = np.array([[0.5, -1.0, 2.0]]), np.array([[0.0, 1.0, 0.0]])
    g = computation_graph(net, x, y)
    svg = g.to_svg()
    values = _svg_values(svg)
    checked = 0
    for lay, act in ((1, hidden), (2, output)):
        if act != "softmax":
            continue
        width = g.sizes[lay]
        a = np.array([values[("a", lay, j, None)] for j in range(width)])
        dC_da = np.array([values[("dC_da", lay, j, None)] for j in range(width)])
        for j in range(width):
            total = values[("sum_a_dC_da", lay, j, None)]
            assert total == pytest.approx(float(a @ dC_da), rel=1e-12)
            delta = values[("delta", lay, j, None)]
            assert a[j] * (dC_da[j] - total) == pytest.approx(delta, rel=1e-12, abs=1e-15)

            def cost(h: float, lay: int = lay, j: int = j) -> float:
                other = net.copy()
                other.dense_layers[lay - 1].b[j] += h
                return other.cost(other.forward(other.inputs(x)), other.targets(y, 1))

            fd = (cost(1e-6) - cost(-1e-6)) / 2e-6
            assert fd == pytest.approx(delta, rel=1e-7, abs=1e-9)
            checked += 1
    assert checked >= 3
    # and in every softmax box the printed (4-digit) numbers multiply to the printed δ
    root = ET.fromstring(svg)
    boxes = 0
    for node in root.iter(NS + "g"):
        if not node.attrib.get("class", "").startswith("node "):
            continue
        lines = ["".join(t.itertext()) for t in node.iter(NS + "text")]
        product = [m for line in lines
                   if (m := re.fullmatch(r"\s*= (\S+) × \((\S+) − \(?([^()\s]+)\)?\)", line))]
        if not product:
            continue
        aj, dj, total = (float(v) for v in product[0].groups())
        shown = next(float(line.split(" = ")[1]) for line in lines if line.startswith("δ")
                     and "⁽" in line.split(" = ")[0])  # the δ_j^(l) = … line
        assert aj * (dj - total) == pytest.approx(shown, rel=2e-3, abs=1e-4)
        boxes += 1
    assert boxes == checked
