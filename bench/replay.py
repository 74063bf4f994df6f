"""Pre-encoded camera and microphone for load generation: encode once, replay packets.

aiortc's `RTCRtpSender` takes an `av.Packet` from a track's `recv()` and only
packetises it (no encoder runs), so one process can drive many calls with
realistic VP8 video and Opus audio for the cost of RTP and SRTP alone, while
the server under test decodes every frame as it would a phone's.

Also here: `GapMeter`, the inter-arrival statistics of received audio frames,
and `LoopLag`, how late the load generator's own event loop wakes up (its lag
looks exactly like a gap in the received audio, so it is reported next to it).
"""

from __future__ import annotations

import asyncio
import fractions
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import av
import cv2
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from numpy.typing import NDArray

from rtc.transports.opus_track import OpusStream

VIDEO_CLOCK = 90_000
AUDIO_RATE = 48_000
AUDIO_FRAME = 960  # 20 ms
#: Behind schedule by more than this (a stalled loop): restart the clock, do not burst.
MAX_CATCH_UP_S = 0.2


# -- encoding (once, in the controller) ----------------------------------------------
def encode_vp8(
    frames: Sequence[NDArray[np.uint8]], fps: int, bitrate: int = 600_000
) -> list[bytes]:
    """One VP8 frame per RGB frame; only the first is a key frame, so the list loops."""
    height, width = frames[0].shape[:2]
    codec = av.CodecContext.create("libvpx", "w")
    assert isinstance(codec, av.VideoCodecContext)
    codec.width, codec.height = width, height
    codec.pix_fmt = "yuv420p"
    codec.framerate = fractions.Fraction(fps, 1)
    codec.time_base = fractions.Fraction(1, fps)
    codec.bit_rate = bitrate
    codec.gop_size = len(frames)
    codec.options = {"deadline": "realtime", "lag-in-frames": "0", "cpu-used": "8"}
    out: list[bytes] = []
    for index, rgb in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
        frame.pts = index
        out.extend(bytes(p) for p in codec.encode(frame))
    out.extend(bytes(p) for p in codec.encode(None))
    if len(out) != len(frames):
        raise RuntimeError(f"the VP8 encoder gave {len(out)} packets for {len(frames)} frames")
    return out


def handheld(
    still: NDArray[np.uint8], fps: int, seconds: float, *, noise: float = 2.5, seed: int = 0
) -> list[NDArray[np.uint8]]:
    """A phone held over `still`: a slow shake (a pixel or two, a fraction of a degree) that
    comes back to where it started, so the clip loops without a jump, plus sensor noise."""
    height, width = still.shape[:2]
    rng = np.random.default_rng(seed)
    count = max(1, round(fps * seconds))
    frames = []
    for index in range(count):
        phase = 2 * math.pi * index / count
        matrix = cv2.getRotationMatrix2D((width / 2, height / 2), 0.3 * math.sin(phase), 1.0)
        matrix[0, 2] += 2.0 * math.sin(2 * phase)
        matrix[1, 2] += 1.5 * math.cos(phase)
        moved = cv2.warpAffine(still, matrix, (width, height), borderMode=cv2.BORDER_REFLECT)
        grain = rng.standard_normal(moved.shape, dtype=np.float32) * noise
        frames.append(np.clip(moved + grain, 0, 255).astype(np.uint8))
    return frames


