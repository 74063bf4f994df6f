"""Conversing with a model: the scenario's instructions and tools, the user's turn, and
what comes back (text, speech, the tools it called and their results).

A backend that can hold a conversation (`Capabilities.dialogue`) implements
`OmniSession.converse`. The tools run in the scenario's code, never in the
model: the backend asks for a call, runs the tool's handler with the parsed
arguments, hands the JSON result back to the model and keeps streaming. A client's
tool (one an app developer put in the session) has no handler here: the backend
reports the call and ends the answer; the client runs it and its result comes back
with the next request (`tool_outputs`), as in the OpenAI Realtime API.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from model.text import split_sentences
from model.types import SpeechChunk

if TYPE_CHECKING:
    from model.base import OmniSession

logger = logging.getLogger("omnilive.dialogue")

ToolHandler = Callable[[dict[str, Any]], Awaitable[Any]]
"""Runs one tool call: the parsed arguments in, a JSON-able result out."""

#: Model answers that may call tools, per request, before it must answer in words.
MAX_TOOL_ROUNDS = 4


@dataclass(frozen=True)
class Tool:
    """A function the model may call."""

    name: str
    description: str
    parameters: Mapping[str, Any]
    """JSON schema of the arguments object."""
    handler: ToolHandler | None
    """None: the client's tool, run by the client (the call ends the answer)."""

    @property
    def on_client(self) -> bool:
        return self.handler is None

    def schema(self) -> dict[str, Any]:
        """The definition as the OpenAI Realtime protocol lists it (`type: function`)."""
        return {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "parameters": dict(self.parameters),
        }


@dataclass(frozen=True)
class DialogueRequest:
    """One user turn for the model to answer, with the scenario's instructions and tools."""

    instructions: str
    text: str = ""
    """What the user typed, or the transcript of what they said."""
    audio: NDArray[np.float32] | None = None
    """The utterance, 16 kHz mono, when spoken (a model that hears takes it as is)."""
    images: tuple[NDArray[np.uint8], ...] = ()
    """RGB frames or pictures that go with the turn, oldest first."""
    tools: tuple[Tool, ...] = ()
    language: str = "en"
    """The language to answer in (ISO 639-1)."""
    sample_rate: int = 48_000
    """The rate of the speech chunks streamed back."""
    speak: bool = True
    """Answer with speech too (when the backend can speak)."""

    tool_choice: ToolChoice = "auto"
    """"auto", "none", "required", or {"type": "function", "name": ...} (OpenAI's shapes)."""
    tool_outputs: tuple[ToolOutput, ...] = ()
    """Results the client gave for the calls its tools were asked for, not yet heard."""
    history: tuple[HistoryEntry, ...] = ()
    """The conversation before this turn, for backends that keep none of their own."""

    def tool(self, name: str) -> Tool | None:
        return next((t for t in self.tools if t.name == name), None)

    def offered_tools(self) -> tuple[Tool, ...]:
        """The tools the model may call under `tool_choice`."""
        choice = self.tool_choice
        if choice == "none":
            return ()
        if isinstance(choice, Mapping) and isinstance(choice.get("name"), str):
            return tuple(t for t in self.tools if t.name == choice["name"])
        return self.tools

    def must_call(self) -> str | None:
        """A sentence for the instructions when `tool_choice` requires a call."""
        choice = self.tool_choice
        if choice == "required" and self.tools:
            return "You must call one of the tools before you answer."
        if isinstance(choice, Mapping) and isinstance(choice.get("name"), str):
            return f"You must call the tool {choice['name']} before you answer."
        return None


@dataclass(frozen=True)
class TextDelta:
    """A piece of the answer's words."""

    text: str


@dataclass(frozen=True)
class SpeechOut:
    """A piece of the answer's voice; `chunk.text` is what it says, when known."""

    chunk: SpeechChunk


@dataclass(frozen=True)
class ToolCall:
    """A tool the model called, with the arguments it gave and what the handler returned
    (nothing, for a client's tool: the client runs it)."""

    call_id: str
    name: str
    arguments: dict[str, Any]
    result: Any
    on_client: bool = False


@dataclass(frozen=True)
class ToolOutput:
    """What the client's tool returned for a call (its `function_call_output` item)."""

    call_id: str
    output: str


@dataclass(frozen=True)
class Said:
    """Earlier words in the conversation."""

    role: str
    """"user" or "assistant"."""
    text: str


@dataclass(frozen=True)
class Called:
    """An earlier call the model made (of the client's tool)."""

    call_id: str
    name: str
    arguments: str


HistoryEntry = Said | Called | ToolOutput
ToolChoice = str | Mapping[str, Any]


@dataclass(frozen=True)
class DialogueDone:
    """The answer is complete; `text` is all of its words."""

    text: str


DialogueOutput = TextDelta | SpeechOut | ToolCall | DialogueDone


def parse_arguments(raw: object) -> dict[str, Any]:
    """A tool call's arguments as a dict, from a JSON string or an object; {} when unreadable."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else {}
        except ValueError:
            return {}
    return dict(raw) if isinstance(raw, Mapping) else {}


def new_call_id() -> str:
    """A function call's id, unique across the calls of a conversation (OpenAI's `call_...`)."""
    return f"call_{secrets.token_hex(8)}"


async def run_tool(tools: Sequence[Tool], call_id: str, name: str, arguments: object) -> ToolCall:
    """Run the named tool's handler; an unknown tool or a failing handler is reported to the
    model as {"error": ...}, never raised into the conversation. A client's tool is not run
    here: the call is returned for the client (`on_client`)."""
    args = parse_arguments(arguments)
    tool = next((t for t in tools if t.name == name), None)
    handler = tool.handler if tool is not None else None
    result: Any
    if tool is not None and handler is None:
        return ToolCall(call_id, name, args, None, on_client=True)
    if handler is None:
        result = {"error": f"there is no tool named {name!r}"}
    else:
        try:
            result = await handler(args)
        except Exception as exc:  # noqa: BLE001 - the model hears what went wrong
            logger.warning("tool %s failed: %s", name, exc, exc_info=True)
            result = {"error": f"{type(exc).__name__}: {exc}"}
    return ToolCall(call_id, name, args, result)


def result_json(result: Any) -> str:
    return json.dumps(result, ensure_ascii=False, default=str)


async def spoken_answer(
    session: OmniSession,
    request: DialogueRequest,
    words: list[str] | None = None,
    calls: list[ToolCall] | None = None,
) -> AsyncIterator[SpeechChunk]:
    """The model's answer as speech for `ResponseSink.speak`.

    The model's own voice is played as it streams; an answer that comes back as text only
    is spoken sentence by sentence with `synthesize`. The answer's words are appended to
    `words` and the tool calls to `calls` as they happen.
    """
    words = [] if words is None else words
    spoke = False
    async for output in session.converse(request):
        if isinstance(output, SpeechOut):
            spoke = True
            yield output.chunk
        elif isinstance(output, TextDelta):
            words.append(output.text)
        elif isinstance(output, ToolCall) and calls is not None:
            calls.append(output)
        elif isinstance(output, DialogueDone) and not spoke and output.text.strip():
            for sentence in split_sentences(output.text) or [output.text]:
                async for chunk in session.synthesize(
                    sentence, request.language, sample_rate=request.sample_rate
                ):
                    yield chunk
