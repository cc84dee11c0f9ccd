"""Constructor-parameter checks for the estimators, in one declarative place.

scikit-learn's own names, meanings and accepted ranges, widened where chainrule can
do more: any chainrule activation (per hidden layer if a list), any chainrule
optimizer as ``solver``, any chainrule schedule as ``learning_rate``, dropout,
``dtype`` and callbacks. Every message names the parameter, what it got and what
it accepts.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from chainrule.engine.activations import get_activation
from chainrule.training.callbacks import Callback
from chainrule.training.optimizers import OPTIMIZERS, Optimizer
from chainrule.training.schedules import SCHEDULES, Schedule

SKLEARN_LR_RULES = ("constant", "invscaling", "adaptive")
SOLVERS = ("lbfgs", *OPTIMIZERS)


def _number(
    est: Any,
    name: str,
    lo: float,
    hi: float = math.inf,
    *,
    lo_closed: bool = True,
    hi_closed: bool = False,
    integer: bool = False,
) -> float:
    value = getattr(est, name)
    kind = numbers.Integral if integer else numbers.Real
    ok = isinstance(value, kind) and not isinstance(value, bool)
    if ok:
        above = value >= lo if lo_closed else value > lo
        below = value <= hi if hi_closed else value < hi
        ok = above and below
    if not ok:
        left = "[" if lo_closed else "("
        right = "]" if hi_closed else ")"
        what = "an integer" if integer else "a number"
        raise ValueError(f"{name}: expected {what} in {left}{lo}, {hi}{right}, got {value!r}")
    return value


def _flag(est: Any, name: str) -> bool:
    value = getattr(est, name)
    if not isinstance(value, (bool, numbers.Integral)):
        raise ValueError(f"{name}: expected True or False, got {value!r}")
    return bool(value)


def hidden_sizes(value: Any) -> list[int]:
    """``hidden_layer_sizes`` as a list of positive ints (an int means one hidden layer)."""
    sizes = [value] if isinstance(value, numbers.Integral) else value
    try:
        sizes = list(sizes)
    except TypeError:
        raise ValueError(
            f"hidden_layer_sizes: expected a positive int or a sequence of them, got {value!r}"
        ) from None
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
            raise ValueError(
                f"hidden_layer_sizes: every size must be a positive integer, got {value!r}"
            )
    return [int(s) for s in sizes]


def per_hidden_layer(name: str, value: Any, n_hidden: int) -> list[Any]:
    """A scalar repeated for every hidden layer, or a list checked to have one entry each."""
    if isinstance(value, (str, numbers.Real)) or value is None:
        return [value] * n_hidden
    try:
        values = list(value)
    except TypeError:
        raise ValueError(f"{name}: expected one value or a list of {n_hidden} (one per hidden "
                         f"layer), got {value!r}") from None
    if len(values) != n_hidden:
        raise ValueError(
            f"{name}: expected one value or {n_hidden} (one per hidden layer), "
            f"got {len(values)}: {value!r}"
        )
    return values


def check_params(est: Any) -> dict[str, Any]:
    """Validate every constructor parameter; return the normalised pieces fit needs."""
    sizes = hidden_sizes(est.hidden_layer_sizes)
    activations = per_hidden_layer("activation", est.activation, len(sizes))
    for act in activations:
        if not isinstance(act, str):
            raise ValueError(f"activation: expected an activation name, got {act!r}")
        get_activation(act)  # raises, listing ACTIVATIONS, for an unknown name
    solver = est.solver
    if not isinstance(solver, Optimizer) and solver not in SOLVERS:
        raise ValueError(
            f"solver: expected one of {', '.join(SOLVERS)} or a chainrule Optimizer, "
            f"got {solver!r}"
        )
    lr = est.learning_rate
    if not isinstance(lr, Schedule) and lr not in (*SKLEARN_LR_RULES, *SCHEDULES):
        names = sorted(set(SKLEARN_LR_RULES) | set(SCHEDULES))
        raise ValueError(
            f"learning_rate: expected one of {', '.join(names)} or a chainrule Schedule, "
            f"got {lr!r}"
        )
    _number(est, "alpha", 0)
    if est.batch_size != "auto":
        _number(est, "batch_size", 1, integer=True)
    _number(est, "learning_rate_init", 0, lo_closed=False)
    _number(est, "power_t", 0)
    _number(est, "max_iter", 1, integer=True)
    _number(est, "tol", 0)
    _number(est, "momentum", 0, 1, hi_closed=True)
    _number(est, "validation_fraction", 0, 1)
    _number(est, "beta_1", 0, 1)
    _number(est, "beta_2", 0, 1)
    _number(est, "epsilon", 0, lo_closed=False)
    if est.n_iter_no_change != math.inf:
        _number(est, "n_iter_no_change", 1, integer=True)
    _number(est, "max_fun", 1, integer=True)
    _number(est, "ensemble", 1, integer=True)
    for name in ("shuffle", "warm_start", "nesterovs_momentum", "early_stopping"):
        _flag(est, name)
    dropout = per_hidden_layer("dropout", est.dropout, len(sizes))
    for rate in dropout:
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 <= float(rate) < 1:
            raise ValueError(f"dropout: every rate must be a number in [0, 1), got {est.dropout!r}")
    if solver == "lbfgs" and any(dropout):
        raise ValueError(
            "dropout: needs a mini-batch solver; L-BFGS assumes a deterministic objective, "
            f"got solver='lbfgs' with dropout={est.dropout!r}"
        )
    if est.dtype not in (None, "float32", "float64"):
        raise ValueError(f"dtype: expected None, 'float32' or 'float64', got {est.dtype!r}")
    rs = est.random_state
    if not (rs is None or isinstance(rs, np.random.RandomState) or (
            isinstance(rs, numbers.Integral) and not isinstance(rs, bool)
            and 0 <= int(rs) < 2**32)):
        raise ValueError("random_state: expected None, an integer in [0, 2**32 - 1] or a "
                         f"numpy.random.RandomState, got {rs!r}")
    if est.callbacks is not None and not isinstance(est.callbacks, (list, tuple)):
        raise ValueError(f"callbacks: expected a list of chainrule Callback, got "
                         f"{est.callbacks!r}")
    callbacks = [] if est.callbacks is None else list(est.callbacks)
    for i, cb in enumerate(callbacks):
        if not isinstance(cb, Callback):
            raise ValueError(f"callbacks[{i}]: expected a chainrule Callback, got {cb!r}")
    return {
        "sizes": sizes,
        "activations": activations,
        "dropout": [float(r) for r in dropout],
        "callbacks": callbacks,
        "ensemble": int(est.ensemble),
    }


def sklearn_activation_name(name: str) -> str:
    """scikit-learn's spelling of an activation (``sigmoid`` is ``logistic`` there)."""
    name = get_activation(name).name
    return "logistic" if name == "sigmoid" else name
