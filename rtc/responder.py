"""Answers and barge-in: turns in, responses out, interruption handled ahead of data.

A `Response` is one answer. It may start speculatively, when the user has
just gone quiet, with everything it produces held back until the turn really
ends (then it is committed) or the user goes on talking (then it is dropped
without a trace). While an answer plays, speech onset pauses the outgoing
audio at once; once the speech is long enough, or has words, the answer is
cancelled, the buffer cleared and the conversation truncated to what was
heard. A short noise with no words resumes the answer where it stopped.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from model.audio import resample_int16, wav_data_url
from model.base import OmniSession
from model.conversation import ConversationItem
from model.errors import ModelError
from model.scenario import Scenario, UserTurn
from model.types import SpeechChunk, Transcript
from rtc import events as ev
from rtc.audio_out import SAMPLE_RATE, OutputAudioTrack
from rtc.events import EventSender, new_id
from rtc.metrics import Metrics
from rtc.records import INPUT_AUDIO
from rtc.turns import (
    SpeechPaused,
    SpeechStarted,
    SpeechStopped,
    TurnSettings,
    words_sound_finished,
)

logger = logging.getLogger(__name__)

APOLOGY = "Sorry, something went wrong on my side. Please say that again."
#: The apology voiced once per backend (session type) and process.
_APOLOGIES: dict[type, NDArray[np.int16]] = {}


class Response:
    """One answer; implements the scenario's ResponseSink."""

    def __init__(
        self, responder: Responder, turn: UserTurn, *, speculative: bool, revision: int = -1
    ) -> None:
        self.id = new_id("resp")
        self.item_id = new_id("item")
        self.turn = turn
        self.revision = revision
        self.status = "in_progress"
        self.turn_ended_at = time.monotonic()
        self.first_audio_at: float | None = None
        self.progress_at = self.turn_ended_at
        """When the model last produced something (an event, words, audio)."""
        self.transcript: list[str] = []
        self.task: asyncio.Task[None] | None = None
        self.committed = asyncio.Event()
        self._responder = responder
        self._held: list[Callable[[], None]] | None = [] if speculative else None
        if not speculative:
            self.committed.set()

    @property
    def speculative(self) -> bool:
        return self._held is not None

    def commit(self) -> None:
        """The turn really ended: send what was held and go live."""
        held, self._held = self._held or [], None
        self.turn_ended_at = time.monotonic()
        for action in held:
            action()
        self.committed.set()

    def drop_held(self) -> None:
        """It will never be sent: let go of what was held (its closures refer back to it)."""
        if self._held is not None:
            self._held.clear()

    def _do(self, action: Callable[[], None]) -> None:
        if self.status != "in_progress":
            return
        self.progress_at = time.monotonic()
        if self._held is not None:
            self._held.append(action)
        else:
            action()

    # -- ResponseSink ------------------------------------------------------------
    def transcription(self, transcript: Transcript) -> None:
        audio = self.turn.audio
        self._do(lambda: self._responder.report_transcription(self.turn.item_id, transcript, audio))
        if self.speculative:
            self._responder.heard_while_paused(self, transcript)

    def event(self, event_type: str, payload: Mapping[str, Any]) -> None:
        data = dict(payload)

        def send() -> None:
            self._responder.sender.emit(event_type, data)

        self._do(send)

    def error(self, code: str, message: str) -> None:
        self._do(lambda: self._responder.sender.error(code, message, error_type="server_error"))

    async def speak(self, speech: AsyncIterator[SpeechChunk]) -> None:
        async for chunk in speech:
            if chunk.sample_rate != SAMPLE_RATE:
                pcm = await asyncio.to_thread(
                    resample_int16, chunk.pcm, chunk.sample_rate, SAMPLE_RATE
                )
                chunk = SpeechChunk(pcm, SAMPLE_RATE, chunk.text)
            self._do(lambda c=chunk: self._play(c))  # type: ignore[misc]

    def _play(self, chunk: SpeechChunk) -> None:
        r = self._responder
        if not self.transcript:
            logger.debug("%sfirst audio of %s queued", r._log, self.id)
        r.output.enqueue(self.id, chunk.pcm)
        item = r.session.conversation.get(self.item_id)
        if item is not None:
            item.add_spoken(chunk.text, chunk.duration_ms)
        if chunk.text:
            delta = chunk.text if not self.transcript else " " + chunk.text
            self.transcript.append(chunk.text)
            r.sender.emit(
                ev.TRANSCRIPT_DELTA,
                {"response_id": self.id, "item_id": self.item_id, "delta": delta},
            )


