"""A run's members: ``--ensemble K``, ``--cv K`` (folds trained at once as members,
chainrule.runs.crossval), ``--embeddings``, and the settings that cannot go together."""

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
from chainrule.engine.mlp import MLP
from chainrule.runs import RunConfig
from chainrule.runs.config import ConfigError
from chainrule.runs.crossval import fold_ids, fold_metrics, member_weights


def write_table(path: Path, n: int = 240) -> Path:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(n, 3))
    town = rng.choice(["north", "south", "east", "west"], size=n)
    y = np.where(x[:, 0] - x[:, 1] + (town == "east") > 0, "yes", "no")
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["a", "b", "c", "town", "y"])
        w.writerows([[*row, t, label] for row, t, label in zip(x.round(4), town, y,
                                                                 strict=True)])
    return path


def train(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["train", *argv, "--no-importance"])
    return code, out.getvalue(), err.getvalue()


# -- the folds ----------------------------------------------------------------------------------
def test_folds_are_even_stratified_and_seeded() -> None:
    labels = np.array([0] * 70 + [1] * 30)
    folds = fold_ids(100, 5, labels=labels, seed=3)
    assert sorted(np.bincount(folds)) == [20] * 5
    for m in range(5):  # every fold holds the classes' shares
        assert np.bincount(labels[folds == m]).tolist() == [14, 6]
    assert np.array_equal(folds, fold_ids(100, 5, labels=labels, seed=3))
    assert not np.array_equal(folds, fold_ids(100, 5, labels=labels, seed=4))
    W = member_weights(folds, 5)
    assert W.shape == (100, 5) and set(np.unique(W)) == {0.0, 1.0}
    assert np.array_equal(W[np.arange(100), folds], np.zeros(100))  # never its own fold
    assert np.array_equal(W.sum(axis=1), np.full(100, 4.0))  # every other member sees it


def test_fewer_rows_than_folds_is_one_clear_line() -> None:
    with pytest.raises(chainrule.runs.RunError, match=r"^cv 5: 3 training rows cannot fill"):
        fold_ids(3, 5)


def test_a_member_is_scored_on_its_own_fold_only() -> None:
    """A planted leak: on fold m's rows a feature carries the target only for member m's
    test; member m never trained on them, so it must not score as if it knew it. Here a
    member that *did* see them would be perfect; fold_metrics reads P[m][fold m]."""
    rng = np.random.default_rng(0)
    n, k = 90, 3
    X = rng.normal(size=(n, 2))
    y = rng.normal(size=n)
    folds = fold_ids(n, k, seed=0)
    net = MLP([2, 4, 1], ensemble=k, seed=0, dtype="float64", loss="mse")
    truth = {m: float(np.mean(y[folds == m])) for m in range(k)}
    for m in range(k):  # member m predicts fold m's mean: R² 0 on fold m exactly
        out = net.output_layer
        assert out.b is not None
        out.w[m][...] = 0.0
        out.b[m][...] = truth[m]
    scores = fold_metrics(net, X, y, folds, "regression", None)
    assert scores["folds"] == k and len(scores["per_fold"]) == k
    np.testing.assert_allclose([f["r2"] for f in scores["per_fold"]], 0.0, atol=1e-12)
    expected_rmse = [np.sqrt(np.mean((y[folds == m] - truth[m]) ** 2)) for m in range(k)]
    np.testing.assert_allclose([f["rmse"] for f in scores["per_fold"]], expected_rmse,
                               rtol=1e-12)
    assert scores["sd"]["rmse"] == pytest.approx(np.std(expected_rmse, ddof=1), rel=1e-12)


# -- through the command ------------------------------------------------------------------------
def test_cv_trains_the_folds_as_members_and_reports_mean_and_sd(tmp_path: Path) -> None:
    table = write_table(tmp_path / "t.csv")
    code, out, _ = train("--csv", str(table), "--target", "y", "--out", str(tmp_path / "r"),
                         "--cv", "3", "--epochs", "15")
    assert code == 0, out
    assert "× 3 members (--cv 3: member m never sees fold m)" in out
    assert "cross-validation (3 folds, each member on its own fold): accuracy " in out
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    cv = metrics["cv"]
    assert cv["folds"] == 3 and len(cv["per_fold"]) == 3
    accs = [f["accuracy"] for f in cv["per_fold"]]
    assert cv["mean"]["accuracy"] == pytest.approx(np.mean(accs))
    assert 0.6 < cv["mean"]["accuracy"] <= 1.0 and metrics["test"]["accuracy"] > 0.6
    net = chainrule.load(tmp_path / "r" / "model.safetensors")
    assert isinstance(net, Ensemble) and net.members == 3
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert (config["cv"], config["ensemble"]) == (3, 1)


def test_ensemble_and_embeddings_runs(tmp_path: Path) -> None:
    table = write_table(tmp_path / "t.csv")
    code, out, _ = train("--csv", str(table), "--target", "y", "--out", str(tmp_path / "e"),
                         "--ensemble", "2", "--epochs", "5")
    assert code == 0 and "× 2 members (their mean predicts)" in out
    assert chainrule.load(tmp_path / "e" / "model.safetensors").members == 2
    code, out, err = train("--csv", str(table), "--target", "y", "--out",
                           str(tmp_path / "m"), "--embeddings", "periodic", "--epochs", "5")
    assert code == 0, err
    assert "with periodic embeddings" in out
    metrics = json.loads((tmp_path / "m" / "metrics.json").read_text())
    assert metrics["status"] == "complete" and metrics["test"]["accuracy"] > 0.5


