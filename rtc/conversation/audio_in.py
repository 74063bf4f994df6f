"""The user's audio, whatever carried it, as the VAD's chunks: 16 kHz mono float32, 512
samples each. The one place incoming audio is resampled and cut."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from model.audio import StreamResampler
from rtc.vad import CHUNK_SAMPLES, SAMPLE_RATE

Chunk = NDArray[np.float32]


class AudioChunker:
    """Mono int16 pieces at any rate in, whole VAD chunks out (the rest waits for more)."""

    def __init__(self) -> None:
        self._resampler: StreamResampler | None = None
        self._rest = np.zeros(0, dtype=np.float32)

    def push(self, pcm: NDArray[np.int16], rate: int) -> list[Chunk]:
        resampler = self._resampler
        if resampler is None or resampler.src_rate != rate:
            resampler = self._resampler = StreamResampler(rate, SAMPLE_RATE)
        samples = resampler(pcm).astype(np.float32) / 32768.0
        buffer = np.concatenate([self._rest, samples]) if len(self._rest) else samples
        whole = len(buffer) - len(buffer) % CHUNK_SAMPLES
        self._rest = buffer[whole:]
        return [buffer[i : i + CHUNK_SAMPLES] for i in range(0, whole, CHUNK_SAMPLES)]

    def take_rest(self) -> Chunk:
        """The part chunk not yet handed out (a manual commit takes it too)."""
        rest, self._rest = self._rest, np.zeros(0, dtype=np.float32)
        return rest

    def reset(self) -> None:
        self._rest = np.zeros(0, dtype=np.float32)
