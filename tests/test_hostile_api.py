"""Issue 28, families 6 and 7: the library API refuses hostile arguments with one
ValueError naming the argument, allocates nothing past a stated budget, and explains deep
networks in time proportional to what it shows. A fast Hypothesis slice of
bench/hostile_api.py closes the file."""

from __future__ import annotations

import re
import struct
import time
import tracemalloc
import warnings

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.datasets.idx import IDXError, parse_idx, read_idx
from chainrule.engine import validation
from chainrule.notes import explain as explain_module
from chainrule.notes.explain import explain
from chainrule.training.divergence import DivergenceError

X = np.random.default_rng(0).normal(size=(24, 3))
Y = np.random.default_rng(1).normal(size=(24, 2))
LABELS = (X[:, 0] > 0).astype(np.int64)


# -- sizes, seed, the parameter budget ---------------------------------------------------------
@pytest.mark.parametrize("sizes", [None, 3, "34", object()])
def test_sizes_that_are_not_a_list_are_named(sizes):
    with pytest.raises(ValueError, match=r"^sizes: expected a list of layer widths"):
        cr.MLP(sizes)


@pytest.mark.parametrize("width", [2.0, "4", None, True, [4]])
def test_a_width_that_is_not_an_integer_is_named_by_index(width):
    with pytest.raises(ValueError, match=r"^sizes\[1\]: expected an integer, got"):
        cr.MLP([3, width, 2])


@pytest.mark.parametrize("seed", [-1, "a", 1.5, True, 2**64, float("nan"), [1, -2]])
def test_bad_seeds_are_one_value_error_naming_seed(seed):
    with pytest.raises(ValueError, match=r"^seed: expected an integer in \[0, 9223372036854775807"):
        cr.MLP([3, 4, 2], seed=seed)
    cr.MLP([3, 4, 2], seed=2**63 - 1)  # the largest accepted


@pytest.mark.parametrize("sizes", [[3, 10**12, 2], [3, 10**30, 2], [10**6, 10**6]])
def test_huge_networks_are_refused_before_anything_is_allocated(sizes):
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"^layers: [\d,]+ parameters .*use narrower"):
            cr.MLP(sizes)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**20


def test_the_budget_is_the_memory_available(monkeypatch):
    monkeypatch.setattr(validation, "available_memory", lambda: 2**20)
    cr.MLP([3, 1000, 2])  # 6,002 parameters: 72 KB of float32 × 3
    with pytest.raises(ValueError, match=r"more than the 0\.0 GiB of memory available"):
        cr.MLP([3, 100_000, 2])


def test_hidden_layer_sizes_of_the_estimator_are_checked_before_drawing():
    from chainrule.sklearn import MLPRegressor

    with pytest.raises(ValueError, match=r"^layers: [\d,]+ parameters"):
        MLPRegressor(hidden_layer_sizes=(10**12,), max_iter=1).fit(X, Y[:, 0])


