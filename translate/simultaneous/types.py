"""What flows through simultaneous interpretation, and the knobs that shape it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class SimultaneousSettings:
    """How eagerly the interpreter commits, cuts and catches up.

    The defaults are tuned on a 2-core CPU with Whisper base (`bench/simultaneous.py`):
    a hypothesis over a few seconds of audio costs 150-300 ms there, so one is run for
    every 0.4 s of new speech, and the window is kept short by cutting off what is
    committed (in a pause when there is one)."""

    # -- recognition: a sliding window, words committed once two hypotheses agree
    step_s: float = 0.4
    """New audio that calls for the next hypothesis (more when a hypothesis takes longer)."""
    min_voice_s: float = 0.8
    """Voice an utterance needs before its first hypothesis (less is mostly guessed wrong),
    unless a pause ends it sooner."""
    max_window_s: float = 8.0
    """The longest audio a hypothesis hears; a longer backlog is heard window by window."""
    trim_s: float = 1.0
    """Committed speech kept at the start of the window when it is cut mid-speech."""
    context_s: float = 3.0
    """Committed speech the window may hold before it is cut mid-speech (with no pause to
    cut in): more is heard again for nothing at every pass."""
    pause_s: float = 0.3
    """Trailing silence after which the whole hypothesis is final (no second opinion)."""
    stall_s: float = 1.0
    """No new audio for this long (wall clock): what is heard so far is final."""
    force_s: float = 0.8
    """Words this far behind the end of the window are committed without agreement (the
    last hypothesis's version): a word the passes keep changing delays nothing longer.
    Two passes have heard such a word at `step_s`; at 1.6 s Spanish (which Whisper base
    hears worst) waited ~1.2 s a segment for its commit."""
    detect_s: float = 2.0
    """Voice a window needs before its detected language overrules the speaker's known one
    (Whisper's detection on a second of speech is a guess)."""
    turn_pause_s: float = 1.0
    """A pause this long may hand over to a speaker of another language: until the next
    words are heard for `detect_s`, nothing is committed and the language is detected."""
    prompt_chars: int = 0
    """Committed text handed to the recogniser as what came before the window. Off: with
    one, Whisper base often stops after a few words or skips the window's start."""
    # -- segmentation: what is translated and voiced at once
    min_words: int = 3
    """Fewest words before a comma or a length cut closes a segment."""
    max_words: int = 8
    """Most words in a segment; longer ones are cut, before a function word if possible."""
    min_span_s: float = 0.8
    """Speech a segment needs before it closes at the start of the next phrase (as heard in
    the words still in doubt), without waiting for them to be committed."""
    max_span_s: float = 1.2
    """Longest stretch of speech in one segment (with at least `min_words`)."""
    gap_s: float = 0.4
    """Silence between two committed words that closes a segment."""
    # -- rendering: one voice, never overlapping, catching up when behind
    output_rate: int = 24_000
    max_speed: float = 1.5
    """Fastest the voice is played when behind (time-stretched, pitch kept)."""
    share: float = 0.7
    """Of the time a segment's source took, how much its voice (and the voice still queued)
    may fill before it is sped up: below 1, the voice keeps a margin for the next one (and
    the listener hears each word sooner; most segments are then voiced 1.2-1.5x faster)."""
    slack_s: float = 0.0
    """How much longer than that a segment's voice may be before it is sped up."""
    max_pause_s: float = 0.12
    """Pauses inside a segment's voice are cut to this when it is sped up."""


@dataclass(frozen=True)
class Directions:
    """Which language each heard language is rendered into (itself: passed through)."""

    pairs: tuple[tuple[str, str], ...]

    @classmethod
    def two_way(cls, a: str, b: str) -> Directions:
        """Two speakers, two languages: each is rendered into the other."""
        return cls(((a, b), (b, a)))

    @classmethod
    def into(cls, target: str, sources: Iterable[str]) -> Directions:
        """Everything into `target`; speech already in it is passed through."""
        heard = sorted(set(sources) - {target})
        return cls((*((s, target) for s in heard), (target, target)))

    @property
    def listen(self) -> tuple[str, ...]:
        """The languages the recogniser decides between."""
        return tuple(source for source, _ in self.pairs)

    def target(self, source: str) -> str:
        return dict(self.pairs).get(source, source)

    def as_mapping(self) -> Mapping[str, str]:
        return dict(self.pairs)


@dataclass(frozen=True)
class HeardWord:
    """A recognised word placed in the stream (seconds since the first sample fed)."""

    text: str
    start_s: float
    end_s: float
    language: str


@dataclass(frozen=True)
class Segment:
    """Committed words translated and voiced as one piece."""

    index: int
    words: tuple[HeardWord, ...]
    language: str
    reason: str
    """Why it was closed: sentence, clause, pause, gap, length, language, end."""

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)

    @property
    def start_s(self) -> float:
        return self.words[0].start_s

    @property
    def end_s(self) -> float:
        return self.words[-1].end_s


@dataclass(frozen=True)
class SourceDelta:
    """Append-only source transcript: words as they are committed."""

    delta: str
    language: str
    elapsed_ms: int
    """Input stream time when it was sent, in 200 ms steps (OpenAI's alignment metadata)."""


@dataclass(frozen=True)
class OutputDelta:
    """Append-only translated transcript, sent with the voice that speaks it."""

    delta: str
    source_language: str
    target_language: str
    segment: int
    elapsed_ms: int


@dataclass(frozen=True)
class OutputAudio:
    """One segment's voice: play it after everything sent before it."""

    pcm: NDArray[np.int16]
    sample_rate: int
    segment: int
    text: str
    elapsed_ms: int
    play_at: float
    """When the interpreter reckons it starts playing (its clock): no earlier than the end
    of the previous piece, so the voice never overlaps itself."""

    @property
    def duration_s(self) -> float:
        return len(self.pcm) / self.sample_rate


@dataclass(frozen=True)
class RenderedSegment:
    """A segment as it was rendered: for records, tests and the benchmark."""

    segment: Segment
    target_language: str
    translation: str
    play_at: float
    play_end: float
    speed: float
    closed_at: float
    """When the segment was closed (its words committed), on the interpreter's clock."""
    rendered_at: float
    """When its voice was ready (the interpreter's clock)."""


def elapsed_ms(stream_s: float) -> int:
    """Stream time as OpenAI's `elapsed_ms`: whole 200 ms frames."""
    return int(stream_s * 5) * 200
