"""BLAS threads per rank: each rank gets its share of the node's cores.

OpenBLAS starts one thread per core in every process, so K ranks on a node of C cores
run K·C threads that spin-wait for each other: the digits example took 8.1 s on
2 ranks × 2 threads against 3.5 s with one thread per rank.
"""

from __future__ import annotations

import os
from typing import Any

from .._blas import set_blas_threads, user_chose_threads

__all__ = ["blas_threads_per_rank"]

# A BLAS thread pool belongs to the process, not to one fit: once set here it stays set,
# and a later fit in the same process leaves it (and any change the user made) alone.
_threads_set = False


def blas_threads_per_rank(comm: Any) -> int | None:
    """Limit BLAS threads to this rank's share of the node's cores, unless the user chose.

    Any of the usual variables (``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, …) set,
    even to a large number, means the user decided and nothing changes. Collective (it
    counts the ranks on each node). Returns the number set, or None.
    """
    global _threads_set
    from mpi4py import MPI

    local = comm.Split_type(MPI.COMM_TYPE_SHARED)
    try:
        n_local = int(local.Get_size())
    finally:
        local.Free()
    if _threads_set or user_chose_threads():
        return None
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    threads = max(1, cores // n_local)
    _threads_set = set_blas_threads(threads)
    return threads if _threads_set else None
