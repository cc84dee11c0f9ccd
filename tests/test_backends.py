"""The engine on other array libraries (chainrule.backend): array_api_strict (which refuses
anything outside the Array API standard) and torch CPU tensors, against NumPy.

float64 results must equal NumPy's to 1e-12, float32 to 1e-5 relative after 20 steps.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule import reference
from chainrule.datasets import load as load_dataset
from chainrule.engine import backend as B
from chainrule.engine.activations import ACTIVATIONS, get_activation
from chainrule.engine.losses import LOSSES, get_loss
from chainrule.training import LocalReducer, Step

BACKENDS = ["numpy", "array_api_strict", "torch"]
OTHERS = ["array_api_strict", "torch"]
OPTIMIZERS = ["sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    if request.param != "numpy":
        pytest.importorskip(request.param)  # both are in the test extra
    return str(request.param)


@pytest.fixture(params=OTHERS)
def other(request: pytest.FixtureRequest) -> str:
    pytest.importorskip(request.param)
    return str(request.param)


def host(x: object) -> np.ndarray:
    return np.asarray(B.to_host(x))


def data(n: int = 40, n_in: int = 5, n_out: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_in))
    y = rng.integers(0, n_out, size=n)
    return X, y


def net_on(backend: str, dtype: str = "float64", **kw: object) -> cr.Network:
    opts = {"hidden": "tanh", "output": "softmax", "loss": "cross_entropy", "seed": 3}
    opts.update(kw)
    sizes = opts.pop("sizes", [5, 7, 6, 3])
    return cr.MLP(sizes, dtype=dtype, backend=backend, **opts)  # type: ignore[arg-type]


# -- construction ---------------------------------------------------------------------------
def test_import_chainrule_loads_no_other_array_library():
    code = ("import sys, chainrule; print(sorted({'torch', 'cupy', 'array_api_compat', "
            "'array_api_strict', 'jax'} & set(m.split('.')[0] for m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout.strip()
    assert out == "[]"


def test_same_seed_same_initial_weights_on_every_backend(backend):
    ref = net_on("numpy", dtype="float32")
    net = net_on(backend, dtype="float32")
    assert net.backend == backend
    assert B.namespace_of(net.params) is net.xp
    np.testing.assert_array_equal(host(net.params), ref.params)
    for d, d_ref in zip(net.dense_layers, ref.dense_layers, strict=True):
        np.testing.assert_array_equal(host(d.w), d_ref.w)


def test_layer_arrays_are_views_of_the_flat_buffers(backend):
    net = net_on(backend)
    first = net.dense_layers[0]
    first.w[0, 0] = 5.0  # written through the view ...
    first.grad_w[1, 2] = 7.0
    sl = net.param_slices(1)["w"]
    assert float(host(net.params)[sl.start]) == 5.0  # ... lands in params
    assert float(host(net.grads)[sl.start + 1 * 5 + 2]) == 7.0
    net.params[...] = 0.0  # and the other way round
    assert float(host(first.w).sum()) == 0.0


def test_backend_errors_are_clear():
    with pytest.raises(B.BackendError, match="backend: unknown backend 'jaxx'"):
        cr.MLP([2, 1], backend="jaxx")
    with pytest.raises(B.BackendError, match="numpy backend runs on the CPU only"):
        cr.MLP([2, 1], device="cuda")
    pytest.importorskip("torch")
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(B.BackendError, match="torch finds no CUDA device"):
            cr.MLP([2, 1], backend="torch", device="cuda")


def test_a_namespace_whose_views_do_not_write_through_is_refused():
    class CopyingReshape:  # a NumPy wrapper whose reshape copies (like an immutable library)
        float32 = np.float32

        @staticmethod
        def zeros(n, dtype, device=None):
            return np.zeros(n, dtype)

        @staticmethod
        def reshape(x, shape, copy=None):
            return np.array(x).reshape(shape)

        sum = staticmethod(np.sum)

    with pytest.raises(B.BackendError, match="not writable views"):
        B.check_views(B.Backend("fake", CopyingReshape()))


def test_inputs_on_the_device_stay_there_and_are_checked(other):
    net = net_on(other)
    X, _ = data()
    xp = net.xp
    Xd = xp.asarray(X, device=net.device)
    out = net.predict(Xd)
    assert B.namespace_of(out) is xp
    np.testing.assert_allclose(host(out), net_on("numpy").predict(X), rtol=0, atol=1e-12)
    bad = xp.asarray(np.full((2, 5), np.nan), device=net.device)
    with pytest.raises(ValueError, match="X: contains NaN"):
        net.predict(bad)
    with pytest.raises(ValueError, match=r"X: expected shape \(n_samples, 5\)"):
        net.predict(xp.asarray(np.ones((2, 4)), device=net.device))
    with pytest.raises(ValueError, match="a0: expected a float64 array on the"):
        net.forward(np.ones((2, 5)))  # host data straight into forward: refused, not mixed


# -- the engine: forward, cost, backward ----------------------------------------------------
@pytest.mark.parametrize("hidden", sorted(set(ACTIVATIONS) - {"softmax"}))  # softmax: output
@pytest.mark.parametrize("loss_output", [("cross_entropy", "softmax"),
                                         ("binary_cross_entropy", "sigmoid"),
                                         ("squared_error", "identity"), ("huber", "tanh")])
@pytest.mark.parametrize("fused", [True, False])
def test_backward_equals_numpy_and_the_reference(backend, hidden, loss_output, fused):
    loss, output = loss_output
    X, y = data()
    n_out = 3
    Y = np.eye(n_out)[y] if loss == "cross_entropy" else (
        (X[:, :n_out] > 0).astype(float) if loss == "binary_cross_entropy" else X[:, :n_out])
    net = net_on(backend, hidden=hidden, output=output, loss=loss, fused=fused, l2=0.01)
    ref = net_on("numpy", hidden=hidden, output=output, loss=loss, fused=fused, l2=0.01)
    a0, Yt = net.inputs(X), net.targets(Y, X.shape[0])
    trace = net.forward(a0)
    grads = host(net.backward(trace, Yt))
    expected = ref.backward(ref.forward(ref.inputs(X)), ref.targets(Y, X.shape[0]))
    np.testing.assert_allclose(grads, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(host(trace.a_L), ref.predict(X), rtol=0, atol=1e-12)
    assert abs(net.cost(trace, Yt) - ref.loss(X, Y)) < 1e-12
    # and the twenty-line reference (on the host copy), which has no L2 fusion to share
    host_net = net.to_backend("numpy")
    ref_flat = reference.flat_gradient(host_net, host_net.inputs(X), host_net.targets(Y, 40))
    np.testing.assert_allclose(grads, ref_flat, rtol=0, atol=1e-12)


def test_gradients_equal_finite_differences(backend):
    X, y = data(n=12)
    net = net_on(backend, hidden="gelu", dropout=0.0, l2=0.05)
    a0, Yt = net.inputs(X), net.targets(y, 12)
    analytic = host(net.backward(net.forward(a0), Yt)).copy()
    h = 1e-6
    base = host(net.params).copy()
    numeric = np.empty_like(base)
    for i in range(base.size):
        for sign in (1, -1):
            p = base.copy()
            p[i] += sign * h
            net.params[...] = B.like(p, net.params)
            c = net.cost(net.forward(a0), Yt)
            numeric[i] = c / (2 * h) if sign == 1 else numeric[i] - c / (2 * h)
    net.params[...] = B.like(base, net.params)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_every_activation_equals_numpy(other, name):
    bk = B.get_backend(other)
    rng = np.random.default_rng(1)
    z = rng.normal(scale=3, size=(6, 4))
    grad_a = rng.normal(size=(6, 4))
    act = get_activation(name)
    a = act.forward(z)
    zd, gd = bk.asarray(z), bk.asarray(grad_a)
    ad = act.forward(zd)
    assert B.namespace_of(ad) is bk.xp
    np.testing.assert_allclose(host(ad), a, rtol=0, atol=1e-12)
    np.testing.assert_allclose(host(act.g(zd)), act.g(z), rtol=0, atol=1e-12)
    np.testing.assert_allclose(host(act.g_prime(zd, ad)), act.g_prime(z, a), rtol=0, atol=1e-12)
    np.testing.assert_allclose(host(act.backward(zd, ad, gd)), act.backward(z, a, grad_a),
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_loss_equals_numpy(other, name):
    bk = B.get_backend(other)
    rng = np.random.default_rng(2)
    z = rng.normal(scale=2, size=(6, 3))
    loss = get_loss(name)
    act = get_activation(loss.canonical_activation or "identity")
    a = act.forward(z)
    y = np.eye(3)[rng.integers(0, 3, 6)] if loss.classification else rng.normal(size=(6, 3))
    ad, yd, zd = bk.asarray(a), bk.asarray(y), bk.asarray(z)
    np.testing.assert_allclose(host(loss.value(ad, yd)), loss.value(a, y), rtol=0, atol=1e-12)
    np.testing.assert_allclose(host(loss.grad_a(ad, yd)), loss.grad_a(a, y), rtol=0, atol=1e-12)
    if loss.canonical_activation:
        np.testing.assert_allclose(host(loss.value_from_logits(zd, yd)),
                                   loss.value_from_logits(z, y), rtol=0, atol=1e-12)


# -- training -------------------------------------------------------------------------------
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_twenty_steps_equal_numpy(other, optimizer, dtype):
    X, y = data(n=80)
    kw = {"dropout": 0.2, "l2": 0.001}
    opts = {"clipnorm": 0.5, "lr": cr.CosineWarmup(0.05, total_steps=20, warmup_steps=3)}
    nets = {}
    for b in ("numpy", other):
        net = net_on(b, dtype=dtype, **kw)
        net.fit(X, y, epochs=2, batch_size=8, optimizer=cr.get_optimizer(optimizer, **opts),
                validation_split=0.0)
        assert net.optimizer is not None and net.optimizer.t == 20
        nets[b] = net
    got, want = host(nets[other].params), nets["numpy"].params
    assert not np.array_equal(want, net_on("numpy", dtype=dtype).params)  # it trained
    if dtype == "float64":
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    else:
        assert np.max(np.abs(got - want)) <= 1e-5 * np.max(np.abs(want))
    state = nets[other].optimizer.state  # the moments live beside the parameters
    assert all(B.namespace_of(v) is nets[other].xp for v in state.values())


def test_fit_with_validation_split_and_data_on_the_device(other):
    X, y = data(n=60)
    ref = net_on("numpy")
    h_ref = ref.fit(X, y, epochs=2, batch_size=16, validation_split=0.25)
    net = net_on(other)
    Xd = net.xp.asarray(X, device=net.device)
    h = net.fit(Xd, y, epochs=2, batch_size=16, validation_split=0.25)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(h.history[key], h_ref.history[key], rtol=0, atol=1e-12)
    np.testing.assert_allclose(host(net.params), ref.params, rtol=0, atol=1e-12)
    pred = net.predict_classes(Xd)
    assert B.namespace_of(pred) is net.xp
    np.testing.assert_array_equal(host(pred), ref.predict_classes(X))


def test_a_training_step_brings_back_only_its_scalars(monkeypatch, request):
    pytest.importorskip("torch")
    X, y = data(n=64)
    net = net_on("torch", sizes=[5, 16, 16, 16, 3], l2=0.01)  # four layers: per-layer shows
    opt = cr.get_optimizer("adam", clipnorm=1.0)
    net.fit(X, y, epochs=1, batch_size=16, optimizer=opt)  # warm: slots built
    trainer = cr.Trainer(net, opt, epochs=1, batch_size=16)
    xb = net.inputs(X[:16])
    yb = net.targets(y[:16], 16)
    calls = request.getfixturevalue("torch_transfers")  # recording from here
    loss_sum, n, correct = trainer.train_step(xb, yb, 1)
    monkeypatch.undo()
    assert n == 16 and np.isfinite(loss_sum) and 0 <= correct <= 16
    # one transfer of the step's three scalars (loss sum, correct, ‖g‖²): nothing per layer
    moved = [c for c in calls if c[0] in ("cpu", "numpy", "__array__", "item", "tolist",
                                          "__float__", "__int__", "__bool__", "__index__")]
    assert sum(size for _, size in moved if _ == "numpy") == 3, calls
    assert all(size <= 3 for _, size in moved), calls
    assert len([c for c in moved if c[0] == "numpy"]) == 1, calls


def test_weighted_training_and_mpi_are_refused_clearly(other):
    X, y = data()
    net = net_on(other)
    with pytest.raises(B.BackendError, match="sample_weight: weighted training runs on the "
                                             "numpy backend only"):
        net.fit(X, y, epochs=1, sample_weight=np.ones(40))

    class NumpyOnly(LocalReducer):  # a reducer that, like MPI's, runs on NumPy only
        any_backend = False

    def Custom(net, opt, **kw):
        return cr.Trainer(net, opt, step=Step(net, opt, reducer=NumpyOnly()), **kw)

    with pytest.raises(B.BackendError, match="runs on the numpy backend only"):
        Custom(net, cr.get_optimizer("sgd"), epochs=1, batch_size=4)


def test_digits_accuracy_on_torch_equals_numpy():
    pytest.importorskip("torch")
    ds = load_dataset("digits")
    order = np.random.default_rng(0).permutation(ds.X.shape[0])
    X, y = ds.X[order], ds.y[order]
    acc = {}
    for b in ("numpy", "torch"):  # float32, the default: the two differ in rounding only
        net = cr.MLP([64, 32, 10], output="softmax", loss="cross_entropy", seed=0, backend=b)
        net.scaler = cr.Standardizer.fit(X[:1400])
        net.fit(X[:1400], y[:1400], epochs=5, batch_size=32, optimizer="adam")
        pred = host(net.predict_classes(X[1400:]))
        acc[b] = float(np.mean(pred == y[1400:]))
    assert acc["numpy"] > 0.85  # it learned (chance: 0.1)
    assert abs(acc["torch"] - acc["numpy"]) <= 0.003


# -- the host's business: files and float64 checks ------------------------------------------
def test_save_load_round_trip(other, tmp_path):
    X, y = data()
    net = net_on(other, dtype="float32")
    net.fit(X, y, epochs=1, batch_size=8, optimizer="adam")
    path = cr.save(net, tmp_path / "m.safetensors")
    on_host = cr.load(path)
    assert on_host.backend == "numpy"
    np.testing.assert_array_equal(on_host.params, host(net.params))
    back = cr.io.load(path, backend=other)
    assert back.backend == other and B.namespace_of(back.params) is back.xp
    np.testing.assert_array_equal(host(back.params), host(net.params))
    np.testing.assert_array_equal(host(back.predict(X)), host(net.predict(X)))
    assert back.optimizer is not None and back.optimizer.t == net.optimizer.t
    # training resumes identically from the file on either side
    back.fit(X, y, epochs=1, batch_size=8)
    on_host.fit(X, y, epochs=1, batch_size=8)
    assert np.max(np.abs(host(back.params) - on_host.params)) <= 1e-5


def test_gradcheck_and_explain_run_on_a_host_float64_copy(other):
    X, y = data(n=10)
    net = net_on(other, dtype="float32")
    report = cr.gradcheck(net, X, y)
    ref = cr.gradcheck(net_on("numpy", dtype="float32"), X, y)
    assert report.max_rel_error == pytest.approx(ref.max_rel_error, rel=1e-9, abs=1e-15)
    assert report.max_rel_error < 1e-6
    e = cr.explain(net, X[0], y[0], layer=2, j=0, k=1)
    e_ref = cr.explain(net_on("numpy", dtype="float32"), X[0], y[0], layer=2, j=0, k=1)
    assert e.product == pytest.approx(e_ref.product, rel=1e-12)
    assert e.delta == pytest.approx(e_ref.delta, rel=1e-12)
    assert net.backend == other and net.dtype == np.float32  # the network itself untouched
