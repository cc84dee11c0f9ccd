"""``chainrule predict MODEL --csv IN --out OUT.csv``: labels and class probabilities, or
values for regression, one row per input row.

Numbers are written in the model's precision, as the shortest text that reads back as
the same value of its float type (a float32 model writes ``1508.2782``, not the float64
digits ``1508.2781982421875`` of the same number): parsing OUT.csv and casting to the
model's dtype gives exactly ``chainrule.load(MODEL).predict(X)``. ``--keep ID`` (repeated,
or a comma list) puts those input columns first, as read. Text — class labels, target
names and kept cells, which come from the user's data — goes through
:func:`chainrule.io.safetext.csv_field`, so a label such as ``=HYPERLINK(…)`` is written
``'=HYPERLINK(…)`` and a spreadsheet shows it rather than running it. A multi-label
network's label cell lists the classes whose output is ≥ 0.5, separated by ``;``.

A prediction that is not finite (nan or inf: a model whose parameters or these inputs
overflow its float type) is an error naming the rows, unless ``--allow-nonfinite`` is
given: then the values are written as they are (``nan``, ``inf``, ``-inf``) and such a
row's label cell is left empty, since no class was predicted.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from .. import datasets
from ..engine.network import Network
from ..engine.validation import check_finite_outputs, nonfinite_rows
from ..io.model import atomic_write_bytes, read_model
from ..io.safetext import csv_field, csv_line, name_list
from ..table.columns import Table, TextColumn
from . import CLIError
from .common import NUMPY_MAGIC, check_input_file, model_features


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="a model.safetensors file")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--csv", metavar="IN", help="a table (CSV, Parquet or Excel) with a "
                     "header row holding the feature columns the model was trained on (other "
                     "columns are ignored)")
    src.add_argument("--npz", metavar="IN", help=".npz with an array X (no pickles)")
    src.add_argument("--npy", metavar="IN", help=".npy holding a 2-D feature array")
    p.add_argument("--out", metavar="OUT.csv", default="-",
                   help="where to write the predictions (default: standard output)")
    p.add_argument("--keep", metavar="COL", action="append", default=None,
                   help="an input column to copy into the output, first (an ID); repeat it "
                   "or give a comma list (with --csv)")
    p.add_argument("--allow-nonfinite", action="store_true",
                   help="write predictions that are nan or inf as they are (their label cell "
                   "left empty) instead of stopping with an error")


def _header(net: Network, target_names: list[str]) -> list[str]:
    if net.classes is None:
        if len(target_names) == net.n_out:
            return list(target_names)
        return [f"y{i}" for i in range(net.n_out)]
    if net.n_out == 1:
        return ["label", f"prob_{net.classes[1]}"]
    return ["label", *(f"prob_{c}" for c in net.classes)]


def run(args: argparse.Namespace) -> int:
    loaded = read_model(args.model)
    net = loaded.net
    keep = _keep_columns(args.keep)
    kept: Table | None = None
    if keep and not args.csv:
        raise CLIError("--keep: names columns of a table; use it with --csv")
    if args.csv:
        check_input_file(args.csv, "a CSV file with a header row (or a Parquet or Excel file)")
        X, kept = model_features(net, args.csv, loaded.feature_names, keep)
    else:
        path = args.npz or args.npy
        check_input_file(path, "an .npy array or an .npz archive (numpy.save/savez)",
                         magic=NUMPY_MAGIC, expected="an .npy/.npz file")
        X = datasets.read_features_numpy(path)
    source = args.csv or args.npz or args.npy
    if X.shape[1] != net.n_in:
        raise CLIError(f"{source}: {X.shape[1]} feature columns, "
                       f"but the model takes {net.n_in}")
    with np.errstate(all="ignore"):  # an overflow is reported below, as rows, not warnings
        a = np.asarray(net.predict(X, allow_nonfinite=True))  # checked below, by rows
    rows = ("data rows", 1) if args.csv else ("rows of X", 0)
    if not args.allow_nonfinite:
        check_finite_outputs(a, source, rows=rows[0], first=rows[1],
                             hint="; pass --allow-nonfinite to write them anyway")
    text = _csv_text(net, a, loaded.training.get("target_names") or [], kept)
    if args.out == "-":
        sys.stdout.write(text)
    else:
        atomic_write_bytes(args.out, text.encode("utf-8"))
        print(f"wrote {len(a)} predictions to {args.out}", file=sys.stderr)
    bad = nonfinite_rows(a)
    if bad.size:
        print(f"{source}: {bad.size} of {len(a)} predictions are not finite, written as "
              f"they are with an empty label: {rows[0]} "
              f"{name_list((int(i) + rows[1] for i in bad), limit=5)}", file=sys.stderr)
    return 0


def _keep_columns(values: list[str] | None) -> list[str]:
    """``--keep`` values (each a name or a comma list) as column names, in order, once."""
    names: list[str] = []
    for value in values or []:
        for name in value.split(","):
            if not name.strip():
                raise CLIError(f"--keep: expected column names (ID or ID,NAME), got {value!r}")
            if name.strip() not in names:
                names.append(name.strip())
    return names


def number_cells(a: np.ndarray) -> list[list[str]]:
    """Each value of ``a`` (n_samples, n_out) as the shortest text that reads back as the
    same value of ``a``'s float type (Python's ``repr`` for float64)."""
    a = a.reshape(len(a), -1)
    if a.dtype != np.float32:  # float64 (and anything else) as Python floats
        return [list(map(repr, row)) for row in a.astype(np.float64).tolist()]
    return [[str(v) for v in row] for row in a]  # NumPy's shortest float32 text


def kept_cells(kept: Table | None, n: int) -> list[list[str]]:
    """The cells of the kept columns per row, ready to join: text through
    :func:`~chainrule.io.safetext.csv_field`, whole numbers without ``.0``, missing empty."""
    if kept is None:
        return [[] for _ in range(n)]
    columns = []
    for col in kept.columns.values():
        if isinstance(col, TextColumn):
            vocab = [csv_field(v) for v in col.vocab]
            columns.append([vocab[c] if c >= 0 else "" for c in col.codes.tolist()])
        else:
            columns.append([_kept_number(v) for v in col.values.tolist()])
    return [list(row) for row in zip(*columns, strict=True)]


def _kept_number(v: float) -> str:
    if v != v:  # NaN: a missing cell
        return ""
    return str(int(v)) if v.is_integer() and abs(v) < 2**53 else repr(v)


def _csv_text(net: Network, a: np.ndarray, target_names: list[str],
              kept: Table | None = None) -> str:
    """The predictions ``a`` (n_samples, n_out) as CSV: a header, then per row the kept
    columns, the label (classification; empty where the row is not finite) and every
    output, in the model's precision."""
    front = list(kept.names) if kept is not None else []
    lines = [csv_line([*front, *_header(net, target_names)])]
    values = number_cells(a)
    before = [",".join(cells) + "," if cells else "" for cells in kept_cells(kept, len(a))]
    if net.classes is None:
        lines += [lead + ",".join(row) + "\n" for lead, row in zip(before, values, strict=True)]
        return "".join(lines)
    with np.errstate(invalid="ignore"):
        labels = np.asarray(net.classes_of(a))
    cells = [csv_field(c) for c in net.classes]
    finite = np.isfinite(a.reshape(len(a), -1)).all(axis=1)
    for lead, label, row, ok in zip(before, labels, values, finite, strict=True):
        cell = (cells[int(label)] if label.ndim == 0 else _labels_cell(label, net.classes)
                ) if ok else ""
        lines.append(lead + cell + "," + ",".join(row) + "\n")
    return "".join(lines)


def _labels_cell(on: np.ndarray, classes: list[object]) -> str:
    """The label cell of a multi-label network's row (a 0/1 per output): the classes
    predicted, separated by ``;``."""
    return csv_field(";".join(str(c) for c, flag in zip(classes, on, strict=True) if flag))
