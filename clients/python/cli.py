"""`omnilive call`: try a server without a phone."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import wave
from typing import Any

import av
import httpx
import numpy as np
from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import MediaStreamTrack
from numpy.typing import NDArray

from clients.python.client import SAMPLE_RATE, CallClient, StillImageTrack


def load_audio(path: str) -> NDArray[np.int16]:
    """Any audio file FFmpeg reads, as 48 kHz mono int16."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    out: list[NDArray[np.int16]] = []
    with av.open(path) as container:
        for frame in container.decode(audio=0):
            out += [_int16(f) for f in resampler.resample(frame)]
    out += [_int16(f) for f in resampler.resample(None)]
    return np.concatenate(out).astype(np.int16) if out else np.zeros(0, np.int16)


def _int16(frame: av.AudioFrame) -> NDArray[np.int16]:
    return frame.to_ndarray().reshape(-1).astype(np.int16, copy=False)


def load_image(path: str) -> NDArray[np.uint8]:
    with av.open(path) as container:
        frame = next(container.decode(video=0))
        return frame.to_ndarray(format="rgb24").astype(np.uint8, copy=False)


def write_wav(path: str, pcm: NDArray[np.int16], rate: int = SAMPLE_RATE) -> None:
    with wave.open(path, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())


def _print_event(event: dict[str, Any]) -> None:
    shown = {k: v for k, v in event.items() if k != "event_id"}
    print(json.dumps(shown, ensure_ascii=False), flush=True)


async def _call(args: argparse.Namespace) -> int:
    session: dict[str, Any] = {}
    if args.scenario:
        session["scenario"] = args.scenario
    if args.languages:
        session["languages"] = [x.strip() for x in args.languages.split(",")]
    video: MediaStreamTrack | None = None
    if args.image:
        video = StillImageTrack(load_image(args.image))
    elif args.video:
        video = MediaPlayer(args.video).video
    key = getattr(args, "api_key", None)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with httpx.AsyncClient(base_url=args.url, timeout=30.0, headers=headers) as http:
        client = CallClient(http, session=session or None, video=video, on_event=_print_event)
        try:
            await client.connect()
        except (RuntimeError, httpx.HTTPError) as exc:
            print(f"omnilive call: {exc}", file=sys.stderr)
            return 1
        try:
            await client.wait_for("session.created", timeout=args.timeout)
            mark = len(client.events)
            if args.wav and client.mic is not None:
                await client.mic.play(load_audio(args.wav)).wait()
            if args.text:
                client.send_text(args.text)
            if args.wav or args.text:
                await _answered(client, mark, args.timeout)
            else:
                await asyncio.sleep(args.timeout)
        finally:
            await client.hangup()
        write_wav(args.record, client.received.pcm())
        print(
            f"recorded {client.received.voiced_seconds():.1f}s of voice to {args.record}",
            file=sys.stderr,
        )
    return 0


async def _answered(client: CallClient, mark: int, timeout: float) -> None:
    """Wait for the answer to what was said: a completed response (an answer cut short by
    the rest of the user's own sentence is not it), then for its last audio to arrive."""

    def completed(event: dict[str, Any]) -> bool:
        return bool(event["response"]["status"] == "completed")

    try:
        done = await client.wait_for("response.done", completed, after=mark, timeout=timeout)
    except TimeoutError:
        ends = [
            e["response"]["status"] for e in client.events[mark:] if e["type"] == "response.done"
        ]
        last = f" (the last ended {ends[-1]})" if ends else ""
        print(f"omnilive call: no completed answer before the timeout{last}", file=sys.stderr)
        return
    finished_at = client.event_time(done)
    deadline = time.monotonic() + 2.0
    # The answer's last 20 ms frames are still on their way.
    while client.received.silent_since(finished_at, 0.2) is None:  # noqa: ASYNC110
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)


def run_call(args: argparse.Namespace) -> int:
    return asyncio.run(_call(args))
