"""Turn taking, measured at the client over real WebRTC: pauses, backchannels, echo.

    .venv/bin/python -m bench.turn_taking [--quick] [--variant NAME ...] [--json]

Every server variant (a session and `omnilive serve` flags; see VARIANTS)
answers the same utterances in the same run, and the figures are printed
side by side. `natural` is the default session (semantic_vad with the end-of-turn
model, backchannels, echo cancellation); `previous` the detector before it (words only),
in the same server: the baseline. Interpreter calls (en<->es), embedded backend:

(a) Pauses. Sentences with a 400, 600 or 900 ms pause after a first part
    that is clearly not the end (an unfinished clause, "wait, ...", a number
    to come; English in Piper's voice, Spanish in espeak-ng's; see
    bench/turn_clips.py), and complete utterances. A cut-off is a
    `response.created`, or answer audio heard, before the speaker finished.
    Response latency of complete turns: last voice sent -> first loud frame
    received (turns that were cut off are left out of it).
(b) Backchannels ("uh-huh", "yeah", "okay", "mm-hmm", "sí", "vale") said
    1.2 s into a ~7 s answer: was the answer cancelled, was the backchannel
    answered, and how long its audio stopped (quiet received beyond the
    answer's own pauses, from a reference playing of the same answer).
(c) Echo. The caller's speaker feeds its microphone at -10 dB, 80 ms later
    (bench/echo_path.py). Over N typed answers: how many the server cancelled,
    how many false barge-ins (cancelled responses) and answers to its own
    echo it made. Then "Wait, stop please." said over an answer and its echo:
    onset -> received audio quiet (300 ms), as bench.latency measures it.

The CPU is shared with the server (2 cores): figures are indicative.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from bench.common import ms, percentile, server_child
from bench.echo_path import EchoingMicrophone, echoing_call
from bench.turn_clips import (
    BACKCHANNELS,
    COMPLETE,
    ECHO_ANSWERS,
    INTERRUPTION,
    LONG_ANSWER,
    PAUSED,
    RATE,
    PausedUtterance,
    paused,
    voice,
)
from clients.python.client import VOICE_RMS, CallClient

PAUSES_S = (0.4, 0.6, 0.9)
INTERPRETER: dict[str, Any] = {"scenario": "interpreter", "languages": ["en", "es"]}
BACKCHANNEL_AT_S = 1.2
INTERRUPT_AT_S = 1.0
FRAME_S = 0.02


@dataclass(frozen=True)
class Variant:
    """One server configuration under test."""

    name: str
    label: str
    session: Mapping[str, Any] = field(default_factory=dict)
    """Merged (deeply) into every call's session, over the interpreter's."""
    server_args: tuple[str, ...] = ()
    """Extra `omnilive serve` flags."""


#: Ad hoc variants: `--variant-json 'name={"session": {...}, "server_args": [...]}'`.
VARIANTS: dict[str, Variant] = {
    # The default session: semantic_vad with the end-of-turn model (Smart Turn) and the
    # words, backchannels heard as such; the echo canceller asked for (a WebRTC client
    # that cancels no echo itself, as this one).
    "natural": Variant(
        "natural",
        "semantic_vad auto + Smart Turn + backchannels + AEC",
        session={"audio": {"input": {"echo_cancellation": True}}},
    ),
    # The detector before it, in the same server: the words alone end a turn, an
    # unfinished one after at most 800 ms; any words over an answer interrupt it; no AEC.
    "previous": Variant(
        "previous",
        "semantic_vad auto, words only (the detector before)",
        session={
            "audio": {
                "input": {
                    "turn_detection": {
                        "type": "semantic_vad",
                        "end_of_turn_model": False,
                        "backchannels": False,
                        "silence_duration_ms": 800,
                    }
                }
            }
        },
    ),
    "server_vad": Variant(
        "server_vad",
        "server_vad 500 ms",
        session={
            "audio": {
                "input": {"turn_detection": {"type": "server_vad", "silence_duration_ms": 500}}
            }
        },
    ),
}
DEFAULT_VARIANTS = ("natural", "previous")


@dataclass(frozen=True)
class Plan:
    pauses: tuple[float, ...]
    paused: list[tuple[str, str, str, str]]
    pause_reps: int
    complete_reps: int
    backchannels: list[tuple[str, str]]
    backchannel_reps: int
    echo_answers: int
    interruptions: int


def plan(quick: bool, reps: int | None, echo_answers: int | None) -> Plan:
    if quick:
        return Plan(
            pauses=PAUSES_S,
            paused=PAUSED[:4],
            pause_reps=reps or 1,
            complete_reps=reps or 1,
            backchannels=BACKCHANNELS,
            backchannel_reps=reps or 1,
            echo_answers=echo_answers or 3,
            interruptions=2 * (reps or 1),
        )
    return Plan(
        pauses=PAUSES_S,
        paused=PAUSED,
        pause_reps=reps or 2,
        complete_reps=reps or 3,
        backchannels=BACKCHANNELS,
        backchannel_reps=reps or 2,
        echo_answers=echo_answers or 20,
        interruptions=5 * (reps or 2),
    )


@dataclass
class TurnResult:
    text: str
    language: str
    pause_s: float
    cut_off: bool
    audible: bool
    latency_s: float | None


@dataclass
class BackchannelResult:
    text: str
    cancelled: bool
    answered: bool
    stopped_s: float
    longest_quiet_s: float


@dataclass
class EchoResult:
    answers: int = 0
    answers_cancelled: int = 0
    cancelled_responses: int = 0
    cleared: int = 0
    spurious_responses: int = 0
    speech_started: int = 0
    never_settled: int = 0
    not_started: int = 0
    stop_latency_s: list[float] = field(default_factory=list)
    already_stopped: int = 0
    interruptions: int = 0


@dataclass
class Results:
    turns: list[TurnResult] = field(default_factory=list)
    backchannels: list[BackchannelResult] = field(default_factory=list)
    echo: EchoResult = field(default_factory=EchoResult)


def merged(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        old = out.get(key)
        out[key] = (
            merged(old, value) if isinstance(old, Mapping) and isinstance(value, Mapping) else value
        )
    return out


# --- waiting on a call ------------------------------------------------------------------


def _events_since(call: CallClient, mark: int, kind: str) -> list[tuple[float, dict[str, Any]]]:
    return [
        (at, e)
        for e, at in zip(call.events[mark:], call.event_times[mark:], strict=False)
        if e.get("type") == kind
    ]


def _loud_within(call: CallClient, start: float, end: float) -> bool:
    received = call.received
    for i in range(len(received.times) - 1, -1, -1):
        at = received.times[i]
        if at < start:
            return False
        if at <= end and received.rms[i] > VOICE_RMS:
            return True
    return False


async def settle(
    call: CallClient,
    mark: int,
    *,
    answered: bool = True,
    quiet_s: float = 0.8,
    timeout: float = 20.0,
) -> bool:
    """Until the call is at rest: a response since `mark` is done (if `answered`), every
    response since is done, and no voice nor event came for `quiet_s`. False if it was
    not at rest within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = time.monotonic()
        created = {e["response"]["id"] for _, e in _events_since(call, mark, "response.created")}
        done = {e["response"]["id"] for _, e in _events_since(call, mark, "response.done")}
        last_event = call.event_times[-1] if call.event_times else 0.0
        if (
            (done or not answered)
            and created <= done
            and now - last_event >= quiet_s
            and not _loud_within(call, now - quiet_s, now)
        ):
            return True
        await asyncio.sleep(0.05)
    return False


