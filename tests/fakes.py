"""Fakes that subclass the real interfaces, for timeline tests of the gateway logic."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from model.scenario import ResponseSink, Scenario, UserTurn
from model.tone import ToneModel, ToneSession
from model.types import Transcript


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
        await out.speak(self.session.synthesize(text, "en", sample_rate=48_000))
