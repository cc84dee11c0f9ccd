"""Hostile tables (issue 28, items 4 and 8): numbers too large for the network's dtype in
every notation the readers accept, UTF-16/UTF-32 files, NUL bytes, line breaks in names
and labels — each refused with one line naming the file, row and column (or read
correctly), never a NumPy warning or an ``inf`` the file does not hold. The campaign is
``bench/hostile_tables.py``; the last test here runs a slice of it with Hypothesis."""

from __future__ import annotations

import codecs
import warnings
from pathlib import Path

import bench_script
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainrule.cli import main
from chainrule.datasets import DataFileError, load_csv
from chainrule.table import TableEncoder, TableError


def _bench():
    return bench_script.load("hostile_tables")


def _table(cell: str = "0.5", *, target: str | None = None, sep: str = ",") -> str:
    """Forty rows of a, b, y (classes, or ``target`` values); ``cell`` is column a of the
    sixth row as a text editor counts (the header is row 1)."""
    rows = ["a,b,y".replace(",", sep)]
    for i in range(40):
        y = target if (target is not None and i == 4) else (
            f"{i * 0.37:.2f}" if target is not None else ("yes" if i % 2 else "no"))
        a = cell if i == 4 else f"{np.sin(i):.3f}"
        rows.append(sep.join([a, f"{np.cos(i):.3f}", y]))
    return "\n".join(rows) + "\n"


