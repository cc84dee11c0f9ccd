"""A/B timing of chainrule's engine, old revision against new: bench/compare.py's cases
(a) and (b), chainrule only, interleaved in one run (issue 11's "no speed lost" check).

Usage::

    python bench/ab_engine.py                              # 11ae4b7 vs the working tree, 7 repeats
    python bench/ab_engine.py --repeats 1 --cases b --new-rev 11ae4b7   # smoke: same code twice
    python bench/ab_engine.py --old REV --new-rev REV2 --cases a

The old revision's ``src/`` (and its ``bench/worker.py``) is materialised with
``git archive REV src bench/worker.py | tar -x`` into a temporary directory; the new side
is the working tree's ``src/``, copied once at the start so that edits made while the
benchmark runs do not mix into it (or ``--new-rev``, archived the same way). Both are
removed afterwards, also on error or Ctrl-C.

Every run is a fresh ``python bench/ab_worker.py`` process with ``PYTHONPATH=<tree>/src``;
the worker puts the tree first on ``sys.path`` and checks that every chainrule module it
loaded comes from that tree. Settings, data and the timed region (``net.fit`` alone) are
those of bench/worker.py's chainrule contender, seed = repeat index (the same seed for old
and new in a round, so equal code gives equal accuracy). Rounds interleave the trees and
alternate their order: round 0 old, new; round 1 new, old; … Thread settings as in
bench/compare.py (every core). The verdict uses the fastest run of each side (on a shared
machine noise only adds time): new min ≤ ``--limit`` × old min.

Writes ``bench/results/ab_engine-<UTC time>.json`` and ``.md`` and prints the table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from compare import _atomic_write, _cpu_name, _load, blas_of  # noqa: E402
from worker import CASES  # noqa: E402

DEFAULT_OLD = "11ae4b7"  # the last commit before the engine redesign (issue 11)


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], check=True, capture_output=True,
                          text=True).stdout.rstrip("\n")


def archive(rev: str, dest: Path) -> str:
    """``git archive REV src bench/worker.py | tar -x -C dest``; returns the full hash."""
    full = git("rev-parse", "--verify", f"{rev}^{{commit}}")
    paths = ["src"]
    if subprocess.run(["git", "-C", str(REPO), "cat-file", "-e", f"{full}:bench/worker.py"],
                      capture_output=True).returncode == 0:
        paths.append("bench/worker.py")  # only used with --harness each
    dest.mkdir(parents=True)
    arch = subprocess.Popen(["git", "-C", str(REPO), "archive", full, *paths],
                            stdout=subprocess.PIPE)
    tar = subprocess.run(["tar", "-x", "-C", str(dest)], stdin=arch.stdout)
    assert arch.stdout is not None
    arch.stdout.close()
    if arch.wait() != 0 or tar.returncode != 0:
        raise RuntimeError(f"git archive {rev} {' '.join(paths)} | tar -x failed")
    return full


def snapshot_working_tree(dest: Path) -> dict[str, Any]:
    """Copy the working tree's src/ and bench/worker.py; describe what was copied."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(REPO / "src", dest / "src", ignore=ignore)
    (dest / "bench").mkdir()
    shutil.copy2(HERE / "worker.py", dest / "bench" / "worker.py")
    h = hashlib.sha256()
    for f in sorted((dest / "src").rglob("*")):
        if f.is_file():
            h.update(str(f.relative_to(dest)).encode() + b"\0" + f.read_bytes())
    dirty = git("status", "--porcelain", "--", "src")
    return {"rev": "working tree", "head": git("rev-parse", "HEAD"),
            "src_changes": dirty.splitlines(), "src_sha256_16": h.hexdigest()[:16]}


