"""The fast path equals the reference backprop (chainrule.reference) for every entry of the
activation, loss and optimizer tables: float64 to 1e-12, float32 to 1e-6 (relative).

The fast path is what training runs: ``Network.forward``/``backward`` writing into a
:class:`Workspace` (reused across steps), the fused δ^(L) = a − y for canonical pairs,
in-place activations, the numba Adam kernel on large networks. The reference is twenty
lines of plain NumPy in the notes' names.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import chainrule as cr
from chainrule import reference
from chainrule.engine.activations import ACTIVATIONS
from chainrule.engine.losses import LOSSES
from chainrule.engine.workspace import Workspace
from chainrule.training.optimizers import OPTIMIZERS

BUILTIN_ACTIVATIONS = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu",
                       "softplus", "softmax"]
BUILTIN_LOSSES = ["squared_error", "mse", "huber", "cross_entropy", "binary_cross_entropy"]
BUILTIN_OPTIMIZERS = ["sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw"]
TOL = {"float64": 1e-12, "float32": 1e-6}


def test_the_tables_hold_exactly_the_builtins_tested_here() -> None:
    """A new built-in must be added to the lists above (and so to the equality tests)."""
    assert set(BUILTIN_ACTIVATIONS) <= set(ACTIVATIONS)
    assert set(BUILTIN_LOSSES) <= set(LOSSES)
    assert set(BUILTIN_OPTIMIZERS) <= set(OPTIMIZERS)
    import chainrule.engine.activations as acts
    import chainrule.engine.losses as losses
    import chainrule.training.optimizers as opts

    for module, table, tested in ((acts, ACTIVATIONS, BUILTIN_ACTIVATIONS),
                                  (losses, LOSSES, BUILTIN_LOSSES),
                                  (opts, OPTIMIZERS, BUILTIN_OPTIMIZERS)):
        builtin = {name for name, cls in table.items() if cls.__module__ == module.__name__}
        assert builtin == set(tested)


def _output_for(loss: str, hidden: str) -> str:
    canonical = cr.losses.get_loss(loss).canonical_activation
    if canonical is not None:
        return canonical
    return "identity" if hidden == "softmax" else hidden


def _targets(loss: str, rng: np.random.Generator, n: int, n_out: int) -> np.ndarray:
    if loss == "cross_entropy":
        return np.eye(n_out)[rng.integers(0, n_out, n)]
    if loss == "binary_cross_entropy":
        return rng.integers(0, 2, (n, n_out)).astype(float)
    return rng.normal(size=(n, n_out))


def _net(hidden: str, output: str, loss: str, dtype: str, *, fused: bool = True,
         l2: float = 0.0, sizes: tuple[int, ...] = (5, 7, 6, 3), seed: int = 0) -> cr.Network:
    net = cr.MLP(list(sizes), hidden=hidden, output=output, loss=loss, dtype=dtype, seed=seed,
                 fused=fused, l2=l2)
    rng = np.random.default_rng(seed + 1)
    for layer in net.dense_layers:  # non-zero biases: no unit sits exactly on a kink
        layer.b = rng.normal(size=layer.n_out) * 0.3
    return net


def _assert_close(fast: np.ndarray, ref: np.ndarray, dtype: str) -> None:
    tol = TOL[dtype]
    scale = max(float(np.max(np.abs(ref))), 1e-30)
    np.testing.assert_allclose(fast, ref, rtol=tol, atol=tol * scale)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("loss", BUILTIN_LOSSES)
@pytest.mark.parametrize("hidden", BUILTIN_ACTIVATIONS)
def test_fast_gradient_equals_the_reference(hidden: str, loss: str, dtype: str) -> None:
    rng = np.random.default_rng(zlib.crc32(repr((hidden, loss)).encode()))
    output = _output_for(loss, hidden)
    net = _net(hidden, output, loss, dtype, l2=0.01)
    X = rng.normal(size=(9, 5))
    a0 = net.inputs(X)
    Y = net.targets(_targets(loss, rng, 9, 3), 9)
    ref = reference.flat_gradient(net, a0, Y)
    ws = Workspace(net, 9)
    for _ in range(2):  # the second pass runs in buffers holding the first one's values
        fast = net.backward(net.forward(a0, training=True, workspace=ws), Y, workspace=ws)
        _assert_close(fast, ref, dtype)
    _assert_close(net.gradient(X, Y), ref, dtype)  # and the allocating path
    zs, activations = reference.forward(net, a0)
    trace = net.forward(a0)
    for i, z in enumerate(trace.z):
        _assert_close(z, zs[i + 1], dtype)
    _assert_close(trace.a_L, activations[-1], dtype)


@pytest.mark.parametrize("loss", ["cross_entropy", "binary_cross_entropy"])
def test_the_general_path_of_a_canonical_pair_equals_the_reference(loss: str) -> None:
    """fused=False: ∂C/∂a · g′(z) instead of a − y; both equal the reference."""
    rng = np.random.default_rng(3)
    net = _net("tanh", _output_for(loss, "tanh"), loss, "float64", fused=False)
    a0 = net.inputs(rng.normal(size=(6, 5)))
    Y = net.targets(_targets(loss, rng, 6, 3), 6)
    _assert_close(net.backward(net.forward(a0), Y), reference.flat_gradient(net, a0, Y),
                  "float64")


def test_every_elementwise_activation_as_output_equals_the_reference() -> None:
    rng = np.random.default_rng(4)
    for name in BUILTIN_ACTIVATIONS:
        net = _net("tanh", name, "squared_error", "float64")
        a0 = net.inputs(rng.normal(size=(6, 5)))
        Y = net.targets(rng.normal(size=(6, 3)), 6)
        _assert_close(net.gradient(a0, Y), reference.flat_gradient(net, a0, Y), "float64")


def test_a_network_with_dropout_at_inference_and_without_bias_equals_the_reference() -> None:
    rng = np.random.default_rng(5)
    net = cr.Network([cr.Dense(4, 8, "relu", bias=False), cr.Dropout(0.3),
                      cr.Dense(8, 2, "softmax", bias=False)], loss="cross_entropy",
                     dtype="float64", seed=0)
    a0 = net.inputs(rng.normal(size=(7, 4)))
    Y = net.targets(rng.integers(0, 2, 7), 7)
    _assert_close(net.backward(net.forward(a0), Y), reference.flat_gradient(net, a0, Y),
                  "float64")


def reference_fit(net: cr.Network, X: np.ndarray, y: np.ndarray, optimizer: cr.Optimizer,
                  epochs: int, batch_size: int) -> None:
    """The notes' SGD loop with the reference gradient: no workspace, nothing fused."""
    a0, Y = net.inputs(X), net.targets(y, len(X))
    for _ in range(epochs):
        for start in range(0, len(a0), batch_size):
            grads = reference.flat_gradient(net, a0[start:start + batch_size],
                                            Y[start:start + batch_size])
            optimizer.step(net.params, grads.astype(net.dtype))