def encode_opus(pcm: NDArray[np.int16]) -> list[bytes]:
    """48 kHz mono speech as 20 ms Opus packets (the server's own encoder settings)."""
    stream = OpusStream()
    padded = np.zeros(-(-len(pcm) // AUDIO_FRAME) * AUDIO_FRAME + AUDIO_FRAME, np.int16)
    padded[: len(pcm)] = pcm  # one frame more: the encoder's look-ahead is flushed too
    return [stream.encode(padded[i : i + AUDIO_FRAME]) for i in range(0, len(padded), AUDIO_FRAME)]


def room_tone(seconds: float = 1.0, level: float = 20.0, seed: int = 0) -> NDArray[np.int16]:
    """A quiet room as a phone microphone hears it (about -64 dBFS of noise), not zeros."""
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(0.0, level, int(seconds * AUDIO_RATE)), -32768, 32767).astype(
        np.int16
    )


# -- replay (in the load generator) ----------------------------------------------------
class _PacedTrack(MediaStreamTrack):
    """Hands out one packet every `period_s`, on a clock that survives a stalled loop."""

    def __init__(self, period_s: float, ticks: int, clock: int) -> None:
        super().__init__()
        self._period = period_s
        self._ticks = ticks
        self._time_base = fractions.Fraction(1, clock)
        self._start: float | None = None
        self._due = 0
        self.sent = 0

    async def _next_slot(self) -> None:
        """Wait until the next packet is due."""
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
            return
        self._due += 1
        wait = self._start + self._due * self._period - now
        if wait > 0:
            await asyncio.sleep(wait)
        elif wait < -MAX_CATCH_UP_S:
            self._start = now - self._due * self._period

    def _packet(self, data: bytes) -> av.Packet[Any]:
        packet = av.Packet(data)
        packet.pts = self.sent * self._ticks
        packet.time_base = self._time_base
        self.sent += 1
        return packet


class ReplayVideoTrack(_PacedTrack):
    """A camera sending pre-encoded VP8 frames at `fps`, looping."""

    kind = "video"

    def __init__(self, packets: Sequence[bytes], fps: int) -> None:
        super().__init__(1.0 / fps, VIDEO_CLOCK // fps, VIDEO_CLOCK)
        self._packets = packets

    async def recv(self) -> av.Packet[Any]:  # type: ignore[override]
        await self._next_slot()
        return self._packet(self._packets[self.sent % len(self._packets)])


@dataclass
class Said:
    """One utterance queued on a `ReplayMicTrack`: when it started and ended going out."""

    packets: Sequence[bytes]
    started: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    started_at: float | None = None
    ended_at: float | None = None


class ReplayMicTrack(_PacedTrack):
    """A microphone sending pre-encoded Opus: room tone, or the utterances it is told to say."""

    kind = "audio"

    def __init__(self, background: Sequence[bytes]) -> None:
        super().__init__(AUDIO_FRAME / AUDIO_RATE, AUDIO_FRAME, AUDIO_RATE)
        self._background = background
        self._queue: list[Said] = []
        self._offset = 0

    def say(self, packets: Sequence[bytes]) -> Said:
        said = Said(packets)
        self._queue.append(said)
        return said

    async def recv(self) -> av.Packet[Any]:  # type: ignore[override]
        await self._next_slot()
        data = self._background[self.sent % len(self._background)]
        head = self._queue[0] if self._queue else None
        if head is not None:
            if head.started_at is None:
                head.started_at = time.monotonic()
                head.started.set()
            data = head.packets[self._offset]
            self._offset += 1
            if self._offset >= len(head.packets):
                self._queue.pop(0)
                self._offset = 0
                head.ended_at = time.monotonic()
                head.done.set()
        return self._packet(data)


# -- measuring -------------------------------------------------------------------------
@dataclass(frozen=True)
class GapStats:
    frames: int
    worst_s: float
    p99_s: float
    over: int
    """Gaps longer than the threshold."""


class GapMeter:
    """Inter-arrival times of received frames, between `start()` and `stop()`.

    The time from `start()` to the first frame, and from the last frame to `stop()`,
    count as gaps too: a call whose audio stopped shows one long gap, not none.
    """

    def __init__(self) -> None:
        self.recording = False
        self._last: float | None = None
        self.gaps: list[float] = []

    def start(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self.recording = True
        if self._last is None:
            self._last = now

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if self.recording and self._last is not None:
            self.gaps.append(now - self._last)
        self._last = now

    def stop(self, now: float | None = None) -> None:
        if self.recording:
            self.tick(now)
        self.recording = False

    def stats(self, threshold_s: float = 0.1) -> GapStats:
        return gap_stats(self.gaps, threshold_s)


def gap_stats(gaps: Sequence[float], threshold_s: float = 0.1) -> GapStats:
    if not gaps:
        return GapStats(0, math.inf, math.inf, 0)
    values = np.asarray(gaps)
    return GapStats(
        frames=len(values),
        worst_s=float(values.max()),
        p99_s=float(np.percentile(values, 99)),
        over=int((values > threshold_s).sum()),
    )


async def record_gaps(track: MediaStreamTrack, meter: GapMeter) -> None:
    """Drain a received track, timing every frame."""
    while True:
        try:
            await track.recv()
        except MediaStreamError:
            return
        meter.tick()


class LoopLag:
    """How late `asyncio.sleep(period)` wakes up in this process's loop."""

    def __init__(self, period_s: float = 0.01) -> None:
        self.period = period_s
        self.recording = False
        self.lags: list[float] = []

    async def run(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(self.period)
            if self.recording:
                self.lags.append(max(0.0, time.monotonic() - before - self.period))


def worst_and_p99(values: Iterable[float]) -> tuple[float, float]:
    array = np.asarray(list(values), dtype=np.float64)
    if len(array) == 0:
        return math.nan, math.nan
    return float(array.max()), float(np.percentile(array, 99))
