"""The run directory and its status.

A run directory holds ``config.json`` (the fully resolved settings: ``chainrule train
--config config.json`` reruns the same training) and ``metrics.json``, whose
``"status"`` says where the run is: ``running`` (with the ``pid``), ``interrupted``
(Ctrl-C, SIGTERM: the checkpoint is kept and the run can be resumed), ``failed`` (with
the ``error``) or ``complete`` (with the test metrics and the training summary). While
it trains it gets the checkpoints (:mod:`chainrule.runs.checkpoint`), at the end the
model, the history and the plots (:func:`chainrule.runs.stages.write`).

The directory is checked (:func:`check_out`) before any data is loaded, and created
with both files already in it before training starts; every file is written atomically
(:mod:`chainrule.io.atomic`).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._warnings import warn
from ..io.atomic import atomic_write_bytes, create_directory_with, sweep_temp_files
from .errors import RunError

CHECKPOINT = "checkpoint.safetensors"
BEST = "best.safetensors"
HISTORY = "history.csv"
METRICS = "metrics.json"
CONFIG = "config.json"
MODEL = "model.safetensors"
#: The values of ``status`` in metrics.json.
STATUSES = ("running", "interrupted", "failed", "complete")
#: Where a run directory is made when none is named: ``runs/<timestamp>/``.
RUNS = Path("runs")


def read_status(run_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """metrics.json of ``run_dir`` (None if absent or unreadable)."""
    try:
        value = json.loads((Path(run_dir) / METRICS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def json_bytes(obj: Any) -> bytes:
    """``obj`` as indented JSON, one newline at the end."""
    return (json.dumps(obj, indent=2) + "\n").encode("utf-8")


def check_out(out: str | os.PathLike[str] | None, *, resuming: bool = False) -> None:
    """Refuse, before anything is loaded or trained, an ``out`` that cannot become a run
    directory: a file, a path through a file, a directory nobody may write, or (unless
    ``resuming``) one holding an unfinished run. Creates nothing.

    Raises
    ------
    RunError
        Naming the directory and what to do instead.
    """
    if out is not None and not str(out).strip():
        raise RunError("--out: empty; give the run directory, e.g. --out runs/mnist")
    path = Path(out) if out is not None else RUNS
    probe = path
    while not (probe.exists() or probe.is_symlink()) and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        where = "exists and is not a directory" if probe == path else (
            f"{probe} is not a directory")
        raise RunError(f"--out {path}: {where}; give a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        what = "cannot write in the directory" if probe == path else (
            f"cannot create the run directory in {probe}")
        raise RunError(f"--out {path}: {what} (permission denied); choose another --out")
    if not resuming and probe == path and (path / CHECKPOINT).exists():
        status = (read_status(path) or {}).get("status")
        if status in ("running", "interrupted"):
            raise RunError(f"--out {path}: holds an unfinished run (status {status}); continue "
                           f"it with: chainrule train --resume {path}, or choose another --out")


def _warn(message: str) -> None:
    warn(message, RuntimeWarning)  # names the user's line, however deep runs called it


class RunDir:
    """A run directory and its ``metrics.json`` status.

    Parameters
    ----------
    path : Path
        The directory.
    warn : callable, optional
        Told, as one line, what could not be recorded (default :func:`warnings.warn`).

    Attributes
    ----------
    info : dict
        What metrics.json says now.
    """

    def __init__(self, path: Path, *, warn: Callable[[str], None] = _warn) -> None:
        self.path = path
        self.info: dict[str, Any] = {}
        self.warn = warn

    @property
    def status(self) -> str | None:
        """One of :data:`STATUSES` (None before :meth:`create`)."""
        return self.info.get("status")

    @classmethod
    def create(cls, out: str | os.PathLike[str] | None, config: dict[str, Any], *,
               fresh: bool, epochs_done: int = 0,
               warn: Callable[[str], None] = _warn) -> RunDir:
        """Create (or take over) the directory with config.json and metrics.json
        ``"status": "running"``; a directory this creates appears with both already in
        it. ``out`` None: a new ``runs/<timestamp>/``. ``fresh``: a new run, so an older
        run's checkpoints there are removed.

        Raises
        ------
        RunError
            The directory cannot be created.
        """
        started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        info: dict[str, Any] = {"status": "running", "pid": os.getpid(), "started": started,
                                "epochs": config["epochs"], "epochs_done": epochs_done}
        # metrics.json first: a directory taken over is marked running before anything
        # of the older run in it is replaced.
        files = {METRICS: json_bytes(info), CONFIG: json_bytes(config)}
        try:
            if out is None:
                path = _new_run_directory(files)
            elif Path(out).is_dir():
                path = Path(out)
                sweep_temp_files(path)
                atomic_write_bytes(path / METRICS, files[METRICS])
                if fresh:
                    for name in (CHECKPOINT, BEST):
                        (path / name).unlink(missing_ok=True)
                atomic_write_bytes(path / CONFIG, files[CONFIG])
            else:
                path = Path(out)
                create_directory_with(path, files)
        except OSError as exc:
            where = out if out is not None else "runs/"
            raise RunError(f"--out {where}: cannot create the run directory "
                           f"({exc.strerror or type(exc).__name__}); choose another --out"
                           ) from None
        run = cls(path, warn=warn)
        run.info = info
        return run

    def mark(self, status: str, **extra: Any) -> None:
        """Rewrite metrics.json with ``status`` (and ``extra``; the ``pid`` only while
        running). Never raises OSError: a status that cannot be written is a warning."""
        info = {"status": status, **{k: v for k, v in {**self.info, **extra}.items()
                                     if k != "status" and (k != "pid" or status == "running")}}
        try:
            atomic_write_bytes(self.path / METRICS, json_bytes(info))
        except OSError as exc:
            self.warn(f"{self.path / METRICS}: cannot record status {status} "
                      f"({exc.strerror or exc})")
        self.info = info


def _new_run_directory(files: dict[str, bytes]) -> Path:
    """``runs/<timestamp>/`` (``-1``, ``-2``… when taken), created with ``files``."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    RUNS.mkdir(parents=True, exist_ok=True)
    sweep_temp_files(RUNS)
    n = 0
    while True:
        path = RUNS / (stamp if n == 0 else f"{stamp}-{n}")
        n += 1
        try:
            create_directory_with(path, files)
            return path
        except FileExistsError:
            continue


__all__ = [
    "BEST", "CHECKPOINT", "CONFIG", "HISTORY", "METRICS", "MODEL", "STATUSES", "RunDir",
    "check_out", "read_status",
]
