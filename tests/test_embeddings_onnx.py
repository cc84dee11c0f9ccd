"""The embedding layers at the edges: exported to ONNX (onnx/embeddings.py) and run by
onnxruntime to 1e-6 in float32, and ``explain`` showing the chain rule through them with
numbers that are the gradient's."""

from __future__ import annotations

import re
from typing import cast

import numpy as np
import pytest

import chainrule as cr
from chainrule.engine.embeddings import (
    CategoricalEmbedding,
    PeriodicEmbedding,
    table_input_layers,
)
from chainrule.notes.explain import layer_chain_lines

onnx_convert = pytest.importorskip("chainrule.onnx.convert", reason="needs the onnx extra")
pytest.importorskip("onnxruntime", reason="the parity check runs the model in onnxruntime")


def _table(seed: int, n: int) -> np.ndarray:
    """Columns: a number, codes 0..4, a number, codes 0..2 (every code present)."""
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.normal(size=n), rng.integers(0, 5, n), rng.normal(size=n),
                         rng.integers(0, 3, n)])
    X[:5, 1], X[:3, 3] = np.arange(5), np.arange(3)
    return X


def _net(dtype: str, seed: int = 0, *, periodic: bool = True) -> cr.Network:
    front = table_input_layers(4, [(1, 5), (3, 3)], [0, 2], periodic=periodic, sigma=1.0)
    return cr.Network([*front, cr.Dense(front[-1].n_out, 8, "tanh"),
                       cr.Dense(8, 3, "softmax")], loss="cross_entropy", dtype=dtype,
                      seed=seed)


@pytest.mark.parametrize("dtype, rtol", [("float32", 1e-6), ("float64", 1e-12)])
@pytest.mark.parametrize("periodic", [True, False])
def test_onnx_equals_predict(dtype: str, rtol: float, periodic: bool) -> None:
    net = _net(dtype, periodic=periodic)
    X = _table(1, 64)
    y = np.random.default_rng(1).integers(0, 3, 64)
    net.fit(X, y, epochs=3, batch_size=16, optimizer=cr.Adam(lr=0.01))
    model = onnx_convert.to_onnx(net)
    ops = {node.op_type for node in model.graph.node}
    assert {"Gather", "Cast"} <= ops and (("Cos" in ops) is periodic)
    got = onnx_convert.run(model, X)
    want = net.predict(X)
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * np.abs(want).max())


def test_a_lookup_of_only_codes_exports() -> None:
    """No passed column: the lookup's output is the vectors alone."""
    lookup = CategoricalEmbedding(1, [(0, 4)], dims=[3])
    net = cr.Network([lookup, cr.Dense(3, 1)], seed=2)
    X = np.array([[0.0], [3.0], [1.0], [3.0]], dtype=np.float32)
    np.testing.assert_allclose(onnx_convert.run(onnx_convert.to_onnx(net), X), net.predict(X),
                               rtol=1e-6)


def test_explain_shows_the_gradient_through_both_layers() -> None:
    """Every number the lines end with is ∂C_0/∂ of a parameter, as backward computes it
    for that one sample."""
    net = _net("float64", seed=3)
    x, y = np.array([[0.4, 3.0, -1.1, 1.0]]), np.array([2])
    lines = layer_chain_lines(net, x, y)
    net.gradient(x, y)  # one sample: C = C_0
    lookup = cast(CategoricalEmbedding, net.layers[0])
    periodic = cast(PeriodicEmbedding, net.layers[1])
    want = [*lookup.grad_w[0][:, 3], *lookup.grad_w[1][:, 1]]
    lookup_lines = [line for line in lines if line.startswith("  ∂C_0/∂w0_")
                    or line.startswith("  ∂C_0/∂w1_")]
    got = [float(line.rsplit("= ", 1)[1]) for line in lookup_lines if "every other" not in line]
    np.testing.assert_allclose(got, want, rtol=1e-5)
    assert "a_prev column 1 holds code 3" in lines[0]
    assert "∂C_0/∂w0_j,k = 0 for every other code k" in "\n".join(lines)
    for p in range(2):
        b_line = next(line for line in lines if line.startswith(f"  ∂C_0/∂b_{p},r"))
        b = [float(v) for v in b_line.split("= ")[-1].split(", ")]
        np.testing.assert_allclose(np.array(b), periodic.grad_b[p], rtol=1e-5)
        for name, value in ((f"w_{p},0,0", periodic.grad_w[p, 0, 0]),
                            (f"c_{p},0", periodic.grad_c[p, 0])):
            line = next(line for line in lines if line.startswith(f"  ∂C_0/∂{name} "))
            factors = re.findall(r"\(?(-?[0-9.e+-]+)\)? · \(?(-?[0-9.e+-]+)\)? = "
                                 r"(-?[0-9.e+-]+)$", line)
            (f1, f2, product), = factors
            np.testing.assert_allclose(float(product), value, rtol=1e-5)
            np.testing.assert_allclose(float(f1) * float(f2), value, rtol=1e-4)


