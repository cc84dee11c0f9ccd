"""Data-parallel throughput: samples/s with 1 and 2 MPI ranks, and the all-reduce per step.

MNIST configuration: 784-256-128-10 (ReLU, softmax + cross-entropy), Adam, global
batch 128, float32. Data from ``$CHAINRULE_DATA_DIR`` (default ../shared/data/mnist).

    python bench/distributed.py                 # the table (launches mpirun itself)
    python bench/distributed.py --samples 20000 # quicker

Each row is one ``mpirun -n RANKS`` run of this file with ``--worker``; rank 0
writes one JSON line, the driver prints the table. Only training is timed (data
loading and standardization happen before the clock starts). "all-reduce" is the
time per step inside ``Allreduce`` (it includes waiting for the slower rank);
"bare all-reduce" is the same buffer reduced in a tight loop, communication only.
"GEMM GFLOP/s per rank" is the network's largest matrix product run by all ranks at
once: what the machine gives each rank, the ceiling for its row.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SIZES = [784, 256, 128, 10]
BATCH = 128  # the configuration; --batch-size changes it


def data_dir() -> Path:
    return Path(os.environ.get("CHAINRULE_DATA_DIR", REPO.parent / "shared" / "data" / "mnist"))


def load_mnist(n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    from chainrule.datasets import read_images, read_labels

    root = data_dir()
    images = read_images(root / "train-images-idx3-ubyte.gz")[:n_samples]
    labels = read_labels(root / "train-labels-idx1-ubyte.gz")[:n_samples]
    X = images.reshape(len(images), -1).astype(np.float32) / np.float32(255.0)
    return X, labels.astype(np.int64)


def gemm_gflops(seconds: float = 0.5) -> float:
    """float32 GFLOP/s of the network's largest product, (128, 784) @ (784, 256)."""
    rng = np.random.default_rng(0)
    a = rng.random((BATCH, SIZES[0]), dtype=np.float32)
    b = rng.random((SIZES[0], SIZES[1]), dtype=np.float32)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        n += 1
    return 2 * BATCH * SIZES[0] * SIZES[1] * n / (time.perf_counter() - start) / 1e9


