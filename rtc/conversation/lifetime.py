"""How a call lives and ends, whatever kind it is (a conversation, a translation session).

A call runs tasks for its life (its transport's media, the client-event queue, the
watchdog), all cancelled and awaited when it ends. It ends once, for one reason:
`close(reason)` from anywhere, `end_with(reason)` when the client should first be told
why (an `error` event it gets before the connection goes), `end_soon(reason)` for the
same from a callback. The watchdog ends it when a call limit runs out (idle, maximum
length), or when its peer is gone.

The call keeps what is its own to release (the model session, the transport) in the
`release` it passes in; this module keeps the order: input stops first, then every task
goes, then the call's parts, then the call counts as ended and says so.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from rtc.events import ServerEvents
from rtc.limits import CallLimits, ending_notice, expired
from rtc.metrics import Metrics

logger = logging.getLogger(__name__)

#: How often the watchdog looks at the call's clocks (seconds).
WATCH_EVERY_S = 1.0


async def _nothing_to_flush() -> None:
    return None


@dataclass
class Endings:
    """What a call does at its end, in this order (each optional)."""

    stop_input: Callable[[], None] = lambda: None
    """Drop what the client sent and was not yet applied (nothing more will be)."""
    release: Callable[[], Awaitable[None]] = _nothing_to_flush
    """Close the call's own parts, once its tasks are gone."""
    flush: Callable[[], Awaitable[None]] = _nothing_to_flush
    """Give queued events (an ending notice) a moment to leave."""
    ended: Callable[[], Awaitable[None] | None] = lambda: None
    """Tell the call's owner (the gateway) it has ended."""


class Lifetime:
    def __init__(
        self,
        call_id: str,
        events: ServerEvents,
        metrics: Metrics,
        limits: CallLimits,
        endings: Endings,
    ) -> None:
        self.log_prefix = f"[{call_id}] "
        self._call_id = call_id
        self._events = events
        self._metrics = metrics
        self._limits = limits
        self._endings = endings
        self._tasks: set[asyncio.Task[None]] = set()
        self._ending: str | None = None
        self._closing: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()
        self.end_reason: str | None = None

    @property
    def ending(self) -> bool:
        """The call is ending (or has ended): nothing new should start."""
        return self._ending is not None

    @property
    def task_count(self) -> int:
        return len(self._tasks)

    def spawn(self, coro: Awaitable[None], name: str) -> asyncio.Task[None]:
        """Run `coro` for the call's life: cancelled, then awaited, at its end."""
        task = asyncio.ensure_future(coro)
        task.set_name(f"{self._call_id} {name}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error(
                "%stask %s crashed", self.log_prefix, task.get_name(), exc_info=task.exception()
            )

    async def watch(
        self,
        created_at: float,
        last_media_at: Callable[[], float],
        peer_gone: Callable[[float], bool] = lambda now: False,
    ) -> None:
        """End the call when its peer is gone (`peer_timeout`, no notice: nobody is there
        to read it) or when a call limit runs out (with a notice)."""
        while True:
            await asyncio.sleep(WATCH_EVERY_S)
            now = time.monotonic()
            if peer_gone(now):
                self.close("peer_timeout")
                return
            limit = expired(self._limits, created_at, last_media_at(), now)
            if limit is not None:
                self._metrics.limit_hits.labels(limit).inc()
                await self.end_with(limit)
                return

    def end_soon(self, reason: str) -> None:
        """End the call from a callback: at once for everything that arrives after this."""
        if self._ending is None:
            self._ending = reason
            self._endings.stop_input()
            self.spawn(self.end_with(reason), f"end: {reason}")

    async def end_with(self, reason: str) -> None:
        """End the call, first telling the client why with an `error` event (if it is there)."""
        self._ending = self._ending or reason
        notice = ending_notice(reason, self._limits)
        if notice is not None and self._closing is None and self._events.attached:
            self._events.error(notice.code, notice.message, error_type=notice.error_type)
            await self._endings.flush()
        await asyncio.shield(self.close(reason))

    def close(self, reason: str) -> asyncio.Task[None]:
        """End the call (idempotent); returns the task doing it. A task of the call itself
        must not await it bare (the ending cancels that task, and with it the ending):
        `end_with` shields it."""
        if self._closing is None:
            self._ending = self._ending or reason
            self.end_reason = reason
            self._closing = asyncio.get_running_loop().create_task(self._close())
        return self._closing

    async def _close(self) -> None:
        logger.info("%sending: %s", self.log_prefix, self.end_reason)
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for task in tasks:
            task.cancel()
        self._endings.stop_input()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._endings.release()
        self._metrics.calls_ended.labels(self.end_reason or "unknown").inc()
        self.closed.set()
        # The endings close over the call: dropped, so nothing here points back at it.
        endings, self._endings = self._endings, Endings()
        result = endings.ended()
        if result is not None:
            await result
