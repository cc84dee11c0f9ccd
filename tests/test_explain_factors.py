"""Issue 29: every chain rule explain shows has factors that multiply to its value.

Over every activation × loss the network accepts, for a weight of the output layer and of a
hidden layer, the printed text and the LaTeX are read back: each line of factors multiplies
(each Σ line sums) to the value it prints, and the weight's value is a central finite
difference of the sample's cost. No ``-0`` anywhere; two-digit indices as ``w_{11,10}``; the
update line names the optimizer that trained the model, with the step it really takes.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import chainrule as cr
from chainrule.training.step import Step

SIZES = [11, 12, 3]  # two-digit j and k in both layers
PICKS = [(2, 1, 11), (1, 11, 10)]  # the output layer, a hidden layer
SAMPLE = 1
NUMBER = r"\(?-?\d+(?:\.\d+)?(?:e[-+]\d+)?\)?"
MINUS_ZERO = re.compile(r"(?<![\d.])-0(?![.\de])")


def _pairs() -> list[tuple[str, str]]:
    pairs = []
    for act in cr.ACTIVATIONS:
        for loss in cr.LOSSES:
            try:
                cr.MLP(SIZES, hidden=act, output=act, loss=loss, dtype="float64", seed=0)
            except ValueError:  # e.g. cross_entropy needs a softmax output
                continue
            pairs.append((act, loss))
    return pairs


PAIRS = _pairs()


def _case(act: str, loss: str) -> tuple[cr.Network, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(29)
    net = cr.MLP(SIZES, hidden=act, output=act, loss=loss, dtype="float64", seed=1)
    X = rng.standard_normal((3, SIZES[0]))
    Y = rng.integers(0, SIZES[-1], 3) if loss == "cross_entropy" else rng.uniform(
        0.1, 0.9, (3, SIZES[-1]))
    return net, X, Y


def _cost_difference(net: cr.Network, X: np.ndarray, Y: np.ndarray,
                     pick: tuple[int, int, int], h: float = 1e-6) -> float:
    """(C_s(w_jk + h) − C_s(w_jk − h)) / 2h of sample SAMPLE, without the L2 term."""
    copy = net.copy()
    copy.l2 = 0.0
    layer, j, k = pick
    w = copy.dense_layers[layer - 1].w
    w0 = float(w[j, k])
    costs = []
    for step in (h, -h):
        w[j, k] = w0 + step
        a0 = copy.inputs(X)
        costs.append(float(copy.loss_fn.value(copy.forward(a0).a_L,
                                              copy.targets(Y, a0.shape[0]))[SAMPLE]))
    return (costs[0] - costs[1]) / (2 * h)


def _num(token: str) -> float:
    return float(token.strip().strip("()"))


def _product(text: str) -> tuple[float, float]:
    """``f1 · f2 · f3`` as its product, and the largest |factor| product bound (for the
    rounding tolerance)."""
    factors = [_num(t) for t in text.split(" · ")]
    return math.prod(factors), math.prod(abs(f) for f in factors)


def _close(got: float, want: float, scale: float) -> bool:
    return got == pytest.approx(want, rel=3e-5, abs=3e-6 * max(scale, 1e-12))


def check_text(text: str) -> tuple[float, int]:
    """Every product and sum the text prints; returns the weight's value and lines checked."""
    lines = text.splitlines()
    head = re.match(r"∂C_0/∂w_\S+ = .*? = (.+?) = (" + NUMBER + r")   \(sample", lines[0])
    assert head, lines[0]
    value = _num(head.group(2))
    got, scale = _product(head.group(1))
    assert _close(got, value, scale), lines[0]
    checked, terms = 1, []
    for line in lines[1:]:
        term = re.fullmatch(r"\s+i=\d+: (.+) = (" + NUMBER + ")", line)
        total = re.fullmatch(r"\s+= (" + NUMBER + ")", line)
        collapse = re.search(r"= a_\d+ − y_\d+ = (" + NUMBER + ") − (" + NUMBER + ") = ("
                             + NUMBER + ")", line)
        if term:
            got, scale = _product(term.group(1))
            assert _close(got, _num(term.group(2)), scale), line
            terms.append(_num(term.group(2)))
        elif total:  # the Σ line: the terms above it sum to it
            width = max(abs(t) for t in terms) * len(terms)
            assert _close(sum(terms), _num(total.group(1)), width), line
            terms = []
        elif collapse:
            a, y, delta = (_num(g) for g in collapse.groups())
            assert _close(a - y, delta, max(abs(a), abs(y))), line
        else:
            continue
        checked += 1
    (product,) = re.findall(r"product = (" + NUMBER + ")", text)
    assert _num(product) == value
    return value, checked


