"""What every call shares, whatever carries it: session, scenario, turns, answers, events.

A call is a conversation with one client. `BaseCall` owns everything that does not
depend on the transport: the session config, the scenario, the responder (answers and
barge-in), the turn detector fed by `listen`, the client events and the limits. The
transports are thin subclasses: `rtc.call.Call` (WebRTC: Opus media track and the
`oai-events` data channel) and `rtc.ws_call.WebSocketCall` (the OpenAI Realtime
WebSocket: base64 PCM in JSON events). Both feed the same `listen` loop with 16 kHz
chunks of 512 samples and both play answers through the same paced `OutputAudioTrack`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from aiortc import RTCIceServer
from numpy.typing import NDArray

from model.base import OmniModel
from model.emotion import EmotionState
from model.scenario import Scenario, ScenarioConfigError
from model.types import FaceEmotion
from rtc import events as ev
from rtc.audio_out import OutputAudioTrack
from rtc.camera import CameraSampler
from rtc.errors import BadRequest, InvalidEvent
from rtc.events import EventSender, new_id
from rtc.limits import CallLimits, EventGuard, Verdict, ending_notice, expired
from rtc.media_in import LatestFrame
from rtc.metrics import Metrics
from rtc.responder import Responder
from rtc.session import apply_update, default_session, emotion_enabled, turn_settings
from rtc.turns import (
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    SpeechStopped,
    TurnDetector,
    TurnEvent,
    VoiceLost,
    VoiceOnset,
)
from rtc.vad import SileroVAD

logger = logging.getLogger(__name__)


@dataclass
class CallSettings:
    ice_servers: list[RTCIceServer] = field(default_factory=list)
    peer_timeout_s: float = 10.0
    """No media and no events for this long: the peer is gone."""
    limits: CallLimits = field(default_factory=CallLimits)
    record_audio: bool = False
    """The conversation record keeps the user's speech too."""


