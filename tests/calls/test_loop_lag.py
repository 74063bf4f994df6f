"""The event-loop lag watcher: a stalled loop shows in /metrics and in the log, and a loop
that keeps running late turns new calls away while the open ones go on."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import pytest

from clients.python.client import CallClient
from rtc.load import MIN_PROBES, PROBE_S, watch
from tests.conftest import Server


async def test_a_stalled_loop_is_measured_and_logged(
    make_tone_server: Callable[..., Server], caplog: pytest.LogCaptureFixture
) -> None:
    server = make_tone_server()
    gateway = server.gateway
    watcher = asyncio.create_task(watch(gateway.load, gateway.metrics, lambda: 0))
    try:
        await asyncio.sleep(PROBE_S / 5)  # the watcher's timer is set
        with caplog.at_level(logging.WARNING, logger="omnilive"):
            time.sleep(3 * PROBE_S)  # noqa: ASYNC251 - the stall under test
            await asyncio.sleep(2 * PROBE_S)
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
    lines = (await server.http.get("/metrics")).text.splitlines()
    late = [
        line
        for line in lines
        if line.startswith('omnilive_event_loop_lag_seconds_bucket{le="0.05"}')
    ]
    total = [line for line in lines if line.startswith("omnilive_event_loop_lag_seconds_count")]
    assert late and total
    # At least one wake-up came later than 50 ms: that bucket holds fewer than all of them.
    assert float(late[0].split()[-1]) < float(total[0].split()[-1])
    assert any("event loop ran" in r.getMessage() for r in caplog.records)


async def test_an_overloaded_loop_refuses_new_calls_and_keeps_the_open_one(
    make_tone_server: Callable[..., Server],
) -> None:
    server = make_tone_server(overload_lag_ms=50.0)
    load = server.gateway.load
    first = CallClient(server.http)
    await first.connect()
    try:
        for _ in range(MIN_PROBES):
            load.observe(0.2)  # what the watcher records when every timer is 200 ms late
        answer = await server.http.post(
            "/v1/realtime/calls",
            content=b"v=0\r\n",
            headers={"Content-Type": "application/sdp"},
        )
        assert answer.status_code == 503
        assert answer.headers["Retry-After"] == "5"
        assert answer.json()["error"]["code"] == "server_overloaded"
        assert len(server.gateway.registry) == 1 and first.pc.connectionState == "connected"
        metrics = (await server.http.get("/metrics")).text
        assert 'omnilive_limit_hits_total{limit="overload"} 1.0' in metrics
        assert (await server.http.get("/healthz")).json()["overloaded"] is True

        for _ in range(2 * MIN_PROBES):
            load.observe(0.001)  # the loop has caught up: calls are welcome again
        assert (await server.http.get("/healthz")).json()["overloaded"] is False
        second = CallClient(server.http)
        await second.connect()
        assert len(server.gateway.registry) == 2
        await second.hangup()
    finally:
        await first.hangup()
