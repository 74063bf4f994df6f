"""`omnilive serve` runs the server; `omnilive call` calls one from files."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from types import FrameType
from typing import Any, NoReturn

from rtc.config import ServerConfig, default_data_dir
from rtc.limits import CallLimits


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Parser(argparse.ArgumentParser):
    """A usage mistake is one line on stderr, not the whole usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
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
        choices=["embedded", "tone", "transformers", "remote"],
        help="model backend (tone: no models, answers with a tone; for measuring the gateway; "
        "transformers: Qwen3-Omni/Qwen2.5-Omni from --model-path; remote: a Realtime endpoint at --remote-url)",
    )
    serve.add_argument("--model-path", default=os.environ.get("OMNILIVE_MODEL_PATH") or None)
    serve.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    serve.add_argument(
        "--remote-url",
        default=os.environ.get("OMNILIVE_REMOTE_URL") or None,
        help="e.g. ws://vllm:8000/v1/realtime (key from env OMNILIVE_REMOTE_API_KEY)",
    )
    serve.add_argument("--remote-model", default=os.environ.get("OMNILIVE_REMOTE_MODEL") or None)
    serve.add_argument(
        "--max-calls",
        type=int,
        default=defaults.max_calls,
        help="concurrent calls before new ones get 429",
    )
    serve.add_argument(
        "--overload-lag-ms",
        type=float,
        default=defaults.overload_lag_ms,
        help="refuse new calls (503) while the event loop runs this late, median of the "
        "last 5 s (0: never)",
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
        "--resume-grace",
        type=float,
        default=defaults.resume_grace_s,
        help="seconds a call whose peer vanished may still be resumed by a new offer naming "
        "it (session field 'resume'); 0: never",
    )
    serve.add_argument(
        "--allow-public",
        action="store_true",
        help="listen on a non-loopback address without --api-key (anyone who reaches it may call)",
    )
    serve.add_argument(
        "--drain-seconds",
        type=float,
        default=0.0,
        help="on SIGTERM, keep the open calls for up to this many seconds while new ones get "
        "503 and /healthz says draining; a second signal ends them at once (0: at once)",
    )
    _add_security_arguments(serve, defaults)
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
        "--scenario",
        default=None,
        help="the server's scenario to use (its /healthz lists them), e.g. tutor, interpreter",
    )
    call.add_argument("--languages", default=None, help="interpreter pair, e.g. en,es")
    call.add_argument(
        "--record", default="omnilive-answer.wav", help="where to save the answer audio"
    )
    call.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for answers")
    call.add_argument(
        "--api-key",
        default=os.environ.get("OMNILIVE_API_KEY") or None,
        help="the server's API key or an ephemeral token (env OMNILIVE_API_KEY)",
    )
    return parser


