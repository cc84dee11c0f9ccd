"""The embedding layers (engine/embeddings.py, engine/periodic.py): a lookup of a learned
vector per category code and periodic features of the numbers. Each equals a plain loop
written below (float64 to 1e-12, float32 to 1e-6 relative), passes central differences,
trains, and saves and loads through ``chainrule.save`` / ``chainrule.load``; bad codes and
bad arguments are one clear ValueError.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule.engine.embeddings import (
    CategoricalEmbedding,
    PeriodicEmbedding,
    embedding_dim,
    table_input_layers,
)
from chainrule.engine.layer import LAYERS
from chainrule.io.container import loads_safetensors

# -- plain loops: what the layers compute, one sample and one number at a time -------------


def lookup_reference(a_prev, columns, ws, grad_a):
    """(a, [∂C/∂w], ∂C/∂a_prev) of a CategoricalEmbedding, by loops over samples."""
    n, n_in = a_prev.shape
    codes = dict(columns)
    keep = [k for k in range(n_in) if k not in codes]
    rows, grad_w = [], [np.zeros_like(w) for w in ws]
    grad_prev = np.zeros_like(a_prev)
    for i in range(n):
        row = [a_prev[i, k] for k in keep]
        offset = len(keep)
        for c, (col, _) in enumerate(columns):
            code = int(a_prev[i, col])
            d = ws[c].shape[0]
            for j in range(d):
                row.append(ws[c][j, code])  # a_j = w_jk
                grad_w[c][j, code] += grad_a[i, offset + j]  # the scatter-add
            offset += d
        for place, k in enumerate(keep):
            grad_prev[i, k] = grad_a[i, place]
        rows.append(row)
    return np.array(rows), grad_w, grad_prev


def periodic_reference(a_prev, columns, c, w, b, grad_a):
    """(a, ∂C/∂c, ∂C/∂w, ∂C/∂b, ∂C/∂a_prev) of a PeriodicEmbedding, by loops."""
    n, n_in = a_prev.shape
    P, d, q2 = w.shape
    k = q2 // 2
    a = np.zeros((n, n_in + P * d))
    grad_c, grad_w, grad_b = np.zeros_like(c), np.zeros_like(w), np.zeros_like(b)
    grad_prev = np.array(grad_a[:, :n_in], dtype=float)
    for i in range(n):
        a[i, :n_in] = a_prev[i]
        for p, col in enumerate(columns):
            x = a_prev[i, col]
            theta = [2 * math.pi * c[p, j] * x for j in range(k)]
            u = [math.cos(t) for t in theta] + [math.sin(t) for t in theta]
            grad_u = [0.0] * (2 * k)
            for r in range(d):
                e = sum(w[p, r, q] * u[q] for q in range(2 * k)) + b[p, r]
                a[i, n_in + p * d + r] = e
                g = grad_a[i, n_in + p * d + r]
                grad_b[p, r] += g
                for q in range(2 * k):
                    grad_w[p, r, q] += g * u[q]
                    grad_u[q] += g * w[p, r, q]
            for j in range(k):
                g_theta = -grad_u[j] * math.sin(theta[j]) + grad_u[k + j] * math.cos(theta[j])
                grad_c[p, j] += g_theta * 2 * math.pi * x
                grad_prev[i, col] += g_theta * 2 * math.pi * c[p, j]
    return a, grad_c, grad_w, grad_b, grad_prev


def _codes_table(seed: int, n: int, dtype: str = "float64") -> np.ndarray:
    """Columns: a number, codes 0..4, a number, codes 0..2."""
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.normal(size=n), rng.integers(0, 5, n), rng.normal(size=n),
                            rng.integers(0, 3, n)]).astype(dtype)


def _bound(layer, dtype: str, seed: int = 0):
    """``layer`` inside a network (so its parameters are bound), followed by a Dense."""
    return cr.Network([layer, cr.Dense(layer.n_out, 2)], dtype=dtype, seed=seed)


# -- the lookup -------------------------------------------------------------------------
def test_embedding_dim_follows_the_rule() -> None:
    assert [embedding_dim(m) for m in (1, 2, 3, 10, 100, 10_000)] == [2, 2, 3, 6, 16, 16]
    with pytest.raises(ValueError, match="n_codes"):
        embedding_dim(0)


def test_lookup_registers_and_sizes() -> None:
    layer = CategoricalEmbedding(4, [(1, 5), (3, 3)], dims=[4, 2])
    assert LAYERS["CategoricalEmbedding"] is CategoricalEmbedding
    assert layer.n_out == 2 + 4 + 2
    assert layer.param_shapes() == [("w0", (4, 5)), ("w1", (2, 3))]
    assert CategoricalEmbedding(4, [(1, 100)]).dims == [16]


@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-12), ("float32", 1e-6)])
def test_lookup_equals_the_loop(dtype: str, rtol: float) -> None:
    layer = CategoricalEmbedding(4, [(1, 5), (3, 3)], dims=[4, 2])
    net = _bound(layer, dtype)
    X = _codes_table(1, 9, dtype)
    _, a, _ = layer.forward(X)
    G = np.random.default_rng(2).normal(size=a.shape).astype(dtype)
    _, grad_prev = layer.backward(X, None, a, G)
    ws = [w.astype(np.float64) for w in layer.w]
    a_ref, grad_w_ref, prev_ref = lookup_reference(X.astype(np.float64), [(1, 5), (3, 3)], ws,
                                                   G.astype(np.float64))
    assert grad_prev is not None
    assert a.dtype == np.dtype(dtype) and grad_prev.dtype == np.dtype(dtype)
    np.testing.assert_allclose(a, a_ref, rtol=rtol, atol=0)  # a lookup is exact
    for got, want in zip(layer.grad_w, grad_w_ref, strict=True):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * np.abs(want).max())
    np.testing.assert_array_equal(grad_prev, prev_ref)
    assert net.n_params == 4 * 5 + 2 * 3 + 2 * layer.n_out + 2


def test_lookup_gradient_is_zero_for_codes_nobody_used() -> None:
    layer = CategoricalEmbedding(1, [(0, 6)], dims=[3])
    _bound(layer, "float64")
    X = np.array([[1.0], [4.0], [1.0]])
    _, a, _ = layer.forward(X)
    layer.backward(X, None, a, np.ones_like(a))
    np.testing.assert_array_equal(layer.grad_w[0][:, [0, 2, 3, 5]], 0.0)
    np.testing.assert_array_equal(layer.grad_w[0][:, 1], 2.0)  # two samples chose code 1


@pytest.mark.parametrize("bad, shown", [(2.5, "2.5"), (-1.0, "-1.0"), (5.0, "5.0"),
                                        (np.nan, "nan"), (np.inf, "inf")])
def test_a_value_that_is_not_a_code_is_named(bad: float, shown: str) -> None:
    layer = CategoricalEmbedding(4, [(1, 5), (3, 3)])
    net = _bound(layer, "float64")
    X = _codes_table(3, 6)
    X[4, 1] = bad
    with pytest.raises(ValueError, match=rf"a_prev: column 1 holds the codes .*0\.\.4.*got "
                                         rf"{shown} in row 4"):
        net.forward(X)


def test_standardized_codes_are_refused_not_looked_up() -> None:
    """A scaler fitted on every column turns codes into fractions: refused, never rounded."""
    layer = CategoricalEmbedding(4, [(1, 5), (3, 3)])
    net = _bound(layer, "float64")
    X = _codes_table(4, 20)
    net.scaler = cr.Standardizer.fit(X)
    with pytest.raises(ValueError, match="feed the table encoder's codes unscaled"):
        net.predict(X)


@pytest.mark.parametrize("args, message", [
    ((0, [(0, 2)]), "n_in: expected an integer ≥ 1"),
    ((3, "ab"), "columns: expected a list"),
    ((3, [(0, 2, 1)]), r"columns\[0\]: expected \(index in a_prev, number of codes\)"),
    ((3, [(3, 2)]), r"columns\[0\]: expected an index of a_prev in 0\.\.2, got 3"),
    ((3, [(1, 2), (1, 4)]), r"columns\[1\]: column 1 is listed twice"),
    ((3, [(1, 0)]), r"columns\[0\] number of codes: expected an integer ≥ 1"),
    ((3, [(1, 4)], [2, 2]), r"dims: expected one width per code column \(1\), got 2"),
    ((3, [(1, 4)], [0]), r"dims\[0\]: expected an integer ≥ 1"),
])
def test_lookup_arguments_are_checked(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CategoricalEmbedding(*args)


def test_lookup_follows_only_its_width() -> None:
    with pytest.raises(ValueError, match=r"layers\[1\]: n_in=4 does not match the previous "
                                         r"layer's n_out=3"):
        cr.Network([cr.Dense(2, 3), CategoricalEmbedding(4, [(0, 2)]), cr.Dense(5, 1)])


# -- the periodic features ----------------------------------------------------------------
@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-12), ("float32", 1e-6)])
def test_periodic_equals_the_loop(dtype: str, rtol: float) -> None:
    layer = PeriodicEmbedding(4, [2, 0], n_frequencies=3, d=2, sigma=0.7)
    _bound(layer, dtype, seed=5)
    X = np.random.default_rng(6).normal(size=(7, 4)).astype(dtype)
    _, a, _ = layer.forward(X)
    G = np.random.default_rng(7).normal(size=a.shape).astype(dtype)
    _, grad_prev = layer.backward(X, None, a, G)
    c, w, b, G64 = (v.astype(np.float64) for v in (layer.c, layer.w, layer.b, G))
    want = periodic_reference(X.astype(np.float64), [2, 0], c, w, b, G64)
    got = (a, layer.grad_c, layer.grad_w, layer.grad_b, grad_prev)
    for name, g, r in zip(("a", "grad_c", "grad_w", "grad_b", "grad_prev"), got, want,
                          strict=True):
        assert g.dtype == np.dtype(dtype), name
        np.testing.assert_allclose(g, r, rtol=rtol, atol=rtol * np.abs(r).max(), err_msg=name)


def test_periodic_passes_central_differences_through_its_input() -> None:
    """A Dense before it: gradcheck of that Dense's w goes through ∂C/∂a_prev here."""
    layer = PeriodicEmbedding(4, [0, 3], n_frequencies=4, d=3, sigma=0.5)
    net = cr.Network([cr.Dense(3, 4, "tanh"), layer, cr.Dense(layer.n_out, 2)],
                     dtype="float64", seed=8)
    rng = np.random.default_rng(8)
    X, Y = rng.normal(size=(10, 3)), rng.normal(size=(10, 2))
    report = cr.gradcheck(net, X, Y)
    assert {c.name for c in report.checks if c.layer == 1} >= {"c", "w", "b"}
    assert report.max_rel_error < 1e-7, str(report)


