"""Server configuration (command line and environment)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from rtc.limits import CallLimits


def default_data_dir() -> Path:
    """$OMNILIVE_DATA_DIR, else $XDG_STATE_HOME/omnilive, else ~/.local/state/omnilive."""
    explicit = os.environ.get("OMNILIVE_DATA_DIR")
    if explicit:
        return Path(explicit)
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "omnilive"


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    backend: str = "embedded"
    """embedded | tone | transformers | remote."""
    model_path: str | None = None
    """The local model directory of the transformers backend (--model-path)."""
    device: str = "auto"
    """Where the transformers backend runs: auto (GPU when present), cpu or cuda."""
    remote_url: str | None = None
    """The Realtime endpoint of the remote backend (--remote-url; key: OMNILIVE_REMOTE_API_KEY)."""
    remote_model: str | None = None
    max_calls: int = 16
    """Concurrent calls; more are refused with 429 and Retry-After."""
    overload_lag_ms: float = 50.0
    """New calls are refused with 503 while the event loop's timers run this late (the
    median of the last 5 s): the machine is past what it can carry. 0: never."""
    max_body_bytes: int = 128 * 1024
    """Largest accepted offer body (SDP or multipart)."""
    ice_servers: list[str] = field(default_factory=list)
    """STUN/TURN URLs, e.g. stun:stun.example.org:3478 or turn:user:pass@host:3478."""
    cors_origins: list[str] = field(default_factory=list)
    peer_timeout_s: float = 10.0
    resume_grace_s: float = 60.0
    """A call whose peer vanished may be resumed by a new offer for this long (0: never)."""
    log_level: str = "info"
    api_key: str | None = None
    """With a key, calls need `Authorization: Bearer <key or ephemeral token>`."""
    token_ttl_s: float = 60.0
    """Default lifetime of an ephemeral token from /v1/realtime/client_secrets."""
    calls_per_minute: float = 60.0
    """New calls per minute from one client address (token bucket; 0: no limit)."""
    call_burst: int = 20
    """New calls one address may open at once before the per-minute rate applies."""
    call_limits: CallLimits = field(default_factory=CallLimits)
    data_dir: str | None = None
    """Where the conversation records are kept (SQLite); None: not recorded."""
    record_audio: bool = False
    """Also keep the user's speech (16 kHz WAV) in the conversation record."""
    retention_days: float = 30.0
    """Conversation records older than this are deleted (checked hourly; 0: kept forever)."""
