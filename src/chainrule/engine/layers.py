"""The built-in layers: ``forward(a_prev) → (z, a, mask)`` and, right next to it,
``backward`` from ∂C/∂a (the protocol is :class:`~chainrule.engine.layer.Layer`).

This file runs past 300 lines because each layer's forward and backward stay side by side
with their docstrings and shapes; it holds just the two layer types and the registry's
loader, :func:`layer_from_config`.

A :class:`Dense` layer l computes, for every sample (a row),

.. math:: z_j^{(l)} = \\sum_k w_{jk}^{(l)} a_k^{(l-1)} + b_j^{(l)}, \\qquad
          a_j^{(l)} = g^{(l)}(z_j^{(l)}),

with ``w`` of shape ``(n_out, n_in)`` so that ``w[j, k]`` is the notes' w_jk^(l).
Its backward pass applies the three chain-rule factors of the notes:

.. math:: \\delta_j = \\frac{\\partial C}{\\partial a_j} g'(z_j), \\qquad
          \\frac{\\partial C}{\\partial w_{jk}} = \\delta_j \\, a_k^{(l-1)}, \\qquad
          \\frac{\\partial C}{\\partial a_k^{(l-1)}} = \\sum_j w_{jk} \\, \\delta_j .

The incoming ∂C/∂a is already the batch mean's derivative (it carries the
notes' 1/n), so summing over the rows of the batch gives the averaged gradient.

Layers keep no record of a pass: ``forward`` returns z, a (and Dropout's mask), the
network keeps them in a :class:`~chainrule.network.Trace` and hands them back to
``backward``. Where the
results go is the caller's choice: ``out=`` takes a :class:`DenseBuffers` (the
preallocated arrays of a :class:`~chainrule.workspace.Workspace`), otherwise new
arrays are returned.

The arrays may be NumPy's or any Array API namespace's (torch, CuPy, array_api_strict:
:mod:`chainrule.backend`); the NumPy-only forms (``out=``, sparse inputs) sit behind a
``type(x) is np.ndarray`` check in the same method.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from . import backend as _backend
from .activations import Activation, get_activation
from .initializers import get_initializer
from .layer import LAYERS, Layer
from .validation import check_label_array

__all__ = ["LAYERS", "Dense", "DenseBuffers", "Dropout", "Layer", "layer_from_config"]

Array = NDArray[np.floating]


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)


@dataclass
class DenseBuffers:
    """Where one Dense layer's step writes: z, a, δ of shape (n, n_out), ∂C/∂a_prev (n, n_in)."""

    z: Array
    a: Array
    delta: Array
    grad_prev: Array


