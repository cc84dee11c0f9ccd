"""Options and configuration of ``train`` and ``gradcheck``: flag types (bad values are
usage errors, exit 2), the TOML/JSON ``--config`` file, and :class:`RunConfig`, the frozen,
typed run configuration built and validated once from both (a config file bypasses
argparse, so its mistakes are runtime errors, exit 1, naming the file and the setting).

It runs past 300 lines because every setting's check, flag and config-file key is declared
here once (the one place that validates a run), which is long by nature.

The names a flag accepts (``--activation``, ``--loss``, ``--optimizer``, ``--schedule``…)
come from the library's tables (:data:`chainrule.activations.ACTIVATIONS` and friends)
when the parser is built, so a subclass registered after ``import chainrule`` is offered.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
import reprlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import datasets
from ..engine import activations, losses
from ..engine.validation import DTYPES
from ..io.errors import MAX_JSON_DEPTH, FileFormatError, json_nesting, parse_json
from ..training import optimizers, schedules
from . import CLIError

#: A configuration file is refused above this size, before it is read.
MAX_CONFIG_BYTES = 1 << 20


class ConfigFileError(CLIError, FileFormatError):
    """A configuration file that cannot be read: the one bad-file type
    (:class:`~chainrule.errors.FileFormatError`), and still a :class:`CLIError`."""


#: The largest integer setting accepted (epochs, batch size, sample count, layer width).
INT_MAX = 2**31 - 1


class UsageError(CLIError):
    """A bad or missing flag found after argparse (e.g. ``--target`` without ``--csv``):
    the command prints the usage and exits with status 2 (see :func:`usage_error`)."""


def usage_error(args: argparse.Namespace, exc: Exception) -> int:
    """Report ``exc`` the way argparse reports a usage error; returns 2."""
    import sys

    parser = getattr(args, "_parser", None)
    prog = "chainrule"
    if isinstance(parser, argparse.ArgumentParser):
        parser.print_usage(sys.stderr)
        prog = parser.prog
    print(f"{prog}: error: {exc}", file=sys.stderr)
    return 2


# -- the tables, read when asked (never captured at import) -------------------------------------
def activation_names() -> list[str]:
    return sorted(activations.ACTIVATIONS)


def loss_names() -> list[str]:
    return sorted(losses.LOSSES)


def optimizer_names() -> list[str]:
    return list(optimizers.OPTIMIZERS)


def schedule_names() -> list[str]:
    return list(schedules.SCHEDULES)


_NAME_TABLES: dict[str, Callable[[], Iterable[str]]] = {
    "dataset": lambda: datasets.NAMES,
    "activation": activation_names,
    "output_activation": activation_names,
    "loss": loss_names,
    "optimizer": optimizer_names,
    "schedule": schedule_names,
    "dtype": lambda: DTYPES,
    "task": lambda: datasets.TASKS,
}


# -- the configuration -------------------------------------------------------------------------
@dataclass(frozen=True)
class RunConfig:
    """Every setting of one training run, typed and validated; never mutated.

    ``None`` means "chosen from the data" (the task of CSV/npz data, the output
    activation and loss): those choices are results of the run's stages, not settings.
    Build one with :meth:`from_args` or :meth:`from_mapping`; :meth:`to_dict` gives the
    keys of ``config.json`` and of a ``--config`` file.
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
    batch_size: int = 32
    seed: int = 0
    dtype: str = "float32"
    val_split: float = 0.1
    test_split: float = 0.2
    early_stopping: int = 0
    l2: float = 0.0
    dropout: float = 0.0
    checkpoint_every: int = 1
    class_weight: str | None = None  # "balanced": classification only (chainrule.weights)

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

        ``origin`` (a file name) starts every message; without it errors are
        :class:`CLIError` naming the setting.
        """
        unknown = sorted(set(values) - set(DEFAULTS))
        if unknown:
            where = f"{origin}: " if origin else ""
            raise CLIError(f"{where}unknown setting(s) {', '.join(unknown)}; valid settings "
                           f"are {', '.join(DEFAULTS)}")
        sources = dict.fromkeys(values, origin or "")
        return _build({**DEFAULTS, **values}, sources)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> RunConfig:
        """Defaults, then the ``--config`` file, then the flags that were given.

        A bad flag value found here is a :class:`UsageError`; a bad file value a
        :class:`CLIError` naming the file.
        """
        path = getattr(args, "config", None)
        values: dict[str, Any] = dict(DEFAULTS)
        sources: dict[str, str] = {}
        if path:
            from_file = read_config_file(path)
            values.update(from_file)
            sources.update(dict.fromkeys(from_file, str(path)))
            if "dataset" not in from_file:  # a file naming its data file names its source
                if from_file.get("csv"):
                    values["dataset"], sources["dataset"] = "csv", str(path)
                elif from_file.get("npz"):
                    values["dataset"], sources["dataset"] = "npz", str(path)
        flags = {k: getattr(args, k) for k in DEFAULTS if getattr(args, k, None) is not None}
        values.update(flags)
        sources.update(dict.fromkeys(flags, FLAG))
        if getattr(args, "dataset", None) is None:
            if getattr(args, "csv", None):
                values["dataset"], sources["dataset"] = "csv", FLAG
            elif getattr(args, "npz", None):
                values["dataset"], sources["dataset"] = "npz", FLAG
        if values["dataset"] == "csv" and not {"epochs", "early_stopping"} & set(sources):
            # A table's size says nothing about how long it needs: train until the
            # validation loss stops improving (and keep the best weights), as
            # scikit-learn's MLP does by default, instead of a fixed 20 epochs.
            values["epochs"], values["early_stopping"] = TABLE_EPOCHS, TABLE_PATIENCE
        return _build(values, sources)


#: A CSV job given neither --epochs nor --early-stopping trains up to TABLE_EPOCHS epochs and
#: stops after TABLE_PATIENCE without a better validation loss, keeping the best weights.
TABLE_EPOCHS = 200
TABLE_PATIENCE = 10

#: ``sources[key]`` when a flag gave the value ("" for a default or a plain mapping).
FLAG = "--"

#: Every key of a training configuration (flags, TOML/JSON ``--config`` and ``config.json``
#: use these names) and its default. ``None`` means "chosen from the data".
DEFAULTS: dict[str, Any] = RunConfig().to_dict()

DATA_KEYS = ("dataset", "csv", "npz", "target", "task", "data_dir", "n_samples", "noise",
             "drop", "categorical", "numeric")


# -- checking one value -----------------------------------------------------------------------
class _Invalid(Exception):
    """A value is not acceptable: ``accepted`` says what is; ``show_kind`` adds its type."""

    def __init__(self, accepted: str, *, show_kind: bool = False, message: str | None = None
                 ) -> None:
        super().__init__(accepted)
        self.accepted, self.show_kind, self.message = accepted, show_kind, message


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlong = 3, 60, 60, 60
_REPR.maxlist = _REPR.maxdict = _REPR.maxtuple = 6


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    kinds = [(bool, "a boolean"), (int, "an integer"), (float, "a number"), (str, "a string"),
             (list, "a list"), (tuple, "a list"), (dict, "a table")]
    for t, name in kinds:
        if isinstance(value, t):
            return name
    return f"a {type(value).__name__}"


def _show(value: Any, *, kind: bool = False) -> str:
    """A short, safe rendering of a configuration value (deep or huge values cut)."""
    try:
        text = _REPR.repr(value)
    except (ValueError, RecursionError):  # an int too long for str(), a pathological value
        text = f"<{_kind(value)}>"
    return f"{text} ({_kind(value)})" if kind else text


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    """A finite int or float (not a bool)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(float(v))
    except OverflowError:  # an int beyond the float range
        return False


