"""chainrule.sklearn: scikit-learn's semantics, exact gradients, the ecosystem, conversion."""

from __future__ import annotations

import copy
import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_iris, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score  # noqa: E402
from sklearn.neural_network import MLPClassifier as SkMLPClassifier  # noqa: E402
from sklearn.neural_network import MLPRegressor as SkMLPRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import chainrule  # noqa: E402
from chainrule import MLP, EarlyStopping, LambdaCallback, RMSprop, Standardizer  # noqa: E402
from chainrule.sklearn import MLPClassifier, MLPRegressor, from_sklearn, to_sklearn  # noqa: E402
from chainrule.sklearn._objective import loss_and_gradient  # noqa: E402
from chainrule.training.schedules import StepDecay  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    """These matrices are tiny: BLAS threads only contend with the other test processes."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def multi_reg():
    X, Y = make_regression(n_samples=60, n_features=4, n_targets=3, noise=0.1, random_state=0)
    return X, Y / Y.std(axis=0)


def central_differences(f, x, h=1e-6):
    g = np.zeros_like(x)
    for i in range(x.size):
        old = x[i]
        x[i] = old + h
        up = f(x)
        x[i] = old - h
        down = f(x)
        x[i] = old
        g[i] = (up - down) / (2 * h)
    return g


# -- import hygiene ------------------------------------------------------------------------
def test_import_chainrule_imports_no_optional_dependency():
    code = (
        "import sys, chainrule; "
        "bad = [m for m in ('sklearn', 'scipy', 'onnx', 'onnxruntime', 'dask', 'distributed') "
        "if m in sys.modules]; print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# -- the objective and its gradient -----------------------------------------------------------
@pytest.mark.parametrize(
    "case", ["regression_3_outputs", "softmax", "multilabel", "poisson", "huber_tanh_output"]
)
def test_gradient_equals_finite_differences_of_reported_loss(case, rng):
    n, n_in, n_out = 12, 3, 3
    X = rng.normal(size=(n, n_in))
    kwargs: dict = {}
    if case == "regression_3_outputs":
        net = MLP([n_in, 5, n_out], hidden="tanh", loss="mse", dtype="float64", seed=0)
        Y = rng.normal(size=(n, n_out))
        kwargs = {"cost_scale": 0.5}
    elif case == "softmax":
        net = MLP([n_in, 5, n_out], hidden="relu", output="softmax", loss="cross_entropy",
                  dtype="float64", seed=0)
        Y = np.eye(n_out)[rng.integers(0, n_out, n)]
    elif case == "multilabel":
        net = MLP([n_in, 5, n_out], hidden="gelu", output="sigmoid",
                  loss="binary_cross_entropy", dtype="float64", seed=0)
        Y = (rng.random((n, n_out)) > 0.5).astype(float)
    elif case == "poisson":
        net = MLP([n_in, 5, n_out], hidden="softplus", loss="mse", dtype="float64", seed=0)
        Y = rng.poisson(2.0, size=(n, n_out)).astype(float)
        kwargs = {"poisson": True}
    else:
        net = MLP([n_in, 5, n_out], hidden="elu", output="tanh", loss="huber", dtype="float64",
                  seed=0)
        Y = rng.normal(size=(n, n_out))
    for layer in net.dense_layers:  # non-zero biases keep ReLU off its kink
        layer.b = rng.normal(size=layer.n_out) * 0.3
    sw = rng.uniform(0.2, 3.0, n)

    def cost(x):
        net.params[...] = x
        return loss_and_gradient(net, X, Y, sw, 0.3, training=False, **kwargs)

    x0 = net.params.copy()
    cost(x0)
    analytic = net.grads.copy()
    numeric = central_differences(cost, x0.copy())
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


def test_multi_output_gradient_is_exact_where_sklearn_is_n_outputs_times_too_large(multi_reg):
    """scikit-learn issue #8349: same loss value, but its gradient is n_outputs × the true one."""
    X, Y = multi_reg
    sk = SkMLPRegressor(hidden_layer_sizes=(4,), solver="lbfgs", alpha=0.0, max_iter=1,
                        random_state=0).fit(X, Y)
    net = from_sklearn(sk)
    ours_loss = loss_and_gradient(net, X, Y, None, 0.0, cost_scale=0.5, training=False)
    ours = np.concatenate([g.T.ravel() for g in net.gradients()[0::2]]
                          + [g.ravel() for g in net.gradients()[1::2]])
    layer_units = [X.shape[1], 4, Y.shape[1]]
    coef_grads = [np.empty((a, b)) for a, b in zip(layer_units[:-1], layer_units[1:], strict=True)]
    intercept_grads = [np.empty(b) for b in layer_units[1:]]
    packed = np.concatenate([c.ravel() for c in sk.coefs_] + [b for b in sk.intercepts_])
    sk_loss, sk_grad = sk._loss_grad_lbfgs(
        packed, X, Y, None, [X, None, None], [None, None], coef_grads, intercept_grads
    )
    assert ours_loss == pytest.approx(sk_loss, rel=1e-12)
    np.testing.assert_allclose(sk_grad, Y.shape[1] * ours, rtol=1e-10, atol=1e-14)


