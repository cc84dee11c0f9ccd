"""This machine's limit: float32 matmul GFLOP/s at every GEMM shape a training step runs,
and at 4096³; printed as one JSON line (run in its own process by :mod:`compare`).

For a Dense layer with batch B the step runs three GEMMs of 2·B·n_in·n_out flops each:
z = a_prev wᵀ (B×n_in · n_in×n_out), ∂C/∂w = δᵀ a_prev (n_out×B · B×n_in) and
∂C/∂a_prev = δ w (B×n_out · n_out×n_in) — the last one is skipped for layer 1.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import numpy as np
from worker import CASES, THREADS


def gflops(a: np.ndarray, b: np.ndarray, out: np.ndarray, min_time: float = 0.2) -> float:
    """Best-of-5 GFLOP/s of ``a @ b`` into ``out``, each timing at least ``min_time`` s."""
    flops = 2.0 * a.shape[0] * a.shape[1] * b.shape[1]
    np.matmul(a, b, out=out)  # warm up (threads, pages)
    t0 = time.perf_counter()
    reps = 0
    while time.perf_counter() - t0 < min_time / 4:
        np.matmul(a, b, out=out)
        reps += 1
    reps = max(1, int(reps * 4 * (min_time / 4) / max(time.perf_counter() - t0, 1e-9)))
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(reps):
            np.matmul(a, b, out=out)
        best = min(best, (time.perf_counter() - t0) / reps)
    return flops / best / 1e9


def step_gemms(sizes: list[int], batch: int) -> list[tuple[str, tuple[int, int, int]]]:
    """(label, (m, k, n)) of every GEMM one training step of this network runs."""
    out = []
    for layer, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True), start=1):
        out.append((f"l{layer} z", (batch, n_in, n_out)))
        out.append((f"l{layer} grad_w", (n_out, batch, n_in)))
        if layer > 1:
            out.append((f"l{layer} grad_prev", (batch, n_out, n_in)))
    return out


def measure(quick: bool) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    min_time = 0.05 if quick else 0.2
    result: dict[str, Any] = {"cases": {}}
    n = 2048 if quick else 4096
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    result["square_n"] = n
    result["square_numpy"] = gflops(a, b, np.empty_like(a), min_time)
    try:
        import torch

        torch.set_num_threads(THREADS)
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        tout = torch.empty_like(ta)
        torch.matmul(ta, tb, out=tout)
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            torch.matmul(ta, tb, out=tout)
            best = min(best, time.perf_counter() - t0)
        result["square_torch"] = 2.0 * n**3 / best / 1e9
    except ImportError:  # pragma: no cover - torch is a bench dependency
        result["square_torch"] = None
    del a, b
    for case, spec in CASES.items():
        steps_per_epoch = -(-60_000 // spec["batch"])
        rows, step_seconds = [], 0.0
        for label, (m, k, nn) in step_gemms(spec["sizes"], spec["batch"]):
            x = rng.standard_normal((m, k), dtype=np.float32)
            y = rng.standard_normal((k, nn), dtype=np.float32)
            g = gflops(x, y, np.empty((m, nn), np.float32), min_time / 4)
            seconds = 2.0 * m * k * nn / (g * 1e9)
            step_seconds += seconds
            rows.append({"gemm": label, "shape": [m, k, nn], "gflops": g})
        result["cases"][case] = {
            "gemms": rows,
            # The time the GEMMs alone take for the whole run at their measured speed.
            "matmul_seconds": step_seconds * steps_per_epoch * spec["epochs"],
        }
    return result


if __name__ == "__main__":
    sys.stdout.write(json.dumps(measure("--quick" in sys.argv)) + "\n")
    sys.stdout.flush()
    os._exit(0)
