"""chainrule.sklearn vs scikit-learn's MLP on scikit-learn's bundled data sets.

Same estimator parameters on both sides, inside the same pipeline
(StandardScaler → MLP; regression targets standardized too), scored by 5-fold
cross-validation (StratifiedKFold / KFold, shuffle=True, random_state=0) for the
estimator seeds random_state = 0, 1, 2. Prints one row per data set and solver:
mean CV score (accuracy or R²) ± the standard deviation over seeds, and the total
fit time of the 15 fits. Runs alternate between the libraries seed by seed so that
background load hits both alike; BLAS is limited to --threads threads (default 1:
these matrices are small, and it makes the timings comparable).

    python bench/sklearn_compare.py            # about 3-4 minutes on 2 cores
    python bench/sklearn_compare.py --quick    # iris, wine and diabetes only
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings

import numpy as np
import sklearn
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold, StratifiedKFold, cross_validate
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

import chainrule
from chainrule.sklearn import MLPClassifier, MLPRegressor

DATASETS = {
    "iris": (load_iris, "clf"),
    "wine": (load_wine, "clf"),
    "breast_cancer": (load_breast_cancer, "clf"),
    "digits": (load_digits, "clf"),
    "diabetes": (load_diabetes, "reg"),
}
SOLVERS = {
    "adam": dict(solver="adam"),  # every other parameter: scikit-learn's default
    "lbfgs": dict(solver="lbfgs"),
}
SEEDS = (0, 1, 2)


def make(kind: str, library: str, params: dict) -> object:
    if kind == "clf":
        cls = MLPClassifier if library == "chainrule" else SkMLPClassifier
        return make_pipeline(StandardScaler(), cls(**params))
    cls = MLPRegressor if library == "chainrule" else SkMLPRegressor
    return make_pipeline(
        StandardScaler(), TransformedTargetRegressor(cls(**params), transformer=StandardScaler())
    )


def run(names: list[str]) -> list[dict]:
    rows = []
    for name in names:
        loader, kind = DATASETS[name]
        X, y = loader(return_X_y=True)
        cv = (StratifiedKFold if kind == "clf" else KFold)(5, shuffle=True, random_state=0)
        for solver, params in SOLVERS.items():
            scores: dict[str, list[float]] = {"scikit-learn": [], "chainrule": []}
            times: dict[str, float] = {"scikit-learn": 0.0, "chainrule": 0.0}
            for seed in SEEDS:
                for library in ("scikit-learn", "chainrule"):
                    est = make(kind, library, {**params, "random_state": seed})
                    res = cross_validate(est, X, y, cv=cv)
                    scores[library].append(float(np.mean(res["test_score"])))
                    times[library] += float(np.sum(res["fit_time"]))
            rows.append({"data": name, "n": len(y), "solver": solver, "kind": kind,
                         "scores": scores, "times": times})
            print_row(rows[-1], flush=True)
    return rows


HEADER = (
    f"| {'data set':<13} | {'n':>4} | {'solver':<6} | {'metric':<8} | {'scikit-learn':>15} | "
    f"{'chainrule':>15} | {'sklearn fit s':>13} | {'chainrule fit s':>15} | {'speed-up':>8} |"
)


def print_row(row: dict, flush: bool = False) -> None:
    sk, cr = row["scores"]["scikit-learn"], row["scores"]["chainrule"]
    tsk, tcr = row["times"]["scikit-learn"], row["times"]["chainrule"]
    metric = "accuracy" if row["kind"] == "clf" else "R²"
    print(
        f"| {row['data']:<13} | {row['n']:>4} | {row['solver']:<6} | {metric:<8} | "
        f"{np.mean(sk):.4f} ± {np.std(sk):.4f} | {np.mean(cr):.4f} ± {np.std(cr):.4f} | "
        f"{tsk:>13.2f} | {tcr:>15.2f} | {tsk / tcr:>7.2f}× |",
        flush=flush,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="iris, wine, diabetes only")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    args = parser.parse_args()
    names = ["iris", "wine", "diabetes"] if args.quick else list(DATASETS)
    print(
        f"chainrule {chainrule.__version__}, scikit-learn {sklearn.__version__}, NumPy "
        f"{np.__version__}, Python {platform.python_version()}, BLAS threads {args.threads}"
    )
    print("5-fold CV (shuffle, random_state=0) x seeds 0, 1, 2; score = mean ± std over seeds;")
    print("fit s = total fit time of the 15 fits.\n")
    print(HEADER)
    print("|" + "|".join("-" * (len(c)) for c in HEADER.split("|")[1:-1]) + "|")
    start = time.perf_counter()
    with threadpool_limits(limits=args.threads), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        run(names)
    print(f"\ntotal wall time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
