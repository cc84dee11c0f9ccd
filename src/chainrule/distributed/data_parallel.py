"""Data-parallel training over MPI: the notes' average over samples, split across processes.

It runs past 300 lines because the MPI pieces that must agree exactly (the share of a batch,
the dropout masks of the global batch, the all-reduce, the broadcasts and the abort on
error) are kept in one file, with what keeps a job from failing silently or leaving
debris: a rank that leaves mid-training aborts the job, ``fit`` ends with a completion
check, MPICH's shared-memory segment is unlinked once MPI is up, and BLAS threads are
limited to each rank's share of the cores.

Run a script or the CLI under an MPI launcher (``mpirun -n 4 …``, ``srun …``); every
rank holds the full data and the same network, and computes the gradient on its
contiguous share of every *global* batch. One ``Allreduce`` per step then gives
every rank the gradient of the whole batch, every rank applies the same optimizer
step, and all ranks stay bit-identical. Without a launcher it is a single rank,
and :func:`fit` is exactly :func:`chainrule.training.fit`.

Needs ``mpi4py`` (``pip install 'chainrule[mpi]'``), imported only when a function
here is called: ``import chainrule`` never loads MPI.

Notes
-----
The notes average the per-sample gradients over a batch of n samples,

.. math::

    \\frac{\\partial C}{\\partial w} = \\frac{1}{n} \\sum_{i=1}^{n}
        \\frac{\\partial C_i}{\\partial w}.

Split the batch into shares of n_k samples, one per rank k, and let g_k be the mean
gradient over share k. Then Σ_i ∂C_i/∂w = Σ_k n_k g_k, so

.. math::

    \\frac{\\partial C}{\\partial w} = \\frac{\\sum_k n_k\\, g_k}{\\sum_k n_k}.

The all-reduce therefore carries n_k·g_k together with n_k (and the loss sum and
correct count for the logs) in one buffer, and every rank divides. A plain mean
of the g_k is wrong whenever the shares differ in size — the last batch of an
epoch, or a batch size not divisible by the number of ranks. The L2 term λw is
part of every g_k and survives the weighted mean unchanged.

With sample weights s_i (:mod:`chainrule.weights`) g_k is the weighted mean over share
k and its weight is S_k = Σ_{i in share k} s_i instead of n_k:

.. math::

    \\frac{\\partial C}{\\partial w} = \\frac{\\sum_i s_i\\, \\partial C_i/\\partial w}
        {\\sum_i s_i} = \\frac{\\sum_k S_k\\, g_k}{\\sum_k S_k},

the same all-reduce with S_k in n_k's place (a share whose weights are all zero adds
nothing; a global batch with Σ s = 0 takes no step, on every rank alike).
"""

from __future__ import annotations

import atexit
import json
import os
import re
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..engine.layers import Dropout
from ..engine.scaler import Standardizer
from ..training import loop as training
from ..training.callbacks import History
from ..training.loop import Trainer
from ..training.optimizers import Optimizer

if TYPE_CHECKING:
    from ..engine.network import Network

Array = NDArray[np.floating]

__all__ = [
    "DistributedTrainer",
    "abort_on_error",
    "fit",
    "install_excepthook",
    "is_root",
    "rank",
    "remove_stale_shm",
    "share",
    "world_size",
]


# -- the communicator ------------------------------------------------------------------
def _comm_world() -> Any:
    try:
        from mpi4py import MPI
    except ImportError as exc:  # pragma: no cover - mpi4py is a test dependency
        raise ImportError(
            "chainrule.distributed needs mpi4py and an MPI library: "
            "pip install 'chainrule[mpi]' (mpi4py plus the mpich wheel)"
        ) from exc
    _release_shm_name()
    return MPI.COMM_WORLD


def _resolve(comm: Any | None) -> Any:
    if comm is None:
        return _comm_world()
    _release_shm_name()
    return comm