async def _first_voice(call: CallClient, after: float, timeout: float = 20.0) -> float:
    deadline = time.monotonic() + timeout
    while (first := call.received.first_voice_after(after)) is None:
        if time.monotonic() > deadline:
            raise TimeoutError("no answer audio")
        await asyncio.sleep(FRAME_S)
    return first


async def _sleep_until(t: float) -> None:
    await asyncio.sleep(max(0.0, t - time.monotonic()))


# --- (a) pauses and complete turns ------------------------------------------------------


async def turn_trial(call: CallClient, said: PausedUtterance) -> TurnResult:
    assert call.mic is not None
    mark = len(call.events)
    playing = call.mic.play(said.pcm)
    await playing.started.wait()
    assert playing.started_at is not None
    started, end = playing.started_at, playing.started_at + said.end_s
    await playing.wait()
    await settle(call, mark, timeout=25.0)
    early = [at for at, _ in _events_since(call, mark, "response.created") if at < end]
    heard = call.received.first_voice_after(started)
    audible = heard is not None and heard < end
    first = call.received.first_voice_after(end)
    cut = bool(early) or audible
    return TurnResult(
        said.text,
        said.language,
        said.pause_s,
        cut_off=cut,
        audible=audible,
        latency_s=None if first is None or cut else first - end,
    )


