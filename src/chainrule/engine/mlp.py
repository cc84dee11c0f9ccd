"""``MLP``: the shorthand that builds a :class:`~chainrule.engine.network.Network` of
``Dense`` layers (and ``Dropout`` after each hidden one) from a list of widths."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .layers import Dense, Dropout, Layer
from .losses import Loss, get_loss
from .validation import check_sizes

if TYPE_CHECKING:
    from .network import Network


def MLP(
    sizes: Sequence[int],
    hidden: str = "relu",
    output: str | None = None,
    loss: str | Loss = "squared_error",
    *,
    bias: bool = True,
    dropout: float = 0.0,
    init: str | None = None,
    ensemble: int = 1,
    **network_kwargs: Any,
) -> Network:
    """Shorthand: ``MLP([784, 256, 128, 10], hidden="relu", output="softmax",
    loss="cross_entropy")``.

    ``sizes`` lists the width of every layer, input first (positive integers; the
    parameter count is checked against the memory available before anything is
    allocated). ``output`` is the output layer's activation; left out, it is the one the
    loss needs — softmax for ``cross_entropy``, sigmoid for ``binary_cross_entropy`` —
    and identity for the regression losses. ``dropout`` inserts a Dropout layer after
    every hidden layer. ``ensemble`` K > 1 makes it K such networks trained at once, an
    :class:`~chainrule.engine.ensemble.Ensemble`.
    """
    from .network import Network  # network.py re-exports MLP: imported here, not above

    sizes = check_sizes(sizes)
    if output is None:
        loss_fn = get_loss(loss)
        output = (loss_fn.canonical_activation if loss_fn.classification else None) or "identity"
    layers: list[Layer] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
        is_output = i == len(sizes) - 2
        layers.append(Dense(n_in, n_out, output if is_output else hidden, bias=bias, init=init))
        if dropout and not is_output:
            layers.append(Dropout(dropout))
    return Network(layers, loss=loss, ensemble=ensemble, **network_kwargs)
