"""``ensemble=K`` on the scikit-learn estimators: the objective (alpha and sample weights
included) is the members' mean, so each member's gradient is its own network's divided by
K (1e-12, float64); predictions are the members' mean; the parameter is checked, cloned
and pickled like the others."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402

from chainrule.engine.ensemble import Ensemble  # noqa: E402
from chainrule.sklearn import MLPClassifier, MLPRegressor  # noqa: E402
from chainrule.sklearn._objective import objective  # noqa: E402

# These fits stop after a few iterations on purpose (the objective, not the optimum, is
# tested); the estimators say so with scikit-learn's ConvergenceWarning, as they should.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int) + (X[:, 2] > 0.8)
    return X, y


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("cost_scale", [1.0, 0.5])
def test_the_sklearn_objective_of_an_ensemble_is_its_members_mean(weighted, cost_scale):
    X, y = _data()
    est = MLPClassifier((6,), ensemble=3, random_state=0, max_iter=3, dtype="float64")
    est.fit(X, y)
    net = est.network_
    assert isinstance(net, Ensemble)
    Y = np.eye(3)[y]
    sw = np.random.default_rng(1).uniform(0.2, 2.0, size=len(y)) if weighted else None
    cost, _ = objective(net, X, Y, sw, alpha=0.3, cost_scale=cost_scale)
    grads = [np.array(g) for g in net.gradients()]
    costs = []
    for m in range(3):
        member = net.member(m)
        costs.append(objective(member, X, Y, sw, alpha=0.3, cost_scale=cost_scale)[0])
        for g, own in zip(grads, member.gradients(), strict=True):
            np.testing.assert_allclose(g[m], own / 3, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(cost, np.mean(costs), rtol=1e-12)


def test_predictions_are_the_members_mean_and_members_start_as_single_networks():
    X, y = _data()
    est = MLPClassifier((5,), ensemble=4, random_state=0, max_iter=20).fit(X, y)
    P = np.mean([est.network_.member(m).predict(X) for m in range(4)], axis=0)
    np.testing.assert_allclose(est.predict_proba(X), P, rtol=1e-6, atol=1e-7)
    assert est.coefs_[0].shape == (4, 3, 5) and est.intercepts_[1].shape == (4, 3)
    # member 0 starts from the single network's draws (lr ≈ 0: the weights stay there)
    first = MLPClassifier((5,), random_state=0, solver="sgd", learning_rate_init=1e-12,
                          max_iter=1).fit(X, y)
    firsts = MLPClassifier((5,), random_state=0, solver="sgd", learning_rate_init=1e-12,
                           max_iter=1, ensemble=3).fit(X, y)
    np.testing.assert_allclose(firsts.coefs_[0][0], first.coefs_[0], rtol=1e-6)
    assert not np.allclose(firsts.coefs_[0][1], first.coefs_[0])


def test_regressor_ensemble_pickles_and_clones():
    X, y = _data()
    t = X @ np.array([1.0, -2.0, 0.5])
    est = MLPRegressor(hidden_layer_sizes=(7,), ensemble=2, random_state=0, max_iter=50,
                       solver="lbfgs").fit(X, t)
    back = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(back.predict(X), est.predict(X))
    assert clone(est).get_params()["ensemble"] == 2


@pytest.mark.parametrize("kwargs, match", [
    ({"ensemble": 0}, r"ensemble: expected an integer in \[1, inf\), got 0"),
    ({"ensemble": 2, "loss": "poisson"}, r"ensemble: not available with loss='poisson'"),
])
def test_bad_ensemble_is_one_line(kwargs, match):
    X, y = _data()
    with pytest.raises(ValueError, match=match):
        MLPRegressor(hidden_layer_sizes=(3,), max_iter=2, **kwargs).fit(X, np.abs(X[:, 0]))
