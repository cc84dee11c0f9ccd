"""``chainrule train``: flags → a :class:`~chainrule.runs.config.RunConfig` →
:func:`chainrule.runs.train` (or :meth:`chainrule.runs.Run.resume`), printed.

The run itself (the stages load → split → build → fit → report → write, the run
directory and its status, checkpoints, resuming) is :mod:`chainrule.runs`; this module
parses the flags and prints what the run tells (:class:`Printer`).

The run directory holds ``model.safetensors``, ``config.json`` (the fully resolved
settings: ``chainrule train --config config.json`` reruns the same training),
``history.csv``, ``metrics.json``, ``curves.png`` and, for two-dimensional data,
``regions.png``; with ``--diagnose``, ``diagnostics.png`` (the health monitor's record);
while training, ``checkpoint.safetensors`` (the latest epoch) and ``best.safetensors``
(the lowest validation loss so far), see :mod:`chainrule.runs.checkpoint`. Its
``metrics.json`` says ``"status": "running"`` while it trains and ends ``complete``,
``interrupted`` (Ctrl-C, SIGTERM: ``chainrule train --resume RUN_DIR`` continues) or
``failed``.

A :class:`~chainrule.health.monitor.HealthMonitor` watches every run (``--no-monitor``
turns it off): its verdicts go into metrics.json under ``"diagnosis"`` and a ``health:``
line follows the report. ``--lr auto`` runs the learning-rate range test on the training
split first and trains at its suggestion, which config.json records as a number.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import datasets
from ..engine.backend import Backend
from ..engine.network import Network
from ..health.diagnosis import Diagnosis
from ..health.importance import Importance
from ..health.lr_find import LRFindResult
from ..health.monitor import HealthMonitor
from ..runs import Reporter, Run, RunConfig, RunOptions
from ..runs import train as train_run
from ..runs.crossval import format_cv
from ..runs.output import DIAGNOSTICS, RUN_FILES
from ..runs.recipe import describe_recipe
from ..runs.rundir import CHECKPOINT, CONFIG, MODEL
from ..runs.stages import learning_rate, load_data, split
from ..training.callbacks import Callback, History
from . import exit_status
from .common import describe_network, is_tty
from .config import (
    DEFAULTS,
    UsageError,
    add_data_arguments,
    add_network_arguments,
    add_run_arguments,
    add_table_arguments,
    add_training_arguments,
    config_from_args,
    usage_error,
)
from .progress import make_progress
from .stream import add_stream_arguments, run_streamed, wants_stream

__all__ = ["DIAGNOSTICS", "RUN_FILES", "Printer", "TrainResult", "add_arguments", "run",
           "train", "RunConfig", "load_data", "split"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Every setting is a flag; ``--config FILE.toml`` gives the same keys (flags win)."""
    add_data_arguments(p, defaults_from="digits")
    add_network_arguments(p)
    g = p.add_argument_group("training")
    add_training_arguments(g)
    add_run_arguments(g)
    add_table_arguments(p)
    o = p.add_argument_group("output")
    o.add_argument("--out", metavar="DIR", default=None,
                   help="run directory (default runs/<timestamp>/)")
    o.add_argument("--resume", metavar="RUN_DIR", default=None,
                   help="continue an interrupted run from its checkpoint, with its saved "
                   "settings, and finish its remaining epochs")
    o.add_argument("--quiet", action="store_true", help="no progress and no report")
    add_stream_arguments(o)
    h = p.add_argument_group("health")
    h.add_argument("--no-monitor", dest="monitor", action="store_false",
                   help="no health monitor: no diagnosis in metrics.json, no health line")
    h.add_argument("--no-importance", dest="importance", action="store_false",
                   help="do not rank the input columns by permutation importance "
                   "(metrics.json 'importance', the report's top columns)")
    h.add_argument("--diagnose", action="store_true",
                   help=f"print the monitor's full diagnosis and write {DIAGNOSTICS} into "
                   "the run directory (on divergence: print its verdict)")
    o.add_argument("--distributed", action="store_true",
                   help="data-parallel over MPI ranks (launch with mpirun -n K)")
    d = p.add_argument_group("device")
    d.add_argument("--device", default="cpu", metavar="WHERE",
                   help="cpu (default), cuda, cuda:N, or auto (a CUDA GPU when torch or CuPy "
                   "finds one, else the CPU); the model file is the same either way")
    d.add_argument("--backend", choices=("numpy", "torch", "cupy"), default=None,
                   help="the array library (default: numpy on the CPU, torch on a GPU, "
                   "else cupy)")


