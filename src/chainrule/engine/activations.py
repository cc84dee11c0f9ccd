"""Activation functions g and their derivatives g′, side by side.

It runs past 300 lines because each of the nine activations keeps g, g′ and its ONNX
lowering together, one short class each.

Each activation maps the weighted input of a layer to its output,
a_j^(l) = g^(l)(z_j^(l)), and knows the second factor of the notes' chain rule,
∂a_j^(l)/∂z_j^(l) = g′(z_j^(l)).

``backward(z, a, grad_a)`` turns ∂C/∂a into δ = ∂C/∂z. For elementwise
activations that is ``grad_a * g_prime(z, a)``; softmax couples its outputs, so
its backward is the Jacobian–vector product instead.

Notes
-----
Derivatives are written in terms of whichever of z or a is cheaper, e.g.
sigmoid′(z) = a (1 − a) and tanh′(z) = 1 − a², so the backward pass reuses the
forward pass's outputs.

``g``, ``g_prime`` and ``backward`` take the arrays of any Array API namespace (torch,
CuPy, array_api_strict; :mod:`chainrule.backend`) as well as NumPy's: they call the
namespace of ``z`` (``xp``), and ``out=`` (NumPy only) writes in place.
"""

from __future__ import annotations

import functools
import inspect
import math
from abc import ABC, abstractmethod
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from .backend import astype, copy, namespace_of

Array = NDArray[np.floating]


class OnnxGraph(Protocol):
    """What :meth:`Activation.to_onnx` may use to emit nodes (see :mod:`chainrule.onnx`)."""

    dtype: np.dtype

    def op(self, op_type: str, inputs: list[str], stem: str | None = None, **attrs: Any) -> str:
        """Append one node; returns its output's name."""
        ...

    def const(self, stem: str, value: Any) -> str:
        """An initializer in the graph's dtype; returns its name."""
        ...

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)

#: |tanh| above this counts as saturated (Karpathy, "Building makemore Part 3", 2022).
SATURATED = 0.97


ACTIVATIONS: dict[str, type[Activation]] = {}
"""Every activation by name: the CLI, the estimators and saved models use these keys.
A subclass with a ``name`` registers itself here when it is defined."""


class Activation(ABC):
    """Base class: g(z) and g′(z); subclasses override both.

    Defining a subclass with a new ``name`` is all it takes to add an activation: it
    registers itself in :data:`ACTIVATIONS` (so ``Dense(..., "swish")``, saved models and
    the CLI's choices know it); ``default_init`` picks its layers' initializer and
    :meth:`to_onnx` its ONNX lowering.
    """

    name: str = ""
    elementwise: bool = True
    #: Initializer of layers using this activation (He for ReLU-like ones, Glorot otherwise).
    default_init: str = "glorot_uniform"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "backward" in cls.__dict__ and "out" not in inspect.signature(cls.backward).parameters:
            cls.backward = _with_out(cls.__dict__["backward"])  # type: ignore[method-assign]
        if cls.__dict__.get("name"):
            ACTIVATIONS[cls.name] = cls

    @abstractmethod
    def g(self, z: Array) -> Array:
        """a = g(z), z of shape (n_samples, n_out)."""

    @abstractmethod
    def g_prime(self, z: Array, a: Array) -> Array:
        """∂a/∂z elementwise, given z and a = g(z)."""

    def backward(self, z: Array, a: Array, grad_a: Array, out: Array | None = None) -> Array:
        """δ = ∂C/∂z from ∂C/∂a: the notes' factor ∂a_j/∂z_j = g′(z_j).

        ``out`` (shaped like z), if given, receives δ: the training loop passes a
        buffer it reuses every step so that a step allocates nothing.
        """
        if out is None:
            return grad_a * self.g_prime(z, a)
        return np.multiply(grad_a, self.g_prime(z, a), out=out)

    def forward(self, z: Array, out: Array | None = None) -> Array:
        """a = g(z), written into ``out`` (shaped like z) when given.

        The default computes :meth:`g` and copies; cheap activations override it to
        write in place.
        """
        if out is None:
            return self.g(z)
        np.copyto(out, self.g(z))
        return out

    def saturated(self, a: Array) -> NDArray[np.bool_] | None:
        """Where a sits near an asymptote, so that g′(z) passes little gradient (bounded
        activations); None for activations that don't saturate. Used by the health monitor."""
        return None

    def to_onnx(self, graph: OnnxGraph, z: str) -> str:
        """Emit a = g(z) as ONNX nodes into ``graph``; returns the name of a."""
        raise ValueError(
            f"activation: {self.name!r} has no ONNX lowering; give its class a "
            f"to_onnx(graph, z) method (supported: {', '.join(_lowered())})"
        )

    def get_config(self) -> dict[str, object]:
        return {"name": self.name}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({params})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Activation) and self.get_config() == other.get_config()

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.get_config().items())))


