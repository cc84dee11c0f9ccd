"""Permutation importance (chainrule.health.importance) against scikit-learn's, on real
tables shipped in PyPI packages, per table column (one-hot groups shuffled together)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pd = pytest.importorskip("pandas", reason="the real tables are read with pandas")
plotnine = pytest.importorskip("plotnine", reason="the real tables ship with plotnine")
inspection = pytest.importorskip("sklearn.inspection", reason="the reference implementation")

import chainrule as cr  # noqa: E402
from chainrule.health.importance import (  # noqa: E402
    Importance,
    column_groups,
    permutation_importance,
)
from chainrule.table import TableEncoder  # noqa: E402

DATA = Path(plotnine.__file__).parent / "data"


def _fitted(path: Path, target: str, task: str, seed: int = 0):
    """A small network trained on 70 % of the table; the held-out 30 % as a DataFrame."""
    df = pd.read_csv(path).dropna(subset=[target]).reset_index(drop=True)
    rows = np.random.default_rng(seed).permutation(len(df))
    cut = int(0.7 * len(df))
    train, test = df.iloc[rows[:cut]], df.iloc[rows[cut:]].reset_index(drop=True)
    enc = TableEncoder().fit(train.drop(columns=[target]))
    X_train = enc.transform(train.drop(columns=[target]))
    if task == "classification":
        classes = sorted(df[target].unique())
        y_train = np.array([classes.index(v) for v in train[target]])
        y_test = np.array([classes.index(v) for v in test[target]])
        net = cr.MLP([enc.n_out, 16, len(classes)], output="softmax", loss="cross_entropy",
                     seed=seed, dtype="float64")
        Y = np.eye(len(classes))[y_train]
    else:
        y_train = train[target].to_numpy(float)
        y_test = test[target].to_numpy(float)
        net = cr.MLP([enc.n_out, 16, 1], seed=seed, dtype="float64")
        Y = y_train[:, None]
        net.init_output_from_targets(Y)
    net.encoder = enc
    net.scaler = enc.standardizer(X_train)
    net.fit(X_train, Y, epochs=30, batch_size=16)
    return net, enc, test.drop(columns=[target]), y_test


class _Estimator:
    """The chainrule model as scikit-learn's permutation_importance sees it: a table in,
    class indices (or targets) out."""

    def __init__(self, net, enc, task):
        self.net, self.enc, self.task = net, enc, task

    def fit(self, X, y):  # pragma: no cover - permutation_importance never refits
        return self

    def predict(self, df):
        A = np.asarray(self.net.predict(self.enc.transform(df)))
        return self.net.classes_of(A) if self.task == "classification" else A[:, 0]


@pytest.mark.parametrize(("file", "target", "task"), [
    ("penguins.csv", "species", "classification"),
    ("mpg.csv", "hwy", "regression"),
])
def test_agrees_with_scikit_learn_on_real_tables(file, target, task):
    from sklearn.metrics import accuracy_score, r2_score

    net, enc, test_df, y_test = _fitted(DATA / file, target, task)
    ours = permutation_importance(net, enc.transform(test_df), y_test, task=task,
                                  groups=column_groups(enc, enc.names), seed=7)
    metric = accuracy_score if task == "classification" else r2_score
    theirs = inspection.permutation_importance(
        _Estimator(net, enc, task), test_df[enc.inputs], y_test,
        scoring=lambda est, X, y: metric(y, est.predict(X)), n_repeats=5, random_state=7)
    assert ours.columns == enc.inputs  # per table column, not per one-hot feature
    assert len(enc.names) > len(enc.inputs)  # (so the grouping is exercised)
    top = [c for c, _, _ in ours.ranked()[:3]]
    theirs_top = [enc.inputs[i] for i in np.argsort(-theirs.importances_mean, kind="stable")[:3]]
    assert top == theirs_top
    assert ours.ranked()[0][1] > 0.05  # the model leans on something: a ranking to compare
    np.testing.assert_allclose(ours.drops, theirs.importances, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours.baseline, metric(y_test, _Estimator(net, enc, task)
                                                     .predict(test_df)), atol=1e-12)


def test_an_unused_column_costs_nothing_and_a_used_one_costs_a_lot():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    y = (X[:, 0] > 0).astype(int)  # only x0 carries the label
    net = cr.MLP([3, 8, 2], output="softmax", loss="cross_entropy", seed=0, dtype="float64")
    net.fit(X[:300], np.eye(2)[y[:300]], epochs=40, batch_size=16)
    imp = permutation_importance(net, X[300:], y[300:], task="classification", seed=1)
    assert imp.ranked()[0][0] == "x0"
    assert imp.mean[0] > 0.3
    assert np.all(np.abs(imp.mean[1:]) < 0.05)


def test_seeded_and_json():
    net, enc, test_df, y_test = _fitted(DATA / "mpg.csv", "hwy", "regression")
    X = enc.transform(test_df)
    groups = column_groups(enc, enc.names)
    a = permutation_importance(net, X, y_test, task="regression", groups=groups, seed=3)
    b = permutation_importance(net, X, y_test, task="regression", groups=groups, seed=3)
    c = permutation_importance(net, X, y_test, task="regression", groups=groups, seed=4)
    assert np.array_equal(a.drops, b.drops)
    assert not np.array_equal(a.drops, c.drops)
    d = json.loads(json.dumps(a.to_dict()))
    assert d["metric"] == "r2" and d["n_repeats"] == 5 and d["seed"] == 3
    assert [r["column"] for r in d["columns"]] == [c for c, _, _ in a.ranked()]
    means = [r["mean"] for r in d["columns"]]
    assert means == sorted(means, reverse=True)
    text = a.format(top=3)
    assert a.ranked()[0][0] in text.splitlines()[1]
    assert f"({len(enc.inputs) - 3} more" in text


def test_groups_follow_the_encoder():
    df = pd.DataFrame({"n": [1.0, 2.0, None, 4.0] * 5, "c": list("xyzx") * 5,
                       "k": [5] * 20})  # k is constant: dropped, no feature
    enc = TableEncoder().fit(df)
    groups = column_groups(enc, enc.names)
    assert [name for name, _ in groups] == enc.inputs
    assert sorted(j for _, cols in groups for j in cols) == list(range(enc.n_out))
    assert column_groups(None, ["a", "b"]) == [("a", [0]), ("b", [1])]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"task": "ranking"}, "task: expected one of classification, regression"),
    ({"n_repeats": 0}, "n_repeats: expected a positive integer, got 0"),
    ({"groups": [("a", [5])]}, "groups: column 'a' names no feature"),
])
def test_bad_arguments_are_one_line(kwargs, message):
    net = cr.MLP([2, 3, 1], seed=0)
    args = {"task": "regression", **kwargs}
    with pytest.raises(ValueError, match=message):
        permutation_importance(net, np.zeros((4, 2)), np.zeros(4), **args)
    with pytest.raises(ValueError, match=r"X: expected shape \(n_samples >= 2, 2\)"):
        permutation_importance(net, np.zeros((4, 3)), np.zeros(4), task="regression")


def test_importance_is_a_dataclass_of_numbers():
    imp = Importance(["a", "b"], np.array([[0.1, 0.3], [0.0, 0.0]]), 0.9, "accuracy", 0, 10)
    assert imp.ranked() == [("a", pytest.approx(0.2), pytest.approx(0.1)), ("b", 0.0, 0.0)]


def test_a_run_ranks_the_columns_of_its_table():
    from chainrule.runs import RunConfig
    from chainrule.runs.output import column_importance
    from chainrule.runs.stages import build, load_data, split

    cfg = RunConfig.from_mapping({"dataset": "csv", "csv": str(DATA / "penguins.csv"),
                                  "target": "species", "epochs": 1})
    ds = load_data(cfg)
    splits = split(cfg, ds)
    imp = column_importance(build(cfg, ds, splits), ds, splits, cfg.seed)
    assert imp is not None and ds.encoder is not None
    assert imp.columns == ds.encoder.inputs and imp.metric == "accuracy"
    assert imp.n_samples == len(splits.X_test) and imp.drops.shape == (len(imp.columns), 5)


def test_train_reports_and_records_the_top_columns(tmp_path, capsys):
    from chainrule.cli import main

    out = tmp_path / "run"
    assert main(["train", "--csv", str(DATA / "penguins.csv"), "--target", "species",
                 "--hidden", "8", "--epochs", "3", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "permutation importance on" in printed and "test rows" in printed
    record = json.loads((out / "metrics.json").read_text())["importance"]
    assert record["metric"] == "accuracy" and record["n_repeats"] == 5
    names = [r["column"] for r in record["columns"]]
    assert sorted(names) == sorted(["island", "bill_length_mm", "bill_depth_mm",
                                    "flipper_length_mm", "body_mass_g", "sex", "year"])
    assert names[0] in printed.split("permutation importance on", 1)[1]

    assert main(["train", "--csv", str(DATA / "penguins.csv"), "--target", "species",
                 "--hidden", "8", "--epochs", "1", "--no-importance",
                 "--out", str(tmp_path / "plain")]) == 0
    assert "permutation importance" not in capsys.readouterr().out
    assert "importance" not in json.loads((tmp_path / "plain" / "metrics.json").read_text())


def test_a_sample_of_rows_bounds_the_cost_and_says_so():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 3))
    y = (X[:, 0] > 0).astype(int)
    net = cr.MLP([3, 8, 2], output="softmax", loss="cross_entropy", seed=0, dtype="float64")
    net.fit(X[:1000], np.eye(2)[y[:1000]], epochs=20, batch_size=32)
    calls = []
    predict = net.predict
    net.predict = lambda A, **kw: (calls.append(len(A)), predict(A, **kw))[1]
    imp = permutation_importance(net, X, y, task="classification", seed=2, max_samples=600)
    assert set(calls) == {600} and len(calls) == 1 + 3 * 5  # baseline + columns × shuffles
    assert imp.n_samples == 600 and imp.to_dict()["n_rows"] == 3000
    assert "on 600 of 3000 test rows (a seeded sample)" in imp.format()
    assert imp.ranked()[0][0] == "x0"
    again = permutation_importance(net, X, y, task="classification", seed=2, max_samples=600)
    assert np.array_equal(imp.drops, again.drops)
    whole = permutation_importance(net, X, y, task="classification", seed=2, max_samples=5000)
    assert whole.n_samples == 3000 and "of" not in whole.format().splitlines()[0].split("(")[0]
    with pytest.raises(ValueError, match="max_samples: expected an integer >= 2, got 1"):
        permutation_importance(net, X, y, task="classification", max_samples=1)

