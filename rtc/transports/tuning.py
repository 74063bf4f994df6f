"""aiortc defaults tuned for a server that listens to the caller rather than playing them.

Audio: aiortc's jitter buffer holds 4 incoming audio frames (80 ms) before it
decodes the first, to smooth playout, and even with less prefetch it hands a
frame on only once the next packet shows where that frame ends. The server never
plays the caller's audio: every Opus packet is a whole frame, and the VAD wants
it the moment it arrives. So the jitter buffer hands each audio packet on at
once, stamped with its arrival time, and the decoder (rtc/transports/jitter.py)
puts late ones back in order within a small window only where the network
reorders, and conceals what was lost (Opus FEC, PLC) so the timeline does not
shrink. That is 80 ms off every barge-in and every answer on a clean network,
and no lost or shuffled audio on a bad one. The server also says in its answer
that it decodes in-band FEC (`useinbandfec=1`), so browsers send it once they
see loss.

Video: aiortc's own frame assembly, NACKs and keyframe requests (PLI on a
decoding error), plus one thing it lacks: a frame that stays incomplete (its
packet lost, and its retransmission too) blocks every later frame until 512
packets pile up, seconds of a frozen camera. Here a frame still incomplete
`VIDEO_STALL_S` after a newer one began is given up on, and a keyframe is asked
for at once (PLI), so the tutor sees the page again within a round trip.

aiortc exposes no setting for any of this, so the receiver module's JitterBuffer
and get_decoder names are replaced once, at import of the gateway.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import aiortc.rtcrtpreceiver as _receiver
from aiortc.codecs import CODECS
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket

from rtc.transports import libopus
from rtc.transports.jitter import AudioPacket, ListeningOpusDecoder

logger = logging.getLogger(__name__)

#: How long a newer video frame may wait on an incomplete older one.
VIDEO_STALL_S = 0.5
_VIDEO_CLOCK = 90_000


class ListeningJitterBuffer(JitterBuffer):
    """Audio: each packet handed on as it arrives, with its sequence number and arrival
    time (the decoder reorders and conceals).

    Video: aiortc's own frame assembly, which gives up on a frame that stalls."""

    def __init__(
        self,
        capacity: int,
        prefetch: int = 0,
        is_video: bool = False,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(capacity, prefetch=prefetch, is_video=is_video)
        self._clock = clock

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        if self._is_video:
            return self._add_video(packet)
        data: bytes = packet._data  # type: ignore[attr-defined]  # set by aiortc's receiver
        return False, AudioPacket(data, packet.timestamp, packet.sequence_number, self._clock())

    def _add_video(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        pli, frame = super().add(packet)
        if frame is None and self._origin is not None and self._stalled(packet):
            self._skip_to(packet.timestamp)
            pli = True
        return pli, frame

    def _stalled(self, newest: RtpPacket) -> bool:
        """The oldest frame held is older than the newest packet by over VIDEO_STALL_S (a
        complete frame would have gone on: one of its packets is missing)."""
        assert self._origin is not None
        for count in range(self._capacity):
            held = self._packets[(self._origin + count) % self._capacity]
            if held is not None:
                span = (newest.timestamp - held.timestamp) % (1 << 32)
                return bool(span < (1 << 31) and span > VIDEO_STALL_S * _VIDEO_CLOCK)
        return False

    def _skip_to(self, timestamp: int) -> None:
        """Drop everything held before the first packet of the frame at `timestamp`."""
        assert self._origin is not None
        count = 0
        while count < self._capacity:
            held = self._packets[(self._origin + count) % self._capacity]
            if held is not None and held.timestamp == timestamp:
                break
            count += 1
        self.remove(count)


class OneFramePlayoutBuffer(JitterBuffer):
    """What a phone or browser playing the audio holds: one frame (aiortc's default is 4)."""

    def __init__(self, capacity: int, prefetch: int = 0, is_video: bool = False) -> None:
        super().__init__(
            capacity, prefetch=prefetch if is_video else min(prefetch, 1), is_video=is_video
        )


_aiortc_get_decoder: Callable[[Any], Any] = _receiver.get_decoder  # type: ignore[attr-defined]


def _listening_decoder(codec: Any) -> Any:
    """Opus through ListeningOpusDecoder; every other codec as aiortc decodes it."""
    if str(codec.mimeType).lower() == "audio/opus":
        return ListeningOpusDecoder()
    return _aiortc_get_decoder(codec)


def _declare_fec() -> None:
    """Say in the SDP that the server decodes Opus in-band FEC (RFC 7587 useinbandfec)."""
    for codec in CODECS["audio"]:
        if codec.mimeType.lower() == "audio/opus":
            codec.parameters["useinbandfec"] = 1


def apply(*, listening: bool = True) -> None:
    """Install the server's buffer and decoder (`listening`) or a one-frame playout buffer
    (clients)."""
    if not hasattr(_receiver, "JitterBuffer") or not hasattr(_receiver, "get_decoder"):
        raise RuntimeError(
            "aiortc.rtcrtpreceiver no longer has JitterBuffer/get_decoder; revisit "
            "rtc/transports/tuning.py"
        )
    if not listening:
        _receiver.JitterBuffer = OneFramePlayoutBuffer  # type: ignore[misc]
        _receiver.get_decoder = _aiortc_get_decoder  # type: ignore[attr-defined,assignment]
        return
    _receiver.JitterBuffer = ListeningJitterBuffer  # type: ignore[misc]
    if libopus.available():
        _receiver.get_decoder = _listening_decoder  # type: ignore[attr-defined,assignment]
        _declare_fec()
    else:  # without libopus: in order as it arrives, what is lost is not concealed
        logger.warning("libopus not found: lost audio packets will not be concealed")
