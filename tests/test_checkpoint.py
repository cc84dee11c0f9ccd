"""Checkpoints, resuming, run-directory status, --out checks and atomic writes
(issue 14, item 5)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import chainrule
from chainrule.cli import main
from chainrule.cli.train import train
from chainrule.io import atomic
from chainrule.runs.checkpoint import BEST, CHECKPOINT, read_checkpoint
from chainrule.training.callbacks import Callback

ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "OPENBLAS_NUM_THREADS": "1",
       "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
#: Small, shuffled, float64: resumed training must equal uninterrupted training bitwise.
SMALL = {"dataset": "digits", "hidden": [16], "epochs": 6, "batch_size": 32,
         "dtype": "float64"}


class _Interrupt(Callback):
    """Ctrl-C at the end of epoch ``at`` (before that epoch is checkpointed)."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_epoch_end(self, trainer: Any, logs: dict[str, float]) -> None:
        if trainer.epoch == self.at:
            raise KeyboardInterrupt


def _status(run: Path) -> dict[str, Any]:
    return dict(json.loads((run / "metrics.json").read_text()))


def _temps(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize(("extra", "at", "done"), [
    ({}, 3, 2),
    ({"dropout": 0.2, "checkpoint_every": 2, "schedule": "cosine"}, 4, 3),
    ({"early_stopping": 1, "lr": 0.05, "epochs": 12}, 3, 2),
    ({"early_stopping": 2, "val_split": 0.0, "optimizer": "momentum", "lr": 0.05}, 2, 1),
])
def test_resumed_training_equals_uninterrupted_training(tmp_path: Path, extra: dict[str, Any],
                                                        at: int, done: int) -> None:
    cfg = {**SMALL, **extra}
    whole = train(cfg, out=str(tmp_path / "whole"), quiet=True)
    run = tmp_path / "cut"
    with pytest.raises(KeyboardInterrupt):
        train(cfg, out=str(run), quiet=True, callbacks=[_Interrupt(at)])
    info = _status(run)
    assert info["status"] == "interrupted" and info["epochs_done"] == done
    assert info["resume"] == f"chainrule train --resume {run}"
    # The interrupted epoch's predecessor is on disk, even between --checkpoint-every
    # epochs (Ctrl-C writes the last finished one).
    assert read_checkpoint(run).state.epoch == done
    assert chainrule.load(run / CHECKPOINT).optimizer is not None
    resumed = train(None, resume=str(run), quiet=True)
    assert np.array_equal(resumed.net.params, whole.net.params)  # bitwise, float64
    assert resumed.history.epoch == whole.history.epoch
    assert resumed.history.history == whole.history.history
    a = chainrule.load(tmp_path / "whole" / "model.safetensors")
    b = chainrule.load(run / "model.safetensors")
    assert np.array_equal(a.params, b.params)
    for slot in a.optimizer.state:
        assert np.array_equal(a.optimizer.state[slot], b.optimizer.state[slot])
    assert a.optimizer.t == b.optimizer.t
    assert a.rng.bit_generator.state == b.rng.bit_generator.state
    assert (run / "history.csv").read_bytes() == (tmp_path / "whole" / "history.csv").read_bytes()
    assert _status(run)["status"] == "complete"
    assert _temps(run) == []


def test_checkpoint_and_best_files(tmp_path: Path) -> None:
    result = train({**SMALL, "epochs": 4}, out=str(tmp_path), quiet=True)
    ckpt = read_checkpoint(tmp_path)
    assert ckpt.state.epoch == 4 and ckpt.state.epochs == 4
    assert ckpt.state.history == result.history.history
    assert ckpt.config == result.config
    best = read_checkpoint(tmp_path, name=BEST)
    val = result.history["val_loss"]
    assert best.state.epoch == 1 + int(np.argmin(val))
    assert best.state.best_value == min(val)
    assert chainrule.load(tmp_path / BEST).predict(np.zeros((1, 64))).shape == (1, 10)
    info = _status(tmp_path)
    assert info["status"] == "complete" and info["test"]["accuracy"] > 0.5
    assert "pid" not in info


def test_checkpoint_every_n_epochs(tmp_path: Path) -> None:
    seen: list[int] = []

    class Watch(Callback):
        def on_epoch_begin(self, trainer: Any) -> None:
            if (tmp_path / CHECKPOINT).exists():
                seen.append(read_checkpoint(tmp_path).state.epoch)

    train({**SMALL, "epochs": 5, "checkpoint_every": 2}, out=str(tmp_path), quiet=True,
          callbacks=[Watch()])
    assert seen == [2, 2, 4]  # before epochs 3, 4, 5; the last epoch is always written
    assert read_checkpoint(tmp_path).state.epoch == 5


def test_checkpoint_every_flag_and_config_key(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("checkpoint_every = 3\nepochs = 1\n")
    args = ["train", "--config", str(config), "--hidden", "8", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert json.loads((tmp_path / "a" / "config.json").read_text())["checkpoint_every"] == 3
    assert main([*args, "--checkpoint-every", "2", "--out", str(tmp_path / "b")]) == 0
    assert json.loads((tmp_path / "b" / "config.json").read_text())["checkpoint_every"] == 2


def test_resume_usage_and_runtime_errors(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--resume", str(tmp_path), "--lr", "0.1"]) == 2
    assert "drop --lr" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path / "nope")]) == 1
    assert "no such run directory" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path)]) == 1
    assert "not a chainrule run directory" in capsys.readouterr().err
    run = tmp_path / "done"
    assert main(["train", "--epochs", "1", "--hidden", "8", "--quiet", "--out", str(run)]) == 0
    assert main(["train", "--resume", str(run)]) == 1
    assert "the run is complete" in capsys.readouterr().err


