import warnings

import numpy as np
import pytest

from chainrule.engine.activations import ACTIVATIONS, LeakyReLU, get_activation

ELEMENTWISE = [name for name, cls in ACTIVATIONS.items() if cls.elementwise]


def _z(rng, shape=(7, 5)):
    z = rng.standard_normal(shape) * 2
    return np.where(np.abs(z) < 1e-3, 0.5, z)  # stay off the ReLU kink


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_g_prime_matches_central_difference(name, rng):
    act = get_activation(name)
    z = _z(rng)
    h = 1e-6
    numeric = (act.g(z + h) - act.g(z - h)) / (2 * h)
    analytic = act.g_prime(z, act.g(z))
    np.testing.assert_allclose(analytic, numeric, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_backward_is_vector_jacobian_product(name, rng):
    """δ = (∂a/∂z)ᵀ ∂C/∂a, checked against a numerical Jacobian per sample."""
    act = get_activation(name)
    z = _z(rng, (4, 3))
    grad_a = rng.standard_normal(z.shape)
    delta = act.backward(z, act.g(z), grad_a)
    h = 1e-6
    for i in range(z.shape[0]):
        jac = np.empty((3, 3))  # jac[m, j] = ∂a_m/∂z_j
        for j in range(3):
            zp, zm = z[i : i + 1].copy(), z[i : i + 1].copy()
            zp[0, j] += h
            zm[0, j] -= h
            jac[:, j] = ((act.g(zp) - act.g(zm)) / (2 * h))[0]
        np.testing.assert_allclose(delta[i], jac.T @ grad_a[i], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_no_overflow_and_dtype_kept(name, dtype):
    act = get_activation(name)
    z = np.array([[-1e4, -50.0, 0.0, 50.0, 1e4]], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any overflow / invalid warning fails the test
        a = act.g(z)
        delta = act.backward(z, a, np.ones_like(z))
    assert a.dtype == dtype and delta.dtype == dtype
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(delta))


def test_sigmoid_extremes_exact():
    sig = get_activation("sigmoid")
    a = sig.g(np.array([[-1e4, 0.0, 1e4]]))
    np.testing.assert_array_equal(a, [[0.0, 0.5, 1.0]])


def test_softmax_rows_sum_to_one_with_huge_logits():
    sm = get_activation("softmax")
    a = sm.g(np.array([[1e4, 0.0, -1e4], [3.0, 3.0, 3.0]]))
    np.testing.assert_allclose(a.sum(axis=1), 1.0)
    np.testing.assert_allclose(a[1], 1 / 3)


def test_lookup_by_name_object_and_config():
    assert get_activation("logistic").name == "sigmoid"
    leaky = get_activation({"name": "leaky_relu", "slope": 0.2})
    assert isinstance(leaky, LeakyReLU) and leaky.slope == 0.2
    assert get_activation(leaky) is leaky
    np.testing.assert_allclose(leaky.g(np.array([[-1.0, 2.0]])), [[-0.2, 2.0]])


def test_unknown_activation_lists_valid_names():
    with pytest.raises(ValueError, match="unknown activation 'swish'.*relu.*tanh"):
        get_activation("swish")


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="slope"):
        LeakyReLU(float("nan"))
    with pytest.raises(ValueError, match="alpha"):
        get_activation({"name": "elu", "alpha": -1})
