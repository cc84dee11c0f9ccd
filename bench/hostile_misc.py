"""Hostile campaign of issue 28, item 8: writes that fail, SIGTERM during a save, the
playground's extreme uploads. Every case runs in a fresh subprocess against the package
under ``--src`` (default: the installed one), so the release before can be measured with
``--src /work/old/src``.

Kinds and what "clean" means:

``write``
    every writer (``chainrule.save``, ``train --out``, ``graph --out``, ``evaluate
    --json``, ``predict --out``) × every bad target (a link to ``/dev/full``, a full disk
    — ``os.fsync``/``write`` raising ENOSPC —, an I/O error, a read-only file system —
    EROFS on create —, a directory the user may not write (``/sys/fs``), a target that
    is a directory, a parent that is a file, a name too long): clean when the command
    fails with exactly one line, that line names the target (or its directory), holds no
    ``Traceback`` / ``[Errno`` / ``RuntimeWarning`` text, no temporary file is left, the
    previous file is intact and ``/dev/full`` is still the device.
``sigterm``
    a library ``chainrule.save`` loop (8 MiB model, no signal handler installed) sent
    SIGTERM at a random moment: clean when no ``.tmp`` file is left and the model file
    loads and is one of the versions written.
``playground``
    an upload of extreme coordinates through the server's own methods (``_upload`` then
    ``_reset`` then a step): clean when the upload is refused with one line or accepted
    with every message valid JSON, and reset then gives readable messages.

Usage::

    python bench/hostile_misc.py [--src DIR] [--trials N] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from pathlib import Path

#: Installed into each writer subprocess: the fault named by $HOSTILE_FAULT, in $HOSTILE_DIR.
PREAMBLE = textwrap.dedent("""
    import builtins, errno, os, sys
    fault, where = os.environ.get("HOSTILE_FAULT", ""), os.environ.get("HOSTILE_DIR", "")
    codes = {"enospc": errno.ENOSPC, "eio": errno.EIO, "erofs": errno.EROFS}
    def _inside(path):
        try:
            return os.path.abspath(os.fspath(path)).startswith(where + os.sep)
        except TypeError:
            return False
    if fault in ("enospc", "eio"):
        _fsync, _stat = os.fsync, os.stat
        def fsync(fd):
            import stat as st
            if st.S_ISREG(os.fstat(fd).st_mode):
                raise OSError(codes[fault], os.strerror(codes[fault]))
            return _fsync(fd)
        os.fsync = fsync
    if fault == "erofs":
        _open, _bopen, _mkdir = os.open, builtins.open, os.mkdir
        def op(path, flags, *a, **k):
            if flags & os.O_CREAT and _inside(path):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), path)
            return _open(path, flags, *a, **k)
        def bop(file, mode="r", *a, **k):
            if any(c in mode for c in "wax+") and _inside(file):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), file)
            return _bopen(file, mode, *a, **k)
        def mk(path, *a, **k):
            if _inside(path):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), path)
            return _mkdir(path, *a, **k)
        os.open, builtins.open, os.mkdir = op, bop, mk
""")

LIBRARY = PREAMBLE + textwrap.dedent("""
    import chainrule
    try:
        chainrule.save(chainrule.MLP([2, 3, 1], seed=0), sys.argv[1])
    except Exception as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
""")

CLI = PREAMBLE + textwrap.dedent("""
    from chainrule.cli import main
    sys.exit(main(sys.argv[1:]))
