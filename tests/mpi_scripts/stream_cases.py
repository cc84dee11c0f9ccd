"""A streamed fit run under ``mpirun`` by tests/test_stream_distributed.py.

Every rank opens the table file (pass 1 and pass 2 over the whole file), builds the same
float64 network and trains it with ``chainrule.distributed.stream.fit_stream_mpi``, reading
only its stripes; then writes ``OUT_DIR/params.rank<r>.npy``, ``history.rank<r>.json``
(the history and the test metrics of ``evaluate_stream_mpi``) and ``shm.rank<r>.txt`` (the
MPICH shared-memory segments it mapped).

:func:`run` is the fit itself, so the test can run it in one process as the reference.

Usage: python stream_cases.py OUT_DIR FILE TARGET [--batch B] [--buffer R] [--epochs E]
[--dropout P] [--chunk-bytes N] [--fail {raise,sigkill,exit0}] [--fail-rank R]
[--resume-from NPZ --start EPOCH BATCH]

``--fail``: rank R raises, SIGKILLs itself or calls ``os._exit(0)`` after batch 3 of epoch
2, writing ``OUT_DIR/left.time`` first.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from typing import Any


def options(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("out_dir")
    parser.add_argument("file")
    parser.add_argument("target")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--buffer", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--chunk-bytes", type=int, default=400)
    parser.add_argument("--fail", choices=["raise", "sigkill", "exit0"], default=None)
    parser.add_argument("--fail-rank", type=int, default=1)
    parser.add_argument("--resume-from", default=None,
                        help="an .npz of params, t and the optimizer's slots (slot_<name>)")
    parser.add_argument("--start", type=int, nargs=2, default=None, metavar=("EPOCH", "BATCH"))
    return parser.parse_args(argv)


def build(args: argparse.Namespace, network: Any = None) -> tuple[Any, Any]:
    """The stream and its network, built by ``network`` (default ``stream_network``; the
    ranks use ``stream_network_mpi``, pass 2 shared)."""
    from chainrule.datasets.stream import TableStream
    from chainrule.training.stream import stream_network

    stream = TableStream(args.file, args.target, chunk_bytes=args.chunk_bytes, seed=3,
                         val_split=0.15, test_split=0.15)
    options = {"hidden": (8, 6), "seed": 1, "dtype": "float64", "dropout": args.dropout}
    if network is None:
        return stream_network(stream, **options), stream
    return network(stream, batch_size=args.batch, **options), stream


def run(args: argparse.Namespace, fit: Any, on_batch: Any = None, network: Any = None
        ) -> tuple[Any, Any, Any]:
    """Train with ``fit`` (fit_stream or fit_stream_mpi) the network ``network`` builds
    (see :func:`build`): the network, its history, the stream."""
    net, stream = build(args, network)
    optimizer: Any = "adam"
    if args.resume_from is not None:  # the state saved after batch args.start of an epoch
        import numpy as np

        from chainrule.training.optimizers import get_optimizer

        saved = np.load(args.resume_from, allow_pickle=False)
        net.params[...] = saved["params"]
        optimizer = get_optimizer("adam")
        optimizer.t = int(saved["t"])
        optimizer.state = {k[5:]: saved[k].copy() for k in saved.files if k.startswith("slot_")}
    history = fit(net, stream, epochs=args.epochs, batch_size=args.batch,
                  buffer_rows=args.buffer, seed=5, optimizer=optimizer, on_batch=on_batch,
                  start=None if args.start is None else tuple(args.start))
    return net, history, stream


def main(argv: list[str] | None = None) -> int:
    args = options(argv)
    import numpy as np

    from chainrule.distributed import rank
    from chainrule.distributed.stream import (
        evaluate_stream_mpi,
        fit_stream_mpi,
        stream_network_mpi,
    )

    me = rank()
    sys.path.insert(0, os.path.dirname(__file__))
    from train_cases import _mpich_segments

    with open(os.path.join(args.out_dir, f"shm.rank{me}.txt"), "w") as f:
        f.write("".join(p + "\n" for p in _mpich_segments()))

    def leave(epoch: int, batch: int, rows: int) -> None:
        if me == args.fail_rank and (epoch, batch) == (2, 3):
            with open(os.path.join(args.out_dir, "left.time"), "w") as f:
                f.write(repr(time.time()))
            if args.fail == "raise":
                raise RuntimeError(f"deliberate failure on rank {me} at epoch 2, batch 3")
            if args.fail == "exit0":
                os._exit(0)
            os.kill(os.getpid(), signal.SIGKILL)

    net, history, stream = run(args, fit_stream_mpi, leave if args.fail else None,
                               stream_network_mpi)
    test = evaluate_stream_mpi(net, stream, "test", batch_size=args.batch)
    np.save(os.path.join(args.out_dir, f"params.rank{me}.npy"), net.params, allow_pickle=False)
    with open(os.path.join(args.out_dir, f"history.rank{me}.json"), "w") as f:
        json.dump({"history": history, "test": test}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
