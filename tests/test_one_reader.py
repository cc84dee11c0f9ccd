"""One reader for tables (issue 30, "The data path differs between commands").

Every command that takes a table — ``train``, ``evaluate``, ``predict``, ``explain``,
``graph``, ``gradcheck``, ``diagnose``, ``lr-find`` — runs on the same real tables shipped
in PyPI packages (vega_datasets' Seattle weather: a text target, dates; statsmodels'
Grunfeld: a regression with a text column), as CSV and as Parquet, from a different
working directory than the one training ran in; and ``datasets.load`` gives the same
features from the file, its Parquet copy and the DataFrame. Then one regression test per
defect the issue lists.
"""

from __future__ import annotations

import contextlib
import csv
import importlib.util
import io
import json
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from chainrule import datasets
from chainrule.cli import main
from chainrule.datasets import reader as reader_module
from chainrule.datasets.fingerprint import changed, fingerprint
from chainrule.io.model import read_model

#: name → (package, file in it, target column, a column to carry through predict)
TABLES = {
    "weather": ("vega_datasets", "_data/seattle-weather.csv", "weather", "date"),
    "grunfeld": ("statsmodels", "datasets/grunfeld/grunfeld.csv", "invest", "firm"),
}
FORMATS = ("csv", "parquet")
FIXTURES = Path(__file__).parent / "fixtures" / "release-0.1.0"
#: A network small enough that every command is quick.
SMALL = ["--hidden", "8", "--epochs", "2", "--quiet"]


def package_file(package: str, relative: str) -> Path:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.origin, f"{package} is in the test extra"
    path = Path(spec.origin).parent / relative
    assert path.is_file(), path
    return path


