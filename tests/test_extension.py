"""Extension in one place: a new activation (swish, with its ONNX lowering), a new loss
(Poisson deviance, with its target encoding) and a new optimizer (Lion), defined here and
nowhere else. Each trains, passes gradcheck and the reference-equality test, saves and
loads through the registry and appears among the CLI's choices; swish exports to ONNX.

The classes are defined inside a module-scoped fixture and removed from the tables
afterwards, so the rest of the suite sees only the built-ins.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import reference
from chainrule.engine.activations import ACTIVATIONS, Activation
from chainrule.engine.losses import LOSSES, Loss
from chainrule.training.optimizers import OPTIMIZERS, Optimizer


def _define() -> SimpleNamespace:
    class Swish(Activation):
        """swish(z) = z σ(z) (Ramachandran et al. 2017)."""

        name = "swish"
        default_init = "he_uniform"

        def g(self, z):  # type: ignore[no-untyped-def]
            return z / (1.0 + np.exp(-z))

        def g_prime(self, z, a):  # type: ignore[no-untyped-def]
            s = 1.0 / (1.0 + np.exp(-z))
            return s + a * (1.0 - s)  # σ + z σ (1 − σ)

        def to_onnx(self, graph, z):  # type: ignore[no-untyped-def]
            return graph.op("Mul", [z, graph.op("Sigmoid", [z])], stem="swish")

    class PoissonDeviance(Loss):
        """C_0 = 2 Σ_j [y_j log(y_j / a_j) − (y_j − a_j)], for a positive output a."""

        name = "poisson_deviance"

        def value(self, a, y):  # type: ignore[no-untyped-def]
            ylog = np.where(y > 0, y * np.log(np.where(y > 0, y, 1) / a), 0.0)
            return 2.0 * (ylog - (y - a)).sum(axis=1)

        def grad_a(self, a, y):  # type: ignore[no-untyped-def]
            return 2.0 * (1.0 - y / a)

        def encode_targets(self, y, n_out, dtype, name="Y"):  # type: ignore[no-untyped-def]
            arr = super().encode_targets(y, n_out, dtype, name)
            if np.any(arr < 0):
                raise ValueError(f"{name}: poisson_deviance targets are counts, got a negative")
            return arr

    class Lion(Optimizer):
        """Lion (Chen et al. 2023): c = β₁ m + (1 − β₁) g; w ← w − η (sign c + λ w);
        m ← β₂ m + (1 − β₂) g."""

        name = "lion"
        slots = ("m",)

        def __init__(self, lr: Any = 1e-4, beta_1: float = 0.9, beta_2: float = 0.99,
                     weight_decay: float = 0.0, clipnorm: float | None = None) -> None:
            super().__init__(lr, clipnorm)
            self.beta_1, self.beta_2, self.weight_decay = beta_1, beta_2, weight_decay

        def update_step(self, w, g, lr):  # type: ignore[no-untyped-def]
            m, c = self.state["m"], self.scratch
            np.multiply(m, self.beta_1, out=c)
            c += (1.0 - self.beta_1) * g
            w -= lr * (np.sign(c) + self.weight_decay * w)
            m *= self.beta_2
            m += (1.0 - self.beta_2) * g

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                    "weight_decay": self.weight_decay}

    return SimpleNamespace(Swish=Swish, PoissonDeviance=PoissonDeviance, Lion=Lion)


@pytest.fixture(scope="module")
def ext() -> Iterator[SimpleNamespace]:
    before = (set(ACTIVATIONS), set(LOSSES), set(OPTIMIZERS))
    classes = _define()
    try:
        yield classes
    finally:
        for table, names in zip((ACTIVATIONS, LOSSES, OPTIMIZERS), before, strict=True):
            for key in set(table) - names:
                del table[key]


def _counts(rng: np.random.Generator, X: np.ndarray) -> np.ndarray:
    return rng.poisson(np.exp(0.5 * X[:, :1] + 0.3)).astype(float)


def test_they_register_by_name(ext: SimpleNamespace) -> None:
    assert ACTIVATIONS["swish"] is ext.Swish and cr.get_activation("swish").name == "swish"
    assert LOSSES["poisson_deviance"] is ext.PoissonDeviance
    assert OPTIMIZERS["lion"] is ext.Lion
    assert cr.Dense(3, 4, "swish").init == "he_uniform"  # the activation's default_init


def test_each_trains(ext: SimpleNamespace) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = _counts(rng, X)
    net = cr.MLP([3, 16, 1], hidden="swish", output="softplus", loss="poisson_deviance",
                 dtype="float64", seed=0)
    before = net.loss(X, y)
    net.fit(X, y, epochs=30, batch_size=20, optimizer=ext.Lion(lr=3e-3))
    assert net.loss(X, y) < 0.7 * before


def test_each_passes_gradcheck_and_equals_the_reference(ext: SimpleNamespace) -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(8, 3))
    y = _counts(rng, X)
    net = cr.MLP([3, 5, 4, 1], hidden="swish", output="softplus", loss="poisson_deviance",
                 dtype="float64", seed=1)
    assert cr.gradcheck(net, X, y).max_rel_error < 1e-6
    a0, Y = net.inputs(X), net.targets(y, 8)
    np.testing.assert_allclose(net.gradient(X, y), reference.flat_gradient(net, a0, Y),
                               rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="poisson_deviance targets are counts"):
        net.fit(X, -y, epochs=1)


def test_lion_in_fit_equals_lion_in_the_reference_loop(ext: SimpleNamespace) -> None:
    from test_reference import reference_fit

    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(30, 3)), rng.integers(0, 2, 30)
    fast, ref = (cr.MLP([3, 6, 2], hidden="swish", output="softmax", loss="cross_entropy",
                        dtype="float64", seed=2) for _ in range(2))
    fast.fit(X, y, epochs=3, batch_size=8, optimizer=ext.Lion(lr=1e-2), shuffle=False)
    reference_fit(ref, X, y, ext.Lion(lr=1e-2), epochs=3, batch_size=8)
    np.testing.assert_allclose(fast.params, ref.params, rtol=1e-12, atol=1e-14)


def test_each_saves_and_loads_through_the_registry(ext: SimpleNamespace, tmp_path) -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 3))
    y = _counts(rng, X)
    net = cr.MLP([3, 6, 1], hidden="swish", output="softplus", loss="poisson_deviance",
                 dtype="float64", seed=3)
    net.fit(X, y, epochs=2, batch_size=10, optimizer=ext.Lion(lr=1e-3, weight_decay=0.1))
    cr.save(net, tmp_path / "m.safetensors")
    back = cr.load(tmp_path / "m.safetensors")
    assert isinstance(back.dense_layers[0].activation, ext.Swish)
    assert isinstance(back.loss_fn, ext.PoissonDeviance)
    assert isinstance(back.optimizer, ext.Lion)
    assert back.optimizer.get_config() == net.optimizer.get_config()
    np.testing.assert_array_equal(back.predict(X), net.predict(X))
    for model in (net, back):  # one more epoch from each: identical (optimizer state too)
        model.fit(X, y, epochs=1, batch_size=10, shuffle=False)
    np.testing.assert_array_equal(back.params, net.params)


def test_each_is_among_the_cli_choices(ext: SimpleNamespace, capsys, tmp_path) -> None:
    from chainrule.cli import main

    assert main(["train", "--help"]) == 0
    help_text = capsys.readouterr().out
    for name in ("swish", "poisson_deviance", "lion"):
        assert name in help_text
    run = tmp_path / "run"
    assert main(["train", "--dataset", "xor", "--activation", "swish", "--optimizer", "lion",
                 "--lr", "0.003", "--epochs", "2", "--quiet", "--out", str(run)]) == 0
    net = cr.load(run / "model.safetensors")
    assert isinstance(net.dense_layers[0].activation, ext.Swish)
    assert isinstance(net.optimizer, ext.Lion)


def test_swish_exports_to_onnx_and_matches_onnxruntime(ext: SimpleNamespace, tmp_path) -> None:
    import onnxruntime as ort

    from chainrule.onnx.convert import export

    rng = np.random.default_rng(4)
    X = rng.normal(size=(50, 3))
    for dtype, tol in (("float32", 1e-5), ("float64", 1e-12)):
        net = cr.MLP([3, 8, 2], hidden="swish", output="softmax", loss="cross_entropy",
                     dtype=dtype, seed=4)
        net.scaler = cr.Standardizer.fit(X)
        path = tmp_path / f"swish-{dtype}.onnx"
        export(net, path)
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        (got,) = sess.run(None, {sess.get_inputs()[0].name: X.astype(dtype)})
        np.testing.assert_allclose(got, net.predict(X), rtol=tol, atol=tol)
