"""``chainrule train``: load → split → build → fit → report → write, one small function
each, over a frozen :class:`~chainrule.cli.config.RunConfig`.

It runs past 300 lines because checkpointing, resuming, the run status and the health
monitor joined the stages; splitting the stages into their own module is the next clean-up.

The run directory holds ``model.safetensors``, ``config.json`` (the fully resolved
settings: ``chainrule train --config config.json`` reruns the same training),
``history.csv``, ``metrics.json``, ``curves.png`` and, for two-dimensional data,
``regions.png``; with ``--diagnose``, ``diagnostics.png`` (the health monitor's record,
:func:`chainrule.plots.plot_diagnostics`); while training, ``checkpoint.safetensors``
(the latest epoch) and ``best.safetensors`` (the lowest validation loss so far), see
:mod:`chainrule.checkpoint`.

The directory is checked before the data is loaded and created (with ``config.json``
and ``metrics.json`` saying ``"status": "running"``) before training starts; the
status ends as ``complete``, ``interrupted`` (Ctrl-C, SIGTERM: the checkpoint is kept,
``chainrule train --resume RUN_DIR`` continues) or ``failed``.

A :class:`~chainrule.health.HealthMonitor` watches every run (``--no-monitor`` turns it
off): its verdicts (:func:`chainrule.diagnosis.verdicts`) go into metrics.json under
``"diagnosis"`` and a ``health:`` line follows the report. ``--lr auto`` runs the
learning-rate range test (:func:`chainrule.lr_find.lr_find`) on the training split first
and trains at its suggestion, which config.json records as a number.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .. import datasets
from ..engine.backend import Backend
from ..engine.network import Network
from ..health.diagnosis import Diagnosis, verdicts
from ..health.monitor import HealthMonitor
from ..io.atomic import atomic_write_bytes, create_directory_with, sweep_temp_files
from ..runs.checkpoint import (
    BEST,
    CHECKPOINT,
    CONFIG,
    METRICS,
    Checkpointer,
    CheckpointState,
    EpochOffset,
    ResumableEarlyStopping,
    Resumed,
    history_csv,
    read_checkpoint,
    read_status,
    save_model,
)
from ..training.callbacks import Callback, DivergenceError, History
from ..training.optimizers import Optimizer, get_optimizer
from ..training.schedules import Schedule, get_schedule
from . import CLIError
from .common import (
    build_network,
    describe_network,
    encode_targets,
    evaluate,
    fit_encoder,
    is_tty,
    load_dataset,
)
from .config import (
    AUTO,
    DEFAULTS,
    RunConfig,
    UsageError,
    _float_type,
    _int_type,
    add_data_arguments,
    add_network_arguments,
    add_training_arguments,
    usage_error,
)
from .progress import make_progress

#: What a finished run directory holds (``best.safetensors`` only with a validation split
#: or early stopping; plus ``regions.png`` for two-dimensional classification data).
RUN_FILES = ("model.safetensors", CHECKPOINT, BEST, CONFIG, "history.csv", METRICS,
             "curves.png")
#: Written with ``--diagnose``.
DIAGNOSTICS = "diagnostics.png"
#: Steps between two checks of the health monitor (runs shorter than two checks: two
#: checks spread over the run).
MONITOR_EVERY = 50


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Every setting is a flag; ``--config FILE.toml`` gives the same keys (flags win)."""
    add_data_arguments(p, defaults_from="digits")
    add_network_arguments(p)
    g = p.add_argument_group("training")
    add_training_arguments(g)
    g.add_argument("--epochs", type=_int_type(1, "a positive integer"), default=None, metavar="N",
                   help="passes over the training split (default 20)")
    g.add_argument("--batch-size", type=_int_type(1, "a positive integer"), default=None,
                   metavar="N",
                   help="samples per gradient step (default 32)")
    g.add_argument("--val-split", type=_float_type(0, 1, "a fraction in [0, 1)"), default=None,
                   metavar="F",
                   help="fraction held out for validation (default 0.1)")
    g.add_argument("--test-split", type=_float_type(0, 1, "a fraction in [0, 1)"), default=None,
                   metavar="F",
                   help="fraction held out for the test report (default 0.2; MNIST has its "
                   "own test set)")
    g.add_argument("--early-stopping", type=_int_type(0, "a non-negative integer"),
                   default=None, metavar="PATIENCE",
                   help="stop after PATIENCE epochs without a better validation loss and "
                   "keep the best weights (default 0: off; a --csv job given neither "
                   "this nor --epochs trains up to 200 epochs with patience 10)")
    g.add_argument("--checkpoint-every", type=_int_type(1, "a positive integer"),
                   default=None, metavar="N",
                   help="write checkpoint.safetensors every N epochs (default 1)")
    g.add_argument("--class-weight", choices=["balanced"], default=None,
                   help="weight every class by n / (n_classes · n_c) so rare classes count "
                   "as much as common ones (classification only; default: unweighted)")
    o = p.add_argument_group("output")
    o.add_argument("--out", metavar="DIR", default=None,
                   help="run directory (default runs/<timestamp>/)")
    o.add_argument("--resume", metavar="RUN_DIR", default=None,
                   help="continue an interrupted run from its checkpoint, with its saved "
                   "settings, and finish its remaining epochs")
    o.add_argument("--quiet", action="store_true", help="no progress and no report")
    h = p.add_argument_group("health")
    h.add_argument("--no-monitor", dest="monitor", action="store_false",
                   help="no health monitor: no diagnosis in metrics.json, no health line")
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
            cfg = RunConfig.from_args(args)
        if args.diagnose and not args.monitor:
            raise UsageError("--diagnose reads the health monitor; drop --no-monitor")
    except UsageError as exc:
        return usage_error(args, exc)
    options: dict[str, Any] = dict(out=args.out, quiet=args.quiet, resume=resume,
                                   monitor=args.monitor, diagnose=args.diagnose,
                                   device=args.device, backend=args.backend)
    if resume is not None and args.checkpoint_every is not None:
        options["checkpoint_every"] = args.checkpoint_every
    try:
        if args.distributed:
            from ..distributed import data_parallel as distributed

            # A rank failing alone (its node cannot read the data, say) must end the job,
            # not leave the other ranks waiting in the first collective call.
            with distributed.abort_on_error():
                train(cfg, distributed=True, **options)
            return 0
        train(cfg, distributed=args.distributed, **options)
    except DivergenceError as exc:  # still one error line (chainrule.cli.main); the verdict first
        diagnosis = getattr(exc, "diagnosis", None)
        if args.diagnose and isinstance(diagnosis, Diagnosis):
            print(f"diagnosis:\n{diagnosis.report()}", file=sys.stderr, flush=True)
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


