"""Capacity: the most concurrent calls that stay healthy, next to a bare aiortc echo server.

    .venv/bin/python -m bench.capacity [--levels 4,6,8,10,12,14,16,20,24] [--hold 20]
                                       [--setups single,single-ceiling,cluster-ceiling]
                                       [--gateways N] [--skip-echo | --echo-only]

Each call is what a phone sends in the tutor scenario: the microphone (Opus,
room tone between utterances) and a 640x480 15 fps VP8 camera showing a
printed problem held by hand (slight shake, sensor noise). Both are encoded
once and replayed as packets, so the load generator costs little; it runs in
worker processes (`--per-worker` calls each) apart from the server, and its
CPU is reported separately. Each call opens with "can you help me with this?"
(the tutor reads the page), then says a short line every few seconds, waiting
for each answer to play first.

For each level (calls at once), after every call is up: hold `--hold`
seconds, then report
  - gaps: inter-arrival of received audio frames at each call's track (the
    server sends a 20 ms frame every 20 ms for the whole call, silence when
    quiet): worst, p99, count over 100 ms;
  - events: every utterance said during the hold must get speech_started, its
    transcription and the first audio of its answer within `--event-timeout`
    seconds of its end, then response.done; answer = utterance end -> first
    answer audio (server's output_audio_buffer.started, as received);
  - CPU over the hold, in cores (CPU seconds per second): the server process,
    the load generator's workers, and everything else on the machine;
  - the load generator's own event-loop lag (worst, p99): a late loop looks
    like a gap at the client, so a gap with a similar lag is the client's;
  - server stalls: how often omnilive's own event loop woke 100 ms late or
    more during the hold (its omnilive_event_loop_lag_seconds histogram);
    a gap with no stall and no client lag was lost in between.
A level is healthy when every call connected, no gap exceeded 100 ms and
every utterance got its events. The ramp stops at the first unhealthy level;
the capacity is the largest healthy level before it. The machine may be
shared: a level that fails while other processes used `--busy` cores or more
is run again (`--retries` times at most), and every attempt is printed.

`--silent`: the calls never speak (room tone, camera on), so the models only
read faces: the capacity of the gateway and its media, on the same terms as
the echo baseline.

Setups (`--setups`, each ramped in turn):
  - single: one `omnilive serve`, every camera at 15 fps (a client that ignores
    the server's video ceiling);
  - single-ceiling: one `omnilive serve`, cameras that honour the ceiling: the
    controller places one call first and reads `session.video.ceiling` from its
    `session.created` (the tutor: 2 fps, 220 kbit/s), and the calls send that;
  - cluster-ceiling (cluster: at 15 fps): `--gateways` gateways (one per core by
    default) behind HAProxy with deploy/haproxy.cfg, calls placed through the
    balancer; the CPU, stalls and idleness of every gateway (and HAProxy's CPU)
    are counted.

Baseline in the same run: `bench.echo_server`, bare aiortc that decodes the
camera and echoes the microphone back (no models), ramped the same way, its
cameras at 15 fps (it asks for no ceiling).
Targets (issue 23): on 2 cores, >= 12 healthy tutor calls and >= 1.2 x the echo's.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import httpx

from bench.cluster import balanced_gateways
from bench.common import ServerChild, http_child, percentile, server_child, speech_clip
from bench.loadgen import ANSWER_PLAY_S, Media, Plan, WorkerResult, split, worker_main
from bench.replay import (
    encode_opus,
    encode_vp8,
    gap_stats,
    handheld,
    room_tone,
    worst_and_p99,
)

OPENING = "Can you help me with this?"
LINES = (
    "What's the next step?",
    "I don't get it.",
    "Say that again please.",
    "Is it x equals five?",
)
#: Each call shows one of these (different numbers, so different spoken steps).
PAGES = ("3x + 5 = 20", "2x + 7 = 15", "5x - 4 = 21", "4x + 3 = 19", "6x - 5 = 13", "7x + 2 = 30")
GAP_LIMIT_S = 0.1
TARGET_CALLS = 12
TARGET_RATIO = 1.2
SETUPS = ("single", "single-ceiling", "cluster", "cluster-ceiling")
_TICK = os.sysconf("SC_CLK_TCK")


# -- CPU readings from /proc -------------------------------------------------------------
def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / _TICK


def machine_busy_s() -> float:
    """CPU seconds spent busy by every core since boot."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / _TICK


