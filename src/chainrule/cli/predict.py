"""``chainrule predict MODEL --csv IN --out OUT.csv``: labels and class probabilities, or
values for regression, one row per input row.

Numbers are written with Python's ``repr``, the shortest text that reads back as the
same float: parsing OUT.csv gives exactly ``chainrule.load(MODEL).predict(X)``.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys

import numpy as np

from .. import datasets
from ..engine.network import Network
from ..io.model import atomic_write_bytes, read_model
from . import CLIError
from .common import NUMPY_MAGIC, check_input_file, model_features


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="a model.safetensors file")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--csv", metavar="IN", help="CSV with a header row holding the feature "
                     "columns the model was trained on (other columns are ignored)")
    src.add_argument("--npz", metavar="IN", help=".npz with an array X (no pickles)")
    src.add_argument("--npy", metavar="IN", help=".npy holding a 2-D feature array")
    p.add_argument("--out", metavar="OUT.csv", default="-",
                   help="where to write the predictions (default: standard output)")


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
    if args.csv:
        check_input_file(args.csv, "a CSV file with a header row")
        X = model_features(net, args.csv, loaded.feature_names)
    else:
        path = args.npz or args.npy
        check_input_file(path, "an .npy array or an .npz archive (numpy.save/savez)",
                         magic=NUMPY_MAGIC, expected="an .npy/.npz file")
        X = datasets.read_features_numpy(path)
    if X.shape[1] != net.n_in:
        raise CLIError(f"{args.csv or args.npz or args.npy}: {X.shape[1]} feature columns, "
                       f"but the model takes {net.n_in}")
    a = net.predict(X)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(_header(net, loaded.training.get("target_names") or []))
    if net.classes is not None:
        labels = net.predict_classes(X)
        for label, row in zip(labels, a, strict=True):
            writer.writerow([net.classes[label], *(repr(float(v)) for v in row)])
    else:
        for row in a:
            writer.writerow([repr(float(v)) for v in np.atleast_1d(row)])
    text = buf.getvalue()
    if args.out == "-":
        sys.stdout.write(text)
    else:
        atomic_write_bytes(args.out, text.encode("utf-8"))
        print(f"wrote {len(a)} predictions to {args.out}", file=sys.stderr)
    return 0
