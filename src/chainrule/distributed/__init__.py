"""Data-parallel training over MPI, exactly equal to single-process training.

Needs the ``mpi`` extra; ``import chainrule`` never loads it.
"""

from .data_parallel import (
    DistributedTrainer,
    abort_on_error,
    fit,
    install_excepthook,
    is_root,
    rank,
    remove_stale_shm,
    share,
    world_size,
)

__all__ = [
    "DistributedTrainer", "abort_on_error", "fit", "install_excepthook", "is_root", "rank",
    "remove_stale_shm", "share", "world_size",
]
