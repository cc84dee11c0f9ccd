"""``MLPClassifier`` and ``MLPRegressor``: scikit-learn's constructor, attributes and
semantics, trained by chainrule.

It runs past 300 lines because scikit-learn requires each estimator's ``__init__`` to list
every parameter explicitly (``get_params`` reads the signature), as scikit-learn's own
MLPClassifier and MLPRegressor do.

Change ``from sklearn.neural_network import MLPClassifier`` to
``from chainrule.sklearn import MLPClassifier`` and the rest of the code stays. On top
of scikit-learn's parameters: an activation per hidden layer, any chainrule
activation, optimizer (``solver``) and schedule (``learning_rate``), ``dropout``,
``dtype`` and chainrule ``callbacks``; the regressor also takes ``out_activation`` and
any chainrule loss.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.metrics import accuracy_score, r2_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import column_or_1d

from chainrule.engine.backend import namespace_of
from chainrule.engine.losses import LOSSES
from chainrule.engine.validation import check_label_array, check_label_types
from chainrule.sklearn._array_api import host, input_backend, like_input
from chainrule.sklearn._base import BaseMLP, store_params, validate_named
from chainrule.training.callbacks import Callback
from chainrule.training.optimizers import Optimizer
from chainrule.training.schedules import Schedule
from chainrule.training.weights import BALANCED, class_weight_per_sample

Array = NDArray[np.floating]

_DOC_PARAMS = """
    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default=(100,)
        Width of every hidden layer.
    activation : str or sequence of str, default="relu"
        Hidden-layer g: scikit-learn's 'identity', 'logistic', 'tanh', 'relu' or any name
        in :data:`chainrule.ACTIVATIONS` ('leaky_relu', 'elu', 'gelu', 'softplus', …);
        a list gives one per hidden layer.
    solver : str or chainrule Optimizer, default="adam"
        'lbfgs' (scipy's L-BFGS-B on the flat parameters), 'sgd', 'adam', any name in
        :data:`chainrule.OPTIMIZERS` ('momentum', 'nesterov', 'rmsprop', 'adamw') or an
        optimizer object (copied, never modified).
    alpha : float, default=1e-4
        L2 strength; the cost gains α / (2 Σ s) Σ ‖W‖² (biases are not penalised).
    batch_size : int or "auto", default="auto"
        Mini-batch size; "auto" is min(200, n_samples).
    learning_rate : str or chainrule Schedule, default="constant"
        'constant', 'invscaling', 'adaptive' (scikit-learn's, for solvers other than
        adam), or a chainrule schedule name ('step', 'exponential', 'cosine') / object.
    learning_rate_init, power_t, max_iter, shuffle, random_state, tol, verbose,
    warm_start, momentum, nesterovs_momentum, early_stopping, validation_fraction,
    beta_1, beta_2, epsilon, n_iter_no_change, max_fun
        As in scikit-learn 1.9, same defaults.
    dropout : float or sequence of float, default=0.0
        Dropout rate after each hidden layer (mini-batch solvers only).
    dtype : {None, "float32", "float64"}, default=None
        Floating type of the network; None follows X (float32 stays float32).
    callbacks : sequence of chainrule Callback, optional
        Observe training (per epoch; per iteration for lbfgs) and may stop it.
    ensemble : int, default=1
        K > 1 trains K networks of this architecture at once as one batched computation
        (:mod:`chainrule.engine.ensemble`), each drawn from ``random_state`` as a single
        network would be, on the mean of their objectives; predictions are the mean of
        the members' (probabilities for a classifier). Each member's gradient is its
        own network's divided by K: Adam does not see the factor, but with
        ``solver='sgd'`` multiply ``learning_rate_init`` by K for the steps one network
        would take. ``coefs_[l]`` then has shape (K, n_in, n_out) and ``intercepts_[l]``
        (K, n_out). Not with ``loss='poisson'`` (chainrule addition).

    Attributes
    ----------
    network_ : chainrule.Network
        The trained network; ``w`` has shape (n_out, n_in).
    coefs_ : list of ndarray of shape (n_in, n_out)
        scikit-learn's orientation: views ``w.T`` of the network's parameters.
    intercepts_ : list of ndarray of shape (n_out,)
    loss_, loss_curve_, best_loss_, validation_scores_, best_validation_score_,
    n_iter_, t_, n_layers_, n_outputs_, out_activation_, n_features_in_,
    feature_names_in_
        As in scikit-learn (``loss_curve_`` and friends for mini-batch solvers only).
"""


class MLPClassifier(ClassifierMixin, BaseMLP):
    __doc__ = (
        "Multilayer perceptron classifier, scikit-learn's ``MLPClassifier`` trained by "
        "chainrule.\n\n    Softmax + cross-entropy for several classes, sigmoid + binary "
        "cross-entropy for two classes or multi-label indicator targets.\n\n"
        "    class_weight : None, 'balanced' or dict, default=None\n"
        "        Weight w_c of every sample of class c (times its ``sample_weight``): the\n"
        "        cost becomes Σ s_i C_i / Σ s_i. 'balanced' is n_samples / (n_classes ·\n"
        "        n_c), scikit-learn's ``compute_class_weight``; a dict maps class labels to\n"
        "        weights (classes it omits weigh 1). Not for multi-label targets; partial_fit\n"
        "        takes a dict only (a chainrule addition: scikit-learn's MLP has none).\n"
        + _DOC_PARAMS + "    classes_ : ndarray of shape (n_classes,)\n"
    )

    def __init__(
        self,
        hidden_layer_sizes: int | Sequence[int] = (100,),
        activation: str | Sequence[str] = "relu",
        *,
        solver: str | Optimizer = "adam",
        alpha: float = 0.0001,
        batch_size: int | str = "auto",
        learning_rate: str | Schedule = "constant",
        learning_rate_init: float = 0.001,
        power_t: float = 0.5,
        max_iter: int = 200,
        shuffle: bool = True,
        random_state: Any = None,
        tol: float = 1e-4,
        verbose: bool = False,
        warm_start: bool = False,
        momentum: float = 0.9,
        nesterovs_momentum: bool = True,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        n_iter_no_change: int = 10,
        max_fun: int = 15000,
        dropout: float | Sequence[float] = 0.0,
        dtype: str | None = None,
        callbacks: Sequence[Callback] | None = None,
        class_weight: str | Mapping[Any, float] | None = None,
        ensemble: int = 1,
    ) -> None:
        store_params(self, locals())

    def _sample_weight(self, Y: Array, sw: Array | None, incremental: bool) -> Array | None:
        cw = self.class_weight
        if cw is None:
            return sw
        if self._label_binarizer.y_type_.startswith("multilabel"):
            raise ValueError("class_weight: needs one class per sample; multi-label targets "
                             "have several (give sample_weight instead)")
        if incremental and isinstance(cw, str) and cw == BALANCED:
            # scikit-learn's rule for its SGD classifiers: one call's y is not the class
            # distribution of the whole stream.
            raise ValueError(
                "class_weight 'balanced' is not supported for partial_fit: the classes' "
                "frequencies of one call are not those of the data. Use "
                "sklearn.utils.class_weight.compute_class_weight('balanced', classes=classes, "
                "y=y) on a large enough sample of the targets and pass the resulting dict "
                "as class_weight."
            )
        index = (Y[:, 0] >= 0.5).astype(np.intp) if Y.shape[1] == 1 else np.argmax(Y, axis=1)
        w = class_weight_per_sample(cw, index, len(self.classes_), list(self.classes_),
                                    indices=False)
        s = w if sw is None else sw * w
        if not np.any(s > 0):
            raise ValueError("class_weight: with these weights no sample counts (every "
                             "sample's weight is zero)")
        return s

    def _validate_input(self, X: Any, y: Any, incremental: bool, reset: bool) -> tuple[Any, Any]:
        X, y = validate_named(
            self, X, y, multi_output=True, accept_sparse=["csr", "csc"],
            dtype=(np.float64, np.float32), reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_label_types(y, "y")
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "y: warm_start can only be used where `y` has the same classes as in "
                        f"the previous call to fit. Previously got {self.classes_}, "
                        f"`y` has {classes}"
                    )
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(
                    f"y: has classes not in `self.classes_`. `self.classes_` has "
                    f"{self.classes_}. 'y' has {classes}."
                )
        return X, self._label_binarizer.transform(y).astype(X.dtype)

    def _output(self, Y: Array) -> tuple[str, str, dict[str, Any]]:
        if self._label_binarizer.y_type_ == "multiclass":
            return "softmax", "cross_entropy", {}
        return "sigmoid", "binary_cross_entropy", {}  # binary and multi-label

    def _decode_targets(self, Y: Array) -> Any:
        return self._label_binarizer.inverse_transform(Y)

    def _score_arrays(self, X: Array, y: Any, sample_weight: Array | None) -> float:
        y_pred = self._predict(X, check_input=False)
        return float(accuracy_score(y, y_pred, sample_weight=sample_weight))

    def _predict(self, X: Any, check_input: bool = True) -> Any:
        bk = input_backend(X)
        a = host(self._forward(X, check_input))  # labels are decoded on the host
        if self.n_outputs_ == 1:
            a = a.ravel()
        return like_input(self._label_binarizer.inverse_transform(a), bk)

    def predict(self, X: Any) -> Any:
        """Class labels, shape (n_samples,) (or (n_samples, n_classes) for multi-label)."""
        return self._predict(X)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Mean accuracy on (X, y), in float64 whatever X's namespace (torch would count
        in float32: 0.9 became 0.8999999761581421)."""
        y_pred = host(self.predict(X))
        return float(accuracy_score(host(y), y_pred, sample_weight=host(sample_weight)))

    def predict_proba(self, X: Any) -> Array:
        """Probability of every class in ``classes_`` order, shape (n_samples, n_classes)."""
        return self._proba(X, "predict_proba")

    def _proba(self, X: Any, method: str) -> Array:
        a = self._forward(X, method=method)
        if self.n_outputs_ == 1:
            xp = namespace_of(a)
            p = xp.reshape(a, (-1,))
            return xp.stack([1 - p, p], axis=1)
        return a

    def predict_log_proba(self, X: Any) -> Array:
        """log of :meth:`predict_proba`, shape (n_samples, n_classes)."""
        p = self._proba(X, "predict_log_proba")
        return np.log(p, out=p) if type(p) is np.ndarray else namespace_of(p).log(p)

    @available_if(lambda est: est._check_solver())
    def partial_fit(
        self, X: Any, y: Any, sample_weight: Any = None, classes: Any = None
    ) -> MLPClassifier:
        """One epoch over (X, y); ``classes`` is required on the first call.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), optional
        classes : array-like of shape (n_classes,), optional
            Every class that will ever be seen; needed on the first call only.
        """
        first_call = not hasattr(self, "classes_")
        if first_call and classes is None:
            raise ValueError("classes: must be passed on the first call to partial_fit.")
        if classes is not None:
            classes = unique_labels(check_label_types(check_label_array(classes, "classes"),
                                                      "classes"))
            if not first_call and not np.array_equal(self.classes_, classes):
                raise ValueError(
                    f"classes: `classes={classes}` is not the same as on the last call to "
                    f"partial_fit, was: {self.classes_}"
                )
        if first_call:
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
            self.classes_ = self._label_binarizer.classes_
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, BaseMLP):
    __doc__ = (
        "Multilayer perceptron regressor, scikit-learn's ``MLPRegressor`` trained by "
        "chainrule.\n\n"
        "    loss : str, default='squared_error'\n"
        "        scikit-learn's 'squared_error' (C_i = (1/2 n_out) Σ_j (a_j − y_j)², with the\n"
        "        exact gradient even for several outputs) or 'poisson' (half deviance, log\n"
        "        link: the network outputs log μ and predict returns μ = e^z), or any loss\n"
        "        in :data:`chainrule.LOSSES` ('mse', 'huber', …) used as is.\n"
        "    out_activation : str, default='identity'\n"
        "        g of the output layer (chainrule addition).\n" + _DOC_PARAMS
    )

    def __init__(
        self,
        loss: str = "squared_error",
        hidden_layer_sizes: int | Sequence[int] = (100,),
        activation: str | Sequence[str] = "relu",
        *,
        solver: str | Optimizer = "adam",
        alpha: float = 0.0001,
        batch_size: int | str = "auto",
        learning_rate: str | Schedule = "constant",
        learning_rate_init: float = 0.001,
        power_t: float = 0.5,
        max_iter: int = 200,
        shuffle: bool = True,
        random_state: Any = None,
        tol: float = 1e-4,
        verbose: bool = False,
        warm_start: bool = False,
        momentum: float = 0.9,
        nesterovs_momentum: bool = True,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        n_iter_no_change: int = 10,
        max_fun: int = 15000,
        out_activation: str = "identity",
        dropout: float | Sequence[float] = 0.0,
        dtype: str | None = None,
        callbacks: Sequence[Callback] | None = None,
        ensemble: int = 1,
    ) -> None:
        store_params(self, locals())

    @property
    def _poisson(self) -> bool:  # type: ignore[override]
        return self.loss == "poisson"

    def _validate_input(self, X: Any, y: Any, incremental: bool, reset: bool) -> tuple[Any, Any]:
        X, y = validate_named(
            self, X, y, multi_output=True, y_numeric=True, accept_sparse=["csr", "csc"],
            dtype=(np.float64, np.float32), reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError("y: loss='poisson' needs non-negative targets, got negative values")
        return X, y

    def _output(self, Y: Array) -> tuple[str, str, dict[str, Any]]:
        from chainrule.engine.activations import get_activation

        loss = self.loss
        valid = ("squared_error", "poisson", *sorted(set(LOSSES) - {"squared_error"}))
        if loss not in valid:
            raise ValueError(f"loss: expected one of {', '.join(valid)}, got {loss!r}")
        out = get_activation(self.out_activation).name
        if loss == "squared_error":
            # scikit-learn's squared_error is half chainrule's mse: C_i = (1/2 n_out) Σ_j d_j².
            return out, "mse", {"cost_scale": 0.5}
        if loss == "poisson":
            if out != "identity":
                raise ValueError(
                    "out_activation: loss='poisson' applies its own exp link; expected "
                    f"'identity', got {self.out_activation!r}"
                )
            return out, "mse", {"poisson": True}
        return out, loss, {}

    def _decode_targets(self, Y: Array) -> Any:
        return Y.ravel() if Y.shape[1] == 1 else Y

    def _score_arrays(self, X: Array, y: Any, sample_weight: Array | None) -> float:
        y_pred = self._predict(X, check_input=False)
        if not np.all(np.isfinite(y_pred)):
            return float("nan")
        return float(r2_score(y, y_pred, sample_weight=sample_weight))

    def _predict(self, X: Any, check_input: bool = True) -> Array:
        a = self._forward(X, check_input)
        return namespace_of(a).reshape(a, (-1,)) if a.shape[1] == 1 else a

    def predict(self, X: Any) -> Array:
        """Predicted targets, shape (n_samples,) or (n_samples, n_outputs)."""
        return self._predict(X)

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPRegressor:
        """One epoch over (X, y) (mini-batch solvers only)."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
