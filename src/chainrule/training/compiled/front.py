"""The compiled step's input layers: a table network's categorical lookup
(:class:`~chainrule.engine.embeddings.CategoricalEmbedding`) and periodic numeric features
(:class:`~chainrule.engine.periodic.PeriodicEmbedding`), forward and backward, sample by
sample.

These are the layers' own formulas (their docstrings' Notes), in the order the NumPy
methods compute them: θ = x · (2π c), e = (cos θ) wᵀ_cos + (sin θ) wᵀ_sin + b; backward
∂C/∂θ = (G w_sin) cos θ − (G w_cos) sin θ, ∂C/∂c = Σ_i ∂C/∂θ · (2π x), ∂C/∂x = G_x +
Σ_j ∂C/∂θ_j (2π c_j), and the lookup's scatter-add of G into the looked-up columns. The
layers' gradients are summed over the samples in float64 (``acc``) and then stored in the
network's dtype, as the lookup's ``np.bincount`` does. The codes are checked before a call
(:func:`chainrule.training.compiled.layout.check_codes`): a code here is always in range.

The layout ``front`` (int64) is written by :func:`chainrule.training.compiled.layout.front`;
``fmeta`` holds the buffer offsets for one batch size. ``tests/test_compiled_table.py``
proves the step equal to the NumPy layers.
"""

from __future__ import annotations

import math
from typing import Any

import numba

_ROW: dict[str, Any] = {"cache": True, "error_model": "numpy", "nogil": True}

# front[...]: the layout's fixed slots (the variable parts start at the *_AT slots)
HAS_CAT, HAS_PER, N0, N1, N_KEEP, N_CODES, KEEP_AT, CODES_AT = 0, 1, 2, 3, 4, 5, 6, 7
P, K, D, C_OFF, W_OFF, B_OFF, N2, COLS_AT, CAT_ACC = 8, 9, 10, 11, 12, 13, 14, 15, 16
WIDTH = 17
# fmeta[...]: offsets in the step's buffer for a batch of n rows
A1, A2, G1, TRIG = 0, 1, 2, 3

TWO_PI = 2.0 * math.pi


@numba.njit(**_ROW)
def lookup_forward(params, x, front, a1):  # pragma: no cover - compiled
    """a1 = (passed columns of x, then each code column's vector w_c[:, k])."""
    n = x.shape[0]
    n_keep, n_codes = front[N_KEEP], front[N_CODES]
    keep_at, codes_at = front[KEEP_AT], front[CODES_AT]
    for i in range(n):
        for j in range(n_keep):
            a1[i, j] = x[i, front[keep_at + j]]
        offset = n_keep
        for c in range(n_codes):
            col, m, d, w_off = (front[codes_at + 4 * c], front[codes_at + 4 * c + 1],
                                front[codes_at + 4 * c + 2], front[codes_at + 4 * c + 3])
            k = int(x[i, col])
            for r in range(d):
                a1[i, offset + r] = params[w_off + r * m + k]  # a_j = w_jk
            offset += d


@numba.njit(**_ROW)
def lookup_backward(grads, x, front, g1, acc):  # pragma: no cover - compiled
    """∂C/∂w_c[r, k] = Σ_{i: k_i = k} G1[i, r]: the scatter-add (summed in float64)."""
    n = x.shape[0]
    n_keep, n_codes, codes_at = front[N_KEEP], front[N_CODES], front[CODES_AT]
    for q in range(front[CAT_ACC]):
        acc[q] = 0.0
    for i in range(n):
        offset, base = n_keep, 0
        for c in range(n_codes):
            col, m, d = (front[codes_at + 4 * c], front[codes_at + 4 * c + 1],
                         front[codes_at + 4 * c + 2])
            k = int(x[i, col])
            for r in range(d):
                acc[base + r * m + k] += g1[i, offset + r]
            offset += d
            base += d * m
    base = 0
    for c in range(n_codes):
        m, d, w_off = (front[codes_at + 4 * c + 1], front[codes_at + 4 * c + 2],
                       front[codes_at + 4 * c + 3])
        for q in range(d * m):
            grads[w_off + q] = acc[base + q]
        base += d * m


@numba.njit(**_ROW)
def periodic_forward(params, a1, front, a2, trig):  # pragma: no cover - compiled
    """a2 = (a1, e_1, …, e_P), e_pr = Σ_j w_pr,j cos θ_pj + Σ_j w_pr,k+j sin θ_pj + b_pr;
    cos θ and sin θ of every sample and column kept in ``trig`` (n, P, 2k) for the
    backward pass (the NumPy layer computes them again there: same values)."""
    n, n1 = a1.shape
    n_p, k, d = front[P], front[K], front[D]
    c_off, w_off, b_off, cols_at = front[C_OFF], front[W_OFF], front[B_OFF], front[COLS_AT]
    two_pi = a1.dtype.type(TWO_PI)
    for i in range(n):
        for j in range(n1):
            a2[i, j] = a1[i, j]
        for p in range(n_p):
            x = a1[i, front[cols_at + p]]
            u = (i * n_p + p) * 2 * k  # u_p = (cos θ_p, sin θ_p), kept for the backward pass
            for j in range(k):
                theta = x * (two_pi * params[c_off + p * k + j])  # θ = x · (2π c)
                trig[u + j], trig[u + k + j] = math.cos(theta), math.sin(theta)
            for r in range(d):
                row = w_off + (p * d + r) * 2 * k
                e_cos = a1.dtype.type(0)
                e_sin = a1.dtype.type(0)
                for j in range(k):
                    e_cos += trig[u + j] * params[row + j]
                    e_sin += trig[u + k + j] * params[row + k + j]
                a2[i, n1 + p * d + r] = e_cos + e_sin + params[b_off + p * d + r]


