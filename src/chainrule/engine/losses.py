"""Losses: the per-sample cost C_i and its derivative ∂C_i/∂a^(L).

The cost of a batch is the mean of the per-sample costs, C = (1/n) Σ_i C_i,
exactly as the notes average ∂C_i/∂w over the training samples.

Notes
-----
The notes' loss is ``squared_error``:

.. math:: C_0 = \\sum_j (a_j^{(L)} - y_j)^2, \\qquad
          \\frac{\\partial C_0}{\\partial a_j^{(L)}} = 2 (a_j^{(L)} - y_j).

Canonical pairs. For softmax + cross-entropy and sigmoid + binary
cross-entropy the product of the first two chain-rule factors collapses:
δ_j^(L) = ∂C_0/∂a_j · ∂a_j/∂z_j = a_j − y_j. :attr:`Loss.canonical_activation`
names that activation; the network uses the fused form only there (and tests
it against the general path).

``value``, ``grad_a`` and ``value_from_logits`` take the arrays of any Array API namespace
(torch, CuPy, array_api_strict; :mod:`chainrule.backend`) as well as NumPy's; targets are
encoded on the host (``encode_targets``) and copied by the network.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .backend import namespace_of

Array = NDArray[np.floating]

LOSSES: dict[str, type[Loss]] = {}
"""Every loss by name; a subclass with a ``name`` registers itself when defined."""


class Loss(ABC):
    """Base class: ``value`` gives C_i per sample, ``grad_a`` gives ∂C_i/∂a.

    A subclass with a new ``name`` registers itself in :data:`LOSSES`; what it knows
    about its targets (:meth:`encode_targets`, ``classification``,
    ``independent_outputs``) is all the rest of chainrule asks of it.
    """

    name: str = ""
    canonical_activation: str | None = None
    #: Whether targets are class labels (the network may accept integer labels).
    classification: bool = False
    #: Whether the output units are independent yes/no answers (binary or multi-label)
    #: rather than mutually exclusive classes; predictions threshold each at 0.5.
    independent_outputs: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name"):
            LOSSES[cls.name] = cls

    @abstractmethod
    def value(self, a: Array, y: Array) -> Array:
        """C_i for every sample: shape (n_samples,)."""

    @abstractmethod
    def grad_a(self, a: Array, y: Array) -> Array:
        """∂C_i/∂a_j^(L) for every sample and output: shape (n_samples, n_out)."""

    def encode_targets(self, y: NDArray, n_out: int, dtype: np.dtype, name: str = "Y") -> Array:
        """Targets shaped like a^(L), (n_samples, n_out), from finite numeric ``y``.

        ``y`` has one row per sample already (checked by the caller); a 1-D ``y`` is one
        column. Losses that accept another form (class labels) or a restricted range
        override this; every message names the argument ``name``.
        """
        n = y.shape[0]
        if y.ndim == 1:
            if n_out != 1:
                raise ValueError(
                    f"{name}: got a 1-D target but the output layer has {n_out} units; "
                    f"give shape (n_samples, {n_out})"
                )
            y = y.reshape(-1, 1)
        if y.ndim != 2 or y.shape[1] != n_out:
            raise ValueError(
                f"{name}: expected shape ({n}, {n_out}) to match the output layer, got {y.shape}"
            )
        return np.ascontiguousarray(y, dtype=dtype)

    def value_from_logits(self, z: Array, y: Array) -> Array:
        """C_i computed from z^(L) for the canonical pair (more accurate than from a)."""
        raise TypeError(
            f"{self.name} has no canonical output activation, so no cost from logits; "
            "use value(a, y)"
        )

    def get_config(self) -> dict[str, object]:
        return {"name": self.name}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _row_sums_of_products(u: Array, v: Array) -> Array:
    """Σ_j u_ij v_ij per row: NumPy's einsum (no temporary), else the namespace's sum."""
    if type(u) is np.ndarray and type(v) is np.ndarray:
        return np.einsum("ij,ij->i", u, v)
    return namespace_of(u).sum(u * v, axis=1)


class SquaredError(Loss):
    """The notes' loss: C_0 = Σ_j (a_j − y_j)², summed (not averaged) over outputs."""

    name = "squared_error"

    def value(self, a: Array, y: Array) -> Array:
        d = a - y
        return _row_sums_of_products(d, d)

    def grad_a(self, a: Array, y: Array) -> Array:
        return 2.0 * (a - y)  # ∂C0/∂a_j^(L) = 2 (a_j − y_j)


class MSE(Loss):
    """Mean squared error: C_0 = (1/n_out) Σ_j (a_j − y_j)²."""

    name = "mse"

    def value(self, a: Array, y: Array) -> Array:
        d = a - y
        return _row_sums_of_products(d, d) / a.shape[1]

    def grad_a(self, a: Array, y: Array) -> Array:
        return (2.0 / a.shape[1]) * (a - y)


class Huber(Loss):
    """Huber loss summed over outputs: ½d² for |d| ≤ δ, δ(|d| − ½δ) beyond."""

    name = "huber"

    def __init__(self, delta: float = 1.0) -> None:
        if not (isinstance(delta, (int, float)) and np.isfinite(delta) and delta > 0):
            raise ValueError(f"huber: delta must be a positive finite number, got {delta!r}")
        self.delta = float(delta)

    def value(self, a: Array, y: Array) -> Array:
        xp = namespace_of(a)
        d = xp.abs(a - y)
        quad = xp.minimum(d, self.delta)
        return xp.sum(0.5 * quad * quad + self.delta * (d - quad), axis=1)

    def grad_a(self, a: Array, y: Array) -> Array:
        return namespace_of(a).clip(a - y, -self.delta, self.delta)

    def get_config(self) -> dict[str, object]:
        return {"name": self.name, "delta": self.delta}


