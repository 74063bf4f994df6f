"""Turn detection on scripted VAD timelines (no audio, no clock)."""

from __future__ import annotations

import numpy as np
import pytest

from rtc.turns import (
    SpeechPaused,
    SpeechStarted,
    SpeechStopped,
    TurnDetector,
    TurnEvent,
    TurnSettings,
    VoiceLost,
    VoiceOnset,
)
from rtc.vad import CHUNK_MS, CHUNK_SAMPLES


def run(
    detector: TurnDetector, probabilities: list[float], *, raw: bool = False
) -> list[tuple[int, TurnEvent]]:
    """Feed a timeline; by default only the speech events (not the voice hints)."""
    out: list[tuple[int, TurnEvent]] = []
    for i, p in enumerate(probabilities):
        chunk = np.full(CHUNK_SAMPLES, i, dtype=np.float32)  # chunk index as its "audio"
        out += [
            (i, e)
            for e in detector.push(chunk, p)
            if raw or not isinstance(e, VoiceOnset | VoiceLost)
        ]
    return out


def test_first_voiced_chunk_is_an_onset_hint_and_a_click_is_lost() -> None:
    d = TurnDetector(TurnSettings(min_speech_ms=64))
    events = run(d, [0.0, 0.9, 0.0, 0.9, 0.9], raw=True)
    assert [(i, type(e)) for i, e in events] == [
        (1, VoiceOnset),
        (2, VoiceLost),
        (3, VoiceOnset),
        (4, SpeechStarted),
    ]


def test_speech_needs_min_speech_ms_of_voice() -> None:
    d = TurnDetector(TurnSettings(min_speech_ms=64))
    assert run(d, [0.0, 0.9, 0.0, 0.9, 0.0]) == []  # single voiced chunks are clicks
    events = run(d, [0.9, 0.9])
    assert [type(e) for _, e in events] == [SpeechStarted]
    start = events[0][1]
    assert isinstance(start, SpeechStarted)
    assert start.audio_start_ms == pytest.approx(5 * CHUNK_MS)


def test_pause_then_stop_with_the_same_revision_and_padded_audio() -> None:
    s = TurnSettings(prefix_padding_ms=96, silence_duration_ms=320, early_silence_ms=96)
    d = TurnDetector(s)
    timeline = [0.0] * 5 + [0.9] * 10 + [0.0] * 12
    events = run(d, timeline)
    kinds = [type(e) for _, e in events]
    assert kinds == [SpeechStarted, SpeechPaused, SpeechStopped]
    paused, stopped = events[1][1], events[2][1]
    assert isinstance(paused, SpeechPaused) and isinstance(stopped, SpeechStopped)
    assert stopped.revision == paused.revision
    assert np.array_equal(stopped.audio, paused.audio)
    # 3 chunks of prefix padding (indices 2..4), then speech from chunk 5.
    assert stopped.audio[0] == 2
    assert stopped.audio_end_ms == pytest.approx(15 * CHUNK_MS)
    assert stopped.speech_ms == pytest.approx(10 * CHUNK_MS)


def test_speech_resuming_after_a_pause_makes_the_speculation_stale() -> None:
    d = TurnDetector(TurnSettings(silence_duration_ms=320, early_silence_ms=96))
    events = run(d, [0.9] * 5 + [0.0] * 4 + [0.9] * 5 + [0.0] * 12)
    paused = [e for _, e in events if isinstance(e, SpeechPaused)]
    stopped = [e for _, e in events if isinstance(e, SpeechStopped)]
    assert len(paused) == 2 and len(stopped) == 1
    assert paused[0].revision != stopped[0].revision
    assert paused[1].revision == stopped[0].revision


def test_hysteresis_keeps_speech_going_between_thresholds() -> None:
    d = TurnDetector(TurnSettings(threshold=0.5, silence_duration_ms=96, early_silence_ms=64))
    events = run(d, [0.9] * 3 + [0.4] * 20)  # 0.4 is above threshold - 0.15
    assert [type(e) for _, e in events] == [SpeechStarted]
    assert d.speaking


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError):
        TurnSettings(threshold=1.5)
    with pytest.raises(ValueError):
        TurnSettings(silence_duration_ms=-1)
