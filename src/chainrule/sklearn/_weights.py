"""``coefs_`` and ``intercepts_`` as scikit-learn users use them, assignment included.

* Fitted: each is a :class:`ParamList` of views into the network's flat buffer;
  ``est.coefs_[0] = W`` copies W there (so it takes effect) and a wrong shape or a
  change of length raises.
* Unfitted: whatever list is assigned is kept as it is (so ``est.coefs_ = [0, 0]``
  followed by ``est.coefs_[0] = W`` works, as in scikit-learn), and the next
  ``partial_fit`` or warm-started ``fit`` builds the network from it
  (:func:`network_from_assigned`); a cold ``fit`` replaces it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from chainrule.engine.backend import like

Array = NDArray[np.floating]

#: Attributes a caller may set on an unfitted estimator before partial_fit (kept).
TRAINING_STATE = frozenset({
    "n_iter_", "t_", "n_outputs_", "n_layers_", "out_activation_", "loss_curve_",
    "best_loss_", "_no_improvement_count", "validation_scores_", "best_validation_score_",
})


class ParamList(list[Any]):
    """``coefs_`` / ``intercepts_`` of a fitted estimator: views of the network's buffer.

    ``lst[i] = value`` copies ``value`` into the buffer (same shape required), so the
    assignment takes effect; changing the list's length raises instead of being lost.
    """

    def __init__(self, name: str, views: list[Array]) -> None:
        super().__init__(views)
        self.name = name

    def __setitem__(self, index: Any, value: Any) -> None:
        if isinstance(index, slice):
            targets = list.__getitem__(self, index)
            values = list(value)
            if len(values) != len(targets):
                raise ValueError(
                    f"{self.name}[{index.start}:{index.stop}]: the number of layers is "
                    f"fixed; expected {len(targets)} arrays, got {len(values)}"
                )
            for target, v in zip(targets, values, strict=True):
                self._copy(target, v, index)
            return
        self._copy(list.__getitem__(self, index), value, index)

    def _copy(self, target: Array, value: Any, index: Any) -> None:
        value = np.asarray(value) if type(target) is np.ndarray else like(value, target)
        if tuple(value.shape) != tuple(target.shape):
            raise ValueError(
                f"{self.name}[{index}]: expected shape {target.shape}, got {value.shape}; "
                "the network's architecture is fixed once fitted"
            )
        target[...] = value  # into the network's buffer: the assignment takes effect

    def _fixed_length(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(
            f"{self.name}: the number of layers is fixed once fitted; assign arrays to "
            "its items instead"
        )

    append = extend = insert = pop = remove = clear = __delitem__ = _fixed_length

    def __reduce__(self) -> tuple[Any, ...]:
        # copy / deepcopy / pickle give a plain list (of copies, for deepcopy and pickle):
        # only the estimator's own list writes into its network.
        return (list, (list(self),))
    __iadd__ = __imul__ = _fixed_length  # type: ignore[assignment]


class AssignableWeights:
    """The ``coefs_`` / ``intercepts_`` properties of the estimators (a mixin)."""

    # -- fitted attributes in scikit-learn's orientation ------------------------------
    # Fitted: lists of views into the network's buffer whose item assignment writes
    # there (``est.coefs_[0] = W`` takes effect, or raises for a wrong shape).
    # Unfitted: whatever list was assigned, kept as is (scikit-learn's behaviour: fill
    # it in, then ``partial_fit`` / ``warm_start`` starts from those weights).
    @property
    def coefs_(self) -> list[Array]:
        """Weights per layer, shape (n_in, n_out): views ``w.T`` of the network's buffer
        (an ensemble's: (K, n_in, n_out), every member's ``w.T``)."""
        if "network_" in self.__dict__:
            layers = self.__dict__["network_"].dense_layers
            return ParamList("coefs_", [layer.w.T if layer.w.ndim == 2 else
                                        layer.w.transpose(0, 2, 1) for layer in layers])
        return self._pending("coefs_")

    @coefs_.setter
    def coefs_(self, values: list[Array]) -> None:
        self._assign("coefs_", values)

    @property
    def intercepts_(self) -> list[Array]:
        """Biases per layer, shape (n_out,): views of the network's buffer."""
        if "network_" in self.__dict__:
            layers = self.__dict__["network_"].dense_layers
            return ParamList("intercepts_", [layer.b for layer in layers])
        return self._pending("intercepts_")

    @intercepts_.setter
    def intercepts_(self, values: list[Array]) -> None:
        self._assign("intercepts_", values)

    def _pending(self, name: str) -> list[Any]:
        pending = self.__dict__.get("_assigned_params", {})
        if name not in pending:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return pending[name]

    def _assign(self, name: str, values: Any) -> None:
        if "network_" not in self.__dict__:
            self.__dict__.setdefault("_assigned_params", {})[name] = values
            return
        targets = getattr(self, name)
        values = list(values)
        if len(values) != len(targets):
            raise ValueError(
                f"{name}: expected {len(targets)} arrays (one per layer), got {len(values)}"
            )
        for i, value in enumerate(values):
            targets[i] = value


def network_from_assigned(
    est: Any, spec: dict[str, Any], n_features: int, n_outputs: int, dtype: str,
    rs: np.random.RandomState,
) -> None:
    """Build ``est.network_`` from the coefs_ / intercepts_ assigned while unfitted.

    As in scikit-learn, attributes the caller set (``n_iter_``, ``t_``,
    ``loss_curve_`` …) are kept; the ones missing get their initial values.
    """
    coefs = [np.asarray(c, dtype=np.float64) for c in est._pending("coefs_")]
    try:
        intercepts = [np.asarray(b, dtype=np.float64) for b in est._pending("intercepts_")]
    except AttributeError:
        raise ValueError(
            "intercepts_: coefs_ was assigned on an unfitted estimator; assign "
            "intercepts_ too (one array of shape (n_out,) per layer)"
        ) from None
    sizes = [n_features, *spec["sizes"], n_outputs]
    shapes = list(zip(sizes[:-1], sizes[1:], strict=True))
    if [c.shape for c in coefs] != shapes or [b.shape for b in intercepts] != [
        (fan_out,) for _, fan_out in shapes
    ]:
        raise ValueError(
            "coefs_ / intercepts_: the assigned weights have shapes "
            f"{[c.shape for c in coefs]} / {[b.shape for b in intercepts]}; "
            f"hidden_layer_sizes={est.hidden_layer_sizes!r} with {n_features} features "
            f"and {n_outputs} outputs needs {shapes} / {[(o,) for _, o in shapes]}"
        )
    out_activation, loss, est._objective = est._output(np.zeros((1, n_outputs)))
    spec.update(out_activation=out_activation, loss=loss)
    net = est._build_network(spec, n_features, n_outputs, dtype, rs)
    for layer, coef, intercept in zip(net.dense_layers, coefs, intercepts, strict=True):
        layer.w = coef.T
        layer.b = intercept
    kept = {k: v for k, v in est.__dict__.items() if k in TRAINING_STATE}
    est._initialize(n_outputs, len(spec["sizes"]), out_activation)
    est.__dict__.update(kept)
    if not hasattr(est, "n_features_in_"):
        est.n_features_in_ = n_features
    del est.__dict__["_assigned_params"]
    est.network_ = net
