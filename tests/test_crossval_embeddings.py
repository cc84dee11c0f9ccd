"""``chainrule train --cv K`` and ``--ensemble K`` with the table's embeddings: the members
own their lookup and periodic layers (engine/grouped_*.py), so the run trains, reports
every fold, saves one model file that loads and predicts, and ``explain --member`` reads
one member."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

import chainrule
from chainrule.cli import main
from chainrule.engine.ensemble import Ensemble
from chainrule.engine.grouped_lookup import GroupedCategoricalEmbedding
from chainrule.engine.grouped_periodic import GroupedPeriodicEmbedding


def _write_table(path: Path, n: int = 200) -> Path:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(n, 2))
    town = rng.choice([f"town{i}" for i in range(20)], size=n)  # > 16 values: looked up
    y = np.where(x[:, 0] + np.isin(town, ["town1", "town2", "town3"]) - 0.3 > 0, "yes",
                 "no")
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["a", "b", "town", "y"])
        w.writerows([[*row, t, label] for row, t, label in zip(x.round(4), town, y,
                                                                 strict=True)])
    return path


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_cv_with_both_embeddings_trains_reports_saves_and_predicts(tmp_path: Path) -> None:
    table = _write_table(tmp_path / "t.csv")
    run = tmp_path / "r"
    code, out, err = _cli("train", "--csv", str(table), "--target", "y", "--out", str(run),
                          "--cv", "3", "--embeddings", "both", "--epochs", "8",
                          "--no-importance")
    assert code == 0, err
    assert "cross-validation (3 folds" in out
    metrics = json.loads((run / "metrics.json").read_text())
    cv = metrics["cv"]
    assert cv["folds"] == 3 and len(cv["per_fold"]) == 3
    assert cv["mean"]["accuracy"] == np.mean([f["accuracy"] for f in cv["per_fold"]])
    net = chainrule.load(run / "model.safetensors")
    assert isinstance(net, Ensemble) and net.members == 3
    assert isinstance(net.layers[0], GroupedCategoricalEmbedding)
    assert isinstance(net.layers[1], GroupedPeriodicEmbedding)
    code, _, err = _cli("predict", str(run / "model.safetensors"), "--csv", str(table),
                        "--out", str(tmp_path / "p.csv"))
    assert code == 0, err
    assert len((tmp_path / "p.csv").read_text().splitlines()) == 201
    code, out, err = _cli("explain", str(run / "model.safetensors"), "--csv", str(table),
                          "--sample", "0", "--member", "2")
    assert code == 0, err
    assert "CategoricalEmbedding: a_prev column" in out


def test_an_ensemble_with_embeddings_trains(tmp_path: Path) -> None:
    table = _write_table(tmp_path / "t.csv")
    code, out, err = _cli("train", "--csv", str(table), "--target", "y", "--out",
                          str(tmp_path / "e"), "--ensemble", "2", "--embeddings", "periodic",
                          "--epochs", "3", "--no-importance")
    assert code == 0, err
    assert "× 2 members" in out
    net = chainrule.load(tmp_path / "e" / "model.safetensors")
    assert isinstance(net.layers[0], GroupedPeriodicEmbedding) and net.members == 2


def test_the_out_of_fold_loss_runs_each_member_on_its_own_fold_only() -> None:
    """OutOfFoldLoss passes each member its own fold's rows (Ensemble.forward_members,
    folds of unequal size padded): equal to every row's cost under the member that never
    saw it, taken from all members' outputs on all rows (float64, 1e-12)."""
    from types import SimpleNamespace

    from chainrule.engine.embeddings import table_input_layers
    from chainrule.runs.crossval import OutOfFoldLoss, fold_ids

    rng = np.random.default_rng(4)
    n, k = 23, 5  # folds of 5, 5, 5, 4, 4 rows
    X = np.column_stack([rng.normal(size=n), rng.integers(0, 6, n), rng.normal(size=n)])
    X[:6, 1] = np.arange(6)
    front = table_input_layers(3, [(1, 6)], [0, 2])
    net = chainrule.Network([*front, chainrule.Dense(front[-1].n_out, 7, "tanh"),
                             chainrule.Dense(7, 3, "softmax")], loss="cross_entropy",
                            dtype="float64", seed=2, ensemble=k)
    a0 = net.inputs(X)
    Y = net.targets(rng.integers(0, 3, n), n)
    folds = fold_ids(n, k, seed=1)
    trainer = SimpleNamespace(net=net, history=SimpleNamespace(history={}))
    logs: dict[str, float] = {}
    OutOfFoldLoss(a0, Y, folds).on_epoch_end(trainer, logs)
    A = net.predict_members(a0)  # (k, n, 3): every member on every row
    want = np.sum(net.loss_fn.value(A[folds, np.arange(n)], Y)) / n
    assert logs["cv_loss"] == pytest.approx(want, rel=1e-12)
    assert trainer.history.history["cv_loss"] == [logs["cv_loss"]]
    rows = np.stack([np.flatnonzero(folds == m)[:4] for m in range(k)])
    own = net.forward_members(a0[rows]).members_a_L
    np.testing.assert_allclose(own, A[np.arange(k)[:, None], rows], rtol=1e-12)
    assert net.layers[0].shared_input  # the pass leaves the ensemble as it was
    with pytest.raises(ValueError, match=r"a0: expected every member's rows, shape \(5, n"):
        net.forward_members(a0)
