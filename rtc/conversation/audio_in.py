"""The user's audio, whatever carried it, as the VAD's chunks: 16 kHz mono float32, 512
samples each. The one place incoming audio is resampled and cut."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from model.audio import StreamResampler
from rtc.vad import CHUNK_SAMPLES, SAMPLE_RATE

Chunk = NDArray[np.float32]


class AudioChunker:
    """Mono int16 pieces at any rate in, whole VAD chunks out (the rest waits for more).

    `cut` also takes rows of samples in step (the microphone as it came and cleaned of
    echo: shape (2, n)) and cuts them alike."""

    def __init__(self) -> None:
        self._resampler: StreamResampler | None = None
        self._rest = np.zeros(0, dtype=np.float32)

    def push(self, pcm: NDArray[np.int16], rate: int) -> list[Chunk]:
        return self.cut(self.resample(pcm, rate).astype(np.float32) / 32768.0)

    def resample(self, pcm: NDArray[np.int16], rate: int) -> NDArray[np.int16]:
        """`pcm` at the VAD's rate (16 kHz int16)."""
        resampler = self._resampler
        if resampler is None or resampler.src_rate != rate:
            resampler = self._resampler = StreamResampler(rate, SAMPLE_RATE)
        return resampler(pcm)

    def cut(self, samples: Chunk) -> list[Chunk]:
        rest = self._rest
        if rest.ndim != samples.ndim:  # rows began or ended: the rest as the new shape
            rest = np.tile(rest, (len(samples), 1)) if samples.ndim == 2 else rest[-1]
        buffer = np.concatenate([rest, samples], axis=-1) if rest.shape[-1] else samples
        whole = buffer.shape[-1] - buffer.shape[-1] % CHUNK_SAMPLES
        self._rest = buffer[..., whole:]
        return [buffer[..., i : i + CHUNK_SAMPLES] for i in range(0, whole, CHUNK_SAMPLES)]

    def take_rest(self) -> Chunk:
        """The part chunk not yet handed out (a manual commit takes it too; of rows, the
        last)."""
        rest, self._rest = self._rest, np.zeros(0, dtype=np.float32)
        return rest if rest.ndim == 1 else rest[-1]

    def reset(self) -> None:
        self._rest = np.zeros(0, dtype=np.float32)
