"""The OpenAI Realtime WebSocket (`GET /v1/realtime`) carries a conversation.

Every message is a client event for `conversation.receive` (its appended audio goes
through the same ordered queue and listening path as any other event); the
conversation's events go out as text, and its playout as
`response.output_audio.delta` events, one per 20 ms frame when it is due (real time,
so a barge-in silences the very next frame), in the session's output format, followed
by `response.output_audio.done` before the answer's `response.done`.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Mapping
from typing import Any

from starlette.websockets import WebSocket

from model.audio import StreamResampler
from rtc import events as ev
from rtc.conversation import wire_audio
from rtc.conversation.conversation import Conversation
from rtc.conversation.playout import SAMPLE_RATE, Owner, PlayoutStopped
from rtc.events import new_id
from rtc.transports.socket_io import Outgoing, close_socket, read_messages

logger = logging.getLogger(__name__)


class WebSocketTransport:
    kind = "websocket"
    id_prefix = "ws"
    audio_in_events = True

    def __init__(self, conversation: Conversation, websocket: WebSocket) -> None:
        self.conversation = conversation
        self._ws = websocket
        self._out = Outgoing(websocket, self._not_reading)
        self._connected = False
        self._with_audio: dict[str, str] = {}
        """Response id -> assistant item id, of answers whose audio was sent."""
        self._log = conversation.log_prefix

    async def run(self) -> None:
        """Serve the accepted socket until either side ends the call."""
        conversation = self.conversation
        self._connected = True
        conversation.start(self)
        conversation.spawn(self._out.run(), "ws out")
        conversation.spawn(self._play_out(), "audio out")
        conversation.attach(self._send)
        try:
            await read_messages(self._ws, conversation.receive)
        finally:
            self._connected = False
            await conversation.close("client_hangup")

    # -- out -----------------------------------------------------------------------------
    def _send(self, event: Mapping[str, Any], text: str) -> None:
        if event.get("type") == ev.RESPONSE_DONE:
            response = event.get("response")
            response_id = response.get("id") if isinstance(response, Mapping) else None
            item_id = self._with_audio.pop(response_id, None) if response_id else None
            if item_id is not None:
                self._send_own(ev.OUTPUT_AUDIO_DONE, Owner(str(response_id), item_id), {})
        self._out.put(text)

    def _send_own(self, kind: str, owner: Owner, payload: Mapping[str, Any]) -> None:
        """An event of this transport's own (the answer's audio), straight to the socket."""
        event = {
            "type": kind,
            "event_id": new_id("event"),
            "response_id": owner.response_id,
            "item_id": owner.item_id,
            "output_index": 0,
            "content_index": 0,
            **payload,
        }
        self._out.put(json.dumps(event, separators=(",", ":")))

    def _not_reading(self) -> None:
        if not self.conversation.ending:
            logger.info("%sthe client does not read its events; ending", self._log)
            self.conversation.close("slow_client")

    async def _play_out(self) -> None:
        """The playout's frames as `response.output_audio.delta`, each when it is due."""
        conversation = self.conversation
        resample = StreamResampler(SAMPLE_RATE, conversation.config.output_format.rate)
        while True:
            try:
                frame = await conversation.playout.next_frame()
            except PlayoutStopped:
                return
            if frame.owner is None:
                continue
            fmt = conversation.config.output_format
            if resample.dst_rate != fmt.rate:
                resample = StreamResampler(SAMPLE_RATE, fmt.rate)
            raw = wire_audio.encode(resample(frame.pcm), fmt)
            self._with_audio[frame.owner.response_id] = frame.owner.item_id
            delta = base64.b64encode(raw).decode("ascii")
            self._send_own(ev.OUTPUT_AUDIO_DELTA, frame.owner, {"delta": delta})

    # -- lifetime ------------------------------------------------------------------------
    def connected(self) -> bool:
        return self._connected  # uvicorn pings the socket: open means the client is there

    async def flush(self) -> None:
        if self._connected:
            await self._out.flush()

    async def close(self, reason: str) -> None:
        await close_socket(self._ws, reason, normal=("client_hangup",))
