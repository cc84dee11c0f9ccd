"""``chainrule gradcheck``: build the network ``train`` would build from the same flags
(a table's columns encoded by a :class:`~chainrule.table.TableEncoder` as ``train``
encodes them) and compare every layer's backprop gradient with central finite differences
(float64)."""

from __future__ import annotations

import argparse

import numpy as np

from .. import datasets
from ..notes.gradcheck import gradcheck
from . import CLIError
from .common import build_network, describe_network, encode_targets, fit_encoder, load_dataset
from .config import (
    UsageError,
    _int_type,
    add_data_arguments,
    add_network_arguments,
    config_from_args,
    usage_error,
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_data_arguments(p, defaults_from="digits")
    add_network_arguments(p)
    g = p.add_argument_group("check")
    g.add_argument("--samples", type=_int_type(1, "a positive integer"), default=8,
                   help="samples in the checked batch (default 8)")
    g.add_argument("--max-params", type=_int_type(1, "a positive integer"), default=25,
                   help="entries checked per w and b, chosen at random (default 25)")
    g.add_argument("--tol", type=float, default=1e-6,
                   help="largest acceptable relative error (default 1e-6)")


def run(args: argparse.Namespace) -> int:
    try:
        cfg = config_from_args(args)
    except UsageError as exc:
        return usage_error(args, exc)
    ds = load_dataset(cfg)
    if ds.table is not None:  # a table: encoded as train encodes it, before the network is sized
        ds.encode(fit_encoder(cfg, ds.table), np.float64)
    net = build_network(cfg, ds)
    net.scaler = (ds.encoder.standardizer(ds.X) if ds.encoder is not None
                  else ds.fit_scaler(ds.X))
    labels = ds.y if ds.task == "classification" else None
    s = datasets.split_indices(len(ds.X), val=0.0, test=0.0, labels=labels, seed=cfg.seed)
    idx = np.random.default_rng(cfg.seed).permutation(s.train)[: args.samples]
    X, Y = ds.X[idx], encode_targets(net, ds.y[idx], ds.task)
    report = gradcheck(net, X, Y, max_params_per_array=args.max_params, seed=cfg.seed)
    print(f"gradcheck on {ds.name}: {len(idx)} samples, network {describe_network(net)}, "
          f"{cfg.activation} → {net.output_activation}, loss {net.loss_fn.name} (float64)")
    print(report)
    for layer_index, err in report.per_layer().items():
        print(f"layer {layer_index}: max relative error {err:.3e}")
    if report.max_rel_error > args.tol:
        raise CLIError(f"max relative error {report.max_rel_error:.3e} exceeds --tol "
                       f"{args.tol:g}; backprop and finite differences disagree")
    print(f"ok: every checked gradient agrees within {args.tol:g}")
    return 0
