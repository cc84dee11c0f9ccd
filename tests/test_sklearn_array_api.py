"""The estimators under scikit-learn's ``array_api_dispatch``: everything follows X.

scikit-learn's own checks (tests/test_sklearn_checks.py) test namespaces, devices, shapes
and dtypes; here the values too: a fit on torch or array-api-strict arrays equals the
NumPy fit to 1e-12 (float64), for each solver path (Adam, SGD, L-BFGS, early stopping,
partial_fit, sample weights), and predictions come back in X's namespace.
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("array_api_compat")

import sklearn  # noqa: E402
from sklearn.datasets import make_classification, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from chainrule.engine.backend import namespace_of, to_host  # noqa: E402
from chainrule.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def strict():
    xp = pytest.importorskip("array_api_strict")
    return xp, lambda a: xp.asarray(a)


def torch_cpu():
    torch = pytest.importorskip("torch")
    return torch, lambda a: torch.asarray(a, device="cpu")


NAMESPACES = {"array_api_strict": strict, "torch": torch_cpu}


@pytest.fixture(params=sorted(NAMESPACES))
def ns(request):
    return NAMESPACES[request.param]()


@pytest.fixture
def clf_data():
    X, y = make_classification(n_samples=120, n_features=6, n_informative=4, n_classes=3,
                               random_state=0)
    return X, y


def fit_both(est, X, y, move, **fit_kwargs):
    """The same estimator fitted on NumPy and (with dispatch on) on moved arrays."""
    ref = sklearn.base.clone(est).fit(X, y, **fit_kwargs)
    dev = sklearn.base.clone(est)
    moved = {k: move(v) for k, v in fit_kwargs.items()}
    with sklearn.config_context(array_api_dispatch=True):
        dev.fit(move(X), move(y), **moved)
    return ref, dev


SOLVERS = [
    dict(solver="adam"),
    dict(solver="sgd", momentum=0.9, learning_rate="invscaling"),
    dict(solver="lbfgs"),
    dict(solver="adam", early_stopping=True),
]


@pytest.mark.parametrize("params", SOLVERS, ids=lambda p: "-".join(map(str, p.values())))
def test_classifier_on_another_namespace_equals_numpy(ns, clf_data, params):
    xp, move = ns
    X, y = clf_data
    est = MLPClassifier((8,), max_iter=15, random_state=1, **params)
    ref, dev = fit_both(est, X, y, move)
    for w_ref, w_dev in zip(ref.coefs_ + ref.intercepts_, dev.coefs_ + dev.intercepts_,
                            strict=True):
        assert namespace_of(w_dev) is namespace_of(move(X))  # fitted attributes follow X
        np.testing.assert_allclose(to_host(w_dev), w_ref, rtol=1e-12, atol=1e-12)
    assert dev.loss_ == pytest.approx(ref.loss_, rel=1e-12)
    if params["solver"] != "lbfgs":
        assert dev.loss_curve_ == pytest.approx(ref.loss_curve_, rel=1e-12)
    Xd = move(X)
    with sklearn.config_context(array_api_dispatch=True):
        labels = dev.predict(Xd)
        proba = dev.predict_proba(Xd)
        log_proba = dev.predict_log_proba(Xd)
        score = dev.score(Xd, move(y))
    for out in (labels, proba, log_proba):
        assert namespace_of(out) is namespace_of(Xd)
    np.testing.assert_array_equal(to_host(labels), ref.predict(X))
    np.testing.assert_allclose(to_host(proba), ref.predict_proba(X), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(to_host(log_proba), ref.predict_log_proba(X), rtol=1e-10)
    assert isinstance(score, float) and score == pytest.approx(ref.score(X, y))


def test_network_trains_on_the_device_of_x(clf_data):
    """The mini-batch solvers build the network on X's backend (not a host fit moved
    after): the trained network_ is a torch network, and so is its optimizer state."""
    torch = pytest.importorskip("torch")
    X, y = clf_data
    est = MLPClassifier((8,), max_iter=3, random_state=0)
    with sklearn.config_context(array_api_dispatch=True):
        est.fit(torch.asarray(X), torch.asarray(y))
    assert est.network_.backend == "torch"
    assert all(isinstance(w, torch.Tensor) for w in est.coefs_)


def test_binary_and_string_labels(ns):
    """Two classes: one sigmoid unit, predict_proba stacked in X's namespace. String
    labels can't live on a device: predict returns them as NumPy, as classes_ is."""
    xp, move = ns
    X, y = make_classification(n_samples=80, n_features=5, random_state=2)
    ref, dev = fit_both(MLPClassifier((6,), max_iter=10, random_state=0), X, y, move)
    with sklearn.config_context(array_api_dispatch=True):
        proba = dev.predict_proba(move(X))
    assert tuple(proba.shape) == (80, 2)
    np.testing.assert_allclose(to_host(proba), ref.predict_proba(X), rtol=1e-10, atol=1e-12)
    words = np.array(["no", "yes"])[y]
    est = MLPClassifier((6,), max_iter=10, random_state=0)
    with sklearn.config_context(array_api_dispatch=True):
        est.fit(move(X), words)
        pred = est.predict(move(X))
    assert type(pred) is np.ndarray and set(pred) <= {"no", "yes"}