@dataclass
class TrainResult:
    net: Network
    history: History
    metrics: dict[str, Any]
    #: The settings as written to config.json: the run configuration with the choices
    #: the data made (output activation, loss; the task of CSV/npz data) filled in.
    config: dict[str, Any]
    out: Path | None
    run_config: RunConfig | None = None
    #: The health monitor's verdicts (None with ``monitor=False``).
    diagnosis: Diagnosis | None = None
    monitor: HealthMonitor | None = None


@dataclass(frozen=True)
class Splits:
    """The training, validation and test samples of one run (raw features, raw labels)."""

    X_train: NDArray
    y_train: NDArray
    X_val: NDArray
    y_val: NDArray
    X_test: NDArray
    y_test: NDArray

    @property
    def sizes(self) -> tuple[int, int, int]:
        return len(self.X_train), len(self.X_val), len(self.X_test)


@dataclass(frozen=True)
class Fitted:
    """What the fit stage returns: the history and the training time."""

    history: History
    seconds: float


def learning_rate(cfg: RunConfig) -> float:
    """``cfg.lr`` as a number (``"auto"`` is resolved by :func:`auto_lr` before this)."""
    if isinstance(cfg.lr, str):
        raise CLIError(f"lr {cfg.lr}: resolve it first (chainrule.cli.train.auto_lr)")
    return float(cfg.lr)