def test_integer_sample_weights_equal_repeated_rows(rng):
    X, Y = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    net = MLP([3, 4, 2], hidden="tanh", loss="mse", dtype="float64", seed=1)
    w = np.array([2, 1, 0, 3, 1, 1])
    c1 = loss_and_gradient(net, X, Y, w.astype(float), 0.1, cost_scale=0.5, training=False)
    g1 = net.grads.copy()
    rows = np.repeat(np.arange(6), w)
    c2 = loss_and_gradient(net, X[rows], Y[rows], None, 0.1, cost_scale=0.5, training=False)
    assert c1 == pytest.approx(c2, rel=1e-12)
    np.testing.assert_allclose(g1, net.grads, rtol=1e-10, atol=1e-14)


# -- scikit-learn semantics -------------------------------------------------------------------
def test_lbfgs_reproduces_sklearn_from_the_same_random_state(iris):
    X, y = iris
    params = dict(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=60, random_state=3)
    sk = SkMLPClassifier(**params).fit(X, y)
    ours = MLPClassifier(**params).fit(X, y)
    assert ours.n_iter_ == sk.n_iter_
    assert ours.loss_ == pytest.approx(sk.loss_, rel=1e-6)
    np.testing.assert_allclose(ours.predict_proba(X), sk.predict_proba(X), atol=1e-6)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_full_batch_loss_curve_matches_sklearn(iris, solver):
    X, y = iris
    params = dict(hidden_layer_sizes=(6,), solver=solver, batch_size=len(y), shuffle=False,
                  learning_rate_init=0.05, max_iter=25, random_state=0, tol=0.0)
    sk = SkMLPClassifier(**params).fit(X, y)
    ours = MLPClassifier(**params).fit(X, y)
    # SGD + Nesterov is algebraically identical; Adam differs only in where ε enters.
    rtol = 1e-10 if solver == "sgd" else 1e-4
    np.testing.assert_allclose(ours.loss_curve_, sk.loss_curve_, rtol=rtol)
    assert ours.t_ == sk.t_ == 25 * len(y)


