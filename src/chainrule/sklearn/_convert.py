"""Conversion between fitted scikit-learn MLPs and chainrule networks, both ways.

scikit-learn keeps ``coefs_[l]`` with shape (n_in, n_out); chainrule keeps
``w`` with shape (n_out, n_in) so that ``w[j, k]`` is the notes' w_jk. Conversion
is a transpose per layer; everything else is naming (``logistic`` ↔ ``sigmoid``)
and the output/loss pair.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from chainrule.engine.layers import Dense, Dropout, Layer
from chainrule.engine.network import Network
from chainrule.table.scaler import Standardizer

_SKLEARN_HIDDEN = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
_OUTPUT_LOSS = {"softmax": "cross_entropy", "sigmoid": "binary_cross_entropy", "identity": "mse"}


def from_sklearn(fitted: Any, *, dtype: DTypeLike | None = None) -> Network:
    """A chainrule :class:`~chainrule.network.Network` with a fitted scikit-learn MLP's weights.

    Parameters
    ----------
    fitted : sklearn.neural_network.MLPClassifier or MLPRegressor
        A fitted estimator (``coefs_`` set).
    dtype : {"float32", "float64"}, optional
        Default: the dtype of ``fitted.coefs_``.

    Returns
    -------
    Network
        Same layer sizes and activations; ``w = coefs_[l].T``, ``b = intercepts_[l]``.
        Classifiers get ``classes`` and a softmax + cross_entropy or sigmoid +
        binary_cross_entropy output; regressors an identity output with ``mse`` (twice
        scikit-learn's squared_error, same minimiser). ``l2`` is 0: scikit-learn's
        α / (2 n) depends on the training-set size.

    Raises
    ------
    ValueError
        If ``fitted`` is not a fitted scikit-learn MLP, or uses the Poisson loss (its exp
        output has no chainrule activation).
    """
    coefs = getattr(fitted, "coefs_", None)
    if coefs is None or not hasattr(fitted, "out_activation_"):
        raise ValueError(
            f"fitted: expected a fitted scikit-learn MLPClassifier or MLPRegressor, got "
            f"{type(fitted).__name__} without coefs_ (call fit first)"
        )
    out = fitted.out_activation_
    out = "sigmoid" if out == "logistic" else out
    if out not in _OUTPUT_LOSS:
        raise ValueError(
            f"fitted: out_activation_={fitted.out_activation_!r} has no chainrule counterpart; "
            "accepted: softmax, logistic, identity"
        )
    hidden = _SKLEARN_HIDDEN[fitted.activation]
    dt = np.dtype(dtype) if dtype is not None else np.asarray(coefs[0]).dtype
    layers: list[Layer] = []
    for i, (coef, intercept) in enumerate(zip(coefs, fitted.intercepts_, strict=True)):
        act = out if i == len(coefs) - 1 else hidden
        n_in, n_out = np.shape(coef)
        layers.append(Dense(n_in, n_out, act, w=np.asarray(coef).T, b=intercept))
    net = Network(layers, loss=_OUTPUT_LOSS[out], dtype=dt)
    if hasattr(fitted, "classes_"):
        net.classes = np.asarray(fitted.classes_).tolist()
    return net


def to_sklearn(net: Network, *, classes: Any = None) -> Any:
    """A fitted scikit-learn MLP (or a ``Pipeline`` with the network's scaler) from ``net``.

    Parameters
    ----------
    net : Network
        Dense layers whose hidden activations are all one of identity, sigmoid, tanh,
        relu (scikit-learn has one hidden activation), output softmax, sigmoid or
        identity. Dropout layers are dropped (they are the identity at predict time);
        layers without bias get zero intercepts.
    classes : array-like, optional
        Class labels for a classifier; default ``net.classes``, else 0..n_classes−1.

    Returns
    -------
    MLPClassifier, MLPRegressor or Pipeline
        softmax → ``MLPClassifier`` (a 2-unit softmax becomes scikit-learn's single
        logistic unit with w = w₁ − w₀, b = b₁ − b₀), sigmoid → binary or multi-label
        ``MLPClassifier``, identity → ``MLPRegressor``. With ``net.scaler`` set, a
        ``Pipeline([("scaler", StandardScaler), ("mlp", ...)])`` so it takes raw
        features, like the network.
    """
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.preprocessing import LabelBinarizer

    hidden_act = _sklearn_hidden_activation(net)
    out = net.output_activation
    if out not in _OUTPUT_LOSS:
        raise ValueError(
            f"net: output activation {out!r} has no scikit-learn counterpart; accepted: "
            "softmax, sigmoid, identity"
        )
    dense = net.dense_layers
    coefs = [d.w.T.copy() for d in dense]
    intercepts = [d.b.copy() if d.b is not None else np.zeros(d.n_out, net.dtype) for d in dense]
    sizes = tuple(d.n_out for d in dense[:-1])
    est: Any
    if out == "identity":
        est = MLPRegressor(hidden_layer_sizes=sizes, activation=hidden_act)
        est.out_activation_ = "identity"
    else:
        est = MLPClassifier(hidden_layer_sizes=sizes, activation=hidden_act)
        n_out = dense[-1].n_out
        labels = classes if classes is not None else net.classes
        binarizer = LabelBinarizer()
        if out == "softmax":
            labels = list(range(n_out)) if labels is None else list(labels)
            if len(labels) != n_out:
                raise ValueError(f"classes: expected {n_out} labels (one per output), got {labels}")
            if n_out == 2:
                # softmax([z0, z1])_1 = σ(z1 − z0): scikit-learn's single logistic unit.
                coefs[-1] = coefs[-1][:, 1:] - coefs[-1][:, :1]
                intercepts[-1] = intercepts[-1][1:] - intercepts[-1][:1]
                out = "sigmoid"
            binarizer.fit(labels)
        elif n_out == 1:
            labels = [0, 1] if labels is None else list(labels)
            if len(labels) != 2:
                raise ValueError(f"classes: a single sigmoid output needs 2 labels, got {labels}")
            binarizer.fit(labels)
        else:  # multi-label: one sigmoid per label, indicator targets
            binarizer.fit(np.eye(n_out, dtype=int))
        est._label_binarizer = binarizer
        est.classes_ = binarizer.classes_
        est.out_activation_ = "softmax" if out == "softmax" else "logistic"
    est.coefs_, est.intercepts_ = coefs, intercepts
    est.n_layers_ = len(dense) + 1
    est.n_outputs_ = coefs[-1].shape[1]
    est.n_features_in_ = net.n_in
    est.n_iter_ = 0
    est.t_ = 0
    return est if net.scaler is None else _with_scaler(est, net.scaler, net.n_in)


def _sklearn_hidden_activation(net: Network) -> str:
    """scikit-learn's name of the one hidden activation of ``net`` ("relu" when it has no
    hidden layer), checked: Dense and Dropout layers only, one hidden activation that
    scikit-learn knows."""
    if not isinstance(net, Network):
        raise ValueError(f"net: expected a chainrule Network, got {type(net).__name__}")
    for i, layer in enumerate(net.layers):
        if not isinstance(layer, (Dense, Dropout)):
            raise ValueError(f"net: layers[{i}] is a {type(layer).__name__}, which scikit-learn's "
                             "MLP cannot express (Dense and Dropout layers only)")
    reverse = {v: k for k, v in _SKLEARN_HIDDEN.items()}
    hidden_names = {d.activation.name for d in net.dense_layers[:-1]}
    if len(hidden_names) > 1 or not hidden_names <= set(reverse):
        raise ValueError(
            f"net: hidden activations {sorted(hidden_names)} cannot be expressed in scikit-learn, "
            "which takes one hidden activation among identity, sigmoid (logistic), tanh, relu"
        )
    return reverse[hidden_names.pop()] if hidden_names else "relu"


def _with_scaler(est: Any, standardizer: Standardizer, n_in: int) -> Any:
    """``Pipeline([("scaler", StandardScaler), ("mlp", est)])`` with the network's scaler, so
    the estimator takes raw features (n_in of them) like the network."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler()
    scaler.mean_ = standardizer.mean.copy()
    scaler.scale_ = standardizer.scale.copy()
    scaler.var_ = scaler.scale_**2
    scaler.n_features_in_ = n_in
    scaler.n_samples_seen_ = 0
    return Pipeline([("scaler", scaler), ("mlp", est)])


__all__ = ["from_sklearn", "to_sklearn"]
