"""How much camera video a call asks the phone for: what its scenario samples, no more.

A phone sends 15-30 frames a second by default, and the server decodes every one
of them, while the tutor looks at one frame a second and the interpreter at none.
So each call has a ceiling, worked out from the highest rate anything in the call
samples (the scenario, at its busiest, and the face reader):

- frames a second: twice that rate, at least 2, so the frame sampled is never more
  than half a sampling period old; 0 (no video at all) when nothing samples;
- bits a second: enough for that many 640x480 frames to stay sharp for reading
  print (about 60 kbit a frame, on top of 100 kbit);
- height: 480 lines, what the page reader and the face reader use.

The server tells the phone in three ways: the SDP answer (`b=AS`, `b=TIAS` for the
whole call, since SDP is not renegotiated, and `a=framerate` for the opening
scenario), REMB feedback on the camera's RTP (the current bitrate ceiling, which
browsers obey as the top of their own estimate) and `session.video.ceiling` in
`session.created` / `session.updated` (what a client applies to its sender:
`maxFramerate`, `maxBitrate`, `scaleResolutionDownBy`, and `active: false` at 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MIN_FPS = 2.0
"""A camera that is sampled at all sends at least this often."""
MAX_FPS = 15.0
MAX_HEIGHT = 480
BASE_BITRATE = 100_000
BITS_PER_FRAME = 60_000
REMB_FLOOR = 30_000
"""The REMB sent when no video is wanted: browsers go no lower than ~30 kbit/s anyway."""


@dataclass(frozen=True)
class VideoCeiling:
    fps: float
    """Frames a second; 0: send no video."""
    bitrate: int
    """Bits a second."""
    height: int
    """Lines; a taller camera is scaled down by the sender."""

    @property
    def wants_video(self) -> bool:
        return self.fps > 0

    @property
    def feedback_bitrate(self) -> int:
        """What REMB carries: the ceiling, or the floor when no video is wanted."""
        return max(self.bitrate, REMB_FLOOR)

    def as_json(self) -> dict[str, Any]:
        return {"max_fps": self.fps, "max_bitrate": self.bitrate, "max_height": self.height}


def ceiling_for(sampled_fps: float) -> VideoCeiling:
    """The ceiling of a call in which the highest sampling rate is `sampled_fps`."""
    if sampled_fps <= 0:
        return VideoCeiling(fps=0.0, bitrate=0, height=MAX_HEIGHT)
    fps = min(MAX_FPS, max(MIN_FPS, 2.0 * sampled_fps))
    return VideoCeiling(
        fps=fps, bitrate=round(BASE_BITRATE + BITS_PER_FRAME * fps), height=MAX_HEIGHT
    )


CALL_BOUND = ceiling_for(MAX_FPS)
"""The most any scenario may ask for during a call: what the SDP answer allows."""
