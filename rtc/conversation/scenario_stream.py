"""What a conversation gives a scenario that listens continuously: a `StreamSink`.

The interpreter's simultaneous mode (`Scenario.listens_continuously`) speaks outside any
response: its events go out as they are made, and its voice is queued on the call's one
playout clock, after what is queued already, under an owner of its own (so the WebSocket
transport tags its `response.output_audio.delta`s like any other audio).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from model.audio import resample_int16
from model.types import SpeechChunk
from rtc.conversation.playout import SAMPLE_RATE, Owner, Playout
from rtc.events import ServerEvents, new_id


class ScenarioStream:
    """A StreamSink over a conversation's events and playout."""

    def __init__(self, events: ServerEvents, playout: Playout) -> None:
        self._events = events
        self._playout = playout
        self.owner = Owner(new_id("resp"), new_id("item"))
        self.played_s = 0.0

    def event(self, event_type: str, payload: Mapping[str, Any]) -> None:
        self._events.emit(event_type, payload)

    def play(self, chunk: SpeechChunk) -> None:
        pcm = chunk.pcm
        if chunk.sample_rate != SAMPLE_RATE:
            pcm = resample_int16(pcm, chunk.sample_rate, SAMPLE_RATE)
        self._playout.enqueue(self.owner, pcm)
        self.played_s += len(pcm) / SAMPLE_RATE

    def error(self, code: str, message: str) -> None:
        self._events.error(code, message, error_type="server_error")

    def close(self) -> None:
        """Listening stopped: drop the playout's bookkeeping of this stream."""
        self._playout.forget(self.owner.response_id)