""")

WRITERS = {
    "save": lambda t, m, c: [LIBRARY, str(t)],
    "train": lambda t, m, c: [CLI, "train", "--dataset", "xor", "--epochs", "1", "--quiet",
                              "--out", str(t)],
    "graph": lambda t, m, c: [CLI, "graph", str(m), "--out", str(t)],
    "evaluate": lambda t, m, c: [CLI, "evaluate", str(m), "--json", str(t)],
    "predict": lambda t, m, c: [CLI, "predict", str(m), "--csv", str(c), "--out", str(t)],
}
TARGETS = ["dev_full", "enospc", "eio", "erofs", "no_permission", "is_directory",
           "parent_is_file", "name_too_long"]


def _env(src: str | None, **extra: str) -> dict[str, str]:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **extra}
    if src:
        env["PYTHONPATH"] = src
    return env


def _target(kind: str, case: Path) -> tuple[Path, str]:
    """(target path, fault) for one bad target, with a previous file where one fits."""
    case.mkdir(parents=True)
    if kind == "dev_full":
        link = case / "out"
        link.symlink_to("/dev/full")
        return link, ""
    if kind == "no_permission":
        return Path("/sys/fs/chainrule-out"), ""
    if kind == "is_directory":
        (case / "out").mkdir()
        return case / "out", ""
    if kind == "parent_is_file":
        (case / "file").write_text("x")
        return case / "file" / "out", ""
    if kind == "name_too_long":
        return case / ("n" * 300), ""
    target = case / "out"
    if kind != "erofs":
        target.write_bytes(b"previous")
    return target, kind


def _clean_write(rc: int, err: str, target: Path, case: Path) -> tuple[bool, str]:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    if rc == 0:
        return False, "exit 0"
    if len(lines) != 1:
        return False, f"{len(lines)} lines"
    line = lines[0]
    for raw in ("Traceback", "[Errno", "RuntimeWarning", "Warning:"):
        if raw in line:
            return False, f"raw {raw!r}"
    if str(target) not in line and str(target.parent) not in line:
        return False, "names no path"
    if case.is_dir() and any(p.name.endswith(".tmp") for p in case.rglob("*")):
        return False, "temporary file left"
    out = case / "out"
    if out.is_file() and not out.is_symlink() and out.read_bytes() != b"previous":
        return False, "previous file changed"
    return True, "clean"


def write_cases(src: str | None, work: Path, model: Path, csv: Path) -> list[dict]:
    results = []
    for writer, argv_of in WRITERS.items():
        for kind in TARGETS:
            case = work / f"{writer}-{kind}"
            target, fault = _target(kind, case)
            script, *argv = argv_of(target, model, csv)
            env = _env(src, HOSTILE_FAULT=fault, HOSTILE_DIR=str(case))
            proc = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True,
                                  text=True, env=env, timeout=120, cwd=case)
            ok, why = _clean_write(proc.returncode, proc.stderr, target, case)
            if writer == "train" and kind == "is_directory" and proc.returncode == 0:
                ok, why = True, "an empty directory is a valid --out"
            if kind == "dev_full" and not stat.S_ISCHR(os.stat("/dev/full").st_mode):
                ok, why = False, "/dev/full replaced"
            line = proc.stderr.strip().splitlines()[-1:] or [""]
            results.append({"kind": "write", "case": f"{writer}/{kind}", "clean": ok,
                            "why": why, "line": line[0][:200]})
    return results


SAVER = textwrap.dedent("""
    import sys
    import chainrule
    net = chainrule.MLP([512, 1024, 512, 4], dtype="float64", seed=int(sys.argv[2]))
    print("ready", flush=True)
    while True:
        chainrule.save(net, sys.argv[1])