# -- MPICH's shared-memory segment ------------------------------------------------------------
# MPICH (ch4, POSIX shared memory) creates /dev/shm/mpich_shm_<world id>_<node id> in
# MPI_Init, and the last rank of the node to call MPI_Finalize unlinks it. A job that
# dies (MPI_Abort, a killed rank, a launcher timeout) never gets there, and the segment
# stays until reboot. MPI_Init only returns once every rank of the node has mapped it
# (MPIDI_POSIX_comm_bootstrap waits for all of them), and nothing opens it by name
# afterwards, so the name can go at once: the memory lives while a rank maps it and the
# kernel frees it with the last one, however the job ends. MPICH's own unlink at
# finalize then finds nothing, and ignores that.
_SHM_NAME = re.compile(r"mpich_shm_[0-9a-f]+_\d+")
_shm_released = False


def _mapped_shm_segments() -> list[str]:
    """Paths of MPICH's init segments this process maps (from /proc/self/maps; Linux)."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            lines = maps.read().splitlines()
    except OSError:
        return []
    found = set()
    for line in lines:
        fields = line.split(None, 5)
        if len(fields) == 6 and not fields[5].endswith("(deleted)"):
            path = fields[5].strip()
            if path.startswith("/dev/shm/") and _SHM_NAME.fullmatch(os.path.basename(path)):
                found.add(path)
    return sorted(found)


def _release_shm_name() -> None:
    """Unlink the name of MPICH's init segment once MPI is initialised (once a process)."""
    global _shm_released
    if _shm_released or os.environ.get("CHAINRULE_MPI_KEEP_SHM"):
        return
    from mpi4py import MPI

    if not MPI.Is_initialized() or MPI.Is_finalized():
        return
    _shm_released = True
    if not MPI.Get_library_version().startswith("MPICH"):
        return
    for path in _mapped_shm_segments():
        try:
            os.unlink(path)  # another rank of the node may have been first
        except OSError:
            pass


def remove_stale_shm(directory: str = "/dev/shm", min_age: float = 60.0) -> list[str]:
    """Remove MPICH segments (``mpich_shm_*``, ``mpich_vci_*``) no process uses any more.

    For segments left by jobs that failed before :mod:`chainrule.distributed` could
    release them (or by other MPICH programs). A segment is removed only if it belongs
    to this user, is older than ``min_age`` seconds (a job that is starting has created
    but not yet mapped it for a few microseconds), and no process that this user may
    inspect (all of them, for root) maps it or holds it open. Returns the removed paths.
    Linux only (it reads ``/proc``); elsewhere it removes nothing.
    """
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    now, uid = time.time(), os.getuid()
    candidates = {}
    for name in names:
        if not re.fullmatch(r"mpich_(shm|vci)_[0-9a-f]+_\d+", name):
            continue
        path = os.path.join(directory, name)
        try:
            st = os.stat(path, follow_symlinks=False)
        except OSError:
            continue
        if st.st_uid == uid and now - st.st_mtime >= min_age:
            candidates[os.path.realpath(path)] = path
    if not candidates or not os.path.isdir("/proc/self"):
        return []
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        used = set()
        try:
            with open(f"/proc/{pid}/maps", encoding="utf-8", errors="replace") as maps:
                for line in maps:
                    fields = line.split(None, 5)
                    if len(fields) == 6 and "/mpich_" in fields[5]:
                        used.add(fields[5].strip())
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            fds = []  # gone, or not ours to read
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue  # closed meanwhile
            if "/mpich_" in target:
                used.add(target)
        for real in [r for r in candidates if r in used]:
            del candidates[real]
    removed = []
    for path in candidates.values():
        try:
            os.unlink(path)
            removed.append(path)
        except OSError:
            pass
    return removed


def rank(comm: Any | None = None) -> int:
    """This process's rank in ``comm`` (default ``MPI.COMM_WORLD``); 0 without a launcher."""
    return int(_resolve(comm).Get_rank())


def world_size(comm: Any | None = None) -> int:
    """Number of ranks in ``comm`` (default ``MPI.COMM_WORLD``); 1 without a launcher."""
    return int(_resolve(comm).Get_size())


def is_root(comm: Any | None = None) -> bool:
    """Whether this is rank 0 — the one rank that prints progress and writes files."""
    return rank(comm) == 0


def share(m: int, rank: int, size: int) -> tuple[int, int]:
    """Rows [lo, hi) of a global batch of ``m`` samples that ``rank`` of ``size`` computes.

    Contiguous shares, the first ``m % size`` ranks one sample larger; a rank's share
    is empty when ``m < size`` (a small last batch).
    """
    base, extra = divmod(m, size)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (1 if rank < extra else 0)


