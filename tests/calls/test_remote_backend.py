"""The `remote` backend against a scripted Realtime server run by the test (the real one needs GPUs)."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncGenerator

import numpy as np
import pytest

from clients.python.client import CallClient
from model.dialogue import (
    DialogueDone,
    DialogueOutput,
    DialogueRequest,
    SpeechOut,
    TextDelta,
    Tool,
    ToolCall,
)
from model.errors import ModelLoadError
from model.remote.backend import INTERRUPTED, RemoteModel, RemoteSession
from model.remote.connection import RemoteConfig, UpstreamLost
from rtc.vad import SileroVAD
from tests.conftest import Clips, servers_for, wait_until
from tests.realtime_server import ScriptedRealtime, scripted_realtime


def _model(script: ScriptedRealtime, **overrides: object) -> RemoteModel:
    config = RemoteConfig(url=script.url, api_key="upstream-key", **overrides)  # type: ignore[arg-type]
    model = RemoteModel(config)
    model.load(lambda _msg: None)
    return model


async def test_requests_map_onto_realtime_events_both_ways() -> None:
    async with scripted_realtime() as script:
        session = _model(script, model="qwen3-omni").session()
        try:
            audio = (np.sin(np.arange(16_000) / 10.0) * 0.3).astype(np.float32)
            transcript = await session.transcribe(audio, ["en", "es"])
            assert transcript.text == script.heard and transcript.language == "en"
            script.language = "es"
            assert (await session.transcribe(audio, ["en", "es"])).language == "es"
            translated = await session.translate("I would like coffee.", "en", "es")
            assert translated == script.translation
            chunks = [c async for c in session.synthesize("Hola.", "es", sample_rate=48_000)]
            await session.look(np.zeros((32, 48, 3), np.uint8))
        finally:
            await session.aclose()
    # What went upstream: the key, the setup, 1 s of 24 kHz PCM16 in appends, a commit.
    assert script.headers[0]["authorization"] == "Bearer upstream-key"
    setup = script.of_type("session.update")[0]["session"]
    assert setup["audio"]["input"]["turn_detection"] is None
    appended = b"".join(
        base64.b64decode(e["audio"]) for e in script.of_type("input_audio_buffer.append")
    )
    assert len(appended) == 2 * 2 * 24_000  # two utterances
    assert len(script.of_type("input_audio_buffer.commit")) == 2
    requests = [e["response"] for e in script.of_type("response.create")]
    assert ["language code" in r["instructions"] for r in requests[:2]] == [True, True]
    text_request, speech_request = requests[2:]
    # In the conversation (vLLM-Omni refuses out-of-band responses), on its own input,
    # and its answer deleted from the conversation afterwards.
    assert text_request["output_modalities"] == ["text"] and "conversation" not in text_request
    assert text_request["input"][0]["content"][0]["text"] == "I would like coffee."
    assert "Spanish" in text_request["instructions"]
    assert (
        len(script.of_type("conversation.item.delete")) == 3
    )  # two language checks, one translation
    assert speech_request["output_modalities"] == ["audio"]
    assert speech_request["input"][0]["content"][0]["text"] == "Hola."
    image = script.of_type("conversation.item.create")[0]["item"]["content"][0]
    assert image["type"] == "input_image" and image["image_url"].startswith(
        "data:image/jpeg;base64,"
    )
    # What came back: 5 x 0.2 s of audio, resampled to 48 kHz, with its transcript.
    assert sum(len(c.pcm) for c in chunks) == 5 * 9_600
    assert {c.sample_rate for c in chunks} == {48_000} and chunks[0].text == "Hola."


async def test_barge_in_cancels_the_response_and_truncates_what_was_not_heard() -> None:
    async with scripted_realtime(audio_chunks=50, chunk_interval_s=0.05) as script:
        session = _model(script).session()
        try:
            got: list[int] = []

            async def listen() -> None:
                async for chunk in session.synthesize("A long answer.", "en", sample_rate=24_000):
                    got.append(len(chunk.pcm))

            task = asyncio.create_task(listen())
            await wait_until(lambda: len(got) >= 2, timeout=5)
            task.cancel()  # the gateway cancels the answer on barge-in ...
            await asyncio.gather(task, return_exceptions=True)
            session.truncate("item_local", 300.0)  # ... and truncates to what was played
            await wait_until(lambda: bool(script.of_type("conversation.item.truncate")), timeout=5)
            cancel = script.of_type("response.cancel")[0]
            truncate = script.of_type("conversation.item.truncate")[0]
            assert cancel["response_id"].startswith("resp_")
            assert truncate["item_id"].startswith("item_") and truncate["audio_end_ms"] == 300
            # The next request is not confused by the cancelled response's late events.
            assert await session.translate("Hello.", "en", "es") == script.translation
        finally:
            await session.aclose()
    assert len(got) < 50


async def test_reconnects_after_the_upstream_drops() -> None:
    async with scripted_realtime() as script:
        session = _model(script).session()
        try:
            assert await session.translate("One.", "en", "es") == script.translation
            await script.drop_all()
            await wait_until(lambda: not session.upstream.connected, timeout=5)
            assert await session.translate("Two.", "en", "es") == script.translation
            assert session.upstream.connects == 2
            assert len(script.of_type("session.update")) == 2  # the setup is sent again
        finally:
            await session.aclose()


async def test_an_unreachable_upstream_fails_with_a_clear_error_after_backing_off() -> None:
    async with scripted_realtime() as script:
        url = script.url
    session = RemoteSession(RemoteConfig(url=url, connect_attempts=3, max_backoff_s=0.2))
    started = time.monotonic()
    with pytest.raises(UpstreamLost, match="cannot reach the Realtime endpoint"):
        await session.translate("Hi.", "en", "es")
    assert time.monotonic() - started >= 0.3  # 0.1 + 0.2 s of backoff
    with pytest.raises(ModelLoadError, match="ws://"):
        RemoteModel(RemoteConfig(url="ftp://nowhere")).load(lambda _msg: None)


async def test_a_real_call_through_the_remote_backend(vad: SileroVAD) -> None:
    async with (
        scripted_realtime(heard="Where is the station?") as script,
        servers_for(_model(script), vad) as make,
    ):
        server = make()
        health = (await server.http.get("/healthz")).json()
        assert health["backend"] == "remote" and health["capabilities"]["vision"] is True
        session = {"scenario": "interpreter", "languages": ["en", "es"]}
        async with CallClient(server.http, session=session) as call:
            await call.wait_for("session.created")
            call.send_text("Where is the train station?")
            done = await call.wait_for("translation.done")
            assert done["text"] == script.translation
            await call.wait_for("response.done")
            await wait_until(lambda: call.received.voiced_seconds(0.0) > 0.5, timeout=10)
    assert script.of_type("response.create")


@pytest.mark.models
async def test_spoken_turn_reaches_the_upstream_through_webrtc(
    vad: SileroVAD, clips: Clips
) -> None:
    async with scripted_realtime() as script, servers_for(_model(script), vad) as make:
        server = make()
        session = {"scenario": "interpreter", "languages": ["en", "es"]}
        async with CallClient(server.http, session=session) as call:
            await call.wait_for("session.created")
            assert call.mic is not None
            await (call.mic.play(clips.english)).wait()
            heard = await call.wait_for("conversation.item.input_audio_transcription.completed")
            assert heard["transcript"] == script.heard
            done = await call.wait_for("translation.done")
            assert done["text"] == script.translation
            await call.wait_for("response.done")
    appended = sum(
        len(base64.b64decode(e["audio"])) for e in script.of_type("input_audio_buffer.append")
    )
    assert appended > 2 * 24_000  # more than a second of the utterance went upstream


def test_serve_picks_the_model_backends_from_the_command_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rtc.app import build_model
    from rtc.cli import build_parser
    from rtc.config import ServerConfig

    args = build_parser().parse_args(
        ["serve", "--backend", "remote", "--remote-url", "ws://pool:8000/v1/realtime"]
    )
    assert (args.backend, args.remote_url) == ("remote", "ws://pool:8000/v1/realtime")
    monkeypatch.setenv("OMNILIVE_REMOTE_API_KEY", "k")
    model = build_model("remote", ServerConfig(backend="remote", remote_url=args.remote_url))
    assert isinstance(model, RemoteModel) and model.config.api_key == "k"
    with pytest.raises(ModelLoadError, match="--remote-url"):
        build_model("remote")
    with pytest.raises(ModelLoadError, match="--model-path"):
        build_model("transformers")
    args = build_parser().parse_args(
        ["serve", "--backend", "transformers", "--model-path", "/m", "--device", "cpu"]
    )
    assert (args.backend, args.model_path, args.device) == ("transformers", "/m", "cpu")
    hf = build_model("transformers", ServerConfig(model_path="/m", device="cpu"))
    assert hf.name == "transformers"
    with pytest.raises(ModelLoadError, match="no model at /m"):
        hf.load(lambda _msg: None)


async def test_converse_sends_instructions_and_tools_and_returns_the_tool_results() -> None:
    asked: list[dict[str, object]] = []

    async def check(arguments: dict[str, object]) -> dict[str, object]:
        asked.append(arguments)
        return {"correct": False, "feedback": "2 times 5 plus 3 is 13, not 11"}

    tool = Tool(
        "check_answer",
        "Check the student's answer with the CAS.",
        {"type": "object", "properties": {"utterance": {"type": "string"}}},
        check,
    )
    script_calls = [{"name": "check_answer", "arguments": {"utterance": "x = 5"}}]
    async with scripted_realtime(tool_calls=script_calls, answer="Not quite.") as script:
        session = _model(script).session()
        try:
            assert _model(script).capabilities.dialogue
            frame = np.zeros((32, 48, 3), np.uint8)
            request = DialogueRequest(
                "You are a tutor.", text="x = 5", images=(frame,), tools=(tool,), sample_rate=24_000
            )
            outputs: list[DialogueOutput] = [o async for o in session.converse(request)]
        finally:
            await session.aclose()
    # Up: the turn as items (the frames, then the text: a refused frame cannot take the
    # words with it), the instructions and the tool definitions ...
    frames, words = [e["item"] for e in script.of_type("conversation.item.create")[:2]]
    assert [c["type"] for c in frames["content"]] == ["input_image"]
    assert words["content"] == [{"type": "input_text", "text": "x = 5"}]
    first, second = [e["response"] for e in script.of_type("response.create")]
    assert first["instructions"] == "You are a tutor." and first["output_modalities"] == ["audio"]
    assert first["tools"] == [tool.schema()] and first["tools"][0]["type"] == "function"
    # ... the handler's result as the function call's output, then a new response.
    output = script.of_type("conversation.item.create")[2]["item"]
    assert output["type"] == "function_call_output" and output["call_id"].startswith("call_")
    assert json.loads(output["output"])["feedback"] == "2 times 5 plus 3 is 13, not 11"
    assert second["tools"] == first["tools"]
    # Down: the call and its result, then the voice after it, then done.
    assert asked == [{"utterance": "x = 5"}]
    calls = [o for o in outputs if isinstance(o, ToolCall)]
    assert [(c.name, c.arguments, c.call_id) for c in calls] == [
        ("check_answer", {"utterance": "x = 5"}, output["call_id"])
    ]
    speech = [o.chunk for o in outputs if isinstance(o, SpeechOut)]
    assert sum(len(c.pcm) for c in speech) == 5 * 4_800 and speech[0].text == "Not quite."
    assert outputs.index(calls[0]) < outputs.index(
        next(o for o in outputs if isinstance(o, SpeechOut))
    )
    assert [o.text for o in outputs if isinstance(o, TextDelta)] == ["Not quite."]
    assert outputs[-1] == DialogueDone("Not quite.")


async def test_a_spoken_turn_already_heard_is_not_sent_twice_and_barge_in_cancels() -> None:
    async with scripted_realtime(audio_chunks=50, chunk_interval_s=0.05) as script:
        session = _model(script).session()
        try:
            audio = (np.sin(np.arange(16_000) / 10.0) * 0.3).astype(np.float32)
            transcript = await session.transcribe(audio, ["en"])
            request = DialogueRequest("Be brief.", text=transcript.text, audio=audio)
            got: list[SpeechOut] = []

            async def listen() -> None:
                async for output in session.converse(request):
                    if isinstance(output, SpeechOut):
                        got.append(output)

            task = asyncio.create_task(listen())
            await wait_until(lambda: len(got) >= 2, timeout=5)
            task.cancel()  # barge-in
            await asyncio.gather(task, return_exceptions=True)
            await wait_until(lambda: bool(script.of_type("response.cancel")), timeout=5)
            assert await session.translate("Hello.", "en", "es") == script.translation
        finally:
            await session.aclose()
    assert len(script.of_type("input_audio_buffer.commit")) == 1  # committed once, by transcribe
    assert not script.of_type("conversation.item.create")  # no text copy of the utterance
    assert script.of_type("response.cancel")[0]["response_id"].startswith("resp_")
    assert len(got) < 50


def _slow_tool(started: asyncio.Event, cancelled: list[str]) -> Tool:
    """A check_answer whose handler waits until it is cancelled (a slow CAS, a hung lookup)."""

    async def check(arguments: dict[str, object]) -> dict[str, object]:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(str(arguments.get("utterance")))
            raise
        return {"correct": True}

    return Tool("check_answer", "Check the answer.", {"type": "object"}, check)


def _upstream_turns(script: ScriptedRealtime) -> list[str]:
    """What the turns put in the upstream conversation, in order."""
    kinds: list[str] = []
    for event in script.received:
        if event["type"] == "conversation.item.create":
            item = event["item"]
            kinds.append(f"output {item['call_id']}" if "call_id" in item else "user message")
        elif event["type"] in ("response.create", "response.cancel"):
            kinds.append(event["type"])
    return kinds


async def test_barge_in_during_a_tool_call_answers_the_call_and_asks_for_nothing_more() -> None:
    started, cancelled = asyncio.Event(), list[str]()
    tool = _slow_tool(started, cancelled)
    check = {"name": "check_answer", "arguments": {"utterance": "x = 5"}}
    # The scripted upstream refuses any response while one of its function calls has no output.
    async with scripted_realtime(tool_calls=[check], answer="Let's try again.") as script:
        session = _model(script).session()
        try:
            request = DialogueRequest("Tutor.", text="x = 5", tools=(tool,), sample_rate=24_000)
            outputs: list[DialogueOutput] = []

            async def listen() -> None:
                async for output in session.converse(request):
                    outputs.append(output)

            task = asyncio.create_task(listen())
            await asyncio.wait_for(started.wait(), timeout=10)
            task.cancel()  # barge-in while the handler runs
            await asyncio.gather(task, return_exceptions=True)
            assert cancelled == ["x = 5"]  # the handler itself was cancelled, not left running
            assert not any(isinstance(o, ToolCall) for o in outputs)
            # The next turn is answered normally: the upstream has no call left unanswered.
            again = DialogueRequest("Tutor.", text="x = 4", tools=(tool,), sample_rate=24_000)
            answer = [o async for o in session.converse(again)]
            assert answer[-1] == DialogueDone("Let's try again.")
            assert not session._background  # the send of the abandoned outputs is over
        finally:
            await session.aclose()
    (call_id,) = script.calls_made
    outputs_sent = [
        e["item"]
        for e in script.of_type("conversation.item.create")
        if e["item"]["type"] == "function_call_output"
    ]
    assert outputs_sent == [
        {"type": "function_call_output", "call_id": call_id, "output": json.dumps(INTERRUPTED)}
    ]
    # The call's output went up before the next turn, and no response was asked for after it.
    assert _upstream_turns(script) == [
        "user message",
        "response.create",
        f"output {call_id}",
        "user message",
        "response.create",
    ]
    assert not script.of_type("error")


async def test_a_turn_abandoned_after_its_tool_ran_sends_the_real_result() -> None:
    check = {"name": "check_answer", "arguments": {"utterance": "x = 4"}}
    asked: list[dict[str, object]] = []

    async def handler(arguments: dict[str, object]) -> dict[str, object]:
        asked.append(arguments)
        return {"correct": True, "feedback": "Yes."}

    tool = Tool("check_answer", "Check the answer.", {"type": "object"}, handler)
    async with scripted_realtime(tool_calls=[check], answer="Well done.") as script:
        session = _model(script).session()
        try:
            request = DialogueRequest("Tutor.", text="x = 4", tools=(tool,), sample_rate=24_000)
            stream = session.converse(request)
            assert isinstance(stream, AsyncGenerator)
            async for output in stream:
                if isinstance(output, ToolCall):
                    break  # the consumer stops listening as soon as the tool has run
            await stream.aclose()
            again = DialogueRequest("Tutor.", text="next", tools=(tool,), sample_rate=24_000)
            assert [o async for o in session.converse(again)][-1] == DialogueDone("Well done.")
        finally:
            await session.aclose()
    assert asked == [{"utterance": "x = 4"}]
    (sent,) = [
        e["item"]
        for e in script.of_type("conversation.item.create")
        if e["item"]["type"] == "function_call_output"
    ]
    assert json.loads(sent["output"]) == {"correct": True, "feedback": "Yes."}
    assert _upstream_turns(script) == [
        "user message",
        "response.create",
        f"output {sent['call_id']}",
        "user message",
        "response.create",
    ]
