"""Every limit: its answer (status or `error` event) and its count in the metrics."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable

from clients.python.client import CallClient
from rtc.limits import AddressLimiter, CallLimits, EventGuard, TokenBucket, Verdict, expired
from tests.conftest import Server, wait_until
from tests.sdp import SDP, assert_error, make_offer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_refills_at_its_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=2.0, burst=3, clock=clock)
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() == 0.5
    clock.now += 0.5
    assert bucket.take() == 0.0
    clock.now += 10
    assert bucket.full


def test_address_limiter_is_per_address_and_bounded() -> None:
    clock = Clock()
    limiter = AddressLimiter(per_minute=6, burst=2, max_addresses=3, clock=clock)
    assert limiter.take("a") == 0 and limiter.take("a") == 0
    assert limiter.take("a") == 10.0  # one call every 10 s
    assert limiter.take("b") == 0
    for address in "cdefg":
        limiter.take(address)
    assert len(limiter) <= 3
    assert AddressLimiter(per_minute=0, burst=5).take("x") == 0  # off


def test_event_guard_tells_once_per_run_then_gives_up_on_abuse() -> None:
    clock = Clock()
    limits = CallLimits(
        max_event_bytes=100, events_per_second=1, event_burst=2, max_dropped_events=4
    )
    guard = EventGuard(limits, clock)
    assert guard.admit(10) == (Verdict.ACCEPT, None)
    assert guard.admit(10) == (Verdict.ACCEPT, None)
    assert guard.admit(10) == (Verdict.DROP_AND_TELL, "event_rate")
    assert guard.admit(10) == (Verdict.DROP, "event_rate")
    assert guard.admit(1000) == (Verdict.DROP_AND_TELL, "event_size")  # always said
    clock.now += 1
    assert guard.admit(10) == (Verdict.ACCEPT, None)
    assert guard.admit(10) == (Verdict.DROP_AND_TELL, "event_rate")  # a new run
    assert guard.admit(10) == (Verdict.ABUSE, "event_rate")


def test_expiry_rules() -> None:
    limits = CallLimits(max_call_s=10, idle_timeout_s=5)
    assert expired(limits, started=0, last_media=0, now=4) is None
    assert expired(limits, started=0, last_media=0, now=6) == "idle_timeout"
    assert expired(limits, started=0, last_media=10.5, now=11) == "max_duration"
    assert expired(CallLimits(max_call_s=0, idle_timeout_s=0), 0, 0, 1e9) is None


async def test_new_calls_per_address_get_429_with_retry_after(
    make_tone_server: Callable[..., Server],
) -> None:
    server = make_tone_server(calls_per_minute=1, call_burst=2)
    post = server.http.post
    for _ in range(2):  # bad offers count too: the limit comes before any parsing
        assert_error(
            await post("/v1/realtime/calls", content=b"x", headers=SDP), 400, "invalid_sdp"
        )
    refused = await post("/v1/realtime/calls", content=b"x", headers=SDP)
    assert_error(refused, 429, "rate_limit_exceeded")
    assert refused.json()["error"]["type"] == "rate_limit_error"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    # Another address is not affected.
    server.gateway.check_call_rate("192.0.2.7")
    metrics = (await server.http.get("/metrics")).text
    assert 'omnilive_limit_hits_total{limit="call_rate"} 1.0' in metrics


async def test_body_and_call_limits_are_counted(make_tone_server: Callable[..., Server]) -> None:
    server = make_tone_server(max_calls=1, max_body_bytes=4096)
    pc, sdp = await make_offer()
    try:
        big = sdp + "a=x-pad:" + "y" * 5000 + "\r\n"
        assert_error(
            await server.http.post("/v1/realtime/calls", content=big, headers=SDP),
            413,
            "body_too_large",
        )
        async with CallClient(server.http):
            refused = await server.http.post("/v1/realtime/calls", content=sdp, headers=SDP)
            assert_error(refused, 429, "too_many_calls")
    finally:
        await pc.close()
    metrics = (await server.http.get("/metrics")).text
    assert 'omnilive_limit_hits_total{limit="body_size"} 1.0' in metrics
    assert 'omnilive_limit_hits_total{limit="max_calls"} 1.0' in metrics


async def test_event_size_and_rate_in_a_real_call(make_tone_server: Callable[..., Server]) -> None:
    limits = CallLimits(
        max_event_bytes=2000, events_per_second=0.001, event_burst=5, max_dropped_events=1000
    )
    server = make_tone_server(call_limits=limits)
    async with CallClient(server.http) as call:
        await call.wait_for("session.created")
        mark = len(call.events)
        call.send(json.dumps({"type": "session.update", "session": {"instructions": "x" * 3000}}))
        error = await call.wait_for("error", after=mark)
        assert error["error"]["code"] == "event_too_large"
        for i in range(20):  # 5 fit the burst; the rest are dropped, with one error
            call.send({"type": "nope", "event_id": f"evt_{i}"})
        await call.wait_for(
            "error", lambda e: e["error"]["code"] == "rate_limit_exceeded", after=mark
        )
        await wait_until(lambda: server.gateway.registry.calls[0].dropped_events == 16)
        codes = [e["error"]["code"] for e in call.of_type("error")]
        assert codes.count("rate_limit_exceeded") == 1
        assert codes.count("unknown_event") == 5
        assert len(server.gateway.registry) == 1  # dropped, not disconnected
    metrics = (await server.http.get("/metrics")).text
    assert 'omnilive_limit_hits_total{limit="event_size"} 1.0' in metrics
    assert 'omnilive_limit_hits_total{limit="event_rate"} 15.0' in metrics


async def test_sustained_event_flood_ends_the_call(make_tone_server: Callable[..., Server]) -> None:
    limits = CallLimits(events_per_second=0.001, event_burst=2, max_dropped_events=10)
    server = make_tone_server(call_limits=limits)
    async with CallClient(server.http) as call:
        await call.wait_for("session.created")
        server_call = server.gateway.registry.calls[0]
        for _ in range(40):
            call.send('{"type": "response.cancel"}')
        ended = await call.wait_for("error", lambda e: e["error"]["code"] == "event_abuse")
        assert ended["error"]["type"] == "rate_limit_error"
        await asyncio.wait_for(server_call.closed.wait(), 10)
        assert server_call.end_reason == "event_abuse"
        assert server_call.task_count == 0
        assert len(server.gateway.registry) == 0
    metrics = (await server.http.get("/metrics")).text
    assert 'omnilive_calls_ended_total{reason="event_abuse"} 1.0' in metrics


async def test_maximum_call_length(make_tone_server: Callable[..., Server]) -> None:
    server = make_tone_server(call_limits=CallLimits(max_call_s=1.5))
    async with CallClient(server.http) as call:
        server_call = server.gateway.registry.calls[0]
        expired_event = await call.wait_for("error", timeout=15)
        assert expired_event["error"]["code"] == "session_expired"
        await asyncio.wait_for(server_call.closed.wait(), 10)
    assert server_call.end_reason == "max_duration"
    assert server_call.task_count == 0
    assert len(server.gateway.registry) == 0
    metrics = (await server.http.get("/metrics")).text
    assert 'omnilive_calls_ended_total{reason="max_duration"} 1.0' in metrics
    assert 'omnilive_limit_hits_total{limit="max_duration"} 1.0' in metrics


async def test_idle_call_without_media_is_ended(make_tone_server: Callable[..., Server]) -> None:
    """Events keep the peer alive, but no audio or video arrives: idle timeout."""
    server = make_tone_server(peer_timeout_s=60, call_limits=CallLimits(idle_timeout_s=1.5))
    async with CallClient(server.http) as call:
        await call.wait_for("session.created")
        server_call = server.gateway.registry.calls[0]
        assert call.mic is not None
        call.mic.stop()

        async def keep_talking() -> None:
            while not server_call.closed.is_set():
                call.send({"type": "session.update", "session": {}})
                with contextlib.suppress(TimeoutError):  # one event every 0.3 s until it ends
                    await asyncio.wait_for(server_call.closed.wait(), 0.3)

        chatter = asyncio.create_task(keep_talking())
        try:
            idle = await call.wait_for(
                "error", lambda e: e["error"]["code"] == "idle_timeout", timeout=20
            )
            assert "no audio or video" in idle["error"]["message"]
            await asyncio.wait_for(server_call.closed.wait(), 10)
        finally:
            await chatter
    assert server_call.end_reason == "idle_timeout"
    assert server_call.task_count == 0
    assert len(server.gateway.registry) == 0
    metrics = (await server.http.get("/metrics")).text
    assert 'omnilive_calls_ended_total{reason="idle_timeout"} 1.0' in metrics
    assert 'omnilive_limit_hits_total{limit="idle_timeout"} 1.0' in metrics
