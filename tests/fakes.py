"""Fakes that subclass the real interfaces, for timeline tests of the gateway logic."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from model.scenario import ResponseSink, Scenario, UserTurn, Voice
from model.tone import ToneModel, ToneSession
from model.types import SpeechChunk, Transcript


class FakeSession(ToneSession):
    """The tone backend's session, hearing whatever the test says and counting transcriptions."""

    def __init__(self) -> None:
        super().__init__()
        self.heard = "hello there"
        self.transcribed: list[int] = []

    async def transcribe(
        self, audio: NDArray[np.float32], languages: Sequence[str], *, prompt: str = ""
    ) -> Transcript:
        self.transcribed.append(len(audio))
        await asyncio.sleep(0)
        return Transcript(self.heard, "en", 1.0)


class FakeModel(ToneModel):
    name = "fake"

    def session(self) -> FakeSession:
        return FakeSession()


class EchoScenario(Scenario):
    """Says back what it heard, one second of tone per sentence."""

    name = "echo"

    async def respond(self, turn: UserTurn, out: ResponseSink) -> None:
        transcript = await self.hear(turn, out)
        text = transcript.text if transcript is not None else (turn.text or "")
        await out.say(text, "en")


class RecordingSink:
    """A ResponseSink that keeps what the scenario said, wrote, called and sent."""

    def __init__(self, voice: Voice | None = None) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.said: list[str] = []
        self.written: list[str] = []
        self.calls: list[tuple[str, str, str]] = []
        self._voice = voice or Voice()

    @property
    def voice(self) -> Voice:
        return self._voice

    def transcription(self, transcript: Transcript) -> None:
        self.events.append(("transcription", {"text": transcript.text}))

    def event(self, event_type: str, payload: Mapping[str, Any]) -> None:
        self.events.append((event_type, dict(payload)))

    async def say(self, text: str, language: str) -> None:
        self.said.append(text)

    def write(self, text: str) -> None:
        self.written.append(text)

    def function_call(self, call_id: str, name: str, arguments: str) -> None:
        self.calls.append((call_id, name, arguments))

    async def speak(self, speech: AsyncIterator[SpeechChunk]) -> None:
        self.said += [chunk.text async for chunk in speech]

    def error(self, code: str, message: str) -> None:
        self.events.append(("error", {"code": code}))

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.events]

    def adapts(self) -> list[str]:
        return [str(p["action"]) for kind, p in self.events if kind == "tutor.adapt"]
