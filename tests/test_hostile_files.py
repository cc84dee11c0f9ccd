"""A stranger's model file and a corrupted run directory (issue 28, items 1 and 5).

Every field of a model header, a checkpoint and a run directory is untrusted: the sizes a
header asks for are capped (``MAX_REGENERATED_SAMPLES``), a path in it is never opened,
and a checkpoint's state is checked field by field before a run resumes. The listed cases
are regression tests; Hypothesis drives the mutators of ``bench/hostile_headers.py`` (the
longer campaign) for a short slice of it.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import bench_script
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainrule.cli import main

hostile = bench_script.load("hostile_headers")
FAST = settings(max_examples=8, deadline=None, derandomize=True,
                suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete two-epoch xor run."""
    out = tmp_path_factory.mktemp("hostile") / "base"
    assert main(["train", "--dataset", "xor", "--n-samples", "200", "--hidden", "4",
                 "--epochs", "2", "--out", str(out), "--quiet", "--no-monitor"]) == 0
    return out


def _model(base: Path, dst: Path, **config: Any) -> Path:
    def edit(values: dict[str, Any]) -> None:
        values["training"]["config"].update(config)
    hostile.edit_metadata(base / "model.safetensors", dst, edit)
    return dst


def _one_error(rc: int, err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 1 and len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


COMMANDS = (["evaluate"], ["explain"], ["graph"], ["diagnose", "--steps", "2"])


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_header_asking_for_more_samples_than_the_cap_is_refused(
        base: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        command: list[str]) -> None:
    model = _model(base, tmp_path / "m.safetensors", n_samples=300_000)
    line = _one_error(main([command[0], str(model), *command[1:]]), capsys.readouterr().err)
    assert str(model) in line and "training.config.n_samples" in line
    assert "300,000" in line and "100,000" in line and "--n-samples N" in line


def test_the_n_samples_flag_lifts_the_cap(base: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    model = _model(base, tmp_path / "m.safetensors", n_samples=300_000)
    assert main(["evaluate", str(model), "--n-samples", "1000"]) == 0
    assert "on xor (all: 1000 samples)" in capsys.readouterr().out


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_path_in_the_header_is_never_opened(
        base: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, command: list[str]) -> None:
    monkeypatch.setenv("HOSTILE_SECRET", "s3cr3t-in-the-environment")
    model = _model(base, tmp_path / "m.safetensors", dataset="csv",
                   csv="/proc/self/environ", target="y")
    rc = main([command[0], str(model), *command[1:]])
    captured = capsys.readouterr()
    assert "s3cr3t" not in captured.out + captured.err
    line = _one_error(rc, captured.err)
    assert "trained on a CSV file" in line and "--csv PATH --target 'y'" in line


def test_an_npz_path_in_the_header_is_never_opened(
        base: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = _model(base, tmp_path / "m.safetensors", dataset="npz", npz="/dev/zero")
    line = _one_error(main(["evaluate", str(model)]), capsys.readouterr().err)
    assert "trained on a NPZ file" in line and "--npz PATH" in line


@pytest.fixture
def run(base: Path, tmp_path: Path) -> Path:
    """``base`` as a run interrupted after 2 of 4 epochs."""
    out = tmp_path / "run"
    hostile.make_resumable(base, out)
    return out


def _status(run: Path) -> str:
    return str(json.loads((run / "metrics.json").read_text())["status"])


def test_a_resumable_run_resumes(run: Path) -> None:
    assert main(["train", "--resume", str(run), "--quiet", "--no-monitor"]) == 0
    assert _status(run) == "complete" and hostile._complete(run)


@pytest.mark.parametrize("key, value", [
    ("train_seconds", "x"), ("best_value", "abc"), ("stopped", "no"),
    ("early_stopping", {"foo": 1}), ("stopped", True), ("epoch", 9),
    ("history_epochs", [1, 1]), ("history", {"loss": [0.5]}), ("best_epoch", 7),
])
def test_a_corrupted_checkpoint_field_is_refused_before_training(
        run: Path, capsys: pytest.CaptureFixture[str], key: str, value: Any) -> None:
    ck = run / "checkpoint.safetensors"
    hostile.edit_metadata(ck, ck, lambda v: v["training"]["checkpoint"].update({key: value}))
    line = _one_error(main(["train", "--resume", str(run), "--quiet", "--no-monitor"]),
                      capsys.readouterr().err)
    assert str(ck) in line and f"training.checkpoint.{key}" in line
    assert _status(run) == "interrupted"


@pytest.mark.parametrize("name", ["checkpoint.safetensors", "config.json", "history.csv",
                                  "best.safetensors", "metrics.json"])
def test_a_run_file_that_is_a_directory_is_refused(
        run: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    (run / name).unlink()
    (run / name).mkdir()
    line = _one_error(main(["train", "--resume", str(run), "--quiet", "--no-monitor"]),
                      capsys.readouterr().err)
    assert str(run / name) in line
    if name != "metrics.json":
        assert _status(run) == "interrupted"


def _clean(rc: int, err: str) -> None:
    assert "Traceback" not in err and "Warning" not in err, err
    assert rc in (0, 1, 2), err
    if rc:
        errors = [line for line in err.splitlines() if "error:" in line]
        assert len(errors) == 1 and not any(r in errors[0] for r in hostile.RAW), err


@FAST
@given(st.randoms(use_true_random=False), st.sampled_from(["evaluate", "info", "explain"]))
def test_hostile_headers_end_cleanly(base: Path, tmp_path_factory: pytest.TempPathFactory,
                                     rnd: random.Random, command: str) -> None:
    work = tmp_path_factory.mktemp("header")
    model = work / "m.safetensors"
    hostile.mutate_header(base / "model.safetensors", model, rnd)
    out, err = _run(lambda: main([command, str(model)]))
    _clean(*err)


@FAST
@given(st.randoms(use_true_random=False))
def test_corrupted_run_directories_end_cleanly(
        base: Path, tmp_path_factory: pytest.TempPathFactory, rnd: random.Random) -> None:
    run = tmp_path_factory.mktemp("run") / "run"
    hostile.make_resumable(base, run)
    hostile.mutate_run(run, rnd)
    _, (rc, err) = _run(lambda: main(["train", "--resume", str(run), "--quiet",
                                      "--no-monitor"]))
    _clean(rc, err)
    try:
        status = json.loads((run / "metrics.json").read_text()).get("status")
    except (OSError, ValueError, AttributeError):
        status = None
    assert status != "running"
    assert status != "complete" or hostile._complete(run)
    shutil.rmtree(run.parent, ignore_errors=True)


def _run(call: Any) -> tuple[str, tuple[int, str]]:
    """``call()`` with stdout and stderr captured (Hypothesis cannot take capsys)."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = call()
    return out.getvalue(), (rc, err.getvalue())


@pytest.fixture(scope="module")
def wide(base: Path) -> Path:
    """A model of one 30,000-unit hidden layer (a 600 KB file) whose header asks for 5,000
    xor samples: its widths, not its size, decide what a batch costs."""
    import chainrule

    net = chainrule.MLP([2, 30_000, 2], output="softmax", loss="cross_entropy", seed=0)
    net.classes = [0, 1]
    header, _ = hostile.read_header(base / "model.safetensors")
    training = json.loads(header["__metadata__"]["training"])
    training["config"].update(n_samples=5000, batch_size=1400)
    path = base.parent / "wide.safetensors"
    chainrule.save(net, path, training=training)
    return path


def test_evaluate_batches_a_wide_network_within_the_activation_budget(
        wide: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import tracemalloc

    tracemalloc.start()
    try:
        assert main(["evaluate", str(wide)]) == 0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "(test: 1000 samples)" in capsys.readouterr().out
    assert peak < 120 * 2**20  # 64 MB of activations, not 1000 rows × 30,000 units × 2


def test_diagnose_refuses_a_batch_over_the_activation_budget(
        wide: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = _one_error(main(["diagnose", str(wide)]), capsys.readouterr().err)
    assert str(wide) in line and "batch of 1,400 samples" in line
    assert "the model's batch_size" in line and "--batch-size N with N at most" in line
    assert main(["diagnose", str(wide), "--batch-size", "16", "--steps", "3"]) == 0
    assert "1 epoch of 48 training samples" in capsys.readouterr().out


def test_the_mnist_directory_in_the_header_is_never_opened(
        base: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("CHAINRULE_DATA_DIR", str(tmp_path / "empty"))
    model = _model(base, tmp_path / "m.safetensors", dataset="mnist",
                   data_dir=str(tmp_path / "from-the-file"))
    line = _one_error(main(["evaluate", str(model)]), capsys.readouterr().err)
    assert "MNIST" in line and "from-the-file" not in line and str(tmp_path / "empty") in line
    # --data-dir alone names the directory of the model's own data set (still MNIST)
    (tmp_path / "given").mkdir()
    line = _one_error(main(["evaluate", str(model), "--data-dir", str(tmp_path / "given")]),
                      capsys.readouterr().err)
    assert "MNIST" in line and str(tmp_path / "given") in line


def test_info_prints_header_text_on_one_line(base: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "m.safetensors"

    def edit(values: dict[str, Any]) -> None:
        values["training"].update(date="2026\n\x1b[31mred")
        values["training"]["config"].update(dataset="csv", csv="A" * 10_000)
        values["training"]["test"]["a\nb"] = 0.5
    hostile.edit_metadata(base / "model.safetensors", model, edit)
    assert main(["info", str(model)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "2026\\n\\x1b[31mred" in out and "a\\nb 0.5000" in out
    assert max(len(line) for line in out.splitlines()) < 1000


def test_a_missing_best_model_is_refused_not_started_over(
        base: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "es"
    assert main(["train", "--dataset", "xor", "--n-samples", "200", "--hidden", "4",
                 "--epochs", "2", "--early-stopping", "50", "--out", str(out), "--quiet",
                 "--no-monitor"]) == 0
    run = tmp_path / "run"
    hostile.make_resumable(out, run)
    ck = run / "checkpoint.safetensors"
    hostile.edit_metadata(ck, ck, lambda v: v["training"]["checkpoint"].update(
        early_stopping={"best": 0.5, "best_epoch": 1, "wait": 1}))
    (run / "best.safetensors").unlink()
    line = _one_error(main(["train", "--resume", str(run), "--quiet", "--no-monitor"]),
                      capsys.readouterr().err)
    assert str(run / "best.safetensors") in line and "missing" in line
    assert ck.is_file() and _status(run) == "interrupted"
