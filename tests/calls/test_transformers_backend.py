"""The `transformers` backend on tiny randomly initialised Qwen models built here (no download).

Every test of the `omni` fixture runs on a Qwen2.5-Omni and on a Qwen3-Omni.

Random weights say nothing sensible: these tests check that audio and frames
reach the model, that text and audio come back, and that barge-in stops
generation mid-stream, on the real transformers code paths.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from numpy.typing import NDArray

from clients.python.client import CallClient, StillImageTrack
from model.dialogue import DialogueDone, DialogueRequest, SpeechOut, TextDelta, Tool, ToolCall
from model.errors import ModelLoadError, UnsupportedError
from model.hf.backend import (
    GenerationSettings,
    TransformersModel,
    TransformersSession,
    language_tagged,
)
from model.hf.dialogue import VisibleText, parse_tool_calls, system_prompt, tool_response
from model.hf.worker import FairWorker
from model.scenario import ResponseSink, Scenario, UserTurn, VideoSample
from model.types import Transcript
from rtc.app import create_app
from rtc.config import ServerConfig
from rtc.vad import SileroVAD
from tests.conftest import Clips

FAST = GenerationSettings(
    max_new_tokens=12, min_new_tokens=4, talker_max_new_tokens=8, token2wav_steps=2
)
SPEECH = (np.sin(np.arange(16_000) / 8.0) * 0.3).astype(np.float32)
FRAME = np.random.default_rng(0).integers(0, 255, (64, 96, 3), dtype=np.uint8)


class Recorder:
    """Wraps the loaded model's `generate` and keeps what it was given and what it returned."""

    def __init__(self, model: TransformersModel) -> None:
        self.calls: list[dict[str, Any]] = []
        inner = model._model
        original = inner.generate

        def generate(**kwargs: Any) -> Any:
            result = original(**kwargs)
            self.calls.append({"kwargs": kwargs, "result": result})
            return result

        inner.generate = generate

    def shapes(self, i: int) -> dict[str, tuple[int, ...]]:
        return {
            k: tuple(v.shape) for k, v in self.calls[i]["kwargs"].items() if hasattr(v, "shape")
        }


#: How many audio tokens each Omni's encoder makes of SPEECH (1 s, 100 feature frames).
AUDIO_TOKENS = {"qwen2_5_omni": 25, "qwen3_omni_moe": 13}


@pytest.fixture(scope="module", params=sorted(AUDIO_TOKENS))
def omni(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TransformersModel, Recorder]]:
    from tests import tiny_qwen  # transformers, imported only when these tests run

    build = {"qwen2_5_omni": tiny_qwen.omni, "qwen3_omni_moe": tiny_qwen.omni3}[request.param]
    path = build(tmp_path_factory.mktemp(request.param))
    model = TransformersModel(path, device="cpu", settings=FAST)
    model.load(lambda _msg: None)
    yield model, Recorder(model)
    model.close()


@pytest.fixture
def session(omni: tuple[TransformersModel, Recorder]) -> TransformersSession:
    omni[0].settings = FAST
    omni[1].calls.clear()
    return omni[0].session()


async def test_audio_reaches_the_thinker_and_text_comes_back(
    session: TransformersSession, omni: tuple[TransformersModel, Recorder]
) -> None:
    transcript = await session.transcribe(SPEECH, ["en"])
    assert transcript.language == "en" and transcript.text  # garbage, but tokens flowed
    shapes = omni[1].shapes(0)
    assert shapes["input_features"][:2] == (1, 128)  # 128 mel bins of the 1 s utterance
    assert int(omni[1].calls[0]["kwargs"]["feature_attention_mask"].sum()) == 100
    audio_id = omni[0]._tokenizer.convert_tokens_to_ids("<|AUDIO|>")
    tokens = AUDIO_TOKENS[str(omni[0].model_type)]
    assert int((omni[1].calls[0]["kwargs"]["input_ids"] == audio_id).sum()) == tokens
    assert omni[1].calls[0]["kwargs"]["generation_mode"] == "text"


async def test_a_frame_reaches_the_vision_encoder(
    session: TransformersSession, omni: tuple[TransformersModel, Recorder]
) -> None:
    lines = await session.read_text(FRAME)
    assert isinstance(lines, list)
    kwargs = omni[1].calls[0]["kwargs"]
    assert kwargs["thinker_pixel_values"].shape[0] > 0
    assert kwargs["image_grid_thw"].tolist() == [[1, 4, 6]]  # 56x84 after resizing, 6 image tokens


