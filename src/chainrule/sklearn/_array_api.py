"""scikit-learn's Array API convention for the estimators: everything follows X.

With ``sklearn.set_config(array_api_dispatch=True)`` and X a torch, CuPy or
array-api-strict array, ``fit`` trains the network on X's namespace and device
(:mod:`chainrule.backend`), the fitted attributes (``coefs_``, ``intercepts_``,
``network_``) live there, and ``predict`` / ``predict_proba`` return arrays of that
namespace on that device. ``y`` and ``sample_weight`` may come from elsewhere: they
are moved to follow X.

What stays on the host, by nature: checking the inputs and the targets (scikit-learn's
``validate_data``, the label binarizer), drawing the initial weights (scikit-learn's
RandomState: the same ``random_state`` gives the same weights on every namespace), the
validation split of ``early_stopping``, and the L-BFGS solver (scipy), after which the
fitted network is moved to X's device. String class labels stay a NumPy array, as
scikit-learn allows for ``classes_``.

Without dispatch, device arrays are converted to NumPy as scikit-learn does.
"""

from __future__ import annotations

from typing import Any

from chainrule.engine import backend as _backend
from chainrule.engine.backend import NUMPY, Backend


def dispatch_enabled() -> bool:
    """Whether scikit-learn's ``array_api_dispatch`` is on."""
    import sklearn

    return bool(sklearn.get_config().get("array_api_dispatch", False))


def input_backend(X: Any) -> Backend:
    """The backend X sets ("everything follows X"): its own with dispatch on, else NumPy."""
    if dispatch_enabled() and _backend.is_device_array(X):
        return _backend.backend_of(X)
    return NUMPY


def host(x: Any) -> Any:
    """``x`` as host data (NumPy) if it is a device array; anything else unchanged."""
    return _backend.to_host(x) if _backend.is_device_array(x) else x


def same_backend(a: Backend, b: Backend) -> bool:
    return a.name == b.name and str(a.device) == str(b.device)


def check_same_namespace(X: Any, est: Any, method: str) -> None:
    """Refuse X from another namespace or device than the one ``fit`` used, in
    scikit-learn's wording (its users match on "must use the same namespace")."""
    if not dispatch_enabled():
        return
    net = est.network_
    fitted = net._backend
    given = input_backend(X)
    if same_backend(fitted, given):
        return
    if given.is_numpy:
        detail = (f"Array namespace used during fit ({fitted.name}) is not compatible with "
                  f"the array-like input passed to {method}. Only the NumPy namespace is "
                  f"compatible with array-like inputs.")
    elif given.name != fitted.name:
        detail = (f"Array namespaces used during fit ({fitted.name}) and {method} "
                  f"({given.name}) differ.")
    else:
        detail = (f"Devices used during fit ({fitted.device}) and {method} ({given.device}) "
                  "differ.")
    raise ValueError(
        f"Inputs passed to {type(est).__name__}.{method}() must use the same namespace and "
        f"the same device as those passed to fit(). {detail} Move X there (or refit)."
    )


def like_input(result: Any, bk: Backend) -> Any:
    """A method's output in X's namespace and device: host results (e.g. decoded labels)
    are moved there; device results are brought to the host when X was host data.
    Non-numeric labels (strings, objects) stay NumPy, as ``classes_`` may."""
    if bk.is_numpy:
        return host(result)
    if _backend.is_device_array(result):
        return result
    if result.dtype.kind not in "biuf":
        return result
    return bk.asarray(result)
