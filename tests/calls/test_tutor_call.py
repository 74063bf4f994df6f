"""The tutor through real calls: the camera shows printed homework, the student talks."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from clients.python.client import CallClient, StillImageTrack
from model.audio import resample_int16
from model.embedded.backend import EmbeddedModel
from tests.conftest import Server, wait_until
from tests.imagegen import CLEAN, FONT_DIR, Style, render_problem

pytestmark = pytest.mark.models

PHOTO = Style(
    font=str(FONT_DIR / "DejaVuSerif.ttf"),
    size=44,
    rotation=4.0,
    blur=0.8,
    noise=6.0,
    lined_paper=True,
    light=0.25,
)
MONO = Style(
    font=str(FONT_DIR / "DejaVuSansMono-Bold.ttf"),
    size=36,
    rotation=-3.0,
    blur=0.5,
    noise=4.0,
    lined_paper=False,
    light=0.1,
)


def _say(model: EmbeddedModel, text: str) -> NDArray[np.int16]:
    """The student's voice: the project's own English TTS (blocking; fine in a fixture)."""
    return np.concatenate(
        [resample_int16(pcm, rate, 48_000) for _, pcm, rate in model.sentences(text, "en")]
    )


@pytest.fixture(scope="module")
def student(embedded_model: EmbeddedModel) -> Callable[[str], NDArray[np.int16]]:
    cache: dict[str, NDArray[np.int16]] = {}

    def say(text: str) -> NDArray[np.int16]:
        if text not in cache:
            cache[text] = _say(embedded_model, text)
        return cache[text]

    return say


@pytest.mark.parametrize(
    ("lines", "style", "expected_text", "kind", "final"),
    [
        (["2x + 3 = 11"], CLEAN, "2*x + 3 = 11", "linear_equation", "x = 4"),
        (["x² − 5x + 6 = 0"], PHOTO, "x^2 - 5*x + 6 = 0", "quadratic_equation", "x = 2 or x = 3"),
        (
            ["2x + y = 7", "x − y = 2"],
            MONO,
            "2*x + y = 7; x - y = 2",
            "linear_system",
            "x = 3; y = 1",
        ),
    ],
)
async def test_camera_problem_is_read_and_solved_step_by_step(
    server: Server,
    lines: list[str],
    style: Style,
    expected_text: str,
    kind: str,
    final: str,
) -> None:
    camera = StillImageTrack(render_problem(lines, style, seed=3))
    async with CallClient(server.http, video=camera) as call:
        created = await call.wait_for("session.created")
        assert created["session"]["scenario"] == "tutor"
        await _camera_seen(server)
        call.send_text("help me solve this")
        problem = await call.wait_for("tutor.problem", timeout=60)
        assert problem["source"] == "camera"
        assert problem["kind"] == kind
        assert problem["text"].replace(" ", "") == expected_text.replace(" ", "")
        first = await call.wait_for("tutor.step")
        assert first["index"] == 0 and not first["final"]
        await call.wait_for("response.done", timeout=60)
        # Socratic: one step at a time; "just show me" gives the rest.
        assert len(call.of_type("tutor.step")) == 1
        mark = len(call.events)
        call.send_text("just show me")
        await call.wait_for("response.done", after=mark, timeout=60)
        steps = call.of_type("tutor.step")
        assert steps[-1]["final"] is True
        assert steps[-1]["math"].replace(" ", "") == final.replace(" ", "")
        assert [s["index"] for s in steps] == list(range(len(steps)))


async def test_spoken_help_and_spoken_answers_are_checked(
    server: Server, student: Callable[[str], NDArray[np.int16]]
) -> None:
    camera = StillImageTrack(render_problem(["3x - 4 = 11"], PHOTO, seed=5))
    async with CallClient(server.http, video=camera) as call:
        await call.wait_for("session.created")
        await _camera_seen(server)
        assert call.mic is not None
        await call.mic.play(student("Can you help me with this?")).wait()
        problem = await call.wait_for("tutor.problem", timeout=60)
        assert problem["text"].replace(" ", "") == "3*x-4=11"
        await call.wait_for("response.done", timeout=60)
        mark = len(call.events)
        await call.mic.play(student("Is it x equals six?")).wait()
        await call.wait_for("response.done", after=mark, timeout=60)
        heard = [
            e["transcript"]
            for e in call.of_type("conversation.item.input_audio_transcription.completed")
        ]
        checks = [e for e in call.events[mark:] if e["type"] == "tutor.check"]
        assert checks, f"no tutor.check; heard {heard}"
        wrong = checks[0]
        assert wrong["correct"] is False
        mark = len(call.events)
        await call.mic.play(student("x equals five.")).wait()
        try:
            right = await call.wait_for("tutor.check", after=mark, timeout=60)
        except TimeoutError:
            raise AssertionError(f"no tutor.check; events {call.events[mark:]}") from None
        assert right["correct"] is True, right
        assert call.received.voiced_seconds() > 2.0


async def test_problem_sent_as_an_input_image_is_recorded(
    make_server: Callable[..., Server], tmp_path: Path
) -> None:
    server = make_server(data_dir=str(tmp_path))
    rgb = render_problem(["4x + 1 = 9"], CLEAN, seed=1)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=90)
    encoded = base64.b64encode(buffer.getvalue()).decode()
    async with CallClient(server.http) as call:
        await call.wait_for("session.created")
        call.send_text("help me with this", image_url="data:image/jpeg;base64," + encoded)
        problem = await call.wait_for("tutor.problem", timeout=60)
        assert problem["source"] == "image"
        assert problem["text"].replace(" ", "") == "4*x+1=9"
        step = await call.wait_for("tutor.step", timeout=60)
        assert call.location is not None
        call_id = call.location.rsplit("/", 1)[1]
    await wait_until(lambda: len(server.gateway.registry) == 0)
    # The tutor's problem and steps are in the call's record, the page's image is not.
    got = await server.http.get(f"/v1/conversations/{call_id}")
    assert got.status_code == 200, got.text
    entries = got.json()["entries"]
    recorded = {e["type"]: e["data"] for e in reversed(entries)}
    assert recorded["tutor.problem"]["text"] == problem["text"]
    assert recorded["tutor.step"]["text"] == step["text"]
    assert encoded[:64] not in got.text


async def test_typed_problem_and_an_unreadable_page(server: Server) -> None:
    blank = np.full((480, 640, 3), 235, dtype=np.uint8)
    async with CallClient(server.http, video=StillImageTrack(blank)) as call:
        await call.wait_for("session.created")
        await _camera_seen(server)
        call.send_text("help me with this")
        await call.wait_for("response.done", timeout=60)
        assert not call.of_type("tutor.problem")  # no guessing
        spoken = " ".join(
            e["delta"] for e in call.of_type("response.output_audio_transcript.delta")
        )
        assert "closer" in spoken
        mark = len(call.events)
        call.send_text("solve 5x - 2 = 13")
        problem = await call.wait_for("tutor.problem", after=mark, timeout=60)
        assert problem["source"] == "text"
        assert problem["text"].replace(" ", "") == "5*x-2=13"


async def _camera_seen(server: Server, frames: int = 2) -> None:
    """The tutor has been shown a few camera frames (sampled at 1 fps)."""
    call = server.gateway.registry.calls[0]
    await wait_until(lambda: call.camera.samples >= frames, timeout=20)
