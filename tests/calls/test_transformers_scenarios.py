"""The real scenarios through real WebRTC calls on the `transformers` backend, run by a
tiny randomly initialised Qwen2.5-Omni (tests/tiny_qwen.py; nothing is downloaded).

Random weights say nothing sensible, so these check the flow, not the words: the
caller's speech and camera reach the model, each answer is created, voiced by the
talker and completed, and no `error` is sent. Random weights never write a tool call
either, so the first round of each conversation turn is scripted to write one in Qwen's
convention (`<tool_call>...</tool_call>`, parsed by the real session); the tool runs the
scenario's own code, and every later round is generated for real with its result.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from clients.python.client import CallClient, StillImageTrack
from model.dialogue import DialogueRequest
from model.hf.backend import GenerationSettings, TransformersModel, TransformersSession
from model.hf.dialogue import CLOSE, OPEN
from rtc.vad import SileroVAD
from tests.conftest import Clips, Server, servers_for, wait_until
from tests.imagegen import CLEAN, render_problem
from tests.sportgen import football_frame

pytestmark = pytest.mark.models  # the caller's voice is the embedded model's (conftest clips)

FAST = GenerationSettings(
    max_new_tokens=12, min_new_tokens=4, talker_max_new_tokens=8, token2wav_steps=2
)
Event = dict[str, Any]


def tool_call(name: str, **arguments: Any) -> str:
    """A tool call as Qwen writes one."""
    return f"{OPEN}\n{json.dumps({'name': name, 'arguments': arguments})}\n{CLOSE}"


Turns = Sequence[tuple[str, str]]
Pieces = AsyncIterator[tuple[str, Any]]


class FirstRoundCalls(TransformersSession):
    """The real session, except that the first round of each conversation turn writes
    `model.first_round` (streamed in pieces, as generation would) instead of generating."""

    model: ToolCallingOmni

    def _round(self, system: str, request: DialogueRequest, after: Turns, speak: bool) -> Pieces:
        if after or not self.model.first_round:
            return super()._round(system, request, after, speak)
        return self._scripted(self.model.first_round)

    async def _scripted(self, text: str) -> Pieces:
        for start in range(0, len(text), 7):
            yield ("text", text[start : start + 7])


class ToolCallingOmni(TransformersModel):
    first_round = ""
    """What the first round of a conversation turn writes ("": it is generated)."""

    def session(self) -> TransformersSession:
        assert self.worker is not None, "load the model first"
        return FirstRoundCalls(self, self.worker.owner())


@dataclass(frozen=True)
class Generation:
    inputs: frozenset[str]
    """The names of the tensors and options `generate` was given."""
    prompt: str
    spoke: bool
    """The talker's audio came back with the text."""


class Generations(list[Generation]):
    """Every `generate` of the loaded model, as it returns."""

    def __init__(self, model: TransformersModel) -> None:
        super().__init__()
        inner, tokenizer = model._model, model._tokenizer
        original = inner.generate

        def generate(**kwargs: Any) -> Any:
            result = original(**kwargs)
            prompt = tokenizer.decode(kwargs["input_ids"][0])
            self.append(Generation(frozenset(kwargs), prompt, isinstance(result, tuple)))
            return result

        inner.generate = generate

    def given(self, name: str) -> list[Generation]:
        return [g for g in self if name in g.inputs]


@pytest.fixture(scope="module")
def omni(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ToolCallingOmni, Generations]]:
    from tests import tiny_qwen  # transformers, imported only when these tests run

    model = ToolCallingOmni(tiny_qwen.omni(tmp_path_factory.mktemp("tiny-omni")), device="cpu")
    model.settings = FAST
    model.load(lambda _msg: None)
    yield model, Generations(model)
    model.close()


@pytest.fixture
async def server(
    omni: tuple[ToolCallingOmni, Generations], vad: SileroVAD
) -> AsyncIterator[Server]:
    """The real app with its real scenarios on the tiny model."""
    omni[0].first_round = ""
    omni[1].clear()
    async with servers_for(omni[0], vad) as make:
        yield make()


