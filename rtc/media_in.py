"""Media from the phone: audio drained and cut into VAD chunks; video, newest frame wins."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from numpy.typing import NDArray

from rtc.vad import CHUNK_SAMPLES, SAMPLE_RATE


class AudioInput:
    """Pulls every frame of a remote audio track; yields 16 kHz mono float32 chunks."""

    def __init__(self, track: MediaStreamTrack, chunk_samples: int = CHUNK_SAMPLES) -> None:
        self._track = track
        self._chunk = chunk_samples
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        self._buffer = np.zeros(0, dtype=np.float32)
        self.frames = 0
        self.last_frame_at = time.monotonic()

    async def chunks(self) -> AsyncIterator[NDArray[np.float32]]:
        while True:
            try:
                frame = await self._track.recv()
            except MediaStreamError:
                return
            if not isinstance(frame, av.AudioFrame):
                continue
            self.frames += 1
            self.last_frame_at = time.monotonic()
            # Resampling a 20 ms frame costs microseconds; not worth a thread hop.
            pieces = [f.to_ndarray().reshape(-1) for f in self._resampler.resample(frame)]
            if not pieces:
                continue
            samples = np.concatenate(pieces).astype(np.float32) / 32768.0
            self._buffer = np.concatenate([self._buffer, samples])
            while len(self._buffer) >= self._chunk:
                chunk, self._buffer = self._buffer[: self._chunk], self._buffer[self._chunk :]
                yield chunk


class LatestFrame:
    """Keeps only the newest decoded video frame; older ones are dropped, never queued."""

    def __init__(self) -> None:
        self._frame: av.VideoFrame | None = None
        self._seq = 0
        self._taken_seq = 0
        self._event = asyncio.Event()
        self.frames = 0
        self.last_frame_at = time.monotonic()

    def put(self, frame: av.VideoFrame) -> None:
        self._frame = frame
        self._seq += 1
        self.frames += 1
        self.last_frame_at = time.monotonic()
        self._event.set()

    async def next(self) -> av.VideoFrame:
        """The newest frame not handed out yet (waits for one)."""
        while self._seq == self._taken_seq or self._frame is None:
            self._event.clear()
            await self._event.wait()
        self._taken_seq = self._seq
        return self._frame

    @property
    def size(self) -> tuple[int, int] | None:
        return (self._frame.width, self._frame.height) if self._frame is not None else None


async def drain_video(track: MediaStreamTrack, latest: LatestFrame) -> None:
    """Receive every frame so aiortc's queue never grows; keep only the newest."""
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        if isinstance(frame, av.VideoFrame):
            latest.put(frame)
