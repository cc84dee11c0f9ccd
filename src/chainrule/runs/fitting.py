"""Stage 4, the fit: the optimizer and its schedule, early stopping, the health monitor,
checkpoints into the run directory, and a resumed run's remaining epochs.

A resumed run continues where its checkpoint ended: the weights, the optimizer's moments
and step count, the generator state and the early-stopping counters are the
checkpoint's, and the callbacks count epochs from the start of the run; the result
equals an uninterrupted run bit for bit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .. import datasets
from .._blas import blas_threads_for
from ..engine.network import Network
from ..health.monitor import HealthMonitor
from ..training.callbacks import Callback, EarlyStopping, History
from ..training.optimizers import Optimizer, get_optimizer
from ..training.schedules import Schedule, get_schedule
from .checkpoint import Checkpointer, CheckpointState, ResumableEarlyStopping, Resumed
from .config import RunConfig
from .crossval import OutOfFoldLoss, member_weights, run_folds
from .errors import RunError
from .network import encode_targets
from .stages import Fitted, Splits, batch_size_of, label_smoothing, learning_rate, table_of

#: Steps between two checks of the health monitor (runs shorter than two checks: two
#: checks spread over the run).
MONITOR_EVERY = 50
#: At most about this many checks in a run (a longer run spaces them further apart).
MONITOR_CHECKS = 100


def make_optimizer(cfg: RunConfig, steps_per_epoch: int) -> Optimizer:
    """The optimizer with its schedule, weight decay and clipping; decaying schedules
    span the whole run (``epochs``; a run stopped early ends before its schedule does)."""
    total = max(1, cfg.epochs * steps_per_epoch)
    lr = learning_rate(cfg)
    options: dict[str, dict[str, Any]] = {
        "constant": {},
        "step": {"step_size": max(1, total // 4), "gamma": 0.5},  # halve every quarter
        "exponential": {"decay_steps": total, "gamma": 0.1},  # ÷10 over the run
        "invscaling": {},
        "cosine": {"total_steps": total},
        "flat_cosine": {"total_steps": total},
    }
    schedule: float | Schedule = lr if cfg.schedule == "constant" else get_schedule(
        cfg.schedule, lr, **options.get(cfg.schedule, {}))
    extra: dict[str, Any] = {}
    if cfg.weight_decay is not None:
        extra["weight_decay"] = cfg.weight_decay
    if cfg.clipnorm is not None:
        extra["clipnorm"] = cfg.clipnorm
    return get_optimizer(cfg.optimizer, lr=schedule, **extra)


def smooth_labels(Y: NDArray, task: str, n_out: int, epsilon: float) -> NDArray:
    """The training targets with label smoothing ε: one-hot rows y become
    (1 − ε) y + ε / K over K classes (one sigmoid unit: (1 − ε) y + ε / 2).

    ``Y`` is what :func:`~chainrule.runs.network.encode_targets` gives: class indices
    (n,) for a softmax output, a 0/1 column (n, 1) for one unit, or one-hot rows. The
    cost stays the cross-entropy of the notes with these y, so δ^(L) = a − y holds for the
    canonical pairs; only the training split is smoothed (the validation loss and the
    test report score the true labels).
    """
    if epsilon == 0 or task != "classification":
        return Y
    if Y.ndim == 1:  # class indices: one-hot rows first
        Y = np.eye(n_out)[Y]
    k = 2 if Y.shape[1] == 1 else Y.shape[1]
    return (1.0 - epsilon) * np.asarray(Y, dtype=np.float64) + epsilon / k




def make_monitor(cfg: RunConfig, splits: Splits, epochs: int) -> HealthMonitor:
    """The health monitor of a run of ``epochs`` (more) epochs: a check every
    :data:`MONITOR_EVERY` steps, two spread over a shorter run, and at most about
    :data:`MONITOR_CHECKS` over a long one (each check is a forward pass over the probe
    batch and ends a compiled whole-epoch run: 240 checks were 1 s of a 15 s table fit)."""
    steps = epochs * math.ceil(len(splits.X_train) / min(batch_size_of(cfg),
                                                          len(splits.X_train)))
    return HealthMonitor(every=max(1, min(MONITOR_EVERY, steps // 2),
                                   steps // MONITOR_CHECKS))



@dataclass
class Checkpointing:
    """How the fit stage checkpoints: into ``run_dir`` (None: not at all, e.g. on the
    other MPI ranks), from ``state`` (a resumed run's; else a new one)."""

    run_dir: Path | None = None
    state: CheckpointState | None = None
    resumed: Resumed | None = None
    #: state -> the training metadata of a checkpoint
    training: Callable[[CheckpointState], dict[str, Any]] | None = None
    feature_names: list[str] | None = None
    checkpointer: Checkpointer | None = None

    @classmethod
    def of_run(cls, config: dict[str, Any], ds: datasets.Dataset, splits: Splits,
               resumed: Resumed | None) -> Checkpointing:
        """A run's checkpointing (``run_dir`` set once the directory exists): every
        checkpoint's training metadata is the run's configuration (as config.json has
        it), its sizes and the epochs done."""
        n_train, n_val, n_test = splits.sizes

        def training(state: CheckpointState) -> dict[str, Any]:
            return {"config": config, "task": ds.task, "target_names": ds.target_names,
                    "epochs_run": state.epoch, "n_train": n_train, "n_val": n_val,
                    "n_test": n_test, **table_of(ds)}

        return cls(resumed=resumed, state=resumed.state if resumed else None,
                   training=training, feature_names=ds.feature_names)


#: Early stopping watches the validation loss from this many validation rows on, else the
#: training loss (:func:`early_stopping`).
MIN_VAL_ROWS = 100
#: scikit-learn's ``tol``: the default ``min_delta`` (RunConfig).
TRAIN_LOSS_TOL = 1e-4


def early_stopping(patience: int, n_val: int, min_delta: float = TRAIN_LOSS_TOL, *,
                   out_of_fold: bool = False, **resume: Any) -> ResumableEarlyStopping:
    """``--early-stopping PATIENCE`` for a validation split of ``n_val`` rows: an epoch
    counts as better when its loss fell by more than ``min_delta`` (``--min-delta``).

    From :data:`MIN_VAL_ROWS` rows on: stop when the validation loss has not fallen for
    PATIENCE epochs and keep the best weights. Below, a validation loss is noise (on
    msleep's 8 validation rows stopping on it cost R² 0.85 → 0.69): stop as scikit-learn's
    MLP does, when the training loss has not fallen for PATIENCE epochs, keeping the last
    weights. With ``out_of_fold`` (``--cv K``): the out-of-fold loss of every training row
    (:class:`~chainrule.runs.crossval.OutOfFoldLoss`), keeping the best weights.
    """
    if out_of_fold:
        return ResumableEarlyStopping("cv_loss", patience, min_delta=min_delta,
                                      restore_best_weights=True, **resume)
    on_val = n_val >= MIN_VAL_ROWS
    return ResumableEarlyStopping("val_loss" if on_val else "loss", patience,
                                  min_delta=min_delta, restore_best_weights=on_val, **resume)




def fit(cfg: RunConfig, net: Network, ds: datasets.Dataset, splits: Splits, *,
        callbacks: Sequence[Callback], fit_fn: Callable[..., History] | None = None,
        checkpointing: Checkpointing | None = None) -> Fitted:
    """Stage 4: train ``net`` on the training split.

    Parameters
    ----------
    cfg : RunConfig
        The run's settings (``lr`` a number: :func:`~chainrule.runs.stages.auto_lr`).
    net : Network
        Built by :func:`~chainrule.runs.stages.build`, or a resumed run's.
    ds : Dataset
    splits : Splits
    callbacks : sequence of Callback
        Observe the fit; their epochs count from the start of the run.
    fit_fn : callable, optional
        Another fit with :func:`chainrule.training.fit`'s keywords (MPI:
        :func:`chainrule.distributed.data_parallel.fit`).
    checkpointing : Checkpointing, optional
        Where to checkpoint (default: nowhere), and a resumed run's state.

    Returns
    -------
    Fitted
        The history of the whole run (a resumed run's earlier epochs included).
    """
    if cfg.class_weight and ds.task != "classification":
        raise RunError(f"class_weight {cfg.class_weight}: weights classes, and this is "
                       f"{ds.task} data; leave --class-weight out (or train a "
                       "classification task)")
    ck = checkpointing or Checkpointing()
    resumed = ck.resumed
    state = ck.state or (resumed.state if resumed else CheckpointState(epochs=cfg.epochs))
    prior = CheckpointState(**{**state.to_json(), "history_epochs": list(state.history_epochs),
                               "history": {k: list(v) for k, v in state.history.items()}})
    Y_train = smooth_labels(encode_targets(net, splits.y_train, ds.task), ds.task, net.n_out,
                            label_smoothing(cfg, ds.task))
    validation = None
    if len(splits.X_val):
        validation = (splits.X_val, encode_targets(net, splits.y_val, ds.task))
    batch_size = min(batch_size_of(cfg), len(splits.X_train))
    optimizer = make_optimizer(cfg, math.ceil(len(splits.X_train) / batch_size))
    if resumed is not None and resumed.net.optimizer is not None:
        optimizer.load_state_dict(resumed.net.optimizer.state_dict())
    start = time.perf_counter()
    out_of_fold = []
    if cfg.folds:  # every row's cost under the member that never saw it: cv_loss
        folds = run_folds(cfg.folds, splits.y_train, ds.task, cfg.seed)
        Y_true = net.targets(encode_targets(net, splits.y_train, ds.task), len(folds))
        out_of_fold = [OutOfFoldLoss(net.inputs(splits.X_train), Y_true, folds)]
    run_callbacks = _fit_callbacks(cfg, ck, state, [*callbacks, *out_of_fold],
                                   len(splits.X_val) if validation else 0,
                                   seconds=lambda: prior.train_seconds + time.perf_counter()
                                   - start)
    remaining = 0 if prior.stopped else max(0, cfg.epochs - prior.epoch)
    # A batch larger than the training split is the whole split: the same steps, without
    # buffers sized for samples that do not exist.
    kwargs: dict[str, Any] = dict(
        batch_size=batch_size, optimizer=optimizer,
        validation_data=validation,
        **_epochs(run_callbacks, prior.epoch, remaining))
    if cfg.class_weight:  # from the training split's classes (chainrule.training.weights)
        kwargs["class_weight"] = cfg.class_weight
    if cfg.folds:  # member m never sees fold m (chainrule.runs.crossval)
        kwargs["member_weights"] = member_weights(folds, cfg.folds)
    new = (fit_fn or _fit)(net, splits.X_train, Y_train, **kwargs)
    seconds = prior.train_seconds + time.perf_counter() - start
    history = prior.to_history()
    history.epoch += new.epoch
    for key, values in new.history.items():
        history.history.setdefault(key, []).extend(values)
    early = next((c for c in run_callbacks if isinstance(c, EarlyStopping)), None)
    kept = ((early.monitor, early.best_value) if early is not None
            and early.restore_best_weights and math.isfinite(early.best) else None)
    return Fitted(history, seconds, kept)


def _fit(net: Network, X: Any, Y: Any, **options: Any) -> History:
    """``net.fit``, with one BLAS thread where its products are small (:mod:`chainrule._blas`)."""
    with blas_threads_for(largest_product(net, options["batch_size"])):
        return net.fit(X, Y, **options)


def largest_product(net: Network, batch_size: int) -> int:
    """Multiply-adds of the largest matrix product in one batch of ``net``'s fit: the batch
    rows times the largest layer's weights (an ensemble's grouped layer counts all members)."""
    sizes = [math.prod(dense.w.shape) for dense in net.dense_layers]  # any backend's array
    return batch_size * max(sizes, default=0)


def _fit_callbacks(cfg: RunConfig, ck: Checkpointing, state: CheckpointState,
                   callbacks: list[Callback], n_val: int, *,
                   seconds: Callable[[], float]) -> list[Callback]:
    """``callbacks``, then early stopping (from the checkpoint's counters when resumed),
    then the checkpointer (into ``ck.run_dir``; it is kept in ``ck.checkpointer``)."""
    resumed = ck.resumed
    early = None
    if cfg.early_stopping:
        early = early_stopping(cfg.early_stopping, n_val, cfg.min_delta,
                               out_of_fold=bool(cfg.folds),
                               state=state.early_stopping if resumed else None,
                               best_params=resumed.best_params if resumed else None)
        callbacks.append(early)
    if ck.run_dir is not None:
        monitor = ("cv_loss" if cfg.folds else "val_loss" if n_val else
                   "loss" if early else None)
        ck.checkpointer = Checkpointer(
            ck.run_dir, every=cfg.checkpoint_every, state=state, monitor=monitor,
            early_stopping=early, training=ck.training, feature_names=ck.feature_names,
            seconds=seconds)
        callbacks.append(ck.checkpointer)
    return callbacks


def _epochs(callbacks: list[Callback], done: int, remaining: int) -> dict[str, Any]:
    """The fit's keywords for the ``remaining`` epochs after the ``done`` ones: the loop
    numbers them ``done + 1`` … ``done + remaining``, so the callbacks see the run's
    epoch numbers and length (a resumed run: 14/30, not 1/17)."""
    return {"epochs": done + remaining, "start_epoch": done, "callbacks": callbacks}


__all__ = [
    "MIN_VAL_ROWS", "MONITOR_CHECKS", "MONITOR_EVERY", "TRAIN_LOSS_TOL", "Checkpointing",
    "early_stopping", "fit", "largest_product", "make_monitor", "make_optimizer", "smooth_labels",
]
