"""The network: the forward pass and the chain rule across layers (backprop lives here).

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
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from .layers import Dense, Dropout, Layer
from .losses import Loss, get_loss
from .scaler import Standardizer
from .validation import as_features, check_dtype

if TYPE_CHECKING:
    from .callbacks import Callback, History
    from .optimizers import Optimizer

Array = NDArray[np.floating]


class Network:
    """A multilayer perceptron: an ordered list of layers and a loss.

    Parameters
    ----------
    layers : sequence of Layer
        ``Dense`` and ``Dropout`` layers; consecutive ``Dense`` sizes must match.
    loss : str or Loss
        See :data:`chainrule.losses.LOSSES`. Default ``"squared_error"``, the notes' C_0.
    seed : int, optional
        Seed for the network's ``numpy.random.Generator`` (initial weights,
        shuffling, dropout). Same seed, same machine ⇒ bit-identical training.
    rng : numpy.random.Generator, optional
        A generator to use instead of ``seed``.
    dtype : {"float32", "float64"}
        Floating type of parameters and computation. Default float32.
    l2 : float
        L2 penalty λ: C = (1/n) Σ_i C_i + (λ/2) Σ_l ‖W^(l)‖² (biases are not penalised).
    fused : bool
        Use δ^(L) = a − y for canonical output/loss pairs (softmax + cross_entropy,
        sigmoid + binary_cross_entropy). ``False`` forces the general chain-rule path.

    Attributes
    ----------
    layers : list of Layer
    params, grads : ndarray of shape (n_params,)
        Every parameter and its gradient, flat; layers hold views.
    scaler : Standardizer or None
        Applied to raw features before layer 1 (set by the CLI and estimators).
    classes : list or None
        Class labels for the output units, when known (saved with the model).
    optimizer : Optimizer or None
        The optimizer of the last ``fit``; kept so training can resume.
    """

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
    ) -> None:
        self.dtype = check_dtype(dtype)
        self.loss_fn = get_loss(loss)
        if rng is not None and seed is not None:
            raise ValueError("seed, rng: give one of them, not both")
        if rng is not None and not isinstance(rng, np.random.Generator):
            raise ValueError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
        self.rng = rng if rng is not None else np.random.default_rng(seed)
        if not (isinstance(l2, (int, float)) and np.isfinite(l2) and l2 >= 0):
            raise ValueError(f"l2: expected a non-negative finite number, got {l2!r}")
        self.l2 = float(l2)
        self.fused = bool(fused)
        self.layers = list(layers)
        self._check_layers()
        self.scaler: Standardizer | None = None
        self.classes: list[Any] | None = None
        self.optimizer: Optimizer | None = None
        self._allocate()

    # -- construction ---------------------------------------------------------
    def _check_layers(self) -> None:
        if not self.layers:
            raise ValueError("layers: expected at least one Dense layer, got an empty list")
        n_prev: int | None = None
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, Layer):
                raise ValueError(f"layers[{i}]: expected a Dense or Dropout layer, got {layer!r}")
            if isinstance(layer, Dense):
                if n_prev is not None and layer.n_in != n_prev:
                    raise ValueError(
                        f"layers[{i}]: n_in={layer.n_in} does not match the previous layer's "
                        f"n_out={n_prev}"
                    )
                n_prev = layer.n_out
            elif isinstance(layer, Dropout):
                if n_prev is None:
                    raise ValueError(f"layers[{i}]: Dropout cannot come before the first Dense")
                layer.n_in = layer.n_out = n_prev
        if not isinstance(self.layers[-1], Dense):
            raise ValueError("layers: the last layer must be Dense (the output layer L)")

    def _allocate(self) -> None:
        values = [layer.build(self.rng, self.dtype) for layer in self.layers]
        sizes = [int(np.prod(s)) for layer in self.layers for _, s in layer.param_shapes()]
        self.params: Array = np.empty(sum(sizes), dtype=self.dtype)
        self.grads: Array = np.zeros(sum(sizes), dtype=self.dtype)
        offset = 0
        for layer, vals in zip(self.layers, values, strict=True):
            p_views, g_views = {}, {}
            for name, shape in layer.param_shapes():
                size = int(np.prod(shape))
                p_views[name] = self.params[offset : offset + size].reshape(shape)
                g_views[name] = self.grads[offset : offset + size].reshape(shape)
                p_views[name][...] = vals[name]
                offset += size
            layer.bind(p_views, g_views)

    # -- introspection ----------------------------------------------------------
    @property
    def dense_layers(self) -> list[Dense]:
        """The Dense layers, in order: ``dense_layers[l - 1]`` is the notes' layer l."""
        return [layer for layer in self.layers if isinstance(layer, Dense)]

    @property
    def n_in(self) -> int:
        return self.dense_layers[0].n_in

    @property
    def n_out(self) -> int:
        return self.dense_layers[-1].n_out

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
        return self.loss_fn.name == "binary_cross_entropy"

    def parameters(self) -> list[Array]:
        """Every parameter array (w then b, layer by layer): views into ``params``."""
        out: list[Array] = []
        for layer in self.dense_layers:
            out.append(layer.w)
            if layer.b is not None:
                out.append(layer.b)
        return out

    def gradients(self) -> list[Array]:
        """∂C/∂ of every array of :meth:`parameters`, in the same order."""
        out: list[Array] = []
        for layer in self.dense_layers:
            assert layer.grad_w is not None
            out.append(layer.grad_w)
            if layer.grad_b is not None:
                out.append(layer.grad_b)
        return out

    @property
    def n_params(self) -> int:
        return int(self.params.size)

    def get_config(self) -> dict[str, Any]:
        """Architecture and loss: enough to rebuild the network (weights aside)."""
        return {
            "layers": [layer.get_config() for layer in self.layers],
            "loss": self.loss_fn.get_config(),
            "dtype": self.dtype.name,
            "l2": self.l2,
        }

    def __repr__(self) -> str:
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"Network([{inner}], loss={self.loss_fn.name!r}, dtype={self.dtype.name!r})"

    # -- boundary checks ----------------------------------------------------------
    def _inputs(self, X: ArrayLike, name: str = "X") -> Array:
        """Validate raw features and map them to a^(0) (applying the scaler, if any)."""
        a0 = as_features(X, self.n_in, self.dtype, name)
        if self.scaler is not None:
            a0 = self.scaler.transform(a0)
        return a0

    def targets(self, Y: ArrayLike, n_samples: int, name: str = "Y") -> Array:
        """Validate targets and shape them like the output a^(L): (n_samples, n_out).

        Integer class labels are accepted for ``cross_entropy`` (turned into one-hot
        rows) and 0/1 vectors for a single ``binary_cross_entropy`` output.
        """
        from .validation import as_targets

        return as_targets(Y, n_samples, self.n_out, self.loss_fn, self.dtype, name)

    # -- forward --------------------------------------------------------------------
    def forward(self, X: ArrayLike, training: bool = False) -> Array:
        """a^(L) for inputs X of shape (n_samples, n_in); keeps every layer's z and a."""
        return self._forward(self._inputs(X), training)

    def _forward(self, a: Array, training: bool = False) -> Array:
        for layer in self.layers:
            a = layer.forward(a, training)
        return a

    def predict(self, X: ArrayLike, batch_size: int = 4096) -> Array:
        """Network output a^(L) for X, computed in batches (dropout off)."""
        a0 = self._inputs(X)
        if a0.shape[0] <= batch_size:
            return self._forward(a0).copy()
        return np.concatenate(
            [self._forward(a0[i : i + batch_size]) for i in range(0, a0.shape[0], batch_size)]
        )

    def predict_classes(self, X: ArrayLike) -> NDArray[np.int64]:
        """Class index per sample: argmax for several outputs, a ≥ 0.5 for one sigmoid
        output; for multi-label networks an (n_samples, n_out) 0/1 array."""
        a = self.predict(X)
        if a.shape[1] == 1:
            return (a[:, 0] >= 0.5).astype(np.int64)
        if self.independent_outputs:
            return (a >= 0.5).astype(np.int64)  # multi-label: one 0/1 column per output
        return np.argmax(a, axis=1)

    # -- cost -------------------------------------------------------------------------
    def _cost(self, Y: Array) -> float:
        """C = (1/n) Σ_i C_i (+ L2) for the last forward pass, against targets Y."""
        out = self.output_layer
        assert out.a is not None and out.z is not None
        if self.fused_output:
            c_i = self.loss_fn.value_from_logits(out.z, Y)
        else:
            c_i = self.loss_fn.value(out.a, Y)
        cost = float(np.add.reduce(c_i, dtype=np.float64)) / c_i.shape[0]  # np.mean, faster
        if self.l2:
            cost += 0.5 * self.l2 * sum(float(np.vdot(d.w, d.w)) for d in self.dense_layers)
        return cost

    def loss(self, X: ArrayLike, Y: ArrayLike) -> float:
        """The cost C of the data: mean of the per-sample C_i (plus the L2 term)."""
        a0 = self._inputs(X)
        Yt = self.targets(Y, a0.shape[0])
        self._forward(a0)
        return self._cost(Yt)

    # -- backward (backpropagation) -----------------------------------------------------
    def backward(self, Y: ArrayLike) -> None:
        """Fill ``grad_w``, ``grad_b`` of every layer with ∂C/∂W, ∂C/∂b for the last forward.

        Must follow :meth:`forward` on the same samples.
        """
        out = self.dense_layers[-1]
        if out.a is None:
            raise RuntimeError("backward: call forward(X) first")
        self._backward(self.targets(Y, out.a.shape[0]))

    def _backward(self, Y: Array) -> None:
        out = self.output_layer
        assert out.a is not None and out.z is not None
        n = out.a.shape[0]
        if self.fused_output:
            # Canonical pair: ∂C0/∂a_j · g′(z_j) collapses to δ_j^(L) = a_j − y_j (÷ n: batch mean).
            # In training, δ goes into the output layer's reused buffer (no allocation).
            delta = np.subtract(out.a, Y, out=out.delta_buffer())
            delta *= self.dtype.type(1.0 / n)
            grad: Array | None = out.backward_from_delta(delta, need_grad_prev=len(self.layers) > 1)
        else:
            grad_a = self.loss_fn.grad_a(out.a, Y) * self.dtype.type(1.0 / n)  # ∂C/∂a^(L)
            grad = out.backward(grad_a, need_grad_prev=len(self.layers) > 1)
        for i in range(len(self.layers) - 2, -1, -1):
            assert grad is not None
            grad = self.layers[i].backward(grad, need_grad_prev=i > 0)
        if self.l2:
            lam = self.dtype.type(self.l2)
            for layer in self.dense_layers:
                assert layer.grad_w is not None
                layer.grad_w += lam * layer.w  # ∂/∂w of (λ/2)‖W‖²

    def gradient(self, X: ArrayLike, Y: ArrayLike) -> Array:
        """Forward and backward on (X, Y); returns the flat gradient (a view of ``grads``)."""
        a0 = self._inputs(X)
        Yt = self.targets(Y, a0.shape[0])
        self._forward(a0)
        self._backward(Yt)
        return self.grads

    # -- training -----------------------------------------------------------------------
    def fit(
        self,
        X: ArrayLike,
        Y: ArrayLike,
        *,
        epochs: int = 10,
        batch_size: int = 32,
        optimizer: str | Optimizer | None = None,
        shuffle: bool = True,
        validation_data: tuple[ArrayLike, ArrayLike] | None = None,
        validation_split: float = 0.0,
        callbacks: Sequence[Callback] = (),
    ) -> History:
        """Train with mini-batch gradient descent; see :func:`chainrule.training.fit`."""
        from .training import fit

        return fit(
            self,
            X,
            Y,
            epochs=epochs,
            batch_size=batch_size,
            optimizer=optimizer,
            shuffle=shuffle,
            validation_data=validation_data,
            validation_split=validation_split,
            callbacks=callbacks,
        )


def MLP(
    sizes: Sequence[int],
    hidden: str = "relu",
    output: str = "identity",
    loss: str = "squared_error",
    *,
    bias: bool = True,
    dropout: float = 0.0,
    init: str | None = None,
    **network_kwargs: Any,
) -> Network:
    """Shorthand: ``MLP([784, 256, 128, 10], hidden="relu", output="softmax",
    loss="cross_entropy")``.

    ``sizes`` lists the width of every layer, input first. ``dropout`` inserts a
    Dropout layer after every hidden layer.
    """
    sizes = list(sizes)
    if len(sizes) < 2:
        raise ValueError(f"sizes: expected at least [n_in, n_out], got {sizes!r}")
    layers: list[Layer] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
        is_output = i == len(sizes) - 2
        layers.append(Dense(n_in, n_out, output if is_output else hidden, bias=bias, init=init))
        if dropout and not is_output:
            layers.append(Dropout(dropout))
    return Network(layers, loss=loss, **network_kwargs)
