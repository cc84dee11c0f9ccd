"""explain(...) as LaTeX: every line renders (matplotlib's mathtext; the whole block with
the playground's vendored KaTeX), every number in it is one of the explanation's, to the
digits its text prints, and every numbers-substituted step evaluates to the value it equals."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from matplotlib.mathtext import math_to_image
from test_explain import X, Y, notes_network

import chainrule as cr
from chainrule.cli import main
from chainrule.notes.explain_latex import NUMBER_FORMAT, chains, latex_lines

KATEX = Path(cr.__file__).parent / "playground" / "static" / "vendor" / "katex" / "katex.min.js"
NODE = shutil.which("node")
SCI = re.compile(r"(-?\d+(?:\.\d+)?) \\times 10\^\{(-?\d+)\}")


def _cases() -> list[tuple[str, cr.WeightExplanation]]:
    """Output and hidden weights over several activations, losses and sample counts."""
    rng = np.random.default_rng(7)
    cases = [(f"notes layer {layer}", cr.explain(notes_network(), X, Y, layer=layer, j=j, k=2,
                                                  lr=0.5)) for layer, j in ((2, 1), (1, 2))]
    softmax = cr.MLP([4, 5, 3], hidden="tanh", output="softmax", loss="cross_entropy",
                     dtype="float64", seed=2)
    xs, ys = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    cases += [(f"softmax/cross_entropy layer {layer}",
               cr.explain(softmax, xs, ys, layer=layer, j=j, k=k, sample=3, lr=0.5))
              for layer, j, k in ((1, 4, 0), (2, 1, 3))]
    bce = cr.MLP([12, 7, 2], hidden="relu", output="sigmoid", loss="binary_cross_entropy",
                 dtype="float64", seed=3)
    xs, ys = rng.standard_normal((4, 12)), rng.uniform(0, 1, (4, 2))
    cases += [(f"relu/binary_cross_entropy layer {layer}",  # two-digit k; lr gives 1e-05
               cr.explain(bce, xs, ys, layer=layer, j=j, k=k, sample=1, lr=1e-5))
              for layer, j, k in ((1, 5, 11), (2, 0, 6))]
    huber = cr.MLP([3, 9, 8, 1], hidden="elu", output="identity", loss="huber",
                   dtype="float64", seed=4)
    xs, ys = rng.standard_normal((10, 3)), rng.standard_normal((10, 1))
    cases += [(f"elu/huber layer {layer}",  # 8 next-layer terms and 10 samples: elided sums
               cr.explain(huber, xs, ys, layer=layer, j=j, k=k, sample=9))
              for layer, j, k in ((1, 2, 1), (2, 7, 8), (3, 0, 4))]
    mse = cr.MLP([2, 3, 2], hidden="sigmoid", output="sigmoid", loss="mse", dtype="float64",
                 seed=5)
    cases.append(("sigmoid/mse layer 2", cr.explain(mse, [0.3, -0.8], [1.0, 0.0], layer=2, j=1,
                                                    k=0, lr=0.1)))
    return cases


CASES = _cases()
IDS = [name for name, _ in CASES]


def latex_numbers(tex: str) -> list[float]:
    """Every number written in ``tex``, indices (w_{12}^{(2)}, C_0, Σ_{i=0}^{n-1}) left out."""
    found = [float(f"{m}e{x}") for m, x in SCI.findall(tex)]
    tex = SCI.sub(" ", tex)
    tex = re.sub(r"[_^](\{[^{}]*\}|\w)", " ", tex)
    return found + [float(t) for t in re.findall(r"-?\d+(?:\.\d+)?", tex)]


def printed(value: float) -> float:
    """``value`` to the digits explain's text prints."""
    return float(format(value, NUMBER_FORMAT))