async def test_the_talker_speaks(
    session: TransformersSession, omni: tuple[TransformersModel, Recorder]
) -> None:
    chunks = [c async for c in session.synthesize("Hello there.", "en", sample_rate=48_000)]
    assert len(chunks) == 1 and chunks[0].sample_rate == 48_000
    assert len(chunks[0].pcm) > 0 and chunks[0].text == "Hello there."
    text_ids, wav = omni[1].calls[0]["result"]
    assert wav.numel() * 2 == len(chunks[0].pcm)  # 24 kHz from the talker, resampled to 48 kHz
    kwargs = omni[1].calls[0]["kwargs"]
    assert kwargs["speaker"] == "Chelsie" and "generation_mode" not in kwargs
    if omni[0].model_type == "qwen3_omni_moe":
        # The thinker stops at this model's own <|im_end|>, not the released vocabulary's.
        im_end = omni[0]._tokenizer.convert_tokens_to_ids("<|im_end|>")
        assert kwargs["thinker_eos_token_id"] == im_end and kwargs["return_audio"] is True


async def test_barge_in_stops_generation_within_a_step(
    session: TransformersSession, omni: tuple[TransformersModel, Recorder]
) -> None:
    omni[0].settings = GenerationSettings(max_new_tokens=2000, min_new_tokens=2000)
    pieces: list[str] = []
    stream = session.respond("Talk for a long time.", "Go on.")
    assert isinstance(stream, AsyncGenerator)
    async for piece in stream:
        pieces.append(piece)
        if len(pieces) == 3:
            break
    await stream.aclose()  # barge-in: the consumer stops listening
    started = time.monotonic()
    while not omni[1].calls:  # noqa: ASYNC110 - waiting for the worker thread
        await asyncio.sleep(0.01)
    assert time.monotonic() - started < 5
    sequences = omni[1].calls[0]["result"]
    prompt = omni[1].calls[0]["kwargs"]["input_ids"].shape[1]
    generated = sequences.shape[1] - prompt
    assert 3 <= generated < 50, generated  # stopped at once, not after 2000 tokens


def test_the_transcript_language_comes_from_the_tag_the_thinker_writes() -> None:
    assert language_tagged("[es] Hola, ¿qué tal?", ["en", "es"]) == Transcript(
        "Hola, ¿qué tal?", "es", 0.9
    )
    assert language_tagged("[fr] Bonjour", ["en", "es"]).language == "en"
    assert language_tagged("no tag", []) == Transcript("no tag", "en", 0.5)


def test_calls_take_turns_on_the_one_inference_thread() -> None:
    async def scenario() -> list[str]:
        worker = FairWorker(name="test-fair")
        order: list[str] = []
        hold = threading.Event()

        def job(name: str) -> Any:
            def work(cancel: threading.Event, emit: Any) -> None:
                if name == "hold":
                    hold.wait(5)
                order.append(name)

            return work

        a, b, c = worker.owner(), worker.owner(), worker.owner()
        first = asyncio.ensure_future(worker.run(c, job("hold")))
        await asyncio.sleep(0.05)
        rest = [worker.run(a, job(f"a{i}")) for i in range(3)] + [worker.run(b, job("b0"))]
        tasks = [asyncio.ensure_future(r) for r in rest]
        await asyncio.sleep(0.05)
        hold.set()
        await asyncio.gather(first, *tasks)
        worker.stop()
        return order

    assert asyncio.run(scenario()) == ["hold", "a0", "b0", "a1", "a2"]


def test_missing_or_unsupported_models_fail_clearly_without_downloading(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="no model at .*nothing is downloaded"):
        TransformersModel(tmp_path / "absent").load(lambda _msg: None)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(ModelLoadError, match="'llama' model"):
        TransformersModel(tmp_path).load(lambda _msg: None)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "qwen2_5_omni"}))
    with pytest.raises(ModelLoadError, match="cannot load the model"):
        TransformersModel(tmp_path, device="cpu").load(lambda _msg: None)
    with pytest.raises(ModelLoadError, match="unsupported device 'tpu'"):
        TransformersModel(tmp_path, device="tpu").load(lambda _msg: None)


def test_a_qwen3_omni_without_its_talker_hears_but_does_not_speak(tmp_path: Path) -> None:
    config = {"model_type": "qwen3_omni_moe", "enable_audio_output": False}
    (tmp_path / "config.json").write_text(json.dumps(config))  # as the Thinking release ships
    caps = TransformersModel(tmp_path).capabilities
    assert caps.speech_to_text and not caps.text_to_speech and not caps.spoken_languages
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "qwen3_omni_moe"}))
    caps = TransformersModel(tmp_path).capabilities
    assert caps.text_to_speech and {"en", "fr", "ko"} <= caps.spoken_languages


async def test_a_qwen2_vl_model_sees_frames_and_writes_but_does_not_speak(tmp_path: Path) -> None:
    from tests import tiny_qwen

    model = TransformersModel(tiny_qwen.vl(tmp_path), device="cpu", settings=FAST)
    model.load(lambda _msg: None)
    recorder = Recorder(model)
    try:
        caps = model.capabilities
        assert caps.vision and not caps.speech_to_text and not caps.text_to_speech
        session = model.session()
        await session.read_text(FRAME)
        assert recorder.shapes(0)["pixel_values"][0] > 0
        assert await session.translate("Hello.", "en", "es")
        with pytest.raises(UnsupportedError):
            await session.transcribe(SPEECH, ["en"])
    finally:
        model.close()


