"""How ``load_csv`` reads a target (issue 10, item 2): integer quantities with many distinct
values are regression, blank / NA target cells drop their rows (counted), and the decision
is stated with the flag that overrides it.

Each test is the one that would have caught a bug users met: miles per gallon (27–40
distinct integers) trained as 27–40 classes at 14–43 % accuracy; a numeric target with blank
cells read as "text", then ``''`` trained as a class with labels sorted as strings.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chainrule import datasets
from chainrule.cli import main
from chainrule.io.errors import FileFormatError


def _csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text(header + "\n" + "".join(r + "\n" for r in rows))
    return path


def test_integer_quantity_with_many_values_is_regression(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    mpg = rng.integers(10, 45, 200)  # ~35 distinct integers
    data = _csv(tmp_path / "cars.csv", "weight,mpg",
                [f"{4000 - 60 * m + rng.normal():.2f},{m}" for m in mpg])
    ds = datasets.load("csv", path=data, target="mpg")
    assert ds.task == "regression" and ds.classes is None
    assert ds.notes == [f"target 'mpg': {np.unique(mpg).size} distinct integer values, so "
                        "regression (override with --task classification)"]
    forced = datasets.load("csv", path=data, target="mpg", task="classification")
    assert forced.task == "classification" and len(forced.classes) == np.unique(mpg).size


def test_few_integer_values_are_classes_and_the_decision_is_stated(tmp_path: Path) -> None:
    data = _csv(tmp_path / "k.csv", "x,k", [f"{i * 0.1},{i % 3}" for i in range(30)])
    ds = datasets.load("csv", path=data, target="k")
    assert ds.task == "classification" and ds.classes == [0, 1, 2]
    assert ds.notes[-1] == ("target 'k': 3 distinct integer values, so classification "
                            "(override with --task regression)")


@pytest.mark.parametrize("blank", ["", "NA", "?"])
def test_rows_with_a_missing_numeric_target_are_dropped_and_counted(tmp_path: Path,
                                                                   blank: str) -> None:
    rows = [f"{2 * i + 3},{i % 4},{'' if i % 5 == 0 else i * 1.5}" for i in range(40)]
    rows = [r if not r.endswith(",") else r + blank for r in rows]
    data = _csv(tmp_path / "t.csv", "a,b,temp", rows)
    ds = datasets.load("csv", path=data, target="temp")
    assert ds.task == "regression"
    kept = [i for i in range(40) if i % 5 != 0]
    np.testing.assert_array_equal(ds.y, [i * 1.5 for i in kept])
    np.testing.assert_array_equal(ds.X[:, 1], [i % 4 for i in kept])  # rows stay aligned
    assert "dropped 8 row(s) whose target 'temp' is empty or NA (first: row 2)" in ds.notes
    forced = datasets.load("csv", path=data, target="temp", task="classification")
    assert "" not in forced.classes and blank not in forced.classes
    assert forced.classes == sorted(forced.classes)  # numbers sorted as numbers


def test_missing_text_labels_are_dropped_not_a_class(tmp_path: Path) -> None:
    rows = [f"{i},{['cat', 'dog', ''][i % 3]}" for i in range(30)]
    ds = datasets.load("csv", path=_csv(tmp_path / "p.csv", "x,pet", rows), target="pet")
    assert ds.classes == ["cat", "dog"] and len(ds.y) == 20


def test_a_target_with_no_values_is_refused(tmp_path: Path) -> None:
    data = _csv(tmp_path / "e.csv", "x,y", [f"{i}," for i in range(5)])
    with pytest.raises(FileFormatError, match="every cell of the target column 'y' is empty"):
        datasets.load("csv", path=data, target="y")


def test_train_prints_the_decision_and_the_dropped_rows(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    rng = np.random.default_rng(1)
    rows = [f"{x:.3f},{'' if i % 10 == 3 else round(30 + 8 * x)}"
            for i, x in enumerate(rng.normal(size=150))]
    data = _csv(tmp_path / "r.csv", "x,temperature", rows)
    assert main(["train", "--csv", str(data), "--target", "temperature", "--epochs", "3",
                 "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "dropped 15 row(s) whose target 'temperature' is empty or NA" in out
    assert "so regression (override with --task classification)" in out
    assert "R²" in out and "baseline (the training mean)" in out


def test_many_text_labels_with_enough_rows_each_are_classes(tmp_path: Path) -> None:
    # vega_datasets' airports.csv: 56 states as the target were refused as "more than 50"
    states = [f"S{i:02d}" for i in range(56)]
    rows = [f"{i % 7},{states[i % 56]}" for i in range(56 * 12)]
    ds = datasets.load("csv", path=_csv(tmp_path / "s.csv", "x,state", rows), target="state")
    assert ds.task == "classification" and ds.classes == states


def test_a_text_target_that_looks_like_an_identifier_is_refused(tmp_path: Path) -> None:
    rows = [f"{i % 7},id{i}" for i in range(300)]  # 300 labels, one row each
    with pytest.raises(FileFormatError, match=r"300 distinct values in 300 rows.*--task"):
        datasets.load("csv", path=_csv(tmp_path / "ids.csv", "x,key", rows), target="key")
