"""``chainrule info MODEL``: architecture table, parameter count, training summary."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from ..engine.layers import Dense, Dropout
from ..io.model import read_model


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="a model.safetensors file")
    p.add_argument("--json", action="store_true", help="print the metadata as JSON")


def shown(value: Any, limit: int = 200) -> str:
    """A value read from the file, printed as one line: control characters (a newline, a
    terminal escape) escaped as ``repr`` writes them, cut to ``limit`` characters."""
    text = str(value)
    if any(not c.isprintable() for c in text):
        text = repr(text)[1:-1]
    return text if len(text) <= limit else text[: limit - 3] + "..."


def training_lines(tr: dict[str, Any]) -> list[str]:
    """The training summary as the file holds it: each fact printed only when it is there
    (a model saved by the playground holds its data set, step and link, not a run's
    splits, epochs or date)."""
    config = tr.get("config")
    c = config if isinstance(config, dict) else {}
    data = c.get("csv") or c.get("npz") or c.get("dataset") or tr.get("dataset")
    words = [f"trained on {shown(data)}" if data is not None else "trained"]
    sizes = [f"{tr[k]} {name}" for k, name in (("n_train", "train"), ("n_val", "val"),
                                                ("n_test", "test")) if tr.get(k) is not None]
    if sizes:
        words.append(f"({', '.join(sizes)})")
    for key, unit in (("epochs_run", "epochs"), ("step", "steps")):
        if tr.get(key) is not None:
            words.append(f"for {shown(tr[key])} {unit}")
    if tr.get("train_seconds") is not None:
        words.append(f"in {shown(tr['train_seconds'])} s")
    if tr.get("date") is not None:
        words.append(f"on {shown(tr['date'])}")
    if tr.get("source") is not None:
        words.append(f"by {shown(tr['source'])}")
    lines = [" ".join(words)] if len(words) > 1 or data is not None else []
    if tr.get("link") is not None:
        lines.append(f"link: {shown(tr['link'], 2000)}")
    return lines


def run(args: argparse.Namespace) -> int:
    loaded = read_model(args.model)
    net, meta = loaded.net, loaded.metadata
    if args.json:
        print(json.dumps(meta, indent=2, default=str))
        return 0
    print(f"{args.model}  (chainrule {shown(meta.get('chainrule_version'))}, format version 1)")
    print(f"{'layer':>5}  {'type':<8}{'shape (n_out, n_in)':>20}  {'activation':<22}"
          f"{'params':>9}")
    layer_index = 0
    print(f"{0:>5}  {'input':<8}{net.n_in:>20}")
    for layer in net.layers:
        if isinstance(layer, Dense):
            layer_index += 1
            n = sum(math.prod(shape) for _, shape in layer.param_shapes())
            act = ", ".join(f"{k}={v}" for k, v in layer.activation.get_config().items()
                            if k != "name")
            act = layer.activation.name + (f" ({act})" if act else "")
            members = getattr(layer, "members", None)  # an ensemble's K stacked members
            shape = (f"({members}, {layer.n_out}, {layer.n_in})" if members
                     else f"({layer.n_out}, {layer.n_in})")
            print(f"{layer_index:>5}  {'Dense':<8}{shape:>20}  {act:<22}{n:>9,}")
        elif isinstance(layer, Dropout):
            print(f"{'':>5}  {'Dropout':<8}{'':>20}  {'rate ' + str(layer.rate):<22}{0:>9}")
        else:  # an embedding or another layer type: its name, widths and parameters
            n = sum(math.prod(shape) for _, shape in layer.param_shapes())
            widths = (f"({getattr(layer, 'n_out', '?')}, {getattr(layer, 'n_in', '?')})")
            left = f"{'':>5}  {type(layer).__name__:<8}"  # columns kept under a long name
            print(f"{left}{widths:>{max(35 - len(left), len(widths) + 1)}}  {'':<22}{n:>9,}")
    print(f"total parameters: {net.n_params:,}   dtype {net.dtype.name}   loss "
          f"{net.loss_fn.name}   l2 {net.l2:g}")
    if net.classes is not None:
        print(f"classes ({len(net.classes)}): {shown(', '.join(map(shown, net.classes)), 2000)}")
    scaler = f"standardizes {net.scaler.n_features} features" if net.scaler else "none"
    print(f"scaler: {scaler}")
    if net.encoder is not None:
        enc = net.encoder
        print(f"input columns ({len(enc.inputs)} used, {len(enc.dropped)} dropped; "
              f"{enc.n_out} features), matched by name:")
        names = [c if c.strip() else repr(c) for c, _, _ in enc.schema()]  # '' is R's index
        width = max(len(name) for name in names)
        for name, (_, kind, detail) in zip(names, enc.schema(), strict=True):
            print(f"  {name:<{width}}  {kind:<8}  {detail}")
    if net.optimizer is not None:
        cfg = net.optimizer.get_config()
        sched = cfg["lr"] if isinstance(cfg["lr"], dict) else {"name": "constant", "lr": cfg["lr"]}
        extra = ", ".join(f"{k}={v}" for k, v in sched.items() if k not in ("name", "lr"))
        print(f"optimizer: {cfg['name']}, lr {sched['lr']:g} ({sched['name']}"
              f"{', ' + extra if extra else ''}), {net.optimizer.t} steps taken")
    tr = loaded.training
    for line in training_lines(tr):
        print(line)
    test = tr.get("test")
    floats = ({k: v for k, v in test.items() if isinstance(v, float)}
              if isinstance(test, dict) else {})
    if floats:
        print("test: " + "  ".join(f"{shown(k, 40)} {v:.4f}" for k, v in floats.items()))
    return 0
