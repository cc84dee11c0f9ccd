"""Divergence: the error a training step raises, and the guard that decides when.

A step diverges when its loss, its gradient or a weight is not finite, or when its loss
explodes while still finite (:class:`LossGuard`). The step raises
:class:`DivergenceError`, naming the epoch and batch; the loop then puts back the last
finite weights (:mod:`chainrule.training.replay`).
"""

from __future__ import annotations

import math

import numpy as np

from ..engine import backend as _backend
from ..engine.losses import Loss
from ..engine.output import pair_problem

Array = np.ndarray

#: The general advice when a step diverges; it names the flag and the optimizer argument
#: that exist (``--clipnorm`` / the ``clipnorm`` key, an optimizer's ``clipnorm=``).
CLIP_ADVICE = ("lower the learning rate or clip gradients (--clipnorm; an optimizer's "
               "clipnorm=)")


class DivergenceError(RuntimeError):
    """Training diverged: a NaN or inf loss, gradient or weight, or a loss that exploded
    (over 1e6 × its first value) while still finite. The network keeps the last finite
    weights, with the optimizer state that belongs to them.

    Parameters
    ----------
    epoch, batch : int
        Where it happened (both counted from 1).
    what : str
        What went wrong ("the loss", "the gradient", "the weights", or a sentence).
    advice : str, optional
        What to change; default :data:`CLIP_ADVICE`.
    finite : bool
        ``what`` is a finite explosion (already a full sentence), not a NaN or inf.
    update_applied : bool
        Whether the failing step's update was applied before the check (the compiled
        step updates in the same call); the loop then puts the weights back.

    Attributes
    ----------
    epoch, batch, what, advice, finite, update_applied
        The parameters (``advice`` as given, None for the default).
    diagnosis : object or None
        The health monitor's verdict on the run (a :class:`chainrule.health.Diagnosis`),
        set by whoever watched it (``chainrule train --diagnose``); None otherwise.
    """

    epoch: int
    batch: int
    what: str
    advice: str | None
    finite: bool
    update_applied: bool
    diagnosis: object | None

    def __init__(self, epoch: int, batch: int, what: str, *, advice: str | None = None,
                 finite: bool = False, update_applied: bool = False) -> None:
        problem = what if finite else f"{what} is not finite"
        said = advice or CLIP_ADVICE
        super().__init__(
            f"training diverged at epoch {epoch}, batch {batch}: {problem}. The last finite "
            f"weights were kept; {said}."
        )
        self.epoch, self.batch, self.what = epoch, batch, what
        self.advice, self.finite = advice, finite
        self.update_applied = update_applied
        self.diagnosis = None


class LossGuard:
    """Divergence that is still finite: a batch loss over 1e6 × the first one (or over
    1e3 when the first was below 1e-3, so a near-perfect start is no false alarm).

    Also words the error's advice: large regression targets are the likelier cause
    than the learning rate when they reach 1e4 and beyond.

    Parameters
    ----------
    y_scale : float
        The largest |y| of regression targets (0 for classification).
    pair : str, optional
        Advice for an output activation the loss cannot take (:func:`pair_advice`); it
        comes first, since no learning rate fixes that.
    """

    EXPLOSION = 1e6

    def __init__(self, y_scale: float = 0.0, pair: str | None = None) -> None:
        self.first: float | None = None  # the first batch's mean cost: the reference
        self.y_scale = y_scale
        self.pair = pair

    @property
    def limit(self) -> float:
        """The mean batch cost that counts as an explosion (inf before the first batch)."""
        if self.first is None:
            return math.inf
        return self.EXPLOSION * max(self.first, 1e-3)  # the floor: a first loss near 0

    def check(self, epoch: int, batch: int, loss: float) -> None:
        """Raise :class:`DivergenceError` if the mean batch cost ``loss`` exploded (the
        first call sets the reference)."""
        if self.first is None:
            self.first = loss
        elif loss > self.limit:
            raise self.error(epoch, batch, f"the loss grew from {self.first:.3g} to "
                             f"{loss:.3g} (over {self.EXPLOSION:.0e} times)", finite=True)

    def error(self, epoch: int, batch: int, what: str, *,
              finite: bool = False) -> DivergenceError:
        """The :class:`DivergenceError` for ``what`` at (epoch, batch), with advice."""
        advice = self.pair
        if advice is None and self.y_scale >= 1e4:
            advice = (f"the targets reach {self.y_scale:.3g}: rescale them (e.g. standardize "
                      "y), or use a loss that is scale-free; then the learning rate")
        return DivergenceError(epoch, batch, what, advice=advice, finite=finite)


def pair_advice(loss: Loss, activation: str) -> str | None:
    """What to change when the output activation cannot feed a classification loss
    (:func:`chainrule.engine.output.pair_problem`, the one rule); None when the pair is
    sound. A Network refuses such a pair when it is built, but its output layer can be
    replaced afterwards."""
    if pair_problem(loss, activation) is None:
        return None
    needed = loss.canonical_activation
    return (f"the output layer is {activation}, but {loss.name} needs {needed} "
            f"(probabilities): build it with output={needed!r}; the learning rate is not "
            "the cause")


def finite(params: Array) -> bool:
    """Every weight finite (checked once an epoch and after a divergence, not every step).

    A NaN or inf makes the sum non-finite; summed in float64 it allocates nothing, and
    only an overflowing sum (weights near the float64 limit) needs the exact check.
    """
    if type(params) is not np.ndarray:  # one scalar back from the device
        return _backend.all_finite(params)
    if math.isfinite(float(np.add.reduce(params, dtype=np.float64))):
        return True
    return bool(np.isfinite(params).all())
