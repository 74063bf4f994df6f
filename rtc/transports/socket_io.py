"""What every WebSocket of a call does the same way: a bounded queue of outgoing text
written in order by one task, and a loop handing each incoming message on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

logger = logging.getLogger(__name__)

#: Unsent messages before the peer counts as not reading (~20 s of a call's audio).
MAX_OUTGOING = 1_000


class Outgoing:
    """Text for one socket, sent in order; `on_stuck` once the peer stops reading."""

    def __init__(
        self, websocket: WebSocket, on_stuck: Callable[[], None], limit: int = MAX_OUTGOING
    ) -> None:
        self._ws = websocket
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._limit = limit
        self._on_stuck = on_stuck
        self._stuck = False
        self.open = True
        """False once a send failed (the socket is gone)."""

    def put(self, text: str) -> None:
        if self._queue.qsize() >= self._limit:
            if not self._stuck:
                self._stuck = True
                self._on_stuck()
            return
        self._queue.put_nowait(text)

    async def run(self) -> None:
        """Write until the socket fails (cancel to stop)."""
        while True:
            text = await self._queue.get()
            try:
                await self._ws.send_text(text)
            except Exception:  # the socket went away; its reader ends what it served
                self.open = False
                return

    async def flush(self) -> None:
        """Give what is queued a moment to leave (at most ~1 s)."""
        for _ in range(100):
            if not self.open or self._queue.empty():
                return
            await asyncio.sleep(0.01)


async def read_messages(websocket: WebSocket, receive: Callable[[str | bytes], None]) -> None:
    """Hand every message to `receive` until the peer disconnects."""
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text, data = message.get("text"), message.get("bytes")
            receive(text if text is not None else (data or b""))
    except (WebSocketDisconnect, RuntimeError):
        return


async def close_socket(websocket: WebSocket, reason: str, *, normal: tuple[str, ...]) -> None:
    """Close the socket if it is still open: code 1000 for a `normal` reason, else 1008."""
    if websocket.application_state != WebSocketState.CONNECTED:
        return
    code = 1000 if reason in normal else 1008
    try:
        await websocket.close(code=code, reason=reason[:100])
    except Exception:  # already gone
        logger.debug("socket already closed (%s)", reason)
