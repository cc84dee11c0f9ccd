"""Streamed runs checkpoint their stream position and resume bit for bit (issue 31 item 3).

A streamed ``chainrule train`` is stopped mid-epoch (Ctrl-C, or a crash after a
checkpoint), and at an epoch boundary; ``chainrule train --resume RUN_DIR`` continues it
and every weight, and the optimizer's state, equal an unbroken run's (``np.array_equal``).
A changed table, edited settings, a finished run and a corrupted state are refused in one
line. Small Parquet and CSV files of several chunks; batches of 32 rows, so an epoch has
~27 batches.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from stream_tables import write_stream_table

import chainrule as cr
import chainrule.runs.stream_run as stream_run
from chainrule.cli import main
from chainrule.io.container import ModelFileError
from chainrule.runs.stream_checkpoint import StreamCheckpointer, StreamState

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")
pytest.importorskip("datasketches")

EPOCHS = 3
REAL_FIT = stream_run.fit_stream


@pytest.fixture
def table(tmp_path: Path) -> Path:
    return write_stream_table(tmp_path, seed=1)


def train(path: Path, out: Path, *extra: str) -> int:
    return main(["train", "--csv", str(path), "--target", "y", "--stream", "--epochs",
                 str(EPOCHS), "--batch-size", "32", "--out", str(out), "--quiet", *extra])


def stop_at(monkeypatch: pytest.MonkeyPatch, epoch: int, batch: int,
            error: type[BaseException] = KeyboardInterrupt) -> None:
    """The next streamed fit raises ``error`` right after batch ``batch`` of ``epoch``
    is trained (and after the checkpoint due then is written)."""
    real = stream_run.fit_stream

    def fit(*args: Any, on_batch: Any = None, **kwargs: Any) -> Any:
        def hook(e: int, b: int, rows: int) -> None:
            on_batch(e, b, rows)
            if (e, b) == (epoch, batch):
                raise error("stopped by the test")
        return real(*args, on_batch=hook, **kwargs)

    monkeypatch.setattr(stream_run, "fit_stream", fit)


def assert_same_model(a: Path, b: Path) -> None:
    net_a, net_b = cr.load(a / "model.safetensors"), cr.load(b / "model.safetensors")
    assert net_a.params.dtype == net_b.params.dtype
    assert np.array_equal(net_a.params, net_b.params)
    dense = [(la, lb) for la, lb in zip(net_a.layers, net_b.layers, strict=True)
             if hasattr(la, "w")]
    assert dense and all(np.array_equal(la.w, lb.w) and np.array_equal(la.b, lb.b)
                         for la, lb in dense)
    sa, sb = net_a.optimizer.state_dict(), net_b.optimizer.state_dict()
    assert sa.keys() == sb.keys()
    assert all(np.array_equal(sa[k], sb[k]) for k in sa)
    ma = json.loads((a / "metrics.json").read_text())
    mb = json.loads((b / "metrics.json").read_text())
    assert ma["test"] == mb["test"]
    assert [r["val_loss"] for r in ma["epochs"]] == [r["val_loss"] for r in mb["epochs"]]


@pytest.fixture
def unbroken(table: Path, request: pytest.FixtureRequest) -> Path:
    """The unbroken run, with the test's ``--dropout`` if it has one."""
    flags = getattr(request.node, "callspec", None)
    flags = flags.params.get("flags", []) if flags is not None else []
    dropout = flags[:2] if flags[:1] == ["--dropout"] else []
    out = table / "unbroken"
    assert train(table / "t.parquet", out, *dropout) == 0
    return out


