"""The calls of this process, and the limit on how many there may be.

A call is a conversation (WebRTC, the Realtime WebSocket) or a session of another kind
(a translation session): all of them take a slot under `--max-calls` and count in
`omnilive_active_calls`; only conversations can be looked up by id (to hang them up).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol

from rtc.conversation.conversation import Conversation
from rtc.errors import NotFound, TooManyCalls
from rtc.metrics import Metrics


class Call(Protocol):
    """What the registry and the gateway need of a call of any kind."""

    id: str

    @property
    def end_reason(self) -> str | None: ...

    def close(self, reason: str) -> Awaitable[None]: ...

    async def end_with(self, reason: str) -> None: ...


class CallRegistry:
    def __init__(self, metrics: Metrics, max_calls: int) -> None:
        self._calls: dict[str, Conversation] = {}
        self._others: dict[str, Call] = {}
        self._reserved = 0
        self._metrics = metrics
        self.max_calls = max_calls

    def __len__(self) -> int:
        return len(self._calls) + len(self._others)

    def reserve(self) -> None:
        """Claim a slot before the (slow) offer/answer, so a burst cannot overshoot the limit."""
        if len(self) + self._reserved >= self.max_calls:
            self._metrics.calls_rejected.labels("too_many_calls").inc()
            raise TooManyCalls(
                f"this server is at its limit of {self.max_calls} concurrent calls; try again shortly",
                retry_after_s=5,
            )
        self._reserved += 1

    def release_reservation(self) -> None:
        self._reserved = max(0, self._reserved - 1)

    def add(self, call: Call) -> None:
        self.release_reservation()
        if isinstance(call, Conversation):
            self._calls[call.id] = call
        else:
            self._others[call.id] = call
        self._metrics.active_calls.set(len(self))
        self._metrics.calls_total.inc()

    def get(self, call_id: str) -> Conversation:
        call = self._calls.get(call_id)
        if call is None:
            raise NotFound(f"no call {call_id!r}", code="call_not_found")
        return call

    def remove(self, call: Call) -> bool:
        """Forget an ended call; False if it was not here."""
        if self._calls.pop(call.id, None) is None and self._others.pop(call.id, None) is None:
            return False
        self._metrics.active_calls.set(len(self))
        return True

    @property
    def calls(self) -> list[Conversation]:
        """The open conversations."""
        return list(self._calls.values())

    @property
    def everything(self) -> list[Call]:
        """Every open call, conversations and other sessions."""
        return [*self._calls.values(), *self._others.values()]
