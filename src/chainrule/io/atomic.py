"""Atomic file writes that leave nothing behind.

:func:`atomic_write_bytes` writes a temporary file next to the target, flushes and
fsyncs it, renames it over the target (:func:`os.replace`, atomic on POSIX and Windows)
and fsyncs the directory. The target is therefore always either the previous file or
the new one, never a mix.

Temporary files are named ``.<name>.<pid>.<random>.tmp`` (``<name>`` the target's file
name, ``<pid>`` the writing process), in the target's directory:

* every exit path Python sees (an exception, ``KeyboardInterrupt``, a ``SystemExit``
  raised by a SIGTERM handler such as the CLI's) removes the temporary file;
* a process killed outright (SIGKILL, a power cut) cannot clean up, so each write first
  sweeps the stale temporary files of the same target: those whose process no longer
  runs, or whose lock no process holds any more. The writer holds an exclusive
  ``flock`` on its temporary file for as long as it writes (POSIX), which the kernel
  drops when the process dies, so a reused pid cannot keep a stale file alive.

``atomic_write_bytes`` has the signature of ``chainrule.io.atomic_write_bytes`` and can
replace it.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import time
from pathlib import Path

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["atomic_write_bytes", "create_directory_with", "is_temp_file", "sweep_temp_files",
           "temp_name"]

#: A temporary file whose writer's pid is alive but whose lock is free is left alone for
#: this long (seconds): the writer may be between creating and locking it. Older ones
#: belong to a dead writer whose pid was reused.
LOCK_GRACE_S = 60.0
#: Where writers cannot lock (no fcntl), a stale file of a live pid is removed after this.
NO_LOCK_MAX_AGE_S = 24 * 3600.0

_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[0-9a-f]+\.tmp$")


def temp_name(name: str, pid: int | None = None) -> str:
    """A fresh temporary file name for the target file name ``name``."""
    return f".{name}.{os.getpid() if pid is None else pid}.{secrets.token_hex(4)}.tmp"


def is_temp_file(filename: str, name: str | None = None) -> bool:
    """Whether ``filename`` is one of this module's temporary files (of target ``name``)."""
    m = _TEMP.match(filename)
    return m is not None and (name is None or m.group("name") == name)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if os.name != "posix":  # pragma: no cover - os.kill(pid, 0) would kill on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    except OSError:
        return True
    return True


def _lock_is_free(path: Path) -> bool:
    """Whether no process holds the writer's lock on ``path`` (False if it cannot tell)."""
    if fcntl is None:  # pragma: no cover - Windows
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    finally:
        os.close(fd)


def _is_stale(path: Path, pid: int) -> bool:
    if not _pid_alive(pid):
        return True
    try:
        age = time.time() - path.stat().st_mtime
    except OSError:
        return False
    if fcntl is None:  # pragma: no cover - Windows
        return age > NO_LOCK_MAX_AGE_S
    return age > LOCK_GRACE_S and _lock_is_free(path)


def sweep_temp_files(directory: str | os.PathLike[str], name: str | None = None) -> list[Path]:
    """Remove the stale temporary files in ``directory`` (of target ``name``, or all of
    them); returns what was removed. Files of writers still at work are left alone."""
    removed: list[Path] = []
    try:
        entries = os.listdir(directory)
    except OSError:
        return removed
    for entry in entries:
        m = _TEMP.match(entry)
        if m is None or (name is not None and m.group("name") != name):
            continue
        path = Path(directory) / entry
        if _is_stale(path, int(m.group("pid"))):
            with contextlib.suppress(OSError):
                if path.is_dir():
                    import shutil

                    shutil.rmtree(path)
                else:
                    os.unlink(path)
                removed.append(path)
    return removed


def _set_mode(fd: int, path: Path) -> None:
    """Give the temporary file the mode a plain ``open(path, "w")`` would: the old file's,
    else 0o666 less the umask."""
    if not hasattr(os, "fchmod"):  # Windows: permissions are not POSIX modes
        return
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    os.fchmod(fd, mode)


def fsync_directory(directory: str | os.PathLike[str]) -> None:
    """Make renames in ``directory`` durable (where a directory can be opened)."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` so that it is either fully written or untouched.

    Stale temporary files of ``path`` (left by killed writers) are removed first; the
    new temporary file is removed on every exit path Python sees, and ``path`` keeps its
    previous contents unless the rename happened.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: is a directory; give a file path")
    parent = path.parent
    if not parent.is_dir():
        raise FileNotFoundError(
            f"{path}: the directory {parent} does not exist; create it first"
        )
    sweep_temp_files(parent, path.name)
    tmp = parent / temp_name(path.name)
    fd = -1
    renamed = False
    try:
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                         0o600)
        except OSError as exc:  # name the directory, not a temporary file nobody knows
            raise type(exc)(exc.errno, f"cannot create a file in {parent} "
                            f"({exc.strerror or type(exc).__name__})", str(parent)) from None
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        _set_mode(fd, path)
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
        if fcntl is None:  # pragma: no cover - Windows cannot rename an open file
            os.close(fd)
            fd = -1
        os.replace(tmp, path)
        renamed = True
    finally:
        if fd >= 0:
            os.close(fd)
        if not renamed:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    fsync_directory(parent)
    return path


def create_directory_with(path: str | os.PathLike[str], files: dict[str, bytes]) -> Path:
    """Create the directory ``path`` holding ``files`` (name → bytes) atomically: it
    appears with all of them, or not at all. The parent directories are created.

    Raises ``FileExistsError`` if ``path`` exists; other ``OSError`` name the directory.
    """
    path = Path(path)
    parent = path.parent
    parent.mkdir(parents=True, exist_ok=True)
    sweep_temp_files(parent, path.name)
    if path.exists() or path.is_symlink():
        raise FileExistsError(17, "exists", str(path))
    tmp = parent / temp_name(path.name)
    done = False
    try:
        os.mkdir(tmp)
        for name, data in files.items():
            with open(tmp / name, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        fsync_directory(tmp)
        if path.exists() or path.is_symlink():  # rename would replace an empty directory
            raise FileExistsError(17, "exists", str(path))
        try:
            os.rename(tmp, path)
        except OSError as exc:
            if path.exists():
                raise FileExistsError(17, "exists", str(path)) from None
            raise type(exc)(exc.errno, exc.strerror, str(path)) from None
        done = True
    finally:
        if not done:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    fsync_directory(parent)
    return path
