"""Ensembles trained as one batched computation: K networks of one architecture whose
layers run as stacked matrix products, trained on the mean of the members' costs.

``MLP([...], ensemble=K)`` (or ``Network(layers, ensemble=K)``) builds an
:class:`Ensemble`: every Dense layer of the architecture becomes one :class:`GroupedDense`
holding the K members' weights stacked, w of shape (K, n_out, n_in) and b (K, n_out),
each drawn by the layer's initializer as a network of its own would be. The table's
embedding layers become the members' own as well
(:class:`~chainrule.engine.grouped_lookup.GroupedCategoricalEmbedding`,
:class:`~chainrule.engine.grouped_periodic.GroupedPeriodicEmbedding`): no parameter is
shared, so a ``--cv`` member learns from its own training rows alone. Layers without
parameters (Dropout) act on the members' own rows when they follow a grouped layer and
on the shared input before it.

Notes
-----
Member m is a network of its own: z_m^(l) = a_m^(l−1) w_m^(l)ᵀ + b_m^(l),
a_m^(l) = g^(l)(z_m^(l)). The first grouped layer reads the shared input a^(0), so its
K members are one product a^(0) [w_1; …; w_K]ᵀ (a grouped embedding in front reads it
instead, each member with its own tables); every later layer is a batched product over
the K axis. Between layers the activations of a batch of n samples are a
(K·n, width) array whose rows m·n … m·n + n − 1 belong to member m, so an activation
that couples a row's outputs (softmax) is applied per member.

The ensemble's cost is the mean over members of each member's mean sample cost,

.. math:: C = \\frac{1}{K} \\sum_{m=1}^{K} \\frac{1}{n} \\sum_{i=1}^{n} C_{im}
          \\; \\left(+ \\frac{\\lambda}{2K} \\sum_m \\sum_l \\lVert W_m^{(l)} \\rVert^2\\right),

so member m's gradient is its own network's gradient divided by K: δ_m^(L) carries
1/(K n) instead of the notes' 1/n, and the rest of backprop is every member's own.
(Adam and AdamW are unchanged by that constant factor; plain SGD moves each member by
η/K times its own gradient, so multiply the learning rate by K for the steps one
network would take.) The ensemble predicts the mean of its members' outputs: the mean
of their probabilities for a classifier, of their outputs for a regression.

Per-(row, member) weights W of shape (n, K) (``fit(..., member_weights=W)``) make member
m's cost its weighted mean Σ_i W_im C_im / Σ_i W_im: a row with W_im = 0 is never seen by
member m, which is how ``--cv K`` trains its K folds as K members at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from .activations import Activation, get_activation
from .embeddings import CategoricalEmbedding
from .grouped_lookup import GroupedCategoricalEmbedding
from .grouped_periodic import GroupedPeriodicEmbedding
from .initializers import get_initializer
from .layers import Dense, DenseBuffers, Layer, _is_sparse, _positive_int
from .network import Network
from .output import output_delta, sample_costs
from .periodic import PeriodicEmbedding
from .trace import Trace
from .validation import weight_array

if TYPE_CHECKING:
    from ..training.callbacks import History
    from .workspace import Workspace

Array = NDArray[np.floating]

__all__ = ["Ensemble", "EnsembleTrace", "GroupedDense", "check_member_weights", "check_members"]


def check_members(value: object, name: str = "ensemble") -> int:
    """The number of members K as a positive int; the message names ``name``."""
    return _positive_int(name, value)


def check_member_weights(member_weights: Any, n_samples: int, members: int,
                         name: str = "member_weights") -> NDArray[np.float64]:
    """Per-(row, member) weights W as float64 of shape (n_samples, members): finite, ≥ 0,
    and every member (column) with at least one row that counts; messages name ``name``."""
    W = weight_array(member_weights, (n_samples, members), name,
                     "one weight per row and member")
    bad = np.argwhere(~(np.isfinite(W) & (W >= 0)))
    if bad.size:
        i, m = (int(v) for v in bad[0])
        raise ValueError(f"{name}: weights must be finite and non-negative, got {W[i, m]} "
                         f"at row {i}, member {m}")
    empty = np.flatnonzero(~np.any(W > 0, axis=0))
    if empty.size:
        raise ValueError(f"{name}: member {int(empty[0])}'s column is all zero; every "
                         "member must see at least one row")
    return W


class GroupedDense(Dense):
    """K Dense layers of the same shape, one per ensemble member, as one batched product.

    Parameters
    ----------
    n_in, n_out : int
        Inputs k and outputs j of every member.
    activation, bias, init
        As for :class:`~chainrule.layers.Dense`; shared by the members (each member's
        weights are drawn on their own).
    members : int
        K, the number of members.

    Attributes
    ----------
    w, grad_w : ndarray of shape (members, n_out, n_in)
        ``w[m]`` is member m's w^(l).
    b, grad_b : ndarray of shape (members, n_out), or None
    shared_input : bool
        Whether the layer reads one input for every member, a_prev of shape
        (n_samples, n_in) (the ensemble's first grouped layer), rather than each member's
        own rows, (members · n_samples, n_in). Set by :class:`Ensemble`.

    Notes
    -----
    Saved as a Dense layer's config with ``"members": K``, so a model file's tensors
    ``layers.{l}.w`` hold the stacked (K, n_out, n_in) weights.
    """

    name = "GroupedDense"

    def __init__(self, n_in: int, n_out: int, activation: str | Activation = "identity",
                 bias: bool = True, init: str | None = None, *, members: int) -> None:
        super().__init__(n_in, n_out, activation, bias, init)
        self.members = check_members(members, "members")
        self.shared_input = False

    def param_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        K = self.members
        shapes: list[tuple[str, tuple[int, ...]]] = [("w", (K, self.n_out, self.n_in))]
        if self.bias:
            shapes.append(("b", (K, self.n_out)))
        return shapes

    def build(self, rng: np.random.Generator, dtype: DTypeLike) -> dict[str, Array]:
        if self._w is not None:  # already part of a network: keep its values
            return super().build(rng, dtype)
        draw = get_initializer(self.init)
        values = {"w": np.stack([draw(rng, self.n_in, self.n_out, dtype)
                                 for _ in range(self.members)])}
        if self.bias:
            values["b"] = np.zeros((self.members, self.n_out), dtype)
        return values

    # -- forward and backward -------------------------------------------------
    def _rows(self, a_prev: Any) -> int:
        """n, the samples of the batch, from the input's rows."""
        return int(a_prev.shape[0]) if self.shared_input else int(a_prev.shape[0]) // self.members

    def forward(self, a_prev: Array, *, training: bool = False,
                rng: np.random.Generator | None = None,
                out: DenseBuffers | None = None) -> tuple[Array, Array, None]:
        """a_prev (n, n_in) shared, or (K·n, n_in) per member → z, a of shape (K·n, n_out),
        member m in rows m·n … m·n + n − 1; no mask."""
        K, n = self.members, self._rows(a_prev)
        w = self.w
        z3 = None if out is None else out.z.reshape(K, n, self.n_out)
        if self.shared_input:  # z_m = a_prev w_mᵀ for every m: one product a_prev [w_1; …]ᵀ
            wide = a_prev @ w.reshape(K * self.n_out, self.n_in).T  # sparse X stays sparse
            wide3 = np.asarray(wide).reshape(n, K, self.n_out).transpose(1, 0, 2)
            if z3 is None:
                z3 = np.ascontiguousarray(wide3)
            else:
                z3[...] = wide3  # member-major rows
        else:  # z_m = a_m,prev w_mᵀ, batched over the K axis; BLAS is fastest on a
            # contiguous copy of the stacked w_mᵀ
            wT = np.ascontiguousarray(w.transpose(0, 2, 1))
            z3 = np.matmul(a_prev.reshape(K, n, self.n_in), wT, out=z3)
        if self._b is not None:
            z3 += self._b[:, None, :]  # + b_m
        z = z3.reshape(K * n, self.n_out)
        a = self.activation.forward(z, out=None if out is None else out.a)  # per member row
        return z, a, None

    def backward_from_delta(self, a_prev: Array, delta: Array, *, need_grad_prev: bool = True,
                            out: DenseBuffers | None = None) -> Array | None:
        """δ (K·n, n_out) → fills grad_w (K, n_out, n_in) and grad_b; returns ∂C/∂a_prev,
        summed over the members for a shared input."""
        K, n = self.members, self._rows(a_prev)
        d3 = delta.reshape(K, n, self.n_out)
        d3T = d3.transpose(0, 2, 1)
        if _is_sparse(a_prev):
            wide = np.ascontiguousarray(d3.transpose(1, 0, 2)).reshape(n, K * self.n_out)
            self.grad_w.reshape(K * self.n_out, self.n_in)[...] = np.asarray(a_prev.T @ wide).T
        elif self.shared_input:
            np.matmul(d3T, a_prev, out=self._grad_w)  # ∂C/∂w_m,jk = Σ_i δ_im,j a_ik
        else:
            np.matmul(d3T, a_prev.reshape(K, n, self.n_in), out=self._grad_w)
        if self.grad_b is not None:
            np.add.reduce(d3, axis=1, out=self.grad_b)  # ∂C/∂b_m,j = Σ_i δ_im,j
        if not need_grad_prev:
            return None
        if self.shared_input:  # every member read a_prev: their terms add up
            g = np.matmul(d3, self.w).sum(axis=0)
            if out is None:
                return g
            out.grad_prev[...] = g
            return out.grad_prev
        g3 = None if out is None else out.grad_prev.reshape(K, n, self.n_in)
        g3 = np.matmul(d3, self.w, out=g3)  # ∂C/∂a_m,k = Σ_j w_m,jk δ_m,j
        return g3.reshape(K * n, self.n_in)

    def buffers(self, n: int) -> DenseBuffers:
        """Arrays for a step on n samples: z, a, δ of (K·n, n_out), ∂C/∂a_prev of
        (n, n_in) shared or (K·n, n_in)."""
        K, dt = self.members, self.w.dtype
        shape = (K * n, self.n_out)
        rows_prev = n if self.shared_input else K * n
        return DenseBuffers(np.empty(shape, dt), np.empty(shape, dt), np.empty(shape, dt),
                            np.empty((rows_prev, self.n_in), dt))

    def member(self, m: int) -> Dense:
        """Member m's layer as a plain Dense with its own copy of w_m and b_m."""
        b = None if self._b is None else np.array(self._b[m])
        return Dense(self.n_in, self.n_out, self.activation, self.bias, self.init,
                     w=np.array(self.w[m]), b=b)

    def get_config(self) -> dict[str, object]:
        return {**super().get_config(), "type": Dense.name, "members": self.members}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> GroupedDense:
        return cls(int(config["n_in"]), int(config["n_out"]),
                   activation=get_activation(config["activation"]),
                   bias=bool(config.get("bias", True)),
                   init=str(config.get("init")) if config.get("init") else None,
                   members=config["members"])

    def __repr__(self) -> str:
        return (f"GroupedDense({self.n_in}, {self.n_out}, activation="
                f"{self.activation.name!r}, bias={self.bias}, members={self.members})")


class EnsembleTrace(Trace):
    """A :class:`Trace` of an ensemble: ``a`` and ``z`` hold every member's rows,
    (K·n, width) after the first grouped layer; :attr:`a_L` is the ensemble's output, the
    mean of the members' a^(L), shape (n, n_out), what predict, accuracy and reports read.
    The members' own a^(L) is ``a[-1]`` (:attr:`members_a_L`)."""

    __slots__ = ("members", "_mean")
    members: int
    _mean: Array | None

    @classmethod
    def of(cls, trace: Trace, members: int) -> EnsembleTrace:
        twin = cls(trace.a[0])
        twin.a, twin.z, twin.mask = trace.a, trace.z, trace.mask
        twin.delta, twin.grad_a = trace.delta, trace.grad_a
        twin.members = members
        twin._mean = None
        return twin

    @property
    def members_a_L(self) -> Array:
        """Every member's a^(L), shape (K, n, n_out)."""
        a = self.a[-1]
        return a.reshape(self.members, -1, a.shape[1])

    @property
    def z_L(self) -> Array:
        """Refused: an ensemble has no one z^(L) to pair with its mean a^(L) (the members'
        own are ``z[-1]``, (K·n, n_out)); a ValueError saying what to call instead of an
        obscure shape error downstream."""
        raise ValueError("trace.z_L: an ensemble has its K members' z^(L) (trace.z[-1], "
                         "rows member by member), not one; take costs with net.cost(trace, "
                         "Y) or chainrule.training.weights.sample_costs(net, trace, Y)")

    @property
    def a_L(self) -> Array:
        """The ensemble's output: the mean of the members' a^(L), shape (n, n_out)."""
        if self._mean is None:
            self._mean = np.add.reduce(self.members_a_L, axis=0) / self.members
        return self._mean


#: The layer types an ensemble gives every member its own of, and the stacked type each
#: becomes; a layer of another type with parameters would be shared by the members.
GROUPED_TYPES: dict[type[Layer], type[Layer]] = {
    Dense: GroupedDense, CategoricalEmbedding: GroupedCategoricalEmbedding,
    PeriodicEmbedding: GroupedPeriodicEmbedding}


def _grouped_copy(layer: Layer, K: int) -> Layer:
    """The stacked layer of K members of one plain Dense, CategoricalEmbedding or
    PeriodicEmbedding (without weights: the members must start apart)."""
    if isinstance(layer, Dense):
        return GroupedDense(layer.n_in, layer.n_out, layer.activation, layer.bias,
                            layer.init, members=K)
    config = {key: v for key, v in layer.get_config().items() if key != "type"}
    return GROUPED_TYPES[type(layer)].from_config({**config, "members": K})


def _has_values(layer: Layer) -> bool:
    """Whether a plain layer already holds weights (given, or bound in a network)."""
    if isinstance(layer, Dense):
        return layer._w is not None or any(v is not None for v in layer._initial.values())
    if isinstance(layer, CategoricalEmbedding):
        return bool(layer.w)
    return bool(getattr(layer, "_params", None))


def _grouped(layers: Sequence[Layer], K: int) -> list[Layer]:
    """Every plain Dense and embedding layer as its grouped type of K members (grouped
    ones kept); the first grouped layer reads the shared input."""
    grouped_types = tuple(GROUPED_TYPES.values())
    out: list[Layer] = []
    for i, layer in enumerate(layers):
        if type(layer) in GROUPED_TYPES:
            if _has_values(layer):
                raise ValueError(f"layers[{i}]: a {type(layer).__name__} layer with weights "
                                 f"(given as w=/b= or from another network) cannot start {K} "
                                 "members that differ; pass layers without weights, or stack "
                                 "trained networks with Ensemble.from_members")
            layer = _grouped_copy(layer, K)
        elif isinstance(layer, grouped_types) and getattr(layer, "members", K) != K:
            raise ValueError(f"layers[{i}]: a layer of {getattr(layer, 'members', K)} members "
                             f"in an ensemble of {K}")
        out.append(layer)
    grouped = [layer for layer in out if isinstance(layer, grouped_types)]
    for layer in grouped:
        layer.shared_input = layer is grouped[0]  # type: ignore[attr-defined]
    return out


class Ensemble(Network):
    """K networks of one architecture trained at once (see the module's notes).

    Built by ``MLP(..., ensemble=K)`` or ``Network(layers, ensemble=K)`` (a Network with
    ``ensemble`` other than 1, or with GroupedDense layers, is an Ensemble).

    Parameters
    ----------
    layers : sequence of Layer
        One member's architecture (Dense layers become :class:`GroupedDense` of K
        members), or GroupedDense layers already.
    loss : str or Loss
    ensemble : int, optional
        K; default the members of the GroupedDense layers given.
    **network_kwargs
        As for :class:`Network` (seed, rng, dtype, l2, fused); the NumPy backend only.

    Attributes
    ----------
    members : int
        K.
    """

    def __init__(self, layers: Sequence[Layer], loss: Any = "squared_error", *,
                 ensemble: int | None = None, **network_kwargs: Any) -> None:
        if isinstance(layers, (str, bytes)) or not isinstance(layers, Iterable):
            raise ValueError(f"layers: expected a list of Layer (Dense, Dropout, ...), got "
                             f"{type(layers).__name__}")
        layers = list(layers)
        if ensemble is None:
            found = [layer.members for layer in layers  # type: ignore[attr-defined]
                     if isinstance(layer, tuple(GROUPED_TYPES.values()))]
            ensemble = found[0] if found else 1
        self.members = check_members(ensemble)
        backend = network_kwargs.get("backend", "numpy")
        if network_kwargs.get("device") is not None or getattr(backend, "name",
                                                                backend) != "numpy":
            raise ValueError(f"backend: ensembles run on the numpy backend only, got "
                             f"{getattr(backend, 'name', backend)!r}")
        super().__init__(_grouped(layers, self.members), loss, **network_kwargs)

    def __repr__(self) -> str:
        inner = ", ".join(repr(layer) for layer in self.layers)
        return (f"Ensemble([{inner}], loss={self.loss_fn.name!r}, dtype={self.dtype.name!r}, "
                f"members={self.members})")

    # -- members ---------------------------------------------------------------------
    @property
    def grouped_layers(self) -> list[GroupedDense]:
        return [layer for layer in self.layers if isinstance(layer, GroupedDense)]

    def member(self, m: int) -> Network:
        """Member m as a plain :class:`Network` with a copy of its weights (and the
        ensemble's scaler, encoder and classes): what ``explain --member m`` shows."""
        K = self.members
        if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or not 0 <= m < K:
            raise ValueError(f"member: expected an integer in 0..{K - 1}, got {m!r}")
        from .layers import layer_from_config

        grouped_types = tuple(GROUPED_TYPES.values())
        for layer in self.layers:
            if not isinstance(layer, grouped_types) and layer.param_shapes():
                raise ValueError(f"member: the ensemble's {type(layer).__name__} layer is "
                                 "shared by every member; a member cannot be taken apart")
        layers = [layer.member(int(m)) if isinstance(layer, grouped_types)  # type: ignore[attr-defined]
                  else layer_from_config(layer.get_config()) for layer in self.layers]
        rng = np.random.default_rng()
        rng.bit_generator.state = self.rng.bit_generator.state
        net = Network(layers, loss=self.loss_fn, dtype=self.dtype, l2=self.l2,
                      fused=self.fused, rng=rng)
        net.scaler, net.encoder = self.scaler, self.encoder
        net.classes = None if self.classes is None else [*self.classes]
        return net

    @classmethod
    def from_members(cls, nets: Sequence[Network]) -> Ensemble:
        """The ensemble whose member m has the weights of ``nets[m]`` (networks of one
        architecture: Dense, Dropout and embedding layers; the first's loss, dtype, l2,
        scaler, encoder and classes)."""
        nets = list(nets)
        if not nets or not all(isinstance(n, Network) and not isinstance(n, Ensemble)
                               for n in nets):
            raise ValueError("nets: expected a non-empty list of Network (not ensembles)")
        first = nets[0]
        configs = [n.get_config()["layers"] for n in nets]
        if any(c != configs[0] for c in configs):
            raise ValueError("nets: every member must have the same layers (sizes, "
                             "activations, bias, dropout)")
        from .layers import layer_from_config

        layers = [layer_from_config(c) for c in configs[0]]
        ens = cls(layers, first.loss_fn, ensemble=len(nets), dtype=first.dtype, l2=first.l2,
                  fused=first.fused, seed=0)
        for i in range(len(ens.layers)):
            for name, value in ens.layer_params(i).items():
                value[...] = np.stack([n.layer_params(i)[name] for n in nets])
        ens.scaler, ens.encoder = first.scaler, first.encoder
        ens.classes = None if first.classes is None else [*first.classes]
        return ens

    # -- the engine: forward, cost, backward ----------------------------------------------
    def forward(self, a0: Array, *, training: bool = False,
                workspace: Workspace | None = None,
                rng: np.random.Generator | None = None) -> EnsembleTrace:
        """:meth:`Network.forward`; the trace's ``a_L`` is the members' mean output."""
        trace = super().forward(a0, training=training, workspace=workspace, rng=rng)
        return EnsembleTrace.of(trace, self.members)

    def forward_members(self, a0: Array) -> EnsembleTrace:
        """Every member on rows of its own (dropout off): a0 of shape (K, n, n_in), member m
        reads a0[m] only, so a pass costs what one member's pass on n rows costs K times,
        not K members on K·n rows (``--cv``'s out-of-fold loss: member m on fold m)."""
        K = self.members
        if a0.ndim != 3 or a0.shape[0] != K:
            raise ValueError(f"a0: expected every member's rows, shape ({K}, n, n_in), got "
                             f"{tuple(a0.shape)}")
        first = next(layer for layer in self.layers if getattr(layer, "shared_input", False))
        first.shared_input = False  # type: ignore[attr-defined]  # the rows are per member
        try:
            trace = Network.forward(self, a0.reshape(K * a0.shape[1], a0.shape[2]))
        finally:
            first.shared_input = True  # type: ignore[attr-defined]
        return EnsembleTrace.of(trace, K)

    def member_targets(self, Y: Array, rows: int) -> Array:
        """Y (n, n_out) repeated for every member, (K·n, n_out), as the members' rows."""
        if Y.shape[0] == rows:
            return Y
        return np.tile(Y, (self.members, 1))

    def member_costs(self, trace: Trace, Y: Array) -> Array:
        """C_im of every member m and sample i, shape (K, n) (no L2 term)."""
        z, a = trace.z[-1], trace.a[-1]
        assert z is not None
        c = sample_costs(self.loss_fn, z, a, self.member_targets(Y, a.shape[0]),
                         fused=self.fused_output)
        return c.reshape(self.members, -1)

    def member_deltas(self, trace: Trace, Y: Array, scale: Any = None,
                      out: Array | None = None) -> tuple[Array, Array | None]:
        """δ_im^(L) = ∂C_im/∂z_m^(L) of every member's rows, (K·n, n_out), times ``scale``
        (None: not averaged), and the ∂C/∂a^(L) it came from (None when fused)."""
        z, a = trace.z[-1], trace.a[-1]
        assert z is not None
        return output_delta(self.loss_fn, self.output_layer.activation, z, a,
                            self.member_targets(Y, a.shape[0]), fused=self.fused_output,
                            scale=scale, out=out)

    def _sample_costs(self, trace: Trace, Y: Array) -> Array:
        """(1/K) Σ_m C_im per sample, shape (n,): the members' mean."""
        return self.member_costs(trace, Y).mean(axis=0)

    def l2_penalty(self) -> float:
        """(λ/2K) Σ_m Σ_l ‖W_m^(l)‖²: the members' mean of their own L2 terms."""
        if not self.l2:
            return 0.0
        return 0.5 * self.l2 / self.members * sum(float(np.vdot(w, w))
                                                  for w, _ in self._penalised)

    def cost(self, trace: Trace, Y: Array) -> float:
        """C = (1/K) Σ_m (1/n) Σ_i C_im (+ the members' mean L2 term)."""
        c_i = self._sample_costs(trace, Y)
        return float(np.add.reduce(c_i, dtype=np.float64)) / c_i.shape[0] + self.l2_penalty()

    def cost_array(self, trace: Trace, Y: Array) -> Any:
        return np.asarray(self.cost(trace, Y), dtype=np.float64)

    def backward(self, trace: Trace, Y: Array | None = None, *,
                 delta_L: Array | None = None, workspace: Workspace | None = None,
                 l2: float | None = None) -> Array:
        """:meth:`Network.backward` of the ensemble's cost: δ_m^(L) of each member's rows
        carries 1/(K n) (``delta_L``, if given, is the members' (K·n, n_out) δ already
        scaled), and the L2 term λ/K."""
        grad_a = None
        if delta_L is None:
            if Y is None:
                raise ValueError("backward: give the targets Y or the output delta delta_L")
            rows = trace.a[-1].shape[0]
            buf = None if workspace is None else workspace.layers[-1]
            out = None if buf is None else buf.delta  # a layer may keep no buffers
            delta_L, grad_a = self.member_deltas(trace, Y, self.dtype.type(1.0 / rows), out)
        lam = (self.l2 if l2 is None else l2) / self.members
        grads = super().backward(trace, delta_L=delta_L, workspace=workspace, l2=lam)
        trace.grad_a[-1] = grad_a
        return grads

    def predict_members(self, X: Any, batch_size: int = 4096) -> Array:
        """Every member's output for X, shape (K, n_samples, n_out), dropout off."""
        a0 = self.inputs(X)
        n = a0.shape[0]
        parts = [EnsembleTrace.of(self.forward(a0[i : i + batch_size]), self.members
                                  ).members_a_L for i in range(0, max(n, 1), batch_size)]
        return np.concatenate(parts, axis=1)

    def init_output_from_targets(self, Y: Any) -> None:
        """:meth:`Network.init_output_from_targets` for every member."""
        Yt = self.targets(Y, np.shape(Y)[0] if np.ndim(Y) else 0)
        Y64 = np.asarray(Y, dtype=np.float64).reshape(tuple(Yt.shape))
        out = self.output_layer
        std = Y64.std(axis=0)
        out.w = out.w * np.where(std > 0, std, 1.0)[None, :, None]
        if out.b is not None:
            out.b = np.broadcast_to(Y64.mean(axis=0), out.b.shape)

    # -- training --------------------------------------------------------------------
    def fit(self, X: Any, Y: Any, *, member_weights: Any = None,
            **options: Any) -> History:
        """:meth:`Network.fit`, with ``member_weights`` W of shape (n_samples, K): member
        m's cost is Σ_i W_im C_im / Σ_i W_im, so a row with W_im = 0 never reaches member m
        (K folds trained at once). Times ``sample_weight`` (n,) when both are given."""
        if member_weights is not None:
            W = check_member_weights(member_weights, int(np.shape(Y)[0]), self.members)
            s = options.get("sample_weight")
            if s is not None:
                if np.shape(s) != (W.shape[0],):
                    raise ValueError(f"sample_weight: expected shape ({W.shape[0]},) beside "
                                     f"member_weights, got {np.shape(s)}")
                W = W * np.asarray(s, dtype=np.float64)[:, None]  # checked by fit
            options["sample_weight"] = W
        return super().fit(X, Y, **options)