@pytest.mark.parametrize("kwargs, message", [
    ({"columns": []}, "columns: expected at least one numeric column"),
    ({"columns": [4]}, r"columns\[0\]: expected an index of a_prev in 0\.\.3, got 4"),
    ({"columns": [0], "n_frequencies": 0}, "n_frequencies: expected an integer ≥ 1"),
    ({"columns": [0], "d": 1.5}, "d: expected an integer ≥ 1"),
    ({"columns": [0], "sigma": -1.0}, "sigma: expected a finite number ≥ 0"),
])
def test_periodic_arguments_are_checked(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PeriodicEmbedding(4, **kwargs)


# -- both, in a network ----------------------------------------------------------------
def _table_net(dtype: str = "float64", seed: int = 0) -> cr.Network:
    front = table_input_layers(4, [(1, 5), (3, 3)], [0, 2], n_frequencies=3, d_periodic=2,
                               sigma=0.5)
    return cr.Network([*front, cr.Dense(front[-1].n_out, 6, "tanh"), cr.Dense(6, 2)],
                      dtype=dtype, seed=seed)


def test_table_input_layers_moves_the_numeric_columns() -> None:
    lookup, periodic = table_input_layers(5, [(1, 7), (3, 3)], [0, 2, 4])
    assert isinstance(lookup, CategoricalEmbedding) and isinstance(periodic, PeriodicEmbedding)
    assert periodic.n_in == lookup.n_out == 3 + embedding_dim(7) + embedding_dim(3)
    assert periodic.columns == [0, 1, 2]  # columns 0, 2, 4 pass first, in their order
    only = table_input_layers(5, [], [4], d_periodic=2)
    assert len(only) == 1 and isinstance(only[0], PeriodicEmbedding)
    assert only[0].columns == [4] and only[0].n_out == 7
    assert table_input_layers(5) == []
    assert len(table_input_layers(5, [(1, 7)], [0], periodic=False)) == 1
    with pytest.raises(ValueError, match=r"numeric_columns: a column cannot be a code column "
                                         r"too, got \[1\]"):
        table_input_layers(5, [(1, 7)], [1])
    with pytest.raises(ValueError, match=r"numeric_columns\[0\]: expected an index of a_prev "
                                         r"in 0\.\.4, got 9"):
        table_input_layers(5, [(1, 7)], [9])
    with pytest.raises(ValueError, match=r"numeric_columns\[1\]: expected an index of a_prev "
                                         r"in 0\.\.4, got 5"):
        table_input_layers(5, [], [0, 5])


def test_the_network_passes_central_differences() -> None:
    net = _table_net(seed=1)
    X = _codes_table(9, 12)
    Y = np.random.default_rng(9).normal(size=(12, 2))
    report = cr.gradcheck(net, X, Y)
    names = [(c.layer, c.name) for c in report.checks]
    assert names[:5] == [(0, "w0"), (0, "w1"), (0, "c"), (0, "w"), (0, "b")]
    assert report.max_rel_error < 1e-6, str(report)
    assert max(c.max_rel_error for c in report.checks[:5]) < 1e-7, str(report)


def test_it_learns_what_a_code_means() -> None:
    """The target is a value per code, unrelated to the code's size: the lookup learns it,
    the same network reading the code as a number cannot."""
    rng = np.random.default_rng(10)
    n, m = 600, 40
    value = rng.normal(size=m)
    codes = rng.integers(0, m, n)
    X = np.column_stack([codes, rng.normal(size=n)]).astype(np.float64)
    Y = value[codes][:, None]
    lookup = CategoricalEmbedding(2, [(0, m)], dims=[4])
    embedded = cr.Network([lookup, cr.Dense(lookup.n_out, 16, "relu"), cr.Dense(16, 1)],
                          dtype="float64", seed=0)
    plain = cr.MLP([2, 16, 1], dtype="float64", seed=0)
    plain.scaler = cr.Standardizer.fit(X)
    for net in (embedded, plain):
        net.fit(X, Y, epochs=60, batch_size=32, optimizer=cr.Adam(lr=0.01))
    assert embedded.loss(X, Y) < 0.05 * float(np.var(Y))
    assert embedded.loss(X, Y) < 0.2 * plain.loss(X, Y)


def test_it_saves_and_loads(tmp_path) -> None:
    net = _table_net(dtype="float32", seed=2)
    X = _codes_table(11, 40, "float32")
    Y = np.random.default_rng(11).normal(size=(40, 2))
    net.fit(X, Y, epochs=2, batch_size=10, optimizer="adam")
    path = cr.save(net, tmp_path / "embedded.safetensors")
    back = cr.load(path)
    assert [type(layer) for layer in back.layers[:2]] == [CategoricalEmbedding,
                                                          PeriodicEmbedding]
    assert back.get_config() == net.get_config()
    np.testing.assert_array_equal(back.params, net.params)
    np.testing.assert_array_equal(back.predict(X), net.predict(X))
    arrays, _ = loads_safetensors(path.read_bytes())
    lookup, periodic = net.layers[0], net.layers[1]
    assert isinstance(lookup, CategoricalEmbedding) and isinstance(periodic, PeriodicEmbedding)
    np.testing.assert_array_equal(arrays["layers[0].w1"], lookup.w[1])
    np.testing.assert_array_equal(arrays["layers[1].c"], periodic.c)
    back.fit(X, Y, epochs=1, batch_size=10)  # resumes with the saved optimizer state
    twin = net.copy()
    np.testing.assert_array_equal(twin.predict(X), net.predict(X))


@pytest.mark.parametrize("make", [lambda: CategoricalEmbedding(3, [(0, 4)]),
                                  lambda: PeriodicEmbedding(3, [1])])
def test_another_backend_is_refused_by_name(make) -> None:
    pytest.importorskip("array_api_strict", reason="the backend refused here")
    layer = make()
    with pytest.raises(ValueError, match=rf"backend: a {layer.name} runs on the numpy backend "
                                         r"only, got array_api_strict arrays"):
        cr.Network([layer, cr.Dense(layer.n_out, 1)], backend="array_api_strict")
