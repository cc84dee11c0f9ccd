"""End to end in a real headless browser: Debian's chromium driven by Playwright.

Load the page, set up xor with a 2-4-1 tanh network through the controls, train until the test
loss is below 0.05, click weights and a neuron, and check that the panel shows exactly
:func:`chainrule.explain` (and ``chain_factors``) on the same state, to the displayed 6
significant digits. Screenshots go to ``test-artifacts/``.

The browser must be /usr/bin/chromium (``.ci/run`` installs it); without it these tests fail.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_playground_server import rebuild, start_server

from chainrule import explain
from chainrule.notes.explain import chain_factors

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"

READ_PANEL = """() => {
  const panel = document.getElementById('explain');
  const factors = {};
  panel.querySelectorAll('[data-factor]').forEach((td) => {
    factors[td.dataset.factor] = td.textContent;
  });
  const terms = {};
  panel.querySelectorAll('[data-term]').forEach((td) => {
    terms[td.dataset.term] = td.textContent;
  });
  return { key: panel.dataset.key, factors, terms, message: window.playground.explanation,
           katex: panel.querySelectorAll('.katex').length };
}"""


def same_to_displayed_precision(shown: str, value: float | None) -> bool:
    """``shown`` (JavaScript's toPrecision(6)) is ``value`` rounded to 6 significant digits."""
    if value is None:
        return shown == "—"
    if value == 0:
        return float(shown) == 0
    half_unit = 0.5 * 10 ** (math.floor(math.log10(abs(value))) - 5)
    return abs(float(shown) - value) <= half_unit * (1 + 1e-9)


@pytest.fixture(scope="module")
def page() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium package "
                    "(apt-get install chromium), as .ci/run does")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with start_server() as (_, url), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        tab, problems = new_tab(browser, viewport={"width": 1400, "height": 1250})
        tab.goto(url)
        tab.wait_for_function("window.playground.update !== undefined")
        yield tab
        browser.close()
        assert problems == [], problems


