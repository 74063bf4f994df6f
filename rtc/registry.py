"""The calls of this process, and the limit on how many there may be."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from rtc.call_base import BaseCall
from rtc.errors import NotFound, TooManyCalls
from rtc.heap import HeapTrimmer
from rtc.metrics import Metrics

logger = logging.getLogger(__name__)


class CallRegistry:
    def __init__(self, metrics: Metrics, max_calls: int) -> None:
        self._calls: dict[str, BaseCall] = {}
        self._reserved = 0
        self._metrics = metrics
        self.max_calls = max_calls
        self.heap = HeapTrimmer()
        """Gives what ended calls freed back to the OS."""

    def __len__(self) -> int:
        return len(self._calls)

    def reserve(self) -> None:
        """Claim a slot before the (slow) offer/answer, so a burst cannot overshoot the limit."""
        if len(self._calls) + self._reserved >= self.max_calls:
            self._metrics.calls_rejected.labels("too_many_calls").inc()
            raise TooManyCalls(
                f"this server is at its limit of {self.max_calls} concurrent calls; try again shortly",
                retry_after_s=5,
            )
        self._reserved += 1

    def release_reservation(self) -> None:
        self._reserved = max(0, self._reserved - 1)

    def add(self, call: BaseCall) -> None:
        self.release_reservation()
        self._calls[call.id] = call
        self._metrics.active_calls.set(len(self._calls))
        self._metrics.calls_total.inc()

    def get(self, call_id: str) -> BaseCall:
        call = self._calls.get(call_id)
        if call is None:
            raise NotFound(f"no call {call_id!r}", code="call_not_found")
        return call

    async def remove(self, call: BaseCall) -> None:
        if self._calls.pop(call.id, None) is not None:
            self._metrics.active_calls.set(len(self._calls))
            self.heap.request()

    @property
    def calls(self) -> list[Any]:
        """Every open call: `rtc.call.Call` (WebRTC) or `rtc.ws_call.WebSocketCall`."""
        return list(self._calls.values())

    async def close_all(self) -> None:
        tasks = [call.close("server_shutdown") for call in self.calls]
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.heap.aclose()
