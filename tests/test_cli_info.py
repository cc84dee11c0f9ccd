"""``chainrule info``: it prints what the model file holds and nothing it does not."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from chainrule.cli import main
from chainrule.cli.info import training_lines
from chainrule.playground import Session


def test_info_on_a_playground_model_prints_no_none(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 30: a model downloaded from the playground printed "trained on None (None
    train, None val, None test) for None epochs in None s on None"."""
    session = Session({"dataset": "xor", "hidden": [4], "seed": 1})
    file = session.model_file()
    path = tmp_path / file["filename"]
    path.write_bytes(base64.b64decode(file["data"]))
    capsys.readouterr()
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "None" not in out
    assert "trained on xor for 0 steps by chainrule playground" in out
    assert "link: " in out


def test_training_lines_print_only_what_is_held() -> None:
    assert training_lines({}) == []
    run = {"config": {"csv": "a.csv"}, "n_train": 7, "n_val": 1, "n_test": 2,
           "epochs_run": 3, "train_seconds": 0.5, "date": "2026-12-07"}
    assert training_lines(run) == ["trained on a.csv (7 train, 1 val, 2 test) for 3 epochs "
                                   "in 0.5 s on 2026-12-07"]
    assert training_lines({"n_train": 7, "config": None}) == ["trained (7 train)"]
