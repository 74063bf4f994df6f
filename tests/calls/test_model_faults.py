"""A model that raises or hangs: an `error` event and a spoken apology, and the call goes on."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

import pytest

from clients.python.client import CallClient
from model.errors import ModelError
from model.tone import ToneModel, ToneSession
from rtc.conversation.apology import APOLOGY
from rtc.limits import CallLimits
from rtc.vad import SileroVAD
from tests.conftest import Server, servers_for


class FaultyTranslator(ToneSession):
    """The tone backend, whose translation fails for texts that say how."""

    def __init__(self, release: threading.Event) -> None:
        super().__init__()
        self._release = release

    async def translate(self, text: str, source: str, target: str) -> str:
        if "explode" in text:
            raise ModelError("the translator crashed", code="translation_failed")
        if "hang" in text:
            # Stuck in native code in a worker thread, as a wedged model would be.
            await asyncio.to_thread(self._release.wait)
        return await super().translate(text, source, target)


class FaultyModel(ToneModel):
    name = "faulty"

    def __init__(self) -> None:
        self.release = threading.Event()

    def session(self) -> FaultyTranslator:
        return FaultyTranslator(self.release)


@pytest.fixture
async def faulty(vad: SileroVAD) -> AsyncIterator[Server]:
    model = FaultyModel()
    try:
        async with servers_for(model, vad) as factory:
            yield factory(call_limits=CallLimits(model_stall_s=1.0))
    finally:
        model.release.set()  # let the stuck worker thread go


async def _turn(call: CallClient, text: str) -> tuple[dict[str, object], list[dict[str, object]]]:
    mark = len(call.events)
    call.send_text(text)
    done = await call.wait_for("response.done", after=mark, timeout=30)
    return done["response"], call.events[mark:]


@pytest.mark.parametrize(
    ("text", "code"), [("please explode", "translation_failed"), ("please hang", "model_timeout")]
)
async def test_a_failing_model_says_sorry_and_the_next_turn_works(
    faulty: Server, text: str, code: str
) -> None:
    session = {"scenario": "interpreter", "languages": ["en", "es"]}
    async with CallClient(faulty.http, session=session) as call:
        await call.wait_for("session.created")
        response, events = await _turn(call, text)
        assert response["status"] == "failed"
        assert response["status_details"]["error"]["code"] == code  # type: ignore[index]
        kinds = [e["type"] for e in events]
        errors = [e for e in events if e["type"] == "error"]
        assert errors and errors[0]["error"]["code"] == code  # type: ignore[index]
        # The apology is spoken: its words and its audio, before the failed response ends.
        spoken = [
            e["delta"] for e in events if e["type"] == "response.output_audio_transcript.delta"
        ]
        assert APOLOGY in "".join(str(s) for s in spoken)
        assert kinds.index("error") < kinds.index("output_audio_buffer.started")
        assert kinds.index("output_audio_buffer.stopped") < kinds.index("response.done")
        # The call is still up and the next turn is answered.
        response, _ = await _turn(call, "good morning")
        assert response["status"] == "completed"
        assert len(faulty.gateway.registry) == 1
