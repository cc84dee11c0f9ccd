"""chainrule train on real tables shipped inside PyPI packages, against a scikit-learn pipeline.

For every table below — a CSV file as its package installs it, written by nobody on this
project — this runs ``chainrule train --csv FILE --target T`` with no other flags, in a
fresh subprocess whose working directory is a temporary folder (so its ``runs/`` folder
lands there), and reads its exit status, the ``dropped …`` lines it printed and the test
metric in the run's ``metrics.json`` (accuracy, or R² for regression; one seeded
train/val/test split, scored on its test rows).

Beside it, the usual scikit-learn recipe on the same file read by ``pandas.read_csv``
(delimiter sniffed), scored by 5-fold cross-validation (StratifiedKFold / KFold,
shuffle=True, random_state=0; mean ± standard deviation over the folds)::

    Pipeline([("columns", ColumnTransformer([
                  ("num", Pipeline([SimpleImputer(strategy="median"), StandardScaler()]), numbers),
                  ("cat", Pipeline([SimpleImputer(strategy="most_frequent"),
                                    OneHotEncoder(handle_unknown="ignore")]), categories)])),
              ("mlp", MLPClassifier / MLPRegressor(max_iter=500, random_state=0))])

To compare the networks rather than the column decisions, scikit-learn gets the columns
chainrule's model reads and no others (those chainrule dropped — row indexes, identifiers,
free text, constants — are dropped for it too), in the kind chainrule gave each (numbers,
categories), a date column as the same year/month/day/weekday numbers chainrule derives,
the rows with a missing target left out and the task chainrule inferred. Everything else
is scikit-learn's default (the regression target is not rescaled for either side).

The bar (issue 10): chainrule within 0.02 accuracy (0.05 R²) of the pipeline, or better.

    python bench/real_tables.py                # all tables, a few minutes on 2 cores
    python bench/real_tables.py --only penguins grunfeld

Writes bench/results/real_tables.md and bench/results/real_tables.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from chainrule.io import model as io
from chainrule.io.atomic import atomic_write_bytes

RESULTS = Path(__file__).resolve().parent / "results"
BAR = {"classification": 0.02, "regression": 0.05}


@dataclass(frozen=True)
class Table:
    """One file inside an installed package: ``package`` is importable, ``path`` is
    relative to the package's folder; ``why`` says what the table exercises."""

    name: str
    package: str
    path: str
    target: str
    why: str

    def file(self) -> Path:
        spec = importlib.util.find_spec(self.package)
        if spec is None or spec.origin is None:
            raise SystemExit(f"{self.name}: package {self.package!r} is not installed "
                             "(pip install -e '.[test]')")
        return Path(spec.origin).parent / self.path


TABLES = [
    Table("seattle-weather", "vega_datasets", "_data/seattle-weather.csv", "weather",
          "text target, dates"),
    Table("airports", "vega_datasets", "_data/airports.csv", "state",
          "54 text classes; identifiers and free text"),
    Table("penguins", "plotnine", "data/penguins.csv", "species",
          "missing values, text categories"),
    Table("msleep", "plotnine", "data/msleep.csv", "sleep_total",
          "missing values in most columns, text"),
    Table("mpg", "plotnine", "data/mpg.csv", "hwy",
          "integer regression target (27 values), text"),
    Table("diamonds", "plotnine", "data/diamonds.csv", "price",
          "53,940 rows, integer target, text categories"),
    Table("txhousing", "plotnine", "data/txhousing.csv", "median",
          "missing targets and features, 46 cities"),
    Table("grunfeld", "statsmodels", "datasets/grunfeld/grunfeld.csv", "invest",
          "text category (firm)"),
    Table("star98", "statsmodels", "datasets/star98/star98.csv", "PR50M",
          "integer regression target (counts)"),
    Table("fair", "statsmodels", "datasets/fair/fair.csv", "affairs",
          "6,366 rows, survey codes"),
    Table("anes96", "statsmodels", "datasets/anes96/anes96.csv", "'vote'",
          "tab-separated, names in single quotes"),
    Table("modechoice", "statsmodels", "datasets/modechoice/modechoice.csv", "choice",
          "semicolon-separated"),
    Table("randhie", "statsmodels", "datasets/randhie/randhie.csv", "mdvis",
          "20,190 rows, count target"),
    Table("framing", "statsmodels", "stats/tests/results/framing.csv", "cong_mesg",
          "R row names (\"\" column), text categories"),
    Table("epil", "statsmodels", "genmod/tests/results/epil.csv", "y",
          "R row names, integer count target"),
]


