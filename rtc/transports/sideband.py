"""A sideband: a server-side WebSocket attached to a call a phone opened over WebRTC.

The app's own server connects with the server's API key (`GET /v1/realtime?call_id=`,
the OpenAI SDK's `client.realtime.connect(call_id=...)`) and from then on sees every
server event of the call and may send any client event, which joins the phone's
events in the call's one ordered queue. The phone keeps the media and its data
channel; tools, instructions and secrets stay on the app's server. The sideband is a
second listener on the conversation, not its transport: it ends when the call ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from rtc.conversation.conversation import Conversation

logger = logging.getLogger(__name__)

#: Unsent events before a sideband that does not read is dropped (the call goes on).
MAX_OUTGOING = 1_000
CALL_ENDED = 1000
SLOW_READER = 1008


class Sideband:
    def __init__(self, conversation: Conversation, websocket: WebSocket) -> None:
        self.conversation = conversation
        self._ws = websocket
        self._outgoing: asyncio.Queue[str | None] = asyncio.Queue()
        self._log = conversation.log_prefix

    async def run(self) -> None:
        """Listen and speak for the call until the call or the socket ends."""
        conversation = self.conversation
        detach = conversation.attach(self._send)
        logger.info("%ssideband attached", self._log)
        tasks = [
            asyncio.ensure_future(self._write()),
            asyncio.ensure_future(self._read()),
            asyncio.ensure_future(conversation.closed.wait()),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            detach()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._close(CALL_ENDED, f"call ended: {conversation.end_reason or 'closed'}")
            logger.info("%ssideband detached", self._log)

    def _send(self, _event: Mapping[str, Any], text: str) -> None:
        if self._outgoing.qsize() >= MAX_OUTGOING:
            self._outgoing.put_nowait(None)  # it does not read: let it go, the call stays
            return
        self._outgoing.put_nowait(text)

    async def _write(self) -> None:
        while True:
            text = await self._outgoing.get()
            if text is None:
                await self._close(SLOW_READER, "the sideband did not read its events")
                return
            try:
                await self._ws.send_text(text)
            except Exception:  # the socket went away
                return

    async def _read(self) -> None:
        try:
            while True:
                message = await self._ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                text, data = message.get("text"), message.get("bytes")
                self.conversation.receive(text if text is not None else (data or b""))
        except (WebSocketDisconnect, RuntimeError):
            return

    async def _close(self, code: int, reason: str) -> None:
        if self._ws.application_state == WebSocketState.CONNECTED:
            try:
                await self._ws.close(code=code, reason=reason[:100])
            except Exception:  # already gone
                logger.debug("%ssideband socket already closed", self._log)