@contextlib.contextmanager
def working_directory(path: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def write_table(source: Path, dest: Path) -> None:
    """``source`` (a CSV) at ``dest``: copied, or written as Parquet by pandas."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.suffix == ".parquet":
        pd.read_csv(source).to_parquet(dest)
    else:
        dest.write_bytes(source.read_bytes())


@dataclass(frozen=True)
class Trained:
    """A model trained on ``table`` (named by a relative path in ``train_dir``), and
    another working directory to run the commands from."""

    table: Path
    target: str
    keep: str
    model: Path
    elsewhere: Path


@pytest.fixture(scope="module", params=[(t, f) for t in TABLES for f in FORMATS],
                ids=lambda p: f"{p[0]}-{p[1]}")
def trained(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Trained:
    name, fmt = request.param
    package, relative, target, keep = TABLES[name]
    root = tmp_path_factory.mktemp(f"{name}-{fmt}")
    train_dir, elsewhere = root / "train", root / "elsewhere"
    elsewhere.mkdir()
    table = train_dir / "data" / f"{name}.{fmt}"
    write_table(package_file(package, relative), table)
    with working_directory(train_dir):
        assert main(["train", "--csv", f"data/{name}.{fmt}", "--target", target, *SMALL,
                     "--out", "run"]) == 0
    return Trained(table, target, keep, train_dir / "run" / "model.safetensors", elsewhere)


def run_elsewhere(t: Trained, *argv: str) -> None:
    """``chainrule argv`` from the other working directory; it must succeed."""
    err = io.StringIO()
    with working_directory(t.elsewhere), contextlib.redirect_stderr(err):
        code = main(list(argv))
    assert code == 0, err.getvalue()


# -- every command, every format, from another working directory -------------------------

def test_the_model_records_its_table_by_absolute_path_and_fingerprint(t: Trained) -> None:
    record = read_model(t.model).training["table"]
    assert record == fingerprint(t.table)
    assert Path(record["path"]).is_absolute()


def test_evaluate_on_its_own_training_table(t: Trained) -> None:
    """From another directory, the same test split and the same scores as training's."""
    out = t.elsewhere / f"metrics-{t.table.suffix[1:]}.json"
    run_elsewhere(t, "evaluate", str(t.model), "--json", str(out))
    got = json.loads(out.read_text())
    trained = json.loads((t.model.parent / "metrics.json").read_text())["test"]
    for key in ("n_samples", "accuracy", "log_loss", "mse", "r2"):
        assert got.get(key) == trained.get(key), key


def test_evaluate_csv_needs_no_target(t: Trained) -> None:
    run_elsewhere(t, "evaluate", str(t.model), "--csv", str(t.table))


def test_predict_keeps_an_id_column(t: Trained) -> None:
    out = t.elsewhere / f"pred-{t.table.suffix[1:]}.csv"
    run_elsewhere(t, "predict", str(t.model), "--csv", str(t.table), "--keep", t.keep,
                  "--out", str(out))
    rows = list(csv.reader(out.open(newline="")))
    assert rows[0][0] == t.keep
    first = pd.read_csv(t.table) if t.table.suffix == ".csv" else pd.read_parquet(t.table)
    assert [r[0] for r in rows[1:4]] == [str(v) for v in first[t.keep][:3]]


def test_explain(t: Trained) -> None:
    run_elsewhere(t, "explain", str(t.model), "--csv", str(t.table), "--target", t.target)


def test_explain_on_its_own_training_table(t: Trained) -> None:
    run_elsewhere(t, "explain", str(t.model), "--sample", "3")


def test_graph(t: Trained) -> None:
    run_elsewhere(t, "graph", str(t.model), "--csv", str(t.table), "--format", "dot",
                  "-o", f"graph-{t.table.suffix[1:]}.dot")


def test_diagnose(t: Trained) -> None:
    run_elsewhere(t, "diagnose", str(t.model), "--csv", str(t.table), "--target", t.target,
                  "--steps", "5")


def test_diagnose_on_its_own_training_table(t: Trained) -> None:
    run_elsewhere(t, "diagnose", str(t.model), "--steps", "5")


def test_graph_on_its_own_training_table(t: Trained) -> None:
    run_elsewhere(t, "graph", str(t.model), "--sample", "1", "--format", "dot",
                  "-o", f"own-{t.table.suffix[1:]}.dot")


def test_gradcheck(t: Trained) -> None:
    run_elsewhere(t, "gradcheck", "--csv", str(t.table), "--target", t.target,
                  "--hidden", "4", "--samples", "4", "--max-params", "5")


def test_lr_find(t: Trained) -> None:
    run_elsewhere(t, "lr-find", "--csv", str(t.table), "--target", t.target,
                  "--hidden", "8", "--steps", "10", "--out", f"lr-{t.table.suffix[1:]}")


@pytest.fixture
def t(trained: Trained) -> Trained:
    return trained


# -- the library: one reader, usable features ----------------------------------------------

@pytest.mark.parametrize("name", list(TABLES))
def test_load_gives_the_same_features_from_csv_parquet_and_dataframe(
        name: str, tmp_path: Path) -> None:
    package, relative, target, _ = TABLES[name]
    source = package_file(package, relative)
    write_table(source, tmp_path / "t.parquet")
    from_csv = datasets.load("csv", path=str(source), target=target)
    from_parquet = datasets.load("csv", path=tmp_path / "t.parquet", target=target)
    from_frame = datasets.load("csv", path=pd.read_csv(source), target=target)
    assert from_csv.n_features > 0  # was 0 until encode() (issue 30)
    assert np.isfinite(from_csv.X).all() and from_csv.encoder is not None
    assert any("TableEncoder fitted on all" in note for note in from_csv.notes)
    for other in (from_parquet, from_frame):
        assert other.feature_names == from_csv.feature_names
        np.testing.assert_array_equal(other.X, from_csv.X)
        np.testing.assert_array_equal(other.y, from_csv.y)


def test_load_refuses_what_is_neither_a_path_nor_a_dataframe() -> None:
    with pytest.raises(ValueError, match="path: expected a table file's path or a pandas "
                       "DataFrame, got ndarray"):
        datasets.load("csv", path=np.zeros((3, 2)), target="y")


def test_load_encode_false_leaves_the_table_to_encode(tmp_path: Path) -> None:
    package, relative, target, _ = TABLES["weather"]
    ds = datasets.load("csv", path=package_file(package, relative), target=target,
                       encode=False)
    assert ds.n_features == 0 and ds.table is not None and ds.encoder is None


def test_every_command_refuses_a_bad_table_with_the_same_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import gzip

    model = _trained_small(tmp_path, monkeypatch)
    Path("empty.csv").write_bytes(b"")
    Path("packed.csv").write_bytes(gzip.compress(b"a,y\n1,2\n"))
    _workbook(Path("book.xlsx"))
    monkeypatch.setattr(reader_module, "installed", lambda package: False)
    capsys.readouterr()
    data = ["--target", "y"]
    commands = {"train": ["train", *SMALL, *data, "--out", "r2"], "predict": ["predict", model],
                "evaluate": ["evaluate", model], "explain": ["explain", model, *data],
                "graph": ["graph", model, *data], "diagnose": ["diagnose", model, *data],
                "gradcheck": ["gradcheck", *data], "lr-find": ["lr-find", *data]}
    for bad in ("empty.csv", "packed.csv", "book.xlsx", "missing.parquet"):
        lines = set()
        for argv in commands.values():
            assert main([*argv, "--csv", bad]) == 1
            captured = capsys.readouterr()
            lines.add(captured.err.strip())
        assert len(lines) == 1, lines
        (line,) = lines
        assert line.startswith(f"error: {bad}: ") and "\n" not in line


# -- formats: told by their first bytes, refused in one line --------------------------------

def _workbook(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
    return path


def test_excel_without_openpyxl_is_refused_naming_the_format_and_the_package(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader_module, "installed", lambda package: False)
    for name in ("book.xlsx", "book.csv"):  # told by its bytes, whatever its name
        with pytest.raises(datasets.DataFileError) as err:
            datasets.load("csv", path=_workbook(tmp_path / name), target="y")
        message = str(err.value)
        assert "Excel workbook" in message and "pip install openpyxl" in message
        assert "UTF-8" not in message and "\n" not in message


def test_excel_is_read_like_its_csv_where_openpyxl_is_installed(tmp_path: Path) -> None:
    pytest.importorskip("openpyxl", reason="reading .xlsx needs openpyxl, not in the "
                        "test extra; the refusal without it is tested above")
    package, relative, target, _ = TABLES["grunfeld"]
    source = package_file(package, relative)
    pd.read_csv(source).to_excel(tmp_path / "g.xlsx", index=False)
    from_excel = datasets.load("csv", path=tmp_path / "g.xlsx", target=target)
    from_csv = datasets.load("csv", path=source, target=target)
    np.testing.assert_array_equal(from_excel.X, from_csv.X)
    assert from_excel.table is not None and from_excel.table.lines is not None
    assert from_excel.table.lines[0] == 2  # Excel's row 1 is the header


def test_legacy_xls_names_xlrd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader_module, "installed", lambda package: False)
    path = tmp_path / "old.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))
    with pytest.raises(datasets.DataFileError, match="legacy Excel.*pip install xlrd"):
        datasets.read_table(path, lambda header: list(range(len(header))))


def test_a_zip_that_is_not_a_workbook_is_named(tmp_path: Path) -> None:
    path = tmp_path / "arrays.csv"
    np.savez(path.with_suffix(".npz"), X=np.zeros((2, 2)))
    path.write_bytes(path.with_suffix(".npz").read_bytes())
    with pytest.raises(datasets.DataFileError, match="a zip archive, not a table"):
        datasets.load("csv", path=path, target="y")


@pytest.mark.parametrize("body", [b"PAR1" + b"\n".join([b"garbage"] * 50), b"PAR1"])
def test_a_corrupt_parquet_file_is_one_line(body: bytes, tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(body)
    with pytest.raises(datasets.DataFileError) as err:
        datasets.load("csv", path=path, target="y")
    message = str(err.value)
    assert message.startswith(f"{path}: not readable as a Parquet file (") and "\n" not in message


def test_a_gzip_file_is_named(tmp_path: Path) -> None:
    import gzip

    path = tmp_path / "t.csv.gz"
    path.write_bytes(gzip.compress(b"a,y\n1,2\n3,4\n"))
    with pytest.raises(datasets.DataFileError, match="gzip-compressed; decompress it first"):
        datasets.load("csv", path=path, target="y")


def test_parquet_named_csv_is_read_as_parquet(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0] * 5, "y": [0, 1] * 10})
    frame.to_parquet(tmp_path / "data.csv")
    ds = datasets.load("csv", path=tmp_path / "data.csv", target="y")
    np.testing.assert_array_equal(ds.X[:, 0], frame["a"])


