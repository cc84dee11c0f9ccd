"""Array backends: which array library a network computes with; NumPy unless asked.

A :class:`~chainrule.network.Network` picks its namespace once, at construction
(``backend="numpy" | "torch" | "array_api_strict" | "cupy"``, ``device=...``): every
array it holds and makes — parameters, gradients, z, a, δ, optimizer moments, batches —
lives there. The engine is written once against the `Array API standard
<https://data-apis.org/array-api/>`_ (through ``array_api_compat`` for torch and CuPy),
with NumPy-only speedups (``out=`` buffers, BLAS forms, the numba kernels) behind a
``type(x) is np.ndarray`` check in the same function.

The other libraries are imported only when a network asks for them: ``import
chainrule`` loads NumPy alone.

What stays on the host, by nature: random numbers (drawn from the network's NumPy
generator and moved, so the same seed gives the same initial weights, shuffles and
dropout masks on every backend), validation of host data and of targets, the scaler's
statistics, saved files (:func:`chainrule.io.save` copies weights to the host), and the
float64 checks (``gradcheck`` and ``explain`` run on a host float64 copy).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: The backends a network can be built on, by name.
BACKENDS = ("numpy", "torch", "array_api_strict", "cupy")

_NAMESPACE_BY_TYPE: dict[type, Any] = {}
_VIEWS_ALIAS: dict[int, bool] = {}


class BackendError(ValueError):
    """A backend or device that is unknown, not installed, or unusable here."""


@dataclass(frozen=True)
class Backend:
    """An array namespace and the device its arrays live on.

    Attributes
    ----------
    name : str
        One of :data:`BACKENDS`.
    xp : module
        The namespace: ``numpy`` itself for ``"numpy"``, ``array_api_compat.torch`` /
        ``array_api_compat.cupy`` or ``array_api_strict``.
    device : object or None
        What ``xp.asarray(..., device=)`` takes (None: the library's default).
    """

    name: str
    xp: Any
    device: Any = None

    @property
    def is_numpy(self) -> bool:
        return self.xp is np

    def asarray(self, x: Any, dtype: Any = None) -> Any:
        """``x`` (host or another device) as an array of this backend, copied."""
        if self.xp is np:
            return np.array(to_host(x), dtype=dtype)
        if namespace_of(x) is not self.xp:
            x = to_host(x)
        return self.xp.asarray(x, dtype=dtype, device=self.device, copy=True)

    def dtype(self, dtype: np.dtype) -> Any:
        """The namespace's dtype of the same name as NumPy's ``dtype``."""
        return dtype if self.xp is np else getattr(self.xp, np.dtype(dtype).name)

    def __repr__(self) -> str:
        where = "" if self.device is None else f", device={str(self.device)!r}"
        return f"Backend({self.name!r}{where})"


NUMPY = Backend("numpy", np)


def get_backend(name: str | Backend = "numpy", device: Any = None) -> Backend:
    """The :class:`Backend` named ``name`` on ``device``, importing its library now.

    ``device`` is the library's own: ``"cpu"``, ``"cuda"``, ``"cuda:1"`` for torch (default
    ``"cpu"``), a CuPy device id (default 0); NumPy takes only None or ``"cpu"``.

    Raises
    ------
    BackendError
        For an unknown name, a library that is not installed, or a device it lacks.
    """
    if isinstance(name, Backend):
        if device is None:
            return name
        name = name.name
    if not isinstance(name, str) or name not in BACKENDS:
        raise BackendError(f"backend: unknown backend {name!r}; valid names are "
                           f"{', '.join(BACKENDS)}")
    if name == "numpy":
        if device not in (None, "cpu"):
            raise BackendError(f"device: the numpy backend runs on the CPU only, got "
                               f"{device!r}; use backend='torch' or 'cupy' for a GPU")
        return NUMPY
    if name == "torch":
        torch = _require("torch", "torch")
        import array_api_compat.torch as torch_xp

        try:
            dev = torch.device("cpu" if device is None else device)
        except (RuntimeError, TypeError) as exc:
            raise BackendError(f"device: {device!r} is not a torch device ({exc})") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise BackendError(f"device: {str(device)!r} asked for, but torch finds no CUDA "
                               f"device (torch {torch.__version__}, CUDA build "
                               f"{torch.version.cuda or 'none'})")
        return Backend("torch", torch_xp, dev)
    if name == "array_api_strict":
        strict: Any = _require("array_api_strict", "array-api-strict")
        if device is not None and not isinstance(device, strict.Device):
            raise BackendError(f"device: array_api_strict takes None or one of its Device "
                               f"objects, got {device!r}")
        return Backend("array_api_strict", strict, device)
    cupy = _require("cupy", "cupy-cuda12x")
    import array_api_compat.cupy as xp

    try:
        dev = cupy.cuda.Device(0 if device is None else device)
        dev.compute_capability  # noqa: B018 (fails without a usable GPU)
    except Exception as exc:  # CUDARuntimeError and friends: no common base class
        raise BackendError(f"device: CuPy finds no CUDA device {device!r} ({exc})") from None
    return Backend("cupy", xp, dev)


def _require(module: str, package: str) -> Any:
    import importlib

    try:
        mod = importlib.import_module(module)
        if module != "array_api_strict":
            importlib.import_module("array_api_compat")
    except ImportError as exc:
        raise BackendError(f"backend: {module!r} needs {exc.name or module}, which is not "
                           f"installed (pip install {package} array-api-compat)") from None
    return mod


def namespace_of(x: Any) -> Any:
    """The array namespace of ``x``: ``numpy`` for ndarrays (no import of anything),
    else ``array_api_compat.array_namespace(x)``, cached per array type."""
    t = type(x)
    if t is np.ndarray or isinstance(x, np.generic):
        return np
    xp = _NAMESPACE_BY_TYPE.get(t)
    if xp is None:
        import array_api_compat

        xp = _NAMESPACE_BY_TYPE[t] = array_api_compat.array_namespace(x)
    return xp


def is_device_array(x: Any) -> bool:
    """Whether ``x`` is an array of a non-NumPy namespace (torch, CuPy, array_api_strict …)."""
    if isinstance(x, (np.ndarray, np.generic, list, tuple)):
        return False
    mod = type(x).__module__.split(".")[0]
    if mod not in ("torch", "cupy", "array_api_strict", "jax", "dask"):
        return False
    import array_api_compat

    return bool(array_api_compat.is_array_api_obj(x))


def backend_of(x: Any) -> Backend:
    """The backend an array lives on ("everything follows X"); NumPy for host data."""
    if not is_device_array(x):
        return NUMPY
    import array_api_compat

    if array_api_compat.is_torch_array(x):
        return get_backend("torch", x.device)
    if array_api_compat.is_cupy_array(x):
        return get_backend("cupy", x.device.id)
    if type(x).__module__.startswith("array_api_strict"):
        return get_backend("array_api_strict", x.device)
    raise BackendError(f"X: arrays of {type(x).__module__} are not a supported backend; "
                       f"valid are {', '.join(BACKENDS)}")


def device_of(x: Any) -> Any:
    """The device ``x`` lives on (None for NumPy arrays)."""
    if type(x) is np.ndarray:
        return None
    import array_api_compat

    return array_api_compat.device(x)


def to_host(x: Any) -> Any:
    """``x`` as a NumPy array (a view where the library allows, e.g. torch CPU tensors);
    NumPy input and non-arrays (lists, scalars) are returned as given."""
    if isinstance(x, (np.ndarray, np.generic)) or not hasattr(x, "__dlpack__"):
        return x
    mod = type(x).__module__.split(".")[0]
    if mod == "torch":
        return x.detach().cpu().numpy()
    if mod == "cupy":
        return x.get()
    return np.from_dlpack(x)


def like(x: Any, ref: Any) -> Any:
    """``x`` as an array of ``ref``'s namespace, device and dtype (converted only if needed)."""
    if type(ref) is np.ndarray:
        return np.asarray(to_host(x), dtype=ref.dtype)
    xp = namespace_of(ref)
    if namespace_of(x) is xp and device_of(x) == device_of(ref):
        return x if x.dtype == ref.dtype else xp.astype(x, ref.dtype)
    return xp.asarray(to_host(x), dtype=ref.dtype, device=device_of(ref), copy=True)