#: Seconds a failing rank waits, after printing its error, before aborting the job.
ABORT_GRACE = 0.5


def _abort_job(comm: Any) -> None:
    """MPI_Abort, and make sure this process ends with a non-zero status.

    MPI_Abort can return (MPICH sends the abort to the launcher and goes on while the
    launcher kills the job); carrying on from there could let this rank exit 0. The
    short pause first lets the launcher forward what this rank has just printed: under
    load, hydra sometimes killed the job before its error message reached the terminal.
    """
    time.sleep(ABORT_GRACE)
    try:
        comm.Abort(1)
    finally:
        _real_exit(1)


def _abort(comm: Any, exc: BaseException) -> None:
    """Print this rank's error and end every rank of the job: no rank waits forever."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    sys.stderr.write(
        f"chainrule.distributed: rank {comm.Get_rank()} of {comm.Get_size()} failed, "
        f"aborting the job:\n{text}"
    )
    sys.stderr.flush()
    _abort_job(comm)


def install_excepthook(comm: Any | None = None) -> None:
    """Make an uncaught exception on any rank abort the whole job.

    Without it, one rank's exception outside :func:`fit` (while writing files, say)
    ends that rank while the others may block in a collective call. With one rank
    the default hook stays.
    """
    comm = _resolve(comm)
    if comm.Get_size() == 1:
        return
    previous = sys.excepthook

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, SystemExit):
            previous(kind, exc, tb)
            return
        _abort(comm, exc.with_traceback(tb))

    sys.excepthook = hook


@contextmanager
def abort_on_error(comm: Any | None = None) -> Iterator[None]:
    """Run a block in which an exception on any rank aborts the whole job.

    For code around :func:`fit` that may fail on one rank only — loading data that
    one node cannot read, say — while the others go on into the first collective
    call and would wait there forever. The CLI wraps ``train --distributed`` in it.
    With one rank exceptions propagate as usual.
    """
    comm = _resolve(comm)
    try:
        yield
    except BaseException as exc:
        if comm.Get_size() > 1:
            _abort(comm, exc)
        raise


# -- start of training: one state on every rank ----------------------------------------------
def _bcast_json(comm: Any, obj: Any) -> Any:
    """Broadcast a JSON-serialisable object from rank 0 (no pickle: bytes in a NumPy buffer)."""
    root = comm.Get_rank() == 0
    data = json.dumps(obj, default=lambda o: o.tolist()).encode() if root else b""
    size = np.array([len(data)], dtype=np.int64)
    comm.Bcast(size, root=0)
    buf = np.frombuffer(data, dtype=np.uint8).copy() if root else np.empty(size[0], np.uint8)
    comm.Bcast(buf, root=0)
    return json.loads(buf.tobytes().decode())


def _sync_network(net: Network, comm: Any) -> None:
    """Give every rank rank 0's parameters, generator state and scaler.

    The generator matters as much as the weights: it draws each epoch's permutation,
    the validation split and the dropout masks, and every rank must draw the same.
    """
    me = comm.Get_rank()
    header = _bcast_json(
        comm,
        {
            "n_params": net.n_params,
            "dtype": net.dtype.name,
            "rng": net.rng.bit_generator.state,
            "scaler": None if net.scaler is None else net.scaler.n_features,
        },
    )
    if (header["n_params"], header["dtype"]) != (net.n_params, net.dtype.name):
        raise ValueError(
            f"net: rank {me} has {net.n_params} {net.dtype.name} parameters, rank 0 has "
            f"{header['n_params']} {header['dtype']}; every rank must build the same network"
        )
    comm.Bcast(net.params, root=0)
    if me != 0:
        net.rng.bit_generator.state = header["rng"]
    n_features = header["scaler"]
    if n_features is not None:
        if net.scaler is None or net.scaler.n_features != n_features:
            net.scaler = Standardizer(np.zeros(n_features), np.ones(n_features))
        comm.Bcast(net.scaler.mean, root=0)
        comm.Bcast(net.scaler.scale, root=0)
    else:
        net.scaler = None


def _sync_optimizer(opt: Optimizer, net: Network, comm: Any) -> None:
    """Give every rank rank 0's step count and slots, so a resumed run stays identical."""
    header = _bcast_json(comm, {"name": opt.name, "t": opt.t, "slots": sorted(opt.state)})
    if header["name"] != opt.name:
        raise ValueError(
            f"optimizer: rank {comm.Get_rank()} uses {opt.name!r}, rank 0 uses {header['name']!r}"
        )
    opt.t = int(header["t"])
    for slot in header["slots"]:
        if slot not in opt.state or opt.state[slot].shape != net.params.shape:
            opt.state[slot] = np.zeros_like(net.params)
        opt.state[slot] = np.ascontiguousarray(opt.state[slot], dtype=net.dtype)
        comm.Bcast(opt.state[slot], root=0)


