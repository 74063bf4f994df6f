"""Gateways behind a real HAProxy running deploy/haproxy.cfg, with real WebRTC calls.

Each test starts its own HAProxy and two `omnilive serve --backend tone` processes on
loopback. Signaling goes through the balancer; the media goes straight to the ICE
candidates of the gateway that answered, as it would from a phone. HAProxy names the
gateway behind every answer in `X-Omnilive-Gateway`, which is how the tests see where
each request went.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from clients.python.client import CallClient
from tests.lb_cluster import GATEWAY_HEADER, Cluster, cluster, haproxy_binary
from tests.sdp import SDP, assert_error


@pytest.fixture(autouse=True, scope="module")
def _haproxy_installed() -> None:
    if haproxy_binary() is None:
        pytest.fail("haproxy is not installed (make test installs it)")


KEY = "sk-haproxy-test"
INTERPRETER = {"scenario": "interpreter", "languages": ["en", "es"]}


def _call_id(call: CallClient) -> str:
    assert call.location is not None
    return call.location.rsplit("/", 1)[1]


async def _open(
    lb: Cluster, http: httpx.AsyncClient, session: Mapping[str, Any] | None = None
) -> tuple[CallClient, str]:
    """A call placed through the balancer, and the gateway that answered the offer."""
    call = CallClient(http, session=session)
    await call.connect()
    owner = lb.answered("POST", "/v1/realtime/calls").gateway
    assert owner in lb.gateways
    return call, owner


async def _until(condition: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    """Poll an asynchronous condition (a gateway's /healthz) instead of sleeping."""

    async def poll() -> None:
        while not await condition():  # noqa: ASYNC110 - polling other processes' state
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), timeout)


async def _counts_are(lb: Cluster, expected: dict[str, int]) -> bool:
    return await lb.active_calls() == expected


async def test_calls_spread_and_every_request_of_a_call_reaches_its_owner(tmp_path: Path) -> None:
    async with cluster(tmp_path, "--api-key", KEY) as lb, lb.client(KEY) as http:
        calls: dict[str, tuple[CallClient, str]] = {}
        try:
            for _ in range(4):
                call, owner = await _open(lb, http)
                calls[_call_id(call)] = (call, owner)
            # Least connections on an idle pool: each gateway in turn.
            assert sorted(owner for _, owner in calls.values()) == ["g1", "g1", "g2", "g2"]
            assert await lb.active_calls() == {"g1": 2, "g2": 2}

            async with httpx.AsyncClient(headers={"Authorization": f"Bearer {KEY}"}) as direct:
                for call_id, (_, owner) in calls.items():
                    # The other gateway does not know the call: misrouted, a hang-up fails.
                    stranger = lb.gateways[lb.other(owner)].url
                    wrong = await direct.delete(f"{stranger}/v1/realtime/calls/{call_id}")
                    assert_error(wrong, 404, "call_not_found")

            # The sideband socket of a call (GET /v1/realtime?call_id=...) reaches its owner
            # every time, where least connections alone would alternate. The gateways do not
            # tell a sideband owner from a stranger yet, so the balancer's header says who
            # answered the (upgraded, 101) handshake.
            call_id, (_, owner) = next(iter(calls.items()))
            ws_url = lb.balancer.url.replace("http://", "ws://") + f"/v1/realtime?call_id={call_id}"
            for _ in range(3):
                async with connect(
                    ws_url, additional_headers={"Authorization": f"Bearer {KEY}"}
                ) as ws:
                    assert ws.response is not None
                    assert ws.response.headers[GATEWAY_HEADER] == owner

            # Hanging up through the balancer: each DELETE is answered by the owner, 204,
            # and only the owner's count drops.
            expected = await lb.active_calls()
            for call_id, (call, owner) in calls.items():
                await call.hangup()
                answer = lb.answered("DELETE", f"/v1/realtime/calls/{call_id}")
                assert (answer.status, answer.gateway) == (204, owner)
                expected[owner] -= 1
                await _until(lambda: _counts_are(lb, expected))
        finally:
            for call, _ in calls.values():
                await call.hangup(delete=False)
        assert await lb.active_calls() == {"g1": 0, "g2": 0}


