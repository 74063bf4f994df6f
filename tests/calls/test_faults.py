"""Faults: a phone that vanishes, SIGTERM, and a server killed mid-call then restarted."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from clients.python.client import CallClient
from rtc.records import INTERRUPTED
from tests.conftest import Server, peer, wait_until
from tests.sdp import SDP, assert_error
from tests.serve_child import ServeChild

KEY = "sk-faults-test"
INTERPRETER = {"scenario": "interpreter", "languages": ["en", "es"]}


async def test_a_phone_that_vanishes_is_freed(make_tone_server: Callable[..., Server]) -> None:
    """SIGKILL the client process mid-call (default settings): freed well within 30 s."""
    server = make_tone_server()
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.vanishing_client",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None and child.stdin is not None
    try:
        offer = json.loads(await asyncio.wait_for(child.stdout.readline(), 60))["sdp"]
        answer = await server.http.post("/v1/realtime/calls", content=offer, headers=SDP)
        assert answer.status_code == 201, answer.text
        child.stdin.write(json.dumps({"sdp": answer.text}).encode() + b"\n")
        await child.stdin.drain()
        assert (await asyncio.wait_for(child.stdout.readline(), 60)).strip() == b"open"
        server_call = server.gateway.registry.calls[0]
        await wait_until(lambda: peer(server_call).pc.connectionState == "connected")
        child.kill()
        await child.wait()
        await asyncio.wait_for(server_call.closed.wait(), 30)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    assert server_call.end_reason in ("peer_timeout", "peer_failed", "peer_closed")
    assert server_call.task_count == 0
    assert len(server.gateway.registry) == 0
    assert "omnilive_active_calls 0.0" in (await server.http.get("/metrics")).text


async def test_draining_server_refuses_new_calls(make_tone_server: Callable[..., Server]) -> None:
    server = make_tone_server()
    server.gateway.draining = True
    refused = await server.http.post("/v1/realtime/calls", content=b"v=0", headers=SDP)
    assert_error(refused, 503, "server_shutting_down")
    assert int(refused.headers["retry-after"]) > 0
    assert (await server.http.get("/healthz")).json()["draining"] is True


@pytest.fixture
async def children() -> AsyncIterator[list[ServeChild]]:
    started: list[ServeChild] = []
    yield started
    for child in started:
        child.stop()


async def _typed_turn(call: CallClient, text: str) -> None:
    mark = len(call.events)
    call.send_text(text)
    await call.wait_for("translation.done", after=mark, timeout=30)


async def test_sigterm_ends_calls_cleanly_and_exits_0(
    tmp_path: Path, children: list[ServeChild]
) -> None:
    server = ServeChild(tmp_path)
    children.append(server)
    await server.ready()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        call = CallClient(http, session=INTERPRETER)
        await call.connect()
        try:
            await _typed_turn(call, "Good morning.")
            server.proc.send_signal(signal.SIGTERM)
            farewell = await call.wait_for(
                "error", lambda e: e["error"]["code"] == "server_shutdown", timeout=30
            )
            assert farewell["error"]["type"] == "server_error"
            assert await server.wait() == 0
        finally:
            await call.hangup(delete=False)
    output = server.output()
    assert "Traceback" not in output, output
    db = sqlite3.connect(tmp_path / "conversations.sqlite3")
    try:
        rows = db.execute("SELECT end_reason FROM calls").fetchall()
    finally:
        db.close()
    assert rows == [("server_shutdown",)]


async def test_record_survives_kill_9_and_restart(
    tmp_path: Path, children: list[ServeChild]
) -> None:
    first = ServeChild(tmp_path, "--api-key", KEY)
    children.append(first)
    await first.ready()
    auth = {"Authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(base_url=first.url, timeout=30, headers=auth) as http:
        call = CallClient(http, session=INTERPRETER)
        await call.connect()
        try:
            await _typed_turn(call, "Where is the station?")
            assert call.location is not None
            call_id = call.location.rsplit("/", 1)[1]

            async def recorded() -> dict[str, Any]:
                while True:
                    got = await http.get(f"/v1/conversations/{call_id}")
                    if got.status_code == 200 and "translation.done" in {
                        e["type"] for e in got.json()["entries"]
                    }:
                        record: dict[str, Any] = got.json()
                        return record
                    await asyncio.sleep(0.1)

            before = await asyncio.wait_for(recorded(), 20)
            first.proc.kill()  # kill -9: no shutdown, no flush
            assert await first.wait() == -signal.SIGKILL
        finally:
            await call.hangup(delete=False)

    second = ServeChild(tmp_path, "--api-key", KEY, port=first.port)
    children.append(second)
    await second.ready()
    async with httpx.AsyncClient(base_url=second.url, timeout=30) as http:
        assert_error(await http.get(f"/v1/conversations/{call_id}"), 401, "missing_authorization")
        got = await http.get(f"/v1/conversations/{call_id}", headers=auth)
        assert got.status_code == 200, got.text
        after = got.json()
        listed = (await http.get("/v1/conversations", headers=auth)).json()
    assert after["entries"] == before["entries"]
    assert after["end_reason"] == INTERRUPTED and after["ended_at"] is not None
    assert after["scenario"] == "interpreter"
    kinds = [e["type"] for e in after["entries"]]
    assert kinds[0] == "session.created"
    typed = next(e for e in after["entries"] if e["type"] == "conversation.item.create")
    assert typed["data"]["text"] == "Where is the station?"
    translated = next(e for e in after["entries"] if e["type"] == "translation.done")
    assert translated["data"]["source_text"] == "Where is the station?"
    assert [c["id"] for c in listed["data"]] == [call_id]
    second.proc.send_signal(signal.SIGTERM)
    assert await second.wait() == 0
