"""Word timings for backends whose recogniser gives none: an estimate from the audio."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from model.types import INPUT_SAMPLE_RATE, TimedTranscript, TimedWord, Transcript

#: Level (of full scale) above which a 20 ms frame counts as voiced (about -46 dBFS).
VOICED_LEVEL = 0.005
_FRAME = INPUT_SAMPLE_RATE // 50


def voiced_span(audio: NDArray[np.float32]) -> tuple[float, float]:
    """Seconds from the start of `audio` to its first and past its last voiced frame."""
    frames = len(audio) // _FRAME
    if frames == 0:
        return 0.0, len(audio) / INPUT_SAMPLE_RATE
    rms = np.sqrt(np.mean(audio[: frames * _FRAME].reshape(frames, _FRAME) ** 2, axis=1))
    loud = np.flatnonzero(rms > VOICED_LEVEL)
    if len(loud) == 0:
        return 0.0, len(audio) / INPUT_SAMPLE_RATE
    return loud[0] / 50, (loud[-1] + 1) / 50


def spread_words(transcript: Transcript, audio: NDArray[np.float32]) -> TimedTranscript:
    """The transcript's words laid over the voiced audio in proportion to their length.

    Good to a few hundred milliseconds on fluent speech: enough to tell overlapping
    hypotheses apart and to cut a window between words, not to measure anything."""
    words = transcript.text.split()
    start, end = voiced_span(audio)
    weights = np.array([len(w) + 1 for w in words], dtype=np.float64)
    edges = start + (end - start) * np.concatenate([[0.0], np.cumsum(weights)]) / max(
        1.0, float(weights.sum())
    )
    timed = tuple(TimedWord(w, float(edges[i]), float(edges[i + 1])) for i, w in enumerate(words))
    return TimedTranscript(
        timed, transcript.language, transcript.language_probability, exact_timings=False
    )
