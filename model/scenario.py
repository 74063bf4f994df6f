"""What a scenario module implements, and what the gateway gives it.

Scenarios (tutor/, translate/, ...) import only `model`; the gateway (rtc/)
drives them through this interface, so turn taking and barge-in are the same
for every scenario and every backend.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np
from numpy.typing import NDArray

from model.base import OmniModel, OmniSession
from model.dialogue import (
    DialogueRequest,
    SpeechOut,
    TextDelta,
    Tool,
    ToolCall,
    ToolChoice,
    ToolOutput,
    spoken_answer,
)
from model.emotion import EmotionState
from model.text import split_sentences
from model.types import SpeechChunk, Transcript


@dataclass(frozen=True)
class UserTurn:
    """One thing the user said or typed, ready to be answered."""

    item_id: str
    audio: NDArray[np.float32] | None = None
    """The utterance at 16 kHz mono, when spoken."""
    text: str | None = None
    """Typed text (`input_text`), when typed."""
    images: tuple[bytes, ...] = field(default_factory=tuple)
    """Encoded images sent with the turn (`input_image`)."""
    transcript: Transcript | None = None
    """Set when the gateway already transcribed the audio (to tell words from a cough)."""
    trigger: str = "user"
    """"user", or "emotion" when the scenario asked to speak up because of what it saw."""
    instructions: str = ""
    """The app developer's instructions (the session's, or this response's), added to the
    scenario's own on a backend that converses."""
    tools: tuple[Tool, ...] = ()
    """The app developer's function tools (run by the client), offered next to the
    scenario's own."""
    tool_choice: ToolChoice = "auto"
    tool_outputs: tuple[ToolOutput, ...] = ()
    """Results the client gave for its tools' calls since the last answer."""
    spoken_language: str | None = None
    """The language the user speaks, when the session says (`transcription.language`)."""
    vocabulary: str = ""
    """Words to expect, from the session (`transcription.prompt`), beside the scenario's."""


@dataclass(frozen=True)
class Voice:
    """How an answer is given: the session's output settings."""

    audio: bool = True
    """Spoken (`output_modalities` has "audio"); False: written only."""
    name: str | None = None
    """`audio.output.voice` (a backend with one voice ignores it)."""
    speed: float = 1.0
    """`audio.output.speed`, 0.25 to 1.5."""


@dataclass(frozen=True)
class VideoSample:
    """A camera frame picked by the sampler, converted only because it was picked."""

    rgb: NDArray[np.uint8]
    """Height x width x 3."""
    timestamp_s: float
    """Seconds since the call started."""


EventEmitter = Callable[[str, Mapping[str, Any]], object]
"""Sends a scenario event outside any response (from the event loop only)."""


class ResponseSink(Protocol):
    """Where a scenario sends its answer to one turn; the gateway implements it."""

    @property
    def voice(self) -> Voice:
        """Whether to speak or write, in which voice and at what pace."""
        ...

    async def say(self, text: str, language: str) -> None:
        """Give `text` as the answer: voiced (in the session's voice and pace) or written."""

    def write(self, text: str) -> None:
        """A piece of a written answer, as it is produced (text-only sessions)."""

    def function_call(self, call_id: str, name: str, arguments: str) -> None:
        """The model called one of the client's tools: the client runs it."""

    def transcription(self, transcript: Transcript) -> None:
        """Report what the user said in this turn."""

    def event(self, event_type: str, payload: Mapping[str, Any]) -> None:
        """Send a scenario event (e.g. `translation.done`)."""

    async def speak(self, speech: AsyncIterator[SpeechChunk]) -> None:
        """Play speech as it is produced; returns once it is all queued for playout."""

    def error(self, code: str, message: str) -> None:
        """Tell the client something went wrong with this turn."""


class StreamSink(Protocol):
    """Where a scenario that listens continuously speaks: no turns, no responses (the
    interpreter's simultaneous mode). The gateway implements it."""

    def event(self, event_type: str, payload: Mapping[str, Any]) -> None:
        """Send a scenario event."""

    def play(self, chunk: SpeechChunk) -> None:
        """Queue speech (any rate) after everything queued before it; returns at once."""

    def error(self, code: str, message: str) -> None:
        """Tell the client part of the stream could not be handled (the scenario goes on)."""


