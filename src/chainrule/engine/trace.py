"""The record of one forward pass: every layer's z, a and mask, and backward's δ and ∂C/∂a."""

from __future__ import annotations

from typing import cast

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.floating]


class Trace:
    """What one pass through the network computed, indexed like ``net.layers``.

    Attributes
    ----------
    a : list of ndarray
        ``a[0]`` is a^(0), the input (n_samples, n_in); ``a[i + 1]`` is the output of
        ``net.layers[i]`` (for a Dense layer its a = g(z)).
    z : list of (ndarray or None)
        ``z[i]``: the weighted input of ``net.layers[i]`` (None for a layer without one,
        such as Dropout).
    mask : list of (ndarray or None)
        ``mask[i]``: the random mask ``net.layers[i]`` drew (a Dropout layer while
        training; None elsewhere).
    delta, grad_a : list of (ndarray or None)
        Filled by :meth:`Network.backward`: ``delta[i]`` = ∂C/∂z of a layer with a z,
        ``grad_a[i]`` = the ∂C/∂a that reached ``net.layers[i]``'s output (None where
        the fused output δ^(L) = a − y skipped it).
    """

    __slots__ = ("a", "z", "mask", "delta", "grad_a")

    def __init__(self, a0: Array) -> None:
        self.a: list[Array] = [a0]
        self.z: list[Array | None] = []
        self.mask: list[Array | None] = []
        self.delta: list[Array | None] = []
        self.grad_a: list[Array | None] = []

    @property
    def a_L(self) -> Array:
        """The output a^(L), shape (n_samples, n_out)."""
        return self.a[-1]

    @property
    def z_L(self) -> Array:
        """The output layer's weighted input z^(L)."""
        return cast(Array, self.z[-1])
