"""Load a campaign script of bench/ as a module, for the tests that run a slice of it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[1] / "bench"


def load(name: str) -> ModuleType:
    """``bench/<name>.py`` as the module ``chainrule_bench_<name>``, loaded once (registered
    in ``sys.modules``, where dataclasses look their module up)."""
    module_name = f"chainrule_bench_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    # a script that puts bench/ on sys.path for its own helpers (table_bench) must not
    # leave it there: bench/distributed.py would then shadow dask's `distributed` for
    # every later test (tests/test_dask.py failed only after the bench tests had run)
    path = list(sys.path)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = path
    return module
