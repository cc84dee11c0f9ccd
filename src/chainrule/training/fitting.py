"""``fit``: train a network on arrays or a table, and the data preparation it shares
with MPI's ``fit`` (:func:`prepare_fit`).

``fit`` checks and standardizes the data, combines sample and class weights, holds out
the validation split, picks the optimizer and runs a :class:`~chainrule.training.Trainer`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..engine import backend as _backend
from ..table.columns import is_table
from . import weights
from .callbacks import Callback, History
from .loop import Trainer
from .optimizers import Optimizer, get_optimizer

if TYPE_CHECKING:
    from ..engine.network import Network

Array = NDArray[np.floating]


def _rows(a: Array, idx: NDArray[np.intp]) -> Array:
    """a[idx] (host indices) for NumPy arrays and, through ``xp.take``, any other."""
    if type(a) is np.ndarray:
        return a[idx]
    xp = _backend.namespace_of(a)
    return xp.take(a, xp.asarray(idx, dtype=xp.int64, device=_backend.device_of(a)), axis=0)


def fit(
    net: Network,
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
    sample_weight: ArrayLike | None = None,
    class_weight: str | Mapping[Any, float] | None = None,
    start_epoch: int = 0,
    trainer_class: type[Trainer] = Trainer,
    **trainer_options: Any,
) -> History:
    """Train ``net`` on (X, Y) with mini-batch gradient descent (also ``net.fit``).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_in)
    Y : array-like of shape (n_samples, n_out), or (n_samples,) of class labels
    epochs, batch_size : int
        Positive integers. A ``batch_size`` of n_samples or more is one batch of every
        sample (full-batch gradient descent); nothing is allocated past the data.
    optimizer : str or Optimizer, optional
        Default: the network's previous optimizer (to resume training), else Adam.
    shuffle : bool
        Reshuffle the samples every epoch (with the network's generator).
    validation_data : (X_val, Y_val), optional
    validation_split : float
        Fraction of (X, Y) held out for validation (random, seeded), if no
        ``validation_data`` is given.
    callbacks : sequence of Callback
    sample_weight : array-like of shape (n_samples,), optional
        Non-negative weights s_i (finite, not all zero): every mini-batch's cost is the
        weighted mean C = Σ_i s_i C_i / Σ_i s_i (+ L2) and its gradient
        Σ_i (s_i / Σ s) ∂C_i/∂w, in place of the notes' (1/n) Σ_i; an integer s_i counts
        sample i s_i times. A batch whose weights are all zero takes no step. The
        epoch's ``loss`` is the weighted mean; ``accuracy`` and the validation metrics
        stay unweighted. See :mod:`chainrule.weights`.
    class_weight : "balanced" or mapping, optional
        Classification only (one class per sample): sample i of class c gets weight w_c,
        times its ``sample_weight``. ``"balanced"``: w_c = n_samples / (n_classes · n_c),
        scikit-learn's rule, over the samples given (before ``validation_split``); a
        mapping {class label or class index: w_c} (labels from ``net.classes`` first),
        unnamed classes weight 1.
    start_epoch : int
        Epochs already done (a resumed run): this trains epochs ``start_epoch + 1`` …
        ``epochs`` (``epochs`` is then the number of the last one), and callbacks and the
        history see those numbers.
    trainer_class : type of Trainer
        The loop to run (:class:`chainrule.distributed.DistributedTrainer` for MPI);
        ``trainer_options`` are its extra keyword arguments.

    Returns
    -------
    History
    """
    if trainer_options and trainer_class is Trainer:
        raise ValueError(
            f"fit: unknown keyword {next(iter(trainer_options))!r}; valid keywords are epochs, "
            "batch_size, optimizer, shuffle, validation_data, validation_split, callbacks, "
            "sample_weight, class_weight, start_epoch"
        )
    a0, Yt, validation, opt, s = prepare_fit(
        net, X, Y, optimizer=optimizer, validation_data=validation_data,
        validation_split=validation_split, sample_weight=sample_weight,
        class_weight=class_weight)
    trainer = trainer_class(
        net, opt, epochs=epochs, batch_size=batch_size, shuffle=shuffle, callbacks=callbacks,
        start_epoch=start_epoch, **trainer_options,
    )
    if s is None:
        return trainer.run(a0, Yt, validation)  # the unweighted loop, exactly as before
    return trainer.run(a0, Yt, validation, sample_weight=s)


def prepare_fit(
    net: Network,
    X: ArrayLike,
    Y: ArrayLike,
    *,
    optimizer: str | Optimizer | None = None,
    validation_data: tuple[ArrayLike, ArrayLike] | None = None,
    validation_split: float = 0.0,
    sample_weight: ArrayLike | None = None,
    class_weight: str | Mapping[Any, float] | None = None,
) -> tuple[Array, Array, tuple[Array, Array] | None, Optimizer, NDArray[np.float64] | None]:
    """The data preparation of :func:`fit`, shared with :func:`chainrule.distributed.fit`.

    Validates and standardizes (X, Y) (a table — DataFrame, dict of columns — is encoded
    by ``net.encoder``; with no ``net.scaler`` yet, one is fitted on the training rows:
    :meth:`~chainrule.table.TableEncoder.standardizer`), checks and combines the sample
    and class weights, holds out the validation split (drawing from ``net.rng``) and picks
    the optimizer (set as ``net.optimizer``).

    Returns
    -------
    a0 : ndarray of shape (n_train, n_in)
    Yt : ndarray of shape (n_train, n_out)
    validation : (a0_val, Y_val) or None
    optimizer : Optimizer
    sample_weight : ndarray of shape (n_train,) or None
        s_i of the training samples; None when neither weight was given.
    """
    # A table with an encoder but no scaler yet: encode it here, hold out validation, then
    # standardize with the training rows' statistics (set as net.scaler, saved with it).
    new_scaler = is_table(X) and net.encoder is not None and net.scaler is None
    if new_scaler and net.encoder is not None:
        X = net.encoder.transform(X, net.dtype)
    a0 = net.inputs(X, "X")
    Yt = net.targets(Y, a0.shape[0], "Y")
    s = weights.combined_weights(net, Yt, sample_weight, class_weight)
    validation = None
    if validation_data is not None:
        if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
            raise ValueError("validation_data: expected a pair (X_val, Y_val)")
    elif validation_split:
        if not (isinstance(validation_split, float) and 0.0 < validation_split < 1.0):
            raise ValueError(
                f"validation_split: expected a number in (0, 1), got {validation_split!r}"
            )
        n_val = int(round(a0.shape[0] * validation_split))
        if n_val < 1 or n_val >= a0.shape[0]:
            raise ValueError(
                f"validation_split: {validation_split} of {a0.shape[0]} samples leaves an empty "
                "training or validation set"
            )
        perm = net.rng.permutation(a0.shape[0])
        val_idx, train_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
        validation = (_rows(a0, val_idx), _rows(Yt, val_idx))
        a0, Yt = _rows(a0, train_idx), _rows(Yt, train_idx)
        if s is not None:
            s = s[train_idx]
            if not np.any(s > 0):
                raise ValueError("sample_weight: every training sample left after "
                                 f"validation_split={validation_split} has weight zero")
    if new_scaler and net.encoder is not None:
        if net.xp is not np:
            raise _backend.BackendError(f"X: tables are encoded and scaled on the numpy "
                                        f"backend only; fit net.encoder and net.scaler first, "
                                        f"or pass arrays (the network is on {net.backend!r})")
        net.scaler = net.encoder.standardizer(a0)
        a0 = net.scaler.transform(a0)
        if validation is not None:
            validation = (net.scaler.transform(validation[0]), validation[1])
    if validation_data is not None:
        Xv = net.inputs(validation_data[0], "validation_data[0]")
        validation = (Xv, net.targets(validation_data[1], Xv.shape[0], "validation_data[1]"))
    if optimizer is None and net.optimizer is not None:
        opt = net.optimizer
    else:
        opt = get_optimizer(optimizer)
    net.optimizer = opt
    return a0, Yt, validation, opt, s
