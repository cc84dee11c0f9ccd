"""Learning-rate schedules η(t), t = number of optimizer steps already taken (0 first)."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any


def _check(name: str, value: Any, *, positive: bool = True, allow_zero: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and positive:
        ok = value > 0 or (allow_zero and value == 0)
    if not ok:
        what = "a non-negative" if allow_zero else ("a positive" if positive else "a")
        raise ValueError(f"{name}: expected {what} finite number, got {value!r}")
    return float(value)


SCHEDULES: dict[str, type[Schedule]] = {}
"""Every schedule by name; a subclass with a ``name`` registers itself when defined."""


class Schedule(ABC):
    name = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name"):
            SCHEDULES[cls.name] = cls

    def __init__(self, lr: float) -> None:
        self.lr = _check("lr", lr)

    @abstractmethod
    def __call__(self, t: int) -> float:
        """η at step t."""

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "lr": self.lr}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


class Constant(Schedule):
    """η(t) = η₀."""

    name = "constant"

    def __call__(self, t: int) -> float:
        return self.lr


class StepDecay(Schedule):
    """η(t) = η₀ · γ^⌊t / step_size⌋."""

    name = "step"

    def __init__(self, lr: float, step_size: int = 1000, gamma: float = 0.5) -> None:
        super().__init__(lr)
        if not isinstance(step_size, int) or step_size < 1:
            raise ValueError(f"step_size: expected a positive integer, got {step_size!r}")
        self.step_size = step_size
        self.gamma = _check("gamma", gamma)

    def __call__(self, t: int) -> float:
        return self.lr * self.gamma ** (t // self.step_size)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "step_size": self.step_size, "gamma": self.gamma}


class ExponentialDecay(Schedule):
    """η(t) = η₀ · γ^(t / decay_steps)."""

    name = "exponential"

    def __init__(self, lr: float, decay_steps: int = 1000, gamma: float = 0.9) -> None:
        super().__init__(lr)
        if not isinstance(decay_steps, int) or decay_steps < 1:
            raise ValueError(f"decay_steps: expected a positive integer, got {decay_steps!r}")
        self.decay_steps = decay_steps
        self.gamma = _check("gamma", gamma)

    def __call__(self, t: int) -> float:
        return self.lr * self.gamma ** (t / self.decay_steps)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "decay_steps": self.decay_steps, "gamma": self.gamma}


class InverseScaling(Schedule):
    """η(t) = η₀ / (t + 1)^power_t (scikit-learn's ``invscaling``)."""

    name = "invscaling"

    def __init__(self, lr: float, power_t: float = 0.5) -> None:
        super().__init__(lr)
        self.power_t = _check("power_t", power_t, allow_zero=True)

    def __call__(self, t: int) -> float:
        return self.lr / (t + 1) ** self.power_t

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "power_t": self.power_t}


class CosineWarmup(Schedule):
    """Linear warm-up to η₀ over ``warmup_steps``, then cosine decay to ``min_lr`` at
    ``total_steps`` (constant ``min_lr`` after)."""

    name = "cosine"

    def __init__(
        self, lr: float, total_steps: int = 10000, warmup_steps: int = 0, min_lr: float = 0.0
    ) -> None:
        super().__init__(lr)
        if not isinstance(total_steps, int) or total_steps < 1:
            raise ValueError(f"total_steps: expected a positive integer, got {total_steps!r}")
        if not isinstance(warmup_steps, int) or not 0 <= warmup_steps < total_steps:
            raise ValueError(
                f"warmup_steps: expected an integer in [0, total_steps={total_steps}), "
                f"got {warmup_steps!r}"
            )
        self.total_steps = total_steps
        self.warmup_steps = warmup_steps
        self.min_lr = _check("min_lr", min_lr, allow_zero=True)

    def __call__(self, t: int) -> float:
        if t < self.warmup_steps:
            return self.lr * (t + 1) / self.warmup_steps
        span = self.total_steps - self.warmup_steps
        progress = min(1.0, (t - self.warmup_steps) / span)
        return self.min_lr + 0.5 * (self.lr - self.min_lr) * (1 + math.cos(math.pi * progress))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "min_lr": self.min_lr,
        }


class FlatCosine(Schedule):
    """η₀ for the first ``flat_fraction`` of ``total_steps``, then a cosine down to
    ``min_lr`` at ``total_steps`` (constant ``min_lr`` after).

    The flat-then-anneal shape of RealMLP (Holzmüller et al. 2024) and of the
    "flat + cosine" schedules tabular MLPs train well with: a long stretch at the full
    rate to explore, then an annealing phase in which the weights settle, so that the
    last epochs (where a run without early stopping ends) are among the best.
    """

    name = "flat_cosine"

    def __init__(self, lr: float, total_steps: int = 10000, flat_fraction: float = 0.5,
                 min_lr: float = 0.0) -> None:
        super().__init__(lr)
        if not isinstance(total_steps, int) or total_steps < 1:
            raise ValueError(f"total_steps: expected a positive integer, got {total_steps!r}")
        if not (isinstance(flat_fraction, (int, float)) and 0.0 <= flat_fraction < 1.0):
            raise ValueError(f"flat_fraction: expected a number in [0, 1), got "
                             f"{flat_fraction!r}")
        self.total_steps = total_steps
        self.flat_fraction = float(flat_fraction)
        self.min_lr = _check("min_lr", min_lr, allow_zero=True)

    @property
    def flat_steps(self) -> int:
        """The steps taken at η₀ before the cosine starts."""
        return int(self.flat_fraction * self.total_steps)

    def __call__(self, t: int) -> float:
        if t < self.flat_steps:
            return self.lr
        span = self.total_steps - self.flat_steps
        progress = min(1.0, (t - self.flat_steps) / span)
        return self.min_lr + 0.5 * (self.lr - self.min_lr) * (1 + math.cos(math.pi * progress))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "total_steps": self.total_steps,
                "flat_fraction": self.flat_fraction, "min_lr": self.min_lr}


def get_schedule(spec: float | str | Schedule | dict[str, Any], lr: float | None = None,
                 **kwargs: Any) -> Schedule:
    """A schedule from a number (constant), a name (+ lr and options), a config or an object."""
    if isinstance(spec, Schedule):
        return spec
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        return Constant(float(spec))
    if isinstance(spec, dict):
        params = dict(spec)
        name = params.pop("name", "constant")
        return get_schedule(str(name), **params)
    if isinstance(spec, str) and spec in SCHEDULES:
        if lr is None:
            raise ValueError(f"lr: schedule {spec!r} needs a base learning rate")
        return SCHEDULES[spec](lr, **kwargs)
    raise ValueError(
        f"schedule: unknown schedule {spec!r}; valid names are {', '.join(SCHEDULES)}"
    )
