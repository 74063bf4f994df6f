"""A call, whatever carries it: the session, the scenario, turns, answers and barge-in.

One `Conversation` per call. It owns the session config, the scenario, the turn
detector fed by `hear`, the interruption policy, the answers and their one playout
clock, the camera sampler and the client events, and it ends the call. It talks to
the outside only through `rtc.conversation.transport` (events out, audio and events
in, frames out, close) and never imports a transport or a scenario package.

Data flow of a spoken turn: transport -> `hear` (any rate) -> AudioChunker (16 kHz
chunks) -> VAD -> TurnDetector -> SpeechPaused (a speculative answer starts) ->
SpeechStopped (it is committed) -> the scenario answers through a `Response` ->
`Playout` -> the transport pulls frames. A barge-in: VoiceOnset over an answer ->
InterruptionPolicy says HOLD (the playout goes silent at once) -> enough speech, or
words -> INTERRUPT: `Responses.cancel` clears the audio, truncates the conversation
to what was played and cancels the answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from model.dialogue import ToolOutput
from model.emotion import EmotionState
from model.errors import ModelError
from model.scenario import Scenario, UserTurn
from model.types import FaceEmotion
from rtc import events as ev
from rtc.conversation.barge_in import BargeIn
from rtc.conversation.camera import CameraSampler, LatestFrame
from rtc.conversation.captions import Captions
from rtc.conversation.carried import CarriedCall
from rtc.conversation.client_events import (
    ClientEvents,
    OutputItem,
    UserItem,
)
from rtc.conversation.lifetime import Endings, Lifetime
from rtc.conversation.listening import AudioProcessing, Listening
from rtc.conversation.parts import ServerParts
from rtc.conversation.playout import Frame, Playout
from rtc.conversation.responses import Ask, Responses, ResponsesListener, UserInput
from rtc.conversation.scenario_stream import ScenarioStream
from rtc.conversation.session_config import SessionConfig
from rtc.conversation.transport import Transport
from rtc.conversation.turns import (
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    SpeechStopped,
    TurnDetector,
    TurnEvent,
    VoiceLost,
    VoiceOnset,
    WordsVerdict,
    transcript_sounds_finished,
)
from rtc.errors import InvalidEvent
from rtc.events import EventSink, ServerEvents, new_id
from rtc.limits import EventGuard
from rtc.vad import SAMPLE_RATE as VAD_RATE

logger = logging.getLogger(__name__)

MIN_COMMIT_MS = 100


class Conversation(ResponsesListener):
    def __init__(
        self,
        parts: ServerParts,
        config: SessionConfig,
        *,
        id_prefix: str,
        on_closed: Callable[[Conversation], Awaitable[None] | None] | None = None,
        resumed: CarriedCall | None = None,
        keep: Callable[[CarriedCall], bool] | None = None,
    ) -> None:
        """`resumed`: what a dropped call left (this call goes on with it, under its id);
        `keep`: offered what this call leaves when it ends, True if it was kept."""
        self.id = resumed.call_id if resumed is not None else new_id(id_prefix)
        self.created_at = resumed.created_at if resumed is not None else time.monotonic()
        self.log_prefix = f"[{self.id}] "
        self.model = parts.model
        self.metrics = parts.metrics
        self.settings = parts.settings
        self._parts = parts
        self.config = config
        self.model_session = resumed.model_session if resumed is not None else parts.model.session()
        self.events = ServerEvents()
        self.life = Lifetime(
            self.id,
            self.events,
            self.metrics,
            self.settings.limits,
            Endings(
                stop_input=lambda: self._client_events.clear(),
                release=self._release,
                flush=self._flush,
                ended=lambda: on_closed(self) if on_closed is not None else None,
            ),
        )
        self.playout = Playout()
        self.responses = Responses(
            events=self.events,
            playout=self.playout,
            model_session=self.model_session,
            metrics=self.metrics,
            apology=parts.apology,
            log_prefix=self.log_prefix,
            stall_timeout_s=self.settings.limits.model_stall_s,
            record_audio=self.settings.record_audio,
        )
        self.responses.listener = self
        self.barge_in = BargeIn(
            responses=self.responses,
            playout=self.playout,
            model_session=self.model_session,
            metrics=self.metrics,
            scenario=self._current_scenario,
            words_heard=self.words_heard,
            forget_speech=self._forget_speech,
            spawn=self.life.spawn,
            echoed=lambda speech: self.listening.echoed(speech),
            log_prefix=self.log_prefix,
        )
        self.playout.tap = self._played
        self.captions = Captions(self.events, self.model_session, self.log_prefix)
        self.scenario: Scenario | None = resumed.scenario if resumed is not None else None
        self._stream: tuple[Scenario, ScenarioStream, asyncio.Task[None]] | None = None
        self.video = LatestFrame()
        self.camera = CameraSampler(
            self.video,
            self.model_session,
            self._current_scenario,
            self._on_emotion,
            self.created_at,
        )
        self.transport: Transport | None = None
        self.audio_in_events = False
        self._client_events = ClientEvents(self, EventGuard(self.settings.limits))
        self.listening = Listening(
            parts.vad,
            parts.turn_end,
            self.metrics,
            self.turn_event,
            self._on_speech,
            self.life.spawn,
        )
        self.heard_s = 0.0
        """Seconds of the user's audio heard so far."""
        self._user_item_id: str | None = None
        self._last_event_at = time.monotonic()
        self._last_media_at = time.monotonic()
        self._keep = keep
        self._follow_config()
        carried = resumed.scenario if resumed is not None else None
        if carried is not None and carried is self.scenario:  # went on as it was
            self.life.spawn(carried.watch(self._scenario_event), "scenario watch")

    # -- wiring to a transport ---------------------------------------------------------
    def start(self, transport: Transport) -> None:
        """Run the call over `transport` (its sinks attach themselves)."""
        self.transport = transport
        self.audio_in_events = transport.audio_in_events
        self.listening.follow(self.config.turn, self._audio_processing())
        self.life.spawn(self._client_events.run(), "client events")
        self.life.spawn(
            self.life.watch(self.created_at, lambda: self.last_media_at, self._peer_gone),
            "watchdog",
        )
        self.life.spawn(self.camera.run(), "camera sampler")
        logger.info(
            "%saccepted (%s): scenario=%s", self.log_prefix, transport.kind, self.config.scenario
        )

    def attach(self, sink: EventSink) -> Callable[[], None]:
        """Send this call's events to `sink`, starting with `session.created`."""
        detach = self.events.attach(sink)
        self.events.emit_to(sink, ev.SESSION_CREATED, {"session": self.config.as_json()})
        return detach

    def receive(self, message: str | bytes) -> None:
        """A client event as it arrives (see client_events.py). Nothing escapes from here
        into the transport's own loop (aiortc's DTLS receiver, the socket reader)."""
        try:
            self._client_events.receive(message)
        except Exception as exc:
            logger.exception("%sa client event could not be read", self.log_prefix)
            self.refuse("internal_error", f"the event could not be read: {exc}", None)

    def touch(self) -> None:
        """The peer showed it is there."""
        self._last_event_at = time.monotonic()

    def media_arrived(self) -> None:
        self._last_media_at = time.monotonic()

    @property
    def ending(self) -> bool:
        return self.life.ending

    @property
    def closed(self) -> asyncio.Event:
        return self.life.closed

    @property
    def end_reason(self) -> str | None:
        return self.life.end_reason

    def refuse(
        self,
        code: str,
        message: str,
        event_id: str | None,
        *,
        error_type: str = "invalid_request_error",
    ) -> None:
        """Answer a client event the server cannot act on with an `error` event."""
        self.metrics.client_event_errors.labels(code).inc()
        self.events.error(code, message, event_id=event_id, error_type=error_type)

    # -- the session -------------------------------------------------------------------
    def _follow_config(self) -> None:
        """Make the running call follow `self.config` (scenario, turn detection, camera)."""
        config = self.config
        turn = config.turn
        self.listening.follow(turn, self._audio_processing())
        self.barge_in.configure(turn)
        self.camera.emotion_enabled = config.emotion and self.model.capabilities.emotion
        cls = self._parts.rules.scenarios.get(config.scenario)
        assert cls is not None  # SessionRules checked it
        if self.scenario is not None and type(self.scenario) is cls:
            self.scenario.configure(config.data)
        else:
            old = self.scenario
            self.scenario = cls(self.model, self.model_session, config.data)
            self.life.spawn(self.scenario.watch(self._scenario_event), "scenario watch")
            if old is not None:
                self.life.spawn(old.aclose(), "close old scenario")
        self._follow_listening()
        self.responses.scenario = self.scenario
        self.responses.voice = config.voice
        self.responses.client = config.client
        self.responses.listening = config.transcription
        heard = config.transcription
        self.captions.languages = (
            [heard.language] if heard and heard.language else list(config.languages)
        )
        self.captions.prompt = heard.prompt if heard else ""

    def _follow_listening(self) -> None:
        """A scenario that listens continuously (the simultaneous interpreter) hears every
        chunk of the user's audio instead of the turn detector, and speaks through a
        stream of its own: no turns, no responses, no barge-in."""
        scenario = self.scenario
        wanted = scenario if scenario is not None and scenario.listens_continuously else None
        current = self._stream
        if current is not None and current[0] is not wanted:
            _, stream, task = current
            task.cancel()
            stream.close()
            self._stream = None
            self.listening.divert = None
        if wanted is not None and self._stream is None:
            stream = ScenarioStream(self.events, self.playout)
            task = self.life.spawn(wanted.listen(stream), "scenario stream")
            self._stream = (wanted, stream, task)
            self.listening.divert = wanted.hear_audio

    def _current_scenario(self) -> Scenario | None:
        return self.scenario

    def _scenario_event(self, event_type: str, payload: Mapping[str, Any]) -> object:
        return self.events.emit(event_type, payload)

    # -- client events, applied in order ----------------------------------------------
    def create_item(self, item: UserItem | OutputItem) -> None:
        """`conversation.item.create`: a user message, or a client tool's result."""
        wire: dict[str, Any]
        if isinstance(item, OutputItem):
            self.responses.add_tool_output(item.item_id, ToolOutput(item.call_id, item.output))
            wire = {"type": "function_call_output", "call_id": item.call_id, "output": item.output}
            self.events.record(
                {"type": "conversation.item.create", "item_id": item.item_id, **wire}
            )
        else:
            typed = {"type": "conversation.item.create", "item_id": item.item_id, "text": item.text}
            self.events.record({**typed, "image": item.image is not None})  # text is kept
            self.responses.add_input(UserInput(item.item_id, item.text, item.image))
            content: list[dict[str, Any]] = []
            if item.text:
                content.append({"type": "input_text", "text": item.text})
            if item.image is not None:
                content.append({"type": "input_image"})  # not echoed: it can be large
            wire = {"type": "message", "role": "user", "content": content}
        body = {"id": item.item_id, "object": "realtime.item", "status": "completed", **wire}
        self.events.emit(ev.ITEM_ADDED, {"previous_item_id": None, "item": body})
        self.events.emit(ev.ITEM_DONE, {"previous_item_id": None, "item": body})

    def create_response(self, ask: Ask | None, event_id: str | None) -> None:
        """`response.create`: answer what the client added (InvalidEvent if it cannot)."""
        if self.config.transcribing_only:
            raise InvalidEvent(
                "unsupported_event",
                "a transcription session makes no responses (session.type is transcription)",
                event_id,
            )
        if not self.responses.create(ask):
            raise InvalidEvent(
                "conversation_already_has_active_response",
                "a response is in progress; cancel it first",
                event_id,
            )

    def cancel_response(self, event_id: str | None) -> None:
        if not self.responses.cancel_current("client_cancelled"):
            raise InvalidEvent(
                "response_cancel_not_active", "there is no response to cancel", event_id
            )

    def update_session(self, update: Any) -> None:
        """`session.update`: all of it takes effect, or none of it (InvalidEvent)."""
        previous = self.config
        self.config = self._parts.rules.update(previous, update)
        self._follow_config()
        self.events.emit(ev.SESSION_UPDATED, {"session": self.config.as_json()})

    def clear_input(self) -> None:
        self.listening.clear()
        self.responses.drop_speculative()
        self.events.emit(ev.INPUT_CLEARED)

    def truncate(
        self, item_id: str, audio_end_ms: float, content_index: Any, event_id: str | None
    ) -> None:
        # Never more than went out: the client cannot have played the rest.
        end = max(0.0, min(audio_end_ms, self.responses.played_ms(item_id)))
        if self.model_session.truncate(item_id, end) is None:
            raise InvalidEvent("item_not_found", f"no item {item_id!r}", event_id)
        self.events.emit(
            ev.ITEM_TRUNCATED,
            {"item_id": item_id, "content_index": content_index, "audio_end_ms": int(end)},
        )

    def commit_input(self, event_id: str | None) -> None:
        """`input_audio_buffer.commit` (turns are the client's): the buffer becomes an item."""
        if self.detector is not None:
            raise InvalidEvent(
                "invalid_event",
                "turn detection is on: the server commits turns itself "
                "(set audio.input.turn_detection to null to commit by hand)",
                event_id,
            )
        audio = self.listening.take_manual()
        if 1000 * len(audio) / VAD_RATE < MIN_COMMIT_MS:
            raise InvalidEvent(
                "input_audio_buffer_commit_empty",
                f"the buffer has less than {MIN_COMMIT_MS} ms of audio",
                event_id,
            )
        item_id = new_id("item")
        self.events.emit(ev.AUDIO_COMMITTED, {"item_id": item_id, "previous_item_id": None})
        self.responses.add_input(UserInput(item_id, audio=audio))

    # -- audio in: the one listening path of every transport ------------------------------
    async def hear(self, pcm: NDArray[np.int16], rate: int, *, off_loop: bool = False) -> None:
        """The user's audio (mono int16 at `rate`), in order, as it arrives."""
        self._last_media_at = time.monotonic()
        self.heard_s += len(pcm) / rate
        await self.listening.hear(pcm, rate, off_loop=off_loop)

    @property
    def detector(self) -> TurnDetector | None:
        return self.listening.detector

    def _on_speech(self, detector: TurnDetector) -> None:
        """After every chunk of speech."""
        self.speech_progress(detector.speech_ms)
        if self.config.transcribing_only:
            self.captions.progress(detector.speech_ms, detector.speech_so_far)

    def turn_event(self, event: TurnEvent) -> None:
        """What the turn detector says (timeline tests say it directly)."""
        barge_in = self.barge_in
        if isinstance(event, VoiceOnset):
            barge_in.voice_onset()
        elif isinstance(event, VoiceLost):
            barge_in.voice_lost()
        elif isinstance(event, SpeechStarted):
            self._user_item_id = new_id("item")
            self.events.emit(
                ev.SPEECH_STARTED,
                {"audio_start_ms": int(event.audio_start_ms), "item_id": self._user_item_id},
            )
            self.responses.drop_speculative()
            if self.config.transcribing_only:
                self.captions.started(self._user_item_id)
            barge_in.speech_started()
        elif isinstance(event, SpeechPaused):
            self._on_pause(event)
        elif isinstance(event, SpeechResumed):
            self.responses.drop_speculative()  # the answer to the pause is stale
            barge_in.speech_resumed()
        elif isinstance(event, SpeechStopped):
            self._on_speech_stopped(event)

    def _on_pause(self, event: SpeechPaused) -> None:
        """The user went quiet: start answering (held back), or judge speech over an answer;
        either way its words tell the turn detector how the turn ends."""
        self.responses.drop_speculative()
        detector = self.detector
        speech_ms = detector.speech_ms if detector is not None else 0.0
        if self.barge_in.paused(event.revision, event.audio, speech_ms):
            return
        if self._answers_turns() and not self.barge_in.answering:
            item_id = self._user_item_id or new_id("item")
            self.responses.speculate(UserTurn(item_id, audio=event.audio), event.revision)
        elif detector is not None and detector.settings.eager_silence_ms is not None:
            self.life.spawn(self._words_of_pause(event), "words of a pause")

    async def _words_of_pause(self, event: SpeechPaused) -> None:
        """The words of a pause nobody answers yet (captions only, answers left to the
        client, an answer already playing): they still say how the turn ends."""
        scenario = self.scenario
        try:
            transcript = await self.model_session.transcribe(
                event.audio,
                self.captions.languages or (scenario.languages if scenario else []),
                prompt=self.captions.prompt,
            )
        except ModelError:
            return
        self.words_heard(event.revision, transcript_sounds_finished(transcript))

    def speech_progress(self, speech_ms: float) -> None:
        """The user has been speaking for `speech_ms` (after every chunk of speech)."""
        detector = self.detector
        self.barge_in.speech_progress(
            speech_ms, detector.speech_so_far if detector is not None else lambda: None
        )

    def _on_speech_stopped(self, event: SpeechStopped) -> None:
        item_id = self._user_item_id or new_id("item")
        self._user_item_id = None
        self.events.emit(
            ev.SPEECH_STOPPED, {"audio_end_ms": int(event.audio_end_ms), "item_id": item_id}
        )
        turn = UserTurn(item_id=item_id, audio=event.audio)
        if self.config.transcribing_only:
            self.events.emit(ev.AUDIO_COMMITTED, {"item_id": item_id, "previous_item_id": None})
            self.captions.stopped(item_id, event.audio)
            return
        if self.barge_in.stopped(event, turn):
            return
        if not self._answers_turns():
            return
        if not self.responses.commit_speculative(event.revision):
            self.responses.start(self.barge_in.answer_turn(turn, event.revision))

    def _answers_turns(self) -> bool:
        turn = self.config.turn
        return (
            turn is not None
            and turn.create_response
            and self.scenario is not None
            and not self.config.transcribing_only
        )

    def _forget_speech(self) -> None:
        """Speech over an answer was no turn (an echo, a backchannel, a noise)."""
        detector = self.detector
        if detector is not None:
            detector.reset()
        self._user_item_id = None

    def words_heard(self, revision: int, finished: WordsVerdict) -> None:
        self.listening.words_heard(revision, finished)

    def _played(self, frame: Frame) -> None:
        """A frame of the playout went out: the echo canceller's reference."""
        self.listening.far_end(frame)

    def _audio_processing(self) -> AudioProcessing:
        """Echo cancellation where the input needs it: always on the WebSocket (telephony,
        servers: nothing cancels there), on WebRTC when the session asks (phones and
        browsers cancel their own echo); noise suppression when the session asks."""
        config = self.config
        echo = self.audio_in_events or config.echo_cancellation
        return AudioProcessing(echo_cancellation=echo, noise_reduction=config.noise_reduction)

    def speak_up(self, trigger: str) -> None:
        """The scenario wants to say something unprompted (it saw the user frown)."""
        if self.responses.current is None and not self.barge_in.suspected and self.scenario:
            self.responses.start(UserTurn(item_id=new_id("item"), trigger=trigger))

    def _on_emotion(
        self, state: EmotionState, frustrated_s: float, changed_faces: list[FaceEmotion] | None
    ) -> None:
        if changed_faces is not None:
            # Every face, largest first (ours, beyond the contract's label/score/faces).
            people = [
                {"label": f.label, "score": round(f.score, 2), "box": list(f.box)}
                for f in changed_faces
            ]
            self.events.emit(ev.EMOTION_STATE, {**state.as_event(), "people": people})
        scenario = self.scenario
        if scenario is not None and scenario.on_emotion(state, frustrated_s):
            self.speak_up("emotion")

    # -- lifetime ------------------------------------------------------------------------
    @property
    def last_media_at(self) -> float:
        return max(self._last_media_at, self.video.last_frame_at)

    def _peer_seen_at(self) -> float:
        transport = self.transport
        if transport is not None and transport.connected():
            return time.monotonic()
        return max(self._last_event_at, self.last_media_at)

    def _peer_gone(self, now: float) -> bool:
        gone = now - self._peer_seen_at() > self.settings.peer_timeout_s
        if gone:
            logger.info(
                "%sno media or events for %.0fs", self.log_prefix, self.settings.peer_timeout_s
            )
        return gone

    def end_soon(self, reason: str) -> None:
        """End the call from a callback: at once for everything that arrives after this."""
        self.life.end_soon(reason)

    async def end_with(self, reason: str) -> None:
        """End the call, first telling the client why with an `error` event (if it is there)."""
        await self.life.end_with(reason)

    def close(self, reason: str) -> asyncio.Task[None]:
        """End the call (idempotent); returns the task doing it."""
        return self.life.close(reason)

    async def _flush(self) -> None:
        if self.transport is not None:
            await self.transport.flush()

    async def _release(self) -> None:
        """What the call holds, once its tasks are gone (rtc/conversation/lifetime.py)."""
        await self.responses.aclose()
        await self.captions.aclose()
        if not self._hand_over():
            if self.scenario is not None:
                await self.scenario.aclose()
            await self.model_session.aclose()
        self.playout.stop()
        self.events.detach_all()
        transport, self.transport = self.transport, None
        if transport is not None:
            await transport.close(self.end_reason or "closed")
        # Nothing may point back into the ended call: with no cycle through it, its frames,
        # codecs and their threads go with the last reference, not at the next full garbage
        # collection (rare in a process whose models hold millions of long-lived objects).
        self.camera.detach()
        self.video.clear()
        self.listening.clear()
        self.listening.divert = None
        self._stream = None

    # -- resuming a dropped call (rtc/resume.py) -----------------------------------------
    def _hand_over(self) -> bool:
        """Offer what outlives the connection (config, scenario, model session) to be
        resumed; True if it was taken, and is no longer this call's to close."""
        if self._keep is None:
            return False
        carried = CarriedCall(
            call_id=self.id,
            created_at=self.created_at,
            config=self.config,
            scenario=self.scenario,
            model_session=self.model_session,
            end_reason=self.end_reason or "closed",
        )
        return self._keep(carried)

    def spawn(self, coro: Awaitable[None], name: str) -> None:
        """Run `coro` for the call's life (a transport's media task): cancelled at its end."""
        self.life.spawn(coro, name)

    @property
    def dropped_events(self) -> int:
        """Client events dropped by the size and rate limits."""
        return self._client_events.dropped

    @property
    def task_count(self) -> int:
        return self.life.task_count
