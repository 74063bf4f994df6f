"""One caller interface over both transports, for tests of behaviour they share.

`WebRTCCaller` is the project's WebRTC client (aiortc, as a phone); `WebSocketCaller` is
the official `openai` SDK's Realtime WebSocket with a live microphone (audio appended
in real time) whose received `response.output_audio.delta`s are recorded like a
speaker would play them. Both talk to a real `uvicorn` server on a loopback port.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Protocol

import httpx
import numpy as np
import uvicorn
from numpy.typing import NDArray
from openai import AsyncOpenAI

from clients.python.client import CallClient, ReceivedAudio
from model.audio import StreamResampler, resample_int16
from model.base import OmniModel
from rtc.app import create_app
from rtc.config import ServerConfig
from rtc.gateway import Gateway
from rtc.vad import SileroVAD
from rtc.ws_upgrades import WebSocketUpgrades
from tests.conftest import TURN_END

WS_RATE = 24_000
CHUNK_S = 0.02


class Caller(Protocol):
    """A client in a call, whatever carries it."""

    events: list[dict[str, Any]]
    received: ReceivedAudio
    """The assistant's voice as heard: 20 ms frames with their arrival times."""

    def send(self, event: Mapping[str, Any]) -> None: ...

    async def say(self, pcm48: NDArray[np.int16]) -> float:
        """Speak (48 kHz mono) in real time; returns when the last sample was sent."""
        ...

    async def wait_for(
        self,
        event_type: str,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        *,
        after: int = 0,
        timeout: float = 30.0,
    ) -> dict[str, Any]: ...

    def of_type(self, event_type: str) -> list[dict[str, Any]]: ...


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def live_server(
    model: OmniModel, vad: SileroVAD, **config: Any
) -> AsyncIterator[tuple[str, Gateway]]:
    """The app under uvicorn on a loopback port: (host:port, its gateway)."""
    port = _free_port()
    app = create_app(ServerConfig(**config), model=model, vad=vad, turn_end=TURN_END)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
            ws=WebSocketUpgrades,
        )
    )
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        gateway: Gateway = app.state.gateway
        yield f"127.0.0.1:{port}", gateway
    finally:
        server.should_exit = True
        await task


class WebRTCCaller:
    def __init__(self, call: CallClient) -> None:
        self.call = call
        self.events = call.events
        self.received = call.received

    def send(self, event: Mapping[str, Any]) -> None:
        self.call.send(event)

    async def say(self, pcm48: NDArray[np.int16]) -> float:
        assert self.call.mic is not None
        await self.call.mic.play(pcm48).wait()
        return asyncio.get_running_loop().time()

    async def wait_for(
        self,
        event_type: str,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        *,
        after: int = 0,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        return await self.call.wait_for(event_type, predicate, after=after, timeout=timeout)

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return self.call.of_type(event_type)


class WebSocketCaller:
    def __init__(self, connection: Any, *, microphone: bool = True) -> None:
        """`microphone`: append audio in real time (silence when not speaking), as a live
        call does; off for a sideband or a push-to-talk client."""
        self.conn = connection
        self.events: list[dict[str, Any]] = []
        self.received = ReceivedAudio()
        self._arrived = asyncio.Event()
        self._speech: asyncio.Queue[tuple[NDArray[np.int16], asyncio.Future[float]]] = (
            asyncio.Queue()
        )
        self._to_48k = StreamResampler(WS_RATE, 48_000)
        self._speaker = np.zeros(0, dtype=np.int16)
        self._tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._play())]
        if microphone:
            self._tasks.append(asyncio.create_task(self._talk()))

    async def _read(self) -> None:
        async for event in self.conn:
            data = event.to_dict()
            if data["type"] == "response.output_audio.delta":
                pcm = np.frombuffer(base64.b64decode(data["delta"]), dtype="<i2")
                self._speaker = np.concatenate([self._speaker, self._to_48k(pcm.astype(np.int16))])
            self.events.append(data)
            self._arrived.set()

    async def _play(self) -> None:
        """A speaker: 20 ms of what arrived (or silence) every 20 ms, as a phone plays it."""
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        frame = int(48_000 * CHUNK_S)
        while True:
            piece, self._speaker = self._speaker[:frame], self._speaker[frame:]
            if len(piece) < frame:
                piece = np.concatenate([piece, np.zeros(frame - len(piece), np.int16)])
            self.received.add(piece)
            next_at += CHUNK_S
            await asyncio.sleep(max(0.0, next_at - loop.time()))

    async def _talk(self) -> None:
        """A live microphone: queued speech, else silence, 20 ms at a time, paced."""
        step = int(WS_RATE * CHUNK_S)
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        pending = np.zeros(0, dtype=np.int16)
        done: list[asyncio.Future[float]] = []
        while True:
            while not self._speech.empty():
                pcm, finished = self._speech.get_nowait()
                pending = np.concatenate([pending, pcm])
                done.append(finished)
            piece, pending = pending[:step], pending[step:]
            if len(piece) < step:
                piece = np.concatenate([piece, np.zeros(step - len(piece), np.int16)])
            audio = base64.b64encode(piece.astype("<i2").tobytes()).decode()
            await self.conn.input_audio_buffer.append(audio=audio)
            if not len(pending):
                for finished in done:
                    finished.set_result(loop.time())
                done.clear()
            next_at += CHUNK_S
            await asyncio.sleep(max(0.0, next_at - loop.time()))

    def send(self, event: Mapping[str, Any]) -> None:
        asyncio.get_running_loop().create_task(self.conn.send(dict(event)))

    async def say(self, pcm48: NDArray[np.int16]) -> float:
        finished: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._speech.put_nowait((resample_int16(pcm48, 48_000, WS_RATE), finished))
        return await finished

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == event_type]

    async def wait_for(
        self,
        event_type: str,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        *,
        after: int = 0,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        async def find() -> dict[str, Any]:
            seen = after
            while True:
                for event in self.events[seen:]:
                    if event["type"] == event_type and (predicate is None or predicate(event)):
                        return event
                seen = len(self.events)
                self._arrived.clear()
                await self._arrived.wait()

        try:
            return await asyncio.wait_for(find(), timeout)
        except TimeoutError:
            kinds = [e["type"] for e in self.events[after:] if not e["type"].endswith("delta")]
            raise AssertionError(f"no {event_type} within {timeout}s; got {kinds}") from None

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


TRANSPORTS = ("webrtc", "websocket")


@contextlib.asynccontextmanager
async def calling(
    transport: str, address: str, session: Mapping[str, Any]
) -> AsyncIterator[Caller]:
    """A call over `transport` to the server at `address`, opened with `session`."""
    if transport == "webrtc":
        async with (
            httpx.AsyncClient(base_url=f"http://{address}") as http,
            CallClient(http, session=session) as call,
        ):
            caller = WebRTCCaller(call)
            await caller.wait_for("session.created")
            yield caller
        return
    client = AsyncOpenAI(
        api_key="sk-anything",
        base_url=f"http://{address}/v1",
        websocket_base_url=f"ws://{address}/v1",
    )
    try:
        async with client.realtime.connect(model="gpt-realtime") as connection:
            ws_caller = WebSocketCaller(connection)
            try:
                await ws_caller.wait_for("session.created", timeout=10)
                await connection.session.update(session={"type": "realtime", **session})  # type: ignore[arg-type]
                await ws_caller.wait_for("session.updated", timeout=10)
                yield ws_caller
            finally:
                await ws_caller.aclose()
    finally:
        await client.close()
