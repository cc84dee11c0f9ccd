"""The compiled training step (chainrule.compiled) equals the reference backprop
(chainrule.reference) plus the NumPy optimizers for every activation × loss × optimizer,
float64 to 1e-12 and float32 to 1e-6 (relative); it is bitwise reproducible with a seed;
the rules it compiles are the ones derived from the classes' NumPy methods; a step
allocates nothing; and without numba (CHAINRULE_NUMBA=0) training takes the NumPy path.
"""

from __future__ import annotations

import importlib.util
import tracemalloc
import zlib

import numpy as np
import pytest
from test_reference import _assert_close as _close
from test_reference import _output_for, _targets

import chainrule as cr
from chainrule import reference
from chainrule.engine.activations import ACTIVATIONS
from chainrule.engine.losses import LOSSES
from chainrule.training import compiled
from chainrule.training.loop import Trainer
from chainrule.training.step import LocalReducer, Step

# The test extra installs chainrule[fast], so a missing numba is an installation error:
# these tests fail then (as test_kernels.py's do), they never skip.
needs_numba = pytest.mark.usefixtures("numba_installed")


@pytest.fixture
def numba_installed() -> None:
    if importlib.util.find_spec("numba") is None:
        pytest.fail("numba is missing: pip install -e '.[test]' (it includes chainrule[fast])")

ACTS = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "softplus",
        "softmax"]
LOSS_NAMES = ["squared_error", "mse", "huber", "cross_entropy", "binary_cross_entropy"]
OPTS = ["sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw"]


@pytest.fixture
def on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Force the compiled step (no size or warm-up checks)."""
    monkeypatch.setenv("CHAINRULE_COMPILED", "1")
    monkeypatch.setenv("CHAINRULE_NUMBA", "1")


def _net(hidden: str, output: str, loss: str, dtype: str, *, sizes=(5, 7, 6, 3),  # type: ignore[no-untyped-def]
         seed: int = 0, **kw) -> cr.Network:
    net = cr.MLP(list(sizes), hidden=hidden, output=output, loss=loss, dtype=dtype, seed=seed,
                 **kw)
    rng = np.random.default_rng(seed + 1)
    for layer in net.dense_layers:  # non-zero biases: no unit sits exactly on a kink
        if layer.b is not None:
            layer.b = rng.normal(size=layer.n_out) * 0.3
    return net


def _step(net: cr.Network, optimizer: cr.Optimizer, batch: int) -> compiled.CompiledStep:
    layout = compiled.plan(net, optimizer)
    assert layout is not None
    return compiled.CompiledStep(Step(net, optimizer), layout)


def _reference_cost(net: cr.Network, a0: np.ndarray, Y: np.ndarray) -> float:
    _, activations = reference.forward(net, a0)
    c = float(np.mean(net.loss_fn.value(activations[-1], Y)))
    return c + 0.5 * net.l2 * sum(float(np.vdot(d.w, d.w)) for d in net.dense_layers)


CASES = ([(h, _output_for(loss, h), loss) for h in ACTS for loss in LOSS_NAMES]
         + [("tanh", out, loss) for out in ACTS for loss in ("squared_error", "huber", "mse")])


@needs_numba
@pytest.mark.usefixtures("on")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("hidden", "output", "loss"), CASES)
def test_compiled_gradient_and_cost_equal_the_reference(hidden: str, output: str, loss: str,
                                                        dtype: str) -> None:
    rng = np.random.default_rng(zlib.crc32(repr((hidden, output, loss)).encode()))
    net = _net(hidden, output, loss, dtype, l2=0.01)
    a0 = net.inputs(rng.normal(size=(9, 5)))
    Y = net.targets(_targets(loss, rng, 9, 3), 9)
    # The reference in float64 on the same (float32-valued) weights and data: the exact
    # value. A float32 reference would be a second float32 computation, whose own rounding
    # can be the larger error: for elu → sigmoid + binary cross-entropy it computes
    # log(1 − a) from a = σ(z) and was measured 4e-6 off the exact cost on some draws,
    # where the compiled step (which takes the cost from the logits) was 1e-8 off.
    twin = _net(hidden, output, loss, "float64", l2=0.01)
    twin.params[...] = net.params
    X64, Y64 = a0.astype(np.float64), Y.astype(np.float64)
    ref = reference.flat_gradient(twin, X64, Y64)
    cost = _reference_cost(twin, X64, Y64)
    step = _step(net, cr.SGD(1e-30), 9)
    for _ in range(2):  # twice: the second runs in buffers holding the first one's values
        loss_sum, correct, sq, updated = step.run(a0, Y)
        assert updated
        _close(net.grads.astype(np.float64), ref, dtype)
        _close(np.array(loss_sum / 9), np.array(cost), dtype)
        _close(np.array(sq), np.array(float(np.dot(ref.astype(float), ref))), dtype)
    if net.loss_fn.classification:
        from chainrule.training.metrics import n_correct

        _, acts = reference.forward(net, a0)
        assert correct == n_correct(acts[-1], Y, net.independent_outputs)


@needs_numba
@pytest.mark.usefixtures("on")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("hidden", "output", "loss"),
                         [("relu", "softmax", "cross_entropy"), ("elu", "identity", "mse")])
def test_the_step_s_own_gemm_loops_equal_the_reference(hidden: str, output: str, loss: str,
                                                       dtype: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Below CHAINRULE_BLAS_MIN multiply-adds a layer uses rows.gemm_* instead of BLAS."""
    monkeypatch.setenv("CHAINRULE_BLAS_MIN", str(10**9))
    rng = np.random.default_rng(9)
    net = _net(hidden, output, loss, dtype, l2=0.01)
    a0 = net.inputs(rng.normal(size=(9, 5)))
    Y = net.targets(_targets(loss, rng, 9, 3), 9)
    ref = reference.flat_gradient(net, a0, Y)
    step = _step(net, cr.SGD(1e-30), 9)
    assert step.run(a0, Y)[3]
    assert not step._meta(9)[0][:, 9].any()  # no layer took BLAS
    _close(net.grads, ref, dtype)