def test_predict_reads_parquet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    """predict --csv x.parquet said 'not a readable text file in UTF-8 or Windows-1252'."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60)})
    frame["y"] = 2 * frame["a"] - frame["b"]
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_parquet(tmp_path / "t.parquet")
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--csv", "t.csv", "--target", "y", *SMALL, "--out", "run"]) == 0
    capsys.readouterr()
    for name in ("t.csv", "t.parquet"):
        assert main(["predict", "run/model.safetensors", "--csv", name]) == 0
    _, from_csv, from_parquet = capsys.readouterr().out.split("y\n")  # two headers
    assert from_csv == from_parquet


# -- the training table: absolute path and fingerprint --------------------------------------

def test_changed_says_what_is_different(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,y\n1,2\n")
    record = fingerprint(path)
    assert record["size"] == 8 and len(record["sha256"]) == 64
    assert changed(record) is None
    path.write_text("a,y\n1,3\n")  # same size, other content
    assert "same size, different content" in str(changed(record))
    path.write_text("a,y\n1,30\n")
    assert "9 bytes; it had 8" in str(changed(record))
    path.unlink()
    assert changed(record) == "is no longer there"
    path.mkdir()
    assert changed(record) == "is no longer a regular file"


def test_a_record_naming_a_device_is_never_read() -> None:
    """A model file is untrusted: its record cannot make a command read /dev/zero (a hang)
    or any file whose size it does not state."""
    assert changed({"path": "/dev/zero", "size": 10, "sha256": "0" * 64}) == \
        "is no longer a regular file"
    empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"  # b""
    environ = {"path": "/proc/self/environ", "size": 0, "sha256": empty}
    assert Path("/proc/self/environ").stat().st_size == 0  # procfs: size 0, yet it holds text
    assert "different content" in str(changed(environ))
    assert changed({"path": "a\0b", "size": 1, "sha256": empty}) == \
        "is not a path a file can have"


def _small_table(path: Path, n: int = 80) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "a": rng.normal(size=n),
                          "b": rng.normal(size=n)})
    frame["y"] = 3 * frame["a"] - frame["b"] + 1500.0
    frame.to_csv(path, index=False)
    return frame


def test_a_changed_training_table_is_said_in_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "train").mkdir()
    _small_table(tmp_path / "train" / "t.csv")
    monkeypatch.chdir(tmp_path / "train")
    assert main(["train", "--csv", "t.csv", "--target", "y", *SMALL, "--out", "run"]) == 0
    monkeypatch.chdir(tmp_path)
    model = "train/run/model.safetensors"
    capsys.readouterr()
    assert main(["evaluate", model]) == 0
    with (tmp_path / "train" / "t.csv").open("a") as fh:
        fh.write("r999,0,0,1500\n")
    assert main(["evaluate", model]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "has changed since training" in err
    assert str(tmp_path / "train" / "t.csv") in err and "--csv PATH --target 'y'" in err
    (tmp_path / "train" / "t.csv").unlink()
    assert main(["evaluate", model]) == 1
    assert "is no longer there" in capsys.readouterr().err


def test_an_old_model_without_a_record_still_loads_and_asks_for_the_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A model saved before the record (relative csv path, no training.table) is read as
    before: its path is never opened, the user names the file."""
    from chainrule.io.model import save

    _small_table(tmp_path / "t.csv")
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--csv", "t.csv", "--target", "y", *SMALL, "--out", "run"]) == 0
    loaded = read_model("run/model.safetensors")
    training = {k: v for k, v in loaded.training.items() if k != "table"}
    save(loaded.net, "old.safetensors", training=training,
         feature_names=loaded.feature_names)
    capsys.readouterr()
    assert main(["evaluate", "old.safetensors"]) == 1
    assert "--csv PATH" in capsys.readouterr().err
    assert main(["evaluate", "old.safetensors", "--csv", "t.csv"]) == 0
    for fixture in ("table.safetensors", "digits.safetensors"):  # release 0.1.0 files
        assert "table" not in read_model(FIXTURES / fixture).training


