"""A fast smoke test of bench/real_tables.py's harness on a tiny table: the folds, the
features every library contender gets, the cache (a rerun computes nothing), the report."""

from __future__ import annotations

import json
from pathlib import Path

import bench_script
import numpy as np
import pytest

real_tables = bench_script.load("real_tables")
catalogue = real_tables.catalogue
contenders = real_tables.contenders


def _tiny(tmp_path: Path, task: str = "classification") -> object:
    """60 rows with an R row-name column, a text category, an ISO date, an identifier and a
    missing target in row 7; the label is 'yes' when x > 0."""
    rng = np.random.default_rng(0)
    lines = ['"","x","colour","day","code","y"']
    for i in range(60):
        x = rng.normal()
        y = "" if i == 7 else ("yes" if x > 0 else "no") if task == "classification" else (
            f"{2 * x + 1:.4f}")
        lines.append(f'"{i + 1}",{x:.4f},{["red", "blue", "green"][i % 3]},'
                     f"2020-01-{i % 28 + 1:02d},id{i},{y}")
    path = tmp_path / "tiny.csv"
    path.write_text("\n".join(lines) + "\n")
    table = catalogue.Table("tiny", "file", str(path), "y", task, "a test")
    return table


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> object:
    monkeypatch.setattr(catalogue.Table, "file", lambda self: Path(self.path))
    return _tiny(tmp_path)


def test_folds_cover_every_row_with_a_target_once(tiny: object) -> None:
    data = catalogue.read(tiny)
    assert len(data.frame) == 59  # the row with an empty target is left out
    tests = np.concatenate([test for _, test in data.folds])
    assert sorted(tests.tolist()) == list(range(59))
    for train, test in data.folds:
        assert not set(train) & set(test)
    again = catalogue.read(tiny)  # the same folds every time, for every contender
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(data.folds, again.folds, strict=True))


def test_fold_csv_keeps_the_file_own_lines(tiny: object, tmp_path: Path) -> None:
    data = catalogue.read(tiny)
    train, _ = data.folds[0]
    out = tmp_path / "train.csv"
    data.write_rows(train, out)
    written = out.read_text().splitlines()
    original = Path(tiny.path).read_text().splitlines()
    assert written[0] == original[0]
    assert set(written[1:]) <= set(original[1:])
    assert len(written) == len(train) + 1


def test_features_drop_row_names_and_identifiers_and_split_dates(tiny: object) -> None:
    X, dropped = catalogue.features(catalogue.read(tiny))
    assert dropped == {"Unnamed: 0": "R row names",
                       "code": "text, a distinct value in more than half the rows"}
    assert str(X["colour"].dtype) == "category"
    assert {"day.day", "day.weekday"} <= set(X.columns)
    assert "day.month" not in X.columns  # every day is in January: a constant part
    assert "y" not in X.columns


def test_labels_compare_as_numbers_or_text() -> None:
    assert catalogue.label("1") == catalogue.label(1.0) == catalogue.label(" 1.0 ")
    assert catalogue.label("yes") != catalogue.label("no")


def test_rerun_computes_nothing_and_reports(tiny: object, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(real_tables, "TABLES", [tiny])
    monkeypatch.setattr(real_tables, "RESULTS", tmp_path)
    monkeypatch.setattr(real_tables, "CACHE", tmp_path / "real_tables.json")
    monkeypatch.setattr(real_tables, "LOCK", tmp_path / "lock")
    argv = ["--only", "tiny", "--contenders", "lightgbm,hgb", "--folds", "2"]
    assert real_tables.main(argv) == 0
    cache = json.loads((tmp_path / "real_tables.json").read_text())["results"]
    assert len(cache) == 4  # 2 contenders x 2 folds
    assert all(0.5 < r["score"] <= 1.0 and not r["error"] for r in cache.values())

    def no_compute(*args: object) -> None:
        raise AssertionError("a cached result was computed again")

    monkeypatch.setattr(real_tables, "run_one", no_compute)
    assert real_tables.main(argv) == 0
    text = (tmp_path / "real_tables-partial.md").read_text()
    assert "| tiny | 59 × 6 | accuracy |" in text
    assert "mean gap of lightgbm to the per-table best" in text


def test_a_failing_contender_is_a_result_not_a_crash(tiny: object) -> None:
    data = catalogue.read(tiny)
    outcome = real_tables.run_one(data, 0, "lightgbm", [], None)  # no features: it fails
    assert np.isnan(outcome.score) and outcome.error


def test_chainrule_default_on_one_fold(tiny: object) -> None:
    """The real thing: a fresh `chainrule train` process on fold 0, scored by `predict`."""
    data = catalogue.read(tiny)
    outcome = contenders.run_chainrule(data, 0, ["--epochs", "3"])
    assert outcome.error == ""
    assert 0.0 <= outcome.score <= 1.0 and outcome.seconds > 0


def test_ensemble_cost_report_names_ratios_bars_and_missing_flags() -> None:
    cost = bench_script.load("ensemble_cost")
    result = {"table": "fair", "epochs": 20, "rounds": 5,
              "fastest": {"one": 2.0, "ensemble": 7.0}, "ratios": {"ensemble": 3.5},
              "fastest_fit": {"one": 1.0, "ensemble": 4.0}, "fit_ratios": {"ensemble": 4.0},
              "fastest_cpu": {"one": 1.5, "ensemble": 4.2}, "cpu_ratios": {"ensemble": 2.8},
              "fastest_fit_cpu": {"one": 0.5, "ensemble": 2.5},
              "fit_cpu_ratios": {"ensemble": 5.0}, "missing": ["cv"], "errors": {}}
    jobs = [{"table": "a", "rows": 10, "columns": 3, "seconds": 61.0, "exit": 0, "error": ""},
            {"table": "b", "rows": 10, "columns": 3, "seconds": 2.0, "exit": 0, "error": ""}]
    text = cost.markdown([result], jobs)
    assert ("| ensemble | `--ensemble 8 --cv 0` | 7.00 | 3.50 | 4.00 | 4.00 | 4.20 | 2.80 "
            "| 2.50 | 5.00 | ≤ 3.0: met, **not met** |") in text
    assert "| cv | `--cv 5` | not measured" in text
    assert "OPENBLAS_NUM_THREADS=1" in text  # the same threads for every contender
    assert "over the bar or failed: a." in text
