"""The calls of this process, and the limit on how many there may be."""

from __future__ import annotations

from rtc.conversation.conversation import Conversation
from rtc.errors import NotFound, TooManyCalls
from rtc.metrics import Metrics


class CallRegistry:
    def __init__(self, metrics: Metrics, max_calls: int) -> None:
        self._calls: dict[str, Conversation] = {}
        self._reserved = 0
        self._metrics = metrics
        self.max_calls = max_calls

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

    def add(self, call: Conversation) -> None:
        self.release_reservation()
        self._calls[call.id] = call
        self._metrics.active_calls.set(len(self._calls))
        self._metrics.calls_total.inc()

    def get(self, call_id: str) -> Conversation:
        call = self._calls.get(call_id)
        if call is None:
            raise NotFound(f"no call {call_id!r}", code="call_not_found")
        return call

    def remove(self, call: Conversation) -> bool:
        """Forget an ended call; False if it was not here."""
        if self._calls.pop(call.id, None) is None:
            return False
        self._metrics.active_calls.set(len(self._calls))
        return True

    @property
    def calls(self) -> list[Conversation]:
        return list(self._calls.values())
