"""schemathesis against the app's own OpenAPI document: no 5xx, answers as documented."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from model.tone import ToneModel
from rtc.app import create_app
from rtc.config import ServerConfig
from rtc.vad import SileroVAD

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


# SDP offers are plain text; the same serializer as text/plain.
schemathesis.serializer.alias("application/sdp", "text/plain")


class WithoutLifespan:
    """The app, minus its lifespan: the test client would otherwise shut it down per call."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await self.app(scope, receive, send)


_DATA = tempfile.TemporaryDirectory(prefix="omnilive-openapi-")
APP = create_app(
    ServerConfig(calls_per_minute=0, data_dir=_DATA.name), model=ToneModel(), vad=SileroVAD()
)
schema = schemathesis.openapi.from_asgi("/openapi.json", WithoutLifespan(APP))


@pytest.fixture(scope="module", autouse=True)
def _close_records() -> Iterator[None]:
    yield
    APP.state.gateway.records.close_sync()
    _DATA.cleanup()


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_follows_its_openapi(case: Any) -> None:
    case.call_and_validate(checks=CHECKS)