def _integer(low: int, high: int, what: str) -> Callable[[Any], int]:
    def check(v: Any) -> int:
        if not _is_int(v):
            raise _Invalid(what, show_kind=True)
        if not low <= v <= high:
            raise _Invalid(what if v < low else f"{what} no larger than {high}")
        return int(v)
    return check


def _number(test: Callable[[float], bool], what: str) -> Callable[[Any], float]:
    def check(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise _Invalid(what, show_kind=True)
        if not (_is_num(v) and test(float(v))):
            raise _Invalid(what)
        return float(v)
    return check


def _name(key: str, *, optional: bool = False) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        valid = list(_NAME_TABLES[key]())
        if v is None and optional:
            return None
        if not isinstance(v, str):
            raise _Invalid(f"a name, one of {', '.join(valid)}", show_kind=True)
        if v.lower() not in valid:
            raise _Invalid("", message=f"unknown {key} {v!r}; valid names are "
                           f"{', '.join(valid)}")
        return v.lower()
    return check


def _text(what: str) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        if v is None:
            return None
        if not isinstance(v, str) or not v:
            raise _Invalid(what, show_kind=not isinstance(v, str))
        return v
    return check


_HIDDEN_FORM = ("comma-separated positive layer widths such as 128,64 (or 'none'), or a "
                "list such as [128, 64]")


def parse_hidden(text: str | list[int] | tuple[int, ...]) -> list[int]:
    """``"256,128"`` → [256, 128]; ``"none"`` → [] (no hidden layer); a list of widths
    as it is. Anything else is a ValueError naming what was found and what is accepted."""
    if isinstance(text, (list, tuple)):
        items: list[Any] = list(text)
    elif isinstance(text, str):
        if text.strip().lower() in ("", "none"):
            return []
        items = [t.strip() for t in text.split(",")]
    else:
        raise ValueError(f"hidden: expected {_HIDDEN_FORM}, got {_show(text, kind=True)}")
    sizes: list[int] = []
    for item in items:
        if _is_int(item):
            sizes.append(item)
        elif isinstance(item, str) and re.fullmatch(r"\+?\d{1,12}", item):
            sizes.append(int(item))
        else:
            sizes = []
            break
    if len(sizes) != len(items) or any(not 1 <= s <= INT_MAX for s in sizes):
        shown = repr(text) if isinstance(text, str) else _show(text)
        raise ValueError(f"hidden: expected {_HIDDEN_FORM}, got {shown}")
    return sizes


def _hidden(v: Any) -> tuple[int, ...]:
    try:
        return tuple(parse_hidden(v))
    except ValueError as exc:
        raise _Invalid("", message=str(exc).removeprefix("hidden: ")) from None


def _column_names(v: Any) -> tuple[str, ...]:
    """A list of CSV column names (a single name is a list of one)."""
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, (list, tuple)) or not all(isinstance(n, str) and n for n in v):
        raise _Invalid("a list of column names", show_kind=True)
    return tuple(v)


