"""The network: the forward pass and the chain rule across layers (backprop lives here).

It runs past 300 lines because it is the engine's one public class, and forward, cost and
backward are documented here with every shape; the readable twenty-line version is
:mod:`chainrule.reference`.

This is the engine's public API; everything else in chainrule (training, gradcheck,
explain, the estimators, MPI, the playground) goes through it:

* :meth:`Network.inputs` / :meth:`Network.targets` — raw data to a^(0) and Y, checked;
* :meth:`Network.forward` ``(a0) → Trace`` — every layer's z and a;
* :meth:`Network.cost` ``(trace, Y) → C``;
* :meth:`Network.backward` ``(trace, Y | delta_L) → grads`` — backpropagation;
* :meth:`Network.param_slices` — where a layer's w and b sit in ``params``.

:mod:`chainrule.reference` is the same forward and backward in twenty lines with no
buffers — the one to read first; the tests prove this one equal to it. The fast path
here differs only in where arrays go: a :class:`~chainrule.workspace.Workspace`
(held by the trainer) lets a training step allocate nothing.

Notes
-----
Forward, layer by layer (input is layer 0, output layer L):
z^(l) = a^(l−1) W^(l)ᵀ + b^(l), a^(l) = g^(l)(z^(l)).

Backward, from the output down (:meth:`Network.backward`): start from
∂C/∂a^(L) = (1/n) ∂C_i/∂a^(L) (the notes' average over samples), and at every
layer multiply by g′(z_j^(l)) to get δ^(l), form ∂C/∂w_jk = Σ_i δ_j a_k^(l−1),
and pass ∂C/∂a_k^(l−1) = Σ_j w_jk δ_j down — the notes' sum over next-layer nodes.

All parameters live in one flat buffer ``params`` (and gradients in ``grads``);
each layer's ``w``, ``b``, ``grad_w``, ``grad_b`` are views into them, so an
optimizer updates every parameter with a handful of vector operations.

Layers are called through the :class:`~chainrule.engine.layer.Layer` protocol only
(``forward`` → z, a, mask; ``backward`` → δ, ∂C/∂a_prev), so a new layer type is one
subclass elsewhere; the output delta δ^(L) is chosen in :mod:`chainrule.engine.output`.

Backends: ``Network(..., backend="torch", device="cuda")`` keeps all of that in another
array library (:mod:`chainrule.backend`); forward, cost and backward are the same code,
written against the Array API, with NumPy's ``out=`` buffers behind a
``type(x) is np.ndarray`` check.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from ..table import TableEncoder, is_table
from ..table.scaler import Standardizer
from . import backend as _backend
from .inputs import DeviceScaler, device_features
from .layers import Dense, Layer
from .losses import Loss, get_loss
from .mlp import MLP as MLP  # the shorthand, at its 0.1 path too
from .output import output_delta, pair_problem, sample_costs
from .trace import Trace
from .validation import (
    as_features,
    as_targets,
    check_dtype,
    check_finite_outputs,
    check_float,
    check_int,
    check_param_budget,
    check_seed,
)

if TYPE_CHECKING:
    from ..training.callbacks import History
    from ..training.optimizers import Optimizer
    from .workspace import Workspace

Array = NDArray[np.floating]


class Network:
    """A multilayer perceptron: an ordered list of layers and a loss.

    Parameters
    ----------
    layers : sequence of Layer
        ``Dense``, ``Dropout`` or any other :class:`~chainrule.engine.layer.Layer`; each
        takes the width of the one before (:meth:`Layer.connect`), the last is Dense.
    loss : str or Loss
        See :data:`chainrule.losses.LOSSES`. Default ``"squared_error"``, the notes' C_0.
        A classification loss needs outputs in its domain (0, 1) — softmax or sigmoid on
        the last layer; any other output (identity, relu, tanh, …) is refused here, with a
        ValueError. Its canonical pair (softmax for ``cross_entropy``, sigmoid for
        ``binary_cross_entropy``) takes the fused δ^(L) = a − y; the other probability
        output trains through the general chain rule (and files of 0.1 that hold it load).
    seed : int, optional
        Seed for the network's ``numpy.random.Generator`` (initial weights,
        shuffling, dropout), an integer in [0, 2⁶³ − 1]. Same seed, same machine ⇒
        bit-identical training.
    rng : numpy.random.Generator, optional
        A generator to use instead of ``seed``.
    dtype : {"float32", "float64"}
        Floating type of parameters and computation. Default float32.
    l2 : float
        L2 penalty λ: C = (1/n) Σ_i C_i + (λ/2) Σ_l ‖W^(l)‖² (biases are not penalised).
    fused : bool
        Use δ^(L) = a − y for canonical output/loss pairs (softmax + cross_entropy,
        sigmoid + binary_cross_entropy). ``False`` forces the general chain-rule path.
    backend : {"numpy", "torch", "array_api_strict", "cupy"}
        The array library the network computes with (:mod:`chainrule.backend`); its
        parameters, gradients, activations and optimizer state live there. The initial
        weights are drawn on the host by the network's generator and copied, so a seed
        gives the same weights on every backend.
    device : optional
        Where, for torch (``"cpu"``, ``"cuda"``, ``"cuda:1"``) or CuPy (a device id).
    ensemble : int
        K > 1 builds an :class:`~chainrule.engine.ensemble.Ensemble` of K such networks
        trained at once (as do GroupedDense layers); 1, this network.

    Attributes
    ----------
    layers : list of Layer
    params, grads : array of shape (n_params,)
        Every parameter and its gradient, flat; layers hold views. Arrays of the
        network's backend (``xp``).
    xp : module
        The array namespace (``numpy`` by default).
    scaler : Standardizer or None
        Applied to raw features before layer 1 (set by the CLI and estimators).
    encoder : TableEncoder or None
        Turns a table (a :class:`~chainrule.table.Table`, DataFrame or dict of columns)
        into the n_in features, columns matched by name, before ``scaler``; set it (and
        ``scaler = encoder.standardizer(encoder.transform(df))``) to pass tables to
        ``fit``/``predict``. Arrays are taken as the encoder's output.
    classes : list or None
        Class labels for the output units, when known (saved with the model).
    optimizer : Optimizer or None
        The optimizer of the last ``fit``; kept so training can resume.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Network:
        """An :class:`~chainrule.engine.ensemble.Ensemble` for ``ensemble`` ≠ 1 or
        grouped layers (chainrule.engine.ensemble.GROUPED_TYPES), else a Network."""
        from .ensemble import GROUPED_TYPES, check_members

        layers = args[0] if args else kwargs.get("layers")
        grouped = isinstance(layers, (list, tuple)) and any(
            isinstance(layer, tuple(GROUPED_TYPES.values())) for layer in layers)
        if cls is Network and (check_members(kwargs.get("ensemble", 1)) != 1 or grouped):
            from .ensemble import Ensemble

            return super().__new__(Ensemble)
        return super().__new__(cls)

    def __init__(
        self,
        layers: Sequence[Layer],
        loss: str | Loss = "squared_error",
        *,
        seed: int | None = None,
        rng: np.random.Generator | None = None,
        dtype: DTypeLike = "float32",
        l2: float = 0.0,
        fused: bool = True,
        backend: str | _backend.Backend = "numpy",
        device: Any = None,
        ensemble: int = 1,
    ) -> None:
        if ensemble != 1:
            raise ValueError(f"ensemble: {type(self).__name__} is one network; build "
                             "Network(..., ensemble=K) or an Ensemble")
        self.dtype = check_dtype(dtype)
        self._backend = _backend.get_backend(backend, device)
        self.xp: Any = self._backend.xp
        self._xp_dtype: Any = self._backend.dtype(self.dtype)
        self._device_scaler = DeviceScaler(self._backend, self.dtype)
        self.loss_fn = get_loss(loss)
        if rng is not None and seed is not None:
            raise ValueError("seed, rng: give one of them, not both")
        if rng is not None and not isinstance(rng, np.random.Generator):
            raise ValueError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
        self.rng = rng if rng is not None else np.random.default_rng(check_seed(seed))
        self.l2 = check_float("l2", l2)
        self.fused = bool(fused)
        if isinstance(layers, (str, bytes)) or not isinstance(layers, Iterable):
            raise ValueError(f"layers: expected a list of Layer (Dense, Dropout, ...), got "
                             f"{type(layers).__name__}")
        self.layers = list(layers)
        self._check_layers()
        self._no_buffers: list[None] = [None] * len(self.layers)  # forward without a workspace
        self.scaler: Standardizer | None = None
        self.encoder: TableEncoder | None = None
        self.classes: list[Any] | None = None
        self.optimizer: Optimizer | None = None
        self._allocate()

    # -- construction ---------------------------------------------------------
    def _check_layers(self) -> None:
        """Connect every layer to the width of the one before; the output layer L is Dense
        (the loss meets its activation)."""
        if not self.layers:
            raise ValueError("layers: expected at least one Dense layer, got an empty list")
        n_prev: int | None = None
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, Layer):
                raise ValueError(f"layers[{i}]: expected a Layer (Dense, Dropout or another "
                                 f"type of chainrule.engine.layer.LAYERS), got {layer!r}")
            try:
                layer.connect(n_prev)
            except ValueError as exc:
                raise ValueError(f"layers[{i}]: {exc}") from None
            n_prev = layer.n_out
        if not isinstance(self.layers[-1], Dense):
            raise ValueError("layers: the last layer must be Dense (the output layer L)")
        loss, output = self.loss_fn, self.layers[-1].activation.name
        problem = pair_problem(loss, output)
        if problem is not None:
            needed = loss.canonical_activation
            raise ValueError(f"loss: {problem}; build the output layer with {needed} (MLP(..., "
                             f"output={needed!r}), or leave output out and MLP picks it)")

    def _allocate(self) -> None:
        """One flat ``params`` and ``grads`` for every layer's parameters, in layer order
        (their count checked against the budget first: :func:`check_param_budget`)."""
        check_param_budget([s for layer in self.layers for _, s in layer.param_shapes()],
                           self.dtype)
        values = [layer.build(self.rng, self.dtype) for layer in self.layers]
        sizes = [int(np.prod(s)) for layer in self.layers for _, s in layer.param_shapes()]
        self.params: Array = np.empty(sum(sizes), dtype=self.dtype)
        self.grads: Array = np.zeros(sum(sizes), dtype=self.dtype)
        self._slices: list[dict[str, slice]] = []
        offset = 0
        for layer, vals in zip(self.layers, values, strict=True):
            slices = {}
            for name, shape in layer.param_shapes():
                size = int(np.prod(shape))
                slices[name] = slice(offset, offset + size)
                self.params[slices[name]].reshape(shape)[...] = vals[name]
                offset += size
            self._slices.append(slices)
        dense = {id(layer) for layer in self.dense_layers}
        self._dense_slices = [sl for layer, sl in zip(self.layers, self._slices, strict=True)
                              if id(layer) in dense]
        if not self._backend.is_numpy:  # drawn on the host, copied: same seed, same weights
            _backend.check_views(self._backend)
            self.params = self._backend.asarray(self.params)
            self.grads = self._backend.asarray(self.grads)
        self._bind()

    def _bind(self) -> None:
        """Point every layer's parameters and gradients at their views of params and grads."""
        xp = self.xp
        self._views: list[tuple[dict[str, Array], dict[str, Array]]] = []
        self._penalised: list[tuple[Array, Array]] = []  # (w, grad_w) under the L2 term
        for layer, slices in zip(self.layers, self._slices, strict=True):
            p_views, g_views = {}, {}
            for name, shape in layer.param_shapes():
                sl = slices[name]
                if xp is np:
                    p_views[name] = self.params[sl].reshape(shape)
                    g_views[name] = self.grads[sl].reshape(shape)
                else:  # copy=False: a library that had to copy raises instead
                    p_views[name] = xp.reshape(self.params[sl], shape, copy=False)
                    g_views[name] = xp.reshape(self.grads[sl], shape, copy=False)
            layer.bind(p_views, g_views)
            self._views.append((p_views, g_views))
            self._penalised += [(p_views[name], g_views[name]) for name in layer.penalised]

    # -- introspection ----------------------------------------------------------
    @property
    def dense_layers(self) -> list[Dense]:
        """The Dense layers, in order: ``dense_layers[l - 1]`` is the notes' layer l."""
        return [layer for layer in self.layers if isinstance(layer, Dense)]

    @property
    def n_in(self) -> int:
        return self.layers[0].n_in

    @property
    def n_out(self) -> int:
        return self.layers[-1].n_out

    @property
    def output_layer(self) -> Dense:
        """The output layer L (always Dense); cheaper than ``dense_layers[-1]``."""
        return cast(Dense, self.layers[-1])

    @property
    def output_activation(self) -> str:
        return self.output_layer.activation.name

    @property
    def fused_output(self) -> bool:
        """Whether the output layer and loss are a canonical pair (δ^(L) = a − y)."""
        return self.fused and self.loss_fn.canonical_activation == self.output_activation

    @property
    def independent_outputs(self) -> bool:
        """Whether output units are independent yes/no answers (binary or multi-label)
        rather than mutually exclusive classes."""
        return self.loss_fn.independent_outputs

    def parameters(self) -> list[Array]:
        """Every parameter array (a Dense layer's w then b, layer by layer): views into
        ``params``."""
        return [view for p_views, _ in self._views for view in p_views.values()]

    def gradients(self) -> list[Array]:
        """∂C/∂ of every array of :meth:`parameters`, in the same order."""
        return [view for _, g_views in self._views for view in g_views.values()]

    def layer_params(self, i: int) -> dict[str, Array]:
        """The parameters of ``layers[i]`` (any layer type) by name: views into ``params``,
        so writing into one sets it."""
        return dict(self._views[i][0])

    def param_slices(self, layer: int) -> dict[str, slice]:
        """Where the notes' layer ``layer`` (1 … L) keeps its parameters in ``params``.

        ``params[param_slices(l)["w"]].reshape(n_out, n_in)`` is w^(l) (row-major, so
        w_jk sits at offset ``j * n_in + k``); ``"b"`` is there when the layer has one.
        """
        L = len(self._dense_slices)
        if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not (
            1 <= layer <= L
        ):
            raise ValueError(f"layer: expected an integer in 1..{L} (the notes' l), got {layer!r}")
        return dict(self._dense_slices[layer - 1])

    @property
    def n_params(self) -> int:
        return int(self.params.shape[0])

    @property
    def backend(self) -> str:
        """The array library's name: "numpy", "torch", "array_api_strict" or "cupy"."""
        return self._backend.name

    @property
    def device(self) -> Any:
        """Where the arrays live (None for NumPy and library defaults)."""
        return self._backend.device

    def to_backend(self, backend: str = "numpy", device: Any = None) -> Network:
        """A copy on another backend (:meth:`copy` with ``backend``): ``to_backend()`` is
        the host NumPy copy that saving and the float64 checks use."""
        return self.copy(backend=backend, device=device)

    def get_config(self) -> dict[str, Any]:
        """Every constructor argument but the generator: enough to rebuild the network
        (weights aside)."""
        return {
            "layers": [layer.get_config() for layer in self.layers],
            "loss": self.loss_fn.get_config(),
            "dtype": self.dtype.name,
            "l2": self.l2,
            "fused": self.fused,
        }

    def copy(self, dtype: DTypeLike | None = None, *, backend: str | None = None,
             device: Any = None) -> Network:
        """An independent copy: same layers, loss, parameters, scaler, classes, generator
        state and optimizer (configuration and state); nothing shared. ``dtype`` casts;
        ``backend`` (and ``device``) moves it (default: where this one is)."""
        from .layers import layer_from_config

        rng = np.random.default_rng()
        rng.bit_generator.state = self.rng.bit_generator.state
        layers = [layer_from_config(layer.get_config()) for layer in self.layers]
        where = self._backend if backend is None and device is None else _backend.get_backend(
            self.backend if backend is None else backend, device)
        twin = Network(layers, loss=self.loss_fn, dtype=self.dtype if dtype is None else dtype,
                       l2=self.l2, fused=self.fused, rng=rng, backend=where)
        if twin.xp is np and self.xp is np:
            twin.params[...] = self.params
        else:
            twin.params[...] = _backend.like(self.params, twin.params)
        twin.rng.bit_generator.state = self.rng.bit_generator.state  # building drew from it
        if self.scaler is not None:
            twin.scaler = Standardizer(self.scaler.mean.copy(), self.scaler.scale.copy())
        if self.encoder is not None:
            twin.encoder = TableEncoder.from_dict(self.encoder.to_dict())
        twin.classes = None if self.classes is None else [*self.classes]
        if self.optimizer is not None:
            twin.optimizer = self.optimizer.copy()
        return twin

    def __repr__(self) -> str:
        inner = ", ".join(repr(layer) for layer in self.layers)
        where = "" if self._backend.is_numpy else f", backend={self.backend!r}"
        return (f"Network([{inner}], loss={self.loss_fn.name!r}, dtype={self.dtype.name!r}"
                f"{where})")

    # -- the boundary: raw data in ------------------------------------------------------
    def inputs(self, X: Any, name: str = "X") -> Array:
        """a^(0) from raw features: a table encoded by ``encoder`` (a DataFrame, dict of
        columns or :class:`~chainrule.table.Table`; an array is taken as already
        encoded), validated (shape, finite, dtype) and scaled by ``scaler``.

        Returns an array of shape (n_samples, n_in) in the network's dtype and backend,
        the form :meth:`forward` takes. On another backend, host data is validated and
        scaled on the host, then copied to the device once; an array already of the
        network's namespace is checked and scaled where it is.
        """
        if not self._backend.is_numpy and _backend.is_device_array(X):  # checked there
            a0 = device_features(X, self.n_in, self._backend, self._xp_dtype, self.params, name)
            return a0 if self.scaler is None else self._device_scaler.transform(self.scaler, a0)
        if is_table(X):
            if self.encoder is None:
                raise ValueError(f"{name}: a table needs a table encoder; set net.encoder = "
                                 f"TableEncoder().fit({name}) (its n_out is the network's "
                                 "n_in)")
            X = self.encoder.transform(X, self.dtype)
        a0 = as_features(X, self.n_in, self.dtype, name)
        if self.scaler is not None:
            a0 = self.scaler.transform(a0)
        return a0 if self._backend.is_numpy else self._backend.asarray(a0)

    def targets(self, Y: ArrayLike, n_samples: int, name: str = "Y") -> Array:
        """Validate targets and shape them like the output a^(L): (n_samples, n_out).

        How is the loss's business (:meth:`Loss.encode_targets`): integer class labels
        become one-hot rows for ``cross_entropy``, 0/1 vectors one column for a single
        ``binary_cross_entropy`` output.
        """
        if not self._backend.is_numpy:  # targets are checked (and one-hot made) on the host
            Yt = as_targets(_backend.to_host(Y), n_samples, self.n_out, self.loss_fn,
                            self.dtype, name)
            return self._backend.asarray(Yt)
        return as_targets(Y, n_samples, self.n_out, self.loss_fn, self.dtype, name)

    def init_output_from_targets(self, Y: ArrayLike) -> None:
        """Start the output layer at the targets' mean and spread (for regression).

        Scales each output unit's weights by the standard deviation of its target and
        sets its bias to the target's mean, so the hidden layers learn the shape of y
        rather than spending epochs on its scale. ``Y`` is (n_samples, n_out) or 1-D.
        """
        Y = _backend.to_host(Y)
        Yt = self.targets(Y, np.shape(Y)[0] if np.ndim(Y) else 0)  # checks the shape
        Y64 = np.asarray(Y, dtype=np.float64).reshape(tuple(Yt.shape))  # statistics in float64
        out = self.output_layer
        std = Y64.std(axis=0)
        out.w = _backend.to_host(out.w) * np.where(std > 0, std, 1.0)[:, None]
        if out.b is not None:
            out.b = Y64.mean(axis=0)

    # -- the engine: forward, cost, backward (backpropagation) ---------------------------
    def forward(
        self,
        a0: Array,
        *,
        training: bool = False,
        workspace: Workspace | None = None,
        rng: np.random.Generator | None = None,
    ) -> Trace:
        """The forward pass: every layer's z and a, from a^(0).

        Parameters
        ----------
        a0 : ndarray of shape (n_samples, n_in)
            Inputs in the network's dtype, already scaled: :meth:`inputs` makes them
            from raw data.
        training : bool
            Dropout active (masks drawn from ``rng``, default the network's generator).
        workspace : Workspace, optional
            Preallocated arrays for batches of ``a0``'s size (the training loop's fast
            path): z and a are written there, so they hold until the next step that
            uses the same workspace. Without one, every array is new.
        rng : numpy.random.Generator, optional
            Where dropout draws its masks when ``training`` (data-parallel training
            passes one shared by every rank).

        Returns
        -------
        Trace
        """
        n_in = self.layers[0].n_in
        if ((self.xp is not np and type(a0) is np.ndarray) or a0.dtype != self._xp_dtype
                or a0.ndim != 2 or a0.shape[1] != n_in):
            where = "" if self._backend.is_numpy else f" on the {self.backend} backend"
            raise ValueError(
                f"a0: expected a {self.dtype.name} array{where} of shape (n_samples, {n_in}), "
                f"got {a0.dtype} {tuple(a0.shape)}; Network.inputs(X) makes one from raw data"
            )
        trace = Trace(a0)
        rng = (self.rng if rng is None else rng) if training else None
        bufs = self._no_buffers if workspace is None else workspace.layers
        a = a0
        for layer, out in zip(self.layers, bufs, strict=True):
            z, a, mask = layer.forward(a, training=training, rng=rng, out=out)
            trace.z.append(z)
            trace.a.append(a)
            trace.mask.append(mask)
        return trace

    def cost(self, trace: Trace, Y: Array) -> float:
        """C = (1/n) Σ_i C_i (+ L2) of a forward pass, against targets Y (n_samples, n_out)."""
        if self.xp is not np:
            return float(self.cost_array(trace, Y))  # one scalar back from the device
        c_i = self._sample_costs(trace, Y)
        cost = float(np.add.reduce(c_i, dtype=np.float64)) / c_i.shape[0]  # np.mean, faster
        if self.l2:
            cost += 0.5 * self.l2 * sum(float(np.vdot(w, w)) for w, _ in self._penalised)
        return cost

    def cost_array(self, trace: Trace, Y: Array) -> Any:
        """:meth:`cost` as a 0-d float64 array of the network's namespace, left where it
        is: the training step brings it back with its other scalars in one transfer."""
        xp = self.xp
        c_i = self._sample_costs(trace, Y)
        cost = xp.sum(c_i, dtype=xp.float64) / c_i.shape[0]
        if self.l2:
            sq = [xp.sum(w * w) for w, _ in self._penalised]
            cost = cost + 0.5 * self.l2 * xp.astype(sum(sq[1:], sq[0]), xp.float64)
        return cost

    def _sample_costs(self, trace: Trace, Y: Array) -> Array:
        """C_i per sample, from the logits for a canonical pair."""
        return sample_costs(self.loss_fn, trace.z_L, trace.a_L, Y, fused=self.fused_output)

    def backward(
        self,
        trace: Trace,
        Y: Array | None = None,
        *,
        delta_L: Array | None = None,
        workspace: Workspace | None = None,
        l2: float | None = None,
    ) -> Array:
        """Backpropagation: ∂C/∂w and ∂C/∂b of every layer from a forward pass.

        Parameters
        ----------
        trace : Trace
            The :meth:`forward` pass to differentiate; ``backward`` adds every layer's
            δ (``trace.delta``) and incoming ∂C/∂a (``trace.grad_a``) to it.
        Y : ndarray of shape (n_samples, n_out), optional
            Targets (see :meth:`targets`): the cost is the batch mean (1/n) Σ_i C_i.
        delta_L : ndarray of shape (n_samples, n_out), optional
            Instead of Y: δ^(L) = ∂C/∂z^(L) itself, already carrying the batch mean or
            any per-sample weights (what scikit-learn's weighted objective supplies).
        workspace : Workspace, optional
            The one the forward pass used: δ and ∂C/∂a_prev go into its arrays.
        l2 : float, optional
            λ of the penalty (λ/2) Σ_l ‖W^(l)‖² whose gradient λw is added; None: the
            network's own ``l2``. 0 leaves it out (scikit-learn's objective adds its own).

        Returns
        -------
        ndarray of shape (n_params,)
            ``grads``, filled (each layer's ``grad_w`` and ``grad_b`` are views of it).
        """
        layers, out_layer = self.layers, self.output_layer
        n_layers = len(layers)
        bufs = self._no_buffers if workspace is None else workspace.layers
        out_buf = bufs[-1]
        trace.delta = [None] * n_layers
        trace.grad_a = [None] * n_layers
        if delta_L is None:
            if Y is None:
                raise ValueError("backward: give the targets Y or the output delta delta_L")
            a_L = trace.a_L
            inv_n: Any = 1.0 / a_L.shape[0]  # the notes' average over samples
            if type(a_L) is np.ndarray:
                inv_n = self.dtype.type(inv_n)
            delta_L, trace.grad_a[-1] = output_delta(
                self.loss_fn, out_layer.activation, trace.z_L, a_L, Y,
                fused=self.fused_output, scale=inv_n,
                out=None if out_buf is None else out_buf.delta)
        trace.delta[-1] = delta_L
        grad = out_layer.backward_from_delta(trace.a[-2], delta_L, need_grad_prev=n_layers > 1,
                                             out=out_buf)
        for i in range(n_layers - 2, -1, -1):  # the notes' sum over next-layer nodes, down
            trace.grad_a[i] = grad
            assert grad is not None  # only the first layer may skip ∂C/∂a_prev
            trace.delta[i], grad = layers[i].backward(
                trace.a[i], trace.z[i], trace.a[i + 1], grad, mask=trace.mask[i],
                need_grad_prev=i > 0, out=bufs[i])
        lam_l2 = self.l2 if l2 is None else l2
        if lam_l2:
            lam = self.dtype.type(lam_l2) if self.xp is np else lam_l2
            for w, grad_w in self._penalised:
                grad_w[...] += lam * w  # ∂/∂w of (λ/2)‖W‖²
        return self.grads

    # -- conveniences on raw data -----------------------------------------------------
    def predict(self, X: ArrayLike, batch_size: int = 4096, *,
                allow_nonfinite: bool = False) -> Array:
        """Network output a^(L) for X, computed in batches (dropout off); an array of the
        network's backend. Outputs with a nan or an inf (parameters or inputs that overflow
        the dtype) are a ValueError naming the rows, unless ``allow_nonfinite``."""
        batch_size = check_int("batch_size", batch_size)
        a0 = self.inputs(X)
        n = a0.shape[0]
        with np.errstate(over="ignore", invalid="ignore"):  # reported below, by rows
            parts = [self.forward(a0[i : min(i + batch_size, n), ...]).a_L
                     for i in range(0, n, batch_size)] or [self.forward(a0).a_L]
        a = parts[0] if len(parts) == 1 else (
            np.concatenate(parts) if self.xp is np else self.xp.concat(parts))
        if not allow_nonfinite:
            check_finite_outputs(a, "predict", what="rows of outputs",
                                 hint="; pass allow_nonfinite=True to get them anyway")
        return a

    def predict_classes(self, X: ArrayLike) -> NDArray[np.int64]:
        """Class index per sample: argmax for several outputs, a ≥ 0.5 for one sigmoid
        output; for multi-label networks an (n_samples, n_out) 0/1 array."""
        return self.classes_of(self.predict(X))

    def classes_of(self, a: Array) -> NDArray[np.int64]:
        """:meth:`predict_classes` from outputs ``a`` the caller already has (one forward
        pass for both the probabilities and the classes)."""
        xp = _backend.namespace_of(a)
        if a.shape[1] == 1:
            return _backend.astype(a[:, 0] >= 0.5, xp.int64)
        if self.independent_outputs:
            return _backend.astype(a >= 0.5, xp.int64)  # multi-label: a 0/1 column per output
        return xp.argmax(a, axis=1)

    def loss(self, X: ArrayLike, Y: ArrayLike) -> float:
        """The cost C of the data: mean of the per-sample C_i (plus the L2 term)."""
        a0 = self.inputs(X)
        return self.cost(self.forward(a0), self.targets(Y, a0.shape[0]))

    def gradient(self, X: ArrayLike, Y: ArrayLike) -> Array:
        """Forward and backward on (X, Y); returns the flat gradient (a view of ``grads``)."""
        a0 = self.inputs(X)
        return self.backward(self.forward(a0), self.targets(Y, a0.shape[0]))

    # -- training -----------------------------------------------------------------------
    def fit(self, X: ArrayLike, Y: ArrayLike, **options: Any) -> History:
        """Train with mini-batch gradient descent: :func:`chainrule.training.fit`, whose
        keywords (epochs, batch_size, optimizer, shuffle, validation_data,
        validation_split, callbacks, sample_weight, class_weight) it takes; with weights
        each batch's cost is Σ s_i C_i / Σ s_i (:mod:`chainrule.weights`)."""
        from ..training import loop

        return loop.fit(self, X, Y, **options)


# __new__ takes (*args, **kwargs) to pick the class; the signature callers see is __init__'s.
Network.__signature__ = inspect.signature(Network.__init__).replace(  # type: ignore[attr-defined]
    parameters=list(inspect.signature(Network.__init__).parameters.values())[1:])
