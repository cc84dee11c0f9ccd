"""Optional compiled kernels: Adam's update as one fused loop, and every optimizer's update
as a scalar rule for the compiled training step (:mod:`chainrule.compiled`).

chainrule never needs numba (``pip install chainrule[fast]`` adds it). Without it — or
with the environment variable ``CHAINRULE_NUMBA=0`` — :class:`chainrule.optimizers.Adam`
runs the same arithmetic as a dozen whole-vector NumPy operations. The loop below does
exactly those floating-point operations, element by element, in the same order and
precision (no fast-math, so no reassociation or fused multiply-add), so both paths give
bit-identical parameters; the loop just reads and writes every array once instead of
twelve times. Measured on MNIST's 235,146 float32 parameters: NumPy ≈ 330 µs per step,
this loop ≈ 100 µs (see docs/benchmarks.md).

Importing this module imports numba and compiles the loop for float32 and float64 (about
1 s once per machine; then ~0.5 s to load from numba's cache). :mod:`chainrule.optimizers`
imports it lazily, on the first Adam step of a network with ≥ 32,768 parameters, and
falls back to NumPy if that fails.
"""

from __future__ import annotations

import numba
import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.floating]


# error_model="numpy": division follows IEEE (no ZeroDivisionError branch), which lets
# LLVM vectorise the loop. cache=True: compiled once per machine, then loaded from disk.
@numba.njit(inline="always", error_model="numpy", cache=True)
def _adam_element(w, g, m, v, one_minus_b1, one_minus_b2, eps_hat, step):
    m_new = m + (g - m) * one_minus_b1  # m ← β₁ m + (1 − β₁) g
    v_new = v + (g * g - v) * one_minus_b2  # v ← β₂ v + (1 − β₂) g²
    return w - m_new / (np.sqrt(v_new) + eps_hat) * step, m_new, v_new


# Explicit signatures compile (or load from the cache) at import, not inside the first
# training step: both float types, arrays C-contiguous, scalars of the arrays' type.
_SIGNATURES = [f"void({t}[::1], {t}[::1], {t}[::1], {t}[::1], {t}, {t}, {t}, {t}, {t})"
               for t in ("float32", "float64")]


@numba.njit(_SIGNATURES, error_model="numpy", cache=True, nogil=True)
def _adam_loop(w, g, m, v, one_minus_b1, one_minus_b2, eps_hat, step, flush_below):
    one, zero = w.dtype.type(1), w.dtype.type(0)
    for i in range(w.shape[0]):
        w[i], m_new, v[i] = _adam_element(w[i], g[i], m[i], v[i], one_minus_b1, one_minus_b2,
                                          eps_hat, step)
        # m · [|m| ≥ flush_below], like the NumPy path (flush_below = 0: m · 1 = m)
        m[i] = m_new * (one if abs(m_new) >= flush_below else zero)


def adam_update(
    w: Array, g: Array, m: Array, v: Array, b1: float, b2: float, eps_hat: float, step: float,
    flush_below: float = 0.0,
) -> None:
    """One Adam step in place: ``w``, ``m``, ``v`` updated from the gradient ``g``.

    Parameters
    ----------
    w, g, m, v : ndarray of shape (n_params,)
        Parameters, gradient, first and second moments; C-contiguous, one dtype.
    b1, b2 : float
        β₁ and β₂.
    eps_hat : float
        ε √(1 − β₂ᵗ), the bias-corrected ε.
    step : float
        η √(1 − β₂ᵗ) / (1 − β₁ᵗ), the bias-corrected step size.
    flush_below : float
        m entries smaller than this in magnitude are set to zero after the update
        (subnormal flushing, see :class:`chainrule.optimizers.Adam`); 0 flushes nothing.
    """
    dt = w.dtype.type
    # One thread on purpose: a parallel loop (numba.prange) measured 4× slower per training
    # step on 2 cores, its threads fighting OpenBLAS's still-spinning GEMM threads.
    _adam_loop(w, g, m, v, dt(1.0 - b1), dt(1.0 - b2), dt(eps_hat), dt(step), dt(flush_below))


# -- the other optimizers, for the compiled training step (chainrule.compiled) ---------------
# Each is the NumPy rule of chainrule.optimizers written for one element, with the same
# operations in the same order and precision as its whole-vector form (see the comments);
# tests/test_compiled.py checks them against it bit for bit.
@numba.njit(inline="always", error_model="numpy", cache=True)
def _sgd_element(w, g, lr):
    return w - g * lr  # tmp = g · η; w −= tmp