class Responder:
    """One call's turn-to-answer logic."""

    def __init__(
        self,
        *,
        sender: EventSender,
        output: OutputAudioTrack,
        session: OmniSession,
        metrics: Metrics,
        log_prefix: str = "",
        stall_timeout_s: float = 20.0,
        record_audio: bool = False,
    ) -> None:
        self.sender = sender
        self.stall_timeout_s = stall_timeout_s
        self.record_audio = record_audio
        """A committed answer whose model produces nothing for this long fails (0: never)."""
        self.output = output
        self.session = session
        self.metrics = metrics
        self.settings: TurnSettings | None = TurnSettings()
        self.scenario: Scenario | None = None
        self.scenario_problem: tuple[str, str] | None = ("no_scenario", "no scenario is set")
        self._log = log_prefix
        self._current: Response | None = None
        self._speculative: Response | None = None
        self._waiting: deque[UserTurn] = deque()
        self._barge_in_at: float | None = None
        self._user_item_id: str | None = None
        self._pending_items: list[
            tuple[str, str | None, bytes | None, NDArray[np.float32] | None]
        ] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._apology: asyncio.Task[NDArray[np.int16] | None] | None = None
        self.words_heard: Callable[[int, bool | None], None] | None = None
        """Set by the call: tells its turn detector whether paused speech sounds finished."""
        output.set_callbacks(self._on_audio_started, self._on_audio_finished)

    # -- speech from the turn detector -----------------------------------------------
    def on_voice_onset(self) -> None:
        """First voiced chunk: hold our voice now; the next chunk says if it is speech."""
        if (
            self._current is not None
            and self._barge_in_at is None
            and self.settings
            and self.settings.interrupt_response
        ):
            self.output.pause()

    def on_voice_lost(self) -> None:
        if self._barge_in_at is None:
            self.output.resume()

    def on_speech_started(self, event: SpeechStarted) -> None:
        self._user_item_id = new_id("item")
        self.sender.emit(
            ev.SPEECH_STARTED,
            {"audio_start_ms": int(event.audio_start_ms), "item_id": self._user_item_id},
        )
        self._drop_speculative()
        if self._current is not None and self.settings and self.settings.interrupt_response:
            # Silence first, decide later: the user must not talk over us for even one more frame.
            self.output.pause()
            self._barge_in_at = time.monotonic()

    def on_speech_progress(self, speech_ms: float) -> None:
        if (
            self._barge_in_at is not None
            and self.settings
            and speech_ms >= self.settings.min_interruption_ms
        ):
            self._confirm_barge_in()

    def on_speech_paused(self, event: SpeechPaused) -> None:
        self._drop_speculative()
        if (
            self.settings
            and self.settings.create_response
            and self._current is None
            and self._barge_in_at is None
            and self.scenario is not None
        ):
            turn = UserTurn(item_id=self._user_item_id or new_id("item"), audio=event.audio)
            self._speculative = self._launch(turn, speculative=True, revision=event.revision)
            logger.debug("%sspeculating on paused speech (revision %d)", self._log, event.revision)

    def on_speech_resumed(self) -> None:
        """The user went on: the answer to their pause is stale (and its model work with it)."""
        self._drop_speculative()

    def heard_while_paused(self, response: Response, transcript: Transcript) -> None:
        """A speculative answer knows the words: they may end the turn sooner."""
        finished = words_sound_finished(transcript.text)
        logger.debug("%sheard %r while paused (finished: %s)", self._log, transcript.text, finished)
        if response is self._speculative and self.words_heard is not None:
            self.words_heard(response.revision, finished)

    def on_speech_stopped(self, event: SpeechStopped) -> None:
        item_id = self._user_item_id or new_id("item")
        self._user_item_id = None
        self.sender.emit(
            ev.SPEECH_STOPPED, {"audio_end_ms": int(event.audio_end_ms), "item_id": item_id}
        )
        turn = UserTurn(item_id=item_id, audio=event.audio)
        if self._barge_in_at is not None:
            # Too short to be sure: only words make it an interruption.
            self._spawn(self._check_false_interruption(turn))
            return
        if not (self.settings and self.settings.create_response):
            return
        spec, self._speculative = self._speculative, None
        if spec is not None and spec.revision == event.revision and spec.status == "in_progress":
            logger.debug("%susing the speculative answer %s", self._log, spec.id)
            self._current = spec
            self._emit_created(spec)
            spec.commit()
            return
        if spec is not None:
            logger.debug("%sspeculative answer %s is stale", self._log, spec.id)
            self._discard(spec)
        self.start(turn)

    async def _check_false_interruption(self, turn: UserTurn) -> None:
        languages = self.scenario.languages if self.scenario else []
        vocabulary = self.scenario.vocabulary if self.scenario else ""
        assert turn.audio is not None
        try:
            transcript = await self.session.transcribe(turn.audio, languages, prompt=vocabulary)
        except ModelError:
            logger.warning(
                "%stranscription failed while checking an interruption", self._log, exc_info=True
            )
            transcript = Transcript("", "", 0.0)
        if self._barge_in_at is None:
            return
        if transcript.has_words:
            self._confirm_barge_in()
            # The scenario reuses this transcript rather than transcribing again.
            self.start(dataclasses.replace(turn, transcript=transcript))
            return
        logger.info("%sfalse interruption (no words); resuming", self._log)
        self.metrics.false_interruptions.inc()
        self._barge_in_at = None
        self.output.resume()

    def _confirm_barge_in(self) -> None:
        started = self._barge_in_at
        self._barge_in_at = None
        if self._current is not None:
            self.metrics.barge_ins.inc()
            self.cancel(self._current, reason="turn_detected")
        if started is not None:
            self.metrics.barge_in_latency.observe(time.monotonic() - started)

    # -- client requests -----------------------------------------------------------
    def add_user_item(
        self,
        item_id: str,
        text: str | None,
        image: bytes | None,
        audio: NDArray[np.float32] | None = None,
    ) -> None:
        """A user item for the next `response.create`: typed text, an image, or committed
        audio (16 kHz mono, from a manual-turn `input_audio_buffer.commit`)."""
        self._pending_items.append((item_id, text, image, audio))
        if text:
            self.session.conversation.add(ConversationItem(item_id, "user", text=text))

    def create_response(self) -> bool:
        """`response.create`: answer the items added since the last answer."""
        if self._current is not None:
            return False
        items, self._pending_items = self._pending_items, []
        text = " ".join(t for _, t, _, _ in items if t) or None
        images = tuple(img for _, _, img, _ in items if img)
        clips = [a for _, _, _, a in items if a is not None and len(a)]
        audio = np.concatenate(clips) if clips else None
        item_id = items[-1][0] if items else new_id("item")
        self.start(UserTurn(item_id=item_id, text=text, images=images, audio=audio))
        return True

    @property
    def playing(self) -> tuple[str, str] | None:
        """(response id, assistant item id) of the answer that owns the output now."""
        current = self._current
        return (current.id, current.item_id) if current is not None else None

    def speak_up(self, trigger: str) -> None:
        """The scenario wants to say something unprompted (e.g. it saw the user frown)."""
        if self._current is None and self._barge_in_at is None and self.scenario is not None:
            self.start(UserTurn(item_id=new_id("item"), trigger=trigger))

    def cancel_current(self, reason: str) -> bool:
        if self._current is None:
            return False
        self.cancel(self._current, reason=reason)
        return True

    def clear_output(self) -> None:
        current = self._current
        played = self.output.clear()
        for response_id, played_ms in played.items():
            self.sender.emit(ev.OUTPUT_CLEARED, {"response_id": response_id})
            if current is not None and current.id == response_id:
                self.session.truncate(current.item_id, played_ms)

    def reset_input(self) -> None:
        self._drop_speculative()

    # -- responses -----------------------------------------------------------------
    def start(self, turn: UserTurn) -> None:
        if self._current is not None:
            self._waiting.append(turn)
            return
        response = self._launch(turn, speculative=False)
        self._current = response
        self._emit_created(response)

    def _launch(self, turn: UserTurn, *, speculative: bool, revision: int = -1) -> Response:
        response = Response(self, turn, speculative=speculative, revision=revision)
        response.task = asyncio.create_task(self._run(response), name=f"response {response.id}")
        return response

    def _emit_created(self, response: Response) -> None:
        self.session.conversation.add(
            ConversationItem(response.item_id, "assistant", status="in_progress")
        )
        self.sender.emit(
            ev.RESPONSE_CREATED,
            {
                "response": {
                    "object": "realtime.response",
                    "id": response.id,
                    "status": "in_progress",
                    "output": [],
                    "conversation_id": None,
                }
            },
        )

    async def _run(self, response: Response) -> None:
        status, details = "completed", None
        try:
            if self.scenario is None:
                code, message = self.scenario_problem or ("no_scenario", "no scenario")
                await response.committed.wait()
                self.sender.error(code, message)
                status, details = (
                    "failed",
                    {"type": "failed", "error": {"code": code, "message": message}},
                )
                return
            await self._generate(response)
            await response.committed.wait()
            await self.output.end_response(response.id)
        except asyncio.CancelledError:
            if response.status == "in_progress":
                response.status = "cancelled"
            raise
        except Exception as exc:
            if response.speculative:
                # Nobody has seen it; the real turn end will try again and report properly.
                response.status = "discarded"
                return
            status, details = self._failure(response, exc)
            await self._apologize(response)
        finally:
            if response.status == "in_progress" and not response.speculative:
                self._finish(response, status, details)

    async def _generate(self, response: Response) -> None:
        """The scenario's answer, failed with `model_timeout` if its model stops making progress."""
        assert self.scenario is not None
        if self._apology is None:
            self._apology = asyncio.create_task(self._prepare_apology(), name="apology")
        work = asyncio.ensure_future(self.scenario.respond(response.turn, response))
        try:
            while not work.done():
                limit = self.stall_timeout_s
                if limit <= 0 or not response.committed.is_set():
                    await asyncio.wait({work}, timeout=limit or None)
                    continue
                left = limit - (
                    time.monotonic() - max(response.progress_at, response.turn_ended_at)
                )
                if left <= 0:
                    raise ModelError(
                        f"the model produced nothing for {limit:g} s", code="model_timeout"
                    )
                await asyncio.wait({work}, timeout=left)
            work.result()
        finally:
            # A hung model call stays in its worker thread; the answer stops waiting for it.
            work.cancel()
            # A failed `work` holds the error, whose traceback holds this frame: no cycle.
            del work

    async def _prepare_apology(self) -> NDArray[np.int16] | None:
        """Voiced once per backend, ahead of need: the voice may be what fails later."""
        cached = _APOLOGIES.get(type(self.session))
        if cached is not None:
            return cached
        try:
            speech = self.session.synthesize(APOLOGY, "en", sample_rate=SAMPLE_RATE)
            chunks = [c.pcm async for c in speech if c.sample_rate == SAMPLE_RATE]
        except ModelError:
            logger.warning("%sno voice for apologies", self._log, exc_info=True)
            return None
        pcm = np.concatenate(chunks) if chunks else None
        if pcm is not None:
            _APOLOGIES[type(self.session)] = pcm
        return pcm

    async def _apologize(self, response: Response) -> None:
        """Say sorry in the failed answer's place, so a listener knows to try again."""
        if self._apology is None:
            return
        try:
            pcm = await asyncio.wait_for(asyncio.shield(self._apology), timeout=5.0)
        except Exception:  # not ready in time, or the voice failed: the error event stands alone
            logger.warning("%sno apology to play", self._log, exc_info=True)
            return
        if pcm is None:
            return
        response._play(SpeechChunk(pcm, SAMPLE_RATE, APOLOGY))
        await self.output.end_response(response.id)

    def _failure(self, response: Response, exc: Exception) -> tuple[str, dict[str, Any]]:
        if isinstance(exc, ModelError):
            logger.warning("%sresponse %s failed: %s", self._log, response.id, exc)
            self.sender.error(exc.code, str(exc), error_type="server_error")
            return "failed", {"type": "failed", "error": {"code": exc.code, "message": str(exc)}}
        logger.error("%sresponse %s crashed", self._log, response.id, exc_info=exc)
        self.sender.error("internal_error", f"the answer failed: {exc}", error_type="server_error")
        return "failed", {
            "type": "failed",
            "error": {"code": "internal_error", "message": str(exc)},
        }

    def _finish(self, response: Response, status: str, details: dict[str, Any] | None) -> None:
        response.status = status
        item = self.session.conversation.get(response.item_id)
        if item is not None and item.status == "in_progress":
            item.status = "completed" if status == "completed" else "incomplete"
        if response.transcript:
            text = item.text if item is not None else " ".join(response.transcript)
            self.sender.emit(
                ev.TRANSCRIPT_DONE,
                {"response_id": response.id, "item_id": response.item_id, "transcript": text},
            )
        body: dict[str, Any] = {
            "object": "realtime.response",
            "id": response.id,
            "status": status,
            "status_details": details or {"type": status},
        }
        self.sender.emit(ev.RESPONSE_DONE, {"response": body})
        self.metrics.responses.labels(status).inc()
        self.output.forget(response.id)
        if self._current is response:
            self._current = None
            if self._waiting and not self._closed:
                self.start(self._waiting.popleft())

    def cancel(self, response: Response, *, reason: str) -> None:
        if response.status != "in_progress":
            return
        started = self.output.has_started(response.id)
        played = self.output.clear().get(response.id, self.output.played_ms(response.id))
        if started:
            self.sender.emit(ev.OUTPUT_CLEARED, {"response_id": response.id})
        self.session.truncate(response.item_id, played)
        if response.task is not None:
            response.task.cancel()
        self._finish(response, "cancelled", {"type": "cancelled", "reason": reason})

    def _discard(self, response: Response) -> None:
        response.status = "discarded"
        response.drop_held()
        if response.task is not None:
            response.task.cancel()

    def _drop_speculative(self) -> None:
        if self._speculative is not None:
            self._discard(self._speculative)
            self._speculative = None

    # -- playout callbacks from the track -------------------------------------------
    def _on_audio_started(self, response_id: str) -> None:
        response = self._current
        if response is not None and response.id == response_id and response.first_audio_at is None:
            response.first_audio_at = time.monotonic()
            self.metrics.response_latency.observe(response.first_audio_at - response.turn_ended_at)
        self.sender.emit(ev.OUTPUT_STARTED, {"response_id": response_id})

    def _on_audio_finished(self, response_id: str) -> None:
        self.sender.emit(ev.OUTPUT_STOPPED, {"response_id": response_id})

    def report_transcription(
        self, item_id: str, transcript: Transcript, audio: NDArray[np.float32] | None = None
    ) -> None:
        if self.record_audio and audio is not None:
            self.sender.record(
                {"type": INPUT_AUDIO, "item_id": item_id, "audio": wav_data_url(audio)}
            )
        self.session.conversation.add(
            ConversationItem(item_id, "user", text=transcript.text, language=transcript.language)
        )
        self.sender.emit(
            ev.TRANSCRIPTION_COMPLETED,
            {
                "item_id": item_id,
                "content_index": 0,
                "transcript": transcript.text,
                "language": transcript.language,
            },
        )

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        self._closed = True
        self._waiting.clear()
        tasks = list(self._tasks)
        for response in (self._current, self._speculative):
            if response is not None and response.task is not None:
                response.status = "closed"
                response.drop_held()
                tasks.append(response.task)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._current = self._speculative = None
