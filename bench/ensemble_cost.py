"""What an ensemble and ``--cv`` cost: issue 27's cost bars, measured in fresh processes.

(a) On each ``--table`` (default ``fair``, 6,366 rows × 9 columns, and the small ``penguins``,
344 rows), three ``chainrule train --csv`` runs with the same data and the same epochs
(``--epochs E --early-stopping 0``):

    one       --cv 0                (the recipe's --cv auto off: one network on any table)
    ensemble  --ensemble 8 --cv 0   bar: ≤ 3 × one
    cv        --cv 5                bar: ≤ 2.5 × one

each a fresh ``python -m chainrule`` process, interleaved (round r runs the three in an order
rotated by r), ``--rounds`` rounds (≥ 5); the fastest of each is compared: the process's wall
time, its fit (metrics.json ``train_seconds``) and its CPU seconds (user + system of the child,
steadier than wall time on a loaded machine). Every contender runs with the same thread
settings: one BLAS/OpenMP/numba thread (``ONE_THREAD``, as bench/real_tables.py's chainrule
contender), so "one network" is not flattered by threads the ensemble cannot use the same way.
A flag that ``chainrule train --help`` does not list yet is reported as missing, not measured.

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
import resource
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
# "one" and the ensemble say --cv 0: the table recipe's --cv auto makes a small table's
# default run 5 members (penguins: 344 rows), which is not one network
VARIANTS = {"one": ["--cv", "0"], "ensemble": ["--ensemble", "8", "--cv", "0"],
            "cv": ["--cv", "5"]}
BARS = {"ensemble": 3.0, "cv": 2.5}
JOB_ROWS, JOB_COLUMNS, JOB_BAR = 20_000, 100, 60.0
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "NUMBA_NUM_THREADS": "1"}


def _env(one_thread: bool = True) -> dict[str, str]:
    """The child's environment: this src first on the path and, for the cost runs, one thread
    for every contender (``one_thread``); the default jobs keep the shell's threads."""
    path = os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH", "")) if p)
    return dict(os.environ, **(ONE_THREAD if one_thread else {}), PYTHONPATH=path)


# The child: ``chainrule train`` in-process, with the CPU seconds of the fit itself
# (runs/fitting.py's ``_fit``: Network.fit and nothing around it) written to the file named
# by ENSEMBLE_COST_FIT_CPU; nothing is written if that private name moves (then nan).
CHILD = """
import os, sys, time
import chainrule.runs.fitting as fitting
inner = getattr(fitting, "_fit", None)
if inner is not None:
    def _timed(*args, **kwargs):
        start = time.process_time()
        try:
            return inner(*args, **kwargs)
        finally:
            with open(os.environ["ENSEMBLE_COST_FIT_CPU"], "a") as fh:
                fh.write(f"{time.process_time() - start}\\n")
    fitting._fit = _timed
from chainrule.cli import main
sys.exit(main(sys.argv[1:]))
"""


# The child of --layers: each model's layers timed one by one on a batch of 64 random rows
# (CPU µs, fastest of 5 × 200 calls), forward with dropout on and backward from a random
# ∂C/∂a, then a whole training step's forward + backward; prints one JSON line.
CHILD_LAYERS = """
import json, sys, time
import numpy as np
from chainrule.io.model import load
def fastest(f, calls=200):
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        for _ in range(calls):
            f()
        best = min(best, (time.process_time() - start) / calls)
    return round(best * 1e6, 1)
out = {}
for path in sys.argv[1:]:
    net = load(path)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, net.layers[0].n_in)).astype(net.dtype)
    Y = rng.standard_normal((64, net.layers[-1].n_out)).astype(net.dtype)
    a, rows = X, []
    for layer in net.layers:
        z, a_next, mask = layer.forward(a, training=True, rng=rng)
        grad = rng.standard_normal(a_next.shape).astype(a_next.dtype)
        fwd = fastest(lambda: layer.forward(a, training=True, rng=rng))
        bwd = fastest(lambda: layer.backward(a, z, a_next, grad, mask=mask))
        rows.append([repr(layer).split("(")[0], fwd, bwd])
        a = a_next
    step = fastest(lambda: net.backward(net.forward(X, training=True, rng=rng), Y))
    out[path] = {"layers": rows, "step": step}
print(json.dumps(out))
"""


