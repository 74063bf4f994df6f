"""Ended calls leave nothing behind: no registry entry, no task, no object, no kept heap."""

from __future__ import annotations

import asyncio
import gc
import threading
import weakref
from collections.abc import Callable

import numpy as np
import pytest

from clients.python.client import CallClient, StillImageTrack
from rtc.heap import HeapTrimmer
from tests.conftest import Server, wait_until


async def test_calls_are_freed_after_delete_and_after_close(
    make_server: Callable[..., Server],
) -> None:
    server = make_server(peer_timeout_s=3.0)
    registry = server.gateway.registry
    released: list[weakref.ref[object]] = []
    ids: list[str] = []
    for index in range(4):
        camera = StillImageTrack(np.full((120, 160, 3), 90, dtype=np.uint8), fps=5)
        call = CallClient(server.http, video=camera)
        await call.connect()
        await call.wait_for("session.created")
        assert call.location is not None
        server_call = registry.get(call.location.rsplit("/", 1)[1])
        ids.append(server_call.id)
        released.append(weakref.ref(server_call))
        call.send_text("say that again")
        await call.wait_for("response.done", timeout=60)
        # Every other caller hangs up with DELETE; the rest just close, as the OpenAI SDKs do.
        await call.hangup(delete=index % 2 == 0)
        await asyncio.wait_for(server_call.closed.wait(), 15)
        assert server_call.task_count == 0
        del server_call, call
    await wait_until(lambda: len(registry) == 0)
    assert "omnilive_active_calls 0.0" in (await server.http.get("/metrics")).text
    leftover = [t.get_name() for t in asyncio.all_tasks() if t.get_name().split(" ")[0] in ids]
    assert leftover == []
    gc.collect()
    assert [ref for ref in released if ref() is not None] == []
    if server.gateway.heap.available:
        await wait_until(lambda: server.gateway.heap.trims > 0)


async def test_heap_trims_once_per_burst_and_again_for_a_late_ask() -> None:
    calls: list[int] = []
    started = threading.Event()
    finish = threading.Event()

    def trim(pad: int) -> int:
        calls.append(pad)
        return 1

    trimmer = HeapTrimmer(delay_s=0.0, trim=trim)
    for _ in range(5):  # five calls end together: one trim
        trimmer.request()
    await trimmer.settled()
    assert calls == [0] and trimmer.trims == 1

    def slow_trim(pad: int) -> int:
        started.set()
        finish.wait(10)
        return trim(pad)

    trimmer = HeapTrimmer(delay_s=0.0, trim=slow_trim)
    trimmer.request()
    await wait_until(started.is_set)
    trimmer.request()  # a call ended while the heap was being trimmed: trim once more after
    trimmer.request()
    finish.set()
    await wait_until(lambda: trimmer.trims == 2)
    await trimmer.aclose()
    assert calls == [0, 0, 0]


async def test_no_trim_without_glibc() -> None:
    trimmer = HeapTrimmer(delay_s=0.0, trim=None)
    trimmer.request()
    await trimmer.settled()
    assert not trimmer.available and trimmer.trims == 0
    await trimmer.aclose()


def test_the_mmap_threshold_is_fixed_unless_the_operator_chose(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    from rtc.heap import fix_mmap_threshold

    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "131072")
    assert fix_mmap_threshold() is False
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_")
    assert fix_mmap_threshold() is sys.platform.startswith("linux")
