"""Hostile-table campaign: CSV files and in-memory tables built to break the table readers.

Each case is a table with one hostile thing in it: a number too large for the network's
dtype in every notation the readers accept (exponent, many digits, thousands separators,
currency, percent, decimal comma), a regression target that overflows, a column whose
variance overflows, an encoding (byte-order marks, UTF-16/32 without one, Windows-1252),
NUL bytes, control characters and line breaks in names and labels, huge fields, ragged
rows. Each file is run through ``chainrule train --csv`` (two epochs, in a child process,
with a wall-clock limit and its peak memory read from ``wait4``) and through the library
(``load_csv`` then a fitted ``TableEncoder`` in float32, and its ``standardizer``);
in-memory tables (a DataFrame, a dict of columns) through the encoder only.

An outcome is **clean** when the run succeeds, or fails with one line — ``error: ...`` for
the CLI, a :class:`~chainrule.errors.FileFormatError` or
:class:`~chainrule.table.TableError` for the library — that names the file (and, for a
case about one cell, its row and column), with no control character in it. It is
**unclean** for a traceback, any warning text (NumPy's ``RuntimeWarning`` among them), an
exception of another type, a message without its place, a run over 10 s, or a peak over
twice the input plus 200 MB.

    python bench/hostile_tables.py                 # every case, this checkout
    PYTHONPATH=/work/old/src python bench/hostile_tables.py --only lib   # another release

``tests/test_hostile_tables.py`` drives :func:`cell_cases` and :func:`library_outcome` with
Hypothesis for CI.
"""

from __future__ import annotations

import argparse
import codecs
import collections
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: Wall-clock limit a case must finish in, and the memory allowance beyond twice the input.
LIMIT_S = 10.0
MEMORY_SLACK = 200 << 20
ROWS = 40


@dataclass
class Case:
    """One hostile table: ``data`` is a file's bytes (a CSV) or an in-memory table;
    ``place`` says what the message must name when the case is refused: ``"cell"`` (its
    row and column) or ``"file"``."""

    name: str
    kind: str
    data: bytes | Any
    place: str = "file"
    args: list[str] = field(default_factory=list)
    dtype: str = "float32"
    suffix: str = ".csv"


# -- the tables -----------------------------------------------------------------------------
def _base_rows(regression: bool = False) -> list[list[str]]:
    rng = np.random.default_rng(0)
    rows = [["a", "b", "y"]]
    for i in range(ROWS):
        y = f"{i * 0.37:.2f}" if regression else ("yes" if i % 2 else "no")
        rows.append([f"{rng.normal():.4f}", f"{rng.normal():.4f}", y])
    return rows


def _csv(rows: list[list[str]], sep: str = ",") -> str:
    def cell(c: str) -> str:
        return '"' + c.replace('"', '""') + '"' if any(ch in c for ch in f'{sep}"\n\r') else c
    return "\n".join(sep.join(cell(c) for c in row) for row in rows) + "\n"


def _with_cell(text: str, col: int = 0, row: int = 5, regression: bool = False,
               sep: str = ",") -> bytes:
    rows = _base_rows(regression)
    rows[row][col] = text
    return _csv(rows, sep).encode()


#: Numbers too large for float32 (and some for float64), in each notation the readers parse.
OVERFLOWING = {
    "exponent 1e200": "1e200",
    "exponent -1e39": "-1e39",
    "exponent 3.3e38": "3.3e38",
    "exponent 1e400": "1e400",
    "exponent 1.7e308": "1.7e308",
    "digits 50": "9" * 50,
    "digits 400": "9" * 400,
    "digits 100k": "9" * 100_000,
    "thousands 15 groups": "1," + ",".join(["000"] * 15),
    "thousands 110 groups": "1," + ",".join(["000"] * 110),
    "currency $ 60 digits": "$" + "9" * 60,
    "currency € 400 digits": "€" + "9" * 400,
    "currency -$ thousands": "-$1," + ",".join(["000"] * 20),
    "percent 50 digits": "9" * 50 + "%",
    "percent 400 digits": "9" * 400 + "%",
}


