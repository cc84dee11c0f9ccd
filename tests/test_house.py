"""The structure bars of the layout (issue 26), kept by CI: small files with one idea,
functions that fit a screen, a loop that only loops, a CLI that only parses and prints."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "chainrule"
FILES = sorted(p for p in SRC.rglob("*.py") if "static" not in p.parts)
MAX_FILE_LINES = 650
MAX_FUNCTION_LINES = 80


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def _span(node: ast.AST) -> int:
    return node.end_lineno - node.lineno + 1  # type: ignore[attr-defined, operator]


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_file_is_over_650_lines(path: Path) -> None:
    assert len(path.read_text(encoding="utf-8").splitlines()) <= MAX_FILE_LINES


def test_no_function_is_over_80_lines() -> None:
    long = [(f"{p.relative_to(SRC)}:{node.name}", _span(node)) for p in FILES
            for node in ast.walk(_tree(p))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and _span(node) > MAX_FUNCTION_LINES]
    assert long == []


def test_the_loop_class_and_the_train_command_stay_small() -> None:
    (trainer,) = [n for n in ast.walk(_tree(SRC / "training" / "loop.py"))
                  if isinstance(n, ast.ClassDef) and n.name == "Trainer"]
    assert _span(trainer) <= 200
    assert len((SRC / "cli" / "train.py").read_text(encoding="utf-8").splitlines()) <= 300
