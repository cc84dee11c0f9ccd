"""When a CSV job stops: up to 200 epochs with patience 20 unless --epochs or
--early-stopping is given, on the validation loss from 100 validation rows on, else on
the training loss as scikit-learn's MLP stops (bench/real_tables.py measured both)."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

from chainrule.cli import main
from chainrule.runs.fitting import MIN_VAL_ROWS, TRAIN_LOSS_TOL, early_stopping


def test_small_validation_splits_stop_on_the_training_loss() -> None:
    small = early_stopping(10, MIN_VAL_ROWS - 1)
    assert (small.monitor, small.min_delta, small.restore_best_weights) == (
        "loss", TRAIN_LOSS_TOL, False)
    large = early_stopping(10, MIN_VAL_ROWS)
    assert (large.monitor, large.min_delta, large.restore_best_weights) == (
        "val_loss", TRAIN_LOSS_TOL, True)
    assert early_stopping(10, MIN_VAL_ROWS, min_delta=0.0).min_delta == 0.0  # --min-delta 0
    assert early_stopping(3, 0).monitor == "loss" and early_stopping(3, 0).patience == 3


def write_table(path: Path, n: int) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3))
    y = x @ [1.0, -2.0, 0.5] + 0.1 * rng.normal(size=n)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["a", "b", "c", "y"])
        w.writerows([[*row, t] for row, t in zip(x.round(4), y.round(4), strict=True)])
    return path


def train(*argv: str) -> int:
    with contextlib.redirect_stdout(io.StringIO()):
        return main(["train", *argv])


@pytest.mark.parametrize("flags, epochs, patience", [
    ([], 200, 20),
    (["--epochs", "7"], 7, 0),
    (["--early-stopping", "3"], 20, 3),
])
def test_csv_defaults(tmp_path: Path, flags: list[str], epochs: int, patience: int) -> None:
    table = write_table(tmp_path / "t.csv", 120)
    assert train("--csv", str(table), "--target", "y", "--out", str(tmp_path / "run"),
                 *flags) == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (config["epochs"], config["early_stopping"]) == (epochs, patience)
    rows = list(csv.DictReader((tmp_path / "run" / "history.csv").open()))
    assert 1 <= len(rows) <= epochs
    if not flags:  # 12 validation rows: it stopped on the training loss, before 200
        losses = [float(r["loss"]) for r in rows]
        assert len(rows) < 200 and min(losses[-20:]) > min(losses) - TRAIN_LOSS_TOL
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    # 7 epochs of 3 steps (the flat half of flat_cosine, then its decay) learn less than
    # a run to convergence; either learns the linear signal
    assert metrics["test"]["r2"] > (0.9 if not flags else 0.7)