def test_fitted_attributes_follow_sklearn(iris):
    X, y = iris
    clf = MLPClassifier(hidden_layer_sizes=(7, 5), learning_rate_init=0.05, max_iter=30,
                        random_state=0).fit(X, y)
    assert [c.shape for c in clf.coefs_] == [(4, 7), (7, 5), (5, 3)]
    assert [b.shape for b in clf.intercepts_] == [(7,), (5,), (3,)]
    assert clf.n_layers_ == 4 and clf.n_outputs_ == 3 and clf.out_activation_ == "softmax"
    assert clf.n_features_in_ == 4 and list(clf.classes_) == [0, 1, 2]
    assert clf.n_iter_ == 30 and len(clf.loss_curve_) == 30 and clf.t_ == 30 * len(y)
    assert clf.best_loss_ == min(clf.loss_curve_) and clf.loss_ == clf.loss_curve_[-1]
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None
    # coefs_ are views of the network's w, transposed: (n_in, n_out) vs (n_out, n_in).
    assert np.shares_memory(clf.coefs_[0], clf.network_.params)
    np.testing.assert_array_equal(clf.coefs_[0], clf.network_.dense_layers[0].w.T)
    p = clf.predict_proba(X)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(p))
    assert clf.score(X, y) > 0.8
    binary = MLPClassifier(max_iter=20, random_state=0).fit(X, y == 1)
    assert binary.out_activation_ == "logistic" and binary.n_outputs_ == 1
    assert binary.predict_proba(X).shape == (150, 2)
    reg = MLPRegressor(max_iter=20, random_state=0).fit(X, y.astype(float))
    assert reg.out_activation_ == "identity" and reg.predict(X).shape == (150,)


def test_multilabel_and_multioutput(iris, multi_reg):
    X, y = iris
    Y = np.column_stack([y == 0, y == 2, X[:, 0] > 0]).astype(int)
    clf = MLPClassifier(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=200,
                        random_state=0).fit(X, Y)
    assert clf.out_activation_ == "logistic" and clf.predict(X).shape == Y.shape
    assert clf.predict_proba(X).shape == Y.shape and clf.score(X, Y) > 0.85
    Xr, Yr = multi_reg
    reg = MLPRegressor(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=300,
                       random_state=0).fit(Xr, Yr)
    assert reg.predict(Xr).shape == Yr.shape and reg.score(Xr, Yr) > 0.95


def test_early_stopping_keeps_the_best_validation_weights(iris):
    X, y = iris
    clf = MLPClassifier(hidden_layer_sizes=(5,), early_stopping=True, n_iter_no_change=3,
                        learning_rate_init=0.01, max_iter=300, random_state=0).fit(X, y)
    assert clf.best_loss_ is None
    assert len(clf.validation_scores_) == clf.n_iter_ < 300
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    np.testing.assert_array_equal(clf.network_.params, clf._best_params)


def test_adaptive_learning_rate_divides_by_five(iris):
    X, y = iris
    seen: list[float] = []
    clf = MLPClassifier(hidden_layer_sizes=(3,), solver="sgd", learning_rate="adaptive",
                        learning_rate_init=0.1, tol=1e9, n_iter_no_change=1, max_iter=7,
                        random_state=0,
                        callbacks=[LambdaCallback(on_epoch_end=lambda t, logs: seen.append(
                            logs["lr"]))])
    clf.fit(X, y)
    # tol is huge, so no epoch after the first "improves"; once the count exceeds
    # n_iter_no_change (epoch 3, then every second epoch) the rate drops 5×.
    np.testing.assert_allclose(seen, [0.1, 0.1, 0.1, 0.02, 0.02, 0.004, 0.004])
    sk = SkMLPClassifier(**{k: v for k, v in clf.get_params().items() if k not in (
        "callbacks", "dropout", "dtype", "class_weight", "ensemble")}).fit(X, y)
    assert clf._optimizer.lr == pytest.approx(sk._optimizer.learning_rate) == 0.0008


def test_partial_fit(iris):
    X, y = iris
    clf = MLPClassifier(hidden_layer_sizes=(10,), learning_rate_init=0.01, random_state=0)
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(X, y)
    losses = []
    for _ in range(15):
        clf.partial_fit(X, y, classes=[0, 1, 2])
        losses.append(clf.loss_)
    assert losses[-1] < losses[0] and clf.t_ == 15 * len(y) and clf.n_iter_ == 1
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(X, y, classes=[0, 1, 2, 3])
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")
    reg = MLPRegressor(random_state=0).partial_fit(X, y.astype(float))
    assert reg.n_iter_ == 1


