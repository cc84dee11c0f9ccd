"""What the two estimators share: building the network, L-BFGS, mini-batch training
(dense or sparse X, see ``_sparse``), and pickling; ``coefs_`` / ``intercepts_`` are in
``_weights``.

It runs past 300 lines because the fitted attributes, L-BFGS and mini-batch paths must agree
with scikit-learn's in detail, and they share one network-building step.
"""

from __future__ import annotations

import copy
import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from chainrule._warnings import warn
from chainrule.engine import backend as _backend
from chainrule.engine.backend import NUMPY
from chainrule.engine.ensemble import Ensemble
from chainrule.engine.layers import Dense, Dropout, Layer, layer_from_config
from chainrule.engine.network import Network
from chainrule.engine.validation import check_label_array, check_param_budget
from chainrule.sklearn._array_api import (
    check_same_namespace,
    host,
    input_backend,
    like_input,
    same_backend,
)
from chainrule.sklearn._objective import loss_and_gradient, predict_output
from chainrule.sklearn._params import SKLEARN_LR_RULES, check_params
from chainrule.sklearn._sparse import as_sparse_rows
from chainrule.sklearn._stochastic import SklearnObjective, SklearnStopping
from chainrule.sklearn._weights import AssignableWeights, network_from_assigned
from chainrule.training.callbacks import Callback, DivergenceError
from chainrule.training.loop import Trainer
from chainrule.training.optimizers import SGD, Adam, Optimizer, get_optimizer
from chainrule.training.schedules import Constant, Schedule, get_schedule
from chainrule.training.step import Step

Array = NDArray[np.floating]

#: scikit-learn's wording, which its users match on (``pytest.raises(match=...)``).
NON_FINITE_MESSAGE = (
    "Solver produced non-finite parameter weights. The input data may contain large "
    "values and need to be preprocessed."
)


def validate_named(est: Any, X: Any, *y: Any, **options: Any) -> Any:
    """scikit-learn's ``validate_data``, its error in one line naming what it checked ("X"
    or "X, y"): the same exception type and text (the estimator checks match on it), with
    the line breaks of "Expected 2D array, got 1D array instead:\narray=..." folded."""
    try:
        return validate_data(est, X, *y, **options)
    except (ValueError, TypeError) as exc:
        text = " ".join(str(exc).split())
        try:
            named = type(exc)(f"{'X, y' if y else 'X'}: {text}")
        except TypeError:  # an exception class with another signature
            named = ValueError(f"{'X, y' if y else 'X'}: {text}")
        raise named from None


def network_state(net: Network) -> dict[str, Any]:
    """Everything needed to rebuild ``net`` without pickling its buffer views (the
    parameters as a host copy, the backend by name and device)."""
    return {
        "config": net.get_config(),
        "params": np.array(_backend.to_host(net.params)),
        "backend": (net.backend, net.device),
        "rng": net.rng.bit_generator.state,
        "classes": net.classes,
        "scaler": None if net.scaler is None else (net.scaler.mean, net.scaler.scale),
    }


def store_params(est: Any, params: dict[str, Any]) -> None:
    """Set every ``__init__`` argument (``locals()`` there) as an attribute of the same
    name, unchanged: scikit-learn's rule for estimators (validation happens in fit)."""
    for name, value in params.items():
        if name not in ("self", "__class__"):
            setattr(est, name, value)


def network_from_state(state: dict[str, Any]) -> Network:
    """Inverse of :func:`network_state`: the layers' views point into the new buffer."""
    from chainrule.io.model import BIT_GENERATORS
    from chainrule.table.scaler import Standardizer

    cfg = state["config"]
    bit_generator = BIT_GENERATORS[state["rng"]["bit_generator"]][0]
    net = Network(
        [layer_from_config(c) for c in cfg["layers"]],
        loss=cfg["loss"],
        dtype=cfg["dtype"],
        l2=cfg.get("l2", 0.0),
        fused=cfg.get("fused", True),
        rng=np.random.Generator(bit_generator(0)),
    )
    net.params[...] = state["params"]
    net.rng.bit_generator.state = state["rng"]
    net.classes = state["classes"]
    if state["scaler"] is not None:
        net.scaler = Standardizer(*state["scaler"])
    name, device = state.get("backend", ("numpy", None))
    return net if name == "numpy" else net.to_backend(name, device)