def layer_costs(table: catalogue.Table) -> dict[str, object]:
    """Where a training step's time goes: one network's and each member variant's layers
    (their models from a one-epoch ``chainrule train``), CPU µs per call, one thread."""
    with tempfile.TemporaryDirectory(prefix="ensemble_layers_") as tmp:
        models = {}
        for name, flags in VARIANTS.items():
            run = Path(tmp) / name
            subprocess.run([sys.executable, "-m", "chainrule", "train", "--csv",
                            str(table.file()), "--target", table.target, "--out", str(run),
                            "--quiet", "--epochs", "1", "--early-stopping", "0", *flags],
                           cwd=tmp, env=_env(), capture_output=True, text=True, check=False)
            if (run / "model.safetensors").exists():
                models[name] = str(run / "model.safetensors")
        done = subprocess.run([sys.executable, "-c", CHILD_LAYERS, *models.values()],
                              env=_env(), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            return {"table": table.name, "error": done.stderr.strip().splitlines()[-1:]}
        timed = json.loads(done.stdout.strip().splitlines()[-1])
    return {"table": table.name, **{name: timed[path] for name, path in models.items()}}


def layer_table(costs: dict[str, object]) -> list[str]:
    """Markdown: each layer's forward and backward µs per variant and × one."""
    names = [n for n in VARIANTS if n in costs]
    if "one" not in names:
        return [f"\n{costs['table']}: no layer timings ({costs.get('error')})"]
    lines = [f"## Where a step's time goes: {costs['table']} (batch 64, CPU µs per call, "
             "fastest of 5 × 200, one thread)\n",
             "| layer | " + " | ".join(f"{n} fwd | {n} bwd" for n in names) + " |",
             "|---|" + "---|---|" * len(names)]
    one = costs["one"]["layers"]  # type: ignore[index]
    for i, (kind, _, _) in enumerate(one):
        cells = []
        for n in names:
            _, fwd, bwd = costs[n]["layers"][i]  # type: ignore[index]
            cells.append(f"{fwd} | {bwd}" if n == "one" else
                         f"{fwd} ({fwd / max(one[i][1], 0.1):.1f}×) | "
                         f"{bwd} ({bwd / max(one[i][2], 0.1):.1f}×)")
        lines.append(f"| {kind} | {' | '.join(cells)} |")
    steps = [f"{n} {costs[n]['step']} µs" for n in names]  # type: ignore[index]
    lines.append(f"\nwhole step (forward + backward, no update): {', '.join(steps)}. A layer "
                 "timed alone reuses a cache-warm input, so the layers can sum to less than "
                 "the step; cProfile of the step puts all its time inside the layers.")
    return lines


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_train(csv: Path, target: str, flags: list[str], one_thread: bool = True,
                ) -> tuple[float, float, float, float, int, str]:
    """One fresh ``chainrule train`` process: its wall seconds, the fit's own seconds
    (metrics.json's ``train_seconds``; nan when absent), its CPU seconds, the fit's CPU
    seconds (:data:`CHILD`; nan when not measured), its exit status and last line."""
    with tempfile.TemporaryDirectory(prefix="ensemble_cost_") as tmp:
        run = Path(tmp) / "run"
        fit_cpu_file = Path(tmp) / "fit_cpu.txt"
        command = [sys.executable, "-c", CHILD, "train", "--csv", str(csv),
                   "--target", target, "--out", str(run), "--quiet", *flags]
        env = dict(_env(one_thread), ENSEMBLE_COST_FIT_CPU=str(fit_cpu_file))
        cpu, start = _child_cpu(), time.perf_counter()
        done = subprocess.run(command, cwd=tmp, env=env, capture_output=True,
                              text=True, check=False)
        seconds, cpu = time.perf_counter() - start, _child_cpu() - cpu
        try:
            fit_cpu = sum(float(v) for v in fit_cpu_file.read_text().split())
        except (OSError, ValueError):
            fit_cpu = float("nan")
        try:
            fit = float(json.loads((run / "metrics.json").read_text())["train_seconds"])
        except (OSError, ValueError, KeyError, TypeError):
            fit = float("nan")
    lines = (done.stdout + done.stderr).strip().splitlines()
    return seconds, fit, cpu, fit_cpu, done.returncode, lines[-1][:200] if lines else ""


def available(flag: str) -> bool:
    done = subprocess.run([sys.executable, "-m", "chainrule", "train", "--help"], env=_env(),
                          capture_output=True, text=True, check=False)
    return flag in done.stdout


def cost(table: catalogue.Table, epochs: int, rounds: int) -> dict[str, object]:
    """Interleaved rounds of the three variants; the fastest of each and the ratios (of the
    process's wall time, of the fit and of the process's CPU seconds)."""
    names = [n for n in VARIANTS if n == "one" or available(VARIANTS[n][0])]
    missing = [n for n in VARIANTS if n not in names]
    common = ["--epochs", str(epochs), "--early-stopping", "0"]
    measured: dict[str, dict[str, list[float]]] = {
        kind: {n: [] for n in names} for kind in ("times", "fits", "cpus", "fit_cpus")}
    errors: dict[str, str] = {}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            seconds, fit, cpu, fit_cpu, code, last = timed_train(
                table.file(), table.target, common + VARIANTS[name])
            if code != 0:
                errors[name] = f"exit {code}: {last}"
                continue
            for kind, value in zip(("times", "fits", "cpus", "fit_cpus"),
                                   (seconds, fit, cpu, fit_cpu), strict=True):
                measured[kind][name].append(round(value, 3))
            print(f"{table.name} round {r} {name:9s} {seconds:7.2f} s (fit {fit:.2f} s, "
                  f"cpu {cpu:.2f} s, fit cpu {fit_cpu:.2f} s)", flush=True)
    result: dict[str, object] = {"table": table.name, "epochs": epochs, "rounds": rounds,
                                 "threads": ONE_THREAD, "missing": missing, "errors": errors,
                                 **measured}
    for kind, key, ratio_key in (("times", "fastest", "ratios"),
                                 ("fits", "fastest_fit", "fit_ratios"),
                                 ("cpus", "fastest_cpu", "cpu_ratios"),
                                 ("fit_cpus", "fastest_fit_cpu", "fit_cpu_ratios")):
        best = {n: min(t) for n, t in measured[kind].items() if t}
        result[key] = best
        result[ratio_key] = {n: best[n] / best["one"] for n in best
                             if n != "one" and "one" in best}
    return result


def jobs(write: bool) -> list[dict[str, object]]:
    """The default job's wall time on every benchmark table within 20,000 × 100 (with
    ``write``, bench/results/ensemble_cost-jobs.json after every table)."""
    out: list[dict[str, object]] = []
    for table in catalogue.TABLES:
        data = catalogue.read(table)
        rows, columns = len(data.frame), data.frame.shape[1]
        if rows > JOB_ROWS or columns > JOB_COLUMNS:
            continue
        seconds, _, _, _, code, last = timed_train(table.file(), table.target, [],
                                                   one_thread=False)
        out.append({"table": table.name, "rows": rows, "columns": columns,
                    "seconds": round(seconds, 2), "exit": code,
                    "error": last if code else ""})
        print(f"job {table.name:16s} {rows:6d} × {columns:3d} {seconds:7.1f} s exit {code}",
              flush=True)
        if write:
            (RESULTS / "ensemble_cost-jobs.json").write_text(json.dumps(
                {"chainrule_src": str(SRC), "jobs": out}, indent=1))
    return out


def cost_table(result: dict[str, object]) -> list[str]:
    """One table's markdown rows: each variant's fastest process wall, fit wall, process CPU
    and fit CPU seconds with their ratios to one network, and the bar read on the two CPU
    ratios (wall times on a shared, loaded machine measure its queue as much as the fit)."""
    kinds = (("process", "fastest", "ratios"), ("fit", "fastest_fit", "fit_ratios"),
             ("CPU", "fastest_cpu", "cpu_ratios"), ("fit CPU", "fastest_fit_cpu",
                                                    "fit_cpu_ratios"))
    best: dict[str, dict[str, float]] = {k: result[f] for k, f, _ in kinds}  # type: ignore[misc]
    ratio: dict[str, dict[str, float]] = {k: result[r] for k, _, r in kinds}  # type: ignore[misc]
    lines = [f"## {result['table']} ({result['epochs']} epochs, fastest of "
             f"{result['rounds']} interleaved fresh-process runs)\n",
             "| run | flags | " + " | ".join(f"{k} (s) | × one" for k, _, _ in kinds)
             + " | bar: process CPU, fit CPU |", "|---|---|" + "---|---|" * len(kinds) + "---|"]
    for name, flags in VARIANTS.items():
        if name not in best["process"]:
            continue
        cells = [f"{best[k].get(name, float('nan')):.2f} | "
                 + ("1" if name == "one" else f"{ratio[k].get(name, float('nan')):.2f}")
                 for k, _, _ in kinds]
        verdict = "–"
        if name in BARS:
            verdict = f"≤ {BARS[name]}: " + ", ".join(
                "met" if ratio[k].get(name, float("inf")) <= BARS[name] else "**not met**"
                for k in ("CPU", "fit CPU"))
        lines.append(f"| {name} | `{' '.join(flags) or '–'}` | {' | '.join(cells)} | "
                     f"{verdict} |")
    for name in result["missing"]:  # type: ignore[attr-defined]
        lines.append(f"| {name} | `{' '.join(VARIANTS[name])}` | not measured: "
                     "`chainrule train` has no such flag yet |" + " – |" * (2 * len(kinds)))
    for name, error in result["errors"].items():  # type: ignore[attr-defined]
        lines.append(f"\n{name} failed in some rounds: {error}")
    return lines


def markdown(results: list[dict[str, object]],
             job_times: list[dict[str, object]] | None) -> str:
    threads = " ".join(f"{k}={v}" for k, v in ONE_THREAD.items())
    lines = ["# Ensemble and --cv cost\n",
             "Process: the whole `chainrule train` process's wall time; fit: its metrics.json "
             "`train_seconds` (the training loop's wall time); CPU: the process's user + "
             "system seconds; fit CPU: the CPU seconds of Network.fit alone (runs/fitting.py "
             "`_fit`). Every run: "
             f"{threads} (the same threads for every contender).\n"]
    for result in results:
        lines += cost_table(result) + [""]
    if job_times is not None:
        slow = [j for j in job_times if j["exit"] or j["seconds"] > JOB_BAR]  # type: ignore
        lines += [f"\n## Default CSV jobs (≤ {JOB_ROWS:,} rows × ≤ {JOB_COLUMNS} columns; "
                  f"bar ≤ {JOB_BAR:.0f} s; the shell's threads)\n",
                  "| table | rows × cols | seconds | exit |", "|---|---|---|---|"]
        lines += [f"| {j['table']} | {j['rows']:,} × {j['columns']} | {j['seconds']} | "
                  f"{j['exit']} {j['error']} |" for j in job_times]
        worst = max(job_times, key=lambda j: j["seconds"])  # type: ignore
        lines.append(f"\nslowest: {worst['table']} {worst['seconds']} s; over the bar or "
                     f"failed: {', '.join(str(j['table']) for j in slow) or 'none'}.")
    lines.append(f"\nchainrule from {SRC}; {os.cpu_count()} CPUs, Python "
                 f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f}, "
                 f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--table", nargs="+", default=["fair", "penguins"],
                        choices=[t.name for t in catalogue.TABLES])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5,
                        help="interleaved rounds (≥ 5; 0 with --layers: the layers alone)")
    parser.add_argument("--jobs", action="store_true", help="also time the default jobs")
    parser.add_argument("--jobs-only", action="store_true",
                        help="time the default jobs only (bench/results/ensemble_cost-jobs.json)")
    parser.add_argument("--chainrule-src", type=Path, default=SRC, metavar="DIR",
                        help="the src folder whose chainrule runs (a git archive of one "
                             "commit is safe from edits made while this runs)")
    parser.add_argument("--layers", action="store_true",
                        help="also time each layer's forward and backward (one vs members)")
    parser.add_argument("--tag", default="", help="write ensemble_cost-TAG.md/.json instead")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    globals()["SRC"] = args.chainrule_src.resolve()
    if args.jobs_only:
        jobs(write=not args.no_write)
        return 0
    results = [cost(next(t for t in catalogue.TABLES if t.name == name), args.epochs,
                    args.rounds) for name in args.table]
    job_times = jobs(write=False) if args.jobs else None
    text = markdown(results, job_times)
    costs = [layer_costs(next(t for t in catalogue.TABLES if t.name == name))
             for name in args.table] if args.layers else None
    if costs is not None:
        text += "\n" + "\n".join(line for c in costs for line in layer_table(c)) + "\n"
    print(text)
    if not args.no_write:
        RESULTS.mkdir(exist_ok=True)
        stem = "ensemble_cost" + (f"-{args.tag}" if args.tag else "")
        (RESULTS / f"{stem}.md").write_text(text)
        (RESULTS / f"{stem}.json").write_text(
            json.dumps({"cost": results, "jobs": job_times, "layers": costs}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
