"""Fakes that subclass the real interfaces, for timeline tests of the gateway logic."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import numpy as np
from numpy.typing import NDArray

from model.base import Capabilities, OmniModel, OmniSession, ProgressCallback
from model.scenario import ResponseSink, Scenario, UserTurn
from model.types import SpeechChunk, Transcript


def tone(seconds: float, rate: int = 48_000, amplitude: int = 8000) -> NDArray[np.int16]:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * 440 * t) * amplitude).astype(np.int16)


class FakeSession(OmniSession):
    def __init__(self) -> None:
        super().__init__()
        self.heard = "hello there"
        self.transcribed: list[int] = []

    async def transcribe(self, audio: NDArray[np.float32], languages: Sequence[str]) -> Transcript:
        self.transcribed.append(len(audio))
        await asyncio.sleep(0)
        return Transcript(self.heard, "en", 1.0)

    async def translate(self, text: str, source: str, target: str) -> str:
        return text.upper()

    async def synthesize(
        self, text: str, language: str, *, sample_rate: int, voice: str | None = None
    ) -> AsyncIterator[SpeechChunk]:
        for sentence in text.split("."):
            if sentence.strip():
                await asyncio.sleep(0)
                yield SpeechChunk(tone(1.0, sample_rate), sample_rate, sentence.strip() + ".")


class FakeModel(OmniModel):
    name = "fake"

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            speech_to_text=True, text_to_speech=True, spoken_languages=frozenset({"en"})
        )

    def load(self, progress: ProgressCallback) -> None:
        pass

    @property
    def loaded(self) -> bool:
        return True

    def session(self) -> FakeSession:
        return FakeSession()


class EchoScenario(Scenario):
    """Says back what it heard, one second of tone per sentence."""

    name = "echo"

    async def respond(self, turn: UserTurn, out: ResponseSink) -> None:
        if turn.audio is not None:
            transcript = await self.session.transcribe(turn.audio, [])
            out.transcription(transcript)
            text = transcript.text
        else:
            text = turn.text or ""
        await out.speak(self.session.synthesize(text, "en", sample_rate=48_000))
