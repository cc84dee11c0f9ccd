"""``chainrule graph MODEL --sample N``: the computation graph of one sample — every z, a
and the cost as nodes, every w as an edge, with the engine's forward values and backward
gradients — as SVG (default), Graphviz DOT or a PNG figure. See :mod:`chainrule.graph`.
"""

from __future__ import annotations

import argparse
import sys

from ..io.atomic import atomic_write_bytes
from ..notes.graph import MAX_WEIGHTS, computation_graph
from ..notes.graph_draw import left_out_notes
from . import CLIError
from .config import UsageError, add_data_arguments, usage_error
from .explain import member_of, one_sample


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="a model.safetensors file")
    p.add_argument("--sample", type=int, default=0,
                   help="row of the data set (0-based; default 0)")
    p.add_argument("--layer", type=int, default=None,
                   help="show the neighbourhood of a unit of the notes' layer l, 1 … L")
    p.add_argument("--neuron", type=int, default=None,
                   help="unit j of --layer (default: its largest |δ_j|)")
    p.add_argument("--per-layer", type=int, default=8,
                   help="draw at most this many units of each layer: a wider layer shows "
                   "those that matter most to the sample's C_0 (default 8)")
    p.add_argument("--max-units", type=int, default=50,
                   help="draw at most this many nodes in all (default 50)")
    p.add_argument("--all", action="store_true",
                   help="draw every unit and weight, however large the network")
    p.add_argument("--member", type=int, default=None,
                   help="for an ensemble model: the member whose graph to draw, 0 … K−1 "
                   "(default 0)")
    p.add_argument("--format", choices=("svg", "dot", "png"), default="svg",
                   help="svg (every number, default), Graphviz dot, or png (the overview "
                   "figure, matplotlib; needs -o)")
    p.add_argument("-o", "--out", default=None,
                   help="write here (atomically) instead of standard output")
    add_data_arguments(p, defaults_from="the model's training data")
    p.add_argument("--seed", type=int, default=None, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    if args.neuron is not None and args.layer is None:
        raise CLIError("--neuron: give --layer too (the notes' l, 1 … L)")
    if args.format == "png" and args.out is None:
        raise CLIError("--format png: give -o FILE.png (a PNG is not written to standard output)")
    try:
        loaded, _, x, target = one_sample(args)
    except UsageError as exc:
        return usage_error(args, exc)
    net = member_of(loaded.net, args.member, say=False)  # stdout stays the SVG/DOT alone
    n_weights = sum(d.w.size for d in net.dense_layers)
    if args.all and args.layer is None and n_weights > MAX_WEIGHTS:
        raise CLIError(f"--all: this network has {n_weights:,} weights, more than the "
                       f"{MAX_WEIGHTS:,} one drawing holds; draw it with --per-layer K")
    try:
        graph = computation_graph(net, x, target, layer=args.layer, j=args.neuron,
                                  max_units=None if args.all else args.max_units,
                                  per_layer=None if args.all else args.per_layer)
    except ValueError as exc:
        name, _, rest = str(exc).partition(":")
        flag = {"j": "--neuron", "layer": "--layer", "max_units": "--max-units",
                "per_layer": "--per-layer", "net": args.model}.get(name, name)
        raise CLIError(f"{flag}:{rest}") from None
    graph.sample = args.sample
    if args.format == "png":
        from ..notes.graph_plot import plot_graph  # matplotlib, imported only here

        print(f"wrote {plot_graph(graph, args.out)}")
    else:
        text = graph.to_svg() if args.format == "svg" else graph.to_dot()
        if args.out is None:
            sys.stdout.write(text)
        else:
            atomic_write_bytes(args.out, text.encode("utf-8"))
            print(f"wrote {args.out}")
    if graph.left_out:  # on stderr (stdout stays the SVG/DOT alone), once it is written:
        print(f"graph: {'; '.join(left_out_notes(graph))} (--all draws every unit)",
              file=sys.stderr)  # a failed write says one line, its error
    return 0
