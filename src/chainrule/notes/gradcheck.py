"""Finite-difference check of backprop: the notes' derivatives, verified numerically.

Every gradient entry is compared with the five-point central difference

.. math:: \\frac{\\partial C}{\\partial w} \\approx
          \\frac{-C(w+2h) + 8C(w+h) - 8C(w-h) + C(w-2h)}{12h},

computed in float64 (error O(h⁴) plus round-off ~1e-16·C/h ≈ 1e-12), so that a
correct backward pass agrees to ~1e-10 relative and any mistake shows up as a
large relative error. The relative error is |a − n| / max(|a|, |n|, floor) with
floor = 1e-5 · max(1, |C|): a gradient that small next to the cost is judged by
its absolute error, since the finite difference itself carries round-off of
order 1e-16 · |C| / h there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..engine.layers import Dense
from ..engine.network import Network
from ..training import weights

#: Gradients smaller than this (times max(1, |C|)) are judged by absolute error over this floor:
#: relative error is meaningless for an exact zero, e.g. a dead ReLU unit.
REL_ERROR_FLOOR = 1e-5


def as_float64(net: Network) -> Network:
    """A float64 copy of ``net`` with the same parameters, scaler and loss (no shared state),
    on the host: a network on another backend (torch, CuPy) is checked as NumPy float64."""
    return net.copy(dtype="float64", backend="numpy")


def relative_error(analytic: NDArray, numeric: NDArray, floor: float = REL_ERROR_FLOOR) -> NDArray:
    """|a − n| / max(|a|, |n|, floor), elementwise."""
    return np.abs(analytic - numeric) / np.maximum(
        np.maximum(np.abs(analytic), np.abs(numeric)), floor
    )


@dataclass
class ParamCheck:
    """Result for one parameter array (``w`` or ``b``) of one layer."""

    layer: int  # the notes' layer index l (1 = first hidden layer, L = output)
    name: str
    n_checked: int
    max_abs_error: float
    max_rel_error: float


@dataclass
class GradcheckReport:
    """Per-layer comparison of backprop with finite differences."""

    checks: list[ParamCheck] = field(default_factory=list)

    @property
    def max_rel_error(self) -> float:
        return max((c.max_rel_error for c in self.checks), default=0.0)

    @property
    def max_abs_error(self) -> float:
        return max((c.max_abs_error for c in self.checks), default=0.0)

    def per_layer(self) -> dict[int, float]:
        """Max relative error by layer index l."""
        out: dict[int, float] = {}
        for c in self.checks:
            out[c.layer] = max(out.get(c.layer, 0.0), c.max_rel_error)
        return out

    def __str__(self) -> str:
        lines = [f"{'layer':>5}  {'param':<6}{'checked':>8}  {'max abs err':>12}  "
                 f"{'max rel err':>12}"]
        for c in self.checks:
            lines.append(
                f"{c.layer:>5}  {c.name:<6}{c.n_checked:>8}  {c.max_abs_error:>12.3e}  "
                f"{c.max_rel_error:>12.3e}"
            )
        lines.append(f"overall max relative error: {self.max_rel_error:.3e}")
        return "\n".join(lines)


def _finite_differences(params: NDArray, idx: NDArray, cost: Callable[[], float],
                        h: float) -> NDArray:
    """The five-point central difference of ``cost`` along each ``params[i]``, i in idx;
    every entry is restored."""
    numeric = np.empty(idx.size)
    for n_i, i in enumerate(idx):
        w0 = params[i]
        values = []
        for step in (2.0, 1.0, -1.0, -2.0):
            params[i] = w0 + step * h
            values.append(cost())
        params[i] = w0
        numeric[n_i] = (-values[0] + 8 * values[1] - 8 * values[2] + values[3]) / (12 * h)
    return numeric


def gradcheck(
    net: Network,
    X: ArrayLike,
    Y: ArrayLike,
    *,
    h: float = 1e-4,
    max_params_per_array: int | None = None,
    seed: int = 0,
    sample_weight: ArrayLike | None = None,
) -> GradcheckReport:
    """Compare every backprop gradient of ``net`` on (X, Y) with finite differences.

    Parameters
    ----------
    net : Network
        Checked on a float64 copy (dropout off); ``net`` itself is not modified.
    X : array-like of shape (n_samples, n_in)
    Y : array-like of targets
    h : float
        Finite-difference step.
    max_params_per_array : int, optional
        Check only this many randomly chosen entries of each ``w`` and ``b`` (for big
        networks); default all.
    seed : int
        Seed for that choice.
    sample_weight : array-like of shape (n_samples,), optional
        Check the weighted cost C = Σ_i s_i C_i / Σ_i s_i instead of the mean (see
        :mod:`chainrule.weights`).

    Returns
    -------
    GradcheckReport
        ``.max_rel_error`` overall, ``.per_layer()`` by layer.
    """
    if not (isinstance(h, float) and 0 < h < 1):
        raise ValueError(f"h: expected a float in (0, 1), got {h!r}")
    net64 = as_float64(net)
    a0 = net64.inputs(X)
    Yt = net64.targets(Y, a0.shape[0])
    if sample_weight is None:
        analytic = net64.backward(net64.forward(a0), Yt).copy()
    else:
        s = weights.check_sample_weight(sample_weight, a0.shape[0])
        analytic = weights.weighted_backward(net64, net64.forward(a0), Yt, s).copy()

    def cost() -> float:
        if sample_weight is None:
            return net64.cost(net64.forward(a0), Yt)
        return weights.weighted_cost(net64, net64.forward(a0), Yt, s)

    floor = REL_ERROR_FLOOR * max(1.0, abs(cost()))
    rng = np.random.default_rng(seed)
    report = GradcheckReport()
    offset = 0
    layer_index = 0
    for layer in net64.layers:
        if isinstance(layer, Dense):
            layer_index += 1
        for name, shape in layer.param_shapes():
            size = int(np.prod(shape))
            idx = np.arange(offset, offset + size)
            if max_params_per_array is not None and size > max_params_per_array:
                idx = np.sort(rng.choice(idx, size=max_params_per_array, replace=False))
            numeric = _finite_differences(net64.params, idx, cost, h)
            a = analytic[idx]
            report.checks.append(
                ParamCheck(
                    layer=layer_index,
                    name=name,
                    n_checked=int(idx.size),
                    max_abs_error=float(np.max(np.abs(a - numeric))),
                    max_rel_error=float(np.max(relative_error(a, numeric, floor))),
                )
            )
            offset += size
    return report
