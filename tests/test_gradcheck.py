"""Backprop against finite differences, property-based over shapes, data, activations and losses."""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.engine.activations import ACTIVATIONS
from chainrule.notes.gradcheck import relative_error

HIDDEN = list(ACTIVATIONS)
OUTPUT_FOR_LOSS = {
    "squared_error": list(ACTIVATIONS),
    "mse": list(ACTIVATIONS),
    "huber": list(ACTIVATIONS),
    "cross_entropy": ["softmax"],
    "binary_cross_entropy": ["sigmoid"],
}


def _targets(loss, rng, n, n_out):
    if loss == "cross_entropy":
        return rng.integers(0, n_out, n)
    if loss == "binary_cross_entropy":
        return rng.integers(0, 2, (n, n_out)).astype(float)
    return rng.standard_normal((n, n_out))


@st.composite
def networks(draw):
    loss = draw(st.sampled_from(list(OUTPUT_FOR_LOSS)))
    hidden = draw(st.sampled_from(HIDDEN))
    output = draw(st.sampled_from(OUTPUT_FOR_LOSS[loss]))
    depth = draw(st.integers(1, 4))
    sizes = [draw(st.integers(1, 5)) for _ in range(depth + 1)]
    if loss == "cross_entropy":
        sizes[-1] = max(sizes[-1], 2)
    bias = draw(st.booleans())
    seed = draw(st.integers(0, 2**31 - 1))
    n = draw(st.integers(1, 6))
    return loss, hidden, output, sizes, bias, seed, n


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks())
def test_backprop_equals_finite_differences(case):
    loss, hidden, output, sizes, bias, seed, n = case
    rng = np.random.default_rng(seed)
    net = cr.MLP(sizes, hidden=hidden, output=output, loss=loss, bias=bias, dtype="float64",
                 seed=seed)
    # Random (not zero) biases: with zero biases a dead ReLU unit feeds z = 0 exactly into the
    # next layer, a kink where the derivative does not exist and finite differences disagree.
    net.params[...] = rng.standard_normal(net.n_params) * 0.5
    X = rng.standard_normal((n, sizes[0]))
    Y = _targets(loss, rng, n, sizes[-1])
    # Finite differences step w by up to 2h = 2e-4: a ReLU-type z that close to 0 crosses the
    # kink, where the derivative jumps and no difference quotient equals it. Such draws are
    # a property of the check, not of backprop; hypothesis finds them, so leave them out.
    trace = net.forward(net.inputs(X))
    assume(all(np.abs(z).min() > 1e-3 for z, d in zip(trace.z, net.layers, strict=True)
               if isinstance(d, cr.Dense) and d.activation.name in ("relu", "leaky_relu")))
    report = cr.gradcheck(net, X, Y)
    assert report.max_rel_error < 1e-6, str(report)


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("loss", list(OUTPUT_FOR_LOSS))
@pytest.mark.parametrize("bias", [True, False])
def test_every_activation_and_loss(hidden, loss, bias, rng):
    """The full grid (the property test above samples it): depth 3, both bias settings."""
    output = OUTPUT_FOR_LOSS[loss][0] if loss in ("cross_entropy", "binary_cross_entropy") \
        else hidden
    net = cr.MLP([3, 4, 4, 3], hidden=hidden, output=output, loss=loss, bias=bias,
                 dtype="float64", seed=1, l2=0.01)
    X = rng.standard_normal((5, 3))
    report = cr.gradcheck(net, X, _targets(loss, rng, 5, 3))
    assert report.max_rel_error < 1e-6, str(report)
    assert set(report.per_layer()) == {1, 2, 3}


@pytest.mark.parametrize("loss,output", [("cross_entropy", "softmax"),
                                         ("binary_cross_entropy", "sigmoid")])
def test_fused_output_delta_equals_general_chain_rule(loss, output, rng):
    """δ^(L) = a − y (canonical pair) equals ∂C/∂a · g′ through the general path."""
    fused = cr.MLP([4, 5, 3], hidden="tanh", output=output, loss=loss, dtype="float64", seed=3)
    general = cr.MLP([4, 5, 3], hidden="tanh", output=output, loss=loss, dtype="float64", seed=3,
                     fused=False)
    assert fused.fused_output and not general.fused_output
    X = rng.standard_normal((8, 4))
    Y = _targets(loss, rng, 8, 3)
    np.testing.assert_allclose(fused.gradient(X, Y), general.gradient(X, Y), rtol=1e-10,
                               atol=1e-14)
    assert fused.loss(X, Y) == pytest.approx(general.loss(X, Y), rel=1e-12)


def test_gradcheck_detects_a_wrong_gradient(rng, monkeypatch):
    net = cr.MLP([3, 4, 2], hidden="tanh", dtype="float64", seed=0)
    X, Y = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    tanh = net.dense_layers[0].activation
    monkeypatch.setattr(type(tanh), "g_prime", lambda self, z, a: 1.0 - a)  # wrong derivative
    report = cr.gradcheck(net, X, Y)
    assert report.per_layer()[1] > 1e-2
    assert report.per_layer()[2] < 1e-6
    assert "overall max relative error" in str(report)


def test_subsampled_check_on_a_float32_network(rng):
    net = cr.MLP([20, 30, 5], hidden="relu", output="softmax", loss="cross_entropy", seed=0)
    X = rng.standard_normal((10, 20))
    report = cr.gradcheck(net, X, rng.integers(0, 5, 10), max_params_per_array=15)
    assert [c.n_checked for c in report.checks] == [15, 15, 15, 5]
    assert report.max_rel_error < 1e-6
    assert net.dtype == np.float32  # the float64 copy did the work


def test_relative_error_floor():
    assert relative_error(np.array([0.0]), np.array([0.0]))[0] == 0.0
    assert relative_error(np.array([1.0]), np.array([1.1]))[0] == pytest.approx(0.1 / 1.1)
