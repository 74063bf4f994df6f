"""What an app developer configures takes effect: instructions, the client's tools, the
`chat` scenario, a sideband on a phone's call, transcription sessions, written answers,
the voice's pace and push-to-talk. Real calls over both transports, with the official
`openai` SDK for the WebSocket; the model is the scripted Realtime upstream (remote
backend), the tiny random Qwen (transformers backend) or the embedded one."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import numpy as np
import pytest
from openai import AsyncOpenAI

from clients.python.client import CallClient, StillImageTrack
from model.audio import resample_int16
from model.embedded.backend import EmbeddedModel
from model.remote.backend import RemoteModel
from model.remote.connection import RemoteConfig
from rtc.gateway import Gateway
from rtc.vad import SileroVAD
from tests.callers import TRANSPORTS, Caller, WebSocketCaller, calling, live_server
from tests.conftest import Clips, wait_until
from tests.realtime_server import ScriptedRealtime, scripted_realtime

pytestmark = pytest.mark.models

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city now.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
CHAT = {
    "scenario": "chat",
    "instructions": "You are the weather desk of Example Airlines.",
    "tools": [WEATHER],
}
INTERPRETER = {"scenario": "interpreter", "languages": ["en", "es"]}


@pytest.fixture
async def upstream() -> AsyncIterator[ScriptedRealtime]:
    async with scripted_realtime(audio_chunks=3, chunk_interval_s=0.02) as script:
        yield script


@pytest.fixture
async def remote(upstream: ScriptedRealtime, vad: SileroVAD) -> AsyncIterator[tuple[str, Gateway]]:
    model = RemoteModel(RemoteConfig(url=upstream.url, api_key="upstream-key"))
    async with live_server(model, vad) as server:
        yield server


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def typed(call: Caller, text: str, **response: Any) -> None:
    call.send(
        {
            "type": "conversation.item.create",
            "item": {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": text}
            ]},
        }
    )  # fmt: skip
    call.send({"type": "response.create", **({"response": response} if response else {})})


async def done_after(call: Caller, mark: int, timeout: float = 30) -> dict[str, Any]:
    done = await call.wait_for("response.done", after=mark, timeout=timeout)
    return dict(done["response"])


async def test_a_client_tool_is_called_and_its_result_continues_the_answer(
    remote: tuple[str, Gateway], upstream: ScriptedRealtime, transport: str
) -> None:
    upstream.tool_calls = [{"name": "get_weather", "arguments": {"city": "Paris"}}]
    async with calling(transport, remote[0], CHAT) as call:
        mark = len(call.events)
        typed(call, "What is the weather in Paris?")
        arguments = await call.wait_for("response.function_call_arguments.done", after=mark)
        assert arguments["name"] == "get_weather"
        assert json.loads(arguments["arguments"]) == {"city": "Paris"}
        added = await call.wait_for(
            "conversation.item.added", lambda e: e["item"]["type"] == "function_call", after=mark
        )
        assert added["item"]["call_id"] == arguments["call_id"]
        first = await done_after(call, mark)
        assert first["status"] == "completed"
        calls = [o for o in first["output"] if o["type"] == "function_call"]
        assert [c["call_id"] for c in calls] == [arguments["call_id"]]
        # The client runs its tool and continues the answer with the result.
        mark = len(call.events)
        call.send(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "function_call_output",
                    "call_id": arguments["call_id"],
                    "output": json.dumps({"celsius": 21, "sky": "clear"}),
                },
            }
        )
        call.send({"type": "response.create"})
        second = await done_after(call, mark)
        assert second["status"] == "completed"
        assert call.of_type("response.output_audio_transcript.delta")
        assert not call.of_type("error")
    # What the model got: the scenario's brief and the developer's instructions, their
    # tool, and the result under the call's id.
    asked = [e["response"] for e in upstream.of_type("response.create") if "tools" in e["response"]]
    assert "Example Airlines" in asked[0]["instructions"]
    assert [t["name"] for t in asked[0]["tools"]] == ["get_weather"]
    outputs = [
        e["item"]
        for e in upstream.of_type("conversation.item.create")
        if e["item"]["type"] == "function_call_output"
    ]
    assert outputs == [
        {
            "type": "function_call_output",
            "call_id": upstream.calls_made[0],
            "output": json.dumps({"celsius": 21, "sky": "clear"}),
        }
    ]


async def test_the_user_speaking_while_the_client_runs_its_tool(
    remote: tuple[str, Gateway], upstream: ScriptedRealtime, clips: Clips
) -> None:
    """OpenAI's behaviour: the call's response is already done; the user's speech is a new
    turn (the call still pending gets a placeholder result upstream, which refuses a
    response otherwise), and the client's result, when it comes, still reaches the model."""
    upstream.tool_calls = [{"name": "get_weather", "arguments": {"city": "Oslo"}}]
    async with calling("webrtc", remote[0], CHAT) as call:
        typed(call, "Weather in Oslo?")
        arguments = await call.wait_for("response.function_call_arguments.done")
        await call.wait_for("response.done")
        mark = len(call.events)
        await call.say(clips.english)  # before the client's tool returns
        spoken = await done_after(call, mark)
        assert spoken["status"] == "completed"
        mark = len(call.events)
        call.send(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "function_call_output",
                    "call_id": arguments["call_id"],
                    "output": '{"celsius": -3}',
                },
            }
        )
        call.send({"type": "response.create"})
        late = await done_after(call, mark)
        assert late["status"] == "completed"
        assert not call.of_type("error")
    items = [e["item"] for e in upstream.of_type("conversation.item.create")]
    placeholder = [i for i in items if i["type"] == "function_call_output"]
    assert placeholder and placeholder[0]["call_id"] == upstream.calls_made[0]
    assert any('"celsius": -3' in str(i) for i in items)  # the late result


