"""scikit-learn estimators backed by chainrule, and conversion both ways.

``pip install "chainrule[sklearn]"``. Importing :mod:`chainrule` never imports this
package (nor scikit-learn or SciPy); importing ``chainrule.sklearn`` does.

* :class:`MLPClassifier`, :class:`MLPRegressor` — scikit-learn 1.9's constructor,
  fitted attributes and semantics, plus chainrule's activations, optimizers,
  schedules, dropout, dtype and callbacks.
* :func:`from_sklearn` / :func:`to_sklearn` — a fitted scikit-learn MLP to a
  :class:`chainrule.Network` and back.
* :data:`EXPECTED_FAILED_CHECKS` — the scikit-learn estimator checks that cannot
  apply, each with its reason (pass it to ``parametrize_with_checks``).
"""

from chainrule.sklearn._convert import from_sklearn, to_sklearn
from chainrule.sklearn._estimators import MLPClassifier, MLPRegressor

EXPECTED_FAILED_CHECKS: dict[str, str] = {}
"""Check name → one-line reason, for ``expected_failed_checks=`` of scikit-learn's
``parametrize_with_checks`` / ``check_estimator``."""


def expected_failed_checks(estimator: object) -> dict[str, str]:
    """The checks that cannot apply to ``estimator``, with reasons (scikit-learn 1.9 API)."""
    return dict(EXPECTED_FAILED_CHECKS)


__all__ = [
    "EXPECTED_FAILED_CHECKS",
    "MLPClassifier",
    "MLPRegressor",
    "expected_failed_checks",
    "from_sklearn",
    "to_sklearn",
]
