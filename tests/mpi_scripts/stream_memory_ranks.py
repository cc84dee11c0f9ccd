"""Each rank's peak memory and rows/s in a streamed fit, by phase (issue 31): not a test,
the measurement behind docs/distributed.md's table of streamed ranks.

Run alone (one process) or under ``mpirun -n K`` on a Parquet file made by
``bench/stream_memory.py`` (a synthetic table, row groups of 65,536 rows, target ``y``)::

    OMP_NUM_THREADS=1 python tests/mpi_scripts/stream_memory_ranks.py FILE OUT
    OMP_NUM_THREADS=1 CHAINRULE_COMPILED=0 python tests/mpi_scripts/stream_memory_ranks.py FILE OUT
    OMP_NUM_THREADS=1 mpirun -n 2 python tests/mpi_scripts/stream_memory_ranks.py FILE OUT

Every rank runs pass 1 (``TableStream``) and its share of pass 2 (``stream_network_mpi``:
207-64-64-2 on that table), trains one epoch with ``fit_stream_mpi`` (batch 256; one
process: ``fit_stream``) and writes ``OUT.rank<r>.json``: ``VmHWM`` (peak resident
memory, MB) after each phase, the phases' seconds and the epoch's rows/s after its first
batch.
"""

from __future__ import annotations

import json
import sys
import time


def peak_mb() -> float:
    """This process's peak resident memory (``VmHWM``), in MB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main(argv: list[str]) -> int:
    path, out = argv
    from chainrule.datasets.stream import TableStream
    from chainrule.distributed import rank, world_size
    from chainrule.distributed.stream import fit_stream_mpi, stream_network_mpi

    me, size = rank(), world_size()
    rec: dict[str, float] = {"rank": me, "ranks": size, "start_mb": peak_mb()}
    t = time.perf_counter()
    stream = TableStream(path, "y", task="classification", val_split=0.0)
    rec["pass1_s"], rec["pass1_mb"] = time.perf_counter() - t, peak_mb()
    t = time.perf_counter()
    net = stream_network_mpi(stream, hidden=(64, 64), seed=0)  # one process: stream_network
    rec["pass2_s"], rec["pass2_mb"] = time.perf_counter() - t, peak_mb()
    first: dict[str, float] = {}

    def on_batch(epoch: int, batch: int, rows: int) -> None:
        if batch == 1:
            first["t"], first["rows"] = time.perf_counter(), rows
        first["last"] = rows

    t = time.perf_counter()
    fit_stream_mpi(net, stream, epochs=1, batch_size=256, seed=0, on_batch=on_batch)
    rec["train_s"] = time.perf_counter() - t
    rec["rows"] = first["last"]
    rec["rows_per_s"] = (first["last"] - first["rows"]) / (time.perf_counter() - first["t"])
    rec["train_mb"] = peak_mb()
    with open(f"{out}.rank{me}.json", "w") as fh:
        json.dump(rec, fh)
    print(json.dumps(rec), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