def test_warm_start_continues_from_the_previous_weights(iris):
    X, y = iris
    clf = MLPClassifier(hidden_layer_sizes=(6,), max_iter=5, warm_start=True, random_state=0)
    clf.fit(X, y)
    before = clf.network_.params.copy()
    net_id = id(clf.network_)
    clf.fit(X, y)
    assert id(clf.network_) == net_id and clf.t_ == 10 * len(y)
    assert not np.array_equal(before, clf.network_.params)


def test_chainrule_extras(iris):
    X, y = iris
    stopper = EarlyStopping(monitor="loss", patience=2, min_delta=10.0)
    clf = MLPClassifier(hidden_layer_sizes=(8, 6), activation=["leaky_relu", "gelu"],
                        solver=RMSprop(0.01), learning_rate=StepDecay(0.01, 5), dropout=0.1,
                        dtype="float32", callbacks=[stopper], max_iter=50, random_state=0)
    clf.fit(X, y)
    acts = [d.activation.name for d in clf.network_.dense_layers]
    assert acts == ["leaky_relu", "gelu", "softmax"]
    assert clf.network_.dtype == np.float32 and clf.predict_proba(X).dtype == np.float32
    assert sum(type(layer).__name__ == "Dropout" for layer in clf.network_.layers) == 2
    assert stopper.stopped_epoch == 3 and clf.n_iter_ == 3  # min_delta=10 never improves
    assert clf.get_params()["solver"].t == 0  # the optimizer parameter itself is untouched
    reg = MLPRegressor(loss="huber", out_activation="tanh", solver="adamw", max_iter=20,
                       random_state=0).fit(X, np.tanh(X[:, 0]))
    assert reg.network_.loss_fn.name == "huber" and reg.out_activation_ == "tanh"
    pois = MLPRegressor(loss="poisson", solver="lbfgs", max_iter=200, random_state=0)
    counts = np.random.default_rng(0).poisson(np.exp(0.5 * X[:, 0] + 1))
    pois.fit(X, counts)
    assert pois.out_activation_ == "exp" and np.all(pois.predict(X) > 0)


def test_callbacks_see_lbfgs_iterations_and_can_stop_them(iris):
    X, y = iris
    seen: list[float] = []
    stopper = EarlyStopping(monitor="loss", patience=2, min_delta=1e9)
    clf = MLPClassifier(
        (5,), solver="lbfgs", random_state=0,
        callbacks=[LambdaCallback(on_epoch_end=lambda t, logs: seen.append(logs["loss"])),
                   stopper],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # a requested stop is no failure
        clf.fit(X, y)
    assert clf.n_iter_ == len(seen) == 3 and stopper.stopped_epoch == 3
    # EarlyStopping restored iteration 1's weights; loss_ is theirs, not iteration 3's.
    assert seen[0] > seen[-1] and clf.loss_ == pytest.approx(seen[0])


@pytest.mark.parametrize(
    "param, value, match",
    [
        ("hidden_layer_sizes", (10, 0), "hidden_layer_sizes"),
        ("activation", "swish", "activation"),
        ("activation", ["relu", "tanh"], "activation: expected one value or 1"),
        ("solver", "newton", "solver"),
        ("learning_rate", "warmup", "learning_rate"),
        ("alpha", -1.0, "alpha"),
        ("momentum", 1.5, "momentum"),
        ("batch_size", 0, "batch_size"),
        ("dropout", 1.0, "dropout"),
        ("dtype", "float16", "dtype"),
        ("callbacks", [print], "callbacks"),
    ],
)
def test_bad_parameters_are_named(iris, param, value, match):
    X, y = iris
    with pytest.raises(ValueError, match=match):
        MLPClassifier(**{param: value}, max_iter=2).fit(X, y)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow, inf − inf: the point
def test_divergence_is_sklearns_value_error(iris):
    X, y = iris
    reg = MLPRegressor(solver="sgd", learning_rate_init=1e6, max_iter=5, random_state=0)
    with pytest.raises(ValueError, match="non-finite"):
        reg.fit(X, y * 1e3)


def test_lbfgs_refuses_dropout(iris):
    with pytest.raises(ValueError, match="dropout"):
        MLPClassifier(solver="lbfgs", dropout=0.2).fit(*iris)


def test_deepcopy_rebuilds_parameter_views(iris):
    X, y = iris
    clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0).fit(X, y)
    twin = copy.deepcopy(clf)
    np.testing.assert_array_equal(twin.predict_proba(X), clf.predict_proba(X))
    assert np.shares_memory(twin.network_.dense_layers[0].w, twin.network_.params)
    twin.partial_fit(X, y)  # training the copy moves the copy's layers, not the original
    assert not np.array_equal(twin.predict_proba(X), clf.predict_proba(X))


