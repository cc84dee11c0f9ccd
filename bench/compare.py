"""Side-by-side benchmark: chainrule vs scikit-learn's MLPClassifier and PyTorch on the CPU.

Usage::

    python bench/compare.py                 # full run (a)-(e), 3 repeats, ~8 minutes on 2 cores
    python bench/compare.py --quick         # smoke run: 1 epoch, 1 repeat
    python bench/compare.py --repeats 5 --cases a,d

Every repeat of every contender runs in its own fresh process (``bench/worker.py``), so
peak resident memory is per contender; repeats go round-robin (repeat 1 of everyone,
then repeat 2, …) so that load changes on a shared machine hit all contenders alike;
all get the same thread count (every core). Cases:

(a) MNIST 784-256-128-10, ReLU, softmax + cross-entropy, Adam 1e-3, batch 128, 5 epochs
(b) 64-32-10 on 60,000 random samples, batch 32, 3 epochs (per-step overhead)
(c) 784-1024-1024-10, batch 1024, 2 epochs (matrix multiplication)
(d) float32 matmul GFLOP/s at each layer's GEMM shapes and at 4096³ (the machine's limit)
(e) accuracy race: training seconds until MNIST test accuracy first reaches 98.0 %
(t) small tabular 12-64-64-3 on 2,000 rows, batch 32, 200 epochs (per-step overhead)

JAX (``jax-jit``: one jitted step per batch; ``jax-scan``: a whole epoch in one jitted
``lax.scan``) is compiled outside the clock — a warm-up call on every batch shape before
timing — just as chainrule's compiled step is loaded (or compiled) from numba's cache
before the clock starts and PyTorch is imported before it. ``chainrule-numpy`` is
chainrule with the compiled step off (CHAINRULE_COMPILED=0), the plain NumPy path.
Headline numbers are the fastest of the interleaved repeats (noise on a shared machine
only adds time); medians are shown too.

Writes ``bench/results/compare-<UTC time>.json`` and ``.md`` (and ``latest.*``), prints
the markdown table and chainrule's ratio to every peer.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from worker import CASES  # noqa: E402

CONTENDERS = {
    "a": ["chainrule", "chainrule-numpy", "jax-jit", "jax-scan", "sklearn-f32", "sklearn-f64",
          "torch-eager", "torch-fused-ftz"],
    "b": ["chainrule", "chainrule-numpy", "jax-jit", "jax-scan", "sklearn-f32", "sklearn-f64",
          "torch-eager", "torch-fused-ftz"],
    "c": ["chainrule", "jax-jit", "jax-scan", "sklearn-f32", "torch-eager", "torch-fused-ftz"],
    "t": ["chainrule", "chainrule-numpy", "jax-jit", "jax-scan", "sklearn-f32", "sklearn-f64",
          "torch-eager", "torch-fused-ftz"],
}
# (e): each library with its best settings found here. chainrule: batch 256, Adam with a
# cosine-decayed learning rate from 3e-3. PyTorch: the same recipe, and the issue's Adam 1e-3
# batch 128 — the faster of the two is its entry.
RACE = {
    "chainrule": {"sizes": [784, 256, 128, 10], "batch": 256, "lr": 3e-3,
                  "schedule": "cosine", "epochs": 8, "target": 0.98},
    "torch-fused-ftz": {"sizes": [784, 256, 128, 10], "batch": 256, "lr": 3e-3,
                        "schedule": "cosine", "epochs": 8, "target": 0.98},
    "torch-fused-ftz (lr 1e-3, batch 128)": {"sizes": [784, 256, 128, 10], "batch": 128,
                                              "lr": 1e-3, "epochs": 20, "target": 0.98},
    "jax-jit": {"sizes": [784, 256, 128, 10], "batch": 256, "lr": 3e-3, "schedule": "cosine",
                "epochs": 8, "target": 0.98},
}


def run_worker(args: list[str], env: dict[str, str], timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, str(HERE / args[0]), *args[1:]]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout,
                          cwd=REPO)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def round_robin(case: str, names: list[str], repeats: int, quick: list[str],
                env: dict[str, str], recipes: dict[str, dict] | None = None,
                budget: float = 120.0) -> dict[str, dict[str, Any]]:
    """Run repeat 1 of every contender, then repeat 2 of every contender, …, each in a
    fresh process, so that a change in machine load hits all contenders alike. Merges
    the runs per contender; peak RSS is the largest of its processes. A contender whose
    runs have used up ``budget`` seconds is not repeated further."""
    merged: dict[str, dict[str, Any]] = {}
    for i in range(repeats):
        for name in names:
            spent = sum(r.get("seconds") or 0 for r in merged.get(name, {}).get("runs", []))
            if spent > budget:
                continue
            contender = name.split(" ")[0]
            extra = ["--recipe", json.dumps(recipes[name])] if recipes else []
            print(f"({case}) {name}, repeat {i + 1}/{repeats} …", flush=True)
            rep = run_worker(["worker.py", case, contender, "--repeats", "1", "--first-seed",
                              str(i), *extra, *quick], env, timeout=1800)
            secs = rep["runs"][0]["seconds"]
            print(f"    {fmt(secs)} s  acc {rep['runs'][0]['accuracy']:.4f}", flush=True)
            if name not in merged:
                merged[name] = rep
            else:
                merged[name]["runs"] += rep["runs"]
                merged[name]["peak_rss_mb"] = max(merged[name]["peak_rss_mb"],
                                                  rep["peak_rss_mb"])
    return merged


def summarize(runs: list[dict[str, Any]], key: str = "seconds") -> dict[str, Any]:
    vals = [r[key] for r in runs if r.get(key) is not None]
    if not vals:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals),
            "n": len(vals)}


def blas_of(pools: list[dict[str, Any]]) -> str:
    parts = []
    for p in pools:
        if p["user_api"] == "blas":
            where = "numpy" if "scipy_openblas64_" in p.get("file", "") else (
                "scipy" if "openblas" in p.get("file", "") else "")
            parts.append(f"{p['internal_api']} {p.get('version') or ''} "
                         f"{p.get('architecture') or ''} ×{p['num_threads']}"
                         f"{f' ({where})' if where else ''}".replace("  ", " "))
        else:
            parts.append(f"{p['internal_api']} ×{p['num_threads']}")
    return "; ".join(dict.fromkeys(parts))


def fmt(x: float | None, spec: str = ".2f") -> str:
    return "—" if x is None else format(x, spec)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 epoch, 1 repeat: a smoke run")
    ap.add_argument("--repeats", type=int, default=None, help="repeats per row (default 3)")
    ap.add_argument("--cases", default="a,b,c,d,e,t",
                    help="comma-separated subset of a,b,c,d,e,t")
    ap.add_argument("--out", default=str(HERE / "results"), help="directory for JSON + markdown")
    ap.add_argument("--threads", type=int, default=None,
                    help="threads for every contender (default: every core); 1 keeps "
                         "OpenBLAS's spinning threads out of the measurement on a loaded machine")
    args = ap.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 3)
    if repeats < 1:
        ap.error(f"--repeats: expected a positive integer, got {repeats}")
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    bad = [c for c in cases if c not in "abcdet"]
    if bad:
        ap.error(f"--cases: unknown case(s) {bad}; valid are a, b, c, d, e, t")
    env = dict(os.environ)
    threads = str(args.threads or os.cpu_count() or 1)
    env.update(BENCH_THREADS=threads, OPENBLAS_NUM_THREADS=threads, OMP_NUM_THREADS=threads,
               XLA_FLAGS=(f"--xla_cpu_multi_thread_eigen={'false' if threads == '1' else 'true'}"
                          f" intra_op_parallelism_threads={threads}"),
               PYTHONPATH=str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", ""))
    quick = ["--quick"] if args.quick else []
    results: dict[str, Any] = {
        "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(), "processor": _cpu_name()},
        "repeats": repeats, "quick": args.quick, "rows": [], "threads": int(threads),
        "load_average_before": os.getloadavg(),
    }
    peak = None
    if "d" in cases:  # the matmul peak (and the of-peak column) only when asked for
        print("(d) matmul peak …", flush=True)
        mm = run_worker(["matmul.py", *quick], env, timeout=300)
        results["matmul"] = mm
        peak = max(v for v in (mm["square_numpy"], mm["square_torch"]) if v)
    for case in [c for c in "abct" if c in cases]:
        spec = CASES[case]
        flops_per_sample = 6 * sum(a * b for a, b in zip(spec["sizes"][:-1], spec["sizes"][1:],
                                                         strict=True))
        reps = round_robin(case, CONTENDERS[case], repeats, quick, env)
        for name in CONTENDERS[case]:
            rep = reps[name]
            t = summarize(rep["runs"])
            epochs = rep["recipe"]["epochs"]
            samples = rep["recipe"]["n_train"] * epochs
            row = {
                "case": case, "title": spec["title"], "contender": name, "time": t,
                "accuracy": statistics.median(r["accuracy"] for r in rep["runs"]),
                "samples_per_s": samples / t["median"],
                "gflops": flops_per_sample * samples / t["median"] / 1e9,
                "peak_rss_mb": rep["peak_rss_mb"], "data_f32_mb": rep["data_f32_mb"],
                "blas": blas_of(rep["threadpools"]), "runs": rep["runs"], "epochs": epochs,
            }
            if peak:
                row["of_peak"] = row["gflops"] / peak
            if "matmul" in results and case in results["matmul"]["cases"]:
                row["matmul_seconds"] = results["matmul"]["cases"][case]["matmul_seconds"] * (
                    epochs / spec["epochs"])
            results["rows"].append(row)
    if "e" in cases:
        recipes = {}
        for name, recipe in RACE.items():
            r = dict(recipe)
            if args.quick:
                r["epochs"], r["target"] = 1, 0.9
            recipes[name] = r
        reps = round_robin("e", list(RACE), repeats, quick, env, recipes)
        for name, r in recipes.items():
            rep = reps[name]
            results["rows"].append({
                "case": "e", "title": f"seconds to {r['target']:.1%} MNIST test accuracy",
                "contender": name, "time": summarize(rep["runs"]), "recipe": r,
                "accuracy": statistics.median(x["accuracy"] for x in rep["runs"]),
                "peak_rss_mb": rep["peak_rss_mb"], "blas": blas_of(rep["threadpools"]),
                "runs": rep["runs"],
            })
    results["load_average_after"] = os.getloadavg()
    results["ratios"] = ratios(results["rows"])
    write(results, Path(args.out))
    return 0


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """chainrule's time over each peer's, per case (< 1: chainrule faster): fastest run over
    fastest run (``time_ratio``) and median over median."""
    out = []
    for case in "abcet":
        mine = [r for r in rows if r["case"] == case and r["contender"] == "chainrule"]
        if not mine or mine[0]["time"]["median"] is None:
            continue
        for r in rows:
            if r["case"] == case and r["contender"] != "chainrule" and r["time"]["median"]:
                out.append({"case": case, "peer": r["contender"],
                            "time_ratio": mine[0]["time"]["min"] / r["time"]["min"],
                            "median_ratio": mine[0]["time"]["median"] / r["time"]["median"],
                            "accuracy_diff": mine[0]["accuracy"] - r["accuracy"]})
    return out


def table(results: dict[str, Any]) -> str:
    lines = []
    mm = results.get("matmul")
    if mm:
        lines += [
            f"Matmul peak (d): float32 {mm['square_n']}³ — NumPy/OpenBLAS "
            f"{mm['square_numpy']:.0f} GFLOP/s, PyTorch {fmt(mm['square_torch'], '.0f')} GFLOP/s.",
            "",
            "| case | GEMM | m×k×n | GFLOP/s |", "|---|---|---|---:|",
        ]
        for case, c in mm["cases"].items():
            for g in c["gemms"]:
                lines.append(f"| ({case}) | {g['gemm']} | {'×'.join(map(str, g['shape']))} | "
                             f"{g['gflops']:.0f} |")
            lines.append(f"| ({case}) | **all GEMMs of the run** | | "
                         f"**{c['matmul_seconds']:.2f} s** |")
        lines.append("")
    lines += [
        "| case | contender | time s, fastest (median, max) | test acc | samples/s | GFLOP/s | "
        "of peak | peak RSS MB | BLAS (threadpoolctl) |",
        "|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in results["rows"]:
        t = r["time"]
        time_s = (f"{fmt(t['min'], '.3f')} ({fmt(t['median'], '.3f')}, {fmt(t['max'], '.3f')})"
                  if t["n"] else "not reached")
        if r["case"] == "e" and t["n"] < len(r["runs"]):
            time_s += f" [{t['n']}/{len(r['runs'])} reached]"
        if len(r["runs"]) < results["repeats"]:
            time_s += f" [{len(r['runs'])} run(s): time budget]"
        lines.append(
            f"| ({r['case']}) | {r['contender']} | {time_s} | {r['accuracy']:.4f} | "
            f"{fmt(r.get('samples_per_s'), ',.0f')} | {fmt(r.get('gflops'), '.0f')} | "
            f"{fmt(r.get('of_peak'), '.0%')} | {r['peak_rss_mb']:.0f} | {r['blas']} |")
    lines += ["", "chainrule's time ÷ peer's time (< 1 means chainrule is faster), fastest "
              "run over fastest run; median over median in the last column:", "",
              "| case | peer | time ratio | speed-up | accuracy difference (points) | "
              "median ratio |", "|---|---|---:|---:|---:|---:|"]
    for q in results["ratios"]:
        lines.append(f"| ({q['case']}) | {q['peer']} | {q['time_ratio']:.2f} | "
                     f"{1 / q['time_ratio']:.2f}× | {100 * q['accuracy_diff']:+.2f} | "
                     f"{q.get('median_ratio', q['time_ratio']):.2f} |")
    lines += ["", "Test accuracy is the median over the repeats, each its own seed; one seed's "
              "accuracy varies by 0.4-0.6 points (sd) on (t), so for a ± 0.5-point comparison "
              "use `python bench/accuracy.py --case t --seeds 30` (means ± standard errors)."]
    return "\n".join(lines) + "\n"


def write(results: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    stamp = results["started"].replace(":", "").replace("-", "")[:15]
    md = (f"# chainrule benchmark, {results['started']}\n\n"
          f"{results['machine']['processor']}, {results['machine']['cpu_count']} cores, "
          f"Python {results['machine']['python']}; {results['repeats']} repeat(s)"
          f"{' (quick)' if results['quick'] else ''}; load average before "
          f"{_load(results.get('load_average_before'))}, after "
          f"{_load(results.get('load_average_after'))}.\n\n" + table(results))
    for name, text in ((f"compare-{stamp}.json", json.dumps(results, indent=1)),
                       (f"compare-{stamp}.md", md), ("latest.json", json.dumps(results, indent=1)),
                       ("latest.md", md)):
        _atomic_write(out / name, text)
    print()
    print(md)
    print(f"written to {out}/compare-{stamp}.json and .md")


def _load(avg: Any) -> str:
    return "—" if not avg else "/".join(f"{x:.1f}" for x in avg)


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


if __name__ == "__main__":
    raise SystemExit(main())
