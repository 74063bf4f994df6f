"""The assistant's voice on a WebRTC call: the conversation's playout as Opus packets.

The playout clock hands out a 20 ms frame every 20 ms for the whole call, silence
when there is nothing to say, so the phone's jitter buffer never starves.

The track hands aiortc Opus packets, not PCM, so aiortc's sender only
packetises them. Speech is encoded here, in a worker thread (mono, as it is
made); silence, most of every call, is one packet encoded once per process,
so a quiet call costs no encoder run, no thread hop and no audio-level scan
on the event loop (aiortc measures the level of every PCM frame it is given,
in Python).

The encoder adds in-band FEC (a low-bitrate copy of each frame in the next
packet, RFC 6716 LBRR) tuned for `EXPECTED_LOSS_PERCENT` loss: a phone that loses
a packet of the answer plays it from the next one instead of guessing (browsers
decode it; it costs a few kbit/s of the same bitrate).
"""

from __future__ import annotations

import asyncio
import fractions
import functools
from typing import Any

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from numpy.typing import NDArray

from rtc.conversation.playout import FRAME_SAMPLES, SAMPLE_RATE, Playout, PlayoutStopped

#: Mono speech at the bits per channel aiortc's own encoder spends (96 kbit/s stereo).
OPUS_BITRATE = 48_000
#: The loss the FEC is sized for (libopus `packet_loss`): mobile networks lose 1-5 %.
EXPECTED_LOSS_PERCENT = 10
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
            codec.options = {
                "application": "voip",
                "frame_duration": "20",
                "fec": "1",
                "packet_loss": str(EXPECTED_LOSS_PERCENT),
            }
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


class OpusTrack(MediaStreamTrack):
    """The conversation's playout as an outgoing WebRTC audio track (Opus packets)."""

    kind = "audio"

    def __init__(self, playout: Playout) -> None:
        super().__init__()
        self._playout = playout
        self._timestamp = -FRAME_SAMPLES
        self._opus = OpusStream()
        self._opus_tail = False
        """The encoder still holds the end of the last speech (Opus looks ahead 6.5 ms)."""

    async def recv(self) -> av.Packet[Any]:
        """The next 20 ms as an Opus packet, when it is due."""
        if self.readyState != "live":
            raise MediaStreamError
        try:
            frame = await self._playout.next_frame()
        except PlayoutStopped:
            self.stop()
            raise MediaStreamError from None
        if frame.silent and not self._opus_tail:
            data = silence_packet()
        else:
            # Speech, or the first silence after it: this encoder flushes the speech's end.
            self._opus_tail = not frame.silent
            data = await asyncio.get_running_loop().run_in_executor(
                None, self._opus.encode, frame.pcm
            )
        self._timestamp += FRAME_SAMPLES
        packet = av.Packet(data)
        packet.pts = self._timestamp
        packet.time_base = _TIME_BASE
        return packet
