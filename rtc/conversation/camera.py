"""The camera path: keep the newest frame, sample it at the rate someone needs, read faces."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import av
import numpy as np
from numpy.typing import NDArray

from model.base import OmniSession
from model.emotion import EmotionState, EmotionTracker
from model.errors import ModelError
from model.scenario import Scenario, VideoSample
from model.types import FaceEmotion

logger = logging.getLogger(__name__)

#: Expressions change slowly; one look a second is enough and costs ~8% of a core.
EMOTION_FPS = 1.0
#: With no face for this long (the camera is on the homework, or nobody is there),
#: faces are looked for every IDLE_LOOK_S instead: face detection is the costly part,
#: and a face that comes back is still seen within a few seconds.
IDLE_AFTER_S = 10.0
IDLE_LOOK_S = 3.0


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

    def clear(self) -> None:
        self._frame = None


def to_rgb(frame: av.VideoFrame) -> NDArray[np.uint8]:
    return frame.to_ndarray(format="rgb24").astype(np.uint8, copy=False)


def _convert_and_push(
    frame: av.VideoFrame, now: float, scenario: Scenario | None
) -> tuple[NDArray[np.uint8], VideoSample]:
    sample = VideoSample(rgb=to_rgb(frame), timestamp_s=now)
    if scenario is not None:
        scenario.push_video(sample)
    return sample.rgb, sample


def _no_scenario() -> Scenario | None:
    return None


def _ignore_emotion(
    state: EmotionState, frustrated_s: float, faces: list[FaceEmotion] | None
) -> None:
    pass


class CameraSampler:
    """Hands sampled frames to the scenario and, when enabled, reads the user's expression.

    Frames are converted only when sampled, in a worker thread; between samples
    the newest decoded frame simply replaces the previous one.
    """

    def __init__(
        self,
        latest: LatestFrame,
        session: OmniSession,
        scenario: Callable[[], Scenario | None],
        on_emotion: Callable[[EmotionState, float, list[FaceEmotion] | None], None],
        started_at: float,
    ) -> None:
        self.latest = latest
        self._session = session
        self._scenario = scenario
        self._on_emotion = on_emotion
        self._started_at = started_at
        self.emotion_enabled = False
        self.tracker = EmotionTracker()
        self.looks = 0
        self.samples = 0
        """Frames handed to the scenario so far."""
        self._last_face_at = 0.0  # call time; the call's start counts as a face
        self._next_look_at = 0.0

    def detach(self) -> None:
        """The call has ended: drop the callbacks into it (they would keep it in a cycle)."""
        self._scenario = _no_scenario
        self._on_emotion = _ignore_emotion

    def fps(self) -> float:
        scenario = self._scenario()
        wanted = scenario.video_fps if scenario is not None else 0.0
        if self.emotion_enabled:
            wanted = max(wanted, EMOTION_FPS)
        return wanted

    async def run(self) -> None:
        while True:
            fps = self.fps()
            if fps <= 0:
                await asyncio.sleep(0.5)
                continue
            started = time.monotonic()
            frame = await self.latest.next()
            now = time.monotonic() - self._started_at
            scenario = self._scenario()
            wanted = scenario if scenario is not None and scenario.video_fps > 0 else None
            # Conversion and the scenario's own frame checks (a few ms each) in one thread hop.
            rgb, sample = await asyncio.to_thread(_convert_and_push, frame, now, wanted)
            self.samples += wanted is not None
            if self.emotion_enabled and now >= self._next_look_at:
                await self._read_emotion(rgb, now)
            del rgb, sample  # no frame outlives its sample
            await asyncio.sleep(max(0.0, 1.0 / fps - (time.monotonic() - started)))

    def look_interval(self, now: float) -> float:
        """Seconds until the next look for faces, at call time `now`."""
        idle = now - self._last_face_at >= IDLE_AFTER_S
        return IDLE_LOOK_S if idle else 1.0 / EMOTION_FPS

    async def _read_emotion(self, rgb: NDArray[np.uint8], now: float) -> None:
        try:
            faces = await self._session.read_faces(rgb)
        except ModelError as exc:
            logger.warning("emotion reading off: %s", exc)
            self.emotion_enabled = False
            return
        self.looks += 1
        if faces:
            self._last_face_at = now
        # The sampling loop's own timing is kept: 0.9 s, so a 1 fps loop looks every frame.
        self._next_look_at = now + 0.9 * self.look_interval(now)
        changed = self.tracker.push(faces, now)
        self._on_emotion(
            self.tracker.state,
            self.tracker.frustrated_for(now),
            faces if changed is not None else None,
        )
