"""Hostile input, from outside: deep JSON, floods and oversized upgrades, on both transports.

After each, the server is alive and a second call, open throughout, still answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets

from model.tone import ToneModel
from rtc.gateway import Gateway
from rtc.limits import CallLimits
from rtc.vad import SileroVAD
from tests.callers import Caller, calling, live_server
from tests.sdp import make_offer

DEEP_OBJECT = '{"a":' * 10_000 + "1" + "}" * 10_000  # ~50 KB
DEEP_ARRAY = "[" * 10_000 + "]" * 10_000  # 20 KB
DEEP_UPDATE = '{"type": "session.update", "session": ' + '{"x":' * 900 + "1" + "}" * 900 + "}"
INTERPRETER = {"scenario": "interpreter", "languages": ["en", "es"]}


@pytest.fixture
async def served(vad: SileroVAD) -> AsyncIterator[tuple[str, Gateway]]:
    limits = CallLimits(max_event_bytes=1_000_000)  # depth, not size, is what is tried here
    async with live_server(
        ToneModel(), vad, call_limits=limits, calls_per_minute=0, data_dir=None
    ) as server:
        yield server


@contextlib.asynccontextmanager
async def bystander(address: str) -> AsyncIterator[Caller]:
    """A second call, open while the first is attacked; it must still be answered after."""
    async with calling("webrtc", address, INTERPRETER) as call:
        yield call
        await answers(call)


async def answers(call: Caller) -> None:
    mark = len(call.events)
    call.send(
        {
            "type": "conversation.item.create",
            "item": {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "Good morning."}
            ]},
        }
    )  # fmt: skip
    call.send({"type": "response.create"})
    done = await call.wait_for("response.done", after=mark, timeout=30)
    assert done["response"]["status"] == "completed"


async def test_a_deeply_nested_session_in_an_offer_is_a_400(
    served: tuple[str, Gateway],
) -> None:
    address, gateway = served
    async with (
        bystander(address),
        httpx.AsyncClient(base_url=f"http://{address}") as http,
    ):
        pc, offer = await make_offer()
        try:
            response = await http.post(
                "/v1/realtime/calls", files={"sdp": (None, offer), "session": (None, DEEP_OBJECT)}
            )
        finally:
            await pc.close()
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_session"
        assert "deeper" in response.json()["error"]["message"]
        secret = await http.post(
            "/v1/realtime/client_secrets",
            content=DEEP_OBJECT,
            headers={"Content-Type": "application/json"},
        )
        assert secret.status_code == 400 and secret.json()["error"]["code"] == "invalid_json"
    assert (await httpx.AsyncClient().get(f"http://{address}/healthz")).status_code == 200
    assert len(gateway.registry) == 0


async def _websocket(address: str) -> Any:
    return await websockets.connect(
        f"ws://{address}/v1/realtime", additional_headers={"Authorization": "Bearer sk-x"}
    )


async def _next_of(ws: Any, kind: str) -> dict[str, Any]:
    while True:
        event = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if event["type"] == kind:
            return dict(event)


async def test_deep_events_are_errors_and_the_call_goes_on(
    served: tuple[str, Gateway],
) -> None:
    address, _ = served
    async with bystander(address) as other:
        async with calling("webrtc", address, INTERPRETER) as call:
            for message in (DEEP_ARRAY, DEEP_OBJECT, DEEP_UPDATE):
                mark = len(call.events)
                call.send(message)  # type: ignore[arg-type]
                error = await call.wait_for("error", after=mark)
                assert error["error"]["code"] == "invalid_event", error
            await answers(call)  # the attacked call still answers
        ws = await _websocket(address)
        try:
            await _next_of(ws, "session.created")
            for message in (DEEP_ARRAY, DEEP_OBJECT, DEEP_UPDATE):
                await ws.send(message)
                error = await _next_of(ws, "error")
                assert error["error"]["code"] == "invalid_event", error
            await ws.send(json.dumps({"type": "session.update", "session": INTERPRETER}))
            await _next_of(ws, "session.updated")  # still open, still served
        finally:
            await ws.close()
        await answers(other)


async def test_a_burst_of_events_ends_the_call_with_few_errors(
    vad: SileroVAD,
) -> None:
    limits = CallLimits(events_per_second=20, event_burst=60, max_dropped_events=200)
    async with (
        live_server(ToneModel(), vad, call_limits=limits, calls_per_minute=0) as (address, _),
        bystander(address),
    ):
        async with calling("webrtc", address, INTERPRETER) as call:
            for _ in range(1000):
                call.send({"type": "session.update", "session": {}})
            await call.wait_for("error", lambda e: e["error"]["code"] == "event_abuse", timeout=20)
        errors = [e["error"]["code"] for e in call.of_type("error")]
        assert errors.count("event_abuse") == 1, errors
        assert errors.count("rate_limit_exceeded") <= 2, errors
        ws = await _websocket(address)
        try:
            await _next_of(ws, "session.created")
            for _ in range(1000):
                await ws.send('{"type": "session.update", "session": {}}')
            codes: list[str] = []
            with contextlib.suppress(websockets.ConnectionClosed):
                while True:
                    event = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    if event["type"] == "error":
                        codes.append(event["error"]["code"])
            assert codes.count("event_abuse") == 1, codes
            assert codes.count("rate_limit_exceeded") <= 2, codes
        finally:
            await ws.close()


async def test_an_oversized_websocket_upgrade_is_answered_and_closed_at_once(
    served: tuple[str, Gateway],
) -> None:
    address, _ = served
    host, port = address.split(":")
    request = (
        "GET /v1/realtime HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        f"X-Big: {'a' * 9000}\r\n\r\n"
    )
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request.encode())
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)  # read() returns at the close
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 431"), answer[:80]
    with socket.create_connection((host, int(port)), timeout=5):
        pass  # the server still takes connections
