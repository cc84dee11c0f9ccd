"""Layers: ``forward(a_prev) → a`` and, right next to it, ``backward(∂C/∂a) → ∂C/∂a_prev``.

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
"""

from __future__ import annotations

import functools
import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable

import numpy as np
from numpy.typing import DTypeLike, NDArray

from .activations import Activation, get_activation
from .initializers import default_initializer, get_initializer

Array = NDArray[np.floating]


@functools.cache
def _takes_out(backward: Callable[..., object]) -> bool:
    """Whether an Activation.backward accepts ``out=`` (user subclasses may predate it)."""
    return "out" in inspect.signature(backward).parameters


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)


class Layer(ABC):
    """What the network needs from a layer; parameters live in the network's flat buffers."""

    n_in: int
    n_out: int

    def param_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        return []

    def build(self, rng: np.random.Generator, dtype: DTypeLike) -> dict[str, Array]:
        """Initial values of the parameters (drawn from ``rng``), by name."""
        return {}

    def bind(self, params: dict[str, Array], grads: dict[str, Array]) -> None:  # noqa: B027
        """Point the layer's parameters and gradients at views of the network's buffers
        (a layer without parameters has nothing to bind)."""

    @abstractmethod
    def forward(self, a_prev: Array, training: bool = False) -> Array:
        """a_prev of shape (n_samples, n_in) → a of shape (n_samples, n_out)."""

    @abstractmethod
    def backward(self, grad_a: Array, need_grad_prev: bool = True) -> Array | None:
        """∂C/∂a → ∂C/∂a_prev (None when ``need_grad_prev`` is false)."""

    @abstractmethod
    def get_config(self) -> dict[str, object]:
        """What :func:`layer_from_config` needs to rebuild the layer."""


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
        Initializer name; default He for ReLU-like activations, Glorot otherwise.
    w : ndarray of shape (n_out, n_in), optional
        Initial weights (instead of drawing them).
    b : ndarray of shape (n_out,), optional
        Initial biases.

    Attributes
    ----------
    w, b, grad_w, grad_b : ndarray
        Weights, biases and their gradients ∂C/∂w, ∂C/∂b averaged over the batch.
    a_prev, z, a : ndarray of shape (n_samples, ·)
        The last forward pass's input, weighted input and output.
    """

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
        self.init = init if init is not None else default_initializer(self.activation.name)
        get_initializer(self.init)  # validate the name now, at the boundary
        self._initial = {"w": w, "b": b}
        if w is not None and np.shape(w) != (self.n_out, self.n_in):
            raise ValueError(
                f"w: expected shape (n_out, n_in) = {(self.n_out, self.n_in)}, got {np.shape(w)}"
            )
        if b is not None:
            if not self.bias:
                raise ValueError("b: given, but the layer was created with bias=False")
            if np.shape(b) != (self.n_out,):
                raise ValueError(f"b: expected shape ({self.n_out},), got {np.shape(b)}")
        self._w: Array | None = None
        self._b: Array | None = None
        self.grad_w: Array | None = None
        self.grad_b: Array | None = None
        self.a_prev: Array | None = None
        self.z: Array | None = None
        self.a: Array | None = None
        self._buffers: dict[int, dict[str, Array]] = {}
        self._ws: dict[str, Array] | None = None

    # -- parameters ---------------------------------------------------------
    def param_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        shapes: list[tuple[str, tuple[int, ...]]] = [("w", (self.n_out, self.n_in))]
        if self.bias:
            shapes.append(("b", (self.n_out,)))
        return shapes

    def build(self, rng: np.random.Generator, dtype: DTypeLike) -> dict[str, Array]:
        if self._w is not None:  # already part of a network: keep its values
            values = {"w": self._w.copy()}
            if self._b is not None:
                values["b"] = self._b.copy()
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
        self._w, self.grad_w = params["w"], grads["w"]
        self._b, self.grad_b = params.get("b"), grads.get("b")

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
        value = np.asarray(value)
        if value.shape != target.shape:
            raise ValueError(f"{name}: expected shape {target.shape}, got {value.shape}")
        target[...] = value  # write into the network's buffer, keeping the view

    # -- forward and backward -------------------------------------------------
    def forward(self, a_prev: Array, training: bool = False) -> Array:
        """a_prev of shape (n_samples, n_in) → a of shape (n_samples, n_out).

        With ``training=True`` z, a (and the backward pass's δ and ∂C/∂a_prev) are
        written into buffers this layer keeps per batch size and reuses on the next
        training step, so a training step allocates no arrays; copy ``z``/``a`` if you
        need them past the next training step. ``training=False`` returns new arrays.
        """
        ws = self._ws = self._workspace(a_prev.shape[0]) if training else None
        z = np.matmul(a_prev, self.w.T, out=None if ws is None else ws["z"])
        # z_j = Σ_k w_jk a_k^(l−1)
        if self._b is not None:
            z += self._b
        a = self.activation.forward(z, out=None if ws is None else ws["a"])  # a_j = g(z_j)
        self.a_prev, self.z, self.a = a_prev, z, a
        return a

    def backward(self, grad_a: Array, need_grad_prev: bool = True) -> Array | None:
        """∂C/∂a (n_samples, n_out) → fills grad_w, grad_b; returns ∂C/∂a_prev (n_samples, n_in)."""
        assert self.z is not None and self.a is not None and self.a_prev is not None
        act, out = self.activation, self.delta_buffer()
        if out is not None and _takes_out(type(act).backward):
            delta = act.backward(self.z, self.a, grad_a, out=out)  # δ_j = ∂C/∂a_j · g′(z_j)
        else:  # outside training, or a custom activation whose backward has no out=
            delta = act.backward(self.z, self.a, grad_a)
        return self.backward_from_delta(delta, need_grad_prev)

    def backward_from_delta(self, delta: Array, need_grad_prev: bool = True) -> Array | None:
        """Given δ = ∂C/∂z, fill grad_w, grad_b and return ∂C/∂a_prev."""
        assert self.a_prev is not None and self.grad_w is not None
        self.delta = delta
        np.matmul(delta.T, self.a_prev, out=self.grad_w)  # ∂C/∂w_jk = Σ_i δ_ij a_ik^(l−1)
        if self.grad_b is not None:
            np.add.reduce(delta, axis=0, out=self.grad_b)  # ∂C/∂b_j = Σ_i δ_ij
        if not need_grad_prev:
            return None
        out = None if self._ws is None else self._ws["grad_prev"]
        return np.matmul(delta, self.w, out=out)  # ∂C/∂a_k^(l−1) = Σ_j w_jk δ_j

    # -- training-step buffers ---------------------------------------------------
    def delta_buffer(self) -> Array | None:
        """The buffer δ of the current training step goes into (None outside training)."""
        return None if self._ws is None else self._ws["delta"]

    def _workspace(self, n: int) -> dict[str, Array]:
        """z, a, δ (n, n_out) and ∂C/∂a_prev (n, n_in) for batches of n samples.

        A fit sees at most two batch sizes (full and last partial batch), so a few
        entries suffice; the dict is emptied if batch sizes keep changing.
        """
        ws = self._buffers.get(n)
        if ws is None or ws["z"].dtype != self.w.dtype:
            if len(self._buffers) >= 4:
                self._buffers.clear()
            shape, dt = (n, self.n_out), self.w.dtype
            ws = self._buffers[n] = {
                "z": np.empty(shape, dt), "a": np.empty(shape, dt),
                "delta": np.empty(shape, dt), "grad_prev": np.empty((n, self.n_in), dt),
            }
        return ws

    def get_config(self) -> dict[str, object]:
        return {
            "type": "Dense",
            "n_in": self.n_in,
            "n_out": self.n_out,
            "activation": self.activation.get_config(),
            "bias": self.bias,
            "init": self.init,
        }

    def __repr__(self) -> str:
        return (
            f"Dense({self.n_in}, {self.n_out}, activation={self.activation.name!r}, "
            f"bias={self.bias})"
        )


class Dropout(Layer):
    """Inverted dropout: during training keep each unit with probability 1 − rate and
    scale by 1/(1 − rate); at predict time the identity.
    """

    def __init__(self, rate: float) -> None:
        if not (isinstance(rate, (int, float)) and 0.0 <= rate < 1.0):
            raise ValueError(f"rate: expected a number in [0, 1), got {rate!r}")
        self.rate = float(rate)
        self.n_in = self.n_out = 0  # set by the network from the previous layer
        self._rng: np.random.Generator | None = None
        self.mask: Array | None = None

    def build(self, rng: np.random.Generator, dtype: DTypeLike) -> dict[str, Array]:
        self._rng = rng
        return {}

    def forward(self, a_prev: Array, training: bool = False) -> Array:
        if not training or self.rate == 0.0:
            self.mask = None
            return a_prev
        assert self._rng is not None, "Dropout: not part of a Network"
        keep = self._rng.random(a_prev.shape, dtype=a_prev.dtype) >= self.rate
        self.mask = keep.astype(a_prev.dtype) / a_prev.dtype.type(1.0 - self.rate)
        return a_prev * self.mask

    def backward(self, grad_a: Array, need_grad_prev: bool = True) -> Array | None:
        return grad_a if self.mask is None else grad_a * self.mask

    def get_config(self) -> dict[str, object]:
        return {"type": "Dropout", "rate": self.rate}

    def __repr__(self) -> str:
        return f"Dropout({self.rate})"


def layer_from_config(config: dict[str, object]) -> Layer:
    """Rebuild a layer from :meth:`Layer.get_config` (used when loading models)."""
    kind = config.get("type")
    if kind == "Dense":
        return Dense(
            int(config["n_in"]),  # type: ignore[call-overload]
            int(config["n_out"]),  # type: ignore[call-overload]
            activation=get_activation(config["activation"]),  # type: ignore[arg-type]
            bias=bool(config.get("bias", True)),
            init=str(config.get("init")) if config.get("init") else None,
        )
    if kind == "Dropout":
        return Dropout(float(config["rate"]))  # type: ignore[arg-type]
    raise ValueError(f"layer type: unknown layer {kind!r}; valid types are Dense, Dropout")
