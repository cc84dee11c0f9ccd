"""docs/check.md shows what chainrule prints today.

The learner's session on the page (the template, a wrong backward, the diagnosis, the
fix, the congratulation) and the hang are rerun command by command: a code block marked
``<!-- file: NAME -->`` is written to NAME (a ``diff`` block is applied to it), and each
``$ chainrule …`` line of a console block must print exactly the lines under it, with
``$ echo $?`` its exit status. Every other verdict the page quotes is produced again from
the function it describes.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from chainrule.cli import main
from chainrule.notes import check
from chainrule.notes.mistakes import MISTAKES, applied

DOC = Path(__file__).resolve().parents[1] / "docs" / "check.md"
FENCE = re.compile(r"(?:<!-- file: (\S+) -->\n)?```(\w*)\n(.*?)```", re.S)


def _blocks() -> list[tuple[str | None, str, str]]:
    """(file it is, language, text) of every fenced block of the page, in order."""
    text = DOC.read_text(encoding="utf-8")
    return [(m.group(1), m.group(2), m.group(3)) for m in FENCE.finditer(text)]


def _masked(text: str) -> str:
    """The digits of a relative error at rounding level (~1e-16) depend on the BLAS."""
    return re.sub(r"largest relative error is \S+", "largest relative error is …", text)


def _apply_diff(path: Path, diff: str) -> None:
    lines = diff.splitlines()
    old = "\n".join(line[1:] for line in lines if line.startswith("-"))
    new = "\n".join(line[1:] for line in lines if line.startswith("+"))
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"the diff's - lines are not in {path.name} once"
    path.write_text(text.replace(old, new), encoding="utf-8")


def _session(block: str) -> list[tuple[str, list[str]]]:
    """A console block as (command, the lines it prints)."""
    steps: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            assert steps, f"output before any command: {line!r}"
            steps[-1][1].append(line)
    return steps


def test_the_pages_sessions_print_what_chainrule_prints(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    status, commands = None, []
    for name, language, text in _blocks():
        if name is not None:
            if language == "diff":
                _apply_diff(tmp_path / name, text)
            else:
                (tmp_path / name).write_text(text, encoding="utf-8")
            continue
        if not text.startswith("$ "):
            continue
        for command, expected in _session(text):
            commands.append(command)
            if command == "echo $?":
                assert expected == [str(status)]
                continue
            argv = shlex.split(command)
            assert argv[0] == "chainrule", command
            status = main(argv[1:])
            out = capsys.readouterr()
            printed = (out.out + out.err).rstrip("\n")
            assert _masked(printed) == _masked("\n".join(expected)), command
            error = re.search(r"largest relative error is (\S+)", printed)
            assert error is None or float(error.group(1)) < 1e-12
    # the session the page walks through: template, the wrong function, the fix, the hang
    assert commands == ["chainrule check --template", "chainrule check backward.py",
                        "echo $?", "chainrule check backward.py", "echo $?",
                        "chainrule check --time-limit 2 hang.py"]


def _quoted(first_line: str) -> str:
    """The page's block that starts with ``first_line``."""
    found = [text.rstrip("\n") for _, _, text in _blocks() if text.startswith(first_line)]
    assert len(found) == 1, first_line
    return found[0]


def test_the_single_factor_verdict_is_what_check_says_with_seed_1() -> None:
    page = _quoted("network 1 of 6 (1 layer, widths 3-3")
    assert check(applied(MISTAKES["no_g_prime"]), seed=1).text == page


def test_the_two_mistakes_verdict_is_what_check_says() -> None:
    from chainrule.notes.mistakes import Case, backward

    def learner(w: list[Any], b: list[Any], a0: Any, y: Any, g: Any, g_prime: Any) -> Any:
        grad_w, grad_b = backward(Case(w, b, a0, y, "g", g, g_prime))
        return [None] + [-x / 2 for x in grad_w[1:]], [None] + [-x / 2 for x in grad_b[1:]]

    page = _quoted("layer 1: 2 mistakes at once")
    assert page in check(learner).text.splitlines()


def test_the_one_line_messages_quoted_are_what_check_says(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = DOC.read_text(encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    Path("backward.py").write_text(
        "def backward(w, b, a0, y, g, g_prime):\n" + "    x = 0\n" * 10
        + "    return len(w) / x\n", encoding="utf-8")  # the division is on line 12
    cases = {
        "your backward raised ZeroDivisionError: division by zero (backward.py, line 12)":
            "backward.py",
        "backward returned a float; expected (grad_w, grad_b): two lists shaped like w and b":
            lambda w, b, *rest: 3.0,
        "grad_w has 3 entries and grad_b 3; expected 2 each: [None, then one per layer 1], "
        "like w and b": lambda w, b, *rest: ([None, w[1], w[1]], [None, b[1], b[1]]),
        "layer 1: grad_w[1] is shape (1, 4); expected shape (4, 4), like w[1]":
            lambda w, b, *rest: ([None, w[1][:1]], b),
        "your backward ended the process running it (exit status 0) instead of returning — "
        "an os._exit? return grad_w, grad_b instead": lambda *args: os._exit(0),
        "your layer-1 numbers are all 0 (is anything assigned to grad_w[1] and grad_b[1]?)":
            lambda w, b, *rest: ([None, 0 * w[1]], [None, 0 * b[1]]),
    }
    for message, backward in cases.items():
        assert f"`{message}`" in doc
        assert message in check(backward).text