class Dense(Layer):
    """Fully connected layer: z = a_prev @ w.T + b, a = g(z).

    Parameters
    ----------
    n_in, n_out : int
        Number of inputs k and outputs j.
    activation : str or Activation
        g^(l), by name (see :data:`chainrule.activations.ACTIVATIONS`) or object.
    bias : bool
        Whether the layer has b. ``bias=False`` reproduces the notes exactly.
    init : str, optional
        Initializer name; default the activation's ``default_init`` (He for ReLU-like
        activations, Glorot otherwise).
    w : ndarray of shape (n_out, n_in), optional
        Initial weights (instead of drawing them).
    b : ndarray of shape (n_out,), optional
        Initial biases.

    Attributes
    ----------
    w, b, grad_w, grad_b : ndarray
        Weights, biases and their gradients ∂C/∂w, ∂C/∂b averaged over the batch
        (views into the network's flat ``params`` and ``grads``).
    """

    name = "Dense"
    penalised = ("w",)

    def __init__(
        self,
        n_in: int,
        n_out: int,
        activation: str | Activation = "identity",
        bias: bool = True,
        init: str | None = None,
        *,
        w: NDArray | None = None,
        b: NDArray | None = None,
    ) -> None:
        self.n_in = _positive_int("n_in", n_in)
        self.n_out = _positive_int("n_out", n_out)
        self.activation = get_activation(activation)
        self.bias = bool(bias)
        self.init = init if init is not None else self.activation.default_init
        get_initializer(self.init)  # validate the name now, at the boundary
        self._initial = {"w": w, "b": b}
        if w is not None and np.shape(check_label_array(w, "w", "(n_out, n_in)")) != (
                self.n_out, self.n_in):
            raise ValueError(
                f"w: expected shape (n_out, n_in) = {(self.n_out, self.n_in)}, got {np.shape(w)}"
            )
        if b is not None:
            if not self.bias:
                raise ValueError("b: given, but the layer was created with bias=False")
            if np.shape(check_label_array(b, "b", "(n_out,)")) != (self.n_out,):
                raise ValueError(f"b: expected shape ({self.n_out},), got {np.shape(b)}")
        self._w: Array | None = None
        self._b: Array | None = None
        self._grad_w: Array | None = None
        self.grad_b: Array | None = None

    def connect(self, n_prev: int | None) -> None:
        if n_prev is not None and n_prev != self.n_in:
            raise ValueError(f"n_in={self.n_in} does not match the previous layer's "
                             f"n_out={n_prev}")

    # -- parameters ---------------------------------------------------------
    def param_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        shapes: list[tuple[str, tuple[int, ...]]] = [("w", (self.n_out, self.n_in))]
        if self.bias:
            shapes.append(("b", (self.n_out,)))
        return shapes

    def build(self, rng: np.random.Generator, dtype: DTypeLike) -> dict[str, Array]:
        if self._w is not None:  # already part of a network: keep its values (on the host)
            values = {"w": np.array(_backend.to_host(self._w), dtype=dtype)}
            if self._b is not None:
                values["b"] = np.array(_backend.to_host(self._b), dtype=dtype)
            return values
        w0 = self._initial["w"]
        w = (
            np.array(w0, dtype=dtype)
            if w0 is not None
            else get_initializer(self.init)(rng, self.n_in, self.n_out, dtype)
        )
        values = {"w": w}
        if self.bias:
            b0 = self._initial["b"]
            b = np.array(b0, dtype=dtype) if b0 is not None else np.zeros(self.n_out, dtype)
            values["b"] = b
        return values

    def bind(self, params: dict[str, Array], grads: dict[str, Array]) -> None:
        self._w, self._grad_w = params["w"], grads["w"]
        self._b, self.grad_b = params.get("b"), grads.get("b")

    @property
    def grad_w(self) -> Array:
        if self._grad_w is None:
            raise RuntimeError("grad_w: this Dense layer is not part of a Network yet")
        return self._grad_w

    @property
    def w(self) -> Array:
        if self._w is None:
            raise RuntimeError("w: this Dense layer is not part of a Network yet")
        return self._w

    @w.setter
    def w(self, value: NDArray) -> None:
        self._assign("w", self.w, value)

    @property
    def b(self) -> Array | None:
        return self._b

    @b.setter
    def b(self, value: NDArray) -> None:
        if self._b is None:
            raise ValueError("b: this layer has no bias (bias=False)")
        self._assign("b", self._b, value)

    @staticmethod
    def _assign(name: str, target: Array, value: NDArray) -> None:
        if type(target) is np.ndarray:
            value = np.asarray(_backend.to_host(value))
        else:  # host data (or another device's) copied to the network's backend
            value = _backend.like(value, target)
        if tuple(value.shape) != tuple(target.shape):
            raise ValueError(f"{name}: expected shape {tuple(target.shape)}, got "
                             f"{tuple(value.shape)}")
        target[...] = value  # write into the network's buffer, keeping the view

    # -- forward and backward -------------------------------------------------
    def forward(self, a_prev: Array, *, training: bool = False,
                rng: np.random.Generator | None = None,
                out: DenseBuffers | None = None) -> tuple[Array, Array, None]:
        """a_prev of shape (n_samples, n_in) → (z, a, None), z and a of shape
        (n_samples, n_out); no mask (``training`` and ``rng`` change nothing here).

        ``a_prev`` may be a ``scipy.sparse`` matrix (the first layer's X, as OneHotEncoder or
        TfidfVectorizer make it): then z is a sparse × dense product, never densified.
        """
        if type(a_prev) is np.ndarray:
            z = np.matmul(a_prev, self.w.T, out=None if out is None else out.z)
        elif _is_sparse(a_prev):
            z = np.asarray(a_prev @ self.w.T)  # over the stored entries of X only
            if out is not None:
                out.z[...] = z
                z = out.z
        else:  # another Array API namespace (torch, CuPy, array_api_strict)
            z = a_prev @ self.w.T
        # z_j = Σ_k w_jk a_k^(l−1)
        if self._b is not None:
            z += self._b  # + b_j
        a = self.activation.forward(z, out=None if out is None else out.a)  # a_j = g(z_j)
        return z, a, None

    def backward(
        self, a_prev: Array, z: Array | None, a: Array, grad_a: Array, *,
        mask: Array | None = None, need_grad_prev: bool = True,
        out: DenseBuffers | None = None,
    ) -> tuple[Array, Array | None]:
        """∂C/∂a (n_samples, n_out) → (δ, ∂C/∂a_prev); fills grad_w and grad_b.

        ``a_prev``, ``z``, ``a`` are this layer's forward pass on the same samples.
        """
        assert z is not None  # forward always returns the weighted input of a Dense layer
        delta = self.activation.backward(z, a, grad_a, out=None if out is None else out.delta)
        # δ_j = ∂C/∂a_j · g′(z_j)
        return delta, self.backward_from_delta(a_prev, delta, need_grad_prev=need_grad_prev,
                                               out=out)

    def backward_from_delta(
        self, a_prev: Array, delta: Array, *, need_grad_prev: bool = True,
        out: DenseBuffers | None = None,
    ) -> Array | None:
        """Given δ = ∂C/∂z (n_samples, n_out), fill grad_w, grad_b; return ∂C/∂a_prev."""
        on_numpy = type(delta) is np.ndarray
        if on_numpy and type(a_prev) is np.ndarray:
            np.matmul(delta.T, a_prev, out=self._grad_w)  # ∂C/∂w_jk = Σ_i δ_ij a_ik^(l−1)
        elif on_numpy and _is_sparse(a_prev):
            self.grad_w[...] = np.asarray(a_prev.T @ delta).T  # (Xᵀ δ)ᵀ, sparse × dense
        else:
            self.grad_w[...] = delta.T @ a_prev
        if self.grad_b is not None:
            if on_numpy:
                np.add.reduce(delta, axis=0, out=self.grad_b)  # ∂C/∂b_j = Σ_i δ_ij
            else:
                self.grad_b[...] = _backend.namespace_of(delta).sum(delta, axis=0)
        if not need_grad_prev:
            return None
        # ∂C/∂a_k^(l−1) = Σ_j w_jk δ_j
        if not on_numpy:
            return delta @ self.w
        return np.matmul(delta, self.w, out=None if out is None else out.grad_prev)

    def buffers(self, n: int) -> DenseBuffers:
        """New arrays for a training step on n samples, in the layer's dtype."""
        shape, dt = (n, self.n_out), self.w.dtype
        return DenseBuffers(np.empty(shape, dt), np.empty(shape, dt), np.empty(shape, dt),
                            np.empty((n, self.n_in), dt))

    def get_config(self) -> dict[str, object]:
        return {
            "type": self.name,
            "n_in": self.n_in,
            "n_out": self.n_out,
            "activation": self.activation.get_config(),
            "bias": self.bias,
            "init": self.init,
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Dense:
        if "members" in config:  # an ensemble's K members stacked (engine.ensemble)
            from .ensemble import GroupedDense

            return GroupedDense.from_config(config)
        return cls(
            int(config["n_in"]),
            int(config["n_out"]),
            activation=get_activation(config["activation"]),
            bias=bool(config.get("bias", True)),
            init=str(config.get("init")) if config.get("init") else None,
        )

    def __repr__(self) -> str:
        return (
            f"Dense({self.n_in}, {self.n_out}, activation={self.activation.name!r}, "
            f"bias={self.bias})"
        )


class Dropout(Layer):
    """Inverted dropout: during training keep each unit with probability 1 − rate and
    scale by 1/(1 − rate); at predict time the identity.
    """

    name = "Dropout"

    def __init__(self, rate: float) -> None:
        if not (isinstance(rate, (int, float)) and 0.0 <= rate < 1.0):
            raise ValueError(f"rate: expected a number in [0, 1), got {rate!r}")
        self.rate = float(rate)
        self.n_in = self.n_out = 0  # set by the network from the previous layer

    def forward(self, a_prev: Array, *, training: bool = False,
                rng: np.random.Generator | None = None,
                out: None = None) -> tuple[None, Array, Array | None]:
        """(None, a, mask): a = a_prev ⊙ mask with a fresh mask drawn from ``rng`` while
        ``training``; at inference (or rate 0) no mask and a = a_prev."""
        if not training or rng is None or self.rate == 0.0:
            return None, a_prev, None
        on_numpy = type(a_prev) is np.ndarray
        dt = a_prev.dtype if on_numpy else _backend.host_dtype(a_prev.dtype)
        keep = rng.random(tuple(a_prev.shape), dtype=dt) >= self.rate
        mask = keep.astype(dt) / dt.type(1.0 - self.rate)
        if not on_numpy:  # drawn on the host (same seed, same masks), copied to the device
            mask = _backend.like(mask, a_prev)
        return None, a_prev * mask, mask

    def backward(self, a_prev: Array, z: Array | None, a: Array, grad_a: Array, *,
                 mask: Array | None = None, need_grad_prev: bool = True,
                 out: None = None) -> tuple[None, Array]:
        """(None, ∂C/∂a_prev = ∂C/∂a ⊙ mask): no δ, no parameters."""
        return None, grad_a if mask is None else grad_a * mask

    def get_config(self) -> dict[str, object]:
        return {"type": self.name, "rate": self.rate}

    def __repr__(self) -> str:
        return f"Dropout({self.rate})"


def _is_sparse(a: object) -> bool:
    """A scipy.sparse matrix or array, recognised without importing SciPy."""
    return hasattr(a, "tocsr") and hasattr(a, "nnz")


def layer_from_config(config: Mapping[str, Any]) -> Layer:
    """Rebuild a layer from :meth:`Layer.get_config` (used when copying, saving and loading
    models): the registered type named by ``config["type"]``, from its ``from_config``."""
    kind = config.get("type")
    cls = LAYERS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f"layer type: unknown layer {kind!r}; valid types are "
                         f"{', '.join(sorted(LAYERS))}")
    return cls.from_config(config)
