"""MPI process hygiene: no rank fails silently, and no rank waits forever.

Every rank of a data-parallel job makes the same collective calls, so one rank that
stops — an exception, ``os._exit``, a callback that ends its training early — leaves the
others blocked in the next all-reduce. What here turns each of those into a failed job
with a message naming the rank:

- :func:`abort_on_error` and :func:`install_excepthook`: an exception on any rank prints
  that rank's traceback and aborts the job (``MPI_Abort``);
- :func:`leaving_aborts`: a rank that calls ``os._exit`` or whose interpreter exits while
  it trains aborts the job;
- :func:`all_finished`: the completion handshake at the end of ``fit``, with a timeout.

With one rank, exceptions propagate as usual.
"""

from __future__ import annotations

import atexit
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

import numpy as np

from .comm import resolve

__all__ = [
    "ABORT_GRACE", "abort_job", "abort_on_error", "all_finished", "finish_timeout_seconds",
    "install_excepthook", "leaving_aborts",
]

#: Seconds a failing rank waits, after printing its error, before aborting the job.
ABORT_GRACE = 0.5


# -- an exception on one rank ----------------------------------------------------------------
def abort_job(comm: Any) -> None:
    """MPI_Abort, and make sure this process ends with a non-zero status.

    MPI_Abort can return (MPICH sends the abort to the launcher and goes on while the
    launcher kills the job); carrying on from there could let this rank exit 0. The
    short pause first lets the launcher forward what this rank has just printed: under
    load, hydra sometimes killed the job before its error message reached the terminal.
    """
    time.sleep(ABORT_GRACE)
    try:
        comm.Abort(1)
    finally:
        _LEAVING.real_exit(1)


def _abort(comm: Any, exc: BaseException) -> None:
    """Print this rank's error and end every rank of the job: no rank waits forever."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    sys.stderr.write(
        f"chainrule.distributed: rank {comm.Get_rank()} of {comm.Get_size()} failed, "
        f"aborting the job:\n{text}"
    )
    sys.stderr.flush()
    abort_job(comm)


def install_excepthook(comm: Any | None = None) -> None:
    """Make an uncaught exception on any rank abort the whole job.

    Without it, one rank's exception outside :func:`~chainrule.distributed.fit` (while
    writing files, say) ends that rank while the others may block in a collective call.
    With one rank the default hook stays.
    """
    comm = resolve(comm)
    if comm.Get_size() == 1:
        return
    previous = sys.excepthook

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, SystemExit):
            previous(kind, exc, tb)
            return
        _abort(comm, exc.with_traceback(tb))

    sys.excepthook = hook


@contextmanager
def abort_on_error(comm: Any | None = None) -> Iterator[None]:
    """Run a block in which an exception on any rank aborts the whole job.

    For code around :func:`~chainrule.distributed.fit` that may fail on one rank only —
    loading data that one node cannot read, say — while the others go on into the first
    collective call and would wait there forever. The CLI wraps ``train --distributed``
    in it. With one rank exceptions propagate as usual.
    """
    comm = resolve(comm)
    try:
        yield
    except BaseException as exc:
        if comm.Get_size() > 1:
            _abort(comm, exc)
        raise


# -- a rank that leaves early -----------------------------------------------------------------
# Hydra (MPICH's mpiexec) kills the whole job when one rank exits without MPI_Finalize,
# but reports that rank's exit code as the job's: a rank that calls os._exit(0) in the
# middle of training ends the job with status 0 and no message (the other ranks are
# killed with their status preset to 0). os._exit runs no atexit handler and no
# finally block, so fit replaces os._exit while it runs; an interpreter that exits
# while fit runs (sys.exit in another thread, say) is caught by an atexit handler.
class _Leaving:
    """What the replacement ``os._exit`` and the atexit handler need to know.

    Module state because what it guards is the process's: ``os._exit`` and the atexit
    handlers are one per process, and the replacement is called with an exit code only.

    Attributes
    ----------
    running : list of communicators
        Those of the distributed fits running in this process, innermost last.
    owner_pid : int
        The process that installed the guard (-1: never installed, so the atexit
        handler is not registered yet); a forked child is not training.
    real_exit : callable
        ``os._exit`` as it was before the replacement.
    """

    def __init__(self) -> None:
        self.running: list[Any] = []
        self.owner_pid = -1
        self.real_exit: Callable[[int], Any] = os._exit


_LEAVING = _Leaving()


def _abort_leaving(how: str) -> None:
    if not _LEAVING.running or os.getpid() != _LEAVING.owner_pid:
        return  # not training here, or a forked child (multiprocessing ends with os._exit)
    comm = _LEAVING.running[-1]
    sys.stderr.write(
        f"chainrule.distributed: rank {comm.Get_rank()} of {comm.Get_size()} {how} during "
        "distributed.fit while the other ranks were training; aborting the job\n"
    )
    sys.stderr.flush()
    abort_job(comm)


def _exit_in_fit(code: int) -> Any:
    _abort_leaving(f"called os._exit({code})")
    return _LEAVING.real_exit(code)


def _exit_at_interpreter_exit() -> None:
    _abort_leaving("exited")


@contextmanager
def leaving_aborts(comm: Any) -> Iterator[None]:
    """While the block runs, a rank that exits (os._exit, interpreter exit) aborts the job."""
    if not _LEAVING.running:
        if os._exit is not _exit_in_fit:
            _LEAVING.real_exit = os._exit
            setattr(os, "_exit", _exit_in_fit)  # noqa: B010 - mypy: os._exit is NoReturn
        if _LEAVING.owner_pid == -1:
            atexit.register(_exit_at_interpreter_exit)  # runs before mpi4py's MPI_Finalize
        _LEAVING.owner_pid = os.getpid()
    _LEAVING.running.append(comm)
    try:
        yield
    finally:
        _LEAVING.running.pop()
        if not _LEAVING.running and os._exit is _exit_in_fit:
            setattr(os, "_exit", _LEAVING.real_exit)  # noqa: B010


# -- the completion handshake -----------------------------------------------------------------
def finish_timeout_seconds(value: float | None) -> float:
    """The handshake's timeout: ``value``, else ``$CHAINRULE_MPI_FINISH_TIMEOUT``, else 60 s."""
    if value is None:
        value = float(os.environ.get("CHAINRULE_MPI_FINISH_TIMEOUT", "60"))
    if not value > 0:
        raise ValueError(f"finish_timeout: expected a positive number of seconds, got {value}")
    return float(value)


