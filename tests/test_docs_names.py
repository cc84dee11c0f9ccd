"""Every ``chainrule.…`` name that README.md and docs/*.md mention resolves: the longest
prefix that imports as a module, then attributes. Old 0.1 paths count (they resolve through
chainrule._aliases until 0.3), so a page may keep them; a name that resolves nowhere is a
broken reference for the reader."""

from __future__ import annotations

import importlib
import re
import warnings
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", REPO / "CHANGELOG.md", *sorted((REPO / "docs").glob("*.md"))]
DOTTED = re.compile(r"(?<![\w./-])chainrule(?:\.[A-Za-z_]\w*)+")

#: dotted words that are not Python names
NOT_NAMES = {
    "chainrule.mlp",  # the model file's `format` metadata value (docs/cli.md)
}


def _names() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for page in PAGES:
        for name in DOTTED.findall(page.read_text()):
            if name not in NOT_NAMES:
                found.setdefault(name, []).append(page.name)
    return found


def resolve(name: str) -> object:
    """The object ``name`` refers to: import its longest module prefix, getattr the rest."""
    parts = name.split(".")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # old paths are allowed here
        for end in range(len(parts), 0, -1):
            module_name = ".".join(parts[:end])
            try:
                obj = importlib.import_module(module_name)
            except ModuleNotFoundError as error:
                if error.name is not None and not error.name.startswith("chainrule"):
                    raise  # an optional dependency is missing: not the page's fault
                continue
            for attribute in parts[end:]:
                obj = getattr(obj, attribute)
            return obj
    raise ModuleNotFoundError(name)


def test_the_pages_mention_names():
    assert len(_names()) >= 20


@pytest.mark.parametrize("name", sorted(_names()))
def test_documented_name_resolves(name):
    try:
        resolve(name)
    except (ImportError, AttributeError) as error:
        pytest.fail(f"{name} (in {', '.join(sorted(set(_names()[name])))}): {error!r}")
