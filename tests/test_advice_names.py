"""Advice names only options that exist (issue 30).

Every ``--flag`` quoted in a string of ``src/chainrule`` (messages, help texts, docstrings)
must be an option of a ``chainrule`` command's parser: of the command a ``chainrule CMD``
in the same string names, else of the module's own command (``cli/lr_find.py`` →
``lr-find``), else of any command. Every setting a message tells the user to change
("raise max_categories", "clip gradients (clipnorm)") must be a key of the run
configuration (:data:`chainrule.runs.config.DEFAULTS`) or a flag; a Python keyword
written as one (``pass allow_nonfinite=True``) must be a parameter of a function of the
package.
"""

from __future__ import annotations

import argparse
import ast
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

from chainrule.cli import COMMANDS, build_parser
from chainrule.runs.config import DEFAULTS

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "chainrule"
SRC = PACKAGE  # where the reported paths are relative to

FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
COMMAND = re.compile(r"\bchainrule ([a-z][a-z-]*)")
#: A setting told to change: "raise max_categories", "lower the l2", "clip gradients
#: (clipnorm)" — a verb then an identifier, or a parenthesised identifier after one.
ADVICE = re.compile(r"(?<![\w-])(?:raise|lower|increase|decrease|reduce|set|clip gradients)"
                    r"(?: the)? (\(?)([a-z][a-z0-9]*(?:_[a-z0-9]+)*)\b(?![=.(])")
KEYWORD = re.compile(r"\bpass ([a-z][a-z0-9_]*)=")
#: Flags of other programs that messages quote, and why.
FOREIGN: dict[str, str] = {}


def strings(path: Path) -> Iterator[tuple[int, str]]:
    """Every string constant of a module; an f-string whole, each value as ``{…}``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parts = {id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr)
             for v in node.values}
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            yield node.lineno, "".join(str(v.value) if isinstance(v, ast.Constant) else "{…}"
                                       for v in node.values)
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and id(node) not in parts):
            yield node.lineno, node.value


@cache
def command_options() -> dict[str, frozenset[str]]:
    """Each command's option strings, from the parser ``chainrule`` builds."""
    out = {}
    for name in COMMANDS:
        parser = build_parser(name)
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        top = {s for a in parser._actions for s in a.option_strings}
        out[name] = frozenset(top | {s for a in sub.choices[name]._actions
                                     for s in a.option_strings})
    return out


@cache
def parameters() -> frozenset[str]:
    """Every parameter name of every function in the package."""
    names = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = node.args
                names |= {p.arg for p in [*a.posonlyargs, *a.args, *a.kwonlyargs]}
    return frozenset(names)


def own_command(path: Path) -> str | None:
    """``cli/lr_find.py`` → ``lr-find``; None outside ``cli/``."""
    if path.parent.name != "cli":
        return None
    name = path.stem.replace("_", "-")
    return name if name in COMMANDS else None


def flag_problems(path: Path) -> list[str]:
    options = command_options()
    anywhere = frozenset().union(*options.values())
    out = []
    mine = own_command(path)
    for line, text in strings(path):
        named = [(m.start(), m.group(1)) for m in COMMAND.finditer(text)
                 if m.group(1) in options]
        for m in FLAG.finditer(text):
            before = [c for at, c in named if at < m.start()]
            scope = before[-1] if before else mine  # the command last named before it
            allowed = options[scope] if scope else anywhere
            if m.group() not in allowed and m.group() not in FOREIGN:
                out.append(f"{path.relative_to(SRC)}:{line}: {m.group()} is no option of "
                           f"{scope or 'any command'}")
    return out


def key_problems(path: Path) -> list[str]:
    anywhere = frozenset().union(*command_options().values())
    out = []
    for line, text in strings(path):
        for paren, word in ADVICE.findall(text):
            if word in DEFAULTS or f"--{word.replace('_', '-')}" in anywhere:
                continue
            if "_" in word or (paren and word in parameters()):
                out.append(f"{path.relative_to(SRC)}:{line}: {word!r} is told to change but "
                           "is no config key or flag")
        for word in KEYWORD.findall(text):
            if word not in parameters():
                out.append(f"{path.relative_to(SRC)}:{line}: {word}= is no parameter")
    return out


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_every_flag_named_exists(path: Path) -> None:
    assert flag_problems(path) == []


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_every_setting_advised_exists(path: Path) -> None:
    assert key_problems(path) == []


def test_the_checks_catch_the_known_wrong_names(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The two wrong names issue 30 found, and a flag no command has, are caught; a real
    key, a real flag and a real keyword pass."""
    probe = tmp_path / "probe.py"
    probe.write_text('"lower the learning rate or clip gradients (clipnorm)"\n'
                     'f"drop it (--drop {1}) or raise max_categories"\n'
                     '"pass --no-such-flag"\n'
                     '"raise epochs, lower the l2, pass allow_nonfinite=True; --seed 1"\n'
                     '"pass no_such_keyword=True"\n')
    monkeypatch.setattr(__import__(__name__), "SRC", tmp_path)
    found = [p.split(": ", 1)[1] for p in key_problems(probe) + flag_problems(probe)]
    clipnorm = ([] if "clipnorm" in DEFAULTS else
                ["'clipnorm' is told to change but is no config key or flag"])
    assert found == [*clipnorm,
                     "'max_categories' is told to change but is no config key or flag",
                     "no_such_keyword= is no parameter",
                     "--no-such-flag is no option of any command"]
