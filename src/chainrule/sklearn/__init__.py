"""scikit-learn estimators backed by chainrule, and conversion both ways.

``pip install "chainrule[sklearn]"``. Importing :mod:`chainrule` never imports this
package (nor scikit-learn or SciPy); importing ``chainrule.sklearn`` does, and without
them it is one line naming the extra (:class:`chainrule._extras.MissingExtraError`).

* :class:`MLPClassifier`, :class:`MLPRegressor` — scikit-learn 1.9's constructor,
  fitted attributes and semantics, plus chainrule's activations, optimizers,
  schedules, dropout, dtype and callbacks.
* :func:`from_sklearn` / :func:`to_sklearn` — a fitted scikit-learn MLP to a
  :class:`chainrule.Network` and back.

Both estimators pass every check of scikit-learn's ``parametrize_with_checks``; none
is declared as an expected failure. scikit-learn's own ``test_mlp.py`` runs against
them (``tests/test_sklearn_suite.py``): every test passes except three that read
scikit-learn's private internals. Sparse (CSR/CSC) input is never densified.
"""

from chainrule._extras import missing_extra

try:
    from chainrule.sklearn._convert import from_sklearn, to_sklearn
    from chainrule.sklearn._estimators import MLPClassifier, MLPRegressor
except ImportError as exc:
    _error = missing_extra(exc, "chainrule.sklearn")
    if _error is None:
        raise
    raise _error from None

__all__ = [
    "MLPClassifier",
    "MLPRegressor",
    "from_sklearn",
    "to_sklearn",
]
