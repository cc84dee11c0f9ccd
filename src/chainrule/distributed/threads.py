"""BLAS threads per rank: each rank gets its share of the node's cores.

OpenBLAS starts one thread per core in every process, so K ranks on a node of C cores
run K·C threads that spin-wait for each other: the digits example took 8.1 s on
2 ranks × 2 threads against 3.5 s with one thread per rank.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["blas_threads_per_rank"]

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")

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
    if _threads_set or any(os.environ.get(v) for v in _THREAD_VARS):
        return None
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    threads = max(1, cores // n_local)
    _threads_set = _set_blas_threads(threads)
    return threads if _threads_set else None


def _set_blas_threads(n: int) -> bool:
    """Set the BLAS thread count of this process: threadpoolctl if installed, else
    OpenBLAS's own setter in the libraries NumPy loaded. True if something was set."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        pass
    else:
        threadpool_limits(n)
        return True
    import ctypes

    done = False
    for path in _loaded_libraries("openblas"):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for symbol in ("openblas_set_num_threads", "openblas_set_num_threads64_",
                       "scipy_openblas_set_num_threads", "scipy_openblas_set_num_threads64_"):
            setter = getattr(lib, symbol, None)
            if setter is not None:
                setter(ctypes.c_int(n))
                done = True
                break
    return done


def _loaded_libraries(word: str) -> list[str]:
    """Shared libraries this process has loaded whose file name contains ``word``."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            paths = {line.split(None, 5)[5].strip() for line in maps if line.count(" ") >= 5}
    except OSError:
        return []
    return sorted(p for p in paths if word in os.path.basename(p).lower() and ".so" in p)