@dataclass
class Result:
    """One table's row. ``sklearn_*`` is the pipeline as written above; for regression
    ``scaled_*`` is the same pipeline with the target standardized, and the bar is taken
    against the better of the two (``best_sklearn``)."""

    table: str
    source: str
    rows: int
    columns: int
    target: str
    task: str = ""
    exit_code: int = 0
    error: str = ""
    dropped: list[str] = field(default_factory=list)
    chainrule: float = float("nan")
    chainrule_test_rows: int = 0
    chainrule_seconds: float = 0.0
    sklearn_mean: float = float("nan")
    sklearn_sd: float = float("nan")
    sklearn_folds: list[float] = field(default_factory=list)
    scaled_mean: float | None = None
    scaled_sd: float | None = None
    scaled_folds: list[float] | None = None
    sklearn_seconds: float = 0.0
    best_sklearn: float = float("nan")
    difference: float = float("nan")
    meets_bar: bool = False
    retry: dict[str, object] | None = None  # after a refusal: the flag it named, and then


def run_chainrule(table: Table, workdir: Path, *flags: str) -> tuple[int, str, Path | None]:
    """``chainrule train --csv FILE --target T`` and nothing else (but ``flags``), run in
    ``workdir``; returns the exit status, what it printed and its run directory."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    command = [sys.executable, "-m", "chainrule", "train", "--csv", str(table.file()),
               "--target", table.target, *flags]
    done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True,
                          check=False)
    runs = sorted((workdir / "runs").glob("*/metrics.json"))
    return done.returncode, done.stdout + done.stderr, runs[-1].parent if runs else None


def dropped_lines(printed: str) -> list[str]:
    """chainrule's own words for every column and row it left out."""
    return [line.strip() for line in printed.splitlines() if line.startswith("dropped ")]


def sklearn_inputs(table: Table, run: Path, task: str) -> tuple[pd.DataFrame, np.ndarray,
                                                                 list[str], list[str]]:
    """The same file by ``pandas.read_csv``, cut to the columns chainrule's model reads,
    each in the kind chainrule gave it; returns X, y, numeric and categorical columns."""
    df = pd.read_csv(table.file(), sep=None, engine="python")
    df = df[df[table.target].notna()].reset_index(drop=True)
    encoder = io.read_model(run / "model.safetensors").net.encoder
    columns: dict[str, pd.Series] = {}
    numbers, categories = [], []
    for e in encoder.encodings:
        if e.kind == "numeric":
            columns[e.column] = pd.to_numeric(df[e.column], errors="coerce")
            numbers.append(e.column)
        elif e.kind == "onehot":
            cells = df[e.column]
            columns[e.column] = cells.astype(object).where(cells.notna(), np.nan).map(
                lambda v: v if isinstance(v, float) and np.isnan(v) else str(v))
            categories.append(e.column)
        elif e.kind == "date":
            when = pd.to_datetime(df[e.column], errors="coerce")
            for unit in e.part_names:  # year, month, day, weekday, hour
                attr = "day_of_week" if unit == "weekday" else unit
                columns[f"{e.column}.{unit}"] = getattr(when.dt, attr).astype(float)
                numbers.append(f"{e.column}.{unit}")
    y_raw = df[table.target]
    y = y_raw.astype(str).to_numpy() if task == "classification" else y_raw.to_numpy(float)
    return pd.DataFrame(columns), y, numbers, categories


def sklearn_scores(X: pd.DataFrame, y: np.ndarray, numbers: list[str],
                   categories: list[str], task: str, scale_target: bool = False) -> np.ndarray:
    """5-fold CV scores of the pipeline; ``scale_target`` wraps the regressor in a
    TransformedTargetRegressor(StandardScaler()) — the same pipeline, a fairer one for
    targets in the hundreds (prices, counts), which MLPRegressor's defaults fit poorly."""
    columns = ColumnTransformer([
        ("num", Pipeline([("impute", SimpleImputer(strategy="median")),
                          ("scale", StandardScaler())]), numbers),
        ("cat", Pipeline([("impute", SimpleImputer(strategy="most_frequent")),
                          ("onehot", OneHotEncoder(handle_unknown="ignore"))]), categories),
    ])
    if task == "classification":
        mlp: MLPClassifier | MLPRegressor | TransformedTargetRegressor = MLPClassifier(
            max_iter=500, random_state=0)
        folds: KFold | StratifiedKFold = StratifiedKFold(5, shuffle=True, random_state=0)
        scoring = "accuracy"
    else:
        mlp = MLPRegressor(max_iter=500, random_state=0)
        if scale_target:
            mlp = TransformedTargetRegressor(mlp, transformer=StandardScaler())
        folds = KFold(5, shuffle=True, random_state=0)
        scoring = "r2"
    pipeline = Pipeline([("columns", columns), ("mlp", mlp)])
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)  # classes with fewer than 5 rows
        return cross_val_score(pipeline, X, y, cv=folds, scoring=scoring)


def shape_of(path: Path) -> tuple[int, int]:
    df = pd.read_csv(path, sep=None, engine="python")
    return len(df), df.shape[1]