async def test_chat_sees_the_camera(
    remote: tuple[str, Gateway], upstream: ScriptedRealtime, clips: Clips
) -> None:
    frame = np.zeros((240, 320, 3), np.uint8)
    frame[:, :160] = (200, 30, 30)
    async with (
        httpx.AsyncClient(base_url=f"http://{remote[0]}") as http,
        CallClient(http, session={"scenario": "chat"}, video=StillImageTrack(frame)) as call,
    ):
        await call.wait_for("session.created")
        gateway = remote[1]
        await wait_until(lambda: gateway.registry.calls[0].camera.samples >= 1, timeout=20)
        assert call.mic is not None
        await call.mic.play(clips.english).wait()
        done = await call.wait_for("response.done", timeout=30)
        assert done["response"]["status"] == "completed"
    images = [
        part
        for e in upstream.of_type("conversation.item.create")
        for part in e["item"].get("content", [])
        if part.get("type") == "input_image"
    ]
    assert images and images[0]["image_url"].startswith("data:image/jpeg;base64,")


async def test_chat_is_refused_on_a_backend_that_cannot_converse(
    embedded_model: EmbeddedModel, vad: SileroVAD
) -> None:
    async with (
        live_server(embedded_model, vad) as (address, _),
        httpx.AsyncClient(base_url=f"http://{address}") as http,
    ):
        refused = await http.post(
            "/v1/realtime/client_secrets", json={"session": {"scenario": "chat"}}
        )
        assert refused.status_code == 400
        error = refused.json()["error"]
        assert error["code"] == "scenario_unavailable"
        assert "transformers or remote" in error["message"]


async def test_a_sideband_controls_a_phones_call(
    embedded_model: EmbeddedModel, vad: SileroVAD
) -> None:
    async with (
        live_server(embedded_model, vad, api_key="sk-server") as (address, gateway),
        httpx.AsyncClient(
            base_url=f"http://{address}", headers={"Authorization": "Bearer sk-server"}
        ) as http,
        CallClient(http, session=INTERPRETER) as phone,
    ):
        await phone.wait_for("session.created")
        call_id = gateway.registry.calls[0].id
        client = AsyncOpenAI(
            api_key="sk-server",
            base_url=f"http://{address}/v1",
            websocket_base_url=f"ws://{address}/v1",
        )
        async with client.realtime.connect(call_id=call_id) as connection:
            side = WebSocketCaller(connection, microphone=False)
            try:
                await side.wait_for("session.created")
                await connection.session.update(
                    session={"type": "realtime", "languages": ["es", "en"]}  # type: ignore[arg-type]
                )
                updated = await side.wait_for("session.updated")
                assert updated["session"]["languages"] == ["es", "en"]
                await phone.wait_for("session.updated")  # the phone sees it too
                mark = len(phone.events)
                await connection.conversation.item.create(
                    item={
                        "type": "message",
                        "role": "user",
                        "content": [{"type": "input_text", "text": "Good morning."}],
                    }
                )
                await connection.response.create()
                started = await phone.wait_for("output_audio_buffer.started", after=mark)
                await phone.wait_for("response.done", after=mark, timeout=30)
                assert phone.received.voiced_seconds(phone.event_time(started)) > 0.3
                await side.wait_for("response.done")  # the sideband saw the answer
                assert side.of_type("translation.done")
            finally:
                await side.aclose()
        await client.close()
        # An unknown call: a clear reason, and the socket is closed.
        async with client.realtime.connect(call_id="rtc_nobody") as connection:
            side = WebSocketCaller(connection, microphone=False)
            error = await side.wait_for("error")
            assert error["error"]["code"] == "call_not_found"
            await side.aclose()