class CrossEntropy(Loss):
    """Categorical cross-entropy C_0 = −Σ_j y_j log a_j, for a softmax output.

    Targets are one-hot (or probability) rows; the network converts integer
    labels to one-hot rows at the boundary.
    """

    name = "cross_entropy"
    canonical_activation = "softmax"
    classification = True

    def encode_targets(self, y: NDArray, n_out: int, dtype: np.dtype, name: str = "Y") -> Array:
        """One-hot rows from integer class labels (1-D ``y``), else as the base class."""
        if y.ndim != 1:
            return super().encode_targets(y, n_out, dtype, name)
        if not np.all(y == np.round(y)):
            raise ValueError(f"{name}: cross_entropy needs integer class labels or one-hot rows")
        labels = y.astype(np.int64)
        bad = (labels < 0) | (labels >= n_out)
        if np.any(bad):
            raise ValueError(
                f"{name}: label {labels[bad][0]} is outside the output layer's range "
                f"0..{n_out - 1} (n_out={n_out})"
            )
        onehot = np.zeros((y.shape[0], n_out), dtype=dtype)
        onehot[np.arange(y.shape[0]), labels] = 1
        return onehot

    def value(self, a: Array, y: Array) -> Array:
        xp = namespace_of(a)
        tiny = xp.finfo(a.dtype).smallest_normal
        return -_row_sums_of_products(y, xp.log(xp.maximum(a, tiny)))

    def grad_a(self, a: Array, y: Array) -> Array:
        xp = namespace_of(a)
        return -y / xp.maximum(a, xp.finfo(a.dtype).smallest_normal)

    def value_from_logits(self, z: Array, y: Array) -> Array:
        # log a_j = z_j − logsumexp(z): no log(0) however confident the output.
        if type(z) is np.ndarray:  # the ndarray methods: a few µs a step less than np.max
            m = z.max(axis=1, keepdims=True)
            log_sum = np.log(np.exp(z - m).sum(axis=1, keepdims=True)) + m
            return -np.einsum("ij,ij->i", y, z - log_sum)
        xp = namespace_of(z)
        m = xp.max(z, axis=1, keepdims=True)
        log_sum = xp.log(xp.sum(xp.exp(z - m), axis=1, keepdims=True)) + m
        return -_row_sums_of_products(y, z - log_sum)


class BinaryCrossEntropy(Loss):
    """C_0 = −Σ_j [y_j log a_j + (1 − y_j) log(1 − a_j)], for sigmoid outputs.

    One output for binary problems, several for multi-label ones.
    """

    name = "binary_cross_entropy"
    canonical_activation = "sigmoid"
    classification = True
    independent_outputs = True

    def encode_targets(self, y: NDArray, n_out: int, dtype: np.dtype, name: str = "Y") -> Array:
        """0/1 (or probability) targets; anything outside [0, 1] is refused."""
        arr = super().encode_targets(y, n_out, dtype, name)
        if np.any((arr < 0) | (arr > 1)):
            raise ValueError(f"{name}: binary_cross_entropy targets must lie in [0, 1]")
        return arr

    def value(self, a: Array, y: Array) -> Array:
        xp = namespace_of(a)
        tiny = xp.finfo(a.dtype).smallest_normal
        return -xp.sum(y * xp.log(xp.maximum(a, tiny)) + (1 - y) * xp.log(xp.maximum(1 - a, tiny)),
                       axis=1)

    def grad_a(self, a: Array, y: Array) -> Array:
        xp = namespace_of(a)
        eps = xp.finfo(a.dtype).eps
        a = xp.clip(a, eps, 1 - eps)
        return (a - y) / (a * (1 - a))

    def value_from_logits(self, z: Array, y: Array) -> Array:
        # log σ(z) = −softplus(−z), log(1 − σ(z)) = −softplus(z), both overflow-free.
        xp = namespace_of(z)
        sp_pos = xp.maximum(z, 0.0) + xp.log1p(xp.exp(-xp.abs(z)))  # softplus(z)
        return xp.sum(sp_pos - y * z, axis=1)


ALIASES = {
    "categorical_crossentropy": "cross_entropy",
    "crossentropy": "cross_entropy",
    "log_loss": "cross_entropy",
    "bce": "binary_cross_entropy",
    "mean_squared_error": "mse",
    "sse": "squared_error",
}


def get_loss(spec: str | Loss | dict[str, object]) -> Loss:
    """A :class:`Loss` from a name, config dict or instance; unknown names list the valid ones."""
    if isinstance(spec, Loss):
        return spec
    if isinstance(spec, dict):
        params = dict(spec)
        name = str(params.pop("name", ""))
        return type(get_loss(name))(**params)
    if isinstance(spec, str):
        key = ALIASES.get(spec.lower(), spec.lower())
        if key in LOSSES:
            return LOSSES[key]()
    raise ValueError(f"loss: unknown loss {spec!r}; valid names are {', '.join(sorted(LOSSES))}")
