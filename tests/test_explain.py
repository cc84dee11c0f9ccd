"""The notes' worked example, by hand, and chainrule.explain on the same network."""

import math

import numpy as np
import pytest

import chainrule as cr

# A 3-3-2 network without biases, sigmoid everywhere, squared error: the notes' setting.
W1 = [[0.1, -0.2, 0.3], [0.4, 0.5, -0.6], [-0.7, 0.8, 0.9]]  # w_jk^(L−1), j = row, k = column
W2 = [[0.2, -0.3, 0.4], [-0.5, 0.6, 0.7]]  # w_jk^(L)
X = [1.0, 0.5, -1.5]
Y = [0.0, 1.0]


def sigmoid(z):
    return 1.0 / (1.0 + math.exp(-z))


def by_hand():
    """Every quantity of the notes, with plain floats and loops."""
    z1 = [sum(W1[j][k] * X[k] for k in range(3)) for j in range(3)]
    a1 = [sigmoid(z) for z in z1]
    z2 = [sum(W2[j][k] * a1[k] for k in range(3)) for j in range(2)]
    a2 = [sigmoid(z) for z in z2]
    g_prime = lambda a: a * (1 - a)  # noqa: E731  σ′(z) = σ(z)(1 − σ(z))
    dC_da2 = [2 * (a2[j] - Y[j]) for j in range(2)]  # 2(a_j − y_j)
    # ∂C0/∂w_12^(L) = 2(a_1 − y_1) · g′(z_1^(L)) · a_2^(L−1)
    dw12_L = dC_da2[1] * g_prime(a2[1]) * a1[2]
    # ∂C0/∂a_2^(L−1) = Σ_j w_j2^(L) g′(z_j^(L)) ∂C0/∂a_j^(L): the sum over next-layer nodes
    dC_da1_2 = sum(W2[j][2] * g_prime(a2[j]) * dC_da2[j] for j in range(2))
    # ∂C0/∂w_22^(L−1) = ∂C0/∂a_2^(L−1) · g′(z_2^(L−1)) · a_2^(L−2)
    dw22_hidden = dC_da1_2 * g_prime(a1[2]) * X[2]
    return dict(a1=a1, a2=a2, dC_da2=dC_da2, dw12_L=dw12_L, dC_da1_2=dC_da1_2,
                dw22_hidden=dw22_hidden, g_prime_L=g_prime(a2[1]), g_prime_h=g_prime(a1[2]))


def notes_network(dtype="float64"):
    return cr.Network(
        [cr.Dense(3, 3, "sigmoid", bias=False, w=W1), cr.Dense(3, 2, "sigmoid", bias=False, w=W2)],
        loss="squared_error", dtype=dtype)


def test_backprop_reproduces_the_hand_computed_derivatives():
    hand = by_hand()
    net = notes_network()
    net.gradient([X], [Y])
    out, hidden = net.dense_layers[1], net.dense_layers[0]
    assert out.grad_w[1, 2] == pytest.approx(hand["dw12_L"], rel=1e-14)
    assert hidden.grad_w[2, 2] == pytest.approx(hand["dw22_hidden"], rel=1e-14)
    np.testing.assert_allclose(net.predict([X])[0], hand["a2"], rtol=1e-15)


def test_explain_returns_the_notes_factors_for_an_output_weight():
    hand = by_hand()
    e = cr.explain(notes_network(), X, Y, layer=2, j=1, k=2)
    assert e.dC_da == pytest.approx(hand["dC_da2"][1], rel=1e-14)  # 2(a_1 − y_1)
    assert e.g_prime == pytest.approx(hand["g_prime_L"], rel=1e-14)  # g′(z_1^(L))
    assert e.a_prev_k == pytest.approx(hand["a1"][2], rel=1e-14)  # a_2^(L−1)
    assert e.product == pytest.approx(hand["dw12_L"], rel=1e-14)
    assert e.finite_difference == pytest.approx(hand["dw12_L"], rel=1e-7)
    text = str(e)
    assert "∂C_0/∂w_12^(2)" in text and "2(a_1 − y_1)" in text


def test_explain_sums_over_next_layer_nodes_for_a_hidden_weight():
    hand = by_hand()
    e = cr.explain(notes_network(), X, Y, layer=1, j=2, k=2)
    assert len(e.terms) == 2
    assert sum(t.product for t in e.terms) == pytest.approx(e.dC_da, rel=1e-14)
    assert e.dC_da == pytest.approx(hand["dC_da1_2"], rel=1e-14)
    assert e.g_prime == pytest.approx(hand["g_prime_h"], rel=1e-14)
    assert e.a_prev_k == X[2]
    assert e.product == pytest.approx(hand["dw22_hidden"], rel=1e-14)
    assert e.finite_difference == pytest.approx(hand["dw22_hidden"], rel=1e-6)
    assert "Σ_i" in str(e)


