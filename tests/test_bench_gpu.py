"""bench/gpu.py, the GPU device check (issue 15), run here on the CPU: a tiny synthetic run
gives a complete table, and ``--device cuda`` without a GPU exits 1 with one clear line."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "bench" / "gpu.py"

torch = pytest.importorskip("torch")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True,
                          text=True, timeout=300, env=env)


def test_cpu_smoke_run_writes_a_row_for_every_contender(tmp_path):
    out = tmp_path / "gpu.json"
    proc = run("--device", "cpu", "--synthetic", "--epochs", "1", "--limit", "2000",
               "--repeats", "1", "--json", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| work | contender |" in proc.stdout
    report = json.loads(out.read_text())
    rows = report["rows"]
    assert report["meta"]["n_train"] == 2000
    by = {}
    for r in rows:
        by.setdefault(r["contender"], []).append(r)
    for name in ("chainrule-torch", "chainrule-numpy", "pytorch-eager"):
        assert len(by[name]) == 3, name  # one row per piece of work
        for r in by[name]:
            assert r["note"] is None, r
            assert math.isfinite(r["seconds"]) and r["seconds"] > 0, r
            assert 0.0 <= r["accuracy"] <= 1.0, r
    assert all(r["ratio"] == 1.0 for r in by["pytorch-eager"])
    assert len(by["pytorch-compile"]) == 3  # timed, or a row saying why compile failed
    assert len(by["chainrule-cupy"]) == 3
    if importlib.util.find_spec("cupy") is None:
        assert all("not installed" in r["note"] for r in by["chainrule-cupy"])
        assert all(r["seconds"] is None for r in by["chainrule-cupy"])


def test_cuda_without_a_gpu_exits_1_with_one_line():
    # No GPU for the process, on any machine: CUDA_VISIBLE_DEVICES="" hides every device
    # from torch and CuPy.
    proc = run("--device", "cuda", "--synthetic", "--limit", "100",
               env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert proc.returncode == 1
    assert "CUDA" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert proc.stdout == ""
