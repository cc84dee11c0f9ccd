"""What an ensemble and ``--cv`` cost: issue 27's cost bars, measured in fresh processes.

(a) On one mid-size table (default ``fair``: 6,366 rows × 9 columns, a benchmark table),
three ``chainrule train --csv`` runs with the same data and the same epochs
(``--epochs E --early-stopping 0``):

    one       no more flags
    ensemble  --ensemble 8          bar: ≤ 3 × one
    cv        --cv 5                bar: ≤ 2.5 × one

each a fresh ``python -m chainrule`` process, interleaved (round r runs the three in an order
rotated by r), ``--rounds`` rounds (≥ 5); the fastest wall time of each is compared. A flag
that ``chainrule train --help`` does not list yet is reported as missing, not measured.

(b) ``--jobs``: the wall time of the default job (``chainrule train --csv FILE --target T``,
no other flag) on every benchmark table of at most 20,000 rows and 100 columns, one fresh
process each, the machine's default threads (bar: ≤ 60 s each).

    python bench/ensemble_cost.py                  # (a), 5 rounds
    python bench/ensemble_cost.py --jobs           # (a) and (b)

Writes bench/results/ensemble_cost.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from table_bench import catalogue  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
RESULTS = REPO / "bench" / "results"
VARIANTS = {"one": [], "ensemble": ["--ensemble", "8"], "cv": ["--cv", "5"]}
BARS = {"ensemble": 3.0, "cv": 2.5}
JOB_ROWS, JOB_COLUMNS, JOB_BAR = 20_000, 100, 60.0


def _env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH", "")) if p)
    return dict(os.environ, PYTHONPATH=path)


def timed_train(csv: Path, target: str, flags: list[str]) -> tuple[float, float, int, str]:
    """One fresh ``chainrule train`` process: its wall seconds, the fit's own seconds
    (metrics.json's ``train_seconds``; nan when absent), its exit status and last line."""
    with tempfile.TemporaryDirectory(prefix="ensemble_cost_") as tmp:
        run = Path(tmp) / "run"
        command = [sys.executable, "-m", "chainrule", "train", "--csv", str(csv),
                   "--target", target, "--out", str(run), "--quiet", *flags]
        start = time.perf_counter()
        done = subprocess.run(command, cwd=tmp, env=_env(), capture_output=True, text=True,
                              check=False)
        seconds = time.perf_counter() - start
        try:
            fit = float(json.loads((run / "metrics.json").read_text())["train_seconds"])
        except (OSError, ValueError, KeyError, TypeError):
            fit = float("nan")
    lines = (done.stdout + done.stderr).strip().splitlines()
    return seconds, fit, done.returncode, lines[-1][:200] if lines else ""


def available(flag: str) -> bool:
    done = subprocess.run([sys.executable, "-m", "chainrule", "train", "--help"], env=_env(),
                          capture_output=True, text=True, check=False)
    return flag in done.stdout


def cost(table: catalogue.Table, epochs: int, rounds: int) -> dict[str, object]:
    """Interleaved rounds of the three variants; the fastest of each and the ratios."""
    names = [n for n in VARIANTS if n == "one" or available(VARIANTS[n][0])]
    missing = [n for n in VARIANTS if n not in names]
    common = ["--epochs", str(epochs), "--early-stopping", "0"]
    times: dict[str, list[float]] = {n: [] for n in names}
    fits: dict[str, list[float]] = {n: [] for n in names}
    errors: dict[str, str] = {}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            seconds, fit, code, last = timed_train(table.file(), table.target,
                                                   common + VARIANTS[name])
            if code != 0:
                errors[name] = f"exit {code}: {last}"
                continue
            times[name].append(round(seconds, 3))
            fits[name].append(round(fit, 3))
            print(f"round {r} {name:9s} {seconds:7.2f} s (fit {fit:.2f} s)", flush=True)
    fastest = {n: min(t) for n, t in times.items() if t}
    fastest_fit = {n: min(t) for n, t in fits.items() if t}
    ratios = {n: fastest[n] / fastest["one"] for n in fastest if n != "one" and "one" in fastest}
    fit_ratios = {n: fastest_fit[n] / fastest_fit["one"] for n in fastest_fit
                  if n != "one" and "one" in fastest_fit}
    return {"table": table.name, "epochs": epochs, "rounds": rounds, "times": times,
            "fits": fits, "fastest": fastest, "ratios": ratios, "fastest_fit": fastest_fit,
            "fit_ratios": fit_ratios, "missing": missing, "errors": errors}


def jobs(write: bool) -> list[dict[str, object]]:
    """The default job's wall time on every benchmark table within 20,000 × 100 (with
    ``write``, bench/results/ensemble_cost-jobs.json after every table)."""
    out: list[dict[str, object]] = []
    for table in catalogue.TABLES:
        data = catalogue.read(table)
        rows, columns = len(data.frame), data.frame.shape[1]
        if rows > JOB_ROWS or columns > JOB_COLUMNS:
            continue
        seconds, _, code, last = timed_train(table.file(), table.target, [])
        out.append({"table": table.name, "rows": rows, "columns": columns,
                    "seconds": round(seconds, 2), "exit": code,
                    "error": last if code else ""})
        print(f"job {table.name:16s} {rows:6d} × {columns:3d} {seconds:7.1f} s exit {code}",
              flush=True)
        if write:
            (RESULTS / "ensemble_cost-jobs.json").write_text(json.dumps(
                {"chainrule_src": str(SRC), "jobs": out}, indent=1))
    return out


def markdown(result: dict[str, object], job_times: list[dict[str, object]] | None) -> str:
    fastest, ratios = result["fastest"], result["ratios"]
    fit, fit_ratios = result.get("fastest_fit", {}), result.get("fit_ratios", {})
    assert isinstance(fastest, dict) and isinstance(ratios, dict)
    assert isinstance(fit, dict) and isinstance(fit_ratios, dict)
    lines = [f"# Ensemble and --cv cost on {result['table']} ({result['epochs']} epochs, "
             f"fastest of {result['rounds']} interleaved fresh-process runs)\n",
             "Process: the whole `chainrule train` process's wall time; fit: its "
             "metrics.json `train_seconds` (the training loop alone).\n",
             "| run | flags | process (s) | × one | fit (s) | × one | bar |",
             "|---|---|---|---|---|---|---|"]
    for name, flags in VARIANTS.items():
        if name in fastest:
            ratio = "1" if name == "one" else f"{ratios[name]:.2f}"
            f_ratio = "1" if name == "one" else f"{fit_ratios.get(name, float('nan')):.2f}"
            bar = f"≤ {BARS[name]}" if name in BARS else "–"
            worst = max(ratios.get(name, 0.0), fit_ratios.get(name, 0.0))
            ok = "" if name not in BARS else (" (met)" if worst <= BARS[name]
                                              else " (**not met**)")
            lines.append(f"| {name} | `{' '.join(flags) or '–'}` | {fastest[name]:.2f} | "
                         f"{ratio} | {fit.get(name, float('nan')):.2f} | {f_ratio} | "
                         f"{bar}{ok} |")
    for name in result["missing"]:  # type: ignore[attr-defined]
        lines.append(f"| {name} | `{' '.join(VARIANTS[name])}` | not measured: "
                     "`chainrule train` has no such flag yet | – | – | – | – |")
    for name, error in result["errors"].items():  # type: ignore[attr-defined]
        lines.append(f"\n{name} failed in some rounds: {error}")
    if job_times is not None:
        slow = [j for j in job_times if j["exit"] or j["seconds"] > JOB_BAR]  # type: ignore
        lines += [f"\n## Default CSV jobs (≤ {JOB_ROWS:,} rows × ≤ {JOB_COLUMNS} columns; "
                  f"bar ≤ {JOB_BAR:.0f} s)\n", "| table | rows × cols | seconds | exit |",
                  "|---|---|---|---|"]
        lines += [f"| {j['table']} | {j['rows']:,} × {j['columns']} | {j['seconds']} | "
                  f"{j['exit']} {j['error']} |" for j in job_times]
        worst = max(job_times, key=lambda j: j["seconds"])  # type: ignore
        lines.append(f"\nslowest: {worst['table']} {worst['seconds']} s; over the bar or "
                     f"failed: {', '.join(str(j['table']) for j in slow) or 'none'}.")
    lines.append(f"\nchainrule from {SRC}; {os.cpu_count()} CPUs, Python "
                 f"{platform.python_version()}, "
                 f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--table", default="fair", choices=[t.name for t in catalogue.TABLES])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (≥ 5)")
    parser.add_argument("--jobs", action="store_true", help="also time the default jobs")
    parser.add_argument("--jobs-only", action="store_true",
                        help="time the default jobs only (bench/results/ensemble_cost-jobs.json)")
    parser.add_argument("--chainrule-src", type=Path, default=SRC, metavar="DIR",
                        help="the src folder whose chainrule runs (a git archive of one "
                             "commit is safe from edits made while this runs)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    globals()["SRC"] = args.chainrule_src.resolve()
    table = next(t for t in catalogue.TABLES if t.name == args.table)
    if args.jobs_only:
        jobs(write=not args.no_write)
        return 0
    result = cost(table, args.epochs, args.rounds)
    job_times = jobs(write=False) if args.jobs else None
    text = markdown(result, job_times)
    print(text)
    if not args.no_write:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "ensemble_cost.md").write_text(text)
        (RESULTS / "ensemble_cost.json").write_text(
            json.dumps({"cost": result, "jobs": job_times}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
