"""The ONNX lowering of the embedding layers (:mod:`chainrule.engine.embeddings`),
registered with :func:`~chainrule.onnx.convert.register_converter`; ``convert`` imports
this module on the first export.

* :class:`~chainrule.engine.embeddings.CategoricalEmbedding`: the passed columns are one
  ``Gather`` along axis 1; each code column is ``Gather`` (the column), ``Cast`` to int64,
  and ``Gather`` of the rows of wᵀ (the lookup), all joined by one ``Concat``. The codes
  come from the table encoder's graph, whole numbers 0..m−1 (0 for a missing or unseen
  value); onnxruntime refuses an index outside the table rather than reading past it.
* :class:`~chainrule.engine.periodic.PeriodicEmbedding`: x is a ``Gather`` of the numeric
  columns, θ = 2π c x a ``Mul`` by a constant, [cos θ, sin θ] a ``Concat``, and the
  per-column linear map one batched ``MatMul`` over the columns (``Transpose`` to
  (P, N, 2k), times wᵀ of shape (P, 2k, d), plus b), reshaped to (N, P d) after a_prev.
* An ensemble's own embeddings (:mod:`chainrule.engine.grouped_lookup`,
  :mod:`chainrule.engine.grouped_periodic`) work on every member's rows, (K, N, width):
  a shared input (N, n_in) is first ``Expand``-ed to (K, N, n_in); member m's code k is
  row m·m_codes + k of its column's tables stacked, (K·m_codes, d), one ``Gather``; the
  periodic features are the single layer's with a member axis in front of every tensor.
"""

from __future__ import annotations

import math

import numpy as np

from chainrule.engine.embeddings import CategoricalEmbedding
from chainrule.engine.grouped_lookup import GroupedCategoricalEmbedding
from chainrule.engine.grouped_periodic import GroupedPeriodicEmbedding
from chainrule.engine.periodic import PeriodicEmbedding
from chainrule.onnx.convert import Graph, register_converter

__all__: list[str] = []


@register_converter(CategoricalEmbedding.name)
def _categorical(g: Graph, layer: CategoricalEmbedding, a_prev: str) -> str:
    """a = (a_prev[:, keep], w0ᵀ[code_0], w1ᵀ[code_1], …)."""
    parts = []
    if len(layer.keep):
        parts.append(g.op("Gather", [a_prev, g.const("keep", layer.keep, np.int64)],
                          stem="passed", axis=1))
    for c, (column, w) in enumerate(zip(layer.columns, layer.w, strict=True)):
        value = g.op("Gather", [a_prev, g.const("column", np.int64(column), np.int64)],
                     stem=f"code{c}_value", axis=1)  # (N,)
        code = g.op("Cast", [value], stem=f"code{c}", to=7)  # 7: TensorProto.INT64
        table = g.const(f"embedding{c}", np.ascontiguousarray(w.T))  # (m, d): row k is code k's
        parts.append(g.op("Gather", [table, code], stem=f"vector{c}", axis=0))  # (N, d)
    return parts[0] if len(parts) == 1 else g.op("Concat", parts, stem="embedded", axis=1)


@register_converter(PeriodicEmbedding.name)
def _periodic(g: Graph, layer: PeriodicEmbedding, a_prev: str) -> str:
    """a = (a_prev, e) with e_pr = Σ_q w_prq [cos 2π c x_p, sin 2π c x_p]_q + b_pr."""
    P, d = len(layer.columns), layer.d
    x = g.op("Gather", [a_prev, g.const("numeric", np.array(layer.columns), np.int64)],
             stem="x", axis=1)  # (N, P)
    x = g.op("Transpose", [x], stem="x_t", perm=[1, 0])  # (P, N)
    x = g.op("Unsqueeze", [x, g.const("axis", np.array([2]), np.int64)], stem="x_3d")
    two_pi_c = g.const("two_pi_c", (2.0 * math.pi * np.asarray(layer.c, np.float64))[:, None, :])
    theta = g.op("Mul", [x, two_pi_c], stem="theta")  # θ_pj = 2π c_pj x_p  (P, N, k)
    u = g.op("Concat", [g.op("Cos", [theta]), g.op("Sin", [theta])], stem="u", axis=2)
    w_t = g.const("periodic_w", np.ascontiguousarray(np.transpose(layer.w, (0, 2, 1))))
    e = g.op("MatMul", [u, w_t], stem="e")  # (P, N, d)
    e = g.op("Add", [e, g.const("periodic_b", np.asarray(layer.b)[:, None, :])], stem="e_b")
    e = g.op("Transpose", [e], stem="e_t", perm=[1, 0, 2])  # (N, P, d)
    e = g.op("Reshape", [e, g.const("shape", np.array([-1, P * d]), np.int64)], stem="e_flat")
    return g.op("Concat", [a_prev, e], stem="periodic", axis=1)


