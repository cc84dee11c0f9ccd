"""The ``chainrule`` command: one module per subcommand, imported only when used.

Every subcommand module exposes ``add_arguments(parser)`` and ``run(args) -> int``.
Exit status: 0 success, 2 usage error (argparse), 1 runtime error, reported as one
line ``error: …`` on stderr (the full traceback only with ``--debug``; an exception
that is no user error — a bug — says so and points at ``--debug``), 130 after Ctrl-C,
143 after SIGTERM.

Warnings are lines too: ``warning: …``, one each, never Python's two-line
``file:line: Category: …`` form; NumPy's floating-point warnings (overflow, invalid
value, division by zero) are counted and, when the command succeeds, summed up in one
line at the end (with ``--debug``, Python shows every warning as usual).

SIGTERM (and SIGHUP) raise :class:`Terminated`, a ``KeyboardInterrupt``, so ``finally``
blocks run: temporary files are removed and ``train`` records its run as interrupted, as
on Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import re
import signal
import sys
import threading
import traceback
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from types import FrameType

#: Subcommand name → (module, one-line help). Modules are imported lazily, so
#: ``chainrule info`` never pays for matplotlib and a missing optional module only
#: breaks its own command.
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("chainrule.cli.train", "train a network and write a run directory"),
    "evaluate": ("chainrule.cli.evaluate", "test-set report of a saved model"),
    "predict": ("chainrule.cli.predict", "predictions of a saved model for a CSV/npz file"),
    "explain": ("chainrule.cli.explain", "the chain-rule factors of one weight, with numbers"),
    "diagnose": ("chainrule.cli.diagnose", "why isn't it learning? health verdicts of a "
                 "saved model"),
    "lr-find": ("chainrule.cli.lr_find", "learning-rate range test: a suggested rate"),
    "graph": ("chainrule.cli.graph", "the computation graph of one sample as SVG or DOT, "
              "with every value and gradient"),
    "gradcheck": ("chainrule.cli.gradcheck", "compare backprop with finite differences"),
    "exercise": ("chainrule.cli.exercise", "backprop exercises on a seeded network, checked"),
    "check": ("chainrule.cli.check", "grade your own backward(): which mistake, with numbers"),
    "info": ("chainrule.cli.info", "architecture, parameters and training summary of a model"),
    "export": ("chainrule.cli.export", "export a saved model (ONNX)"),
    "playground": ("chainrule.cli.playground", "train live in the browser"),
}


class CLIError(Exception):
    """A runtime error with a message meant for the user (exit status 1)."""


class Terminated(KeyboardInterrupt):
    """A termination signal (SIGTERM, SIGHUP) raised as an exception in the main thread,
    so cleanup runs as after Ctrl-C; the exit status is 128 + the signal number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def exit_status(exc: KeyboardInterrupt) -> int:
    """The exit status after ``exc``: 128 + the signal number (130 after Ctrl-C)."""
    return 128 + int(exc.signum if isinstance(exc, Terminated) else signal.SIGINT)


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    signal.signal(signum, signal.SIG_DFL)  # a second signal while cleaning up ends it
    raise Terminated(signum)


@contextlib.contextmanager
def signals_as_exceptions() -> Iterator[None]:
    """SIGTERM and SIGHUP raise :class:`Terminated` while inside (main thread only; a
    handler someone else installed is left alone); the previous handlers come back."""
    previous: dict[int, object] = {}
    if threading.current_thread() is threading.main_thread():
        for name in ("SIGTERM", "SIGHUP"):
            signum = getattr(signal, name, None)
            if signum is not None and signal.getsignal(signum) in (signal.SIG_DFL, None):
                previous[signum] = signal.signal(signum, _raise_terminated)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]


#: NumPy's floating-point warnings: "overflow encountered in matmul", …
_FLOATING = re.compile(r"^(overflow|underflow|invalid value|divide by zero) encountered in ")
#: An error or warning line longer than this keeps its start and end, and says how much
#: was left out.
MAX_LINE = 2000


def one_line(message: str) -> str:
    """``message`` as one bounded line: line breaks and control characters escaped, the
    middle of a very long message left out."""
    text = "".join(c if c.isprintable() or c == "\t" else repr(c)[1:-1] for c in message)
    if len(text) > MAX_LINE:
        cut = len(text) - MAX_LINE * 3 // 4
        text = (f"{text[: MAX_LINE // 2]} … [{cut} characters left out] … "
                f"{text[-MAX_LINE // 4:]}")
    return text