def run(args: argparse.Namespace) -> int:
    resume = getattr(args, "resume", None)
    try:
        if resume is not None:
            cfg = None
            _check_resume_flags(args)
        else:
            cfg = config_from_args(args, table_recipe=True)
        if args.diagnose and not args.monitor:
            raise UsageError("--diagnose reads the health monitor; drop --no-monitor")
        if wants_stream(args, cfg):
            return run_streamed(args, cfg)
    except UsageError as exc:
        return usage_error(args, exc)
    printer = Printer(quiet=args.quiet, diagnose=args.diagnose)
    options = RunOptions(monitor=args.monitor, diagnostics=args.diagnose, device=args.device,
                         backend=args.backend, distributed=args.distributed,
                         importance=args.importance)
    kwargs: dict[str, Any] = dict(out=args.out, resume=resume, options=options,
                                  printer=printer)
    if resume is not None and args.checkpoint_every is not None:
        kwargs["checkpoint_every"] = args.checkpoint_every
    try:
        if args.distributed:
            from ..distributed import abort_on_error

            # A rank failing alone (its node cannot read the data, say) must end the job,
            # not leave the other ranks waiting in the first collective call.
            with abort_on_error():
                train(cfg, **kwargs)
        else:
            train(cfg, **kwargs)
    except KeyboardInterrupt as exc:
        if printer.told_interruption:  # said where the checkpoint is: no more to say
            return exit_status(exc)
        raise
    return 0


def _check_resume_flags(args: argparse.Namespace) -> None:
    """``--resume`` takes the run's saved settings: any other setting is a usage error."""
    given = [f"--{k.replace('_', '-')}" for k in DEFAULTS
             if k != "checkpoint_every" and getattr(args, k, None) is not None]
    if getattr(args, "config", None):
        given.insert(0, "--config")
    if args.out is not None:
        given.insert(0, "--out")
    if given:
        raise UsageError(f"--resume {args.resume}: continues the run with its saved settings "
                         f"in its own directory; drop {', '.join(given)} (or start a new run: "
                         f"chainrule train --config {Path(args.resume) / CONFIG} …)")


class Printer(Reporter):
    """What ``chainrule train`` prints as the run goes: the data and network, progress,
    the test report, the health line, the files; ``quiet``: only warnings and where an
    interrupted run's checkpoint is. ``live``: a live progress bar (default: on a
    terminal). ``diagnose``: the monitor's full diagnosis too."""

    def __init__(self, *, quiet: bool = False, live: bool | None = None,
                 diagnose: bool = False) -> None:
        self.show, self.live, self.diagnose = not quiet, live, diagnose
        self.told_interruption = False

    def lr_found(self, cfg: RunConfig, result: LRFindResult) -> None:
        if self.show:
            print(f"lr auto: range test suggests η = {result.suggestion:.3g} ({result.reason}; "
                  f"{len(result.lrs)} steps of {cfg.optimizer}, {result.lrs[0]:.0e} … "
                  f"{result.lrs[-1]:.0e})", flush=True)

    def started(self, cfg: RunConfig, ds: datasets.Dataset, net: Network,
                sizes: tuple[int, int, int], resumed: tuple[Path, int] | None) -> None:
        if self.show:
            print(_describe(ds, net, cfg, sizes), flush=True)
            if resumed is not None:
                print(f"resuming {resumed[0]} after epoch {resumed[1]}/{cfg.epochs}", flush=True)

    def progress(self) -> Callback | None:
        return make_progress(is_tty() if self.live is None else self.live) if self.show else None

    def moved(self, backend: Backend) -> None:
        if self.show:
            print(f"training on {backend.name} {backend.device}", flush=True)

    def tested(self, metrics: dict[str, Any]) -> None:
        if self.show:
            from ..health.report import format_report

            print()
            print(format_report(metrics) if "task" in metrics else
                  "no test report (--test-split 0)", flush=True)
            if "cv" in metrics:
                print(f"\n{format_cv(metrics['cv'])}", flush=True)

    def diagnosed(self, diagnosis: Diagnosis, monitor: HealthMonitor) -> None:
        if self.show:
            print(f"\n{health_summary(diagnosis)}", flush=True)
            if self.diagnose:
                print(f"\ndiagnosis ({len(monitor.checks)} checks, every {monitor.every} "
                      f"steps):\n{diagnosis.report()}", flush=True)

    def ranked(self, importance: Importance) -> None:
        if self.show:
            print(f"\n{importance.format(top=5)}", flush=True)

    def diverged(self, diagnosis: Diagnosis) -> None:  # the verdict before the error line
        if self.diagnose:
            print(f"diagnosis:\n{diagnosis.report()}", file=sys.stderr, flush=True)

    def written(self, run_dir: Path, files: list[str]) -> None:
        if self.show:
            print(f"\nwrote {run_dir}/: {', '.join(files)}")
            print(f"next: chainrule evaluate {run_dir / MODEL}")

    def interrupted(self, run_dir: Path, epochs_done: int, epochs: int | None,
                    resume: str) -> None:
        where = (f"the model of epoch {epochs_done}/{epochs} is in {run_dir / CHECKPOINT}"
                 if epochs_done else f"no epoch had finished; the settings are in "
                 f"{run_dir / CONFIG}")
        print(f"interrupted: {where}; continue with: {resume}", file=sys.stderr, flush=True)
        self.told_interruption = True

    def warn(self, message: str) -> None:
        print(f"warning: {message}", file=sys.stderr)


