"""Encoding a 1,000,000-row table: chainrule vs pandas.read_csv + scikit-learn's ColumnTransformer.

The benchmark writes (once, cached) a synthetic CSV of ``--rows`` rows × 20 columns: 10
numbers (ints and floats, four of them with ~5 % missing cells), 8 text categories
(cardinality 3 to 150, four with ~2 % missing), 1 boolean and 1 numeric target. Then each
contender runs in its own fresh process, interleaved (run 1 of everyone, then run 2, …):

- ``chainrule``: what ``chainrule train --csv`` does before training —
  :func:`chainrule.datasets.load_csv` (the file into a Table), ``TableEncoder().fit`` on it
  and ``Dataset.encode`` of every row into the feature matrix in the network's dtype,
  float32 by default (the network casts to its dtype before scaling, so encoding straight
  into it gives the same values without a float64 copy);
- ``chainrule (float64)``, for reference: the same into float64 (``--dtype float64``);
- ``chainrule (no pandas)``, for reference: the same where pandas is not installed (the
  CSV reader's streaming pure-Python path; pandas is hidden from the process);
- ``pandas+sklearn``: ``pandas.read_csv`` and ``ColumnTransformer(numeric:
  SimpleImputer(median) + StandardScaler, categorical: SimpleImputer(constant "(missing)") +
  OneHotEncoder(handle_unknown="ignore", sparse_output=False)).fit_transform`` — a dense
  float64 matrix, like chainrule's (an MLP takes a dense matrix);
- ``pandas+sklearn (sparse)``, shown for reference: the same with OneHotEncoder's default
  sparse output (and ColumnTransformer's default sparse_threshold), a CSR matrix.

Each process reports the seconds of that work (imports excluded; chainrule's lazy import
of pandas/pyarrow, if it makes one, is inside the clock) and its peak resident memory
(``ru_maxrss``), plus that peak minus its resident memory after the imports — the memory
the work itself took, which is what the ratios compare (the peak RSS ratio is shown too).
The headline numbers are each contender's fastest run and lowest peak. Writes
``bench/results/encode_1m.md`` and ``.json``.

    python bench/encode_1m.py                   # 1,000,000 rows, 3 runs each
    python bench/encode_1m.py --runs 5 --dir /tmp/bench-csv
    python bench/encode_1m.py --rows 100000 --runs 1   # a quick look
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CARDINALITIES = (3, 5, 8, 12, 20, 40, 80, 150)
MISSING_SHARE = 0.05
TEXT_MISSING_SHARE = 0.02
RESULTS = Path(__file__).resolve().parent / "results"
CONTENDERS = ("chainrule", "chainrule (float64)", "chainrule (no pandas)", "pandas+sklearn",
              "pandas+sklearn (sparse)")
BARS = {"time": 1.2, "memory": 1.5}


# -- the file -----------------------------------------------------------------------------------
def write_csv(path: Path, rows: int, seed: int = 0) -> None:
    """The synthetic table (20 columns), written with pandas, atomically."""
    import pandas as pd

    rng = np.random.default_rng(seed)

    def holes(values: np.ndarray, share: float) -> np.ndarray:
        out = values.astype(object) if values.dtype.kind in "OU" else values.astype(float)
        out[rng.random(rows) < share] = None if out.dtype == object else np.nan
        return out

    cols: dict[str, object] = {}
    cols["age"] = rng.integers(18, 90, rows)
    cols["income"] = pd.array(holes(rng.integers(0, 250_000, rows), MISSING_SHARE)
                              ).astype("Int64")
    cols["visits"] = rng.poisson(3.0, rows)
    cols["rooms"] = pd.array(holes(rng.integers(1, 9, rows), MISSING_SHARE)).astype("Int64")
    for j, scale in enumerate((1.0, 10.0, 1000.0, 0.01, 5.0, 250.0)):
        v = np.round(rng.normal(scale * j, scale, rows), 4)
        cols[f"x{j}"] = holes(v, MISSING_SHARE) if j in (1, 4) else v
    for j, k in enumerate(CARDINALITIES):
        weights = 1.0 / np.arange(1, k + 1) ** 0.7  # some categories far commoner than others
        labels = np.array([f"c{j}_{chr(97 + i % 26)}{i}" for i in range(k)], dtype=object)
        picked = labels[rng.choice(k, rows, p=weights / weights.sum())]
        cols[f"cat{j}"] = holes(picked, TEXT_MISSING_SHARE) if j % 2 else picked
    cols["flag"] = np.where(rng.random(rows) < 0.3, "True", "False")
    cols["target"] = np.round(cols["age"] * 0.1 + cols["x0"] + rng.normal(0, 1, rows), 4)
    frame = pd.DataFrame(cols)
    assert frame.shape[1] == 20
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    frame.to_csv(tmp, index=False)
    os.replace(tmp, path)


def csv_path(directory: Path, rows: int) -> Path:
    path = directory / f"encode-{rows}-v1.csv"
    if not path.exists():
        print(f"writing {path} ({rows:,} rows) …", flush=True)
        write_csv(path, rows)
    return path


# -- the contenders (one per fresh process) ------------------------------------------------------
def _rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def _current_rss_kib() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def work_chainrule(path: Path, dtype: str) -> tuple[float, tuple[int, int], str]:
    from chainrule.datasets.tabular import load_csv
    from chainrule.table import TableEncoder

    start = time.perf_counter()
    ds = load_csv(path, target="target")
    assert ds.table is not None
    encoder = TableEncoder().fit(ds.table)  # what the CLI's fit_encoder calls
    ds.encode(encoder, np.dtype(dtype))  # the CLI encodes in the network's dtype
    seconds = time.perf_counter() - start
    assert ds.X.dtype == np.dtype(dtype) and np.isfinite(ds.X).all()
    return seconds, ds.X.shape, f"dense {dtype}"


def work_sklearn(path: Path, sparse: bool) -> tuple[float, tuple[int, int], str]:
    import pandas as pd
    from sklearn.compose import ColumnTransformer, make_column_selector
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
    categorical = make_pipeline(
        SimpleImputer(strategy="constant", fill_value="(missing)"),
        OneHotEncoder(handle_unknown="ignore", sparse_output=sparse))
    transformer = ColumnTransformer(
        [("num", numeric, make_column_selector(dtype_include=np.number)),
         ("cat", categorical, make_column_selector(dtype_exclude=np.number))],
        **({} if sparse else {"sparse_threshold": 0.0}))
    start = time.perf_counter()
    frame = pd.read_csv(path)
    frame.pop("target")
    X = transformer.fit_transform(frame)
    seconds = time.perf_counter() - start
    kind = f"{type(X).__name__} {X.dtype}"
    return seconds, X.shape, kind


def worker(name: str, path: Path) -> None:
    import numpy  # noqa: F401  (imports before the baseline, for both sides)

    if name == "chainrule (no pandas)":
        sys.modules["pandas"] = None  # type: ignore[assignment]  # import pandas fails
    if name.startswith("chainrule"):
        import chainrule.datasets.tabular  # noqa: F401
        import chainrule.table  # noqa: F401
    else:
        import pandas  # noqa: F401
        import sklearn.compose  # noqa: F401
        import sklearn.preprocessing  # noqa: F401
    baseline = _current_rss_kib()
    if name.startswith("chainrule"):
        seconds, shape, kind = work_chainrule(
            path, "float64" if name == "chainrule (float64)" else "float32")
    else:
        seconds, shape, kind = work_sklearn(path, sparse=name.endswith("(sparse)"))
    peak = _rss_kib()
    print(json.dumps({"contender": name, "seconds": seconds, "peak_mib": peak / 1024,
                      "baseline_mib": baseline / 1024, "increase_mib": (peak - baseline) / 1024,
                      "rows": shape[0], "features": shape[1], "output": kind}))


def run_one(name: str, path: Path) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--worker", name, "--csv", str(path)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- the report ----------------------------------------------------------------------------------
def summarize(runs: list[dict]) -> dict:
    out: dict[str, dict] = {}
    for name in CONTENDERS:
        mine = [r for r in runs if r["contender"] == name]
        if not mine:
            continue
        out[name] = {
            "best_seconds": min(r["seconds"] for r in mine),
            "median_seconds": float(np.median([r["seconds"] for r in mine])),
            "lowest_increase_mib": min(r["increase_mib"] for r in mine),
            "lowest_peak_mib": min(r["peak_mib"] for r in mine),
            "baseline_mib": min(r["baseline_mib"] for r in mine),
            "rows": mine[0]["rows"], "features": mine[0]["features"],
            "output": mine[0]["output"], "runs": len(mine),
        }
    return out


def markdown(summary: dict, meta: dict) -> str:
    base = summary["chainrule"]
    lines = [
        f"# Encoding a {meta['rows']:,}-row table, {meta['date']}", "",
        f"{meta['machine']}; {meta['runs']} interleaved run(s) per contender, each in a fresh "
        f"process; file {meta['file_mib']:.0f} MiB, 20 columns. Time: fastest run; memory: "
        "lowest peak RSS, and that peak minus the RSS after imports (the work's own memory, "
        "which the ratios compare).", "",
        "| contender | output | rows × features | time (s) | median (s) | work memory (MiB) "
        "| peak RSS (MiB) | time ratio | memory ratio |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, s in summary.items():
        ratio_t = base["best_seconds"] / s["best_seconds"]
        ratio_m = base["lowest_increase_mib"] / s["lowest_increase_mib"]
        ratios = (("", "") if name.startswith("chainrule")
                  else (f"{ratio_t:.2f}", f"{ratio_m:.2f}"))
        lines.append(
            f"| {name} | {s['output']} | {s['rows']:,} × {s['features']} | "
            f"{s['best_seconds']:.2f} | {s['median_seconds']:.2f} | "
            f"{s['lowest_increase_mib']:.0f} | {s['lowest_peak_mib']:.0f} | {ratios[0]} | "
            f"{ratios[1]} |")
    lines += ["", "Ratios are chainrule / contender; chainrule encodes in float32, the dtype "
              "`chainrule train` computes in unless given `--dtype float64` (the float64 row "
              "is for reference)."]
    for other, label in (("pandas+sklearn (sparse)", "the sparse pandas+sklearn (OneHotEncoder's "
                          "default)"), ("pandas+sklearn", "the dense pandas+sklearn")):
        theirs = summary.get(other)
        if not theirs:
            continue
        t = base["best_seconds"] / theirs["best_seconds"]
        m = base["lowest_increase_mib"] / theirs["lowest_increase_mib"]
        p = base["lowest_peak_mib"] / theirs["lowest_peak_mib"]
        lines += ["", f"Against {label}: time {t:.2f}× (bar ≤ {BARS['time']}×: "
                  f"{'met' if t <= BARS['time'] else 'missed'}), work memory {m:.2f}× (bar ≤ "
                  f"{BARS['memory']}×: {'met' if m <= BARS['memory'] else 'missed'}); peak RSS "
                  f"{p:.2f}×."]
    plain, dense = summary.get("chainrule (no pandas)"), summary.get("pandas+sklearn")
    if plain and dense:
        lines += ["", "Without pandas (the streaming reader), against the dense "
                  f"pandas+sklearn: time {plain['best_seconds'] / dense['best_seconds']:.2f}"
                  f"×, work memory "
                  f"{plain['lowest_increase_mib'] / dense['lowest_increase_mib']:.2f}×."]
    lines += ["", f"Command: `{meta['command']}`", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "chainrule-bench")
    ap.add_argument("--contenders", default=",".join(CONTENDERS),
                    help="comma-separated, from: " + ", ".join(CONTENDERS))
    ap.add_argument("--out", type=Path, default=RESULTS / "encode_1m")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker, args.csv)
        return
    names = [n.strip() for n in args.contenders.split(",")]
    unknown = [n for n in names if n not in CONTENDERS]
    if unknown or "chainrule" not in names:
        raise SystemExit(f"--contenders: chainrule and some of {CONTENDERS}; got {names}")
    path = csv_path(args.dir, args.rows)
    runs: list[dict] = []
    load_before = os.getloadavg()
    for i in range(args.runs):
        for name in names:
            r = run_one(name, path)
            r["run"] = i + 1
            runs.append(r)
            print(f"run {i + 1} {name:24s} {r['seconds']:7.2f} s  work {r['increase_mib']:7.0f}"
                  f" MiB  peak {r['peak_mib']:7.0f} MiB  {r['rows']:,} × {r['features']}",
                  flush=True)
    rows = {r["rows"] for r in runs}
    assert len(rows) == 1, f"contenders disagree on the row count: {rows}"
    summary = summarize(runs)
    meta = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "rows": args.rows, "runs": args.runs, "file_mib": path.stat().st_size / 2**20,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                   f"Python {platform.python_version()}, load average before "
                   f"{'/'.join(f'{x:.1f}' for x in load_before)}, after "
                   f"{'/'.join(f'{x:.1f}' for x in os.getloadavg())}",
        "command": "python bench/encode_1m.py " + " ".join(argv if argv is not None
                                                            else sys.argv[1:]),
        "versions": _versions(),
    }
    text = markdown(summary, meta)
    print("\n" + text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    _write(args.out.with_suffix(".md"), text)
    _write(args.out.with_suffix(".json"),
           json.dumps({"meta": meta, "summary": summary, "runs": runs}, indent=2) + "\n")


def _versions() -> dict[str, str]:
    out = {"numpy": np.__version__}
    for mod in ("pandas", "pyarrow", "sklearn"):
        try:
            out[mod] = __import__(mod).__version__
        except ImportError:
            out[mod] = "absent"
    return out


def _write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


if __name__ == "__main__":
    main()