def _add_security_arguments(serve: argparse.ArgumentParser, defaults: ServerConfig) -> None:
    limits = CallLimits()
    group = serve.add_argument_group("auth, limits and records (docs/security.md)")
    group.add_argument(
        "--api-key",
        default=os.environ.get("OMNILIVE_API_KEY") or None,
        help="require 'Authorization: Bearer <key or ephemeral token>' (env OMNILIVE_API_KEY, "
        "which keeps the key out of the process list)",
    )
    numbers: list[tuple[str, type, float, str]] = [
        ("--token-ttl", float, defaults.token_ttl_s, "default lifetime of an ephemeral token, s"),
        ("--calls-per-minute", float, defaults.calls_per_minute, "new calls a minute from one "
         "client address (0: no limit)"),
        ("--call-burst", int, defaults.call_burst, "new calls one address may open at once"),
        ("--max-body-bytes", int, defaults.max_body_bytes, "largest offer or request body"),
        ("--max-call-seconds", float, limits.max_call_s, "longest call (0: no limit)"),
        ("--idle-timeout", float, limits.idle_timeout_s, "end a call that sends no audio or "
         "video for this many seconds (0: never)"),
        ("--model-timeout", float, limits.model_stall_s, "an answer whose model produces "
         "nothing for this many seconds fails with an error and an apology (0: never)"),
        ("--max-event-bytes", int, limits.max_event_bytes, "largest client event"),
        ("--events-per-second", float, limits.events_per_second, "sustained client events a "
         "second per call (0: no limit)"),
        ("--event-burst", int, limits.event_burst, "client events a call may send at once"),
        ("--max-dropped-events", int, limits.max_dropped_events, "dropped events (too large or "
         "too fast) before a call is ended (0: never)"),
        ("--retention-days", float, defaults.retention_days, "delete conversation records "
         "older than this (0: keep forever)"),
    ]  # fmt: skip
    for flag, kind, default, meaning in numbers:
        group.add_argument(flag, type=kind, default=kind(default), help=meaning)
    group.add_argument(
        "--data-dir",
        default=str(default_data_dir()),
        help="where conversation records are kept (env OMNILIVE_DATA_DIR)",
    )
    group.add_argument("--no-records", action="store_true", help="keep no conversation records")
    group.add_argument(
        "--record-audio",
        action="store_true",
        help="also keep the user's speech (16 kHz WAV) in conversation records (off: text only)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    from clients.python.cli import run_call

    return run_call(args)


def _serve(args: argparse.Namespace) -> int:
    from rtc.heap import tune_malloc

    tune_malloc()
    if not _is_loopback(args.host) and not args.api_key and not args.allow_public:
        print(
            f"refusing to listen on {args.host} without authentication: pass --api-key "
            "(or set OMNILIVE_API_KEY), or --allow-public if this network is trusted",
            file=sys.stderr,
        )
        return 2
    config = ServerConfig(
        host=args.host,
        port=args.port,
        backend=args.backend,
        model_path=args.model_path,
        device=args.device,
        remote_url=args.remote_url,
        remote_model=args.remote_model,
        max_calls=args.max_calls,
        overload_lag_ms=args.overload_lag_ms,
        ice_servers=args.ice_server,
        cors_origins=args.cors_origin,
        peer_timeout_s=args.peer_timeout,
        resume_grace_s=args.resume_grace,
        log_level=args.log_level,
        api_key=args.api_key,
        token_ttl_s=args.token_ttl,
        calls_per_minute=args.calls_per_minute,
        call_burst=args.call_burst,
        max_body_bytes=args.max_body_bytes,
        call_limits=CallLimits(
            max_event_bytes=args.max_event_bytes,
            events_per_second=args.events_per_second,
            event_burst=args.event_burst,
            max_dropped_events=args.max_dropped_events,
            max_call_s=args.max_call_seconds,
            idle_timeout_s=args.idle_timeout,
            model_stall_s=args.model_timeout,
        ),
        data_dir=None if args.no_records else args.data_dir,
        record_audio=args.record_audio,
        retention_days=args.retention_days,
    )
    return _run(config, drain_s=args.drain_seconds)


def _run(config: ServerConfig, *, drain_s: float = 0.0) -> int:
    import uvicorn

    from rtc.app import create_app
    from rtc.ws_upgrades import WebSocketUpgrades

    # Whatever a start lacks (a free port, a package, a model file, a program) is said in
    # one line before anything is loaded, never as a traceback.
    try:
        _check_port(config.host, config.port)
        app = create_app(config)
        gateway = app.state.gateway
        gateway.model.check()
    except Exception as exc:
        return _cannot_start(exc)
    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    logging.getLogger("aioice").setLevel(logging.WARNING)
    print(
        f"omnilive: loading models, then listening on http://{config.host}:{config.port}",
        flush=True,
    )
    log = logging.getLogger("omnilive")
    try:
        gateway.model.load(lambda message: log.info("%s", message))
    except Exception as exc:
        return _cannot_start(exc)

    class Server(uvicorn.Server):
        drain: tuple[int, float] | None = None
        """The signal being drained for, and when the drain gives up (monotonic s)."""

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            first = not gateway.draining
            gateway.draining = True  # refuse new calls at once; lifespan shutdown ends the rest
            if first and drain_s > 0:
                # Behind a load balancer: keep serving the open calls (and /healthz, which
                # now says draining, so the balancer stops sending new ones) until they end;
                # `on_tick` stops the server then. A second signal stops it at once.
                self.drain = (sig, time.monotonic() + drain_s)
                logging.getLogger("omnilive").info(
                    "draining: %d call(s) may finish within %g s", len(gateway.registry), drain_s
                )
                return
            super().handle_exit(sig, frame)

        async def on_tick(self, counter: int) -> bool:
            if self.drain is not None and not self.should_exit:
                sig, deadline = self.drain
                if not len(gateway.registry) or time.monotonic() >= deadline:
                    super().handle_exit(sig, None)
            return await super().on_tick(counter)

    # uvicorn re-raises the signal it stopped for once it has shut down; with this handler
    # in place that is a no-op, so a SIGTERM ends in a clean exit 0 (what supervisors expect).
    signal.signal(signal.SIGTERM, _stopped)
    signal.signal(signal.SIGINT, _stopped)
    server = Server(
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            loop="uvloop",
            ws=WebSocketUpgrades,
            log_level=config.log_level,
            timeout_graceful_shutdown=5,
        )
    )
    server.run()
    return 0 if server.started else 1


def _check_port(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise OSError(
                f"cannot listen on {host}:{port}: {reason} (another server there? pick --port)"
            ) from None


def _cannot_start(exc: Exception) -> int:
    what = str(exc) or type(exc).__name__
    print(f"omnilive: cannot start: {what}", file=sys.stderr, flush=True)
    return 1


def _stopped(sig: int, frame: Any) -> None:
    logging.getLogger("omnilive").info("stopped by signal %d", sig)


if __name__ == "__main__":
    raise SystemExit(main())
