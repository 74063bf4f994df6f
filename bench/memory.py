"""Server memory: RSS per additional call, and whether memory stays flat over many calls.

    .venv/bin/python -m bench.memory [--levels 1,4,8] [--calls 60] [--no-tone]

Every reading is of `omnilive serve` in a child process: RSS, OS threads (the
codecs' own threads included) and open file descriptors from /proc, active
calls and asyncio tasks from /metrics. The callers are real aiortc calls over
loopback in this process, tutor scenario: the microphone plus a 640x480 camera
at 15 fps showing a face (pre-encoded VP8 frames replayed, so the client
spends nothing on encoding while the server decodes every frame as it would a
phone's, and reads the face once a second).

1. RSS per additional call: calls are opened up to each level and kept open,
   each saying "Solve x plus three equals five" and hearing the tutor's whole
   answer. Once the level is reached and the server has settled, its RSS is
   read (median of five readings). The slope of a least-squares line through
   the levels is what one more call costs. Target (issue 6): <= 40 MB a call.
   Keep the levels within the machine's capacity (`bench.capacity`): past it
   the server refuses new calls with 503 server_overloaded.
   Before the first level two calls speak at once and hang up, so the models'
   working memory (at most two inferences run together) is already in place.
2. Flat memory: `--calls` calls one after another: connect, say "Say that
   again" (or type it, every other pair of calls), hear the answer, hang up,
   with DELETE for every other call and by just closing the peer connection
   (as the OpenAI SDKs do) for the rest. Readings after the first 10 calls and
   at the end, once no call is left. Target: RSS at the end within 5% of RSS
   after 10 calls.

Baselines in the same run: the server's RSS idle after start, and the same two
parts against `--backend tone` (no models: the gateway and WebRTC alone).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
import numpy as np
from numpy.typing import NDArray

from bench.common import ServerChild, server_child, speech_clip
from bench.emotion import face_frame
from bench.replay import ReplayVideoTrack, encode_vp8, handheld
from bench.soak import read as read_metrics
from clients.python.client import CallClient

LESSON = "Solve x plus three equals five."
AGAIN = "Say that again."
TARGET_MB_PER_CALL = 40.0
FLAT_TOLERANCE = 0.05
#: Readings after this many sequential calls are the flat-memory baseline.
FIRST = 10


@dataclass(frozen=True)
class Media:
    camera: list[bytes]
    fps: int
    lesson: NDArray[np.int16]
    again: NDArray[np.int16]


# -- server readings -------------------------------------------------------------------
@dataclass(frozen=True)
class Reading:
    rss_mb: float
    threads: int
    fds: int
    tasks: float
    calls: float

    HEADER = f"{'':30} {'RSS':>10} {'threads':>8} {'fds':>5} {'tasks':>6} {'calls':>6}"

    def row(self, label: str) -> str:
        return (
            f"{label:30} {self.rss_mb:7.1f} MB {self.threads:8d} {self.fds:5d} "
            f"{self.tasks:6.0f} {self.calls:6.0f}"
        )


def rss_mb(pid: int) -> float:
    """VmRSS in MiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def os_threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


