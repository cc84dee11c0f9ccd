"""Issue 28, items 2, 3 and 8: what predict and evaluate write is never silently wrong.

A model whose parameters are finite but extreme gives nan/inf outputs: ``predict`` stops,
naming the rows (``--allow-nonfinite`` writes them, with an empty label) and no NumPy
warning reaches the user. Class labels and target names that start a spreadsheet formula
are escaped in every CSV cell (OWASP); numbers are not. Labels with newlines stay on one
line in the report; wide labels keep the confusion matrix's columns apart; a long list of
names is cut short. A slice of ``bench/hostile_output.py`` runs here.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import bench_script
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainrule.cli import main

bench = bench_script.load("hostile_output")
FORMULA_LABELS = bench.LABELS["formula"]


def _one_line_error(code: int, err: str) -> str:
    assert code == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bench.Base]:
    """Small models trained on hostile labels and target names, once for the module."""
    work = tmp_path_factory.mktemp("hostile")
    return {b.name: b for b in bench.train_bases(work, ["formula", "unicode", "numeric",
                                                       "target:0"])}


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


# -- item 3: no formula reaches a spreadsheet ------------------------------------------------

def test_formula_labels_are_escaped_in_predict_output(models: dict, tmp_path: Path) -> None:
    base = models["formula"]
    out = tmp_path / "p.csv"
    assert main(["predict", str(base.model), "--csv", str(base.data), "--out", str(out)]) == 0
    rows = _rows(out.read_text("utf-8"))
    labels = {row[0] for row in rows[1:]}  # the reader strips the tab of "\tTAB=1"
    assert len(labels) >= 3 and labels <= {"'" + s for s in FORMULA_LABELS[:4]} | {"TAB=1"}
    assert bench.csv_findings(out.read_text("utf-8")) == set()


def test_regression_target_name_in_the_header_is_escaped(
        models: dict, capsys: pytest.CaptureFixture[str]) -> None:
    base = models["target:0"]  # the target column is named =SUM(A1)
    assert main(["predict", str(base.model), "--csv", str(base.data)]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0] == "\"'=SUM(A1)\""
    assert all(float(row[0]) == float(row[0]) for row in _rows(text)[1:])  # numbers intact
    assert bench.csv_findings(text) == set()


def test_numeric_labels_and_negative_numbers_are_not_mangled(
        models: dict, capsys: pytest.CaptureFixture[str]) -> None:
    base = models["numeric"]  # classes -1 and 1
    assert main(["predict", str(base.model), "--csv", str(base.data)]) == 0
    rows = _rows(capsys.readouterr().out)
    assert {row[0] for row in rows[1:]} <= {"-1", "1"}
    assert rows[0] == ["label", "prob_-1", "prob_1"]


@pytest.mark.parametrize("value, written", [
    ("=1+2", "\"'=1+2\""), ("+cmd|' /C calc'!A0", "\"'+cmd|' /C calc'!A0\""),
    ("-cmd", "\"'-cmd\""), ("@SUM(A1)", "\"'@SUM(A1)\""), ("\tx", "\"'\tx\""),
    ("\rx", "\"'\rx\""), ('=HYPERLINK("a")', "\"'=HYPERLINK(\"\"a\"\")\""),
    ("-1.5", "-1.5"), ("+3", "+3"), ("-2e-3", "-2e-3"), (-1.5, "-1.5"), (-3, "-3"),
    (np.float32(-0.5), "-0.5"), (float("-inf"), "-inf"), ("cat", "cat"), ("a,b", '"a,b"'),
    ("", ""), (True, "True"),
])
def test_csv_field_escapes_text_not_numbers(value: object, written: str) -> None:
    from chainrule.io.safetext import csv_field

    assert csv_field(value) == written


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=12), min_size=1, max_size=4))
def test_csv_line_reads_back_and_never_starts_a_formula(cells: list[str]) -> None:
    from chainrule.io.safetext import FORMULA_PREFIXES, csv_line

    (row,) = _rows(csv_line(cells))
    for original, cell in zip(cells, row, strict=True):
        assert not cell.startswith(FORMULA_PREFIXES) or bench._is_number(cell)
        assert cell == original or (cell == "'" + original and
                                    original.startswith(FORMULA_PREFIXES))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="\r=+-@\t"), max_size=8),
                min_size=2, max_size=4))
def test_csv_line_writes_ordinary_text_as_the_csv_module_does(cells: list[str]) -> None:
    from chainrule.io.safetext import csv_line

    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    assert csv_line(cells) == buf.getvalue()


# -- item 2: no nan with exit 0 --------------------------------------------------------------

EXTREME = [{"scaler.scale": 1e-320}, {"scaler.mean": 1e308}, {".w": 3e38}]


@pytest.mark.parametrize("changes", EXTREME, ids=["scale 1e-320", "mean 1e308", "w 3e38"])
def test_predict_refuses_nonfinite_predictions_naming_the_rows(
        models: dict, tmp_path: Path, changes: dict, capsys: pytest.CaptureFixture[str]) -> None:
    base = models["formula"]
    model = tmp_path / "m.safetensors"
    bench.mutate(base.model, model, changes)
    out = tmp_path / "p.csv"
    line = _one_line_error(main(["predict", str(model), "--csv", str(base.data),
                                 "--out", str(out)]), capsys.readouterr().err.replace(
        f"{base.data}: ignored column(s) the model was not trained on: 'y'\n", ""))
    assert re.search(r"\d+ of 120 predictions are not finite \(nan or inf\), data rows "
                     r"\d+, \d+, ", line)
    assert "more; the model's parameters or these inputs overflow" in line
    assert "--allow-nonfinite" in line
    assert "Warning" not in line and not out.exists()


def test_allow_nonfinite_writes_them_with_an_empty_label(
        models: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = models["formula"]
    model = tmp_path / "m.safetensors"
    bench.mutate(base.model, model, {"scaler.scale": 1e-320})
    assert main(["predict", str(model), "--csv", str(base.data), "--allow-nonfinite"]) == 0
    captured = capsys.readouterr()
    rows = _rows(captured.out)
    assert len(rows) == 121 and all(row[0] == "" and row[1] == "nan" for row in rows[1:])
    assert "120 of 120 predictions are not finite, written as they are with an empty label" \
        in captured.err and "Warning" not in captured.err


def test_evaluate_refuses_nonfinite_regression_outputs(
        models: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = models["target:0"]
    model = tmp_path / "m.safetensors"
    bench.mutate(base.model, model, {".w": 3e38})
    code = main(["evaluate", str(model), "--csv", str(base.data), "--target", base.target])
    err = capsys.readouterr().err
    assert code == 1 and "predictions are not finite (nan or inf)" in err


def test_evaluate_refuses_nonfinite_classification_outputs(
        models: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = models["formula"]
    model = tmp_path / "m.safetensors"
    bench.mutate(base.model, model, {"scaler.scale": 1e-320})
    code = main(["evaluate", str(model), "--csv", str(base.data), "--target", base.target])
    err = capsys.readouterr().err
    assert code == 1 and "not finite" in err and "Warning" not in err


def test_metrics_refuse_nonfinite_predictions() -> None:
    from chainrule.health.report import (
        NonFiniteOutputError,
        check_finite_outputs,
        regression_metrics,
    )

    with pytest.raises(NonFiniteOutputError, match=r"y_pred: 1 of 3 predictions are not "
                       r"finite \(nan or inf\), rows 1;"):
        regression_metrics([1.0, 2.0, 3.0], [1.0, np.inf, 3.0])
    A = np.full((40, 2), np.nan)
    with pytest.raises(NonFiniteOutputError, match=r"x.csv: 40 of 40 predictions .* data rows "
                       r"1, 2, 3, 4, 5, … and 35 more;"):
        check_finite_outputs(A, "x.csv", rows="data rows", first=1)
    check_finite_outputs(np.ones((3, 2)), "fine")


# -- item 8: one line, a table that keeps its shape, short lists ----------------------------

def test_confusion_matrix_columns_never_run_together() -> None:
    from chainrule.health.report import classification_metrics, format_report

    text = format_report(classification_metrics([0, 1, 1], [0, 1, 0], ["private", "sunshine"]))
    assert "privatesunshine" not in text
    assert not bench.table_broken(text, 2)
    assert text.splitlines()[-3].split() == ["private", "sunshine"]


def test_report_labels_stay_on_one_line_and_are_cut_when_long() -> None:
    from chainrule.health.report import classification_metrics, format_report

    classes = ["line\nbreak", "x" * 500, "日本語のラベル", "\u202eevil"]
    text = format_report(classification_metrics([0, 1, 2, 3], [0, 1, 2, 2], classes,
                                                y_train=[0, 0, 1]))
    assert "line\\nbreak" in text and "line\nbreak" not in text
    assert "x" * 500 not in text and "x" * 31 + "…" in text
    assert "\u202e" not in text and "\\u202e" in text
    assert not bench.table_broken(text, 4)
    assert max(len(ln) for ln in text.splitlines()) < 300
    assert "baseline (always line\\nbreak)" in text


def test_short_labels_keep_the_report_unchanged() -> None:
    from chainrule.health.report import classification_metrics, format_report

    text = format_report(classification_metrics([0, 1, 1, 2], [0, 1, 2, 2], ["x", "y", "z"]))
    assert text.splitlines()[-4:] == ["           x    y    z", "    x      1    0    0",
                                      "    y      0    1    1", "    z      0    0    1"]


def test_quoted_shown_and_name_list_keep_a_message_to_one_short_line() -> None:
    from chainrule.io.safetext import name_list, quoted, shown

    assert quoted("a\nb") == "'a\\nb'"
    assert quoted("z" * 500) == f"'{'z' * 40}'… (500 characters)"
    assert shown("a\tb") == "a\\tb" and shown("q" * 40, 10) == "q" * 9 + "…"
    assert name_list([f"c{i}" for i in range(20000)], limit=3) == \
        "'c0', 'c1', 'c2', … and 19997 more"
    assert name_list(["a", "b"]) == "'a', 'b'"


def test_predict_with_many_extra_columns_prints_a_short_note(
        models: dict, tmp_path: Path) -> None:
    (finding,) = [f for case, _, f in bench.extra_cases(models["formula"], tmp_path, 20_000)
                  if case == "extra columns"]
    assert finding == set()


def test_an_unknown_label_error_stays_on_one_line(models: dict, tmp_path: Path) -> None:
    found = dict(((case, cmd), f) for case, cmd, f in
                 bench.extra_cases(models["unicode"], tmp_path, 1))
    assert found[("unknown newline label", "evaluate")] == set()


# -- the campaign's slice -------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["formula", "unicode"])
def test_campaign_slice_predict_is_clean(models: dict, tmp_path: Path, kind: str) -> None:
    findings = {(case, command): found for case, command, found in
                bench.cases(models[kind], tmp_path) if command.startswith("predict")}
    assert len(findings) == 2 * len(bench.MUTATIONS)
    assert {k: v for k, v in findings.items() if v} == {}


def test_multi_label_predict_lists_the_classes_escaped(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import chainrule

    net = chainrule.MLP([2, 4, 3], loss="binary_cross_entropy", output="sigmoid", seed=0)
    net.classes = ["=b", "a", "c"]
    chainrule.save(net, tmp_path / "m.safetensors")
    X = np.random.default_rng(0).normal(size=(20, 2))
    np.save(tmp_path / "x.npy", X)
    assert main(["predict", str(tmp_path / "m.safetensors"), "--npy",
                 str(tmp_path / "x.npy")]) == 0  # was: only integer scalar arrays … index
    rows = _rows(capsys.readouterr().out)
    on = np.asarray(net.predict(X)) >= 0.5
    expected = [";".join(c for c, f in zip(net.classes, row, strict=True) if f) for row in on]
    assert [r[0] for r in rows[1:]] == [("'" + e if e.startswith("=") else e) for e in expected]
    assert bench.csv_findings("\n".join(",".join(r) for r in rows)) == set()
