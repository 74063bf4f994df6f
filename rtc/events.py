"""Protocol event names, and `ServerEvents`, which stamps, serialises and sends them."""

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
INPUT_CLEARED: Final = "input_audio_buffer.cleared"
# The Realtime WebSocket's audio (docs/protocol.md, "The Realtime WebSocket").
OUTPUT_AUDIO_DELTA: Final = "response.output_audio.delta"
OUTPUT_AUDIO_DONE: Final = "response.output_audio.done"
AUDIO_COMMITTED: Final = "input_audio_buffer.committed"
# Beyond PROTOCOL.md's first list, added 2026-12-04: written answers, the client's tools,
# conversation items, live captions.
OUTPUT_TEXT_DELTA: Final = "response.output_text.delta"
OUTPUT_TEXT_DONE: Final = "response.output_text.done"
OUTPUT_ITEM_ADDED: Final = "response.output_item.added"
OUTPUT_ITEM_DONE: Final = "response.output_item.done"
ARGUMENTS_DELTA: Final = "response.function_call_arguments.delta"
ARGUMENTS_DONE: Final = "response.function_call_arguments.done"
ITEM_ADDED: Final = "conversation.item.added"
ITEM_DONE: Final = "conversation.item.done"
TRANSCRIPTION_DELTA: Final = "conversation.item.input_audio_transcription.delta"

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

# Translation sessions (`GET /v1/realtime/translations`), OpenAI's names. The SDK sends
# `session.input_audio_buffer.append`; `input_audio_buffer.append` is taken too.
SESSION_UPDATE: Final = "session.update"
TRANSLATION_APPEND: Final = "session.input_audio_buffer.append"
TRANSLATION_CLOSE: Final = "session.close"
SESSION_CLOSED: Final = "session.closed"
INPUT_TRANSCRIPT_DELTA: Final = "session.input_transcript.delta"
OUTPUT_TRANSCRIPT_DELTA: Final = "session.output_transcript.delta"
TRANSLATION_AUDIO_DELTA: Final = "session.output_audio.delta"
TRANSLATION_CLIENT_EVENTS: Final = (SESSION_UPDATE, TRANSLATION_APPEND, TRANSLATION_CLOSE)
TRANSLATION_SERVER_EVENTS: Final = (
    SESSION_CREATED,
    SESSION_UPDATED,
    SESSION_CLOSED,
    INPUT_TRANSCRIPT_DELTA,
    OUTPUT_TRANSCRIPT_DELTA,
    TRANSLATION_AUDIO_DELTA,
    ERROR,
)

# Ours, sent by the gateway's camera path whatever the scenario (the scenarios declare
# their own events: model.scenario.Scenario.events).
EMOTION_STATE: Final = "emotion.state"

# Ours or OpenAI's, beyond PROTOCOL.md's list (documented in docs/protocol.md).
EXTRA_EVENTS: Final = (
    ITEM_TRUNCATED,
    INPUT_CLEARED,
    OUTPUT_TEXT_DELTA,
    OUTPUT_TEXT_DONE,
    OUTPUT_ITEM_ADDED,
    OUTPUT_ITEM_DONE,
    ARGUMENTS_DELTA,
    ARGUMENTS_DONE,
    ITEM_ADDED,
    ITEM_DONE,
    TRANSCRIPTION_DELTA,
)

_ids = itertools.count(1)


def new_id(prefix: str) -> str:
    """Readable unique ids, OpenAI style: `item_5f2c..._12`."""
    return f"{prefix}_{secrets.token_hex(6)}{next(_ids):x}"


EventSink = Callable[[Mapping[str, Any], str], None]
"""Takes one server event: the event and its JSON text (serialised once for every sink)."""


class ServerEvents:
    """One conversation's server events: stamped, serialised once, sent to every sink.

    A sink is a transport's way out (the WebRTC data channel, a WebSocket); a call may
    have more than one (a sideband socket beside the phone's data channel). The observer
    sees every event, sent or not (the conversation record).
    """

    def __init__(self) -> None:
        self._sinks: list[EventSink] = []
        self.observer: Callable[[dict[str, Any]], None] | None = None

    def attach(self, sink: EventSink) -> Callable[[], None]:
        """Send events to `sink` too, from now on; returns what detaches it."""
        self._sinks.append(sink)

        def detach() -> None:
            if sink in self._sinks:
                self._sinks.remove(sink)

        return detach

    def detach_all(self) -> None:
        self._sinks.clear()

    @property
    def attached(self) -> bool:
        return bool(self._sinks)

    def emit(self, event_type: str, payload: Mapping[str, Any] | None = None) -> dict[str, Any]:
        event: dict[str, Any] = {"type": event_type, "event_id": new_id("event")}
        if payload:
            event.update(payload)
        self.record(event)
        if not self._sinks:
            logger.debug("no one to send %s to; dropped", event_type)
            return event
        text = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
        for sink in list(self._sinks):
            try:
                sink(event, text)
            except Exception:  # a closing transport must not take the call down with it
                logger.warning("could not send %s", event_type, exc_info=True)
        return event

    def emit_to(
        self, sink: EventSink, event_type: str, payload: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """An event for one sink only (a greeting to a newly attached listener)."""
        event: dict[str, Any] = {"type": event_type, "event_id": new_id("event")}
        if payload:
            event.update(payload)
        self.record(event)
        try:
            sink(event, json.dumps(event, ensure_ascii=False, separators=(",", ":")))
        except Exception:
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


def response_object(
    response_id: str, status: str, details: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The `response` of `response.created` (in progress) and `response.done`."""
    body: dict[str, Any] = {"object": "realtime.response", "id": response_id, "status": status}
    if status == "in_progress":
        body.update(output=[], conversation_id=None)
    else:
        body["status_details"] = dict(details) if details else {"type": status}
    return body
