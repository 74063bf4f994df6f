"""What a call does, whatever carries it: every test runs over WebRTC and the Realtime
WebSocket, against a real server (uvicorn on loopback) and the embedded models."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import pytest

from model.embedded.backend import EmbeddedModel
from rtc.gateway import Gateway
from rtc.vad import SileroVAD
from tests.callers import TRANSPORTS, Caller, calling, live_server
from tests.conftest import LONG_SPANISH_SOURCE, Clips, wait_until

pytestmark = pytest.mark.models

INTERPRETER = {"scenario": "interpreter", "languages": ["en", "es"]}


@pytest.fixture
async def served(
    embedded_model: EmbeddedModel, vad: SileroVAD
) -> AsyncIterator[tuple[str, Gateway]]:
    async with live_server(embedded_model, vad) as server:
        yield server


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


async def _long_answer(call: Caller, seconds: float = 1.0) -> str:
    """Ask for a long answer and wait until `seconds` of it were heard; its response id."""
    call.send(
        {
            "type": "conversation.item.create",
            "item": {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": LONG_SPANISH_SOURCE}
            ]},
        }
    )  # fmt: skip
    call.send({"type": "response.create"})
    started = await call.wait_for("output_audio_buffer.started", timeout=60)
    await wait_until(lambda: call.received.voiced_seconds() >= seconds, timeout=30)
    return str(started["response_id"])


async def test_a_spoken_turn_is_heard_translated_and_voiced(
    served: tuple[str, Gateway], transport: str, clips: Clips
) -> None:
    address, _ = served
    async with calling(transport, address, INTERPRETER) as call:
        said_at = await call.say(clips.spanish)
        heard = await call.wait_for("conversation.item.input_audio_transcription.completed")
        assert heard["language"] == "es" and "café" in heard["transcript"].lower()
        done = await call.wait_for("translation.done")
        assert (done["source_language"], done["target_language"]) == ("es", "en")
        assert "coffee" in done["text"].lower()
        answer = await call.wait_for(
            "response.done", lambda e: e["response"]["status"] == "completed", timeout=60
        )
        kinds = [e["type"] for e in call.events if not e["type"].endswith("audio.delta")]
        order = [
            "input_audio_buffer.speech_started",
            "input_audio_buffer.speech_stopped",
            "response.created",
            "output_audio_buffer.started",
            "output_audio_buffer.stopped",
            "response.done",
        ]
        positions = [kinds.index(k) for k in order]
        assert positions == sorted(positions), kinds
        assert (
            answer["response"]["id"]
            == call.of_type("output_audio_buffer.stopped")[-1]["response_id"]
        )
        assert call.received.voiced_seconds(said_at) > 0.5
        assert not call.of_type("error")


async def test_speaking_over_the_answer_interrupts_it(
    served: tuple[str, Gateway], transport: str, clips: Clips
) -> None:
    address, gateway = served
    async with calling(transport, address, INTERPRETER) as call:
        response_id = await _long_answer(call)
        mark = len(call.events)
        onset = asyncio.get_running_loop().time()
        speaking = asyncio.create_task(call.say(clips.english))
        await call.wait_for("input_audio_buffer.speech_started", after=mark)
        cleared = await call.wait_for("output_audio_buffer.cleared", after=mark)
        assert cleared["response_id"] == response_id
        done = await call.wait_for(
            "response.done", lambda e: e["response"]["id"] == response_id, after=mark
        )
        assert done["response"]["status"] == "cancelled"
        # Decided at speech onset, before the interrupting utterance ends.
        stopped = await call.wait_for("input_audio_buffer.speech_stopped", after=mark)
        assert call.events.index(cleared) < call.events.index(stopped)
        assert call.received.silent_since(onset, hold_s=0.3) is not None
        await speaking
        # The interruption is answered in its own right.
        await call.wait_for("translation.done", after=mark, timeout=60)
        cut = [
            item
            for c in gateway.registry.calls
            for item in c.model_session.conversation.items
            if item.role == "assistant" and item.status == "incomplete"
        ]
        assert cut, "the cancelled answer is kept as what was heard of it"


async def test_cancel_clear_and_truncate_from_the_client(
    served: tuple[str, Gateway], transport: str
) -> None:
    address, _ = served
    async with calling(transport, address, INTERPRETER) as call:
        response_id = await _long_answer(call, seconds=0.5)
        mark = len(call.events)
        call.send({"type": "response.cancel"})
        call.send({"type": "output_audio_buffer.clear"})  # as OpenAI's docs pair them
        done = await call.wait_for("response.done", after=mark)
        assert (done["response"]["id"], done["response"]["status"]) == (response_id, "cancelled")
        cleared = await call.wait_for("output_audio_buffer.cleared", after=mark)
        assert cleared["response_id"] == response_id
        item_id = call.of_type("response.output_audio_transcript.delta")[0]["item_id"]
        # Past what was sent is clamped to it; a client may cut to what it really played.
        call.send(
            {
                "type": "conversation.item.truncate",
                "item_id": item_id,
                "content_index": 0,
                "audio_end_ms": 10_000_000,
            }
        )
        clamped = await call.wait_for("conversation.item.truncated", after=mark)
        assert 0 < clamped["audio_end_ms"] < 10_000_000
        call.send({"type": "conversation.item.truncate", "item_id": item_id, "audio_end_ms": 0})
        cut = await call.wait_for(
            "conversation.item.truncated", lambda e: e["audio_end_ms"] == 0, after=mark
        )
        assert cut["item_id"] == item_id
        call.send({"type": "response.cancel"})
        refused = await call.wait_for("error", after=mark)
        assert refused["error"]["code"] == "response_cancel_not_active"


async def test_scenario_events_and_a_session_update(
    served: tuple[str, Gateway], transport: str
) -> None:
    address, _ = served
    async with calling(transport, address, INTERPRETER) as call:
        mark = len(call.events)
        call.send({"type": "session.update", "session": {"scenario": "tutor"}})
        updated = await call.wait_for("session.updated", after=mark)
        assert updated["session"]["scenario"] == "tutor"
        assert updated["session"]["video"]["fps"] == 1.0  # the tutor's own camera rate
        call.send(
            {
                "type": "conversation.item.create",
                "item": {"type": "message", "role": "user", "content": [
                    {"type": "input_text", "text": "Solve 2x + 3 = 11"}
                ]},
            }
        )  # fmt: skip
        call.send({"type": "response.create"})
        problem = await call.wait_for("tutor.problem")
        assert problem["text"].replace(" ", "") == "2*x+3=11" and problem["source"] == "text"
        step = await call.wait_for("tutor.step")
        assert step["index"] == 0
        await call.wait_for("response.done", timeout=60)
        assert not call.of_type("error")


async def test_the_simultaneous_interpreter_speaks_while_they_talk(
    served: tuple[str, Gateway], transport: str, clips: Clips
) -> None:
    """`interpretation: "simultaneous"`: every chunk of the call's audio goes to the
    interpreter, which voices segments as it goes; no turns, no responses."""
    address, _ = served
    session = {**INTERPRETER, "interpretation": "simultaneous"}
    pause = np.zeros(int(1.5 * 48_000), np.int16)
    async with calling(transport, address, session) as call:
        await call.say(np.concatenate([clips.english, pause, clips.spanish, pause]))
        english = await call.wait_for("translation.done", lambda e: e["source_language"] == "en")
        spanish = await call.wait_for(
            "translation.done", lambda e: e["source_language"] == "es", timeout=60
        )
        assert english["target_language"] == "es" and spanish["target_language"] == "en"
        heard = [e["language"] for e in call.of_type("translation.input.delta")]
        assert heard[0] == "en" and heard[-1] == "es", heard
        said = " ".join(e["delta"] for e in call.of_type("translation.output.delta")).lower()
        assert "café" in said and "coffee" in said, said
        await wait_until(lambda: call.received.voiced_seconds() >= 1.0, timeout=30)
        # Listening continuously is not turn taking: nothing was a turn or a response.
        for kind in ("input_audio_buffer.speech_started", "response.created"):
            assert call.of_type(kind) == [], kind

        # Back to turns mid-call: the next utterance is a turn again.
        call.send({"type": "session.update", "session": {"interpretation": "turns"}})
        await call.wait_for("session.updated", lambda e: e["session"]["interpretation"] == "turns")
        await call.say(clips.spanish)
        turn = await call.wait_for("conversation.item.input_audio_transcription.completed")
        assert turn["language"] == "es"