def complete_utterance(text: str, language: str) -> PausedUtterance:
    pcm = voice(text, language)
    return PausedUtterance(text, language, "complete", 0.0, pcm, len(pcm) / RATE, len(pcm) / RATE)


async def turns(
    url: str, session: dict[str, Any], p: Plan, log: Callable[[str], None]
) -> list[TurnResult]:
    said = [
        paused(text, first, language, kind, pause)
        for pause in p.pauses
        for text, first, language, kind in p.paused
        for _ in range(p.pause_reps)
    ]
    said += [complete_utterance(t, lang) for t, lang in COMPLETE for _ in range(p.complete_reps)]
    out: list[TurnResult] = []
    async with (
        httpx.AsyncClient(base_url=url, timeout=30) as http,
        CallClient(http, session=session) as call,
    ):
        await call.wait_for("session.created")
        await asyncio.sleep(1.0)
        for utterance in said:
            result = await turn_trial(call, utterance)
            out.append(result)
            latency = "" if result.latency_s is None else f" {1000 * result.latency_s:.0f} ms"
            log(
                f"  {'pause ' + str(int(1000 * utterance.pause_s)) + ' ms' if utterance.pause_s else 'complete':12} "
                f"{'CUT' if result.cut_off else 'ok ':3}{' (audible)' if result.audible else ''}"
                f"{latency}  {utterance.text}"
            )
    return out


# --- (b) backchannels over a long answer ------------------------------------------------


def trace(call: CallClient, mark: int, t0: float) -> str:
    """The events since `mark`, with their arrival relative to `t0` (for --verbose)."""
    parts = []
    for event, at in zip(call.events[mark:], call.event_times[mark:], strict=False):
        kind = str(event.get("type", "?"))
        if kind.endswith(".delta"):
            continue
        detail = ""
        if kind == "response.done":
            detail = f"({event['response']['status']})"
        elif kind == "conversation.item.input_audio_transcription.completed":
            detail = f"({event.get('transcript', '')!r})"
        parts.append(f"{kind}{detail}@{at - t0:+.2f}")
    return " ".join(parts)


async def long_answer(call: CallClient, text: str) -> tuple[str, float, int] | None:
    """Type `text`; (the answer's id, when its first loud frame arrived, the event mark),
    or None if no answer started within 15 s (a server busy with turns of its own)."""
    mark = len(call.events)
    sent = time.monotonic()
    call.send_text(text)
    try:
        created = await call.wait_for("response.created", after=mark, timeout=15.0)
        first = await _first_voice(call, sent, timeout=15.0)
    except TimeoutError:
        return None
    return str(created["response"]["id"]), first, mark


async def _answer_done(call: CallClient, answer_id: str, mark: int) -> dict[str, Any]:
    return await call.wait_for(
        "response.done", lambda e: bool(e["response"]["id"] == answer_id), after=mark, timeout=40
    )


def _quiet_s(call: CallClient, start: float, end: float) -> tuple[float, float]:
    """(all quiet received time, the longest quiet run) within [start, end)."""
    total = longest = run = 0.0
    for at, level in zip(call.received.times, call.received.rms, strict=False):
        if not start <= at < end:
            continue
        if level > VOICE_RMS:
            run = 0.0
        else:
            total += FRAME_S
            run += FRAME_S
            longest = max(longest, run)
    return total, longest