@pytest.mark.parametrize("flags, stop, resumed_at", [
    (["--checkpoint-batches", "1"], (2, 5), [2, 5]),  # Ctrl-C mid-epoch
    ([], (2, 3), [2, 0]),  # at the epoch boundary: the end-of-epoch-1 checkpoint
    (["--checkpoint-batches", "4"], (1, 6), [1, 4]),  # a crash two batches after one
    (["--dropout", "0.3", "--checkpoint-batches", "3"], (2, 4), [2, 3]),  # masks: net.rng
])
def test_an_interrupted_streamed_run_resumes_bitwise(
        table: Path, unbroken: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], flags: list[str], stop: tuple[int, int],
        resumed_at: list[int]) -> None:
    out = table / "broken"
    crash = flags[-1:] == ["4"]
    stop_at(monkeypatch, *stop, error=RuntimeError if crash else KeyboardInterrupt)
    assert train(table / "t.parquet", out, *flags) == (1 if crash else 130)
    status = json.loads((out / "metrics.json").read_text())
    assert status["status"] == "interrupted" and status["checkpoint"] == resumed_at
    if not crash:
        assert f"continue with: chainrule train --resume {out}" in capsys.readouterr().err
    assert not (out / "model.safetensors").exists()
    monkeypatch.undo()
    assert main(["train", "--resume", str(out), "--quiet"]) == 0
    assert_same_model(unbroken, out)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "complete" and metrics["resumed_from"] == resumed_at
    assert [r["epoch"] for r in metrics["epochs"]] == list(range(1, EPOCHS + 1))


def test_resume_is_bitwise_on_the_compiled_step_too(table: Path, monkeypatch: pytest.MonkeyPatch
                                                     ) -> None:
    """The compiled (numba) step, forced, keeps the optimizer's moments where the
    checkpoint reads them: the resumed run still ends bit for bit."""
    pytest.importorskip("numba")
    monkeypatch.setenv("CHAINRULE_COMPILED", "1")
    ref, out = table / "ref", table / "broken"
    assert train(table / "t.parquet", ref) == 0
    stop_at(monkeypatch, 2, 7)
    assert train(table / "t.parquet", out, "--checkpoint-batches", "2") == 130
    monkeypatch.setattr(stream_run, "fit_stream", REAL_FIT)  # the env var stays
    assert main(["train", "--resume", str(out), "--quiet"]) == 0
    assert json.loads((out / "metrics.json").read_text())["resumed_from"] == [2, 6]
    assert_same_model(ref, out)


def test_a_csv_run_stopped_twice_resumes_bitwise(table: Path, monkeypatch: pytest.MonkeyPatch
                                                 ) -> None:
    ref, out = table / "ref", table / "broken"
    assert train(table / "t.csv", ref) == 0
    stop_at(monkeypatch, 1, 9)
    assert train(table / "t.csv", out, "--checkpoint-batches", "3") == 130
    stop_at(monkeypatch, 3, 2)  # the resumed run stopped again, in its last epoch
    assert main(["train", "--resume", str(out), "--quiet"]) == 130
    assert json.loads((out / "metrics.json").read_text())["checkpoint"] == [3, 0]
    monkeypatch.undo()
    assert main(["train", "--resume", str(out), "--stream", "--quiet"]) == 0
    assert_same_model(ref, out)


