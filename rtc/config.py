"""Server configuration (command line and environment)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    backend: str = "embedded"
    max_calls: int = 16
    """Concurrent calls; more are refused with 429 and Retry-After."""
    max_body_bytes: int = 128 * 1024
    """Largest accepted offer body (SDP or multipart)."""
    ice_servers: list[str] = field(default_factory=list)
    """STUN/TURN URLs, e.g. stun:stun.example.org:3478 or turn:user:pass@host:3478."""
    cors_origins: list[str] = field(default_factory=list)
    peer_timeout_s: float = 10.0
    log_level: str = "info"
