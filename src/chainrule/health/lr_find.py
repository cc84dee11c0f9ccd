"""The learning-rate range test (Smith 2015, "Cyclical Learning Rates", §3.3; fastai's
``lr_find``): train a copy for ~100 steps while the rate grows exponentially, and read
off the range of rates over which the loss falls.

The sweep stops when the median loss of the last 5 steps passes 4 × the highest loss of
its first tenth (where η is too small to matter) or a loss stops being finite. The rates
are read from the loss smoothed **without lag** (a centred median over ±5 % of the
steps). The moving average used before (fastai's, β = 0.98) trails the loss by
~1/(1 − β) = 50 steps, four decades of η on a 100-step sweep, which put its minimum (and
``minimum / 10``) at rates that kill ReLUs (issue 30: 0.156 suggested); and one batch
with an outlier target lifted it past 4 × its minimum within 3 steps, ending the sweep at
η = 1e-7 (``fair``, seed 2).

The rule, :func:`suggest`, stated once (text and plot both print
:attr:`LRFindResult.reason`): the sweep gives a **window** — from where the smoothed loss
has fallen a tenth of the way from its start to its minimum (``lower``) to a third of the
rate at its minimum (``upper``); the whole sweep when the loss never falls below 0.8 ×
its start. For Adam, AdamW and RMSprop (:data:`SCALE_FREE`) the suggestion is the
optimizer's own default rate when it lies inside the window, else the window's nearer
end; for plain-gradient steps (sgd, momentum, nesterov) the window's upper end; never
over 10 × from the optimizer's default. Chosen by measurement
(``bench/calibrate_health.py lr-find``; the tables are in docs/diagnostics.md): with
Adam, each point estimate of the sweep (its steepest descent, minimum / 10, fastai's
valley) lost to Adam's 1e-3 on some benchmark table by far more than 0.005 — 100 noisy
steps do not place a rate that finely — while with plain SGD the run's 1e-3 lost to the
sweep's rates by 10 to 20 points of accuracy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..training.callbacks import DivergenceError
from ..training.optimizers import Optimizer, get_optimizer
from ..training.schedules import Schedule

if TYPE_CHECKING:
    from ..engine.network import Network
    from ..training.step import Step


class ExponentialSweep(Schedule):
    """η(t) = start · (end / start)^(t / (steps − 1)): the range test's rate (not registered)."""

    def __init__(self, start: float, end: float, steps: int) -> None:
        super().__init__(start)
        self.end, self.steps = float(end), int(steps)

    def __call__(self, t: int) -> float:
        return self.lr * (self.end / self.lr) ** (min(t, self.steps - 1) / max(self.steps - 1, 1))


#: The window's ends: the loss has fallen this fraction of the way to its minimum
#: (``lower``), and the rate at the minimum divided by this (``upper``).
FALLEN = 0.1
BELOW_MINIMUM = 3.0
CLEAR_FALL = 0.8
#: The suggestion stays within this factor of the optimizer's default.
TRUST = 10.0
#: Optimizers whose step is about η per weight whatever the gradient's scale (Adam's
#: m̂/√v̂, RMSprop's g/√v): their default rate carries over from problem to problem, and
#: the suggestion keeps it inside the window. A plain-gradient step (sgd, momentum,
#: nesterov) is η × the gradient, whose scale is the problem's: the sweep measures the
#: rate, and the suggestion is the window's upper end.
SCALE_FREE = frozenset({"adam", "adamw", "rmsprop"})


def suggest(default: float, lower: float, upper: float, *,
            measured: bool = False) -> tuple[float, str]:
    """The rule, with the reason in words. ``measured`` (a plain-gradient optimizer, see
    :data:`SCALE_FREE`): the window's upper end, at most :data:`TRUST` × ``default``;
    else ``default`` (the optimizer's own rate) clipped to the window [``lower``,
    ``upper``], never more than :data:`TRUST` × away from it (a 100-step sweep on noisy
    batches is a coarse instrument)."""
    if measured:  # no floor: large targets make large gradients, which need tiny rates
        rate = min(upper, TRUST * default)
        return rate, ("the window's upper end: a plain-gradient step has no default that "
                      "carries over" if rate == upper else
                      f"{TRUST:g} × the default {default:.0e}, below the window's upper "
                      f"end {upper:.0e}")
    if default < lower:
        rate = min(lower, TRUST * default)
        return rate, (f"the window's lower end; the default {default:.0e} lies below it"
                      if rate == lower else f"{TRUST:g} × the default {default:.0e}, "
                      "which lies below the window")
    if default > upper:
        rate = max(upper, default / TRUST)
        return rate, (f"the window's upper end; the default {default:.0e} lies above it"
                      if rate == upper else f"the default {default:.0e} ÷ {TRUST:g}, "
                      "which lies above the window")
    return default, "the optimizer's default, inside the window"


