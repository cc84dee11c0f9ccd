"""The playground's web server: a Starlette app on uvicorn, one WebSocket per tab.

It runs past 300 lines because the security guard, rate limits and message loop of one
WebSocket belong together.

Each tab gets its own :class:`~chainrule.playground.session.Session`. NumPy work
(training steps, explanations, building the update) runs in a worker thread,
under the session's lock, so the event loop stays free to serve the other tabs.
A token bucket caps every tab's steps per second, whether they come from *play*
or from *step* messages.

Safety: :class:`~chainrule.playground.guard.SameOriginGuard` answers 403 to any
request, WebSocket upgrades included, whose ``Host`` is not this server's own name
and port (a DNS-rebinding page has its own name in ``Host``) or whose ``Origin`` is
another site. The page can reach nothing but the packaged ``static/`` files and the
socket.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .._extras import missing_extra

try:
    import anyio.to_thread
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import FileResponse, JSONResponse, Response
    from starlette.routing import Mount, Route, WebSocketRoute
    from starlette.staticfiles import StaticFiles
    from starlette.websockets import WebSocket, WebSocketDisconnect
except ImportError as exc:  # without the extra: one line naming it
    _error = missing_extra(exc, "chainrule.playground.server")
    if _error is None:
        raise
    raise _error from None

from .._version import __version__
from ..io.errors import json_nesting
from ..training.callbacks import DivergenceError
from . import quiz
from .config import DEFAULT_CONFIG, LIMITS, choices
from .guard import SameOriginGuard
from .session import Session

STATIC = Path(__file__).parent / "static"

#: Requests are flat objects; deeper JSON is refused before it is parsed.
MAX_MESSAGE_DEPTH = 8
#: An upload message may be larger than the others: the CSV, JSON-escaped (≤ 2 bytes a byte).
UPLOAD_MESSAGE_BYTES = 2 * LIMITS["max_upload_bytes"] + 1024


class TokenBucket:
    """At most ``rate`` steps per second on average, bursts up to ``rate`` / updates-per-second."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.t = burst, time.monotonic()

    async def take(self, n: int) -> None:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.t) * self.rate)
        self.t = now
        if self.tokens < n:
            await asyncio.sleep((n - self.tokens) / self.rate)
            self.tokens, self.t = 0.0, time.monotonic()
        else:
            self.tokens -= n


def _dumps(message: dict[str, Any]) -> str:
    # allow_nan=False: a diverged value must not become invalid JSON in the page.
    try:
        return json.dumps(message, separators=(",", ":"), allow_nan=False)
    except ValueError:
        raise ValueError(f"{message.get('type')}: the numbers are not finite (the network has "
                         "diverged); lower the learning rate and press reset") from None