def explains_numbers(e: cr.WeightExplanation) -> tuple[set[float], set[float]]:
    """(the numbers the LaTeX must show, every number it may show)."""
    required = [e.product, e.finite_difference, e.a_prev_k, e.dC_da]
    required += [e.delta] if e.g_prime is None else [e.g_prime, e.z_j]
    if e.layer == e.n_layers and e.loss in ("squared_error", "cross_entropy",
                                            "binary_cross_entropy"):
        assert e.y_j is not None
        required += [e.a_j, e.y_j]
    for t in e.terms:
        required += [t.w, t.product] + ([t.delta] if t.g_prime is None else [t.g_prime, t.dC_da])
    for c in e.coupled:  # issue 29: δ_j = Σ_i ∂C_0/∂a_i ∂a_i/∂z_j, term by term
        required += [c.dC_da, c.da_dz, c.product]
    if e.canonical:  # issue 29: the a_j − y_j collapse of a canonical pair
        assert e.y_j is not None
        required += [e.a_j, e.y_j, e.delta]
    if e.optimizer_step is not None:  # issue 29: the step of the optimizer that trained it
        required.append(e.optimizer_step)
    n = e.per_sample.size
    if n > 1:
        required += [e.average, e.finite_difference_average]
        required += list(e.per_sample[:3]) + [e.per_sample[-1]]
    if e.lr is not None:
        assert e.update is not None
        required += [-e.lr, e.update]
    allowed = {*required, *e.per_sample, 1.0, 2.0, float(n)}  # 2(a − y), 2h, 1/n
    return {printed(v) for v in required}, {printed(v) for v in allowed}


def evaluate(tex: str) -> float | None:
    """A numbers-only right-hand side (``2(0.6 - 1) \\cdot (-0.5)``) as a float, else None."""
    py = tex.replace("\\left(", "(").replace("\\right)", ")").replace("\\cdot", "*")
    py = SCI.sub(r"(\1e\2)", py)
    py = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", r"((\1)/(\2))", py)
    py = re.sub(r"([\d)])\s*\(", r"\1*(", py)
    if not re.fullmatch(r"[-+*/().\de\s]+", py):
        return None
    return float(eval(py, {"__builtins__": {}}))  # noqa: S307  digits and operators only


@pytest.mark.parametrize(("name", "e"), CASES, ids=IDS)
def test_every_line_renders_in_mathtext(name: str, e: cr.WeightExplanation) -> None:
    lines = latex_lines(e)
    assert len(lines) >= 8
    for line in lines:
        png = BytesIO()
        math_to_image(f"${line}$", png, format="png")
        assert png.getvalue().startswith(b"\x89PNG")


def test_mathtext_refuses_what_the_lines_avoid() -> None:
    """The check above can fail: an environment or a line break is a mathtext error."""
    for bad in ("\\begin{aligned}a &= b\\end{aligned}", "a = b \\\\ c = d"):
        with pytest.raises(ValueError):
            math_to_image(f"${bad}$", BytesIO(), format="png")


@pytest.mark.parametrize(("name", "e"), CASES, ids=IDS)
def test_numbers_are_explains_to_its_printed_digits(name: str, e: cr.WeightExplanation) -> None:
    required, allowed = explains_numbers(e)
    shown = set(latex_numbers(e.to_latex()))
    assert required <= shown, f"missing {sorted(required - shown)}"
    assert shown <= allowed, f"not explain's: {sorted(shown - allowed)}"
    assert set(latex_numbers("\n".join(latex_lines(e)))) == shown


@pytest.mark.parametrize(("name", "e"), CASES, ids=IDS)
def test_each_substituted_step_equals_its_value(name: str, e: cr.WeightExplanation) -> None:
    checked = 0
    for _, rhss in chains(e):
        value = evaluate(rhss[-1].split("\\quad")[0])  # "\quad \mathrm{(from the loss…)}"
        assert value is not None
        for rhs in rhss[:-1]:
            step = evaluate(rhs)
            if step is None:
                continue
            scale = max(abs(v) for v in latex_numbers(rhs))
            assert step == pytest.approx(value, rel=1e-4, abs=1e-5 * scale), rhs
            checked += 1
    assert checked >= 1
    assert evaluate(chains(e)[0][1][-2]) is not None  # the weight's factors, with numbers


