"""Sample and class weights: the notes' batch mean of C_i, weighted.

``fit(X, Y, sample_weight=…, class_weight=…)`` checks its weights here (once, at the
boundary), and the training step, the gradient check and the scikit-learn objective
take the weighted cost and its output delta from here.

Notes
-----
With a weight s_i ≥ 0 per sample the cost of a batch of n samples is the weighted mean

.. math:: C = \\frac{\\sum_{i=1}^{n} s_i C_i}{\\sum_{i=1}^{n} s_i}
          \\; \\left(+ \\frac{\\lambda}{2} \\sum_l \\lVert W^{(l)} \\rVert^2\\right),

so the notes' average over samples, (1/n) Σ_i ∂C_i/∂w, becomes

.. math:: \\frac{\\partial C}{\\partial w_{jk}^{(l)}}
          = \\sum_i \\frac{s_i}{\\sum_{i'} s_{i'}} \\frac{\\partial C_i}{\\partial w_{jk}^{(l)}}.

Every chain-rule factor below the output is linear in ∂C/∂a^(L), so only the first one
changes: row i of δ^(L) = ∂C_i/∂z^(L) is scaled by s_i / Σ s instead of 1/n, and the
rest of backprop is the network's own (:meth:`~chainrule.network.Network.backward`
with ``delta_L``). All s_i = 1 is the notes' mean again; an integer s_i counts sample i
s_i times (the gradient of repeating its row s_i times); s_i = 0 leaves it out. A
mini-batch whose weights are all zero holds no sample that counts: training takes no
step on it, as if it were absent.

``class_weight`` gives every sample of class c the weight w_c (times its sample weight,
if any). ``"balanced"`` is scikit-learn's ``compute_class_weight``:
w_c = n_samples / (n_classes · n_c), counting the classes present, so that every class
carries the same total weight n_samples / n_classes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..engine import output
from ..engine.backend import namespace_of
from ..engine.ensemble import Ensemble, check_member_weights
from ..engine.validation import weight_array

if TYPE_CHECKING:
    from ..engine.network import Network, Trace
    from ..engine.workspace import Workspace

Array = NDArray[np.floating]
Weights = NDArray[np.float64]

BALANCED = "balanced"


# -- the boundary: checking what the user gave -------------------------------------------------
def check_sample_weight(sample_weight: Any, n_samples: int,
                        name: str = "sample_weight") -> Weights:
    """``sample_weight`` as float64 of shape (n_samples,): finite, ≥ 0, not all zero.

    Every message names the argument ``name``.
    """
    s = weight_array(sample_weight, (n_samples,), name, "one weight per sample")
    if not np.all(np.isfinite(s)):
        raise ValueError(f"{name}: every weight must be finite, got "
                         f"{s[~np.isfinite(s)][0]} at index {int(np.argmin(np.isfinite(s)))}")
    if np.any(s < 0):
        raise ValueError(f"{name}: weights must be non-negative, got {s[s < 0][0]} at index "
                         f"{int(np.argmax(s < 0))}")
    if not np.any(s > 0):
        raise ValueError(f"{name}: every weight is zero; at least one sample must count")
    return s


def class_indices(net: Network, Y: Array, name: str = "class_weight") -> NDArray[np.intp]:
    """The class index of every sample of encoded targets Y (n_samples, n_out).

    One-hot (softmax) rows give their argmax, a single sigmoid output 0 or 1. Regression
    and multi-label targets (several independent outputs) have no one class per sample.
    """
    loss = net.loss_fn
    if not loss.classification:
        raise ValueError(f"{name}: applies to classification only; the loss "
                         f"{loss.name!r} is a regression loss (give sample_weight instead)")
    if Y.shape[1] == 1:
        return (Y[:, 0] >= 0.5).astype(np.intp)
    if loss.independent_outputs:
        raise ValueError(f"{name}: needs one class per sample; {Y.shape[1]} independent "
                         f"{loss.name} outputs are multi-label (give sample_weight instead)")
    return np.argmax(Y, axis=1)


def class_weight_per_sample(class_weight: Any, index: NDArray[np.intp], n_classes: int,
                            classes: Sequence[Any] | None = None,
                            name: str = "class_weight", *, indices: bool = True) -> Weights:
    """The weight w_c of every sample's class c, shape (n_samples,).

    Parameters
    ----------
    class_weight : "balanced" or mapping
        ``"balanced"``: w_c = n_samples / (n_classes_present · n_c). A mapping gives
        {class: w_c}; a key is a class label (looked up in ``classes`` first) or a class
        index 0 … n_classes − 1; classes it does not name keep weight 1.
    index : ndarray of shape (n_samples,)
        Each sample's class index (:func:`class_indices`).
    n_classes : int
        Number of classes the model knows (output units; 2 for one sigmoid output).
    classes : sequence, optional
        The class labels, in index order, when known.
    indices : bool
        Whether a key that is no label may be a class index (scikit-learn: labels only).
    """
    counts = np.bincount(index, minlength=n_classes)
    if isinstance(class_weight, str):
        if class_weight != BALANCED:
            raise ValueError(f"{name}: expected {BALANCED!r} or a mapping {{class: weight}}, "
                             f"got {class_weight!r}")
        present = counts > 0
        w = np.ones(n_classes)
        w[present] = index.shape[0] / (np.count_nonzero(present) * counts[present])
        return w[index]
    if not isinstance(class_weight, Mapping):
        raise ValueError(f"{name}: expected {BALANCED!r} or a mapping {{class: weight}}, "
                         f"got {type(class_weight).__name__}")
    labels = list(classes) if classes is not None else None
    w = np.ones(n_classes)
    for key, value in class_weight.items():
        c = _class_of(key, labels, n_classes if indices else 0)
        if c is None:
            known = (f"the classes are {labels}" if labels is not None else
                     f"the class indices are 0..{n_classes - 1}")
            if labels is not None and indices:
                known += f" (or indices 0..{n_classes - 1})"
            raise ValueError(f"{name}: unknown class {key!r}; {known}")
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer,
                                                             np.floating)):
            raise ValueError(f"{name}: the weight of class {key!r} must be a number, "
                             f"got {value!r}")
        if not (np.isfinite(value) and value >= 0):
            raise ValueError(f"{name}: the weight of class {key!r} must be finite and "
                             f"non-negative, got {value!r}")
        w[c] = float(value)
    return w[index]


def _class_of(key: Any, labels: list[Any] | None, n_classes: int) -> int | None:
    if labels is not None:
        for i, label in enumerate(labels):
            try:
                if type(key) is not bool and bool(key == label):
                    return i
            except (TypeError, ValueError):
                continue
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool) and (
            0 <= key < n_classes):
        return int(key)
    return None


def combined_weights(net: Network, Y: Array, sample_weight: Any = None,
                     class_weight: Any = None) -> Weights | None:
    """s_i = sample_weight_i · w_(class of i), checked; None when neither is given
    (the unweighted path, unchanged). Y: encoded targets (n_samples, n_out)."""
    s = None
    K = _members(net)
    if sample_weight is not None:
        if K > 1 and np.ndim(sample_weight) == 2:  # an ensemble's per-member weights
            s = check_member_weights(sample_weight, Y.shape[0], K, "sample_weight")
        else:
            s = check_sample_weight(sample_weight, Y.shape[0])
    if class_weight is not None:
        index = class_indices(net, Y)
        n_classes = max(Y.shape[1], 2)
        cw = class_weight_per_sample(class_weight, index, n_classes, net.classes)
        s = cw if s is None else s * (cw if s.ndim == 1 else cw[:, None])
        if not np.any(s > 0):
            raise ValueError("class_weight: with these weights no sample counts (every "
                             "sample's weight is zero)")
    return s


# -- the weighted cost and its output delta -----------------------------------------------------
def _members(net: Network) -> int:
    """K of an ensemble (chainrule.engine.ensemble), 1 for a plain network."""
    return net.members if isinstance(net, Ensemble) else 1


def sample_costs(net: Network, trace: Trace, Y: Array) -> Array:
    """C_i of every sample of a forward pass, shape (n_samples,) (no L2 term): from the
    logits z^(L) for a canonical pair, as :meth:`Network.cost` takes them (an ensemble:
    the members' mean (1/K) Σ_m C_im)."""
    if isinstance(net, Ensemble):
        return net._sample_costs(trace, Y)
    return output.sample_costs(net.loss_fn, trace.z_L, trace.a_L, Y, fused=net.fused_output)


def sample_deltas(net: Network, trace: Trace, Y: Array) -> Array:
    """δ_i^(L) = ∂C_i/∂z^(L) of every sample, not yet averaged: (n_samples, n_out) (an
    ensemble: every member's rows, (K·n_samples, n_out))."""
    if isinstance(net, Ensemble):
        return net.member_deltas(trace, Y)[0]
    delta_L, _ = output.output_delta(net.loss_fn, net.output_layer.activation, trace.z_L,
                                     trace.a_L, Y, fused=net.fused_output)  # not averaged
    return delta_L


def member_shares(s: Array, members: int) -> Weights:
    """What row i of member m weighs in an ensemble's gradient, shape (K, n):
    W_im / (K Σ_i' W_i'm) — member m's weighted mean, and the members' mean (zero for a
    member whose rows here all weigh 0). ``s``: (n,) for every member alike, or (n, K)."""
    W = np.asarray(s, dtype=np.float64)
    W = np.broadcast_to(W[:, None], (W.shape[0], members)) if W.ndim == 1 else W
    total = W.sum(axis=0)
    out = np.divide(W, members * total, out=np.zeros_like(W), where=total > 0)
    return np.ascontiguousarray(out.T)


def shares(s: Array) -> Weights:
    """s_i / Σ s in float64: what replaces the notes' 1/n (all zero when Σ s = 0)."""
    s64: Weights = np.asarray(s, dtype=np.float64)
    total = float(np.sum(s64))
    return s64 / total if total > 0 else np.zeros_like(s64)


def l2_penalty(net: Network) -> float:
    """(λ/2) Σ_l ‖W^(l)‖², the term :meth:`Network.cost` adds."""
    if isinstance(net, Ensemble):
        return net.l2_penalty()  # the members' mean
    if not net.l2:
        return 0.0
    return 0.5 * net.l2 * sum(float(np.vdot(d.w, d.w)) for d in net.dense_layers)


def weighted_cost(net: Network, trace: Trace, Y: Array, s: Array) -> float:
    """C = Σ_i s_i C_i / Σ_i s_i (+ L2) of a forward pass; s of shape (n_samples,). For
    an ensemble, the members' mean of Σ_i W_im C_im / Σ_i W_im, with s (n,) or W (n, K)."""
    if isinstance(net, Ensemble):
        c_im = net.member_costs(trace, Y).astype(np.float64)
        return float(np.sum(member_shares(s, net.members) * c_im)) + l2_penalty(net)
    c_i = sample_costs(net, trace, Y).astype(np.float64)
    return float(np.dot(shares(s), c_i)) + l2_penalty(net)


def scale_rows(delta: Array, share: Array) -> Array:
    """Row i of ``delta`` times ``share[i]``, in place: the one place where sample
    weights scale a gradient.

    Parameters
    ----------
    delta : ndarray of shape (n_samples, n_out)
        δ_i^(L) = ∂C_i/∂z^(L) of every sample, not yet averaged; an array of any
        backend's namespace, overwritten.
    share : ndarray of shape (n_samples,)
        What sample i's term weighs in the batch's gradient: s_i / Σ s for the weighted
        mean (:func:`shares`), in place of the notes' 1/n. Cast to ``delta``'s dtype.

    Returns
    -------
    ``delta``, scaled.
    """
    xp = namespace_of(delta)
    delta *= xp.astype(share, delta.dtype)[:, None]  # the weighted mean, not (1/n) Σ_i
    return delta


def weighted_backward(net: Network, trace: Trace, Y: Array, s: Array, *,
                      workspace: Workspace | None = None) -> Array:
    """∂C/∂params of :func:`weighted_cost`: fills and returns ``net.grads``.

    Row i of δ^(L) is scaled by s_i / Σ s (:func:`scale_rows`); :meth:`Network.backward`
    does the rest (and adds λw for L2).
    """
    if isinstance(net, Ensemble):  # each member's rows, its own shares
        share = member_shares(s, net.members).reshape(-1)
        buf = None if workspace is None else workspace.layers[-1]
        out = None if buf is None else buf.delta  # a layer may keep no buffers
        delta_L = scale_rows(net.member_deltas(trace, Y, out=out)[0], share)
        return net.backward(trace, delta_L=delta_L, workspace=workspace)
    delta_L = scale_rows(sample_deltas(net, trace, Y), shares(s))
    return net.backward(trace, delta_L=delta_L, workspace=workspace)