def _with_out(backward: Any) -> Any:
    """Adapt a subclass's ``backward(z, a, grad_a)`` written before ``out=`` was part of
    the contract: done once, when the class is defined, so the engine always passes out."""

    @functools.wraps(backward)
    def with_out(self: Activation, z: Array, a: Array, grad_a: Array,
                 out: Array | None = None) -> Array:
        delta = backward(self, z, a, grad_a)
        if out is None:
            return delta
        np.copyto(out, delta)
        return out

    return with_out


def _lowered() -> list[str]:
    return [n for n, cls in ACTIVATIONS.items() if cls.to_onnx is not Activation.to_onnx]


class Identity(Activation):
    name = "identity"

    def g(self, z: Array) -> Array:
        return copy(z)

    def g_prime(self, z: Array, a: Array) -> Array:
        return namespace_of(z).ones_like(z)

    def forward(self, z: Array, out: Array | None = None) -> Array:
        if out is None:
            return copy(z)
        np.copyto(out, z)
        return out

    def backward(self, z: Array, a: Array, grad_a: Array, out: Array | None = None) -> Array:
        if out is None:
            return grad_a
        np.copyto(out, grad_a)
        return out

    def to_onnx(self, graph: OnnxGraph, z: str) -> str:
        return z


class Sigmoid(Activation):
    """σ(z) = 1 / (1 + e^(−z)), evaluated without overflow for any |z|."""

    name = "sigmoid"

    def g(self, z: Array) -> Array:
        # e^(−|z|) never overflows; pick the algebraically equal branch per sign.
        xp = namespace_of(z)
        e = xp.exp(-xp.abs(z))
        return xp.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))

    def g_prime(self, z: Array, a: Array) -> Array:
        return a * (1.0 - a)  # σ′(z) = σ(z)(1 − σ(z))

    def saturated(self, a: Array) -> NDArray[np.bool_]:
        # σ(z) = (1 + tanh(z/2)) / 2: the tanh rule |tanh| > 0.97 is |2a − 1| > 0.97.
        return np.abs(2.0 * a - 1.0) > SATURATED

    def to_onnx(self, graph: OnnxGraph, z: str) -> str:
        return graph.op("Sigmoid", [z])


class Tanh(Activation):
    name = "tanh"

    def g(self, z: Array) -> Array:
        return namespace_of(z).tanh(z)

    def g_prime(self, z: Array, a: Array) -> Array:
        return 1.0 - a * a  # tanh′(z) = 1 − tanh²(z)

    def saturated(self, a: Array) -> NDArray[np.bool_]:
        return np.abs(a) > SATURATED  # g′ = 1 − a² < 0.06

    def to_onnx(self, graph: OnnxGraph, z: str) -> str:
        return graph.op("Tanh", [z])


class ReLU(Activation):
    name = "relu"
    default_init = "he_uniform"

    def g(self, z: Array) -> Array:
        return namespace_of(z).maximum(z, 0.0)

    def g_prime(self, z: Array, a: Array) -> Array:
        return astype(z > 0, z.dtype)  # 1 where z > 0, else 0 (0 at the kink)

    def forward(self, z: Array, out: Array | None = None) -> Array:
        if type(z) is not np.ndarray:
            return self.g(z)
        return np.maximum(z, 0.0, out=out)

    def backward(self, z: Array, a: Array, grad_a: Array, out: Array | None = None) -> Array:
        # grad_a * g′(z) with the boolean mask (no float 0/1 array); keeps grad_a's dtype.
        # Measured ~1.5× faster L-BFGS fits on digits than np.where (bench/sklearn_compare.py);
        # 10× faster at 1024×1024 (bench/compare.py, case c).
        if type(z) is not np.ndarray:  # the Array API has no float × bool
            return grad_a * astype(z > 0, grad_a.dtype)
        return np.multiply(grad_a, z > 0, out=out)

    def to_onnx(self, graph: OnnxGraph, z: str) -> str:
        return graph.op("Relu", [z])


