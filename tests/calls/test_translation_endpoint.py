"""The translation endpoints' rules (auth, client secrets, call limits), on the tone backend.

The session's protocol is tested on a scripted recogniser (tests/unit/test_translation_session.py)
and with real speech (test_translation_sessions.py); here, who may open one and what it counts as.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets
from openai import AsyncOpenAI

from model.tone import ToneModel
from rtc.vad import SileroVAD
from tests.callers import live_server

KEY = "sk-server-key"


@contextlib.asynccontextmanager
async def server(vad: SileroVAD, **config: Any) -> AsyncIterator[str]:
    async with live_server(ToneModel(), vad, **config) as (address, _):
        yield address


async def first_event(address: str, credential: str) -> dict[str, Any]:
    client = AsyncOpenAI(api_key=credential, base_url=f"http://{address}/v1")
    try:
        async with client.realtime.translations.connect(model="gpt-realtime-translate") as conn:
            event = await conn.recv()
            return event.to_dict()
    finally:
        await client.close()


async def refused_status(address: str, credential: str) -> int:
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        await first_event(address, credential)
    return refused.value.response.status_code


async def test_a_translation_client_secret_opens_one_translation_session(vad: SileroVAD) -> None:
    async with server(vad, api_key=KEY) as address:
        client = AsyncOpenAI(api_key=KEY, base_url=f"http://{address}/v1")
        secret = await client.realtime.translations.client_secrets.create(
            session={"model": "gpt-realtime-translate", "audio": {"output": {"language": "es"}}}
        )
        await client.close()
        assert secret.value.startswith("ek_")
        assert secret.session.type == "translation"
        assert secret.session.audio.output is not None
        assert secret.session.audio.output.language == "es"
        created = await first_event(address, secret.value)
        assert created["type"] == "session.created"
        assert created["session"]["audio"]["output"]["language"] == "es"
        assert await refused_status(address, secret.value) == 401  # spent
        assert await refused_status(address, "sk-wrong") == 401
        opened = await first_event(address, KEY)  # the key itself opens one too
        assert opened["session"]["audio"]["output"]["language"] == "en"


async def test_tokens_open_only_their_own_kind_of_session(vad: SileroVAD) -> None:
    async with (
        server(vad, api_key=KEY) as address,
        httpx.AsyncClient(
            base_url=f"http://{address}", headers={"Authorization": f"Bearer {KEY}"}
        ) as http,
    ):
        # A call's token does not open a translation session ...
        call_token = (await http.post("/v1/realtime/client_secrets", json={})).json()["value"]
        assert await refused_status(address, call_token) == 401
        answer = await http.post("/v1/realtime/translations/client_secrets", json={"session": {}})
        translation_token = answer.json()["value"]
        # ... nor a translation token a call (here over the Realtime WebSocket).
        realtime = AsyncOpenAI(api_key=translation_token, base_url=f"http://{address}/v1")
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            async with realtime.realtime.connect(model="gpt-realtime"):
                pass
        await realtime.close()
        assert refused.value.response.status_code == 401
        bad = await http.post(
            "/v1/realtime/translations/client_secrets",
            json={"session": {"audio": {"output": {"language": "xx"}}}},
        )
        assert bad.status_code == 400
        assert bad.json()["error"]["code"] == "unsupported_language"
        keyless = await http.post(
            "/v1/realtime/translations/client_secrets",
            json={},
            headers={"Authorization": "Bearer sk-wrong"},
        )
        assert keyless.status_code == 401


async def test_a_translation_session_takes_a_call_slot(vad: SileroVAD) -> None:
    async with live_server(ToneModel(), vad, max_calls=1) as (address, gateway):
        client = AsyncOpenAI(api_key="sk-anything", base_url=f"http://{address}/v1")
        try:
            async with client.realtime.translations.connect(model="m") as conn:
                assert (await conn.recv()).type == "session.created"
                assert len(gateway.registry) == 1
                async with httpx.AsyncClient(base_url=f"http://{address}") as http:
                    metrics = (await http.get("/metrics")).text
                    assert "omnilive_active_calls 1.0" in metrics
                assert await refused_status(address, "sk-anything") == 429
                await conn.session.close()
                assert (await conn.recv()).type == "session.closed"
        finally:
            await client.close()
        assert len(gateway.registry) == 0
