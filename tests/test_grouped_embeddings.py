"""An ensemble's own embeddings (engine/grouped_lookup.py, engine/grouped_periodic.py):
every member of an Ensemble looks up its own vectors and computes its own periodic
features. Each grouped layer equals its K single layers (float64 to 1e-12, float32 to 1e-6
relative), passes central differences (shared and per-member input), the ensemble's
gradient is its members' gradients stacked, a ``--cv`` member never learns from its
fold's rows through the lookup (a planted leak that a shared table lets through), and the
ensemble saves, loads and exports to ONNX (onnxruntime parity).
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.engine.embeddings import CategoricalEmbedding, table_input_layers
from chainrule.engine.ensemble import Ensemble
from chainrule.engine.grouped_lookup import GroupedCategoricalEmbedding
from chainrule.engine.grouped_periodic import GroupedPeriodicEmbedding
from chainrule.engine.layer import LAYERS
from chainrule.engine.periodic import PeriodicEmbedding
from chainrule.runs.crossval import fold_ids, member_weights

K = 3


def _table(seed: int, n: int, dtype: str = "float64") -> np.ndarray:
    """Columns: a number, codes 0..4, a number, codes 0..2 (every code present)."""
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.normal(size=n), rng.integers(0, 5, n), rng.normal(size=n),
                         rng.integers(0, 3, n)])
    X[:5, 1], X[:3, 3] = np.arange(5), np.arange(3)
    return X.astype(dtype)


def _ensemble(dtype: str = "float64", seed: int = 0, *, periodic: bool = True,
              members: int = K) -> Ensemble:
    """A table network of ``members``: lookup, periodic features, two Dense layers."""
    front = table_input_layers(4, [(1, 5), (3, 3)], [0, 2], periodic=periodic, sigma=1.0)
    net = cr.Network([*front, cr.Dense(front[-1].n_out, 6, "tanh"),
                      cr.Dense(6, 3, "softmax")], loss="cross_entropy", dtype=dtype,
                     seed=seed, ensemble=members)
    assert isinstance(net, Ensemble)
    return net


def _grads_by_layer(net: cr.Network) -> list[dict[str, np.ndarray]]:
    return [{name: np.array(g) for name, g in grads.items()} for _, grads in net._views]


# -- the layers ---------------------------------------------------------------------------
def test_an_ensemble_gives_every_member_its_own_embeddings() -> None:
    net = _ensemble()
    lookup, periodic = net.layers[0], net.layers[1]
    assert isinstance(lookup, GroupedCategoricalEmbedding) and lookup.shared_input
    assert isinstance(periodic, GroupedPeriodicEmbedding) and not periodic.shared_input
    assert not net.layers[2].shared_input  # the first Dense reads every member's rows
    assert LAYERS["GroupedCategoricalEmbedding"] is GroupedCategoricalEmbedding
    assert lookup.param_shapes() == [("w0", (K, 4, 5)), ("w1", (K, 3, 3))]
    assert [s for _, s in periodic.param_shapes()] == [(K, 2, 8), (K, 2, 3, 16), (K, 2, 3)]
    assert not np.allclose(lookup.w[0][0], lookup.w[0][1])  # members start apart
    assert "members=3" in repr(lookup) and "members=3" in repr(periodic)


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("kind", ["lookup", "periodic"])
def test_grouped_layer_equals_its_single_layers(kind: str, shared: bool) -> None:
    """Forward, every parameter's gradient and ∂C/∂a_prev of the grouped layer against K
    single layers holding the members' parameters (float64, 1e-12); a shared input's
    ∂C/∂a_prev is the members' sum."""
    if kind == "lookup":
        layer = GroupedCategoricalEmbedding(4, [(1, 5), (3, 3)], dims=[4, 2], members=K)
    else:
        layer = GroupedPeriodicEmbedding(4, [0, 2], n_frequencies=3, d=2, sigma=1.0,
                                         members=K)
    cr.Network([layer, cr.Dense(layer.n_out, 2)], dtype="float64", seed=1)  # binds
    layer.shared_input = shared
    n = 7
    X = _table(2, n)
    a_prev = X if shared else np.concatenate([_table(3 + m, n) for m in range(K)])
    z, a, _ = layer.forward(a_prev)
    assert a.shape == (K * n, layer.n_out)
    G = np.random.default_rng(4).normal(size=a.shape)
    if z is not None:  # the periodic features forward kept give backward's result again
        layer.backward(a_prev, None, a, G)
        again = [np.array(g) for g in (layer.grad_c, layer.grad_w, layer.grad_b)]
    _, grad_prev = layer.backward(a_prev, z, a, G)
    if z is not None:
        for g, g_again in zip((layer.grad_c, layer.grad_w, layer.grad_b), again, strict=True):
            np.testing.assert_array_equal(g, g_again)
    assert grad_prev is not None and grad_prev.shape == a_prev.shape
    total = np.zeros_like(X)
    for m in range(K):
        single = layer.member(m)
        cr.Network([single, cr.Dense(single.n_out, 2)], dtype="float64", seed=1)
        rows = a_prev if shared else a_prev[m * n:(m + 1) * n]
        _, a_m, _ = single.forward(rows)
        np.testing.assert_allclose(a[m * n:(m + 1) * n], a_m, rtol=1e-12, atol=1e-15)
        _, g_m = single.backward(rows, None, a_m, G[m * n:(m + 1) * n])
        assert g_m is not None
        if shared:
            total += g_m
        else:
            np.testing.assert_allclose(grad_prev[m * n:(m + 1) * n], g_m, rtol=1e-12,
                                       atol=1e-15)
        if kind == "lookup":
            for gw, gw_m in zip(layer.grad_w, single.grad_w, strict=True):
                np.testing.assert_allclose(gw[m], gw_m, rtol=1e-12, atol=1e-15)
        else:
            for name in ("grad_c", "grad_w", "grad_b"):
                np.testing.assert_allclose(getattr(layer, name)[m], getattr(single, name),
                                           rtol=1e-12, atol=1e-15)
    if shared:
        np.testing.assert_allclose(grad_prev, total, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("periodic", [True, False])
def test_ensemble_gradient_equals_finite_differences(periodic: bool) -> None:
    """Every parameter of the ensemble (the members' tables, frequencies, maps and Dense
    weights) against central differences of its cost (float64, ~1e-7 relative)."""
    net = _ensemble(periodic=periodic, seed=5)
    X = _table(6, 9)
    y = np.random.default_rng(6).integers(0, 3, 9)
    a0, Y = net.inputs(X), net.targets(y, 9)
    grad = np.array(net.backward(net.forward(a0), Y))
    h = 1e-6
    numeric = np.empty_like(grad)
    for j in range(net.params.size):
        v = net.params[j]
        net.params[j] = v + h
        plus = net.cost(net.forward(a0), Y)
        net.params[j] = v - h
        minus = net.cost(net.forward(a0), Y)
        net.params[j] = v
        numeric[j] = (plus - minus) / (2 * h)
    looked_up = grad != 0  # codes no row picked have no gradient, numerically nor here
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)
    assert looked_up.sum() > 0.8 * grad.size


