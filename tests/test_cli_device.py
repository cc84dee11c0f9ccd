"""``chainrule train --device / --backend``: the fit on another array library, the same
files and (to float32 rounding) the same run; missing devices refused before anything
is written."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule
from chainrule.cli import main


def train(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["train", "--epochs", "3", *argv])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine without a GPU, whatever this one has: torch finds no CUDA device and
    CuPy is not installed."""
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy raises ImportError


def losses(run: Path) -> list[float]:
    return [float(r["loss"]) for r in csv.DictReader((run / "history.csv").open())]


def test_torch_backend_trains_the_same_run(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("array_api_compat")
    code, _, _ = train("--out", str(tmp_path / "numpy"))
    assert code == 0
    code, stdout, _ = train("--backend", "torch", "--out", str(tmp_path / "torch"))
    assert code == 0 and "training on torch cpu" in stdout
    np.testing.assert_allclose(losses(tmp_path / "torch"), losses(tmp_path / "numpy"),
                               rtol=1e-3)
    acc = [json.loads((tmp_path / r / "metrics.json").read_text())["test"]["accuracy"]
           for r in ("numpy", "torch")]
    assert abs(acc[0] - acc[1]) <= 0.02 and acc[1] > 0.9
    net = chainrule.load(tmp_path / "torch" / "model.safetensors")  # a host model file
    assert net.backend == "numpy" and net.scaler is not None
    metrics = json.loads((tmp_path / "torch" / "metrics.json").read_text())
    assert metrics["diagnosis"]  # the health monitor sampled the device run


@pytest.mark.usefixtures("no_gpu")
def test_auto_without_a_gpu_is_the_cpu(tmp_path: Path) -> None:
    code, stdout, _ = train("--device", "auto", "--out", str(tmp_path / "run"))
    assert code == 0 and "training on" not in stdout


@pytest.mark.parametrize("argv, message", [
    (["--device", "gpu"], "--device: expected cpu, cuda, cuda:N or auto, got 'gpu'"),
    (["--backend", "cupy"], "--backend cupy: CuPy computes on a GPU; give --device cuda"),
    (["--device", "cuda", "--backend", "numpy"], "the numpy backend runs on the CPU only"),
])
def test_bad_device_flags_are_one_line(tmp_path: Path, argv: list[str], message: str) -> None:
    code, stdout, stderr = train(*argv, "--out", str(tmp_path / "run"))
    assert code == 1 and message in stderr and not (tmp_path / "run").exists()


@pytest.mark.usefixtures("no_gpu")
def test_missing_cuda_says_so_and_writes_nothing(tmp_path: Path) -> None:
    code, _, stderr = train("--device", "cuda", "--out", str(tmp_path / "run"))
    assert code == 1 and "--device cuda: no usable GPU backend" in stderr
    assert "finds no CUDA device" in stderr and stderr.count("\n") == 1
    assert not (tmp_path / "run").exists()
