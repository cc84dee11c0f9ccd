"""Issue 28, item 8 (files, signals, the playground) and the CLI's one-line output.

* every write chainrule does fails as one line naming the file and what failed (a full
  disk, no permission, a read-only file system, a name too long), the previous file
  intact and no temporary file left; a device target (``/dev/full``) is written, never
  replaced by a regular file;
* SIGTERM during a library ``chainrule.save`` (no handler installed) removes the
  temporary file and still ends the process as SIGTERM does;
* an upload of 1e308 values is refused naming the row and column, and reset always
  brings the tab back;
* the CLI prints no raw NumPy warning, no multi-line error, and names an internal error.

The campaign behind these is ``bench/hostile_misc.py``.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chainrule
from chainrule.cli import main
from chainrule.io import atomic
from chainrule.io.atomic import FileWriteError
from chainrule.playground import Session
from chainrule.playground.server import Connection, _dumps
from chainrule.playground.upload import parse_points


def _temps(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def _model(tmp_path: Path) -> Path:
    return chainrule.save(chainrule.MLP([2, 3, 1], seed=0), tmp_path / "model.safetensors")


# -- writes: one line naming the file -----------------------------------------------------
@pytest.mark.parametrize(("where", "code", "words"), [
    ("write", errno.ENOSPC, "cannot write the file (No space left on device)"),
    ("fsync", errno.EIO, "cannot write the file (Input/output error)"),
    ("open", errno.EROFS, "cannot create a file in {dir} (Read-only file system)"),
    ("open", errno.EACCES, "cannot create a file in {dir} (Permission denied)"),
    ("replace", errno.ENOSPC, "cannot replace the file (No space left on device)"),
])
def test_write_errors_name_the_file_and_keep_the_old_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, code: int,
        words: str) -> None:
    target = tmp_path / "m.safetensors"
    target.write_bytes(b"old")

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code))

    real_open = os.open
    if where == "open":  # only the temporary file's creation fails
        def fail_open(path: object, *args: object, **kwargs: object) -> int:
            if str(path).endswith(".tmp"):
                fail()
            return real_open(path, *args, **kwargs)  # type: ignore[arg-type]
        monkeypatch.setattr(atomic.os, "open", fail_open)
    else:
        monkeypatch.setattr(atomic.os, where, fail)
    with pytest.raises(FileWriteError) as info:
        atomic.atomic_write_bytes(target, b"new" * 1000)
    monkeypatch.undo()
    assert str(info.value) == f"{target}: " + words.format(dir=tmp_path)
    assert info.value.errno == code and isinstance(info.value, OSError)
    assert target.read_bytes() == b"old" and _temps(tmp_path) == []


def test_a_device_target_is_written_not_replaced(tmp_path: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    link = tmp_path / "full"  # a link: the code before replaced the link, never the device
    link.symlink_to("/dev/full")
    with pytest.raises(FileWriteError, match=f"^{link}: cannot write the file \\(No space"):
        chainrule.save(chainrule.MLP([2, 2, 1], seed=0), link)
    assert link.is_symlink() and not link.resolve().is_file()
    assert atomic.atomic_write_bytes(tmp_path / "null", b"") and True  # a plain file still works


def test_a_link_to_the_process_stdout_is_written_through(tmp_path: Path) -> None:
    link = tmp_path / "out.csv"  # like /dev/stdout, a regular file when redirected
    link.symlink_to("/proc/self/fd/1")
    captured = tmp_path / "captured.txt"
    with captured.open("wb") as stdout:
        subprocess.run([sys.executable, "-c", "import sys; from chainrule.io import atomic; "
                        "atomic.atomic_write_bytes(sys.argv[1], b'a,b\\n')", str(link)],
                       stdout=stdout, check=True)
    assert captured.read_bytes() == b"a,b\n" and link.is_symlink()


def test_names_too_long_for_a_temporary_name_still_work(tmp_path: Path) -> None:
    long_ok = tmp_path / ("é" * 100 + ".bin")  # 204 bytes: the file system takes it
    atomic.atomic_write_bytes(long_ok, b"x")
    assert long_ok.read_bytes() == b"x" and _temps(tmp_path) == []
    too_long = tmp_path / ("x" * 300)
    with pytest.raises(FileWriteError, match="cannot write the file \\(File name too long\\)$"):
        atomic.atomic_write_bytes(too_long, b"x")


def test_create_directory_with_names_what_failed(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full)
    with pytest.raises(FileWriteError, match="run: cannot create the directory \\(No space"):
        atomic.create_directory_with(tmp_path / "run", {"a.json": b"{}"})
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_the_cli_prints_a_full_disk_as_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    assert main(["train", "--dataset", "xor", "--epochs", "1", "--quiet", "--out", str(run)]) == 0
    out = tmp_path / "g.svg"
    out.write_text("old")
    capsys.readouterr()

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full)
    assert main(["graph", str(run / "model.safetensors"), "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {out}: cannot write the file (No space left on device)"]
    assert out.read_text() == "old" and _temps(tmp_path) == []
    assert main(["train", "--dataset", "xor", "--epochs", "1", "--quiet", "--out",
                 str(tmp_path / "run2")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "run2" in err[0] and "(No space left on device)" in err[0], err
    assert "Errno" not in err[0]


# -- SIGTERM during a library save -----------------------------------------------------------
SAVER = textwrap.dedent("""
    import os, sys, time
    import chainrule
    from chainrule.io import atomic

    path = sys.argv[1]
    real_fsync = atomic.os.fsync

    def slow_fsync(fd):
        print("writing", flush=True)
        time.sleep(30)
        real_fsync(fd)

    atomic.os.fsync = slow_fsync
    chainrule.save(chainrule.MLP([2, 3, 1], seed=1), path)
