"""The layer protocol: what :class:`~chainrule.network.Network` asks of a layer, and the
registry that lets saving and loading rebuild any layer type by name.

A new layer type is one subclass with a ``name`` (as a new activation or loss is): it
declares its parameters, draws their first values, and gives ``forward`` and, next to it,
``backward``. The built-in types, :class:`~chainrule.layers.Dense` and
:class:`~chainrule.layers.Dropout`, live in :mod:`chainrule.engine.layers`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import DTypeLike, NDArray

if TYPE_CHECKING:
    from ..io.schema import Schema

Array = NDArray[np.floating]


class Layer(ABC):
    """What the network asks of a layer: its width, its parameters, forward and backward.

    A subclass with a new ``name`` registers itself in :data:`LAYERS` (as activations and
    losses do), so :func:`layer_from_config` — and with it :meth:`Network.copy`,
    ``chainrule.save`` and ``chainrule.load`` — rebuilds it from its :meth:`get_config`.
    The network calls only the methods below; it never asks which type a layer is.

    Parameters live in the network's flat ``params`` and ``grads``: a layer declares their
    shapes (:meth:`param_shapes`), draws their first values (:meth:`build`) and receives
    views of both buffers (:meth:`bind`).
    """

    #: Key in :data:`LAYERS` and the ``"type"`` of the layer's config.
    name: ClassVar[str] = ""
    #: Parameters the network's L2 penalty (λ/2)‖·‖² applies to (Dense: its weights w).
    penalised: ClassVar[tuple[str, ...]] = ()
    #: The schema (:mod:`chainrule.io.schema`) a model file's config of this layer type must
    #: fit before it is built; None: files cannot hold this type.
    config_schema: ClassVar[Schema | None] = None

    n_in: int
    n_out: int

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name"):
            LAYERS[cls.name] = cls

    def connect(self, n_prev: int | None) -> None:
        """Take the width n_prev of the layer before (None: this is the first layer).

        The default suits a layer that keeps the width: n_in = n_out = n_prev.

        Raises
        ------
        ValueError
            Where the layer cannot follow that width (the network adds its position).
        """
        if n_prev is None:
            raise ValueError(f"{type(self).__name__} cannot be the first layer: it takes its "
                             "width from the layer before")
        self.n_in = self.n_out = n_prev

    def param_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        """(name, shape) of every parameter, in the order they sit in ``params``."""
        return []

    def build(self, rng: np.random.Generator, dtype: DTypeLike) -> dict[str, Array]:
        """Initial values of the parameters (drawn from ``rng``), by name."""
        return {}

    def bind(self, params: dict[str, Array], grads: dict[str, Array]) -> None:  # noqa: B027
        """Point the layer's parameters and gradients at views of the network's buffers
        (a layer without parameters has nothing to bind)."""

    def buffers(self, n: int) -> Any:
        """The arrays a training step on n samples writes into (a
        :class:`~chainrule.workspace.Workspace` holds them and passes them back as
        ``out``); None: the layer allocates its results."""
        return None

    @abstractmethod
    def forward(self, a_prev: Array, *, training: bool = False,
                rng: np.random.Generator | None = None,
                out: Any = None) -> tuple[Array | None, Array, Array | None]:
        """a_prev (n_samples, n_in) → (z, a, mask), kept by the network in its Trace.

        ``z`` is the weighted input for a layer that has one (else None), ``a`` the output
        (n_samples, n_out), ``mask`` a random mask drawn from ``rng`` while ``training``
        (else None). ``out`` is what :meth:`buffers` made, or None.
        """

    @abstractmethod
    def backward(self, a_prev: Array, z: Array | None, a: Array, grad_a: Array, *,
                 mask: Array | None = None, need_grad_prev: bool = True,
                 out: Any = None) -> tuple[Array | None, Array | None]:
        """∂C/∂a (n_samples, n_out) → (δ = ∂C/∂z or None, ∂C/∂a_prev); fills the layer's
        parameter gradients.

        ``a_prev``, ``z``, ``a`` and ``mask`` are what :meth:`forward` saw and returned on
        the same samples; with ``need_grad_prev=False`` (the first layer) the second
        result may be None.
        """

    @abstractmethod
    def get_config(self) -> dict[str, object]:
        """What :func:`layer_from_config` needs to rebuild the layer: ``"type"`` (the
        class's ``name``) and the constructor's arguments."""

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Layer:
        """The layer :meth:`get_config` describes: the constructor called with every key
        but ``"type"``."""
        return cls(**{k: v for k, v in config.items() if k != "type"})


LAYERS: dict[str, type[Layer]] = {}
"""Every layer type by name; a subclass with a ``name`` registers itself when defined."""
