"""Mini-batch training with scikit-learn's MLP semantics on chainrule's training loop.

The loop itself is :class:`chainrule.training.Trainer` (batches, shuffling with the
network's generator, callbacks). Two pieces adapt it:

* :class:`SklearnTrainer` replaces the per-batch step with scikit-learn's objective
  (weighted cost, α / (2 Σ s) ‖W‖²); the sample weight travels as an extra last
  column of the targets, so the loop's shuffling keeps it aligned with its row.
* :class:`SklearnStopping` is a callback that keeps ``loss_curve_``, ``n_iter_``,
  ``t_``, the ``tol`` / ``n_iter_no_change`` test, the ``adaptive`` and
  ``invscaling`` learning rates and ``early_stopping`` exactly as scikit-learn
  does, and only ever sets ``trainer.stop_training``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from chainrule.engine import backend as _backend
from chainrule.sklearn._objective import objective
from chainrule.training.callbacks import Callback
from chainrule.training.loop import Trainer, n_correct, n_correct_array
from chainrule.training.schedules import Constant

if TYPE_CHECKING:
    from chainrule.engine.network import Network
    from chainrule.training.optimizers import Optimizer

Array = NDArray[np.floating]


class SklearnTrainer(Trainer):
    """A :class:`~chainrule.training.Trainer` whose step minimises scikit-learn's objective.

    Parameters
    ----------
    net, optimizer, epochs, batch_size, shuffle, callbacks
        As for :class:`~chainrule.training.Trainer`.
    alpha : float
        L2 strength (per batch: α / (2 Σ_batch s) ‖W‖², as scikit-learn does).
    weighted : bool
        Whether the last target column carries sample weights.
    objective_kwargs : dict
        ``cost_scale`` and ``poisson`` for :func:`loss_and_gradient`.
    sparse_X : scipy.sparse CSR matrix, optional
        The training inputs when they are sparse: then the ``a0`` given to :meth:`run`
        is the (n_samples, 1) column of row numbers, so the loop's shuffling and
        batching work unchanged and each step takes its rows from ``sparse_X``.
    """

    #: compute_gradient is written against the network's array namespace (on a device
    #: the cost and the count stay there; the loop brings them back with ‖g‖²).
    backend_generic = True

    def __init__(
        self,
        net: Network,
        optimizer: Optimizer,
        *,
        epochs: int,
        batch_size: int,
        shuffle: bool,
        callbacks: Sequence[Callback],
        alpha: float,
        weighted: bool,
        objective_kwargs: dict[str, Any],
        sparse_X: Any = None,
    ) -> None:
        super().__init__(
            net, optimizer, epochs=epochs, batch_size=batch_size, shuffle=shuffle,
            callbacks=callbacks,
        )
        self.alpha = alpha
        self.weighted = weighted
        self.objective_kwargs = objective_kwargs
        self.sparse_X = sparse_X

    def compute_gradient(self, xs: Array, ys: Array, ss: Array | None = None
                         ) -> tuple[float, int]:
        """scikit-learn's objective on a batch whose last target column is the sample weight.

        (``ss`` stays None: the weights ride in that column, so that the epoch's loss is
        scikit-learn's Σ_batches (batch cost × batch size) / n rather than the trainer's.)

        Returns the batch cost × batch size (scikit-learn's epoch loss is
        Σ_batches (batch cost × batch size) / n) and the correct predictions.
        """
        net = self.net
        if self.sparse_X is not None:
            # Sparse X: the loop batches a column of row numbers; take those CSR rows.
            xs = self.sparse_X[xs[:, 0]]
        y, sw = ys[:, :-1], ys[:, -1]
        cost, trace = objective(
            net, xs, y, sw if self.weighted else None, self.alpha, **self.objective_kwargs
        )
        correct: Any = 0
        if net.loss_fn.classification:
            count = n_correct if net.xp is np else n_correct_array
            correct = count(trace.a_L, y, net.independent_outputs)
        return cost * xs.shape[0], correct


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

            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({est.max_iter}) reached and the "
                "optimization hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=2,
            )

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
