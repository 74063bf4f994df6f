"""The interpreter's simultaneous mode with the embedded models, driven as the conversation
core drives it (`listen` + `hear_audio`, tests/unit has the same on a scripted recogniser):
two speakers, one English then one Spanish, each rendered into the other's language."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np
import pytest

from model.audio import int16_to_float, resample_int16
from model.embedded.backend import EmbeddedModel
from model.types import SpeechChunk
from tests.conftest import Clips
from translate.scenario import InterpreterScenario

pytestmark = pytest.mark.models
CHUNK = 512


class Stream:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.played: list[SpeechChunk] = []
        self.errors: list[str] = []
        self.changed = asyncio.Event()

    def event(self, event_type: str, payload: Any) -> None:
        self.events.append((event_type, dict(payload)))
        self.changed.set()

    def play(self, chunk: SpeechChunk) -> None:
        self.played.append(chunk)

    def error(self, code: str, message: str) -> None:
        self.errors.append(code)

    def done(self) -> list[dict[str, Any]]:
        return [p for kind, p in self.events if kind == "translation.done"]


async def test_two_speakers_are_interpreted_both_ways_while_they_talk(
    embedded_model: EmbeddedModel, clips: Clips
) -> None:
    config = {"languages": ["en", "es"], "interpretation": "simultaneous"}
    scenario = InterpreterScenario(embedded_model, embedded_model.session(), config)
    assert scenario.listens_continuously
    out = Stream()
    listening = asyncio.create_task(scenario.listen(out))
    pause = np.zeros(int(1.5 * 16_000), np.float32)
    audio = np.concatenate(
        [
            int16_to_float(resample_int16(clips.english, 48_000, 16_000)),
            pause,
            int16_to_float(resample_int16(clips.spanish, 48_000, 16_000)),
            pause,
        ]
    )
    started = time.monotonic()
    for i in range(0, len(audio), CHUNK):  # a live microphone, 32 ms at a time
        await asyncio.sleep(max(0.0, started + i / 16_000 - time.monotonic()))
        scenario.hear_audio(audio[i : i + CHUNK])

    async def both_ways() -> None:
        while {(d["source_language"], d["target_language"]) for d in out.done()} != {
            ("en", "es"),
            ("es", "en"),
        }:
            out.changed.clear()
            await out.changed.wait()

    try:
        await asyncio.wait_for(both_ways(), 30)
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)
    assert out.errors == []
    english = " ".join(d["text"] for d in out.done() if d["source_language"] == "en").lower()
    spanish = " ".join(d["text"] for d in out.done() if d["source_language"] == "es").lower()
    assert "café" in english and "taza" in english  # "I would like a cup of coffee ..."
    assert "coffee" in spanish  # "Quiero un café con leche ..."
    heard = [p["language"] for kind, p in out.events if kind == "translation.input.delta"]
    assert heard[0] == "en" and heard[-1] == "es"
    assert out.played and {c.sample_rate for c in out.played} == {48_000}
