"""A training run from Python: :func:`train` a configuration into a run directory, and
:meth:`Run.resume` one that was interrupted.

A run is the stages (:mod:`chainrule.runs.stages`) in a run directory
(:mod:`chainrule.runs.rundir`) with checkpoints (:mod:`chainrule.runs.checkpoint`): the
directory is checked before the data is loaded, created with ``"status": "running"``
before training starts, and ends ``complete``, ``interrupted`` (``KeyboardInterrupt``:
Ctrl-C, or SIGTERM in the CLI; the last finished epoch's checkpoint is kept) or
``failed``. A resumed run ends bitwise equal to the uninterrupted one.

``chainrule train`` is this module plus argparse and printing (:mod:`chainrule.cli.train`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import datasets
from ..engine.network import Network
from ..health.diagnosis import Diagnosis, verdicts
from ..health.monitor import HealthMonitor
from ..training.callbacks import Callback, DivergenceError, History
from .checkpoint import Resumed
from .config import RunConfig
from .device import training_backend
from .errors import RunError
from .fitting import Checkpointing, fit, make_monitor
from .output import column_importance, diagnosis_json, write
from .reporter import Reporter
from .resume import read_resume
from .rundir import CHECKPOINT, MODEL, RunDir, check_out, read_status
from .stages import (
    Splits,
    auto_lr,
    baseline_verdict,
    build,
    cross_validation,
    load_data,
    report,
    resolve_auto,
    resolved_config,
    split,
    summarize,
)


@dataclass(frozen=True)
class RunOptions:
    """How a run computes and what it watches, beside its settings (:class:`RunConfig`).

    Parameters
    ----------
    monitor : bool
        Watch the fit with a :class:`~chainrule.health.monitor.HealthMonitor`; its
        verdicts go into metrics.json under ``"diagnosis"``.
    diagnostics : bool
        Also plot the monitor's record into ``diagnostics.png``.
    device : str
        ``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (:func:`training_backend`).
    backend : str, optional
        ``numpy``, ``torch`` or ``cupy`` (default: chosen by ``device``).
    distributed : bool
        Fit data-parallel over MPI (every rank calls; only rank 0 writes and reports).
    importance : bool
        Rank the input columns by permutation importance on the test split (into
        metrics.json under ``"importance"`` and the report).
    """

    monitor: bool = True
    diagnostics: bool = False
    device: str = "cpu"
    backend: str | None = None
    distributed: bool = False
    importance: bool = True


@dataclass
class Run:
    """A finished training run.

    Attributes
    ----------
    path : Path or None
        The run directory (None on the other ranks of an MPI run).
    config : RunConfig
        The settings it trained with (``lr = "auto"`` resolved to the suggested rate).
    saved_config : dict
        What ``config.json`` holds: ``config`` with the choices the data made (task,
        output activation, loss) filled in.
    net : Network
        The trained network (on the host), as saved in ``model.safetensors``.
    history : History
        Every epoch of the run, a resumed run's earlier ones included.
    metrics : dict
        The test metrics.
    diagnosis : Diagnosis or None
        The health monitor's verdicts (None without a monitor).
    monitor : HealthMonitor or None
    """

    path: Path | None
    config: RunConfig
    saved_config: dict[str, Any]
    net: Network
    history: History
    metrics: dict[str, Any]
    diagnosis: Diagnosis | None = None
    monitor: HealthMonitor | None = None

    @property
    def status(self) -> str | None:
        """``"status"`` of the run directory's metrics.json (:data:`~.rundir.STATUSES`)."""
        return None if self.path is None else (read_status(self.path) or {}).get("status")

    @property
    def model_path(self) -> Path | None:
        """The trained model's file (load it with :func:`chainrule.load`)."""
        return None if self.path is None else self.path / MODEL

    @classmethod
    def resume(cls, path: str | os.PathLike[str], *, checkpoint_every: int | None = None,
               callbacks: Sequence[Callback] = (), reporter: Reporter | None = None,
               options: RunOptions = RunOptions()) -> Run:
        """Continue the interrupted run in ``path`` from its checkpoint, with its saved
        settings, and finish its remaining epochs.

        Parameters
        ----------
        path : str or Path
            The run directory (status ``interrupted``, ``failed`` or ``running``). With no
            checkpoint yet (stopped in its first epoch) the run starts again from its
            config.json.
        checkpoint_every : int, optional
            Another checkpoint interval than the run's.
        callbacks, reporter, options
            As for :func:`train`.

        Returns
        -------
        Run
            Bitwise equal (weights, optimizer state, history) to the run had it not been
            interrupted.

        Raises
        ------
        RunError
            No such run directory, a complete run, or a checkpoint that cannot be read.
        """
        cfg, resumed = read_resume(path)
        if checkpoint_every is not None:
            cfg = cfg.replace(checkpoint_every=checkpoint_every)
        return _execute(_Start(cfg, str(path), resumed, resuming=True), callbacks,
                        reporter, options)


