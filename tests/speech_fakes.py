"""A scripted recogniser for the interpreter's tests: words as bursts of their own level.

`Script` renders a stream of words as audio where each word is a burst of a constant
level of its own (and pauses are silence), so `ScriptedSession.transcribe_words` can
"hear" any window of it exactly, as Whisper would at best: whole words with their
timings, a word cut by the window's end left out. It subclasses the real session
interface (the tone backend's), so the engine, the scenario and the translation
session run on it unchanged.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from model.errors import ModelError
from model.tone import ToneModel, ToneSession, tone
from model.types import INPUT_SAMPLE_RATE, SpeechChunk, TimedTranscript, TimedWord

LEVEL0, STEP = 0.05, 0.01
#: Shorter runs of one level are resampling ringing at a burst's edge, not a word.
MIN_RUN_S = 0.05


@dataclass(frozen=True)
class Said:
    text: str
    language: str = "en"
    pause_after_s: float = 0.08


def words(text: str, language: str = "en", pause_s: float = 0.08) -> list[Said]:
    """Every word of `text`, a sentence end followed by a longer pause."""
    out = []
    for word in text.split():
        end = word.endswith((".", "?", "!"))
        out.append(Said(word, language, 0.5 if end else pause_s))
    return out


class Script:
    def __init__(self, said: Sequence[Said], *, word_s: float = 0.25, lead_s: float = 0.3) -> None:
        self.said = list(said)
        if len(self.said) > 90:
            raise ValueError("a script has at most 90 words (one level each)")
        rate = INPUT_SAMPLE_RATE
        pieces = [np.zeros(int(lead_s * rate), np.float32)]
        self.times: list[tuple[float, float]] = []
        at = lead_s
        for i, word in enumerate(self.said):
            level = LEVEL0 + STEP * i
            pieces.append(np.full(int(word_s * rate), level, np.float32))
            self.times.append((at, at + word_s))
            pieces.append(np.zeros(int(word.pause_after_s * rate), np.float32))
            at += word_s + word.pause_after_s
        self.audio = np.concatenate(pieces)

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.said)

    def chunks(self, samples: int = 512) -> list[NDArray[np.float32]]:
        return [self.audio[i : i + samples] for i in range(0, len(self.audio), samples)]

    def heard(self, audio: NDArray[np.float32]) -> list[tuple[int, float, float]]:
        """(word index, start, end) of the whole words in `audio` (a burst that runs into
        the end of the window is not whole yet)."""
        rate = INPUT_SAMPLE_RATE
        steps = np.rint((audio - LEVEL0) / STEP).astype(np.int64)
        steps[np.abs(audio) < LEVEL0 / 2] = -1
        found: list[tuple[int, float, float]] = []
        i = 0
        while i < len(steps):
            j = i
            while j < len(steps) and steps[j] == steps[i]:
                j += 1
            if steps[i] >= 0 and (j - i) / rate >= MIN_RUN_S and j < len(steps):
                found.append((int(steps[i]), i / rate, j / rate))
            i = j
        return found


class ScriptedSession(ToneSession):
    """Hears a `Script`, translates by tagging each word, speaks `seconds_per_char`."""

    def __init__(self, script: Script, *, seconds_per_char: float = 0.04) -> None:
        super().__init__()
        self.script = script
        self.seconds_per_char = seconds_per_char
        self.windows: list[tuple[int, tuple[str, ...]]] = []
        self.translated: list[tuple[str, str, str]] = []
        self.fail_translation = False

    async def transcribe_words(
        self, audio: NDArray[np.float32], languages: Sequence[str], *, prompt: str = ""
    ) -> TimedTranscript:
        await asyncio.sleep(0)
        self.windows.append((len(audio), tuple(languages)))
        heard = self.script.heard(audio)
        said = self.script.said
        timed = [TimedWord(said[i].text, start, end) for i, start, end in heard if i < len(said)]
        spoken = Counter(said[i].language for i, _, _ in heard if i < len(said))
        if len(languages) == 1:
            language = languages[0]
        elif spoken:
            language = spoken.most_common(1)[0][0]
        else:
            language = languages[0] if languages else "en"
        return TimedTranscript(tuple(timed), language, 1.0)

    async def translate(self, text: str, source: str, target: str) -> str:
        await asyncio.sleep(0)
        if self.fail_translation:
            raise ModelError("the translator is down", code="translation_failed")
        self.translated.append((text, source, target))
        return " ".join(f"{w}<{target}>" for w in text.split())

    async def synthesize(
        self,
        text: str,
        language: str,
        *,
        sample_rate: int,
        voice: str | None = None,
        speed: float = 1.0,
    ) -> AsyncIterator[SpeechChunk]:
        await asyncio.sleep(0)
        seconds = self.seconds_per_char * len(text) / speed
        yield SpeechChunk(tone(seconds, sample_rate), sample_rate, text)


class ScriptedModel(ToneModel):
    name = "scripted"

    def __init__(self, script: Script, **options: float) -> None:
        self.script = script
        self.options = options
        self.sessions: list[ScriptedSession] = []

    def session(self) -> ScriptedSession:
        session = ScriptedSession(self.script, **self.options)
        self.sessions.append(session)
        return session
