"""Hostile-output campaign: what ``chainrule predict`` and ``evaluate`` write when the model
or the data is hostile.

Small models are trained (in-process, with the ``chainrule`` on ``sys.path``) on tables
whose class labels and target names are drawn from spreadsheet-formula prefixes, unicode,
newlines and very long text; each saved model is then mutated into one whose parameters are
finite but extreme (a scaler scale of 1e-320, a mean of ±1e308, weights of ±3e38, …), and
``predict`` (to a file and to standard output) and ``evaluate`` run on it. Each outcome is
classified; unclean when:

- ``nonfinite``: exit 0 with nan/inf in the predictions, or a model whose outputs are not
  finite scored by ``evaluate`` with exit 0;
- ``formula``: a text cell of a CSV chainrule wrote starts with ``=``, ``+``, ``-``, ``@``,
  tab or CR (a number such as ``-1.5`` is not text); ``mangled``: a number was escaped;
- ``raw``: a Python/NumPy warning or traceback on stderr, or an exception's raw text;
- ``long``: a line on stderr, or of a report, over 4 KB; ``lines``: an error over several
  lines, or a report table whose rows a label broke or whose columns run together;
- ``slow``: over 10 s.

    python bench/hostile_output.py                       # the chainrule on sys.path
    PYTHONPATH=/work/old/src python bench/hostile_output.py --json before.json

``tests/test_hostile_output.py`` runs a slice of the same cases.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import csv
import io
import json
import re
import struct
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FORMULA = ("=", "+", "-", "@", "\t", "\r")
LONG_LINE = 4096
RAW = re.compile(r"Traceback|Warning:|not supported between|object is not|can only "
                 r"concatenate|only integer scalar|index out of range|invalid literal|"
                 r"could not convert|unhashable|has no attribute")

#: Class labels and target names, from the OWASP prefixes to text no table should hold.
LABELS = {
    "formula": ['=HYPERLINK("http://evil.example","click")', "+cmd|' /C calc'!A0",
                "-2+3+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0", "\tTAB=1"],
    "unicode": ["line\nbreak", "日本語のラベル", "\u202eevil\u202c", "private", "sunshine"],
    "long": ["a" * 300, "b" * 2000, "=" + "c" * 500, "short"],
    "numeric": ["-1", "1"],
}
TARGETS = ["=SUM(A1)", "-price", "@cmd", "+1+cmd|' /C calc'!A0"]

#: Finite but extreme parameters: tensor-name pattern -> value.
MUTATIONS: dict[str, dict[str, float]] = {
    "none": {},
    "scale 1e-320": {"scaler.scale": 1e-320},
    "mean 1e308": {"scaler.mean": 1e308},
    "mean -1e308": {"scaler.mean": -1e308},
    "scale 1e308": {"scaler.scale": 1e308},
    "weights 3e38": {".w": 3e38},
    "first weights -3e38": {"layers.1.w": -3e38},
    "last bias 3e38": {"last.b": 3e38},
    "weights 1e30": {".w": 1e30},
}

_DTYPES = {"F32": np.float32, "F64": np.float64}


def mutate(src: Path, dst: Path, changes: dict[str, float]) -> None:
    """Copy the model file ``src`` to ``dst`` with every tensor whose name ends in (or, for
    ``last.*``, is the last layer's) a key of ``changes`` set to its value."""
    data = src.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    body = bytearray(data[8 + n:])
    layers = sorted({k.split(".")[1] for k in header if k.startswith("layers.")}, key=int)
    for name, entry in header.items():
        if name == "__metadata__" or entry["dtype"] not in _DTYPES:
            continue
        last = name.replace(f"layers.{layers[-1]}.", "last.") if layers else name
        if not any(name == k or name.endswith(k) or last == k for k in changes):
            continue
        value = next(v for k, v in changes.items() if name == k or name.endswith(k)
                     or last == k)
        start, stop = entry["data_offsets"]
        with np.errstate(all="ignore"):
            arr = np.full(entry["shape"], value, dtype=_DTYPES[entry["dtype"]])
        body[start:stop] = arr.tobytes()
    dst.write_bytes(data[:8 + n] + bytes(body))


@dataclass
class Result:
    """One command's outcome."""

    argv: list[str]
    rc: int
    out: str
    err: str
    seconds: float
    files: dict[str, str] = field(default_factory=dict)


def run_cli(argv: list[str], files: tuple[Path, ...] = ()) -> Result:
    """``chainrule.cli.main(argv)`` in-process, standard output and error captured (a
    warning shown each time it happens, as in a fresh process), and the CSV ``files`` it
    wrote read back."""
    from chainrule.cli import main

    out, err = io.StringIO(), io.StringIO()
    t0 = time.perf_counter()
    with warnings.catch_warnings(), contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err), np.errstate(all="warn"):
        warnings.simplefilter("always")
        try:
            rc = main(argv)
        except BaseException as exc:  # noqa: BLE001 - anything that escapes main is a finding
            rc = -1
            err.write(f"Traceback (escaped main): {type(exc).__name__}: {exc}\n")
    seconds = time.perf_counter() - t0
    written = {str(p): p.read_text("utf-8", "replace") for p in files if p.exists()}
    return Result(argv, rc, out.getvalue(), err.getvalue(), seconds, written)


