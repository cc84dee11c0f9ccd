"""The compiled step's building blocks that are not per-element rules: small GEMM loops,
softmax rows, softmax + cross-entropy from logits, and the accuracy count.

These are the network's own formulas (:mod:`chainrule.layers`, ``Softmax.forward`` /
``backward``, ``CrossEntropy.value_from_logits``, ``training.n_correct``), row by row. They
are compiled into the generated step (:mod:`chainrule.compiled.codegen`); the tests prove
the whole step equal to :mod:`chainrule.reference`.

The GEMM loops are for small layers, where a BLAS call costs more than the arithmetic; the
step calls BLAS (``np.dot`` with ``out``) above a size threshold. ``reassoc`` lets LLVM
vectorise the dot products; no other fast-math flag is set (NaN and inf propagate, so the
divergence checks still see them).
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np

_GEMM: dict[str, Any] = {"cache": True, "error_model": "numpy", "nogil": True,
                         "fastmath": {"reassoc", "contract"}}
_ROW: dict[str, Any] = {"cache": True, "error_model": "numpy", "nogil": True}


@numba.njit(**_GEMM)
def gemm_abt(a, w, z):  # pragma: no cover - compiled
    """z = a wᵀ: (n, k) × (m, k) → (n, m); the forward GEMM."""
    n, k = a.shape
    m = w.shape[0]
    for i in range(n):
        for j in range(m):
            s = z.dtype.type(0)
            for q in range(k):
                s += a[i, q] * w[j, q]
            z[i, j] = s


@numba.njit(**_GEMM)
def gemm_atb(d, a, gw):  # pragma: no cover - compiled
    """gw = dᵀ a: (n, m) × (n, k) → (m, k); ∂C/∂w."""
    n, m = d.shape
    k = a.shape[1]
    for j in range(m):
        for q in range(k):
            gw[j, q] = 0
        for i in range(n):
            dij = d[i, j]
            for q in range(k):
                gw[j, q] += dij * a[i, q]


@numba.njit(**_GEMM)
def gemm_ab(d, w, gp):  # pragma: no cover - compiled
    """gp = d w: (n, m) × (m, k) → (n, k); ∂C/∂a_prev."""
    n, m = d.shape
    k = w.shape[1]
    for i in range(n):
        for q in range(k):
            gp[i, q] = 0
        for j in range(m):
            dij = d[i, j]
            for q in range(k):
                gp[i, q] += dij * w[j, q]


@numba.njit(**_ROW)
def softmax_rows(z, b, a):  # pragma: no cover - compiled
    """z += b, then a = softmax(z) row by row (shift by the row max, as Softmax.forward)."""
    n, m = z.shape
    for i in range(n):
        mx = -np.inf
        for j in range(m):
            v = z[i, j] + b[j]
            z[i, j] = v
            if v > mx or math.isnan(v):
                mx = v
        s = 0.0
        for j in range(m):
            e = math.exp(np.float64(z[i, j]) - mx)
            a[i, j] = e
            s += e
        for j in range(m):
            a[i, j] = a[i, j] / s


@numba.njit(**_ROW)
def softmax_jvp_rows(a, ga, delta, gb):  # pragma: no cover - compiled
    """δ = a ⊙ (∂C/∂a − Σ_i a_i ∂C/∂a_i) (Softmax.backward); gb = Σ over rows of δ."""
    n, m = a.shape
    for j in range(m):
        gb[j] = 0
    for i in range(n):
        s = 0.0
        for j in range(m):
            s += np.float64(ga[i, j]) * a[i, j]
        for j in range(m):
            d = (ga[i, j] - s) * a[i, j]
            delta[i, j] = d
            gb[j] += delta[i, j]


@numba.njit(**_ROW)
def cross_entropy_from_logits(z, y):  # pragma: no cover - compiled
    """Σ_i C_i with C_i = −Σ_j y_j (z_j − logsumexp(z)) (CrossEntropy.value_from_logits)."""
    n, m = z.shape
    total = 0.0
    for i in range(n):
        mx = -np.inf
        for j in range(m):
            if z[i, j] > mx or math.isnan(z[i, j]):
                mx = np.float64(z[i, j])
        s = 0.0
        for j in range(m):
            s += math.exp(z[i, j] - mx)
        lse = math.log(s) + mx
        c = 0.0
        for j in range(m):
            c -= y[i, j] * (z[i, j] - lse)
        total += c
    return total


@numba.njit(**_ROW)
def n_correct(a, y, independent):  # pragma: no cover - compiled
    """training.n_correct: argmax match, or every output on the right side of 0.5."""
    n, m = a.shape
    count = 0
    if m == 1 or independent:
        for i in range(n):
            ok = 1
            for j in range(m):
                if (a[i, j] >= 0.5) != (y[i, j] >= 0.5):
                    ok = 0
            count += ok
        return count
    for i in range(n):
        ja, jy = 0, 0
        for j in range(1, m):
            if a[i, j] > a[i, ja]:
                ja = j
            if y[i, j] > y[i, jy]:
                jy = j
        count += ja == jy
    return count


@numba.njit(**_ROW)
def bias_grad_rows(delta, gb):  # pragma: no cover - compiled
    """gb = Σ over rows of δ (∂C/∂b)."""
    n, m = delta.shape
    for j in range(m):
        gb[j] = 0
    for i in range(n):
        for j in range(m):
            gb[j] += delta[i, j]


@numba.njit(**_ROW)
def sum_of_squares(v):  # pragma: no cover - compiled
    """Σ_i v_i² in float64 (‖g‖² for clipping and the divergence check), in 8 interleaved
    partial sums added in a fixed order: the same bits every run, and no add waits for the
    one before it (one running sum is a chain of dependent adds, ≈ 4 cycles each: 0.3 ms
    over MNIST's 235,146 parameters)."""
    n = v.shape[0]
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    end = n - n % 8
    for i in range(0, end, 8):
        s0 += np.float64(v[i]) * v[i]
        s1 += np.float64(v[i + 1]) * v[i + 1]
        s2 += np.float64(v[i + 2]) * v[i + 2]
        s3 += np.float64(v[i + 3]) * v[i + 3]
        s4 += np.float64(v[i + 4]) * v[i + 4]
        s5 += np.float64(v[i + 5]) * v[i + 5]
        s6 += np.float64(v[i + 6]) * v[i + 6]
        s7 += np.float64(v[i + 7]) * v[i + 7]
    for i in range(end, n):
        s0 += np.float64(v[i]) * v[i]
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
