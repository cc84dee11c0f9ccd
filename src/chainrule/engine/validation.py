"""Argument checks at the boundary: every message names the argument, what it got and
what it accepts, so nothing deeper fails with a bare NumPy broadcasting error."""

from __future__ import annotations

import math
import operator
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

if TYPE_CHECKING:
    from .losses import Loss

DTYPES = ("float32", "float64")

#: The most parameters one network may hold (2³¹ − 1, the largest count every backend and
#: the compiled kernels index). A network must also fit in the memory available: its
#: parameters, their gradients and the initial draw, 3 × n_params × the dtype's size.
MAX_PARAMS = 2**31 - 1
#: The largest seed accepted: NumPy's SeedSequence takes any non-negative integer, but a
#: model file stores the seed in JSON, where integers past 2⁶³ − 1 are not portable.
MAX_SEED = 2**63 - 1


def _show(value: Any, limit: int = 60) -> str:
    """``repr(value)``, shortened to ``limit`` characters, for one-line messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_int(name: str, value: object, *, low: int | None = 1, high: int | None = None) -> int:
    """``value`` as an int in [low, high] (``low=None``: any integer); bool, float and str
    are refused by name."""
    number: int | None = None
    if not isinstance(value, (bool, np.bool_)):  # True is not a width
        try:
            number = operator.index(value)  # type: ignore[arg-type]
        except TypeError:
            pass
    if (number is None or (low is not None and number < low)
            or (high is not None and number > high)):
        accepted = ("an integer" if low is None else f"an integer ≥ {low}" if high is None
                    else f"an integer in [{low}, {high}]")
        raise ValueError(f"{name}: expected {accepted}, got {_show(value)}")
    return number


def check_float(name: str, value: object, *, low: float = 0.0) -> float:
    """``value`` as a finite float ≥ ``low`` (an int or float, not a bool or a string)."""
    number: float | None = None
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
            value, (bool, np.bool_)):
        try:
            number = float(value)
        except OverflowError:  # an int past float's range
            number = None
    if number is None or not math.isfinite(number) or number < low:
        raise ValueError(f"{name}: expected a finite number ≥ {low:g}, got {_show(value)}")
    return number


def check_sizes(sizes: object) -> list[int]:
    """``sizes`` of :func:`~chainrule.engine.network.MLP`: a list of at least two positive
    integers, input first."""
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, (Sequence, np.ndarray)):
        raise ValueError("sizes: expected a list of layer widths such as [n_in, n_hidden, "
                         f"n_out], got {_show(sizes)}")
    widths = list(sizes)
    if len(widths) < 2:
        raise ValueError(f"sizes: expected at least [n_in, n_out], got {_show(widths)}")
    # Each width is an integer here; its sign is Dense's to check (n_in / n_out).
    return [check_int(f"sizes[{i}]", w, low=None) for i, w in enumerate(widths)]


def check_seed(seed: object) -> int | None:
    """A seed for ``numpy.random.default_rng``: None or an integer in [0, 2⁶³ − 1]."""
    if seed is None:
        return None
    try:
        return check_int("seed", seed, low=0, high=MAX_SEED)
    except ValueError as exc:
        raise ValueError(f"{exc} (or None for a fresh one)") from None


def check_label_types(labels: NDArray, name: str) -> NDArray:
    """``labels`` unchanged, unless some are NaN or inf, or they are Python objects other
    than all strings:
    strings mixed with numbers or None have no order (class labels are sorted;
    scikit-learn's "Mix of label input types (string and number)"), and other objects are
    scikit-learn's "Unknown label type"; either is one ValueError naming ``name``."""
    if labels.dtype.kind in "fc" and not np.all(np.isfinite(labels)):
        bad = labels.ravel()[~np.isfinite(labels.ravel())][0]
        raise ValueError(f"{name}: class labels contain {bad}; every label must be finite")
    if labels.dtype != object:
        return labels
    values = labels.ravel().tolist()
    is_str = [isinstance(v, str) for v in values]
    if all(is_str):
        return labels
    other = values[is_str.index(False)]
    if any(is_str):
        text = values[is_str.index(True)]
        raise ValueError(f"{name}: class labels mix strings and other values (e.g. {_show(text)} "
                         f"and {_show(other)}), which cannot be sorted; use one type, e.g. "
                         f"{name}.astype(str)")
    raise ValueError(f"{name}: Unknown label type: Python objects that are not all strings "
                     f"(e.g. {_show(other)} of type {type(other).__name__}); use "
                     f"{name}.astype(str), or a NumPy integer array")


def check_label_array(values: object, name: str,
                      shape: str = "(n_samples,) or (n_samples, n_outputs)") -> NDArray:
    """``values`` as an array of at least one dimension (class labels, targets, samples),
    or one ValueError naming ``name`` and the ``shape`` accepted for a scalar or a ragged
    nesting."""
    try:
        arr = np.asarray(values)
    except (ValueError, TypeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"{name}: expected a rectangular array of shape {shape} "
                         f"({first})") from None
    if arr.ndim == 0:
        raise ValueError(f"{name}: expected an array of shape {shape}, got a scalar "
                         f"{_show(values)}")
    return arr


def available_memory() -> int | None:
    """Bytes of memory available to allocate now (Linux ``MemAvailable``), or None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_param_budget(shapes: Sequence[tuple[int, ...]], dtype: np.dtype) -> int:
    """The parameter count of ``shapes``, checked against :data:`MAX_PARAMS` and the
    memory available before anything is allocated."""
    n_params = sum(math.prod(shape) for shape in shapes)
    need = 3 * n_params * dtype.itemsize  # params, grads and the initial draw
    if n_params > MAX_PARAMS:
        raise ValueError(f"layers: {n_params:,} parameters ({need / 2**30:,.1f} GiB of "
                         f"{dtype.name}) is more than the {MAX_PARAMS:,} a network may hold; "
                         "use narrower layers")
    avail = available_memory()
    if avail is not None and need > avail:
        raise ValueError(f"layers: {n_params:,} parameters need {need / 2**30:,.1f} GiB of "
                         f"{dtype.name} (weights, gradients, initial values), more than the "
                         f"{avail / 2**30:,.1f} GiB of memory available; use narrower layers")
    return n_params


def check_dtype(dtype: DTypeLike) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.name not in DTYPES:
        raise ValueError(f"dtype: expected one of {', '.join(DTYPES)}, got {dtype!r}")
    return dt


def _as_float_array(values: ArrayLike, name: str) -> NDArray:
    try:
        arr = np.asarray(values)
    except ValueError as exc:  # ragged nested sequences
        raise ValueError(f"{name}: expected a rectangular numeric array ({exc})") from None
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise ValueError(f"{name}: expected numeric values, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"{name}: expected real numbers, got complex dtype {arr.dtype}")
    return arr


def check_finite(arr: NDArray, name: str) -> None:
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        where = ", ".join(str(int(i)) for i in bad)
        raise ValueError(
            f"{name}: contains NaN or inf (first at index [{where}]: {arr[tuple(bad)]}); "
            "only finite values are accepted"
        )


class NonFiniteOutputError(ValueError):
    """A model's outputs hold nan or ±inf: they are neither returned, scored nor written as
    predictions unless the caller asks for them."""


def nonfinite_rows(A: ArrayLike) -> NDArray[np.intp]:
    """Indices of the rows (samples) of ``A`` (n_samples, …) holding a nan or an inf."""
    arr = np.asarray(A)
    if arr.ndim == 0 or arr.shape[0] == 0:
        return np.zeros(0, dtype=np.intp)
    return np.flatnonzero(~np.isfinite(arr.reshape(arr.shape[0], -1)).all(axis=1))


def check_finite_outputs(A: Any, source: str, *, rows: str = "rows", first: int = 0,
                         hint: str = "", what: str = "predictions") -> None:
    """Raise :class:`NonFiniteOutputError` when a row of the model outputs ``A`` (an array
    of any backend) holds a nan or an inf, naming ``source``, how many rows and the first
    few (numbered from ``first``, called ``rows``), then ``hint``: one line, e.g.
    ``t.csv: 200 of 200 predictions are not finite (nan or inf), data rows 1, 2, 3, 4, 5,
    … and 195 more; …``. Finite outputs cost one reduction (one scalar from a device)."""
    from ..io.safetext import name_list
    from .backend import all_finite, to_host

    if all_finite(A):
        return
    host = np.asarray(to_host(A))
    bad = nonfinite_rows(host)
    raise NonFiniteOutputError(
        f"{source}: {bad.size} of {host.shape[0]} {what} are not finite (nan or inf), {rows} "
        f"{name_list((int(i) + first for i in bad), limit=5)}; the model's parameters or "
        f"these inputs overflow its float type{hint}")


def check_range(arr: NDArray, dtype: np.dtype, name: str) -> None:
    """Refuse values of ``arr`` that ``dtype`` cannot hold (1e200 overflows float32 to inf),
    naming the first one's index, before the cast that would warn and make it inf."""
    if arr.dtype.kind != "f" or arr.dtype.itemsize <= dtype.itemsize or arr.size == 0:
        return
    top = float(np.finfo(dtype).max)
    with np.errstate(invalid="ignore"):
        big = np.abs(arr) > top
    if big.any():
        where = ", ".join(str(int(i)) for i in np.argwhere(big)[0])
        value = arr[tuple(np.argwhere(big)[0])]
        raise ValueError(f"{name}: {value:g} at index [{where}] is outside {dtype.name}'s range "
                         f"(±{top:.3g}); rescale it, or use dtype='float64'")


def as_features(X: ArrayLike, n_features: int, dtype: np.dtype, name: str = "X") -> NDArray:
    """X as a finite (n_samples, n_features) array of ``dtype``; a 1-D X is one sample."""
    arr = _as_float_array(X, name)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array (n_samples, n_features), got shape "
                         f"{arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name}: expected at least one sample, got an empty array")
    if arr.shape[1] != n_features:
        raise ValueError(
            f"{name}: expected {n_features} features per sample (the network's n_in), "
            f"got {arr.shape[1]}"
        )
    check_finite(arr, name)
    check_range(arr, dtype, name)
    return np.ascontiguousarray(arr, dtype=dtype)


