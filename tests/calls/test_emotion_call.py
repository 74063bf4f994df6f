"""Emotion reading through real calls: real photographs as the camera."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from clients.python.client import CallClient, StillImageTrack
from tests.conftest import Server

pytestmark = pytest.mark.models


def astronaut() -> NDArray[np.uint8]:
    from skimage import data

    image: NDArray[np.uint8] = data.astronaut()  # type: ignore[no-untyped-call]
    return image


def two_faces() -> NDArray[np.uint8]:
    """The astronaut's head and a smaller mirrored copy, side by side on a grey wall."""
    head = astronaut()[0:260, 110:330]
    small = np.ascontiguousarray(head[::2, ::-2])
    canvas = np.full((480, 640, 3), 120, dtype=np.uint8)
    canvas[100:360, 40:260] = head
    canvas[150:280, 400:510] = small
    return canvas


async def test_smile_then_nobody_then_two_faces(server: Server) -> None:
    camera = StillImageTrack(astronaut())
    async with CallClient(server.http, video=camera, session={"scenario": "tutor"}) as call:
        created = await call.wait_for("session.created")
        assert created["session"]["emotion"] == {"enabled": True}
        happy = await call.wait_for("emotion.state", timeout=20)
        assert happy["label"] == "happy" and happy["faces"] == 1 and happy["score"] > 0.5
        camera.rgb = np.full((480, 640, 3), 200, dtype=np.uint8)  # the face leaves
        mark = len(call.events)
        gone = await call.wait_for("emotion.state", after=mark, timeout=20)
        assert gone == {**gone, "label": "none", "faces": 0}
        camera.rgb = two_faces()
        mark = len(call.events)
        both = await call.wait_for(
            "emotion.state", lambda e: e["faces"] == 2, after=mark, timeout=20
        )
        assert both["label"] == "happy"
        people = both["people"]
        assert len(people) == 2 and all(p["label"] == "happy" for p in people)
        assert people[0]["box"][2] > people[1]["box"][2]  # largest first


async def test_emotion_is_off_by_default_outside_the_tutor_and_can_be_turned_on(
    server: Server,
) -> None:
    camera = StillImageTrack(astronaut())
    async with CallClient(server.http, video=camera, session={"scenario": "interpreter"}) as call:
        created = await call.wait_for("session.created")
        assert created["session"]["emotion"] == {"enabled": False}
        server_call = server.gateway.registry.calls[0]
        assert not server_call.camera.emotion_enabled
        call.send({"type": "session.update", "session": {"emotion": {"enabled": True}}})
        await call.wait_for("session.updated")
        state = await call.wait_for("emotion.state", timeout=20)
        assert state["label"] == "happy"