# -- the ecosystem ------------------------------------------------------------------------------
def test_pipeline_gridsearch_cross_val_clone(iris):
    X, y = iris
    pipe = make_pipeline(StandardScaler(), MLPClassifier((8,), solver="lbfgs", max_iter=50,
                                                         random_state=0))
    scores = cross_val_score(pipe, X, y, cv=KFold(3, shuffle=True, random_state=0))
    assert scores.mean() > 0.85
    grid = GridSearchCV(
        MLPClassifier(solver="lbfgs", max_iter=50, random_state=0),
        {"hidden_layer_sizes": [(3,), (10,)], "alpha": [1e-4, 1e-1]},
        cv=3,
    ).fit(X, y)
    assert set(grid.best_params_) == {"hidden_layer_sizes", "alpha"}
    assert grid.best_score_ > 0.85
    fresh = clone(grid.best_estimator_)
    assert not hasattr(fresh, "network_")
    assert fresh.get_params() == grid.best_estimator_.get_params()


@pytest.mark.slow
def test_cross_validated_scores_match_sklearn_within_noise():
    """Same hyper-parameters, 5-fold CV (KFold shuffle, random_state=0), seeds 0..2."""
    X, y = load_breast_cancer(return_X_y=True)
    cv = KFold(5, shuffle=True, random_state=0)
    ours, theirs = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for seed in range(3):
            params = dict(hidden_layer_sizes=(32,), max_iter=100, random_state=seed)
            ours.append(cross_val_score(make_pipeline(StandardScaler(), MLPClassifier(**params)),
                                        X, y, cv=cv).mean())
            theirs.append(cross_val_score(
                make_pipeline(StandardScaler(), SkMLPClassifier(**params)), X, y, cv=cv).mean())
    assert np.mean(ours) >= np.mean(theirs) - 0.01


# -- conversion -----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype, tol", [("float64", 1e-6), ("float32", 1e-5)])
@pytest.mark.parametrize("kind", ["multiclass", "binary", "multilabel", "regression", "multireg"])
def test_from_sklearn_to_sklearn_round_trip(iris, kind, dtype, tol):
    X, y = iris
    X = X.astype(dtype)
    params = dict(hidden_layer_sizes=(6, 4), activation="tanh", max_iter=30, random_state=0)
    if kind == "multiclass":
        sk = SkMLPClassifier(**params).fit(X, np.array(["a", "b", "c"])[y])
    elif kind == "binary":
        sk = SkMLPClassifier(**params).fit(X, y == 2)
    elif kind == "multilabel":
        sk = SkMLPClassifier(**params).fit(X, np.column_stack([y == 0, y == 1, y == 2]))
    elif kind == "regression":
        sk = SkMLPRegressor(**params).fit(X, X[:, 0] * 2)
    else:
        sk = SkMLPRegressor(**params).fit(X, X[:, :2])
    net = from_sklearn(sk)
    assert net.dtype == np.dtype(dtype)
    back = to_sklearn(net)
    if kind == "regression" or kind == "multireg":
        ref = sk.predict(X).reshape(len(X), -1)
        np.testing.assert_allclose(net.predict(X), ref, atol=tol, rtol=0)
        np.testing.assert_allclose(back.predict(X), sk.predict(X), atol=tol, rtol=0)
        return
    ref = sk.predict_proba(X)
    ours = net.predict(X)
    if kind == "binary":
        ours = np.column_stack([1 - ours[:, 0], ours[:, 0]])
    assert np.max(np.abs(ours - ref)) < tol
    assert np.max(np.abs(back.predict_proba(X) - ref)) < tol
    np.testing.assert_array_equal(back.predict(X), sk.predict(X))
    if kind == "multiclass":
        assert net.classes == ["a", "b", "c"]