class LookAndSay(Scenario):
    """Hears the turn, looks at the latest camera frame, and says what the model answers."""

    name = "chat"
    frame: NDArray[np.uint8] | None = None

    @property
    def video_fps(self) -> float:
        return 2.0

    def push_video(self, sample: VideoSample) -> None:
        self.frame = sample.rgb

    async def respond(self, turn: UserTurn, out: ResponseSink) -> None:
        transcript = await self.hear(turn, out)
        if self.frame is not None:
            await self.session.read_text(self.frame)
        text = transcript.text if transcript is not None else (turn.text or "")
        await out.speak(self.session.synthesize(text, "en", sample_rate=48_000))


@pytest.fixture
async def omni_http(
    omni: tuple[TransformersModel, Recorder], vad: SileroVAD
) -> AsyncIterator[httpx.AsyncClient]:
    omni[0].settings = FAST
    omni[1].calls.clear()
    app = create_app(ServerConfig(), model=omni[0], vad=vad, scenarios=[LookAndSay])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://omnilive.test"
    ) as http:
        yield http
        await app.state.gateway.aclose()


@pytest.mark.models
async def test_a_real_call_through_the_tiny_omni_model(
    omni_http: httpx.AsyncClient, omni: tuple[TransformersModel, Recorder], clips: Clips
) -> None:
    health = (await omni_http.get("/healthz")).json()
    assert health["backend"] == "transformers"
    assert health["capabilities"]["text_to_speech"] is True
    camera = StillImageTrack(FRAME)
    async with CallClient(omni_http, video=camera, session={"scenario": "chat"}) as call:
        await call.wait_for("session.created")
        assert call.mic is not None
        spoke_at = time.monotonic()
        await (call.mic.play(clips.english)).wait()
        await call.wait_for("conversation.item.input_audio_transcription.completed", timeout=30)
        await call.wait_for("response.done", timeout=30)
        # Random weights make a noise too quiet to survive Opus as anything but near-silence,
        # so the talker's audio is checked where it is played out, not by its loudness.
        started = await call.wait_for("output_audio_buffer.started", timeout=10)
        stopped = await call.wait_for("output_audio_buffer.stopped", timeout=10)
        assert started["response_id"] == stopped["response_id"]
        assert call.received.times and call.received.times[-1] > spoke_at
    kinds = [set(c["kwargs"]) for c in omni[1].calls]
    assert any("input_features" in k for k in kinds)  # the caller's speech
    assert any("thinker_pixel_values" in k for k in kinds)  # the camera
    assert any(isinstance(c["result"], tuple) for c in omni[1].calls)  # the talker's audio


# --- converse: instructions, tools, Qwen's tool-call convention ---------------------------

CHECK_TOOL_RESULT = {"correct": False, "feedback": "2 times 5 plus 3 is 13, not 11"}


def _check_tool(asked: list[dict[str, Any]]) -> Tool:
    async def check(arguments: dict[str, Any]) -> dict[str, Any]:
        asked.append(arguments)
        return CHECK_TOOL_RESULT

    return Tool(
        "check_answer",
        "Check the student's answer with the computer algebra system.",
        {"type": "object", "properties": {"utterance": {"type": "string"}}},
        check,
    )


def test_tool_calls_are_parsed_and_never_shown() -> None:
    text = 'Let me check. <tool_call>\n{"name": "check_answer", "arguments": {"utterance": "x = 5"}}\n</tool_call>'
    assert parse_tool_calls(text) == ("Let me check.", [("check_answer", {"utterance": "x = 5"})])
    cut = '<tool_call>{"name": "f", "arguments": "{\\"a\\": 1}"}'  # stopped before the tag
    assert parse_tool_calls(cut) == ("", [("f", {"a": 1})])
    assert parse_tool_calls("<tool_call>{not json}</tool_call> ok")[1] == []
    assert parse_tool_calls("No tools here.") == ("No tools here.", [])
    visible = VisibleText()
    shown = [visible.push(p) for p in ["Let me ", "check <", "tool_", 'call>{"name"', "}"]]
    assert "".join(shown) == "Let me check " and visible.calling and visible.flush() == ""
    plain = VisibleText()
    assert plain.push("a < b") == "a < b" and plain.push(" <") == " " and plain.flush() == "<"


