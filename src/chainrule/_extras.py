"""Which extra to install: an optional package's absence told in one line.

``import chainrule`` needs NumPy only; the edges need their extras (``pyproject.toml``'s
optional dependencies). Without one, Python would say ``No module named 'sklearn'`` from
deep inside chainrule; :func:`missing_extra` turns that into the line a user can act on::

    chainrule.sklearn needs scikit-learn, which is not installed: pip install "chainrule[sklearn]"

This module imports nothing of chainrule, so every wing may use it.
"""

from __future__ import annotations

import importlib.util
from typing import Any

#: For each top-level import name of an optional dependency: (its distribution name, the
#: extra that installs it). ``tests/test_extras_errors.py`` checks it against pyproject.
EXTRA_OF: dict[str, tuple[str, str]] = {
    "sklearn": ("scikit-learn", "sklearn"),
    "scipy": ("scipy", "sklearn"),
    "onnx": ("onnx", "onnx"),
    "onnxruntime": ("onnxruntime", "onnx"),
    "mpi4py": ("mpi4py", "mpi"),
    "threadpoolctl": ("threadpoolctl", "mpi"),
    "matplotlib": ("matplotlib", "cli"),
    "rich": ("rich", "cli"),
    "starlette": ("starlette", "playground"),
    "uvicorn": ("uvicorn", "playground"),
    "websockets": ("websockets", "playground"),
    "numba": ("numba", "fast"),
    "pandas": ("pandas", "tables"),
    "pyarrow": ("pyarrow", "tables"),
    "openpyxl": ("openpyxl", "tables"),
    "datasketches": ("datasketches", "tables"),
    "dask": ("dask", "dask"),
}


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


def missing_extra(exc: ImportError, feature: str) -> MissingExtraError | None:
    """The one-line error for ``exc`` when it is an absent optional dependency.

    Parameters
    ----------
    exc : ImportError
        What the import raised.
    feature : str
        What needs it, as the message starts (``"chainrule.sklearn"``).

    Returns
    -------
    MissingExtraError or None
        None when ``exc`` is about another module (a real error: raise it as it is).

    Examples
    --------
    >>> try:
    ...     from chainrule.sklearn._estimators import MLPClassifier
    ... except ImportError as exc:
    ...     error = missing_extra(exc, "chainrule.sklearn")
    ...     if error is None:
    ...         raise
    ...     raise error from None
    """
    top = (exc.name or "").partition(".")[0]
    if top not in EXTRA_OF:
        return None
    distribution, extra = EXTRA_OF[top]
    return MissingExtraError(f"{feature} needs {distribution}, which is not installed: "
                             f'pip install "chainrule[{extra}]"', name=exc.name)


def require(module: str, feature: str) -> None:
    """Raise :class:`MissingExtraError` now when ``module`` (a key of :data:`EXTRA_OF`)
    is not installed, without importing it (for a package that imports it lazily)."""
    if importlib.util.find_spec(module) is None:
        error = missing_extra(ModuleNotFoundError(f"No module named {module!r}", name=module),
                              feature)
        assert error is not None, f"{module} is not in EXTRA_OF"
        raise error


def pyplot(feature: str) -> Any:
    """matplotlib.pyplot on the Agg backend, imported when ``feature`` (e.g. "chainrule's
    plots") draws, not with chainrule; without matplotlib, :class:`MissingExtraError`."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot as plt
    except ImportError as exc:
        error = missing_extra(exc, feature)
        if error is None:
            raise
        raise error from None
    return plt


__all__ = ["EXTRA_OF", "MissingExtraError", "missing_extra", "pyplot", "require"]