def _frame(seed: int, n: int):
    """A table with a 40-value text column (coded: more than ONEHOT_MAX values), a 3-value
    one (one-hot), two numbers and missing cells."""
    pd = pytest.importorskip("pandas", reason="the table is a DataFrame")
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"x": rng.normal(size=n),
                       "city": rng.choice([f"c{i}" for i in range(40)], n),
                       "small": rng.choice(list("abc"), n), "z": rng.normal(size=n)})
    df.loc[3, "city"], df.loc[5, "x"] = None, np.nan
    y = (df["city"].str[1:].fillna("0").astype(int) % 3 == 0).to_numpy().astype(int)
    return df, y


def _table_encoded_net(df, seed: int = 0) -> cr.Network:
    enc = cr.TableEncoder(categorical_encoding="codes").fit(df)
    front = table_input_layers(enc.n_out, enc.code_columns(), enc.numeric_columns())
    net = cr.Network([*front, cr.Dense(front[-1].n_out, 16, "relu"),
                      cr.Dense(16, 1, "sigmoid")], loss="binary_cross_entropy", seed=seed)
    net.encoder, net.scaler = enc, enc.standardizer(enc.transform(df))
    return net


def test_a_table_network_exports_with_its_encoder() -> None:
    """The encoder's graph writes the codes where the lookup reads them: an unseen and a
    missing category (code 0) included."""
    df, y = _frame(5, 300)
    net = _table_encoded_net(df)
    assert net.encoder is not None and net.encoder.code_columns()
    net.fit(df, y, epochs=5, batch_size=32, optimizer=cr.Adam(lr=0.01))
    unseen = df.copy()
    unseen.loc[7, "city"] = "never seen"
    model = onnx_convert.to_onnx(net)
    got, want = onnx_convert.run(model, unseen), net.predict(unseen)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6 * np.abs(want).max())


def test_a_table_network_saves_and_loads(tmp_path) -> None:
    """With its encoder: the file states a^(0)'s width at the lookup (n_in), not at the
    first Dense layer, and the loaded network reads the table by column name."""
    df, y = _frame(6, 200)
    net = _table_encoded_net(df, seed=1)
    net.fit(df, y, epochs=2, batch_size=32, optimizer="adam")
    path = cr.save(net, tmp_path / "table.safetensors")
    back = cr.load(path)
    assert back.encoder is not None and net.encoder is not None
    assert back.encoder.code_columns() == net.encoder.code_columns()
    assert back.n_in == net.n_in < back.dense_layers[0].n_in
    np.testing.assert_array_equal(back.predict(df), net.predict(df))


def test_the_cli_trains_predicts_explains_and_exports_with_embeddings(tmp_path, capsys) -> None:
    """``chainrule train --embeddings both`` on a CSV: the saved model starts with the two
    layers, ``predict`` reads it back by column name, ``explain`` prints the chain rule
    through them, and its ONNX export equals predict."""
    from chainrule.cli import main

    df, y = _frame(7, 600)  # 40 cities, ~10 training rows each: coded, not rare
    df["label"] = np.where(y == 1, "yes", "no")
    df.to_csv(tmp_path / "t.csv", index=False)
    run = tmp_path / "run"
    assert main(["train", "--csv", str(tmp_path / "t.csv"), "--target", "label",
                 "--embeddings", "both", "--epochs", "3", "--quiet", "--out", str(run),
                 "--cv", "0"]) == 0  # one network (members: tests/test_crossval_embeddings.py)
    net = cr.load(run / "model.safetensors")
    assert [type(layer) for layer in net.layers[:2]] == [CategoricalEmbedding,
                                                         PeriodicEmbedding]
    assert main(["predict", str(run / "model.safetensors"), "--csv", str(tmp_path / "t.csv"),
                 "--out", str(tmp_path / "pred.csv")]) == 0
    capsys.readouterr()
    assert main(["explain", str(run / "model.safetensors"), "--csv",
                 str(tmp_path / "t.csv")]) == 0
    out = capsys.readouterr().out
    assert "CategoricalEmbedding: a_prev column" in out and "∂C_0/∂c_0,0" in out
    features = df.drop(columns=["label"])
    want = net.predict(features)
    np.testing.assert_allclose(onnx_convert.run(onnx_convert.to_onnx(net), features), want,
                               rtol=1e-6, atol=1e-6 * np.abs(want).max())
