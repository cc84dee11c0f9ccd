"""Why isn't it learning? Verdicts, in the notes' terms, from a :class:`HealthMonitor`.

Each rule reads the monitor's record and names one pathology, with its numbers and
what to change. The thresholds and where they come from (docs/diagnostics.md):

=========================  ==================================================  ==========
verdict                    trips when                                          source
=========================  ==================================================  ==========
``divergence``             the loss stopped being finite, or exploded          —
``lr_too_large``           at some check median ‖Δw‖/‖w‖ over layers > 1e-1    [2], [1]
                           (≈ 1e-3 is healthy); named alone, its saturated
                           or dead units listed as symptoms
``dead_units``             ≥ 50 % of a hidden layer's units have g′(z) = 0     [1]
                           for every probe sample ∗
``saturation``             ≥ 50 % of a bounded hidden layer's outputs have     [2]
                           |a| > 0.97 (sigmoid: |2a − 1| > 0.97); ≥ 25 %
                           when the cost is above a constant output's ∗
``vanishing_gradients``    RMS of ∂C/∂W^(1) < 1e-2 × that of ∂C/∂W^(L) ∗       [3]
``exploding_gradients``    that ratio > 1e2 ∗                                  [3]
``lr_too_small``           at every check median ‖Δw‖/‖w‖ < 1e-5 ∗             [2], [1]
``overfitting``            validation loss ≥ 2 × training loss, and accuracy   [4]
                           10 points below training (regression: validation
                           loss 20 % above its own minimum)
=========================  ==================================================  ==========

∗ only in a network that does not fit: :attr:`Check.learned` (the share of a constant
output's cost the network has removed) below :data:`FITS`. Calibrated on 24 sick and 35
healthy runs of known truth (``bench/calibrate_health.py verdicts``): no false alarm.

[1] Karpathy, Li, Johnson: CS231n notes, "Neural Networks Part 3" (dead ReLUs; the
    update/weight ratio ~1e-3). [2] Karpathy, "Building makemore Part 3" (2022): tanh
    saturation |t| > 0.97 and log10 of the update-to-data ratio ≈ −3. [3] Glorot & Bengio
    (2010), Hochreiter (1991): gradients vanishing or exploding layer to layer.
    [4] Goodfellow, Bengio, Courville, *Deep Learning*, §7.8 (early stopping).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from ..training.callbacks import DivergenceError
from .monitor import Check, HealthMonitor, LayerHealth

if TYPE_CHECKING:
    from ..engine.network import Network

DEAD = 0.5
SATURATED = 0.5
SATURATED_WORSE = 0.25  # when the cost is above that of a constant output
#: A network whose cost has come this share of the way from a constant output's to 0
#: fits: no dead-unit, saturation, gradient or too-small-rate verdict is said of it.
FITS = 0.8
VANISHING = 1e-2
EXPLODING = 1e2
UPDATE_HEALTHY = 1e-3
UPDATE_TOO_SMALL = 1e-5
UPDATE_TOO_LARGE = 1e-1
OVERFIT_GAP = 2.0
OVERFIT_RISE = 1.2
OVERFIT_ACCURACY_GAP = 0.10


@dataclass
class Verdict:
    """One named pathology: ``kind``, the layer it concerns (or None), and a sentence."""

    kind: str
    message: str
    layer: int | None = None
    value: float | None = None

    def __str__(self) -> str:
        return self.message


@dataclass
class Diagnosis:
    """The verdicts of one run, and the record they came from.

    ``healthy`` when no rule trips; ``report()`` is the text the CLI prints.
    """

    verdicts: list[Verdict]
    checks: list[Check] = field(repr=False)
    epochs: list[dict[str, float]] = field(repr=False)

    @property
    def healthy(self) -> bool:
        return not self.verdicts

    @property
    def kinds(self) -> set[str]:
        return {v.kind for v in self.verdicts}

    def report(self) -> str:
        if self.healthy:
            last = self.checks[-1] if self.checks else None
            extra = ""
            if last is not None:
                ratios = [h.update_ratio for h in last.layers if h.update_ratio]
                if ratios:
                    extra = f" (updates ≈ {_power(float(np.median(ratios)))} of the weights)"
            return f"healthy: no dead or saturated layers, gradients reach every layer{extra}"
        return "\n".join(f"- {v.message}" for v in self.verdicts)

    def to_dict(self) -> dict[str, Any]:
        """The verdicts and the last check, JSON-ready (for metrics.json)."""
        last = self.checks[-1].layers if self.checks else []
        return {
            "healthy": self.healthy,
            "verdicts": [{"kind": v.kind, "layer": v.layer, "message": v.message}
                         for v in self.verdicts],
            "layers": [{k: getattr(h, k) for k in ("layer", "activation", "a_mean", "a_std",
                                                     "dead", "saturated", "grad_rms",
                                                     "weight_rms", "update_ratio")}
                       for h in last],
        }


def verdicts(monitor: HealthMonitor, diverged: DivergenceError | None = None, *,
             kept: tuple[str, float] | None = None) -> Diagnosis:
    """Apply every rule to what ``monitor`` recorded (``diverged``: the error, if any;
    ``kept``: see :func:`verdicts_from`)."""
    return verdicts_from(monitor.checks, monitor.epochs, diverged, kept=kept)


def verdicts_from(checks: list[Check], epochs: list[dict[str, float]],
                  diverged: DivergenceError | None = None, *,
                  kept: tuple[str, float] | None = None) -> Diagnosis:
    """The rules on a record of checks and epoch logs (what :func:`verdicts` reads from a
    monitor; the playground builds its own).

    ``kept`` is (monitor, value) of the epoch whose weights early stopping restored: the
    model the run saves is that epoch's, so overfitting is judged there, not on the
    epochs trained past it (and "stop earlier" is not advised: it already did).
    """
    out: list[Verdict] = []
    losses = [e["loss"] for e in epochs if "loss" in e]
    if diverged is not None or any(not math.isfinite(v) for v in losses):
        # The error's own advice (the output/loss pair, the targets' scale) names the cause;
        # the learning rate is the general one.
        said = ("" if diverged is not None and diverged.advice is not None else
                "; lower the learning rate, clip gradients (--clipnorm; an optimizer's "
                "clipnorm=) or rescale the targets")
        out.append(Verdict("divergence", "training diverged: the loss stopped being finite "
                           f"({diverged or 'a NaN or inf loss'}){said}"))
        return Diagnosis(out, checks, epochs)
    if checks:
        out.extend(_layer_verdicts(checks))
    out.extend(_overfitting(_up_to_kept(epochs, kept), stopped=kept is not None))
    return Diagnosis(out, checks, epochs)


def _up_to_kept(epochs: list[dict[str, float]],
                kept: tuple[str, float] | None) -> list[dict[str, float]]:
    """The epoch logs up to the kept epoch (the last whose ``monitor`` logged ``value``);
    all of them when nothing was kept or that epoch is not among them (a resumed run)."""
    if kept is None:
        return epochs
    key, value = kept
    at = [i for i, e in enumerate(epochs) if e.get(key) == value]
    return epochs[:at[-1] + 1] if at else epochs


def _layer_verdicts(checks: list[Check]) -> list[Verdict]:
    """The rules on the monitor's checks, causes first: a learning rate so large that one
    step moves the weights by over a tenth of themselves is named alone (the saturated or
    dead units it leaves are its symptoms); dead units, saturation, vanishing gradients
    and a rate too small name why a network does not learn, so none of them is said of
    one that fits (:data:`FITS`)."""
    peak = _peak_update_ratio(checks)
    last = checks[-1].layers
    symptoms = _blocked(last, _learned(checks))
    if peak is not None and peak > UPDATE_TOO_LARGE:
        also = (f"; the {' and '.join(dict.fromkeys(v.kind.replace('_', ' ') for v in symptoms))}"
                " follow from it" if symptoms else "")
        return [Verdict(
            "lr_too_large", f"updates reached {_power(peak)} of the weights in one step "
            f"(‖Δw‖/‖w‖; ≈ 10⁻³ is healthy): the learning rate is ~{peak / UPDATE_HEALTHY:.0f}× "
            f"too large{also}; lower it (--lr)", None, peak)]
    out = symptoms
    # the largest step of the run: a schedule that decays the rate to ~0 at its end (cosine)
    # makes the last steps tiny by design, not too small
    update = peak
    if any(v.kind in ("dead_units", "vanishing_gradients") for v in out):
        update = None  # no gradient reaches those weights: that is the cause, not the rate
    learned = _learned(checks)
    if (update is not None and update < UPDATE_TOO_SMALL
            and (learned is None or learned < FITS)):
        out.append(Verdict(
            "lr_too_small", f"updates reached at most {_power(update)} of the weights "
            f"(‖Δw‖/‖w‖; ≈ 10⁻³ is healthy) and the cost is {_share(learned)}: the learning "
            "rate is "
            f"~{UPDATE_HEALTHY / max(update, 1e-300):.0f}× too small; raise it (--lr)", None,
            update))
    return out


def _blocked(last: list[LayerHealth], learned: float | None) -> list[Verdict]:
    """Dead units, saturation and vanishing or exploding gradients at the last check, in a
    network that does not fit (``learned`` below :data:`FITS`, or unknown)."""
    if learned is not None and learned >= FITS:
        return []
    out = []
    worse = learned is not None and learned < 0  # worse than a constant output
    for h in last[:-1]:  # hidden layers: a confident output layer is no pathology
        if h.dead is not None and h.dead >= DEAD:
            out.append(Verdict(
                "dead_units", f"layer {h.layer}: {h.dead:.0%} of {h.activation} units are "
                f"dead (g′(z) = 0 for every sample, so δ^({h.layer}) = 0 and no gradient "
                f"reaches w^({h.layer})) and the cost is {_share(learned)}; use leaky_relu "
                "(--activation leaky_relu), He initialization, or a lower learning rate",
                h.layer, h.dead))
        limit = SATURATED_WORSE if worse else SATURATED
        if h.saturated is not None and h.saturated >= limit:
            out.append(Verdict(
                "saturation", f"layer {h.layer}: {h.saturated:.0%} of {h.activation} outputs "
                f"are saturated (|a| near its asymptote, g′(z) < 0.06, so little of ∂C/∂a "
                f"gets through to δ^({h.layer})) and the cost is {_share(learned)}; use a "
                "smaller initialization (Glorot), scale the inputs, or relu", h.layer,
                h.saturated))
    if len(last) >= 3 and last[-1].grad_rms > 0:
        ratio = last[0].grad_rms / last[-1].grad_rms
        L = len(last)
        if ratio < VANISHING:
            out.append(Verdict(
                "vanishing_gradients", f"∂C/∂W^(1) is {_power(ratio)} of ∂C/∂W^({L}): "
                f"gradients vanish through {L - 1} {last[0].activation} layers (each "
                "multiplies δ by g′(z) ≤ 1); use relu with He initialization, or fewer "
                "layers", 1, ratio))
        elif ratio > EXPLODING:
            out.append(Verdict(
                "exploding_gradients", f"∂C/∂W^(1) is {_power(ratio)} of ∂C/∂W^({L}): "
                "gradients grow layer to layer; use a smaller initialization, clip "
                "gradients (--clipnorm) or fewer layers", 1, ratio))
    return out


def _learned(checks: list[Check]) -> float | None:
    """The last check's share of the learnable cost learned (None: unknown)."""
    return checks[-1].learned if checks else None


