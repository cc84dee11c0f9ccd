"""The compiled step on a table job's networks (chainrule.training.compiled.front and
.layout): a categorical lookup and periodic numeric features before the Dense layers, and
dropout after the hidden ones. Every piece equals the NumPy path — the cost, every
gradient (float64 to 1e-12, float32 to 1e-6, relative), the dropout masks (the generator
ends where the NumPy path leaves it) and whole runs of epochs — and a seed gives the same
bits every time.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import chainrule as cr
from chainrule.engine.embeddings import table_input_layers
from chainrule.training import compiled
from chainrule.training.loop import Trainer
from chainrule.training.step import Step

TOL = {"float64": 1e-12, "float32": 1e-6}
FRONTS = [(True, True), (True, False), (False, True), (False, False)]  # (lookup, periodic)


@pytest.fixture(autouse=True)
def numba_installed() -> None:
    if importlib.util.find_spec("numba") is None:  # chainrule[fast] is in the test extra
        pytest.fail("numba is missing: pip install -e '.[test]' (it includes chainrule[fast])")


@pytest.fixture
def on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Force the compiled step (no size or length checks)."""
    monkeypatch.setenv("CHAINRULE_COMPILED", "1")
    monkeypatch.setenv("CHAINRULE_NUMBA", "1")


def _net(dtype: str, lookup: bool, periodic: bool, dropout: float, *, loss: str =
         "cross_entropy", output: str = "softmax", n_out: int = 3, seed: int = 0,
         l2: float = 0.0) -> cr.Network:
    """5 columns: 1 and 4 hold codes (4 and 6 values), 0, 2, 3 numbers; as
    chainrule.runs.network builds a table job's network."""
    codes = [(1, 4), (4, 6)] if lookup else []
    front = table_input_layers(5, codes, [0, 2, 3], periodic=periodic)
    width = front[-1].n_out if front else 5
    mlp = cr.MLP([width, 16, 8, n_out], hidden="relu", output=output, loss=loss,
                 dropout=dropout, seed=seed, dtype=dtype)
    return cr.Network([*front, *mlp.layers], loss=mlp.loss_fn, dtype=mlp.dtype, seed=seed,
                      l2=l2)


def _data(n: int, dtype: str, n_out: int = 3, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 5))
    x[:, 1], x[:, 4] = rng.integers(0, 4, n), rng.integers(0, 6, n)
    y = np.eye(n_out)[rng.integers(0, n_out, n)]
    return x.astype(dtype), y.astype(dtype)


def _close(fast: np.ndarray, ref: np.ndarray, dtype: str) -> None:
    tol = TOL[dtype]
    scale = max(float(np.max(np.abs(ref))), 1e-30)
    np.testing.assert_allclose(fast, ref, rtol=tol, atol=tol * scale)


@pytest.mark.usefixtures("on")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("dropout", [0.0, 0.25])
@pytest.mark.parametrize(("lookup", "periodic"), FRONTS)
def test_one_compiled_step_equals_the_numpy_step(lookup: bool, periodic: bool,
                                                 dropout: float, dtype: str) -> None:
    """Cost, gradient of every parameter (lookup tables, frequencies, periodic maps, Dense
    layers) and the weights after an SGD step, from the same seed; the masks are the
    same draws, so both generators end in the same state."""
    fast, slow = _net(dtype, lookup, periodic, dropout), _net(dtype, lookup, periodic, dropout)
    x, y = _data(32, dtype)
    compiled_step, numpy_step = Step(fast, cr.SGD(0.1)), Step(slow, cr.SGD(0.1))
    numpy_step.compiled = None
    assert compiled_step.compiled is not None
    for batch in (1, 2, 3):
        loss_fast, n, right_fast = compiled_step(x, y, epoch=1, batch=batch)
        loss_slow, _, right_slow = numpy_step(x, y, epoch=1, batch=batch)
        assert compiled_step.compiled.loaded and n == 32 and right_fast == right_slow
        _close(np.array(loss_fast), np.array(loss_slow), dtype)
        _close(fast.grads, slow.grads, dtype)
        _close(fast.params, slow.params, dtype)
    assert fast.rng.bit_generator.state == slow.rng.bit_generator.state


@pytest.mark.usefixtures("on")
@pytest.mark.parametrize(("loss", "output", "n_out"), [("cross_entropy", "softmax", 3),
                                                       ("mse", "identity", 2),
                                                       ("binary_cross_entropy", "sigmoid", 1)])
