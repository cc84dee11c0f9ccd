"""Resuming a run: what an interrupted run directory holds to continue from — its
settings and, once an epoch has finished, its checkpoint (:mod:`chainrule.runs.checkpoint`).
:meth:`chainrule.runs.Run.resume` continues it."""

from __future__ import annotations

import os
from pathlib import Path

from ..io.schema import short
from .checkpoint import Resumed, read_checkpoint
from .config import DEFAULTS, ConfigError, RunConfig
from .config_file import read_config_file
from .errors import RunError
from .rundir import BEST, CHECKPOINT, CONFIG, HISTORY, METRICS, MODEL, read_status

#: The files of a run directory; resuming reads or rewrites each of them.
RUN_FILES = (METRICS, CONFIG, CHECKPOINT, BEST, HISTORY, MODEL)


def read_resume(run_dir: str | os.PathLike[str]) -> tuple[RunConfig, Resumed | None]:
    """The configuration and checkpoint of the run in ``run_dir`` (no checkpoint yet: the
    run stopped before its first epoch ended, and starts again from its config.json).

    Every file of the directory is untrusted: each must be a regular file where present,
    and the checkpoint's state is checked field by field (and against the configuration)
    before anything trains, so a corrupted run is refused with one line naming the file
    and the key, never resumed into a crash or marked complete.

    Raises
    ------
    RunError
        Naming ``--resume DIR``, the file and what is wrong with it.
    """
    path = Path(run_dir)
    if not path.is_dir():
        raise RunError(f"--resume {path}: no such run directory")
    for name in RUN_FILES:
        if (path / name).is_symlink() or ((path / name).exists() and
                                           not (path / name).is_file()):
            raise RunError(f"--resume {path}: {path / name} is not a regular file; not a "
                           "run directory chainrule can resume")
    status = read_status(path) or {}
    if status.get("streamed") is True and status.get("status") != "complete":
        raise RunError(f"--resume {path}: a streamed run (--stream); it resumes as one: "
                       f"chainrule train --resume {path}, or in Python "
                       "chainrule.runs.stream_run.resume_streamed")
    if status.get("status") == "complete":
        raise RunError(f"--resume {path}: the run is complete ({short(status.get('epochs_run'))}"
                       f" epochs); its model is {path / MODEL}")
    try:
        resumed: Resumed | None = read_checkpoint(path)
    except FileNotFoundError:
        resumed = None
    except ValueError as exc:  # ModelFileError included
        raise RunError(f"--resume {path}: {exc}") from None
    if resumed is not None:
        values, origin = resumed.config, f"{path / CHECKPOINT} (training.config)"
    else:
        config = path / CONFIG
        if not config.is_file():
            raise RunError(f"--resume {path}: neither {CHECKPOINT} nor {CONFIG} is there; "
                           "not a chainrule run directory")
        values, origin = read_config_file(config, DEFAULTS), str(config)
    try:
        cfg = RunConfig.from_mapping(values, origin=origin)
    except ConfigError as exc:
        raise RunError(f"--resume {path}: {exc}") from None
    if resumed is not None:
        _check_state(resumed, cfg, path)
    return cfg, resumed


def _check_state(resumed: Resumed, cfg: RunConfig, path: Path) -> None:
    """The checkpoint's state against the run's settings: no more epochs done than
    configured, and a run ended early only by its early stopping."""
    state, where = resumed.state, f"--resume {path}: {path / CHECKPOINT}: training.checkpoint"
    if state.epoch > cfg.epochs:
        raise RunError(f"{where}.epoch: {state.epoch} epochs done, but the run is configured "
                       f"for {cfg.epochs}")
    es = state.early_stopping
    if state.stopped and not (cfg.early_stopping and es is not None
                              and es["wait"] >= cfg.early_stopping):
        raise RunError(f"{where}.stopped: true, but the run's early stopping (patience "
                       f"{cfg.early_stopping}, counters {short(es)}) did not stop it")


__all__ = ["read_resume"]
