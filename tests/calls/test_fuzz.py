"""Hostile input, generated: signaling bodies, headers and SDP, and data-channel events.

Bounded runs (derandomized, so CI sees the same examples every time; set
OMNILIVE_FUZZ_EXAMPLES for a longer random run). The properties:
no answer is a 5xx, every error has the contract's JSON shape, the call under fire
stays connected, and nothing is left behind.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clients.python.client import CallClient
from rtc import events
from rtc.limits import CallLimits
from tests.conftest import Server, peer, wait_until
from tests.sdp import make_offer

#: OMNILIVE_FUZZ_EXAMPLES=2000 for a deeper, randomized local run.
DEEP = int(os.environ.get("OMNILIVE_FUZZ_EXAMPLES", "0"))
FUZZ = settings(
    max_examples=DEEP or 60,
    deadline=None,
    derandomize=not DEEP,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
NO_LIMITS = CallLimits(events_per_second=0, max_dropped_events=0)

CONTENT_TYPES = st.sampled_from(
    [
        "application/sdp",
        "application/SDP; charset=utf-8",
        "multipart/form-data",
        "multipart/form-data; boundary=xyz",
        "application/json",
        "text/plain",
        "",
        "application/sdp; boundary=\x00",
    ]
)
HEADER_TEXT = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80
)  # what an HTTP client can put in a header


def _check_answer(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        error = response.json()["error"]
        assert isinstance(error["code"], str) and isinstance(error["message"], str)
        assert error["type"] in ("invalid_request_error", "rate_limit_error", "server_error")


async def _post(server: Server, **kwargs: Any) -> httpx.Response:
    response = await server.http.post("/v1/realtime/calls", **kwargs)
    _check_answer(response)
    if response.status_code == 201:
        deleted = await server.http.delete(response.headers["location"])
        assert deleted.status_code == 204
    return response


@pytest.fixture
async def fuzz_server(make_tone_server: Callable[..., Server]) -> Server:
    return make_tone_server(calls_per_minute=0, call_limits=NO_LIMITS, max_calls=4)


@pytest.fixture(scope="module")
def base_offer() -> str:
    import asyncio

    async def make() -> str:
        pc, sdp = await make_offer(audio=True, video=True)
        await pc.close()
        return sdp

    return asyncio.run(make())


def _mutations(lines: list[str]) -> st.SearchStrategy[str]:
    n = len(lines)
    junk = st.text(max_size=60)
    op = st.one_of(
        st.tuples(st.just("drop"), st.integers(0, n - 1), st.just("")),
        st.tuples(st.just("dup"), st.integers(0, n - 1), st.just("")),
        st.tuples(st.just("value"), st.integers(0, n - 1), junk),
        st.tuples(st.just("insert"), st.integers(0, n), junk),
        st.tuples(st.just("truncate"), st.integers(0, n), st.just("")),
    )

    def apply(ops: list[tuple[str, int, str]], ending: str) -> str:
        out = list(lines)
        for kind, index, text in ops:
            index = min(index, len(out))
            if kind == "drop" and index < len(out):
                del out[index]
            elif kind == "dup" and index < len(out):
                out.insert(index, out[index])
            elif kind == "value" and index < len(out):
                head, sep, _ = out[index].partition(":")
                out[index] = f"{head}{sep or '='}{text}"
            elif kind == "insert":
                out.insert(index, text)
            elif kind == "truncate":
                out = out[:index]
        return ending.join(out) + ending

    return st.builds(apply, st.lists(op, min_size=1, max_size=6), st.sampled_from(["\r\n", "\n"]))


@FUZZ
@given(data=st.data())
async def test_fuzzed_sdp_offers(fuzz_server: Server, base_offer: str, data: st.DataObject) -> None:
    sdp = data.draw(_mutations(base_offer.rstrip("\r\n").split("\r\n")))
    await _post(fuzz_server, content=sdp.encode(), headers={"Content-Type": "application/sdp"})
    assert len(fuzz_server.gateway.registry) == 0


@FUZZ
@given(
    body=st.one_of(st.binary(max_size=512), st.text(max_size=512).map(str.encode)),
    content_type=CONTENT_TYPES,
    authorization=st.one_of(st.none(), HEADER_TEXT, HEADER_TEXT.map("Bearer ek_".__add__)),
    query=st.dictionaries(st.sampled_from(["model", "x", "intent"]), HEADER_TEXT, max_size=2),
)
async def test_fuzzed_bodies_and_headers(
    fuzz_server: Server,
    body: bytes,
    content_type: str,
    authorization: str | None,
    query: dict[str, str],
) -> None:
    headers = {"Content-Type": content_type}
    if authorization is not None:
        headers["Authorization"] = authorization
    await _post(fuzz_server, content=body, headers=headers, params=query)


@FUZZ
@given(
    sdp=st.one_of(st.none(), st.text(max_size=200)),
    session=st.one_of(
        st.none(),
        st.text(max_size=100),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(
                    st.sampled_from(["scenario", "languages", "video", "audio", "x"]),
                    inner,
                    max_size=3,
                )
            ),
            max_leaves=8,
        ).map(json.dumps),
    ),
)
async def test_fuzzed_multipart(fuzz_server: Server, sdp: str | None, session: str | None) -> None:
    files = {}
    if sdp is not None:
        files["sdp"] = (None, sdp)
    if session is not None:
        files["session"] = (None, session)
    if not files:
        files["other"] = (None, "x")
    await _post(fuzz_server, files=files)


@FUZZ
@given(
    authorization=st.one_of(st.none(), HEADER_TEXT),
    body=st.one_of(st.binary(max_size=256), st.text(max_size=256).map(str.encode)),
    call_id=st.text(
        st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="/?#%"),
        min_size=1,
        max_size=40,
    ),
)
async def test_fuzzed_other_routes(
    fuzz_server: Server, authorization: str | None, body: bytes, call_id: str
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    http = fuzz_server.http
    for response in (
        await http.post("/v1/realtime/client_secrets", content=body, headers=headers),
        await http.delete(f"/v1/realtime/calls/{call_id}", headers=headers),
        await http.get(f"/v1/conversations/{call_id}", headers=headers),
        await http.get("/v1/conversations", params={"limit": call_id}, headers=headers),
    ):
        _check_answer(response)


# -- the data channel, through a real call ---------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
FIELDS = st.sampled_from(
    ["session", "item", "item_id", "audio_end_ms", "content_index", "response", "event_id"]
)
EVENTS = st.one_of(
    st.text(max_size=200),
    st.binary(max_size=200),  # binary data-channel messages, and UTF-8 JSON sent as binary
    st.just(b'{"type": "response.cancel"}'),
    JSON_VALUES.map(json.dumps),
    st.builds(
        lambda kind, fields: json.dumps({"type": kind, **fields}),
        st.sampled_from([*events.CLIENT_EVENTS, "input_audio_buffer.append", "x.y"]),
        st.dictionaries(FIELDS, JSON_VALUES, max_size=3),
    ),
    st.builds(
        lambda parts: json.dumps(
            {"type": "conversation.item.create", "item": {"type": "message", "content": parts}}
        ),
        st.lists(
            st.fixed_dictionaries(
                {
                    "type": st.sampled_from(["input_text", "input_image", "input_audio"]),
                    "text": st.text(max_size=30),
                    "image_url": st.text(max_size=30).map("data:image/png;base64,".__add__),
                }
            ),
            max_size=2,
        ),
    ),
)


@pytest.fixture
async def fuzz_call(fuzz_server: Server) -> AsyncIterator[CallClient]:
    async with CallClient(fuzz_server.http, session={"scenario": "interpreter"}) as call:
        await call.wait_for("session.created")
        yield call


@settings(FUZZ, max_examples=DEEP or 80)
@given(message=EVENTS)
async def test_fuzzed_client_events(
    fuzz_server: Server,
    fuzz_call: CallClient,
    caplog: pytest.LogCaptureFixture,
    message: str | bytes,
) -> None:
    caplog.set_level(logging.ERROR)
    if isinstance(message, bytes):
        fuzz_call.channel.send(message)
    else:
        fuzz_call.send(message)
    sentinel = f"evt_sentinel_{len(fuzz_call.events)}"
    mark = len(fuzz_call.events)
    fuzz_call.send({"type": "sentinel.ping", "event_id": sentinel})
    # Events are handled in order: the sentinel's answer means `message` was handled.
    await fuzz_call.wait_for(
        "error", lambda e: e["error"].get("event_id") == sentinel, after=mark, timeout=10
    )
    assert len(fuzz_server.gateway.registry) == 1
    assert peer(fuzz_server.gateway.registry.calls[0]).pc.connectionState == "connected"
    crashed = [r for r in caplog.records if r.name.startswith(("rtc", "model", "translate"))]
    assert crashed == [], [r.getMessage() for r in crashed]


async def test_the_call_under_fire_still_answers(
    fuzz_server: Server, fuzz_call: CallClient
) -> None:
    """After a run of junk, a normal turn works (and nothing was left behind by it)."""
    for junk in ("{", "[]", '{"type": 1}', '{"type": "response.create", "x": {}}'):
        fuzz_call.send(junk)
    fuzz_call.send({"type": "response.cancel"})
    mark = len(fuzz_call.events)
    fuzz_call.send_text("Hello there.")
    await fuzz_call.wait_for(
        "response.done", lambda e: e["response"]["status"] == "completed", after=mark
    )
    await wait_until(lambda: len(fuzz_server.gateway.registry) == 1)
