"""The flags of ``train``, ``gradcheck`` and ``lr-find`` and what becomes of them: argparse
types (a bad value is a usage error, exit 2, with the accepted form) and
:func:`config_from_args`, which turns the flags and a ``--config`` file into a
:class:`~chainrule.runs.config.RunConfig` (where every setting is checked, once).

The names a flag accepts (``--activation``, ``--loss``, ``--optimizer``, ``--schedule``…)
come from the library's tables (:data:`chainrule.ACTIVATIONS` and friends) when the
parser is built, so a subclass registered after ``import chainrule`` is offered.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from .. import datasets
from ..engine.validation import DTYPES
from ..io.schema import short
from ..runs import recipe
from ..runs.config import (
    ARGUMENT,
    AUTO,
    DATA_KEYS,
    DEFAULTS,
    EMBEDDINGS,
    INT_MAX,
    MAX_MEMBERS,
    ConfigFileError,
    RunConfig,
    UsageError,
    activation_names,
    build_config,
    categorical_encoding_names,
    file_settings,
    loss_names,
    numeric_encoding_names,
    optimizer_names,
    parse_hidden,
    schedule_names,
)

#: A CSV job given neither --epochs nor --early-stopping trains up to TABLE_EPOCHS epochs and
#: stops after TABLE_PATIENCE without a better validation loss, keeping the best weights
#: (the ``table`` recipe, :mod:`chainrule.runs.recipe`).
TABLE_EPOCHS = recipe.TABLE_EPOCHS
TABLE_PATIENCE = recipe.TABLE_PATIENCE

#: ``sources[key]`` when a flag gave the value.
FLAG = ARGUMENT

__all__ = [
    "AUTO", "DATA_KEYS", "DEFAULTS", "ConfigFileError", "RunConfig", "UsageError",
    "add_data_arguments", "add_network_arguments", "add_run_arguments", "add_table_arguments",
    "add_training_arguments", "batch_type",
    "smoothing_type",
    "MAX_REGENERATED_SAMPLES", "config_from_args", "data_config", "saved_data",
    "usage_error",
]


def usage_error(args: argparse.Namespace, exc: Exception) -> int:
    """Report ``exc`` the way argparse reports a usage error; returns 2."""
    parser = getattr(args, "_parser", None)
    prog = "chainrule"
    if isinstance(parser, argparse.ArgumentParser):
        parser.print_usage(sys.stderr)
        prog = parser.prog
    print(f"{prog}: error: {exc}", file=sys.stderr)
    return 2


def config_from_args(args: argparse.Namespace, *, table_recipe: bool = False) -> RunConfig:
    """Defaults, then the ``--config`` file, then the flags that were given.

    With ``table_recipe`` (``chainrule train``), a CSV job takes the ``table`` recipe's
    settings (:mod:`chainrule.runs.recipe`) for those neither the file nor a flag gave,
    unless ``--recipe plain`` (or the file's ``recipe``) says otherwise; a ``--config``
    file without a ``recipe`` key (a config.json from before recipes) trains ``plain``.

    A bad flag value found here is a :class:`UsageError`; a bad file value a
    :class:`~chainrule.runs.config.ConfigError` naming the file.
    """
    path = getattr(args, "config", None)
    values: dict[str, Any] = dict(DEFAULTS)
    sources: dict[str, str] = {}
    if path:
        from_file, file_sources = file_settings(path)
        values.update(from_file)
        sources.update(file_sources)
    flags = {k: getattr(args, k) for k in DEFAULTS if getattr(args, k, None) is not None}
    values.update(flags)
    sources.update(dict.fromkeys(flags, FLAG))
    if getattr(args, "dataset", None) is None:
        if getattr(args, "csv", None):
            values["dataset"], sources["dataset"] = "csv", FLAG
        elif getattr(args, "npz", None):
            values["dataset"], sources["dataset"] = "npz", FLAG
    if table_recipe and values["dataset"] == "csv" and "recipe" not in sources and not path:
        # a --config file without a recipe key (a config.json from before recipes) keeps
        # the plain defaults, so it reruns the training it records
        values["recipe"] = "table"
    if values["dataset"] == "csv" and not {"epochs", "early_stopping"} & set(sources):
        # A table's size says nothing about how long it needs: train until the
        # validation loss stops improving (and keep the best weights), as
        # scikit-learn's MLP does by default, instead of a fixed 20 epochs.
        values["epochs"], values["early_stopping"] = TABLE_EPOCHS, TABLE_PATIENCE
    if "recipe" in values and values["recipe"] in recipe.RECIPES:
        values = recipe.apply_recipe(values, set(sources))
    return build_config(values, sources)


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


def batch_type(text: str) -> int | str:
    """``--batch-size``: a positive integer or ``auto``."""
    if text.strip().lower() == AUTO:
        return AUTO
    return int(_int_type(1, f"a positive integer or {AUTO!r}")(text))


def folds_type(text: str) -> int | str:
    """``--cv``: 0, an integer from 2 to MAX_MEMBERS, or ``auto``."""
    if text.strip().lower() == AUTO:
        return AUTO
    what = f"0, an integer from 2 to {MAX_MEMBERS}, or {AUTO!r}"
    value = int(_int_type(0, what, MAX_MEMBERS)(text))
    if value == 1:
        raise argparse.ArgumentTypeError(f"expected {what}, got '1' (1 fold leaves nothing "
                                         "to test each member on)")
    return value


def smoothing_type(text: str) -> float | str:
    """``--label-smoothing``: a number in [0, 1) or ``auto``."""
    if text.strip().lower() == AUTO:
        return AUTO
    return float(_float_type(0, 1, f"a number in [0, 1) or {AUTO!r}")(text))


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
                   help="a table file with a header row: CSV, Parquet or Excel (use with "
                   "--target)")
    g.add_argument("--target", metavar="COLUMN", default=None,
                   help="the CSV's target column (with --csv; default for a saved model: its "
                   "own target)")
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
                   help=f"learning-rate schedule: {', '.join(scheds)} (default constant; "
                   "flat_cosine in the table recipe)")
    g.add_argument("--weight-decay", type=_float_type(0, math.inf, "a non-negative number"),
                   default=None, metavar="LAMBDA",
                   help="adamw's decoupled weight decay λ: w ← w (1 − η λ) every step "
                   f"(default: adamw's own 0.01; {recipe.TABLE['weight_decay']:g} in the table "
                   "recipe)")
    g.add_argument("--clipnorm", type=_positive_float, default=None, metavar="X",
                   help="rescale each step's gradient to a global L2 norm of at most X "
                   "(default: no clipping)")



def add_table_arguments(p: argparse.ArgumentParser) -> None:
    """``train``'s flags for a table's encoding, its input layers, ensembles and folds."""
    g = p.add_argument_group("tables, ensembles and cross-validation")
    nums, cats = numeric_encoding_names(), categorical_encoding_names()
    g.add_argument("--numeric-encoding", type=_choice(nums, "numeric encoding"), default=None,
                   metavar="NAME",
                   help=f"how number columns are read: {', '.join(nums)} (default: the table "
                   "encoder's; see docs/data.md)")
    g.add_argument("--ple-bins", type=_int_type(1, "an integer from 1 to 10000", 10_000),
                   default=None, metavar="N",
                   help="quantile bins of --numeric-encoding ple (default: the encoder's)")
    g.add_argument("--categorical-encoding", type=_choice(cats, "categorical encoding"),
                   default=None, metavar="NAME",
                   help=f"{' or '.join(cats)}: one-hot every category column, or code a "
                   "column with many categories as one integer feature (for --embeddings)")
    g.add_argument("--embeddings", type=_choice(EMBEDDINGS, "embedding"), default=None,
                   metavar="NAME",
                   help=f"learned input layers: {', '.join(EMBEDDINGS)} (default none; "
                   "categorical: a lookup per coded category column, periodic: periodic "
                   "features of every number column)")
    g.add_argument("--ensemble", type=_int_type(1, "a positive integer", MAX_MEMBERS),
                   default=None, metavar="K",
                   help="train K networks at once as one batched computation and predict "
                   "the mean of their outputs (default 1)")
    g.add_argument("--cv", type=folds_type, default=None, metavar="K",
                   help="K-fold cross-validation of the training rows, the K folds trained "
                   "at once as K members (each never sees its fold; the saved model is the "
                   "epoch with the lowest out-of-fold loss); reports mean ± sd of every "
                   "metric over the folds beside the test report. 0: off (default); 'auto': "
                   "5 folds when the validation split has fewer than 100 rows")


def add_run_arguments(g: argparse._ArgumentGroup) -> None:
    """``train``'s flags for how long and on what it trains, the recipe and early
    stopping (``--epochs``, ``--batch-size``, ``--label-smoothing``, ``--recipe`` …)."""
    g.add_argument("--epochs", type=_int_type(1, "a positive integer"), default=None, metavar="N",
                   help="passes over the training split (default 20)")
    g.add_argument("--batch-size", type=batch_type, default=None, metavar="N",
                   help="samples per gradient step (default 32), or 'auto': about 64 steps "
                   "per epoch, 32 to 256 (the table recipe's)")
    g.add_argument("--label-smoothing", type=smoothing_type, default=None, metavar="EPS",
                   help="train classes on (1 − EPS)·one-hot + EPS/K (default 0; 'auto': "
                   "0.1 for classes, the table recipe's)")
    g.add_argument("--min-delta", type=_float_type(0, 1e300, "a non-negative number"),
                   default=None, metavar="D",
                   help="early stopping counts an epoch as better only when the monitored "
                   "loss fell by more than D (default 1e-4, scikit-learn's tol)")
    g.add_argument("--recipe", choices=list(recipe.RECIPES), default=None,
                   help="defaults for the settings not given: table (a --csv job's default: "
                   "adamw, flat_cosine, label smoothing, dropout, batch auto, early stopping) "
                   "or plain (the textbook defaults); see docs/cli.md")
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
                   "this nor --epochs trains up to 200 epochs with patience 20)")
    g.add_argument("--checkpoint-every", type=_int_type(1, "a positive integer"),
                   default=None, metavar="N",
                   help="write checkpoint.safetensors every N epochs (default 1)")
    g.add_argument("--class-weight", choices=["balanced"], default=None,
                   help="weight every class by n / (n_classes · n_c) so rare classes count "
                   "as much as common ones (classification only; default: unweighted)")



#: The most samples a command on a saved model regenerates of the model's own synthetic
#: training data (``training.config.n_samples`` in its file, trusted no further): a file
#: asking for more is refused unless ``--n-samples N`` names the size. 100,000 two-feature
#: samples take under 5 MB and a second.
MAX_REGENERATED_SAMPLES = 100_000
#: Flags that refine the model's own (built-in) data set rather than name other data.
REFINING_FLAGS = ("n_samples", "noise", "data_dir")


def saved_data(source: Mapping[str, Any], origin: str, *, check_size: bool = True
               ) -> dict[str, Any]:
    """The data settings a model file records (``training.config``), read as untrusted:
    a path in them (``csv``, ``npz``, ``data_dir``) is never opened: a model trained on a
    CSV or .npz file is refused, asking for ``--csv PATH`` / ``--npz PATH``; the MNIST
    directory is the default one unless ``--data-dir`` names it. A synthetic data set is
    regenerated with at most :data:`MAX_REGENERATED_SAMPLES` samples (unless
    ``check_size`` is False: the user named the size).

    Raises
    ------
    CLIError
        Naming ``origin`` (the model file), what it asks for and the flag to pass.
    """
    from . import CLIError

    saved = {k: source[k] for k in DATA_KEYS if k in source}
    saved["seed"] = source.get("seed", DEFAULTS["seed"])
    dataset = saved.get("dataset")
    for key, flag in (("csv", "--csv PATH --target COLUMN"), ("npz", "--npz PATH")):
        if dataset == key or saved.get(key) is not None:
            target = saved.get("target")
            if key == "csv" and isinstance(target, str):
                flag = f"--csv PATH --target {short(target)}"
            raise CLIError(f"{origin}: the model was trained on a {key.upper()} file; a path "
                           f"read from a model file is never opened: name the data with {flag}")
    saved.pop("data_dir", None)
    n = saved.get("n_samples")
    if check_size and dataset in datasets.SYNTHETIC and isinstance(n, int) \
            and n > MAX_REGENERATED_SAMPLES:
        raise CLIError(f"{origin}: training.config.n_samples asks to regenerate {n:,} samples "
                       f"of {dataset!r}; at most {MAX_REGENERATED_SAMPLES:,} are regenerated "
                       "from a model file: pass --n-samples N to choose the size")
    return saved


def data_config(args: argparse.Namespace, source: Mapping[str, Any] | None,
                origin: str | None = None) -> RunConfig:
    """Data options for ``evaluate``/``predict``/``explain``: the flags given, else the
    model's training data (``source``, saved in the model; ``origin`` names the model;
    see :func:`saved_data` for what of it is used). ``--n-samples``, ``--noise`` and
    ``--data-dir`` alone refine the model's own built-in data set."""
    given = {k: getattr(args, k, None) for k in DATA_KEYS}
    named = {k for k, v in given.items() if v is not None}
    values: dict[str, Any] = dict(DEFAULTS)
    sources: dict[str, str] = {}
    if source and named <= set(REFINING_FLAGS):
        saved = saved_data(source, origin or "the model", check_size="n_samples" not in named)
        values.update(saved)
        sources.update(dict.fromkeys(saved, origin or ""))
    if named:
        flags = {k: given[k] for k in named}
        values.update(flags)
        sources.update(dict.fromkeys(flags, FLAG))
        if given["csv"] and given["dataset"] is None:
            values["dataset"], sources["dataset"] = "csv", FLAG
        if given["npz"] and given["dataset"] is None:
            values["dataset"], sources["dataset"] = "npz", FLAG
    if getattr(args, "seed", None) is not None:
        values["seed"], sources["seed"] = args.seed, FLAG
    return build_config(values, sources)
