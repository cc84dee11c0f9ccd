"""``chainrule exercise [--kind K | --sequence] [--seed N] [--show-answer]``: backprop
exercises on a small seeded network, checked as you answer.

Answers are read from stdin, one a line: a number is graded (exact / close / wrong, by
how much, and the missing factor when it is the right answer with one left out);
``hint`` reveals the next chain-rule factor; ``answer`` (or ``skip``) shows the answer
and moves on; ``quit`` or end of input stops, with exit status 0. Without ``--kind``
the whole graded sequence runs, from the output layer inward. ``--show-answer`` prints
the teacher's key (answer, hints, the mistakes it diagnoses) and reads nothing.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from collections import Counter
from typing import TextIO

from ..notes.exercises import KINDS, Exercise, generate, sequence

COMMANDS = "a number, `hint`, `answer` (or `skip`), or `quit`"


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    which = p.add_mutually_exclusive_group()
    which.add_argument("--kind", choices=KINDS, default=None,
                       help="one exercise of this kind (default: the whole sequence)")
    which.add_argument("--sequence", action="store_true",
                       help="every kind on one network, from the output layer inward "
                            "(the default)")
    p.add_argument("--seed", type=_seed, default=None,
                   help="the same seed gives the same exercise (default: a random one, shown)")
    p.add_argument("--show-answer", action="store_true",
                   help="print the answers, hints and diagnosed mistakes; read nothing")


def _key(ex: Exercise) -> str:
    lines = [f"answer: {ex.answer:.{ex.digits}g}   ({ex.answer!r})"]
    lines += [f"hint {n}: {h}" for n, h in enumerate(ex.hints, 1)]
    lines += [f"mistake: {m.value:.{ex.digits}g} is the answer {m.says}" for m in ex.mistakes]
    return "\n".join(lines)


def _number(word: str) -> float | None:
    try:
        return float(word.replace("−", "-"))  # the notes' minus sign, pasted
    except ValueError:
        return None


def _ask(ex: Exercise, stdin: TextIO) -> str | None:
    """Read answers to ``ex`` until one is accepted or skipped: its grade ("exact",
    "close", "skipped"), or None at end of input or ``quit``."""
    shown = 0
    while True:
        print("> ", end="", flush=True)
        line = stdin.readline()
        if not line:
            print()
            return None
        word = line.strip().lower()
        if not word:
            continue
        if word in ("quit", "q", "exit"):
            return None
        if word == "hint":
            if shown < len(ex.hints):
                print(f"hint {shown + 1}/{len(ex.hints)}: {ex.hints[shown]}")
                shown += 1
            else:
                print("no more hints: type `answer` to see it")
            continue
        if word in ("answer", "skip"):
            print(f"answer: {ex.answer:.{ex.digits}g}")
            return "skipped"
        value = _number(word)
        if value is None:
            print(f"expected {COMMANDS}; got {line.strip()!r}")
            continue
        verdict = ex.check(value)
        print(verdict)
        if verdict.hint is not None:
            print(f"hint: {verdict.hint}")
        if verdict.accepted:
            return verdict.grade


def run(args: argparse.Namespace) -> int:
    seed = args.seed if args.seed is not None else secrets.randbelow(10_000)
    exercises = [generate(args.kind, seed)] if args.kind else sequence(seed)
    again = f"--kind {args.kind}" if args.kind else "--sequence"
    print(f"seed {seed}: `chainrule exercise {again} --seed {seed}` gives the same again")
    if not args.show_answer:
        print(f"answer each question with {COMMANDS}")
    tally: Counter[str] = Counter()
    network = None
    for number, ex in enumerate(exercises, 1):
        if ex.describe() != network:
            network = ex.describe()
            print(f"\n{network}")
        print(f"\n[{number}/{len(exercises)}] {ex.kind}: {ex.prompt()}")
        if args.show_answer:
            print(_key(ex))
            continue
        grade = _ask(ex, sys.stdin)
        if grade is None:
            break
        tally[grade] += 1
    if not args.show_answer:
        done = sum(tally.values())
        print(f"\n{done} of {len(exercises)} done: {tally['exact']} exact, {tally['close']} "
              f"close, {tally['skipped']} skipped")
    return 0