def evaluate(tex: str) -> float | None:
    """A numbers-only right-hand side as a float, else None (symbols, or elided)."""
    py = tex.split("\\quad")[0].replace("\\left(", "(").replace("\\right)", ")")
    py = py.replace("\\cdot", "*")
    py = re.sub(r"(-?\d+(?:\.\d+)?) \\times 10\^\{(-?\d+)\}", r"(\1e\2)", py)
    py = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", r"((\1)/(\2))", py)
    py = re.sub(r"([\d)])\s*\(", r"\1*(", py)
    if not re.fullmatch(r"[-+*/().\de\s]+", py):
        return None
    return float(eval(py, {"__builtins__": {}}))  # noqa: S307  digits and operators only


def check_latex(block: str) -> tuple[float, int]:
    """Every numbers-only step of every chain of the aligned block equals the chain's
    value; returns the weight chain's value and the steps checked."""
    chains: list[list[str]] = []
    for row in block.removeprefix("\\begin{aligned}\n").removesuffix("\n\\end{aligned}").split(
            " \\\\\n"):
        lhs, rhs = row.split("&= ", 1)
        if lhs.strip():
            chains.append([])
        chains[-1].append(rhs)
    checked = 0
    for rhss in chains:
        value = evaluate(rhss[-1])
        assert value is not None, rhss[-1]
        for rhs in rhss[:-1]:
            step = evaluate(rhs)
            if step is not None:
                numbers = [abs(float(t)) for t in re.findall(r"\d+(?:\.\d+)?", rhs)]
                assert _close(step, value, max(numbers) * len(numbers)), rhs
                checked += 1
    weight = evaluate(chains[0][-1])
    assert weight is not None
    return weight, checked


@pytest.mark.parametrize(("act", "loss"), PAIRS, ids=[f"{a}-{b}" for a, b in PAIRS])
def test_printed_factors_multiply_to_the_value_and_the_finite_difference(act: str,
                                                                         loss: str) -> None:
    net, X, Y = _case(act, loss)
    assert len(PAIRS) >= 31
    for pick in PICKS:
        layer, j, k = pick
        e = cr.explain(net, X, Y, layer=layer, j=j, k=k, sample=SAMPLE, lr=0.1)
        text, tex = str(e), e.to_latex()
        fd = _cost_difference(net, X, Y, pick)
        value, checked = check_text(text)
        assert value == pytest.approx(fd, rel=1e-4, abs=1e-6), text
        assert checked >= (3 if e.g_prime is None or layer < 2 else 1)
        latex_value, steps = check_latex(tex)
        assert latex_value == value and steps >= 2
        assert e._repr_latex_() == f"$${tex}$$"
        assert not MINUS_ZERO.search(text), text
        assert not MINUS_ZERO.search(tex), tex
        assert f"w_{{{j},{k}}}^({layer})" in text
        if e.g_prime is None:  # softmax: δ_j is the sum over outputs, not ∂C_0/∂a_j · g′
            assert f"δ_{j}^({layer}) · a_{k}^({layer - 1}) = " in text.splitlines()[0]
            assert len(e.coupled) == SIZES[layer]
            assert sum(t.product for t in e.coupled) == pytest.approx(e.delta, abs=1e-12)


def test_softmax_cross_entropy_shows_the_sum_and_its_collapse() -> None:
    net, X, Y = _case("softmax", "cross_entropy")
    net = cr.MLP(SIZES, hidden="tanh", output="softmax", loss="cross_entropy",
                 dtype="float64", seed=1)
    e = cr.explain(net, X, Y, layer=2, j=0, k=1, sample=SAMPLE)
    text = str(e)
    assert "Σ_i ∂C_0/∂a_i^(2) · ∂a_i^(2)/∂z_0^(2)" in text
    assert "δ_0^(2) = a_0 − y_0 = " in text and "canonical pair" in text
    assert e.canonical and e.delta == pytest.approx(e.a_j - (e.y_j or 0.0), abs=1e-12)
    assert "a_{0}^{(2)} - y_{0}" in e.to_latex()
    assert " -0 " not in text and "= -0\n" not in text


def test_update_line_names_the_optimizer_and_its_real_step() -> None:
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((16, 4)), rng.integers(0, 3, 16)
    net = cr.MLP([4, 5, 3], hidden="tanh", output="softmax", loss="cross_entropy",
                 dtype="float64", seed=2)
    net.fit(X, y, epochs=2, batch_size=8, optimizer="adam")
    assert net.optimizer is not None and net.optimizer.name == "adam"
    e = cr.explain(net, X[:4], y[:4], layer=2, j=1, k=3, lr=net.optimizer.lr)
    text = str(e)
    assert "update (adam, the optimizer that trained this model" in text
    assert "not the step adam takes" in text and "adam" in e.to_latex()
    twin = net.copy()  # the step training would take next on these samples
    assert twin.optimizer is not None
    before = twin.dense_layers[1].w.copy()
    Step(twin, twin.optimizer)(X[:4], twin.targets(y[:4], 4), epoch=1, batch=1)
    real = float(twin.dense_layers[1].w[1, 3] - before[1, 3])
    assert e.optimizer_step == pytest.approx(real, rel=1e-9, abs=1e-15)
    assert e.update is not None and not math.isclose(e.update, real, rel_tol=1e-3)
    sgd = cr.explain(cr.MLP([4, 5, 3], hidden="tanh", output="softmax", loss="cross_entropy",
                            dtype="float64", seed=2), X[:4], y[:4], layer=2, j=1, k=3, lr=0.1)
    assert "update (plain SGD): Δw = −η ∂C/∂w" in str(sgd) and "adam" not in str(sgd)