# -- media -----------------------------------------------------------------------------
def build_media(fps: int, bitrate: int = 600_000) -> Media:
    from tests.imagegen import CLEAN, render_problem

    pages = [render_problem([p], CLEAN, seed=i) for i, p in enumerate(PAGES)]
    seconds = max(2.0, 4.0 / fps)  # a loop of at least 4 frames
    return Media(
        videos=[
            encode_vp8(handheld(page, fps, seconds=seconds, seed=i), fps, bitrate)
            for i, page in enumerate(pages)
        ],
        fps=fps,
        room=encode_opus(room_tone(1.0)),
        opening=encode_opus(speech_clip(OPENING, "en")),
        utterances=[encode_opus(speech_clip(line, "en")) for line in LINES],
    )


def describe(media: Media) -> str:
    frames = media.videos[0]
    kbits = sum(map(len, frames)) * 8 * media.fps / len(frames) / 1000
    return f"{len(media.videos)} camera loops at {media.fps} fps ({kbits:.0f} kbit/s)"


def probe_ceiling(url: str) -> dict[str, Any]:
    """`session.video.ceiling` of a tutor call, as a client honouring it reads it."""
    import asyncio

    from clients.python.client import CallClient

    async def probe() -> dict[str, Any]:
        async with (
            httpx.AsyncClient(base_url=url, timeout=30) as http,
            CallClient(http, session={"scenario": "tutor"}) as call,
        ):
            created = await call.wait_for("session.created")
            ceiling: dict[str, Any] = created["session"]["video"]["ceiling"]
            return ceiling

    return asyncio.run(probe())


# -- where the calls go ----------------------------------------------------------------
@dataclass(frozen=True)
class Setup:
    """Where calls are placed (`url`) and the processes that serve them."""

    url: str
    servers: tuple[ServerChild, ...]
    """Each gateway: its CPU is the server's, its /metrics and /healthz are read."""
    helper_pids: tuple[int, ...] = ()
    """Other processes counted as the server's (HAProxy)."""

    def cpu_s(self) -> float:
        pids = [s.pid for s in self.servers] + list(self.helper_pids)
        return sum(process_cpu_s(pid) for pid in pids)

    def stalls(self) -> int | None:
        counts = [server_stalls(s.url) for s in self.servers]
        return None if None in counts else sum(c for c in counts if c is not None)

    def wait_idle(self) -> None:
        for server in self.servers:
            _wait_idle(server.url)


# -- one level -------------------------------------------------------------------------
@dataclass
class LevelResult:
    level: int
    connected: int
    errors: list[str]
    worst_gap_s: float
    p99_gap_s: float
    gaps_over: int
    said: int
    answered: int
    missing: Counter[str]
    answer_s: list[float]
    server_cores: float
    loadgen_cores: float
    other_cores: float
    lag_worst_s: float
    lag_p99_s: float
    server_stalls: int | None
    events: bool
    talk: bool

    @property
    def healthy(self) -> bool:
        return (
            self.connected == self.level
            and self.worst_gap_s <= GAP_LIMIT_S
            and (not (self.events and self.talk) or (self.said > 0 and self.answered == self.said))
        )


def _receive(conn: Connection, kind: str, timeout: float) -> tuple[Any, ...]:
    if not conn.poll(timeout):
        raise TimeoutError(f"a load generator worker sent no {kind!r} in {timeout:.0f}s")
    message: tuple[Any, ...] = conn.recv()
    if message[0] != kind:
        raise RuntimeError(f"expected {kind!r} from a worker, got {message[0]!r}")
    return message