@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-12), ("float32", 1e-6)])
def test_ensemble_equals_its_members_as_networks(dtype: str, rtol: float) -> None:
    """Each member's output is its own network's (``member(m)``), and the ensemble's
    gradient is the members' own gradients divided by K, stacked on the member axis."""
    net = _ensemble(dtype, seed=7)
    X = _table(8, 12, dtype)
    y = np.random.default_rng(8).integers(0, 3, 12)
    a0, Y = net.inputs(X), net.targets(y, 12)
    trace = net.forward(a0)
    net.backward(trace, Y)
    grads = _grads_by_layer(net)
    members = [net.member(m) for m in range(K)]
    for m, member in enumerate(members):
        assert isinstance(member.layers[0], CategoricalEmbedding)
        assert isinstance(member.layers[1], PeriodicEmbedding)
        t_m = member.forward(a0)
        np.testing.assert_allclose(trace.members_a_L[m], t_m.a_L, rtol=rtol, atol=rtol)
        member.backward(t_m, Y)
        for layer_grads, member_grads in zip(grads, _grads_by_layer(member), strict=True):
            for name, g in layer_grads.items():
                want = member_grads[name] / K
                np.testing.assert_allclose(g[m], want, rtol=rtol,
                                           atol=rtol * max(1e-12, float(np.abs(want).max())))
    back = Ensemble.from_members(members)  # stacking the members gives the ensemble again
    np.testing.assert_array_equal(back.params, net.params)


# -- cross-validation: a member never learns from its fold ---------------------------------
class _SharedLookup(CategoricalEmbedding):
    """A lookup an ensemble leaves shared (its type is not one it groups): the leak the
    grouped lookup closes."""


def _out_of_fold_accuracy(lookup: CategoricalEmbedding) -> tuple[float, bool]:
    """Train 3 fold members on a table whose only signal is a planted leak: code column 0
    holds 1 + 2·fold + y, a value seen in one fold only, so a member can predict its fold's
    rows from it only through what other members learned on those very rows. The tables
    start at 0, so a vector nobody trained is 0 and says nothing. Returns the out-of-fold
    accuracy and whether every member's vectors of its own fold's codes are still 0."""
    rng = np.random.default_rng(0)
    n, k = 240, 3
    y = rng.integers(0, 2, n)
    folds = fold_ids(n, k, seed=0)
    X = np.column_stack([1 + 2 * folds + y, rng.normal(size=n)]).astype(np.float64)
    net = cr.Network([lookup, cr.Dense(lookup.n_out, 8, "tanh"), cr.Dense(8, 2, "softmax")],
                     loss="cross_entropy", dtype="float64", seed=0, ensemble=k)
    table = net.layer_params(0)["w0"]
    table[...] = 0.0
    net.fit(X, y, epochs=30, batch_size=32, optimizer=cr.Adam(lr=0.03),
            member_weights=member_weights(folds, k))
    P = net.predict_members(X)  # type: ignore[attr-defined]
    own = P[folds, np.arange(n)]  # each row under the member that never saw it
    untouched = table.ndim == 3 and all(
        not table[m][:, [1 + 2 * m, 2 + 2 * m]].any() for m in range(k))
    return float(np.mean(own.argmax(axis=1) == y)), untouched