@numba.njit(**_ROW)
def periodic_backward(params, grads, a1, front, g2, g1, trig, acc,
                      need_g1):  # pragma: no cover - compiled
    """From G = ∂C/∂a2 and the forward pass's cos θ, sin θ (``trig``): ∂C/∂c, ∂C/∂w,
    ∂C/∂b (summed in float64 in ``acc`` after the lookup's part) and, with ``need_g1``,
    ∂C/∂a1 = G_x + Σ_j ∂C/∂θ_j (2π c_j)."""
    n, n1 = a1.shape
    n_p, k, d = front[P], front[K], front[D]
    c_off, w_off, b_off, cols_at = front[C_OFF], front[W_OFF], front[B_OFF], front[COLS_AT]
    base_c = front[CAT_ACC]
    base_w = base_c + n_p * k
    base_b = base_w + n_p * d * 2 * k
    size = base_b + n_p * d
    for q in range(base_c, size):
        acc[q] = 0.0
    dt = a1.dtype.type
    two_pi = dt(TWO_PI)
    for i in range(n):
        if need_g1:
            for j in range(n1):
                g1[i, j] = g2[i, j]  # the x passed on: ∂C/∂a_prev = ∂C/∂a
        for p in range(n_p):
            col = front[cols_at + p]
            x = a1[i, col]
            u = (i * n_p + p) * 2 * k  # cos θ, sin θ of the forward pass
            for r in range(d):
                g = g2[i, n1 + p * d + r]
                acc[base_b + p * d + r] += g  # ∂C/∂b_pr = Σ_i G_ipr
                row = (p * d + r) * 2 * k
                for q in range(2 * k):
                    acc[base_w + row + q] += g * trig[u + q]  # ∂C/∂w_prq = Σ_i G_ipr u_ipq
            gx = dt(0)
            two_pi_x = two_pi * x
            for j in range(k):
                gu_cos = dt(0)
                gu_sin = dt(0)
                for r in range(d):
                    g = g2[i, n1 + p * d + r]
                    row = w_off + (p * d + r) * 2 * k
                    gu_cos += g * params[row + j]  # ∂C/∂u_pq = Σ_r G_pr w_prq
                    gu_sin += g * params[row + k + j]
                # cos′ = −sin, sin′ = cos: ∂C/∂θ_pj
                g_theta = gu_sin * trig[u + j] - gu_cos * trig[u + k + j]
                acc[base_c + p * k + j] += g_theta * two_pi_x  # ∂C/∂c = ∂C/∂θ · 2π x
                gx += g_theta * (two_pi * params[c_off + p * k + j])
            if need_g1:
                g1[i, col] += gx
    for q in range(n_p * k):
        grads[c_off + q] = acc[base_c + q]
    for q in range(n_p * d * 2 * k):
        grads[w_off + q] = acc[base_w + q]
    for q in range(n_p * d):
        grads[b_off + q] = acc[base_b + q]


@numba.njit(**_ROW)
def front_forward(params, x, front, fmeta, buf):  # pragma: no cover - compiled
    """The input layers' output (n, width) — what the first Dense layer reads."""
    n = x.shape[0]
    trig = buf[fmeta[TRIG]:fmeta[TRIG] + n * front[P] * 2 * front[K]]
    if front[HAS_CAT]:
        a1 = buf[fmeta[A1]:fmeta[A1] + n * front[N1]].reshape((n, front[N1]))
        lookup_forward(params, x, front, a1)
        if not front[HAS_PER]:
            return a1
        a2 = buf[fmeta[A2]:fmeta[A2] + n * front[N2]].reshape((n, front[N2]))
        periodic_forward(params, a1, front, a2, trig)
        return a2
    a2 = buf[fmeta[A2]:fmeta[A2] + n * front[N2]].reshape((n, front[N2]))
    periodic_forward(params, x, front, a2, trig)
    return a2


@numba.njit(**_ROW)
def front_output(x, front, fmeta, buf):  # pragma: no cover - compiled
    """The view :func:`front_forward` wrote."""
    n = x.shape[0]
    if front[HAS_PER]:
        return buf[fmeta[A2]:fmeta[A2] + n * front[N2]].reshape((n, front[N2]))
    return buf[fmeta[A1]:fmeta[A1] + n * front[N1]].reshape((n, front[N1]))


@numba.njit(**_ROW)
def front_backward(params, grads, x, front, fmeta, buf, acc, g):  # pragma: no cover
    """The input layers' gradients from g = ∂C/∂(their output), the last layer first."""
    n = x.shape[0]
    trig = buf[fmeta[TRIG]:fmeta[TRIG] + n * front[P] * 2 * front[K]]
    if front[HAS_PER]:
        has_cat = front[HAS_CAT] != 0
        if has_cat:
            a1 = buf[fmeta[A1]:fmeta[A1] + n * front[N1]].reshape((n, front[N1]))
            g1 = buf[fmeta[G1]:fmeta[G1] + n * front[N1]].reshape((n, front[N1]))
            periodic_backward(params, grads, a1, front, g, g1, trig, acc, True)
            lookup_backward(grads, x, front, g1, acc)
        else:
            periodic_backward(params, grads, x, front, g, g, trig, acc, False)
    else:
        lookup_backward(grads, x, front, g, acc)
