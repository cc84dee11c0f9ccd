"""docs/tutorial.ipynb — the lecture notes walked through with chainrule — executes cleanly.

The notebook asserts its own numbers (hand computation = engine, cell by cell); this test
runs it in a fresh kernel, as a reader would, and checks that the outputs committed with it
(what GitHub renders) are the ones it produces now, so the rendered tutorial never goes stale.
Its figures (the computation graph, the loss curve) go to CHAINRULE_TUTORIAL_IMG, here a
temporary folder, so running the test leaves docs/img as committed.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "tutorial.ipynb"


def _text(cell: dict) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", [])
                   if o.get("output_type") == "stream")


def _masked(text: str) -> str:
    """Output text without the digits that depend on the BLAS build (a relative error of
    ~1e-16 may print as 0.0e+00 or 2.2e-16)."""
    return re.sub(r"largest relative error is \S+", "largest relative error is …", text)


def test_tutorial_notebook_runs_and_its_committed_outputs_are_current(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAINRULE_TUTORIAL_IMG", str(tmp_path))
    committed = nbformat.read(NOTEBOOK, as_version=4)
    fresh = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(fresh, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    code = [c for c in fresh.cells if c.cell_type == "code"]
    errors = [o for c in code for o in c.outputs if o.get("output_type") == "error"]
    assert not errors
    # the notebook checks itself: hand computations against the engine, cell by cell
    assert sum(c.source.count("assert ") for c in code) >= 15
    # the outputs a reader sees on the page are the ones it produces (the float64 part: the
    # digits training numbers may differ in the last digit between BLAS builds)
    old = [c for c in committed.cells if c.cell_type == "code"]
    small = [i for i, c in enumerate(code) if "datasets.load" in c.source][0]
    for before, now in zip(old[:small], code[:small], strict=True):
        assert _text(before) == _text(now), before.source[:60]
    # "now write it yourself": the checker's verdicts on the wrong and the fixed backward
    mine = [i for i, c in enumerate(code) if "chainrule.check(backward)" in c.source]
    assert len(mine) == 2
    for i in mine:
        assert _masked(_text(old[i])) == _masked(_text(code[i])), code[i].source[:60]
    assert "your δ is missing g′(z^(1))" in _text(code[mine[0]])
    assert _text(code[mine[1]]).startswith("✓ your backward is right")
    assert {p.name for p in tmp_path.iterdir()} == {
        "tutorial-network.svg", "tutorial-network.png", "tutorial-loss.png"}


def test_tutorial_figures_are_written_and_shown() -> None:
    """The notebook shows two figures, the network of section 5 and the loss curve, which
    it saved to docs/img as PNGs; the network's SVG beside them has a box per node and an
    edge per weight of the 3-3-2 network."""
    import base64

    committed = nbformat.read(NOTEBOOK, as_version=4)
    shown = [base64.b64decode(o["data"]["image/png"]) for c in committed.cells
             if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    saved = [(NOTEBOOK.parent / "img" / f"tutorial-{name}.png").read_bytes()
             for name in ("network", "loss")]
    assert shown == saved and all(png.startswith(b"\x89PNG\r\n\x1a\n") for png in shown)
    svg = (NOTEBOOK.parent / "img" / "tutorial-network.svg").read_text(encoding="utf-8")
    root = ET.fromstring(svg)
    groups = [g.attrib.get("class", "") for g in root.iter("{http://www.w3.org/2000/svg}g")]
    assert sum(c.startswith("node ") for c in groups) == 3 + 3 + 2 + 1
    assert sum(c == "edge" for c in groups) == 3 * 3 + 3 * 2