@needs_numba
@pytest.mark.usefixtures("on")
@pytest.mark.parametrize("loss", ["cross_entropy", "binary_cross_entropy"])
def test_the_unfused_canonical_pair_equals_the_reference(loss: str) -> None:
    rng = np.random.default_rng(3)
    net = _net("tanh", _output_for(loss, "tanh"), loss, "float64", fused=False)
    a0 = net.inputs(rng.normal(size=(6, 5)))
    Y = net.targets(_targets(loss, rng, 6, 3), 6)
    ref = reference.flat_gradient(net, a0, Y)
    _step(net, cr.SGD(1e-30), 6).run(a0, Y)
    _close(net.grads, ref, "float64")


def _optimizer(name: str, **kw) -> cr.Optimizer:  # type: ignore[no-untyped-def]
    kw.setdefault("lr", {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05}.get(name, 0.01))
    return cr.optimizers.get_optimizer(name, **kw)


def _reference_fit(net: cr.Network, a0: np.ndarray, Y: np.ndarray, opt: cr.Optimizer,
                   epochs: int, batch: int) -> None:
    for _ in range(epochs):
        for start in range(0, len(a0), batch):
            grads = reference.flat_gradient(net, a0[start:start + batch], Y[start:start + batch])
            opt.step(net.params, grads.astype(net.dtype))


OPT_VARIANTS = [(name, {}) for name in OPTS] + [
    (name, {"clipnorm": 0.05}) for name in OPTS] + [
    ("adam", {"lr": cr.CosineWarmup(0.01, total_steps=9, warmup_steps=2)}),
    ("sgd", {"lr": cr.schedules.StepDecay(0.1, step_size=2, gamma=0.5)}),
    ("adamw", {"lr": cr.schedules.ExponentialDecay(0.01, decay_steps=3)}),
    ("rmsprop", {"lr": cr.schedules.InverseScaling(0.01)}),
]