def _member_rows(g: Graph, a_prev: str, members: int, shared: bool) -> str:
    """Every member's rows (K, N, n_in): a shared input (N, n_in) broadcast to K members."""
    if not shared:
        return a_prev
    a3 = g.op("Unsqueeze", [a_prev, g.const("member_axis", np.array([0]), np.int64)],
              stem="a_1nd")
    return g.op("Expand", [a3, g.const("members_shape", np.array([members, 1, 1]), np.int64)],
                stem="a_members")


@register_converter(GroupedCategoricalEmbedding.name)
def _grouped_categorical(g: Graph, layer: GroupedCategoricalEmbedding, a_prev: str) -> str:
    """a_m = (a_prev,m[:, keep], w0_mᵀ[code_0], …) for every member m, (K, N, n_out)."""
    K = layer.members
    a3 = _member_rows(g, a_prev, K, layer.shared_input)
    parts = []
    if len(layer.keep):
        parts.append(g.op("Gather", [a3, g.const("keep", layer.keep, np.int64)],
                          stem="passed", axis=2))  # (K, N, n_keep)
    for c, (column, w) in enumerate(zip(layer.columns, layer.w, strict=True)):
        _, d, m = w.shape
        value = g.op("Gather", [a3, g.const("column", np.int64(column), np.int64)],
                     stem=f"code{c}_value", axis=2)  # (K, N)
        code = g.op("Cast", [value], stem=f"code{c}", to=7)  # 7: TensorProto.INT64
        # member m's code k is row m·m_codes + k of the stacked tables
        row = g.op("Add", [code, g.const(f"member_rows{c}", np.arange(K)[:, None] * m,
                                         np.int64)], stem=f"row{c}")
        table = g.const(f"embedding{c}", np.ascontiguousarray(
            np.transpose(w, (0, 2, 1)).reshape(K * m, d)))
        parts.append(g.op("Gather", [table, row], stem=f"vector{c}", axis=0))  # (K, N, d)
    return parts[0] if len(parts) == 1 else g.op("Concat", parts, stem="embedded", axis=2)


@register_converter(GroupedPeriodicEmbedding.name)
def _grouped_periodic(g: Graph, layer: GroupedPeriodicEmbedding, a_prev: str) -> str:
    """a_m = (a_prev,m, e_m) with e_mpr = Σ_q w_mprq [cos 2π c_m x_mp, sin …]_q + b_mpr."""
    K, P, d = layer.members, len(layer.columns), layer.d
    a3 = _member_rows(g, a_prev, K, layer.shared_input)
    x = g.op("Gather", [a3, g.const("numeric", np.array(layer.columns), np.int64)],
             stem="x", axis=2)  # (K, N, P)
    x = g.op("Transpose", [x], stem="x_t", perm=[0, 2, 1])  # (K, P, N)
    x = g.op("Unsqueeze", [x, g.const("axis", np.array([3]), np.int64)], stem="x_4d")
    two_pi_c = g.const("two_pi_c",
                       (2.0 * math.pi * np.asarray(layer.c, np.float64))[:, :, None, :])
    theta = g.op("Mul", [x, two_pi_c], stem="theta")  # θ_mpj = 2π c_mpj x_mp  (K, P, N, k)
    u = g.op("Concat", [g.op("Cos", [theta]), g.op("Sin", [theta])], stem="u", axis=3)
    w_t = g.const("periodic_w", np.ascontiguousarray(np.transpose(layer.w, (0, 1, 3, 2))))
    e = g.op("MatMul", [u, w_t], stem="e")  # (K, P, N, d)
    e = g.op("Add", [e, g.const("periodic_b", np.asarray(layer.b)[:, :, None, :])],
             stem="e_b")
    e = g.op("Transpose", [e], stem="e_t", perm=[0, 2, 1, 3])  # (K, N, P, d)
    e = g.op("Reshape", [e, g.const("shape", np.array([K, -1, P * d]), np.int64)],
             stem="e_flat")
    return g.op("Concat", [a3, e], stem="periodic", axis=2)
