"""Client events: admitted, parsed, then applied strictly in the order they were sent.

`receive` runs as a message arrives (on the transport's callback): the size and rate
limits, the JSON, the shape of the event. Anything wrong is answered at once with an
`error` event. What passes is queued, and one task applies the queue in order, so an
`input_audio_buffer.append` of a whole clip, a `commit` and a `response.create` sent
back to back answer that clip. Appended audio is audio, not chatter: it skips the
event-rate limit (20 ms pieces come 50 a second) but not the size limit, and has a
backlog limit of its own.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from numpy.typing import NDArray

from rtc.conversation import wire_audio
from rtc.conversation.responses import Ask
from rtc.conversation.session_config import SessionConfig, client_request
from rtc.errors import InvalidEvent
from rtc.events import new_id
from rtc.jsonsafe import JSONRejected, loads
from rtc.limits import EventGuard, Verdict
from rtc.metrics import Metrics

if TYPE_CHECKING:
    from rtc.conversation.conversation import Conversation

logger = logging.getLogger(__name__)

APPEND = "input_audio_buffer.append"
COMMIT = "input_audio_buffer.commit"
#: Appended audio not yet listened to; more is refused (`input_audio_buffer_full`).
MAX_PENDING_AUDIO_S = 60.0
#: Appends this large (in samples) are converted in a worker thread.
OFF_LOOP_SAMPLES = 48_000


@dataclass(frozen=True)
class ClientEvent:
    kind: str
    data: Mapping[str, Any]
    event_id: str | None


@dataclass(frozen=True)
class Appended:
    """Audio of one `input_audio_buffer.append`, decoded."""

    pcm: NDArray[np.int16]
    rate: int


@dataclass(frozen=True)
class UserItem:
    """A `conversation.item.create` of a user message the server can act on."""

    item_id: str
    text: str | None
    image: bytes | None


@dataclass(frozen=True)
class OutputItem:
    """A `conversation.item.create` of a `function_call_output`: a client tool's result."""

    item_id: str
    call_id: str
    output: str