# -- what is unclean -----------------------------------------------------------------------

def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def csv_findings(text: str) -> set[str]:
    """``formula`` for a text cell a spreadsheet would run, ``mangled`` for an escaped
    number, ``nonfinite`` for a nan/inf cell."""
    found = set()
    for row in csv.reader(io.StringIO(text, newline="")):
        for cell in row:
            if cell.startswith(FORMULA) and not _is_number(cell):
                found.add("formula")
            if cell.startswith("'") and _is_number(cell[1:]):
                found.add("mangled")
            if cell.lower() in ("nan", "inf", "-inf", "+inf"):
                found.add("nonfinite")
    return found


def text_findings(r: Result, report: bool) -> set[str]:
    """``raw``, ``long``, ``lines`` and ``slow`` from the text a command printed."""
    found = set()
    if RAW.search(r.err) or r.rc not in (0, 1, 2):
        found.add("raw")
    lines = r.err.splitlines() + (r.out.splitlines() if report else [])
    if any(len(line.encode()) > LONG_LINE for line in lines):
        found.add("long")
    err_lines = [ln for ln in r.err.splitlines() if ln.strip()]
    starts = [i for i, ln in enumerate(err_lines) if ln.startswith("error:")]
    if starts and starts[-1] != len(err_lines) - 1:
        found.add("lines")
    if r.seconds > 10:
        found.add("slow")
    return found


def table_broken(report: str, n_classes: int) -> bool:
    """Whether the confusion matrix of a report lost its shape: a row a label broke, or
    two column labels with no space between them."""
    lines = report.splitlines()
    try:
        top = lines.index("confusion matrix (rows: true class, columns: predicted)")
    except ValueError:
        return False
    head, rows = lines[top + 1], lines[top + 2:top + 2 + n_classes]
    if len(rows) < n_classes or not all(re.search(rf"(\s+\d+){{{n_classes}}}$", r)
                                        for r in rows):
        return True
    ends = [m.end() for m in re.finditer(r"\d+", rows[0])][-n_classes:]
    cells = [c for ch in head for c in ([ch, ""] if _wide(ch) else [ch])]
    return any(e < len(cells) and cells[e] != " " for e in ends[:-1])


def _wide(ch: str) -> bool:
    import unicodedata

    return unicodedata.east_asian_width(ch) in ("W", "F")


# -- the cases -----------------------------------------------------------------------------

@dataclass
class Base:
    """A trained model and the table it was trained on."""

    name: str
    model: Path
    data: Path
    target: str
    classes: int  # 0 for regression


def _table(path: Path, target: str, y: list[Any], rng: np.random.Generator) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["a", "b", target])
        for v in y:
            w.writerow([*np.round(rng.normal(size=2), 4), v])


def train_bases(work: Path, kinds: list[str]) -> Iterator[Base]:
    """Train one small model per kind of label list (and per target name for regression)."""
    rng = np.random.default_rng(0)
    for kind in kinds:
        if kind in LABELS:
            labels, target = LABELS[kind], "y"
            y = [labels[i % len(labels)] for i in range(120)]
        else:
            labels, target = [], TARGETS[int(kind.split(":")[1])]
            y = list(np.round(rng.normal(size=120), 3))
        data = work / f"{kind.replace(':', '_')}.csv"
        _table(data, target, y, rng)
        run = work / f"run_{kind.replace(':', '_')}"
        task = ["--task", "classification"] if labels else []
        r = run_cli(["train", "--csv", str(data), f"--target={target}", *task, "--epochs", "2",
                     "--hidden", "4", "--quiet", "--out", str(run), "--seed", "1"])
        if r.rc != 0:
            print(f"could not train {kind}: {r.err.strip()[:300]}", file=sys.stderr)
            continue
        yield Base(kind, run / "model.safetensors", data, target, len(labels))


def ground_truth_nonfinite(model: Path, data: Path, work: Path) -> bool:
    """Whether the model's outputs on ``data`` hold a nan or an inf: ``predict
    --allow-nonfinite`` where it exists, else plain ``predict`` (which then wrote them)."""
    out = work / "truth.csv"
    r = run_cli(["predict", str(model), "--csv", str(data), "--out", str(out),
                 "--allow-nonfinite"], (out,))
    if r.rc == 2:
        r = run_cli(["predict", str(model), "--csv", str(data), "--out", str(out)], (out,))
    return "nonfinite" in csv_findings(r.files.get(str(out), ""))