def test_a_run_with_embeddings_saves_a_model_that_loads(tmp_path: Path) -> None:
    table = write_table(tmp_path / "t.csv")
    code, _, err = train("--csv", str(table), "--target", "y", "--out", str(tmp_path / "m"),
                         "--embeddings", "periodic", "--epochs", "2")
    assert code == 0, err
    net = chainrule.load(tmp_path / "m" / "model.safetensors")
    assert net.layers[0].name != "dense"


@pytest.mark.parametrize("settings, said", [
    ({"cv": 1}, "cv: 1 fold leaves nothing to test"),
    ({"cv": 3, "ensemble": 2}, "give one of them"),
    ({"embeddings": "both"}, "embeds a CSV file's columns"),
    ({"numeric_encoding": "ple"}, "tells how a CSV file's columns are encoded"),
    ({"embeddings": "categorical", "categorical_encoding": "onehot", "dataset": "csv",
      "csv": "t.csv", "target": "y"}, "codes is implied"),
    ({"ensemble": 0}, "expected a positive integer"),
    ({"numeric_encoding": "log"}, "unknown numeric_encoding 'log'"),
])
def test_settings_that_cannot_go_together_are_refused(settings: dict, said: str) -> None:
    with pytest.raises(ConfigError) as err:
        RunConfig.from_mapping(settings)
    assert said in str(err.value)


def test_members_take_embeddings_now() -> None:
    """Members own their input layers (engine/grouped_lookup.py, grouped_periodic.py), so
    --ensemble and --cv with --embeddings are accepted, no longer refused."""
    for members in ({"ensemble": 2}, {"cv": 3}):
        cfg = RunConfig.from_mapping({**members, "embeddings": "periodic", "dataset": "csv",
                                      "csv": "t.csv", "target": "y"})
        assert cfg.embeddings == "periodic"


def test_categorical_embeddings_imply_codes() -> None:
    cfg = RunConfig.from_mapping({"embeddings": "categorical", "dataset": "csv",
                                  "csv": "t.csv", "target": "y"})
    assert cfg.categorical_encoding == "codes"


def test_the_out_of_fold_loss_scores_each_row_by_the_member_that_never_saw_it() -> None:
    from types import SimpleNamespace

    from chainrule.runs.crossval import OutOfFoldLoss
    from chainrule.runs.fitting import early_stopping

    rng = np.random.default_rng(1)
    a0, labels = rng.normal(size=(30, 3)), rng.integers(0, 3, size=30)
    Y = np.eye(3)[labels]
    folds = fold_ids(30, 3, labels=labels, seed=0)
    net = MLP([3, 5, 3], output="softmax", loss="cross_entropy", ensemble=3, seed=0,
              dtype="float64")
    assert isinstance(net, Ensemble)
    logs: dict[str, float] = {}
    history = SimpleNamespace(history={})
    OutOfFoldLoss(a0, Y, folds).on_epoch_end(SimpleNamespace(net=net, history=history), logs)
    assert history.history == {"cv_loss": [logs["cv_loss"]]}
    members = [net.member(m) for m in range(3)]
    expected = np.mean([-np.log(members[folds[i]].predict(a0[i:i + 1])[0, labels[i]])
                        for i in range(30)])
    assert logs["cv_loss"] == pytest.approx(expected, rel=1e-12)
    early = early_stopping(5, 0, out_of_fold=True)
    assert (early.monitor, early.restore_best_weights) == ("cv_loss", True)


def test_cv_auto_folds_a_small_table_only(tmp_path: Path) -> None:
    from chainrule.runs import recipe

    assert recipe.auto_folds(160, 22) == recipe.AUTO_FOLDS  # lung: 22 validation rows
    assert recipe.auto_folds(8000, 1000) == 0 and recipe.auto_folds(6, 1) == 0
    table = write_table(tmp_path / "t.csv", 150)
    code, out, _ = train("--csv", str(table), "--target", "y", "--out", str(tmp_path / "r"),
                         "--cv", "auto", "--epochs", "3")
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert code == 0 and config["cv"] == recipe.AUTO_FOLDS  # resolved, as config.json holds
    code, _, err = train("--csv", str(table), "--target", "y", "--out", str(tmp_path / "s"),
                         "--cv", "1")
    assert code == 2 and "1 fold leaves nothing to test" in err


@pytest.mark.parametrize("extra", [{}, {"cv": 3, "embeddings": "none"}])
def test_a_table_recipe_run_resumed_equals_an_uninterrupted_one(
        tmp_path: Path, extra: dict) -> None:
    """The recipe's pieces (adamw, flat_cosine, label smoothing, dropout, embeddings) and
    --cv's members and out-of-fold stopping keep a resumed run bitwise equal."""
    from typing import Any

    from chainrule import runs
    from chainrule.runs import recipe
    from chainrule.training.callbacks import Callback

    class Interrupt(Callback):
        def on_epoch_end(self, trainer: Any, logs: dict[str, float]) -> None:
            if trainer.epoch == 3:
                raise KeyboardInterrupt

    table = write_table(tmp_path / "t.csv", 150)
    values = recipe.apply_recipe({**runs.config.DEFAULTS, "recipe": "table"}, set())
    values.update(dataset="csv", csv=str(table), target="y", epochs=6, early_stopping=4,
                  dtype="float64", **extra)
    config = RunConfig.from_mapping(values)
    options = runs.RunOptions(importance=False)
    whole = runs.train(config, tmp_path / "whole", options=options)
    with pytest.raises(KeyboardInterrupt):
        runs.train(config, tmp_path / "cut", callbacks=[Interrupt()], options=options)
    resumed = runs.Run.resume(tmp_path / "cut", options=options)
    assert resumed.status == "complete"
    assert np.array_equal(resumed.net.params, whole.net.params)
    assert resumed.history.history == whole.history.history
    assert resumed.saved_config == whole.saved_config
