"""The capacity benchmark's load generator: one worker process drives several calls.

Each call is a real aiortc peer connection, like a phone: a camera of
pre-encoded VP8 frames and a microphone of pre-encoded Opus packets (room tone,
or an utterance when it speaks), so the worker spends nothing on encoding.
It times every received audio frame and checks that every utterance gets its
events. The controller (`bench.capacity`) starts workers in their own
processes, so their CPU is counted apart from the server's.

Protocol with the controller, over a `multiprocessing` pipe: the worker sends
("connected", count, errors) once its calls are up, waits for "go", runs the
hold, then sends ("result", WorkerResult) and hangs up.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import httpx
import uvloop
from aiortc.mediastreams import MediaStreamTrack

from bench.replay import GapMeter, LoopLag, ReplayMicTrack, ReplayVideoTrack, record_gaps
from clients.python.client import CallClient

#: The events each utterance must get (the answer's first audio is timed too).
SPEECH_STARTED = "input_audio_buffer.speech_started"
TRANSCRIBED = "conversation.item.input_audio_transcription.completed"
ANSWER_STARTED = "output_audio_buffer.started"
RESPONSE_DONE = "response.done"
#: After its first audio, an answer has this long to finish playing.
ANSWER_PLAY_S = 30.0
#: Against the echo baseline (no answers) a call waits this long after speaking,
#: about one tutor answer, so the microphone pattern is the same.
ECHO_ANSWER_S = 4.0


@dataclass(frozen=True)
class Media:
    """What every call sends, encoded once by the controller."""

    videos: list[list[bytes]]
    """Camera clips (one problem page each), handed to the calls in turn."""
    fps: int
    room: list[bytes]
    opening: list[bytes]
    """The first utterance of every call (e.g. "can you help me with this?")."""
    utterances: list[list[bytes]]
    """Said in turn after the opening."""


@dataclass(frozen=True)
class Plan:
    url: str
    level: int
    """Calls in this level, over every worker."""
    first: int
    """This worker's first call, as an index into the level."""
    calls: int
    session: dict[str, Any] | None
    events: bool
    """Expect omnilive's events (False against the echo baseline)."""
    hold_s: float
    pause_s: tuple[float, float]
    event_timeout_s: float
    connect_every_s: float
    stagger_s: float
    """First utterances are spread over this long, in call order."""
    seed: int = 0
    talk: bool = True
    """False: the calls only listen (room tone on the microphone, camera on)."""


@dataclass
class CallResult:
    connected: bool
    error: str | None = None
    gaps: list[float] = field(default_factory=list)
    said: int = 0
    answered: int = 0
    missing: list[str] = field(default_factory=list)
    """For each unanswered utterance, the first event that did not come."""
    answer_s: list[float] = field(default_factory=list)
    """End of an utterance (as sent) to the first audio of its answer (server event)."""


@dataclass
class WorkerResult:
    calls: list[CallResult]
    loop_lags: list[float]


