"""The Realtime WebSocket's audio formats, manual turns, buffer events, errors and auth.

Driven by the official `openai` SDK (and, for the browser-style subprotocol key, by the
`websockets` package it uses), against the server under uvicorn on a loopback port.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import numpy as np
import pytest
import websockets
from numpy.typing import NDArray

from model.audio import resample_int16
from model.embedded.backend import EmbeddedModel
from rtc import events, g711
from rtc.app import default_scenarios
from rtc.limits import CallLimits
from rtc.vad import SileroVAD
from tests.callers import live_server
from tests.calls.test_realtime_websocket import Session, _client
from tests.conftest import Clips

pytestmark = pytest.mark.models

KEY = "sk-ws-0123456789"
ULAW_RATE = 8_000
MANUAL_ULAW = {
    "type": "realtime",
    "scenario": "interpreter",
    "languages": ["en", "es"],
    "audio": {
        "input": {"format": {"type": "audio/pcmu"}, "turn_detection": None},
        "output": {"format": {"type": "audio/pcmu"}},
    },
}
PINNED = {
    *events.SERVER_EVENTS,
    *default_scenarios().events(),
    events.EMOTION_STATE,
    *events.WEBSOCKET_SERVER_EVENTS,
    *events.EXTRA_EVENTS,
}


@contextlib.asynccontextmanager
async def connected(address: str, api_key: str = "sk-anything") -> AsyncIterator[Session]:
    """A session whose test appends audio itself (Session's live microphone is off)."""
    client = _client(address, api_key)
    async with client.realtime.connect(model="gpt-realtime") as connection:
        session = Session(connection)
        microphone = session._tasks.pop()
        microphone.cancel()
        try:
            await session.wait_for("session.created", timeout=10)
            yield session
        finally:
            await session.aclose()
    await client.close()


def _ulaw(clip48: NDArray[np.int16]) -> bytes:
    return g711.encode(resample_int16(clip48, 48_000, ULAW_RATE), "pcmu")


async def _append(s: Session, raw: bytes) -> None:
    await s.conn.input_audio_buffer.append(audio=base64.b64encode(raw).decode())


def _error_codes(s: Session, after: int = 0) -> list[str]:
    return [e["error"]["code"] for e in s.of_type("error", after)]


async def test_manual_turn_in_g711_with_commit_clear_and_errors(
    embedded_model: EmbeddedModel, vad: SileroVAD, clips: Clips
) -> None:
    async with (
        live_server(embedded_model, vad, call_limits=CallLimits(max_event_bytes=1_000_000)) as (
            address,
            _,
        ),
        connected(address) as s,
    ):
        # The SDK's session.create/update events are what the server checks the formats of.
        await s.conn.session.update(session=MANUAL_ULAW)  # type: ignore[arg-type]
        await s.wait_for("session.updated")
        # Nothing appended: nothing to commit.
        await s.conn.input_audio_buffer.commit()
        empty = await s.wait_for("error")
        assert empty["error"]["code"] == "input_audio_buffer_commit_empty"
        # Not base64 at all.
        await s.conn.send({"type": "input_audio_buffer.append", "audio": "@@not base64@@"})
        bad = await s.wait_for("error", where=lambda e: e["error"]["code"] == "invalid_audio")
        assert "base64" in bad["error"]["message"]
        # More than a minute waiting at once: refused, and the call goes on.
        mark = len(s.events)
        await _append(s, bytes([0xFF]) * (61 * ULAW_RATE))
        full = await s.wait_for("error", after=mark)
        assert full["error"]["code"] == "input_audio_buffer_full"
        # Appended speech, then cleared: a commit after the clear finds nothing.
        speech = _ulaw(clips.spanish)
        piece = ULAW_RATE * 60 // 1000  # 60 ms: a piece being listened to is cut at the clear
        for start in range(0, ULAW_RATE * 600 // 1000, piece):
            await _append(s, speech[start : start + piece])
        mark = len(s.events)
        await s.conn.input_audio_buffer.clear()
        await s.wait_for("input_audio_buffer.cleared", after=mark)
        await s.conn.input_audio_buffer.commit()
        again = await s.wait_for("error", after=mark)
        assert again["error"]["code"] == "input_audio_buffer_commit_empty"
        # The whole utterance, committed by hand, then answered on response.create.
        mark = len(s.events)
        for start in range(0, len(speech), ULAW_RATE // 2):
            await _append(s, speech[start : start + ULAW_RATE // 2])
        await s.conn.input_audio_buffer.commit()
        committed = await s.wait_for("input_audio_buffer.committed", after=mark)
        assert committed["item_id"]
        assert not s.of_type("input_audio_buffer.speech_started")  # no server VAD
        await s.conn.response.create()
        heard = await s.wait_for("conversation.item.input_audio_transcription.completed", mark)
        assert heard["language"] == "es"
        translation = await s.wait_for("translation.done", after=mark)
        assert (translation["source_language"], translation["target_language"]) == ("es", "en")
        done = await s.wait_for("response.done", after=mark, timeout=90)
        assert done["response"]["status"] == "completed"
        rid = done["response"]["id"]
        deltas = [
            e for e in s.of_type("response.output_audio.delta", mark) if e["response_id"] == rid
        ]
        audio = b"".join(base64.b64decode(e["delta"]) for e in deltas)
        assert len(audio) / ULAW_RATE > 0.5  # one byte a sample at 8 kHz
        assert np.abs(g711.decode(audio, "pcmu").astype(np.int32)).max() > 1000
        # With server VAD on, the server commits turns itself.
        mark = len(s.events)
        await s.conn.session.update(
            session={"type": "realtime", "audio": {"input": {"turn_detection": {}}}}  # type: ignore[typeddict-item]
        )
        await s.wait_for("session.updated", after=mark)
        await s.conn.input_audio_buffer.commit()
        refused = await s.wait_for("error", after=mark)
        assert refused["error"]["code"] == "invalid_event"
        # Negative truncation is clamped to the start, never an error.
        mark = len(s.events)
        await s.conn.conversation.item.truncate(
            item_id=deltas[0]["item_id"], content_index=0, audio_end_ms=-50
        )
        truncated = await s.wait_for("conversation.item.truncated", after=mark)
        assert truncated["audio_end_ms"] == 0
        assert _error_codes(s, mark) == []
        sent = {e["type"] for e in s.events}
        assert sent <= PINNED, sent - PINNED


async def test_a_bad_session_format_is_refused_and_the_old_one_kept(
    embedded_model: EmbeddedModel, vad: SileroVAD
) -> None:
    async with live_server(embedded_model, vad) as (address, _), connected(address) as s:
        for fmt, word in (
            ({"type": "audio/opus"}, "audio/pcm"),
            ({"type": "audio/pcm", "rate": 96_000}, "8000 to 48000"),
        ):
            mark = len(s.events)
            await s.conn.send(
                {"type": "session.update", "session": {"audio": {"input": {"format": fmt}}}}
            )
            error = await s.wait_for("error", after=mark)
            assert error["error"]["code"] == "invalid_session"
            assert word in error["error"]["message"]
            assert not s.of_type("session.updated", mark)


async def test_websocket_auth_key_token_and_subprotocol(
    embedded_model: EmbeddedModel, vad: SileroVAD
) -> None:
    async with live_server(embedded_model, vad, api_key=KEY) as (address, _):
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with connected(address, "sk-wrong"):
                pass
        assert refused.value.response.status_code == 401
        async with connected(address, KEY) as s:
            assert s.of_type("session.created")
        async with httpx.AsyncClient(base_url=f"http://{address}") as http:
            issued = await http.post(
                "/v1/realtime/client_secrets",
                json={"session": {"scenario": "tutor"}},
                headers={"Authorization": f"Bearer {KEY}"},
            )
        token = issued.json()["value"]
        async with connected(address, token) as s:
            created = s.of_type("session.created")[0]
            assert created["session"]["scenario"] == "tutor"  # the token's session
        with pytest.raises(websockets.InvalidStatus) as reused:
            async with connected(address, token):
                pass
        assert reused.value.response.status_code == 401
        # Browsers cannot set headers on a WebSocket: the key rides in a subprotocol.
        url = f"ws://{address}/v1/realtime?model=gpt-realtime"
        protocols: Any = ["realtime", f"openai-insecure-api-key.{KEY}"]
        async with websockets.connect(url, subprotocols=protocols) as ws:
            assert ws.subprotocol == "realtime"
            first = await ws.recv()
            assert '"session.created"' in str(first)
