"""`omnilive serve` runs the server; `omnilive call` calls one from files."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys
from collections.abc import Sequence

from rtc.config import ServerConfig


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="omnilive", description="Self-hosted real-time omni backend for phones (WebRTC)."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser(
        "serve", help="run the server", formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    defaults = ServerConfig()
    serve.add_argument("--host", default=os.environ.get("OMNILIVE_HOST", defaults.host))
    serve.add_argument(
        "--port", type=int, default=int(os.environ.get("OMNILIVE_PORT", defaults.port))
    )
    serve.add_argument(
        "--backend",
        default=defaults.backend,
        choices=["embedded", "tone"],
        help="model backend (tone: no models, answers with a tone; for measuring the gateway)",
    )
    serve.add_argument(
        "--max-calls",
        type=int,
        default=defaults.max_calls,
        help="concurrent calls before new ones get 429",
    )
    serve.add_argument(
        "--ice-server",
        action="append",
        default=[],
        metavar="URL",
        help="STUN/TURN server, e.g. stun:host:3478 or turn:user:pass@host:3478 (repeatable)",
    )
    serve.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="allow browser pages from this origin (repeatable; * for any)",
    )
    serve.add_argument(
        "--peer-timeout",
        type=float,
        default=defaults.peer_timeout_s,
        help="seconds without media or events before a call is ended",
    )
    serve.add_argument(
        "--allow-public",
        action="store_true",
        help="listen on a non-loopback address (there is no authentication yet)",
    )
    serve.add_argument(
        "--log-level", default=defaults.log_level, choices=["debug", "info", "warning", "error"]
    )

    call = sub.add_parser(
        "call",
        help="call a server: speak a WAV file, print events, record the answer",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    call.add_argument("url", nargs="?", default="http://127.0.0.1:8080", help="server base URL")
    call.add_argument("--wav", help="audio file to say (any format FFmpeg reads)")
    call.add_argument("--image", help="picture to show as the camera")
    call.add_argument("--video", help="video file to show as the camera")
    call.add_argument("--text", help="send this as an input_text item and ask for a response")
    call.add_argument(
        "--scenario", default=None, choices=["tutor", "interpreter", "explainer", "chat"]
    )
    call.add_argument("--languages", default=None, help="interpreter pair, e.g. en,es")
    call.add_argument(
        "--record", default="omnilive-answer.wav", help="where to save the answer audio"
    )
    call.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for answers")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    from clients.python.cli import run_call

    return run_call(args)


def _serve(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)-7s %(name)s: %(message)s"
    )
    logging.getLogger("aioice").setLevel(logging.WARNING)
    if not _is_loopback(args.host) and not args.allow_public:
        print(
            f"refusing to listen on {args.host}: omnilive has no authentication yet; "
            "pass --allow-public if this network is trusted",
            file=sys.stderr,
        )
        return 2
    import uvicorn

    from rtc.app import create_app

    config = ServerConfig(
        host=args.host,
        port=args.port,
        backend=args.backend,
        max_calls=args.max_calls,
        ice_servers=args.ice_server,
        cors_origins=args.cors_origin,
        peer_timeout_s=args.peer_timeout,
        log_level=args.log_level,
    )
    try:
        app = create_app(config)
    except Exception as exc:  # a missing model package must read as a sentence, not a traceback
        print(f"omnilive: cannot start: {exc}", file=sys.stderr)
        return 1
    print(f"omnilive: loading models, then listening on http://{args.host}:{args.port}", flush=True)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        log_level=args.log_level,
        timeout_graceful_shutdown=5,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