class ScenarioConfigError(ValueError):
    """The session asks for something this scenario or backend cannot do."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Scenario(ABC):
    """One call's scenario instance.

    The class declares what the gateway needs to know before there is an instance:
    its name in `session.scenario`, the camera rate and emotion reading it wants by
    default, and the events it sends (those worth keeping go into conversation records).
    """

    name: ClassVar[str] = "abstract"
    default_video_fps: ClassVar[float] = 0.0
    """Camera frames a second sampled for it unless `session.video.fps` says otherwise."""
    emotion_by_default: ClassVar[bool] = False
    """Read the user's facial expression unless `session.emotion.enabled` says otherwise."""
    events: ClassVar[tuple[str, ...]] = ()
    """The scenario events it may send (ours, namespaced: `tutor.step`, ...)."""
    recorded_events: ClassVar[frozenset[str]] = frozenset()
    """Of `events`, those a conversation record keeps (what was said, solved, translated)."""

    def __init__(self, model: OmniModel, session: OmniSession, config: Mapping[str, Any]) -> None:
        self.model = model
        self.session = session
        self.config = dict(config)

    @classmethod
    def check_config(cls, model: OmniModel, config: Mapping[str, Any]) -> None:  # noqa: B027
        """Raise ScenarioConfigError when `config` cannot work with `model`."""
        return None

    def configure(self, config: Mapping[str, Any]) -> None:
        """Apply an updated session config (already checked)."""
        self.config = dict(config)

    @classmethod
    def peak_video_fps(cls, fps: float) -> float:
        """The most camera frames a second it samples when `session.video.fps` is `fps`
        (more than `fps` for a while, as the explainer does when the picture moves)."""
        return fps

    @property
    def video_fps(self) -> float:
        """How many camera frames per second this scenario wants (0 = none)."""
        video = self.config.get("video") or {}
        fps = video.get("fps", 0.0) if isinstance(video, Mapping) else 0.0
        return float(fps) if isinstance(fps, int | float) else 0.0

    @property
    def languages(self) -> list[str]:
        """Languages to listen for; empty means any."""
        return []

    @property
    def vocabulary(self) -> str:
        """Words the speakers are likely to say (jargon, names), as a hint to the ASR."""
        return ""

    async def hear(self, turn: UserTurn, out: ResponseSink) -> Transcript | None:
        """What was said in a spoken turn, transcribed once and reported; None when typed."""
        if turn.audio is None:
            return None
        languages = [turn.spoken_language] if turn.spoken_language else self.languages
        prompt = " ".join(p for p in (self.vocabulary, turn.vocabulary) if p)
        transcript = turn.transcript or await self.session.transcribe(
            turn.audio, languages, prompt=prompt
        )
        out.transcription(transcript)
        return transcript

    def push_video(self, sample: VideoSample) -> None:  # noqa: B027
        """A sampled camera frame (at most `video_fps` a second), called in a worker thread,
        one frame at a time, so image checks here never hold up the event loop."""

    async def watch(self, emit: EventEmitter) -> None:  # noqa: B027
        """Runs for the scenario's life, started by the gateway; may send unprompted events
        with `emit` (e.g. `explainer.observation`). Returns at once unless overridden."""

    @property
    def listens_continuously(self) -> bool:
        """True: the gateway hands every chunk of the user's audio to `hear_audio` and runs
        `listen` (no turn detection, no responses to turns); False: turns, as usual. The
        gateway checks it again after every session change."""
        return False

    async def listen(self, out: StreamSink) -> None:  # noqa: B027
        """Runs while `listens_continuously` (started by the gateway when it becomes True,
        cancelled when it becomes False or the call ends), speaking through `out`."""

    def hear_audio(self, chunk: NDArray[np.float32]) -> None:  # noqa: B027
        """The user's audio as it arrives, 16 kHz mono (the VAD's chunks), while
        `listens_continuously`; on the event loop, so it must be cheap."""

    def on_emotion(self, state: EmotionState, frustrated_s: float) -> bool:
        """The user's expression, after every look. Return True to be given a turn to speak up."""
        return False

    @abstractmethod
    async def respond(self, turn: UserTurn, out: ResponseSink) -> None:
        """Answer one user turn. Cancelled on barge-in."""

    async def aclose(self) -> None:  # noqa: B027
        """Release per-call state."""


