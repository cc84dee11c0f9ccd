"""An ensemble's categorical lookup: K members' own vectors per category code, stacked.

In an :class:`~chainrule.engine.ensemble.Ensemble` every layer with parameters belongs to
the members, the lookup included. Were the table shared, a ``--cv`` member would read
vectors that the other members trained on its own fold's rows — a leak through the
lookup. :class:`GroupedCategoricalEmbedding` holds member m's table for column c as
``w{c}[m]`` of shape (d, m_codes) and looks each member's codes up in its own table.

Rows follow the ensemble's layout (:mod:`chainrule.engine.ensemble`): a batch of n samples
is (K·n, width) with member m in rows m·n … m·n + n − 1; the first grouped layer reads the
shared a^(0), (n, n_in), and gives every member its rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from ..io.schema import Int, List, Obj, Str
from .embeddings import INIT_STD, CategoricalEmbedding
from .validation import check_int

__all__ = ["GroupedCategoricalEmbedding", "member_rows"]

Array = NDArray[np.floating]
_MAX = 2**31 - 1


def member_rows(a_prev: NDArray[Any], members: int, shared_input: bool) -> NDArray[Any]:
    """a_prev as every member's rows, shape (K, n, n_in): a read-only broadcast view of the
    shared (n, n_in) input, or the (K·n, n_in) rows reshaped."""
    if shared_input:
        return np.broadcast_to(a_prev[None], (members, *a_prev.shape))
    return a_prev.reshape(members, -1, a_prev.shape[1])


def shared_grad(g3: Array, shared_input: bool) -> Array:
    """∂C/∂a_prev from the members' (K, n, n_in): summed over the members for a shared
    input (every member read it), else their (K·n, n_in) rows."""
    if shared_input:
        return g3.sum(axis=0)
    return g3.reshape(-1, g3.shape[2])


class GroupedCategoricalEmbedding(CategoricalEmbedding):
    """K members' :class:`~chainrule.engine.embeddings.CategoricalEmbedding`, each with
    its own tables.

    Parameters
    ----------
    n_in, columns, dims
        As for :class:`CategoricalEmbedding`; the same for every member.
    members : int
        K.

    Attributes
    ----------
    w, grad_w : list of ndarray of shape (members, d, m)
        Per code column, ``w[c][m]`` is member m's table (``w[c][m][:, k]`` code k's
        vector).
    shared_input : bool
        Whether a_prev is the ensemble's shared a^(0), (n, n_in), rather than every
        member's rows, (K·n, n_in). Set by :class:`~chainrule.engine.ensemble.Ensemble`.

    Notes
    -----
    Member m's output is its own lookup, a_{m,j} = w^(c)_{m,jk} for the code k of its row,
    so its gradient is its own scatter-add of G_m = ∂C/∂a_m:

    .. math:: \\frac{\\partial C}{\\partial w^{(c)}_{m,jk}} = \\sum_{i:\\, k_i = k} G_{m,ij},

    one bincount over (member, code, j) triples. A member's cost carries 1/K (the
    ensemble's mean), so no member's rows reach another member's table.
    """

    name = "GroupedCategoricalEmbedding"
    config_schema = Obj(required={
        "type": Str(max_len=100), "n_in": Int(1, _MAX),
        "columns": List(List(Int(0, _MAX), 2, 2), 1, 100_000),
        "dims": List(Int(1, _MAX), 1, 100_000), "members": Int(1, 10_000)})

    def __init__(self, n_in: int, columns: Sequence[Sequence[int]],
                 dims: Sequence[int] | None = None, *, members: int) -> None:
        super().__init__(n_in, columns, dims)
        self.members = check_int("members", members)
        self.shared_input = False

    def param_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        return [(name, (self.members, *shape)) for name, shape in super().param_shapes()]

    def build(self, rng: np.random.Generator, dtype: DTypeLike) -> dict[str, Array]:
        """N(0, INIT_STD²) entries, every member's drawn on their own."""
        if self.w:  # already part of a network: keep its values
            return {f"w{c}": np.array(w, dtype=dtype) for c, w in enumerate(self.w)}
        return {name: (INIT_STD * rng.standard_normal(shape)).astype(dtype)
                for name, shape in self.param_shapes()}

    # -- forward and backward -------------------------------------------------
    def _member_codes(self, a_prev: Array) -> NDArray[np.intp]:
        """Every member's codes, (K, n, n_codes) (a broadcast view for a shared input),
        checked as :meth:`CategoricalEmbedding.codes` checks them."""
        k = self.codes(a_prev)
        return member_rows(k, self.members, self.shared_input)

    def forward(self, a_prev: Array, *, training: bool = False,
                rng: np.random.Generator | None = None,
                out: None = None) -> tuple[None, Array, None]:
        """a_prev (n, n_in) shared, or (K·n, n_in) per member → (None, a, None), a of shape
        (K·n, n_out): each member's passed columns, then its own vectors."""
        K, k = self.members, self._member_codes(a_prev)
        n = k.shape[1]
        a = np.empty((K, n, self.n_out), dtype=a_prev.dtype)
        n_keep = len(self.keep)
        a[:, :, :n_keep] = member_rows(a_prev, K, self.shared_input)[:, :, self.keep]
        member = np.arange(K)[:, None]
        offset = n_keep
        for c, w in enumerate(self.w):  # w (K, d, m)
            d = w.shape[1]
            a[:, :, offset:offset + d] = w.transpose(0, 2, 1)[member, k[:, :, c]]  # a_mj = w_mjk
            offset += d
        return None, a.reshape(K * n, self.n_out), None

    def backward(self, a_prev: Array, z: Array | None, a: Array, grad_a: Array, *,
                 mask: Array | None = None, need_grad_prev: bool = True,
                 out: None = None) -> tuple[None, Array | None]:
        """∂C/∂a (K·n, n_out) → (None, ∂C/∂a_prev); fills every member's grad_w by a
        scatter-add into the columns its rows looked up."""
        K, k = self.members, self._member_codes(a_prev)
        n = k.shape[1]
        G = grad_a.reshape(K, n, self.n_out)
        n_keep = len(self.keep)
        offset = n_keep
        for c, grad_w in enumerate(self.grad_w):
            _, d, m = grad_w.shape
            # ∂C/∂w_mjk = Σ_{i: k_mi = k} ∂C/∂a_mij: one bincount over (member, code, j)
            row = np.arange(K)[:, None] * m + k[:, :, c]  # (K, n): row of the (K·m, d) table
            flat = (row[:, :, None] * d + np.arange(d)).ravel()
            g = G[:, :, offset:offset + d].ravel()
            grad_w[...] = np.bincount(flat, weights=g, minlength=K * m * d
                                      ).reshape(K, m, d).transpose(0, 2, 1)
            offset += d
        if not need_grad_prev:
            return None, None
        g3 = np.zeros((K, n, self.n_in), dtype=grad_a.dtype)  # a code is a label: 0
        g3[:, :, self.keep] = G[:, :, :n_keep]  # a passed column: ∂C/∂a_prev = ∂C/∂a
        return None, shared_grad(g3, self.shared_input)

    def member(self, m: int) -> CategoricalEmbedding:
        """Member m's layer as a plain CategoricalEmbedding with a copy of its tables."""
        layer = CategoricalEmbedding(self.n_in, list(zip(self.columns, self.n_codes,
                                                         strict=True)), self.dims)
        layer.w = [np.array(w[m]) for w in self.w]  # build keeps them
        return layer

    def explain_lines(self, a_prev: Array, grad_a: Array) -> list[str]:
        """Refused: explain reads one member (``explain --member m``)."""
        raise ValueError("explain: an ensemble's lookup holds every member's tables; "
                         "explain one member (--member m)")

    def get_config(self) -> dict[str, object]:
        return {**super().get_config(), "type": self.name, "members": self.members}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> GroupedCategoricalEmbedding:
        return cls(int(config["n_in"]), config["columns"], config.get("dims"),
                   members=int(config["members"]))

    def __repr__(self) -> str:
        cols = ", ".join(f"{c}:{m}→{d}" for c, m, d in zip(self.columns, self.n_codes,
                                                           self.dims, strict=True))
        return f"GroupedCategoricalEmbedding({self.n_in}, [{cols}], members={self.members})"