def _share(learned: float | None) -> str:
    """How far the cost is from that of a network that learned nothing, in words."""
    if learned is None:
        return "not known"
    if learned < 0:
        return "above that of a constant output"
    return f"{learned:.0%} of the way from a constant output's to 0"


def _peak_update_ratio(checks: list[Check]) -> float | None:
    """The largest, over the checks, of the median over layers of ‖Δw‖/‖w‖."""
    medians = [float(np.median(r)) for c in checks
               if (r := [h.update_ratio for h in c.layers if h.update_ratio is not None])]
    return max(medians) if medians else None


def _overfitting(epochs: list[dict[str, float]], *, stopped: bool = False) -> list[Verdict]:
    """Validation loss ≥ 2 × training loss, and either (classification) accuracy 10
    points below training accuracy, or (regression) validation loss 20 % above its own
    minimum and so rising. ``stopped``: early stopping kept the last of ``epochs``."""
    last = epochs[-1] if epochs else {}
    if "val_loss" not in last or len(epochs) < 2:
        return []
    loss, val = last["loss"], last["val_loss"]
    if val < OVERFIT_GAP * max(loss, 1e-12):
        return []
    val_curve = [e["val_loss"] for e in epochs]
    best = min(val_curve)
    if "accuracy" in last and "val_accuracy" in last:
        gap = last["accuracy"] - last["val_accuracy"]
        if gap < OVERFIT_ACCURACY_GAP:
            return []
        evidence = (f"training accuracy {last['accuracy']:.1%} against {last['val_accuracy']:.1%} "
                    "on validation")
    else:
        if val < OVERFIT_RISE * best:
            return []
        evidence = f"the validation loss has risen since epoch {val_curve.index(best) + 1}"
    return [Verdict(
        "overfitting", f"overfitting: the validation loss ({val:.3g}) is "
        f"{val / max(loss, 1e-12):.1f}× the training loss ({loss:.3g}), {evidence}; the "
        "network memorizes its training set: get more data, add l2 or dropout"
        + ("" if stopped else ", or stop earlier (--early-stopping)"),
        None, val / max(loss, 1e-12))]