def run_one(tree: Path, harness: Path, case: str, seed: int, env: dict[str, str],
            epochs: int | None, timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, str(HERE / "ab_worker.py"), "--tree", str(tree),
           "--harness", str(harness), "--case", case, "--seed", str(seed)]
    if epochs is not None:
        cmd += ["--epochs", str(epochs)]
    run_env = dict(env, PYTHONPATH=os.pathsep.join(
        [str(tree / "src")] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])))
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=run_env, timeout=timeout,
                          cwd=REPO)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"({case}) on {tree} failed:\n{proc.stderr[-3000:]}")
    rep = json.loads(proc.stdout.strip().splitlines()[-1])
    if not Path(rep["chainrule_file"]).is_relative_to((tree / "src").resolve()):
        raise RuntimeError(f"worker imported {rep['chainrule_file']}, not {tree}/src")
    rep["process_wall_s"] = wall
    return rep


def stats(vals: list[float]) -> dict[str, Any]:
    if not vals:
        return {"min": None, "median": None, "max": None, "n": 0}
    return {"min": min(vals), "median": statistics.median(vals), "max": max(vals),
            "n": len(vals)}


def summarize(runs: list[dict[str, Any]], cases: list[str], limit: float) -> list[dict]:
    rows = []
    for case in cases:
        side = {s: [r for r in runs if r["case"] == case and r["side"] == s]
                for s in ("old", "new")}
        t = {s: stats([r["seconds"] for r in side[s]]) for s in side}
        acc = {s: stats([r["accuracy"] for r in side[s]]) for s in side}
        loss = {s: stats([r["loss"] for r in side[s] if r.get("loss") is not None])
                for s in side}
        # same seed, same round: did old and new end with the same parameters / accuracy?
        by_seed = {s: {r["seed"]: r for r in side[s]} for s in side}
        pairs = [(by_seed["old"][k], by_seed["new"][k]) for k in by_seed["old"]
                 if k in by_seed["new"]]
        identical = sum(1 for o, n in pairs if o.get("params_sha256_16")
                        and o["params_sha256_16"] == n.get("params_sha256_16"))
        max_acc_diff = max((abs(o["accuracy"] - n["accuracy"]) for o, n in pairs), default=None)
        ratio_min = (t["new"]["min"] / t["old"]["min"]) if t["old"]["n"] and t["new"]["n"] else None
        ratio_med = (t["new"]["median"] / t["old"]["median"]) if ratio_min is not None else None
        rows.append({
            "case": case, "title": CASES[case]["title"], "time": t, "accuracy": acc,
            "loss": loss, "ratio_min": ratio_min, "ratio_median": ratio_med,
            "pairs": len(pairs), "identical_params": identical,
            "max_accuracy_diff": max_acc_diff,
            "pass": None if ratio_min is None else ratio_min <= limit,
        })
    return rows


def f(x: float | None, spec: str = ".3f") -> str:
    return "—" if x is None else format(x, spec)