PAIRS = [("tanh", "softmax", "cross_entropy"), ("relu", "identity", "huber"),
         ("gelu", "sigmoid", "binary_cross_entropy")]
OPT_IDS = [f"{n}-{'-'.join(o) or 'plain'}" for n, o in OPT_VARIANTS]


@needs_numba
@pytest.mark.usefixtures("on")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("name", "options"), OPT_VARIANTS, ids=OPT_IDS)
@pytest.mark.parametrize(("hidden", "output", "loss"), PAIRS)
def test_every_compiled_step_equals_the_reference_step(name: str, options: dict, dtype: str,
                                                       hidden: str, output: str,
                                                       loss: str) -> None:
    """Step by step (12 steps, two batch sizes), from the same weights and optimizer state:
    the compiled step's gradient equals reference.flat_gradient, and its update equals the
    NumPy optimizer's applied to that gradient (weights and slots). The update is compared
    on the same gradient because RMSprop and Adam divide by √s: a float32 component near
    zero turns a 1e-7 gradient difference into a larger step difference."""
    rng = np.random.default_rng(6)
    fast, ref = (_net(hidden, output, loss, dtype) for _ in range(2))
    a0 = fast.inputs(rng.normal(size=(50, 5)))
    Y = fast.targets(_targets(loss, rng, 50, 3), 50)
    fast_opt, ref_opt = _optimizer(name, **options), _optimizer(name, **options)
    step = _step(fast, fast_opt, 16)
    for _ in range(3):
        for start in range(0, 50, 16):
            xb, yb = a0[start:start + 16], Y[start:start + 16]
            ref.params[...] = fast.params
            if fast_opt.t:
                ref_opt.load_state_dict(fast_opt.state_dict())
            assert step.run(xb, yb)[3]
            # float32 against the float64 reference on the same weights: two float32
            # computations summed in different orders can differ by more than either
            # differs from the exact gradient, where terms cancel
            twin = _net(hidden, output, loss, "float64")
            twin.params[...] = ref.params
            exact = reference.flat_gradient(twin, xb.astype(np.float64), yb.astype(np.float64))
            _close(fast.grads.astype(np.float64), exact, dtype)
            ref_opt.step(ref.params, fast.grads.copy())
            _close(fast.params, ref.params, dtype)
            for slot in ref_opt.slots:
                _close(fast_opt.state[slot], ref_opt.state[slot], dtype)
    assert fast_opt.t == ref_opt.t == 12


@needs_numba
@pytest.mark.usefixtures("on")
@pytest.mark.parametrize(("name", "options"), OPT_VARIANTS, ids=OPT_IDS)
@pytest.mark.parametrize(("hidden", "output", "loss"), PAIRS)
def test_compiled_training_equals_the_reference_loop(name: str, options: dict, hidden: str,
                                                     output: str, loss: str) -> None:
    """Three epochs through Trainer (the hook in train_step), float64: the accumulated
    difference after 12 steps stays at 1e-12."""
    rng = np.random.default_rng(6)
    fast, ref = (_net(hidden, output, loss, "float64") for _ in range(2))
    a0 = fast.inputs(rng.normal(size=(50, 5)))
    Y = fast.targets(_targets(loss, rng, 50, 3), 50)
    trainer = Trainer(fast, _optimizer(name, **options), epochs=3, batch_size=16,
                      shuffle=False)
    assert trainer.compiled is not None
    trainer.run(a0, Y)
    assert trainer.compiled.kernel is not None  # it really ran compiled
    opt = _optimizer(name, **options)
    _reference_fit(ref, a0, Y, opt, epochs=3, batch=16)
    _close(fast.params, ref.params, "float64")
    assert trainer.optimizer.t == opt.t == 12


