"""chainrule.onnx on networks trained on real tables: one graph input per column, the
encoder's imputation and one-hot encoding in the graph, onnxruntime's outputs equal to
``net.predict`` — missing cells, unseen and rare categories included — and dates refused
with a message that says what to do."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
vega = pytest.importorskip("vega_datasets")
sm_datasets = pytest.importorskip("statsmodels.datasets")

import chainrule.onnx.convert as cx  # noqa: E402
from chainrule import MLP, Network  # noqa: E402
from chainrule.cli import main  # noqa: E402
from chainrule.io import model as io  # noqa: E402
from chainrule.table import TableEncoder  # noqa: E402

RTOL = {"float32": 1e-5, "float64": 1e-12}


def _fit(df: pd.DataFrame, y: Any, *, n_out: int = 1, output: str = "identity",
         loss: str = "squared_error", dtype: str = "float32", **encoder: Any) -> Network:
    """A small network trained for a few epochs on ``df`` (weights away from their start,
    so the comparison means something)."""
    enc = TableEncoder(**encoder).fit(df)
    net = MLP([enc.n_out, 12, n_out], hidden="tanh", output=output, loss=loss, dtype=dtype,
              seed=0)
    net.encoder = enc
    net.scaler = enc.standardizer(enc.transform(df))
    net.fit(df, y, epochs=4, batch_size=64)
    return net


def _assert_matches(got: np.ndarray, want: np.ndarray, dtype: str = "float32") -> None:
    assert got.shape == want.shape and got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, want, rtol=RTOL[dtype],
                               atol=RTOL[dtype] * float(np.abs(want).max()))


def _session(model: Any) -> Any:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _cars() -> pd.DataFrame:
    """vega_datasets' cars (406 rows): missing miles per gallon and horsepower, text
    Origin, 3- and 5-cylinder cars rare (4 and 3 rows), a date column Year."""
    with warnings.catch_warnings():  # vega_datasets' own use of a deprecated pandas keyword
        warnings.simplefilter("ignore")
        return vega.data.cars()


def _airports() -> pd.DataFrame:
    """vega_datasets' airports (3376 rows): state is text, missing in 12 rows, with rare
    states (DC, GU, AS, CQ in fewer than 5 rows)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return vega.data.airports()


# -- regression ------------------------------------------------------------------------------
def test_cars_regression_matches_predict_with_missing_unseen_and_rare() -> None:
    df = _cars().drop(columns="Year")
    df = df[df["Horsepower"].notna()].reset_index(drop=True)
    y = df.pop("Horsepower").to_numpy()[:, None] / 100.0
    net = _fit(df, y, categorical=["Cylinders"])
    cyl = next(e for e in net.encoder.encodings if e.column == "Cylinders")
    assert cyl.rare == ["3", "5"]  # pooled into Cylinders=(rare)
    later = df.copy()
    later.loc[:4, "Origin"] = ["Mars", None, "NA", " USA ", "usa"]  # unseen, missing, trimmed
    later.loc[5:7, "Cylinders"] = [12, 3, 5]  # unseen and rare
    later.loc[8:9, "Miles_per_Gallon"] = np.nan
    assert later["Miles_per_Gallon"].isna().sum() >= 8
    model = cx.to_onnx(net)
    _assert_matches(cx.run(model, later), net.predict(later))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_airports_regression_matches_predict(dtype: str) -> None:
    df = _airports()
    y = df.pop("latitude").to_numpy()[:, None] / 10.0
    net = _fit(df, y, dtype=dtype)
    state = next(e for e in net.encoder.encodings if e.column == "state")
    assert state.missing and len(state.rare) >= 2
    later = df.copy()
    later.loc[:2, "state"] = ["ZZ", None, "?"]  # unseen, missing, a missing token
    model = cx.to_onnx(net)
    assert [i.name for i in model.graph.input] == ["state", "country", "longitude"]
    rare = df.index[df["state"].isin(state.rare)]
    assert len(rare) and net.encoder.transform(df.loc[rare])[:, len(state.categories)].all()
    _assert_matches(cx.run(model, later), net.predict(later), dtype)


# -- classification --------------------------------------------------------------------------
def test_cars_classification_with_numbers_written_as_text() -> None:
    df = _cars().drop(columns="Year")
    origin = df.pop("Origin")
    classes = sorted(origin.unique())
    labels = origin.map({c: i for i, c in enumerate(classes)}).to_numpy()
    df["Weight_in_lbs"] = [f"{w:,}" for w in df["Weight_in_lbs"]]  # "3,504"
    net = _fit(df, labels, n_out=3, output="softmax", loss="cross_entropy")
    weight = next(e for e in net.encoder.encodings if e.column == "Weight_in_lbs")
    assert weight.kind == "numeric"
    model = cx.to_onnx(net)
    kinds = {i.name: i.type.tensor_type.elem_type for i in model.graph.input}
    assert kinds["Weight_in_lbs"] == onnx.TensorProto.FLOAT
    proba = cx.run(model, df)
    _assert_matches(proba, net.predict(df))
    np.testing.assert_array_equal(proba.argmax(axis=1), net.predict_classes(df))


