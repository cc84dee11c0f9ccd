"""Steady-state memory of training, measured with tracemalloc (NumPy reports its array
buffers to it): after the first epoch a training step neither keeps new memory nor
allocates anything as large as a hidden layer's activations — so no float64 copy of
one either — in a float32 run. No wall-clock assertions."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import chainrule as cr
from chainrule.engine.workspace import Workspace, Workspaces
from chainrule.training.callbacks import Callback

BATCH, N_IN, HIDDEN, N_OUT = 64, 32, 1024, 10
# One float32 hidden activation (z, a or δ of a hidden layer) of a full batch: 256 KiB.
HIDDEN_F32 = BATCH * HIDDEN * 4


class MemoryProbe(Callback):
    """Traced memory after every batch, and the peak reached during that batch.

    Rows go into an array allocated up front, so the probe itself adds no traced memory.
    """

    def __init__(self, max_rows: int = 1000) -> None:
        self._table = np.zeros((max_rows, 4), dtype=np.int64)  # epoch, batch, current, peak
        self._n = 0
        self.workspaces: Workspaces | None = None  # the trainer's, to inspect afterwards

    def on_train_begin(self, trainer: cr.Trainer) -> None:
        self.workspaces = trainer.workspaces

    @property
    def rows(self) -> list[tuple[int, ...]]:
        return [tuple(int(x) for x in row) for row in self._table[: self._n]]

    def on_epoch_begin(self, trainer: cr.Trainer) -> None:
        tracemalloc.reset_peak()

    def on_batch_end(self, trainer: cr.Trainer, batch: int, loss: float) -> None:
        current, peak = tracemalloc.get_traced_memory()
        self._table[self._n] = (trainer.epoch, batch, current, peak)
        self._n += 1
        tracemalloc.reset_peak()


def _train_traced(dtype: str, epochs: int = 4, n: int = 650) -> tuple[cr.Network, MemoryProbe]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, N_IN)).astype(dtype)
    y = rng.integers(0, N_OUT, n)  # 650 = 10 full batches + one of 10: two batch sizes
    net = cr.MLP([N_IN, HIDDEN, HIDDEN, N_OUT], hidden="relu", output="softmax",
                 loss="cross_entropy", seed=0, dtype=dtype)
    probe = MemoryProbe()
    tracemalloc.start()
    try:
        net.fit(X, y, epochs=epochs, batch_size=BATCH, optimizer=cr.Adam(1e-3),
                callbacks=[probe])
    finally:
        tracemalloc.stop()
    return net, probe


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_training_steps_after_the_first_epoch_keep_no_new_memory(dtype: str) -> None:
    _, probe = _train_traced(dtype)
    # Skip each epoch's first batch: the epoch's shuffled order is allocated just before it.
    steady = [row for row in probe.rows if row[0] >= 2 and row[1] >= 2]
    assert len(steady) == 3 * 10
    currents = [row[2] for row in steady]
    # 30 steps; a leak of even one small array per step would add ≥ 30 × 2.5 KiB.
    assert max(currents) - min(currents) < 4096, currents
    # Memory at the end of epoch 4 equals that at the end of epoch 2, step for step.
    by_epoch = {e: [r[2] for r in steady if r[0] == e] for e in (2, 3, 4)}
    growth = np.array(by_epoch[4]) - np.array(by_epoch[2])
    assert np.all(np.abs(growth) < 4096), growth


def test_a_float32_step_allocates_less_than_one_hidden_activation() -> None:
    """Every array of hidden size lives in a reused buffer; the only allocations a step
    makes are (batch, 10) temporaries of the loss, a boolean ReLU mask (64 KiB here) and
    NumPy's fixed 32 KiB ufunc scratch buffer. A float64 copy of any hidden activation
    (512 KiB), or an unintended float32 one (256 KiB), would exceed the bound."""
    net, probe = _train_traced("float32")
    rows = probe.rows
    step_growth = [  # peak during a step over the memory held before it, same epoch
        peak - prev[2]
        for prev, (epoch, batch, _, peak) in zip(rows, rows[1:], strict=False)
        if epoch >= 2 and batch >= 2
    ]
    assert len(step_growth) == 3 * 10
    assert max(step_growth) < HIDDEN_F32 // 2, step_growth
    # And everything the step computed with is float32.
    trainer_ws = probe.workspaces
    assert trainer_ws is not None and trainer_ws.by_size
    for ws in trainer_ws.by_size.values():
        for buffers in ws.layers:
            for name in ("z", "a", "delta", "grad_prev"):
                assert getattr(buffers, name).dtype == np.float32, (buffers, name)
    for layer in net.dense_layers:
        for name in ("grad_w", "grad_b", "w", "b"):
            assert getattr(layer, name).dtype == np.float32, (layer, name)
    assert net.grads.dtype == np.float32
    assert net.optimizer is not None
    assert all(v.dtype == np.float32 for v in net.optimizer.state.values())


def test_training_forward_reuses_buffers_and_inference_does_not() -> None:
    rng = np.random.default_rng(1)
    net = cr.MLP([4, 8, 3], hidden="relu", output="softmax", loss="cross_entropy", seed=0)
    X = rng.standard_normal((5, 4)).astype(np.float32)
    ws = Workspace(net, 5)
    first = net.forward(X, training=True, workspace=ws)
    z_first, a_first = first.z[0], first.a[1]
    second = net.forward(X * 2, training=True, workspace=ws)
    assert second.z[0] is z_first and second.a[1] is a_first  # same buffers, new values
    out1 = net.forward(X)
    out2 = net.forward(X)
    assert out1.a_L is not out2.a_L and out1.z[0] is not z_first  # inference: fresh arrays
    np.testing.assert_array_equal(out1.a_L, out2.a_L)


def test_buffered_training_step_gives_the_same_gradient_as_a_plain_one() -> None:
    rng = np.random.default_rng(2)
    X = rng.standard_normal((7, 5))
    y = rng.integers(0, 3, 7)
    net = cr.MLP([5, 6, 4, 3], hidden="tanh", output="softmax", loss="cross_entropy",
                 seed=0, dtype="float64")
    plain = net.gradient(X, y).copy()
    Y = net.targets(y, 7)
    ws = Workspace(net, 7)
    net.backward(net.forward(X, training=True, workspace=ws), Y, workspace=ws)
    np.testing.assert_array_equal(net.grads, plain)
    # Twice, so the second step runs in buffers that already hold the first step's values.
    net.backward(net.forward(X, training=True, workspace=ws), Y, workspace=ws)
    np.testing.assert_array_equal(net.grads, plain)


def test_a_custom_activation_without_out_still_trains() -> None:
    """Activation subclasses written before backward took ``out=`` keep working."""

    class OldStyleTanh(cr.Activation):
        name = "old_tanh"

        def g(self, z):  # type: ignore[no-untyped-def]
            return np.tanh(z)

        def g_prime(self, z, a):  # type: ignore[no-untyped-def]
            return 1.0 - a * a

        def backward(self, z, a, grad_a):  # type: ignore[no-untyped-def]
            return grad_a * (1.0 - a * a)

    rng = np.random.default_rng(5)
    X, y = rng.standard_normal((40, 3)), rng.integers(0, 2, 40)
    nets = [cr.Network([cr.Dense(3, 8, act), cr.Dense(8, 2, "softmax")], loss="cross_entropy",
                       seed=0, dtype="float64") for act in (OldStyleTanh(), "tanh")]
    for net in nets:
        net.fit(X, y, epochs=2, batch_size=8, optimizer=cr.SGD(0.1))
    np.testing.assert_allclose(nets[0].params, nets[1].params, rtol=1e-12)