def cases(base: Base, work: Path) -> Iterator[tuple[str, str, set[str]]]:
    """(mutation, command, findings) for every mutation of ``base`` and command."""
    for mname, changes in MUTATIONS.items():
        model = work / f"m_{abs(hash((base.name, mname)))}.safetensors"
        mutate(base.model, model, changes)
        truth = ground_truth_nonfinite(model, base.data, work)
        out = work / "p.csv"
        out.unlink(missing_ok=True)
        r = run_cli(["predict", str(model), "--csv", str(base.data), "--out", str(out)],
                    (out,))
        found = text_findings(r, False) | csv_findings(r.files.get(str(out), ""))
        yield mname, "predict --out", _exit0(found, r)
        r = run_cli(["predict", str(model), "--csv", str(base.data)])
        yield mname, "predict stdout", _exit0(text_findings(r, False) | csv_findings(r.out), r)
        r = run_cli(["evaluate", str(model), "--csv", str(base.data),
                     f"--target={base.target}"])
        found = text_findings(r, True)
        if r.rc == 0 and (truth or re.search(r"\b(nan|inf)\b", r.out)):
            found.add("nonfinite")
        if r.rc == 0 and base.classes and table_broken(r.out, base.classes):
            found.add("lines")
        yield mname, "evaluate", found


def _exit0(found: set[str], r: Result) -> set[str]:
    """A nan in the output counts only when the command said it succeeded."""
    return found if r.rc == 0 else found - {"nonfinite"}


def extra_cases(base: Base, work: Path, n_extra: int) -> Iterator[tuple[str, str, set[str]]]:
    """``predict`` on the table with ``n_extra`` more columns; ``evaluate`` on data holding
    a class the model does not know, whose label has a newline."""
    wide = work / "wide.csv"
    rows = list(csv.reader(base.data.open(newline="", encoding="utf-8")))
    with wide.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow([*rows[0], *(f"extra_{i}" for i in range(n_extra))])
        for row in rows[1:]:
            w.writerow([*row, *("0" for _ in range(n_extra))])
    r = run_cli(["predict", str(base.model), "--csv", str(wide), "--out", str(work / "w.csv")],
                (work / "w.csv",))
    yield "extra columns", "predict --out", text_findings(r, False) | csv_findings(
        r.files.get(str(work / "w.csv"), ""))
    extreme = work / "extreme.csv"
    with extreme.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([rows[0], *([f"{'-+'[i % 2]}3e38", "0", row[-1]]
                                             for i, row in enumerate(rows[1:]))])
    r = run_cli(["predict", str(base.model), "--csv", str(extreme), "--out",
                 str(work / "x.csv")], (work / "x.csv",))
    yield "inputs ±3e38", "predict --out", _exit0(text_findings(r, False) | csv_findings(
        r.files.get(str(work / "x.csv"), "")), r)
    if base.classes:
        unknown = work / "unknown.csv"
        rows[1][-1] = "new\nlabel =cmd"
        csv.writer(unknown.open("w", newline="", encoding="utf-8")).writerows(rows)
        r = run_cli(["evaluate", str(base.model), "--csv", str(unknown),
                     f"--target={base.target}"])
        yield "unknown newline label", "evaluate", text_findings(r, True)


KINDS = [*LABELS, *(f"target:{i}" for i in range(len(TARGETS)))]


def campaign(kinds: list[str], n_extra: int = 20_000,
             log: Callable[[str], None] = lambda s: None) -> list[dict[str, Any]]:
    """Every case for the bases ``kinds``: a list of {base, case, command, findings}."""
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for base in train_bases(work, kinds):
            for case, command, found in [*cases(base, work), *extra_cases(base, work,
                                                                          n_extra)]:
                results.append({"base": base.name, "case": case, "command": command,
                                "findings": sorted(found)})
                if found:
                    log(f"{base.name:10} {case:22} {command:15} {', '.join(sorted(found))}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kinds", default=",".join(KINDS), help="bases to train")
    parser.add_argument("--extra", type=int, default=20_000, help="extra columns")
    parser.add_argument("--json", default=None, help="write every case here")
    args = parser.parse_args()
    import chainrule

    print(f"chainrule from {Path(chainrule.__file__).parent}")
    results = campaign(args.kinds.split(","), args.extra, log=print)
    by_kind = collections.Counter(k for r in results for k in r["findings"])
    unclean = sum(bool(r["findings"]) for r in results)
    print(f"\n{len(results)} cases, {unclean} unclean")
    print("| finding | cases |\n|---|---|")
    for kind in ("nonfinite", "formula", "mangled", "raw", "long", "lines", "slow"):
        print(f"| {kind} | {by_kind.get(kind, 0)} |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
