"""chainrule's default against LightGBM and friends on real tables, 5-fold CV, cached.

Every table (``bench/table_bench/catalogue.py``: 25 CSV files shipped inside PyPI packages,
written by nobody on this project) is cut into the same five folds (StratifiedKFold for
classification, KFold for regression; shuffle=True, random_state=0) for every contender:

- ``chainrule``: ``python -m chainrule train --csv TRAIN --target T --task TASK`` in a fresh
  process with no tuning flags (the default a user gets), scored by ``chainrule predict`` on
  the held-out fold; ``--chainrule-args`` adds flags (to compare recipe variants).
- ``sklearn-mlp``, ``hgb`` (HistGradientBoosting, categories from dtype), ``lightgbm``
  (defaults), ``realmlp`` (pytabkit's RealMLP-TD, only on tables up to ``--realmlp-rows``
  rows: it is slow on two cores). See ``bench/table_bench/contenders.py``.

Scores: accuracy (classification), R² (regression), per fold. Every (table, fold,
contender, version, chainrule args) result is cached in bench/results/real_tables.json, so a
rerun computes only what changed: chainrule's version is a hash of ``src/chainrule``, a
library's its package versions and recipe number.

    python bench/real_tables.py                              # everything missing
    python bench/real_tables.py --contenders chainrule --only nlschools amis --folds 2
    python bench/real_tables.py --contenders chainrule --tag pbld \\
        --chainrule-args="--numeric-embedding pbld"          # note the '=': args start with --

Writes bench/results/real_tables.md (``--tag NAME``: real_tables-NAME.md) and the cache.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from table_bench import catalogue, contenders, report  # noqa: E402
from table_bench.catalogue import TABLES, Data  # noqa: E402
from table_bench.contenders import NAMES, Outcome  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
CACHE = RESULTS / "real_tables.json"
LOCK = Path("/tmp/chainrule_real_tables.lock")
REALMLP_ROWS = 1500


def chainrule_version() -> str:
    """A hash of every file under src/chainrule: any change to the library is a new version."""
    digest = hashlib.sha256()
    for path in sorted((contenders.SRC / "chainrule").rglob("*")):
        if path.is_file() and path.suffix in {".py", ".json", ".toml"}:
            digest.update(str(path.relative_to(contenders.SRC)).encode())
            digest.update(path.read_bytes())
    return "src " + digest.hexdigest()[:12]


def git_head() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=contenders.REPO,
                          capture_output=True, text=True, check=False)
    return done.stdout.strip() or "unknown"


@contextmanager
def locked() -> Iterator[None]:
    """Several people run this at once: one writer of the cache at a time."""
    with LOCK.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def load_cache() -> dict[str, dict[str, object]]:
    try:
        saved = json.loads(CACHE.read_text())
    except (OSError, ValueError):
        return {}
    return saved.get("results", {}) if isinstance(saved, dict) else {}


def store(key: str, record: dict[str, object]) -> None:
    """Merge one result into the cache file (re-read under the lock, written atomically)."""
    with locked():
        cache = load_cache()
        cache[key] = record
        RESULTS.mkdir(exist_ok=True)
        tmp = CACHE.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps({"schema": 2, "results": cache}, indent=1, sort_keys=True))
        os.replace(tmp, CACHE)


def key(data: Data, fold: int, contender: str, version: str, args: str) -> str:
    return "|".join([data.table.name, data.fingerprint, str(fold), contender, version, args])


def run_one(data: Data, fold: int, contender: str, extra: list[str],
            features: pd.DataFrame | None) -> Outcome:
    if contender == "chainrule":
        return contenders.run_chainrule(data, fold, extra)
    try:
        return contenders.LIBRARY[contender](features, data, fold)
    except Exception as error:  # noqa: BLE001 - a failed contender is a result, not a crash
        first = (str(error).strip().splitlines() or [""])[0]
        return Outcome(float("nan"), 0.0, f"{type(error).__name__}: {first}"[:300])


def measure(data: Data, args: argparse.Namespace, compute: set[str],
            versions: dict[str, str], row: report.Row, labels: dict[str, str]) -> None:
    """Fill ``row`` from the cache, computing (and caching) what is missing for the
    contenders in ``compute``."""
    X = None
    extra = shlex.split(args.chainrule_args)
    cache = load_cache()
    for contender, label in labels.items():
        if contender == "realmlp" and len(data.frame) > args.realmlp_rows:
            row.errors[label] = f"not run (> {args.realmlp_rows:,} rows)"
            continue
        c_args = args.chainrule_args if contender == "chainrule" else ""
        for fold in range(args.folds):
            k = key(data, fold, contender, versions[contender], c_args)
            record = cache.get(k)
            if record is None and contender in compute:
                if X is None and contender != "chainrule":
                    X, _ = catalogue.features(data)
                outcome = run_one(data, fold, contender, extra, X)
                record = {"table": data.table.name, "fold": fold, "contender": contender,
                          "label": label, "version": versions[contender], "args": c_args,
                          "git": versions["git"], "score": outcome.score,
                          "seconds": round(outcome.seconds, 3), "error": outcome.error,
                          "notes": outcome.notes, "when": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                        time.gmtime())}
                if not args.no_write:
                    store(k, record)
                print(f"  {data.table.name:16s} fold {fold} {label:22s} "
                      f"{outcome.score:8.4f}  {outcome.seconds:7.1f} s  {outcome.error}",
                      flush=True)
            if record is None:
                continue
            row.scores.setdefault(label, []).append(float(record["score"]))  # type: ignore[arg-type]
            row.seconds.setdefault(label, []).append(float(record["seconds"]))  # type: ignore[arg-type]
            if record["error"] and label not in row.errors:
                row.errors[label] = str(record["error"])


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="TABLE", choices=[t.name for t in TABLES],
                        help="these tables only")
    parser.add_argument("--contenders", default=",".join(NAMES),
                        help=f"comma-separated contenders to compute (of {','.join(NAMES)}); "
                             "the others are still reported from the cache ('' computes "
                             "nothing: the report from the cache)")
    parser.add_argument("--folds", type=int, default=catalogue.N_FOLDS,
                        choices=range(1, catalogue.N_FOLDS + 1), metavar="N",
                        help="the first N of the 5 folds (quick exploration)")
    parser.add_argument("--chainrule-args", default="", metavar="'FLAGS'",
                        help="extra flags for chainrule train (write --chainrule-args='--x 1')")
    parser.add_argument("--chainrule-src", type=Path, default=contenders.SRC, metavar="DIR",
                        help="the src folder whose chainrule runs (default this checkout's; "
                             "e.g. a `git archive COMMIT src | tar -x -C DIR` of one commit, "
                             "safe from edits made while the benchmark runs)")
    parser.add_argument("--tag", default="", help="name this chainrule variant in the report")
    parser.add_argument("--realmlp-rows", type=int, default=REALMLP_ROWS, metavar="N",
                        help=f"run RealMLP only on tables of at most N rows ({REALMLP_ROWS})")
    parser.add_argument("--note", default="", help="a paragraph for the report's head "
                        "(e.g. the conditions of the run)")
    parser.add_argument("--no-write", action="store_true",
                        help="write nothing under bench/results (no cache, no report)")
    args = parser.parse_args(argv)
    args.compute = {n for n in args.contenders.split(",") if n}
    unknown = args.compute - set(NAMES)
    if unknown:
        parser.error(f"--contenders: unknown {', '.join(sorted(unknown))}; "
                     f"known: {', '.join(NAMES)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    compute = args.compute
    contenders.SRC = args.chainrule_src.resolve()
    if not (contenders.SRC / "chainrule" / "__init__.py").is_file():
        raise SystemExit(f"--chainrule-src: no chainrule package in {contenders.SRC}")
    versions = {"chainrule": chainrule_version(), "git": git_head(),
                **{n: contenders.library_version(n) for n in contenders.LIBRARY}}
    chainrule_label = ("chainrule:" + args.tag if args.tag else
                       "chainrule" + (f" {args.chainrule_args}" if args.chainrule_args else ""))
    labels = {"chainrule": chainrule_label, "lightgbm": "lightgbm", "hgb": "hgb",
              "sklearn-mlp": "sklearn-mlp", "realmlp": "realmlp"}
    rows = []
    for table in [t for t in TABLES if not args.only or t.name in args.only]:
        data = catalogue.read(table)
        row = report.Row(table.name, table.source(), len(data.frame), data.frame.shape[1],
                         table.task, table.why, args.folds)
        measure(data, args, compute, versions, row, labels)
        rows.append(row)
    context = (f"chainrule {versions['chainrule']} (git {versions['git']}; from "
               f"{contenders.SRC}), args "
               f"`{args.chainrule_args or 'none'}`; "
               + "; ".join(f"{n}: {contenders.library_version(n)}" for n in contenders.LIBRARY)
               + ". One thread per contender; time = training wall time per fold (chainrule: "
               "its whole `train` subprocess). RealMLP only on tables of at most "
               f"{args.realmlp_rows:,} rows." + (f"\n\n{args.note}" if args.note else ""))
    text = report.markdown(rows, list(labels.values()), chainrule_label, context)
    print(text)
    if not args.no_write:
        partial = args.only or args.folds < catalogue.N_FOLDS
        name = (f"real_tables-{args.tag}.md" if args.tag else
                "real_tables-partial.md" if partial else "real_tables.md")
        with locked():
            (RESULTS / name).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