async def backchannels(
    url: str, session: dict[str, Any], p: Plan, log: Callable[[str], None], verbose: bool
) -> list[BackchannelResult]:
    out: list[BackchannelResult] = []
    async with (
        httpx.AsyncClient(base_url=url, timeout=30) as http,
        CallClient(http, session=session) as call,
    ):
        assert call.mic is not None
        await call.wait_for("session.created")
        await asyncio.sleep(1.0)
        # The same answer with nobody talking over it: its own pauses are not stops.
        started = await long_answer(call, LONG_ANSWER)
        if started is None:
            raise RuntimeError("the server did not answer the reference text")
        answer_id, first, mark = started
        await _answer_done(call, answer_id, mark)
        await settle(call, mark)
        received = call.received
        frames = [
            (at - first, level <= VOICE_RMS)
            for at, level in zip(received.times, received.rms, strict=False)
            if at >= first
        ]
        length = max(rel for rel, quiet in frames if not quiet)
        log(f"  reference answer: {length:.1f} s of audio")
        for text, language in [b for b in p.backchannels for _ in range(p.backchannel_reps)]:
            clip = voice(text, language)
            started = await long_answer(call, LONG_ANSWER)
            if started is None:
                log(f"  {text:10} the answer did not start; skipped")
                continue
            answer_id, first, mark = started
            await _sleep_until(first + BACKCHANNEL_AT_S)
            playing = call.mic.play(clip)
            await playing.started.wait()
            assert playing.started_at is not None
            onset = playing.started_at
            done = await _answer_done(call, answer_id, mark)
            await settle(call, mark)
            await _sleep_until(first + length + 0.1)  # the whole answer's time has passed
            natural = FRAME_S * sum(
                1 for rel, quiet in frames if quiet and onset - first <= rel < length
            )
            quiet, longest = _quiet_s(call, onset, first + length)
            answered = any(
                e["response"]["id"] != answer_id and at >= onset
                for at, e in _events_since(call, mark, "response.created")
            )
            result = BackchannelResult(
                text,
                cancelled=done["response"]["status"] == "cancelled",
                answered=answered,
                stopped_s=max(0.0, quiet - natural),
                longest_quiet_s=longest,
            )
            out.append(result)
            log(
                f"  {text:10} cancelled={result.cancelled} answered={result.answered} "
                f"stopped {1000 * result.stopped_s:.0f} ms (longest quiet {1000 * longest:.0f} ms)"
            )
            if verbose:
                log(f"    {trace(call, mark, onset)}")
    return out


# --- (c) the answer's own echo ----------------------------------------------------------


async def _at_rest(call: CallClient, mic: EchoingMicrophone, mark: int, timeout: float) -> bool:
    """Settle the call; if its echo keeps it busy past `timeout`, mute the echo until it
    settles (so the next trial starts clean). False if it had to be muted."""
    if await settle(call, mark, timeout=timeout):
        return True
    mic.enabled = False
    await settle(call, mark, answered=False, timeout=60.0)
    mic.enabled = True
    return False


async def echo(
    url: str, session: dict[str, Any], p: Plan, log: Callable[[str], None], verbose: bool
) -> EchoResult:
    result = EchoResult()
    interruption = voice(*INTERRUPTION)
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        call, mic = echoing_call(http, session=session)
        async with call:
            await call.wait_for("session.created")
            await asyncio.sleep(1.0)
            ours: set[str] = set()
            for i in range(p.echo_answers):
                started = await long_answer(call, ECHO_ANSWERS[i % len(ECHO_ANSWERS)])
                result.answers += 1
                if started is None:
                    result.not_started += 1
                    log(f"  answer {i + 1}: did not start within 15 s")
                    await _at_rest(call, mic, len(call.events), 10.0)
                    continue
                answer_id, first, mark = started
                ours.add(answer_id)
                done = await _answer_done(call, answer_id, mark)
                cancelled = done["response"]["status"] == "cancelled"
                result.answers_cancelled += cancelled
                settled = await _at_rest(call, mic, mark, 10.0)
                result.never_settled += not settled
                _echo_counts(result, call, mark, len(call.events), ours)
                log(
                    f"  answer {i + 1}: {'CANCELLED' if cancelled else 'completed'}"
                    f"{'' if settled else ', still busy with its echo after 10 s'}"
                )
                if verbose:
                    log(f"    {trace(call, mark, first)}")
            # A real interruption, spoken over an answer and its echo.
            for _ in range(p.interruptions):
                started = await long_answer(call, LONG_ANSWER)
                if started is None:
                    log("  interruption: the answer did not start; skipped")
                    await _at_rest(call, mic, len(call.events), 10.0)
                    continue
                answer_id, first, mark = started
                await _sleep_until(first + INTERRUPT_AT_S)
                playing = mic.play(interruption)
                await playing.started.wait()
                assert playing.started_at is not None
                onset = playing.started_at
                result.interruptions += 1
                stopped_before = any(
                    e["response"]["id"] == answer_id and at < onset
                    for at, e in _events_since(call, mark, "response.done")
                ) or not _loud_within(call, onset - 0.2, onset)
                await _answer_done(call, answer_id, mark)
                deadline = time.monotonic() + 5.0
                while (quiet := call.received.silent_since(onset, hold_s=0.3)) is None:
                    if time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.05)
                if stopped_before:
                    result.already_stopped += 1
                    log("  interruption: the answer had already stopped (its own echo)")
                elif quiet is not None:
                    result.stop_latency_s.append(max(0.0, quiet - onset))
                    log(
                        f"  interruption: audio stopped {1000 * (quiet - onset):.0f} ms after onset"
                    )
                if verbose:
                    log(f"    {trace(call, mark, onset)}")
                await _at_rest(call, mic, mark, 12.0)
    return result