@needs_numba
@pytest.mark.usefixtures("on")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_same_seed_same_bits_and_a_saved_network_resumes(dtype: str) -> None:
    rng = np.random.default_rng(8)
    X, y = rng.normal(size=(200, 6)), rng.integers(0, 4, 200)

    def train() -> tuple[np.ndarray, list[float]]:
        net = cr.MLP([6, 16, 16, 4], hidden="elu", output="softmax", loss="cross_entropy",
                     seed=11, dtype=dtype)
        hist = net.fit(X, y, epochs=4, batch_size=32, optimizer=cr.Adam(1e-2))
        return net.params.copy(), list(hist.history["loss"])

    (p1, h1), (p2, h2) = train(), train()
    assert p1.tobytes() == p2.tobytes()
    assert h1 == h2


def test_every_derived_rule_equals_its_numpy_method() -> None:
    """The scalar forms the compiled step uses come from the classes' own methods; run as
    plain Python on every value of a grid they equal the array method (float64 math)."""
    from chainrule.training.compiled import codegen

    table = codegen.build_table(np.dtype("float64"))
    names = {cls.name for cls in table.activations}
    assert names == set(ACTS)  # every built-in activation, softmax by its row form
    assert {cls.name for cls in table.losses} == set(LOSS_NAMES)
    namespace: dict = {"np": np}
    for f in table.functions:
        exec(f.source.replace(", p, n_out):", ", p, n_out=0):", 1), namespace)  # noqa: S102
    z = np.concatenate([np.linspace(-30, 30, 601), [0.0, -0.0, 1e-8, -1e-8]])
    for cls, (_, params) in table.activations.items():
        if cls.name == "softmax":
            continue
        act = cls()
        p = np.array([float(getattr(act, k)) for k in params] + [0.0])
        a = act.g(z[None, :])[0]
        gp = act.g_prime(z[None, :], a[None, :])[0]
        g_s = np.array([namespace[f"{cls.name}_g"](v, p) for v in z])
        gp_s = np.array([namespace[f"{cls.name}_g_prime"](v, w, p) for v, w in zip(z, a,
                                                                                 strict=True)])
        np.testing.assert_allclose(g_s, a, rtol=1e-14, atol=1e-300, err_msg=cls.name)
        np.testing.assert_allclose(gp_s, gp, rtol=1e-14, atol=1e-300, err_msg=cls.name)
    rng = np.random.default_rng(0)
    a_ = rng.uniform(0.01, 0.99, (7, 3))
    y_ = rng.uniform(0, 1, (7, 3))
    for cls, (_, params, _) in table.losses.items():
        loss = cls()
        p = np.array([float(getattr(loss, k)) for k in params] + [0.0])
        grad = np.array([[namespace[f"{cls.name}_grad_a"](a_[i, j], y_[i, j], p, 3)
                          for j in range(3)] for i in range(7)])
        value = np.array([sum(namespace[f"{cls.name}_value"](a_[i, j], y_[i, j], p, 3)
                              for j in range(3)) for i in range(7)])
        np.testing.assert_allclose(grad, loss.grad_a(a_, y_), rtol=1e-14, err_msg=cls.name)
        np.testing.assert_allclose(value, loss.value(a_, y_), rtol=1e-14, err_msg=cls.name)


