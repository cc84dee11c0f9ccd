"""Sample and class weights (chainrule.weights): the weighted batch mean Σ s_i C_i / Σ s_i.

Its gradient against finite differences, integer weights against repeated rows, the
unweighted path untouched, class_weight="balanced" on a 95/5 table, the estimators, the
errors at the boundary, the CLI flag and MPI.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli import main
from chainrule.notes.gradcheck import gradcheck
from chainrule.training import loop as training
from chainrule.training import weights
from chainrule.training.step import Step

# -- the gradient ------------------------------------------------------------------------------
PAIRS = [  # (output, loss, fused): canonical pairs fused and not, and non-canonical ones
    ("softmax", "cross_entropy", True),
    ("softmax", "cross_entropy", False),
    ("sigmoid", "binary_cross_entropy", True),
    ("sigmoid", "binary_cross_entropy", False),
    ("identity", "squared_error", True),
    ("tanh", "mse", True),
    ("identity", "huber", True),
]


def _targets(rng: np.random.Generator, loss: str, n: int, n_out: int) -> np.ndarray:
    if loss == "cross_entropy":
        return rng.integers(0, n_out, n)
    if loss == "binary_cross_entropy":
        return rng.integers(0, 2, (n, n_out)).astype(float)
    return rng.normal(size=(n, n_out))


@pytest.mark.parametrize(("output", "loss", "fused"), PAIRS)
def test_weighted_gradient_matches_finite_differences(output: str, loss: str,
                                                      fused: bool) -> None:
    rng = np.random.default_rng(0)
    n, n_out = 17, 3
    X = rng.normal(size=(n, 4))
    Y = _targets(rng, loss, n, n_out)
    net = cr.MLP([4, 6, 5, n_out], hidden="tanh", output=output, loss=loss, seed=1,
                 dtype="float64", l2=0.01, fused=fused)
    s = rng.uniform(0.0, 3.0, n)
    s[[2, 9]] = 0.0  # samples that do not count
    report = gradcheck(net, X, Y, sample_weight=s)
    assert report.max_rel_error < 1e-7, str(report)
    # and the weights matter: the unweighted gradient is a different one
    a0 = net.inputs(X)
    Yt = net.targets(Y, n)
    weighted = weights.weighted_backward(net, net.forward(a0), Yt, s).copy()
    assert not np.allclose(weighted, net.backward(net.forward(a0), Yt))


def _compute(net: cr.Network, a0: np.ndarray, Yt: np.ndarray,
             s: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """The training step's loss sum and gradient (Step.gradient)."""
    step = Step(net, cr.SGD())
    loss_sum, _ = step.gradient(a0, Yt, s)
    return loss_sum, net.grads.copy()


@pytest.mark.parametrize(("output", "loss", "fused"), PAIRS[:1] + PAIRS[3:5])
def test_integer_weights_are_repeated_rows(output: str, loss: str, fused: bool) -> None:
    rng = np.random.default_rng(3)
    n = 12
    X, Y = rng.normal(size=(n, 3)), _targets(rng, loss, n, 2)
    s = rng.integers(0, 4, n)
    s[0] = 0  # weight 0: the row is left out
    net = cr.MLP([3, 5, 2], hidden="relu", output=output, loss=loss, seed=0, dtype="float64",
                 l2=1e-3, fused=fused)
    a0, Yt = net.inputs(X), net.targets(Y, n)
    rows = np.repeat(np.arange(n), s)
    loss_w, grad_w = _compute(net, a0, Yt, s.astype(float))
    loss_r, grad_r = _compute(net, a0[rows], Yt[rows])
    # Equal to the last bits: Σ (s_i/S) x_i and Σ over repeated rows of x_i/S round
    # differently (s_i · x against x + x + …, and BLAS sums in another order).
    np.testing.assert_allclose(grad_w, grad_r, rtol=1e-12, atol=1e-15)
    assert loss_w / s.sum() == pytest.approx(loss_r / rows.size, rel=1e-13)
    # a whole fit (one batch, so the same batches) agrees too
    twin_w, twin_r = net.copy(), net.copy()
    twin_w.fit(X, Y, sample_weight=s, epochs=4, batch_size=n, shuffle=False, optimizer="sgd")
    twin_r.fit(X[rows], Y[rows], epochs=4, batch_size=rows.size, shuffle=False,
               optimizer="sgd")
    np.testing.assert_allclose(twin_w.params, twin_r.params, rtol=1e-11, atol=1e-14)