def as_targets(
    Y: ArrayLike, n_samples: int, n_out: int, loss: Loss, dtype: np.dtype, name: str = "Y"
) -> NDArray:
    """Targets shaped like a^(L): (n_samples, n_out), validated against the loss."""
    arr = _as_float_array(Y, name)
    if arr.shape[:1] != (n_samples,):
        got = arr.shape[0] if arr.ndim else "a scalar"
        raise ValueError(
            f"{name}: expected {n_samples} rows (one per sample of X), got {got}"
        )
    check_finite(arr, name)
    check_range(arr, dtype, name)
    return loss.encode_targets(arr, n_out, dtype, name)


def weight_array(weights: Any, shape: tuple[int, ...], name: str, per: str
                 ) -> NDArray[np.float64]:
    """``weights`` as a float64 array of exactly ``shape`` (real numbers, any sign yet):
    the common first half of checking per-sample and per-(row, member) weights, whose
    messages name ``name`` and say what one weight is for (``per``)."""
    try:
        w = np.asarray(weights)
    except (TypeError, ValueError) as exc:  # ragged lists and the like
        raise ValueError(f"{name}: expected an array of shape {shape}, "
                         f"got {type(weights).__name__} ({exc})") from None
    if w.dtype == object or w.dtype.kind not in "biuf":
        raise ValueError(f"{name}: expected real numbers, got dtype {w.dtype}")
    if w.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, {per}, got {w.shape}")
    return w.astype(np.float64)
