"""Two-dimensional data sets generated in code, for teaching and for plots.

Each generator takes ``n_samples``, ``noise`` (standard deviation of Gaussian
jitter, in the data's units) and an explicit ``rng``; it returns ``X`` of shape
(n_samples, 2), float64, and integer labels ``y`` of shape (n_samples,).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

XY = tuple[NDArray[np.float64], NDArray[np.int64]]


def _check(n_samples: int, noise: float) -> None:
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 2:
        raise ValueError(f"n_samples: expected an integer ≥ 2, got {n_samples!r}")
    if not (isinstance(noise, (int, float)) and np.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise: expected a non-negative number, got {noise!r}")


def _split(n: int, k: int) -> list[int]:
    """n samples over k classes as evenly as possible."""
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


def xor(n_samples: int = 200, noise: float = 0.1, *, rng: np.random.Generator) -> XY:
    """Points in [−1, 1]²; label 1 where x₁·x₂ < 0 (the XOR of the two signs)."""
    _check(n_samples, noise)
    X = rng.uniform(-1, 1, size=(n_samples, 2))
    X += np.sign(X) * 0.1  # keep a margin around the axes
    y = (X[:, 0] * X[:, 1] < 0).astype(np.int64)
    return X + rng.normal(0, noise, X.shape), y


def circles(n_samples: int = 200, noise: float = 0.1, *, rng: np.random.Generator,
            factor: float = 0.5) -> XY:
    """A small circle (label 1) inside a large one (label 0)."""
    _check(n_samples, noise)
    n_out, n_in = _split(n_samples, 2)
    t_out = rng.uniform(0, 2 * np.pi, n_out)
    t_in = rng.uniform(0, 2 * np.pi, n_in)
    X = np.vstack([
        np.column_stack([np.cos(t_out), np.sin(t_out)]),
        factor * np.column_stack([np.cos(t_in), np.sin(t_in)]),
    ])
    y = np.concatenate([np.zeros(n_out, np.int64), np.ones(n_in, np.int64)])
    return X + rng.normal(0, noise, X.shape), y


def moons(n_samples: int = 200, noise: float = 0.1, *, rng: np.random.Generator) -> XY:
    """Two interleaving half circles."""
    _check(n_samples, noise)
    n0, n1 = _split(n_samples, 2)
    t0 = rng.uniform(0, np.pi, n0)
    t1 = rng.uniform(0, np.pi, n1)
    X = np.vstack([
        np.column_stack([np.cos(t0), np.sin(t0)]),
        np.column_stack([1 - np.cos(t1), 0.5 - np.sin(t1)]),
    ])
    y = np.concatenate([np.zeros(n0, np.int64), np.ones(n1, np.int64)])
    return X + rng.normal(0, noise, X.shape), y


def spirals(n_samples: int = 200, noise: float = 0.1, *, rng: np.random.Generator,
            n_classes: int = 2, turns: float = 1.5) -> XY:
    """``n_classes`` interleaved spiral arms."""
    _check(n_samples, noise)
    parts, labels = [], []
    for c, n_c in enumerate(_split(n_samples, n_classes)):
        r = rng.uniform(0.05, 1.0, n_c)
        theta = 2 * np.pi * turns * r + 2 * np.pi * c / n_classes
        parts.append(np.column_stack([r * np.cos(theta), r * np.sin(theta)]))
        labels.append(np.full(n_c, c, np.int64))
    X = np.vstack(parts)
    return X + rng.normal(0, noise, X.shape), np.concatenate(labels)


def gaussians(n_samples: int = 200, noise: float = 0.1, *, rng: np.random.Generator,
              n_classes: int = 2) -> XY:
    """``n_classes`` Gaussian blobs on a circle; ``noise`` widens them (std 0.3 + noise)."""
    _check(n_samples, noise)
    parts, labels = [], []
    for c, n_c in enumerate(_split(n_samples, n_classes)):
        angle = 2 * np.pi * c / n_classes + np.pi / 4
        centre = np.array([np.cos(angle), np.sin(angle)])
        parts.append(centre + rng.normal(0, 0.3 + noise, (n_c, 2)))
        labels.append(np.full(n_c, c, np.int64))
    return np.vstack(parts), np.concatenate(labels)


SYNTHETIC: dict[str, Callable[..., XY]] = {
    "xor": xor,
    "circles": circles,
    "moons": moons,
    "spirals": spirals,
    "gaussians": gaussians,
}
"""The two-dimensional generators by name."""


def make(name: str, n_samples: int = 200, noise: float = 0.1, *, seed: int | None = 0,
         rng: np.random.Generator | None = None) -> XY:
    """Generate the named two-dimensional data set."""
    if name not in SYNTHETIC:
        raise ValueError(f"dataset: unknown 2-D data set {name!r}; valid names are "
                         f"{', '.join(SYNTHETIC)}")
    rng = rng if rng is not None else np.random.default_rng(seed)
    return SYNTHETIC[name](n_samples, noise, rng=rng)