def all_finite(x: Any) -> bool:
    """Whether every element of ``x`` is finite (one host transfer of a bool)."""
    if type(x) is np.ndarray:
        return bool(np.all(np.isfinite(x)))
    xp = namespace_of(x)
    return bool(xp.all(xp.isfinite(x)))


def copy(x: Any) -> Any:
    """A copy of ``x`` in its own namespace and device."""
    if type(x) is np.ndarray:
        return x.copy()
    return namespace_of(x).asarray(x, copy=True)


def astype(x: Any, dtype: Any) -> Any:
    """``x`` cast to ``dtype`` (NumPy's method for ndarrays, so NumPy 1.x works too)."""
    if type(x) is np.ndarray:
        return x.astype(dtype)
    return namespace_of(x).astype(x, dtype)


def host_dtype(dtype: Any) -> np.dtype:
    """The NumPy dtype of a namespace's floating dtype (float32 or float64)."""
    if isinstance(dtype, np.dtype):
        return dtype
    return np.dtype(str(dtype).rsplit(".", 1)[-1])


def host_scalars(*values: Any) -> list[float]:
    """0-d device arrays (or numbers) as floats, in **one** host transfer: the training
    step's loss sum, correct count and ‖g‖² come back together, never one per layer."""
    arrays = [v for v in values if not isinstance(v, (int, float, np.generic))]
    if not arrays:
        return [float(v) for v in values]
    xp = namespace_of(arrays[0])
    dt, dev = xp.float64, device_of(arrays[0])
    stacked = xp.stack([
        xp.asarray(float(v), dtype=dt, device=dev) if isinstance(v, (int, float, np.generic))
        else xp.astype(xp.reshape(v, ()), dt) for v in values])
    return [float(v) for v in np.asarray(to_host(stacked))]


def check_views(backend: Backend) -> None:
    """Refuse a namespace whose reshaped slices do not write through to their base.

    The network keeps every parameter in one flat buffer with per-layer views (so the
    optimizer is a few whole-vector operations); the Array API leaves view semantics to
    the library. NumPy, CuPy, torch and array_api_strict alias (checked here once per
    namespace, on a 4-element probe); JAX, whose arrays are immutable, does not.
    """
    xp = backend.xp
    ok = _VIEWS_ALIAS.get(id(xp))
    if ok is None:
        try:
            base = xp.zeros(4, dtype=xp.float32, device=backend.device)
            view = xp.reshape(base[1:3], (2, 1), copy=False)
            view[...] = 1.0
            ok = float(to_host(xp.sum(base))) == 2.0
        except (TypeError, ValueError, AttributeError, NotImplementedError):
            ok = False
        _VIEWS_ALIAS[id(xp)] = ok
    if not ok:
        raise BackendError(f"backend: {backend.name}'s reshaped slices are not writable views "
                           "of their base array; chainrule's flat parameter buffer needs them")