def worker(args: argparse.Namespace) -> None:
    """One rank: train ``epochs`` epochs on ``samples`` MNIST images, report from rank 0."""
    from mpi4py import MPI

    import chainrule as cr
    from chainrule import distributed
    from chainrule.table.scaler import Standardizer
    from chainrule.training.callbacks import Callback

    comm = MPI.COMM_WORLD
    X, y = load_mnist(args.samples)

    class Clock(Callback):
        def on_train_begin(self, trainer: Any) -> None:
            self.start = time.perf_counter()

        def on_train_end(self, trainer: Any) -> None:
            self.seconds = time.perf_counter() - self.start
            # MPIReducer times its all-reduce; one rank trains with the plain LocalReducer
            reducer = trainer.step.reducer
            self.reduce_seconds = getattr(reducer, "reduce_seconds", 0.0)
            self.n_reduce = getattr(reducer, "n_reduce", 0)

    # What the machine gives each rank when all compute at once: the ceiling for the rows.
    gemm = np.array([gemm_gflops()])
    comm.Barrier()
    gemm = np.array([gemm_gflops()])
    comm.Allreduce(MPI.IN_PLACE, gemm, op=MPI.MIN)

    # Best of ``repeats`` runs, each from the same seeded network: the machine may be shared.
    best: Any = None
    for _ in range(args.repeats):
        net = cr.MLP(SIZES, hidden="relu", output="softmax", loss="cross_entropy", seed=0)
        net.scaler = Standardizer.fit(X)
        clock = Clock()
        comm.Barrier()
        history = distributed.fit(
            net,
            X,
            y,
            epochs=args.epochs,
            batch_size=args.batch_size,
            optimizer="adam",
            callbacks=[clock],
        )
        if best is None or clock.seconds < best.seconds:
            best = clock
    clock = best
    steps = args.epochs * -(-len(X) // args.batch_size)

    # The same buffer as the training all-reduce (n_params + 3 float64), communication only.
    buf = np.zeros(net.n_params + 3)
    bare = 0.0
    if comm.Get_size() > 1:
        comm.Barrier()
        start = time.perf_counter()
        for _ in range(args.bare_repeats):
            comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        bare = (time.perf_counter() - start) / args.bare_repeats

    if comm.Get_rank() == 0:
        row = {
            "ranks": comm.Get_size(),
            "threads": int(os.environ.get("OMP_NUM_THREADS", "0") or 0),
            "samples": len(X) * args.epochs,
            "seconds": clock.seconds,
            "samples_per_s": len(X) * args.epochs / clock.seconds,
            "allreduce_ms_per_step": 1e3 * clock.reduce_seconds / max(clock.n_reduce, 1),
            "allreduce_share": clock.reduce_seconds / clock.seconds,
            "bare_allreduce_ms": 1e3 * bare,
            "steps": steps,
            "final_loss": history["loss"][-1],
            "allreduce_mib": buf.nbytes / 2**20,
            "gemm_gflops_per_rank": float(gemm[0]),
        }
        Path(args.out).write_text(json.dumps(row) + "\n")


def mpirun() -> str:
    local = Path(sys.executable).parent / "mpirun"
    found = str(local) if local.exists() else shutil.which("mpirun")
    if found is None:
        sys.exit("bench/distributed.py: no mpirun found; pip install 'chainrule[mpi]'")
    return found


def driver(args: argparse.Namespace) -> None:
    configs = [(1, 1), (1, 2), (2, 1)]  # (ranks, BLAS threads per rank)
    rows = []
    load_before = ", ".join(f"{x:.1f}" for x in os.getloadavg())  # the machine may be shared
    with tempfile.TemporaryDirectory() as tmp:
        for ranks, threads in configs:
            out = Path(tmp) / f"{ranks}x{threads}.json"
            env = {
                **os.environ,
                "OMP_NUM_THREADS": str(threads),
                "OPENBLAS_NUM_THREADS": str(threads),
                "MKL_NUM_THREADS": str(threads),
            }
            cmd = [
                mpirun(),
                "-n",
                str(ranks),
                sys.executable,
                __file__,
                "--worker",
                "--out",
                str(out),
                "--samples",
                str(args.samples),
                "--epochs",
                str(args.epochs),
                "--batch-size",
                str(args.batch_size),
                "--repeats",
                str(args.repeats),
                "--bare-repeats",
                str(args.bare_repeats),
            ]
            subprocess.run(cmd, env=env, check=True, timeout=3600)
            rows.append(json.loads(out.read_text()))
    load_after = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{os.cpu_count()} CPUs; load average before {load_before}, after {load_after}")
    print(
        f"MNIST {'-'.join(map(str, SIZES))}, Adam, global batch {args.batch_size}, float32, "
        f"{args.samples} samples × {args.epochs} epoch(s); "
        f"all-reduce buffer {rows[0]['allreduce_mib']:.2f} MiB per step\n"
    )
    print(
        "| ranks × BLAS threads | samples/s | speed-up | all-reduce ms/step "
        "| share of time | bare all-reduce ms | GEMM GFLOP/s per rank | final loss |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    base = rows[0]["samples_per_s"]
    for row in rows:
        print(
            f"| {row['ranks']} × {row['threads']} | {row['samples_per_s']:,.0f} "
            f"| {row['samples_per_s'] / base:.2f}× | {row['allreduce_ms_per_step']:.3f} "
            f"| {100 * row['allreduce_share']:.1f} % | {row['bare_allreduce_ms']:.3f} "
            f"| {row['gemm_gflops_per_rank']:.0f} | {row['final_loss']:.6f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=60000, help="MNIST training images")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=BATCH, help="global batch")
    parser.add_argument("--repeats", type=int, default=3, help="report the fastest run")
    parser.add_argument("--bare-repeats", type=int, default=200)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
    else:
        driver(args)


if __name__ == "__main__":
    main()
