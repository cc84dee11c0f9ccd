"""bench/worker.py, the contenders of bench/compare.py (issue 16): every contender of a
fixed-recipe case starts from the same weight distribution, so that their test accuracies
compare engines, not initializations; and chainrule's race entry trains through ``fit``."""

from __future__ import annotations

import importlib
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _bench_module(name: str):
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCH))


@pytest.fixture(scope="module")
def worker():
    return _bench_module("worker")


def _report(worker, capsys, *argv: str) -> dict:
    assert worker.main(list(argv)) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_fixed_cases_give_every_contender_the_common_init(worker, capsys, monkeypatch):
    # chainrule-numpy sets CHAINRULE_COMPILED=0 in os.environ: undone after the test
    monkeypatch.setenv("CHAINRULE_COMPILED", "0")
    rep = _report(worker, capsys, "t", "chainrule-numpy", "--quick", "--repeats", "1")
    assert rep["recipe"]["init"] == worker.INIT == "glorot_uniform"
    assert 0.0 <= rep["runs"][0]["accuracy"] <= 1.0
    # an override still wins (the race's recipes set none: each library's default)
    rep = _report(worker, capsys, "t", "chainrule-numpy", "--quick", "--repeats", "1",
                  "--recipe", json.dumps({"init": "he_uniform"}))
    assert rep["recipe"]["init"] == "he_uniform"


def test_torch_contender_draws_scikit_learns_init(worker):
    torch = pytest.importorskip("torch")  # installed by the test extras
    torch.manual_seed(0)
    model = worker._torch_model({"sizes": [12, 64, 64, 3], "init": "glorot_uniform"})
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(12, 64), (64, 64), (64, 3)]
    for m in linears:
        bound = math.sqrt(6.0 / (m.in_features + m.out_features))
        w = m.weight.detach().numpy()
        assert np.abs(w).max() <= bound
        assert np.abs(w).max() > 0.9 * bound  # the whole range, not PyTorch's U(±1/√n_in)
        b = m.bias.detach().numpy()
        assert np.abs(b).max() <= bound and np.abs(b).max() > 0.5 * bound
    with pytest.raises(SystemExit, match="init"):
        worker._torch_model({"sizes": [2, 2], "init": "he_normal"})


def test_chainrule_contender_uses_the_recipe_init(worker, monkeypatch):
    import chainrule as cr

    drawn = []
    real = cr.MLP

    def spy(*args, **kwargs):
        drawn.append(kwargs.get("init"))
        return real(*args, **kwargs)

    monkeypatch.setattr(cr, "MLP", spy)
    monkeypatch.setenv("CHAINRULE_COMPILED", "0")
    data = worker.make_tabular(12, 3)
    once = worker.CONTENDERS["chainrule-numpy"](data, {**worker.CASES["t"], "epochs": 1,
                                                      "init": "glorot_uniform"})
    assert 0.0 <= once(0)["accuracy"] <= 1.0
    assert drawn == ["glorot_uniform"]


def test_chainrule_biases_drawn_as_scikit_learn_draws_them(worker):
    import chainrule as cr

    net = cr.MLP([12, 64, 64, 3], hidden="relu", output="softmax", loss="cross_entropy",
                 seed=0, init="glorot_uniform")
    w_before = [layer.w.copy() for layer in net.layers]
    worker._uniform_biases(net, 0)
    for layer, w in zip(net.layers, w_before, strict=True):
        bound = math.sqrt(6.0 / (layer.n_in + layer.n_out))
        assert np.abs(layer.b).max() <= bound and np.abs(layer.b).max() > 0.5 * bound
        np.testing.assert_array_equal(layer.w, w)  # the weights are left as drawn
    again = cr.MLP([12, 64, 64, 3], seed=0, init="glorot_uniform")
    worker._uniform_biases(again, 0)
    np.testing.assert_array_equal(again.params, net.params)  # seeded: the same draw


def test_sklearn_contender_refuses_an_init_it_cannot_use(worker):
    data = worker.make_tabular(12, 3)
    with pytest.raises(SystemExit, match="scikit-learn always initializes with glorot_uniform"):
        worker.CONTENDERS["sklearn-f32"](data, {**worker.CASES["t"], "init": "he_uniform"})


def test_chainrule_race_evaluates_on_its_schedule_and_stops_at_the_target(worker, monkeypatch):
    """The race entry runs one fit; its callback evaluates every ``chunk`` batches (and at
    each epoch's last), records a rising clock, and stops once the target is reached."""
    monkeypatch.setenv("CHAINRULE_COMPILED", "0")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 4), dtype=np.float32)
    y = (X[:, 0] > 0).astype(np.uint8)
    recipe = {"sizes": [4, 8, 2], "batch": 32, "lr": 1e-2, "epochs": 6, "target": 0.9,
              "seed": 0, "evals_per_epoch": 3}
    never = worker._chainrule_race({**recipe, "target": 1.01}, (X, y, X, y))
    # 10 batches per epoch, evaluated after batches 4, 8 and 10 of each of the 6 epochs
    assert len(never["curve"]) == 3 * 6 and never["seconds"] is None
    clocks = [t for t, _ in never["curve"]]
    assert clocks == sorted(clocks) and clocks[-1] > 0  # kept to 3 decimals: may start at 0
    out = worker._chainrule_race(recipe, (X, y, X, y))
    assert out["seconds"] == pytest.approx(next(t for t, acc in out["curve"] if acc >= 0.9),
                                           abs=5e-4)  # the curve keeps 3 decimals
    assert out["curve"][-1][1] >= 0.9  # nothing evaluated once reached
    assert len(out["curve"]) < 3 * 6


@pytest.fixture(scope="module")
def accuracy_script():
    return _bench_module("accuracy")


def test_accuracy_summary_and_difference_with_its_standard_error(accuracy_script):
    s = accuracy_script.summary([0.80, 0.82, 0.84])
    assert s["mean"] == pytest.approx(0.82) and s["median"] == 0.82
    assert s["sd"] == pytest.approx(0.02) and s["se"] == pytest.approx(0.02 / math.sqrt(3))
    other = accuracy_script.summary([0.81, 0.81, 0.84])
    md = accuracy_script.table("t", {"chainrule": s, "sklearn-f32": other}, 0)
    se = 100 * math.hypot(s["se"], other["se"])
    assert f"| sklearn-f32 | 82.00 ± {100 * other['se']:.2f} |" in md
    assert f"-0.00 ± {se:.2f} |" in md or f"+0.00 ± {se:.2f} |" in md
    assert "seeds 0-2" in md


def test_accuracy_script_runs_each_contender_over_its_seeds(accuracy_script, tmp_path, capsys):
    assert accuracy_script.main(["--case", "t", "--seeds", "2", "--contenders",
                                 "chainrule-numpy", "--jobs", "1", "--out",
                                 str(tmp_path)]) == 0
    saved = json.loads((tmp_path / "accuracy-t.json").read_text())
    accs = saved["accuracies"]["chainrule-numpy"]
    assert len(accs) == 2 and accs[0] != accs[1]  # two seeds, two models
    assert saved["summary"]["chainrule-numpy"]["n"] == 2
    assert "| chainrule-numpy |" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        accuracy_script.main(["--seeds", "1"])
