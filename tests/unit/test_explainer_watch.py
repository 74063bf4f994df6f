"""The explainer's watching loop without a call: bursts, newest frame wins, cropped re-reads."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from explainer.scenario import BURST_FPS, ExplainerScenario
from model.base import Capabilities
from model.scenario import VideoSample
from model.types import TextLine
from tests.conftest import wait_until
from tests.fakes import FakeModel, FakeSession
from tests.sportgen import football_frame


class ReadingSession(FakeSession):
    """Reads the scoreboard text the test gave to the frame's gray level (`frame(mark)`)."""

    def __init__(self, texts: dict[int, str]) -> None:
        super().__init__()
        self.texts = texts
        self.shapes: list[tuple[int, ...]] = []
        self.marks: list[int] = []

    async def read_text(self, rgb: NDArray[np.uint8]) -> list[TextLine]:
        self.shapes.append(rgb.shape)
        await asyncio.sleep(0.01)
        self.marks.append(int(rgb[0, 0, 0]) // 60)
        text = self.texts.get(self.marks[-1], "")
        return [TextLine(text, 0.9, (40, 20, 300, 40))] if text else []


class SeeingModel(FakeModel):
    @property
    def capabilities(self) -> Capabilities:
        return dataclasses.replace(super().capabilities, ocr=True)


def frame(mark: int) -> NDArray[np.uint8]:
    return np.full((360, 640, 3), 60 * mark, dtype=np.uint8)


def explainer(session: FakeSession, **config: Any) -> ExplainerScenario:
    return ExplainerScenario(SeeingModel(), session, {"video": {"fps": 2.0}, **config})


def test_a_big_picture_change_bursts_the_frame_rate() -> None:
    scenario = explainer(FakeSession())
    level = np.full((360, 640, 3), 90, dtype=np.uint8)
    scenario.push_video(VideoSample(level, 0.0))
    scenario.push_video(VideoSample(level + 2, 0.5))  # noise, a ticking clock
    assert scenario.video_fps == 2.0
    scenario.push_video(VideoSample(level + 110, 1.0))  # a cut to a replay
    assert scenario.video_fps == BURST_FPS
    # Cheap enough for every sampled frame, on a real broadcast frame too.
    scenario.push_video(VideoSample(football_frame("ARS", "CHE", (0, 0), "1:00", "1H"), 1.5))


async def test_watch_reads_the_newest_frame_and_emits_confirmed_changes() -> None:
    session = ReadingSession({1: "ARS 0-0 CHE 10:00 1H", 2: "ARS 1-0 CHE 11:30 1H"})
    scenario = explainer(session)
    sent: list[tuple[str, Mapping[str, Any]]] = []
    watching = asyncio.create_task(scenario.watch(lambda kind, e: sent.append((kind, e))))
    await asyncio.sleep(0)

    async def show(mark: int, t: float) -> None:
        before = scenario.reads
        await asyncio.to_thread(scenario.push_video, VideoSample(frame(mark), t))
        await wait_until(lambda: scenario.reads > before)

    for t in (0.0, 0.5):
        await show(1, t)
    # Three frames arrive at once: only the newest is read.
    before = scenario.reads
    for mark, t in ((3, 1.0), (3, 1.1), (2, 1.2)):
        scenario.push_video(VideoSample(frame(mark), t))
    await wait_until(lambda: scenario.reads > before)
    await show(2, 1.5)
    assert session.marks == [1, 1, 2, 2]
    kinds = [(e["kind"], e["scoreboard"]["score"]) for _, e in sent]
    assert kinds == [
        ("sport", [0, 0]),
        ("score", [0, 0]),
        ("clock", [0, 0]),
        ("score", [1, 0]),
        ("clock", [1, 0]),
    ]
    assert {kind for kind, _ in sent} == {"explainer.observation"}
    # After the first read, only the scoreboard's corner is read again.
    assert session.shapes[0] == (360, 640, 3) and session.shapes[-1][1] < 640
    await scenario.aclose()
    await asyncio.wait_for(watching, 1.0)


def test_an_unknown_sport_is_refused() -> None:
    try:
        ExplainerScenario.check_config(SeeingModel(), {"sport": "cricket"})
    except Exception as exc:
        assert getattr(exc, "code", None) == "invalid_sport"
    else:
        raise AssertionError("cricket was accepted")
    ExplainerScenario.check_config(SeeingModel(), {"sport": "tennis"})