def test_the_tools_and_their_results_are_in_the_prompt(
    omni: tuple[TransformersModel, Recorder],
) -> None:
    tool = _check_tool([])
    system = system_prompt("You are a math tutor.", [tool])
    assert system.startswith("You are a math tutor.") and "<tools>" in system
    listed = json.loads(system.split("<tools>\n")[1].split("\n</tools>")[0])
    assert listed["function"]["name"] == "check_answer"
    assert listed["function"]["parameters"] == tool.parameters
    call = '<tool_call>{"name": "check_answer", "arguments": {"utterance": "x = 5"}}</tool_call>'
    after = [("assistant", call), ("user", tool_response(CHECK_TOOL_RESULT))]
    inputs = omni[0].prepare(system, "Is it x = 5?", None, (FRAME, FRAME), after)
    prompt = omni[0]._tokenizer.decode(inputs.tensors["input_ids"][0])
    assert prompt.index("<tools>") < prompt.index("Is it x = 5?") < prompt.index(call)
    assert '<tool_response>\n{"correct": false' in prompt
    assert prompt.endswith("<|im_start|>assistant\n")
    assert inputs.tensors["image_grid_thw"].tolist() == [[1, 4, 6], [1, 4, 6]]


async def test_converse_generates_for_real_and_speaks(
    session: TransformersSession, omni: tuple[TransformersModel, Recorder]
) -> None:
    assert omni[0].capabilities.dialogue
    request = DialogueRequest(
        "You are a math tutor.", text="x = 5", tools=(_check_tool([]),), sample_rate=24_000
    )
    outputs = [o async for o in session.converse(request)]
    done = outputs[-1]
    assert isinstance(done, DialogueDone) and done.text  # garbage, but tokens flowed
    assert "".join(o.text for o in outputs if isinstance(o, TextDelta)).strip() == done.text
    speech = [o.chunk for o in outputs if isinstance(o, SpeechOut)]
    assert len(speech) == 1 and len(speech[0].pcm) and speech[0].text == done.text
    prompt = omni[0]._tokenizer.decode(omni[1].calls[0]["kwargs"]["input_ids"][0])
    assert '"name": "check_answer"' in prompt and "x = 5" in prompt


async def test_converse_stops_on_barge_in(
    session: TransformersSession, omni: tuple[TransformersModel, Recorder]
) -> None:
    omni[0].settings = GenerationSettings(max_new_tokens=2000, min_new_tokens=2000)
    stream = session.converse(DialogueRequest("Talk for a long time.", text="Go on.", speak=False))
    assert isinstance(stream, AsyncGenerator)
    deltas = 0
    async for output in stream:
        deltas += isinstance(output, TextDelta)
        if deltas == 3:
            break
    await stream.aclose()
    started = time.monotonic()
    while not omni[1].calls:  # noqa: ASYNC110 - waiting for the worker thread
        await asyncio.sleep(0.01)
    assert time.monotonic() - started < 5
    call = omni[1].calls[0]
    assert call["result"].shape[1] - call["kwargs"]["input_ids"].shape[1] < 50


class ScriptedFirstRound(TransformersSession):
    """The real session, except that its first generation is scripted to call a tool (random
    weights never would); every later round is real generation."""

    async def _round(  # type: ignore[override]
        self,
        system: str,
        request: DialogueRequest,
        after: Sequence[tuple[str, str]],
        speak: bool,
    ) -> AsyncIterator[tuple[str, Any]]:
        if not after:
            for piece in ["Let me check. <tool_", 'call>{"name": "check_answer", ', '"arguments": {"utterance": "x = 5"}}</tool_call>']:  # fmt: skip
                yield ("text", piece)
            return
        async for item in super()._round(system, request, after, speak):
            yield item


async def test_a_tool_call_runs_the_handler_and_the_result_goes_back_to_the_model(
    omni: tuple[TransformersModel, Recorder],
) -> None:
    model, recorder = omni
    model.settings = FAST
    recorder.calls.clear()
    assert model.worker is not None
    session = ScriptedFirstRound(model, model.worker.owner())
    asked: list[dict[str, Any]] = []
    request = DialogueRequest("Tutor.", text="x = 5", tools=(_check_tool(asked),), speak=False)
    outputs = [o async for o in session.converse(request)]
    assert asked == [{"utterance": "x = 5"}]
    calls = [o for o in outputs if isinstance(o, ToolCall)]
    assert [(c.name, c.result) for c in calls] == [("check_answer", CHECK_TOOL_RESULT)]
    shown = "".join(o.text for o in outputs if isinstance(o, TextDelta))
    assert shown.startswith("Let me check.") and "tool_call" not in shown
    assert isinstance(outputs[-1], DialogueDone)
    (generation,) = recorder.calls  # the second round, generated for real
    prompt = model._tokenizer.decode(generation["kwargs"]["input_ids"][0])
    assert '<|im_start|>user\n<tool_response>\n{"correct": false' in prompt
    assert prompt.index("<tool_call>") < prompt.index("<tool_response>")