def test_to_sklearn_of_a_chainrule_network_with_scaler_and_two_unit_softmax(rng):
    X = rng.normal(5.0, 3.0, size=(40, 3))
    net = MLP([3, 5, 2], hidden="relu", output="softmax", loss="cross_entropy",
              dtype="float64", seed=0)
    net.scaler = Standardizer.fit(X)
    net.classes = ["no", "yes"]
    pipe = to_sklearn(net)
    assert pipe.steps[-1][1].out_activation_ == "logistic"
    proba = pipe.predict_proba(X)
    assert np.max(np.abs(proba - net.predict(X))) < 1e-12
    assert set(pipe.predict(X)) <= {"no", "yes"}


def test_conversion_errors(iris):
    with pytest.raises(ValueError, match="fitted"):
        from_sklearn(SkMLPClassifier())
    net = MLP([4, 3, 3], hidden="gelu", output="softmax", loss="cross_entropy")
    with pytest.raises(ValueError, match="gelu"):
        to_sklearn(net)
    with pytest.raises(ValueError, match="output activation"):
        to_sklearn(MLP([4, 3, 1], hidden="relu", output="softplus"))
    assert chainrule.Network  # the core stays importable alongside


def test_pickling_keeps_fused_and_any_bit_generator() -> None:
    """network_from_state dropped fused and forced a PCG64 (found by the round-trip tests)."""
    import pickle

    rng = np.random.default_rng(0)
    X, y = rng.random((30, 3)), rng.integers(0, 2, 30)
    est = MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    est.network_.fused = False
    est.network_.rng = np.random.Generator(np.random.MT19937(1))
    back = pickle.loads(pickle.dumps(est))
    assert back.network_.fused is False
    assert type(back.network_.rng.bit_generator).__name__ == "MT19937"
    np.testing.assert_array_equal(back.network_.rng.random(5), est.network_.rng.random(5))
    np.testing.assert_array_equal(back.predict_proba(X), est.predict_proba(X))


# -- scikit-learn's behaviours its own test suite relies on (tests/test_sklearn_suite.py) --
def test_invscaling_rate_after_warm_start_matches_sklearn():
    """t_ carries over warm starts, so invscaling's rate is η₀ / (t_ + 1)^power_t."""
    X, y = [[3, 2], [1, 6], [5, 6], [-2, -4]], [1, 1, 1, 0]
    for rule in ("invscaling", "constant"):
        kw = dict(solver="sgd", hidden_layer_sizes=4, learning_rate=rule, max_iter=1,
                  power_t=0.25, warm_start=True, random_state=0)
        ours, theirs = MLPClassifier(**kw), SkMLPClassifier(**kw)
        for est in (ours, theirs):
            est.fit(X, y)
            est.fit(X, y)
        assert ours.t_ == theirs.t_ == 8
        assert ours._optimizer.lr == pytest.approx(theirs._optimizer.learning_rate)
        if rule == "invscaling":
            assert ours._optimizer.lr == pytest.approx(0.001 / 9**0.25)


