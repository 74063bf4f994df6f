"""A call's one ending (rtc/conversation/lifetime.py), in order, whatever kind of call."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from rtc.conversation.lifetime import Endings, Lifetime
from rtc.events import ServerEvents
from rtc.limits import CallLimits
from rtc.metrics import Metrics


class Call:
    """A call as the lifetime sees it: what it was told to do, in order."""

    def __init__(self, limits: CallLimits | None = None) -> None:
        self.steps: list[str] = []
        self.events = ServerEvents()
        self.sent: list[Mapping[str, Any]] = []
        self.metrics = Metrics()
        self.life = Lifetime(
            "rtc_test",
            self.events,
            self.metrics,
            limits or CallLimits(),
            Endings(
                stop_input=lambda: self.steps.append("stop input"),
                release=self._release,
                flush=self._flush,
                ended=lambda: self.steps.append("ended"),
            ),
        )

    async def _release(self) -> None:
        self.steps.append(f"release ({self.life.task_count} tasks left)")

    async def _flush(self) -> None:
        self.steps.append(f"flush {[e['type'] for e in self.sent]}")

    def listen(self) -> None:
        self.events.attach(lambda event, text: self.sent.append(event))

    def ended(self, reason: str) -> float:
        return float(self.metrics.calls_ended.labels(reason)._value.get())


async def forever(steps: list[str], name: str) -> None:
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        steps.append(f"{name} cancelled")
        raise


async def test_close_stops_input_then_tasks_then_releases_then_says_ended() -> None:
    call = Call()
    call.life.spawn(forever(call.steps, "media"), "media")
    call.life.spawn(forever(call.steps, "events"), "events")
    await asyncio.sleep(0)  # both running
    await call.life.close("client_hangup")
    assert call.steps[0] == "stop input"
    assert sorted(call.steps[1:3]) == ["events cancelled", "media cancelled"]
    assert call.steps[3:] == ["release (0 tasks left)", "ended"]
    assert call.life.closed.is_set() and call.life.end_reason == "client_hangup"
    assert call.ended("client_hangup") == 1


async def test_close_is_idempotent_and_keeps_the_first_reason() -> None:
    call = Call()
    first = call.life.close("peer_closed")
    second = call.life.close("server_shutdown")
    assert first is second
    await first
    assert call.life.end_reason == "peer_closed"
    assert call.steps.count("ended") == 1


async def test_a_task_of_the_call_may_end_it() -> None:
    # The task is cancelled with the others; the ending it started is shielded from that.
    call = Call()

    async def hang_up() -> None:
        await call.life.end_with("client_hangup")
        call.steps.append("hang-up went on")  # never: it was cancelled by the ending

    task = call.life.spawn(hang_up(), "hang up")
    await asyncio.wait_for(call.life.closed.wait(), 10)
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()
    assert call.steps[-2:] == ["release (0 tasks left)", "ended"]


async def test_end_with_tells_a_listening_client_why_before_it_closes() -> None:
    call = Call()
    call.listen()
    await call.life.end_with("server_shutdown")
    assert call.steps[0] == "flush ['error']"
    assert call.sent[0]["error"]["code"] == "server_shutdown"
    assert call.steps[-1] == "ended"


async def test_end_with_a_reason_that_needs_no_notice_just_closes() -> None:
    call = Call()
    call.listen()
    await call.life.end_with("client_hangup")
    assert call.sent == [] and not any(s.startswith("flush") for s in call.steps)


async def test_end_soon_from_a_callback_stops_input_at_once() -> None:
    call = Call()
    call.listen()
    call.life.end_soon("event_abuse")
    assert call.life.ending and call.steps == ["stop input"]
    await asyncio.wait_for(call.life.closed.wait(), 5)
    assert call.sent[0]["error"]["code"] == "event_abuse"
    assert call.life.end_reason == "event_abuse"


async def test_the_watchdog_ends_an_idle_call_with_its_notice(monkeypatch: Any) -> None:
    monkeypatch.setattr("rtc.conversation.lifetime.WATCH_EVERY_S", 0.01)
    call = Call(CallLimits(idle_timeout_s=0.05))
    call.listen()
    created = time.monotonic()
    call.life.spawn(call.life.watch(created, lambda: created), "watchdog")
    await asyncio.wait_for(call.life.closed.wait(), 10)
    assert call.life.end_reason == "idle_timeout"
    assert call.sent[0]["error"]["code"] == "idle_timeout"
    assert call.metrics.limit_hits.labels("idle_timeout")._value.get() == 1


async def test_the_watchdog_ends_a_call_whose_peer_is_gone_without_a_notice(
    monkeypatch: Any,
) -> None:
    monkeypatch.setattr("rtc.conversation.lifetime.WATCH_EVERY_S", 0.01)
    call = Call()
    call.listen()
    gone = asyncio.Event()
    call.life.spawn(
        call.life.watch(0.0, lambda: float("inf"), lambda now: gone.is_set()), "watchdog"
    )
    gone.set()
    await asyncio.wait_for(call.life.closed.wait(), 10)
    assert call.life.end_reason == "peer_timeout"
    assert call.sent == []


async def test_a_crashed_task_is_logged_and_forgotten(caplog: Any) -> None:
    call = Call()

    async def crash() -> None:
        raise RuntimeError("boom")

    task = call.life.spawn(crash(), "crasher")
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.sleep(0)  # the done callback
    assert call.life.task_count == 0
    assert any("task rtc_test crasher crashed" in r.getMessage() for r in caplog.records)