def test_all_ones_is_the_unweighted_mean_and_none_takes_the_old_path(
        monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(50, 3)), rng.integers(0, 3, 50)
    make = lambda: cr.MLP([3, 8, 3], output="softmax", loss="cross_entropy", seed=0,  # noqa: E731
                          dtype="float64", dropout=0.1)
    base, none, ones = make(), make(), make()
    h_base = base.fit(X, y, epochs=3, batch_size=8, validation_split=0.2)
    ones_h = ones.fit(X, y, epochs=3, batch_size=8, validation_split=0.2,
                      sample_weight=np.ones(50))
    np.testing.assert_allclose(ones.params, base.params, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ones_h["loss"], h_base["loss"], rtol=1e-12)
    # weights None never reach the weighted code: bit for bit the unweighted loop
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the weighted path ran without weights")

    monkeypatch.setattr(weights, "weighted_backward", refuse)
    monkeypatch.setattr(weights, "weighted_cost", refuse)
    h_none = none.fit(X, y, epochs=3, batch_size=8, validation_split=0.2,
                      sample_weight=None, class_weight=None)
    assert none.params.tobytes() == base.params.tobytes()
    assert h_none.history == h_base.history


def test_weighted_batches_leave_the_compiled_step_for_numpy(
        monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    X, y, s = rng.normal(size=(40, 3)), rng.integers(0, 2, 40), rng.uniform(0, 2, 40)

    def fitted() -> np.ndarray:
        net = cr.MLP([3, 5, 2], output="softmax", loss="cross_entropy", seed=0,
                     dtype="float64")
        net.fit(X, y, sample_weight=s, epochs=2, batch_size=8)
        return net.params

    monkeypatch.setenv("CHAINRULE_COMPILED", "0")
    numpy_path = fitted()
    monkeypatch.setenv("CHAINRULE_COMPILED", "1")
    net = cr.MLP([3, 5, 2], output="softmax", loss="cross_entropy", seed=0)
    if training.Trainer(net, cr.Adam(), epochs=1, batch_size=8).compiled is None:
        pytest.fail("numba is a test dependency: the compiled step should be offered")
    assert fitted().tobytes() == numpy_path.tobytes()


def test_zero_weight_batch_takes_no_step() -> None:
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(8, 2)), rng.integers(0, 2, 8)
    s = np.array([0, 0, 0, 0, 1, 2, 1, 1], dtype=float)
    net = cr.MLP([2, 4, 2], output="softmax", loss="cross_entropy", seed=0, dtype="float64")
    only = net.copy()
    net.fit(X, y, sample_weight=s, epochs=2, batch_size=4, shuffle=False, optimizer="adam")
    only.fit(X[4:], y[4:], sample_weight=s[4:], epochs=2, batch_size=4, shuffle=False,
             optimizer="adam")
    assert net.params.tobytes() == only.params.tobytes()
    assert net.optimizer is not None and net.optimizer.t == 2  # the empty batches: no step


