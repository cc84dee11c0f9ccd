"""DNS-rebinding and cross-site protection for the playground: same Host, same Origin, or 403.

A page on another site can make a browser send requests to 127.0.0.1, and a
DNS-rebinding page can even make them look same-origin — but its ``Host`` header
still carries its own name. So every HTTP request and WebSocket upgrade must name
this server in ``Host`` and, when it has an ``Origin``, come from this server's page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

SECURITY_HEADERS = [
    # The page loads only its own files; KaTeX's output needs inline style attributes.
    (b"content-security-policy", b"default-src 'self'; style-src 'self' 'unsafe-inline'; "
                                 b"img-src 'self' data:; font-src 'self'; connect-src 'self'; "
                                 b"frame-ancestors 'none'; base-uri 'none'; form-action 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


def _split_host(host: str) -> tuple[str, str]:
    """``"name:port"`` → (name, port); IPv6 names keep their brackets."""
    if host.startswith("["):
        name, _, rest = host.partition("]")
        return name + "]", rest[1:] if rest.startswith(":") else ""
    name, _, port = host.partition(":")
    return name, port


class SameOriginGuard:
    """ASGI middleware: 403 unless Host is this server and Origin (if sent) is this page.

    Parameters
    ----------
    app : ASGI app
    names : iterable of str
        Host names this server answers to besides the loopback names and the
        address the connection arrived on (e.g. the ``--host`` value).
    """

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]],
                 names: Iterable[str] = ()) -> None:
        self.app = app
        self.names = {n.lower() for n in (*LOOPBACK_NAMES, *names)}

    def problem(self, scope: Scope) -> str | None:
        """Why the request must be refused, or None."""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        if not host:
            return "refused: the request has no Host header"
        name, port = _split_host(host.lower())
        server = scope.get("server") or ("", None)
        local = str(server[0]).lower()
        local = f"[{local}]" if ":" in local else local
        if (name not in self.names and name != local) or port != str(server[1]):
            return (f"refused: Host {host!r} is not this playground server "
                    f"(expected 127.0.0.1:{server[1]} or localhost:{server[1]}); "
                    "this protects against DNS rebinding")
        origin = headers.get("origin")
        if origin is not None and origin.lower() != f"http://{host.lower()}":
            return (f"refused: Origin {origin!r} is not this page (http://{host}); "
                    "other web sites may not use the playground")
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        problem = self.problem(scope)
        if problem is None:
            if scope["type"] == "http":
                await self.app(scope, receive, self._with_headers(send))
            else:
                await self.app(scope, receive, send)
            return
        body = problem.encode()
        start = {"status": 403, "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                            (b"content-length", str(len(body)).encode())]}
        if scope["type"] == "http":
            await send({"type": "http.response.start", **start})
            await send({"type": "http.response.body", "body": body})
        elif "websocket.http.response" in scope.get("extensions", {}):
            await receive()  # websocket.connect
            await send({"type": "websocket.http.response.start", **start})
            await send({"type": "websocket.http.response.body", "body": body})
        else:  # a server without the denial-response extension still answers 403
            await send({"type": "websocket.close", "code": 1008, "reason": problem[:120]})

    @staticmethod
    def _with_headers(send: Send) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        return wrapped
