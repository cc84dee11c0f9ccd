"""Real tables through the command line (issue 10): text categories and missing values
train with no flags; the encoder learns from the training split only; a saved model reads
any later copy of the table by column name; every bad table is one clear line, exit 1,
and nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from chainrule import datasets
from chainrule.cli import main
from chainrule.io import model as io


def _table(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.normal(40, 10, n).round(1)
    city = rng.choice(["paris", "rome", "oslo"], n)
    y = np.where((age > 40) ^ (city == "rome"), "yes", "no")
    age[rng.random(n) < 0.1] = np.nan
    return pd.DataFrame({"age": age, "city": city, "note": [f"n{i}" for i in range(n)],
                         "y": y})


def _train(tmp_path: Path, csv: Path, *extra: str) -> Path:
    out = tmp_path / "run"
    assert main(["train", "--csv", str(csv), "--target", "y", "--epochs", "15",
                 "--out", str(out), *extra]) == 0
    return out / "model.safetensors"


def test_a_table_with_text_and_missing_values_trains_and_says_what_it_did(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "t.csv"
    _table().to_csv(csv)  # with pandas' index column
    model = _train(tmp_path, csv)
    out = capsys.readouterr().out
    assert "dropped column 1 (''): an unnamed column is a row index" in out
    assert "dropped column 'note': an identifier (different text in every row)" in out
    assert "column 'age': " in out and "missing-indicator feature" in out
    metrics = json.loads((model.parent / "metrics.json").read_text())["test"]
    assert metrics["accuracy"] > 0.8
    assert io.read_model(model).feature_names == ["age", "city"]


def test_the_encoder_learns_from_the_training_split_only(tmp_path: Path) -> None:
    df = _table()
    df.loc[df.index[-60:], "age"] = 1000.0  # extreme values: wherever they fall, they move
    csv = tmp_path / "t.csv"
    df.to_csv(csv, index=False)
    model = _train(tmp_path, csv)
    net = io.read_model(model).net
    ds = datasets.load_csv(csv, "y")
    s = datasets.split_indices(len(ds.y), val=0.1, test=0.2, labels=ds.y, seed=0)
    age = df["age"].to_numpy()
    (numeric,) = [e for e in net.encoder.encodings if e.column == "age"]
    assert numeric.median == np.nanmedian(age[s.train])
    assert numeric.median != np.nanmedian(age)
    assert net.scaler.mean[0] == pytest.approx(
        np.mean(np.where(np.isnan(age[s.train]), numeric.median, age[s.train])))


def test_reordered_copies_give_identical_output_and_unseen_categories_predict(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    df = _table()
    (tmp_path / "copy").mkdir()
    csv, shuffled = tmp_path / "t.csv", tmp_path / "copy" / "t.csv"
    df.to_csv(csv, index=False)
    df[["y", "note", "city", "age"]].assign(more=1).to_csv(shuffled, index=False)
    model = _train(tmp_path, csv)
    capsys.readouterr()
    for command in (["evaluate", str(model)], ["explain", str(model)],
                    ["predict", str(model)]):
        outputs = []
        for path in (csv, shuffled):
            target = [] if command[0] == "predict" else ["--target", "y"]
            assert main([*command, "--csv", str(path), *target]) == 0
            outputs.append(capsys.readouterr().out.replace(str(path), "F"))
        assert outputs[0] == outputs[1], command
    new = tmp_path / "new.csv"
    pd.DataFrame({"age": [30.0, None], "city": ["berlin", "rome"]}).to_csv(new, index=False)
    assert main(["predict", str(model), "--csv", str(new)]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.strip().splitlines()) == 3
    assert "column 'city': 1 cell(s) with a category not seen in training" in captured.err
    pd.DataFrame({"city": ["rome"]}).to_csv(new, index=False)
    assert main(["predict", str(model), "--csv", str(new)]) == 1
    assert "missing feature column(s) 'age'" in capsys.readouterr().err


def test_info_shows_the_input_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "t.csv"
    _table().to_csv(csv, index=False)
    model = _train(tmp_path, csv, "--drop", "note")
    capsys.readouterr()
    assert main(["info", str(model)]) == 0
    out = capsys.readouterr().out
    assert "input columns (2 used, 1 dropped; " in out
    assert "city" in out and "onehot" in out and "note" in out and "named by drop" in out


def test_parquet_reads_like_csv(tmp_path: Path) -> None:
    df = _table()
    df.to_parquet(tmp_path / "t.parquet")
    df.to_csv(tmp_path / "t.csv", index=False)
    a = datasets.load_csv(tmp_path / "t.parquet", "y")
    b = datasets.load_csv(tmp_path / "t.csv", "y")
    assert a.table.names == b.table.names and np.array_equal(a.y, b.y)


def test_semicolons_and_decimal_commas(tmp_path: Path) -> None:
    path = tmp_path / "eu.csv"
    path.write_text("größe;farbe;y\n" + "".join(f"{i},5;{'rot' if i % 2 else 'blau'};{i % 2}\n"
                                                 for i in range(30)), encoding="cp1252")
    ds = datasets.load_csv(path, "y")
    assert ds.table.names == ["größe", "farbe"]
    np.testing.assert_array_equal(ds.table["größe"].values[:2], [0.5, 1.5])
    assert any("not UTF-8" in note for note in ds.notes)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _bad_tables(tmp: Path) -> dict[str, tuple[Path, str]]:
    rng = np.random.default_rng(0)
    many = pd.DataFrame({"c": [f"k{i % 10_000}" for i in range(50_000)],
                         "y": rng.integers(0, 2, 50_000)})
    many.to_csv(tmp / "many.csv", index=False)
    mixed = "\n".join(["v,y", *(f"{i},{i % 2}" for i in range(20)), "unknown,1"]) + "\n"
    return {
        "empty": (_write(tmp / "empty.csv", ""), "the file is empty"),
        "header only": (_write(tmp / "header.csv", "a,b,y\n"), "only a header row"),
        "all-missing column": (_write(tmp / "allna.csv", "a,y\n" + ",0\nNA,1\n" * 20),
                               "no usable feature column: 'a' every cell is missing"),
        "one class": (_write(tmp / "one.csv", "a,y\n" + "1,x\n2,x\n" * 20),
                      "target column 'y' holds one class only ('x')"),
        "duplicate names": (_write(tmp / "dup.csv", "a,a,y\n" + "1,2,0\n3,4,1\n" * 20),
                            "duplicate column names in the header: 'a'"),
        "target only": (_write(tmp / "target.csv", "y\n" + "1\n0\n" * 20),
                        "no feature columns besides the target 'y'"),
        "10,000 categories": (tmp / "many.csv",
                              "1654 of them in 5+ rows: more than the 200 one-hot features"),
        "mixed types": (_write(tmp / "mixed.csv", mixed),
                        "column 'v' mixes numbers ("),
        "ragged": (_write(tmp / "ragged.csv", "a,y\n1,0\n2\n"), "row 3 has 1 cells"),
        "missing target": (_write(tmp / "notarget.csv", "a,b\n1,0\n"),
                           "no column 'y' (the target)"),
    }


def test_every_bad_table_is_one_line_exit_1_and_nothing_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the table recipe reads a column of many categories as codes for an embedding (it
    # trains: test_many_categories_train_as_codes); read one-hot, they are still refused
    extra = {"10,000 categories": ["--embeddings", "none"]}
    for name, (path, message) in _bad_tables(tmp_path).items():
        out = tmp_path / f"run-{name}"
        code = main(["train", "--csv", str(path), "--target", "y", "--out", str(out),
                     "--epochs", "1", *extra.get(name, [])])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 1 and len(err) == 1 and err[0].startswith("error: "), (name, err)
        assert message in err[0] and str(path) in err[0], (name, err[0])
        assert not out.exists(), name


def test_many_categories_train_as_codes(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = _bad_tables(tmp_path)["10,000 categories"]
    out = tmp_path / "run"
    code = main(["train", "--csv", str(path), "--target", "y", "--out", str(out),
                 "--epochs", "1"])
    printed = capsys.readouterr().out
    assert code == 0 and (out / "model.safetensors").exists()
    assert "as one feature of codes" in printed and "for an embedding" in printed
