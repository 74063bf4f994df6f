"""A phone in the lab's client namespace: the project's WebRTC client, driven over stdio.

    ip netns exec CLIENT python -m tests.netlab.phone URL [--ice-server turn:u:p@host:port]

A namespace applies to a process, so the phone is a child process the test (or
bench/network.py) drives with one JSON command per line on stdin, each answered by
one JSON line on stdout (matched by `id`; commands run concurrently). Server events named in a call's `notify` list are also
printed as they arrive (`{"notify": type}`), so the driver can act mid-answer (cut
the network while the answer plays). Commands:

- `call`: open a call (`session`, optional `image` for the camera, `notify`);
  `retry_s` keeps trying that long (a network that is coming back). Answers the
  call id and whether the media goes through a TURN relay.
- `say`: speak a WAV clip and wait for the answer: response latency (end of the
  speech as sent -> first loud answer frame received), what the server heard.
- `text`: send a typed turn and wait for an event (`until`) and the answer.
- `barge_in`: start a long answer, talk over it, measure how soon it stops.
- `wait_quiet`: wait until no audio has arrived for `quiet_s` (the phone noticed
  its network is gone).
- `drop`: forget the call without a DELETE (a phone that lost its network).
- `hangup`, `quit`.

It sends and plays audio as a phone's browser does, not as aiortc does by default:
its microphone is Opus mono at 32 kbit/s with in-band FEC (Chrome sends FEC once the
answer says `useinbandfec=1` and it sees loss; aiortc's encoder sends 96 kbit/s
stereo, where Opus has no FEC), and the answer is played as soon as each packet
arrives, reordered in a small window, losses concealed (the server's own receive
path, rtc/transports/jitter.py; aiortc's default buffer stops playing for 320 ms at
every lost packet, which no phone does, and would count that against the server).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
import wave
from collections.abc import Awaitable, Callable
from typing import Any

import aiortc.rtcrtpsender
import httpx
import numpy as np
from aiortc import RTCConfiguration
from aiortc.codecs import get_encoder
from aiortc.codecs.base import Encoder
from aiortc.codecs.opus import OpusEncoder
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from av import AudioResampler
from numpy.typing import NDArray

from bench.common import voiced_bounds
from clients.python.client import CallClient, StillImageTrack
from rtc.transports.webrtc import parse_ice_server  # installs the listening receive path

#: The long answer a barge-in interrupts (one sentence: no pause looks like its end).
LONG_TEXT = (
    "My brother lives in Barcelona and works as a doctor in a big hospital near the old "
    "harbour of the city"
)


#: What browsers send for voice (WebRTC's Opus default for mono speech).
BROWSER_OPUS_BITRATE = 32_000


async def _until(condition: Callable[[], bool], timeout: float) -> None:
    """Wait for `condition` (polled every 20 ms, a frame); TimeoutError after `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise TimeoutError
        await asyncio.sleep(0.02)


class BrowserOpusEncoder(OpusEncoder):
    """Opus as a phone's browser sends the microphone: mono, 32 kbit/s, in-band FEC."""

    def __init__(self) -> None:
        super().__init__()
        self.codec.layout = "mono"
        self.codec.bit_rate = BROWSER_OPUS_BITRATE
        self.codec.options = {"application": "voip", "fec": "1", "packet_loss": "10"}
        self.resampler = AudioResampler(format="s16", layout="mono", rate=48_000, frame_size=960)


def _browser_encoder(codec: RTCRtpCodecParameters) -> Encoder:
    if codec.mimeType.lower() == "audio/opus":
        return BrowserOpusEncoder()
    return get_encoder(codec)


def read_wav(path: str) -> NDArray[np.int16]:
    with wave.open(path, "rb") as f:
        if f.getframerate() != 48_000 or f.getnchannels() != 1:
            raise ValueError(f"{path}: the phone speaks 48 kHz mono WAV")
        return np.frombuffer(f.readframes(f.getnframes()), dtype=np.int16)


def relay_used(call: CallClient) -> bool | None:
    """Whether the nominated ICE pair's local candidate is a TURN relay (None: unknown)."""
    pc: Any = call.pc
    try:
        pair = pc.sctp.transport.transport.iceGatherer._connection._nominated.get(1)
    except AttributeError:
        return None
    if pair is None:
        return None
    return bool(pair.local_candidate.type == "relay")


class Phone:
    def __init__(self, url: str, ice_servers: list[str]) -> None:
        self.url = url
        servers = [parse_ice_server(u) for u in ice_servers]
        self.configuration = RTCConfiguration(iceServers=servers) if servers else None
        self.http = httpx.AsyncClient(base_url=url, timeout=10)
        self.call: CallClient | None = None
        self.notify: set[str] = set()

    def _event(self, event: dict[str, Any]) -> None:
        if event.get("type") in self.notify:
            emit({"notify": event["type"]})

    def _live(self) -> CallClient:
        if self.call is None:
            raise RuntimeError("no call")
        return self.call

    async def cmd_call(
        self,
        session: dict[str, Any] | None = None,
        image: str | None = None,
        notify: list[str] | None = None,
        retry_s: float = 0.0,
        timeout: float = 20.0,
    ) -> dict[str, Any]:
        self.notify = set(notify or ())
        deadline = time.monotonic() + retry_s
        attempts = 0
        backoff = 0.1  # doubled after every failed attempt, up to a second (as a phone does)
        while True:
            attempts += 1
            video = None
            if image is not None:
                import cv2

                bgr = cv2.imread(image)
                if bgr is None:
                    raise ValueError(f"cannot read {image}")
                rgb = np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)
                video = StillImageTrack(rgb)
            call = CallClient(
                self.http,
                session=session,
                video=video,
                on_event=self._event,
                configuration=self.configuration,
            )
            try:
                await call.connect(timeout=timeout)
                break
            except Exception as exc:
                await call.hangup(delete=False)
                if time.monotonic() >= deadline:
                    return {
                        "ok": False,
                        "error": f"{type(exc).__name__}: {exc}",
                        "attempts": attempts,
                    }
                await asyncio.sleep(backoff)
                backoff = min(2 * backoff, 1.0)
        self.call = call
        await call.wait_for("session.created", timeout=timeout)
        assert call.location is not None
        return {
            "ok": True,
            "call_id": call.location.rsplit("/", 1)[1],
            "relay": relay_used(call),
            "attempts": attempts,
        }

    async def cmd_say(
        self, wav: str, timeout: float = 30.0, cancel_after_s: float | None = None
    ) -> dict[str, Any]:
        """Speak a clip; wait for the answer (cut `cancel_after_s` after its voice starts:
        only its start matters for a latency)."""
        call = self._live()
        assert call.mic is not None
        clip = read_wav(wav)
        _, end = voiced_bounds(clip)
        mark = len(call.events)
        said = call.mic.play(clip)
        await said.started.wait()
        assert said.started_at is not None
        speech_end = said.started_at + end
        await said.wait()
        if cancel_after_s is not None:
            await call.wait_for("output_audio_buffer.started", after=mark, timeout=timeout)
            await asyncio.sleep(cancel_after_s)
            call.send({"type": "response.cancel"})
        done = await call.wait_for("response.done", after=mark, timeout=timeout)
        heard = await self._transcript(call, mark)
        first = call.received.first_voice_after(speech_end)
        return {
            "ok": True,
            "latency_s": None if first is None else first - speech_end,
            "heard": heard,
            "status": done["response"]["status"],
        }

    async def _transcript(self, call: CallClient, mark: int) -> str | None:
        kind = "conversation.item.input_audio_transcription.completed"
        with contextlib.suppress(TimeoutError):
            event = await call.wait_for(kind, after=mark, timeout=5)
            return str(event.get("transcript", ""))
        return None

    async def cmd_text(
        self, text: str, until: str | None = None, timeout: float = 30.0
    ) -> dict[str, Any]:
        call = self._live()
        mark = len(call.events)
        call.send_text(text)
        found = await call.wait_for(until, after=mark, timeout=timeout) if until else None
        done = await call.wait_for("response.done", after=mark, timeout=timeout)
        return {"ok": True, "event": found, "status": done["response"]["status"]}

    async def cmd_barge_in(self, wav: str, timeout: float = 30.0) -> dict[str, Any]:
        call = self._live()
        assert call.mic is not None
        interrupt = read_wav(wav)
        onset_offset, _ = voiced_bounds(interrupt)
        mark = len(call.events)
        call.send_text(LONG_TEXT)
        started = await call.wait_for("output_audio_buffer.started", after=mark, timeout=timeout)
        answer_id = started["response_id"]
        heard_from = time.monotonic()
        with contextlib.suppress(TimeoutError):  # interrupt once the answer is well under way
            await _until(lambda: call.received.voiced_seconds(heard_from) >= 0.6, 3.0)
        said = call.mic.play(interrupt)
        await said.started.wait()
        assert said.started_at is not None
        onset = said.started_at + onset_offset
        await said.wait()
        done = await call.wait_for(
            "response.done",
            lambda e: bool(e["response"]["id"] == answer_id),
            after=mark,
            timeout=timeout,
        )
        with contextlib.suppress(TimeoutError):  # still loud after that: measured as such
            await _until(lambda: call.received.silent_since(onset, hold_s=0.3) is not None, 2.0)
        quiet = call.received.silent_since(onset, hold_s=0.3)
        with contextlib.suppress(TimeoutError):  # the answer to the interruption
            await call.wait_for(
                "response.done",
                lambda e: bool(e["response"]["id"] != answer_id),
                after=mark,
                timeout=timeout,
            )
        return {
            "ok": True,
            "stop_s": None if quiet is None else max(0.0, quiet - onset),
            "status": done["response"]["status"],
        }

    async def cmd_wait_quiet(self, quiet_s: float = 2.0, timeout: float = 30.0) -> dict[str, Any]:
        """Until no audio arrived for `quiet_s`: what a phone sees when its network goes."""
        call = self._live()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            times = call.received.times
            if times and time.monotonic() - times[-1] >= quiet_s:
                return {"ok": True}
            await asyncio.sleep(0.1)
        return {"ok": False, "error": "audio kept arriving"}

    async def cmd_events(self, types: list[str]) -> dict[str, Any]:
        call = self._live()
        return {"ok": True, "events": [e for e in call.events if e.get("type") in types]}

    async def cmd_drop(self) -> dict[str, Any]:
        call, self.call = self.call, None
        if call is not None:
            await call.hangup(delete=False)
        return {"ok": True}

    async def cmd_hangup(self) -> dict[str, Any]:
        call, self.call = self.call, None
        if call is not None:
            await call.hangup()
        return {"ok": True}

    async def aclose(self) -> None:
        await self.cmd_hangup()
        await self.http.aclose()


def emit(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def run(phone: Phone, command: dict[str, Any]) -> None:
    ident = command.pop("id", None)
    name = command.pop("cmd")
    handler: Callable[..., Awaitable[dict[str, Any]]] = getattr(phone, f"cmd_{name}")
    try:
        reply = await handler(**command)
    except Exception as exc:
        reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    emit({"id": ident, **reply})


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--ice-server", action="append", default=[])
    args = parser.parse_args()
    aiortc.rtcrtpsender.get_encoder = _browser_encoder  # type: ignore[attr-defined]
    phone = Phone(args.url, args.ice_server)
    emit({"ready": True})
    running: set[asyncio.Task[None]] = set()
    try:
        while True:
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line:
                return
            command = json.loads(line)
            if command.get("cmd") == "quit":
                return
            # Each command runs on its own: a turn can still be waiting while the driver
            # cuts the network and asks the phone what it sees.
            task = asyncio.get_running_loop().create_task(run(phone, command))
            running.add(task)
            task.add_done_callback(running.discard)
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        await phone.aclose()


if __name__ == "__main__":
    asyncio.run(main())