def cell_cases() -> Iterator[Case]:
    """A feature cell (row 6 as a text editor counts, column ``a``) in each notation,
    and the same in the regression target; 1e300-scale values whose variance overflows."""
    for label, text in OVERFLOWING.items():
        yield Case(f"feature {label}", "overflow", _with_cell(text), "cell")
    yield Case("decimal comma 1,5e200", "overflow",
               _with_cell("1,5e200", sep=";"), "cell")
    for label in ("exponent 1e200", "digits 400", "exponent 1e400"):
        yield Case(f"target {label}", "overflow",
                   _with_cell(OVERFLOWING[label], col=2, regression=True), "cell")
    rows = _base_rows()
    for i in range(1, len(rows)):
        rows[i][0] = f"{(-1) ** i * (1 + i / 10)}e300"
    yield Case("variance of ±1e300 (float64)", "overflow", _csv(rows).encode(), "cell",
               ["--dtype", "float64"], "float64")
    yield Case("variance of ±1e300 (float32)", "overflow", _csv(rows).encode(), "cell")


def _encoded(text: str, encoding: str, bom: bytes = b"") -> bytes:
    return bom + codecs.encode(text, encoding)


def encoding_cases() -> Iterator[Case]:
    """The same small table in each encoding and byte order, with and without a mark;
    NUL bytes where no encoding explains them; Windows-1252 text."""
    text = _csv(_base_rows()).replace("yes", "sí")
    for enc, bom in (("utf-8", codecs.BOM_UTF8), ("utf-16-le", codecs.BOM_UTF16_LE),
                     ("utf-16-be", codecs.BOM_UTF16_BE), ("utf-32-le", codecs.BOM_UTF32_LE),
                     ("utf-32-be", codecs.BOM_UTF32_BE)):
        yield Case(f"{enc} with BOM", "encoding", _encoded(text, enc, bom))
        if enc != "utf-8":
            yield Case(f"{enc} without BOM", "encoding", _encoded(text, enc))
    yield Case("cp1252", "encoding", text.encode("cp1252"))
    yield Case("utf-16 with BOM, no target column", "encoding",
               _encoded(text.replace(",y\n", ",z\n", 1), "utf-16-le", codecs.BOM_UTF16_LE))
    yield Case("NUL in the header", "nul", b"a\0,b,y\n" + _csv(_base_rows())[6:].encode())
    rows = _base_rows()
    yield Case("NUL in a cell", "nul", _with_cell("1\x002"), "row")
    yield Case("NUL in a label", "nul", _csv([*rows, ["0.1", "0.2", "n\x00o"]]).encode())
    yield Case("binary noise", "nul", bytes(np.random.default_rng(1).integers(0, 256, 5000,
                                                                              dtype=np.uint8)))


def text_cases() -> Iterator[Case]:
    """Control characters and line breaks in names and labels; huge fields; ragged rows."""
    rows = _base_rows()
    rows[0][0] = "a\x1b[31mred"
    yield Case("escape sequence in a header name", "control", _csv(rows).encode())
    rows = _base_rows()
    rows[0][2] = "target\nline two"
    yield Case("line break in the target's name", "control", _csv(rows).encode())
    rows = _base_rows()
    for i in range(1, len(rows)):
        rows[i][2] = "first line\nsecond" if i % 2 else "x\r\x07y"
    yield Case("line breaks in labels", "control", _csv(rows).encode())
    rows = _base_rows()
    rows[1][2] = "only\nonce"
    for i in range(2, len(rows)):
        rows[i][2] = "same"
    yield Case("one class, its label with a line break", "control", _csv(rows).encode())
    header = [f"c{i}\n" for i in range(2000)] + ["z"]
    yield Case("2000 names with line breaks, no target", "control",
               _csv([header, *([["1"] * 2001] * 3)]).encode())
    yield Case("a 200 KB field", "huge", _with_cell("x" * 200_000))
    yield Case("a 10 MB line", "huge", _with_cell("1" * (10 << 20)))
    rows = _base_rows()
    rows[7].append("extra")
    yield Case("a row with an extra cell", "ragged", _csv(rows).encode(), "row")
    rows = _base_rows()
    rows[7].pop()
    yield Case("a row with a cell short", "ragged", _csv(rows).encode(), "row")
    yield Case("empty file", "ragged", b"")
    yield Case("header only", "ragged", b"a,b,y\n")


