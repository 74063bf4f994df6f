"""How often the camera path looks for faces: every second, less once nobody is there."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from model.emotion import EmotionState
from model.tone import ToneSession
from model.types import FaceEmotion
from rtc.conversation.camera import (
    EMOTION_FPS,
    IDLE_AFTER_S,
    IDLE_LOOK_S,
    CameraSampler,
    LatestFrame,
)

FRAME = np.zeros((48, 64, 3), np.uint8)
FACE = FaceEmotion(box=(10, 10, 20, 20), label="happy", score=0.9, probabilities={"happy": 0.9})


class FacesOnCue(ToneSession):
    """The tone backend's session, seeing a face only when the test says so."""

    def __init__(self) -> None:
        super().__init__()
        self.face = False

    async def read_faces(self, rgb: NDArray[np.uint8]) -> list[FaceEmotion]:
        return [FACE] if self.face else []


def _sampler(session: FacesOnCue) -> tuple[CameraSampler, list[EmotionState]]:
    states: list[EmotionState] = []

    def on_emotion(state: EmotionState, _: float, __: list[FaceEmotion] | None) -> None:
        states.append(state)

    sampler = CameraSampler(LatestFrame(), session, lambda: None, on_emotion, started_at=0.0)
    sampler.emotion_enabled = True
    return sampler, states


async def _run_for(sampler: CameraSampler, seconds: float) -> list[float]:
    """Drive the sampler's look decision once per sampled frame (1 fps), as `run` does."""
    looked: list[float] = []
    for t in np.arange(0.0, seconds, 1.0):
        now = float(t)
        if now >= sampler._next_look_at:
            await sampler._read_emotion(FRAME, now)
            looked.append(now)
    return looked


async def test_faces_are_looked_for_every_second_while_someone_is_there() -> None:
    session = FacesOnCue()
    session.face = True
    sampler, states = _sampler(session)
    looked = await _run_for(sampler, 30)
    assert len(looked) == 30 * EMOTION_FPS
    assert states[-1].label == "happy"


async def test_with_nobody_there_looks_back_off_and_a_returning_face_is_seen() -> None:
    session = FacesOnCue()
    sampler, states = _sampler(session)
    looked = await _run_for(sampler, 40)
    idle = [t for t in looked if t > IDLE_AFTER_S]
    assert idle and all(b - a >= IDLE_LOOK_S - 1 for a, b in zip(idle, idle[1:], strict=False))
    assert len(idle) <= (40 - IDLE_AFTER_S) / IDLE_LOOK_S + 1
    assert states[-1].label == "none"

    session.face = True  # someone sits down: seen at the next look, then looked at each second
    before = sampler.looks
    for t in np.arange(40.0, 40.0 + IDLE_LOOK_S + 5, 1.0):
        if float(t) >= sampler._next_look_at:
            await sampler._read_emotion(FRAME, float(t))
    assert sampler.looks - before >= 5
    assert sampler.look_interval(40.0 + IDLE_LOOK_S + 5) == 1.0 / EMOTION_FPS
