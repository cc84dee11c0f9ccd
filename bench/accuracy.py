"""Test accuracy over many seeds: do two libraries reach the same accuracy on a case?

``bench/compare.py`` reports the median accuracy of its timed repeats (5-7 seeds). On the
small-tabular case (t) one seed's accuracy has a standard deviation of 0.4-0.6 points, so
two medians of 7 differ by more than 0.5 points by chance alone — too coarse for issue 16's
"equal test accuracy (± 0.5 points)". This script trains one contender of each library
over many seeds (untimed, each library in a fresh ``bench/worker.py`` process, ``--jobs``
of them at once) and reports the mean with its standard error, and each library's
difference from chainrule with the standard error of that difference::

    python bench/accuracy.py --case t --seeds 30          # chainrule, JAX, sklearn, PyTorch
    python bench/accuracy.py --case b --seeds 10 --contenders chainrule,sklearn-f32

Contenders of one library compute the same model (chainrule and chainrule-numpy,
jax-jit and jax-scan, PyTorch eager and fused), so the default runs one of each: the
fastest. Writes ``bench/results/accuracy-<case>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT = ["chainrule", "jax-scan", "sklearn-f32", "torch-fused-ftz"]


def accuracies(case: str, contender: str, seeds: int, first: int,
               env: dict[str, str]) -> list[float]:
    cmd = [sys.executable, str(HERE / "worker.py"), case, contender, "--repeats", str(seeds),
           "--first-seed", str(first), "--budget", "1e9"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    if proc.returncode != 0:
        raise SystemExit(f"{contender}: worker failed (exit {proc.returncode}):\n"
                         f"{proc.stderr[-2000:]}")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    return [float(run["accuracy"]) for run in report["runs"]]


def summary(accs: list[float]) -> dict[str, float]:
    mean = statistics.fmean(accs)
    sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
    return {"n": len(accs), "mean": mean, "se": sd / math.sqrt(len(accs)), "sd": sd,
            "median": statistics.median(accs), "min": min(accs), "max": max(accs)}


def table(case: str, rows: dict[str, dict[str, float]], first: int) -> str:
    n = next(iter(rows.values()))["n"]
    lines = [f"Case ({case}), seeds {first}-{first + n - 1}: test accuracy in points (%).", "",
             "| contender | mean ± SE | median | sd of one seed | min–max | chainrule − it "
             "(± SE) |", "|---|---:|---:|---:|---:|---:|"]
    ours = rows.get("chainrule")
    for name, s in rows.items():
        diff = "" if ours is None or name == "chainrule" else (
            f"{100 * (ours['mean'] - s['mean']):+.2f} ± "
            f"{100 * math.hypot(ours['se'], s['se']):.2f}")
        lines.append(f"| {name} | {100 * s['mean']:.2f} ± {100 * s['se']:.2f} | "
                     f"{100 * s['median']:.2f} | {100 * s['sd']:.2f} | "
                     f"{100 * s['min']:.2f}–{100 * s['max']:.2f} | {diff} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--case", default="t", choices=["a", "b", "c", "t"])
    ap.add_argument("--seeds", type=int, default=30)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--contenders", default=",".join(DEFAULT))
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                    help="workers at once, one thread each (default: one per core)")
    ap.add_argument("--out", default=str(HERE / "results"))
    args = ap.parse_args(argv)
    if args.seeds < 2:
        ap.error(f"--seeds: expected at least 2, got {args.seeds}")
    names = [c.strip() for c in args.contenders.split(",") if c.strip()]
    env = dict(os.environ, BENCH_THREADS="1", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
               PYTHONPATH=str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {n: pool.submit(accuracies, args.case, n, args.seeds, args.first_seed, env)
                   for n in names}
        accs = {n: f.result() for n, f in futures.items()}
    rows = {n: summary(a) for n, a in accs.items()}
    md = table(args.case, rows, args.first_seed)
    print(md)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    payload = {"started": stamp, "case": args.case, "first_seed": args.first_seed,
               "accuracies": accs, "summary": rows}
    for path, text in ((out / f"accuracy-{args.case}.json", json.dumps(payload, indent=1)),
                       (out / f"accuracy-{args.case}.md", f"{stamp}\n\n{md}")):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