@contextlib.contextmanager
def launched_browser() -> Iterator[tuple[Any, str]]:
    """Chromium and a playground server for one test module: (browser, the server's url)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium package")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with start_server() as (_, url), sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield b, url
        finally:
            b.close()


def new_tab(browser: Any, **options: Any) -> tuple[Any, list[str]]:
    """A page of ``browser`` and the list its uncaught page errors and console errors go into."""
    # Playwright's wait_for_function evaluates strings, which the page's CSP forbids.
    tab = browser.new_page(bypass_csp=True, **options)
    problems: list[str] = []
    tab.on("pageerror", lambda exc: problems.append(str(exc)))
    tab.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}")
           if msg.type in ("error", "warning", "assert") else None)
    return tab, problems


def set_control(page: Any, selector: str, value: str) -> None:
    """Set an input as a person would, then let the page send its change."""
    page.locator(selector).evaluate(
        "(el, v) => { el.value = v; el.dispatchEvent(new Event('change')); }", value)


def click_edge(page: Any, layer: int, j: int, k: int) -> None:
    """Click the weight's edge three quarters of the way along, where edges don't cross."""
    hit = page.locator(f"#w-{layer}-{j}-{k}")
    x1, y1, x2, y2 = (float(hit.get_attribute(a)) for a in ("x1", "y1", "x2", "y2"))
    box = page.locator("#edges").bounding_box()
    t = 0.75
    page.mouse.click(box["x"] + x1 + t * (x2 - x1), box["y"] + y1 + t * (y2 - y1))


def check_weight_panel(page: Any, layer: int, j: int, k: int) -> None:
    page.wait_for_function(
        f"document.getElementById('explain').dataset.key === 'w-{layer}-{j}-{k}'")
    shown = page.evaluate(READ_PANEL)
    assert shown["katex"] > 5  # the formulas were typeset
    m = shown["message"]
    state = m["state"]
    e = explain(rebuild(state), state["X"], state["T"], layer=layer, j=j, k=k,
                sample=m["sample"], lr=state["lr"])
    expected = {
        "dC_da": e.dC_da, "g_prime": e.g_prime, "a_prev_k": e.a_prev_k, "product": e.product,
        "finite_difference": e.finite_difference, "average": e.average,
        "finite_difference_average": e.finite_difference_average, "update": e.update,
    }
    for name, value in expected.items():
        assert same_to_displayed_precision(shown["factors"][name], value), (
            name, shown["factors"][name], value)
    assert len(shown["terms"]) == len(e.terms)
    for t in e.terms:
        assert same_to_displayed_precision(shown["terms"][str(t.i)], t.product)
    # The notes' identity, on what the page shows: the product of the three factors.
    a, b, c = (float(shown["factors"][n]) for n in ("dC_da", "g_prime", "a_prev_k"))
    assert a * b * c == pytest.approx(float(shown["factors"]["product"]), rel=2e-5, abs=1e-12)


def test_train_xor_then_click_weights_and_a_neuron(page: Any) -> None:
    set_control(page, "#dataset", "xor")
    set_control(page, "#noise", "0")
    set_control(page, "#n_samples", "400")
    page.click("#remove-layer")  # default [4, 2] → [4]
    set_control(page, "#optimizer", "adam")
    set_control(page, "#lr", "0.03")
    page.wait_for_function("""() => { const c = window.playground.config;
        return c.dataset === 'xor' && c.noise === 0 && c.n_samples === 400 && c.lr === 0.03
            && c.optimizer === 'adam' && c.activation === 'tanh' && c.output === 'tanh'
            && JSON.stringify(c.hidden) === '[4]'; }""")
    assert page.locator(".node").count() == 2 + 4 + 1
    page.screenshot(path=str(ARTIFACTS / "playground-start.png"), full_page=True)

    page.click("#play")
    page.wait_for_function("Number(document.getElementById('test-loss').textContent) < 0.05",
                           timeout=180_000)
    page.click("#play")  # pause
    step = page.evaluate("window.playground.update.step")
    page.wait_for_timeout(400)
    settled = page.evaluate("window.playground.update.step")
    assert settled >= step > 0
    # The health panel shows the engine's verdicts for this state (issue 12, item 5).
    health = page.evaluate("window.playground.update.health")
    shown = page.inner_text("#health-verdicts")
    if health["healthy"]:
        assert shown.startswith("healthy")
    else:
        assert all(v in shown for v in health["verdicts"])
    dead = page.evaluate("document.querySelectorAll('.node.dead').length")
    assert dead == sum(sum(layer) for layer in health["dead"])
    page.screenshot(path=str(ARTIFACTS / "playground-trained.png"), full_page=True)

    click_edge(page, 1, 2, 0)  # hidden layer: ∂C_0/∂a is the sum over the output node
    check_weight_panel(page, 1, 2, 0)
    page.screenshot(path=str(ARTIFACTS / "playground-weight-hidden.png"), full_page=True)
    set_control(page, "#sample", "4")
    page.wait_for_function("window.playground.explanation.sample === 4")
    check_weight_panel(page, 1, 2, 0)
    click_edge(page, 2, 0, 3)  # output layer: ∂C_0/∂a_0^(2) = 2(a_0 − y_0)
    check_weight_panel(page, 2, 0, 3)
    page.screenshot(path=str(ARTIFACTS / "playground-weight-output.png"), full_page=True)

    page.click("#node-1-1")
    page.wait_for_function("document.getElementById('explain').dataset.key === 'node-1-1'")
    shown = page.evaluate(READ_PANEL)
    assert {"z", "a", "dC_da", "g_prime", "delta"} <= set(shown["factors"])
    assert shown["katex"] > 5


def test_neuron_panel_matches_chain_factors(page: Any) -> None:
    page.click("#play")
    page.wait_for_timeout(300)
    page.click("#play")
    page.wait_for_timeout(300)
    click_edge(page, 1, 1, 1)  # fetch the exact state the panel is about
    page.wait_for_function("document.getElementById('explain').dataset.key === 'w-1-1-1'")
    state = page.evaluate("window.playground.explanation.state")
    page.click("#node-1-1")
    page.wait_for_function("document.getElementById('explain').dataset.key === 'node-1-1'")
    shown = page.evaluate(READ_PANEL)
    f = chain_factors(rebuild(state), state["X"], state["T"])
    s = shown["message"]["sample"]
    for name, key in (("z", "z"), ("a", "a"), ("dC_da", "dC_da"), ("delta", "delta")):
        assert same_to_displayed_precision(shown["factors"][name], float(f[key][0][s, 1])), name
    assert same_to_displayed_precision(shown["factors"]["delta_average"],
                                       float(f["delta"][0][:, 1].mean()))


def test_a_bad_request_shows_an_error_and_the_server_keeps_going(page: Any) -> None:
    page.evaluate("window.playground.send({type: 'config', config: {hidden: [9]}})")
    page.wait_for_selector("#error:not([hidden])")
    assert "hidden[0]: expected an integer in 1..8, got 9" in page.inner_text("#error")
    page.evaluate("window.playground.send({type: 'config', config: {hidden: Array(9).fill(2)}})")
    page.wait_for_function(
        "document.getElementById('error').textContent.includes('at most 8 hidden layers')")
    before = page.evaluate("window.playground.update.step")
    page.click("#step")
    page.wait_for_function(f"window.playground.update.step === {before + 1}")
    # The largest network the caps allow is drawn: 8 hidden layers of 8.
    page.evaluate("window.playground.send({type: 'config', config: {hidden: Array(8).fill(8)}})")
    page.wait_for_function("document.querySelectorAll('.node').length === 2 + 64 + 1")
    assert page.locator("#add-layer").is_disabled()
    page.click("#play")
    page.wait_for_timeout(1500)
    page.click("#play")
    page.screenshot(path=str(ARTIFACTS / "playground-8x8.png"), full_page=True)