# -- class_weight="balanced" on an imbalanced table --------------------------------------------
def _imbalanced(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A 95/5 table: the rare class is a small disk in the square (noise-free labels)."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 2))
    y = (np.hypot(X[:, 0] - 0.3, X[:, 1] + 0.2) < 0.25).astype(np.int64)
    return X, y


def test_balanced_class_weight_raises_macro_f1() -> None:
    from sklearn.metrics import f1_score

    X, y = _imbalanced(1000, 0)
    X_test, y_test = _imbalanced(4000, 1)
    assert 0.04 < y.mean() < 0.07
    scores = {}
    for cw in (None, "balanced"):
        net = cr.MLP([2, 32, 2], hidden="tanh", output="softmax", loss="cross_entropy", seed=0)
        net.fit(X, y, epochs=25, batch_size=32, class_weight=cw, optimizer=cr.Adam(0.01))
        scores[cw] = f1_score(y_test, net.predict_classes(X_test), average="macro")
    print(f"\nmacro-F1 on the 95/5 table: unweighted {scores[None]:.3f}, "
          f"class_weight='balanced' {scores['balanced']:.3f}")
    assert scores["balanced"] > scores[None] + 0.1


def test_balanced_weights_are_sklearns() -> None:
    from sklearn.utils.class_weight import compute_class_weight

    y = np.array([0, 0, 0, 1, 2, 2, 0, 0, 2])
    net = cr.MLP([1, 3], output="softmax", loss="cross_entropy")
    got = weights.combined_weights(net, net.targets(y, 9), class_weight="balanced")
    expected = compute_class_weight("balanced", classes=np.unique(y), y=y)[y]
    np.testing.assert_allclose(got, expected, rtol=1e-15)
    # a mapping, by label (net.classes) or by index, times the sample weights
    net.classes = ["a", "b", "c"]
    got = weights.combined_weights(net, net.targets(y, 9), sample_weight=np.full(9, 2.0),
                                   class_weight={"c": 3.0, 1: 0.5})
    np.testing.assert_array_equal(got, 2.0 * np.array([1.0, 0.5, 3.0])[y])
    # one sigmoid output: the classes are 0 and 1
    binary = cr.MLP([1, 1], output="sigmoid", loss="binary_cross_entropy")
    yb = np.array([0, 0, 0, 1])
    got = weights.combined_weights(binary, binary.targets(yb, 4), class_weight="balanced")
    np.testing.assert_allclose(got, [4 / 6, 4 / 6, 4 / 6, 2.0])


# -- errors at the boundary --------------------------------------------------------------------
@pytest.mark.parametrize(("sample_weight", "message"), [
    (np.ones(9), r"sample_weight: expected shape \(10,\)"),
    (np.ones((10, 1)), r"sample_weight: expected shape \(10,\)"),
    ([1.0] * 9 + [np.nan], "sample_weight: every weight must be finite"),
    ([1.0] * 9 + [np.inf], "sample_weight: every weight must be finite"),
    ([1.0] * 9 + [-1.0], "sample_weight: weights must be non-negative"),
    (np.zeros(10), "sample_weight: every weight is zero"),
    (["a"] * 10, "sample_weight: expected real numbers"),
    ([[1.0], [1.0, 2.0]], "sample_weight: expected an array"),
    (np.ones(10, dtype=complex), "sample_weight: expected real numbers"),
])
def test_bad_sample_weight_is_refused_by_name(sample_weight: object, message: str) -> None:
    net = cr.MLP([2, 3], output="softmax", loss="cross_entropy", seed=0)
    X, y = np.zeros((10, 2)), np.arange(10) % 3
    with pytest.raises(ValueError, match=message):
        net.fit(X, y, sample_weight=sample_weight, epochs=1)


@pytest.mark.parametrize(("net_args", "class_weight", "message"), [
    (("softmax", "cross_entropy", 3), "balance", "class_weight: expected 'balanced' or a"),
    (("softmax", "cross_entropy", 3), [1, 2, 3], "class_weight: expected 'balanced' or a"),
    (("softmax", "cross_entropy", 3), {7: 1.0}, "class_weight: unknown class 7"),
    (("softmax", "cross_entropy", 3), {"x": 1.0}, "class_weight: unknown class 'x'"),
    (("softmax", "cross_entropy", 3), {0: -1.0}, "class_weight: the weight of class 0"),
    (("softmax", "cross_entropy", 3), {0: np.nan}, "class_weight: the weight of class 0"),
    (("softmax", "cross_entropy", 3), {0: "a"}, "class_weight: the weight of class 0 must"),
    (("softmax", "cross_entropy", 3), {0: 0, 1: 0, 2: 0}, "class_weight: with these weights"),
    (("identity", "squared_error", 1), "balanced", "class_weight: applies to classification"),
    (("sigmoid", "binary_cross_entropy", 3), "balanced", "class_weight: needs one class"),
])
def test_bad_class_weight_is_refused_by_name(net_args: tuple[str, str, int],
                                             class_weight: object, message: str) -> None:
    output, loss, n_out = net_args
    net = cr.MLP([2, n_out], output=output, loss=loss, seed=0)
    X = np.zeros((10, 2))
    y = np.arange(10) % 3 if loss == "cross_entropy" else np.zeros((10, n_out))
    with pytest.raises(ValueError, match=message):
        net.fit(X, y, class_weight=class_weight, epochs=1)


def test_weights_of_a_validation_split_leaving_no_weight_are_refused() -> None:
    net = cr.MLP([2, 2], output="softmax", loss="cross_entropy", seed=0)
    X, y = np.zeros((10, 2)), np.arange(10) % 2
    s = np.zeros(10)
    s[0] = 1.0
    with pytest.raises(ValueError, match="sample_weight: every training sample left"):
        for seed in range(20):  # some split puts sample 0 into validation
            net.rng = np.random.default_rng(seed)
            net.fit(X, y, sample_weight=s, validation_split=0.5, epochs=1)


# -- the estimators ----------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_estimators_take_sample_weight_in_fit_and_partial_fit() -> None:
    from chainrule.sklearn import MLPClassifier, MLPRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int)
    s = rng.integers(0, 3, 60).astype(float)
    for est, target in ((MLPClassifier, y), (MLPRegressor, X[:, 1])):
        a = est(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(X, target, s)
        b = est(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(X, target)
        assert not np.allclose(a.network_.params, b.network_.params)
        kwargs = {"classes": [0, 1]} if est is MLPClassifier else {}
        c = est(hidden_layer_sizes=(5,), random_state=0)
        c.partial_fit(X, target, sample_weight=s, **kwargs)
        d = est(hidden_layer_sizes=(5,), random_state=0)
        d.partial_fit(X, target, **kwargs)
        assert not np.allclose(c.network_.params, d.network_.params)
        with pytest.raises(ValueError, match="sample_weight"):
            est(max_iter=2).fit(X, target, sample_weight=-s)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_classifier_class_weight_is_per_class_sample_weight() -> None:
    from chainrule.sklearn import MLPClassifier

    X, y = _imbalanced(400, 0)
    labels = np.array(["common", "rare"])[y]
    cw = {"common": 0.5, "rare": 4.0}
    a = MLPClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=0,
                      class_weight=cw).fit(X, labels)
    b = MLPClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=0).fit(
        X, labels, sample_weight=np.where(y == 1, 4.0, 0.5))
    assert a.network_.params.tobytes() == b.network_.params.tobytes()
    balanced = MLPClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=0,
                             class_weight="balanced").fit(X, labels)
    plain = MLPClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=0).fit(X, labels)
    assert np.mean(balanced.predict(X) == "rare") > np.mean(plain.predict(X) == "rare")
    # partial_fit takes a dict; "balanced" would weigh one call's classes only
    MLPClassifier(class_weight=cw).partial_fit(X, labels, classes=["common", "rare"])
    with pytest.raises(ValueError, match="class_weight 'balanced' is not supported for "
                       "partial_fit"):
        MLPClassifier(class_weight="balanced").partial_fit(X, labels,
                                                           classes=["common", "rare"])
    with pytest.raises(ValueError, match="class_weight: unknown class 1"):
        MLPClassifier(class_weight={1: 2.0}, max_iter=2).fit(X, labels)
    with pytest.raises(ValueError, match="class_weight: needs one class per sample"):
        MLPClassifier(class_weight="balanced", max_iter=2).fit(X, np.c_[y, 1 - y, y])


