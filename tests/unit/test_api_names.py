"""Pin the HTTP endpoints, error codes and serve flags, and check the docs name them all."""

from __future__ import annotations

import argparse
from pathlib import Path

from model.tone import ToneModel
from rtc.app import create_app
from rtc.cli import build_parser
from rtc.config import ServerConfig
from rtc.vad import SileroVAD

DOCS = Path(__file__).resolve().parents[2] / "docs"

ENDPOINTS = {
    "/v1/realtime/calls": ["post"],
    "/v1/realtime/calls/{call_id}": ["delete"],
    "/v1/realtime/client_secrets": ["post"],
    "/v1/realtime/translations/client_secrets": ["post"],
    "/v1/conversations": ["get"],
    "/v1/conversations/{call_id}": ["delete", "get"],
    "/healthz": ["get"],
    "/metrics": ["get"],
}
HTTP_ERROR_CODES = [
    "invalid_sdp",
    "too_many_media",
    "unsupported_codec",
    "no_media",
    "invalid_multipart",
    "missing_sdp",
    "invalid_session",
    "incomplete_body",
    "invalid_scenario",
    "unsupported_language",
    "invalid_json",
    "invalid_request",
    "invalid_expires_after",
    "missing_authorization",
    "invalid_api_key",
    "token_expired",
    "token_already_used",
    "call_not_found",
    "conversation_not_found",
    "records_disabled",
    "not_found",
    "method_not_allowed",
    "body_too_large",
    "unsupported_content_type",
    "too_many_calls",
    "rate_limit_exceeded",
    "too_many_client_secrets",
    "server_shutting_down",
]
#: `error` event codes of the limits and of calls the server ends on its own.
EVENT_ERROR_CODES = [
    "event_too_large",
    "rate_limit_exceeded",
    "session_expired",
    "idle_timeout",
    "event_abuse",
    "server_shutdown",
]


def test_endpoints_are_pinned_and_documented(tmp_path: Path) -> None:
    app = create_app(ServerConfig(data_dir=str(tmp_path)), model=ToneModel(), vad=SileroVAD())
    try:
        paths = app.openapi()["paths"]
        assert {path: sorted(ops) for path, ops in paths.items()} == ENDPOINTS
    finally:
        app.state.gateway.records.close_sync()
    doc = (DOCS / "protocol.md").read_text()
    for path, methods in ENDPOINTS.items():
        for method in methods:
            if path not in ("/healthz", "/metrics"):
                assert f"{method.upper()} {path}" in doc, (method, path)


def test_error_codes_are_documented() -> None:
    doc = (DOCS / "protocol.md").read_text()
    missing = [c for c in HTTP_ERROR_CODES + EVENT_ERROR_CODES if f"`{c}`" not in doc]
    assert missing == []


def test_every_serve_flag_is_documented() -> None:
    parser = build_parser()
    serve = next(
        action.choices["serve"]
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    flags = [s for a in serve._actions for s in a.option_strings if s.startswith("--")]
    docs = (DOCS.parent / "README.md").read_text() + (DOCS / "security.md").read_text()
    missing = [f for f in flags if f != "--help" and f"`{f}" not in docs]
    assert missing == []
