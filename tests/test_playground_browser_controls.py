"""The playground's controls answer as a person expects (issue 29, item 4), in a real headless
chromium (as in test_playground_browser): clicking a weight brings its panel into view on a
390 px phone, where the panel is below the network; an error banner clears when the next action
succeeds, and a rejected value puts its field back to the last accepted one; a softmax output's
nodes are both painted and the output select reads the network's real output activation.
Every test also fails on a console error or an uncaught page error.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from test_playground_browser import (
    click_edge,
    launched_browser,
    new_tab,
    set_control,
)

pytestmark = pytest.mark.slow

IN_VIEW = """(id) => { const r = document.getElementById(id).getBoundingClientRect();
  return { top: r.top, bottom: r.bottom, left: r.left, right: r.right,
           height: innerHeight, width: innerWidth }; }"""

# The RGBA bytes of a node's canvas.
PIXELS = """(id) => { const c = document.querySelector(`#${id} canvas`);
  return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); }"""


@pytest.fixture(scope="module")
def browser() -> Iterator[tuple[Any, str]]:
    with launched_browser() as launched:
        yield launched


def open_tab(browser: tuple[Any, str], width: int, height: int) -> tuple[Any, list[str]]:
    b, url = browser
    tab, problems = new_tab(b, viewport={"width": width, "height": height})
    tab.goto(url)
    tab.wait_for_function("window.playground.update !== undefined")
    return tab, problems


def inside(rect: dict[str, float]) -> bool:
    return (rect["top"] >= 0 and rect["bottom"] <= rect["height"] and rect["left"] >= 0
            and rect["right"] <= rect["width"])


def test_a_clicked_weight_brings_its_panel_into_view_at_390px(browser: tuple[Any, str]) -> None:
    tab, problems = open_tab(browser, 390, 844)
    for layer, j, k in ((1, 2, 0), (2, 1, 3)):
        tab.locator("#diagram").scroll_into_view_if_needed()
        if layer == 2:  # the panel is open and out of view: the click must bring it back
            assert not inside(tab.evaluate(IN_VIEW, "explain"))
        click_edge(tab, layer, j, k)
        tab.wait_for_function(
            f"document.getElementById('explain').dataset.key === 'w-{layer}-{j}-{k}'")
        tab.wait_for_timeout(100)  # the scroll is instant; let a frame pass
        rect = tab.evaluate(IN_VIEW, "explain")
        assert inside(rect), rect
    assert problems == []
    tab.close()


def test_an_error_clears_on_success_and_a_rejected_value_is_put_back(
        browser: tuple[Any, str]) -> None:
    tab, problems = open_tab(browser, 1400, 900)
    banner = tab.locator("#error")
    set_control(tab, "#lr", "50")  # out of range: the server refuses it
    tab.wait_for_selector("#error:not([hidden])")
    assert "lr: expected a number in (0, 10], got 50" in banner.inner_text()
    tab.wait_for_function("document.getElementById('lr').value === '0.03'")
    set_control(tab, "#batch_size", "100000")  # another failure: the banner stays, updated
    tab.wait_for_function("document.getElementById('error').textContent.includes('batch_size')")
    assert banner.is_visible()
    tab.wait_for_function("document.getElementById('batch_size').value === '10'")
    set_control(tab, "#lr", "0.1")  # accepted: the banner goes
    tab.wait_for_function("window.playground.config.lr === 0.1")
    tab.wait_for_selector("#error", state="hidden")
    assert tab.input_value("#lr") == "0.1"

    set_control(tab, "#lr", "abc")  # not a number at all: refused in the page itself
    tab.wait_for_selector("#error:not([hidden])")
    assert banner.inner_text() == 'lr: expected a number, got "abc"'
    assert tab.input_value("#lr") == "0.1"
    before = tab.evaluate("window.playground.update.step")
    tab.click("#step")  # the next action succeeds: the banner goes
    tab.wait_for_function(f"window.playground.update.step === {before + 1}")
    tab.wait_for_selector("#error", state="hidden")
    assert problems == []
    tab.close()


def test_a_softmax_output_is_painted_and_named(browser: tuple[Any, str]) -> None:
    tab, problems = open_tab(browser, 1400, 900)
    for loss, output in (("cross_entropy", "softmax"), ("binary_cross_entropy", "sigmoid"),
                         ("squared_error", "tanh")):
        set_control(tab, "#loss", loss)
        tab.wait_for_function(f"window.playground.config.loss === '{loss}'"
                              f" && window.playground.output === '{output}'"
                              " && window.playground.update.weights.length === 3"
                              " && window.playground.update.weights[2].length"
                              " === window.playground.sizes[3]")
        tab.wait_for_timeout(100)  # the update is drawn on the next animation frame
        assert tab.input_value("#output") == output
        assert tab.locator("#output").is_disabled() == (loss != "squared_error")
        options = tab.eval_on_selector_all("#output option", "os => os.map(o => o.value)")
        assert options.count(output) == 1
        n_out = tab.evaluate("window.playground.sizes[3]")
        assert n_out == (2 if output == "softmax" else 1)
        pixels = [tab.evaluate(PIXELS, f"node-3-{j}") for j in range(n_out)]
        for p in pixels:  # every pixel painted: no blank (transparent) square
            assert all(alpha == 255 for alpha in p[3::4])
        if n_out == 2:  # a_0 = 1 − a_1: blue where the other is orange, and the reverse
            a0, a1 = pixels
            leans = [(a0[i + 2] - a0[i], a1[i + 2] - a1[i]) for i in range(0, len(a0), 4)]
            assert all(lean0 * lean1 <= 0 for lean0, lean1 in leans)  # blue − red, each
            assert sum(abs(lean0) > 40 for lean0, _ in leans) > 10  # and not all white
    assert problems == []
    tab.close()