def test_a_run_killed_before_its_first_checkpoint_starts_again(tmp_path: Path) -> None:
    cfg = {**SMALL, "epochs": 3}
    whole = train(cfg, out=str(tmp_path / "whole"), quiet=True)
    run = tmp_path / "cut"
    with pytest.raises(KeyboardInterrupt):
        train(cfg, out=str(run), quiet=True, callbacks=[_Interrupt(1)])
    assert not (run / CHECKPOINT).exists() and _status(run)["status"] == "interrupted"
    resumed = train(None, resume=str(run), quiet=True)
    assert np.array_equal(resumed.net.params, whole.net.params)


def test_an_unfinished_run_is_not_overwritten(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train(SMALL, out=str(run), quiet=True, callbacks=[_Interrupt(2)])
    capsys.readouterr()
    assert main(["train", "--quiet", "--out", str(run)]) == 1
    err = capsys.readouterr().err
    assert "holds an unfinished run (status interrupted)" in err
    assert f"chainrule train --resume {run}" in err


def test_a_failed_run_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    class Fail(Callback):
        def on_epoch_end(self, trainer: Any, logs: dict[str, float]) -> None:
            if trainer.epoch == 2:
                raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        train(SMALL, out=str(tmp_path), quiet=True, callbacks=[Fail()])
    info = _status(tmp_path)
    assert info["status"] == "failed" and info["error"] == "disk on fire"
    assert info["epochs_done"] == 1 and read_checkpoint(tmp_path).state.epoch == 1


# -- --out is checked before anything is trained ---------------------------------------------
def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    start = time.perf_counter()
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "epoch" not in captured.out  # nothing trained
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --out"), captured.err
    assert ".tmp" not in lines[0]
    assert time.perf_counter() - start < 30
    return lines[0]


def test_out_that_is_a_file_or_under_a_file(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    line = _one_line_error(capsys, ["train", "--dataset", "mnist", "--data-dir",
                                    str(tmp_path / "absent"), "--out", str(f)])
    assert str(f) in line and "exists and is not a directory" in line
    line = _one_line_error(capsys, ["train", "--out", str(f / "run")])
    assert f"{f} is not a directory" in line
    _one_line_error(capsys, ["train", "--out", ""])
    assert f.read_text() == "x"


def test_out_where_writing_is_denied(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The read-only case below as root (CI) would see it: os.access says no, the check is
    the same (the chmod test can't fail for root, who writes whatever the permissions)."""
    ro = tmp_path / "ro"
    ro.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: (
        False if Path(p) == ro else real_access(p, mode, **kw)))
    line = _one_line_error(capsys, ["train", "--out", str(ro / "run")])
    assert str(ro) in line and "permission denied" in line
    line = _one_line_error(capsys, ["train", "--out", str(ro)])
    assert str(ro) in line
    assert list(ro.iterdir()) == []  # nothing trained, nothing written


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="root writes whatever the permissions; the twin above runs as root")
def test_out_in_a_read_only_directory(tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        line = _one_line_error(capsys, ["train", "--out", str(ro / "run")])
        assert str(ro) in line and "permission denied" in line
        line = _one_line_error(capsys, ["train", "--out", str(ro)])
        assert str(ro) in line
    finally:
        ro.chmod(0o755)


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc")
def test_out_where_no_directory_can_be_made(capsys: pytest.CaptureFixture[str]) -> None:
    # /proc refuses new directories even to root: found before training, one line.
    assert main(["train", "--epochs", "1", "--out", "/proc/chainrule-run"]) == 1
    captured = capsys.readouterr()
    assert "epoch 1/1" not in captured.out
    assert captured.err.startswith("error: --out /proc/chainrule-run: ")
    assert len(captured.err.strip().splitlines()) == 1


# -- Ctrl-C and SIGTERM through the command line ---------------------------------------------
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_keeps_the_checkpoint(tmp_path: Path, sig: signal.Signals, code: int) -> None:
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "chainrule", "train", "--hidden", "256,256", "--epochs",
         "200", "--dtype", "float64", "--out", str(run)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    assert proc.stdout is not None and proc.stderr is not None
    for line in proc.stdout:
        if line.split()[:2] == ["epoch", "2/200"]:
            break
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    done = _status(run)["epochs_done"]
    assert _status(run)["status"] == "interrupted" and 1 <= done < 200
    assert f"the model of epoch {done}/200 is in {run / CHECKPOINT}" in err
    assert f"continue with: chainrule train --resume {run}" in err
    assert len(err.strip().splitlines()) == 1
    assert read_checkpoint(run).state.epoch == done
    assert _temps(run) == [] and _temps(tmp_path) == []


# -- atomic writes -------------------------------------------------------------------------
def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_atomic_write_sweeps_stale_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "m.bin"
    dead = tmp_path / atomic.temp_name("m.bin", _dead_pid())
    old_own = tmp_path / atomic.temp_name("m.bin")  # this pid, no lock, long ago
    fresh_own = tmp_path / atomic.temp_name("m.bin")  # this pid, just created
    other = tmp_path / atomic.temp_name("other.bin", _dead_pid())  # another target's
    for p in (dead, old_own, fresh_own, other):
        p.write_bytes(b"partial")
    os.utime(old_own, (time.time() - 3600, time.time() - 3600))
    atomic.atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    assert not dead.exists() and not old_own.exists()
    assert fresh_own.exists() and other.exists()
    assert atomic.is_temp_file(dead.name, "m.bin") and not atomic.is_temp_file("m.bin")


@pytest.mark.skipif(atomic.fcntl is None, reason="POSIX locks")
def test_a_locked_temp_file_of_a_live_writer_is_kept(tmp_path: Path) -> None:
    import fcntl

    busy = tmp_path / atomic.temp_name("m.bin")
    busy.write_bytes(b"in progress")
    os.utime(busy, (time.time() - 3600, time.time() - 3600))
    fd = os.open(busy, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        atomic.atomic_write_bytes(tmp_path / "m.bin", b"x")
        assert busy.exists()
    finally:
        os.close(fd)
    atomic.atomic_write_bytes(tmp_path / "m.bin", b"y")
    assert not busy.exists()


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), KeyboardInterrupt(),
                                   SystemExit(143)])
def test_atomic_write_leaves_no_temp_file_on_any_exit(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      error: BaseException) -> None:
    target = tmp_path / "m.bin"
    target.write_bytes(b"old")

    def fail(fd: int) -> None:
        raise error

    monkeypatch.setattr(atomic.os, "fsync", fail)
    with pytest.raises(type(error)):
        atomic.atomic_write_bytes(target, b"new" * 1000)
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert _temps(tmp_path) == []


def test_atomic_write_errors_name_the_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        atomic.atomic_write_bytes(tmp_path / "absent" / "m.bin", b"x")
    with pytest.raises(ValueError, match="is a directory"):
        atomic.atomic_write_bytes(tmp_path, b"x")


def test_create_directory_with_is_all_or_nothing(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    d = atomic.create_directory_with(tmp_path / "a" / "run", {"x.json": b"{}", "y": b"1"})
    assert sorted(p.name for p in d.iterdir()) == ["x.json", "y"]
    with pytest.raises(FileExistsError):
        atomic.create_directory_with(d, {"x.json": b"{}"})

    def fail(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic.os, "fsync", fail)
    with pytest.raises(KeyboardInterrupt):
        atomic.create_directory_with(tmp_path / "b", {"x.json": b"{}"})
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]