def run_level(
    server: Setup, level: int, media: Media, args: argparse.Namespace, *, events: bool
) -> LevelResult:
    ctx = multiprocessing.get_context("spawn")
    workers: list[tuple[multiprocessing.process.BaseProcess, Connection]] = []
    for first, count in split(level, args.per_worker):
        parent, child = ctx.Pipe()
        plan = Plan(
            url=server.url,
            level=level,
            first=first,
            calls=count,
            session={"scenario": "tutor"} if events else None,
            events=events,
            hold_s=args.hold,
            pause_s=(args.pause_min, args.pause_max),
            event_timeout_s=args.event_timeout,
            connect_every_s=args.connect_every,
            stagger_s=args.pause_max + 2.0,
            seed=level,
            talk=not args.silent,
        )
        proc = ctx.Process(target=worker_main, args=(plan, media, child), daemon=True)
        proc.start()
        child.close()
        workers.append((proc, parent))
    try:
        connected, errors = 0, []
        for _, conn in workers:
            _, count, failed = _receive(conn, "connected", 60 + level * args.connect_every)
            connected += count
            errors += failed
        time.sleep(args.settle)
        pids = [p.pid for p, _ in workers if p.pid is not None]
        server0, load0, busy0 = (
            server.cpu_s(),
            sum(process_cpu_s(p) for p in pids),
            machine_busy_s(),
        )
        stalls0 = server.stalls()
        started = time.monotonic()
        for _, conn in workers:
            conn.send("go")
        time.sleep(args.hold)
        elapsed = time.monotonic() - started
        stalls1 = server.stalls()
        server1, load1, busy1 = (
            server.cpu_s(),
            sum(process_cpu_s(p) for p in pids),
            machine_busy_s(),
        )
        results: list[WorkerResult] = []
        for _, conn in workers:
            wind_down = args.event_timeout + ANSWER_PLAY_S + 30
            results.append(_receive(conn, "result", wind_down)[1])
    finally:
        for worker, conn in workers:
            worker.join(30)
            if worker.is_alive():
                worker.kill()
            conn.close()
    server.wait_idle()
    calls = [c for r in results for c in r.calls]
    gaps = gap_stats([g for c in calls for g in c.gaps], GAP_LIMIT_S)
    lag_worst, lag_p99 = worst_and_p99(lag for r in results for lag in r.loop_lags)
    server_cores = (server1 - server0) / elapsed
    loadgen_cores = (load1 - load0) / elapsed
    return LevelResult(
        level=level,
        connected=connected,
        errors=errors,
        worst_gap_s=gaps.worst_s,
        p99_gap_s=gaps.p99_s,
        gaps_over=gaps.over,
        said=sum(c.said for c in calls),
        answered=sum(c.answered for c in calls),
        missing=Counter(m for c in calls for m in c.missing),
        answer_s=[a for c in calls for a in c.answer_s],
        server_cores=server_cores,
        loadgen_cores=loadgen_cores,
        other_cores=(busy1 - busy0) / elapsed - server_cores - loadgen_cores,
        lag_worst_s=lag_worst,
        lag_p99_s=lag_p99,
        server_stalls=None if stalls0 is None or stalls1 is None else stalls1 - stalls0,
        events=events,
        talk=not args.silent,
    )


def server_stalls(url: str) -> int | None:
    """Event-loop wake-ups 100 ms late or more so far (omnilive's /metrics; None for the
    echo server, which has none): a gap heard at the same time is the server's."""
    try:
        text = httpx.get(url + "/metrics", timeout=5).text
    except httpx.HTTPError:
        return None
    values = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in (LAG_COUNT, LAG_UNDER_LIMIT):
            values[name] = float(value)
    if len(values) < 2:
        return None
    return round(values[LAG_COUNT] - values[LAG_UNDER_LIMIT])


LAG_COUNT = "omnilive_event_loop_lag_seconds_count"
LAG_UNDER_LIMIT = 'omnilive_event_loop_lag_seconds_bucket{le="0.1"}'