#: What ``class_weight`` takes: one word (per-class tables are the Python API's).
CLASS_WEIGHTS = ("balanced",)


def _class_weight(v: Any) -> str | None:
    """None (unweighted) or ``"balanced"`` (any case)."""
    if v is None:
        return None
    if not isinstance(v, str) or v.strip().lower() not in CLASS_WEIGHTS:
        raise _Invalid(f"{' or '.join(map(repr, CLASS_WEIGHTS))} (or no key: unweighted)",
                       show_kind=not isinstance(v, str))
    return v.strip().lower()


#: The one word ``lr`` takes besides a number: run the range test, train at its suggestion.
AUTO = "auto"

_positive = _number(lambda v: v > 0, "a positive number")


def _learning_rate(v: Any) -> float | str:
    """A positive number, or ``"auto"`` (any case); another word is refused naming both."""
    if isinstance(v, str):
        if v.strip().lower() == AUTO:
            return AUTO
        raise _Invalid(f"a positive number or {AUTO!r}", show_kind=True)
    return _positive(v)


_CHECKS: dict[str, Callable[[Any], Any]] = {
    "dataset": _name("dataset"),
    "csv": _text("a path to a CSV file"),
    "npz": _text("a path to an .npz file"),
    "target": _text("the name of the CSV's target column"),
    "task": _name("task", optional=True),
    "data_dir": _text("a directory"),
    "n_samples": _integer(2, INT_MAX, "an integer ≥ 2"),
    "noise": _number(lambda v: v >= 0, "a non-negative number"),
    "drop": _column_names,
    "categorical": _column_names,
    "numeric": _column_names,
    "hidden": _hidden,
    "activation": _name("activation"),
    "output_activation": _name("output_activation", optional=True),
    "loss": _name("loss", optional=True),
    "optimizer": _name("optimizer"),
    "lr": _learning_rate,
    "schedule": _name("schedule"),
    "epochs": _integer(1, INT_MAX, "a positive integer"),
    "batch_size": _integer(1, INT_MAX, "a positive integer"),
    "seed": _integer(0, 2**63 - 1, "a non-negative integer"),
    "dtype": _name("dtype"),
    "val_split": _number(lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "test_split": _number(lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "early_stopping": _integer(0, INT_MAX, "a non-negative integer (patience in epochs; "
                               "0 = off)"),
    "l2": _number(lambda v: v >= 0, "a non-negative number"),
    "dropout": _number(lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "checkpoint_every": _integer(1, INT_MAX, "a positive integer (epochs between "
                                 "checkpoints)"),
    "class_weight": _class_weight,
}
assert set(_CHECKS) == set(DEFAULTS)


def _fail(message: str, keys: Iterable[str], sources: Mapping[str, str]) -> CLIError:
    """The error for ``message`` about ``keys``: naming the file when one gave a key,
    a usage error when only flags (and defaults) did."""
    files = [sources[k] for k in keys if sources.get(k) not in (None, "", FLAG)]
    if files:
        return CLIError(f"{files[0]}: {message}")
    if any(sources.get(k) == FLAG for k in keys):
        return UsageError(message)
    return CLIError(message)


def _build(values: Mapping[str, Any], sources: Mapping[str, str]) -> RunConfig:
    typed: dict[str, Any] = {}
    for key, check in _CHECKS.items():
        value = values[key]
        try:
            typed[key] = check(value)
        except _Invalid as bad:
            message = bad.message or (f"expected {bad.accepted}, got "
                                      f"{_show(value, kind=bad.show_kind)}")
            raise _fail(f"{key}: {message}", [key], sources) from None
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
    if cfg.task and cfg.dataset not in ("csv", "npz"):
        raise _fail(f"--task {cfg.task}: applies to your own data only (--csv or --npz); "
                    f"{cfg.dataset} has its own task", ["task", "dataset"], sources)
    return cfg


# -- argument types: bad values are usage errors (exit 2) with the accepted form ----------------
def _hidden_type(text: str) -> list[int]:
    try:
        return parse_hidden(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _int_type(low: int, what: str, high: int = INT_MAX) -> Any:
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        if value > high:
            raise argparse.ArgumentTypeError(f"expected {what} no larger than {high}, "
                                             f"got {text!r}")
        return value
    return convert


def _float_type(low: float, high: float, what: str, *, open_high: bool = True,
                open_low: bool = False) -> Any:
    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        ok = (math.isfinite(value) and (low < value if open_low else low <= value)
              and (value < high if open_high else value <= high))
        if not ok:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value
    return convert


_positive_float = _float_type(0, math.inf, "a positive number", open_low=True)


def _lr_type(text: str) -> float | str:
    """``--lr``: a positive number or ``auto``."""
    if text.strip().lower() == AUTO:
        return AUTO
    try:
        float(text)
    except ValueError:  # a word: say which one is accepted
        raise argparse.ArgumentTypeError(f"expected a positive number or {AUTO!r}, got "
                                         f"{text!r}") from None
    return float(_positive_float(text))


def _choice(names: Iterable[str], what: str) -> Any:
    valid = list(names)

    def convert(text: str) -> str:
        if text.lower() not in valid:
            raise argparse.ArgumentTypeError(
                f"unknown {what} {text!r}; valid {what}s are {', '.join(valid)}")
        return text.lower()
    return convert


def add_data_arguments(p: argparse.ArgumentParser, *, defaults_from: str = "built-in") -> None:
    """``--dataset``, ``--csv``/``--target``/``--task``, ``--npz``, ``--data-dir``, …

    Every default is None here, so a caller can tell which flags were given.
    """
    p.set_defaults(_parser=p)
    g = p.add_argument_group("data")
    g.add_argument("--dataset", type=_choice(datasets.NAMES, "dataset"), default=None,
                   metavar="NAME",
                   help=f"one of {', '.join(datasets.NAMES)} (default: {defaults_from})")
    g.add_argument("--csv", metavar="PATH", default=None,
                   help="a CSV file with a header row (use with --target)")
    g.add_argument("--target", metavar="COLUMN", default=None,
                   help="the CSV's target column (with --csv)")
    g.add_argument("--task", choices=list(datasets.TASKS), default=None,
                   help="override the inferred task of --csv/--npz data")
    g.add_argument("--drop", nargs="+", metavar="COL", default=None,
                   help="CSV columns not to use as features")
    g.add_argument("--categorical", nargs="+", metavar="COL", default=None,
                   help="CSV columns to one-hot even though they hold numbers (codes, ZIPs)")
    g.add_argument("--numeric", nargs="+", metavar="COL", default=None,
                   help="CSV columns to read as numbers even though written as text")
    g.add_argument("--npz", metavar="PATH", default=None,
                   help="an .npz file with arrays X and y (no pickles)")
    g.add_argument("--data-dir", metavar="DIR", default=None,
                   help="MNIST directory (default $CHAINRULE_DATA_DIR, else a download cache)")
    g.add_argument("--n-samples", type=_int_type(2, "an integer ≥ 2"), default=None, metavar="N",
                   help="samples of a 2-D data set (xor, circles, moons, spirals, gaussians)")
    g.add_argument("--noise", type=_float_type(0, math.inf, "a non-negative number"),
                   default=None, metavar="SIGMA", help="noise of a 2-D data set")


def add_network_arguments(p: argparse.ArgumentParser) -> None:
    """The architecture options shared by ``train`` and ``gradcheck``; the names come from
    the activation and loss tables as they are now."""
    p.set_defaults(_parser=p)
    acts, loss_list = activation_names(), loss_names()
    g = p.add_argument_group("network")
    g.add_argument("--hidden", type=_hidden_type, default=None, metavar="W1,W2,…",
                   help="hidden layer widths (default 128,64; 'none' for no hidden layer)")
    g.add_argument("--activation", type=_choice(acts, "activation"),
                   default=None, metavar="NAME",
                   help=f"hidden activation g: {', '.join(acts)} (default relu)")
    g.add_argument("--output-activation", type=_choice(acts, "activation"),
                   default=None, metavar="NAME",
                   help=f"output activation: {', '.join(acts)} (default: the loss's "
                   "canonical one, softmax for classes, identity for values)")
    g.add_argument("--loss", type=_choice(loss_list, "loss"), default=None, metavar="NAME",
                   help=f"cost: {', '.join(loss_list)} (default cross_entropy for "
                   "classes, mse for values)")
    g.add_argument("--dtype", type=_choice(DTYPES, "dtype"), default=None, metavar="NAME",
                   help="float32 (default) or float64")
    g.add_argument("--l2", type=_float_type(0, math.inf, "a non-negative number"),
                   default=None, metavar="LAMBDA", help="L2 penalty λ (default 0)")
    g.add_argument("--dropout", type=_float_type(0, 1, "a rate in [0, 1)"), default=None,
                   metavar="RATE",
                   help="dropout rate after every hidden layer (default 0)")
    g.add_argument("--seed", type=_int_type(0, "a non-negative integer", 2**63 - 1),
                   default=None, metavar="N",
                   help="seed of weights, split, shuffling (default 0)")
    g.add_argument("--config", metavar="FILE", default=None,
                   help="a .toml (or config.json) file with the same keys; flags win")


def add_training_arguments(g: argparse._ArgumentGroup) -> None:
    """``--optimizer``, ``--lr``, ``--schedule``: names from the tables as they are now."""
    opts, scheds = optimizer_names(), schedule_names()
    g.add_argument("--optimizer", type=_choice(opts, "optimizer"), default=None,
                   metavar="NAME", help=f"one of {', '.join(opts)} (default adam)")
    g.add_argument("--lr", type=_lr_type, default=None, metavar="ETA",
                   help="learning rate η (default 0.001), or 'auto': run the learning-rate "
                   "range test first and train at its suggestion")
    g.add_argument("--schedule", type=_choice(scheds, "schedule"), default=None,
                   metavar="NAME",
                   help=f"learning-rate schedule: {', '.join(scheds)} (default constant)")


# -- the configuration file --------------------------------------------------------------------
_DEPTH = 50  # brackets deeper than this point at the culprit of a RecursionError


def _deep_key(text: str) -> str | None:
    """Best effort: the top-level key whose value nests brackets deeper than ``_DEPTH``."""
    depth, key = 0, None
    token = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|#[^\n]*|[\[\]{}]|'
                       r'^[ \t]*([A-Za-z0-9_-]+)[ \t]*=', re.M)
    for m in token.finditer(text):
        t = m.group(0)
        if m.group(1) is not None:
            if depth == 0:
                key = m.group(1)
        elif t in "[{":
            depth += 1
            if depth > _DEPTH:
                return key
        elif t in "]}":
            depth = max(0, depth - 1)
        elif t.startswith('"') and depth == 1 and text[m.end():].lstrip().startswith(":"):
            key = t[1:-1]  # a JSON key of the top-level object
    return key


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Keys of a TOML or JSON configuration file (values are checked by :class:`RunConfig`)."""
    p = Path(path)
    kind = "JSON" if p.suffix.lower() == ".json" else "TOML"
    if p.is_dir():
        raise ConfigFileError(p, "is a directory; expected a .toml or .json configuration file")
    if not p.is_file():
        raise CLIError(f"{p}: no such configuration file")
    if p.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigFileError(p, f"{p.stat().st_size:,} bytes; a configuration file may have "
                              f"at most {MAX_CONFIG_BYTES:,}")
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigFileError(p, "cannot read the configuration file "
                              f"({exc.strerror or type(exc).__name__})") from None
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    try:
        text = raw.decode("utf-8")
        if kind == "JSON":  # nesting capped before parsing; NaN and duplicate keys refused
            if json_nesting(raw)[0] > MAX_JSON_DEPTH:
                raise RecursionError  # reported below, naming the key
            data = parse_json(raw, p, error=ConfigFileError, what="the file")
        else:
            data = tomllib.loads(text)
    except ConfigFileError:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigFileError(p, f"not valid {kind} ({exc})") from None
    except RecursionError:
        key = _deep_key(raw.decode("utf-8", "replace"))
        what = f"{key}: " if key else ""
        accepted = (f"; expected {_HIDDEN_FORM}" if key == "hidden" else
                    "; every setting is a single value (hidden: a list of widths)")
        raise ConfigFileError(p, f"{what}nested too deeply to read (brackets inside brackets "
                              f"inside …){accepted}") from None
    if not isinstance(data, dict):
        raise ConfigFileError(p, f"expected a table of settings, got {_kind(data)}")
    data = {k.replace("-", "_"): v for k, v in data.items()}
    unknown = sorted(set(data) - set(DEFAULTS))
    if unknown:
        raise CLIError(f"{p}: unknown setting(s) {', '.join(unknown)}; valid settings are "
                       f"{', '.join(DEFAULTS)}")
    return data


def data_config(args: argparse.Namespace, source: Mapping[str, Any] | None,
                origin: str | None = None) -> RunConfig:
    """Data options for ``evaluate``/``predict``/``explain``: the flags given, else the
    model's training data (``source``, saved in the model; ``origin`` names the model)."""
    given = {k: getattr(args, k, None) for k in DATA_KEYS}
    values: dict[str, Any] = dict(DEFAULTS)
    sources: dict[str, str] = {}
    if not any(v is not None for v in given.values()) and source:
        saved = {k: source[k] for k in DATA_KEYS if k in source}
        saved["seed"] = source.get("seed", values["seed"])
        values.update(saved)
        sources.update(dict.fromkeys(saved, origin or ""))
    else:
        flags = {k: v for k, v in given.items() if v is not None}
        values.update(flags)
        sources.update(dict.fromkeys(flags, FLAG))
        if given["csv"] and given["dataset"] is None:
            values["dataset"], sources["dataset"] = "csv", FLAG
        if given["npz"] and given["dataset"] is None:
            values["dataset"], sources["dataset"] = "npz", FLAG
    if getattr(args, "seed", None) is not None:
        values["seed"], sources["seed"] = args.seed, FLAG
    return _build(values, sources)