class LeakyReLU(Activation):
    name = "leaky_relu"
    default_init = "he_uniform"

    def __init__(self, slope: float = 0.01) -> None:
        if not (isinstance(slope, (int, float)) and math.isfinite(slope)):
            raise ValueError(f"leaky_relu: slope must be a finite number, got {slope!r}")
        self.slope = float(slope)

    def g(self, z: Array) -> Array:
        return namespace_of(z).where(z > 0, z, self.slope * z)

    def g_prime(self, z: Array, a: Array) -> Array:
        xp = namespace_of(z)
        return xp.where(z > 0, 1.0, xp.full_like(z, self.slope))

    def to_onnx(self, graph: OnnxGraph, z: str) -> str:
        if graph.dtype == np.float32:
            return graph.op("LeakyRelu", [z], alpha=self.slope)
        # float64: composed, since the operator's alpha attribute is a float32.
        negative = graph.op("Mul", [z, graph.const("slope", self.slope)])
        return _where_positive(graph, z, negative, self.name)

    def get_config(self) -> dict[str, object]:
        return {"name": self.name, "slope": self.slope}


class ELU(Activation):
    name = "elu"
    default_init = "he_uniform"

    def __init__(self, alpha: float = 1.0) -> None:
        if not (isinstance(alpha, (int, float)) and math.isfinite(alpha) and alpha > 0):
            raise ValueError(f"elu: alpha must be a positive finite number, got {alpha!r}")
        self.alpha = float(alpha)

    def g(self, z: Array) -> Array:
        # expm1 of min(z, 0) so the unused branch never overflows.
        xp = namespace_of(z)
        return xp.where(z > 0, z, self.alpha * xp.expm1(xp.minimum(z, 0.0)))

    def g_prime(self, z: Array, a: Array) -> Array:
        return namespace_of(z).where(z > 0, 1.0, a + self.alpha)  # α e^z = a + α for z ≤ 0

    def to_onnx(self, graph: OnnxGraph, z: str) -> str:
        if graph.dtype == np.float32:
            return graph.op("Elu", [z], alpha=self.alpha)
        # float64: composed (onnxruntime has no double Elu); α (e^min(z, 0) − 1), the min
        # keeping the unused branch from overflowing.
        e = graph.op("Exp", [graph.op("Min", [z, graph.const("zero", 0.0)])])
        negative = graph.op("Mul", [graph.op("Sub", [e, graph.const("one", 1.0)]),
                                    graph.const("alpha", self.alpha)])
        return _where_positive(graph, z, negative, self.name)

    def get_config(self) -> dict[str, object]:
        return {"name": self.name, "alpha": self.alpha}


class GELU(Activation):
    """GELU, tanh form: ½ z (1 + tanh(√(2/π) (z + 0.044715 z³)))."""

    name = "gelu"
    default_init = "he_uniform"

    def g(self, z: Array) -> Array:
        u = _SQRT_2_OVER_PI * (z + 0.044715 * z**3)
        return 0.5 * z * (1.0 + namespace_of(z).tanh(u))

    def g_prime(self, z: Array, a: Array) -> Array:
        u = _SQRT_2_OVER_PI * (z + 0.044715 * z**3)
        t = namespace_of(z).tanh(u)
        du_dz = _SQRT_2_OVER_PI * (1.0 + 3 * 0.044715 * z * z)
        return 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * du_dz

    def to_onnx(self, graph: OnnxGraph, z: str) -> str:
        g = graph  # opset 17 has no Gelu: the same tanh form from primitives
        z3 = g.op("Mul", [g.op("Mul", [z, z]), z])
        inner = g.op("Add", [z, g.op("Mul", [z3, g.const("c", 0.044715)])])
        t = g.op("Tanh", [g.op("Mul", [inner, g.const("sqrt_2_over_pi", _SQRT_2_OVER_PI)])])
        half_z = g.op("Mul", [z, g.const("half", 0.5)])
        return g.op("Mul", [half_z, g.op("Add", [t, g.const("one", 1.0)])], stem="gelu")