def table(res: dict[str, Any]) -> str:
    lim = res["limit"]
    lines = [
        f"| case | old min s | new min s | new/old (min) | old median s | new median s | "
        f"new/old (median) | N runs old/new | test acc old/new (median) | "
        f"same params (same seed) | new ≤ {lim} × old |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in res["rows"]:
        t, a = r["time"], r["accuracy"]
        verdict = "—" if r["pass"] is None else ("yes" if r["pass"] else "**no**")
        lines.append(
            f"| ({r['case']}) {r['title']} | {f(t['old']['min'])} | {f(t['new']['min'])} | "
            f"**{f(r['ratio_min'])}** | {f(t['old']['median'])} | {f(t['new']['median'])} | "
            f"{f(r['ratio_median'])} | {t['old']['n']}/{t['new']['n']} | "
            f"{f(a['old']['median'], '.4f')}/{f(a['new']['median'], '.4f')} | "
            f"{r['identical_params']}/{r['pairs']} | {verdict} |")
    return "\n".join(lines) + "\n"


def markdown(res: dict[str, Any]) -> str:
    m = res["machine"]
    old, new = res["trees"]["old"], res["trees"]["new"]
    new_desc = (f"`{new['rev']}` ({new['head'][:7]})" if new["rev"] != "working tree" else
                f"the working tree (HEAD {new['head'][:7]}, "
                f"{len(new['src_changes'])} uncommitted change(s) under src/, "
                f"snapshot sha256 {new['src_sha256_16']})")
    warn = "".join(f"\n\n**Warning:** {w}" for w in res["warnings"])
    runs = ["", "| round | side | case | seconds | test acc | loss | load avg (1 min) |",
            "|---:|---|---|---:|---:|---:|---:|"]
    for r in res["runs"]:
        runs.append(f"| {r['round']} | {r['side']} | ({r['case']}) | {r['seconds']:.3f} | "
                    f"{r['accuracy']:.4f} | {f(r.get('loss'), '.4f')} | "
                    f"{r['load_before'][0]:.2f} |")
    return (
        f"# chainrule engine A/B, {res['started']}\n\n"
        f"Old: `{old['rev']}` ({old['head'][:7]}); new: {new_desc}. Harness: "
        f"{res['harness']} bench/worker.py. {m['processor']}, {m['cpu_count']} cores, "
        f"Python {m['python']}; {res['repeats']} repeat(s) per side, interleaved, order "
        f"alternating; {res['env']['BENCH_THREADS']} BLAS thread(s); load average before "
        f"{_load(res['load_average_before'])}, after "
        f"{_load(res['load_average_after'])}; BLAS (threadpoolctl): {res['blas']}; "
        f"total {res['total_seconds']:.0f} s."
        f"{' Epochs overridden: ' + str(res['epochs_override']) if res['epochs_override'] else ''}"
        f"{warn}\n\n" + table(res) + "\nEvery run:\n" + "\n".join(runs) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--old", default=DEFAULT_OLD, help=f"old revision (default {DEFAULT_OLD})")
    ap.add_argument("--new", action="store_true",
                    help="new side = the working tree's src/ (the default; copied at start)")
    ap.add_argument("--new-rev", default=None,
                    help="new side = this revision instead of the working tree")
    ap.add_argument("--repeats", type=int, default=7, help="runs per side and case (default 7)")
    ap.add_argument("--cases", default="a,b", help="comma-separated subset of a,b")
    ap.add_argument("--limit", type=float, default=1.05,
                    help="pass if new min ≤ LIMIT × old min (default 1.05)")
    ap.add_argument("--harness", choices=["new", "each"], default="new",
                    help="bench/worker.py for settings and data: the working tree's for both "
                         "sides (default) or each side's own revision")
    ap.add_argument("--epochs", type=int, default=None,
                    help="override the cases' epochs (smoke runs only; not issue 11's check)")
    ap.add_argument("--threads", type=int, default=None,
                    help="BLAS/OpenMP threads (default: every core, as bench/compare.py)")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per run")
    ap.add_argument("--out", default=str(HERE / "results"), help="directory for JSON + markdown")
    args = ap.parse_args(argv)
    if args.new and args.new_rev:
        ap.error("--new (the working tree) and --new-rev REV exclude each other")
    if args.repeats < 1:
        ap.error(f"--repeats: expected a positive integer, got {args.repeats}")
    cases = list(dict.fromkeys(c.strip() for c in args.cases.split(",") if c.strip()))
    bad = [c for c in cases if c not in ("a", "b")]
    if bad or not cases:
        ap.error(f"--cases: unknown case(s) {bad}; valid are a, b")

    env = dict(os.environ)
    threads = str(args.threads or os.cpu_count() or 1)
    env.update(BENCH_THREADS=threads, OPENBLAS_NUM_THREADS=threads, OMP_NUM_THREADS=threads)
    data_dir = Path(os.environ.get("CHAINRULE_DATA_DIR", REPO.parent / "shared" / "data" / "mnist"))
    env["CHAINRULE_DATA_DIR"] = str(data_dir.resolve())  # also for an old harness elsewhere
    warnings = [f"{k}={env[k]} is set; docs/benchmarks.md says to unset it for benchmarks"
                for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in env]
    if "CHAINRULE_NUMBA" in env:
        warnings.append(f"CHAINRULE_NUMBA={env['CHAINRULE_NUMBA']} is set")
    if "a" in cases and not (data_dir / "train-images-idx3-ubyte.gz").exists():
        ap.error(f"MNIST not found in {data_dir}; set CHAINRULE_DATA_DIR")
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)

    t_start = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="chainrule-ab-"))
    try:
        trees: dict[str, Path] = {"old": tmp / "old", "new": tmp / "new"}
        info: dict[str, dict[str, Any]] = {
            "old": {"rev": args.old, "head": archive(args.old, trees["old"])}}
        if args.new_rev:
            info["new"] = {"rev": args.new_rev, "head": archive(args.new_rev, trees["new"])}
        else:
            info["new"] = snapshot_working_tree(trees["new"])
        harness = {s: (trees[s] if args.harness == "each" else trees["new"]) / "bench" /
                   "worker.py" for s in trees}
        for s, h in harness.items():
            if not h.exists():
                raise SystemExit(f"{info[s]['rev']} has no bench/worker.py (--harness each)")
        for s in trees:
            print(f"{s}: {info[s]['rev']} ({info[s]['head'][:7]}) -> {trees[s]}", flush=True)
        res: dict[str, Any] = {
            "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                        "python": platform.python_version(), "processor": _cpu_name()},
            "trees": info, "repeats": args.repeats, "cases": cases, "limit": args.limit,
            "harness": ("the working tree's" if args.harness == "new" else "each side's own"),
            "epochs_override": args.epochs, "warnings": warnings,
            "env": {k: env.get(k) for k in ("BENCH_THREADS", "OPENBLAS_NUM_THREADS",
                                            "OMP_NUM_THREADS", "CHAINRULE_DATA_DIR",
                                            "CHAINRULE_NUMBA", "OPENBLAS_CORETYPE")},
            "load_average_before": os.getloadavg(), "runs": [],
        }
        for rnd in range(args.repeats):
            order = ("old", "new") if rnd % 2 == 0 else ("new", "old")
            for case in cases:
                for side in order:
                    load = os.getloadavg()
                    rep = run_one(trees[side], harness[side], case, rnd, env, args.epochs,
                                  args.timeout)
                    rep.update(side=side, round=rnd, load_before=load)
                    res["runs"].append(rep)
                    print(f"round {rnd + 1}/{args.repeats} ({case}) {side}: "
                          f"{rep['seconds']:.3f} s  acc {rep['accuracy']:.4f}  "
                          f"loss {f(rep.get('loss'), '.4f')}  "
                          f"[process {rep['process_wall_s']:.1f} s, load {load[0]:.2f}]",
                          flush=True)
        res["load_average_after"] = os.getloadavg()
        res["blas"] = blas_of([p for r in res["runs"] for p in r["threadpools"]])
        res["rows"] = summarize(res["runs"], cases, args.limit)
        res["total_seconds"] = time.perf_counter() - t_start
        for r in res["rows"]:
            if r["max_accuracy_diff"] is not None and r["max_accuracy_diff"] > 0.01:
                res["warnings"].append(
                    f"({r['case']}): test accuracy of old and new differs by up to "
                    f"{100 * r['max_accuracy_diff']:.2f} points at the same seed")
    except (RuntimeError, subprocess.SubprocessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = res["started"].replace(":", "").replace("-", "")[:15]
    md = markdown(res)
    _atomic_write(out / f"ab_engine-{stamp}.json", json.dumps(res, indent=1))
    _atomic_write(out / f"ab_engine-{stamp}.md", md)
    print()
    print(md)
    print(f"written to {out}/ab_engine-{stamp}.json and .md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
