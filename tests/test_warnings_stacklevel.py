"""Warnings point at the user's line — the test file here — not at chainrule's own files
(issue 30: "warnings that point at the user's line, not at chainrule/training.py:309").

Every warning goes through :func:`chainrule._warnings.warn`, which counts the frames up
to the first one outside chainrule; the main public entry points are checked end to end.
"""

from __future__ import annotations

import ast
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import chainrule
from chainrule._warnings import PACKAGE_DIR

SRC = Path(chainrule.__file__).resolve().parent


def _recorded(call: Callable[[], object]) -> list[warnings.WarningMessage]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    return caught


def _where(caught: list[warnings.WarningMessage]) -> list[tuple[str, str]]:
    return [(w.category.__name__, w.filename) for w in caught]


def test_every_warning_goes_through_chainrule_warn():
    """A fixed ``stacklevel`` is right for one call path only; none is left."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if path == SRC / "_warnings.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "warn" and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "warnings"):
                found.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert not found, f"use chainrule._warnings.warn instead of warnings.warn at {found}"


def test_the_package_directory_is_chainrules():
    assert Path(PACKAGE_DIR).resolve() == SRC


def test_a_run_reporters_warning_names_the_caller():
    from chainrule.runs.reporter import Reporter

    caught = _recorded(lambda: Reporter().warn("no diagnostics.png"))
    assert _where(caught) == [("RuntimeWarning", __file__)]


def test_an_old_module_path_names_the_import_line(monkeypatch):
    monkeypatch.delitem(sys.modules, "chainrule.scaler", raising=False)

    def old_import() -> None:
        import chainrule.scaler  # noqa: F401 - the 0.1 path, announced as moved

    caught = _recorded(old_import)
    assert _where(caught) == [("DeprecationWarning", __file__)]


sklearn = pytest.importorskip("chainrule.sklearn", reason="the sklearn extra")


def _xy(n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    X = np.random.default_rng(0).normal(size=(n, 3))
    return X, (X[:, 0] > 0).astype(int)


@pytest.mark.parametrize(("params", "category"), [
    ({"max_iter": 2}, "ConvergenceWarning"),  # Maximum iterations reached (a callback's)
    ({"max_iter": 2, "batch_size": 500}, "UserWarning"),  # batch_size clipped
    ({"max_iter": 2, "solver": "lbfgs"}, "ConvergenceWarning"),  # lbfgs did not converge
])
def test_an_estimators_fit_warning_names_the_fit_line(params, category):
    X, y = _xy()
    clf = sklearn.MLPClassifier(hidden_layer_sizes=(4,), random_state=0, **params)
    caught = _recorded(lambda: clf.fit(X, y))
    assert (category, __file__) in _where(caught)
    assert all(w.filename == __file__ for w in caught), _where(caught)


def test_a_diverged_estimator_with_early_stopping_names_the_fit_line():
    X, y = _xy(60)
    reg = sklearn.MLPRegressor(hidden_layer_sizes=(4,), max_iter=20, early_stopping=True,
                               learning_rate_init=10.0, solver="sgd", random_state=0)
    caught = _recorded(lambda: reg.fit(X, y * 1e3))
    assert ("ConvergenceWarning", __file__) in _where(caught)
    assert all(w.filename == __file__ for w in caught), _where(caught)


def test_network_fit_and_table_encoding_warn_from_nowhere_inside():
    """Today neither warns (bad input is an error, a filled-in cell a note); whatever
    they may warn of later must name this file too."""
    pd = pytest.importorskip("pandas")
    from chainrule.table import TableEncoder

    X, y = _xy()

    def fit_and_encode() -> None:
        net = chainrule.MLP([3, 4, 2], output="softmax", loss="cross_entropy", seed=0)
        net.fit(X, np.eye(2)[y], epochs=2, batch_size=64, validation_split=0.25)
        df = pd.DataFrame({"n": [1.0, None, 3.0, 4.0] * 5, "c": list("xyzx") * 5})
        enc = TableEncoder().fit(df)
        enc.encode(pd.DataFrame({"n": ["?", 2.0], "c": ["unseen", "x"]}))

    caught = _recorded(fit_and_encode)
    assert all(w.filename == __file__ for w in caught), _where(caught)