def train(config: RunConfig | Mapping[str, Any], out: str | os.PathLike[str] | None = None,
          *, callbacks: Sequence[Callback] = (), reporter: Reporter | None = None,
          options: RunOptions = RunOptions()) -> Run:
    """One training run: load → split → build → fit → report → write, in a run directory.

    Parameters
    ----------
    config : RunConfig or mapping
        The settings (a mapping is validated into a :class:`RunConfig`; missing keys take
        their defaults).
    out : str or Path, optional
        The run directory (default: a new ``runs/<timestamp>/``). One holding an
        unfinished run is refused: :meth:`Run.resume` it instead.
    callbacks : sequence of Callback
        Observe the fit too; their epochs count from the start of the run.
    reporter : Reporter, optional
        Told what happens (default: nothing but warnings).
    options : RunOptions
        Health monitor, device, MPI.

    Returns
    -------
    Run

    Raises
    ------
    RunError
        A setting, the data or the run directory is not usable (before anything is
        trained, where it can be told then).
    KeyboardInterrupt
        The run is recorded as interrupted first (resume it with :meth:`Run.resume`).
    DivergenceError
        The loss diverged; the run is recorded as failed, with the health monitor's
        verdict, which the error's ``diagnosis`` holds too.

    Examples
    --------
    >>> from chainrule import runs
    >>> run = runs.train({"dataset": "xor", "hidden": [8], "epochs": 5}, "runs/xor")
    ... # doctest: +SKIP
    >>> run.status, run.metrics["accuracy"]  # doctest: +SKIP
    ('complete', 0.97)
    """
    cfg = config if isinstance(config, RunConfig) else RunConfig.from_mapping(config)
    out = None if out is None else os.fspath(out)
    return _execute(_Start(cfg, out, None, resuming=False), callbacks, reporter, options)


# -- one run, start to end ---------------------------------------------------------------------
@dataclass(frozen=True)
class _Start:
    """Where a run starts: its settings, its directory, and a checkpoint to continue."""

    cfg: RunConfig
    out: str | None
    resumed: Resumed | None
    resuming: bool


@dataclass
class _Prepared:
    """A run ready to fit: its data, network, settings, directory and callbacks."""

    cfg: RunConfig
    config: dict[str, Any]
    ds: datasets.Dataset
    splits: Splits
    net: Network
    ck: Checkpointing
    run: RunDir | None
    health: HealthMonitor | None
    callbacks: list[Callback]


def _execute(start: _Start, callbacks: Sequence[Callback], reporter: Reporter | None,
             options: RunOptions) -> Run:
    fit_fn, root = _fitter(options.distributed)
    reporter = (reporter or Reporter()) if root else Reporter()
    where = training_backend(options.device, options.backend)  # before anything is loaded
    if options.distributed and (start.cfg.cv not in (0, "auto") or start.cfg.ensemble > 1):
        raise RunError("--distributed: an ensemble (--ensemble, --cv) trains in one process; "
                       "drop --distributed or --ensemble/--cv")
    if options.distributed and not where.is_numpy:
        raise RunError(f"--device {options.device}: MPI training runs on the numpy backend "
                       "(CPU) only; drop --distributed or --device")
    if root:
        check_out(start.out, resuming=start.resuming)
    p = _prepare(start, callbacks, reporter, options, root)
    net = p.net
    if not where.is_numpy:
        net = net.to_backend(where.name, where.device)
        reporter.moved(where)
    try:
        fitted = fit(p.cfg, net, p.ds, p.splits, callbacks=p.callbacks, fit_fn=fit_fn,
                     checkpointing=p.ck)
        if not where.is_numpy:
            net = net.to_backend()  # the report, the files and the result: on the host
        metrics = report(net, p.ds, p.splits)
        cv = cross_validation(p.cfg, net, p.ds, p.splits)
        if cv is not None:
            metrics["cv"] = cv
        reporter.tested(metrics)
        loses = baseline_verdict(metrics)
        if loses is not None:
            reporter.warn(loses)
        diagnosis = None
        if p.health is not None:
            diagnosis = verdicts(p.health, kept=fitted.kept)
            reporter.diagnosed(diagnosis, p.health)
        importance = (column_importance(net, p.ds, p.splits, p.cfg.seed)
                      if options.importance and p.run is not None and metrics else None)
        if importance is not None:
            reporter.ranked(importance)
        summary = summarize(p.config, p.ds, p.splits, fitted, metrics)
        path = write(p.run, net, p.ds, p.splits, fitted.history, metrics, summary,
                     diagnosis=diagnosis, monitor=p.health if options.diagnostics else None,
                     importance=importance, reporter=reporter) if p.run is not None else None
    except KeyboardInterrupt:  # Ctrl-C, and SIGTERM in the CLI (see chainrule.cli)
        if p.run is not None and p.run.status != "complete":
            _interrupted(p.run, p.ck, reporter)
        raise
    except BaseException as exc:
        _failed(p.run, p.ck, p.health, exc, reporter)
        raise
    return Run(path, p.cfg, p.config, net, fitted.history, metrics, diagnosis, p.health)