def test_a_rule_with_no_scalar_form_is_refused() -> None:
    from chainrule.training.compiled.derive import NotDerivable, scalar_source

    class RowNorm(cr.Activation):
        name = ""  # not registered

        def g(self, z):  # type: ignore[no-untyped-def]
            return z / np.linalg.norm(z, axis=1, keepdims=True)

        def g_prime(self, z, a):  # type: ignore[no-untyped-def]
            return np.ones_like(z)

    with pytest.raises(NotDerivable):
        scalar_source(RowNorm.g, RowNorm(), "x", ["z"], np.dtype("float64"))

    class LogOfSum(cr.losses.Loss):
        name = ""

        def value(self, a, y):  # type: ignore[no-untyped-def]
            return np.log(((a - y) ** 2).sum(axis=1))

        def grad_a(self, a, y):  # type: ignore[no-untyped-def]
            return a - y

    with pytest.raises(NotDerivable):  # a row sum inside log: not a sum of per-output terms
        scalar_source(LogOfSum.value, LogOfSum(), "x", ["a", "y"], np.dtype("float64"),
                      reduction=True)


@pytest.mark.usefixtures("on")
def test_what_the_compiled_step_does_not_cover_trains_on_numpy() -> None:
    class Swish(cr.Activation):
        name = "swish_compiled_test"

        def g(self, z):  # type: ignore[no-untyped-def]
            return z / (1.0 + np.exp(-z))

        def g_prime(self, z, a):  # type: ignore[no-untyped-def]
            s = 1.0 / (1.0 + np.exp(-z))
            return s + a * (1.0 - s)

    try:
        # dropout after a hidden layer is covered (test_compiled_table.py); twice is not
        dropout = cr.Network([cr.Dense(4, 8, "relu"), cr.Dropout(0.2), cr.Dropout(0.2),
                              cr.Dense(8, 2, "softmax")], loss="cross_entropy")
        custom = cr.Network([cr.Dense(4, 8, Swish()), cr.Dense(8, 2, "softmax")],
                            loss="cross_entropy")
        for net in (dropout, custom):
            trainer = Trainer(net, cr.Adam(), epochs=1, batch_size=4)
            step = trainer.compiled
            assert step is None or step(np.zeros((4, 4), net.dtype),
                                        np.eye(2, dtype=net.dtype)[[0, 1, 0, 1]], 1) is None
        class Lion(cr.Optimizer):  # a user optimizer: NumPy
            name = ""

            def update_step(self, w, g, lr):  # type: ignore[no-untyped-def]
                w -= lr * np.sign(g)

        plain = cr.MLP([4, 8, 2], output="softmax", loss="cross_entropy")
        assert Trainer(plain, Lion(0.1), epochs=1, batch_size=4).compiled is None
    finally:
        ACTIVATIONS.pop("swish_compiled_test", None)


@needs_numba
def test_the_path_is_chosen_from_the_fit_s_own_arguments(monkeypatch: pytest.MonkeyPatch,
                                                         runs: list[int]) -> None:
    """Unset, CHAINRULE_COMPILED leaves the choice to the fit: the compiled step for a fit
    of at least MIN_STEPS steps, NumPy for a shorter one — whatever ran before in the
    process (the step is loaded by then) or sits in numba's cache."""
    monkeypatch.delenv("CHAINRULE_COMPILED", raising=False)
    monkeypatch.setattr(compiled, "MIN_STEPS", 40)
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(64, 4)), rng.integers(0, 3, 64)

    def fit(epochs: int) -> Trainer:
        net = cr.MLP([4, 8, 3], output="softmax", loss="cross_entropy", seed=0)
        trainer = Trainer(net, cr.Adam(), epochs=epochs, batch_size=8)
        trainer.run(net.inputs(X), net.targets(y, 64))
        assert trainer.compiled is not None
        return trainer

    compiled.warm_up("float64")  # loaded in this process: must not change the choice
    runs.clear()
    assert not fit(4).compiled.kernel and runs == []      # 32 steps: NumPy
    assert fit(5).compiled.kernel and runs == [7, 8, 8, 8, 8]  # 40 steps: compiled
    monkeypatch.setenv("CHAINRULE_COMPILED", "1")
    assert fit(1).compiled.kernel  # forced
    monkeypatch.setenv("CHAINRULE_COMPILED", "0")
    net = cr.MLP([4, 8, 3], output="softmax", loss="cross_entropy", seed=0)
    assert Trainer(net, cr.Adam(), epochs=9, batch_size=4).compiled is None