class LoadCall(CallClient):
    """A `CallClient` with the replayed microphone and camera, timing the received audio."""

    def __init__(self, http: httpx.AsyncClient, plan: Plan, media: Media, index: int) -> None:
        super().__init__(
            http,
            session=plan.session,
            audio=False,
            video=ReplayVideoTrack(media.videos[index % len(media.videos)], media.fps),
        )
        self.plan = plan
        self.media = media
        self.index = index
        self.replay_mic = ReplayMicTrack(media.room)
        self.meter = GapMeter()
        self.result = CallResult(connected=False)
        self._rng = random.Random(plan.seed * 10_007 + index)

    async def connect(self, timeout: float = 20.0) -> None:
        # The microphone first, as a phone offers it: the answer's audio comes back on it.
        self.pc.addTransceiver(self.replay_mic, direction="sendrecv")
        await super().connect(timeout)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._tasks.append(asyncio.ensure_future(record_gaps(track, self.meter)))

    async def open(self) -> None:
        await asyncio.sleep(self.index * self.plan.connect_every_s)
        try:
            await self.connect()
            if self.plan.events:
                await self.wait_for("session.created", timeout=self.plan.event_timeout_s)
            self.result.connected = True
        except Exception as exc:
            self.result.error = f"{type(exc).__name__}: {exc}"

    async def talk(self, until: float) -> None:
        """Speak, wait for the answer, pause a few seconds; again until `until` (once at least)."""
        await asyncio.sleep(self.plan.stagger_s * self.index / max(1, self.plan.level))
        turn = 0
        while turn == 0 or time.monotonic() < until:
            utterances = self.media.utterances
            packets = self.media.opening if turn == 0 else utterances[(turn - 1) % len(utterances)]
            turn += 1
            mark = len(self.events)
            said = self.replay_mic.say(packets)
            self.result.said += 1
            try:
                await asyncio.wait_for(said.done.wait(), 2 * len(packets) * 0.02 + 5)
            except TimeoutError:
                self.result.missing.append("microphone stalled")
                return
            assert said.ended_at is not None
            if self.plan.events:
                await self._check_answer(mark, said.ended_at)
            else:
                await asyncio.sleep(ECHO_ANSWER_S)
            await asyncio.sleep(self._rng.uniform(*self.plan.pause_s))

    async def _check_answer(self, mark: int, ended_at: float) -> None:
        deadline = ended_at + self.plan.event_timeout_s
        for event_type in (SPEECH_STARTED, TRANSCRIBED, ANSWER_STARTED, RESPONSE_DONE):
            budget = deadline - time.monotonic()
            if event_type == RESPONSE_DONE:
                budget += ANSWER_PLAY_S
            try:
                event = await self.wait_for(event_type, after=mark, timeout=max(0.0, budget))
            except TimeoutError:
                self.result.missing.append(event_type)
                return
            if event_type == ANSWER_STARTED:
                self.result.answer_s.append(self.event_time(event) - ended_at)
        self.result.answered += 1


async def run_worker(plan: Plan, media: Media, conn: Connection) -> None:
    lag = LoopLag()
    lag_task = asyncio.ensure_future(lag.run())
    async with httpx.AsyncClient(base_url=plan.url, timeout=30) as http:
        calls = [LoadCall(http, plan, media, plan.first + i) for i in range(plan.calls)]
        try:
            await asyncio.gather(*(c.open() for c in calls))
            errors = [c.result.error for c in calls if c.result.error]
            conn.send(("connected", len(calls) - len(errors), errors))
            if await asyncio.to_thread(conn.recv) != "go":
                return
            until = time.monotonic() + plan.hold_s
            live = [c for c in calls if c.result.connected]
            for call in live:
                call.meter.start()
            lag.recording = True
            talkers = [asyncio.ensure_future(c.talk(until)) for c in live if plan.talk]
            await asyncio.sleep(max(0.0, until - time.monotonic()))
            lag.recording = False
            for call in live:
                call.meter.stop()
                call.result.gaps = call.meter.gaps
            await asyncio.gather(*talkers)
            conn.send(("result", WorkerResult([c.result for c in calls], lag.lags)))
        finally:
            await asyncio.gather(*(c.hangup() for c in calls), return_exceptions=True)
            lag_task.cancel()


def worker_main(plan: Plan, media: Media, conn: Connection) -> None:
    """A worker process's entry point."""
    uvloop.run(run_worker(plan, media, conn))


def split(level: int, per_worker: int) -> Sequence[tuple[int, int]]:
    """(first, count) for each worker, `per_worker` calls at most, as even as possible."""
    workers = max(1, -(-level // per_worker))
    base, extra = divmod(level, workers)
    out, first = [], 0
    for index in range(workers):
        count = base + (index < extra)
        out.append((first, count))
        first += count
    return out
