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

from starlette.websockets import WebSocket, WebSocketState

from rtc.conversation.conversation import Conversation
from rtc.transports.socket_io import Outgoing, read_messages

logger = logging.getLogger(__name__)

CALL_ENDED = 1000
SLOW_READER = 1008


class Sideband:
    def __init__(self, conversation: Conversation, websocket: WebSocket) -> None:
        self.conversation = conversation
        self._ws = websocket
        self._stuck = asyncio.Event()
        self._out = Outgoing(websocket, self._stuck.set)
        self._log = conversation.log_prefix

    async def run(self) -> None:
        """Listen and speak for the call until the call or the socket ends."""
        conversation = self.conversation
        detach = conversation.attach(lambda _event, text: self._out.put(text))
        logger.info("%ssideband attached", self._log)
        tasks = [
            asyncio.ensure_future(self._out.run()),
            asyncio.ensure_future(read_messages(self._ws, conversation.receive)),
            asyncio.ensure_future(conversation.closed.wait()),
            asyncio.ensure_future(self._stuck.wait()),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            detach()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self._stuck.is_set():  # it does not read: let it go; the call stays
                await self._close(SLOW_READER, "the sideband did not read its events")
            else:
                await self._close(CALL_ENDED, f"call ended: {conversation.end_reason or 'closed'}")
            logger.info("%ssideband detached", self._log)

    async def _close(self, code: int, reason: str) -> None:
        if self._ws.application_state == WebSocketState.CONNECTED:
            try:
                await self._ws.close(code=code, reason=reason[:100])
            except Exception:  # already gone
                logger.debug("%ssideband socket already closed", self._log)
