"""Step mode stays legible at any size the playground allows (issue 29, item 4): networks of
1 × 2, 2 × 4, 3 × 6 and 4 × 8 hidden units at 1400, 1024 and 390 px wide, every stage, in a
real headless chromium (as in test_playground_browser).

At every stage no two visible text labels of the network view overlap — the numbers beside
nodes and on edges, the tags x1 / out 0, the column headings and their + / − buttons, the
cells of the tables below the diagram — and no label covers a node. Every number the stage
has is shown exactly once, on the diagram or in a table, never dropped for want of room.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_playground_browser import ARTIFACTS, launched_browser, new_tab

pytestmark = pytest.mark.slow
DOCS_IMG = Path(__file__).resolve().parents[1] / "docs" / "img"

WIDTHS = (1400, 1024, 390)
NETWORKS = ([2], [4, 4], [6, 6, 6], [8, 8, 8, 8])

# Every text label of the network view, and every node, with its rectangle in the page.
READ_LABELS = """() => {
  const labels = '#diagram .walk-val, #diagram .tag, #diagram .col-label,'
    + ' #diagram .col-buttons button, #diagram .node,'
    + ' #walk-tables th, #walk-tables td, #walk-tables caption, #walk-tables .hint';
  return Array.from(document.querySelectorAll(labels)).filter((el) => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden';
  }).map((el) => {
    const r = el.getBoundingClientRect();
    const what = el.classList.contains('node') ? el.id : el.textContent.slice(0, 40);
    return { what, left: r.left + scrollX, top: r.top + scrollY, right: r.right + scrollX,
             bottom: r.bottom + scrollY, diagram: el.closest('#diagram') !== null };
  });
}"""

READ_SHOWN = """() => Array.from(
  document.querySelectorAll('#diagram [data-q], #walk-tables [data-q]'),
  (el) => [el.dataset.q, Number(el.dataset.layer), Number(el.dataset.j),
           el.dataset.k === undefined ? -1 : Number(el.dataset.k)])"""


def overlaps(labels: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Pairs of labels whose rectangles share more than half a pixel each way."""
    found = []
    for i, a in enumerate(labels):
        for b in labels[i + 1:]:
            dx = min(a["right"], b["right"]) - max(a["left"], b["left"])
            dy = min(a["bottom"], b["bottom"]) - max(a["top"], b["top"])
            if dx > 0.5 and dy > 0.5:
                found.append((a["what"], b["what"]))
    return found


def expected_keys(m: dict[str, Any], stage: dict[str, Any]) -> list[tuple[str, int, int, int]]:
    """Every (quantity, layer, j, k) a stage shows, from the walk message (k = -1 at nodes)."""
    layers, kind, at = m["layers"], stage["kind"], stage["layer"]
    L = len(layers)

    def nodes(q: str, layer: int) -> list[tuple[str, int, int, int]]:
        return [(q, layer, j, -1) for j in range(len(layers[layer - 1]["z"]))]

    def edges(q: str, layer: int) -> list[tuple[str, int, int, int]]:
        rows = layers[layer - 1][q]
        return [(q, layer, j, k) for j, row in enumerate(rows) for k in range(len(row))]

    keys = []
    if kind in ("forward", "cost"):
        keys += [("a", 0, j, -1) for j in range(len(m["a0"]))]
        for layer in range(1, at + 1):
            keys += nodes("z", layer) + nodes("a", layer)
        if kind == "cost":
            keys += nodes("y", L)
    elif kind == "backward":
        for layer in range(at, L + 1):
            keys += nodes("dC_da", layer) + nodes("g_prime", layer) + nodes("delta", layer)
        keys += edges("grad_w", at)
    else:
        qw, qb = ("average_w", "average_b") if kind == "average" else ("update_w", "update_b")
        for layer in range(1, L + 1):
            keys += nodes(qb, layer) + edges(qw, layer)
    return sorted(keys)


@pytest.fixture(scope="module")
def browser() -> Iterator[tuple[Any, str]]:
    with launched_browser() as launched:
        yield launched


@pytest.mark.parametrize("width", WIDTHS)
def test_step_mode_labels_never_overlap(browser: tuple[Any, str], width: int) -> None:
    b, url = browser
    tab, problems = new_tab(b, viewport={"width": width, "height": 900})
    tab.goto(url)
    tab.wait_for_function("window.playground.update !== undefined")
    tab.check("#walk-mode")
    for hidden in NETWORKS:
        tab.evaluate("window.playground.walk = null")
        tab.evaluate(f"window.playground.send({{type: 'config', config: {{hidden: {hidden}}}}})")
        n_nodes = 2 + sum(hidden) + 1
        tab.wait_for_function(f"document.querySelectorAll('.node').length === {n_nodes}"
                              " && window.playground.walk !== null"
                              f" && window.playground.walk.layers.length === {len(hidden) + 1}")
        m = tab.evaluate("window.playground.walk")
        for i, stage in enumerate(m["stages"]):
            if i:
                tab.click("#walk-next")
            assert tab.evaluate("window.playground.stage") == i
            labels = tab.evaluate(READ_LABELS)
            assert overlaps(labels) == [], (width, hidden, stage["caption"])
            shown = sorted(tuple(key) for key in tab.evaluate(READ_SHOWN))
            assert shown == expected_keys(m, stage), (width, hidden, stage["caption"])
            if hidden == [6, 6, 6] and stage["kind"] == "backward" and stage["layer"] == 2:
                tab.screenshot(path=str(ARTIFACTS / f"playground-step-3x6-{width}.png"),
                               full_page=True)
                if width == 1400:  # the picture in docs/playground.md
                    tab.screenshot(path=str(DOCS_IMG / "playground-step.png"))
        tab.click("#walk-prev")  # back to the start: the next network's walk starts at stage 1
    # The page never scrolls sideways: everything fits the window's width.
    assert tab.evaluate("document.documentElement.scrollWidth") <= width
    assert problems == []
    tab.close()
