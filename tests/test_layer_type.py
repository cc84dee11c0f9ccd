"""A new layer type in one place: ``Scale``, a learnable gain per unit (a_j = γ_j a_j^prev),
defined here and nowhere else. It trains in an MLP, passes gradcheck, equals a plain NumPy
forward and backward written below, and saves and loads through ``chainrule.save`` /
``chainrule.load``; a file naming a type nobody registered, or a Scale config with keys its
schema does not know, is refused.

The class is defined inside a module-scoped fixture and removed from the registry
afterwards, so the rest of the suite sees only the built-in layers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.engine.layer import LAYERS, Layer
from chainrule.io.container import dumps_safetensors, loads_safetensors
from chainrule.io.model import ModelFileError, model_to_bytes
from chainrule.io.schema import Obj, Str


def _define() -> type[Layer]:
    class Scale(Layer):
        """a_j = γ_j a_j^prev: one learnable gain per unit, keeping the width."""

        name = "Scale"
        config_schema = Obj(required={"type": Str(max_len=100)})

        def __init__(self) -> None:
            self.n_in = self.n_out = 0  # set by connect(), from the layer before
            self.gain: Any = None
            self.grad_gain: Any = None

        def param_shapes(self):  # type: ignore[no-untyped-def]
            return [("gain", (self.n_in,))]

        def build(self, rng, dtype):  # type: ignore[no-untyped-def]
            return {"gain": (1.0 + 0.5 * rng.standard_normal(self.n_in)).astype(dtype)}

        def bind(self, params, grads):  # type: ignore[no-untyped-def]
            self.gain, self.grad_gain = params["gain"], grads["gain"]

        def forward(self, a_prev, *, training=False, rng=None, out=None):  # type: ignore[no-untyped-def]
            return None, a_prev * self.gain, None  # no z, a = γ ⊙ a_prev, no mask

        def backward(self, a_prev, z, a, grad_a, *, mask=None,  # type: ignore[no-untyped-def]
                     need_grad_prev=True, out=None):
            self.grad_gain[...] = (grad_a * a_prev).sum(axis=0)  # ∂C/∂γ_j = Σ_i ∂C/∂a_ij a_ij^prev
            return None, grad_a * self.gain  # ∂C/∂a_j^prev = ∂C/∂a_j γ_j

        def get_config(self) -> dict[str, object]:
            return {"type": self.name}

    return Scale


@pytest.fixture(scope="module")
def Scale() -> Iterator[type[Layer]]:
    before = set(LAYERS)
    cls = _define()  # registered by its name; a model file may name it (its config_schema)
    try:
        yield cls
    finally:
        for key in set(LAYERS) - before:
            del LAYERS[key]


def _net(Scale: type[Layer], seed: int = 0) -> cr.Network:
    return cr.Network([cr.Dense(3, 5, "tanh"), Scale(), cr.Dense(5, 2)], seed=seed,
                      dtype="float64")


def _data(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    return X, np.stack([np.tanh(X[:, 0] - X[:, 1]), 0.5 * X[:, 2]], axis=1)


def reference(net: cr.Network, X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """a^(L) and the flat ∂C/∂params of Dense(tanh) → Scale → Dense(identity) with the
    squared error, in plain NumPy."""
    (w1, b1), gain, (w2, b2) = [list(net.layer_params(i).values()) for i in range(3)]
    gain = gain[0]
    n = X.shape[0]
    a1 = np.tanh(X @ w1.T + b1)
    s = a1 * gain
    a2 = s @ w2.T + b2
    delta2 = 2.0 * (a2 - Y) / n  # ∂C/∂z^(2), the batch mean of C_0 = Σ_j (a_j − y_j)²
    grad_s = delta2 @ w2
    delta1 = grad_s * gain * (1.0 - a1**2)  # through the gain, then tanh′
    grads = [delta1.T @ X, delta1.sum(0), (grad_s * a1).sum(0), delta2.T @ s, delta2.sum(0)]
    return a2, np.concatenate([g.ravel() for g in grads])


def test_it_registers_by_name_and_connects(Scale: type[Layer]) -> None:
    assert LAYERS["Scale"] is Scale
    net = _net(Scale)
    assert (net.layers[1].n_in, net.layers[1].n_out) == (5, 5)
    assert net.n_params == 3 * 5 + 5 + 5 + 5 * 2 + 2
    assert [p.shape for p in net.parameters()] == [(5, 3), (5,), (5,), (2, 5), (2,)]
    with pytest.raises(ValueError, match=r"layers\[0\]: Scale cannot be the first layer"):
        cr.Network([Scale(), cr.Dense(3, 1)])


def test_it_equals_the_numpy_reference(Scale: type[Layer]) -> None:
    net = _net(Scale, seed=1)
    X, Y = _data(1, 7)
    a_L, grads = reference(net, X, Y)
    trace = net.forward(net.inputs(X))
    assert trace.z[1] is None and trace.mask[1] is None
    np.testing.assert_allclose(trace.a_L, a_L, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(net.gradient(X, Y), grads, rtol=1e-12, atol=1e-14)


def test_it_passes_gradcheck(Scale: type[Layer]) -> None:
    net = _net(Scale, seed=2)
    X, Y = _data(2, 6)
    report = cr.gradcheck(net, X, Y)
    assert report.max_rel_error < 1e-6, str(report)
    assert "gain" in [c.name for c in report.checks]


def test_it_trains(Scale: type[Layer]) -> None:
    net = _net(Scale, seed=3)
    X, Y = _data(3, 200)
    before = net.loss(X, Y)
    gain0 = net.layer_params(1)["gain"].copy()
    net.fit(X, Y, epochs=40, batch_size=20, optimizer=cr.Adam(lr=0.01))
    assert net.loss(X, Y) < 0.1 * before
    assert not np.array_equal(net.layer_params(1)["gain"], gain0)


def test_it_saves_and_loads(Scale: type[Layer], tmp_path) -> None:
    net = _net(Scale, seed=4)
    X, Y = _data(4, 50)
    net.fit(X, Y, epochs=2, batch_size=10, optimizer="adam")
    path = cr.save(net, tmp_path / "scale.safetensors")
    back = cr.load(path)
    assert type(back.layers[1]) is Scale
    np.testing.assert_array_equal(back.params, net.params)
    np.testing.assert_array_equal(back.predict(X), net.predict(X))
    arrays, _ = loads_safetensors(path.read_bytes())
    np.testing.assert_array_equal(arrays["layers[1].gain"], net.layer_params(1)["gain"])
    back.fit(X, Y, epochs=1, batch_size=10)  # resumes with the saved optimizer state


def _edited(net: cr.Network, edit: Any) -> bytes:
    """The model file of ``net`` with ``edit`` applied to its arrays and config."""
    arrays, meta = loads_safetensors(model_to_bytes(net))
    config = json.loads(meta["config"])
    edit(arrays, config)
    meta["config"] = json.dumps(config)
    return dumps_safetensors(arrays, meta)


@pytest.mark.parametrize("edit, message", [
    (lambda arrays, config: config["layers"][1].update(type="Evil"),
     r"config\.layers\[1\]: type 'Evil' is not one of Dense, Dropout, .*Scale"),
    (lambda arrays, config: config["layers"][1].update(gain=[1, 2]),
     r"config\.layers\[1\].*unknown key 'gain'"),
    (lambda arrays, config: arrays.update({"layers[1].gain": np.ones(4)}),
     r"tensor 'layers\[1\]\.gain' has shape \(4,\)"),
])
def test_a_hostile_file_is_refused(Scale: type[Layer], tmp_path, edit: Any,
                                   message: str) -> None:
    path = tmp_path / "hostile.safetensors"
    path.write_bytes(_edited(_net(Scale), edit))
    with pytest.raises(ModelFileError, match=message):
        cr.load(path)