# -- the graph ---------------------------------------------------------------------------
def test_inputs_are_the_columns_and_the_model_is_standard() -> None:
    df = _airports()
    y = df.pop("latitude").to_numpy()[:, None]
    net = _fit(df, y)
    model = cx.to_onnx(net)
    onnx.checker.check_model(model, full_check=True)
    inputs = {i.name: i.type.tensor_type for i in model.graph.input}
    assert list(inputs) == net.encoder.inputs == ["state", "country", "longitude"]
    assert inputs["state"].elem_type == inputs["country"].elem_type == onnx.TensorProto.STRING
    assert inputs["longitude"].elem_type == onnx.TensorProto.FLOAT
    for t in inputs.values():
        assert [d.dim_param or d.dim_value for d in t.shape.dim] == ["N", 1]
    domains = {o.domain: o.version for o in model.opset_import}
    assert domains[""] >= 17 and domains["ai.onnx.ml"] >= 2
    assert {n.op_type for n in model.graph.node} >= {"LabelEncoder", "Where", "Concat"}


def test_a_session_fed_by_hand_equals_predict() -> None:
    """The documented interface, without :func:`chainrule.onnx.run`: strings as an object
    array, numbers as float32 with NaN, each (N, 1); missing tokens map to (missing)."""
    df = _airports()
    y = df.pop("latitude").to_numpy()[:, None]
    net = _fit(df, y)
    rows = df.iloc[:50].copy()
    rows.iloc[:4, rows.columns.get_loc("state")] = ["NA", "", "ZZ", "DC"]
    rows.iloc[4, rows.columns.get_loc("longitude")] = np.nan
    feed = {"state": rows["state"].to_numpy(dtype=object).reshape(-1, 1),
            "country": rows["country"].to_numpy(dtype=object).reshape(-1, 1),
            "longitude": rows["longitude"].to_numpy(np.float32).reshape(-1, 1)}
    got = _session(cx.to_onnx(net)).run(None, feed)[0]
    _assert_matches(got, net.predict(rows))


def test_a_date_column_is_refused_with_what_to_do() -> None:
    df = _cars()
    y = df.pop("Acceleration").to_numpy()[:, None]
    net = _fit(df, y)
    with pytest.raises(ValueError, match=r"column 'Year' is a date .* retrain with --drop Year"):
        cx.to_onnx(net)


def test_run_says_a_table_model_needs_named_columns() -> None:
    df = _airports()
    y = df.pop("latitude").to_numpy()[:, None]
    model = cx.to_onnx(_fit(df, y))
    with pytest.raises(ValueError, match="takes named columns"):
        cx.run(model, np.zeros((3, 2)))
    with pytest.raises(ValueError, match="missing column.*'state'"):
        cx.run(model, {"longitude": [1.0]})


def test_an_output_named_like_a_column_is_refused() -> None:
    df = pd.DataFrame({"output": np.arange(20.0) + 0.5, "b": ["x", "y"] * 10})
    net = _fit(df, np.arange(20.0)[:, None])
    with pytest.raises(ValueError, match="output_name"):
        cx.to_onnx(net)
    got = cx.run(cx.to_onnx(net, output_name="y"), df)
    _assert_matches(got, net.predict(df))


# -- the command line --------------------------------------------------------------------
def test_cli_export_of_a_model_trained_on_a_csv(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    df = sm_datasets.grunfeld.load_pandas().data  # firm: text, 11 categories
    df.loc[[3, 40], "value"] = np.nan
    csv = tmp_path / "grunfeld.csv"
    df.to_csv(csv, index=False)
    out = tmp_path / "run"
    assert main(["train", "--csv", str(csv), "--target", "invest", "--epochs", "3",
                 "--quiet", "--out", str(out)]) == 0
    model_file, onnx_file = out / "model.safetensors", tmp_path / "model.onnx"
    assert main(["export", str(model_file), "--format", "onnx", "--out", str(onnx_file)]) == 0
    assert f"wrote {onnx_file}" in capsys.readouterr().out
    model = onnx.load(str(onnx_file))
    onnx.checker.check_model(model, full_check=True)
    net = io.load(model_file)
    assert [i.name for i in model.graph.input] == net.encoder.inputs
    table = pd.read_csv(csv).drop(columns="invest")
    _assert_matches(cx.run(onnx_file, table), net.predict(table), net.dtype.name)


def test_cli_export_refuses_a_date_column_in_one_line(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "cars.csv"
    _cars()[["Year", "Weight_in_lbs", "Origin", "Acceleration"]].to_csv(csv, index=False)
    out = tmp_path / "run"
    assert main(["train", "--csv", str(csv), "--target", "Acceleration", "--epochs", "1",
                 "--quiet", "--out", str(out)]) == 0
    onnx_file = tmp_path / "model.onnx"
    assert main(["export", str(out / "model.safetensors"), "--out", str(onnx_file)]) == 1
    err = capsys.readouterr().err
    assert "error: column 'Year' is a date" in err and "--drop Year" in err
    assert not onnx_file.exists()
