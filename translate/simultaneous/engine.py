"""Simultaneous interpretation: audio in as it arrives, translated voice out as it goes.

    feed(16 kHz chunk) ──► StreamingRecognizer (sliding window, local agreement)
                               │ committed words ──► source transcript deltas
                               ▼
                           Segmenter (sentence, clause, pause, length, language)
                               │ segments (a queue: recognition never waits for voice)
                               ▼
                           Renderer (translate or pass through, synthesize, pace)
                               └─► output transcript delta + voice, in order, never overlapping

Two tasks run it: one recognizes (Whisper in the model's worker threads), one renders,
so a segment is translated and voiced while the speaker goes on and the next words are
being recognized. Everything it says goes to an `InterpretationSink`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from model.base import OmniSession
from model.errors import ModelError
from translate.simultaneous.recognizer import Heard, StreamingRecognizer
from translate.simultaneous.renderer import Renderer
from translate.simultaneous.segmenter import Segmenter, in_sentence_case
from translate.simultaneous.types import (
    Directions,
    HeardWord,
    OutputAudio,
    OutputDelta,
    RenderedSegment,
    Segment,
    SimultaneousSettings,
    SourceDelta,
    elapsed_ms,
)

logger = logging.getLogger(__name__)


class InterpretationSink(Protocol):
    """Where an interpreter's output goes (called on the event loop, in order)."""

    def source_delta(self, delta: SourceDelta) -> None:
        """Words committed from the speaker's audio (append-only)."""

    def output_delta(self, delta: OutputDelta) -> None:
        """A segment's translation (append-only), just before its voice."""

    def output_audio(self, audio: OutputAudio) -> None:
        """A segment's voice, to play after everything handed out before it."""

    def segment_done(self, segment: RenderedSegment) -> None:
        """A segment is rendered (its source, translation, timings)."""

    def failed(self, code: str, message: str) -> None:
        """The model failed on part of the stream; the interpreter goes on."""