# -- dropout masks of the global batch ---------------------------------------------------------
class _GlobalBatchRNG:
    """Stands in for a Dropout layer's generator: draws the mask of the whole global batch
    and hands over this rank's rows.

    Single-process training draws one (m, n) mask per Dropout layer per batch; drawing
    exactly that on every rank keeps the generators in step (the next permutation
    depends on it) and gives each sample the mask it would get in one process.
    """

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.m, self.lo, self.hi = 0, 0, 0

    def random(self, shape: tuple[int, ...], dtype: Any = np.float64) -> Array:
        full = self.rng.random((self.m, *shape[1:]), dtype=dtype)
        return full[self.lo : self.hi]


# -- the trainer ----------------------------------------------------------------------------------
class DistributedTrainer(Trainer):
    """A :class:`~chainrule.training.Trainer` whose global batches are shared across ranks.

    Parameters
    ----------
    net, optimizer
        As for :class:`~chainrule.training.Trainer`.
    comm : mpi4py communicator
    **options
        The other arguments of :class:`~chainrule.training.Trainer` (epochs,
        batch_size — the global batch — shuffle, callbacks).

    Attributes
    ----------
    rank, size : int
    reduce_seconds : float
        Time spent in the gradient all-reduce (for benchmarks).
    n_reduce : int
        Number of all-reduce calls.
    """

    def __init__(self, net: Network, optimizer: Optimizer, *, comm: Any,
                 **options: Any) -> None:
        super().__init__(net, optimizer, **options)
        self.comm = comm
        self.rank, self.size = int(comm.Get_rank()), int(comm.Get_size())
        if self.size > 1:
            _sync_optimizer(optimizer, net, comm)  # slots and step count from rank 0
        # float64 whatever the network's dtype: the sum over ranks should add no error
        # of its own. Layout: S_k·g_k for every parameter, then S_k, n_k, loss sum,
        # correct; S_k = n_k without sample weights.
        self._buf = np.empty(net.n_params + 4, dtype=np.float64)
        self._dropout = [
            layer for layer in net.layers if isinstance(layer, Dropout) and layer.rate > 0
        ]
        self._masks = _GlobalBatchRNG(net.rng)
        self.reduce_seconds = 0.0
        self.n_reduce = 0

    def local_share(self, xb: Array, yb: Array, sb: Array | None = None
                    ) -> tuple[Array, Array, Array | None]:
        """Rows :func:`share` (m, rank, size) of the global batch (xb, yb, sb)."""
        if self.size == 1:
            return xb, yb, sb
        m = xb.shape[0]
        lo, hi = share(m, self.rank, self.size)
        self._masks.m, self._masks.lo, self._masks.hi = m, lo, hi
        if hi == lo:
            # No forward pass here, but the generator must still move as on the other ranks.
            for layer in self._dropout:
                self.net.rng.random((m, layer.n_in), dtype=self.net.dtype)
        return xb[lo:hi], yb[lo:hi], None if sb is None else sb[lo:hi]

    def reduce(self, n_local: int, loss_sum: float, correct: int,
               weight_sum: float | None = None) -> tuple[int, float, int]:
        """One Allreduce of (S_k·g_k, S_k, n_k, loss_k, correct_k); ∂C/∂w = Σ S_k g_k / Σ S_k,
        with S_k = n_k unweighted and Σ_{i in share k} s_i with sample weights."""
        if self.size == 1:
            return n_local, loss_sum, correct
        from mpi4py import MPI

        grads, buf, n_params = self.net.grads, self._buf, self.net.n_params
        weight = n_local if weight_sum is None else weight_sum
        # S_k g_k = Σ_{i in share k} s_i ∂C_i/∂w (s_i = 1 unweighted), formed in float64
        # like the sum over ranks
        np.multiply(grads, weight, out=buf[:n_params], dtype=np.float64)
        buf[n_params:] = (weight, n_local, loss_sum, correct)
        start = time.perf_counter()
        self.comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        self.reduce_seconds += time.perf_counter() - start
        self.n_reduce += 1
        total = buf[n_params]
        if weight_sum is None:
            total = int(total)
        if total:  # (1/n) Σ_i ∂C_i/∂w, the notes' mean (Σ s_i ∂C_i/∂w / Σ s_i weighted)
            np.divide(buf[:n_params], total, out=buf[:n_params])
        grads[...] = buf[:n_params]  # Σ s = 0: zero, and train_step takes no step
        return int(buf[n_params + 1]), float(buf[n_params + 2]), int(buf[n_params + 3])

    def run(
        self,
        a0: Array,
        Y: Array,
        validation: tuple[Array, Array] | None = None,
        sample_weight: NDArray[np.float64] | None = None,
    ) -> History:
        """Check every rank holds the same data and settings, then train."""
        if self.size == 1:
            return super().run(a0, Y, validation, sample_weight)
        self._check_same_everywhere(a0, Y, sample_weight)
        self.dropout_rng = self._masks  # type: ignore[assignment]
        return super().run(a0, Y, validation, sample_weight)

    def _check_same_everywhere(self, a0: Array, Y: Array,
                               sample_weight: NDArray[np.float64] | None = None) -> None:
        """Every rank must see the same batches: compare shapes, settings and checksums.

        The checksums are compared with a tolerance: the scaler's statistics may differ
        in the last bit between CPU types, a different data file never agrees to 1e-6.
        """
        from mpi4py import MPI

        names = ["n_samples", "n_in", "n_out", "epochs", "batch_size", "shuffle",
                 "sample_weight given"]
        exact = [a0.shape[0], a0.shape[1], Y.shape[1], self.epochs, self.batch_size,
                 self.shuffle, sample_weight is not None]
        sums = [float(np.sum(a0, dtype=np.float64)), float(np.sum(Y, dtype=np.float64)),
                0.0 if sample_weight is None else float(np.sum(sample_weight))]
        mine = np.array([*exact, *sums], dtype=np.float64)
        lo, hi = mine.copy(), mine.copy()
        self.comm.Allreduce(MPI.IN_PLACE, lo, op=MPI.MIN)
        self.comm.Allreduce(MPI.IN_PLACE, hi, op=MPI.MAX)
        for i, name in enumerate(names):
            if lo[i] != hi[i]:
                raise ValueError(
                    f"{name}: differs across ranks (from {lo[i]:g} to {hi[i]:g}, this rank "
                    f"{mine[i]:g}); every rank must be given the full, identical data set"
                )
        for i, name in enumerate(["X", "Y", "sample_weight"], start=len(names)):
            if abs(hi[i] - lo[i]) > 1e-6 * max(1.0, abs(hi[i])):
                raise ValueError(
                    f"{name}: differs across ranks (checksums from {lo[i]!r} to {hi[i]!r}); "
                    "every rank must be given the full, identical data set"
                )


