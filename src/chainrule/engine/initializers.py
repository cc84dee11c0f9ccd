"""Weight initializers. Each takes the generator explicitly: no hidden global RNG.

Every function returns ``w`` of shape ``(n_out, n_in)``, so ``w[j, k]`` is w_jk.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import DTypeLike, NDArray

Initializer = Callable[[np.random.Generator, int, int, DTypeLike], NDArray[np.floating]]


def glorot_uniform(rng: np.random.Generator, n_in: int, n_out: int, dtype: DTypeLike) -> NDArray:
    """U(−r, r) with r = √(6 / (n_in + n_out)) (Glorot & Bengio 2010)."""
    r = math.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-r, r, size=(n_out, n_in)).astype(dtype)


def glorot_normal(rng: np.random.Generator, n_in: int, n_out: int, dtype: DTypeLike) -> NDArray:
    """N(0, 2 / (n_in + n_out))."""
    return (rng.standard_normal((n_out, n_in)) * math.sqrt(2.0 / (n_in + n_out))).astype(dtype)


def he_uniform(rng: np.random.Generator, n_in: int, n_out: int, dtype: DTypeLike) -> NDArray:
    """U(−r, r) with r = √(6 / n_in) (He et al. 2015), for ReLU-like layers."""
    r = math.sqrt(6.0 / n_in)
    return rng.uniform(-r, r, size=(n_out, n_in)).astype(dtype)


def he_normal(rng: np.random.Generator, n_in: int, n_out: int, dtype: DTypeLike) -> NDArray:
    """N(0, 2 / n_in)."""
    return (rng.standard_normal((n_out, n_in)) * math.sqrt(2.0 / n_in)).astype(dtype)


def lecun_normal(rng: np.random.Generator, n_in: int, n_out: int, dtype: DTypeLike) -> NDArray:
    """N(0, 1 / n_in)."""
    return (rng.standard_normal((n_out, n_in)) * math.sqrt(1.0 / n_in)).astype(dtype)


def scaled_normal(
    rng: np.random.Generator, n_in: int, n_out: int, dtype: DTypeLike, scale: float = 0.01
) -> NDArray:
    """N(0, scale²): the plain small-random-numbers start."""
    return (rng.standard_normal((n_out, n_in)) * scale).astype(dtype)


INITIALIZERS: dict[str, Initializer] = {
    "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
    "lecun_normal": lecun_normal,
    "scaled_normal": scaled_normal,
}

def get_initializer(name: str) -> Initializer:
    if not isinstance(name, str) or name not in INITIALIZERS:
        raise ValueError(
            f"init: unknown initializer {name!r}; valid names are {', '.join(INITIALIZERS)}"
        )
    return INITIALIZERS[name]