def _write(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _train(path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rc = main(["train", "--csv", str(path), "--target", "y", "--epochs", "2", "--quiet",
                   "--out", str(path.parent / "run"), *args])
    return rc, capsys.readouterr().err


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and lines[0].isprintable(), lines[0]
    assert "Warning" not in lines[0] and "NaN or inf" not in lines[0]
    return lines[0]


# -- item 4: numbers too large for the dtype ------------------------------------------------
@pytest.mark.parametrize("cell", ["1e200", '"$' + "9" * 60 + '"', '"1,' + ",".join(["000"] * 15)
                                  + '"', "-1e39", '"' + "9" * 50 + '%"'])
def test_cli_names_the_cell_too_large_for_float32(cell, tmp_path, capsys) -> None:
    rc, err = _train(_write(tmp_path, _table(cell)), capsys)
    line = _one_line(err)
    assert rc == 1
    assert "data.csv: row 6, column 'a'" in line
    assert "too large for float32" in line and "--dtype float64" in line


@pytest.mark.parametrize("cell", ["1e400", "1.7e308", '"$' + "9" * 400 + '"',
                                  '"' + "9" * 400 + '%"'])
def test_cli_names_the_cell_beyond_float64(cell, tmp_path, capsys) -> None:
    rc, err = _train(_write(tmp_path, _table(cell)), capsys, "--dtype", "float64")
    line = _one_line(err)
    assert rc == 1 and "row 6" in line and "'a'" in line and "too large" in line
    assert "'inf'" not in line  # the file holds no inf


def test_decimal_comma_overflow_is_named(tmp_path, capsys) -> None:
    rc, err = _train(_write(tmp_path, _table("1,5e200", sep=";")), capsys)
    assert rc == 1 and "row 6, column 'a'" in _one_line(err)


def test_regression_target_too_large_is_named(tmp_path, capsys) -> None:
    rc, err = _train(_write(tmp_path, _table(target="1e200")), capsys)
    line = _one_line(err)
    assert rc == 1 and "row 6, column 'y' (the target)" in line and "float32" in line


def test_variance_overflow_trains_in_float64(tmp_path, capsys) -> None:
    text = "a,b,y\n" + "".join(f"{(-1) ** i * (1 + i / 10)}e300,{i % 3},{'ny'[i % 2]}\n"
                               for i in range(40))
    rc, err = _train(_write(tmp_path, text), capsys, "--dtype", "float64")
    assert rc == 0, err
    assert "scaler" not in err


def test_library_encoder_names_column_and_row(tmp_path) -> None:
    ds = load_csv(_write(tmp_path, _table("1e200")), "y")
    enc = TableEncoder().fit(ds.table)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(TableError, match=r"data\.csv: row 6, column 'a': '1e\+200' is "
                                             "too large for float32"):
            enc.transform(ds.table, np.float32)
        assert np.isfinite(enc.transform(ds.table, np.float64)).all()


@pytest.mark.parametrize("values", [
    [*np.linspace(-1, 1, 39), 1e200],
    [*range(39), 10 ** 400],
    [*(str(i) for i in range(39)), "$" + "9" * 60],
])
def test_dict_of_columns_names_column_and_row(values) -> None:
    data = {"a": values, "b": [f"c{i % 3}" for i in range(40)]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(TableError, match=r"row index 39, column 'a'"):
            TableEncoder().fit_transform(data, np.float32)


def test_dataframe_variance_overflow_is_standardized() -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": [(-1) ** i * 1e300 * (1 + i / 10) for i in range(40)],
                          "b": [f"c{i % 3}" for i in range(40)]})
    enc = TableEncoder().fit(frame)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        X = enc.transform(frame, np.float64)
        scaler = enc.standardizer(X)
        Z = scaler.transform(X)
    assert np.isfinite(scaler.mean).all() and np.isfinite(scaler.scale).all()
    assert np.isfinite(Z).all() and abs(float(Z[:, 0].std()) - 1.0) < 1e-9


# -- item 8: encodings, NUL bytes, line breaks ----------------------------------------------
@pytest.mark.parametrize("encoding, bom", [
    ("utf-16-le", codecs.BOM_UTF16_LE), ("utf-16-be", codecs.BOM_UTF16_BE),
    ("utf-16-le", b""), ("utf-16-be", b""), ("utf-32-le", codecs.BOM_UTF32_LE),
    ("utf-32-be", codecs.BOM_UTF32_BE), ("utf-32-le", b""), ("utf-8", codecs.BOM_UTF8),
])
def test_unicode_encodings_are_read(encoding, bom, tmp_path) -> None:
    text = _table().replace("yes", "sí")
    plain = load_csv(_write(tmp_path, text, "plain.csv"), "y")
    path = tmp_path / "wide.csv"
    path.write_bytes(bom + text.encode(encoding))
    wide = load_csv(path, "y")
    assert wide.feature_names == plain.feature_names == ["a", "b"]
    assert wide.classes == plain.classes == ["no", "sí"]
    np.testing.assert_array_equal(wide.X, plain.X)


def test_utf16_message_has_no_nul_bytes(tmp_path, capsys) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(_table().replace("a,b,y", "a,b,z").encode("utf-16"))
    rc, err = _train(path, capsys)
    line = _one_line(err)
    assert rc == 1 and "no column 'y'" in line and "the columns are a, b, z" in line


@pytest.mark.parametrize("where", [10, 5000])
def test_nul_byte_is_refused_naming_the_row(where, tmp_path) -> None:
    text = _table() * (1 if where < 4096 else 3)
    raw = text.encode()
    line = raw[:where].count(b"\n") + 1
    path = tmp_path / "data.csv"
    path.write_bytes(raw[:where] + b"\0" + raw[where:])
    with pytest.raises(DataFileError, match=rf"data\.csv: row {line}: holds a NUL byte") as err:
        load_csv(path, "y")
    assert str(err.value).isprintable()


def test_line_breaks_in_names_are_escaped(tmp_path, capsys) -> None:
    text = _table().replace("a,b,y", 'a,"b\nc\x1b[31m",z', 1)
    rc, err = _train(_write(tmp_path, text), capsys)
    line = _one_line(err)
    assert rc == 1 and r"'b\nc\x1b[31m'" in line


def test_one_class_label_with_line_break_is_one_line(tmp_path, capsys) -> None:
    text = "a,b,y\n" + "".join(f"{i},{i % 3},\"only\nclass\"\n" for i in range(20))
    rc, err = _train(_write(tmp_path, text), capsys, "--task", "classification")
    line = _one_line(err)
    assert rc == 1 and r"'only\nclass'" in line


def test_long_header_is_cut_in_the_message(tmp_path, capsys) -> None:
    header = ",".join(f"c{i}" for i in range(5000))
    rc, err = _train(_write(tmp_path, header + "\n" + ",".join(["1"] * 5000) + "\n"), capsys)
    line = _one_line(err)
    assert rc == 1 and "and 4980 more" in line and len(line) < 1000


# -- the campaign's cases, through the library ------------------------------------------
_CASES = [c for c in _bench().all_cases() if not c.name.startswith("a 10 MB")]


@pytest.mark.parametrize("case", _CASES, ids=[c.name for c in _CASES])
def test_campaign_case_is_clean_in_the_library(case, tmp_path) -> None:
    bench = _bench()
    path = bench.write_case(case, tmp_path / "case")
    assert bench.library_outcome(case, path) is None, case.name


@settings(max_examples=15, deadline=None, derandomize=True)
@given(notation=st.sampled_from(["{d}e{e}", "${d}{z}", "{d}{z}%", "-{d}{z}", "1{g}"]),
       digits=st.integers(1, 9), exp=st.integers(39, 400), row=st.integers(1, 39))
def test_any_overflowing_notation_is_named(notation, digits, exp, row, tmp_path_factory
                                           ) -> None:
    cell = notation.format(d=digits, e=exp, z="0" * exp, g=",000" * (exp // 3))
    lines = _table().splitlines()
    parts = lines[row].split(",")
    parts[1] = f'"{cell}"'
    lines[row] = ",".join(parts)
    path = tmp_path_factory.mktemp("fmt") / "data.csv"
    path.write_text("\n".join(lines) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises((DataFileError, TableError)) as err:
            ds = load_csv(path, "y")
            TableEncoder().fit(ds.table).transform(ds.table, np.float32)
    message = str(err.value)
    assert message.isprintable() and "data.csv" in message
    assert f"row {row + 1}" in message and "'b'" in message


# -- Parquet, and an encoder fitted in float64 -------------------------------------------
@pytest.mark.parametrize("command", ["train", "predict"])
def test_parquet_number_past_the_range_is_named(command, tmp_path, capsys) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    clean = _write(tmp_path, _table(), "clean.csv")
    frame = pd.read_csv(clean)
    frame.loc[4, "a"] = 1.7e308
    path = tmp_path / "data.parquet"
    frame.to_parquet(path)
    if command == "train":
        rc, err = _train(path, capsys)
    else:
        assert main(["train", "--csv", str(clean), "--target", "y", "--epochs", "1",
                     "--quiet", "--out", str(tmp_path / "m")]) == 0
        capsys.readouterr()
        rc = main(["predict", str(tmp_path / "m" / "model.safetensors"), "--csv", str(path),
                   "--out", str(tmp_path / "p.csv")])
        err = capsys.readouterr().err
    line = _one_line(err.split("\n", 1)[-1] if command == "predict" else err)
    assert rc == 1 and "data.parquet: row 5, column 1 ('a')" in line and "too large" in line


def test_median_too_large_for_float32_is_named() -> None:
    enc = TableEncoder().fit({"a": [1e200 * (1 + i % 3) for i in range(8)], "b": list(range(8))})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(TableError, match="column 'a': its fitted median 2e\\+200 is too "
                                             "large for float32"):
            enc.transform({"a": [None, None], "b": [1, 2]}, np.float32)


def test_numeric_matrix_names_a_number_too_large_for_the_model(tmp_path) -> None:
    from chainrule.datasets import tabular

    path = _write(tmp_path, _table("1e200"))
    table = tabular.read_features_table(path, ["a", "b"])
    assert tabular.numeric_matrix(table, path)[4, 0] == 1e200  # float64: accepted
    with pytest.raises(DataFileError, match=r"data\.csv: row 6, column 'a': '1e\+200' is too "
                                            "large for float32"):
        tabular.numeric_matrix(table, path, np.float32)


@pytest.mark.skipif(np.finfo(np.longdouble).max <= np.finfo(np.float64).max,
                    reason="long double is float64 here")
def test_long_double_past_float64_is_named_not_inf() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(TableError, match=r"row index 1, column 'a': '1e\+4000' is too "
                                             "large for a float64 number"):
            TableEncoder().fit({"a": np.array([1, np.longdouble("1e4000"), 3],
                                              dtype=np.longdouble), "b": [1, 2, 3]})
