"""One upstream Realtime WebSocket session, reconnected with backoff when it drops.

Requests on one connection run one at a time (a Realtime session answers one
response at a time); the reader task hands every server event to the request
in flight. A dropped connection fails the request in flight with
`UpstreamLost`, and the next request reconnects (backoff 0.1 s doubling to
`max_backoff_s`, `connect_attempts` tries) and sends the session setup again;
the upstream's answer to it (`session.updated`, or the `error` that refuses it)
is awaited, so a setup the endpoint refuses fails with its own words.

Every client event carries an `event_id`, and the upstream names it in the
`error` it causes: errors about events nobody waits for (a cancel that came
after the answer ended, a truncate, a delete) are dropped instead of failing the
next request, and a refused `input_image` teaches the session that the endpoint
takes no images (vLLM-Omni's does not). A response abandoned before the upstream
said its id (older vLLM-Omni releases never do) is waited out before the next
request, so its late events are not read as that request's.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from model.errors import ModelError
from model.remote.events import Event, caused_by, is_terminal, response_id, transcribes

logger = logging.getLogger("omnilive.remote")

#: How long the late events of an abandoned response may take to end before the
#: connection is given up and opened afresh.
SETTLE_S = 5.0


class UpstreamLost(ModelError):
    """The upstream connection dropped or could not be opened."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="upstream_unavailable")


class Refused(ModelError):
    """The upstream refused a client event (an `error` naming it, when `about` is set)."""

    def __init__(self, message: str, *, code: str, about: str | None) -> None:
        super().__init__(message, code=code)
        self.about = about


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
        self.transcribes = True
        """Whether the upstream transcribes committed audio, as its `session.updated` says."""
        self.refuses_images = False
        """Learnt from the first refused `input_image` (kept across reconnects)."""
        self._ids = itertools.count(1)
        self._quiet: set[str] = set()
        """Client events whose errors concern nobody (sent outside any request)."""
        self._images: set[str] = set()
        """Client events that carried an image."""
        self._abandoned: list[str] = []
        """The response.create of each response abandoned before its id was known."""

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
            await self._handshake(
                await self._send({"type": "session.update", "session": self.setup})
            )
            return
        raise UpstreamLost(f"cannot reach the Realtime endpoint {self.config.endpoint()}: {last}")

    async def _handshake(self, setup_id: str) -> None:
        """The upstream's answer to the setup: the session it will really run, or why not."""
        inbox = self._inbox
        assert inbox is not None

        async def answer() -> Event:
            while True:
                item = await inbox.get()
                if isinstance(item, UpstreamLost):
                    raise item
                kind = item.get("type")
                if kind == "session.updated" or (
                    kind == "error" and caused_by(item) in (None, setup_id)
                ):
                    return item

        try:
            event = await asyncio.wait_for(answer(), self.config.connect_timeout_s)
        except TimeoutError:
            await self._drop()
            raise UpstreamLost("the Realtime endpoint did not answer session.update") from None
        if event["type"] == "error":
            await self._drop()
            error = event.get("error") or {}
            raise ModelError(
                f"the Realtime endpoint refused the session setup: {error.get('message', 'error')}",
                code=str(error.get("code") or "upstream_refused_setup"),
            )
        self.transcribes = transcribes(event.get("session"))
        if not self.transcribes:
            logger.info("the Realtime endpoint does not transcribe input; asking the model to")

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

    async def _send(
        self, event: Mapping[str, Any], *, quiet: bool = False, image: bool = False
    ) -> str:
        """Send `event` with an `event_id` of its own, and return the id."""
        if self._ws is None:
            raise UpstreamLost("not connected")
        event_id = str(event.get("event_id") or f"omni_{next(self._ids)}")
        if quiet:  # before it leaves: the answer may be read before this returns
            self._quiet.add(event_id)
        if image:
            self._images.add(event_id)
        try:
            await self._ws.send(json.dumps({**event, "event_id": event_id}))
        except ConnectionClosed as exc:
            raise UpstreamLost(f"the Realtime endpoint went away: {exc}") from exc
        return event_id

    async def send(self, event: Mapping[str, Any]) -> None:
        """Send one event outside a request (e.g. a truncate after barge-in); never raises,
        and an error it causes is dropped."""
        with contextlib.suppress(UpstreamLost):
            if self.connected:
                await self._send(event, quiet=True)

    def abandon(self, create_id: str) -> None:
        """The response asked for by `create_id` was given up before its id was known:
        the next request first waits for its end."""
        self._abandoned.append(create_id)

    def excused(self, event: Event) -> bool:
        """An `error` about a client event nobody waits for: note what it teaches, drop it."""
        about = caused_by(event)
        if about is None:
            return False
        if about in self._images:
            self._images.discard(about)
            if not self.refuses_images:
                message = (event.get("error") or {}).get("message")
                logger.warning(
                    "the Realtime endpoint takes no images (%s): not sending frames", message
                )
            self.refuses_images = True
            return True
        if about in self._abandoned:  # refused: that response never existed
            self._abandoned.remove(about)
            return True
        if about in self._quiet:
            self._quiet.discard(about)
            logger.debug("upstream error about %s: %s", about, event.get("error"))
            return True
        return False

    def _account(self, event: Event) -> None:
        """An event read outside any request: the end of an abandoned response, or noise."""
        if event.get("type") == "error":
            self.excused(event)
        elif self._abandoned and is_terminal(event) and response_id(event) not in self.stale:
            self._abandoned.pop(0)

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
                self._account(item)
            if self._abandoned:
                await self._settle()
            yield Exchange(self)

    async def _settle(self) -> None:
        """Read until every abandoned response has ended (or start over if one never does)."""
        inbox = self._inbox
        assert inbox is not None
        try:
            while self._abandoned:
                item = await asyncio.wait_for(inbox.get(), SETTLE_S)
                if isinstance(item, UpstreamLost):
                    raise item
                self._account(item)
        except (TimeoutError, UpstreamLost):
            logger.warning("an abandoned response did not end upstream; reconnecting")
            await self._drop()
            await self._connect()

    async def _drop(self) -> None:
        reader, ws = self._reader, self._ws
        self._reader = self._ws = None
        # What was pending belonged to that connection.
        self._abandoned.clear()
        self._quiet.clear()
        self._images.clear()
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

    @property
    def upstream(self) -> Upstream:
        return self._upstream

    async def send(self, event: Mapping[str, Any]) -> str:
        """Send `event`; its `event_id`."""
        return await self._upstream._send(event)

    async def send_image(self, event: Mapping[str, Any]) -> None:
        """Send an event carrying images, unless the endpoint is known to refuse them."""
        if not self._upstream.refuses_images:
            await self._upstream._send(event, image=True)

    async def receive(self) -> Event:
        upstream = self._upstream
        inbox = upstream._inbox
        assert inbox is not None
        while True:
            item = await inbox.get()
            if isinstance(item, UpstreamLost):
                inbox.put_nowait(item)  # the next request reconnects
                raise item
            if item.get("type") == "error" and upstream.excused(item):
                continue
            if response_id(item) not in upstream.stale:
                break
        if item.get("type") == "error":
            error = item.get("error") or {}
            raise Refused(
                f"the Realtime endpoint refused: {error.get('message', 'error')}",
                code=str(error.get("code") or "upstream_error"),
                about=caused_by(item),
            )
        return item
