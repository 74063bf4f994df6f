"""Conversation records: written as the call goes, read back through the API, expired."""

from __future__ import annotations

import asyncio
import base64
import functools
import io
import sqlite3
import time
import wave
from collections.abc import Callable
from pathlib import Path

from clients.python.client import CallClient
from model.tone import ToneModel
from rtc import cli
from rtc.app import create_app
from rtc.config import ServerConfig
from rtc.records import INTERRUPTED, ConversationStore
from rtc.vad import SileroVAD
from tests.conftest import Clips, Server, wait_until
from tests.sdp import assert_error

KEY = "sk-records"
PIXEL = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64).decode()


async def test_store_uses_wal_and_marks_unfinished_calls_interrupted(tmp_path: Path) -> None:
    now = [1000.0]
    path = tmp_path / "r.sqlite3"
    store = ConversationStore(path, clock=lambda: now[0])
    store.call_started("rtc_a", "tutor")
    store.add("rtc_a", "tutor.problem", {"text": "2*x = 4"})
    now[0] += 5
    store.add("rtc_a", "tutor.step", {"index": 0, "text": "divide by 2"})
    store.close_sync()  # the process "dies" with rtc_a still open
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        db.close()

    store = ConversationStore(path, clock=lambda: now[0])
    try:
        record = await store.get("rtc_a")
        assert record is not None
        assert record["end_reason"] == INTERRUPTED
        assert record["ended_at"] == 1005.0  # the last thing it wrote
        assert [e["type"] for e in record["entries"]] == ["tutor.problem", "tutor.step"]
        assert record["entries"][0]["data"] == {"text": "2*x = 4"}
        store.add("rtc_a", "tutor.check", {"correct": True})  # not a live call here: ignored
        assert (await store.get("rtc_a") or {})["entries"][-1]["type"] == "tutor.step"
    finally:
        await store.aclose()


async def test_retention_deletes_old_records_but_not_live_calls(tmp_path: Path) -> None:
    now = [0.0]
    store = ConversationStore(tmp_path / "r.sqlite3", clock=lambda: now[0])
    try:
        store.call_started("rtc_old", None)
        store.call_ended("rtc_old", "client_hangup")
        store.call_started("rtc_live", None)
        now[0] = 40 * 86_400.0
        store.call_started("rtc_new", None)
        store.call_ended("rtc_new", "client_hangup")
        assert await store.purge(30) == 1
        calls, more = await store.list_calls()
        assert {c.id for c in calls} == {"rtc_live", "rtc_new"} and not more
        assert [c.id for c in (await store.list_calls(limit=1))[0]] == ["rtc_new"]
        assert await store.delete("rtc_new") and not await store.delete("rtc_new")
    finally:
        await store.aclose()


async def test_a_call_is_recorded_and_read_back(
    make_tone_server: Callable[..., Server], tmp_path: Path
) -> None:
    server = make_tone_server(data_dir=str(tmp_path), api_key=KEY)
    auth = {"Authorization": f"Bearer {KEY}"}
    http = server.client(auth)
    async with CallClient(
        http, session={"scenario": "interpreter", "languages": ["en", "es"]}
    ) as call:
        await call.wait_for("session.created")
        call.send_text("Good night.")
        await call.wait_for("response.done", timeout=30)
        call.send(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "look"},
                        {"type": "input_image", "image_url": f"data:image/png;base64,{PIXEL}"},
                    ],
                },
            }
        )
        call.send({"type": "nope"})
        await call.wait_for("error")
        assert call.location is not None
        call_id = call.location.rsplit("/", 1)[1]
    await wait_until(lambda: len(server.gateway.registry) == 0)

    assert_error(
        await server.http.get(f"/v1/conversations/{call_id}"), 401, "missing_authorization"
    )
    got = await http.get(f"/v1/conversations/{call_id}")
    assert got.status_code == 200, got.text
    record = got.json()
    assert record["id"] == call_id
    assert record["end_reason"] == "client_hangup"
    assert record["scenario"] == "interpreter"
    kinds = [e["type"] for e in record["entries"]]
    assert kinds[0] == "session.created"
    assert "translation.done" in kinds and "response.done" in kinds
    assert "output_audio_buffer.started" not in kinds  # only what was said, not how
    assert [e["seq"] for e in record["entries"]] == list(range(1, len(kinds) + 1))
    typed = [e["data"] for e in record["entries"] if e["type"] == "conversation.item.create"]
    assert typed[0] == {"item_id": typed[0]["item_id"], "text": "Good night.", "image": False}
    assert typed[1]["image"] is True
    assert PIXEL not in got.text  # images are never stored
    errors = [e["data"]["error"]["code"] for e in record["entries"] if e["type"] == "error"]
    assert errors == ["unknown_event"]
    done = next(e["data"] for e in record["entries"] if e["type"] == "response.done")
    assert set(done["response"]) <= {"id", "status", "status_details"}

    listed = (await http.get("/v1/conversations?limit=5")).json()
    assert listed["object"] == "list" and listed["has_more"] is False
    assert listed["data"][0]["id"] == call_id and listed["data"][0]["entries"] == len(kinds)
    assert_error(await http.get("/v1/conversations?limit=0"), 400, "invalid_request")
    assert (await http.delete(f"/v1/conversations/{call_id}")).status_code == 204
    assert_error(await http.get(f"/v1/conversations/{call_id}"), 404, "conversation_not_found")
    assert_error(await http.delete(f"/v1/conversations/{call_id}"), 404, "conversation_not_found")
    await http.aclose()