# -- the CLI -----------------------------------------------------------------------------------
def _write_table(path: Path, X: np.ndarray, labels: list[str]) -> None:
    lines = ["u,v,kind"] + [f"{a!r},{b!r},{c}" for (a, b), c in zip(X.tolist(), labels,
                                                                    strict=True)]
    path.write_text("\n".join(lines) + "\n")


def test_cli_class_weight_balanced_end_to_end(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    X, y = _imbalanced(600, 0)
    _write_table(tmp_path / "t.csv", X, list(np.array(["common", "rare"])[y]))
    recall = {}
    for cw in (None, "balanced"):
        out = tmp_path / f"run-{cw}"
        flags = [] if cw is None else ["--class-weight", cw]
        assert main(["train", "--csv", str(tmp_path / "t.csv"), "--target", "kind",
                     "--epochs", "3", "--cv", "0", "--quiet", "--out", str(out),
                     *flags]) == 0  # one network (600 rows would take the recipe's cv auto)
        config = json.loads((out / "config.json").read_text())
        assert config["class_weight"] == cw
        net = cr.load(out / "model.safetensors")
        recall[cw] = np.mean(net.predict_classes(X)[y == 1] == net.classes.index("rare"))
    assert recall[None] < 0.2 and recall["balanced"] > 0.5  # 3 epochs: 0.0 and 0.72
    # the config file key, and a refusal for regression and for another word
    (tmp_path / "c.toml").write_text(f'csv = "{tmp_path / "t.csv"}"\ntarget = "kind"\n'
                                     'epochs = 1\nclass_weight = "balanced"\n')
    assert main(["train", "--config", str(tmp_path / "c.toml"), "--quiet",
                 "--out", str(tmp_path / "run-config")]) == 0
    config = json.loads((tmp_path / "run-config" / "config.json").read_text())
    assert config["class_weight"] == "balanced"
    capsys.readouterr()
    (tmp_path / "bad.toml").write_text('class_weight = "rare"\n')
    assert main(["train", "--config", str(tmp_path / "bad.toml")]) == 1
    assert "class_weight: expected 'balanced'" in capsys.readouterr().err
    rng = np.random.default_rng(0)
    Xr = rng.uniform(-1, 1, size=(80, 2))
    (tmp_path / "r.csv").write_text("a,b,price\n" + "".join(
        f"{a!r},{b!r},{a + 2 * b + 0.01 * i!r}\n" for i, (a, b) in enumerate(Xr.tolist())))
    assert main(["train", "--csv", str(tmp_path / "r.csv"), "--target", "price",
                 "--epochs", "1", "--quiet", "--class-weight", "balanced",
                 "--out", str(tmp_path / "run-reg")]) == 1
    assert "class_weight balanced: weights classes, and this is regression data" in (
        capsys.readouterr().err)
    assert main(["train", "--class-weight", "rare"]) == 2  # argparse: a usage error
    assert "invalid choice: 'rare'" in capsys.readouterr().err


# -- MPI ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("n_ranks", [3])
def test_weighted_mpi_training_equals_one_process(tmp_path: Path, n_ranks: int) -> None:
    from test_distributed import _check_against_one_process, _train_cases

    name = "f64_weighted_dropout"
    result = _train_cases(tmp_path, n_ranks, "--case", name)
    assert result.returncode == 0, result.stdout
    _check_against_one_process(tmp_path, n_ranks, [name])
