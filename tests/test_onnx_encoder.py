"""The encoder's newer encodings in ONNX (onnx/encoder.py): the robust and PLE readings, an
integer code's categories (one-hot with a rare pool, or one code feature) and text
categories as codes — onnxruntime's features and predictions equal the encoder's and
``net.predict``'s (float32 1e-6 relative, float64 1e-12), missing cells and values never
seen in training included."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import chainrule.onnx.convert as cx  # noqa: E402
from chainrule import MLP, Network  # noqa: E402
from chainrule.table import TableEncoder  # noqa: E402

RTOL = {"float32": 1e-6, "float64": 1e-12}


def _table(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "income": rng.lognormal(3, 1.2, n),  # a heavy tail
        "age": rng.normal(40, 12, n).round(),
        "school": rng.integers(100, 130, n).astype(float),  # an integer code, 30 values
        "club": rng.choice(np.arange(1.0, 13.0), n, p=[0.099] * 10 + [0.005] * 2),
        "player": rng.choice([f"p{i}" for i in range(25)], n),
        "hand": rng.choice(["left", "right"], n),
    })
    df.loc[df.index[::17], "income"] = np.nan
    df.loc[df.index[::23], "school"] = np.nan
    df.loc[df.index[::29], "player"] = None
    return df


def _later(df: pd.DataFrame) -> pd.DataFrame:
    """Rows with what training never saw: missing cells, a school code, a player."""
    later = df.iloc[:40].copy()
    later.iloc[:6, later.columns.get_loc("school")] = [999.0, np.nan, 100.0, 129.0, 5.0, -1.0]
    later.iloc[:4, later.columns.get_loc("player")] = ["nobody", None, "p0", "p24"]
    later.iloc[:3, later.columns.get_loc("income")] = [np.nan, 1e6, 0.0]
    later.iloc[3:5, later.columns.get_loc("club")] = [11.0, 4.0]
    return later


def _net(enc: TableEncoder, df: pd.DataFrame, dtype: str) -> Network:
    y = np.log1p(df["income"].fillna(1.0).to_numpy())[:, None]
    net = MLP([enc.n_out, 10, 1], hidden="tanh", dtype=dtype, seed=0)
    net.encoder = enc
    net.scaler = enc.standardizer(enc.transform(df))
    net.fit(df, y, epochs=3, batch_size=64)
    return net


def _features(model: Any, df: pd.DataFrame) -> np.ndarray:
    """The graph's encoded features (the Concat's output), read from a session."""
    concat = next(n for n in model.graph.node if n.op_type == "Concat"
                  and n.output[0].startswith("encoded"))
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    probe.graph.output.append(onnx.helper.make_empty_tensor_value_info(concat.output[0]))
    session = ort.InferenceSession(probe.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    feed = cx.table_feed(session.get_inputs(), df)
    return session.run(None, feed)[names.index(concat.output[0])]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("options", [
    {"numeric_encoding": "robust"},
    {"numeric_encoding": "ple", "ple_bins": 8},
    {"categorical_encoding": "codes"},
    {"numeric_encoding": "ple", "categorical_encoding": "codes", "min_frequency": 10},
], ids=["robust", "ple", "codes", "ple+codes+rare"])
def test_onnx_equals_the_encoder_and_predict(options: dict[str, Any], dtype: str) -> None:
    df = _table()
    enc = TableEncoder(**options).fit(df)
    kinds = {e.column: e for e in enc.encodings}
    assert kinds["school"].levels is not None  # the code rule fired
    if options.get("categorical_encoding") == "codes":
        assert enc.code_columns() and kinds["player"].kind == "codes"
    net = _net(enc, df, dtype)
    model = cx.to_onnx(net, dtype=dtype)
    onnx.checker.check_model(model, full_check=True)
    later = _later(df)
    want = enc.transform(later, dtype)
    got = _features(model, later)
    np.testing.assert_allclose(got, want, rtol=RTOL[dtype], atol=RTOL[dtype])
    if options.get("min_frequency") == 10:  # club 11 and 12 are rare: pooled, one feature
        rare = enc.names.index("club=(rare)")
        assert got[3, rare] == 1 and got[4, rare] == 0
    predicted = net.predict(later)
    np.testing.assert_allclose(cx.run(model, later), predicted, rtol=RTOL[dtype] * 10,
                               atol=RTOL[dtype] * 10 * float(np.abs(predicted).max()))


def test_an_unseen_or_missing_code_is_zero_in_the_graph() -> None:
    df = _table()
    enc = TableEncoder(categorical_encoding="codes").fit(df)
    model = cx.to_onnx(_net(enc, df, "float32"))
    later = _later(df)
    got = _features(model, later)
    (player, _), = [(j, m) for j, m in enc.code_columns() if enc.names[j] == "player (code)"]
    np.testing.assert_array_equal(got[:4, player], [0, 0, 1, 25])
    school = enc.names.index("school (code)")  # 30 values, over ONEHOT_MAX: one code
    np.testing.assert_array_equal(got[:6, school], [0, 0, 1, 30, 0, 0])