async def test_records_can_be_switched_off(make_tone_server: Callable[..., Server]) -> None:
    server = make_tone_server()
    assert_error(await server.http.get("/v1/conversations"), 404, "records_disabled")


async def test_speech_is_recorded_only_when_configured(
    make_tone_server: Callable[..., Server], tmp_path: Path, clips: Clips
) -> None:
    for record_audio in (False, True):
        data_dir = tmp_path / str(record_audio)
        server = make_tone_server(data_dir=str(data_dir), record_audio=record_audio)
        async with CallClient(server.http, session={"scenario": "interpreter"}) as call:
            await call.wait_for("session.created")
            assert call.mic is not None
            await call.mic.play(clips.english).wait()
            heard = await call.wait_for(
                "conversation.item.input_audio_transcription.completed", timeout=30
            )
            await call.wait_for("response.done", timeout=30)
            assert call.location is not None
            call_id = call.location.rsplit("/", 1)[1]
        await wait_until(lambda: len(server.gateway.registry) == 0)  # noqa: B023
        record = (await server.http.get(f"/v1/conversations/{call_id}")).json()
        audio = [e["data"] for e in record["entries"] if e["type"] == "input_audio.recorded"]
        if not record_audio:
            assert audio == []
            continue
        assert [a["item_id"] for a in audio] == [heard["item_id"]]
        prefix = "data:audio/wav;base64,"
        assert audio[0]["audio"].startswith(prefix)
        with wave.open(io.BytesIO(base64.b64decode(audio[0]["audio"][len(prefix) :]))) as wav:
            assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16_000, 1, 2)
            seconds = wav.getnframes() / 16_000
        spoken = len(clips.english) / 48_000
        assert spoken - 0.5 < seconds < spoken + 1.0  # the utterance, with its padding


def _ago(days: float) -> float:
    return time.time() - days * 86_400


async def test_the_server_applies_retention_as_it_starts(tmp_path: Path, vad: SileroVAD) -> None:
    """`--retention-days` reaches the store: records past it are gone once the server is up."""
    path = tmp_path / "conversations.sqlite3"
    for call_id, age_days in (("rtc_old", 40), ("rtc_recent", 2)):
        store = ConversationStore(path, clock=functools.partial(_ago, age_days))
        store.call_started(call_id, None)
        store.call_ended(call_id, "client_hangup")
        await store.aclose()
    app = create_app(
        ServerConfig(data_dir=str(tmp_path), retention_days=30), model=ToneModel(), vad=vad
    )
    async with app.router.lifespan_context(app):
        records = app.state.gateway.records
        for _ in range(200):
            calls, _more = await records.list_calls()
            if len(calls) < 2:
                break
            await asyncio.sleep(0.05)
        assert [c.id for c in calls] == ["rtc_recent"]
    args = cli.build_parser().parse_args(["serve", "--retention-days", "7"])
    assert args.retention_days == 7.0
