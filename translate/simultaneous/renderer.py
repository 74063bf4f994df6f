"""Segments into translated text and one voice that never overlaps itself.

One task renders the segments in order: translate (or pass through speech already
in the target language), synthesize, decide the speed (`pacing.py`), then hand the
voice out at once with the time it will start playing: right after the previous
piece, or now if the voice had fallen silent. While a segment plays at the
listener's end, the next one is already being translated and voiced.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from model.audio import resample_int16
from model.base import OmniSession
from translate.simultaneous.pacing import hasten, speed_for, trim_silence
from translate.simultaneous.types import (
    Directions,
    OutputAudio,
    OutputDelta,
    RenderedSegment,
    Segment,
    SimultaneousSettings,
    elapsed_ms,
)


def in_case_of(source: str, translation: str) -> str:
    """The translation of a piece of a sentence, starting small if the piece did.

    A translator writes its output as a sentence, with a capital ("en el norte" ->
    "In the north"), but a segment is often the middle of one ("a small village in
    the north of Spain"). "I" stays "I"."""
    first = next((c for c in source if c.isalpha()), "")
    if not first.islower():
        return translation
    start = next((i for i, c in enumerate(translation) if c.isalpha()), None)
    if start is None:
        return translation
    word = translation[start:].split(maxsplit=1)[0]
    if word == "I" or word.startswith(("I'", "I\u2019")):
        return translation
    return translation[:start] + translation[start].lower() + translation[start + 1 :]


class Renderer:
    def __init__(
        self,
        session: OmniSession,
        settings: SimultaneousSettings,
        directions: Callable[[], Directions],
        clock: Callable[[], float],
        stream_s: Callable[[], float],
    ) -> None:
        self.session = session
        self.settings = settings
        self._directions = directions
        self._clock = clock
        self._stream_s = stream_s
        self.out_end = 0.0
        """When the voice handed out so far will have finished playing (clock time)."""
        self._previous_end_s: float | None = None
        self._spoke = False
        self.rendered: list[RenderedSegment] = []

    @property
    def queued_s(self) -> float:
        """Voice handed out that has not played yet."""
        return max(0.0, self.out_end - self._clock())

    async def render(
        self, segment: Segment, closed_at: float
    ) -> tuple[OutputDelta, OutputAudio | None, RenderedSegment]:
        """Translate and voice one segment (raises ModelError if the model fails)."""
        target = self._directions().target(segment.language)
        source = segment.text
        if target == segment.language:
            translation = source
        else:
            translated = await self.session.translate(source, segment.language, target)
            translation = in_case_of(source, translated.strip())
        pcm = await self._voice(translation, target) if translation else np.zeros(0, np.int16)
        now = self._clock()
        start = max(now, self.out_end)
        previous = self._previous_end_s if self._previous_end_s is not None else segment.start_s
        source_s = max(0.0, segment.end_s - min(previous, segment.start_s))
        rate = self.settings.output_rate
        speed = speed_for(
            queued_s=start - now,
            voice_s=len(pcm) / rate,
            source_s=source_s,
            slack_s=self.settings.slack_s,
            max_speed=self.settings.max_speed,
            share=self.settings.share,
        )
        if speed > 1.0 and len(pcm):
            pcm = await asyncio.to_thread(hasten, pcm, rate, speed, self.settings.max_pause_s)
        self._previous_end_s = segment.end_s
        at_ms = elapsed_ms(self._stream_s())
        delta_text = (" " if self._spoke and translation else "") + translation
        self._spoke = self._spoke or bool(translation)
        delta = OutputDelta(delta_text, segment.language, target, segment.index, at_ms)
        audio = None
        if len(pcm):
            audio = OutputAudio(pcm, rate, segment.index, translation, at_ms, start)
            self.out_end = start + len(pcm) / rate
        done = RenderedSegment(
            segment=segment,
            target_language=target,
            translation=translation,
            play_at=start,
            play_end=max(start, self.out_end) if audio is not None else start,
            speed=speed,
            closed_at=closed_at,
            rendered_at=now,
        )
        self.rendered.append(done)
        return delta, audio, done

    async def _voice(self, text: str, language: str) -> NDArray[np.int16]:
        rate = self.settings.output_rate
        pieces: list[NDArray[np.int16]] = []
        async for chunk in self.session.synthesize(text, language, sample_rate=rate):
            pcm = chunk.pcm
            if chunk.sample_rate != rate:
                pcm = await asyncio.to_thread(resample_int16, pcm, chunk.sample_rate, rate)
            pieces.append(trim_silence(pcm, rate))
        if not pieces:
            return np.zeros(0, np.int16)
        gap = np.zeros(rate // 10, np.int16)  # a breath between the sentences of a segment
        joined: list[NDArray[np.int16]] = []
        for piece in pieces:
            if joined:
                joined.append(gap)
            joined.append(piece)
        return np.concatenate(joined)
