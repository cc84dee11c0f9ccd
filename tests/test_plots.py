"""chainrule.plots: PNG files from training curves and decision regions (Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import chainrule
from chainrule import datasets
from chainrule.health.plots import plot_decision_regions, plot_history

PNG = b"\x89PNG\r\n\x1a\n"


def test_history_plot_is_a_png(tmp_path: Path) -> None:
    hist = {"loss": [1.0, 0.5, 0.3], "val_loss": [1.1, 0.7, 0.6],
            "accuracy": [0.5, 0.8, 0.9], "val_accuracy": [0.5, 0.7, 0.8]}
    path = plot_history(hist, tmp_path / "curves.png", title="t")
    data = path.read_bytes()
    assert data.startswith(PNG) and len(data) > 5000
    with pytest.raises(ValueError, match="no 'loss' values"):
        plot_history({}, tmp_path / "empty.png")
    assert not (tmp_path / "empty.png").exists()


def test_decision_regions(tmp_path: Path) -> None:
    X, y = datasets.make("moons", 100, 0.1, seed=0)
    net = chainrule.MLP([2, 8, 2], output="softmax", loss="cross_entropy", seed=0)
    net.scaler = chainrule.Standardizer.fit(X)
    net.fit(X, y, epochs=3)
    path = plot_decision_regions(net, X, y, tmp_path / "regions.png", classes=["a", "b"])
    assert path.read_bytes().startswith(PNG)
    with pytest.raises(ValueError, match="decision regions need two features"):
        plot_decision_regions(net, np.zeros((4, 3)), y[:4], tmp_path / "x.png")


def test_import_chainrule_does_not_import_matplotlib() -> None:
    import subprocess
    import sys

    code = ("import sys, chainrule, chainrule.plots, chainrule.datasets, chainrule.io; "
            "print(any(m.startswith(('matplotlib', 'rich')) for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
