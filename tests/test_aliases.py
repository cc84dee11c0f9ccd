"""chainrule 0.1's import paths keep working until 0.3 (src/chainrule/_aliases.py).

Every flat module of 0.1 resolves under its old name to the *same module object* as its
new home in a wing; the old modules that became packages (``chainrule.io``,
``chainrule.health``, ...) still have their 0.1 public names; importing an old path that
``import chainrule`` did not load already says where it moved with a DeprecationWarning;
and ``python -m chainrule.compiled`` still runs the file it ran in 0.1.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import warnings

import pytest

import chainrule
from chainrule._aliases import MOVED

#: the 0.1 modules that are packages of the same name in 0.2, and their 0.1 public names
BECAME_PACKAGES = {
    "chainrule.io": [
        "FORMAT", "FORMAT_VERSION", "MAX_HEADER_BYTES", "MAX_TENSORS", "MAX_NDIM",
        "MAX_TENSOR_BYTES", "MAX_LAYERS", "MAX_UNITS", "METADATA_KEYS",
        "OPTIONAL_METADATA_KEYS", "ModelFileError", "dumps_safetensors", "loads_safetensors",
        "BIT_GENERATORS", "METADATA_SCHEMA", "TENSOR_SCHEMA", "model_to_bytes", "save",
        "LoadedModel", "read_model", "load",
    ],
    "chainrule.health": ["LayerHealth", "Check", "layer_health", "HealthMonitor"],
    "chainrule.training": [
        "Trainer", "n_correct", "n_correct_array", "evaluate_arrays", "fit", "prepare_fit",
    ],
    "chainrule.distributed": [
        "remove_stale_shm", "rank", "world_size", "is_root", "share", "install_excepthook",
        "abort_on_error", "DistributedTrainer", "fit",
    ],
    "chainrule.onnx": ["OPSET", "Graph", "to_onnx", "export", "run"],
}

#: names the package exports that share a name with a 0.1 module: they stay the function
FUNCTIONS_NAMED_LIKE_MODULES = ["explain", "gradcheck", "lr_find"]


def _quietly(name: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return importlib.import_module(name)


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_path_is_the_same_module_object(old):
    module = _quietly(f"chainrule.{old}")
    assert module is importlib.import_module(f"chainrule.{MOVED[old]}")
    assert sys.modules[f"chainrule.{old}"] is module


def test_old_submodule_paths_resolve():
    """The 0.1 package ``chainrule.compiled`` moved whole: its submodules resolve too."""
    for name in ("derive", "codegen", "rows"):
        old = _quietly(f"chainrule.compiled.{name}")
        assert old is importlib.import_module(f"chainrule.training.compiled.{name}")


@pytest.mark.parametrize("package", sorted(BECAME_PACKAGES))
def test_modules_that_became_packages_keep_their_names(package):
    module = importlib.import_module(package)
    missing = [name for name in BECAME_PACKAGES[package] if not hasattr(module, name)]
    assert not missing, f"{package} lost {missing}"


@pytest.mark.parametrize("name", FUNCTIONS_NAMED_LIKE_MODULES)
def test_package_attribute_stays_the_function(name):
    _quietly(f"chainrule.{name}")  # importing the old module path must not rebind it
    assert callable(getattr(chainrule, name))
    assert getattr(chainrule, name) is getattr(sys.modules[f"chainrule.{MOVED[name]}"], name)


def test_lazily_imported_old_path_warns_where_it_moved():
    """In a fresh interpreter: every old path that ``import chainrule`` did not load warns
    once, naming the new path; it is still the same module object."""
    code = """if True:
        import importlib, sys, warnings
        import chainrule
        from chainrule._aliases import MOVED
        lazy = [old for old, new in MOVED.items() if f"chainrule.{new}" not in sys.modules]
        assert lazy, "no old path is imported lazily any more"
        for old in lazy:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                module = importlib.import_module(f"chainrule.{old}")
            new = f"chainrule.{MOVED[old]}"
            assert module is sys.modules[new], old
            said = [str(w.message) for w in caught if w.category is DeprecationWarning
                    and str(w.message).startswith(f"chainrule.{old} ")]
            assert len(said) == 1 and f"moved to {new}" in said[0], (old, said)
        print(len(lazy))
    """
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) >= 1


def test_python_m_old_compiled_path_runs_its_main():
    """``python -m chainrule.compiled`` runs training/compiled/__main__.py. With the compiled
    step switched off it stops at once with its own message (compiling takes seconds)."""
    env = {**os.environ, "CHAINRULE_COMPILED": "0"}
    run = subprocess.run([sys.executable, "-W", "default::DeprecationWarning", "-m",
                          "chainrule.compiled"], capture_output=True, text=True, env=env,
                         timeout=120)
    assert run.returncode == 1, run.stderr
    assert "chainrule.compiled: numba is not installed or the step is switched off" in run.stderr
    assert "moved to chainrule.training.compiled" in run.stderr
