"""API key and ephemeral tokens: every case, over HTTP and through real calls."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from clients.python.client import CallClient
from rtc import cli
from rtc.auth import Authenticator, bearer
from rtc.config import ServerConfig
from rtc.errors import TooManyCalls
from tests.conftest import Server, wait_until
from tests.sdp import SDP, assert_error, make_offer

KEY = "sk-test-0123456789"


def _auth(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


async def _secret(server: Server, body: dict[str, Any] | None = None, key: str = KEY) -> str:
    response = await server.http.post(
        "/v1/realtime/client_secrets", json=body or {}, headers=_auth(key)
    )
    assert response.status_code == 200, response.text
    value: str = response.json()["value"]
    return value


async def _post_offer(server: Server, headers: dict[str, str]) -> httpx.Response:
    pc, sdp = await make_offer()
    try:
        return await server.http.post("/v1/realtime/calls", content=sdp, headers=SDP | headers)
    finally:
        await pc.close()


async def test_calls_need_the_key_or_a_token(make_tone_server: Callable[..., Server]) -> None:
    server = make_tone_server(api_key=KEY)
    missing = await _post_offer(server, {})
    assert_error(missing, 401, "missing_authorization")
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert_error(await _post_offer(server, _auth("sk-wrong")), 401, "invalid_api_key")
    assert_error(await _post_offer(server, {"Authorization": KEY}), 401, "missing_authorization")
    assert_error(await _post_offer(server, _auth("ek_forged")), 401, "invalid_api_key")

    created = await _post_offer(server, _auth(KEY))
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    assert_error(await server.http.delete(location), 401, "missing_authorization")
    assert_error(await server.http.delete(location, headers=_auth("nope")), 401, "invalid_api_key")
    assert (await server.http.delete(location, headers=_auth(KEY))).status_code == 204
    assert len(server.gateway.registry) == 0
    metrics = (await server.http.get("/metrics")).text
    assert 'omnilive_auth_failures_total{code="missing_authorization"} 3.0' in metrics
    assert 'omnilive_auth_failures_total{code="invalid_api_key"} 3.0' in metrics
    health = (await server.http.get("/healthz")).json()
    assert health["auth_required"] is True


async def test_ephemeral_token_is_single_use_and_carries_its_session(
    make_tone_server: Callable[..., Server],
) -> None:
    server = make_tone_server(api_key=KEY)
    issued = await server.http.post(
        "/v1/realtime/client_secrets",
        json={"session": {"scenario": "interpreter", "languages": ["es", "en"]}},
        headers=_auth(KEY),
    )
    assert issued.status_code == 200, issued.text
    body = issued.json()
    assert set(body) == {"value", "expires_at", "session"}
    assert body["value"].startswith("ek_")
    assert body["session"]["scenario"] == "interpreter"
    assert body["session"]["object"] == "realtime.session"
    token = body["value"]

    http = server.client(_auth(token))
    async with http, CallClient(http) as call:
        created = await call.wait_for("session.created")
        assert created["session"]["scenario"] == "interpreter"
        assert created["session"]["languages"] == ["es", "en"]
        # The same token cannot open a second call ...
        assert_error(await _post_offer(server, _auth(token)), 401, "token_already_used")
        # ... nor hang up someone else's; but it may hang up its own (below, on exit).
        other = await _post_offer(server, _auth(KEY))
        assert_error(
            await server.http.delete(other.headers["location"], headers=_auth(token)),
            401,
            "invalid_api_key",
        )
        await server.http.delete(other.headers["location"], headers=_auth(KEY))
    await wait_until(lambda: len(server.gateway.registry) == 0)
    # Still spent after its call ended.
    assert_error(await _post_offer(server, _auth(token)), 401, "token_already_used")


async def test_expired_token_is_refused(make_tone_server: Callable[..., Server]) -> None:
    now = [1_000_000.0]
    server = make_tone_server(api_key=KEY)
    server.gateway.auth = Authenticator(KEY, 60.0, clock=lambda: now[0])
    token = await _secret(server)
    short = await server.http.post(
        "/v1/realtime/client_secrets",
        json={"expires_after": {"anchor": "created_at", "seconds": 10}},
        headers=_auth(KEY),
    )
    assert short.json()["expires_at"] == 1_000_010
    now[0] += 61
    assert_error(await _post_offer(server, _auth(token)), 401, "token_expired")
    assert_error(await _post_offer(server, _auth(short.json()["value"])), 401, "token_expired")


async def test_client_secrets_need_the_key_itself(make_tone_server: Callable[..., Server]) -> None:
    server = make_tone_server(api_key=KEY)
    post = server.http.post
    assert_error(await post("/v1/realtime/client_secrets", json={}), 401, "missing_authorization")
    assert_error(
        await post("/v1/realtime/client_secrets", json={}, headers=_auth("sk-no")),
        401,
        "invalid_api_key",
    )
    token = await _secret(server)
    assert_error(
        await post("/v1/realtime/client_secrets", json={}, headers=_auth(token)),
        401,
        "invalid_api_key",
    )
    bad: list[tuple[Any, str]] = [
        ({"session": {"scenario": "karaoke"}}, "invalid_scenario"),
        ({"session": "tutor"}, "invalid_session"),
        (
            {"session": {"scenario": "interpreter", "languages": ["en", "ja"]}},
            "unsupported_language_pair",
        ),
        ({"expires_after": {"seconds": 5}}, "invalid_expires_after"),
        ({"expires_after": {"anchor": "now", "seconds": 60}}, "invalid_expires_after"),
        ([1, 2], "invalid_request"),
    ]
    for body, code in bad:
        assert_error(
            await post("/v1/realtime/client_secrets", json=body, headers=_auth(KEY)), 400, code
        )
    assert_error(
        await post(
            "/v1/realtime/client_secrets",
            content=b"{nope",
            headers=_auth(KEY) | {"Content-Type": "application/json"},
        ),
        400,
        "invalid_json",
    )
    assert "omnilive_client_secrets_total 1.0" in (await server.http.get("/metrics")).text


async def test_guessing_the_key_is_throttled_per_address(
    make_tone_server: Callable[..., Server], tmp_path: Path
) -> None:
    """Failed authentications on every keyed route draw on one budget per address."""
    server = make_tone_server(api_key=KEY, calls_per_minute=1, call_burst=3, data_dir=str(tmp_path))
    http = server.http
    guesses = [
        http.get("/v1/conversations", headers=_auth("sk-guess-1")),
        http.post("/v1/realtime/client_secrets", json={}, headers=_auth("sk-guess-2")),
        http.delete("/v1/realtime/calls/rtc_nope", headers=_auth("sk-guess-3")),
    ]
    for guess in guesses:
        assert (await guess).status_code == 401
    throttled = await http.get("/v1/conversations/conv_x", headers=_auth("sk-guess-4"))
    assert_error(throttled, 429, "rate_limit_exceeded")
    assert "failed authentications" in throttled.json()["error"]["message"]
    assert 1 <= int(throttled.headers["retry-after"]) <= 60
    # The right key still works from that address: only failures are throttled.
    listed = await http.get("/v1/conversations", headers=_auth(KEY))
    assert listed.status_code == 200, listed.text
    metrics = (await http.get("/metrics")).text
    assert 'omnilive_limit_hits_total{limit="auth_failures"} 1.0' in metrics
    assert 'omnilive_auth_failures_total{code="invalid_api_key"} 3.0' in metrics


async def test_client_secrets_are_rate_limited_and_size_limited(
    make_tone_server: Callable[..., Server],
) -> None:
    server = make_tone_server(api_key=KEY, calls_per_minute=1, call_burst=2, max_body_bytes=4096)
    post = server.http.post
    await _secret(server)
    await _secret(server)
    refused = await post("/v1/realtime/client_secrets", json={}, headers=_auth(KEY))
    assert_error(refused, 429, "rate_limit_exceeded")
    assert int(refused.headers["retry-after"]) >= 1
    # Minting has its own budget: the address may still open calls.
    server.gateway.check_call_rate("127.0.0.1")
    huge = {"session": {"instructions": "x" * 5000}}
    other = make_tone_server(api_key=KEY, max_body_bytes=4096)
    assert_error(
        await other.http.post("/v1/realtime/client_secrets", json=huge, headers=_auth(KEY)),
        413,
        "body_too_large",
    )
    metrics = (await other.http.get("/metrics")).text
    assert 'omnilive_limit_hits_total{limit="body_size"} 1.0' in metrics


async def test_without_a_key_tokens_still_work(make_tone_server: Callable[..., Server]) -> None:
    """Apps that always fetch a client secret first work unchanged against an open server."""
    server = make_tone_server()
    issued = await server.http.post(
        "/v1/realtime/client_secrets", json={"session": {"scenario": "interpreter"}}
    )
    assert issued.status_code == 200
    token = issued.json()["value"]
    http = server.client(_auth(token))
    async with http, CallClient(http) as call:
        created = await call.wait_for("session.created")
        assert created["session"]["scenario"] == "interpreter"
    # Anything else in Authorization is accepted and ignored, as before.
    response = await _post_offer(server, _auth("whatever"))
    assert response.status_code == 201
    await server.http.delete(response.headers["location"])


async def test_cors_covers_auth_routes_and_their_errors(
    make_tone_server: Callable[..., Server],
) -> None:
    server = make_tone_server(api_key=KEY, cors_origins=["https://app.example"])
    origin = {"Origin": "https://app.example"}
    preflight = await server.http.options(
        "/v1/realtime/client_secrets",
        headers=origin
        | {
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert preflight.status_code == 200
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    refused = await server.http.post("/v1/realtime/client_secrets", json={}, headers=origin)
    assert_error(refused, 401, "missing_authorization")
    assert refused.headers["access-control-allow-origin"] == "https://app.example"
    call_refused = await _post_offer(server, origin)
    assert call_refused.status_code == 401
    assert call_refused.headers["access-control-allow-origin"] == "https://app.example"


def test_bearer_parsing() -> None:
    assert bearer("Bearer abc") == "abc"
    assert bearer("bearer   abc ") == "abc"
    assert bearer("Basic abc") is None
    assert bearer("Bearer") is None
    assert bearer("") is None
    assert bearer(None) is None


def test_tokens_are_stored_only_as_digests() -> None:
    auth = Authenticator(KEY, 60.0)
    value, _ = auth.issue({"scenario": "tutor"})
    stored = repr(auth.__dict__)
    assert value not in stored and KEY not in stored


def _recorder(ran: list[ServerConfig]) -> Callable[..., int]:
    def run(config: ServerConfig, *, drain_s: float = 0.0) -> int:
        ran.append(config)
        return 0

    return run


@pytest.mark.parametrize(
    ("argv", "allowed"),
    [
        (["--host", "0.0.0.0"], False),
        (["--host", "0.0.0.0", "--api-key", "k"], True),
        (["--host", "0.0.0.0", "--allow-public"], True),
        (["--host", "127.0.0.1"], True),
        (["--host", "::1"], True),
    ],
)
def test_public_address_needs_a_key_or_allow_public(
    argv: list[str], allowed: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    ran: list[ServerConfig] = []
    monkeypatch.setattr(cli, "_run", _recorder(ran))
    monkeypatch.delenv("OMNILIVE_API_KEY", raising=False)
    code = cli.main(["serve", *argv, "--data-dir", str(tmp_path)])
    assert (code == 0) is allowed
    assert bool(ran) is allowed


def test_api_key_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    ran: list[ServerConfig] = []
    monkeypatch.setattr(cli, "_run", _recorder(ran))
    monkeypatch.setenv("OMNILIVE_API_KEY", "from-env")
    assert cli.main(["serve", "--host", "0.0.0.0", "--data-dir", str(tmp_path)]) == 0
    assert ran[0].api_key == "from-env"
    assert ran[0].data_dir == str(tmp_path)


def test_token_store_is_bounded() -> None:
    auth = Authenticator(None, 60.0, max_tokens=3)
    for _ in range(3):
        auth.issue(None)
    with pytest.raises(TooManyCalls) as refused:
        auth.issue(None)
    assert refused.value.code == "too_many_client_secrets"
