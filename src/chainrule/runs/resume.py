"""Resuming a run: what an interrupted run directory holds to continue from — its
settings and, once an epoch has finished, its checkpoint (:mod:`chainrule.runs.checkpoint`).
:meth:`chainrule.runs.Run.resume` continues it."""

from __future__ import annotations

import os
from pathlib import Path

from .checkpoint import Resumed, read_checkpoint
from .config import DEFAULTS, RunConfig
from .config_file import read_config_file
from .errors import RunError
from .rundir import CHECKPOINT, CONFIG, MODEL, read_status


def read_resume(run_dir: str | os.PathLike[str]) -> tuple[RunConfig, Resumed | None]:
    """The configuration and checkpoint of the run in ``run_dir`` (no checkpoint yet: the
    run stopped before its first epoch ended, and starts again from its config.json)."""
    path = Path(run_dir)
    if not path.is_dir():
        raise RunError(f"--resume {path}: no such run directory")
    status = read_status(path) or {}
    if status.get("status") == "complete":
        raise RunError(f"--resume {path}: the run is complete ({status.get('epochs_run')} "
                       f"epochs); its model is {path / MODEL}")
    try:
        resumed: Resumed | None = read_checkpoint(path)
    except FileNotFoundError:
        resumed = None
    except ValueError as exc:  # ModelFileError included
        raise RunError(f"--resume {path}: {exc}") from None
    if resumed is not None:
        values = resumed.config
    else:
        config = path / CONFIG
        if not config.is_file():
            raise RunError(f"--resume {path}: neither {CHECKPOINT} nor {CONFIG} is there; "
                           "not a chainrule run directory")
        values = read_config_file(config, DEFAULTS)
    return RunConfig.from_mapping(values, origin=str(path / CONFIG)), resumed


__all__ = ["read_resume"]
