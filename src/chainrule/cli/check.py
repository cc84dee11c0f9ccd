"""``chainrule check FILE.py``: grade your own ``backward(w, b, a0, y, g, g_prime)`` and
be told which mistake it makes; ``chainrule check --template [FILE.py]`` writes the file
to start from (default ``backward.py``; an existing file is never overwritten).

Exit status 0 when the function is right, 1 when it is not (or cannot be run).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from . import CLIError


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _seed(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return int(text)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", nargs="?", default=None, metavar="FILE.py",
                   help="the Python file that defines backward(w, b, a0, y, g, g_prime)")
    p.add_argument("--template", action="store_true",
                   help="write the template to FILE.py (default backward.py) and stop")
    p.add_argument("--seed", type=_seed, default=0,
                   help="which seeded networks (default 0)")
    p.add_argument("--time-limit", type=_positive, default=10.0, metavar="SECONDS",
                   help="stop the function after this long, all networks together (default 10)")


def run(args: argparse.Namespace) -> int:
    from ..notes.checker import TEMPLATE, check

    if args.template:
        path = Path(args.file or "backward.py")
        try:
            with open(path, "x", encoding="utf-8") as f:
                f.write(TEMPLATE.format(name=path.name))
        except FileExistsError:
            raise CLIError(f"{path}: the file exists; give another name "
                           f"(chainrule check --template other.py)") from None
        print(f"wrote {path}: fill in backward, then run  chainrule check {path}")
        return 0
    if args.file is None:
        raise CLIError("FILE.py: expected the file that defines backward (or --template "
                       "to write one)")
    path = Path(args.file)
    if path.is_dir():
        raise CLIError(f"{path}: a directory; expected the .py file that defines backward")
    if not path.is_file():
        raise CLIError(f"{path}: no such file")
    report = check(path, seed=args.seed, time_limit=args.time_limit)
    print(report)
    return 0 if report.passed else 1
