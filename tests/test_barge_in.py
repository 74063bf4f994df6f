"""Barge-in through real calls: talking over the answer stops it at once; noise does not."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from clients.python.client import CallClient
from tests.conftest import Clips, Server, wait_until

pytestmark = pytest.mark.models
INTERPRETER = {"scenario": "interpreter", "languages": ["en", "es"]}
LONG_TEXT = (
    "My brother lives in Barcelona and works as a doctor. He has a big house near the sea. "
    "Every summer we visit him with our children."
)


async def _start_long_answer(call: CallClient) -> dict[str, object]:
    await call.wait_for("session.created")
    call.send_text(LONG_TEXT)
    started = await call.wait_for("output_audio_buffer.started")
    await asyncio.sleep(1.0)  # well into the answer
    return started


async def test_speaking_over_the_answer_cancels_it_and_silences_the_audio(
    server: Server, clips: Clips
) -> None:
    async with CallClient(server.http, session=INTERPRETER) as call:
        started = await _start_long_answer(call)
        response_id = started["response_id"]
        assert call.mic is not None
        mark = len(call.events)
        onset = time.monotonic()
        call.mic.play(clips.english)
        speech = await call.wait_for("input_audio_buffer.speech_started", after=mark)
        cleared = await call.wait_for("output_audio_buffer.cleared", after=mark)
        assert cleared["response_id"] == response_id
        done = await call.wait_for(
            "response.done", lambda e: e["response"]["id"] == response_id, after=mark
        )
        assert done["response"]["status"] == "cancelled"
        # Interruption is decided at speech onset, before the interrupting utterance ends.
        stopped = await call.wait_for("input_audio_buffer.speech_stopped", after=mark)
        assert call.events.index(cleared) < call.events.index(stopped)
        assert call.event_time(speech) >= onset
        # The received voice went quiet after the onset (the first answer was cut, not drained).
        quiet = call.received.silent_since(onset, hold_s=0.3)
        assert quiet is not None
        # The interrupting utterance is then answered normally.
        await call.wait_for("translation.done", after=mark)
        # The conversation keeps only what was played of the cancelled answer.
        server_call = server.gateway.registry.calls[0]
        items = [i for i in server_call.model_session.conversation.items if i.role == "assistant"]
        cut = items[0]
        assert cut.status == "incomplete"
        assert 0 < cut.audio_ms < sum(p.duration_ms for p in cut.parts) + 1
        assert len(cut.text) < len(
            "Mi hermano vive en Barcelona y trabaja como médico. Tiene una casa grande cerca del mar. Cada verano lo visitamos con nuestros niños."
        )


async def test_a_short_noise_burst_does_not_cancel_the_answer(server: Server) -> None:
    async with CallClient(server.http, session=INTERPRETER) as call:
        started = await _start_long_answer(call)
        response_id = started["response_id"]
        assert call.mic is not None
        rng = np.random.default_rng(7)
        burst = (rng.standard_normal(int(0.12 * 48_000)) * 6000).astype(np.int16)
        mark = len(call.events)
        await call.mic.play(burst).wait()
        done = await call.wait_for(
            "response.done", lambda e: e["response"]["id"] == response_id, after=mark, timeout=60
        )
        assert done["response"]["status"] == "completed"
        assert not call.of_type("output_audio_buffer.cleared")


async def test_response_cancel_from_the_client(server: Server) -> None:
    async with CallClient(server.http, session=INTERPRETER) as call:
        started = await _start_long_answer(call)
        call.send({"type": "response.cancel"})
        done = await call.wait_for("response.done")
        assert done["response"]["id"] == started["response_id"]
        assert done["response"]["status"] == "cancelled"
        assert call.of_type("output_audio_buffer.cleared")
        # The client may truncate further, to what its own speaker really played.
        item_id = call.of_type("response.output_audio_transcript.delta")[0]["item_id"]
        call.send(
            {
                "type": "conversation.item.truncate",
                "item_id": item_id,
                "content_index": 0,
                "audio_end_ms": 0,
            }
        )
        truncated = await call.wait_for("conversation.item.truncated")
        assert truncated["item_id"] == item_id and truncated["audio_end_ms"] == 0
        item = server.gateway.registry.calls[0].model_session.conversation.get(item_id)
        assert item is not None and item.text == "" and item.status == "incomplete"
        await wait_until(lambda: call.received.silent_since(call.event_time(done), 0.3) is not None)
