"""A dropped call resumes: a new offer naming the call goes on with its conversation.

Over loopback, in process (tone backend; the tutor's steps are the CAS's, its voice a
tone). "Dropping" is what a phone changing networks does: its media and events stop,
nothing says goodbye, and the server ends the call by peer timeout. The network lab
(tests/calls/test_network_lab.py) drops real networks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from clients.python.client import CallClient
from rtc.conversation.conversation import Conversation
from tests.conftest import Server, wait_until
from tests.sdp import assert_error

KEY = "sk-resume-test"
TUTOR = {"scenario": "tutor", "emotion": {"enabled": False}}


def call_id(call: CallClient) -> str:
    assert call.location is not None
    return call.location.rsplit("/", 1)[1]


async def vanish(server: Server, call: CallClient) -> Conversation:
    """The phone's network goes: no media, no events, no goodbye; the server times it out."""
    server_call = server.gateway.registry.get(call_id(call))
    assert call.mic is not None
    call.mic.stop()
    await asyncio.wait_for(server_call.closed.wait(), 15)
    assert server_call.end_reason == "peer_timeout"
    return server_call


async def tutor_on_step(call: CallClient, index: int, after: int = 0) -> dict[str, Any]:
    step = await call.wait_for("tutor.step", lambda e: e["index"] == index, after=after)
    await call.wait_for("response.done", after=after)
    return step


async def test_a_dropped_tutor_call_resumes_on_the_same_step(
    make_tone_server: Callable[..., Server], tmp_path: Path
) -> None:
    server = make_tone_server(peer_timeout_s=1.5, data_dir=str(tmp_path))
    first = CallClient(server.http, session=TUTOR)
    await first.connect()
    try:
        first.send_text("solve 5x - 2 = 13")
        await first.wait_for("tutor.problem")
        await tutor_on_step(first, 0)
        old = await vanish(server, first)
        items = [i.id for i in old.model_session.conversation.items]
        assert server.gateway.resumes.holds(old.id)
    finally:
        await first.hangup(delete=False)

    async with CallClient(server.http, session={"resume": old.id}) as second:
        assert call_id(second) == old.id  # the same call, on a new connection
        created = await second.wait_for("session.created")
        assert created["session"]["scenario"] == "tutor"
        new = server.gateway.registry.get(old.id)
        assert new is not old
        assert new.scenario is old.scenario  # the tutor itself went on: problem and step
        assert [i.id for i in new.model_session.conversation.items][: len(items)] == items
        second.send_text("what's next?")
        await tutor_on_step(second, 1)  # the step after the one the first connection heard
    await wait_until(lambda: len(server.gateway.registry) == 0)
    assert not server.gateway.resumes.holds(old.id)  # a hang-up ends it for good
    assert "omnilive_calls_resumed_total 1.0" in (await server.http.get("/metrics")).text

    # One record: the first connection's events, the resume, the second's, one ending.
    store = server.gateway.records
    assert store is not None
    record = await store.get(old.id)
    assert record is not None
    kinds = [e["type"] for e in record["entries"]]
    resumed_at = kinds.index("call.resumed")
    assert "tutor.problem" in kinds[:resumed_at]
    assert "tutor.step" in kinds[resumed_at:]
    assert record["entries"][resumed_at]["data"] == {"after": "peer_timeout"}
    assert record["end_reason"] == "client_hangup"
    assert [e["seq"] for e in record["entries"]] == list(range(1, len(kinds) + 1))


async def test_a_phone_back_before_the_server_noticed_takes_its_call_over(
    make_tone_server: Callable[..., Server],
) -> None:
    server = make_tone_server()
    session = {"scenario": "interpreter", "languages": ["es", "en"]}
    async with CallClient(server.http, session=session) as first:
        await first.wait_for("session.created")
        first.send_text("Good morning.")
        await first.wait_for("translation.done")
        await first.wait_for("response.done")
        old = server.gateway.registry.get(call_id(first))
        # The phone changed networks: its old connection is still open on the server.
        async with CallClient(server.http, session={"resume": old.id}) as second:
            assert old.closed.is_set() and old.end_reason == "resumed"
            created = await second.wait_for("session.created")
            # The interpreter's pair and its history went on.
            assert created["session"]["languages"] == ["es", "en"]
            new = server.gateway.registry.get(old.id)
            said = [i.text for i in new.model_session.conversation.items]
            assert "Good morning." in said
            second.send_text("Thank you.")
            done = await second.wait_for("translation.done")
            assert done["target_language"] == "es"
        await first.hangup(delete=False)


async def test_only_a_vanished_call_can_be_resumed_and_only_for_a_while(
    make_tone_server: Callable[..., Server],
) -> None:
    server = make_tone_server(peer_timeout_s=1.5, resume_grace_s=0.5)

    async def resume(name: str) -> httpx.Response:
        from tests.sdp import make_offer

        pc, sdp = await make_offer()
        try:
            return await server.http.post(
                "/v1/realtime/calls",
                files={"sdp": (None, sdp), "session": (None, f'{{"resume": "{name}"}}')},
            )
        finally:
            await pc.close()

    assert_error(await resume("rtc_nobody"), 404, "call_not_resumable")
    # Hung up: over for good.
    async with CallClient(server.http, session=TUTOR) as call:
        await call.wait_for("session.created")
        hung_up = call_id(call)
    assert_error(await resume(hung_up), 404, "call_not_resumable")
    # Vanished, then not resumed within the grace period: its conversation is closed.
    call = CallClient(server.http, session=TUTOR)
    await call.connect()
    try:
        old = await vanish(server, call)
    finally:
        await call.hangup(delete=False)
    await wait_until(lambda: not server.gateway.resumes.holds(old.id), timeout=5)
    assert_error(await resume(old.id), 404, "call_not_resumable")
    assert_error(await resume(""), 400, "invalid_session")


async def test_resuming_follows_the_token_rules(make_tone_server: Callable[..., Server]) -> None:
    server = make_tone_server(api_key=KEY, peer_timeout_s=1.5)

    async def token() -> str:
        answer = await server.http.post(
            "/v1/realtime/client_secrets",
            json={"session": {"scenario": "tutor"}},
            headers={"Authorization": f"Bearer {KEY}"},
        )
        value: str = answer.json()["value"]
        return value

    first_token = await token()
    http = server.client({"Authorization": f"Bearer {first_token}"})
    call = CallClient(http, session={"emotion": {"enabled": False}})
    await call.connect()
    try:
        old = await vanish(server, call)
    finally:
        await call.hangup(delete=False)
    # Its token was spent by the call it opened: it cannot open the resumed one.
    spent = CallClient(http, session={"resume": old.id})
    try:
        await spent.connect()
        raise AssertionError("a spent token resumed a call")
    except RuntimeError as exc:
        assert "401" in str(exc) and "token_already_used" in str(exc)
    # Nor can anyone without a credential; a fresh token can, and may then hang up.
    anonymous = CallClient(server.http, session={"resume": old.id})
    try:
        await anonymous.connect()
        raise AssertionError("a call was resumed without a credential")
    except RuntimeError as exc:
        assert "401" in str(exc)
    second = server.client({"Authorization": f"Bearer {await token()}"})
    resumed = CallClient(second, session={"resume": old.id})
    await resumed.connect()
    try:
        assert call_id(resumed) == old.id
        assert (await second.delete(f"/v1/realtime/calls/{old.id}")).status_code == 204
    finally:
        await resumed.hangup(delete=False)
    await wait_until(lambda: len(server.gateway.registry) == 0)
