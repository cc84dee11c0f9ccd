"""An ensemble's periodic embedding: K members' own frequencies and linear maps, stacked.

Member m of an :class:`~chainrule.engine.ensemble.Ensemble` computes the features of
:class:`~chainrule.engine.periodic.PeriodicEmbedding` with its own c_m, w_m and b_m, so a
``--cv`` member's first layer was trained on its own training rows alone. The arrays gain
a leading member axis and every product of the single layer becomes one batched product
over (member, column).

Rows follow the ensemble's layout (:mod:`chainrule.engine.ensemble`): member m's rows of
a batch of n are m·n … m·n + n − 1 of a (K·n, width) array; the first grouped layer reads
the shared a^(0), (n, n_in).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..io.schema import Int, List, Num, Obj, Str
from .grouped_lookup import member_rows, shared_grad
from .periodic import SIGMA, PeriodicEmbedding
from .validation import check_int

__all__ = ["GroupedPeriodicEmbedding"]

Array = NDArray[np.floating]
_MAX = 2**31 - 1
_TWO_PI = 2.0 * math.pi


class GroupedPeriodicEmbedding(PeriodicEmbedding):
    """K members' :class:`~chainrule.engine.periodic.PeriodicEmbedding`, each with its own
    parameters.

    Parameters
    ----------
    n_in, columns, n_frequencies, d, sigma
        As for :class:`PeriodicEmbedding`; the same for every member.
    members : int
        K.

    Attributes
    ----------
    c : ndarray of shape (members, P, k)
    w : ndarray of shape (members, P, d, 2k)
    b : ndarray of shape (members, P, d)
        ``c[m]``, ``w[m]``, ``b[m]`` are member m's; grad_c, grad_w, grad_b alike.
    shared_input : bool
        Whether a_prev is the shared a^(0), (n, n_in), rather than every member's rows,
        (K·n, n_in). Set by :class:`~chainrule.engine.ensemble.Ensemble`.

    Notes
    -----
    For member m, column p, frequency j and output r, the single layer's equations with
    the member's parameters and rows:

    .. math:: \\theta_{mpj} = 2\\pi c_{mpj} x_{mp}, \\qquad
              u_{mp} = (\\cos\\theta_{mp1}, …, \\sin\\theta_{mpk}), \\qquad
              e_{mpr} = \\sum_q w_{mprq} u_{mpq} + b_{mpr},

    and backward, from G_m = ∂C/∂e_m,
    ∂C/∂w_mprq = Σ_i G_impr u_impq, ∂C/∂b_mpr = Σ_i G_impr,
    ∂C/∂θ_mpj = −(Σ_r G_mpr w_mprj) sin θ_mpj + (Σ_r G_mpr w_mpr,k+j) cos θ_mpj,
    ∂C/∂c_mpj = Σ_i ∂C/∂θ_impj 2π x_imp and ∂C/∂x_mp = ∂C/∂a_mp + Σ_j ∂C/∂θ_mpj 2π c_mpj
    (summed over the members for a shared input, which every member read).

    Unlike the single layer, forward returns the features u = [cos θ, sin θ] as its z
    (shape (K, P, n, 2k); no Dense reads it), so backward, which the network hands the
    trace's z, takes K times the single layer's trigonometry once per step, not twice.
    """

    name = "GroupedPeriodicEmbedding"
    config_schema = Obj(required={
        "type": Str(max_len=100), "n_in": Int(1, _MAX),
        "columns": List(Int(0, _MAX), 1, 100_000), "n_frequencies": Int(1, 10_000),
        "d": Int(1, 10_000), "sigma": Num(0.0), "members": Int(1, 10_000)})

    def __init__(self, n_in: int, columns: Sequence[int], *, n_frequencies: int = 8,
                 d: int = 3, sigma: float = SIGMA, members: int) -> None:
        super().__init__(n_in, columns, n_frequencies=n_frequencies, d=d, sigma=sigma)
        self.members = check_int("members", members)
        self.shared_input = False

    def param_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        return [(name, (self.members, *shape)) for name, shape in super().param_shapes()]

    # -- forward and backward -------------------------------------------------
    def _member_x(self, a_prev: Array) -> Array:
        """x of shape (K, P, n), or (1, P, n) for a shared input (its member axis
        broadcasts)."""
        if self.shared_input:
            return a_prev[:, self.columns].T[None]
        return a_prev[:, self.columns].reshape(self.members, -1, len(self.columns)
                                               ).transpose(0, 2, 1)

    def _features(self, x: Array) -> Array:
        """u = [cos θ, sin θ] with θ = 2π c x, shape (K, P, n, 2k), contiguous: the cosine
        half u[..., :k], the sine half u[..., k:]."""
        theta = x[:, :, :, None] * (x.dtype.type(_TWO_PI) * self.c)[:, :, None, :]
        # each on a contiguous θ, then joined: NumPy's vectorized cos and sin are several
        # times slower writing into the strided halves of u
        return np.concatenate([np.cos(theta), np.sin(theta)], axis=-1)

    def forward(self, a_prev: Array, *, training: bool = False,
                rng: np.random.Generator | None = None,
                out: None = None) -> tuple[Array, Array, None]:
        """a_prev (n, n_in) shared, or (K·n, n_in) per member → (u, a, None): a of shape
        (K·n, n_out), each member's a_prev then its d outputs per column; u the periodic
        features (:meth:`_features`), which backward reads instead of computing the
        cosines and sines again."""
        u = self._features(self._member_x(a_prev))
        K, P, n, _ = u.shape
        # e_mpr = Σ_q w_mprq u_mpq + b_mpr, one batched product over (member, column)
        e = np.matmul(u, self.w.transpose(0, 1, 3, 2))  # (K, P, n, d)
        e += self.b[:, :, None, :]
        a = np.empty((K, n, self.n_out), dtype=a_prev.dtype)
        a[:, :, :self.n_in] = member_rows(a_prev, K, self.shared_input)
        a[:, :, self.n_in:].reshape(K, n, P, self.d)[...] = e.transpose(0, 2, 1, 3)
        return u, a.reshape(K * n, self.n_out), None

    def backward(self, a_prev: Array, z: Array | None, a: Array, grad_a: Array, *,
                 mask: Array | None = None, need_grad_prev: bool = True,
                 out: None = None) -> tuple[None, Array | None]:
        """∂C/∂a (K·n, n_out) → (None, ∂C/∂a_prev); fills grad_c, grad_w, grad_b of every
        member. ``z`` is the u forward returned (None: computed again)."""
        x = self._member_x(a_prev)
        u = self._features(x) if z is None else z  # [cos θ, sin θ], (K, P, n, 2k)
        K, P, n, q2 = u.shape
        k, d, w = q2 // 2, self.d, self.w
        G3 = grad_a.reshape(K, n, self.n_out)
        G = np.ascontiguousarray(G3[:, :, self.n_in:].reshape(K, n, P, d).transpose(0, 2, 1, 3))
        # ∂C/∂w_mprq = Σ_i G_impr u_impq                                  (K, P, d, 2k)
        np.matmul(G.transpose(0, 1, 3, 2), u, out=self.grad_w)
        # ∂C/∂b_mpr = Σ_i G_impr
        np.add.reduce(G3[:, :, self.n_in:], axis=1, out=self.grad_b.reshape(K, P * d))
        # ∂C/∂u_mpq = Σ_r G_mpr w_mprq; cos′ = −sin and sin′ = cos give ∂C/∂θ (K, P, n, k)
        grad_u = np.matmul(G, w)
        grad_theta = grad_u[..., k:] * u[..., :k]
        grad_theta -= grad_u[..., :k] * u[..., k:]
        two_pi = a_prev.dtype.type(_TWO_PI)
        # ∂C/∂c_mpj = Σ_i ∂C/∂θ_impj 2π x_imp
        np.matmul(grad_theta.transpose(0, 1, 3, 2), (two_pi * x)[..., None],
                  out=self.grad_c[..., None])
        if not need_grad_prev:
            return None, None
        g3 = np.array(G3[:, :, :self.n_in])  # the x passed on: ∂C/∂a_prev = ∂C/∂a
        # + Σ_j ∂C/∂θ_mpj 2π c_mpj, through the periodic features
        grad_x = np.matmul(grad_theta, (two_pi * self.c)[..., None])[..., 0]  # (K, P, n)
        g3[:, :, self.columns] += grad_x.transpose(0, 2, 1)
        return None, shared_grad(g3, self.shared_input)

    def member(self, m: int) -> PeriodicEmbedding:
        """Member m's layer as a plain PeriodicEmbedding with a copy of its parameters."""
        layer = PeriodicEmbedding(self.n_in, self.columns, n_frequencies=self.n_frequencies,
                                  d=self.d, sigma=self.sigma)
        layer._params = {name: np.array(v[m]) for name, v in self._params.items()}  # kept
        return layer

    def explain_lines(self, a_prev: Array, grad_a: Array) -> list[str]:
        """Refused: explain reads one member (``explain --member m``)."""
        raise ValueError("explain: an ensemble's periodic embedding holds every member's "
                         "parameters; explain one member (--member m)")

    def get_config(self) -> dict[str, object]:
        return {**super().get_config(), "type": self.name, "members": self.members}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> GroupedPeriodicEmbedding:
        return cls(int(config["n_in"]), config["columns"],
                   n_frequencies=int(config["n_frequencies"]), d=int(config["d"]),
                   sigma=float(config["sigma"]), members=int(config["members"]))

    def __repr__(self) -> str:
        return (f"GroupedPeriodicEmbedding({self.n_in}, columns={self.columns}, "
                f"n_frequencies={self.n_frequencies}, d={self.d}, sigma={self.sigma}, "
                f"members={self.members})")