def test_a_hostile_record_does_not_leak_a_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A model file whose training.table names /proc/self/environ (size 0, the empty
    digest) gets one line about the table, never the environment."""
    from chainrule.io.model import save

    model = _trained_small(tmp_path, monkeypatch)
    loaded = read_model(model)
    empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    training = {**loaded.training, "table": {"path": "/proc/self/environ", "size": 0,
                                             "sha256": empty}}
    save(loaded.net, "hostile.safetensors", training=training,
         feature_names=loaded.feature_names)
    monkeypatch.setenv("ONE_READER_SECRET", "s3cr3t-7f3a")
    capsys.readouterr()
    for command in ("evaluate", "explain", "graph"):
        assert main([command, "hostile.safetensors"]) == 1
        captured = capsys.readouterr()
        assert "s3cr3t" not in captured.out + captured.err
        assert "/proc/self/environ has changed since training" in captured.err


# -- predict: --keep, and the model's precision ---------------------------------------------

def _trained_small(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *flags: str) -> str:
    frame = _small_table(tmp_path / "t.csv")
    frame.loc[0, "id"] = "=HYPERLINK(\"http://x\")"
    frame.to_csv(tmp_path / "t.csv", index=False)
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--csv", "t.csv", "--target", "y", "--drop", "id", *SMALL,
                 *flags, "--out", "run"]) == 0
    return "run/model.safetensors"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_predictions_are_written_in_the_models_precision(
        dtype: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    model = _trained_small(tmp_path, monkeypatch, "--dtype", dtype)
    capsys.readouterr()
    assert main(["predict", model, "--csv", "t.csv"]) == 0
    cells = [row[0] for row in csv.reader(capsys.readouterr().out.splitlines()[1:])]
    net = read_model(model).net
    expected = net.predict(pd.read_csv("t.csv")[["id", "a", "b"]])[:, 0]
    assert expected.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(np.array(cells, dtype=np.float64).astype(dtype), expected)
    shortest = [str(np.float32(v)) if dtype == "float32" else repr(float(v)) for v in expected]
    assert cells == shortest  # 1508.2782, not 1508.2781982421875
    if dtype == "float32":
        assert max(len(c) for c in cells) <= 16


def test_predict_keep_carries_columns_and_keeps_text_safe(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    model = _trained_small(tmp_path, monkeypatch)
    capsys.readouterr()
    assert main(["predict", model, "--csv", "t.csv", "--keep", "id,a", "--keep", "id"]) == 0
    rows = list(csv.reader(capsys.readouterr().out.splitlines()))
    assert rows[0] == ["id", "a", "y"]
    assert rows[1][0] == "'=HYPERLINK(\"http://x\")"  # a spreadsheet shows it, never runs it
    assert rows[2][0] == "r1"
    assert float(rows[2][1]) == pd.read_csv("t.csv")["a"][1]


def test_predict_keep_writes_an_id_as_the_file_does(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A numeric-looking ID keeps its leading zeros and its spelling (007, 1e3, 2.50)."""
    model = _trained_small(tmp_path, monkeypatch)
    frame = pd.read_csv("t.csv")
    text = Path("t.csv").read_text().splitlines()
    codes = ["007", "1e3", "2.50", ""] + [str(i) for i in range(4, len(frame))]
    Path("ids.csv").write_text("\n".join(
        [f"zip,{text[0]}", *(f"{c},{line}" for c, line in zip(codes, text[1:], strict=True))])
        + "\n")
    capsys.readouterr()
    assert main(["predict", model, "--csv", "ids.csv", "--keep", "zip"]) == 0
    rows = list(csv.reader(capsys.readouterr().out.splitlines()))
    assert [r[0] for r in rows[1:6]] == ["007", "1e3", "2.50", "", "4"]


