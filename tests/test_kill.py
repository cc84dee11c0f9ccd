"""kill -9 at random moments, during saves and during ``chainrule train``.

Done criteria of issue 14, item 5: the previous model always loads and is identical,
the latest checkpoint always loads, and no temporary file is left after the next save.
The quick versions (5 kills each) always run; the 40-kill versions are ``slow``.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import chainrule
from chainrule.io.model import model_to_bytes
from chainrule.runs.checkpoint import BEST, CHECKPOINT, read_checkpoint, save_model

#: One BLAS thread: the same arithmetic in every process, and quick on a busy machine.
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "OPENBLAS_NUM_THREADS": "1",
       "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

# -- kills during a save ----------------------------------------------------------------------
#: ~1M float64 parameters: an 8 MiB file, so a good share of the loop is write + fsync.
SIZES = [512, 1024, 512, 4]

SAVER = textwrap.dedent("""
    import sys
    import chainrule
    from chainrule.runs.checkpoint import save_model

    path, k = sys.argv[1], int(sys.argv[2])
    net = chainrule.MLP({sizes}, dtype="float64", seed=0)
    base = net.params.copy()
    print("ready", flush=True)
    while True:
        net.params[...] = base + k
        save_model(net, path)
        print(k, flush=True)
        k += 1
""")


def _version(net: Any, base: np.ndarray, k: int) -> bytes:
    net.params[...] = base + k
    return model_to_bytes(net)


def _temp_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def kill_during_saves(tmp_path: Path, kills: int, seed: int) -> Counter[str]:
    rng = random.Random(seed)
    script = tmp_path / "saver.py"
    script.write_text(SAVER.format(sizes=SIZES))
    path = tmp_path / "model.safetensors"
    net = chainrule.MLP(SIZES, dtype="float64", seed=0)
    base = net.params.copy()
    save_model(net, path)  # version 0
    net.params[...] = base
    expected = {0: model_to_bytes(net)}
    current = 0
    seen: Counter[str] = Counter()
    for _ in range(kills):
        proc = subprocess.Popen([sys.executable, str(script), str(path), str(current + 1)],
                                stdout=subprocess.PIPE, text=True, env=ENV)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.6))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        done = [int(line) for line in proc.stdout.read().split()]
        proc.stdout.close()
        last = done[-1] if done else current
        left = _temp_files(tmp_path)
        seen["temp file left by the kill (killed inside a save)"] += bool(left)
        data = path.read_bytes()
        # The file is the last version whose save returned, or the one in flight if its
        # rename had happened: never a mix, never truncated.
        candidates = {k: expected.get(k) or _version(net, base, k) for k in (last, last + 1)}
        matches = [k for k, b in candidates.items() if b == data]
        assert matches, f"{path} after a kill is neither version {last} nor {last + 1}"
        seen["file is the previous save's"] += matches[0] == last
        seen["file is the save in flight's (renamed just before the kill)"] += (
            matches[0] == last + 1)
        loaded = chainrule.load(path)
        assert np.array_equal(loaded.params, base + matches[0])
        current = matches[0]
        expected = {current: data}
        # The next save sweeps what the killed writer left.
        net.params[...] = base + current
        save_model(net, path)
        assert _temp_files(tmp_path) == [], "a temporary file survived the next save"
    return seen


def test_five_kills_during_saves(tmp_path: Path) -> None:
    seen = kill_during_saves(tmp_path, 5, seed=1)
    assert sum(v for k, v in seen.items() if k.startswith("file is")) == 5
    print(dict(seen))


@pytest.mark.slow
def test_forty_kills_during_saves(tmp_path: Path) -> None:
    seen = kill_during_saves(tmp_path, 40, seed=2)
    assert sum(v for k, v in seen.items() if k.startswith("file is")) == 40
    assert seen["temp file left by the kill (killed inside a save)"] >= 5  # it did hit saves
    print(dict(seen))


# -- kills during chainrule train -------------------------------------------------------------
#: Few training samples and wide layers: checkpoints of 7 MiB (weights and Adam moments),
#: so writing them is a good share of each epoch and some kills land inside a save.
FLAGS = ["--dataset", "digits", "--hidden", "512,512", "--epochs", "20", "--batch-size", "64",
         "--val-split", "0.5", "--test-split", "0.4", "--dtype", "float64"]

REFERENCE = textwrap.dedent("""
    import sys, time
    import numpy as np
    from chainrule.training.callbacks import Callback
    from chainrule.cli import main

    params = {}

    class Record(Callback):
        def on_epoch_end(self, trainer, logs):
            params[f"epoch{trainer.epoch}"] = trainer.net.params.copy()

    import chainrule.cli.train as t
    train = t.train
    t.train = lambda cfg, **kw: train(cfg, callbacks=[Record()], **kw)
    start = time.perf_counter()
    assert main(["train", *sys.argv[3:], "--out", sys.argv[1], "--quiet"]) == 0
    params["seconds"] = np.array(time.perf_counter() - start)
    np.savez(sys.argv[2], **params)
