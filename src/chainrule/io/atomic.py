"""Atomic file writes that leave nothing behind.

:func:`atomic_write_bytes` writes a temporary file next to the target, flushes and
fsyncs it, renames it over the target (:func:`os.replace`, atomic on POSIX and Windows)
and fsyncs the directory. The target is therefore always either the previous file or
the new one, never a mix.

Temporary files are named ``.<name>.<pid>.<random>.tmp`` (``<name>`` the target's file
name, ``<pid>`` the writing process), in the target's directory:

* every exit path Python sees (an exception, ``KeyboardInterrupt``, a ``SystemExit``
  raised by a SIGTERM handler such as the CLI's) removes the temporary file;
* SIGTERM and SIGHUP with their default disposition (a library user who installed no
  handler) would end the process without any of that: for the few milliseconds of a
  write, on the main thread, a handler is installed that removes the temporary file and
  then ends the process with the same signal, as the default would; the previous handler
  is put back as soon as the write is done. A handler of the program's own (the CLI's)
  is left alone;
* a process killed outright (SIGKILL, a power cut) cannot clean up, so each write first
  sweeps the stale temporary files of the same target: those whose process no longer
  runs, or whose lock no process holds any more. The writer holds an exclusive
  ``flock`` on its temporary file for as long as it writes (POSIX), which the kernel
  drops when the process dies, so a reused pid cannot keep a stale file alive.

Every ``OSError`` of a write (no space left, permission denied, a read-only file
system, a name too long, an I/O error) is raised as :class:`FileWriteError`, an
``OSError`` keeping the ``errno``, whose message is one line naming the file and what
failed: ``model.safetensors: cannot write the file (No space left on device)``. A
target that exists but is not a regular file (``/dev/stdout``, a FIFO, a device) cannot
be replaced atomically and is written in place.

``atomic_write_bytes`` has the signature of ``chainrule.io.atomic_write_bytes`` and can
replace it.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["FileWriteError", "atomic_write_bytes", "create_directory_with", "is_temp_file",
           "sweep_temp_files", "temp_name"]

#: A temporary file whose writer's pid is alive but whose lock is free is left alone for
#: this long (seconds): the writer may be between creating and locking it. Older ones
#: belong to a dead writer whose pid was reused.
LOCK_GRACE_S = 60.0
#: Where writers cannot lock (no fcntl), a stale file of a live pid is removed after this.
NO_LOCK_MAX_AGE_S = 24 * 3600.0

_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[0-9a-f]+\.tmp$")
#: A temporary file name carries at most this many bytes of the target's name, so that a
#: target name a file system accepts (255 bytes) still has a temporary name.
TEMP_NAME_BYTES = 160


class FileWriteError(OSError):
    """A file chainrule could not write: ``"{path}: {reason}"``, one line.

    An ``OSError``: ``errno`` and ``strerror`` are the system's (``strerror`` alone, as in
    ``f"…({exc.strerror})"``, reads as before); the previous file, if any, is intact.

    Attributes
    ----------
    path : str
        The file (or directory) that could not be written, as given.
    reason : str
        What failed, without the path: ``cannot write the file (No space left on device)``.
    """

    def __init__(self, path: str | os.PathLike[str], reason: str, code: int | None = None,
                 strerror: str | None = None) -> None:
        super().__init__(code, strerror or reason)
        self.path, self.reason = str(path), reason

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.path, self.reason, self.errno, self.strerror))


def write_error(path: str | os.PathLike[str], what: str, exc: OSError) -> FileWriteError:
    """``exc`` (an ``OSError`` of ``what``: "write the file", …) as a FileWriteError."""
    if isinstance(exc, FileWriteError):
        return exc
    reason = exc.strerror or str(exc) or type(exc).__name__
    return FileWriteError(path, f"cannot {what} ({reason})", exc.errno, reason)


def _short(name: str) -> str:
    name = name[:TEMP_NAME_BYTES]
    while len(name.encode("utf-8", "surrogateescape")) > TEMP_NAME_BYTES:
        name = name[:-1]
    return name


def temp_name(name: str, pid: int | None = None) -> str:
    """A fresh temporary file name for the target file name ``name``."""
    pid = os.getpid() if pid is None else pid
    return f".{_short(name)}.{pid}.{secrets.token_hex(4)}.tmp"


def is_temp_file(filename: str, name: str | None = None) -> bool:
    """Whether ``filename`` is one of this module's temporary files (of target ``name``)."""
    m = _TEMP.match(filename)
    return m is not None and (name is None or m.group("name") == _short(name))


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
        if m is None or (name is not None and m.group("name") != _short(name)):
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


_END_SIGNALS = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n))


