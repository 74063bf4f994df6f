"""The OpenAI Realtime WebSocket (`GET /v1/realtime`), driven by the official `openai` SDK.

The server runs under uvicorn on a loopback port; the SDK's realtime client connects with
its base URLs pointed at it. The calls are the same scenarios, turn taking and barge-in
as over WebRTC, with audio as base64 PCM16 at 24 kHz.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from openai import AsyncOpenAI
from PIL import Image

from model.audio import resample_int16
from model.embedded.backend import EmbeddedModel
from rtc.vad import SileroVAD
from tests.callers import live_server
from tests.conftest import Clips
from tests.imagegen import CLEAN, render_problem

pytestmark = pytest.mark.models

RATE = 24_000
CHUNK_S = 0.04
LONG_TEXT = (
    "My brother lives in Barcelona and works as a doctor. He has a big house near the sea. "
    "Every summer we visit him with our children."
)


def _client(address: str, api_key: str = "sk-anything") -> AsyncOpenAI:
    return AsyncOpenAI(
        api_key=api_key,
        base_url=f"http://{address}/v1",
        websocket_base_url=f"ws://{address}/v1",
    )


def _pcm24(clip48: NDArray[np.int16]) -> NDArray[np.int16]:
    return resample_int16(clip48, 48_000, RATE)


class Session:
    """Collects every server event; appends microphone audio in real time."""

    def __init__(self, connection: Any) -> None:
        self.conn = connection
        self.events: list[dict[str, Any]] = []
        self._arrived = asyncio.Event()
        self._mic: asyncio.Queue[NDArray[np.int16]] = asyncio.Queue()
        self._tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._talk())]

    async def _read(self) -> None:
        async for event in self.conn:
            self.events.append(event.to_dict())
            self._arrived.set()

    async def _talk(self) -> None:
        """A live microphone: queued speech, else silence, CHUNK_S at a time, paced."""
        step = int(RATE * CHUNK_S)
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        pending = np.zeros(0, dtype=np.int16)
        while True:
            while not self._mic.empty():
                pending = np.concatenate([pending, self._mic.get_nowait()])
            piece, pending = pending[:step], pending[step:]
            if len(piece) < step:
                piece = np.concatenate([piece, np.zeros(step - len(piece), np.int16)])
            audio = base64.b64encode(piece.astype("<i2").tobytes()).decode()
            await self.conn.input_audio_buffer.append(audio=audio)
            next_at += CHUNK_S
            await asyncio.sleep(max(0.0, next_at - loop.time()))

    def say(self, pcm24: NDArray[np.int16]) -> None:
        self._mic.put_nowait(pcm24)

    def of_type(self, kind: str, after: int = 0) -> list[dict[str, Any]]:
        return [e for e in self.events[after:] if e["type"] == kind]

    async def wait_for(
        self, kind: str, after: int = 0, timeout: float = 60.0, where: Any = None
    ) -> dict[str, Any]:
        async def find() -> dict[str, Any]:
            seen = after
            while True:
                for event in self.events[seen:]:
                    if event["type"] == kind and (where is None or where(event)):
                        return event
                seen = len(self.events)
                self._arrived.clear()
                await self._arrived.wait()

        try:
            return await asyncio.wait_for(find(), timeout)
        except TimeoutError:
            types = [
                e["type"] for e in self.events[after:] if not e["type"].endswith("audio.delta")
            ]
            raise AssertionError(f"no {kind} within {timeout}s; got {types}") from None

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


@contextlib.asynccontextmanager
async def realtime(address: str, session: dict[str, Any]) -> AsyncIterator[Session]:
    client = _client(address)
    async with client.realtime.connect(model="gpt-realtime") as connection:
        s = Session(connection)
        try:
            await s.wait_for("session.created", timeout=10)
            await connection.session.update(session=session)  # type: ignore[arg-type]
            await s.wait_for("session.updated", timeout=10)
            yield s
        finally:
            await s.aclose()
    await client.close()


INTERPRETER = {
    "type": "realtime",
    "scenario": "interpreter",
    "languages": ["en", "es"],
    "audio": {
        "input": {
            "format": {"type": "audio/pcm", "rate": RATE},
            "turn_detection": {"type": "server_vad", "silence_duration_ms": 500},
        },
        "output": {"format": {"type": "audio/pcm", "rate": RATE}},
    },
}


async def test_interpreter_turn_over_the_sdk(
    embedded_model: EmbeddedModel, vad: SileroVAD, clips: Clips
) -> None:
    async with (
        live_server(embedded_model, vad) as (address, _),
        realtime(address, INTERPRETER) as s,
    ):
        s.say(_pcm24(clips.spanish))
        started = await s.wait_for("input_audio_buffer.speech_started")
        stopped = await s.wait_for("input_audio_buffer.speech_stopped")
        assert started["item_id"] == stopped["item_id"]
        heard = await s.wait_for("conversation.item.input_audio_transcription.completed")
        assert heard["language"] == "es"
        translation = await s.wait_for("translation.done")
        assert translation["source_language"] == "es"
        assert translation["target_language"] == "en"
        done = await s.wait_for("response.done")
        assert done["response"]["status"] == "completed"
        rid = done["response"]["id"]
        deltas = [e for e in s.of_type("response.output_audio.delta") if e["response_id"] == rid]
        audio = b"".join(base64.b64decode(e["delta"]) for e in deltas)
        seconds = len(audio) / 2 / RATE
        assert seconds > 0.5
        samples = np.frombuffer(audio, dtype="<i2")
        assert np.abs(samples).max() > 1000  # a voice, not silence
        assert s.of_type("response.output_audio_transcript.delta")
        names = [e["type"] for e in s.events]
        # The audio is all sent before its .done, and that before response.done.
        last_delta = max(i for i, e in enumerate(s.events) if e in deltas)
        assert names.index("response.output_audio.done") > last_delta
        assert names.index("response.done") > names.index("response.output_audio.done")
        assert not s.of_type("error")


async def test_tutor_turn_with_an_input_image(
    embedded_model: EmbeddedModel, vad: SileroVAD
) -> None:
    rgb = render_problem(["4x + 1 = 9"], CLEAN, seed=1)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=90)
    url = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()
    tutor = {"type": "realtime", "scenario": "tutor", "audio": {"input": {"turn_detection": None}}}
    async with live_server(embedded_model, vad) as (address, _), realtime(address, tutor) as s:
        await s.conn.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "help me with this"},
                    {"type": "input_image", "image_url": url},
                ],
            }
        )
        await s.conn.response.create()
        problem = await s.wait_for("tutor.problem")
        assert problem["source"] == "image"
        assert problem["text"].replace(" ", "") == "4*x+1=9"
        step = await s.wait_for("tutor.step")
        assert step["index"] == 0 and step["text"]
        done = await s.wait_for("response.done", timeout=90)
        assert done["response"]["status"] == "completed"
        assert s.of_type("response.output_audio.delta")
        # Manual turns: the microphone's silence never started a turn.
        assert not s.of_type("input_audio_buffer.speech_started")
