"""The fast path's memory: preallocated arrays for the training steps of one batch size.

:meth:`Network.forward` and :meth:`Network.backward` write into the arrays of a
workspace when given one, so a training step allocates nothing; without one they
return new arrays (the reference behaviour, :mod:`chainrule.reference`). The workspace
is explicit state owned by whoever runs the steps (the :class:`~chainrule.training.Trainer`
keeps one per batch size it meets: the full batch and the last, partial one), never a
hidden cache inside a layer.

Values written there hold until the next step that uses the same workspace: copy
``trace.z[i]`` / ``trace.a[i]`` if you need them longer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .network import Network


class Workspace:
    """The arrays every layer's step writes into, for batches of ``n`` samples: z, a, δ and
    ∂C/∂a_prev of every Dense layer (:class:`~chainrule.layers.DenseBuffers`).

    Parameters
    ----------
    net : Network
    n : int
        Batch size (rows of a^(0)) the buffers are shaped for.

    Attributes
    ----------
    layers : list
        Indexed like ``net.layers``: what each layer's ``buffers(n)`` made (None for a
        layer that allocates its results, such as Dropout, whose masks are drawn fresh
        each step).
    """

    def __init__(self, net: Network, n: int) -> None:
        self.n = int(n)
        self.dtype = net.dtype
        self.layers: list[Any] = [layer.buffers(self.n) for layer in net.layers]

    def __repr__(self) -> str:
        return f"Workspace(n={self.n}, dtype={self.dtype.name!r}, layers={len(self.layers)})"


class Workspaces:
    """One :class:`Workspace` per batch size, for a training loop over one network.

    A fit sees at most two batch sizes (full batches and the last partial one);
    ``get`` keeps at most ``max_sizes`` of them.
    """

    def __init__(self, net: Network, max_sizes: int = 4) -> None:
        self.net = net
        self.max_sizes = max_sizes
        self.by_size: dict[int, Workspace] = {}

    def get(self, n: int) -> Workspace:
        ws = self.by_size.get(n)
        if ws is None or ws.dtype != self.net.dtype:
            if len(self.by_size) >= self.max_sizes:
                self.by_size.clear()
            ws = self.by_size[n] = Workspace(self.net, n)
        return ws


def row_bytes(net: Network) -> int:
    """Bytes of one sample's activations through ``net``: z and a of every layer."""
    widths = [net.n_in, *(dense.n_out for dense in net.dense_layers)]
    return 2 * sum(widths) * net.dtype.itemsize


def rows_within_budget(net: Network, budget: int) -> int:
    """The most samples (at least 1) whose activations through ``net`` fit ``budget``
    bytes: a network read from a file decides the widths, so a batch is sized, or checked,
    against a stated budget before anything is allocated."""
    return max(1, budget // row_bytes(net))