def _echo_counts(
    result: EchoResult, call: CallClient, start: int, end: int, ours: set[str]
) -> None:
    """Add what the server did from event `start` to `end`, with nobody but its echo talking."""
    events = call.events[start:end]
    for event in events:
        kind = event.get("type")
        if kind == "response.done":
            result.cancelled_responses += event["response"]["status"] == "cancelled"
        elif kind == "output_audio_buffer.cleared":
            result.cleared += 1
        elif kind == "input_audio_buffer.speech_started":
            result.speech_started += 1
        elif kind == "response.created":
            result.spurious_responses += event["response"]["id"] not in ours


# --- running and reporting --------------------------------------------------------------


async def measure(
    url: str, variant: Variant, p: Plan, parts: set[str], verbose: bool = False
) -> Results:
    session = merged(INTERPRETER, variant.session)

    def log(line: str) -> None:
        print(f"[{variant.name}]{line}", flush=True)

    results = Results()
    if "pauses" in parts:
        log(" (a) pauses and complete turns")
        results.turns = await turns(url, session, p, log)
    if "backchannels" in parts:
        log(" (b) backchannels over a long answer")
        results.backchannels = await backchannels(url, session, p, log, verbose)
    if "echo" in parts:
        log(" (c) the answer's own echo at -10 dB, 80 ms")
        results.echo = await echo(url, session, p, log, verbose)
    return results


def run_variant(variant: Variant, p: Plan, parts: set[str], verbose: bool = False) -> Results:
    with server_child("embedded", "--no-records", *variant.server_args) as server:
        return asyncio.run(measure(server.url, variant, p, parts, verbose))


def _count(flags: Sequence[bool]) -> str:
    if not flags:
        return "n/a"
    return f"{sum(flags)}/{len(flags)} ({100 * sum(flags) / len(flags):.0f}%)"


def _p50_p95(values: Sequence[float]) -> str:
    if not values:
        return "n/a"
    return (
        f"{ms(percentile(values, 50)).strip()} / {ms(percentile(values, 95)).strip()}"
        f" (n={len(values)})"
    )