@contextlib.contextmanager
def _removed_on_termination(remove: Callable[[], None]) -> Iterator[None]:
    """While inside, SIGTERM and SIGHUP with their default disposition first ``remove()``
    the temporary file, then end the process with the signal as the default would.

    Only on the main thread (the only one Python lets set handlers) and only for signals
    nobody handles: a program's own handler (the CLI's raises an exception, and the
    ``finally`` blocks clean up) is left alone. The previous handlers come back on exit.
    """
    previous: dict[int, object] = {}

    def end(signum: int, frame: object) -> None:
        for s, handler in previous.items():
            signal.signal(s, handler)  # type: ignore[arg-type]
        with contextlib.suppress(OSError):
            remove()
        os.kill(os.getpid(), signum)  # the default disposition: the process ends here

    if threading.current_thread() is threading.main_thread():
        for signum in _END_SIGNALS:
            with contextlib.suppress(ValueError, OSError):
                if signal.getsignal(signum) == signal.SIG_DFL:
                    previous[signum] = signal.signal(signum, end)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            with contextlib.suppress(ValueError, OSError):
                signal.signal(signum, handler)  # type: ignore[arg-type]


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _write_in_place(path: Path, data: bytes) -> Path:
    """Write to a target that is not a regular file (a device, a FIFO, ``/dev/stdout``):
    it cannot be replaced, only written."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise write_error(path, "open the file for writing", exc) from None
    try:
        _write_all(fd, data)
    except OSError as exc:
        raise write_error(path, "write the file", exc) from None
    finally:
        os.close(fd)
    return path


#: Paths that stand for an open file of the process (``/dev/stdout`` is a link to whatever
#: the shell gave, a regular file when redirected): written in place, never renamed over.
_STREAMS = ("/proc/", "/dev/fd/", "/dev/stdout", "/dev/stderr", "/dev/stdin")


def _is_special(path: Path) -> bool:
    """Whether ``path`` exists and is not a regular file, or names a stream of the
    process: written in place."""
    try:
        st = path.stat()
    except OSError:
        return False
    if not stat.S_ISREG(st.st_mode):
        return True
    if os.name != "posix":
        return False
    if os.path.abspath(path).startswith(_STREAMS):
        return True
    try:
        return path.is_symlink() and os.readlink(path).startswith(_STREAMS)
    except OSError:
        return False


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` so that it is either fully written or untouched.

    Stale temporary files of ``path`` (left by killed writers) are removed first; the
    new temporary file is removed on every exit path Python sees and on SIGTERM, and
    ``path`` keeps its previous contents unless the rename happened. Raises
    :class:`FileWriteError` (an ``OSError``) naming the file when the system refuses.
    """
    path = Path(path)
    parent = path.parent
    try:
        is_dir, parent_is_dir = path.is_dir(), parent.is_dir()
    except OSError as exc:  # a name too long, a loop of links, …
        raise write_error(path, "write the file", exc) from None
    if is_dir:
        raise ValueError(f"{path}: is a directory; give a file path")
    if not parent_is_dir:
        raise FileNotFoundError(
            f"{path}: the directory {parent} does not exist; create it first"
        )
    if _is_special(path):
        return _write_in_place(path, data)
    sweep_temp_files(parent, path.name)
    tmp = parent / temp_name(path.name)
    with _removed_on_termination(lambda: os.unlink(tmp)):
        _write_and_rename(path, tmp, data)
    fsync_directory(parent)
    return path


def _write_and_rename(path: Path, tmp: Path, data: bytes) -> None:
    fd = -1
    renamed = False
    what = f"create a file in {path.parent}"
    try:
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                         0o600)
        except OSError as exc:  # name the target, not a temporary file nobody knows
            raise write_error(path, what, exc) from None
        what = "write the file"
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        _set_mode(fd, path)
        _write_all(fd, data)
        os.fsync(fd)
        if fcntl is None:  # pragma: no cover - Windows cannot rename an open file
            os.close(fd)
            fd = -1
        what = "replace the file"
        os.replace(tmp, path)
        renamed = True
    except OSError as exc:
        raise write_error(path, what, exc) from None
    finally:
        if fd >= 0:
            os.close(fd)
        if not renamed:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def create_directory_with(path: str | os.PathLike[str], files: dict[str, bytes]) -> Path:
    """Create the directory ``path`` holding ``files`` (name → bytes) atomically: it
    appears with all of them, or not at all. The parent directories are created.

    Raises ``FileExistsError`` if ``path`` exists; other errors are a
    :class:`FileWriteError` naming the directory (or the parent that could not be made).
    """
    import shutil

    path = Path(path)
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(parent, "create the directory", exc) from None
    sweep_temp_files(parent, path.name)
    if path.exists() or path.is_symlink():
        raise FileExistsError(17, "exists", str(path))
    tmp = parent / temp_name(path.name)
    with _removed_on_termination(lambda: shutil.rmtree(tmp, ignore_errors=True)):
        try:
            _fill_and_rename(path, tmp, files)
        except FileExistsError:
            raise
        except OSError as exc:
            raise write_error(path, "create the directory", exc) from None
        finally:
            if os.path.lexists(tmp):
                shutil.rmtree(tmp, ignore_errors=True)
    fsync_directory(parent)
    return path


def _fill_and_rename(path: Path, tmp: Path, files: dict[str, bytes]) -> None:
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
    except OSError:
        if path.exists():
            raise FileExistsError(17, "exists", str(path)) from None
        raise
