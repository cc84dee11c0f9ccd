"""The communicator: which rank this is, how many there are, and a broadcast from rank 0.

``mpi4py`` is imported only when one of these is called, so ``import chainrule`` never
loads MPI. Every path that reaches MPI here first releases MPICH's shared-memory name
(:mod:`chainrule.distributed.shm`).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .shm import release_shm_name

__all__ = ["bcast_json", "comm_world", "is_root", "rank", "resolve", "world_size"]


def comm_world() -> Any:
    """``MPI.COMM_WORLD`` (MPI initialised by the import), with a clear error without mpi4py."""
    try:
        from mpi4py import MPI
    except ImportError as exc:  # pragma: no cover - mpi4py is a test dependency
        raise ImportError(
            "chainrule.distributed needs mpi4py and an MPI library: "
            "pip install 'chainrule[mpi]' (mpi4py plus the mpich wheel)"
        ) from exc
    release_shm_name()
    return MPI.COMM_WORLD


def resolve(comm: Any | None) -> Any:
    """``comm``, or ``MPI.COMM_WORLD`` when None."""
    if comm is None:
        return comm_world()
    release_shm_name()
    return comm


def rank(comm: Any | None = None) -> int:
    """This process's rank in ``comm`` (default ``MPI.COMM_WORLD``); 0 without a launcher."""
    return int(resolve(comm).Get_rank())


def world_size(comm: Any | None = None) -> int:
    """Number of ranks in ``comm`` (default ``MPI.COMM_WORLD``); 1 without a launcher."""
    return int(resolve(comm).Get_size())


def is_root(comm: Any | None = None) -> bool:
    """Whether this is rank 0 — the one rank that prints progress and writes files."""
    return rank(comm) == 0


def bcast_json(comm: Any, obj: Any) -> Any:
    """Broadcast a JSON-serialisable object from rank 0 (no pickle: bytes in a NumPy buffer)."""
    root = comm.Get_rank() == 0
    data = json.dumps(obj, default=lambda o: o.tolist()).encode() if root else b""
    size = np.array([len(data)], dtype=np.int64)
    comm.Bcast(size, root=0)
    buf = np.frombuffer(data, dtype=np.uint8).copy() if root else np.empty(size[0], np.uint8)
    comm.Bcast(buf, root=0)
    return json.loads(buf.tobytes().decode())
