"""The layout keeps its shape: the import-linter contract in pyproject.toml holds and names
every module, eager imports stay acyclic, the package root stays small, and
``import chainrule`` needs NumPy alone.

The contract ("Data flows one way", ``[tool.importlinter]``) is what says which wing may
import which; these tests make CI keep it. The cycle check reads the source with ``ast`` and
imports nothing, so it also holds for modules whose optional dependencies are missing.
"""

from __future__ import annotations

import ast
import graphlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "chainrule"

if sys.version_info >= (3, 11):
    import tomllib
else:  # the cli extra brings tomli on 3.10
    tomllib = pytest.importorskip("tomli")

#: modules that belong to no layer: the package itself (it re-exports every wing for users;
#: nothing inside imports it), the finder of the 0.1 paths (imports nothing of chainrule) and
#: the io package (re-exports io.model and the io primitives, which are placed one by one)
OUTSIDE_THE_LAYERS = {"chainrule", "chainrule._aliases", "chainrule.io"}


def _modules() -> dict[str, Path]:
    """Every module of the package, by dotted name, from the source tree."""
    names = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _layers() -> list[list[str]]:
    """The modules of each layer of the contract, top layer first."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["type"] == "layers"]
    return [[name.strip().strip("()") for name in layer.replace("|", ":").split(":")]
            for layer in contract["layers"]]


def test_import_linter_contract_is_kept():
    pytest.importorskip("importlinter")
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which(
        "lint-imports")
    assert lint, "import-linter is part of the test extra: pip install -e '.[test]'"
    result = subprocess.run([lint, "--no-cache", "--no-logo"], cwd=REPO, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_every_module_sits_in_a_layer():
    """A new wing or a new io module must be placed in the contract, or it is unchecked."""
    placed = [name for layer in _layers() for name in layer]
    unplaced = [m for m in _modules() if m not in OUTSIDE_THE_LAYERS
                and not any(m == p or m.startswith(p + ".") for p in placed)]
    assert not unplaced, f"add these to a layer in pyproject.toml's [tool.importlinter]: {unplaced}"


def _eager_imports(tree: ast.Module, module: str, is_package: bool) -> set[str]:
    """Dotted names imported when ``module`` runs: module-level statements (also inside
    ``if``/``try``/``with`` and class bodies), not function bodies nor ``if TYPE_CHECKING:``."""
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, ast.ClassDef):
                visit(node.body)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = module.split(".") if is_package else module.split(".")[:-1]
                if node.level:
                    base = base[: len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                found.add(target)
                found.update(f"{target}.{alias.name}" for alias in node.names)
            elif isinstance(node, (ast.If, ast.Try, ast.With)):
                for block in (node.body, getattr(node, "orelse", []),
                              getattr(node, "finalbody", [])):
                    visit(block)
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)

    visit(tree.body)
    return found


def test_no_eager_import_cycle():
    """The same figure as house_metrics' eager_import_cycles: module-level imports between
    chainrule's modules form no cycle (a package importing its own submodules to re-export
    them is not one)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        deps = set()
        for target in _eager_imports(ast.parse(path.read_text()), module,
                                     path.name == "__init__.py"):
            parts = target.split(".")
            for end in range(len(parts), 0, -1):  # the longest prefix that is a module
                name = ".".join(parts[:end])
                if name in modules:
                    if name != module and not name.startswith(module + "."):
                        deps.add(name)
                    break
        graph[module] = deps
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as error:
        # graphlib lists each module before one that imports it; read it the other way
        pytest.fail(f"eager import cycle (-> imports): {' -> '.join(reversed(error.args[1]))}")


def test_package_root_has_at_most_8_modules():
    root = sorted(p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    assert len(root) <= 8, root


def test_import_chainrule_loads_no_third_party_package_but_numpy():
    """tests/test_lint.py names the heavy packages that must stay out; this one says the
    same the other way round: whatever ``import chainrule`` brings in beyond the standard
    library is NumPy."""
    code = ("import sys; before = set(sys.modules); import chainrule; "
            "top = {m.partition('.')[0] for m in set(sys.modules) - before}; "
            "print(sorted(m for m in top - set(sys.stdlib_module_names) - {'chainrule', 'numpy'}"
            # the runtime modules that NumPy's Cython extensions (numpy.random) register
            " if m != 'cython_runtime' and not m.startswith('_cython_')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout.strip()
    assert out == "[]"