def _fitter(distributed: bool) -> tuple[Callable[..., History] | None, bool]:
    """The fit (None: :meth:`Network.fit`) and whether this process is the root rank."""
    if not distributed:
        return None, True
    from .. import distributed as dist  # the only difference: another fit, rank 0 writes

    return dist.fit, dist.is_root()


def _prepare(start: _Start, callbacks: Sequence[Callback], reporter: Reporter,
             options: RunOptions, root: bool) -> _Prepared:
    """Load, split and build (or take the checkpoint's network), create the run
    directory, and gather the fit's callbacks: the monitor first, the progress last."""
    cfg, resumed = start.cfg, start.resumed
    ds = load_data(cfg)
    splits = split(cfg, ds)
    if resumed is None:
        cfg = resolve_auto(cfg, ds, splits, folds=not options.distributed)
    if resumed is not None:
        net = resumed.net
        if net.n_in != ds.n_features:
            raise RunError(f"--resume {start.out}: the checkpoint takes {net.n_in} features, "
                           f"the data ({ds.name}) has {ds.n_features}; the data changed")
    else:
        net = build(cfg, ds, splits)
        cfg = auto_lr(cfg, net, ds, splits, reporter=reporter)
    config = resolved_config(cfg, ds, net).to_dict()
    ck = Checkpointing.of_run(config, ds, splits, resumed)
    done = resumed.state.epoch if resumed else 0
    run = None
    if root:
        run = RunDir.create(start.out, config, fresh=resumed is None, epochs_done=done,
                            warn=reporter.warn)
        ck.run_dir = run.path
    run_callbacks = list(callbacks)
    reporter.started(cfg, ds, net, splits.sizes,
                     (Path(str(start.out)), done) if resumed is not None else None)
    progress = reporter.progress()
    if progress is not None:
        run_callbacks.append(progress)
    health = None
    # The monitor's probes read one network's z^(L); an ensemble's are stacked (members,
    # --cv): it has no diagnosis (docs/cli.md, "Health monitor and diagnosis").
    if options.monitor and root and (cfg.folds or cfg.ensemble) == 1:
        health = make_monitor(cfg, splits, max(0, cfg.epochs - done))
        run_callbacks.insert(0, health)
    return _Prepared(cfg, config, ds, splits, net, ck, run, health, run_callbacks)


def _interrupted(run: RunDir, ck: Checkpointing, reporter: Reporter) -> None:
    """Ctrl-C or SIGTERM: keep the last finished epoch's checkpoint, say where it is."""
    checkpointer = ck.checkpointer
    done = 0
    try:
        if checkpointer is not None:
            checkpointer.flush()
            done = checkpointer.saved_epoch
        elif ck.state is not None:
            done = ck.state.epoch
    except (OSError, KeyboardInterrupt) as err:
        reporter.warn(f"the last epoch's checkpoint was not written ({err})")
        done = checkpointer.saved_epoch if checkpointer else 0
    resume = f"chainrule train --resume {run.path}"
    extra: dict[str, Any] = {"epochs_done": done, "resume": resume}
    if (run.path / CHECKPOINT).is_file() and done:
        extra["checkpoint"] = CHECKPOINT
    run.mark("interrupted", **extra)
    reporter.interrupted(run.path, done, run.info.get("epochs"), resume)


def _failed(run: RunDir | None, ck: Checkpointing, health: HealthMonitor | None,
            exc: BaseException, reporter: Reporter) -> None:
    """Any other exception: metrics.json says ``failed`` with the error (and, for a
    divergence, the monitor's verdict on it, which the error carries too)."""
    extra: dict[str, Any] = {}
    if health is not None and isinstance(exc, DivergenceError):
        diverged = verdicts(health, exc)
        exc.diagnosis = diverged
        reporter.diverged(diverged)
        extra["diagnosis"] = diagnosis_json(diverged)
    if run is not None and run.status != "complete":
        done = ck.checkpointer.saved_epoch if ck.checkpointer else 0
        run.mark("failed", error=str(exc) or type(exc).__name__, epochs_done=done,
                 **({"checkpoint": CHECKPOINT} if done else {}), **extra)


__all__ = ["Run", "RunOptions", "train"]