def test_explain_average_over_samples_is_the_batch_gradient(rng):
    net = cr.MLP([4, 5, 3], hidden="tanh", output="softmax", loss="cross_entropy",
                 dtype="float64", seed=2)
    Xs, ys = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    net.gradient(Xs, ys)
    for layer, j, k in [(1, 4, 0), (2, 1, 3)]:
        e = cr.explain(net, Xs, ys, layer=layer, j=j, k=k, sample=3, lr=0.5)
        assert e.average == pytest.approx(net.dense_layers[layer - 1].grad_w[j, k], rel=1e-12)
        assert e.finite_difference_average == pytest.approx(e.average, rel=1e-6, abs=1e-10)
        assert e.product == pytest.approx(e.per_sample[3])
        assert e.update == pytest.approx(-0.5 * e.average)
    assert e.g_prime is None  # softmax output: δ from the Jacobian–vector product


def test_explain_refuses_out_of_range_indices():
    net = notes_network()
    with pytest.raises(ValueError, match="layer: expected an integer in 1..2"):
        cr.explain(net, X, Y, layer=0, j=0, k=0)
    with pytest.raises(ValueError, match="j: expected an integer in 0..1"):
        cr.explain(net, X, Y, layer=2, j=2, k=0)
    with pytest.raises(ValueError, match="k: expected an integer in 0..2"):
        cr.explain(net, X, Y, layer=1, j=0, k=3)


def test_cli_explain_of_every_layer_is_one_pass(tmp_path, monkeypatch, capsys):
    """Issue 28: `explain` on a 4,000-layer width-1 network ran past 120 s, one O(L)
    explanation per layer; every layer's explanation now shares one forward and backward
    pass (and one batched finite-difference pass)."""
    from chainrule.cli import main
    from chainrule.notes import explain as module

    run = tmp_path / "run"
    assert main(["train", "--dataset", "xor", "--n-samples", "32", "--hidden",
                 ",".join(["1"] * 30), "--activation", "tanh", "--epochs", "1", "--quiet",
                 "--out", str(run)]) == 0
    calls = []
    factors = module.chain_factors
    monkeypatch.setattr(module, "chain_factors", lambda *a: calls.append(1) or factors(*a))
    assert main(["explain", str(run / "model.safetensors")]) == 0
    assert capsys.readouterr().out.count("∂C") >= 31 and len(calls) == 1


def test_a_layer_type_explains_itself_through_the_hook():
    """layer_chain_lines calls a non-Dense layer's explain_lines with its a_prev and the
    ∂C_0/∂a that reached its output (checked here against finite differences of C_0 in
    that layer's output), and passes over layers without the hook."""
    from chainrule.engine.layer import LAYERS, Layer
    from chainrule.notes.explain import layer_chain_lines

    seen = {}

    class Shift(Layer):
        name = "TestExplainShift"

        def __init__(self) -> None:
            self.shift = np.array([0.3, -0.1, 0.2])

        def forward(self, a_prev, *, training=False, rng=None, out=None):
            return None, a_prev + self.shift, None

        def backward(self, a_prev, z, a, grad_a, *, mask=None, need_grad_prev=True, out=None):
            return None, grad_a

        def get_config(self):
            return {"type": self.name}

        def explain_lines(self, a_prev, grad_a):
            seen["a_prev"], seen["grad_a"] = a_prev, grad_a
            return [f"∂C_0/∂s_0 = {grad_a[0, 0]:.6f}"]

    try:
        net = cr.Network([cr.Dense(3, 3, "tanh"), Shift(), cr.Dense(3, 2, "sigmoid")],
                         loss="mse", seed=1, dtype="float64")
        x, y = np.array([[1.0, 0.5, -1.5]]), np.array([[0.0, 1.0]])
        lines = layer_chain_lines(net, x, y)
        assert lines == [f"∂C_0/∂s_0 = {seen['grad_a'][0, 0]:.6f}"]
        np.testing.assert_allclose(seen["a_prev"], net.forward(x).a[1], rtol=1e-15)
        h = 1e-6
        c = []
        for step in (h, -h):
            net.layers[1].shift[0] += step
            c.append(float(net.loss_fn.value(net.forward(x).a_L, y)[0]))
            net.layers[1].shift[0] -= step
        np.testing.assert_allclose(seen["grad_a"][0, 0], (c[0] - c[1]) / (2 * h), rtol=1e-7)
        plain = cr.Network([cr.Dense(3, 2, "sigmoid")], loss="mse", seed=1, dtype="float64")
        assert layer_chain_lines(plain, x, y) == []
    finally:
        LAYERS.pop("TestExplainShift", None)
