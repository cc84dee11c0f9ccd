"""chainrule.onnx: checked standard graphs whose onnxruntime outputs equal chainrule's."""

from __future__ import annotations

import os

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import chainrule.onnx.convert as cx  # noqa: E402
from chainrule import ACTIVATIONS, MLP, Dense, Dropout, Network, Standardizer  # noqa: E402
from chainrule.engine.activations import Activation  # noqa: E402

OUTPUTS = {
    "softmax": ("softmax", "cross_entropy", 3),
    "sigmoid": ("sigmoid", "binary_cross_entropy", 1),
    "regression": ("identity", "mse", 2),
}
TOL = {"float32": 1e-5, "float64": 1e-12}


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _raw_features(rng, n=64, n_in=5):
    # Far from standardized on purpose: the graph must apply the scaler itself.
    return rng.normal(loc=[10.0, -3.0, 0.0, 100.0, 1.0], scale=[2.0, 0.5, 4.0, 30.0, 1.0],
                      size=(n, n_in))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", sorted(OUTPUTS))
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_onnxruntime_equals_chainrule(tmp_path, rng, activation, kind, dtype):
    output, loss, n_out = OUTPUTS[kind]
    net = MLP([5, 8, 6, n_out], hidden=activation, output=output, loss=loss, dtype=dtype, seed=3)
    for layer in net.dense_layers:  # biases and larger weights exercise both branches of g
        layer.b = rng.normal(size=layer.n_out)
        layer.w = layer.w * 2.0
    X = _raw_features(rng)
    net.scaler = Standardizer.fit(X)
    path = cx.export(net, tmp_path / "model.onnx")
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version >= 17
    elem = onnx.TensorProto.FLOAT if dtype == "float32" else onnx.TensorProto.DOUBLE
    assert model.graph.input[0].type.tensor_type.elem_type == elem
    got = _session(path).run(None, {"X": X.astype(dtype)})[0]
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, net.predict(X), rtol=0, atol=TOL[dtype])


def test_graph_is_standard(tmp_path):
    net = MLP([4, 6, 3], hidden="relu", output="softmax", loss="cross_entropy", seed=0)
    net.scaler = Standardizer(np.arange(4.0), np.ones(4) * 2)
    model = cx.to_onnx(net)
    ops = [node.op_type for node in model.graph.node]
    assert ops == ["Sub", "Div", "Gemm", "Relu", "Gemm", "Softmax"]
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    weights = [v for k, v in inits.items() if k.startswith("w")]
    np.testing.assert_array_equal(weights[0], net.dense_layers[0].w)  # (n_out, n_in), transB=1
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    assert model.graph.output[0].name == "output"


@pytest.mark.parametrize(
    "name, op, primitives",
    [("gelu", "Gelu", {"Tanh", "Mul", "Add"}), ("softplus", "Softplus", {"Exp", "Log", "Abs"})],
)
def test_activations_without_an_opset17_operator_are_composed(name, op, primitives):
    model = cx.to_onnx(MLP([2, 3, 1], hidden=name, seed=0))
    ops = {node.op_type for node in model.graph.node}
    assert op not in ops and primitives <= ops


def test_softplus_is_finite_for_huge_inputs(rng):
    net = MLP([1, 1], hidden="relu", output="softplus", seed=0, dtype="float32")
    net.dense_layers[0].w = np.array([[1.0]])
    X = np.array([[-1e4], [-50.0], [0.0], [50.0], [1e4]], dtype=np.float32)
    got = cx.run(cx.to_onnx(net), X)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, net.predict(X), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_mixed_layers_dropout_and_no_bias(tmp_path, rng, dtype):
    layers = [
        Dense(5, 7, "leaky_relu"),
        Dropout(0.5),
        Dense(7, 6, "elu", bias=False),
        Dense(6, 4, "gelu"),
        Dense(4, 2, "softmax"),
    ]
    net = Network(layers, loss="cross_entropy", dtype=dtype, seed=1)
    X = _raw_features(rng)
    got = cx.run(cx.export(net, tmp_path / "m.onnx"), X)
    np.testing.assert_allclose(got, net.predict(X), rtol=0, atol=TOL[dtype])
    ops = [node.op_type for node in cx.to_onnx(net).graph.node]
    assert "Dropout" not in ops and ops.count("Gemm") == 4


def test_float32_network_exported_as_float64_graph(rng):
    net = MLP([5, 4, 2], hidden="tanh", seed=0, dtype="float32")
    X = _raw_features(rng)
    got = cx.run(cx.to_onnx(net, dtype="float64"), X)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, net.predict(X), atol=1e-5)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_sklearn_estimators_export(rng):
    pytest.importorskip("sklearn")
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):  # tiny matrices; BLAS threads only contend
        _export_estimators(rng)


def _export_estimators(rng):
    from chainrule.sklearn import MLPClassifier, MLPRegressor


    X = _raw_features(rng, n=80)
    y = (X[:, 0] > 10).astype(int) + (X[:, 3] > 100)
    clf = MLPClassifier((6,), solver="lbfgs", max_iter=50, random_state=0).fit(X, y)
    got = cx.run(cx.to_onnx(clf), X)
    np.testing.assert_allclose(got, clf.predict_proba(X), atol=1e-10)
    counts = rng.poisson(2.0, size=80)
    reg = MLPRegressor(loss="poisson", hidden_layer_sizes=(4,), solver="lbfgs", max_iter=30,
                       random_state=0).fit(X / 100, counts)
    got = cx.run(cx.to_onnx(reg), X / 100)
    np.testing.assert_allclose(got[:, 0], reg.predict(X / 100), rtol=1e-10)