@dataclass
class LRFindResult:
    """The sweep: rates tried, raw and smoothed losses, the window and the suggestion.

    ``smoothed`` is the lag-free centred median; ``steepest`` (where it falls fastest
    per decade of η) and ``minimum`` (the rate at its lowest) are reported for reading
    the plot; ``lower``/``upper`` the window, ``default`` the optimizer's own rate.
    """

    lrs: NDArray[np.float64]
    losses: NDArray[np.float64]
    smoothed: NDArray[np.float64]
    steepest: float
    minimum: float  # the rate at the lowest smoothed loss
    lower: float
    upper: float
    default: float
    optimizer: str = "adam"  # its kind: the rule depends on it (SCALE_FREE)

    @property
    def suggestion(self) -> float:
        """:func:`suggest` on this sweep."""
        return self._suggested()[0]

    def _suggested(self) -> tuple[float, str]:
        return suggest(self.default, self.lower, self.upper,
                       measured=self.optimizer not in SCALE_FREE)

    @property
    def reason(self) -> str:
        """The suggestion and why, as the text and the plot both say it."""
        rate, why = self._suggested()
        return f"suggested {rate:.2e} ({why})"

    @property
    def window_text(self) -> str:
        """The window in words, as the text and the plot both say it."""
        return (f"window {self.lower:.1e} … {self.upper:.1e} (the loss falls {FALLEN:.0%} "
                f"of the way … minimum / {BELOW_MINIMUM:g})")

    def __str__(self) -> str:
        return (f"learning-rate range test over {len(self.lrs)} steps "
                f"({self.lrs[0]:.1e} … {self.lrs[-1]:.1e}): steepest descent at "
                f"{self.steepest:.2e}, minimum loss at {self.minimum:.2e}; {self.window_text}; "
                f"{self.reason}")

    def plot(self, path: str | Path) -> Path:
        """Write ``lr_find.png``: the loss against η (log scale), the window shaded and
        the suggestion marked with :attr:`reason`."""
        from .plots import pyplot, save_figure

        plt = pyplot()
        fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
        ax.plot(self.lrs, self.losses, color="0.8", lw=1, label="loss")
        ax.plot(self.lrs, self.smoothed, color="C0", lw=2, label="smoothed (centred median)")
        ax.axvspan(self.lower, self.upper, color="C2", alpha=0.15,
                   label=self.window_text.replace(" (", "\n(", 1))
        ax.axvline(self.suggestion, color="C1", ls="--", lw=1.5,
                   label=self.reason.replace(" (", "\n(", 1))
        ax.set_xscale("log")
        finite = self.smoothed[np.isfinite(self.smoothed)]
        if finite.size:
            top = max(finite[0], min(finite.max(), 4 * finite.min()))  # the start in view
            ax.set_ylim(finite.min() * 0.9, top * 1.05)
        ax.set_xlabel("learning rate η")
        ax.set_ylabel("cost C")
        ax.set_title("learning-rate range test")
        ax.legend(fontsize=7)
        try:
            return save_figure(fig, path)
        finally:
            plt.close(fig)


def centred(losses: NDArray[np.float64], half: int) -> NDArray[np.float64]:
    """The median of ``losses[i - half : i + half + 1]`` at every i (fewer at the ends): a
    smoothing with no lag, which one batch's outlier does not move."""
    n = losses.size
    return np.array([np.median(losses[max(0, i - half) : i + half + 1]) for i in range(n)])


def window(lrs: NDArray[np.float64], smoothed: NDArray[np.float64]) -> tuple[float, float]:
    """(lower, upper): where the smoothed loss has fallen :data:`FALLEN` of the way from
    its start to its minimum, and the minimum's rate ÷ :data:`BELOW_MINIMUM` (lower ≤
    upper); the whole sweep when the loss never falls below :data:`CLEAR_FALL` × its
    start (a flat, noisy sweep — nothing learnable, as on ``fair`` — says nothing)."""
    low = int(np.argmin(smoothed))
    if not smoothed[low] < CLEAR_FALL * smoothed[0]:  # noise, not a fall: no evidence
        return float(lrs[0]), float(lrs[-1])
    upper = float(lrs[low]) / BELOW_MINIMUM
    target = smoothed[0] - FALLEN * (smoothed[0] - smoothed[low])
    first = int(np.argmax(smoothed[: low + 1] <= target))
    return min(float(lrs[first]), upper), upper