def _optimizer(name: str) -> cr.Optimizer:
    lr = {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "rmsprop": 0.01}.get(name, 0.01)
    return cr.optimizers.get_optimizer(name, lr=lr)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", BUILTIN_OPTIMIZERS)
def test_training_equals_the_reference_loop_for_every_optimizer(name: str, dtype: str) -> None:
    rng = np.random.default_rng(6)
    X, y = rng.normal(size=(50, 5)), rng.integers(0, 3, 50)  # 50 = 3 × 16 + 2: two sizes
    fast, ref = (_net("tanh", "softmax", "cross_entropy", dtype) for _ in range(2))
    fast.fit(X, y, epochs=3, batch_size=16, optimizer=_optimizer(name), shuffle=False)
    reference_fit(ref, X, y, _optimizer(name), epochs=3, batch_size=16)
    _assert_close(fast.params, ref.params, dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_the_compiled_adam_kernel_equals_the_reference_loop(name: str, dtype: str) -> None:
    """A network over the kernel's size threshold, so fit's Adam runs the numba loop."""
    from chainrule.training import optimizers

    optimizers._adam_kernel.cache_clear()
    assert optimizers._adam_kernel() is not None, "numba is part of the test extra"
    sizes = (64, 256, 128, 4)
    net_size = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    assert net_size >= optimizers.Adam._KERNEL_MIN_SIZE
    rng = np.random.default_rng(7)
    X, y = rng.normal(size=(40, 64)), rng.integers(0, 4, 40)
    fast, ref = (_net("relu", "softmax", "cross_entropy", dtype, sizes=sizes) for _ in range(2))
    fast.fit(X, y, epochs=2, batch_size=16, optimizer=_optimizer(name), shuffle=False)
    reference_fit(ref, X, y, _optimizer(name), epochs=2, batch_size=16)
    _assert_close(fast.params, ref.params, dtype)


def test_the_reference_is_short_and_in_the_notes_names() -> None:
    """≤ 40 lines of code for forward + backward (docstrings and comments aside)."""
    import ast
    import inspect

    source = inspect.getsource(reference)
    tree = ast.parse(source)
    lines = source.splitlines()
    counted = 0
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in ("forward", "backward"):
            doc = ast.get_docstring(node)
            body = lines[node.lineno - 1 : node.end_lineno]
            code = [ln for ln in body if ln.strip() and not ln.strip().startswith("#")]
            counted += len(code) - (len(doc.splitlines()) if doc else 0)
            for name in ("delta", "a_prev", "grad_w"):
                assert name in ast.unparse(node) or node.name == "forward"
    assert counted <= 40, counted
