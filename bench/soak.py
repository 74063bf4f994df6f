"""Soak: many calls over a long run; the server's resources must stay flat.

    .venv/bin/python -m bench.soak [--minutes 5] [--phones 4] [--backend tone|embedded]

`omnilive serve` runs in a child process (or pass `--url` for a running server). Each
of `--phones` callers loops until the time is up: connect over real WebRTC, say a short
utterance (the project's own voice), wait for the answer, then leave in one of three
ways, in turn: hang up with DELETE, close the peer connection without DELETE (as the
OpenAI SDKs do), or vanish (stop sending and say nothing; the server must notice on its
own). Every `--every` seconds the server's RSS, open file descriptors, threads, asyncio
tasks and active calls are read from /metrics and printed as one row.

At the end, once every call is gone, the idle readings are compared with the idle
readings after the first round of calls (the warm-up): tasks and threads must be back
where they were, file descriptors within a few, RSS within `--rss-growth` percent.
The exit code is 1 if not. Not run in CI (it takes minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, fields

import httpx
import numpy as np
from numpy.typing import NDArray

from bench.common import server_child, speech_clip
from clients.python.client import CallClient

_SAMPLE = re.compile(r"^(\w+)(?:\{[^}]*\})? ([-+0-9.e]+|NaN)$", re.MULTILINE)


@dataclass(frozen=True)
class Reading:
    at: float
    rss_mb: float
    fds: float
    threads: float
    tasks: float
    calls: float

    def row(self) -> str:
        return (
            f"{self.at:7.0f}s  rss {self.rss_mb:7.1f} MB  fds {self.fds:5.0f}  "
            f"threads {self.threads:4.0f}  tasks {self.tasks:5.0f}  calls {self.calls:3.0f}"
        )


async def read(http: httpx.AsyncClient, started: float) -> Reading:
    text = (await http.get("/metrics")).text
    values = {name: float(value) for name, value in _SAMPLE.findall(text)}
    return Reading(
        at=time.monotonic() - started,
        rss_mb=values.get("process_resident_memory_bytes", float("nan")) / 1e6,
        fds=values.get("process_open_fds", float("nan")),
        threads=values.get("omnilive_threads", float("nan")),
        tasks=values.get("omnilive_asyncio_tasks", float("nan")),
        calls=values.get("omnilive_active_calls", float("nan")),
    )


@dataclass
class Tally:
    calls: int = 0
    answered: int = 0
    refused: int = 0
    failed: int = 0


async def phone(
    http: httpx.AsyncClient,
    clip: NDArray[np.int16],
    deadline: float,
    leaving: Iterator[str],
    tally: Tally,
) -> None:
    while time.monotonic() < deadline:
        call = CallClient(http, session={"scenario": "interpreter", "languages": ["en", "es"]})
        try:
            await call.connect()
        except RuntimeError:
            tally.refused += 1  # the server was at its limit: wait and retry
            await asyncio.sleep(1.0)
            continue
        tally.calls += 1
        way = next(leaving)
        try:
            await call.wait_for("session.created", timeout=10)
            assert call.mic is not None
            call.mic.play(clip)
            await call.wait_for("response.done", timeout=60)
            tally.answered += 1
        except (TimeoutError, AssertionError):
            tally.failed += 1
        if way == "vanish":
            assert call.mic is not None
            call.mic.stop()  # silence on the wire; the peer connection stays up
            with contextlib.suppress(TimeoutError):
                await _until_closed(call, 30.0)
        await call.hangup(delete=way == "delete")


async def _until_closed(call: CallClient, timeout: float) -> None:
    gone = asyncio.Event()

    def changed() -> None:
        if call.pc.connectionState != "connected":
            gone.set()

    call.pc.on("connectionstatechange", changed)
    changed()
    await asyncio.wait_for(gone.wait(), timeout)


async def settle(http: httpx.AsyncClient, started: float, timeout: float = 60.0) -> Reading:
    """Idle readings once the server has no calls and its task count has stopped moving."""
    deadline = time.monotonic() + timeout
    last = await read(http, started)
    while time.monotonic() < deadline:
        await asyncio.sleep(2.0)
        now = await read(http, started)
        if now.calls == 0 and now.tasks == last.tasks and now.threads == last.threads:
            return now
        last = now
    return last


async def soak(url: str, args: argparse.Namespace) -> int:
    clip = speech_clip("I would like a cup of coffee, please.", "en")
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        print(f"soak: {args.phones} phones for {args.minutes:g} min against {url}", flush=True)
        print("idle at start: " + (await read(http, started)).row(), flush=True)
        ways = ["delete", "close", "vanish"]
        tally = Tally()
        # Warm-up: one round per phone, so caches and pools are filled before the baseline.
        warm = [
            phone(http, clip, time.monotonic() + 1, itertools.cycle(ways), tally)
            for _ in range(args.phones)
        ]
        await asyncio.gather(*warm)
        baseline = await settle(http, started)
        print("baseline (idle after warm-up): " + baseline.row(), flush=True)

        deadline = time.monotonic() + args.minutes * 60
        leaving = itertools.cycle(ways)
        phones = [
            asyncio.create_task(phone(http, clip, deadline, leaving, tally))
            for _ in range(args.phones)
        ]
        readings: list[Reading] = []
        while not all(p.done() for p in phones):
            await asyncio.wait(phones, timeout=args.every)
            readings.append(await read(http, started))
            print(readings[-1].row(), flush=True)
        await asyncio.gather(*phones)
        end = await settle(http, started)
    print("idle at the end: " + end.row())
    print(
        f"calls {tally.calls}, answered {tally.answered}, not answered {tally.failed}, "
        f"refused (server full) {tally.refused}"
    )
    return report(baseline, end, readings, args.rss_growth)


def report(baseline: Reading, end: Reading, during: list[Reading], rss_growth: float) -> int:
    problems = []
    if end.calls != 0:
        problems.append(f"{end.calls:.0f} calls still open")
    if end.tasks > baseline.tasks:
        problems.append(f"tasks {baseline.tasks:.0f} -> {end.tasks:.0f}")
    if end.threads > baseline.threads:
        problems.append(f"threads {baseline.threads:.0f} -> {end.threads:.0f}")
    if end.fds > baseline.fds + 4:
        problems.append(f"open fds {baseline.fds:.0f} -> {end.fds:.0f}")
    if end.rss_mb > baseline.rss_mb * (1 + rss_growth / 100):
        problems.append(f"RSS {baseline.rss_mb:.0f} -> {end.rss_mb:.0f} MB (> {rss_growth:g}%)")
    if during:
        peak = {f.name: max(getattr(r, f.name) for r in during) for f in fields(Reading)}
        print(
            f"peak during the run: rss {peak['rss_mb']:.0f} MB, fds {peak['fds']:.0f}, "
            f"threads {peak['threads']:.0f}, tasks {peak['tasks']:.0f}, calls {peak['calls']:.0f}"
        )
    if problems:
        print("NOT FLAT: " + "; ".join(problems))
        return 1
    print("flat: tasks, threads, file descriptors and RSS are back at the warm-up baseline")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="length of the run")
    parser.add_argument("--phones", type=int, default=4, help="concurrent callers")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between readings")
    parser.add_argument("--backend", default="tone", choices=["tone", "embedded"])
    parser.add_argument("--url", help="soak a running server instead of starting one")
    parser.add_argument(
        "--rss-growth", type=float, default=10.0, help="allowed RSS growth over the run, %%"
    )
    args = parser.parse_args()
    if args.url:
        return asyncio.run(soak(args.url, args))
    with (
        tempfile.TemporaryDirectory(prefix="omnilive-soak-") as data,
        server_child(args.backend, "--calls-per-minute", "0", "--data-dir", data) as server,
    ):
        return asyncio.run(soak(server.url, args))


if __name__ == "__main__":
    sys.exit(main())