class ScenarioRegistry:
    """The scenarios a server offers, by name; the gateway keeps no list of its own."""

    def __init__(self, classes: Iterable[type[Scenario]], default: str | None = None) -> None:
        self._classes: dict[str, type[Scenario]] = {}
        for cls in classes:
            if cls.name in self._classes:
                raise ValueError(f"two scenarios are called {cls.name!r}")
            self._classes[cls.name] = cls
        if not self._classes:
            raise ValueError("a server needs at least one scenario")
        names = list(self._classes)
        self.default = default if default is not None else names[0]
        if self.default not in self._classes:
            raise ValueError(f"the default scenario {self.default!r} is not registered")

    @classmethod
    def of(cls, scenarios: ScenarioRegistry | Iterable[type[Scenario]]) -> ScenarioRegistry:
        return scenarios if isinstance(scenarios, ScenarioRegistry) else cls(scenarios)

    def get(self, name: str) -> type[Scenario] | None:
        return self._classes.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._classes

    @property
    def names(self) -> list[str]:
        return sorted(self._classes)

    def events(self) -> frozenset[str]:
        return frozenset(e for c in self._classes.values() for e in c.events)

    def recorded_events(self) -> frozenset[str]:
        return frozenset(e for c in self._classes.values() for e in c.recorded_events)


def with_client(request: DialogueRequest, turn: UserTurn) -> DialogueRequest:
    """A scenario's own request, with what the app developer asked for added: their
    instructions after the scenario's, their tools beside the scenario's (a name the
    scenario already uses stays the scenario's), their tool choice and results."""
    instructions = request.instructions
    if turn.instructions.strip():
        instructions = f"{instructions}\n\n{turn.instructions.strip()}".strip()
    own = {t.name for t in request.tools}
    tools = request.tools + tuple(t for t in turn.tools if t.name not in own)
    return dataclasses.replace(
        request,
        instructions=instructions,
        tools=tools,
        tool_choice=turn.tool_choice if turn.tools else request.tool_choice,
        tool_outputs=turn.tool_outputs,
    )


async def model_answer(
    session: OmniSession,
    request: DialogueRequest,
    out: ResponseSink,
    words: list[str] | None = None,
    calls: list[ToolCall] | None = None,
) -> None:
    """The model's answer to `request`, given through `out`: spoken or written as the session
    asks, the client's tool calls handed to the client. `words` and `calls` collect what was
    said and called."""
    words = [] if words is None else words
    calls = [] if calls is None else calls
    if out.voice.audio:
        await out.speak(
            _announcing_calls(spoken_answer(session, request, words, calls), calls, out)
        )
        return
    written = dataclasses.replace(request, speak=False)
    said = False
    async for output in session.converse(written):
        if isinstance(output, TextDelta):
            words.append(output.text)
            out.write(output.text)
            said = True
        elif isinstance(output, ToolCall):
            calls.append(output)
            if output.on_client:
                out.function_call(output.call_id, output.name, _json(output.arguments))
        elif isinstance(output, SpeechOut) and output.chunk.text and not said:
            out.write(output.chunk.text)


async def _announcing_calls(
    speech: AsyncIterator[SpeechChunk], calls: list[ToolCall], out: ResponseSink
) -> AsyncIterator[SpeechChunk]:
    """`speech`, handing each client call to the client as soon as the model makes it."""
    announced = 0
    async for chunk in speech:
        announced = _announce(calls, announced, out)
        yield chunk
    _announce(calls, announced, out)


def _announce(calls: list[ToolCall], since: int, out: ResponseSink) -> int:
    for call in calls[since:]:
        if call.on_client:
            out.function_call(call.call_id, call.name, _json(call.arguments))
    return len(calls)


def _json(arguments: Mapping[str, Any]) -> str:
    import json

    return json.dumps(dict(arguments), ensure_ascii=False)


async def say_sentences(out: ResponseSink, text: str, language: str) -> None:
    """`text` given sentence by sentence, so the first is heard while the rest are made."""
    for sentence in split_sentences(text) or [text]:
        await out.say(sentence, language)
