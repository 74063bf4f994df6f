"""The resume field, and what is kept of a dropped call (rtc/resume.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from model.tone import ToneModel
from rtc.app import default_scenarios
from rtc.conversation.carried import CarriedCall
from rtc.conversation.session_config import SessionRules
from rtc.errors import BadRequest
from rtc.resume import RESUMED, HeldCalls, resume_request, with_query


def carried(call_id: str, reason: str = "peer_timeout") -> CarriedCall:
    return CarriedCall(
        call_id=call_id,
        created_at=0.0,
        config=SessionRules(ToneModel(), default_scenarios()).default(),
        scenario=None,
        model_session=ToneModel().session(),
        end_reason=reason,
    )


def test_the_resume_field_is_taken_out_of_the_session() -> None:
    session: dict[str, Any] = {"resume": "rtc_1", "scenario": "tutor"}
    assert resume_request(session) == ({"scenario": "tutor"}, "rtc_1")
    assert resume_request({"scenario": "tutor"}) == ({"scenario": "tutor"}, None)
    assert resume_request(None) == (None, None)
    assert resume_request({"resume": None}) == ({}, None)
    for bad in ("", 7, ["rtc_1"], "x" * 101):
        with pytest.raises(BadRequest):
            resume_request({"resume": bad})


def test_the_query_names_the_same_call_or_none() -> None:
    assert with_query(None, "rtc_1") == {"resume": "rtc_1"}
    assert with_query({"resume": "rtc_1"}, "rtc_1") == {"resume": "rtc_1"}
    assert with_query({"scenario": "tutor"}, None) == {"scenario": "tutor"}
    with pytest.raises(BadRequest):
        with_query({"resume": "rtc_1"}, "rtc_2")


async def test_only_vanished_calls_are_kept_and_only_for_the_grace_period() -> None:
    expired: list[str] = []
    held = HeldCalls(0.05, on_expired=expired.append)
    assert not held.keep(carried("rtc_hung_up", "client_hangup"))
    assert not held.keep(carried("rtc_limit", "max_duration"))
    assert held.keep(carried("rtc_a"))
    assert held.keep(carried("rtc_b", RESUMED))
    taken = held.take("rtc_a")
    assert taken is not None and taken.call_id == "rtc_a"
    assert held.take("rtc_a") is None  # once
    while held.holds("rtc_b"):  # noqa: ASYNC110 - the grace timer runs on this loop
        await asyncio.sleep(0.01)
    assert expired == ["rtc_b"]
    await held.aclose()


async def test_the_oldest_goes_when_there_is_no_room_and_a_grace_of_zero_keeps_nothing() -> None:
    held = HeldCalls(60, max_held=2)
    for name in ("rtc_1", "rtc_2", "rtc_3"):
        held.keep(carried(name))
    assert [held.holds(n) for n in ("rtc_1", "rtc_2", "rtc_3")] == [False, True, True]
    await held.aclose()
    assert len(held) == 0
    assert not HeldCalls(0).keep(carried("rtc_x"))