def _update_ratio(checks: list[Check]) -> float | None:
    """Median over layers of ‖Δw‖/‖w‖, over the last three checks that have one."""
    ratios = [h.update_ratio for c in checks[-3:] for h in c.layers if h.update_ratio is not None]
    return float(np.median(ratios)) if ratios else None


def _power(x: float) -> str:
    """0.00012 → '10^-3.9'."""
    return f"10^{math.log10(x):.1f}" if x > 0 else "0"


def diagnose(net: Network, X: ArrayLike, Y: ArrayLike, *, steps: int = 50,
             batch_size: int = 32, validation_data: tuple[ArrayLike, ArrayLike] | None = None,
             every: int = 5) -> Diagnosis:
    """One look at a (saved or fresh) network on data: a few training steps on a copy.

    The copy trains ``steps`` steps with the network's own optimizer (or Adam) under a
    :class:`HealthMonitor` (a check every ``every`` steps); ``net`` itself is unchanged.
    """
    from ..training import fit

    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps: expected a positive integer, got {steps!r}")
    twin = net.copy()
    n = int(np.shape(X)[0]) if np.ndim(X) else 0
    epochs = max(1, math.ceil(steps * batch_size / max(n, 1)))
    monitor = HealthMonitor(every=min(every, steps), probe_size=256)
    diverged = None
    try:
        with np.errstate(all="ignore"):
            fit(twin, X, Y, epochs=epochs, batch_size=batch_size, callbacks=[monitor],
                validation_data=validation_data)
    except DivergenceError as exc:
        diverged = exc
    return verdicts(monitor, diverged)
