"""The configuration of a training run: :class:`RunConfig`, frozen and typed, validated
once from a mapping, a configuration file or (in :mod:`chainrule.cli`) the flags.

Every setting's check is declared here once, in :data:`CHECKS`: a schema of
:mod:`chainrule.io.schema` (the model file's header and the playground's messages are
checked with the same library), worded for a configuration in
:mod:`chainrule.runs.checks`. The names a setting accepts (``activation``, ``loss``,
``optimizer``, ``schedule``…) come from the library's tables (:data:`chainrule.ACTIVATIONS`
and friends) when a value is checked, so a subclass registered after ``import chainrule``
is accepted.

A message about a bad setting names where the value came from: the file (``sources``),
else the setting; a value given as an argument (``sources[key] == ARGUMENT``, the CLI's
flags) is a :class:`UsageError`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import datasets
from ..engine import activations, losses
from ..engine.validation import DTYPES
from ..io.schema import Invalid, where
from ..training import optimizers, schedules
from . import checks
from .checks import AUTO, CLASS_WEIGHTS, INT_MAX, parse_hidden
from .config_file import MAX_CONFIG_BYTES, ConfigFileError, read_config_file
from .errors import RunError
from .recipe import RECIPES


class ConfigError(RunError):
    """A setting that is not acceptable, or settings that do not go together."""


class UsageError(ConfigError):
    """A bad setting given as an argument (a command-line flag) rather than in a file: the
    command prints its usage and exits with status 2."""


# -- the tables, read when asked (never captured at import) -------------------------------------
def activation_names() -> list[str]:
    return sorted(activations.ACTIVATIONS)


def loss_names() -> list[str]:
    return sorted(losses.LOSSES)


def optimizer_names() -> list[str]:
    return list(optimizers.OPTIMIZERS)


def schedule_names() -> list[str]:
    return list(schedules.SCHEDULES)


def numeric_encoding_names() -> tuple[str, ...]:
    from ..table.numeric import NUMERIC_ENCODINGS

    return NUMERIC_ENCODINGS


def categorical_encoding_names() -> tuple[str, ...]:
    from ..table.categories import CATEGORICAL_ENCODINGS

    return CATEGORICAL_ENCODINGS


#: What ``embeddings`` accepts: no embedding layer, a lookup per category column coded as
#: integers, periodic features of every number column, or both.
EMBEDDINGS = ("none", "categorical", "periodic", "both")
#: The most members (``ensemble``) and folds (``cv``) a run trains at once.
MAX_MEMBERS = 64



@dataclass(frozen=True)
class RunConfig:
    """Every setting of one training run, typed and validated; never mutated.

    ``None`` means "chosen from the data" (the task of CSV/npz data, the output
    activation and loss): those choices are results of the run's stages, not settings.
    Build one with :meth:`from_mapping` or :meth:`from_file` (``chainrule train``: from
    its flags, :func:`chainrule.cli.config.config_from_args`); :meth:`to_dict` gives the
    keys of ``config.json`` and of a ``--config`` file.

    Examples
    --------
    >>> from chainrule.runs import RunConfig
    >>> cfg = RunConfig.from_mapping({"dataset": "xor", "hidden": "8,8", "epochs": 5})
    >>> cfg.hidden, cfg.lr
    ((8, 8), 0.001)
    """

    dataset: str = "digits"
    csv: str | None = None
    npz: str | None = None
    target: str | None = None
    task: str | None = None
    data_dir: str | None = None
    n_samples: int = 500
    noise: float = 0.2
    drop: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()
    hidden: tuple[int, ...] = (128, 64)
    activation: str = "relu"
    output_activation: str | None = None
    loss: str | None = None
    optimizer: str = "adam"
    lr: float | str = 0.001  # or "auto": chosen by the range test (chainrule.lr_find)
    schedule: str = "constant"
    epochs: int = 20
    batch_size: int | str = 32  # or "auto": scaled to the training rows (runs.recipe)
    seed: int = 0
    dtype: str = "float32"
    val_split: float = 0.1
    test_split: float = 0.2
    early_stopping: int = 0
    l2: float = 0.0
    dropout: float = 0.0
    checkpoint_every: int = 1
    class_weight: str | None = None  # "balanced": classification only (chainrule.weights)
    weight_decay: float | None = None  # adamw's decoupled decay λ (None: the optimizer's own)
    label_smoothing: float | str = 0.0  # ε, or "auto": runs.recipe.AUTO_LABEL_SMOOTHING
    min_delta: float = 1e-4  # early stopping's minimum improvement (scikit-learn's tol)
    clipnorm: float | None = None  # rescale gradients to this global L2 norm at most
    recipe: str = "plain"  # which defaults filled the settings not given (runs.recipe)
    numeric_encoding: str | None = None  # the table encoder's (None: TableEncoder's default)
    ple_bins: int | None = None  # bins of numeric_encoding "ple" (None: the encoder's)
    categorical_encoding: str | None = None  # "onehot" or "codes" (None: the encoder's)
    embeddings: str = "none"  # learned input layers of a table (chainrule.engine.embeddings)
    ensemble: int = 1  # K members trained at once as one batched network
    cv: int | str = 0  # K folds as K members; 0: none; "auto": runs.recipe.auto_folds

    @property
    def folds(self) -> int:
        """``cv`` as a number of folds (0: none); ``"auto"`` must be resolved first
        (:func:`chainrule.runs.stages.resolve_auto`)."""
        if isinstance(self.cv, str):
            raise ConfigError("cv auto: resolve it first (chainrule.runs.stages.resolve_auto)")
        return self.cv

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain JSON/TOML values, in :data:`DEFAULTS` order."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["hidden"] = list(self.hidden)
        for key in ("drop", "categorical", "numeric"):
            out[key] = list(out[key])
        return out

    def replace(self, **changes: Any) -> RunConfig:
        """A new, validated configuration with ``changes``."""
        return RunConfig.from_mapping({**self.to_dict(), **changes})

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, origin: str | None = None
                     ) -> RunConfig:
        """Validate ``values`` (missing keys take their defaults).

        ``origin`` (a file name) starts every message; without it a
        :class:`ConfigError` names the setting.
        """
        unknown = sorted(set(values) - set(DEFAULTS))
        if unknown:
            where = f"{origin}: " if origin else ""
            raise ConfigError(f"{where}unknown setting(s) {', '.join(unknown)}; valid "
                              f"settings are {', '.join(DEFAULTS)}")
        sources = dict.fromkeys(values, origin or "")
        return build_config({**DEFAULTS, **values}, sources)

    @classmethod
    def from_file(cls, path: str | Path) -> RunConfig:
        """The configuration a TOML or JSON file holds (missing keys take their defaults;
        a file naming a ``csv`` or ``npz`` file but no ``dataset`` trains on that file).
        Every message about a bad value starts with the file's name."""
        values, sources = file_settings(path)
        return build_config({**DEFAULTS, **values}, sources)


