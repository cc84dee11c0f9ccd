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
from ..engine.backend import Backend
from ..engine.network import Network
from ..health.diagnosis import Diagnosis, verdicts
from ..health.monitor import HealthMonitor
from ..training.callbacks import Callback, DivergenceError, History
from .checkpoint import CheckpointState, Resumed, read_checkpoint
from .config import DEFAULTS, RunConfig
from .config_file import read_config_file
from .errors import RunError
from .fitting import Checkpointing, fit, make_monitor
from .output import diagnosis_json, write
from .reporter import Reporter
from .rundir import CHECKPOINT, CONFIG, MODEL, RunDir, check_out, read_status
from .stages import Splits, auto_lr, build, load_data, report, resolved_config, split, summarize


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
    """

    monitor: bool = True
    diagnostics: bool = False
    device: str = "cpu"
    backend: str | None = None
    distributed: bool = False


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


def training_backend(device: str = "cpu", backend: str | None = None) -> Backend:
    """Where a run computes.

    ``cpu``: NumPy (or ``backend``, e.g. torch on the CPU). ``cuda`` / ``cuda:N``: torch
    on that GPU, else CuPy; ``auto``: that GPU when one is found, else NumPy. A device or
    library that is missing is a :class:`~chainrule.engine.backend.BackendError` saying
    which.
    """
    from ..engine.backend import BackendError, get_backend

    if not isinstance(device, str) or not (device in ("cpu", "auto", "cuda") or (
            device.startswith("cuda:") and device[5:].isdigit())):
        raise RunError(f"--device: expected cpu, cuda, cuda:N or auto, got {device!r}")
    if device == "cpu":
        if backend == "cupy":
            raise RunError("--backend cupy: CuPy computes on a GPU; give --device cuda")
        return get_backend(backend or "numpy", "cpu" if backend == "torch" else None)
    index = int(device[5:]) if device.startswith("cuda:") else 0
    errors = []
    for name in [backend] if backend else ["torch", "cupy"]:
        if name == "numpy":
            raise RunError(f"--device {device}: the numpy backend runs on the CPU only; "
                           "use --backend torch or cupy")
        try:
            return get_backend(name, f"cuda:{index}" if name == "torch" else index)
        except BackendError as exc:
            errors.append(str(exc))
    if device == "auto":  # no GPU: the CPU (torch's, if asked for; else NumPy)
        return get_backend("torch", "cpu") if backend == "torch" else get_backend("numpy")
    raise BackendError(f"--device {device}: no usable GPU backend ({'; '.join(errors)})")


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
        reporter.tested(metrics)
        diagnosis = None
        if p.health is not None:
            diagnosis = verdicts(p.health)
            reporter.diagnosed(diagnosis, p.health)
        summary = summarize(p.config, p.ds, p.splits, fitted, metrics)
        path = write(p.run, net, p.ds, p.splits, fitted.history, metrics, summary,
                     diagnosis=diagnosis, monitor=p.health if options.diagnostics else None,
                     reporter=reporter) if p.run is not None else None
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
    if resumed is not None:
        net = resumed.net
        if net.n_in != ds.n_features:
            raise RunError(f"--resume {start.out}: the checkpoint takes {net.n_in} features, "
                           f"the data ({ds.name}) has {ds.n_features}; the data changed")
    else:
        net = build(cfg, ds, splits)
        cfg = auto_lr(cfg, net, ds, splits, reporter=reporter)
    config = resolved_config(cfg, ds, net).to_dict()
    ck = _checkpointing(config, ds, splits, resumed)
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
    if options.monitor and root:
        health = make_monitor(cfg, splits, max(0, cfg.epochs - done))
        run_callbacks.insert(0, health)
    return _Prepared(cfg, config, ds, splits, net, ck, run, health, run_callbacks)


def _checkpointing(config: dict[str, Any], ds: datasets.Dataset, splits: Splits,
                   resumed: Resumed | None) -> Checkpointing:
    """How the fit checkpoints: every checkpoint's training metadata is the run's
    configuration and sizes, and the epochs done."""
    n_train, n_val, n_test = splits.sizes

    def training(state: CheckpointState) -> dict[str, Any]:
        return {"config": config, "task": ds.task, "target_names": ds.target_names,
                "epochs_run": state.epoch, "n_train": n_train, "n_val": n_val,
                "n_test": n_test}

    return Checkpointing(resumed=resumed, state=resumed.state if resumed else None,
                         training=training, feature_names=ds.feature_names)


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
    divergence, the monitor's verdict on it)."""
    extra: dict[str, Any] = {}
    if health is not None and isinstance(exc, DivergenceError):
        diverged = verdicts(health, exc)
        reporter.diverged(diverged)
        extra["diagnosis"] = diagnosis_json(diverged)
    if run is not None and run.status != "complete":
        done = ck.checkpointer.saved_epoch if ck.checkpointer else 0
        run.mark("failed", error=str(exc) or type(exc).__name__, epochs_done=done,
                 **({"checkpoint": CHECKPOINT} if done else {}), **extra)


__all__ = ["Run", "RunOptions", "read_resume", "train", "training_backend"]