class Softplus(Activation):
    """softplus(z) = log(1 + e^z), computed as max(z, 0) + log1p(e^(−|z|))."""

    name = "softplus"

    def g(self, z: Array) -> Array:
        xp = namespace_of(z)
        return xp.maximum(z, 0.0) + xp.log1p(xp.exp(-xp.abs(z)))

    def g_prime(self, z: Array, a: Array) -> Array:
        return SIGMOID.g(z)  # softplus′ = σ

    def to_onnx(self, graph: OnnxGraph, z: str) -> str:
        g = graph  # max(z, 0) + log(1 + e^(−|z|)): e^(−|z|) ≤ 1, so nothing overflows
        e = g.op("Exp", [g.op("Neg", [g.op("Abs", [z])])])
        log_term = g.op("Log", [g.op("Add", [e, g.const("one", 1.0)])])
        return g.op("Add", [g.op("Relu", [z]), log_term], stem="softplus")


class Softmax(Activation):
    """softmax(z)_j = e^(z_j) / Σ_i e^(z_i), via log-sum-exp (shift by max z).

    Not elementwise: a_i depends on every z_j, ∂a_i/∂z_j = a_i (δ_ij − a_j).
    """

    name = "softmax"
    elementwise = False

    def g(self, z: Array) -> Array:
        return self.forward(z)

    def forward(self, z: Array, out: Array | None = None) -> Array:
        if type(z) is not np.ndarray:
            xp = namespace_of(z)
            e = xp.exp(z - xp.max(z, axis=1, keepdims=True))
            return e / xp.sum(e, axis=1, keepdims=True)
        e = np.subtract(z, np.maximum.reduce(z, axis=1, keepdims=True), out=out)
        np.exp(e, out=e)
        e /= np.add.reduce(e, axis=1, keepdims=True)  # Σ_i e^(z_i − max z)
        return e

    def g_prime(self, z: Array, a: Array) -> Array:
        """Diagonal of the Jacobian, ∂a_j/∂z_j = a_j (1 − a_j); backward uses the full JVP."""
        return a * (1.0 - a)

    def backward(self, z: Array, a: Array, grad_a: Array, out: Array | None = None) -> Array:
        # δ_j = Σ_i ∂C/∂a_i · a_i (δ_ij − a_j) = a_j (∂C/∂a_j − Σ_i a_i ∂C/∂a_i)
        if type(a) is not np.ndarray:
            xp = namespace_of(a)
            return (grad_a - xp.sum(grad_a * a, axis=1, keepdims=True)) * a
        s = np.einsum("ij,ij->i", grad_a, a)[:, None]
        delta = np.subtract(grad_a, s, out=out)
        delta *= a
        return delta

    def to_onnx(self, graph: OnnxGraph, z: str) -> str:
        return graph.op("Softmax", [z], axis=-1)


def _where_positive(graph: OnnxGraph, z: str, negative: str, stem: str) -> str:
    """z where z > 0, else ``negative``: the float64 form of leaky ReLU and ELU."""
    positive = graph.op("Greater", [z, graph.const("zero", 0.0)])
    return graph.op("Where", [positive, z, negative], stem=stem)


SIGMOID = Sigmoid()

ALIASES = {"linear": "identity", "logistic": "sigmoid", "none": "identity"}


def get_activation(spec: str | Activation | dict[str, object] | None) -> Activation:
    """An :class:`Activation` from a name, a config dict or an instance.

    Raises
    ------
    ValueError
        For an unknown name, listing the valid ones.
    """
    if spec is None:
        return Identity()
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, dict):
        params = dict(spec)
        name = params.pop("name", None)
        act = get_activation(str(name))
        return type(act)(**params)
    if isinstance(spec, str):
        key = ALIASES.get(spec.lower(), spec.lower())
        if key in ACTIVATIONS:
            return ACTIVATIONS[key]()
    raise ValueError(
        f"activation: unknown activation {spec!r}; valid names are "
        f"{', '.join(sorted(ACTIVATIONS))}"
    )
