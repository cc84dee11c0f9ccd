"""Mini-batch training with scikit-learn's MLP semantics on chainrule's training loop.

The loop itself is :class:`chainrule.training.Trainer` (batches, shuffling with the
network's generator, callbacks). Two pieces adapt it:

* :class:`SklearnObjective` is the step's objective: scikit-learn's (weighted cost,
  α / (2 Σ s) ‖W‖²); the sample weights are the loop's, shuffled with their rows.
* :class:`SklearnStopping` is a callback that keeps ``loss_curve_``, ``n_iter_``,
  ``t_``, the ``tol`` / ``n_iter_no_change`` test, the ``adaptive`` and
  ``invscaling`` learning rates and ``early_stopping`` exactly as scikit-learn
  does, and only ever sets ``trainer.stop_training``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from chainrule._warnings import warn
from chainrule.engine import backend as _backend
from chainrule.sklearn._objective import objective
from chainrule.training.callbacks import Callback
from chainrule.training.metrics import n_correct, n_correct_array
from chainrule.training.schedules import Constant

if TYPE_CHECKING:
    from chainrule.engine.network import Network
    from chainrule.engine.workspace import Workspaces
    from chainrule.training.loop import Trainer

Array = NDArray[np.floating]


class SklearnObjective:
    """scikit-learn's objective as a training step's objective (:class:`~chainrule.training.
    step.Objective`): the weighted cost with α / (2 Σ s) ‖W‖² of :func:`objective`.

    Parameters
    ----------
    alpha : float
        L2 strength (per batch: α / (2 Σ_batch s) ‖W‖², as scikit-learn does).
    cost_scale, poisson
        As for :func:`objective`.
    sparse_X : scipy.sparse CSR matrix, optional
        The training inputs when they are sparse: then the loop batches the
        (n_samples, 1) column of row numbers, so its shuffling and batching work
        unchanged, and each step takes its rows from ``sparse_X``.

    Notes
    -----
    A batch's loss sum is its cost × its size, and :meth:`batch_weight` is the size even
    with sample weights: scikit-learn's epoch loss is Σ_batches (batch cost × batch size)
    / n, not the trainer's weighted mean.
    """

    # Written against the network's array namespace: on a device the cost and the count
    # stay there (the step brings them back with ‖g‖²), with or without weights.
    any_backend = True
    any_backend_weighted = True

    def __init__(self, alpha: float, *, cost_scale: float = 1.0, poisson: bool = False,
                 sparse_X: Any = None) -> None:
        self.alpha, self.cost_scale, self.poisson = alpha, cost_scale, poisson
        self.sparse_X = sparse_X

    def gradient(self, net: Network, xs: Array, ys: Array, ss: Array | None,
                 workspaces: Workspaces, rng: Any) -> tuple[Any, Any]:
        """scikit-learn's objective on a batch: fills ``net.grads``; returns the batch
        cost × batch size and the correct predictions."""
        if self.sparse_X is not None:
            xs = self.sparse_X[xs[:, 0]]  # the loop batches row numbers; take those rows
        cost, trace = objective(net, xs, ys, ss, self.alpha, cost_scale=self.cost_scale,
                                poisson=self.poisson)
        correct: Any = 0
        if net.loss_fn.classification:
            count = n_correct if net.xp is np else n_correct_array
            correct = count(trace.a_L, ys, net.independent_outputs)
        return cost * xs.shape[0], correct

    def batch_weight(self, n: int, ss: Array) -> float:
        return float(n)  # scikit-learn's epoch loss averages batch costs by batch size


class SklearnStopping(Callback):
    """scikit-learn's end-of-epoch bookkeeping and stopping rule, as a callback.

    Parameters
    ----------
    est : BaseMLP
        The estimator whose fitted attributes are updated.
    n_samples : int
        Training samples per epoch (``t_`` grows by this much each epoch).
    lr_rule : {"invscaling", "adaptive"} or None
        scikit-learn's learning-rate rule to apply at the end of each epoch.
    validation_score : callable, optional
        Returns the held-out score (accuracy or R²) when ``early_stopping`` is on.
    incremental : bool
        ``partial_fit``: a single epoch and no convergence warning.
    """

    def __init__(
        self,
        est: Any,
        n_samples: int,
        lr_rule: str | None,
        validation_score: Callable[[], float] | None,
        incremental: bool,
    ) -> None:
        self.est = est
        self.n_samples = n_samples
        self.lr_rule = lr_rule
        self.validation_score = validation_score
        self.incremental = incremental

    def on_epoch_end(self, trainer: Trainer, logs: dict[str, float]) -> None:
        est = self.est
        est.n_iter_ += 1
        est.loss_ = logs["loss"]
        est.t_ += self.n_samples
        est.loss_curve_.append(est.loss_)
        if est.verbose:
            print(f"Iteration {est.n_iter_}, loss = {est.loss_:.8f}")
        self._update_no_improvement_count(trainer, logs)
        schedule = trainer.optimizer.schedule
        if self.lr_rule == "invscaling" and isinstance(schedule, Constant):
            schedule.lr = est.learning_rate_init / (est.t_ + 1) ** est.power_t
        if est._no_improvement_count > est.n_iter_no_change:
            what = "Validation score" if self.validation_score else "Training loss"
            msg = (
                f"{what} did not improve more than tol={est.tol:f} for "
                f"{est.n_iter_no_change} consecutive epochs."
            )
            if self.lr_rule == "adaptive" and isinstance(schedule, Constant) and (
                schedule.lr > 1e-6
            ):
                schedule.lr /= 5.0
                est._no_improvement_count = 0
                if est.verbose:
                    print(f"{msg} Setting learning rate to {schedule.lr:f}")
            else:
                if est.verbose:
                    print(f"{msg} Stopping.")
                trainer.stop_training = True
                return
        if est.n_iter_ == est.max_iter and not self.incremental:
            from sklearn.exceptions import ConvergenceWarning

            warn(
                f"Stochastic Optimizer: Maximum iterations ({est.max_iter}) reached and the "
                "optimization hasn't converged yet.",
                ConvergenceWarning)

    def _update_no_improvement_count(self, trainer: Trainer, logs: dict[str, float]) -> None:
        est = self.est
        if self.validation_score is not None:
            score = self.validation_score()
            logs["val_score"] = score
            est.validation_scores_.append(score)
            if est.verbose:
                print(f"Validation score: {score:f}")
            if score < est.best_validation_score_ + est.tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            if score > est.best_validation_score_:
                est.best_validation_score_ = score
                est._best_params = _backend.copy(trainer.net.params)
        else:
            if est.loss_curve_[-1] > est.best_loss_ - est.tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            est.best_loss_ = min(est.best_loss_, est.loss_curve_[-1])