class LbfgsEpochs(Trainer):
    """What callbacks see of an L-BFGS fit: every iteration of scipy's minimiser is an
    epoch, ended by :meth:`epoch_done` with its loss; a callback may stop it
    (``stop_training``). It takes no steps of its own.

    Parameters
    ----------
    net : Network
    max_iter : int
        The most iterations (the last epoch's number).
    callbacks : sequence of Callback
    """

    def __init__(self, net: Network, *, max_iter: int, callbacks: list[Callback]) -> None:
        super().__init__(net, SGD(), epochs=max_iter, batch_size=1, callbacks=callbacks)

    def begin(self) -> None:
        for cb in self.callbacks:
            cb.on_train_begin(self)

    def epoch_done(self, loss: float) -> bool:
        """One more iteration, of cost ``loss``, done: the callbacks' epoch end. Returns
        whether a callback asked to stop."""
        self.epoch += 1
        for cb in self.callbacks:
            cb.on_epoch_end(self, {"loss": loss})
        return self.stop_training

    def end(self) -> None:
        for cb in self.callbacks:
            cb.on_train_end(self)


class BaseMLP(AssignableWeights, BaseEstimator, ABC):
    """Shared machinery; use :class:`MLPClassifier` or :class:`MLPRegressor`."""

    _poisson = False

    # -- pickling: rebuild the flat buffer and its views instead of copying views --
    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        if "network_" in state:
            state["network_"] = network_state(state["network_"])
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        if isinstance(state.get("network_"), dict):
            state["network_"] = network_from_state(state["network_"])
            if "_optimizer" in state:
                state["network_"].optimizer = state["_optimizer"]
        super().__setstate__(state)

    # -- hooks the subclasses fill in ----------------------------------------------------
    @abstractmethod
    def _validate_input(self, X: Any, y: Any, incremental: bool, reset: bool) -> tuple[Any, Any]:
        """Checked X and targets Y (n_samples, n_outputs) for fit/partial_fit."""

    @abstractmethod
    def _output(self, Y: Array) -> tuple[str, str, dict[str, Any]]:
        """(output activation, chainrule loss, objective options) for targets Y."""

    @abstractmethod
    def _score_arrays(self, X: Array, y: Any, sample_weight: Array | None) -> float:
        """The estimator's score (accuracy or R²) on validation arrays."""

    @abstractmethod
    def _decode_targets(self, Y: Array) -> Any:
        """Network outputs back to the user's labels or values."""

    def _sample_weight(self, Y: Array, sw: Array | None, incremental: bool) -> Array | None:
        """The weights s_i training uses: ``sample_weight`` (checked), for the classifier
        times its ``class_weight``; None for unweighted."""
        return sw

    # -- prediction --------------------------------------------------------------------------
    def _forward(self, X: Any, check_input: bool = True, method: str = "predict") -> Array:
        """a^(L) for raw X (e^z for the Poisson regressor), shape (n_samples, n_outputs),
        in X's namespace and device (NumPy unless ``array_api_dispatch`` is on)."""
        check_is_fitted(self)
        bk = input_backend(X)
        if check_input:
            check_same_namespace(X, self, method)
            xp = bk.xp  # the device's own float types: X is checked where it is
            X = validate_named(
                self, X, accept_sparse=["csr", "csc"], dtype=(xp.float64, xp.float32),
                reset=False,
            )
        return like_input(predict_output(self.network_, X, poisson=self._poisson), bk)

    # -- fitting -------------------------------------------------------------------------------
    def _objective_kwargs(self) -> dict[str, Any]:
        return dict(self._objective)

    def _build_network(
        self, spec: dict[str, Any], n_features: int, n_outputs: int, dtype: str,
        rs: np.random.RandomState,
    ) -> Network:
        """Layers with scikit-learn's initialisation, drawn from the same RandomState.

        Weights and biases ~ U(−r, r), r = √(6 / (fan_in + fan_out)) (factor 2 instead
        of 6 after a logistic layer), drawn in scikit-learn's order and orientation
        (n_in, n_out) and transposed into ``w`` of shape (n_out, n_in); with the same
        ``random_state`` both libraries start from the same weights.
        """
        sizes = [n_features, *spec["sizes"], n_outputs]
        K = spec["ensemble"]
        # Checked before rs draws anything: hidden_layer_sizes=(10**12,) is refused, not
        # allocated.
        check_param_budget([(K, a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)],
                           np.dtype(dtype))
        if K > 1:  # K members, each drawn from rs as one network is, stacked
            if self._objective.get("poisson"):
                raise ValueError("ensemble: not available with loss='poisson' (the members' "
                                 "mean of e^z is not e^z of one network); use ensemble=1")
            members = [self._build_network({**spec, "ensemble": 1}, n_features, n_outputs,
                                           dtype, rs) for _ in range(K)]
            ens = Ensemble.from_members(members)
            ens.rng = members[0].rng
            return ens
        acts = spec["activations"]
        layers: list[Layer] = []
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            hidden = i < len(acts)
            init_act = acts[min(i, len(acts) - 1)] if acts else self.activation
            factor = 2.0 if init_act in ("logistic", "sigmoid") else 6.0
            bound = math.sqrt(factor / (fan_in + fan_out))
            coef = rs.uniform(-bound, bound, (fan_in, fan_out))
            intercept = rs.uniform(-bound, bound, fan_out)
            act = acts[i] if hidden else spec["out_activation"]
            layers.append(Dense(fan_in, fan_out, act, w=coef.T, b=intercept))
            if hidden and spec["dropout"][i] > 0:
                layers.append(Dropout(spec["dropout"][i]))
        seed = int(rs.randint(np.iinfo(np.int32).max))
        return Network(layers, loss=spec["loss"], seed=seed, dtype=dtype)

    def _schedule(self) -> Schedule:
        lr = self.learning_rate
        if isinstance(lr, Schedule):
            return copy.deepcopy(lr)
        if lr in SKLEARN_LR_RULES:
            return Constant(float(self.learning_rate_init))
        return get_schedule(lr, lr=float(self.learning_rate_init))

    def _make_optimizer(self) -> Optimizer:
        solver = self.solver
        if isinstance(solver, Optimizer):
            return copy.deepcopy(solver)  # the parameter itself is never modified
        schedule = self._schedule()
        if solver == "sgd":
            mu = float(self.momentum)
            if mu == 0:
                return SGD(schedule)
            opt = SGD(schedule, momentum=min(mu, 0.5), nesterov=bool(self.nesterovs_momentum))
            opt.momentum = mu  # scikit-learn accepts μ up to 1; the constructor stops short
            return opt
        if solver == "adam":
            return Adam(schedule, beta_1=self.beta_1, beta_2=self.beta_2, eps=self.epsilon)
        return get_optimizer(solver, lr=schedule)

    def _fit(self, X: Any, y: Any, sample_weight: Any = None, incremental: bool = False) -> Any:
        spec = check_params(self)
        # scikit-learn's rule: start afresh unless there are weights (fitted, or assigned
        # to coefs_ / intercepts_) and this is partial_fit or a warm start.
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        # Everything follows X (_array_api): inputs are checked on the host, trained on X's
        # device; a warm start or partial_fit stays on the device of the first fit.
        bk = input_backend(X)
        if not first_pass and "network_" in self.__dict__:
            check_same_namespace(X, self, "partial_fit" if incremental else "fit")
        X, y, sample_weight = host(X), host(y), host(sample_weight)
        if y is not None and not sp.issparse(y):  # None: scikit-learn's "requires y" error
            y = check_label_array(y, "y")
        X, Y = self._validate_input(X, y, incremental, reset=first_pass)
        sw = None
        if sample_weight is not None:
            sw = _check_sample_weight(sample_weight, X, dtype=np.float64,
                                      ensure_non_negative=True)
        Y = Y.reshape(-1, 1) if Y.ndim == 1 else Y
        sw = self._sample_weight(Y, sw, incremental)
        rs = check_random_state(self.random_state)
        dtype = self.dtype or ("float32" if X.dtype == np.float32 else "float64")
        if first_pass:
            self.__dict__.pop("_assigned_params", None)
            out_activation, loss, self._objective = self._output(Y)
            spec.update(out_activation=out_activation, loss=loss)
            self.network_ = self._build_network(spec, X.shape[1], Y.shape[1], dtype, rs)
            self._initialize(Y.shape[1], len(spec["sizes"]), out_activation)
        elif "network_" not in self.__dict__:
            network_from_assigned(self, spec, X.shape[1], Y.shape[1], dtype, rs)
        # Mini-batch solvers train where X lives; L-BFGS (scipy) on the host, moved after.
        where = NUMPY if self.solver == "lbfgs" else bk
        if first_pass and not same_backend(self.network_._backend, where):
            self.network_ = self.network_.to_backend(where.name, where.device)
        elif self.solver == "lbfgs" and not self.network_._backend.is_numpy:
            bk, self.network_ = self.network_._backend, self.network_.to_backend()
        if Y.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y: expected {self.n_outputs_} output columns as in the previous fit, "
                f"got {Y.shape[1]}"
            )
        net = self.network_
        if sp.issparse(X):
            a0 = as_sparse_rows(X, net.dtype)  # CSR in the network's dtype, still sparse
        else:
            a0 = np.ascontiguousarray(X, dtype=net.dtype)
        Y = np.ascontiguousarray(Y, dtype=net.dtype)
        if self.solver == "lbfgs":
            self._fit_lbfgs(a0, Y, sw, spec["callbacks"])
            if not bk.is_numpy:
                self.network_ = net.to_backend(bk.name, bk.device)
        else:
            self._fit_stochastic(a0, Y, sw, incremental, rs, spec["callbacks"])
        if not _backend.all_finite(self.network_.params):
            raise ValueError(NON_FINITE_MESSAGE)
        return self

    def _record_divergence(self, exc: DivergenceError) -> None:
        """A diverged run with ``early_stopping``: end as scikit-learn's does.

        scikit-learn keeps iterating on non-finite weights, records a NaN validation
        score per epoch and finally restores the best validation weights. chainrule
        stops at the diverged epoch, records it the same way (loss NaN, validation
        score NaN) and the caller restores the best validation weights, with a
        ConvergenceWarning naming the divergence instead of an error.
        """
        from sklearn.exceptions import ConvergenceWarning

        self.n_iter_ += 1
        self.t_ += self._n_train
        self.loss_ = float("nan")
        self.loss_curve_.append(self.loss_)
        self.validation_scores_.append(float("nan"))  # type: ignore[union-attr]
        warn(
            f"{exc} The weights with the best validation score "
            f"({self.best_validation_score_}) were kept (early_stopping=True).",
            ConvergenceWarning)

    def _initialize(self, n_outputs: int, n_hidden: int, out_activation: str) -> None:
        from chainrule.sklearn._params import sklearn_activation_name

        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = n_outputs
        self.n_layers_ = n_hidden + 2
        self.out_activation_ = "exp" if self._poisson else sklearn_activation_name(out_activation)
        if self.solver != "lbfgs":
            self.loss_curve_: list[float] = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_: list[float] | None = []
                self.best_validation_score_: float | None = -np.inf
                self.best_loss_: float | None = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.best_validation_score_ = None

    def _fit_lbfgs(
        self, a0: Array, Y: Array, sw: Array | None, callbacks: list[Callback]
    ) -> None:
        """L-BFGS-B on a float64 copy of ``net.params``, backprop supplying ∂C/∂params."""
        import scipy.optimize
        from sklearn.exceptions import ConvergenceWarning

        net = self.network_
        kwargs = self._objective_kwargs()

        def cost_and_grad(x: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
            net.params[...] = x
            cost = loss_and_gradient(net, a0, Y, sw, self.alpha, training=False, **kwargs)
            return cost, net.grads.astype(np.float64)

        # Callbacks see one "epoch" per L-BFGS iteration and may stop it.
        trainer = LbfgsEpochs(net, max_iter=self.max_iter, callbacks=callbacks)
        trainer.begin()

        def on_iteration(intermediate_result: Any) -> None:
            net.params[...] = intermediate_result.x  # callbacks see this iterate's weights
            if trainer.epoch_done(float(intermediate_result.fun)):
                raise StopIteration

        res = scipy.optimize.minimize(
            cost_and_grad,
            net.params.astype(np.float64),
            method="L-BFGS-B",
            jac=True,
            callback=on_iteration if callbacks else None,
            options={"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol},
        )
        net.params[...] = res.x
        if self.verbose:
            print(f"L-BFGS-B: {res.nit} iterations, loss = {res.fun:.8f} ({res.message})")
        trainer.end()
        if res.status != 0 and not trainer.stop_training:
            warn(
                f"lbfgs failed to converge after {res.nit} iteration(s) (status={res.status}): "
                f"{res.message}. Increase max_iter / max_fun or scale the data.",
                ConvergenceWarning)
        self.n_iter_ = min(int(res.nit), self.max_iter)
        self.loss_ = float(res.fun)
        if not np.array_equal(net.params, res.x.astype(net.dtype)):
            # A callback restored other weights (EarlyStopping): report their loss.
            self.loss_ = cost_and_grad(net.params.astype(np.float64))[0]

    def _fit_stochastic(
        self,
        a0: Array,
        Y: Array,
        sw: Array | None,
        incremental: bool,
        rs: np.random.RandomState,
        callbacks: list[Callback],
    ) -> None:
        """Mini-batch training with scikit-learn's stopping rules (see ``_stochastic``)."""
        net = self.network_
        if not incremental or not hasattr(self, "_optimizer"):
            self._optimizer = self._make_optimizer()
        net.optimizer = self._optimizer
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        validation_score = None
        if self.early_stopping:
            a0, Y, sw, validation_score = self._hold_out(a0, Y, sw, rs)
        n = a0.shape[0]
        self._n_train = n
        if self.batch_size == "auto":
            batch_size = min(200, n)
        else:
            if self.batch_size > n:
                warn(
                    "Got `batch_size` less than 1 or larger than sample size. It is going to "
                    "be clipped")
            batch_size = int(np.clip(self.batch_size, 1, n))
        lr_rule = None
        if self.solver != "adam" and self.learning_rate in ("invscaling", "adaptive"):
            lr_rule = self.learning_rate
        self.n_iter_ = 0
        stopping = SklearnStopping(self, n, lr_rule, validation_score, incremental)
        objective = SklearnObjective(float(self.alpha), **self._objective_kwargs(),
                                     sparse_X=a0 if sp.issparse(a0) else None)
        trainer = Trainer(
            net, self._optimizer, epochs=1 if incremental else self.max_iter,
            batch_size=batch_size, shuffle=bool(self.shuffle), callbacks=[stopping, *callbacks],
            step=Step(net, self._optimizer, objective=objective))
        # The weights in the network's dtype, as scikit-learn's objective has always seen them.
        s: Any = None if sw is None else np.ascontiguousarray(sw, dtype=net.dtype)
        rows: Any = a0
        if sp.issparse(a0):
            rows = np.arange(n, dtype=np.intp)[:, None]  # the loop batches row numbers
        elif not net._backend.is_numpy:  # moved once; batches are gathered on the device
            rows, Y = net._backend.asarray(a0), net._backend.asarray(Y)
            s = None if s is None else net._backend.asarray(s)
        try:
            trainer.run(rows, Y, None, s)
        except DivergenceError as exc:
            if not self.early_stopping:
                # scikit-learn reports divergence as this ValueError; keep its wording.
                raise ValueError(f"{NON_FINITE_MESSAGE} ({exc})") from exc
            self._record_divergence(exc)
        if self.early_stopping:
            net.params[...] = self._best_params

    def _hold_out(self, a0: Array, Y: Array, sw: Array | None, rs: np.random.RandomState
                  ) -> tuple[Array, Array, Array | None, Callable[[], float]]:
        """``early_stopping``'s validation split, as scikit-learn draws it: the training
        part (a0, Y, sw) and the function that scores the held-out part."""
        from sklearn.base import is_classifier
        from sklearn.model_selection import train_test_split

        # scikit-learn stratifies on the binarized labels as booleans (its error
        # message for a class with one member names the class 'True').
        stratify = Y.astype(bool) if is_classifier(self) and self.n_outputs_ == 1 else None
        arrays = [a0, Y] if sw is None else [a0, Y, sw]
        parts = train_test_split(
            *arrays, random_state=rs, test_size=self.validation_fraction, stratify=stratify
        )
        a0, a0_val, Y, Y_val = parts[:4]
        sw, sw_val = (parts[4], parts[5]) if sw is not None else (None, None)
        if a0_val.shape[0] < 2:
            raise ValueError(
                "The validation set is too small. Increase 'validation_fraction' or the "
                f"size of your dataset (validation_fraction={self.validation_fraction} "
                f"leaves {a0_val.shape[0]} of {a0.shape[0] + a0_val.shape[0]} samples)."
            )
        y_val = self._decode_targets(Y_val)
        self._best_params = _backend.copy(self.network_.params)

        def validation_score() -> float:
            return self._score_arrays(a0_val, y_val, sw_val)

        return a0, Y, sw, validation_score

    def _check_solver(self) -> bool:
        if self.solver == "lbfgs":
            raise AttributeError(
                f"partial_fit is only available for stochastic optimizers. {self.solver} is "
                "not stochastic."
            )
        return True

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Any:
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels (classifier) or real targets (regressor).
        sample_weight : array-like of shape (n_samples,), optional
            Per-sample weights s_i; the cost becomes Σ s_i C_i / Σ s_i.

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.array_api_support = True  # everything follows X (_array_api)
        return tags
