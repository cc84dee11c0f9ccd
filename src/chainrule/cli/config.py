"""Options and configuration of ``train`` and ``gradcheck``: flag types (bad values are
usage errors, exit 2), the TOML/JSON ``--config`` file, and one place that validates every
setting (a config file bypasses argparse, so its mistakes are runtime errors, exit 1).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from .. import datasets
from ..activations import ACTIVATIONS
from ..losses import LOSSES
from ..optimizers import OPTIMIZERS
from ..schedules import SCHEDULES
from ..validation import DTYPES
from . import CLIError

#: Every key of a training configuration (flags, TOML/JSON ``--config`` and ``config.json``
#: use these names) and its default. ``None`` means "chosen from the data" (see
#: :func:`resolve_config`).
DEFAULTS: dict[str, Any] = {
    "dataset": "digits",
    "csv": None,
    "npz": None,
    "target": None,
    "task": None,
    "data_dir": None,
    "n_samples": 500,
    "noise": 0.2,
    "hidden": [128, 64],
    "activation": "relu",
    "output_activation": None,
    "loss": None,
    "optimizer": "adam",
    "lr": 0.001,
    "schedule": "constant",
    "epochs": 20,
    "batch_size": 32,
    "seed": 0,
    "dtype": "float32",
    "val_split": 0.1,
    "test_split": 0.2,
    "early_stopping": 0,
    "l2": 0.0,
    "dropout": 0.0,
}

DATA_KEYS = ("dataset", "csv", "npz", "target", "task", "data_dir", "n_samples", "noise")


# -- argument types: bad values are usage errors (exit 2) with the accepted form ----------------
def parse_hidden(text: str | list[int]) -> list[int]:
    """``"256,128"`` → [256, 128]; ``"none"`` → [] (no hidden layer)."""
    if isinstance(text, list):
        items = [str(v) for v in text]
    elif text.strip().lower() in ("", "none"):
        return []
    else:
        items = [t.strip() for t in text.split(",")]
    try:
        sizes = [int(t) for t in items]
    except ValueError:
        sizes = []
    if len(sizes) != len(items) or any(s < 1 for s in sizes):
        raise ValueError(f"hidden: expected comma-separated positive layer widths such as "
                         f"128,64 (or 'none'), got {text!r}")
    return sizes


def _hidden_type(text: str) -> list[int]:
    try:
        return parse_hidden(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _int_type(low: int, what: str) -> Any:
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value
    return convert


def _float_type(low: float, high: float, what: str, *, open_high: bool = True) -> Any:
    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        ok = math.isfinite(value) and low <= value and (value < high if open_high else
                                                           value <= high)
        if not ok:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value
    return convert


def _choice(names: list[str], what: str) -> Any:
    def convert(text: str) -> str:
        if text.lower() not in names:
            raise argparse.ArgumentTypeError(
                f"unknown {what} {text!r}; valid {what}s are {', '.join(names)}")
        return text.lower()
    return convert


def add_data_arguments(p: argparse.ArgumentParser, *, defaults_from: str = "built-in") -> None:
    """``--dataset``, ``--csv``/``--target``/``--task``, ``--npz``, ``--data-dir``, …

    Every default is None here, so a caller can tell which flags were given.
    """
    g = p.add_argument_group("data")
    g.add_argument("--dataset", type=_choice(list(datasets.NAMES), "dataset"), default=None,
                   metavar="NAME",
                   help=f"one of {', '.join(datasets.NAMES)} (default: {defaults_from})")
    g.add_argument("--csv", metavar="PATH", default=None,
                   help="a CSV file with a header row (use with --target)")
    g.add_argument("--target", metavar="COLUMN", default=None, help="the CSV's target column")
    g.add_argument("--task", choices=list(datasets.TASKS), default=None,
                   help="override the inferred task of --csv/--npz data")
    g.add_argument("--npz", metavar="PATH", default=None,
                   help="an .npz file with arrays X and y (no pickles)")
    g.add_argument("--data-dir", metavar="DIR", default=None,
                   help="MNIST directory (default $CHAINRULE_DATA_DIR, else a download cache)")
    g.add_argument("--n-samples", type=_int_type(2, "an integer ≥ 2"), default=None, metavar="N",
                   help="samples of a 2-D data set (xor, circles, moons, spirals, gaussians)")
    g.add_argument("--noise", type=_float_type(0, math.inf, "a non-negative number"),
                   default=None, metavar="SIGMA", help="noise of a 2-D data set")


def add_network_arguments(p: argparse.ArgumentParser) -> None:
    """The architecture options shared by ``train`` and ``gradcheck``."""
    g = p.add_argument_group("network")
    g.add_argument("--hidden", type=_hidden_type, default=None, metavar="W1,W2,…",
                   help="hidden layer widths (default 128,64; 'none' for no hidden layer)")
    g.add_argument("--activation", type=_choice(sorted(ACTIVATIONS), "activation"),
                   default=None, metavar="NAME",
                   help=f"hidden activation g: {', '.join(sorted(ACTIVATIONS))} (default relu)")
    g.add_argument("--output-activation", type=_choice(sorted(ACTIVATIONS), "activation"),
                   default=None, metavar="NAME",
                   help="output activation (default softmax for classes, identity for values)")
    g.add_argument("--loss", type=_choice(sorted(LOSSES), "loss"), default=None, metavar="NAME",
                   help=f"cost: {', '.join(sorted(LOSSES))} (default cross_entropy for "
                   "classes, mse for values)")
    g.add_argument("--dtype", type=_choice(list(DTYPES), "dtype"), default=None, metavar="NAME",
                   help="float32 (default) or float64")
    g.add_argument("--l2", type=_float_type(0, math.inf, "a non-negative number"),
                   default=None, metavar="LAMBDA", help="L2 penalty λ (default 0)")
    g.add_argument("--dropout", type=_float_type(0, 1, "a rate in [0, 1)"), default=None,
                   metavar="RATE",
                   help="dropout rate after every hidden layer (default 0)")
    g.add_argument("--seed", type=int, default=None, metavar="N",
                   help="seed of weights, split, shuffling (default 0)")
    g.add_argument("--config", metavar="FILE", default=None,
                   help="a .toml (or config.json) file with the same keys; flags win")


# -- the configuration -------------------------------------------------------------------------
def read_config_file(path: str) -> dict[str, Any]:
    """Keys of a TOML or JSON configuration file, validated against :data:`DEFAULTS`."""
    p = Path(path)
    if not p.is_file():
        raise CLIError(f"{p}: no such configuration file")
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    try:
        if p.suffix.lower() == ".json":
            data = json.loads(p.read_text(encoding="utf-8"))
        else:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        kind = "JSON" if p.suffix == ".json" else "TOML"
        raise CLIError(f"{p}: not valid {kind} ({exc})") from None
    if not isinstance(data, dict):
        raise CLIError(f"{p}: expected a table of settings")
    data = {k.replace("-", "_"): v for k, v in data.items()}
    unknown = sorted(set(data) - set(DEFAULTS))
    if unknown:
        raise CLIError(f"{p}: unknown setting(s) {', '.join(unknown)}; valid settings are "
                       f"{', '.join(DEFAULTS)}")
    return data


def merge_config(args: argparse.Namespace) -> dict[str, Any]:
    """Defaults, then the ``--config`` file, then the flags that were given."""
    cfg = dict(DEFAULTS)
    if getattr(args, "config", None):
        cfg.update(read_config_file(args.config))
    for key in DEFAULTS:
        value = getattr(args, key, None)
        if value is not None:
            cfg[key] = value
    if getattr(args, "csv", None) and args.dataset is None:
        cfg["dataset"] = "csv"
    if getattr(args, "npz", None) and args.dataset is None:
        cfg["dataset"] = "npz"
    return cfg


def _check(cfg: dict[str, Any], key: str, ok: bool, accepted: str) -> None:
    if not ok:
        raise CLIError(f"{key}: expected {accepted}, got {cfg[key]!r}")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def validate_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """Check every value (a config file bypasses argparse), in one place."""
    try:
        cfg["hidden"] = parse_hidden(cfg["hidden"])
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    names = {"dataset": datasets.NAMES, "activation": ACTIVATIONS, "optimizer": OPTIMIZERS,
             "schedule": SCHEDULES, "dtype": DTYPES}
    for key, valid in names.items():
        if not (isinstance(cfg[key], str) and cfg[key].lower() in valid):
            raise CLIError(f"{key}: unknown {key} {cfg[key]!r}; valid names are "
                           f"{', '.join(valid)}")
        cfg[key] = cfg[key].lower()
    for key, valid in (("output_activation", ACTIVATIONS), ("loss", LOSSES),
                       ("task", datasets.TASKS)):
        if cfg[key] is not None and cfg[key] not in valid:
            raise CLIError(f"{key}: unknown {key} {cfg[key]!r}; valid names are "
                           f"{', '.join(valid)}")
    _check(cfg, "epochs", _is_int(cfg["epochs"]) and cfg["epochs"] >= 1, "a positive integer")
    _check(cfg, "batch_size", _is_int(cfg["batch_size"]) and cfg["batch_size"] >= 1,
           "a positive integer")
    _check(cfg, "n_samples", _is_int(cfg["n_samples"]) and cfg["n_samples"] >= 2,
           "an integer ≥ 2")
    _check(cfg, "seed", _is_int(cfg["seed"]) and cfg["seed"] >= 0, "a non-negative integer")
    _check(cfg, "early_stopping", _is_int(cfg["early_stopping"]) and cfg["early_stopping"] >= 0,
           "a non-negative integer (patience in epochs; 0 = off)")
    _check(cfg, "lr", _is_num(cfg["lr"]) and cfg["lr"] > 0, "a positive number")
    for key in ("noise", "l2"):
        _check(cfg, key, _is_num(cfg[key]) and cfg[key] >= 0, "a non-negative number")
    for key in ("val_split", "test_split", "dropout"):
        _check(cfg, key, _is_num(cfg[key]) and 0 <= cfg[key] < 1, "a number in [0, 1)")
    if cfg["val_split"] + cfg["test_split"] >= 1:
        raise CLIError("val_split + test_split: must be below 1 so samples are left to train on")
    if cfg["dataset"] == "csv" and not (cfg["csv"] and cfg["target"]):
        raise CLIError("dataset csv: give the file and its target column: --csv PATH "
                       "--target COLUMN")
    if cfg["dataset"] == "npz" and not cfg["npz"]:
        raise CLIError("dataset npz: give the file: --npz PATH")
    if cfg["csv"] and cfg["dataset"] != "csv":
        raise CLIError(f"--csv and --dataset {cfg['dataset']}: give one source of data")
    if cfg["npz"] and cfg["dataset"] != "npz":
        raise CLIError(f"--npz and --dataset {cfg['dataset']}: give one source of data")
    return cfg


def data_config(args: argparse.Namespace, source: dict[str, Any] | None) -> dict[str, Any]:
    """Data options for ``evaluate``/``predict``/``explain``: the flags given, else the
    model's training data (``source``, saved in the model)."""
    given = {k: getattr(args, k, None) for k in DATA_KEYS}
    cfg = dict(DEFAULTS)
    if not any(v is not None for v in given.values()) and source:
        cfg.update({k: source[k] for k in DATA_KEYS if k in source})
        cfg["seed"] = source.get("seed", cfg["seed"])
    else:
        cfg.update({k: v for k, v in given.items() if v is not None})
        if given["csv"] and given["dataset"] is None:
            cfg["dataset"] = "csv"
        if given["npz"] and given["dataset"] is None:
            cfg["dataset"] = "npz"
    if getattr(args, "seed", None) is not None:
        cfg["seed"] = args.seed
    return validate_config(cfg)
