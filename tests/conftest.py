"""Shared fixtures: the embedded model (loaded once), speech clips, an app per test."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

import httpx
import numpy as np
import pytest
import uvloop
from fastapi import FastAPI
from numpy.typing import NDArray

from model.base import OmniModel
from model.embedded.backend import EmbeddedModel
from model.embedded.turn_end import TurnEndModel
from model.tone import ToneModel
from rtc.app import create_app
from rtc.config import ServerConfig
from rtc.conversation.conversation import Conversation
from rtc.gateway import Gateway
from rtc.transports.webrtc import WebRTCTransport
from rtc.vad import SileroVAD

ENGLISH = "I would like a cup of coffee with milk please."
SPANISH = "Quiero un café con leche, por favor."
LONG_SPANISH_SOURCE = (
    "My brother lives in Barcelona and works as a doctor. He has a big house near the sea. "
    "Every summer we visit him with our children. We eat fish and walk on the beach every day. "
    "In the evening we sit outside and talk until it is very late."
)


@pytest.fixture(scope="session")
def event_loop_policy() -> asyncio.AbstractEventLoopPolicy:
    """The server runs on uvloop (`omnilive serve`), so the tests do too."""
    policy: asyncio.AbstractEventLoopPolicy = uvloop.EventLoopPolicy()
    return policy


@pytest.fixture(scope="session", autouse=True)
def records_in_a_temp_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """`omnilive serve` children started by tests keep their records in a temp dir."""
    patch = pytest.MonkeyPatch()
    patch.setenv("OMNILIVE_DATA_DIR", str(tmp_path_factory.mktemp("records")))
    yield
    patch.undo()


@pytest.fixture(scope="session")
def embedded_model() -> EmbeddedModel:
    model = EmbeddedModel()
    model.load(lambda _msg: None)
    return model


@pytest.fixture(scope="session")
def vad() -> SileroVAD:
    return SileroVAD()


#: The end-of-turn model, loaded once for every app the tests make.
TURN_END = TurnEndModel()


def _speak(model: EmbeddedModel, text: str, language: str) -> NDArray[np.int16]:
    async def run() -> NDArray[np.int16]:
        session = model.session()
        chunks = [c.pcm async for c in session.synthesize(text, language, sample_rate=48_000)]
        return np.concatenate(chunks)

    return asyncio.run(run())


@dataclass(frozen=True)
class Clips:
    english: NDArray[np.int16]
    spanish: NDArray[np.int16]


@pytest.fixture(scope="session")
def clips(embedded_model: EmbeddedModel) -> Clips:
    """Utterances recorded with the project's own voices (Piper for English, espeak-ng for Spanish)."""
    return Clips(_speak(embedded_model, ENGLISH, "en"), _speak(embedded_model, SPANISH, "es"))


@dataclass
class Server:
    app: FastAPI
    http: httpx.AsyncClient

    @property
    def gateway(self) -> Gateway:
        gateway: Gateway = self.app.state.gateway
        return gateway

    def client(self, headers: dict[str, str]) -> httpx.AsyncClient:
        """Another HTTP client of the same app, sending `headers` with every request."""
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url=self.http.base_url,
            headers=headers,
        )


@contextlib.asynccontextmanager
async def servers_for(model: OmniModel, vad: SileroVAD) -> AsyncIterator[Callable[..., Server]]:
    made: list[Server] = []

    def factory(**overrides: object) -> Server:
        config = ServerConfig(**overrides)  # type: ignore[arg-type]
        app = create_app(config, model=model, vad=vad, turn_end=TURN_END)
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://omnilive.test"
        )
        server = Server(app, http)
        made.append(server)
        return server

    try:
        yield factory
    finally:
        for server in made:
            await server.gateway.aclose()
            await server.http.aclose()


@pytest.fixture
async def make_server(
    embedded_model: EmbeddedModel, vad: SileroVAD
) -> AsyncIterator[Callable[..., Server]]:
    """Build apps in-process (ASGI transport, real WebRTC over loopback); closed after the test."""
    async with servers_for(embedded_model, vad) as factory:
        yield factory


@pytest.fixture
async def make_tone_server(vad: SileroVAD) -> AsyncIterator[Callable[..., Server]]:
    """Like make_server, with the `tone` backend: no models to load, answers are tones."""
    async with servers_for(ToneModel(), vad) as factory:
        yield factory


@pytest.fixture
async def server(make_server: Callable[..., Server]) -> Server:
    return make_server()


def peer(call: Conversation) -> WebRTCTransport:
    """The WebRTC transport of a server-side call (its peer connection is `.pc`)."""
    transport = call.transport
    assert isinstance(transport, WebRTCTransport), transport
    return transport


async def wait_until(
    condition: Callable[[], bool], timeout: float = 10.0, step: float = 0.05
) -> None:
    """Poll a condition instead of sleeping a fixed time."""

    async def poll() -> None:
        while not condition():  # noqa: ASYNC110 - polling other objects' state is the point
            await asyncio.sleep(step)

    await asyncio.wait_for(poll(), timeout)
