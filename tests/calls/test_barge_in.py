"""Barge-in through real calls: talking over the answer stops it at once; noise does not."""

from __future__ import annotations

import numpy as np
import pytest

from clients.python.client import CallClient
from tests.conftest import Server, wait_until

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
    await wait_until(lambda: call.received.voiced_seconds() >= 1.0)  # well into the answer
    return started


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
