"""Real calls through the interpreter: speech in, transcription, translation and voice out."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pytest

from clients.python.client import CallClient
from tests.conftest import Clips, Server

pytestmark = pytest.mark.models
INTERPRETER = {"scenario": "interpreter", "languages": ["en", "es"]}


async def _say(call: CallClient, pcm: np.ndarray) -> float:
    assert call.mic is not None
    await (call.mic.play(pcm)).wait()
    return time.monotonic()


async def test_english_utterance_is_translated_to_spanish_and_spoken(
    server: Server, clips: Clips
) -> None:
    async with CallClient(server.http, session=INTERPRETER) as call:
        created = await call.wait_for("session.created")
        assert created["session"]["scenario"] == "interpreter"
        spoke_at = await _say(call, clips.english)
        transcription = await call.wait_for("conversation.item.input_audio_transcription.completed")
        assert transcription["language"] == "en"
        assert "coffee" in transcription["transcript"].lower()
        done = await call.wait_for("translation.done")
        assert done["source_language"] == "en" and done["target_language"] == "es"
        assert done["item_id"] == transcription["item_id"]
        assert "café" in done["text"].lower()
        response_done = await call.wait_for("response.done")
        assert response_done["response"]["status"] == "completed"
        assert call.received.first_voice_after(spoke_at) is not None
        assert call.received.voiced_seconds(spoke_at) > 1.0
        kinds = [e["type"] for e in call.events]
        order = [
            "input_audio_buffer.speech_started",
            "input_audio_buffer.speech_stopped",
            "response.created",
            "response.output_audio_transcript.delta",
            "output_audio_buffer.started",
            "output_audio_buffer.stopped",
            "response.output_audio_transcript.done",
            "response.done",
        ]
        positions = [kinds.index(k) for k in order]
        assert positions == sorted(positions), kinds


async def test_typed_text_is_translated(server: Server) -> None:
    async with CallClient(server.http, session=INTERPRETER) as call:
        await call.wait_for("session.created")
        call.send_text("¿Dónde está la estación de tren?")
        done = await call.wait_for("translation.done")
        assert done["source_language"] == "es"
        assert "station" in done["text"].lower()
        await call.wait_for("response.done")


async def test_unsupported_language_pair_is_refused_with_the_pairs_we_can_do(
    make_server: Callable[..., Server],
) -> None:
    server = make_server()
    async with CallClient(server.http, session=INTERPRETER) as call:
        await call.wait_for("session.created")
        call.send({"type": "session.update", "session": {"languages": ["en", "ja"]}})
        error = await call.wait_for("error")
        assert error["error"]["code"] == "unsupported_language_pair"
        assert "en<->es" in error["error"]["message"]
        # The session is unchanged and the call still works.
        call.send({"type": "session.update", "session": {"languages": ["es", "en"]}})
        updated = await call.wait_for("session.updated")
        assert updated["session"]["languages"] == ["es", "en"]
