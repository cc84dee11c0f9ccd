"""Optimizers, in order of increasing complexity: SGD → momentum → Nesterov → RMSprop →
Adam → AdamW.

It runs past 300 lines because the six rules stay in one file, simplest first, each with its
update written out in the docstring, so they read as one progression.

Each optimizer keeps its slots (moments) and step count ``t`` as attributes, apart
from the per-step rule ``update_step``. ``step(params, grads)`` updates ``params`` in
place; the network hands over its flat parameter and gradient buffers, so every
rule is a few whole-vector NumPy operations with ``out=`` and no allocation.
The update rules match ``torch.optim`` (tested step by step).

On another backend (:mod:`chainrule.backend`: torch, CuPy, array_api_strict) the same
rules run as whole-vector expressions of the parameters' namespace, the slots living
beside the parameters; the ``out=`` forms and the numba kernel are NumPy's branch of the
same method.
"""

from __future__ import annotations

import functools
import math
import os
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..engine import backend as _backend
from .schedules import Schedule, get_schedule

Array = NDArray[np.floating]

OPTIMIZERS: dict[str, type[Optimizer]] = {}
"""Every optimizer by name; a subclass with a ``name`` registers itself when defined."""


class Optimizer(ABC):
    """Base: learning-rate schedule, gradient clipping by global norm, state handling.

    Parameters
    ----------
    lr : float or Schedule
        Learning rate η, or a schedule η(t).
    clipnorm : float, optional
        If set, gradients are rescaled so that their global L2 norm is at most this.
    """

    name = ""
    #: Names of the parameter-sized state vectors (moments) ``build`` creates in ``state``.
    slots: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name"):
            OPTIMIZERS[cls.name] = cls

    def __init__(self, lr: float | Schedule = 0.01, clipnorm: float | None = None) -> None:
        self.schedule = get_schedule(lr)
        if clipnorm is not None and not (
            isinstance(clipnorm, (int, float)) and math.isfinite(clipnorm) and clipnorm > 0
        ):
            raise ValueError(f"clipnorm: expected a positive finite number, got {clipnorm!r}")
        self.clipnorm = None if clipnorm is None else float(clipnorm)
        self.t = 0
        self.state: dict[str, Array] = {}
        #: A parameter-sized vector the update rules may use as scratch space.
        self.scratch: Array | None = None

    @property
    def lr(self) -> float:
        """The learning rate the next step will use."""
        return self.schedule(self.t)

    def build(self, params: Array) -> None:
        """Create (or re-type, or move to ``params``' backend) the slots for ``params``
        and the scratch vector."""
        xp = _backend.namespace_of(params)
        for slot in self.slots:
            if slot not in self.state or tuple(self.state[slot].shape) != tuple(params.shape):
                self.state[slot] = xp.zeros_like(params)
            elif xp is np and type(self.state[slot]) is np.ndarray:
                self.state[slot] = self.state[slot].astype(params.dtype, copy=False)
            else:
                self.state[slot] = _backend.like(self.state[slot], params)
        self.scratch = xp.empty_like(params)

    def step(self, params: Array, grads: Array, grad_sq_norm: float | None = None) -> None:
        """One update of ``params`` (in place) from ``grads``.

        ``grad_sq_norm`` (‖g‖², if the caller already has it) saves a pass when clipping.
        """
        tmp = self.scratch
        if (tmp is None or tmp.shape != params.shape or tmp.dtype != params.dtype
                or type(tmp) is not type(params)):
            self.build(params)
        lr = self.schedule(self.t)
        self.t += 1
        if self.clipnorm is not None:
            if grad_sq_norm is not None:
                sq = grad_sq_norm
            elif type(grads) is np.ndarray:
                sq = float(np.dot(grads, grads))
            else:
                sq = float(_backend.namespace_of(grads).vecdot(grads, grads))
            norm = math.sqrt(sq)
            if norm > self.clipnorm:
                scale = self.clipnorm / norm
                grads = grads * (grads.dtype.type(scale) if type(grads) is np.ndarray else scale)
        self.update_step(params, grads, lr)

    @abstractmethod
    def update_step(self, w: Array, g: Array, lr: float) -> None:
        """The rule itself: move ``w`` in place given gradient ``g`` and learning rate ``lr``."""

    # -- state ---------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "lr": self.schedule.get_config(), "clipnorm": self.clipnorm}

    def state_dict(self) -> dict[str, Any]:
        """Step count and slot arrays: what resuming training needs."""
        return {"t": self.t, **{k: _backend.copy(v) for k, v in self.state.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Slots are copied and kept in their namespace; the next step moves them beside
        the parameters (:meth:`build`)."""
        self.t = int(state.get("t", 0))
        self.state = {k: _backend.copy(v) if _backend.is_device_array(v) else np.array(v)
                      for k, v in state.items() if k in self.slots}
        self.scratch = None

    def copy(self) -> Optimizer:
        """An optimizer of the same rule and configuration with a copy of this one's state
        (nothing shared): what a copied network carries."""
        twin = get_optimizer(self.get_config())
        twin.load_state_dict(self.state_dict())
        return twin

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.get_config()})"


class SGD(Optimizer):
    """The notes' plain step; with ``momentum`` μ, heavy ball or Nesterov.

    ::

        w ← w − η g                                  (momentum = 0)
        v ← μ v + g;  w ← w − η v                    (momentum)
        v ← μ v + g;  w ← w − η (g + μ v)            (nesterov)
    """

    name = "sgd"

    def __init__(
        self,
        lr: float | Schedule = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        clipnorm: float | None = None,
    ) -> None:
        super().__init__(lr, clipnorm)
        if not (isinstance(momentum, (int, float)) and 0.0 <= momentum < 1.0):
            raise ValueError(f"momentum: expected a number in [0, 1), got {momentum!r}")
        if nesterov and momentum == 0:
            raise ValueError("nesterov: needs momentum > 0")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.slots = ("velocity",) if self.momentum else ()

    def update_step(self, w: Array, g: Array, lr: float) -> None:
        tmp = self.scratch
        assert tmp is not None
        on_numpy = type(w) is np.ndarray
        if not self.momentum:
            w -= np.multiply(g, lr, out=tmp) if on_numpy else g * lr  # w ← w − η ∂C/∂w
            return
        v = self.state["velocity"]
        v *= self.momentum
        v += g
        if not on_numpy:  # the same arithmetic, as expressions of w's namespace
            w -= ((v * self.momentum + g) if self.nesterov else v) * lr
            return
        if self.nesterov:
            np.multiply(v, self.momentum, out=tmp)
            tmp += g
            tmp *= lr
        else:
            np.multiply(v, lr, out=tmp)
        w -= tmp

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Momentum(SGD):
    """SGD with heavy-ball momentum (default μ = 0.9)."""

    name = "momentum"

    def __init__(self, lr: float | Schedule = 0.01, momentum: float = 0.9,
                 clipnorm: float | None = None) -> None:
        super().__init__(lr, momentum=momentum, nesterov=False, clipnorm=clipnorm)

    def get_config(self) -> dict[str, Any]:
        return {k: v for k, v in super().get_config().items() if k != "nesterov"}


class Nesterov(SGD):
    """SGD with Nesterov momentum (default μ = 0.9)."""

    name = "nesterov"

    def __init__(self, lr: float | Schedule = 0.01, momentum: float = 0.9,
                 clipnorm: float | None = None) -> None:
        super().__init__(lr, momentum=momentum, nesterov=True, clipnorm=clipnorm)

    def get_config(self) -> dict[str, Any]:
        return {k: v for k, v in super().get_config().items() if k != "nesterov"}


class RMSprop(Optimizer):
    """::

        s ← ρ s + (1 − ρ) g²;  w ← w − η g / (√s + ε)
    """

    name = "rmsprop"
    slots = ("sq_avg",)

    def __init__(self, lr: float | Schedule = 0.001, rho: float = 0.99, eps: float = 1e-8,
                 clipnorm: float | None = None) -> None:
        super().__init__(lr, clipnorm)
        if not 0.0 <= rho < 1.0:
            raise ValueError(f"rho: expected a number in [0, 1), got {rho!r}")
        self.rho, self.eps = float(rho), float(eps)

    def update_step(self, w: Array, g: Array, lr: float) -> None:
        tmp, s = self.scratch, self.state["sq_avg"]
        assert tmp is not None
        if type(w) is not np.ndarray:  # the same arithmetic, as expressions
            s += (g * g - s) * (1.0 - self.rho)
            w -= (g / (_backend.namespace_of(w).sqrt(s) + self.eps)) * lr
            return
        np.multiply(g, g, out=tmp)
        tmp -= s
        tmp *= 1.0 - self.rho
        s += tmp  # s ← ρ s + (1 − ρ) g²
        np.sqrt(s, out=tmp)
        tmp += self.eps
        np.divide(g, tmp, out=tmp)
        tmp *= lr
        w -= tmp

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rho": self.rho, "eps": self.eps}


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015), bias correction folded into the step size::

        m ← β₁ m + (1 − β₁) g;   v ← β₂ v + (1 − β₂) g²
        w ← w − η √(1 − β₂ᵗ)/(1 − β₁ᵗ) · m / (√v + ε √(1 − β₂ᵗ))

    In float32, m entries that have decayed below 1e-30 are flushed to zero every
    few steps: otherwise weights whose gradient is exactly zero (e.g. MNIST's
    blank border pixels) drift m into subnormal numbers, which are slow on x86.
    The flushed values are ≥ 8 orders of magnitude below anything that can move w.
    """

    name = "adam"
    slots = ("m", "v")
    #: In float32, every FLUSH_EVERY steps m entries below FLUSH_BELOW are set to 0.
    FLUSH_EVERY = 32
    FLUSH_BELOW = 1e-30
    _KERNEL_MIN_SIZE = 32_768
    #: steps × parameters after which the NumPy path has cost about numba's import
    _KERNEL_RENT = 450_000_000

    def __init__(
        self,
        lr: float | Schedule = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        eps: float = 1e-8,
        clipnorm: float | None = None,
    ) -> None:
        super().__init__(lr, clipnorm)
        for name, beta in (("beta_1", beta_1), ("beta_2", beta_2)):
            if not (isinstance(beta, (int, float)) and 0.0 <= beta < 1.0):
                raise ValueError(f"{name}: expected a number in [0, 1), got {beta!r}")
        if not (isinstance(eps, (int, float)) and eps > 0):
            raise ValueError(f"eps: expected a positive number, got {eps!r}")
        self.beta_1, self.beta_2, self.eps = float(beta_1), float(beta_2), float(eps)

    def _kernel_pays(self, size: int) -> bool:
        """Whether Adam's compiled loop is worth using at this step: ≥ 32,768 parameters,
        and numba already imported, or the steps so far have cost the NumPy path about what
        importing it costs (t · size ≥ 4.5e8: ~0.5 s of CPU to import, ~1.1 ns saved per
        parameter and step; 104k float32 parameters: 154 µs NumPy vs 40 µs compiled). A
        rent-or-buy rule: a short run never pays the import, a long one pays at most twice
        the best choice. Which path runs never changes a bit: the loop is the NumPy path's
        arithmetic, bit for bit (tests/test_kernels.py)."""
        if size < self._KERNEL_MIN_SIZE:
            return False
        return self.t * size >= self._KERNEL_RENT or "chainrule.training.kernels" in sys.modules

    def update_step(self, w: Array, g: Array, lr: float) -> None:
        tmp, m, v = self.scratch, self.state["m"], self.state["v"]
        assert tmp is not None
        b1, b2, t = self.beta_1, self.beta_2, self.t
        c2 = math.sqrt(1.0 - b2**t)
        eps_hat, step = self.eps * c2, lr * c2 / (1.0 - b1**t)
        if type(w) is not np.ndarray:  # the same arithmetic, as expressions of w's namespace
            xp = _backend.namespace_of(w)
            m += (g - m) * (1.0 - b1)
            v += (g * g - v) * (1.0 - b2)
            w -= (m / (xp.sqrt(v) + eps_hat)) * step
            if m.dtype == xp.float32 and t % self.FLUSH_EVERY == 0:
                m *= xp.astype(xp.abs(m) >= self.FLUSH_BELOW, m.dtype)
            return
        flush = m.dtype == np.float32 and t % self.FLUSH_EVERY == 0
        # Small networks stay in NumPy: there the loop saves less than importing numba costs.
        kernel = _adam_kernel() if self._kernel_pays(w.size) else None
        if kernel is not None and _flat_alike(w, g):
            # The same arithmetic as below, fused into one compiled loop (chainrule.kernels).
            kernel(w, g, m, v, b1, b2, eps_hat, step, self.FLUSH_BELOW if flush else 0.0)
            return
        np.subtract(g, m, out=tmp)
        tmp *= 1.0 - b1
        m += tmp  # m ← β₁ m + (1 − β₁) g
        np.multiply(g, g, out=tmp)
        tmp -= v
        tmp *= 1.0 - b2
        v += tmp  # v ← β₂ v + (1 − β₂) g²
        np.sqrt(v, out=tmp)
        tmp += eps_hat
        np.divide(m, tmp, out=tmp)
        tmp *= step
        w -= tmp
        if flush:  # m ← m · [|m| ≥ 1e-30], in place: no temporary the size of the parameters
            np.abs(m, out=tmp)
            np.greater_equal(tmp, self.FLUSH_BELOW, out=tmp)
            m *= tmp

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "eps": self.eps}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019)::

        w ← w (1 − η λ), then the Adam step.
    """

    name = "adamw"

    def __init__(
        self,
        lr: float | Schedule = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.01,
        clipnorm: float | None = None,
    ) -> None:
        super().__init__(lr, beta_1, beta_2, eps, clipnorm)
        if not (isinstance(weight_decay, (int, float)) and weight_decay >= 0):
            raise ValueError(f"weight_decay: expected a non-negative number, got {weight_decay!r}")
        self.weight_decay = float(weight_decay)

    def update_step(self, w: Array, g: Array, lr: float) -> None:
        w *= 1.0 - lr * self.weight_decay
        super().update_step(w, g, lr)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "weight_decay": self.weight_decay}


@functools.cache
def _adam_kernel() -> Callable[..., None] | None:
    """numba's fused Adam loop (:mod:`chainrule.kernels`), or None without numba.

    Cached: a failed import would otherwise be retried (slowly) on every step.
    ``CHAINRULE_NUMBA=0`` forces the NumPy path.
    """
    if os.environ.get("CHAINRULE_NUMBA", "1") == "0":
        return None
    try:
        from .kernels import adam_update
    except ImportError:
        return None
    return adam_update


def _flat_alike(w: Array, g: Array) -> bool:
    """Whether w and g are 1-D, C-contiguous, of one shape and dtype (what the kernel takes;
    the slots are built like w)."""
    return (w.ndim == 1 and w.flags.c_contiguous and g.flags.c_contiguous
            and w.shape == g.shape and w.dtype == g.dtype
            and w.dtype.type in (np.float32, np.float64))


def get_optimizer(spec: str | Optimizer | dict[str, Any] | None, **kwargs: Any) -> Optimizer:
    """An optimizer from a name (with keyword options), a config dict or an object."""
    if spec is None:
        spec = "adam"
    if isinstance(spec, Optimizer):
        return spec
    if isinstance(spec, dict):
        params = dict(spec)
        name = str(params.pop("name", ""))
        if isinstance(params.get("lr"), dict):
            params["lr"] = get_schedule(params["lr"])
        return get_optimizer(name, **params)
    if isinstance(spec, str) and spec.lower() in OPTIMIZERS:
        return OPTIMIZERS[spec.lower()](**kwargs)
    raise ValueError(
        f"optimizer: unknown optimizer {spec!r}; valid names are {', '.join(OPTIMIZERS)}"
    )