class SimultaneousInterpreter:
    def __init__(
        self,
        session: OmniSession,
        directions: Directions,
        sink: InterpretationSink,
        *,
        settings: SimultaneousSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
        vocabulary: str = "",
    ) -> None:
        self.settings = settings or SimultaneousSettings()
        self.directions = directions
        self.sink = sink
        self._clock = clock
        self.recognizer = StreamingRecognizer(session, directions.listen, self.settings, vocabulary)
        self.segmenter = Segmenter(self.settings)
        self.renderer = Renderer(
            session, self.settings, lambda: self.directions, clock, lambda: self.stream_s
        )
        self._segments: deque[tuple[Segment, float] | None] = deque()
        """Closed segments waiting to be rendered (None: no more will come)."""
        self._segments_ready = asyncio.Event()
        self._fed = asyncio.Event()
        self._last_feed = clock()
        self._finishing = False
        self._spoke = False
        self._last_word: HeardWord | None = None
        self._recognizing: asyncio.Task[None] | None = None
        self._rendering: asyncio.Task[None] | None = None

    @property
    def stream_s(self) -> float:
        """Seconds of audio fed so far."""
        return self.recognizer.stream_s

    def start(self) -> None:
        """Start listening and rendering (from a running event loop)."""
        if self._recognizing is None:
            self._recognizing = asyncio.create_task(self._recognize(), name="interpreter asr")
            self._rendering = asyncio.create_task(self._render(), name="interpreter voice")

    async def run(self) -> None:
        """Interpret until `finish` is done or this is cancelled (then everything stops)."""
        self.start()
        assert self._recognizing is not None and self._rendering is not None
        try:
            await asyncio.gather(self._recognizing, self._rendering)
        finally:
            await self.aclose()

    def feed(self, chunk: NDArray[np.float32]) -> None:
        """The next piece of the speaker's audio: 16 kHz mono float32, any length."""
        if self._finishing:
            return
        self.recognizer.feed(chunk)
        self._last_feed = self._clock()
        self._fed.set()

    def set_directions(self, directions: Directions) -> None:
        """Change the languages (takes effect from the next hypothesis and segment)."""
        self.directions = directions
        self.recognizer.reset_languages(directions.listen)

    async def finish(self) -> None:
        """No more audio: settle what was heard, render it all, then stop."""
        self.start()
        self._finishing = True
        self._fed.set()
        assert self._recognizing is not None and self._rendering is not None
        await asyncio.gather(self._recognizing, self._rendering)

    async def aclose(self) -> None:
        """Stop at once (the call ended)."""
        tasks = [t for t in (self._recognizing, self._rendering) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- recognition -------------------------------------------------------------------
    async def _recognize(self) -> None:
        try:
            while True:
                reason = await self._next_hypothesis()
                if reason == "done":
                    break
                try:
                    heard = await self.recognizer.hear(final=reason != "step")
                except Exception as exc:  # a failed pass must not end the stream
                    if not isinstance(exc, ModelError):
                        logger.exception("a recognition pass failed")
                    self.sink.failed("transcription_failed", f"speech recognition failed: {exc}")
                    self.recognizer.skip_failed()
                    continue
                self._take(heard)
            self._queue(self.segmenter.flush())
        finally:
            self._segments.append(None)
            self._segments_ready.set()

    async def _next_hypothesis(self) -> str:
        """Wait until a hypothesis is due: "step", "stalled" (the audio stopped coming),
        "final" (the stream ended, speech is left to settle) or "done"."""
        r = self.recognizer
        while True:
            if r.due():
                return "step"
            if self._finishing:
                return "final" if r.pending() else "done"
            idle = self._clock() - self._last_feed
            if r.pending() and idle >= self.settings.stall_s:
                return "stalled"
            r.skip_silence()
            self._fed.clear()
            timeout = max(0.05, self.settings.stall_s - idle) if r.pending() else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._fed.wait(), timeout)

    def _take(self, heard: Heard) -> None:
        words: list[HeardWord] = []
        for word in heard.words:
            words.append(in_sentence_case(word, self._last_word))
            self._last_word = words[-1]
        if words:
            text = " ".join(w.text for w in words)
            delta = (" " if self._spoke else "") + text
            self._spoke = True
            self.sink.source_delta(SourceDelta(delta, words[0].language, elapsed_ms(self.stream_s)))
        for word in words:
            self._queue(self.segmenter.push(word))
        if heard.pause_at_s is not None:
            closed = self.segmenter.pause(heard.pause_at_s)
        else:
            closed = self.segmenter.peek(heard.upcoming)
        self._queue(closed)

    def _queue(self, segments: list[Segment]) -> None:
        now = self._clock()
        self._segments.extend((segment, now) for segment in segments)
        if segments:
            self._segments_ready.set()

    # -- rendering ---------------------------------------------------------------------
    def _merge_waiting(self, segment: Segment, closed_at: float) -> tuple[Segment, float]:
        """Segments waiting together are rendered as one, up to `max_words`: a translator
        given the whole clause does better, and one voice costs less than two (but a
        longer one takes longer to make, so no more than a segment's worth)."""
        waiting = self._segments
        words = list(segment.words)
        while waiting:
            following = waiting[0]
            if following is None or following[0].language != segment.language:
                break
            if len(words) + len(following[0].words) > self.settings.max_words:
                break
            waiting.popleft()
            words += following[0].words
            closed_at = following[1]
            segment = Segment(segment.index, tuple(words), segment.language, following[0].reason)
        return segment, closed_at

    async def _render(self) -> None:
        while True:
            while not self._segments:
                self._segments_ready.clear()
                await self._segments_ready.wait()
            queued = self._segments.popleft()
            if queued is None:
                return
            segment, closed_at = self._merge_waiting(*queued)
            try:
                delta, audio, done = await self.renderer.render(segment, closed_at)
            except Exception as exc:  # a failed segment must not end the stream
                if not isinstance(exc, ModelError):
                    logger.exception("rendering segment %d failed", segment.index)
                logger.warning("could not render segment %d: %s", segment.index, exc)
                self.sink.failed("translation_failed", f"segment {segment.index}: {exc}")
                continue
            self.sink.output_delta(delta)
            if audio is not None:
                self.sink.output_audio(audio)
            self.sink.segment_done(done)