def evaluate(table: Table, *flags: str) -> Result:
    path = table.file()
    rows, cols = shape_of(path)
    result = Result(table.name, f"{table.package}: {table.path}", rows, cols, table.target)
    with tempfile.TemporaryDirectory(prefix="real_tables_") as tmp:
        start = time.perf_counter()
        code, printed, run = run_chainrule(table, Path(tmp), *flags)
        result.chainrule_seconds = round(time.perf_counter() - start, 1)
        result.exit_code, result.dropped = code, dropped_lines(printed)
        if code != 0 or run is None:
            lines = printed.strip().splitlines()
            result.error = lines[-1].replace(str(path), path.name) if lines else "no output"
            named = re.search(r"pass (--[\w-]+ [\w-]+)", result.error)
            if named and not flags:
                again = evaluate(table, *named.group(1).split())
                result.retry = {"flags": named.group(1), "chainrule": again.chainrule,
                                "best_sklearn": again.best_sklearn, "task": again.task}
            return result
        metrics = json.loads((run / "metrics.json").read_text())
        task = result.task = metrics["task"]
        result.chainrule = metrics["test"]["accuracy" if task == "classification" else "r2"]
        result.chainrule_test_rows = metrics["n_test"]
        X, y, numbers, categories = sklearn_inputs(table, run, task)
    start = time.perf_counter()
    scores = sklearn_scores(X, y, numbers, categories, task)
    result.sklearn_folds = [float(v) for v in scores]
    result.sklearn_mean, result.sklearn_sd = float(scores.mean()), float(scores.std())
    result.best_sklearn = result.sklearn_mean
    if task == "regression":
        scaled = sklearn_scores(X, y, numbers, categories, task, scale_target=True)
        result.scaled_folds = [float(v) for v in scaled]
        result.scaled_mean, result.scaled_sd = float(scaled.mean()), float(scaled.std())
        result.best_sklearn = max(result.sklearn_mean, result.scaled_mean)
    result.sklearn_seconds = round(time.perf_counter() - start, 1)
    result.difference = result.chainrule - result.best_sklearn
    result.meets_bar = bool(result.difference >= -BAR[task])
    return result


def _dropped_cell(lines: list[str]) -> str:
    if not lines:
        return "nothing"
    said = []
    for line in lines:
        line = re.sub(r"^dropped ", "", line)
        line = line.replace("an unnamed column is a row index (R's and pandas' row names), "
                            "not a feature", "unnamed, a row index")
        said.append(line.replace("|", "\\|"))
    return "; ".join(said)


def markdown(results: list[Result]) -> str:
    head = ("| table | source (package: file) | rows × cols | target | task | "
            "chainrule dropped, and why | chainrule test | scikit-learn 5-fold CV | "
            "same, target standardized | difference | within bar? |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|\n")
    lines, notes = [], []
    for r in results:
        where = f"| {r.table} | {r.source} | {r.rows:,} × {r.columns} | `{r.target}` |"
        if r.exit_code != 0:
            lines.append(f"{where} – | exit {r.exit_code}: {r.error} | – | – | – | – | **no** |")
            if r.retry:
                notes.append(f"{r.table}: with `{r.retry['flags']}` chainrule's test score is "
                             f"{r.retry['chainrule']:.3f}, scikit-learn's "
                             f"{r.retry['best_sklearn']:.3f}.")
            continue
        metric = "accuracy" if r.task == "classification" else "R²"
        scaled = "–" if r.scaled_mean is None else f"{r.scaled_mean:.3f} ± {r.scaled_sd:.3f}"
        lines.append(
            f"{where} {r.task} | {_dropped_cell(r.dropped)} | {metric} {r.chainrule:.3f} "
            f"({r.chainrule_test_rows:,} rows) | {r.sklearn_mean:.3f} ± {r.sklearn_sd:.3f} | "
            f"{scaled} | {r.difference:+.3f} | {'yes' if r.meets_bar else '**no**'} |")
    met = sum(r.meets_bar for r in results)
    tail = (f"\n{met} of {len(results)} tables within the bar (chainrule at most 0.02 accuracy "
            "or 0.05 R² below the better scikit-learn column). "
            f"chainrule {_version('chainrule')}, scikit-learn {sklearn.__version__}, "
            f"pandas {pd.__version__}, Python {platform.python_version()}.\n")
    return head + "\n".join(lines) + "\n" + "".join(f"\n{n}\n" for n in notes) + tail


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="TABLE",
                        choices=[t.name for t in TABLES], help="run these tables only")
    parser.add_argument("--no-write", action="store_true",
                        help="print the table, write nothing under bench/results")
    args = parser.parse_args(argv)
    tables = [t for t in TABLES if not args.only or t.name in args.only]
    results = []
    for table in tables:
        result = evaluate(table)
        results.append(result)
        print(f"{table.name:16s} exit {result.exit_code}  chainrule {result.chainrule:.3f}  "
              f"sklearn {result.sklearn_mean:.3f} ± {result.sklearn_sd:.3f}  "
              f"({result.chainrule_seconds:.0f} s / {result.sklearn_seconds:.0f} s)", flush=True)
    table_md = markdown(results)
    print(table_md)
    if not args.no_write:
        RESULTS.mkdir(exist_ok=True)
        atomic_write_bytes(RESULTS / "real_tables.md", table_md.encode())
        atomic_write_bytes(RESULTS / "real_tables.json", json.dumps(
            [asdict(r) for r in results], indent=2).encode())
    return 0 if all(r.meets_bar for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
