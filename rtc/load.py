"""How loaded the event loop is, from how late it wakes a timer, and what that means for
new calls.

Every call's media runs on the one event loop. Past what the machine can carry,
each new call makes every open call stutter, and at worst their connections time
out together (measured: 12 camera calls on 2 cores kept the loop ~450 ms late and
ended all of them). So while the loop is running late, new calls are refused with
503 and Retry-After, and the calls already open keep what the machine has.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
from collections import deque
from collections.abc import Callable

from rtc.metrics import Metrics

logger = logging.getLogger("omnilive")

PROBE_S = 0.05
#: A wake-up this late is logged: every call's outgoing audio stalled as long.
WARNING_S = 0.1
#: The last 5 s of probes decide whether the loop is overloaded.
WINDOW = 100
#: Fewer probes than this (just started) never count as overloaded.
MIN_PROBES = 20


class LoopLoad:
    """The recent lateness of the loop's timers."""

    def __init__(self, window: int = WINDOW) -> None:
        self._lags: deque[float] = deque(maxlen=window)

    def observe(self, lag_s: float) -> None:
        self._lags.append(lag_s)

    @property
    def typical_lag_s(self) -> float:
        """The median lateness over the window (0 before enough probes)."""
        if len(self._lags) < MIN_PROBES:
            return 0.0
        return statistics.median(self._lags)

    def overloaded(self, limit_s: float) -> bool:
        """True when the loop's typical lateness is `limit_s` or more (0 disables)."""
        return limit_s > 0 and self.typical_lag_s >= limit_s


async def watch(load: LoopLoad, metrics: Metrics, calls: Callable[[], int]) -> None:
    """Measure how late the loop runs a timer: the stall that media, and so callers, hear."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + PROBE_S
        await asyncio.sleep(PROBE_S)
        lag = max(0.0, loop.time() - due)
        load.observe(lag)
        metrics.loop_lag.observe(lag)
        if lag >= WARNING_S:
            logger.warning(
                "event loop ran %.0f ms late (%d calls): outgoing audio stalled",
                lag * 1000,
                calls(),
            )
