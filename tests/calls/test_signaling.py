"""Signaling exactly as PROTOCOL.md says: statuses, headers, error bodies, limits."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack

from clients.python.client import CallClient
from tests.conftest import Server, wait_until
from tests.sdp import assert_error, make_offer

_offer = make_offer
_assert_error = assert_error


async def test_offer_gets_201_sdp_answer_with_location_and_delete_frees_it(server: Server) -> None:
    pc, sdp = await _offer()
    try:
        response = await server.http.post(
            "/v1/realtime/calls?model=gpt-realtime",
            content=sdp,
            headers={"Content-Type": "application/sdp"},
        )
        assert response.status_code == 201, response.text
        assert response.headers["content-type"].startswith("application/sdp")
        location = response.headers["location"]
        assert location.startswith("/v1/realtime/calls/")
        answer = response.text
        assert answer.startswith("v=0")
        assert "a=candidate" in answer  # sent after ICE gathering
        assert "m=audio" in answer and "a=sendrecv" in answer
        assert len(server.gateway.registry) == 1
        metrics = (await server.http.get("/metrics")).text
        assert "omnilive_active_calls 1.0" in metrics
        deleted = await server.http.delete(location)
        assert deleted.status_code == 204
        assert len(server.gateway.registry) == 0
        assert "omnilive_active_calls 0.0" in (await server.http.get("/metrics")).text
        _assert_error(await server.http.delete(location), 404, "call_not_found")
    finally:
        await pc.close()


async def test_multipart_offer_with_session(server: Server) -> None:
    async with CallClient(
        server.http, session={"scenario": "interpreter", "languages": ["es", "en"]}
    ) as call:
        created = await call.wait_for("session.created")
        assert created["session"]["scenario"] == "interpreter"
        assert created["session"]["languages"] == ["es", "en"]


async def test_signaling_errors(server: Server) -> None:
    pc, sdp = await _offer()
    try:
        post = server.http.post
        _assert_error(
            await post("/v1/realtime/calls", content=sdp, headers={"Content-Type": "text/plain"}),
            415,
            "unsupported_content_type",
        )
        _assert_error(
            await post(
                "/v1/realtime/calls", content=b"hello", headers={"Content-Type": "application/sdp"}
            ),
            400,
            "invalid_sdp",
        )
        broken = sdp.replace("a=fingerprint:", "a=fingerprint-broken:")
        _assert_error(
            await post(
                "/v1/realtime/calls", content=broken, headers={"Content-Type": "application/sdp"}
            ),
            400,
            "invalid_sdp",
        )
        mangled = sdp.replace("m=audio ", "m=audio x")
        _assert_error(
            await post(
                "/v1/realtime/calls", content=mangled, headers={"Content-Type": "application/sdp"}
            ),
            400,
            "invalid_sdp",
        )
        big = sdp + ("a=x-padding:" + "y" * 1000 + "\r\n") * 200
        _assert_error(
            await post(
                "/v1/realtime/calls", content=big, headers={"Content-Type": "application/sdp"}
            ),
            413,
            "body_too_large",
        )
        _assert_error(
            await post(
                "/v1/realtime/calls", files={"sdp": (None, sdp), "session": (None, "{not json")}
            ),
            400,
            "invalid_session",
        )
        _assert_error(
            await post("/v1/realtime/calls", files={"session": (None, "{}")}), 400, "missing_sdp"
        )
        _assert_error(
            await post(
                "/v1/realtime/calls",
                files={"sdp": (None, sdp), "session": (None, json.dumps({"scenario": "karaoke"}))},
            ),
            400,
            "invalid_scenario",
        )
        _assert_error(
            await post(
                "/v1/realtime/calls",
                files={
                    "sdp": (None, sdp),
                    "session": (
                        None,
                        json.dumps({"scenario": "interpreter", "languages": ["en", "ja"]}),
                    ),
                },
            ),
            400,
            "unsupported_language_pair",
        )
        _assert_error(
            await server.http.delete("/v1/realtime/calls/rtc_nope"), 404, "call_not_found"
        )
        assert len(server.gateway.registry) == 0
    finally:
        await pc.close()


async def test_offer_with_neither_audio_nor_video_is_refused(server: Server) -> None:
    pc, sdp = await _offer(audio=False, channel=True)
    try:
        response = await server.http.post(
            "/v1/realtime/calls", content=sdp, headers={"Content-Type": "application/sdp"}
        )
        _assert_error(response, 400, "no_media")
    finally:
        await pc.close()


async def test_call_limit_answers_429_with_retry_after(make_server: Callable[..., Server]) -> None:
    server = make_server(max_calls=1)
    async with CallClient(server.http):
        pc, sdp = await _offer()
        try:
            response = await server.http.post(
                "/v1/realtime/calls", content=sdp, headers={"Content-Type": "application/sdp"}
            )
            _assert_error(response, 429, "too_many_calls")
            assert int(response.headers["retry-after"]) > 0
        finally:
            await pc.close()
    await wait_until(lambda: len(server.gateway.registry) == 0)


async def test_offer_without_any_ice_candidates_still_connects(server: Server) -> None:
    """Browsers and the OpenAI SDKs POST right after setLocalDescription, before gathering."""
    pc = RTCPeerConnection()
    pc.addTransceiver(AudioStreamTrack(), direction="sendrecv")
    channel = pc.createDataChannel("oai-events")
    opened = asyncio.Event()
    channel.on("open", opened.set)
    await pc.setLocalDescription(await pc.createOffer())
    bare = "\r\n".join(
        line
        for line in pc.localDescription.sdp.split("\r\n")
        if not line.startswith(("a=candidate", "a=end-of-candidates"))
    )
    try:
        response = await server.http.post(
            "/v1/realtime/calls", content=bare, headers={"Content-Type": "application/sdp"}
        )
        assert response.status_code == 201, response.text
        await pc.setRemoteDescription(RTCSessionDescription(response.text, "answer"))
        await asyncio.wait_for(opened.wait(), 20)
        assert pc.connectionState == "connected"
    finally:
        await pc.close()


async def test_healthz_and_metrics(server: Server) -> None:
    health = (await server.http.get("/healthz")).json()
    assert health["status"] == "ok"
    assert health["backend"] == "embedded"
    assert "interpreter" in health["scenarios"]
    assert ["en", "es"] in health["capabilities"]["translation_pairs"]
    metrics = await server.http.get("/metrics")
    assert metrics.status_code == 200
    for name in (
        "omnilive_active_calls",
        "omnilive_barge_ins_total",
        "omnilive_response_latency_seconds_bucket",
        "omnilive_barge_in_latency_seconds_bucket",
    ):
        assert name in metrics.text


async def test_cors_preflight_and_errors_carry_cors_headers(
    make_server: Callable[..., Server],
) -> None:
    server = make_server(cors_origins=["https://app.example"])
    preflight = await server.http.options(
        "/v1/realtime/calls",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-openai-agents-sdk",
        },
    )
    assert preflight.status_code == 200
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "DELETE" in preflight.headers["access-control-allow-methods"]
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert {"authorization", "content-type", "x-openai-agents-sdk"} <= {
        h.strip() for h in allowed.split(",")
    }
    missing = await server.http.delete(
        "/v1/realtime/calls/rtc_x", headers={"Origin": "https://app.example"}
    )
    assert missing.status_code == 404
    assert missing.headers["access-control-allow-origin"] == "https://app.example"
    assert "location" in missing.headers["access-control-expose-headers"].lower()