# -- a rank that leaves early -----------------------------------------------------------------
# Hydra (MPICH's mpiexec) kills the whole job when one rank exits without MPI_Finalize,
# but reports that rank's exit code as the job's: a rank that calls os._exit(0) in the
# middle of training ends the job with status 0 and no message (the other ranks are
# killed with their status preset to 0). os._exit runs no atexit handler and no
# finally block, so fit replaces os._exit while it runs; an interpreter that exits
# while fit runs (sys.exit in another thread, say) is caught by an atexit handler.
_running: list[Any] = []  # communicators of the distributed fits running in this process
_owner = {"pid": -1}
_real_exit: Callable[[int], Any] = os._exit


def _abort_leaving(how: str) -> None:
    if not _running or os.getpid() != _owner["pid"]:
        return  # not training here, or a forked child (multiprocessing ends with os._exit)
    comm = _running[-1]
    sys.stderr.write(
        f"chainrule.distributed: rank {comm.Get_rank()} of {comm.Get_size()} {how} during "
        "distributed.fit while the other ranks were training; aborting the job\n"
    )
    sys.stderr.flush()
    _abort_job(comm)


def _exit_in_fit(code: int) -> Any:
    _abort_leaving(f"called os._exit({code})")
    return _real_exit(code)


def _exit_at_interpreter_exit() -> None:
    _abort_leaving("exited")