""")


def sigterm_cases(src: str | None, work: Path, trials: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    results = []
    d = work / "sigterm"
    d.mkdir()
    path = d / "model.safetensors"
    for trial in range(trials):
        proc = subprocess.Popen([sys.executable, "-c", SAVER, str(path), str(trial % 2)],
                                stdout=subprocess.PIPE, text=True, env=_env(src))
        assert proc.stdout is not None
        proc.stdout.readline()
        time.sleep(rng.uniform(0.0, 0.4) + (0.15 if trial == 0 else 0.0))
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        tmps = [p for p in d.iterdir() if p.name.endswith(".tmp")]
        check = subprocess.run([sys.executable, "-c", "import sys, chainrule; "
                                "chainrule.load(sys.argv[1])", str(path)],
                               capture_output=True, text=True, env=_env(src))
        ok = not tmps and check.returncode == 0
        why = "clean" if ok else (f"{len(tmps)} .tmp left" if tmps else "model does not load")
        results.append({"kind": "sigterm", "case": f"trial {trial}", "clean": ok, "why": why})
        for p in tmps:
            p.unlink()
    return results


PLAYGROUND = textwrap.dedent("""
    import json, sys, warnings
    warnings.simplefilter("ignore")
    from chainrule.playground.server import Connection
    value = sys.argv[1]
    rows = "".join(f"{value if i % 2 else 0.5},{'-' + value if i % 3 == 0 else i % 5},{i % 2}\\n"
                   for i in range(40))
    c = Connection(None)
    def readable(messages):
        for m in messages:
            json.loads(m, parse_constant=lambda s: 1 / 0)
    bad = None
    try:
        readable(c._upload(rows, "extreme.csv"))
        state = "accepted"
    except ValueError as exc:
        if "\\n" in str(exc) or "extreme.csv" not in str(exc):
            bad = f"refused, naming no file or cell: {exc}"
        state = "refused"
    try:
        readable(c._reset())
        readable([c._train(3)])
    except Exception as exc:
        print(f"reset did not recover ({state}): {type(exc).__name__}: {exc}"[:300])
        sys.exit(4)
    if bad:
        print(bad); sys.exit(3)
    print(state)
""")
EXTREMES = ["1e308", "1.7976931348623157e308", "1e300", "1e200", "1e100", "1e38", "1e20",
            "1e7", "1e6", "5e-324", "1e-300"]


def playground_cases(src: str | None) -> list[dict]:
    results = []
    for value in EXTREMES:
        proc = subprocess.run([sys.executable, "-c", PLAYGROUND, value], capture_output=True,
                              text=True, env=_env(src), timeout=120)
        ok = proc.returncode == 0
        why = proc.stdout.strip().splitlines()[-1:] or [proc.stderr.strip()[-200:]]
        results.append({"kind": "playground", "case": f"upload {value}", "clean": ok,
                        "why": why[0][:200]})
    return results


def _model(src: str | None, work: Path) -> tuple[Path, Path]:
    run = work / "model-run"
    subprocess.run([sys.executable, "-m", "chainrule", "train", "--dataset", "xor", "--epochs",
                    "1", "--quiet", "--out", str(run)], check=True, env=_env(src),
                   capture_output=True)
    csv = work / "points.csv"
    csv.write_text("x1,x2\n0.1,0.2\n0.5,-0.3\n")
    return run / "model.safetensors", csv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", default=None, help="PYTHONPATH of the package to test")
    parser.add_argument("--trials", type=int, default=12, help="SIGTERM trials")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="write every case as JSON here")
    args = parser.parse_args()
    if not stat.S_ISCHR(os.stat("/dev/full").st_mode):
        sys.exit("/dev/full is not the device; restore it first (mknod -m 666 /dev/full c 1 7)")
    with tempfile.TemporaryDirectory(prefix="hostile_misc-") as tmp:
        work = Path(tmp)
        model, csv = _model(args.src, work)
        results = (write_cases(args.src, work, model, csv)
                   + sigterm_cases(args.src, work, args.trials, args.seed)
                   + playground_cases(args.src))
    cases, unclean = Counter(r["kind"] for r in results), Counter(
        r["kind"] for r in results if not r["clean"])
    print(f"{'kind':<12} {'cases':>6} {'unclean':>8}")
    for kind in cases:
        print(f"{kind:<12} {cases[kind]:>6} {unclean[kind]:>8}")
    print(f"{'total':<12} {sum(cases.values()):>6} {sum(unclean.values()):>8}")
    for r in results:
        if not r["clean"]:
            print(f"  unclean {r['kind']} {r['case']}: {r['why']} | {r.get('line', '')}")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
