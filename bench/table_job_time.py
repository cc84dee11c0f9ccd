"""Time the default table job, ``chainrule train --csv F --target T``, before and after a
change: issue 27's bar is "every default CSV job of ≤ 20,000 rows × ≤ 100 columns trains in
≤ 60 s on this 2-core machine".

The job is a user's default one on fold 0's training rows of each benchmark table
(written as the file wrote them; ``--task`` given, as ``bench/real_tables.py`` gives it),
in a fresh ``python -m chainrule`` process with one BLAS thread (``--user-threads``: as
many as a user's shell gives), on every table whose training CSV has at most 20,000 rows
and 100 columns: it splits off its test rows and writes the report, the column
importance and the test plot. ``--harness`` times the job
``real_tables.py`` times instead (``--test-split 0``: no test report).

Two sources of chainrule run it, each a frozen copy of ``src`` (``git archive COMMIT
src``, or a directory you froze), interleaved — before, after, then after, before, … — so
a change in the machine's load falls on both; the fastest of ``--repeats`` runs
(``--small-repeats`` on tables under 1,500 rows) is kept. Beside the whole job's wall
time, the fit's own seconds (``train_seconds`` of metrics.json, measured inside the
process) show how much of the job is training.

Each source's compiled step is warmed first (``python -m chainrule.training.compiled``,
outside the clock): numba compiles it once per machine and source, and a job would
otherwise pay that once.

    python bench/table_job_time.py --before 2e38c4a --after HEAD
    python bench/table_job_time.py --before 2e38c4a --after /tmp/h6_src/src --only msleep

Writes bench/results/table_job_time[-TAG].{json,md} unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from table_bench import catalogue  # noqa: E402

ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
MAX_ROWS, MAX_COLUMNS, SMALL = 20_000, 100, 1_500
BAR_SECONDS = 60.0


def frozen_src(spec: str, work: Path, name: str) -> tuple[Path, str]:
    """A directory holding ``chainrule``: ``spec`` itself if it is one, else the ``src``
    of commit ``spec`` unpacked under ``work``. Returns (path, what it is)."""
    path = Path(spec)
    if (path / "chainrule").is_dir():
        return path.resolve(), f"directory {path.resolve()}"
    commit = subprocess.run(["git", "rev-parse", "--short", spec], cwd=REPO, check=True,
                            capture_output=True, text=True).stdout.strip()
    out = work / name
    out.mkdir()
    archive = subprocess.run(["git", "archive", commit, "src"], cwd=REPO, check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return out / "src", f"commit {commit}"


#: Set by ``--user-threads``: the jobs run with the BLAS threads a user's shell gives
#: (the thread variables unset), not one.
USER_THREADS = False


def env_for(src: Path) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(src))
    if USER_THREADS:
        for name in (*ONE_THREAD, "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
            env.pop(name, None)
        return env
    return dict(env, **ONE_THREAD)


def warm(src: Path) -> str:
    done = subprocess.run([sys.executable, "-m", "chainrule.training.compiled"],
                          env=env_for(src), capture_output=True, text=True, check=False)
    return (done.stdout + done.stderr).strip().replace("\n", "; ")[-200:]


def job(src: Path, csv: Path, table: catalogue.Table, work: Path, extra: list[str]
        ) -> dict[str, Any]:
    """One fresh ``train`` process: its wall time, and the fit's seconds and epochs."""
    out = work / "run"
    subprocess.run(["rm", "-rf", str(out)], check=True)
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "chainrule", "train", "--csv", str(csv),
                           "--target", table.target, "--task", table.task, "--out",
                           str(out), "--quiet", *extra],
                          env=env_for(src), cwd=work, capture_output=True, text=True,
                          check=False)
    seconds = time.perf_counter() - start
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_seconds = used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-1:]
        return {"seconds": seconds, "error": tail[0][:300] if tail else "no output"}
    metrics = json.loads((out / "metrics.json").read_text())
    return {"seconds": seconds, "cpu_seconds": cpu_seconds,
            "train_seconds": metrics.get("train_seconds"),
            "epochs": metrics.get("epochs_run")}


def tables(only: list[str] | None, work: Path) -> list[tuple[catalogue.Table, Path, int, int]]:
    """(table, its fold-0 training CSV, rows, feature columns) within the bar's sizes."""
    chosen = []
    for table in catalogue.TABLES:
        if only and table.name not in only:
            continue
        data = catalogue.read(table)
        train, _ = data.folds[0]
        columns = data.frame.shape[1] - 1
        if len(train) > MAX_ROWS or columns > MAX_COLUMNS:
            continue
        csv = work / f"{table.name}.csv"
        data.write_rows(train, csv)
        chosen.append((table, csv, len(train), columns))
    return chosen


def fastest(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None and "error" not in r]
    return min(values) if values else None