@contextmanager
def _leaving_aborts(comm: Any) -> Iterator[None]:
    """While the block runs, a rank that exits (os._exit, interpreter exit) aborts the job."""
    global _real_exit
    if not _running:
        if os._exit is not _exit_in_fit:
            _real_exit = os._exit
            setattr(os, "_exit", _exit_in_fit)  # noqa: B010 - mypy: os._exit is NoReturn
        if _owner["pid"] == -1:
            atexit.register(_exit_at_interpreter_exit)  # runs before mpi4py's MPI_Finalize
        _owner["pid"] = os.getpid()
    _running.append(comm)
    try:
        yield
    finally:
        _running.pop()
        if not _running and os._exit is _exit_in_fit:
            setattr(os, "_exit", _real_exit)  # noqa: B010


def _finish_timeout(value: float | None) -> float:
    if value is None:
        value = float(os.environ.get("CHAINRULE_MPI_FINISH_TIMEOUT", "60"))
    if not value > 0:
        raise ValueError(f"finish_timeout: expected a positive number of seconds, got {value}")
    return float(value)


def _all_finished(comm: Any, timeout: float) -> None:
    """The completion handshake: every rank reports to rank 0 that it finished training,
    and rank 0 confirms once all have; whoever waits longer than ``timeout`` aborts.

    Every rank makes the same all-reduce calls, so a rank that finishes alone has left
    the loop early (a callback that stopped one rank only) and the others wait in an
    all-reduce it will never join; a rank stuck in a callback of its own stalls the
    others the same way. Without this check the job would hang; with it, it fails
    naming the missing ranks. Point-to-point messages on a duplicate of ``comm``, so
    they cannot match the others' pending collective calls.
    """
    from mpi4py import MPI

    me, size = int(comm.Get_rank()), int(comm.Get_size())
    ctl = _control(comm)
    tag = 0x7C4A
    token = np.array([me], dtype=np.int64)
    if me == 0:
        bufs = {r: np.empty(1, dtype=np.int64) for r in range(1, size)}
        reqs = {r: ctl.Irecv(bufs[r], source=r, tag=tag) for r in bufs}
        _wait(comm, reqs, timeout, lambda missing: (
            f"rank{'s' if len(missing) > 1 else ''} {', '.join(map(str, missing))} of {size} "
            f"did not finish distributed.fit within {timeout:g} s of rank 0"))
        releases = [ctl.Isend(token, dest=r, tag=tag + 1) for r in range(1, size)]
        MPI.Request.Waitall(releases)
    else:
        sent = ctl.Isend(token, dest=0, tag=tag)
        back = np.empty(1, dtype=np.int64)
        # Longer than rank 0's wait: rank 0 knows who is missing, so it should report.
        _wait(comm, {0: ctl.Irecv(back, source=0, tag=tag + 1)}, timeout + 2, lambda missing: (
            f"rank {me} of {size} finished distributed.fit, but rank 0 did not confirm "
            f"within {timeout + 2:g} s that every rank had (one left training early or is "
            "stuck)"))
        sent.Wait()


_controls: dict[int, tuple[Any, Any]] = {}  # id(comm) -> (comm, duplicate): comm kept alive


def _control(comm: Any) -> Any:
    """A duplicate of ``comm`` for the handshake, made once per communicator (collective)."""
    key = id(comm)
    if key not in _controls:
        _controls[key] = (comm, comm.Dup())
    return _controls[key][1]


