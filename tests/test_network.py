import numpy as np
import pytest

import chainrule as cr


def test_weights_are_n_out_by_n_in_views_of_one_flat_buffer():
    net = cr.MLP([3, 4, 2], seed=0)
    d1, d2 = net.dense_layers
    assert d1.w.shape == (4, 3) and d1.b.shape == (4,) and d2.w.shape == (2, 4)
    assert net.n_params == 4 * 3 + 4 + 2 * 4 + 2
    assert np.shares_memory(d1.w, net.params) and np.shares_memory(d2.grad_b, net.grads)
    d1.w = np.ones((4, 3))  # assignment writes through into the buffer
    assert np.all(net.params[:12] == 1)
    assert [p.shape for p in net.parameters()] == [(4, 3), (4,), (2, 4), (2,)]
    with pytest.raises(ValueError, match=r"w: expected shape \(4, 3\)"):
        d1.w = np.ones((3, 4))


def test_forward_is_the_notes_formula(rng):
    """z = a_prev @ w.T + b, a = g(z), kept per layer."""
    net = cr.MLP([3, 4, 2], hidden="tanh", output="sigmoid", dtype="float64", seed=0)
    X = rng.standard_normal((5, 3))
    trace = net.forward(net.inputs(X))
    out = trace.a_L
    d1, d2 = net.dense_layers
    z1 = X @ d1.w.T + d1.b
    np.testing.assert_allclose(trace.z[0], z1)
    np.testing.assert_allclose(trace.a[1], np.tanh(z1))
    np.testing.assert_allclose(out, 1 / (1 + np.exp(-(np.tanh(z1) @ d2.w.T + d2.b))))
    assert len(trace.a) == 3 and len(trace.z) == 2  # a^(0), a^(1), a^(2); z^(1), z^(2)


def test_multi_output_regression_gradient_is_exact(rng):
    """scikit-learn's MLPRegressor is n_outputs times off here (their #8349); we are exact."""
    net = cr.MLP([4, 6, 5], hidden="relu", output="identity", loss="squared_error",
                 dtype="float64", seed=0)
    net.params[...] = rng.standard_normal(net.n_params) * 0.5
    X, Y = rng.standard_normal((10, 4)), rng.standard_normal((10, 5))
    report = cr.gradcheck(net, X, Y)
    assert report.max_rel_error < 1e-6
    for loss in ("mse", "huber"):
        net2 = cr.MLP([4, 6, 5], hidden="relu", loss=loss, dtype="float64", seed=0)
        net2.params[...] = net.params
        assert cr.gradcheck(net2, X, Y).max_rel_error < 1e-6


def test_float32_stays_float32(rng):
    net = cr.MLP([3, 4, 2], hidden="gelu", output="softmax", loss="cross_entropy", seed=0)
    X = rng.standard_normal((6, 3))  # float64 input is cast once, at the boundary
    trace = net.forward(net.inputs(X))
    net.backward(trace, net.targets([0, 1, 1, 0, 1, 0], 6))
    for i, d in enumerate(net.dense_layers):
        assert trace.z[i].dtype == trace.a[i + 1].dtype == d.grad_w.dtype == np.float32
    assert net.predict(X).dtype == np.float32
    assert cr.MLP([3, 2], dtype="float64").params.dtype == np.float64


def test_same_seed_same_initial_weights_different_seed_different():
    a, b, c = (cr.MLP([5, 7, 3], seed=s) for s in (1, 1, 2))
    np.testing.assert_array_equal(a.params, b.params)
    assert not np.array_equal(a.params, c.params)
    g = np.random.default_rng(1)
    assert cr.MLP([5, 7, 3], rng=g).rng is g


def test_dropout_is_identity_at_predict_and_scales_in_training(rng):
    net = cr.Network([cr.Dense(4, 200, "relu"), cr.Dropout(0.5), cr.Dense(200, 1)], seed=0,
                     dtype="float64")
    X = rng.standard_normal((3, 4))
    np.testing.assert_array_equal(net.predict(X), net.predict(X))
    mask = net.forward(net.inputs(X), training=True).mask[1]
    assert set(np.unique(mask)) <= {0.0, 2.0} and 0.3 < (mask == 0).mean() < 0.7
    assert cr.gradcheck(net, X, rng.standard_normal((3, 1))).max_rel_error < 1e-6


