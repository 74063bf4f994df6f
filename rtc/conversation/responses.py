"""Answers: `Responses`, the life cycle of one call's answers (each a `Response`).

A response may start speculatively, when the user has just gone quiet, with
everything it produces held back until the turn really ends (then it is committed)
or the user goes on talking (then it is dropped without a trace). A committed
answer whose model makes no progress for `stall_timeout_s` fails with
`model_timeout`; a failed answer says sorry in its place. Answers asked for while
one plays wait their turn. What to do when the user talks over an answer is not
decided here (see `interruption.py`); `cancel` is the one way an answer is cut.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from model.audio import wav_data_url
from model.base import OmniSession
from model.conversation import ConversationItem
from model.dialogue import ToolOutput
from model.errors import ModelError
from model.scenario import Scenario, UserTurn, Voice
from model.types import SpeechChunk, Transcript
from rtc import events as ev
from rtc.conversation.apology import Apology
from rtc.conversation.playout import SAMPLE_RATE, Owner, Playout, PlayoutListener
from rtc.conversation.response import Response, Status, output_items
from rtc.conversation.session_config import ClientRequest, Transcription
from rtc.conversation.turns import WordsVerdict, transcript_sounds_finished
from rtc.events import ServerEvents, new_id, response_object
from rtc.metrics import Metrics
from rtc.records import INPUT_AUDIO

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ask:
    """How one answer is asked for: the client's instructions and tools, and its voice."""

    client: ClientRequest
    voice: Voice


@dataclass(frozen=True)
class UserInput:
    """A user item waiting for `response.create`: typed text, an image, or committed audio."""

    item_id: str
    text: str | None = None
    image: bytes | None = None
    audio: NDArray[np.float32] | None = None
    """16 kHz mono, from a manual `input_audio_buffer.commit`."""


class ResponsesListener:
    """What the conversation hears back from its answers."""

    def words_heard(self, revision: int, finished: WordsVerdict) -> None:
        """A speculative answer transcribed paused speech `revision`; do its words sound done?"""


