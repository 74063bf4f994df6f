"""Calls that end badly, bad events, and media of one kind only."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable

import numpy as np
from aiortc.mediastreams import MediaStreamTrack

from clients.python.client import CallClient, StillImageTrack
from tests.conftest import Server, peer, wait_until


async def test_peer_that_closes_without_delete_is_freed(make_server: Callable[..., Server]) -> None:
    server = make_server(peer_timeout_s=3.0)
    call = CallClient(server.http)
    await call.connect()
    server_call = server.gateway.registry.calls[0]
    pc = peer(server_call).pc
    await call.hangup(delete=False)  # what the OpenAI SDKs do
    await asyncio.wait_for(server_call.closed.wait(), 15)
    assert len(server.gateway.registry) == 0
    assert server_call.task_count == 0
    assert pc.connectionState == "closed"
    assert "omnilive_active_calls 0.0" in (await server.http.get("/metrics")).text


async def test_peer_that_vanishes_is_timed_out(make_server: Callable[..., Server]) -> None:
    """No close at all (network gone): no media and no events end the call."""
    server = make_server(peer_timeout_s=2.0)
    call = CallClient(server.http)
    await call.connect()
    server_call = server.gateway.registry.calls[0]
    assert call.mic is not None
    call.mic.stop()  # the mic stops sending; the peer connection is never closed
    try:
        await asyncio.wait_for(server_call.closed.wait(), 15)
        assert server_call.end_reason in ("peer_timeout", "peer_closed", "peer_failed")
        assert len(server.gateway.registry) == 0
    finally:
        await call.hangup(delete=False)


async def test_bad_events_get_error_events_and_the_call_survives(server: Server) -> None:
    async with CallClient(server.http) as call:
        await call.wait_for("session.created")
        bad: list[tuple[str, str]] = [
            ("{not json", "invalid_json"),
            ("[1, 2]", "invalid_event"),
            ('{"no": "type"}', "missing_type"),
            ('{"type": "nope.nothing", "event_id": "evt_1"}', "unknown_event"),
            ('{"type": "session.update", "session": {"scenario": "karaoke"}}', "invalid_scenario"),
            (
                '{"type": "session.update", "session": {"audio": {"input": {"turn_detection": {"threshold": 7}}}}}',
                "invalid_session",
            ),
            ('{"type": "conversation.item.create", "item": {"content": []}}', "invalid_item"),
            (
                '{"type": "conversation.item.create", "item": {"content": [{"type": "input_image", "image_url": "http://x"}]}}',
                "invalid_image",
            ),
            ('{"type": "response.cancel"}', "response_cancel_not_active"),
            (
                '{"type": "conversation.item.truncate", "item_id": "item_x", "audio_end_ms": 10}',
                "item_not_found",
            ),
            ('{"type": "input_audio_buffer.append", "audio": ""}', "unsupported_event"),
        ]
        for message, code in bad:
            mark = len(call.events)
            call.send(message)
            error = await call.wait_for("error", after=mark, timeout=5)
            assert error["error"]["code"] == code, (message, error)
        unknown = [e for e in call.of_type("error") if e["error"]["code"] == "unknown_event"][0]
        assert unknown["error"]["event_id"] == "evt_1"
        call.send(
            {
                "type": "session.update",
                "session": {
                    "instructions": "be brief",
                    "tools": [],
                    "tracing": "auto",
                    "audio": {"output": {"voice": "marin"}},
                },
            }
        )
        updated = await call.wait_for("session.updated")
        assert updated["session"]["instructions"] == "be brief"
        assert updated["session"]["audio"]["output"]["voice"] == "marin"
        assert updated["session"]["scenario"] == "tutor"  # kept when not given
        assert len(server.gateway.registry) == 1


async def test_video_only_call_works_and_video_is_drained(server: Server) -> None:
    image = np.full((240, 320, 3), 128, dtype=np.uint8)
    async with CallClient(
        server.http,
        audio=False,
        video=StillImageTrack(image),
        session={"scenario": "interpreter", "video": {"fps": 2}},
    ) as call:
        await call.wait_for("session.created")
        server_call = server.gateway.registry.calls[0]
        await wait_until(lambda: server_call.video.frames >= 10, timeout=15)
        assert server_call.video.size == (320, 240)


async def test_audio_only_call_streams_paced_silence(server: Server) -> None:
    async with CallClient(server.http) as call:
        await call.wait_for("session.created")
        await wait_until(lambda: len(call.received.times) >= 25, timeout=10)
        assert call.received.voiced_seconds() == 0.0
        server_call = server.gateway.registry.calls[0]
        await wait_until(lambda: server_call.heard_s > 0.2)


async def test_closing_many_calls_leaves_nothing_behind(server: Server) -> None:
    calls = [CallClient(server.http) for _ in range(3)]
    for call in calls:
        await call.connect()
    server_calls = server.gateway.registry.calls
    assert len(server_calls) == 3
    tracks_out = [peer(c).pc.getSenders()[0].track for c in server_calls]
    # Other calls are untouched when one ends.
    await calls[0].hangup()
    await wait_until(lambda: len(server.gateway.registry) == 2)
    assert all(peer(c).pc.connectionState == "connected" for c in server_calls[1:])
    for call in calls[1:]:
        await call.hangup()
    await wait_until(lambda: len(server.gateway.registry) == 0)
    for server_call, track in zip(server_calls, tracks_out, strict=True):
        await asyncio.wait_for(server_call.closed.wait(), 10)
        assert server_call.task_count == 0
        assert track is not None and track.readyState == "ended"
    gc.collect()
    started = time.monotonic()
    tracks = [
        o
        for o in gc.get_objects()
        if isinstance(o, MediaStreamTrack)
        and o.readyState == "live"
        and type(o).__module__.startswith("rtc")
    ]
    assert tracks == [], time.monotonic() - started
