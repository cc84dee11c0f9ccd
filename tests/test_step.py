"""The training step (chainrule.training.step) on its own: it is the notes' procedure for one
batch bit for bit, the loop's steps are its steps, and what varies — the reducer, the
objective — is an object passed in."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import reference
from chainrule.training import (
    DivergenceError,
    LocalReducer,
    NetworkObjective,
    Step,
    Trainer,
    callbacks,
)


def _data(n: int = 24, seed: int = 0) -> tuple[cr.Network, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    net = cr.MLP([4, 7, 3], hidden="tanh", output="softmax", loss="cross_entropy",
                 dtype="float64", seed=seed)
    return net, net.inputs(rng.normal(size=(n, 4))), net.targets(rng.integers(0, 3, n), n)


def test_a_step_is_forward_cost_backward_update_bit_for_bit(monkeypatch) -> None:
    monkeypatch.setenv("CHAINRULE_COMPILED", "0")
    net, a0, Y = _data()
    twin = net.copy()
    step, opt = Step(net, cr.Adam(1e-2)), cr.Adam(1e-2)
    for batch in range(1, 4):
        xb, yb = a0[8 * (batch - 1):8 * batch], Y[8 * (batch - 1):8 * batch]
        loss_sum, n, correct = step(xb, yb, epoch=1, batch=batch)
        trace = twin.forward(xb, training=True)
        cost = twin.cost(trace, yb)
        grads = twin.backward(trace, yb)
        opt.step(twin.params, grads, grad_sq_norm=float(np.dot(grads, grads)))
        assert (loss_sum, n) == (cost * 8, 8)
        assert correct == int(np.sum(trace.a_L.argmax(1) == yb.argmax(1)))
        assert net.params.tobytes() == twin.params.tobytes()


def test_the_loop_takes_the_same_steps(monkeypatch) -> None:
    """Trainer.run (no shuffle) equals calling the step batch by batch, bitwise."""
    monkeypatch.setenv("CHAINRULE_COMPILED", "0")
    net, a0, Y = _data(n=20)
    by_hand = net.copy()
    Trainer(net, cr.SGD(0.1, momentum=0.9), epochs=2, batch_size=8, shuffle=False).run(a0, Y)
    step = Step(by_hand, cr.SGD(0.1, momentum=0.9))
    for epoch in (1, 2):
        for batch, lo in enumerate(range(0, 20, 8), start=1):
            step(a0[lo:lo + 8], Y[lo:lo + 8], epoch=epoch, batch=batch)
    assert net.params.tobytes() == by_hand.params.tobytes()


class HalvesReducer(LocalReducer):
    """Two 'workers' in one process: computes on each half of the batch in turn and
    combines them as the MPI reducer does (Σ n_k g_k / Σ n_k)."""

    def __init__(self, step_of: list[Step]) -> None:
        self.step_of = step_of
        self.calls: list[tuple[int, int]] = []

    def share(self, xb, yb, sb):
        self.batch = (xb, yb)
        return xb[: len(xb) // 2], yb[: len(xb) // 2], sb

    def reduce(self, grads, n_local, loss_sum, correct, weight_sum):
        first = grads * n_local
        xb, yb = self.batch
        rest, rest_correct = self.step_of[0].gradient(xb[n_local:], yb[n_local:])
        m = len(xb)
        grads[...] = (first + grads * (m - n_local)) / m
        self.calls.append((n_local, m))
        return m, loss_sum + rest, correct + rest_correct


def test_a_reducer_passed_in_shares_and_combines(monkeypatch) -> None:
    monkeypatch.setenv("CHAINRULE_COMPILED", "1")  # a reducer keeps the step off it
    net, a0, Y = _data(n=16)
    plain = net.copy()
    owner: list[Step] = []
    reducer = HalvesReducer(owner)
    step = Step(net, cr.SGD(0.5), reducer=reducer)
    owner.append(step)
    assert step.compiled is None and not step.is_plain
    loss_sum, n, _ = step(a0, Y, epoch=1, batch=1)
    ref_loss, ref_n, _ = Step(plain, cr.SGD(0.5), reducer=LocalReducer())(a0, Y, epoch=1,
                                                                          batch=1)
    assert reducer.calls == [(8, 16)] and n == ref_n == 16
    assert loss_sum == pytest.approx(ref_loss, rel=1e-12)
    np.testing.assert_allclose(net.params, plain.params, rtol=1e-12, atol=1e-15)


class ReferenceObjective:
    """The network's cost with chainrule.reference's 28-line backprop."""

    any_backend = False
    any_backend_weighted = False

    def gradient(self, net, xs, ys, ss, workspaces, rng):
        net.grads[...] = reference.flat_gradient(net, xs, ys)
        _, activations = reference.forward(net, xs)
        cost = float(np.mean(net.loss_fn.value(activations[-1], ys)))
        return cost * len(xs), int(np.sum(activations[-1].argmax(1) == ys.argmax(1)))

    def batch_weight(self, n, ss):
        return float(n)


def test_an_objective_passed_in_is_what_the_step_minimises() -> None:
    net, a0, Y = _data()
    twin = net.copy()
    step = Step(net, cr.Adam(1e-2), objective=ReferenceObjective())
    assert step.compiled is None
    default = Step(twin, cr.Adam(1e-2), objective=NetworkObjective())
    for batch in (1, 2, 3):
        xb, yb = a0[8 * (batch - 1):8 * batch], Y[8 * (batch - 1):8 * batch]
        ours = step(xb, yb, epoch=1, batch=batch)
        theirs = default(xb, yb, epoch=1, batch=batch)
        assert ours[0] == pytest.approx(theirs[0], rel=1e-12) and ours[1:] == theirs[1:]
    np.testing.assert_allclose(net.params, twin.params, rtol=1e-10, atol=1e-13)


def test_a_batch_that_weighs_nothing_takes_no_step() -> None:
    net, a0, Y = _data(n=8)
    before = net.params.copy()
    step = Step(net, cr.SGD(0.1))
    loss_sum, n, _ = step(a0, Y, np.zeros(8), epoch=1, batch=1)
    assert (loss_sum, n) == (0.0, 8) and net.params.tobytes() == before.tobytes()


def test_divergence_error_declares_its_fields() -> None:
    net, a0, Y = _data(n=8)
    a0 = a0.copy()
    a0[0, 0] = np.nan
    with pytest.raises(DivergenceError) as info, np.errstate(all="ignore"):
        Step(net, cr.SGD(0.1))(a0, Y, epoch=3, batch=5)
    exc = info.value
    assert (exc.epoch, exc.batch, exc.what, exc.finite) == (3, 5, "the loss", False)
    assert exc.update_applied is False and exc.advice is None and exc.diagnosis is None
    assert "epoch 3, batch 5: the loss is not finite" in str(exc)
    assert cr.DivergenceError is DivergenceError is callbacks.DivergenceError


def test_a_resumed_run_numbers_its_epochs_from_start_epoch(monkeypatch) -> None:
    monkeypatch.setenv("CHAINRULE_COMPILED", "0")
    net, a0, Y = _data(n=16)
    seen: list[tuple[int, int]] = []
    probe = cr.LambdaCallback(on_epoch_end=lambda tr, logs: seen.append((tr.epoch,
                                                                         tr.epochs)))
    history = Trainer(net, cr.SGD(0.1), epochs=5, batch_size=8, callbacks=[probe],
                      start_epoch=3).run(a0, Y)
    assert seen == [(4, 5), (5, 5)] and history.epoch == [4, 5]
    with pytest.raises(ValueError, match="epochs: expected at least start_epoch"):
        Trainer(net, cr.SGD(0.1), epochs=2, batch_size=8, start_epoch=3)
