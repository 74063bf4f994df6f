"""One upstream Realtime WebSocket session, reconnected with backoff when it drops.

Requests on one connection run one at a time (a Realtime session answers one
response at a time); the reader task hands every server event to the request
in flight. A dropped connection fails the request in flight with
`UpstreamLost`, and the next request reconnects (backoff 0.1 s doubling to
`max_backoff_s`, `connect_attempts` tries) and sends the session setup again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from model.errors import ModelError

logger = logging.getLogger("omnilive.remote")

Event = dict[str, Any]


class UpstreamLost(ModelError):
    """The upstream connection dropped or could not be opened."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="upstream_unavailable")


@dataclass(frozen=True)
class RemoteConfig:
    url: str
    """ws(s):// or http(s):// URL of the Realtime endpoint, e.g. ws://vllm:8000/v1/realtime."""
    api_key: str | None = None
    model: str | None = None
    """Sent as ?model= when set (vLLM serves several models from one port)."""
    voice: str | None = None
    connect_timeout_s: float = 10.0
    connect_attempts: int = 5
    max_backoff_s: float = 5.0
    languages: frozenset[str] = field(
        default_factory=lambda: frozenset({"en", "es", "fr", "de", "it", "pt", "zh", "ja", "ko"})
    )

    def endpoint(self) -> str:
        parts = urlsplit(self.url)
        scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
        if scheme not in {"ws", "wss"} or not parts.netloc:
            raise ValueError(
                f"--remote-url must be a ws://, wss://, http:// or https:// URL: {self.url!r}"
            )
        path = parts.path if parts.path not in {"", "/"} else "/v1/realtime"
        query = parts.query
        if self.model and "model=" not in query:
            query = "&".join(q for q in (query, urlencode({"model": self.model})) if q)
        return urlunsplit((scheme, parts.netloc, path, query, ""))


class Upstream:
    """A per-call Realtime session upstream."""

    def __init__(self, config: RemoteConfig, setup: Mapping[str, Any]) -> None:
        self.config = config
        self.setup = dict(setup)
        """The `session` object of the session.update sent after every (re)connect."""
        self.connects = 0
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._inbox: asyncio.Queue[Event | UpstreamLost] | None = None
        self._lock = asyncio.Lock()
        self._closed = False
        self.stale: set[str] = set()
        """Responses cancelled on barge-in; their late events are dropped."""

    @property
    def connected(self) -> bool:
        return self._ws is not None and self._reader is not None and not self._reader.done()

    async def _connect(self) -> None:
        headers = {"Authorization": f"Bearer {self.config.api_key}"} if self.config.api_key else {}
        delay = 0.1
        last: Exception | None = None
        for attempt in range(max(1, self.config.connect_attempts)):
            if attempt:
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.config.max_backoff_s)
            try:
                ws = await connect(
                    self.config.endpoint(),
                    additional_headers=headers,
                    open_timeout=self.config.connect_timeout_s,
                    max_size=16 * 1024 * 1024,
                )
            except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
                last = exc
                logger.warning("upstream connect attempt %d failed: %s", attempt + 1, exc)
                continue
            self._ws = ws
            self._inbox = asyncio.Queue()
            self._reader = asyncio.create_task(self._read(ws, self._inbox), name="remote reader")
            self.connects += 1
            await self._send({"type": "session.update", "session": self.setup})
            return
        raise UpstreamLost(f"cannot reach the Realtime endpoint {self.config.endpoint()}: {last}")

    async def _read(self, ws: ClientConnection, inbox: asyncio.Queue[Event | UpstreamLost]) -> None:
        try:
            async for message in ws:
                try:
                    event = json.loads(message)
                except ValueError:
                    continue
                if isinstance(event, dict):
                    inbox.put_nowait(event)
        except ConnectionClosed:
            pass
        inbox.put_nowait(UpstreamLost("the Realtime endpoint closed the connection"))

    async def _send(self, event: Mapping[str, Any]) -> None:
        if self._ws is None:
            raise UpstreamLost("not connected")
        try:
            await self._ws.send(json.dumps(event))
        except ConnectionClosed as exc:
            raise UpstreamLost(f"the Realtime endpoint went away: {exc}") from exc

    async def send(self, event: Mapping[str, Any]) -> None:
        """Send one event outside a request (e.g. a truncate after barge-in); never raises."""
        with contextlib.suppress(UpstreamLost):
            if self.connected:
                await self._send(event)

    @contextlib.asynccontextmanager
    async def request(self) -> AsyncIterator[Exchange]:
        """Exclusive use of the session for one request; reconnects first when needed."""
        if self._closed:
            raise UpstreamLost("the session is closed")
        async with self._lock:
            if not self.connected:
                await self._drop()
                await self._connect()
            assert self._inbox is not None
            while not self._inbox.empty():  # leftovers of a cancelled request
                item = self._inbox.get_nowait()
                if isinstance(item, UpstreamLost):
                    await self._drop()
                    await self._connect()
                    break
            yield Exchange(self)

    async def _drop(self) -> None:
        reader, ws = self._reader, self._ws
        self._reader = self._ws = None
        if reader is not None:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        if ws is not None:
            await ws.close()

    async def aclose(self) -> None:
        self._closed = True
        await self._drop()


class Exchange:
    """The request in flight: send events, read the server's answers."""

    def __init__(self, upstream: Upstream) -> None:
        self._upstream = upstream

    async def send(self, event: Mapping[str, Any]) -> None:
        await self._upstream._send(event)

    async def receive(self) -> Event:
        inbox = self._upstream._inbox
        assert inbox is not None
        while True:
            item = await inbox.get()
            if isinstance(item, UpstreamLost):
                inbox.put_nowait(item)  # the next request reconnects
                raise item
            response = item.get("response")
            rid = item.get("response_id") or (
                response.get("id") if isinstance(response, dict) else None
            )
            if rid not in self._upstream.stale:
                break
        if item.get("type") == "error":
            error = item.get("error") or {}
            raise ModelError(
                f"the Realtime endpoint refused: {error.get('message', 'error')}",
                code=str(error.get("code") or "upstream_error"),
            )
        return item