def load_average() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def run(args: argparse.Namespace, save: Any = None) -> dict[str, Any]:
    """Every table, before and after; ``save(result)`` (if given) after each table, so an
    interrupted run leaves the tables it finished."""
    with tempfile.TemporaryDirectory(prefix="table_job_time_") as tmp:
        work = Path(tmp)
        before, before_is = frozen_src(args.before, work, "before")
        after, after_is = frozen_src(args.after, work, "after")
        sources = {"before": before, "after": after}
        warmed = {name: warm(src) for name, src in sources.items()}
        chosen = tables(args.only.split(",") if args.only else None, work)
        extra = ["--test-split", "0"] if args.harness else []
        started, load_start = datetime.now(timezone.utc), load_average()
        rows = []
        for table, csv, n_rows, n_cols in chosen:
            repeats = args.small_repeats if n_rows < SMALL else args.repeats
            runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
            for rep in range(repeats):
                order = ("before", "after") if rep % 2 == 0 else ("after", "before")
                for name in order:
                    runs[name].append(job(sources[name], csv, table, work, extra))
            row = {"table": table.name, "rows": n_rows, "columns": n_cols,
                   "repeats": repeats, "runs": runs}
            for name in sources:
                row[f"{name}_s"] = fastest(runs[name], "seconds")
                row[f"{name}_cpu_s"] = fastest(runs[name], "cpu_seconds")
                row[f"{name}_fit_s"] = fastest(runs[name], "train_seconds")
            b, a = row["before_s"], row["after_s"]
            row["ratio"] = a / b if a and b else None
            cb, ca = row["before_cpu_s"], row["after_cpu_s"]
            row["cpu_ratio"] = ca / cb if ca and cb else None
            rows.append(row)
            if save is not None:
                save(summary(before_is, after_is, warmed, extra, started, load_start, rows))
            print(f"{table.name:16s} {n_rows:6d} rows  before {b or float('nan'):7.2f} s  "
                  f"after {a or float('nan'):7.2f} s  cpu {cb} → {ca} s  fit "
                  f"{row['before_fit_s']} → {row['after_fit_s']} s", flush=True)
        return summary(before_is, after_is, warmed, extra, started, load_start, rows)


def summary(before_is: str, after_is: str, warmed: dict[str, str], extra: list[str],
            started: datetime, load_start: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"before": before_is, "after": after_is, "warm_up": warmed,
            "job": "chainrule train --csv F --target T --task TASK --quiet " + " ".join(extra),
            "blas_threads": "the default (variables unset)" if USER_THREADS else "1",
            "started": started.isoformat(timespec="seconds"),
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "load_average": {"start": load_start, "end": load_average()},
            "machine": f"{platform.node()}, {os.cpu_count()} CPUs", "rows": rows}


def markdown(result: dict[str, Any]) -> str:
    rows = result["rows"]
    lines = ["# The default table job's time, before and after", "",
             f"before: {result['before']}; after: {result['after']}. Fold 0's training rows "
             "of every benchmark table of at most 20,000 rows × 100 columns, "
             f"`{result['job'].strip()}` in a fresh process, BLAS threads: "
             f"{result['blas_threads']}; before and "
             "after interleaved, the fastest of the runs kept (seconds). `fit` is "
             "metrics.json's `train_seconds` (the fit alone, inside the process); CPU is the "
             "job's user + system seconds (steadier than wall time on a loaded machine).", "",
             f"Measured {result['started']} to {result['finished']} UTC on "
             f"{result['machine']}; load average (1, 5, 15 min) "
             f"{result['load_average']['start']} at the start, "
             f"{result['load_average']['end']} at the end.", "",
             "| table | rows × cols | runs | job before | job after | after / before | "
             "CPU before | CPU after | CPU after / before | fit before | fit after |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        def cell(v: float | None) -> str:
            return "–" if v is None else f"{v:.2f}"
        lines.append(f"| {r['table']} | {r['rows']:,} × {r['columns']} | {r['repeats']} | "
                     f"{cell(r['before_s'])} | {cell(r['after_s'])} | {cell(r['ratio'])} | "
                     f"{cell(r['before_cpu_s'])} | {cell(r['after_cpu_s'])} | "
                     f"{cell(r['cpu_ratio'])} | "
                     f"{cell(r['before_fit_s'])} | {cell(r['after_fit_s'])} |")
    done = [r for r in rows if r["before_s"] and r["after_s"]]
    if done:
        b = sum(r["before_s"] for r in done)
        a = sum(r["after_s"] for r in done)
        cb = sum(r["before_cpu_s"] or 0 for r in done)
        ca = sum(r["after_cpu_s"] or 0 for r in done)
        lines.append(f"| **sum** | | | {b:.2f} | {a:.2f} | {a / b:.2f} | {cb:.2f} | "
                     f"{ca:.2f} | {ca / cb if cb else float('nan'):.2f} | | |")
    over = [r["table"] for r in rows if (r["after_s"] or 0) > BAR_SECONDS]
    lines += ["", f"Over {BAR_SECONDS:.0f} s after: {', '.join(over) if over else 'none'}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, help="a commit, or a src directory")
    parser.add_argument("--after", default="HEAD", help="a commit, or a src directory")
    parser.add_argument("--only", help="comma-separated table names")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--small-repeats", type=int, default=5)
    parser.add_argument("--harness", action="store_true",
                        help="the job real_tables.py times (--test-split 0)")
    parser.add_argument("--user-threads", action="store_true",
                        help="leave the BLAS thread variables unset, as a user's shell does")
    parser.add_argument("--tag", help="results under table_job_time-TAG.*")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    global USER_THREADS
    USER_THREADS = args.user_threads
    stem = HERE / "results" / ("table_job_time" + (f"-{args.tag}" if args.tag else ""))

    def save(result: dict[str, Any]) -> None:
        stem.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
        stem.with_suffix(".md").write_text(markdown(result))

    result = run(args, None if args.no_write else save)
    print(markdown(result))
    if not args.no_write:
        save(result)


if __name__ == "__main__":
    main()
