"""docs/tutorial.ipynb — the lecture notes walked through with chainrule — executes cleanly.

The notebook asserts its own numbers (hand computation = engine, cell by cell); this test
runs it in a fresh kernel, as a reader would, and checks that the outputs committed with it
(what GitHub renders) are the ones it produces now, so the rendered tutorial never goes stale.
"""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "tutorial.ipynb"


def _text(cell: dict) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", [])
                   if o.get("output_type") == "stream")


def test_tutorial_notebook_runs_and_its_committed_outputs_are_current() -> None:
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