def test_the_weight_chain_follows_the_notes() -> None:
    e = cr.explain(notes_network(), X, Y, layer=2, j=1, k=2)
    lhs, rhss = chains(e)[0]
    assert lhs == "\\frac{\\partial C_0}{\\partial w_{12}^{(2)}}"
    assert rhss[1] == "2(a_{1}^{(2)} - y_{1}) \\cdot g^{\\prime}(z_{1}^{(2)}) \\cdot a_{2}^{(1)}"
    block = e.to_latex()
    assert block.startswith("\\begin{aligned}") and block.endswith("\\end{aligned}")
    hidden = cr.explain(notes_network(), X, Y, layer=1, j=2, k=2).to_latex()
    assert "\\sum_{i} w_{i2}^{(2)}\\, g^{\\prime}(z_i^{(2)})" in hidden


def test_jupyter_reprs() -> None:
    e = cr.explain(notes_network(), X, Y, layer=1, j=2, k=2, lr=0.5)
    assert e._repr_latex_() == f"$${e.to_latex()}$$"
    page = e._repr_html_()
    assert "&=" not in page and "&amp;=" in page  # escaped for HTML, MathJax reads the text
    (block,) = re.findall(r"\$\$(.*?)\$\$", page, flags=re.S)
    assert html.unescape(block) == e.to_latex()
    (text,) = re.findall(r"<pre>(.*?)</pre>", page, flags=re.S)
    assert html.unescape(text) == str(e)


def _katex(blocks: list[str]) -> subprocess.CompletedProcess[str]:
    script = ("const k = require(process.argv[1]); const blocks = JSON.parse(require('fs')"
              ".readFileSync(0, 'utf8')); for (const b of blocks) k.renderToString(b, "
              "{throwOnError: true, displayMode: true});")
    assert NODE is not None
    return subprocess.run([NODE, "-e", script, str(KATEX)], input=json.dumps(blocks),
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.skipif(NODE is None, reason="node is not installed: KaTeX needs a JavaScript runtime")
def test_katex_renders_every_block() -> None:
    done = _katex([e.to_latex() for _, e in CASES])
    assert done.returncode == 0, done.stderr
    broken = _katex(["\\begin{aligned} a &= \\frac{1}{ \\end{aligned}"])
    assert broken.returncode != 0 and "ParseError" in broken.stderr


def test_cli_latex(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    assert main(["train", "--dataset", "xor", "--n-samples", "64", "--hidden", "3",
                 "--activation", "tanh", "--output-activation", "sigmoid", "--loss",
                 "squared_error", "--epochs", "2", "--quiet", "--out", str(run)]) == 0
    model = str(run / "model.safetensors")
    capsys.readouterr()
    assert main(["explain", model, "--sample", "3"]) == 0
    text = capsys.readouterr().out
    assert main(["explain", model, "--sample", "3", "--latex"]) == 0
    tex = capsys.readouterr().out
    header = tex.split("\n", 1)[0]
    assert header == "% " + text.split("\n", 1)[0]  # the data set and row, as a comment
    blocks = re.findall(r"\\begin\{aligned\}.*?\\end\{aligned\}", tex, flags=re.S)
    assert len(blocks) == 2  # one weight per layer, as in the text
    assert "∂" not in tex and "·" not in tex
    # the text's numbers, its indices (w_12^(2), i=0) and the sample number left out
    plain = re.sub(r"_\w+|\^\(\d+\)|sample \d+|i=\d+", " ", text.replace("−", "-"))
    text_numbers = {float(t) for t in re.findall(r"-?\d+(?:\.\d+)?(?:e[-+]\d+)?", plain)}
    shown = set(latex_numbers("\n".join(blocks)))
    assert shown - {2.0} <= text_numbers
    products = {float(m) for m in re.findall(r"product = (\S+)", text)}
    assert len(products) == 2 and products <= shown
    if NODE is not None:  # the vendored KaTeX, as in test_katex_renders_every_block
        assert _katex(blocks).returncode == 0
    assert main(["explain", model, "--layer", "2", "--j", "0", "--k", "1", "--latex"]) == 0
    (one,) = re.findall(r"\\begin\{aligned\}", capsys.readouterr().out)
    assert one
