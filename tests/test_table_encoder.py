"""The table encoder (issue 10, item 1): what it does to each kind of column, that it
learns from the training rows only, that its state round-trips through JSON and the
model file, and that columns are matched by name."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import chainrule
from chainrule.io import model as io
from chainrule.table import OneHot, Table, TableEncoder, TableError


def _mixed(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.normal(40, 10, n)
    age[rng.random(n) < 0.1] = np.nan
    return pd.DataFrame({
        "age": age,
        "city": rng.choice(["paris", "rome", "oslo", None], n, p=[0.4, 0.3, 0.27, 0.03]),
        "member": rng.choice([True, False], n),
        "income": [f"{v:,.0f}" for v in rng.normal(50_000, 9_000, n)],
        "when": pd.date_range("2020-01-01", periods=n).astype(str),
        "name": [f"person {i}" for i in range(n)],
        "const": ["x"] * n,
    })


def test_numbers_get_the_training_median_and_a_missing_indicator() -> None:
    enc = TableEncoder().fit({"v": [1.0, 2.0, np.nan, 10.0], "w": [1.0, 2.0, 3.0, 4.0]})
    assert enc.names == ["v", "v (missing)", "w"]
    X = enc.transform({"v": [np.nan, 5.0], "w": [0.0, np.nan]})
    np.testing.assert_array_equal(X, [[2.0, 1.0, 0.0], [5.0, 0.0, 2.5]])
    notes = enc.encode({"v": [1.0], "w": [np.nan]}).notes
    assert notes == ["column 'w': 1 missing or unreadable cell(s) filled with the median"]
    scaler = enc.standardizer(enc.transform({"v": [1.0, 3.0], "w": [0.0, 4.0]}))
    np.testing.assert_array_equal(scaler.mean, [2.0, 0.0, 2.0])  # the 0/1 feature unscaled
    np.testing.assert_array_equal(scaler.scale, [1.0, 1.0, 2.0])


def test_categories_one_hot_in_natural_order_missing_and_unseen() -> None:
    enc = TableEncoder(min_frequency=1).fit({"g": ["b10", "b9", "a", None, "b9"]})
    assert enc.names == ["g=a", "g=b9", "g=b10", "g=(missing)"]
    encoded = enc.encode({"g": ["b10", "new", None, "a"]})
    np.testing.assert_array_equal(encoded.X, [[0, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 1],
                                              [1, 0, 0, 0]])
    assert encoded.notes == ["column 'g': 1 cell(s) with a category not seen in training "
                             "(or missing), encoded as all zeros"]


def test_rare_categories_are_pooled() -> None:
    cells = ["a"] * 10 + ["b"] * 10 + ["c", "d", "e"]
    enc = TableEncoder(min_frequency=5).fit({"g": cells})
    (e,) = enc.encodings
    assert isinstance(e, OneHot) and e.categories == ["a", "b"] and e.rare == ["c", "d", "e"]
    np.testing.assert_array_equal(enc.transform({"g": ["d", "a", "zz"]}),
                                  [[0, 0, 1], [1, 0, 0], [0, 0, 0]])
    assert any("3 rare one(s)" in note for note in enc.notes)


def test_columns_without_signal_are_dropped_with_their_reason() -> None:
    enc = TableEncoder(drop=["member"]).fit(_mixed())
    assert enc.dropped == {
        "member": "named by drop",
        "name": "an identifier (different text in every row)",
        "const": "constant (every row is 'x')",
    }
    assert "dropped column 'name': an identifier (different text in every row)" in enc.notes
    ids = TableEncoder().fit({"customer_id": np.arange(100, 130), "v": np.arange(30) % 7})
    assert list(ids.dropped) == ["customer_id"]
    empty = TableEncoder().fit({"e": [None] * 5, "v": [1.0, 2, 3, 4, 5]})
    assert empty.dropped == {"e": "every cell is missing"}
    free = TableEncoder().fit({"t": [f"word {i % 40}" for i in range(60)],
                               "v": np.arange(60.0) ** 1.5})  # not a row number
    assert free.dropped["t"].startswith("free text (40 distinct values in 60 rows)")


def test_numbers_written_as_text_and_dates() -> None:
    enc = TableEncoder().fit({"price": ["1,234", "$5", "12%", "7"],
                              "day": ["2024-03-01", "2024/12/25 18:30", None, "2023-01-02"]})
    assert enc.names == ["price", "day.year", "day.month", "day.day", "day.weekday",
                         "day.hour", "day (missing)"]
    X = enc.transform({"price": ["2,000"], "day": ["2024-03-01 06:15"]})
    np.testing.assert_allclose(X, [[2000, 2024, 3, 1, 4, 6.25, 0]])  # a Friday
    assert "column 'day': dates, encoded as year, month, day, weekday, hour" in enc.notes


def test_a_column_mixing_numbers_and_text_is_refused_until_told() -> None:
    data = {"x": ["1", "2", "3", "unknown", "5", "6"], "y": [1, 2, 3, 4, 5, 6]}
    with pytest.raises(TableError, match="column 'x' mixes numbers \\(5 rows\\) and text "
                       "\\(1 rows, e.g. 'unknown'"):
        TableEncoder().fit(data)
    assert TableEncoder(numeric=["x"]).fit(data).names == ["x", "x (missing)", "y"]
    forced = TableEncoder(categorical=["x", "y"], min_frequency=1).fit(data)
    assert forced.names[:2] == ["x=1", "x=2"] and "y=6" in forced.names


def test_too_many_categories_is_refused_naming_the_column() -> None:
    cells = [f"c{i % 300}" for i in range(3000)]
    with pytest.raises(TableError, match="column 'zip' has 300 distinct values in the 3000 "
                       "training rows, 300 of them in 5\\+ rows: more than the 200 "
                       "one-hot features a column may make; drop it \\(--drop zip\\)"):
        TableEncoder().fit({"zip": cells, "v": np.arange(3000.0)})
    assert TableEncoder(max_categories=300).fit({"zip": cells}).n_out == 300


def test_unknown_column_names_in_options_are_refused() -> None:
    with pytest.raises(TableError, match="drop: no column 'nope'; the columns are a"):
        TableEncoder(drop=["nope"]).fit({"a": [1.0, 2.0]})
    with pytest.raises(TableError, match="categorical and numeric both name 'a'"):
        TableEncoder(categorical=["a"], numeric=["a"])


def test_columns_are_matched_by_name_and_a_missing_one_is_named() -> None:
    df = _mixed()
    enc = TableEncoder().fit(df)
    shuffled = df[list(reversed(df.columns))].assign(extra=1)
    np.testing.assert_array_equal(enc.transform(shuffled), enc.transform(df))
    with pytest.raises(TableError, match="missing column\\(s\\) 'city'"):
        enc.transform(df.drop(columns=["city"]))
    assert "name" not in enc.inputs  # dropped columns are not needed later
    enc.transform(df.drop(columns=["name", "const"]))


def test_state_round_trips_through_json() -> None:
    df = _mixed()
    enc = TableEncoder(min_frequency=3).fit(df)
    again = TableEncoder.from_dict(json.loads(json.dumps(enc.to_dict())))
    assert again.names == enc.names and again.dropped == enc.dropped
    new = _mixed(50, seed=1)
    np.testing.assert_array_equal(again.transform(new), enc.transform(new))


def test_a_network_with_an_encoder_round_trips_through_its_model_file(tmp_path) -> None:
    df = _mixed()
    enc = TableEncoder().fit(df)
    net = chainrule.MLP([enc.n_out, 8, 2], hidden="tanh", output="softmax",
                        loss="cross_entropy", seed=0, dtype="float64")
    net.encoder, net.scaler = enc, enc.standardizer(enc.transform(df))
    y = (df["age"].fillna(40) > 40).to_numpy().astype(int)
    net.fit(df, np.eye(2)[y], epochs=2, batch_size=32)
    path = chainrule.save(net, tmp_path / "m.safetensors")
    loaded = chainrule.load(path)
    new = _mixed(30, seed=2)
    np.testing.assert_array_equal(loaded.predict(new), net.predict(new))
    assert io.read_model(path).feature_names == enc.inputs
    with pytest.raises(ValueError, match="a table needs a table encoder"):
        chainrule.MLP([3, 2]).predict({"a": [1.0]})


def _edit_encoder(path, edit) -> bytes:  # type: ignore[no-untyped-def]
    arrays, meta = io.loads_safetensors(path.read_bytes())
    state = json.loads(meta["encoder"])
    edit(state)
    return io.dumps_safetensors(arrays, {**meta, "encoder": json.dumps(state)})


@pytest.mark.parametrize(("edit", "message"), [
    (lambda s: s["columns"].pop(0), "the table encoder makes 2 features for 3 inputs"),
    (lambda s: s["columns"][0].update(median="x"), "encoder.columns\\[0\\].median"),
    (lambda s: s["columns"][1].update(kind="magic"),
     "encoder.columns\\[1\\]: kind 'magic' is not one of"),
    (lambda s: s["columns"].append(s["columns"][0]), "a column is encoded twice"),
    (lambda s: s.update(columns=[]), "encoder.columns"),
])
def test_a_hostile_encoder_state_is_refused_by_the_model_file(tmp_path, edit, message) -> None:
    enc = TableEncoder().fit({"a": [1.0, 2.0, 3.0], "b": ["x", "y", "x"]})
    net = chainrule.MLP([enc.n_out, 2])
    net.encoder = enc
    path = chainrule.save(net, tmp_path / "m.safetensors")
    (tmp_path / "bad.safetensors").write_bytes(_edit_encoder(path, edit))
    with pytest.raises(chainrule.ModelFileError, match=message):
        chainrule.load(tmp_path / "bad.safetensors")


def test_dataframe_dtypes_become_the_right_columns() -> None:
    df = pd.DataFrame({"cat": pd.Categorical(["a", "b", "a", "b", "a", "b"]),
                       "flag": [True, False, True, False, True, True],
                       "when": pd.to_datetime(["2020-01-01"] * 3 + ["2021-06-01"] * 3),
                       "n": pd.array([1, None, 3, 4, 5, 6], dtype="Int64")})
    enc = TableEncoder(min_frequency=1).fit(df)
    assert enc.names == ["cat=a", "cat=b", "flag=False", "flag=True", "when.year",
                         "when.month", "when.day", "when.weekday", "n", "n (missing)"]
    table = Table.of(df)
    assert len(table) == 6 and table.take([0, 2]).n_rows == 2


def test_pandas_nullable_floats_are_numbers_with_missing_cells() -> None:
    df = pd.DataFrame({"f": pd.array([1.5, None, 3.0], dtype="Float64"),
                       "n": pd.array([1, None, 3], dtype="Int64")})
    table = Table.of(df)  # the nullable float dtype used to be a TypeError here
    np.testing.assert_array_equal(table["f"].values, [1.5, np.nan, 3.0])
    np.testing.assert_array_equal(table["n"].values, [1.0, np.nan, 3.0])


def test_network_fit_takes_a_dataframe_and_standardizes_on_the_training_rows_only() -> None:
    df = _mixed(200)
    y = (df["age"].fillna(0) > 40).astype(int).to_numpy()
    train, val = df.iloc[:150], df.iloc[150:]
    enc = TableEncoder().fit(train)
    net = chainrule.MLP([enc.n_out, 8, 2], output="softmax", loss="cross_entropy", seed=0)
    net.encoder = enc
    history = net.fit(train, y[:150], epochs=3, validation_data=(val, y[150:]))
    assert len(history.history["val_loss"]) == 3
    expected = enc.standardizer(enc.transform(train))  # the training rows' statistics
    assert net.scaler is not None
    assert np.allclose(net.scaler.mean, expected.mean) and np.allclose(net.scaler.scale,
                                                                       expected.scale)
    whole = enc.standardizer(enc.transform(df))
    assert not np.allclose(net.scaler.mean, whole.mean)  # the validation rows left out
    # a dict of columns predicts like the DataFrame; an encoded array like the table
    assert np.array_equal(net.predict(df.to_dict("list")), net.predict(df))
    assert np.array_equal(net.predict(enc.transform(df)), net.predict(df))
    # with validation_split the scaler is fitted after the split: on 150 of 200 rows
    net2 = chainrule.MLP([enc.n_out, 8, 2], output="softmax", loss="cross_entropy", seed=0)
    net2.encoder = enc
    net2.fit(df, y, epochs=1, validation_split=0.25)
    assert net2.scaler is not None and not np.allclose(net2.scaler.mean, whole.mean)


def test_encoding_in_float32_is_the_float64_encoding_cast_and_a_float32_network_gets_it(
        monkeypatch) -> None:
    """The CLI encodes straight into the network's dtype (no float64 copy of the table):
    the values must be the float64 encoding cast, and a float32 network must predict the
    same from the table as from the float64 features it would cast itself."""
    df = _mixed(300, seed=3)
    enc = TableEncoder().fit(df)
    X64 = enc.transform(df)
    X32 = enc.transform(df, np.float32)
    assert X64.dtype == np.float64 and X32.dtype == np.float32
    assert np.array_equal(X32, X64.astype(np.float32))
    assert enc.encode(df, "float32").X.dtype == np.float32
    for bad in ("int64", np.int32, "complex128", "nonsense"):
        with pytest.raises(TableError, match="dtype: expected float32 or float64"):
            enc.transform(df, bad)
    net = chainrule.MLP([enc.n_out, 8, 2], output="softmax", loss="cross_entropy", seed=0,
                        dtype="float32")
    net.encoder, net.scaler = enc, enc.standardizer(X64)
    seen: list[np.dtype] = []
    transform = TableEncoder.transform

    def spy(self, data, dtype=np.float64):
        out = transform(self, data, dtype)
        seen.append(out.dtype)
        return out

    monkeypatch.setattr(TableEncoder, "transform", spy)
    assert np.array_equal(net.predict(df), net.predict(X64))
    assert seen == [np.dtype(np.float32)]  # the table was encoded in float32, not float64


def test_the_cli_encodes_a_csv_in_the_networks_dtype(tmp_path, monkeypatch) -> None:
    from chainrule.cli import train as cli_train

    path = tmp_path / "mixed.csv"
    df = _mixed(120, seed=4)
    df["y"] = (df["age"].fillna(40) > 40).map({True: "old", False: "young"})
    df.to_csv(path, index=False)
    dtypes = []
    encode = chainrule.datasets.Dataset.encode

    def spy(self, encoder, dtype=np.float64):
        encode(self, encoder, dtype)
        dtypes.append(self.X.dtype)

    monkeypatch.setattr(chainrule.datasets.Dataset, "encode", spy)
    for dtype in ("float32", "float64"):
        cfg = cli_train.RunConfig(dataset="csv", csv=str(path), target="y", dtype=dtype)
        splits = cli_train.split(cfg, cli_train.load_data(cfg))
        assert splits.X_train.dtype == np.dtype(dtype)
    assert dtypes == [np.dtype(np.float32), np.dtype(np.float64)]