@contextlib.contextmanager
def warnings_as_lines() -> Iterator[Counter[str]]:
    """Inside, every warning shown is one line ``warning: …`` on stderr; NumPy's
    floating-point warnings are counted in the yielded Counter (by kind) instead."""
    floating: Counter[str] = Counter()

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: object = None, line: str | None = None) -> None:
        text = str(message)
        m = _FLOATING.match(text)
        if m is not None and issubclass(category, RuntimeWarning):
            floating[m.group(1)] += 1
            return
        print(f"warning: {one_line(text)}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield floating


def _floating_summary(floating: Counter[str]) -> str:
    kinds = ", ".join(f"{kind} ({n} time{'s' if n > 1 else ''})" if n > 1 else kind
                      for kind, n in sorted(floating.items()))
    return (f"warning: the arithmetic met {kinds}: some numbers went past what the model's "
            "dtype holds, so results may be inaccurate; check the inputs for extreme values "
            "(rerun with --debug to see where)")


#: Exceptions that carry a message for the user, with chainrule's own types; any other
#: (a TypeError, KeyError, … from deep inside) is a bug, and says so.
_USER_ERRORS = (ValueError, OSError, CLIError, MemoryError, RecursionError)


def error_line(exc: BaseException) -> str:
    """The one line ``error: …`` the command prints for ``exc`` (without ``--debug``)."""
    message = str(exc) or type(exc).__name__
    from ..io.atomic import FileWriteError

    if isinstance(exc, FileWriteError):  # "{path}: cannot write the file (reason)"
        pass
    elif isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        # A raw one from deep inside ("[Errno 36] File name too long: '…'"): path and reason.
        message = f"{os.fsdecode(exc.filename)}: {exc.strerror}"
    elif isinstance(exc, (OSError, MemoryError)) and not isinstance(exc, FileNotFoundError):
        message = f"{type(exc).__name__}: {message}"
    elif not (isinstance(exc, _USER_ERRORS) or type(exc).__module__.startswith("chainrule")):
        message = (f"{type(exc).__name__}: {message} (an internal error of chainrule; rerun "
                   "with --debug for the traceback and report it)")
    return f"error: {one_line(message)}"


def _version() -> str:
    from .._version import __version__

    return f"chainrule {__version__}"


def build_parser(command: str | None) -> argparse.ArgumentParser:
    """The parser, with the options of ``command`` (only that module is imported)."""
    parser = argparse.ArgumentParser(
        prog="chainrule",
        description="Multilayer perceptrons trained by backpropagation. "
        "Start with: chainrule train",
    )
    parser.add_argument("--version", action="version", version=_version())
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show the full traceback on errors")
        if name == command:
            try:
                module = importlib.import_module(module_name)
            except ImportError as exc:
                raise CLIError(f"the {name!r} command is not available ({exc}); reinstall "
                               "chainrule with its extras: pip install 'chainrule[cli]'") from exc
            module.add_arguments(p)
            p.set_defaults(_run=module.run)
    return parser


def _command(argv: Sequence[str]) -> str | None:
    """The subcommand named in argv: the first word that is not an option."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    with signals_as_exceptions():
        return _main(argv)


def _main(argv: list[str]) -> int:
    debug = "--debug" in argv
    if debug:
        return _run(argv, debug)
    with warnings_as_lines() as floating:
        status = _run(argv, debug)
    if status == 0 and floating:
        print(_floating_summary(floating), file=sys.stderr)
    return status


def _run(argv: list[str], debug: bool) -> int:
    try:
        parser = build_parser(_command(argv))
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
            return int(exc.code) if isinstance(exc.code, int) else 2
        if args.command is None:
            parser.print_help(sys.stderr)
            return 2
        return int(args._run(args))
    except KeyboardInterrupt as exc:  # Ctrl-C, or Terminated (SIGTERM, SIGHUP)
        signum = exc.signum if isinstance(exc, Terminated) else signal.SIGINT
        print("interrupted" if signum == signal.SIGINT else
              f"terminated ({signal.Signals(signum).name})", file=sys.stderr)
        return exit_status(exc)
    except BrokenPipeError:  # e.g. `chainrule info --json | head`: the reader left, stay quiet
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # so the flush at exit cannot fail again
        except (OSError, ValueError, AttributeError):
            pass
        return 1
    except Exception as exc:  # every runtime error becomes one line, unless --debug
        if debug:
            traceback.print_exc()
        else:
            print(error_line(exc), file=sys.stderr)
        return 1


def entry_point() -> None:
    """Console-script entry: ``chainrule …``."""
    sys.exit(main())


__all__ = ["COMMANDS", "CLIError", "Terminated", "entry_point", "error_line", "exit_status",
           "main", "one_line", "signals_as_exceptions", "warnings_as_lines"]
