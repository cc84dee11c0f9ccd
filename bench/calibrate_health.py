"""Calibrate the advice: ``--lr auto`` against the default rate, and the health verdicts
against runs whose truth is known (issue 30).

``lr-find``: on the benchmark tables (``bench/real_tables.py``, the small and mid ones),
for each split seed, the range test of ``chainrule train --lr auto`` (the same call:
:func:`chainrule.runs.stages.range_test` on the training split, the network and optimizer
``train`` builds) and three trainings of the default recipe, differing only in the rate:
the default, the suggestion (:func:`chainrule.health.lr_find.suggest`) and the rule it
replaced (the steepest descent of the lagging moving average, else minimum / 10). The
bar: ``--lr auto`` loses to the default by at most 0.005 (accuracy or R², the mean over
the seeds) on every table. ``--optimizer sgd`` repeats it with plain SGD, whose run
default (1e-3, Adam's) is too small for it.

``verdicts``: ≥ 20 deliberately sick runs (η far too high or too low, a deep sigmoid
stack, ReLUs killed by their initialization, saturated tanh, a tiny table overfit) and
≥ 20 healthy converged ones (small nets, few epochs, on synthetic and real data), each
watched by a :class:`~chainrule.health.monitor.HealthMonitor`; then precision and
recall per verdict and the false alarms on the healthy runs (the bar: none).

    python bench/calibrate_health.py lr-find [--seeds 3] [--only grunfeld epil]
    python bench/calibrate_health.py verdicts

Writes bench/results/calibrate_health_lr_find{,_sgd}.{md,json} and
bench/results/calibrate_health_verdicts.{md,json}.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from chainrule.health.lr_find import LRFindResult  # noqa: E402
from chainrule.io.atomic import atomic_write_bytes  # noqa: E402
from chainrule.runs import RunConfig, RunError, RunOptions, train  # noqa: E402
from chainrule.runs.stages import build, load_data, range_test, split  # noqa: E402
from chainrule.training.divergence import DivergenceError  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
BAR = 0.005
#: The small and mid tables of bench/real_tables.py (diamonds and randhie, 54k and 20k
#: rows, left out: minutes each on 2 shared cores).
LR_TABLES = ["seattle-weather", "airports", "penguins", "msleep", "mpg", "txhousing",
             "grunfeld", "star98", "fair", "anes96", "modechoice", "framing", "epil"]


def replaced_rule(result: LRFindResult) -> float:
    """The rule before issue 30: the steepest descent of the bias-corrected moving
    average (β = 0.98), unless that lies over 100× below its minimum, then minimum / 10."""
    avg, smooth = 0.0, []
    for t, loss in enumerate(result.losses):
        avg = 0.98 * avg + 0.02 * loss
        smooth.append(avg / (1 - 0.98 ** (t + 1)))
    sm, lrs = np.array(smooth), result.lrs
    low = int(np.argmin(sm))
    slope = np.gradient(sm, np.log10(lrs))
    skip = max(1, len(sm) // 20)
    inner = slope[skip : max(low, skip + 1)]
    steepest = float(lrs[skip + int(np.argmin(inner))]) if inner.size else float(lrs[low])
    minimum = float(lrs[low])
    return minimum / 10 if steepest < minimum / 100 else steepest


def score(cfg: RunConfig, lr: float) -> float:
    """The test metric (accuracy, or R²) of the default recipe at rate ``lr``."""
    options = RunOptions(monitor=False)
    if "importance" in {f.name for f in dataclasses.fields(RunOptions)}:
        options = dataclasses.replace(options, importance=False)
    with tempfile.TemporaryDirectory(prefix="calibrate_") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            metrics = train(cfg.replace(lr=float(lr)), Path(tmp) / "run",
                            options=options).metrics
        except DivergenceError:
            return math.nan  # counted as a loss against any finite score
    return float(metrics["accuracy"] if "accuracy" in metrics else metrics["r2"])


def lr_find_table(name: str, seeds: list[int], optimizer: str, recipe: str = "table",
                  replaced: bool = True) -> dict[str, Any]:
    """One table: per seed the rates and scores of default, auto and the replaced rule.

    The configuration is what ``chainrule train --csv FILE --target T --optimizer O`` uses
    (``recipe``: its defaults; ``table`` for a CSV file unless ``--recipe plain``); the
    range test is the one ``--lr auto`` runs (after the ``"auto"`` settings are chosen).
    A suggestion equal to the default trains the same run: its score is reused."""
    from real_tables import TABLES

    from chainrule.runs.recipe import apply_recipe
    from chainrule.runs.stages import resolve_auto

    table = next(t for t in TABLES if t.name == name)
    rows: list[dict[str, Any]] = []
    for seed in seeds:
        given = {"dataset": "csv", "csv": str(table.file()), "target": table.target,
                 "seed": seed, "optimizer": optimizer, "recipe": recipe}
        cfg = RunConfig.from_mapping(apply_recipe(given, set(given)))
        ds = load_data(cfg)
        splits = split(cfg, ds)
        chosen = resolve_auto(cfg, ds, splits)
        default = float(cfg.lr)
        try:
            result = range_test(chosen, build(chosen, ds, splits), ds, splits)
        except RunError as exc:  # train --lr auto refuses the same way: auto loses
            print(f"{name:16s} seed {seed} {optimizer}: {exc}", flush=True)
            rows.append({"seed": seed, "task": ds.task, "n_train": len(splits.X_train),
                         "rates": {"default": default, "auto": math.nan, "replaced": math.nan},
                         "scores": {"default": score(cfg, default), "auto": math.nan,
                                    "replaced": math.nan}, "reason": str(exc)})
            continue
        rates = {"default": default, "auto": result.suggestion,
                 "replaced": replaced_rule(result) if replaced else math.nan}
        scores = {"default": score(cfg, default)}
        scores["auto"] = (scores["default"] if rates["auto"] == default
                          else score(cfg, rates["auto"]))
        scores["replaced"] = score(cfg, rates["replaced"]) if replaced else math.nan
        rows.append({"seed": seed, "task": ds.task, "n_train": len(splits.X_train),
                     "rates": rates, "scores": scores, "reason": result.reason})
        print(f"{name:16s} seed {seed} {optimizer}: " + "  ".join(
            f"{k} {rates[k]:.2g} → {scores[k]:.3f}" for k in rates), flush=True)
    mean = {k: float(np.mean([r["scores"][k] for r in rows])) for k in rows[0]["scores"]}
    diff = mean["auto"] - mean["default"]
    return {"table": name, "task": rows[0]["task"], "n_train": rows[0]["n_train"],
            "recipe": recipe, "seeds": rows, "mean": mean, "auto_minus_default": diff,
            "meets_bar": bool(diff >= -BAR)}  # a diverged run (nan) fails it


def lr_find_markdown(results: list[dict[str, Any]], optimizer: str, seeds: int,
                     recipe: str = "table") -> str:
    metric = {"classification": "accuracy", "regression": "R²"}
    skipped = all(math.isnan(r["seeds"][0]["rates"]["replaced"]) for r in results
                  if "rates" in r["seeds"][0])
    lines = [f"`--recipe {recipe} --optimizer {optimizer}`, the recipe's defaults otherwise; "
             f"test metric, the mean over {seeds} split seeds (rates: seed 0's)\n",
             "| table | task (metric) | train rows | default rate | score | `--lr auto` "
             "rate | score | auto − default | replaced rule rate | score |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        rates, m = r["seeds"][0]["rates"], r["mean"]
        lines.append(
            f"| {r['table']} | {r['task']} ({metric[r['task']]}) | {r['n_train']:,} | "
            f"{rates['default']:.2g} | {m['default']:.3f} | {rates['auto']:.2g} | "
            f"{_shown(m['auto'])} | {r['auto_minus_default']:+.3f}"
            f"{'' if r['meets_bar'] else ' **(loses)**'} | "
            + ("– | – |" if skipped else f"{rates['replaced']:.2g} | {_shown(m['replaced'])} |"))
    met = sum(r["meets_bar"] for r in results)
    worst = min(r["auto_minus_default"] for r in results)
    replaced = [r["mean"]["replaced"] - r["mean"]["default"] for r in results]
    lost = sum(not d >= -BAR for d in replaced)
    lines.append(f"\n`--lr auto` within {BAR} of the default on {met} of {len(results)} "
                 f"tables (worst {worst:+.3f})" + ("." if skipped else
                 f"; the replaced rule lost by more on {lost} (a diverged run counts as lost)."))
    return "\n".join(lines) + "\n"


def _shown(score: float) -> str:
    return "diverged" if math.isnan(score) else f"{score:.3f}"


def write(name: str, markdown: str, data: Any) -> None:
    RESULTS.mkdir(exist_ok=True)
    atomic_write_bytes(RESULTS / f"{name}.md", markdown.encode())
    atomic_write_bytes(RESULTS / f"{name}.json", json.dumps(data, indent=2).encode())


# -- the health verdicts ----------------------------------------------------------------

#: Which cause each verdict names: a verdict is right on a run of that cause.
CAUSE = {"lr_too_large": "lr_high", "divergence": "lr_high", "lr_too_small": "lr_low",
         "vanishing_gradients": "vanishing", "exploding_gradients": "exploding",
         "dead_units": "dead", "saturation": "saturation", "overfitting": "overfit"}


@dataclasses.dataclass
class Case:
    """One run with a known truth: ``cause`` (None: healthy) and how to make it."""

    name: str
    cause: str | None
    data: str
    sizes: list[int]
    hidden: str
    optimizer: str
    lr: float
    epochs: int
    scale: float = 1.0  # the initial weights × this
    bias: float = 0.0  # every hidden bias set to this (dead ReLUs: a large negative one)
    n_train: int | None = None  # a small training set (overfitting)
    seed: int = 0
    noise: float = 0.1


def cases() -> list[Case]:
    """≥ 20 sick runs, ≥ 20 healthy converged ones."""
    sick = [
        Case("tutorial: sigmoid, SGD η = 50", "lr_high", "digits", [64, 64, 64, 10],
             "sigmoid", "sgd", 50.0, 3),
        Case("relu, SGD η = 3", "lr_high", "digits", [64, 128, 64, 10], "relu", "sgd", 3.0, 3),
        Case("relu, SGD η = 10", "lr_high", "digits", [64, 64, 10], "relu", "sgd", 10.0, 3),
        Case("tanh, SGD η = 30", "lr_high", "digits", [64, 64, 10], "tanh", "sgd", 30.0, 3),
        Case("relu, Adam η = 1", "lr_high", "moons", [2, 32, 32, 2], "relu", "adam", 1.0, 20),
        Case("tanh, SGD η = 100", "lr_high", "circles", [2, 16, 2], "tanh", "sgd", 100.0, 20),
        Case("relu, SGD η = 1e3", "lr_high", "gaussians", [2, 32, 3], "relu", "sgd", 1e3, 20),
        Case("relu, Adam η = 1e-7", "lr_low", "digits", [64, 128, 64, 10], "relu", "adam",
             1e-7, 2),
        Case("relu, SGD η = 1e-7", "lr_low", "digits", [64, 64, 10], "relu", "sgd", 1e-7, 2),
        Case("tanh, SGD η = 1e-6", "lr_low", "moons", [2, 32, 2], "tanh", "sgd", 1e-6, 20),
        Case("relu, Adam η = 1e-8", "lr_low", "spirals", [2, 32, 32, 3], "relu", "adam",
             1e-8, 20),
        Case("8 sigmoid layers, SGD η = 0.1", "vanishing", "digits", [64] + [32] * 8 + [10],
             "sigmoid", "sgd", 0.1, 2),
        Case("10 sigmoid layers, SGD η = 0.1", "vanishing", "moons", [2] + [16] * 10 + [2],
             "sigmoid", "sgd", 0.1, 20),
        Case("8 sigmoid layers, Adam", "vanishing", "spirals", [2] + [16] * 8 + [3],
             "sigmoid", "adam", 1e-3, 20),
        Case("relu, biases −10", "dead", "digits", [64, 64, 64, 10], "relu", "adam", 1e-3, 2,
             bias=-10.0),
        Case("relu, biases −5, weights × 0.1", "dead", "moons", [2, 32, 32, 2], "relu", "adam",
             1e-3, 20, scale=0.1, bias=-5.0),
        Case("relu, biases −20", "dead", "gaussians", [2, 32, 3], "relu", "sgd", 0.1, 20,
             bias=-20.0),
        Case("tanh × 8", "saturation", "digits", [64, 128, 10], "tanh", "sgd", 0.01, 1,
             scale=8.0),
        Case("tanh × 20", "saturation", "moons", [2, 64, 2], "tanh", "sgd", 0.01, 5, scale=20),
        Case("sigmoid × 8", "saturation", "digits", [64, 128, 10], "sigmoid", "sgd", 0.01, 1,
             scale=8.0),
        Case("tanh × 10, Adam", "saturation", "spirals", [2, 64, 3], "tanh", "adam", 1e-4, 5,
             scale=10.0),
        Case("60 samples, 256-256", "overfit", "digits", [64, 256, 256, 10], "relu", "adam",
             1e-3, 150, n_train=60),
        Case("30 noisy samples, 128-128", "overfit", "moons", [2, 128, 128, 2], "relu", "adam",
             1e-2, 300, n_train=30, noise=0.35),
        Case("50 samples, tanh 256", "overfit", "digits", [64, 256, 10], "tanh", "adam",
             1e-3, 200, n_train=50, seed=1),
    ]
    healthy = [
        Case("relu, Adam", None, "digits", [64, 128, 64, 10], "relu", "adam", 1e-3, 5),
        Case("tanh, Adam", None, "digits", [64, 64, 10], "tanh", "adam", 1e-3, 5),
        Case("sigmoid, SGD η = 0.5", None, "digits", [64, 64, 10], "sigmoid", "sgd", 0.5, 5),
        Case("leaky_relu, Adam", None, "digits", [64, 64, 32, 10], "leaky_relu", "adam", 1e-3,
             5),
        Case("relu, SGD η = 0.05", None, "digits", [64, 64, 10], "relu", "sgd", 0.05, 5),
        Case("relu 128-64, Adam (the default network)", None, "digits", [64, 128, 64, 10],
             "relu", "adam", 1e-3, 20),
        Case("tanh, Adam η = 0.01", None, "moons", [2, 32, 2], "tanh", "adam", 1e-2, 40),
        Case("relu, Adam η = 0.01", None, "moons", [2, 32, 32, 2], "relu", "adam", 1e-2, 40),
        Case("tanh, Adam η = 0.01", None, "circles", [2, 32, 2], "tanh", "adam", 1e-2, 40),
        Case("relu, Adam η = 0.01", None, "circles", [2, 64, 2], "relu", "adam", 1e-2, 40),
        Case("tanh 32-32, Adam η = 0.01", None, "spirals", [2, 32, 32, 3], "tanh", "adam",
             1e-2, 60),
        Case("relu 64-64, Adam η = 0.01", None, "spirals", [2, 64, 64, 3], "relu", "adam",
             1e-2, 60),
        Case("relu, Adam η = 0.01", None, "gaussians", [2, 16, 3], "relu", "adam", 1e-2, 30),
        Case("tanh, SGD η = 0.1", None, "gaussians", [2, 16, 3], "tanh", "sgd", 0.1, 30),
        Case("tanh 8, Adam η = 0.03 (fits perfectly)", None, "xor", [2, 8, 2], "tanh", "adam",
             3e-2, 100),
        Case("relu 16, Adam η = 0.01 (fits perfectly)", None, "xor", [2, 16, 2], "relu", "adam",
             1e-2, 100),
        Case("relu 128-64, Adam (the default network)", None, "moons", [2, 128, 64, 2], "relu",
             "adam", 1e-3, 20),
        Case("relu 128-64, Adam, long (converged)", None, "gaussians", [2, 128, 64, 3], "relu",
             "adam", 1e-3, 100),
        Case("sigmoid 32, Adam η = 0.01", None, "moons", [2, 32, 2], "sigmoid", "adam", 1e-2,
             60),
        Case("tanh 64-64, Adam, digits long", None, "digits", [64, 64, 64, 10], "tanh", "adam",
             1e-3, 20, seed=1),
        Case("relu, momentum η = 0.01", None, "digits", [64, 64, 10], "relu", "momentum",
             1e-2, 10),
        Case("relu 16-16, Adam η = 0.01", None, "circles", [2, 16, 16, 2], "relu", "adam",
             1e-2, 60, seed=2),
        Case("tanh 8, SGD η = 0.5 (fits perfectly)", None, "xor", [2, 8, 2], "tanh", "sgd",
             0.5, 200),
        Case("sigmoid 16, SGD η = 2 (fits perfectly)", None, "gaussians", [2, 16, 3],
             "sigmoid", "sgd", 2.0, 100),
    ]
    tables = [Case(f"the plain recipe on {t}", None, f"table:{t}", [], "relu", "adam", 1e-3,
                   0) for t in HEALTHY_TABLES]
    recipe = [Case(f"the table recipe on {t}", None, f"recipe:{t}", [], "relu", "adamw", 1e-3,
                   0) for t in RECIPE_TABLES]
    return sick + healthy + tables + recipe


#: Real tables the default recipe fits without trouble (bench/results/real_tables.md:
#: within the bar, no overfitting by the 10-point rule); each a healthy run.
HEALTHY_TABLES = ["penguins", "mpg", "grunfeld", "anes96", "modechoice", "seattle-weather",
                  "fair", "airports"]
#: Tables whose validation split holds 100 rows or more, so ``train --csv``'s table recipe
#: trains one network (on a smaller one it trains 5 folds as an ensemble, which the
#: monitor does not watch).
RECIPE_TABLES = ["seattle-weather", "airports", "fair"]


def run_table(case: Case) -> dict[str, Any]:
    """``chainrule train --csv`` on a benchmark table with the monitor on (its default)."""
    from real_tables import TABLES

    from chainrule.health.diagnosis import _update_ratio
    from chainrule.runs.recipe import apply_recipe

    kind, name = case.data.split(":", 1)
    table = next(t for t in TABLES if t.name == name)
    given = {"dataset": "csv", "csv": str(table.file()), "target": table.target,
             "recipe": "table" if kind == "recipe" else "plain"}
    cfg = RunConfig.from_mapping(apply_recipe(given, set(given)))
    options = RunOptions(monitor=True)
    if "importance" in {f.name for f in dataclasses.fields(RunOptions)}:
        options = dataclasses.replace(options, importance=False)
    with tempfile.TemporaryDirectory(prefix="calibrate_") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = train(cfg, Path(tmp) / "run", options=options)
    assert run.monitor is not None and run.diagnosis is not None
    last = run.monitor.checks[-1]
    return {**dataclasses.asdict(case), "kinds": sorted(run.diagnosis.kinds),
            "messages": [v.message for v in run.diagnosis.verdicts], "diverged": False,
            "learned": _rounded(last.learned), "update": _rounded(_update_ratio(
                run.monitor.checks)),
            "dead": _rounded(max((h.dead or 0.0 for h in last.layers[:-1]), default=0.0)),
            "saturated": _rounded(max((h.saturated or 0.0 for h in last.layers[:-1]),
                                      default=0.0))}


def _rounded(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else round(float(v), 4)


def run_case(case: Case) -> dict[str, Any]:
    """Train ``case`` under a monitor; its verdicts and the numbers they read."""
    if case.data.startswith(("table:", "recipe:")):
        return run_table(case)
    import chainrule as cr
    from chainrule import datasets
    from chainrule.health.diagnosis import verdicts
    from chainrule.health.monitor import HealthMonitor
    from chainrule.training.optimizers import get_optimizer

    ds = (datasets.load(case.data) if case.data == "digits" else
          datasets.load(case.data, n_samples=600, noise=case.noise, seed=case.seed))
    order = np.random.default_rng(case.seed).permutation(len(ds.X))
    cut = len(order) * 4 // 5
    train_i, val_i = order[: case.n_train or cut], order[cut:]
    net = cr.MLP(case.sizes, hidden=case.hidden, output="softmax", loss="cross_entropy",
                 seed=case.seed)
    net.scaler = cr.Standardizer.fit(ds.X[train_i])
    net.params[...] *= case.scale
    if case.bias:
        for layer in net.dense_layers[:-1]:
            assert layer.b is not None
            layer.b[...] = case.bias
    monitor = HealthMonitor(every=10)
    error = None
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            net.fit(ds.X[train_i], ds.y[train_i], epochs=case.epochs, batch_size=32,
                    optimizer=get_optimizer(case.optimizer, lr=case.lr), callbacks=[monitor],
                    validation_data=(ds.X[val_i], ds.y[val_i]))
    except cr.DivergenceError as exc:
        error = exc
    diagnosis = verdicts(monitor, error)
    last = monitor.checks[-1] if monitor.checks else None
    epoch = monitor.epochs[-1] if monitor.epochs else {}
    from chainrule.health.diagnosis import _update_ratio

    numbers = {"learned": last.learned if last else None,
               "update": _update_ratio(monitor.checks),
               "dead": max((h.dead or 0.0 for h in last.layers[:-1]), default=0.0) if last
               else None,
               "saturated": max((h.saturated or 0.0 for h in last.layers[:-1]), default=0.0)
               if last else None,
               "accuracy": epoch.get("accuracy"), "val_accuracy": epoch.get("val_accuracy")}
    return {**dataclasses.asdict(case), "kinds": sorted(diagnosis.kinds),
            "messages": [v.message for v in diagnosis.verdicts],
            "diverged": error is not None,
            **{k: None if v is None or not math.isfinite(v) else round(float(v), 4)
               for k, v in numbers.items()}}


def run_all() -> tuple[str, dict[str, Any]]:
    """Every case, then the per-verdict precision and recall and the false alarms."""
    rows = []
    for case in cases():
        row = run_case(case)
        rows.append(row)
        print(f"{case.cause or 'healthy':10s} {case.name:42s} → {row['kinds'] or 'healthy'}"
              f"  learned {row['learned']}  dead {row['dead']}  sat {row['saturated']}  "
              f"update {row['update']}",
              flush=True)
    return verdict_markdown(rows), {"runs": rows, "false_alarms": sum(
        bool(r["kinds"]) for r in rows if r["cause"] is None)}


def verdict_markdown(rows: list[dict[str, Any]]) -> str:
    sick = [r for r in rows if r["cause"] is not None]
    healthy = [r for r in rows if r["cause"] is None]
    lines = [f"{len(sick)} sick runs of known cause, {len(healthy)} healthy converged runs\n",
             "| verdict | names the cause | runs of that cause | fired on them (recall) | "
             "fired in all | right (precision) |", "|---|---|---|---|---|---|"]
    for kind, cause in CAUSE.items():
        of_cause = [r for r in rows if r["cause"] == cause]
        fired = [r for r in rows if kind in r["kinds"]]
        right = [r for r in fired if r["cause"] == cause]
        recall = f"{len([r for r in of_cause if kind in r['kinds']])}"
        lines.append(f"| `{kind}` | {cause} | {len(of_cause)} | {recall} | {len(fired)} | "
                     + (f"{len(right)}/{len(fired)}" if fired else "–") + " |")
    lines += ["", "| cause | runs | named by one of its verdicts (recall) | "
              "named by another verdict only |", "|---|---|---|---|"]
    for cause in dict.fromkeys(CAUSE.values()):
        of_cause = [r for r in sick if r["cause"] == cause]
        if not of_cause:
            continue
        hit = [r for r in of_cause if any(CAUSE.get(k) == cause for k in r["kinds"])]
        other = [r for r in of_cause if r["kinds"] and r not in hit]
        lines.append(f"| {cause} | {len(of_cause)} | {len(hit)}/{len(of_cause)} | "
                     f"{len(other)} |")
    alarms = [r for r in healthy if r["kinds"]]
    lines.append(f"\nFalse alarms on the {len(healthy)} healthy runs: {len(alarms)}"
                 + "".join(f"\n- {r['data']}, {r['name']}: {'; '.join(r['messages'])}"
                           for r in alarms))
    lines += ["", "| truth | data | run | verdicts | learned | dead | saturated |",
              "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['cause'] or 'healthy'} | {r['data']} | {r['name']} | "
                     f"{', '.join(r['kinds']) or 'healthy'} | {r['learned']} | {r['dead']} | "
                     f"{r['saturated']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="part", required=True)
    lr = sub.add_parser("lr-find", help="--lr auto against the default rate")
    lr.add_argument("--seeds", type=int, default=3, help="split seeds per table (0, 1, …)")
    lr.add_argument("--only", nargs="+", metavar="TABLE", choices=LR_TABLES)
    lr.add_argument("--optimizer", default=None, choices=["adam", "adamw", "sgd"],
                    help="default: the recipe's (table: adamw; plain: adam)")
    lr.add_argument("--recipe", default="table", choices=["table", "plain"],
                    help="the defaults of train --csv (table) or --recipe plain")
    lr.add_argument("--no-replaced", action="store_true",
                    help="skip the replaced rule's column (half the trainings)")
    sub.add_parser("verdicts", help="precision and recall of the health verdicts")
    args = parser.parse_args(argv)
    if args.part == "lr-find":
        seeds = list(range(args.seeds))
        optimizer = args.optimizer or ("adamw" if args.recipe == "table" else "adam")
        results = [lr_find_table(t, seeds, optimizer, args.recipe, not args.no_replaced)
                   for t in args.only or LR_TABLES]
        text = lr_find_markdown(results, optimizer, len(seeds), args.recipe)
        print(text)
        suffix = (f"_{args.recipe}" if args.recipe != "plain" else "") + (
            "" if args.optimizer is None else f"_{args.optimizer}")
        write(f"calibrate_health_lr_find{suffix}", text, results)
        return 0 if all(r["meets_bar"] for r in results) else 1
    report, data = run_all()
    print(report)
    write("calibrate_health_verdicts", report, data)
    return 0 if data["false_alarms"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