""")


def test_sigterm_during_a_library_save_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = _model(tmp_path)
    before = path.read_bytes()
    script = tmp_path / "saver.py"
    script.write_text(SAVER)
    proc = subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "writing"
        assert len(_temps(tmp_path)) == 1
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == -signal.SIGTERM  # ended as SIGTERM ends a process
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert _temps(tmp_path) == [] and path.read_bytes() == before


def test_the_write_handler_is_temporary_and_never_replaces_a_users(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[object] = []
    real_fsync = atomic.os.fsync

    def spy(fd: int) -> None:
        seen.append(signal.getsignal(signal.SIGTERM))
        real_fsync(fd)

    monkeypatch.setattr(atomic.os, "fsync", spy)
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        atomic.atomic_write_bytes(tmp_path / "a", b"x")  # seen[0]: the file's fsync
        assert callable(seen[0]) and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL

        def mine(signum: int, frame: object) -> None:
            pass

        signal.signal(signal.SIGTERM, mine)
        seen.clear()
        atomic.atomic_write_bytes(tmp_path / "b", b"x")
        assert seen[0] is mine and signal.getsignal(signal.SIGTERM) is mine
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        seen.clear()
        worker = threading.Thread(target=atomic.atomic_write_bytes, args=(tmp_path / "c", b"y"))
        worker.start()
        worker.join()
        assert (tmp_path / "c").read_bytes() == b"y" and seen[0] == signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, previous)


# -- the playground: extreme uploads, and reset --------------------------------------------
def _points(value: str) -> str:
    return "".join(f"{value if i % 2 else 0.5},{i % 3},{i % 2}\n" for i in range(40))


@pytest.mark.parametrize("value", ["1e308", "-1e308", "1e300", "1e7"])
def test_an_upload_of_huge_values_is_refused_naming_the_cell(value: str) -> None:
    with pytest.raises(ValueError, match=f"row 2, column 1 \\('x1'\\): {value} is too large"):
        parse_points(_points(value), "big.csv")
    s = Session({"dataset": "circles"})
    with pytest.raises(ValueError, match="big.csv"):
        s.upload(_points(value), "big.csv")
    assert s.config["dataset"] == "circles" and s.uploaded is None
    _dumps(s.update_message())
    s.reset()
    _dumps(s.data_message())


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), min_size=2,
                max_size=6))
def test_any_upload_is_refused_in_one_line_or_drawn_and_reset_recovers(
        values: list[float]) -> None:
    rows = "".join(f"{values[i % len(values)]!r},{values[(i + 1) % len(values)]!r},{i % 2}\n"
                   for i in range(24))
    c = Connection(None)  # type: ignore[arg-type]
    with np.errstate(all="ignore"):  # as Connection.call runs them
        try:
            messages = c._upload(rows, "fuzz.csv")
        except ValueError as exc:
            assert "\n" not in str(exc) and str(exc).startswith("fuzz.csv: row ")
            messages = []
        for m in [*messages, *c._reset(), c._train(2)]:
            json.loads(m, parse_constant=lambda name: pytest.fail(f"{name} in a message"))


def test_reset_brings_back_a_session_whose_data_cannot_be_drawn() -> None:
    c = Connection(None)  # type: ignore[arg-type]  # no socket: the thread-side work only
    s = c.session
    s.upload(_points("3.0"), "ok.csv")
    X, labels = s.uploaded  # type: ignore[misc]
    huge = np.full_like(X, 1e308)
    huge[::2] = -1e308
    s.uploaded = (huge, labels)  # as the code before accepted
    with np.errstate(all="ignore"), contextlib.suppress(ValueError):
        s._make_data()  # the plane's grid is now inf: no message can be drawn
    with np.errstate(all="ignore"):  # as Connection.call runs it
        messages = c._reset()
    assert [m.split('"type":"')[1].split('"')[0] for m in messages] == ["data", "update", "error"]
    assert "back to the default data set" in messages[-1]
    assert s.config["dataset"] == "circles" and s.uploaded is None


def test_the_server_refuses_1e308_and_reset_recovers() -> None:
    import asyncio

    from test_playground_server import receive_until, start_server, ws_url
    from websockets.asyncio.client import connect

    async def go(base: str) -> None:
        async with connect(ws_url(base)) as ws:
            await receive_until(ws, "update")
            await ws.send(json.dumps({"type": "upload", "name": "big.csv",
                                      "text": _points("1e308")}))
            err = await receive_until(ws, "error")
            assert err["request"] == "upload" and "1e308 is too large" in err["message"]
            await ws.send(json.dumps({"type": "reset"}))
            assert (await receive_until(ws, "data"))["config"]["dataset"] == "circles"
            assert (await receive_until(ws, "update"))["step"] == 0
            await ws.send(json.dumps({"type": "step", "n": 2}))
            assert (await receive_until(ws, "update"))["step"] == 2

    with start_server() as (_, base):
        asyncio.run(go(base))


# -- the CLI: one line for every error and warning ------------------------------------------
def _fake_info(monkeypatch: pytest.MonkeyPatch, body: object) -> None:
    from chainrule.cli import info

    monkeypatch.setattr(info, "run", body)


def test_numpy_warnings_never_reach_the_user_raw(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    model = _model(tmp_path)

    def overflow(args: object) -> int:
        with np.errstate(all="warn"):
            np.float32(3e38) * np.float32(10)
        return 0

    _fake_info(monkeypatch, overflow)
    assert main(["info", str(model)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning: the arithmetic met overflow")
    assert "RuntimeWarning" not in err[0] and "encountered" not in err[0]

    def overflow_then_fail(args: object) -> int:
        overflow(args)
        raise ValueError("data.csv: row 2, column 1 ('a'): 1e200 is too large for float32")

    _fake_info(monkeypatch, overflow_then_fail)
    assert main(["info", str(model)]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: data.csv: row 2, column 1 ('a'): 1e200 is too large for float32"]


def test_errors_are_one_bounded_line_and_bugs_say_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    model = _model(tmp_path)

    def raise_(exc: BaseException) -> object:
        def run(args: object) -> int:
            raise exc
        return run

    _fake_info(monkeypatch, raise_(ValueError("label 'a\nb\r' is not a class")))
    assert main(["info", str(model)]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: label 'a\\nb\\r' is not a class"]
    _fake_info(monkeypatch, raise_(ValueError("x" * 200_000)))
    assert main(["info", str(model)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and len(err[0]) < 2100 and "characters left out" in err[0]
    _fake_info(monkeypatch, raise_(TypeError("can only concatenate str (not \"float\") to str")))
    assert main(["info", str(model)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: TypeError: can only concatenate")
    assert "--debug" in err[0]
    assert main(["info", str(model), "--debug"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_a_raw_os_error_prints_its_path_and_reason(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    model = _model(tmp_path)
    long_name = str(tmp_path / ("n" * 300))

    def deep(args: object) -> int:
        os.stat(long_name)  # as a Path.exists() deep in a command does
        return 0

    _fake_info(monkeypatch, deep)
    assert main(["info", str(model)]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: {long_name}: File name too long"]
    long_run = tmp_path / ("r" * 300)
    assert main(["train", "--dataset", "xor", "--epochs", "1", "--quiet", "--out",
                 str(long_run)]) == 1
    line = capsys.readouterr().err.strip().splitlines()
    assert len(line) == 1 and str(long_run) in line[0] and "Errno" not in line[0]
