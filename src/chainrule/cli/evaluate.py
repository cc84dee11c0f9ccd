"""``chainrule evaluate MODEL``: the same test report as after training.

With no data flags the model's own training data is used, and its held-out test
split is rebuilt from the saved seed and fractions; a training table is found by the
absolute path the model records, from any working directory, and used only if it is
still the file trained on (its size and SHA-256). With data flags, that data; ``--csv``
alone takes the model's target column.
"""

from __future__ import annotations

import argparse
import json

from ..io.model import atomic_write_bytes, read_model
from .common import evaluate, load_model_data, model_data_config, model_labels, test_split_of
from .config import UsageError, _int_type, add_data_arguments, usage_error


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="a model.safetensors file")
    add_data_arguments(p, defaults_from="the model's training data")
    p.add_argument("--split", choices=["test", "all"], default=None,
                   help="evaluate the held-out test split (default for the training data) or "
                   "every sample (default for other data)")
    p.add_argument("--seed", type=_int_type(0, "a non-negative integer", 2**63 - 1),
                   default=None, help="seed of the split (default: saved)")
    p.add_argument("--json", metavar="PATH", default=None, help="also write the metrics here")


def run(args: argparse.Namespace) -> int:
    from ..health.report import format_report

    loaded = read_model(args.model)
    net = loaded.net
    source = loaded.training.get("config")
    try:
        cfg, own_data = model_data_config(args, args.model, source,
                                          loaded.training.get("table"))
    except UsageError as exc:
        return usage_error(args, exc)
    split = args.split or ("test" if own_data else "all")
    if split == "test" and source:  # the fractions the model was trained with
        cfg = cfg.replace(**{k: source[k] for k in ("val_split", "test_split") if k in source})
    ds = load_model_data(cfg, loaded.net, loaded.feature_names)
    X, y = test_split_of(ds, cfg) if split == "test" else (ds.X, ds.y)
    y = model_labels(net, ds, y, args.model, "evaluated")
    metrics = evaluate(net, X, y, ds.task, net.classes)
    print(f"{args.model} on {ds.name} ({split}: {len(X)} samples)")
    print(format_report(metrics))
    if args.json:
        atomic_write_bytes(args.json, (json.dumps(metrics, indent=2) + "\n").encode())
    return 0