class Responses(PlayoutListener):
    """One call's answers."""

    def __init__(
        self,
        *,
        events: ServerEvents,
        playout: Playout,
        model_session: OmniSession,
        metrics: Metrics,
        apology: Apology,
        log_prefix: str = "",
        stall_timeout_s: float = 20.0,
        record_audio: bool = False,
    ) -> None:
        self.events = events
        self.playout = playout
        self.model_session = model_session
        self.metrics = metrics
        self.apology = apology
        self.stall_timeout_s = stall_timeout_s
        """A committed answer whose model produces nothing for this long fails (0: never)."""
        self.record_audio = record_audio
        self.scenario: Scenario | None = None
        self.scenario_problem: tuple[str, str] = ("no_scenario", "no scenario is set")
        self.voice = Voice()
        """How answers are given (the session's output settings)."""
        self.client = ClientRequest()
        """What the app developer asks of answers (the session's instructions and tools)."""
        self.listening: Transcription | None = None
        """The session's `audio.input.transcription`: the language and words to expect."""
        self._tool_outputs: list[ToolOutput] = []
        self.listener = ResponsesListener()
        self._log = log_prefix
        self._current: Response | None = None
        self._speculative: Response | None = None
        self._waiting: deque[tuple[UserTurn, Ask | None]] = deque()
        self._inputs: list[UserInput] = []
        self._played_ms: dict[str, float] = {}
        """Assistant item id -> ms of its audio played out, once its answer has ended."""
        self._closed = False
        playout.listener = self

    @property
    def current(self) -> Response | None:
        """The answer that owns the output now (committed; may be waiting for its model)."""
        return self._current

    # -- turns -------------------------------------------------------------------
    def start(self, turn: UserTurn, ask: Ask | None = None) -> None:
        """Answer `turn` now, or after the current answer; `ask`: this answer's own settings
        (a `response.create`'s), else the session's."""
        if self._current is not None:
            self._waiting.append((turn, ask))
            return
        response = self._launch(turn, ask, speculative=False)
        self._tool_outputs.clear()  # heard with this answer
        self._current = response
        self._emit_created(response)

    def speculate(self, turn: UserTurn, revision: int) -> None:
        """Start answering paused speech `revision`, holding everything back."""
        self.drop_speculative()
        self._speculative = self._launch(turn, None, speculative=True, revision=revision)
        logger.debug("%sspeculating on paused speech (revision %d)", self._log, revision)

    def commit_speculative(self, revision: int) -> bool:
        """The turn ended at paused speech `revision`: go live with its answer if it has one."""
        spec, self._speculative = self._speculative, None
        if spec is None:
            return False
        if spec.revision == revision and spec.status is Status.IN_PROGRESS:
            logger.debug("%susing the speculative answer %s", self._log, spec.id)
            self._tool_outputs.clear()  # heard with this answer
            self._current = spec
            self._emit_created(spec)
            spec.commit()
            return True
        logger.debug("%sspeculative answer %s is stale", self._log, spec.id)
        self._discard(spec)
        return False

    def drop_speculative(self) -> None:
        if self._speculative is not None:
            self._discard(self._speculative)
            self._speculative = None

    def heard_while_paused(self, response: Response, transcript: Transcript) -> None:
        """A speculative answer knows the words: they may end the turn sooner."""
        finished = transcript_sounds_finished(transcript)
        logger.debug(
            "%sheard %r while paused (%s %.2f, log probability %s, last word %s; finished: %s)",
            self._log,
            transcript.text,
            transcript.language,
            transcript.language_probability,
            transcript.log_probability,
            transcript.last_word_probability,
            finished,
        )
        if response is self._speculative:
            self.listener.words_heard(response.revision, finished)

    # -- client requests -----------------------------------------------------------
    def add_input(self, user_input: UserInput) -> None:
        """A user item for the next `response.create`."""
        self._inputs.append(user_input)
        if user_input.text:
            self.model_session.conversation.add(
                ConversationItem(user_input.item_id, "user", text=user_input.text)
            )

    def add_tool_output(self, item_id: str, output: ToolOutput) -> None:
        """A client tool's result: it goes to the model with the next answer, whatever
        starts it (a `response.create`, or the user speaking first)."""
        self._tool_outputs.append(output)
        self.model_session.conversation.add(
            ConversationItem(
                item_id,
                "user",
                text=output.output,
                kind="function_call_output",
                call_id=output.call_id,
            )
        )

    def create(self, ask: Ask | None = None) -> bool:
        """`response.create`: answer the items added since the last answer (False: busy)."""
        if self._current is not None:
            return False
        inputs, self._inputs = self._inputs, []
        text = " ".join(i.text for i in inputs if i.text) or None
        images = tuple(i.image for i in inputs if i.image)
        clips = [i.audio for i in inputs if i.audio is not None and len(i.audio)]
        audio = np.concatenate(clips) if clips else None
        item_id = inputs[-1].item_id if inputs else new_id("item")
        self.start(UserTurn(item_id=item_id, text=text, images=images, audio=audio), ask)
        return True

    def cancel_current(self, reason: str) -> bool:
        if self._current is None:
            return False
        self.cancel(self._current, reason=reason)
        return True

    def clear_output(self) -> None:
        """`output_audio_buffer.clear`: silence the answer, keep what was heard of it."""
        current = self._current
        for response_id, played_ms in self.playout.clear().items():
            self.events.emit(ev.OUTPUT_CLEARED, {"response_id": response_id})
            if current is not None and current.id == response_id:
                self._note_played(current, played_ms)
                self.model_session.truncate(current.item_id, played_ms)

    def played_ms(self, item_id: str) -> float:
        """How much of an assistant item's audio went out (what a client can have heard)."""
        current = self._current
        played = self._played_ms.get(item_id, 0.0)
        if current is not None and current.item_id == item_id:
            return max(played, self.playout.played_ms(current.id))
        return played

    def _note_played(self, response: Response, played_ms: float) -> None:
        item_id = response.item_id
        self._played_ms[item_id] = max(self._played_ms.get(item_id, 0.0), played_ms)

    # -- the answer's run ------------------------------------------------------------
    def _launch(
        self, turn: UserTurn, ask: Ask | None, *, speculative: bool, revision: int = -1
    ) -> Response:
        ask = ask or Ask(self.client, self.voice)
        turn = dataclasses.replace(
            turn,
            instructions=ask.client.instructions,
            tools=ask.client.tools,
            tool_choice=ask.client.tool_choice,
            tool_outputs=tuple(self._tool_outputs),
            spoken_language=self.listening.language if self.listening else None,
            vocabulary=self.listening.prompt if self.listening else "",
        )
        response = Response(self, turn, ask.voice, speculative=speculative, revision=revision)
        response.task = asyncio.create_task(self._run(response), name=f"response {response.id}")
        return response

    def _emit_created(self, response: Response) -> None:
        self.model_session.conversation.add(
            ConversationItem(response.item_id, "assistant", status="in_progress")
        )
        self.events.emit(
            ev.RESPONSE_CREATED, {"response": response_object(response.id, "in_progress")}
        )

    async def _run(self, response: Response) -> None:
        status, details = Status.COMPLETED, None
        try:
            if self.scenario is None:
                code, message = self.scenario_problem
                await response.committed.wait()
                self.events.error(code, message)
                status = Status.FAILED
                details = {"type": "failed", "error": {"code": code, "message": message}}
                return
            await self._generate(response)
            await response.committed.wait()
            await self.playout.end(response.owner)
        except asyncio.CancelledError:
            if response.status is Status.IN_PROGRESS:
                response.status = Status.CANCELLED
            raise
        except Exception as exc:
            if response.speculative:
                # Nobody has seen it; the real turn end will try again and report properly.
                response.status = Status.DISCARDED
                return
            status, details = self._failure(response, exc)
            await self._apologize(response)
        finally:
            if response.status is Status.IN_PROGRESS and not response.speculative:
                self._finish(response, status, details)

    async def _generate(self, response: Response) -> None:
        """The scenario's answer, failed with `model_timeout` if its model stops making progress."""
        assert self.scenario is not None
        self.apology.prepare(self.model_session)
        work = asyncio.ensure_future(self.scenario.respond(response.turn, response))
        try:
            while not work.done():
                limit = self.stall_timeout_s
                if limit <= 0 or not response.committed.is_set():
                    await asyncio.wait({work}, timeout=limit or None)
                    continue
                since = max(response.progress_at, response.turn_ended_at)
                left = limit - (time.monotonic() - since)
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

    async def _apologize(self, response: Response) -> None:
        """Say sorry in the failed answer's place, so a listener knows to try again."""
        pcm = await self.apology.voice()
        if pcm is None:
            return
        response.play(SpeechChunk(pcm, SAMPLE_RATE, self.apology.text))
        await self.playout.end(response.owner)

    def _failure(self, response: Response, exc: Exception) -> tuple[Status, dict[str, Any]]:
        if isinstance(exc, ModelError):
            logger.warning("%sresponse %s failed: %s", self._log, response.id, exc)
            code, message = exc.code, str(exc)
        else:
            logger.error("%sresponse %s crashed", self._log, response.id, exc_info=exc)
            code, message = "internal_error", f"the answer failed: {exc}"
        self.events.error(code, message, error_type="server_error")
        return Status.FAILED, {"type": "failed", "error": {"code": code, "message": message}}

    def function_call(self, response: Response, call_id: str, name: str, arguments: str) -> None:
        """The model called a client's tool: an output item of the answer, and an item of
        the conversation, as OpenAI sends it; the client runs the tool."""
        item_id = new_id("item")
        self.model_session.conversation.add(
            ConversationItem(
                item_id,
                "assistant",
                kind="function_call",
                call_id=call_id,
                name=name,
                arguments=arguments,
            )
        )
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "function_call",
            "status": "completed",
            "call_id": call_id,
            "name": name,
            "arguments": arguments,
        }
        index = 1 + len(response.calls)
        response.calls.append(item)
        where = {"response_id": response.id, "output_index": index}
        started = {**item, "status": "in_progress", "arguments": ""}
        self.events.emit(ev.OUTPUT_ITEM_ADDED, {**where, "item": started})
        self.events.emit(ev.ITEM_ADDED, {"previous_item_id": None, "item": started})
        call = {**where, "item_id": item_id, "call_id": call_id}
        self.events.emit(ev.ARGUMENTS_DELTA, {**call, "delta": arguments})
        self.events.emit(ev.ARGUMENTS_DONE, {**call, "name": name, "arguments": arguments})
        self.events.emit(ev.OUTPUT_ITEM_DONE, {**where, "item": item})
        self.events.emit(ev.ITEM_DONE, {"previous_item_id": None, "item": item})

    def _finish(self, response: Response, status: Status, details: dict[str, Any] | None) -> None:
        response.status = status
        item = self.model_session.conversation.get(response.item_id)
        if item is not None and item.status == "in_progress":
            item.status = "completed" if status is Status.COMPLETED else "incomplete"
        if response.transcript:
            text = item.text if item is not None else " ".join(response.transcript)
            self.events.emit(
                ev.TRANSCRIPT_DONE,
                {"response_id": response.id, "item_id": response.item_id, "transcript": text},
            )
        if response.written:
            written = "".join(response.written).strip()
            if item is not None:
                item.text = written
            self.events.emit(ev.OUTPUT_TEXT_DONE, {**response._part(), "text": written})
        body = response_object(response.id, status.value, details)
        body["output"] = output_items(response, item.status if item is not None else "incomplete")
        self.events.emit(ev.RESPONSE_DONE, {"response": body})
        self.metrics.responses.labels(status.value).inc()
        self._note_played(response, self.playout.played_ms(response.id))
        self.playout.forget(response.id)
        if self._current is response:
            self._current = None
            if self._waiting and not self._closed:
                self.start(*self._waiting.popleft())

    def cancel(self, response: Response, *, reason: str) -> None:
        """The one way an answer is cut: clear its audio, keep what was heard, stop it."""
        if response.status is not Status.IN_PROGRESS:
            return
        started = self.playout.has_started(response.id)
        played = self.playout.clear().get(response.id, self.playout.played_ms(response.id))
        if started:
            self.events.emit(ev.OUTPUT_CLEARED, {"response_id": response.id})
        self._note_played(response, played)
        self.model_session.truncate(response.item_id, played)
        if response.task is not None:
            response.task.cancel()
        self._finish(response, Status.CANCELLED, {"type": "cancelled", "reason": reason})

    def _discard(self, response: Response) -> None:
        response.status = Status.DISCARDED
        response.drop_held()
        if response.task is not None:
            response.task.cancel()

    # -- playout ---------------------------------------------------------------------
    def audio_started(self, owner: Owner) -> None:
        response = self._current
        first = response is not None and response.id == owner.response_id
        if first and response is not None and response.first_audio_at is None:
            response.first_audio_at = time.monotonic()
            self.metrics.response_latency.observe(response.first_audio_at - response.turn_ended_at)
        self.events.emit(ev.OUTPUT_STARTED, {"response_id": owner.response_id})

    def audio_finished(self, owner: Owner) -> None:
        self.events.emit(ev.OUTPUT_STOPPED, {"response_id": owner.response_id})

    def report_transcription(
        self, item_id: str, transcript: Transcript, audio: NDArray[np.float32] | None = None
    ) -> None:
        if self.record_audio and audio is not None:
            self.events.record(
                {"type": INPUT_AUDIO, "item_id": item_id, "audio": wav_data_url(audio)}
            )
        self.model_session.conversation.add(
            ConversationItem(item_id, "user", text=transcript.text, language=transcript.language)
        )
        self.events.emit(
            ev.TRANSCRIPTION_COMPLETED,
            {
                "item_id": item_id,
                "content_index": 0,
                "transcript": transcript.text,
                "language": transcript.language,
            },
        )

    async def aclose(self) -> None:
        self._closed = True
        self._waiting.clear()
        tasks = []
        for response in (self._current, self._speculative):
            if response is not None and response.task is not None:
                response.status = Status.CLOSED
                response.drop_held()
                tasks.append(response.task)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._current = self._speculative = None
        self.listener = ResponsesListener()