@pytest.mark.parametrize(("argv", "message"), [
    (["--csv", "t.csv", "--keep", "nope"], "no column 'nope' to keep (--keep)"),
    (["--csv", "t.csv", "--keep", "id,,a"], "--keep: expected column names"),
    (["--npy", "x.npy", "--keep", "id"], "--keep: names columns of a table; use it with --csv"),
])
def test_predict_keep_refusals_are_one_line(
        argv: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    model = _trained_small(tmp_path, monkeypatch)
    np.save("x.npy", np.zeros((2, 3)))
    capsys.readouterr()
    assert main(["predict", model, *argv]) != 0
    err = capsys.readouterr().err.strip()
    assert message in err and err.count("\n") == 0


# -- what info shows: the columns the loader dropped -----------------------------------------

def test_a_dropped_row_index_column_is_in_the_saved_encoder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """info said '0 dropped' where train had dropped R's row-name column."""
    framing = package_file("statsmodels", "stats/tests/results/framing.csv")
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--csv", str(framing), "--target", "cong_mesg", *SMALL,
                 "--out", "run"]) == 0
    encoder = read_model("run/model.safetensors").net.encoder
    assert encoder is not None and "row index" in encoder.dropped[""]
    assert "" not in encoder.inputs
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["predict", "run/model.safetensors", "--csv", str(framing),
                     "--out", "p.csv"]) == 0
    assert "ignored column(s) the model was not trained on: 'cong_mesg'\n" in err.getvalue()


# -- graph on an ensemble model (it crashed with an IndexError) -----------------------------

def test_graph_draws_one_member_of_an_ensemble(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    model = _trained_small(tmp_path, monkeypatch, "--ensemble", "3")
    capsys.readouterr()
    assert main(["graph", model, "--format", "dot"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("digraph") and "member 0 of an ensemble of 3" in captured.err
    assert main(["graph", model, "--member", "2", "--format", "dot"]) == 0
    assert "member 2 of an ensemble of 3" in capsys.readouterr().err
    assert main(["graph", model, "--member", "3"]) == 1
    assert "--member: expected a member in 0..2" in capsys.readouterr().err
