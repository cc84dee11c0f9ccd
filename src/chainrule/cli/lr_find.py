"""``chainrule lr-find``: the learning-rate range test (:func:`chainrule.health.lr_find.lr_find`)
on the network ``train`` would build from the same flags, on its training split.

Prints the sweep's result and the suggested rate, and writes ``lr_find.png`` (the smoothed
loss against η, suggestions marked) into ``--out`` (default: the current directory).
``chainrule train --lr auto`` runs the same test and trains at the suggestion.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from ..runs.config import optimizer_names
from ..runs.stages import batch_size_of, build, load_data, range_test, resolve_auto, split
from . import CLIError
from .common import describe_network
from .config import (
    UsageError,
    _choice,
    _float_type,
    _int_type,
    add_data_arguments,
    add_network_arguments,
    config_from_args,
    usage_error,
)

PLOT = "lr_find.png"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_data_arguments(p, defaults_from="digits")
    add_network_arguments(p)
    g = p.add_argument_group("training (as train takes them)")
    opts = optimizer_names()
    g.add_argument("--optimizer", type=_choice(opts, "optimizer"), default=None,
                   metavar="NAME", help=f"one of {', '.join(opts)} (default adam); its rate "
                   "is replaced by the sweep")
    g.add_argument("--batch-size", type=_int_type(1, "a positive integer"), default=None,
                   metavar="N", help="samples per step (default 32)")
    g.add_argument("--val-split", type=_float_type(0, 1, "a fraction in [0, 1)"), default=None,
                   metavar="F", help="fraction held out for validation (default 0.1)")
    g.add_argument("--test-split", type=_float_type(0, 1, "a fraction in [0, 1)"),
                   default=None, metavar="F", help="fraction held out for testing (default 0.2)")
    s = p.add_argument_group("sweep")
    positive = _float_type(0, math.inf, "a positive number", open_low=True)
    s.add_argument("--start", type=positive, default=1e-7, metavar="ETA",
                   help="first learning rate of the sweep (default 1e-7)")
    s.add_argument("--end", type=positive, default=10.0, metavar="ETA",
                   help="last learning rate of the sweep (default 10)")
    s.add_argument("--steps", type=_int_type(5, "an integer ≥ 5"), default=100, metavar="N",
                   help="steps of the sweep (default 100; it stops early once the loss "
                   "explodes)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help=f"directory for {PLOT} (default: the current directory)")


def run(args: argparse.Namespace) -> int:
    try:
        cfg = config_from_args(args)
        if not args.start < args.end:
            raise UsageError(f"--start {args.start:g} --end {args.end:g}: the sweep needs "
                             "start < end")
    except UsageError as exc:
        return usage_error(args, exc)
    out = Path(args.out) if args.out is not None else Path(".")
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out {out}: exists and is not a directory; give a directory")
    ds = load_data(cfg)
    splits = split(cfg, ds)
    cfg = resolve_auto(cfg, ds, splits)  # a batch size "auto" (the table recipe) as train
    net = build(cfg, ds, splits)
    result = range_test(cfg, net, ds, splits, start=args.start, end=args.end,
                        steps=args.steps)
    print(f"{ds.name}: network {describe_network(net)}, {cfg.activation} → "
          f"{net.output_activation}, loss {net.loss_fn.name}, {cfg.optimizer}, batch "
          f"{min(batch_size_of(cfg), len(splits.X_train))}, {len(splits.X_train)} training "
          "samples", flush=True)
    print(result)
    try:
        out.mkdir(parents=True, exist_ok=True)
        path = result.plot(out / PLOT)
    except ImportError as exc:
        raise CLIError(f"the plot needs matplotlib ({exc}); install it with: "
                       "pip install 'chainrule[cli]'") from exc
    except OSError as exc:
        raise CLIError(f"--out {out}: cannot write {PLOT} "
                       f"({exc.strerror or type(exc).__name__}); choose another --out"
                       ) from None
    print(f"wrote {path}")
    print(f"next: chainrule train --lr {result.suggestion:.3g} … (or --lr auto)")
    return 0
