import warnings

import numpy as np
import pytest

from chainrule.engine.activations import get_activation
from chainrule.engine.losses import LOSSES, get_loss


def _targets(name, rng, shape):
    if name == "cross_entropy":
        return np.eye(shape[1])[rng.integers(0, shape[1], shape[0])]
    if name == "binary_cross_entropy":
        return rng.integers(0, 2, shape).astype(float)
    return rng.standard_normal(shape)


def _outputs(name, rng, shape):
    z = rng.standard_normal(shape)
    if name == "cross_entropy":
        return get_activation("softmax").g(z)
    if name == "binary_cross_entropy":
        return get_activation("sigmoid").g(z)
    return z * 2


@pytest.mark.parametrize("name", list(LOSSES))
def test_grad_a_matches_central_difference(name, rng):
    loss = get_loss(name)
    a, y = _outputs(name, rng, (5, 3)), _targets(name, rng, (5, 3))
    h = 1e-7
    numeric = np.empty_like(a)
    for idx in np.ndindex(a.shape):
        ap, am = a.copy(), a.copy()
        ap[idx] += h
        am[idx] -= h
        numeric[idx] = (loss.value(ap, y)[idx[0]] - loss.value(am, y)[idx[0]]) / (2 * h)
    np.testing.assert_allclose(loss.grad_a(a, y), numeric, rtol=1e-6, atol=1e-8)


def test_squared_error_is_the_notes_C0():
    """C_0 = Σ_j (a_j − y_j)², ∂C_0/∂a_j = 2 (a_j − y_j): summed over outputs, not averaged."""
    a = np.array([[0.2, 0.9, 0.4, 0.1]])
    y = np.array([[0.0, 1.0, 0.0, 0.0]])
    loss = get_loss("squared_error")
    assert loss.value(a, y)[0] == pytest.approx(0.04 + 0.01 + 0.16 + 0.01)
    np.testing.assert_allclose(loss.grad_a(a, y), [[0.4, -0.2, 0.8, 0.2]])
    assert get_loss("mse").value(a, y)[0] == pytest.approx((0.04 + 0.01 + 0.16 + 0.01) / 4)


@pytest.mark.parametrize("name,act", [("cross_entropy", "softmax"),
                                      ("binary_cross_entropy", "sigmoid")])
def test_value_from_logits_equals_value_and_never_logs_zero(name, act, rng):
    loss, g = get_loss(name), get_activation(act)
    z = rng.standard_normal((6, 3))
    y = _targets(name, rng, (6, 3))
    np.testing.assert_allclose(loss.value_from_logits(z, y), loss.value(g.g(z), y), rtol=1e-10)
    z_big = np.array([[1e4, -1e4, 0.0]])
    y_bad = np.array([[0.0, 1.0, 0.0]])  # confident and wrong
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = loss.value_from_logits(z_big, y_bad)
        c_a = loss.value(g.g(z_big), y_bad)
    assert np.isfinite(c).all() and np.isfinite(c_a).all()
    assert c[0] > 1e3  # the true cost, not a clipped log(tiny)


def test_huber_is_quadratic_then_linear():
    loss = get_loss({"name": "huber", "delta": 1.0})
    a = np.array([[0.5, 3.0]])
    y = np.zeros((1, 2))
    assert loss.value(a, y)[0] == pytest.approx(0.125 + (3.0 - 0.5))
    np.testing.assert_allclose(loss.grad_a(a, y), [[0.5, 1.0]])


def test_unknown_loss_lists_valid_names():
    with pytest.raises(ValueError, match="unknown loss 'hinge'.*cross_entropy.*squared_error"):
        get_loss("hinge")


@pytest.mark.parametrize("name,act", [("cross_entropy", "softmax"),
                                      ("binary_cross_entropy", "sigmoid")])
def test_output_delta_fused_equals_the_general_chain_rule(name, act, rng):
    """engine.output chooses δ^(L): a − y for a canonical pair, ∂C/∂a · g′(z) otherwise;
    both scaled alike, and written into ``out`` when given one."""
    from chainrule.engine.output import output_delta, sample_costs

    loss, g = get_loss(name), get_activation(act)
    z = rng.standard_normal((6, 3))
    a, y = g.g(z), _targets(name, rng, (6, 3))
    out = np.empty_like(z)
    fused, no_grad_a = output_delta(loss, g, z, a, y, fused=True, scale=0.25, out=out)
    general, grad_a = output_delta(loss, g, z, a, y, fused=False, scale=0.25)
    assert fused is out and no_grad_a is None
    np.testing.assert_allclose(fused, general, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(grad_a, 0.25 * loss.grad_a(a, y), rtol=1e-15)
    per_sample, _ = output_delta(loss, g, z, a, y, fused=False)  # no scale: ∂C_i/∂z^(L)
    np.testing.assert_allclose(4 * general, per_sample, rtol=1e-12)
    np.testing.assert_allclose(sample_costs(loss, z, a, y, fused=True),
                               sample_costs(loss, z, a, y, fused=False), rtol=1e-10)