def memory_cases() -> Iterator[Case]:
    """In-memory tables (no file): a dict of columns and, where pandas is installed, a
    DataFrame, each with a value the encoder's float32 cannot hold."""
    good = {"a": list(np.linspace(-1, 1, ROWS)), "b": [f"c{i % 3}" for i in range(ROWS)]}
    yield Case("dict: float 1e200", "overflow", {**good, "a": [*good["a"][:-1], 1e200]}, "cell")
    yield Case("dict: int 10**400", "overflow", {**good, "a": [*range(ROWS - 1), 10 ** 400]},
               "cell")
    yield Case("dict: text '$' + 60 digits", "overflow",
               {**good, "a": [*(str(x) for x in range(ROWS - 1)), "$" + "9" * 60]}, "cell")
    yield Case("dict: ±1e300 (float64)", "overflow",
               {**good, "a": [(-1) ** i * 1e300 * (1 + i / 10) for i in range(ROWS)]}, "cell",
               dtype="float64")
    yield Case("dict: label with NUL and line break", "control",
               {**good, "b": [f"c{i % 3}\x00\n" for i in range(ROWS)]})
    try:
        import pandas as pd
    except ImportError:
        return
    yield Case("DataFrame: float 1e200", "overflow",
               pd.DataFrame({**good, "a": [*good["a"][:-1], 1e200]}), "cell")
    yield Case("DataFrame: object ints 10**400", "overflow",
               pd.DataFrame({**good, "a": pd.Series([*range(ROWS - 1), 10 ** 400],
                                                    dtype=object)}), "cell")
    yield Case("DataFrame: ±1e300 (float64)", "overflow",
               pd.DataFrame({**good, "a": [(-1) ** i * 1e300 * (1 + i / 10)
                                           for i in range(ROWS)]}), "cell", dtype="float64")


def parquet_cases() -> Iterator[Case]:
    """Parquet files (pandas and pyarrow installed) with a number past the accepted range
    and one too large for float32."""
    try:
        import pandas as pd
        import pyarrow  # noqa: F401
    except ImportError:
        return
    rows = _base_rows()[1:]
    for label, big in (("1.7e308", 1.7e308), ("1e200", 1e200)):
        a = [float(r[0]) for r in rows]
        a[4] = big
        frame = pd.DataFrame({"a": a, "b": [float(r[1]) for r in rows],
                              "y": [r[2] for r in rows]})
        yield Case(f"parquet {label}", "overflow", frame, "cell", suffix=".parquet")


def all_cases() -> list[Case]:
    return [*cell_cases(), *encoding_cases(), *text_cases(), *memory_cases(),
            *parquet_cases()]


def write_case(case: Case, path: Path) -> Path | None:
    """``case`` as a file at ``path`` (its suffix added); None for an in-memory table."""
    if isinstance(case.data, bytes):
        path = path.with_suffix(case.suffix)
        path.write_bytes(case.data)
        return path
    if case.suffix == ".parquet":
        path = path.with_suffix(".parquet")
        case.data.to_parquet(path)
        return path
    return None


# -- judging --------------------------------------------------------------------------------
def _unprintable(text: str) -> bool:
    return any(not ch.isprintable() for ch in text)


def judge_message(message: str, case: Case, file_name: str | None) -> str | None:
    """Why a refusal's message is not clean, or None: more than one line, a control
    character, warning text, or a place it should name and does not."""
    if "\n" in message.strip() or _unprintable(message.strip()):
        return "message is not one printable line"
    if "Warning" in message or "Traceback" in message:
        return "warning or traceback text"
    if file_name is not None and file_name not in message:
        return "message does not name the file"
    if case.place == "cell" and not ("row" in message and "column" in message):
        return "message does not name the row and column"
    if case.place == "row" and "row" not in message:
        return "message does not name the row"
    return None


def library_outcome(case: Case, path: Path | None) -> str | None:
    """Run ``case`` through the library (in this process); None when clean, else why."""
    from chainrule.errors import FileFormatError

    from chainrule.table import TableEncoder, TableError

    def run() -> None:
        if path is not None:
            from chainrule.datasets import load_csv
            table = load_csv(path, "y").table
        else:
            table = case.data
        enc = TableEncoder().fit(table)
        X = enc.transform(table, np.dtype(case.dtype))
        scaler = enc.standardizer(X)
        if not (np.all(np.isfinite(X)) and np.all(np.isfinite(scaler.scale))):
            raise AssertionError("non-finite features without an error")

    tracemalloc.start()
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            run()
            why = None
        except (FileFormatError, TableError) as exc:
            why = judge_message(str(exc), case, path.name if path is not None else None)
        except Exception as exc:  # noqa: BLE001  any other type is the finding
            why = f"raw {type(exc).__name__}: {str(exc)[:80]!r}"
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    size = path.stat().st_size if path is not None else 0
    if caught:
        why = why or f"warning: {caught[0].category.__name__}: {str(caught[0].message)[:60]}"
    if elapsed > LIMIT_S:
        why = why or f"took {elapsed:.1f} s"
    if peak > 2 * size + MEMORY_SLACK:
        why = why or f"peak {peak >> 20} MB"
    return why


