"""The table recipe (chainrule.runs.recipe) and the settings it brought: the flat_cosine
schedule, label smoothing, ``--min-delta``, ``batch_size = "auto"``, weight decay, clipping,
the baseline warning and ``--test-split 0``."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from chainrule.cli import main
from chainrule.engine.mlp import MLP
from chainrule.notes.gradcheck import gradcheck
from chainrule.runs import RunConfig, recipe
from chainrule.runs.checkpoint import ResumableEarlyStopping
from chainrule.runs.config import ConfigError
from chainrule.runs.fitting import make_optimizer, smooth_labels
from chainrule.runs.stages import baseline_verdict
from chainrule.training.optimizers import AdamW
from chainrule.training.schedules import SCHEDULES, FlatCosine, get_schedule


# -- the schedule -------------------------------------------------------------------------------
def test_flat_cosine_is_flat_then_a_cosine_to_min_lr() -> None:
    s = FlatCosine(0.1, total_steps=100, flat_fraction=0.4, min_lr=0.001)
    assert SCHEDULES["flat_cosine"] is FlatCosine
    assert [s(t) for t in (0, 20, 39)] == [0.1, 0.1, 0.1]
    assert s(40) == pytest.approx(0.1)  # the cosine starts at η₀: no jump
    assert s(70) == pytest.approx(0.001 + 0.5 * (0.1 - 0.001))  # half-way down
    assert s(100) == pytest.approx(0.001) and s(500) == pytest.approx(0.001)
    steps = [s(t) for t in range(40, 101)]
    assert all(a >= b for a, b in zip(steps, steps[1:], strict=False))  # never rises
    again = get_schedule(s.get_config())
    assert [again(t) for t in range(0, 120, 7)] == [s(t) for t in range(0, 120, 7)]


@pytest.mark.parametrize("kwargs, name", [
    ({"total_steps": 0}, "total_steps"), ({"flat_fraction": 1.0}, "flat_fraction"),
    ({"flat_fraction": -0.1}, "flat_fraction"), ({"min_lr": -1.0}, "min_lr"),
])
def test_flat_cosine_refuses_bad_arguments(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=f"^{name}: expected"):
        FlatCosine(0.1, **kwargs)


def test_the_runs_optimizer_takes_the_schedule_decay_and_clipping() -> None:
    cfg = RunConfig.from_mapping({"optimizer": "adamw", "weight_decay": 0.003,
                                  "schedule": "flat_cosine", "clipnorm": 2.5, "epochs": 10})
    opt = make_optimizer(cfg, steps_per_epoch=7)
    assert isinstance(opt, AdamW) and opt.weight_decay == 0.003 and opt.clipnorm == 2.5
    assert isinstance(opt.schedule, FlatCosine) and opt.schedule.total_steps == 70


# -- the recipe's settings ----------------------------------------------------------------------
@pytest.mark.parametrize("n_train, batch", [(1, 32), (300, 32), (4096, 64), (8000, 64),
                                            (8192, 128), (16_000, 128), (16_384, 256),
                                            (10**6, 256)])
def test_batch_size_auto_is_a_power_of_two_scaled_to_the_rows(n_train: int, batch: int) -> None:
    assert recipe.batch_size_for(n_train) == batch


def test_apply_recipe_fills_only_what_was_not_given() -> None:
    values = {"recipe": "table", "optimizer": "adam", "epochs": 20, "early_stopping": 0,
              "weight_decay": None, "dropout": 0.0}
    filled = recipe.apply_recipe(values, set())
    assert filled["optimizer"] == "adamw" and filled["weight_decay"] == recipe.TABLE[
        "weight_decay"]
    assert (filled["epochs"], filled["early_stopping"]) == (recipe.TABLE_EPOCHS,
                                                           recipe.TABLE_PATIENCE)
    kept = recipe.apply_recipe({**values, "dropout": 0.3}, {"dropout"})
    assert kept["dropout"] == 0.3
    epochs_only = recipe.apply_recipe({**values, "epochs": 7}, {"epochs"})
    assert (epochs_only["epochs"], epochs_only["early_stopping"]) == (7, 0)
    other_optimizer = recipe.apply_recipe({**values, "optimizer": "sgd"}, {"optimizer"})
    assert (other_optimizer["optimizer"], other_optimizer["weight_decay"]) == ("sgd", None)
    assert recipe.apply_recipe({**values, "recipe": "plain"}, set()) == {**values,
                                                                        "recipe": "plain"}


def test_members_keep_the_recipes_embeddings_and_small_tables_get_folds() -> None:
    """Each member owns its input layers, so ``--ensemble``/``--cv`` no longer take the
    embeddings away; ``cv = "auto"`` is in the recipe and gives folds only where the
    validation split is too small to tell the best epoch."""
    values = {"recipe": "table", "embeddings": "none", "cv": 0, "ensemble": 1}
    assert recipe.apply_recipe(values, set())["cv"] == "auto"
    for given in ({"ensemble": 4}, {"cv": 5}):
        filled = recipe.apply_recipe({**values, **given}, set(given))
        assert filled["embeddings"] == "both" and filled[next(iter(given))] == given[
            next(iter(given))]
    assert recipe.apply_recipe({**values, "cv": 0}, {"cv"})["cv"] == 0  # --cv 0 stays off
    assert recipe.auto_folds(2900, 99) == recipe.AUTO_FOLDS
    assert recipe.auto_folds(2900, 100) == 0
    assert recipe.auto_folds(9, 2) == 0  # too few rows for 5 folds of 2


def test_new_settings_are_checked_and_old_configs_load() -> None:
    old = {"dataset": "xor", "hidden": [8], "epochs": 3, "batch_size": 16}  # a 0.1 config
    cfg = RunConfig.from_mapping(old)
    assert (cfg.recipe, cfg.label_smoothing, cfg.min_delta, cfg.clipnorm,
            cfg.weight_decay) == ("plain", 0.0, 1e-4, None, None)
    auto = RunConfig.from_mapping({"batch_size": "AUTO", "label_smoothing": "auto"})
    assert (auto.batch_size, auto.label_smoothing) == ("auto", "auto")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"weight_decay": 0.01}, "use --optimizer adamw"),
        ({"label_smoothing": 1.0}, "expected a number in [0, 1)"),
        ({"batch_size": "big"}, "expected a positive integer or 'auto'"),
        ({"min_delta": -1}, "expected a non-negative number"),
        ({"clipnorm": 0}, "expected a positive number"),
        ({"recipe": "fancy"}, "valid names are plain, table")]
    for bad, said in cases:
        with pytest.raises(ConfigError) as err:
            RunConfig.from_mapping(bad)
        assert said in str(err.value), (bad, str(err.value))


# -- label smoothing ----------------------------------------------------------------------------
def test_smooth_labels_moves_epsilon_of_the_mass_evenly() -> None:
    y = np.array([0, 2, 1])
    Y = smooth_labels(y, "classification", 3, 0.1)
    np.testing.assert_allclose(Y.sum(axis=1), 1.0, rtol=0, atol=1e-15)
    np.testing.assert_allclose(Y[0], [0.9 + 0.1 / 3, 0.1 / 3, 0.1 / 3], rtol=1e-15)
    one_unit = smooth_labels(np.array([[0.0], [1.0]]), "classification", 1, 0.2)
    np.testing.assert_allclose(one_unit[:, 0], [0.1, 0.9], rtol=1e-15)
    assert smooth_labels(y, "classification", 3, 0.0) is y  # ε = 0: the labels as they are
    values = np.array([[1.5], [2.0]])
    assert smooth_labels(values, "regression", 1, 0.1) is values


@pytest.mark.parametrize("output, loss, n_out", [("softmax", "cross_entropy", 3),
                                                 ("sigmoid", "binary_cross_entropy", 1)])
def test_the_smoothed_cost_passes_central_differences(output: str, loss: str,
                                                      n_out: int) -> None:
    """The cross-entropy of soft targets keeps δ^(L) = a − y: backprop's gradient equals
    central differences of the cost (float64)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 4))
    labels = rng.integers(0, max(n_out, 2), size=12)
    Y = labels.reshape(-1, 1).astype(float) if n_out == 1 else labels
    net = MLP([4, 5, n_out], hidden="tanh", output=output, loss=loss, seed=1, dtype="float64")
    report = gradcheck(net, X, smooth_labels(Y, "classification", n_out, 0.1))
    assert report.max_rel_error < 1e-7