def test_failed_export_leaves_the_old_file_and_no_temporary(tmp_path):
    class _Cube(Activation):  # defined here: it registers itself only while this test runs
        name = "cube"

        def g(self, z):
            return z**3

        def g_prime(self, z, a):
            return 3 * z**2

    target = tmp_path / "model.onnx"
    target.write_bytes(b"old")
    net = Network([Dense(2, 2, _Cube())])
    with pytest.raises(ValueError, match="cube"):
        cx.export(net, target)
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["model.onnx"]


def test_bad_arguments():
    net = MLP([2, 2], seed=0)
    with pytest.raises(ValueError, match="net"):
        cx.to_onnx("not a network")
    with pytest.raises(ValueError, match="opset"):
        cx.to_onnx(net, opset=11)
    with pytest.raises(ValueError, match="dtype"):
        cx.to_onnx(net, dtype="float16")
    with pytest.raises(ValueError, match="folder"):
        cx.export(net, "/nonexistent-folder/model.onnx")


def test_cli_export(tmp_path, rng):
    from chainrule import save
    from chainrule.cli import main

    net = MLP([5, 6, 3], hidden="gelu", output="softmax", loss="cross_entropy", seed=0)
    X = _raw_features(rng)
    net.scaler = Standardizer.fit(X)
    net.classes = ["a", "b", "c"]
    save(net, tmp_path / "model.safetensors")
    out = tmp_path / "model.onnx"
    assert main(["export", str(tmp_path / "model.safetensors"), "--format", "onnx",
                 "--out", str(out)]) == 0
    model = onnx.load(str(out))
    onnx.checker.check_model(model, full_check=True)
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["classes"] == '["a", "b", "c"]'
    np.testing.assert_allclose(_session(out).run(None, {"X": X.astype(np.float32)})[0],
                               net.predict(X), atol=1e-5)


def test_a_new_layer_type_exports_through_its_registered_converter(rng):
    """A layer type outside the engine (here a gain a_j = γ_j a_j^prev) is refused by name
    until it registers a converter keyed by its ``name``; then its graph equals predict."""
    from chainrule.engine.layer import LAYERS, Layer

    class Gain(Layer):
        name = "TestOnnxGain"

        def __init__(self) -> None:
            self.gain = np.array([0.5, -2.0, 3.0])

        def forward(self, a_prev, *, training=False, rng=None, out=None):  # type: ignore[no-untyped-def]
            return None, a_prev * self.gain, None

        def backward(self, a_prev, z, a, grad_a, *, mask=None,  # type: ignore[no-untyped-def]
                     need_grad_prev=True, out=None):
            return None, grad_a * self.gain

        def get_config(self) -> dict[str, object]:
            return {"type": self.name}

    try:
        net = Network([Dense(4, 3, "tanh"), Gain(), Dense(3, 2)], seed=0, dtype="float64")
        with pytest.raises(ValueError, match=r"layers\[1\] is a Gain, which has no ONNX lowering"):
            cx.to_onnx(net)

        @cx.register_converter("TestOnnxGain")
        def _gain(g, layer, a_prev):  # type: ignore[no-untyped-def]
            return g.op("Mul", [a_prev, g.const("gain", layer.gain)], stem="gain_a")

        X = rng.standard_normal((9, 4))
        out = cx.run(cx.to_onnx(net), X)
        np.testing.assert_allclose(out, net.predict(X), rtol=1e-12, atol=1e-12)
        assert "Mul" in [n.op_type for n in cx.to_onnx(net).graph.node]
    finally:
        LAYERS.pop("TestOnnxGain", None)
        cx.LAYER_CONVERTERS.pop("TestOnnxGain", None)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", sorted(OUTPUTS))
def test_ensemble_exports_as_its_members_mean(tmp_path, rng, kind, dtype):
    """An ensemble of K members (batched MatMul, softmax per member, their mean) runs in
    onnxruntime as predict does: 1e-6 relative in float32, 1e-12 in float64."""
    output, loss, n_out = OUTPUTS[kind]
    net = MLP([5, 7, 4, n_out], hidden="gelu", output=output, loss=loss, ensemble=3,
              dropout=0.1, seed=0, dtype=dtype)
    for p in net.parameters():
        p[...] += rng.normal(scale=0.3, size=p.shape)
    net.scaler = Standardizer(np.array([10.0, -3.0, 0.0, 100.0, 1.0]),
                              np.array([2.0, 0.5, 4.0, 30.0, 1.0]))
    X = _raw_features(rng)
    path = cx.export(net, tmp_path / "ens.onnx")
    out = cx.run(path, X)
    want = net.predict(X)
    assert out.shape == want.shape == (X.shape[0], n_out)
    tol = 1e-6 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(out, want, rtol=tol, atol=tol)
    ops = [node.op_type for node in onnx.load(str(path)).graph.node]
    assert ops.count("MatMul") == 3 and "ReduceSum" in ops and "Gemm" not in ops