def _wait_idle(url: str, timeout: float = 30.0) -> None:
    """Until the server has closed every call (or `timeout`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=2).json().get("active_calls") == 0:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)


# -- report ----------------------------------------------------------------------------
HEADER = (
    f"{'calls':>5} {'healthy':>7} {'up':>5} {'worst gap':>9} {'p99 gap':>8} {'>100ms':>6} "
    f"{'events ok':>9} {'answer p50/p95':>15} {'server':>6} {'loadgen':>7} {'other':>6} "
    f"{'client lag worst/p99':>20} {'server stalls':>13}"
)


def _ms(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) or math.isinf(seconds) else f"{1000 * seconds:.0f}"


def row(r: LevelResult) -> str:
    events = f"{r.answered}/{r.said}" if r.events and r.talk else "n/a"
    answer = (
        f"{percentile(r.answer_s, 50):.1f}/{percentile(r.answer_s, 95):.1f} s"
        if r.answer_s
        else "n/a"
    )
    lag = f"{_ms(r.lag_worst_s)}/{_ms(r.lag_p99_s)} ms"
    return (
        f"{r.level:5d} {'yes' if r.healthy else 'NO':>7} {r.connected:5d} "
        f"{_ms(r.worst_gap_s):>6} ms {_ms(r.p99_gap_s):>5} ms {r.gaps_over:6d} "
        f"{events:>9} {answer:>15} {r.server_cores:6.2f} {r.loadgen_cores:7.2f} "
        f"{r.other_cores:6.2f} {lag:>20} {'n/a' if r.server_stalls is None else r.server_stalls:>13}"
    )


def explain(r: LevelResult) -> str | None:
    if r.healthy:
        return None
    reasons = []
    if r.connected < r.level:
        reasons.append(f"{r.level - r.connected} calls did not connect ({'; '.join(r.errors[:2])})")
    if r.worst_gap_s > GAP_LIMIT_S:
        reasons.append(f"{r.gaps_over} audio gaps over {_ms(GAP_LIMIT_S)} ms")
    if r.events and r.answered < r.said:
        missing = ", ".join(f"{n}x no {kind}" for kind, n in r.missing.most_common())
        reasons.append(f"{r.said - r.answered} utterances unanswered ({missing})")
    return "; ".join(reasons)


def ramp(
    name: str,
    server: Setup,
    levels: Sequence[int],
    media: Media,
    args: argparse.Namespace,
    *,
    events: bool,
) -> tuple[int, list[LevelResult]]:
    """Levels in order until the first unhealthy one; (capacity, results)."""
    print(f"\n[{name}] cores = CPU seconds per second over the hold")
    print(HEADER, flush=True)
    results: list[LevelResult] = []
    capacity = 0
    for level in levels:
        for attempt in range(args.retries + 1):
            result = run_level(server, level, media, args, events=events)
            results.append(result)
            print(row(result), flush=True)
            if result.healthy:
                break
            print(f"      unhealthy: {explain(result)}", flush=True)
            if result.other_cores < args.busy or attempt == args.retries:
                break
            print(
                f"      other processes used {result.other_cores:.2f} cores: trying again",
                flush=True,
            )
        if not result.healthy:
            break
        capacity = level
    return capacity, results


def warm_up(server: Setup, media: Media, args: argparse.Namespace) -> None:
    """Two calls through the whole script once, unreported: the first page read and the
    first transcription pay one-off costs (lazy initialisation) that no later call pays."""
    quick = argparse.Namespace(**{**vars(args), "hold": 8.0, "settle": 0.5, "silent": False})
    result = run_level(server, 2, media, quick, events=True)
    print(f"warm-up: 2 calls, {result.answered}/{result.said} utterances answered", flush=True)


def start_setup(kind: str, args: argparse.Namespace, stack: contextlib.ExitStack) -> Setup:
    """`kind`'s gateways, up and healthy, stopped when `stack` closes."""
    extra = ("--max-calls", str(max(args.level_list) + 8))
    if kind.startswith("cluster"):
        cluster = stack.enter_context(balanced_gateways(args.gateways, args.backend, *extra))
        return Setup(cluster.url, cluster.gateways, (cluster.balancer_pid,))
    server = stack.enter_context(server_child(args.backend, *extra))
    return Setup(server.url, (server,))