# -- early stopping's minimum improvement -------------------------------------------------------
def test_min_delta_ignores_improvements_smaller_than_it() -> None:
    """A loss that keeps "improving" by 1e-8 is not improving: patience runs out."""
    trainer: Any = SimpleNamespace(epoch=0, stop_training=False,
                                   net=SimpleNamespace(params=np.zeros(3)))

    def stops_after(min_delta: float) -> int | None:
        early = ResumableEarlyStopping("val_loss", 3, min_delta=min_delta)
        early.on_train_begin(trainer)
        trainer.stop_training = False
        for epoch in range(1, 50):
            trainer.epoch = epoch
            early.on_epoch_end(trainer, {"val_loss": 1.0 - 1e-8 * epoch})
            if trainer.stop_training:
                return epoch
        return None

    assert stops_after(1e-4) == 4  # epoch 1 is the best; 2, 3, 4 do not count
    assert stops_after(0.0) is None  # every epoch counts as better


# -- the baseline -------------------------------------------------------------------------------
def test_a_model_no_better_than_the_baseline_is_told_loudly() -> None:
    metrics = {"task": "classification", "accuracy": 0.652,
               "baseline": {"predicts": "dead", "accuracy": 0.717}}
    said = baseline_verdict(metrics)
    assert said is not None and "LOSES to the baseline" in said and "0.6520" in said
    assert "'dead'" in said and metrics["loses_to_baseline"] is True
    tie = {"task": "regression", "r2": -0.01,
           "baseline": {"predicts": "the training mean", "r2": -0.01}}
    assert "NO BETTER" in (baseline_verdict(tie) or "") and tie["loses_to_baseline"]
    good = {"task": "regression", "r2": 0.8, "baseline": {"predicts": "x", "r2": -0.01}}
    assert baseline_verdict(good) is None and good["loses_to_baseline"] is False
    assert baseline_verdict({"task": "regression", "r2": 0.5}) is None  # no baseline


