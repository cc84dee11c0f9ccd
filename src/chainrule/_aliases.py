"""The module paths of chainrule 0.1's flat layout, kept working for one release.

chainrule 0.1 kept 36 modules side by side at the package root; 0.2 groups them into wings
(``engine/``, ``training/``, ``notes/``, ``health/``, ``io/``, ``runs/``, ``onnx/``,
``distributed/``). ``import chainrule.network`` and ``python -m chainrule.compiled`` still
work until 0.3: each old path is the *same module object* as its new home (so
``isinstance`` checks and monkeypatching see one module), found by :class:`AliasFinder`
and announced with a :class:`DeprecationWarning`. The old paths of modules that the package
itself has already imported are registered in ``sys.modules`` at ``import chainrule``; the
others are imported on first use, so ``import chainrule`` still loads NumPy alone.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from types import ModuleType

from ._warnings import warn

#: old path (below ``chainrule.``) -> new path (below ``chainrule.``)
MOVED = {
    "activations": "engine.activations",
    "backend": "engine.backend",
    "initializers": "engine.initializers",
    "layers": "engine.layers",
    "losses": "engine.losses",
    "network": "engine.network",
    "scaler": "table.scaler",
    "validation": "engine.validation",
    "workspace": "engine.workspace",
    "callbacks": "training.callbacks",
    "optimizers": "training.optimizers",
    "schedules": "training.schedules",
    "weights": "training.weights",
    "kernels": "training.kernels",
    "compiled": "training.compiled",
    "explain": "notes.explain",
    "explain_latex": "notes.explain_latex",
    "graph": "notes.graph",
    "graph_draw": "notes.graph_draw",
    "gradcheck": "notes.gradcheck",
    "exercises": "notes.exercises",
    "diagnosis": "health.diagnosis",
    "lr_find": "health.lr_find",
    "report": "health.report",
    "plots": "health.plots",
    "atomic": "io.atomic",
    "errors": "io.errors",
    "checkpoint": "runs.checkpoint",
    "onnx_table": "onnx.encoder",
}


def new_name(fullname: str) -> str | None:
    """The new dotted name of an old one (``chainrule.compiled.rows`` ->
    ``chainrule.training.compiled.rows``), or None if ``fullname`` did not move."""
    parts = fullname.split(".")
    if len(parts) < 2 or parts[0] != "chainrule" or parts[1] not in MOVED:
        return None
    return ".".join(["chainrule", MOVED[parts[1]], *parts[2:]])


class _SameModule(importlib.abc.Loader):
    """Loads an old path as the module already imported under its new one."""

    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(self.target)

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the module was executed under its new name."""


class AliasFinder(importlib.abc.MetaPathFinder):
    """Finds ``chainrule.<old path>`` and hands back the module at its new path."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        new = new_name(fullname)
        if new is None:
            return None
        warn(f"{fullname} moved to {new} in chainrule 0.2; the old path goes in 0.3",
             DeprecationWarning)
        real = importlib.util.find_spec(new)
        if real is None:
            return None
        if fullname.endswith(".__main__") and real.origin is not None:
            # ``python -m chainrule.compiled``: runpy executes the file itself, so give it
            # the real file under the old name.
            return importlib.util.spec_from_file_location(fullname, real.origin)
        spec = importlib.machinery.ModuleSpec(fullname, _SameModule(new))
        spec.submodule_search_locations = real.submodule_search_locations
        return spec


def install() -> None:
    """Register the old paths of already-imported modules and the finder for the rest."""
    package = sys.modules["chainrule"]
    for old, new in MOVED.items():
        module = sys.modules.get(f"chainrule.{new}")
        if module is not None:
            sys.modules.setdefault(f"chainrule.{old}", module)
            if not hasattr(package, old):  # chainrule.explain stays the function
                setattr(package, old, module)
    if not any(isinstance(finder, AliasFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, AliasFinder())
