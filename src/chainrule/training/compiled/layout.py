"""What the compiled step needs to know of a network beyond its Dense layers: the table
input layers in front of them (a categorical lookup, periodic numeric features), the
dropout after a hidden layer, and the dropout masks of a run of batches — drawn here,
exactly as :meth:`chainrule.engine.layers.Dropout.forward` draws them, so a seed gives the
same masks, and the same weights to 1e-12, on either path.

:func:`split` runs whenever a step is made and imports no numba; the other functions run
once the compiled step is loaded, and read the layout's slot names from :mod:`.front`
(which holds the kernels).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ...engine.layer import Layer
    from ...engine.network import Network

Array = np.ndarray


def split(net: Network) -> tuple[list[Layer], list[float]] | None:
    """(input layers, dropout rate after each Dense layer) where the network is: at most
    one CategoricalEmbedding then at most one PeriodicEmbedding (that order, first), then
    Dense layers, each followed by at most one Dropout, the last one Dense. None for any
    other arrangement (the NumPy path trains it)."""
    from ...engine.embeddings import CategoricalEmbedding
    from ...engine.layers import Dense, Dropout
    from ...engine.periodic import PeriodicEmbedding

    layers = list(net.layers)
    front: list[Layer] = []
    for kind in (CategoricalEmbedding, PeriodicEmbedding):
        if layers and type(layers[0]) is kind:
            front.append(layers.pop(0))
    rates: list[float] = []
    for layer in layers:
        if type(layer) is Dense:
            rates.append(0.0)
        elif type(layer) is Dropout and rates and rates[-1] == 0.0:
            rates[-1] = float(layer.rate)
        else:
            return None  # a custom layer, two dropouts in a row, dropout first
    if not rates or type(layers[-1]) is not Dense:
        return None
    return front, rates


def front(net: Network, layers: list[Layer]) -> Array:
    """The input layers' layout for :mod:`.front` (int64): the fixed slots named there,
    then the passed columns, (column, codes, width, offset of w) per code column and the
    periodic columns. All zeros without input layers."""
    from ...engine.embeddings import CategoricalEmbedding
    from ...engine.periodic import PeriodicEmbedding

    f = _front_module()
    head = np.zeros(f.WIDTH, dtype=np.int64)
    tail: list[int] = []
    for layer in layers:
        if isinstance(layer, CategoricalEmbedding):
            head[f.HAS_CAT], head[f.N0], head[f.N1] = 1, layer.n_in, layer.n_out
            head[f.N_KEEP], head[f.N_CODES] = len(layer.keep), len(layer.columns)
            head[f.KEEP_AT] = f.WIDTH + len(tail)
            tail += [int(k) for k in layer.keep]
            head[f.CODES_AT] = f.WIDTH + len(tail)
            for col, w in zip(layer.columns, layer.w, strict=True):
                d, m = w.shape
                tail += [col, m, d, _offset(net, w)]
            head[f.CAT_ACC] = sum(w.size for w in layer.w)
        elif isinstance(layer, PeriodicEmbedding):
            if not head[f.HAS_CAT]:
                head[f.N0] = head[f.N1] = layer.n_in
            head[f.HAS_PER], head[f.N2] = 1, layer.n_out
            head[f.P], head[f.K], head[f.D] = len(layer.columns), layer.n_frequencies, layer.d
            head[f.C_OFF], head[f.W_OFF] = _offset(net, layer.c), _offset(net, layer.w)
            head[f.B_OFF] = _offset(net, layer.b)
            head[f.COLS_AT] = f.WIDTH + len(tail)
            tail += [int(c) for c in layer.columns]
        else:
            raise ValueError(f"layers: not an input layer of the compiled step: {layer!r}")
    return np.concatenate([head, np.array(tail, dtype=np.int64)])


def front_acc_size(fr: Array) -> int:
    """Length of the float64 sums the input layers' gradients take."""
    f = _front_module()
    per = fr[f.P] * (fr[f.K] + fr[f.D] * 2 * fr[f.K] + fr[f.D]) if fr[f.HAS_PER] else 0
    return int(fr[f.CAT_ACC] + per)


def front_buffers(fr: Array, n: int, offset: int) -> tuple[Array, int]:
    """(fmeta, end): where the input layers' arrays for a batch of n rows sit in the
    step's buffer, from ``offset``; ``end`` is the buffer length after them."""
    f = _front_module()
    fmeta = np.zeros(4, dtype=np.int64)
    if fr[f.HAS_CAT]:
        fmeta[f.A1], offset = offset, offset + n * int(fr[f.N1])
        if fr[f.HAS_PER]:
            fmeta[f.G1], offset = offset, offset + n * int(fr[f.N1])
    if fr[f.HAS_PER]:
        fmeta[f.A2], offset = offset, offset + n * int(fr[f.N2])
        fmeta[f.TRIG], offset = offset, offset + n * int(fr[f.P]) * 2 * int(fr[f.K])
    return fmeta, offset


def check_codes(layers: list[Layer], x: Array) -> None:
    """The lookup's own check of its code columns (a ValueError naming the column and
    row); the compiled lookup reads only codes that passed it."""
    from ...engine.embeddings import CategoricalEmbedding

    if layers and isinstance(layers[0], CategoricalEmbedding):
        layers[0].codes(x)


def draw_masks(rng: np.random.Generator, rates: list[float], widths: list[int], n: int,
               count: int, dtype: np.dtype) -> Array:
    """The dropout masks of ``count`` batches of n rows, one row each: per batch, per
    Dense layer l with a rate, ``rng.random((n, width_l)) >= rate`` scaled by
    1/(1 − rate) — :meth:`Dropout.forward`'s draws, in its order (batch by batch, layer by
    layer), so the generator ends where the NumPy path leaves it."""
    size = sum(n * w for r, w in zip(rates, widths, strict=True) if r > 0)
    masks = np.empty((count, size), dtype=dtype)
    for k in range(count):
        at = 0
        for rate, width in zip(rates, widths, strict=True):
            if rate == 0.0:
                continue
            keep = rng.random((n, width), dtype=dtype) >= rate
            masks[k, at:at + n * width] = (keep.astype(dtype) / dtype.type(1.0 - rate)).ravel()
            at += n * width
    return masks


def _offset(net: Network, view: Array) -> int:
    """Where the parameter view starts in ``net.params`` (elements)."""
    params = net.params
    start = (view.__array_interface__["data"][0] - params.__array_interface__["data"][0])
    if not view.flags.c_contiguous or start % params.itemsize:
        raise ValueError("a parameter view is not a contiguous slice of params")
    return start // params.itemsize


def _front_module() -> Any:
    """:mod:`.front` (imports numba: called only once the compiled step is loaded)."""
    from . import front as module

    return module