def make_optimizer(cfg: RunConfig, steps_per_epoch: int) -> Optimizer:
    """The optimizer with its schedule; decaying schedules span the whole run."""
    total = max(1, cfg.epochs * steps_per_epoch)
    lr = learning_rate(cfg)
    options: dict[str, dict[str, Any]] = {
        "constant": {},
        "step": {"step_size": max(1, total // 4), "gamma": 0.5},  # halve every quarter
        "exponential": {"decay_steps": total, "gamma": 0.1},  # ÷10 over the run
        "invscaling": {},
        "cosine": {"total_steps": total},
    }
    schedule: float | Schedule = lr if cfg.schedule == "constant" else get_schedule(
        cfg.schedule, lr, **options.get(cfg.schedule, {}))
    return get_optimizer(cfg.optimizer, lr=schedule)


# -- the run directory -------------------------------------------------------------------------
def check_out(out: str | None, *, resuming: bool = False) -> None:
    """Refuse, before anything is loaded or trained, an ``--out`` that cannot become a run
    directory: a file, a path through a file, a directory nobody may write, or (unless
    ``resuming``) one holding an unfinished run. Creates nothing."""
    if out is not None and not str(out).strip():
        raise CLIError("--out: empty; give the run directory, e.g. --out runs/mnist")
    path = Path(out) if out is not None else Path("runs")
    probe = path
    while not (probe.exists() or probe.is_symlink()) and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        where = "exists and is not a directory" if probe == path else (
            f"{probe} is not a directory")
        raise CLIError(f"--out {path}: {where}; give a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        what = "cannot write in the directory" if probe == path else (
            f"cannot create the run directory in {probe}")
        raise CLIError(f"--out {path}: {what} (permission denied); choose another --out")
    if not resuming and probe == path and (path / CHECKPOINT).exists():
        status = (read_status(path) or {}).get("status")
        if status in ("running", "interrupted"):
            raise CLIError(f"--out {path}: holds an unfinished run (status {status}); continue "
                           f"it with: chainrule train --resume {path}, or choose another --out")


class RunDir:
    """A run directory and its ``metrics.json`` status."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.info: dict[str, Any] = {}

    @property
    def status(self) -> str | None:
        return self.info.get("status")

    @classmethod
    def create(cls, out: str | None, config: dict[str, Any], *, fresh: bool,
               epochs_done: int = 0) -> RunDir:
        """Create (or take over) the directory with config.json and metrics.json
        ``"status": "running"``; a directory this creates appears with both already in
        it. ``fresh``: a new run, so an older run's checkpoints there are removed."""
        started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        info: dict[str, Any] = {"status": "running", "pid": os.getpid(), "started": started,
                                "epochs": config["epochs"], "epochs_done": epochs_done}
        # metrics.json first: a directory taken over is marked running before anything
        # of the older run in it is replaced.
        files = {METRICS: _json_bytes(info), CONFIG: _json_bytes(config)}
        try:
            if out is not None:
                path = Path(out)
                if path.is_dir():
                    sweep_temp_files(path)
                    atomic_write_bytes(path / METRICS, files[METRICS])
                    if fresh:
                        for name in (CHECKPOINT, BEST):
                            (path / name).unlink(missing_ok=True)
                    atomic_write_bytes(path / CONFIG, files[CONFIG])
                else:
                    create_directory_with(path, files)
            else:
                stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
                runs = Path("runs")
                runs.mkdir(parents=True, exist_ok=True)
                sweep_temp_files(runs)
                n = 0
                while True:
                    path = runs / (stamp if n == 0 else f"{stamp}-{n}")
                    n += 1
                    try:
                        create_directory_with(path, files)
                        break
                    except FileExistsError:
                        continue
        except OSError as exc:
            where = out if out is not None else "runs/"
            raise CLIError(f"--out {where}: cannot create the run directory "
                           f"({exc.strerror or type(exc).__name__}); choose another --out"
                           ) from None
        run = cls(path)
        run.info = info
        return run

    def mark(self, status: str, **extra: Any) -> None:
        """Rewrite metrics.json with ``status`` (and ``extra``); never raises OSError."""
        info = {"status": status, **{k: v for k, v in {**self.info, **extra}.items()
                                     if k != "status" and (k != "pid" or status == "running")}}
        try:
            atomic_write_bytes(self.path / METRICS, _json_bytes(info))
        except OSError as exc:
            print(f"warning: {self.path / METRICS}: cannot record status {status} "
                  f"({exc.strerror or exc})", file=sys.stderr)
        self.info = info


def resolved_config(cfg: RunConfig, ds: datasets.Dataset, net: Network) -> RunConfig:
    """What config.json holds: a new configuration with what the data chose filled in
    (``cfg`` itself is left as it is), so ``chainrule train --config config.json`` reruns
    the same training."""
    return cfg.replace(task=ds.task if cfg.dataset in ("csv", "npz") else cfg.task,
                       output_activation=net.output_activation, loss=net.loss_fn.name)


def _describe(ds: datasets.Dataset, net: Network, cfg: RunConfig, n: tuple[int, ...]) -> str:
    what = (f"{len(ds.classes)} classes" if ds.classes is not None else
            f"{ds.n_outputs} target(s)")
    notes = "".join(f"{note}\n" for note in ds.notes)
    return (f"{notes}{ds.name}: {sum(n)} samples (train {n[0]}, val {n[1]}, test {n[2]}), "
            f"{ds.n_features} features, {what}\n"
            f"network {describe_network(net)}, {cfg.activation} → {net.output_activation}, "
            f"loss {net.loss_fn.name}, {cfg.optimizer} lr {learning_rate(cfg):g} ({cfg.schedule}), "
            f"{cfg.epochs} epochs, batch {cfg.batch_size}, {cfg.dtype}")


def _history_csv(history: History) -> bytes:
    return history_csv(history.epoch, history.history)


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2) + "\n").encode("utf-8")


