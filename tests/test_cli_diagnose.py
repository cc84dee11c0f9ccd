"""The diagnostics on the command line (issue 12): the health monitor of ``train``
(metrics.json, the health line, ``--diagnose``, ``--no-monitor``), ``chainrule diagnose``,
``chainrule lr-find`` and ``train --lr auto``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import chainrule
from chainrule.cli import main

PNG = b"\x89PNG"
XOR = ["--dataset", "xor", "--n-samples", "200", "--hidden", "8"]


def metrics(run: Path) -> dict[str, Any]:
    return dict(json.loads((run / "metrics.json").read_text()))


@pytest.fixture(scope="module")
def dead_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """digits trained with plain SGD at η = 3: the ReLUs of a layer die."""
    run = tmp_path_factory.mktemp("dead")
    out = _capture_main(["train", "--dataset", "digits", "--lr", "3", "--optimizer", "sgd",
                         "--epochs", "2", "--out", str(run)])
    return run, out


@pytest.fixture(scope="module")
def healthy_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("healthy")
    assert main(["train", "--dataset", "digits", "--hidden", "32", "--epochs", "3", "--quiet",
                 "--out", str(run)]) == 0
    return run


def _capture_main(argv: list[str]) -> str:
    """stdout of main(argv), which must succeed (module fixtures have no capsys)."""
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(argv) == 0
    return buf.getvalue()


# -- train: the monitor ---------------------------------------------------------------------------
def test_train_records_a_diagnosis_and_prints_a_health_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", *XOR, "--epochs", "3", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    diagnosis = metrics(tmp_path)["diagnosis"]
    assert isinstance(diagnosis["healthy"], bool)
    assert isinstance(diagnosis["verdicts"], list)
    assert [h["layer"] for h in diagnosis["layers"]] == [1, 2]
    health = [line for line in out.splitlines() if line.startswith("health:")]
    assert health, out
    assert out.index("test accuracy") < out.index("health:") < out.index("wrote ")
    if diagnosis["healthy"]:
        assert health == ["health: healthy"]
    else:
        assert len(health) == len(diagnosis["verdicts"])
    assert not (tmp_path / "diagnostics.png").exists()
    assert "diagnosis (" not in out  # the full report only with --diagnose


def test_diagnose_flag_writes_the_plot_and_prints_the_report(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", *XOR, "--epochs", "3", "--diagnose", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "diagnostics.png").read_bytes().startswith(PNG)
    assert "diagnosis (" in out and "health checks" not in out
    report = out.split("diagnosis (", 1)[1]
    assert "healthy" in report or "\n- " in report
    assert "diagnostics.png" in out.split("wrote ", 1)[1]
    assert "diagnosis" in metrics(tmp_path)


def test_no_monitor_leaves_no_diagnosis(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", *XOR, "--epochs", "2", "--no-monitor", "--out", str(tmp_path)]) == 0
    assert "health:" not in capsys.readouterr().out
    info = metrics(tmp_path)
    assert info["status"] == "complete" and "diagnosis" not in info


def test_monitor_does_not_change_training(tmp_path: Path) -> None:
    for name, flag in (("on", []), ("off", ["--no-monitor"])):
        assert main(["train", *XOR, "--epochs", "2", "--quiet", *flag,
                     "--out", str(tmp_path / name)]) == 0
    a, b = (chainrule.load(tmp_path / d / "model.safetensors") for d in ("on", "off"))
    assert np.array_equal(a.params, b.params)


def test_diagnose_and_no_monitor_together_are_a_usage_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", *XOR, "--no-monitor", "--diagnose", "--out", str(tmp_path)]) == 2
    assert "--no-monitor" in capsys.readouterr().err
    assert not (tmp_path / "config.json").exists()


def test_divergence_stays_one_error_line_and_diagnose_adds_the_verdict(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    diverge = [*XOR, "--lr", "1e4", "--optimizer", "sgd", "--activation", "identity",
               "--epochs", "2"]
    assert main(["train", *diverge, "--out", str(tmp_path / "plain")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: training diverged")
    info = metrics(tmp_path / "plain")
    assert info["status"] == "failed"
    assert [v["kind"] for v in info["diagnosis"]["verdicts"]] == ["divergence"]
    assert main(["train", *diverge, "--diagnose", "--out", str(tmp_path / "diag")]) == 1
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert lines[-1].startswith("error: training diverged")
    assert "diagnosis:" in lines and any(line.startswith("- training diverged") for line in lines)


def test_train_health_line_names_dead_units(dead_model: tuple[Path, str]) -> None:
    run, out = dead_model
    assert any(line.startswith("health: layer") and "dead" in line for line in out.splitlines())
    kinds = {v["kind"] for v in metrics(run)["diagnosis"]["verdicts"]}
    assert "dead_units" in kinds


# -- chainrule diagnose ----------------------------------------------------------------------------
def test_diagnose_names_dead_units(dead_model: tuple[Path, str],
                                   capsys: pytest.CaptureFixture[str]) -> None:
    run, _ = dead_model
    model = run / "model.safetensors"
    before = model.read_bytes()
    assert main(["diagnose", str(model)]) == 0  # exit 0: the report is the output
    out = capsys.readouterr().out
    assert "dead" in out and "relu units" in out and "on digits" in out
    assert "healthy" not in out
    assert model.read_bytes() == before  # a copy trains, the file is unchanged


def test_diagnose_says_healthy_on_a_healthy_model(healthy_model: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diagnose", str(healthy_model / "model.safetensors"), "--steps", "40"]) == 0
    out = capsys.readouterr().out
    assert "healthy:" in out and "dead" not in out.replace("no dead", "")


def test_diagnose_on_named_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", *XOR, "--epochs", "2", "--quiet", "--out", str(tmp_path)]) == 0
    assert main(["diagnose", str(tmp_path / "model.safetensors"), "--dataset", "xor",
                 "--n-samples", "120", "--steps", "10", "--batch-size", "16"]) == 0
    out = capsys.readouterr().out
    assert "on xor" in out and "batch 16" in out


def test_diagnose_refuses_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diagnose", str(tmp_path / "missing.safetensors")]) == 1
    assert capsys.readouterr().err.startswith("error: ")
    assert main(["diagnose", "model.safetensors", "--steps", "0"]) == 2


# -- chainrule lr-find -----------------------------------------------------------------------------
def test_lr_find_writes_the_plot_and_prints_a_suggestion(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "sweep"
    assert main(["lr-find", *XOR, "--steps", "40", "--out", str(out_dir)]) == 0
    out = capsys.readouterr().out
    assert (out_dir / "lr_find.png").read_bytes().startswith(PNG)
    assert "suggested" in out and "network 2-8-2" in out


def test_lr_find_writes_into_the_current_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["lr-find", *XOR, "--steps", "20", "--optimizer", "sgd"]) == 0
    assert (tmp_path / "lr_find.png").is_file()


def test_lr_find_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lr-find", "--start", "1", "--end", "0.1", "--out", str(tmp_path)]) == 2
    assert "start < end" in capsys.readouterr().err
    assert main(["lr-find", "--steps", "3"]) == 2
    assert main(["lr-find", "--start", "-1"]) == 2
    assert not (tmp_path / "lr_find.png").exists()


# -- train --lr auto -------------------------------------------------------------------------------
def test_lr_auto_trains_at_the_range_tests_suggestion(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from chainrule.cli.common import encode_targets
    from chainrule.cli.config import RunConfig
    from chainrule.health.lr_find import lr_find
    from chainrule.runs.stages import build, load_data, split

    assert main(["train", *XOR, "--epochs", "2", "--optimizer", "sgd", "--schedule",
                 "cosine", "--lr", "auto", "--out", str(tmp_path / "auto")]) == 0
    out = capsys.readouterr().out
    assert "lr auto: range test suggests η = " in out
    lr = json.loads((tmp_path / "auto" / "config.json").read_text())["lr"]
    assert isinstance(lr, float) and math.isfinite(lr) and lr > 0
    # the suggestion lr_find gives for that network, built the way train builds it
    cfg = RunConfig.from_mapping({"dataset": "xor", "n_samples": 200, "hidden": [8],
                                  "epochs": 2, "optimizer": "sgd", "schedule": "cosine"})
    ds = load_data(cfg)
    splits = split(cfg, ds)
    net = build(cfg, ds, splits)
    expected = lr_find(net, splits.X_train, encode_targets(net, splits.y_train, ds.task),
                       batch_size=32, optimizer="sgd").suggestion
    assert lr == expected
    assert f"sgd lr {lr:g} (cosine)" in out
    # the same run with that number, given as a flag, is the same training
    assert main(["train", *XOR, "--epochs", "2", "--optimizer", "sgd", "--schedule", "cosine",
                 "--lr", repr(lr), "--quiet", "--out", str(tmp_path / "fixed")]) == 0
    a, b = (chainrule.load(tmp_path / d / "model.safetensors") for d in ("auto", "fixed"))
    assert np.array_equal(a.params, b.params)
    capsys.readouterr()
    assert main(["info", str(tmp_path / "auto" / "model.safetensors")]) == 0
    assert f"optimizer: sgd, lr {lr:g}" in capsys.readouterr().out


def test_lr_auto_from_a_config_file(tmp_path: Path) -> None:
    (tmp_path / "run.toml").write_text('dataset = "xor"\nn_samples = 200\nhidden = [8]\n'
                                       'epochs = 1\nlr = "auto"\n')
    assert main(["train", "--config", str(tmp_path / "run.toml"), "--quiet",
                 "--out", str(tmp_path / "run")]) == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert isinstance(config["lr"], float)
    # config.json reruns the run with the number it recorded
    assert main(["train", "--config", str(tmp_path / "run" / "config.json"), "--quiet",
                 "--out", str(tmp_path / "again")]) == 0
    assert json.loads((tmp_path / "again" / "config.json").read_text()) == config


def test_lr_words_other_than_auto_are_refused(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--lr", "banana", "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "--lr" in err and "'auto'" in err and "banana" in err
    (tmp_path / "run.toml").write_text('lr = "banana"\n')
    assert main(["train", "--config", str(tmp_path / "run.toml"),
                 "--out", str(tmp_path / "b")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "run.toml: lr: expected a positive number or 'auto', got 'banana'" in err
    assert main(["train", "--lr", "AUTO", "--lr", "0", "--out", str(tmp_path / "c")]) == 2
    assert not any((tmp_path / d).exists() for d in "abc")


def test_diagnose_an_ensemble(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The probe's cost of an ensemble is its members' mean (it raised: an ensemble has
    no single z^(L))."""
    assert main(["train", *XOR, "--ensemble", "2", "--epochs", "1", "--quiet", "--out",
                 str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["diagnose", str(tmp_path / "model.safetensors"), "--steps", "10"]) == 0
    assert "health checks" in capsys.readouterr().out
