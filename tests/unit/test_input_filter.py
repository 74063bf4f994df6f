"""A translation session's `noise_reduction`: WebRTC's suppressor on its 16 kHz chunks."""

from __future__ import annotations

import numpy as np

from rtc.input_filter import input_filter, passthrough
from rtc.translation_config import NoiseReduction

CHUNK = 512


def _rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))


def test_off_and_zero_strength_leave_the_audio_alone() -> None:
    assert input_filter(None) is passthrough
    assert input_filter(NoiseReduction("near_field", 0.0)) is passthrough


def test_steady_noise_is_suppressed_and_every_chunk_keeps_its_length() -> None:
    rng = np.random.default_rng(1)
    noise = (0.05 * rng.standard_normal(16_000 * 3)).astype(np.float32)
    for kind in ("near_field", "far_field"):
        cleaned = input_filter(NoiseReduction(kind, 1.0))
        out = [cleaned(noise[i : i + CHUNK]) for i in range(0, len(noise), CHUNK)]
        assert [len(o) for o in out] == [
            len(noise[i : i + CHUNK]) for i in range(0, len(noise), CHUNK)
        ]
        settled = np.concatenate(out)[16_000 * 2 :]  # the suppressor learns the noise first
        assert _rms(settled) < 0.5 * _rms(noise[16_000 * 2 :]), kind