def read_resume(run_dir: str) -> tuple[RunConfig, Resumed | None]:
    """The configuration and checkpoint of the run in ``run_dir`` (no checkpoint yet: the
    run stopped before its first epoch ended, and starts again from its config.json)."""
    path = Path(run_dir)
    if not path.is_dir():
        raise CLIError(f"--resume {path}: no such run directory")
    status = read_status(path) or {}
    if status.get("status") == "complete":
        raise CLIError(f"--resume {path}: the run is complete ({status.get('epochs_run')} "
                       f"epochs); its model is {path / 'model.safetensors'}")
    try:
        resumed: Resumed | None = read_checkpoint(path)
    except FileNotFoundError:
        resumed = None
    except ValueError as exc:  # ModelFileError included
        raise CLIError(f"--resume {path}: {exc}") from None
    if resumed is not None:
        values = resumed.config
    else:
        config = path / CONFIG
        if not config.is_file():
            raise CLIError(f"--resume {path}: neither {CHECKPOINT} nor {CONFIG} is there; "
                           "not a chainrule run directory")
        from .config import read_config_file

        values = read_config_file(config)
    return RunConfig.from_mapping(values, origin=str(path / CONFIG)), resumed


# -- the stages --------------------------------------------------------------------------------
def load_data(cfg: RunConfig) -> datasets.Dataset:
    """Stage 1: the data set the configuration names."""
    ds = load_dataset(cfg)
    if ds.task == "regression" and ds.y.ndim == 2:
        ds.target_names = ds.target_names[: ds.y.shape[1]]
    return ds


def split(cfg: RunConfig, ds: datasets.Dataset) -> Splits:
    """Stage 2: the seeded (stratified) split; MNIST keeps its own test set. A table
    (CSV) is encoded here, by a :class:`~chainrule.table.TableEncoder` fitted on the
    training rows."""
    labels = ds.y if ds.task == "classification" else None
    predefined = ds.X_test is not None
    try:
        s = datasets.split_indices(len(ds.X), val=cfg.val_split,
                                   test=0.0 if predefined else cfg.test_split,
                                   labels=labels, seed=cfg.seed)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if ds.table is not None:  # learned from the training rows only: no leakage
        ds.encode(fit_encoder(cfg, ds.table.take(s.train)), np.dtype(cfg.dtype))
    if predefined:
        assert ds.X_test is not None and ds.y_test is not None
        X_test, y_test = ds.X_test, ds.y_test
    else:
        X_test, y_test = ds.X[s.test], ds.y[s.test]
    if len(X_test) == 0:
        raise CLIError("test_split: 0 leaves no test set for the report; use e.g. 0.2")
    return Splits(ds.X[s.train], ds.y[s.train], ds.X[s.val], ds.y[s.val], X_test, y_test)


def training_backend(device: str = "cpu", backend: str | None = None) -> Backend:
    """Where ``chainrule train --device D [--backend B]`` computes.

    ``cpu``: NumPy (or ``backend``, e.g. torch on the CPU). ``cuda`` / ``cuda:N``: torch
    on that GPU, else CuPy; ``auto``: that GPU when one is found, else NumPy. A device or
    library that is missing is a :class:`~chainrule.backend.BackendError` saying which.
    """
    from ..engine.backend import BackendError, get_backend

    if not isinstance(device, str) or not (device in ("cpu", "auto", "cuda") or (
            device.startswith("cuda:") and device[5:].isdigit())):
        raise CLIError(f"--device: expected cpu, cuda, cuda:N or auto, got {device!r}")
    if device == "cpu":
        if backend == "cupy":
            raise CLIError("--backend cupy: CuPy computes on a GPU; give --device cuda")
        return get_backend(backend or "numpy", "cpu" if backend == "torch" else None)
    index = int(device[5:]) if device.startswith("cuda:") else 0
    errors = []
    for name in [backend] if backend else ["torch", "cupy"]:
        if name == "numpy":
            raise CLIError(f"--device {device}: the numpy backend runs on the CPU only; "
                           "use --backend torch or cupy")
        try:
            return get_backend(name, f"cuda:{index}" if name == "torch" else index)
        except BackendError as exc:
            errors.append(str(exc))
    if device == "auto":  # no GPU: the CPU (torch's, if asked for; else NumPy)
        return get_backend("torch", "cpu") if backend == "torch" else get_backend("numpy")
    raise BackendError(f"--device {device}: no usable GPU backend ({'; '.join(errors)})")


def build(cfg: RunConfig, ds: datasets.Dataset, splits: Splits) -> Network:
    """Stage 3: the MLP, its scaler (training statistics only) and classes; for
    regression the output layer starts at the training targets' mean and spread."""
    net = build_network(cfg, ds)
    net.encoder = ds.encoder
    net.scaler = (ds.encoder.standardizer(splits.X_train) if ds.encoder is not None
                  else ds.fit_scaler(splits.X_train))
    net.classes = ds.classes
    if ds.task == "regression":
        net.init_output_from_targets(encode_targets(net, splits.y_train, ds.task))
    return net


