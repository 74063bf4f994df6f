"""Limits that protect the server: token buckets, per-address call rates, data-channel events.

Every limit here is configuration (`omnilive serve --...`, see docs/security.md); what
each one answers is in docs/protocol.md. The clock is injectable so tests need no sleeps.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

Clock = Callable[[], float]


class TokenBucket:
    """`burst` tokens, refilled at `rate` per second; each action takes one."""

    def __init__(self, rate: float, burst: float, clock: Clock = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = burst
        self._at = clock()

    def _refill(self) -> float:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        return self._tokens

    def take(self) -> float:
        """0 if a token was taken, else the seconds until one will be there."""
        if self._refill() >= 1.0:
            self._tokens -= 1.0
            return 0.0
        if self.rate <= 0:
            return math.inf
        return (1.0 - self._tokens) / self.rate

    @property
    def full(self) -> bool:
        return self._refill() >= self.burst


class AddressLimiter:
    """One token bucket per client address, for the rate of new calls.

    At most `max_addresses` buckets are kept: full ones are forgotten first, then the
    least recently used, so a flood of addresses costs bounded memory.
    """

    def __init__(
        self,
        per_minute: float,
        burst: int,
        *,
        max_addresses: int = 10_000,
        clock: Clock = time.monotonic,
    ) -> None:
        self.enabled = per_minute > 0 and burst > 0
        self._rate = per_minute / 60.0
        self._burst = float(burst)
        self._max = max_addresses
        self._clock = clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def take(self, address: str) -> float:
        """0 if `address` may open a call now, else the seconds to wait."""
        if not self.enabled:
            return 0.0
        bucket = self._buckets.get(address)
        if bucket is None:
            self._make_room()
            bucket = self._buckets[address] = TokenBucket(self._rate, self._burst, self._clock)
        self._buckets.move_to_end(address)
        return bucket.take()

    def _make_room(self) -> None:
        if len(self._buckets) < self._max:
            return
        for address in [a for a, b in self._buckets.items() if b.full]:
            del self._buckets[address]
        while len(self._buckets) >= self._max:
            self._buckets.popitem(last=False)

    def __len__(self) -> int:
        return len(self._buckets)


@dataclass(frozen=True)
class CallLimits:
    """Per-call limits (0 switches a limit off)."""

    max_event_bytes: int = 256 * 1024
    """Largest client event on the data channel; larger ones get `event_too_large`."""
    events_per_second: float = 20.0
    """Sustained client events per second; more get one `rate_limit_exceeded` and are dropped."""
    event_burst: int = 60
    """Client events that may arrive at once before the rate applies."""
    max_dropped_events: int = 200
    """Dropped events (too large or too fast) tolerated before the call is ended
    (`event_abuse`); the tolerance refills at a tenth of `events_per_second`."""
    max_call_s: float = 3600.0
    """Longest call; then `session_expired` and the call ends (`max_duration`)."""
    idle_timeout_s: float = 120.0
    """No incoming media for this long, even with events: `idle_timeout`, call ended."""
    model_stall_s: float = 20.0
    """An answer whose model produces nothing for this long fails with `model_timeout` (and
    an apology); the call goes on."""


class Verdict(Enum):
    ACCEPT = "accept"
    DROP = "drop"
    """Dropped; an `error` event was already sent for this run of drops (stay quiet)."""
    DROP_AND_TELL = "drop_and_tell"
    """Dropped; tell the client with an `error` event."""
    ABUSE = "abuse"
    """Too many drops: end the call."""


class EventGuard:
    """Size and rate of one call's client events.

    An event that is too large, or comes faster than the rate allows, is dropped. The
    first drop of a run is answered with an `error` event, later ones in the same run are
    not (answering each would double the traffic of a flood). A run ends with the next
    accepted event. Sustained abuse (more drops than `max_dropped_events`, refilling
    slowly) ends the call.
    """

    def __init__(self, limits: CallLimits, clock: Clock = time.monotonic) -> None:
        self.limits = limits
        rate = limits.events_per_second
        self._rate = TokenBucket(rate, limits.event_burst, clock) if rate > 0 else None
        tolerance = limits.max_dropped_events
        self._tolerance = TokenBucket(rate / 10, tolerance, clock) if tolerance > 0 else None
        self._told = False
        self.dropped = 0

    def too_large(self, size: int) -> bool:
        return 0 < self.limits.max_event_bytes < size

    def admit(self, size: int) -> tuple[Verdict, str | None]:
        """The verdict for an event of `size` bytes, and the limit it broke (if any)."""
        limit: str | None = None
        if self.too_large(size):
            limit = "event_size"
        elif self._rate is not None and self._rate.take() > 0:
            limit = "event_rate"
        if limit is None:
            self._told = False
            return Verdict.ACCEPT, None
        self.dropped += 1
        if self._tolerance is not None and self._tolerance.take() > 0:
            return Verdict.ABUSE, limit
        if limit == "event_size" or not self._told:
            self._told = limit == "event_rate"
            return Verdict.DROP_AND_TELL, limit
        return Verdict.DROP, limit


def expired(limits: CallLimits, started: float, last_media: float, now: float) -> str | None:
    """Why a call must end now ('max_duration', 'idle_timeout'), or None."""
    if limits.max_call_s > 0 and now - started > limits.max_call_s:
        return "max_duration"
    if limits.idle_timeout_s > 0 and now - last_media > limits.idle_timeout_s:
        return "idle_timeout"
    return None


@dataclass(frozen=True)
class Notice:
    """The `error` event a client gets when the server ends its call."""

    code: str
    message: str
    error_type: str = "invalid_request_error"


def ending_notice(reason: str, limits: CallLimits) -> Notice | None:
    """What to tell the client before ending its call for `reason` (None: nothing)."""
    if reason == "max_duration":
        return Notice(
            "session_expired",
            f"the call reached its maximum length of {limits.max_call_s:g} s and was ended",
        )
    if reason == "idle_timeout":
        return Notice(
            "idle_timeout",
            f"no audio or video arrived for {limits.idle_timeout_s:g} s; the call was ended",
        )
    if reason == "event_abuse":
        return Notice(
            "event_abuse",
            "too many client events were dropped (too large or too fast); the call was ended",
            "rate_limit_error",
        )
    if reason == "server_shutdown":
        return Notice(
            "server_shutdown", "the server is shutting down; the call was ended", "server_error"
        )
    return None
