"""One answer: what the scenario says through it, held back while it is speculative.

A `Response` is the scenario's ResponseSink for one turn. It may start speculatively,
when the user has just gone quiet, with everything it produces held back until the turn
really ends (`commit`) or the user goes on talking (`drop_held`). What it says goes to
the playout (voiced) or out as text (written); the client's tool calls become output
items; `Responses` runs its life (responses.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from model.audio import resample_int16
from model.scenario import UserTurn, Voice
from model.types import SpeechChunk, Transcript
from rtc import events as ev
from rtc.conversation.playout import SAMPLE_RATE, Owner
from rtc.events import new_id

if TYPE_CHECKING:
    from rtc.conversation.responses import Responses


class Status(StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"
    DISCARDED = "discarded"
    """A speculative answer nobody saw (the user went on talking)."""
    CLOSED = "closed"
    """The call ended under it."""


class Response:
    """One answer; the scenario's ResponseSink."""

    def __init__(
        self,
        responses: Responses,
        turn: UserTurn,
        voice: Voice,
        *,
        speculative: bool,
        revision: int = -1,
    ) -> None:
        self.id = new_id("resp")
        self.owner = Owner(self.id, new_id("item"))
        self.turn = turn
        self.revision = revision
        self.status = Status.IN_PROGRESS
        self.turn_ended_at = time.monotonic()
        self.first_audio_at: float | None = None
        self.progress_at = self.turn_ended_at
        """When the model last produced something (an event, words, audio)."""
        self.transcript: list[str] = []
        """What its voice said, piece by piece."""
        self.written: list[str] = []
        """What it wrote (a text-only answer), piece by piece."""
        self.calls: list[dict[str, Any]] = []
        """The client's tool calls it made: its `output` items."""
        self.voice = voice
        self.task: asyncio.Task[None] | None = None
        self.committed = asyncio.Event()
        self._responses = responses
        self._held: list[Callable[[], None]] | None = [] if speculative else None
        if not speculative:
            self.committed.set()

    @property
    def item_id(self) -> str:
        return self.owner.item_id

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
        if self.status is not Status.IN_PROGRESS:
            return
        self.progress_at = time.monotonic()
        if self._held is not None:
            self._held.append(action)
        else:
            action()

    # -- ResponseSink ------------------------------------------------------------
    def transcription(self, transcript: Transcript) -> None:
        turn = self.turn
        self._do(lambda: self._responses.report_transcription(turn.item_id, transcript, turn.audio))
        if self.speculative:
            self._responses.heard_while_paused(self, transcript)

    def event(self, event_type: str, payload: Mapping[str, Any]) -> None:
        data = dict(payload)
        events = self._responses.events

        def send() -> None:
            events.emit(event_type, data)

        self._do(send)

    def error(self, code: str, message: str) -> None:
        events = self._responses.events
        self._do(lambda: events.error(code, message, error_type="server_error"))

    async def say(self, text: str, language: str) -> None:
        if not self.voice.audio:
            self.write(text if not self.written else " " + text)
            return
        session = self._responses.model_session
        await self.speak(
            session.synthesize(
                text,
                language,
                sample_rate=SAMPLE_RATE,
                voice=self.voice.name,
                speed=self.voice.speed,
            )
        )

    def write(self, text: str) -> None:
        if text:
            self._do(lambda: self._write(text))

    def _write(self, text: str) -> None:
        self.written.append(text)
        self._responses.events.emit(
            ev.OUTPUT_TEXT_DELTA,
            {**self._part(), "delta": text},
        )

    def function_call(self, call_id: str, name: str, arguments: str) -> None:
        self._do(lambda: self._responses.function_call(self, call_id, name, arguments))

    def _part(self) -> dict[str, Any]:
        return {
            "response_id": self.id,
            "item_id": self.item_id,
            "output_index": 0,
            "content_index": 0,
        }

    async def speak(self, speech: AsyncIterator[SpeechChunk]) -> None:
        if not self.voice.audio:  # a written answer: the words only
            async for chunk in speech:
                if chunk.text:
                    self.write(chunk.text if not self.written else " " + chunk.text)
            return
        async for chunk in speech:
            if chunk.sample_rate != SAMPLE_RATE:
                pcm = await asyncio.to_thread(
                    resample_int16, chunk.pcm, chunk.sample_rate, SAMPLE_RATE
                )
                chunk = SpeechChunk(pcm, SAMPLE_RATE, chunk.text)
            self._do(lambda c=chunk: self.play(c))  # type: ignore[misc]

    def play(self, chunk: SpeechChunk) -> None:
        """Queue speech for playout now (it is already at the playout rate)."""
        r = self._responses
        r.playout.enqueue(self.owner, chunk.pcm)
        item = r.model_session.conversation.get(self.item_id)
        if item is not None:
            item.add_spoken(chunk.text, chunk.duration_ms)
        if chunk.text:
            delta = chunk.text if not self.transcript else " " + chunk.text
            self.transcript.append(chunk.text)
            r.events.emit(
                ev.TRANSCRIPT_DELTA,
                {"response_id": self.id, "item_id": self.item_id, "delta": delta},
            )


def output_items(response: Response, status: str) -> list[dict[str, Any]]:
    """`response.output` of `response.done`: its message (what was said or written), then
    the client's tool calls."""
    items: list[dict[str, Any]] = []
    if response.transcript or response.written:
        content = (
            {"type": "output_text", "text": "".join(response.written).strip()}
            if response.written
            else {"type": "output_audio", "transcript": " ".join(response.transcript)}
        )
        items.append(
            {
                "id": response.item_id,
                "object": "realtime.item",
                "type": "message",
                "role": "assistant",
                "status": status,
                "content": [content],
            }
        )
    return items + response.calls