def test_without_numba_training_takes_the_numpy_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAINRULE_NUMBA", "0")
    net = cr.MLP([4, 8, 3], output="softmax", loss="cross_entropy", seed=0)
    assert Trainer(net, cr.Adam(), epochs=1, batch_size=4).compiled is None
    monkeypatch.setenv("CHAINRULE_NUMBA", "1")
    monkeypatch.setenv("CHAINRULE_COMPILED", "0")
    assert Trainer(net, cr.Adam(), epochs=1, batch_size=4).compiled is None


def test_data_parallel_trainers_keep_their_own_step(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAINRULE_COMPILED", "1")

    class ShardedReducer(LocalReducer):  # a data-parallel reducer stands in for MPI's
        def reduce(self, grads, n_local, loss_sum, correct, weight_sum):  # type: ignore[no-untyped-def]
            return n_local, loss_sum, correct

    def Sharded(net: cr.Network, opt: cr.Optimizer, **options: int) -> Trainer:  # noqa: N802
        return Trainer(net, opt, step=Step(net, opt, reducer=ShardedReducer()), **options)

    net = cr.MLP([4, 8, 3], output="softmax", loss="cross_entropy", seed=0)
    assert Sharded(net, cr.Adam(), epochs=1, batch_size=4).compiled is None


@needs_numba
@pytest.mark.usefixtures("on")
def test_divergence_is_reported_and_leaves_the_weights_alone() -> None:
    net = cr.MLP([3, 4, 1], hidden="relu", output="identity", loss="squared_error", seed=0,
                 dtype="float64")
    step = _step(net, cr.SGD(0.1), 2)
    before = net.params.copy()
    x = np.array([[1.0, np.inf, 0.0], [0.0, 1.0, 0.0]])
    loss_sum, _, _, updated = step.run(x, np.zeros((2, 1)))
    assert not updated and not np.isfinite(loss_sum)
    assert net.params.tobytes() == before.tobytes() and step.step.optimizer.t == 0


def _traced_fit(net: cr.Network, X: np.ndarray, y: np.ndarray, epochs: int,
                probe: cr.Callback) -> None:
    """``epochs`` of Adam at batch 64 under tracemalloc, the step compiled (or loaded)
    by a fit before the trace; ``probe`` reads the traced memory."""
    net.fit(X[:64], y[:64], epochs=1, batch_size=64)
    tracemalloc.start()
    try:
        net.fit(X, y, epochs=epochs, batch_size=64, optimizer=cr.Adam(1e-3),
                callbacks=[probe])
    finally:
        tracemalloc.stop()


@needs_numba
@pytest.mark.usefixtures("on")
def test_compiled_steps_after_the_first_epoch_keep_no_new_memory() -> None:
    """tests/test_memory.py's steady-state check, on the compiled path."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((650, 32)).astype("float32")
    y = rng.integers(0, 10, 650)
    net = cr.MLP([32, 256, 256, 10], hidden="relu", output="softmax", loss="cross_entropy",
                 seed=0, dtype="float32")
    rows: list[tuple[int, int, int]] = []
    table = np.zeros((100, 3), dtype=np.int64)
    count = [0]

    class Probe(cr.Callback):
        def on_batch_end(self, trainer, batch, loss):  # type: ignore[no-untyped-def]
            current, _ = tracemalloc.get_traced_memory()
            table[count[0]] = (trainer.epoch, batch, current)
            count[0] += 1

    _traced_fit(net, X, y, 4, Probe())
    rows = [tuple(int(v) for v in r) for r in table[:count[0]]]  # type: ignore[misc]
    steady = [r for r in rows if r[0] >= 2 and r[1] >= 2]
    assert len(steady) == 30
    currents = [r[2] for r in steady]
    assert max(currents) - min(currents) < 4096, currents


class _EveryBatch(cr.Callback):
    """A callback on every batch: Trainer then steps batch by batch, never a whole run."""

    def on_batch_end(self, trainer, batch, loss):  # type: ignore[no-untyped-def]
        pass


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The batch counts of every CompiledStep.run_batches call (a whole epoch's run)."""
    calls: list[int] = []
    original = compiled.CompiledStep.run_batches

    def spy(self, *args, **kw):  # type: ignore[no-untyped-def]
        out = original(self, *args, **kw)
        calls.append(len(out))
        return out

    monkeypatch.setattr(compiled.CompiledStep, "run_batches", spy)
    return calls


@needs_numba
@pytest.mark.usefixtures("on")
@pytest.mark.parametrize("n", [200, 192])  # a partial last batch, and none
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("name", "options"), OPT_VARIANTS, ids=OPT_IDS)
def test_a_whole_epoch_in_one_call_is_bitwise_the_steps_one_by_one(
        name: str, options: dict, dtype: str, n: int, runs: list[int]) -> None:
    """Without a callback on every batch, Trainer runs an epoch's full batches in one
    compiled call (CompiledStep.run_batches): the same weights, optimizer state and
    history, bit for bit, as stepping them one by one."""
    rng = np.random.default_rng(zlib.crc32(f"{name}{options}{dtype}{n}".encode()))
    X, y = rng.normal(size=(n, 5)), rng.integers(0, 3, n)

    def train(callbacks: list) -> tuple[bytes, bytes, dict, int]:  # type: ignore[type-arg]
        net = _net("tanh", "softmax", "cross_entropy", dtype, seed=4)
        opt = _optimizer(name, **options)
        hist = net.fit(X, y, epochs=3, batch_size=32, optimizer=opt, callbacks=callbacks)
        state = b"".join(np.asarray(v).tobytes() for v in opt.state.values())
        return net.params.tobytes(), state, hist.history, opt.t

    whole = train([])
    assert runs == [5, 6, 6]  # batch 1 of the fit steps alone: the loss guard's reference
    runs.clear()
    one_by_one = train([_EveryBatch()])
    assert runs == []
    assert whole == one_by_one
    assert whole[3] == 3 * -(-n // 32)


@needs_numba
@pytest.mark.usefixtures("on")
@pytest.mark.parametrize(("dtype", "lr", "problem"), [
    ("float64", 2.0, "the loss grew from"),  # a finite explosion, applied, then undone
    ("float32", 1e20, "is not finite"),      # an overflow, never applied
])
def test_divergence_inside_a_whole_epoch_run_ends_as_step_by_step(
        dtype: str, lr: float, problem: str, runs: list[int]) -> None:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(320, 4))
    y = X @ rng.normal(size=4) * 10

    def train(callbacks: list) -> tuple[str, bytes, int]:  # type: ignore[type-arg]
        net = cr.MLP([4, 8, 1], hidden="relu", output="identity", loss="squared_error",
                     seed=0, dtype=dtype)
        opt = cr.SGD(lr)
        with pytest.raises(cr.DivergenceError, match=problem) as info:
            net.fit(X, y, epochs=2, batch_size=16, optimizer=opt, callbacks=callbacks)
        assert np.isfinite(net.params).all()  # the last finite weights kept
        return str(info.value), net.params.tobytes(), opt.t

    whole = train([])
    assert runs and runs[0] >= 1
    assert train([_EveryBatch()]) == whole
    assert "batch 1:" not in whole[0]  # it failed inside the run, not on the first batch


