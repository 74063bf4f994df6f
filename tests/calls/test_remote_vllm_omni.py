"""The `remote` backend against vLLM-Omni as it is, both generations, played by the
scripted upstream (tests/realtime_server.py, modes "vllm-omni-ga" and "vllm-omni-beta").

That endpoint validates every client event with the `openai` package's types and
refuses what it does not support: turn detection other than server_vad, audio
other than 24 kHz PCM16, out-of-band responses, images. It transcribes nothing.
Older releases speak the beta names, with no response ids and no
`response.done`. A spoken turn, a camera turn, a barge-in and a tool call go
through real WebRTC calls; nothing the gateway sends may be refused, except the
one frame that teaches it the endpoint takes no images.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import numpy as np
import pytest
from websockets.asyncio.client import connect

from clients.python.client import CallClient, StillImageTrack
from model.dialogue import DialogueRequest, Tool
from model.errors import ModelError
from model.remote.backend import RemoteModel
from model.remote.connection import RemoteConfig, Upstream
from rtc.vad import SileroVAD
from tests.conftest import Clips, servers_for, wait_until
from tests.realtime_server import VLLM_MODES, ScriptedRealtime, scripted_realtime

GENERATIONS = pytest.mark.parametrize("mode", VLLM_MODES)
INTERPRETER = {"scenario": "interpreter", "languages": ["en", "es"]}
PCM24K = {"type": "audio/pcm", "rate": 24_000}


def _model(script: ScriptedRealtime) -> RemoteModel:
    model = RemoteModel(RemoteConfig(url=script.url, model="Qwen/Qwen3-Omni-30B-A3B-Instruct"))
    model.load(lambda _msg: None)
    return model


def _nothing_refused(script: ScriptedRealtime, *, frames: int = 0) -> None:
    """Nothing the gateway sent was refused, but `frames` frames (the first teaches that
    none are taken) and cancels that crossed the end of their answer (a race no client
    can avoid: the endpoint says "No response is in progress", and the gateway ignores it)."""
    refused = [e for e in script.refused_events() if e["type"] != "response.cancel"]
    assert len(refused) == frames, script.refused
    assert all("input_image" in json.dumps(e) for e in refused), script.refused


@GENERATIONS
async def test_the_scripted_endpoint_refuses_what_vllm_omni_refuses(mode: str) -> None:
    async with scripted_realtime(mode=mode) as script, connect(script.url) as ws:

        async def ask(event: dict[str, Any]) -> dict[str, Any]:
            await ws.send(json.dumps({"event_id": "e1", **event}))
            while True:
                answer: dict[str, Any] = json.loads(await ws.recv())
                if answer["type"] in ("error", "session.updated"):
                    return answer

        async def refused(event: dict[str, Any]) -> str:
            answer = await ask(event)
            assert answer["type"] == "error", answer
            assert answer["error"]["event_id"] in (None, "e1")
            return str(answer["error"]["code"])

        session = {"type": "realtime", "audio": {"input": {"format": PCM24K}}}
        setup = {"type": "session.update", "session": session}
        semantic = {"turn_detection": {"type": "semantic_vad"}}
        assert await refused(setup | {"session": {"type": "realtime", "audio": {"input": semantic}}}) == "unsupported_turn_detection"  # fmt: skip
        mulaw = {"format": {"type": "audio/pcmu"}}
        assert await refused(setup | {"session": {"type": "realtime", "audio": {"output": mulaw}}}) == "unsupported_audio_format"  # fmt: skip
        assert await refused({"type": "session.update", "session": {"instructions": "no type"}}) == "invalid_event"  # fmt: skip
        assert await refused({"type": "output_audio_buffer.clear"}) == "invalid_event"
        assert await refused({"type": "response.cancel"}) == "invalid_request_error"
        assert await refused({"type": "response.create", "response": {"conversation": "none"}}) == "invalid_request_error"  # fmt: skip
        image = {"type": "input_image", "image_url": "data:image/jpeg;base64,AAAA"}
        item = {"type": "message", "role": "user", "content": [image]}
        assert await refused({"type": "conversation.item.create", "item": item}) == "invalid_request_error"  # fmt: skip
        # Transcription and noise reduction are taken, and dropped.
        audio_in = {"format": PCM24K, "transcription": {"model": "whisper-1"}, "noise_reduction": {"type": "near_field"}, "turn_detection": {"type": "server_vad"}}  # fmt: skip
        updated = await ask(setup | {"session": {"type": "realtime", "audio": {"input": audio_in}}})
        kept = updated["session"]["audio"]["input"]
        assert kept["transcription"] is None and kept["noise_reduction"] is None
        assert kept["turn_detection"] == {"type": "server_vad"}


@GENERATIONS
async def test_each_request_against_vllm_omni(mode: str) -> None:
    # The beta generation's audio comes at its own rate (sample_rate_hz): resampled.
    async with scripted_realtime(mode=mode, beta_rate=16_000) as script:
        session = _model(script).session()
        try:
            audio = (np.sin(np.arange(16_000) / 10.0) * 0.3).astype(np.float32)
            await session.look(np.zeros((32, 48, 3), np.uint8))  # refused, answered later
            transcript = await session.transcribe(audio, ["en", "es"])
            assert session.upstream.refuses_images  # learnt on the way
            translated = await session.translate("I would like coffee.", "en", "es")
            chunks = [c async for c in session.synthesize("Hola.", "es", sample_rate=48_000)]
            with pytest.raises(ModelError, match="takes no images"):
                await session.read_text(np.zeros((32, 48, 3), np.uint8))
        finally:
            await session.aclose()
    assert (transcript.text, transcript.language) == (script.heard, "en")
    assert translated == script.translation
    assert sum(len(c.pcm) for c in chunks) == 5 * 9_600  # 5 x 0.2 s, at 48 kHz
    assert chunks[0].text == "Hola."
    # It transcribes nothing: the model is asked, with the utterance inline (24 kHz PCM16).
    assert not script.of_type("input_audio_buffer.commit")
    asked = script.of_type("response.create")[0]["response"]
    assert "Transcribe" in asked["instructions"] and asked["output_modalities"] == ["text"]
    assert asked["input"][0]["content"][0]["type"] == "input_audio"
    # One frame went up and was refused; read_text sent none after that.
    assert len([e for e in script.received if "input_image" in json.dumps(e)]) == 1
    _nothing_refused(script, frames=1)


@GENERATIONS
async def test_an_abandoned_answer_never_leaks_into_the_next_request(mode: str) -> None:
    # The beta generation names no response: its cut answer's late audio and last word
    # ("response.audio.done") must be waited out, not read as the translation's.
    async with scripted_realtime(mode=mode, audio_chunks=50, chunk_interval_s=0.05) as script:
        session = _model(script).session()
        try:
            got: list[int] = []

            async def listen() -> None:
                async for chunk in session.synthesize("A long answer.", "en", sample_rate=24_000):
                    got.append(len(chunk.pcm))

            task = asyncio.create_task(listen())
            await wait_until(lambda: len(got) >= 2, timeout=5)
            task.cancel()  # barge-in
            await asyncio.gather(task, return_exceptions=True)
            for _ in range(2):
                assert await session.translate("Hello.", "en", "es") == script.translation
        finally:
            await session.aclose()
    assert len(got) < 50 and script.of_type("response.cancel")
    _nothing_refused(script)


async def test_tools_on_an_endpoint_without_a_tool_parser_fail_in_its_own_words() -> None:
    tool = Tool("check_answer", "Check the answer.", {"type": "object"}, _never_called)
    async with scripted_realtime(mode="vllm-omni-ga", tool_parser=False) as script:
        session = _model(script).session()
        try:
            request = DialogueRequest("Tutor.", text="x = 4", tools=(tool,), sample_rate=24_000)
            with pytest.raises(ModelError, match="--enable-auto-tool-choice"):
                [o async for o in session.converse(request)]
            # The session goes on: the next request is answered at once, on the same
            # connection (a refused response is not one to cancel or wait out).
            assert await session.translate("Hello.", "en", "es") == script.translation
            assert session.upstream.connects == 1
        finally:
            await session.aclose()
    assert not script.of_type("response.cancel")


async def _never_called(arguments: dict[str, object]) -> dict[str, object]:
    raise AssertionError("the endpoint refused the tools: nothing to call")


async def test_a_setup_the_endpoint_refuses_fails_in_its_own_words() -> None:
    async with scripted_realtime(mode="vllm-omni-ga") as script:
        vad = {"type": "realtime", "audio": {"input": {"turn_detection": {"type": "semantic_vad"}}}}
        upstream = Upstream(RemoteConfig(url=script.url), vad)
        try:
            with pytest.raises(ModelError, match="Only server_vad turn detection is supported"):
                async with upstream.request():
                    pass
        finally:
            await upstream.aclose()


@GENERATIONS
@pytest.mark.models
async def test_a_spoken_turn(mode: str, vad: SileroVAD, clips: Clips) -> None:
    async with (
        scripted_realtime(mode=mode, heard="Where is the station?") as script,
        servers_for(_model(script), vad) as make,
        CallClient(make().http, session=INTERPRETER) as call,
    ):
        await call.wait_for("session.created")
        assert call.mic is not None
        await call.mic.play(clips.english).wait()
        heard = await call.wait_for("conversation.item.input_audio_transcription.completed")
        done = await call.wait_for("translation.done")
        await call.wait_for("response.done")
        await wait_until(lambda: call.received.voiced_seconds(0.0) > 0.5, timeout=10)
    assert heard["transcript"] == script.heard
    assert (done["source_language"], done["text"]) == ("en", script.translation)
    _nothing_refused(script)


@GENERATIONS
async def test_a_camera_turn(mode: str, vad: SileroVAD) -> None:
    frame = np.full((120, 160, 3), 90, dtype=np.uint8)
    frame[10:30, 10:60] = 250
    answer = "It looks like a quiet moment in the match."
    async with (
        scripted_realtime(mode=mode, answer=answer) as script,
        servers_for(_model(script), vad) as make,
    ):
        session = {"scenario": "explainer", "sport": "football"}
        http = make().http
        async with CallClient(http, video=StillImageTrack(frame), session=session) as call:
            await call.wait_for("session.created")
            call.send_text("What is happening?")
            reply = await call.wait_for("explainer.answer", timeout=15)
            done = await call.wait_for("response.done", timeout=15)
            await wait_until(lambda: call.received.voiced_seconds(0.0) > 0.5, timeout=10)
            errors = call.of_type("error")
    assert reply["text"] == answer and done["response"]["status"] == "completed"
    assert not errors
    # Frames were offered until the first refusal came back (the scoreboard watcher and
    # the question may both have sent one by then), then no more; the question still
    # went up, and was answered.
    offered = len([e for e in script.received if "input_image" in json.dumps(e)])
    assert 1 <= offered <= 2
    _nothing_refused(script, frames=offered)
    texts = [
        c["text"]
        for e in script.of_type("conversation.item.create")
        for c in e["item"].get("content", [])
        if c["type"] == "input_text"
    ]
    assert texts == ["What is happening?"]


@GENERATIONS
@pytest.mark.models
async def test_a_barge_in(mode: str, vad: SileroVAD, clips: Clips) -> None:
    # A long answer (12 s, streamed in real time) that the caller talks over.
    async with (
        scripted_realtime(mode=mode, audio_chunks=60, chunk_interval_s=0.2) as script,
        servers_for(_model(script), vad) as make,
        CallClient(make().http, session=INTERPRETER) as call,
    ):
        await call.wait_for("session.created")
        call.send_text("My brother lives in Barcelona and works as a doctor.")
        started = await call.wait_for("output_audio_buffer.started", timeout=15)
        await wait_until(lambda: call.received.voiced_seconds(0.0) > 0.5, timeout=10)
        mark = len(call.events)
        assert call.mic is not None
        call.mic.play(clips.english)
        cut = await call.wait_for(
            "response.done",
            lambda e: e["response"]["id"] == started["response_id"],
            after=mark,
            timeout=15,
        )
        # The interruption is then heard and answered: nothing of the cut answer
        # upstream is taken for the next request's.
        heard = await call.wait_for(
            "conversation.item.input_audio_transcription.completed", after=mark, timeout=20
        )
        answered = await call.wait_for("translation.done", after=mark, timeout=20)
        await call.wait_for(
            "response.done", lambda e: e["response"]["id"] != cut["response"]["id"], after=mark
        )
    assert cut["response"]["status"] == "cancelled"
    assert script.of_type("response.cancel")
    assert heard["transcript"] == script.heard and answered["text"] == script.translation
    _nothing_refused(script)


@GENERATIONS
async def test_a_tool_call(mode: str, vad: SileroVAD) -> None:
    check = {"name": "check_answer", "arguments": {"utterance": "x equals 5"}}
    async with (
        scripted_realtime(mode=mode, tool_calls=[check], answer="Not quite, try again.") as script,
        servers_for(_model(script), vad) as make,
        CallClient(make().http, session={"scenario": "tutor"}) as call,
    ):
        await call.wait_for("session.created")
        call.send_text("solve 2x + 3 = 11")
        await call.wait_for("tutor.problem", timeout=15)
        await call.wait_for("response.done", timeout=15)
        mark = len(call.events)
        call.send_text("x = 5")
        verdict = await call.wait_for("tutor.check", after=mark, timeout=15)
        done = await call.wait_for("response.done", after=mark, timeout=15)
        said = "".join(
            e["delta"]
            for e in call.events[mark:]
            if e["type"] == "response.output_audio_transcript.delta"
        )
        errors = call.of_type("error")
    assert verdict["correct"] is False and "13, not 11" in verdict["feedback"]
    assert done["response"]["status"] == "completed" and said == script.answer
    assert not errors
    _nothing_refused(script)
    # The CAS's verdict went back as the call's output, then the answer was asked for.
    (call_id,) = script.calls_made
    (output,) = [
        e["item"]
        for e in script.of_type("conversation.item.create")
        if e["item"]["type"] == "function_call_output"
    ]
    assert output["call_id"] == call_id and json.loads(output["output"])["correct"] is False
    asked = [e["response"] for e in script.of_type("response.create") if "tools" in e["response"]]
    assert len(asked) == 2