# -- batch_size ----------------------------------------------------------------------------------
@pytest.mark.parametrize("batch_size", [10**30, 2**40, 25])
def test_a_batch_size_past_the_data_is_one_full_batch(batch_size):
    """Clamped: the buffers hold at most the data (2**40 tried 12 TiB, 10**30 was NumPy's
    'Maximum allowed dimension exceeded')."""
    full = cr.MLP([3, 4, 2], seed=0)
    full.fit(X, Y, epochs=3, batch_size=len(X))
    net = cr.MLP([3, 4, 2], seed=0)
    tracemalloc.start()
    try:
        history = net.fit(X, Y, epochs=3, batch_size=batch_size)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**22
    assert len(history.history["loss"]) == 3
    np.testing.assert_allclose(net.params, full.params, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("batch_size", [0, -1, 1.5, "8", None])
def test_bad_batch_sizes_are_named(batch_size):
    with pytest.raises(ValueError, match=r"^batch_size: expected"):
        cr.MLP([3, 4, 2], seed=0).fit(X, Y, epochs=1, batch_size=batch_size)
    with pytest.raises(ValueError, match=r"^batch_size: expected"):
        cr.MLP([3, 4, 2], seed=0).predict(X, batch_size=batch_size)


def test_callbacks_and_l2_that_are_not_what_they_say_are_named():
    with pytest.raises(ValueError, match=r"^callbacks: expected a list of Callback"):
        cr.MLP([3, 4, 2], seed=0).fit(X, Y, epochs=1, callbacks=None)
    with pytest.raises(ValueError, match=r"^l2: expected a finite number"):
        cr.MLP([3, 4, 2], l2=10**400)
    with pytest.raises(ValueError, match=r"^layers: expected a list of Layer"):
        cr.Network(None)


# -- the output a classification loss needs ------------------------------------------------------
@pytest.mark.parametrize(("loss", "output"), [("cross_entropy", "softmax"),
                                              ("binary_cross_entropy", "sigmoid"),
                                              ("squared_error", "identity")])
def test_mlp_gives_the_loss_the_output_it_needs(loss, output):
    assert cr.MLP([3, 4, 2], loss=loss, seed=0).output_activation == output


def test_cross_entropy_trains_with_the_output_it_gets():
    net = cr.MLP([3, 4, 2], loss="cross_entropy", seed=0)
    history = net.fit(X * 100, LABELS, epochs=20)  # identity + cross_entropy diverged here
    assert np.isfinite(history.history["loss"]).all()


@pytest.mark.parametrize(("loss", "output"), [("cross_entropy", "identity"),
                                              ("cross_entropy", "relu"),
                                              ("binary_cross_entropy", "tanh")])
def test_a_classification_loss_on_another_output_is_refused_at_construction(loss, output):
    with pytest.raises(ValueError, match=rf"^loss: {loss} needs a \w+ output layer"):
        cr.MLP([3, 4, 2], output=output, loss=loss)
    with pytest.raises(ValueError, match=rf"^loss: {loss} needs"):
        cr.Network([cr.Dense(3, 2, output)], loss=loss)


@pytest.mark.parametrize(("loss", "output"), [("cross_entropy", "sigmoid"),
                                              ("binary_cross_entropy", "softmax")])
def test_another_probability_output_builds_and_round_trips(loss, output, tmp_path):
    """Non-canonical but in the loss's domain: trains through the general δ^(L) (a 0.1 file
    holding such a pair must still load)."""
    net = cr.MLP([3, 4, 2], output=output, loss=loss, seed=0)
    assert not net.fused_output
    net.fit(X, LABELS if loss == "cross_entropy" else np.eye(2)[LABELS], epochs=2)
    cr.save(net, tmp_path / "m.safetensors")
    np.testing.assert_array_equal(cr.load(tmp_path / "m.safetensors").predict(X), net.predict(X))


def test_divergence_from_the_output_loss_pair_does_not_blame_the_learning_rate():
    net = cr.MLP([3, 4, 2], seed=0)  # identity output ...
    net.loss_fn = cr.losses.get_loss("cross_entropy")  # ... given a classification loss after
    with pytest.raises(DivergenceError) as info:
        net.fit(X * 100, LABELS, epochs=30)
    message = str(info.value)
    assert "needs softmax" in message and "learning rate is not the cause" in message
    assert "lower the learning rate" not in message


# -- scikit-learn labels -------------------------------------------------------------------------
@pytest.mark.parametrize("y", [np.array(["a", 1] * 12, dtype=object),
                               np.array(["a", None] * 12, dtype=object),
                               np.array([1, "b"] * 12, dtype=object)])
def test_mixed_labels_are_one_line_naming_y(y):
    from chainrule.sklearn import MLPClassifier

    with pytest.raises(ValueError, match=r"^y: class labels mix strings and other values"):
        MLPClassifier(max_iter=2).fit(X, y)


@pytest.mark.parametrize(("y", "match"), [
    (3, r"^y: expected an array of shape \(n_samples,\)"),
    ([[1, 2], [3]], r"^y: expected a rectangular array"),
    (np.array([10**30, 1] * 12, dtype=object), r"^y: Unknown label type: Python objects"),
    (np.where(LABELS > 0, 1.0, np.nan), r"^X, y: Input y contains NaN"),
])
def test_other_hostile_labels_are_named(y, match):
    from chainrule.sklearn import MLPClassifier

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ValueError, match=match):
            MLPClassifier(max_iter=2).fit(X, y)


def test_nan_classes_are_named_without_a_numpy_warning():
    from chainrule.sklearn import MLPClassifier

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ValueError, match=r"^classes: class labels contain nan"):
            MLPClassifier().partial_fit(X, LABELS, classes=np.array([0.0, np.nan]))


@pytest.mark.parametrize("random_state", [-1, 2**32, 1.5, "a"])
def test_a_bad_random_state_is_named(random_state):
    from chainrule.sklearn import MLPClassifier

    with pytest.raises(ValueError, match=r"^random_state: expected None, an integer"):
        MLPClassifier(max_iter=2, random_state=random_state).fit(X, LABELS)