def ramp_setup(kind: str, full: Media, args: argparse.Namespace) -> int:
    with contextlib.ExitStack() as stack:
        setup = start_setup(kind, args, stack)
        media = full
        if kind.endswith("-ceiling"):
            ceiling = probe_ceiling(setup.url)
            fps = max(1, round(ceiling["max_fps"]))
            media = build_media(fps, int(ceiling["max_bitrate"]))
            print(f"\n[{kind}] the server's ceiling: {ceiling}; the calls send {describe(media)}")
        warm_up(setup, media, args)
        where = (
            f"{args.gateways} gateways behind HAProxy"
            if kind.startswith("cluster")
            else "one gateway"
        )
        capacity, _ = ramp(
            f"omnilive --backend {args.backend}, tutor, {where}, {describe(media)}",
            setup,
            args.level_list,
            media,
            args,
            events=True,
        )
        return capacity


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--levels", default="4,6,8,10,12,14,16,20,24", help="calls, ascending")
    parser.add_argument("--hold", type=float, default=20.0, help="seconds per level, all up")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds after connecting")
    parser.add_argument("--per-worker", type=int, default=8, help="calls per load process")
    parser.add_argument("--connect-every", type=float, default=0.15, help="seconds between calls")
    parser.add_argument("--pause-min", type=float, default=2.0, help="pause after an answer")
    parser.add_argument("--pause-max", type=float, default=6.0)
    parser.add_argument("--event-timeout", type=float, default=10.0)
    parser.add_argument("--fps", type=int, default=15, help="camera frames per second (no ceiling)")
    parser.add_argument(
        "--setups",
        default="single,single-ceiling,cluster-ceiling",
        help=f"comma-separated, ramped in this order: {', '.join(SETUPS)}",
    )
    parser.add_argument(
        "--gateways", type=int, default=os.cpu_count() or 2, help="behind HAProxy (cluster)"
    )
    parser.add_argument(
        "--busy",
        type=float,
        default=0.3,
        help="an unhealthy level is run again when other processes used this many cores",
    )
    parser.add_argument("--retries", type=int, default=2, help="at most, per level")
    parser.add_argument(
        "--silent",
        action="store_true",
        help="calls never speak: the gateway's media capacity, without the models' answers",
    )
    parser.add_argument("--backend", default="embedded", choices=["embedded", "tone"])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--skip-echo", action="store_true", help="omnilive only, no baseline")
    group.add_argument("--echo-only", action="store_true", help="the baseline only")
    args = parser.parse_args()
    args.level_list = sorted({int(x) for x in args.levels.split(",")})
    setups = [] if args.echo_only else [x.strip() for x in args.setups.split(",") if x.strip()]
    unknown = [x for x in setups if x not in SETUPS]
    if unknown:
        parser.error(f"unknown setups {unknown}; choose from {', '.join(SETUPS)}")
    started = time.monotonic()
    full = build_media(args.fps)
    print(
        f"media: {describe(full)}, {1 + len(full.utterances)} utterances; "
        f"{len(args.level_list)} levels, hold {args.hold:.0f}s, {os.cpu_count()} cores",
        flush=True,
    )
    capacities = {kind: ramp_setup(kind, full, args) for kind in setups}
    echo = 0
    echo_results: list[LevelResult] = []
    if not args.skip_echo:
        lowest = min(capacities.values(), default=0)
        start = [lv for lv in args.level_list if lv >= lowest] or args.level_list[-1:]
        with http_child("bench.echo_server") as server:
            echo, echo_results = ramp(
                f"baseline: bare aiortc echo, {describe(full)}",
                Setup(server.url, (server,)),
                start,
                full,
                args,
                events=False,
            )
    print(f"\nfinished in {time.monotonic() - started:.0f}s")
    if not args.skip_echo:
        topped = bool(echo_results) and echo_results[-1].healthy
        print(
            f"echo capacity: {'>= ' if topped else ''}{echo} calls"
            + (" (top level)" if topped else "")
        )
    for kind, calls in capacities.items():
        verdict = "ok" if calls >= TARGET_CALLS else "below target"
        line = f"omnilive {kind}: {calls} calls (target >= {TARGET_CALLS}: {verdict})"
        if echo:
            ratio = calls / echo
            verdict = "ok" if ratio >= TARGET_RATIO else "below target"
            line += f"; {ratio:.2f} x the echo (target >= {TARGET_RATIO}: {verdict})"
        print(line)


if __name__ == "__main__":
    main()
