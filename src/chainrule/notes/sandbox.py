"""Run a learner's ``backward`` in a child process, with a time limit: a hang is stopped,
an exception or a result of the wrong kind becomes one line, and nothing the learner's
code does reaches the checker's own state.

The child is forked, so a function defined in a notebook runs as it is; where ``fork``
is not available (Windows) the function runs in a thread, and a hang is reported but
cannot be stopped.
"""

from __future__ import annotations

import importlib.util
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .mistakes import Case

#: What the child reports for one case: ("ok", grad_w, grad_b), ("raised", line) or
#: ("returned", line); a hang is ("hang", seconds) from the parent, a child that ended
#: without an answer ("died", its exit status).
Outcome = tuple[Any, ...]
Loader = Callable[[], Callable[..., Any]]


def _where(exc: BaseException) -> str:
    """``(file.py, line 12)`` of the innermost frame outside chainrule, if any."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if "chainrule" not in Path(f.filename).parts
              and not f.filename.startswith("<frozen ")]  # importlib, loading the file
    if not frames:
        return ""
    return f" ({Path(frames[-1].filename).name}, line {frames[-1].lineno})"


def raised_line(exc: BaseException) -> str:
    """``ValueError: … (file.py, line 12)``: the first line of the message, at most 300
    characters of it."""
    message = str(exc).splitlines()[0] if str(exc).strip() else ""
    if len(message) > 300:
        message = message[:297] + "…"
    return f"{type(exc).__name__}: {message}{_where(exc)}"


def _as_array(value: Any, what: str, shape: tuple[int, ...]) -> Any:
    if value is None:
        return None
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{what} is a {type(value).__name__}, expected an array of "
                         f"shape {shape}") from None
    return array


def normalise(result: Any, case: Case) -> Outcome:
    """The learner's return value as ("ok", grad_w, grad_b) with float64 arrays (or
    None), or ("returned", line) saying what was expected."""
    expected = "(grad_w, grad_b): two lists shaped like w and b"
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        what = (f"{len(result)} values" if isinstance(result, (tuple, list))
                else f"a {type(result).__name__}")
        return ("returned", f"backward returned {what}; expected {expected}")
    lists = []
    for name, value, like in (("grad_w", result[0], case.w), ("grad_b", result[1], case.b)):
        if not isinstance(value, (list, tuple)):
            return ("returned", f"{name} is a {type(value).__name__}; expected a list of "
                    f"{case.L + 1} entries ({name}[0] None, then one per layer 1 … {case.L})")
        try:
            lists.append([_as_array(v, f"{name}[{i}]", like[min(i, case.L)].shape
                                    if i else (0,)) for i, v in enumerate(value)])
        except ValueError as exc:
            return ("returned", str(exc))
    return ("ok", lists[0], lists[1])


def _run_cases(loader: Loader, cases: Sequence[Case], send: Callable[[Outcome], None]) -> None:
    try:
        backward = loader()
    except Exception as exc:
        send(("raised", raised_line(exc)))
        return
    for case in cases:
        args = ([None] + [w.copy() for w in case.w[1:]], [None] + [b.copy() for b in case.b[1:]],
                case.a0.copy(), case.y.copy(), case.g, case.g_prime)
        try:
            with np.errstate(all="ignore"):
                outcome = normalise(backward(*args), case)
        except Exception as exc:
            outcome = ("raised", raised_line(exc))
        send(outcome)
        if outcome[0] != "ok":
            return


def _child(loader: Loader, cases: Sequence[Case], conn: Any) -> None:
    try:
        _run_cases(loader, cases, conn.send)
    except BaseException as exc:  # noqa: BLE001 - whatever happens, the parent hears of it
        try:
            conn.send(("raised", raised_line(exc)))
        except Exception:  # noqa: BLE001 - an unpicklable result: nothing more to say
            pass
    finally:
        conn.close()


def run(loader: Loader, cases: Sequence[Case], time_limit: float) -> list[Outcome]:
    """One outcome per case, in order, up to and including the first that is not "ok";
    a case still running when ``time_limit`` seconds (all cases together) have passed
    is ("hang", time_limit)."""
    import multiprocessing  # here: importing it registers __mp_main__, not for `import chainrule`

    if "fork" not in multiprocessing.get_all_start_methods():
        return _run_in_thread(loader, cases, time_limit)
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child, args=(loader, cases, child), daemon=True)
    process.start()
    child.close()
    outcomes: list[Outcome] = []
    deadline = time.monotonic() + time_limit
    try:
        while len(outcomes) < len(cases):
            left = deadline - time.monotonic()
            if left <= 0 or not parent.poll(left):
                outcomes.append(("hang", time_limit))
                break
            try:
                outcome = parent.recv()
            except EOFError:  # the child died: os._exit, a signal, out of memory
                process.join(1.0)  # for its exit status
                outcomes.append(("died", process.exitcode))
                break
            outcomes.append(outcome)
            if outcome[0] != "ok":
                break
    finally:
        if process.is_alive():
            process.kill()
        process.join(1.0)
        parent.close()
    return outcomes


def _run_in_thread(loader: Loader, cases: Sequence[Case], time_limit: float) -> list[Outcome]:
    outcomes: list[Outcome] = []
    thread = threading.Thread(target=_run_cases, args=(loader, cases, outcomes.append),
                              daemon=True)
    thread.start()
    thread.join(time_limit)
    if thread.is_alive():
        outcomes = outcomes[:] + [("hang", time_limit)]
    return outcomes


def file_loader(path: str | Path) -> Loader:
    """A loader that runs ``path`` (in the child) and returns its ``backward``."""

    def load() -> Callable[..., Any]:
        spec = importlib.util.spec_from_file_location("learner_backward", path)
        if spec is None or spec.loader is None:
            raise ValueError(f"{path}: not a Python file")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        backward = getattr(module, "backward", None)
        if not callable(backward):
            raise ValueError(f"{Path(path).name} defines no function "
                             "backward(w, b, a0, y, g, g_prime)")
        return backward

    return load
