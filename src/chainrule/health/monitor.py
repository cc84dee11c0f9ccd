"""The health monitor: what backprop makes visible about a network while it trains.

Every ``every`` steps :class:`HealthMonitor` runs the forward pass on a fixed probe
batch (the first ``probe_size`` training samples) and records, for every Dense layer l:

* the mean and spread of a^(l), and a histogram of it (for ``diagnostics.png``);
* the **dead** fraction: units whose g′(z) is 0 for every probe sample — no gradient
  reaches their weights (ReLU units stuck at a = 0);
* the **saturated** fraction of a bounded activation's outputs (|tanh| > 0.97);
* ‖∂C/∂W^(l)‖ of the current batch (already computed by the step: no extra backward);
* the update-to-weight ratio ‖Δw^(l)‖ / ‖w^(l)‖ of one step.

Per epoch it keeps the loss (and validation loss). :mod:`chainrule.diagnosis` turns the
record into verdicts. The monitor only observes: it draws no random numbers and leaves
the weights, gradients and generator as they were, so training is unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from ..engine.backend import to_host
from ..engine.layers import Dense
from ..engine.workspace import rows_within_budget
from ..training.callbacks import Callback
from ..training.weights import sample_costs

if TYPE_CHECKING:
    from ..engine.network import Network, Trace
    from ..training.loop import Trainer

Array = NDArray[np.floating]


@dataclass
class LayerHealth:
    """One check of one Dense layer (the notes' layer ``layer``, 1 … L)."""

    layer: int
    activation: str
    a_mean: float
    a_std: float
    dead: float | None  # fraction of units with g′(z) = 0 on every probe sample
    saturated: float | None  # fraction of probe outputs near an asymptote
    grad_rms: float  # ‖∂C/∂W‖ / √(n_out · n_in)
    weight_rms: float
    update_ratio: float | None  # ‖Δw‖ / ‖w‖ of one step (None at the first check)
    hist: NDArray[np.int64] = field(repr=False)  # counts of a over the monitor's bins


@dataclass
class Check:
    """All layers at one step; with the probe's cost C and the cost of a network that
    learned nothing (:func:`baseline_cost`) when the probe's targets are known."""

    step: int
    epoch: int
    layers: list[LayerHealth]
    loss: float | None = None
    baseline: float | None = None

    @property
    def learned(self) -> float | None:
        """1 − C / C_baseline: the share of what a constant output leaves to learn that
        the network has learned (≤ 0: nothing; 1: a perfect fit); None when unknown."""
        if self.loss is None or self.baseline is None or not self.baseline > 0:
            return None
        return 1.0 - self.loss / self.baseline


def probe_cost(net: Network, trace: Trace, Y: Array) -> float:
    """The mean cost C (no L2 term) of a forward pass against targets ``Y`` (n, n_out)
    (an ensemble: the members' mean, as it trains)."""
    with np.errstate(all="ignore"):
        return float(np.mean(sample_costs(net, trace, Y)))


def baseline_cost(net: Network, Y: Array) -> float:
    """The cost of a network that learned nothing: every output the targets' mean ȳ (the
    class frequencies for a classification loss, kept inside (0, 1)), the constant whose
    cost is lowest for cross-entropy and MSE.

    ``Y`` : ndarray of shape (n_samples, n_out), as the loss takes it.
    """
    mean = np.mean(Y, axis=0, keepdims=True)
    if net.loss_fn.classification:
        mean = np.clip(mean, 1e-7, 1 - 1e-7)
    a = np.broadcast_to(mean, Y.shape).astype(Y.dtype)
    with np.errstate(all="ignore"):
        return float(np.mean(net.loss_fn.value(a, Y)))


def layer_health(net: Network, a0: Array, grads: Array, previous: Array | None,
                 bins: NDArray[np.floating], trace: Trace | None = None) -> list[LayerHealth]:
    """Per-layer statistics of ``net`` on probe inputs ``a0`` (n, n_in).

    ``grads`` is a flat gradient like ``net.grads``; ``previous`` the flat parameters one
    step ago (None: no update ratio); ``trace`` the forward pass of ``a0`` if the caller
    has it already.
    """
    if trace is None:
        trace = net.forward(a0)
    out: list[LayerHealth] = []
    dense = [(i, d) for i, d in enumerate(net.layers) if isinstance(d, Dense)]
    for layer, (i, d) in enumerate(dense, start=1):
        z, a = trace.z[i], trace.a[i + 1]
        assert z is not None
        act = d.activation
        dead = None
        if act.elementwise:
            flat = act.g_prime(z, a) == 0  # no gradient passes this unit for this sample
            dead = float(np.mean(np.all(flat, axis=0)))
        sat_mask = act.saturated(a)
        saturated = None if sat_mask is None else float(np.mean(sat_mask))
        w_slice = net.param_slices(layer)["w"]
        w, g = net.params[w_slice], grads[w_slice]
        ratio = None
        if previous is not None:
            norm_w = float(np.linalg.norm(w))
            delta = float(np.linalg.norm(w - previous[w_slice]))
            ratio = delta / norm_w if norm_w > 0 else math.inf
        counts = _histogram(a, bins)
        out.append(LayerHealth(
            layer=layer, activation=act.name, a_mean=float(np.mean(a)), a_std=float(np.std(a)),
            dead=dead, saturated=saturated,
            grad_rms=float(np.linalg.norm(g)) / math.sqrt(g.size),
            weight_rms=float(np.linalg.norm(w)) / math.sqrt(w.size),
            update_ratio=ratio, hist=counts.astype(np.int64),
        ))
    return out


def _histogram(a: Array, bins: NDArray[np.floating]) -> NDArray[np.int64]:
    """Counts of ``a`` over equal-width ``bins`` (values outside go to the end bins): one
    pass with bincount, no sort (np.histogram sorts, 4× slower at 65k values)."""
    n_bins = bins.size - 1
    scaled = (a.ravel() - bins[0]) * (n_bins / (bins[-1] - bins[0]))
    np.nan_to_num(scaled, copy=False, nan=0.0)  # a diverging run's NaN: counted, not a crash
    index = np.clip(scaled, 0, n_bins - 1).astype(np.intp)
    return np.bincount(index, minlength=n_bins)


#: What a check's forward pass over the probe may hold (every layer's z and a, and the
#: statistics' temporaries, for each probe row): the widths decide the rows, so a very
#: wide network (one read from a file, say) is probed on fewer samples, not more memory.
PROBE_BUDGET = 32 * 2**20


def probe_rows(net: Network, probe_size: int) -> int:
    """The probe rows that fit :data:`PROBE_BUDGET` (at most ``probe_size``, at least 1).
    Half the budget goes to z and a: the statistics' temporaries take as much again."""
    return min(probe_size, rows_within_budget(net, PROBE_BUDGET // 2))


class HealthMonitor(Callback):
    """Records :class:`LayerHealth` every ``every`` steps and the losses every epoch.

    Parameters
    ----------
    every : int
        Steps between checks (each costs one forward pass over the probe batch and one
        copy of the parameters the step before).
    probe_size : int
        Training samples in the probe batch (the first ones: no random draw); fewer on a
        network so wide that their activations would pass :data:`PROBE_BUDGET`.
    bins : int
        Histogram bins of a, over [−3, 3] (values outside are counted in the end bins).

    Attributes
    ----------
    checks : list of Check
    epochs : list of dict
        The epoch logs (``loss``, ``val_loss``, …) as the loop reported them.
    """

    def __init__(self, every: int = 50, probe_size: int = 256, bins: int = 40) -> None:
        for name, value in (("every", every), ("probe_size", probe_size), ("bins", bins)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        self.every, self.probe_size = every, probe_size
        self.bins = np.linspace(-3.0, 3.0, bins + 1)
        self.checks: list[Check] = []
        self.epochs: list[dict[str, float]] = []
        self.net: Network | None = None
        self._probe: Array | None = None
        self._probe_y: Array | None = None
        self._baseline: float | None = None
        self._previous: Array | None = None
        self._have_previous = False
        self._step = 0

    def on_train_begin(self, trainer: Trainer) -> None:
        assert trainer.data is not None
        self.net = trainer.net
        rows = probe_rows(trainer.net, self.probe_size)
        self._probe = to_host(trainer.data[0][:rows])
        self._probe_y = to_host(trainer.data[1][:rows])
        self._baseline = baseline_cost(trainer.net, self._probe_y)
        self._previous = np.empty(trainer.net.params.shape, dtype=trainer.net.dtype)
        self._have_previous = False

    def on_batch_end(self, trainer: Trainer, batch: int, loss: float) -> None:
        self._step += 1
        net = trainer.net
        if self._step % self.every == 0:
            previous = self._previous if self._have_previous else None
            assert self._probe is not None
            grads = net.grads
            if net.xp is not np:  # on a device the monitor samples a host copy, every N steps
                net, grads = net.to_backend(), to_host(grads)
            trace = net.forward(self._probe)
            assert self._probe_y is not None
            self.checks.append(Check(
                self._step, trainer.epoch,
                layer_health(net, self._probe, grads, previous, self.bins, trace),
                probe_cost(net, trace, self._probe_y), self._baseline))
            self._have_previous = False
        if (self._step + 1) % self.every == 0 and self._previous is not None:
            np.copyto(self._previous, to_host(net.params))  # the weights a step before the check
            self._have_previous = True

    def watches(self, trainer: Trainer, ahead: int) -> bool:
        """The batches of a check and the one before it (whose weights it keeps)."""
        step = self._step + ahead
        return step % self.every == 0 or (step + 1) % self.every == 0

    def on_epoch_end(self, trainer: Trainer, logs: dict[str, float]) -> None:
        self.epochs.append(dict(logs))
