"""Diverged training never ends "successfully" and never keeps non-finite weights.

After any ``fit`` either it returned with every parameter finite, or it raised
:class:`DivergenceError` with the parameters (and optimizer step count) equal, bitwise,
to the last finite state the optimizer produced.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.training.optimizers import OPTIMIZERS


def recording(name: str, lr: float) -> cr.Optimizer:
    """An optimizer of class ``name`` that records the parameters after every step, by
    step count t (a replay re-records the same t: the values must agree bitwise)."""
    base = OPTIMIZERS[name]

    class Recording(base):  # type: ignore[misc, valid-type]
        name = ""  # not registered

        def __init__(self, **kwargs):  # type: ignore[no-untyped-def]
            super().__init__(**kwargs)
            self.after: dict[int, np.ndarray] = {}

        def step(self, params, grads, grad_sq_norm=None):  # type: ignore[no-untyped-def]
            if 0 not in self.after:
                self.after[0] = params.copy()
            super().step(params, grads, grad_sq_norm)
            if self.t in self.after:
                np.testing.assert_array_equal(self.after[self.t], params)  # deterministic
            self.after[self.t] = params.copy()

    return Recording(lr=lr)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    hidden=st.sampled_from(["tanh", "relu", "sigmoid", "elu"]),
    loss=st.sampled_from(["mse", "squared_error", "cross_entropy", "huber"]),
    optimizer=st.sampled_from(["sgd", "momentum", "rmsprop", "adam"]),
    log_lr=st.floats(-3, 40),
    log_scale=st.floats(0, 20),
    dtype=st.sampled_from(["float32", "float64"]),
    epochs=st.integers(1, 3),
    batch_size=st.integers(3, 20),
    seed=st.integers(0, 2**16),
)
def test_fit_returns_finite_or_raises_with_the_last_finite_state(
    hidden: str, loss: str, optimizer: str, log_lr: float, log_scale: float, dtype: str,
    epochs: int, batch_size: int, seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(30, 3)) * 10
    classification = loss == "cross_entropy"
    y = rng.integers(0, 3, 30) if classification else X.sum(1) * 10.0**log_scale
    output = "softmax" if classification else "identity"
    net = cr.MLP([3, 8, 3 if classification else 1], hidden=hidden, output=output, loss=loss,
                 dtype=dtype, seed=seed)
    opt = recording(optimizer, 10.0**log_lr)
    with np.errstate(all="ignore"):
        try:
            net.fit(X, y, epochs=epochs, batch_size=batch_size, optimizer=opt)
        except cr.DivergenceError:
            finite = [t for t, p in opt.after.items() if np.all(np.isfinite(p))]
            last = max(finite) if finite else 0
            assert np.all(np.isfinite(net.params))
            expected = opt.after[last] if opt.after else None
            if expected is not None:
                np.testing.assert_array_equal(net.params, expected)
                assert opt.t == last
            return
    assert np.all(np.isfinite(net.params))


def test_an_update_that_overflows_after_the_checks_is_caught() -> None:
    """Issue 14: this fit used to return normally with non-finite weights."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(16, 3)) * 10
    net = cr.MLP([3, 8, 1], hidden="tanh", loss="mse")
    before = net.params.copy()
    with pytest.raises(cr.DivergenceError, match="a weight is not finite"):
        net.fit(X, X.sum(1) * 100, epochs=1, batch_size=16, optimizer=cr.SGD(lr=1e37))
    np.testing.assert_array_equal(net.params, before)  # the last finite weights: the start


def test_overflow_at_the_end_of_an_epoch_keeps_the_weights_before_it() -> None:
    """The snapshot used to be taken after the overflow (at the next epoch's start)."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(32, 3)) * 10
    net = cr.MLP([3, 8, 1], hidden="tanh", loss="mse", seed=1)
    opt = recording("sgd", 1e37)
    with pytest.raises(cr.DivergenceError), np.errstate(all="ignore"):
        net.fit(X, X.sum(1) * 100, epochs=2, batch_size=32, optimizer=opt)
    assert np.all(np.isfinite(net.params))
    np.testing.assert_array_equal(net.params, opt.after[0])


def test_a_loss_that_explodes_while_finite_stops_training() -> None:
    """Issue 14: --lr 1e6 trained to a finite loss of 3e20 and saved a useless model."""
    from chainrule import datasets

    ds = datasets.load("digits")
    net = cr.MLP([64, 32, 10], hidden="relu", output="softmax", loss="cross_entropy", seed=0)
    net.scaler = cr.Standardizer.fit(ds.X)
    with pytest.raises(cr.DivergenceError, match=r"the loss grew from .* \(over 1e\+06 times\)"):
        net.fit(ds.X, ds.y, epochs=3, batch_size=32, optimizer=cr.Adam(1e6))
    assert np.all(np.isfinite(net.params))


def test_huge_regression_targets_get_advice_about_their_scale() -> None:
    """Issue 14: targets around 1e20 diverged with advice to lower the learning rate."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 3))
    net = cr.MLP([3, 8, 1], hidden="tanh", loss="mse", seed=2)
    with pytest.raises(cr.DivergenceError, match=r"targets reach .*: rescale them"), \
            np.errstate(all="ignore"):
        net.fit(X, X.sum(1) * 1e20, epochs=5, batch_size=8, optimizer=cr.SGD(0.01))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    hidden=st.sampled_from(["tanh", "relu"]),
    optimizer=st.sampled_from(["sgd", "momentum", "adam"]),
    log_lr=st.floats(-3, 40),
    dtype=st.sampled_from(["float32", "float64"]),
    seed=st.integers(0, 2**16),
)
def test_the_same_holds_on_the_compiled_step(hidden: str, optimizer: str, log_lr: float,
                                             dtype: str, seed: int) -> None:
    """Plain optimizers, so the trainer may run the compiled step (chainrule[fast]); the
    states are observed after every completed step by a callback."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(30, 3)) * 10
    y = X.sum(1) * 100
    net = cr.MLP([3, 8, 1], hidden=hidden, loss="mse", dtype=dtype, seed=seed)
    seen = [net.params.copy()]
    record = cr.LambdaCallback(on_batch_end=lambda t, b, loss: seen.append(net.params.copy()))
    opt = cr.optimizers.get_optimizer(optimizer, lr=10.0**log_lr)
    os.environ["CHAINRULE_COMPILED"] = "1"  # the compiled step even where NumPy is faster
    try:
        with np.errstate(all="ignore"):
            net.fit(X, y, epochs=2, batch_size=8, optimizer=opt, callbacks=[record])
    except cr.DivergenceError:
        finite = [p for p in seen if np.all(np.isfinite(p))]
        np.testing.assert_array_equal(net.params, finite[-1])
        return
    finally:
        del os.environ["CHAINRULE_COMPILED"]
    assert np.all(np.isfinite(net.params))
