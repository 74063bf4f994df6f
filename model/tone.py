"""The `tone` backend: no models at all, for measuring the gateway on its own.

It hears every utterance as the same short text, translates by copying, and
speaks each sentence as one second of a 440 Hz tone. Benchmarks run it beside
the real backend so the figures separate our gateway from model time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import numpy as np
from numpy.typing import NDArray

from model.base import Capabilities, OmniModel, OmniSession, ProgressCallback
from model.text import split_sentences
from model.types import SpeechChunk, Transcript

_LANGUAGES = frozenset({"en", "es"})


def tone(seconds: float, sample_rate: int, amplitude: int = 6000) -> NDArray[np.int16]:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return (np.sin(2 * np.pi * 440.0 * t) * amplitude).astype(np.int16)


class ToneSession(OmniSession):
    async def transcribe(
        self, audio: NDArray[np.float32], languages: Sequence[str], *, prompt: str = ""
    ) -> Transcript:
        language = languages[0] if languages else "en"
        return Transcript("The tone backend heard you.", language, 1.0)

    async def translate(self, text: str, source: str, target: str) -> str:
        return text

    async def synthesize(
        self,
        text: str,
        language: str,
        *,
        sample_rate: int,
        voice: str | None = None,
        speed: float = 1.0,
    ) -> AsyncIterator[SpeechChunk]:
        for sentence in split_sentences(text) or [text]:
            await asyncio.sleep(0)
            yield SpeechChunk(tone(1.0 / speed, sample_rate), sample_rate, sentence)


class ToneModel(OmniModel):
    name = "tone"

    @property
    def capabilities(self) -> Capabilities:
        pairs = frozenset((a, b) for a in _LANGUAGES for b in _LANGUAGES if a != b)
        return Capabilities(
            speech_to_text=True,
            text_to_speech=True,
            spoken_languages=_LANGUAGES,
            translation_pairs=pairs,
        )

    def load(self, progress: ProgressCallback) -> None:
        progress("tone backend: nothing to load")

    @property
    def loaded(self) -> bool:
        return True

    def session(self) -> ToneSession:
        return ToneSession()
