"""The turn-taking benchmark's tools: stretched pauses and the echoing microphone."""

from __future__ import annotations

import time

import numpy as np
import pytest

from bench.echo_path import EchoingMicrophone
from bench.turn_clips import RATE, stretch_break


def _tone(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (8000 * np.sin(2 * np.pi * 220 * t)).astype(np.int16)


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), np.int16)


def test_the_break_nearest_the_first_part_becomes_the_pause() -> None:
    # voice 0.5 s, break 0.1 s, voice 0.4 s, break 0.2 s, voice 0.3 s
    whole = np.concatenate([_tone(0.5), _silence(0.1), _tone(0.4), _silence(0.2), _tone(0.3)])
    pcm, first_end = stretch_break(whole, int(0.95 * RATE), 0.6)
    assert first_end == pytest.approx(1.0, abs=0.011)
    # The second break (0.2 s, at 1.0 s) is now 0.6 s; the rest is untouched.
    assert len(pcm) == pytest.approx(len(whole) + int(0.4 * RATE), abs=2 * RATE // 100)
    quiet = np.abs(pcm[int(1.02 * RATE) : int(1.58 * RATE)]).max()
    assert quiet == 0
    assert np.abs(pcm[-int(0.2 * RATE) :]).max() > 4000


def test_a_clip_without_a_break_is_refused() -> None:
    with pytest.raises(ValueError, match="no break"):
        stretch_break(_tone(1.0), RATE // 2, 0.6)


async def test_the_microphone_hears_the_speaker_later_and_softer() -> None:
    mic = EchoingMicrophone(delay_s=0.080, gain_db=-10.0)
    first = await mic.recv()  # the first frame starts the microphone's clock
    assert first.pts == 0
    played_at = time.monotonic()
    mic.heard(np.full(960, 10_000, np.int16), played_at)
    clock = mic._start  # when the first frame went out
    assert clock is not None
    due = (played_at + 0.080 - clock) * RATE
    echoed: list[tuple[int, np.ndarray]] = []
    while not echoed or echoed[-1][1].any():
        frame = await mic.recv()
        samples = frame.to_ndarray().reshape(-1)
        if samples.any() or echoed:
            assert frame.pts is not None
            echoed.append((int(frame.pts), samples))
    start = echoed[0][0] + int(np.flatnonzero(echoed[0][1])[0])
    assert start == pytest.approx(due, abs=2)
    heard = np.concatenate([s for _, s in echoed])
    assert np.count_nonzero(heard) == 960
    assert int(heard.max()) == int(10_000 * 10 ** (-10 / 20))


async def test_a_muted_echo_is_not_heard() -> None:
    mic = EchoingMicrophone()
    await mic.recv()
    mic.enabled = False
    mic.heard(np.full(960, 10_000, np.int16), time.monotonic())
    for _ in range(8):  # well past the 80 ms delay
        assert not (await mic.recv()).to_ndarray().any()