def cli_outcome(case: Case, path: Path, out: Path, model: Path | None = None) -> str | None:
    """Run ``chainrule train --csv`` on ``path`` in a child (``predict --csv`` with
    ``model``); None when clean, else why."""
    cmd = [sys.executable, "-m", "chainrule", "train", "--csv", str(path), "--target", "y",
           "--epochs", "2", "--out", str(out), *case.args]
    if model is not None:
        cmd = [sys.executable, "-m", "chainrule", "predict", str(model), "--csv", str(path),
               "--out", str(out.with_suffix(".predictions.csv"))]
    start = time.perf_counter()
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(cmd, stdout=stdout, stderr=stderr, env=os.environ.copy())
        rusage = None
        while time.perf_counter() - start < LIMIT_S + 20:
            pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.05)
        else:
            proc.kill()
            proc.wait()
            return "over the time limit (killed)"
        elapsed = time.perf_counter() - start
        rc = os.waitstatus_to_exitcode(status)
        stderr.seek(0)
        err = stderr.read().decode(errors="replace")
    if "Traceback" in err or "Warning:" in err:
        return "traceback or warning text on stderr"
    if elapsed > LIMIT_S:
        return f"took {elapsed:.1f} s"
    if rusage is not None and rusage.ru_maxrss * 1024 > 2 * path.stat().st_size + MEMORY_SLACK:
        return f"peak {rusage.ru_maxrss >> 10} MB"
    if rc == 0:
        return None
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    if len(lines) != 1:
        return f"exit {rc} without one 'error:' line"
    return judge_message(lines[0], case, path.name)


def c_is_target_case(case: Case) -> bool:
    """A case about the target column, which ``predict`` does not read."""
    return case.name.startswith("target") or "label" in case.name


def _model(tmp: Path) -> Path | None:
    """A model trained on the clean table, for ``predict`` to run on each hostile file."""
    data = tmp / "clean.csv"
    data.write_text(_csv(_base_rows()))
    done = subprocess.run([sys.executable, "-m", "chainrule", "train", "--csv", str(data),
                           "--target", "y", "--epochs", "2", "--quiet", "--out",
                           str(tmp / "clean")], capture_output=True, check=False)
    model = tmp / "clean" / "model.safetensors"
    return model if done.returncode == 0 and model.exists() else None


def run(cases: list[Case], only: str, verbose: bool) -> dict[str, collections.Counter[str]]:
    """Every case through the CLI and the library; counts by kind (cases, unclean)."""
    tally: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    with tempfile.TemporaryDirectory() as tmp:
        model = _model(Path(tmp)) if only in ("all", "cli") else None
        for k, case in enumerate(cases):
            path = write_case(case, Path(tmp) / f"case{k}")
            checks: list[tuple[str, Callable[[], str | None]]] = []
            if only in ("all", "lib"):
                checks.append(("lib", lambda c=case, p=path: library_outcome(c, p)))
            if only in ("all", "cli") and path is not None:
                checks.append(("cli", lambda c=case, p=path, k=k: cli_outcome(
                    c, p, Path(tmp) / f"run{k}")))
                if model is not None and not c_is_target_case(case):
                    checks.append(("predict", lambda c=case, p=path, k=k: cli_outcome(
                        c, p, Path(tmp) / f"predict{k}", model)))
            for where, check in checks:
                why = check()
                tally[case.kind][f"{where} cases"] += 1
                if why is not None:
                    tally[case.kind][f"{where} unclean"] += 1
                    print(f"UNCLEAN [{where}] {case.name}: {why}", flush=True)
                elif verbose:
                    print(f"clean   [{where}] {case.name}", flush=True)
    return tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("all", "lib", "cli"), default="all")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    tally = run(all_cases(), args.only, args.verbose)
    wheres = ("lib", "cli", "predict")
    print(f"\n{'kind':<10}" + "".join(f" {w + ' cases':>13} {'unclean':>7}" for w in wheres))
    total: collections.Counter[str] = collections.Counter()
    for kind, c in [*sorted(tally.items()), ("total", total)]:
        if kind != "total":
            total.update(c)
        print(f"{kind:<10}" + "".join(f" {c[w + ' cases']:>13} {c[w + ' unclean']:>7}"
                                     for w in wheres))
    return 1 if any(total[w + " unclean"] for w in wheres) else 0


if __name__ == "__main__":
    sys.exit(main())
