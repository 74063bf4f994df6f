"""Barge-in stop latency and response latency, measured at the client over real WebRTC.

    .venv/bin/python -m bench.latency [--runs 10]

For each backend (the embedded models, then the `tone` baseline that answers
instantly with a tone, which isolates the gateway and transport), one caller
in this process talks to `omnilive serve` in a child process:

- response latency: end of the user's speech (last loud sample of the clip
  as sent) -> first loud frame of the answer received;
- barge-in stop latency: onset of interrupting speech (first loud sample as
  sent) -> the received answer audio goes quiet (and stays quiet 300 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import httpx
import numpy as np
from numpy.typing import NDArray

from bench.common import ms, percentile, server_process, speech_clip, voiced_bounds
from clients.python.client import CallClient

UTTERANCE = "I would like a cup of coffee with milk please."
PROBLEM = "Solve two x plus three equals eleven."
INTERRUPTION = "Wait, stop please."
# One long sentence without commas: its answer has no pauses that look like the end.
LONG_TEXT = "My brother lives in Barcelona and works as a doctor in a big hospital near the old harbour of the city"


SERVER_VAD_500 = {"type": "server_vad", "silence_duration_ms": 500}


async def measure(
    url: str,
    runs: int,
    clip: NDArray[np.int16],
    interrupt: NDArray[np.int16] | None,
    *,
    session: dict[str, Any],
    cut_answer: bool = False,
) -> dict[str, list[float]]:
    """Response latency for `clip` (and barge-in over a long answer when `interrupt` is given)."""
    _, clip_end = voiced_bounds(clip)
    response: list[float] = []
    barge_in: list[float] = []
    async with (
        httpx.AsyncClient(base_url=url, timeout=30) as http,
        CallClient(http, session=session) as call,
    ):
        assert call.mic is not None
        await call.wait_for("session.created")
        await asyncio.sleep(1.0)
        for _ in range(runs):
            # Response latency: end of the user's speech -> first answer audio.
            mark = len(call.events)
            said = call.mic.play(clip)
            await said.started.wait()
            assert said.started_at is not None
            speech_end = said.started_at + clip_end
            await said.wait()
            if cut_answer:
                # Only the start matters: stop a long answer once it is heard.
                await call.wait_for("output_audio_buffer.started", after=mark, timeout=30)
                await asyncio.sleep(0.3)
                call.send({"type": "response.cancel"})
            await call.wait_for("response.done", after=mark, timeout=30)
            first = call.received.first_voice_after(speech_end)
            if first is not None:
                response.append(first - speech_end)
            await asyncio.sleep(0.5)
            if interrupt is not None:
                barge_in += await _barge_in_once(call, interrupt)
    return {"response": response, "barge_in": barge_in}


async def _barge_in_once(call: CallClient, interrupt: NDArray[np.int16]) -> list[float]:
    """Onset of speech over a long answer -> the answer audio goes quiet."""
    assert call.mic is not None
    onset_offset, _ = voiced_bounds(interrupt)
    mark = len(call.events)
    call.send_text(LONG_TEXT)
    started = await call.wait_for("output_audio_buffer.started", after=mark)
    answer_id = started["response_id"]
    await asyncio.sleep(0.8)
    said = call.mic.play(interrupt)
    await said.started.wait()
    assert said.started_at is not None
    onset = said.started_at + onset_offset
    await said.wait()
    await call.wait_for(
        "response.done", lambda e: bool(e["response"]["id"] == answer_id), after=mark, timeout=30
    )
    await asyncio.sleep(0.6)
    quiet = call.received.silent_since(onset, hold_s=0.3)
    # Let the answer to the interruption finish before the next run.
    await call.wait_for(
        "response.done", lambda e: bool(e["response"]["id"] != answer_id), after=mark, timeout=30
    )
    await asyncio.sleep(1.0)
    return [] if quiet is None else [max(0.0, quiet - onset)]


def run_backend(
    backend: str, runs: int, clips: dict[str, NDArray[np.int16]]
) -> dict[str, list[float]]:
    interpreter = {"scenario": "interpreter", "languages": ["en", "es"]}
    tutor = {"scenario": "tutor", "emotion": {"enabled": False}}
    out: dict[str, list[float]] = {}
    with server_process(backend) as url:
        figures = asyncio.run(
            measure(url, runs, clips["utterance"], clips["interrupt"], session=interpreter)
        )
        out["interpreter"], out["barge_in"] = figures["response"], figures["barge_in"]
        out["tutor"] = asyncio.run(
            measure(url, runs, clips["problem"], None, session=tutor, cut_answer=True)
        )["response"]
        # The fixed-silence baseline: OpenAI's default server_vad (500 ms), same models.
        fixed = {**interpreter, "audio": {"input": {"turn_detection": SERVER_VAD_500}}}
        out["interpreter_server_vad"] = asyncio.run(
            measure(url, runs, clips["utterance"], None, session=fixed)
        )["response"]
    return out


def summary(values: list[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "p50_ms": round(1000 * percentile(values, 50)),
        "p95_ms": round(1000 * percentile(values, 95)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    parser.add_argument(
        "--client-prefetch",
        type=int,
        default=1,
        choices=[1, 4],
        help="audio frames the client buffers before playout: 1 (about what a browser "
        "holds on a clean network) or 4 (aiortc's default)",
    )
    args = parser.parse_args()
    if args.client_prefetch == 1:
        from rtc.transports import tuning

        tuning.apply(listening=False)
    clips = {
        "utterance": speech_clip(UTTERANCE, "en"),
        "interrupt": speech_clip(INTERRUPTION, "en"),
        "problem": speech_clip(PROBLEM, "en"),
    }
    results: dict[str, dict[str, list[float]]] = {}
    for backend in ("embedded", "tone"):
        started = time.monotonic()
        results[backend] = run_backend(backend, args.runs, clips)
        print(f"[{backend}] {args.runs} runs in {time.monotonic() - started:.0f}s", flush=True)
    print()
    print(
        f"{'figure (at the client)':44} {'embedded p50':>13} {'p95':>9} {'tone p50':>9} {'p95':>9}"
    )
    for key, label in (
        ("interpreter", "response, interpreter (semantic_vad auto)"),
        ("tutor", "response, tutor (semantic_vad auto)"),
        ("interpreter_server_vad", "baseline: interpreter, server_vad 500 ms"),
        ("barge_in", "barge-in stop latency"),
    ):
        e, t = results["embedded"][key], results["tone"][key]
        print(
            f"{label:44} {ms(percentile(e, 50)):>13} {ms(percentile(e, 95)):>9} "
            f"{ms(percentile(t, 50)):>9} {ms(percentile(t, 95)):>9}"
        )
    print()
    counts = ", ".join(
        f"{b} " + "/".join(str(len(v)) for v in r.values()) for b, r in results.items()
    )
    print(f"samples ({'/'.join(results['embedded'])}): {counts}")
    if args.json:
        print(json.dumps({b: {k: summary(v) for k, v in r.items()} for b, r in results.items()}))


if __name__ == "__main__":
    main()