class ClientEvents:
    def __init__(self, conversation: Conversation, guard: EventGuard) -> None:
        self._conversation = conversation
        self._guard = guard
        self._queue: deque[ClientEvent | Appended] = deque()
        self._ready = asyncio.Event()
        self._pending_samples = 0
        self._pending_rate = 1

    @property
    def dropped(self) -> int:
        return self._guard.dropped

    @property
    def pending_audio_s(self) -> float:
        return self._pending_samples / self._pending_rate

    def receive(self, message: str | bytes) -> None:
        """A message from the client, as it arrives."""
        c = self._conversation
        if c.ending:
            return
        c.touch()
        size = len(
            message.encode("utf-8", "surrogatepass") if isinstance(message, str) else message
        )
        # Audio skips the rate limit (checked once the JSON says it is audio), not the size.
        maybe_audio = c.audio_in_events and isinstance(message, str) and f'"{APPEND}"' in message
        admitted = not (maybe_audio and not self._guard.too_large(size))
        if admitted and not self._admit(size):
            return
        event_id: str | None = None
        try:
            data = parse_event(message)
            event_id = data.get("event_id") if isinstance(data.get("event_id"), str) else None
            kind = data.get("type")
            if kind == APPEND and c.audio_in_events:
                self._queue_audio(data, event_id)
                return
            if not admitted and not self._admit(size):
                return
            if not isinstance(kind, str):
                raise InvalidEvent("missing_type", "the event has no string 'type'", event_id)
            self._queue.append(ClientEvent(kind, data, event_id))
            self._ready.set()
        except InvalidEvent as exc:
            if not admitted and not self._admit(size):
                return  # junk dressed as audio is rate limited like any other event
            c.refuse(exc.code, exc.message, exc.event_id or event_id)

    async def run(self) -> None:
        """Apply queued events in order, for the call's life."""
        c = self._conversation
        while True:
            while not self._queue:
                self._ready.clear()
                await self._ready.wait()
            item = self._queue.popleft()
            if isinstance(item, Appended):
                try:
                    await c.hear(item.pcm, item.rate, off_loop=len(item.pcm) >= OFF_LOOP_SAMPLES)
                finally:
                    self._pending_samples = max(0, self._pending_samples - len(item.pcm))
                continue
            try:
                self._apply(item)
            except InvalidEvent as exc:
                c.refuse(exc.code, exc.message, exc.event_id or item.event_id)
            except Exception as exc:  # one bad event must never end the call
                logger.exception("%s%s failed", c.log_prefix, item.kind)
                c.refuse("internal_error", f"{item.kind} failed: {exc}", item.event_id)

    def _apply(self, event: ClientEvent) -> None:
        """What one client event does to the conversation (InvalidEvent if it cannot)."""
        c = self._conversation
        kind, data, event_id = event.kind, event.data, event.event_id
        if kind == "session.update":
            c.update_session(data.get("session", {}))
        elif kind == "conversation.item.create":
            c.create_item(parse_item(data.get("item")))
        elif kind == "response.create":
            c.create_response(response_settings(c.config, data.get("response"), event_id), event_id)
        elif kind == "response.cancel":
            c.cancel_response(event_id)
        elif kind == "output_audio_buffer.clear":
            c.responses.clear_output()
        elif kind == "input_audio_buffer.clear":
            c.clear_input()
        elif kind == "conversation.item.truncate":
            item_id, end = parse_truncate(data, event_id)
            c.truncate(item_id, end, data.get("content_index", 0), event_id)
        elif kind == COMMIT and c.audio_in_events:
            c.commit_input(event_id)
        elif kind in (APPEND, COMMIT):
            raise InvalidEvent(
                "unsupported_event",
                f"{kind} is for WebSocket sessions; over WebRTC audio comes on the media track",
                event_id,
            )
        else:
            raise InvalidEvent("unknown_event", f"unknown event type {kind!r}", event_id)

    def clear(self) -> None:
        """The call is ending: drop what is queued."""
        self._queue.clear()
        self._pending_samples = 0

    def _admit(self, size: int) -> bool:
        return admit(self._guard, size, self._conversation)

    def _queue_audio(self, data: Mapping[str, Any], event_id: str | None) -> None:
        c = self._conversation
        audio = data.get("audio")
        if not isinstance(audio, str):
            raise InvalidEvent("invalid_event", f"{APPEND} needs 'audio' (base64)", event_id)
        try:
            raw = base64.b64decode(audio, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidEvent("invalid_audio", "'audio' is not valid base64", event_id) from None
        fmt = c.config.input_format
        if len(raw) % fmt.sample_bytes:
            raise InvalidEvent(
                "invalid_audio",
                f"{fmt.kind} audio must be whole {fmt.sample_bytes * 8}-bit samples "
                f"(got {len(raw)} bytes)",
                event_id,
            )
        samples = len(raw) // fmt.sample_bytes
        if self._pending_rate != fmt.rate:
            self._pending_samples = self._pending_samples * fmt.rate // self._pending_rate
            self._pending_rate = fmt.rate
        if (self._pending_samples + samples) / fmt.rate > MAX_PENDING_AUDIO_S:
            c.metrics.limit_hits.labels("audio_backlog").inc()
            raise InvalidEvent(
                "input_audio_buffer_full",
                f"more than {MAX_PENDING_AUDIO_S:g} s of appended audio is waiting; "
                "append in real time",
                event_id,
            )
        c.media_arrived()
        if samples:
            self._pending_samples += samples
            self._queue.append(Appended(wire_audio.decode(raw, fmt), fmt.rate))
            self._ready.set()


class Admitting(Protocol):
    """A call whose client events are admitted (a conversation, a translation session)."""

    metrics: Metrics

    def refuse(
        self, code: str, message: str, event_id: str | None, *, error_type: str = ...
    ) -> None: ...

    def end_soon(self, reason: str) -> None: ...


def admit(guard: EventGuard, size: int, call: Admitting) -> bool:
    """Whether an event of `size` bytes gets in under the call limits; if not, the client is
    told (event_too_large, rate_limit_exceeded), or an abusive one is hung up on."""
    verdict, limit = guard.admit(size)
    if verdict is Verdict.ACCEPT:
        return True
    call.metrics.limit_hits.labels(limit).inc()
    if verdict is Verdict.ABUSE:
        call.end_soon("event_abuse")
    elif verdict is Verdict.DROP_AND_TELL:
        limits = guard.limits
        if limit == "event_size":
            code, kind, why = (
                "event_too_large",
                "invalid_request_error",
                f"{limits.max_event_bytes} bytes",
            )
        else:
            code, kind, why = (
                "rate_limit_exceeded",
                "rate_limit_error",
                f"{limits.events_per_second:g}/s",
            )
        call.refuse(code, f"event dropped: the limit is {why}", None, error_type=kind)
    return False


def parse_event(message: str | bytes) -> dict[str, Any]:
    """A client event's JSON object (InvalidEvent if the message is not one)."""
    if isinstance(message, bytes):
        raise InvalidEvent("invalid_event", "events must be JSON text messages, not binary")
    try:
        data = loads(message)
    except JSONRejected as exc:
        code = "invalid_event" if exc.too_deep else "invalid_json"
        raise InvalidEvent(code, f"event is not usable JSON: {exc.message}") from None
    if not isinstance(data, dict):
        raise InvalidEvent("invalid_event", "an event must be a JSON object")
    return data


def parse_item(item: Any) -> UserItem | OutputItem:
    if not isinstance(item, Mapping):
        raise InvalidEvent("invalid_item", "conversation.item.create needs an 'item' object")
    given = item.get("id")
    item_id = given if isinstance(given, str) else new_id("item")
    if item.get("type") == "function_call_output":
        call_id, output = item.get("call_id"), item.get("output")
        if not isinstance(call_id, str) or not call_id or not isinstance(output, str):
            raise InvalidEvent(
                "invalid_item", "a function_call_output needs a string call_id and output"
            )
        return OutputItem(item_id, call_id, output)
    if item.get("type", "message") != "message" or item.get("role", "user") != "user":
        raise InvalidEvent(
            "invalid_item", "only user messages and function_call_output items can be created"
        )
    content = item.get("content")
    if not isinstance(content, list) or not content:
        raise InvalidEvent("invalid_item", "item.content must be a non-empty list")
    texts: list[str] = []
    image: bytes | None = None
    for part in content:
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind in ("input_text", "text") and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "input_image":
            image = _decode_data_url(part.get("image_url"))
        else:
            raise InvalidEvent("invalid_item", f"unsupported content part {kind!r}")
    return UserItem(item_id, " ".join(texts) or None, image)


def parse_truncate(data: Mapping[str, Any], event_id: str | None) -> tuple[str, float]:
    target = data.get("item_id")
    end = data.get("audio_end_ms")
    if not isinstance(target, str) or isinstance(end, bool) or not isinstance(end, int | float):
        raise InvalidEvent(
            "invalid_event", "truncate needs item_id and a numeric audio_end_ms", event_id
        )
    return target, float(end)


def _decode_data_url(url: Any) -> bytes:
    if not isinstance(url, str) or not url.startswith("data:image/") or ";base64," not in url:
        raise InvalidEvent("invalid_image", "input_image needs a data:image/...;base64, URL")
    try:
        return base64.b64decode(url.split(";base64,", 1)[1], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidEvent("invalid_image", "input_image is not valid base64") from None


def response_settings(config: SessionConfig, params: Any, event_id: str | None) -> Ask | None:
    """A `response.create`'s own `response` settings over the session's (None: none)."""
    if params is None or params == {}:
        return None
    if not isinstance(params, Mapping):
        raise InvalidEvent("invalid_event", "response must be an object", event_id)
    try:
        client = client_request(params, base=config.client)
        voice = config.voice
        if "output_modalities" in params:
            modalities = params["output_modalities"]
            if not isinstance(modalities, list) or not set(modalities) <= {"audio", "text"}:
                raise InvalidEvent("invalid_event", "output_modalities: audio or text")
            voice = dataclasses.replace(voice, audio="audio" in modalities)
    except InvalidEvent as exc:
        raise InvalidEvent("invalid_event", f"response: {exc.message}", event_id) from None
    return Ask(client, voice)