def test_multi_label_sigmoid_model_with_classes_predicts(tmp_path, capsys):
    """A multi-output sigmoid network with classes: predict wrote 'only integer scalar
    arrays can be converted to a scalar index'."""
    from chainrule.cli import main

    net = cr.MLP([3, 4, 3], output="sigmoid", loss="binary_cross_entropy", seed=0)
    net.classes = ["a", "b", "c"]
    cr.save(net, tmp_path / "m.safetensors")
    np.savetxt(tmp_path / "x.csv", X[:5], delimiter=",", header="x0,x1,x2", comments="")
    assert main(["predict", str(tmp_path / "m.safetensors"), "--csv",
                 str(tmp_path / "x.csv")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("label,prob_a,prob_b,prob_c") and len(lines) == 6


# -- IDX headers ---------------------------------------------------------------------------------
def _idx(shape: tuple[int, ...], code: int = 8, body: bytes = b"") -> bytes:
    return (struct.pack(">BBBB", 0, 0, code, len(shape))
            + b"".join(struct.pack(">I", d) for d in shape) + body)


@pytest.mark.parametrize("shape", [(0, 2**32 - 1, 2**32 - 1), (2**32 - 1, 0), (0, 2**31, 3)])
def test_an_idx_header_declaring_an_empty_but_huge_array_is_an_idx_error(tmp_path, shape):
    path = tmp_path / "h.idx"
    path.write_bytes(_idx(shape))
    with pytest.raises(IDXError, match=r"non-zero dimensions span [\d,]+ bytes"):
        read_idx(path)
    with pytest.raises(IDXError, match=r"non-zero dimensions span"):
        parse_idx(_idx(shape))
    assert parse_idx(_idx((0, 5))).shape == (0, 5)  # an honest empty array still reads


# -- time: explain and graph proportional to what they show --------------------------------------
def test_explaining_every_layer_of_a_deep_network_is_linear():
    """4,000 width-1 layers ran past 120 s (one explain per layer, each O(L))."""
    net = cr.MLP([1] * 1500 + [1], hidden="tanh", seed=0)
    start = time.perf_counter()
    explanations = explain_module.explain_layers(net, np.ones((1, 1)), np.ones((1, 1)))
    elapsed = time.perf_counter() - start
    assert len(explanations) == 1500 and elapsed < 10  # a bound, not a benchmark


@pytest.mark.parametrize(("sizes", "output", "loss", "y"), [
    ([3, 5, 4, 2], "identity", "squared_error", [[0.5, -1.0]]),
    ([4, 6, 3], "softmax", "cross_entropy", [1]),
    ([4, 6, 3], "sigmoid", "binary_cross_entropy", [[1, 0, 1]]),
])
def test_explain_layers_equals_explain_weight_by_weight(sizes, output, loss, y):
    net = cr.MLP(sizes, hidden="tanh", output=output, loss=loss, seed=1, dropout=0.2)
    x = np.random.default_rng(2).normal(size=(1, sizes[0]))
    for e in explain_module.explain_layers(net, x, y):
        one = explain(net, x, y, layer=e.layer, j=e.j, k=e.k)
        assert (e.product, e.delta, e.dC_da, e.a_prev_k) == (
            one.product, one.delta, one.dC_da, one.a_prev_k)
        assert e.finite_difference == pytest.approx(one.finite_difference, rel=1e-6, abs=1e-9)
        assert e.finite_difference == pytest.approx(e.product, rel=1e-4, abs=1e-7)


@pytest.mark.parametrize("h", [0, -1e-6, float("nan"), "a", None])
def test_a_bad_finite_difference_step_is_named(h):
    with pytest.raises(ValueError, match=r"^h: expected a finite number"):
        explain(cr.MLP([3, 4, 2], seed=0), X[:1], Y[:1], layer=1, j=0, k=0, h=h)


# -- the campaign's fast slice -------------------------------------------------------------------
HOSTILE = st.sampled_from([None, -1, 0, 10**30, 2**40, float("nan"), float("inf"), "a", "",
                           [[1, 2], [3]], 1.5, True, object()])


NAMED = re.compile(r"^[^\s:,]+(, [^\s:,]+)*: [^\n]+$")


def _documented(call) -> None:
    """``call`` returns, or raises one ValueError whose one line names what it refuses."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        try:
            call()
        except ValueError as exc:
            assert NAMED.match(str(exc)), str(exc)


@settings(max_examples=25, deadline=None)
@given(keyword=st.sampled_from(["hidden", "output", "loss", "dropout", "init", "bias", "dtype",
                                "l2", "seed", "fused"]), value=HOSTILE)
def test_mlp_keywords(keyword, value):
    _documented(lambda: cr.MLP([3, 4, 2], **{keyword: value}))


@settings(max_examples=25, deadline=None)
@given(keyword=st.sampled_from(["batch_size", "optimizer", "shuffle", "validation_data",
                                "validation_split", "callbacks", "sample_weight",
                                "class_weight", "start_epoch"]), value=HOSTILE)
def test_fit_keywords(keyword, value):
    _documented(lambda: cr.MLP([3, 4, 2], seed=0).fit(X, Y, epochs=1, **{keyword: value}))


@settings(max_examples=20, deadline=None)
@given(shape=st.lists(st.sampled_from([0, 1, 3, 2**31, 2**32 - 1]), min_size=1, max_size=4),
       code=st.sampled_from([8, 0x0B, 0x0E]), extra=st.integers(0, 3))
@example(shape=[0, 2**32 - 1, 2**32 - 1], code=8, extra=0)
def test_idx_headers(shape, code, extra):
    try:
        parse_idx(_idx(tuple(shape), code, bytes(extra)))
    except IDXError as exc:
        assert "\n" not in str(exc)


# -- what the campaign found besides the cases ------------------------------------------
def test_values_past_the_dtype_are_named_not_cast_to_inf():
    big = X.copy()
    big[2, 1] = 1e300
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ValueError, match=r"^X: 1e\+300 at index \[2, 1\] is outside float32"):
            cr.MLP([3, 4, 2], seed=0).fit(big, Y, epochs=1)
        with pytest.raises(ValueError, match=r"^Y: -1e\+308 at index \[0, 0\] is outside"):
            cr.MLP([3, 4, 2], seed=0).fit(X, np.where(Y == Y[0, 0], -1e308, Y), epochs=1)
    cr.MLP([3, 4, 2], seed=0, dtype="float64").fit(big / 1e250, Y, epochs=1)  # float64 holds it


@pytest.mark.parametrize(("call", "match"), [
    (lambda: cr.Dense(3, 2, w=[[1, 2], [3]]), r"^w: expected a rectangular array"),
    (lambda: cr.Dense(3, 2, b=[[1, 2], [3]]), r"^b: expected a rectangular array"),
    (lambda: explain(cr.MLP([3, 4, 2], seed=0), 1.5, Y[:1], layer=1, j=0, k=0),
     r"^x: expected an array of shape \(n_in,\)"),
    (lambda: explain(cr.MLP([3, 4, 2], seed=0), X[:1], [[1, 2], [3]], layer=1, j=0, k=0),
     r"^y: expected a rectangular array"),
])
def test_ragged_and_scalar_arrays_are_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.filterwarnings("ignore:Stochastic Optimizer. Maximum iterations:UserWarning")
def test_the_estimators_name_x_in_scikit_learns_input_errors():
    from chainrule.sklearn import MLPClassifier

    clf = MLPClassifier(max_iter=2).fit(X, LABELS)
    with pytest.raises(ValueError, match=r"^X: Expected 2D array, got 1D array instead: "
                                         r"array=\[1\.\]\. Reshape your data"):
        clf.predict([1])
    with pytest.raises(ValueError, match=r"^classes: expected a rectangular array"):
        MLPClassifier().partial_fit(X, LABELS, classes=[[1, 2], [3]])


def test_predict_refuses_outputs_that_overflow_naming_the_rows():
    """Issue 28: X = 3e38 in a float32 network overflowed in the first layer and predict
    returned inf/nan silently (after a NumPy warning)."""
    net = cr.MLP([3, 4, 2], loss="cross_entropy", seed=0)
    X_big = np.zeros((4, 3), dtype=np.float32)
    X_big[2] = 3e38
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"^predict: 1 of 4 rows of outputs are not finite "
                                             r"\(nan or inf\), rows 2; .*allow_nonfinite=True"):
            net.predict(X_big)
        a = net.predict(X_big, allow_nonfinite=True)
    assert not np.isfinite(a[2]).all() and np.isfinite(a[[0, 1, 3]]).all()


def test_the_health_probe_of_a_very_wide_network_fits_its_budget():
    """Issue 28 (diagnose on a model with a 30,000-unit layer peaked over 2 × input +
    200 MB): the monitor's probe keeps its 256 rows on ordinary networks and takes fewer
    where their activations would pass PROBE_BUDGET."""
    from chainrule.health.monitor import PROBE_BUDGET, probe_rows

    assert probe_rows(cr.MLP([784, 256, 128, 10]), 256) == 256
    wide = cr.MLP([64, 30_000, 2], dtype="float64")
    rows = probe_rows(wide, 256)
    assert 1 <= rows < 256 and rows * 4 * 8 * (64 + 30_002) <= PROBE_BUDGET


def test_divergence_advice_blames_only_a_pair_the_network_would_refuse():
    """One rule (engine.output.pair_problem) for construction and the loss guard: a sound
    non-canonical pair (cross_entropy + sigmoid) is not blamed for a divergence."""
    from chainrule.engine.losses import get_loss
    from chainrule.training.divergence import pair_advice

    assert pair_advice(get_loss("cross_entropy"), "sigmoid") is None
    assert pair_advice(get_loss("binary_cross_entropy"), "softmax") is None
    assert "needs softmax" in str(pair_advice(get_loss("cross_entropy"), "identity"))
    assert pair_advice(get_loss("squared_error"), "identity") is None