@needs_numba
@pytest.mark.usefixtures("on")
def test_runs_end_at_the_batches_a_callback_watches(runs: list[int]) -> None:
    """A callback that only reports (watches() False) gets on_batch_end for every batch
    with the numbers and running losses of a batch-by-batch fit; the health monitor
    (every 7 steps) stops each run at its checks and the step before them, and records
    the same checks; the weights are the same bits."""
    from chainrule.health.monitor import HealthMonitor

    rng = np.random.default_rng(21)
    X, y = rng.normal(size=(200, 5)), rng.integers(0, 3, 200)

    class Report(cr.Callback):
        def __init__(self) -> None:
            self.seen: list[tuple[int, int, float]] = []

        def on_batch_end(self, trainer, batch, loss):  # type: ignore[no-untyped-def]
            self.seen.append((trainer.epoch, batch, loss))

        def watches(self, trainer, ahead):  # type: ignore[no-untyped-def]
            return False

    def train(extra: list, monitor: bool) -> tuple:  # type: ignore[type-arg]
        net = _net("tanh", "softmax", "cross_entropy", "float64", seed=2)
        report = Report()
        health = HealthMonitor(every=7, probe_size=16)
        callbacks = [health, report] if monitor else [report]
        net.fit(X, y, epochs=3, batch_size=16, optimizer=cr.Adam(1e-2),
                callbacks=callbacks + extra)
        checks = [(c.step, c.epoch, [(h.grad_rms, h.weight_rms, h.update_ratio)
                                     for h in c.layers]) for c in health.checks]
        return net.params.tobytes(), report.seen, checks

    reported = train([], monitor=False)
    assert runs == [11, 12, 12]  # 12 full batches an epoch, the fit's first alone
    assert reported == train([_EveryBatch()], monitor=False)
    runs.clear()
    watched = train([], monitor=True)
    assert max(runs) <= 7 and sum(runs) > 0  # split at the monitor's steps
    assert watched == train([_EveryBatch()], monitor=True)
    assert [c[0] for c in watched[2]] == [7, 14, 21, 28, 35]
    assert watched[0] == reported[0]


