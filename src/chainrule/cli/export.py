"""``chainrule export MODEL --format onnx --out PATH``: hand the network to
:func:`chainrule.onnx.export` (needs the ``onnx`` extra)."""

from __future__ import annotations

import argparse
import importlib

from ..io.model import load
from . import CLIError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="a model.safetensors file")
    p.add_argument("--format", choices=["onnx"], default="onnx", help="target format")
    p.add_argument("--out", metavar="PATH", required=True, help="file to write, e.g. model.onnx")


def run(args: argparse.Namespace) -> int:
    net = load(args.model)
    try:
        onnx_module = importlib.import_module("chainrule.onnx")
    except ImportError as exc:
        raise CLIError(f"ONNX export is not available ({exc}); install it with: "
                       "pip install 'chainrule[onnx]'") from exc
    onnx_module.export(net, args.out)
    print(f"wrote {args.out}")
    return 0