class BaseCall:
    """The transport-independent part of a call."""

    id_prefix = "rtc"

    def __init__(
        self,
        *,
        model: OmniModel,
        vad: SileroVAD,
        scenarios: Mapping[str, type[Scenario]],
        metrics: Metrics,
        settings: CallSettings,
        on_closed: Callable[[BaseCall], Awaitable[None] | None] | None = None,
    ) -> None:
        self.id = new_id(self.id_prefix)
        self.created_at = time.monotonic()
        self._log = f"[{self.id}] "
        self.model = model
        self.metrics = metrics
        self.settings = settings
        self._scenarios = scenarios
        self._on_closed = on_closed
        self._vad = vad
        self.session_config = default_session(model.name)
        self.model_session = model.session()
        self.sender = self._new_sender()
        self.guard = EventGuard(settings.limits)
        self.output = OutputAudioTrack()
        self.responder = Responder(
            sender=self.sender,
            output=self.output,
            session=self.model_session,
            metrics=metrics,
            log_prefix=self._log,
            stall_timeout_s=settings.limits.model_stall_s,
            record_audio=settings.record_audio,
        )
        self.responder.words_heard = self._words_heard
        self.scenario: Scenario | None = None
        self.detector: TurnDetector | None = None
        self.latest_video = LatestFrame()
        self.camera = CameraSampler(
            self.latest_video,
            self.model_session,
            lambda: self.scenario,
            self._on_emotion,
            self.created_at,
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_activity = time.monotonic()
        self._closing: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()
        self.end_reason: str | None = None

    # -- transport hooks -----------------------------------------------------------
    def _new_sender(self) -> EventSender:
        return EventSender()

    def _media_at(self) -> float:
        """When media last arrived (monotonic seconds); the idle limit counts from it."""
        return self.created_at

    def _peer_seen_at(self) -> float:
        """When the peer last showed it is there; `peer_timeout_s` later it is gone."""
        return max(self._last_activity, self._media_at())

    async def _flush_events(self) -> None:
        """Give queued events (an ending notice) a moment to leave."""

    async def _close_transport(self) -> None:
        """Release the transport; the call's tasks are already cancelled."""

    def _handle_transport_event(self, kind: str, data: dict[str, Any]) -> bool:
        """Handle an event only this transport knows; False if it is not one."""
        return False

    # -- session -------------------------------------------------------------------
    def _initial_session(self, session_update: Mapping[str, Any] | None) -> None:
        """Apply the session the call opens with; BadRequest if it is unusable."""
        if session_update is not None:
            try:
                self.session_config = apply_update(self.session_config, session_update)
            except InvalidEvent as exc:
                raise BadRequest(f"session: {exc.message}", code=exc.code) from None
        self._apply_session(initial=True)

    def _apply_session(self, *, initial: bool = False) -> None:
        """Make the running call follow `session_config` (scenario, turn detection)."""
        settings = turn_settings(self.session_config)
        self.responder.settings = settings
        self.camera.emotion_enabled = (
            emotion_enabled(self.session_config) and self.model.capabilities.emotion
        )
        if settings is None:
            self.detector = None
        elif self.detector is None or self.detector.settings != settings:
            self.detector = TurnDetector(settings)
        name = self.session_config["scenario"]
        cls = self._scenarios.get(name)
        if cls is None:
            self.scenario = None
            self.responder.scenario = None
            self.responder.scenario_problem = (
                "scenario_unavailable",
                f"the '{name}' scenario is not available in this server yet; "
                f"available: {', '.join(sorted(self._scenarios))}",
            )
            return
        try:
            cls.check_config(self.model, self.session_config)
        except ScenarioConfigError as exc:
            if initial:
                raise BadRequest(str(exc), code=exc.code) from None
            raise InvalidEvent(exc.code, str(exc)) from None
        if self.scenario is not None and type(self.scenario) is cls:
            self.scenario.configure(self.session_config)
        else:
            old = self.scenario
            self.scenario = cls(self.model, self.model_session, self.session_config)
            self._spawn(self.scenario.watch(self.sender.emit), "scenario watch")
            if old is not None:
                self._spawn(old.aclose(), "close old scenario")
        self.responder.scenario = self.scenario
        self.responder.scenario_problem = None

    # -- audio in: the one listen loop of every transport ----------------------------
    async def _listen(self, chunks: AsyncIterator[NDArray[np.float32]]) -> None:
        """Turn detection over 16 kHz mono chunks of `rtc.vad.CHUNK_SAMPLES` samples."""
        vad = self._vad.stream()
        async for chunk in chunks:
            detector = self.detector
            if detector is None:
                self._manual_audio(chunk)
                continue
            probability = await vad.probability(chunk)
            for event in detector.push(chunk, probability):
                self._on_turn_event(event)
            if detector.speaking:
                self.responder.on_speech_progress(detector.speech_ms)

    def _manual_audio(self, chunk: NDArray[np.float32]) -> None:
        """Audio while turns are manual (`turn_detection: null`): drained, never queued."""

    def _on_turn_event(self, event: TurnEvent) -> None:
        if isinstance(event, VoiceOnset):
            self.responder.on_voice_onset()
        elif isinstance(event, VoiceLost):
            self.responder.on_voice_lost()
        elif isinstance(event, SpeechStarted):
            self.responder.on_speech_started(event)
        elif isinstance(event, SpeechPaused):
            self.responder.on_speech_paused(event)
        elif isinstance(event, SpeechResumed):
            self.responder.on_speech_resumed()
        elif isinstance(event, SpeechStopped):
            self.responder.on_speech_stopped(event)

    def _words_heard(self, revision: int, finished: bool | None) -> None:
        if self.detector is not None:
            for event in self.detector.words_heard(revision, finished):
                self._on_turn_event(event)

    def _on_emotion(
        self, state: EmotionState, frustrated_s: float, changed_faces: list[FaceEmotion] | None
    ) -> None:
        if changed_faces is not None:
            # Every face, largest first (ours, beyond the contract's label/score/faces).
            people = [
                {"label": f.label, "score": round(f.score, 2), "box": list(f.box)}
                for f in changed_faces
            ]
            self.sender.emit("emotion.state", {**state.as_event(), "people": people})
        scenario = self.scenario
        if scenario is not None and scenario.on_emotion(state, frustrated_s):
            self.responder.speak_up("emotion")

    # -- events --------------------------------------------------------------------
    def _on_message(self, message: str | bytes) -> None:
        self._last_activity = time.monotonic()
        if not self._admit(message):
            return
        event_id: str | None = None
        try:
            if isinstance(message, bytes):
                raise InvalidEvent("invalid_event", "events must be JSON text messages, not binary")
            try:
                data = json.loads(message)
            except json.JSONDecodeError as exc:
                raise InvalidEvent("invalid_json", f"event is not valid JSON: {exc.msg}") from None
            if not isinstance(data, dict):
                raise InvalidEvent("invalid_event", "an event must be a JSON object")
            event_id = data.get("event_id") if isinstance(data.get("event_id"), str) else None
            kind = data.get("type")
            if not isinstance(kind, str):
                raise InvalidEvent("missing_type", "the event has no string 'type'", event_id)
            self._handle_event(kind, data)
        except InvalidEvent as exc:
            self.metrics.client_event_errors.labels(exc.code).inc()
            self.sender.error(exc.code, exc.message, event_id=exc.event_id or event_id)

    def _handle_event(self, kind: str, data: dict[str, Any]) -> None:
        event_id = data.get("event_id") if isinstance(data.get("event_id"), str) else None
        if self._handle_transport_event(kind, data):
            return
        if kind == "session.update":
            previous = self.session_config
            self.session_config = apply_update(previous, data.get("session", {}))
            try:
                self._apply_session()
            except InvalidEvent:
                self.session_config = previous
                self._apply_session()
                raise
            self.sender.emit(ev.SESSION_UPDATED, {"session": self.session_config})
        elif kind == "conversation.item.create":
            item_id, text, image = parse_item(data.get("item"))
            typed = {"type": kind, "item_id": item_id, "text": text, "image": image is not None}
            self.sender.record(typed)  # the conversation record keeps typed text
            self.responder.add_user_item(item_id, text, image)
        elif kind == "response.create":
            if not self.responder.create_response():
                raise InvalidEvent(
                    "conversation_already_has_active_response",
                    "a response is in progress; cancel it first",
                    event_id,
                )
        elif kind == "response.cancel":
            if not self.responder.cancel_current("client_cancelled"):
                raise InvalidEvent(
                    "response_cancel_not_active", "there is no response to cancel", event_id
                )
        elif kind == "output_audio_buffer.clear":
            self.responder.clear_output()
        elif kind == "input_audio_buffer.clear":
            if self.detector is not None:
                self.detector.reset()
            self.responder.reset_input()
            self.sender.emit("input_audio_buffer.cleared")
        elif kind == "conversation.item.truncate":
            target = data.get("item_id")
            end = data.get("audio_end_ms")
            if (
                not isinstance(target, str)
                or isinstance(end, bool)
                or not isinstance(end, int | float)
            ):
                raise InvalidEvent(
                    "invalid_event", "truncate needs item_id and a numeric audio_end_ms", event_id
                )
            end = self._truncation_end(target, float(end))
            if self.model_session.truncate(target, end) is None:
                raise InvalidEvent("item_not_found", f"no item {target!r}", event_id)
            self.sender.emit(
                ev.ITEM_TRUNCATED,
                {
                    "item_id": target,
                    "content_index": data.get("content_index", 0),
                    "audio_end_ms": int(end),
                },
            )
        elif kind in ("input_audio_buffer.append", "input_audio_buffer.commit"):
            raise InvalidEvent(
                "unsupported_event",
                f"{kind} is for WebSocket sessions; over WebRTC audio comes on the media track",
                event_id,
            )
        else:
            raise InvalidEvent("unknown_event", f"unknown event type {kind!r}", event_id)

    def _truncation_end(self, item_id: str, audio_end_ms: float) -> float:
        """Where `conversation.item.truncate` cuts (the conversation clamps to its length)."""
        return audio_end_ms

    def _admit(self, message: str | bytes) -> bool:
        """Size and rate limits of client events; see rtc.limits.EventGuard."""
        raw = message.encode("utf-8", "surrogatepass") if isinstance(message, str) else message
        return self._verdict(*self.guard.admit(len(raw)))

    def _verdict(self, verdict: Verdict, limit: str | None) -> bool:
        if verdict is Verdict.ACCEPT:
            return True
        self.metrics.limit_hits.labels(limit).inc()
        if verdict is Verdict.ABUSE and self._closing is None:
            self._spawn(self.end_with("event_abuse"), "end: event abuse")
        elif verdict is Verdict.DROP_AND_TELL:
            limits = self.settings.limits
            code, error_type, why = (
                ("event_too_large", "invalid_request_error", f"{limits.max_event_bytes} bytes")
                if limit == "event_size"
                else ("rate_limit_exceeded", "rate_limit_error", f"{limits.events_per_second:g}/s")
            )
            self.metrics.client_event_errors.labels(code).inc()
            self.sender.error(code, f"event dropped: the limit is {why}", error_type=error_type)
        return False

    # -- lifetime ------------------------------------------------------------------
    async def _watchdog(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            if time.monotonic() - self._peer_seen_at() > self.settings.peer_timeout_s:
                logger.info(
                    "%sno media or events for %.0fs", self._log, self.settings.peer_timeout_s
                )
                self.close("peer_timeout")
                return
            limit = expired(
                self.settings.limits, self.created_at, self._media_at(), time.monotonic()
            )
            if limit is not None:
                self.metrics.limit_hits.labels(limit).inc()
                await self.end_with(limit)
                return

    async def end_with(self, reason: str) -> None:
        """End the call, first telling the client why with an `error` event (if it is there)."""
        notice = ending_notice(reason, self.settings.limits)
        if notice is not None and self._closing is None and self.sender.attached:
            self.sender.error(notice.code, notice.message, error_type=notice.error_type)
            await self._flush_events()
        await asyncio.shield(self.close(reason))

    def close(self, reason: str) -> asyncio.Task[None]:
        """End the call (idempotent); returns the task doing it."""
        if self._closing is None:
            self.end_reason = reason
            self._closing = asyncio.get_running_loop().create_task(self._close())
        return self._closing

    async def _close(self) -> None:
        logger.info("%sending: %s", self._log, self.end_reason)
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for task in tasks:
            task.cancel()
        await self.responder.aclose()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.scenario is not None:
            await self.scenario.aclose()
        await self.model_session.aclose()
        self.output.stop()
        self.sender.attach(None)
        await self._close_transport()
        # Nothing may point back into the ended call: with no cycle through it, its frames,
        # codecs and their threads go with the last reference, not at the next full garbage
        # collection (rare in a process whose models hold millions of long-lived objects).
        self.responder.words_heard = None
        self.output.set_callbacks(None, None)
        self.camera.detach()
        self.metrics.calls_ended.labels(self.end_reason or "unknown").inc()
        self.closed.set()
        if self._on_closed is not None:
            result = self._on_closed(self)
            if result is not None:
                await result

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(f"{self.id} {name}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("%stask %s crashed", self._log, task.get_name(), exc_info=task.exception())

    @property
    def task_count(self) -> int:
        return len(self._tasks)


def parse_item(item: Any) -> tuple[str, str | None, bytes | None]:
    if not isinstance(item, dict):
        raise InvalidEvent("invalid_item", "conversation.item.create needs an 'item' object")
    if item.get("type", "message") != "message" or item.get("role", "user") != "user":
        raise InvalidEvent("invalid_item", "only user messages can be created")
    content = item.get("content")
    if not isinstance(content, list) or not content:
        raise InvalidEvent("invalid_item", "item.content must be a non-empty list")
    texts: list[str] = []
    image: bytes | None = None
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "text") and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "input_image":
            image = _decode_data_url(part.get("image_url"))
        else:
            raise InvalidEvent("invalid_item", f"unsupported content part {kind!r}")
    given = item.get("id")
    item_id = given if isinstance(given, str) else new_id("item")
    return item_id, " ".join(texts) or None, image


def _decode_data_url(url: Any) -> bytes:
    if not isinstance(url, str) or not url.startswith("data:image/") or ";base64," not in url:
        raise InvalidEvent("invalid_image", "input_image needs a data:image/...;base64, URL")
    try:
        return base64.b64decode(url.split(";base64,", 1)[1], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidEvent("invalid_image", "input_image is not valid base64") from None