#: ``sources[key]`` when the value was given as an argument, a flag ("" for a default or a
#: plain mapping; otherwise the file that gave it).
ARGUMENT = "--"

#: Every key of a training configuration (flags, TOML/JSON ``--config`` and ``config.json``
#: use these names) and its default. ``None`` means "chosen from the data".
DEFAULTS: dict[str, Any] = RunConfig().to_dict()

DATA_KEYS = ("dataset", "csv", "npz", "target", "task", "data_dir", "n_samples", "noise",
             "drop", "categorical", "numeric")


#: The check of every setting (:mod:`chainrule.runs.checks`): a schema that says what it
#: accepts, and gives the value typed.
CHECKS: dict[str, checks.Setting] = {
    "dataset": checks.Name("dataset", lambda: datasets.NAMES),
    "csv": checks.Text("a path to a CSV file"),
    "npz": checks.Text("a path to an .npz file"),
    "target": checks.Text("the name of the CSV's target column"),
    "task": checks.Name("task", lambda: datasets.TASKS, optional=True),
    "data_dir": checks.Text("a directory"),
    "n_samples": checks.Integer(2, INT_MAX, "an integer ≥ 2"),
    "noise": checks.Number("a non-negative number", 0),
    "drop": checks.ColumnNames(),
    "categorical": checks.ColumnNames(),
    "numeric": checks.ColumnNames(),
    "hidden": checks.Hidden(),
    "activation": checks.Name("activation", activation_names),
    "output_activation": checks.Name("output_activation", activation_names, optional=True),
    "loss": checks.Name("loss", loss_names, optional=True),
    "optimizer": checks.Name("optimizer", optimizer_names),
    "lr": checks.LearningRate(),
    "schedule": checks.Name("schedule", schedule_names),
    "epochs": checks.Integer(1, INT_MAX, "a positive integer"),
    "batch_size": checks.IntegerOrAuto(1, INT_MAX, "a positive integer"),
    "seed": checks.Integer(0, 2**63 - 1, "a non-negative integer"),
    "dtype": checks.Name("dtype", lambda: DTYPES),
    "val_split": checks.Number("a number in [0, 1)", 0, 1, high_open=True),
    "test_split": checks.Number("a number in [0, 1)", 0, 1, high_open=True),
    "early_stopping": checks.Integer(0, INT_MAX, "a non-negative integer (patience in "
                                     "epochs; 0 = off)"),
    "l2": checks.Number("a non-negative number", 0),
    "dropout": checks.Number("a number in [0, 1)", 0, 1, high_open=True),
    "checkpoint_every": checks.Integer(1, INT_MAX, "a positive integer (epochs between "
                                       "checkpoints)"),
    "class_weight": checks.ClassWeight(),
    "weight_decay": checks.Number("a non-negative number (or no key: the optimizer's own)",
                                  0, optional=True),
    "label_smoothing": checks.NumberOrAuto("a number in [0, 1)", 0, 1, high_open=True),
    "min_delta": checks.Number("a non-negative number", 0),
    "clipnorm": checks.Number("a positive number (or no key: no clipping)", 0,
                              low_open=True, optional=True),
    "recipe": checks.Name("recipe", lambda: RECIPES),
    "numeric_encoding": checks.Name("numeric_encoding", numeric_encoding_names, optional=True),
    "ple_bins": checks.Integer(1, 10_000, "an integer from 1 to 10000 (or no key: the "
                               "encoder's default)", optional=True),
    "categorical_encoding": checks.Name("categorical_encoding", categorical_encoding_names,
                                        optional=True),
    "embeddings": checks.Name("embeddings", lambda: EMBEDDINGS),
    "ensemble": checks.Integer(1, MAX_MEMBERS, "a positive integer (members; 1: one network)"),
    "cv": checks.IntegerOrAuto(0, MAX_MEMBERS, "0 (off) or a number of folds ≥ 2"),
}
assert set(CHECKS) == set(DEFAULTS)