""")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[int, np.ndarray],
                                                                 np.ndarray, float]:
    """Every epoch's weights and the final ones of the uninterrupted run (in a process
    like the killed ones), and how long that run took."""
    tmp = tmp_path_factory.mktemp("reference")
    script = tmp / "reference.py"
    script.write_text(REFERENCE)
    start = time.perf_counter()
    subprocess.run([sys.executable, str(script), str(tmp / "run"), str(tmp / "ref.npz"),
                    *FLAGS], check=True, env=ENV, timeout=600)
    seconds = time.perf_counter() - start
    with np.load(tmp / "ref.npz") as f:
        per_epoch = {int(k[5:]): f[k] for k in f.files if k.startswith("epoch")}
    final = chainrule.load(tmp / "run" / "model.safetensors").params
    return per_epoch, final, seconds


def _status(run: Path) -> dict[str, Any]:
    return dict(json.loads((run / "metrics.json").read_text()))


def kill_during_train(tmp_path: Path, kills: int, seed: int, reference: Any) -> Counter[str]:
    """``kills`` SIGKILLs, each at a random moment of a ``chainrule train`` process: a
    fresh run, or the ``--resume`` of the run the last kill interrupted (its next save);
    a run that completes is checked and the next kill starts a new one."""
    per_epoch, final, seconds = reference
    rng = random.Random(seed)
    seen: Counter[str] = Counter()
    runs = [tmp_path / "run0"]
    stale: set[str] = set()  # temporary files the kills left in the current run
    for _ in range(kills):
        run = runs[-1]
        if run.exists() and _status(run)["status"] == "complete":
            run = tmp_path / f"run{len(runs)}"
            runs.append(run)
            stale = set()
        argv = (["train", "--resume", str(run), "--quiet"] if run.exists() else
                ["train", *FLAGS, "--out", str(run), "--quiet"])
        proc = subprocess.Popen([sys.executable, "-m", "chainrule", *argv], env=ENV,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            proc.wait(timeout=rng.uniform(0.0, seconds))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
        rc = proc.wait(timeout=30)
        assert proc.stderr is not None
        err = proc.stderr.read().decode()
        proc.stderr.close()
        assert rc in (0, -signal.SIGKILL), err
        seen["finished before the kill" if rc == 0 else "killed"] += 1
        if not run.exists():
            seen["killed before its run directory existed"] += 1
            continue
        # A run directory is complete or says it is not ...
        info = _status(run)
        assert info["status"] in ("running", "complete"), info
        seen[f"status {info['status']}"] += 1
        # ... the next save removed what an earlier kill left ...
        temps = set(_temp_files(run))
        if info["status"] == "complete" or info.get("pid") == proc.pid:
            assert not temps & stale, f"left by an earlier kill, not swept: {temps & stale}"
            stale = set()
        stale |= temps
        seen["temporary file left by this kill"] += bool(temps)
        # ... and every model in it loads and is exactly the uninterrupted run's.
        if (run / CHECKPOINT).exists():
            resumed = read_checkpoint(run)
            assert np.array_equal(resumed.net.params, per_epoch[resumed.state.epoch])
            seen["checkpoint loads, equal to the uninterrupted run's of its epoch"] += 1
        else:
            seen["no checkpoint yet"] += 1
        if (run / BEST).exists():
            best = read_checkpoint(run, name=BEST)
            assert np.array_equal(best.net.params, per_epoch[best.state.epoch])
        if (run / "model.safetensors").exists():
            assert np.array_equal(chainrule.load(run / "model.safetensors").params, final)
    # Finish the last run; every run then ends as the uninterrupted one, with no
    # temporary file anywhere.
    run = runs[-1]
    if not run.exists() or _status(run)["status"] != "complete":
        argv = (["train", "--resume", str(run), "--quiet"] if run.exists() else
                ["train", *FLAGS, "--out", str(run), "--quiet"])
        result = subprocess.run([sys.executable, "-m", "chainrule", *argv], env=ENV,
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr
    for run in runs:
        assert _status(run)["status"] == "complete"
        assert np.array_equal(chainrule.load(run / "model.safetensors").params, final)
        assert _temp_files(run) == []
    assert _temp_files(tmp_path) == []
    seen["runs completed"] = len(runs)
    return seen


def test_five_kills_during_train(tmp_path: Path, reference: Any) -> None:
    seen = kill_during_train(tmp_path, 5, seed=3, reference=reference)
    print(dict(seen))


@pytest.mark.slow
def test_forty_kills_during_train(tmp_path: Path, reference: Any) -> None:
    seen = kill_during_train(tmp_path, 40, seed=4, reference=reference)
    assert seen["checkpoint loads, equal to the uninterrupted run's of its epoch"] >= 10
    print(dict(seen))