def rows(results: Results) -> list[tuple[str, str]]:
    """(label, figure) pairs; every label is unique (the report is keyed by them)."""
    out: list[tuple[str, str]] = []
    paused_turns = [t for t in results.turns if t.pause_s > 0]
    complete = [t for t in results.turns if t.pause_s == 0]
    for pause in sorted({t.pause_s for t in paused_turns}):
        these = [t for t in paused_turns if t.pause_s == pause]
        name = f"{int(1000 * pause)} ms pause"
        out.append((f"(a) {name}: cut off", _count([t.cut_off for t in these])))
        out.append((f"    {name}: answer heard early", _count([t.audible for t in these])))
        for language in ("en", "es"):
            mine = [t.cut_off for t in these if t.language == language]
            if mine:
                out.append((f"    {name}: cut off, {language}", _count(mine)))
    if complete:
        out.append(("(a) complete turns: cut off", _count([t.cut_off for t in complete])))
        latencies = [t.latency_s for t in complete if t.latency_s is not None]
        out.append(("    complete turns: response p50 / p95", _p50_p95(latencies)))
    if results.backchannels:
        bc = results.backchannels
        stops = [b.stopped_s for b in bc]
        out.append(("(b) backchannel: answer cancelled", _count([b.cancelled for b in bc])))
        out.append(("    backchannel: answered", _count([b.answered for b in bc])))
        out.append(
            (
                "    backchannel: audio stopped p50 / max",
                f"{ms(percentile(stops, 50)).strip()} / {ms(max(stops)).strip()}",
            )
        )
        out.append(("    backchannel: stopped > 300 ms", _count([s > 0.3 for s in stops])))
    e = results.echo
    if e.answers:
        out.append(("(c) echo: answers cancelled", f"{e.answers_cancelled}/{e.answers}"))
        out.append(("    echo: false barge-ins (cancelled)", str(e.cancelled_responses)))
        out.append(("    echo: output_audio_buffer.cleared", str(e.cleared)))
        out.append(("    echo: answers to its own echo", str(e.spurious_responses)))
        out.append(("    echo: speech_started, no user", str(e.speech_started)))
        out.append(("    echo: busy 10 s after an answer", f"{e.never_settled}/{e.answers}"))
        out.append(("    echo: typed answer never started", f"{e.not_started}/{e.answers}"))
    if e.interruptions:
        out.append(("    echo: interruption stop p50 / p95", _p50_p95(e.stop_latency_s)))
        out.append(("    echo: had stopped before it", f"{e.already_stopped}/{e.interruptions}"))
    return out


def report(results: Sequence[tuple[Variant, Results]]) -> None:
    """One column per variant, one row per figure."""
    tables = [dict(rows(r)) for _, r in results]
    labels: list[str] = []
    for _, r in results:
        labels += [label for label, _ in rows(r) if label not in labels]
    width = max(len(label) for label in labels) + 2
    col = max(22, *(len(v.label) for v, _ in results)) + 2
    print()
    print(" " * width + "".join(f"{v.name:>{col}}" for v, _ in results))
    print(" " * width + "".join(f"{v.label:>{col}}" for v, _ in results))
    for label in labels:
        print(f"{label:<{width}}" + "".join(f"{t.get(label, '-'):>{col}}" for t in tables))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer utterances and repetitions")
    parser.add_argument(
        "--variant",
        action="append",
        choices=sorted(VARIANTS),
        help=f"server variant to run (repeatable; default: {', '.join(DEFAULT_VARIANTS)})",
    )
    parser.add_argument(
        "--variant-json",
        action="append",
        default=[],
        metavar="NAME=JSON",
        help='an ad hoc variant: NAME={"session": {...}, "server_args": [...]}',
    )
    parser.add_argument(
        "--part",
        action="append",
        choices=["pauses", "backchannels", "echo"],
        help="run only these parts (repeatable; default: all)",
    )
    parser.add_argument("--reps", type=int, default=None, help="repetitions per utterance")
    parser.add_argument("--echo-answers", type=int, default=None, help="answers heard with echo")
    parser.add_argument("--json", action="store_true", help="print every trial as JSON too")
    parser.add_argument("--verbose", action="store_true", help="print each trial's events")
    parser.add_argument(
        "--client-prefetch",
        type=int,
        default=1,
        choices=[1, 4],
        help="audio frames the client buffers before playout (as bench.latency)",
    )
    args = parser.parse_args()
    if args.client_prefetch == 1:
        from rtc.transports import tuning

        tuning.apply(listening=False)
    variants = [VARIANTS[name] for name in (args.variant or DEFAULT_VARIANTS)]
    for spec in args.variant_json:
        name, _, raw = spec.partition("=")
        data = json.loads(raw)
        variants.append(
            Variant(name, name, data.get("session", {}), tuple(data.get("server_args", ())))
        )
    p = plan(args.quick, args.reps, args.echo_answers)
    parts = set(args.part or ["pauses", "backchannels", "echo"])
    results: list[tuple[Variant, Results]] = []
    for variant in variants:
        started = time.monotonic()
        results.append((variant, run_variant(variant, p, parts, args.verbose)))
        print(f"[{variant.name}] done in {time.monotonic() - started:.0f}s", flush=True)
    report(results)
    if args.json:
        print(json.dumps({v.name: asdict(r) for v, r in results}))


if __name__ == "__main__":
    main()
