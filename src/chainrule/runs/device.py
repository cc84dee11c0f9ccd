"""Where a run computes: a device name (``cpu``, ``cuda``, ``cuda:N``, ``auto``) and an
array library, as a :class:`~chainrule.engine.backend.Backend`."""

from __future__ import annotations

from ..engine.backend import Backend
from .errors import RunError


def training_backend(device: str = "cpu", backend: str | None = None) -> Backend:
    """Where a run computes.

    ``cpu``: NumPy (or ``backend``, e.g. torch on the CPU). ``cuda`` / ``cuda:N``: torch
    on that GPU, else CuPy; ``auto``: that GPU when one is found, else NumPy. A device or
    library that is missing is a :class:`~chainrule.engine.backend.BackendError` saying
    which.
    """
    from ..engine.backend import BackendError, get_backend

    if not isinstance(device, str) or not (device in ("cpu", "auto", "cuda") or (
            device.startswith("cuda:") and device[5:].isdigit())):
        raise RunError(f"--device: expected cpu, cuda, cuda:N or auto, got {device!r}")
    if device == "cpu":
        if backend == "cupy":
            raise RunError("--backend cupy: CuPy computes on a GPU; give --device cuda")
        return get_backend(backend or "numpy", "cpu" if backend == "torch" else None)
    index = int(device[5:]) if device.startswith("cuda:") else 0
    errors = []
    for name in [backend] if backend else ["torch", "cupy"]:
        if name == "numpy":
            raise RunError(f"--device {device}: the numpy backend runs on the CPU only; "
                           "use --backend torch or cupy")
        try:
            return get_backend(name, f"cuda:{index}" if name == "torch" else index)
        except BackendError as exc:
            errors.append(str(exc))
    if device == "auto":  # no GPU: the CPU (torch's, if asked for; else NumPy)
        return get_backend("torch", "cpu") if backend == "torch" else get_backend("numpy")
    raise BackendError(f"--device {device}: no usable GPU backend ({'; '.join(errors)})")


__all__ = ["training_backend"]
