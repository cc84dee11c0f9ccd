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


def test_info_lists_every_layer_type(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An embedding layer before the Dense ones is listed with its parameters, so the
    column adds up to "total parameters" (it was skipped silently)."""
    import chainrule
    from chainrule.engine.embeddings import table_input_layers
    from chainrule.engine.layers import Dense
    from chainrule.engine.network import Network

    inputs = table_input_layers(4, [(1, 5)], [0])
    net = Network([*inputs, Dense(inputs[-1].n_out, 3, "relu"), Dense(3, 1, "identity")],
                  loss="mse", seed=0)
    chainrule.save(net, tmp_path / "m.safetensors")
    capsys.readouterr()
    assert main(["info", str(tmp_path / "m.safetensors")]) == 0
    out = capsys.readouterr().out
    listed = [line for line in out.splitlines() if line[:5].strip() == "" and
              line.strip().split()[0] in {type(layer).__name__ for layer in inputs}]
    assert len(listed) == len(inputs)
    counts = [int(line.split()[-1].replace(",", "")) for line in out.splitlines()
              if line.strip() and line.split()[-1].replace(",", "").isdigit()
              and not line.startswith("total")][1:]  # past the input row
    assert sum(counts) == net.n_params


def test_info_shows_an_ensembles_members(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """A K-member ensemble's layers are (K, n_out, n_in) with K × the parameters (it showed
    one member's shape and count)."""
    import chainrule

    net = chainrule.MLP([4, 6, 3], hidden="relu", output="softmax", loss="cross_entropy",
                        seed=0, ensemble=3)
    chainrule.save(net, tmp_path / "e.safetensors")
    capsys.readouterr()
    assert main(["info", str(tmp_path / "e.safetensors")]) == 0
    out = capsys.readouterr().out
    assert "(3, 6, 4)" in out and "(3, 3, 6)" in out
    assert f"{3 * (6 * 4 + 6):>9,}" in out and f"total parameters: {net.n_params:,}" in out


def test_info_counts_the_row_index_train_dropped(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 30: train dropped framing.csv's unnamed row-index column and info said
    "0 dropped" (the column never reached the encoder); the empty name is shown as ''."""
    import statsmodels

    framing = Path(statsmodels.__file__).parent / "stats/tests/results/framing.csv"
    assert main(["train", "--csv", str(framing), "--target", "cong_mesg", "--recipe", "plain",
                 "--epochs", "1", "--quiet", "--out", str(tmp_path / "run")]) == 0
    capsys.readouterr()
    assert main(["info", str(tmp_path / "run" / "model.safetensors")]) == 0
    out = capsys.readouterr().out
    assert "(14 used, 1 dropped;" in out
    assert "  ''  " in out and "row index" in out
