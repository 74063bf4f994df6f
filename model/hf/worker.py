"""One inference thread for the whole process, shared fairly by every call.

Each call (owner) has its own FIFO; the thread takes one job from each owner
in turn, so a call asking for a lot cannot starve the others. Jobs emit items
(text pieces, audio) from the thread to the asking coroutine as they are made;
when the coroutine stops listening (barge-in) the job's cancel flag is set,
which the generation loop checks at every decoding step.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger("omnilive.hf")

Emit = Callable[[Any], None]
Work = Callable[[threading.Event, Emit], None]


class _Done:
    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


@dataclass
class _Job:
    work: Work
    loop: asyncio.AbstractEventLoop
    inbox: asyncio.Queue[Any]
    cancel: threading.Event = field(default_factory=threading.Event)

    def emit(self, item: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody is listening
            self.loop.call_soon_threadsafe(self.inbox.put_nowait, item)


class FairWorker:
    def __init__(self, name: str = "omnilive-inference") -> None:
        self._queues: OrderedDict[int, deque[_Job]] = OrderedDict()
        self._ready = threading.Condition()
        self._stopped = False
        self._owners = itertools.count()
        self.jobs_run = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def owner(self) -> int:
        """A new owner id (one per call)."""
        return next(self._owners)

    def _next(self) -> _Job | None:
        with self._ready:
            while not self._queues and not self._stopped:
                self._ready.wait()
            if self._stopped:
                return None
            owner, jobs = self._queues.popitem(last=False)
            job = jobs.popleft()
            if jobs:
                self._queues[owner] = jobs  # to the back of the round
            return job

    def _run(self) -> None:
        while (job := self._next()) is not None:
            if job.cancel.is_set():
                job.emit(_Done())
                continue
            try:
                job.work(job.cancel, job.emit)
            except BaseException as exc:  # noqa: BLE001 - handed to the coroutine that asked
                job.emit(_Done(exc))
            else:
                job.emit(_Done())
            self.jobs_run += 1

    async def stream(self, owner: int, work: Work) -> AsyncIterator[Any]:
        """Run `work` in the inference thread, yielding what it emits; cancel it when abandoned."""
        job = _Job(work, asyncio.get_running_loop(), asyncio.Queue())
        with self._ready:
            if self._stopped:
                raise RuntimeError("the inference worker is stopped")
            self._queues.setdefault(owner, deque()).append(job)
            self._ready.notify()
        finished = False
        try:
            while True:
                item = await job.inbox.get()
                if isinstance(item, _Done):
                    finished = True
                    if item.error is not None:
                        raise item.error
                    return
                yield item
        finally:
            if not finished:
                job.cancel.set()

    async def run(self, owner: int, work: Work) -> list[Any]:
        return [item async for item in self.stream(owner, work)]

    def stop(self) -> None:
        with self._ready:
            self._stopped = True
            for jobs in self._queues.values():
                for job in jobs:
                    job.cancel.set()
                    job.emit(_Done(RuntimeError("the model was closed")))
            self._queues.clear()
            self._ready.notify_all()
        self._thread.join(timeout=10)
