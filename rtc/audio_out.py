"""The assistant's voice: a paced outgoing audio track that can be cleared at once.

It sends a 20 ms frame every 20 ms for the whole call, silence when there is
nothing to say, so the phone's jitter buffer never starves. Queued speech is
tagged with the response it belongs to, so the gateway knows how much of
each answer was actually played when it is interrupted.

The track hands aiortc Opus packets, not PCM, so aiortc's sender only
packetises them. Speech is encoded here, in a worker thread (mono, as it is
made); silence, most of every call, is one packet encoded once per process,
so a quiet call costs no encoder run, no thread hop and no audio-level scan
on the event loop (aiortc measures the level of every PCM frame it is given,
in Python).
"""

from __future__ import annotations

import asyncio
import fractions
import functools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from numpy.typing import NDArray

SAMPLE_RATE = 48_000
FRAME_SAMPLES = 960  # 20 ms
FRAME_MS = 1000 * FRAME_SAMPLES / SAMPLE_RATE
#: Mono speech at the bits per channel aiortc's own encoder spends (96 kbit/s stereo).
OPUS_BITRATE = 48_000
_TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)


class OpusStream:
    """One track's Opus encoder (20 ms mono frames in, one packet out per frame).

    Blocking: run `encode` in a worker thread, one frame at a time, in order.
    """

    def __init__(self) -> None:
        self._codec: av.AudioCodecContext | None = None
        self._pts = 0

    def encode(self, pcm: NDArray[np.int16]) -> bytes:
        if self._codec is None:
            codec = av.CodecContext.create("libopus", "w")
            assert isinstance(codec, av.AudioCodecContext)
            codec.sample_rate = SAMPLE_RATE
            codec.layout = "mono"
            codec.format = "s16"
            codec.bit_rate = OPUS_BITRATE
            codec.time_base = _TIME_BASE
            codec.options = {"application": "voip", "frame_duration": "20"}
            self._codec = codec
        frame = av.AudioFrame.from_ndarray(pcm[None, :], format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._pts
        self._pts += len(pcm)
        return b"".join(bytes(p) for p in self._codec.encode(frame))


@functools.cache
def silence_packet() -> bytes:
    """20 ms of digital silence as Opus, from an encoder that has settled on it."""
    stream = OpusStream()
    zeros = np.zeros(FRAME_SAMPLES, dtype=np.int16)
    packets = [stream.encode(zeros) for _ in range(5)]
    return packets[-1]


@dataclass
class _Segment:
    response_id: str
    pcm: NDArray[np.int16]
    offset: int = 0


@dataclass
class _Playback:
    played_samples: int = 0
    queued_samples: int = 0
    started: bool = False
    ended: bool = False
    """No more audio will be queued for this response."""
    finished: asyncio.Future[None] | None = None


class OutputAudioTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(
        self,
        on_started: Callable[[str], None] | None = None,
        on_finished: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__()
        self._queue: deque[_Segment] = deque()
        self._playbacks: dict[str, _Playback] = {}
        self._paused = False
        self._start: float | None = None
        self._timestamp = 0
        self._silence = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        self._on_started = on_started
        self._on_finished = on_finished
        self._opus = OpusStream()
        self._opus_tail = False
        """The encoder still holds the end of the last speech (Opus looks ahead 6.5 ms)."""

    def set_callbacks(
        self, on_started: Callable[[str], None] | None, on_finished: Callable[[str], None] | None
    ) -> None:
        self._on_started = on_started
        self._on_finished = on_finished

    # -- producer side -------------------------------------------------------------
    def enqueue(self, response_id: str, pcm: NDArray[np.int16]) -> None:
        """Queue 48 kHz mono speech for a response."""
        if pcm.dtype != np.int16 or pcm.ndim != 1:
            raise ValueError("output audio must be 1-D int16 at 48 kHz")
        playback = self._playbacks.setdefault(response_id, _Playback())
        if playback.ended:
            raise ValueError(f"response {response_id} already ended its audio")
        if len(pcm):
            self._queue.append(_Segment(response_id, pcm))
            playback.queued_samples += len(pcm)

    def end_response(self, response_id: str) -> asyncio.Future[None]:
        """No more audio for this response; the future resolves once it has all played."""
        playback = self._playbacks.setdefault(response_id, _Playback())
        playback.ended = True
        if playback.finished is None:
            playback.finished = asyncio.get_running_loop().create_future()
        self._maybe_finish(response_id, playback)
        return playback.finished

    def played_ms(self, response_id: str) -> float:
        playback = self._playbacks.get(response_id)
        return 1000.0 * playback.played_samples / SAMPLE_RATE if playback else 0.0

    def has_started(self, response_id: str) -> bool:
        playback = self._playbacks.get(response_id)
        return bool(playback and playback.started)

    @property
    def queued_ms(self) -> float:
        samples = sum(len(s.pcm) - s.offset for s in self._queue)
        return 1000.0 * samples / SAMPLE_RATE

    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        """Go silent now, keeping what is queued (a possible false interruption)."""
        self._paused = True

    def resume(self) -> None:
        self._paused = False

    def clear(self) -> dict[str, float]:
        """Drop everything queued; returns ms played per response that had audio queued."""
        played = {s.response_id: self.played_ms(s.response_id) for s in self._queue}
        self._queue.clear()
        self._paused = False
        for response_id in played:
            playback = self._playbacks.pop(response_id, None)
            if playback and playback.finished and not playback.finished.done():
                playback.finished.set_result(None)
        return played

    def forget(self, response_id: str) -> None:
        """Drop bookkeeping of a finished response."""
        playback = self._playbacks.pop(response_id, None)
        if playback and playback.finished and not playback.finished.done():
            playback.finished.cancel()

    # -- consumer side (aiortc's sender) ----------------------------------------
    async def recv(self) -> av.Packet[Any]:
        """The next 20 ms as an Opus packet, when it is due."""
        pcm = await self.next_pcm()
        if pcm is self._silence and not self._opus_tail:
            data = silence_packet()
        else:
            # Speech, or the first silence after it: this encoder flushes the speech's end.
            self._opus_tail = pcm is not self._silence
            data = await asyncio.get_running_loop().run_in_executor(None, self._opus.encode, pcm)
        packet = av.Packet(data)
        packet.pts = self._timestamp
        packet.time_base = _TIME_BASE
        return packet

    async def next_pcm(self) -> NDArray[np.int16]:
        """The next 20 ms of output (speech, or this track's silence array), when it is due."""
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
            self._timestamp = 0
        else:
            self._timestamp += FRAME_SAMPLES
            wait = self._start + self._timestamp / SAMPLE_RATE - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            elif wait < -0.2:
                # The loop stalled: restart the clock instead of bursting frames to catch up.
                self._start = time.monotonic() - self._timestamp / SAMPLE_RATE
        return self._silence if self._paused else self._take(FRAME_SAMPLES)

    def _take(self, count: int) -> NDArray[np.int16]:
        if not self._queue:
            return self._silence
        out = np.zeros(count, dtype=np.int16)
        filled = 0
        while filled < count and self._queue:
            segment = self._queue[0]
            n = min(count - filled, len(segment.pcm) - segment.offset)
            out[filled : filled + n] = segment.pcm[segment.offset : segment.offset + n]
            segment.offset += n
            filled += n
            playback = self._playbacks.get(segment.response_id)
            if playback is not None:
                playback.played_samples += n
                if not playback.started:
                    playback.started = True
                    if self._on_started:
                        self._on_started(segment.response_id)
            if segment.offset >= len(segment.pcm):
                self._queue.popleft()
                if playback is not None:
                    self._maybe_finish(segment.response_id, playback)
        return out

    def _maybe_finish(self, response_id: str, playback: _Playback) -> None:
        if not playback.ended or playback.played_samples < playback.queued_samples:
            return
        if playback.finished is not None and not playback.finished.done():
            playback.finished.set_result(None)
            if playback.started and self._on_finished:
                self._on_finished(response_id)
