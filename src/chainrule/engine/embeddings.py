"""Embedding layers for tables: a learned vector per category code
(:class:`CategoricalEmbedding`), periodic features of the numbers
(:class:`~chainrule.engine.periodic.PeriodicEmbedding`), and :func:`table_input_layers`,
which puts them in front of the Dense layers of a network trained on a table.

A category column with many values read as one-hot makes a^(0) as wide as its number of
values; read as one standardized number it makes a tree-friendly code that an MLP cannot
split. An embedding reads it as what it is: the table encoder writes the column as an
integer code k (0 = unknown, missing or rare, 1..m−1 = a category seen in training,
``TableEncoder.code_columns()``), and the first layer looks up the code's learned vector.

A lookup is the notes' Dense layer without bias on the one-hot code e_k: with ``w`` of
shape (d, m),

.. math:: a_j = \\sum_{k'} w_{jk'} \\, [k' = k] = w_{jk},

so its gradient is the Dense layer's ∂C/∂w_jk = Σ_i δ_ij a_ik^(l−1) with a one-hot
a^(l−1): each sample's δ lands in the one column of ``w`` its code picked — a scatter-add.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from ..io.schema import Int, List, Obj, Str
from .layer import Layer
from .periodic import SIGMA, PeriodicEmbedding, check_columns
from .validation import check_int

__all__ = ["CategoricalEmbedding", "PeriodicEmbedding", "embedding_dim",
           "table_input_layers"]

Array = NDArray[np.floating]

#: The most dimensions :func:`embedding_dim` gives a column, whatever its cardinality.
MAX_EMBEDDING_DIM = 16
#: Standard deviation of the vectors' first values. Measured (5-fold nlschools, 2-fold
#: baseball, 20 epochs of Adam): N(0, 1) starts, on the scale of a standardized feature,
#: overfit the codes (R² 0.336 and 0.948); N(0, 0.05²) gave 0.415 and 0.967
#: (0.01: 0.411, 0.15: 0.407, 0.3: 0.397 on nlschools). Small starts are also what
#: fastai (0.01) and Keras (±0.05) use.
INIT_STD = 0.05
_MAX = 2**31 - 1


def embedding_dim(n_codes: int) -> int:
    """The default width d of a column's vector: min(16, round(1.6 m^0.56)) for m codes
    (fastai's rule of thumb, capped where tables rarely gain more): 2 codes → 2,
    10 → 6, 100 → 16."""
    n_codes = check_int("n_codes", n_codes)
    return max(1, min(MAX_EMBEDDING_DIM, round(1.6 * n_codes**0.56)))


class CategoricalEmbedding(Layer):
    """Integer-code columns of a^(0) replaced by learned vectors; the other columns pass.

    Parameters
    ----------
    n_in : int
        Width of a^(l−1) (the table encoder's n_out when this is the first layer).
    columns : sequence of (int, int)
        (index in a^(l−1), number of codes m) of every code column, as
        ``TableEncoder.code_columns()`` gives them: the column holds whole numbers
        0..m−1, 0 for a value never seen in training.
    dims : sequence of int, optional
        Width d of each column's vector; default :func:`embedding_dim` of its m.

    Attributes
    ----------
    n_out : int
        n_in − (number of code columns) + Σ d.
    w : list of ndarray of shape (d, m)
        One table per code column (``w[j][:, k]`` is code k's vector), views of the
        network's ``params`` named ``w0``, ``w1``, … in the order of ``columns``.
    grad_w : list of ndarray of shape (d, m)
        ∂C/∂w of each, views of ``grads``.

    Notes
    -----
    Output, per sample: first the columns that are not codes, in their order (a_prev
    unchanged), then for each code column c, in the order of ``columns``, the d_c values

    .. math:: a_{j} = w^{(c)}_{j k}, \\qquad k = a^{(l-1)}_{c},

    code k's vector. Backward, with G = ∂C/∂a (the batch mean's derivative):

    .. math:: \\frac{\\partial C}{\\partial w^{(c)}_{jk}} = \\sum_{i:\\, k_i = k} G_{ij},

    the scatter-add of G into the columns the samples looked up (a bincount over the
    codes); ∂C/∂a^(l−1) is G for a passed column and 0 for a code, whose value is a
    label, not a quantity. Codes are checked on every pass: a value that is not a whole
    number in 0..m−1 (a column scaled by a standardizer, or a wrong index) is a
    ValueError naming the column and the row, never a wrong lookup. NumPy backend only.
    """

    name = "CategoricalEmbedding"
    config_schema = Obj(required={
        "type": Str(max_len=100), "n_in": Int(1, _MAX),
        "columns": List(List(Int(0, _MAX), 2, 2), 1, 100_000),
        "dims": List(Int(1, _MAX), 1, 100_000)})

    def __init__(self, n_in: int, columns: Sequence[Sequence[int]],
                 dims: Sequence[int] | None = None) -> None:
        self.n_in = check_int("n_in", n_in)
        pairs = [_pair(c, i) for i, c in enumerate(_sequence("columns", columns))]
        check_columns([index for index, _ in pairs], self.n_in)
        self.columns = [index for index, _ in pairs]
        self.n_codes = [m for _, m in pairs]
        if dims is None:
            self.dims = [embedding_dim(m) for m in self.n_codes]
        else:
            dims = _sequence("dims", dims)
            if len(dims) != len(pairs):
                raise ValueError(f"dims: expected one width per code column ({len(pairs)}), "
                                 f"got {len(dims)}")
            self.dims = [check_int(f"dims[{i}]", d) for i, d in enumerate(dims)]
        code = set(self.columns)
        self.keep = np.array([k for k in range(self.n_in) if k not in code], dtype=np.intp)
        self.n_out = len(self.keep) + sum(self.dims)
        self.w: list[Array] = []
        self.grad_w: list[Array] = []

    def connect(self, n_prev: int | None) -> None:
        if n_prev is not None and n_prev != self.n_in:
            raise ValueError(f"n_in={self.n_in} does not match the previous layer's "
                             f"n_out={n_prev}")

    # -- parameters ---------------------------------------------------------
    def param_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        return [(f"w{c}", (d, m)) for c, (d, m) in enumerate(zip(self.dims, self.n_codes,
                                                                  strict=True))]

    def build(self, rng: np.random.Generator, dtype: DTypeLike) -> dict[str, Array]:
        """N(0, INIT_STD²) entries: small, so the codes start as a gentle input that
        training grows where they carry signal (:data:`INIT_STD`)."""
        if self.w:  # already part of a network: keep its values
            return {f"w{c}": np.array(w, dtype=dtype) for c, w in enumerate(self.w)}
        return {name: (INIT_STD * rng.standard_normal(shape)).astype(dtype)
                for name, shape in self.param_shapes()}

    def bind(self, params: dict[str, Array], grads: dict[str, Array]) -> None:
        other = [v for v in params.values() if type(v) is not np.ndarray]
        if other:
            raise ValueError(f"backend: a {self.name} runs on the numpy backend only, got "
                             f"{type(other[0]).__module__.split('.')[0]} arrays")
        self.w = [params[f"w{c}"] for c in range(len(self.columns))]
        self.grad_w = [grads[f"w{c}"] for c in range(len(self.columns))]

    # -- forward and backward -------------------------------------------------
    def codes(self, a_prev: Array) -> NDArray[np.intp]:
        """The code columns of a_prev (n_samples, n_in) as integers (n_samples, n_codes),
        each checked to be a whole number in 0..m−1.

        Raises
        ------
        ValueError
            Naming the first column and row that holds anything else.
        """
        values = a_prev[:, self.columns]
        top = np.array(self.n_codes, dtype=values.dtype)
        ok = (values >= 0) & (values < top) & (np.floor(values) == values)  # NaN: not ok
        if not ok.all():
            row, j = (int(i) for i in np.argwhere(~ok)[0])
            raise ValueError(
                f"a_prev: column {self.columns[j]} holds the codes of a category column "
                f"(whole numbers 0..{self.n_codes[j] - 1}, 0 = unknown), got "
                f"{float(values[row, j])!r} in row {row}; feed the table encoder's codes unscaled "
                "(its standardizer leaves them as they are)")
        return values.astype(np.intp)

    def forward(self, a_prev: Array, *, training: bool = False,
                rng: np.random.Generator | None = None,
                out: None = None) -> tuple[None, Array, None]:
        """a_prev (n_samples, n_in) → (None, a, None), a of shape (n_samples, n_out): the
        passed columns, then each code column's vector."""
        k = self.codes(a_prev)
        a = np.empty((a_prev.shape[0], self.n_out), dtype=a_prev.dtype)
        n_keep = len(self.keep)
        np.take(a_prev, self.keep, axis=1, out=a[:, :n_keep])
        offset = n_keep
        for c, w in enumerate(self.w):
            d = w.shape[0]
            np.take(w.T, k[:, c], axis=0, out=a[:, offset:offset + d])  # a_j = w_jk
            offset += d
        return None, a, None

    def backward(self, a_prev: Array, z: Array | None, a: Array, grad_a: Array, *,
                 mask: Array | None = None, need_grad_prev: bool = True,
                 out: None = None) -> tuple[None, Array | None]:
        """∂C/∂a (n_samples, n_out) → (None, ∂C/∂a_prev); fills every grad_w by a
        scatter-add of ∂C/∂a into the looked-up columns."""
        k = self.codes(a_prev)
        n_keep = len(self.keep)
        offset = n_keep
        for c, grad_w in enumerate(self.grad_w):
            d, m = grad_w.shape
            g = grad_a[:, offset:offset + d]
            # ∂C/∂w_jk = Σ_{i: k_i = k} ∂C/∂a_ij: one bincount over (code, j) pairs
            flat = (k[:, c, None] * d + np.arange(d)).ravel()
            grad_w[...] = np.bincount(flat, weights=g.ravel(), minlength=m * d).reshape(m, d).T
            offset += d
        if not need_grad_prev:
            return None, None
        grad_prev = np.zeros_like(a_prev)  # a code is a label: ∂C/∂(code) = 0
        grad_prev[:, self.keep] = grad_a[:, :n_keep]  # a passed column: ∂C/∂a_prev = ∂C/∂a
        return None, grad_prev

    def explain_lines(self, a_prev: Array, grad_a: Array) -> list[str]:
        """The chain rule with numbers for one sample (``chainrule explain``): a_prev of
        shape (1, n_in) and G = ∂C_0/∂a of shape (1, n_out), float64. Each component j of
        the vector looked up is a_j = w_jk, so ∂C_0/∂w_jk = ∂C_0/∂a_j · 1, and every other
        code's column gets 0."""
        k = self.codes(a_prev)[0]
        lines = []
        offset = len(self.keep)
        for c, (column, d) in enumerate(zip(self.columns, self.dims, strict=True)):
            code = int(k[c])
            lines.append(f"{self.name}: a_prev column {column} holds code {code}, so "
                         f"a_{offset}..a_{offset + d - 1} = w{c}[:, {code}]")
            for j in range(d):
                g = float(grad_a[0, offset + j])
                lines.append(f"  ∂C_0/∂w{c}_{j},{code} = ∂C_0/∂a_{offset + j} · "
                             f"∂a_{offset + j}/∂w{c}_{j},{code} = {_num(g)} · 1 = {g:.6g}")
            lines.append(f"  ∂C_0/∂w{c}_j,k = 0 for every other code k (not looked up)")
            offset += d
        return lines

    def get_config(self) -> dict[str, object]:
        return {"type": self.name, "n_in": self.n_in,
                "columns": [[c, m] for c, m in zip(self.columns, self.n_codes, strict=True)],
                "dims": list(self.dims)}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> CategoricalEmbedding:
        return cls(int(config["n_in"]), config["columns"], config.get("dims"))

    def __repr__(self) -> str:
        cols = ", ".join(f"{c}:{m}→{d}" for c, m, d in zip(self.columns, self.n_codes,
                                                           self.dims, strict=True))
        return f"CategoricalEmbedding({self.n_in}, [{cols}])"


def _num(x: float) -> str:
    """A factor as explain prints it: 6 significant digits, in parentheses when negative."""
    return f"({x:.6g})" if x < 0 else f"{x:.6g}"


def _sequence(name: str, value: object) -> list[Any]:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (Sequence, np.ndarray)):
        raise ValueError(f"{name}: expected a list, got {type(value).__name__}")
    return list(value)


def _pair(value: object, i: int) -> tuple[int, int]:
    """(index, number of codes) from ``columns[i]``."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)) \
            or len(value) != 2:
        raise ValueError(f"columns[{i}]: expected (index in a_prev, number of codes), got "
                         f"{value!r}")
    return (check_int(f"columns[{i}] index", value[0], low=0),
            check_int(f"columns[{i}] number of codes", value[1]))


def table_input_layers(
    n_in: int,
    code_columns: Sequence[Sequence[int]] = (),
    numeric_columns: Sequence[int] = (),
    *,
    dims: Sequence[int] | None = None,
    periodic: bool = True,
    n_frequencies: int = 8,
    d_periodic: int = 3,
    sigma: float = SIGMA,
) -> list[Layer]:
    """The layers to put before the first Dense layer of a network on a table.

    Parameters
    ----------
    n_in : int
        Width of a^(0): the table encoder's n_out.
    code_columns : sequence of (int, int)
        ``TableEncoder.code_columns()``: (index in a^(0), number of codes); each becomes a
        learned vector (:class:`CategoricalEmbedding`, widths ``dims``).
    numeric_columns : sequence of int
        ``TableEncoder.numeric_columns()``: indices in a^(0) of the number features; with
        ``periodic``, each gains ``d_periodic`` learned periodic features
        (:class:`PeriodicEmbedding` with ``n_frequencies`` and ``sigma``).

    Returns
    -------
    list of Layer
        Empty when there is nothing to embed. The first Dense layer takes
        ``layers[-1].n_out`` inputs (``n_in`` if the list is empty)::

            front = table_input_layers(enc.n_out, enc.code_columns(), enc.numeric_columns())
            width = front[-1].n_out if front else enc.n_out
            net = Network(front + MLP([width, 128, n_out], ...).layers, loss=...)
    """
    n_in = check_int("n_in", n_in)
    layers: list[Layer] = []
    numeric = [check_int(f"numeric_columns[{i}]", c, low=0)
               for i, c in enumerate(_sequence("numeric_columns", numeric_columns))]
    check_columns(numeric, n_in, name="numeric_columns")
    codes = _sequence("code_columns", code_columns)
    width = n_in
    if codes:
        lookup = CategoricalEmbedding(n_in, codes, dims)
        if set(numeric) & set(lookup.columns):
            raise ValueError("numeric_columns: a column cannot be a code column too, got "
                             f"{sorted(set(numeric) & set(lookup.columns))}")
        # after the lookup, a passed column sits at its place among the passed columns
        place = {int(old): new for new, old in enumerate(lookup.keep)}
        numeric = [place[c] for c in numeric]
        layers.append(lookup)
        width = lookup.n_out
    if periodic and numeric:
        layers.append(PeriodicEmbedding(width, numeric, n_frequencies=n_frequencies,
                                        d=d_periodic, sigma=sigma))
    return layers
