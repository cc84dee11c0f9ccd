"""Campaign for what a model file's header and a run directory may hold: valid JSON and
valid containers, hostile values.

``bench/fuzz_files.py`` mutates bytes; here every file parses, and what it *says* is
hostile: a model header asking for huge sizes, naming paths (``/proc/self/environ``), with
the wrong type in any field or deep nesting; a run directory whose checkpoint state,
config.json, metrics.json or history.csv is mutated field by field, or whose files are
truncated, missing or replaced by directories. Each case runs the CLI command that reads
it (``evaluate``, ``explain``, ``graph``, ``diagnose``, ``info``, ``predict``,
``train --resume``) in a subprocess under ``/usr/bin/time`` and is classified:

clean
    exit 0, or exit 1/2 with one ``error:`` line naming the file or flag;
unclean
    a traceback, a Python or NumPy warning, a raw Python error message, more than one
    error line, an exit status other than 0/1/2, over :data:`TIME_LIMIT_S` seconds or over
    2 × input + 200 MB resident, a secret from the environment in the output, a run left
    ``running`` or marked ``complete`` that is not.

    python bench/hostile_headers.py --cases 200 --seed 0
    PYTHONPATH=/work/old/src python bench/hostile_headers.py --cases 200   # before

``tests/test_hostile_files.py`` drives the same mutators through Hypothesis.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

TIME_LIMIT_S = 10.0
MEMORY_SLACK = 200 * 2**20
SECRET = "hostile-headers-secret-7f3a"
EPOCHS = 4  #: a resumable run is configured for 4 epochs and has done 2
HEADER_COMMANDS = ("evaluate", "explain", "graph", "diagnose", "info", "predict")
#: Fragments of raw Python errors: an error line holding one is not chainrule's own.
RAW = ("not supported between", "can only concatenate", "object is not", "unhashable type",
       "has no attribute", "invalid literal", "NoneType", "unexpected keyword",
       "object of type", "list index", "KeyError", "must be real number", "argument must be",
       "too many values", "not enough values", "is not iterable", "Errno", "internal error")


# -- values ------------------------------------------------------------------------------
def hostile_value(rnd: random.Random) -> Any:
    """A valid JSON value chosen to hurt: huge or negative sizes, paths, wrong types,
    long or multi-line strings, deep nesting."""
    choices: list[Callable[[], Any]] = [
        lambda: rnd.choice([2**31 - 1, 10**8, 2**63, 2**64 + 1, -1, 0, 1, 10**300]),
        lambda: rnd.choice([1e308, -1e308, 5e-324, 0.5, -0.0, 1e30]),
        lambda: rnd.choice(["/proc/self/environ", "/dev/zero", "/dev/urandom", "/etc/passwd",
                            "../../../etc/shadow", "", "x\ny", "\x00", "=cmd|' /C calc'!A0"]),
        lambda: "A" * rnd.choice([1000, 100_000]),
        lambda: rnd.choice([None, True, False, [], {}, [1, 2], {"foo": 1}, "abc", "no"]),
        lambda: _nested(rnd.randint(20, 60)),
        lambda: [rnd.randint(-5, 5) for _ in range(rnd.choice([3, 1000]))],
    ]
    return rnd.choice(choices)()


def _nested(depth: int) -> Any:
    value: Any = 1
    for i in range(depth):
        value = [value] if i % 2 else {"a": value}
    return value


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:8]):
            out += _paths(v, (*prefix, i))
    return out


def mutate_at(root: Any, rnd: random.Random, targeted: list[tuple[Any, ...]] = ()) -> str:
    """Replace one value inside ``root`` (a targeted path first, half the time) by a
    hostile one; returns where, as text."""
    paths = [p for p in _paths(root) if p]
    path = rnd.choice(list(targeted)) if targeted and rnd.random() < 0.5 else rnd.choice(paths)
    parent = root
    for key in path[:-1]:
        parent = parent[key]
    value = hostile_value(rnd)
    if isinstance(parent, dict) or (isinstance(parent, list) and path[-1] < len(parent)):
        parent[path[-1]] = value
    return ".".join(map(str, path))


# -- model files ---------------------------------------------------------------------------
def read_header(path: Path) -> tuple[dict[str, Any], bytes]:
    data = path.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8 : 8 + n]), data[8 + n :]


def write_header(path: Path, header: dict[str, Any], body: bytes) -> None:
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + body)


def edit_metadata(src: Path, dst: Path, edit: Callable[[dict[str, Any]], Any]) -> Any:
    """Copy the model ``src`` to ``dst`` with ``edit`` applied to its parsed metadata values
    (``{"training": {...}, "config": {...}, ...}``), each written back as JSON."""
    header, body = read_header(src)
    raw = header["__metadata__"]
    values = {k: json.loads(v) for k, v in raw.items() if k not in ("format", "format_version",
                                                                    "chainrule_version")}
    result = edit(values)
    raw.update({k: json.dumps(v) for k, v in values.items()})
    write_header(dst, header, body)
    return result


HEADER_TARGETS = [("training", "config", k) for k in (
    "n_samples", "csv", "npz", "data_dir", "dataset", "noise", "seed", "val_split",
    "test_split", "batch_size", "target")] + [("training", k) for k in (
        "task", "target_names", "epochs_run", "final", "n_test")] + [("classes",), ("rng",)]


def mutate_header(src: Path, dst: Path, rnd: random.Random) -> str:
    return str(edit_metadata(src, dst, lambda v: mutate_at(v, rnd, HEADER_TARGETS)))


# -- run directories -----------------------------------------------------------------------
def make_resumable(base: Path, dst: Path) -> None:
    """``base`` (a complete 2-epoch run) as a run interrupted after 2 of :data:`EPOCHS`."""
    shutil.copytree(base, dst)
    for name in ("checkpoint.safetensors", "best.safetensors"):
        def longer(v: dict[str, Any]) -> None:
            v["training"]["config"]["epochs"] = EPOCHS
            v["training"]["checkpoint"]["epochs"] = EPOCHS
        edit_metadata(base / name, dst / name, longer)
    cfg = json.loads((base / "config.json").read_text())
    (dst / "config.json").write_text(json.dumps({**cfg, "epochs": EPOCHS}, indent=2))
    (dst / "metrics.json").write_text(json.dumps(
        {"status": "interrupted", "epochs": EPOCHS, "epochs_done": 2}))
    (dst / "model.safetensors").unlink()


RUN_FILES = ("checkpoint.safetensors", "best.safetensors", "config.json", "metrics.json",
             "history.csv")


def mutate_run(run: Path, rnd: random.Random) -> str:
    """One corruption of a resumable run directory: a checkpoint field, a config.json or
    metrics.json field, or a file truncated, emptied, removed or replaced by a directory."""
    how = rnd.choice(["checkpoint", "checkpoint", "checkpoint", "config", "metrics", "file"])
    if how == "checkpoint":
        ck = run / "checkpoint.safetensors"
        where = edit_metadata(ck, ck, lambda v: mutate_at(
            v["training"]["checkpoint"], rnd,
            [(k,) for k in ("epoch", "epochs", "history_epochs", "history", "best_value",
                            "best_epoch", "early_stopping", "stopped", "train_seconds")]))
        return f"checkpoint:{where}"
    if how in ("config", "metrics"):
        path = run / f"{how}.json"
        value = json.loads(path.read_text())
        where = mutate_at(value, rnd)
        path.write_text(json.dumps(value))
        return f"{how}:{where}"
    name = rnd.choice(RUN_FILES)
    path = run / name
    action = rnd.choice(["directory", "truncate", "empty", "remove"])
    if action == "directory":
        path.unlink()
        path.mkdir()
        (path / "x").write_text("x")
    elif action == "truncate":
        data = path.read_bytes()
        path.write_bytes(data[: rnd.randint(0, max(0, len(data) - 1))])
    elif action == "empty":
        path.write_bytes(b"")
    else:
        path.unlink()
    return f"{action}:{name}"


# -- running and classifying ------------------------------------------------------------------
def run_cli(args: list[str], cwd: Path, input_bytes: int) -> tuple[str, int, str]:
    """Run ``chainrule args``; returns (verdict, exit status, stderr's last line)."""
    env = {**os.environ, "CHAINRULE_FUZZ_SECRET": SECRET, "PYTHONWARNINGS": "default",
           "MPLBACKEND": "Agg"}
    rss = cwd / "rss.txt"
    cmd = ["/usr/bin/time", "-f", "%M", "-o", str(rss), sys.executable, "-m", "chainrule",
           *args]
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=TIME_LIMIT_S, errors="replace")
    except subprocess.TimeoutExpired:
        return "time", -1, ""
    out, err, rc = proc.stdout, proc.stderr, proc.returncode
    peak = int(rss.read_text().split()[-1]) * 1024 if rss.is_file() else 0
    lines = [line for line in err.splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    if peak > 2 * input_bytes + MEMORY_SLACK:
        return "memory", rc, f"{peak / 2**20:.0f} MB"
    if SECRET in out or SECRET in err:
        return "secret", rc, last
    if "Traceback" in err or "Warning" in err:
        return "raw", rc, last
    if rc not in (0, 1, 2):
        return "status", rc, last
    if rc != 0:
        errors = [line for line in lines if "error:" in line]
        if len(errors) != 1 or any(r in errors[0] for r in RAW):
            return "raw", rc, last
    return "clean", rc, last


def header_case(seed_model: Path, work: Path, rnd: random.Random) -> tuple[str, str, str]:
    model = work / "m.safetensors"
    where = mutate_header(seed_model, model, rnd)
    command = rnd.choice(HEADER_COMMANDS)
    args = [command, str(model)]
    if command == "predict":
        args += ["--csv", str(work.parent / "in.csv")]
    if command == "diagnose":
        args += ["--steps", "5"]
    verdict, rc, last = run_cli(args, work, model.stat().st_size)
    return verdict, f"{command} {where}", f"rc={rc} {last[:160]}"


def run_case(base: Path, work: Path, rnd: random.Random) -> tuple[str, str, str]:
    run = work / "run"
    make_resumable(base, run)
    where = mutate_run(run, rnd)
    size = sum(p.stat().st_size for p in run.rglob("*") if p.is_file())
    verdict, rc, last = run_cli(["train", "--resume", str(run), "--quiet", "--no-monitor"],
                                work, size)
    status = None
    try:
        status = json.loads((run / "metrics.json").read_text()).get("status")
    except (OSError, ValueError, AttributeError):
        pass
    if verdict == "clean":
        if status == "running":
            verdict = "running"
        elif status == "complete" and not _complete(run):
            verdict = "complete"
        elif rc == 0 and status != "complete":
            verdict = "status"
    return verdict, f"resume {where}", f"rc={rc} status={status} {last[:160]}"


def _complete(run: Path) -> bool:
    """Whether a run marked complete trained its epochs: its model and a history row for
    every configured epoch."""
    try:
        rows = (run / "history.csv").read_text().strip().splitlines()[1:]
    except OSError:
        return False
    return (run / "model.safetensors").is_file() and len(rows) == EPOCHS


def prepare(root: Path) -> tuple[Path, Path]:
    """A trained xor run (``root/base``; early stopping on, so its checkpoint holds the
    counters, with a patience it does not reach) and a CSV for ``predict``."""
    base = root / "base"
    subprocess.run([sys.executable, "-m", "chainrule", "train", "--dataset", "xor",
                    "--n-samples", "200", "--hidden", "4", "--epochs", "2",
                    "--early-stopping", "50", "--out", str(base), "--quiet", "--no-monitor"],
                   check=True,
                   capture_output=True, env={**os.environ, "MPLBACKEND": "Agg"})
    (root / "in.csv").write_text("x1,x2\n0.1,0.2\n-0.5,0.7\n")
    subprocess.run([sys.executable, "-c", WIDE, str(base / "model.safetensors"),
                    str(root / "wide.safetensors")], check=True)
    return base, root / "in.csv"


#: A model of one 30,000-unit hidden layer (600 KB) whose header asks for 5,000 samples in
#: batches of 1,400: its widths, not its size, decide what a batch costs.
WIDE = """
import json, struct, sys
import chainrule
data = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", data[:8])[0]
training = json.loads(json.loads(data[8:8 + n])["__metadata__"]["training"])
training["config"].update(n_samples=5000, batch_size=1400)
net = chainrule.MLP([2, 30000, 2], output="softmax", loss="cross_entropy", seed=0)
net.classes = [0, 1]
chainrule.save(net, sys.argv[2], training=training)
"""


def campaign(cases: int, seed: int, kinds: list[str]) -> dict[str, collections.Counter]:
    counts: dict[str, collections.Counter] = {k: collections.Counter() for k in kinds}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        base, _ = prepare(root)
        for i in range(cases):
            kind = kinds[i % len(kinds)]
            rnd = random.Random(seed * 1_000_003 + i)
            work = root / f"case{i}"
            work.mkdir()
            if kind == "header":
                seed_model = root / ("wide.safetensors" if i % 3 == 0 else
                                     "base/model.safetensors")
                verdict, what, detail = header_case(seed_model, work, rnd)
                what = f"{seed_model.stem} {what}"
            else:
                verdict, what, detail = run_case(base, work, rnd)
            counts[kind][verdict] += 1
            if verdict != "clean":
                print(f"UNCLEAN {verdict:8} {what}: {detail}", flush=True)
            shutil.rmtree(work, ignore_errors=True)
    return counts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--kinds", default="header,run")
    args = p.parse_args(argv)
    counts = campaign(args.cases, args.seed, args.kinds.split(","))
    print(f"\n{'kind':8} {'cases':>6} {'unclean':>8}  by verdict")
    total = 0
    for kind, c in counts.items():
        n, bad = sum(c.values()), sum(v for k, v in c.items() if k != "clean")
        total += bad
        detail = ", ".join(f"{k} {v}" for k, v in sorted(c.items()) if k != "clean")
        print(f"{kind:8} {n:6} {bad:8}  {detail}")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
