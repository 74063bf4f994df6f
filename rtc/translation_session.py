"""A translation session: OpenAI's Realtime Translation API, served by the interpreter.

Not a conversation: no turns, no responses, no scenario. Audio appended by the client
is resampled and cut like a call's (`AudioChunker`), passed through the input filter
(`audio.input.noise_reduction`, rtc/input_filter.py) and fed, as it comes, to the
simultaneous interpreter (translate/simultaneous); what the interpreter commits and
says goes out as `session.input_transcript.delta`, `session.output_transcript.delta`
and `session.output_audio.delta` events. It is a call all the same: it takes a slot
(`--max-calls`, `omnilive_active_calls`), follows the call limits (event size and rate,
idle and maximum length) and keeps a record (what was translated).

Client events are admitted as they arrive (size, rate, JSON) and applied strictly in
order by one task: a `session.update` between two appends applies between them, and
`session.close` settles everything appended before it, sends what is left to say, then
`session.closed`, and ends the session.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from model.base import OmniModel
from model.errors import ModelError
from rtc import events as ev
from rtc.conversation.audio_in import AudioChunker
from rtc.conversation.client_events import Appended, ClientEvent, admit, parse_event
from rtc.conversation.lifetime import Endings, Lifetime
from rtc.errors import InvalidEvent
from rtc.events import EventSink, ServerEvents, new_id
from rtc.input_filter import input_filter
from rtc.limits import CallLimits, EventGuard
from rtc.metrics import Metrics
from rtc.translation_config import WIRE_RATE, TranslationConfig, TranslationRules
from translate.simultaneous import (
    Directions,
    OutputAudio,
    OutputDelta,
    RenderedSegment,
    SimultaneousInterpreter,
    SimultaneousSettings,
    SourceDelta,
)

logger = logging.getLogger(__name__)

APPENDS = (ev.TRANSLATION_APPEND, "input_audio_buffer.append")
#: Largest piece of voice in one `session.output_audio.delta` (seconds).
DELTA_S = 0.2
#: Appended audio this long (samples at the wire rate) is resampled in a worker thread.
OFF_LOOP_SAMPLES = 48_000
#: Unsent events before a client that does not read is dropped (about a minute of voice).
MAX_OUTGOING = 2_000


class Wire(Protocol):
    """What carries a translation session (the WebSocket route)."""

    async def flush(self) -> None:
        """Give queued events (an ending notice) a moment to leave; at most ~1 s."""
        ...

    async def close(self, reason: str) -> None: ...


@dataclass(frozen=True)
class TranslationParts:
    """What a translation session takes from its server."""

    model: OmniModel
    rules: TranslationRules
    metrics: Metrics
    limits: CallLimits
    settings: SimultaneousSettings = SimultaneousSettings(output_rate=WIRE_RATE)


class TranslationSession:
    kind = "translation"
    id_prefix = "tr"

    def __init__(
        self,
        parts: TranslationParts,
        config: TranslationConfig,
        *,
        on_closed: Callable[[TranslationSession], Awaitable[None] | None] | None = None,
    ) -> None:
        self.id = new_id(self.id_prefix)
        self.log_prefix = f"[{self.id}] "
        self.created_at = time.monotonic()
        self.parts = parts
        self.config = config
        self.metrics = parts.metrics
        self.events = ServerEvents()
        self.life = Lifetime(
            self.id,
            self.events,
            self.metrics,
            parts.limits,
            Endings(
                stop_input=self._queue_cleared,
                release=self._release,
                flush=self._flush,
                ended=lambda: on_closed(self) if on_closed is not None else None,
            ),
        )
        self.model_session = parts.model.session()
        self.engine = SimultaneousInterpreter(
            self.model_session, self._directions(), self, settings=parts.settings
        )
        self._guard = EventGuard(parts.limits)
        self._chunker = AudioChunker()
        self._filter = input_filter(config.noise_reduction)
        self._queue: deque[ClientEvent | Appended] = deque()
        self._ready = asyncio.Event()
        self._input_closed = False
        self._last_media_at = time.monotonic()
        self.wire: Wire | None = None
        self.heard_s = 0.0

    # -- wiring ------------------------------------------------------------------------
    def start(self, wire: Wire) -> None:
        self.wire = wire
        self.engine.start()
        self.life.spawn(self._apply_in_order(), "client events")
        self.life.spawn(self.life.watch(self.created_at, lambda: self._last_media_at), "watchdog")
        logger.info(
            "%saccepted (translation): into %s from %s",
            self.log_prefix,
            self.config.target,
            ",".join(self.config.sources),
        )

    def attach(self, sink: EventSink) -> Callable[[], None]:
        """Send this session's events to `sink`, starting with `session.created`."""
        detach = self.events.attach(sink)
        self.events.emit_to(sink, ev.SESSION_CREATED, {"session": self.config.as_json()})
        return detach

    @property
    def ending(self) -> bool:
        return self.life.ending

    @property
    def closed(self) -> asyncio.Event:
        return self.life.closed

    @property
    def end_reason(self) -> str | None:
        return self.life.end_reason

    # -- client events in --------------------------------------------------------------
    def receive(self, message: str | bytes) -> None:
        """A client message as it arrives: admitted, read and queued (never raises)."""
        if self.ending or self._input_closed:
            return
        try:
            self._receive(message)
        except InvalidEvent as exc:
            self.refuse(exc.code, exc.message, exc.event_id)
        except Exception as exc:  # one bad event must never end the session
            logger.exception("%sa client event could not be read", self.log_prefix)
            self.refuse("internal_error", f"the event could not be read: {exc}", None)

    def _receive(self, message: str | bytes) -> None:
        size = len(
            message.encode("utf-8", "surrogatepass") if isinstance(message, str) else message
        )
        # Audio skips the rate limit (200 ms pieces come 5 a second, 20 ms ones 50), not the size.
        maybe_audio = isinstance(message, str) and any(f'"{k}"' in message for k in APPENDS)
        if (not maybe_audio or self._guard.too_large(size)) and not self._admit(size):
            return
        data = parse_event(message)
        event_id = data.get("event_id") if isinstance(data.get("event_id"), str) else None
        kind = data.get("type")
        if maybe_audio and kind not in APPENDS and not self._admit(size):
            return  # junk dressed as audio is rate limited like any other event
        if kind in APPENDS:
            self._queue_audio(data, event_id)
        elif kind in (ev.SESSION_UPDATE, ev.TRANSLATION_CLOSE):
            self._queue.append(ClientEvent(str(kind), data, event_id))
            self._ready.set()
            if kind == ev.TRANSLATION_CLOSE:
                self._input_closed = True
        elif not isinstance(kind, str):
            raise InvalidEvent("missing_type", "the event has no string 'type'", event_id)
        else:
            raise InvalidEvent(
                "unknown_event",
                f"unknown event type {kind!r}: a translation session takes session.update, "
                f"{ev.TRANSLATION_APPEND} and session.close",
                event_id,
            )

    def _admit(self, size: int) -> bool:
        return admit(self._guard, size, self)

    def _queue_audio(self, data: Mapping[str, Any], event_id: str | None) -> None:
        audio = data.get("audio")
        if not isinstance(audio, str):
            raise InvalidEvent("invalid_event", "the append needs 'audio' (base64 PCM16)", event_id)
        try:
            raw = base64.b64decode(audio, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidEvent("invalid_audio", "'audio' is not valid base64", event_id) from None
        if len(raw) % 2:
            raise InvalidEvent(
                "invalid_audio",
                f"audio must be whole 16-bit samples (PCM16 at 24 kHz); got {len(raw)} bytes",
                event_id,
            )
        self._last_media_at = time.monotonic()
        if raw:
            self._queue.append(
                Appended(np.frombuffer(raw, dtype="<i2").astype(np.int16), WIRE_RATE)
            )
            self._ready.set()

    def refuse(
        self,
        code: str,
        message: str,
        event_id: str | None,
        *,
        error_type: str = "invalid_request_error",
    ) -> None:
        self.metrics.client_event_errors.labels(code).inc()
        self.events.error(code, message, event_id=event_id, error_type=error_type)

    async def _apply_in_order(self) -> None:
        while True:
            while not self._queue:
                self._ready.clear()
                await self._ready.wait()
            item = self._queue.popleft()
            if isinstance(item, Appended):
                await self._hear(item.pcm)
                continue
            try:
                if item.kind == ev.SESSION_UPDATE:
                    self._update(item.data.get("session"))
                else:
                    await self._finish()
                    return
            except InvalidEvent as exc:
                self.refuse(exc.code, exc.message, exc.event_id or item.event_id)

    async def _hear(self, pcm: NDArray[np.int16]) -> None:
        self.heard_s += len(pcm) / WIRE_RATE
        if len(pcm) >= OFF_LOOP_SAMPLES:
            chunks = await asyncio.to_thread(self._chunker.push, pcm, WIRE_RATE)
        else:
            chunks = self._chunker.push(pcm, WIRE_RATE)
        for chunk in chunks:
            self.engine.feed(self._filter(chunk))

    def _update(self, update: Any) -> None:
        """`session.update`: all of it takes effect, or none of it (InvalidEvent)."""
        self.config = config = self.parts.rules.update(self.config, update)
        self._filter = input_filter(config.noise_reduction)
        self.engine.set_directions(self._directions())
        self.events.emit(ev.SESSION_UPDATED, {"session": config.as_json()})

    def _directions(self) -> Directions:
        return Directions.into(self.config.target, self.config.sources)

    async def _finish(self) -> None:
        """`session.close`: settle what was appended, say it all, then `session.closed`."""
        rest = self._chunker.take_rest()
        if len(rest):
            self.engine.feed(self._filter(rest))
        try:
            await self.engine.finish()
        except Exception:  # the client still gets its session.closed
            logger.exception("%sthe interpreter failed while finishing", self.log_prefix)
            self.events.error(
                "internal_error", "the interpretation failed", error_type="server_error"
            )
        self.events.emit(ev.SESSION_CLOSED)
        if self.wire is not None:
            await self.wire.flush()
        self.close("client_closed")

    # -- the interpreter's output --------------------------------------------------------
    def source_delta(self, delta: SourceDelta) -> None:
        if self.config.transcription:
            self.events.emit(
                ev.INPUT_TRANSCRIPT_DELTA,
                {"delta": delta.delta, "elapsed_ms": delta.elapsed_ms, "language": delta.language},
            )

    def output_delta(self, delta: OutputDelta) -> None:
        self.events.emit(
            ev.OUTPUT_TRANSCRIPT_DELTA,
            {
                "delta": delta.delta,
                "elapsed_ms": delta.elapsed_ms,
                "language": delta.target_language,
                "source_language": delta.source_language,
            },
        )

    def output_audio(self, audio: OutputAudio) -> None:
        step = int(DELTA_S * audio.sample_rate)
        for i in range(0, len(audio.pcm), step):
            piece = audio.pcm[i : i + step].astype("<i2").tobytes()
            self.events.emit(
                ev.TRANSLATION_AUDIO_DELTA,
                {
                    "delta": base64.b64encode(piece).decode("ascii"),
                    "sample_rate": audio.sample_rate,
                    "channels": 1,
                    "format": "pcm16",
                    "elapsed_ms": audio.elapsed_ms,
                },
            )

    def segment_done(self, segment: RenderedSegment) -> None:
        # For the record only (what was said and how it was rendered), never sent.
        self.events.record(
            {
                "type": "translation.done",
                "item_id": f"{self.id}_seg{segment.segment.index}",
                "source_language": segment.segment.language,
                "target_language": segment.target_language,
                "source_text": segment.segment.text,
                "text": segment.translation,
            }
        )

    def failed(self, code: str, message: str) -> None:
        logger.warning("%s%s: %s", self.log_prefix, code, message)
        self.events.error(code, message, error_type="server_error")

    # -- lifetime (rtc/conversation/lifetime.py) ------------------------------------------
    def end_soon(self, reason: str) -> None:
        self.life.end_soon(reason)

    async def end_with(self, reason: str) -> None:
        """End the session, first telling the client why with an `error` event."""
        await self.life.end_with(reason)

    def close(self, reason: str) -> asyncio.Task[None]:
        """End the session (idempotent); returns the task doing it."""
        return self.life.close(reason)

    def spawn(self, coro: Awaitable[None], name: str) -> None:
        """Run `coro` for the session's life (its socket's writer): cancelled at its end."""
        self.life.spawn(coro, name)

    def _queue_cleared(self) -> None:
        self._queue.clear()

    async def _flush(self) -> None:
        if self.wire is not None:
            await self.wire.flush()

    async def _release(self) -> None:
        await self.engine.aclose()
        with contextlib.suppress(ModelError):
            await self.model_session.aclose()
        self.events.detach_all()
        wire, self.wire = self.wire, None
        if wire is not None:
            await wire.close(self.end_reason or "closed")