def test_a_cv_member_never_learns_its_folds_planted_leak_through_the_lookup() -> None:
    shared, shared_untouched = _out_of_fold_accuracy(_SharedLookup(2, [(0, 7)], dims=[4]))
    own, own_untouched = _out_of_fold_accuracy(CategoricalEmbedding(2, [(0, 7)], dims=[4]))
    assert shared > 0.9 and not shared_untouched  # the test can fail: a shared table leaks
    assert own_untouched  # member m's vectors of fold m's codes were never trained
    assert own < 0.65  # so its fold's rows look alike to it: chance (0.5) give or take


# -- files and edges ----------------------------------------------------------------------
def test_an_ensemble_with_embeddings_round_trips_through_one_model_file(tmp_path) -> None:
    net = _ensemble(seed=9)
    X = _table(10, 30)
    net.fit(X, np.random.default_rng(10).integers(0, 3, 30), epochs=2, batch_size=8,
            optimizer=cr.Adam(lr=0.01))
    back = cr.load(cr.save(net, tmp_path / "e.safetensors"))
    assert isinstance(back, Ensemble) and back.members == K
    assert [type(layer) for layer in back.layers] == [type(layer) for layer in net.layers]
    assert back.layers[0].shared_input and not back.layers[1].shared_input
    np.testing.assert_array_equal(back.params, net.params)
    np.testing.assert_array_equal(back.predict(X), net.predict(X))
    twin = net.copy()
    np.testing.assert_array_equal(twin.predict(X), net.predict(X))


def test_embedding_layers_with_weights_cannot_start_members() -> None:
    lookup = CategoricalEmbedding(2, [(0, 3)])
    cr.Network([lookup, cr.Dense(lookup.n_out, 1)], seed=0)  # binds its tables
    with pytest.raises(ValueError, match=r"layers\[0\]: a CategoricalEmbedding layer with "
                                         "weights"):
        cr.Network([lookup, cr.Dense(lookup.n_out, 1)], ensemble=2)
    with pytest.raises(ValueError, match=r"layers\[0\]: a layer of 2 members in an "
                                         "ensemble of 3"):
        cr.Network([GroupedPeriodicEmbedding(2, [0], members=2), cr.Dense(5, 1)], ensemble=3)


def test_explain_takes_one_member() -> None:
    net = _ensemble(seed=11)
    x = _table(1, 5)[:1]
    with pytest.raises(ValueError, match=r"explain one member \(--member m\)"):
        net.layers[0].explain_lines(x, np.zeros((1, net.layers[0].n_out)))
    lines = net.member(1).layers[0].explain_lines(x, np.ones((1, net.layers[0].n_out)))
    assert lines[0].startswith("CategoricalEmbedding: a_prev column 1 holds code")


@pytest.mark.parametrize("dtype, rtol", [("float32", 1e-6), ("float64", 1e-12)])
@pytest.mark.parametrize("periodic", [True, False])
def test_onnx_equals_predict(dtype: str, rtol: float, periodic: bool) -> None:
    convert = pytest.importorskip("chainrule.onnx.convert", reason="needs the onnx extra")
    pytest.importorskip("onnxruntime", reason="the parity check runs the model in onnxruntime")
    net = _ensemble(dtype, seed=12, periodic=periodic)
    X = _table(13, 48, dtype)
    net.fit(X, np.random.default_rng(13).integers(0, 3, 48), epochs=3, batch_size=16,
            optimizer=cr.Adam(lr=0.01))
    model = convert.to_onnx(net)
    ops = {node.op_type for node in model.graph.node}
    assert {"Gather", "Expand"} <= ops and (("Cos" in ops) is periodic)
    got, want = convert.run(model, X), net.predict(X)
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * np.abs(want).max())


def test_a_hand_built_network_with_grouped_embeddings_is_an_ensemble() -> None:
    """Network.__new__ looks for any grouped layer, not only GroupedDense: a plain Network
    would have reshaped n rows into 3 members (a NumPy error, or wrong rows)."""
    from chainrule.engine.layers import Dense

    lookup = GroupedCategoricalEmbedding(3, [(0, 5)], members=3)
    net = cr.Network([lookup, Dense(lookup.n_out, 2)])
    assert isinstance(net, Ensemble) and net.members == 3
    X = np.array([[1.0, 0.5, 0.2], [2.0, 0.1, 0.3]])
    assert net.predict(X).shape == (2, 2)