def auto_lr(cfg: RunConfig, net: Network, ds: datasets.Dataset, splits: Splits, *,
            show: bool) -> RunConfig:
    """Stage 3½ (``--lr auto``): the range test on the training split, with this network
    and this optimizer kind (``net`` itself is left as it was); the configuration with
    the suggested rate. Any other ``cfg`` comes back as it is."""
    if cfg.lr != AUTO:
        return cfg
    result = range_test(cfg, net, ds, splits)
    if show:
        print(f"lr auto: range test suggests η = {result.suggestion:.3g} (steepest descent of "
              f"the loss over {len(result.lrs)} steps of {cfg.optimizer}, "
              f"{result.lrs[0]:.0e} … {result.lrs[-1]:.0e})", flush=True)
    return cfg.replace(lr=float(result.suggestion))


def range_test(cfg: RunConfig, net: Network, ds: datasets.Dataset, splits: Splits, *,
               start: float = 1e-7, end: float = 10.0, steps: int = 100) -> Any:
    """:func:`chainrule.lr_find.lr_find` on the training split, as ``train`` would train
    it (same encoding of the targets, same batch size, same optimizer kind)."""
    from ..health.lr_find import lr_find

    Y_train = encode_targets(net, splits.y_train, ds.task)
    try:
        return lr_find(net, splits.X_train, Y_train, start=start, end=end, steps=steps,
                       batch_size=min(cfg.batch_size, len(splits.X_train)),
                       optimizer=cfg.optimizer)
    except ValueError as exc:  # e.g. the loss diverged within the first steps
        raise CLIError(str(exc)) from None