async def test_a_token_minted_through_the_balancer_opens_a_call_through_it(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path, "--api-key", KEY) as lb, lb.client(KEY) as http:
        minted: list[tuple[str, str]] = []
        for _ in range(4):
            secret = await http.post("/v1/realtime/client_secrets", json={"session": INTERPRETER})
            assert secret.status_code == 200, secret.text
            minted.append((secret.json()["value"], str(secret.headers[GATEWAY_HEADER])))
        assert [gateway for _, gateway in minted] == ["g1", "g2", "g1", "g2"]

        by_gateway = {g: [t for t, minter in minted if minter == g] for g in ("g1", "g2")}

        # A token is known only where it was minted: spent at the other gateway it fails.
        token = by_gateway["g2"].pop()
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as direct:
            refused = await direct.post(
                f"{lb.gateways['g1'].url}/v1/realtime/calls", content=b"v=0", headers=SDP
            )
        assert_error(refused, 401, "invalid_api_key")

        # A browser's Realtime WebSocket carries its token as a subprotocol: it reaches
        # the minter (g2) too, where least connections would now pick g1 (which would
        # refuse the handshake with 401).
        ws_url = lb.balancer.url.replace("http://", "ws://") + "/v1/realtime"
        key = f"openai-insecure-api-key.{by_gateway['g2'].pop()}"
        async with connect(ws_url, subprotocols=[Subprotocol("realtime"), Subprotocol(key)]) as ws:
            assert ws.response is not None
            assert ws.response.headers[GATEWAY_HEADER] == "g2"

        # Two calls in a row, each with a token minted on g1: least connections alone
        # would send one of them to g2. Through the balancer both open at g1.
        for token in by_gateway["g1"]:
            async with lb.client(token) as by_token:
                call, owner = await _open(lb, by_token)
                try:
                    assert owner == "g1"
                    created = await call.wait_for("session.created")
                    assert created["session"]["scenario"] == "interpreter"  # the token's session
                finally:
                    await call.hangup()  # the token that opened a call may hang it up
                answer = lb.answered("DELETE", f"/v1/realtime/calls/{_call_id(call)}")
                assert (answer.status, answer.gateway) == (204, "g1")


async def test_sigterm_drains_a_gateway_out_of_rotation_while_its_call_finishes(
    tmp_path: Path,
) -> None:
    async with (
        cluster(tmp_path, "--api-key", KEY, "--drain-seconds", "120") as lb,
        lb.client(KEY) as http,
    ):
        assert {s.check_status for s in (await lb.balancer.servers()).values()} == {"L7OK"}
        call, owner = await _open(lb, http, session=INTERPRETER)
        other = lb.other(owner)
        draining = lb.gateways[owner]
        newer: list[CallClient] = []
        try:
            draining.proc.send_signal(signal.SIGTERM)
            async with httpx.AsyncClient(base_url=draining.url, timeout=5) as direct:

                async def says_draining() -> bool:
                    return bool((await direct.get("/healthz")).json()["draining"])

                await _until(says_draining)
                refused = await direct.post("/v1/realtime/calls", content=b"v=0", headers=SDP)
                assert_error(refused, 503, "server_shutting_down")

            # /healthz still answers 200, but says draining: HAProxy's check (a layer-7
            # answer that does not match) takes the gateway out of rotation.
            down = await lb.balancer.wait_for(owner, "DOWN")
            assert down.check_status.startswith("L7") and down.check_status != "L7OK"
            assert (await lb.balancer.servers())[other].status == "UP"

            # New calls go to the other gateway ...
            for _ in range(2):
                fresh, gateway = await _open(lb, http)
                newer.append(fresh)
                assert gateway == other
            # ... while the draining one still serves its call, and its hang-up.
            mark = len(call.events)
            call.send_text("Good morning.")
            await call.wait_for("translation.done", after=mark, timeout=30)
            await call.hangup()
            answer = lb.answered("DELETE", f"/v1/realtime/calls/{_call_id(call)}")
            assert (answer.status, answer.gateway) == (204, owner)
            # Its last call over, the drained gateway exits on its own, cleanly.
            assert await draining.wait() == 0
        finally:
            await call.hangup(delete=False)
            for fresh in newer:
                await fresh.hangup()
        assert "Traceback" not in draining.output(), draining.output()


async def test_a_resumed_call_reaches_the_gateway_that_keeps_its_conversation(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as lb, lb.client("none") as http:
        call, owner = await _open(lb, http, INTERPRETER)
        call_id = _call_id(call)
        try:
            # The phone comes back on new connections (twice: least connections alone
            # would send one of the two offers to the other gateway, which has no such call).
            for _ in range(2):
                again = CallClient(http, session={"resume": call_id})
                await again.connect()
                await call.hangup(delete=False)
                call = again
                answer = lb.answered("POST", "/v1/realtime/calls")
                assert (answer.status, answer.gateway) == (201, owner)
                assert _call_id(call) == call_id
                created = await call.wait_for("session.created")
                assert created["session"]["languages"] == ["en", "es"]
        finally:
            await call.hangup()
