"""A translation session's protocol, on the scripted recogniser (no socket, no models)."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest

from model.audio import resample_int16
from rtc.limits import CallLimits
from rtc.metrics import Metrics
from rtc.translation_config import TranslationRules
from rtc.translation_session import TranslationParts, TranslationSession
from tests.speech_fakes import Script, ScriptedModel, words

TEXT = "My brother lives in Barcelona and works as a doctor. He has a big house near the sea."


class Wire:
    def __init__(self) -> None:
        self.closed: str | None = None

    async def flush(self) -> None:
        await asyncio.sleep(0)

    async def close(self, reason: str) -> None:
        self.closed = reason


class Client:
    """A session with a client on the other side: what it sent, what it got."""

    def __init__(self, limits: CallLimits | None = None) -> None:
        self.script = Script(words(TEXT))
        self.model = ScriptedModel(self.script)
        parts = TranslationParts(
            model=self.model,
            rules=TranslationRules(self.model, 3600),
            metrics=Metrics(),
            limits=limits or CallLimits(),
        )
        self.session = TranslationSession(parts, parts.rules.open("gpt-realtime-translate"))
        self.wire = Wire()
        self.events: list[dict[str, Any]] = []
        self.session.start(self.wire)
        self.session.attach(lambda event, _text: self.events.append(dict(event)))

    def send(self, event: Mapping[str, Any]) -> None:
        self.session.receive(json.dumps(event))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]

    async def until(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        async def poll() -> None:
            while not condition():  # noqa: ASYNC110 - the session's tasks make it true
                await asyncio.sleep(0)

        await asyncio.wait_for(poll(), timeout)

    def speak(self, kind: str = "session.input_audio_buffer.append") -> None:
        """The script as 24 kHz PCM16 in 200 ms appends, as the SDK sends it."""
        pcm = resample_int16((self.script.audio * 32767).astype(np.int16), 16_000, 24_000)
        for i in range(0, len(pcm), 4800):
            audio = base64.b64encode(pcm[i : i + 4800].astype("<i2").tobytes()).decode()
            self.send({"type": kind, "audio": audio})


async def test_a_session_interprets_appended_audio_and_closes_when_asked() -> None:
    client = Client()
    created = client.of("session.created")[0]["session"]
    assert created["type"] == "translation" and created["model"] == "gpt-realtime-translate"
    assert created["audio"]["output"]["language"] == "en"
    client.send(
        {
            "type": "session.update",
            "session": {
                "audio": {"output": {"language": "es"}, "input": {"transcription": {"model": "x"}}}
            },
        }
    )
    client.speak()
    client.send({"type": "session.close"})
    await client.until(lambda: client.wire.closed is not None)
    assert client.wire.closed == "client_closed"
    kinds = [e["type"] for e in client.events]
    assert kinds[-1] == "session.closed"
    updated = client.of("session.updated")[0]["session"]
    assert updated["audio"]["output"]["language"] == "es"
    heard = "".join(e["delta"] for e in client.of("session.input_transcript.delta"))
    assert heard == client.script.text
    said = "".join(e["delta"] for e in client.of("session.output_transcript.delta"))
    assert said == " ".join(f"{w}<es>" for w in client.script.text.split())
    audio = client.of("session.output_audio.delta")
    assert audio and {a["sample_rate"] for a in audio} == {24_000}
    assert all(a["format"] == "pcm16" and a["channels"] == 1 for a in audio)
    assert all(len(base64.b64decode(a["delta"])) <= 2 * 4800 for a in audio)
    elapsed = [e["elapsed_ms"] for e in client.events if "elapsed_ms" in e]
    assert elapsed == sorted(elapsed) and all(ms % 200 == 0 for ms in elapsed)
    assert client.session.closed.is_set()


async def test_no_source_transcript_without_transcription() -> None:
    client = Client()
    client.send({"type": "session.update", "session": {"audio": {"output": {"language": "es"}}}})
    client.speak(kind="input_audio_buffer.append")  # the name of the realtime API is taken too
    client.send({"type": "session.close"})
    await client.until(lambda: client.session.closed.is_set())
    assert client.of("session.output_transcript.delta")
    assert client.of("session.input_transcript.delta") == []


@pytest.mark.parametrize(
    ("session", "code"),
    [
        ({"audio": {"output": {"language": "xx"}}}, "unsupported_language"),
        ({"model": "another"}, "invalid_session"),
        ({"type": "realtime"}, "invalid_session"),
        ({"audio": {"input": {"noise_reduction": {"type": "loud"}}}}, "invalid_session"),
        (
            {"audio": {"input": {"noise_reduction": {"type": "far_field", "strength": 3}}}},
            "invalid_session",
        ),
        ({"audio": {"input": {"transcription": "yes"}}}, "invalid_session"),
        ("not an object", "invalid_session"),
    ],
)
async def test_a_refused_update_changes_nothing(session: Any, code: str) -> None:
    client = Client()
    before = client.session.config
    client.send({"type": "session.update", "session": session, "event_id": "evt_1"})
    await client.until(lambda: bool(client.of("error")))
    error = client.of("error")[0]["error"]
    assert (error["code"], error["event_id"]) == (code, "evt_1")
    assert client.session.config == before
    await client.session.close("test")


async def test_noise_reduction_is_stored_and_echoed() -> None:
    client = Client()
    client.send(
        {
            "type": "session.update",
            "session": {"audio": {"input": {"noise_reduction": {"type": "near_field"}}}},
        }
    )
    await client.until(lambda: bool(client.of("session.updated")))
    echoed = client.of("session.updated")[0]["session"]["audio"]["input"]["noise_reduction"]
    assert echoed == {"type": "near_field", "strength": 1.0}
    setting = client.session.config.noise_reduction
    assert setting is not None and (setting.kind, setting.strength) == ("near_field", 1.0)
    await client.session.close("test")


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ({"type": "response.create"}, "unknown_event"),
        ({"type": "session.input_audio_buffer.append", "audio": "%%%"}, "invalid_audio"),
        (
            {
                "type": "session.input_audio_buffer.append",
                "audio": base64.b64encode(b"abc").decode(),
            },
            "invalid_audio",
        ),
        ({"type": "session.input_audio_buffer.append"}, "invalid_event"),
        ({"no": "type"}, "missing_type"),
    ],
)
async def test_events_it_cannot_act_on_get_an_error(message: dict[str, Any], code: str) -> None:
    client = Client()
    client.send(message)
    client.session.receive("{not json")
    client.session.receive(b"\x00binary")
    codes = [e["error"]["code"] for e in client.of("error")]
    assert codes == [code, "invalid_json", "invalid_event"]
    await client.session.close("test")


async def test_too_many_or_too_large_events_are_dropped_but_audio_is_not_rate_limited() -> None:
    client = Client(CallLimits(events_per_second=1, event_burst=2, max_event_bytes=4096))
    for _ in range(5):
        client.send({"type": "session.update", "session": {}})
    client.speak()  # 200 ms appends of 9.6 KB: over the size limit
    client.send({"type": "session.update", "session": {"padding": "x" * 5000}})
    codes = [e["error"]["code"] for e in client.of("error")]
    assert "rate_limit_exceeded" in codes and "event_too_large" in codes
    await client.session.close("test")
    small = Client(CallLimits(events_per_second=1, event_burst=2))
    small.speak()  # dozens of appends a second: audio is exempt from the rate
    assert small.of("error") == []
    await small.session.close("test")
