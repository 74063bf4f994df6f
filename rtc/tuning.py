"""aiortc defaults tuned for a server that listens to the caller rather than playing them.

aiortc holds 4 incoming audio frames (80 ms) in its jitter buffer before it
decodes the first, to smooth playout. The server never plays the caller's
audio; it only needs packets in order, so it keeps one frame of reordering
and gives the VAD the audio 60 ms sooner. That is 60 ms off every barge-in
and every answer. aiortc exposes no setting for this, so the receiver
module's JitterBuffer name is replaced once, at import of the gateway.
"""

from __future__ import annotations

import aiortc.rtcrtpreceiver as _receiver
from aiortc.jitterbuffer import JitterBuffer

LISTENING_AUDIO_PREFETCH = 1


class ListeningJitterBuffer(JitterBuffer):
    def __init__(self, capacity: int, prefetch: int = 0, is_video: bool = False) -> None:
        if not is_video:
            prefetch = min(prefetch, LISTENING_AUDIO_PREFETCH)
        super().__init__(capacity, prefetch=prefetch, is_video=is_video)


def apply() -> None:
    if not hasattr(_receiver, "JitterBuffer"):
        raise RuntimeError(
            "aiortc.rtcrtpreceiver no longer has JitterBuffer; revisit rtc/tuning.py"
        )
    _receiver.JitterBuffer = ListeningJitterBuffer  # type: ignore[misc]
