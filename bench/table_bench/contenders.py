"""The contenders, each fitted on one fold's training rows and scored on its held-out rows.

``chainrule`` is the default a user gets: a fresh ``python -m chainrule train`` subprocess on
a CSV of the fold's training rows (as the file wrote them), no flags but ``--target``,
``--task`` (the benchmark's task), ``--out`` and ``--quiet`` (and ``--test-split 0``, or the
smallest fraction it takes where 0 is refused: max(0.01, 2 / rows)) plus whatever
``--chainrule-args`` adds; then ``chainrule predict`` on the held-out rows. Its time is the
training subprocess's wall time.

The library contenders get :func:`catalogue.features` (the same X for all); every one runs
on one thread (the machine has two cores, shared), its time is ``fit``'s wall time:

- ``sklearn-mlp``: SimpleImputer + StandardScaler on numbers, SimpleImputer + OneHotEncoder
  on categories, MLPClassifier / MLPRegressor(max_iter=500, random_state=0); for regression
  the target standardized (TransformedTargetRegressor), the fair form for targets in the
  hundreds.
- ``hgb``: HistGradientBoosting*(categorical_features="from_dtype", random_state=0); a
  category with more levels than its 255 bins goes in as its integer code.
- ``lightgbm``: LGBMClassifier / LGBMRegressor() defaults (verbose=-1, n_jobs=1).
- ``realmlp``: pytabkit's RealMLP_TD_Classifier / Regressor(random_state=0, n_threads=1,
  device="cpu"); missing numbers filled with the training median (it takes none).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, r2_score
from threadpoolctl import threadpool_limits

from . import catalogue
from .catalogue import Data

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src"
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
NAMES = ("chainrule", "sklearn-mlp", "hgb", "lightgbm", "realmlp")
RECIPE = "2"  # bump when a library contender's recipe or features() changes


@dataclass
class Outcome:
    """One contender on one fold: score (accuracy or R²; nan with ``error`` on failure),
    training seconds and the chainrule run's printed notes."""

    score: float
    seconds: float
    error: str = ""
    notes: str = ""


def package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "absent"


def score(task: str, y_true: np.ndarray, y_pred: np.ndarray) -> float:
    if task == catalogue.C:
        return float(accuracy_score(y_true, [catalogue.label(v) for v in y_pred]))
    return float(r2_score(y_true, np.asarray(y_pred, dtype=float)))


# --- chainrule -------------------------------------------------------------------------

def _env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH", "")) if p)
    return dict(os.environ, **ONE_THREAD, PYTHONPATH=path)


def _chainrule(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chainrule", *args], cwd=cwd, env=_env(),
                          capture_output=True, text=True, check=False)


def _last_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = (done.stdout + done.stderr).strip().splitlines()
    return lines[-1][:300] if lines else f"exit {done.returncode}, no output"


def run_chainrule(data: Data, fold: int, extra: list[str]) -> Outcome:
    """Train on the fold's training rows in a fresh process, predict its held-out rows."""
    train, test = data.folds[fold]
    table = data.table
    with tempfile.TemporaryDirectory(prefix="real_tables_") as tmp:
        work = Path(tmp)
        data.write_rows(train, work / "train.csv")
        data.write_rows(test, work / "test.csv")
        base = ["train", "--csv", "train.csv", "--target", table.target, "--task", table.task,
                "--out", "run", "--quiet"]
        start = time.perf_counter()
        done = _chainrule(*base, "--test-split", "0", *extra, cwd=work)
        if done.returncode != 0 and "test_split" in _last_line(done):
            start = time.perf_counter()
            least = f"{max(0.01, 2 / len(train)):.4f}"  # the smallest it takes: 1 row or 2
            done = _chainrule(*base, "--test-split", least, *extra, cwd=work)
        seconds = time.perf_counter() - start
        notes = "\n".join(line for line in (done.stdout + done.stderr).splitlines()
                          if line.startswith(("dropped", "warning", "note")))
        if done.returncode != 0:
            return Outcome(float("nan"), seconds, f"train: {_last_line(done)}", notes)
        predicted = _chainrule("predict", "run/model.safetensors", "--csv", "test.csv",
                               "--out", "pred.csv", cwd=work)
        if predicted.returncode != 0:
            return Outcome(float("nan"), seconds, f"predict: {_last_line(predicted)}", notes)
        pred = pd.read_csv(work / "pred.csv", dtype=str, keep_default_na=False)
    y_pred = pred.iloc[:, 0].to_numpy()
    return Outcome(score(table.task, data.y[test], y_pred), seconds, "", notes)