async def settled(server: ServerChild, http: httpx.AsyncClient, calls: int) -> Reading:
    """Once `calls` calls are open and the server is quiet: median RSS of five readings."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (await read_metrics(http, 0.0)).calls == calls:
            break
        await asyncio.sleep(0.2)
    else:
        text = (await http.get("/metrics")).text
        ended = [line for line in text.splitlines() if line.startswith("omnilive_calls_ended")]
        print(f"  expected {calls} calls open; calls ended so far: {'; '.join(ended)}")
    await asyncio.sleep(3.0)
    samples = []
    for _ in range(5):
        samples.append(rss_mb(server.pid))
        await asyncio.sleep(0.5)
    metrics = await read_metrics(http, 0.0)
    return Reading(
        rss_mb=statistics.median(samples),
        threads=os_threads(server.pid),
        fds=len(os.listdir(f"/proc/{server.pid}/fd")),
        tasks=metrics.tasks,
        calls=metrics.calls,
    )


# -- callers ---------------------------------------------------------------------------
async def open_call(http: httpx.AsyncClient, media: Media) -> CallClient:
    call = CallClient(http, video=ReplayVideoTrack(media.camera, media.fps))
    await call.connect()
    await call.wait_for("session.created")
    return call


async def exchange(call: CallClient, pcm: NDArray[np.int16], typed: str | None = None) -> None:
    """Say `pcm` (or type `typed` instead) and wait for the whole answer."""
    mark = len(call.events)
    if typed is None:
        assert call.mic is not None
        await call.mic.play(pcm).wait()
    else:
        call.send_text(typed)
    await call.wait_for("response.done", after=mark, timeout=120)


async def lesson_call(http: httpx.AsyncClient, media: Media, delay: float) -> CallClient:
    await asyncio.sleep(delay)
    call = await open_call(http, media)
    await exchange(call, media.lesson)
    return call


@dataclass(frozen=True)
class PerCall:
    idle: Reading
    warm: Reading
    levels: list[tuple[int, Reading]]
    after: Reading
    slope: float
    intercept: float


async def per_call(server: ServerChild, media: Media, levels: Sequence[int]) -> PerCall:
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        idle = await settled(server, http, 0)
        for call in await asyncio.gather(*(lesson_call(http, media, 0.0) for _ in range(2))):
            await call.hangup()
        warm = await settled(server, http, 0)
        calls: list[CallClient] = []
        readings: list[tuple[int, Reading]] = []
        for level in levels:
            new = level - len(calls)
            calls += await asyncio.gather(*(lesson_call(http, media, 0.5 * i) for i in range(new)))
            readings.append((level, await settled(server, http, level)))
            print("  " + readings[-1][1].row(f"{level} calls open"), flush=True)
        for call in calls:
            await call.hangup()
        after = await settled(server, http, 0)
    xs = np.array([level for level, _ in readings], dtype=np.float64)
    ys = np.array([r.rss_mb for _, r in readings], dtype=np.float64)
    slope, intercept = np.polyfit(xs, ys, 1) if len(xs) > 1 else (float("nan"), float("nan"))
    return PerCall(idle, warm, readings, after, float(slope), float(intercept))


@dataclass(frozen=True)
class Flat:
    idle: Reading
    first: Reading
    end: Reading
    calls: int
    seconds: float

    @property
    def growth(self) -> float:
        return self.end.rss_mb / self.first.rss_mb - 1


async def sequential(server: ServerChild, media: Media, count: int) -> Flat:
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        idle = await settled(server, http, 0)
        started = time.monotonic()
        first: Reading | None = None
        for index in range(count):
            call = await open_call(http, media)
            await exchange(call, media.again, typed=None if index // 2 % 2 == 0 else AGAIN.lower())
            await call.hangup(delete=index % 2 == 0)
            if index + 1 == min(FIRST, count):
                first = await settled(server, http, 0)
                print("  " + first.row(f"after {index + 1} calls"), flush=True)
            elif (index + 1) % 25 == 0:
                print(f"  {index + 1} calls: RSS {rss_mb(server.pid):.1f} MB", flush=True)
        seconds = time.monotonic() - started
        end = await settled(server, http, 0)
    assert first is not None
    return Flat(idle, first, end, count, seconds)


# -- report ----------------------------------------------------------------------------
def report_per_call(backend: str, result: PerCall) -> None:
    print(f"\n[{backend}] RSS per additional call")
    print(Reading.HEADER)
    print(result.idle.row("idle after start (baseline)"))
    print(result.warm.row("idle after two warm-up calls"))
    previous: tuple[int, float] = (0, result.warm.rss_mb)
    for level, reading in result.levels:
        step = (reading.rss_mb - previous[1]) / max(1, level - previous[0])
        print(reading.row(f"{level} calls open") + f"   {step:+6.1f} MB a call since last")
        previous = (level, reading.rss_mb)
    print(result.after.row("all hung up"))
    verdict = "ok" if result.slope <= TARGET_MB_PER_CALL else "OVER TARGET"
    print(
        f"slope (least squares over {len(result.levels)} levels): {result.slope:.1f} MB a call "
        f"(target <= {TARGET_MB_PER_CALL:.0f}: {verdict}); line at 0 calls {result.intercept:.0f} MB"
    )


def report_flat(backend: str, result: Flat) -> None:
    print(f"\n[{backend}] {result.calls} sequential calls")
    print(Reading.HEADER)
    print(result.idle.row("idle after start (baseline)"))
    print(result.first.row(f"after {min(FIRST, result.calls)} calls"))
    print(result.end.row(f"after {result.calls} calls"))
    verdict = "ok" if abs(result.growth) <= FLAT_TOLERANCE else "NOT FLAT"
    print(
        f"RSS after {result.calls} vs after {FIRST}: {100 * result.growth:+.1f}% "
        f"(target within {100 * FLAT_TOLERANCE:.0f}%: {verdict}); "
        f"{result.calls} calls took {result.seconds:.0f}s ({result.seconds / result.calls:.1f}s a call)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--levels", default="1,4,8", help="concurrent calls, comma-separated")
    parser.add_argument("--calls", type=int, default=60, help="sequential calls (e.g. 200)")
    parser.add_argument("--fps", type=int, default=15, help="camera frames a second")
    parser.add_argument("--no-tone", action="store_true", help="skip the tone-backend baseline")
    parser.add_argument("--skip", choices=["levels", "calls"], help="leave out one part")
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="environment for the server, e.g. MALLOC_ARENA_MAX=2; repeatable",
    )
    args = parser.parse_args()
    levels = sorted({int(x) for x in args.levels.split(",") if x.strip()})
    env = dict(item.split("=", 1) for item in args.server_env)
    media = Media(
        camera=encode_vp8(handheld(face_frame(), args.fps, seconds=2.0), args.fps),
        fps=args.fps,
        lesson=speech_clip(LESSON, "en"),
        again=speech_clip(AGAIN, "en"),
    )
    started = time.monotonic()
    backends = ["embedded"] if args.no_tone else ["embedded", "tone"]
    results: list[tuple[str, PerCall | None, Flat | None]] = []
    for backend in backends:
        print(f"[{backend}]", flush=True)
        with tempfile.TemporaryDirectory(prefix="omnilive-memory-") as data:
            serve = (backend, "--calls-per-minute", "0", "--data-dir", data)
            per: PerCall | None = None
            flat: Flat | None = None
            if args.skip != "levels":
                with server_child(*serve, env=env) as server:
                    per = asyncio.run(per_call(server, media, levels))
            if args.skip != "calls":
                with server_child(*serve, env=env) as server:
                    flat = asyncio.run(sequential(server, media, args.calls))
        results.append((backend, per, flat))
    for backend, per, flat in results:
        if per is not None:
            report_per_call(backend, per)
        if flat is not None:
            report_flat(backend, flat)
    print(f"\nbenchmark took {time.monotonic() - started:.0f}s")


if __name__ == "__main__":
    main()