def lr_find(net: Network, X: ArrayLike, Y: ArrayLike, *, start: float = 1e-7,
            end: float = 10.0, steps: int = 100, batch_size: int = 32,
            optimizer: str | Optimizer | None = None,
            stop_factor: float = 4.0) -> LRFindResult:
    """Run the range test on a copy of ``net``; ``net`` (weights, optimizer, generator)
    is left exactly as it was.

    Parameters
    ----------
    net : Network
    X, Y : training data, as for :meth:`Network.fit`
    start, end : float
        The sweep's first and last learning rate (0 < start < end).
    steps : int
        Steps of the sweep (it may stop earlier when the loss explodes).
    batch_size : int
    optimizer : str or Optimizer, optional
        Its kind and hyperparameters (its rate is replaced by the sweep); default the
        network's optimizer, else Adam.
    stop_factor : float
        Stop once the median loss of the last 5 steps exceeds this multiple of the
        highest loss of the sweep's first tenth, or a loss is not finite.
    """
    from ..training.step import Step

    if not (isinstance(start, (int, float)) and isinstance(end, (int, float))
            and 0 < start < end and math.isfinite(end)):
        raise ValueError(f"start, end: expected 0 < start < end, finite, got {start!r}, {end!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 5:
        raise ValueError(f"steps: expected an integer of at least 5, got {steps!r}")
    twin = net.copy()
    base = optimizer if optimizer is not None else (net.optimizer or "adam")
    config: dict[str, Any] = get_optimizer(base).get_config()
    config.pop("lr", None)
    opt = get_optimizer({**config, "lr": ExponentialSweep(start, end, steps)})
    a0 = twin.inputs(X)
    Yt = twin.targets(Y, a0.shape[0])
    step = Step(twin, opt)
    # The sweep stops by its own rule (the smoothed loss past stop_factor × its minimum);
    # the loss guard's "1e6 × the first batch" would stop it on a first batch that
    # happens to cost almost nothing (a regression target that is mostly 0), at η = 1e-7.
    step.guard.EXPLOSION = math.inf
    lrs, losses = _sweep(step, opt, a0, Yt, twin.rng, steps, batch_size, stop_factor)
    if len(lrs) < 5:
        raise ValueError(f"lr_find: the loss diverged within {len(lrs)} steps from {start:g}; "
                         "start the sweep lower (start=, or chainrule lr-find --start) or, "
                         "for targets in the thousands, standardize them")
    lr_arr = np.array(lrs)
    sm = centred(np.array(losses), max(2, len(losses) // 20))
    low = int(np.argmin(sm))
    slope = np.gradient(sm, np.log10(lr_arr))
    skip = max(1, len(sm) // 20)  # the ends of a finite difference are noisy
    inner = slope[skip : max(low, skip + 1)]
    steepest = float(lr_arr[skip + int(np.argmin(inner))]) if inner.size else float(lr_arr[low])
    lower, upper = window(lr_arr, sm)
    default = get_optimizer(config["name"]).lr
    return LRFindResult(lr_arr, np.array(losses), sm, steepest, float(lr_arr[low]), lower,
                        upper, float(default), str(config["name"]))


def _sweep(step: Step, opt: Optimizer, a0: Any, Yt: Any, rng: np.random.Generator,
           steps: int, batch_size: int, stop_factor: float) -> tuple[list[float], list[float]]:
    """The steps of the sweep: the rate and the batch's mean cost of each, until the stop
    rule (see :func:`lr_find`)."""
    lrs: list[float] = []
    losses: list[float] = []
    warm = max(5, steps // 10)
    start_level = math.inf
    order, pos = rng.permutation(a0.shape[0]), 0
    m = min(batch_size, a0.shape[0])
    with np.errstate(all="ignore"):
        for t in range(steps):
            if pos + m > len(order):
                order, pos = rng.permutation(a0.shape[0]), 0
            idx = order[pos : pos + m]
            pos += m
            lr = opt.lr
            try:
                loss_sum, n, _ = step(a0[idx], Yt[idx], epoch=1, batch=t + 1)
            except DivergenceError:
                break
            lrs.append(lr)
            losses.append(loss_sum / n)
            if not math.isfinite(losses[-1]):
                break
            # against the highest loss of the start, where η is too small to matter: the
            # batch-to-batch spread of a heavy-tailed regression (targets mostly 0, a few
            # large) does not end the sweep at η = 1e-6
            if t + 1 == warm:
                start_level = max(losses)
            if t >= warm and float(np.median(losses[-5:])) > stop_factor * start_level:
                break
    return lrs, losses
