"""A still camera picture as the server sees it at the far end of a WebRTC call: every frame
VP8-encoded and decoded with aiortc's own codec (its settings: real-time, constant bit
rate), so the tutor's reader can be tried offline on the frames a real call gives it.

A still page is not decoded as it was sent: the first frames are blurred by the bit rate a
key frame gets, later ones sharpen, and ringing along hard edges (the sheet against the
desk) comes and goes from frame to frame. Encoding is deterministic (one thread at VGA).
"""

from __future__ import annotations

import fractions

import av
import numpy as np
from aiortc.codecs.vpx import Vp8Decoder, Vp8Encoder, VpxPayloadDescriptor
from aiortc.jitterbuffer import JitterFrame
from numpy.typing import NDArray

#: aiortc's starting bit rate (its DEFAULT_BITRATE), before any bandwidth estimate.
START_BITRATE = 500_000
FPS = 15


def through_vp8(
    rgb: NDArray[np.uint8], count: int, bitrate: int = START_BITRATE
) -> list[NDArray[np.uint8]]:
    """`count` decoded frames of a camera that keeps showing `rgb` (H x W x 3) at 15 fps."""
    encoder, decoder = Vp8Encoder(), Vp8Decoder()
    encoder.target_bitrate = bitrate
    out: list[NDArray[np.uint8]] = []
    for index in range(count):
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = index
        frame.time_base = fractions.Fraction(1, FPS)
        payloads, timestamp = encoder.encode(frame, force_keyframe=index == 0)
        data = b"".join(VpxPayloadDescriptor.parse(p)[1] for p in payloads)
        for decoded in decoder.decode(JitterFrame(data=data, timestamp=timestamp)):
            assert isinstance(decoded, av.VideoFrame)
            out.append(np.asarray(decoded.to_ndarray(format="rgb24"), np.uint8))
    return out
