"""Protocol event names and the sender that stamps and serialises them."""

from __future__ import annotations

import itertools
import json
import logging
import secrets
from collections.abc import Callable, Mapping
from typing import Any, Final

logger = logging.getLogger(__name__)

# Client -> server (OpenAI Realtime names).
CLIENT_EVENTS: Final = (
    "session.update",
    "conversation.item.create",
    "response.create",
    "response.cancel",
    "output_audio_buffer.clear",
    "input_audio_buffer.clear",
    "conversation.item.truncate",
)

# Server -> client (OpenAI Realtime names).
SESSION_CREATED: Final = "session.created"
SESSION_UPDATED: Final = "session.updated"
SPEECH_STARTED: Final = "input_audio_buffer.speech_started"
SPEECH_STOPPED: Final = "input_audio_buffer.speech_stopped"
TRANSCRIPTION_COMPLETED: Final = "conversation.item.input_audio_transcription.completed"
RESPONSE_CREATED: Final = "response.created"
TRANSCRIPT_DELTA: Final = "response.output_audio_transcript.delta"
TRANSCRIPT_DONE: Final = "response.output_audio_transcript.done"
OUTPUT_STARTED: Final = "output_audio_buffer.started"
OUTPUT_STOPPED: Final = "output_audio_buffer.stopped"
OUTPUT_CLEARED: Final = "output_audio_buffer.cleared"
RESPONSE_DONE: Final = "response.done"
ERROR: Final = "error"
# Not in PROTOCOL.md's list, but OpenAI's answer to conversation.item.truncate.
ITEM_TRUNCATED: Final = "conversation.item.truncated"
# The Realtime WebSocket's audio (docs/protocol.md, "The Realtime WebSocket").
OUTPUT_AUDIO_DELTA: Final = "response.output_audio.delta"
OUTPUT_AUDIO_DONE: Final = "response.output_audio.done"
AUDIO_COMMITTED: Final = "input_audio_buffer.committed"

# Client -> server, WebSocket only (over WebRTC audio comes on the media track).
WEBSOCKET_CLIENT_EVENTS: Final = ("input_audio_buffer.append", "input_audio_buffer.commit")
# Server -> client, WebSocket only.
WEBSOCKET_SERVER_EVENTS: Final = (OUTPUT_AUDIO_DELTA, OUTPUT_AUDIO_DONE, AUDIO_COMMITTED)

SERVER_EVENTS: Final = (
    SESSION_CREATED,
    SESSION_UPDATED,
    SPEECH_STARTED,
    SPEECH_STOPPED,
    TRANSCRIPTION_COMPLETED,
    RESPONSE_CREATED,
    TRANSCRIPT_DELTA,
    TRANSCRIPT_DONE,
    OUTPUT_STARTED,
    OUTPUT_STOPPED,
    OUTPUT_CLEARED,
    RESPONSE_DONE,
    ERROR,
)

# Scenario events (ours).
SCENARIO_EVENTS: Final = (
    "tutor.problem",
    "tutor.step",
    "tutor.check",
    "emotion.state",
    "translation.done",
    "explainer.observation",
)

# Ours or OpenAI's, beyond PROTOCOL.md's list (documented in docs/protocol.md).
EXTRA_EVENTS: Final = (
    ITEM_TRUNCATED,
    "input_audio_buffer.cleared",
    "tutor.adapt",
    "explainer.answer",
)

_ids = itertools.count(1)


def new_id(prefix: str) -> str:
    """Readable unique ids, OpenAI style: `item_5f2c..._12`."""
    return f"{prefix}_{secrets.token_hex(6)}{next(_ids):x}"


class EventSender:
    """Serialises server events onto the `oai-events` data channel."""

    def __init__(self, send: Callable[[str], None] | None = None) -> None:
        self._send = send
        self.observer: Callable[[dict[str, Any]], None] | None = None
        """Sees every event emitted, sent or not (the conversation record)."""

    def attach(self, send: Callable[[str], None] | None) -> None:
        self._send = send

    @property
    def attached(self) -> bool:
        return self._send is not None

    def emit(self, event_type: str, payload: Mapping[str, Any] | None = None) -> dict[str, Any]:
        event: dict[str, Any] = {"type": event_type, "event_id": new_id("event")}
        if payload:
            event.update(payload)
        self.record(event)
        if self._send is None:
            logger.debug("no data channel; dropped %s", event_type)
            return event
        try:
            self._send(json.dumps(event, ensure_ascii=False, separators=(",", ":")))
        except Exception:  # a closing channel must not take the call down with it
            logger.warning("could not send %s", event_type, exc_info=True)
        return event

    def record(self, event: dict[str, Any]) -> None:
        """Show `event` to the observer only; client events worth keeping come this way."""
        if self.observer is None:
            return
        try:
            self.observer(event)
        except Exception:  # the record must never break the call
            logger.exception("could not record %s", event.get("type"))

    def error(
        self,
        code: str,
        message: str,
        *,
        event_id: str | None = None,
        error_type: str = "invalid_request_error",
    ) -> None:
        self.emit(
            ERROR,
            {"error": {"type": error_type, "code": code, "message": message, "event_id": event_id}},
        )