async def answered(call: CallClient, after: int, timeout: float = 30) -> Event:
    """The next answer after event `after`: created, voiced by the talker, done."""
    created = await call.wait_for("response.created", after=after, timeout=timeout)
    rid = created["response"]["id"]

    def this(event: Event) -> bool:
        return bool(event.get("response_id") == rid or event.get("response", {}).get("id") == rid)

    done = await call.wait_for("response.done", this, after=after, timeout=timeout)
    assert done["response"]["status"] == "completed", done
    # Random weights make a noise too quiet to survive Opus as anything but near-silence,
    # so the talker's audio is checked where it is played out, not by its loudness.
    await call.wait_for("output_audio_buffer.started", this, after=after, timeout=10)
    await call.wait_for("output_audio_buffer.stopped", this, after=after, timeout=10)
    return done


async def spoken_turn(call: CallClient, clips: Clips) -> None:
    """The caller says a sentence; it is transcribed and answered (whatever the noise says)."""
    mark = len(call.events)
    assert call.mic is not None
    await call.mic.play(clips.english).wait()
    await call.wait_for(
        "conversation.item.input_audio_transcription.completed", after=mark, timeout=30
    )
    done = await call.wait_for("response.done", after=mark, timeout=30)
    assert done["response"]["status"] == "completed", done


def no_errors(call: CallClient) -> None:
    assert not call.of_type("error"), call.of_type("error")


async def test_the_tutor_on_the_omni_model(
    server: Server, omni: tuple[ToolCallingOmni, Generations], clips: Clips
) -> None:
    model, generations = omni
    model.first_round = "Let me check. " + tool_call("check_answer", utterance="x = 5")
    page = StillImageTrack(render_problem(["2x + 3 = 11"], CLEAN, seed=3))
    async with CallClient(server.http, video=page, session={"scenario": "tutor"}) as call:
        await call.wait_for("session.created")
        tutor: Any = server.gateway.registry.calls[0].scenario
        await wait_until(lambda: bool(tutor._recent), timeout=15)  # the camera's frames
        # The camera is read by the model (its OCR is noise here, so it asks to hold closer).
        mark = len(call.events)
        call.send_text("help me with this")
        await answered(call, mark)
        assert generations.given("thinker_pixel_values")
        # A typed problem is read by the CAS, as on every backend; its first step is voiced.
        mark = len(call.events)
        call.send_text("solve 2x + 3 = 11")
        problem = await call.wait_for("tutor.problem", after=mark, timeout=30)
        assert problem["text"].replace(" ", "") == "2*x+3=11"
        await answered(call, mark)
        # An answer goes to the model with the tutor's tools; the model calls check_answer,
        # the CAS's verdict is sent, and the model answers again with it.
        mark, before = len(call.events), len(generations)
        call.send_text("x = 5")
        verdict = await call.wait_for("tutor.check", after=mark, timeout=30)
        await answered(call, mark)
        conversed = generations[before:]
        # A spoken turn: the caller's audio is heard by the thinker.
        heard_from = len(generations)
        await spoken_turn(call, clips)
        no_errors(call)
    assert verdict["correct"] is False and "13" in verdict["feedback"]
    (generated,) = conversed  # the round after the scripted call, generated for real
    assert generated.spoke and "Socratic math tutor" in generated.prompt
    assert '"name": "check_answer"' in generated.prompt  # the tools, in the system prompt
    assert '<tool_response>\n{"checked": true, "correct": false' in generated.prompt
    assert generations.given("input_features")[0] in generations[heard_from:]