def test_regressor_and_poisson(ns):
    xp, move = ns
    X, y = make_regression(n_samples=100, n_features=4, noise=0.1, random_state=0)
    est = MLPRegressor(hidden_layer_sizes=(8,), max_iter=10, random_state=0)
    ref, dev = fit_both(est, X, y, move)
    with sklearn.config_context(array_api_dispatch=True):
        pred = dev.predict(move(X))
        score = dev.score(move(X), move(y))
    assert namespace_of(pred) is namespace_of(move(X)) and tuple(pred.shape) == (100,)
    np.testing.assert_allclose(to_host(pred), ref.predict(X), rtol=1e-10, atol=1e-10)
    assert score == pytest.approx(ref.score(X, y), rel=1e-9)
    counts = np.abs(y) / 50
    ref, dev = fit_both(MLPRegressor(loss="poisson", hidden_layer_sizes=(4,), max_iter=5,
                                     random_state=0), X, counts, move)
    with sklearn.config_context(array_api_dispatch=True):
        mu = dev.predict(move(X))
    np.testing.assert_allclose(to_host(mu), ref.predict(X), rtol=1e-10)


def test_weighted_fit_on_the_device(ns, clf_data):
    """Sample and class weights ride along (s_i / Σ s on the device), alpha's 1 / Σ s too."""
    xp, move = ns
    X, y = clf_data
    sw = np.random.default_rng(0).uniform(0.1, 2.0, len(y))
    est = MLPClassifier((8,), max_iter=8, random_state=0, alpha=0.1, class_weight="balanced")
    ref, dev = fit_both(est, X, y, move, sample_weight=sw)
    np.testing.assert_allclose(to_host(dev.coefs_[0]), ref.coefs_[0], rtol=1e-12, atol=1e-12)
    assert dev.loss_curve_ == pytest.approx(ref.loss_curve_, rel=1e-12)


def test_partial_fit_and_warm_start_stay_on_the_device(ns, clf_data):
    xp, move = ns
    X, y = clf_data
    ref = MLPClassifier((8,), random_state=0)
    dev = MLPClassifier((8,), random_state=0)
    with sklearn.config_context(array_api_dispatch=True):
        for _ in range(3):
            ref.partial_fit(X, y, classes=np.unique(y))
            dev.partial_fit(move(X), move(y), classes=np.unique(y))
        with pytest.raises(ValueError, match=r"MLPClassifier.partial_fit\(\) must use the "
                                             r"same namespace"):
            dev.partial_fit(X, y)
    np.testing.assert_allclose(to_host(dev.coefs_[1]), ref.coefs_[1], rtol=1e-12)