def test_l2_penalty_adds_lambda_w_to_weight_gradients_only(rng):
    X, Y = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    plain = cr.MLP([3, 2], dtype="float64", seed=0)
    reg = cr.MLP([3, 2], dtype="float64", seed=0, l2=0.3)
    g0 = plain.gradient(X, Y).copy()
    reg.gradient(X, Y)
    d = reg.dense_layers[0]
    np.testing.assert_allclose(d.grad_w, g0[:6].reshape(2, 3) + 0.3 * d.w)
    np.testing.assert_allclose(d.grad_b, g0[6:])
    assert reg.loss(X, Y) == pytest.approx(plain.loss(X, Y) + 0.15 * np.sum(d.w**2))
    assert cr.gradcheck(reg, X, Y).max_rel_error < 1e-6


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda n: n.fit(np.ones((4, 3)), np.ones((5, 2)), epochs=1), r"Y: expected 4 rows"),
        (lambda n: n.predict(np.ones((4, 5))), r"X: expected 3 features per sample"),
        (lambda n: n.fit(np.array([[1, np.nan, 0]] * 2), np.ones((2, 2))), r"X: contains NaN"),
        (lambda n: n.fit(np.ones((2, 3)), np.array([[1, np.inf]] * 2)), r"Y: contains NaN or inf"),
        (lambda n: n.fit(np.empty((0, 3)), np.empty((0, 2))), r"X: expected at least one sample"),
        (lambda n: n.fit(np.ones((2, 3)), np.ones(2)), r"Y: got a 1-D target but the output"),
        (lambda n: n.fit(np.ones((2, 3)), np.ones((2, 2)), epochs=-1), r"epochs: expected a non"),
        (lambda n: n.fit(np.ones((2, 3)), np.ones((2, 2)), batch_size=0), r"batch_size"),
        (lambda n: n.fit(np.ones((2, 3)), np.ones((2, 2)), optimizer="adagrad"),
         r"unknown optimizer 'adagrad'; valid names are sgd, momentum"),
        (lambda n: n.predict([["a", "b", "c"]]), r"X: expected numeric values"),
        (lambda n: n.predict([[1, 2], [3]]), r"X: expected a rectangular"),
    ],
)
def test_bad_input_gets_a_clear_value_error(call, match):
    net = cr.MLP([3, 2], seed=0)
    with pytest.raises(ValueError, match=match):
        call(net)


def test_labels_outside_the_output_range_are_refused():
    net = cr.MLP([3, 4], output="softmax", loss="cross_entropy", seed=0)
    with pytest.raises(ValueError, match=r"label 4 is outside the output layer's range 0..3"):
        net.fit(np.ones((2, 3)), [0, 4], epochs=1)
    with pytest.raises(ValueError, match="integer class labels"):
        net.loss(np.ones((2, 3)), [0.5, 1])
    bce = cr.MLP([3, 1], output="sigmoid", loss="binary_cross_entropy", seed=0)
    with pytest.raises(ValueError, match=r"binary_cross_entropy targets must lie in \[0, 1\]"):
        bce.loss(np.ones((2, 3)), [0, 2])


def test_construction_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"layers\[1\]: n_in=5 does not match .* n_out=4"):
        cr.Network([cr.Dense(3, 4), cr.Dense(5, 2)])
    with pytest.raises(ValueError, match="unknown activation 'foo'"):
        cr.Dense(3, 4, "foo")
    with pytest.raises(ValueError, match="unknown loss 'l1'"):
        cr.MLP([3, 2], loss="l1")
    with pytest.raises(ValueError, match="n_out: expected a positive integer, got 0"):
        cr.MLP([3, 0, 2])
    with pytest.raises(ValueError, match="dtype: expected one of float32, float64"):
        cr.MLP([3, 2], dtype="float16")
    with pytest.raises(ValueError, match="layers: expected at least one Dense"):
        cr.Network([])
    with pytest.raises(ValueError, match="init: unknown initializer"):
        cr.Dense(3, 4, init="zeros")
    with pytest.raises(ValueError, match="rate: expected a number in"):
        cr.Dropout(1.0)


@pytest.mark.parametrize("init", list(cr.INITIALIZERS))
def test_initializers_have_the_documented_spread(init):
    net = cr.Network([cr.Dense(400, 300, "relu", init=init)], seed=0, dtype="float64")
    w = net.dense_layers[0].w
    expected = {"glorot_uniform": 2 / 700, "glorot_normal": 2 / 700, "he_uniform": 2 / 400,
                "he_normal": 2 / 400, "lecun_normal": 1 / 400, "scaled_normal": 1e-4}[init]
    assert w.var() == pytest.approx(expected, rel=0.05)
    assert abs(w.mean()) < 0.01
