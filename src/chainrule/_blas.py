"""BLAS threads for a fit: one thread where the matrices are small.

OpenBLAS starts a thread per core in every process, and its threads spin-wait for each
other between products. A table network's products (batches of 32-256 rows, layers of
a few hundred units) are far too small to share: on this project's 2-core machine,
loaded by other work, a 20-epoch fit of fair (6,366 rows) took 26.9 s with OpenBLAS's
default threads against 2.27 s with one (``OPENBLAS_NUM_THREADS=1``). A fit whose largest
product per batch is under :data:`SMALL_PRODUCT` multiply-adds therefore runs with one
BLAS thread (:func:`blas_threads_for`), and the thread count is put back after it.

Any of the usual variables (``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, …) set, even to
a large number, means the user decided, and nothing changes. threadpoolctl is used where
installed; else OpenBLAS's own setter in the libraries NumPy loaded.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["SMALL_PRODUCT", "THREAD_VARS", "blas_threads_for", "set_blas_threads",
           "user_chose_threads"]

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")

#: Products of fewer multiply-adds than this (batch rows × n_in × n_out of the largest
#: layer) run on one BLAS thread: 256 × 128 × 256 is 8.4 million.
SMALL_PRODUCT = 2 ** 23

_SETTERS = ("openblas_set_num_threads", "openblas_set_num_threads64_",
            "scipy_openblas_set_num_threads", "scipy_openblas_set_num_threads64_")


def user_chose_threads() -> bool:
    """Whether the environment sets any of :data:`THREAD_VARS`."""
    return any(os.environ.get(v) for v in THREAD_VARS)


def set_blas_threads(n: int) -> bool:
    """Set this process's BLAS thread count to ``n`` for good: threadpoolctl if
    installed, else OpenBLAS's own setter. True if something was set."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        pass
    else:
        threadpool_limits(n)
        return True
    done = False
    for lib in _openblas_libraries():
        for symbol in _SETTERS:
            setter = getattr(lib, symbol, None)
            if setter is not None:
                setter(ctypes.c_int(n))
                done = True
                break
    return done


@contextmanager
def blas_threads_for(largest_product: int) -> Iterator[int | None]:
    """One BLAS thread inside the block if ``largest_product`` (multiply-adds of the
    fit's largest product per batch) is under :data:`SMALL_PRODUCT` and the user chose
    nothing; the thread count before it afterwards. Yields the count set, or None."""
    if largest_product >= SMALL_PRODUCT or user_chose_threads():
        yield None
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        before = _openblas_threads()
        if before is None or not set_blas_threads(1):
            yield None
            return
        try:
            yield 1
        finally:
            set_blas_threads(before)
        return
    with threadpool_limits(1, user_api="blas"):
        yield 1


def _openblas_threads() -> int | None:
    """OpenBLAS's thread count (None: no OpenBLAS with a getter loaded)."""
    for lib in _openblas_libraries():
        for symbol in ("openblas_get_num_threads", "openblas_get_num_threads64_",
                       "scipy_openblas_get_num_threads", "scipy_openblas_get_num_threads64_"):
            getter = getattr(lib, symbol, None)
            if getter is not None:
                return int(getter())
    return None


def _openblas_libraries() -> Iterator[ctypes.CDLL]:
    """The loaded shared libraries whose file name contains ``openblas``."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            paths = {line.split(None, 5)[5].strip() for line in maps if line.count(" ") >= 5}
    except OSError:
        return
    for path in sorted(p for p in paths
                       if "openblas" in os.path.basename(p).lower() and ".so" in p):
        try:
            yield ctypes.CDLL(path)
        except OSError:
            continue