async def test_a_transcription_session_captions_and_never_answers(
    embedded_model: EmbeddedModel, vad: SileroVAD, clips: Clips
) -> None:
    session = {
        "type": "transcription",
        "audio": {"input": {"transcription": {"model": "whisper-1", "language": "en"}}},
    }
    async with (
        live_server(embedded_model, vad) as (address, _),
        calling("websocket", address, session) as call,
    ):
        await call.say(np.concatenate([clips.english, clips.english]))
        completed = await call.wait_for(
            "conversation.item.input_audio_transcription.completed", timeout=30
        )
        assert "coffee" in completed["transcript"].lower()
        deltas = [
            e["delta"]
            for e in call.of_type("conversation.item.input_audio_transcription.delta")
            if e["item_id"] == completed["item_id"]
        ]
        assert deltas, "captions while the user speaks"
        assert "".join(deltas).split() == completed["transcript"].split()
        assert not call.of_type("response.created")


async def test_written_answers_have_no_voice(
    embedded_model: EmbeddedModel, vad: SileroVAD, transport: str
) -> None:
    async with (
        live_server(embedded_model, vad) as (address, _),
        calling(transport, address, {**INTERPRETER, "output_modalities": ["text"]}) as call,
    ):
        typed(call, "Where is the train station?")
        done = await done_after(call, 0)
        assert done["status"] == "completed"
        written = "".join(e["delta"] for e in call.of_type("response.output_text.delta"))
        assert "tren" in written.lower()  # Apertium: "¿Dónde es la canal de tren?"
        text_done = call.of_type("response.output_text.done")
        assert text_done and text_done[0]["text"] == written.strip()
        assert done["output"][0]["content"][0] == {"type": "output_text", "text": written.strip()}
        for silent in (
            "output_audio_buffer.started",
            "response.output_audio.delta",
            "response.output_audio_transcript.delta",
        ):
            assert not call.of_type(silent)
        # A response may ask for a voice itself.
        mark = len(call.events)
        typed(call, "Good night.", output_modalities=["audio"])
        await done_after(call, mark)
        assert call.of_type("output_audio_buffer.started")


async def test_the_voice_pace_follows_the_session(embedded_model: EmbeddedModel) -> None:
    session = embedded_model.session()
    text = "I would like a cup of coffee with milk please."

    async def seconds(speed: float) -> float:
        chunks = [c async for c in session.synthesize(text, "en", sample_rate=48_000, speed=speed)]
        return sum(len(c.pcm) for c in chunks) / 48_000

    normal, slow, fast = await seconds(1.0), await seconds(0.5), await seconds(1.5)
    assert slow > 1.8 * normal and fast < 0.75 * normal


async def test_push_to_talk_sent_back_to_back_is_answered(
    embedded_model: EmbeddedModel, vad: SileroVAD, clips: Clips
) -> None:
    """OpenAI's push-to-talk: one append of the whole clip, commit, response.create."""
    async with (
        live_server(embedded_model, vad) as (address, _),
        calling(
            "websocket",
            address,
            {**INTERPRETER, "audio": {"input": {"turn_detection": None}}},
        ) as call,
    ):
        assert isinstance(call, WebSocketCaller)
        clip = resample_int16(clips.spanish, 48_000, 24_000)
        audio = base64.b64encode(clip.astype("<i2").tobytes()).decode()
        await call.conn.input_audio_buffer.append(audio=audio)
        await call.conn.input_audio_buffer.commit()
        await call.conn.response.create()
        done = await done_after(call, 0, timeout=60)
        assert done["status"] == "completed"
        kinds = [e["type"] for e in call.events]
        assert kinds.index("input_audio_buffer.committed") < kinds.index("response.created")
        assert call.of_type("translation.done")[0]["source_language"] == "es"
        assert not call.of_type("error")