@pytest.mark.parametrize(("act", "loss"), [("softmax", "cross_entropy"),
                                           ("sigmoid", "binary_cross_entropy"),
                                           ("softmax", "squared_error")])
def test_graph_shows_the_sum_over_outputs_and_the_collapse(act: str, loss: str) -> None:
    from chainrule.notes.graph import computation_graph

    net = cr.MLP([3, 4, 3], hidden="tanh", output=act, loss=loss, dtype="float64", seed=1)
    y = [2] if loss == "cross_entropy" else [[0.0, 0.0, 1.0]]
    g = computation_graph(net, [[0.5, -1.0, 2.0]], y)
    svg, dot = g.to_svg(), g.to_dot()
    for out in (svg, dot):
        assert not MINUS_ZERO.search(out)
        if act == "softmax":  # δ_j is a sum over every output, not ∂C_0/∂a_j · g′(z_j)
            assert "softmax: δ₀ = Σᵢ ∂C₀/∂aᵢ · ∂aᵢ/∂z₀" in out
        if net.fused_output:  # the canonical pairs: the chain collapses to a − y
            a, delta = (float(net.predict([[0.5, -1.0, 2.0]])[0, 2]),
                        float(net.predict([[0.5, -1.0, 2.0]])[0, 2]) - 1.0)
            assert f"fused: δ = a₂ − y₂ = {a:.4g} − 1" in out and f"{delta:.4g}" in out


READ_FACTORS = """() => {
  const panel = document.getElementById('explain');
  const read = (attr) => Object.fromEntries([...panel.querySelectorAll(`[data-${attr}]`)]
    .map((td) => [td.dataset[attr], td.textContent]));
  return { key: panel.dataset.key, factors: read('factor'), terms: read('term'),
           coupled: read('coupled'), text: panel.innerText,
           message: window.playground.explanation };
}"""


@pytest.mark.slow
def test_playground_panel_factors_multiply_to_the_value_in_a_browser() -> None:
    """The weight panel of a softmax + cross-entropy network, read back from a real browser:
    δ_j is the sum of the shown terms, δ_j · a_k the shown ∂C_0/∂w, which is the finite
    difference; a hidden weight's terms w · δ_i sum to ∂C_0/∂a_j; Adam's step is shown."""
    from test_playground_browser import CHROMIUM, click_edge, new_tab, set_control
    from test_playground_server import start_server

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found (apt-get install chromium, as .ci/run does)")
    from playwright.sync_api import sync_playwright

    with start_server() as (_, url), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM),
                                     args=["--no-sandbox", "--disable-gpu"])
        tab, problems = new_tab(browser, viewport={"width": 1400, "height": 1250})
        tab.goto(url)
        tab.wait_for_function("window.playground.update !== undefined")
        set_control(tab, "#loss", "cross_entropy")  # forces a softmax output (2 units)
        tab.wait_for_function("window.playground.config.loss === 'cross_entropy'")
        set_control(tab, "#optimizer", "adam")
        tab.wait_for_function("window.playground.config.optimizer === 'adam'")
        tab.click("#step")
        for layer, j, k in ((3, 0, 1), (2, 1, 0)):
            click_edge(tab, layer, j, k)
            tab.wait_for_function(f"document.getElementById('explain').dataset.key === "
                                  f"'w-{layer}-{j}-{k}'")
            shown = tab.evaluate(READ_FACTORS)
            f, m = shown["factors"], shown["message"]
            product = float(f["product"])
            assert product == pytest.approx(m["finite_difference"], rel=1e-4, abs=1e-9)
            if layer == 3:  # the output: δ_j = Σ_i ∂C_0/∂a_i ∂a_i/∂z_j, then δ_j · a_k
                assert len(shown["coupled"]) == 2 and "dC_da" not in f
                total = sum(float(v) for v in shown["coupled"].values())
                assert total == pytest.approx(float(f["delta"]), rel=1e-5, abs=1e-9)
                assert float(f["delta"]) * float(f["a_prev_k"]) == pytest.approx(
                    product, rel=2e-5, abs=1e-12)
            else:  # hidden: ∂C_0/∂a_j = Σ_i w_ij δ_i, then the three factors
                total = sum(float(v) for v in shown["terms"].values())
                assert total == pytest.approx(float(f["dC_da"]), rel=1e-5, abs=1e-9)
                a, b, c = (float(f[n]) for n in ("dC_da", "g_prime", "a_prev_k"))
                assert a * b * c == pytest.approx(product, rel=2e-5, abs=1e-12)
            assert "next_update" in f and "not the step adam takes" in shown["text"]
            assert not MINUS_ZERO.search(shown["text"])
        browser.close()
    assert problems == [], problems