def test_resuming_on_a_changed_table_is_refused(table: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    out = table / "broken"
    stop_at(monkeypatch, 2, 1)
    assert train(table / "t.csv", out) == 130
    monkeypatch.undo()
    with open(table / "t.csv", "a") as fh:
        fh.write("0.5,a,0.1,yes\n")
    capsys.readouterr()
    assert main(["train", "--resume", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"--resume {out}: the table {table / 't.csv'} has changed since training" in err
    assert "resumes only on the file it started on" in err


def test_resuming_with_other_settings_is_refused(table: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = table / "broken"
    stop_at(monkeypatch, 2, 1)
    assert train(table / "t.parquet", out) == 130
    monkeypatch.undo()
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--batch-size", "64"]) == 2
    assert "drop --batch-size" in capsys.readouterr().err
    config = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**config, "lr": 0.5}))
    assert main(["train", "--resume", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "config.json says lr = 0.5, but the run was started with" in err


def test_a_finished_or_in_memory_run_is_not_resumed_as_a_stream(
        table: Path, unbroken: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--resume", str(unbroken)]) == 1
    assert "the run is complete (3 epochs)" in capsys.readouterr().err
    memory = table / "memory"
    assert main(["train", "--csv", str(table / "t.csv"), "--target", "y", "--epochs", "1",
                 "--out", str(memory), "--quiet", "--no-importance"]) == 0
    assert main(["train", "--resume", str(memory), "--stream"]) == 2
    assert "not a streamed run" in capsys.readouterr().err


def test_a_run_stopped_before_its_first_checkpoint_says_how_to_start_again(
        table: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = table / "broken"
    stop_at(monkeypatch, 1, 2)
    assert train(table / "t.parquet", out) == 130
    assert "no checkpoint yet" in capsys.readouterr().err
    monkeypatch.undo()
    assert main(["train", "--resume", str(out)]) == 1
    assert "stopped before its first checkpoint" in capsys.readouterr().err


@pytest.mark.parametrize("change, key", [
    ({"batch": -1}, "training.stream.batch"),
    ({"epoch": 9}, "training.stream.epoch"),
    ({"history": []}, "training.stream.history"),
    ({"table": {"path": 3}}, "training.stream.table"),
    ({"surprise": 1}, "training.stream"),
    ({"batch_size": True}, "training.stream.batch_size"),
])
def test_a_corrupted_stream_state_is_refused_naming_the_key(change: dict[str, Any],
                                                            key: str) -> None:
    good = StreamState(epoch=2, batch=3, epochs=3, table={"path": "/t", "size": 1,
                                                           "sha256": "00"},
                       history=[{"epoch": 1, "loss": 0.5}]).to_json()
    assert StreamState.from_json(good, "ck").batch == 3
    with pytest.raises(ModelFileError, match=key.replace(".", r"\.")):
        StreamState.from_json({**good, **change}, "ck")


def test_checkpoints_fall_due_by_batches_seconds_and_epochs(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    written: list[tuple[int, int]] = []
    monkeypatch.setattr("chainrule.runs.stream_checkpoint.write_stream_checkpoint",
                        lambda d, net, config, state: written.append((state.epoch,
                                                                      state.batch)))
    now = [0.0]
    ck = StreamCheckpointer(tmp_path, None, {}, StreamState(epochs=4), every=2, batches=5,
                            seconds=10.0, clock=lambda: now[0])
    for b in range(1, 8):
        now[0] += 3.0  # a batch takes 3 s: the seconds rule fires after batch 4 (12 s)
        ck.after_batch(1, b, now[0])
    assert written == [(1, 4), (1, 5)]  # batch 5: the every-5-batches rule (clock reset)
    for e in range(1, 5):
        ck.after_epoch({"epoch": e, "loss": 0.1}, now[0])
    assert written[2:] == [(3, 0), (5, 0)] and ck.state.complete
    assert ck.saved == (5, 0)
    with pytest.raises(ValueError, match="batches: expected a positive number"):
        StreamCheckpointer(tmp_path, None, {}, StreamState(), batches=0)


def test_a_streamed_run_killed_by_sigkill_resumes_bitwise(tmp_path: Path) -> None:
    """A real process, killed with SIGKILL (no handler runs) once its checkpoints have
    started: the checkpoint on disk is whole (atomic writes) and the run resumes from it
    to an unbroken run's weights, bit for bit."""
    import signal
    import subprocess
    import sys
    import time

    rng = np.random.default_rng(2)
    n = 12_000
    frame = pd.DataFrame({"x": rng.normal(size=n), "c": rng.choice(list("abc"), n),
                          "y": rng.choice(["p", "q"], n)})
    frame.to_parquet(tmp_path / "big.parquet", row_group_size=1_000)
    ref, out = tmp_path / "ref", tmp_path / "killed"
    command = [sys.executable, "-m", "chainrule", "train", "--csv", str(tmp_path / "big.parquet"),
               "--target", "y", "--stream", "--epochs", "2", "--batch-size", "16", "--quiet"]
    subprocess.run([*command, "--out", str(ref)], check=True, timeout=600)
    child = subprocess.Popen([*command, "--out", str(out), "--checkpoint-batches", "1"])
    try:
        deadline = time.monotonic() + 300
        while not (out / "checkpoint.safetensors").exists() and child.poll() is None:
            assert time.monotonic() < deadline, "no checkpoint was written"
            time.sleep(0.05)
        time.sleep(0.3)  # a few more batches: killed mid-epoch, maybe mid-write
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=60)
    if child.returncode == 0:  # not a resume test then: say so rather than pass
        pytest.fail("the run finished before it was killed; make the table larger")
    assert child.returncode == -signal.SIGKILL
    assert json.loads((out / "metrics.json").read_text())["status"] == "running"
    assert main(["train", "--resume", str(out), "--quiet"]) == 0
    epoch, batch = json.loads((out / "metrics.json").read_text())["resumed_from"]
    assert (epoch, batch) >= (1, 1)  # resumed from a checkpoint, not started over
    assert_same_model(ref, out)