def all_finished(comm: Any, control: Any, timeout: float) -> None:
    """The completion handshake: every rank reports to rank 0 that it finished training,
    and rank 0 confirms once all have; whoever waits longer than ``timeout`` aborts.

    Every rank makes the same all-reduce calls, so a rank that finishes alone has left
    the loop early (a callback that stopped one rank only) and the others wait in an
    all-reduce it will never join; a rank stuck in a callback of its own stalls the
    others the same way. Without this check the job would hang; with it, it fails
    naming the missing ranks. Point-to-point messages on ``control``, a duplicate of
    ``comm`` made while every rank was there, so they cannot match the others' pending
    collective calls.
    """
    from mpi4py import MPI

    me, size = int(comm.Get_rank()), int(comm.Get_size())
    tag = 0x7C4A
    token = np.array([me], dtype=np.int64)
    if me == 0:
        bufs = {r: np.empty(1, dtype=np.int64) for r in range(1, size)}
        reqs = {r: control.Irecv(bufs[r], source=r, tag=tag) for r in bufs}
        _wait(comm, reqs, timeout, lambda missing: (
            f"rank{'s' if len(missing) > 1 else ''} {', '.join(map(str, missing))} of {size} "
            f"did not finish distributed.fit within {timeout:g} s of rank 0"))
        releases = [control.Isend(token, dest=r, tag=tag + 1) for r in range(1, size)]
        MPI.Request.Waitall(releases)
    else:
        sent = control.Isend(token, dest=0, tag=tag)
        back = np.empty(1, dtype=np.int64)
        # Longer than rank 0's wait: rank 0 knows who is missing, so it should report.
        _wait(comm, {0: control.Irecv(back, source=0, tag=tag + 1)}, timeout + 2,
              lambda missing: (
                  f"rank {me} of {size} finished distributed.fit, but rank 0 did not confirm "
                  f"within {timeout + 2:g} s that every rank had (one left training early or "
                  "is stuck)"))
        sent.Wait()


def _wait(comm: Any, reqs: dict[int, Any], timeout: float,
          describe: Callable[[list[int]], str]) -> None:
    """Poll ``reqs`` (by peer rank) until all complete; past ``timeout`` s, abort the job
    with ``describe(missing ranks)``."""
    deadline = time.monotonic() + timeout
    pause = 1e-4
    while True:
        for r in [r for r, req in reqs.items() if req.Test()]:
            del reqs[r]
        if not reqs:
            return
        if time.monotonic() > deadline:
            break
        time.sleep(pause)
        pause = min(2 * pause, 0.05)
    sys.stderr.write(f"chainrule.distributed: {describe(sorted(reqs))}; aborting the job\n")
    sys.stderr.flush()
    abort_job(comm)
