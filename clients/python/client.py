"""Call an omnilive server over WebRTC exactly as a phone would.

It speaks through a scripted microphone track (silence until told to play an
utterance), can show a still image or a video file as the camera, collects
every server event with its arrival time, and records the assistant's voice
with per-frame loudness so callers can tell when it starts and stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import av
import httpx
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack, VideoStreamTrack
from numpy.typing import NDArray

SAMPLE_RATE = 48_000
FRAME_SAMPLES = 960
_TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)
#: A received frame louder than this (int16 RMS) counts as the assistant speaking.
VOICE_RMS = 200.0


@dataclass
class Utterance:
    """One queued utterance: when its first sample went out, and when it was all sent."""

    pcm: NDArray[np.int16]
    started: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    started_at: float | None = None

    async def wait(self) -> None:
        await self.done.wait()


class ScriptedAudioTrack(MediaStreamTrack):
    """A microphone that sends silence, or the utterances it is told to play."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._queue: list[Utterance] = []
        self._offset = 0
        self._start: float | None = None
        self._timestamp = 0

    def play(self, pcm: NDArray[np.int16]) -> Utterance:
        """Queue 48 kHz mono audio to say after what is already queued."""
        utterance = Utterance(pcm.astype(np.int16, copy=False))
        self._queue.append(utterance)
        return utterance

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._timestamp += FRAME_SAMPLES
            wait = self._start + self._timestamp / SAMPLE_RATE - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        out = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        filled = 0
        while filled < FRAME_SAMPLES and self._queue:
            head = self._queue[0]
            if head.started_at is None:
                head.started_at = time.monotonic()
                head.started.set()
            n = min(FRAME_SAMPLES - filled, len(head.pcm) - self._offset)
            out[filled : filled + n] = head.pcm[self._offset : self._offset + n]
            filled += n
            self._offset += n
            if self._offset >= len(head.pcm):
                self._queue.pop(0)
                self._offset = 0
                head.done.set()
        frame = av.AudioFrame.from_ndarray(out[None, :], format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._timestamp
        frame.time_base = _TIME_BASE
        return frame


class StillImageTrack(VideoStreamTrack):
    """A camera that keeps showing one picture (RGB array), at `fps`."""

    def __init__(self, rgb: NDArray[np.uint8], fps: int = 15) -> None:
        super().__init__()
        self.rgb = rgb
        self._fps = fps

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame.from_ndarray(self.rgb, format="rgb24")
        frame.pts = pts
        frame.time_base = time_base
        return frame


@dataclass
class ReceivedAudio:
    """The assistant's voice as received, with the time each 20 ms frame arrived."""

    samples: list[NDArray[np.int16]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    rms: list[float] = field(default_factory=list)

    def add(self, pcm: NDArray[np.int16]) -> None:
        self.samples.append(pcm)
        self.times.append(time.monotonic())
        self.rms.append(float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2))) if len(pcm) else 0.0)

    def first_voice_after(self, t: float) -> float | None:
        for at, level in zip(self.times, self.rms, strict=False):
            if at >= t and level > VOICE_RMS:
                return at
        return None

    def silent_since(self, t: float, hold_s: float = 0.2) -> float | None:
        """When the voice went quiet (for at least hold_s) after t, if it did."""
        quiet_from: float | None = None
        for at, level in zip(self.times, self.rms, strict=False):
            if at < t:
                continue
            if level > VOICE_RMS:
                quiet_from = None
            elif quiet_from is None:
                quiet_from = at
            elif at - quiet_from >= hold_s:
                return quiet_from
        return None

    def voiced_seconds(self, since: float = 0.0) -> float:
        return sum(
            0.02
            for at, level in zip(self.times, self.rms, strict=False)
            if at >= since and level > VOICE_RMS
        )

    def pcm(self) -> NDArray[np.int16]:
        return np.concatenate(self.samples) if self.samples else np.zeros(0, np.int16)