class Connection:
    """One tab: its session, a training loop task and a message loop."""

    def __init__(self, websocket: WebSocket) -> None:
        self.ws = websocket
        self.session = Session()
        self.playing = asyncio.Event()
        self.send_lock = asyncio.Lock()
        max_steps = LIMITS["max_steps_per_second"]
        self.bucket = TokenBucket(max_steps, max_steps / LIMITS["updates_per_second"])

    async def send(self, text: str) -> None:
        async with self.send_lock:
            await self.ws.send_text(text)

    async def error(self, message: str, request: str | None = None) -> None:
        await self.send(_dumps({"type": "error", "message": message, "request": request}))

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` in a worker thread, holding the session's lock.

        NumPy's floating-point warnings are off: a value that stops being finite is
        reported to the page (a DivergenceError, or a message that cannot be sent), not
        printed on the server's terminal once per tab.
        """
        def locked() -> Any:
            with self.session.lock, np.errstate(all="ignore"):
                return fn(*args)

        return await anyio.to_thread.run_sync(locked)

    # -- work done in the thread ----------------------------------------------------------
    def _train(self, n: int) -> str:
        self.session.train(n)
        return _dumps(self.session.update_message())

    def _rebuilt(self) -> list[str]:
        s = self.session
        return [_dumps(s.data_message()), _dumps(s.update_message())]

    def _apply(self, update: object) -> list[str]:
        self.session.apply(update)
        return self._rebuilt()

    def _reset(self) -> list[str]:
        """New initial weights; if this session's data or settings cannot be rebuilt into
        messages the page can read, the default data set and settings instead (reset
        always brings the tab back)."""
        try:
            self.session.reset()
            return self._rebuilt()
        except (ValueError, TypeError, ArithmeticError, DivergenceError) as exc:
            self.session.recover()
            notice = _dumps({"type": "error", "request": "reset",
                             "message": f"reset: {exc}; back to the default data set and "
                             "settings"})
            return [*self._rebuilt(), notice]

    def _rewind(self) -> list[str]:
        self.session.rewind()
        return self._rebuilt()

    def _upload(self, text: object, name: object) -> list[str]:
        self.session.upload(text, name)
        return self._rebuilt()

    def _state(self) -> str:
        s = self.session
        return _dumps({"type": "state", **s.state(), "history": s.history, "link": s.link()})

    async def replay(self, link: object) -> None:
        """Rebuild the session a link describes and replay its steps, through the same
        token bucket as *play*, a burst at a time."""
        self.playing.clear()
        plan = await self.call(self.session.begin_replay, link)
        burst = LIMITS["max_steps_per_second"] // LIMITS["updates_per_second"]
        for n_steps, fields in plan:
            while n_steps > 0:
                n = min(burst, n_steps)
                await self.bucket.take(n)
                await self.call(self.session.train, n)
                n_steps -= n
            if fields is not None:
                await self.call(self.session.apply, fields)
        for text in await self.call(self._rebuilt):
            await self.send(text)
        await self.send(_dumps({"type": "replayed", "step": self.session.step}))

    # -- loops ---------------------------------------------------------------------------------
    async def run(self) -> None:
        hello = {"type": "hello", "version": __version__, "limits": LIMITS,
                 "choices": choices(), "defaults": DEFAULT_CONFIG}
        await self.send(_dumps(hello))
        for text in await self.call(self._rebuilt):
            await self.send(text)
        trainer = asyncio.create_task(self.train_loop())
        try:
            await self.receive_loop()
        finally:
            trainer.cancel()
            try:
                await trainer
            except (asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                pass

    async def train_loop(self) -> None:
        """Train and send an update, up to ``updates_per_second`` times a second.

        ``steps_per_update`` is an upper bound: when the machine is busy (many tabs)
        and an update takes longer than its slot, the steps per update are halved, and
        they grow back when there is room. The page keeps getting frequent updates;
        training slows down instead.
        """
        interval = 1.0 / LIMITS["updates_per_second"]
        n = 1
        while True:
            await self.playing.wait()
            t0 = time.monotonic()
            n_max = self.session.config["steps_per_update"]
            n = min(n, n_max)
            await self.bucket.take(n)
            try:
                text = await self.call(self._train, n)
            except DivergenceError as exc:
                self.playing.clear()
                await self.error(f"{exc}; training paused — lower the learning rate and reset",
                                 "play")
                continue
            await self.send(text)
            elapsed = time.monotonic() - t0
            # Fewer steps when an update overran its slot, more when there is room to spare.
            if elapsed > interval:
                n = max(1, n // 2)
            elif elapsed < 0.5 * interval:
                n = min(n_max, n + max(1, n // 4))
            await asyncio.sleep(max(0.0, interval - elapsed))

    async def receive_loop(self) -> None:
        limit = LIMITS["max_message_bytes"]
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                await self.error("message: expected a JSON text message, got binary data")
                continue
            size = len(text.encode())
            # Only an upload (a CSV of up to max_upload_bytes) may be larger than the limit.
            too_big = (f"message: {size} bytes is over the limit of {limit} bytes (an upload's "
                       f"CSV: of {LIMITS['max_upload_bytes']} bytes)")
            if size > UPLOAD_MESSAGE_BYTES:
                await self.error(too_big)
                continue
            depth, _ = json_nesting(text.encode())
            if depth > MAX_MESSAGE_DEPTH:  # refused before parsing: no RecursionError
                await self.error(f"message: nested {depth} levels deep; at most "
                                 f"{MAX_MESSAGE_DEPTH} levels are read")
                continue
            try:
                request = json.loads(text)
            except json.JSONDecodeError as exc:
                await self.error(too_big if size > limit else
                                 f"message: not valid JSON ({exc.msg} at character {exc.pos})")
                continue
            kind = request.get("type") if isinstance(request, dict) else None
            if size > limit and kind != "upload":
                await self.error(too_big)
                continue
            try:
                await self.handle(kind, request)
            except (ValueError, TypeError, DivergenceError) as exc:
                await self.error(str(exc), kind if isinstance(kind, str) else None)

    async def handle(self, kind: object, request: dict[str, Any]) -> None:
        s = self.session
        if kind == "play":
            self.playing.set()
        elif kind == "pause":
            self.playing.clear()
        elif kind == "step":
            self.playing.clear()
            n = request.get("n", 1)
            cap = LIMITS["max_steps_per_second"] // LIMITS["updates_per_second"]
            if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= cap:
                raise ValueError(f"n: expected an integer in 1..{cap} steps, got {n!r}")
            await self.bucket.take(n)
            await self.send(await self.call(self._train, n))
        elif kind == "config":
            for text in await self.call(self._apply, request.get("config")):
                await self.send(text)
        elif kind == "reset":
            for text in await self.call(self._reset):
                await self.send(text)
        elif kind == "explain_weight":
            args = [request.get(key) for key in ("layer", "j", "k", "sample")]
            await self.send(_dumps(await self.call(s.explain_weight, *args)))
        elif kind == "explain_neuron":
            args = [request.get(key) for key in ("layer", "j", "sample")]
            await self.send(_dumps(await self.call(s.explain_neuron, *args)))
        elif kind == "state":
            await self.send(await self.call(self._state))
        elif kind == "walk":
            self.playing.clear()
            await self.send(_dumps(await self.call(s.walkthrough, request.get("sample"))))
        elif kind == "rewind":
            self.playing.clear()
            for text in await self.call(self._rewind):
                await self.send(text)
        elif kind == "replay":
            await self.replay(request.get("link"))
        elif kind == "upload":
            self.playing.clear()
            for text in await self.call(self._upload, request.get("text"), request.get("name")):
                await self.send(text)
        elif kind == "download":
            await self.send(_dumps(await self.call(s.model_file)))
        elif kind == "quiz":
            await self.send(_dumps(quiz.question(request.get("kind"), request.get("seed"))))
        elif kind == "quiz_answer":
            await self.send(_dumps(quiz.answer(request.get("kind"), request.get("seed"),
                                               request.get("answer"))))
        elif kind == "quiz_hint":
            await self.send(_dumps(quiz.hint(request.get("kind"), request.get("seed"),
                                             request.get("n"))))
        else:
            valid = ("play, pause, step, reset, rewind, config, explain_weight, explain_neuron, "
                     "state, walk, replay, upload, download, quiz, quiz_answer, quiz_hint")
            raise ValueError(f"type: unknown message type {kind!r}; valid types are {valid}")


def create_app(names: Iterable[str] = ()) -> SameOriginGuard:
    """The ASGI application, wrapped in :class:`SameOriginGuard`.

    Parameters
    ----------
    names : iterable of str
        Extra host names to accept in ``Host`` (the ``--host`` value).
    """
    open_tabs = {"n": 0}

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-store"})

    async def info(request: Request) -> Response:
        return JSONResponse({"version": __version__, "limits": LIMITS, "choices": choices(),
                             "defaults": DEFAULT_CONFIG, "open_tabs": open_tabs["n"]})

    async def socket(websocket: WebSocket) -> None:
        await websocket.accept()
        if open_tabs["n"] >= LIMITS["max_sessions"]:
            await websocket.send_text(_dumps({
                "type": "error", "request": None,
                "message": f"too many open playground tabs (limit {LIMITS['max_sessions']}); "
                           "close one and reload"}))
            await websocket.close(1013)
            return
        open_tabs["n"] += 1
        try:
            await Connection(websocket).run()
        except WebSocketDisconnect:
            pass
        finally:
            open_tabs["n"] -= 1

    app = Starlette(routes=[
        Route("/", index),
        Route("/api/info", info),
        WebSocketRoute("/ws", socket),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ])
    return SameOriginGuard(app, names)


def serve(host: str = "127.0.0.1", port: int = 8765, *, open_browser: bool = True,
          print_fn: Callable[[str], None] = print) -> int:
    """Bind, print the URL, optionally open a browser, serve until Ctrl-C. Returns 0."""
    import socket
    import threading
    import webbrowser

    import uvicorn

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)  # from now on a client that reads the printed URL can connect
    except OSError as exc:
        sock.close()
        raise ValueError(f"--host/--port: cannot listen on {host}:{port} ({exc.strerror}); "
                         "choose another --port, or 0 for any free port") from exc
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else shown}:{port}/"
    config = uvicorn.Config(
        create_app([shown]), log_level="warning", lifespan="off", ws="websockets-sansio",
        ws_max_size=max(4 * LIMITS["max_message_bytes"], UPLOAD_MESSAGE_BYTES),
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    print_fn(f"chainrule playground: {url}  (Ctrl-C to stop)")
    if open_browser:  # once uvicorn is up; a daemon, so a stuck browser can't block exit
        opener = threading.Timer(0.5, webbrowser.open, args=(url,))
        opener.daemon = True
        opener.start()
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises the SIGINT it handled, after shutting down
        pass
    finally:
        sock.close()
    print_fn("chainrule playground: stopped")
    return 0
