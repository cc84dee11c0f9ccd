"""``chainrule playground``: train a network live in the browser, and click a weight to see
the chain rule behind its update.
"""

from __future__ import annotations

import argparse
import sys

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the playground's options on ``parser``."""
    parser.add_argument("--host", default=None,
                        help="address to listen on (default 127.0.0.1: this computer only)")
    parser.add_argument("--port", type=int, default=8765,
                        help="TCP port (default 8765; 0 picks a free port)")
    parser.add_argument("--no-browser", action="store_true",
                        help="print the URL but don't open a web browser")


def run(args: argparse.Namespace) -> int:
    """Start the server; returns the exit status.

    0 after Ctrl-C, 2 for a bad ``--port``, 1 when the server can't start (port busy,
    the ``playground`` extra not installed).
    """
    if not 0 <= args.port <= 65535:
        print(f"chainrule playground: error: --port: expected 0..65535, got {args.port}",
              file=sys.stderr)
        return 2
    host = args.host or "127.0.0.1"
    if args.host is not None and host not in LOOPBACK:
        print(f"chainrule playground: warning: --host {host} makes the playground reachable "
              "from other computers; anyone who can reach it can train networks on this "
              "computer's CPU. Requests must still name this server in Host and Origin.",
              file=sys.stderr)
    try:
        from ..playground.server import serve
    except ImportError as exc:
        print(f"chainrule playground: error: {exc.name or exc} is not installed; "
              "install the extra with: pip install 'chainrule[playground]'", file=sys.stderr)
        return 1
    try:
        return serve(host, args.port, open_browser=not args.no_browser,
                     print_fn=lambda line: print(line, flush=True))
    except ValueError as exc:
        print(f"chainrule playground: error: {exc}", file=sys.stderr)
        return 1
