"""``chainrule explain MODEL --sample N --layer L --j J --k K``: the notes' chain-rule
factors ∂C_0/∂w_jk^(l) = ∂C_0/∂a_j^(l) · g′(z_j^(l)) · a_k^(l−1) for one sample, with
numbers and a finite-difference check. With no weight given, every layer's weight with
the largest gradient on that sample is explained. ``--latex`` prints the same lines as
LaTeX ``aligned`` blocks (see :mod:`chainrule.explain_latex`).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from ..datasets.base import Dataset
from ..engine.ensemble import Ensemble
from ..engine.network import Network
from ..io.model import LoadedModel, read_model
from ..notes.explain import explain_layers, layer_chain_lines
from . import CLIError
from .common import encode_targets, load_model_data, map_labels, model_data_config
from .config import UsageError, add_data_arguments, usage_error


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="a model.safetensors file")
    p.add_argument("--sample", type=int, default=0,
                   help="row of the data set (0-based; default 0)")
    p.add_argument("--layer", type=int, default=None, help="the notes' layer l, 1 … L")
    p.add_argument("--j", type=int, default=None, help="node j of layer l")
    p.add_argument("--k", type=int, default=None, help="node k of layer l − 1")
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate for the update Δw = −η ∂C/∂w (default: the model's)")
    p.add_argument("--member", type=int, default=None,
                   help="for an ensemble model: the member whose chain rule to show, "
                        "0 … K−1 (default 0)")
    p.add_argument("--latex", action="store_true",
                   help="print each explanation as a LaTeX aligned block instead of text")
    add_data_arguments(p, defaults_from="the model's training data")
    p.add_argument("--seed", type=int, default=None, help=argparse.SUPPRESS)


def one_sample(args: argparse.Namespace) -> tuple[LoadedModel, Dataset, np.ndarray, np.ndarray]:
    """The model, its data set and row ``--sample`` of it as (x, encoded target), for
    explain and graph. Raises UsageError (exit 2) for inconsistent data flags."""
    loaded = read_model(args.model)
    net = loaded.net
    source = loaded.training.get("config")
    cfg, _ = model_data_config(args, args.model, source, loaded.training.get("table"))
    ds = load_model_data(cfg, loaded.net, loaded.feature_names)
    if not 0 <= args.sample < len(ds.X):
        raise CLIError(f"--sample: expected a row in 0..{len(ds.X) - 1} of {ds.name}, got "
                       f"{args.sample}")
    y = ds.y
    if ds.task == "classification":
        if net.classes is None:
            raise CLIError(f"{args.model}: the model has no class labels")
        y = map_labels(ds, y, net.classes)
    x = ds.X[args.sample : args.sample + 1]
    target = encode_targets(net, y[args.sample : args.sample + 1], ds.task)
    return loaded, ds, x, target


def member_of(net: Network, member: int | None, comment: str = "", *,
              say: bool = True) -> Network:
    """The network whose chain rule is shown: member ``member`` (default 0) of an ensemble,
    said in one line (on standard error unless ``say``: for output that must stay
    clean, such as graph's SVG); the model itself otherwise (where ``--member`` is
    refused)."""
    if not isinstance(net, Ensemble):
        if member is not None:
            raise CLIError(f"--member: the model is one network, not an ensemble; leave "
                           f"--member out (got {member})")
        return net
    K = net.members
    m = 0 if member is None else member
    if not 0 <= m < K:
        raise CLIError(f"--member: expected a member in 0..{K - 1} (the model is an "
                       f"ensemble of {K}), got {m}")
    print(f"{comment + ' ' if comment else ''}member {m} of an ensemble of {K} (--member "
          "picks another; in the ensemble its gradient is this one divided by K)",
          file=sys.stdout if say else sys.stderr)
    return net.member(m)


def run(args: argparse.Namespace) -> int:
    weight = (args.layer, args.j, args.k)
    if any(v is not None for v in weight) and any(v is None for v in weight):
        raise CLIError("--layer, --j, --k: give all three to pick a weight, or none to "
                       "explain the largest-gradient weight of every layer")
    try:
        loaded, ds, x, target = one_sample(args)
    except UsageError as exc:  # e.g. --target without --csv: exit 2, like train
        return usage_error(args, exc)
    net = member_of(loaded.net, args.member, "%" if args.latex else "")
    optimizer = loaded.net.optimizer
    lr = args.lr if args.lr is not None else (optimizer.lr if optimizer else None)
    if args.layer is not None:
        picks = [(args.layer, args.j, args.k)]
    else:
        net.gradient(x, target)
        picks = []
        for layer_index, dense in enumerate(net.dense_layers, start=1):
            assert dense.grad_w is not None
            j, k = np.unravel_index(int(np.argmax(np.abs(dense.grad_w))), dense.grad_w.shape)
            picks.append((layer_index, int(j), int(k)))
    label = f", label {ds.classes[int(ds.y[args.sample])]}" if ds.classes else ""
    print(f"{'% ' if args.latex else ''}{ds.name} sample {args.sample}{label}")
    try:  # one forward/backward and one batched finite-difference pass for every pick
        explanations = explain_layers(net, x, target, picks=picks, lr=lr)
        other = layer_chain_lines(net, x, target)  # layers that explain themselves
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    for e in explanations:
        print()
        if args.latex:
            print(e.to_latex())
            continue
        # explain() saw one row, so it calls it sample 0; name the data set's row instead
        print(str(e).replace("(sample 0,", f"(sample {args.sample},", 1))
    if other:
        print()
    for line in other:
        print(f"{'% ' if args.latex else ''}{line}")
    return 0
