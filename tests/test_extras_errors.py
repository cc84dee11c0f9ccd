"""Without an extra, its import is one line naming it (chainrule._extras), not a
ModuleNotFoundError from deep inside chainrule. Absent packages are simulated with
``sys.modules[name] = None`` (Python's "import halted"), the chainrule modules that
import them set aside so they are imported afresh."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import pytest
import tomllib

from chainrule._extras import EXTRA_OF, MissingExtraError, missing_extra

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def _without(monkeypatch: pytest.MonkeyPatch, missing: str, package: str) -> None:
    """``missing`` not installed, and ``package`` (with its submodules) not yet imported;
    monkeypatch puts everything back."""
    importlib.import_module(package)  # loaded first, so every module set aside comes back
    for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        monkeypatch.delitem(sys.modules, name)
    for name in [m for m in sys.modules if m == missing or m.startswith(missing + ".")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, missing, None)


@pytest.mark.parametrize(("package", "missing", "names"), [
    ("chainrule.sklearn", "sklearn", ("scikit-learn", "sklearn")),
    ("chainrule.sklearn", "scipy", ("scipy", "sklearn")),
    ("chainrule.onnx", "onnx", ("onnx", "onnx")),
    ("chainrule.distributed", "mpi4py", ("mpi4py", "mpi")),
    ("chainrule.playground.server", "starlette", ("starlette", "playground")),
])
def test_an_edge_without_its_extra_names_the_extra(monkeypatch, package, missing, names):
    _without(monkeypatch, missing, package)
    with pytest.raises(MissingExtraError) as info:
        importlib.import_module(package)
    distribution, extra = names
    assert str(info.value) == (f"{package} needs {distribution}, which is not installed: "
                               f'pip install "chainrule[{extra}]"')
    assert "\n" not in str(info.value)
    assert info.value.__cause__ is None  # no chained traceback under the line
    assert info.value.__suppress_context__ or info.value.__context__ is None
    assert isinstance(info.value, ImportError)  # `except ImportError` still catches it


def test_from_import_without_the_extra(monkeypatch):
    _without(monkeypatch, "sklearn", "chainrule.sklearn")
    with pytest.raises(ImportError, match=re.escape('pip install "chainrule[sklearn]"')):
        from chainrule.sklearn import MLPClassifier  # noqa: F401


def test_plots_without_matplotlib_name_the_cli_extra(monkeypatch):
    from chainrule.health import plots

    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingExtraError, match=re.escape(
            "chainrule's plots needs matplotlib, which is not installed: "
            'pip install "chainrule[cli]"')):
        plots.plot_history({"loss": [1.0, 0.5]}, "unused.png")


def test_another_import_error_is_not_dressed_as_a_missing_extra(monkeypatch):
    _without(monkeypatch, "chainrule.sklearn._params", "chainrule.sklearn")
    with pytest.raises(ImportError) as info:
        importlib.import_module("chainrule.sklearn")
    assert not isinstance(info.value, MissingExtraError)
    assert missing_extra(ModuleNotFoundError("x", name="chainrule.foo"), "f") is None


def _requirement_name(req: str) -> str:
    return re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0].lower()


def test_the_table_of_extras_matches_pyproject():
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    named = {extra: {_requirement_name(r) for r in reqs} for extra, reqs in extras.items()}
    for module, (distribution, extra) in EXTRA_OF.items():
        assert distribution in named[extra], f"{module}: {distribution} is not in [{extra}]"
    covered = {extra for _, extra in EXTRA_OF.values()}
    # test and bench install the tools around the library, which never imports them itself
    assert covered == set(extras) - {"test", "bench"}, "an extra without a package in EXTRA_OF"


def test_onnx_run_without_onnxruntime_names_the_onnx_extra(monkeypatch, tmp_path):
    import chainrule as cr
    from chainrule.onnx import export, run

    path = tmp_path / "m.onnx"
    export(cr.MLP([2, 3, 1], seed=0), path)
    monkeypatch.setattr("importlib.util.find_spec",
                        lambda name, *a: None if name == "onnxruntime" else
                        importlib.machinery.PathFinder.find_spec(name))
    with pytest.raises(MissingExtraError, match=re.escape(
            'chainrule.onnx.run needs onnxruntime, which is not installed: '
            'pip install "chainrule[onnx]"')):
        run(path, [[0.0, 1.0]])
