"""Values that flow between the gateway, the scenarios and the model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

#: Sample rate of every audio buffer handed to a model (mono float32 in [-1, 1]).
INPUT_SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class Transcript:
    """What was said in one utterance."""

    text: str
    """The words, stripped; empty when nothing intelligible was heard."""
    language: str
    """ISO 639-1 code of the language it was heard in."""
    language_probability: float
    """How sure language detection was, 0..1."""
    log_probability: float | None = None
    """How sure the recogniser was of the words: the mean log probability of their tokens
    (Whisper's avg_logprob); None when the recogniser does not say."""
    last_word_probability: float | None = None
    """How sure it was of the last word: the lowest probability of that word's tokens (a
    cut-off "pedir" heard as "penir" scores 0.1-0.3); None when the recogniser does not say."""

    @property
    def has_words(self) -> bool:
        return any(ch.isalnum() for ch in self.text)


@dataclass(frozen=True)
class TimedWord:
    """One recognised word and where it lies in the audio it was heard in."""

    text: str
    """The word as written, with its punctuation and no surrounding spaces."""
    start_s: float
    end_s: float
    """Seconds from the start of the audio handed to the recogniser."""
    probability: float = 1.0


@dataclass(frozen=True)
class TimedTranscript:
    """What was said in a stretch of audio, word by word with timings.

    Streaming recognition needs the timings to tell which words of two overlapping
    hypotheses are the same, and where a window of audio can be cut between words."""

    words: tuple[TimedWord, ...]
    language: str
    language_probability: float
    exact_timings: bool = True
    """False when the backend only estimated the timings (spread over the voiced audio)."""

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)


@dataclass(frozen=True)
class TextLine:
    """One line of text read from an image, top to bottom."""

    text: str
    score: float
    """Recognition confidence, 0..1."""
    box: tuple[int, int, int, int]
    """x0, y0, x1, y1 in pixels."""


@dataclass(frozen=True)
class FaceEmotion:
    """One face and its expression; holds no pixels."""

    box: tuple[int, int, int, int]
    """x, y, width, height in the analysed frame's pixels."""
    label: str
    """angry, disgusted, fearful, happy, sad, surprised or neutral."""
    score: float
    """Probability of `label`."""
    probabilities: dict[str, float]
    """Probability of each label (they sum to 1)."""


@dataclass(frozen=True)
class SpeechChunk:
    """A piece of synthesized speech: one sentence, or part of one."""

    pcm: NDArray[np.int16]
    """Mono samples."""
    sample_rate: int
    text: str
    """The text this chunk speaks (for transcript deltas); may be empty."""

    def __post_init__(self) -> None:
        if self.pcm.ndim != 1:
            raise ValueError("SpeechChunk.pcm must be mono (1-D)")
        if self.sample_rate <= 0:
            raise ValueError("sample_rate must be positive")

    @property
    def duration_ms(self) -> float:
        return 1000.0 * len(self.pcm) / self.sample_rate
