"""MPICH's shared-memory segment: released as soon as MPI is up, and stale ones removed.

MPICH (ch4, POSIX shared memory) creates /dev/shm/mpich_shm_<world id>_<node id> in
MPI_Init, and the last rank of the node to call MPI_Finalize unlinks it. A job that
dies (MPI_Abort, a killed rank, a launcher timeout) never gets there, and the segment
stays until reboot. MPI_Init only returns once every rank of the node has mapped it
(MPIDI_POSIX_comm_bootstrap waits for all of them), and nothing opens it by name
afterwards, so the name can go at once: the memory lives while a rank maps it and the
kernel frees it with the last one, however the job ends. MPICH's own unlink at
finalize then finds nothing, and ignores that.
"""

from __future__ import annotations

import os
import re
import time

__all__ = ["release_shm_name", "remove_stale_shm"]

_SHM_NAME = re.compile(r"mpich_shm_[0-9a-f]+_\d+")
_STALE_NAME = re.compile(r"mpich_(shm|vci)_[0-9a-f]+_\d+")

# MPI is initialised once per process, so its segment is released once per process:
# this flag spares every later rank()/fit() call a read of /proc/self/maps.
_released = False


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


def release_shm_name() -> None:
    """Unlink the name of MPICH's init segment once MPI is initialised (once a process).

    ``CHAINRULE_MPI_KEEP_SHM`` set keeps the name (for debugging MPICH itself).
    """
    global _released
    if _released or os.environ.get("CHAINRULE_MPI_KEEP_SHM"):
        return
    from mpi4py import MPI

    if not MPI.Is_initialized() or MPI.Is_finalized():
        return
    _released = True
    if not MPI.Get_library_version().startswith("MPICH"):
        return
    for path in _mapped_shm_segments():
        try:
            os.unlink(path)  # another rank of the node may have been first
        except OSError:
            pass


def _old_segments(directory: str, min_age: float) -> dict[str, str]:
    """{real path: path} of this user's MPICH segments in ``directory`` older than
    ``min_age`` seconds."""
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return {}
    now, uid = time.time(), os.getuid()
    found = {}
    for name in names:
        if not _STALE_NAME.fullmatch(name):
            continue
        path = os.path.join(directory, name)
        try:
            st = os.stat(path, follow_symlinks=False)
        except OSError:
            continue
        if st.st_uid == uid and now - st.st_mtime >= min_age:
            found[os.path.realpath(path)] = path
    return found


def _segments_used_by(pid: str) -> set[str]:
    """The MPICH segments process ``pid`` maps or holds open (empty if it is gone or not
    ours to read)."""
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
    return used


def remove_stale_shm(directory: str = "/dev/shm", min_age: float = 60.0) -> list[str]:
    """Remove MPICH segments (``mpich_shm_*``, ``mpich_vci_*``) no process uses any more.

    For segments left by jobs that failed before :mod:`chainrule.distributed` could
    release them (or by other MPICH programs). A segment is removed only if it belongs
    to this user, is older than ``min_age`` seconds (a job that is starting has created
    but not yet mapped it for a few microseconds), and no process that this user may
    inspect (all of them, for root) maps it or holds it open. Returns the removed paths.
    Linux only (it reads ``/proc``); elsewhere it removes nothing.
    """
    candidates = _old_segments(directory, min_age)
    if not candidates or not os.path.isdir("/proc/self"):
        return []
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        used = _segments_used_by(pid)
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
