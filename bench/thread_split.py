"""Would splitting Adam over both cores help a two-core training step? (issue 16)

chainrule's compiled step runs its elementwise work (Adam, ‖g‖², activation passes) on one
thread while OpenBLAS runs the GEMMs on two. This measures an Adam update over MNIST's
235,146 parameters, float32, serial and split in two halves with numba ``prange``, alone
and alternated with two of the step's 128×784×256 GEMMs (as in a step), fastest of 7
rounds of 300 iterations. Run it under each numba threading layer::

    python bench/thread_split.py                                  # numba's default (omp)
    NUMBA_THREADING_LAYER=workqueue python bench/thread_split.py
    OMP_WAIT_POLICY=passive python bench/thread_split.py          # OpenMP threads sleep
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numba
import numpy as np
from numba import prange

N = 235_146
_J: dict[str, Any] = dict(nogil=True, error_model="numpy")


@numba.njit(**_J)
def adam_serial(w, g, m, v, lr):  # pragma: no cover - compiled
    b1, b2, eps = np.float32(0.9), np.float32(0.999), np.float32(1e-8)
    for i in range(w.shape[0]):
        m[i] = b1 * m[i] + (1 - b1) * g[i]
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
        w[i] -= lr * m[i] / (np.sqrt(v[i]) + eps)


@numba.njit(parallel=True, **_J)
def adam_split(w, g, m, v, lr):  # pragma: no cover - compiled
    b1, b2, eps = np.float32(0.9), np.float32(0.999), np.float32(1e-8)
    n = w.shape[0]
    half = (n + 1) // 2
    for c in prange(2):
        for i in range(c * half, min(n, (c + 1) * half)):
            m[i] = b1 * m[i] + (1 - b1) * g[i]
            v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
            w[i] -= lr * m[i] / (np.sqrt(v[i]) + eps)


def main() -> None:
    rng = np.random.default_rng(0)
    w, g, m = (rng.standard_normal(N).astype(np.float32) * 0.01 for _ in range(3))
    v = np.abs(rng.standard_normal(N).astype(np.float32)) * 1e-4
    a = rng.standard_normal((128, 784), dtype=np.float32)
    wt = rng.standard_normal((256, 784), dtype=np.float32)
    z = np.empty((128, 256), np.float32)
    lr = np.float32(1e-3)

    def timed(update: Callable[..., None], with_gemms: bool) -> float:
        update(w, g, m, v, lr)
        best = float("inf")
        for _ in range(7):
            t0 = time.perf_counter()
            for _ in range(300):
                if with_gemms:
                    np.dot(a, wt.T, z)
                    np.dot(a, wt.T, z)
                update(w, g, m, v, lr)
            best = min(best, (time.perf_counter() - t0) / 300)
        return best * 1e6

    print("numba threading layer: ", end="")
    adam_split(w, g, m, v, lr)
    print(numba.threading_layer())
    for with_gemms in (False, True):
        what = "with two 128×784×256 GEMMs" if with_gemms else "alone"
        t_serial = timed(adam_serial, with_gemms)
        t_split = timed(adam_split, with_gemms)
        print(f"Adam {what:28s} serial {t_serial:8.1f} µs   split {t_split:8.1f} µs   "
              f"split / serial {t_split / t_serial:.2f}")


if __name__ == "__main__":
    main()