class CallClient:
    """One call. Use as `async with CallClient(http, session=...) as call:`."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        session: Mapping[str, Any] | None = None,
        audio: bool = True,
        video: MediaStreamTrack | None = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        codecs: Sequence[str] = (),
        configuration: RTCConfiguration | None = None,
    ) -> None:
        """`codecs` limits the offer to these MIME types for their kind, e.g. ("video/H264",);
        `configuration`: ICE servers (TURN) and policy, as a phone app would set them."""
        self.http = http
        self.codecs = tuple(codecs)
        self.session = session
        self.pc = RTCPeerConnection(configuration)
        self.mic = ScriptedAudioTrack() if audio else None
        self.video = video
        self.events: list[dict[str, Any]] = []
        self.event_times: list[float] = []
        self.received = ReceivedAudio()
        self.location: str | None = None
        self.answer_sdp: str | None = None
        """The server's SDP answer as it came (its bandwidth and frame-rate lines)."""
        self._on_event = on_event
        self._changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.channel = self.pc.createDataChannel("oai-events")
        self.channel.on("message", self._on_message)
        self.channel_open = asyncio.Event()
        self.channel.on("open", self.channel_open.set)

    async def __aenter__(self) -> CallClient:
        await self.connect()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.hangup()

    async def connect(self, timeout: float = 20.0) -> None:
        if self.mic is not None:
            self.pc.addTransceiver(self.mic, direction="sendrecv")
        if self.video is not None:
            self.pc.addTransceiver(self.video, direction="sendonly")
        for transceiver in self.pc.getTransceivers():
            wanted = [c for c in self.codecs if c.startswith(f"{transceiver.kind}/")]
            if wanted:
                codecs = RTCRtpSender.getCapabilities(transceiver.kind).codecs
                transceiver.setCodecPreferences([c for c in codecs if c.mimeType in wanted])
        self.pc.on("track", self._on_track)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        offer = self.pc.localDescription.sdp
        # A resume names its call in the query too, so a load balancer can route it.
        resume = (self.session or {}).get("resume")
        params = {"resume": resume} if isinstance(resume, str) else None
        if self.session is None:
            response = await self.http.post(
                "/v1/realtime/calls", content=offer, headers={"Content-Type": "application/sdp"}
            )
        else:
            response = await self.http.post(
                "/v1/realtime/calls",
                params=params,
                files={"sdp": (None, offer), "session": (None, json.dumps(self.session))},
            )
        if response.status_code != 201:
            await self.pc.close()
            raise RuntimeError(f"call refused: {response.status_code} {response.text}")
        self.location = response.headers["location"]
        self.answer_sdp = response.text
        await self.pc.setRemoteDescription(RTCSessionDescription(response.text, "answer"))
        await asyncio.wait_for(self.channel_open.wait(), timeout)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._tasks.append(asyncio.ensure_future(self._record(track)))

    async def _record(self, track: MediaStreamTrack) -> None:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if not isinstance(frame, av.AudioFrame):
                continue
            for out in resampler.resample(frame):
                self.received.add(out.to_ndarray().reshape(-1).astype(np.int16, copy=False))

    def _on_message(self, message: str | bytes) -> None:
        event = json.loads(message)
        self.events.append(event)
        self.event_times.append(time.monotonic())
        if self._on_event is not None:
            self._on_event(event)
        self._changed.set()

    def send(self, event: Mapping[str, Any] | str) -> None:
        self.channel.send(event if isinstance(event, str) else json.dumps(event))

    def send_text(self, text: str, *, image_url: str | None = None, respond: bool = True) -> None:
        """Add a typed user message (optionally with an image) and, by default, ask for an answer."""
        content: list[dict[str, str]] = [{"type": "input_text", "text": text}]
        if image_url is not None:
            content.append({"type": "input_image", "image_url": image_url})
        self.send(
            {
                "type": "conversation.item.create",
                "item": {"type": "message", "role": "user", "content": content},
            }
        )
        if respond:
            self.send({"type": "response.create"})

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("type") == event_type]

    async def wait_for(
        self,
        event_type: str,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        *,
        after: int = 0,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        """The first event of `event_type` at index >= after matching predicate."""

        async def scan() -> dict[str, Any]:
            while True:
                for event in self.events[after:]:
                    if event.get("type") == event_type and (predicate is None or predicate(event)):
                        return event
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(scan(), timeout)

    def event_time(self, event: dict[str, Any]) -> float:
        return self.event_times[self.events.index(event)]

    async def hangup(self, *, delete: bool = True) -> None:
        if delete and self.location is not None:
            with contextlib.suppress(httpx.HTTPError):
                await self.http.delete(self.location)
        await self.pc.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
