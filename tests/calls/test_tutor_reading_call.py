"""Reading real homework through real calls: a stacked fraction on camera is solved, an
unsure reading is said and asked about and a spoken fix is taken, and on a sheet of
numbered problems the student's "number three" is the one worked on.

The camera is the project's WebRTC client showing a rendered phone photo; the student
speaks with the project's own English voice; the models are the embedded ones.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from numpy.typing import NDArray

from clients.python.client import CallClient, StillImageTrack
from model.audio import resample_int16
from model.embedded.backend import EmbeddedModel
from tests.conftest import Server, wait_until
from tests.imagegen import FONT_DIR, Style, render_problem

pytestmark = pytest.mark.models

PHOTO = Style(
    font=str(FONT_DIR / "DejaVuSerif.ttf"),
    size=44,
    rotation=3.0,
    blur=0.6,
    noise=4.0,
    lined_paper=True,
    light=0.2,
)
SHEET = Style(
    font=str(FONT_DIR / "DejaVuSans.ttf"),
    size=40,
    rotation=-2.0,
    blur=0.5,
    noise=3.0,
    lined_paper=False,
    light=0.15,
    grey_paper=True,
)


@pytest.fixture(scope="module")
def student(embedded_model: EmbeddedModel) -> Callable[[str], NDArray[np.int16]]:
    cache: dict[str, NDArray[np.int16]] = {}

    def say(text: str) -> NDArray[np.int16]:
        if text not in cache:
            cache[text] = np.concatenate(
                [
                    resample_int16(pcm, rate, 48_000)
                    for _, pcm, rate in embedded_model.sentences(text, "en")
                ]
            )
        return cache[text]

    return say


def _spoken(events: list[dict[str, object]]) -> str:
    return " ".join(
        str(e["delta"]) for e in events if e["type"] == "response.output_audio_transcript.delta"
    )


async def page_seen(server: Server) -> None:
    """The call's camera sampler has looked at the page (twice: a sharp frame to read)."""
    await wait_until(lambda: server.gateway.registry.calls[0].camera.samples >= 2, timeout=30)


def _compact(text: object) -> str:
    return str(text).replace(" ", "")


async def test_stacked_fraction_photo_is_read_and_solved(server: Server) -> None:
    camera = StillImageTrack(render_problem([r"\frac{x}{2} + \frac{x}{3} = 10"], PHOTO, seed=3))
    async with CallClient(server.http, video=camera) as call:
        await call.wait_for("session.created")
        await page_seen(server)
        call.send_text("help me solve this")
        problem = await call.wait_for("tutor.problem", timeout=60)
        assert _compact(problem["text"]) == "x/2+x/3=10"
        assert problem["kind"] == "linear_equation"
        assert problem["latex"] == "\\frac{x}{2} + \\frac{x}{3} = 10"
        assert problem["confidence"] >= 0.8 and problem["alternatives"] == []
        await call.wait_for("response.done", timeout=60)
        # Sure of it: no question first, straight into the first step.
        assert len(call.of_type("tutor.step")) == 1
        mark = len(call.events)
        call.send_text("just show me")
        await call.wait_for("response.done", after=mark, timeout=60)
        assert call.of_type("tutor.step")[-1]["math"] == "x = 12"


async def test_unsure_reading_is_asked_and_a_spoken_fix_is_taken(
    server: Server, student: Callable[[str], NDArray[np.int16]]
) -> None:
    # The bar sits far from its numerator and denominator: a fraction, or a minus?
    camera = StillImageTrack(render_problem([r"\wfrac{x}{4} + 3 = 5"], PHOTO, seed=3))
    async with CallClient(server.http, video=camera) as call:
        await call.wait_for("session.created")
        await page_seen(server)
        assert call.mic is not None
        await call.mic.play(student("Can you help me with this?")).wait()
        asked = await call.wait_for("tutor.problem", timeout=60)
        await call.wait_for("response.done", timeout=60)
        assert _compact(asked["text"]) == "x/4+3=5"
        assert asked["confidence"] < 0.8
        assert "x - 4 + 3 = 5" in [a["text"] for a in asked["alternatives"]]
        question = _spoken(call.events)
        assert "x over four plus three equals five" in question and "Is that right?" in question
        assert not call.of_type("tutor.step"), "solved before the student answered"

        mark = len(call.events)
        await call.mic.play(student("No, the bottom is two.")).wait()
        # The VAD may hear "No." and "The bottom is two." as two turns: the tutor then
        # asks about the other reading first, and the fix comes with the second turn.
        fixed = await call.wait_for("tutor.problem", after=mark, timeout=60)
        first_step = await call.wait_for("tutor.step", after=mark, timeout=60)
        heard = [
            e["transcript"]
            for e in call.of_type("conversation.item.input_audio_transcription.completed")
        ]
        assert _compact(fixed["text"]) == "x/2+3=5", heard
        assert fixed["confidence"] == 1.0 and fixed["source"] == "camera"
        assert first_step["index"] == 0
        await call.wait_for("response.done", after=call.events.index(first_step), timeout=60)

        mark = len(call.events)
        call.send_text("just show me")
        await call.wait_for("response.done", after=mark, timeout=60)
        assert call.of_type("tutor.step")[-1]["math"] == "x = 4"


async def test_number_three_on_a_sheet(
    server: Server, student: Callable[[str], NDArray[np.int16]]
) -> None:
    lines = [
        "1.  2x + 3 = 11",
        r"2.  \frac{x − 1}{3} = 4",
        r"3.  x^{2} − 5x + 6 = 0",
        r"4.  \frac{1}{2} + \frac{1}{3}",
    ]
    camera = StillImageTrack(render_problem(lines, SHEET, size=(1280, 720), seed=3))
    async with CallClient(server.http, video=camera) as call:
        await call.wait_for("session.created")
        await page_seen(server)
        assert call.mic is not None
        await call.mic.play(student("Can you help me with number three?")).wait()
        problem = await call.wait_for("tutor.problem", timeout=60)
        await call.wait_for("response.done", timeout=60)
        assert _compact(problem["text"]) == "x^2-5*x+6=0"
        assert problem["sheet"] == {"number": "3", "count": 4}
        said = _spoken(call.events)
        assert "I see 4 problems" in said and "number 3" in said

        # Then, unprompted by a number, the first one not done yet.
        mark = len(call.events)
        call.send_text("just show me")
        await call.wait_for("response.done", after=mark, timeout=60)
        mark = len(call.events)
        call.send_text("the next one")
        following = await call.wait_for("tutor.problem", after=mark, timeout=60)
        assert _compact(following["text"]) == "2*x+3=11"
        assert following["sheet"] == {"number": "1", "count": 4}