def _fail(message: str, keys: Iterable[str], sources: Mapping[str, str]) -> ConfigError:
    """The error for ``message`` about ``keys``: naming the file when one gave a key,
    a usage error when only flags (and defaults) did."""
    files = [sources[k] for k in keys if sources.get(k) not in (None, "", ARGUMENT)]
    if files:
        return ConfigError(f"{files[0]}: {message}")
    if any(sources.get(k) == ARGUMENT for k in keys):
        return UsageError(message)
    return ConfigError(message)


def build_config(values: Mapping[str, Any], sources: Mapping[str, str]) -> RunConfig:
    """Check every setting of ``values`` (all of :data:`DEFAULTS`' keys) with
    :data:`CHECKS`, then the settings that must go together.

    ``sources[key]`` says where a value came from: a file's name (it starts the
    message), :data:`ARGUMENT` (a :class:`UsageError`), or nothing ("" or absent: a
    :class:`ConfigError` naming the setting).
    """
    typed: dict[str, Any] = {}
    for key, setting in CHECKS.items():
        try:
            setting.check(values[key], (key,))
        except Invalid as bad:
            raise _fail(f"{where(bad.path)}: {bad.reason}", [key], sources) from None
        typed[key] = setting.typed(values[key])
    if (typed["embeddings"] in ("categorical", "both") and typed["dataset"] == "csv"
            and typed["categorical_encoding"] is None):
        typed["categorical_encoding"] = "codes"  # what the lookup layers read
    cfg = RunConfig(**typed)
    if cfg.val_split + cfg.test_split >= 1:
        raise _fail("val_split + test_split: must be below 1 so samples are left to train on",
                    ["val_split", "test_split"], sources)
    if cfg.dataset == "csv" and not (cfg.csv and cfg.target):
        raise _fail("dataset csv: give the file and its target column: --csv PATH "
                    "--target COLUMN", ["dataset", "csv", "target"], sources)
    if cfg.dataset == "npz" and not cfg.npz:
        raise _fail("dataset npz: give the file: --npz PATH", ["dataset", "npz"], sources)
    if cfg.csv and cfg.dataset != "csv":
        raise _fail(f"--csv and --dataset {cfg.dataset}: give one source of data",
                    ["csv", "dataset"], sources)
    if cfg.npz and cfg.dataset != "npz":
        raise _fail(f"--npz and --dataset {cfg.dataset}: give one source of data",
                    ["npz", "dataset"], sources)
    if cfg.target and not cfg.csv:
        raise _fail(f"--target {cfg.target}: names a column of a CSV file; give the file "
                    "with --csv PATH", ["target", "csv"], sources)
    for key in ("drop", "categorical", "numeric"):
        if getattr(cfg, key) and cfg.dataset != "csv":
            raise _fail(f"{key}: names columns of a CSV file; give the file with --csv PATH",
                        [key, "dataset"], sources)
    if cfg.weight_decay is not None and cfg.optimizer != "adamw":
        raise _fail(f"weight_decay: is adamw's decoupled decay, and the optimizer is "
                    f"{cfg.optimizer}; use --optimizer adamw (or --l2 for an L2 penalty)",
                    ["weight_decay", "optimizer"], sources)
    for key in ("numeric_encoding", "ple_bins", "categorical_encoding"):
        if getattr(cfg, key) is not None and cfg.dataset != "csv":
            raise _fail(f"{key}: tells how a CSV file's columns are encoded; give the file "
                        "with --csv PATH", [key, "dataset"], sources)
    if cfg.embeddings != "none" and cfg.dataset != "csv":
        raise _fail(f"embeddings {cfg.embeddings}: embeds a CSV file's columns; give the file "
                    "with --csv PATH", ["embeddings", "dataset"], sources)
    if cfg.embeddings in ("categorical", "both") and cfg.categorical_encoding == "onehot":
        raise _fail(f"embeddings {cfg.embeddings}: looks up category columns coded as "
                    "integers; drop --categorical-encoding onehot (codes is implied)",
                    ["embeddings", "categorical_encoding"], sources)
    if cfg.cv == 1:
        raise _fail("cv: 1 fold leaves nothing to test each member on; use 0 (off) or K ≥ 2",
                    ["cv"], sources)
    if isinstance(cfg.cv, int) and cfg.cv and cfg.ensemble > 1:
        raise _fail(f"cv {cfg.cv} and ensemble {cfg.ensemble}: --cv K trains its K folds as "
                    "the K members of one ensemble; give one of them",
                    ["cv", "ensemble"], sources)
    if cfg.task and cfg.dataset not in ("csv", "npz"):
        raise _fail(f"--task {cfg.task}: applies to your own data only (--csv or --npz); "
                    f"{cfg.dataset} has its own task", ["task", "dataset"], sources)
    return cfg


def file_settings(path: str | Path) -> tuple[dict[str, Any], dict[str, str]]:
    """The settings of a configuration file and their sources (the file, for each key): a
    file that names a ``csv`` (or ``npz``) file but no ``dataset`` trains on that file."""
    values = read_config_file(path, DEFAULTS)
    sources = dict.fromkeys(values, str(path))
    if "dataset" not in values:
        if values.get("csv"):
            values["dataset"], sources["dataset"] = "csv", str(path)
        elif values.get("npz"):
            values["dataset"], sources["dataset"] = "npz", str(path)
    return values, sources


__all__ = [
    "ARGUMENT", "AUTO", "CHECKS", "CLASS_WEIGHTS", "DATA_KEYS", "DEFAULTS", "INT_MAX",
    "MAX_CONFIG_BYTES", "ConfigError", "ConfigFileError", "RunConfig", "UsageError",
    "build_config", "file_settings", "parse_hidden", "read_config_file",
]