def _wait(comm: Any, reqs: dict[int, Any], timeout: float,
          describe: Callable[[list[int]], str]) -> None:
    """Poll ``reqs`` (by peer rank) until all complete; past ``timeout`` s, abort the job
    with ``describe(missing ranks)``."""
    deadline = time.monotonic() + timeout
    pause = 1e-4
    while True:
        for r in [r for r, req in reqs.items() if req.Test()]:
            del reqs[r]
        if not reqs:
            return
        if time.monotonic() > deadline:
            break
        time.sleep(pause)
        pause = min(2 * pause, 0.05)
    sys.stderr.write(f"chainrule.distributed: {describe(sorted(reqs))}; aborting the job\n")
    sys.stderr.flush()
    _abort_job(comm)


# -- BLAS threads per rank ----------------------------------------------------------------------
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
_threads_set = False


def _blas_threads_per_rank(comm: Any) -> int | None:
    """Limit BLAS threads to this rank's share of the node's cores, unless the user chose.

    OpenBLAS starts one thread per core in every process, so K ranks on a node of C
    cores run K·C threads that spin-wait for each other: the digits example took 8.1 s
    on 2 ranks × 2 threads against 3.5 s with one thread per rank. Any of the usual
    variables (``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, …) set, even to a large
    number, means the user decided and nothing changes. Collective (it counts the
    ranks on each node). Returns the number set, or None.
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
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            paths = {line.split(None, 5)[5].strip() for line in maps if line.count(" ") >= 5}
    except OSError:
        return []
    return sorted(p for p in paths if word in os.path.basename(p).lower() and ".so" in p)


# -- the entry point ----------------------------------------------------------------------------
def fit(net: Network, X: ArrayLike, Y: ArrayLike, *, comm: Any | None = None,
        finish_timeout: float | None = None, **options: Any) -> History:
    """Train ``net`` data-parallel over the ranks of ``comm``; same result as one process.

    Call it on every rank with the full data set and the same network (same seed).
    Parameters, generator state, scaler and optimizer state are broadcast from rank 0
    first. ``batch_size`` is the *global* batch: the same ``batch_size`` gives the same
    training whatever the number of ranks.

    Parameters
    ----------
    net : Network
    X : array-like of shape (n_samples, n_in)
    Y : array-like of shape (n_samples, n_out), or (n_samples,) of class labels
    comm : mpi4py communicator, optional
        Default ``MPI.COMM_WORLD``.
    finish_timeout : float, optional
        Seconds a rank that has finished training waits for the others to finish too
        before it aborts the job, naming the missing ranks (default
        ``$CHAINRULE_MPI_FINISH_TIMEOUT``, else 60).
    **options
        Every keyword of :func:`chainrule.training.fit` (epochs, batch_size, optimizer,
        shuffle, validation_data, validation_split, callbacks). Callbacks run on every
        rank and see the same (global) metrics; print or write files only where
        :func:`is_root`.

    Returns
    -------
    History
        Identical on every rank.

    Notes
    -----
    With more than one rank, an exception on any rank (bad data on one rank, a
    failing callback, divergence) prints that rank's traceback to stderr and aborts
    the communicator: the launcher exits non-zero instead of the other ranks waiting
    forever in the next all-reduce. With one rank exceptions propagate as usual.

    A rank must not leave while the others train: ``os._exit`` (any code, 0 included)
    or the interpreter exiting on a rank during ``fit`` aborts the job with a message
    naming the rank, and ``fit`` ends with a check that every rank finished (see
    ``finish_timeout``). A rank killed outright (SIGKILL) is detected by the launcher.
    Unless ``OMP_NUM_THREADS`` (or another BLAS thread variable) is set, each rank's
    BLAS threads are limited to its share of the node's cores (for the rest of the process).
    """
    comm = _resolve(comm)
    if int(comm.Get_size()) == 1:  # one process: exactly the plain loop (compiled step too)
        return training.fit(net, X, Y, **options)
    timeout = _finish_timeout(finish_timeout)
    with abort_on_error(comm), _leaving_aborts(comm):
        _blas_threads_per_rank(comm)
        _control(comm)  # the handshake's communicator, made while all ranks are here
        _sync_network(net, comm)  # first: the validation split draws from net.rng
        history = training.fit(net, X, Y, trainer_class=DistributedTrainer, comm=comm,
                               **options)
        _all_finished(comm, timeout)
    return history