@needs_numba
@pytest.mark.usefixtures("on")
def test_whole_epoch_runs_keep_no_new_memory(runs: list[int]) -> None:
    """The steady-state memory check on the whole-epoch path: the same memory after every
    epoch from the second on."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((650, 32)).astype("float32")
    y = rng.integers(0, 10, 650)
    net = cr.MLP([32, 64, 10], hidden="relu", output="softmax", loss="cross_entropy",
                 seed=0, dtype="float32")
    currents: list[int] = []

    class Probe(cr.Callback):
        def on_epoch_end(self, trainer, logs):  # type: ignore[no-untyped-def]
            currents.append(tracemalloc.get_traced_memory()[0])

    _traced_fit(net, X, y, 5, Probe())
    assert runs[-5:] == [9, 10, 10, 10, 10]
    assert max(currents[1:]) - min(currents[1:]) < 4096, currents


def test_import_chainrule_does_not_import_numba() -> None:
    import subprocess
    import sys

    code = "import sys, chainrule; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout.strip()
    assert out == "False"


def test_the_tables_are_the_ones_tested_here() -> None:
    import chainrule.engine.activations as acts
    import chainrule.engine.losses as losses

    assert {n for n, c in ACTIVATIONS.items() if c.__module__ == acts.__name__} == set(ACTS)
    assert {n for n, c in LOSSES.items() if c.__module__ == losses.__name__} == set(LOSS_NAMES)


@needs_numba
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_interleaved_sum_of_squares_is_the_sum_of_squares(dtype: str) -> None:
    """rows.sum_of_squares (‖g‖², 8 partial sums) for every remainder of the 8-way split,
    and the same bits on every call."""
    from chainrule.training.compiled.rows import sum_of_squares

    rng = np.random.default_rng(12)
    for n in [*range(0, 20), 1000, 235_146]:
        v = rng.normal(size=n).astype(dtype)
        exact = float(np.sum(v.astype(np.float64) ** 2))
        got = sum_of_squares(v)
        assert got == pytest.approx(exact, rel=1e-13, abs=0.0), n
        assert sum_of_squares(v) == got
