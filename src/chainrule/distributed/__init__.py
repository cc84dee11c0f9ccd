"""Data-parallel training over MPI, exactly equal to single-process training.

Needs the ``mpi`` extra (``pip install "chainrule[mpi]"``); ``import chainrule`` never loads
it (``mpi4py`` is imported when a function here is called, and importing this package
without it installed is one line naming the extra).

- :mod:`.data_parallel`: :func:`fit`, one call on every rank;
- :mod:`.reducer`: the arithmetic — :func:`share` of a global batch, :class:`MPIReducer`;
- :mod:`.stream`: a streamed table file (:func:`~.stream.fit_stream_mpi`), each rank reading
  only its stripes of every chunk;
- :mod:`.sync`: rank 0's network and optimizer on every rank, the same data everywhere;
- :mod:`.comm`: :func:`rank`, :func:`world_size`, :func:`is_root`;
- :mod:`.process`: no rank fails silently or waits forever (:func:`abort_on_error`,
  :func:`install_excepthook`, the exit guard, the completion handshake);
- :mod:`.shm`, :mod:`.threads`: MPICH's shared-memory segment, BLAS threads per rank.
"""

from .._extras import require
from .comm import is_root, rank, world_size
from .data_parallel import DistributedTrainer, fit
from .process import abort_on_error, install_excepthook
from .reducer import MPIReducer, share
from .shm import remove_stale_shm

require("mpi4py", "chainrule.distributed")  # the modules above import it when called

__all__ = [
    "DistributedTrainer", "MPIReducer", "abort_on_error", "fit", "install_excepthook",
    "is_root", "rank", "remove_stale_shm", "share", "world_size",
]
