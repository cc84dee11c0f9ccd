"""Commands on a saved model match CSV columns by name (issue 10): a reordered copy of the
file gives the same output, an extra column is ignored and named, a missing one is refused
naming it; a row-index column (R's ``""``, pandas' ``Unnamed: 0``, a 1, 2, 3 … counter)
never becomes a feature, so a file sorted by its label cannot leak it.

Each of these would have caught the bug it names: ``evaluate``/``explain`` read features by
position (0.438 accuracy on a reordered file instead of 0.994, exit 0), and an index column
on a sorted titanic table gave 0.989 "accuracy" against 0.80 honestly.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

import chainrule
from chainrule import datasets
from chainrule.cli import main

COLUMNS = ["u", "v", "w", "kind"]


def _write(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _table(seed: int = 3) -> list[list[object]]:
    """u and v separate the classes, w is noise on another scale: a model that reads the
    columns in the wrong order scores near chance."""
    X, y = datasets.make("gaussians", 240, 0.0, seed=seed)
    w = np.random.default_rng(seed).normal(50.0, 20.0, len(X))
    return [[repr(float(a)), repr(float(b)), repr(float(c)), ["north", "south"][k]]
            for (a, b), c, k in zip(X, w, y, strict=True)]


def _reorder(rows: list[list[object]], header: list[str], order: list[str]
             ) -> list[list[object]]:
    index = [header.index(name) for name in order]
    return [[row[i] for i in index] for row in rows]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[list[object]]]:
    tmp = tmp_path_factory.mktemp("byname")
    rows = _table()
    data = _write(tmp / "data.csv", COLUMNS, rows)
    assert main(["train", "--csv", str(data), "--target", "kind", "--epochs", "15",
                 "--quiet", "--out", str(tmp / "run")]) == 0
    return tmp / "run" / "model.safetensors", data, rows


def _evaluate(model: Path, data: Path, out: Path) -> dict[str, object]:
    assert main(["evaluate", str(model), "--csv", str(data), "--target", "kind",
                 "--json", str(out)]) == 0
    return json.loads(out.read_text())


def test_evaluate_reordered_file_gives_identical_metrics(trained, tmp_path: Path) -> None:
    model, data, rows = trained
    order = ["kind", "w", "v", "u"]
    shuffled = _write(tmp_path / "shuffled.csv", order, _reorder(rows, COLUMNS, order))
    original = _evaluate(model, data, tmp_path / "a.json")
    reordered = _evaluate(model, shuffled, tmp_path / "b.json")
    assert original == reordered
    assert original["accuracy"] > 0.9


def test_explain_and_diagnose_reordered_file_identical(trained, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    model, data, rows = trained
    order = ["w", "kind", "u", "v"]
    shuffled = _write(tmp_path / "shuffled.csv", order, _reorder(rows, COLUMNS, order))
    outputs = []
    for path in (data, shuffled):
        capsys.readouterr()
        assert main(["explain", str(model), "--csv", str(path), "--target", "kind",
                     "--sample", "7"]) == 0
        assert main(["diagnose", str(model), "--csv", str(path), "--target", "kind"]) == 0
        outputs.append(capsys.readouterr().out.replace(path.stem, "FILE"))
    assert outputs[0] == outputs[1]
    assert "∂C" in outputs[0]


def test_extra_column_is_ignored_and_named(trained, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    model, data, rows = trained
    extra = _write(tmp_path / "extra.csv", ["note", *COLUMNS],
                   [[str(i * 7 % 5), *row] for i, row in enumerate(rows)])
    original = _evaluate(model, data, tmp_path / "a.json")
    capsys.readouterr()
    with_extra = _evaluate(model, extra, tmp_path / "b.json")
    assert with_extra == original
    assert "ignored column(s) the model was not trained on: 'note'" in capsys.readouterr().err


def test_missing_column_is_refused_naming_it(trained, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    model, _, rows = trained
    short = _write(tmp_path / "short.csv", ["u", "w", "kind"],
                   [[r[0], r[2], r[3]] for r in rows])
    for command in (["evaluate"], ["explain"], ["diagnose"]):
        capsys.readouterr()
        assert main([*command, str(model), "--csv", str(short), "--target", "kind"]) == 1
        err = capsys.readouterr().err
        assert "missing feature column(s) 'v'" in err
        assert "Traceback" not in err


@pytest.mark.parametrize("index_name", ["", "Unnamed: 0", "id"])
def test_index_column_of_a_sorted_table_is_dropped(index_name: str, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Rows sorted by label, numbered 1 … n: the number alone would classify perfectly. It
    is dropped with a note naming it, and the model never sees it."""
    rng = np.random.default_rng(0)
    n = 300
    label = np.sort(rng.integers(0, 2, n))
    noise = rng.normal(size=(n, 2))  # no signal: honest accuracy is chance
    start = 0 if index_name == "Unnamed: 0" else 1
    rows = [[str(i + start), repr(float(a)), repr(float(b)), ["no", "yes"][k]]
            for i, ((a, b), k) in enumerate(zip(noise, label, strict=True))]
    data = _write(tmp_path / "sorted.csv", [index_name, "p", "q", "survived"], rows)
    assert main(["train", "--csv", str(data), "--target", "survived", "--epochs", "10",
                 "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert f"dropped column {'1 ' if index_name != 'id' else ''}" in out
    assert repr(index_name) in out and "row index" in out
    net_names = chainrule.io.read_model(tmp_path / "run" / "model.safetensors").feature_names
    assert net_names == ["p", "q"]
    ds = datasets.load("csv", path=data, target="survived")
    assert ds.feature_names == ["p", "q"] and ds.X.shape == (n, 2)
    assert len([note for note in ds.notes if "row index" in note]) == 1


def test_feature_that_only_looks_like_a_count_is_kept(tmp_path: Path) -> None:
    """A column of consecutive integers that does not start at 0 or 1 (years) is data."""
    rows = [[str(1990 + i), str(i % 3), ["a", "b"][i % 2]] for i in range(20)]
    data = _write(tmp_path / "years.csv", ["year", "g", "y"], rows)
    ds = datasets.load("csv", path=data, target="y")
    assert ds.feature_names == ["year", "g"]
    assert not [note for note in ds.notes if "row" in note]


def test_a_counting_column_that_is_the_only_feature_is_kept_with_a_note(tmp_path: Path
                                                                         ) -> None:
    rows = [[str(i + 1), ["a", "b"][i % 2]] for i in range(10)]
    data = _write(tmp_path / "idx.csv", ["n", "y"], rows)
    ds = datasets.load("csv", path=data, target="y")
    assert ds.feature_names == ["n"]
    assert ds.notes[0] == ("column 'n' counts the rows (1, 2, … down the file), like a row "
                           "index; kept because it is the only feature")


def test_a_counting_column_after_the_first_is_data(tmp_path: Path) -> None:
    """R and pandas write row names first; a counter elsewhere (a time step) is kept."""
    rows = [[str(i % 4), str(i), ["a", "b"][i % 2]] for i in range(12)]
    data = _write(tmp_path / "steps.csv", ["g", "step", "y"], rows)
    ds = datasets.load("csv", path=data, target="y")
    assert ds.feature_names == ["g", "step"]
    assert not [note for note in ds.notes if "row" in note]
