"""The sports explainer through real calls: a broadcast on the camera, questions by voice.

The camera is a video track showing generated broadcast frames (a pitch or a
court with a scoreboard overlay); the test switches to the next frame once the
server has reported what the current one shows, so the score and clock change
under the explainer's eyes without any timing assumptions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from clients.python.client import CallClient, StillImageTrack
from model.audio import resample_int16
from model.embedded.backend import EmbeddedModel
from tests.conftest import Server
from tests.sportgen import basketball_frame, football_frame, tennis_frame

pytestmark = pytest.mark.models

Event = dict[str, Any]


@pytest.fixture(scope="module")
def fan(embedded_model: EmbeddedModel) -> Callable[[str], NDArray[np.int16]]:
    """The fan's voice: the project's own English TTS, cached per sentence."""
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


def observed(kind: str, **expect: Any) -> Callable[[Event], bool]:
    def match(event: Event) -> bool:
        if event.get("kind") != kind:
            return False
        board = event["scoreboard"]
        return all(board.get(k) == v or event.get(k) == v for k, v in expect.items())

    return match


async def ask(
    call: CallClient, question: str, speak: Callable[[str], NDArray[np.int16]] | None = None
) -> tuple[Event, str]:
    """Ask by voice (or typed when `speak` is None); the answer event and its first sentence.

    The answer is cut short (`response.cancel`) once its first sentence is out, so long
    rule explanations do not hold the test for their whole playout.
    """
    mark = len(call.events)
    if speak is not None:
        assert call.mic is not None
        await call.mic.play(speak(question)).wait()
    else:
        call.send_text(question)
    answer = await call.wait_for("explainer.answer", after=mark, timeout=60)
    first = await call.wait_for("response.output_audio_transcript.delta", after=mark, timeout=60)
    if not any(e["type"] == "response.done" for e in call.events[mark:]):
        call.send({"type": "response.cancel"})
    await call.wait_for("response.done", after=mark, timeout=60)
    return answer, str(first["delta"])


async def test_football_score_and_clock_changes_and_spoken_questions(
    server: Server, fan: Callable[[str], NDArray[np.int16]]
) -> None:
    camera = StillImageTrack(football_frame("ARS", "CHE", (0, 0), "23:10", "1H", seed=1))
    async with CallClient(server.http, video=camera, session={"scenario": "explainer"}) as call:
        created = await call.wait_for("session.created")
        assert created["session"]["video"]["fps"] == 2.0
        sport = await call.wait_for("explainer.observation", observed("sport"), timeout=60)
        assert sport["sport"] == "football"  # detected from the scoreboard: a 1H period
        await call.wait_for("explainer.observation", observed("score", score=[0, 0]), timeout=30)
        await call.wait_for("explainer.observation", observed("clock", clock="23:10"), timeout=30)

        mark = len(call.events)
        camera.rgb = football_frame("ARS", "CHE", (1, 0), "24:31", "1H", seed=2)
        goal = await call.wait_for(
            "explainer.observation", observed("score", score=[1, 0]), after=mark, timeout=60
        )
        assert goal["scorer"] == "ARS" and goal["clock"] == "24:31"
        assert "Goal for ARS" in goal["text"]
        clock = await call.wait_for(
            "explainer.observation", observed("clock", clock="24:31"), after=mark, timeout=30
        )
        assert "first half" in clock["text"]

        answer, spoken = await ask(call, "What's the score?", fan)
        assert answer["kind"] == "observation", answer
        assert "ARS 1, CHE 0" in answer["text"] and "ARS lead" in answer["text"]
        assert spoken.strip() and answer["text"].startswith(spoken.strip())
        answer, spoken = await ask(call, "Why was that offside?", fan)
        assert answer["kind"] == "rules" and answer["topic"] == "offside", answer
        assert answer["source"] == "IFAB Laws of the Game 2024/25, Law 11 (Offside)"
        assert "offside" in spoken and answer["text"].startswith(spoken.strip())
        answer, _ = await ask(call, "Who scored?")
        assert answer["kind"] == "observation" and "ARS" in answer["text"]
        assert "24:31" in answer["text"]
        # Every observation reached the client in the order it was made.
        kinds = [e["kind"] for e in call.of_type("explainer.observation")]
        assert kinds.count("score") == 2 and kinds.count("sport") == 1


async def test_basketball_points_quarter_and_rules(server: Server) -> None:
    camera = StillImageTrack(basketball_frame("LAL", "BOS", (88, 91), "Q3", "7:42", 14))
    session = {"scenario": "explainer", "sport": "basketball"}
    async with CallClient(server.http, video=camera, session=session) as call:
        await call.wait_for("explainer.observation", observed("score", score=[88, 91]), timeout=60)
        mark = len(call.events)
        camera.rgb = basketball_frame("LAL", "BOS", (91, 91), "Q4", "9:58", 21, seed=3)
        three = await call.wait_for(
            "explainer.observation", observed("score", score=[91, 91]), after=mark, timeout=60
        )
        assert three["scorer"] == "LAL" and three["points"] == 3
        period = await call.wait_for("explainer.observation", observed("period"), after=mark)
        assert period["scoreboard"]["period"] == "Q4" and "fourth quarter" in period["text"]
        answer, _ = await ask(call, "How long is left?")
        assert answer["kind"] == "observation"
        assert "9:58 left in the fourth quarter" in answer["text"], answer
        answer, _ = await ask(call, "What is a three-pointer?")
        assert answer["kind"] == "rules" and answer["sport"] == "basketball"
        assert answer["source"].startswith("FIBA Official Basketball Rules 2024, Art. 16")
        answer, _ = await ask(call, "What is a foul?")  # the basketball foul, not football's
        assert "FIBA" in answer["source"], answer


async def test_tennis_games_and_sets_and_what_it_cannot_tell(server: Server) -> None:
    camera = StillImageTrack(np.full((360, 640, 3), 30, dtype=np.uint8))
    async with CallClient(server.http, video=camera, session={"scenario": "explainer"}) as call:
        await call.wait_for("session.created")
        answer, spoken = await ask(call, "What's the score?")
        assert answer["kind"] == "unknown" and "can't tell the score" in answer["text"]
        camera.rgb = tennis_frame(("DJOKOVIC", "ALCARAZ"), [(6, 4), (5, 3)], ("40", "30"))
        sport = await call.wait_for("explainer.observation", observed("sport"), timeout=60)
        assert sport["sport"] == "tennis"  # two player rows with set columns and 40-30
        mark = len(call.events)
        camera.rgb = tennis_frame(("DJOKOVIC", "ALCARAZ"), [(6, 4), (6, 3)], ("0", "0"), seed=4)
        won = await call.wait_for(
            "explainer.observation", observed("score", score=[2, 0]), after=mark, timeout=60
        )
        assert won["scorer"] == "DJOKOVIC" and "wins the set" in won["text"]
        assert won["scoreboard"]["sets"] == [[6, 4], [6, 3]]
        answer, _ = await ask(call, "What is a tiebreak?")
        assert answer["kind"] == "rules" and answer["source"].startswith("ITF Rules of Tennis 2025")
        answer, _ = await ask(call, "What colour are his shoes?")
        assert answer["kind"] == "unknown" and "can't tell" in answer["text"]
