"""Ensembles trained as one batched computation (chainrule.engine.ensemble): the grouped
layer and the ensemble's cost against finite differences, the ensemble's gradient against
its members' own networks, K = 1 against a plain network, member weights that keep a
fold's test rows away from its member (a planted leak), and the model file."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.engine.ensemble import Ensemble, GroupedDense
from chainrule.engine.layers import DenseBuffers

#: (output activation, loss, outputs, fused) of the heads tested.
HEADS = {
    "softmax+ce": ("softmax", "cross_entropy", 3, True),
    "sigmoid+bce": ("sigmoid", "binary_cross_entropy", 1, True),
    "identity+mse": ("identity", "squared_error", 2, True),
    "softmax+ce general": ("softmax", "cross_entropy", 3, False),
}


def _data(head: str, n: int = 11, n_in: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_in))
    _, loss, n_out, _ = HEADS[head]
    if loss == "cross_entropy":
        Y = np.eye(n_out)[rng.integers(0, n_out, n)]
    elif loss == "binary_cross_entropy":
        Y = rng.integers(0, 2, (n, n_out)).astype(float)
    else:
        Y = rng.normal(size=(n, n_out))
    return X, Y


def _ensemble(head: str, K: int = 3, l2: float = 0.0, dtype: str = "float64",
              seed: int = 1) -> Ensemble:
    out, loss, n_out, fused = HEADS[head]
    net = cr.MLP([4, 5, 3, n_out], hidden="tanh", output=out, loss=loss, ensemble=K,
                 seed=seed, dtype=dtype, l2=l2, fused=fused)
    assert isinstance(net, Ensemble)
    for p in net.parameters():  # biases away from zero, so that their gradient is tested
        p[...] += np.random.default_rng(seed + 7).normal(scale=0.3, size=p.shape)
    return net


# -- the grouped layer ---------------------------------------------------------------------
@pytest.mark.parametrize("shared", [True, False])
def test_grouped_layer_backward_equals_finite_differences(shared):
    """C = Σ R ⊙ a for a fixed R: backward's ∂C/∂w, ∂C/∂b and ∂C/∂a_prev against central
    differences (float64)."""
    K, n, n_in, n_out = 3, 5, 4, 2
    rng = np.random.default_rng(0)
    layer = GroupedDense(n_in, n_out, "tanh", members=K)
    net = cr.Network([layer], seed=0, dtype="float64")  # binds w and b
    layer.shared_input = shared  # the ensemble made it its first layer: shared
    layer.w = rng.normal(size=(K, n_out, n_in))
    layer.b = rng.normal(size=(K, n_out))
    a_prev = rng.normal(size=(n if shared else K * n, n_in))
    R = rng.normal(size=(K * n, n_out))

    def cost():
        return float(np.sum(R * layer.forward(a_prev)[1]))

    z, a, _ = layer.forward(a_prev)
    _, grad_prev = layer.backward(a_prev, z, a, R)
    h = 1e-6
    for target, grad in ((layer.w, layer.grad_w), (layer.b, layer.grad_b), (a_prev, grad_prev)):
        fd = np.zeros_like(target)
        for idx in np.ndindex(target.shape):
            v = target[idx]
            target[idx] = v + h
            plus = cost()
            target[idx] = v - h
            minus = cost()
            target[idx] = v
            fd[idx] = (plus - minus) / (2 * h)
        np.testing.assert_allclose(grad, fd, rtol=1e-7, atol=1e-9)
    assert net.members == K


@pytest.mark.parametrize("shared", [True, False])
def test_grouped_layer_equals_a_loop_over_members_and_its_buffers(shared):
    """Each member's rows are a plain Dense layer's forward and backward (1e-12 float64),
    with or without the workspace's buffers."""
    K, n, n_in, n_out = 4, 6, 3, 5
    rng = np.random.default_rng(1)
    layer = GroupedDense(n_in, n_out, "softmax", members=K)
    cr.Network([layer], loss="cross_entropy", seed=0, dtype="float64")
    layer.shared_input = shared
    a_prev = rng.normal(size=(n if shared else K * n, n_in))
    grad_a = rng.normal(size=(K * n, n_out))
    for out in (None, layer.buffers(n)):
        z, a, _ = layer.forward(a_prev, out=out)
        delta, grad_prev = layer.backward(a_prev, z, a, grad_a, out=out)
        prev_sum = np.zeros((n, n_in))
        for m in range(K):
            plain = layer.member(m)
            cr.Network([plain], loss="cross_entropy", dtype="float64")
            rows = slice(m * n, (m + 1) * n)
            x = a_prev if shared else a_prev[rows]
            zm, am, _ = plain.forward(x)
            dm, gm = plain.backward(x, zm, am, grad_a[rows])
            np.testing.assert_allclose(z[rows], zm, rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(a[rows], am, rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(delta[rows], dm, rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(layer.grad_w[m], plain.grad_w, rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(layer.grad_b[m], plain.grad_b, rtol=1e-12, atol=1e-14)
            if shared:
                prev_sum += gm
            else:
                np.testing.assert_allclose(grad_prev[rows], gm, rtol=1e-12, atol=1e-14)
        if shared:
            np.testing.assert_allclose(grad_prev, prev_sum, rtol=1e-12, atol=1e-13)
        assert out is None or isinstance(out, DenseBuffers)


# -- the ensemble's cost and gradient ---------------------------------------------------------
@pytest.mark.parametrize("head", sorted(HEADS))
def test_ensemble_gradient_equals_finite_differences(head):
    net = _ensemble(head, l2=0.01)
    X, Y = _data(head)
    grad = np.array(net.gradient(X, Y), copy=True)
    h = 1e-6
    fd = np.zeros_like(net.params)
    for i in range(net.n_params):
        v = net.params[i]
        net.params[i] = v + h
        plus = net.loss(X, Y)
        net.params[i] = v - h
        minus = net.loss(X, Y)
        net.params[i] = v
        fd[i] = (plus - minus) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)
    assert np.max(np.abs(grad - fd)) <= 1e-7 * np.max(np.abs(fd))


@pytest.mark.parametrize("head", sorted(HEADS))
def test_ensemble_gradient_is_the_members_gradients_stacked(head):
    """∂C/∂w_m of the ensemble = (1/K) ∂C_m/∂w of member m as a plain Network with the same
    weights (1e-12, float64, with L2); the cost is the members' mean cost; predict is the
    mean of the members' predictions."""
    K = 3
    net = _ensemble(head, K=K, l2=0.02)
    X, Y = _data(head)
    net.gradient(X, Y)
    members = [net.member(m) for m in range(K)]
    costs = []
    for m, plain in enumerate(members):
        plain.gradient(X, Y)
        for g, own in zip(net.gradients(), plain.gradients(), strict=True):
            np.testing.assert_allclose(g[m], own / K, rtol=1e-12, atol=1e-15)
        costs.append(plain.loss(X, Y))
    np.testing.assert_allclose(net.loss(X, Y), np.mean(costs), rtol=1e-12)
    mean = np.mean([plain.predict(X) for plain in members], axis=0)
    np.testing.assert_allclose(net.predict(X), mean, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(net.predict_members(X), [p.predict(X) for p in members],
                               rtol=1e-12, atol=1e-15)


def test_float32_ensemble_equals_float64_to_1e6():
    net64 = _ensemble("softmax+ce", dtype="float64")
    net32 = net64.copy(dtype="float32")
    X, Y = _data("softmax+ce")
    g64 = np.array(net64.gradient(X, Y))
    g32 = np.array(net32.gradient(X, Y), dtype=np.float64)
    assert np.max(np.abs(g32 - g64)) <= 1e-6 * np.max(np.abs(g64))
    np.testing.assert_allclose(net32.predict(X), net64.predict(X), rtol=1e-6, atol=1e-7)


def test_an_ensemble_of_one_is_the_plain_network():
    """K = 1 draws the same weights from the same seed, and computes, trains and predicts
    exactly as the plain network on the NumPy path."""
    kw = dict(hidden="relu", loss="cross_entropy", seed=3, dtype="float64", dropout=0.2)
    plain = cr.MLP([4, 8, 3], **kw)
    one = Ensemble([cr.Dense(4, 8, "relu"), cr.Dropout(0.2), cr.Dense(8, 3, "softmax")],
                   "cross_entropy", ensemble=1, seed=3, dtype="float64")
    np.testing.assert_array_equal(one.params, plain.params)
    X, Y = _data("softmax+ce", n=40)
    np.testing.assert_array_equal(one.gradient(X, Y), plain.gradient(X, Y))
    np.testing.assert_array_equal(one.predict(X), plain.predict(X))
    for net in (plain, one):  # dropout: the NumPy step for both (no compiled step)
        net.fit(X, Y, epochs=3, batch_size=8)
    np.testing.assert_array_equal(one.params, plain.params)


# -- member weights: K folds as K members ----------------------------------------------------
def test_a_member_never_learns_its_test_folds_planted_leak():
    """Each fold's test rows carry their target copied into a leak column (elsewhere noise).
    Member m trains with weight 0 on fold m's rows: it must not learn the leak, so on its
    own test fold it does no better than chance — while a member that did see those rows
    reads the target from the leak."""
    rng = np.random.default_rng(0)
    K, n = 3, 600
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, 3))  # no signal in these
    fold = np.arange(n) % K
    leak = rng.normal(size=n)
    leak[fold == 0] = 4.0 * (2 * y[fold == 0] - 1)  # the leak: only in fold 0's rows
    X = np.column_stack([X, leak])
    W = (fold[:, None] != np.arange(K)[None, :]).astype(float)  # member m skips fold m
    net = cr.MLP([4, 16, 2], loss="cross_entropy", ensemble=K, seed=0)
    net.fit(X, y, epochs=40, batch_size=32, member_weights=W, optimizer="adam")
    P = net.predict_members(X)
    test0 = fold == 0
    acc = [(P[m][test0].argmax(axis=1) == y[test0]).mean() for m in range(K)]
    assert acc[1] > 0.95 and acc[2] > 0.95  # they trained on fold 0: they read the leak
    assert acc[0] < 0.65  # member 0 never saw a leaking row: chance level on its test fold


def test_member_weights_equal_each_member_trained_on_its_rows():
    """With full-batch gradient descent, member m of a fit with weights W is the network
    trained alone on its rows (the weighted mean over W[:, m] > 0), up to the ensemble's
    1/K (plain SGD with the learning rate times K)."""
    K, n = 3, 30
    X, Y = _data("identity+mse", n=n)
    fold = np.arange(n) % K
    W = (fold[:, None] != np.arange(K)[None, :]).astype(float)
    net = _ensemble("identity+mse", K=K)
    alone = [net.member(m) for m in range(K)]
    net.fit(X, Y, epochs=5, batch_size=n, member_weights=W, optimizer=cr.SGD(lr=0.05 * K),
            shuffle=False)
    for m, plain in enumerate(alone):
        rows = fold != m
        plain.fit(X[rows], Y[rows], epochs=5, batch_size=n, optimizer=cr.SGD(lr=0.05),
                  shuffle=False)
        np.testing.assert_allclose(net.member(m).params, plain.params, rtol=1e-10,
                                   atol=1e-12)


@pytest.mark.parametrize("W, match", [
    (np.ones((10, 2)), r"member_weights: expected shape \(10, 3\)"),
    (-np.ones((10, 3)), r"member_weights: weights must be finite and non-negative, got -1.0 "
                        r"at row 0, member 0"),
    (np.column_stack([np.ones(10), np.zeros(10), np.ones(10)]),
     r"member_weights: member 1's column is all zero"),
    ([["a"] * 3] * 10, r"member_weights: expected real numbers"),
])
def test_bad_member_weights_are_one_line_naming_the_argument(W, match):
    net = cr.MLP([4, 3, 2], loss="squared_error", ensemble=3, seed=0)
    X, Y = _data("identity+mse", n=10)
    with pytest.raises(ValueError, match=match):
        net.fit(X, Y, epochs=1, member_weights=W)


def test_bad_ensemble_arguments():
    with pytest.raises(ValueError, match=r"ensemble: expected a positive integer, got 0"):
        cr.MLP([2, 3, 1], ensemble=0)
    net = cr.MLP([2, 3, 1], ensemble=2, seed=0)
    with pytest.raises(ValueError, match=r"member: expected an integer in 0..1, got 2"):
        net.member(2)
    with pytest.raises(ValueError, match=r"layers\[0\]: a Dense layer with weights"):
        cr.Network([cr.Dense(2, 1, w=np.ones((1, 2)))], ensemble=2)
    with pytest.raises(ValueError, match=r"backend: ensembles run on the numpy backend only"):
        cr.MLP([2, 3, 1], ensemble=2, backend="array_api_strict")
    with pytest.raises(ValueError, match=r"trace.z_L: an ensemble has its K members' z"):
        _ = net.forward(net.inputs(np.zeros((2, 2)))).z_L
    assert repr(net).startswith("Ensemble([GroupedDense(2, 3") and "members=2)" in repr(net)


# -- files -----------------------------------------------------------------------------------
def test_ensemble_round_trips_through_one_model_file(tmp_path):
    X, Y = _data("softmax+ce", n=30)
    net = cr.MLP([4, 6, 3], loss="cross_entropy", ensemble=4, dropout=0.1, seed=2)
    net.fit(X, Y, epochs=2, batch_size=8)
    path = cr.save(net, tmp_path / "ens.safetensors")
    back = cr.load(path)
    assert isinstance(back, Ensemble) and back.members == 4
    np.testing.assert_array_equal(back.params, net.params)
    np.testing.assert_array_equal(back.predict(X), net.predict(X))
    net.fit(X, Y, epochs=1, batch_size=8)  # resumed: the same steps as uninterrupted
    back.fit(X, Y, epochs=1, batch_size=8)
    np.testing.assert_array_equal(back.params, net.params)
    twin = Ensemble.from_members([net.member(m) for m in range(4)])
    np.testing.assert_array_equal(twin.params, net.params)


def test_a_layer_before_the_first_dense_is_shared_by_every_member():
    """A layer with parameters in front (an embedding's place) reads a^(0) once for all
    members: its gradient is the sum of what every member's first layer sends back, checked
    against finite differences (float64); a member cannot be taken out alone."""
    from chainrule.engine.layer import LAYERS, Layer

    class Gain(Layer):
        name = "TestEnsembleGain"

        def __init__(self) -> None:
            self.n_in = self.n_out = 4

        def connect(self, n_prev):
            pass

        def param_shapes(self):
            return [("gain", (self.n_in,))]

        def build(self, rng, dtype):
            return {"gain": (1.0 + 0.5 * rng.standard_normal(self.n_in)).astype(dtype)}

        def bind(self, params, grads):
            self.gain, self.grad_gain = params["gain"], grads["gain"]

        def forward(self, a_prev, *, training=False, rng=None, out=None):
            return None, a_prev * self.gain, None

        def backward(self, a_prev, z, a, grad_a, *, mask=None, need_grad_prev=True, out=None):
            self.grad_gain[...] = (grad_a * a_prev).sum(axis=0)
            return None, grad_a * self.gain

        def get_config(self):
            return {"type": self.name}

    try:
        net = cr.Network([Gain(), cr.Dense(4, 5, "tanh"), cr.Dense(5, 3, "softmax")],
                         "cross_entropy", ensemble=3, seed=0, dtype="float64")
        assert [getattr(layer, "shared_input", None) for layer in net.layers] == [
            None, True, False]
        X, Y = _data("softmax+ce")
        grad = np.array(net.gradient(X, Y), copy=True)
        h = 1e-6
        for i in range(4):  # the shared gains sit first in params
            v = net.params[i]
            net.params[i] = v + h
            plus = net.loss(X, Y)
            net.params[i] = v - h
            minus = net.loss(X, Y)
            net.params[i] = v
            np.testing.assert_allclose(grad[i], (plus - minus) / (2 * h), rtol=1e-6)
        with pytest.raises(ValueError, match=r"member: the ensemble's Gain layer is shared"):
            net.member(0)
    finally:
        LAYERS.pop("TestEnsembleGain", None)


def test_regression_outputs_start_at_the_targets_scale_in_every_member():
    """init_output_from_targets on an ensemble does for every member what it does for that
    member as a plain network (weights scaled by the targets' sd, biases their mean)."""
    X, Y = _data("identity+mse", n=30)
    Y = Y * np.array([5.0, 0.1]) + np.array([3.0, -1.0])
    net = _ensemble("identity+mse", K=3)
    members = [net.member(m) for m in range(3)]
    net.init_output_from_targets(Y)
    for m, plain in enumerate(members):
        plain.init_output_from_targets(Y)
        np.testing.assert_allclose(net.member(m).params, plain.params, rtol=1e-12)
    np.testing.assert_allclose(net.output_layer.b, np.tile(Y.mean(axis=0), (3, 1)))


def test_a_network_with_a_layer_before_dense_and_a_scaler_saves_and_loads(tmp_path):
    """The file's scaler is as wide as the network's input (the first layer's n_in), not
    the first Dense layer's: a front layer that widens a^(0) (an embedding) loads back."""
    from chainrule.engine.layer import LAYERS, Layer

    class Widen(Layer):
        name = "TestEnsembleWiden"
        config_schema = None

        def __init__(self, n_in):
            self.n_in, self.n_out = n_in, 2 * n_in

        def connect(self, n_prev):
            pass

        def forward(self, a_prev, *, training=False, rng=None, out=None):
            return None, np.concatenate([a_prev, a_prev**2], axis=1), None

        def backward(self, a_prev, z, a, grad_a, *, mask=None, need_grad_prev=True, out=None):
            n = a_prev.shape[1]
            return None, grad_a[:, :n] + 2 * a_prev * grad_a[:, n:]

        def get_config(self):
            return {"type": self.name, "n_in": self.n_in}

    from chainrule.io.schema import Int, Obj, Str

    Widen.config_schema = Obj(required={"type": Str(max_len=100), "n_in": Int(1, 100)})
    try:
        for K in (1, 3):
            net = cr.Network([Widen(3), cr.Dense(6, 4, "tanh"), cr.Dense(4, 2)], ensemble=K,
                             seed=0)
            net.scaler = cr.Standardizer(np.arange(3.0), np.ones(3) * 2)
            X = np.random.default_rng(0).normal(size=(5, 3))
            back = cr.load(cr.save(net, tmp_path / f"w{K}.safetensors"))
            np.testing.assert_array_equal(back.predict(X), net.predict(X))
    finally:
        LAYERS.pop("TestEnsembleWiden", None)


def test_an_output_layer_without_buffers_trains_weighted_and_unweighted():
    """The training step's workspace holds None for a layer that keeps no buffers; the
    ensemble's output delta is then a new array (it read .delta of None before)."""

    class Unbuffered(GroupedDense):
        name = "TestEnsembleUnbuffered"

        def buffers(self, n):
            return None

    from chainrule.engine.layer import LAYERS

    try:
        X, Y = _data("softmax+ce", n=20)
        for kw in ({}, {"member_weights": np.ones((20, 2))}):
            net = cr.Network([cr.Dense(4, 5, "tanh"), Unbuffered(5, 3, "softmax", members=2)],
                             "cross_entropy", ensemble=2, seed=0)
            before = np.array(net.params)
            net.fit(X, Y, epochs=1, batch_size=8, **kw)
            assert not np.array_equal(before, net.params)
    finally:
        LAYERS.pop("TestEnsembleUnbuffered", None)