# --- library contenders ----------------------------------------------------------------

def _split(X: pd.DataFrame, data: Data,
           fold: int) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame, np.ndarray]:
    train, test = data.folds[fold]
    y = data.y
    return X.iloc[train], y[train], X.iloc[test], y[test]


def _fit_score(model, X_train, y_train, X_test, y_test, task: str) -> Outcome:  # noqa: ANN001
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        model.fit(X_train, y_train)
        seconds = time.perf_counter() - start
        y_pred = model.predict(X_test)
    return Outcome(score(task, y_test, np.asarray(y_pred)), seconds)


def sklearn_mlp(X: pd.DataFrame, data: Data, fold: int) -> Outcome:
    from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    categories = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
    numbers = [c for c in X.columns if c not in categories]
    X = X.copy()
    for c in categories:
        X[c] = X[c].astype(object).where(X[c].notna(), np.nan)
    columns = ColumnTransformer([
        ("num", Pipeline([("impute", SimpleImputer(strategy="median")),
                          ("scale", StandardScaler())]), numbers),
        ("cat", Pipeline([("impute", SimpleImputer(strategy="most_frequent")),
                          ("onehot", OneHotEncoder(handle_unknown="ignore"))]), categories),
    ])
    if data.table.task == catalogue.C:
        mlp: object = MLPClassifier(max_iter=500, random_state=0)
    else:
        mlp = TransformedTargetRegressor(MLPRegressor(max_iter=500, random_state=0),
                                         transformer=StandardScaler())
    model = Pipeline([("columns", columns), ("mlp", mlp)])
    return _fit_score(model, *_split(X, data, fold), data.table.task)


def hgb(X: pd.DataFrame, data: Data, fold: int) -> Outcome:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    X = X.copy()
    for c in X.columns:
        if isinstance(X[c].dtype, pd.CategoricalDtype) and len(X[c].cat.categories) > 255:
            X[c] = X[c].cat.codes.replace(-1, np.nan).astype(float)
    cls = (HistGradientBoostingClassifier if data.table.task == catalogue.C
           else HistGradientBoostingRegressor)
    model = cls(categorical_features="from_dtype", random_state=0)
    return _fit_score(model, *_split(X, data, fold), data.table.task)


def lightgbm(X: pd.DataFrame, data: Data, fold: int) -> Outcome:
    import lightgbm as lgb

    cls = lgb.LGBMClassifier if data.table.task == catalogue.C else lgb.LGBMRegressor
    model = cls(verbose=-1, n_jobs=1)
    return _fit_score(model, *_split(X, data, fold), data.table.task)


def realmlp(X: pd.DataFrame, data: Data, fold: int) -> Outcome:
    import torch
    from pytabkit import RealMLP_TD_Classifier, RealMLP_TD_Regressor

    torch.set_num_threads(1)
    X_train, y_train, X_test, y_test = _split(X, data, fold)
    X_train, X_test = X_train.copy(), X_test.copy()
    for c in X.columns:
        if not isinstance(X[c].dtype, pd.CategoricalDtype):
            median = X_train[c].median()
            X_train[c] = X_train[c].fillna(0.0 if np.isnan(median) else median)
            X_test[c] = X_test[c].fillna(0.0 if np.isnan(median) else median)
    cls = RealMLP_TD_Classifier if data.table.task == catalogue.C else RealMLP_TD_Regressor
    model = cls(random_state=0, n_threads=1, device="cpu", verbosity=0)
    return _fit_score(model, X_train, y_train, X_test, y_test, data.table.task)


LIBRARY: dict[str, Callable[[pd.DataFrame, Data, int], Outcome]] = {
    "sklearn-mlp": sklearn_mlp, "hgb": hgb, "lightgbm": lightgbm, "realmlp": realmlp}


def library_version(name: str) -> str:
    """What a cached result of a library contender depends on: its packages and RECIPE."""
    packages = {"sklearn-mlp": ["scikit-learn"], "hgb": ["scikit-learn"],
                "lightgbm": ["lightgbm"], "realmlp": ["pytabkit", "torch"]}[name]
    return ",".join(f"{p} {package_version(p)}" for p in packages) + f"; recipe {RECIPE}"
