"""aiortc defaults tuned for a server that listens to the caller rather than playing them.

aiortc's jitter buffer holds 4 incoming audio frames (80 ms) before it decodes
the first, to smooth playout, and even with less prefetch it hands a frame on
only once the next packet shows where that frame ends. The server never plays
the caller's audio: every Opus packet is a whole frame, and the VAD wants it
the moment it arrives. So the server hands each audio packet on at once and
drops one that arrives behind a newer one (a reordered 20 ms, rare, and
better lost than heard late). That is 80 ms off every barge-in and every
answer. aiortc exposes no setting for
this, so the receiver module's JitterBuffer name is replaced once, at import
of the gateway.
"""

from __future__ import annotations

import aiortc.rtcrtpreceiver as _receiver
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket
from aiortc.utils import uint16_add


class ListeningJitterBuffer(JitterBuffer):
    """Audio: each packet handed on as it arrives; one older than the last is dropped.

    Video: aiortc's own frame assembly.
    """

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        if self._is_video:
            return super().add(packet)
        seq = packet.sequence_number
        if self._origin is not None and uint16_add(seq, -self._origin) >= 0x8000:
            return False, None  # reordered behind a newer packet: too late to be heard
        self._origin = uint16_add(seq, 1)
        return False, JitterFrame(data=packet._data, timestamp=packet.timestamp)  # type: ignore[attr-defined]


class OneFramePlayoutBuffer(JitterBuffer):
    """What a phone or browser playing the audio holds: one frame (aiortc's default is 4)."""

    def __init__(self, capacity: int, prefetch: int = 0, is_video: bool = False) -> None:
        super().__init__(
            capacity, prefetch=prefetch if is_video else min(prefetch, 1), is_video=is_video
        )


def apply(*, listening: bool = True) -> None:
    """Install the server's buffer (`listening`) or a one-frame playout buffer (clients)."""
    if not hasattr(_receiver, "JitterBuffer"):
        raise RuntimeError(
            "aiortc.rtcrtpreceiver no longer has JitterBuffer; revisit rtc/tuning.py"
        )
    chosen = ListeningJitterBuffer if listening else OneFramePlayoutBuffer
    _receiver.JitterBuffer = chosen  # type: ignore[misc]