@pytest.fixture
def no_densifying(monkeypatch):
    """Densifying a sparse matrix as wide as iris' X (4 columns: X or a batch of its
    rows) fails the test; others (scikit-learn's own label matrices) are left alone."""
    import scipy.sparse as sp

    for cls in (sp.csr_array, sp.csc_array, sp.csr_matrix, sp.csc_matrix):
        for name in ("toarray", "todense"):
            original = getattr(cls, name)

            def guarded(self, *args, _original=original, **kwargs):
                if self.ndim == 2 and self.shape[1] == 4:
                    raise AssertionError("the sparse input X was densified")
                return _original(self, *args, **kwargs)

            monkeypatch.setattr(cls, name, guarded)


@pytest.mark.parametrize("fmt", ["csr_matrix", "csc_matrix", "csr_array"])
@pytest.mark.parametrize("solver", ["lbfgs", "sgd", "adam"])
def test_sparse_input_equals_dense_and_is_never_densified(iris, fmt, solver, no_densifying):
    import scipy.sparse as sp

    X, y = iris
    X = np.where(np.abs(X) < 0.7, 0.0, X)  # about half the entries zero
    Xs = getattr(sp, fmt)(X)
    kw = dict(hidden_layer_sizes=(5,), solver=solver, max_iter=20, random_state=0,
              shuffle=False, batch_size=40)
    dense, sparse = MLPClassifier(**kw).fit(X, y), MLPClassifier(**kw).fit(Xs, y)
    np.testing.assert_allclose(sparse.network_.params, dense.network_.params, atol=1e-8)
    np.testing.assert_allclose(sparse.predict_proba(Xs), dense.predict_proba(X), atol=1e-8)
    np.testing.assert_array_equal(sparse.predict(Xs), dense.predict(X))
    if solver != "lbfgs":
        dense.partial_fit(X, y)
        sparse.partial_fit(Xs, y)
        np.testing.assert_allclose(sparse.network_.params, dense.network_.params, atol=1e-8)
        reg = MLPRegressor(hidden_layer_sizes=(4,), solver=solver, early_stopping=True,
                           max_iter=5, random_state=0).fit(Xs, X[:, 0])
        assert len(reg.validation_scores_) == reg.n_iter_
        assert reg.predict(Xs[:3]).shape == (3,)


def test_sparse_input_float32_stays_float32(iris):
    import scipy.sparse as sp

    X, y = iris
    clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0)
    clf.fit(sp.csr_matrix(X.astype(np.float32)), y)
    assert clf.network_.dtype == np.float32
    assert clf.predict_proba(sp.csr_matrix(X[:2])).shape == (2, 3)


def test_assigning_coefs_items_takes_effect_or_raises(iris):
    X, y = iris
    clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(X, y)
    before = clf.predict_proba(X)
    clf.coefs_[1] = np.zeros((4, 3))
    clf.intercepts_[1] = np.array([0.0, 5.0, 0.0])
    np.testing.assert_array_equal(clf.network_.output_layer.w, 0.0)
    assert np.all(clf.predict(X) == 1) and not np.allclose(clf.predict_proba(X), before)
    clf.coefs_ = [np.ones((4, 4)), np.ones((4, 3))]  # whole-list assignment copies too
    np.testing.assert_array_equal(clf.network_.dense_layers[0].w, 1.0)
    with pytest.raises(ValueError, match=r"coefs_\[0\]: expected shape \(4, 4\)"):
        clf.coefs_[0] = np.ones((4, 5))
    with pytest.raises(ValueError, match="expected 2 arrays"):
        clf.intercepts_ = [np.ones(4)]
    with pytest.raises(TypeError, match="number of layers is fixed"):
        clf.coefs_.append(np.ones((3, 3)))


