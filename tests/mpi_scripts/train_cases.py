"""Training cases run under ``mpirun`` by tests/test_distributed.py.

Importing this module builds nothing and does not import mpi4py, so the test can
rebuild every case in one process and train it with the ordinary ``fit`` as the
reference. Run as a script, every rank trains every case with
``chainrule.distributed.fit`` and writes its parameters and loss history to
``OUT_DIR/<case>.rank<r>.npy`` / ``.loss.npy``.

Every rank also writes ``OUT_DIR/shm.rank<r>.txt``, the MPICH shared-memory segments it
maps (the test checks that none is left in /dev/shm afterwards), and, after a run without
``--fail``, ``threads.rank<r>.json``, its BLAS thread counts.

Usage: python train_cases.py OUT_DIR [--case NAME ...] [--fail KIND [--fail-rank R]]

``--case`` trains only the cases named (default: every case).

KIND: ``fit`` (raise mid-training), ``after`` (raise after fit), ``data`` (different
data on one rank), ``exit0`` (``os._exit(0)`` mid-training), ``sigkill`` (SIGKILL
itself mid-training), ``stop`` (stop training early on one rank only and carry on).
The ``exit0`` and ``sigkill`` ranks write ``OUT_DIR/left.time`` (time.time()) first.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from typing import Any

import numpy as np

import chainrule as cr
from chainrule.datasets.synthetic import make

# Sizes chosen so that neither the data set nor the batch divides by 2 or 3, and the
# last batch of an epoch is smaller than the world size (empty shares on some ranks).
CASES: dict[str, dict[str, Any]] = {
    # float64, Adam, softmax + cross-entropy (fused δ = a − y), validation split drawn
    # from the network's generator: n_train = 81, batch 10 → last batch of 1.
    "f64_adam_softmax": dict(
        data=("moons", 101),
        net=dict(
            sizes=[2, 16, 8, 2],
            hidden="tanh",
            output="softmax",
            loss="cross_entropy",
            dtype="float64",
        ),
        fit=dict(epochs=6, batch_size=10, optimizer="adam", validation_split=0.2),
    ),
    # float64, momentum, squared error, L2, dropout (masks of the global batch):
    # 97 = 12·8 + 1, batch 8 not divisible by 3.
    "f64_momentum_dropout_l2": dict(
        data=("circles", 97),
        net=dict(
            sizes=[2, 12, 12, 1],
            hidden="relu",
            output="sigmoid",
            loss="squared_error",
            dropout=0.25,
            l2=1e-3,
            dtype="float64",
        ),
        fit=dict(epochs=5, batch_size=8, optimizer="momentum"),
    ),
    # float32, Adam, three classes: 250 = 15·16 + 10, batch 16.
    "f32_adam_spirals": dict(
        data=("spirals", 250),
        net=dict(
            sizes=[2, 32, 32, 3],
            hidden="relu",
            output="softmax",
            loss="cross_entropy",
            dtype="float32",
        ),
        fit=dict(epochs=5, batch_size=16, optimizer="adam"),
    ),
    # float64, Adam, dropout, sample weights 0..3 (a quarter of them zero: some shares and
    # maybe a whole last batch weigh nothing) times balanced class weights: the global
    # weighted mean Σ s_i ∇C_i / Σ s_i. 81 training samples, batch 10, last batch of 1.
    "f64_weighted_dropout": dict(
        data=("spirals", 101),
        net=dict(
            sizes=[2, 16, 3],
            hidden="tanh",
            output="softmax",
            loss="cross_entropy",
            dropout=0.2,
            dtype="float64",
        ),
        fit=dict(epochs=6, batch_size=10, optimizer="adam", validation_split=0.2,
                 class_weight="balanced"),
        sample_weight=(0, 4),  # integers in [0, 4), seeded
    ),
}


def build(name: str) -> tuple[cr.Network, np.ndarray, np.ndarray, dict[str, Any]]:
    """The network (seed 0), data and fit keywords of case ``name``."""
    case = CASES[name]
    kind, n = case["data"]
    X, y = make(kind, n, 0.1, seed=1)
    net_kwargs = dict(case["net"])
    sizes = net_kwargs.pop("sizes")
    net = cr.MLP(sizes, seed=0, **net_kwargs)
    fit = dict(case["fit"])
    if "sample_weight" in case:
        fit["sample_weight"] = np.random.default_rng(2).integers(*case["sample_weight"], n)
    return net, X, y, fit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out_dir")
    parser.add_argument(
        "--fail", choices=["fit", "after", "data", "exit0", "sigkill", "stop"], default=None
    )
    parser.add_argument("--fail-rank", type=int, default=1)
    parser.add_argument("--case", nargs="+", choices=list(CASES), default=list(CASES))
    args = parser.parse_args(argv)

    from chainrule import distributed

    me = distributed.rank()
    with open(os.path.join(args.out_dir, f"shm.rank{me}.txt"), "w") as f:
        f.write("".join(p + "\n" for p in _mpich_segments()))
    if args.fail is None:
        for name in args.case:
            net, X, y, kw = build(name)
            history = distributed.fit(net, X, y, **kw)
            stem = os.path.join(args.out_dir, f"{name}.rank{me}")
            np.save(stem + ".npy", net.params, allow_pickle=False)
            np.save(stem + ".loss.npy", np.array(history["loss"]), allow_pickle=False)
        from threadpoolctl import threadpool_info

        with open(os.path.join(args.out_dir, f"threads.rank{me}.json"), "w") as f:
            json.dump([pool["num_threads"] for pool in threadpool_info()], f)
        return 0

    failing = me == args.fail_rank
    net, X, y, kw = build("f64_adam_softmax")
    if args.fail == "fit":
        # One rank fails in the middle of training while the others wait in the all-reduce.
        def fail(trainer: Any, batch: int, loss: float) -> None:
            if failing and trainer.epoch == 2 and batch == 3:
                raise RuntimeError(f"deliberate failure on rank {me} at epoch 2, batch 3")

        kw["callbacks"] = [cr.LambdaCallback(on_batch_end=fail)]
    elif args.fail in ("exit0", "sigkill"):
        # One rank leaves in the middle of training without a word: no exception, no
        # finally block, no atexit handler. With exit code 0, mpiexec would report 0.
        def leave(trainer: Any, batch: int, loss: float) -> None:
            if failing and trainer.epoch == 2 and batch == 3:
                with open(os.path.join(args.out_dir, "left.time"), "w") as f:
                    f.write(repr(time.time()))
                if args.fail == "exit0":
                    os._exit(0)
                os.kill(os.getpid(), signal.SIGKILL)

        kw["callbacks"] = [cr.LambdaCallback(on_batch_end=leave)]
    elif args.fail == "stop":
        # One rank alone stops after epoch 2 and returns from fit; the others wait in the
        # next all-reduce. fit's completion check must notice and end the job.
        def stop(trainer: Any, logs: dict[str, float]) -> None:
            if failing and trainer.epoch == 2:
                trainer.stop_training = True

        kw["callbacks"] = [cr.LambdaCallback(on_epoch_end=stop)]
    elif args.fail == "data" and failing:
        X = X.copy()
        X[5] += 1.0  # one rank loaded a different file
    distributed.fit(net, X, y, **kw)
    if args.fail == "after":
        # After training, outside fit: only the excepthook stands between one rank's
        # uncaught exception and the others waiting in the barrier forever.
        distributed.install_excepthook()
        if failing:
            raise RuntimeError(f"deliberate failure on rank {me} after training")
        from mpi4py import MPI

        MPI.COMM_WORLD.Barrier()
    return 0


def _mpich_segments() -> list[str]:
    """/dev/shm/mpich_* segments this process maps, released (unlinked) or not."""
    found = set()
    with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
        for line in maps:
            fields = line.split(None, 5)
            if len(fields) == 6 and fields[5].startswith("/dev/shm/mpich_"):
                found.add(fields[5].strip().removesuffix(" (deleted)"))
    return sorted(found)


if __name__ == "__main__":
    sys.exit(main())
