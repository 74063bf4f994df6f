"""The event-loop lag watcher: a stalled loop shows in /metrics and in the log."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import pytest

from rtc.app import LAG_PROBE_S, _watch_loop_lag
from tests.conftest import Server


async def test_a_stalled_loop_is_measured_and_logged(
    make_tone_server: Callable[..., Server], caplog: pytest.LogCaptureFixture
) -> None:
    server = make_tone_server()
    watcher = asyncio.create_task(_watch_loop_lag(server.gateway))
    try:
        await asyncio.sleep(LAG_PROBE_S / 5)  # the watcher's timer is set
        with caplog.at_level(logging.WARNING, logger="omnilive"):
            time.sleep(3 * LAG_PROBE_S)  # noqa: ASYNC251 - the stall under test
            await asyncio.sleep(2 * LAG_PROBE_S)
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
    metrics = (await server.http.get("/metrics")).text
    late = [
        line for line in metrics.splitlines()
        if line.startswith('omnilive_event_loop_lag_seconds_bucket{le="0.05"}')
    ]  # fmt: skip
    total = [
        line
        for line in metrics.splitlines()
        if line.startswith("omnilive_event_loop_lag_seconds_count")
    ]
    assert late and total
    # At least one wake-up came later than 50 ms: that bucket holds fewer than all of them.
    assert float(late[0].split()[-1]) < float(total[0].split()[-1])
    assert any("event loop ran" in r.getMessage() for r in caplog.records)