def test_predict_refuses_another_namespace(ns, clf_data):
    xp, move = ns
    X, y = clf_data
    est = MLPClassifier((4,), max_iter=3, random_state=0)
    with sklearn.config_context(array_api_dispatch=True):
        est.fit(move(X), move(y))
        for method in ("predict", "predict_proba", "predict_log_proba"):
            with pytest.raises(ValueError, match=rf"MLPClassifier\.{method}\(\) must use the "
                                                 r"same namespace"):
                getattr(est, method)(X)
    # Without dispatch, host data is accepted and the outputs are NumPy (scikit-learn's rule).
    assert type(est.predict_proba(X)) is np.ndarray


@pytest.fixture
def torch_fitted(clf_data):
    """(torch, X, an MLPClassifier fitted on torch tensors of the data)."""
    torch = pytest.importorskip("torch")
    X, y = clf_data
    est = MLPClassifier((4,), max_iter=3, random_state=0)
    with sklearn.config_context(array_api_dispatch=True):
        est.fit(torch.asarray(X), torch.asarray(y))
    return torch, X, est


def test_assigning_coefs_on_the_device(torch_fitted):
    torch, _, est = torch_fitted
    est.coefs_[0] = np.zeros((6, 4))  # host value into the device buffer: takes effect
    assert float(torch.sum(torch.abs(est.network_.dense_layers[0].w))) == 0.0
    with pytest.raises(ValueError, match=r"coefs_\[0\]: expected shape"):
        est.coefs_[0] = np.zeros((3, 3))


def test_pickle_keeps_the_backend(torch_fitted):
    torch, X, est = torch_fitted
    with sklearn.config_context(array_api_dispatch=True):
        back = pickle.loads(pickle.dumps(est))
        assert back.network_.backend == "torch"
        torch.testing.assert_close(back.predict_proba(torch.asarray(X)),
                                   est.predict_proba(torch.asarray(X)))


def test_dispatch_off_converts_device_arrays_to_numpy(clf_data):
    torch = pytest.importorskip("torch")
    X, y = clf_data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = MLPClassifier((4,), max_iter=3, random_state=0).fit(torch.asarray(X),
                                                                   torch.asarray(y))
    assert est.network_.backend == "numpy" and type(est.predict(X)) is np.ndarray


@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
def test_sklearn_values_check(ns, Est):
    """scikit-learn's own value check (attributes and outputs equal NumPy's)."""
    from sklearn.utils.estimator_checks import check_array_api_input_and_values

    xp, _ = ns
    name = "array_api_strict" if "strict" in xp.__name__ else "torch"
    check_array_api_input_and_values(Est.__name__, Est(max_iter=20), array_namespace=name,
                                     device_name="cpu" if name == "torch" else None)


def test_device_step_brings_back_only_its_scalars(monkeypatch, request, clf_data):
    """scikit-learn's objective on the device (weights, alpha's 1 / Σ s, the per-layer
    ‖W‖²) keeps everything there: one transfer of three scalars per step."""
    torch = pytest.importorskip("torch")
    from chainrule.sklearn._stochastic import SklearnObjective
    from chainrule.training.step import Step

    X, y = clf_data
    est = MLPClassifier((8, 8, 8), max_iter=2, random_state=0, alpha=0.1)
    with sklearn.config_context(array_api_dispatch=True):
        est.fit(torch.asarray(X), torch.asarray(y))
    net = est.network_
    step = Step(net, est._optimizer, objective=SklearnObjective(0.1))
    Y = np.eye(3)[y[:16]]
    xb = torch.asarray(X[:16])
    yb = torch.asarray(Y)
    sb = torch.asarray(np.linspace(0.5, 2, 16))
    calls = request.getfixturevalue("torch_transfers")  # recording from here
    loss_sum, n, correct = step(xb, yb, sb, epoch=1, batch=1)
    monkeypatch.undo()
    assert n == 16 and np.isfinite(loss_sum) and 0 <= correct <= 16
    assert all(size <= 3 for _, size in calls), calls
    assert [c for c in calls if c[0] == "numpy"] == [("numpy", 3)], calls