def test_whole_epochs_in_one_call_equal_numpy_and_repeat_bit_for_bit(
        loss: str, output: str, n_out: int) -> None:
    """A shuffled fit of several epochs with dropout, AdamW and a partial last batch (the
    loop's whole-epoch compiled runs): 1e-12 from the NumPy path's weights, and the same
    bits when run again."""
    x, y = _data(300, "float64", n_out=n_out, seed=3)
    if output == "identity":
        y = np.random.default_rng(4).standard_normal((300, n_out))

    def fit(mode: str) -> np.ndarray:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("CHAINRULE_COMPILED", mode)
            net = _net("float64", True, True, 0.1, loss=loss, output=output, n_out=n_out)
            trainer = Trainer(net, cr.AdamW(3e-3, weight_decay=1e-3), epochs=4,
                              batch_size=32)
            trainer.run(x, y)
            assert (trainer.compiled is not None and trainer.compiled.loaded) == (mode == "1")
            return net.params.copy()

    first, numpy, again = fit("1"), fit("0"), fit("1")
    _close(first, numpy, "float64")
    assert np.array_equal(first, again)


@pytest.mark.usefixtures("on")
def test_a_run_that_stops_early_draws_only_the_masks_of_its_batches() -> None:
    """A whole-epoch run that ends at its first batch (here: its mean cost is above the
    bound) leaves the generator where one NumPy step leaves it."""
    net, twin = _net("float64", True, True, 0.3), _net("float64", True, True, 0.3)
    x, y = _data(64, "float64")
    step = Step(net, cr.SGD(0.01))
    assert step.compiled is not None
    step.compiled(x[:8], y[:8], 1)  # loads it
    twin_step = Step(twin, cr.SGD(0.01))
    twin_step.compiled = None
    twin_step(x[:8], y[:8], epoch=1, batch=1)
    out = step.compiled.run_batches(x, y, None, 0, 8, 8, -np.inf)
    assert len(out) == 1
    twin_step(x[:8], y[:8], epoch=1, batch=2)
    assert net.rng.bit_generator.state == twin.rng.bit_generator.state
    _close(net.params, twin.params, "float64")


@pytest.mark.usefixtures("on")
def test_a_code_out_of_range_is_the_lookup_s_own_error() -> None:
    net = _net("float64", True, True, 0.0)
    x, y = _data(16, "float64")
    x[5, 4] = 6.0  # column 4 has 6 codes: 0..5
    step = Step(net, cr.Adam())
    with pytest.raises(ValueError, match=r"column 4 holds the codes .* got 6\.0 in row 5"):
        step(x, y, epoch=1, batch=1)


def test_the_compiled_step_takes_table_networks_and_refuses_what_it_does_not_cover(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAINRULE_COMPILED", "1")
    layout = compiled.plan(_net("float32", True, True, 0.1), cr.AdamW())
    assert layout is not None and len(layout["front"]) == 2
    assert layout["dropout"] == [pytest.approx(0.1), pytest.approx(0.1), 0.0]
    # L2 on the input layers' weights is not in the compiled step: NumPy
    assert compiled.plan(_net("float32", True, True, 0.1, l2=1e-3), cr.AdamW()) is None
    periodic_last = cr.Network([cr.Dense(5, 5, "relu"),
                                *table_input_layers(5, [], [0, 1]),
                                cr.Dense(11, 2, "softmax")], loss="cross_entropy")
    assert compiled.plan(periodic_last, cr.Adam()) is None


def test_a_table_fit_switches_to_the_compiled_step_at_a_fixed_step(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset, CHAINRULE_COMPILED leaves the choice to the fit: a network with dropout or
    input layers trains on NumPy for its first LAYERED_FROM_STEP steps and compiled after
    (a fit that ends before never loads numba); the switch changes the weights by no more
    than 1e-12 and falls on the same step every time, so a seed gives the same bits."""
    monkeypatch.delenv("CHAINRULE_COMPILED", raising=False)
    monkeypatch.setattr(compiled, "LAYERED_FROM_STEP", 40)
    x, y = _data(64, "float64")

    def fit(epochs: int) -> tuple[bool, np.ndarray]:
        net = _net("float64", True, True, 0.1)
        trainer = Trainer(net, cr.AdamW(3e-3), epochs=epochs, batch_size=8)
        trainer.run(x, y)
        step = trainer.compiled
        return step is not None and step.loaded, net.params.copy()

    assert not fit(5)[0]  # 40 steps: the 41st would be the first compiled one
    switched, first = fit(9)
    again = fit(9)[1]
    monkeypatch.setenv("CHAINRULE_COMPILED", "0")
    numpy = fit(9)[1]
    assert switched and np.array_equal(first, again)
    _close(first, numpy, "float64")