def make_monitor(cfg: RunConfig, splits: Splits, epochs: int) -> HealthMonitor:
    """The health monitor of a run of ``epochs`` (more) epochs: a check every
    :data:`MONITOR_EVERY` steps, or two spread over a shorter run."""
    steps = epochs * math.ceil(len(splits.X_train) / min(cfg.batch_size, len(splits.X_train)))
    return HealthMonitor(every=max(1, min(MONITOR_EVERY, steps // 2)))


def health_summary(diagnosis: Diagnosis) -> str:
    """``health: healthy``, or one ``health: …`` line per verdict."""
    if diagnosis.healthy:
        return "health: healthy"
    return "\n".join(f"health: {v.message}" for v in diagnosis.verdicts)


def diagnosis_json(diagnosis: Diagnosis) -> dict[str, Any]:
    """``Diagnosis.to_dict()`` with non-finite numbers as null (metrics.json stays JSON)."""
    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v
    return dict(clean(diagnosis.to_dict()))


@dataclass
class Checkpointing:
    """How the fit stage checkpoints: into ``run_dir`` (None: not at all, e.g. on the
    other MPI ranks), from ``state`` (a resumed run's; else a new one)."""

    run_dir: Path | None = None
    state: CheckpointState | None = None
    resumed: Resumed | None = None
    training: Any = None  # state -> the training metadata of a checkpoint
    feature_names: list[str] | None = None
    checkpointer: Checkpointer | None = None


#: Early stopping watches the validation loss from this many validation rows on, else the
#: training loss with scikit-learn's tolerance (:func:`early_stopping`).
MIN_VAL_ROWS = 100
TRAIN_LOSS_TOL = 1e-4


def early_stopping(patience: int, n_val: int, **resume: Any) -> ResumableEarlyStopping:
    """``--early-stopping PATIENCE`` for a validation split of ``n_val`` rows.

    From :data:`MIN_VAL_ROWS` rows on: stop when the validation loss has not fallen for
    PATIENCE epochs and keep the best weights. Below, a validation loss is noise (on
    msleep's 8 validation rows stopping on it cost R² 0.85 → 0.69): stop as scikit-learn's
    MLP does, when the training loss has not fallen by more than 1e-4 for PATIENCE
    epochs, keeping the last weights.
    """
    on_val = n_val >= MIN_VAL_ROWS
    return ResumableEarlyStopping("val_loss" if on_val else "loss", patience,
                                  min_delta=0.0 if on_val else TRAIN_LOSS_TOL,
                                  restore_best_weights=on_val, **resume)


def fit(cfg: RunConfig, net: Network, ds: datasets.Dataset, splits: Splits, *,
        callbacks: list[Callback], fit_fn: Any = None,
        checkpointing: Checkpointing | None = None) -> Fitted:
    """Stage 4: train ``net`` on the training split (``fit_fn``: another fit, e.g. MPI),
    checkpointing into a run directory, or continuing a resumed run's remaining epochs;
    ``class_weight`` weights the training samples' costs by their class."""
    if cfg.class_weight and ds.task != "classification":
        raise CLIError(f"class_weight {cfg.class_weight}: weights classes, and this is "
                       f"{ds.task} data; leave --class-weight out (or train a "
                       "classification task)")
    ck = checkpointing or Checkpointing()
    resumed = ck.resumed
    state = ck.state or (resumed.state if resumed else CheckpointState(epochs=cfg.epochs))
    prior = CheckpointState(**{**state.to_json(), "history_epochs": list(state.history_epochs),
                               "history": {k: list(v) for k, v in state.history.items()}})
    Y_train = encode_targets(net, splits.y_train, ds.task)
    validation = None
    if len(splits.X_val):
        validation = (splits.X_val, encode_targets(net, splits.y_val, ds.task))
    steps = math.ceil(len(splits.X_train) / cfg.batch_size)
    optimizer = make_optimizer(cfg, steps)
    if resumed is not None and resumed.net.optimizer is not None:
        optimizer.load_state_dict(resumed.net.optimizer.state_dict())
    run_callbacks = list(callbacks)
    early = None
    if cfg.early_stopping:
        early = early_stopping(cfg.early_stopping, len(splits.X_val) if validation else 0,
                               state=state.early_stopping if resumed else None,
                               best_params=resumed.best_params if resumed else None)
        run_callbacks.append(early)
    start = time.perf_counter()
    if ck.run_dir is not None:
        monitor = "val_loss" if validation else ("loss" if early else None)
        ck.checkpointer = Checkpointer(
            ck.run_dir, every=cfg.checkpoint_every, state=state, monitor=monitor,
            early_stopping=early, training=ck.training, feature_names=ck.feature_names,
            seconds=lambda: prior.train_seconds + time.perf_counter() - start)
        run_callbacks.append(ck.checkpointer)
    remaining = 0 if prior.stopped else max(0, cfg.epochs - prior.epoch)
    # A batch larger than the training split is the whole split: the same steps, without
    # buffers sized for samples that do not exist.
    kwargs: dict[str, Any] = dict(
        epochs=remaining, batch_size=min(cfg.batch_size, len(splits.X_train)),
        optimizer=optimizer, validation_data=validation,
        callbacks=[EpochOffset(run_callbacks, prior.epoch, cfg.epochs)])
    if cfg.class_weight:  # from the training split's classes (chainrule.weights)
        kwargs["class_weight"] = cfg.class_weight
    if fit_fn is None:
        new = net.fit(splits.X_train, Y_train, **kwargs)
    else:
        new = fit_fn(net, splits.X_train, Y_train, **kwargs)
    seconds = prior.train_seconds + time.perf_counter() - start
    history = prior.to_history()
    history.epoch += [e + prior.epoch for e in new.epoch]
    for key, values in new.history.items():
        history.history.setdefault(key, []).extend(values)
    return Fitted(history, seconds)


def report(net: Network, ds: datasets.Dataset, splits: Splits, *, show: bool
           ) -> dict[str, Any]:
    """Stage 5: the test metrics, printed when ``show``."""
    metrics = evaluate(net, splits.X_test, splits.y_test, ds.task, ds.classes,
                       y_train=splits.y_train)
    if show:
        from ..health.report import format_report

        print()
        print(format_report(metrics), flush=True)
    return metrics


def summarize(config: dict[str, Any], ds: datasets.Dataset, splits: Splits, fitted: Fitted,
              metrics: dict[str, Any]) -> dict[str, Any]:
    """The training summary saved in the model (and, but for the config, metrics.json)."""
    history = fitted.history
    n_train, n_val, n_test = splits.sizes
    return {
        "config": config,
        "task": ds.task,
        "target_names": ds.target_names,
        "epochs_run": len(history.epoch),
        "final": {k: v[-1] for k, v in history.history.items()},
        "test": {k: v for k, v in metrics.items() if not isinstance(v, (list, dict))},
        "n_train": n_train, "n_val": n_val, "n_test": n_test,
        "train_seconds": round(fitted.seconds, 3),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def write(out: str | None | RunDir, net: Network, ds: datasets.Dataset, splits: Splits,
          history: History, metrics: dict[str, Any], summary: dict[str, Any], *, show: bool,
          diagnosis: Diagnosis | None = None, monitor: HealthMonitor | None = None) -> Path:
    """Stage 6: the model, history, plots and, last, metrics (``"status": "complete"``),
    each written atomically into the run directory (created now if ``out`` is not one).
    ``diagnosis`` goes into metrics.json; with ``monitor``, its record is plotted into
    ``diagnostics.png``."""
    run = out if isinstance(out, RunDir) else RunDir.create(out, summary["config"], fresh=True)
    run_dir = run.path
    save_model(net, run_dir / "model.safetensors", training=summary,
               feature_names=ds.feature_names)
    atomic_write_bytes(run_dir / "history.csv", _history_csv(history))
    plot_error: CLIError | None = None
    try:
        written = _plots(net, history, ds, splits.X_train, splits.y_train, run_dir)
        if monitor is not None:
            written += _diagnostics_plot(monitor, run_dir)
    except CLIError as exc:  # no matplotlib: the run itself is complete
        plot_error = exc
    started = run.info.get("started")
    run.info = {}
    final = {"test": metrics, **{k: v for k, v in summary.items() if k != "config"}}
    if diagnosis is not None:
        final["diagnosis"] = diagnosis_json(diagnosis)
    run.mark("complete", **final, **({"started": started} if started else {}))
    if plot_error is not None:
        raise plot_error
    if show:
        print(f"\nwrote {run_dir}/: {', '.join(written)}")
        print(f"next: chainrule evaluate {run_dir / 'model.safetensors'}")
    return run_dir


def _interrupted(run: RunDir, ck: Checkpointing, exc: BaseException, show: bool) -> None:
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
        print(f"warning: the last epoch's checkpoint was not written ({err})", file=sys.stderr)
        done = checkpointer.saved_epoch if checkpointer else 0
    epochs = run.info.get("epochs")
    resume = f"chainrule train --resume {run.path}"
    extra: dict[str, Any] = {"epochs_done": done, "resume": resume}
    if (run.path / CHECKPOINT).is_file() and done:
        extra["checkpoint"] = CHECKPOINT
    run.mark("interrupted", **extra)
    where = (f"the model of epoch {done}/{epochs} is in {run.path / CHECKPOINT}" if done else
             f"no epoch had finished; the settings are in {run.path / CONFIG}")
    print(f"interrupted: {where}; continue with: {resume}", file=sys.stderr, flush=True)
    exc.reported = True  # type: ignore[attr-defined]  # chainrule.cli.main says no more


def train(cfg: RunConfig | Mapping[str, Any] | None, *, out: str | None = None,
          quiet: bool = False, distributed: bool = False, live: bool | None = None,
          resume: str | None = None, checkpoint_every: int | None = None,
          callbacks: list[Callback] | None = None, monitor: bool = True,
          diagnose: bool = False, device: str = "cpu", backend: str | None = None
          ) -> TrainResult:
    """One training run: load → split → build → fit → report → write.

    ``cfg`` is a :class:`RunConfig` (a mapping with its keys is validated into one).
    With ``resume`` (a run directory; ``cfg`` and ``out`` are then ignored) the run
    continues from its checkpoint with its saved settings. With ``distributed`` the fit
    runs data-parallel over MPI (every rank calls this); only the root rank prints and
    writes files. ``callbacks`` observe the fit too (their epochs count from the start
    of the run, also when it resumes).

    With ``monitor`` a :class:`HealthMonitor` watches the fit (on the root rank): its
    verdicts go into metrics.json (``"diagnosis"``) and, unless quiet, a ``health:`` line
    follows the report; ``diagnose`` also prints the full diagnosis and writes
    ``diagnostics.png``. A :class:`DivergenceError` then carries the divergence verdict
    as its ``diagnosis`` attribute. ``cfg.lr == "auto"`` runs the range test first.

    ``device`` / ``backend`` choose where the fit computes (:func:`training_backend`):
    the data are loaded, encoded and split on the host, the network is moved there for
    the fit and back for the report and the files.
    """
    resumed: Resumed | None = None
    if resume is not None:
        cfg, resumed = read_resume(resume)
        out = str(resume)
    elif cfg is None:
        raise ValueError("train: give a configuration or a run directory to resume")
    elif not isinstance(cfg, RunConfig):
        cfg = RunConfig.from_mapping(cfg)
    if checkpoint_every is not None:
        cfg = cfg.replace(checkpoint_every=checkpoint_every)
    fit_fn: Any = None
    root = True
    if distributed:  # the only difference: another fit, and output from rank 0 only
        from ..distributed import data_parallel as dist

        fit_fn, root = dist.fit, dist.is_root()
    show = root and not quiet
    where = training_backend(device, backend)  # before anything is loaded or trained
    if distributed and not where.is_numpy:
        raise CLIError(f"--device {device}: MPI training runs on the numpy backend (CPU) "
                       "only; drop --distributed or --device")
    if root:
        check_out(out, resuming=resume is not None)

    ds = load_data(cfg)
    splits = split(cfg, ds)
    if resumed is not None:
        net = resumed.net
        if net.n_in != ds.n_features:
            raise CLIError(f"--resume {resume}: the checkpoint takes {net.n_in} features, the "
                           f"data ({ds.name}) has {ds.n_features}; the data changed")
    else:
        net = build(cfg, ds, splits)
        cfg = auto_lr(cfg, net, ds, splits, show=show)
    config = resolved_config(cfg, ds, net).to_dict()
    n_train, n_val, n_test = splits.sizes

    def checkpoint_training(state: CheckpointState) -> dict[str, Any]:
        return {"config": config, "task": ds.task, "target_names": ds.target_names,
                "epochs_run": state.epoch, "n_train": n_train, "n_val": n_val,
                "n_test": n_test}

    ck = Checkpointing(resumed=resumed, state=resumed.state if resumed else None,
                       training=checkpoint_training, feature_names=ds.feature_names)
    run: RunDir | None = None
    if root:
        run = RunDir.create(out, config, fresh=resumed is None,
                            epochs_done=resumed.state.epoch if resumed else 0)
        ck.run_dir = run.path
    run_callbacks: list[Callback] = list(callbacks or [])
    if show:
        print(_describe(ds, net, cfg, splits.sizes), flush=True)
        if resumed is not None:
            print(f"resuming {run.path if run else resume} after epoch "
                  f"{resumed.state.epoch}/{cfg.epochs}", flush=True)
        run_callbacks.append(make_progress(is_tty() if live is None else live))
    health: HealthMonitor | None = None
    if monitor and root:
        done = resumed.state.epoch if resumed else 0
        health = make_monitor(cfg, splits, max(0, cfg.epochs - done))
        run_callbacks.insert(0, health)
    diagnosis: Diagnosis | None = None
    if not where.is_numpy:
        net = net.to_backend(where.name, where.device)
        if show:
            print(f"training on {where.name} {where.device}", flush=True)
    try:
        fitted = fit(cfg, net, ds, splits, callbacks=run_callbacks, fit_fn=fit_fn,
                     checkpointing=ck)
        if not where.is_numpy:
            net = net.to_backend()  # the report, the files and the result: on the host
        metrics = report(net, ds, splits, show=show)
        if health is not None:
            diagnosis = verdicts(health)
            if show:
                print(f"\n{health_summary(diagnosis)}", flush=True)
                if diagnose:
                    print(f"\ndiagnosis ({len(health.checks)} checks, every {health.every} "
                          f"steps):\n{diagnosis.report()}", flush=True)
        summary = summarize(config, ds, splits, fitted, metrics)
        run_dir = write(run, net, ds, splits, fitted.history, metrics, summary, show=show,
                        diagnosis=diagnosis, monitor=health if diagnose else None
                        ) if run is not None else None
    except KeyboardInterrupt as exc:  # Ctrl-C, and SIGTERM in the CLI (see chainrule.cli)
        if run is not None and run.status != "complete":
            _interrupted(run, ck, exc, show)
        raise
    except BaseException as exc:
        extra: dict[str, Any] = {}
        if health is not None and isinstance(exc, DivergenceError):
            diverged = verdicts(health, exc)
            exc.diagnosis = diverged  # type: ignore[attr-defined]  # for train --diagnose
            extra["diagnosis"] = diagnosis_json(diverged)
        if run is not None and run.status != "complete":
            done = ck.checkpointer.saved_epoch if ck.checkpointer else 0
            run.mark("failed", error=str(exc) or type(exc).__name__, epochs_done=done,
                     **({"checkpoint": CHECKPOINT} if done else {}), **extra)
        raise
    return TrainResult(net, fitted.history, metrics, config, run_dir, cfg, diagnosis, health)


def _diagnostics_plot(monitor: HealthMonitor, run_dir: Path) -> list[str]:
    """``diagnostics.png`` (nothing, with a warning, when the monitor made no check)."""
    from ..health.plots import plot_diagnostics

    if not monitor.checks:
        print(f"warning: no {DIAGNOSTICS}: the health monitor made no check (no step ran)",
              file=sys.stderr)
        return []
    try:
        plot_diagnostics(monitor, run_dir / DIAGNOSTICS)
    except ImportError as exc:
        raise CLIError(f"plots need matplotlib ({exc}); the model and the other files are in "
                       f"{run_dir}; install the plots with: pip install 'chainrule[cli]'"
                       ) from exc
    return [DIAGNOSTICS]


def _plots(net: Network, history: History, ds: datasets.Dataset, X: np.ndarray,
           y: np.ndarray, run_dir: Path) -> list[str]:
    """Write the plots; a missing matplotlib is an error that names the extra."""
    from ..health.plots import plot_decision_regions, plot_history

    written = ["model.safetensors"] + [name for name in (CHECKPOINT, BEST)
                                       if (run_dir / name).is_file()]
    written += [CONFIG, "history.csv", METRICS]
    try:
        plot_history(history.history, run_dir / "curves.png", title=f"{ds.name}")
        written.append("curves.png")
        if ds.n_features == 2 and ds.task == "classification":
            plot_decision_regions(net, X, y, run_dir / "regions.png", ds.classes)
            written.append("regions.png")
    except ImportError as exc:
        raise CLIError(f"plots need matplotlib ({exc}); the model and the other files are in "
                       f"{run_dir}; install the plots with: pip install 'chainrule[cli]'"
                       ) from exc
    return written
