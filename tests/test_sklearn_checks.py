"""scikit-learn's own estimator checks for both estimators.

The instances use ``max_iter=100`` as scikit-learn's test suite does for its MLPs
(the defaults stay scikit-learn's). Every check applies and passes, so no
``expected_failed_checks`` are declared; the only skips are scikit-learn's own
(pandas not installed, no ``decision_function``, and the Array API checks for devices
and libraries this machine lacks: CUDA, MPS, XPU, CuPy, dpnp). The estimators declare
``array_api_support``, so scikit-learn runs its Array API checks on array_api_strict and
torch CPU inputs under ``array_api_dispatch`` (tests/conftest.py sets SCIPY_ARRAY_API=1,
which scikit-learn needs for them); tests/test_sklearn_array_api.py checks the values.
"""

import warnings

import pytest

pytest.importorskip("sklearn")

from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from chainrule.sklearn import MLPClassifier, MLPRegressor  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    """Tiny matrices: BLAS threads would only contend with the other test processes."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


@parametrize_with_checks(
    [MLPClassifier(max_iter=100), MLPRegressor(max_iter=100)]
)
def test_sklearn_compatible_estimator(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)