# -- through the command ------------------------------------------------------------------------
def write_table(path: Path, n: int, *, signal: bool = True, classes: bool = False,
                rare: float = 0.25) -> Path:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(n, 3))
    y: np.ndarray = x @ [1.0, -2.0, 0.5] if signal else rng.normal(size=n)
    if classes:
        y = np.where(y > np.quantile(y, 1 - rare), "yes", "no")
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["a", "b", "c", "y"])
        w.writerows([[*row, t] for row, t in zip(x.round(4), y, strict=True)])
    return path


def train(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["train", *argv])
    return code, out.getvalue(), err.getvalue()


def test_a_csv_job_runs_the_table_recipe_and_says_so(tmp_path: Path) -> None:
    table = write_table(tmp_path / "t.csv", 300, classes=True)
    code, out, _ = train("--csv", str(table), "--target", "y", "--out", str(tmp_path / "r"),
                         "--no-importance")
    assert code == 0
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    for key, value in recipe.TABLE.items():
        if value != "auto":
            assert config[key] == value, key
    assert config["recipe"] == "table" and config["batch_size"] == recipe.batch_size_for(210)
    assert config["label_smoothing"] == recipe.AUTO_LABEL_SMOOTHING  # resolved: classes
    assert "recipe table: adamw (weight decay" in out and "label smoothing 0.1" in out
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["test"]["loses_to_baseline"] is False and metrics["test"]["accuracy"] > 0.85


def test_recipe_plain_and_regression_resolve_as_documented(tmp_path: Path) -> None:
    table = write_table(tmp_path / "t.csv", 150)
    code, out, _ = train("--csv", str(table), "--target", "y", "--out", str(tmp_path / "r"),
                         "--recipe", "plain", "--no-importance")
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert code == 0 and "recipe" not in out.split("network")[1].split("\n")[1]
    assert (config["optimizer"], config["schedule"], config["batch_size"], config["dropout"],
            config["label_smoothing"]) == ("adam", "constant", 32, 0.0, 0.0)
    code, _, _ = train("--csv", str(table), "--target", "y", "--out", str(tmp_path / "t"),
                       "--epochs", "3", "--no-importance")
    assert json.loads((tmp_path / "t" / "config.json").read_text())["label_smoothing"] == 0.0
    code, _, err = train("--csv", str(table), "--target", "y", "--out", str(tmp_path / "u"),
                         "--label-smoothing", "0.1", "--epochs", "2")
    assert code != 0 and "label_smoothing 0.1: smooths one-hot class targets" in err
    assert len(err.strip().splitlines()) == 1


def test_a_model_that_learned_nothing_is_flagged_in_the_run(tmp_path: Path) -> None:
    """Noise features, a 90/10 target: the run says it loses to (or ties) "always no"."""
    table = write_table(tmp_path / "noise.csv", 200, signal=False, classes=True, rare=0.1)
    code, _, err = train("--csv", str(table), "--target", "y", "--out", str(tmp_path / "r"),
                         "--no-importance", "--quiet")
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())["test"]
    assert code == 0 and metrics["loses_to_baseline"] is True
    assert "warning: the model " in err and "the baseline: test accuracy" in err
    assert "always predicting 'no'" in err


def test_test_split_zero_trains_without_a_report(tmp_path: Path) -> None:
    table = write_table(tmp_path / "t.csv", 120)
    code, out, _ = train("--csv", str(table), "--target", "y", "--out", str(tmp_path / "r"),
                         "--test-split", "0", "--epochs", "3")
    assert code == 0 and "no test report (--test-split 0)" in out
    saved = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert saved["test"] == {} and saved["n_test"] == 0 and saved["n_train"] == 108
    assert math.isfinite(saved["final"]["loss"])


def test_an_old_config_json_reruns_plain(tmp_path: Path) -> None:
    """A config.json from before recipes (no 'recipe' key) is not silently re-recipied."""
    table = write_table(tmp_path / "t.csv", 120)
    old = {"dataset": "csv", "csv": str(table), "target": "y", "hidden": [16], "epochs": 2,
           "optimizer": "adam", "batch_size": 32, "early_stopping": 0}
    (tmp_path / "old.json").write_text(json.dumps(old))
    code, _, err = train("--config", str(tmp_path / "old.json"), "--out", str(tmp_path / "r"),
                         "--no-importance")
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert code == 0, err
    assert (config["recipe"], config["embeddings"], config["label_smoothing"],
            config["dropout"], config["schedule"]) == ("plain", "none", 0.0, 0.0, "constant")
    code, _, _ = train("--config", str(tmp_path / "r" / "config.json"), "--out",
                       str(tmp_path / "again"), "--no-importance")
    again = json.loads((tmp_path / "again" / "config.json").read_text())
    assert code == 0 and again == config
