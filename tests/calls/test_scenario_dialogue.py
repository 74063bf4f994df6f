"""Scenarios on a backend that converses: real calls through the `remote` backend against
the scripted Realtime server (the real one needs GPUs), which plays the model.

The tutor's verdicts still come from its CAS (called by the model as a tool), even
when the student interrupts while it checks; the explainer sends its frames and
instructions with the question and cites the rule the model looked up, and the
interpreter asks the model to translate.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import numpy as np
import pytest

import tutor.scenario
from clients.python.client import CallClient, StillImageTrack
from model.embedded.backend import EmbeddedModel
from model.remote.backend import INTERRUPTED, RemoteModel
from model.remote.connection import RemoteConfig
from model.tone import ToneModel
from rtc.vad import SileroVAD
from tests.conftest import servers_for, wait_until
from tests.realtime_server import ScriptedRealtime, scripted_realtime
from tutor.answers import check_answer


def _model(script: ScriptedRealtime) -> RemoteModel:
    model = RemoteModel(RemoteConfig(url=script.url))
    model.load(lambda _msg: None)
    return model


def _tools(request: dict[str, Any]) -> list[str]:
    return [t["name"] for t in request.get("tools", [])]


def test_only_backends_that_converse_say_so() -> None:
    assert RemoteModel(RemoteConfig(url="ws://pool/v1/realtime")).capabilities.dialogue
    assert ToneModel().capabilities.as_dict()["dialogue"] is False
    assert EmbeddedModel().capabilities.as_dict()["dialogue"] is False


async def test_tutor_model_calls_the_cas_and_the_verdict_is_the_cas_s(vad: SileroVAD) -> None:
    # The scripted model checks "x = 5" with the CAS, then says it is right: the CAS says not.
    check = {"name": "check_answer", "arguments": {"utterance": "x equals 5"}}
    async with (
        scripted_realtime(tool_calls=[check], answer="Great, that is right!") as script,
        servers_for(_model(script), vad) as make,
    ):
        server = make()
        health = (await server.http.get("/healthz")).json()
        assert health["capabilities"]["dialogue"] is True
        async with CallClient(server.http, session={"scenario": "tutor"}) as call:
            await call.wait_for("session.created")
            call.send_text("solve 2x + 3 = 11")  # read by the CAS, as on every backend
            problem = await call.wait_for("tutor.problem", timeout=15)
            assert problem["text"].replace(" ", "") == "2*x+3=11"
            await call.wait_for("response.done", timeout=15)
            await call.wait_for("output_audio_buffer.stopped", timeout=15)
            assert not script.of_type("conversation.item.create")  # no model turn yet
            mark, answered_at = len(call.events), time.monotonic()
            call.send_text("x = 5")
            verdict = await call.wait_for("tutor.check", after=mark, timeout=15)
            done = await call.wait_for("response.done", after=mark, timeout=15)
            said = "".join(
                e["delta"]
                for e in call.events[mark:]
                if e["type"] == "response.output_audio_transcript.delta"
            )
            # The upstream's voice after the tool call is played to the student.
            await wait_until(lambda: call.received.voiced_seconds(answered_at) > 0.5, timeout=10)
    assert verdict == {
        "type": "tutor.check",
        "event_id": verdict["event_id"],
        "correct": False,
        "student": "x = 5",
        "feedback": verdict["feedback"],
    }
    assert "13, not 11" in verdict["feedback"]
    assert done["response"]["status"] == "completed" and said == script.answer
    # Upstream: the typed answer, the tutor's instructions and tools, the CAS result back.
    turn = script.of_type("conversation.item.create")[0]["item"]
    assert turn["content"] == [{"type": "input_text", "text": "x = 5"}]
    asked = [e["response"] for e in script.of_type("response.create") if "tools" in e["response"]]
    assert len(asked) == 2
    assert "Socratic math tutor" in asked[0]["instructions"]
    assert "call check_answer" in asked[0]["instructions"]
    assert _tools(asked[0]) == ["current_problem", "check_answer", "next_step"]
    (returned,) = [
        e["item"]
        for e in script.of_type("conversation.item.create")
        if e["item"]["type"] == "function_call_output"
    ]
    assert json.loads(returned["output"]) == {"checked": True, **{
        k: verdict[k] for k in ("correct", "student", "feedback")
    }}  # fmt: skip


async def test_explainer_sends_frames_and_cites_the_rule_the_model_looked_up(
    vad: SileroVAD,
) -> None:
    lookup = {"name": "rules_lookup", "arguments": {"question": "offside"}}
    frame = np.full((120, 160, 3), 90, dtype=np.uint8)
    frame[10:30, 10:60] = 250
    answer = "Offside is about where the attacker is when the ball is played."
    async with (
        scripted_realtime(tool_calls=[lookup], answer=answer) as script,
        servers_for(_model(script), vad) as make,
    ):
        server = make()
        session = {"scenario": "explainer", "sport": "football"}
        async with CallClient(server.http, video=StillImageTrack(frame), session=session) as call:
            await call.wait_for("session.created")
            # The explainer's watch loop reads the scoreboard from sampled frames first.
            await wait_until(lambda: bool(script.of_type("conversation.item.create")), timeout=10)
            mark = len(call.events)
            call.send_text("What is offside?")
            reply = await call.wait_for("explainer.answer", after=mark, timeout=15)
            await call.wait_for("response.done", after=mark, timeout=15)
    assert reply["kind"] == "rules" and reply["topic"] == "offside"
    assert reply["source"] == "IFAB Laws of the Game 2024/25, Law 11 (Offside)"
    assert reply["text"] == answer and reply["question"] == "What is offside?"
    items = [e["item"] for e in script.of_type("conversation.item.create")]
    (at,) = [
        i
        for i, item in enumerate(items)
        if item.get("content", [{}])[0].get("type") == "input_text"
    ]
    frames, question = items[at - 1], items[at]  # the frames go up just before the words
    assert question["content"] == [{"type": "input_text", "text": "What is offside?"}]
    kinds = [c["type"] for c in frames["content"]]
    assert set(kinds) == {"input_image"} and 1 <= len(kinds) <= 2
    asked = next(
        e["response"] for e in script.of_type("response.create") if "tools" in e["response"]
    )
    assert _tools(asked) == ["rules_lookup"]
    assert "sports broadcast" in asked["instructions"] and "football" in asked["instructions"]
    output = next(
        e["item"]
        for e in script.of_type("conversation.item.create")
        if e["item"]["type"] == "function_call_output"
    )
    assert json.loads(output["output"])["source"] == reply["source"]


async def test_interpreter_asks_the_model_to_translate(vad: SileroVAD) -> None:
    async with (
        scripted_realtime() as script,
        servers_for(_model(script), vad) as make,
    ):
        server = make()
        session = {"scenario": "interpreter", "languages": ["en", "es"]}
        async with CallClient(server.http, session=session) as call:
            await call.wait_for("session.created")
            call.send_text("Where is the train station?")
            done = await call.wait_for("translation.done", timeout=15)
            await call.wait_for("response.done", timeout=15)
    assert done["text"] == script.translation  # the model's translation, spoken
    translations = [
        e["response"]
        for e in script.of_type("response.create")
        if "Translate" in e["response"].get("instructions", "")
    ]
    assert len(translations) == 1 and "to Spanish" in translations[0]["instructions"]
    assert translations[0]["input"][0]["content"][0]["text"] == "Where is the train station?"


async def test_barge_in_while_the_cas_checks_still_answers_the_models_call(
    vad: SileroVAD, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The CAS is held inside check_answer until the test lets it go: the student interrupts
    # while the model's tool call runs.
    entered, gate = threading.Event(), threading.Event()

    def slow_check(*args: Any) -> Any:
        entered.set()
        gate.wait(30)
        return check_answer(*args)

    monkeypatch.setattr(tutor.scenario, "check_answer", slow_check)
    check = {"name": "check_answer", "arguments": {"utterance": "x equals 5"}}
    try:
        async with (
            scripted_realtime(tool_calls=[check], answer="Try once more.") as script,
            servers_for(_model(script), vad) as make,
        ):
            server = make()
            async with CallClient(server.http, session={"scenario": "tutor"}) as call:
                await call.wait_for("session.created")
                call.send_text("solve 2x + 3 = 11")
                await call.wait_for("tutor.problem", timeout=15)
                await call.wait_for("response.done", timeout=15)
                mark = len(call.events)
                call.send_text("x = 5")
                await wait_until(entered.is_set, timeout=15)
                call.send({"type": "response.cancel"})
                cancelled = await call.wait_for("response.done", after=mark, timeout=15)
                gate.set()
                mark = len(call.events)
                call.send_text("x = 4")
                done = await call.wait_for("response.done", after=mark, timeout=15)
                errors = call.of_type("error")
    finally:
        gate.set()
    assert cancelled["response"]["status"] == "cancelled"
    assert done["response"]["status"] == "completed" and not errors
    assert not call.of_type("tutor.check")  # the interrupted check gave no verdict
    # Upstream: the interrupted call got its output, then nothing until the next turn.
    (call_id,) = script.calls_made
    turns = [  # the conversation's items and its responses (not the tutor's spoken lines)
        e["item"].get("call_id") or e["item"]["content"][0]["text"]
        if e["type"] == "conversation.item.create"
        else "response.create"
        for e in script.received
        if e["type"] == "conversation.item.create"
        or (e["type"] == "response.create" and "tools" in e["response"])
    ]
    assert turns == ["x = 5", "response.create", call_id, "x = 4", "response.create"]
    (output,) = [
        e["item"]
        for e in script.of_type("conversation.item.create")
        if e["item"]["type"] == "function_call_output"
    ]
    assert json.loads(output["output"]) == INTERRUPTED
    assert not script.of_type("error")