@numba.njit(inline="always", error_model="numpy", cache=True)
def _momentum_element(w, g, v, mu, lr):
    v_new = v * mu + g  # v *= μ; v += g
    return w - v_new * lr, v_new  # w −= v · η


@numba.njit(inline="always", error_model="numpy", cache=True)
def _nesterov_element(w, g, v, mu, lr):
    v_new = v * mu + g
    return w - (v_new * mu + g) * lr, v_new  # w −= (v · μ + g) · η


@numba.njit(inline="always", error_model="numpy", cache=True)
def _rmsprop_element(w, g, s, one_minus_rho, eps, lr):
    s_new = s + (g * g - s) * one_minus_rho  # s ← ρ s + (1 − ρ) g², as s += (g² − s)(1 − ρ)
    return w - g / (np.sqrt(s_new) + eps) * lr, s_new


#: Codes of :func:`apply_update`, by optimizer name.
UPDATE_CODES = {"sgd": 0, "momentum": 1, "nesterov": 2, "rmsprop": 3, "adam": 4, "adamw": 5}

# The hyper-parameters of one compiled step: one float64 row of HYPER_WIDTH, each at its
# named offset (written in one place, chainrule.training.compiled.CompiledStep._hypers;
# read by the generated step and apply_update). A rule reads only its own offsets.
CLIPNORM = 0  # clip ‖g‖ to this norm; 0: no clipping
LR = 1  # η of this step, from the optimizer's schedule
MOMENTUM = 2  # μ (momentum, Nesterov)
ONE_MINUS_RHO, RMS_EPS = 2, 3  # RMSprop's 1 − ρ and ε
ONE_MINUS_BETA_1, ONE_MINUS_BETA_2 = 2, 3  # Adam's 1 − β₁, 1 − β₂
EPS_HAT = 4  # Adam's ε √(1 − β₂ᵗ) of this step t
ADAM_STEP = 5  # Adam's η √(1 − β₂ᵗ) / (1 − β₁ᵗ)
FLUSH_BELOW = 6  # float32 Adam: m entries below this become 0 this step (0: none)
DECAY = 7  # AdamW's 1 − η λ (1 for Adam)
HYPER_WIDTH = 8


@numba.njit(error_model="numpy", cache=True, nogil=True)
def apply_update(code, w, g, s1, s2, clip, h):  # pragma: no cover - compiled
    """One optimizer step in place on flat ``w`` from gradient ``g`` · ``clip``.

    ``code``: :data:`UPDATE_CODES`. ``h`` (float64): the step's hyper-parameter row, read
    at the named offsets (:data:`LR`, :data:`MOMENTUM`, …). ``s1``, ``s2``: the slots
    (velocity; sq_avg; m, v), unused ones of length 0. ``clip`` = 1 leaves g as it is.
    """
    dt = w.dtype.type
    c = dt(clip)
    lr = dt(h[LR])
    scale = c != dt(1)
    if code == 0:
        for i in range(w.shape[0]):
            gi = g[i] * c if scale else g[i]
            w[i] = _sgd_element(w[i], gi, lr)
    elif code == 1 or code == 2:
        mu = dt(h[MOMENTUM])
        for i in range(w.shape[0]):
            gi = g[i] * c if scale else g[i]
            if code == 1:
                w[i], s1[i] = _momentum_element(w[i], gi, s1[i], mu, lr)
            else:
                w[i], s1[i] = _nesterov_element(w[i], gi, s1[i], mu, lr)
    elif code == 3:
        omr, eps = dt(h[ONE_MINUS_RHO]), dt(h[RMS_EPS])
        for i in range(w.shape[0]):
            gi = g[i] * c if scale else g[i]
            w[i], s1[i] = _rmsprop_element(w[i], gi, s1[i], omr, eps, lr)
    else:
        omb1, omb2 = dt(h[ONE_MINUS_BETA_1]), dt(h[ONE_MINUS_BETA_2])
        eps_hat, step, flush = dt(h[EPS_HAT]), dt(h[ADAM_STEP]), dt(h[FLUSH_BELOW])
        decay = dt(h[DECAY])
        one, zero = dt(1), dt(0)
        for i in range(w.shape[0]):
            gi = g[i] * c if scale else g[i]
            wi = w[i] * decay if code == 5 else w[i]  # AdamW: w *= 1 − η λ first
            w[i], m_new, s2[i] = _adam_element(wi, gi, s1[i], s2[i], omb1, omb2, eps_hat, step)
            s1[i] = m_new * (one if abs(m_new) >= flush else zero)