async def test_the_explainer_on_the_omni_model(
    server: Server, omni: tuple[ToolCallingOmni, Generations], clips: Clips
) -> None:
    model, generations = omni
    model.first_round = tool_call("rules_lookup", question="offside")
    camera = StillImageTrack(football_frame("ARS", "CHE", (1, 0), "63:12", "2H"), fps=5)
    session = {"scenario": "explainer", "sport": "football"}
    async with CallClient(server.http, video=camera, session=session) as call:
        await call.wait_for("session.created")
        # The explainer's watch loop has the model read the scoreboard from sampled frames.
        await wait_until(lambda: bool(generations.given("thinker_pixel_values")), timeout=15)
        mark, before = len(call.events), len(generations)
        call.send_text("What is offside?")
        reply = await call.wait_for("explainer.answer", after=mark, timeout=30)
        await answered(call, mark)
        conversed = [g for g in generations[before:] if "<tool_response>" in g.prompt]
        # A spoken question: heard by the thinker, and sent to the model with the frames.
        heard_from = len(generations)
        await spoken_turn(call, clips)
        no_errors(call)
    assert reply["kind"] == "rules" and reply["topic"] == "offside"
    assert reply["source"] == "IFAB Laws of the Game 2024/25, Law 11 (Offside)"
    assert reply["question"] == "What is offside?"
    (generated,) = conversed  # the round after the scripted rules_lookup, generated for real
    assert generated.spoke and "sports broadcast" in generated.prompt
    assert "thinker_pixel_values" in generated.inputs  # the question's frames
    assert '"source": "IFAB Laws of the Game 2024/25, Law 11 (Offside)"' in generated.prompt
    # The turn's audio and frames went to the model together, with the tool's result.
    assert any(
        {"input_features", "thinker_pixel_values"} <= g.inputs and "<tool_response>" in g.prompt
        for g in generations[heard_from:]
    )


async def test_the_interpreter_on_the_omni_model(
    server: Server, omni: tuple[ToolCallingOmni, Generations]
) -> None:
    session = {"scenario": "interpreter", "languages": ["en", "zh"]}
    async with CallClient(server.http, session=session) as call:
        await call.wait_for("session.created")
        call.send_text("Where is the train station?")
        done = await call.wait_for("translation.done", timeout=30)
        await answered(call, 0)
        no_errors(call)
    assert done["text"]  # noise, but the thinker's words
    (translated,) = [g for g in omni[1] if "to Chinese" in g.prompt]
    assert "Where is the train station?" in translated.prompt and not translated.spoke
    assert omni[1][-1].spoke  # the talker voiced the translation


async def test_chat_with_a_client_tool_and_the_camera_on_the_omni_model(
    server: Server, omni: tuple[ToolCallingOmni, Generations]
) -> None:
    """The chat scenario: the developer's instructions and tool reach the model, its call of
    the tool goes to the client, and the client's result continues the answer; the camera's
    frames go with each turn."""
    model, generations = omni
    model.first_round = tool_call("get_weather", city="Paris")
    weather = {
        "type": "function",
        "name": "get_weather",
        "description": "The weather in a city now.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
    session = {"scenario": "chat", "instructions": "You are a weather desk.", "tools": [weather]}
    camera = StillImageTrack(render_problem(["sunny"], CLEAN, seed=1))
    async with CallClient(server.http, video=camera, session=session) as call:
        await call.wait_for("session.created")
        served = server.gateway.registry.calls[0]
        await wait_until(lambda: served.camera.samples >= 1, timeout=15)
        call.send_text("What is the weather in Paris?")
        arguments = await call.wait_for("response.function_call_arguments.done", timeout=30)
        first = await call.wait_for("response.done", timeout=30)
        assert arguments["name"] == "get_weather"
        assert json.loads(arguments["arguments"]) == {"city": "Paris"}
        assert first["response"]["output"][-1]["call_id"] == arguments["call_id"]
        mark, before = len(call.events), len(generations)
        call.send(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "function_call_output",
                    "call_id": arguments["call_id"],
                    "output": '{"celsius": 21}',
                },
            }
        )
        call.send({"type": "response.create"})
        await answered(call, mark)
        no_errors(call)
    # The first round was scripted; the continuation was generated for real, with the
    # developer's instructions and tool, the conversation so far, the call and its result.
    (continued,) = [g for g in generations[before:] if "<tool_response>" in g.prompt]
    assert "weather desk" in continued.prompt and '"name": "get_weather"' in continued.prompt
    assert "What is the weather in Paris?" in continued.prompt
    assert '"name": "get_weather", "arguments": {"city": "Paris"}' in continued.prompt
    assert '<tool_response>\n{"celsius": 21}' in continued.prompt
    assert "thinker_pixel_values" in continued.inputs  # the camera's frames went with it
