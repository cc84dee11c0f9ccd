"""`chainrule train --csv F --target T` with no other flags on tables shipped inside PyPI
packages (files nobody on this project wrote), end to end. The full comparison with a
scikit-learn pipeline over 15 tables is bench/real_tables.py (docs/data.md)."""

from __future__ import annotations

import csv
import importlib.util
import json
from collections import Counter
from pathlib import Path

import pytest

from chainrule.cli import main


def _package_file(package: str, relative: str) -> Path:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.origin, f"{package} is in the test extra"
    path = Path(spec.origin).parent / relative
    assert path.is_file(), path
    return path


def _train(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, csv_file: Path,
           target: str) -> dict[str, float]:
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--csv", str(csv_file), "--target", target]) == 0
    (run,) = tmp_path.glob("runs/*/metrics.json")
    return json.loads(run.read_text())["test"]


def test_r_row_names_are_dropped_and_an_integer_count_is_regression(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    epil = _package_file("statsmodels", "genmod/tests/results/epil.csv")
    metrics = _train(tmp_path, monkeypatch, epil, "y")
    out = capsys.readouterr().out
    assert "dropped column 1 (''): an unnamed column is a row index" in out
    assert "so regression" in out
    assert metrics["task"] == "regression"
    assert metrics["r2"] > 0.5  # the training-mean baseline scores about 0


def test_a_text_target_with_dates_and_numbers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    weather = _package_file("vega_datasets", "_data/seattle-weather.csv")
    with weather.open(newline="") as f:
        labels = Counter(row["weather"] for row in csv.DictReader(f))
    majority = max(labels.values()) / sum(labels.values())
    metrics = _train(tmp_path, monkeypatch, weather, "weather")
    out = capsys.readouterr().out
    assert "column 'date'" in out  # parsed into numeric parts, and said so
    assert metrics["task"] == "classification"
    assert metrics["accuracy"] > majority + 0.15


def test_a_text_category_among_numbers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    grunfeld = _package_file("statsmodels", "datasets/grunfeld/grunfeld.csv")
    metrics = _train(tmp_path, monkeypatch, grunfeld, "invest")
    out = capsys.readouterr().out
    assert "14 features" in out  # value, capital, year and the firm one-hot (11 firms)
    assert metrics["r2"] > 0.8