def _describe(ds: datasets.Dataset, net: Network, cfg: RunConfig, n: tuple[int, ...]) -> str:
    what = (f"{len(ds.classes)} classes" if ds.classes is not None else
            f"{ds.n_outputs} target(s)")
    notes = "".join(f"{note}\n" for note in ds.notes)
    return (f"{notes}{ds.name}: {sum(n)} samples (train {n[0]}, val {n[1]}, test {n[2]}), "
            f"{ds.n_features} features, {what}\n"
            f"network {describe_network(net)}{_extras(cfg)}, {cfg.activation} → "
            f"{net.output_activation}, "
            f"loss {net.loss_fn.name}, {cfg.optimizer} lr {learning_rate(cfg):g} ({cfg.schedule}), "
            f"{cfg.epochs} epochs, batch {cfg.batch_size}, {cfg.dtype}"
            + (f"\n{describe_recipe(cfg)}" if cfg.recipe != "plain" else ""))


def _extras(cfg: RunConfig) -> str:
    """`` × 5 members (cv: fold m unseen by member m)``, `` with embeddings both``…"""
    text = ""
    if cfg.embeddings != "none":
        text += f" with {cfg.embeddings} embeddings"
    if cfg.cv:
        text += f" × {cfg.cv} members (--cv {cfg.cv}: member m never sees fold m)"
    elif cfg.ensemble > 1:
        text += f" × {cfg.ensemble} members (their mean predicts)"
    return text


def health_summary(diagnosis: Diagnosis) -> str:
    """``health: healthy``, or one ``health: …`` line per verdict."""
    if diagnosis.healthy:
        return "health: healthy"
    return "\n".join(f"health: {v.message}" for v in diagnosis.verdicts)


@dataclass
class TrainResult:
    """What :func:`train` returns: the run's, with the settings as config.json has them."""

    net: Network
    history: History
    metrics: dict[str, Any]
    #: config.json: the run configuration with the choices the data made filled in.
    config: dict[str, Any]
    out: Path | None
    run_config: RunConfig | None = None
    diagnosis: Diagnosis | None = None
    monitor: HealthMonitor | None = None


def train(cfg: RunConfig | Mapping[str, Any] | None, *, out: str | None = None,
          resume: str | None = None, checkpoint_every: int | None = None,
          callbacks: Sequence[Callback] = (), options: RunOptions | None = None,
          quiet: bool = False, live: bool | None = None, printer: Printer | None = None
          ) -> TrainResult:
    """``chainrule train`` without argparse: :func:`chainrule.runs.train` (``resume``:
    :meth:`~chainrule.runs.Run.resume`; ``cfg`` and ``out`` are then ignored), printed
    by ``printer`` (default: a :class:`Printer` with ``quiet`` and ``live``)."""
    printer = printer or Printer(quiet=quiet, live=live)
    options = options or RunOptions()
    if resume is not None:
        result = Run.resume(resume, checkpoint_every=checkpoint_every, callbacks=callbacks,
                            reporter=printer, options=options)
    elif cfg is None:
        raise ValueError("train: give a configuration or a run directory to resume")
    else:
        if not isinstance(cfg, RunConfig):
            cfg = RunConfig.from_mapping(cfg)
        if checkpoint_every is not None:
            cfg = cfg.replace(checkpoint_every=checkpoint_every)
        result = train_run(cfg, out, callbacks=callbacks, reporter=printer, options=options)
    return TrainResult(result.net, result.history, result.metrics, result.saved_config,
                       result.path, result.config, result.diagnosis, result.monitor)
