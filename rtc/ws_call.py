"""A call over the OpenAI Realtime WebSocket (`GET /v1/realtime`).

The transport only: audio comes in as base64 `input_audio_buffer.append` events and is
cut into the same 16 kHz chunks the WebRTC track gives, for the same listen loop; the
answer's voice comes from the same paced `OutputAudioTrack` and goes out as
`response.output_audio.delta` events, one per 20 ms frame as it is due (real time, so
barge-in silences the very next frame). What was sent is what counts as played for
truncation. Everything else (session, scenario, turns, barge-in, events) is
`rtc.call_base.BaseCall`, shared with WebRTC calls.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
from numpy.typing import NDArray
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from rtc import events as ev
from rtc import g711
from rtc.audio_out import FRAME_MS, FRAME_SAMPLES
from rtc.audio_out import SAMPLE_RATE as OUTPUT_TRACK_RATE
from rtc.call_base import BaseCall
from rtc.errors import InvalidEvent
from rtc.events import EventSender, new_id
from rtc.session import apply_update
from rtc.vad import CHUNK_SAMPLES
from rtc.vad import SAMPLE_RATE as VAD_RATE

logger = logging.getLogger(__name__)

#: Audio formats of `audio.input.format` / `audio.output.format`.
PCM, PCMU, PCMA = "audio/pcm", "audio/pcmu", "audio/pcma"
MIN_PCM_RATE, MAX_PCM_RATE = 8_000, 48_000
#: Appended audio not yet through the turn detector; more is refused (`input_audio_buffer_full`).
MAX_PENDING_AUDIO_S = 60.0
#: Longest manual-turn buffer (turn_detection null) kept for `input_audio_buffer.commit`.
MAX_MANUAL_AUDIO_S = 120.0
#: Appends this large (in input samples) are converted in a worker thread.
OFF_LOOP_SAMPLES = 48_000
#: Unsent server events before a client that does not read is dropped (~20 s of audio).
MAX_OUTGOING = 1_000
MIN_COMMIT_MS = 100


@dataclass(frozen=True)
class AudioFormat:
    kind: str
    rate: int

    @property
    def sample_bytes(self) -> int:
        return 2 if self.kind == PCM else 1


def audio_format(session: Mapping[str, Any], direction: str) -> AudioFormat:
    """`session.audio.<direction>.format`, checked; InvalidEvent if unusable."""
    audio = session.get("audio")
    side = audio.get(direction) if isinstance(audio, Mapping) else None
    fmt = side.get("format") if isinstance(side, Mapping) else None
    if fmt is None:
        return AudioFormat(PCM, 24_000)
    if not isinstance(fmt, Mapping):
        raise InvalidEvent("invalid_session", f"audio.{direction}.format must be an object")
    kind = fmt.get("type", PCM)
    if kind in (PCMU, PCMA):
        return AudioFormat(kind, 8_000)
    if kind != PCM:
        raise InvalidEvent(
            "invalid_session",
            f"audio.{direction}.format.type must be {PCM}, {PCMU} or {PCMA}, not {kind!r}",
        )
    rate = fmt.get("rate", 24_000)
    if (
        isinstance(rate, bool)
        or not isinstance(rate, int)
        or not MIN_PCM_RATE <= rate <= MAX_PCM_RATE
    ):
        raise InvalidEvent(
            "invalid_session",
            f"audio.{direction}.format.rate must be an integer from {MIN_PCM_RATE} to {MAX_PCM_RATE}",
        )
    return AudioFormat(PCM, rate)


def _to_int16(data: bytes, fmt: AudioFormat) -> NDArray[np.int16]:
    if fmt.kind == PCM:
        return np.frombuffer(data, dtype="<i2").astype(np.int16)
    return g711.decode(data, "pcmu" if fmt.kind == PCMU else "pcma")


def _convert(resample: _Resampler, raw: bytes, fmt: AudioFormat) -> NDArray[np.int16]:
    return resample(_to_int16(raw, fmt))


class _Resampler:
    """Stateful mono int16 resampling (no clicks between pieces)."""

    def __init__(self, src: int, dst: int) -> None:
        self.src, self.dst = src, dst
        self._av = av.AudioResampler(format="s16", layout="mono", rate=dst) if src != dst else None

    def __call__(self, pcm: NDArray[np.int16]) -> NDArray[np.int16]:
        if self._av is None or not len(pcm):
            return pcm
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(pcm)[None, :], format="s16", layout="mono"
        )
        frame.sample_rate = self.src
        out = [f.to_ndarray().reshape(-1) for f in self._av.resample(frame)]
        return np.concatenate(out).astype(np.int16, copy=False) if out else np.zeros(0, np.int16)


@dataclass
class _Commit:
    event_id: str | None


class _RealtimeSender(EventSender):
    """Lets the transport add its own events just before some of the shared ones."""

    def __init__(self) -> None:
        super().__init__()
        self.before: Any = None

    def emit(self, event_type: str, payload: Mapping[str, Any] | None = None) -> dict[str, Any]:
        if self.before is not None:
            self.before(event_type, payload or {})
        return super().emit(event_type, payload)


class WebSocketCall(BaseCall):
    """One OpenAI Realtime WebSocket session."""

    id_prefix = "ws"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._ws: WebSocket | None = None
        self._outgoing: asyncio.Queue[str | None] = asyncio.Queue()
        self._incoming: deque[bytes | _Commit] = deque()
        self._incoming_ready = asyncio.Event()
        self._pending_samples = 0
        self._clears = 0
        """`input_audio_buffer.clear`s so far: a piece being cut into chunks stops at one."""
        self._in_format = AudioFormat(PCM, 24_000)
        self._out_format = AudioFormat(PCM, 24_000)
        self._in_resampler = _Resampler(24_000, VAD_RATE)
        self._remainder = np.zeros(0, dtype=np.float32)
        self._manual: list[NDArray[np.float32]] = []
        self._manual_samples = 0
        self._last_append = time.monotonic()
        self._audio_sent: dict[str, str] = {}
        """Response id -> assistant item id, for responses that sent audio deltas."""
        self._sent_ms: dict[str, float] = {}
        """Assistant item id -> ms of its audio sent (what the client can have played)."""
        self._connected = False
        sender = self.sender
        assert isinstance(sender, _RealtimeSender)
        sender.before = self._before_emit

    def _new_sender(self) -> EventSender:
        return _RealtimeSender()

    def open(self, session_update: Mapping[str, Any] | None) -> None:
        """Apply the initial session (a client secret's); BadRequest if it is unusable."""
        self._initial_session(session_update)

    def _apply_session(self, *, initial: bool = False) -> None:
        super()._apply_session(initial=initial)
        fmt_in = audio_format(self.session_config, "input")
        if fmt_in != self._in_format:
            self._in_format = fmt_in
            self._in_resampler = _Resampler(fmt_in.rate, VAD_RATE)
        self._out_format = audio_format(self.session_config, "output")

    # -- the socket ----------------------------------------------------------------
    async def run(self, websocket: WebSocket) -> None:
        """Serve an accepted socket until either side ends the call."""
        self._ws = websocket
        self._connected = True
        self.sender.attach(self._send_text)
        self._spawn(self._write(websocket), "ws out")
        self._spawn(self._watchdog(), "watchdog")
        self._spawn(self._listen(self._audio_chunks()), "audio in")
        self._spawn(self._play_out(), "audio out")
        logger.info(
            "%saccepted (websocket): scenario=%s", self._log, self.session_config["scenario"]
        )
        self.sender.emit(ev.SESSION_CREATED, {"session": self.session_config})
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text, data = message.get("text"), message.get("bytes")
                self._on_message(text if text is not None else (data or b""))
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            self._connected = False
            self.sender.attach(None)
            await self.close("client_hangup")

    def _send_text(self, text: str) -> None:
        if self._outgoing.qsize() >= MAX_OUTGOING:
            if self._closing is None:
                logger.info("%sthe client does not read its events; ending", self._log)
                self.close("slow_client")
            return
        self._outgoing.put_nowait(text)

    async def _write(self, websocket: WebSocket) -> None:
        while True:
            text = await self._outgoing.get()
            if text is None:
                return
            try:
                await websocket.send_text(text)
            except Exception:  # the socket went away; the reader ends the call
                self._connected = False
                return

    async def _flush_events(self) -> None:
        for _ in range(100):  # at most ~1 s for an ending notice to leave
            if not self._connected or self._outgoing.empty():
                break
            await asyncio.sleep(0.01)

    async def _close_transport(self) -> None:
        self._incoming.clear()
        self._manual.clear()
        ws = self._ws
        if ws is not None and ws.application_state == WebSocketState.CONNECTED:
            code = 1000 if self.end_reason == "client_hangup" else 1008
            try:
                await ws.close(code=code, reason=(self.end_reason or "")[:100])
            except Exception:  # already gone
                logger.debug("%ssocket already closed", self._log)

    def _media_at(self) -> float:
        return max(self._last_append, self._last_activity)

    def _peer_seen_at(self) -> float:
        # The socket itself says whether the client is there (uvicorn pings it).
        return time.monotonic() if self._connected else self._last_activity

    # -- client events -------------------------------------------------------------
    def _on_message(self, message: str | bytes) -> None:
        # Appends are audio: they skip the event-rate limit (20 ms chunks come 50 a second)
        # but not the size limit, and have their own backlog limit.
        if (
            isinstance(message, str)
            and not self.guard.too_large(len(message))
            and '"input_audio_buffer.append"' in message
        ):
            try:
                data = json.loads(message)
            except json.JSONDecodeError:
                data = None
            if isinstance(data, dict) and data.get("type") == "input_audio_buffer.append":
                self._last_activity = time.monotonic()
                try:
                    self._append(data)
                except InvalidEvent as exc:
                    self.metrics.client_event_errors.labels(exc.code).inc()
                    self.sender.error(exc.code, exc.message, event_id=exc.event_id)
                return
        super()._on_message(message)

    def _handle_transport_event(self, kind: str, data: dict[str, Any]) -> bool:
        event_id = data.get("event_id") if isinstance(data.get("event_id"), str) else None
        if kind == "session.update":
            # Check the audio formats before the shared code applies the update.
            new = apply_update(self.session_config, data.get("session", {}))
            for direction in ("input", "output"):
                try:
                    audio_format(new, direction)
                except InvalidEvent as exc:
                    raise InvalidEvent(exc.code, exc.message, event_id) from None
            return False
        if kind == "input_audio_buffer.append":
            self._append(data)
            return True
        if kind == "input_audio_buffer.commit":
            if self.detector is not None:
                raise InvalidEvent(
                    "invalid_event",
                    "turn detection is on: the server commits turns itself "
                    "(set audio.input.turn_detection to null to commit by hand)",
                    event_id,
                )
            self._incoming.append(_Commit(event_id))
            self._incoming_ready.set()
            return True
        if kind == "input_audio_buffer.clear":
            self._clears += 1
            self._incoming.clear()
            self._pending_samples = 0
            self._remainder = np.zeros(0, dtype=np.float32)
            self._manual.clear()
            self._manual_samples = 0
            return False  # the shared part resets turn detection and says `cleared`
        return False

    def _append(self, data: dict[str, Any]) -> None:
        event_id = data.get("event_id") if isinstance(data.get("event_id"), str) else None
        audio = data.get("audio")
        if not isinstance(audio, str):
            raise InvalidEvent(
                "invalid_event", "input_audio_buffer.append needs 'audio' (base64)", event_id
            )
        try:
            raw = base64.b64decode(audio, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidEvent("invalid_audio", "'audio' is not valid base64", event_id) from None
        fmt = self._in_format
        if len(raw) % fmt.sample_bytes:
            raise InvalidEvent(
                "invalid_audio",
                f"{fmt.kind} audio must be whole {fmt.sample_bytes * 8}-bit samples "
                f"(got {len(raw)} bytes)",
                event_id,
            )
        samples = len(raw) // fmt.sample_bytes
        if (self._pending_samples + samples) / fmt.rate > MAX_PENDING_AUDIO_S:
            self.metrics.limit_hits.labels("audio_backlog").inc()
            raise InvalidEvent(
                "input_audio_buffer_full",
                f"more than {MAX_PENDING_AUDIO_S:g} s of appended audio is waiting; "
                "append in real time",
                event_id,
            )
        self._last_append = time.monotonic()
        if samples:
            self._pending_samples += samples
            self._incoming.append(raw)
            self._incoming_ready.set()

    # -- audio in: appended bytes -> the shared listen loop ---------------------------
    async def _audio_chunks(self) -> AsyncIterator[NDArray[np.float32]]:
        while True:
            while not self._incoming:
                self._incoming_ready.clear()
                await self._incoming_ready.wait()
            piece = self._incoming.popleft()
            if isinstance(piece, _Commit):
                self._commit(piece.event_id)
                continue
            fmt, resample, clears = self._in_format, self._in_resampler, self._clears
            count = len(piece) // fmt.sample_bytes
            if count >= OFF_LOOP_SAMPLES:
                pcm = await asyncio.to_thread(_convert, resample, piece, fmt)
            else:
                pcm = _convert(resample, piece, fmt)
            if self._clears != clears:
                continue  # cleared while it was being converted (the clear zeroed the count)
            self._pending_samples = max(0, self._pending_samples - count)
            samples = pcm.astype(np.float32) / 32768.0
            buffer = np.concatenate([self._remainder, samples])
            whole = len(buffer) - len(buffer) % CHUNK_SAMPLES
            self._remainder = buffer[whole:]
            for start in range(0, whole, CHUNK_SAMPLES):
                if self._clears != clears:
                    break  # cleared while this piece was being listened to: drop the rest
                yield buffer[start : start + CHUNK_SAMPLES]

    def _manual_audio(self, chunk: NDArray[np.float32]) -> None:
        if self._manual_samples >= MAX_MANUAL_AUDIO_S * VAD_RATE:
            return  # the oldest part of a very long manual turn is what is kept
        self._manual.append(chunk)
        self._manual_samples += len(chunk)

    def _commit(self, event_id: str | None) -> None:
        parts, self._manual = [*self._manual, self._remainder], []
        self._remainder = np.zeros(0, dtype=np.float32)
        self._manual_samples = 0
        audio = np.concatenate(parts)
        if 1000 * len(audio) / VAD_RATE < MIN_COMMIT_MS:
            self.metrics.client_event_errors.labels("input_audio_buffer_commit_empty").inc()
            self.sender.error(
                "input_audio_buffer_commit_empty",
                f"the buffer has less than {MIN_COMMIT_MS} ms of audio",
                event_id=event_id,
            )
            return
        item_id = new_id("item")
        self.sender.emit(ev.AUDIO_COMMITTED, {"item_id": item_id, "previous_item_id": None})
        self.responder.add_user_item(item_id, None, None, audio)

    # -- audio out: the paced track's frames as deltas -----------------------------------
    async def _play_out(self) -> None:
        """The track's consumer side, paced like aiortc's sender: 20 ms every 20 ms."""
        output = self.output
        silence = output._silence
        resample = _Resampler(OUTPUT_TRACK_RATE, self._out_format.rate)
        loop = asyncio.get_running_loop()
        due = loop.time()
        while output.readyState == "live":
            due += FRAME_MS / 1000
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            elif wait < -0.2:
                due = loop.time()  # the loop stalled: no burst to catch up
            if output.readyState != "live":
                return
            frame = silence if output.paused else output._take(FRAME_SAMPLES)
            playing = self.responder.playing
            if frame is silence or playing is None:
                continue
            fmt = self._out_format
            if resample.dst != fmt.rate:
                resample = _Resampler(OUTPUT_TRACK_RATE, fmt.rate)
            pcm = resample(frame)
            if fmt.kind == PCM:
                raw = pcm.astype("<i2").tobytes()
            else:
                raw = g711.encode(pcm, "pcmu" if fmt.kind == PCMU else "pcma")
            response_id, item_id = playing
            self._audio_sent[response_id] = item_id
            self._sent_ms[item_id] = (
                self._sent_ms.get(item_id, 0.0) + 1000 * len(frame) / OUTPUT_TRACK_RATE
            )
            self.sender.emit(
                ev.OUTPUT_AUDIO_DELTA,
                {
                    "response_id": response_id,
                    "item_id": item_id,
                    "output_index": 0,
                    "content_index": 0,
                    "delta": base64.b64encode(raw).decode("ascii"),
                },
            )

    def _before_emit(self, event_type: str, payload: Mapping[str, Any]) -> None:
        if event_type != ev.RESPONSE_DONE:
            return
        response = payload.get("response")
        response_id = response.get("id") if isinstance(response, Mapping) else None
        item_id = self._audio_sent.pop(response_id, None) if isinstance(response_id, str) else None
        if item_id is not None:
            self.sender.emit(
                ev.OUTPUT_AUDIO_DONE,
                {
                    "response_id": response_id,
                    "item_id": item_id,
                    "output_index": 0,
                    "content_index": 0,
                },
            )

    def _truncation_end(self, item_id: str, audio_end_ms: float) -> float:
        # Never more than was sent: the client cannot have played the rest.
        return max(0.0, min(audio_end_ms, self._sent_ms.get(item_id, 0.0)))