def test_assigned_weights_on_an_unfitted_estimator_start_training(iris):
    """scikit-learn's rule: coefs_ / intercepts_ set before partial_fit (or a warm start)
    are the starting weights; set before a cold fit they are replaced."""
    X, y = iris
    W = [np.full((4, 2), 0.1), np.full((2, 3), -0.2)]
    b = [np.zeros(2), np.array([0.0, 1.0, 2.0])]
    clf = MLPClassifier(hidden_layer_sizes=2, solver="sgd", learning_rate_init=1e-12,
                        momentum=0, random_state=0)
    assert not hasattr(clf, "coefs_")
    clf.coefs_, clf.intercepts_ = [0, 0], [0, 0]
    clf.coefs_[0], clf.coefs_[1] = W  # item assignment on the unfitted estimator is kept
    clf.intercepts_[0], clf.intercepts_[1] = b
    clf.partial_fit(X, y, classes=[0, 1, 2])
    for got, want in zip(clf.coefs_ + clf.intercepts_, W + b, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-9)
    assert clf.n_iter_ == 1 and clf.t_ == len(y)

    warm = MLPRegressor(hidden_layer_sizes=2, warm_start=True, max_iter=1,
                        learning_rate_init=1e-12)
    warm.coefs_, warm.intercepts_ = [W[0], W[1][:, :1]], [b[0], b[1][:1]]
    warm.fit(X, y.astype(float))
    np.testing.assert_allclose(warm.coefs_[0], W[0], atol=1e-9)

    cold = MLPClassifier(hidden_layer_sizes=2, max_iter=1, random_state=0)
    cold.coefs_, cold.intercepts_ = W, b
    cold.fit(X, y)
    assert not np.allclose(cold.coefs_[0], W[0])
    with pytest.raises(ValueError, match="the assigned weights have shapes"):
        bad = MLPClassifier(hidden_layer_sizes=3, solver="sgd")
        bad.coefs_, bad.intercepts_ = W, b
        bad.partial_fit(X, y, classes=[0, 1, 2])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow: the point
def test_diverging_run_with_early_stopping_keeps_the_best_weights(iris):
    X, y = load_iris(return_X_y=True)
    kw = dict(hidden_layer_sizes=100, activation="identity", solver="sgd",
              learning_rate_init=1, max_iter=20, random_state=0)
    with pytest.raises(ValueError, match="Solver produced non-finite parameter weights. "
                       "The input data may contain large values"):
        MLPRegressor(**kw).fit(X, y)
    with pytest.warns(ConvergenceWarning, match="best validation score"):
        reg = MLPRegressor(**kw, early_stopping=True).fit(X, y)
    assert np.isnan(reg.validation_scores_[-1]) and np.isnan(reg.loss_curve_[-1])
    assert len(reg.validation_scores_) == len(reg.loss_curve_) == reg.n_iter_
    np.testing.assert_array_equal(reg.network_.params, reg._best_params)
    assert np.all(np.isfinite(reg.predict(X)))


def test_sklearn_error_wording(iris):
    X, y = iris
    with pytest.raises(ValueError, match="The validation set is too small"):
        MLPRegressor(early_stopping=True).fit(X[:2], y[:2].astype(float))
    with pytest.raises(ValueError, match=r"too few members are: \['True'\]"):
        MLPClassifier(early_stopping=True).fit(X[:4], [0, 0, 0, 1])


def test_objective_leaves_the_networks_own_l2_out_and_untouched():
    """scikit-learn's alpha is the only L2 term of its objective: the network's own l2 is
    neither used nor set to 0 and back (it used to be, around backward)."""
    rng = np.random.default_rng(0)
    a0, Y = rng.standard_normal((6, 3)), np.eye(2)[rng.integers(0, 2, 6)]
    grads = []
    for l2 in (0.0, 0.7):
        net = MLP([3, 4, 2], hidden="tanh", output="softmax", loss="cross_entropy",
                     seed=1, l2=l2, dtype="float64")
        cost = loss_and_gradient(net, a0, Y, None, 0.1)
        grads.append((cost, net.grads.copy()))
        assert net.l2 == l2
    assert grads[0][0] == grads[1][0]
    np.testing.assert_array_equal(grads[0][1], grads[1][1])
