"""A streamed run interrupted in one process resumes under ``mpirun -n 2 … --distributed``
(issue 31 items 2, 3): the checkpoint holds what every rank needs (rank 0's network and
optimizer state are broadcast, each rank reads its stripes from the position on), and the
run ends within 1e-12 of an unbroken one-process run in float64 (the gradient all-reduce
sums in another order, so not bit for bit)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli import main
from tests.test_distributed import _mpirun
from tests.test_stream_resume import stop_at

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")
pytest.importorskip("datasketches")

TIMEOUT = 300  # seconds for the mpirun; it takes a few


def test_a_streamed_run_resumes_on_two_ranks(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    n = 1_000
    x = rng.normal(size=n)
    c = rng.choice(list("abc"), n)
    frame = pd.DataFrame({"x": x, "c": c, "y": np.where(x + (c == "a") > 0.3, "p", "q")})
    frame.to_parquet(tmp_path / "t.parquet", row_group_size=90)  # 12 row groups
    argv = ["train", "--csv", str(tmp_path / "t.parquet"), "--target", "y", "--stream",
            "--epochs", "3", "--batch-size", "32", "--dtype", "float64", "--quiet"]
    one, out = tmp_path / "one", tmp_path / "broken"
    assert main([*argv, "--out", str(one)]) == 0
    stop_at(monkeypatch, 2, 4)
    assert main([*argv, "--out", str(out), "--checkpoint-batches", "2"]) == 130
    monkeypatch.undo()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.Popen([*_mpirun(), "-n", "2", sys.executable, "-m", "chainrule", "train",
                             "--resume", str(out), "--distributed", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env, start_new_session=True)
    try:
        said, _ = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        said, _ = proc.communicate()
        pytest.fail(f"mpirun hung for {TIMEOUT} s:\n{said}")
    assert proc.returncode == 0, said
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "complete" and metrics["resumed_from"] == [2, 4]
    a, b = cr.load(one / "model.safetensors"), cr.load(out / "model.safetensors")
    assert a.params.dtype == np.float64
    np.testing.assert_allclose(b.params, a.params, rtol=0, atol=1e-12)
