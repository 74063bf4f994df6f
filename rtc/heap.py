"""Keep the C heap flat over many calls: glibc tuned at start, free pages handed back
to the OS after calls end.

A call decodes and encodes its media on threads of its own (aiortc's decoder
threads, FFmpeg's filter-graph and scaler threads, libvpx's), so its buffers
are spread over several of glibc's per-thread arenas. When the call ends
everything is freed, but glibc only gives back memory at the top of an arena:
free pages in the middle stay resident, and the next call does not fit
exactly into the holes the last one left. Measured with `bench.memory`: live
(malloc'd) bytes stay flat from call to call while free-but-resident bytes,
and so RSS, creep up with every call. `malloc_trim(0)` returns every whole
free page in every arena.

It walks every arena holding that arena's lock, so it runs on a worker thread,
never on the event loop, once shortly after a burst of calls ends. Without
glibc (musl, macOS) this does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import sys
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)


def _find_malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim  # type: ignore[no-any-return]


_MALLOC_TRIM = _find_malloc_trim()

#: glibc's mallopt parameters (malloc.h).
_M_MMAP_THRESHOLD = -3


#: Blocks this large or larger get pages of their own, given back when freed. glibc's
#: default starts at 128 KB but rises to the largest block freed so far (up to 32 MB), so
#: soon every block up to tens of MB is carved out of the arenas, and the holes calls leave
#: there stay resident: RSS +8.7% after 200 sequential calls with the threshold free to
#: rise, +0.9% with it fixed at 256 KB and +0.6% (after 120) at 4 MB (`bench.memory`).
#: Not lower than 4 MB: Whisper's working buffers are 1-4 MB, and mapping fresh zeroed
#: pages for each of them makes a transcription 1.23x slower at 256 KB and 1.11x at 1 MB,
#: 0.99x at 4 MB, against glibc's own threshold (`python -m bench.heap`).
MMAP_THRESHOLD = 4 * 1024 * 1024


def _mallopt(param: int, value: int, env: str) -> bool:
    """Set a glibc malloc parameter unless the operator set it (env). False if unchanged."""
    if not sys.platform.startswith("linux") or os.environ.get(env):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(param, value))


def fix_mmap_threshold(size: int = MMAP_THRESHOLD) -> bool:
    """Serve blocks of `size` and more with mmap, always (as MALLOC_MMAP_THRESHOLD_ does).

    An operator's own MALLOC_MMAP_THRESHOLD_ wins. False when nothing was changed."""
    return _mallopt(_M_MMAP_THRESHOLD, size, "MALLOC_MMAP_THRESHOLD_")


def tune_malloc() -> None:
    """First thing in the server, before the codec and inference threads allocate.

    The arenas are left at glibc's default (8 per core): capping them at 2 kept RSS just
    as flat once the threshold was fixed, but the codec, inference and event-loop threads
    then contended for 2 arena locks, and the interpreter's answers came ~60-90 ms later
    at p50 (`bench.latency`)."""
    fix_mmap_threshold()


class HeapTrimmer:
    """Trims the heap `delay_s` after it is asked to; asks during a trim are served after it."""

    def __init__(self, delay_s: float = 1.0, trim: Callable[[int], int] | None = _MALLOC_TRIM):
        self._delay_s = delay_s
        self._trim = trim
        self._task: asyncio.Task[None] | None = None
        self._again = False
        self.trims = 0

    @property
    def available(self) -> bool:
        return self._trim is not None

    def request(self) -> None:
        """Something big was just freed (a call ended): trim soon."""
        if self._trim is None:
            return
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.get_running_loop().create_task(self._run(self._trim))

    async def _run(self, trim: Callable[[int], int]) -> None:
        while True:
            self._again = False
            await asyncio.sleep(self._delay_s)
            started = time.perf_counter()
            await asyncio.to_thread(trim, 0)
            self.trims += 1
            logger.debug("heap trimmed in %.1f ms", 1000 * (time.perf_counter() - started))
            if not self._again:
                return

    async def settled(self) -> None:
        """Wait until no trim is due (the asks so far are all served)."""
        task = self._task
        if task is not None:
            await asyncio.shield(task)

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
