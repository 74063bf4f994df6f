"""Translation sessions (`GET /v1/realtime/translations`) through the official `openai` SDK.

The SDK is used as an application would, with only `base_url` changed: it opens a session,
streams a monologue of about 30 s in real time (200 ms appends, as OpenAI asks) and reads
the interpretation as it comes. The monologues are spoken by the embedded model's own
voices; the server runs under uvicorn on a loopback port with the embedded models.
"""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from openai import AsyncOpenAI

from bench.monologues import MONOLOGUES
from model.embedded.backend import EmbeddedModel
from rtc.gateway import Gateway
from rtc.vad import SileroVAD
from tests.callers import live_server

pytestmark = pytest.mark.models

RATE = 24_000
STEP = RATE // 5  # 200 ms


async def monologue(model: EmbeddedModel, language: str, seconds: float) -> NDArray[np.int16]:
    """The benchmark's sentences in `language`, spoken with half-second pauses, 24 kHz."""
    session = model.session()
    pieces: list[NDArray[np.int16]] = []
    total = 0.0
    for text, _ in MONOLOGUES[language]:
        pcm = np.concatenate(
            [c.pcm async for c in session.synthesize(text, language, sample_rate=RATE)]
        )
        pieces += [pcm, np.zeros(RATE // 2, np.int16)]
        total += len(pcm) / RATE + 0.5
        if total >= seconds:
            break
    return np.concatenate(pieces)


@dataclass
class Received:
    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)

    def of(self, kind: str) -> list[tuple[float, dict[str, Any]]]:
        return [(at, e) for at, e in self.events if e["type"] == kind]

    def text(self, kind: str) -> str:
        return "".join(e["delta"] for _, e in self.of(kind))


async def interpret(
    address: str, gateway: Gateway, pcm: NDArray[np.int16], target: str
) -> tuple[Received, float, int]:
    """Stream `pcm` in real time into a translation session; returns what came back, when
    the last append was sent, and how many calls the server had open then."""
    client = AsyncOpenAI(api_key="sk-anything", base_url=f"http://{address}/v1")
    received = Received()
    try:
        async with client.realtime.translations.connect(model="gpt-realtime-translate") as conn:

            async def read() -> None:
                async for event in conn:
                    received.events.append((time.monotonic(), event.to_dict()))

            reader = asyncio.create_task(read())
            await conn.session.update(
                session={
                    "audio": {
                        "output": {"language": target},
                        "input": {"transcription": {"model": "whisper-1"}},
                    }
                }
            )
            started = time.monotonic()
            for i in range(0, len(pcm), STEP):
                # A live microphone: each 200 ms piece once it has been spoken.
                await asyncio.sleep(max(0.0, started + i / RATE - time.monotonic()))
                piece = pcm[i : i + STEP].astype("<i2").tobytes()
                await conn.session.input_audio_buffer.append(audio=base64.b64encode(piece).decode())
            last_append = time.monotonic()
            open_calls = len(gateway.registry)
            await conn.session.close()
            await asyncio.wait_for(reader, 120)
    finally:
        await client.close()
    return received, last_append, open_calls


def check_interpretation(
    received: Received, last_append: float, heard: list[str], said: list[str], target: str
) -> None:
    kinds = [e["type"] for _, e in received.events]
    assert kinds[0] == "session.created" and kinds[-1] == "session.closed"
    assert "error" not in kinds, [e for _, e in received.events if e["type"] == "error"]
    assert received.of("session.updated")[0][1]["session"]["audio"]["output"]["language"] == target
    first_text = received.of("session.output_transcript.delta")[0][0]
    first_voice = received.of("session.output_audio.delta")[0][0]
    # Interpreted while it was still being said: not at the end, not after it.
    assert first_text < last_append and first_voice < last_append
    assert sum(1 for at, _ in received.of("session.output_audio.delta") if at < last_append) > 10
    source = received.text("session.input_transcript.delta").lower()
    output = received.text("session.output_transcript.delta").lower()
    # Whisper base hears espeak's Spanish poorly: most of the words, not all of them.
    assert sum(word in source for word in heard) >= len(heard) * 2 // 3, source
    assert sum(word in output for word in said) >= len(said) * 2 // 3, output
    audio = received.of("session.output_audio.delta")
    assert {e["sample_rate"] for _, e in audio} == {RATE}
    voiced_s = sum(len(base64.b64decode(e["delta"])) // 2 for _, e in audio) / RATE
    assert voiced_s > 10
    elapsed = [e["elapsed_ms"] for _, e in received.events if "elapsed_ms" in e]
    assert elapsed == sorted(elapsed)


async def test_an_english_monologue_is_interpreted_into_spanish_as_it_is_spoken(
    embedded_model: EmbeddedModel, vad: SileroVAD, tmp_path: Path
) -> None:
    pcm = await monologue(embedded_model, "en", 30)
    async with live_server(embedded_model, vad, data_dir=str(tmp_path)) as (address, gateway):
        received, last_append, open_calls = await interpret(address, gateway, pcm, "es")
        assert open_calls == 1 and len(gateway.registry) == 0  # a call, and it ended
        check_interpretation(
            received,
            last_append,
            heard=["brother", "barcelona", "doctor", "train", "children", "football"],
            said=["barcelona", "hermano", "hospital", "tren", "niños", "fútbol"],
            target="es",
        )
        records = gateway.records
        assert records is not None
        calls, _ = await records.list_calls(limit=5)
        assert [c.scenario for c in calls] == ["translation"]
        record = await records.get(calls[0].id)
        assert record is not None
        kept = [e for e in record["entries"] if e["type"] == "translation.done"]
        assert kept and all(e["data"]["target_language"] == "es" for e in kept)


async def test_a_spanish_monologue_is_interpreted_into_english_as_it_is_spoken(
    embedded_model: EmbeddedModel, vad: SileroVAD
) -> None:
    pcm = await monologue(embedded_model, "es", 30)
    async with live_server(embedded_model, vad) as (address, gateway):
        received, last_append, _ = await interpret(address, gateway, pcm, "en")
    check_interpretation(
        received,
        last_append,
        heard=[
            "pueblo",
            "españa",
            "temprano",
            "tomates",
            "patatas",
            "vecinos",
            "invierno",
            "fuego",
        ],
        said=["village", "spain", "early", "tomatoes", "potatoes", "neighbo", "winter", "fire"],
        target="en",
    )
